// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The resource tree: uhmm's iomem.  Children of a node are kept sorted by
 * start and never overlap each other; a child lies inside its parent.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uhmm/device.h>
#include <uhmm/resource.h>

#include "internal.h"

#define MAX_PHYSMEM_BITS	46
/* Set on resources uhmm allocated, so release frees them. */
#define IORESOURCE_UHMM_OWNED	(1UL << 40)

static struct uhmm_resource iomem_root = {
	.start = 0,
	.end = (UINT64_C(1) << MAX_PHYSMEM_BITS) - 1,
	.name = "PCI mem",
	.flags = UHMM_IORESOURCE_MEM,
};
static struct uhmm_resource system_ram = {
	.name = "System RAM",
	.flags = UHMM_IORESOURCE_SYSTEM_RAM | UHMM_IORESOURCE_BUSY,
};
static pthread_rwlock_t resource_lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_once_t iomem_once = PTHREAD_ONCE_INIT;

static int request_resource_locked(struct uhmm_resource *root, struct uhmm_resource *res,
				   struct uhmm_resource **conflict);

static void iomem_init(void)
{
	long pages = sysconf(_SC_PHYS_PAGES);
	long page_size = sysconf(_SC_PAGESIZE);
	uint64_t bytes = (pages > 0 && page_size > 0) ? (uint64_t)pages * page_size : 1ULL << 30;

	system_ram.start = 0;
	system_ram.end = ALIGN_DOWN(bytes, (uint64_t)page_size) - 1;
	request_resource_locked(&iomem_root, &system_ram, NULL);
}

static void iomem_ready(void)
{
	pthread_once(&iomem_once, iomem_init);
}

UHMM_EXPORT struct uhmm_resource *uhmm_iomem_resource(void)
{
	iomem_ready();
	return &iomem_root;
}

UHMM_EXPORT uint64_t uhmm_system_ram_size(void)
{
	iomem_ready();
	return system_ram.end - system_ram.start + 1;
}

static bool overlaps(const struct uhmm_resource *r, uint64_t start, uint64_t end)
{
	return r->start <= end && start <= r->end;
}

/*
 * Link @res among @root's children.  Return 0, or -EBUSY with *@conflict set
 * to the overlapping child (or to @root if @res does not fit inside it).
 */
static int request_resource_locked(struct uhmm_resource *root, struct uhmm_resource *res,
				   struct uhmm_resource **conflict)
{
	struct uhmm_resource **p = &root->child, *tmp;

	if (res->start < root->start || res->end > root->end) {
		if (conflict)
			*conflict = root;
		return -EBUSY;
	}
	for (;;) {
		tmp = *p;
		if (!tmp || tmp->start > res->end) {
			res->sibling = tmp;
			res->child = NULL;
			res->parent = root;
			*p = res;
			return 0;
		}
		if (tmp->end >= res->start) {
			if (conflict)
				*conflict = tmp;
			return -EBUSY;
		}
		p = &tmp->sibling;
	}
}

static void unlink_resource_locked(struct uhmm_resource *res)
{
	struct uhmm_resource **p = &res->parent->child;

	while (*p != res)
		p = &(*p)->sibling;
	*p = res->sibling;
	res->parent = NULL;
	res->sibling = NULL;
}

static void free_resource(struct uhmm_resource *res)
{
	if (res->flags & IORESOURCE_UHMM_OWNED)
		free(res);
}

/* Claim a busy region under @parent, descending into non-busy resources. */
static int request_region_locked(struct uhmm_resource *parent, struct uhmm_resource *res)
{
	struct uhmm_resource *conflict;

	while (request_resource_locked(parent, res, &conflict)) {
		if (conflict == parent || (conflict->flags & UHMM_IORESOURCE_BUSY))
			return -EBUSY;
		parent = conflict;
	}
	return 0;
}

