/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by lib/mm's files; never installed.
 *
 * The files in layers, top first.  A file calls only files on lower lines
 * (scripts/check-layers proves it from the objects, in the suite):
 *
 * layer: hmm migrate_device device_exclusive
 * layer: mmu_notifier
 * layer: fork
 * layer: engine
 * layer: memory
 * layer: invalidate
 * layer: page
 * layer: memremap
 * layer: sysmem
 * layer: userfaultfd
 * layer: migrate_policy
 * layer: fault_inject fork_gate pgtable vma pagemap sparse memmap stats
 * layer: init_mm
 *
 * The API files start lib/mm through fork.c, which also holds fork()'s
 * hooks for every layer below it; the engine (the handler thread)
 * resolves faults (memory), applies events, and hands invalidations to the
 * invalidation thread; pages and pgmaps sit on the system-memory staging
 * area, which sits on the userfaultfd transport; the leaves hold tables and
 * state, and init_mm the data every layer reads.  Upward needs go through a
 * callback set from above: the transport has an unread event read with
 * mm_set_event_reader()'s function.
 *
 * The process's state is one structure, struct mm_struct, at the end of
 * this file, with the lock ordering at its head.
 */
#ifndef UHMM_LIB_MM_INTERNAL_H
#define UHMM_LIB_MM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include <uhmm/memremap.h>

/*
 * One mapped range of a pgmap: its pages' metadata and where it came from.
 * Published in the subsection table; the memmap is freed after a grace period.
 */
struct pgmap_span {
	struct uhmm_dev_pagemap *pgmap;
	struct uhmm_page *memmap;	/* memmap[i] describes start_pfn + i */
	unsigned long start_pfn;
	unsigned long nr_pages;
	size_t memmap_bytes;
	unsigned long altmap_pfns;	/* memmap pages taken from the altmap; 0 = heap */
};

/* sparse.c: the pfn -> span table */
int sparse_check_free(unsigned long start_pfn, unsigned long nr_pages);
int sparse_insert(struct pgmap_span *span);
void sparse_remove(struct pgmap_span *span);
/* The caller is in an RCU read-side critical section; NULL if @pfn is not mapped. */
struct uhmm_dev_pagemap *sparse_pgmap_rcu(unsigned long pfn);
struct uhmm_page *sparse_pfn_to_page_rcu(unsigned long pfn);

/* memmap.c: the metadata arrays */
int memmap_alloc(struct pgmap_span *span, struct uhmm_vmem_altmap *altmap);
void memmap_free(struct pgmap_span *span, struct uhmm_vmem_altmap *altmap);

/* memremap.c */
void free_zone_device_page(struct uhmm_page *page);

/*
 * What happened to one pgmap's pages (uhmm_pgmap_get_stats()); relaxed
 * atomics, counted where the process's counters are.  A page of a pgmap
 * pins it, so a caller holding one may count on its pgmap.
 */
/* A counter field of an X-macro list (PGMAP_COUNTERS, MM_COUNTERS). */
#define MM_FIELD(name)	uint64_t name;
#define PGMAP_COUNTERS(X) X(faults) X(fault_errors) X(pages_in) X(pages_out) X(pages_evicted)
struct pgmap_counters {
	PGMAP_COUNTERS(MM_FIELD)
};
struct pgmap_counters *pgmap_counters(const struct uhmm_dev_pagemap *pgmap);
#define pgmap_count(pgmap, field, n) \
	__atomic_add_fetch(&pgmap_counters(pgmap)->field, (n), __ATOMIC_RELAXED)

/*
 * pgtable.c: uhmm's part of the process's page table.  An entry says what
 * holds a page-aligned address that is not mapped by the CPU:
 *	0				nothing (the CPU's own page table rules)
 *	page | PTE_DEVICE [| PTE_WRITE]	a device page (the kernel's
 *					device-private swap entry)
 *	slot | PTE_MIGRATION		a migration in flight; slot is the
 *					address of its src entry, which names it
 *					(wherever mremap() moves the entry:
 *					pt_find_migration())
 *	page | PTE_EXCLUSIVE		a system page a device holds for
 *					exclusive access (make_device_exclusive)
 * Every entry is read and written under pt_lock.  A CPU fault that finds a
 * migration entry waits in the engine's queue until the migration ends
 * (handle_mm_fault()); one that finds an exclusive entry revokes it.
 */
