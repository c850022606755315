// SPDX-License-Identifier: LGPL-2.1-or-later
/* The resource tree: requests, nesting, conflicts, region_intersects, gfr. */
#include <stdio.h>

#include <uhmm/device.h>
#include <uhmm/log.h>
#include <uhmm/resource.h>

#include "harness.h"

#define GiB (UINT64_C(1) << 30)
#define MiB (UINT64_C(1) << 20)

static uint64_t ram_end(void)
{
	return uhmm_system_ram_size() - 1;
}

TEST(system_ram_covers_host_memory)
{
	struct uhmm_resource *root = uhmm_iomem_resource();
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	ASSERT_EQ(uhmm_system_ram_size(), (uint64_t)pages * psz);
	ASSERT_NONNULL(root->child);
	ASSERT_STREQ(root->child->name, "System RAM");
	ASSERT_EQ(root->child->start, 0);
	ASSERT_EQ(root->end, (UINT64_C(1) << 46) - 1);
	ASSERT_EQ(uhmm_region_intersects(0, 4096, UHMM_IORESOURCE_SYSTEM_RAM,
					 UHMM_IORES_DESC_NONE), UHMM_REGION_INTERSECTS);
}

TEST(region_intersects_disjoint_intersects_mixed)
{
	uint64_t top = ram_end() + 1;
	struct uhmm_resource *dev = uhmm_request_mem_region(top + GiB, GiB, "dev");

	ASSERT_NONNULL(dev);
	/* Above RAM, nothing of type RAM. */
	ASSERT_EQ(uhmm_region_intersects(top + GiB, GiB, UHMM_IORESOURCE_SYSTEM_RAM, 0),
		  UHMM_REGION_DISJOINT);
	/* Straddling the end of RAM into unclaimed space: only RAM overlaps. */
	ASSERT_EQ(uhmm_region_intersects(top - MiB, 2 * MiB, UHMM_IORESOURCE_SYSTEM_RAM, 0),
		  UHMM_REGION_INTERSECTS);
	/* RAM and the device region together: mixed. */
	ASSERT_EQ(uhmm_region_intersects(top - MiB, 2 * GiB, UHMM_IORESOURCE_SYSTEM_RAM, 0),
		  UHMM_REGION_MIXED);
	/* desc matching. */
	ASSERT_EQ(uhmm_region_intersects(top + GiB, MiB, UHMM_IORESOURCE_MEM,
					 UHMM_IORES_DESC_DEVICE_PRIVATE_MEMORY),
		  UHMM_REGION_DISJOINT);
	ASSERT_EQ(uhmm_region_intersects(top + GiB, MiB, UHMM_IORESOURCE_MEM, 0),
		  UHMM_REGION_INTERSECTS);
	ASSERT_EQ(uhmm_region_intersects(0, 0, 0, 0), -EINVAL);
	ASSERT_EQ(uhmm_region_intersects(UINT64_MAX - 10, 100, 0, 0), -EINVAL);
	ASSERT_EQ(uhmm_release_mem_region(top + GiB, GiB), 0);
}

TEST(request_conflicts_and_nesting)
{
	uint64_t base = ram_end() + 1 + 4 * GiB;
	struct uhmm_resource window = {
		.start = base, .end = base + GiB - 1, .name = "window", .flags = UHMM_IORESOURCE_MEM,
	};
	struct uhmm_resource *a, *b;

	uhmm_set_log_level(0);
	/* Overlapping System RAM (busy) is refused. */
	errno = 0;
	ASSERT_NULL(uhmm_request_mem_region(0, 4096, "x"));
	ASSERT_EQ(errno, EBUSY);
	/* A non-busy window: requests nest inside it. */
	ASSERT_EQ(uhmm_request_resource(uhmm_iomem_resource(), &window), 0);
	ASSERT_EQ(uhmm_request_resource(uhmm_iomem_resource(), &window), -EBUSY);
	a = uhmm_request_mem_region(base, MiB, "a");
	ASSERT_NONNULL(a);
	ASSERT_TRUE(a->parent == &window);
	/* Busy: another request overlapping a is refused. */
	errno = 0;
	ASSERT_NULL(uhmm_request_mem_region(base + 4096, MiB, "b"));
	ASSERT_EQ(errno, EBUSY);
	/* Partly outside the window: refused. */
	errno = 0;
	ASSERT_NULL(uhmm_request_mem_region(base + GiB - MiB, 2 * MiB, "c"));
	ASSERT_EQ(errno, EBUSY);
	b = uhmm_request_mem_region(base + MiB, MiB, "b");
	ASSERT_NONNULL(b);
	ASSERT_TRUE(a->sibling == b);
	/* Releases must match a busy region exactly. */
	ASSERT_EQ(uhmm_release_mem_region(base, 2 * MiB), -ENOENT);
	ASSERT_EQ(uhmm_release_mem_region(base, MiB), 0);
	ASSERT_EQ(uhmm_release_mem_region(base, MiB), -ENOENT);
	ASSERT_EQ(uhmm_release_mem_region(base + MiB, MiB), 0);
	ASSERT_EQ(uhmm_release_resource(&window), 0);
	ASSERT_EQ(uhmm_release_resource(&window), -EINVAL);
	/* System RAM cannot be released. */
	ASSERT_EQ(uhmm_release_mem_region(0, uhmm_system_ram_size()), -ENOENT);
	ASSERT_EQ(uhmm_release_resource(uhmm_iomem_resource()->child), -EINVAL);
}

