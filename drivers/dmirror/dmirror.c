// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmirror: the HMM test device, after the kernel's lib/test_hmm.c.
 *
 * Two device-private devices.  Device memory is host memory, allocated in
 * 256 MiB chunks as it is needed; each chunk is a pgmap over a free physical
 * range and an arena that holds its pages' bytes.  Free device pages are on
 * a list through page->zone_device_data.  Each open handle has a device page
 * table: which device page holds each address the handle migrated.
 *
 * Each handle also mirrors the process: an interval notifier over the whole
 * address space keeps its page table honest, READ and WRITE fill it with
 * hmm_range_fault() where it has nothing, and the device reaches a system
 * page at its address through uhmm_access_process_vm(), a device page in its
 * chunk's arena.
 *
 * Commands are the kernel test device's, with its numbers, struct and errors.
 *
 * Locks, outermost first: fork_lock (read by every command, written by
 * fork()), mdevice->lock, dmirror->mutex, handles_lock.  Neither
 * mdevice->lock nor dmirror->mutex is ever held while process memory that
 * may be in device memory is touched: the fault engine takes both to free
 * a device page, so a copy that faulted there would wait for itself.  The
 * command's buffer is reached through a bounce buffer, as the kernel's
 * device does, and a system page only at an address the mirror holds as
 * present.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <time.h>

#include <uhmm/device.h>
#include <uhmm/hmm.h>
#include <uhmm/migrate.h>
#include <uhmm/mmu_notifier.h>
#include <uhmm/module.h>
#include <uhmm/resource.h>

#include "hmm_dmirror.h"

#define DEVMEM_CHUNK_SIZE	(256UL << 20)
#define DEVMEM_CHUNKS_MAX	16
#define MIGRATE_BATCH		512	/* pages per migrate_vma call (2 MiB) */
#define MAX_HANDLES		64
#define EVICT_TRIES		100
#define FAULT_BATCH		64	/* pages per hmm_range_fault() call, as the kernel's */
#define RANGE_FAULT_TIMEOUT_NS	1000000000L	/* HMM_RANGE_DEFAULT_TIMEOUT */
#define FAULT_RETRIES		16	/* faults in a row at one address before -EFAULT */
#define SYSTEM_RUN_MAX		1024	/* system pages copied with one call */
#define BOUNCE_PAGES		512	/* the command's buffer is copied 2 MiB at a time */

/*
 * A device page table entry: the device page (or, with PT_ATOMIC, the page
 * held for exclusive access), or PT_SYSTEM for a system page the device
 * reaches at its address; PT_WRITE if it may write.
 */
#define PT_WRITE		1UL
#define PT_SYSTEM		2UL
#define PT_ATOMIC		4UL
#define PT_FLAGS		7UL

struct dmirror_device;

struct dmirror_chunk {
	struct uhmm_dev_pagemap pagemap;	/* first: see page_chunk() */
	struct dmirror_device *mdevice;
	char *arena;				/* the pages' bytes */
	bool removing;				/* mdevice->lock: freed pages stay off the list */
	bool evicting;				/* mdevice->lock: a RELEASE is emptying it */
};

struct dmirror_device {
	struct uhmm_device *dev;
	pthread_mutex_t lock;			/* protects everything below */
	struct dmirror_chunk *chunks[DEVMEM_CHUNKS_MAX];	/* until unmapped */
	unsigned int nr_chunks;
	struct uhmm_page *free_pages;
	unsigned long calloc, cfree;
	unsigned long fail_nth[3];		/* DMIRROR_FAIL_*: countdowns; stored
						 * atomically, so a disarmed site is
						 * seen without the lock */
};

/* A hash of address >> PAGE_SHIFT to device page | PT_WRITE. */
struct dmirror_pt {
	unsigned long *keys;
	uintptr_t *vals;
	size_t cap, used;
};

struct dmirror {
	struct dmirror_device *mdevice;
	unsigned int refs;			/* handles_lock: the table's, and each command's */
	pthread_mutex_t mutex;			/* protects pt and flags */
	struct dmirror_pt pt;
	uint64_t flags;				/* mutex; stored atomically (read without
						 * it while no flag is set) */
	struct uhmm_mmu_interval_notifier notifier;	/* the whole address space */
};

/* A notifier that only watches one snapshot. */
struct dmirror_interval {
	struct uhmm_mmu_interval_notifier notifier;
	struct dmirror *dmirror;
};

static struct dmirror_device mdevices[HMM_DMIRROR_NR_DEVICES];
static struct dmirror *handles[MAX_HANDLES];
static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
/* Held for read by every command; fork() takes it for write (see dmirror_atfork()). */
static pthread_rwlock_t fork_lock;

static struct dmirror_chunk *page_chunk(const struct uhmm_page *page)
{
	return (struct dmirror_chunk *)uhmm_page_pgmap(page);
}

/* Where the bytes of a device page are: the kernel's BACKING_PAGE(). */
static void *backing(const struct uhmm_page *page)
{
	struct dmirror_chunk *chunk = page_chunk(page);

	return chunk->arena + ((page->pfn - uhmm_pgmap_pfn_first(&chunk->pagemap, 0)) <<
			       UHMM_PAGE_SHIFT);
}

/* --- the device page table -------------------------------------------------- */

#define PT_EMPTY	(~0UL)

static size_t pt_slot(const struct dmirror_pt *pt, unsigned long key)
{
	size_t i = (key * 0x9E3779B97F4A7C15ULL) & (pt->cap - 1);

	while (pt->keys[i] != PT_EMPTY && pt->keys[i] != key)
		i = (i + 1) & (pt->cap - 1);
	return i;
}

static uintptr_t pt_load(const struct dmirror_pt *pt, unsigned long key)
{
	size_t i;

	if (!pt->cap)
		return 0;
	i = pt_slot(pt, key);
	return pt->keys[i] == key ? pt->vals[i] : 0;
}

static int pt_grow(struct dmirror_pt *pt)
{
	struct dmirror_pt n = { .cap = pt->cap ? 2 * pt->cap : 1024 };
	size_t i;

	n.keys = malloc(n.cap * sizeof(*n.keys));
	n.vals = malloc(n.cap * sizeof(*n.vals));
	if (!n.keys || !n.vals) {
		free(n.keys);
		free(n.vals);
		return -ENOMEM;
	}
	memset(n.keys, 0xff, n.cap * sizeof(*n.keys));
	for (i = 0; i < pt->cap; i++) {
		if (pt->keys[i] == PT_EMPTY)
			continue;
		size_t j = pt_slot(&n, pt->keys[i]);

		n.keys[j] = pt->keys[i];
		n.vals[j] = pt->vals[i];
		n.used++;
	}
	free(pt->keys);
	free(pt->vals);
	*pt = n;
	return 0;
}

static int pt_store(struct dmirror_pt *pt, unsigned long key, uintptr_t val)
{
	size_t i;

	if ((pt->used + 1) * 2 > pt->cap && pt_grow(pt))
		return -ENOMEM;
	i = pt_slot(pt, key);
	if (pt->keys[i] == PT_EMPTY)
		pt->used++;
	pt->keys[i] = key;
	pt->vals[i] = val;
	return 0;
}

/* Removes @key, re-placing the entries after it (linear probing). */
static void pt_erase(struct dmirror_pt *pt, unsigned long key)
{
	size_t i, j;

	if (!pt->cap)
		return;
	i = pt_slot(pt, key);
	if (pt->keys[i] != key)
		return;
	pt->keys[i] = PT_EMPTY;
	pt->used--;
	for (j = (i + 1) & (pt->cap - 1); pt->keys[j] != PT_EMPTY; j = (j + 1) & (pt->cap - 1)) {
		unsigned long k = pt->keys[j];
		uintptr_t v = pt->vals[j];

		pt->keys[j] = PT_EMPTY;
		pt->used--;
		pt_store(pt, k, v);
	}
}

