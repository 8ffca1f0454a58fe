// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_policyd.c - the Postfix policy delegation server: parsing, and a live
 * server on a UNIX socket in a temp dir driven by the test's own epoll loop,
 * with well-formed, pipelined, byte-by-byte, garbage and oversized clients
 * (no privileges needed).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "mg_policyd.h"

static char dir[] = "/tmp/mg-policyd-XXXXXX";
static char sock[100];
static struct mg_policyd P;
static int epfd;
static struct mg_policy_request last; /* what the decide callback saw last */
static int decided;

static void decide(const struct mg_policy_request *r, char *action, size_t len, void *arg)
{
	(void)arg;
	last = *r;
	decided++;
	if (!strcmp(r->client_address, "198.18.9.9"))
		snprintf(action, len, "REJECT 5.7.1 blocked");
	else if (!strcmp(r->client_address, "198.18.1.2"))
		snprintf(action, len, "HOLD suspect");
	else
		snprintf(action, len, "DUNNO");
}

/* Let the server handle whatever is ready, a few rounds. */
static void pump(void)
{
	struct epoll_event ev[16];

	for (int round = 0; round < 5; round++) {
		int n = epoll_wait(epfd, ev, 16, 20);
		for (int i = 0; i < n; i++)
			mg_policyd_handle(&P, epfd, ev[i].data.fd, ev[i].events, decide, NULL);
		if (n <= 0)
			break;
	}
}

static int client(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	pump(); /* accept */
	return fd;
}

static void say(int fd, const char *text)
{
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	pump();
}

