// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fork: the main thread forks again and again while two threads migrate
 * random ranges of a 16 MiB buffer to device 0 or 1 and back, and owner
 * threads check and rewrite their pages.  The owners' writes pause around
 * each fork() (their checks, and so their faults, go on), so the child knows
 * exactly what every page must hold: it checks all of them, then migrates
 * some to the device and back itself and checks those again.  The parent
 * goes on; its owners check every page they touch, and all pages at the end.
 *
 * A child has its own watchdog (it prints its own threads and stacks); the
 * parent kills a child that outlives it by far and fails.
 *
 * Under AddressSanitizer the owners and migrators are parked at each fork()
 * instead (tests/fork_park.h says why).  The plain and TSan builds fork
 * with all of it in flight.
 *
 *	stress-fork [-t SECONDS] [-j OWNERS] [-s SEED] [-w WATCHDOG] [-o nochildmigrate]
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uhmm/uhmm.h>

#include "../fork_park.h"
#include "pages.h"

#define NPAGES		4096UL		/* 16 MiB */
#define MIGRATORS	2
#define MAX_RANGE	512UL
#define CHILD_PAGES	256UL		/* migrated by the child itself */
#define FORK_LOG	16
#define MAX_CHILD_FAILURES	3

static struct stress_pages *pages;
static struct stress_dmirror api;
static int fds[HMM_DMIRROR_NR_DEVICES];

/* The last forks, for a wrong page's report. */
struct fork_record {
	uint64_t ms;
	unsigned long child;
	pid_t pid;
};

static struct fork_record fork_log[FORK_LOG];
static unsigned long nr_forks;	/* atomic */

static uint64_t checks, writes, to_dev, to_sys;	/* atomic */

/* Read-held by owners and migrators around each step; fork() write-holds it under ASan. */
static pthread_rwlock_t park_lock;
static unsigned long nr_started;	/* atomic: threads past their start-up */
static __thread bool started;


static void step_begin(void)
{
	if (!PARK_AT_FORK)
		return;
	if (!started) {
		/* A thread's start-up allocates too: the first fork waits for it. */
		started = true;
		__atomic_add_fetch(&nr_started, 1, __ATOMIC_RELEASE);
	}
	pthread_rwlock_rdlock(&park_lock);
}

static void step_end(void)
{
	if (PARK_AT_FORK)
		pthread_rwlock_unlock(&park_lock);
}

static void print_forks(void)
{
	unsigned long n = __atomic_load_n(&nr_forks, __ATOMIC_ACQUIRE), i;

	fprintf(stderr, "#     the last forks:\n");
	for (i = n > FORK_LOG ? n - FORK_LOG : 0; i < n; i++) {
		struct fork_record *f = &fork_log[i % FORK_LOG];

		fprintf(stderr, "#       %6" PRIu64 ".%03" PRIu64 "s child %lu, pid %d\n",
			f->ms / 1000, f->ms % 1000, f->child, (int)f->pid);
	}
}

static void *owner(void *arg)
{
	unsigned long id = (uintptr_t)arg, nowners = stress_opts.threads;
	struct stress_thread *t = stress_thread_register("owner%lu", id);
	uint64_t rnd = stress_opts.seed * 31 + id, c = 0, w = 0;

	while (stress_running()) {
		unsigned long p = stress_rand_below(&rnd, NPAGES / nowners) * nowners + id;

		if (p >= NPAGES)
			continue;
		step_begin();
		stress_op(t, "check page", stress_pages_key(pages, p), 1);
		if (!stress_pages_check(pages, p, "parent owner's check"))
			stress_pages_write(pages, p);
		c++;
		if (stress_rand_below(&rnd, 2)) {
			stress_op(t, "write page", stress_pages_key(pages, p), 1);
			stress_pages_write(pages, p);
			w++;
		}
		step_end();
		stress_progress(t);
	}
	stress_op(t, "done", 0, 0);
	__atomic_add_fetch(&checks, c, __ATOMIC_RELAXED);
	__atomic_add_fetch(&writes, w, __ATOMIC_RELAXED);
	return NULL;
}

