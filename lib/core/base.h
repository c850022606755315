/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The device object, shared by device.c and devres.c. */
#ifndef UHMM_LIB_BASE_H
#define UHMM_LIB_BASE_H

#include <pthread.h>
#include <stdatomic.h>

#include <uhmm/device.h>

#include "list.h"

#define UHMM_DEV_NAME_MAX 64

struct uhmm_device {
	char name[UHMM_DEV_NAME_MAX];
	atomic_int refcount;
	pthread_mutex_t lock;			/* the device lock: bind and unbind */
	const struct uhmm_driver *driver;	/* protected by lock */
	void *driver_owner;			/* the driver's module, pinned; protected by lock */
	void *driver_data;

	pthread_mutex_t devres_lock;
	struct list_head devres_head;		/* protected by devres_lock */
	struct list_head node;			/* in devices; protected by devices_lock */
};

/* Release every devres of @dev, newest first. */
void devres_release_all(struct uhmm_device *dev);

#endif
