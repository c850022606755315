// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Migrating pages between system memory and device memory, in the three
 * steps of the kernel's migrate_vma_*() and migrate_device_*().
 *
 * Collect: each selected address gets a migration entry in uhmm's page
 * table (so a CPU access waits), and a selected system page is moved, frame
 * and all, from the mapping into a staging slot, where it has a struct
 * uhmm_page and an address the driver can copy from.  A selected device page
 * is simply taken out of uhmm's table.  The migration holds one reference
 * and the lock of every source page: the mapping's reference, handed over.
 *
 * Pages: the driver has filled dst; entries without a destination, or whose
 * address was unmapped meanwhile, stop migrating.
 *
 * Finalize: each migration entry is replaced by the new page (a device page
 * is recorded; a system page is moved into the mapping) or by the old one,
 * and the other page is released.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uhmm/migrate.h>

#include "../core/internal.h"
#include "../core/trace.h"
#include "mm_internal.h"

/* A page's entry while it is in uhmm's table: the mapping is uhmm's. */

UHMM_EXPORT struct uhmm_page *uhmm_migrate_pfn_to_page(unsigned long mpfn)
{
	if (!(mpfn & UHMM_MIGRATE_PFN_VALID))
		return NULL;
	return uhmm_pfn_to_page(mpfn >> UHMM_MIGRATE_PFN_SHIFT);
}

static bool device_page_selected(const struct uhmm_migrate_vma *args,
				 const struct uhmm_page *page)
{
	const struct uhmm_dev_pagemap *pgmap = page->pgmap;

	if (pgmap->owner != args->pgmap_owner)
		return false;
	if (pgmap->type == UHMM_MEMORY_DEVICE_PRIVATE)
		return args->flags & UHMM_MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
	if (pgmap->type == UHMM_MEMORY_DEVICE_COHERENT)
		return args->flags & UHMM_MIGRATE_VMA_SELECT_DEVICE_COHERENT;
	return false;
}

/*
 * A page that UFFDIO_MOVE refused as shared (copy-on-write after fork, or
 * KSM): a write fault gives this process its own copy.  MADV_POPULATE_WRITE
 * takes that fault without storing anything.  A store that changes nothing
 * would do it too, but it is still a write that the program's own reads of
 * the page race with (ThreadSanitizer says so), and on a read-only mapping
 * it would be a signal where this gets -EFAULT.
 * Only done to a page that is present, so the fault cannot reach the fault
 * engine, which would wait for this very migration.
 */
static bool unshare_page(unsigned long addr)
{
	if (!(pagemap_entry(addr) & PAGEMAP_THERE))
		return false;
	return madvise((void *)addr, UHMM_PAGE_SIZE, MADV_POPULATE_WRITE) == 0;
}

/*
 * Where the migration entry of page @i is now: its address, or where
 * mremap() moved it meanwhile; 0 if it is gone (unmapped).  pt_lock held
 * (pt_find_migration() checks).
 */
static unsigned long entry_addr(const struct uhmm_migrate_vma *args, unsigned long i)
{
	return pt_find_migration(args->start + (i << UHMM_PAGE_SHIFT), &args->src[i]);
}

/* Where candidate @i's entry, still the collector's, is now; 0 if none.  pt_lock held. */
static unsigned long still_claimed(const struct uhmm_migrate_vma *args, const unsigned char *cand,
				   unsigned long i)
{
	return cand[i] ? entry_addr(args, i) : 0;
}

/*
 * Moves the candidate pages into @run, slot i for page i, one move per run
 * of candidates: any other page of the range may belong to another
 * migration, and where mremap() moved the entries, from their new address.
 * Each move is made under the same hold of pt_lock as the check
 * that the run's migration entries are still this migration's: an unmap
 * applied before the check is seen, and one not yet read makes the kernel
 * refuse the move (sysmem_move_in()), so a page of a mapping that replaced
 * the claimed one is never taken.  Holes are skipped by the kernel; a page
 * that cannot move gets skip[i] set.
 */
static void move_out(const struct uhmm_migrate_vma *args, const unsigned char *cand,
		     struct uhmm_page *run, unsigned char *skip)
{
	unsigned long n = args->npages, i = 0, j;
	struct mm_event_wait wait = { 0 };
	int unshared = 0;
	bool single = false;

