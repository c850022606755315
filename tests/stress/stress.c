// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The stress programs' shared parts: see stress.h.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uhmm/uhmm.h>
#include <uhmm/module.h>

#include "stress.h"

extern char **environ;

struct stress_opts stress_opts;

static const char *program;
static struct timespec start;
static int stopped;			/* atomic */
static uint64_t end_ms;
static unsigned long failures;		/* atomic */
static unsigned long failures_shown;	/* atomic: since the phase began */
static uint64_t first_failure_ms;	/* atomic; 0: none yet */
static unsigned long warns_at_start;
static unsigned long log_lines;		/* atomic */
static pthread_mutex_t report_mutex = PTHREAD_MUTEX_INITIALIZER;

static struct stress_thread threads[STRESS_MAX_THREADS];
static int thread_ready[STRESS_MAX_THREADS];	/* atomic: slot filled */
static int nr_threads;				/* atomic */
static __thread struct stress_thread *self;

void (*stress_report_hook)(void);

#define LOG_LINES_MAX	200
#define FAIL_LINES_MAX	60

uint64_t stress_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - start.tv_sec) * 1000 +
	       (uint64_t)((now.tv_nsec - start.tv_nsec) / 1000000);
}

bool stress_running(void)
{
	return !__atomic_load_n(&stopped, __ATOMIC_RELAXED) && stress_ms() < end_ms;
}

void stress_stop(void)
{
	__atomic_store_n(&stopped, 1, __ATOMIC_RELAXED);
}

/* --- reports -------------------------------------------------------------------- */

void stress_report_lock(void)
{
	pthread_mutex_lock(&report_mutex);
}

void stress_report_unlock(void)
{
	pthread_mutex_unlock(&report_mutex);
}

static void vnote(const char *prefix, const char *fmt, va_list ap)
{
	uint64_t ms = stress_ms();
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "# %s[%" PRIu64 ".%03" PRIu64 "s] %s\n", prefix, ms / 1000, ms % 1000,
		line);
}

