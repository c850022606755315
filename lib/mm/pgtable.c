// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * uhmm's page table: for each address that the CPU's page table leaves
 * empty because its page is in device memory or moving, what holds it.
 *
 * A hash of 2 MiB blocks of 512 entries; blocks are freed when they empty.
 * Everything here runs under pt_lock.
 */
#include <errno.h>
#include <stdlib.h>

#include "../core/internal.h"
#include "mm_internal.h"

#define PT_BLOCK_SHIFT	21
#define PT_ENTRIES	(1UL << (PT_BLOCK_SHIFT - UHMM_PAGE_SHIFT))
#define PT_HASH_BITS	10

struct pt_block {
	unsigned long base;		/* address >> PT_BLOCK_SHIFT */
	struct pt_block *next;
	unsigned int used;
	uintptr_t pte[PT_ENTRIES];
};

pthread_mutex_t pt_lock = PTHREAD_MUTEX_INITIALIZER;

static struct pt_block *pt_hash[1 << PT_HASH_BITS];

static struct pt_block **pt_bucket(unsigned long base)
{
	return &pt_hash[(base * 0x9E3779B97F4A7C15ULL) >> (64 - PT_HASH_BITS)];
}

static struct pt_block *pt_find(unsigned long base)
{
	struct pt_block *b;

	for (b = *pt_bucket(base); b; b = b->next)
		if (b->base == base)
			return b;
	return NULL;
}

uintptr_t pt_get(unsigned long addr)
{
	struct pt_block *b = pt_find(addr >> PT_BLOCK_SHIFT);

	return b ? b->pte[(addr >> UHMM_PAGE_SHIFT) & (PT_ENTRIES - 1)] : 0;
}

int pt_set(unsigned long addr, uintptr_t pte)
{
	unsigned long base = addr >> PT_BLOCK_SHIFT;
	struct pt_block *b = pt_find(base), **pp;
	uintptr_t *slot;

	if (!b) {
		if (!pte)
			return 0;
		b = calloc(1, sizeof(*b));
		if (!b)
			return -ENOMEM;
		b->base = base;
		pp = pt_bucket(base);
		b->next = *pp;
		*pp = b;
	}
	slot = &b->pte[(addr >> UHMM_PAGE_SHIFT) & (PT_ENTRIES - 1)];
	if (!*slot && pte)
		b->used++;
	else if (*slot && !pte)
		b->used--;
	*slot = pte;
	if (!b->used) {
		for (pp = pt_bucket(base); *pp != b; pp = &(*pp)->next)
			;
		*pp = b->next;
		free(b);
	}
	return 0;
}

void pt_for_each(unsigned long start, unsigned long end,
		 void (*fn)(unsigned long addr, uintptr_t pte, void *arg), void *arg)
{
	unsigned long addr = start;

	while (addr < end) {
		unsigned long block_end = ALIGN_DOWN(addr, 1UL << PT_BLOCK_SHIFT) +
					  (1UL << PT_BLOCK_SHIFT);
		struct pt_block *b = pt_find(addr >> PT_BLOCK_SHIFT);

		if (block_end > end || block_end < addr)
			block_end = end;
		/* fn may clear the entry, and with it free the block: reload it. */
		for (; b && addr < block_end; addr += UHMM_PAGE_SIZE) {
			uintptr_t pte = b->pte[(addr >> UHMM_PAGE_SHIFT) & (PT_ENTRIES - 1)];

			if (pte) {
				fn(addr, pte, arg);
				b = pt_find(addr >> PT_BLOCK_SHIFT);
			}
		}
		addr = block_end;
	}
}

void pt_walk(void (*fn)(unsigned long addr, uintptr_t pte, void *arg), void *arg)
{
	struct pt_block *b;
	unsigned long i, h;

	for (h = 0; h < ARRAY_SIZE(pt_hash); h++)
		for (b = pt_hash[h]; b; b = b->next)
			for (i = 0; i < PT_ENTRIES; i++)
				if (b->pte[i])
					fn((b->base << PT_BLOCK_SHIFT) | (i << UHMM_PAGE_SHIFT),
					   b->pte[i], arg);
}

void pt_fork_child(void)
{
	pthread_mutex_init(&pt_lock, NULL);
}