	pthread_mutex_lock(&init_mm.pt_lock);
	while (i < n) {
		unsigned long addr = still_claimed(args, cand, i);
		long moved;

		if (!addr) {
			i++;
			continue;
		}
		for (j = i + 1; j < n && !single &&
		     still_claimed(args, cand, j) == addr + ((j - i) << UHMM_PAGE_SHIFT); j++)
			;
		if (mm_should_fail(UHMM_FAIL_MOVE)) {
			moved = -EBUSY;
			unshared = 1;
		} else {
			mm_inject_delay(UHMM_DELAY_COLLECT);
			moved = sysmem_move_in(&run[i], addr, (j - i) << UHMM_PAGE_SHIFT);
		}
		if (moved > 0) {
			i += moved >> UHMM_PAGE_SHIFT;
			unshared = 0;
			wait = (struct mm_event_wait){ 0 };
			single = false;
			continue;
		}
		if (moved == -EINVAL && j - i > 1) {
			/* One move takes from one mapping: the run was split meanwhile. */
			single = true;
			continue;
		}
		if (moved == -ENOENT)	/* not watched after all */
			mm_forget_range(addr, addr + UHMM_PAGE_SIZE);
		if (moved == -EAGAIN && wait.waits < MM_EVENT_WAITS_MAX) {
			/* An event is unread: let the engine read it, then look again. */
			mm_uffd_wait_event(&wait, addr);
			continue;
		}
		if (moved == -EBUSY && !unshared++) {
			bool retry;

			/* The write may fault: not under pt_lock. */
			pthread_mutex_unlock(&init_mm.pt_lock);
			retry = unshare_page(addr);
			pthread_mutex_lock(&init_mm.pt_lock);
			if (retry)
				continue;
		}
		/* This page stays where it is; go on after it. */
		skip[i++] = 1;
		unshared = 0;
		wait = (struct mm_event_wait){ 0 };
		single = false;
	}
	pthread_mutex_unlock(&init_mm.pt_lock);
}

static void collect_system(struct uhmm_migrate_vma *args, const unsigned char *cand)
{
	unsigned long n = args->npages, i;
	unsigned char *skip = calloc(n, 1);
	struct uhmm_page *run = skip ? sysmem_alloc_run(n) : NULL;

	if (run) {
		move_out(args, cand, run, skip);
		sysmem_scan_populated(run, n);
	}
	pthread_mutex_lock(&init_mm.pt_lock);
	for (i = 0; i < n; i++) {
		unsigned long addr;
		bool ours, moved = run && page_flag_test(&run[i], PG_SYS_POPULATED);

		if (!cand[i])
			continue;
		addr = entry_addr(args, i);
		ours = addr != 0;
		if (!ours || !run || skip[i]) {
			/* Left out; a page moved out of an address since unmapped is dropped. */
			if (ours)
				pt_set(addr, 0);
			args->src[i] = 0;
			continue;
		}
		if (moved) {
			uhmm_trylock_page(&run[i]);
			run[i].index = addr;
			args->src[i] = uhmm_migrate_pfn(run[i].pfn) | UHMM_MIGRATE_PFN_MIGRATE |
				       UHMM_MIGRATE_PFN_WRITE;
		}
		/* else a hole: src stays MIGRATE, as the kernel's collect_hole() leaves it */
		args->cpages++;
	}
	pthread_mutex_unlock(&init_mm.pt_lock);
	if (run)
		for (i = 0; i < n; i++)
			if (uhmm_migrate_pfn_to_page(args->src[i]) != &run[i])
				uhmm_put_page(&run[i]);
	free(skip);
}

