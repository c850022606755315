// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A driver module: its probe maps device-private memory.  While a device is
 * bound to its driver (and so its pgmap mapped), the module cannot go.
 */
#include <errno.h>

#include <uhmm/device.h>
#include <uhmm/memremap.h>
#include <uhmm/module.h>
#include <uhmm/resource.h>

static void drvmod_page_free(struct uhmm_page *page)
{
	(void)page;
}

static uhmm_vm_fault_t drvmod_migrate_to_ram(struct uhmm_vm_fault *vmf)
{
	(void)vmf;
	return UHMM_VM_FAULT_SIGBUS;
}

static const struct uhmm_dev_pagemap_ops drvmod_ops = {
	.page_free = drvmod_page_free,
	.migrate_to_ram = drvmod_migrate_to_ram,
};

static int drvmod_probe(struct uhmm_device *dev)
{
	struct uhmm_dev_pagemap *pgmap = uhmm_devm_kzalloc(dev, sizeof(*pgmap));
	struct uhmm_resource *res;

	if (!pgmap)
		return -ENOMEM;
	res = uhmm_devm_request_free_mem_region(dev, uhmm_iomem_resource(), 64UL << 20);
	if (!res)
		return -errno;
	pgmap->type = UHMM_MEMORY_DEVICE_PRIVATE;
	pgmap->range.start = res->start;
	pgmap->range.end = res->end;
	pgmap->nr_range = 1;
	pgmap->ops = &drvmod_ops;
	pgmap->owner = pgmap;
	return uhmm_devm_memremap_pages(dev, pgmap);
}

static const struct uhmm_driver drvmod_driver = {
	.name = "drvmod",
	.probe = drvmod_probe,
};

int drvmod_bind(struct uhmm_device *dev);
int drvmod_bind(struct uhmm_device *dev)
{
	return uhmm_device_bind(dev, &drvmod_driver);
}
EXPORT_SYMBOL_GPL(drvmod_bind);

static int drvmod_init(void)
{
	return 0;
}

static void drvmod_exit(void)
{
}

module_init(drvmod_init);
module_exit(drvmod_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("a driver whose probe maps device-private memory");
