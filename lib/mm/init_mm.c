// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The process's memory state that every layer of lib/mm reads: the
 * engine's userfaultfds, the counters, and which thread
 * is the engine's (the kernel's init_mm, in spirit: data, no code that
 * calls anything).
 */
#include <pthread.h>
#include <stdbool.h>

#include "mm_internal.h"

struct mm_engine mm_engine = { .uffd = -1, .stage_uffd = -1 };
struct mm_counters mm_counters;
__thread bool mm_engine_thread;
unsigned int mm_wait_log_s = 10;

bool mm_in_engine_thread(void)
{
	return mm_engine_thread;
}