UHMM_EXPORT int uhmm_migrate_vma_setup(struct uhmm_migrate_vma *args)
{
	unsigned long i, n, ncand = 0;
	uint64_t now = 0;
	struct vma_info vma;
	unsigned char *cand = NULL;
	bool system;
	int ret;

	/* The caller's mistakes are logged as errors ... */
	if (!args || !args->src || !args->dst) {
		pr_err("migrate_vma_setup: %s", !args ? "no args" : "args without src or dst array");
		return -EINVAL;
	}
	if (!IS_ALIGNED(args->start, UHMM_PAGE_SIZE) || !IS_ALIGNED(args->end, UHMM_PAGE_SIZE) ||
	    args->start >= args->end) {
		pr_err("migrate_vma_setup: range %#lx-%#lx is not page-aligned and ascending",
		       args->start, args->end);
		return -EINVAL;
	}
	if (args->fault_page && (!uhmm_is_device_private_page(args->fault_page) ||
				 !uhmm_page_locked(args->fault_page))) {
		pr_err("migrate_vma_setup: fault_page (pfn %#lx) is not a locked device-private page",
		       args->fault_page->pfn);
		return -EINVAL;
	}
	/*
	 * ... the mapping's state at this moment, which a racing munmap() can
	 * change, at info level.  The mapping, not the vma: a concurrent
	 * registration may be splitting it.
	 */
	ret = vma_mapping_to(args->start, args->end, &vma);
	if (ret) {
		pr_info("migrate_vma_setup: no mapping at %#lx (%s)", args->start, strerror(-ret));
		return ret == -ENOENT ? -EFAULT : ret;
	}
	if (args->end > vma.end || !(vma.flags & UHMM_VM_READ)) {
		pr_info("migrate_vma_setup: range %#lx-%#lx is not inside one readable mapping "
			"(%#lx-%#lx%s)", args->start, args->end, vma.start, vma.end,
			vma.flags & UHMM_VM_READ ? "" : ", not readable");
		return -EINVAL;
	}
	ret = mm_start();
	if (ret)
		return ret;
	mn_sync_range(args->start, args->end);

	n = (args->end - args->start) >> UHMM_PAGE_SHIFT;
	memset(args->src, 0, n * sizeof(*args->src));
	memset(args->dst, 0, n * sizeof(*args->dst));
	args->npages = n;
	args->cpages = 0;
	/* Only private anonymous writable memory can be moved out (UFFDIO_MOVE). */
	system = (args->flags & UHMM_MIGRATE_VMA_SELECT_SYSTEM) &&
		 (vma.flags & (UHMM_VM_WRITE | UHMM_VM_SHARED | UHMM_VM_FILE)) == UHMM_VM_WRITE;
	if (system && mm_register_range(args->start, args->end, MM_REG_MISSING))
		system = false;
	/* Mirrors let go first, except the owner's own (it knows). */
	mn_invalidate(args->start, args->end, UHMM_MMU_NOTIFY_MIGRATE, args->pgmap_owner);
	if (system) {
		cand = calloc(n, 1);
		if (!cand)
			return -ENOMEM;
	}

	mm_fork_enter();
	pthread_mutex_lock(&init_mm.pt_lock);
	/*
	 * An unmap applied since the registration took it away: a mapping now
	 * there is not watched, and a page taken from it would read back as zeros.
	 */
	if (system && !mm_range_watched(args->start, args->end))
		system = false;
	for (i = 0; i < n; i++) {
		unsigned long addr = args->start + (i << UHMM_PAGE_SHIFT);
		uintptr_t pte = pt_get(addr);
		struct uhmm_page *page = pte_page(pte);

		if (page) {
			if (!device_page_selected(args, page))
				continue;
			if (page != args->fault_page && !uhmm_trylock_page(page))
				continue;
			pt_set(addr, pte_mk_migration(&args->src[i]));
			args->src[i] = uhmm_migrate_pfn(page->pfn) | UHMM_MIGRATE_PFN_MIGRATE |
				       (pte & PTE_WRITE ? UHMM_MIGRATE_PFN_WRITE : 0);
			args->cpages++;
		} else if (!pte && system && !policy_keep_in_ram(addr, &now) &&
			   pt_set(addr, pte_mk_migration(&args->src[i])) == 0) {
			args->src[i] = UHMM_MIGRATE_PFN_MIGRATE;
			cand[i] = 1;
			ncand++;
		}
	}
	pthread_mutex_unlock(&init_mm.pt_lock);
	if (ncand)
		collect_system(args, cand);
	free(cand);
	uhmm_trace(migrate_vma_setup, args->start, args->end, args->cpages, args->flags);
	if (!args->cpages)
		mm_fork_exit();
	return 0;
}

/* Checks one collected entry, made at @addr, against its destination. */
static void migrate_check(unsigned long *src, unsigned long dst, unsigned long addr)
{
	if (!(*src & UHMM_MIGRATE_PFN_MIGRATE))
		return;
	if (!uhmm_migrate_pfn_to_page(dst)) {
		*src &= ~UHMM_MIGRATE_PFN_MIGRATE;
		return;
	}
	if (!addr)
		return;
	pthread_mutex_lock(&init_mm.pt_lock);
	if (!pt_find_migration(addr, src))
		*src &= ~UHMM_MIGRATE_PFN_MIGRATE;
	pthread_mutex_unlock(&init_mm.pt_lock);
}

