// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Conformance tests for mirroring, after the kernel's
 * tools/testing/selftests/mm/hmm-tests.c: a device reads and writes process
 * memory through its mirrored page table (dmirror READ, WRITE, SNAPSHOT),
 * filled by hmm_range_fault() and emptied by invalidations.  Each test runs
 * in its own process.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dmirror_helpers.h"

#define NPAGES	16UL
#define HUGE_SZ	(2UL << 20)

/* Device READ of npages into b->mirror; the data must be what the CPU wrote. */
static void device_read_ok(struct dmirror_api *api, int fd, struct hmm_buffer *b,
			   unsigned long npages, int seed)
{
	ASSERT_EQ(hmm_dmirror_cmd(api, fd, HMM_DMIRROR_READ, b, npages), 0);
	ASSERT_EQ(b->cpages, npages);
	check(b->mirror, npages, seed);
}

/* The device's side: what a WRITE will write. */
static void fill_mirror(struct hmm_buffer *b, unsigned long npages, int seed)
{
	fill_words(b->mirror, npages, seed);
}

static unsigned char *snapshot(struct dmirror_api *api, int fd, struct hmm_buffer *b,
			       unsigned long npages)
{
	ASSERT_EQ(hmm_dmirror_cmd(api, fd, HMM_DMIRROR_SNAPSHOT, b, npages), 0);
	ASSERT_EQ(b->cpages, npages);
	return b->mirror;
}

/* Read anonymous memory: written pages, a never-touched page and a zero page. */
TEST(anon_read)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	volatile char *p = b->ptr;
	unsigned char *m, zero;
	unsigned long i;

	fill(b, NPAGES - 2, 7);
	(void)p[(NPAGES - 1) * HMM_PAGE];	/* a read fault: the zero page */
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_READ, b, NPAGES), 0);
	ASSERT_EQ(b->cpages, NPAGES);
	ASSERT_EQ(b->faults, 1);
	check(b->mirror, NPAGES - 2, 7);
	for (i = (NPAGES - 2) * HMM_PAGE; i < NPAGES * HMM_PAGE; i++)
		ASSERT_EQ(((char *)b->mirror)[i], 0);
	/* A second read finds everything mapped: no fault. */
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_READ, b, NPAGES), 0);
	ASSERT_EQ(b->faults, 0);
	m = snapshot(&api, fd, b, NPAGES);
	ASSERT_EQ(m[0], HMM_DMIRROR_PROT_WRITE);
	/* Read faults map the zero page, or a page of their own where the kernel has none. */
	zero = kernel_maps_zero_page() ? HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ :
					 HMM_DMIRROR_PROT_WRITE;
	ASSERT_EQ(m[NPAGES - 2], zero);
	ASSERT_EQ(m[NPAGES - 1], zero);
	hmm_buffer_free(b);
}

/* PROT_NONE: the device cannot read (-EFAULT) until mprotect() allows it. */
TEST(anon_read_prot)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);

	fill(b, NPAGES, 3);
	ASSERT_EQ(mprotect(b->ptr, NPAGES * HMM_PAGE, PROT_NONE), 0);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_READ, b, NPAGES), -EFAULT);
	ASSERT_EQ(((unsigned char *)b->mirror)[0], 0xa5);	/* nothing copied */
	ASSERT_EQ(mprotect(b->ptr, NPAGES * HMM_PAGE, PROT_READ), 0);
	device_read_ok(&api, fd, b, NPAGES, 3);
	hmm_buffer_free(b);
}

TEST(anon_write)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);

	fill_mirror(b, NPAGES, 11);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_WRITE, b, NPAGES), 0);
	ASSERT_EQ(b->cpages, NPAGES);
	ASSERT_EQ(b->faults, 1);
	check(b->ptr, NPAGES, 11);
	hmm_buffer_free(b);
}

/* A read-only mapping: READ works, WRITE is -EPERM until mprotect() allows it. */
TEST(anon_write_prot)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);

	fill(b, NPAGES, 5);
	ASSERT_EQ(mprotect(b->ptr, NPAGES * HMM_PAGE, PROT_READ), 0);
	device_read_ok(&api, fd, b, NPAGES, 5);
	fill_mirror(b, NPAGES, 9);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_WRITE, b, NPAGES), -EPERM);
	check(b->ptr, NPAGES, 5);
	ASSERT_EQ(mprotect(b->ptr, NPAGES * HMM_PAGE, PROT_READ | PROT_WRITE), 0);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_WRITE, b, NPAGES), 0);
	check(b->ptr, NPAGES, 9);
	hmm_buffer_free(b);
}

