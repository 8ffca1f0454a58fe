// SPDX-License-Identifier: GPL-2.0-only
/* mg_policyd.c - Postfix policy delegation server for the epoll loop (see mg_policyd.h). */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

int mg_policyd_listen(struct mg_policyd *p, const char *spec, unsigned mode)
{
	struct sockaddr_storage ss;
	socklen_t len;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	for (int i = 0; i < MG_POLICYD_MAX_CONN; i++)
		p->conn[i].fd = -1;
	if (parse_spec(spec, &ss, &len, p->path, sizeof(p->path)))
		return -EINVAL;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (p->path[0])
		unlink(p->path); /* a stale socket from a previous run */
	if (bind(fd, (struct sockaddr *)&ss, len) || (p->path[0] && chmod(p->path, mode)) || listen(fd, 64)) {
		int e = -errno;
		close(fd);
		return e;
	}
	p->fd = fd;
	return 0;
}

int mg_policyd_epoll_add(struct mg_policyd *p, int epfd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = p->fd };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, p->fd, &ev) ? -errno : 0;
}

bool mg_policyd_owns(const struct mg_policyd *p, int fd)
{
	if (fd < 0)
		return false;
	if (fd == p->fd)
		return true;
	for (int i = 0; i < MG_POLICYD_MAX_CONN; i++)
		if (p->conn[i].fd == fd)
			return true;
	return false;
}

static void drop(struct mg_policyd_conn *c, int epfd)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->inlen = c->outlen = c->outoff = 0;
	c->closing = false;
}

/* Write what is pending; wait for EPOLLOUT if the socket is full. */
static void flush(struct mg_policyd_conn *c, int epfd)
{
	while (c->outoff < c->outlen) {
		ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.fd = c->fd };
			epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
			return;
		}
		if (w <= 0) {
			drop(c, epfd);
			return;
		}
		c->outoff += (size_t)w;
	}
	c->outlen = c->outoff = 0;
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = c->fd };
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
	if (c->closing)
		drop(c, epfd);
}

static void answer(struct mg_policyd_conn *c, const char *action)
{
	int n = snprintf(c->out + c->outlen, sizeof(c->out) - c->outlen, "action=%s\n\n", action);
	if (n < 0 || (size_t)n >= sizeof(c->out) - c->outlen)
		n = snprintf(c->out + c->outlen, sizeof(c->out) - c->outlen, "action=DUNNO\n\n");
	if (n > 0)
		c->outlen += (size_t)n;
}

/* Answer every complete request in the buffer. */
static void serve(struct mg_policyd *p, struct mg_policyd_conn *c, mg_policy_decide_fn decide, void *arg)
{
	for (;;) {
		c->in[c->inlen] = '\0';
		char *end = strstr(c->in, "\n\n");
		char *end_crlf = strstr(c->in, "\r\n\r\n");
		size_t cut;
		if (end_crlf && (!end || end_crlf < end)) {
			*end_crlf = '\0';
			cut = (size_t)(end_crlf - c->in) + 4;
		} else if (end) {
			*end = '\0';
			cut = (size_t)(end - c->in) + 2;
		} else {
			break;
		}
		struct mg_policy_request r;
		char action[512];
		mg_policy_parse(c->in, &r);
		p->stats.requests++;
		if (r.malformed || strcmp(r.request, "smtpd_access_policy")) {
			if (r.malformed)
				p->stats.malformed++;
			snprintf(action, sizeof(action), "DUNNO");
		} else {
			snprintf(action, sizeof(action), "DUNNO");
			decide(&r, action, sizeof(action), arg);
		}
		answer(c, action);
		memmove(c->in, c->in + cut, c->inlen - cut);
		c->inlen -= cut;
		if (c->outlen > sizeof(c->out) - 600)
			break; /* let the output drain first */
	}
}

static bool line_too_long(const struct mg_policyd_conn *c)
{
	size_t run = 0;
	for (size_t i = 0; i < c->inlen; i++) {
		run = c->in[i] == '\n' ? 0 : run + 1;
		if (run > MG_POLICYD_MAX_LINE)
			return true;
	}
	return false;
}

void mg_policyd_handle(struct mg_policyd *p, int epfd, int fd, uint32_t events, mg_policy_decide_fn decide, void *arg)
{
	if (fd == p->fd) {
		for (;;) {
			int cfd = accept4(p->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (cfd < 0)
				return;
			int slot = -1;
			for (int i = 0; i < MG_POLICYD_MAX_CONN && slot < 0; i++)
				if (p->conn[i].fd < 0)
					slot = i;
			if (slot < 0) {
				close(cfd); /* full: Postfix retries, and falls back to its default action */
				p->stats.refused++;
				continue;
			}
			struct epoll_event ev = { .events = EPOLLIN, .data.fd = cfd };
			if (epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &ev)) {
				close(cfd);
				continue;
			}
			p->conn[slot].fd = cfd;
			p->stats.connections++;
		}
	}
	struct mg_policyd_conn *c = NULL;
	for (int i = 0; i < MG_POLICYD_MAX_CONN && !c; i++)
		if (p->conn[i].fd == fd)
			c = &p->conn[i];
	if (!c)
		return;
	if (events & EPOLLOUT) {
		flush(c, epfd);
		if (c->fd < 0)
			return;
		/* Requests that waited for room in the output buffer. */
		if (!c->outlen && c->inlen) {
			serve(p, c, decide, arg);
			flush(c, epfd);
			if (c->fd < 0)
				return;
		}
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		if (c->closing)
			return;
		ssize_t r = recv(c->fd, c->in + c->inlen, MG_POLICYD_MAX_REQUEST - c->inlen, 0);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			drop(c, epfd); /* the client went away, mid-request or not */
			return;
		}
		if (r < 0)
			break;
		c->inlen += (size_t)r;
		serve(p, c, decide, arg);
		if (line_too_long(c) || c->inlen >= MG_POLICYD_MAX_REQUEST) {
			/* Oversized: fail open, and close (the rest of the stream cannot be trusted). */
			p->stats.oversized++;
			answer(c, "DUNNO");
			c->inlen = 0;
			c->closing = true;
			break;
		}
		if (c->outlen)
			break;
	}
	/* Answer, and go on with requests that waited for room, while the socket takes the output. */
	while (c->fd >= 0 && c->outlen) {
		flush(c, epfd);
		if (c->fd < 0 || c->outlen || !c->inlen)
			break;
		size_t before = c->inlen;
		serve(p, c, decide, arg);
		if (c->inlen == before)
			break;
	}
}

void mg_policyd_close(struct mg_policyd *p, int epfd)
{
	for (int i = 0; i < MG_POLICYD_MAX_CONN; i++)
		if (p->conn[i].fd >= 0)
			drop(&p->conn[i], epfd);
	if (p->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, p->fd, NULL);
		close(p->fd);
		p->fd = -1;
	}
	if (p->path[0])
		unlink(p->path);
}
