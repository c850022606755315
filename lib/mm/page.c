// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * struct uhmm_page: reference count and lock.
 *
 * The lock is a bit in page->flags.  A thread that finds it taken sleeps on
 * one of a few hashed wait queues and sets PG_waiters; unlock wakes the queue
 * only when that bit is set, so an uncontended lock/unlock is two atomic ops.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include "../core/internal.h"
#include "mm_internal.h"

#define PAGE_WAIT_TABLE_BITS	6

struct page_wait_queue {
	pthread_mutex_t lock;
	pthread_cond_t wait;
} __attribute__((aligned(64)));

#define WQ_INIT { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER }
#define WQ_INIT4 WQ_INIT, WQ_INIT, WQ_INIT, WQ_INIT
#define WQ_INIT16 WQ_INIT4, WQ_INIT4, WQ_INIT4, WQ_INIT4
static struct page_wait_queue page_wait_table[1 << PAGE_WAIT_TABLE_BITS] = {
	WQ_INIT16, WQ_INIT16, WQ_INIT16, WQ_INIT16
};

#define PG_LOCKED	(1UL << UHMM_PG_locked)
#define PG_WAITERS	(1UL << UHMM_PG_waiters)

static struct page_wait_queue *page_waitqueue(const struct uhmm_page *page)
{
	uintptr_t h = (uintptr_t)page / sizeof(*page);

	h ^= h >> 17;
	h *= 0x9E3779B97F4A7C15ULL;
	return &page_wait_table[h >> (64 - PAGE_WAIT_TABLE_BITS)];
}

UHMM_EXPORT bool uhmm_trylock_page(struct uhmm_page *page)
{
	return !(__atomic_fetch_or(&page->flags, PG_LOCKED, __ATOMIC_ACQUIRE) & PG_LOCKED);
}

UHMM_EXPORT void uhmm_lock_page(struct uhmm_page *page)
{
	struct page_wait_queue *q;

	if (likely(uhmm_trylock_page(page)))
		return;
	q = page_waitqueue(page);
	pthread_mutex_lock(&q->lock);
	for (;;) {
		__atomic_fetch_or(&page->flags, PG_WAITERS, __ATOMIC_SEQ_CST);
		if (uhmm_trylock_page(page))
			break;
		pthread_cond_wait(&q->wait, &q->lock);
	}
	pthread_mutex_unlock(&q->lock);
}

UHMM_EXPORT void uhmm_unlock_page(struct uhmm_page *page)
{
	unsigned long old;
	struct page_wait_queue *q;

	old = __atomic_fetch_and(&page->flags, ~(PG_LOCKED | PG_WAITERS), __ATOMIC_SEQ_CST);
	if (WARN(!(old & PG_LOCKED), "unlock_page of unlocked page pfn %#lx", page->pfn))
		return;
	if (likely(!(old & PG_WAITERS)))
		return;
	/* Every waiter rechecks and sets PG_waiters again if it must sleep on. */
	q = page_waitqueue(page);
	pthread_mutex_lock(&q->lock);
	pthread_cond_broadcast(&q->wait);
	pthread_mutex_unlock(&q->lock);
}

UHMM_EXPORT bool uhmm_page_locked(const struct uhmm_page *page)
{
	return __atomic_load_n(&page->flags, __ATOMIC_ACQUIRE) & PG_LOCKED;
}

UHMM_EXPORT int uhmm_zone_device_page_init(struct uhmm_page *page)
{
	struct uhmm_dev_pagemap *pgmap = page->pgmap;
	bool pin = pgmap->type == UHMM_MEMORY_DEVICE_PRIVATE ||
		   pgmap->type == UHMM_MEMORY_DEVICE_COHERENT;
	int idle = 0;

	if (!pin && pgmap->type != UHMM_MEMORY_DEVICE_PCI_P2PDMA)
		return -EINVAL;
	if (page->flags & (1UL << UHMM_PG_reserved))
		return -EBUSY;
	if (pin && !uhmm_percpu_ref_tryget_live(&pgmap->ref))
		return -ENXIO;
	if (!__atomic_compare_exchange_n(&page->_refcount, &idle, 1, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		if (pin)
			uhmm_put_dev_pagemap(pgmap);
		return -EBUSY;
	}
	uhmm_lock_page(page);
	return 0;
}

UHMM_EXPORT void uhmm_get_page(struct uhmm_page *page)
{
	int old = __atomic_load_n(&page->_refcount, __ATOMIC_SEQ_CST);

	do {
		if (WARN(old <= 0, "get_page on free page pfn %#lx", page->pfn))
			return;
	} while (!__atomic_compare_exchange_n(&page->_refcount, &old, old + 1, true,
						   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
}

UHMM_EXPORT void uhmm_put_page(struct uhmm_page *page)
{
	int old = __atomic_load_n(&page->_refcount, __ATOMIC_SEQ_CST);

	do {
		if (WARN(old <= 0, "put_page on free page pfn %#lx", page->pfn))
			return;
	} while (!__atomic_compare_exchange_n(&page->_refcount, &old, old - 1, true,
						   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	if (old == 1)
		free_zone_device_page(page);
}
