// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Exclusive device access to a system page (the kernel's
 * make_device_exclusive(), in mm/rmap.c there).
 *
 * The kernel replaces the page's PTE with a device-exclusive entry, so any
 * CPU access faults and restores it.  Here the page's frame is moved
 * (UFFDIO_MOVE) out of the mapping into a staging slot, where the device
 * reaches it at uhmm_page_address(), and uhmm's page table records an
 * exclusive entry.  A CPU access then takes a missing fault: the engine
 * marks the page as being revoked and the invalidation thread sends
 * EXCLUSIVE (owner NULL) to every mirror, moves the frame back, with what
 * the device wrote, and wakes every thread waiting on the address.
 */
#include <errno.h>
#include <sys/mman.h>

#include <uhmm/hmm.h>
#include <uhmm/migrate.h>

#include "../core/internal.h"
#include "mm_internal.h"

#define MM_MAPPING	((void *)&mm_engine)

/* page->flags also holds the page lock, changed atomically by others. */
static bool page_test_flag(struct uhmm_page *page, int bit)
{
	return __atomic_load_n(&page->flags, __ATOMIC_ACQUIRE) & (1UL << bit);
}

static bool page_test_and_set_flag(struct uhmm_page *page, int bit)
{
	return __atomic_fetch_or(&page->flags, 1UL << bit, __ATOMIC_ACQ_REL) & (1UL << bit);
}

static void page_clear_flag(struct uhmm_page *page, int bit)
{
	__atomic_fetch_and(&page->flags, ~(1UL << bit), __ATOMIC_RELEASE);
}
#define EXCLUSIVE_TRIES	16

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
#endif

/* After the ops ran: the frame goes back to the page's address. */
static void exclusive_restore(unsigned long addr, void *data)
{
	struct uhmm_page *page = data;
	long moved = 0;
	int tries;

	(void)addr;
	for (tries = 0; tries < 100000; tries++) {
		pthread_mutex_lock(&pt_lock);
		addr = page->index;	/* mremap() may have moved it */
		if (pte_exclusive_page(pt_get(addr)) != page) {
			/* Unmapped meanwhile: exclusive_unmapped() freed it. */
			pthread_mutex_unlock(&pt_lock);
			return;
		}
		moved = mm_install_frame(addr, page);
		if (moved == -EAGAIN) {
			pthread_mutex_unlock(&pt_lock);
			mm_engine_drain();
			continue;
		}
		WARN(moved != (long)UHMM_PAGE_SIZE && moved != -ENOENT && moved != 0,
		     "exclusive page at %#lx lost: UFFDIO_MOVE: %ld", addr, moved);
		if (moved == (long)UHMM_PAGE_SIZE)
			page_clear_flag(page, PG_SYS_POPULATED);
		page_clear_flag(page, PG_EXCL_REVOKING);
		page->mapping = NULL;
		pt_set(addr, 0);
			pthread_mutex_unlock(&pt_lock);
		break;
	}
	uhmm_put_page(page);	/* the exclusive entry's reference */
	mm_wake(addr, UHMM_PAGE_SIZE);
}

void exclusive_fault(unsigned long addr, struct uhmm_page *page)
{
	if (page_test_and_set_flag(page, PG_EXCL_REVOKING))
		return;		/* already on its way back */
	mn_invalidate_async(addr, addr + UHMM_PAGE_SIZE, UHMM_MMU_NOTIFY_EXCLUSIVE,
			    exclusive_restore, page);
}

/* The page is freed once the ops for its unmap have run. */
static void exclusive_free(unsigned long addr, void *data)
{
	(void)addr;
	uhmm_put_page(data);
}

void exclusive_unmapped(unsigned long addr, struct uhmm_page *page)
{
	pt_set(addr, 0);
	page->mapping = NULL;
	if (page_test_flag(page, PG_EXCL_REVOKING))
		return;		/* exclusive_restore() finds it gone and puts it */
	mn_invalidate_async(addr, addr + UHMM_PAGE_SIZE, UHMM_MMU_NOTIFY_UNMAP,
			    exclusive_free, page);
}

struct exclusive_batch {
	unsigned long addr[64];
	unsigned int n;
};

static void collect_exclusive(unsigned long addr, uintptr_t pte, void *arg)
{
	struct exclusive_batch *b = arg;
	struct uhmm_page *page = pte_exclusive_page(pte);

	if (page && b->n < ARRAY_SIZE(b->addr) && !page_test_and_set_flag(page, PG_EXCL_REVOKING))
		b->addr[b->n++] = addr;
}

