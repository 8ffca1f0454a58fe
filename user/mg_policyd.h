/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_policyd.h - a Postfix policy delegation server (SMTPD_POLICY_README),
 * event-driven for mtaguardd's single-threaded epoll loop.
 *
 * Postfix sends a request as "name=value" lines ending with an empty line
 * and keeps the connection for further requests; each gets "action=…" and
 * an empty line. This side never blocks on a client, never answers anything
 * but an action, and fails open: a malformed, oversized or unknown request
 * gets "action=DUNNO", so a protocol problem can never make Postfix refuse
 * mail.
 */
#ifndef MG_POLICYD_H
#define MG_POLICYD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MG_POLICYD_MAX_CONN    64
#define MG_POLICYD_MAX_LINE    2048
#define MG_POLICYD_MAX_REQUEST 16384

struct mg_policy_request {
	char request[32];
	char protocol_state[16];
	char client_address[64];
	char client_name[256];
	char helo_name[256];
	char sender[256];
	char recipient[256];
	char queue_id[32];
	char instance[64];
	uint64_t size;
	uint32_t recipient_count;
	bool malformed;       /* a line without '=', a value too long for its field */
	char error[96];
};

/* Fill `action` (without "action="), e.g. "DUNNO", "REJECT 5.7.1 …", "HOLD …". */
typedef void (*mg_policy_decide_fn)(const struct mg_policy_request *r, char *action, size_t len, void *arg);

struct mg_policyd_conn {
	int fd;                             /* -1: free slot */
	char in[MG_POLICYD_MAX_REQUEST + 1];
	size_t inlen;
	char out[16384];
	size_t outlen, outoff;
	bool closing;                       /* close once out is written */
};

struct mg_policyd_stats {
	uint64_t connections, refused, requests, malformed, oversized;
};

struct mg_policyd {
	int fd;                             /* listening socket, -1 if none */
	char path[108];                     /* unix socket path, to unlink */
	struct mg_policyd_conn conn[MG_POLICYD_MAX_CONN];
	struct mg_policyd_stats stats;
};

/* "unix:/path" (a stale socket replaced, chmod mode) or "inet:ADDR:PORT" ("[::1]:PORT"). 0 or -errno. */
int mg_policyd_listen(struct mg_policyd *p, const char *spec, unsigned mode);
/* Register the listening socket in epfd (clients are added as they come). */
int mg_policyd_epoll_add(struct mg_policyd *p, int epfd);
/* Is fd the listener or one of its clients? */
bool mg_policyd_owns(const struct mg_policyd *p, int fd);
/* Handle readiness on fd (accept, read and answer, write pending output). */
void mg_policyd_handle(struct mg_policyd *p, int epfd, int fd, uint32_t events, mg_policy_decide_fn decide, void *arg);
void mg_policyd_close(struct mg_policyd *p, int epfd);

/* Parse one request (the lines before the empty one, NUL-terminated). Pure; for tests too. */
void mg_policy_parse(const char *text, struct mg_policy_request *r);

#endif
