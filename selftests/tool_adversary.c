// SPDX-License-Identifier: GPL-2.0-only
/*
 * tool_adversary.c - clients that misbehave on the daemon's sockets, and a
 * probe that measures how long well-behaved policy requests wait meanwhile.
 * Used by the end-to-end tests and `make bench`; every mode is bounded in
 * time and in connections.
 *
 *   tool_adversary probe    SOCK SECONDS INTERVAL_MS [CLIENT_ADDR]
 *       Postfix-like policy client on one connection: one request every
 *       INTERVAL_MS, each answer awaited (at most 30 s). Prints
 *       "probe: N requests, N answered, p50 X ms, p99 X ms, max X ms";
 *       exit 1 if any request went unanswered or was answered wrongly.
 *   tool_adversary slow     SOCK CONNS SECONDS INTERVAL_MS
 *       CONNS connections that each send one byte of a request that never
 *       ends every INTERVAL_MS (0: send nothing at all); a connection the
 *       server closes is opened again. Prints how many times that happened.
 *   tool_adversary pipeline SOCK REQUESTS HOLD_SECONDS
 *       One policy client sends requests without reading for HOLD_SECONDS
 *       (as many as the server takes before it pushes back), then reads while
 *       it sends the rest: exit 0 only if all REQUESTS get exactly one
 *       well-formed answer each.
 *   tool_adversary noread   SOCK CONNS SECONDS JSON
 *       CONNS control connections that send the request JSON and never read
 *       the answer; held open for SECONDS.
 *
 * SOCK: "unix:/path", "inet:ADDR:PORT" or a path.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256
#define ANSWER_WAIT_MS 30000

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static double now_msf(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Connect to SOCK; -1 on failure. */
static int dial(const char *spec, bool nonblock)
{
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof(ss));
	if (!strncmp(spec, "inet:", 5)) {
		char host[128];
		snprintf(host, sizeof(host), "%s", spec + 5);
		char *colon = strrchr(host, ':');
		if (!colon)
			return -1;
		*colon = '\0';
		int port = atoi(colon + 1);
		char *h = host;
		if (h[0] == '[') {
			h++;
			h[strlen(h) - 1] = '\0';
		}
		struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
		if (inet_pton(AF_INET, h, &a4->sin_addr) == 1) {
			a4->sin_family = AF_INET;
			a4->sin_port = htons((uint16_t)port);
			len = sizeof(*a4);
		} else if (inet_pton(AF_INET6, h, &a6->sin6_addr) == 1) {
			a6->sin6_family = AF_INET6;
			a6->sin6_port = htons((uint16_t)port);
			len = sizeof(*a6);
		} else {
			return -1;
		}
	} else {
		const char *path = strncmp(spec, "unix:", 5) ? spec : spec + 5;
		struct sockaddr_un *un = (struct sockaddr_un *)&ss;
		un->sun_family = AF_UNIX;
		snprintf(un->sun_path, sizeof(un->sun_path), "%s", path);
		len = sizeof(*un);
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len)) {
		close(fd);
		return -1;
	}
	if (nonblock)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static const char *request_text(const char *client, unsigned n)
{
	static char buf[512];
	snprintf(buf, sizeof(buf),
		 "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\nclient_address=%s\n"
		 "client_name=unknown\nhelo_name=probe.example\nsender=probe@example.org\n"
		 "recipient=rcpt%u@example.net\ninstance=probe.%u\n\n",
		 client, n, n);
	return buf;
}

/* Read one answer ("action=...\n\n") within ANSWER_WAIT_MS; true if it came whole. */
static bool read_answer(int fd)
{
	char buf[1024];
	size_t len = 0;
	uint64_t deadline = now_ms() + ANSWER_WAIT_MS;
	while (len < sizeof(buf) - 1) {
		uint64_t t = now_ms();
		if (t >= deadline)
			return false;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, (int)(deadline - t)) <= 0)
			continue;
		/* One byte at a time: never read into the next answer (there is none, but be exact). */
		ssize_t r = recv(fd, buf + len, 1, 0);
		if (r <= 0)
			return false;
		len++;
		if (len >= 2 && buf[len - 1] == '\n' && buf[len - 2] == '\n') {
			buf[len] = '\0';
			return !strncmp(buf, "action=", 7);
		}
	}
	return false;
}

