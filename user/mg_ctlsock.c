// SPDX-License-Identifier: GPL-2.0-only
/* mg_ctlsock.c - the control socket, server and client halves (see mg_ctlsock.h). */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "mg_clock.h"
#include "mg_ctlsock.h"

/* Connections accepted per readiness of the listener: a connect flood gets the loop back between rounds. */
#define ACCEPT_ROUND 32

json_t *mg_ctl_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *o = json_pack("{s:b,s:s}", "ok", 0, "error", msg);
	if (!o) {
		/* Not UTF-8: a message quoting the client's text, cut mid-character by the buffer. The error
		 * is still owed: the bytes that may not go into a JSON string are replaced. */
		for (char *c = msg; *c; c++)
			if ((unsigned char)*c >= 0x80)
				*c = '?';
		o = json_pack("{s:b,s:s}", "ok", 0, "error", msg);
	}
	return o;
}

static int make_addr(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return -ENAMETOOLONG;
	strcpy(a->sun_path, path);
	return 0;
}

/* ---- the request ------------------------------------------------------------------------------ */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Up to 24 bytes of `p` for an error message, anything unprintable as \xNN. */
static void quote_bytes(const char *p, size_t len, char *out, size_t outlen)
{
	size_t o = 0, i;

	for (i = 0; i < len && i < 24 && o + 5 < outlen; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
	}
	if (i < len && o + 4 < outlen)
		o += (size_t)snprintf(out + o, outlen - o, "...");
	out[o < outlen ? o : outlen - 1] = '\0';
}

json_t *mg_ctl_parse_request(const char *buf, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *req;

	if (len > MG_CTL_MAX_REQUEST) {
		snprintf(err, errlen, "request larger than %d bytes", MG_CTL_MAX_REQUEST);
		return NULL;
	}
	/* The object alone: what follows it is checked here, so that the message can say what it is. */
	req = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &je);
	if (!req) {
		snprintf(err, errlen, "malformed request at %d:%d: %s", je.line, je.column, je.text);
		return NULL;
	}
	size_t end = je.position > 0 ? (size_t)je.position : 0;
	while (end < len && is_space(buf[end]))
		end++;
	if (end < len) {
		char what[128];
		quote_bytes(buf + end, len - end, what, sizeof(what));
		snprintf(err, errlen, "trailing bytes after the request at byte %zu: \"%s\" (one JSON object per line)",
			 end, what);
		json_decref(req);
		return NULL;
	}
	if (!json_is_object(req) || !json_is_string(json_object_get(req, "cmd"))) {
		json_decref(req);
		snprintf(err, errlen, "a request is a JSON object with a \"cmd\" string");
		return NULL;
	}
	return req;
}

/* ---- the server ------------------------------------------------------------------------------- */

int mg_ctlsock_listen(struct mg_ctlsock *s, const char *path, unsigned mode)
{
	struct sockaddr_un a;
	int err = make_addr(&a, path);

	memset(s, 0, sizeof(*s));
	s->fd = s->epfd = -1;
	s->accept_resume = MG_CTL_NO_DEADLINE;
	for (int i = 0; i < MG_CTL_MAX_CONN; i++)
		s->conn[i].fd = -1;
	if (err)
		return err;
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -errno;
	unlink(path); /* a socket file left by a daemon that was killed */
	/* Create it with no permissions at all, then open it up to `mode`: no window where it is wider. */
	mode_t old = umask(0777);
	err = bind(s->fd, (struct sockaddr *)&a, sizeof(a)) ? -errno : 0;
	umask(old);
	/* Not through a link put there since the bind (fchmodat refuses one): the mode is the socket's alone. */
	if (!err && fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW))
		err = -errno;
	if (!err && listen(s->fd, 16))
		err = -errno;
	if (err) {
		close(s->fd);
		s->fd = -1;
	}
	return err;
}

int mg_ctlsock_epoll_add(struct mg_ctlsock *s, int epfd, mg_ctl_handler h, void *arg)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = s->fd };

	s->handler = h;
	s->arg = arg;
	s->epfd = epfd;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev) ? -errno : 0;
}

