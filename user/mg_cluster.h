/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_cluster.h - the link to the other nodes: a NATS JetStream key-value
 * bucket (libnats), which every node writes its rules into and watches.
 *
 * libnats calls block (a JetStream put waits for the server's answer) and
 * run on threads of their own, so the link lives on a thread of its own too:
 * the daemon's loop never waits on NATS. It hands entries to write over with
 * mg_cluster_put/_del (queued, never blocking), and takes what other nodes
 * wrote with mg_cluster_take when the link's eventfd is readable. The
 * thread connects and reconnects forever (the servers down means this node
 * goes on alone, and says so in the status), and after every (re)connection
 * watches the whole bucket again: the first values it reads are everything
 * in force (the resync), then each change as it happens. It also tells the
 * daemon, once per connection, to write everything it holds again
 * (mg_cluster_want_republish), so a restarted node, or one whose writes
 * failed while cut off, puts its rules back.
 */
#ifndef MG_CLUSTER_H
#define MG_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mg_cluster_codec.h"

struct mg_cluster_opts {
	const char *const *servers; /* nats:// or tls:// URLs */
	size_t n_servers;
	const char *node;           /* this node: the connection's name */
	const char *bucket;
	const char *credentials;    /* a .creds file, or NULL */
	const char *tls_ca;         /* a CA file, or NULL */
	const char *events_stream;  /* the JetStream stream for events ("MTAGUARD_EVENTS"), or NULL: none */
	uint64_t events_max_age_ns; /* how long the stream keeps them */
};

/* One entry another node wrote, or deleted; or one the link could not read (bad). */
struct mg_cl_rx {
	struct mg_cl_entry e;
	bool deleted;
	bool bad;                   /* err says why; e is not to be used */
	char err[160];
	uint64_t created_wall;      /* when the server stored it: the propagation lag is the receipt less this */
};

struct mg_cluster_status {
	bool connected;             /* to a server, with the bucket open */
	bool synced;                /* the watch has read every value in force since the last (re)connection */
	uint64_t connects, disconnects;
	uint64_t sent, send_errors, received, bad, dropped_out;
	uint64_t deletes_lost;      /* deletes neither sent nor kept for the next republish (out of memory) */
	uint64_t watch_restarts;    /* looks at the watch that never returned, cancelled */
	uint64_t events_sent, events_dropped;
	uint64_t last_lag_ns, max_lag_ns; /* receipt less the server's time of the entry, wall clock */
	uint64_t down_since_wall;   /* when the link went down (0: it is up, or never was) */
	char server[128];           /* the server in use */
	char last_error[160];
};

struct mg_cluster;

/* url without its user and password ("tls://user:pw@host:4222" -> "tls://host:4222"), for logs and status. */
const char *mg_cluster_url_public(const char *url, char *buf, size_t len);

/* Start the link's thread (it connects in the background). 0, or -errno with err set. */
int mg_cluster_start(const struct mg_cluster_opts *o, struct mg_cluster **out, char *err, size_t errlen);
/* Stop the thread, close the connection, free everything. */
void mg_cluster_stop(struct mg_cluster *c);
/* Readable when received entries wait (an eventfd); mg_cluster_take clears it. */
int mg_cluster_fd(const struct mg_cluster *c);
/* Up to max received entries, oldest first; *more: others wait (take again next loop). */
size_t mg_cluster_take(struct mg_cluster *c, struct mg_cl_rx *out, size_t max, bool *more);
/* Write or delete this node's entry (queued; a full queue drops it and asks for a republish). */
void mg_cluster_put(struct mg_cluster *c, const struct mg_cl_entry *e);
void mg_cluster_del(struct mg_cluster *c, const struct mg_cl_entry *e);
/* True once after each (re)connection, and after writes that failed: write everything held again. */
bool mg_cluster_want_republish(struct mg_cluster *c);
/*
 * The keys of this node's deletes that failed or were dropped since the
 * last call, each given to fn (then forgotten here): at a republish the
 * daemon deletes again those it still does not hold. Returns how many.
 */
size_t mg_cluster_take_failed_deletes(struct mg_cluster *c, void (*fn)(const char *key, void *arg), void *arg);
/*
 * An event (the JSON line the daemon logs: a verdict, an alert, an outbreak)
 * into the events stream, under "mtaguard.events.NODE.KIND" (queued; dropped
 * and counted when the queue is full or no stream is configured).
 */
void mg_cluster_event(struct mg_cluster *c, const char *kind, const char *json);
void mg_cluster_status(struct mg_cluster *c, struct mg_cluster_status *out);

#endif
