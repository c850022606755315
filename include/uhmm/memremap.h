/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uhmm memremap: per-page metadata for a device's physical range, with the
 * semantics of Linux 6.x's memremap_pages().
 *
 * A driver describes its memory with a struct uhmm_dev_pagemap (type, ranges,
 * owner, ops, optional altmap) and maps it; every page of every range then has
 * a struct uhmm_page that points back at the pgmap.  Device pages are idle at
 * refcount 0 (GENERIC pages at 1), are taken with uhmm_zone_device_page_init()
 * and go back to the driver through ops->page_free() when their last reference
 * is put.  Unmapping waits until every page has come back.
 *
 * Addresses are physical addresses in uhmm's address space (see resource.h);
 * there is no linear map of device memory in a process, so memremap_pages()
 * returns 0 or a negative errno rather than an address.
 */
#ifndef UHMM_MEMREMAP_H
#define UHMM_MEMREMAP_H

#include <stdbool.h>
#include <stdint.h>

#include <uhmm/percpu_ref.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uhmm_device;
struct uhmm_dev_pagemap;
struct uhmm_vm_fault;

#define UHMM_PAGE_SHIFT			12
#define UHMM_PAGE_SIZE			(1UL << UHMM_PAGE_SHIFT)
#define UHMM_PHYS_PFN(addr)		((unsigned long)((addr) >> UHMM_PAGE_SHIFT))
#define UHMM_PFN_PHYS(pfn)		((uint64_t)(pfn) << UHMM_PAGE_SHIFT)
/* Ranges are mapped in subsections: 2 MiB on x86-64, as in the kernel. */
#define UHMM_PAGES_PER_SUBSECTION	512UL
#define UHMM_SUBSECTION_SIZE		(UHMM_PAGES_PER_SUBSECTION << UHMM_PAGE_SHIFT)

/** struct uhmm_range - a physical range, @end inclusive */
struct uhmm_range {
	uint64_t start;
	uint64_t end;
};

static inline uint64_t uhmm_range_len(const struct uhmm_range *range)
{
	return range->end - range->start + 1;
}

/* The kind of device memory; 0 is not a type. */
enum uhmm_memory_type {
	UHMM_MEMORY_DEVICE_PRIVATE = 1,	/* not CPU-addressable; migrates back on a CPU fault */
	UHMM_MEMORY_DEVICE_COHERENT,	/* CPU-addressable, but allocated by the driver */
	UHMM_MEMORY_DEVICE_FS_DAX,	/* persistent memory under a filesystem */
	UHMM_MEMORY_DEVICE_GENERIC,	/* plain memory with struct pages (device-dax) */
	UHMM_MEMORY_DEVICE_PCI_P2PDMA,	/* PCI BAR memory for peer-to-peer DMA */
};

/* uhmm_dev_pagemap.flags */
#define UHMM_PGMAP_ALTMAP_VALID		(1U << 0)

/**
 * struct uhmm_vmem_altmap - metadata carved out of the device's own memory
 * @base_pfn: first pfn of the device's range (must be the range's start)
 * @end_pfn: last pfn the altmap may describe (informational)
 * @reserve: pages at @base_pfn that are neither metadata nor data
 * @free: pages after the reserve that may hold metadata
 * @align: pages skipped to align metadata blocks (accounting, set by uhmm)
 * @alloc: pages holding metadata (accounting, set by uhmm)
 * @base_addr: where the page at @base_pfn is mapped in this process (the
 *	user-space addition: the kernel reaches it through its direct map)
 *
 * The first @reserve + @free pages of the range are never handed out as
 * device pages; see uhmm_vmem_altmap_offset().
 */
struct uhmm_vmem_altmap {
	unsigned long base_pfn;
	unsigned long end_pfn;
	unsigned long reserve;
	unsigned long free;
	unsigned long align;
	unsigned long alloc;
	void *base_addr;
};

/** uhmm_vmem_altmap_offset() - pages at the start of the range the altmap keeps */
static inline unsigned long uhmm_vmem_altmap_offset(const struct uhmm_vmem_altmap *altmap)
{
	return altmap->reserve + altmap->free;
}

/**
 * struct uhmm_page - the metadata of one device page (64 bytes)
 * @flags: UHMM_PG_* bits; change them only through uhmm's functions
 * @_refcount: use uhmm_page_ref_count(), uhmm_get_page(), uhmm_put_page()
 *	(read and written atomically, with the compilers' __atomic builtins)
 * @pgmap: the pgmap this page belongs to, constant while mapped; NULL for a
 *	system memory page (see migrate.h)
 * @pfn: this page's pfn; constant while mapped
 * @zone_device_data: the driver's, e.g. to link free pages
 * @private_data: the driver's (the kernel's page->private; "private" is a
 *	C++ keyword)
 * @mapping, @index: set by uhmm while the page holds a process address:
 *	@index is that address, @mapping non-NULL
 */
