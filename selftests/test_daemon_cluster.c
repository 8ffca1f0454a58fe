// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_daemon_cluster.c - the daemon's reconciliation of what this node
 * holds with what it wrote to the shared bucket (mg_daemon_cluster_reconcile),
 * over a recording link: the link's calls are wrapped (Makefile), so the
 * test sees every write and delete, says when a republish is due and which
 * deletes failed, and can make the want set's building run out of memory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "mg_clock.h"
#include "mg_cluster.h"
#include "daemon_fixture.h"
#include "mg_daemon.h"

/* ---- the link, recorded ---------------------------------------------------------------- */

#define KEYS_MAX 16

static struct link {
	char put[KEYS_MAX][MG_CL_KEY_MAX], del[KEYS_MAX][MG_CL_KEY_MAX];
	size_t nput, ndel;
	bool republish;                            /* the next want_republish says yes */
	char failed[KEYS_MAX][MG_CL_KEY_MAX];      /* deletes the link reports failed */
	size_t nfailed;
} lk;

static void record(char keys[][MG_CL_KEY_MAX], size_t *n, const struct mg_cl_entry *e)
{
	assert_true(*n < KEYS_MAX);
	assert_int_equal(mg_cl_key(e, keys[*n], MG_CL_KEY_MAX), 0);
	(*n)++;
}

void __wrap_mg_cluster_put(struct mg_cluster *c, const struct mg_cl_entry *e);
void __wrap_mg_cluster_put(struct mg_cluster *c, const struct mg_cl_entry *e)
{
	(void)c;
	record(lk.put, &lk.nput, e);
}

void __wrap_mg_cluster_del(struct mg_cluster *c, const struct mg_cl_entry *e);
void __wrap_mg_cluster_del(struct mg_cluster *c, const struct mg_cl_entry *e)
{
	(void)c;
	record(lk.del, &lk.ndel, e);
}

bool __wrap_mg_cluster_want_republish(struct mg_cluster *c);
bool __wrap_mg_cluster_want_republish(struct mg_cluster *c)
{
	(void)c;
	bool r = lk.republish;
	lk.republish = false;
	return r;
}

size_t __wrap_mg_cluster_take_failed_deletes(struct mg_cluster *c, void (*fn)(const char *key, void *arg), void *arg);
size_t __wrap_mg_cluster_take_failed_deletes(struct mg_cluster *c, void (*fn)(const char *key, void *arg), void *arg)
{
	(void)c;
	size_t n = lk.nfailed;
	for (size_t i = 0; i < n; i++)
		fn(lk.failed[i], arg);
	lk.nfailed = 0;
	return n;
}

void __wrap_mg_cluster_status(struct mg_cluster *c, struct mg_cluster_status *out);
void __wrap_mg_cluster_status(struct mg_cluster *c, struct mg_cluster_status *out)
{
	(void)c;
	memset(out, 0, sizeof(*out));
	out->connected = out->synced = true;
	snprintf(out->server, sizeof(out->server), "nats://127.0.0.1:4222");
}

/* json_object_set_new, failing at the k-th call from when json_fail_in = k (the want set out of memory). */
int __real_json_object_set_new(json_t *object, const char *key, json_t *value);
int __wrap_json_object_set_new(json_t *object, const char *key, json_t *value);
static unsigned json_fail_in;

int __wrap_json_object_set_new(json_t *object, const char *key, json_t *value)
{
	if (json_fail_in && !--json_fail_in) {
		json_decref(value); /* as jansson does on failure */
		return -1;
	}
	return __real_json_object_set_new(object, key, value);
}

/* ---- the daemon (daemon_fixture.h) with a ledger and an analyzer; its link only ever called through the wraps ---- */

struct fixture {
	struct daemon_fixture df;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	static char link_stands_in; /* never read: the wraps take the link's place */

	if (!f)
		return -1;
	*state = f;
	memset(&lk, 0, sizeof(lk));
	if (daemon_fixture_open(&f->df, "/tmp/mg-cluster-XXXXXX"))
		return -1;
	struct mg_daemon *d = &f->df.d;
	snprintf(d->cfg.cluster_node, sizeof(d->cfg.cluster_node), "edge-t");
	d->cfg.cluster_publish = 1u << MG_CL_BLOCK | 1u << MG_CL_ALLOW;
	d->eng.rules = mg_ruleset_new(64);
	d->eng.an = mg_an_new(&d->cfg.an);
	d->cluster_published = json_object();
	d->cluster = (struct mg_cluster *)&link_stands_in;
	if (!d->eng.rules || !d->eng.an || !d->cluster_published)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct mg_daemon *d = &f->df.d;

