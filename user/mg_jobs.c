// SPDX-License-Identifier: GPL-2.0-only
/* mg_jobs.c - external programs run without waiting for them (see mg_jobs.h). */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mg_clock.h"
#include "mg_jobs.h"

extern char **environ;

/*
 * Bytes moved per pipe per call of mg_jobs_work(): the loop's other work
 * goes on between two pieces of a big message (a pipe holds 64 KiB, so a
 * piece is a few reads or writes).
 */
#define PIECE (1u << 20)
#define OUT_FIRST (16u << 10) /* the output buffer's first size; doubled as needed up to out_max */
/* At mg_jobs_stop(): how long killed children are waited for before they are left behind. */
#define KILLED_WAIT_NS (1 * MG_NSEC_PER_SEC)

/* What an epoll event is about: the job's slot, which descriptor, and the job's generation (a stale event is dropped). */
enum job_fd { FD_PID, FD_IN, FD_OUT };

static uint64_t tag(unsigned slot, enum job_fd which, uint32_t gen)
{
	return (uint64_t)gen << 16 | slot << 2 | which;
}

int mg_jobs_init(struct mg_jobs *r)
{
	memset(r, 0, sizeof(*r));
	for (unsigned i = 0; i < MG_JOBS_MAX; i++)
		r->job[i].pidfd = r->job[i].in_fd = r->job[i].out_fd = -1;
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	return r->epfd < 0 ? -errno : 0;
}

int mg_jobs_fd(const struct mg_jobs *r)
{
	return r->epfd;
}

static void close_fd(struct mg_jobs *r, int *fd)
{
	if (*fd < 0)
		return;
	epoll_ctl(r->epfd, EPOLL_CTL_DEL, *fd, NULL);
	close(*fd);
	*fd = -1;
}

static void drop_input(struct mg_jobs *r, struct mg_job *j)
{
	close_fd(r, &j->in_fd);
	if (j->in_owned)
		free((void *)j->in);
	j->in = NULL;
	j->in_owned = false;
}

/* Ended: everything closed, the slot free again, then the owner told (it may start a job in this very slot). */
static void finish(struct mg_jobs *r, struct mg_job *j, int status)
{
	struct mg_job_result res = { .status = status, .out = j->out, .got = j->got, .truncated = j->truncated };
	mg_job_done_fn *done = j->done;
	void *arg = j->arg;

	drop_input(r, j);
	close_fd(r, &j->out_fd);
	close_fd(r, &j->pidfd);
	if (res.out)
		res.out[res.got] = '\0';
	j->out = NULL;
	j->busy = false;
	done(&res, arg);
	free(res.out);
}

static void feed(struct mg_jobs *r, struct mg_job *j)
{
	size_t moved = 0;

	while (j->in_fd >= 0 && moved < PIECE) {
		size_t n = j->inlen - j->sent;
		ssize_t w = write(j->in_fd, (const char *)j->in + j->sent, n < PIECE ? n : PIECE);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (w > 0) {
			j->sent += (size_t)w;
			moved += (size_t)w;
		}
		/* All given, or the child stopped reading (EPIPE): its end of file either way. */
		if (w <= 0 || j->sent == j->inlen)
			drop_input(r, j);
	}
}

/* Room for more output: the buffer grown (doubling, up to out_max and its NUL), or NULL when out_max is reached. */
static char *room(struct mg_job *j, size_t *len)
{
	if (j->got >= j->out_max)
		return NULL;
	if (j->got + 1 >= j->cap) {
		size_t cap = j->cap ? j->cap * 2 : OUT_FIRST;
		if (cap > j->out_max + 1)
			cap = j->out_max + 1;
		char *p = realloc(j->out, cap);
		if (!p)
			return NULL;
		j->out = p;
		j->cap = cap;
	}
	*len = j->cap - 1 - j->got;
	return j->out + j->got;
}

static void drain(struct mg_jobs *r, struct mg_job *j)
{
	char sink[4096];
	size_t moved = 0;

	while (j->out_fd >= 0 && moved < PIECE) {
		size_t len = sizeof(sink);
		char *dst = room(j, &len);
		ssize_t n = read(j->out_fd, dst ? dst : sink, dst ? len : sizeof(sink));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			close_fd(r, &j->out_fd);
			return;
		}
		moved += (size_t)n;
		if (dst)
			j->got += (size_t)n;
		else
			j->truncated = true;
	}
}