void stress_fail(const char *fmt, ...)
{
	uint64_t zero = 0, ms = stress_ms();
	unsigned long n;
	va_list ap;

	if (!ms)
		ms = 1;
	__atomic_compare_exchange_n(&first_failure_ms, &zero, ms, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
	__atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
	n = __atomic_add_fetch(&failures_shown, 1, __ATOMIC_RELAXED);
	if (n > FAIL_LINES_MAX) {
		if (n == FAIL_LINES_MAX + 1)
			fprintf(stderr, "# more failures: counted, not shown\n");
		return;
	}
	va_start(ap, fmt);
	vnote("FAIL ", fmt, ap);
	va_end(ap);
}

void stress_phase(const char *name)
{
	__atomic_store_n(&failures_shown, 0, __ATOMIC_RELAXED);
	stress_note(false, "%s", name);
}

void stress_note(bool verbose_only, const char *fmt, ...)
{
	va_list ap;

	if (verbose_only && !stress_opts.verbose)
		return;
	va_start(ap, fmt);
	vnote("", fmt, ap);
	va_end(ap);
}

unsigned long stress_failures(void)
{
	return __atomic_load_n(&failures, __ATOMIC_RELAXED);
}

uint64_t stress_first_failure_ms(void)
{
	return __atomic_load_n(&first_failure_ms, __ATOMIC_RELAXED);
}

int stress_finish(const char *summary)
{
	unsigned long warns = uhmm_warn_count() - warns_at_start;
	unsigned long n;
	uint64_t first;

	struct uhmm_mm_stats st = { .size = sizeof(st) };

	if (warns)
		stress_fail("uhmm issued %lu WARN(s) during the run", warns);
	/* The kernel bug of the README's limits, seen and corrected: worth a line. */
	if (!uhmm_mm_get_stats(&st) && st.moves_undercounted)
		stress_note(false, "%" PRIu64 " UFFDIO_MOVE(s) moved more than they reported",
			    st.moves_undercounted);
	n = stress_failures();
	first = stress_first_failure_ms();
	fflush(stderr);
	if (n) {
		printf("not ok - %s: %lu failure(s), the first after %" PRIu64 ".%03" PRIu64
		       " s; %s\n", program, n, first / 1000, first % 1000, summary);
		fflush(stdout);
		return STRESS_FAIL;
	}
	printf("ok - %s %s\n", program, summary);
	fflush(stdout);
	return STRESS_PASS;
}

/* --- uhmm's messages --------------------------------------------------------------- */

static void log_message(int level, const char *msg, void *data)
{
	unsigned long n = __atomic_add_fetch(&log_lines, 1, __ATOMIC_RELAXED);
	uint64_t ms = stress_ms();

	(void)data;
	if (n > LOG_LINES_MAX) {
		if (n == LOG_LINES_MAX + 1)
			fprintf(stderr, "# uhmm: more messages, not shown\n");
		return;
	}
	fprintf(stderr, "# uhmm %s [%" PRIu64 ".%03" PRIu64 "s]: %s\n",
		level <= UHMM_LOG_ERR ? "error" : level == UHMM_LOG_WARNING ? "warning" : "note",
		ms / 1000, ms % 1000, msg);
}

/* --- threads ------------------------------------------------------------------------ */

struct stress_thread *stress_thread_register(const char *fmt, ...)
{
	int i = __atomic_fetch_add(&nr_threads, 1, __ATOMIC_RELAXED);
	struct stress_thread *t;
	va_list ap;

	if (i >= STRESS_MAX_THREADS) {
		fprintf(stderr, "# too many threads\n");
		abort();
	}
	t = &threads[i];
	memset(t, 0, sizeof(*t));
	va_start(ap, fmt);
	vsnprintf(t->name, sizeof(t->name), fmt, ap);
	va_end(ap);
	t->index = i;
	t->tid = (pid_t)syscall(SYS_gettid);
	t->op = "starting";
	pthread_setname_np(pthread_self(), t->name);
	self = t;
	__atomic_store_n(&thread_ready[i], 1, __ATOMIC_RELEASE);
	return t;
}

struct stress_thread *stress_self(void)
{
	return self;
}

void stress_child_reset(void)
{
	static char name[64];
	int i;

	snprintf(name, sizeof(name), "%s (child %d)", program, (int)getpid());
	program = name;
	/* Another thread of the parent may have held it at the fork. */
	pthread_mutex_init(&report_mutex, NULL);
	for (i = 0; i < STRESS_MAX_THREADS; i++)
		__atomic_store_n(&thread_ready[i], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&nr_threads, 0, __ATOMIC_RELAXED);
	self = NULL;
}

static void print_threads(void)
{
	int i, n = __atomic_load_n(&nr_threads, __ATOMIC_RELAXED);
	uint64_t now = stress_ms();

	if (n > STRESS_MAX_THREADS)
		n = STRESS_MAX_THREADS;
	fprintf(stderr, "# threads (what each was doing, for how long, pages it got through):\n");
	for (i = 0; i < n; i++) {
		struct stress_thread *t = &threads[i];
		const char *op;
		uint64_t since;

		if (!__atomic_load_n(&thread_ready[i], __ATOMIC_ACQUIRE))
			continue;
		op = __atomic_load_n(&t->op, __ATOMIC_ACQUIRE);
		since = __atomic_load_n(&t->since_ms, __ATOMIC_RELAXED);
		fprintf(stderr, "#   %-10s tid %-7d %-28s addr %#" PRIx64 " npages %" PRIu64
			" for %" PRIu64 " ms, progress %" PRIu64 "\n",
			t->name, (int)t->tid, op ? op : "?",
			__atomic_load_n(&t->addr, __ATOMIC_RELAXED),
			__atomic_load_n(&t->npages, __ATOMIC_RELAXED),
			since <= now ? now - since : 0,
			__atomic_load_n(&t->progress, __ATOMIC_RELAXED));
	}
}

static void read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/* Each task's name, state and kernel wait channel: cheap, and tells a uffd wait. */
static void print_tasks(pid_t pid)
{
	char path[320], comm[64], stat[512], wchan[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return;
	fprintf(stderr, "# tasks of %d (tid, name, state, kernel wait channel):\n", (int)pid);
	while ((de = readdir(d))) {
		const char *state;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)pid, de->d_name);
		read_small(path, comm, sizeof(comm));
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid, de->d_name);
		read_small(path, stat, sizeof(stat));
		snprintf(path, sizeof(path), "/proc/%d/task/%s/wchan", (int)pid, de->d_name);
		read_small(path, wchan, sizeof(wchan));
		state = strrchr(stat, ')');
		fprintf(stderr, "#   %-7s %-16s %c %s\n", de->d_name, comm,
			state && state[1] ? state[2] : '?', wchan);
	}
	closedir(d);
}

/* --- stacks ----------------------------------------------------------------------- */

/*
 * Each thread's stack, taken in the thread itself by a signal, and named by
 * addr2line.  Not gdb: a thread waiting in the kernel on a userfaultfd fault
 * (a system call that touched a page in device memory) cannot be stopped
 * while the fault engine is stopped too, so gdb's attach waits for ever.
 * Such a thread does not run the handler either; it is shown as such.
 */
#define STACK_FRAMES	48

static int stack_signal;
static pid_t stack_target;		/* atomic: the thread asked for its stack */
static int stack_depth;			/* atomic: frames taken, -1 while waiting */
static void *stack_frames[STACK_FRAMES];

static void take_stack(int sig)
{
	int saved = errno;

	(void)sig;
	if (__atomic_load_n(&stack_target, __ATOMIC_ACQUIRE) == (pid_t)syscall(SYS_gettid)) {
		int n = backtrace(stack_frames, STACK_FRAMES);

		__atomic_store_n(&stack_target, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&stack_depth, n, __ATOMIC_RELEASE);
	}
	errno = saved;
}

