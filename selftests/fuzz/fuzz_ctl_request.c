// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_ctl_request.c - one control request, any bytes, as the daemon takes
 * it: mg_ctl_parse_request() (the control socket's parser), and whatever it
 * accepts through mtaguardd's real dispatcher, mg_daemon_control(), on a
 * daemon whose engine writes to a fake kernel (no BPF; the kernel-map file
 * descriptors are -1, so reads of them fail as they would on a map that is
 * gone). Whatever comes in: an answer that is a JSON object with "ok", no
 * crash, no leak, no read out of bounds.
 *
 * The daemon is made once: the engine's state (rules blocked and allowed by
 * earlier inputs) carries over, as it does in a running daemon. No state
 * file, so nothing is written to disk.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg_clock.h"
#include "mg_daemon.h"

/* ---- a kernel that takes every write ------------------------------------------------------------ */

static int put_block(void *ctx, const struct mg_prefix *p, uint8_t action, uint64_t expires)
{
	(void)ctx, (void)p, (void)action, (void)expires;
	return 0;
}

static int del_prefix(void *ctx, const struct mg_prefix *p)
{
	(void)ctx, (void)p;
	return 0;
}

static int put_allow(void *ctx, const struct mg_prefix *p)
{
	(void)ctx, (void)p;
	return 0;
}

static int key_op(void *ctx, const uint8_t key[16])
{
	(void)ctx, (void)key;
	return 0;
}

static int put_outbreak(void *ctx, uint32_t fp, unsigned level, uint64_t since)
{
	(void)ctx, (void)fp, (void)level, (void)since;
	return 0;
}

static int del_outbreak(void *ctx, uint32_t fp)
{
	(void)ctx, (void)fp;
	return 0;
}

static int scan(void *ctx, void (*fn)(const uint8_t (*keys)[16], const struct mg_src_stats *s, size_t n, void *arg),
		void *arg)
{
	(void)ctx, (void)fn, (void)arg;
	return 0;
}

static int set_monitor(void *ctx, bool on)
{
	(void)ctx, (void)on;
	return 0;
}

static int set_outbreak_count(void *ctx, uint32_t n)
{
	(void)ctx, (void)n;
	return 0;
}

static const struct mg_engine_sink null_kernel = {
	.rules = { put_block, del_prefix, put_allow, del_prefix, key_op, key_op, put_outbreak, del_outbreak },
	.scan = scan,
	.set_monitor = set_monitor,
	.set_outbreak_count = set_outbreak_count,
};

/* The log and alert hooks are the daemon's observer's; here notes go nowhere. */
static void observe_nothing(const struct mg_engine_note *n, void *arg)
{
	(void)n, (void)arg;
}

/* ---- the daemon, as far as the dispatcher sees it ------------------------------------------------ */

static struct mg_daemon *daemon_for_fuzzing(void)
{
	static struct mg_daemon d;
	static bool made;

	if (made)
		return &d;
	mg_daemon_init(&d);
	mg_config_default(&d.cfg);
	d.cfg.state_file[0] = '\0';
	/* Small tables: the fuzzer runs thousands of inputs a second on the same engine. */
	d.cfg.max_sources = 4096;
	d.run.max_policy = 4096; /* imports: room for 3 072 prefixes */
	d.h.prog_fd = d.h.stats_fd = d.h.settings_fd = d.h.block_fd = d.h.allow_fd = d.h.block4_fd = d.h.allow4_fd = -1;
	d.h.sources_fd = d.h.servers_fd = d.h.sketch_fd = d.h.budget_fd = d.h.events_fd = d.h.outbreaks_fd = -1;
	if (mg_engine_init(&d.eng, &d.cfg, &null_kernel, NULL, observe_nothing, NULL))
		abort();
	d.engine_ready = true;
	uint64_t mono = mg_mono_ns();
	mg_engine_start(&d.eng, mg_daemon_timeline(mono), mg_mono_to_wall_ns(mono));
	d.started_ns = mono;
	made = true;
	return &d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	/* A copy of exactly size bytes: the parser must not read past them (no NUL after). */
	char *buf = malloc(size ? size : 1);

	memcpy(buf, data, size);
	json_t *req = mg_ctl_parse_request(buf, size, err, sizeof(err));
	free(buf);
	if (!req) {
		assert(err[0]);
		return 0;
	}
	assert(json_is_object(req) && json_is_string(json_object_get(req, "cmd")));
	struct mg_ctl_stream st = { 0 };
	json_t *resp = mg_daemon_control(req, daemon_for_fuzzing(), &st);
	if (!resp) {
		/* A streamed answer: its pieces, joined, are one JSON object and a newline, and the same
		 * object the daemon builds whole for a caller that cannot stream. */
		assert(st.next);
		char *all = NULL, *piece;
		size_t len = 0, n;
		while ((piece = st.next(st.ctx, &n))) {
			assert(n > 0);
			all = realloc(all, len + n + 1);
			memcpy(all + len, piece, n);
			len += n;
			free(piece);
		}
		st.free(st.ctx);
		assert(len && all[len - 1] == '\n');
		json_error_t je;
		resp = json_loadb(all, len, 0, &je);
		free(all);
		json_t *whole = mg_daemon_control(req, daemon_for_fuzzing(), NULL);
		assert(resp && json_equal(resp, whole));
		json_decref(whole);
	}
	assert(json_is_object(resp) && json_is_boolean(json_object_get(resp, "ok")));
	/* What the server sends: the answer must serialize. */
	char *text = json_dumps(resp, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert(text);
	free(text);
	json_decref(resp);
	json_decref(req);
	return 0;
}