struct uhmm_page {
	unsigned long flags;
	int _refcount;
	int __pad;
	struct uhmm_dev_pagemap *pgmap;
	unsigned long pfn;
	void *zone_device_data;
	unsigned long private_data;
	void *mapping;
	unsigned long index;
};

#define UHMM_PG_locked		0	/* bit: held by uhmm_lock_page() */
#define UHMM_PG_waiters		1	/* bit: someone sleeps on the lock */
#define UHMM_PG_reserved	2	/* bit: altmap page, never a device page */

/* What a fault handler returns: 0 or a set of the kernel's VM_FAULT_* bits. */
typedef unsigned int uhmm_vm_fault_t;
#define UHMM_VM_FAULT_OOM	0x0001
#define UHMM_VM_FAULT_SIGBUS	0x0002
#define UHMM_VM_FAULT_MAJOR	0x0004
#define UHMM_VM_FAULT_HWPOISON	0x0010
#define UHMM_VM_FAULT_SIGSEGV	0x0040
#define UHMM_VM_FAULT_RETRY	0x0400

/**
 * struct uhmm_dev_pagemap_ops - the driver's callbacks
 * @page_free: a page's refcount reached zero; give it back to the driver's
 *	allocator.  Required for PRIVATE and COHERENT.  Runs in the thread that
 *	dropped the last reference, with no uhmm lock held.
 * @migrate_to_ram: the CPU touched a PRIVATE page; move it back to system
 *	memory.  Required for PRIVATE.
 * @memory_failure: @nr_pages pages from @pfn are poisoned.  Optional.
 */
struct uhmm_dev_pagemap_ops {
	void (*page_free)(struct uhmm_page *page);
	uhmm_vm_fault_t (*migrate_to_ram)(struct uhmm_vm_fault *vmf);
	int (*memory_failure)(struct uhmm_dev_pagemap *pgmap, unsigned long pfn,
			      unsigned long nr_pages, int mf_flags);
};

/**
 * struct uhmm_dev_pagemap - a device's memory, as the driver describes it
 * @altmap: see struct uhmm_vmem_altmap; used if UHMM_PGMAP_ALTMAP_VALID
 * @ref: counts the live pages and lookups; uhmm initialises it
 * @type: one of &enum uhmm_memory_type
 * @flags: UHMM_PGMAP_* flags
 * @ops: the driver's callbacks
 * @owner: an opaque cookie naming the driver (required for PRIVATE and
 *	COHERENT); migration and hmm_range_fault match pages by it
 * @priv: uhmm's state while mapped; NULL otherwise
 * @nr_range: how many ranges
 * @range: the physical range, when there is one and @ranges is NULL
 * @ranges: an array of @nr_range ranges (required for more than one)
 *
 * Each range is 2 MiB aligned and sized.  The driver owns this structure
 * (and @ranges) and must keep it alive and unchanged until
 * uhmm_memunmap_pages() returns.  The kernel keeps several ranges in a
 * flexible array at the end of the structure; uhmm points to them instead,
 * so the structure can be embedded anywhere in C and C++.
 */
struct uhmm_dev_pagemap {
	struct uhmm_vmem_altmap altmap;
	struct uhmm_percpu_ref ref;
	enum uhmm_memory_type type;
	unsigned int flags;
	const struct uhmm_dev_pagemap_ops *ops;
	void *owner;
	void *priv;
	int nr_range;
	struct uhmm_range range;
	const struct uhmm_range *ranges;
};

/**
 * struct uhmm_pgmap_stats - what happened to one pgmap's pages
 * @size: the caller's sizeof(struct uhmm_pgmap_stats); fields past it are
 *	not written (the struct only grows at its end)
 * @faults: CPU faults on its pages (calls of its migrate_to_ram)
 * @fault_errors: of those, the ones migrate_to_ram failed
 * @pages_in: pages migrated into it
 * @pages_out: pages migrated out of it, to system memory or another device
 * @pages_evicted: pages uhmm_migrate_device_range() collected from it
 * @nr_pages: pages its ranges span
 * @pages_in_use: of those, pages someone holds now (allocated to the
 *	device, or mapped); the altmap's reserved pages are not counted
 */