static void *migrator(void *arg)
{
	unsigned long id = (uintptr_t)arg;
	struct stress_thread *t = stress_thread_register("migrate%lu", id);
	uint64_t rnd = stress_opts.seed * 17 + 1000 + id, d = 0, s = 0;
	char *bounce = malloc(MAX_RANGE * STRESS_PAGE);

	if (!bounce)
		abort();
	while (stress_running()) {
		int dev = (int)stress_rand_below(&rnd, 2);
		bool to = stress_rand_below(&rnd, 3) != 0;
		unsigned long request = to ? HMM_DMIRROR_MIGRATE_TO_DEV : HMM_DMIRROR_MIGRATE_TO_SYS;
		unsigned long first = stress_rand_below(&rnd, NPAGES);
		unsigned long n = 1 + stress_rand_below(&rnd, 1UL << stress_rand_below(&rnd, 10));
		int ret;

		if (first + n > NPAGES)
			n = NPAGES - first;
		step_begin();
		stress_op(t, to ? "MIGRATE_TO_DEV" : "MIGRATE_TO_SYS", stress_pages_key(pages, first),
			  n);
		ret = stress_pages_migrate(pages, &api, fds[dev], dev, request, first, n, bounce,
					   NULL);
		step_end();
		if (ret && !(to && ret == -ENOENT))
			stress_fail("%s of device %d, pages %lu..%lu: %s", stress_cmd_name(request),
				    dev, first, first + n - 1, stress_errname(ret));
		if (to)
			d++;
		else
			s++;
		stress_progress(t);
	}
	stress_op(t, "done", 0, 0);
	free(bounce);
	__atomic_add_fetch(&to_dev, d, __ATOMIC_RELAXED);
	__atomic_add_fetch(&to_sys, s, __ATOMIC_RELAXED);
	return NULL;
}

/* The child: every page as it was at the fork, then its own migrations. */
static void child_main(unsigned long child)
{
	struct stress_thread *t;
	unsigned long p, first, bad = 0;
	uint64_t rnd = stress_opts.seed * 7 + child;
	int ret, dev;

	stress_child_reset();
	stress_pages_after_fork(pages);	/* the write lock the parent took for the fork */
	t = stress_thread_register("child");
	stress_watchdog_start();
	stress_op(t, "check every page", stress_pages_key(pages, 0), NPAGES);
	for (p = 0; p < NPAGES; p++) {
		if (!stress_pages_check(pages, p, "child's check of the fork-time snapshot"))
			bad++;
		stress_progress(t);
	}
	if (!stress_opt("nochildmigrate")) {
		dev = (int)stress_rand_below(&rnd, 2);
		first = stress_rand_below(&rnd, NPAGES - CHILD_PAGES);
		for (p = first; p < first + CHILD_PAGES; p++)
			stress_pages_write(pages, p);
		stress_op(t, "child MIGRATE_TO_DEV", stress_pages_key(pages, first), CHILD_PAGES);
		ret = stress_pages_migrate(pages, &api, fds[dev], dev, HMM_DMIRROR_MIGRATE_TO_DEV,
					   first, CHILD_PAGES, NULL, NULL);
		if (ret && ret != -ENOENT)
			stress_fail("child's MIGRATE_TO_DEV of device %d: %s", dev,
				    stress_errname(ret));
		stress_progress(t);
		stress_op(t, "check migrated pages", stress_pages_key(pages, first), CHILD_PAGES);
		for (p = first; p < first + CHILD_PAGES; p++) {
			if (!stress_pages_check(pages, p, "child's check after its own migration"))
				bad++;
			stress_progress(t);
		}
	}
	if (bad)
		stress_note(false, "child %lu: %lu wrong page(s)", child, bad);
	_exit(bad || stress_failures() ? STRESS_FAIL : STRESS_PASS);
}