/* After the device mirrored a page writable, mprotect(PROT_READ) stops its writes. */
TEST(anon_write_after_mprotect)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);

	fill_mirror(b, NPAGES, 1);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_WRITE, b, NPAGES), 0);
	ASSERT_EQ(mprotect(b->ptr, NPAGES * HMM_PAGE, PROT_READ), 0);
	fill_mirror(b, NPAGES, 2);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_WRITE, b, NPAGES), -EPERM);
	check(b->ptr, NPAGES, 1);
	hmm_buffer_free(b);
}

/* A child writes through its own device handle: the parent's private copy is untouched. */
static void write_child(int flags)
{
	int fd, status;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = hmm_buffer_alloc(NPAGES * HMM_PAGE, PROT_READ | PROT_WRITE,
						flags | MAP_ANONYMOUS);
	pid_t pid;

	fill(b, NPAGES, 100);
	device_read_ok(&api, fd, b, NPAGES, 100);	/* the parent mirrors it first */
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		int cfd = api.open(0);

		if (cfd < 0)
			_exit(10);
		check(b->ptr, NPAGES, 100);
		fill_mirror(b, NPAGES, 200);
		if (hmm_dmirror_cmd(&api, cfd, HMM_DMIRROR_WRITE, b, NPAGES))
			_exit(11);
		check(b->ptr, NPAGES, 200);
		_exit(0);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	check(b->ptr, NPAGES, flags & MAP_SHARED ? 200 : 100);
	device_read_ok(&api, fd, b, NPAGES, flags & MAP_SHARED ? 200 : 100);
	hmm_buffer_free(b);
}

TEST(anon_write_child)
{
	write_child(MAP_PRIVATE);
}

TEST(anon_write_child_shared)
{
	write_child(MAP_SHARED);
}

/* THP-backed memory: SNAPSHOT reports the PMD mapping. */
TEST(anon_write_huge)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	unsigned long npages = HUGE_SZ / HMM_PAGE;
	struct hmm_buffer *b = anon_buffer(2 * npages);
	void *raw = b->ptr;
	unsigned char *m;

	b->ptr = (void *)(((uintptr_t)raw + HUGE_SZ - 1) & ~(HUGE_SZ - 1));
	if (madvise(b->ptr, HUGE_SZ, MADV_HUGEPAGE))
		SKIP("madvise(MADV_HUGEPAGE): %s", strerror(errno));
	fill(b, npages, 4);
	m = snapshot(&api, fd, b, 1);
	if (!(m[0] & HMM_DMIRROR_PROT_PMD)) {
		b->ptr = raw;
		SKIP("the kernel gave no huge page (transparent_hugepage off, or none free)");
	}
	ASSERT_EQ(m[0], HMM_DMIRROR_PROT_PMD | HMM_DMIRROR_PROT_WRITE);
	fill_mirror(b, npages, 8);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_WRITE, b, npages), 0);
	check(b->ptr, npages, 8);
	device_read_ok(&api, fd, b, npages, 8);
	b->ptr = raw;
	hmm_buffer_free(b);
}

/* hugetlbfs memory, when huge pages are reserved. */
TEST(hugetlbfs_read_write)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	unsigned long npages = HUGE_SZ / HMM_PAGE;
	struct hmm_buffer *b = calloc(1, sizeof(*b));
	unsigned char *m;

	b->size = HUGE_SZ;
	b->ptr = mmap(NULL, HUGE_SZ, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (b->ptr == MAP_FAILED)
		SKIP("no 2 MiB hugetlbfs page reserved (vm.nr_hugepages is 0): %s",
		     strerror(errno));
	b->mirror = malloc(HUGE_SZ);
	fill(b, npages, 6);
	device_read_ok(&api, fd, b, npages, 6);
	m = snapshot(&api, fd, b, 1);
	ASSERT_EQ(m[0], HMM_DMIRROR_PROT_PMD | HMM_DMIRROR_PROT_WRITE);
	fill_mirror(b, npages, 12);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_WRITE, b, npages), 0);
	check(b->ptr, npages, 12);
	hmm_buffer_free(b);
}