static void install_stack_handler(void)
{
	struct sigaction sa;
	void *warm[2];

	/* The first backtrace() loads the unwinder: not inside a handler. */
	backtrace(warm, 2);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = take_stack;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	stack_signal = SIGRTMIN + 4;
	sigaction(stack_signal, &sa, NULL);
}

/* One line of addr2line for @offset in @object, or nothing. */
static void addr2line(const char *object, uintptr_t offset, char *out, size_t len)
{
	static const char *const tool = "/usr/bin/addr2line";
	posix_spawn_file_actions_t fa;
	char off[32], obj[PATH_MAX];
	char *argv[] = { (char *)"addr2line", (char *)"-f", (char *)"-p", (char *)"-C",
			 (char *)"-e", obj, off, NULL };
	int pipefd[2], status;
	ssize_t n, got = 0;
	pid_t child;

	out[0] = '\0';
	if (access(tool, X_OK) || pipe(pipefd))
		return;
	/* A module is mapped from /proc/self/fd/N: addr2line's self is not ours. */
	if (!strncmp(object, "/proc/self/", 11))
		snprintf(obj, sizeof(obj), "/proc/%d/%s", (int)getpid(), object + 11);
	else
		snprintf(obj, sizeof(obj), "%s", object);
	snprintf(off, sizeof(off), "%#lx", (unsigned long)offset);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	posix_spawn_file_actions_addclose(&fa, pipefd[0]);
	if (!posix_spawn(&child, tool, &fa, NULL, argv, environ)) {
		close(pipefd[1]);
		pipefd[1] = -1;
		while (got < (ssize_t)len - 1 &&
		       (n = read(pipefd[0], out + got, len - 1 - (size_t)got)) > 0)
			got += n;
		out[got > 0 ? got : 0] = '\0';
		out[strcspn(out, "\n")] = '\0';
		waitpid(child, &status, 0);
	}
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (strstr(out, "??"))
		out[0] = '\0';
}

/* "function at file:line" for a code address (@ret: a return address). */
static void name_pc(void *pc, bool ret, char *out, size_t len)
{
	Dl_info dli;

	if (!dladdr(pc, &dli) || !dli.dli_fname) {
		snprintf(out, len, "%p", pc);
		return;
	}
	/* A return address: the call is one byte before it. */
	addr2line(dli.dli_fname, (uintptr_t)pc - (uintptr_t)dli.dli_fbase - (ret ? 1 : 0), out, len);
	if (!out[0])
		snprintf(out, len, "%s (%s+%#lx)", dli.dli_sname ? dli.dli_sname : "?",
			 dli.dli_fname, (unsigned long)((uintptr_t)pc - (uintptr_t)dli.dli_fbase));
}

static void print_frames(void *const *frames, int n)
{
	char where[512];
	int i;

	for (i = 0; i < n; i++) {
		name_pc(frames[i], i > 0, where, sizeof(where));
		fprintf(stderr, "#       #%-2d %s\n", i, where);
	}
}

/* Whether thread @tid blocks @sig (its SigBlk in /proc). */
static bool signal_blocked(pid_t tid, int sig)
{
	char path[64], buf[2048], *p;
	unsigned long long mask;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	p = strstr(buf, "SigBlk:");
	if (!p)
		return false;
	mask = strtoull(p + 7, NULL, 16);
	return mask & (1ULL << (sig - 1));
}

/* The r-xp mappings, to tell a return address from other words on a stack. */
struct code_range {
	uintptr_t start, end;
};

static size_t code_ranges(struct code_range *r, size_t max, uintptr_t sp, uintptr_t *stack_end)
{
	char line[512];
	size_t n = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	*stack_end = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3)
			continue;
		if (perms[2] == 'x' && n < max)
			r[n++] = (struct code_range){ lo, hi };
		if (sp >= lo && sp < hi && perms[0] == 'r')
			*stack_end = hi;
	}
	fclose(f);
	return n;
}

/* A word of another thread's stack: under the sanitizers, not a finding of theirs. */
__attribute__((no_sanitize("address", "thread"), noinline))
static uintptr_t peek(uintptr_t addr)
{
	return *(const volatile uintptr_t *)addr;
}

/*
 * A thread that blocks signals (the library's own): its kernel stack, its
 * system call, and the words on its stack that point into code, named.
 * Not an unwind: a word may be stale, but the calls that led to a wait are
 * among them, innermost first.
 */
