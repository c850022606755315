// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * System memory pages: the struct pages of RAM that the kernel's drivers
 * copy to and from.
 *
 * A page being migrated is moved (UFFDIO_MOVE: its frame, not its bytes)
 * out of the process's mapping into a slot of a staging area, where it has
 * an address and a struct uhmm_page of its own; a page migrating back is
 * filled in a slot and then moved into the mapping.  The staging area is
 * registered with the engine's second userfaultfd (write-protect mode, so
 * that it may be a UFFDIO_MOVE destination while its empty slots still fill
 * on first touch without a handler).
 *
 * A page is taken from a mapping only if the engine watches that mapping,
 * and only while no event of the engine's userfaultfd is unread: otherwise
 * a new mapping may have replaced the one a migration claimed, unannounced
 * as yet, and a page taken from it, unwatched, would read back as zeros.
 * Both are asked of the kernel at the time of the move, since only it
 * knows (mm_probe_watched() on the first page); and the move itself, which
 * takes pages from that one mapping only, is made on the same userfaultfd,
 * into the same slot of a landing area registered with it, so the kernel
 * refuses it too if an unmap or a remap slipped in between (-EAGAIN, or
 * -ENOENT, told apart by sysmem_event_pending()).  From the
 * landing area the frames move on into their slots.
 * The landing area is never touched, so it is never zapped and sends no
 * events itself.  userfaultfd registers a range with holes in it without a
 * word, so uhmm's own record of what is registered cannot be relied on here.
 *
 * A free slot that still holds a frame ("populated") is preferred by
 * uhmm_alloc_page(): the driver's copy then lands in memory that needs no
 * page fault, and moving it into the mapping empties the slot again.  Runs
 * for moving pages in must be empty; populated slots in them are zapped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include <uhmm/migrate.h>
#include <uhmm/resource.h>

#include "../core/internal.h"
#include "mm_internal.h"

/* pfns of staging slots, inside the System RAM range (see resource.c) */
#define SYSMEM_BASE_PFN		0x1000UL
#define SYSMEM_MAX_BYTES	(16UL << 30)
#define SYSMEM_MIN_BYTES	(1UL << 30)
/* Free populated slots kept for reuse; beyond this they are zapped. */
#define SYSMEM_CACHE_PAGES	65536UL
#define BITS			(8 * sizeof(unsigned long))

static struct {
	pthread_mutex_t lock;
	char *base;
	char *landing;			/* as long as base; slot i lands at landing + i pages */
	unsigned long nr;		/* slots */
	struct uhmm_page *memmap;
	unsigned long *used;		/* bitmap */
	unsigned long cursor;		/* next-fit start */
	unsigned long nr_used;
	unsigned long *cache;		/* ring of free populated slots, oldest first */
	unsigned long cache_head;
	unsigned long nr_cache;
} sysmem = { .lock = PTHREAD_MUTEX_INITIALIZER };

static bool test_bit_(const unsigned long *map, unsigned long i)
{
	return map[i / BITS] & (1UL << (i % BITS));
}

static void set_bits(unsigned long *map, unsigned long i, unsigned long n, bool on)
{
	for (; n; n--, i++) {
		if (on)
			map[i / BITS] |= 1UL << (i % BITS);
		else
			map[i / BITS] &= ~(1UL << (i % BITS));
	}
}

static void *slot_address(unsigned long i)
{
	return sysmem.base + (i << UHMM_PAGE_SHIFT);
}

/* An area of @len bytes, not inherited by a child, registered with @uffd for write-protect. */
static void *map_registered(int uffd, size_t len, const char *what)
{
	struct uffdio_register reg;
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return p;
	/* A child starts with its own, empty areas. */
	madvise(p, len, MADV_DONTFORK);
	/*
	 * One slot, one frame: a huge page would fill a slot's neighbours on
	 * its first touch, behind the back of the free-slot bookkeeping.
	 */
	madvise(p, len, MADV_NOHUGEPAGE);
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (unsigned long)p;
	reg.range.len = len;
	reg.mode = UFFDIO_REGISTER_MODE_WP;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg)) {
		int err = errno;

		pr_err("cannot register the %s with userfaultfd: %s", what, strerror(err));
		munmap(p, len);
		errno = err;
		return MAP_FAILED;
	}
	return p;
}