/* A MAP_SHARED mapping of an O_TMPFILE file in @dir, holding seed data. */
static struct hmm_buffer *file_buffer(const char *dir, int *filefd, int seed)
{
	struct hmm_buffer *b = calloc(1, sizeof(*b));
	int *data = malloc(NPAGES * HMM_PAGE);
	int ffd = open(dir, O_TMPFILE | O_EXCL | O_RDWR, 0600);

	if (ffd < 0)
		SKIP("O_TMPFILE in %s: %s", dir, strerror(errno));
	fill_words(data, NPAGES, seed);
	ASSERT_EQ(pwrite(ffd, data, NPAGES * HMM_PAGE, 0), (ssize_t)(NPAGES * HMM_PAGE));
	free(data);
	b->size = NPAGES * HMM_PAGE;
	b->ptr = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, ffd, 0);
	ASSERT_TRUE(b->ptr != MAP_FAILED);
	b->mirror = malloc(b->size);
	*filefd = ffd;
	return b;
}

static void file_read_write(const char *dir)
{
	int fd, ffd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = file_buffer(dir, &ffd, 21);
	int *data = malloc(NPAGES * HMM_PAGE);

	device_read_ok(&api, fd, b, NPAGES, 21);
	fill_mirror(b, NPAGES, 42);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_WRITE, b, NPAGES), 0);
	ASSERT_EQ(pread(ffd, data, NPAGES * HMM_PAGE, 0), (ssize_t)(NPAGES * HMM_PAGE));
	check(data, NPAGES, 42);
	free(data);
	close(ffd);
	hmm_buffer_free(b);
}

/* tmpfs (shmem), which userfaultfd watches. */
TEST(file_read_write_tmpfs)
{
	file_read_write("/dev/shm");
}

/* A disk filesystem, which userfaultfd cannot register: mirrored all the same. */
TEST(file_read_write_disk)
{
	file_read_write("/var/tmp");
}

/* Ten rounds of map, fill, read, unmap: every mirror of a freed range goes. */
TEST(read_ten_rounds)
{
	int fd, round;
	struct dmirror_api api = setup(&fd, 0);

	for (round = 0; round < 10; round++) {
		struct hmm_buffer *b = anon_buffer(NPAGES);

		fill(b, NPAGES, round);
		device_read_ok(&api, fd, b, NPAGES, round);
		ASSERT_EQ(b->faults, 1);
		hmm_buffer_free(b);
	}
}

struct race {
	struct dmirror_api *api;
	int fd;
	void *ptr;		/* atomic */
	int stop;		/* atomic */
	unsigned long reads_ok, reads_failed;
};

static void *reader(void *arg)
{
	struct race *r = arg;
	char *mirror = malloc(NPAGES * HMM_PAGE);

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		struct hmm_dmirror_cmd cmd = {
			.addr = (uintptr_t)__atomic_load_n(&r->ptr, __ATOMIC_RELAXED),
			.ptr = (uintptr_t)mirror, .npages = NPAGES,
		};
		int ret = r->api->ioctl(r->fd, HMM_DMIRROR_READ, &cmd);

		if (ret == 0)
			r->reads_ok++;
		else if (ret == -EFAULT)
			r->reads_failed++;
		else
			HARNESS_FAIL("READ racing munmap returned %d", ret);
	}
	free(mirror);
	return NULL;
}

