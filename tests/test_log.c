// SPDX-License-Identifier: LGPL-2.1-or-later
/* The library's messages (lib/core/log.c): what a log callback receives. */
#include <stdio.h>
#include <string.h>

#include <uhmm/log.h>

#include "../lib/core/internal.h"
#include "harness.h"

struct seen {
	int level;
	int calls;
	char msg[512];
};

static void capture(int level, const char *msg, void *data)
{
	struct seen *s = data;

	s->level = level;
	s->calls++;
	snprintf(s->msg, sizeof(s->msg), "%s", msg);
}

/* log.h: the message comes without a trailing newline, even if one was written. */
TEST(no_trailing_newline)
{
	struct seen s = { 0 };

	uhmm_set_log_fn(capture, &s);
	pr_err("with one %d\n", 1);
	ASSERT_EQ(s.calls, 1);
	ASSERT_EQ(s.level, UHMM_LOG_ERR);
	ASSERT_STREQ(s.msg, "with one 1");
	pr_warn("without");
	ASSERT_STREQ(s.msg, "without");
	pr_warn("inner\nkept\n\n");
	ASSERT_STREQ(s.msg, "inner\nkept");
	uhmm_set_log_fn(NULL, NULL);
}

TEST(level_filters_and_warn_counts)
{
	struct seen s = { 0 };
	unsigned long warns = uhmm_warn_count();

	uhmm_set_log_fn(capture, &s);
	pr_debug("not shown at the default level");
	ASSERT_EQ(s.calls, 0);
	WARN(1, "counted");
	ASSERT_EQ(s.calls, 1);
	ASSERT_STREQ(s.msg, "counted");
	ASSERT_EQ(uhmm_warn_count(), warns + 1);
	uhmm_set_log_fn(NULL, NULL);
}