static struct mg_ctl_conn *find_conn(struct mg_ctlsock *s, int fd)
{
	for (int i = 0; i < MG_CTL_MAX_CONN; i++)
		if (s->conn[i].state != MG_CTL_CONN_FREE && s->conn[i].fd == fd)
			return &s->conn[i];
	return NULL;
}

bool mg_ctlsock_owns(const struct mg_ctlsock *s, int fd)
{
	return fd >= 0 && (fd == s->fd || find_conn((struct mg_ctlsock *)s, fd));
}

unsigned mg_ctlsock_open_connections(const struct mg_ctlsock *s)
{
	unsigned n = 0;

	for (int i = 0; i < MG_CTL_MAX_CONN; i++)
		n += s->conn[i].state != MG_CTL_CONN_FREE;
	return n;
}

static void stream_end(struct mg_ctl_conn *c)
{
	if (c->stream.next && c->stream.free)
		c->stream.free(c->stream.ctx);
	c->stream = (struct mg_ctl_stream){ 0 };
}

static void conn_close(struct mg_ctlsock *s, struct mg_ctl_conn *c)
{
	stream_end(c);
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in);
	free(c->out);
	*c = (struct mg_ctl_conn){ .fd = -1, .state = MG_CTL_CONN_FREE };
}

static void conn_watch(struct mg_ctlsock *s, struct mg_ctl_conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = c->fd };

	epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = (events & EPOLLOUT) != 0;
}

/* Read and throw away what the client still sends; EOF (or an error) ends the connection. */
static void conn_linger(struct mg_ctlsock *s, struct mg_ctl_conn *c)
{
	char sink[4096];

	/* Bounded: a client that keeps sending gets its next turn from epoll, not all of ours. */
	for (int round = 0; round < 16; round++) {
		ssize_t n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		conn_close(s, c);
		return;
	}
}

/* Send what the client takes now; all of it sent: shut our side and linger. */
static void conn_write(struct mg_ctlsock *s, struct mg_ctl_conn *c, uint64_t now)
{
	bool rendered = false;

	for (;;) {
		if (c->outoff == c->outlen && c->stream.next) {
			/* One piece per call: a fast reader comes back through EPOLLOUT, after the
			 * loop's other work, rather than having the whole answer rendered now. */
			if (rendered) {
				if (!c->want_out)
					conn_watch(s, c, EPOLLOUT);
				return;
			}
			size_t len = 0;
			char *piece = c->stream.next(c->stream.ctx, &len);
			if (!piece) {
				stream_end(c);
			} else {
				free(c->out);
				c->out = piece;
				c->outlen = len;
				c->outoff = 0;
				rendered = true;
			}
		}
		if (c->outoff >= c->outlen)
			break;
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			c->outoff += (size_t)n;
			c->deadline = now + MG_CTL_ANSWER_STALL_NS; /* progress: the stall clock starts again */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!c->want_out)
				conn_watch(s, c, EPOLLOUT);
			return;
		}
		conn_close(s, c); /* the client went away: nobody to answer */
		return;
	}
	free(c->out);
	c->out = NULL;
	shutdown(c->fd, SHUT_WR);
	c->state = MG_CTL_CONN_LINGERING;
	c->deadline = now + MG_CTL_LINGER_NS;
	conn_watch(s, c, EPOLLIN);
	conn_linger(s, c);
}