static struct uhmm_page *entry_page(uintptr_t entry)
{
	return (struct uhmm_page *)(entry & ~PT_FLAGS);
}

/* Drops @key if its entry has any of @flags (0: whatever it holds). */
static void pt_erase_if(struct dmirror_pt *pt, unsigned long key, uintptr_t flags)
{
	if (!flags || (pt_load(pt, key) & flags))
		pt_erase(pt, key);
}

/*
 * Drops the entries in [start, end) (the kernel's dmirror_do_update()), or
 * with @flags only those that have one of them.
 */
static void pt_erase_range(struct dmirror_pt *pt, unsigned long start, unsigned long end,
			   uintptr_t flags)
{
	unsigned long first = start >> UHMM_PAGE_SHIFT, last = (end - 1) >> UHMM_PAGE_SHIFT, k;
	size_t i;

	if (!pt->used)
		return;
	if (last - first < pt->cap) {
		for (k = first; k <= last; k++)
			pt_erase_if(pt, k, flags);
		return;
	}
	for (i = 0; i < pt->cap;) {
		k = pt->keys[i];
		if (k != PT_EMPTY && k >= first && k <= last && (!flags || (pt->vals[i] & flags)))
			pt_erase(pt, k);	/* may move a later key here: look again */
		else
			i++;
	}
}

/* --- device memory ----------------------------------------------------------- */

/* Whichever handle mapped device page @page forgets it; mdevice->lock held. */
static void dmirror_unmap_page(struct uhmm_page *page)
{
	struct dmirror *dmirror = page->zone_device_data;

	if (dmirror) {
		pthread_mutex_lock(&dmirror->mutex);
		if (entry_page(pt_load(&dmirror->pt, page->private_data)) == page)
			pt_erase(&dmirror->pt, page->private_data);
		pthread_mutex_unlock(&dmirror->mutex);
	}
	page->private_data = 0;
	page->zone_device_data = NULL;
}

static void dmirror_page_free(struct uhmm_page *page)
{
	struct dmirror_chunk *chunk = page_chunk(page);
	struct dmirror_device *mdevice = chunk->mdevice;

	/* The kernel's notifier does this; here the page's own handle is known. */
	pthread_mutex_lock(&mdevice->lock);
	dmirror_unmap_page(page);
	mdevice->cfree++;
	if (!chunk->removing) {
		page->zone_device_data = mdevice->free_pages;
		mdevice->free_pages = page;
	}
	pthread_mutex_unlock(&mdevice->lock);
}

static uhmm_vm_fault_t dmirror_devmem_fault(struct uhmm_vm_fault *vmf);

static const struct uhmm_dev_pagemap_ops dmirror_devmem_ops = {
	.page_free = dmirror_page_free,
	.migrate_to_ram = dmirror_devmem_fault,
};

