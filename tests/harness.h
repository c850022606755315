/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small test harness in the style of the kernel's kselftest_harness.h.
 *
 *	TEST(name) { ... ASSERT_EQ(a, b); ... }
 *
 * Each test runs in its own forked process with a time limit, so a crash or
 * a hang fails that test alone.  Output is TAP ("ok 1 name", "not ok 2 name",
 * "ok 3 name # SKIP reason"), ending with "# N passed, N failed, N skipped".
 * Arguments select tests whose name contains any of them.
 */
#ifndef UHMM_TEST_HARNESS_H
#define UHMM_TEST_HARNESS_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define HARNESS_SKIP_EXIT	77
#define HARNESS_TIMEOUT_S	120

struct harness_test {
	const char *name;
	void (*fn)(void);
	struct harness_test *next;
};

/* Constructors run in reverse order of definition: prepending keeps file order. */
static struct harness_test *harness_tests;

#define TEST(name)								\
	static void test_##name(void);						\
	static struct harness_test harness_##name = { #name, test_##name, NULL };	\
	__attribute__((constructor)) static void harness_register_##name(void)	\
	{									\
		harness_##name.next = harness_tests;				\
		harness_tests = &harness_##name;				\
	}									\
	static void test_##name(void)

#define HARNESS_FAIL(fmt, ...) do {						\
	fprintf(stderr, "#   %s:%d: " fmt "\n", __FILE__, __LINE__, ##__VA_ARGS__);	\
	fflush(stderr);								\
	_exit(1);								\
} while (0)

#define ASSERT_TRUE(c) do { if (!(c)) HARNESS_FAIL("expected true: %s", #c); } while (0)
#define ASSERT_FALSE(c) do { if (c) HARNESS_FAIL("expected false: %s", #c); } while (0)
#define ASSERT_OP(a, op, b) do {						\
	long long __a = (long long)(a), __b = (long long)(b);			\
	if (!(__a op __b))							\
		HARNESS_FAIL("expected %s %s %s: %lld vs %lld", #a, #op, #b, __a, __b);	\
} while (0)
#define ASSERT_EQ(a, b)	ASSERT_OP(a, ==, b)
#define ASSERT_NE(a, b)	ASSERT_OP(a, !=, b)
#define ASSERT_LT(a, b)	ASSERT_OP(a, <, b)
#define ASSERT_LE(a, b)	ASSERT_OP(a, <=, b)
#define ASSERT_GT(a, b)	ASSERT_OP(a, >, b)
#define ASSERT_GE(a, b)	ASSERT_OP(a, >=, b)
#define ASSERT_NULL(p)	ASSERT_TRUE((p) == NULL)
#define ASSERT_NONNULL(p) ASSERT_TRUE((p) != NULL)
#define ASSERT_STREQ(a, b) do {							\
	const char *__a = (a), *__b = (b);					\
	if (!__a || !__b || strcmp(__a, __b))					\
		HARNESS_FAIL("expected \"%s\" == \"%s\"", __a ? __a : "(null)", __b ? __b : "(null)");	\
} while (0)

#define SKIP(fmt, ...) do {							\
	printf("SKIP-REASON " fmt "\n", ##__VA_ARGS__);				\
	fflush(stdout);								\
	_exit(HARNESS_SKIP_EXIT);						\
} while (0)

static bool harness_selected(const char *name, int argc, char **argv)
{
	int i;

	if (argc < 2)
		return true;
	for (i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return true;
	return false;
}

/* Run one test in a child; its stdout goes through a pipe to find a skip reason. */
static int harness_run(struct harness_test *t, char *reason, size_t reason_len)
{
	int pipefd[2], status;
	char buf[4096];
	size_t used = 0;
	ssize_t n;
	pid_t pid;

	reason[0] = '\0';
	if (pipe(pipefd))
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(pipefd[0]);
		dup2(pipefd[1], STDOUT_FILENO);
		alarm(HARNESS_TIMEOUT_S);
		t->fn();
		/* exit(), not _exit(): LeakSanitizer checks at exit in sanitizer builds. */
		exit(0);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], buf + used, sizeof(buf) - 1 - used)) > 0) {
		used += n;
		if (used == sizeof(buf) - 1) {
			buf[used] = '\0';
			fputs(buf, stdout);
			used = 0;
		}
	}
	buf[used] = '\0';
	close(pipefd[0]);
	waitpid(pid, &status, 0);

	{
		char *s = strstr(buf, "SKIP-REASON ");

		if (s) {
			snprintf(reason, reason_len, "%s", s + strlen("SKIP-REASON "));
			reason[strcspn(reason, "\n")] = '\0';
			*s = '\0';
		}
	}
	fputs(buf, stdout);
	if (WIFEXITED(status) && WEXITSTATUS(status) == HARNESS_SKIP_EXIT)
		return HARNESS_SKIP_EXIT;
	if (WIFSIGNALED(status))
		fprintf(stderr, "#   killed by signal %d%s\n", WTERMSIG(status),
			WTERMSIG(status) == SIGALRM ? " (time limit)" : "");
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0, n = 0;
	struct harness_test *t;
	char reason[256];

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (t = harness_tests; t; t = t->next)
		if (harness_selected(t->name, argc, argv))
			n++;
	printf("TAP version 13\n1..%d\n", n);
	n = 0;
	for (t = harness_tests; t; t = t->next) {
		int ret;

		if (!harness_selected(t->name, argc, argv))
			continue;
		n++;
		ret = harness_run(t, reason, sizeof(reason));
		if (ret == HARNESS_SKIP_EXIT) {
			skipped++;
			printf("ok %d %s # SKIP %s\n", n, t->name, reason);
		} else if (ret == 0) {
			passed++;
			printf("ok %d %s\n", n, t->name);
		} else {
			failed++;
			printf("not ok %d %s\n", n, t->name);
		}
	}
	printf("# %d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}

#endif /* UHMM_TEST_HARNESS_H */