/* munmap racing a READ: the READ completes or fails with -EFAULT, never crashes. */
TEST(munmap_races_read)
{
	int fd, i;
	struct dmirror_api api = setup(&fd, 0);
	struct race r = { .api = &api, .fd = fd };
	pthread_t t;
	void *p = mmap(NULL, NPAGES * HMM_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_TRUE(p != MAP_FAILED);
	memset(p, 1, NPAGES * HMM_PAGE);
	r.ptr = p;
	ASSERT_EQ(pthread_create(&t, NULL, reader, &r), 0);
	for (i = 0; i < 300; i++) {
		ASSERT_EQ(munmap(p, NPAGES * HMM_PAGE), 0);
		usleep(100);
		/* Most often at the same address, as the kernel reuses the gap. */
		p = mmap(p, NPAGES * HMM_PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		__atomic_store_n(&r.ptr, p, __ATOMIC_RELAXED);
		ASSERT_TRUE(p != MAP_FAILED);
		memset(p, 1, NPAGES * HMM_PAGE);
		usleep(100);
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELAXED);
	ASSERT_EQ(pthread_join(t, NULL), 0);
	printf("# reads: %lu completed, %lu failed with -EFAULT\n", r.reads_ok, r.reads_failed);
	ASSERT_GT(r.reads_ok + r.reads_failed, 0);
	munmap(p, NPAGES * HMM_PAGE);
}

/*
 * The kernel's hmm_snapshot: seven pages of every kind, seen from both
 * devices: PROT_NONE, a hole, a zero page read-only, a written page made
 * read-only, a written page, a page on device 0, a page on device 1.
 */
TEST(snapshot_two_devices)
{
	int fd0, fd1;
	struct dmirror_api api = setup(&fd0, 0);
	struct hmm_buffer *b = hmm_buffer_alloc(7 * HMM_PAGE, PROT_NONE,
						MAP_PRIVATE | MAP_ANONYMOUS);
	char *p = b->ptr;
	unsigned char *m;
	int val;

	fd1 = api.open(1);
	ASSERT_GE(fd1, 0);
	ASSERT_EQ(mprotect(p + 2 * HMM_PAGE, HMM_PAGE, PROT_READ), 0);
	val = *(volatile int *)(p + 2 * HMM_PAGE) + 3;
	ASSERT_EQ(val, 3);
	ASSERT_EQ(mprotect(p + 3 * HMM_PAGE, HMM_PAGE, PROT_READ | PROT_WRITE), 0);
	*(int *)(p + 3 * HMM_PAGE) = val;
	ASSERT_EQ(mprotect(p + 3 * HMM_PAGE, HMM_PAGE, PROT_READ), 0);
	ASSERT_EQ(mprotect(p + 4 * HMM_PAGE, 3 * HMM_PAGE, PROT_READ | PROT_WRITE), 0);
	*(int *)(p + 4 * HMM_PAGE) = val;
	*(int *)(p + 5 * HMM_PAGE) = val;
	*(int *)(p + 6 * HMM_PAGE) = val;
	b->ptr = p + 5 * HMM_PAGE;
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd0, HMM_DMIRROR_MIGRATE_TO_DEV, b, 1), 0);
	b->ptr = p + 6 * HMM_PAGE;
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd1, HMM_DMIRROR_MIGRATE_TO_DEV, b, 1), 0);
	b->ptr = p;
	/*
	 * The hole last, after a first snapshot made the allocations a
	 * snapshot makes: a 4 KiB gap is where the next small mmap() lands.
	 */
	snapshot(&api, fd0, b, 7);
	snapshot(&api, fd1, b, 7);
	ASSERT_EQ(munmap(p + HMM_PAGE, HMM_PAGE), 0);

	m = snapshot(&api, fd0, b, 7);
	ASSERT_EQ(m[0], HMM_DMIRROR_PROT_ERROR);
	ASSERT_EQ(m[1], HMM_DMIRROR_PROT_ERROR);
	ASSERT_EQ(m[2], kernel_maps_zero_page() ? HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ :
						  HMM_DMIRROR_PROT_READ);
	ASSERT_EQ(m[3], HMM_DMIRROR_PROT_READ);
	ASSERT_EQ(m[4], HMM_DMIRROR_PROT_WRITE);
	ASSERT_EQ(m[5], HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE);
	ASSERT_EQ(m[6], HMM_DMIRROR_PROT_NONE);

	m = snapshot(&api, fd1, b, 7);
	ASSERT_EQ(m[5], HMM_DMIRROR_PROT_NONE);
	ASSERT_EQ(m[6], HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE);
	b->ptr = p + 2 * HMM_PAGE;	/* page 1 is already gone */
	b->size = 5 * HMM_PAGE;
	munmap(p, HMM_PAGE);
	hmm_buffer_free(b);
}

