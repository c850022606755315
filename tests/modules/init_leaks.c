// SPDX-License-Identifier: LGPL-2.1-or-later
/* init binds a device, then fails without unbinding it: a buggy driver. */
#include <uhmm/device.h>
#include <uhmm/module.h>

static int init_leaks_probe(struct uhmm_device *dev)
{
	(void)dev;
	return 0;
}

static const struct uhmm_driver init_leaks_driver = {
	.name = "init_leaks",
	.probe = init_leaks_probe,
};

struct uhmm_device *init_leaks_device;

static int init_leaks_init(void)
{
	init_leaks_device = uhmm_device_create("leaky0");
	if (!init_leaks_device || uhmm_device_bind(init_leaks_device, &init_leaks_driver))
		return -12;
	return -5;	/* fails, leaving the device bound */
}

module_init(init_leaks_init);
MODULE_LICENSE("GPL");