	json_decref(d->cluster_published);
	mg_an_free(d->eng.an);
	mg_ruleset_free(d->eng.rules);
	int rc = daemon_fixture_close(&f->df);
	free(f);
	return rc;
}

static void block(struct fixture *f, const char *text)
{
	struct mg_prefix p;

	assert_int_equal(mg_prefix_parse(text, &p), 0);
	assert_int_equal(mg_ruleset_claim(f->df.d.eng.rules, &p, MG_OWNER_OPERATOR_BLOCK, MG_ACT_DROP_SMTP, MG_TIME_NEVER), 0);
}

static void unblock(struct fixture *f, const char *text)
{
	struct mg_prefix p;

	assert_int_equal(mg_prefix_parse(text, &p), 0);
	assert_true(mg_ruleset_release(f->df.d.eng.rules, &p, MG_OWNER_OPERATOR_BLOCK));
}

/* One reconciliation, which must write `puts` entries and delete `dels`. */
static void reconcile(struct fixture *f, size_t puts, size_t dels)
{
	lk.nput = lk.ndel = 0;
	mg_daemon_cluster_reconcile(&f->df.d, mg_mono_ns());
	assert_int_equal(lk.nput, puts);
	assert_int_equal(lk.ndel, dels);
}

/* A new rule is written once, a lifted one deleted once; nothing again while nothing changes. */
static void test_writes_and_deletes(void **state)
{
	struct fixture *f = *state;

	block(f, "198.18.7.1");
	block(f, "198.18.7.2");
	reconcile(f, 2, 0);
	reconcile(f, 0, 0);
	unblock(f, "198.18.7.1");
	reconcile(f, 0, 1);
	assert_string_equal(lk.del[0], "block.edge-t.198.18.7.1/32");
	assert_int_equal(json_object_size(f->df.d.cluster_published), 1);
}

/*
 * A delete the link reports failed is made again at the republish it asks
 * for, if this node still does not hold the rule; one it holds again is
 * written instead. Before, the republish wrote what the node holds and
 * could not name what it had lifted: the entry stayed at every other node.
 */
static void test_failed_delete_made_again(void **state)
{
	struct fixture *f = *state;

	block(f, "198.18.7.1");
	block(f, "198.18.7.2");
	block(f, "198.18.7.3");
	reconcile(f, 3, 0);
	unblock(f, "198.18.7.1");
	unblock(f, "198.18.7.2");
	reconcile(f, 0, 2);
	/* Both deletes failed; 198.18.7.2 is blocked again meanwhile. */
	snprintf(lk.failed[0], MG_CL_KEY_MAX, "block.edge-t.198.18.7.1/32");
	snprintf(lk.failed[1], MG_CL_KEY_MAX, "block.edge-t.198.18.7.2/32");
	lk.nfailed = 2;
	block(f, "198.18.7.2");
	lk.republish = true;
	/* Everything held is written again (198.18.7.2 and 198.18.7.3), and the lifted one deleted again. */
	reconcile(f, 2, 1);
	assert_string_equal(lk.del[0], "block.edge-t.198.18.7.1/32");
	assert_int_equal(lk.nfailed, 0);
	assert_null(json_object_get(f->df.d.cluster_published, "block.edge-t.198.18.7.1/32"));
	reconcile(f, 0, 0);
}

/*
 * The want set built out of memory, at whichever key: it is not all this
 * node holds, so nothing is deleted on its word (before, the key that
 * could not be added was deleted from the bucket, a rule in force
 * withdrawn at every other node); the next turn, whole, changes nothing.
 */
static void test_incomplete_want_set_deletes_nothing(void **state)
{
	struct fixture *f = *state;

	block(f, "198.18.7.1");
	block(f, "198.18.7.2");
	reconcile(f, 2, 0);
	for (unsigned k = 1; k <= 2; k++) {
		json_fail_in = k;
		reconcile(f, 0, 0);
		json_fail_in = 0;
		assert_int_equal(json_object_size(f->df.d.cluster_published), 2);
		assert_true(f->df.d.cluster_dirty); /* again at the next turn */
		reconcile(f, 0, 0);
		assert_false(f->df.d.cluster_dirty);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_writes_and_deletes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_delete_made_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incomplete_want_set_deletes_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
