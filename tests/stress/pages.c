// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Owned pages: see pages.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pages.h"

/*
 * A full barrier, also for the plain accesses around it: a locked
 * read-modify-write (ThreadSanitizer has no atomic_thread_fence).
 */
static void full_barrier(void)
{
	static __thread uint32_t word;

	__atomic_fetch_add(&word, 0, __ATOMIC_SEQ_CST);
}

/* Pages whose history is printed in full; later ones get one line. */
#define DETAILED_REPORTS	8

struct stress_pages *stress_pages_create(unsigned long npages)
{
	struct stress_pages *s = calloc(1, sizeof(*s));
	pthread_rwlockattr_t attr;
	unsigned long p;

	if (!s)
		abort();
	s->npages = npages;
	s->base = mmap(NULL, npages * STRESS_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	s->done = calloc(npages, sizeof(*s->done));
	s->writing = calloc(npages, sizeof(*s->writing));
	s->hist = calloc(npages, sizeof(*s->hist));
	s->keys = calloc(npages, sizeof(*s->keys));
	if (s->base == MAP_FAILED || !s->done || !s->writing || !s->hist || !s->keys) {
		fprintf(stderr, "# out of memory for %lu pages\n", npages);
		exit(STRESS_FAIL);
	}
	/* fork() waits for the writes in progress, not behind new ones. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->write_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	for (p = 0; p < npages; p++) {
		s->keys[p] = stress_pages_key(s, p);
		stress_fill(stress_pages_addr(s, p), s->keys[p], 1);
		s->done[p] = 1;
	}
	return s;
}

void stress_pages_destroy(struct stress_pages *s)
{
	munmap(s->base, s->npages * STRESS_PAGE);
	pthread_rwlock_destroy(&s->write_lock);
	free(s->done);
	free(s->writing);
	free(s->hist);
	free(s->keys);
	free(s);
}

void stress_pages_write(struct stress_pages *s, unsigned long p)
{
	uint32_t v = __atomic_load_n(&s->done[p], __ATOMIC_RELAXED) + 1;

	pthread_rwlock_rdlock(&s->write_lock);
	__atomic_store_n(&s->writing[p], v, __ATOMIC_RELAXED);
	/* A device that sees a word of v sees writing[] = v, or done[] >= v after it. */
	full_barrier();
	stress_fill(stress_pages_addr(s, p), s->keys[p], v);
	__atomic_store_n(&s->done[p], v, __ATOMIC_RELEASE);
	__atomic_store_n(&s->writing[p], 0, __ATOMIC_RELEASE);
	pthread_rwlock_unlock(&s->write_lock);
	stress_hist_add(&s->hist[p], EV_WRITE, -1, 0, v);
}

bool stress_pages_check(struct stress_pages *s, unsigned long p, const char *what)
{
	uint32_t v = __atomic_load_n(&s->done[p], __ATOMIC_RELAXED);
	const char *addr = stress_pages_addr(s, p);

	if (stress_check(addr, s->keys[p], v))
		return true;
	stress_hist_add(&s->hist[p], EV_CHECK, -1, -1, v);
	stress_pages_report(s, p, addr, v, v, what);
	return false;
}

void stress_pages_pause(struct stress_pages *s)
{
	pthread_rwlock_wrlock(&s->write_lock);
}

void stress_pages_resume(struct stress_pages *s)
{
	pthread_rwlock_unlock(&s->write_lock);
}

void stress_pages_after_fork(struct stress_pages *s)
{
	pthread_rwlock_init(&s->write_lock, NULL);
}

void stress_pages_lo(struct stress_pages *s, unsigned long first, unsigned long n, uint32_t *lo)
{
	unsigned long i;

	for (i = 0; i < n; i++)
		lo[i] = __atomic_load_n(&s->done[first + i], __ATOMIC_ACQUIRE);
	full_barrier();
}

unsigned long stress_pages_check_copy(struct stress_pages *s, unsigned long first,
				      unsigned long n, const char *copy, const uint32_t *lo,
				      const char *what)
{
	unsigned long i, bad = 0;

	full_barrier();
	for (i = 0; i < n; i++) {
		unsigned long p = first + i;
		uint32_t w = __atomic_load_n(&s->writing[p], __ATOMIC_ACQUIRE);
		uint32_t d = __atomic_load_n(&s->done[p], __ATOMIC_ACQUIRE);
		uint32_t hi = w > d ? w : d;
		const char *page = copy + i * STRESS_PAGE;

		if (stress_check_between(page, s->keys[p], lo[i], hi))
			continue;
		bad++;
		stress_hist_add(&s->hist[p], EV_CHECK, -1, -1, lo[i]);
		stress_pages_report(s, p, page, lo[i], hi, what);
	}
	return bad;
}

void stress_pages_report(struct stress_pages *s, unsigned long p, const void *content,
			 uint32_t lo, uint32_t hi, const char *what)
{
	struct stress_thread *t = stress_self();
	bool detailed = stress_failures() < DETAILED_REPORTS;
	char desc[512];

	stress_describe(content, s->keys[p], lo, hi, s->keys, s->npages, desc, sizeof(desc));
	stress_report_lock();
	stress_fail("%s: page %lu (%p) wrong, seen by %s: %s", what, p,
		    (void *)stress_pages_addr(s, p), t ? t->name : "?", desc);
	if (detailed) {
		/* Read again: a wrong read that is right now is still a wrong read. */
		if (content == stress_pages_addr(s, p))
			fprintf(stderr, "#     read again, it is %s\n",
				stress_check_between(content, s->keys[p], lo, hi) ? "right" :
				"still wrong");
		stress_hist_print(&s->hist[p]);
		if (stress_report_hook)
			stress_report_hook();
	}
	stress_report_unlock();
}

int stress_pages_migrate(struct stress_pages *s, struct stress_dmirror *api, int fd, int dev,
			 unsigned long request, unsigned long first, unsigned long n,
			 char *bounce, uint64_t *cpages)
{
	enum stress_ev ev = request == HMM_DMIRROR_MIGRATE_TO_DEV ? EV_TO_DEV : EV_TO_SYS;
	uint32_t lo[512];
	char what[64];
	int ret;

	if (n > 512)
		n = 512;
	if (ev == EV_TO_DEV && bounce)
		stress_pages_lo(s, first, n, lo);
	stress_hist_add_range(&s->hist[first], n, ev, dev, STRESS_EV_BEGIN, (uint32_t)n);
	ret = stress_cmd(api, fd, request, stress_pages_addr(s, first),
			 ev == EV_TO_DEV ? bounce : NULL, n, cpages);
	stress_hist_add_range(&s->hist[first], n, ev, dev, ret, (uint32_t)n);
	if (!ret && ev == EV_TO_DEV && bounce) {
		snprintf(what, sizeof(what), "MIGRATE_TO_DEV of device %d read back", dev);
		stress_pages_check_copy(s, first, n, bounce, lo, what);
	}
	return ret;
}

int stress_pages_read(struct stress_pages *s, struct stress_dmirror *api, int fd, int dev,
		      unsigned long first, unsigned long n, char *bounce)
{
	uint32_t lo[512];
	char what[64];
	int ret;

	if (n > 512)
		n = 512;
	stress_pages_lo(s, first, n, lo);
	stress_hist_add_range(&s->hist[first], n, EV_READ, dev, STRESS_EV_BEGIN, (uint32_t)n);
	ret = stress_cmd(api, fd, HMM_DMIRROR_READ, stress_pages_addr(s, first), bounce, n, NULL);
	stress_hist_add_range(&s->hist[first], n, EV_READ, dev, ret, (uint32_t)n);
	if (!ret) {
		snprintf(what, sizeof(what), "READ through device %d's mirror", dev);
		stress_pages_check_copy(s, first, n, bounce, lo, what);
	}
	return ret;
}