static void print_blocked_thread(pid_t tid)
{
	char path[64], buf[1024];
	struct code_range ranges[128];
	unsigned long nr, a[6], sp = 0, pc = 0;
	uintptr_t stack_end, w;
	size_t nranges, i, found = 0;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stack", (int)tid);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		if (n > 0) {
			char *line = strtok(buf, "\n");

			fprintf(stderr, "#       kernel stack:\n");
			for (; line; line = strtok(NULL, "\n"))
				fprintf(stderr, "#         %s\n", line);
		}
	}
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	read_small(path, buf, sizeof(buf));
	if (sscanf(buf, "%lu %lx %lx %lx %lx %lx %lx %lx %lx", &nr, &a[0], &a[1], &a[2], &a[3],
		   &a[4], &a[5], &sp, &pc) != 9) {
		fprintf(stderr, "#       system call: %s\n", buf[0] ? buf : "?");
		return;
	}
	fprintf(stderr, "#       in system call %lu (%s) with %#lx %#lx %#lx, sp %#lx\n", nr,
		nr == SYS_futex ? "futex: the first is the lock's address" :
		nr == SYS_poll ? "poll" : nr == SYS_read ? "read" : "see unistd.h", a[0], a[1],
		a[2], sp);
	nranges = code_ranges(ranges, 128, sp, &stack_end);
	if (!stack_end)
		return;
	fprintf(stderr, "#       code addresses on its stack, innermost first (a scan, not an unwind):\n");
	for (w = sp & ~(uintptr_t)7; w + 8 <= stack_end && w < sp + 32768 && found < 24; w += 8) {
		uintptr_t v = peek(w);
		char where[512];

		for (i = 0; i < nranges; i++)
			if (v > ranges[i].start && v < ranges[i].end)
				break;
		if (i == nranges)
			continue;
		name_pc((void *)v, true, where, sizeof(where));
		fprintf(stderr, "#       ~   %s\n", where);
		found++;
		if (!strncmp(where, "start_thread ", 13))
			break;
	}
}

static void print_own_stacks(void)
{
	pid_t me = (pid_t)syscall(SYS_gettid);
	struct dirent *de;
	DIR *d = opendir("/proc/self/task");

	if (!d)
		return;
	fprintf(stderr, "# stacks (each taken by the thread itself):\n");
	while ((de = readdir(d))) {
		pid_t tid = (pid_t)atoi(de->d_name);
		char path[64], comm[32];
		int i, n = -1;

		if (tid <= 0 || tid == me)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%d/comm", (int)tid);
		read_small(path, comm, sizeof(comm));
		__atomic_store_n(&stack_depth, -1, __ATOMIC_RELAXED);
		__atomic_store_n(&stack_target, tid, __ATOMIC_RELEASE);
		if (syscall(SYS_tgkill, getpid(), tid, stack_signal))
			continue;
		for (i = 0; i < 100 && n < 0; i++) {
			usleep(10000);
			n = __atomic_load_n(&stack_depth, __ATOMIC_ACQUIRE);
		}
		if (n < 0) {
			/* It may take the signal later: make it a no-op then. */
			__atomic_store_n(&stack_target, 0, __ATOMIC_RELEASE);
			if (signal_blocked(tid, stack_signal)) {
				fprintf(stderr, "#   %d %s: blocks signals (a library thread)\n",
					(int)tid, comm);
				print_blocked_thread(tid);
			} else {
				fprintf(stderr, "#   %d %s: no answer in 1 s (blocked in the kernel)\n",
					(int)tid, comm);
				print_blocked_thread(tid);
			}
			continue;
		}
		fprintf(stderr, "#   %d %s:\n", (int)tid, comm);
		print_frames(stack_frames, n);
	}
	closedir(d);
}

/* A task of @pid in uninterruptible sleep (a kernel access waiting on userfaultfd), or 0. */
static pid_t task_in_d_state(pid_t pid)
{
	char path[320], stat[512];
	struct dirent *de;
	pid_t found = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		const char *state;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid, de->d_name);
		read_small(path, stat, sizeof(stat));
		state = strrchr(stat, ')');
		if (state && state[1] && state[2] == 'D')
			found = (pid_t)atoi(de->d_name);
	}
	closedir(d);
	return found;
}

/*
 * gdb's stacks, with STRESS_GDB=1 only: attaching stops the fault engine,
 * and a task whose access waits for it (in D state, or gdb's own reads of
 * registered memory) then never stops, so gdb can wait for ever and even
 * take minutes to die.  timeout(1) bounds it.
 */
static void print_gdb_stacks(pid_t pid)
{
	const char *env = getenv("STRESS_GDB");
	posix_spawn_file_actions_t fa;
	char pidstr[16];
	char *argv[] = {
		(char *)"timeout", (char *)"-s", (char *)"KILL", (char *)"30",
		(char *)"gdb", (char *)"-batch", (char *)"-nx", (char *)"-q", (char *)"-p", pidstr,
		(char *)"-ex", (char *)"set pagination off",
		/* Not a string argument: it may point at a page in device memory. */
		(char *)"-ex", (char *)"set print frame-arguments none",
		(char *)"-ex", (char *)"thread apply all bt 40", NULL
	};
	pid_t child, blocked;
	int status;

	if (!env || strcmp(env, "1") || access("/usr/bin/gdb", X_OK))
		return;
	blocked = task_in_d_state(pid);
	if (blocked)
		fprintf(stderr, "# (task %d is in D state: gdb may wait for it)\n", (int)blocked);
	snprintf(pidstr, sizeof(pidstr), "%d", (int)pid);
	fprintf(stderr, "# gdb's stacks of %d:\n", (int)pid);
	fflush(stderr);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
	if (!posix_spawnp(&child, "timeout", &fa, NULL, argv, environ))
		waitpid(child, &status, 0);
	posix_spawn_file_actions_destroy(&fa);
}

