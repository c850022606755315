// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Conformance tests for device-private memory, after the migration tests of
 * the kernel's tools/testing/selftests/mm/hmm-tests.c, driven through the
 * dmirror module loaded by uhmm's loader.  Each test runs in its own process.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dmirror_helpers.h"

#define NPAGES	64UL

/* Migrate anonymous memory to device memory and read it back through the device. */
TEST(migrate)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	struct uhmm_mm_stats before = mm_stats(), after;

	fill(b, NPAGES, 0);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	ASSERT_EQ(b->cpages, NPAGES);
	check(b->mirror, NPAGES, 0);
	after = mm_stats();
	ASSERT_EQ(after.pages_to_device - before.pages_to_device, NPAGES);
	/* The CPU touches it: every page comes back with its data. */
	check(b->ptr, NPAGES, 0);
	after = mm_stats();
	ASSERT_EQ(after.pages_to_ram - before.pages_to_ram, NPAGES);
	ASSERT_GE(after.faults - before.faults, 1);
	hmm_buffer_free(b);
	api.close(fd);
}

/* Pages never touched migrate as zero pages and read back as zeros. */
TEST(migrate_untouched)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	unsigned long i;

	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	ASSERT_EQ(b->cpages, NPAGES);
	for (i = 0; i < NPAGES * HMM_PAGE; i++)
		ASSERT_EQ(((char *)b->mirror)[i], 0);
	for (i = 0; i < NPAGES * HMM_PAGE; i++)
		ASSERT_EQ(((char *)b->ptr)[i], 0);
	hmm_buffer_free(b);
	api.close(fd);
}

/* Migrate, fault half of it back with writes, migrate all again: mixed pages. */
TEST(migrate_fault)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	int *p = b->ptr;
	unsigned long i;

	fill(b, NPAGES, 7);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	for (i = 0; i < NPAGES / 2 * HMM_PAGE / sizeof(int); i++)
		p[i] += 0;	/* a write fault on the first half */
	check(b->ptr, NPAGES / 2, 7);
	memset(b->mirror, 0, b->size);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	ASSERT_EQ(b->cpages, NPAGES);
	check(b->mirror, NPAGES, 7);
	check(b->ptr, NPAGES, 7);
	hmm_buffer_free(b);
	api.close(fd);
}

/* MIGRATE_TO_SYS brings every page back without a CPU fault. */
TEST(migrate_to_sys)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	struct uhmm_mm_stats before, after;

	fill(b, NPAGES, 3);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	before = mm_stats();
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_SYS, b, NPAGES), 0);
	ASSERT_EQ(b->cpages, NPAGES);
	check(b->ptr, NPAGES, 3);
	after = mm_stats();
	ASSERT_EQ(after.faults, before.faults);
	ASSERT_EQ(after.pages_to_ram - before.pages_to_ram, NPAGES);
	hmm_buffer_free(b);
	api.close(fd);
}

/* RELEASE evicts every page back to system memory with its data. */
TEST(migrate_release)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	struct uhmm_mm_stats before, after;

	fill(b, NPAGES, 11);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	before = mm_stats();
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_RELEASE, b, NPAGES), 0);
	after = mm_stats();
	ASSERT_EQ(after.pages_to_ram - before.pages_to_ram, NPAGES);
	ASSERT_EQ(after.pages_evicted - before.pages_evicted, NPAGES);
	check(b->ptr, NPAGES, 11);
	ASSERT_EQ(mm_stats().faults, after.faults);
	/* The device works again after a release: new chunks on demand. */
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	check(b->mirror, NPAGES, 11);
	check(b->ptr, NPAGES, 11);
	hmm_buffer_free(b);
	api.close(fd);
}

