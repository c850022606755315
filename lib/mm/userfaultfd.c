// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The userfaultfd transport: the engine's two userfaultfds (the process's
 * registered ranges; the sysmem staging area), the ioctls the rest of
 * lib/mm moves, copies and wakes with, and the table of registered ranges.
 * It reads no message: the engine (engine.c) does, and keeps the table in
 * step with the unmap and remap events through mm_regs_unmapped() and
 * mm_regs_remapped().
 */
#include <errno.h>
#include <fcntl.h>
#include <time.h>
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

/* Reads the events the kernel has queued (the engine's; set before any ioctl). */
static void (*event_reader)(void);

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

/* The engine's two userfaultfds (init_mm.uffd_features chosen) and the pagemap. */
static int uffd_open_engine(bool *user_only)
{
	init_mm.uffd = uffd_open_api(init_mm.uffd_features, user_only);
	if (init_mm.uffd < 0)
		return init_mm.uffd;
	init_mm.stage_uffd = uffd_open_api(STAGE_FEATURES, user_only);
	if (init_mm.stage_uffd < 0)
		return init_mm.stage_uffd;
	return pagemap_open();
}

int mm_uffd_open(void)
{
	uint64_t available = 0, missing;
	bool user_only = false;
	int fd, ret;

	fd = uffd_open(&user_only);
	if (fd < 0) {
		pr_err("userfaultfd is not available (%s): the fault engine cannot start%s",
		       strerror(-fd), fd == -EPERM ?
		       "; allow it with sysctl vm.unprivileged_userfaultfd=1 or access to /dev/userfaultfd" :
		       fd == -ENOSYS ? "; the kernel was built without CONFIG_USERFAULTFD" : "");
		return fd;
	}
	ret = uffd_api(fd, 0, &available);
	close(fd);
	if (ret) {
		pr_err("UFFDIO_API failed: %s", strerror(-ret));
		return ret;
	}
	missing = (ENGINE_FEATURES | STAGE_FEATURES) & ~available;
	if (missing) {
		pr_err("this kernel's userfaultfd lacks features the fault engine needs "
		       "(mask %#llx%s); Linux 6.8 or later has them", (unsigned long long)missing,
		       missing & UFFD_FEATURE_MOVE ? ": UFFDIO_MOVE" : "");
		return -EOPNOTSUPP;
	}
	init_mm.uffd_features = ENGINE_FEATURES | (available & ENGINE_OPTIONAL);
	ret = uffd_open_engine(&user_only);
	if (!ret && user_only)
		pr_warn("userfaultfd is limited to user-mode faults here: a system call "
			"that touches a page in device memory fails with EFAULT");
	return ret;
}

