// SPDX-License-Identifier: GPL-2.0-only
/* mg_cluster.c - the NATS JetStream key-value link to the other nodes, on a thread of its own (see the header). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <nats/nats.h>

#include "mg_cluster.h"

#define OUT_MAX 262144     /* writes waiting; past it one is dropped and everything is written again later */
#define IN_MAX 262144      /* received entries waiting for the loop; past it the watch pauses */
#define OUT_BATCH 256      /* writes per round */
#define WATCH_WAIT_MS 200  /* one look at the watch; a stop or a reconnection is seen within it */
#define WATCH_STUCK_MS 3000 /* a look at the watch that has not returned by then is cancelled */
#define RETRY_MS 1000      /* between two tries at the bucket while the servers are there but not ready */
#define CLOSE_WAIT_MS 5000  /* libnats's threads ending at a stop (mg_cluster_stop) */
#define FAILED_DEL_MAX OUT_MAX /* deletes kept to try again at the next republish; past it one is lost (counted) */

struct op {
	enum { OP_PUT, OP_DEL, OP_EVENT } what;
	char key[MG_CL_KEY_MAX + 64]; /* the entry's key, or an event's subject */
	char *data;                   /* the value or the event, malloc'd */
	struct op *next;              /* on the failed deletes' list */
};

struct mg_cluster {
	pthread_t th, sender;
	bool th_started, sender_started;
	pthread_cond_t more;       /* a write was queued */
	atomic_uint_fast64_t watch_beat; /* CLOCK_MONOTONIC ms when the watch last returned */
	atomic_bool watching;      /* the watcher thread is inside kvWatcher_Next */
	int efd;
	atomic_bool stop;
	/* Settings, copied. */
	char **servers;
	size_t n_servers;
	char node[MG_CL_NODE_MAX], bucket[64], creds[256], tls_ca[256], stream[64];
	uint64_t stream_max_age_ns;
	bool stream_ready;         /* the watcher's thread made sure it exists */

	pthread_mutex_t mu;        /* everything below, between the loop and the thread */
	struct op **out;           /* a ring of writes */
	size_t out_head, out_n;
	struct mg_cl_rx *in;       /* received, oldest first from in_head */
	size_t in_head, in_n, in_cap;
	bool republish;
	/*
	 * Deletes that failed or were dropped: a republish writes again what
	 * the daemon holds, which cannot name what it no longer holds, so
	 * these are handed back to it (mg_cluster_take_failed_deletes).
	 */
	struct op *failed_dels;
	size_t n_failed_dels;
	struct mg_cluster_status st;