/* Whether a thread of this process is named @name (/proc/self/task/TID/comm). */
static bool have_thread_named(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	bool found = false;

	ASSERT_NONNULL(d);
	while (!found && (e = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
		found = !strcmp(comm, name);
	}
	closedir(d);
	return found;
}

/* The library's threads say what they are: the fault engine, the invalidations. */
TEST(library_threads_are_named)
{
	int fd, i;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);

	ASSERT_TRUE(have_thread_named("uhmm-engine"));
	fill(b, NPAGES, 2);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	hmm_buffer_free(b);	/* the unmap's ops run on the invalidation thread */
	/* Which the engine may start after munmap() returned. */
	for (i = 0; i < 500 && !have_thread_named("uhmm-invalidate"); i++)
		usleep(10000);
	ASSERT_TRUE(have_thread_named("uhmm-invalidate"));
	api.close(fd);
}

/* Shared anonymous memory is not migrated: nothing reads back. */
TEST(migrate_shared)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = hmm_buffer_alloc(NPAGES * HMM_PAGE, PROT_READ | PROT_WRITE,
						MAP_SHARED | MAP_ANONYMOUS);

	fill(b, NPAGES, 1);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), -ENOENT);
	check(b->ptr, NPAGES, 1);
	hmm_buffer_free(b);
	api.close(fd);
}

/*
 * Private pages still shared copy-on-write with a child: the parent's copy
 * migrates, the child's stays as it was.  With @prot PROT_READ, the parent
 * cannot take its own copy (that needs a write fault), and the migration
 * leaves those pages in place rather than fail or signal.
 */
static void migrate_cow_shared(int prot)
{
	int fd, status, go[2];
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	pid_t pid;
	char c;

	fill(b, NPAGES, 3);
	ASSERT_EQ(pipe(go), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		check(b->ptr, NPAGES, 3);
		_exit(0);
	}
	ASSERT_EQ(mprotect(b->ptr, b->size, prot), 0);
	if (prot & PROT_WRITE) {
		ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
		ASSERT_EQ(b->cpages, NPAGES);
		check(b->mirror, NPAGES, 3);
		fill(b, NPAGES, 4);		/* faults back, then writes the parent's copy */
	} else {
		ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), -ENOENT);
	}
	ASSERT_EQ(write(go[1], "x", 1), 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	check(b->ptr, NPAGES, prot & PROT_WRITE ? 4 : 3);
	close(go[0]);
	close(go[1]);
	hmm_buffer_free(b);
	api.close(fd);
}

TEST(migrate_cow_shared_with_a_child)
{
	migrate_cow_shared(PROT_READ | PROT_WRITE);
}

TEST(migrate_cow_shared_read_only)
{
	migrate_cow_shared(PROT_READ);
}

/* PROT_NONE memory and a gap in the range are refused with -EINVAL. */
TEST(migrate_prot_none_and_gap)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = hmm_buffer_alloc(NPAGES * HMM_PAGE, PROT_NONE,
						MAP_PRIVATE | MAP_ANONYMOUS);
	struct hmm_buffer *g = anon_buffer(NPAGES);

	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), -EINVAL);
	fill(g, NPAGES, 5);
	ASSERT_EQ(munmap((char *)g->ptr + NPAGES / 2 * HMM_PAGE, HMM_PAGE), 0);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, g, NPAGES), -EINVAL);
	/* The part before the gap went to the device; it all reads back. */
	check(g->ptr, NPAGES / 2, 5);
	hmm_buffer_free(b);
	hmm_buffer_free(g);
	api.close(fd);
}

/* Ten rounds of mmap, migrate, CPU fault, munmap. */
TEST(migrate_multiple)
{
	int fd, round;
	struct dmirror_api api = setup(&fd, 0);

	for (round = 0; round < 10; round++) {
		struct hmm_buffer *b = anon_buffer(NPAGES);

		fill(b, NPAGES, round);
		ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
		ASSERT_EQ(b->cpages, NPAGES);
		check(b->mirror, NPAGES, round);
		check(b->ptr, NPAGES / 2, round);	/* half back, half unmapped in device memory */
		hmm_buffer_free(b);
	}
	api.close(fd);
}

