/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_ctlsock.h - the control socket: a UNIX stream socket carrying one JSON
 * request and one JSON response per connection.
 *
 *   request:  {"cmd": "status", ...}\n          at most MG_CTL_MAX_REQUEST bytes
 *   response: {"ok": true, ...}\n  or  {"ok": false, "error": "why"}\n
 *
 * A malformed, oversized or slow request gets an error response (or, for a
 * client that sends nothing, a closed connection after MG_CTL_TIMEOUT_MS);
 * the daemon goes on serving either way.
 */
#ifndef MG_CTLSOCK_H
#define MG_CTLSOCK_H

#include <stddef.h>
#include <jansson.h>

#define MG_CTL_MAX_REQUEST 65536
#define MG_CTL_TIMEOUT_MS  1000

struct mg_ctlsock {
	int fd;
	char path[108];
};

/* The handler gets the parsed request object and returns a new response object. */
typedef json_t *(*mg_ctl_handler)(json_t *req, void *arg);

/* Listen at path (a stale socket file is replaced) with permissions `mode`. Returns 0 or -errno. */
int mg_ctlsock_listen(struct mg_ctlsock *s, const char *path, unsigned mode);
/* Accept and answer every pending connection (the fd is non-blocking: call when it polls readable). */
void mg_ctlsock_serve(struct mg_ctlsock *s, mg_ctl_handler h, void *arg);
void mg_ctlsock_close(struct mg_ctlsock *s);

/* Client side: send `req`, return the response object, or NULL with a reason in err. */
json_t *mg_ctl_request(const char *path, json_t *req, char *err, size_t errlen);

/* {"ok": false, "error": msg} */
json_t *mg_ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
