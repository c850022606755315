// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * lockdep_assert_held() (internal.h): whether the calling thread holds a
 * mutex, from the owner glibc records in it.  The thread id is cached per
 * thread; fork() gives the child's thread a new one.
 */
#include <pthread.h>
#include <unistd.h>

#include "internal.h"

#if defined(UHMM_DEBUG_LOCKS) && defined(__GLIBC__)
static __thread pid_t cached_tid;

static void forget_tid(void)
{
	cached_tid = 0;
}

static void register_fork_hook(void)
{
	pthread_atfork(NULL, NULL, forget_tid);
}

bool uhmm_mutex_held(pthread_mutex_t *m)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	if (unlikely(!cached_tid)) {
		pthread_once(&once, register_fork_hook);
		cached_tid = gettid();
	}
	return __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED) == cached_tid;
}
#endif
