/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_jobs.h - external programs run without waiting for them: each job's
 * child is started at once, its standard input fed and its output collected
 * a piece at a time whenever its pipes are ready, and it is killed (its whole
 * process group) at its deadline. The caller learns the outcome through a
 * callback, called from mg_jobs_work() in the caller's own thread.
 *
 * A runner has one descriptor (an epoll set of its pipes and pidfds):
 * registered in a daemon's loop, the loop calls mg_jobs_work() when it is
 * readable and never waits for a child. mg_run() (mg_quarantine.h) is the
 * same machinery waited for, for those who may wait.
 */
#ifndef MG_JOBS_H
#define MG_JOBS_H

#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MG_JOBS_MAX 8 /* children at once, per runner */
#define MG_JOBS_NO_DEADLINE UINT64_MAX

struct mg_job_result {
	/*
	 * The exit status; -ETIMEDOUT killed at its deadline; 128 + N killed by
	 * signal N (as a shell says it); -ECANCELED killed at mg_jobs_stop().
	 */
	int status;
	char *out;      /* standard output (with standard error if asked), NUL-terminated; the callback may take it (set NULL) */
	size_t got;
	bool truncated; /* it wrote more than out_max: the rest was read and dropped */
};
typedef void mg_job_done_fn(struct mg_job_result *r, void *arg);

struct mg_job_spec {
	char *const *argv;  /* argv[0] an absolute path; read only by mg_jobs_start() */
	const void *in;     /* standard input, or NULL: closed at once */
	size_t inlen;
	bool in_owned;      /* in is malloc'd and the runner's from the start on (freed when the job ends, or on failure) */
	size_t out_max;     /* bytes of output kept */
	bool with_stderr;   /* standard error too (a tool that explains a failure only there) */
	uint64_t timeout_ns;
};

struct mg_job {
	bool busy, killed, cancelled;
	pid_t pid;
	int pidfd, in_fd, out_fd;
	const void *in;
	size_t inlen, sent;
	bool in_owned;
	char *out;
	size_t got, cap, out_max;
	bool truncated;
	uint64_t deadline;  /* CLOCK_MONOTONIC ns */
	mg_job_done_fn *done;
	void *arg;
	uint32_t gen;       /* which start this is: an event for the slot's previous job is not this one's */
};

struct mg_jobs {
	int epfd;
	bool stopping;      /* mg_jobs_stop() under way: no new job */
	uint32_t starts;
	struct mg_job job[MG_JOBS_MAX];
};

/*
 * Spawn attributes for a child that starts clean, whoever spawns it (a job,
 * the daemon's hooks): a blocked signal mask and ignored signals survive
 * exec, and the daemon blocks SIGHUP, SIGINT and SIGTERM (its signalfd reads
 * them) and ignores SIGPIPE; the child gets none blocked and those (with
 * SIGCHLD) at their defaults. It is put in a process group of its own, the
 * group's id its pid, so that kill(-pid, SIGKILL) ends it whole, a shell's
 * children too. 0 or an errno (as posix_spawn's); posix_spawnattr_destroy()
 * after use.
 */
int mg_spawnattr_init_clean(posix_spawnattr_t *at);

int mg_jobs_init(struct mg_jobs *r);
/* The descriptor to watch for readability (epoll, poll). */
int mg_jobs_fd(const struct mg_jobs *r);
/*
 * Start a job; done is called when it has ended (never from here). 0, or
 * -EBUSY (every slot taken), -ECANCELED (stopping), -errno (not started);
 * an owned input is freed either way.
 */
int mg_jobs_start(struct mg_jobs *r, const struct mg_job_spec *s, uint64_t now, mg_job_done_fn *done, void *arg);
/* Whatever is ready, without waiting: input written, output read, deadlines enforced, ended jobs reaped and called back. */
void mg_jobs_work(struct mg_jobs *r, uint64_t now);
/* The earliest deadline of a running job (CLOCK_MONOTONIC ns), or MG_JOBS_NO_DEADLINE. */
uint64_t mg_jobs_next_deadline(const struct mg_jobs *r);
unsigned mg_jobs_running(const struct mg_jobs *r);
/*
 * At the end: running jobs are given up to grace_ns to finish (their
 * callbacks called as usual, new jobs refused), the rest killed and called
 * back with -ECANCELED; then the runner is closed.
 */
void mg_jobs_stop(struct mg_jobs *r, uint64_t grace_ns);

/*
 * One job waited for (a runner of its own): for callers that may wait, such
 * as an operator's command. Its output into out (outlen with the NUL).
 * Returns the job's status (above), or -errno when it could not start.
 */
int mg_run(char *const argv[], const void *in, size_t inlen, char *out, size_t outlen, size_t *outgot, int timeout_s);
/* The same; with_stderr: its standard error captured too. */
int mg_run_ex(char *const argv[], const void *in, size_t inlen, char *out, size_t outlen, size_t *outgot, int timeout_s,
	      bool with_stderr);

#endif
