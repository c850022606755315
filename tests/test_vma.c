// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Mapping lookups (lib/mm/vma.c): the kernel's vmas for lib/mm's own walks,
 * and the program's mappings (vma_mapping(), uhmm_vma_lookup()) for drivers
 * and migrate_vma_setup(), where a userfaultfd registration or an madvise()
 * that cut a vma does not cut the mapping, but a change of permission or of
 * file offset does.  Every test runs twice: through PROCMAP_QUERY, and
 * through /proc/self/maps as on kernels before 6.11.  Internal functions:
 * this test links the static library.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <uhmm/migrate.h>

#include "harness.h"
#include "../lib/mm/mm_internal.h"

#define PAGE	4096UL

/* @n pages mapped between two PROT_NONE guard pages, so no neighbour merges in. */
static char *map_guarded(unsigned long n, int fd, off_t off)
{
	char *p = mmap(NULL, (n + 2) * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_TRUE(p != MAP_FAILED);
	p += PAGE;
	if (fd < 0)
		ASSERT_TRUE(mmap(p, n * PAGE, PROT_READ | PROT_WRITE,
				 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == p);
	else
		ASSERT_TRUE(mmap(p, n * PAGE, PROT_READ | PROT_WRITE,
				 MAP_FIXED | MAP_SHARED, fd, off) == p);
	return p;
}

static void expect_mapping(unsigned long addr, const char *start, const char *end)
{
	struct vma_info v;
	struct uhmm_vma pub;

	ASSERT_EQ(vma_mapping(addr, &v), 0);
	ASSERT_EQ(v.start, (unsigned long)start);
	ASSERT_EQ(v.end, (unsigned long)end);
	ASSERT_EQ(uhmm_vma_lookup(addr, &pub), 0);
	ASSERT_EQ(pub.start, v.start);
	ASSERT_EQ(pub.end, v.end);
	ASSERT_EQ(pub.flags, v.flags);
}

static void expect_vma(unsigned long addr, const char *start, const char *end)
{
	unsigned long s, e, flags;

	ASSERT_EQ(vma_lookup_flags(addr, &s, &e, &flags), 0);
	ASSERT_EQ(s, (unsigned long)start);
	ASSERT_EQ(e, (unsigned long)end);
}

/* Registers [p, p + len) for missing faults; false where userfaultfd is refused. */
static bool uffd_register_range(char *p, unsigned long len)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)p, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		return false;
	ASSERT_EQ(ioctl(fd, UFFDIO_API, &api), 0);
	ASSERT_EQ(ioctl(fd, UFFDIO_REGISTER, &reg), 0);
	return true;	/* the fd stays open: closing it would unregister */
}

static void anonymous_cuts(bool query)
{
	char *p = map_guarded(16, -1, 0);

	vma_use_procmap_query(query);
	ASSERT_EQ(madvise(p + 2 * PAGE, 2 * PAGE, MADV_DONTFORK), 0);
	if (uffd_register_range(p + 8 * PAGE, 4 * PAGE))
		expect_vma((unsigned long)p + 9 * PAGE, p + 8 * PAGE, p + 12 * PAGE);
	expect_vma((unsigned long)p, p, p + 2 * PAGE);

	/* The program's one mapping, from any of its pieces. */
	expect_mapping((unsigned long)p, p, p + 16 * PAGE);
	expect_mapping((unsigned long)p + 3 * PAGE, p, p + 16 * PAGE);
	expect_mapping((unsigned long)p + 9 * PAGE, p, p + 16 * PAGE);
	expect_mapping((unsigned long)p + 15 * PAGE, p, p + 16 * PAGE);

	/* Joined forward as far as asked (through PROCMAP_QUERY: no further). */
	{
		struct vma_info v;

		ASSERT_EQ(vma_mapping_to((unsigned long)p + PAGE, (unsigned long)p + 9 * PAGE, &v),
			  0);
		ASSERT_GE(v.end, (unsigned long)p + 9 * PAGE);
		ASSERT_EQ(v.flags & UHMM_VM_WRITE, UHMM_VM_WRITE);
		ASSERT_EQ(vma_mapping_to((unsigned long)p + PAGE, (unsigned long)p + 2 * PAGE, &v),
			  0);
		if (query)
			ASSERT_EQ(v.end, (unsigned long)p + 2 * PAGE);	/* the first vma */
		else
			ASSERT_EQ(v.end, (unsigned long)p + 16 * PAGE);
	}

	/* A permission change is a mapping boundary. */
	ASSERT_EQ(mprotect(p + 13 * PAGE, PAGE, PROT_READ), 0);
	expect_mapping((unsigned long)p + 9 * PAGE, p, p + 13 * PAGE);
	expect_mapping((unsigned long)p + 13 * PAGE, p + 13 * PAGE, p + 14 * PAGE);
	expect_mapping((unsigned long)p + 14 * PAGE, p + 14 * PAGE, p + 16 * PAGE);

	/* Guard pages and holes are no mapping's. */
	{
		struct vma_info v;

		ASSERT_EQ(vma_mapping((unsigned long)p - PAGE, &v), 0);
		ASSERT_EQ(v.flags & (UHMM_VM_READ | UHMM_VM_WRITE), 0);
		ASSERT_EQ(v.end, (unsigned long)p);
		ASSERT_EQ(munmap(p + 4 * PAGE, PAGE), 0);
		ASSERT_EQ(vma_mapping((unsigned long)p + 4 * PAGE, &v), -ENOENT);
		expect_mapping((unsigned long)p + 3 * PAGE, p, p + 4 * PAGE);
		ASSERT_EQ(vma_find((unsigned long)p + 4 * PAGE, &v), 0);
		ASSERT_EQ(v.start, (unsigned long)p + 5 * PAGE);
	}
}

TEST(anonymous_cuts_procmap_query)
{
	anonymous_cuts(true);
}

TEST(anonymous_cuts_proc_maps)
{
	anonymous_cuts(false);
}

/* A file mapped twice side by side is two mappings unless the offsets continue. */
static void file_offsets(bool query)
{
	char path[] = "/tmp/uhmm-test-vma-XXXXXX";
	int fd = mkstemp(path);
	char *p, *q;

	ASSERT_GE(fd, 0);
	unlink(path);
	ASSERT_EQ(ftruncate(fd, 32 * PAGE), 0);
	vma_use_procmap_query(query);

	/* Offsets 0..8 pages, cut by madvise: one mapping. */
	p = map_guarded(8, fd, 0);
	ASSERT_EQ(madvise(p + 4 * PAGE, 4 * PAGE, MADV_DONTFORK), 0);
	expect_vma((unsigned long)p, p, p + 4 * PAGE);
	expect_mapping((unsigned long)p + 6 * PAGE, p, p + 8 * PAGE);

	/* Offsets 0..4 then 16..20 pages: two. */
	q = map_guarded(8, fd, 0);
	ASSERT_TRUE(mmap(q + 4 * PAGE, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_SHARED,
			 fd, 16 * PAGE) == q + 4 * PAGE);
	expect_mapping((unsigned long)q, q, q + 4 * PAGE);
	expect_mapping((unsigned long)q + 5 * PAGE, q + 4 * PAGE, q + 8 * PAGE);
	close(fd);
}

TEST(file_offsets_procmap_query)
{
	file_offsets(true);
}

TEST(file_offsets_proc_maps)
{
	file_offsets(false);
}