void stress_dump(const char *why, pid_t pid)
{
	struct timespec deadline;
	bool locked;

	/* A thread that holds the lock may be the one stuck: wait a little only. */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 2;
	locked = !pthread_mutex_timedlock(&report_mutex, &deadline);
	fprintf(stderr, "# ---- %s\n", why);
	if (!pid) {
		print_threads();
		pid = getpid();
	}
	print_tasks(pid);
	if (pid == getpid())
		print_own_stacks();
	print_gdb_stacks(pid);
	fprintf(stderr, "# ----\n");
	fflush(stderr);
	if (locked)
		pthread_mutex_unlock(&report_mutex);
}

static uint64_t total_progress(void)
{
	int i, n = __atomic_load_n(&nr_threads, __ATOMIC_RELAXED);
	uint64_t sum = 0;

	if (n > STRESS_MAX_THREADS)
		n = STRESS_MAX_THREADS;
	for (i = 0; i < n; i++)
		if (__atomic_load_n(&thread_ready[i], __ATOMIC_ACQUIRE))
			sum += __atomic_load_n(&threads[i].progress, __ATOMIC_RELAXED);
	return sum;
}

static void hang(const char *why)
{
	char line[256];

	snprintf(line, sizeof(line), "%s: %s", program, why);
	stress_dump(line, 0);
	printf("not ok - %s: hang: %s (%lu failure(s) before it)\n", program, why,
	       stress_failures());
	fflush(stdout);
	_exit(STRESS_HANG);
}

static void *watchdog(void *arg)
{
	uint64_t last = total_progress(), last_change = stress_ms();
	uint64_t limit = (uint64_t)stress_opts.watchdog * 1000;
	uint64_t hard = end_ms + (limit * 4 > 120000 ? limit * 4 : 120000);
	char why[128];

	const char *env = getenv("STRESS_DUMP_AT");
	/* STRESS_DUMP_AT=SECONDS: show the threads once then, to look at a slow run. */
	uint64_t dump_at = env && *env ? (uint64_t)(strtod(env, NULL) * 1000) : 0;

	(void)arg;
	pthread_setname_np(pthread_self(), "watchdog");
	for (;;) {
		uint64_t now, p;

		usleep(200000);
		now = stress_ms();
		if (dump_at && now >= dump_at) {
			dump_at = 0;
			stress_dump("STRESS_DUMP_AT", 0);
		}
		p = total_progress();
		if (p != last) {
			last = p;
			last_change = now;
		} else if (now - last_change >= limit) {
			snprintf(why, sizeof(why), "no thread made progress for %u s, since %"
				 PRIu64 ".%03" PRIu64 " s", stress_opts.watchdog,
				 last_change / 1000, last_change % 1000);
			hang(why);
		}
		if (now > hard) {
			snprintf(why, sizeof(why), "still running %" PRIu64 " s after its time",
				 (now - end_ms) / 1000);
			hang(why);
		}
	}
	return NULL;
}

/*
 * On a stack of its own: a forked child starts a watchdog too, and glibc
 * would give it a stack of one of the parent's threads, whose pthread_t
 * ThreadSanitizer still counts as running ("dup thread with used id").
 */
void stress_watchdog_start(void)
{
	size_t size = 1UL << 20;
	void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	pthread_attr_t attr;
	pthread_t th;

	if (stack == MAP_FAILED || pthread_attr_init(&attr) ||
	    pthread_attr_setstack(&attr, stack, size) ||
	    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) ||
	    pthread_create(&th, &attr, watchdog, NULL)) {
		fprintf(stderr, "# cannot start the watchdog\n");
		exit(STRESS_FAIL);
	}
	pthread_attr_destroy(&attr);
}

/* --- crashes ------------------------------------------------------------------------ */

static void print_frames(void *const *frames, int n);

static struct sigaction old_actions[NSIG];
static const int crash_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };

static void crash(int sig, siginfo_t *si, void *ctx)
{
	struct stress_thread *t = self;
	struct sigaction *old = &old_actions[sig];
	void *frames[64];
	char line[256];
	int n;

	uint64_t ms = stress_ms();

	n = snprintf(line, sizeof(line),
		     "# CRASH [%" PRIu64 ".%03" PRIu64 "s]: signal %d (%s) at address %p in %s (tid %ld)%s\n",
		     ms / 1000, ms % 1000, sig,
		     strsignal(sig), si->si_addr, t ? t->name : "an unregistered thread",
		     (long)syscall(SYS_gettid),
		     sig == SIGBUS && si->si_code == SI_TKILL ?
		     ", sent by uhmm: a CPU fault it could not resolve" : "");
	if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
	printf("not ok - %s: crashed with signal %d (%s)\n", program, sig, strsignal(sig));
	fflush(stdout);
	print_threads();
	n = backtrace(frames, 64);
	backtrace_symbols_fd(frames, n, STDERR_FILENO);
	/* Named: not async-signal-safe, but the process is going anyway (the watchdog runs). */
	fprintf(stderr, "# the crashing thread:\n");
	print_frames(frames, n);
	fflush(stderr);
	if (old->sa_flags & SA_SIGINFO && old->sa_sigaction) {
		old->sa_sigaction(sig, si, ctx);
		return;
	}
	if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN && old->sa_handler) {
		old->sa_handler(sig);
		return;
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_crash_handlers(void)
{
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = crash;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++)
		sigaction(crash_signals[i], &sa, &old_actions[crash_signals[i]]);
}

/* --- start -------------------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr, "usage: %s [-t SECONDS] [-s SEED] [-w WATCHDOG_SECONDS] [-j THREADS] "
		"[-o WORD,...] [-v] [SECONDS]\n", program);
	exit(2);
}

bool stress_opt(const char *word)
{
	const char *p = stress_opts.extra;
	size_t len = strlen(word);

	while (p && *p) {
		if (!strncmp(p, word, len) && (p[len] == ',' || !p[len]))
			return true;
		p = strchr(p, ',');
		p = p ? p + 1 : NULL;
	}
	return false;
}

void stress_init(int argc, char **argv, const char *name, unsigned int default_threads)
{
	const char *env;
	int c;

	clock_gettime(CLOCK_MONOTONIC, &start);
	program = name;
	setvbuf(stdout, NULL, _IOLBF, 0);
	setvbuf(stderr, NULL, _IOLBF, 0);
	stress_opts.seconds = 60;
	stress_opts.watchdog = 20;
	stress_opts.threads = default_threads;
	stress_opts.seed = (unsigned int)(start.tv_nsec ^ getpid());
	env = getenv("STRESS_SEED");
	if (env && *env)
		stress_opts.seed = (unsigned int)strtoul(env, NULL, 0);
	env = getenv("STRESS_WATCHDOG");
	if (env && *env)
		stress_opts.watchdog = (unsigned int)strtoul(env, NULL, 0);
	while ((c = getopt(argc, argv, "t:s:w:j:o:vh")) != -1) {
		switch (c) {
		case 't':
			stress_opts.seconds = strtod(optarg, NULL);
			break;
		case 's':
			stress_opts.seed = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'w':
			stress_opts.watchdog = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'j':
			stress_opts.threads = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'o':
			stress_opts.extra = optarg;
			break;
		case 'v':
			stress_opts.verbose = true;
			break;
		default:
			usage();
		}
	}
	if (optind < argc)
		stress_opts.seconds = strtod(argv[optind], NULL);
	if (stress_opts.seconds <= 0 || stress_opts.watchdog < 1 || !stress_opts.threads)
		usage();
	end_ms = (uint64_t)(stress_opts.seconds * 1000);
	uhmm_set_log_fn(log_message, NULL);
	warns_at_start = uhmm_warn_count();
	install_crash_handlers();
	install_stack_handler();
	fprintf(stderr, "# %s: %.1f s, seed %u (-s %u to repeat), watchdog %u s, %u threads%s%s\n",
		program, stress_opts.seconds, stress_opts.seed, stress_opts.seed,
		stress_opts.watchdog, stress_opts.threads, stress_opts.extra ? ", -o " : "",
		stress_opts.extra ? stress_opts.extra : "");
}

/* --- the page pattern ----------------------------------------------------------------- */

void stress_fill(void *page, uint64_t key, uint32_t version)
{
	uint64_t *p = page;
	unsigned long i;

	for (i = 0; i < STRESS_WORDS; i++)
		p[i] = stress_word(key, version, i);
}

bool stress_check(const void *page, uint64_t key, uint32_t version)
{
	const uint64_t *p = page;
	unsigned long i;

	for (i = 0; i < STRESS_WORDS; i++)
		if (p[i] != stress_word(key, version, i))
			return false;
	return true;
}

static bool word_between(uint64_t w, uint64_t key, uint32_t lo, uint32_t hi, unsigned long i)
{
	uint32_t v = (uint32_t)(w >> 32);

	return v >= lo && v <= hi && w == stress_word(key, v, i);
}

bool stress_check_between(const void *page, uint64_t key, uint32_t lo, uint32_t hi)
{
	const uint64_t *p = page;
	unsigned long i;

	for (i = 0; i < STRESS_WORDS; i++)
		if (!word_between(p[i], key, lo, hi, i))
			return false;
	return true;
}