#include <pthread.h>
#include <stdint.h>

#define PTE_DEVICE	0x1UL
#define PTE_WRITE	0x2UL
#define PTE_MIGRATION	0x4UL
#define PTE_FLAGS	0x7UL
#define PTE_EXCLUSIVE	(PTE_MIGRATION | PTE_WRITE)	/* no PTE_DEVICE: its own type */

static inline uintptr_t pte_mk_device(struct uhmm_page *page, bool write)
{
	return (uintptr_t)page | PTE_DEVICE | (write ? PTE_WRITE : 0);
}
static inline uintptr_t pte_mk_migration(const unsigned long *src_slot)
{
	return (uintptr_t)src_slot | PTE_MIGRATION;
}
static inline const unsigned long *pte_migration_slot(uintptr_t pte)
{
	return (const unsigned long *)(pte & ~PTE_FLAGS);
}
static inline bool pte_is_device(uintptr_t pte) { return pte & PTE_DEVICE; }
static inline bool pte_is_migration(uintptr_t pte)
{
	return (pte & PTE_FLAGS) == PTE_MIGRATION;
}
static inline bool pte_is_exclusive(uintptr_t pte)
{
	return (pte & PTE_FLAGS) == PTE_EXCLUSIVE;
}
static inline struct uhmm_page *pte_exclusive_page(uintptr_t pte)
{
	return pte_is_exclusive(pte) ? (struct uhmm_page *)(pte & ~PTE_FLAGS) : NULL;
}
static inline struct uhmm_page *pte_page(uintptr_t pte)
{
	return pte_is_device(pte) ? (struct uhmm_page *)(pte & ~PTE_FLAGS) : NULL;
}

uintptr_t pt_get(unsigned long addr);
int pt_set(unsigned long addr, uintptr_t pte);		/* 0 or -ENOMEM */
/* Calls fn for each non-empty entry in [start, end), in address order. */
void pt_for_each(unsigned long start, unsigned long end,
		 void (*fn)(unsigned long addr, uintptr_t pte, void *arg), void *arg);
/* How many entries in [start, end) are not empty (a whole 2 MiB block: one read). */
unsigned long pt_count(unsigned long start, unsigned long end);
/* Calls fn for every non-empty entry, in no order; fn must not change entries. */
void pt_walk(void (*fn)(unsigned long addr, uintptr_t pte, void *arg), void *arg);
void pt_fork_child(void);
/*
 * mremap() moves a migration entry with its mapping; the migration finds
 * it by its slot.  pt_find_migration() returns where the entry that @slot
 * names is now: @home (where it was made; 0 for none), or where mremap()
 * took it; 0 if it is gone (unmapped).  pt_move_migration() moves the entry
 * at @from to @to (-ENOMEM: nothing moved).
 */
unsigned long pt_find_migration(unsigned long home, const unsigned long *slot);
int pt_move_migration(unsigned long from, unsigned long to);

/*
 * page->flags: bits 0-2 are the public UHMM_PG_* (uhmm/memremap.h: the page
 * lock, its waiters, reserved), these are lib/mm's.  Every change is atomic,
 * through these helpers or page.c's lock.
 */
#define PG_SYS_POPULATED	8	/* a system page's slot holds, or may hold, a frame */
#define PG_EXCL_REVOKING	9	/* an exclusive page: a CPU access is taking it back */

static inline bool page_flag_test(struct uhmm_page *page, int bit)
{
	return __atomic_load_n(&page->flags, __ATOMIC_ACQUIRE) & (1UL << bit);
}
static inline bool page_flag_test_and_set(struct uhmm_page *page, int bit)
{
	return __atomic_fetch_or(&page->flags, 1UL << bit, __ATOMIC_ACQ_REL) & (1UL << bit);
}
static inline void page_flag_set(struct uhmm_page *page, int bit)
{
	__atomic_fetch_or(&page->flags, 1UL << bit, __ATOMIC_RELEASE);
}
static inline void page_flag_clear(struct uhmm_page *page, int bit)
{
	__atomic_fetch_and(&page->flags, ~(1UL << bit), __ATOMIC_RELEASE);
}

