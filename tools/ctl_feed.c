// SPDX-License-Identifier: GPL-2.0-only
/*
 * ctl_feed.c - mtaguardctl import and export: a CIDR list read and checked
 * here, whole, before the daemon hears of it, then sent in pieces under the
 * control socket's request limit (see user/mg_daemon_feed.c for why).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "ctl_fail.h"
#include "ctl_feed.h"
#include "mg_cidr_list.h"
#include "mg_clock.h"
#include "mg_ctlsock.h"
#include "mg_log.h"

/* A piece's prefixes and line numbers, kept well under the socket's 64 KiB request. */
#define PIECE_BYTES 60000
/* Progress lines from this many prefixes on (or always, on a terminal). */
#define PROGRESS_FROM 10000

static int status_exit(enum mg_ctl_status st)
{
	return st == MG_CTL_DENIED ? 4 : (st == MG_CTL_TRUNCATED || st == MG_CTL_UNREADABLE || st == MG_CTL_TIMEOUT) ? 5 : 3;
}

/* One request; NULL (and *rc set, the reason printed) when it failed or was refused. */
static json_t *ask(const char *sock, json_t *req, int *rc)
{
	enum mg_ctl_status st;
	char err[512];
	json_t *r = mg_ctl_request(sock, req, MG_CTL_CLIENT_TIMEOUT_MS, &st, err, sizeof(err));

	json_decref(req);
	if (!r) {
		*rc = ctl_fail(status_exit(st), "%s: %s", mg_ctl_status_name(st), err);
		return NULL;
	}
	if (!json_is_true(json_object_get(r, "ok"))) {
		const char *e = json_string_value(json_object_get(r, "error"));
		*rc = ctl_fail(1, "%s", e ? e : "refused");
		json_decref(r);
		return NULL;
	}
	return r;
}

static double secs(uint64_t from)
{
	return (double)(mg_mono_ns() - from) / 1e9;
}

/* Read the whole list: 0, or 2 with FILE:LINE:COLUMN: why. */
static int read_list(const char *file, struct mg_cidr_parser *p)
{
	struct mg_cidr_error e;
	char buf[65536];
	int fd = strcmp(file, "-") ? open(file, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	ssize_t n;

	if (fd < 0)
		return ctl_fail(2, "%s: %s", file, strerror(errno));
	mg_cidr_parser_init(p);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ctl_fail(2, "%s: %s", file, strerror(errno));
			goto fail;
		}
		if (mg_cidr_parser_feed(p, buf, (size_t)n, &e))
			goto bad;
	}
	if (mg_cidr_parser_finish(p, &e))
		goto bad;
	if (fd != STDIN_FILENO)
		close(fd);
	return 0;
bad:
	ctl_fail(2, "%s:%u:%u: %s; nothing imported", strcmp(file, "-") ? file : "(stdin)", e.line, e.column, e.msg);
fail:
	if (fd != STDIN_FILENO)
		close(fd);
	mg_cidr_parser_free(p);
	return 2;
}

static int drop(const struct ctl_import_opts *o)
{
	int rc = 0;
	json_t *r = ask(o->sock, json_pack("{s:s,s:s,s:s}", "cmd", "import", "op", "drop", "origin", o->origin), &rc);

	if (!r)
		return rc;
	if (o->json)
		printf("{\"ok\":true,\"done\":\"drop\",\"origin\":\"%s\"}\n", o->origin); /* a checked name: no quoting needed */
	else
		printf("dropped the imported list '%s'\n", o->origin);
	json_decref(r);
	return 0;
}