/* Pages in device memory at fork read correctly in both; writes stay private. */
TEST(migrate_fork)
{
	int fd, status;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	pid_t pid;

	fill(b, NPAGES, 21);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int *p = b->ptr;

		check(b->ptr, NPAGES, 21);
		p[0] = -1;
		_exit(p[0] == -1 ? 0 : 1);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	check(b->ptr, NPAGES, 21);	/* the child's write is not seen */
	hmm_buffer_free(b);
	api.close(fd);
}

/* A failed device allocation leaves that page behind; the data is intact. */
TEST(migrate_fail_alloc)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	struct hmm_dmirror_cmd flags = { .npages = HMM_DMIRROR_FLAG_FAIL_ALLOC };

	fill(b, NPAGES, 9);
	ASSERT_EQ(api.ioctl(fd, HMM_DMIRROR_FLAGS, &flags), 0);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), -ENOENT);
	check(b->ptr, NPAGES, 9);
	/* The flag fails one allocation only. */
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	check(b->mirror, NPAGES, 9);
	check(b->ptr, NPAGES, 9);
	hmm_buffer_free(b);
	api.close(fd);
}

/*
 * A page a driver fills and frees without using it (a migration that gave
 * up on that entry) keeps its frame: it is kept for the next
 * uhmm_alloc_page(), not left behind in a slot a migration would later take
 * as empty and fail to move a page into.
 */
TEST(alloc_page_filled_and_freed_unused)
{
	struct uhmm_page *p, *q;

	ASSERT_EQ(uhmm_mm_init(), 0);
	p = uhmm_alloc_page();
	ASSERT_TRUE(p != NULL);
	memset(uhmm_page_address(p), 0x5a, HMM_PAGE);
	uhmm_put_page(p);
	q = uhmm_alloc_page();
	ASSERT_TRUE(q == p);
	ASSERT_EQ(((unsigned char *)uhmm_page_address(q))[HMM_PAGE - 1], 0x5a);
	uhmm_put_page(q);
}

/* Whether the mapping holding @addr has @flag among its VmFlags in smaps. */
static bool vma_has_flag(unsigned long addr, const char *flag)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false, found = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end;
		char *tok;

		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			in = start <= addr && addr < end;
			continue;
		}
		if (!in || strncmp(line, "VmFlags:", 8))
			continue;
		for (tok = strtok(line + 8, " \n"); tok; tok = strtok(NULL, " \n"))
			found |= !strcmp(tok, flag);
		break;
	}
	fclose(f);
	return found;
}

/*
 * The pages uhmm_alloc_page() hands out are never part of a transparent
 * huge page: the first touch of one would fill its neighbours too, free
 * slots a migration then finds occupied.
 */
TEST(alloc_page_never_in_a_huge_page)
{
	struct uhmm_page *p;

	ASSERT_EQ(uhmm_mm_init(), 0);
	p = uhmm_alloc_page();
	ASSERT_TRUE(p != NULL);
	ASSERT_TRUE(vma_has_flag((unsigned long)uhmm_page_address(p), "nh"));
	uhmm_put_page(p);
}

/*
 * UFFDIO_MOVE that moves pages without counting them (Linux 6.18 can, after
 * a retry inside the ioctl): each of the first moves of a migration to the
 * device and of the faults back reports only half of what it moved.  Every
 * page still arrives with its data, none is left in the staging area.
 */
