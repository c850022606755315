// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The CPU side of a device page: what a fault on it does (the kernel's
 * do_swap_page() for a device-private entry), and what unmapping or
 * moving its address does.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include <uhmm/migrate.h>

#include "../core/internal.h"
#include "../core/trace.h"
#include "mm_internal.h"

#define FAULT_AROUND_PAGES_MAX	(UHMM_FAULT_AROUND_MAX >> UHMM_PAGE_SHIFT)

/* --- references dropped once pt_lock is released --------------------------- */


/* pt_lock held.  If the array cannot grow, the page is put later by nobody:
 * leak rather than call a driver under pt_lock. */
static void defer_put(struct uhmm_page *page)
{
	if (init_mm.nr_deferred == init_mm.cap_deferred) {
		size_t cap = init_mm.cap_deferred ? 2 * init_mm.cap_deferred : 64;
		struct uhmm_page **n = realloc(init_mm.deferred, cap * sizeof(*n));

		if (!n) {
			WARN(1, "out of memory: device page pfn %#lx leaked", page->pfn);
			return;
		}
		init_mm.deferred = n;
		init_mm.cap_deferred = cap;
	}
	init_mm.deferred[init_mm.nr_deferred++] = page;
}

/*
 * The puts call drivers' page_free(): holding a fork gate reference, so that fork()
 * never copies a driver lock this thread holds in the middle of one.
 */
void mm_put_deferred(void)
{
	struct uhmm_page **pages;
	size_t n, i;

	mm_fork_enter();
	pthread_mutex_lock(&init_mm.pt_lock);
	pages = init_mm.deferred;
	n = init_mm.nr_deferred;
	init_mm.deferred = NULL;
	init_mm.nr_deferred = init_mm.cap_deferred = 0;
	pthread_mutex_unlock(&init_mm.pt_lock);
	for (i = 0; i < n; i++)
		uhmm_put_page(pages[i]);
	mm_fork_exit();
	free(pages);
}

/* --- unmap and mremap ----------------------------------------------------- */

static void unmap_one(unsigned long addr, uintptr_t pte, void *arg)
{
	struct uhmm_page *page = pte_page(pte);

	(void)arg;
	if (pte_is_exclusive(pte)) {
		exclusive_unmapped(addr, pte_exclusive_page(pte));
		return;
	}
	pt_set(addr, 0);
	if (page) {
		page->mapping = NULL;
		defer_put(page);
	}
	/* A migration entry: its finalize finds the address gone and drops the page. */
}

/* The CPU side of [start, end) is gone (munmap, MADV_DONTNEED); pt_lock held. */
void mm_unmap_range(unsigned long start, unsigned long end)
{
	lockdep_assert_held(&init_mm.pt_lock);
	pt_for_each(start, end, unmap_one, NULL);
}

struct remap {
	unsigned long from, to;
};

/*
 * One entry follows its page to the new address: a device page, an
 * exclusive page, or a migration in flight (which then finds its entry
 * there: pt_find_migration()).  The old and new ranges of an mremap() never
 * overlap, so the walk never meets an entry it moved; an entry still at the
 * new address belongs to the mapping mremap() unmapped there, and goes.
 */
static void remap_one(unsigned long addr, uintptr_t pte, void *arg)
{
	const struct remap *r = arg;
	unsigned long to = r->to + (addr - r->from);
	struct uhmm_page *page = pte_page(pte) ?: pte_exclusive_page(pte);
	uintptr_t old = pt_get(to);

	if (old)
		unmap_one(to, old, NULL);
	if (pte_is_migration(pte) ? pt_move_migration(addr, to) : pt_set(to, pte)) {
		/* Left where its migration, eviction or RELEASE still finds it. */
		WARN(1, "out of memory: the entry for %#lx stays behind mremap() at %#lx",
		     to, addr);
		return;
	}
	if (!pte_is_migration(pte)) {
		pt_set(addr, 0);
		page->index = to;
	}
}

/* mremap() moved [from, from + len) to @to; pt_lock held. */
void mm_remap_range(unsigned long from, unsigned long to, unsigned long len)
{
	struct remap r = { .from = from, .to = to };

	lockdep_assert_held(&init_mm.pt_lock);
	pt_for_each(from, from + len, remap_one, &r);
}