/* Waits for the child; a child that outlives its own watchdog by far is killed. */
static int wait_child(struct stress_thread *t, pid_t pid, unsigned long child, uint64_t forked)
{
	uint64_t limit = (uint64_t)stress_opts.watchdog * 1000 * 2 + 30000;
	int status;
	char why[128];

	stress_op(t, "waiting for the child", (uint64_t)pid, child);
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			stress_fail("waitpid(%d): %s", (int)pid, strerror(errno));
			return -1;
		}
		if (stress_ms() - forked > limit) {
			snprintf(why, sizeof(why), "child %lu (pid %d, forked at %" PRIu64
				 " ms) did not end in %" PRIu64 " s", child, (int)pid, forked,
				 limit / 1000);
			stress_dump(why, pid);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			stress_fail("%s: killed", why);
			return -1;
		}
		usleep(2000);
		/* Bounded by the limit above: not a hang for the watchdog. */
		stress_progress(t);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		stress_fail("child %lu (pid %d, forked at %" PRIu64 ".%03" PRIu64 " s) exited with %d%s",
			    child, (int)pid, forked / 1000, forked % 1000, WEXITSTATUS(status),
			    WEXITSTATUS(status) == STRESS_HANG ? " (its watchdog: a hang)" : "");
	else
		stress_fail("child %lu (pid %d, forked at %" PRIu64 ".%03" PRIu64 " s) killed by signal %d",
			    child, (int)pid, forked / 1000, forked % 1000, WTERMSIG(status));
	return -1;
}

int main(int argc, char **argv)
{
	pthread_t th[STRESS_MAX_THREADS];
	unsigned long i, n = 0, child, forks = 0, child_failures = 0;
	uint64_t rnd;
	struct stress_thread *t;
	char summary[256];
	int dev;

	stress_init(argc, argv, "fork", 2);
	fork_park_init(&park_lock);
	if (PARK_AT_FORK)
		stress_note(false, "ASan build: owners and migrators are parked at each fork()");
	if (stress_opts.threads > STRESS_MAX_THREADS - 8)
		stress_opts.threads = STRESS_MAX_THREADS - 8;
	rnd = stress_opts.seed;
	stress_dmirror_load(&api);
	t = stress_thread_register("main");
	for (dev = 0; dev < HMM_DMIRROR_NR_DEVICES; dev++)
		fds[dev] = stress_dmirror_open(&api, dev);
	pages = stress_pages_create(NPAGES);
	stress_report_hook = print_forks;
	stress_watchdog_start();

	for (i = 0; i < stress_opts.threads; i++)
		pthread_create(&th[n++], NULL, owner, (void *)(uintptr_t)i);
	for (i = 0; i < MIGRATORS; i++)
		pthread_create(&th[n++], NULL, migrator, (void *)(uintptr_t)i);

	for (child = 1; stress_running(); child++) {
		struct fork_record *f;
		uint64_t forked;
		pid_t pid;

		usleep((useconds_t)stress_rand_below(&rnd, 20000));
		while (PARK_AT_FORK && __atomic_load_n(&nr_started, __ATOMIC_ACQUIRE) < n &&
		       stress_running()) {
			usleep(1000);
			stress_progress(t);
		}
		stress_op(t, "pausing the owners", 0, child);
		if (PARK_AT_FORK)
			pthread_rwlock_wrlock(&park_lock);
		stress_pages_pause(pages);
		stress_op(t, "fork", 0, child);
		forked = stress_ms();
		pid = fork();
		if (pid == 0)
			child_main(child);
		stress_pages_resume(pages);
		if (PARK_AT_FORK)
			pthread_rwlock_unlock(&park_lock);
		if (pid < 0) {
			stress_fail("fork: %s", strerror(errno));
			break;
		}
		forks++;
		f = &fork_log[child % FORK_LOG];
		f->ms = forked;
		f->child = child;
		f->pid = pid;
		__atomic_store_n(&nr_forks, child, __ATOMIC_RELEASE);
		if (wait_child(t, pid, child, forked) && ++child_failures >= MAX_CHILD_FAILURES) {
			stress_note(false, "%lu children failed: no more forks", child_failures);
			break;
		}
		stress_progress(t);
	}
	stress_op(t, "joining", 0, 0);
	stress_stop();
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	stress_op(t, "final check", stress_pages_key(pages, 0), NPAGES);
	for (i = 0; i < NPAGES; i++) {
		stress_pages_check(pages, i, "parent's final check");
		stress_progress(t);
	}

	snprintf(summary, sizeof(summary),
		 "(%lu forks, %lu children failed; %" PRIu64 " checks, %" PRIu64 " writes, %" PRIu64
		 " MIGRATE_TO_DEV, %" PRIu64 " MIGRATE_TO_SYS in the parent)",
		 forks, child_failures, checks, writes, to_dev, to_sys);
	for (dev = 0; dev < HMM_DMIRROR_NR_DEVICES; dev++)
		api.close(fds[dev]);
	stress_pages_destroy(pages);
	return stress_finish(summary);
}
