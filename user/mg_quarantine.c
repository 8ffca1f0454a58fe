// SPDX-License-Identifier: GPL-2.0-only
/* mg_quarantine.c - mtaguard's held mail on a Postfix relay (see mg_quarantine.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg_atomic_file.h"
#include "mg_clock.h"
#include "mg_eventlog.h"
#include "mg_quarantine.h"

#define COMPLAIN_EVERY_NS (60 * MG_NSEC_PER_SEC)

/* A warning for the operator through the daemon's log, if there is one, and if this kind's gate is open. */
__attribute__((format(printf, 3, 4))) static void complain(struct mg_quarantine *q, struct mg_log_gate *gate,
							   const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!q->log || !mg_log_gate_pass(gate, mg_mono_ns(), COMPLAIN_EVERY_NS))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mg_eventlog_warning(q->log, "quarantine", "%s", msg);
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

	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < q->n; i++) {
		const struct mg_held *h = &q->v[i];
		/* A record short of memory fails the save: a file without it would forget it at the next start. */
		if (json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:b}", "queue_id",
							 h->queue_id, "client", h->client, "sender", h->sender,
							 "recipients", h->rcpts, "reason", h->reason, "signature",
							 h->signature, "held_ns", (json_int_t)h->held_wall_ns, "scan",
							 h->scan, "infected", h->infected))) {
			json_decref(arr);
			return -ENOMEM;
		}
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

/*
 * The records written, or the failure told (a full disk, say): they stay
 * in memory, whole, and the next change or list (the expiry's, once a
 * minute) writes them again. Only a restart before that loses what changed.
 */
static void store(struct mg_quarantine *q)
{
	int e = save(q);

	q->unsaved = e != 0;
	if (e)
		complain(q, &q->save_said, "the quarantine's records could not be written to %s: %s; kept in memory "
			 "and written again at the next change or list", q->path, strerror(-e));
}

static void copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/* The length of the UTF-8 character at s (n bytes left), 0 if none: jansson's rules (no overlong forms, surrogates). */
static size_t utf8_char(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * A record's text (what Postfix passed on from the client: sender,
 * recipients), as valid UTF-8: a byte that is not becomes '?', and a
 * character that does not fit whole is left out. jansson takes nothing
 * else, and a record it refused was left out of the records file, to be
 * forgotten at the next start.
 */
static void copy_text(char *dst, size_t len, const char *src)
{
	const unsigned char *s = (const unsigned char *)(src ? src : "");
	size_t o = 0, n = strlen((const char *)s);

	while (*s && len && o < len - 1) {
		size_t c = utf8_char(s, n);
		if (!c) {
			dst[o++] = '?';
			s++, n--;
			continue;
		}
		if (o + c > len - 1)
			break;
		memcpy(dst + o, s, c);
		o += c, s += c, n -= c;
	}
	if (len)
		dst[o] = '\0';
}

/*
 * The saved records, or NULL. Opened without blocking and read only if a
 * regular file: a FIFO planted at the path would otherwise hold the daemon's
 * start until someone writes to it.
 */
/* The records file's array; NULL and *damaged when the file is there but is no regular file holding one. */
static json_t *load_records(const char *path, bool *damaged)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	struct stat st;
	json_t *arr = NULL;

	*damaged = false;
	if (fd < 0) {
		*damaged = errno != ENOENT; /* none yet is the usual first start */
		return NULL;
	}
	if (!fstat(fd, &st) && S_ISREG(st.st_mode))
		arr = json_loadfd(fd, 0, NULL);
	close(fd);
	if (!json_is_array(arr)) {
		json_decref(arr);
		*damaged = true;
		return NULL;
	}
	return arr;
}

/*
 * A held message into the records, or its recipient added to its record; NULL
 * when the ID is not one or there is no memory. Nothing is written.
 */
