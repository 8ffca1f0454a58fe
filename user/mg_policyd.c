// SPDX-License-Identifier: GPL-2.0-only
/* mg_policyd.c - Postfix policy delegation server for the epoll loop (see mg_policyd.h). */
#define _GNU_SOURCE /* accept4, memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "mg_metrics_http.h"
#include "mg_policyd.h"

/* Copy an attribute's value into its field; too long marks the request malformed. */
static void take(struct mg_policy_request *r, char *dst, size_t len, const char *name, const char *v, size_t vlen)
{
	if (vlen >= len) {
		r->malformed = true;
		snprintf(r->error, sizeof(r->error), "attribute %s too long", name);
		return;
	}
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
}

void mg_policy_parse(const char *text, struct mg_policy_request *r)
{
	memset(r, 0, sizeof(*r));
	for (const char *line = text; *line;) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		if (n && line[n - 1] == '\r')
			n--;
		const char *eq = memchr(line, '=', n);
		if (!eq || eq == line) {
			r->malformed = true;
			snprintf(r->error, sizeof(r->error), "not a name=value line");
		} else {
			size_t kl = (size_t)(eq - line), vl = n - kl - 1;
			const char *v = eq + 1;
			char name[32];
			snprintf(name, sizeof(name), "%.*s", (int)(kl < 31 ? kl : 31), line);
#define A(field) if (!strcmp(name, #field)) take(r, r->field, sizeof(r->field), name, v, vl)
			A(request);
			else A(protocol_state);
			else A(client_address);
			else A(client_name);
			else A(helo_name);
			else A(sender);
			else A(recipient);
			else A(queue_id);
			else A(instance);
			else if (!strcmp(name, "size"))
				r->size = strtoull(v, NULL, 10);
			else if (!strcmp(name, "recipient_count"))
				r->recipient_count = (uint32_t)strtoul(v, NULL, 10);
#undef A
			/* Any other attribute: Postfix adds new ones over time; ignored. */
		}
		if (!end)
			break;
		line = end + 1;
	}
}

static int parse_spec(const char *spec, struct sockaddr_storage *ss, socklen_t *len, char *path, size_t plen)
{
	if (!strncmp(spec, "unix:", 5)) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		const char *p = spec + 5;
		if (*p != '/' || strlen(p) >= sizeof(un->sun_path) || strlen(p) >= plen)
			return -EINVAL;
		memset(un, 0, sizeof(*un));
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, p);
		strcpy(path, p);
		*len = sizeof(*un);
		return 0;
	}
	if (!strncmp(spec, "inet:", 5)) {
		if (mg_parse_listen(spec + 5, ss))
			return -EINVAL;
		*len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
		path[0] = '\0';
		return 0;
	}
	return -EINVAL;
}


/* ---- the protocol: a client's bytes in, its answers out ------------------------------------ */

#define STR_(x) #x
#define STR(x) STR_(x)

enum frame { FRAME_PARTIAL, FRAME_REQUEST, FRAME_OVERSIZED };

/* A line of [in, in + len) longer than Postfix would ever send? */
static bool line_too_long(const char *in, size_t len)
{
	while (len) {
		const char *nl = memchr(in, '\n', len);
		size_t n = nl ? (size_t)(nl - in) : len;
		if (n > MG_POLICYD_MAX_LINE)
			return true;
		if (!nl)
			break;
		in += n + 1;
		len -= n + 1;
	}
	return false;
}

/*
 * Is there a whole request at the start of in[0, len)? Its text is
 * in[0, *text_len); with the empty line that ends it, *used bytes. Found with
 * memmem, not strstr: a NUL in the request must not hide its end (such a
 * request never ended, and its client never got an answer).
 */
static enum frame find_request(const char *in, size_t len, size_t *text_len, size_t *used, const char **why)
{
	const char *lf = memmem(in, len, "\n\n", 2);
	/* A CRLF end can only come first if it starts before lf: no need to look further. */
	size_t crlf_span = lf ? (size_t)(lf - in) + 3 : len;
	const char *crlf = memmem(in, crlf_span < len ? crlf_span : len, "\r\n\r\n", 4);

	if (crlf && (!lf || crlf < lf)) {
		*text_len = (size_t)(crlf - in);
		*used = *text_len + 4;
		return FRAME_REQUEST;
	}
	if (lf) {
		*text_len = (size_t)(lf - in);
		*used = *text_len + 2;
		return FRAME_REQUEST;
	}
	if (line_too_long(in, len)) {
		*why = "a line over " STR(MG_POLICYD_MAX_LINE) " bytes";
		return FRAME_OVERSIZED;
	}
	if (len >= MG_POLICYD_MAX_REQUEST) {
		*why = "a request over " STR(MG_POLICYD_MAX_REQUEST) " bytes";
		return FRAME_OVERSIZED;
	}
	return FRAME_PARTIAL;
}