void exclusive_revoke_all(void)
{
	struct exclusive_batch b;
	unsigned int i;

	do {
		b.n = 0;
		pthread_mutex_lock(&pt_lock);
		pt_walk(collect_exclusive, &b);
		pthread_mutex_unlock(&pt_lock);
		for (i = 0; i < b.n; i++) {
			struct uhmm_page *page;

			pthread_mutex_lock(&pt_lock);
			page = pte_exclusive_page(pt_get(b.addr[i]));
			pthread_mutex_unlock(&pt_lock);
			if (!page)
				continue;
			mn_invalidate(b.addr[i], b.addr[i] + UHMM_PAGE_SIZE,
				      UHMM_MMU_NOTIFY_EXCLUSIVE, NULL);
			exclusive_restore(b.addr[i], page);
		}
	} while (b.n);
}

/*
 * Moves the frame at @addr into @slot and records the exclusive entry, all
 * under one hold of pt_lock: the move is refused while an unmap of the
 * mapping is unread (see sysmem_move_in()), so it cannot take the page of
 * a mapping that replaced the one registered.
 */
static int take_page(unsigned long addr, struct uhmm_page *slot, void *owner)
{
	unsigned long marker = 0;
	long moved;

	pthread_mutex_lock(&pt_lock);
	if (pt_get(addr)) {
		/* In device memory, migrating, or already exclusive: fault it first. */
		pthread_mutex_unlock(&pt_lock);
		return -EAGAIN;
	}
	if (!mm_range_watched(addr, addr + UHMM_PAGE_SIZE)) {
		/* Unmapped since it was registered. */
		pthread_mutex_unlock(&pt_lock);
		return -EFAULT;
	}
	/* Allocates the entry's place first, so that recording it cannot fail. */
	if (pt_set(addr, pte_mk_migration(&marker))) {
		pthread_mutex_unlock(&pt_lock);
		return -ENOMEM;
	}
	moved = sysmem_move_in(slot, addr, UHMM_PAGE_SIZE);
	if (moved == (long)UHMM_PAGE_SIZE)
		sysmem_scan_populated(slot, 1);
	if (moved != (long)UHMM_PAGE_SIZE || !(slot->flags & (1UL << PG_SYS_POPULATED))) {
		pt_set(addr, 0);
		pthread_mutex_unlock(&pt_lock);
		/* Shared, an event unread, or not present after all: the caller looks again. */
		if (moved == -EBUSY || moved == -EAGAIN || moved == -ENOENT || moved >= 0)
			return -EAGAIN;
		return (int)moved;
	}
	slot->index = addr;
	slot->mapping = MM_MAPPING;
	slot->zone_device_data = owner;
	pt_set(addr, (uintptr_t)slot | PTE_EXCLUSIVE);
	pthread_mutex_unlock(&pt_lock);
	return 0;
}

UHMM_EXPORT struct uhmm_page *uhmm_make_device_exclusive(unsigned long addr, void *owner)
{
	unsigned long vs, ve, flags;
	struct uhmm_page *slot;
	int ret, tries;

	addr = ALIGN_DOWN(addr, UHMM_PAGE_SIZE);
	ret = vma_lookup_flags(addr, &vs, &ve, &flags);
	if (ret || !(flags & UHMM_VM_WRITE)) {
		errno = ret && ret != -ENOENT ? -ret : EFAULT;
		return NULL;
	}
	/* Only anonymous pages, as the kernel; UFFDIO_MOVE needs them private. */
	if (flags & (UHMM_VM_SHARED | UHMM_VM_FILE)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	ret = mm_engine_start();
	if (!ret)
		ret = mm_register_range(addr, addr + UHMM_PAGE_SIZE, MM_REG_MISSING);
	if (ret) {
		errno = -ret;
		return NULL;
	}
	mn_sync_range(addr, addr + UHMM_PAGE_SIZE);
	for (tries = 0; tries < EXCLUSIVE_TRIES; tries++) {
		/* Present, writable, ours (a device page comes back, COW is broken). */
		if (madvise((void *)addr, UHMM_PAGE_SIZE, MADV_POPULATE_WRITE)) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			errno = EFAULT;
			return NULL;
		}
		mn_invalidate(addr, addr + UHMM_PAGE_SIZE, UHMM_MMU_NOTIFY_EXCLUSIVE, owner);
		slot = sysmem_alloc_run(1);
		if (!slot) {
			errno = ENOMEM;
			return NULL;
		}
		pthread_rwlock_rdlock(&mm_fork_lock);
		ret = take_page(addr, slot, owner);
		pthread_rwlock_unlock(&mm_fork_lock);
		if (!ret) {
			uhmm_get_page(slot);	/* the caller's */
			uhmm_lock_page(slot);
			return slot;
		}
		uhmm_put_page(slot);
		if (ret != -EAGAIN) {
			errno = -ret;
			return NULL;
		}
	}
	errno = EBUSY;
	return NULL;
}
