/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uhmm migrate: moving a process's pages to device memory and back, with the
 * semantics of Linux 6.x's migrate_vma_*() and migrate_device_*(), and the
 * CPU fault that brings a device-private page back.
 *
 * The process's side lives in ordinary anonymous memory.  Migrating a page
 * to a DEVICE_PRIVATE pgmap takes it out of the mapping; uhmm records which
 * device page now holds that address and registers the range with
 * userfaultfd.  The first CPU access to it (any thread, and inside system
 * calls where the kernel allows it) reaches uhmm's fault engine, which calls
 * the pgmap's migrate_to_ram() with a struct uhmm_vm_fault; the driver
 * migrates the page back with migrate_vma_*(), uhmm installs it atomically
 * and the thread resumes.
 *
 * System memory pages: the kernel's drivers see the CPU's pages as struct
 * pages they can kmap.  uhmm gives a page it is migrating, or one a driver
 * allocates with uhmm_alloc_page(), a struct uhmm_page of its own (pfns in
 * the System RAM range, pgmap NULL); uhmm_page_address() is where its bytes
 * are while it is not mapped at its user address.
 */
#ifndef UHMM_MIGRATE_H
#define UHMM_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <uhmm/memremap.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- migrate pfns: a pfn and the state of one page being migrated ------- */

#define UHMM_MIGRATE_PFN_VALID		(1UL << 0)	/* the entry holds a page */
#define UHMM_MIGRATE_PFN_MIGRATE	(1UL << 1)	/* selected, and still migrating */
#define UHMM_MIGRATE_PFN_WRITE		(1UL << 3)	/* the mapping is writable */
#define UHMM_MIGRATE_PFN_SHIFT		6

/** uhmm_migrate_pfn() - the migrate entry of @pfn (VALID set) */
static inline unsigned long uhmm_migrate_pfn(unsigned long pfn)
{
	return (pfn << UHMM_MIGRATE_PFN_SHIFT) | UHMM_MIGRATE_PFN_VALID;
}

/**
 * uhmm_migrate_pfn_to_page() - the page of a migrate entry
 * Return: the page, or NULL if the entry is not VALID (a hole).
 */
struct uhmm_page *uhmm_migrate_pfn_to_page(unsigned long mpfn);

/* struct uhmm_migrate_vma.flags: which pages migrate_vma_setup() collects */
#define UHMM_MIGRATE_VMA_SELECT_SYSTEM		(1UL << 0)
#define UHMM_MIGRATE_VMA_SELECT_DEVICE_PRIVATE	(1UL << 1)
#define UHMM_MIGRATE_VMA_SELECT_DEVICE_COHERENT	(1UL << 2)

/**
 * struct uhmm_migrate_vma - one migration of [@start, @end)
 * @src: (out) one entry per page: which pages were collected (MIGRATE set),
 *	their pfn (VALID set) or a hole (VALID clear), and WRITE
 * @dst: (in) one entry per page, set by the driver between setup and pages:
 *	uhmm_migrate_pfn() of the page it allocated and filled, or 0
 * @cpages: (out) how many pages were collected
 * @npages: (out) pages in the range
 * @start, @end: the range, page aligned, inside one mapping
 * @pgmap_owner: with SELECT_DEVICE_*, only that owner's pages are collected
 * @flags: UHMM_MIGRATE_VMA_SELECT_*
 * @fault_page: when called from migrate_to_ram(), the faulting page
 *	(vmf->page), which the caller has locked
 *
 * The kernel's struct also names the vma; uhmm finds the mapping itself.
 */
struct uhmm_migrate_vma {
	unsigned long *src;
	unsigned long *dst;
	unsigned long cpages;
	unsigned long npages;
	unsigned long start;
	unsigned long end;
	void *pgmap_owner;
	unsigned long flags;
	struct uhmm_page *fault_page;
};

