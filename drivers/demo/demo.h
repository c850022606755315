/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The demo driver's exports (EXPORT_SYMBOL_GPL), for `uhmm demo`.
 * Get them with uhmm_symbol_get() once the module is loaded.
 */
#ifndef UHMM_DRIVERS_DEMO_H
#define UHMM_DRIVERS_DEMO_H

#include <uhmm/device.h>
#include <uhmm/memremap.h>

struct demo_stats {
	uint64_t start, end;			/* the device's physical range */
	struct uhmm_dev_pagemap *pgmap;
	unsigned long nr_pages;
	unsigned long nr_free;			/* pages on the driver's free list */
	unsigned long nr_page_free_calls;	/* times ops->page_free ran */
};

/* Bind the demo driver to @dev: map @size bytes of device-private memory. */
typedef int (*demo_bind_fn)(struct uhmm_device *dev, uint64_t size);
/* Take an idle page off the free list (refcount 1, unlocked), or NULL. */
typedef struct uhmm_page *(*demo_alloc_page_fn)(struct uhmm_device *dev);
/* Fill @stats for a bound device. */
typedef void (*demo_get_stats_fn)(struct uhmm_device *dev, struct demo_stats *stats);

#endif
