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
 *
 * Two layers: the protocol (mg_policy_answer: a client's bytes in, its
 * answers out, no sockets, what the fuzzer drives) and the server (sockets,
 * the connection table, back-pressure, fairness and timeouts).
 */
#ifndef MG_POLICYD_H
#define MG_POLICYD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MG_POLICYD_MAX_LINE    2048
#define MG_POLICYD_MAX_REQUEST 16384
/* decide()'s buffer: an action is at most MG_POLICYD_MAX_ACTION - 1 bytes. */
#define MG_POLICYD_MAX_ACTION  512
/* The longest answer there can be: "action=" ACTION "\n\n". */
#define MG_POLICYD_MAX_ANSWER  (7 + MG_POLICYD_MAX_ACTION - 1 + 2)
/* Answers waiting to be sent, per client: Postfix takes each at once; only a pipelining client fills it. */
#define MG_POLICYD_OUT_SIZE    16384
/* Answers given to one client per readiness event, so one client cannot hold the loop. */
#define MG_POLICYD_BATCH       16

/*
 * Defaults (quarantine.policy_* in mtaguard.conf(5)). Postfix runs up to 100
 * smtpd processes per service by default (default_process_limit), each with
 * its own connection to the policy service, and a relay often has three
 * services (25, 465, 587) or a raised limit: 1024 covers that with room, and
 * costs a few dozen bytes per unused slot. Postfix closes an idle policy
 * connection after smtpd_policy_service_max_idle (300 s); ours is a little
 * longer, so Postfix normally closes first and never writes into a socket
 * being closed. Postfix writes a request in one go and reads its answer at
 * once: 30 s without progress on either is a client that is stuck or hostile.
 */
#define MG_POLICYD_DEFAULT_MAX_CLIENTS 1024
#define MG_POLICYD_DEFAULT_IDLE_S      330
#define MG_POLICYD_DEFAULT_IO_S        30

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

struct mg_policyd_stats {
	uint64_t connections;           /* accepted */
	uint64_t evicted;               /* closed, longest idle first, to make room for a new one */
	uint64_t idle_closed;           /* closed after the idle timeout */
	uint64_t stalled_closed;        /* a request not finished, or answers not taken, within the I/O timeout */
	uint64_t requests, malformed, oversized;
	char last_problem[128];         /* the latest malformed or oversized request, for the log */
};

/* One client's protocol state, apart from its socket. */
struct mg_policy_stream {
	char *in;                       /* MG_POLICYD_MAX_REQUEST bytes: received, not yet answered */
	size_t inlen;
	char *out;                      /* MG_POLICYD_OUT_SIZE bytes: out[outoff, outlen) not yet sent */
	size_t outoff, outlen;
};

enum mg_policy_progress {
	MG_POLICY_NEED_INPUT,           /* no whole request left: read more (there is room for it) */
	MG_POLICY_OUTPUT_FULL,          /* a request waits for room for its answer: send first */
	MG_POLICY_YIELD,                /* max_answers given and more whole requests wait */
	MG_POLICY_OVERSIZED,            /* a line or request too long: answered DUNNO, input dropped; close once sent */
};

/*
 * Answer the whole requests at the start of s->in, at most max_answers, each
 * only when s->out has room for the longest answer (never truncated); remove
 * them from s->in and append the answers to s->out. A request with a NUL
 * byte is malformed and answered DUNNO; so is one that is not
 * "request=smtpd_access_policy" (decide is not asked). Pure but for decide
 * and the counters in st (n_answered, if not NULL, gets the count).
 */
enum mg_policy_progress mg_policy_answer(struct mg_policy_stream *s, unsigned max_answers, struct mg_policyd_stats *st,
					 mg_policy_decide_fn decide, void *arg, unsigned *n_answered);

struct mg_policyd_conn {
	int fd;
	struct mg_policy_stream s;      /* buffers allocated when needed, freed when the client is idle */
	bool closing;                   /* no more reading: close once the answers are sent */
	uint32_t events;                /* the epoll interest set now */
	uint64_t last_ns;               /* last accept, bytes in or bytes out: idle time and eviction */
	uint64_t request_ns;            /* when the unfinished request at the start of s.in began */
	uint64_t out_ns;                /* when the unsent answers last made progress */
};

struct mg_policyd_options {
	unsigned max_clients;           /* connections at once; at the cap the longest idle makes room */
	uint64_t idle_timeout_ns;       /* nothing asked and nothing to send for this long: closed */
	uint64_t io_timeout_ns;         /* a request begun but not finished, or answers not taken */
	unsigned mode;                  /* unix socket: permissions */
	const char *group;              /* unix socket: group name; NULL or "" leaves the daemon's */
};

struct mg_policyd {
	int fd;                         /* listening socket, -1 if none */
	char path[108];                 /* unix socket path, to unlink */
	unsigned mode;                  /* unix socket: the permissions and group it was given */
	char group[64];
	struct mg_policyd_conn *conn;   /* conn[0, n_conn) in use, max_clients allocated */
	unsigned n_conn, max_clients;
	uint64_t idle_timeout_ns, io_timeout_ns;
	bool accept_paused;             /* out of descriptors with no client to close: resumed by expire */
	struct mg_policyd_stats stats;
	uint64_t problems_reported, problems_report_ns; /* mg_policyd_problems() */
	bool problems_reported_once;
};

/*
 * "unix:/path" (a stale socket replaced; created with no permissions, then
 * given o->group and o->mode) or "inet:ADDR:PORT" ("[::1]:PORT"). 0 or
 * -errno, with a message in err (naming an unknown group).
 */
int mg_policyd_listen(struct mg_policyd *p, const char *spec, const struct mg_policyd_options *o, char *err,
		      size_t errlen);
/* Give the unix socket `group` (NULL or "": unchanged) and `mode`, e.g. after a reload. 0 or -errno with err. */
int mg_policyd_socket_access(struct mg_policyd *p, const char *group, unsigned mode, char *err, size_t errlen);
/* Change the cap (closing the longest idle beyond it) and the timeouts. 0 or -ENOMEM (nothing changed). */
int mg_policyd_set_limits(struct mg_policyd *p, int epfd, const struct mg_policyd_options *o);
/* Register the listening socket in epfd (clients are added as they come). */
int mg_policyd_epoll_add(struct mg_policyd *p, int epfd);
/* Is fd the listener or one of its clients? */
bool mg_policyd_owns(const struct mg_policyd *p, int fd);
/* Handle readiness on fd (accept; read, answer, send). now: CLOCK_MONOTONIC ns. */
void mg_policyd_handle(struct mg_policyd *p, int epfd, int fd, uint32_t events, uint64_t now,
		       mg_policy_decide_fn decide, void *arg);
/* Close clients past their timeouts; resume accepting after a shortage of descriptors. Call every second or so. */
void mg_policyd_expire(struct mg_policyd *p, int epfd, uint64_t now);
/*
 * Malformed and oversized requests not yet reported, if the last report is
 * at least `every` ns old (the first is reported at once), with the latest
 * described in what; 0 when there is nothing to report yet. For a
 * rate-limited log line.
 */
uint64_t mg_policyd_problems(struct mg_policyd *p, uint64_t now, uint64_t every, char *what, size_t len);
void mg_policyd_close(struct mg_policyd *p, int epfd);

/* Parse one request (the lines before the empty one, NUL-terminated). Pure; for tests too. */
void mg_policy_parse(const char *text, struct mg_policy_request *r);

#endif