TEST(request_validates_arguments)
{
	errno = 0;
	ASSERT_NULL(uhmm_request_mem_region(ram_end() + 1, 0, "zero"));
	ASSERT_EQ(errno, EINVAL);
	errno = 0;
	ASSERT_NULL(uhmm_request_mem_region(UINT64_MAX - 4095, 8192, "wrap"));
	ASSERT_EQ(errno, EINVAL);
	errno = 0;
	ASSERT_NULL(uhmm_request_mem_region(UINT64_C(1) << 46, 4096, "beyond"));
	ASSERT_EQ(errno, EINVAL);
	ASSERT_EQ(uhmm_request_resource(NULL, NULL), -EINVAL);
	ASSERT_EQ(uhmm_release_resource(NULL), -EINVAL);
	ASSERT_EQ(uhmm_iomem_print(NULL), -EINVAL);
}

TEST(request_free_mem_region_goes_top_down_aligned)
{
	struct uhmm_resource *root = uhmm_iomem_resource();
	struct uhmm_resource *a, *b;
	uint64_t align = UHMM_GFR_DEFAULT_ALIGN;

	a = uhmm_request_free_mem_region(root, GiB, "a");
	ASSERT_NONNULL(a);
	ASSERT_EQ(a->end, root->end);
	ASSERT_EQ(a->start % align, 0);
	ASSERT_EQ(a->desc, UHMM_IORES_DESC_DEVICE_PRIVATE_MEMORY);
	ASSERT_STREQ(a->name, "a");
	/* Not a multiple of the alignment: the next range starts aligned below a. */
	b = uhmm_request_free_mem_region(root, 3 * MiB, "b");
	ASSERT_NONNULL(b);
	ASSERT_EQ(b->start % align, 0);
	ASSERT_LT(b->end, a->start);
	ASSERT_GT(b->start, ram_end());
	ASSERT_EQ(uhmm_region_intersects(b->start, 3 * MiB, UHMM_IORESOURCE_SYSTEM_RAM, 0),
		  UHMM_REGION_DISJOINT);
	ASSERT_EQ(uhmm_release_mem_region(a->start, GiB), 0);
	ASSERT_EQ(uhmm_release_mem_region(b->start, 3 * MiB), 0);
}

TEST(request_free_mem_region_errors)
{
	struct uhmm_resource *root = uhmm_iomem_resource();
	uint64_t free_bytes = root->end + 1 - uhmm_system_ram_size();

	errno = 0;
	ASSERT_NULL(uhmm_request_free_mem_region(NULL, GiB, "x"));
	ASSERT_EQ(errno, EINVAL);
	errno = 0;
	ASSERT_NULL(uhmm_request_free_mem_region(root, 0, "x"));
	ASSERT_EQ(errno, EINVAL);
	errno = 0;
	ASSERT_NULL(uhmm_request_free_mem_region(root, UINT64_C(1) << 47, "x"));
	ASSERT_EQ(errno, ERANGE);
	/* More than what lies above RAM: no room. */
	errno = 0;
	ASSERT_NULL(uhmm_request_free_mem_region(root, free_bytes + GiB, "x"));
	ASSERT_EQ(errno, ERANGE);
}

TEST(devm_region_is_released_at_unbind)
{
	struct uhmm_device *dev = uhmm_device_create("gfr0");
	struct uhmm_resource *res;
	uint64_t start;

	res = uhmm_devm_request_free_mem_region(dev, uhmm_iomem_resource(), GiB);
	ASSERT_NONNULL(res);
	ASSERT_STREQ(res->name, "gfr0");
	start = res->start;
	ASSERT_EQ(uhmm_region_intersects(start, GiB, UHMM_IORESOURCE_MEM, 0),
		  UHMM_REGION_INTERSECTS);
	uhmm_device_put(dev);
	ASSERT_EQ(uhmm_region_intersects(start, GiB, UHMM_IORESOURCE_MEM, 0),
		  UHMM_REGION_DISJOINT);
	errno = 0;
	ASSERT_NULL(uhmm_devm_request_free_mem_region(NULL, uhmm_iomem_resource(), GiB));
	ASSERT_EQ(errno, EINVAL);
}

TEST(iomem_print_matches_proc_iomem_format)
{
	uint64_t base = ram_end() + 1 + 8 * GiB;
	struct uhmm_resource window = {
		.start = base, .end = base + GiB - 1, .name = "window", .flags = UHMM_IORESOURCE_MEM,
	};
	char *buf = NULL, expect[256];
	size_t len = 0;
	FILE *f;

	ASSERT_EQ(uhmm_request_resource(uhmm_iomem_resource(), &window), 0);
	ASSERT_NONNULL(uhmm_request_mem_region(base + MiB, MiB, "child"));
	f = open_memstream(&buf, &len);
	ASSERT_EQ(uhmm_iomem_print(f), 0);
	fclose(f);
	snprintf(expect, sizeof(expect),
		 "00000000-%08lx : System RAM\n%08lx-%08lx : window\n  %08lx-%08lx : child\n",
		 (unsigned long)ram_end(), (unsigned long)base, (unsigned long)(base + GiB - 1),
		 (unsigned long)(base + MiB), (unsigned long)(base + 2 * MiB - 1));
	ASSERT_STREQ(buf, expect);
	free(buf);
	ASSERT_EQ(uhmm_release_mem_region(base + MiB, MiB), 0);
	ASSERT_EQ(uhmm_release_resource(&window), 0);
}