struct uhmm_pgmap_stats {
	uint64_t size;
	uint64_t faults;
	uint64_t fault_errors;
	uint64_t pages_in;
	uint64_t pages_out;
	uint64_t pages_evicted;
	uint64_t nr_pages;
	uint64_t pages_in_use;
};

/**
 * uhmm_pgmap_get_stats() - fill @stats (up to @stats->size) for @pgmap
 *
 * @pgmap must stay mapped during the call: the caller maps it, holds a
 * page or a uhmm_get_dev_pagemap() reference of it, or is inside
 * uhmm_pgmap_for_each().  The counters are exact; pages_in_use is a
 * snapshot of pages that may change under it.
 * Return: 0; -EINVAL for a NULL or unmapped @pgmap, a NULL @stats or a
 * @stats->size too small for one field.
 */
int uhmm_pgmap_get_stats(const struct uhmm_dev_pagemap *pgmap, struct uhmm_pgmap_stats *stats);

/**
 * uhmm_pgmap_for_each() - call @fn for every mapped pgmap, oldest first
 *
 * Stops at the first non-zero return of @fn and returns it; 0 when @fn
 * returned 0 for all, -EINVAL for a NULL @fn.  @fn runs under the list's
 * lock: it may read @pgmap and call uhmm_pgmap_get_stats(), but must not
 * map or unmap a pgmap (memunmap_pages() takes the same lock first).
 */
int uhmm_pgmap_for_each(int (*fn)(struct uhmm_dev_pagemap *pgmap, void *data), void *data);

/**
 * uhmm_pgmap_type_name() - @pgmap's memory type for people: "device
 * private", "device coherent", "fs dax", "generic", "pci p2pdma", or
 * "unknown"
 *
 * Reads only @pgmap->type (mapped or not; not NULL).  The string is static.
 */
const char *uhmm_pgmap_type_name(const struct uhmm_dev_pagemap *pgmap);

/** uhmm_pgmap_range() - range @i of @pgmap, wherever the driver put it */
static inline const struct uhmm_range *uhmm_pgmap_range(const struct uhmm_dev_pagemap *pgmap,
							 int i)
{
	return pgmap->ranges ? &pgmap->ranges[i] : &pgmap->range;
}

/**
 * uhmm_memremap_pages() - give every page of @pgmap's ranges its metadata
 * @pgmap: filled in by the driver; @pgmap->ref is initialised here
 *
 * Validates as the kernel does, then maps each range.  Once this returns
 * 0, uhmm_get_dev_pagemap() and uhmm_pfn_to_page() find every pfn of the
 * ranges.  May sleep; must not race with another map or unmap of @pgmap.
 *
 * Return: 0, or
 * -EINVAL: NULL @pgmap, no ranges, several ranges without @ranges, an unknown type, a PRIVATE or COHERENT
 *	pgmap without owner or without the required ops, an altmap with more
 *	than one range or not describing it, a range that is empty, wraps, is
 *	not 2 MiB aligned and sized, or lies beyond the address space;
 * -EBUSY: @pgmap is already mapped;
 * -ENODEV: the module holding @pgmap->ops is being unloaded (while mapped,
 *	the pgmap pins that module);
 * -ENXIO: a range touches System RAM;
 * -ENOMEM: a range overlaps a live pgmap (the kernel's code for this), or no memory.
 * On error nothing stays mapped.
 */
int uhmm_memremap_pages(struct uhmm_dev_pagemap *pgmap);

/**
 * uhmm_memunmap_pages() - undo uhmm_memremap_pages()
 *
 * Kills @pgmap->ref so no new lookup or page allocation succeeds, waits
 * until every page has been freed and every lookup reference put, makes the
 * ranges invisible to lookups, waits an RCU grace period, then frees the
 * metadata (returning altmap pages).  Sleeps as long as pages are in use:
 * a driver frees (evicts) its pages before it unmaps.  A wait that lasts is
 * logged as a warning, naming the pgmap and how many of its pages are still
 * referenced, after 5 s and then every 20 s; UHMM_MEMUNMAP_WARN_MS in the
 * environment sets the first delay in milliseconds (the period is four
 * times it; 0 never logs).
 * Must not be called from an RCU read-side critical section or with a page
 * or pgmap reference held by the caller.
 */
void uhmm_memunmap_pages(struct uhmm_dev_pagemap *pgmap);

/**
 * uhmm_devm_memremap_pages() - uhmm_memremap_pages(), unmapped when @dev is unbound
 * Return: as uhmm_memremap_pages(), or -EINVAL for a NULL @dev.
 */