UHMM_EXPORT void uhmm_migrate_vma_pages(struct uhmm_migrate_vma *args)
{
	unsigned long i;

	if (WARN_ON(!args || !args->src || !args->dst))
		return;
	for (i = 0; i < args->npages; i++)
		migrate_check(&args->src[i], args->dst[i], args->start + (i << UHMM_PAGE_SHIFT));
}

/* The fault path holds the fault page's lock and unlocks it itself. */
static void release_page(struct uhmm_page *page, const struct uhmm_page *fault_page)
{
	if (page != fault_page && uhmm_page_locked(page))
		uhmm_unlock_page(page);
	uhmm_put_page(page);
}

/*
 * Puts @page in place of the migration entry @src names, made at @home, if
 * that entry is still there (where mremap() took it, if it did): records a
 * device page, moves a system page's frame into the mapping, or, for NULL,
 * leaves the address empty.  Returns true if @page took the address (and
 * with it the migration's reference).
 */
struct migration_entry {
	unsigned long home;
	const unsigned long *src;
};

/* mm_install_staged()'s @find: where the migration entry is now. */
static unsigned long migration_entry_addr(void *arg)
{
	const struct migration_entry *e = arg;

	return pt_find_migration(e->home, e->src);
}

static bool install(unsigned long home, unsigned long *src, struct uhmm_page *page, bool write,
		    uint64_t *fault_now)
{
	struct migration_entry e = { .home = home, .src = src };
	unsigned long addr;
	bool taken = false;

	pthread_mutex_lock(&init_mm.pt_lock);
	if (page && !uhmm_is_zone_device_page(page)) {
		/* Nothing else fills the address while the migration entry is there. */
		addr = mm_install_staged(page, migration_entry_addr, &e);
		if (addr && fault_now)
			policy_fault_back(addr, fault_now);
	} else if ((addr = pt_find_migration(home, src))) {
		if (page) {
			pt_set(addr, pte_mk_device(page, write));
			page->mapping = MM_MAPPING;
			page->index = addr;
			taken = true;
		} else {
			pt_set(addr, 0);
		}
	}	/* else unmapped meanwhile: the page goes */
	pthread_mutex_unlock(&init_mm.pt_lock);
	return taken;
}

/*
 * The third step for one entry; @addr is 0 when no address holds the page.
 * @fault_now: not NULL for a fault's migration (the policy's clock).
 */
static void finalize_one(unsigned long addr, unsigned long *srcp, unsigned long dst,
			 const struct uhmm_page *fault_page, uint64_t *fault_now)
{
	unsigned long src = *srcp;
	struct uhmm_page *spage = uhmm_migrate_pfn_to_page(src);
	struct uhmm_page *dpage = uhmm_migrate_pfn_to_page(dst);
	bool migrated = (src & UHMM_MIGRATE_PFN_MIGRATE) && dpage;

	if (migrated) {
		/* Counted first: the faulting thread may run on once its page is in. */
		if (uhmm_is_zone_device_page(dpage)) {
			mm_count(pages_to_device, 1);
			pgmap_count(dpage->pgmap, pages_in, 1);
		} else {
			mm_count(pages_to_ram, 1);
			if (fault_page && spage != fault_page)
				mm_count(pages_prefetched, 1);
		}
		if (spage && uhmm_is_zone_device_page(spage))
			pgmap_count(spage->pgmap, pages_out, 1);
		if (uhmm_page_locked(dpage))
			uhmm_unlock_page(dpage);
		if (!install(addr, srcp, dpage, dst & UHMM_MIGRATE_PFN_WRITE, fault_now))
			uhmm_put_page(dpage);	/* moved into the mapping, or unmapped */
		if (spage)
			release_page(spage, fault_page);
		return;
	}
	if (spage) {
		if (!install(addr, srcp, spage, src & UHMM_MIGRATE_PFN_WRITE, NULL))
			release_page(spage, fault_page);
		else if (spage != fault_page)
			uhmm_unlock_page(spage);
	} else {
		install(addr, srcp, NULL, false, NULL);
	}
	if (dpage)
		release_page(dpage, NULL);
}

/* Entry @i moves a device page back into a system page (batchable). */
static struct uhmm_page *to_ram_dst(const unsigned long *src, const unsigned long *dst,
				    unsigned long i, const struct uhmm_page *fault_page)
{
	struct uhmm_page *spage, *dpage;

	if (!(src[i] & UHMM_MIGRATE_PFN_MIGRATE))
		return NULL;
	spage = uhmm_migrate_pfn_to_page(src[i]);
	dpage = uhmm_migrate_pfn_to_page(dst[i]);
	if (!spage || spage == fault_page || !dpage || uhmm_is_zone_device_page(dpage))
		return NULL;
	return dpage;
}

