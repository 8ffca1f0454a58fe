// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_policyd.c - the Postfix policy delegation server: parsing, and a live
 * server on a UNIX socket in a temp dir driven by the test's own epoll loop,
 * with well-formed, pipelined, byte-by-byte, garbage, NUL-carrying and
 * oversized clients; a client pipelining 20 000 requests without reading
 * while another is served; one client's burst not holding another's answer;
 * the cap closing the longest idle; idle and stall timeouts on a clock a few
 * seconds after boot; the socket's mode and group (no privileges needed; a
 * group other than our own is tried when we may).
 */
#define _GNU_SOURCE /* getgrent */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
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

#include "mg_config.h"
#include "mg_policyd.h"

#define SEC 1000000000ull

static char dir[] = "/tmp/mg-policyd-XXXXXX";
static char sock[100];
static struct mg_policyd P;
static int epfd;
static struct mg_policy_request last; /* what the decide callback saw last */
static int decided;
/* The server's clock: CLOCK_MONOTONIC a few seconds after boot, where 0 is not "long ago". */
static uint64_t now_ns = 3 * SEC;
static char own_group[64];

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
			mg_policyd_handle(&P, epfd, ev[i].data.fd, ev[i].events, now_ns, decide, NULL);
		if (n <= 0)
			break;
	}
}

/* One round of the loop, without waiting: how many events there were. */
static int one_round(void)
{
	struct epoll_event ev[64];
	int n = epoll_wait(epfd, ev, 64, 0);

	for (int i = 0; i < n; i++)
		mg_policyd_handle(&P, epfd, ev[i].data.fd, ev[i].events, now_ns, decide, NULL);
	return n > 0 ? n : 0;
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

/* Closed by the server, once what it had sent is read? */
static bool closed_after_draining(int fd)
{
	char buf[65536];
	ssize_t n;

	pump();
	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		;
	return n == 0 || errno == ECONNRESET;
}

/* Close the test's clients and let the server see it, so a test starts with none. */
static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
	pump();
	assert_int_equal(P.n_conn, 0);
}

#define REQ(addr) "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=" addr "\n" \
		  "sender=a@example.org\nrecipient=b@lab.test\nqueue_id=ABC123\nsize=1234\n\n"

static struct mg_policyd_options options(void)
{
	return (struct mg_policyd_options){
		.max_clients = MG_POLICYD_DEFAULT_MAX_CLIENTS,
		.idle_timeout_ns = MG_POLICYD_DEFAULT_IDLE_S * SEC,
		.io_timeout_ns = MG_POLICYD_DEFAULT_IO_S * SEC,
		.mode = 0660,
		.group = own_group,
	};
}