/* sysmem.c: system memory pages (a staging area registered with the engine) */
int sysmem_init(int stage_uffd, int uffd);
void sysmem_fork_child(int stage_uffd, int uffd);
bool sysmem_pfn_valid(unsigned long pfn);
struct uhmm_page *sysmem_pfn_to_page(unsigned long pfn);
/* @n contiguous empty slots for moving pages in; NULL if none. */
struct uhmm_page *sysmem_alloc_run(unsigned long n);
void sysmem_free_page(struct uhmm_page *page);
/* Moves a run of frames out of the mapping into slots; pt_lock held. */
long sysmem_move_in(struct uhmm_page *first, unsigned long src, unsigned long len);
/* An unmap or remap is unread: an -ENOENT from an ioctl may mean "moved"; pt_lock held. */
bool sysmem_event_pending(void);
/* Marks which pages of a run received a frame. */
void sysmem_scan_populated(struct uhmm_page *first, unsigned long n);
/*
 * Puts the frame of staging page @page at @addr: UHMM_PAGE_SIZE if moved,
 * 0 if copied (into a mapping mprotect() made unlike staging; the slot keeps
 * its frame), -EEXIST if @addr already holds a page (nothing was put there),
 * -EAGAIN if an event must be read first, -ENOENT if the mapping is gone.
 */
long mm_install_frame(unsigned long addr, struct uhmm_page *page);

/*
 * pagemap.c: /proc/self/pagemap, the kernel's page tables as it sees them.
 * An entry has bit 63 set for a present page, 62 for a swapped one.
 */
#define PAGEMAP_THERE		(3ULL << 62)	/* present or swapped */
int pagemap_open(void);
void pagemap_close(void);
/* The entries of the @n pages from @addr into @ents: 0, or -errno if unreadable. */
int pagemap_read(unsigned long addr, unsigned long n, uint64_t *ents);
/* The entry of @addr; 0 (nothing there) if unreadable. */
uint64_t pagemap_entry(unsigned long addr);
/* From Linux 6.7's <linux/fs.h>; Debian 12's headers predate it. */
struct pagemap_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};
struct pagemap_scan_arg {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};
#define PAGE_IS_FILE		(1 << 2)
#define PAGE_IS_PRESENT		(1 << 3)
#define PAGE_IS_SWAPPED		(1 << 4)
#define PAGE_IS_PFNZERO		(1 << 5)
#define PAGE_IS_HUGE		(1 << 6)
/* PAGEMAP_SCAN: the number of regions filled in, or -errno. */
long pagemap_scan(struct pagemap_scan_arg *arg);

/* init_mm.c: which thread is the engine's; struct mm_struct init_mm is below */
extern __thread bool mm_engine_thread;	/* set in the engine's thread */
bool mm_in_engine_thread(void);
/* A wait that lasts this long is logged, and again each time as long (tests shorten it). */
extern unsigned int mm_wait_log_s;

/*
 * fork_gate.c: a reference held by each migration (setup to finalize, from
 * any thread), fault and deferred put; fork() waits for none in flight.
 */
void mm_fork_enter(void);
void mm_fork_exit(void);
void mm_fork_close(void);
void mm_fork_open(void);
void mm_fork_gate_child(void);

/* fork.c: starts the fault engine, and the fork hooks with it; 0 or -errno */
int mm_start(void);

/* engine.c: the handler thread */
int mm_engine_start(void);
bool mm_engine_running(void);
/* In a forked child, after the transport (@ret: 0 or how it failed). */
int mm_engine_fork_child(int ret);

/* userfaultfd.c: the transport */
int mm_uffd_open(void);
void mm_uffd_close(void);
int mm_uffd_fork_child(void);
/* How the engine's own thread gets an unread event read (the engine's reader). */
void mm_set_event_reader(void (*fn)(void));
/* The engine read messages; pt_lock held.  Wakes mm_uffd_wait_event(). */
void mm_uffd_events_read(void);
/* One caller's retries of an ioctl that said -EAGAIN; zero it before the first. */
struct mm_event_wait {
	unsigned int waits;
	unsigned int logged;
	struct timespec since;
};
/*
 * An ioctl under pt_lock said -EAGAIN: let the engine read the event first.
 * pt_lock held; dropped while it waits and taken again, so the caller looks
 * at what it holds afresh.  Sleeps, and logs a wait that lasts.
 */