static int probe(const char *spec, unsigned seconds, unsigned interval_ms, const char *client)
{
	size_t cap = (size_t)seconds * 1000 / (interval_ms ? interval_ms : 1) + 16;
	double *lat = calloc(cap, sizeof(*lat));
	unsigned sent = 0, answered = 0, reconnects = 0;
	int fd = -1;
	uint64_t end = now_ms() + (uint64_t)seconds * 1000;

	while (now_ms() < end && sent < cap) {
		uint64_t next = now_ms() + interval_ms;
		if (fd < 0 && (fd = dial(spec, false)) < 0) {
			fprintf(stderr, "probe: cannot connect to %s: %s\n", spec, strerror(errno));
			sent++; /* a request that could not even be sent is an unanswered one */
			sleep_ms(interval_ms);
			continue;
		}
		const char *req = request_text(client, sent);
		double t0 = now_msf();
		sent++;
		if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req) || !read_answer(fd)) {
			/* Postfix would reconnect and retry once; a probe counts the loss. */
			close(fd);
			fd = -1;
			reconnects++;
			continue;
		}
		lat[answered++] = now_msf() - t0;
		uint64_t t = now_ms();
		if (t < next)
			sleep_ms((unsigned)(next - t));
	}
	if (fd >= 0)
		close(fd);
	qsort(lat, answered, sizeof(*lat), cmp_double);
	double p50 = answered ? lat[answered / 2] : 0, p99 = answered ? lat[(answered * 99) / 100] : 0,
	       max = answered ? lat[answered - 1] : 0;
	printf("probe: %u requests, %u answered, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", sent, answered, p50, p99,
	       max);
	if (reconnects)
		printf("probe: %u connections lost\n", reconnects);
	free(lat);
	return answered == sent && sent > 0 ? 0 : 1;
}

static int slow(const char *spec, unsigned conns, unsigned seconds, unsigned interval_ms)
{
	static const char dribble[] = "{\"cmd\":\"status\",\"pad\":\"";
	int fds[MAX_CONNS];
	unsigned reopened = 0, pos[MAX_CONNS] = { 0 };
	uint64_t end = now_ms() + (uint64_t)seconds * 1000;

	if (conns > MAX_CONNS)
		conns = MAX_CONNS;
	for (unsigned i = 0; i < conns; i++)
		fds[i] = dial(spec, true);
	while (now_ms() < end) {
		for (unsigned i = 0; i < conns; i++) {
			if (fds[i] >= 0) {
				char c;
				/* Closed by the server (EOF or an error answer then EOF)? Open it again. */
				ssize_t r = recv(fds[i], &c, 1, MSG_DONTWAIT);
				if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
					close(fds[i]);
					fds[i] = -1;
				} else if (r > 0) {
					char sink[4096];
					while (recv(fds[i], sink, sizeof(sink), MSG_DONTWAIT) > 0)
						;
				}
			}
			if (fds[i] < 0) {
				fds[i] = dial(spec, true);
				pos[i] = 0;
				reopened++;
			}
			if (fds[i] >= 0 && interval_ms) {
				/* A request that never ends: its head, then padding, never a newline. */
				char c = pos[i] < sizeof(dribble) - 1 ? dribble[pos[i]] : 'x';
				pos[i]++;
				send(fds[i], &c, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			}
		}
		sleep_ms(interval_ms ? interval_ms : 200);
	}
	for (unsigned i = 0; i < conns; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	printf("slow: %u connections, reopened %u times after the server closed them\n", conns, reopened);
	return 0;
}

/*
 * Count whole answers in what was read: each is "action=...\n\n". carry
 * holds the answer cut by the end of the last read.
 */
struct answers {
	unsigned good, bad;
	char carry[64];
	size_t clen;
};

static void count_answers(struct answers *a, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a->clen < sizeof(a->carry))
			a->carry[a->clen] = buf[i];
		a->clen++;
		if (a->clen >= 2 && a->clen <= sizeof(a->carry) && a->carry[a->clen - 1] == '\n' &&
		    a->carry[a->clen - 2] == '\n') {
			if (!strncmp(a->carry, "action=", 7))
				a->good++;
			else
				a->bad++;
			a->clen = 0;
		}
	}
}