	/* The thread's own. */
	natsOptions *opts;
	natsConnection *nc;
	jsCtx *js;
	kvStore *kv;
	kvWatcher *w;
	atomic_bool reconnected, disconnected;
	/* Is the watch keeping up? (the watcher's thread's own) */
	uint64_t last_rev;         /* the stream sequence of the last entry the watch gave */
	uint64_t behind_rev;       /* last_rev when the stream was first seen ahead of it; 0: not behind */
	uint64_t next_check_ms;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *mg_cluster_url_public(const char *url, char *buf, size_t len)
{
	const char *scheme = strstr(url, "://"), *host = scheme ? scheme + 3 : url;
	size_t authority = strcspn(host, "/");
	const char *at = NULL;

	/* The user information ends at the last '@' of the authority: a password may hold one too. */
	for (size_t i = 0; i < authority; i++)
		if (host[i] == '@')
			at = host + i;
	if (at)
		snprintf(buf, len, "%.*s%s", (int)(host - url), url, at + 1);
	else
		snprintf(buf, len, "%s", url);
	return buf;
}

static void set_error(struct mg_cluster *c, const char *what, natsStatus s)
{
	/* libnats's own words for this thread's last failure: "SSL Error" alone does not say which certificate. */
	const char *more = nats_GetLastError(NULL);
	bool say_more = more && *more && strcmp(more, natsStatus_GetText(s));

	pthread_mutex_lock(&c->mu);
	snprintf(c->st.last_error, sizeof(c->st.last_error), "%s: %s%s%s%s", what, natsStatus_GetText(s),
		 say_more ? " (" : "", say_more ? more : "", say_more ? ")" : "");
	pthread_mutex_unlock(&c->mu);
}

/* libnats's callbacks run on its threads: they only raise flags the link's thread reads. */
static void on_disconnected(natsConnection *nc, void *arg)
{
	struct mg_cluster *c = arg;
	(void)nc;
	atomic_store(&c->disconnected, true);
}

static void on_reconnected(natsConnection *nc, void *arg)
{
	struct mg_cluster *c = arg;
	(void)nc;
	atomic_store(&c->reconnected, true);
}

/* The watch goes; under the lock, since the writes' thread may be cancelling a look at it. */
static void drop_watch(struct mg_cluster *c)
{
	pthread_mutex_lock(&c->mu);
	kvWatcher *w = c->w;
	c->w = NULL;
	pthread_mutex_unlock(&c->mu);
	kvWatcher_Destroy(w);
}

static void link_down(struct mg_cluster *c)
{
	drop_watch(c);
	pthread_mutex_lock(&c->mu);
	if (c->st.connected) {
		c->st.disconnects++;
		c->st.down_since_wall = wall_ns();
	}
	c->st.connected = c->st.synced = false;
	pthread_mutex_unlock(&c->mu);
}

static natsStatus make_options(struct mg_cluster *c)
{
	natsStatus s = natsOptions_Create(&c->opts);
	char name[128];

	if (s != NATS_OK)
		return s;
	snprintf(name, sizeof(name), "mtaguardd %s", c->node);
	if ((s = natsOptions_SetServers(c->opts, (const char **)c->servers, (int)c->n_servers)) != NATS_OK ||
	    (s = natsOptions_SetName(c->opts, name)) != NATS_OK ||
	    /* Forever: the servers coming back must find this node trying. */
	    (s = natsOptions_SetMaxReconnect(c->opts, -1)) != NATS_OK ||
	    (s = natsOptions_SetReconnectWait(c->opts, 500)) != NATS_OK ||
	    (s = natsOptions_SetTimeout(c->opts, 2000)) != NATS_OK ||
	    (s = natsOptions_SetDisconnectedCB(c->opts, on_disconnected, c)) != NATS_OK ||
	    (s = natsOptions_SetReconnectedCB(c->opts, on_reconnected, c)) != NATS_OK)
		return s;
	if (c->creds[0] && (s = natsOptions_SetUserCredentialsFromFiles(c->opts, c->creds, NULL)) != NATS_OK)
		return s;
	if (c->tls_ca[0] && (s = natsOptions_LoadCATrustedCertificates(c->opts, c->tls_ca)) != NATS_OK)
		return s;
	return NATS_OK;
}

/* The bucket, made if no node has yet: one value per key (no history), replicated on up to 3 servers. */
static natsStatus open_bucket(struct mg_cluster *c)
{
	natsStatus s;

	if (!c->js && (s = natsConnection_JetStream(&c->js, c->nc, NULL)) != NATS_OK)
		return s;
	s = js_KeyValue(&c->kv, c->js, c->bucket);
	if (s == NATS_NOT_FOUND) {
		kvConfig kc;
		kvConfig_Init(&kc);
		kc.Bucket = c->bucket;
		kc.History = 1;
		kc.Replicas = c->n_servers >= 3 ? 3 : 1;
		s = js_CreateKeyValue(&c->kv, c->js, &kc);
		if (s == NATS_ERR && c->n_servers >= 3) {
			/* Fewer servers in the cluster than listed: one replica rather than none. */
			kc.Replicas = 1;
			s = js_CreateKeyValue(&c->kv, c->js, &kc);
		}
	}
	if (s != NATS_OK || !c->stream[0] || c->stream_ready)
		return s;
	/* The events stream, made if no node has yet: every node's events, kept for a while, for whoever reads them. */
	jsStreamConfig sc;
	jsErrCode ec = 0;
	const char *subjects[] = { "mtaguard.events.>" };
	jsStreamConfig_Init(&sc);
	sc.Name = c->stream;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.MaxAge = (int64_t)c->stream_max_age_ns;
	sc.Replicas = c->n_servers >= 3 ? 3 : 1;
	natsStatus e = js_AddStream(NULL, c->js, &sc, NULL, &ec);
	if (e == NATS_OK || ec == JSStreamNameExistErr)
		c->stream_ready = true;
	else
		set_error(c, "making the events stream", e);
	return s;
}

/*
 * A watch can go quiet for good without an error: after the servers
 * restart, the consumer behind it may be gone on their side while the
 * client waits on. Every few seconds the stream's last sequence is compared
 * with the last entry the watch gave: still behind at two looks in a row,
 * with nothing come in between, and the watch is made again (a resync).
 */
#define WATCH_CHECK_MS 2500
static bool watch_stalled(struct mg_cluster *c)
{
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;
	char stream[80];
	uint64_t now = mono_ms();

	if (now < c->next_check_ms)
		return false;
	c->next_check_ms = now + WATCH_CHECK_MS;
	snprintf(stream, sizeof(stream), "KV_%s", c->bucket);
	if (js_GetStreamInfo(&si, c->js, stream, NULL, &ec) != NATS_OK)
		return false; /* the server cannot say: the reconnection logic has this case */
	uint64_t last = si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	if (last <= c->last_rev) {
		c->behind_rev = 0;
		return false;
	}
	if (!c->behind_rev || c->behind_rev != c->last_rev + 1) {
		c->behind_rev = c->last_rev + 1; /* +1: 0 stays "not behind" */
		return false;
	}
	c->behind_rev = 0;
	return true;
}

/* Watch the whole bucket from the start: every value in force first (the resync), then each change. */
static natsStatus watch(struct mg_cluster *c)
{
	kvWatchOptions wo;

	kvWatcher *w = NULL;

	drop_watch(c);
	kvWatchOptions_Init(&wo);
	natsStatus s = kvStore_WatchAll(&w, c->kv, &wo);
	if (s == NATS_OK) {
		pthread_mutex_lock(&c->mu);
		c->w = w;
		if (!c->st.connected)
			c->st.connects++;
		c->st.connected = true;
		c->st.synced = false;
		c->st.down_since_wall = 0;
		c->republish = true;
		const char *url = NULL;
		char buf[128];
		if (natsConnection_GetConnectedUrl(c->nc, buf, sizeof(buf)) == NATS_OK)
			url = buf;
		mg_cluster_url_public(url ? url : "", c->st.server, sizeof(c->st.server));
		pthread_mutex_unlock(&c->mu);
	}
	return s;
}

static void push_rx(struct mg_cluster *c, const struct mg_cl_rx *rx)
{
	pthread_mutex_lock(&c->mu);
	if (c->in_head + c->in_n == c->in_cap) {
		/* Move the waiting ones to the front, or make room. */
		if (c->in_head) {
			memmove(c->in, c->in + c->in_head, c->in_n * sizeof(*c->in));
			c->in_head = 0;
		} else {
			size_t cap = c->in_cap ? c->in_cap * 2 : 1024;
			void *n = realloc(c->in, cap * sizeof(*c->in));
			if (!n) {
				c->st.bad++;
				pthread_mutex_unlock(&c->mu);
				return;
			}
			c->in = n;
			c->in_cap = cap;
		}
	}
	c->in[c->in_head + c->in_n++] = *rx;
	if (rx->bad)
		c->st.bad++;
	else
		c->st.received++;
	uint64_t now = wall_ns();
	if (!rx->bad && rx->created_wall && now > rx->created_wall) {
		c->st.last_lag_ns = now - rx->created_wall;
		if (c->st.last_lag_ns > c->st.max_lag_ns)
			c->st.max_lag_ns = c->st.last_lag_ns;
	}
	pthread_mutex_unlock(&c->mu);
	uint64_t one = 1;
	if (write(c->efd, &one, sizeof(one)) < 0) {
		/* the counter is full: the loop is reading anyway */
	}
}

static void entry_in(struct mg_cluster *c, kvEntry *ke)
{
	struct mg_cl_rx rx;
	const char *key = kvEntry_Key(ke);
	kvOperation op = kvEntry_Operation(ke);

	memset(&rx, 0, sizeof(rx));
	rx.created_wall = (uint64_t)kvEntry_Created(ke);
	if (mg_cl_parse_key(key ? key : "", &rx.e, rx.err, sizeof(rx.err))) {
		rx.bad = true;
	} else if (op == kvOp_Delete || op == kvOp_Purge) {
		rx.deleted = true;
	} else if (mg_cl_parse_value(kvEntry_Value(ke), (size_t)kvEntry_ValueLen(ke), &rx.e, rx.err, sizeof(rx.err))) {
		rx.bad = true;
	}
	if (rx.bad) {
		char why[sizeof(rx.err)];
		memcpy(why, rx.err, sizeof(why));
		snprintf(rx.err, sizeof(rx.err), "%.60s: %.90s", key ? key : "(no key)", why);
	}
	push_rx(c, &rx);
}

/*
 * A delete that did not reach the bucket, kept to be handed back at the
 * next republish (c->mu held; takes op over). Without it the entry would
 * stay in force at every other node until its own expiry.
 */
static void keep_failed_del(struct mg_cluster *c, struct op *op)
{
	c->republish = true;
	if (c->n_failed_dels >= FAILED_DEL_MAX) {
		c->st.deletes_lost++;
		free(op->data);
		free(op);
		return;
	}
	op->next = c->failed_dels;
	c->failed_dels = op;
	c->n_failed_dels++;
}

/* Up to OUT_BATCH queued writes; a failure asks the daemon to write everything again once the link is back. */
static void send_some(struct mg_cluster *c)
{
	for (int i = 0; i < OUT_BATCH; i++) {
		pthread_mutex_lock(&c->mu);
		if (!c->out_n) {
			pthread_mutex_unlock(&c->mu);
			return;
		}
		struct op *op = c->out[c->out_head];
		c->out[c->out_head] = NULL;
		c->out_head = (c->out_head + 1) % OUT_MAX;
		c->out_n--;
		pthread_mutex_unlock(&c->mu);
		natsStatus s;
		if (op->what == OP_EVENT)
			s = js_Publish(NULL, c->js, op->key, op->data, (int)strlen(op->data), NULL, NULL);
		else if (op->what == OP_DEL)
			s = kvStore_Delete(c->kv, op->key);
		else
			s = kvStore_PutString(NULL, c->kv, op->key, op->data);
		pthread_mutex_lock(&c->mu);
		if (s == NATS_OK) {
			c->st.sent++;
			if (op->what == OP_EVENT)
				c->st.events_sent++;
		} else if (op->what == OP_EVENT) {
			c->st.events_dropped++; /* an event is news: not written again later */
		} else {
			c->st.send_errors++;
			c->republish = true;
			snprintf(c->st.last_error, sizeof(c->st.last_error), "%s %.60s: %s",
				 op->what == OP_DEL ? "deleting" : "writing", op->key, natsStatus_GetText(s));
			if (op->what == OP_DEL) {
				keep_failed_del(c, op);
				op = NULL;
			}
		}
		pthread_mutex_unlock(&c->mu);
		if (op) {
			free(op->data);
			free(op);
		}
	}
}

static void sleep_ms(struct mg_cluster *c, int ms)
{
	for (int i = 0; i < ms / 10 && !atomic_load(&c->stop); i++)
		usleep(10000);
}

static void *run(void *arg)
{
	struct mg_cluster *c = arg;
	natsStatus s;

	while (!atomic_load(&c->stop)) {
		if (!c->nc) {
			s = natsConnection_Connect(&c->nc, c->opts);
			if (s != NATS_OK) {
				c->nc = NULL;
				set_error(c, "connecting", s);
				sleep_ms(c, RETRY_MS);
				continue;
			}
		}
		if (atomic_exchange(&c->disconnected, false))
			link_down(c);
		if (!c->kv) {
			if ((s = open_bucket(c)) != NATS_OK) {
				set_error(c, "opening the bucket", s);
				sleep_ms(c, RETRY_MS);
				continue;
			}
		}
		/* After a reconnection the server may have lost the watch: read everything again. */
		if (atomic_exchange(&c->reconnected, false) || !c->w) {
			if (natsConnection_Status(c->nc) != NATS_CONN_STATUS_CONNECTED) {
				sleep_ms(c, 100);
				continue;
			}
			if ((s = watch(c)) != NATS_OK) {
				set_error(c, "watching the bucket", s);
				link_down(c);
				sleep_ms(c, RETRY_MS);
				continue;
			}
		}
		pthread_mutex_lock(&c->mu);
		bool room = c->in_n < IN_MAX;
		pthread_mutex_unlock(&c->mu);
		if (!room) {
			sleep_ms(c, 10); /* the loop is behind: let it catch up before reading on */
			continue;
		}
		kvEntry *ke = NULL;
		atomic_store(&c->watch_beat, mono_ms());
		atomic_store(&c->watching, true);
		s = kvWatcher_Next(&ke, c->w, WATCH_WAIT_MS);
		atomic_store(&c->watching, false);
		if (s == NATS_OK && !ke) {
			pthread_mutex_lock(&c->mu);
			c->st.synced = true;
			pthread_mutex_unlock(&c->mu);
		} else if (s == NATS_OK) {
			if (kvEntry_Revision(ke) > c->last_rev)
				c->last_rev = kvEntry_Revision(ke);
			entry_in(c, ke);
			kvEntry_Destroy(ke);
		} else if (s != NATS_TIMEOUT) {
			set_error(c, "reading the watch", s);
			link_down(c);
			sleep_ms(c, 100);
		} else if (watch_stalled(c)) {
			pthread_mutex_lock(&c->mu);
			c->st.watch_restarts++;
			snprintf(c->st.last_error, sizeof(c->st.last_error), "the watch fell behind the bucket: made again");
			pthread_mutex_unlock(&c->mu);
			if ((s = watch(c)) != NATS_OK) {
				set_error(c, "watching the bucket", s);
				link_down(c);
			}
		}
	}
	return NULL;
}

/*
 * The writes, on a thread of their own: a write never waits behind the
 * watch, and the watch never behind a write that waits for its answer. It
 * also minds the watch: a look at it that does not return (a server that
 * lost the consumer behind it) is cancelled, and the watch made again.
 */
static void *send_loop(void *arg)
{
	struct mg_cluster *c = arg;

	while (!atomic_load(&c->stop)) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 200 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&c->mu);
		if (!c->out_n && !atomic_load(&c->stop))
			pthread_cond_timedwait(&c->more, &c->mu, &until);
		bool up = c->st.connected;
		if (c->w && atomic_load(&c->watching) && mono_ms() - atomic_load(&c->watch_beat) > WATCH_STUCK_MS) {
			kvWatcher_Stop(c->w);
			c->st.watch_restarts++;
		}
		pthread_mutex_unlock(&c->mu);
		/* Down: writes wait in the queue (a write that failed asks for everything again anyway). */
		if (up)
			send_some(c);
	}
	return NULL;
}