void mm_uffd_wait_event(struct mm_event_wait *w, unsigned long addr);
/* For a caller that can give up safely (the page stays where it is): about 1 s. */
#define MM_EVENT_WAITS_MAX	200
#define MM_REG_MISSING	0x1	/* faults on absent pages: device pages live here */
#define MM_REG_WP	0x2	/* write-protect faults; and events, for mirrors */
struct mm_reg_range {
	unsigned long start, end;
	unsigned int modes;
};
int mm_register_range(unsigned long start, unsigned long end, unsigned int modes);
bool mm_range_watched(unsigned long start, unsigned long end);
void mm_forget_range(unsigned long start, unsigned long end);
/* pt_lock held */
bool mm_registered_range(unsigned long addr, unsigned long *start, unsigned long *end);
void mm_regs_unmapped(unsigned long start, unsigned long end);
void mm_regs_remapped(unsigned long from, unsigned long to, unsigned long len);
uint64_t mm_registered_bytes(void);
/* not pt_lock */
struct mm_reg_range *mm_regs_copy(size_t *n);
void mm_regs_lock(void);
void mm_regs_unlock(void);
int mm_regs_register_again(void);
int mm_probe_watched(unsigned long addr);
int mm_writeprotect(unsigned long start, unsigned long len, bool wp);
/*
 * Move @len bytes of frames from @src to @dst (one ioctl on @uffd); bytes
 * moved, counted from the page tables where the kernel reports less, or
 * -errno.  The caller owns both ranges (pt_lock held).
 */
long mm_move(int uffd, unsigned long dst, unsigned long src, unsigned long len, bool src_holes);
void mm_wake(unsigned long addr, unsigned long len);
int mm_copy(unsigned long dst, unsigned long src);	/* one page, UFFDIO_COPY */

/* vma.c: the kernel's vma holding @addr; -ENOENT if none does. */
int vma_lookup_flags(unsigned long addr, unsigned long *start, unsigned long *end,
		     unsigned long *flags);
/* The mapping holding @addr or, if none does, the next one above it; -ENOENT if none. */
struct vma_info {
	unsigned long start, end, flags;
	unsigned long page_size;	/* hugetlbfs: its page size; else UHMM_PAGE_SIZE */
};
int vma_find(unsigned long addr, struct vma_info *vma);
/*
 * The mapping holding @addr as the program made it: the vma there joined
 * with neighbours that differ from it only in ways not seen here (userfaultfd
 * registration, madvise state).  -ENOENT if none.
 */
int vma_mapping(unsigned long addr, struct vma_info *vma);
/* The same, joined only forward and only until it reaches @end (fewer queries). */
int vma_mapping_to(unsigned long addr, unsigned long end, struct vma_info *vma);
void vma_fork_child(void);
void vma_use_procmap_query(bool use);

/* memory.c: whether thread @tid sleeps in a userfaultfd fault (not if it runs) */
bool mm_thread_waits_for_fault(pid_t tid);

/* memory.c: the CPU side of exclusive access (device_exclusive.c: the device's) */
/* page->mapping of a page mapped in the process (the kernel's anon_vma) */
#define MM_MAPPING	((void *)&init_mm)
/* A CPU access found an exclusive entry at @addr; pt_lock held. */
void exclusive_fault(unsigned long addr, struct uhmm_page *page);
/* The address of an exclusive entry is gone; pt_lock held. */
void exclusive_unmapped(unsigned long addr, struct uhmm_page *page);
/* Before fork(): every exclusive page goes back, as the kernel's fork does. */
void exclusive_revoke_all(void);

/*
 * memory.c: puts staging page @page's frame where @find(@arg) says its
 * entry is now, waiting out unread events; pt_lock held (dropped while it
 * waits).  Returns the entry's address, cleared, or 0 if there was none.
 */
unsigned long mm_install_staged(struct uhmm_page *page, unsigned long (*find)(void *arg),
				void *arg);

/* memory.c: resolving a fault */
/* false: the page is migrating, hand the fault in again later */
bool handle_mm_fault(unsigned long addr, unsigned int flags, pid_t tid);
void mm_unmap_range(unsigned long start, unsigned long end);
void mm_remap_range(unsigned long from, unsigned long to, unsigned long len);
/* Drops the page references unmapping queued while pt_lock was held. */
void mm_put_deferred(void);