static int sysmem_map(int stage_uffd, int uffd)
{
	size_t len = sysmem.nr << UHMM_PAGE_SHIFT;
	char *base, *landing;

	base = map_registered(stage_uffd, len, "staging area");
	if (base == MAP_FAILED)
		return -errno;
	landing = map_registered(uffd, len, "landing area");
	if (landing == MAP_FAILED) {
		int err = -errno;

		munmap(base, len);
		return err;
	}
	sysmem.base = base;
	sysmem.landing = landing;
	return 0;
}

int sysmem_init(int stage_uffd, int uffd)
{
	unsigned long bytes = uhmm_system_ram_size() / 2;
	size_t words;
	int ret;

	if (bytes > SYSMEM_MAX_BYTES)
		bytes = SYSMEM_MAX_BYTES;
	if (bytes < SYSMEM_MIN_BYTES)
		bytes = SYSMEM_MIN_BYTES;
	sysmem.nr = bytes >> UHMM_PAGE_SHIFT;
	words = (sysmem.nr + BITS - 1) / BITS;
	sysmem.used = calloc(words, sizeof(unsigned long));
	sysmem.cache = calloc(SYSMEM_CACHE_PAGES, sizeof(unsigned long));
	sysmem.memmap = mmap(NULL, sysmem.nr * sizeof(struct uhmm_page), PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!sysmem.used || !sysmem.cache || sysmem.memmap == MAP_FAILED) {
		ret = -ENOMEM;
		goto err;
	}
	ret = sysmem_map(stage_uffd, uffd);
	if (ret)
		goto err;
	return 0;
err:
	if (sysmem.memmap != MAP_FAILED && sysmem.memmap)
		munmap(sysmem.memmap, sysmem.nr * sizeof(struct uhmm_page));
	free(sysmem.used);
	free(sysmem.cache);
	memset(&sysmem, 0, sizeof(sysmem));
	pthread_mutex_init(&sysmem.lock, NULL);
	return ret;
}

/*
 * In a child, the staging area was not inherited (MADV_DONTFORK) and no
 * migration was in flight (fork waits for them): start empty.
 */
void sysmem_fork_child(int stage_uffd, int uffd)
{
	pthread_mutex_init(&sysmem.lock, NULL);
	memset(sysmem.used, 0, (sysmem.nr + BITS - 1) / BITS * sizeof(unsigned long));
	sysmem.nr_cache = 0;
	sysmem.nr_used = 0;
	mm_gauge_set(system_pages, sysmem.nr_used);
	sysmem.cache_head = 0;
	sysmem.cursor = 0;
	if (sysmem_map(stage_uffd, uffd))
		sysmem.nr = 0;
}

bool sysmem_pfn_valid(unsigned long pfn)
{
	return pfn - SYSMEM_BASE_PFN < sysmem.nr;
}

struct uhmm_page *sysmem_pfn_to_page(unsigned long pfn)
{
	return sysmem_pfn_valid(pfn) ? &sysmem.memmap[pfn - SYSMEM_BASE_PFN] : NULL;
}

static struct uhmm_page *slot_init(unsigned long i, bool populated)
{
	struct uhmm_page *page = &sysmem.memmap[i];

	page->flags = populated ? 1UL << PG_SYS_POPULATED : 0;
	__atomic_store_n(&page->_refcount, 1, __ATOMIC_SEQ_CST);
	page->pgmap = NULL;
	page->pfn = SYSMEM_BASE_PFN + i;
	page->zone_device_data = NULL;
	page->private_data = 0;
	page->mapping = NULL;
	page->index = 0;
	return page;
}

/*
 * Finds @n free slots in a row from the cursor on; sysmem.lock held.  Free
 * slots that still hold a frame are for uhmm_alloc_page(): a run takes them
 * (and zaps them) only when there is no other room.
 */
static long find_free_run(unsigned long n)
{
	unsigned long start = sysmem.cursor, i, run, tries;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		for (run = 0, tries = 0; tries < sysmem.nr + n; tries++) {
			i = (start + tries) % sysmem.nr;
			if (i == 0)
				run = 0;
			if (test_bit_(sysmem.used, i) ||
			    (!pass && page_flag_test(&sysmem.memmap[i], PG_SYS_POPULATED))) {
				run = 0;
				continue;
			}
			if (++run == n)
				return i + 1 - n;
		}
	}
	return -1;
}