int mg_cluster_start(const struct mg_cluster_opts *o, struct mg_cluster **out, char *err, size_t errlen)
{
	struct mg_cluster *c = calloc(1, sizeof(*c));
	natsStatus s;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	c->servers = calloc(o->n_servers ? o->n_servers : 1, sizeof(*c->servers));
	c->out = calloc(OUT_MAX, sizeof(*c->out));
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->more, NULL);
	if (c->efd < 0 || !c->servers || !c->out) {
		snprintf(err, errlen, "cluster: %s", strerror(c->efd < 0 ? errno : ENOMEM));
		mg_cluster_stop(c);
		return -ENOMEM;
	}
	for (size_t i = 0; i < o->n_servers; i++)
		if (!(c->servers[c->n_servers++] = strdup(o->servers[i]))) {
			mg_cluster_stop(c);
			return -ENOMEM;
		}
	snprintf(c->node, sizeof(c->node), "%s", o->node);
	snprintf(c->bucket, sizeof(c->bucket), "%s", o->bucket);
	snprintf(c->creds, sizeof(c->creds), "%s", o->credentials ? o->credentials : "");
	snprintf(c->tls_ca, sizeof(c->tls_ca), "%s", o->tls_ca ? o->tls_ca : "");
	snprintf(c->stream, sizeof(c->stream), "%s", o->events_stream ? o->events_stream : "");
	c->stream_max_age_ns = o->events_max_age_ns;
	if ((s = make_options(c)) != NATS_OK) {
		/* A credentials or CA file that cannot be read: the operator's to fix, said at start. */
		snprintf(err, errlen, "cluster: %s", natsStatus_GetText(s));
		const char *more = nats_GetLastError(NULL);
		if (more)
			snprintf(err + strlen(err), errlen - strlen(err), " (%s)", more);
		mg_cluster_stop(c);
		return -EINVAL;
	}
	c->st.down_since_wall = wall_ns();
	if (pthread_create(&c->th, NULL, run, c)) {
		snprintf(err, errlen, "cluster: cannot start its thread");
		mg_cluster_stop(c);
		return -EAGAIN;
	}
	c->th_started = true;
	if (pthread_create(&c->sender, NULL, send_loop, c)) {
		snprintf(err, errlen, "cluster: cannot start its thread");
		mg_cluster_stop(c);
		return -EAGAIN;
	}
	c->sender_started = true;
	*out = c;
	return 0;
}