void stress_describe(const void *page, uint64_t key, uint32_t lo, uint32_t hi,
		     const uint64_t *keys, size_t nkeys, char *buf, size_t len)
{
	const uint64_t *p = page;
	unsigned long i, bad = 0, zero = 0, first = STRESS_WORDS, same = 0;
	uint64_t w;
	uint32_t v;
	size_t k;
	int n;

	for (i = 0; i < STRESS_WORDS; i++) {
		if (!p[i])
			zero++;
		if (word_between(p[i], key, lo, hi, i))
			continue;
		if (first == STRESS_WORDS)
			first = i;
		bad++;
	}
	if (!bad) {
		snprintf(buf, len, "the page is right now (it was wrong when read)");
		return;
	}
	w = p[first];
	v = (uint32_t)(w >> 32);
	n = snprintf(buf, len, "%lu of %lu words wrong (%lu zero), the first at byte %lu: %#018" PRIx64,
		     bad, STRESS_WORDS, zero, first * 8, w);
	if (n < 0 || (size_t)n >= len)
		return;
	buf += n;
	len -= (size_t)n;
	if (zero == STRESS_WORDS) {
		snprintf(buf, len, "; the whole page is zero");
		return;
	}
	if (w == stress_word(key, v, first)) {
		for (i = 0; i < STRESS_WORDS; i++)
			same += p[i] == stress_word(key, v, i);
		snprintf(buf, len, "; that is this page's %s version %u (%lu words of it), expected %u..%u",
			 v < lo ? "older" : "newer", v, same, lo, hi);
		return;
	}
	for (k = 0; k < nkeys; k++) {
		if (keys[k] == key || w != stress_word(keys[k], v, first))
			continue;
		for (i = 0; i < STRESS_WORDS; i++)
			same += p[i] == stress_word(keys[k], v, i);
		snprintf(buf, len, "; that is version %u of another page, key %#" PRIx64
			 " (%lu words of it)", v, keys[k], same);
		return;
	}
	snprintf(buf, len, "; not any version of this page nor of another known one");
}

/* --- history ---------------------------------------------------------------------- */

static const char *const ev_names[EV_NR] = {
	[EV_NONE] = "-", [EV_WRITE] = "write", [EV_TO_DEV] = "to-dev", [EV_TO_SYS] = "to-sys",
	[EV_READ] = "dev-read", [EV_RELEASE] = "release", [EV_REOPEN] = "reopen",
	[EV_FORK] = "fork", [EV_MUNMAP] = "munmap", [EV_MREMAP] = "mremap", [EV_MMAP] = "mmap",
	[EV_CHECK] = "check",
};

static uint64_t ev_pack(enum stress_ev ev, int dev, int ret, uint32_t arg)
{
	uint64_t thread = self ? (uint64_t)self->index & 63 : 63;
	uint64_t code = ret == STRESS_EV_BEGIN ? 31 : ret < 0 ? (uint64_t)(-ret > 30 ? 30 : -ret) : 0;
	uint64_t d = dev < 0 ? 3 : (uint64_t)dev & 3;

	return (uint64_t)ev | d << 5 | thread << 7 | code << 13 | ((uint64_t)arg & 0x3fffff) << 18 |
	       (stress_ms() & 0xffffff) << 40;
}

void stress_hist_add(struct stress_hist *h, enum stress_ev ev, int dev, int ret, uint32_t arg)
{
	uint32_t i = __atomic_fetch_add(&h->next, 1, __ATOMIC_RELAXED) % STRESS_HIST;

	__atomic_store_n(&h->ev[i], ev_pack(ev, dev, ret, arg), __ATOMIC_RELAXED);
}

void stress_hist_add_range(struct stress_hist *h, unsigned long n, enum stress_ev ev, int dev,
			   int ret, uint32_t arg)
{
	uint64_t e = ev_pack(ev, dev, ret, arg);
	unsigned long p;

	for (p = 0; p < n; p++) {
		uint32_t i = __atomic_fetch_add(&h[p].next, 1, __ATOMIC_RELAXED) % STRESS_HIST;

		__atomic_store_n(&h[p].ev[i], e, __ATOMIC_RELAXED);
	}
}

void stress_hist_print(const struct stress_hist *h)
{
	uint32_t next = __atomic_load_n(&h->next, __ATOMIC_RELAXED), i;

	fprintf(stderr, "#     history, oldest first (%u events in all):\n", next);
	for (i = next > STRESS_HIST ? next - STRESS_HIST : 0; i < next; i++) {
		uint64_t e = __atomic_load_n(&h->ev[i % STRESS_HIST], __ATOMIC_RELAXED);
		unsigned int ev = e & 31, dev = (e >> 5) & 3, thread = (e >> 7) & 63;
		unsigned int code = (e >> 13) & 31, arg = (e >> 18) & 0x3fffff;
		uint64_t ms = e >> 40;
		char devs[8] = "", res[32] = "";

		if (!e)
			continue;
		if (dev != 3)
			snprintf(devs, sizeof(devs), "%u", dev);
		if (code == 31)
			snprintf(res, sizeof(res), "begins");
		else if (ev == EV_CHECK)
			snprintf(res, sizeof(res), "%s", code ? "WRONG" : "ok");
		else if (ev != EV_WRITE)
			snprintf(res, sizeof(res), "-> %s", stress_errname(-(int)code));
		fprintf(stderr, "#       %6" PRIu64 ".%03" PRIu64 "s %-10s %s%s %s %u %s\n",
			ms / 1000, ms % 1000,
			thread < STRESS_MAX_THREADS && thread_ready[thread] ? threads[thread].name : "?",
			ev < EV_NR ? ev_names[ev] : "?", devs,
			ev == EV_WRITE || ev == EV_CHECK ? "v" :
			ev == EV_FORK ? "child" : ev == EV_MMAP ? "gen" : ev == EV_MREMAP ? "round" :
			"pages", arg, res);
	}
}

