// SPDX-License-Identifier: GPL-2.0-only
/* mg_quarantine.c - mtaguard's held mail on a Postfix relay (see mg_quarantine.h). */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mg_atomic_file.h"
#include "mg_quarantine.h"

extern char **environ;

#define MAX_MESSAGE (64u << 20) /* what postcat may hand the scanner */

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int mg_run(char *const argv[], const void *in, size_t inlen, char *out, size_t outlen, size_t *outgot, int timeout_s)
{
	return mg_run_ex(argv, in, inlen, out, outlen, outgot, timeout_s, false);
}

int mg_run_ex(char *const argv[], const void *in, size_t inlen, char *out, size_t outlen, size_t *outgot, int timeout_s,
	      bool with_stderr)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, status = 0;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	size_t got = 0, sent = 0;

	if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC)) {
		int e = -errno;
		for (int i = 0; i < 2; i++) {
			if (pin[i] >= 0)
				close(pin[i]);
			if (pout[i] >= 0)
				close(pout[i]);
		}
		return e;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	if (with_stderr)
		posix_spawn_file_actions_adddup2(&fa, pout[1], 2);
	int e = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pin[0]);
	close(pout[1]);
	if (e) {
		close(pin[1]);
		close(pout[0]);
		return -e;
	}
	fcntl(pin[1], F_SETFL, O_NONBLOCK);
	fcntl(pout[0], F_SETFL, O_NONBLOCK);
	if (!in || !inlen) {
		close(pin[1]);
		pin[1] = -1;
	}
	/* Feed stdin and drain stdout together: a big message must not deadlock the two pipes. */
	uint64_t deadline = mono_ms() + (uint64_t)timeout_s * 1000;
	while (pout[0] >= 0) {
		struct pollfd p[2] = { { .fd = pout[0], .events = POLLIN }, { .fd = pin[1], .events = POLLOUT } };
		uint64_t now = mono_ms();
		if (now >= deadline) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(p, pin[1] >= 0 ? 2 : 1, (int)(deadline - now)) < 0 && errno != EINTR)
			break;
		if (pin[1] >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(pin[1], (const char *)in + sent, inlen - sent);
			if (w > 0)
				sent += (size_t)w;
			if (w < 0 || sent == inlen) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			char sink[4096];
			char *dst = out && got + 1 < outlen ? out + got : sink;
			size_t room = out && got + 1 < outlen ? outlen - got - 1 : sizeof(sink);
			ssize_t r = read(pout[0], dst, room);
			if (r > 0 && dst != sink)
				got += (size_t)r;
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				close(pout[0]);
				pout[0] = -1;
			}
		}
	}
	if (pin[1] >= 0)
		close(pin[1]);
	if (pout[0] >= 0)
		close(pout[0]);
	if (out && outlen)
		out[got] = '\0';
	if (outgot)
		*outgot = got;
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	if (!WIFEXITED(status))
		return -ETIMEDOUT;
	return WEXITSTATUS(status);
}

bool mg_q_valid_id(const char *id)
{
	if (!id || !*id || strlen(id) >= sizeof(((struct mg_held *)0)->queue_id))
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

static int save(struct mg_quarantine *q)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < q->n; i++) {
		const struct mg_held *h = &q->v[i];
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:b}", "queue_id", h->queue_id,
						     "client", h->client, "sender", h->sender, "recipients", h->rcpts,
						     "reason", h->reason, "signature", h->signature, "held_ns",
						     (json_int_t)h->held_wall_ns, "scan", h->scan, "infected", h->infected));
	}
	char *text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (!text)
		return -ENOMEM;
	/* 0600, as the state file: senders and recipients are personal data. */
	int e = mg_atomic_write(q->path, text, strlen(text), 0600);
	free(text);
	return e;
}

static void copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/*
 * The saved records, or NULL. Opened without blocking and read only if a
 * regular file: a FIFO planted at the path would otherwise hold the daemon's
 * start until someone writes to it.
 */