/*
 * migrate_policy.c: the fault-around window and thrashing (pt_lock held,
 * but policy_init()).  policy_fault_window() puts in [*start, *end) the
 * block to migrate for a fault at @addr, inside [@lo, @hi); true if the
 * policy grew it past its smallest.  policy_fault_back() notes that a
 * fault brought the page at @addr back; policy_keep_in_ram() says whether
 * the system page at @addr, about to be selected for a device, must stay
 * (thrashing); both read the clock once into *@now when it is 0.
 */
void policy_init(void);
bool policy_fault_window(unsigned long addr, unsigned long lo, unsigned long hi,
			 unsigned long *start, unsigned long *end);
void policy_fault_back(unsigned long addr, uint64_t *now);
bool policy_keep_in_ram(unsigned long addr, uint64_t *now);

/* invalidate.c: subscriptions and invalidations (mmu_notifier.c: their API) */
#include <uhmm/mmu_notifier.h>
struct mn_subs {			/* lock protects all but nr and events_seq (atomics) */
	pthread_mutex_t lock;
	pthread_cond_t wq;
	unsigned long invalidate_seq;		/* odd while invalidations run */
	unsigned long active;			/* how many run */
	struct uhmm_mmu_interval_notifier *list;	/* changed only when !active */
	struct uhmm_mmu_interval_notifier *deferred;	/* inserted while active */
	unsigned long nr;			/* subscriptions, for the fast path */
	unsigned long events_seq;		/* odd while the engine reads events */
};
bool mn_has_subscriptions(void);
/* Invalidates [start, end) now, in the calling thread. */
void mn_invalidate(unsigned long start, unsigned long end, enum uhmm_mmu_notifier_event event,
		   void *owner);
/* Marks now; the ops, then @done(start, @data), run on the invalidation thread. */
void mn_invalidate_async(unsigned long start, unsigned long end,
			 enum uhmm_mmu_notifier_event event,
			 void (*done)(unsigned long addr, void *data), void *data);
/* Waits for the queued invalidations of [start, end) (not in the engine's threads). */
void mn_sync_range(unsigned long start, unsigned long end);
void mn_events_begin(void);
void mn_events_end(void);
/* Waits for a read of events that may have started before the caller's. */
void mn_events_sync(void);
void mn_register_release(void);
void mn_fork_quiesce(void);
void mn_fork_prepare(void);
void mn_fork_parent(void);
void mn_fork_child(void);

/* fault_inject.c: uhmm_fail_nth() and uhmm_inject_delay() */
bool mm_should_fail(int site);
void mm_inject_delay(int site);
unsigned long sysmem_in_use(void);

/* stats.c: the counters, updated with relaxed atomics, and their publication */
/*
 * The counting fields, each a field of struct uhmm_mm_stats of the same name
 * (stats.c fills, resets and publishes them from this list), and the
 * gauges, which say what is held now and are set, not counted.
 */
#define MM_COUNTERS(X) \
	X(faults) X(zero_faults) X(pages_to_device) X(pages_to_ram) X(moves_undercounted) \
	X(pages_evicted) X(fault_errors) X(fault_sigbus) X(fault_stalls) X(fault_retries) \
	X(fault_window_pages) X(fault_windows_grown) X(pages_prefetched) X(thrash_events) \
	X(thrash_pinned)
#define MM_GAUGES(X)	X(registered_bytes) X(system_pages)
struct mm_counters {
	MM_COUNTERS(MM_FIELD)
	MM_GAUGES(MM_FIELD)
};
#define mm_count(field, n) \
	__atomic_fetch_add(&__atomic_load_n(&init_mm.counters, __ATOMIC_ACQUIRE)->field, (n), \
			   __ATOMIC_RELAXED)
/* A gauge's new value, for a reader in another process (uhmm_mm_read_stats()). */
#define mm_gauge_set(field, v) \
	__atomic_store_n(&__atomic_load_n(&init_mm.counters, __ATOMIC_ACQUIRE)->field, (v), \
			 __ATOMIC_RELAXED)
/* With UHMM_STATS=1, moves the counters into /dev/shm/uhmm.PID; once, at start. */
void mm_stats_start(void);
void mm_stats_fork_child(void);
struct uhmm_mm_stats;
void mm_stats_fill(const struct mm_counters *c, struct uhmm_mm_stats *s);
/* Copies @s into the caller's @stats, as far as the caller's @stats->size goes. */
void mm_stats_copy_out(struct uhmm_mm_stats *stats, const struct uhmm_mm_stats *s);
void mm_stats_reset(void);