TEST(migrate_move_undercounted)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	struct uhmm_mm_stats before;
	unsigned long nth;

	fill(b, NPAGES, 31);
	before = mm_stats();
	for (nth = 1; nth <= 4; nth++) {
		/* Armed for the nth move of each step; re-arming says if it came. */
		uhmm_fail_nth(UHMM_FAIL_MOVE_UNDERCOUNT, nth);
		ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
		ASSERT_EQ(b->cpages, NPAGES);
		check(b->mirror, NPAGES, 31);
		/* A migration to the device moves out, then into the slots: two at least. */
		ASSERT_TRUE(uhmm_fail_nth(UHMM_FAIL_MOVE_UNDERCOUNT, nth) == 0 || nth > 2);
		check(b->ptr, NPAGES, 31);
		ASSERT_TRUE(uhmm_fail_nth(UHMM_FAIL_MOVE_UNDERCOUNT, nth) == 0 || nth > 1);
		ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
		uhmm_fail_nth(UHMM_FAIL_MOVE_UNDERCOUNT, nth);
		ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_SYS, b, NPAGES), 0);
		ASSERT_TRUE(uhmm_fail_nth(UHMM_FAIL_MOVE_UNDERCOUNT, 0) == 0 || nth > 1);
		check(b->ptr, NPAGES, 31);
	}
	/* Each armed move was corrected, and counted. */
	ASSERT_GE(mm_stats().moves_undercounted - before.moves_undercounted, 6);
	ASSERT_EQ(system_pages_settled(), 0);
	hmm_buffer_free(b);
	api.close(fd);
}

/* read(2) into a buffer in device memory: the kernel's copy faults it back. */
TEST(migrate_syscall_write_into)
{
	int fd, pipefd[2];
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	char msg[] = "written by the kernel";
	struct uhmm_mm_stats before;

	fill(b, NPAGES, 2);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	ASSERT_EQ(pipe(pipefd), 0);
	ASSERT_EQ(write(pipefd[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));
	before = mm_stats();
	if (read(pipefd[0], (char *)b->ptr + 5 * HMM_PAGE, sizeof(msg)) < 0 && errno == EFAULT)
		SKIP("userfaultfd is limited to user-mode faults here");
	ASSERT_GE(mm_stats().faults - before.faults, 1);
	ASSERT_EQ(memcmp((char *)b->ptr + 5 * HMM_PAGE, msg, sizeof(msg)), 0);
	/* The rest of that page, and the other pages, came back intact. */
	check(b->ptr, 5, 2);
	check((char *)b->ptr + 6 * HMM_PAGE, NPAGES - 6, 2 + (int)(6 * HMM_PAGE / sizeof(int)));
	close(pipefd[0]);
	close(pipefd[1]);
	hmm_buffer_free(b);
	api.close(fd);
}

struct toucher {
	volatile int *p;
	pthread_barrier_t *barrier;
	int seen;
};

static void *touch(void *arg)
{
	struct toucher *t = arg;

	pthread_barrier_wait(t->barrier);
	t->seen = *t->p;
	return NULL;
}

/* Several threads fault the same page at once: it migrates back once. */
TEST(migrate_same_page_threads)
{
	enum { THREADS = 4 };
	int fd, i;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(1);
	struct toucher t[THREADS];
	pthread_t th[THREADS];
	pthread_barrier_t barrier;
	struct uhmm_mm_stats before, after;

	*(int *)b->ptr = 1234;
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, 1), 0);
	pthread_barrier_init(&barrier, NULL, THREADS);
	before = mm_stats();
	for (i = 0; i < THREADS; i++) {
		t[i] = (struct toucher){ .p = b->ptr, .barrier = &barrier };
		ASSERT_EQ(pthread_create(&th[i], NULL, touch, &t[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		ASSERT_EQ(t[i].seen, 1234);
	}
	after = mm_stats();
	ASSERT_EQ(after.pages_to_ram - before.pages_to_ram, 1);
	pthread_barrier_destroy(&barrier);
	hmm_buffer_free(b);
	api.close(fd);
}

/* munmap and MADV_DONTNEED give device pages back; the address starts afresh. */
TEST(migrate_munmap_and_dontneed)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = far_buffer(NPAGES);
	void *addr = b->ptr;
	unsigned long i;

	fill(b, NPAGES, 4);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	ASSERT_EQ(madvise(addr, HMM_PAGE, MADV_DONTNEED), 0);
	ASSERT_EQ(*(int *)addr, 0);	/* discarded, as anonymous memory is */
	check((char *)addr + HMM_PAGE, NPAGES - 1, 4 + (int)(HMM_PAGE / sizeof(int)));

	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	ASSERT_EQ(munmap(addr, b->size), 0);
	ASSERT_TRUE(mmap(addr, b->size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == addr);
	for (i = 0; i < NPAGES * HMM_PAGE; i += 512)
		ASSERT_EQ(((char *)addr)[i], 0);
	/* Every device page went back: a release finds nothing to evict. */
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_RELEASE, b, NPAGES), 0);
	hmm_buffer_free(b);
	api.close(fd);
}