/*
 * Pages @i.. of a migration back to RAM whose new pages are consecutive
 * staging slots go into the mapping with one UFFDIO_MOVE.  Returns how many
 * were installed and released; the caller finalizes the rest one by one.
 */
static unsigned long finalize_run_to_ram(struct uhmm_migrate_vma *args, unsigned long i,
					 uint64_t *fault_now)
{
	unsigned long *src = args->src, *dst = args->dst, n, k, j;
	unsigned long addr = args->start + (i << UHMM_PAGE_SHIFT);
	struct uhmm_page *first = to_ram_dst(src, dst, i, args->fault_page);
	long moved;

	if (!first)
		return 0;
	for (n = 1; i + n < args->npages; n++) {
		struct uhmm_page *d = to_ram_dst(src, dst, i + n, args->fault_page);

		if (!d || d->pfn != first->pfn + n)
			break;
	}
	if (n < 2)
		return 0;
	pthread_mutex_lock(&init_mm.pt_lock);
	addr = pt_find_migration(addr, &src[i]);
	for (j = 0; addr && j < n; j++)
		if (pt_find_migration(args->start + ((i + j) << UHMM_PAGE_SHIFT), &src[i + j]) !=
		    addr + (j << UHMM_PAGE_SHIFT))
			break;
	n = addr ? j : 0;
	moved = n < 2 ? 0 : mm_move(init_mm.uffd, addr, (unsigned long)uhmm_page_address(first),
				    n << UHMM_PAGE_SHIFT, false);
	k = moved > 0 ? (unsigned long)moved >> UHMM_PAGE_SHIFT : 0;
	for (j = 0; j < k; j++) {
		pt_set(addr + (j << UHMM_PAGE_SHIFT), 0);
		page_flag_clear(&first[j], PG_SYS_POPULATED);
		if (fault_now)
			policy_fault_back(addr + (j << UHMM_PAGE_SHIFT), fault_now);
	}
	pthread_mutex_unlock(&init_mm.pt_lock);
	mm_count(pages_to_ram, k);
	if (fault_now)
		mm_count(pages_prefetched, k);	/* never the faulting page (to_ram_dst()) */
	for (j = 0; j < k; j++) {
		struct uhmm_page *spage = uhmm_migrate_pfn_to_page(src[i + j]);

		if (spage && uhmm_is_zone_device_page(spage))
			pgmap_count(spage->pgmap, pages_out, 1);
		release_page(&first[j], NULL);
		release_page(uhmm_migrate_pfn_to_page(src[i + j]), NULL);
	}
	return k;
}

static void finalize_done(unsigned long collected)
{
	if (collected)
		mm_fork_exit();
}

UHMM_EXPORT void uhmm_migrate_vma_finalize(struct uhmm_migrate_vma *args)
{
	uint64_t now = 0, *fault_now;
	unsigned long i;

	if (WARN_ON(!args || !args->src || !args->dst))
		return;
	uhmm_trace(migrate_vma_finalize, args->start, args->end);
	fault_now = args->fault_page ? &now : NULL;
	/* The faulting page last, so its thread resumes with the block in place. */
	for (i = 0; i < args->npages;) {
		unsigned long done = finalize_run_to_ram(args, i, fault_now);

		if (done) {
			i += done;
			continue;
		}
		if (!args->fault_page || uhmm_migrate_pfn_to_page(args->src[i]) != args->fault_page)
			finalize_one(args->start + (i << UHMM_PAGE_SHIFT), &args->src[i],
				     args->dst[i], args->fault_page, fault_now);
		i++;
	}
	for (i = 0; args->fault_page && i < args->npages; i++)
		if (uhmm_migrate_pfn_to_page(args->src[i]) == args->fault_page)
			finalize_one(args->start + (i << UHMM_PAGE_SHIFT), &args->src[i],
				     args->dst[i], args->fault_page, fault_now);
	finalize_done(args->cpages);
}

/* --- eviction by pfn ------------------------------------------------------ */