/* The child ended (its pidfd is readable): reaped; what it wrote before is still in the pipe, read now. */
static void reap(struct mg_jobs *r, struct mg_job *j)
{
	int st = 0;
	pid_t p = waitpid(j->pid, &st, WNOHANG);

	if (p == 0 || (p < 0 && errno == EINTR))
		return;
	if (!j->killed)
		drain(r, j); /* a pipe holds at most 64 KiB: one piece is all of it, whatever a grandchild still writes */
	int status = j->killed ? (j->cancelled ? -ECANCELED : -ETIMEDOUT)
		   : p < 0 ? -errno : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	finish(r, j, status);
}

/* Its whole process group: a shell's children would otherwise go on, holding the pipes open. */
static void kill_job(struct mg_jobs *r, struct mg_job *j, bool cancelled)
{
	kill(-j->pid, SIGKILL);
	j->killed = true;
	j->cancelled = cancelled;
	drop_input(r, j);
	close_fd(r, &j->out_fd);
}

int mg_spawnattr_init_clean(posix_spawnattr_t *at)
{
	sigset_t none, dfl;
	int e = posix_spawnattr_init(at);

	if (e)
		return e;
	/* The daemon blocks the signals it reads through a signalfd and ignores SIGPIPE: the child starts afresh. */
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGHUP);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGCHLD);
	posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(at, 0); /* its own group, killed whole at the deadline */
	posix_spawnattr_setsigmask(at, &none);
	posix_spawnattr_setsigdefault(at, &dfl);
	return 0;
}

static int spawn(const struct mg_job_spec *s, int pin[2], int pout[2], pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;

	int e = mg_spawnattr_init_clean(&at);
	if (e)
		return -e;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	if (s->with_stderr)
		posix_spawn_file_actions_adddup2(&fa, pout[1], 2);
	e = posix_spawn(pid, s->argv[0], &fa, &at, s->argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return -e;
}

static int watch(struct mg_jobs *r, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	return epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

int mg_jobs_start(struct mg_jobs *r, const struct mg_job_spec *s, uint64_t now, mg_job_done_fn *done, void *arg)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, e = 0;
	struct mg_job *j = NULL;
	unsigned slot;

	for (slot = 0; slot < MG_JOBS_MAX && !j; slot++)
		if (!r->job[slot].busy)
			j = &r->job[slot];
	slot--;
	if (r->stopping || !j) {
		if (s->in_owned)
			free((void *)s->in);
		return r->stopping ? -ECANCELED : -EBUSY;
	}
	if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC))
		e = -errno;
	pid_t pid = 0;
	if (!e)
		e = spawn(s, pin, pout, &pid);
	/* The child's ends are the child's alone now. */
	if (pin[0] >= 0)
		close(pin[0]);
	if (pout[1] >= 0)
		close(pout[1]);
	int pidfd = e ? -1 : pidfd_open(pid, 0);
	if (!e && pidfd < 0) {
		e = -errno;
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0); /* killed: at once */
	}
	if (e) {
		if (pin[1] >= 0)
			close(pin[1]);
		if (pout[0] >= 0)
			close(pout[0]);
		if (s->in_owned)
			free((void *)s->in);
		return e;
	}
	uint32_t gen = ++r->starts;
	*j = (struct mg_job){ .busy = true, .pid = pid, .pidfd = pidfd, .in_fd = pin[1], .out_fd = pout[0],
			      .in = s->in, .inlen = s->inlen, .in_owned = s->in_owned, .out_max = s->out_max,
			      .deadline = now + s->timeout_ns, .done = done, .arg = arg, .gen = gen };
	fcntl(j->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(j->out_fd, F_SETFL, O_NONBLOCK);
	/* Registered: a failure here (no memory) is the deadline's to end, not a leak. */
	watch(r, j->pidfd, EPOLLIN, tag(slot, FD_PID, gen));
	watch(r, j->out_fd, EPOLLIN, tag(slot, FD_OUT, gen));
	if (!s->in || !s->inlen)
		drop_input(r, j);
	else
		watch(r, j->in_fd, EPOLLOUT, tag(slot, FD_IN, gen));
	return 0;
}