/* Append "action=ACTION\n\n"; the caller made sure of MG_POLICYD_MAX_ANSWER bytes of room. */
static void put_answer(struct mg_policy_stream *s, const char *action)
{
	size_t n = strnlen(action, MG_POLICYD_MAX_ACTION - 1);
	char *o = s->out + s->outlen;

	memcpy(o, "action=", 7);
	memcpy(o + 7, action, n);
	/* A line break or NUL in an action would end the answer early and make Postfix misread the stream. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)o[7 + i] < 0x20 || o[7 + i] == 0x7f)
			o[7 + i] = ' ';
	memcpy(o + 7 + n, "\n\n", 2);
	s->outlen += 7 + n + 2;
}

/* Room for one more answer, moving the unsent ones to the front if that makes it. */
static bool answer_fits(struct mg_policy_stream *s)
{
	if (s->outoff == s->outlen)
		s->outoff = s->outlen = 0;
	if (MG_POLICYD_OUT_SIZE - s->outlen >= MG_POLICYD_MAX_ANSWER)
		return true;
	if (s->outoff) {
		memmove(s->out, s->out + s->outoff, s->outlen - s->outoff);
		s->outlen -= s->outoff;
		s->outoff = 0;
	}
	return MG_POLICYD_OUT_SIZE - s->outlen >= MG_POLICYD_MAX_ANSWER;
}

static void problem(struct mg_policyd_stats *st, const char *fmt, const char *detail)
{
	snprintf(st->last_problem, sizeof(st->last_problem), fmt, detail);
}

/* Answer the request text[0, len): text[len] is the first byte of its ending, ours to overwrite. */
static void answer_request(struct mg_policy_stream *s, char *text, size_t len, struct mg_policyd_stats *st,
			   mg_policy_decide_fn decide, void *arg)
{
	struct mg_policy_request r;
	char action[MG_POLICYD_MAX_ACTION] = "DUNNO";

	st->requests++;
	if (memchr(text, '\0', len)) {
		st->malformed++;
		problem(st, "%s", "a NUL byte in a request");
		put_answer(s, "DUNNO");
		return;
	}
	text[len] = '\0';
	mg_policy_parse(text, &r);
	if (r.malformed) {
		st->malformed++;
		problem(st, "%s", r.error);
	} else if (!strcmp(r.request, "smtpd_access_policy")) {
		decide(&r, action, sizeof(action), arg);
		action[sizeof(action) - 1] = '\0';
		if (!action[0])
			snprintf(action, sizeof(action), "DUNNO");
	}
	put_answer(s, action);
}

enum mg_policy_progress mg_policy_answer(struct mg_policy_stream *s, unsigned max_answers, struct mg_policyd_stats *st,
					 mg_policy_decide_fn decide, void *arg, unsigned *n_answered)
{
	enum mg_policy_progress progress;
	size_t at = 0; /* what is answered is removed once, at the end */
	unsigned n = 0;

	for (;;) {
		size_t text_len = 0, used = 0;
		const char *why = NULL;
		enum frame f = find_request(s->in + at, s->inlen - at, &text_len, &used, &why);
		if (f == FRAME_PARTIAL) {
			progress = MG_POLICY_NEED_INPUT;
			break;
		}
		if (f == FRAME_REQUEST && n >= max_answers) {
			progress = MG_POLICY_YIELD;
			break;
		}
		/* Never an answer without room for the longest one: nothing is ever truncated. */
		if (!answer_fits(s)) {
			progress = MG_POLICY_OUTPUT_FULL;
			break;
		}
		n++;
		if (f == FRAME_OVERSIZED) {
			/* Where the next request would start is anybody's guess: fail open, and stop reading. */
			st->requests++;
			st->oversized++;
			problem(st, "%s", why);
			put_answer(s, "DUNNO");
			at = s->inlen;
			progress = MG_POLICY_OVERSIZED;
			break;
		}
		answer_request(s, s->in + at, text_len, st, decide, arg);
		at += used;
	}
	memmove(s->in, s->in + at, s->inlen - at);
	s->inlen -= at;
	if (n_answered)
		*n_answered = n;
	return progress;
}

/* ---- the server: sockets, the connection table, back-pressure, timeouts ------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int group_id(const char *name, gid_t *gid)
{
	struct group g, *found = NULL;
	size_t len = 4096;

	for (;;) {
		char *buf = malloc(len);
		if (!buf)
			return -ENOMEM;
		int e = getgrnam_r(name, &g, buf, len, &found);
		if (found)
			*gid = g.gr_gid;
		free(buf);
		if (e == ERANGE && len < (1u << 20)) {
			len *= 4;
			continue;
		}
		if (e)
			return -e;
		return found ? 0 : -ENOENT;
	}
}

int mg_policyd_socket_access(struct mg_policyd *p, const char *group, unsigned mode, char *err, size_t errlen)
{
	if (!p->path[0])
		return 0; /* inet: no file to protect */
	if (group && *group) {
		gid_t gid;
		int e = group_id(group, &gid);
		if (e) {
			set_err(err, errlen, "policy socket group \"%s\": %s", group,
				e == -ENOENT ? "no such group" : strerror(-e));
			return e;
		}
		/* Not following a link: whatever else may be at that path is not ours to give away. */
		if (lchown(p->path, (uid_t)-1, gid)) {
			e = -errno;
			set_err(err, errlen, "policy socket %s: group %s: %s", p->path, group, strerror(-e));
			return e;
		}
	}
	/* Nor for the mode (fchmodat refuses a link with EOPNOTSUPP): the directory may be Postfix's own. */
	if (fchmodat(AT_FDCWD, p->path, mode, AT_SYMLINK_NOFOLLOW)) {
		int e = -errno;
		set_err(err, errlen, "policy socket %s: mode %04o: %s", p->path, mode, strerror(-e));
		return e;
	}
	p->mode = mode;
	snprintf(p->group, sizeof(p->group), "%s", group ? group : "");
	return 0;
}

