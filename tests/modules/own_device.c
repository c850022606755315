// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A driver whose init creates a device and binds it to its own driver (whose
 * probe maps device-private memory), and whose exit unbinds and drops it,
 * as a kernel driver registers and unregisters its own platform device.
 * Those do not pin the module; a device someone else binds does.
 */
#include <errno.h>

#include <uhmm/device.h>
#include <uhmm/memremap.h>
#include <uhmm/module.h>
#include <uhmm/resource.h>

static void own_device_page_free(struct uhmm_page *page)
{
	(void)page;
}

static uhmm_vm_fault_t own_device_migrate_to_ram(struct uhmm_vm_fault *vmf)
{
	(void)vmf;
	return UHMM_VM_FAULT_SIGBUS;
}

static const struct uhmm_dev_pagemap_ops own_device_ops = {
	.page_free = own_device_page_free,
	.migrate_to_ram = own_device_migrate_to_ram,
};

static int own_device_probe(struct uhmm_device *dev)
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
	pgmap->ops = &own_device_ops;
	pgmap->owner = pgmap;
	return uhmm_devm_memremap_pages(dev, pgmap);
}

static const struct uhmm_driver own_device_driver = {
	.name = "own_device",
	.probe = own_device_probe,
};

static struct uhmm_device *own_dev;

/* The device its init bound, for a test to look at. */
struct uhmm_device *own_device_get(void);
struct uhmm_device *own_device_get(void)
{
	return own_dev;
}
EXPORT_SYMBOL_GPL(own_device_get);

/* Bind someone else's device to this driver. */
int own_device_bind(struct uhmm_device *dev);
int own_device_bind(struct uhmm_device *dev)
{
	return uhmm_device_bind(dev, &own_device_driver);
}
EXPORT_SYMBOL_GPL(own_device_bind);

static int own_device_init(void)
{
	int ret;

	own_dev = uhmm_device_create("own0");
	if (!own_dev)
		return -errno;
	ret = uhmm_device_bind(own_dev, &own_device_driver);
	if (ret)
		uhmm_device_put(own_dev);
	return ret;
}

static void own_device_exit(void)
{
	uhmm_device_unbind(own_dev);
	uhmm_device_put(own_dev);
}

module_init(own_device_init);
module_exit(own_device_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("binds its own device in init, unbinds it in exit");
