/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Parking threads at fork() in an AddressSanitizer build, for the tests
 * that fork while other threads work.
 *
 * gcc 12's libasan takes no lock of its allocator around fork(), so a child
 * forked while another thread was inside ASan's malloc() inherits that size
 * class's mutex held, and the child's first allocation of that size (its
 * restarted fault-engine thread's, in ASan's thread start-up) waits on it
 * forever.  glibc's malloc is fork-safe.  So under ASan (PARK_AT_FORK) the
 * working threads read-hold a park lock around each step and the forking
 * thread write-holds it across fork(); the plain and TSan builds fork with
 * everything in flight.
 */
#ifndef UHMM_TEST_FORK_PARK_H
#define UHMM_TEST_FORK_PARK_H

#include <pthread.h>

#if defined(__SANITIZE_ADDRESS__)
#define PARK_AT_FORK	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PARK_AT_FORK	1
#endif
#endif
#ifndef PARK_AT_FORK
#define PARK_AT_FORK	0
#endif

/*
 * A park lock prefers its writer, so that fork() does not wait behind a
 * stream of steps.  A forked child initialises it again rather than
 * unlocking it: the writer's thread has another id there.
 */
static inline void fork_park_init(pthread_rwlock_t *lock)
{
	pthread_rwlockattr_t attr;

	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(lock, &attr);
	pthread_rwlockattr_destroy(&attr);
}

#endif /* UHMM_TEST_FORK_PARK_H */