void mg_jobs_work(struct mg_jobs *r, uint64_t now)
{
	struct epoll_event ev[3 * MG_JOBS_MAX];

	/* A few rounds at most: a child that writes as fast as it is read must not keep this call going. */
	for (int round = 0; round < 4; round++) {
		int n = epoll_wait(r->epfd, ev, (int)(sizeof(ev) / sizeof(ev[0])), 0);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			uint64_t t = ev[i].data.u64;
			unsigned slot = (t >> 2) & 0x3fff;
			struct mg_job *j = slot < MG_JOBS_MAX ? &r->job[slot] : NULL;
			if (!j || !j->busy || (uint32_t)(t >> 16) != j->gen)
				continue; /* ended earlier in this batch */
			switch ((enum job_fd)(t & 3)) {
			case FD_IN: feed(r, j); break;
			case FD_OUT: drain(r, j); break;
			case FD_PID: reap(r, j); break;
			}
		}
	}
	for (unsigned i = 0; i < MG_JOBS_MAX; i++) {
		struct mg_job *j = &r->job[i];
		if (j->busy && !j->killed && now >= j->deadline)
			kill_job(r, j, false); /* reaped when its pidfd says so: at once, unless it is stuck in the kernel */
	}
}

uint64_t mg_jobs_next_deadline(const struct mg_jobs *r)
{
	uint64_t t = MG_JOBS_NO_DEADLINE;

	for (unsigned i = 0; i < MG_JOBS_MAX; i++)
		if (r->job[i].busy && !r->job[i].killed && r->job[i].deadline < t)
			t = r->job[i].deadline;
	return t;
}

unsigned mg_jobs_running(const struct mg_jobs *r)
{
	unsigned n = 0;

	for (unsigned i = 0; i < MG_JOBS_MAX; i++)
		n += r->job[i].busy;
	return n;
}

/* Work until nothing runs or `until` (CLOCK_MONOTONIC ns) has come. */
static void work_until(struct mg_jobs *r, uint64_t until)
{
	for (uint64_t now = mg_mono_ns(); mg_jobs_running(r) && now < until; now = mg_mono_ns()) {
		uint64_t next = mg_jobs_next_deadline(r);
		uint64_t end = next < until ? next : until;
		struct pollfd p = { .fd = r->epfd, .events = POLLIN };
		poll(&p, 1, end > now ? (int)((end - now) / 1000000 + 1) : 0);
		mg_jobs_work(r, mg_mono_ns());
	}
}

void mg_jobs_stop(struct mg_jobs *r, uint64_t grace_ns)
{
	if (r->epfd < 0)
		return;
	r->stopping = true;
	work_until(r, mg_mono_ns() + grace_ns);
	for (unsigned i = 0; i < MG_JOBS_MAX; i++)
		if (r->job[i].busy && !r->job[i].killed)
			kill_job(r, &r->job[i], true);
	work_until(r, mg_mono_ns() + KILLED_WAIT_NS);
	/* Stuck in the kernel even after SIGKILL: left behind (the zombie goes with the daemon), its owner told. */
	for (unsigned i = 0; i < MG_JOBS_MAX; i++)
		if (r->job[i].busy) {
			r->job[i].killed = r->job[i].cancelled = true;
			finish(r, &r->job[i], -ECANCELED);
		}
	close(r->epfd);
	r->epfd = -1;
}

struct waited {
	bool done;
	int status;
	char *out;
	size_t outlen, *got;
};

static void waited_done(struct mg_job_result *res, void *arg)
{
	struct waited *w = arg;

	w->done = true;
	w->status = res->status;
	if (w->out && w->outlen) {
		size_t n = res->got < w->outlen - 1 ? res->got : w->outlen - 1;
		memcpy(w->out, res->out ? res->out : "", n);
		w->out[n] = '\0';
		if (w->got)
			*w->got = n;
	} else if (w->got) {
		*w->got = 0;
	}
}

int mg_run_ex(char *const argv[], const void *in, size_t inlen, char *out, size_t outlen, size_t *outgot, int timeout_s,
	      bool with_stderr)
{
	struct mg_jobs r;
	struct waited w = { .out = out, .outlen = outlen, .got = outgot };
	struct mg_job_spec s = { .argv = argv, .in = in, .inlen = inlen, .out_max = out && outlen ? outlen - 1 : 0,
				 .with_stderr = with_stderr, .timeout_ns = (uint64_t)timeout_s * MG_NSEC_PER_SEC };
	uint64_t now = mg_mono_ns();

	if (out && outlen)
		out[0] = '\0';
	if (outgot)
		*outgot = 0;
	int e = mg_jobs_init(&r);
	if (!e)
		e = mg_jobs_start(&r, &s, now, waited_done, &w);
	if (!e)
		work_until(&r, now + s.timeout_ns + KILLED_WAIT_NS);
	if (r.epfd >= 0)
		mg_jobs_stop(&r, 0);
	return e ? e : w.status;
}

int mg_run(char *const argv[], const void *in, size_t inlen, char *out, size_t outlen, size_t *outgot, int timeout_s)
{
	return mg_run_ex(argv, in, inlen, out, outlen, outgot, timeout_s, false);
}