/* --- a staged frame goes back into the mapping ------------------------------ */

/*
 * The address this thread last put a page at with mm_install_staged().  The
 * ioctl that did it (UFFDIO_MOVE or _COPY, without DONTWAKE) woke every
 * thread waiting there, so the fault that asked for it need not wake them.
 */
static __thread unsigned long installed_at;

/*
 * Puts the frame of staging page @page at the address @find(@arg) gives
 * for the entry that holds its place (a migration entry, an exclusive
 * entry), and clears the entry.  pt_lock held.  While the kernel has an
 * unmap or remap of the mapping unread, it moves nothing (-EAGAIN, or
 * -ENOENT at an address mremap() has just moved): then this sleeps until
 * the engine has read it, pt_lock dropped meanwhile, and asks @find again,
 * since the event may have moved or removed the entry.  It waits as long as
 * that takes, logging every mm_wait_log_s seconds: giving up would lose the
 * page.  The frame
 * stays in its slot if the mapping is gone for good (-ENOENT) or an
 * mprotect() made it unlike the staging area (it was copied).
 * Returns the entry's address, or 0 if @find found no entry.
 */
unsigned long mm_install_staged(struct uhmm_page *page, unsigned long (*find)(void *arg),
				void *arg)
{
	struct mm_event_wait wait = { 0 };
	unsigned long addr;
	long moved;

	lockdep_assert_held(&init_mm.pt_lock);
	for (;;) {
		addr = find(arg);
		if (!addr)
			return 0;
		moved = mm_install_frame(addr, page);
		if (moved == -ENOENT && sysmem_event_pending())
			moved = -EAGAIN;	/* moved by an mremap() not read yet */
		if (moved != -EAGAIN)
			break;
		mm_uffd_wait_event(&wait, addr);
	}
	/* -ENOENT: the mapping is gone, its event read or never to come. */
	WARN(moved != (long)UHMM_PAGE_SIZE && moved != -ENOENT && moved != 0,
	     "page at %#lx lost: UFFDIO_MOVE: %ld (pagemap %#llx)", addr, moved,
	     (unsigned long long)pagemap_entry(addr));
	if (moved == (long)UHMM_PAGE_SIZE)
		page_flag_clear(page, PG_SYS_POPULATED);
	if (moved == (long)UHMM_PAGE_SIZE || moved == 0)
		installed_at = addr;	/* moved, or copied (mm_install_frame()) */
	pt_set(addr, 0);
	return addr;
}

/* --- exclusive access: a CPU access takes the page back ---------------------- */

/*
 * A system page a device holds exclusively (device_exclusive.c) has its
 * frame in a staging slot and an exclusive entry at its address.  A CPU
 * access takes a missing fault: the engine marks the page as being revoked
 * and the invalidation thread sends EXCLUSIVE (owner NULL) to every mirror,
 * moves the frame back, with what the device wrote, and wakes every thread
 * waiting on the address.
 */

/* Where exclusive page @arg's entry is now (mremap() may have moved it); 0: gone. */
static unsigned long exclusive_entry_addr(void *arg)
{
	struct uhmm_page *page = arg;
	unsigned long addr = page->index;

	/* Unmapped meanwhile: exclusive_unmapped() cleared it, and left the put to us. */
	return pte_exclusive_page(pt_get(addr)) == page ? addr : 0;
}

/*
 * After the ops ran for a CPU access at @addr: the frame goes back to the
 * page's address (where mremap() moved it, if it did), and the exclusive
 * entry's reference goes.  If the address was unmapped meanwhile,
 * exclusive_unmapped() left that reference for this to put.
 */
static void exclusive_restore(unsigned long addr, void *data)
{
	struct uhmm_page *page = data;
	unsigned long now;

	pthread_mutex_lock(&init_mm.pt_lock);
	now = mm_install_staged(page, exclusive_entry_addr, page);
	page_flag_clear(page, PG_EXCL_REVOKING);
	page->mapping = NULL;
	pthread_mutex_unlock(&init_mm.pt_lock);
	uhmm_put_page(page);
	/* Gone: the thread that faulted at @addr still waits, to find it unmapped. */
	mm_wake(now ? now : addr, UHMM_PAGE_SIZE);
}