int ctl_import(const struct ctl_import_opts *o)
{
	struct mg_cidr_parser p;
	uint64_t t0 = mg_mono_ns();
	int rc = 0;

	if (o->drop)
		return drop(o);
	if ((rc = read_list(o->file, &p)))
		return rc;
	bool talk = p.n >= PROGRESS_FROM || isatty(STDERR_FILENO);
	if (talk)
		fprintf(stderr, "import: read %zu prefixes (%u lines) in %.2f s\n", p.n, p.line, secs(t0));

	json_t *req = json_pack("{s:s,s:s,s:s,s:b}", "cmd", "import", "op", "begin", "origin", o->origin, "sync", o->sync);
	if (o->action)
		json_object_set_new(req, "action", json_string(o->action));
	if (o->ttl)
		json_object_set_new(req, "ttl", json_string(o->ttl));
	json_t *r = ask(o->sock, req, &rc);
	if (!r)
		goto out;
	char id[40];
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(r, "import")) ?: "");
	json_decref(r);

	size_t i = 0, last_said = 0;
	while (i < p.n) {
		json_t *pre = json_array(), *lines = json_array();
		size_t bytes = 128;
		char buf[MG_ADDRSTRLEN];
		for (; i < p.n && bytes < PIECE_BYTES; i++) {
			mg_prefix_str(&p.v[i].prefix, buf, sizeof(buf));
			json_array_append_new(pre, json_string(buf));
			json_array_append_new(lines, json_integer(p.v[i].line));
			bytes += strlen(buf) + 4 + 11;
		}
		r = ask(o->sock, json_pack("{s:s,s:s,s:s,s:o,s:o}", "cmd", "import", "op", "add", "import", id, "prefixes",
					   pre, "lines", lines), &rc);
		if (!r) {
			mg_err("nothing of %s is imported", o->file);
			goto out;
		}
		json_decref(r);
		if (talk && (i - last_said >= p.n / 10 || i == p.n)) {
			fprintf(stderr, "import: sent %zu/%zu\n", i, p.n);
			last_said = i;
		}
	}
	r = ask(o->sock, json_pack("{s:s,s:s,s:s}", "cmd", "import", "op", "commit", "import", id), &rc);
	if (!r)
		goto out;
	long long added = json_integer_value(json_object_get(r, "added")),
		  kept = json_integer_value(json_object_get(r, "kept")),
		  removed = json_integer_value(json_object_get(r, "removed")),
		  total = json_integer_value(json_object_get(r, "total")),
		  unique = json_integer_value(json_object_get(r, "unique"));
	double commit_ms = json_real_value(json_object_get(r, "commit_ms"));
	/* In force once the daemon has carried every touched prefix into the kernel. */
	double save_ms = 0, step_ms = 0, slice_ms = 0;
	while (!json_is_true(json_object_get(r, "done"))) {
		if (talk)
			fprintf(stderr, "import: applied %lld/%lld\n", (long long)json_integer_value(json_object_get(r, "applied")),
				(long long)json_integer_value(json_object_get(r, "to_apply")));
		json_decref(r);
		struct timespec ts = { 0, 50 * 1000000 };
		nanosleep(&ts, NULL);
		r = ask(o->sock, json_pack("{s:s,s:s,s:s}", "cmd", "import", "op", "status", "import", id), &rc);
		if (!r)
			goto out;
	}
	save_ms = json_real_value(json_object_get(r, "save_ms"));
	step_ms = json_real_value(json_object_get(r, "step_max_ms"));
	slice_ms = json_real_value(json_object_get(r, "slice_max_ms"));
	json_decref(r);
	if (o->json)
		printf("{\"ok\":true,\"origin\":\"%s\",\"read\":%zu,\"unique\":%lld,\"added\":%lld,\"kept\":%lld,"
		       "\"removed\":%lld,\"total\":%lld,\"commit_ms\":%.1f,\"save_ms\":%.1f,\"step_max_ms\":%.1f,"
		       "\"slice_max_ms\":%.1f,\"seconds\":%.3f}\n",
		       o->origin, p.n, unique, added, kept, removed, total, commit_ms, save_ms, step_ms, slice_ms, secs(t0));
	else
		printf("imported %lld prefixes into '%s' (%lld new, %lld already there, %lld removed; %lld in all) in %.2f s\n",
		       unique, o->origin, added, kept, removed, total, secs(t0));
out:
	mg_cidr_parser_free(&p);
	return rc;
}

int ctl_export(const char *sock, const char *origin, const char *format)
{
	int rc = 0;
	json_t *r = ask(sock, json_pack("{s:s,s:s}", "cmd", "export", "origin", origin), &rc), *v;
	size_t i;

	if (!r)
		return rc;
	if (!strcmp(format, "json")) {
		json_object_del(r, "ok");
		json_dumpf(r, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else {
		/* What import reads back: the header and expiries are comments. */
		printf("; mtaguard export: origin %s, action %s, %lld prefixes, updated %s\n",
		       json_string_value(json_object_get(r, "origin")), json_string_value(json_object_get(r, "action")),
		       (long long)json_integer_value(json_object_get(r, "count")),
		       json_string_value(json_object_get(r, "updated")));
		json_array_foreach(json_object_get(r, "prefixes"), i, v) {
			const char *exp = json_string_value(json_object_get(v, "expires"));
			if (exp)
				printf("%s ; expires %s\n", json_string_value(json_object_get(v, "prefix")), exp);
			else
				printf("%s\n", json_string_value(json_object_get(v, "prefix")));
		}
	}
	json_decref(r);
	return 0; /* the caller checks that it got out (ctl_stdout_done) */
}