/* A page on device 0, read by device 1: it comes back to system memory first. */
TEST(read_page_of_other_device)
{
	int fd0, fd1;
	struct dmirror_api api = setup(&fd0, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	unsigned char *m;
	unsigned long i;

	fd1 = api.open(1);
	ASSERT_GE(fd1, 0);
	fill(b, NPAGES, 31);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd0, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	ASSERT_EQ(b->cpages, NPAGES);
	device_read_ok(&api, fd1, b, NPAGES, 31);
	m = snapshot(&api, fd0, b, NPAGES);
	for (i = 0; i < NPAGES; i++)
		ASSERT_EQ(m[i], HMM_DMIRROR_PROT_WRITE);
	check(b->ptr, NPAGES, 31);
	hmm_buffer_free(b);
}

/* Device 0 reads its own device pages without faulting them back. */
TEST(read_own_device_pages)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	uint64_t to_ram;

	fill(b, NPAGES, 13);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	to_ram = mm_stats().pages_to_ram;
	device_read_ok(&api, fd, b, NPAGES, 13);
	ASSERT_EQ(mm_stats().pages_to_ram, to_ram);
	fill_mirror(b, NPAGES, 14);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_WRITE, b, NPAGES), 0);
	check(b->ptr, NPAGES, 14);	/* the CPU faults them back, with the device's data */
	hmm_buffer_free(b);
}

/*
 * The kernel's hmm_cow_in_device: pages in device memory, fork(), the
 * parent writes (each page comes back and is copied): afterwards the
 * parent's pages are plain writable system pages, and the child still has
 * the old data.
 */
TEST(cow_after_fork_in_device)
{
	int fd, status;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	int pipefd[2];
	unsigned char *m;
	unsigned long i;
	pid_t pid;
	char c;

	fill(b, NPAGES, 50);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	ASSERT_EQ(pipe(pipefd), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		/* Wait for the parent's writes, then check the child's copy. */
		if (read(pipefd[0], &c, 1) != 1)
			_exit(2);
		check(b->ptr, NPAGES, 50);
		_exit(0);
	}
	fill(b, NPAGES, 60);
	ASSERT_EQ(write(pipefd[1], "x", 1), 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	m = snapshot(&api, fd, b, NPAGES);
	for (i = 0; i < NPAGES; i++)
		ASSERT_EQ(m[i], HMM_DMIRROR_PROT_WRITE);
	check(b->ptr, NPAGES, 60);
	hmm_buffer_free(b);
}

/* Bad input gets the kernel device's codes. */
TEST(mirror_bad_input)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	struct hmm_dmirror_cmd cmd = { .addr = (uintptr_t)b->ptr + 1, .npages = 1 };

	ASSERT_EQ(api.ioctl(fd, HMM_DMIRROR_READ, &cmd), -EINVAL);
	cmd.addr = (uintptr_t)b->ptr;
	cmd.ptr = 0x10;	/* an unmapped destination */
	ASSERT_EQ(api.ioctl(fd, HMM_DMIRROR_READ, &cmd), -EFAULT);
	ASSERT_EQ(api.ioctl(fd, HMM_DMIRROR_WRITE, &cmd), -EFAULT);
	ASSERT_EQ(api.ioctl(fd, HMM_DMIRROR_SNAPSHOT, &cmd), -EFAULT);
	cmd.addr = 0x1000;	/* nothing mapped there */
	cmd.ptr = (uintptr_t)b->mirror;
	ASSERT_EQ(api.ioctl(fd, HMM_DMIRROR_READ, &cmd), -EFAULT);
	ASSERT_EQ(api.ioctl(fd, HMM_DMIRROR_SNAPSHOT, &cmd), 0);
	ASSERT_EQ(((unsigned char *)b->mirror)[0], HMM_DMIRROR_PROT_ERROR);
	hmm_buffer_free(b);
}

static dmirror_mmap_fn dmirror_mmap(void)
{
	dmirror_mmap_fn fn = (dmirror_mmap_fn)uhmm_symbol_get("dmirror_mmap");

	ASSERT_NONNULL(fn);
	return fn;
}

/*
 * The kernel's hmm_mixedmap: a private mapping of the device itself holds
 * its zeroed pages from the start, mapped read-only until written, so a
 * snapshot that faults nothing sees READ; written, a page is the
 * process's own copy, and the device's mirror sees it writable.
 */
TEST(mixedmap)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(4);
	unsigned char *m;
	unsigned long i;
	int *p;

	munmap(b->ptr, b->size);
	b->ptr = dmirror_mmap()(fd, NULL, b->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0);
	ASSERT_TRUE(b->ptr != MAP_FAILED);
	m = snapshot(&api, fd, b, 4);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(m[i], HMM_DMIRROR_PROT_READ);
	p = b->ptr;
	for (i = 0; i < 4 * HMM_PAGE / sizeof(int); i++)
		ASSERT_EQ(p[i], 0);
	p[HMM_PAGE / sizeof(int)] = 42;		/* page 1 */
	m = snapshot(&api, fd, b, 4);
	ASSERT_EQ(m[0], HMM_DMIRROR_PROT_READ);
	ASSERT_EQ(m[1], HMM_DMIRROR_PROT_WRITE);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_READ, b, 4), 0);
	ASSERT_EQ(((int *)b->mirror)[HMM_PAGE / sizeof(int)], 42);
	ASSERT_EQ(((int *)b->mirror)[0], 0);
	hmm_buffer_free(b);
	api.close(fd);
}

