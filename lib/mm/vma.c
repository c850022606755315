// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The process's mappings, as the kernel's vma_lookup() sees them.
 *
 * Linux 6.11 and later answer one query with the PROCMAP_QUERY ioctl on
 * /proc/self/maps; older kernels get /proc/self/maps read and parsed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <uhmm/migrate.h>

#include "../core/internal.h"
#include "mm_internal.h"

/* From Linux 6.11's <linux/fs.h>; Debian 12's headers predate it. */
struct uhmm_procmap_query {
	uint64_t size;
	uint64_t query_flags;
	uint64_t query_addr;
	uint64_t vma_start;
	uint64_t vma_end;
	uint64_t vma_flags;
	uint64_t vma_page_size;
	uint64_t vma_offset;
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t vma_name_size;
	uint32_t build_id_size;
	uint64_t vma_name_addr;
	uint64_t build_id_addr;
};
#define UHMM_PROCMAP_QUERY	_IOWR('f', 17, struct uhmm_procmap_query)
#define PQ_READABLE		0x01
#define PQ_WRITABLE		0x02
#define PQ_EXECUTABLE		0x04
#define PQ_SHARED		0x08
#define PQ_COVERING_OR_NEXT	0x10

static int maps_fd = -1;
static int have_query = 1;	/* 0 once PROCMAP_QUERY was refused */
static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;

static int maps_open(void)
{
	int fd = __atomic_load_n(&maps_fd, __ATOMIC_ACQUIRE);

	if (fd >= 0)
		return fd;
	pthread_mutex_lock(&maps_lock);
	if (maps_fd < 0)
		__atomic_store_n(&maps_fd, open("/proc/self/maps", O_RDONLY | O_CLOEXEC),
				 __ATOMIC_RELEASE);
	fd = maps_fd;
	pthread_mutex_unlock(&maps_lock);
	return fd;
}

static int query_vma(int fd, unsigned long addr, uint64_t qflags, struct vma_info *vma);

static int query(int fd, unsigned long addr, unsigned long *start, unsigned long *end,
		 unsigned long *flags)
{
	struct vma_info vma = { 0 };
	int ret = query_vma(fd, addr, 0, &vma);

	if (!ret) {
		*start = vma.start;
		*end = vma.end;
		*flags = vma.flags;
	}
	return ret;
}

static int query_vma(int fd, unsigned long addr, uint64_t qflags, struct vma_info *vma)
{
	struct uhmm_procmap_query q;

	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = addr;
	q.query_flags = qflags;
	if (ioctl(fd, UHMM_PROCMAP_QUERY, &q))
		return -errno;
	vma->start = q.vma_start;
	vma->end = q.vma_end;
	vma->page_size = q.vma_page_size ? q.vma_page_size : UHMM_PAGE_SIZE;
	vma->flags = (q.vma_flags & PQ_READABLE ? UHMM_VM_READ : 0) |
		 (q.vma_flags & PQ_WRITABLE ? UHMM_VM_WRITE : 0) |
		 (q.vma_flags & PQ_EXECUTABLE ? UHMM_VM_EXEC : 0) |
		 (q.vma_flags & PQ_SHARED ? UHMM_VM_SHARED : 0) |
		 (q.inode ? UHMM_VM_FILE : 0);
	return 0;
}

/* /proc/self/maps, for kernels before 6.11: the mapping at or above @addr. */
static int parse_maps_next(unsigned long addr, bool next, struct vma_info *vma)
{
	char line[512], perms[8];
	unsigned long s, e, inode;
	FILE *f = fopen("/proc/self/maps", "re");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %7s %*x %*x:%*x %lu", &s, &e, perms, &inode) != 4)
			continue;
		if (addr >= e || (addr < s && !next))
			continue;
		vma->start = s;
		vma->end = e;
		vma->page_size = UHMM_PAGE_SIZE;
		vma->flags = (perms[0] == 'r' ? UHMM_VM_READ : 0) |
			     (perms[1] == 'w' ? UHMM_VM_WRITE : 0) |
			     (perms[2] == 'x' ? UHMM_VM_EXEC : 0) |
			     (perms[3] == 's' ? UHMM_VM_SHARED : 0) |
			     (inode ? UHMM_VM_FILE : 0);
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

int vma_find(unsigned long addr, struct vma_info *vma)
{
	int fd, ret;

	if (__atomic_load_n(&have_query, __ATOMIC_RELAXED) != 0) {
		fd = maps_open();
		if (fd >= 0) {
			ret = query_vma(fd, addr, PQ_COVERING_OR_NEXT, vma);
			if (ret != -ENOTTY && ret != -EINVAL)
				return ret;
		}
		__atomic_store_n(&have_query, 0, __ATOMIC_RELAXED);
	}
	return parse_maps_next(addr, true, vma);
}

static int parse_maps(unsigned long addr, unsigned long *start, unsigned long *end,
		      unsigned long *flags)
{
	struct vma_info vma = { 0 };
	int ret = parse_maps_next(addr, false, &vma);

	if (!ret) {
		*start = vma.start;
		*end = vma.end;
		*flags = vma.flags;
	}
	return ret;
}

int vma_lookup_flags(unsigned long addr, unsigned long *start, unsigned long *end,
		     unsigned long *flags)
{
	int fd, ret;

	if (__atomic_load_n(&have_query, __ATOMIC_RELAXED) != 0) {
		fd = maps_open();
		if (fd >= 0) {
			ret = query(fd, addr, start, end, flags);
			if (ret != -ENOTTY && ret != -EINVAL)
				return ret;
		}
		__atomic_store_n(&have_query, 0, __ATOMIC_RELAXED);
	}
	return parse_maps(addr, start, end, flags);
}

UHMM_EXPORT int uhmm_vma_lookup(unsigned long addr, struct uhmm_vma *vma)
{
	if (!vma)
		return -EINVAL;
	return vma_lookup_flags(addr, &vma->start, &vma->end, &vma->flags);
}

/* An open /proc/self/maps names the process that opened it: a child reopens. */
void vma_fork_child(void)
{
	pthread_mutex_init(&maps_lock, NULL);
	if (maps_fd >= 0)
		close(maps_fd);
	maps_fd = -1;
}
