// SPDX-License-Identifier: LGPL-2.1-or-later
/* The library's messages (lib/core/log.c): what a log callback receives. */
#include <errno.h>
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

/* A message longer than any fixed buffer arrives whole. */
static void capture_length(int level, const char *msg, void *data)
{
	(void)level;
	*(size_t *)data = strlen(msg) + (msg[0] == 'x' && msg[strlen(msg) - 1] == 'y');
}

TEST(long_messages_arrive_whole)
{
	char text[5000];
	size_t got = 0;

	memset(text, 'x', sizeof(text) - 2);
	text[sizeof(text) - 2] = 'y';
	text[sizeof(text) - 1] = '\0';
	uhmm_set_log_fn(capture_length, &got);
	pr_err("%s", text);
	uhmm_set_log_fn(NULL, NULL);
	ASSERT_EQ(got, sizeof(text) - 1 + 1);	/* all of it, its last byte too */
}

/* UHMM_LOG's values: names and numbers; anything else is refused. */
TEST(uhmm_log_values)
{
	ASSERT_EQ(log_level_parse("err"), UHMM_LOG_ERR);
	ASSERT_EQ(log_level_parse("warning"), UHMM_LOG_WARNING);
	ASSERT_EQ(log_level_parse("notice"), UHMM_LOG_NOTICE);
	ASSERT_EQ(log_level_parse("info"), UHMM_LOG_INFO);
	ASSERT_EQ(log_level_parse("debug"), UHMM_LOG_DEBUG);
	ASSERT_EQ(log_level_parse("7"), UHMM_LOG_DEBUG);
	ASSERT_EQ(log_level_parse("0"), 0);
	ASSERT_EQ(log_level_parse("8"), -EINVAL);
	ASSERT_EQ(log_level_parse("-1"), -EINVAL);
	ASSERT_EQ(log_level_parse("3x"), -EINVAL);
	ASSERT_EQ(log_level_parse(""), -EINVAL);
	ASSERT_EQ(log_level_parse("DEBUG"), -EINVAL);
}