/*
 * struct mm_struct - the process's memory as lib/mm keeps it: the kernel's
 * mm_struct, with one instance, init_mm (init_mm.c).  Each field says what
 * protects it: a lock; "atomic" (__atomic builtins); or "start", set before
 * the engine's thread starts (and again in a forked child, single-threaded
 * then) and only read after.  Process-wide tables that are not per-process
 * in the kernel either stay in their files: the pfn table (sparse.c), the
 * page wait queues (page.c), the staging area (sysmem.c, the system memory
 * pages come from), the work queues (invalidate.c) and the knobs
 * (the migration policy, under pt_lock; mm_wait_log_s, fault injection).
 *
 * Lock ordering (outer first; a thread holding one takes only those below):
 *
 *   reg_lock			userfaultfd.c: one registration at a time
 *     the fork gate		fork_gate.c: a reference, not a lock, held by
 *				faults, migrations (setup to finalize) and
 *				deferred puts; fork() closes it under reg_lock,
 *				so none wants reg_lock later (migrations
 *				register first)
 *       page lock		uhmm_lock_page(): a fault's page, a migration's pages
 *         pt_lock		pgtable.c: uhmm's entries, the registration table,
 *				the engine's reads and events
 *           subs.lock		invalidate.c: the subscriptions
 *             mn_wq.lock		invalidate.c: the invalidation thread's queue
 *               deferred_wq.lock	invalidate.c: the deferred-work thread's queue
 *				(both lib/core/workqueue.c; held together only
 *				at fork())
 *
 * and, taken with any of those held but holding nothing else: sysmem.lock,
 * sparse_lock, maps_lock (vma.c), the page wait queues, a pgmap's state
 * lock.  pgmaps_lock (memremap.c, the list of mapped pgmaps) is taken with
 * none of lib/mm's held; uhmm_pgmap_for_each() calls its function under it.  engine_lock is taken with none of them held.  Functions whose
 * callers must hold a lock say lockdep_assert_held() (checked in debug
 * builds).  No driver callback runs under pt_lock, subs.lock or a work
 * queue's lock: the ops run on the invalidation thread with no lock of
 * lib/mm held, page_free() from deferred puts.
 */
#define PT_HASH_BITS	10
struct pt_block;
struct moved_entry;
struct mm_struct {
	/* engine.c: starting the handler thread */
	pthread_mutex_t engine_lock;
	int engine_state;		/* engine_lock to change, atomic to read:
					   0 not started, 1 running, < 0 -errno */

	/* userfaultfd.c: the transport */
	int uffd;			/* start: the registered ranges' userfaultfd */
	int stage_uffd;			/* start: the staging area's, no events */
	uint64_t uffd_features;		/* start: what uffd was opened with */
	pthread_mutex_t reg_lock;	/* one registration at a time, so the
					   table always matches the kernel's */
	struct mm_reg_range *regs;	/* pt_lock: sorted, disjoint, MM_REG_* */
	size_t nr_regs, cap_regs;	/* pt_lock */
	uint64_t registered_bytes;	/* pt_lock */
	unsigned long events_read;	/* pt_lock: the engine's reads so far */
	pthread_cond_t events_cond;	/* waits on pt_lock for events_read */

	/* pgtable.c: uhmm's entries */
	pthread_mutex_t pt_lock;
	struct pt_block *pt_hash[1 << PT_HASH_BITS];	/* pt_lock */
	struct moved_entry *moved;	/* pt_lock: entries mremap() moved mid-migration */
	size_t nr_moved, cap_moved;	/* pt_lock */

	/* memory.c: references put once pt_lock is released */
	struct uhmm_page **deferred;	/* pt_lock */
	size_t nr_deferred, cap_deferred;	/* pt_lock */

	/* invalidate.c: the interval notifiers */
	struct mn_subs subs;		/* subs.lock, as struct mn_subs says */

	/* vma.c, pagemap.c: the process's files in /proc */
	pthread_mutex_t maps_lock;
	int maps_fd;			/* maps_lock to open, atomic to read */
	int pagemap_fd;			/* start */

	struct mm_counters *counters;	/* atomic: its fields; the pointer is set
					   before the engine starts (stats.c) */
};
extern struct mm_struct init_mm;

#endif
