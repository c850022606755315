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
