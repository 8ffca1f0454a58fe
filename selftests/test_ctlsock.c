// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_ctlsock.c - the control socket on real UNIX sockets, served from an
 * epoll loop the way mtaguardd serves it: bad requests answered, slow
 * clients delaying nobody, answers of any size arriving whole, a cap on
 * connections, deadlines kept; and the client telling a missing daemon, a
 * denied socket, a cut-off answer and a timeout apart, down to mtaguardctl's
 * exit status.
 *
 * Two ways of driving the server: turn() is one iteration of the daemon's
 * loop, called by the test itself with a clock it sets (3 s after boot, as
 * on a machine that just booted), so that what happens in which iteration is
 * asserted, not how long it took; or a thread running turns against a clock
 * that starts at 3 s and follows the real one, for clients that block.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "mg_clock.h"
#include "mg_ctlsock.h"

#define SEC  1000000000ull
#define MS   1000000ull
#define BOOT (3 * SEC) /* the clock's value when a test starts: a machine up for three seconds */

static struct mg_ctlsock S;
static int EP = -1;
static char sock_path[108];
static int served;

/* ---- the server under test ---------------------------------------------------------------------- */

/*
 * {"cmd":"status"} -> {"ok":true,"cmd":"status"}
 * {"cmd":"blob","size":N} -> {"ok":true,"blob":"xxx..."} with N x's, for answers of any size
 */
/* {"cmd":"stream","pieces":N}: N pieces "[0," "1," ... then "N]\n", each given only when asked for. */
struct test_stream {
	int next, pieces;
	int *asked;
};

static char *test_stream_next(void *ctx, size_t *len)
{
	struct test_stream *t = ctx;
	char *piece;

	if (t->next > t->pieces)
		return NULL;
	(*t->asked)++;
	*len = (size_t)asprintf(&piece, t->next == 0 ? "[0," : t->next == t->pieces ? "%d]\n" : "%d,", t->next);
	t->next++;
	return piece;
}

static int stream_pieces_asked, stream_freed;
static struct mg_ctl_ticket later_ticket;
static int later_asked;
static uint64_t NOW; /* what turn() tells the server the time is */

static void test_stream_free(void *ctx)
{
	stream_freed++;
	free(ctx);
}

static json_t *test_handler(json_t *req, void *arg, struct mg_ctl_stream *stream)
{
	const char *cmd = json_string_value(json_object_get(req, "cmd"));

	(void)arg;
	served++;
	if (!strcmp(cmd, "stream") && stream) {
		struct test_stream *t = calloc(1, sizeof(*t));
		t->pieces = (int)json_integer_value(json_object_get(req, "pieces"));
		t->asked = &stream_pieces_asked;
		*stream = (struct mg_ctl_stream){ .ctx = t, .next = test_stream_next, .free = test_stream_free };
		return NULL;
	}
	/* {"cmd":"later"}: answered later, through the ticket kept in later_ticket; "at_once": true answers
	 * through it from within the handler, as a deferred operation that turns out to end at once does. */
	if (!strcmp(cmd, "later") && stream) {
		later_ticket = stream->ticket;
		later_asked++;
		stream->later_ns = (uint64_t)json_integer_value(json_object_get(req, "ns"));
		if (json_is_true(json_object_get(req, "at_once")))
			assert_int_equal(mg_ctlsock_answer(&S, stream->ticket, json_pack("{s:b,s:s}", "ok", 1, "said", "at once"),
							   NOW), 0);
		return NULL;
	}
	if (!strcmp(cmd, "blob")) {
		size_t n = (size_t)json_integer_value(json_object_get(req, "size"));
		char *blob = malloc(n + 1);
		memset(blob, 'x', n);
		blob[n] = '\0';
		json_t *o = json_pack("{s:b,s:s}", "ok", 1, "blob", blob);
		free(blob);
		return o;
	}
	return json_pack("{s:b,s:O}", "ok", 1, "cmd", json_object_get(req, "cmd"));
}

/* One iteration of the daemon's loop: readiness to the server, then its deadlines. Returns events seen. */
static int turn(int timeout_ms)
{
	struct epoll_event evs[32];
	int n = epoll_wait(EP, evs, 32, timeout_ms);

	for (int i = 0; i < n; i++)
		if (mg_ctlsock_owns(&S, evs[i].data.fd))
			mg_ctlsock_handle(&S, evs[i].data.fd, evs[i].events, NOW);
	mg_ctlsock_expire(&S, NOW);
	return n < 0 ? 0 : n;
}

static void turns(int n)
{
	for (int i = 0; i < n; i++)
		turn(0);
}

/* The thread: turns with a clock that starts at BOOT and runs as the real one does. */
static pthread_t server;
static volatile int server_stop;
static uint64_t server_t0;

static void *server_loop(void *arg)
{
	(void)arg;
	while (!server_stop) {
		uint64_t next = mg_ctlsock_next_deadline(&S);
		int ms = next == MG_CTL_NO_DEADLINE ? 20 : next <= NOW ? 0 : (int)((next - NOW) / MS + 1);
		struct epoll_event evs[32];
		int n = epoll_wait(EP, evs, 32, ms < 20 ? ms : 20);
		NOW = BOOT + (mg_mono_ns() - server_t0);
		for (int i = 0; i < n; i++)
			if (mg_ctlsock_owns(&S, evs[i].data.fd))
				mg_ctlsock_handle(&S, evs[i].data.fd, evs[i].events, NOW);
		mg_ctlsock_expire(&S, NOW);
	}
	return NULL;
}