static struct mg_held *add(struct mg_quarantine *q, const char *queue_id, const char *client, const char *sender,
			   const char *recipient, const char *reason, const char *signature, uint64_t wall_ns)
{
	struct mg_held *h = NULL;

	if (!mg_q_valid_id(queue_id))
		return NULL;
	for (size_t i = 0; i < q->n && !h; i++)
		if (!strcmp(q->v[i].queue_id, queue_id))
			h = &q->v[i];
	if (!h) {
		if (q->n == q->cap) {
			size_t cap = q->cap ? q->cap * 2 : 64;
			struct mg_held *v = realloc(q->v, cap * sizeof(*v));
			if (!v)
				return NULL;
			q->v = v;
			q->cap = cap;
		}
		h = &q->v[q->n++];
		memset(h, 0, sizeof(*h));
		copy(h->queue_id, sizeof(h->queue_id), queue_id);
		copy_text(h->client, sizeof(h->client), client);
		copy_text(h->sender, sizeof(h->sender), sender);
		copy_text(h->reason, sizeof(h->reason), reason);
		copy_text(h->signature, sizeof(h->signature), signature);
		h->held_wall_ns = wall_ns;
	}
	char rcpt[sizeof(h->rcpts)];
	copy_text(rcpt, sizeof(rcpt), recipient); /* as it would be kept: so a second call finds it */
	if (rcpt[0] && !strstr(h->rcpts, rcpt)) {
		size_t l = strlen(h->rcpts);
		if (l && l + 1 < sizeof(h->rcpts))
			h->rcpts[l++] = ',';
		copy_text(h->rcpts + l, sizeof(h->rcpts) - l, rcpt);
	}
	return h;
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
	mg_clamav_init(&q->clam, clamd_config, NULL);
	json_t *arr = load_records(q->path, &q->damaged), *v;
	size_t i;
	/*
	 * Loaded, not saved: the file already holds these records. Saving as
	 * each came (mg_q_record) made a start O(N^2), a rename and two fsyncs
	 * a record (3000 took a minute, systemd's start timeout), and a start
	 * killed midway left a file of the first records only. One that is
	 * left out (no valid queue ID) stays in the file until the next save.
	 * The room for all comes first: a load short of memory stops at once
	 * rather than keeping some.
	 */
	if (json_array_size(arr)) {
		q->v = malloc(json_array_size(arr) * sizeof(*q->v));
		if (!q->v) {
			json_decref(arr);
			return -ENOMEM;
		}
		q->cap = json_array_size(arr);
	}
	json_array_foreach(arr, i, v) {
		const char *id = json_string_value(json_object_get(v, "queue_id"));
		struct mg_held *h = add(q, id, json_string_value(json_object_get(v, "client")),
					json_string_value(json_object_get(v, "sender")),
					json_string_value(json_object_get(v, "recipients")),
					json_string_value(json_object_get(v, "reason")),
					json_string_value(json_object_get(v, "signature")),
					(uint64_t)json_integer_value(json_object_get(v, "held_ns")));
		if (!h) {
			q->refused++;
			continue;
		}
		/* A verdict of malware outlives a restart: such a message is never released. */
		copy_text(h->scan, sizeof(h->scan), json_string_value(json_object_get(v, "scan")));
		h->infected = json_is_true(json_object_get(v, "infected"));
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
	if (add(q, queue_id, client, sender, recipient, reason, signature, wall_ns))
		store(q);
	else if (mg_q_valid_id(queue_id))
		complain(q, &q->oom_said, "out of memory: held message %s not recorded (it stays in Postfix's hold "
			 "queue, unknown to mtaguard: release or delete it with postsuper)", queue_id);
}

void mg_q_tool_argv(const struct mg_quarantine *q, const char *tool, const char *a1, const char *a2, struct mg_q_argv *a)
{
	int n = 0;

	snprintf(a->path, sizeof(a->path), "%s/%s", q->sbin, tool);
	/*
	 * postcat opens queue files as whoever runs it, and they are the mail
	 * owner's alone: root would need CAP_DAC_READ_SEARCH (read anything).
	 * Run as root, it runs as the mail owner instead (setpriv: setuid and
	 * setgid, the rights the relay drop-in gives for postsuper anyway).
	 * postsuper switches by itself; postqueue needs only group postdrop.
	 */
	if (!strcmp(tool, "postcat") && q->postcat_user[0] && geteuid() == 0) {
		snprintf(a->reuid, sizeof(a->reuid), "--reuid=%s", q->postcat_user);
		snprintf(a->regid, sizeof(a->regid), "--regid=%s", q->postcat_user);
		a->argv[n++] = MG_SETPRIV;
		a->argv[n++] = a->reuid;
		a->argv[n++] = a->regid;
		a->argv[n++] = "--clear-groups";
	}
	a->argv[n++] = a->path;
	if (q->postfix_config[0]) {
		a->argv[n++] = "-c";
		a->argv[n++] = (char *)q->postfix_config;
	}
	snprintf(a->a1, sizeof(a->a1), "%s", a1 ? a1 : "");
	snprintf(a->a2, sizeof(a->a2), "%s", a2 ? a2 : "");
	if (a1)
		a->argv[n++] = a->a1;
	if (a2)
		a->argv[n++] = a->a2;
	a->argv[n] = NULL;
}

/* A Postfix tool, waited for. */
static int postfix(struct mg_quarantine *q, const char *tool, const char *a1, const char *a2, char *out, size_t outlen,
		   size_t *got)
{
	struct mg_q_argv a;

	mg_q_tool_argv(q, tool, a1, a2, &a);
	return mg_run(a.argv, NULL, 0, out, outlen, got, MG_Q_TOOL_TIMEOUT_S);
}

json_t *mg_q_list(struct mg_quarantine *q, uint64_t now_wall, char *err, size_t errlen)
{
	char *out = malloc(MG_Q_LIST_MAX + 1);
	size_t got = 0;

	if (!out) {
		snprintf(err, errlen, "postqueue -j not run: out of memory");
		return NULL;
	}
	int rc = postfix(q, "postqueue", "-j", NULL, out, MG_Q_LIST_MAX + 1, &got);
	/* A full buffer cannot tell "exactly this much" from "cut here": taken as cut, which forgets nothing. */
	json_t *l = mg_q_list_parse(q, rc, out, got >= MG_Q_LIST_MAX, now_wall, err, errlen);
	free(out);
	return l;
}

/* Whether the line may be a message in the hold queue: most of a big queue is skipped without parsing its JSON. */
static bool maybe_held(const char *line)
{
	return strstr(line, "\"hold\"") != NULL;
}

json_t *mg_q_list_parse(struct mg_quarantine *q, int rc, char *out, bool truncated, uint64_t now_wall, char *err,
			size_t errlen)
{
	if (rc) {
		snprintf(err, errlen, "postqueue -j failed (%d)%s", rc,
			 rc == -ENOENT ? ": is Postfix installed?" : rc == -ETIMEDOUT ? ": it did not answer in time" : "");
		return NULL;
	}
	/* One JSON object per line; keep our records whose message is still in the hold queue. */
	json_t *arr = json_array();
	size_t kept = 0;
	bool *held = calloc(q->n ? q->n : 1, sizeof(*held));
	if (!held) { /* which are still held cannot be told: an error, and nothing forgotten */
		json_decref(arr);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		if (!maybe_held(line))
			continue;
		/* A line cut short at the end of a truncated output is no JSON: skipped as any unreadable line. */
		json_t *m = json_loads(line, 0, NULL);
		const char *id = json_string_value(json_object_get(m, "queue_id"));
		const char *qn = json_string_value(json_object_get(m, "queue_name"));
		for (size_t i = 0; id && qn && !strcmp(qn, "hold") && i < q->n; i++)
			if (!strcmp(q->v[i].queue_id, id))
				held[i] = true;
		json_decref(m);
	}
	for (size_t i = 0; i < q->n; i++) {
		const struct mg_held *h = &q->v[i];
		if (!held[i]) {
			/*
			 * Released, delivered or deleted since: no longer ours to show,
			 * and forgotten. Unless just recorded: Postfix puts a message on
			 * hold only after our answer, and a list begun before (it runs
			 * while the loop answers Postfix) cannot show it yet. Unless the
			 * list was cut: the message may be past the cut, still held, and
			 * a record forgotten is a message no one releases or expires.
			 */
			if (truncated || h->held_wall_ns + MG_Q_UNLISTED_GRACE_NS > now_wall)
				q->v[kept++] = *h;
			continue;
		}
		/* Recorded after the list began: age 0, not an unsigned wrap that would expire it at once. */
		uint64_t age = now_wall > h->held_wall_ns ? now_wall - h->held_wall_ns : 0;
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s?,s:I,s:s?}", "queue_id", h->queue_id,
						     "client", h->client, "sender", h->sender, "recipients", h->rcpts,
						     "reason", h->reason, "signature", h->signature[0] ? h->signature : NULL,
						     "age_s", (json_int_t)(age / 1000000000ull), "scan", h->scan[0] ? h->scan : NULL));
		q->v[kept++] = *h;
	}
	if (kept != q->n || q->unsaved) {
		q->n = kept;
		store(q);
	}
	free(held);
	if (truncated)
		complain(q, &q->cut_said, "postqueue -j wrote more than %u MiB (a big mail queue): held mail past that "
			 "is not listed, re-scanned, expired or released by signature until the queue is smaller; "
			 "no record is forgotten meanwhile", MG_Q_LIST_MAX >> 20);
	return arr;
}

