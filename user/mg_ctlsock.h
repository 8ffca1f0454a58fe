/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_ctlsock.h - the control socket: a UNIX stream socket carrying one JSON
 * request and one JSON response per connection.
 *
 *   request:  {"cmd": "status", ...}\n          one line, at most MG_CTL_MAX_REQUEST bytes
 *   response: {"ok": true, ...}\n  or  {"ok": false, "error": "why"}\n    any size
 *
 * The server lives in the daemon's epoll loop and never blocks it: each
 * connection is a small state machine (read the request, answer it, linger)
 * driven by readiness and by deadlines the loop passes the time for. A
 * malformed, oversized, trailing-garbage or slow request gets an error
 * response; the daemon goes on serving either way, and a client that is slow
 * to send or to take its answer delays nobody but itself.
 */
#ifndef MG_CTLSOCK_H
#define MG_CTLSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define MG_CTL_MAX_REQUEST 65536
/*
 * Connections served at once. At the cap a newcomer takes the slot of the
 * oldest connection that is only lingering after its answer, or else of the
 * oldest one whose request is still unfinished: a client sends its request
 * the moment it connects, so whoever is still sending is the slowest there
 * is, and slow clients holding every slot must not lock the operator out.
 * Answers on their way out are never dropped for a newcomer; only when all
 * slots hold one is the newcomer answered {"ok":false,"error":"busy: ..."}.
 */
#define MG_CTL_MAX_CONN 16
/* The whole request must have arrived this long after accept. */
#define MG_CTL_REQUEST_NS (2ull * 1000000000ull)
/* An answer the client stops taking for this long is dropped. */
#define MG_CTL_ANSWER_STALL_NS (30ull * 1000000000ull)
/* After the answer: what the client still sends is read and discarded this long, so it reads
 * the answer rather than ECONNRESET (a UNIX socket closed with unread input resets its peer). */
#define MG_CTL_LINGER_NS (2ull * 1000000000ull)
/* How long accepting pauses when the process is out of descriptors. */
#define MG_CTL_ACCEPT_PAUSE_NS (1000000000ull)
/* No deadline pending (mg_ctlsock_next_deadline). */
#define MG_CTL_NO_DEADLINE UINT64_MAX
/* The client's default for the whole exchange, connect to the answer's last byte. */
#define MG_CTL_CLIENT_TIMEOUT_MS 60000

/*
 * A connection whose answer comes later (mg_ctlsock_answer): its slot, and
 * the serial number of the connection that held it then, so that an answer
 * arriving after the client left, or after it was told the operation timed
 * out, finds a different serial and is dropped.
 */
struct mg_ctl_ticket {
	uint32_t slot;
	uint64_t serial;
};

/*
 * An answer too big to build in one go (a listing of every profile: tens of
 * MB): produced one piece at a time, each piece only once the client has
 * taken the one before. No loop iteration renders more than one piece, and
 * a client that stops reading costs the pieces it was sent, not the whole.
 *
 * Or an answer that is not known yet (an operation that runs commands: the
 * loop must not wait for them): the handler keeps `ticket` and sets
 * `later_ns` to how long the answer may take, at most MG_CTL_LATER_MAX_NS.
 * The connection then waits, costing the loop nothing, until the answer
 * comes through mg_ctlsock_answer(); one that does not come in time is
 * answered with an error saying so (the operation may still end, later).
 * An answer that turns out to be known at once may go through
 * mg_ctlsock_answer() from within the handler too.
 */
struct mg_ctl_stream {
	void *ctx;
	/* The next piece of the answer's text (malloc'd, *len > 0 bytes), or NULL once it is whole
	 * (the last piece ends with the answer's newline). */
	char *(*next)(void *ctx, size_t *len);
	void (*free)(void *ctx);
	struct mg_ctl_ticket ticket; /* filled by the server before it asks the handler */
	uint64_t later_ns;           /* set by a handler that answers later; 0: it answered now */
};
/* The longest a handler may defer its answer: under the client's default timeout, so it hears why. */
#define MG_CTL_LATER_MAX_NS (50ull * 1000000000ull)

/*
 * The handler gets the parsed request object and returns a new response
 * object, or (when stream is not NULL) fills *stream and returns NULL: for a
 * big answer its pieces, for a later one its later_ns.
 */
typedef json_t *(*mg_ctl_handler)(json_t *req, void *arg, struct mg_ctl_stream *stream);

enum mg_ctl_conn_state {
	MG_CTL_CONN_FREE = 0,
	MG_CTL_CONN_READING,   /* the request, until a newline or EOF */
	MG_CTL_CONN_WRITING,   /* the answer, as the client takes it */
	MG_CTL_CONN_LINGERING, /* answered and shut for writing; input discarded until EOF */
	MG_CTL_CONN_WAITING,   /* the request taken, its answer to come (mg_ctlsock_answer) */
};