/**
 * uhmm_migrate_vma_setup() - collect and isolate the pages of a range
 *
 * For each page of [@args->start, @args->end): a page in device memory of the
 * selected kind and owner, a page of system memory (SELECT_SYSTEM: private
 * anonymous writable memory only), or a hole in such memory (which migrates
 * as a zero page) is collected: locked, taken out of the mapping, and
 * marked MIGRATE in @args->src.  A CPU access to a collected page waits
 * until migrate_vma_finalize().  Pages that cannot be moved (shared or file
 * mappings, pages locked by someone else, read-only or mlocked mappings,
 * other owners) are left out, with src 0.  Sets @args->cpages and
 * @args->npages; clears @args->dst.
 *
 * Starts the fault engine on first use and registers the range with it.
 *
 * What setup holds until finalize, when it collected a page (cpages > 0):
 * the collected pages, locked, and a hold on fork(): a fork() from any
 * thread waits until uhmm_migrate_vma_finalize() (and logs every 10 s that
 * it waits).  uhmm_migrate_vma_pages() and _finalize() may run on another
 * thread than setup; every setup that collected a page must be finalized.
 * No mutex of the library is held in between, only the page locks.
 * Context: may sleep; not from a signal handler.
 * Return: 0 (even if nothing was collected), or
 * -EINVAL: NULL @args, @src or @dst, an unaligned or empty range, a range not
 *	inside one mapping, a PROT_NONE mapping, a @fault_page that is not a
 *	locked device-private page;
 * -EFAULT: no mapping at @start;
 * -ENOMEM: no memory for uhmm's tables;
 * -ENOSYS, -EPERM, -EOPNOTSUPP: the fault engine cannot start (the log names
 *	the missing kernel feature).
 */
int uhmm_migrate_vma_setup(struct uhmm_migrate_vma *args);

/**
 * uhmm_migrate_vma_pages() - commit the copies the driver made
 *
 * Checks each collected page against the destination the driver set; an
 * entry whose @dst is 0, or that can no longer migrate (the range was
 * unmapped meanwhile) has MIGRATE cleared in @src.
 */
void uhmm_migrate_vma_pages(struct uhmm_migrate_vma *args);

/**
 * uhmm_migrate_vma_finalize() - install the new pages, restore the others
 *
 * Migrated pages: the destination takes the address (a device page is
 * recorded there; a system page is moved into the mapping) and the source
 * page is released.  Pages that did not migrate are put back as they were
 * and their destination page, if any, released.  Wakes every CPU access that
 * waited.  Unlocks and drops the references of source and destination pages.
 */
void uhmm_migrate_vma_finalize(struct uhmm_migrate_vma *args);

/**
 * uhmm_migrate_device_range() - collect device pages by pfn, for eviction
 * @src_pfns: (out) @npages entries
 * @start: first pfn; @npages: how many
 *
 * Every page of the range that is in use (refcount > 0) is locked,
 * unmapped from the address that holds it, and marked MIGRATE; idle pages
 * get src 0.  The driver then allocates system pages (uhmm_alloc_page()),
 * copies, and calls uhmm_migrate_device_pages() and
 * uhmm_migrate_device_finalize() with the same arrays; in between it holds
 * the pages and fork(), as uhmm_migrate_vma_setup() does.
 * Return: 0; -EINVAL for NULL @src_pfns or a range without pgmap.
 */
int uhmm_migrate_device_range(unsigned long *src_pfns, unsigned long start,
			      unsigned long npages);
/** uhmm_migrate_device_pages() - as uhmm_migrate_vma_pages(), for eviction */
void uhmm_migrate_device_pages(unsigned long *src_pfns, unsigned long *dst_pfns,
			       unsigned long npages);
/** uhmm_migrate_device_finalize() - as uhmm_migrate_vma_finalize(), for eviction */
void uhmm_migrate_device_finalize(unsigned long *src_pfns, unsigned long *dst_pfns,
				  unsigned long npages);

/* --- system memory pages -------------------------------------------------- */

/**
 * uhmm_alloc_page() - a page of system memory, for a migration destination
 *
 * The page has refcount 1, is unlocked, and its contents are undefined;
 * write all of it through uhmm_page_address().  uhmm_lock_page() it before
 * passing it as a destination, as the kernel's drivers do.
 * Return: the page, or NULL with errno ENOMEM.
 */
struct uhmm_page *uhmm_alloc_page(void);

/**
 * uhmm_page_address() - where a system page's bytes are (the kernel's
 * page_address())
 * Return: the address, or NULL for a device page (device memory is not
 * CPU-addressable through uhmm; the driver knows where it keeps it).
 */
