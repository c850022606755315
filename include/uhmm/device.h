/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uhmm devices, drivers and device-managed resources (devres).
 *
 * A device is a named, reference-counted object.  Binding a driver runs its
 * probe(); unbinding runs remove() and then releases, newest first, every
 * resource registered with a uhmm_devm_*() call.  If probe() fails, the
 * resources it registered are released the same way before the error is
 * returned, so a probe can bail out at any point without its own unwinding.
 */
#ifndef UHMM_DEVICE_H
#define UHMM_DEVICE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uhmm_device;

/**
 * struct uhmm_driver - what a device is bound to
 * @name: the driver's name, for messages
 * @probe: set the device up; return 0 or a negative errno
 * @remove: tear down what probe() set up by hand; may be NULL
 */
struct uhmm_driver {
	const char *name;
	int (*probe)(struct uhmm_device *dev);
	void (*remove)(struct uhmm_device *dev);
};

/**
 * uhmm_device_create() - create an unbound device
 * @name: a name of 1 to 63 characters, copied
 *
 * Return: the device with one reference held by the caller, or NULL with
 * errno EINVAL (bad name) or ENOMEM.
 */
struct uhmm_device *uhmm_device_create(const char *name);

/** uhmm_device_get() - take a reference on @dev; returns @dev */
struct uhmm_device *uhmm_device_get(struct uhmm_device *dev);

/**
 * uhmm_device_put() - drop a reference on @dev
 *
 * Dropping the last reference unbinds the device if it is still bound and
 * releases any devres left, then frees it.
 */
void uhmm_device_put(struct uhmm_device *dev);

/** uhmm_dev_name() - the device's name, valid while a reference is held */
const char *uhmm_dev_name(const struct uhmm_device *dev);

/**
 * uhmm_device_for_each() - call @fn for every device, oldest first
 *
 * Every device from uhmm_device_create() to its last uhmm_device_put().
 * Stops at the first non-zero return of @fn and returns it; 0 when @fn
 * returned 0 for all, -EINVAL for a NULL @fn.  @fn runs under the list's
 * lock: it may read the device (its name, uhmm_device_driver(), a snapshot
 * that a concurrent bind may change), but must not create a device, put
 * one, or bind or unbind one.
 */
int uhmm_device_for_each(int (*fn)(struct uhmm_device *dev, void *data), void *data);

/** uhmm_dev_set_drvdata() - attach the driver's private data to @dev */
void uhmm_dev_set_drvdata(struct uhmm_device *dev, void *data);
/** uhmm_dev_get_drvdata() - the pointer given to uhmm_dev_set_drvdata() */
void *uhmm_dev_get_drvdata(const struct uhmm_device *dev);

/**
 * uhmm_device_bind() - bind @drv to @dev and probe
 *
 * Serialised with uhmm_device_unbind() on the same device (the device lock).
 * If @drv's code is in a loaded module, the module is pinned until unbind.
 * Return: 0; -EINVAL for NULL arguments or a driver without probe; -EBUSY if
 * @dev already has a driver; -ENODEV if @drv's module is being unloaded; or
 * probe's error, after the devres it registered has been released.
 */
int uhmm_device_bind(struct uhmm_device *dev, const struct uhmm_driver *drv);

/**
 * uhmm_device_unbind() - remove the driver and release its devres
 *
 * Return: 0, -EINVAL for a NULL @dev, -ENODEV if no driver is bound.
 */
int uhmm_device_unbind(struct uhmm_device *dev);

/** uhmm_device_driver() - the bound driver, or NULL */
const struct uhmm_driver *uhmm_device_driver(const struct uhmm_device *dev);

/* --- device-managed resources -------------------------------------------- */

/**
 * uhmm_devm_add_action() - call @action(@data) when @dev is unbound
 *
 * Actions run in reverse order of registration, interleaved with the other
 * devres of @dev.  Return: 0, -EINVAL, -ENOMEM.
 */
int uhmm_devm_add_action(struct uhmm_device *dev, void (*action)(void *), void *data);

/**
 * uhmm_devm_add_action_or_reset() - uhmm_devm_add_action(), but if it fails,
 * run @action(@data) at once and return the error
 */
int uhmm_devm_add_action_or_reset(struct uhmm_device *dev, void (*action)(void *),
				  void *data);

/**
 * uhmm_devm_remove_action() - forget a registered action without running it
 * Return: 0, or -ENOENT if no such (@action, @data) is registered.
 */
int uhmm_devm_remove_action(struct uhmm_device *dev, void (*action)(void *), void *data);

/**
 * uhmm_devm_release_action() - run a registered action now and forget it
 * Return: 0, or -ENOENT if no such (@action, @data) is registered.
 */
int uhmm_devm_release_action(struct uhmm_device *dev, void (*action)(void *), void *data);

/**
 * uhmm_devm_kmalloc() - allocate memory freed when @dev is unbound
 * uhmm_devm_kzalloc() - the same, zeroed
 *
 * Return: the memory, or NULL with errno EINVAL (no device, size 0) or ENOMEM.
 */
void *uhmm_devm_kmalloc(struct uhmm_device *dev, size_t size);
void *uhmm_devm_kzalloc(struct uhmm_device *dev, size_t size);

/** uhmm_devm_kfree() - free device-managed memory early; NULL is a no-op */
void uhmm_devm_kfree(struct uhmm_device *dev, void *p);

/** uhmm_devres_count() - how many device-managed resources @dev holds */
unsigned int uhmm_devres_count(struct uhmm_device *dev);

#ifdef __cplusplus
}
#endif
#endif /* UHMM_DEVICE_H */