static struct uhmm_resource *alloc_region(uint64_t start, uint64_t n, const char *name,
					  unsigned long desc)
{
	size_t len = strlen(name ? name : "");
	struct uhmm_resource *res = calloc(1, sizeof(*res) + len + 1);

	if (!res)
		return NULL;
	memcpy((char *)(res + 1), name ? name : "", len + 1);
	res->name = (const char *)(res + 1);
	res->start = start;
	res->end = start + n - 1;
	res->flags = UHMM_IORESOURCE_MEM | UHMM_IORESOURCE_BUSY | IORESOURCE_UHMM_OWNED;
	res->desc = desc;
	return res;
}

static bool range_ok(uint64_t start, uint64_t n)
{
	return n && start + n - 1 >= start;
}

UHMM_EXPORT struct uhmm_resource *uhmm_request_mem_region(uint64_t start, uint64_t n,
							  const char *name)
{
	struct uhmm_resource *res;
	int ret;

	iomem_ready();
	if (!range_ok(start, n) || start + n - 1 > iomem_root.end) {
		errno = EINVAL;
		return NULL;
	}
	res = alloc_region(start, n, name, UHMM_IORES_DESC_NONE);
	if (!res) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_rwlock_wrlock(&resource_lock);
	ret = request_region_locked(&iomem_root, res);
	pthread_rwlock_unlock(&resource_lock);
	if (ret) {
		free(res);
		errno = -ret;
		return NULL;
	}
	return res;
}

UHMM_EXPORT int uhmm_release_mem_region(uint64_t start, uint64_t n)
{
	uint64_t end = start + n - 1;
	struct uhmm_resource *res = NULL, *p;

	iomem_ready();
	pthread_rwlock_wrlock(&resource_lock);
	p = range_ok(start, n) ? iomem_root.child : NULL;
	while (p) {
		if (p->start <= start && p->end >= end) {
			if (!(p->flags & UHMM_IORESOURCE_BUSY)) {
				p = p->child;
				continue;
			}
			if (p->start == start && p->end == end && p != &system_ram)
				res = p;
			break;
		}
		p = p->sibling;
	}
	if (res)
		unlink_resource_locked(res);
	pthread_rwlock_unlock(&resource_lock);

	if (!res) {
		pr_warn("Trying to free nonexistent resource <%#" PRIx64 "-%#" PRIx64 ">",
			start, end);
		return -ENOENT;
	}
	free_resource(res);
	return 0;
}

UHMM_EXPORT int uhmm_request_resource(struct uhmm_resource *root, struct uhmm_resource *res)
{
	int ret;

	if (!root || !res || res->end < res->start)
		return -EINVAL;
	iomem_ready();
	res->flags &= ~IORESOURCE_UHMM_OWNED;
	pthread_rwlock_wrlock(&resource_lock);
	ret = request_resource_locked(root, res, NULL);
	pthread_rwlock_unlock(&resource_lock);
	return ret;
}

UHMM_EXPORT int uhmm_release_resource(struct uhmm_resource *res)
{
	int ret = -EINVAL;

	if (!res)
		return -EINVAL;
	pthread_rwlock_wrlock(&resource_lock);
	if (res->parent && res != &system_ram) {
		unlink_resource_locked(res);
		ret = 0;
	}
	pthread_rwlock_unlock(&resource_lock);
	return ret;
}

static bool type_match(const struct uhmm_resource *r, unsigned long flags, unsigned long desc)
{
	return (r->flags & flags) == flags &&
	       (desc == UHMM_IORES_DESC_NONE || desc == r->desc);
}

/*
 * Bytes of [start, end] covered by @r's descendants that match: the kernel
 * counts a non-matching resource as matching where matching descendants
 * cover it.
 */
static uint64_t matched_below(const struct uhmm_resource *r, uint64_t start, uint64_t end,
			      unsigned long flags, unsigned long desc)
{
	const struct uhmm_resource *c;
	uint64_t covered = 0;

	for (c = r->child; c; c = c->sibling) {
		uint64_t s, e;

		if (!overlaps(c, start, end))
			continue;
		s = c->start > start ? c->start : start;
		e = c->end < end ? c->end : end;
		if (type_match(c, flags, desc))
			covered += e - s + 1;
		else
			covered += matched_below(c, s, e, flags, desc);
	}
	return covered;
}