static json_t *load_records(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	struct stat st;
	json_t *arr = NULL;

	if (fd < 0)
		return NULL;
	if (!fstat(fd, &st) && S_ISREG(st.st_mode))
		arr = json_loadfd(fd, 0, NULL);
	close(fd);
	return arr;
}

int mg_q_init(struct mg_quarantine *q, const char *records_path, const char *postfix_config, bool clamav,
	      const char *clamd_config)
{
	memset(q, 0, sizeof(*q));
	copy(q->path, sizeof(q->path), records_path);
	copy(q->postfix_config, sizeof(q->postfix_config), postfix_config);
	copy(q->sbin, sizeof(q->sbin), "/usr/sbin");
	copy(q->postcat_user, sizeof(q->postcat_user), "postfix");
	q->clamav = clamav;
	mg_clamav_init(&q->clam, clamd_config);
	json_t *arr = load_records(q->path), *v;
	size_t i;
	json_array_foreach(arr, i, v) {
		const char *id = json_string_value(json_object_get(v, "queue_id"));
		if (!mg_q_valid_id(id))
			continue;
		mg_q_record(q, id, json_string_value(json_object_get(v, "client")),
			    json_string_value(json_object_get(v, "sender")),
			    json_string_value(json_object_get(v, "recipients")),
			    json_string_value(json_object_get(v, "reason")),
			    json_string_value(json_object_get(v, "signature")),
			    (uint64_t)json_integer_value(json_object_get(v, "held_ns")));
		/* A verdict of malware outlives a restart: such a message is never released. */
		struct mg_held *h = mg_q_find(q, id);
		if (h) {
			copy(h->scan, sizeof(h->scan), json_string_value(json_object_get(v, "scan")));
			h->infected = json_is_true(json_object_get(v, "infected"));
		}
	}
	json_decref(arr);
	return 0;
}

void mg_q_free(struct mg_quarantine *q)
{
	free(q->v);
	q->v = NULL;
	q->n = q->cap = 0;
}

void mg_q_record(struct mg_quarantine *q, const char *queue_id, const char *client, const char *sender,
		 const char *recipient, const char *reason, const char *signature, uint64_t wall_ns)
{
	struct mg_held *h = NULL;

	if (!mg_q_valid_id(queue_id))
		return;
	for (size_t i = 0; i < q->n && !h; i++)
		if (!strcmp(q->v[i].queue_id, queue_id))
			h = &q->v[i];
	if (!h) {
		if (q->n == q->cap) {
			size_t cap = q->cap ? q->cap * 2 : 64;
			struct mg_held *v = realloc(q->v, cap * sizeof(*v));
			if (!v)
				return;
			q->v = v;
			q->cap = cap;
		}
		h = &q->v[q->n++];
		memset(h, 0, sizeof(*h));
		copy(h->queue_id, sizeof(h->queue_id), queue_id);
		copy(h->client, sizeof(h->client), client);
		copy(h->sender, sizeof(h->sender), sender);
		copy(h->reason, sizeof(h->reason), reason);
		copy(h->signature, sizeof(h->signature), signature);
		h->held_wall_ns = wall_ns;
	}
	if (recipient && *recipient && !strstr(h->rcpts, recipient)) {
		size_t l = strlen(h->rcpts);
		snprintf(h->rcpts + l, sizeof(h->rcpts) - l, "%s%s", l ? "," : "", recipient);
	}
	save(q);
}