/* A shared mapping of the device: its pages, writable, and what the CPU writes the device reads. */
TEST(mixedmap_shared)
{
	int fd;
	struct dmirror_api api = setup(&fd, 1);
	struct hmm_buffer *b = anon_buffer(3);
	unsigned char *m;

	munmap(b->ptr, b->size);
	b->ptr = dmirror_mmap()(fd, NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	ASSERT_TRUE(b->ptr != MAP_FAILED);
	m = snapshot(&api, fd, b, 3);
	ASSERT_EQ(m[0], HMM_DMIRROR_PROT_WRITE);
	ASSERT_EQ(m[2], HMM_DMIRROR_PROT_WRITE);
	fill(b, 3, 11);
	device_read_ok(&api, fd, b, 3, 11);
	/* A read-only shared mapping is read-only to the device too. */
	ASSERT_EQ(munmap(b->ptr, b->size), 0);
	b->ptr = dmirror_mmap()(fd, NULL, b->size, PROT_READ, MAP_SHARED, 0);
	ASSERT_TRUE(b->ptr != MAP_FAILED);
	m = snapshot(&api, fd, b, 3);
	ASSERT_EQ(m[1], HMM_DMIRROR_PROT_READ);
	hmm_buffer_free(b);
	api.close(fd);
}

/* mmap of the device refuses what mmap(2) of the kernel's device refuses. */
TEST(mixedmap_bad_input)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	dmirror_mmap_fn map = dmirror_mmap();

	errno = 0;
	ASSERT_TRUE(map(77, NULL, HMM_PAGE, PROT_READ, MAP_PRIVATE, 0) == MAP_FAILED);
	ASSERT_EQ(errno, EBADF);
	ASSERT_TRUE(map(fd, NULL, 0, PROT_READ, MAP_PRIVATE, 0) == MAP_FAILED);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_TRUE(map(fd, NULL, HMM_PAGE, PROT_READ, MAP_PRIVATE, 100) == MAP_FAILED);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_TRUE(map(fd, NULL, HMM_PAGE, PROT_READ, MAP_PRIVATE | MAP_SHARED, 0) == MAP_FAILED);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_TRUE(map(fd, NULL, HMM_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, 0) ==
		    MAP_FAILED);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_TRUE(map(fd, (void *)0x1234, HMM_PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED, 0) ==
		    MAP_FAILED);
	ASSERT_EQ(errno, EINVAL);	/* mmap()'s own answer */
	api.close(fd);
}

/* The kernel's hmm_exclusive: the device holds the pages; a CPU access takes them back. */
TEST(exclusive)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	int *p = b->ptr;
	unsigned long i;

	fill(b, NPAGES, 70);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_EXCLUSIVE, b, NPAGES), 0);
	ASSERT_EQ(b->cpages, NPAGES);
	check(b->mirror, NPAGES, 70);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_CHECK_EXCLUSIVE, b, NPAGES), -EPERM);
	/* The device writes while it holds them... */
	fill_mirror(b, NPAGES, 80);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_WRITE, b, NPAGES), 0);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_CHECK_EXCLUSIVE, b, NPAGES), -EPERM);
	/* ...and the CPU, taking them back, sees it. */
	for (i = 0; i < NPAGES * HMM_PAGE / sizeof(int); i++)
		ASSERT_EQ(p[i]++, (int)i + 80);
	check(b->ptr, NPAGES, 81);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_CHECK_EXCLUSIVE, b, NPAGES), 0);
	device_read_ok(&api, fd, b, NPAGES, 81);
	hmm_buffer_free(b);
}

