// SPDX-License-Identifier: LGPL-2.1-or-later
/* Library messages: a callback, a level, and a count of WARNs. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
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

/*
 * UHMM_LOG sets the level before main() runs, as KMOD_LOG does for kmod:
 * a name (err, warning, notice, info, debug) or its number.
 */
static const char *const level_names[] = {
	[UHMM_LOG_ERR] = "err", [UHMM_LOG_WARNING] = "warning", [UHMM_LOG_NOTICE] = "notice",
	[UHMM_LOG_INFO] = "info", [UHMM_LOG_DEBUG] = "debug",
};

int log_level_parse(const char *s)
{
	char *end;
	long n;
	int i;

	for (i = UHMM_LOG_ERR; i <= UHMM_LOG_DEBUG; i++)
		if (!strcmp(s, level_names[i]))
			return i;
	n = strtol(s, &end, 10);
	if (*s && !*end && n >= 0 && n <= UHMM_LOG_DEBUG)
		return (int)n;
	return -EINVAL;
}

__attribute__((constructor)) static void log_level_from_env(void)
{
	const char *env = getenv("UHMM_LOG");
	int level;

	if (!env || !*env)
		return;
	level = log_level_parse(env);
	if (level >= 0)
		atomic_store(&log_level, level);
	else
		fprintf(stderr, "uhmm: ignoring UHMM_LOG=%s: not err, warning, notice, info, "
			"debug or 0-7\n", env);
}

void uhmm_vlog(int level, const char *fmt, va_list ap)
{
	uhmm_log_fn fn;
	void *data;
	char buf[256], *msg = buf;
	va_list again;
	size_t len;
	int n;

	if (level > atomic_load(&log_level))
		return;
	va_copy(again, ap);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	/* A long message gets a buffer of its own; if there is none, it is cut. */
	if (n >= (int)sizeof(buf)) {
		msg = malloc((size_t)n + 1);
		if (msg)
			vsnprintf(msg, (size_t)n + 1, fmt, again);
		else
			msg = buf;
	}
	va_end(again);
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
	if (msg != buf)
		free(msg);
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
