/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A buffer whose pages each have one owner thread that checks and rewrites
 * them, and any number of threads that migrate them or read them through a
 * device.  Each page's key is its address.
 *
 * The owner publishes the version it is about to write in writing[], writes
 * the page, then publishes it in done[] and clears writing[].  A device read
 * that starts after reading done[] = lo and whose copy is checked against
 * hi = max(writing[], done[]) read afterwards (in that order) may see any
 * mix of versions lo..hi, word by word, and nothing else.
 */
#ifndef UHMM_STRESS_PAGES_H
#define UHMM_STRESS_PAGES_H

#include <pthread.h>

#include "stress.h"

struct stress_pages {
	char *base;
	unsigned long npages;
	uint32_t *done;			/* last version written in full (atomic) */
	uint32_t *writing;		/* version being written, or 0 (atomic) */
	struct stress_hist *hist;
	uint64_t *keys;			/* every page's key, to name a misplaced page */
	pthread_rwlock_t write_lock;	/* read-held around each write; see pause */
};

/* A private anonymous buffer of @npages, every page at version 1. */
struct stress_pages *stress_pages_create(unsigned long npages);
void stress_pages_destroy(struct stress_pages *s);

static inline uint64_t stress_pages_key(const struct stress_pages *s, unsigned long p)
{
	return (uintptr_t)(s->base + p * STRESS_PAGE);
}

static inline char *stress_pages_addr(const struct stress_pages *s, unsigned long p)
{
	return s->base + p * STRESS_PAGE;
}

/* The owner writes the next version of page @p. */
void stress_pages_write(struct stress_pages *s, unsigned long p);
/* The owner checks page @p in full against the last version it wrote; reports if wrong. */
bool stress_pages_check(struct stress_pages *s, unsigned long p, const char *what);

/* Stop every owner's writes (for fork()), and let them go on. */
void stress_pages_pause(struct stress_pages *s);
void stress_pages_resume(struct stress_pages *s);
/*
 * In the child of a fork() made while paused: a fresh write lock (the
 * parent's writer was another thread id, so it cannot be unlocked here).
 */
void stress_pages_after_fork(struct stress_pages *s);

/* Before a device copy of pages [first, first + n): lo[i], the versions it may not predate. */
void stress_pages_lo(struct stress_pages *s, unsigned long first, unsigned long n, uint32_t *lo);
/*
 * After it: checks each page of @copy against lo[i]..hi; reports and
 * returns the number of wrong pages.
 */
unsigned long stress_pages_check_copy(struct stress_pages *s, unsigned long first,
				      unsigned long n, const char *copy, const uint32_t *lo,
				      const char *what);

/* Reports page @p wrong: its content, what was expected, its history. */
void stress_pages_report(struct stress_pages *s, unsigned long p, const void *content,
			 uint32_t lo, uint32_t hi, const char *what);

/*
 * One dmirror migration (MIGRATE_TO_DEV or MIGRATE_TO_SYS) of pages
 * [first, first + n) recorded in their history; for MIGRATE_TO_DEV the
 * pages read back into @bounce (n pages) are checked.  Returns the
 * command's result; *cpages gets its page count.
 */
int stress_pages_migrate(struct stress_pages *s, struct stress_dmirror *api, int fd, int dev,
			 unsigned long request, unsigned long first, unsigned long n,
			 char *bounce, uint64_t *cpages);
/* HMM_DMIRROR_READ of [first, first + n) into @bounce, checked. */
int stress_pages_read(struct stress_pages *s, struct stress_dmirror *api, int fd, int dev,
		      unsigned long first, unsigned long n, char *bounce);

#endif
