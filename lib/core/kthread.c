// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The library's own threads (the kernel's kthread_run()): detached and
 * named, so a debugger, top -H or /proc/PID/task/TID/comm tells them apart
 * from the application's.
 */
#include <pthread.h>

#include "internal.h"

int kthread_run(void *(*fn)(void *), void *arg, const char *name)
{
	pthread_attr_t attr;
	pthread_t thread;
	int ret;

	ret = -pthread_attr_init(&attr);
	if (ret)
		return ret;
	ret = -pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (!ret)
		ret = -pthread_create(&thread, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	if (!ret)
		pthread_setname_np(thread, name);	/* at most 15 characters */
	return ret;
}
