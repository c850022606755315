// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The process's mappings, as the kernel's vma_lookup() sees them.
 *
 * Linux 6.11 and later answer one query with the PROCMAP_QUERY ioctl on
 * /proc/self/maps; older kernels get /proc/self/maps read and parsed.
 *
 * A mapping here is what the program mapped, not how the kernel's vmas
 * happen to be cut: registering part of a mapping with userfaultfd (which
 * every migration does) splits its vma, and a driver that looked the mapping
 * up before a concurrent migration registered a piece of it must still find
 * its range inside one mapping.  So uhmm_vma_lookup() and migrate_vma_setup()
 * see adjacent vmas that look alike from here (same permissions, page size
 * and backing, file offsets contiguous: they may differ in userfaultfd
 * registration or madvise state) as one mapping, vma_mapping() and
 * vma_mapping_to().  The rest of
 * lib/mm, which registers and walks what is there, sees the kernel's vmas.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
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

static int have_query = 1;	/* 0 once PROCMAP_QUERY was refused */

static int maps_open(void)
{
	int fd = __atomic_load_n(&init_mm.maps_fd, __ATOMIC_ACQUIRE);

	if (fd >= 0)
		return fd;
	pthread_mutex_lock(&init_mm.maps_lock);
	if (init_mm.maps_fd < 0)
		__atomic_store_n(&init_mm.maps_fd, open("/proc/self/maps", O_RDONLY | O_CLOEXEC),
				 __ATOMIC_RELEASE);
	fd = init_mm.maps_fd;
	pthread_mutex_unlock(&init_mm.maps_lock);
	return fd;
}

/* One vma of the kernel's, with what decides whether it continues its neighbour. */
struct kvma {
	struct vma_info vma;
	unsigned long pgoff;	/* byte offset in the file */
	unsigned long inode;
	unsigned int dev;
};

/* @b starts where @a ends and is the same mapping, but for userfaultfd. */
static bool kvma_continues(const struct kvma *a, const struct kvma *b)
{
	if (a->vma.end != b->vma.start || a->vma.flags != b->vma.flags ||
	    a->vma.page_size != b->vma.page_size || a->inode != b->inode || a->dev != b->dev)
		return false;
	return !a->inode || b->pgoff == a->pgoff + (a->vma.end - a->vma.start);
}

/* PROCMAP_QUERY: the vma holding @addr (or, with PQ_COVERING_OR_NEXT, above it). */
static int query_kvma(int fd, unsigned long addr, uint64_t qflags, struct kvma *k)
{
	struct uhmm_procmap_query q;

	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = addr;
	q.query_flags = qflags;
	if (ioctl(fd, UHMM_PROCMAP_QUERY, &q))
		return -errno;
	k->vma.start = q.vma_start;
	k->vma.end = q.vma_end;
	k->vma.page_size = q.vma_page_size ? q.vma_page_size : UHMM_PAGE_SIZE;
	k->vma.flags = (q.vma_flags & PQ_READABLE ? UHMM_VM_READ : 0) |
		       (q.vma_flags & PQ_WRITABLE ? UHMM_VM_WRITE : 0) |
		       (q.vma_flags & PQ_EXECUTABLE ? UHMM_VM_EXEC : 0) |
		       (q.vma_flags & PQ_SHARED ? UHMM_VM_SHARED : 0) |
		       (q.inode ? UHMM_VM_FILE : 0);
	k->pgoff = q.vma_offset;
	k->inode = q.inode;
	k->dev = q.dev_major << 20 | q.dev_minor;
	return 0;
}

/*
 * How far a lookup joins the vma it finds with the other pieces of its
 * mapping: JOIN_NONE, the kernel's vma; JOIN_ALL, the whole mapping; any
 * other address, forward only and only until the mapping reaches it (what
 * migrate_vma_setup() needs, at one query when the range is in one vma).
 */
#define JOIN_NONE	0UL
#define JOIN_ALL	ULONG_MAX

/*
 * The mapping at (or, if @next, above) @addr through PROCMAP_QUERY: the vma
 * found, grown over the neighbours it continues, as far as @join says.
 * Each neighbour is asked for on its own, so a registration racing the
 * walk moves a boundary between two pieces of one mapping, never the
 * mapping's own ends.
 */
static int query_mapping(int fd, unsigned long addr, bool next, unsigned long join,
			 struct vma_info *vma)
{
	struct kvma k, n;
	int ret;