/* mremap() moves pages in device memory with the mapping. */
TEST(migrate_mremap)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	void *to;

	fill(b, NPAGES, 8);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	to = mremap(b->ptr, b->size, b->size * 2, MREMAP_MAYMOVE);
	ASSERT_TRUE(to != MAP_FAILED);
	b->ptr = to;
	b->size *= 2;
	check(to, NPAGES, 8);
	hmm_buffer_free(b);
	api.close(fd);
}

/* Two devices: pages migrate to one, then the other takes those in RAM. */
TEST(migrate_two_devices)
{
	int fd0, fd1;
	struct dmirror_api api = setup(&fd0, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);

	fd1 = api.open(1);
	ASSERT_GE(fd1, 0);
	fill(b, NPAGES, 6);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd0, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	/* Device 1 selects system memory only: device 0's pages are not its. */
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd1, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), -ENOENT);
	check(b->ptr, NPAGES, 6);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd1, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	check(b->mirror, NPAGES, 6);
	check(b->ptr, NPAGES, 6);
	hmm_buffer_free(b);
	api.close(fd0);
	api.close(fd1);
}

static char last_log[512];

static void capture_log(int level, const char *msg, void *data)
{
	(void)level;
	(void)data;
	snprintf(last_log, sizeof(last_log), "%s", msg);
}

