/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uhmm's physical address space: a resource tree with the kernel's rules.
 *
 * The root, uhmm_iomem_resource(), spans 2^46 bytes (x86-64's
 * MAX_PHYSMEM_BITS).  At first use a busy "System RAM" resource is inserted
 * at address 0, sized to the host's memory, so device ranges live above it.
 * All functions take the tree's lock themselves.
 */
#ifndef UHMM_RESOURCE_H
#define UHMM_RESOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uhmm_device;

/**
 * struct uhmm_resource - one node of the tree
 * @start: first byte
 * @end: last byte (inclusive)
 * @name: shown in the iomem view
 * @flags: UHMM_IORESOURCE_* bits
 * @desc: a UHMM_IORES_DESC_* value
 * @parent, @sibling, @child: the tree's links, maintained by uhmm
 */
struct uhmm_resource {
	uint64_t start;
	uint64_t end;
	const char *name;
	unsigned long flags;
	unsigned long desc;
	struct uhmm_resource *parent, *sibling, *child;
};

#define UHMM_IORESOURCE_MEM		0x00000200UL
#define UHMM_IORESOURCE_SYSRAM		0x01000000UL
#define UHMM_IORESOURCE_BUSY		0x80000000UL
#define UHMM_IORESOURCE_SYSTEM_RAM	(UHMM_IORESOURCE_MEM | UHMM_IORESOURCE_SYSRAM)

enum {
	UHMM_IORES_DESC_NONE = 0,
	UHMM_IORES_DESC_PERSISTENT_MEMORY = 4,
	UHMM_IORES_DESC_DEVICE_PRIVATE_MEMORY = 6,
	UHMM_IORES_DESC_RESERVED = 7,
	UHMM_IORES_DESC_SOFT_RESERVED = 8,
};

/* Results of uhmm_region_intersects(), with the kernel's values. */
enum {
	UHMM_REGION_INTERSECTS = 0,
	UHMM_REGION_DISJOINT = 1,
	UHMM_REGION_MIXED = 2,
};

/* request_free_mem_region()'s alignment: a memory section, 128 MiB on x86-64. */
#define UHMM_GFR_DEFAULT_ALIGN	(UINT64_C(1) << 27)

/** uhmm_iomem_resource() - the root of the tree */
struct uhmm_resource *uhmm_iomem_resource(void);

/** uhmm_system_ram_size() - bytes covered by the "System RAM" resource */
uint64_t uhmm_system_ram_size(void);

/**
 * uhmm_request_mem_region() - claim [@start, @start + @n) as a busy region
 * @name: copied
 *
 * Nests inside a non-busy resource that covers it; refuses to overlap a busy
 * one.  Return: the new resource, or NULL with errno EINVAL (@n is 0, the
 * range wraps or leaves the root), EBUSY (conflict) or ENOMEM.
 */
struct uhmm_resource *uhmm_request_mem_region(uint64_t start, uint64_t n, const char *name);

/**
 * uhmm_release_mem_region() - release a region claimed by uhmm_request_mem_region()
 * or uhmm_request_free_mem_region(); @start and @n must match it exactly.
 * Return: 0, or -ENOENT (with the kernel's "Trying to free nonexistent
 * resource" message) if there is no such busy region.
 */
int uhmm_release_mem_region(uint64_t start, uint64_t n);

/**
 * uhmm_request_resource() - insert a caller-owned resource under @root
 * Return: 0, -EINVAL (bad arguments), -EBUSY (it overlaps a child of @root).
 */
int uhmm_request_resource(struct uhmm_resource *root, struct uhmm_resource *res);

/**
 * uhmm_release_resource() - take a resource inserted by uhmm_request_resource() out
 * Return: 0, or -EINVAL if it is not in the tree.  Its children go with it.
 */
int uhmm_release_resource(struct uhmm_resource *res);

/**
 * uhmm_region_intersects() - how [@start, @start + @size) meets resources of a type
 * @flags: flags a resource must all have to match (0 matches any)
 * @desc: a descriptor it must have, or UHMM_IORES_DESC_NONE for any
 *
 * Return: UHMM_REGION_DISJOINT if no matching resource overlaps the range,
 * UHMM_REGION_INTERSECTS if only matching ones do, UHMM_REGION_MIXED if
 * others overlap it too; -EINVAL if @size is 0 or the range wraps.
 */
int uhmm_region_intersects(uint64_t start, uint64_t size, unsigned long flags,
			   unsigned long desc);

/**
 * uhmm_request_free_mem_region() - find and claim an unused range for device memory
 * @base: the resource to search under (usually uhmm_iomem_resource())
 * @size: bytes
 * @name: copied
 *
 * Searches downward from the top of @base in steps of
 * UHMM_GFR_DEFAULT_ALIGN, as the kernel does, and claims the first range
 * that overlaps nothing, with desc UHMM_IORES_DESC_DEVICE_PRIVATE_MEMORY.
 * Return: the resource, or NULL with errno EINVAL or ERANGE (no room).
 */
struct uhmm_resource *uhmm_request_free_mem_region(struct uhmm_resource *base,
						   uint64_t size, const char *name);

/**
 * uhmm_devm_request_free_mem_region() - uhmm_request_free_mem_region() named
 * after @dev and released when @dev is unbound
 */
struct uhmm_resource *uhmm_devm_request_free_mem_region(struct uhmm_device *dev,
							struct uhmm_resource *base,
							uint64_t size);

/**
 * uhmm_iomem_print() - write the tree in /proc/iomem's format
 * Return: 0, or -EIO if writing failed.
 */
int uhmm_iomem_print(FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* UHMM_RESOURCE_H */
