// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The smallest user of an installed libuhmm: map 1 GiB of device-private
 * memory, look a page up, unmap.  Built in the tree (examples/meson.build)
 * and by tests/install-check against the installed library.
 */
#include <stdio.h>

#include <uhmm/uhmm.h>

static void page_free(struct uhmm_page *page)
{
	(void)page;
}

static uhmm_vm_fault_t migrate_to_ram(struct uhmm_vm_fault *vmf)
{
	(void)vmf;
	return UHMM_VM_FAULT_SIGBUS;
}

static const struct uhmm_dev_pagemap_ops ops = {
	.page_free = page_free,
	.migrate_to_ram = migrate_to_ram,
};

int main(void)
{
	struct uhmm_resource *res;
	struct uhmm_dev_pagemap pgmap = { 0 };
	struct uhmm_page *page;
	int ret;

	res = uhmm_request_free_mem_region(uhmm_iomem_resource(), 1UL << 30, "hello");
	if (!res)
		return 1;
	pgmap.type = UHMM_MEMORY_DEVICE_PRIVATE;
	pgmap.range.start = res->start;
	pgmap.range.end = res->end;
	pgmap.nr_range = 1;
	pgmap.ops = &ops;
	pgmap.owner = &pgmap;
	ret = uhmm_memremap_pages(&pgmap);
	if (ret)
		return 1;
	page = uhmm_pfn_to_page(UHMM_PHYS_PFN(res->start) + 42);
	printf("pfn %#lx has its page, refcount %d\n", uhmm_page_to_pfn(page),
	       uhmm_page_ref_count(page));
	uhmm_memunmap_pages(&pgmap);
	return uhmm_release_mem_region(res->start, 1UL << 30) ? 1 : 0;
}
