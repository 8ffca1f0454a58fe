/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_ares.h - the verifier's resolver: c-ares, driven by the caller's loop.
 *
 * Why in the daemon's own epoll loop and not a worker thread: c-ares never
 * blocks when its sockets are polled from outside (it says which sockets to
 * watch through a callback, and is handed them when ready), so the loop
 * stays single-threaded — the cache, the jobs and the analyzer need no lock,
 * and `mtaguardctl show` reads them directly. A thread would add a queue,
 * locks and a second place where time passes, for nothing.
 *
 * The replay drives the same code with mg_ares_wait(), which polls the
 * sockets itself (it has no other loop to serve).
 */
#ifndef MG_ARES_H
#define MG_ARES_H

#include <stdbool.h>
#include <stdint.h>

#include "mg_dns.h"

struct mg_ares;

/* Answers: (name, type) and what came back (a TEMPFAIL answer for a timeout or an error); the callee owns ans. */
typedef void (*mg_ares_answer_fn)(void *arg, const char *name, uint16_t type, struct mg_dns_answer *ans);
/* Watch fd for reading and/or writing; both false: stop watching it. */
typedef void (*mg_ares_sock_fn)(void *arg, int fd, bool read, bool write);

/*
 * servers: "198.18.0.53", "198.18.0.53:5353,[2001:db8::53]:53", or NULL for
 * /etc/resolv.conf's. timeout_ms per try, tries per server. sock may be NULL
 * (mg_ares_wait polls itself). NULL with err set on failure.
 */
struct mg_ares *mg_ares_new(const char *servers, unsigned timeout_ms, unsigned tries, mg_ares_answer_fn answer,
			    void *answer_arg, mg_ares_sock_fn sock, void *sock_arg, char *err, size_t errlen);
void mg_ares_free(struct mg_ares *r);
/* Send a query (the answer comes through the callback, perhaps before this returns). 0 or -errno. */
int mg_ares_query(struct mg_ares *r, const char *name, uint16_t type);
/* A watched socket is ready (or -1: only time passed): c-ares reads, writes, retries, times out. */
void mg_ares_process(struct mg_ares *r, int fd, bool readable, bool writable);
/* Milliseconds until c-ares must be called for a timeout (-1: nothing pending). */
int mg_ares_timeout_ms(struct mg_ares *r);
/* Poll c-ares' own sockets for up to max_ms and process them (the replay's loop). False if nothing is pending. */
bool mg_ares_wait(struct mg_ares *r, int max_ms);

#endif
