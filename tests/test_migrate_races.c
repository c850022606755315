// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Races between CPU faults, migrations, invalidations, fork, mremap and
 * device commands, each with its window widened on purpose (a delay hook in
 * the core, or a slow second notifier, as the kernel's tests use delays),
 * so that the bug each test guards against shows on nearly every run if it
 * comes back.  Every page is checked in full.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uhmm/mmu_notifier.h>

#include "dmirror_helpers.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- a CPU fault on a hole racing a migration of the same page ------------- */

#define HOLE_PAGES	64UL
#define HOLE_READERS	4
#define HOLE_SECONDS	2.0

struct hole_race {
	struct dmirror_api api;
	int fd;
	char *buf;
	int stop;		/* atomic */
	unsigned long bad;	/* atomic: pages read wrong */
	unsigned long rounds;
};

static void *hole_reader(void *arg)
{
	struct hole_race *r = arg;
	static int next;
	int id = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED);

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		unsigned long p;

		for (p = id; p < HOLE_PAGES; p += HOLE_READERS) {
			const int *w = (const int *)(r->buf + p * HMM_PAGE);
			unsigned long i;

			for (i = 0; i < HMM_PAGE / sizeof(int); i++) {
				if (w[i] != (int)(p * HMM_PAGE / sizeof(int) + i)) {
					__atomic_fetch_add(&r->bad, 1, __ATOMIC_RELAXED);
					printf("# page %lu word %lu is %d\n", p, i, w[i]);
					break;
				}
			}
		}
	}
	return NULL;
}

/*
 * Several threads read pages that a migrator keeps moving to the device and
 * back.  A fault read while its page was in device memory may be handled
 * after the page came back: it finds no entry and maps the zero page into
 * what it takes for a hole.  If a migration to the device can claim the
 * page in between, the zero page then hides the data the device holds, and
 * the page is lost on the way back.
 */
TEST(fault_on_hole_racing_migration)
{
	struct hole_race r = { 0 };
	pthread_t readers[HOLE_READERS];
	struct hmm_buffer *b;
	double end;
	int i;

	r.api = setup(&r.fd, 0);
	b = anon_buffer(HOLE_PAGES);
	r.buf = b->ptr;
	fill(b, HOLE_PAGES, 0);
	ASSERT_EQ(uhmm_inject_delay(UHMM_DELAY_FAULT_HOLE, 200), 0);
	for (i = 0; i < HOLE_READERS; i++)
		ASSERT_EQ(pthread_create(&readers[i], NULL, hole_reader, &r), 0);
	end = now_s() + HOLE_SECONDS;
	while (now_s() < end && !__atomic_load_n(&r.bad, __ATOMIC_RELAXED)) {
		struct hmm_dmirror_cmd cmd = {
			.addr = (uintptr_t)r.buf, .npages = HOLE_PAGES,
		};

		int ret = r.api.ioctl(r.fd, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd);

		/* -ENOENT: a reader took a page back before the device's read-back. */
		ASSERT_TRUE(ret == 0 || ret == -ENOENT);
		cmd.cpages = 0;
		ASSERT_EQ(r.api.ioctl(r.fd, HMM_DMIRROR_MIGRATE_TO_SYS, &cmd), 0);
		r.rounds++;
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < HOLE_READERS; i++)
		pthread_join(readers[i], NULL);
	uhmm_inject_delay(UHMM_DELAY_FAULT_HOLE, 0);
	printf("# %lu rounds of migration, %lu pages read wrong\n", r.rounds, r.bad);
	ASSERT_EQ(r.bad, 0);
	check(b->ptr, HOLE_PAGES, 0);
	ASSERT_GT(mm_stats().zero_faults, 0);	/* the window was reached */
	hmm_buffer_free(b);
	r.api.close(r.fd);
}

/* --- helpers for the tests below ------------------------------------------- */

/*
 * Runs @fn in a child process, which must exit 0 within @seconds: a
 * deadlock fails the test, naming @what, instead of hanging the suite.
 */
static void run_bounded(void (*fn)(void), int seconds, const char *what)
{
	double end = now_s() + seconds;
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		fn();
		exit(0);
	}
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_s() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			HARNESS_FAIL("%s: still blocked after %d s", what, seconds);
		}
		usleep(10000);
	}
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
}

static int dmirror_call(struct dmirror_api *api, int fd, unsigned long request, void *addr,
			void *ptr, unsigned long npages)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)addr, .ptr = (uintptr_t)ptr, .npages = npages,
	};

	return api->ioctl(fd, request, &cmd);
}

/* --- commands whose own buffer is in device memory ------------------------- */

#define SELF_PAGES	64UL

