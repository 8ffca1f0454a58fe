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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "mg_ctlsock.h"

json_t *mg_ctl_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:b,s:s}", "ok", 0, "error", msg);
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

int mg_ctlsock_listen(struct mg_ctlsock *s, const char *path, unsigned mode)
{
	struct sockaddr_un a;
	int err = make_addr(&a, path);

	s->fd = -1;
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
	if (!err && chmod(path, mode))
		err = -errno;
	if (!err && listen(s->fd, 16))
		err = -errno;
	if (err) {
		close(s->fd);
		s->fd = -1;
	}
	return err;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void respond(int fd, json_t *resp)
{
	char *text = json_dumps(resp, JSON_COMPACT | JSON_PRESERVE_ORDER);

	if (text) {
		send_all(fd, text, strlen(text));
		send_all(fd, "\n", 1);
	}
	free(text);
	json_decref(resp);
}

/* Read one request: up to a newline or EOF, bounded in size and time. */
static json_t *read_request(int fd, char *buf, size_t cap, json_t **error)
{
	size_t len = 0;

	*error = NULL;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, MG_CTL_TIMEOUT_MS);
		if (r == 0) {
			*error = mg_ctl_error("request timed out");
			return NULL;
		}
		if (r < 0 && errno == EINTR)
			continue;
		ssize_t n = recv(fd, buf + len, cap - len, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			*error = mg_ctl_error("read failed: %s", strerror(errno));
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (memchr(buf + len - (size_t)n, '\n', (size_t)n))
			break;
		if (len == cap) {
			*error = mg_ctl_error("request larger than %d bytes", MG_CTL_MAX_REQUEST);
			return NULL;
		}
	}
	json_error_t je;
	json_t *req = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &je);
	if (!req) {
		*error = mg_ctl_error("malformed request at %d:%d: %s", je.line, je.column, je.text);
		return NULL;
	}
	if (!json_is_object(req) || !json_is_string(json_object_get(req, "cmd"))) {
		json_decref(req);
		*error = mg_ctl_error("a request is a JSON object with a \"cmd\" string");
		return NULL;
	}
	return req;
}

void mg_ctlsock_serve(struct mg_ctlsock *s, mg_ctl_handler h, void *arg)
{
	static char buf[MG_CTL_MAX_REQUEST];

	for (;;) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return; /* EAGAIN: nothing more pending */
		json_t *err, *req = read_request(fd, buf, sizeof(buf), &err);
		if (req) {
			json_t *resp = h(req, arg);
			respond(fd, resp ? resp : mg_ctl_error("internal error"));
			json_decref(req);
		} else {
			respond(fd, err);
		}
		close(fd);
	}
}

void mg_ctlsock_close(struct mg_ctlsock *s)
{
	if (s->fd >= 0) {
		close(s->fd);
		unlink(s->path);
	}
	s->fd = -1;
}

json_t *mg_ctl_request(const char *path, json_t *req, char *err, size_t errlen)
{
	struct sockaddr_un a;
	char *text = NULL, *buf = NULL;
	size_t len = 0, cap = 1 << 16;
	json_t *resp = NULL;
	int fd = -1;

	if (make_addr(&a, path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return NULL;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		snprintf(err, errlen, "cannot connect to %s: %s (is mtaguardd running?)", path, strerror(errno));
		goto out;
	}
	text = json_dumps(req, JSON_COMPACT);
	if (!text || send_all(fd, text, strlen(text)) || send_all(fd, "\n", 1)) {
		snprintf(err, errlen, "cannot send the request: %s", strerror(errno));
		goto out;
	}
	shutdown(fd, SHUT_WR);
	buf = malloc(cap);
	for (;;) {
		if (len == cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		ssize_t n = recv(fd, buf + len, cap - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	json_error_t je;
	resp = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, &je);
	if (!resp)
		snprintf(err, errlen, "unreadable response from the daemon: %s", je.text);
out:
	free(text);
	free(buf);
	if (fd >= 0)
		close(fd);
	return resp;
}