void mg_cluster_stop(struct mg_cluster *c)
{
	if (!c)
		return;
	atomic_store(&c->stop, true);
	pthread_mutex_lock(&c->mu);
	pthread_cond_signal(&c->more);
	pthread_mutex_unlock(&c->mu);
	if (c->sender_started)
		pthread_join(c->sender, NULL);
	if (c->th_started)
		pthread_join(c->th, NULL);
	kvWatcher_Destroy(c->w);
	kvStore_Destroy(c->kv);
	jsCtx_Destroy(c->js);
	natsConnection_Destroy(c->nc);
	natsOptions_Destroy(c->opts);
	for (size_t i = 0; c->out && i < OUT_MAX; i++)
		if (c->out[i]) {
			free(c->out[i]->data);
			free(c->out[i]);
		}
	free(c->out);
	for (struct op *op = c->failed_dels, *next; op; op = next) {
		next = op->next;
		free(op);
	}
	free(c->in);
	for (size_t i = 0; c->servers && i < c->n_servers; i++)
		free(c->servers[i]);
	free(c->servers);
	if (c->efd >= 0)
		close(c->efd);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->more);
	/*
	 * libnats's own threads and memory: the daemon has one link, stopped
	 * once at exit. The connection's destruction queues its disconnected
	 * callback for libnats's callback thread, which may run it after
	 * natsConnection_Destroy has returned: c stays until every libnats
	 * thread has ended. Should one not end in time, c is left to the
	 * process's exit rather than freed under it.
	 */
	natsStatus s = nats_CloseAndWait(CLOSE_WAIT_MS);
	if (s == NATS_OK || s == NATS_NOT_INITIALIZED) /* the latter: never opened, no thread of its own */
		free(c);
}

