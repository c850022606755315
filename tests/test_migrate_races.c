// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Races between CPU faults, migrations, invalidations, fork, mremap and
 * device commands, each with its window widened on purpose (a delay hook in
 * the core, or a slow second notifier, as the kernel's tests use delays),
 * so that the bug each test guards against shows on nearly every run if it
 * comes back.  Every page is checked in full.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uhmm/mmu_notifier.h>

#include "dmirror_helpers.h"
#include "far_mmap.h"
#include "fork_park.h"

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
	hmm_buffer_free(p.b);
	p.api.close(p.fd);
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

/* --- a slow second notifier ------------------------------------------------ */

/* Sleeps in its op for @event, before the device's own op runs after it. */
struct slow_notifier {
	struct uhmm_mmu_interval_notifier sub;
	enum uhmm_mmu_notifier_event event;
	unsigned int usec;
	int calls;		/* atomic */
};

static bool slow_invalidate(struct uhmm_mmu_interval_notifier *sub,
			    const struct uhmm_mmu_notifier_range *range, unsigned long cur_seq)
{
	struct slow_notifier *s = (struct slow_notifier *)sub;

	uhmm_mmu_interval_set_seq(sub, cur_seq);
	if (range->event == s->event) {
		__atomic_fetch_add(&s->calls, 1, __ATOMIC_RELAXED);
		usleep(s->usec);
	}
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops slow_ops = {
	.invalidate = slow_invalidate,
};

/* Inserted last, so its op runs first (the device's waits behind it). */
static void slow_notifier_insert(struct slow_notifier *s, enum uhmm_mmu_notifier_event event,
				 unsigned int usec)
{
	s->event = event;
	s->usec = usec;
	ASSERT_EQ(uhmm_mmu_interval_notifier_insert(&s->sub, 0, ~0UL & ~(HMM_PAGE - 1),
						    &slow_ops), 0);
}

/* --- munmap, a new mapping at the same address, migrate -------------------- */

#define REMAP_PAGES	64UL

/*
 * The UNMAP ops of munmap() run on the invalidation thread after munmap()
 * returned.  A new mapping at the same address, migrated meanwhile, must
 * keep its device entries: an invalidation never applies to a mapping made
 * after the change it describes.
 */
TEST(stale_unmap_spares_a_new_mapping)
{
	struct slow_notifier slow = { 0 };
	int fd, round;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = far_buffer(REMAP_PAGES);

	slow_notifier_insert(&slow, UHMM_MMU_NOTIFY_UNMAP, 100000);
	for (round = 0; round < 3; round++) {
		fill(b, REMAP_PAGES, round);
		ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, REMAP_PAGES), 0);
		ASSERT_EQ(munmap(b->ptr, b->size), 0);
		ASSERT_TRUE(mmap(b->ptr, b->size, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == b->ptr);
		fill(b, REMAP_PAGES, 100 + round);
		ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, REMAP_PAGES), 0);
		ASSERT_EQ(b->cpages, REMAP_PAGES);
		usleep(300000);		/* any op still due has run */
		/* The device still maps every page it holds: no fault to read them. */
		ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_READ, b, REMAP_PAGES), 0);
		ASSERT_EQ(b->faults, 0);
		check(b->mirror, REMAP_PAGES, 100 + round);
		check(b->ptr, REMAP_PAGES, 100 + round);
	}
	ASSERT_GT(__atomic_load_n(&slow.calls, __ATOMIC_RELAXED), 0);
	uhmm_mmu_interval_notifier_remove(&slow.sub);
	hmm_buffer_free(b);
	api.close(fd);
}

/* --- close right after munmap ------------------------------------------------ */

/*
 * munmap() returns once the engine read its event; the device pages' last
 * references drop just after (here, 50 ms after), and page_free() must not
 * find the handle closed meanwhile.  The sanitizer build sees the use after
 * free; every build checks that the device works on.
 */