int mg_policyd_listen(struct mg_policyd *p, const char *spec, const struct mg_policyd_options *o, char *err,
		      size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	bool bound = false;
	int fd = -1, e;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	if (parse_spec(spec, &ss, &len, p->path, sizeof(p->path))) {
		p->path[0] = '\0';
		set_err(err, errlen, "policy service \"%s\": not unix:/PATH or inet:ADDRESS:PORT", spec);
		return -EINVAL;
	}
	p->max_clients = o->max_clients ? o->max_clients : 1;
	p->idle_timeout_ns = o->idle_timeout_ns;
	p->io_timeout_ns = o->io_timeout_ns;
	p->conn = calloc(p->max_clients, sizeof(*p->conn));
	if (!p->conn) {
		e = -ENOMEM;
		goto fail;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = -errno;
		goto fail;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (p->path[0])
		unlink(p->path); /* a stale socket from a previous run */
	/* A unix socket is created with no permissions at all, then opened up: no moment where anyone may connect. */
	mode_t old = umask(0777);
	e = bind(fd, (struct sockaddr *)&ss, len) ? -errno : 0;
	umask(old);
	if (e)
		goto fail;
	bound = true;
	e = mg_policyd_socket_access(p, o->group, o->mode, err, errlen);
	if (e)
		goto fail_quiet;
	/* A burst of smtpd processes connecting at once (Postfix restarted) must not be refused by the kernel. */
	if (listen(fd, SOMAXCONN)) {
		e = -errno;
		goto fail;
	}
	p->fd = fd;
	return 0;
fail:
	set_err(err, errlen, "policy service %s: %s", spec, strerror(-e));
fail_quiet:
	if (fd >= 0)
		close(fd);
	if (bound && p->path[0])
		unlink(p->path);
	free(p->conn);
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	return e;
}

int mg_policyd_epoll_add(struct mg_policyd *p, int epfd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = p->fd };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, p->fd, &ev) ? -errno : 0;
}

static struct mg_policyd_conn *find_conn(const struct mg_policyd *p, int fd)
{
	for (unsigned i = 0; i < p->n_conn; i++)
		if (p->conn[i].fd == fd)
			return &p->conn[i];
	return NULL;
}

bool mg_policyd_owns(const struct mg_policyd *p, int fd)
{
	return fd >= 0 && (fd == p->fd || find_conn(p, fd));
}

/* An idle client keeps its slot only: a thousand idle Postfix connections would otherwise hold 32 MiB. */
static void free_buffers(struct mg_policyd_conn *c)
{
	free(c->s.in);
	free(c->s.out);
	c->s = (struct mg_policy_stream){ 0 };
}

/* Close c; the last connection takes its place, so c then points at another one (or past the end). */
static void drop(struct mg_policyd *p, int epfd, struct mg_policyd_conn *c)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free_buffers(c);
	*c = p->conn[--p->n_conn];
	p->conn[p->n_conn] = (struct mg_policyd_conn){ .fd = -1 };
}