/* Bad input gets the kernel's codes, and migrate_vma_setup() says why. */
TEST(bad_input)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	struct hmm_dmirror_cmd cmd = { .addr = (uintptr_t)b->ptr, .npages = 1 };
	unsigned long src, dst;
	struct uhmm_migrate_vma args = { .src = &src, .dst = &dst };

	ASSERT_EQ(api.open(2), -ENODEV);
	ASSERT_EQ(api.open(-1), -ENODEV);
	ASSERT_EQ(api.ioctl(99, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd), -EBADF);
	ASSERT_EQ(api.ioctl(fd, HMM_DMIRROR_MIGRATE_TO_DEV, NULL), -EFAULT);
	ASSERT_EQ(api.ioctl(fd, 0xdead, &cmd), -EINVAL);
	cmd.npages = 0;
	ASSERT_EQ(api.ioctl(fd, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd), -EINVAL);
	cmd.npages = 1;
	cmd.addr += 1;
	ASSERT_EQ(api.ioctl(fd, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd), -EINVAL);
	cmd.addr = ~0UL & ~(HMM_PAGE - 1);
	cmd.npages = 2;
	ASSERT_EQ(api.ioctl(fd, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd), -EINVAL);
	ASSERT_EQ(api.close(77), -EBADF);

	uhmm_set_log_fn(capture_log, NULL);
	uhmm_set_log_level(UHMM_LOG_INFO);
	ASSERT_EQ(uhmm_migrate_vma_setup(NULL), -EINVAL);
	ASSERT_STREQ(last_log, "migrate_vma_setup: no args");
	args.start = (uintptr_t)b->ptr + 1;
	args.end = args.start + HMM_PAGE;
	ASSERT_EQ(uhmm_migrate_vma_setup(&args), -EINVAL);
	ASSERT_TRUE(strstr(last_log, "is not page-aligned and ascending") != NULL);
	args.start = args.end = (uintptr_t)b->ptr;
	ASSERT_EQ(uhmm_migrate_vma_setup(&args), -EINVAL);
	ASSERT_TRUE(strstr(last_log, "is not page-aligned and ascending") != NULL);
	/* Two pages of different permissions are two mappings. */
	args.end = args.start + 2 * HMM_PAGE;
	ASSERT_EQ(mprotect((char *)b->ptr + HMM_PAGE, HMM_PAGE, PROT_READ), 0);
	ASSERT_EQ(uhmm_migrate_vma_setup(&args), -EINVAL);
	ASSERT_TRUE(strstr(last_log, "is not inside one readable mapping") != NULL);
	ASSERT_EQ(mprotect((char *)b->ptr + HMM_PAGE, HMM_PAGE, PROT_READ | PROT_WRITE), 0);
	args.end = args.start + HMM_PAGE;
	ASSERT_EQ(mprotect(b->ptr, HMM_PAGE, PROT_NONE), 0);
	ASSERT_EQ(uhmm_migrate_vma_setup(&args), -EINVAL);
	ASSERT_TRUE(strstr(last_log, ", not readable)") != NULL);
	ASSERT_EQ(mprotect(b->ptr, HMM_PAGE, PROT_READ | PROT_WRITE), 0);
	args.start = 0x1000;
	args.end = 0x2000;
	ASSERT_EQ(uhmm_migrate_vma_setup(&args), -EFAULT);
	ASSERT_TRUE(strstr(last_log, "no mapping at 0x1000") != NULL);
	args.start = (uintptr_t)b->ptr;
	args.end = args.start + HMM_PAGE;
	args.src = NULL;
	ASSERT_EQ(uhmm_migrate_vma_setup(&args), -EINVAL);
	ASSERT_STREQ(last_log, "migrate_vma_setup: args without src or dst array");
	uhmm_set_log_level(UHMM_LOG_WARNING);
	uhmm_set_log_fn(NULL, NULL);
	ASSERT_EQ(uhmm_migrate_device_range(NULL, 0, 1), -EINVAL);
	ASSERT_EQ(uhmm_migrate_device_range(&src, 0x123, 1), -EINVAL);
	ASSERT_EQ(uhmm_set_fault_around_bytes(0), -EINVAL);
	ASSERT_EQ(uhmm_set_fault_around_bytes(3 * HMM_PAGE), -EINVAL);
	ASSERT_EQ(uhmm_set_fault_around_bytes(4UL << 20), -EINVAL);
	ASSERT_EQ(uhmm_set_fault_around_bytes(HMM_PAGE), 0);
	ASSERT_EQ(uhmm_mm_get_stats(NULL), -EINVAL);
	ASSERT_NULL(uhmm_migrate_pfn_to_page(0));
	hmm_buffer_free(b);
	api.close(fd);
}

/* Pages that came back into a read-only mapping (copied, not moved) migrate again. */
TEST(migrate_again_after_read_only_fault)
{
	int fd, round;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);

	fill(b, NPAGES, 17);
	for (round = 0; round < 4; round++) {
		ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
		ASSERT_EQ(b->cpages, NPAGES);
		ASSERT_EQ(mprotect(b->ptr, NPAGES * HMM_PAGE, PROT_READ), 0);
		check(b->ptr, NPAGES, 17);
		ASSERT_EQ(mprotect(b->ptr, NPAGES * HMM_PAGE, PROT_READ | PROT_WRITE), 0);
	}
	hmm_buffer_free(b);
}

/*
 * Registering part of a buffer with userfaultfd splits the kernel's vma in
 * three; a driver must still see one mapping.  A driver that looks up the vma
 * and then calls migrate_vma_setup() for all of it (as dmirror does, chunk by
 * chunk) must not get -EINVAL because a migration in between registered a
 * piece of it.
 */