TEST(close_right_after_munmap)
{
	int fd, round;
	struct dmirror_api api = setup(&fd, 0);
	unsigned int warns = uhmm_warn_count();

	ASSERT_EQ(uhmm_inject_delay(UHMM_DELAY_UNMAP_PUT, 50000), 0);
	for (round = 0; round < 5; round++) {
		struct hmm_buffer *b = anon_buffer(REMAP_PAGES);

		fill(b, REMAP_PAGES, round);
		ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, REMAP_PAGES), 0);
		ASSERT_EQ(munmap(b->ptr, b->size), 0);
		b->ptr = NULL;
		ASSERT_EQ(api.close(fd), 0);
		usleep(100000);
		fd = api.open(0);
		ASSERT_GE(fd, 0);
		hmm_buffer_free(b);
	}
	uhmm_inject_delay(UHMM_DELAY_UNMAP_PUT, 0);
	{
		struct hmm_buffer *b = anon_buffer(REMAP_PAGES);

		fill(b, REMAP_PAGES, 7);
		ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, REMAP_PAGES), 0);
		check(b->ptr, REMAP_PAGES, 7);
		hmm_buffer_free(b);
	}
	ASSERT_EQ(uhmm_warn_count(), warns);
	api.close(fd);
}

/* --- fork while an invalidation runs ---------------------------------------- */

struct migrate_arg {
	void *ptr;
	unsigned long npages;
};

/* A migration that only invalidates: it selects, then restores everything. */
static void *migrate_and_restore(void *arg)
{
	struct migrate_arg *m = arg;
	unsigned long src[REMAP_PAGES], dst[REMAP_PAGES];
	struct uhmm_migrate_vma args = {
		.start = (uintptr_t)m->ptr, .end = (uintptr_t)m->ptr + m->npages * HMM_PAGE,
		.src = src, .dst = dst, .flags = UHMM_MIGRATE_VMA_SELECT_SYSTEM,
	};

	if (uhmm_migrate_vma_setup(&args) == 0) {
		uhmm_migrate_vma_pages(&args);
		uhmm_migrate_vma_finalize(&args);
	}
	return NULL;
}

static void child_reads_through_a_new_handle(void)
{
	int fd;
	struct dmirror_api api = setup(&fd, 1);
	struct hmm_buffer *b = anon_buffer(4);

	fill(b, 4, 3);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_READ, b, 4), 0);
	check(b->mirror, 4, 3);
	hmm_buffer_free(b);
	api.close(fd);
}

/*
 * fork() while another thread is inside the ops of a migration's
 * invalidation (200 ms in a slow notifier): that invalidation never ends in
 * the child, which must not wait for it.
 */
TEST(fork_during_an_invalidation)
{
	struct slow_notifier slow = { 0 };
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(REMAP_PAGES);
	struct migrate_arg m = { b->ptr, REMAP_PAGES };
	pthread_t t;

	fill(b, REMAP_PAGES, 1);
	slow_notifier_insert(&slow, UHMM_MMU_NOTIFY_MIGRATE, 200000);
	ASSERT_EQ(pthread_create(&t, NULL, migrate_and_restore, &m), 0);
	while (!__atomic_load_n(&slow.calls, __ATOMIC_RELAXED))
		usleep(1000);
	run_bounded(child_reads_through_a_new_handle, 20, "a child forked during an invalidation");
	pthread_join(t, NULL);
	check(b->ptr, REMAP_PAGES, 1);
	uhmm_mmu_interval_notifier_remove(&slow.sub);
	hmm_buffer_free(b);
	api.close(fd);
}

/* --- a migration set up on one thread, finalized on another ------------------ */

struct handoff {
	struct uhmm_migrate_vma args;
	unsigned long src[REMAP_PAGES], dst[REMAP_PAGES];
	int setup_ret;
	int forked;		/* atomic: fork() returned in the parent */
	double forked_at;	/* then, when */
};

static void *handoff_setup(void *arg)
{
	struct handoff *h = arg;

	h->setup_ret = uhmm_migrate_vma_setup(&h->args);
	return NULL;
}

/*
 * Stays until the fork() it let through has returned: a thread that exits
 * while another forks may hold the allocator's lock at the fork (glibc's,
 * or ASan's, which gcc 12's libasan does not take around fork()), and the
 * child would then block in its first malloc().
 */
static void *handoff_finalize(void *arg)
{
	struct handoff *h = arg;

	uhmm_migrate_vma_pages(&h->args);
	uhmm_migrate_vma_finalize(&h->args);
	while (!__atomic_load_n(&h->forked, __ATOMIC_ACQUIRE))
		usleep(1000);
	return NULL;
}

static struct hmm_buffer *handoff_buffer;

static void child_checks_the_handed_off_buffer(void)
{
	check(handoff_buffer->ptr, REMAP_PAGES, 21);
}