void exclusive_fault(unsigned long addr, struct uhmm_page *page)
{
	lockdep_assert_held(&init_mm.pt_lock);
	if (page_flag_test_and_set(page, PG_EXCL_REVOKING))
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
	lockdep_assert_held(&init_mm.pt_lock);
	pt_set(addr, 0);
	page->mapping = NULL;
	if (page_flag_test(page, PG_EXCL_REVOKING))
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

	if (page && b->n < ARRAY_SIZE(b->addr) && !page_flag_test_and_set(page, PG_EXCL_REVOKING))
		b->addr[b->n++] = addr;
}

void exclusive_revoke_all(void)
{
	struct exclusive_batch b;
	unsigned int i;

	do {
		b.n = 0;
		pthread_mutex_lock(&init_mm.pt_lock);
		pt_walk(collect_exclusive, &b);
		pthread_mutex_unlock(&init_mm.pt_lock);
		for (i = 0; i < b.n; i++) {
			struct uhmm_page *page;

			pthread_mutex_lock(&init_mm.pt_lock);
			page = pte_exclusive_page(pt_get(b.addr[i]));
			pthread_mutex_unlock(&init_mm.pt_lock);
			if (!page)
				continue;
			mn_invalidate(b.addr[i], b.addr[i] + UHMM_PAGE_SIZE,
				      UHMM_MMU_NOTIFY_EXCLUSIVE, NULL);
			exclusive_restore(b.addr[i], page);
		}
	} while (b.n);
}

/* --- the fault ------------------------------------------------------------ */

/*
 * A fault message can be stale: a signal, or a wake-up meant for another
 * fault on the page, lets the thread run on before the engine handles its
 * message (userfaultfd handlers must expect such duplicates).  Handled
 * late, the fault may fail for reasons that are not the thread's: its
 * mapping moved or unmapped, by the thread itself even, with the event
 * that says so not read yet.  So a failed fault only wakes its thread the
 * first time.  A thread really stuck there faults again at once, and a
 * second failure in a row, same thread, same address, sends it SIGBUS;
 * unless the thread is seen doing something else than waiting for a
 * fault: then both messages were stale (a signal handler it is in can
 * make two), and waking it is all the kernel would have done.  Engine
 * thread only.
 */
static struct {
	pid_t tid;
	unsigned long addr;
} last_failure;

/*
 * A fault whose migrate_to_ram() returned without moving the page: the
 * thread faults again at once, and again, for as long as the driver leaves
 * the page where it is.  A driver can do that for a while (its copy
 * failed), but one that never moves the page has a bug, most often a
 * pgmap_owner in its migrate_vma that is not the pgmap's owner, so setup
 * selected nothing.  Once one address has made no progress for a second
 * the log says so, and again every mm_wait_log_s seconds.  Engine thread
 * only.
 */
