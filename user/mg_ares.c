// SPDX-License-Identifier: GPL-2.0-only
/* mg_ares.c - c-ares as the verifier's resolver, in the caller's loop (see mg_ares.h). */
#include <ares.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "mg_ares.h"

struct mg_ares {
	ares_channel ch;
	mg_ares_answer_fn answer;
	void *answer_arg;
	mg_ares_sock_fn sock;
	void *sock_arg;
	unsigned pending;
};

struct q {
	struct mg_ares *r;
	uint16_t type;
	char name[];
};

static void sock_state(void *arg, ares_socket_t fd, int readable, int writable)
{
	struct mg_ares *r = arg;

	if (r->sock)
		r->sock(r->sock_arg, fd, readable, writable);
}

static int library_users;

struct mg_ares *mg_ares_new(const char *servers, unsigned timeout_ms, unsigned tries, mg_ares_answer_fn answer,
			    void *answer_arg, mg_ares_sock_fn sock, void *sock_arg, char *err, size_t errlen)
{
	struct ares_options o = { 0 };
	struct mg_ares *r = calloc(1, sizeof(*r));
	int rc;

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (library_users++ == 0 && (rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		library_users--;
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		free(r);
		return NULL;
	}
	r->answer = answer;
	r->answer_arg = answer_arg;
	r->sock = sock;
	r->sock_arg = sock_arg;
	o.sock_state_cb = sock_state;
	o.sock_state_cb_data = r;
	o.timeout = (int)(timeout_ms ? timeout_ms : 2000);
	o.tries = (int)(tries ? tries : 2);
	/* No search list, no hosts file: the names asked are absolute, and only DNS says anything about them. */
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	o.lookups = (char *)"b";
	rc = ares_init_options(&r->ch, &o,
			       ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS | ARES_OPT_LOOKUPS);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		r->ch = NULL;
		mg_ares_free(r);
		return NULL;
	}
	if (servers && *servers && (rc = ares_set_servers_ports_csv(r->ch, servers)) != ARES_SUCCESS) {
		snprintf(err, errlen, "resolver \"%s\": %s", servers, ares_strerror(rc));
		mg_ares_free(r);
		return NULL;
	}
	return r;
}

void mg_ares_free(struct mg_ares *r)
{
	if (!r)
		return;
	if (r->ch) {
		r->answer = NULL; /* the callbacks ares_destroy makes (ARES_EDESTRUCTION) deliver nothing */
		ares_destroy(r->ch);
	}
	if (--library_users == 0)
		ares_library_cleanup();
	free(r);
}

static void on_reply(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct q *q = arg;
	struct mg_ares *r = q->r;
	struct mg_dns_answer *ans = NULL;

	(void)timeouts;
	r->pending--;
	if (status == ARES_EDESTRUCTION || !r->answer) {
		free(q);
		return;
	}
	/* NXDOMAIN and NODATA come with the response (status ENOTFOUND / ENODATA): read it either way. */
	if (abuf && alen > 0)
		mg_dns_parse(abuf, (size_t)alen, q->type, &ans);
	else
		ans = mg_dns_answer_new(MG_DNS_TEMPFAIL, 0);
	if (ans)
		r->answer(r->answer_arg, q->name, q->type, ans);
	free(q);
}

int mg_ares_query(struct mg_ares *r, const char *name, uint16_t type)
{
	size_t n = strlen(name);
	struct q *q = malloc(sizeof(*q) + n + 1);

	if (!q)
		return -ENOMEM;
	q->r = r;
	q->type = type;
	memcpy(q->name, name, n + 1);
	r->pending++;
	ares_query(r->ch, name, ns_c_in, type, on_reply, q);
	return 0;
}

void mg_ares_process(struct mg_ares *r, int fd, bool readable, bool writable)
{
	ares_process_fd(r->ch, readable ? fd : ARES_SOCKET_BAD, writable ? fd : ARES_SOCKET_BAD);
}

int mg_ares_timeout_ms(struct mg_ares *r)
{
	struct timeval tv, *t;

	if (!r->pending)
		return -1;
	t = ares_timeout(r->ch, NULL, &tv);
	if (!t)
		return -1;
	return (int)(t->tv_sec * 1000 + (t->tv_usec + 999) / 1000);
}

bool mg_ares_wait(struct mg_ares *r, int max_ms)
{
	ares_socket_t socks[ARES_GETSOCK_MAXNUM];
	struct pollfd pfd[ARES_GETSOCK_MAXNUM];
	int n = 0;

	if (!r->pending)
		return false;
	int bits = ares_getsock(r->ch, socks, ARES_GETSOCK_MAXNUM);
	for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
		short ev = (short)((ARES_GETSOCK_READABLE(bits, i) ? POLLIN : 0) | (ARES_GETSOCK_WRITABLE(bits, i) ? POLLOUT : 0));
		if (!ev)
			continue;
		pfd[n].fd = socks[i];
		pfd[n].events = ev;
		pfd[n].revents = 0;
		n++;
	}
	int t = mg_ares_timeout_ms(r);
	if (t < 0 || t > max_ms)
		t = max_ms;
	int k = poll(pfd, (nfds_t)n, t);
	if (k <= 0) {
		ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
		return true;
	}
	for (int i = 0; i < n; i++)
		if (pfd[i].revents)
			ares_process_fd(r->ch, pfd[i].revents & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd : ARES_SOCKET_BAD,
					pfd[i].revents & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD);
	return true;
}