/* Postfix reconnects and asks again when its connection was closed: the longest idle loses least. */
static bool evict_longest_idle(struct mg_policyd *p, int epfd)
{
	struct mg_policyd_conn *oldest = NULL;

	for (unsigned i = 0; i < p->n_conn; i++)
		if (!oldest || p->conn[i].last_ns < oldest->last_ns)
			oldest = &p->conn[i];
	if (!oldest)
		return false;
	drop(p, epfd, oldest);
	p->stats.evicted++;
	return true;
}

int mg_policyd_set_limits(struct mg_policyd *p, int epfd, const struct mg_policyd_options *o)
{
	unsigned want = o->max_clients ? o->max_clients : 1;

	if (want > p->max_clients) {
		struct mg_policyd_conn *nc = realloc(p->conn, want * sizeof(*nc));
		if (!nc)
			return -ENOMEM;
		p->conn = nc;
	}
	while (p->n_conn > want)
		evict_longest_idle(p, epfd);
	if (want < p->max_clients) {
		struct mg_policyd_conn *nc = realloc(p->conn, want * sizeof(*nc));
		if (nc)
			p->conn = nc; /* else the larger block serves as well */
	}
	p->max_clients = want;
	p->idle_timeout_ns = o->idle_timeout_ns;
	p->io_timeout_ns = o->io_timeout_ns;
	return 0;
}

static void set_interest(struct mg_policyd_conn *c, int epfd, uint32_t events)
{
	if (c->events == events)
		return;
	struct epoll_event ev = { .events = events, .data.fd = c->fd };
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->events = events;
}

/* Accepts per readiness of the listener: a flood of connections must not hold the loop either. */
#define ACCEPTS_PER_EVENT 64

static void accept_clients(struct mg_policyd *p, int epfd, uint64_t now)
{
	for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
		int cfd = accept4(p->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM)
				return; /* EAGAIN: all taken */
			/* Out of descriptors: a client makes room, as at the cap. */
			if (evict_longest_idle(p, epfd))
				continue;
			/*
			 * None of ours to close: stop listening until the next expiry
			 * round, rather than wake up for the same connection forever.
			 */
			struct epoll_event ev = { .events = 0, .data.fd = p->fd };
			if (epoll_ctl(epfd, EPOLL_CTL_MOD, p->fd, &ev) == 0)
				p->accept_paused = true;
			return;
		}
		if (p->n_conn >= p->max_clients)
			evict_longest_idle(p, epfd);
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = cfd };
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &ev)) {
			close(cfd);
			continue;
		}
		p->conn[p->n_conn++] = (struct mg_policyd_conn){
			.fd = cfd, .events = EPOLLIN, .last_ns = now, .request_ns = now, .out_ns = now,
		};
		p->stats.connections++;
	}
}