#define FAULT_STALL_WARN_MS	1000
static struct {
	unsigned long addr;
	uintptr_t pte;
	unsigned long tries;
	uint64_t since_ms, warned_ms;	/* warned_ms 0: not yet */
} stall;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * After migrate_to_ram() for the entry @pte at @addr, of a page of @pgmap
 * (owned by @owner, read before: the page's reference is put now).
 */
static void fault_check_progress(unsigned long addr, uintptr_t pte, const void *pgmap,
				 const void *owner)
{
	uint64_t now, period;
	bool stuck;

	pthread_mutex_lock(&init_mm.pt_lock);
	stuck = pt_get(addr) == pte;
	pthread_mutex_unlock(&init_mm.pt_lock);
	if (!stuck) {
		if (stall.addr == addr)
			stall.addr = 0;
		return;
	}
	now = now_ms();
	if (stall.addr != addr || stall.pte != pte) {
		stall.addr = addr;
		stall.pte = pte;
		stall.tries = 1;
		stall.since_ms = now;
		stall.warned_ms = 0;
		return;
	}
	stall.tries++;
	period = stall.warned_ms ? (uint64_t)mm_wait_log_s * 1000 : FAULT_STALL_WARN_MS;
	if (now - (stall.warned_ms ? stall.warned_ms : stall.since_ms) < period)
		return;
	stall.warned_ms = now;
	mm_count(fault_stalls, 1);
	pr_warn("CPU fault at %#lx makes no progress: migrate_to_ram() of pgmap %p left "
		"the page in device memory %lu times in %llu ms; does the driver's "
		"migrate_vma pass the pgmap's owner (%p) as pgmap_owner?",
		addr, pgmap, stall.tries, (unsigned long long)(now - stall.since_ms), owner);
}

/* The first line of /proc/self/task/@tid/@file, without its newline; false if none. */
static bool read_task_file(pid_t tid, const char *file, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/%s", (int)tid, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return true;
}

/* Whether thread @tid is running (or runnable) now; false if unknown. */
static bool task_running(pid_t tid)
{
	char stat[512];
	const char *paren;

	if (!read_task_file(tid, "stat", stat, sizeof(stat)))
		return false;
	/* "tid (comm) S ...": the comm may hold anything, even ") ". */
	paren = strrchr(stat, ')');
	return paren && paren[1] == ' ' && paren[2] == 'R';
}

/*
 * Whether thread @tid sleeps in a userfaultfd fault, from the kernel
 * function it sleeps in (wchan).  wchan reads "0" while a thread runs, and
 * also while it is between running and asleep (its state already says
 * sleeping), and for every thread on a kernel that hides symbols.  A
 * running thread does not wait: a faulting one is asleep, or on its way,
 * before its message can be read, and stays so until woken.  A thread on
 * its way to sleep shows its function a moment later, so "0" is asked
 * again for up to a millisecond; only a sleeper that never shows a name
 * (or no such files) is assumed to wait.  Wrongly saying yes sends SIGBUS
 * to a thread that went on (its message was stale); wrongly saying no
 * only wakes a stuck thread once more.
 */
#define WCHAN_TRIES	10
bool mm_thread_waits_for_fault(pid_t tid)
{
	char name[64];
	int i;

	for (i = 0; i < WCHAN_TRIES; i++) {
		if (!read_task_file(tid, "wchan", name, sizeof(name)))
			return true;
		if (strcmp(name, "0"))
			return !strcmp(name, "handle_userfault");
		if (task_running(tid))
			return false;
		usleep(100);
	}
	return true;
}

static void fault_failed(unsigned long addr, pid_t tid)
{
	if (last_failure.tid == tid && last_failure.addr == addr) {
		if (mm_thread_waits_for_fault(tid)) {
			last_failure.tid = 0;
			pr_err("CPU fault at %#lx could not be resolved: SIGBUS to thread %d",
			       addr, (int)tid);
			mm_count(fault_sigbus, 1);
			syscall(SYS_tgkill, getpid(), tid, SIGBUS);
		}
	} else {
		last_failure.tid = tid;
		last_failure.addr = addr;
	}
	mm_wake(addr, UHMM_PAGE_SIZE);
}

/*
 * A fault on a registered page that is neither in device memory nor moving;
 * pt_lock held, so no migration claims the address until the hole is filled.
 */
static void fault_zero(unsigned long addr)
{
	struct uffdio_zeropage zp = {
		.range = { .start = addr, .len = UHMM_PAGE_SIZE },
	};

	lockdep_assert_held(&init_mm.pt_lock);
	mm_count(zero_faults, 1);
	uhmm_trace(fault_zero, addr);
	/* -EEXIST: the page is back; -EAGAIN: an event first.  The thread retries. */
	if (ioctl(init_mm.uffd, UFFDIO_ZEROPAGE, &zp))
		mm_wake(addr, UHMM_PAGE_SIZE);
}

/*
 * The block to suggest migrating with @addr, inside its mapping and its
 * registered range: the migration policy's choice (migrate_policy.c).
 */
static void fault_window(unsigned long addr, unsigned long *start, unsigned long *end)
{
	unsigned long lo = 0, hi = ~0UL, rs, re, vflags;
	bool grown = false;

	if (vma_lookup_flags(addr, &lo, &hi, &vflags))
		lo = addr, hi = addr + UHMM_PAGE_SIZE;
	pthread_mutex_lock(&init_mm.pt_lock);
	if (mm_registered_range(addr, &rs, &re)) {
		if (lo < rs)
			lo = rs;
		if (hi > re)
			hi = re;
		grown = policy_fault_window(addr, lo, hi, start, end);
	} else {
		*start = addr;
		*end = addr + UHMM_PAGE_SIZE;
	}
	pthread_mutex_unlock(&init_mm.pt_lock);
	mm_count(fault_window_pages, (*end - *start) >> UHMM_PAGE_SHIFT);
	if (grown)
		mm_count(fault_windows_grown, 1);
}

/*
 * Resolves a CPU fault on @addr.  Returns false, without waiting, when the
 * page is being migrated: the engine thread must go on reading (the
 * migration may need an unmap or remap event read before its UFFDIO_MOVE
 * succeeds), and hands the fault in again later.
 */
bool handle_mm_fault(unsigned long addr, unsigned int uflags, pid_t tid)
{
	unsigned long src[FAULT_AROUND_PAGES_MAX], dst[FAULT_AROUND_PAGES_MAX];
	struct uhmm_vm_fault vmf;
	const struct uhmm_dev_pagemap *pgmap;
	const void *owner;
	struct uhmm_page *page;
	uhmm_vm_fault_t ret;
	bool failed;
	uintptr_t pte;

	addr = ALIGN_DOWN(addr, UHMM_PAGE_SIZE);
	mm_fork_enter();
again:
	pthread_mutex_lock(&init_mm.pt_lock);
	pte = pt_get(addr);
	if (pte_is_migration(pte)) {
		pthread_mutex_unlock(&init_mm.pt_lock);
		mm_fork_exit();
		return false;
	}
	if (!pte) {
		/*
		 * A hole, or a page that came back before this fault was read.
		 * Filled under pt_lock: a migration that claimed the address
		 * in between would have its page hidden by the zero page.
		 */
		mm_inject_delay(UHMM_DELAY_FAULT_HOLE);
		fault_zero(addr);
		pthread_mutex_unlock(&init_mm.pt_lock);
		goto out;
	}
	if (pte_is_exclusive(pte)) {
		/* The invalidation thread gives it back and wakes every waiter. */
		exclusive_fault(addr, pte_exclusive_page(pte));
		pthread_mutex_unlock(&init_mm.pt_lock);
		goto out;
	}
	page = pte_page(pte);
	uhmm_get_page(page);
	pthread_mutex_unlock(&init_mm.pt_lock);

	uhmm_lock_page(page);
	pthread_mutex_lock(&init_mm.pt_lock);
	if (pt_get(addr) != pte) {
		pthread_mutex_unlock(&init_mm.pt_lock);
		uhmm_unlock_page(page);
		uhmm_put_page(page);
		goto again;
	}
	pthread_mutex_unlock(&init_mm.pt_lock);

	memset(&vmf, 0, sizeof(vmf));
	vmf.address = addr;
	vmf.flags = uflags & UFFD_PAGEFAULT_FLAG_WRITE ? UHMM_FAULT_FLAG_WRITE : 0;
	vmf.page = page;
	fault_window(addr, &vmf.start, &vmf.end);
	vmf.src = src;
	vmf.dst = dst;
	mm_count(faults, 1);
	uhmm_trace(fault, addr, (int)tid, vmf.start, vmf.end);
	mm_inject_delay(UHMM_DELAY_FAULT_DEVICE);
	pgmap = page->pgmap;
	owner = pgmap->owner;
	pgmap_count(pgmap, faults, 1);
	installed_at = 0;
	ret = pgmap->ops->migrate_to_ram(&vmf);
	failed = ret & (UHMM_VM_FAULT_SIGBUS | UHMM_VM_FAULT_SIGSEGV | UHMM_VM_FAULT_HWPOISON);
	if (failed)
		pgmap_count(pgmap, fault_errors, 1);	/* while our page pins it */
	uhmm_unlock_page(page);
	uhmm_put_page(page);
	if (failed) {
		mm_count(fault_errors, 1);
		fault_failed(addr, tid);
		goto out;
	}
	if (last_failure.tid == tid)
		last_failure.tid = 0;
	fault_check_progress(addr, pte, pgmap, owner);
	/* VM_FAULT_OOM: as the kernel's page fault does, the access is retried. */
	/*
	 * Installing the page woke the thread.  Otherwise (the driver left the
	 * page in device memory, or mremap() took its entry elsewhere) wake it
	 * here: it faults again and the kernel sends a new message.  Looking
	 * at the entry now instead could find the page already migrated back
	 * to the device by the resumed thread.
	 */
	if (installed_at != addr)
		mm_wake(addr, UHMM_PAGE_SIZE);
out:
	mm_fork_exit();
	return true;
}