void mg_q_forget(struct mg_quarantine *q, const char *id)
{
	for (size_t i = 0; i < q->n; i++)
		if (!strcmp(q->v[i].queue_id, id)) {
			q->v[i] = q->v[--q->n];
			store(q);
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

void mg_q_scan_record(struct mg_quarantine *q, const char *queue_id, enum mg_scan_result r, const char *what)
{
	struct mg_held *h = mg_q_find(q, queue_id);

	if (!h || (r != MG_SCAN_CLEAN && r != MG_SCAN_INFECTED))
		return; /* gone meanwhile (released, deleted), or no verdict: nothing to remember */
	char scan[sizeof(h->scan)];
	snprintf(scan, sizeof(scan), "%s%s", r == MG_SCAN_INFECTED ? "infected: " : "", r == MG_SCAN_INFECTED ? what : "clean");
	copy_text(h->scan, sizeof(h->scan), scan);
	h->infected = r == MG_SCAN_INFECTED;
	store(q);
}

enum mg_scan_result mg_q_postcat_verdict(const char *queue_id, int status, char *what, size_t wlen)
{
	if (!status)
		return MG_SCAN_CLEAN; /* the message is there: on to the scan */
	snprintf(what, wlen, "postcat -q %s failed (%d)%s", queue_id, status,
		 status == -ETIMEDOUT ? ": it did not answer in time" : "");
	return MG_SCAN_FAILED;
}

/* Scan a held message (postcat -bhq: headers and body, as delivered); the verdict is recorded. */
static enum mg_scan_result scan_held(struct mg_quarantine *q, struct mg_held *h, char *what, size_t wlen)
{
	size_t got;
	char *msg = malloc(MG_Q_MESSAGE_MAX + 1), id[sizeof(h->queue_id)];
	enum mg_scan_result r;

	if (!msg) {
		snprintf(what, wlen, "out of memory");
		return MG_SCAN_FAILED;
	}
	snprintf(id, sizeof(id), "%s", h->queue_id);
	int rc = postfix(q, "postcat", "-bhq", id, msg, MG_Q_MESSAGE_MAX + 1, &got);
	r = mg_q_postcat_verdict(id, rc, what, wlen);
	if (r == MG_SCAN_CLEAN)
		r = mg_clamav_scan(&q->clam, msg, got, what, wlen);
	free(msg);
	mg_q_scan_record(q, id, r, what);
	return r;
}

int mg_q_held_check(struct mg_quarantine *q, const char *queue_id, char *err, size_t errlen)
{
	if (mg_q_valid_id(queue_id) && ours(q, queue_id))
		return 0;
	snprintf(err, errlen, "%s is not a message mtaguard holds", queue_id);
	return -ENOENT;
}

int mg_q_rescan_check(struct mg_quarantine *q, const char *queue_id, char *what, size_t wlen)
{
	if (mg_q_held_check(q, queue_id, what, wlen))
		return -1;
	if (!mg_q_scans(q)) {
		snprintf(what, wlen, "not scanned: %s", q->clamav ? "clamdscan is not installed" : "quarantine.clamav is off");
		return -1;
	}
	return 0;
}

int mg_q_rescan(struct mg_quarantine *q, const char *queue_id, char *what, size_t wlen)
{
	if (mg_q_rescan_check(q, queue_id, what, wlen))
		return -1;
	return mg_q_rescan_result(scan_held(q, mg_q_find(q, queue_id), what, wlen));
}

bool mg_q_scans(const struct mg_quarantine *q)
{
	return q->clamav && mg_clamav_present(&q->clam);
}

int mg_q_rescan_result(enum mg_scan_result r)
{
	return r == MG_SCAN_INFECTED ? 1 : r == MG_SCAN_CLEAN ? 0 : -1;
}

int mg_q_release_check(struct mg_quarantine *q, const char *queue_id, char *scan, size_t scanlen, char *err,
		       size_t errlen)
{
	snprintf(scan, scanlen, "not scanned");
	if (mg_q_held_check(q, queue_id, err, errlen))
		return -ENOENT;
	struct mg_held *h = mg_q_find(q, queue_id);
	if (h->infected) {
		/* Convicted before (at a release or a re-scan): never released, whatever a later scan says. */
		snprintf(scan, scanlen, "%s", h->scan);
		snprintf(err, errlen, "%s: not released: ClamAV found %s (delete it)", queue_id, h->scan + strlen("infected: "));
		return -EPERM;
	}
	if (q->clamav && !mg_clamav_present(&q->clam))
		snprintf(scan, scanlen, "not scanned: clamdscan is not installed");
	return 0;
}

int mg_q_release_scanned(const char *queue_id, enum mg_scan_result r, const char *what, char *scan, size_t scanlen,
			 char *err, size_t errlen)
{
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
	return 0;
}

int mg_q_tool_done(struct mg_quarantine *q, const char *queue_id, const char *what, int status, char *err, size_t errlen)
{
	if (status) {
		snprintf(err, errlen, "%s %s failed (%d)%s", what, queue_id, status,
			 status == -ETIMEDOUT ? ": it did not answer in time" : "");
		return -EIO;
	}
	mg_q_forget(q, queue_id);
	return 0;
}

int mg_q_release(struct mg_quarantine *q, const char *queue_id, char *scan, size_t scanlen, char *err, size_t errlen)
{
	int e = mg_q_release_check(q, queue_id, scan, scanlen, err, errlen);

	if (e)
		return e;
	if (mg_q_scans(q)) {
		char what[256];
		enum mg_scan_result r = scan_held(q, mg_q_find(q, queue_id), what, sizeof(what));
		e = mg_q_release_scanned(queue_id, r, what, scan, scanlen, err, errlen);
		if (e)
			return e;
	}
	int rc = postfix(q, "postsuper", "-H", queue_id, NULL, 0, NULL);
	if (rc)
		return mg_q_tool_done(q, queue_id, "postsuper -H", rc, err, errlen);
	/* Released mail lands in the deferred queue; ask for delivery now, not at the next queue run. */
	postfix(q, "postqueue", "-i", queue_id, NULL, 0, NULL);
	return mg_q_tool_done(q, queue_id, "postsuper -H", 0, err, errlen);
}

int mg_q_delete(struct mg_quarantine *q, const char *queue_id, char *err, size_t errlen)
{
	if (mg_q_held_check(q, queue_id, err, errlen))
		return -ENOENT;
	return mg_q_tool_done(q, queue_id, "postsuper -d", postfix(q, "postsuper", "-d", queue_id, NULL, 0, NULL), err,
			      errlen);
}