	ret = query_kvma(fd, addr, next ? PQ_COVERING_OR_NEXT : 0, &k);
	if (ret || join == JOIN_NONE) {
		*vma = k.vma;
		return ret;
	}
	/* k.pgoff stays the offset of k's first piece, as kvma_continues() wants. */
	while (k.vma.end < join && !query_kvma(fd, k.vma.end, 0, &n) && kvma_continues(&k, &n))
		k.vma.end = n.vma.end;
	while (join == JOIN_ALL && k.vma.start && !query_kvma(fd, k.vma.start - 1, 0, &n) &&
	       kvma_continues(&n, &k)) {
		k.vma.start = n.vma.start;
		k.pgoff = n.pgoff;
	}
	*vma = k.vma;
	return 0;
}

/*
 * /proc/self/maps, for kernels before 6.11: the mapping at (or, if @next,
 * above) @addr, its vmas joined as query_mapping() joins them, in one pass
 * (and so all of it, both ways, unless @join is JOIN_NONE).
 */
static int parse_mapping(unsigned long addr, bool next, unsigned long join,
			 struct vma_info *vma)
{
	char line[512], perms[8];
	unsigned long s, e, pgoff, inode;
	unsigned int major, minor;
	struct kvma run = { 0 }, k;
	bool found = false, have_run = false;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &s, &e, perms, &pgoff, &major,
			   &minor, &inode) != 7)
			continue;
		k.vma.start = s;
		k.vma.end = e;
		k.vma.page_size = UHMM_PAGE_SIZE;
		k.vma.flags = (perms[0] == 'r' ? UHMM_VM_READ : 0) |
			      (perms[1] == 'w' ? UHMM_VM_WRITE : 0) |
			      (perms[2] == 'x' ? UHMM_VM_EXEC : 0) |
			      (perms[3] == 's' ? UHMM_VM_SHARED : 0) |
			      (inode ? UHMM_VM_FILE : 0);
		k.pgoff = pgoff;
		k.inode = inode;
		k.dev = major << 20 | minor;
		if (join != JOIN_NONE && have_run && kvma_continues(&run, &k)) {
			run.vma.end = k.vma.end;	/* run.pgoff: its first piece's */
		} else if (found) {
			break;
		} else {
			run = k;
			have_run = true;
		}
		if (!found && addr < run.vma.end && (next || run.vma.start <= addr))
			found = true;
	}
	fclose(f);
	if (!found)
		return -ENOENT;
	*vma = run.vma;
	return 0;
}

/*
 * The vma at (or, if @next, above) @addr, joined with the pieces of its
 * mapping as @join says: PROCMAP_QUERY, or /proc/self/maps.
 */
static int mapping_lookup(unsigned long addr, bool next, unsigned long join,
			  struct vma_info *vma)
{
	int fd, ret;

	if (__atomic_load_n(&have_query, __ATOMIC_RELAXED) != 0) {
		fd = maps_open();
		if (fd >= 0) {
			ret = query_mapping(fd, addr, next, join, vma);
			if (ret != -ENOTTY && ret != -EINVAL)
				return ret;
		}
		__atomic_store_n(&have_query, 0, __ATOMIC_RELAXED);
	}
	return parse_mapping(addr, next, join, vma);
}

int vma_find(unsigned long addr, struct vma_info *vma)
{
	return mapping_lookup(addr, true, JOIN_NONE, vma);
}

int vma_mapping(unsigned long addr, struct vma_info *vma)
{
	return mapping_lookup(addr, false, JOIN_ALL, vma);
}

int vma_mapping_to(unsigned long addr, unsigned long end, struct vma_info *vma)
{
	return mapping_lookup(addr, false, end > JOIN_NONE ? end : JOIN_ALL, vma);
}

int vma_lookup_flags(unsigned long addr, unsigned long *start, unsigned long *end,
		     unsigned long *flags)
{
	struct vma_info vma = { 0 };
	int ret = mapping_lookup(addr, false, JOIN_NONE, &vma);

	if (!ret) {
		*start = vma.start;
		*end = vma.end;
		*flags = vma.flags;
	}
	return ret;
}

UHMM_EXPORT int uhmm_vma_lookup(unsigned long addr, struct uhmm_vma *vma)
{
	struct vma_info v;
	int ret;

	if (!vma)
		return -EINVAL;
	ret = vma_mapping(addr, &v);
	if (!ret) {
		vma->start = v.start;
		vma->end = v.end;
		vma->flags = v.flags;
	}
	return ret;
}

/* For tests: read /proc/self/maps as on kernels before 6.11 (false), or not. */
void vma_use_procmap_query(bool use)
{
	__atomic_store_n(&have_query, use, __ATOMIC_RELAXED);
}

/* An open /proc/self/maps names the process that opened it: a child reopens. */
void vma_fork_child(void)
{
	pthread_mutex_init(&init_mm.maps_lock, NULL);
	if (init_mm.maps_fd >= 0)
		close(init_mm.maps_fd);
	init_mm.maps_fd = -1;
}
