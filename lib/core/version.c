// SPDX-License-Identifier: LGPL-2.1-or-later
/* Which uhmm is running (<uhmm/version.h> says which one a program was built with). */
#include <uhmm/version.h>

#include "internal.h"

UHMM_EXPORT unsigned int uhmm_version(void)
{
	return UHMM_VERSION_CODE;
}

UHMM_EXPORT const char *uhmm_version_string(void)
{
	return UHMM_VERSION_STRING;
}