/* A new chunk; its pages go on the free list.  mdevice->lock held. */
static int dmirror_allocate_chunk(struct dmirror_device *mdevice)
{
	struct dmirror_chunk *chunk;
	struct uhmm_resource *res;
	unsigned long pfn;
	int ret;

	if (mdevice->nr_chunks == DEVMEM_CHUNKS_MAX)
		return -ENOMEM;
	chunk = calloc(1, sizeof(*chunk));
	if (!chunk)
		return -ENOMEM;
	chunk->arena = mmap(NULL, DEVMEM_CHUNK_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (chunk->arena == MAP_FAILED) {
		ret = -ENOMEM;
		goto err_free;
	}
	res = uhmm_request_free_mem_region(uhmm_iomem_resource(), DEVMEM_CHUNK_SIZE,
					   "hmm_dmirror");
	if (!res) {
		ret = -errno;
		goto err_arena;
	}
	chunk->mdevice = mdevice;
	chunk->pagemap.type = UHMM_MEMORY_DEVICE_PRIVATE;
	chunk->pagemap.range.start = res->start;
	chunk->pagemap.range.end = res->end;
	chunk->pagemap.nr_range = 1;
	chunk->pagemap.ops = &dmirror_devmem_ops;
	chunk->pagemap.owner = mdevice;
	ret = uhmm_memremap_pages(&chunk->pagemap);
	if (ret)
		goto err_region;
	for (pfn = uhmm_pgmap_pfn_end(&chunk->pagemap, 0);
	     pfn-- > uhmm_pgmap_pfn_first(&chunk->pagemap, 0);) {
		struct uhmm_page *page = uhmm_pfn_to_page(pfn);

		page->zone_device_data = mdevice->free_pages;
		mdevice->free_pages = page;
	}
	mdevice->chunks[mdevice->nr_chunks++] = chunk;
	return 0;

err_region:
	uhmm_release_mem_region(res->start, DEVMEM_CHUNK_SIZE);
err_arena:
	munmap(chunk->arena, DEVMEM_CHUNK_SIZE);
err_free:
	free(chunk);
	return ret;
}

/* Fault injection: true when the armed countdown of @site reaches this call. */
static bool dmirror_should_fail(struct dmirror_device *mdevice, unsigned int site)
{
	bool fail = false;

	/* Every page asks: the lock only when a test armed the site. */
	if (!__atomic_load_n(&mdevice->fail_nth[site], __ATOMIC_RELAXED))
		return false;
	pthread_mutex_lock(&mdevice->lock);
	if (mdevice->fail_nth[site]) {
		__atomic_store_n(&mdevice->fail_nth[site], mdevice->fail_nth[site] - 1,
				 __ATOMIC_RELAXED);
		fail = mdevice->fail_nth[site] == 0;
	}
	pthread_mutex_unlock(&mdevice->lock);
	return fail;
}

/* A device page for @dmirror, refcount 1 and locked; NULL if none is left. */
static struct uhmm_page *dmirror_devmem_alloc_page(struct dmirror_device *mdevice)
{
	struct uhmm_page *page;

	if (dmirror_should_fail(mdevice, DMIRROR_FAIL_ALLOC))
		return NULL;
	pthread_mutex_lock(&mdevice->lock);
	if (!mdevice->free_pages && dmirror_allocate_chunk(mdevice)) {
		pthread_mutex_unlock(&mdevice->lock);
		return NULL;
	}
	page = mdevice->free_pages;
	mdevice->free_pages = page->zone_device_data;
	page->zone_device_data = NULL;
	mdevice->calloc++;
	/*
	 * Referenced before the lock is dropped: RELEASE looks for idle chunks
	 * under it, and would unmap this one under a page it no longer sees.
	 */
	if (uhmm_zone_device_page_init(page))
		page = NULL;	/* the pgmap is going away: the page is the chunk's now */
	pthread_mutex_unlock(&mdevice->lock);
	return page;
}

/* --- migration to the device --------------------------------------------------- */

static bool dmirror_fail_alloc(struct dmirror *dmirror)
{
	bool fail;

	if (!(__atomic_load_n(&dmirror->flags, __ATOMIC_RELAXED) & HMM_DMIRROR_FLAG_FAIL_ALLOC))
		return false;
	pthread_mutex_lock(&dmirror->mutex);
	fail = dmirror->flags & HMM_DMIRROR_FLAG_FAIL_ALLOC;
	__atomic_store_n(&dmirror->flags, dmirror->flags & ~HMM_DMIRROR_FLAG_FAIL_ALLOC,
			 __ATOMIC_RELAXED);
	pthread_mutex_unlock(&dmirror->mutex);
	return fail;
}

static void dmirror_migrate_alloc_and_copy(struct uhmm_migrate_vma *args,
					   struct dmirror *dmirror, bool writable_vma)
{
	unsigned long i;

	for (i = 0; i < args->npages; i++) {
		unsigned long src = args->src[i];
		struct uhmm_page *spage = uhmm_migrate_pfn_to_page(src);
		struct uhmm_page *dpage;

		if (!(src & UHMM_MIGRATE_PFN_MIGRATE))
			continue;
		if (spage && uhmm_is_zone_device_page(spage))
			continue;	/* already device memory */
		dpage = dmirror_fail_alloc(dmirror) ? NULL :
			dmirror_devmem_alloc_page(dmirror->mdevice);
		if (!dpage)
			continue;
		if (dmirror_should_fail(dmirror->mdevice, DMIRROR_FAIL_COPY)) {
			uhmm_unlock_page(dpage);
			uhmm_put_page(dpage);
			continue;
		}
		if (spage)
			memcpy(backing(dpage), uhmm_page_address(spage), UHMM_PAGE_SIZE);
		else
			memset(backing(dpage), 0, UHMM_PAGE_SIZE);
		args->dst[i] = uhmm_migrate_pfn(dpage->pfn);
		if ((src & UHMM_MIGRATE_PFN_WRITE) || (!spage && writable_vma))
			args->dst[i] |= UHMM_MIGRATE_PFN_WRITE;
	}
}

/* Records the pages that moved in the handle's device page table. */
static void dmirror_migrate_finalize_and_map(struct uhmm_migrate_vma *args,
					     struct dmirror *dmirror)
{
	struct dmirror_device *mdevice = dmirror->mdevice;
	unsigned long i;

	pthread_mutex_lock(&mdevice->lock);
	pthread_mutex_lock(&dmirror->mutex);
	for (i = 0; i < args->npages; i++) {
		struct uhmm_page *dpage = uhmm_migrate_pfn_to_page(args->dst[i]);
		unsigned long addr = args->start + (i << UHMM_PAGE_SHIFT);
		uintptr_t entry;

		if (!dpage || !(args->src[i] & UHMM_MIGRATE_PFN_MIGRATE))
			continue;
		entry = (uintptr_t)dpage | (args->dst[i] & UHMM_MIGRATE_PFN_WRITE ? PT_WRITE : 0);
		if (pt_store(&dmirror->pt, addr >> UHMM_PAGE_SHIFT, entry))
			continue;	/* the device just cannot see it; the CPU still can */
		dpage->zone_device_data = dmirror;
		dpage->private_data = addr >> UHMM_PAGE_SHIFT;
	}
	pthread_mutex_unlock(&dmirror->mutex);
	pthread_mutex_unlock(&mdevice->lock);
}

/* --- the mirror ---------------------------------------------------------------- */

static bool dmirror_interval_invalidate(struct uhmm_mmu_interval_notifier *mni,
					const struct uhmm_mmu_notifier_range *range,
					unsigned long cur_seq)
{
	struct dmirror *dmirror = (struct dmirror *)((char *)mni - offsetof(struct dmirror, notifier));
	bool own = range->event == UHMM_MMU_NOTIFY_MIGRATE && range->owner == dmirror->mdevice;

	if (uhmm_mmu_notifier_range_blockable(range))
		pthread_mutex_lock(&dmirror->mutex);
	else if (pthread_mutex_trylock(&dmirror->mutex))
		return false;
	uhmm_mmu_interval_set_seq(mni, cur_seq);
	/*
	 * Its own migrations update the device pages' entries themselves, as
	 * the kernel's device does.  A system page the migration may take out
	 * of the mapping must go from the table all the same: reached at its
	 * address, it would fault, and wait for this very migration.
	 */
	pt_erase_range(&dmirror->pt, range->start, range->end, own ? PT_SYSTEM : 0);
	pthread_mutex_unlock(&dmirror->mutex);
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops dmirror_min_ops = {
	.invalidate = dmirror_interval_invalidate,
};

static long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* Records what hmm_range_fault() found; dmirror->mutex held. */
static int dmirror_do_fault(struct dmirror *dmirror, struct uhmm_hmm_range *range)
{
	unsigned long addr, *pfns = range->hmm_pfns;
	int ret;

	for (addr = range->start; addr < range->end; addr += UHMM_PAGE_SIZE, pfns++) {
		struct uhmm_page *page = uhmm_hmm_pfn_to_page(*pfns);
		uintptr_t entry;

		/* Asked to fault everything in: an error entry would be a bug. */
		if (!(*pfns & UHMM_HMM_PFN_VALID) || (*pfns & UHMM_HMM_PFN_ERROR))
			return -EFAULT;
		entry = page && uhmm_is_zone_device_page(page) ? (uintptr_t)page : PT_SYSTEM;
		if (*pfns & UHMM_HMM_PFN_WRITE)
			entry |= PT_WRITE;
		else if (range->default_flags & UHMM_HMM_PFN_REQ_WRITE)
			return -EFAULT;
		ret = pt_store(&dmirror->pt, addr >> UHMM_PAGE_SHIFT, entry);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * hmm_range_fault() until a look survives to the commit (the kernel's
 * dmirror_range_fault()); returns 0 with dmirror->mutex held.
 */
static int dmirror_range_fault_locked(struct dmirror *dmirror, struct uhmm_hmm_range *range)
{
	long timeout = now_ns() + RANGE_FAULT_TIMEOUT_NS;
	int ret;

	for (;;) {
		if (now_ns() > timeout)
			return -EBUSY;
		range->notifier_seq = uhmm_mmu_interval_read_begin(range->notifier);
		ret = uhmm_hmm_range_fault(range);
		if (ret == -EBUSY)
			continue;
		if (ret)
			return ret;
		pthread_mutex_lock(&dmirror->mutex);
		if (!uhmm_mmu_interval_read_retry(range->notifier, range->notifier_seq))
			return 0;
		pthread_mutex_unlock(&dmirror->mutex);
	}
}

/*
 * Faults [start, end) in and records it in the device page table, one batch
 * at a time, the batch at @start last.  Returns 0 with dmirror->mutex still
 * held from recording that batch: the caller copies from @start before any
 * invalidation can take those entries.  (With the mutex dropped in between,
 * another thread migrating the range in a tight loop took them every time,
 * and the command never progressed.)  On an error nothing is held; the error
 * is the one of the first batch that failed, as when faulting front to back.
 */
static int dmirror_fault(struct dmirror *dmirror, unsigned long start, unsigned long end,
			 bool write)
{
	const unsigned long batch = FAULT_BATCH * UHMM_PAGE_SIZE;
	unsigned long pfns[FAULT_BATCH], addr;
	struct uhmm_hmm_range range = {
		.notifier = &dmirror->notifier,
		.hmm_pfns = pfns,
		.default_flags = UHMM_HMM_PFN_REQ_FAULT | (write ? UHMM_HMM_PFN_REQ_WRITE : 0),
		.dev_private_owner = dmirror->mdevice,
	};
	int ret, first_err = 0;

	for (addr = start + (end - start - 1) / batch * batch;; addr -= batch) {
		range.start = addr;
		range.end = end - addr > batch ? addr + batch : end;
		ret = dmirror_range_fault_locked(dmirror, &range);
		if (!ret) {
			ret = dmirror_do_fault(dmirror, &range);
			if (!ret && addr == start && !first_err)
				break;	/* still locked, for the caller's copy */
			pthread_mutex_unlock(&dmirror->mutex);
		}
		if (ret)
			first_err = ret;
		if (addr == start)
			return first_err;
	}
	return 0;
}

/*
 * One page in device memory or held exclusive, through the device page
 * table, to or from @buf (the bounce buffer); dmirror->mutex held.  A page
 * whose mapping lost the permission loses its entry: the caller faults
 * again and hmm_range_fault() says why.
 */
static int dmirror_access(struct dmirror *dmirror, unsigned long addr, char *buf, bool write,
			  struct uhmm_vma *vma)
{
	unsigned long key = addr >> UHMM_PAGE_SHIFT;
	uintptr_t entry = pt_load(&dmirror->pt, key);
	void *mem;

	if (!entry || (write && !(entry & PT_WRITE)) || (entry & PT_SYSTEM))
		return -ENOENT;	/* a system page is copied by dmirror_do_rw() itself */
	/*
	 * A page held in device memory or for exclusive access is not reached
	 * through the CPU's mapping, so nothing checks it: look at the
	 * mapping's permissions here (mprotect() sends no invalidation).
	 */
	if ((addr < vma->start || addr >= vma->end) && uhmm_vma_lookup(addr, vma))
		vma->start = vma->end = vma->flags = 0;
	if (!(vma->flags & (write ? UHMM_VM_WRITE : UHMM_VM_READ))) {
		pt_erase(&dmirror->pt, key);
		return -ENOENT;
	}
	mem = entry & PT_ATOMIC ? uhmm_page_address(entry_page(entry)) : backing(entry_page(entry));
	if (write)
		memcpy(mem, buf, UHMM_PAGE_SIZE);
	else
		memcpy(buf, mem, UHMM_PAGE_SIZE);
	return 0;
}

/* How many system pages the device may reach from @addr on (at most 4 MiB). */
static unsigned long system_run(struct dmirror *dmirror, unsigned long addr, unsigned long end,
				bool write)
{
	unsigned long n = 0, need = PT_SYSTEM | (write ? PT_WRITE : 0);

	for (; addr < end && n < SYSTEM_RUN_MAX; addr += UHMM_PAGE_SIZE, n++)
		if ((pt_load(&dmirror->pt, addr >> UHMM_PAGE_SHIFT) & need) != need)
			break;
	return n;
}

/*
 * Copies [start, end) through the device page table, into or out of
 * @bounce, which holds that range; a NULL @bounce only counts (reads).
 * Stops at the first page the table cannot reach, with -ENOENT.  Called with
 * dmirror->mutex held; returns with it dropped.
 *
 * System pages are reached through the CPU's mapping, and that copy may
 * fault (the page may have gone to device memory since the table was
 * filled): it runs with dmirror->mutex dropped, since the fault's
 * migrate_to_ram() frees device pages, which takes the mutex.  An
 * invalidation meanwhile does not void it: each page was read or written
 * where the process had it mapped at that moment, as if the copy had come
 * just before the invalidation.
 */
static int dmirror_do_rw_locked(struct dmirror *dmirror, unsigned long start, unsigned long end,
				char *bounce, uint64_t *cpages, bool write)
{
	char page[UHMM_PAGE_SIZE];
	struct uhmm_vma vma = { 0 };
	unsigned long addr;
	int ret = 0;

	for (addr = start; addr < end;) {
		unsigned long run = system_run(dmirror, addr, bounce ? end : addr + UHMM_PAGE_SIZE,
					       write);
		char *buf = bounce ? bounce + (addr - start) : page;

		if (run) {
			long n;
			unsigned long done;

			pthread_mutex_unlock(&dmirror->mutex);
			n = uhmm_access_process_vm(addr, buf, run << UHMM_PAGE_SHIFT, write);
			pthread_mutex_lock(&dmirror->mutex);
			done = n > 0 ? (unsigned long)n >> UHMM_PAGE_SHIFT : 0;
			*cpages += done;
			addr += done << UHMM_PAGE_SHIFT;
			if (done == run)
				continue;
			/* The CPU cannot reach that page (unmapped, or its permission taken). */
			pt_erase(&dmirror->pt, addr >> UHMM_PAGE_SHIFT);
			ret = -ENOENT;
			break;
		}
		ret = dmirror_access(dmirror, addr, buf, write, &vma);
		if (ret)
			break;
		(*cpages)++;
		addr += UHMM_PAGE_SIZE;
	}
	pthread_mutex_unlock(&dmirror->mutex);
	return ret;
}

/* dmirror_do_rw_locked() from the entries the table holds now. */
static int dmirror_do_rw(struct dmirror *dmirror, unsigned long start, unsigned long end,
			 char *bounce, uint64_t *cpages, bool write)
{
	unsigned long seq;

	/*
	 * uhmm runs the ops for munmap() just after it returns: an entry is
	 * used only if no invalidation is pending (the kernel's ops run before).
	 */
	for (;;) {
		seq = uhmm_mmu_interval_read_begin(&dmirror->notifier);
		pthread_mutex_lock(&dmirror->mutex);
		if (!uhmm_mmu_interval_read_retry(&dmirror->notifier, seq))
			break;
		pthread_mutex_unlock(&dmirror->mutex);
	}
	return dmirror_do_rw_locked(dmirror, start, end, bounce, cpages, write);
}

/* [start, end) through the table, faulting in what it lacks (cmd->faults). */
static int dmirror_rw_range(struct dmirror *dmirror, unsigned long start, unsigned long end,
			    char *bounce, struct hmm_dmirror_cmd *cmd, bool write)
{
	unsigned long addr, last_fault = ~0UL;
	unsigned int retries = 0;
	uint64_t done = 0;
	int ret;

	ret = dmirror_do_rw(dmirror, start, end, bounce, &done, write);
	while (ret == -ENOENT) {
		addr = start + (done << UHMM_PAGE_SHIFT);
		/* A page the device fails to reach right after faulting it in, again and again. */
		retries = addr == last_fault ? retries + 1 : 0;
		last_fault = addr;
		if (retries > FAULT_RETRIES) {
			ret = -EFAULT;
			break;
		}
		ret = dmirror_fault(dmirror, addr, end, write);
		if (ret)
			break;
		cmd->faults++;
		ret = dmirror_do_rw_locked(dmirror, addr, end, bounce + (addr - start), &done, write);
	}
	cmd->cpages += done;
	return ret;
}

/* The command's buffer, @len bytes at @off, to or from @bounce. */
static int dmirror_copy_user(struct hmm_dmirror_cmd *cmd, unsigned long off, char *bounce,
			     unsigned long len, bool to_user)
{
	return uhmm_access_process_vm(cmd->ptr + off, bounce, len, to_user) == (long)len ?
	       0 : -EFAULT;
}

static char *dmirror_bounce_alloc(const struct hmm_dmirror_cmd *cmd)
{
	return malloc((cmd->npages < BOUNCE_PAGES ? cmd->npages : BOUNCE_PAGES) <<
		      UHMM_PAGE_SHIFT);
}

/*
 * READ and WRITE: copy through the device page table, faulting in what it
 * lacks, as the kernel's dmirror_read/write().  The command's buffer is
 * reached only through the bounce buffer, with no device lock held: it may
 * itself be in device memory.
 */
static int dmirror_rw(struct dmirror *dmirror, struct hmm_dmirror_cmd *cmd, bool write)
{
	unsigned long start = cmd->addr, end = start + (cmd->npages << UHMM_PAGE_SHIFT);
	unsigned long addr, next;
	char *bounce;
	int ret = 0;

	if (!cmd->ptr)
		return -EFAULT;
	if (!cmd->npages)
		return 0;
	bounce = dmirror_bounce_alloc(cmd);
	if (!bounce)
		return -ENOMEM;
	for (addr = start; addr < end && !ret; addr = next) {
		next = end - addr > BOUNCE_PAGES * UHMM_PAGE_SIZE ?
		       addr + BOUNCE_PAGES * UHMM_PAGE_SIZE : end;
		if (write)
			ret = dmirror_copy_user(cmd, addr - start, bounce, next - addr, false);
		if (!ret)
			ret = dmirror_rw_range(dmirror, addr, next, bounce, cmd, write);
		if (!ret && !write)
			ret = dmirror_copy_user(cmd, addr - start, bounce, next - addr, true);
	}
	free(bounce);
	return ret;
}

/*
 * The data of [start, end) as the device holds it, into the command's
 * buffer, without faulting (the check after MIGRATE_TO_DEV and EXCLUSIVE).
 * A uhmm addition: with ptr 0 the pages are only counted.
 */
static int dmirror_read_back(struct dmirror *dmirror, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, end = start + (cmd->npages << UHMM_PAGE_SHIFT);
	unsigned long addr, next;
	char *bounce = NULL;
	int ret = 0;

	if (!cmd->npages)
		return 0;
	if (cmd->ptr && !(bounce = dmirror_bounce_alloc(cmd)))
		return -ENOMEM;
	for (addr = start; addr < end && !ret; addr = next) {
		uint64_t done = 0;

		next = end - addr > BOUNCE_PAGES * UHMM_PAGE_SIZE ?
		       addr + BOUNCE_PAGES * UHMM_PAGE_SIZE : end;
		ret = dmirror_do_rw(dmirror, addr, next, bounce, &done, false);
		cmd->cpages += done;
		if (!ret && bounce)
			ret = dmirror_copy_user(cmd, addr - start, bounce, next - addr, true);
	}
	free(bounce);
	return ret;
}

/* --- exclusive access ------------------------------------------------------------- */

/* HMM_DMIRROR_EXCLUSIVE: take each page for atomic access, and read it back. */
static int dmirror_exclusive(struct dmirror *dmirror, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, end = start + (cmd->npages << UHMM_PAGE_SHIFT), addr;
	int ret = 0;

	if (!cmd->ptr)
		return -EFAULT;	/* nowhere to return the data: take nothing */
	for (addr = start; addr < end; addr += UHMM_PAGE_SIZE) {
		struct uhmm_page *page = uhmm_make_device_exclusive(addr, NULL);

		if (!page)
			return -errno;
		pthread_mutex_lock(&dmirror->mutex);
		/* The device may write it too: the CPU sees that once it takes it back. */
		ret = pt_store(&dmirror->pt, addr >> UHMM_PAGE_SHIFT,
			       (uintptr_t)page | PT_ATOMIC | PT_WRITE);
		pthread_mutex_unlock(&dmirror->mutex);
		uhmm_unlock_page(page);
		uhmm_put_page(page);
		if (ret)
			return ret;
	}
	/* Return the data for verification. */
	return dmirror_read_back(dmirror, cmd);
}

/* HMM_DMIRROR_CHECK_EXCLUSIVE: 0 once no page of the range is held atomically. */
static int dmirror_check_atomic(struct dmirror *dmirror, unsigned long start, unsigned long end)
{
	unsigned long addr;
	int ret = 0;

	pthread_mutex_lock(&dmirror->mutex);
	for (addr = start; addr < end && !ret; addr += UHMM_PAGE_SIZE)
		if (pt_load(&dmirror->pt, addr >> UHMM_PAGE_SHIFT) & PT_ATOMIC)
			ret = -EPERM;
	pthread_mutex_unlock(&dmirror->mutex);
	return ret;
}

/* --- snapshot ------------------------------------------------------------------------ */

static unsigned char dmirror_mkentry(struct dmirror *dmirror, unsigned long entry)
{
	struct uhmm_page *page;
	unsigned char perm;
	unsigned int order;

	if (entry & UHMM_HMM_PFN_ERROR)
		return HMM_DMIRROR_PROT_ERROR;
	if (!(entry & UHMM_HMM_PFN_VALID))
		return HMM_DMIRROR_PROT_NONE;
	page = uhmm_hmm_pfn_to_page(entry);
	if (page && uhmm_is_device_private_page(page))
		perm = page_chunk(page)->mdevice == dmirror->mdevice ?
		       HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL : HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE;
	else if (uhmm_is_zero_pfn(uhmm_hmm_pfn_to_pfn(entry)))
		perm = HMM_DMIRROR_PROT_ZERO;
	else
		perm = HMM_DMIRROR_PROT_NONE;
	perm |= entry & UHMM_HMM_PFN_WRITE ? HMM_DMIRROR_PROT_WRITE : HMM_DMIRROR_PROT_READ;
	order = uhmm_hmm_pfn_to_map_order(entry);
	if (order == 21 - UHMM_PAGE_SHIFT)
		perm |= HMM_DMIRROR_PROT_PMD;
	else if (order == 30 - UHMM_PAGE_SHIFT)
		perm |= HMM_DMIRROR_PROT_PUD;
	return perm;
}

static bool dmirror_snapshot_invalidate(struct uhmm_mmu_interval_notifier *mni,
					const struct uhmm_mmu_notifier_range *range,
					unsigned long cur_seq)
{
	struct dmirror_interval *dmi = (struct dmirror_interval *)mni;

	(void)range;
	/* Any change in the interval spoils the whole snapshot. */
	pthread_mutex_lock(&dmi->dmirror->mutex);
	uhmm_mmu_interval_set_seq(mni, cur_seq);
	pthread_mutex_unlock(&dmi->dmirror->mutex);
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops dmirror_mrn_ops = {
	.invalidate = dmirror_snapshot_invalidate,
};

static int dmirror_range_snapshot(struct dmirror *dmirror, struct uhmm_hmm_range *range,
				  unsigned char *perm)
{
	struct dmirror_interval notifier = { .dmirror = dmirror };
	unsigned long i, n = (range->end - range->start) >> UHMM_PAGE_SHIFT;
	int ret;

	range->notifier = &notifier.notifier;
	ret = uhmm_mmu_interval_notifier_insert(range->notifier, range->start,
						range->end - range->start, &dmirror_mrn_ops);
	if (ret)
		return ret;
	ret = dmirror_range_fault_locked(dmirror, range);
	if (!ret) {
		for (i = 0; i < n; i++)
			perm[i] = dmirror_mkentry(dmirror, range->hmm_pfns[i]);
		pthread_mutex_unlock(&dmirror->mutex);
	}
	uhmm_mmu_interval_notifier_remove(range->notifier);
	return ret;
}

static int dmirror_snapshot(struct dmirror *dmirror, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, end = start + (cmd->npages << UHMM_PAGE_SHIFT);
	unsigned long pfns[FAULT_BATCH], addr, n;
	unsigned char perm[FAULT_BATCH];
	uint64_t uptr = cmd->ptr;
	struct uhmm_hmm_range range = {
		.hmm_pfns = pfns,
		.dev_private_owner = dmirror->mdevice,
	};
	int ret = 0;

	for (addr = start; addr < end; addr = range.end) {
		range.start = addr;
		range.end = end - addr > FAULT_BATCH * UHMM_PAGE_SIZE ?
			    addr + FAULT_BATCH * UHMM_PAGE_SIZE : end;
		memset(pfns, 0, sizeof(pfns));
		ret = dmirror_range_snapshot(dmirror, &range, perm);
		if (ret)
			break;
		n = (range.end - range.start) >> UHMM_PAGE_SHIFT;
		if (uhmm_access_process_vm(uptr, perm, n, true) != (long)n) {
			ret = -EFAULT;
			break;
		}
		cmd->cpages += n;
		uptr += n;
	}
	return ret;
}

/*
 * The next piece of [addr, end) to migrate in one go: inside one readable
 * mapping, at most MIGRATE_BATCH pages.  Returns its end, or 0 for a gap or
 * a mapping without read access (the kernel device's -EINVAL).
 */
static unsigned long dmirror_next_chunk(unsigned long addr, unsigned long end,
					struct uhmm_vma *vma)
{
	unsigned long next = addr + MIGRATE_BATCH * UHMM_PAGE_SIZE;

	if (uhmm_vma_lookup(addr, vma) || !(vma->flags & UHMM_VM_READ))
		return 0;
	if (next > end || next < addr)
		next = end;
	return next > vma->end ? vma->end : next;
}

static int dmirror_migrate_to_device(struct dmirror *dmirror, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, end = start + (cmd->npages << UHMM_PAGE_SHIFT);
	unsigned long src[MIGRATE_BATCH], dst[MIGRATE_BATCH], addr, next;
	struct uhmm_vma vma;
	int ret;

	for (addr = start; addr < end; addr = next) {
		struct uhmm_migrate_vma args = {
			.src = src, .dst = dst,
			.pgmap_owner = dmirror->mdevice,
			.flags = UHMM_MIGRATE_VMA_SELECT_SYSTEM,
		};

		next = dmirror_next_chunk(addr, end, &vma);
		if (!next)
			return -EINVAL;
		args.start = addr;
		args.end = next;
		ret = uhmm_migrate_vma_setup(&args);
		if (ret)
			return ret;
		dmirror_migrate_alloc_and_copy(&args, dmirror, vma.flags & UHMM_VM_WRITE);
		uhmm_migrate_vma_pages(&args);
		dmirror_migrate_finalize_and_map(&args, dmirror);
		uhmm_migrate_vma_finalize(&args);
	}

	/* Return the migrated data for verification: only pages in device memory. */
	return dmirror_read_back(dmirror, cmd);
}

/* --- migration back to system memory ------------------------------------------ */

/* Copies the selected device pages into new system pages. */
static uhmm_vm_fault_t dmirror_devmem_fault_alloc_and_copy(struct uhmm_migrate_vma *args)
{
	unsigned long i;

	for (i = 0; i < args->npages; i++) {
		struct uhmm_page *spage = uhmm_migrate_pfn_to_page(args->src[i]);
		struct uhmm_page *dpage;

		if (!spage || !(args->src[i] & UHMM_MIGRATE_PFN_MIGRATE))
			continue;
		if (dmirror_should_fail(page_chunk(spage)->mdevice, DMIRROR_FAIL_COPY))
			continue;	/* stays in device memory; the CPU faults again */
		dpage = uhmm_alloc_page();
		if (!dpage)
			return UHMM_VM_FAULT_OOM;
		/*
		 * The device's mapping goes before the copy, as the kernel's
		 * device erases its entry here: once the CPU has the page, a
		 * read through the mirror must not find the old copy.
		 */
		pthread_mutex_lock(&page_chunk(spage)->mdevice->lock);
		dmirror_unmap_page(spage);
		pthread_mutex_unlock(&page_chunk(spage)->mdevice->lock);
		uhmm_lock_page(dpage);
		memcpy(uhmm_page_address(dpage), backing(spage), UHMM_PAGE_SIZE);
		args->dst[i] = uhmm_migrate_pfn(dpage->pfn) |
			       (args->src[i] & UHMM_MIGRATE_PFN_WRITE);
	}
	return 0;
}

static uhmm_vm_fault_t dmirror_devmem_fault(struct uhmm_vm_fault *vmf)
{
	struct dmirror_chunk *chunk = page_chunk(vmf->page);
	struct uhmm_migrate_vma args = {
		.src = vmf->src, .dst = vmf->dst,
		.start = vmf->start, .end = vmf->end,
		.pgmap_owner = chunk->mdevice,
		.flags = UHMM_MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	uhmm_vm_fault_t ret;

	if (dmirror_should_fail(chunk->mdevice, DMIRROR_FAIL_FAULT))
		return UHMM_VM_FAULT_SIGBUS;
	if (uhmm_migrate_vma_setup(&args))
		return UHMM_VM_FAULT_SIGBUS;
	ret = dmirror_devmem_fault_alloc_and_copy(&args);
	/* Pages left without a destination are restored by finalize. */
	uhmm_migrate_vma_pages(&args);
	uhmm_migrate_vma_finalize(&args);
	return ret;
}

static int dmirror_migrate_to_system(struct dmirror *dmirror, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, end = start + (cmd->npages << UHMM_PAGE_SHIFT);
	unsigned long src[MIGRATE_BATCH], dst[MIGRATE_BATCH], addr, next, i;
	struct uhmm_vma vma;
	int ret;

	for (addr = start; addr < end; addr = next) {
		struct uhmm_migrate_vma args = {
			.src = src, .dst = dst,
			.pgmap_owner = dmirror->mdevice,
			.flags = UHMM_MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		};

		next = dmirror_next_chunk(addr, end, &vma);
		if (!next)
			return -EINVAL;
		args.start = addr;
		args.end = next;
		ret = uhmm_migrate_vma_setup(&args);
		if (ret)
			return ret;
		ret = dmirror_devmem_fault_alloc_and_copy(&args) ? -ENOMEM : 0;
		uhmm_migrate_vma_pages(&args);
		for (i = 0; i < args.npages; i++)
			if ((src[i] & UHMM_MIGRATE_PFN_VALID) && (src[i] & UHMM_MIGRATE_PFN_MIGRATE))
				cmd->cpages++;
		uhmm_migrate_vma_finalize(&args);
		if (ret)
			return ret;
	}
	return 0;
}

/* --- removing device memory ---------------------------------------------------- */

/* Moves every page of @chunk that is in use back to system memory. */
static void dmirror_device_evict_chunk(struct dmirror_chunk *chunk)
{
	unsigned long first = uhmm_pgmap_pfn_first(&chunk->pagemap, 0);
	unsigned long npages = uhmm_pgmap_pfn_end(&chunk->pagemap, 0) - first;
	unsigned long *src = calloc(npages, sizeof(*src));
	unsigned long *dst = calloc(npages, sizeof(*dst));
	unsigned long i;

	if (!src || !dst)
		goto out;
	uhmm_migrate_device_range(src, first, npages);
	for (i = 0; i < npages; i++) {
		struct uhmm_page *spage = uhmm_migrate_pfn_to_page(src[i]);
		struct uhmm_page *dpage;

		if (!spage || !(src[i] & UHMM_MIGRATE_PFN_MIGRATE))
			continue;
		if (dmirror_should_fail(chunk->mdevice, DMIRROR_FAIL_COPY))
			continue;	/* restored; the caller tries again */
		dpage = uhmm_alloc_page();
		if (!dpage)
			continue;
		uhmm_lock_page(dpage);
		memcpy(uhmm_page_address(dpage), backing(spage), UHMM_PAGE_SIZE);
		dst[i] = uhmm_migrate_pfn(dpage->pfn) | (src[i] & UHMM_MIGRATE_PFN_WRITE);
	}
	uhmm_migrate_device_pages(src, dst, npages);
	uhmm_migrate_device_finalize(src, dst, npages);
out:
	free(src);
	free(dst);
}

static bool chunk_idle(struct dmirror_chunk *chunk)
{
	unsigned long pfn;

	for (pfn = uhmm_pgmap_pfn_first(&chunk->pagemap, 0);
	     pfn < uhmm_pgmap_pfn_end(&chunk->pagemap, 0); pfn++)
		if (uhmm_page_ref_count(uhmm_pfn_to_page(pfn)))
			return false;
	return true;
}

/*
 * A chunk that no page uses any more leaves the device; false if it is
 * busy.  With @unbinding it leaves busy or not.
 */
static bool dmirror_chunk_unlist(struct dmirror_device *mdevice, struct dmirror_chunk *chunk,
				 bool unbinding)
{
	unsigned int c;
	bool leaves;

	pthread_mutex_lock(&mdevice->lock);
	leaves = unbinding || chunk_idle(chunk);
	chunk->evicting = false;
	for (c = 0; leaves && c < mdevice->nr_chunks; c++) {
		if (mdevice->chunks[c] == chunk) {
			mdevice->chunks[c] = mdevice->chunks[--mdevice->nr_chunks];
			break;
		}
	}
	pthread_mutex_unlock(&mdevice->lock);
	return leaves;
}

/*
 * HMM_DMIRROR_RELEASE and unbind: evict, then unmap every chunk.  A chunk
 * stays listed until it is unmapped, so that closing a handle finds every
 * page that may point at it; one that stays busy is kept, off the free list,
 * for the next RELEASE.  Concurrent RELEASEs each take the chunks no other
 * one is emptying.
 *
 * At unbind (@unbinding) every chunk goes, busy or not, as the kernel's
 * device removes its memory: the chunks are the module's own pgmaps, which
 * do not keep it loaded, and its code must outlive them.  A page still
 * referenced makes memunmap_pages() wait until it is freed, and log what it
 * waits for; the chunk is freed only then.
 */
static int dmirror_device_remove_chunks(struct dmirror_device *mdevice, bool unbinding)
{
	struct dmirror_chunk *chunks[DEVMEM_CHUNKS_MAX];
	struct uhmm_page **pp;
	unsigned int n = 0, c;
	int tries, ret = 0;

	pthread_mutex_lock(&mdevice->lock);
	for (c = 0; c < mdevice->nr_chunks; c++) {
		if (mdevice->chunks[c]->evicting)
			continue;
		mdevice->chunks[c]->removing = mdevice->chunks[c]->evicting = true;
		chunks[n++] = mdevice->chunks[c];
	}
	/* No new allocation from these chunks. */
	for (pp = &mdevice->free_pages; *pp;) {
		if (page_chunk(*pp)->removing)
			*pp = (*pp)->zone_device_data;
		else
			pp = (struct uhmm_page **)&(*pp)->zone_device_data;
	}
	pthread_mutex_unlock(&mdevice->lock);

	for (c = 0; c < n; c++) {
		struct dmirror_chunk *chunk = chunks[c];

		for (tries = 0; !chunk_idle(chunk) && tries < EVICT_TRIES; tries++)
			dmirror_device_evict_chunk(chunk);
		if (!dmirror_chunk_unlist(mdevice, chunk, unbinding)) {
			ret = -EBUSY;	/* unmapping would wait forever */
			continue;
		}
		uhmm_memunmap_pages(&chunk->pagemap);
		uhmm_release_mem_region(chunk->pagemap.range.start, DEVMEM_CHUNK_SIZE);
		munmap(chunk->arena, DEVMEM_CHUNK_SIZE);
		free(chunk);
	}
	return ret;
}

/* --- handles and commands ------------------------------------------------------- */

/* The handle behind @fd, with a reference the caller drops with handle_put(). */
static struct dmirror *handle_get(int fd)
{
	struct dmirror *dmirror = NULL;

	pthread_mutex_lock(&handles_lock);
	if (fd >= 0 && fd < MAX_HANDLES)
		dmirror = handles[fd];
	if (dmirror)
		dmirror->refs++;
	pthread_mutex_unlock(&handles_lock);
	return dmirror;
}

/*
 * The handle's device pages stay in device memory once it is gone; they
 * just forget it.  Every page that points at it is detached, not only those
 * its table still holds: an unmapped page may be freed by the fault engine
 * after the handle is closed, and must not find it then.
 */
static void dmirror_forget(struct dmirror *dmirror)
{
	struct dmirror_device *mdevice = dmirror->mdevice;
	unsigned int c;

	uhmm_mmu_interval_notifier_remove(&dmirror->notifier);
	pthread_mutex_lock(&mdevice->lock);
	for (c = 0; c < mdevice->nr_chunks; c++) {
		struct uhmm_dev_pagemap *pgmap = &mdevice->chunks[c]->pagemap;
		unsigned long pfn;

		for (pfn = uhmm_pgmap_pfn_first(pgmap, 0); pfn < uhmm_pgmap_pfn_end(pgmap, 0); pfn++) {
			struct uhmm_page *page = uhmm_pfn_to_page(pfn);

			/* A free page's field links the free list: never a handle. */
			if (page->zone_device_data == dmirror)
				page->zone_device_data = NULL;
		}
	}
	pthread_mutex_unlock(&mdevice->lock);
	free(dmirror->pt.keys);
	free(dmirror->pt.vals);
	pthread_mutex_destroy(&dmirror->mutex);
	free(dmirror);
	/* Whoever called into the module to get here holds it too. */
	uhmm_symbol_put("dmirror_open");
}

/* A command is done with the handle; the last reference frees it, as release() would. */
static void handle_put(struct dmirror *dmirror)
{
	bool last;

	pthread_mutex_lock(&handles_lock);
	last = !--dmirror->refs;
	pthread_mutex_unlock(&handles_lock);
	if (last)
		dmirror_forget(dmirror);
}

/*
 * fork() waits for every command in flight and takes handles_lock, so the
 * child inherits no driver lock held by a thread it does not have (its
 * fault engine needs them).  Registered once uhmm's own handlers are, so it
 * runs before them: uhmm's fork invalidates mirrors, which takes the handles'
 * mutexes.
 */
static void dmirror_fork_prepare(void)
{
	pthread_rwlock_wrlock(&fork_lock);
	pthread_mutex_lock(&handles_lock);
}

static void dmirror_fork_parent(void)
{
	pthread_mutex_unlock(&handles_lock);
	pthread_rwlock_unlock(&fork_lock);
}

/* A fork() waiting for the commands in flight holds new ones off. */
static void fork_lock_init(void)
{
	pthread_rwlockattr_t attr;

	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&fork_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
}

/* The writer's thread has another id in the child: unlocking would not know it. */
static void dmirror_fork_child(void)
{
	pthread_mutex_unlock(&handles_lock);
	fork_lock_init();
}

static void dmirror_atfork(void)
{
	pthread_atfork(dmirror_fork_prepare, dmirror_fork_parent, dmirror_fork_child);
}

int dmirror_open(int index);
int dmirror_open(int index)
{
	static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
	struct dmirror *dmirror;
	int fd;

	if (index < 0 || index >= HMM_DMIRROR_NR_DEVICES || !mdevices[index].dev)
		return -ENODEV;
	/*
	 * An open handle pins the module, as an open /dev/hmm_dmirror<N> pins
	 * test_hmm: the last put of the handle (dmirror_forget()) drops it.
	 */
	if (!uhmm_symbol_get("dmirror_open"))
		return -ENODEV;
	dmirror = calloc(1, sizeof(*dmirror));
	if (!dmirror) {
		fd = -ENOMEM;
		goto err_put;
	}
	dmirror->mdevice = &mdevices[index];
	dmirror->refs = 1;
	pthread_mutex_init(&dmirror->mutex, NULL);
	/* Starts uhmm's fault engine, and with it uhmm's fork handlers. */
	fd = uhmm_mmu_interval_notifier_insert(&dmirror->notifier, 0, ~0UL & ~(UHMM_PAGE_SIZE - 1),
					       &dmirror_min_ops);
	if (fd)
		goto err_free;
	pthread_once(&atfork_once, dmirror_atfork);
	pthread_mutex_lock(&handles_lock);
	for (fd = 0; fd < MAX_HANDLES && handles[fd]; fd++)
		;
	if (fd < MAX_HANDLES)
		handles[fd] = dmirror;
	pthread_mutex_unlock(&handles_lock);
	if (fd == MAX_HANDLES) {
		fd = -EMFILE;
		goto err_remove;
	}
	return fd;

err_remove:
	uhmm_mmu_interval_notifier_remove(&dmirror->notifier);
err_free:
	pthread_mutex_destroy(&dmirror->mutex);
	free(dmirror);
err_put:
	uhmm_symbol_put("dmirror_open");
	return fd;
}
EXPORT_SYMBOL_GPL(dmirror_open);

/* As close(2): a command still running on the handle keeps it until it returns. */
int dmirror_close(int fd);
int dmirror_close(int fd)
{
	struct dmirror *dmirror = NULL;

	pthread_mutex_lock(&handles_lock);
	if (fd >= 0 && fd < MAX_HANDLES) {
		dmirror = handles[fd];
		handles[fd] = NULL;
	}
	pthread_mutex_unlock(&handles_lock);
	if (!dmirror)
		return -EBADF;
	handle_put(dmirror);
	return 0;
}
EXPORT_SYMBOL_GPL(dmirror_close);

/*
 * mmap() of the device, as the kernel's dmirror_fops_mmap() offers it: every
 * page of the mapping is a zeroed system page of the device's own, present
 * from the start (the kernel inserts them into a mixed map).  Here they are
 * the pages of an anonymous memfd: shared, or copy-on-write in a private
 * mapping, so that a private mapping's pages read as the kernel's do, mapped
 * read-only until written.  Returns the mapping, or MAP_FAILED with errno set
 * (EBADF, EINVAL, ENOMEM, or what mmap() says).
 */
void *dmirror_mmap(int fd, void *addr, size_t len, int prot, int flags, off_t off);
void *dmirror_mmap(int fd, void *addr, size_t len, int prot, int flags, off_t off)
{
	struct dmirror *dmirror = handle_get(fd);
	int type = flags & (MAP_SHARED | MAP_PRIVATE), memfd, err;
	void *p;

	if (!dmirror) {
		errno = EBADF;
		return MAP_FAILED;
	}
	handle_put(dmirror);
	if (!len || off < 0 || off & (UHMM_PAGE_SIZE - 1) || (type != MAP_SHARED &&
							     type != MAP_PRIVATE) ||
	    (flags & MAP_ANONYMOUS)) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	memfd = memfd_create("dmirror", MFD_CLOEXEC);
	if (memfd < 0)
		return MAP_FAILED;
	if (ftruncate(memfd, (off_t)len)) {
		err = errno;
		close(memfd);
		errno = err;
		return MAP_FAILED;
	}
	p = mmap(addr, len, prot, flags, memfd, 0);
	err = errno;
	close(memfd);
	if (p == MAP_FAILED) {
		errno = err;
		return MAP_FAILED;
	}
	if ((prot & PROT_READ) &&
	    madvise(p, len, type == MAP_SHARED && (prot & PROT_WRITE) ? MADV_POPULATE_WRITE :
									 MADV_POPULATE_READ)) {
		err = errno;
		munmap(p, len);
		errno = err == EFAULT || err == EINVAL ? ENOMEM : err;
		return MAP_FAILED;
	}
	return p;
}
EXPORT_SYMBOL_GPL(dmirror_mmap);

static int dmirror_command(struct dmirror *dmirror, unsigned long request,
			   struct hmm_dmirror_cmd *ucmd)
{
	struct hmm_dmirror_cmd cmd = *ucmd;
	int ret;

	if (cmd.addr & (UHMM_PAGE_SIZE - 1))
		return -EINVAL;
	if (cmd.npages > (~0ULL >> UHMM_PAGE_SHIFT) ||
	    cmd.addr >= cmd.addr + (cmd.npages << UHMM_PAGE_SHIFT))
		return -EINVAL;
	cmd.cpages = 0;
	cmd.faults = 0;

	switch (request) {
	case HMM_DMIRROR_MIGRATE_TO_DEV:
		ret = dmirror_migrate_to_device(dmirror, &cmd);
		break;
	case HMM_DMIRROR_MIGRATE_TO_SYS:
		ret = dmirror_migrate_to_system(dmirror, &cmd);
		break;
	case HMM_DMIRROR_RELEASE:
		ret = dmirror_device_remove_chunks(dmirror->mdevice, false);
		break;
	case HMM_DMIRROR_FLAGS:
		pthread_mutex_lock(&dmirror->mutex);
		__atomic_store_n(&dmirror->flags, cmd.npages, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&dmirror->mutex);
		ret = 0;
		break;
	case HMM_DMIRROR_READ:
		ret = dmirror_rw(dmirror, &cmd, false);
		break;
	case HMM_DMIRROR_WRITE:
		ret = dmirror_rw(dmirror, &cmd, true);
		break;
	case HMM_DMIRROR_SNAPSHOT:
		ret = dmirror_snapshot(dmirror, &cmd);
		break;
	case HMM_DMIRROR_EXCLUSIVE:
		ret = dmirror_exclusive(dmirror, &cmd);
		break;
	case HMM_DMIRROR_CHECK_EXCLUSIVE:
		ret = dmirror_check_atomic(dmirror, cmd.addr,
					   cmd.addr + (cmd.npages << UHMM_PAGE_SHIFT));
		break;
	default:
		return -EINVAL;
	}
	if (ret)
		return ret;
	*ucmd = cmd;
	return 0;
}

int dmirror_ioctl(int fd, unsigned long request, struct hmm_dmirror_cmd *ucmd);
int dmirror_ioctl(int fd, unsigned long request, struct hmm_dmirror_cmd *ucmd)
{
	struct dmirror *dmirror;
	int ret;

	pthread_rwlock_rdlock(&fork_lock);
	dmirror = handle_get(fd);
	if (dmirror) {
		ret = ucmd ? dmirror_command(dmirror, request, ucmd) : -EFAULT;
		handle_put(dmirror);
	} else {
		ret = -EBADF;
	}
	pthread_rwlock_unlock(&fork_lock);
	return ret;
}
EXPORT_SYMBOL_GPL(dmirror_ioctl);

long dmirror_fail_nth(int fd, unsigned int site, unsigned long nth);
long dmirror_fail_nth(int fd, unsigned int site, unsigned long nth)
{
	struct dmirror *dmirror = handle_get(fd);
	struct dmirror_device *mdevice;
	long left;

	if (!dmirror)
		return -EBADF;
	mdevice = dmirror->mdevice;
	handle_put(dmirror);
	if (site > DMIRROR_FAIL_FAULT)
		return -EINVAL;
	pthread_mutex_lock(&mdevice->lock);
	left = (long)mdevice->fail_nth[site];
	__atomic_store_n(&mdevice->fail_nth[site], nth, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&mdevice->lock);
	return left;
}
EXPORT_SYMBOL_GPL(dmirror_fail_nth);

/* --- the devices ------------------------------------------------------------------ */

static int dmirror_probe(struct uhmm_device *dev)
{
	struct dmirror_device *mdevice = uhmm_dev_get_drvdata(dev);

	pthread_mutex_init(&mdevice->lock, NULL);
	mdevice->dev = dev;
	return 0;
}

static void dmirror_remove(struct uhmm_device *dev)
{
	struct dmirror_device *mdevice = uhmm_dev_get_drvdata(dev);

	dmirror_device_remove_chunks(mdevice, true);
	mdevice->dev = NULL;
}

static const struct uhmm_driver dmirror_driver = {
	.name = "hmm_dmirror",
	.probe = dmirror_probe,
	.remove = dmirror_remove,
};

/* No handle is open (each pins the module): unbinding removes the device memory. */
static void dmirror_exit(void)
{
	int i;

	for (i = 0; i < HMM_DMIRROR_NR_DEVICES; i++) {
		struct uhmm_device *dev = mdevices[i].dev;

		if (!dev)
			continue;
		uhmm_device_unbind(dev);
		uhmm_device_put(dev);
	}
}

static int dmirror_init(void)
{
	char name[32];
	int i, ret;

	fork_lock_init();

	for (i = 0; i < HMM_DMIRROR_NR_DEVICES; i++) {
		struct uhmm_device *dev;

		snprintf(name, sizeof(name), "hmm_dmirror%d", i);
		dev = uhmm_device_create(name);
		if (!dev) {
			ret = -errno;
			goto err;
		}
		uhmm_dev_set_drvdata(dev, &mdevices[i]);
		ret = uhmm_device_bind(dev, &dmirror_driver);
		if (ret) {
			uhmm_device_put(dev);
			goto err;
		}
	}
	return 0;
err:
	dmirror_exit();
	return ret;
}

module_init(dmirror_init);
module_exit(dmirror_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("HMM test device: device-private memory, migration, a mirrored page table");
MODULE_VERSION("0.1");
