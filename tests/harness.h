/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small test harness in the style of the kernel's kselftest_harness.h.
 *
 *	TEST(name) { ... ASSERT_EQ(a, b); ... }
 *
 * Each test runs in its own forked process with a time limit, so a crash or
 * a hang fails that test alone, and so does a sanitizer report in its output
 * (ASan, UBSan, TSan, LSan), even if the test exits 0.  Output is TAP ("ok 1 name", "not ok 2 name",
 * "ok 3 name # SKIP reason"), ending with "# N passed, N failed, N skipped".
 * Arguments select tests whose name contains any of them.
 */
#ifndef UHMM_TEST_HARNESS_H
#define UHMM_TEST_HARNESS_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
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

/*
 * Run the shell command @cmd and read its stdout into @out (@len bytes, NUL
 * terminated); its exit status, or -1 if it did not exit.
 */
static inline int harness_popen(const char *cmd, char *out, size_t len)
{
	size_t n = 0, r;
	FILE *p = popen(cmd, "r");
	int status;

	ASSERT_NONNULL(p);
	while (n + 1 < len && (r = fread(out + n, 1, len - 1 - n, p)) > 0)
		n += r;
	out[n] = '\0';
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

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

/*
 * A sanitizer report fails the test it comes from, even when the test then
 * exits 0: a report from a background thread, one printed while the
 * process exits (LeakSanitizer), or one from a runtime told to continue.
 * lockdep_assert_held()'s warning ("lockdep: ...") counts as one.
 */
static bool harness_is_sanitizer_report(const char *line)
{
	const char *summary = strstr(line, "SUMMARY: ");

	return strstr(line, "ERROR: AddressSanitizer") ||
	       strstr(line, "ERROR: LeakSanitizer") ||
	       strstr(line, "WARNING: ThreadSanitizer") ||
	       strstr(line, "runtime error:") ||
	       strstr(line, "lockdep: ") ||
	       (summary && strstr(summary, "Sanitizer"));
}

/* One output stream of a test's child, passed on line by line. */
struct harness_stream {
	int fd;				/* -1 once closed */
	FILE *out;
	char line[4096];
	size_t len;
};

struct harness_result {
	char *reason;			/* SKIP-REASON, from stdout */
	size_t reason_len;
	char report[256];		/* the first sanitizer report line */
};

static void harness_line(struct harness_stream *s, struct harness_result *res)
{
	static const char skip[] = "SKIP-REASON ";

	char *r;

	s->line[s->len] = '\0';
	s->len = 0;
	r = s->out == stdout ? strstr(s->line, skip) : NULL;
	if (r) {
		snprintf(res->reason, res->reason_len, "%s", r + strlen(skip));
		res->reason[strcspn(res->reason, "\n")] = '\0';
		*r = '\0';
	}
	if (!res->report[0] && harness_is_sanitizer_report(s->line)) {
		snprintf(res->report, sizeof(res->report), "%.255s", s->line);
		res->report[strcspn(res->report, "\n")] = '\0';
	}
	/* The test's stderr becomes TAP comments, in place before its ok / not ok. */
	if (s->out != stdout && s->line[0] != '#')
		fputs("# ", stdout);
	fputs(s->line, stdout);
}

/* Read what is there; false at end of file. */
static bool harness_read(struct harness_stream *s, struct harness_result *res)
{
	char buf[4096];
	ssize_t n, i;

	n = read(s->fd, buf, sizeof(buf));
	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0) {
		if (s->len)
			harness_line(s, res);
		close(s->fd);
		s->fd = -1;
		return false;
	}
	for (i = 0; i < n; i++) {
		s->line[s->len++] = buf[i];
		if (buf[i] == '\n' || s->len == sizeof(s->line) - 1)
			harness_line(s, res);
	}
	return true;
}

/* The running test's process group, for a Ctrl-C or kill of the harness to reach. */
static volatile sig_atomic_t harness_current;