/* The kernel's hmm_exclusive_mprotect: a device write after mprotect(PROT_READ) fails. */
TEST(exclusive_mprotect)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);

	fill(b, NPAGES, 90);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_EXCLUSIVE, b, NPAGES), 0);
	check(b->mirror, NPAGES, 90);
	ASSERT_EQ(mprotect(b->ptr, NPAGES * HMM_PAGE, PROT_READ), 0);
	fill_mirror(b, NPAGES, 91);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_WRITE, b, NPAGES), -EPERM);
	check(b->ptr, NPAGES, 90);
	hmm_buffer_free(b);
}

/* The kernel's hmm_exclusive_cow: fork() takes the pages back; both copies write. */
TEST(exclusive_fork)
{
	int fd, status;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(NPAGES);
	int *p = b->ptr;
	unsigned long i;
	pid_t pid;

	fill(b, NPAGES, 100);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_EXCLUSIVE, b, NPAGES), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	for (i = 0; i < NPAGES * HMM_PAGE / sizeof(int); i++)
		if (p[i]++ != (int)i + 100)
			HARNESS_FAIL("word %lu changed", i);
	check(b->ptr, NPAGES, 101);
	if (!pid)
		_exit(0);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_CHECK_EXCLUSIVE, b, NPAGES), 0);
	hmm_buffer_free(b);
}

/* Only private anonymous writable memory can be held exclusively. */
TEST(exclusive_bad_mappings)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *s = hmm_buffer_alloc(NPAGES * HMM_PAGE, PROT_READ | PROT_WRITE,
						MAP_SHARED | MAP_ANONYMOUS);
	struct hmm_buffer *r = hmm_buffer_alloc(NPAGES * HMM_PAGE, PROT_READ,
						MAP_PRIVATE | MAP_ANONYMOUS);

	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_EXCLUSIVE, s, 1), -EOPNOTSUPP);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_EXCLUSIVE, r, 1), -EFAULT);
	hmm_buffer_free(s);
	hmm_buffer_free(r);
}

/*
 * Commands with random arguments, as a fuzzer would send them: every one
 * returns one of the kernel device's codes, and nothing crashes.  The
 * buffers given are the test's own or unmapped, so no command can scribble
 * over memory the test still needs.
 */
TEST(random_commands)
{
	static const unsigned long requests[] = {
		HMM_DMIRROR_READ, HMM_DMIRROR_WRITE, HMM_DMIRROR_MIGRATE_TO_DEV,
		HMM_DMIRROR_MIGRATE_TO_SYS, HMM_DMIRROR_SNAPSHOT, HMM_DMIRROR_EXCLUSIVE,
		HMM_DMIRROR_CHECK_EXCLUSIVE, 0xdead,
	};
	int fd, i;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(4 * NPAGES);
	char *hole = mmap(NULL, 4 * NPAGES * HMM_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned int seed = 12345;

	ASSERT_TRUE(hole != MAP_FAILED);
	fill(b, 4 * NPAGES, 0);
	for (i = 0; i < 3000; i++) {
		unsigned long r = rand_r(&seed), off = (r >> 8) % (4 * NPAGES * HMM_PAGE);
		struct hmm_dmirror_cmd cmd = {
			.addr = (r & 3) == 0 ? (uintptr_t)hole + off : (uintptr_t)b->ptr + off,
			.ptr = (r & 12) == 0 ? (uintptr_t)hole : (uintptr_t)b->mirror,
			.npages = (r >> 4) % (2 * NPAGES),
		};
		int ret;

		if (r & 16)
			cmd.addr &= ~(HMM_PAGE - 1);
		/* Keep the range inside what is mapped or reserved for it. */
		if (cmd.addr + cmd.npages * HMM_PAGE > (uintptr_t)b->ptr + 4 * NPAGES * HMM_PAGE &&
		    cmd.addr >= (uintptr_t)b->ptr)
			cmd.npages = ((uintptr_t)b->ptr + 4 * NPAGES * HMM_PAGE - cmd.addr) / HMM_PAGE;
		ret = api.ioctl(fd, requests[(r >> 20) % (sizeof(requests) / sizeof(requests[0]))], &cmd);
		if (ret != 0 && ret != -EINVAL && ret != -EFAULT && ret != -EPERM &&
		    ret != -ENOENT && ret != -EBUSY && ret != -EOPNOTSUPP && ret != -ENOMEM)
			HARNESS_FAIL("request %lu returned %d", requests[(r >> 20) % (sizeof(requests) / sizeof(requests[0]))],
				     ret);
	}
	munmap(hole, 4 * NPAGES * HMM_PAGE);
	hmm_buffer_free(b);
}