UHMM_EXPORT int uhmm_region_intersects(uint64_t start, uint64_t size, unsigned long flags,
				       unsigned long desc)
{
	uint64_t end = start + size - 1;
	const struct uhmm_resource *p;
	int type = 0, other = 0;

	if (!range_ok(start, size))
		return -EINVAL;
	iomem_ready();
	pthread_rwlock_rdlock(&resource_lock);
	for (p = iomem_root.child; p; p = p->sibling) {
		uint64_t s, e, covered;

		if (!overlaps(p, start, end))
			continue;
		if (type_match(p, flags, desc)) {
			type++;
			continue;
		}
		s = p->start > start ? p->start : start;
		e = p->end < end ? p->end : end;
		covered = matched_below(p, s, e, flags, desc);
		if (covered)
			type++;
		if (covered != e - s + 1)
			other++;
	}
	pthread_rwlock_unlock(&resource_lock);

	if (!type)
		return UHMM_REGION_DISJOINT;
	return other ? UHMM_REGION_MIXED : UHMM_REGION_INTERSECTS;
}

UHMM_EXPORT struct uhmm_resource *uhmm_request_free_mem_region(struct uhmm_resource *base,
							       uint64_t size,
							       const char *name)
{
	const uint64_t align = UHMM_GFR_DEFAULT_ALIGN;
	struct uhmm_resource *res;
	uint64_t addr;

	iomem_ready();
	if (!base || !size) {
		errno = EINVAL;
		return NULL;
	}
	if (size > base->end - base->start + 1 || base->end + 1 < size) {
		errno = ERANGE;
		return NULL;
	}
	res = alloc_region(0, size, name, UHMM_IORES_DESC_DEVICE_PRIVATE_MEMORY);
	if (!res) {
		errno = ENOMEM;
		return NULL;
	}

	pthread_rwlock_wrlock(&resource_lock);
	for (addr = ALIGN_DOWN(base->end - size + 1, align);
	     addr >= base->start && addr + size - 1 <= base->end;
	     addr -= align) {
		res->start = addr;
		res->end = addr + size - 1;
		/* Like the kernel, only a range that overlaps nothing is taken. */
		if (!request_resource_locked(base, res, NULL)) {
			pthread_rwlock_unlock(&resource_lock);
			return res;
		}
		if (addr < align)
			break;
	}
	pthread_rwlock_unlock(&resource_lock);
	free(res);
	errno = ERANGE;
	return NULL;
}

static void devm_region_release(void *arg)
{
	struct uhmm_resource *res = arg;

	uhmm_release_mem_region(res->start, res->end - res->start + 1);
}

UHMM_EXPORT struct uhmm_resource *uhmm_devm_request_free_mem_region(struct uhmm_device *dev,
								    struct uhmm_resource *base,
								    uint64_t size)
{
	struct uhmm_resource *res;
	int ret;

	if (!dev) {
		errno = EINVAL;
		return NULL;
	}
	res = uhmm_request_free_mem_region(base, size, uhmm_dev_name(dev));
	if (!res)
		return NULL;
	ret = uhmm_devm_add_action_or_reset(dev, devm_region_release, res);
	if (ret) {
		errno = -ret;
		return NULL;
	}
	return res;
}

static int print_level(FILE *out, const struct uhmm_resource *r, int depth)
{
	for (; r; r = r->sibling) {
		if (fprintf(out, "%*s%08" PRIx64 "-%08" PRIx64 " : %s\n", depth * 2, "",
			    r->start, r->end, r->name ? r->name : "<BAD>") < 0)
			return -EIO;
		if (r->child && print_level(out, r->child, depth + 1))
			return -EIO;
	}
	return 0;
}

UHMM_EXPORT int uhmm_iomem_print(FILE *out)
{
	int ret;

	if (!out)
		return -EINVAL;
	iomem_ready();
	pthread_rwlock_rdlock(&resource_lock);
	ret = print_level(out, iomem_root.child, 0);
	pthread_rwlock_unlock(&resource_lock);
	return ret;
}