static struct uhmm_page *sysmem_alloc_run_nofail(unsigned long n)
{
	unsigned long i;
	bool zap = false;
	long first;

	if (!n)
		return NULL;
	pthread_mutex_lock(&sysmem.lock);
	first = find_free_run(n);
	if (first < 0) {
		pthread_mutex_unlock(&sysmem.lock);
		return NULL;
	}
	set_bits(sysmem.used, first, n, true);
	sysmem.nr_used += n;
	mm_gauge_set(system_pages, sysmem.nr_used);
	sysmem.cursor = (first + n) % sysmem.nr;
	for (i = first; i < first + n; i++)
		if (page_flag_test(&sysmem.memmap[i], PG_SYS_POPULATED))
			zap = true;
	pthread_mutex_unlock(&sysmem.lock);
	/* Cached slots in the run are skipped when popped (they are in use now). */
	if (zap)
		madvise(slot_address(first), n << UHMM_PAGE_SHIFT, MADV_DONTNEED);
	for (i = first; i < first + n; i++)
		slot_init(i, false);
	return &sysmem.memmap[first];
}

struct uhmm_page *sysmem_alloc_run(unsigned long n)
{
	if (mm_should_fail(UHMM_FAIL_ALLOC_PAGE))
		return NULL;
	return sysmem_alloc_run_nofail(n);
}

UHMM_EXPORT struct uhmm_page *uhmm_alloc_page(void)
{
	struct uhmm_page *page;
	unsigned long i;

	if (mm_should_fail(UHMM_FAIL_ALLOC_PAGE)) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_lock(&sysmem.lock);
	/* Oldest first: slots freed in a row come back in a row. */
	while (sysmem.nr_cache) {
		i = sysmem.cache[sysmem.cache_head];
		sysmem.cache_head = (sysmem.cache_head + 1) % SYSMEM_CACHE_PAGES;
		sysmem.nr_cache--;
		if (!test_bit_(sysmem.used, i) &&
		    page_flag_test(&sysmem.memmap[i], PG_SYS_POPULATED)) {
			set_bits(sysmem.used, i, 1, true);
			sysmem.nr_used++;
			mm_gauge_set(system_pages, sysmem.nr_used);
			pthread_mutex_unlock(&sysmem.lock);
			return slot_init(i, true);
		}
	}
	pthread_mutex_unlock(&sysmem.lock);
	if (!sysmem.nr) {
		errno = ENOMEM;
		return NULL;
	}
	page = sysmem_alloc_run_nofail(1);
	if (!page) {
		errno = ENOMEM;
		return NULL;
	}
	/*
	 * The caller fills it, so it holds a frame from now on; if it is freed
	 * without being moved into a mapping, that frame must be zapped or
	 * cached, never left in a slot that a run takes as empty.
	 */
	page_flag_set(page, PG_SYS_POPULATED);
	return page;
}

void sysmem_free_page(struct uhmm_page *page)
{
	unsigned long i = page->pfn - SYSMEM_BASE_PFN;
	bool populated = page_flag_test(page, PG_SYS_POPULATED);

	WARN(page->flags & (1UL << UHMM_PG_locked), "freeing locked system page pfn %#lx",
	     page->pfn);
	pthread_mutex_lock(&sysmem.lock);
	if (populated && sysmem.nr_cache < SYSMEM_CACHE_PAGES) {
		sysmem.cache[(sysmem.cache_head + sysmem.nr_cache++) % SYSMEM_CACHE_PAGES] = i;
		populated = false;
	}
	if (populated) {
		/* Zap before the slot is free, so nobody can be moving into it. */
		madvise(slot_address(i), UHMM_PAGE_SIZE, MADV_DONTNEED);
		page_flag_clear(page, PG_SYS_POPULATED);
	}
	set_bits(sysmem.used, i, 1, false);
	sysmem.nr_used--;
	mm_gauge_set(system_pages, sysmem.nr_used);
	pthread_mutex_unlock(&sysmem.lock);
}

unsigned long sysmem_in_use(void)
{
	unsigned long n;

	pthread_mutex_lock(&sysmem.lock);
	n = sysmem.nr_used;
	pthread_mutex_unlock(&sysmem.lock);
	return n;
}

