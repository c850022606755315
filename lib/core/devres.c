// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Device-managed resources: a list of release actions per device, run newest
 * first when the device is unbound or its probe fails.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "internal.h"

struct devres {
	struct list_head entry;
	void (*action)(void *data);	/* NULL for a devm allocation */
	void *data;
	max_align_t payload[];		/* a devm allocation's memory */
};

/* The payload is aligned for any type, so the node must be too. */
static struct devres *devres_alloc(size_t payload)
{
	size_t size = sizeof(struct devres) + payload;
	struct devres *dr;

	if (payload > SIZE_MAX - sizeof(struct devres) - _Alignof(max_align_t))
		return NULL;
	size = ALIGN_UP(size, _Alignof(max_align_t));
	dr = aligned_alloc(_Alignof(max_align_t), size);
	if (dr)
		memset(dr, 0, sizeof(*dr));
	return dr;
}

static void devres_add(struct uhmm_device *dev, struct devres *dr)
{
	pthread_mutex_lock(&dev->devres_lock);
	list_add_tail(&dr->entry, &dev->devres_head);
	pthread_mutex_unlock(&dev->devres_lock);
}

/* Unlink and return the newest devres matching (@action, @data), or NULL. */
static struct devres *devres_take(struct uhmm_device *dev, void (*action)(void *), void *data)
{
	struct devres *dr, *found = NULL;

	pthread_mutex_lock(&dev->devres_lock);
	list_for_each_entry_reverse(dr, &dev->devres_head, entry) {
		if (dr->action == action && dr->data == data) {
			list_del(&dr->entry);
			found = dr;
			break;
		}
	}
	pthread_mutex_unlock(&dev->devres_lock);
	return found;
}

void devres_release_all(struct uhmm_device *dev)
{
	struct list_head todo;
	struct devres *dr;

	INIT_LIST_HEAD(&todo);
	pthread_mutex_lock(&dev->devres_lock);
	list_splice_init(&dev->devres_head, &todo);
	pthread_mutex_unlock(&dev->devres_lock);

	while (!list_empty(&todo)) {
		dr = list_last_entry(&todo, struct devres, entry);
		list_del(&dr->entry);
		if (dr->action)
			dr->action(dr->data);
		free(dr);
	}
}

UHMM_EXPORT int uhmm_devm_add_action(struct uhmm_device *dev, void (*action)(void *),
				     void *data)
{
	struct devres *dr;

	if (!dev || !action)
		return -EINVAL;
	dr = devres_alloc(0);
	if (!dr)
		return -ENOMEM;
	dr->action = action;
	dr->data = data;
	devres_add(dev, dr);
	return 0;
}

UHMM_EXPORT int uhmm_devm_add_action_or_reset(struct uhmm_device *dev,
					      void (*action)(void *), void *data)
{
	int ret = uhmm_devm_add_action(dev, action, data);

	if (ret && action)
		action(data);
	return ret;
}

/* Forget the newest (@action, @data) of @dev, running it first if @run. */
static int devm_forget_action(struct uhmm_device *dev, void (*action)(void *), void *data,
			      bool run)
{
	struct devres *dr;

	if (!dev || !action)
		return -EINVAL;
	dr = devres_take(dev, action, data);
	if (!dr)
		return -ENOENT;
	if (run)
		action(data);
	free(dr);
	return 0;
}

UHMM_EXPORT int uhmm_devm_remove_action(struct uhmm_device *dev, void (*action)(void *),
					void *data)
{
	return devm_forget_action(dev, action, data, false);
}

UHMM_EXPORT int uhmm_devm_release_action(struct uhmm_device *dev, void (*action)(void *),
					 void *data)
{
	return devm_forget_action(dev, action, data, true);
}

UHMM_EXPORT void *uhmm_devm_kmalloc(struct uhmm_device *dev, size_t size)
{
	struct devres *dr;

	if (!dev || !size) {
		errno = EINVAL;
		return NULL;
	}
	dr = devres_alloc(size);
	if (!dr) {
		errno = ENOMEM;
		return NULL;
	}
	dr->action = NULL;
	dr->data = dr->payload;
	devres_add(dev, dr);
	return dr->payload;
}

UHMM_EXPORT void *uhmm_devm_kzalloc(struct uhmm_device *dev, size_t size)
{
	void *p = uhmm_devm_kmalloc(dev, size);

	if (p)
		memset(p, 0, size);
	return p;
}

UHMM_EXPORT void uhmm_devm_kfree(struct uhmm_device *dev, void *p)
{
	struct devres *dr;

	if (!dev || !p)
		return;
	dr = devres_take(dev, NULL, p);
	if (WARN(!dr, "devm_kfree of %p, which %s does not own", p, dev->name))
		return;
	free(dr);
}

UHMM_EXPORT unsigned int uhmm_devres_count(struct uhmm_device *dev)
{
	struct devres *dr;
	unsigned int n = 0;

	pthread_mutex_lock(&dev->devres_lock);
	list_for_each_entry(dr, &dev->devres_head, entry)
		n++;
	pthread_mutex_unlock(&dev->devres_lock);
	return n;
}