static int pipeline(const char *spec, unsigned requests, unsigned hold_seconds)
{
	int fd = dial(spec, true);
	if (fd < 0) {
		fprintf(stderr, "pipeline: cannot connect to %s\n", spec);
		return 1;
	}
	unsigned sent = 0, unread_sent;
	size_t off = 0;
	const char *req = request_text("198.18.200.1", 0);
	size_t rlen = strlen(req);
	uint64_t hold_end = now_ms() + (uint64_t)hold_seconds * 1000;
	/* Phase 1: send, never reading, for the hold time. The server answers into its buffers and, once
	 * they are full, stops reading this client (back-pressure): the sends then wait. */
	while (sent < requests && now_ms() < hold_end) {
		ssize_t w = send(fd, req + off, rlen - off, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			poll(&p, 1, 100);
			continue;
		}
		if (w <= 0) {
			fprintf(stderr, "pipeline: send failed after %u requests: %s\n", sent, strerror(errno));
			close(fd);
			return 1;
		}
		off += (size_t)w;
		if (off == rlen) {
			off = 0;
			sent++;
		}
	}
	uint64_t t = now_ms();
	if (t < hold_end)
		sleep_ms((unsigned)(hold_end - t));
	unread_sent = sent;
	/* Phase 2: read, and send the rest meanwhile: every request must get its answer. */
	struct answers a = { 0 };
	char buf[65536];
	uint64_t deadline = now_ms() + ANSWER_WAIT_MS;
	while (a.good + a.bad < requests && now_ms() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN | (sent < requests ? POLLOUT : 0) };
		if (poll(&p, 1, 1000) <= 0)
			continue;
		if (p.revents & POLLIN) {
			ssize_t r = recv(fd, buf, sizeof(buf), 0);
			if (r <= 0)
				break;
			count_answers(&a, buf, (size_t)r);
		}
		if ((p.revents & POLLOUT) && sent < requests) {
			ssize_t w = send(fd, req + off, rlen - off, MSG_NOSIGNAL);
			if (w > 0) {
				off += (size_t)w;
				if (off == rlen) {
					off = 0;
					sent++;
				}
			}
		}
	}
	close(fd);
	printf("pipeline: %u requests, %u sent before reading anything, %u answers, %u malformed\n", sent,
	       unread_sent, a.good, a.bad);
	return sent == requests && a.good == sent && !a.bad ? 0 : 1;
}

static int noread(const char *spec, unsigned conns, unsigned seconds, const char *json)
{
	int fds[MAX_CONNS];
	unsigned opened = 0;

	if (conns > MAX_CONNS)
		conns = MAX_CONNS;
	for (unsigned i = 0; i < conns; i++) {
		fds[i] = dial(spec, false);
		if (fds[i] < 0)
			continue;
		opened++;
		send(fds[i], json, strlen(json), MSG_NOSIGNAL);
		send(fds[i], "\n", 1, MSG_NOSIGNAL);
	}
	sleep_ms(seconds * 1000);
	for (unsigned i = 0; i < conns; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	printf("noread: %u connections held for %u s without reading\n", opened, seconds);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: tool_adversary probe SOCK SECONDS INTERVAL_MS [CLIENT]\n"
			"       tool_adversary slow SOCK CONNS SECONDS INTERVAL_MS\n"
			"       tool_adversary pipeline SOCK REQUESTS HOLD_SECONDS\n"
			"       tool_adversary noread SOCK CONNS SECONDS JSON\n");
	exit(2);
}

static unsigned num(const char *s, unsigned max)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (*end || v > max)
		usage();
	return (unsigned)v;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		usage();
	const char *mode = argv[1], *spec = argv[2];
	/* Bounds: every load here is bounded in time (≤ 10 min) and connections. */
	if (!strcmp(mode, "probe") && (argc == 5 || argc == 6))
		return probe(spec, num(argv[3], 600), num(argv[4], 60000), argc == 6 ? argv[5] : "198.18.250.1");
	if (!strcmp(mode, "slow") && argc == 6)
		return slow(spec, num(argv[3], MAX_CONNS), num(argv[4], 600), num(argv[5], 60000));
	if (!strcmp(mode, "pipeline") && argc == 5)
		return pipeline(spec, num(argv[3], 1000000), num(argv[4], 600));
	if (!strcmp(mode, "noread") && argc == 6)
		return noread(spec, num(argv[3], MAX_CONNS), num(argv[4], 600), argv[5]);
	usage();
	return 2;
}
