/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uhmm logging.
 *
 * The library never prints to stdout.  Messages go to a callback the
 * application sets; without one, warnings and errors go to stderr.
 *
 * Error convention, once for the whole API: functions return 0 or a negative
 * errno; functions that return a pointer return NULL and set errno.
 */
#ifndef UHMM_LOG_H
#define UHMM_LOG_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

enum uhmm_log_level {
	UHMM_LOG_ERR = 3,
	UHMM_LOG_WARNING = 4,
	UHMM_LOG_NOTICE = 5,
	UHMM_LOG_INFO = 6,
	UHMM_LOG_DEBUG = 7,
};

/**
 * typedef uhmm_log_fn - where library messages go
 * @level: one of &enum uhmm_log_level
 * @msg: the message, without a trailing newline
 * @data: the pointer given to uhmm_set_log_fn()
 *
 * Called with no uhmm lock held that the callback could need; it must not
 * call back into uhmm.
 */
typedef void (*uhmm_log_fn)(int level, const char *msg, void *data);

/**
 * uhmm_set_log_fn() - route library messages to @fn
 * @fn: the callback, or NULL for the default (stderr, up to @level)
 * @data: passed to every call of @fn
 *
 * Process-wide.  Safe to call at any time; a message being logged
 * concurrently goes to either the old or the new callback.
 */
void uhmm_set_log_fn(uhmm_log_fn fn, void *data);

/**
 * uhmm_set_log_level() - drop messages less important than @level
 * @level: one of &enum uhmm_log_level; the default is UHMM_LOG_WARNING, or
 *	what the environment's UHMM_LOG says at start-up (err, warning,
 *	notice, info, debug, or the number)
 */
void uhmm_set_log_level(int level);

/**
 * uhmm_warn_count() - how many WARN-class messages the library has issued
 *
 * A WARN marks a state that should be impossible or an API misuse the kernel
 * would WARN on.  Tests read this to check that misuse was noticed.
 */
unsigned long uhmm_warn_count(void);

#ifdef __cplusplus
}
#endif
#endif /* UHMM_LOG_H */