void *uhmm_page_address(const struct uhmm_page *page);

/** uhmm_is_zone_device_page() - true for a page of a pgmap, false for system memory */
static inline bool uhmm_is_zone_device_page(const struct uhmm_page *page)
{
	return page->pgmap != NULL;
}

/* --- the CPU fault ------------------------------------------------------- */

/* struct uhmm_vm_fault.flags */
#define UHMM_FAULT_FLAG_WRITE		(1U << 0)	/* the access was a write */

/**
 * struct uhmm_vm_fault - a CPU access to a device-private page
 * @address: the faulting page's address
 * @flags: UHMM_FAULT_FLAG_*
 * @page: the device page mapped there, locked and referenced by uhmm
 * @start, @end: the fault-around block uhmm suggests migrating in one go
 *	(aligned, contains @address, inside the mapping); a driver that
 *	migrates only @address is correct too
 * @src, @dst: arrays of (@end - @start) / UHMM_PAGE_SIZE entries the driver
 *	may pass as its struct uhmm_migrate_vma arrays
 */
struct uhmm_vm_fault {
	unsigned long address;
	unsigned int flags;
	struct uhmm_page *page;
	unsigned long start;
	unsigned long end;
	unsigned long *src;
	unsigned long *dst;
};

/* --- migration policy: what a CPU fault brings back, and what stays ------ */

/* The largest fault-around block (struct uhmm_vm_fault's arrays hold this many pages). */
#define UHMM_FAULT_AROUND_MAX	(2UL << 20)

/**
 * struct uhmm_migrate_policy - how uhmm chooses the block a CPU fault migrates
 * @size: sizeof(struct uhmm_migrate_policy), set by the caller; fields beyond
 *	an older caller's @size keep their defaults
 * @window_min: the block of a fault with nothing CPU-resident around it, bytes:
 *	a power of two from UHMM_PAGE_SIZE up; default UHMM_PAGE_SIZE
 * @window_max: the largest block, bytes: a power of two from @window_min to
 *	UHMM_FAULT_AROUND_MAX; default UHMM_FAULT_AROUND_MAX.  Equal to
 *	@window_min for a fixed block (uhmm_set_fault_around_bytes()).
 * @thrash_threshold: bounces that make a page thrashing: a bounce is the page
 *	brought back by a CPU fault and then selected to migrate to a device
 *	again within @thrash_lapse_us; 0 turns detection off; default 3
 * @thrash_lapse_us: see @thrash_threshold; default 500 (NVIDIA UVM's)
 * @thrash_pin_ms: how long a thrashing page then stays in system memory
 *	(uhmm_migrate_vma_setup() does not select it, so a device reaches it
 *	through its mirror instead); 0: thrashing is only counted; default 0,
 *	as the kernel selects every page it is asked for
 *
 * The window adapts as NVIDIA UVM's prefetcher does: of the aligned blocks
 * that hold the faulting page, from twice @window_min to @window_max, the
 * largest of which more than half would be CPU-resident after the fault is
 * migrated whole; a @window_max block whose aligned neighbour is mostly
 * resident counts as such a block too, so a sequential scan moves whole
 * @window_max blocks from its second block on.  Random faults where the
 * pages around are in device memory move @window_min.  This is uhmm's
 * addition: the kernel's drivers each choose their own.
 *
 * The environment sets the policy as lib/mm starts, before any call:
 * UHMM_MIGRATE_POLICY="window_min=4K,window_max=2M,thrash_threshold=3,
 * thrash_lapse_us=500,thrash_pin_ms=300" (any of the keys, sizes with K or
 * M); a bad value is logged and the defaults kept.
 */
struct uhmm_migrate_policy {
	uint64_t size;
	uint64_t window_min;
	uint64_t window_max;
	uint32_t thrash_threshold;
	uint32_t thrash_lapse_us;
	uint32_t thrash_pin_ms;
	uint32_t reserved;		/* 0 */
};

/**
 * uhmm_set_migrate_policy() - change the process's migration policy
 * @policy: the new policy; takes effect with the next fault
 * Return: 0; -EINVAL for a NULL @policy, a @size too small to hold
 * @window_max, or a value out of range (logged); -E2BIG if @policy is larger
 * than this library knows and the bytes it does not know are not zero.
 */
