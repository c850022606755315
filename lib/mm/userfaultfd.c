// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fault engine: one userfaultfd for the process's ranges that hold
 * device pages, read by one handler thread.
 *
 * Why a handler thread rather than UFFD_FEATURE_SIGBUS in the faulting
 * thread: SIGBUS mode resolves a fault about ten times faster on these
 * machines (see DESIGN.md), but a fault taken inside a system call then
 * fails the call with EFAULT instead of waiting, and driver callbacks would
 * run in a signal handler.  With a handler thread, read(2) into a buffer in
 * device memory works as it does on the kernel, and migrate_to_ram() runs in
 * an ordinary thread.  bench/ measures both costs.
 *
 * Events: the engine asks for UNMAP, REMOVE and REMAP, so device pages go
 * back to their driver when their range is unmapped or discarded, and move
 * with mremap().  Messages are read with pt_lock held and the events in a
 * batch applied before it is dropped: a munmap() returns only once its event
 * is read, so anything the caller does next sees the range gone.
 *
 * fork(): the child's mappings lose their registration (no EVENT_FORK).  The
 * child handler opens a new userfaultfd, registers the same ranges again and
 * starts its own thread; the child's copy of the driver's memory and of
 * uhmm's tables then serves its faults, so parent and child each see their
 * own private copy.  fork() waits for migrations in flight (mm_fork_lock).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include <uhmm/migrate.h>

#include "../core/internal.h"
#include "mm_internal.h"

/* Newer than Debian 12's 6.1 headers. */
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE		(1ULL << 16)
#endif
#ifndef UFFDIO_MOVE
#define _UFFDIO_MOVE			0x05
struct uffdio_move {
	__u64 dst;
	__u64 src;
	__u64 len;
#define UFFDIO_MOVE_MODE_DONTWAKE		((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES	((__u64)1 << 1)
	__u64 mode;
	__s64 move;
};
#define UFFDIO_MOVE			_IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif

#define ENGINE_FEATURES	(UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMOVE | \
			 UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_THREAD_ID | \
			 UFFD_FEATURE_MOVE)
#define STAGE_FEATURES	(UFFD_FEATURE_MOVE | UFFD_FEATURE_PAGEFAULT_FLAG_WP)
/* Write-protect mode on shmem and hugetlbfs mappings (Linux 5.19), if there. */
#define ENGINE_OPTIONAL	UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define MSG_BATCH	64

struct mm_engine mm_engine = { .uffd = -1, .stage_uffd = -1, .pagemap_fd = -1 };
pthread_rwlock_t mm_fork_lock = PTHREAD_RWLOCK_INITIALIZER;
struct mm_counters mm_counters;

static pthread_mutex_t engine_lock = PTHREAD_MUTEX_INITIALIZER;
static int engine_state;	/* 0: not started, 1: running, < 0: failed with this */

/* Registered ranges, sorted and disjoint, with their MM_REG_* modes; under pt_lock. */
struct reg_range {
	unsigned long start, end;
	unsigned int modes;
};
static struct reg_range *regs;
static size_t nr_regs, cap_regs;
static uint64_t registered_bytes;
static uint64_t engine_features;	/* what the engine's userfaultfd was opened with */
/* Serializes registrations, so the table always matches the kernel's. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

/* --- opening ------------------------------------------------------------- */

static int uffd_open(bool *user_mode_only)
{
	int fd, dev;

	fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0 || errno != EPERM)
		return fd >= 0 ? fd : -errno;
	/* Not privileged: /dev/userfaultfd's permissions may allow it ... */
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		close(dev);
		if (fd >= 0)
			return fd;
	}
	/* ... else faults from user mode only (vm.unprivileged_userfaultfd = 0). */
	fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		return -errno;
	*user_mode_only = true;
	return fd;
}

static int uffd_api(int fd, uint64_t features, uint64_t *available)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };

	if (ioctl(fd, UFFDIO_API, &api))
		return -errno;
	if (available)
		*available = api.features;
	return 0;
}