/* Everything the server has sent so far (non-blocking read). */
static const char *heard(int fd)
{
	static char buf[65536];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static bool closed_by_server(int fd)
{
	char c;
	pump();
	/* Closed with our surplus unread, the server's side resets: ECONNRESET counts as closed too. */
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

#define REQ(addr) "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=" addr "\n" \
		  "sender=a@example.org\nrecipient=b@lab.test\nqueue_id=ABC123\nsize=1234\n\n"

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(sock, sizeof(sock), "%s/policy.sock", dir);
	epfd = epoll_create1(0);
	char spec[120];
	snprintf(spec, sizeof(spec), "unix:%s", sock);
	if (mg_policyd_listen(&P, spec, 0660) || mg_policyd_epoll_add(&P, epfd))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[260];
	(void)state;
	mg_policyd_close(&P, epfd);
	close(epfd);
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	return system(cmd);
}

static void test_parse(void **state)
{
	struct mg_policy_request r;

	(void)state;
	mg_policy_parse("request=smtpd_access_policy\r\nclient_address=198.18.1.2\nsender=\nfuture_attr=x\nsize=77\n"
			"recipient_count=3", &r);
	assert_false(r.malformed);
	assert_string_equal(r.request, "smtpd_access_policy");
	assert_string_equal(r.client_address, "198.18.1.2");
	assert_string_equal(r.sender, ""); /* the null sender */
	assert_int_equal(r.size, 77);
	assert_int_equal(r.recipient_count, 3);
	mg_policy_parse("request=smtpd_access_policy\ngarbage line\n", &r);
	assert_true(r.malformed);
	mg_policy_parse("=value\n", &r);
	assert_true(r.malformed);
	char big[400];
	memset(big, 'a', sizeof(big));
	snprintf(big, sizeof(big), "client_address=%0300d", 1);
	mg_policy_parse(big, &r);
	assert_true(r.malformed);
	assert_non_null(strstr(r.error, "client_address too long"));
}

static void test_specs_and_mode(void **state)
{
	struct mg_policyd q;
	struct stat st;

	(void)state;
	assert_int_equal(stat(sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(mg_policyd_listen(&q, "tcp:1", 0600), -EINVAL);
	assert_int_equal(mg_policyd_listen(&q, "inet:host", 0600), -EINVAL);
	assert_int_equal(mg_policyd_listen(&q, "unix:relative", 0600), -EINVAL);
	assert_int_equal(mg_policyd_listen(&q, "unix:", 0600), -EINVAL);
	assert_int_equal(mg_policyd_listen(&q, "inet:127.0.0.1:0", 0600), -EINVAL); /* port 0 is not a port to give Postfix */
	assert_true(mg_policyd_owns(&P, P.fd));
	assert_false(mg_policyd_owns(&P, -1));
}

static void test_requests(void **state)
{
	(void)state;
	int fd = client();
	say(fd, REQ("198.18.4.2"));
	assert_string_equal(heard(fd), "action=DUNNO\n\n");
	assert_string_equal(last.client_address, "198.18.4.2");
	assert_string_equal(last.sender, "a@example.org");
	assert_string_equal(last.recipient, "b@lab.test");
	assert_string_equal(last.queue_id, "ABC123");
	assert_string_equal(last.protocol_state, "RCPT");
	/* Two in one write, then a third on the same connection. */
	say(fd, REQ("198.18.9.9") REQ("198.18.1.2"));
	assert_string_equal(heard(fd), "action=REJECT 5.7.1 blocked\n\naction=HOLD suspect\n\n");
	say(fd, REQ("198.18.4.2"));
	assert_string_equal(heard(fd), "action=DUNNO\n\n");
	/* Byte by byte. */
	const char *r = REQ("198.18.9.9");
	int before = decided;
	for (size_t i = 0; r[i]; i++) {
		char one[2] = { r[i], 0 };
		say(fd, one);
	}
	assert_int_equal(decided, before + 1);
	assert_string_equal(heard(fd), "action=REJECT 5.7.1 blocked\n\n");
	/* CRLF line endings. */
	say(fd, "request=smtpd_access_policy\r\nclient_address=198.18.1.2\r\n\r\n");
	assert_string_equal(heard(fd), "action=HOLD suspect\n\n");
	close(fd);
}

static void test_garbage_and_other_requests(void **state)
{
	(void)state;
	int fd = client();
	int before = decided;
	say(fd, "hello there\nthis is not it\n\n");
	assert_string_equal(heard(fd), "action=DUNNO\n\n");
	assert_int_equal(decided, before); /* never reaches the decision */
	say(fd, "request=something_else\nclient_address=198.18.9.9\n\n");
	assert_string_equal(heard(fd), "action=DUNNO\n\n");
	/* The connection still serves. */
	say(fd, REQ("198.18.9.9"));
	assert_string_equal(heard(fd), "action=REJECT 5.7.1 blocked\n\n");
	assert_true(P.stats.malformed >= 1);
	close(fd);
}

static void test_oversized(void **state)
{
	static char big[20000];

	(void)state;
	/* One attribute line over 2048 bytes: DUNNO, and the connection is closed. */
	int fd = client();
	memset(big, 'a', sizeof(big));
	memcpy(big, "client_address=", 15);
	big[3000] = '\0';
	say(fd, big);
	assert_string_equal(heard(fd), "action=DUNNO\n\n");
	assert_true(closed_by_server(fd));
	close(fd);
	/* A request of many short lines past 16 KiB: the same. */
	fd = client();
	size_t o = 0;
	while (o < 17000)
		o += (size_t)snprintf(big + o, sizeof(big) - o, "x_attr=%05zu\n", o);
	assert_int_equal(write(fd, big, o), (ssize_t)o);
	pump();
	assert_string_equal(heard(fd), "action=DUNNO\n\n");
	assert_true(closed_by_server(fd));
	close(fd);
	assert_true(P.stats.oversized >= 2);
	/* And the server goes on. */
	fd = client();
	say(fd, REQ("198.18.4.2"));
	assert_string_equal(heard(fd), "action=DUNNO\n\n");
	close(fd);
}

static void test_disconnects_and_limit(void **state)
{
	int fds[MG_POLICYD_MAX_CONN + 1];

	(void)state;
	/* A client gone mid-request frees its slot. */
	int fd = client();
	say(fd, "request=smtpd_access_policy\nclient_add");
	close(fd);
	pump();
	/* Fill every slot; one more is accepted and closed at once; the others still work. */
	for (int i = 0; i < MG_POLICYD_MAX_CONN; i++)
		fds[i] = client();
	uint64_t refused = P.stats.refused;
	fds[MG_POLICYD_MAX_CONN] = client();
	assert_true(closed_by_server(fds[MG_POLICYD_MAX_CONN]));
	assert_int_equal(P.stats.refused, refused + 1);
	say(fds[0], REQ("198.18.9.9"));
	assert_string_equal(heard(fds[0]), "action=REJECT 5.7.1 blocked\n\n");
	say(fds[MG_POLICYD_MAX_CONN - 1], REQ("198.18.4.2"));
	assert_string_equal(heard(fds[MG_POLICYD_MAX_CONN - 1]), "action=DUNNO\n\n");
	for (int i = 0; i <= MG_POLICYD_MAX_CONN; i++)
		close(fds[i]);
	pump();
	/* Slots come back once clients leave. */
	fd = client();
	say(fd, REQ("198.18.1.2"));
	assert_string_equal(heard(fd), "action=HOLD suspect\n\n");
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_specs_and_mode),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_garbage_and_other_requests),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_disconnects_and_limit),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
