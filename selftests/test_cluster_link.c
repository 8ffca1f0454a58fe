// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_cluster_link.c - the cluster link's start and stop against a real
 * nats-server (JetStream, on loopback, a port of its own choosing): a stop
 * returns only once libnats has delivered every callback and ended its
 * threads. libnats queues a closed connection's "disconnected" callback for
 * a thread of its own, which ran it after mg_cluster_stop had freed the link
 * (a use after free the sanitizers caught in e2e_cluster, now and then).
 * Here that thread is kept busy by another connection's slow callback, so
 * the link's comes late every time: after a stop that does not wait for it
 * has freed the link, which the sanitized build (make SANITIZE=1) reports.
 *
 * Skips (77) where nats-server is not installed; under CI (MG_NO_SKIP=1)
 * a skip counts as a failure, and CI installs it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <stdatomic.h>
#include <cmocka.h>
#include <nats/nats.h>

#include "mg_cluster.h"

#define STARTS 5            /* start and stop this many times, one process */
#define WAIT_MS 20000       /* for the server's port, or a connection */
#define SLOW_MS 300         /* the busy callback's length */

static char dir[] = "/tmp/mg-test-cluster-link.XXXXXX";
static char url[64];
static pid_t server = -1;

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* The threads of this process, from /proc/self/task. */
static int threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The port the server listens on for clients, from its log ("Listening for client connections on 127.0.0.1:N"). */
static int server_port(const char *log)
{
	char line[512];
	int port = 0;
	FILE *f = fopen(log, "r");

	if (!f)
		return 0;
	while (!port && fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, "client connections on 127.0.0.1:");
		if (p)
			port = atoi(p + strlen("client connections on 127.0.0.1:"));
	}
	fclose(f);
	return port;
}

static int start_server(void)
{
	char log[256], store[256];
	int port = 0;

	snprintf(log, sizeof(log), "%s/nats.log", dir);
	snprintf(store, sizeof(store), "%s/js", dir);
	server = fork();
	if (server < 0)
		return -1;
	if (server == 0) {
		/* The server goes with the test, also when a sanitizer aborts it before its teardown. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) || getppid() == 1)
			_exit(127);
		execlp("nats-server", "nats-server", "-a", "127.0.0.1", "-p", "-1", "-js", "-sd",
		       store, "-l", log, (char *)NULL);
		_exit(127);
	}
	for (int waited = 0; waited < WAIT_MS && !(port = server_port(log)); waited += 20) {
		if (waitpid(server, NULL, WNOHANG) == server) {
			server = -1;
			return -1;
		}
		sleep_ms(20);
	}
	if (!port)
		return -1;
	snprintf(url, sizeof(url), "nats://127.0.0.1:%d", port);
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	if (system("command -v nats-server >/dev/null 2>&1")) {
		printf("skip: nats-server is not installed (Debian package nats-server)\n");
		exit(77);
	}
	if (!mkdtemp(dir) || start_server()) {
		printf("nats-server did not start (log in %s)\n", dir);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[300];

	(void)state;
	if (server > 0) {
		kill(server, SIGTERM);
		waitpid(server, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

static atomic_bool slow_done;

/* Another connection's disconnected callback, in libnats's callback thread: the link's waits behind it. */
static void slow_disconnected(natsConnection *nc, void *arg)
{
	(void)nc;
	(void)arg;
	sleep_ms(SLOW_MS);
	atomic_store(&slow_done, true);
}

/* Connect another client whose destruction keeps the callback thread busy for SLOW_MS, and destroy it. */
static void busy_callback_thread(void)
{
	natsOptions *opts = NULL;
	natsConnection *nc = NULL;

	atomic_store(&slow_done, false);
	assert_int_equal(natsOptions_Create(&opts), NATS_OK);
	assert_int_equal(natsOptions_SetURL(opts, url), NATS_OK);
	assert_int_equal(natsOptions_SetDisconnectedCB(opts, slow_disconnected, NULL), NATS_OK);
	assert_int_equal(natsConnection_Connect(&nc, opts), NATS_OK);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(opts);
}

static bool connected(struct mg_cluster *c)
{
	struct mg_cluster_status st;

	mg_cluster_status(c, &st);
	return st.connected && st.synced;
}

static void test_stop_leaves_no_thread(void **state)
{
	const char *servers[] = { url };
	struct mg_cluster_opts o = {
		.servers = servers,
		.n_servers = 1,
		.node = "test-link",
		.bucket = "mtaguard_test",
	};
	int before = threads();

	(void)state;
	for (int i = 0; i < STARTS; i++) {
		struct mg_cluster *c = NULL;
		char err[256] = "";
		int waited = 0;

		assert_int_equal(mg_cluster_start(&o, &c, err, sizeof(err)), 0);
		while (!connected(c) && waited < WAIT_MS) {
			sleep_ms(10);
			waited += 10;
		}
		assert_true(connected(c));
		/* Connected: the connection's destruction has a disconnected callback to deliver, behind the slow one. */
		busy_callback_thread();
		mg_cluster_stop(c);
		assert_true(atomic_load(&slow_done));
		assert_int_equal(threads(), before);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stop_leaves_no_thread),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