/* Queue `resp` (consumed) as the answer and start sending it. */
static void conn_answer(struct mg_ctlsock *s, struct mg_ctl_conn *c, json_t *resp, uint64_t now)
{
	static const char no_memory[] = "{\"ok\":false,\"error\":\"out of memory for the answer\"}\n";
	char *text = resp ? json_dumps(resp, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	size_t len = text ? strlen(text) : 0;
	char *out = text ? realloc(text, len + 2) : NULL;

	json_decref(resp);
	if (out) {
		out[len++] = '\n';
		out[len] = '\0';
	} else {
		free(text);
		out = strdup(no_memory); /* the client still learns why */
		if (!out) {
			conn_close(s, c);
			return;
		}
		len = strlen(out);
	}
	free(c->in);
	c->in = NULL;
	c->out = out;
	c->outlen = len;
	c->outoff = 0;
	c->state = MG_CTL_CONN_WRITING;
	c->deadline = now + MG_CTL_ANSWER_STALL_NS;
	conn_write(s, c, now);
}

/* A streamed answer: its pieces go out as conn_write asks for them. */
static void conn_stream(struct mg_ctlsock *s, struct mg_ctl_conn *c, const struct mg_ctl_stream *st, uint64_t now)
{
	free(c->in);
	c->in = NULL;
	free(c->out);
	c->out = NULL;
	c->outlen = c->outoff = 0;
	c->stream = *st;
	c->state = MG_CTL_CONN_WRITING;
	c->deadline = now + MG_CTL_ANSWER_STALL_NS;
	s->stats.streamed++;
	conn_write(s, c, now);
}

/*
 * The answer comes later (mg_ctlsock_answer): nothing to read or write
 * meanwhile. Only a hangup is watched (epoll reports it whatever the
 * events): a client that half-closed after its request still waits, one that
 * closed is gone and its slot is freed. What it sends meanwhile stays unread.
 */
static void conn_wait(struct mg_ctlsock *s, struct mg_ctl_conn *c, uint64_t later_ns, uint64_t now)
{
	free(c->in);
	c->in = NULL;
	c->state = MG_CTL_CONN_WAITING;
	c->deadline = now + (later_ns < MG_CTL_LATER_MAX_NS ? later_ns : MG_CTL_LATER_MAX_NS);
	conn_watch(s, c, 0);
}

/* The request is whole (newline or EOF): parse, ask the handler, answer. */
static void conn_request(struct mg_ctlsock *s, struct mg_ctl_conn *c, uint64_t now)
{
	char err[256];
	json_t *req = mg_ctl_parse_request(c->in, c->inlen, err, sizeof(err));
	json_t *resp;

	if (!req) {
		s->stats.malformed++;
		resp = mg_ctl_error("%s", err);
	} else {
		uint64_t serial = c->serial;
		struct mg_ctl_stream st = { .ticket = { .slot = (uint32_t)(c - s->conn), .serial = serial } };
		s->stats.answered++;
		c->in_handler = true;
		resp = s->handler(req, s->arg, &st);
		c->in_handler = false;
		json_decref(req);
		if (c->state != MG_CTL_CONN_READING || c->serial != serial) {
			json_decref(resp); /* answered from within the handler (mg_ctlsock_answer), or closed meanwhile */
			return;
		}
		if (!resp && st.next) {
			conn_stream(s, c, &st, now);
			return;
		}
		if (!resp && st.later_ns) {
			conn_wait(s, c, st.later_ns, now);
			return;
		}
		if (!resp)
			resp = mg_ctl_error("internal error");
	}
	conn_answer(s, c, resp, now);
}

static void conn_read(struct mg_ctlsock *s, struct mg_ctl_conn *c, uint64_t now)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->in + c->inlen, MG_CTL_MAX_REQUEST + 1 - c->inlen, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			conn_close(s, c);
			return;
		}
		if (n == 0) { /* EOF: the request is what came */
			conn_request(s, c, now);
			return;
		}
		c->inlen += (size_t)n;
		if (c->inlen > MG_CTL_MAX_REQUEST) {
			s->stats.oversized++;
			conn_answer(s, c, mg_ctl_error("request larger than %d bytes", MG_CTL_MAX_REQUEST), now);
			return;
		}
		if (memchr(c->in + c->inlen - (size_t)n, '\n', (size_t)n)) {
			conn_request(s, c, now);
			return;
		}
	}
}

