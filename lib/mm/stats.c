// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fault engine's counters, and their publication for other processes.
 *
 * The counters are one struct mm_counters, updated with relaxed atomics
 * (mm_count()).  It lives in the process's memory, or, when the environment
 * says UHMM_STATS=1 as lib/mm starts (before the engine's thread), in a
 * shared file /dev/shm/uhmm.PID
 * that `uhmm stat PID` (uhmm_mm_read_stats()) reads while the process
 * runs, as nvidia-smi reads a GPU process's counters: nothing is copied, the
 * file's page is where the counts are kept.  The file goes at exit() (a
 * process that ends otherwise leaves it, and the next publisher removes
 * it); a forked child keeps counting from its parent's values, in its own
 * file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uhmm/migrate.h>

#include "../core/internal.h"
#include "mm_internal.h"

#define STATS_MAGIC	"uhmmstat"
#define STATS_VERSION	3	/* 2: fault_retries and the gauges; 3: the policy's */

/* The shared file: a header that says what it is, then the counters. */
struct stats_file {
	char magic[8];
	uint32_t version;
	uint32_t size;			/* sizeof(struct stats_file) of the writer */
	int32_t pid;
	uint32_t reserved;
	struct mm_counters counters;
};

static struct mm_counters child_counters;	/* a forked child's, if not published */
static struct stats_file *published;	/* set once, at start or in a child */
static char published_path[64];

static void stats_path(char *path, size_t len, pid_t pid)
{
	snprintf(path, len, "/dev/shm/uhmm.%d", (int)pid);
}

static void unpublish(void)
{
	if (published && getpid() == published->pid)
		unlink(published_path);
}

/*
 * A process that ends without exit() (_exit(), a signal) leaves its file;
 * each new publisher removes those whose process is gone.
 */
static void remove_stale(void)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	char path[300];
	long pid;
	char *end;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "uhmm.", 5))
			continue;
		pid = strtol(e->d_name + 5, &end, 10);
		if (*end || pid <= 0 || !(kill((pid_t)pid, 0) && errno == ESRCH))
			continue;
		snprintf(path, sizeof(path), "/dev/shm/%s", e->d_name);
		unlink(path);
	}
	closedir(d);
}

/* Moves the counters into a new file for this process; 0 or -errno. */
static int publish(void)
{
	static bool atexit_done;
	struct stats_file *f;
	int fd, ret = 0;

	remove_stale();
	stats_path(published_path, sizeof(published_path), getpid());
	unlink(published_path);		/* a stale file of a pid now reused */
	fd = open(published_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, sizeof(*f)))
		ret = -errno;
	f = ret ? MAP_FAILED : mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (f == MAP_FAILED) {
		ret = ret ? ret : -errno;
		unlink(published_path);
		return ret;
	}
	f->counters = *init_mm.counters;
	f->version = STATS_VERSION;
	f->size = sizeof(*f);
	f->pid = getpid();
	memcpy(f->magic, STATS_MAGIC, sizeof(f->magic));
	published = f;
	__atomic_store_n(&init_mm.counters, &f->counters, __ATOMIC_RELEASE);
	if (!atexit_done) {
		atexit_done = true;
		atexit(unpublish);
	}
	return 0;
}

static bool wanted(void)
{
	const char *env = getenv("UHMM_STATS");

	return env && !strcmp(env, "1");
}

void mm_stats_start(void)
{
	int ret;

	if (published || !wanted())
		return;
	ret = publish();
	if (ret)
		pr_warn("UHMM_STATS=1: cannot publish the counters in %s: %s", published_path,
			strerror(-ret));
}

/*
 * In a forked child, single-threaded: the parent's file is still mapped
 * here, and the parent still counts in it.  Take a copy, let go of it, and
 * count on in the child's own memory, or the child's own file.
 */
void mm_stats_fork_child(void)
{
	if (!published)
		return;
	child_counters = published->counters;
	init_mm.counters = &child_counters;
	munmap(published, sizeof(*published));
	published = NULL;
	mm_stats_start();
}

/* Counters and gauges alike. */
void mm_stats_fill(const struct mm_counters *c, struct uhmm_mm_stats *s)
{
#define FILL(name)	s->name = __atomic_load_n(&c->name, __ATOMIC_RELAXED);
	MM_COUNTERS(FILL)
	MM_GAUGES(FILL)
#undef FILL
}

void mm_stats_copy_out(struct uhmm_mm_stats *stats, const struct uhmm_mm_stats *s)
{
	size_t n = stats->size < sizeof(*s) ? stats->size : sizeof(*s);

	memcpy((char *)stats + sizeof(uint64_t), (const char *)s + sizeof(uint64_t),
	       n - sizeof(uint64_t));
}

void mm_stats_reset(void)
{
	struct mm_counters *c = __atomic_load_n(&init_mm.counters, __ATOMIC_ACQUIRE);

	/* The counters only: the gauges say what is held. */
#define RESET(name)	__atomic_store_n(&c->name, 0, __ATOMIC_RELAXED);
	MM_COUNTERS(RESET)
#undef RESET
}

UHMM_EXPORT int uhmm_mm_read_stats(pid_t pid, struct uhmm_mm_stats *stats)
{
	struct uhmm_mm_stats s;
	struct stats_file *f;
	char path[64];
	struct stat st;
	int fd, ret = 0;

	if (!stats || stats->size < sizeof(uint64_t) || pid <= 0)
		return -EINVAL;
	stats_path(path, sizeof(path), pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	if (fstat(fd, &st) || (size_t)st.st_size < sizeof(*f)) {
		close(fd);
		return -EBADMSG;
	}
	f = mmap(NULL, sizeof(*f), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (f == MAP_FAILED)
		return -errno;
	if (memcmp(f->magic, STATS_MAGIC, sizeof(f->magic)) || f->version != STATS_VERSION ||
	    f->size < sizeof(*f) || f->pid != pid)
		ret = -EBADMSG;
	else if (kill(pid, 0) && errno == ESRCH)
		ret = -ESRCH;	/* a file left by a process that was killed */
	if (!ret) {
		memset(&s, 0, sizeof(s));
		s.size = sizeof(s);
		mm_stats_fill(&f->counters, &s);
		mm_stats_copy_out(stats, &s);
	}
	munmap(f, sizeof(*f));
	return ret;
}