int mg_cluster_fd(const struct mg_cluster *c)
{
	return c->efd;
}

size_t mg_cluster_take(struct mg_cluster *c, struct mg_cl_rx *out, size_t max, bool *more)
{
	uint64_t v;
	size_t n;

	if (read(c->efd, &v, sizeof(v)) < 0) {
		/* nothing signalled: entries may still wait from a cut-short take */
	}
	pthread_mutex_lock(&c->mu);
	n = c->in_n < max ? c->in_n : max;
	memcpy(out, c->in + c->in_head, n * sizeof(*out));
	c->in_head += n;
	c->in_n -= n;
	if (!c->in_n)
		c->in_head = 0;
	*more = c->in_n > 0;
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* Into the queue; a full one drops it (and asks for everything again: the ledger is the truth). */
static void push_op(struct mg_cluster *c, struct op *op)
{
	pthread_mutex_lock(&c->mu);
	if (c->out_n == OUT_MAX) {
		c->st.dropped_out++;
		if (op->what == OP_DEL) {
			keep_failed_del(c, op);
			pthread_mutex_unlock(&c->mu);
			return;
		}
		if (op->what != OP_EVENT)
			c->republish = true;
		pthread_mutex_unlock(&c->mu);
		free(op->data);
		free(op);
		return;
	}
	c->out[(c->out_head + c->out_n++) % OUT_MAX] = op;
	pthread_cond_signal(&c->more);
	pthread_mutex_unlock(&c->mu);
}

static void queue(struct mg_cluster *c, const struct mg_cl_entry *e, bool del)
{
	struct op *op = calloc(1, sizeof(*op));
	char value[MG_CL_VALUE_MAX];

	if (!op || mg_cl_key(e, op->key, sizeof(op->key)) || (!del && mg_cl_value(e, value, sizeof(value))) ||
	    (!del && !(op->data = strdup(value)))) {
		free(op);
		pthread_mutex_lock(&c->mu);
		c->st.dropped_out++;
		/* Out of memory: everything written again later (a delete the daemon no longer knows of is lost). */
		c->republish = true;
		c->st.deletes_lost += del;
		pthread_mutex_unlock(&c->mu);
		return;
	}
	op->what = del ? OP_DEL : OP_PUT;
	push_op(c, op);
}

void mg_cluster_put(struct mg_cluster *c, const struct mg_cl_entry *e)
{
	queue(c, e, false);
}

void mg_cluster_del(struct mg_cluster *c, const struct mg_cl_entry *e)
{
	queue(c, e, true);
}

void mg_cluster_event(struct mg_cluster *c, const char *kind, const char *json)
{
	struct op *op;

	if (!c->stream[0])
		return;
	if (!(op = calloc(1, sizeof(*op))) || !(op->data = strdup(json))) {
		free(op);
		return;
	}
	op->what = OP_EVENT;
	snprintf(op->key, sizeof(op->key), "mtaguard.events.%s.%s", c->node, kind);
	push_op(c, op);
}

size_t mg_cluster_take_failed_deletes(struct mg_cluster *c, void (*fn)(const char *key, void *arg), void *arg)
{
	pthread_mutex_lock(&c->mu);
	struct op *op = c->failed_dels;
	size_t n = c->n_failed_dels;
	c->failed_dels = NULL;
	c->n_failed_dels = 0;
	pthread_mutex_unlock(&c->mu);
	while (op) {
		struct op *next = op->next;
		fn(op->key, arg);
		free(op->data);
		free(op);
		op = next;
	}
	return n;
}

bool mg_cluster_want_republish(struct mg_cluster *c)
{
	pthread_mutex_lock(&c->mu);
	bool r = c->republish && c->st.connected;
	if (r)
		c->republish = false;
	pthread_mutex_unlock(&c->mu);
	return r;
}

void mg_cluster_status(struct mg_cluster *c, struct mg_cluster_status *out)
{
	pthread_mutex_lock(&c->mu);
	*out = c->st;
	pthread_mutex_unlock(&c->mu);
}
