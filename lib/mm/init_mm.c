// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The process's memory state, struct mm_struct (mm_internal.h), and which
 * thread is the engine's: the kernel's init_mm, in spirit (data, no code
 * that calls anything).
 */
#include <pthread.h>
#include <stdbool.h>

#include "mm_internal.h"

static struct mm_counters counters;

struct mm_struct init_mm = {
	.engine_lock = PTHREAD_MUTEX_INITIALIZER,
	.uffd = -1,
	.stage_uffd = -1,
	.reg_lock = PTHREAD_MUTEX_INITIALIZER,
	.events_cond = PTHREAD_COND_INITIALIZER,
	.pt_lock = PTHREAD_MUTEX_INITIALIZER,
	.subs = {
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.wq = PTHREAD_COND_INITIALIZER,
		.invalidate_seq = 2,
	},
	.maps_lock = PTHREAD_MUTEX_INITIALIZER,
	.maps_fd = -1,
	.pagemap_fd = -1,
	.counters = &counters,
};
__thread bool mm_engine_thread;
unsigned int mm_wait_log_s = 10;

bool mm_in_engine_thread(void)
{
	return mm_engine_thread;
}