TEST(vma_lookup_sees_the_mapping_not_its_registrations)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	struct hmm_buffer mid = *b;
	unsigned long start = (uintptr_t)b->ptr, end = start + NPAGES * HMM_PAGE;
	unsigned long src[NPAGES], dst[NPAGES];
	struct uhmm_migrate_vma args = {
		.src = src, .dst = dst, .start = start, .end = end,
		.flags = UHMM_MIGRATE_VMA_SELECT_SYSTEM,
	};
	struct uhmm_vma vma;

	fill(b, NPAGES, 23);
	mid.ptr = (char *)b->ptr + NPAGES / 4 * HMM_PAGE;
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, &mid, NPAGES / 4), 0);
	ASSERT_EQ(mid.cpages, NPAGES / 4);

	/* The kernel may have merged the buffer with a neighbour: at least all of it. */
	ASSERT_EQ(uhmm_vma_lookup(start + HMM_PAGE, &vma), 0);
	ASSERT_LE(vma.start, start);
	ASSERT_GE(vma.end, end);
	ASSERT_EQ(uhmm_vma_lookup(end - HMM_PAGE, &vma), 0);
	ASSERT_LE(vma.start, start);
	ASSERT_GE(vma.end, end);

	/* Setup over all of it; with no destination given, finalize puts every page back. */
	ASSERT_EQ(uhmm_migrate_vma_setup(&args), 0);
	uhmm_migrate_vma_finalize(&args);

	check(b->ptr, NPAGES, 23);
	hmm_buffer_free(b);
	api.close(fd);
}

/* uhmm_mm_reset_stats() zeroes what counts, not what says what is held. */
TEST(stats_reset_and_older_callers)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	struct uhmm_mm_stats s;
	struct { uint64_t size, faults; } old = { .size = 2 * sizeof(uint64_t), .faults = 99 };

	fill(b, NPAGES, 5);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	check(b->ptr, NPAGES, 5);	/* faults */
	s = mm_stats();
	ASSERT_GE(s.faults, 1);
	ASSERT_GE(s.pages_to_device, NPAGES);
	ASSERT_GT(s.registered_bytes, 0);
	uhmm_mm_reset_stats();
	s = mm_stats();
	ASSERT_EQ(s.faults, 0);
	ASSERT_EQ(s.pages_to_device, 0);
	ASSERT_EQ(s.pages_to_ram, 0);
	ASSERT_EQ(s.pages_evicted, 0);
	ASSERT_GT(s.registered_bytes, 0);	/* still registered */
	/* A caller built with an older, shorter struct gets what it knows. */
	ASSERT_EQ(uhmm_mm_get_stats((struct uhmm_mm_stats *)&old), 0);
	ASSERT_EQ(old.size, 2 * sizeof(uint64_t));
	ASSERT_EQ(old.faults, 0);
	hmm_buffer_free(b);
	api.close(fd);
}

/*
 * UHMM_STATS=1: the counters live in /dev/shm/uhmm.PID, where another
 * process reads them (uhmm_mm_read_stats(), `uhmm stat`); a forked child
 * counts in a file of its own.
 */
TEST(stats_published_for_other_processes)
{
	struct uhmm_mm_stats mine, read = { .size = sizeof(read) };
	struct hmm_buffer *b;
	struct dmirror_api api;
	char path[64];
	pid_t pid;
	int fd, status;

	ASSERT_EQ(setenv("UHMM_STATS", "1", 1), 0);
	api = setup(&fd, 0);	/* starts the engine, which publishes */
	b = anon_buffer(NPAGES);
	fill(b, NPAGES, 9);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	check(b->ptr, NPAGES, 9);
	mine = mm_stats();
	ASSERT_EQ(uhmm_mm_read_stats(getpid(), &read), 0);
	ASSERT_EQ(read.faults, mine.faults);
	ASSERT_GE(read.pages_to_device, NPAGES);
	ASSERT_EQ(read.pages_to_device, mine.pages_to_device);
	/* The gauges too: what is registered now. */
	ASSERT_GT(read.registered_bytes, 0);
	ASSERT_EQ(read.registered_bytes, mine.registered_bytes);

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct uhmm_mm_stats c = { .size = sizeof(c) };

		/* The child's own file, starting from the parent's counts. */
		_exit(uhmm_mm_read_stats(getpid(), &c) || c.faults != mine.faults ? 1 : 0);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	/* The child left by _exit(): its file stays, and says its process is gone. */
	snprintf(path, sizeof(path), "/dev/shm/uhmm.%d", (int)pid);
	ASSERT_EQ(access(path, F_OK), 0);
	ASSERT_EQ(uhmm_mm_read_stats(pid, &read), -ESRCH);
	unlink(path);
	ASSERT_EQ(uhmm_mm_read_stats(pid, &read), -ENOENT);
	ASSERT_EQ(uhmm_mm_read_stats(getpid(), &read), 0);	/* ours is still there */
	ASSERT_EQ(read.faults, mine.faults);
	ASSERT_EQ(uhmm_mm_read_stats(0, &read), -EINVAL);
	ASSERT_EQ(uhmm_mm_read_stats(getpid(), NULL), -EINVAL);
	hmm_buffer_free(b);
	api.close(fd);
}

