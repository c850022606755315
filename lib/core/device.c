// SPDX-License-Identifier: LGPL-2.1-or-later
/* Devices and the binding of drivers to them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "internal.h"
#include "owner.h"

/*
 * Every device from its creation to its last put, oldest first, for
 * uhmm_device_for_each().  devices_lock is taken before a device's own
 * locks, never under them.
 */
static pthread_mutex_t devices_lock = PTHREAD_MUTEX_INITIALIZER;
static struct list_head devices = LIST_HEAD_INIT(devices);	/* devices_lock */

UHMM_EXPORT struct uhmm_device *uhmm_device_create(const char *name)
{
	struct uhmm_device *dev;
	size_t len;

	len = name ? strnlen(name, UHMM_DEV_NAME_MAX) : 0;
	if (len == 0 || len == UHMM_DEV_NAME_MAX) {
		errno = EINVAL;
		return NULL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		errno = ENOMEM;
		return NULL;
	}
	memcpy(dev->name, name, len + 1);
	atomic_init(&dev->refcount, 1);
	pthread_mutex_init(&dev->lock, NULL);
	pthread_mutex_init(&dev->devres_lock, NULL);
	INIT_LIST_HEAD(&dev->devres_head);
	pthread_mutex_lock(&devices_lock);
	list_add_tail(&dev->node, &devices);
	pthread_mutex_unlock(&devices_lock);
	return dev;
}

UHMM_EXPORT int uhmm_device_for_each(int (*fn)(struct uhmm_device *dev, void *data), void *data)
{
	struct uhmm_device *dev;
	int ret = 0;

	if (!fn)
		return -EINVAL;
	pthread_mutex_lock(&devices_lock);
	list_for_each_entry(dev, &devices, node) {
		ret = fn(dev, data);
		if (ret)
			break;
	}
	pthread_mutex_unlock(&devices_lock);
	return ret;
}

UHMM_EXPORT struct uhmm_device *uhmm_device_get(struct uhmm_device *dev)
{
	if (dev)
		atomic_fetch_add(&dev->refcount, 1);
	return dev;
}

UHMM_EXPORT void uhmm_device_put(struct uhmm_device *dev)
{
	if (!dev || atomic_fetch_sub(&dev->refcount, 1) != 1)
		return;
	if (dev->driver) {
		pr_warn("%s: last reference dropped while bound to %s; unbinding",
			dev->name, dev->driver->name);
		uhmm_device_unbind(dev);
	}
	devres_release_all(dev);
	pthread_mutex_lock(&devices_lock);
	list_del(&dev->node);
	pthread_mutex_unlock(&devices_lock);
	pthread_mutex_destroy(&dev->lock);
	pthread_mutex_destroy(&dev->devres_lock);
	free(dev);
}

UHMM_EXPORT const char *uhmm_dev_name(const struct uhmm_device *dev)
{
	return dev->name;
}

UHMM_EXPORT void uhmm_dev_set_drvdata(struct uhmm_device *dev, void *data)
{
	dev->driver_data = data;
}

UHMM_EXPORT void *uhmm_dev_get_drvdata(const struct uhmm_device *dev)
{
	return dev->driver_data;
}

UHMM_EXPORT const struct uhmm_driver *uhmm_device_driver(const struct uhmm_device *dev)
{
	return dev->driver;
}

UHMM_EXPORT int uhmm_device_bind(struct uhmm_device *dev, const struct uhmm_driver *drv)
{
	int ret;

	if (!dev || !drv || !drv->probe)
		return -EINVAL;

	pthread_mutex_lock(&dev->lock);
	if (dev->driver) {
		ret = -EBUSY;
		goto out_unlock;
	}
	ret = code_owner_get((const void *)drv->probe, &dev->driver_owner);
	if (ret)
		goto out_unlock;
	dev->driver = drv;
	ret = drv->probe(dev);
	if (ret) {
		devres_release_all(dev);
		dev->driver = NULL;
		dev->driver_data = NULL;
		code_owner_put(dev->driver_owner);
		dev->driver_owner = NULL;
		pr_info("%s: probe of %s failed with error %d", drv->name, dev->name, ret);
	}
out_unlock:
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

UHMM_EXPORT int uhmm_device_unbind(struct uhmm_device *dev)
{
	const struct uhmm_driver *drv;

	if (!dev)
		return -EINVAL;

	pthread_mutex_lock(&dev->lock);
	drv = dev->driver;
	if (!drv) {
		pthread_mutex_unlock(&dev->lock);
		return -ENODEV;
	}
	if (drv->remove)
		drv->remove(dev);
	devres_release_all(dev);
	dev->driver = NULL;
	dev->driver_data = NULL;
	code_owner_put(dev->driver_owner);
	dev->driver_owner = NULL;
	pthread_mutex_unlock(&dev->lock);
	return 0;
}
