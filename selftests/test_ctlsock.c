// SPDX-License-Identifier: GPL-2.0-only
/* test_ctlsock.c - the control socket answers everything, bad requests included, and keeps serving. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "mg_ctlsock.h"

static struct mg_ctlsock S;
static char sock_path[108];
static volatile int stop_server;
static pthread_t server;
static int served;

static json_t *echo_handler(json_t *req, void *arg)
{
	(void)arg;
	served++;
	return json_pack("{s:b,s:O}", "ok", 1, "cmd", json_object_get(req, "cmd"));
}

static void *serve_loop(void *arg)
{
	(void)arg;
	while (!stop_server) {
		struct pollfd p = { .fd = S.fd, .events = POLLIN };
		if (poll(&p, 1, 50) > 0)
			mg_ctlsock_serve(&S, echo_handler, NULL);
	}
	return NULL;
}

static int setup(void **state)
{
	(void)state;
	snprintf(sock_path, sizeof(sock_path), "/tmp/mg-ctl-test-%d.sock", (int)getpid());
	if (mg_ctlsock_listen(&S, sock_path, 0600))
		return -1;
	return pthread_create(&server, NULL, serve_loop, NULL);
}

static int teardown(void **state)
{
	(void)state;
	stop_server = 1;
	pthread_join(server, NULL);
	mg_ctlsock_close(&S);
	return 0;
}

/* Send raw bytes, return the raw response (static buffer). */
static const char *raw(const void *data, size_t len, int close_write)
{
	static char buf[4096];
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	size_t got = 0;

	strcpy(a.sun_path, sock_path);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(fd, (const char *)data + off, len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break; /* the server may close on an oversized request */
		off += (size_t)n;
	}
	if (close_write)
		shutdown(fd, SHUT_WR);
	for (;;) {
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
	return buf;
}

static void test_request_response(void **state)
{
	char err[256];
	json_t *req = json_pack("{s:s}", "cmd", "status");
	json_t *resp = mg_ctl_request(sock_path, req, err, sizeof(err));

	(void)state;
	assert_non_null(resp);
	assert_true(json_is_true(json_object_get(resp, "ok")));
	assert_string_equal(json_string_value(json_object_get(resp, "cmd")), "status");
	json_decref(req);
	json_decref(resp);
}

static void test_bad_requests_answered(void **state)
{
	(void)state;
	int before = served;
	assert_non_null(strstr(raw("{\"cmd\": \"status\"", 16, 1), "malformed request"));
	assert_non_null(strstr(raw("not json at all\n", 16, 1), "malformed request"));
	assert_non_null(strstr(raw("[1,2,3]\n", 8, 1), "JSON object with a \\\"cmd\\\""));
	assert_non_null(strstr(raw("{\"cmd\": 5}\n", 11, 1), "\"ok\":false"));
	assert_non_null(strstr(raw("{\"cmd\":\"a\",\"cmd\":\"b\"}\n", 22, 1), "malformed request"));
	char *big = malloc(MG_CTL_MAX_REQUEST + 100);
	memset(big, ' ', MG_CTL_MAX_REQUEST + 100);
	memcpy(big, "{\"cmd\":\"", 8);
	assert_non_null(strstr(raw(big, MG_CTL_MAX_REQUEST + 100, 1), "request larger than"));
	free(big);
	/* A client that connects and says nothing is timed out. */
	assert_non_null(strstr(raw("", 0, 0), "timed out"));
	/* None of that reached the handler, and the server still serves. */
	assert_int_equal(served, before);
	test_request_response(state);
	assert_int_equal(served, before + 1);
}

static void test_socket_permissions(void **state)
{
	struct stat st;

	(void)state;
	assert_int_equal(stat(sock_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_no_daemon(void **state)
{
	char err[256];
	json_t *req = json_pack("{s:s}", "cmd", "status");

	(void)state;
	assert_null(mg_ctl_request("/tmp/mg-no-such-daemon.sock", req, err, sizeof(err)));
	assert_non_null(strstr(err, "is mtaguardd running?"));
	json_decref(req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_response),
		cmocka_unit_test(test_bad_requests_answered),
		cmocka_unit_test(test_socket_permissions),
		cmocka_unit_test(test_no_daemon),
	};
	return cmocka_run_group_tests_name("ctlsock", tests, setup, teardown);
}
