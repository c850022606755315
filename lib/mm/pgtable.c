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

struct pt_block {
	unsigned long base;		/* address >> PT_BLOCK_SHIFT */
	struct pt_block *next;
	unsigned int used;
	uintptr_t pte[PT_ENTRIES];
};


/*
 * Migration entries that mremap() moved while their migration was in
 * flight: the slot that names each, and where the entry is now.  A record
 * lives exactly as long as the entry at its address (pt_set() drops it), so
 * a slot reused by a later migration never finds a stale one.  Moves during
 * a migration are rare: a short array.
 */
struct moved_entry {
	const unsigned long *slot;
	unsigned long addr;
};

static struct pt_block **pt_bucket(unsigned long base)
{
	return &init_mm.pt_hash[(base * 0x9E3779B97F4A7C15ULL) >> (64 - PT_HASH_BITS)];
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

	lockdep_assert_held(&init_mm.pt_lock);
	return b ? b->pte[(addr >> UHMM_PAGE_SHIFT) & (PT_ENTRIES - 1)] : 0;
}

static struct moved_entry *moved_find(const unsigned long *slot)
{
	size_t i;

	for (i = 0; i < init_mm.nr_moved; i++)
		if (init_mm.moved[i].slot == slot)
			return &init_mm.moved[i];
	return NULL;
}

/* The migration entry @old at @addr is being overwritten. */
static void moved_forget(unsigned long addr, uintptr_t old)
{
	struct moved_entry *m = moved_find(pte_migration_slot(old));

	if (m && m->addr == addr)
		*m = init_mm.moved[--init_mm.nr_moved];
}

int pt_set(unsigned long addr, uintptr_t pte)
{
	unsigned long base = addr >> PT_BLOCK_SHIFT;
	struct pt_block *b = pt_find(base), **pp;
	uintptr_t *slot;

	lockdep_assert_held(&init_mm.pt_lock);
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
	if (init_mm.nr_moved && pte_is_migration(*slot))
		moved_forget(addr, *slot);
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

	lockdep_assert_held(&init_mm.pt_lock);
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

unsigned long pt_count(unsigned long start, unsigned long end)
{
	unsigned long addr = start, n = 0;

	lockdep_assert_held(&init_mm.pt_lock);
	while (addr < end) {
		unsigned long block = ALIGN_DOWN(addr, 1UL << PT_BLOCK_SHIFT);
		unsigned long block_end = block + (1UL << PT_BLOCK_SHIFT);
		struct pt_block *b = pt_find(addr >> PT_BLOCK_SHIFT);

		if (block_end > end || block_end < addr)
			block_end = end;
		if (b && addr == block && block_end == block + (1UL << PT_BLOCK_SHIFT))
			n += b->used;		/* a whole block: its count */
		else
			for (; b && addr < block_end; addr += UHMM_PAGE_SIZE)
				n += b->pte[(addr >> UHMM_PAGE_SHIFT) & (PT_ENTRIES - 1)] != 0;
		addr = block_end;
	}
	return n;
}

void pt_walk(void (*fn)(unsigned long addr, uintptr_t pte, void *arg), void *arg)
{
	struct pt_block *b;
	unsigned long i, h;

	lockdep_assert_held(&init_mm.pt_lock);
	for (h = 0; h < ARRAY_SIZE(init_mm.pt_hash); h++)
		for (b = init_mm.pt_hash[h]; b; b = b->next)
			for (i = 0; i < PT_ENTRIES; i++)
				if (b->pte[i])
					fn((b->base << PT_BLOCK_SHIFT) | (i << UHMM_PAGE_SHIFT),
					   b->pte[i], arg);
}

static int moved_reserve(size_t n)
{
	size_t cap = init_mm.cap_moved ? init_mm.cap_moved : 16;
	struct moved_entry *m;

	while (cap < init_mm.nr_moved + n)
		cap *= 2;
	if (cap == init_mm.cap_moved)
		return 0;
	m = realloc(init_mm.moved, cap * sizeof(*m));
	if (!m)
		return -ENOMEM;
	init_mm.moved = m;
	init_mm.cap_moved = cap;
	return 0;
}

int pt_move_migration(unsigned long from, unsigned long to)
{
	uintptr_t pte = pt_get(from);
	struct moved_entry *m;
	int ret;

	lockdep_assert_held(&init_mm.pt_lock);
	if (WARN_ON(!pte_is_migration(pte)))
		return -EINVAL;
	ret = moved_reserve(1);
	if (ret)
		return ret;
	ret = pt_set(to, pte);
	if (ret)
		return ret;
	pt_set(from, 0);	/* forgets a record of an earlier move */
	m = &init_mm.moved[init_mm.nr_moved++];
	m->slot = pte_migration_slot(pte);
	m->addr = to;
	return 0;
}

unsigned long pt_find_migration(unsigned long home, const unsigned long *slot)
{
	uintptr_t pte = pte_mk_migration(slot);
	struct moved_entry *m = init_mm.nr_moved ? moved_find(slot) : NULL;
	unsigned long addr = m ? m->addr : home;

	lockdep_assert_held(&init_mm.pt_lock);
	return addr && pt_get(addr) == pte ? addr : 0;
}

void pt_fork_child(void)
{
	pthread_mutex_init(&init_mm.pt_lock, NULL);
	/* fork() waits for every migration: no entry is in flight in the child. */
	init_mm.nr_moved = 0;
}