/* The sum of every mapped pgmap's stats (dmirror maps one per chunk). */
static int add_pgmap_stats(struct uhmm_dev_pagemap *pgmap, void *data)
{
	struct uhmm_pgmap_stats *sum = data, s = { .size = sizeof(s) };

	ASSERT_EQ(uhmm_pgmap_get_stats(pgmap, &s), 0);
	ASSERT_EQ(s.size, sizeof(s));
	ASSERT_TRUE(s.pages_in_use <= s.nr_pages);
	sum->faults += s.faults;
	sum->fault_errors += s.fault_errors;
	sum->pages_in += s.pages_in;
	sum->pages_out += s.pages_out;
	sum->nr_pages += s.nr_pages;
	sum->pages_in_use += s.pages_in_use;
	sum->size++;	/* here: how many pgmaps */
	return 0;
}

static struct uhmm_pgmap_stats pgmaps_total(void)
{
	struct uhmm_pgmap_stats sum;

	memset(&sum, 0, sizeof(sum));
	ASSERT_EQ(uhmm_pgmap_for_each(add_pgmap_stats, &sum), 0);
	return sum;
}

static int stop_at_first(struct uhmm_dev_pagemap *pgmap, void *data)
{
	*(struct uhmm_dev_pagemap **)data = pgmap;
	return 7;
}

/* Each pgmap counts what comes in, what goes out and the faults on its pages. */
TEST(pgmap_stats_count_each_way)
{
	struct uhmm_pgmap_stats before, on_device, back, small = { .size = 8, .faults = 12345 };
	struct uhmm_dev_pagemap *first = NULL;
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);

	fill(b, NPAGES, 4);
	before = pgmaps_total();
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	on_device = pgmaps_total();
	ASSERT_GE(on_device.size, 1);	/* the chunk is mapped by now */
	ASSERT_EQ(on_device.pages_in - before.pages_in, NPAGES);
	ASSERT_EQ(on_device.pages_out, before.pages_out);
	ASSERT_GE(on_device.pages_in_use, before.pages_in_use + NPAGES);
	check(b->ptr, NPAGES, 4);	/* faults every page back */
	back = pgmaps_total();
	ASSERT_GT(back.faults, on_device.faults);
	ASSERT_EQ(back.fault_errors, 0);
	ASSERT_EQ(back.pages_out - on_device.pages_out, NPAGES);
	ASSERT_EQ(back.pages_in, on_device.pages_in);
	/* The for-each stops where its function says, with what it said. */
	ASSERT_EQ(uhmm_pgmap_for_each(stop_at_first, &first), 7);
	ASSERT_NONNULL(first);
	/* A caller's smaller struct gets only its own fields. */
	ASSERT_EQ(uhmm_pgmap_get_stats(first, &small), 0);
	ASSERT_EQ(small.size, 8);
	ASSERT_EQ(small.faults, 12345);
	ASSERT_EQ(uhmm_pgmap_get_stats(NULL, &small), -EINVAL);
	ASSERT_EQ(uhmm_pgmap_get_stats(first, NULL), -EINVAL);
	small.size = 4;
	ASSERT_EQ(uhmm_pgmap_get_stats(first, &small), -EINVAL);
	ASSERT_EQ(uhmm_pgmap_for_each(NULL, NULL), -EINVAL);
	hmm_buffer_free(b);
	api.close(fd);
}
