// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fault and delay injection for tests: uhmm_fail_nth() makes the Nth next
 * operation at a site fail, uhmm_inject_delay() makes a site sleep.
 */
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

#include <uhmm/migrate.h>

#include "../core/internal.h"
#include "mm_internal.h"

static unsigned long fail_countdown[UHMM_FAIL_NR];

bool mm_should_fail(int site)
{
	unsigned long old = __atomic_load_n(&fail_countdown[site], __ATOMIC_RELAXED);

	do {
		if (!old)
			return false;
	} while (!__atomic_compare_exchange_n(&fail_countdown[site], &old, old - 1, true,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return old == 1;
}

UHMM_EXPORT long uhmm_fail_nth(enum uhmm_fail_site site, unsigned long nth)
{
	if ((unsigned int)site >= UHMM_FAIL_NR)
		return -EINVAL;
	return (long)__atomic_exchange_n(&fail_countdown[site], nth, __ATOMIC_RELAXED);
}

static unsigned long delay_usec[UHMM_DELAY_NR];

void mm_inject_delay(int site)
{
	unsigned long usec = __atomic_load_n(&delay_usec[site], __ATOMIC_RELAXED);

	if (usec)
		usleep(usec);
}

UHMM_EXPORT long uhmm_inject_delay(enum uhmm_delay_site site, unsigned long usec)
{
	if ((unsigned int)site >= UHMM_DELAY_NR)
		return -EINVAL;
	return (long)__atomic_exchange_n(&delay_usec[site], usec, __ATOMIC_RELAXED);
}