/* argv for a Postfix tool, with -c DIR when a config directory is set. */
static int postfix(struct mg_quarantine *q, const char *tool, const char *a1, const char *a2, const void *in,
		   size_t inlen, char *out, size_t outlen, size_t *got)
{
	char path[128], reuid[80], regid[80];
	char *argv[12];
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", q->sbin, tool);
	/*
	 * postcat opens queue files as whoever runs it, and they are the mail
	 * owner's alone: root would need CAP_DAC_READ_SEARCH (read anything).
	 * Run as root, it runs as the mail owner instead (setpriv: setuid and
	 * setgid, the rights the relay drop-in gives for postsuper anyway).
	 * postsuper switches by itself; postqueue needs only group postdrop.
	 */
	if (!strcmp(tool, "postcat") && q->postcat_user[0] && geteuid() == 0) {
		snprintf(reuid, sizeof(reuid), "--reuid=%s", q->postcat_user);
		snprintf(regid, sizeof(regid), "--regid=%s", q->postcat_user);
		argv[n++] = MG_SETPRIV;
		argv[n++] = reuid;
		argv[n++] = regid;
		argv[n++] = "--clear-groups";
	}
	argv[n++] = path;
	if (q->postfix_config[0]) {
		argv[n++] = "-c";
		argv[n++] = q->postfix_config;
	}
	if (a1)
		argv[n++] = (char *)a1;
	if (a2)
		argv[n++] = (char *)a2;
	argv[n] = NULL;
	return mg_run(argv, in, inlen, out, outlen, got, 30);
}

json_t *mg_q_list(struct mg_quarantine *q, uint64_t now_wall, char *err, size_t errlen)
{
	static char out[1 << 20];
	size_t got;
	int rc = postfix(q, "postqueue", "-j", NULL, NULL, 0, out, sizeof(out), &got);

	if (rc) {
		snprintf(err, errlen, "postqueue -j failed (%d)%s", rc, rc == -ENOENT ? ": is Postfix installed?" : "");
		return NULL;
	}
	/* One JSON object per line; keep our records whose message is still in the hold queue. */
	json_t *arr = json_array();
	size_t kept = 0;
	bool *held = calloc(q->n ? q->n : 1, sizeof(*held));
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *m = json_loads(line, 0, NULL);
		const char *id = json_string_value(json_object_get(m, "queue_id"));
		const char *qn = json_string_value(json_object_get(m, "queue_name"));
		for (size_t i = 0; id && qn && !strcmp(qn, "hold") && i < q->n; i++)
			if (!strcmp(q->v[i].queue_id, id))
				held[i] = true;
		json_decref(m);
	}
	for (size_t i = 0; i < q->n; i++) {
		if (!held[i])
			continue; /* released, delivered or deleted since: no longer ours to show */
		const struct mg_held *h = &q->v[i];
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s?,s:I,s:s?}", "queue_id", h->queue_id,
						     "client", h->client, "sender", h->sender, "recipients", h->rcpts,
						     "reason", h->reason, "signature", h->signature[0] ? h->signature : NULL,
						     "age_s", (json_int_t)((now_wall - h->held_wall_ns) / 1000000000ull),
						     "scan", h->scan[0] ? h->scan : NULL));
		q->v[kept++] = *h;
	}
	if (kept != q->n) {
		q->n = kept;
		save(q);
	}
	free(held);
	return arr;
}

static void forget(struct mg_quarantine *q, const char *id)
{
	for (size_t i = 0; i < q->n; i++)
		if (!strcmp(q->v[i].queue_id, id)) {
			q->v[i] = q->v[--q->n];
			save(q);
			return;
		}
}

struct mg_held *mg_q_find(struct mg_quarantine *q, const char *queue_id)
{
	for (size_t i = 0; i < q->n; i++)
		if (!strcmp(q->v[i].queue_id, queue_id))
			return &q->v[i];
	return NULL;
}

static bool ours(struct mg_quarantine *q, const char *id)
{
	return mg_q_find(q, id) != NULL;
}

/* Scan a held message (postcat -bhq: headers and body, as delivered); the verdict is recorded. */
static enum mg_scan_result scan_held(struct mg_quarantine *q, struct mg_held *h, char *what, size_t wlen)
{
	size_t got;
	char *msg = malloc(MAX_MESSAGE);
	enum mg_scan_result r;