static void server_start(void)
{
	server_stop = 0;
	server_t0 = mg_mono_ns();
	NOW = BOOT;
	assert_int_equal(pthread_create(&server, NULL, server_loop, NULL), 0);
}

static void server_join(void)
{
	server_stop = 1;
	pthread_join(server, NULL);
}

static int setup(void **state)
{
	(void)state;
	snprintf(sock_path, sizeof(sock_path), "/tmp/mg-ctl-test-%d.sock", (int)getpid());
	EP = epoll_create1(EPOLL_CLOEXEC);
	if (EP < 0 || mg_ctlsock_listen(&S, sock_path, 0600))
		return -1;
	NOW = BOOT;
	served = 0;
	return mg_ctlsock_epoll_add(&S, EP, test_handler, NULL);
}

static int teardown(void **state)
{
	(void)state;
	mg_ctlsock_close(&S);
	close(EP);
	return 0;
}

/* ---- clients ------------------------------------------------------------------------------------ */

static int client(int nonblock)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);

	strcpy(a.sun_path, sock_path);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void send_str(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* What a non-blocking client has been sent so far (appended to buf); -1 at EOF, -2 on an error. */
static int take(int fd, char *buf, size_t cap, size_t *len)
{
	for (;;) {
		ssize_t n = recv(fd, buf + *len, cap - 1 - *len, MSG_DONTWAIT);
		if (n > 0) {
			*len += (size_t)n;
			buf[*len] = '\0';
			continue;
		}
		if (n == 0)
			return -1;
		return errno == EAGAIN ? 0 : -2;
	}
}

/* A blocking exchange with the threaded server: send `len` bytes, read the whole answer. */
struct raw_answer {
	char *text;
	size_t len;
	int recv_errno; /* 0, or why reading stopped before EOF (ECONNRESET: the bug) */
};

static struct raw_answer raw(const void *data, size_t len, int close_write)
{
	struct raw_answer r = { .text = calloc(1, 1 << 20) };
	int fd = client(0);
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(fd, (const char *)data + off, len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break; /* the answer says why */
		off += (size_t)n;
	}
	if (close_write)
		shutdown(fd, SHUT_WR);
	for (;;) {
		ssize_t n = recv(fd, r.text + r.len, (1 << 20) - 1 - r.len, 0);
		if (n < 0)
			r.recv_errno = errno;
		if (n <= 0)
			break;
		r.len += (size_t)n;
	}
	close(fd);
	return r;
}

static void assert_raw_answer(const void *req, size_t len, const char *want_substr)
{
	struct raw_answer r = raw(req, len, 1);

	assert_int_equal(r.recv_errno, 0);
	if (!strstr(r.text, want_substr))
		fail_msg("answer \"%s\" lacks \"%s\"", r.text, want_substr);
	free(r.text);
}

static json_t *request(const char *cmd, enum mg_ctl_status *st, char *err, size_t errlen)
{
	json_t *req = json_pack("{s:s}", "cmd", cmd);
	json_t *resp = mg_ctl_request(sock_path, req, 5000, st, err, errlen);

	json_decref(req);
	return resp;
}

/* ---- requests and answers ----------------------------------------------------------------------- */

static void test_request_response(void **state)
{
	enum mg_ctl_status st;
	char err[256];

	(void)state;
	server_start();
	json_t *resp = request("status", &st, err, sizeof(err));
	server_join();
	assert_non_null(resp);
	assert_int_equal(st, MG_CTL_OK);
	assert_true(json_is_true(json_object_get(resp, "ok")));
	assert_string_equal(json_string_value(json_object_get(resp, "cmd")), "status");
	json_decref(resp);
}

static void test_parse_request(void **state)
{
	char err[256];
	json_t *r;

	(void)state;
	r = mg_ctl_parse_request("{\"cmd\":\"status\"}\n", 17, err, sizeof(err));
	assert_non_null(r);
	json_decref(r);
	/* Whitespace around the object is fine, a blank line after it too. */
	r = mg_ctl_parse_request(" {\"cmd\":\"status\"} \r\n\n", 21, err, sizeof(err));
	assert_non_null(r);
	json_decref(r);
	/* Anything else after it is refused, and the message says what it was. */
	assert_null(mg_ctl_parse_request("{\"cmd\":\"status\"} x\n", 19, err, sizeof(err)));
	assert_non_null(strstr(err, "trailing bytes after the request at byte 17: \"x\\x0a\""));
	assert_null(mg_ctl_parse_request("{\"cmd\":\"a\"}{\"cmd\":\"b\"}\n", 23, err, sizeof(err)));
	assert_non_null(strstr(err, "trailing bytes"));
	assert_null(mg_ctl_parse_request("{\"cmd\":\"a\"}\n\0", 13, err, sizeof(err)));
	assert_non_null(strstr(err, "\\x00"));
	assert_null(mg_ctl_parse_request("", 0, err, sizeof(err)));
	assert_non_null(strstr(err, "malformed request"));
	assert_null(mg_ctl_parse_request("[1]\n", 4, err, sizeof(err)));
	assert_non_null(strstr(err, "\"cmd\" string"));
	char *big = malloc(MG_CTL_MAX_REQUEST + 1);
	memset(big, ' ', MG_CTL_MAX_REQUEST + 1);
	assert_null(mg_ctl_parse_request(big, MG_CTL_MAX_REQUEST + 1, err, sizeof(err)));
	assert_string_equal(err, "request larger than 65536 bytes");
	free(big);
}

static void test_bad_requests_answered(void **state)
{
	(void)state;
	server_start();
	assert_raw_answer("{\"cmd\": \"status\"", 16, "malformed request");
	assert_raw_answer("not json at all\n", 16, "malformed request");
	assert_raw_answer("[1,2,3]\n", 8, "JSON object with a \\\"cmd\\\"");
	assert_raw_answer("{\"cmd\": 5}\n", 11, "\"ok\":false");
	assert_raw_answer("{\"cmd\":\"a\",\"cmd\":\"b\"}\n", 22, "malformed request");
	assert_raw_answer("{\"cmd\":\"status\"} trailing\n", 26, "trailing bytes after the request at byte 17: \\\"trailing\\\\x0a\\\"");
	assert_raw_answer("{\"cmd\":\"a\"}{\"cmd\":\"b\"}\n", 23, "trailing bytes");
	/* The server still serves; and none of the above reached the handler. */
	assert_raw_answer("{\"cmd\":\"status\"}\n", 17, "{\"ok\":true,\"cmd\":\"status\"}\n");
	server_join();
	assert_int_equal(served, 1);
	assert_int_equal(S.stats.malformed, 7);
}

/*
 * Over 64 KiB: the documented error, read whole by a client still sending,
 * not ECONNRESET (a UNIX socket closed with unread input resets its peer).
 */
static void test_oversized_request_gets_the_error(void **state)
{
	const size_t len = 3 * MG_CTL_MAX_REQUEST;
	char *big = malloc(len);

	(void)state;
	memset(big, ' ', len);
	memcpy(big, "{\"cmd\":\"", 8);
	server_start();
	struct raw_answer r = raw(big, len, 1);
	assert_int_equal(r.recv_errno, 0);
	assert_string_equal(r.text, "{\"ok\":false,\"error\":\"request larger than 65536 bytes\"}\n");
	free(r.text);
	/* The same through the client library: an answer, the daemon's refusal in it. */
	enum mg_ctl_status st;
	char err[256];
	json_t *req = json_pack("{s:s,s:s%}", "cmd", "block", "comment", big, len - 100);
	json_t *resp = mg_ctl_request(sock_path, req, 5000, &st, err, sizeof(err));
	json_decref(req);
	server_join();
	assert_non_null(resp);
	assert_int_equal(st, MG_CTL_OK);
	assert_string_equal(json_string_value(json_object_get(resp, "error")), "request larger than 65536 bytes");
	json_decref(resp);
	assert_int_equal(S.stats.oversized, 2);
	assert_int_equal(served, 0);
	free(big);
}

static void test_socket_permissions(void **state)
{
	struct stat st;

	(void)state;
	assert_int_equal(stat(sock_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

/* ---- slow clients, the cap, deadlines --------------------------------------------------------- */

/*
 * Ten clients that send nothing and one that sends a byte per loop
 * iteration: a client with a whole request is answered in the iteration
 * that reads it, before any of them has been answered or dropped.
 */
static void test_slow_clients_delay_nobody(void **state)
{
	int silent[10], trickle, normal;
	const char *trickled = "{\"cmd\":\"status\"}\n";
	char buf[4096];
	size_t len = 0;

	(void)state;
	for (int i = 0; i < 10; i++)
		silent[i] = client(1);
	trickle = client(1);
	send_str(trickle, "{");
	turns(3);
	assert_int_equal(mg_ctlsock_open_connections(&S), 11);

	normal = client(1);
	send_str(normal, "{\"cmd\":\"status\"}\n");
	int answered_at = -1;
	for (int t = 1; t <= 4 && answered_at < 0; t++) {
		NOW += 100 * MS;
		send(trickle, trickled + t, 1, MSG_NOSIGNAL);
		turn(0);
		if (take(normal, buf, sizeof(buf), &len) == -1)
			answered_at = t;
	}
	/* Answered, whole, then EOF, within two iterations: one to accept it, one to read and answer. */
	assert_in_range(answered_at, 1, 2);
	assert_string_equal(buf, "{\"ok\":true,\"cmd\":\"status\"}\n");
	/* ... while every slow client is still waiting, and still connected. */
	for (int i = 0; i < 10; i++) {
		size_t l = 0;
		assert_int_equal(take(silent[i], buf, sizeof(buf), &l), 0);
		assert_int_equal(l, 0);
	}
	size_t l = 0;
	assert_int_equal(take(trickle, buf, sizeof(buf), &l), 0);
	assert_int_equal(l, 0);
	assert_int_equal(S.stats.answered, 1);

	/* Their deadline (2 s after accept) passes: each is told, and the slots come free. */
	NOW += MG_CTL_REQUEST_NS;
	turn(0);
	for (int i = 0; i < 10; i++) {
		l = 0;
		assert_int_equal(take(silent[i], buf, sizeof(buf), &l), -1);
		assert_non_null(strstr(buf, "request timed out"));
		close(silent[i]);
	}
	l = 0;
	assert_int_equal(take(trickle, buf, sizeof(buf), &l), -1);
	assert_non_null(strstr(buf, "request timed out"));
	close(trickle);
	close(normal);
	assert_int_equal(S.stats.timed_out, 11);
	turns(2);
	assert_int_equal(mg_ctlsock_open_connections(&S), 0);
	assert_int_equal(mg_ctlsock_next_deadline(&S), MG_CTL_NO_DEADLINE);
}

/* At the cap a new connection is told "busy" and closed; those open are served as before. */
static void test_connection_cap(void **state)
{
	int held[MG_CTL_MAX_CONN], extra;
	char buf[4096];
	size_t len = 0;

	(void)state;
	/* Every slot held by a client that connected and sends nothing, oldest first. */
	for (int i = 0; i < MG_CTL_MAX_CONN; i++) {
		held[i] = client(1);
		turns(1);
		NOW += MS;
	}
	assert_int_equal(mg_ctlsock_open_connections(&S), MG_CTL_MAX_CONN);
	/* A newcomer with a request is served: the oldest silent client made room. */
	extra = client(1);
	send_str(extra, "{\"cmd\":\"status\"}\n");
	turns(3);
	assert_int_equal(take(extra, buf, sizeof(buf), &len), -1);
	assert_string_equal(buf, "{\"ok\":true,\"cmd\":\"status\"}\n");
	assert_int_equal(S.stats.evicted, 1);
	assert_int_equal(S.stats.busy, 0);
	len = 0;
	assert_int_equal(take(held[0], buf, sizeof(buf), &len), -1); /* the oldest: closed */
	len = 0;
	assert_int_equal(take(held[1], buf, sizeof(buf), &len), 0); /* the next: still open */
	for (int i = 0; i < MG_CTL_MAX_CONN; i++)
		close(held[i]);
	close(extra);
	NOW += MG_CTL_REQUEST_NS + MG_CTL_LINGER_NS;
	turns(3);
	assert_int_equal(mg_ctlsock_open_connections(&S), 0);

	/* Every slot an answer on its way out to a client that does not read it yet: never dropped for a
	 * newcomer, who is told the socket is busy instead. */
	for (int i = 0; i < MG_CTL_MAX_CONN; i++) {
		held[i] = client(1);
		send_str(held[i], "{\"cmd\":\"blob\",\"size\":4000000}\n");
		turns(2);
	}
	assert_int_equal(mg_ctlsock_open_connections(&S), MG_CTL_MAX_CONN);
	extra = client(1);
	send_str(extra, "{\"cmd\":\"status\"}\n");
	turns(2);
	len = 0;
	assert_int_equal(take(extra, buf, sizeof(buf), &len), -1);
	assert_non_null(strstr(buf, "\"error\":\"busy: 16 control connections open"));
	assert_int_equal(S.stats.busy, 1);
	assert_int_equal(S.stats.evicted, 1);
	close(extra);
	for (int i = 0; i < MG_CTL_MAX_CONN; i++)
		close(held[i]);
	NOW += MG_CTL_ANSWER_STALL_NS + MG_CTL_LINGER_NS;
	turns(3);
	assert_int_equal(mg_ctlsock_open_connections(&S), 0);
}

/*
 * A streamed answer (every profile, tens of MB in the daemon): one piece
 * rendered per loop iteration at most, whatever the client reads, so the
 * loop's other work goes on between pieces; the pieces arrive whole and in
 * order; a client that leaves mid-answer frees what was left.
 */
static void test_streamed_answer(void **state)
{
	char *buf = calloc(1, 1 << 16), want[1 << 16];
	size_t len = 0, wlen = 0;
	int fd = client(1);

	(void)state;
	stream_pieces_asked = stream_freed = 0;
	send_str(fd, "{\"cmd\":\"stream\",\"pieces\":1000}\n");
	for (int i = 0; i < 5; i++)
		turn(0);
	assert_in_range(stream_pieces_asked, 1, 5); /* not the thousand pieces at once */
	int rc = 0;
	for (int i = 0; i < 5000 && rc != -1; i++) {
		turn(0);
		rc = take(fd, buf, 1 << 16, &len);
	}
	assert_int_equal(rc, -1);
	wlen += (size_t)snprintf(want + wlen, sizeof(want) - wlen, "[");
	for (int i = 0; i <= 1000; i++)
		wlen += (size_t)snprintf(want + wlen, sizeof(want) - wlen, i < 1000 ? "%d," : "%d]\n", i);
	assert_string_equal(buf, want);
	assert_int_equal(stream_pieces_asked, 1001);
	assert_int_equal(stream_freed, 1);
	close(fd);

	/* A client that leaves after the first pieces: the rest is never rendered, and is freed. */
	stream_pieces_asked = stream_freed = 0;
	fd = client(1);
	send_str(fd, "{\"cmd\":\"stream\",\"pieces\":1000}\n");
	turns(3);
	close(fd);
	turns(5);
	assert_in_range(stream_pieces_asked, 1, 8);
	assert_int_equal(stream_freed, 1);
	assert_int_equal(S.stats.streamed, 2);
	free(buf);
}

/*
 * An answer that comes later (an operation running commands): the
 * connection waits without costing the loop anything, other clients are
 * served meanwhile, and the answer reaches its client whole; a client that
 * hangs up frees its slot and the answer is dropped; one not answered in
 * time is told so, and the late answer is dropped; an answer given from
 * within the handler goes out at once. The clock starts near boot.
 */
static void test_answer_later(void **state)
{
	char buf[4096];
	size_t len = 0;

	(void)state;
	later_asked = 0;
	int fd = client(1);
	send_str(fd, "{\"cmd\":\"later\",\"ns\":20000000000}\n");
	turns(3);
	assert_int_equal(later_asked, 1);
	assert_int_equal(take(fd, buf, sizeof(buf), &len), 0); /* nothing yet, and no EOF */
	assert_int_equal(len, 0);
	/* Another client is answered meanwhile. */
	int other = client(1);
	size_t olen = 0;
	char obuf[512];
	send_str(other, "{\"cmd\":\"status\"}\n");
	for (int i = 0; i < 5 && !strstr(obuf, "\n"); i++) {
		turn(0);
		take(other, obuf, sizeof(obuf), &olen);
	}
	assert_non_null(strstr(obuf, "\"cmd\":\"status\""));
	close(other);
	NOW += 19 * SEC;
	turns(3);
	assert_int_equal(len, 0);
	assert_int_equal(mg_ctlsock_answer(&S, later_ticket, json_pack("{s:b,s:s}", "ok", 1, "said", "later"), NOW), 0);
	int rc = 0;
	for (int i = 0; i < 5 && rc != -1; i++) {
		turn(0);
		rc = take(fd, buf, sizeof(buf), &len);
	}
	assert_int_equal(rc, -1);
	assert_string_equal(buf, "{\"ok\":true,\"said\":\"later\"}\n");
	close(fd);
	/* The same ticket again: that connection has had its answer. */
	assert_int_equal(mg_ctlsock_answer(&S, later_ticket, json_pack("{s:b}", "ok", 1), NOW), -ESRCH);

	/* A client that hangs up while it waits: its slot is free at once, the answer dropped. */
	fd = client(1);
	send_str(fd, "{\"cmd\":\"later\",\"ns\":20000000000}\n");
	turns(3);
	assert_int_equal(mg_ctlsock_open_connections(&S), 1);
	close(fd);
	turns(3);
	assert_int_equal(mg_ctlsock_open_connections(&S), 0);
	assert_int_equal(mg_ctlsock_answer(&S, later_ticket, json_pack("{s:b}", "ok", 1), NOW), -ESRCH);

	/* A half-closed client (its request ended by EOF) still waits for its answer. */
	fd = client(1);
	send_str(fd, "{\"cmd\":\"later\",\"ns\":20000000000}");
	shutdown(fd, SHUT_WR);
	turns(3);
	assert_int_equal(mg_ctlsock_open_connections(&S), 1);
	assert_int_equal(mg_ctlsock_answer(&S, later_ticket, json_pack("{s:b}", "ok", 1), NOW), 0);
	len = 0;
	rc = 0;
	for (int i = 0; i < 5 && rc != -1; i++) {
		turn(0);
		rc = take(fd, buf, sizeof(buf), &len);
	}
	assert_string_equal(buf, "{\"ok\":true}\n");
	close(fd);

	/* Not in time (a handler asking for more than the cap gets the cap): the client hears why. */
	fd = client(1);
	send_str(fd, "{\"cmd\":\"later\",\"ns\":900000000000}\n");
	turns(3);
	NOW += MG_CTL_LATER_MAX_NS - 1;
	turns(2);
	len = 0;
	assert_int_equal(take(fd, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 0);
	NOW += 1;
	rc = 0;
	for (int i = 0; i < 5 && rc != -1; i++) {
		turn(0);
		rc = take(fd, buf, sizeof(buf), &len);
	}
	assert_non_null(strstr(buf, "no answer in time"));
	assert_int_equal(mg_ctlsock_answer(&S, later_ticket, json_pack("{s:b}", "ok", 1), NOW), -ESRCH);
	close(fd);

	/* Known at once after all: answered from within the handler. */
	fd = client(1);
	send_str(fd, "{\"cmd\":\"later\",\"ns\":1000,\"at_once\":true}\n");
	len = 0;
	rc = 0;
	for (int i = 0; i < 5 && rc != -1; i++) {
		turn(0);
		rc = take(fd, buf, sizeof(buf), &len);
	}
	assert_string_equal(buf, "{\"ok\":true,\"said\":\"at once\"}\n");
	close(fd);
	NOW += MG_CTL_ANSWER_STALL_NS + MG_CTL_LINGER_NS;
	turns(3);
	assert_int_equal(mg_ctlsock_open_connections(&S), 0);
	assert_int_equal(S.stats.deferred, 3);
	assert_int_equal(S.stats.deferred_late, 1);
}

/* An error quoting the client's text, cut mid-character by the message buffer, is still an answer. */
static void test_error_cut_mid_character(void **state)
{
	char text[1200] = "";

	(void)state;
	for (int i = 0; i < 500; i++)
		strcat(text, "\xc3\xa9"); /* é */
	json_t *e = mg_ctl_error("no such signature: %s", text);
	assert_non_null(e);
	assert_true(json_is_false(json_object_get(e, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(e, "error")), "no such signature: "));
	json_decref(e);
}

/*
 * Out of descriptors: accept fails with EMFILE while the listener stays
 * readable, so a level-triggered epoll would return it at once, forever (a
 * loop at 100 % CPU). The listener leaves the epoll set for a second; the
 * client waits in the backlog and is served once descriptors are back.
 */
static void test_out_of_descriptors(void **state)
{
	struct rlimit old, low;
	char buf[4096];
	size_t len = 0;

	(void)state;
	int fd = client(1);
	int lowest = dup(0); /* the lowest free descriptor: with the limit there, accept has none */
	close(lowest);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)lowest;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	turn(0);
	int again = turn(0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(S.stats.accept_paused, 1);
	assert_int_equal(again, 0); /* no readiness reported over and over */
	assert_int_equal(S.stats.accepted, 0);

	/* Descriptors are back; a second later the listener is in the set again and the client is served. */
	NOW += MG_CTL_ACCEPT_PAUSE_NS;
	turns(3);
	send_str(fd, "{\"cmd\":\"status\"}\n");
	turns(3);
	assert_int_equal(take(fd, buf, sizeof(buf), &len), -1);
	assert_string_equal(buf, "{\"ok\":true,\"cmd\":\"status\"}\n");
	close(fd);
}

/*
 * Every deadline, 3 s after boot: the request's (2 s from accept), the
 * linger after the answer, and the answer's stall (30 s without progress).
 * None is mistaken for "long ago" or "never".
 */
static void test_deadlines_after_boot(void **state)
{
	char buf[4096];
	size_t len = 0;

	(void)state;
	assert_int_equal(NOW, BOOT);
	assert_int_equal(mg_ctlsock_next_deadline(&S), MG_CTL_NO_DEADLINE);
	int fd = client(1);
	turn(0);
	assert_int_equal(mg_ctlsock_open_connections(&S), 1);
	assert_int_equal(mg_ctlsock_next_deadline(&S), BOOT + MG_CTL_REQUEST_NS);
	NOW = BOOT + MG_CTL_REQUEST_NS - 1;
	turn(0);
	assert_int_equal(take(fd, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 0);
	NOW = BOOT + MG_CTL_REQUEST_NS;
	turn(0);
	/* Told, and the server's side is shut; it waits for ours for the linger only. */
	assert_int_equal(take(fd, buf, sizeof(buf), &len), -1);
	assert_string_equal(buf, "{\"ok\":false,\"error\":\"request timed out: not whole within 2 s of connecting\"}\n");
	assert_int_equal(mg_ctlsock_open_connections(&S), 1);
	assert_int_equal(mg_ctlsock_next_deadline(&S), NOW + MG_CTL_LINGER_NS);
	NOW += MG_CTL_LINGER_NS;
	turn(0);
	assert_int_equal(mg_ctlsock_open_connections(&S), 0);
	close(fd);

	/* An answer the client does not take: kept while the client takes some, dropped 30 s after it stops. */
	fd = client(1);
	char req[64];
	snprintf(req, sizeof(req), "{\"cmd\":\"blob\",\"size\":%d}\n", 8 << 20);
	send_str(fd, req);
	turns(3);
	assert_int_equal(S.stats.answered, 1);
	assert_int_equal(S.conn[0].state, MG_CTL_CONN_WRITING);
	uint64_t started = NOW;
	assert_int_equal(mg_ctlsock_next_deadline(&S), started + MG_CTL_ANSWER_STALL_NS);
	NOW += MG_CTL_ANSWER_STALL_NS - SEC;
	/* All that is queued taken, so that the server's socket is writable again. */
	char *sink = malloc(1 << 16);
	size_t took = 0;
	ssize_t n;
	while ((n = recv(fd, sink, 1 << 16, MSG_DONTWAIT)) > 0)
		took += (size_t)n;
	assert_true(took > 0);
	turns(2);
	assert_int_equal(mg_ctlsock_next_deadline(&S), NOW + MG_CTL_ANSWER_STALL_NS);
	NOW += MG_CTL_ANSWER_STALL_NS - 1;
	turn(0);
	assert_int_equal(mg_ctlsock_open_connections(&S), 1);
	NOW += 1;
	turn(0);
	assert_int_equal(mg_ctlsock_open_connections(&S), 0);
	assert_int_equal(S.stats.stalled, 1);
	/* What it gets now ends before the answer does: a cut-off answer, not a whole one. */
	size_t got = took;
	while ((n = recv(fd, sink, 1 << 16, 0)) > 0)
		got += (size_t)n;
	assert_true(got < (8u << 20));
	free(sink);
	close(fd);
}

/* ---- answers of any size ---------------------------------------------------------------------- */

/* 20 MB to a client that starts late and reads in small pieces: all of it, then EOF. */
static void test_large_answer_to_slow_reader(void **state)
{
	const size_t size = 20u << 20;
	char req[64];
	int fd = client(0);

	(void)state;
	server_start();
	snprintf(req, sizeof(req), "{\"cmd\":\"blob\",\"size\":%zu}\n", size);
	send_str(fd, req);
	/* Late: the server has met a full socket buffer many times over by now. */
	usleep(300 * 1000);
	size_t cap = size + 4096, len = 0;
	char *buf = malloc(cap);
	for (int i = 0;; i++) {
		ssize_t n = recv(fd, buf + len, i < 100 ? 4096 : cap - len, 0);
		assert_true(n >= 0);
		if (n == 0)
			break;
		len += (size_t)n;
		if (i % 20 == 0)
			usleep(2000);
	}
	close(fd);
	buf[len] = '\0';
	json_error_t je;
	json_t *resp = json_loadb(buf, len, 0, &je);
	assert_non_null(resp);
	assert_int_equal(strlen(json_string_value(json_object_get(resp, "blob"))), size);
	assert_int_equal(buf[len - 1], '\n');
	json_decref(resp);

	/* The same through the client library, as mtaguardctl --json verdicts > file reads it. */
	enum mg_ctl_status st;
	char err[256];
	json_t *r = json_pack("{s:s,s:I}", "cmd", "blob", "size", (json_int_t)size);
	resp = mg_ctl_request(sock_path, r, 20000, &st, err, sizeof(err));
	json_decref(r);
	server_join();
	if (!resp)
		fail_msg("%s: %s", mg_ctl_status_name(st), err);
	assert_int_equal(st, MG_CTL_OK);
	assert_int_equal(strlen(json_string_value(json_object_get(resp, "blob"))), size);
	json_decref(resp);
	free(buf);
}

/* ---- the client's verdict on what happened ---------------------------------------------------- */

/* A fake daemon for the client: accepts one connection, reads the request, then does `how`. */
enum fake_how { FAKE_HALF_ANSWER, FAKE_NOT_JSON, FAKE_SILENT, FAKE_CLOSE };
struct fake_daemon {
	int lfd;
	enum fake_how how;
	char path[108];
	pthread_t t;
};

static void *fake_daemon_run(void *arg)
{
	struct fake_daemon *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	char buf[4096];

	if (fd < 0)
		return NULL;
	(void)!recv(fd, buf, sizeof(buf), 0);
	switch (f->how) {
	case FAKE_HALF_ANSWER:
		(void)!send(fd, "{\"ok\":true,\"verdicts\":[{\"source\":\"1.2", 36, MSG_NOSIGNAL);
		break;
	case FAKE_NOT_JSON:
		(void)!send(fd, "hello there\n", 12, MSG_NOSIGNAL);
		break;
	case FAKE_SILENT:
		usleep(1000 * 1000); /* well past the client's timeout */
		break;
	case FAKE_CLOSE:
		break;
	}
	close(fd);
	return NULL;
}

static void fake_daemon_start(struct fake_daemon *f, enum fake_how how)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	f->how = how;
	snprintf(f->path, sizeof(f->path), "/tmp/mg-ctl-fake-%d.sock", (int)getpid());
	unlink(f->path);
	strcpy(a.sun_path, f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(pthread_create(&f->t, NULL, fake_daemon_run, f), 0);
}

static void fake_daemon_stop(struct fake_daemon *f)
{
	pthread_join(f->t, NULL);
	close(f->lfd);
	unlink(f->path);
}

static enum mg_ctl_status status_of(const char *path, int timeout_ms, char *err, size_t errlen)
{
	enum mg_ctl_status st = MG_CTL_OK;
	json_t *req = json_pack("{s:s}", "cmd", "verdicts");
	json_t *resp = mg_ctl_request(path, req, timeout_ms, &st, err, errlen);

	json_decref(req);
	if (resp)
		assert_int_equal(st, MG_CTL_OK);
	else
		assert_int_not_equal(st, MG_CTL_OK);
	json_decref(resp);
	return st;
}

static void test_client_no_daemon(void **state)
{
	char err[256], path[108];

	(void)state;
	assert_int_equal(status_of("/tmp/mg-no-such-daemon.sock", 1000, err, sizeof(err)), MG_CTL_NO_DAEMON);
	assert_non_null(strstr(err, "is mtaguardd running?"));
	/* A socket file left behind by a daemon that is gone: ECONNREFUSED, also no daemon. */
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(path, sizeof(path), "/tmp/mg-ctl-dead-%d.sock", (int)getpid());
	unlink(path);
	strcpy(a.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	close(fd);
	assert_int_equal(status_of(path, 1000, err, sizeof(err)), MG_CTL_NO_DAEMON);
	assert_non_null(strstr(err, "Connection refused"));
	unlink(path);
}

static void test_client_cut_off_unreadable_timeout(void **state)
{
	struct fake_daemon f;
	char err[256];

	(void)state;
	fake_daemon_start(&f, FAKE_HALF_ANSWER);
	assert_int_equal(status_of(f.path, 5000, err, sizeof(err)), MG_CTL_TRUNCATED);
	assert_non_null(strstr(err, "cut off after 36 bytes"));
	fake_daemon_stop(&f);

	fake_daemon_start(&f, FAKE_CLOSE);
	assert_int_equal(status_of(f.path, 5000, err, sizeof(err)), MG_CTL_TRUNCATED);
	assert_non_null(strstr(err, "without an answer"));
	fake_daemon_stop(&f);

	fake_daemon_start(&f, FAKE_NOT_JSON);
	assert_int_equal(status_of(f.path, 5000, err, sizeof(err)), MG_CTL_UNREADABLE);
	fake_daemon_stop(&f);

	fake_daemon_start(&f, FAKE_SILENT);
	uint64_t t0 = mg_mono_ns();
	assert_int_equal(status_of(f.path, 300, err, sizeof(err)), MG_CTL_TIMEOUT);
	assert_true(mg_mono_ns() - t0 < 5 * SEC); /* its own timeout, not forever */
	fake_daemon_stop(&f);

	for (int st = 0; st < MG_CTL_STATUS_MAX; st++)
		assert_string_not_equal(mg_ctl_status_name(st), "?");
}

/* A socket the caller may not open: EACCES, as an unprivileged user meets it (root is not refused). */
static int denied_as_nobody(const char *path)
{
	struct passwd *pw = getpwnam("nobody");
	pid_t pid = fork();

	if (pid == 0) {
		if (getuid() == 0 && (!pw || setgid(pw->pw_gid) || setuid(pw->pw_uid)))
			_exit(100);
		char err[256];
		enum mg_ctl_status st;
		json_t *req = json_pack("{s:s}", "cmd", "status");
		json_t *resp = mg_ctl_request(path, req, 1000, &st, err, sizeof(err));
		_exit(resp ? 101 : (int)st);
	}
	int ws;
	waitpid(pid, &ws, 0);
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

/* Keep the caller out of the socket: its mode is 0600 and root's; an unprivileged caller owns it. */
static void deny_socket(void)
{
	if (getuid() != 0)
		assert_int_equal(chmod(sock_path, 0), 0);
}

static void test_client_denied(void **state)
{
	(void)state;
	deny_socket();
	assert_int_equal(denied_as_nobody(sock_path), MG_CTL_DENIED);
}

/* ---- mtaguardctl's exit status, one for each ---------------------------------------------------- */

static char ctl_bin[PATH_MAX];

/* Run mtaguardctl -s path status [as nobody], its output discarded; its exit status. */
static int run_ctl(const char *path, bool as_nobody)
{
	pid_t pid = fork();

	if (pid == 0) {
		/* Opened while still root: the build tree may sit in a directory nobody cannot enter (a
		 * mktemp clone is 0700), and exec through the descriptor needs no path walk. */
		int exe = open(ctl_bin, O_RDONLY | O_CLOEXEC);
		struct passwd *pw = getpwnam("nobody");
		if (exe < 0 || (as_nobody && getuid() == 0 && (!pw || setgid(pw->pw_gid) || setuid(pw->pw_uid))))
			_exit(100);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		char *const argv[] = { "mtaguardctl", "-s", (char *)path, "--json", "verdicts", NULL };
		fexecve(exe, argv, environ);
		_exit(101);
	}
	int ws;
	waitpid(pid, &ws, 0);
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

static void test_mtaguardctl_exit_status(void **state)
{
	struct fake_daemon f;
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	(void)state;
	assert_true(n > 0);
	self[n] = '\0';
	/* The test is BUILD/selftests/test_ctlsock; the program BUILD/mtaguardctl. */
	snprintf(ctl_bin, sizeof(ctl_bin), "%.*s/../mtaguardctl", (int)(strrchr(self, '/') - self), self);
	if (access(ctl_bin, X_OK))
		skip(); /* built by `make all`, which `make test` runs first */

	server_start();
	assert_int_equal(run_ctl(sock_path, false), 0);
	deny_socket();
	assert_int_equal(run_ctl(sock_path, true), 4);
	server_join();
	assert_int_equal(run_ctl("/tmp/mg-no-such-daemon.sock", false), 3);
	fake_daemon_start(&f, FAKE_HALF_ANSWER);
	assert_int_equal(run_ctl(f.path, false), 5);
	fake_daemon_stop(&f);
	fake_daemon_start(&f, FAKE_NOT_JSON);
	assert_int_equal(run_ctl(f.path, false), 5);
	fake_daemon_stop(&f);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_request_response),
		T(test_parse_request),
		T(test_bad_requests_answered),
		T(test_oversized_request_gets_the_error),
		T(test_socket_permissions),
		T(test_slow_clients_delay_nobody),
		T(test_connection_cap),
		T(test_out_of_descriptors),
		T(test_streamed_answer),
		T(test_answer_later),
		T(test_error_cut_mid_character),
		T(test_deadlines_after_boot),
		T(test_large_answer_to_slow_reader),
		T(test_client_no_daemon),
		T(test_client_cut_off_unreadable_timeout),
		T(test_client_denied),
		T(test_mtaguardctl_exit_status),
	};
	return cmocka_run_group_tests_name("ctlsock", tests, NULL, NULL);
}
