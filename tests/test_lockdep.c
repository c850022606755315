// SPDX-License-Identifier: LGPL-2.1-or-later
/* lockdep_assert_held()'s test of a mutex's owner (lib/core/lockdep.c). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uhmm/log.h>

#include "../lib/core/internal.h"
#include "harness.h"

#if defined(UHMM_DEBUG_LOCKS) && defined(__GLIBC__)
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t locked, checked;

static void *hold(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&m);
	pthread_barrier_wait(&locked);
	pthread_barrier_wait(&checked);
	pthread_mutex_unlock(&m);
	return NULL;
}
#endif

static void require_debug_locks(void)
{
#if !defined(UHMM_DEBUG_LOCKS) || !defined(__GLIBC__)
	SKIP("a release build (or no glibc): lockdep_assert_held() checks nothing");
#endif
}

TEST(held_only_by_the_thread_that_locked)
{
	require_debug_locks();
#if defined(UHMM_DEBUG_LOCKS) && defined(__GLIBC__)
	pthread_t t;

	ASSERT_FALSE(uhmm_mutex_held(&m));
	pthread_mutex_lock(&m);
	ASSERT_TRUE(uhmm_mutex_held(&m));
	pthread_mutex_unlock(&m);
	ASSERT_FALSE(uhmm_mutex_held(&m));

	pthread_barrier_init(&locked, NULL, 2);
	pthread_barrier_init(&checked, NULL, 2);
	ASSERT_EQ(pthread_create(&t, NULL, hold, NULL), 0);
	pthread_barrier_wait(&locked);
	ASSERT_FALSE(uhmm_mutex_held(&m));	/* held, but by the other thread */
	pthread_barrier_wait(&checked);
	ASSERT_EQ(pthread_join(t, NULL), 0);
#endif
}

/* The forked child's thread has another id than its parent's: the cache follows. */
TEST(held_after_fork)
{
	require_debug_locks();
#if defined(UHMM_DEBUG_LOCKS) && defined(__GLIBC__)
	int status;
	pid_t pid;

	ASSERT_FALSE(uhmm_mutex_held(&m));	/* the id is cached now */
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		pthread_mutex_lock(&m);
		_exit(uhmm_mutex_held(&m) ? 0 : 1);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
#endif
}

#if defined(UHMM_DEBUG_LOCKS) && defined(__GLIBC__)
static void capture(int level, const char *msg, void *data)
{
	(void)level;
	snprintf(data, 256, "%s", msg);
}
#endif

/* A lock not held is a WARN that names it; the suite fails on its "lockdep: ". */
TEST(not_held_is_a_warning)
{
	require_debug_locks();
#if defined(UHMM_DEBUG_LOCKS) && defined(__GLIBC__)
	unsigned long warns = uhmm_warn_count();
	char msg[256] = "";

	uhmm_set_log_fn(capture, msg);
	lockdep_assert_held(&m);
	uhmm_set_log_fn(NULL, NULL);
	ASSERT_EQ(uhmm_warn_count(), warns + 1);
	ASSERT_TRUE(strncmp(msg, "lockdep: ", 9) == 0);
	ASSERT_TRUE(strstr(msg, "&m not held") != NULL);

	pthread_mutex_lock(&m);
	lockdep_assert_held(&m);
	pthread_mutex_unlock(&m);
	ASSERT_EQ(uhmm_warn_count(), warns + 1);
#endif
}