static void *handoff_fork(void *arg)
{
	struct handoff *h = arg;

	run_bounded(child_checks_the_handed_off_buffer, 20, "a child forked after a handed-off migration");
	h->forked_at = now_s();
	__atomic_store_n(&h->forked, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * migrate_vma_setup() on one thread, pages() and finalize() on another (as
 * a driver's work queue does): fork() from a third waits until finalize(),
 * and the child then finds every page in place.
 */
TEST(migration_finalized_by_another_thread_holds_off_fork)
{
	struct handoff *h = calloc(1, sizeof(*h));
	pthread_t t;
	double finalized_at;
	int fd;
	struct dmirror_api api = setup(&fd, 0);

	ASSERT_NONNULL(h);
	handoff_buffer = anon_buffer(REMAP_PAGES);
	fill(handoff_buffer, REMAP_PAGES, 21);
	h->args = (struct uhmm_migrate_vma){
		.start = (uintptr_t)handoff_buffer->ptr,
		.end = (uintptr_t)handoff_buffer->ptr + REMAP_PAGES * HMM_PAGE,
		.src = h->src, .dst = h->dst, .flags = UHMM_MIGRATE_VMA_SELECT_SYSTEM,
	};
	ASSERT_EQ(pthread_create(&t, NULL, handoff_setup, h), 0);
	ASSERT_EQ(pthread_join(t, NULL), 0);
	ASSERT_EQ(h->setup_ret, 0);
	ASSERT_EQ(h->args.cpages, REMAP_PAGES);

	ASSERT_EQ(pthread_create(&t, NULL, handoff_fork, h), 0);
	usleep(200000);
	ASSERT_EQ(__atomic_load_n(&h->forked, __ATOMIC_ACQUIRE), 0);	/* still waiting */
	finalized_at = now_s();
	{
		pthread_t f;

		ASSERT_EQ(pthread_create(&f, NULL, handoff_finalize, h), 0);
		ASSERT_EQ(pthread_join(t, NULL), 0);
		ASSERT_EQ(pthread_join(f, NULL), 0);
	}
	ASSERT_GE(h->forked_at, finalized_at);
	check(handoff_buffer->ptr, REMAP_PAGES, 21);
	hmm_buffer_free(handoff_buffer);
	free(h);
	api.close(fd);
}

static void *touch_first_page(void *arg)
{
	const volatile unsigned char *p = arg;

	return (void *)(uintptr_t)p[0];
}

/*
 * A CPU access to a page between migrate_vma_setup() and finalize() waits,
 * and the fault engine counts each time it tries that fault again; the
 * access then sees the page as it was (finalize with no destination puts
 * the source back).
 */
TEST(fault_on_a_migrating_page_is_retried_and_counted)
{
	struct handoff *h = calloc(1, sizeof(*h));
	uint64_t retries;
	pthread_t t;
	void *seen;
	int fd;
	struct dmirror_api api = setup(&fd, 0);

	(void)api;
	ASSERT_NONNULL(h);
	handoff_buffer = anon_buffer(REMAP_PAGES);
	fill(handoff_buffer, REMAP_PAGES, 23);
	h->args = (struct uhmm_migrate_vma){
		.start = (uintptr_t)handoff_buffer->ptr,
		.end = (uintptr_t)handoff_buffer->ptr + REMAP_PAGES * HMM_PAGE,
		.src = h->src, .dst = h->dst, .flags = UHMM_MIGRATE_VMA_SELECT_SYSTEM,
	};
	retries = mm_stats().fault_retries;
	ASSERT_EQ(uhmm_migrate_vma_setup(&h->args), 0);
	ASSERT_EQ(h->args.cpages, REMAP_PAGES);
	ASSERT_EQ(pthread_create(&t, NULL, touch_first_page, handoff_buffer->ptr), 0);
	usleep(100000);	/* the access waits in the engine's queue, retried each ms */
	ASSERT_GT(mm_stats().fault_retries, retries);
	uhmm_migrate_vma_pages(&h->args);
	uhmm_migrate_vma_finalize(&h->args);
	ASSERT_EQ(pthread_join(t, &seen), 0);
	ASSERT_EQ((uintptr_t)seen, ((const unsigned char *)handoff_buffer->ptr)[0]);
	check(handoff_buffer->ptr, REMAP_PAGES, 23);
	hmm_buffer_free(handoff_buffer);
	free(h);
	api.close(fd);
}

/* --- fork while a command runs ------------------------------------------------ */

#define BUSY_PAGES	2048UL

struct busy {
	struct dmirror_api api;
	int fd;
	struct hmm_buffer *b;
	int started;	/* atomic: past the thread's start-up, which allocates too */
	int stop;	/* atomic */
};

/* Under ASan (fork_park.h) the reader read-holds it per command; fork() write-holds it. */
static pthread_rwlock_t busy_park;

static void busy_park_hold(void)
{
	pthread_rwlock_wrlock(&busy_park);
}

static void busy_park_release(void)
{
	pthread_rwlock_unlock(&busy_park);
}

static void busy_park_reinit(void)
{
	fork_park_init(&busy_park);
}

static void *busy_reader(void *arg)
{
	struct busy *s = arg;

	__atomic_store_n(&s->started, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
		int ret;

		if (PARK_AT_FORK)
			pthread_rwlock_rdlock(&busy_park);
		ret = hmm_dmirror_cmd(&s->api, s->fd, HMM_DMIRROR_READ, s->b, BUSY_PAGES);
		if (PARK_AT_FORK)
			pthread_rwlock_unlock(&busy_park);
		if (ret)
			HARNESS_FAIL("READ failed");
	}
	return NULL;
}

static struct hmm_buffer *fork_victim;

static void child_touches_device_memory(void)
{
	check(fork_victim->ptr, REMAP_PAGES, 13);
}

/*
 * Another thread is inside a dmirror command at each fork() (parked between
 * two commands under ASan: fork_park.h); the child then touches pages
 * in device memory, and its fault engine frees device pages, which takes the
 * driver's locks.  The child must not inherit them held.
 */
TEST(fork_while_a_command_runs)
{
	struct busy s = { 0 };
	pthread_t t;
	int i;

	s.api = setup(&s.fd, 0);
	s.b = anon_buffer(BUSY_PAGES);
	fill(s.b, BUSY_PAGES, 2);
	fork_victim = anon_buffer(REMAP_PAGES);
	fork_park_init(&busy_park);
	/* Registered last, so its prepare runs first: before uhmm's and dmirror's. */
	if (PARK_AT_FORK)
		ASSERT_EQ(pthread_atfork(busy_park_hold, busy_park_release, busy_park_reinit), 0);
	ASSERT_EQ(pthread_create(&t, NULL, busy_reader, &s), 0);
	while (!__atomic_load_n(&s.started, __ATOMIC_ACQUIRE))
		usleep(1000);
	for (i = 0; i < 20; i++) {
		fill(fork_victim, REMAP_PAGES, 13);
		ASSERT_EQ(hmm_dmirror_cmd(&s.api, s.fd, HMM_DMIRROR_MIGRATE_TO_DEV, fork_victim,
					  REMAP_PAGES), 0);
		run_bounded(child_touches_device_memory, 20, "a child forked during a command");
	}
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	check(fork_victim->ptr, REMAP_PAGES, 13);
	hmm_buffer_free(fork_victim);
	hmm_buffer_free(s.b);
	s.api.close(s.fd);
}

/* --- RELEASE racing migrations ------------------------------------------------- */

#define REL_PAGES	512UL
#define REL_SECONDS	2.0

struct release_race {
	struct dmirror_api api;
	int fd;
	char *buf;
	unsigned int version[REL_PAGES];
	int stop;	/* atomic */
	unsigned long bad;
};

static uint64_t rel_word(unsigned long page, unsigned int version, unsigned long i)
{
	return ((uint64_t)page << 40) ^ ((uint64_t)version << 20) ^ i;
}

static void *rel_migrator(void *arg)
{
	struct release_race *r = arg;
	unsigned int seed = 1;

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		unsigned long first = rand_r(&seed) % REL_PAGES;
		unsigned long n = 1 + rand_r(&seed) % (REL_PAGES - first);
		int ret = dmirror_call(&r->api, r->fd, rand_r(&seed) & 1 ?
				       HMM_DMIRROR_MIGRATE_TO_DEV : HMM_DMIRROR_MIGRATE_TO_SYS,
				       r->buf + first * HMM_PAGE, NULL, n);

		/* -ENOENT: the toucher took a page back before the read-back. */
		if (ret && ret != -ENOENT)
			HARNESS_FAIL("migration: %d", ret);
	}
	return NULL;
}

static void *rel_releaser(void *arg)
{
	struct release_race *r = arg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		int ret = dmirror_call(&r->api, r->fd, HMM_DMIRROR_RELEASE, r->buf, NULL, 1);

		if (ret && ret != -EBUSY)
			HARNESS_FAIL("RELEASE: %d", ret);
		usleep(1000);
	}
	return NULL;
}

/* One thread checks and rewrites every page while others migrate and RELEASE the device. */
TEST(release_racing_migrations)
{
	struct release_race r = { 0 };
	pthread_t migrator, releaser;
	unsigned long p, i;
	double end;

	r.api = setup(&r.fd, 0);
	r.buf = mmap(NULL, REL_PAGES * HMM_PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(r.buf != MAP_FAILED);
	for (p = 0; p < REL_PAGES; p++)
		for (i = 0; i < HMM_PAGE / 8; i++)
			((uint64_t *)(r.buf + p * HMM_PAGE))[i] = rel_word(p, 0, i);
	ASSERT_EQ(pthread_create(&migrator, NULL, rel_migrator, &r), 0);
	ASSERT_EQ(pthread_create(&releaser, NULL, rel_releaser, &r), 0);
	end = now_s() + REL_SECONDS;
	while (now_s() < end && !r.bad) {
		for (p = 0; p < REL_PAGES; p++) {
			uint64_t *w = (uint64_t *)(r.buf + p * HMM_PAGE);

			for (i = 0; i < HMM_PAGE / 8; i++) {
				if (w[i] != rel_word(p, r.version[p], i)) {
					printf("# page %lu word %lu: %#llx\n", p, i,
					       (unsigned long long)w[i]);
					r.bad++;
					break;
				}
			}
			r.version[p]++;
			for (i = 0; i < HMM_PAGE / 8; i++)
				w[i] = rel_word(p, r.version[p], i);
		}
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELAXED);
	pthread_join(migrator, NULL);
	pthread_join(releaser, NULL);
	ASSERT_EQ(r.bad, 0);
	munmap(r.buf, REL_PAGES * HMM_PAGE);
	r.api.close(r.fd);
}

/* --- what uhmm records as registered with userfaultfd ---------------------- */

/*
 * Pages migrated one by one from left to right register neighbouring
 * ranges, which uhmm's record merges.  Unmapping one of them takes exactly
 * its page off the record, and unmapping the rest leaves nothing recorded:
 * a range recorded twice outlives its unmap, and a new mapping there would
 * never be registered.
 */
TEST(neighbouring_registrations_go_with_their_mapping)
{
	int fd, round;
	struct dmirror_api api = setup(&fd, 0);
	uint64_t before = mm_stats().registered_bytes;

	for (round = 0; round < 3; round++) {
		struct hmm_buffer *b = anon_buffer(3);
		char *base = b->ptr;
		unsigned long p;

		fill(b, 3, round);
		for (p = 0; p < 3; p++) {
			b->ptr = base + p * HMM_PAGE;
			ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, 1), 0);
			ASSERT_EQ(b->cpages, 1);
		}
		ASSERT_EQ(mm_stats().registered_bytes, before + 3 * HMM_PAGE);
		check(base, 3, round);
		ASSERT_EQ(munmap(base + HMM_PAGE, HMM_PAGE), 0);
		ASSERT_EQ(mm_stats().registered_bytes, before + 2 * HMM_PAGE);
		ASSERT_EQ(munmap(base, HMM_PAGE), 0);
		ASSERT_EQ(munmap(base + 2 * HMM_PAGE, HMM_PAGE), 0);
		ASSERT_EQ(mm_stats().registered_bytes, before);
		b->ptr = NULL;
		hmm_buffer_free(b);
	}
	api.close(fd);
}

