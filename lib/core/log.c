// SPDX-License-Identifier: LGPL-2.1-or-later
/* Library messages: a callback, a level, and a count of WARNs. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <uhmm/log.h>

#include "internal.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static uhmm_log_fn log_fn;	/* protected by log_lock */
static void *log_data;		/* protected by log_lock */
static atomic_int log_level = UHMM_LOG_WARNING;
static atomic_ulong warn_count;

UHMM_EXPORT void uhmm_set_log_fn(uhmm_log_fn fn, void *data)
{
	pthread_mutex_lock(&log_lock);
	log_fn = fn;
	log_data = data;
	pthread_mutex_unlock(&log_lock);
}

UHMM_EXPORT void uhmm_set_log_level(int level)
{
	atomic_store(&log_level, level);
}

UHMM_EXPORT unsigned long uhmm_warn_count(void)
{
	return atomic_load(&warn_count);
}

void uhmm_vlog(int level, const char *fmt, va_list ap)
{
	uhmm_log_fn fn;
	void *data;
	char msg[512];
	size_t len;

	if (level > atomic_load(&log_level))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* A printk habit: the callback gets no trailing newline (log.h). */
	len = strlen(msg);
	while (len && msg[len - 1] == '\n')
		msg[--len] = '\0';
	pthread_mutex_lock(&log_lock);
	fn = log_fn;
	data = log_data;
	pthread_mutex_unlock(&log_lock);
	if (fn)
		fn(level, msg, data);
	else
		fprintf(stderr, "uhmm: %s\n", msg);
}

void uhmm_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	uhmm_vlog(level, fmt, ap);
	va_end(ap);
}

void uhmm_warn(const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(&warn_count, 1);
	va_start(ap, fmt);
	uhmm_vlog(UHMM_LOG_WARNING, fmt, ap);
	va_end(ap);
}
