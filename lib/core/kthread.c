// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The library's own threads (the kernel's kthread_run()): detached and
 * named, so a debugger, top -H or /proc/PID/task/TID/comm tells them apart
 * from the application's.
 *
 * kthread_run() returns once the new thread runs its function, not when
 * pthread_create() does.  A thread that is still starting may be inside the
 * allocator (a sanitizer runtime sets up its stack and TLS there, and gcc
 * 12's libasan does not take its allocator lock around fork()); a fork() by
 * the caller at that moment would leave the child's allocator locked for
 * ever.  Waiting here keeps every thread uhmm starts out of that state by
 * the time uhmm_mm_init() or the first migration returns.
 */
#include <pthread.h>
#include <stdbool.h>

#include "internal.h"

struct kthread_start {
	void *(*fn)(void *);
	void *arg;
	const char *name;
	pthread_mutex_t lock;
	pthread_cond_t running;
	bool started;		/* lock */
};

static void *kthread(void *data)
{
	struct kthread_start *start = data;
	void *(*fn)(void *) = start->fn;
	void *arg = start->arg;

	/* Named by itself: a detached thread's handle is not the creator's to use. */
	pthread_setname_np(pthread_self(), start->name);	/* at most 15 characters */
	pthread_mutex_lock(&start->lock);
	start->started = true;
	pthread_cond_signal(&start->running);
	pthread_mutex_unlock(&start->lock);
	/* @start is the creator's, and gone from here on. */
	return fn(arg);
}

int kthread_run(void *(*fn)(void *), void *arg, const char *name)
{
	struct kthread_start start = {
		.fn = fn,
		.arg = arg,
		.name = name,
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.running = PTHREAD_COND_INITIALIZER,
	};
	pthread_attr_t attr;
	pthread_t thread;
	int ret;

	ret = -pthread_attr_init(&attr);
	if (ret)
		return ret;
	ret = -pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (!ret)
		ret = -pthread_create(&thread, &attr, kthread, &start);
	pthread_attr_destroy(&attr);
	if (ret)
		return ret;
	pthread_mutex_lock(&start.lock);
	while (!start.started)
		pthread_cond_wait(&start.running, &start.lock);
	pthread_mutex_unlock(&start.lock);
	pthread_mutex_destroy(&start.lock);
	pthread_cond_destroy(&start.running);
	return 0;
}