int uhmm_devm_memremap_pages(struct uhmm_device *dev, struct uhmm_dev_pagemap *pgmap);

/**
 * uhmm_devm_memunmap_pages() - unmap a devm-mapped @pgmap now
 * Return: 0, or -ENOENT if @dev holds no such mapping.
 */
int uhmm_devm_memunmap_pages(struct uhmm_device *dev, struct uhmm_dev_pagemap *pgmap);

/**
 * uhmm_get_dev_pagemap() - the live pgmap that covers @pfn, with a reference
 *
 * Lock-free (RCU).  Return: the pgmap, to be released with
 * uhmm_put_dev_pagemap(); NULL if no pgmap covers @pfn or it is being unmapped.
 */
struct uhmm_dev_pagemap *uhmm_get_dev_pagemap(unsigned long pfn);

/** uhmm_put_dev_pagemap() - drop a reference from uhmm_get_dev_pagemap(); NULL is a no-op */
void uhmm_put_dev_pagemap(struct uhmm_dev_pagemap *pgmap);

/**
 * uhmm_pfn_to_page() - the metadata of @pfn
 *
 * The caller must keep the pgmap mapped (a pgmap or page reference) for as
 * long as it uses the result.  Return: the page, or NULL if no pgmap maps @pfn.
 */
struct uhmm_page *uhmm_pfn_to_page(unsigned long pfn);

/** uhmm_page_to_pfn() - the pfn of @page */
static inline unsigned long uhmm_page_to_pfn(const struct uhmm_page *page)
{
	return page->pfn;
}

/** uhmm_page_pgmap() - the pgmap @page belongs to */
static inline struct uhmm_dev_pagemap *uhmm_page_pgmap(const struct uhmm_page *page)
{
	return page->pgmap;
}

/** uhmm_is_device_private_page() - true for a page of a PRIVATE pgmap */
static inline bool uhmm_is_device_private_page(const struct uhmm_page *page)
{
	return page->pgmap && page->pgmap->type == UHMM_MEMORY_DEVICE_PRIVATE;
}

/**
 * uhmm_pgmap_pfn_first() - first pfn of range @range_id that is a device page
 * (after the altmap's pages, for range 0)
 */
unsigned long uhmm_pgmap_pfn_first(const struct uhmm_dev_pagemap *pgmap, int range_id);

/** uhmm_pgmap_pfn_end() - one past the last pfn of range @range_id */
unsigned long uhmm_pgmap_pfn_end(const struct uhmm_dev_pagemap *pgmap, int range_id);

/* --- page lifecycle (page.c) --------------------------------------------- */

/**
 * uhmm_zone_device_page_init() - hand an idle device page to its user
 *
 * For PRIVATE, COHERENT and PCI_P2PDMA pages at refcount 0: sets the count to
 * 1, locks the page and, for PRIVATE and COHERENT, pins the pgmap until the
 * page is freed.  The caller unlocks it when it has set it up.
 * Return: 0; -EINVAL for another type; -EBUSY if the page is not idle;
 * -ENXIO if the pgmap is being unmapped.
 */
int uhmm_zone_device_page_init(struct uhmm_page *page);

/** uhmm_page_ref_count() - the page's reference count */
static inline int uhmm_page_ref_count(const struct uhmm_page *page)
{
	return __atomic_load_n(&page->_refcount, __ATOMIC_RELAXED);
}

/** uhmm_get_page() - take a reference on a page the caller already holds one on */
void uhmm_get_page(struct uhmm_page *page);

/**
 * uhmm_put_page() - drop a reference; the last one frees the page
 *
 * Freeing runs the pgmap's page_free() (PRIVATE, COHERENT, PCI_P2PDMA) and
 * drops the page's pgmap pin (PRIVATE, COHERENT); a GENERIC page goes back
 * to refcount 1.  A put on a page at zero is WARNed about and ignored.
 */
void uhmm_put_page(struct uhmm_page *page);

/** uhmm_lock_page() - lock @page, sleeping while another thread holds it */
void uhmm_lock_page(struct uhmm_page *page);
/** uhmm_trylock_page() - lock @page if it is unlocked; true on success */
bool uhmm_trylock_page(struct uhmm_page *page);
/** uhmm_unlock_page() - unlock @page and wake its waiters */
void uhmm_unlock_page(struct uhmm_page *page);
/** uhmm_page_locked() - true if @page is locked */
bool uhmm_page_locked(const struct uhmm_page *page);

#ifdef __cplusplus
}
#endif
#endif /* UHMM_MEMREMAP_H */