/* Send what the socket takes. 0, or -1 if the client is gone. */
static int flush(struct mg_policyd_conn *c, uint64_t now)
{
	while (c->s.outoff < c->s.outlen) {
		ssize_t w = send(c->fd, c->s.out + c->s.outoff, c->s.outlen - c->s.outoff, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		if (w == 0)
			return 0;
		c->s.outoff += (size_t)w;
		c->out_ns = c->last_ns = now;
	}
	return 0;
}

static void serve_client(struct mg_policyd *p, int epfd, struct mg_policyd_conn *c, uint32_t events, uint64_t now,
			 mg_policy_decide_fn decide, void *arg)
{
	/* Hung up both ways, or an error: no answer can reach it any more. Unless the event is stale: a
	 * client evicted earlier in this batch of events can have its descriptor number reused by the
	 * newcomer, which must not pay for it (a live, quiet socket has nothing to read yet). */
	if (events & (EPOLLERR | EPOLLHUP)) {
		char b;
		ssize_t r = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (!(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) {
			drop(p, epfd, c);
			return;
		}
		events &= ~(uint32_t)(EPOLLERR | EPOLLHUP);
	}
	if (flush(c, now)) {
		drop(p, epfd, c);
		return;
	}
	bool fresh = c->s.inlen == 0;
	/* One read per event: level-triggered epoll comes back for the rest, after the other clients. */
	if ((events & EPOLLIN) && (c->events & EPOLLIN)) {
		if (!c->s.in && !(c->s.in = malloc(MG_POLICYD_MAX_REQUEST))) {
			drop(p, epfd, c); /* out of memory: Postfix reconnects, or falls back to its default */
			return;
		}
		ssize_t r = recv(c->fd, c->s.in + c->s.inlen, MG_POLICYD_MAX_REQUEST - c->s.inlen, 0);
		if (r > 0) {
			c->s.inlen += (size_t)r;
			c->last_ns = now;
		} else if (r == 0) {
			c->closing = true; /* it said all it will: the answers owed still go out */
		} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			drop(p, epfd, c);
			return;
		}
	}
	enum mg_policy_progress progress = MG_POLICY_NEED_INPUT;
	unsigned answered = 0;
	if (c->s.inlen) {
		if (!c->s.out && !(c->s.out = malloc(MG_POLICYD_OUT_SIZE))) {
			drop(p, epfd, c);
			return;
		}
		if (c->s.outoff == c->s.outlen)
			c->out_ns = now; /* the answers about to be made are late from now on, not from the last ones */
		progress = mg_policy_answer(&c->s, MG_POLICYD_BATCH, &p->stats, decide, arg, &answered);
		if (progress == MG_POLICY_OVERSIZED)
			c->closing = true;
	}
	/* What is left in s.in began in this round at the earliest. */
	if (fresh || answered)
		c->request_ns = now;
	if (flush(c, now)) {
		drop(p, epfd, c);
		return;
	}
	bool unsent = c->s.outoff < c->s.outlen;
	if (c->closing && !unsent && progress != MG_POLICY_YIELD) {
		drop(p, epfd, c);
		return;
	}
	if (!unsent && !c->s.inlen)
		free_buffers(c);
	/*
	 * Read only while its answers have room: a client that does not read
	 * what it is sent stops being read (EPOLLIN with unread data would wake
	 * the loop for nothing, forever). EPOLLOUT when answers wait to be sent,
	 * or requests wait to be answered: the next round goes on with them,
	 * after the other clients' turns.
	 */
	uint32_t want = 0;
	if (!c->closing && progress == MG_POLICY_NEED_INPUT)
		want |= EPOLLIN;
	if (unsent || progress == MG_POLICY_YIELD)
		want |= EPOLLOUT;
	set_interest(c, epfd, want);
}

void mg_policyd_handle(struct mg_policyd *p, int epfd, int fd, uint32_t events, uint64_t now,
		       mg_policy_decide_fn decide, void *arg)
{
	if (fd < 0)
		return;
	if (fd == p->fd) {
		accept_clients(p, epfd, now);
		return;
	}
	struct mg_policyd_conn *c = find_conn(p, fd);
	if (c)
		serve_client(p, epfd, c, events, now, decide, arg);
}

/* Has `limit` passed since `then`? A time after now (a clock the caller mixed up) has not. */
static bool past(uint64_t then, uint64_t now, uint64_t limit)
{
	return now > then && now - then >= limit;
}

void mg_policyd_expire(struct mg_policyd *p, int epfd, uint64_t now)
{
	for (unsigned i = 0; i < p->n_conn;) {
		struct mg_policyd_conn *c = &p->conn[i];
		/* Waiting to send: answers not taken, or (the socket full) requests waiting to be answered. */
		bool sending = c->events & EPOLLOUT;
		bool partial = c->s.inlen && (c->events & EPOLLIN); /* reading: no whole request waits */
		if ((sending && past(c->out_ns, now, p->io_timeout_ns)) ||
		    (partial && past(c->request_ns, now, p->io_timeout_ns))) {
			p->stats.stalled_closed++;
			drop(p, epfd, c); /* conn[i] is now another one: look at it next */
		} else if (!sending && !c->s.inlen && past(c->last_ns, now, p->idle_timeout_ns)) {
			p->stats.idle_closed++;
			drop(p, epfd, c);
		} else {
			i++;
		}
	}
	if (p->accept_paused && p->fd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = p->fd };
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, p->fd, &ev) == 0)
			p->accept_paused = false;
	}
}

uint64_t mg_policyd_problems(struct mg_policyd *p, uint64_t now, uint64_t every, char *what, size_t len)
{
	uint64_t seen = p->stats.malformed + p->stats.oversized, n = seen - p->problems_reported;

	if (!n || (p->problems_reported_once && !past(p->problems_report_ns, now, every)))
		return 0;
	p->problems_reported = seen;
	p->problems_report_ns = now;
	p->problems_reported_once = true;
	snprintf(what, len, "%s", p->stats.last_problem);
	return n;
}

void mg_policyd_close(struct mg_policyd *p, int epfd)
{
	while (p->n_conn)
		drop(p, epfd, &p->conn[0]);
	free(p->conn);
	p->conn = NULL;
	p->max_clients = 0;
	if (p->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, p->fd, NULL);
		close(p->fd);
		p->fd = -1;
	}
	if (p->path[0])
		unlink(p->path);
	p->path[0] = '\0';
}