/* At the cap: a short answer saying so, what the client sent already read, then close. */
static void refuse_busy(struct mg_ctlsock *s, int fd)
{
	char msg[128], sink[4096];
	int len = snprintf(msg, sizeof(msg), "{\"ok\":false,\"error\":\"busy: %d control connections open, try again\"}\n",
			   MG_CTL_MAX_CONN);

	s->stats.busy++;
	/* A fresh socket's buffer takes these few bytes whole, or the client is gone. */
	if (send(fd, msg, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* nothing to do: closing is all that is left */
	}
	shutdown(fd, SHUT_WR);
	/* Unread input would turn the close into ECONNRESET on the client's side, before it reads why. */
	for (int i = 0; i < (MG_CTL_MAX_REQUEST / (int)sizeof(sink)) + 1; i++)
		if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
			break;
	close(fd);
}

/* At the cap: the slot a newcomer may take (see MG_CTL_MAX_CONN), emptied; NULL if none. */
static struct mg_ctl_conn *evict_for_newcomer(struct mg_ctlsock *s)
{
	static const enum mg_ctl_conn_state order[] = { MG_CTL_CONN_LINGERING, MG_CTL_CONN_READING };

	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		struct mg_ctl_conn *oldest = NULL;
		/* In one state, the earliest deadline is the earliest start of that state. */
		for (int i = 0; i < MG_CTL_MAX_CONN; i++)
			if (s->conn[i].state == order[k] && (!oldest || s->conn[i].deadline < oldest->deadline))
				oldest = &s->conn[i];
		if (oldest) {
			s->stats.evicted++;
			conn_close(s, oldest);
			return oldest;
		}
	}
	return NULL;
}

static void accept_clients(struct mg_ctlsock *s, uint64_t now)
{
	for (int round = 0; round < ACCEPT_ROUND; round++) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if ((errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) && s->epfd >= 0 &&
			    !epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->fd, NULL)) {
				/* The connection waits in the backlog; the loop goes on meanwhile. */
				s->accept_resume = now + MG_CTL_ACCEPT_PAUSE_NS;
				s->stats.accept_paused++;
			}
			return; /* EAGAIN: none pending */
		}
		struct mg_ctl_conn *c = NULL;
		for (int i = 0; i < MG_CTL_MAX_CONN && !c; i++)
			if (s->conn[i].state == MG_CTL_CONN_FREE)
				c = &s->conn[i];
		if (!c)
			c = evict_for_newcomer(s);
		if (!c) {
			refuse_busy(s, fd);
			continue;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
		char *in = malloc(MG_CTL_MAX_REQUEST + 1);
		if (!in || epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			free(in);
			close(fd);
			continue;
		}
		*c = (struct mg_ctl_conn){
			.fd = fd,
			.state = MG_CTL_CONN_READING,
			.in = in,
			.deadline = now + MG_CTL_REQUEST_NS,
			.serial = ++s->serial,
		};
		s->stats.accepted++;
		conn_read(s, c, now); /* a client that sent before we accepted is answered without another turn */
	}
}

void mg_ctlsock_handle(struct mg_ctlsock *s, int fd, uint32_t events, uint64_t now)
{
	if (fd == s->fd) {
		accept_clients(s, now);
		return;
	}
	struct mg_ctl_conn *c = find_conn(s, fd);
	if (!c)
		return;
	switch (c->state) {
	case MG_CTL_CONN_READING:
		conn_read(s, c, now);
		break;
	case MG_CTL_CONN_WRITING:
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			conn_write(s, c, now);
		break;
	case MG_CTL_CONN_LINGERING:
		conn_linger(s, c);
		break;
	case MG_CTL_CONN_WAITING:
		if (events & (EPOLLHUP | EPOLLERR))
			conn_close(s, c); /* nobody left to answer: the answer, when it comes, is dropped */
		break;
	case MG_CTL_CONN_FREE:
		break;
	}
}

int mg_ctlsock_answer(struct mg_ctlsock *s, struct mg_ctl_ticket t, json_t *resp, uint64_t now)
{
	struct mg_ctl_conn *c = t.slot < MG_CTL_MAX_CONN ? &s->conn[t.slot] : NULL;

	if (!c || c->serial != t.serial ||
	    !(c->state == MG_CTL_CONN_WAITING || (c->state == MG_CTL_CONN_READING && c->in_handler))) {
		s->stats.deferred_gone++;
		json_decref(resp);
		return -ESRCH;
	}
	s->stats.deferred++;
	conn_answer(s, c, resp ? resp : mg_ctl_error("internal error"), now);
	return 0;
}