static void harness_stop(int sig)
{
	if (harness_current)
		kill(-harness_current, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* How long a test's leftover processes may hold its output: HARNESS_LEFTOVER_S, or 10 s. */
static unsigned int harness_leftover_s(void)
{
	const char *s = getenv("HARNESS_LEFTOVER_S");
	int n = s ? atoi(s) : 0;

	return n > 0 ? (unsigned int)n : 10;
}

/*
 * Run one test in a child.  Its stdout and stderr come through pipes, to
 * find a skip reason and sanitizer reports, and both go on to stdout, its
 * stderr as TAP comments ("# "), so that a failure's reason stands just
 * above its "not ok" line (meson test keeps a program's stderr apart).
 */
static int harness_run(struct harness_test *t, char *reason, size_t reason_len)
{
	struct harness_result res = { .reason = reason, .reason_len = reason_len };
	struct harness_stream streams[2] = { { .out = stdout }, { .out = stderr } };
	int outfd[2], errfd[2], status = 0, i;
	bool exited = false, leftover = false;
	unsigned int idle_s = 0;
	pid_t pid;

	reason[0] = '\0';
	if (pipe(outfd))
		return -1;
	if (pipe(errfd)) {
		close(outfd[0]);
		close(outfd[1]);
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setpgid(0, 0);	/* its own group, so its leftovers can be killed */
		close(outfd[0]);
		close(errfd[0]);
		dup2(outfd[1], STDOUT_FILENO);
		dup2(errfd[1], STDERR_FILENO);
		close(outfd[1]);
		close(errfd[1]);
		alarm(HARNESS_TIMEOUT_S);
		t->fn();
		/* exit(), not _exit(): LeakSanitizer checks at exit in sanitizer builds. */
		exit(0);
	}
	setpgid(pid, pid);	/* either side may be first */
	harness_current = pid;
	close(outfd[1]);
	close(errfd[1]);
	streams[0].fd = outfd[0];
	streams[1].fd = errfd[0];
	/*
	 * Until both close.  Processes the test started may hold them after
	 * it exited (a grandchild that hangs): they get harness_leftover_s(),
	 * then the test's process group is killed and the test fails.
	 */
	while (streams[0].fd >= 0 || streams[1].fd >= 0) {
		struct pollfd pfd[2];
		int ready;

		for (i = 0; i < 2; i++)
			pfd[i] = (struct pollfd){ .fd = streams[i].fd, .events = POLLIN };
		ready = poll(pfd, 2, 1000);
		if (ready < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < 2; i++)
			if (streams[i].fd >= 0 && pfd[i].revents)
				harness_read(&streams[i], &res);
		if (!exited && waitpid(pid, &status, WNOHANG) == pid)
			exited = true;
		if (exited && !ready && ++idle_s >= harness_leftover_s()) {
			kill(-pid, SIGKILL);
			printf("#   the test exited, but processes it started still held "
		       "its output %u s later: killed them\n", idle_s);
			leftover = true;
			break;
		}
	}
	for (i = 0; i < 2; i++)
		if (streams[i].fd >= 0)
			close(streams[i].fd);
	fflush(stderr);
	if (!exited)
		waitpid(pid, &status, 0);
	harness_current = 0;

	if (res.report[0]) {
		printf("#   sanitizer report: %s\n", res.report);
		return 1;
	}
	if (leftover)
		return 1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == HARNESS_SKIP_EXIT)
		return HARNESS_SKIP_EXIT;
	if (WIFSIGNALED(status))
		printf("#   killed by signal %d%s\n", WTERMSIG(status),
		       WTERMSIG(status) == SIGALRM ? " (time limit)" : "");
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

/*
 * HARNESS_SELF_CHECK=1 in the environment runs these instead of the
 * program's tests; tests/run-suite does, to show that a report fails the
 * test that printed it.  The reports are fakes: under the CI's options the
 * real runtimes usually abort the child too, which fails it anyway.
 */
static void harness_fake_report(const char *line)
{
	if (write(STDERR_FILENO, line, strlen(line)) < 0)
		_exit(2);
}

static void *harness_fake_report_thread(void *arg)
{
	(void)arg;
	harness_fake_report("==0==ERROR: AddressSanitizer: heap-use-after-free (harness self-check)\n");
	return NULL;
}

static void harness_fake_report_at_exit(void)
{
	harness_fake_report("==0==ERROR: LeakSanitizer: detected memory leaks (harness self-check)\n");
}

static void harness_check_report_from_a_thread(void)
{
	pthread_t th;

	if (pthread_create(&th, NULL, harness_fake_report_thread, NULL) ||
	    pthread_join(th, NULL))
		HARNESS_FAIL("no thread");
}

static void harness_check_report_at_exit(void)
{
	atexit(harness_fake_report_at_exit);
}

static void harness_check_clean(void)
{
	fprintf(stderr, "# a line on stderr that is no report\n");
}

/* A grandchild that keeps the test's output open, as a hung one would. */
static void harness_check_leftover(void)
{
	if (fork() == 0) {
		pause();
		_exit(0);
	}
}

static struct harness_test harness_self_checks[] = {
	{ "sanitizer_report_from_a_thread_fails", harness_check_report_from_a_thread,
	  &harness_self_checks[1] },
	{ "sanitizer_report_at_exit_fails", harness_check_report_at_exit,
	  &harness_self_checks[2] },
	{ "clean_test_passes", harness_check_clean, &harness_self_checks[3] },
	{ "leftover_process_fails", harness_check_leftover, NULL },
};

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0, n = 0;
	struct harness_test *t, *tests = harness_tests;
	char reason[256];

	if (getenv("HARNESS_SELF_CHECK"))
		tests = harness_self_checks;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGINT, harness_stop);
	signal(SIGTERM, harness_stop);
	signal(SIGHUP, harness_stop);
	for (t = tests; t; t = t->next)
		if (harness_selected(t->name, argc, argv))
			n++;
	printf("TAP version 13\n1..%d\n", n);
	n = 0;
	for (t = tests; t; t = t->next) {
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