int uhmm_set_migrate_policy(const struct uhmm_migrate_policy *policy);

/**
 * uhmm_get_migrate_policy() - the policy in force, up to @policy->size
 * Return: 0, or -EINVAL for a NULL @policy or a @size below 8.
 */
int uhmm_get_migrate_policy(struct uhmm_migrate_policy *policy);

/**
 * uhmm_set_fault_around_bytes() - a fixed fault-around block
 * @bytes: a power of two from UHMM_PAGE_SIZE to UHMM_FAULT_AROUND_MAX
 *
 * Sets the policy's @window_min and @window_max both to @bytes; the
 * adaptive default comes back with uhmm_set_migrate_policy().
 * Return: 0, or -EINVAL.
 */
int uhmm_set_fault_around_bytes(unsigned long bytes);

/**
 * struct uhmm_mm_stats - what the fault engine and migration have done
 * @size: sizeof(struct uhmm_mm_stats), set by the caller
 * @faults: CPU faults on device-private pages resolved
 * @zero_faults: CPU faults on untouched pages of registered ranges (zero fill)
 * @pages_to_device: pages migrated into device memory
 * @pages_to_ram: pages migrated back to system memory
 * @registered_bytes: bytes of the address space registered with the engine
 * @system_pages: system memory pages uhmm holds for migrations in flight and
 *	for drivers (uhmm_alloc_page()) now; 0 when nothing is in flight
 * @moves_undercounted: UFFDIO_MOVEs that moved more than they reported (Linux
 *	6.18 can, after a retry inside the ioctl); uhmm counted the rest from
 *	the page tables
 * @pages_evicted: device pages collected by uhmm_migrate_device_range()
 * @fault_errors: driver migrate_to_ram() calls that returned VM_FAULT_SIGBUS,
 *	_SIGSEGV or _HWPOISON (the first of two in a row only wakes the thread)
 * @fault_sigbus: faults that ended in SIGBUS to the faulting thread
 * @fault_stalls: faults logged as making no progress (migrate_to_ram()
 *	leaving the page in device memory for a second or more)
 * @fault_retries: times a fault found its page mid-migration and was tried
 *	again once the migration had moved on (one fault may retry often)
 * @fault_window_pages: pages of the blocks the faults asked their drivers to
 *	migrate, summed (divided by @faults: the mean window)
 * @fault_windows_grown: faults whose block the policy made larger than its
 *	@window_min
 * @pages_prefetched: pages a fault migrated back besides the faulting one.
 *	Whether the CPU then touched them is not counted: a read of a mapped
 *	page is invisible to user space.
 * @thrash_events: pages found thrashing (struct uhmm_migrate_policy)
 * @thrash_pinned: pages left in system memory by a migration to a device
 *	because they were thrashing
 *
 * Fields are only ever appended: a caller compiled against an older header
 * sets a smaller @size and gets the fields it knows.  Every field but
 * @registered_bytes and @system_pages (which say what is held now) counts
 * since the start or since uhmm_mm_reset_stats().
 */
struct uhmm_mm_stats {
	uint64_t size;
	uint64_t faults;
	uint64_t zero_faults;
	uint64_t pages_to_device;
	uint64_t pages_to_ram;
	uint64_t registered_bytes;
	uint64_t system_pages;
	uint64_t moves_undercounted;
	uint64_t pages_evicted;
	uint64_t fault_errors;
	uint64_t fault_sigbus;
	uint64_t fault_stalls;
	uint64_t fault_retries;
	uint64_t fault_window_pages;
	uint64_t fault_windows_grown;
	uint64_t pages_prefetched;
	uint64_t thrash_events;
	uint64_t thrash_pinned;
};

/** uhmm_mm_get_stats() - fill @stats (up to @stats->size); 0 or -EINVAL */
int uhmm_mm_get_stats(struct uhmm_mm_stats *stats);

/** uhmm_mm_reset_stats() - set the counting fields of the stats back to 0 */
void uhmm_mm_reset_stats(void);