static int setup(void **state)
{
	struct group *g = getgrgid(getegid());
	char spec[120], err[256];

	(void)state;
	if (!g || !mkdtemp(dir))
		return -1;
	snprintf(own_group, sizeof(own_group), "%s", g->gr_name);
	snprintf(sock, sizeof(sock), "%s/policy.sock", dir);
	epfd = epoll_create1(0);
	snprintf(spec, sizeof(spec), "unix:%s", sock);
	struct mg_policyd_options o = options();
	if (mg_policyd_listen(&P, spec, &o, err, sizeof(err)) || mg_policyd_epoll_add(&P, epfd)) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
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

/* A group we may give a file that is not our own group: any as root, else a supplementary one. */
static bool other_group(char *name, size_t len, gid_t *gid)
{
	gid_t mine = getegid(), sup[64];
	struct group *g;

	if (geteuid() == 0) {
		setgrent();
		while ((g = getgrent()))
			if (g->gr_gid != mine)
				break;
		if (g) {
			snprintf(name, len, "%s", g->gr_name);
			*gid = g->gr_gid;
		}
		endgrent();
		return g != NULL;
	}
	int n = getgroups(64, sup);
	for (int i = 0; i < n; i++)
		if (sup[i] != mine && (g = getgrgid(sup[i]))) {
			snprintf(name, len, "%s", g->gr_name);
			*gid = sup[i];
			return true;
		}
	return false;
}

static void test_socket_mode_and_group(void **state)
{
	struct mg_policyd q;
	struct mg_policyd_options o = options();
	struct stat st;
	char spec[140], path[120], err[256], name[64];
	gid_t gid;

	(void)state;
	/* Postfix's: read and write for owner and group, nothing for anybody else. */
	assert_int_equal(stat(sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(st.st_gid, getegid());
	snprintf(path, sizeof(path), "%s/other.sock", dir);
	snprintf(spec, sizeof(spec), "unix:%s", path);
	/* Another group, where we may give one: the socket is that group's. */
	if (other_group(name, sizeof(name), &gid)) {
		o.group = name;
		assert_int_equal(mg_policyd_listen(&q, spec, &o, err, sizeof(err)), 0);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_gid, gid);
		assert_int_equal(st.st_mode & 0777, 0660);
		mg_policyd_close(&q, epfd);
	} else {
		print_message("no other group to try (not root, no supplementary group)\n");
	}
	/* An unknown group: a start error that names it, no socket left behind, the umask as it was. */
	mode_t before = umask(022);
	o.group = "mg-no-such-group";
	assert_int_equal(mg_policyd_listen(&q, spec, &o, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "\"mg-no-such-group\""));
	assert_non_null(strstr(err, "no such group"));
	assert_int_equal(q.fd, -1);
	assert_int_not_equal(stat(path, &st), 0);
	assert_int_equal(umask(before), 022);
	/* Wider only when the operator says so. */
	o.group = NULL;
	o.mode = 0666;
	assert_int_equal(mg_policyd_listen(&q, spec, &o, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0666);
	/* And narrowed again later (a reload). */
	assert_int_equal(mg_policyd_socket_access(&q, own_group, 0600, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	mg_policyd_close(&q, epfd);
	assert_int_not_equal(stat(path, &st), 0);
}

/*
 * The socket's directory may be Postfix's (/var/spool/postfix/private):
 * whatever took the socket's place, a link to a file of root's, is not
 * given the socket's mode at a reload (the group was not, chmod followed).
 */
static void test_socket_access_follows_no_link(void **state)
{
	struct mg_policyd q;
	struct mg_policyd_options o = options();
	struct stat st;
	char spec[140], path[120], victim[120], err[256];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/link.sock", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(spec, sizeof(spec), "unix:%s", path);
	fd = open(victim, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(chmod(victim, 0600), 0);
	assert_int_equal(mg_policyd_listen(&q, spec, &o, err, sizeof(err)), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(victim, path), 0);
	assert_int_not_equal(mg_policyd_socket_access(&q, NULL, 0666, err, sizeof(err)), 0);
	assert_non_null(strstr(err, path));
	assert_int_equal(stat(victim, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	mg_policyd_close(&q, epfd);
	assert_int_equal(stat(victim, &st), 0); /* the link went, not what it points to */
	unlink(victim);
}

static void test_specs(void **state)
{
	struct mg_policyd q;
	struct mg_policyd_options o = options();
	char err[256];

	(void)state;
	assert_int_equal(mg_policyd_listen(&q, "tcp:1", &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "tcp:1"));
	assert_int_equal(mg_policyd_listen(&q, "inet:host", &o, err, sizeof(err)), -EINVAL);
	assert_int_equal(mg_policyd_listen(&q, "unix:relative", &o, err, sizeof(err)), -EINVAL);
	assert_int_equal(mg_policyd_listen(&q, "unix:", &o, err, sizeof(err)), -EINVAL);
	/* port 0 is not a port to give Postfix */
	assert_int_equal(mg_policyd_listen(&q, "inet:127.0.0.1:0", &o, err, sizeof(err)), -EINVAL);
	assert_true(mg_policyd_owns(&P, P.fd));
	assert_false(mg_policyd_owns(&P, -1));
}

/* Requests with a NUL byte used to hide their end (strstr): never answered. Now DUNNO, counted, and on. */
static void test_nul_bytes(void **state)
{
	char req[200];

	(void)state;
	int fd = client();
	uint64_t malformed = P.stats.malformed;
	int before = decided;
	static const char nul_req[] = "request=smtpd_access_policy\nclient_address=198.18.9.9\0x\nsender=a@b\n\n";
	assert_int_equal(write(fd, nul_req, sizeof(nul_req) - 1), (ssize_t)sizeof(nul_req) - 1);
	pump();
	assert_string_equal(heard(fd), "action=DUNNO\n\n");
	assert_int_equal(decided, before); /* a NUL-carrying request is not judged */
	assert_int_equal(P.stats.malformed, malformed + 1);
	assert_string_equal(P.stats.last_problem, "a NUL byte in a request");
	/* Forty garbage requests with NULs here and there, each one answered once. */
	srand(12);
	for (int i = 0; i < 40; i++) {
		size_t n = 1 + (size_t)rand() % (sizeof(req) - 3);
		for (size_t k = 0; k < n; k++) {
			req[k] = (char)(rand() % 256);
			if (req[k] == '\n')
				req[k] = '\0';
		}
		req[rand() % n] = '\0';
		memcpy(req + n, "\n\n", 2);
		assert_int_equal(write(fd, req, n + 2), (ssize_t)(n + 2));
		pump();
		assert_string_equal(heard(fd), "action=DUNNO\n\n");
	}
	assert_int_equal(P.stats.malformed, malformed + 41);
	/* The connection still serves. */
	say(fd, REQ("198.18.9.9"));
	assert_string_equal(heard(fd), "action=REJECT 5.7.1 blocked\n\n");
	close_all(&fd, 1);
}

/* The answer to request i of the pipelining tests, and the request. */
static const char *const addrs[] = { "198.18.9.9", "198.18.1.2", "198.18.4.2" };
static const char *const answers[] = { "action=REJECT 5.7.1 blocked\n\n", "action=HOLD suspect\n\n", "action=DUNNO\n\n" };

static char *requests(int n, size_t *len, char **expect, size_t *expect_len)
{
	char *r = malloc((size_t)n * 200), *e = malloc((size_t)n * 40);
	size_t o = 0, eo = 0;

	for (int i = 0; i < n; i++) {
		o += (size_t)sprintf(r + o, "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\n"
				     "sender=a%d@example.org\nrecipient=b@lab.test\n\n", addrs[i % 3], i);
		eo += (size_t)sprintf(e + eo, "%s", answers[i % 3]);
	}
	*len = o;
	*expect = e;
	*expect_len = eo;
	return r;
}

static void take_answers(struct mg_policy_stream *s, size_t n, char *to, size_t *got)
{
	memcpy(to + *got, s->out + s->outoff, n);
	*got += n;
	s->outoff += n;
}

/*
 * The protocol layer alone, its answers never taken until it says it has no
 * room: it stops (never truncates, never writes past its buffer), and goes
 * on where it stopped once some are taken, every answer byte-exact.
 */
static void test_answers_wait_for_room(void **state)
{
	struct mg_policyd_stats st = { 0 };
	struct mg_policy_stream s = { .in = malloc(MG_POLICYD_MAX_REQUEST), .out = malloc(MG_POLICYD_OUT_SIZE) };
	size_t len, want_len, fed = 0, got = 0;
	char *expect, *reqs = requests(20000, &len, &expect, &want_len), *all = malloc(want_len);
	int full = 0;

	(void)state;
	for (;;) {
		size_t n = MG_POLICYD_MAX_REQUEST - s.inlen < len - fed ? MG_POLICYD_MAX_REQUEST - s.inlen : len - fed;
		memcpy(s.in + s.inlen, reqs + fed, n);
		s.inlen += n;
		fed += n;
		enum mg_policy_progress p = mg_policy_answer(&s, 1000000, &st, decide, NULL, NULL);
		assert_true(s.outlen <= MG_POLICYD_OUT_SIZE);
		if (p == MG_POLICY_OUTPUT_FULL) {
			assert_true(MG_POLICYD_OUT_SIZE - s.outlen < MG_POLICYD_MAX_ANSWER);
			full++;
			take_answers(&s, (s.outlen - s.outoff) / 2, all, &got); /* half: the rest moves to the front */
			continue;
		}
		assert_int_equal(p, MG_POLICY_NEED_INPUT);
		if (fed == len)
			break;
	}
	take_answers(&s, s.outlen - s.outoff, all, &got);
	assert_true(full > 20); /* some 450 KB of answers through a 16 KiB buffer */
	assert_int_equal(s.inlen, 0);
	assert_int_equal(st.requests, 20000);
	assert_int_equal(got, want_len);
	assert_memory_equal(all, expect, want_len);
	free(s.in);
	free(s.out);
	free(reqs);
	free(expect);
	free(all);
}

/*
 * The memory corruption: a client pipelining thousands of requests without
 * reading filled the output buffer, the fallback answer ran past it, and the
 * next client went unanswered while the loop spun. Now: the server stops
 * reading it (no busy loop), the other client is answered at once, and
 * every answer arrives, byte-exact, once the client reads.
 */
static void test_pipelining_without_reading(void **state)
{
	enum { N = 20000 };
	size_t len, want_len, sent = 0, got = 0;
	char *expect, *reqs = requests(N, &len, &expect, &want_len);
	char *answers_got = malloc(want_len + 1);

	(void)state;
	int fd = client();
	/* Write without reading until neither side moves (bounded: a server that keeps waking up fails here). */
	int quiet = 0;
	for (int spins = 0; quiet < 3 && spins < 100000; spins++) {
		ssize_t w = send(fd, reqs + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0)
			sent += (size_t)w;
		quiet = w <= 0 && one_round() == 0 ? quiet + 1 : 0;
	}
	assert_int_equal(quiet, 3);
	assert_true(sent < len); /* the server stopped taking requests it had no room to answer */
	/* Nothing is ready: an unread client does not keep the loop awake. */
	struct epoll_event ev[4];
	assert_int_equal(epoll_wait(epfd, ev, 4, 50), 0);
	/* Meanwhile another client gets its answer at once. */
	int other = client();
	say(other, REQ("198.18.1.2"));
	assert_string_equal(heard(other), "action=HOLD suspect\n\n");
	/* The first now reads, and sends the rest: every answer, in order, nothing more. */
	for (int spins = 0; got < want_len && spins < 1000000; spins++) {
		ssize_t r = recv(fd, answers_got + got, want_len + 1 - got, MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
		if (sent < len) {
			ssize_t w = send(fd, reqs + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w > 0)
				sent += (size_t)w;
		}
		one_round();
	}
	assert_int_equal(sent, len);
	assert_int_equal(got, want_len);
	assert_memory_equal(answers_got, expect, want_len);
	/* And the other client is still served. */
	say(other, REQ("198.18.9.9"));
	assert_string_equal(heard(other), "action=REJECT 5.7.1 blocked\n\n");
	int fds[] = { fd, other };
	close_all(fds, 2);
	free(reqs);
	free(expect);
	free(answers_got);
}

/* A client's burst is answered a batch per turn: another client's request waits one turn, not the burst. */
static void test_one_client_cannot_hold_the_loop(void **state)
{
	size_t len, want_len;
	char *expect, *reqs = requests(100, &len, &expect, &want_len);

	(void)state;
	int busy = client(), other = client();
	assert_int_equal(send(busy, reqs, len, MSG_DONTWAIT | MSG_NOSIGNAL), (ssize_t)len);
	assert_int_equal(write(other, REQ("198.18.9.9"), strlen(REQ("198.18.9.9"))), (ssize_t)strlen(REQ("198.18.9.9")));
	int before = decided;
	one_round();
	/* One turn each: the busy one got a batch, the other its answer. */
	assert_int_equal(decided - before, MG_POLICYD_BATCH + 1);
	assert_string_equal(heard(other), "action=REJECT 5.7.1 blocked\n\n");
	/* The rest follows, turn by turn, all of it. */
	for (int i = 0; i < 100 && one_round(); i++)
		;
	assert_int_equal(decided - before, 100 + 1);
	assert_string_equal(heard(busy), expect);
	int fds[] = { busy, other };
	close_all(fds, 2);
	free(reqs);
	free(expect);
}

static unsigned open_clients(void)
{
	return P.n_conn;
}

/* Idle connections cannot lock anybody out: at the cap the longest idle makes room. */
static void test_cap_closes_the_longest_idle(void **state)
{
	struct mg_policyd_options o = options();
	int fds[5];

	(void)state;
	o.max_clients = 4;
	assert_int_equal(mg_policyd_set_limits(&P, epfd, &o), 0);
	for (int i = 0; i < 4; i++) {
		fds[i] = client();
		now_ns += SEC;
	}
	/* The first one asks something: the second is now the longest idle. */
	say(fds[0], REQ("198.18.4.2"));
	assert_string_equal(heard(fds[0]), "action=DUNNO\n\n");
	uint64_t evicted = P.stats.evicted;
	fds[4] = client();
	assert_int_equal(P.stats.evicted, evicted + 1);
	assert_int_equal(open_clients(), 4);
	assert_true(closed_by_server(fds[1]));
	for (int i = 0; i < 5; i++) {
		if (i == 1)
			continue;
		say(fds[i], REQ("198.18.9.9"));
		assert_string_equal(heard(fds[i]), "action=REJECT 5.7.1 blocked\n\n");
	}
	/* A smaller cap later (a reload) closes the longest idle down to it. */
	o.max_clients = 2;
	now_ns += SEC;
	say(fds[3], REQ("198.18.4.2"));
	say(fds[4], REQ("198.18.4.2"));
	assert_string_equal(heard(fds[4]), "action=DUNNO\n\n");
	assert_int_equal(mg_policyd_set_limits(&P, epfd, &o), 0);
	assert_int_equal(open_clients(), 2);
	assert_true(closed_by_server(fds[0]));
	assert_true(closed_by_server(fds[2]));
	assert_string_equal(heard(fds[3]), "action=DUNNO\n\n");
	say(fds[4], REQ("198.18.1.2"));
	assert_string_equal(heard(fds[4]), "action=HOLD suspect\n\n");
	o = options();
	assert_int_equal(mg_policyd_set_limits(&P, epfd, &o), 0);
	close_all(fds, 5);
}

/*
 * Timeouts, on a clock 3 s after boot: an idle client after the idle
 * timeout, a request begun and not finished and answers not taken after the
 * I/O timeout; a client that keeps asking stays.
 */
static void test_timeouts(void **state)
{
	const uint64_t idle = MG_POLICYD_DEFAULT_IDLE_S * SEC, io = MG_POLICYD_DEFAULT_IO_S * SEC;
	size_t len, want_len;
	char *expect, *reqs = requests(20000, &len, &expect, &want_len);

	(void)state;
	now_ns = 3 * SEC;
	int quiet = client(), busy = client(), slow = client(), deaf = client();
	uint64_t start = now_ns;
	/* slow begins a request and stops half way; deaf pipelines and never reads. */
	say(slow, "request=smtpd_access_policy\nclient_addr");
	size_t sent = 0;
	int still = 0;
	for (int spins = 0; still < 3 && spins < 100000; spins++) {
		ssize_t w = send(deaf, reqs + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
		sent += w > 0 ? (size_t)w : 0;
		still = w <= 0 && one_round() == 0 ? still + 1 : 0;
	}
	assert_int_equal(still, 3);
	uint64_t stalled = P.stats.stalled_closed, idled = P.stats.idle_closed;
	now_ns = start + io - 1;
	mg_policyd_expire(&P, epfd, now_ns);
	assert_int_equal(open_clients(), 4);
	now_ns = start + io;
	mg_policyd_expire(&P, epfd, now_ns);
	assert_int_equal(P.stats.stalled_closed, stalled + 2);
	assert_true(closed_by_server(slow));
	assert_true(closed_after_draining(deaf));
	/* busy asks every 100 s; quiet says nothing. */
	for (uint64_t t = start + 100 * SEC; t < start + idle + 200 * SEC; t += 100 * SEC) {
		now_ns = t;
		say(busy, REQ("198.18.4.2"));
		assert_string_equal(heard(busy), "action=DUNNO\n\n");
		mg_policyd_expire(&P, epfd, now_ns);
		if (t < start + idle)
			assert_false(closed_by_server(quiet));
	}
	assert_true(closed_by_server(quiet));
	assert_int_equal(P.stats.idle_closed, idled + 1);
	assert_int_equal(open_clients(), 1);
	say(busy, REQ("198.18.1.2"));
	assert_string_equal(heard(busy), "action=HOLD suspect\n\n");
	int fds[] = { quiet, busy, slow, deaf };
	close_all(fds, 4);
	free(reqs);
	free(expect);
}

/* The keys that configure it: Postfix's socket and nobody else's by default, limits from Postfix's own. */
static void test_config_keys(void **state)
{
	struct mg_config c;
	char err[256];

	(void)state;
	mg_config_default(&c);
	assert_int_equal(c.policy_socket_mode, 0660);
	assert_string_equal(c.policy_socket_group, "postfix");
	assert_int_equal(c.policy_max_clients, 1024);
	assert_true(c.policy_idle_timeout_ns > 300 * SEC); /* Postfix's max_idle: it closes first */
	assert_int_equal(c.policy_io_timeout_ns, 30 * SEC);
	mg_config_free(&c);
	mg_config_default(&c);
	assert_int_equal(mg_config_parse("{\"quarantine\": {\"policy_socket_mode\": \"0600\", \"policy_socket_group\": \"mail\",\n"
					 " \"policy_max_clients\": 300, \"policy_idle_timeout\": \"10m\", \"policy_io_timeout\": \"5s\"}}",
					 "t.json", &c, err, sizeof(err)), 0);
	assert_int_equal(c.policy_socket_mode, 0600);
	assert_string_equal(c.policy_socket_group, "mail");
	assert_int_equal(c.policy_max_clients, 300);
	assert_int_equal(c.policy_idle_timeout_ns, 600 * SEC);
	assert_int_equal(c.policy_io_timeout_ns, 5 * SEC);
	mg_config_free(&c);
	static const char *const bad[][2] = {
		{ "{\"quarantine\": {\"policy_max_clients\": 8}}", "policy_max_clients" },
		{ "{\"quarantine\": {\"policy_io_timeout\": \"500ms\"}}", "from 1s to 1h" },
		{ "{\"quarantine\": {\"policy_socket_mode\": 660}}", "octal" },
		{ "{\"quarantine\": {\"policy_socket_group\": \"\"}}", "policy_socket_group" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mg_config_default(&c);
		assert_int_equal(mg_config_parse(bad[i][0], "t.json", &c, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i][1]))
			fail_msg("%s: \"%s\" does not say %s", bad[i][0], err, bad[i][1]);
		mg_config_free(&c);
	}
}

/* Malformed requests for the log: the first at once, then at most one line per period. */
static void test_problem_reports(void **state)
{
	char what[128];

	(void)state;
	struct mg_policyd q = { .fd = -1 };
	assert_int_equal(mg_policyd_problems(&q, 3 * SEC, 60 * SEC, what, sizeof(what)), 0);
	q.stats.malformed = 1;
	snprintf(q.stats.last_problem, sizeof(q.stats.last_problem), "a NUL byte in a request");
	assert_int_equal(mg_policyd_problems(&q, 3 * SEC, 60 * SEC, what, sizeof(what)), 1);
	assert_string_equal(what, "a NUL byte in a request");
	q.stats.malformed = 500;
	q.stats.oversized = 2;
	assert_int_equal(mg_policyd_problems(&q, 62 * SEC, 60 * SEC, what, sizeof(what)), 0);
	assert_int_equal(mg_policyd_problems(&q, 63 * SEC, 60 * SEC, what, sizeof(what)), 501);
	assert_int_equal(mg_policyd_problems(&q, 200 * SEC, 60 * SEC, what, sizeof(what)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_specs),
		cmocka_unit_test(test_socket_mode_and_group),
		cmocka_unit_test(test_socket_access_follows_no_link),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_garbage_and_other_requests),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_answers_wait_for_room),
		cmocka_unit_test(test_pipelining_without_reading),
		cmocka_unit_test(test_one_client_cannot_hold_the_loop),
		cmocka_unit_test(test_cap_closes_the_longest_idle),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_problem_reports),
		cmocka_unit_test(test_config_keys),
	};
	signal(SIGPIPE, SIG_IGN); /* a client the server closed fails an assertion, not the whole program */
	return cmocka_run_group_tests(tests, setup, teardown);
}
