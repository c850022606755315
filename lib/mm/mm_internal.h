/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by lib/mm's files; never installed. */
#ifndef UHMM_LIB_MM_INTERNAL_H
#define UHMM_LIB_MM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <uhmm/memremap.h>

/*
 * One mapped range of a pgmap: its pages' metadata and where it came from.
 * Published in the subsection table; the memmap is freed after a grace period.
 */
struct pgmap_span {
	struct uhmm_dev_pagemap *pgmap;
	struct uhmm_page *memmap;	/* memmap[i] describes start_pfn + i */
	unsigned long start_pfn;
	unsigned long nr_pages;
	size_t memmap_bytes;
	unsigned long altmap_pfns;	/* memmap pages taken from the altmap; 0 = heap */
};

/* sparse.c: the pfn -> span table */
int sparse_check_free(unsigned long start_pfn, unsigned long nr_pages);
int sparse_insert(struct pgmap_span *span);
void sparse_remove(struct pgmap_span *span);
/* The caller is in an RCU read-side critical section; NULL if @pfn is not mapped. */
struct uhmm_dev_pagemap *sparse_pgmap_rcu(unsigned long pfn);
struct uhmm_page *sparse_pfn_to_page_rcu(unsigned long pfn);

/* memmap.c: the metadata arrays */
int memmap_alloc(struct pgmap_span *span, struct uhmm_vmem_altmap *altmap);
void memmap_free(struct pgmap_span *span, struct uhmm_vmem_altmap *altmap);

/* memremap.c */
void free_zone_device_page(struct uhmm_page *page);

#endif