struct mg_ctl_conn {
	int fd;
	enum mg_ctl_conn_state state;
	char *in;            /* MG_CTL_MAX_REQUEST + 1 bytes: one more tells an oversized request */
	size_t inlen;
	char *out;           /* the whole answer, newline included */
	size_t outlen, outoff;
	bool want_out;       /* registered for EPOLLOUT */
	struct mg_ctl_stream stream; /* the rest of a streamed answer (next == NULL: none) */
	uint64_t deadline;   /* CLOCK_MONOTONIC ns: what this state must be done by */
	uint64_t serial;     /* this connection's number (struct mg_ctl_ticket), from 1 */
	bool in_handler;     /* its handler runs: an answer it gives through mg_ctlsock_answer is taken */
};

struct mg_ctl_stats {
	uint64_t accepted, busy, answered, malformed, oversized, timed_out, stalled, accept_paused, evicted, streamed;
	uint64_t deferred;        /* answers that came later (a handler's later_ns) */
	uint64_t deferred_late;   /* of those, not in time: the client was told so */
	uint64_t deferred_gone;   /* answers that found their client gone or already told */
};

struct mg_ctlsock {
	int fd;
	int epfd;            /* -1 until mg_ctlsock_epoll_add */
	char path[108];
	mg_ctl_handler handler;
	void *arg;
	struct mg_ctl_conn conn[MG_CTL_MAX_CONN];
	struct mg_ctl_stats stats;
	/* Out of descriptors, the listener stays readable and epoll would spin:
	 * it leaves the epoll set until this instant (MG_CTL_NO_DEADLINE: it is in). */
	uint64_t accept_resume;
	uint64_t serial;     /* the last connection's number */
};

/* Listen at path (a stale socket file is replaced) with permissions `mode`. Returns 0 or -errno. */
int mg_ctlsock_listen(struct mg_ctlsock *s, const char *path, unsigned mode);
/* Serve in epfd: the listener now, each client as it comes (epoll data.fd is the socket). 0 or -errno. */
int mg_ctlsock_epoll_add(struct mg_ctlsock *s, int epfd, mg_ctl_handler h, void *arg);
/* Is fd the listener or one of its clients? */
bool mg_ctlsock_owns(const struct mg_ctlsock *s, int fd);
/* Readiness on one of its fds; now: CLOCK_MONOTONIC ns. Never blocks. */
void mg_ctlsock_handle(struct mg_ctlsock *s, int fd, uint32_t events, uint64_t now);
/*
 * The answer (consumed) to a connection that waits for it (ticket: from the
 * handler's stream). Returns 0, or -ESRCH when that client is gone, or was
 * already told its answer did not come in time: the answer is dropped.
 */
int mg_ctlsock_answer(struct mg_ctlsock *s, struct mg_ctl_ticket ticket, json_t *resp, uint64_t now);
/* Enforce the deadlines that have passed by now. */
void mg_ctlsock_expire(struct mg_ctlsock *s, uint64_t now);
/* The earliest deadline of any connection, MG_CTL_NO_DEADLINE if none. */
uint64_t mg_ctlsock_next_deadline(const struct mg_ctlsock *s);
/* Connections open now. */
unsigned mg_ctlsock_open_connections(const struct mg_ctlsock *s);
/* Close every connection and the listener, remove the socket file. */
void mg_ctlsock_close(struct mg_ctlsock *s);

/*
 * One request's bytes as received (up to its newline, or all of them at EOF)
 * to a request object: exactly one JSON object with a "cmd" string, then
 * nothing but whitespace. Returns the object, or NULL with the reason in err.
 * Pure: the fuzzer's and the tests' way in.
 */
json_t *mg_ctl_parse_request(const char *buf, size_t len, char *err, size_t errlen);

/* What became of a client's request (mg_ctl_request). */
enum mg_ctl_status {
	MG_CTL_OK = 0,
	MG_CTL_NO_DAEMON,   /* no socket there, or nobody listening (ENOENT, ECONNREFUSED, ...) */
	MG_CTL_DENIED,      /* EACCES, EPERM: the socket's permissions keep us out */
	MG_CTL_TRUNCATED,   /* the connection ended before the whole answer */
	MG_CTL_UNREADABLE,  /* an answer arrived whole but is not one JSON object */
	MG_CTL_TIMEOUT,     /* no whole answer within the client's timeout */
	MG_CTL_FAILED,      /* anything else on our side (path too long, out of memory) */
	MG_CTL_STATUS_MAX,
};
const char *mg_ctl_status_name(enum mg_ctl_status st);

/*
 * Client side: send `req`, read the answer to EOF, all within timeout_ms.
 * Returns the response object, or NULL with *st saying why and the details in err.
 */
json_t *mg_ctl_request(const char *path, json_t *req, int timeout_ms, enum mg_ctl_status *st, char *err,
		       size_t errlen);

/* {"ok": false, "error": msg} */
json_t *mg_ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