void mg_ctlsock_expire(struct mg_ctlsock *s, uint64_t now)
{
	if (s->accept_resume != MG_CTL_NO_DEADLINE && now >= s->accept_resume && s->fd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = s->fd };
		if (!epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->fd, &ev) || errno == EEXIST)
			s->accept_resume = MG_CTL_NO_DEADLINE;
		else
			s->accept_resume = now + MG_CTL_ACCEPT_PAUSE_NS;
	}
	for (int i = 0; i < MG_CTL_MAX_CONN; i++) {
		struct mg_ctl_conn *c = &s->conn[i];
		if (c->state == MG_CTL_CONN_FREE || now < c->deadline)
			continue;
		switch (c->state) {
		case MG_CTL_CONN_READING:
			s->stats.timed_out++;
			conn_answer(s, c,
				    mg_ctl_error("request timed out: not whole within %llu s of connecting",
						 (unsigned long long)(MG_CTL_REQUEST_NS / MG_NSEC_PER_SEC)),
				    now);
			break;
		case MG_CTL_CONN_WRITING:
			s->stats.stalled++;
			conn_close(s, c);
			break;
		case MG_CTL_CONN_WAITING:
			/* The answer, if it comes, finds a WRITING or closed slot and is dropped. */
			s->stats.deferred_late++;
			conn_answer(s, c, mg_ctl_error("no answer in time: the operation goes on, and its outcome is logged"),
				    now);
			break;
		default:
			conn_close(s, c);
			break;
		}
	}
}

uint64_t mg_ctlsock_next_deadline(const struct mg_ctlsock *s)
{
	uint64_t next = s->accept_resume;

	for (int i = 0; i < MG_CTL_MAX_CONN; i++)
		if (s->conn[i].state != MG_CTL_CONN_FREE && s->conn[i].deadline < next)
			next = s->conn[i].deadline;
	return next;
}

void mg_ctlsock_close(struct mg_ctlsock *s)
{
	for (int i = 0; i < MG_CTL_MAX_CONN; i++)
		if (s->conn[i].state != MG_CTL_CONN_FREE)
			conn_close(s, &s->conn[i]);
	if (s->fd >= 0) {
		if (s->epfd >= 0)
			epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
		unlink(s->path);
	}
	s->fd = -1;
}

/* ---- the client ------------------------------------------------------------------------------- */

static const char *const status_names[MG_CTL_STATUS_MAX] = {
	[MG_CTL_OK] = "ok",
	[MG_CTL_NO_DAEMON] = "no daemon",
	[MG_CTL_DENIED] = "permission denied",
	[MG_CTL_TRUNCATED] = "answer cut off",
	[MG_CTL_UNREADABLE] = "answer unreadable",
	[MG_CTL_TIMEOUT] = "timed out",
	[MG_CTL_FAILED] = "failed",
};

const char *mg_ctl_status_name(enum mg_ctl_status st)
{
	return (unsigned)st < MG_CTL_STATUS_MAX ? status_names[st] : "?";
}

/* Milliseconds left until `deadline` (CLOCK_MONOTONIC ns), 0 once it has passed. */
static int ms_left(uint64_t deadline)
{
	uint64_t now = mg_mono_ns();

	return now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
}

/* Wait for `events` on fd until deadline: 1 ready, 0 timed out. */
static int wait_for(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int left = ms_left(deadline);
		if (!left)
			return 0;
		int r = poll(&p, 1, left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return 1; /* let the send or recv that follows report the error */
	}
}

/* Send all of buf; 0, -ETIMEDOUT, or -errno (the daemon may have closed: its answer may still be there). */
static int send_until(int fd, const char *buf, size_t len, uint64_t deadline)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		if (!wait_for(fd, POLLOUT, deadline))
			return -ETIMEDOUT;
	}
	return 0;
}

