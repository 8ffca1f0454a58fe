/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fuzz_engine.h - for the state-file fuzzers: an engine on a fake kernel,
 * started from state files written with valid headers and checksums in a
 * directory private to the fuzzing process, as the daemon starts.
 *
 * The files go to /dev/shm when there is one: the writer fsyncs, which on a
 * tmpfs costs nothing and on a disk would cost most of each run.
 */
#ifndef MG_FUZZ_ENGINE_H
#define MG_FUZZ_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_engine.h"
#include "mg_statefile.h"

struct fuzz_engine {
	char dir[64], state[128], rules[160];
	uint32_t version, prof_size, smtp_size; /* the analyzer's format and record sizes, as its own save writes them */
};

/* The fake kernel takes every write and holds no profiles. */
static int fz_put_block(void *c, const struct mg_prefix *p, uint8_t a, uint64_t e) { (void)c; (void)p; (void)a; (void)e; return 0; }
static int fz_del(void *c, const struct mg_prefix *p) { (void)c; (void)p; return 0; }
static int fz_key(void *c, const uint8_t k[16]) { (void)c; (void)k; return 0; }
static int fz_put_ob(void *c, uint32_t fp, unsigned l, uint64_t s) { (void)c; (void)fp; (void)l; (void)s; return 0; }
static int fz_del_ob(void *c, uint32_t fp) { (void)c; (void)fp; return 0; }
static int fz_monitor(void *c, bool on) { (void)c; (void)on; return 0; }
static int fz_count(void *c, uint32_t n) { (void)c; (void)n; return 0; }

static const struct mg_engine_sink fz_sink = {
	.rules = { fz_put_block, fz_del, fz_del, fz_del, fz_key, fz_key, fz_put_ob, fz_del_ob },
	.set_monitor = fz_monitor,
	.set_outbreak_count = fz_count,
};

static struct fuzz_engine fz_engine;

static void fz_cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", fz_engine.dir);
	if (system(cmd))
		fprintf(stderr, "fuzz: could not remove %s\n", fz_engine.dir);
}

/* The format version and record sizes, from a save of an analyzer with one source that spoke SMTP. */
static void fz_record_sizes(struct fuzz_engine *fe)
{
	struct mg_an_config c;
	struct mg_event ev = { .type = MG_EV_HELO, .arg_len = 4 };
	uint8_t *buf;
	size_t len;

	mg_an_config_default(&c);
	struct mg_analyzer *a = mg_an_new(&c);
	mg_addr_parse("198.18.0.1", ev.src);
	memcpy(ev.u.arg, "host", 4);
	mg_an_on_event(a, &ev, 1000);
	if (!a || mg_an_save(a, 1000, 1000, &buf, &len) || len < 16)
		abort();
	memcpy(&fe->version, buf + 4, 4);
	memcpy(&fe->prof_size, buf + 8, 4);
	memcpy(&fe->smtp_size, buf + 12, 4);
	free(buf);
	mg_an_free(a);
}

/* The private directory, made once per process. */
static struct fuzz_engine *fuzz_engine_dir(void)
{
	struct fuzz_engine *fe = &fz_engine;

	if (fe->dir[0])
		return fe;
	snprintf(fe->dir, sizeof(fe->dir), "%s/mg-fuzz-state.XXXXXX", access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
	if (!mkdtemp(fe->dir))
		abort();
	snprintf(fe->state, sizeof(fe->state), "%s/state.gz", fe->dir);
	snprintf(fe->rules, sizeof(fe->rules), "%s.rules", fe->state);
	fz_record_sizes(fe);
	atexit(fz_cleanup);
	return fe;
}

/*
 * Write the state payload (NULL: no state file) and the rules payload (NULL:
 * no rules file) as real files, then start an engine from them, tick, save,
 * and free it. daemon_timeline: now is the daemon's (2^60 ns and up) rather
 * than 3 s after boot.
 */
static void fuzz_engine_run(struct fuzz_engine *fe, const void *state, size_t state_len, const void *rules,
			    size_t rules_len, bool daemon_timeline)
{
	const uint64_t now = (daemon_timeline ? MG_TIMELINE_ORIGIN : 0) + 3000000000ull;
	const uint64_t wall = 1800000000000000000ull;
	struct mg_config c;
	struct mg_engine e;

	unlink(fe->state);
	unlink(fe->rules);
	if ((state && mg_state_write(fe->state, state, state_len)) ||
	    (rules && mg_state_write(fe->rules, rules, rules_len)))
		abort();
	mg_config_default(&c);
	snprintf(c.state_file, sizeof(c.state_file), "%s", fe->state);
	if (mg_engine_init(&e, &c, &fz_sink, NULL, NULL, NULL))
		abort();
	mg_engine_start(&e, now, wall);
	mg_engine_tick(&e, now + 1000000000ull, wall + 1000000000ull);
	mg_engine_save(&e, now + 2000000000ull, wall + 2000000000ull);
	mg_engine_free(&e);
	mg_config_free(&c);
}

#endif