static int uffd_open_api(uint64_t features, bool *user_mode_only)
{
	int fd = uffd_open(user_mode_only), ret;

	if (fd < 0)
		return fd;
	ret = uffd_api(fd, features, NULL);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

static int engine_open(void)
{
	uint64_t available = 0, missing;
	bool user_only = false;
	int fd, ret;

	fd = uffd_open(&user_only);
	if (fd < 0) {
		pr_err("userfaultfd is not available (%s): the fault engine cannot start%s\n",
		       strerror(-fd), fd == -EPERM ?
		       "; allow it with sysctl vm.unprivileged_userfaultfd=1 or access to /dev/userfaultfd" :
		       fd == -ENOSYS ? "; the kernel was built without CONFIG_USERFAULTFD" : "");
		return fd;
	}
	ret = uffd_api(fd, 0, &available);
	close(fd);
	if (ret) {
		pr_err("UFFDIO_API failed: %s\n", strerror(-ret));
		return ret;
	}
	missing = (ENGINE_FEATURES | STAGE_FEATURES) & ~available;
	if (missing) {
		pr_err("this kernel's userfaultfd lacks features the fault engine needs "
		       "(mask %#llx%s); Linux 6.8 or later has them\n", (unsigned long long)missing,
		       missing & UFFD_FEATURE_MOVE ? ": UFFDIO_MOVE" : "");
		return -EOPNOTSUPP;
	}
	mm_engine.features = available;
	engine_features = ENGINE_FEATURES | (available & ENGINE_OPTIONAL);
	mm_engine.uffd = uffd_open_api(engine_features, &user_only);
	if (mm_engine.uffd < 0)
		return mm_engine.uffd;
	mm_engine.stage_uffd = uffd_open_api(STAGE_FEATURES, &user_only);
	if (mm_engine.stage_uffd < 0)
		return mm_engine.stage_uffd;
	if (user_only)
		pr_warn("userfaultfd is limited to user-mode faults here: a system call "
			"that touches a page in device memory fails with EFAULT\n");
	mm_engine.pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (mm_engine.pagemap_fd < 0)
		return -errno;
	return sysmem_init(mm_engine.stage_uffd, mm_engine.uffd);
}

static void engine_close(void)
{
	if (mm_engine.uffd >= 0)
		close(mm_engine.uffd);
	if (mm_engine.stage_uffd >= 0)
		close(mm_engine.stage_uffd);
	if (mm_engine.pagemap_fd >= 0)
		close(mm_engine.pagemap_fd);
	mm_engine.uffd = mm_engine.stage_uffd = mm_engine.pagemap_fd = -1;
}

/* --- the ioctls the rest of lib/mm uses ----------------------------------- */

/*
 * The bytes from @dst + @done on that UFFDIO_MOVE moved without counting
 * them: pages gone from @src and present at @dst, read from the page tables.
 * Linux 6.18's UFFDIO_MOVE can move a batch of pages after a retry inside
 * the ioctl (a page it could not lock at once) and then not count it: its
 * next step, at the same address, finds the batch already at the
 * destination and the ioctl ends with -EEXIST or a short count.  Taken at
 * its word, the count would have a page that moved put back from an empty
 * source, or probed and filled with zeros where it was.  Every caller owns
 * both ranges (pt_lock, and the migration entries or slots it holds) and
 * moves only into a destination it knows to be empty, so a page present at
 * @dst and gone from @src is one this move took.
 */
static unsigned long move_uncounted(unsigned long dst, unsigned long src, unsigned long done,
				    unsigned long len)
{
	const uint64_t there = 3ULL << 62;	/* present or swapped */
	uint64_t d[64], s[64];
	unsigned long off = done, n, k;

	while (off < len) {
		n = (len - off) >> UHMM_PAGE_SHIFT;
		if (n > 64)
			n = 64;
		if (pread(mm_engine.pagemap_fd, d, n * 8, (off_t)((dst + off) >> UHMM_PAGE_SHIFT) * 8) !=
			    (ssize_t)(n * 8) ||
		    pread(mm_engine.pagemap_fd, s, n * 8, (off_t)((src + off) >> UHMM_PAGE_SHIFT) * 8) !=
			    (ssize_t)(n * 8))
			break;
		for (k = 0; k < n; k++, off += UHMM_PAGE_SIZE)
			if (!(d[k] & there) || (s[k] & there))
				return off - done;
	}
	return off - done;
}

long mm_move(int uffd, unsigned long dst, unsigned long src, unsigned long len, bool src_holes)
{
	struct uffdio_move mv = {
		.dst = dst, .src = src, .len = len,
		.mode = src_holes ? UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES : 0,
	};
	static bool told;
	long moved, err = 0;

	if (ioctl(uffd, UFFDIO_MOVE, &mv))
		err = -errno;
	moved = mv.move > 0 ? (long)mv.move : 0;
	if (!err && moved == (long)len && mm_should_fail(UHMM_FAIL_MOVE_UNDERCOUNT)) {
		/* As the kernel above may: the second half moved, uncounted. */
		moved = (long)((len >> UHMM_PAGE_SHIFT) / 2) << UHMM_PAGE_SHIFT;
		err = -EEXIST;
	}
	if (moved < (long)len && mm_engine.pagemap_fd >= 0) {
		unsigned long extra = move_uncounted(dst, src, moved, len);

		if (extra)
			mm_count(moves_undercounted, 1);
		if (extra && !__atomic_exchange_n(&told, true, __ATOMIC_RELAXED))
			pr_info("UFFDIO_MOVE moved %lu bytes more than it reported; counting from the page tables\n",
				extra);
		moved += extra;
	}
	if (moved > 0)
		return moved;	/* partial: the caller looks at the rest */
	return err ? err : -EIO;
}

int mm_copy(unsigned long dst, unsigned long src)
{
	struct uffdio_copy copy = { .dst = dst, .src = src, .len = UHMM_PAGE_SIZE };

	return ioctl(mm_engine.uffd, UFFDIO_COPY, &copy) ? -errno : 0;
}

long mm_install_frame(unsigned long addr, struct uhmm_page *page)
{
	unsigned long src = (unsigned long)uhmm_page_address(page);
	long moved = mm_move(mm_engine.uffd, addr, src, UHMM_PAGE_SIZE, false);

	/* UFFDIO_MOVE wants both mappings alike: after mprotect(), copy. */
	if (moved == -EINVAL)
		moved = mm_copy(addr, src);
	return moved;
}

void mm_wake(unsigned long addr, unsigned long len)
{
	struct uffdio_range range = { .start = addr, .len = len };

	ioctl(mm_engine.uffd, UFFDIO_WAKE, &range);
}

/*
 * Asks the kernel whether the mapping holding @addr is registered with the
 * engine, with no event of it unread: UFFDIO_ZEROPAGE checks both before
 * anything else, then answers -EEXIST for a page that is there and fills a
 * hole with zeros, which is what the hole reads as anyway.  No one is woken.
 * Returns 0 (yes), -EAGAIN (an event is unread: ask again after it), or
 * -ENOENT (not mapped, or not registered; also for an address whose mapping
 * an mremap() not yet read has moved away: the kernel looks the mapping up
 * first).
 */
int mm_probe_watched(unsigned long addr)
{
	struct uffdio_zeropage zp = {
		.range = { .start = addr, .len = UHMM_PAGE_SIZE },
		.mode = UFFDIO_ZEROPAGE_MODE_DONTWAKE,
	};

	if (ioctl(mm_engine.uffd, UFFDIO_ZEROPAGE, &zp) == 0 || errno == EEXIST)
		return 0;
	return errno == EAGAIN ? -EAGAIN : -ENOENT;
}

/* --- registered ranges ---------------------------------------------------- */

/* Adds [start, end), which overlaps no range, merging it with neighbours of its modes. */
static int reg_insert(unsigned long start, unsigned long end, unsigned int modes)
{
	size_t i, j;

	if (nr_regs == cap_regs) {
		size_t cap = cap_regs ? 2 * cap_regs : 16;
		struct reg_range *n = realloc(regs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		regs = n;
		cap_regs = cap;
	}
	for (i = 0; i < nr_regs && regs[i].end <= start; i++)
		;
	/* regs[i .. j - 1] are the neighbours merged into the new range. */
	j = i;
	if (i && regs[i - 1].end == start && regs[i - 1].modes == modes)
		start = regs[--i].start;
	if (j < nr_regs && regs[j].start == end && regs[j].modes == modes)
		end = regs[j++].end;
	for (size_t k = i; k < j; k++)
		registered_bytes -= regs[k].end - regs[k].start;
	memmove(&regs[i + 1], &regs[j], (nr_regs - j) * sizeof(*regs));
	nr_regs -= j - i;
	regs[i].start = start;
	regs[i].end = end;
	regs[i].modes = modes;
	nr_regs++;
	registered_bytes += end - start;
	return 0;
}

static void reg_remove(unsigned long start, unsigned long end)
{
	size_t i = 0;

	while (i < nr_regs) {
		struct reg_range *r = &regs[i];

		if (r->end <= start || r->start >= end) {
			i++;
			continue;
		}
		if (r->start < start && r->end > end) {
			/* Split; a failed allocation only forgets the right part. */
			unsigned long tail = r->end;
			unsigned int modes = r->modes;

			registered_bytes -= tail - start;
			r->end = start;
			reg_insert(end, tail, modes);
			return;
		}
		if (r->start < start) {
			registered_bytes -= r->end - start;
			r->end = start;
			i++;
		} else if (r->end > end) {
			registered_bytes -= end - r->start;
			r->start = end;
			i++;
		} else {
			registered_bytes -= r->end - r->start;
			memmove(r, r + 1, (nr_regs - i - 1) * sizeof(*r));
			nr_regs--;
		}
	}
}

/*
 * mm_probe_watched() on the first page of [start, end) that uhmm's table
 * has no entry for: a page in device memory is a hole to the kernel, and
 * the probe would fill it.  With every page in uhmm's table, there is
 * nothing to ask: a page reaches the table only from a watched mapping, and
 * the unmap of the mapping clears it.  pt_lock held.
 */
static int probe_mapping(unsigned long start, unsigned long end)
{
	for (; start < end; start += UHMM_PAGE_SIZE)
		if (!pt_get(start))
			return mm_probe_watched(start);
	return 0;
}

/*
 * Records [start, end) as registered with @modes, as far as the kernel
 * registered it: UFFDIO_REGISTER skips holes without a word, and a mapping
 * made in a hole later is not registered.  So each mapping found in the
 * range is asked (probe_mapping()), and any unmap after the answer comes
 * as an event, applied after this.  A
 * mapping that answers no is left unrecorded; the next migration registers
 * it again.  Asked only for a migration's range (missing mode), never for a
 * mirror's whole mapping.
 *
 * Returns 0, -ENOMEM, or -EAGAIN: an event is unread, ask again after it.
 * pt_lock held.
 */
static int reg_record_mapped(unsigned long start, unsigned long end, unsigned int modes)
{
	struct vma_info vma;
	int ret = 0;

	reg_remove(start, end);
	while (start < end && vma_find(start, &vma) == 0 && vma.start < end) {
		unsigned long s = vma.start > start ? vma.start : start;
		unsigned long e = vma.end < end ? vma.end : end;

		if (modes & MM_REG_MISSING)
			ret = probe_mapping(s, e);
		if (ret == -EAGAIN)
			break;	/* the caller lets the engine read the event and asks again */
		ret = ret ? 0 : reg_insert(s, e, modes);
		if (ret)
			break;
		start = e;
	}
	return ret;
}

/*
 * The kernel said [start, end) is not registered after all (a mapping made
 * where a hole was registered): forget it, so the next migration registers
 * it.  pt_lock held.
 */
void mm_forget_range(unsigned long start, unsigned long end)
{
	reg_remove(start, end);
}

/* The registered range holding @addr, into *start and *end; pt_lock held. */
bool mm_registered_range(unsigned long addr, unsigned long *start, unsigned long *end)
{
	size_t i;

	for (i = 0; i < nr_regs; i++)
		if (addr >= regs[i].start && addr < regs[i].end &&
		    (regs[i].modes & MM_REG_MISSING)) {
			*start = regs[i].start;
			*end = regs[i].end;
			return true;
		}
	return false;
}

/* Whether every page of [start, end) is registered for missing faults; pt_lock held. */
bool mm_range_watched(unsigned long start, unsigned long end)
{
	size_t i;

	for (i = 0; i < nr_regs && start < end; i++) {
		if (regs[i].end <= start)
			continue;
		if (regs[i].start > start || !(regs[i].modes & MM_REG_MISSING))
			return false;
		start = regs[i].end;
	}
	return start >= end;
}

static int uffd_register(unsigned long start, unsigned long end, unsigned int modes)
{
	struct uffdio_register reg = {
		.range = { .start = start, .len = end - start },
		.mode = (modes & MM_REG_MISSING ? UFFDIO_REGISTER_MODE_MISSING : 0) |
			(modes & MM_REG_WP ? UFFDIO_REGISTER_MODE_WP : 0),
	};

	if (ioctl(mm_engine.uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	return 0;
}

/*
 * Registers [start, end) with @modes added to what each part already has
 * (registering again replaces a range's modes).  -EINVAL: userfaultfd cannot
 * watch this mapping (a file on a disk filesystem, a special mapping).
 *
 * The ioctl and the record of it happen under one hold of pt_lock, the lock
 * the engine reads and applies events under: an unmap of the range is then
 * applied before both or after both.  Applied in between, it would find
 * nothing to remove and leave the range recorded as watched while the kernel
 * no longer watches it, and a new mapping there would never be registered: a
 * page migrated out of it would read back as zeros.  Nothing that holds the
 * mmap lock waits for the engine, so the ioctl cannot wait on pt_lock's holder.
 */
int mm_register_range(unsigned long start, unsigned long end, unsigned int modes)
{
	unsigned long addr = start, next;
	unsigned int have;
	int ret = 0, tries = 0;
	size_t i;

	pthread_mutex_lock(&reg_lock);
	pthread_mutex_lock(&pt_lock);
	while (addr < end) {
		if (ret == -EAGAIN) {
			if (tries++ == 1000)
				break;
			pthread_mutex_unlock(&pt_lock);
			mm_engine_drain();
			pthread_mutex_lock(&pt_lock);
			ret = 0;
		}
		for (i = 0; i < nr_regs && regs[i].end <= addr; i++)
			;
		if (i < nr_regs && regs[i].start <= addr) {
			next = regs[i].end < end ? regs[i].end : end;
			have = regs[i].modes;
		} else {
			next = i < nr_regs && regs[i].start < end ? regs[i].start : end;
			have = 0;
		}
		if ((have & modes) != modes) {
			mm_inject_delay(UHMM_DELAY_REGISTER);
			ret = uffd_register(addr, next, have | modes);
			if (ret) {
				pr_debug("cannot register %#lx-%#lx with userfaultfd: %s\n",
					 addr, next, strerror(-ret));
				break;
			}
			ret = reg_record_mapped(addr, next, have | modes);
			if (ret == -EAGAIN)
				continue;
			if (ret)
				break;
		}
		addr = next;
	}
	pthread_mutex_unlock(&pt_lock);
	pthread_mutex_unlock(&reg_lock);
	return ret;
}

int mm_writeprotect(unsigned long start, unsigned long len, bool wp)
{
	struct uffdio_writeprotect w = {
		.range = { .start = start, .len = len },
		.mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(mm_engine.uffd, UFFDIO_WRITEPROTECT, &w) ? -errno : 0;
}

/* After the ops ran for a CPU write to a write-protected page: let it write. */
static void wp_fault_done(unsigned long addr, void *data)
{
	int ret = mm_writeprotect(addr, UHMM_PAGE_SIZE, false);

	if (ret && ret != -ENOENT)
		mm_wake(addr, UHMM_PAGE_SIZE);
}

/* The registered ranges that may hold private pages, for fork()'s invalidation. */
static void fork_invalidate(void)
{
	struct reg_range *copy;
	size_t n, i;

	if (!mn_has_subscriptions())
		return;
	pthread_mutex_lock(&pt_lock);
	n = nr_regs;
	copy = malloc(n * sizeof(*copy) + 1);
	if (copy && n)	/* regs is NULL until something is registered */
		memcpy(copy, regs, n * sizeof(*copy));
	pthread_mutex_unlock(&pt_lock);
	if (!copy) {
		mn_invalidate(0, ~0UL, UHMM_MMU_NOTIFY_PROTECTION_PAGE, NULL);
		return;
	}
	for (i = 0; i < n; i++) {
		unsigned long vs, ve, flags;

		if (vma_lookup_flags(copy[i].start, &vs, &ve, &flags) == 0 &&
		    (flags & UHMM_VM_SHARED))
			continue;
		mn_invalidate(copy[i].start, copy[i].end, UHMM_MMU_NOTIFY_PROTECTION_PAGE, NULL);
	}
	free(copy);
}

/* --- the handler thread --------------------------------------------------- */

/* The modes of the registered range holding @addr, 0 if none; pt_lock held. */
static unsigned int reg_modes(unsigned long addr)
{
	size_t i;

	for (i = 0; i < nr_regs; i++)
		if (addr >= regs[i].start && addr < regs[i].end)
			return regs[i].modes;
	return 0;
}

/* Applies one non-fault event; pt_lock held. */
static void engine_event(const struct uffd_msg *msg)
{

	unsigned long from, to, len;
	unsigned int modes;

	switch (msg->event) {
	case UFFD_EVENT_UNMAP:
		mn_invalidate_async(msg->arg.remove.start, msg->arg.remove.end,
				    UHMM_MMU_NOTIFY_UNMAP, NULL, NULL);
		reg_remove(msg->arg.remove.start, msg->arg.remove.end);
		mm_unmap_range(msg->arg.remove.start, msg->arg.remove.end);
		break;
	case UFFD_EVENT_REMOVE:
		mn_invalidate_async(msg->arg.remove.start, msg->arg.remove.end,
				    UHMM_MMU_NOTIFY_CLEAR, NULL, NULL);
		mm_unmap_range(msg->arg.remove.start, msg->arg.remove.end);
		break;
	case UFFD_EVENT_REMAP:
		from = msg->arg.remap.from;
		to = msg->arg.remap.to;
		len = msg->arg.remap.len;
		mn_invalidate_async(from, from + len, UHMM_MMU_NOTIFY_UNMAP, NULL, NULL);
		mm_remap_range(from, to, len);
		modes = reg_modes(from);
		reg_remove(from, from + len);
		reg_remove(to, to + len);
		reg_insert(to, to + len, modes ? modes : MM_REG_MISSING);
		break;
	default:
		break;
	}
}

/* Faults read but not yet handled, in arrival order; the engine thread's own. */
static struct {
	struct uffd_msg *msgs;
	size_t head, tail, cap;
} pending;
static __thread bool in_engine_thread;

static void pending_push(const struct uffd_msg *msg)
{
	if (pending.head && pending.tail == pending.cap) {
		memmove(pending.msgs, pending.msgs + pending.head,
			(pending.tail - pending.head) * sizeof(*msg));
		pending.tail -= pending.head;
		pending.head = 0;
	}
	if (pending.tail == pending.cap) {
		size_t cap = pending.cap ? 2 * pending.cap : MSG_BATCH;
		struct uffd_msg *n = realloc(pending.msgs, cap * sizeof(*n));

		if (!n) {
			/* The thread stays blocked until it faults again: wake it. */
			mm_wake(msg->arg.pagefault.address, UHMM_PAGE_SIZE);
			return;
		}
		pending.msgs = n;
		pending.cap = cap;
	}
	pending.msgs[pending.tail++] = *msg;
}

/*
 * Reads what the kernel has queued: events are applied at once, under the
 * same hold of pt_lock as the read; faults wait in the pending queue.
 * Returns the messages read, 0 if none, or -errno.
 */
static ssize_t engine_read(int fd)
{
	struct uffd_msg msgs[MSG_BATCH];
	ssize_t n, i;

	pthread_mutex_lock(&pt_lock);
	mn_events_begin();
	n = read(fd, msgs, sizeof(msgs));
	if (n < 0) {
		n = errno == EAGAIN || errno == EINTR ? 0 : -errno;
		mn_events_end();
		pthread_mutex_unlock(&pt_lock);
		return n;
	}
	n /= sizeof(msgs[0]);
	for (i = 0; i < n; i++) {
		if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
			pending_push(&msgs[i]);
		else
			engine_event(&msgs[i]);
	}
	mn_events_end();
	pthread_mutex_unlock(&pt_lock);
	mm_inject_delay(UHMM_DELAY_UNMAP_PUT);
	mm_put_deferred();
	return n;
}

/*
 * A UFFDIO_MOVE or COPY said -EAGAIN: the kernel has an event (an unmap, a
 * remap) that must be read first.  The engine thread reads it itself; any
 * other thread lets the engine thread get to it.
 */
void mm_engine_drain(void)
{
	if (in_engine_thread)
		engine_read(mm_engine.uffd);
	else
		sched_yield();
}

bool mm_in_engine_thread(void)
{
	return in_engine_thread;
}

static void *engine_thread(void *arg)
{
	int fd = (int)(long)arg;
	unsigned long waited = 0;
	bool waiting = false;
	sigset_t all;

	in_engine_thread = true;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		size_t todo;
		ssize_t n;

		/*
		 * Faults on pages being migrated wait in the queue, not in
		 * this thread, which keeps reading: the migration may need an
		 * event read before it can finish.  They are looked at again
		 * every millisecond (a finished migration wakes no one here).
		 */
		if (pending.head == pending.tail || waiting) {
			if (poll(&pfd, 1, waiting ? 1 : -1) < 0 && errno != EINTR)
				break;
			if (pfd.revents & (POLLERR | POLLNVAL))
				break;
		}
		n = engine_read(fd);
		if (n < 0) {
			pr_err("fault engine: read: %s\n", strerror((int)-n));
			break;
		}
		if (!waiting)
			waited = 0;
		else if (++waited == 10000)
			pr_warn("CPU faults have waited 10 s for migrations of their pages to "
				"finish\n");
		waiting = false;
		for (todo = pending.tail - pending.head; todo; todo--) {
			struct uffd_msg msg = pending.msgs[pending.head++];
			unsigned long addr = ALIGN_DOWN(msg.arg.pagefault.address,
							UHMM_PAGE_SIZE);

			if (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) {
				/* A write to a page a device holds read-only. */
				mn_invalidate_async(addr, addr + UHMM_PAGE_SIZE,
						    UHMM_MMU_NOTIFY_CLEAR, wp_fault_done, NULL);
			} else if (!handle_mm_fault(addr, msg.arg.pagefault.flags,
						    msg.arg.pagefault.feat.ptid)) {
				pending_push(&msg);
				waiting = true;
			}
		}
	}
	return NULL;
}

static int engine_thread_start(void)
{
	pthread_attr_t attr;
	pthread_t thread;
	int ret;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ret = -pthread_create(&thread, &attr, engine_thread, (void *)(long)mm_engine.uffd);
	pthread_attr_destroy(&attr);
	return ret;
}

/* --- fork ----------------------------------------------------------------- */

static void fork_prepare(void)
{
	if (engine_state != 1)
		return;
	/* As the kernel's fork: exclusive access ends, and mirrors of private
	 * pages go (they become copy-on-write). */
	exclusive_revoke_all();
	fork_invalidate();
	mn_fork_quiesce();
	pthread_mutex_lock(&reg_lock);
	pthread_rwlock_wrlock(&mm_fork_lock);
	pthread_mutex_lock(&pt_lock);
	mn_fork_prepare();
}

static void fork_parent(void)
{
	if (engine_state != 1)
		return;
	mn_fork_parent();
	pthread_mutex_unlock(&pt_lock);
	pthread_rwlock_unlock(&mm_fork_lock);
	pthread_mutex_unlock(&reg_lock);
}

static void fork_child(void)
{
	bool user_only = false;
	size_t i;
	int ret;

	vma_fork_child();
	if (engine_state != 1)
		return;
	pthread_rwlock_init(&mm_fork_lock, NULL);
	pthread_mutex_init(&reg_lock, NULL);
	pt_fork_child();
	mn_fork_child();
	pthread_mutex_init(&engine_lock, NULL);
	engine_close();
	pending.head = pending.tail = 0;
	ret = mm_engine.uffd = uffd_open_api(engine_features, &user_only);
	if (ret >= 0)
		ret = mm_engine.stage_uffd = uffd_open_api(STAGE_FEATURES, &user_only);
	if (ret >= 0)
		ret = mm_engine.pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (ret >= 0) {
		sysmem_fork_child(mm_engine.stage_uffd, mm_engine.uffd);
		for (i = 0; i < nr_regs && ret >= 0; i++)
			ret = uffd_register(regs[i].start, regs[i].end, regs[i].modes);
	}
	if (ret >= 0)
		ret = engine_thread_start();
	if (ret < 0) {
		pr_err("the fault engine cannot restart in the child (%s): pages in device "
		       "memory are not reachable there\n", strerror(-ret));
		engine_state = ret;
	}
}

/* --- start ---------------------------------------------------------------- */

int mm_engine_start(void)
{
	static bool atfork_done;
	int state = __atomic_load_n(&engine_state, __ATOMIC_ACQUIRE);
	int ret;

	if (likely(state == 1))
		return 0;
	pthread_mutex_lock(&engine_lock);
	if (engine_state) {
		ret = engine_state == 1 ? 0 : engine_state;
		goto out;
	}
	ret = engine_open();
	if (!ret)
		ret = engine_thread_start();
	if (ret) {
		engine_close();
		__atomic_store_n(&engine_state, ret, __ATOMIC_RELEASE);
		goto out;
	}
	if (!atfork_done) {
		pthread_atfork(fork_prepare, fork_parent, fork_child);
		atfork_done = true;
	}
	__atomic_store_n(&engine_state, 1, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&engine_lock);
	return ret;
}

UHMM_EXPORT int uhmm_mm_init(void)
{
	return mm_engine_start();
}

UHMM_EXPORT int uhmm_mm_get_stats(struct uhmm_mm_stats *stats)
{
	struct uhmm_mm_stats s;
	size_t n;

	if (!stats || stats->size < sizeof(uint64_t))
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	s.faults = __atomic_load_n(&mm_counters.faults, __ATOMIC_RELAXED);
	s.zero_faults = __atomic_load_n(&mm_counters.zero_faults, __ATOMIC_RELAXED);
	s.pages_to_device = __atomic_load_n(&mm_counters.pages_to_device, __ATOMIC_RELAXED);
	s.pages_to_ram = __atomic_load_n(&mm_counters.pages_to_ram, __ATOMIC_RELAXED);
	s.moves_undercounted = __atomic_load_n(&mm_counters.moves_undercounted, __ATOMIC_RELAXED);
	pthread_mutex_lock(&pt_lock);
	s.registered_bytes = registered_bytes;
	pthread_mutex_unlock(&pt_lock);
	s.system_pages = sysmem_in_use();
	n = stats->size < sizeof(s) ? stats->size : sizeof(s);
	memcpy((char *)stats + sizeof(uint64_t), (char *)&s + sizeof(uint64_t),
	       n - sizeof(uint64_t));
	return 0;
}

static unsigned long fail_countdown[UHMM_FAIL_NR];

bool mm_should_fail(int site)
{
	unsigned long old = __atomic_load_n(&fail_countdown[site], __ATOMIC_RELAXED);

	do {
		if (!old)
			return false;
	} while (!__atomic_compare_exchange_n(&fail_countdown[site], &old, old - 1, true,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return old == 1;
}

UHMM_EXPORT long uhmm_fail_nth(enum uhmm_fail_site site, unsigned long nth)
{
	if ((unsigned int)site >= UHMM_FAIL_NR)
		return -EINVAL;
	return (long)__atomic_exchange_n(&fail_countdown[site], nth, __ATOMIC_RELAXED);
}

static unsigned long delay_usec[UHMM_DELAY_NR];

void mm_inject_delay(int site)
{
	unsigned long usec = __atomic_load_n(&delay_usec[site], __ATOMIC_RELAXED);

	if (usec)
		usleep(usec);
}

UHMM_EXPORT long uhmm_inject_delay(enum uhmm_delay_site site, unsigned long usec)
{
	if ((unsigned int)site >= UHMM_DELAY_NR)
		return -EINVAL;
	return (long)__atomic_exchange_n(&delay_usec[site], usec, __ATOMIC_RELAXED);
}