static void commands_on_their_own_buffer(void)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(SELF_PAGES);

	fill(b, SELF_PAGES, 5);
	ASSERT_EQ(dmirror_call(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b->ptr, b->ptr,
			       SELF_PAGES), 0);
	check(b->ptr, SELF_PAGES, 5);
	ASSERT_EQ(dmirror_call(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b->ptr, NULL, SELF_PAGES), 0);
	ASSERT_EQ(dmirror_call(&api, fd, HMM_DMIRROR_READ, b->ptr, b->ptr, SELF_PAGES), 0);
	check(b->ptr, SELF_PAGES, 5);
	ASSERT_EQ(dmirror_call(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b->ptr, NULL, SELF_PAGES), 0);
	ASSERT_EQ(dmirror_call(&api, fd, HMM_DMIRROR_WRITE, b->ptr, b->ptr, SELF_PAGES), 0);
	check(b->ptr, SELF_PAGES, 5);
	ASSERT_EQ(dmirror_call(&api, fd, HMM_DMIRROR_EXCLUSIVE, b->ptr, b->ptr, SELF_PAGES), 0);
	check(b->ptr, SELF_PAGES, 5);
	hmm_buffer_free(b);
	api.close(fd);
}

/*
 * READ, WRITE, MIGRATE_TO_DEV and EXCLUSIVE whose ptr is their own range,
 * in device memory: the copy to the caller's buffer faults, and the fault
 * engine frees device pages under the device's locks.  A device that held
 * them across that copy waited for itself.
 */
TEST(commands_whose_buffer_is_in_device_memory)
{
	run_bounded(commands_on_their_own_buffer, 30, "a command copying into device memory");
}

/* --- a NULL buffer --------------------------------------------------------- */

/* READ, WRITE and EXCLUSIVE with no buffer: -EFAULT, and nothing written or taken. */
TEST(commands_without_a_buffer)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(SELF_PAGES);

	fill(b, SELF_PAGES, 9);
	ASSERT_EQ(dmirror_call(&api, fd, HMM_DMIRROR_READ, b->ptr, b->mirror, SELF_PAGES), 0);
	ASSERT_EQ(dmirror_call(&api, fd, HMM_DMIRROR_WRITE, b->ptr, NULL, SELF_PAGES), -EFAULT);
	ASSERT_EQ(dmirror_call(&api, fd, HMM_DMIRROR_READ, b->ptr, NULL, SELF_PAGES), -EFAULT);
	ASSERT_EQ(dmirror_call(&api, fd, HMM_DMIRROR_EXCLUSIVE, b->ptr, NULL, SELF_PAGES),
		  -EFAULT);
	ASSERT_EQ(dmirror_call(&api, fd, HMM_DMIRROR_CHECK_EXCLUSIVE, b->ptr, NULL, SELF_PAGES),
		  0);
	check(b->ptr, SELF_PAGES, 9);
	memset(b->mirror, 0, b->size);
	ASSERT_EQ(dmirror_call(&api, fd, HMM_DMIRROR_READ, b->ptr, b->mirror, SELF_PAGES), 0);
	check(b->mirror, SELF_PAGES, 9);
	hmm_buffer_free(b);
	api.close(fd);
}

/* --- two commands on one handle --------------------------------------------- */

#define PAIR_PAGES	256UL
#define PAIR_SECONDS	2.0

struct pair {
	struct dmirror_api api;
	int fd;
	struct hmm_buffer *b;
};

static void *pair_reader(void *arg)
{
	struct pair *p = arg;
	double end = now_s() + PAIR_SECONDS;

	while (now_s() < end) {
		int ret = dmirror_call(&p->api, p->fd, HMM_DMIRROR_READ, p->b->ptr, p->b->mirror,
				       PAIR_PAGES);

		if (ret)
			HARNESS_FAIL("READ: %d", ret);
		check(p->b->mirror, PAIR_PAGES, 11);
		ret = dmirror_call(&p->api, p->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p->b->ptr, NULL,
				   PAIR_PAGES);
		if (ret && ret != -ENOENT)	/* -ENOENT: the other moved one back first */
			HARNESS_FAIL("MIGRATE_TO_DEV: %d", ret);
	}
	return NULL;
}

static void two_commands_on_one_handle(void)
{
	struct pair p;
	pthread_t reader;
	double end;

	p.api = setup(&p.fd, 0);
	p.b = anon_buffer(PAIR_PAGES);
	fill(p.b, PAIR_PAGES, 11);
	ASSERT_EQ(pthread_create(&reader, NULL, pair_reader, &p), 0);
	end = now_s() + PAIR_SECONDS;
	while (now_s() < end) {
		int ret = dmirror_call(&p.api, p.fd, HMM_DMIRROR_MIGRATE_TO_DEV, p.b->ptr, NULL,
				       PAIR_PAGES);

		ASSERT_TRUE(ret == 0 || ret == -ENOENT);
		ASSERT_EQ(dmirror_call(&p.api, p.fd, HMM_DMIRROR_MIGRATE_TO_SYS, p.b->ptr, NULL,
				       PAIR_PAGES), 0);
	}
	pthread_join(reader, NULL);
	check(p.b->ptr, PAIR_PAGES, 11);
}

/*
 * One thread reads through the mirror and migrates; another migrates to the
 * same device and back, on the same handle, with no CPU access.  A mirror
 * that kept its system entries across its own device's migration copied
 * from a page in flight with the device's lock held, and the migration
 * waited for that lock.
 */
TEST(two_commands_on_one_handle_do_not_deadlock)
{
	run_bounded(two_commands_on_one_handle, 30, "READ + MIGRATE_TO_DEV against MIGRATE_TO_DEV + TO_SYS");
}
