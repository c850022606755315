// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fork gate (lib/mm/fork_gate.c): fork() waits for a migration from
 * its setup to its finalize, says so in the log while it waits, and the
 * child then finds every page in place.  The log period is shortened to
 * 1 s (mm_wait_log_s, internal; this test links the static library).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uhmm/log.h>
#include <uhmm/migrate.h>

#include "harness.h"

#define NPAGES	16UL
#define PAGE	4096UL

extern unsigned int mm_wait_log_s;

static int fork_waits_logged;	/* atomic */

static void capture(int level, const char *msg, void *data)
{
	(void)level;
	(void)data;
	if (strstr(msg, "fork() has waited"))
		__atomic_add_fetch(&fork_waits_logged, 1, __ATOMIC_RELEASE);
}

struct forker {
	const unsigned char *buf;
	int forked;		/* atomic */
	int child_status;
};

static bool pattern_intact(const unsigned char *buf)
{
	unsigned long i;

	for (i = 0; i < NPAGES * PAGE; i++)
		if (buf[i] != (unsigned char)(i / PAGE + 7))
			return false;
	return true;
}

static void *do_fork(void *arg)
{
	struct forker *f = arg;
	pid_t pid = fork();

	if (pid == 0)
		_exit(pattern_intact(f->buf) ? 0 : 1);
	__atomic_store_n(&f->forked, 1, __ATOMIC_RELEASE);
	if (pid > 0)
		waitpid(pid, &f->child_status, 0);
	else
		f->child_status = -1;
	return NULL;
}

TEST(fork_waits_for_a_migration_and_logs_the_wait)
{
	unsigned long src[NPAGES] = { 0 }, dst[NPAGES] = { 0 }, i;
	struct forker f = { 0 };
	struct uhmm_migrate_vma args;
	unsigned char *buf;
	pthread_t t;
	int ret;

	ret = uhmm_mm_init();
	if (ret == -ENOSYS || ret == -EPERM || ret == -EOPNOTSUPP)
		SKIP("the fault engine cannot start on this kernel (%s)", strerror(-ret));
	ASSERT_EQ(ret, 0);
	buf = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	ASSERT_TRUE(buf != MAP_FAILED);
	for (i = 0; i < NPAGES * PAGE; i++)
		buf[i] = (unsigned char)(i / PAGE + 7);
	f.buf = buf;

	args = (struct uhmm_migrate_vma){
		.start = (uintptr_t)buf, .end = (uintptr_t)buf + NPAGES * PAGE,
		.src = src, .dst = dst, .flags = UHMM_MIGRATE_VMA_SELECT_SYSTEM,
	};
	ASSERT_EQ(uhmm_migrate_vma_setup(&args), 0);
	ASSERT_EQ(args.cpages, NPAGES);

	mm_wait_log_s = 1;
	uhmm_set_log_fn(capture, NULL);
	ASSERT_EQ(pthread_create(&t, NULL, do_fork, &f), 0);
	for (i = 0; i < 5000 && !__atomic_load_n(&fork_waits_logged, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	ASSERT_GE(__atomic_load_n(&fork_waits_logged, __ATOMIC_ACQUIRE), 1);
	ASSERT_EQ(__atomic_load_n(&f.forked, __ATOMIC_ACQUIRE), 0);	/* still waiting */

	/* No destination: every page goes back where it was. */
	uhmm_migrate_vma_pages(&args);
	uhmm_migrate_vma_finalize(&args);
	ASSERT_EQ(pthread_join(t, NULL), 0);
	uhmm_set_log_fn(NULL, NULL);
	mm_wait_log_s = 10;
	ASSERT_TRUE(WIFEXITED(f.child_status));
	ASSERT_EQ(WEXITSTATUS(f.child_status), 0);
	ASSERT_TRUE(pattern_intact(buf));
	munmap(buf, NPAGES * PAGE);
}

/*
 * A grandchild's fate: it allocates and exits by exit() (a sanitizer build's
 * leak check runs there).  Waited for 10 s at most, then killed.
 */
static int run_grandchild(void)
{
	int status, ms;
	pid_t pid = fork();

	if (pid < 0)
		return 5;
	if (pid == 0) {
		free(malloc(64));
		exit(0);
	}
	for (ms = 0; ms < 10000; ms++) {
		pid_t got = waitpid(pid, &status, WNOHANG);

		if (got == pid)
			return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 4;
		if (got < 0)
			return 5;
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return 3;
}

/*
 * A process that forks the moment uhmm_mm_init() returns gets a child that
 * can allocate.  The engine's thread must be past its start by then: a
 * thread still starting may hold the allocator's lock (a sanitizer
 * runtime's, which gcc 12's libasan does not take around fork()), and the
 * child would block in its first malloc().  Each round is a fresh process,
 * so each starts the engine anew.
 */
TEST(a_child_forked_right_after_the_engine_starts_can_allocate)
{
	int round, status;

	for (round = 0; round < 30; round++) {
		pid_t pid = fork();

		ASSERT_GE(pid, 0);
		if (pid == 0) {
			int ret = uhmm_mm_init();

			if (ret == -ENOSYS || ret == -EPERM || ret == -EOPNOTSUPP)
				_exit(HARNESS_SKIP_EXIT);
			_exit(ret ? 2 : run_grandchild());
		}
		ASSERT_EQ(waitpid(pid, &status, 0), pid);
		ASSERT_TRUE(WIFEXITED(status));
		if (WEXITSTATUS(status) == HARNESS_SKIP_EXIT)
			SKIP("the fault engine cannot start on this kernel");
		if (WEXITSTATUS(status) == 3)
			HARNESS_FAIL("round %d: the grandchild hung for 10 s (allocator lock "
				     "inherited held?)", round);
		ASSERT_EQ(WEXITSTATUS(status), 0);
	}
}