/*
 * Whether an unmap or remap of a watched mapping is under way, its event
 * not read yet.  UFFDIO_MOVE, _COPY and _ZEROPAGE look the mapping up
 * before they check for that, so at an address mremap() has just moved
 * away they answer -ENOENT, as they do where the mapping is gone for good;
 * UFFDIO_WRITEPROTECT checks first.  Lifting the protection the landing
 * area never has asks just that.  With pt_lock held the engine reads no
 * event, so a true answer stays true until the caller lets it read.
 */
bool sysmem_event_pending(void)
{
	lockdep_assert_held(&init_mm.pt_lock);
	return mm_writeprotect((unsigned long)sysmem.landing, UHMM_PAGE_SIZE, false) == -EAGAIN;
}

/*
 * Moves the frames of [@src, @src + @len) into the slots from @first on,
 * holes left as holes; pt_lock held, and the migration entries of the
 * range checked to be the caller's under the same hold.  Returns the bytes
 * done (a short count: the page after them did not move) or -errno:
 * -EAGAIN while an event of the engine's userfaultfd is unread (drop
 * pt_lock and let the engine read it), -EBUSY for a page shared
 * copy-on-write, -ENOENT for an address no longer mapped or not watched.
 * A hole at @src may be left holding zeros.
 */
long sysmem_move_in(struct uhmm_page *first, unsigned long src, unsigned long len)
{
	unsigned long i = first->pfn - SYSMEM_BASE_PFN;
	unsigned long slot = (unsigned long)slot_address(i);
	unsigned long land = (unsigned long)sysmem.landing + (i << UHMM_PAGE_SHIFT);
	long moved, done = 0, back;

	lockdep_assert_held(&init_mm.pt_lock);
	moved = mm_probe_watched(src);
	if (moved == -ENOENT && sysmem_event_pending())
		moved = -EAGAIN;
	if (moved)
		return moved;	/* -ENOENT: not watched; -EAGAIN: an event is unread */
	moved = mm_move(init_mm.uffd, land, src, len, true);
	if (moved == -ENOENT && sysmem_event_pending())
		return -EAGAIN;
	if (moved <= 0)
		return moved;
	while (done < moved) {
		long n = mm_move(init_mm.stage_uffd, slot + done, land + done,
				 moved - done, true);

		if (n <= 0)
			break;
		done += n;
	}
	if (done == moved)
		return moved;
	/* Cannot happen (both areas are uhmm's own); if it does, put the rest back. */
	back = mm_move(init_mm.uffd, src + done, land + done, moved - done, true);
	WARN(back != moved - done, "%ld bytes at %#lx stranded in the landing area: %ld",
	     moved - done, src + done, back);
	return done;
}

void sysmem_scan_populated(struct uhmm_page *first, unsigned long n)
{
	unsigned long i0 = first - sysmem.memmap, i;
	uint64_t buf[512];

	for (i = 0; i < n; i++) {
		uint64_t ent;

		if (i % 512 == 0) {
			unsigned long chunk = n - i < 512 ? n - i : 512;
			if (pagemap_read((unsigned long)slot_address(i0 + i), chunk, buf))
				memset(buf, 0xff, sizeof(buf));	/* assume populated: safe */
		}
		ent = buf[i % 512];
		if (ent & PAGEMAP_THERE)
			page_flag_set(&first[i], PG_SYS_POPULATED);
	}
}

UHMM_EXPORT void *uhmm_page_address(const struct uhmm_page *page)
{
	if (!page || page->pgmap || !sysmem_pfn_valid(page->pfn))
		return NULL;
	return slot_address(page->pfn - SYSMEM_BASE_PFN);
}

/*
 * Puts the frame of staging page @page at @addr (see mm_internal.h); the
 * move wants both mappings alike, so after an mprotect() of the
 * destination it copies.
 */
long mm_install_frame(unsigned long addr, struct uhmm_page *page)
{
	unsigned long src = (unsigned long)uhmm_page_address(page);
	long moved = mm_move(init_mm.uffd, addr, src, UHMM_PAGE_SIZE, false);

	if (moved == -EINVAL)
		moved = mm_copy(addr, src);
	return moved;
}
