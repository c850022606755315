/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A circular doubly-linked list with the kernel's names. */
#ifndef UHMM_LIB_LIST_H
#define UHMM_LIB_LIST_H

#include <stdbool.h>

#include "internal.h"

struct list_head {
	struct list_head *next, *prev;
};

#define LIST_HEAD_INIT(name) { &(name), &(name) }

static inline void INIT_LIST_HEAD(struct list_head *list)
{
	list->next = list;
	list->prev = list;
}

static inline void __list_add(struct list_head *entry, struct list_head *prev,
			      struct list_head *next)
{
	next->prev = entry;
	entry->next = next;
	entry->prev = prev;
	prev->next = entry;
}

static inline void list_add(struct list_head *entry, struct list_head *head)
{
	__list_add(entry, head, head->next);
}

static inline void list_add_tail(struct list_head *entry, struct list_head *head)
{
	__list_add(entry, head->prev, head);
}

static inline void list_del(struct list_head *entry)
{
	entry->next->prev = entry->prev;
	entry->prev->next = entry->next;
	entry->next = entry->prev = entry;
}

static inline bool list_empty(const struct list_head *head)
{
	return head->next == head;
}

/* Move every entry of @list to the empty @head. */
static inline void list_splice_init(struct list_head *list, struct list_head *head)
{
	if (list_empty(list))
		return;
	head->next = list->next;
	head->prev = list->prev;
	head->next->prev = head;
	head->prev->next = head;
	INIT_LIST_HEAD(list);
}

#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_last_entry(head, type, member) list_entry((head)->prev, type, member)

/*
 * Walk the list heads and compute each entry inside the loop, so the head
 * itself is never treated as an entry (which UBSan rightly calls misaligned).
 */
#define list_for_each_entry(pos, head, member)					\
	for (struct list_head *__pos = (head)->next;				\
	     __pos != (head) &&							\
	     ((pos = list_entry(__pos, __typeof__(*pos), member)), 1);		\
	     __pos = __pos->next)

#define list_for_each_entry_reverse(pos, head, member)				\
	for (struct list_head *__pos = (head)->prev;				\
	     __pos != (head) &&							\
	     ((pos = list_entry(__pos, __typeof__(*pos), member)), 1);		\
	     __pos = __pos->prev)

#endif