static bool get_page_unless_zero(struct uhmm_page *page)
{
	int old = __atomic_load_n(&page->_refcount, __ATOMIC_SEQ_CST);

	do {
		if (old <= 0)
			return false;
	} while (!__atomic_compare_exchange_n(&page->_refcount, &old, old + 1, true,
						   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	return true;
}

/*
 * Every address that maps a page of [start, start + npages) is invalidated
 * for every mirror, its owner's too (the kernel's try_to_migrate() does it
 * with no owner).  Addresses are gathered first: ops run without locks.
 */
static void evict_invalidate(unsigned long start, unsigned long npages)
{
	unsigned long i, n = 0, *addrs;

	if (!mn_has_subscriptions())
		return;
	addrs = malloc(npages * sizeof(*addrs));
	if (!addrs) {
		mn_invalidate(0, ~0UL, UHMM_MMU_NOTIFY_MIGRATE, NULL);
		return;
	}
	pthread_mutex_lock(&init_mm.pt_lock);
	for (i = 0; i < npages; i++) {
		struct uhmm_page *page = uhmm_pfn_to_page(start + i);
		unsigned long addr;

		/* No reference: the page may be freed meanwhile (see free_zone_device_page()). */
		if (!page || __atomic_load_n(&page->mapping, __ATOMIC_RELAXED) != MM_MAPPING)
			continue;
		addr = __atomic_load_n(&page->index, __ATOMIC_RELAXED);
		if (pte_page(pt_get(addr)) == page)
			addrs[n++] = addr;
	}
	pthread_mutex_unlock(&init_mm.pt_lock);
	for (i = 0; i < n; i++)
		mn_invalidate(addrs[i], addrs[i] + UHMM_PAGE_SIZE, UHMM_MMU_NOTIFY_MIGRATE, NULL);
	free(addrs);
}

UHMM_EXPORT int uhmm_migrate_device_range(unsigned long *src_pfns, unsigned long start,
					  unsigned long npages)
{
	unsigned long i, collected = 0;

	if (!src_pfns || !npages || !uhmm_pfn_to_page(start))
		return -EINVAL;
	evict_invalidate(start, npages);
	mm_fork_enter();
	for (i = 0; i < npages; i++) {
		struct uhmm_page *page = uhmm_pfn_to_page(start + i);
		bool write = true, mapped = false;
		uintptr_t pte;

		src_pfns[i] = 0;
		if (!page || !get_page_unless_zero(page))
			continue;
		/* A fault may hold it for a moment: wait, eviction must get every page. */
		uhmm_lock_page(page);
		pthread_mutex_lock(&init_mm.pt_lock);
		pte = page->mapping == MM_MAPPING ? pt_get(page->index) : 0;
		if (pte_page(pte) == page) {
			write = pte & PTE_WRITE;
			pt_set(page->index, pte_mk_migration(&src_pfns[i]));
			mapped = true;
		}
		pthread_mutex_unlock(&init_mm.pt_lock);
		if (mapped)
			uhmm_put_page(page);	/* the mapping's; ours stands for it */
		src_pfns[i] = uhmm_migrate_pfn(page->pfn) | UHMM_MIGRATE_PFN_MIGRATE |
			      (write ? UHMM_MIGRATE_PFN_WRITE : 0);
		pgmap_count(page->pgmap, pages_evicted, 1);
		collected++;
	}
	uhmm_trace(migrate_device_range, start, npages, collected);
	mm_count(pages_evicted, collected);
	if (!collected)
		mm_fork_exit();
	return 0;
}

static unsigned long device_addr(unsigned long src)
{
	struct uhmm_page *page = uhmm_migrate_pfn_to_page(src);

	return page && page->mapping == MM_MAPPING ? page->index : 0;
}

UHMM_EXPORT void uhmm_migrate_device_pages(unsigned long *src_pfns, unsigned long *dst_pfns,
					   unsigned long npages)
{
	unsigned long i;

	if (WARN_ON(!src_pfns || !dst_pfns))
		return;
	for (i = 0; i < npages; i++)
		migrate_check(&src_pfns[i], dst_pfns[i], device_addr(src_pfns[i]));
}

UHMM_EXPORT void uhmm_migrate_device_finalize(unsigned long *src_pfns, unsigned long *dst_pfns,
					      unsigned long npages)
{
	unsigned long i, collected = 0;

	if (WARN_ON(!src_pfns || !dst_pfns))
		return;
	for (i = 0; i < npages; i++) {
		if (src_pfns[i] & UHMM_MIGRATE_PFN_VALID)
			collected++;
		finalize_one(device_addr(src_pfns[i]), &src_pfns[i], dst_pfns[i], NULL, NULL);
	}
	finalize_done(collected);
}