/**
 * uhmm_mm_read_stats() - another process's counters, if it publishes them
 *
 * A process whose environment has UHMM_STATS=1 when its fault engine
 * starts keeps its counters in /dev/shm/uhmm.PID while it runs.  @stats gets
 * every field, registered_bytes and system_pages as last set (a moment
 * behind uhmm_mm_get_stats() in the process itself).  `uhmm stat PID` and
 * `uhmm top` print them.
 * Return: 0; -EINVAL (bad arguments), -ENOENT (@pid publishes nothing),
 * -EBADMSG (not such a file), -ESRCH (left by a process that is gone).
 */
int uhmm_mm_read_stats(pid_t pid, struct uhmm_mm_stats *stats);

/**
 * uhmm_mm_init() - start the fault engine now rather than on first use
 * Return: 0, or the error migrate_vma_setup() would give (-ENOSYS, -EPERM,
 * -EOPNOTSUPP), with the reason logged.
 */
int uhmm_mm_init(void);

/* --- fault injection, for tests ----------------------------------------- */

enum uhmm_fail_site {
	UHMM_FAIL_ALLOC_PAGE,	/* uhmm_alloc_page() and the staging of collected pages */
	UHMM_FAIL_MOVE,		/* moving a page out of the mapping in migrate_vma_setup() */
	UHMM_FAIL_MOVE_UNDERCOUNT,	/* a UFFDIO_MOVE that moves every page but reports only
					 * half of them and -EEXIST, as Linux 6.18's can */
	UHMM_FAIL_NR,
};

/**
 * uhmm_fail_nth() - make the @nth next operation at @site fail (1: the next
 * one; 0: none), as the kernel's fail_nth does
 * Return: how many operations were still to go before the failure (0 if it
 * happened or none was armed), or -EINVAL for an unknown @site.
 */
long uhmm_fail_nth(enum uhmm_fail_site site, unsigned long nth);

/*
 * Delay injection, for tests that must prove a race fixed: each site is a
 * window where another thread's work could once slip in.  A test widens it
 * so that, without the fix, the race shows on nearly every run.
 */
enum uhmm_delay_site {
	UHMM_DELAY_FAULT_HOLE,	/* a CPU fault, before it maps the zero page into a hole */
	UHMM_DELAY_UNMAP_PUT,	/* the engine, before it drops the pages an unmap released */
	UHMM_DELAY_REGISTER,	/* a migration, before it registers its range with userfaultfd */
	UHMM_DELAY_COLLECT,	/* a migration, after it checked its claim on a run of pages,
				 * before it moves them out */
	UHMM_DELAY_FAULT_DEVICE,	/* a CPU fault on a device page, before the driver's
					 * migrate_to_ram() */
	UHMM_DELAY_NR,
};

/**
 * uhmm_inject_delay() - sleep @usec microseconds at @site from now on (0: no delay)
 * Return: the delay the site had, or -EINVAL for an unknown @site.
 */
long uhmm_inject_delay(enum uhmm_delay_site site, unsigned long usec);

/* --- the process's mappings ---------------------------------------------- */

#define UHMM_VM_READ	(1UL << 0)
#define UHMM_VM_WRITE	(1UL << 1)
#define UHMM_VM_EXEC	(1UL << 2)
#define UHMM_VM_SHARED	(1UL << 3)
#define UHMM_VM_FILE	(1UL << 4)	/* backed by a file (shared anonymous memory is) */

/** struct uhmm_vma - one mapping of the process: [@start, @end), UHMM_VM_* @flags */
struct uhmm_vma {
	unsigned long start;
	unsigned long end;
	unsigned long flags;
};

/**
 * uhmm_vma_lookup() - the mapping that contains @addr (the kernel's vma_lookup())
 *
 * The mapping as the program made it.  uhmm registers pieces of a mapping
 * with userfaultfd as it migrates them, which cuts the kernel's vma there;
 * those cuts (and others that differ only in madvise state) are not seen, so
 * a range found here stays one mapping for uhmm_migrate_vma_setup() while
 * other threads migrate parts of it.
 *
 * Return: 0, -ENOENT if no mapping contains @addr, -EINVAL for a NULL @vma.
 */
int uhmm_vma_lookup(unsigned long addr, struct uhmm_vma *vma);

#ifdef __cplusplus
}
#endif
#endif /* UHMM_MIGRATE_H */
