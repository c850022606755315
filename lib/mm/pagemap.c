// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel's view of this process's page tables: /proc/self/pagemap, one
 * 64-bit entry per page, and its PAGEMAP_SCAN ioctl (Linux 6.7), which
 * reports runs of pages by category.  Every reader in lib/mm goes through
 * here; the file is opened with the engine's userfaultfds and again in a
 * forked child, whose pagemap is its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <uhmm/migrate.h>

#include "mm_internal.h"

#define UHMM_PAGEMAP_SCAN	_IOWR('f', 16, struct pagemap_scan_arg)


int pagemap_open(void)
{
	pagemap_close();
	init_mm.pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	return init_mm.pagemap_fd < 0 ? -errno : 0;
}

void pagemap_close(void)
{
	if (init_mm.pagemap_fd >= 0)
		close(init_mm.pagemap_fd);
	init_mm.pagemap_fd = -1;
}

int pagemap_read(unsigned long addr, unsigned long n, uint64_t *ents)
{
	size_t len = n * sizeof(*ents);
	ssize_t got;

	if (init_mm.pagemap_fd < 0)
		return -EBADF;
	got = pread(init_mm.pagemap_fd, ents, len,
		    (off_t)(addr >> UHMM_PAGE_SHIFT) * sizeof(*ents));
	if (got < 0)
		return -errno;
	return got == (ssize_t)len ? 0 : -EIO;
}

uint64_t pagemap_entry(unsigned long addr)
{
	uint64_t ent;

	return pagemap_read(addr, 1, &ent) ? 0 : ent;
}

long pagemap_scan(struct pagemap_scan_arg *arg)
{
	long n;

	if (init_mm.pagemap_fd < 0)
		return -EBADF;
	n = ioctl(init_mm.pagemap_fd, UHMM_PAGEMAP_SCAN, arg);
	return n < 0 ? -errno : n;
}
