// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Exclusive device access to a system page (the kernel's
 * make_device_exclusive(), in mm/rmap.c there).
 *
 * The kernel replaces the page's PTE with a device-exclusive entry, so any
 * CPU access faults and restores it.  Here the page's frame is moved
 * (UFFDIO_MOVE) out of the mapping into a staging slot, where the device
 * reaches it at uhmm_page_address(), and uhmm's page table records an
 * exclusive entry.  A CPU access then takes a missing fault, and memory.c
 * gives the page back.
 */
#include <errno.h>
#include <sys/mman.h>

#include <uhmm/hmm.h>
#include <uhmm/migrate.h>

#include "../core/internal.h"
#include "mm_internal.h"

#define EXCLUSIVE_TRIES	16

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
#endif

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

	pthread_mutex_lock(&init_mm.pt_lock);
	if (pt_get(addr)) {
		/* In device memory, migrating, or already exclusive: fault it first. */
		pthread_mutex_unlock(&init_mm.pt_lock);
		return -EAGAIN;
	}
	if (!mm_range_watched(addr, addr + UHMM_PAGE_SIZE)) {
		/* Unmapped since it was registered. */
		pthread_mutex_unlock(&init_mm.pt_lock);
		return -EFAULT;
	}
	/* Allocates the entry's place first, so that recording it cannot fail. */
	if (pt_set(addr, pte_mk_migration(&marker))) {
		pthread_mutex_unlock(&init_mm.pt_lock);
		return -ENOMEM;
	}
	moved = sysmem_move_in(slot, addr, UHMM_PAGE_SIZE);
	if (moved == (long)UHMM_PAGE_SIZE)
		sysmem_scan_populated(slot, 1);
	if (moved != (long)UHMM_PAGE_SIZE || !page_flag_test(slot, PG_SYS_POPULATED)) {
		pt_set(addr, 0);
		pthread_mutex_unlock(&init_mm.pt_lock);
		/* Shared, an event unread, or not present after all: the caller looks again. */
		if (moved == -EBUSY || moved == -EAGAIN || moved == -ENOENT || moved >= 0)
			return -EAGAIN;
		return (int)moved;
	}
	slot->index = addr;
	slot->mapping = MM_MAPPING;
	slot->zone_device_data = owner;
	pt_set(addr, (uintptr_t)slot | PTE_EXCLUSIVE);
	pthread_mutex_unlock(&init_mm.pt_lock);
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
	ret = mm_start();
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
		mm_fork_enter();
		ret = take_page(addr, slot, owner);
		mm_fork_exit();
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