void mm_uffd_close(void)
{
	if (init_mm.uffd >= 0)
		close(init_mm.uffd);
	if (init_mm.stage_uffd >= 0)
		close(init_mm.stage_uffd);
	pagemap_close();
	init_mm.uffd = init_mm.stage_uffd = -1;
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
	uint64_t d[64], s[64];
	unsigned long off = done, n, k;

	while (off < len) {
		n = (len - off) >> UHMM_PAGE_SHIFT;
		if (n > 64)
			n = 64;
		if (pagemap_read(dst + off, n, d) || pagemap_read(src + off, n, s))
			break;
		for (k = 0; k < n; k++, off += UHMM_PAGE_SIZE)
			if (!(d[k] & PAGEMAP_THERE) || (s[k] & PAGEMAP_THERE))
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
	if (moved < (long)len) {
		unsigned long extra = move_uncounted(dst, src, moved, len);

		if (extra)
			mm_count(moves_undercounted, 1);
		if (extra && !__atomic_exchange_n(&told, true, __ATOMIC_RELAXED))
			pr_info("UFFDIO_MOVE moved %lu bytes more than it reported; counting from the page tables",
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

	return ioctl(init_mm.uffd, UFFDIO_COPY, &copy) ? -errno : 0;
}

void mm_wake(unsigned long addr, unsigned long len)
{
	struct uffdio_range range = { .start = addr, .len = len };

	ioctl(init_mm.uffd, UFFDIO_WAKE, &range);
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

	if (ioctl(init_mm.uffd, UFFDIO_ZEROPAGE, &zp) == 0 || errno == EEXIST)
		return 0;
	return errno == EAGAIN ? -EAGAIN : -ENOENT;
}

/* --- registered ranges ---------------------------------------------------- */

/* Adds [start, end), which overlaps no range, merging it with neighbours of its modes. */
static int reg_insert(unsigned long start, unsigned long end, unsigned int modes)
{
	size_t i, j;

	if (init_mm.nr_regs == init_mm.cap_regs) {
		size_t cap = init_mm.cap_regs ? 2 * init_mm.cap_regs : 16;
		struct mm_reg_range *n = realloc(init_mm.regs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		init_mm.regs = n;
		init_mm.cap_regs = cap;
	}
	for (i = 0; i < init_mm.nr_regs && init_mm.regs[i].end <= start; i++)
		;
	/* regs[i .. j - 1] are the neighbours merged into the new range. */
	j = i;
	if (i && init_mm.regs[i - 1].end == start && init_mm.regs[i - 1].modes == modes)
		start = init_mm.regs[--i].start;
	if (j < init_mm.nr_regs && init_mm.regs[j].start == end && init_mm.regs[j].modes == modes)
		end = init_mm.regs[j++].end;
	for (size_t k = i; k < j; k++)
		init_mm.registered_bytes -= init_mm.regs[k].end - init_mm.regs[k].start;
	memmove(&init_mm.regs[i + 1], &init_mm.regs[j],
		(init_mm.nr_regs - j) * sizeof(*init_mm.regs));
	init_mm.nr_regs -= j - i;
	init_mm.regs[i].start = start;
	init_mm.regs[i].end = end;
	init_mm.regs[i].modes = modes;
	init_mm.nr_regs++;
	init_mm.registered_bytes += end - start;
	mm_gauge_set(registered_bytes, init_mm.registered_bytes);
	return 0;
}

static void reg_remove(unsigned long start, unsigned long end)
{
	size_t i = 0;

	while (i < init_mm.nr_regs) {
		struct mm_reg_range *r = &init_mm.regs[i];

		if (r->end <= start || r->start >= end) {
			i++;
			continue;
		}
		if (r->start < start && r->end > end) {
			/* Split; a failed allocation only forgets the right part. */
			unsigned long tail = r->end;
			unsigned int modes = r->modes;

			init_mm.registered_bytes -= tail - start;
			r->end = start;
			reg_insert(end, tail, modes);
			mm_gauge_set(registered_bytes, init_mm.registered_bytes);
			return;
		}
		if (r->start < start) {
			init_mm.registered_bytes -= r->end - start;
			r->end = start;
			i++;
		} else if (r->end > end) {
			init_mm.registered_bytes -= end - r->start;
			r->start = end;
			i++;
		} else {
			init_mm.registered_bytes -= r->end - r->start;
			memmove(r, r + 1, (init_mm.nr_regs - i - 1) * sizeof(*r));
			init_mm.nr_regs--;
		}
	}
	mm_gauge_set(registered_bytes, init_mm.registered_bytes);
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
	lockdep_assert_held(&init_mm.pt_lock);
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

	lockdep_assert_held(&init_mm.pt_lock);
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
	lockdep_assert_held(&init_mm.pt_lock);
	reg_remove(start, end);
}

/* The registered range holding @addr, into *start and *end; pt_lock held. */
bool mm_registered_range(unsigned long addr, unsigned long *start, unsigned long *end)
{
	size_t i;

	lockdep_assert_held(&init_mm.pt_lock);
	for (i = 0; i < init_mm.nr_regs; i++)
		if (addr >= init_mm.regs[i].start && addr < init_mm.regs[i].end &&
		    (init_mm.regs[i].modes & MM_REG_MISSING)) {
			*start = init_mm.regs[i].start;
			*end = init_mm.regs[i].end;
			return true;
		}
	return false;
}

/* Whether every page of [start, end) is registered for missing faults; pt_lock held. */
bool mm_range_watched(unsigned long start, unsigned long end)
{
	size_t i;

	lockdep_assert_held(&init_mm.pt_lock);
	for (i = 0; i < init_mm.nr_regs && start < end; i++) {
		if (init_mm.regs[i].end <= start)
			continue;
		if (init_mm.regs[i].start > start || !(init_mm.regs[i].modes & MM_REG_MISSING))
			return false;
		start = init_mm.regs[i].end;
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

	if (ioctl(init_mm.uffd, UFFDIO_REGISTER, &reg))
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
	const struct mm_reg_range *reg;
	struct mm_event_wait wait = { 0 };
	unsigned int have;
	int ret = 0;
	size_t i;

	pthread_mutex_lock(&init_mm.reg_lock);
	pthread_mutex_lock(&init_mm.pt_lock);
	while (addr < end) {
		if (ret == -EAGAIN) {
			if (wait.waits == MM_EVENT_WAITS_MAX)
				break;
			mm_uffd_wait_event(&wait, addr);
			ret = 0;
		}
		for (i = 0; i < init_mm.nr_regs && init_mm.regs[i].end <= addr; i++)
			;
		reg = i < init_mm.nr_regs ? &init_mm.regs[i] : NULL;
		if (reg && reg->start <= addr) {
			next = reg->end < end ? reg->end : end;
			have = reg->modes;
		} else {
			next = reg && reg->start < end ? reg->start : end;
			have = 0;
		}
		if ((have & modes) != modes) {
			mm_inject_delay(UHMM_DELAY_REGISTER);
			ret = uffd_register(addr, next, have | modes);
			if (ret) {
				pr_debug("cannot register %#lx-%#lx with userfaultfd: %s",
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
	pthread_mutex_unlock(&init_mm.pt_lock);
	pthread_mutex_unlock(&init_mm.reg_lock);
	return ret;
}

int mm_writeprotect(unsigned long start, unsigned long len, bool wp)
{
	struct uffdio_writeprotect w = {
		.range = { .start = start, .len = len },
		.mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(init_mm.uffd, UFFDIO_WRITEPROTECT, &w) ? -errno : 0;
}

/* The modes of the registered range holding @addr, 0 if none; pt_lock held. */
static unsigned int reg_modes(unsigned long addr)
{
	size_t i;

	lockdep_assert_held(&init_mm.pt_lock);
	for (i = 0; i < init_mm.nr_regs; i++)
		if (addr >= init_mm.regs[i].start && addr < init_mm.regs[i].end)
			return init_mm.regs[i].modes;
	return 0;
}

/*
 * The events of an unmap, and of an mremap() of @len bytes from @from to
 * @to: the table follows the kernel's registrations.  pt_lock held.
 */
void mm_regs_unmapped(unsigned long start, unsigned long end)
{
	lockdep_assert_held(&init_mm.pt_lock);
	reg_remove(start, end);
}

void mm_regs_remapped(unsigned long from, unsigned long to, unsigned long len)
{
	unsigned int modes = reg_modes(from);

	lockdep_assert_held(&init_mm.pt_lock);
	reg_remove(from, from + len);
	reg_remove(to, to + len);
	reg_insert(to, to + len, modes ? modes : MM_REG_MISSING);
}

/* pt_lock held. */
uint64_t mm_registered_bytes(void)
{
	lockdep_assert_held(&init_mm.pt_lock);
	return init_mm.registered_bytes;
}

/* A copy of the table, *@n entries, to free(); NULL if out of memory. */
struct mm_reg_range *mm_regs_copy(size_t *n)
{
	struct mm_reg_range *copy;

	pthread_mutex_lock(&init_mm.pt_lock);
	*n = init_mm.nr_regs;
	copy = malloc(init_mm.nr_regs * sizeof(*copy) + 1);
	if (copy && init_mm.nr_regs)	/* regs is NULL until something is registered */
		memcpy(copy, init_mm.regs, init_mm.nr_regs * sizeof(*copy));
	pthread_mutex_unlock(&init_mm.pt_lock);
	return copy;
}

void mm_set_event_reader(void (*fn)(void))
{
	event_reader = fn;
}

/*
 * The engine's reads, counted so a thread that must wait for one can sleep
 * on the count instead of spinning.  Both under pt_lock, the lock every
 * read and every ioctl that can say -EAGAIN is done under, so a read counted
 * after the caller's -EAGAIN came after its ioctl.
 */

void mm_uffd_events_read(void)
{
	lockdep_assert_held(&init_mm.pt_lock);
	init_mm.events_read++;
	pthread_cond_broadcast(&init_mm.events_cond);
}

#define EVENT_WAIT_MIN_NS	20000L		/* the first sleep: 20 us */
#define EVENT_WAIT_MAX_NS	5000000L	/* the longest: 5 ms */

/*
 * An ioctl said -EAGAIN: the kernel has an unmap or remap of a watched
 * mapping under way, and moves nothing until its event is read.  The
 * engine's thread reads it itself (the registered reader).  Another thread
 * sleeps until the engine has read something, or for a while: the kernel
 * counts the event as under way from before it can be read until after the
 * thread that unmapped runs again, so a read is not always what ends it.
 * The sleep grows with @w->waits, and every mm_wait_log_s seconds the wait
 * is logged with @addr.
 */
void mm_uffd_wait_event(struct mm_event_wait *w, unsigned long addr)
{
	unsigned long seen = init_mm.events_read;
	long ns = EVENT_WAIT_MIN_NS << (w->waits < 8 ? w->waits : 8);
	struct timespec now, until;

	lockdep_assert_held(&init_mm.pt_lock);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!w->waits++)
		w->since = now;
	else if (now.tv_sec - w->since.tv_sec >= (time_t)(w->logged + 1) * mm_wait_log_s)
		pr_warn("%#lx: the kernel has refused to move a page for %u s: an unmap or "
			"remap is not read (is the fault engine's thread running?)",
			addr, ++w->logged * mm_wait_log_s);
	if (mm_in_engine_thread() && event_reader) {
		pthread_mutex_unlock(&init_mm.pt_lock);
		event_reader();
		pthread_mutex_lock(&init_mm.pt_lock);
		return;
	}
	if (ns > EVENT_WAIT_MAX_NS)
		ns = EVENT_WAIT_MAX_NS;
	until = now;
	until.tv_nsec += ns;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (init_mm.events_read == seen &&
	       pthread_cond_clockwait(&init_mm.events_cond, &init_mm.pt_lock, CLOCK_MONOTONIC,
				      &until) == 0)
		;
}

/* --- fork ----------------------------------------------------------------- */

/* Around fork(): no registration in flight, so the child's table is whole. */
void mm_regs_lock(void)
{
	pthread_mutex_lock(&init_mm.reg_lock);
}

void mm_regs_unlock(void)
{
	pthread_mutex_unlock(&init_mm.reg_lock);
}

/*
 * In the child: the parent's userfaultfds serve the parent; open new ones
 * (as the parent's were opened) and register the table's ranges with them.
 */
int mm_uffd_fork_child(void)
{
	bool user_only = false;

	pthread_mutex_init(&init_mm.reg_lock, NULL);
	pthread_cond_init(&init_mm.events_cond, NULL);	/* fork() lets no one wait in it */
	mm_uffd_close();
	return uffd_open_engine(&user_only);
}

int mm_regs_register_again(void)
{
	size_t i;
	int ret = 0;

	for (i = 0; i < init_mm.nr_regs && !ret; i++) {
		const struct mm_reg_range *reg = &init_mm.regs[i];

		ret = uffd_register(reg->start, reg->end, reg->modes);
	}
	return ret;
}