struct hole_migration {
	struct dmirror_api *api;
	int fd;
	char *addr;
	unsigned long npages;
	int ret;
};

static void *migrate_to_dev(void *arg)
{
	struct hole_migration *m = arg;

	m->ret = dmirror_call(m->api, m->fd, HMM_DMIRROR_MIGRATE_TO_DEV, m->addr, NULL,
			      m->npages);
	return NULL;
}

/*
 * A migration registers its range while another thread unmaps the middle
 * of it: userfaultfd registers what is left without a word, and uhmm must
 * not record the hole as registered.  A mapping made in the hole afterwards
 * then gets registered when it migrates, and its page reads back intact
 * rather than as the zeros of an unwatched mapping.
 */
TEST(registration_around_a_hole_leaves_it_out)
{
	int fd, round;
	struct dmirror_api api = setup(&fd, 0);

	for (round = 0; round < 3; round++) {
		char *buf = mmap(NULL, 3 * HMM_PAGE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct hole_migration m = { &api, fd, buf, 3, 0 };
		pthread_t t;
		char *page;

		ASSERT_TRUE(buf != MAP_FAILED);
		fill_words(buf, 3, round);
		ASSERT_EQ(uhmm_inject_delay(UHMM_DELAY_REGISTER, 100000), 0);
		ASSERT_EQ(pthread_create(&t, NULL, migrate_to_dev, &m), 0);
		usleep(30000);		/* it waits before registering */
		ASSERT_EQ(munmap(buf + HMM_PAGE, HMM_PAGE), 0);
		pthread_join(t, NULL);
		uhmm_inject_delay(UHMM_DELAY_REGISTER, 0);

		page = mmap(buf + HMM_PAGE, HMM_PAGE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		ASSERT_TRUE(page == buf + HMM_PAGE);
		fill_words(page, 1, 10 + round);
		ASSERT_EQ(dmirror_call(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, page, NULL, 1), 0);
		check(page, 1, 10 + round);
		ASSERT_EQ(munmap(buf, 3 * HMM_PAGE), 0);
	}
	api.close(fd);
}

/* --- a migration collecting pages while their mapping is replaced ---------- */

struct replacer {
	char *addr;
	int seed;
	int mapped;	/* atomic: 1 mapped and written, -1 could not map */
};

static void *replace_mapping(void *arg)
{
	struct replacer *r = arg;
	char *p;
	int tries;

	/* The old mapping goes while the migration holds its claim; map anew at once. */
	for (tries = 0; tries < 2000; tries++) {
		p = mmap(r->addr, HMM_PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p == r->addr) {
			fill_words(p, 1, r->seed);
			__atomic_store_n(&r->mapped, 1, __ATOMIC_RELEASE);
			return NULL;
		}
		if (p != MAP_FAILED)
			munmap(p, HMM_PAGE);
		usleep(100);
	}
	__atomic_store_n(&r->mapped, -1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * A migration has claimed a page and is about to move it out when another
 * thread unmaps it and a third maps a new page at the same address and
 * writes it.  The migration must not take the new mapping's page: it would
 * drop it as the unmapped one's, and the new mapping, never registered,
 * would read zeros.
 */
TEST(collect_spares_a_mapping_made_meanwhile)
{
	int fd, round;
	struct dmirror_api api = setup(&fd, 0);

	for (round = 0; round < 3; round++) {
		char *buf = mmap(NULL, HMM_PAGE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct hole_migration m = { &api, fd, buf, 1, 0 };
		struct replacer r = { buf, 20 + round, 0 };
		pthread_t mt, rt;

		ASSERT_TRUE(buf != MAP_FAILED);
		fill_words(buf, 1, round);
		/* Registered, so that unmapping it sends an event. */
		ASSERT_EQ(dmirror_call(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, NULL, 1), 0);
		ASSERT_EQ(dmirror_call(&api, fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, NULL, 1), 0);
		check(buf, 1, round);

		ASSERT_EQ(uhmm_inject_delay(UHMM_DELAY_COLLECT, 200000), 0);
		ASSERT_EQ(pthread_create(&mt, NULL, migrate_to_dev, &m), 0);
		usleep(30000);		/* it waits before moving the page out */
		ASSERT_EQ(pthread_create(&rt, NULL, replace_mapping, &r), 0);
		ASSERT_EQ(munmap(buf, HMM_PAGE), 0);
		pthread_join(mt, NULL);
		pthread_join(rt, NULL);
		uhmm_inject_delay(UHMM_DELAY_COLLECT, 0);
		ASSERT_EQ(__atomic_load_n(&r.mapped, __ATOMIC_ACQUIRE), 1);
		check(buf, 1, 20 + round);
		ASSERT_EQ(munmap(buf, HMM_PAGE), 0);
	}
	api.close(fd);
}

/* --- mremap() while a migration is in flight ------------------------------------- */

#define MOVE_PAGES	256UL
#define MOVE_ROUNDS	300

struct mover {
	struct dmirror_api api;
	int fd;
	char *cur;	/* atomic: where the buffer is now */
	int stop;	/* atomic */
};

static void *move_migrator(void *arg)
{
	struct mover *m = arg;
	unsigned int n = 0;

	while (!__atomic_load_n(&m->stop, __ATOMIC_RELAXED)) {
		char *p = __atomic_load_n(&m->cur, __ATOMIC_ACQUIRE);

		/* The buffer may move under the command: any error is fine, data loss is not. */
		dmirror_call(&m->api, m->fd, n++ & 1 ? HMM_DMIRROR_MIGRATE_TO_SYS :
			     HMM_DMIRROR_MIGRATE_TO_DEV, p, NULL, MOVE_PAGES);
	}
	return NULL;
}

/*
 * A 256-page buffer moves between two addresses with mremap(MREMAP_FIXED)
 * while another thread migrates it to the device and back: the pages in
 * flight follow the mapping, and every page reads back whole each round.
 */
TEST(mremap_during_migration)
{
	struct mover m;
	char *a, *b, *from, *to;
	unsigned long len = MOVE_PAGES * HMM_PAGE;
	unsigned int warns = uhmm_warn_count();
	pthread_t t;
	int round;

	m.api = setup(&m.fd, 0);
	/* Far away: the old address is a hole between mremap() and the mmap() that fills it. */
	a = mmap_far(2 * len, PROT_READ | PROT_WRITE, 0);
	ASSERT_TRUE(a != MAP_FAILED);
	b = a + len;
	fill_words(a, MOVE_PAGES, 5);
	m.cur = a;
	m.stop = 0;
	ASSERT_EQ(pthread_create(&t, NULL, move_migrator, &m), 0);
	for (round = 0; round < MOVE_ROUNDS; round++) {
		from = round & 1 ? b : a;
		to = round & 1 ? a : b;
		ASSERT_TRUE(mremap(from, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to) == to);
		__atomic_store_n(&m.cur, to, __ATOMIC_RELEASE);
		check(to, MOVE_PAGES, 5);
		/* Keep the other half mapped for the next move to land on. */
		ASSERT_TRUE(mmap(from, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == from);
	}
	__atomic_store_n(&m.stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	check(to, MOVE_PAGES, 5);
	ASSERT_EQ(uhmm_warn_count(), warns);
	munmap(a, 2 * len);
	m.api.close(m.fd);
}

/* --- a fault handled after an mremap() moved its page ------------------------------ */

static __thread sigjmp_buf access_env;

static void access_signal(int sig)
{
	siglongjmp(access_env, sig);
}

struct access {
	volatile int *addr;
	int value, sig;		/* what the read found, or the signal it got */
};

static void *access_once(void *arg)
{
	struct access *a = arg;
	int sig = sigsetjmp(access_env, 1);

	if (!sig)
		a->value = *a->addr;
	a->sig = sig;
	return NULL;
}

/*
 * A thread reads a page in device memory while another thread mremap()s
 * its mapping away; the fault is handled after the kernel moved the
 * mapping and before the engine reads the event that says so, and the
 * driver's migration finds no mapping at the address.  As in the kernel,
 * where the read happens either before the move or after it, the read
 * returns the page or gets SIGSEGV; never SIGBUS.  The page is whole at
 * its new address.
 */
TEST(fault_racing_mremap_is_not_sigbus)
{
	struct sigaction sa = { .sa_handler = access_signal }, old_segv, old_bus;
	unsigned long len = HMM_PAGE;
	struct access acc = { 0 };
	char *a, *b;
	pthread_t t;
	int fd;
	struct dmirror_api api = setup(&fd, 0);

	a = mmap_far(2 * len, PROT_READ | PROT_WRITE, 0);
	ASSERT_TRUE(a != MAP_FAILED);
	b = a + len;
	fill_words(a, 1, 7);
	ASSERT_EQ(dmirror_call(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, a, NULL, 1), 0);
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	uhmm_inject_delay(UHMM_DELAY_FAULT_DEVICE, 200000);
	acc.addr = (volatile int *)a;
	ASSERT_EQ(pthread_create(&t, NULL, access_once, &acc), 0);
	usleep(50000);	/* the fault is in the delay now */
	ASSERT_TRUE(mremap(a, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, b) == b);
	pthread_join(t, NULL);
	uhmm_inject_delay(UHMM_DELAY_FAULT_DEVICE, 0);
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	ASSERT_NE(acc.sig, SIGBUS);
	if (!acc.sig)
		ASSERT_EQ(acc.value, 7);
	check(b, 1, 7);
	munmap(a, 2 * len);
	api.close(fd);
}

/* --- a failed fault, and a thread that left it -------------------------------------- */

static int usr1_calls;		/* atomic */
static int usr1_pipe[2];

/* Keeps the thread in the handler, blocked in read(), until released. */
static void usr1_handler(int sig)
{
	char c;

	(void)sig;
	__atomic_add_fetch(&usr1_calls, 1, __ATOMIC_SEQ_CST);
	if (read(usr1_pipe[0], &c, 1) < 0)
		_exit(3);
}

/*
 * A thread reads a page in device memory and the driver fails the fault
 * twice.  The first failure only wakes the thread, which faults again (a
 * stale message fails so too); the second, 200 ms later (a delay before
 * the driver), sends SIGBUS if the thread still waits for the fault.
 * With @leave, a signal takes the thread out of its fault during that
 * delay, into a handler that waits for a pipe: the failure is then of a
 * message the thread has left behind, and the thread must not get SIGBUS
 * for it.  Back from the handler it faults afresh, and the fault succeeds.
 */
static void fail_fault_twice(bool leave)
{
	struct sigaction sa = { .sa_handler = access_signal }, su = { .sa_handler = usr1_handler };
	struct sigaction old_segv, old_bus, old_usr1;
	struct access acc = { 0 };
	struct uhmm_mm_stats before, after;
	dmirror_fail_nth_fn fail;
	pthread_t t;
	char *a;
	int fd;
	struct dmirror_api api = setup(&fd, 0);

	fail = (dmirror_fail_nth_fn)uhmm_symbol_get("dmirror_fail_nth");
	ASSERT_NONNULL(fail);
	a = mmap_far(HMM_PAGE, PROT_READ | PROT_WRITE, 0);
	ASSERT_TRUE(a != MAP_FAILED);
	fill_words(a, 1, 7);
	ASSERT_EQ(dmirror_call(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, a, NULL, 1), 0);
	ASSERT_EQ(pipe(usr1_pipe), 0);
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	sigaction(SIGUSR1, &su, &old_usr1);
	uhmm_inject_delay(UHMM_DELAY_FAULT_DEVICE, 200000);
	ASSERT_EQ(fail(fd, DMIRROR_FAIL_FAULT, 1), 0);
	before = mm_stats();
	acc.addr = (volatile int *)a;
	ASSERT_EQ(pthread_create(&t, NULL, access_once, &acc), 0);
	/* 0-200 ms: the first message in the delay; then it fails, and the second is in it. */
	usleep(300000);
	ASSERT_EQ(fail(fd, DMIRROR_FAIL_FAULT, 1), 0);	/* the first failure happened */
	if (leave) {
		pthread_kill(t, SIGUSR1);
		while (__atomic_load_n(&usr1_calls, __ATOMIC_SEQ_CST) < 1)
			usleep(1000);
	}
	usleep(200000);		/* 400 ms: the second failure */
	uhmm_inject_delay(UHMM_DELAY_FAULT_DEVICE, 0);
	ASSERT_EQ(fail(fd, DMIRROR_FAIL_FAULT, 0), 0);	/* ... happened */
	ASSERT_EQ(write(usr1_pipe[1], "x", 1), 1);
	pthread_join(t, NULL);
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	sigaction(SIGUSR1, &old_usr1, NULL);
	after = mm_stats();
	ASSERT_EQ(after.fault_errors - before.fault_errors, 2);	/* both failures counted */
	if (leave) {
		ASSERT_EQ(acc.sig, 0);
		ASSERT_EQ(acc.value, 7);
		ASSERT_EQ(after.fault_sigbus, before.fault_sigbus);
	} else {
		ASSERT_EQ(acc.sig, SIGBUS);
		ASSERT_EQ(after.fault_sigbus - before.fault_sigbus, 1);
	}
	close(usr1_pipe[0]);
	close(usr1_pipe[1]);
	munmap(a, HMM_PAGE);
	api.close(fd);
}

/* A fault the driver fails, and fails again when the thread retries it, is SIGBUS. */
TEST(fault_failed_twice_is_sigbus)
{
	fail_fault_twice(false);
}

TEST(failed_fault_a_thread_left_is_not_sigbus)
{
#if defined(__SANITIZE_THREAD__)
	/* Its handler runs SIGUSR1 at the thread's next intercepted call. */
	SKIP("ThreadSanitizer defers the signal, so the thread never leaves its fault");
#endif
	fail_fault_twice(true);
}