/* --- dmirror ----------------------------------------------------------------------- */

void stress_dmirror_load(struct stress_dmirror *api)
{
	int ret = uhmm_mm_init();

	if (ret == -ENOSYS || ret == -EPERM || ret == -EOPNOTSUPP) {
		printf("ok - %s # SKIP the fault engine cannot start here (%s)\n", program,
		       strerror(-ret));
		exit(STRESS_SKIP);
	}
	if (ret) {
		printf("not ok - %s: uhmm_mm_init: %s\n", program, strerror(-ret));
		exit(STRESS_FAIL);
	}
	if (!uhmm_module_find("dmirror")) {
		ret = uhmm_module_load(DMIRROR_MODULE, NULL);
		if (ret) {
			printf("not ok - %s: loading %s: %s\n", program, DMIRROR_MODULE,
			       strerror(-ret));
			exit(STRESS_FAIL);
		}
	}
	api->open = (dmirror_open_fn)uhmm_symbol_get("dmirror_open");
	api->close = (dmirror_close_fn)uhmm_symbol_get("dmirror_close");
	api->ioctl = (dmirror_ioctl_fn)uhmm_symbol_get("dmirror_ioctl");
	if (!api->open || !api->close || !api->ioctl) {
		printf("not ok - %s: dmirror does not export its commands\n", program);
		exit(STRESS_FAIL);
	}
}

int stress_dmirror_open(struct stress_dmirror *api, int index)
{
	int fd = api->open(index);

	if (fd < 0) {
		printf("not ok - %s: dmirror_open(%d): %s\n", program, index, strerror(-fd));
		exit(STRESS_FAIL);
	}
	return fd;
}

int stress_cmd(struct stress_dmirror *api, int fd, unsigned long request, const void *addr,
	       void *ptr, unsigned long npages, uint64_t *cpages)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)ptr,
		.npages = npages,
	};
	int ret = api->ioctl(fd, request, &cmd);

	if (!ret && cpages)
		*cpages = cmd.cpages;
	return ret;
}

const char *stress_cmd_name(unsigned long request)
{
	switch (request) {
	case HMM_DMIRROR_READ: return "READ";
	case HMM_DMIRROR_WRITE: return "WRITE";
	case HMM_DMIRROR_MIGRATE_TO_DEV: return "MIGRATE_TO_DEV";
	case HMM_DMIRROR_MIGRATE_TO_SYS: return "MIGRATE_TO_SYS";
	case HMM_DMIRROR_SNAPSHOT: return "SNAPSHOT";
	case HMM_DMIRROR_EXCLUSIVE: return "EXCLUSIVE";
	case HMM_DMIRROR_CHECK_EXCLUSIVE: return "CHECK_EXCLUSIVE";
	case HMM_DMIRROR_RELEASE: return "RELEASE";
	case HMM_DMIRROR_FLAGS: return "FLAGS";
	}
	return "?";
}

const char *stress_errname(int ret)
{
	static __thread char other[16];

	switch (ret) {
	case 0: return "0";
	case -ENOENT: return "-ENOENT";
	case -EINVAL: return "-EINVAL";
	case -EBUSY: return "-EBUSY";
	case -ENOMEM: return "-ENOMEM";
	case -EFAULT: return "-EFAULT";
	case -EPERM: return "-EPERM";
	case -ENXIO: return "-ENXIO";
	case -EBADF: return "-EBADF";
	case -ENODEV: return "-ENODEV";
	case -EAGAIN: return "-EAGAIN";
	}
	snprintf(other, sizeof(other), "%d", ret);
	return other;
}

void stress_vma_flags(const void *addr, char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false;

	snprintf(buf, len, "no mapping");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		size_t l;

		if (line[strspn(line, "0123456789abcdef")] == '-' &&
		    sscanf(line, "%lx-%lx ", &s, &e) == 2) {
			in = (uintptr_t)addr >= s && (uintptr_t)addr < e;
			if (in)
				snprintf(buf, len, "%#lx-%#lx", s, e);
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			line[strcspn(line, "\n")] = 0;
			l = strlen(buf);
			snprintf(buf + l, len - l, ",%s", line + 8);
			break;
		}
	}
	fclose(f);
}