static enum mg_ctl_status connect_status(int e)
{
	switch (e) {
	case EACCES:
	case EPERM:
		return MG_CTL_DENIED;
	case EAGAIN: /* the listener's backlog stayed full until the send timeout */
	case ETIMEDOUT:
		return MG_CTL_TIMEOUT;
	default:
		return MG_CTL_NO_DAEMON; /* ENOENT, ECONNREFUSED, ENOTSOCK, ... */
	}
}

/* The answer, whole, is one JSON object and a newline; anything short of that is told apart. */
static json_t *read_answer(int fd, uint64_t deadline, enum mg_ctl_status *st, char *err, size_t errlen)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	json_t *resp = NULL;
	bool reset = false;

	if (!buf) {
		*st = MG_CTL_FAILED;
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (;;) {
		if (len == cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				*st = MG_CTL_FAILED;
				snprintf(err, errlen, "out of memory for an answer of more than %zu bytes", len);
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			if (!wait_for(fd, POLLIN, deadline)) {
				*st = MG_CTL_TIMEOUT;
				snprintf(err, errlen, "no whole answer in time (%zu bytes came)", len);
				goto out;
			}
			continue;
		}
		reset = true; /* ECONNRESET and the like: what came is all there is */
		break;
	}
	if (len == 0) {
		*st = MG_CTL_TRUNCATED;
		snprintf(err, errlen, "the daemon closed the connection without an answer%s", reset ? " (reset)" : "");
		goto out;
	}
	/* Every answer ends with a newline: without it the answer was cut off, whatever the JSON parser says. */
	if (buf[len - 1] != '\n') {
		*st = MG_CTL_TRUNCATED;
		snprintf(err, errlen, "the answer was cut off after %zu bytes%s", len, reset ? " (connection reset)" : "");
		goto out;
	}
	json_error_t je;
	resp = json_loadb(buf, len, 0, &je);
	if (!resp || !json_is_object(resp)) {
		*st = MG_CTL_UNREADABLE;
		snprintf(err, errlen, "unreadable answer (%zu bytes): %s", len, resp ? "not a JSON object" : je.text);
		json_decref(resp);
		resp = NULL;
		goto out;
	}
	*st = MG_CTL_OK;
out:
	free(buf);
	return resp;
}

json_t *mg_ctl_request(const char *path, json_t *req, int timeout_ms, enum mg_ctl_status *st, char *err,
		       size_t errlen)
{
	uint64_t deadline = mg_mono_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : MG_CTL_CLIENT_TIMEOUT_MS) * 1000000;
	struct sockaddr_un a;
	enum mg_ctl_status dummy;
	json_t *resp = NULL;
	char *text = NULL;
	int fd = -1, e;

	if (!st)
		st = &dummy;
	*st = MG_CTL_FAILED;
	if (make_addr(&a, path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return NULL;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return NULL;
	}
	/* Blocking connect, bounded: a UNIX connect waits (up to the send timeout) while the backlog is full. */
	int left = ms_left(deadline);
	struct timeval tv = { .tv_sec = left / 1000, .tv_usec = (left % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		e = errno;
		*st = connect_status(e);
		snprintf(err, errlen, "cannot connect to %s: %s%s", path, strerror(e),
			 *st == MG_CTL_NO_DAEMON ? " (is mtaguardd running?)" : "");
		goto out;
	}
	text = json_dumps(req, JSON_COMPACT);
	if (!text) {
		snprintf(err, errlen, "cannot encode the request");
		goto out;
	}
	size_t tlen = strlen(text);
	e = send_until(fd, text, tlen, deadline);
	if (!e)
		e = send_until(fd, "\n", 1, deadline);
	if (e == -ETIMEDOUT) {
		*st = MG_CTL_TIMEOUT;
		snprintf(err, errlen, "the daemon did not take the request in time");
		goto out;
	}
	/* Another error (EPIPE, ECONNRESET): the daemon stopped reading, and may have said why. Read on. */
	shutdown(fd, SHUT_WR);
	resp = read_answer(fd, deadline, st, err, errlen);
out:
	free(text);
	close(fd);
	return resp;
}