	if (!msg) {
		snprintf(what, wlen, "out of memory");
		return MG_SCAN_FAILED;
	}
	int rc = postfix(q, "postcat", "-bhq", h->queue_id, NULL, 0, msg, MAX_MESSAGE, &got);
	if (rc) {
		snprintf(what, wlen, "postcat -q %s failed (%d)", h->queue_id, rc);
		r = MG_SCAN_FAILED;
	} else {
		r = mg_clamav_scan(&q->clam, msg, got, what, wlen);
	}
	free(msg);
	if (r == MG_SCAN_CLEAN || r == MG_SCAN_INFECTED) {
		snprintf(h->scan, sizeof(h->scan), "%s%s", r == MG_SCAN_INFECTED ? "infected: " : "",
			 r == MG_SCAN_INFECTED ? what : "clean");
		h->infected = r == MG_SCAN_INFECTED;
		save(q);
	}
	return r;
}

int mg_q_rescan(struct mg_quarantine *q, const char *queue_id, char *what, size_t wlen)
{
	struct mg_held *h = mg_q_find(q, queue_id);

	if (!h) {
		snprintf(what, wlen, "%s is not a message mtaguard holds", queue_id);
		return -1;
	}
	if (!q->clamav || !mg_clamav_present(&q->clam)) {
		snprintf(what, wlen, "not scanned: %s", q->clamav ? "clamdscan is not installed" : "quarantine.clamav is off");
		return -1;
	}
	enum mg_scan_result r = scan_held(q, h, what, wlen);
	return r == MG_SCAN_INFECTED ? 1 : r == MG_SCAN_CLEAN ? 0 : -1;
}

int mg_q_release(struct mg_quarantine *q, const char *queue_id, char *scan, size_t scanlen, char *err, size_t errlen)
{
	snprintf(scan, scanlen, "not scanned");
	if (!mg_q_valid_id(queue_id) || !ours(q, queue_id)) {
		snprintf(err, errlen, "%s is not a message mtaguard holds", queue_id);
		return -ENOENT;
	}
	struct mg_held *h = mg_q_find(q, queue_id);
	if (h->infected) {
		/* Convicted before (at a release or a re-scan): never released, whatever a later scan says. */
		snprintf(scan, scanlen, "%s", h->scan);
		snprintf(err, errlen, "%s: not released: ClamAV found %s (delete it)", queue_id, h->scan + strlen("infected: "));
		return -EPERM;
	}
	if (q->clamav && mg_clamav_present(&q->clam)) {
		char what[256];
		enum mg_scan_result r = scan_held(q, h, what, sizeof(what));
		/* Only a clean scan releases. */
		if (r == MG_SCAN_INFECTED) {
			snprintf(scan, scanlen, "infected: %s", what);
			snprintf(err, errlen, "%s: not released: ClamAV found %s (delete it)", queue_id, what);
			return -EPERM;
		}
		if (r != MG_SCAN_CLEAN) {
			snprintf(scan, scanlen, "failed");
			snprintf(err, errlen, "%s: not released: %s", queue_id, what);
			return -EIO;
		}
		snprintf(scan, scanlen, "clean");
	} else if (q->clamav) {
		snprintf(scan, scanlen, "not scanned: clamdscan is not installed");
	}
	int rc = postfix(q, "postsuper", "-H", queue_id, NULL, 0, NULL, 0, NULL);
	if (rc) {
		snprintf(err, errlen, "postsuper -H %s failed (%d)", queue_id, rc);
		return -EIO;
	}
	/* Released mail lands in the deferred queue; ask for delivery now, not at the next queue run. */
	postfix(q, "postqueue", "-i", queue_id, NULL, 0, NULL, 0, NULL);
	forget(q, queue_id);
	return 0;
}

int mg_q_delete(struct mg_quarantine *q, const char *queue_id, char *err, size_t errlen)
{
	if (!mg_q_valid_id(queue_id) || !ours(q, queue_id)) {
		snprintf(err, errlen, "%s is not a message mtaguard holds", queue_id);
		return -ENOENT;
	}
	int rc = postfix(q, "postsuper", "-d", queue_id, NULL, 0, NULL, 0, NULL);
	if (rc) {
		snprintf(err, errlen, "postsuper -d %s failed (%d)", queue_id, rc);
		return -EIO;
	}
	forget(q, queue_id);
	return 0;
}
