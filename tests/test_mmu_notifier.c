// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Interval notifiers and hmm_range_fault() through the library's API: every
 * way the CPU side changes reaches the notifier before a read that saw the
 * old state can commit, and the sequence protocol holds under threads.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dmirror_helpers.h"

#define NPAGES	16UL
#define SIZE	(NPAGES * HMM_PAGE)
#define MAX_EVENTS 256

struct recorder {
	struct uhmm_mmu_interval_notifier sub;
	pthread_mutex_t lock;		/* the "driver lock" */
	unsigned long ops;		/* invalidations seen, under lock */
	int write_fd;			/* >= 0: also report events here */
	struct uhmm_mmu_notifier_range ev[MAX_EVENTS];
	unsigned int n;
};

static bool record(struct uhmm_mmu_interval_notifier *sub,
		   const struct uhmm_mmu_notifier_range *range, unsigned long cur_seq)
{
	struct recorder *r = (struct recorder *)sub;

	if (!uhmm_mmu_notifier_range_blockable(range))
		return false;
	pthread_mutex_lock(&r->lock);
	uhmm_mmu_interval_set_seq(sub, cur_seq);
	r->ops++;
	if (r->n < MAX_EVENTS)
		r->ev[r->n++] = *range;
	if (r->write_fd >= 0 && write(r->write_fd, &range->event, sizeof(range->event)) < 0)
		_exit(3);
	pthread_mutex_unlock(&r->lock);
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops recorder_ops = { .invalidate = record };

static struct recorder *recorder_new(unsigned long start, unsigned long len)
{
	struct recorder *r = calloc(1, sizeof(*r));

	ASSERT_NONNULL(r);
	pthread_mutex_init(&r->lock, NULL);
	r->write_fd = -1;
	ASSERT_EQ(uhmm_mmu_interval_notifier_insert(&r->sub, start, len, &recorder_ops), 0);
	return r;
}

static void recorder_free(struct recorder *r)
{
	uhmm_mmu_interval_notifier_remove(&r->sub);
	free(r);
}

/* Did an event of this kind cover [start, end)?  Waits for running ops first. */
static bool saw(struct recorder *r, enum uhmm_mmu_notifier_event event, unsigned long start,
		unsigned long end)
{
	bool found = false;
	unsigned int i;

	uhmm_mmu_interval_read_begin(&r->sub);
	pthread_mutex_lock(&r->lock);
	for (i = 0; i < r->n; i++)
		if (r->ev[i].event == event && r->ev[i].start <= start && r->ev[i].end >= end)
			found = true;
	pthread_mutex_unlock(&r->lock);
	return found;
}

static char *buffer(int flags)
{
	char *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);

	ASSERT_TRUE(p != MAP_FAILED);
	memset(p, 0x5a, SIZE);
	return p;
}

/* read_begin + hmm_range_fault over [p, p + SIZE); returns the sequence. */
static unsigned long mirror(struct recorder *r, void *p, unsigned long flags, unsigned long *pfns)
{
	struct uhmm_hmm_range range = {
		.notifier = &r->sub, .start = (uintptr_t)p, .end = (uintptr_t)p + SIZE,
		.hmm_pfns = pfns, .default_flags = flags,
	};
	int ret;

	do {
		range.notifier_seq = uhmm_mmu_interval_read_begin(&r->sub);
		ret = uhmm_hmm_range_fault(&range);
	} while (ret == -EBUSY);
	ASSERT_EQ(ret, 0);
	return range.notifier_seq;
}

/* A commit after the change must be refused, and the op must have run. */
#define ASSERT_INVALIDATED(r, seq, event, start, len) do {				\
	ASSERT_TRUE(uhmm_mmu_interval_read_retry(&(r)->sub, (seq)));		\
	ASSERT_TRUE(saw((r), (event), (uintptr_t)(start), (uintptr_t)(start) + (len)));	\
} while (0)

TEST(munmap_invalidates)
{
	unsigned long pfns[NPAGES], seq;
	struct recorder *r;
	char *p;

	require_fault_engine();
	p = buffer(MAP_PRIVATE);
	r = recorder_new((uintptr_t)p, SIZE);
	seq = mirror(r, p, UHMM_HMM_PFN_REQ_FAULT, pfns);
	ASSERT_FALSE(uhmm_mmu_interval_read_retry(&r->sub, seq));
	ASSERT_EQ(munmap(p, SIZE), 0);
	ASSERT_INVALIDATED(r, seq, UHMM_MMU_NOTIFY_UNMAP, p, SIZE);
	recorder_free(r);
}

TEST(madvise_invalidates)
{
	static const int advice[] = { MADV_DONTNEED, MADV_FREE };
	unsigned long pfns[NPAGES], seq;
	struct recorder *r;
	unsigned int i;
	char *p;

	require_fault_engine();
	p = buffer(MAP_PRIVATE);
	r = recorder_new((uintptr_t)p, SIZE);
	for (i = 0; i < 2; i++) {
		seq = mirror(r, p, UHMM_HMM_PFN_REQ_FAULT, pfns);
		ASSERT_EQ(madvise(p + HMM_PAGE, 2 * HMM_PAGE, advice[i]), 0);
		ASSERT_INVALIDATED(r, seq, UHMM_MMU_NOTIFY_CLEAR, p + HMM_PAGE, 2 * HMM_PAGE);
		pthread_mutex_lock(&r->lock);
		r->n = 0;
		pthread_mutex_unlock(&r->lock);
	}
	munmap(p, SIZE);
	/* MADV_REMOVE punches a hole in shared memory. */
	p = buffer(MAP_SHARED);
	seq = mirror(r, p, UHMM_HMM_PFN_REQ_FAULT, pfns);
	uhmm_mmu_interval_notifier_remove(&r->sub);
	ASSERT_EQ(uhmm_mmu_interval_notifier_insert(&r->sub, (uintptr_t)p, SIZE, &recorder_ops), 0);
	seq = mirror(r, p, UHMM_HMM_PFN_REQ_FAULT, pfns);
	ASSERT_EQ(madvise(p, SIZE, MADV_REMOVE), 0);
	ASSERT_INVALIDATED(r, seq, UHMM_MMU_NOTIFY_CLEAR, p, SIZE);
	recorder_free(r);
}

TEST(mremap_invalidates_the_old_range)
{
	unsigned long pfns[NPAGES], seq;
	struct recorder *r;
	char *p, *q, *to;

	require_fault_engine();
	p = buffer(MAP_PRIVATE);
	to = mmap(NULL, SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(to != MAP_FAILED);
	r = recorder_new((uintptr_t)p, SIZE);
	seq = mirror(r, p, UHMM_HMM_PFN_REQ_FAULT, pfns);
	q = mremap(p, SIZE, SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	ASSERT_TRUE(q == to);
	ASSERT_INVALIDATED(r, seq, UHMM_MMU_NOTIFY_UNMAP, p, SIZE);
	ASSERT_EQ(q[0], 0x5a);
	recorder_free(r);
}

/* Forks a child that checks the buffer's first byte; the child must exit 0. */
static void fork_and_check_child(const char *p)
{
	int status;
	pid_t pid = fork();

	ASSERT_GE(pid, 0);
	if (!pid)
		_exit(p[0] == 0x5a ? 0 : 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
}

TEST(fork_invalidates_private_mappings)
{
	unsigned long pfns[NPAGES], seq;
	struct recorder *r;
	char *p;

	require_fault_engine();
	p = buffer(MAP_PRIVATE);
	r = recorder_new((uintptr_t)p, SIZE);
	seq = mirror(r, p, UHMM_HMM_PFN_REQ_FAULT | UHMM_HMM_PFN_REQ_WRITE, pfns);
	fork_and_check_child(p);
	ASSERT_INVALIDATED(r, seq, UHMM_MMU_NOTIFY_PROTECTION_PAGE, p, SIZE);
	recorder_free(r);
}

/*
 * fork() with a subscription but nothing registered yet (no mirror has
 * faulted anything): the fork hooks copy an empty table.  Under UBSan,
 * copying it from a NULL array failed the process.
 */
TEST(fork_with_a_subscription_and_nothing_registered)
{
	struct recorder *r;
	char *p;

	require_fault_engine();
	p = buffer(MAP_PRIVATE);
	r = recorder_new((uintptr_t)p, SIZE);
	fork_and_check_child(p);
	recorder_free(r);
}

/* mprotect() has no event: the device's first refused access reports it. */
TEST(mprotect_invalidates_at_first_refused_access)
{
	unsigned long pfns[NPAGES], seq;
	struct uhmm_hmm_range range;
	struct recorder *r;
	char c = 1, *p;

	require_fault_engine();
	p = buffer(MAP_PRIVATE);
	r = recorder_new((uintptr_t)p, SIZE);
	seq = mirror(r, p, UHMM_HMM_PFN_REQ_FAULT | UHMM_HMM_PFN_REQ_WRITE, pfns);
	ASSERT_TRUE(pfns[0] & UHMM_HMM_PFN_WRITE);
	ASSERT_EQ(mprotect(p, SIZE, PROT_READ), 0);
	ASSERT_EQ(uhmm_access_process_vm((uintptr_t)p, &c, 1, true), -EFAULT);
	ASSERT_EQ(p[0], 0x5a);
	ASSERT_INVALIDATED(r, seq, UHMM_MMU_NOTIFY_PROTECTION_VMA, p, SIZE);
	/* A new look finds the mapping read-only. */
	range = (struct uhmm_hmm_range){
		.notifier = &r->sub, .start = (uintptr_t)p, .end = (uintptr_t)p + SIZE,
		.hmm_pfns = pfns, .default_flags = UHMM_HMM_PFN_REQ_FAULT,
	};
	range.notifier_seq = uhmm_mmu_interval_read_begin(&r->sub);
	ASSERT_EQ(uhmm_hmm_range_fault(&range), 0);
	ASSERT_FALSE(pfns[0] & UHMM_HMM_PFN_WRITE);
	range.default_flags |= UHMM_HMM_PFN_REQ_WRITE;
	ASSERT_EQ(uhmm_hmm_range_fault(&range), -EPERM);
	recorder_free(r);
}

/* A zero page a device holds read-only: the CPU's first write invalidates first. */
TEST(cpu_write_to_read_only_page_invalidates)
{
	unsigned long pfns[NPAGES], seq, i;
	struct recorder *r;
	volatile char *p;

	require_fault_engine();
	if (!kernel_maps_zero_page())
		SKIP("this kernel maps no zero page on a read fault (a boot option or the architecture forbids it)");
	p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	r = recorder_new((uintptr_t)p, SIZE);
	seq = mirror(r, (void *)p, UHMM_HMM_PFN_REQ_FAULT, pfns);
	for (i = 0; i < NPAGES; i++) {
		ASSERT_TRUE(pfns[i] & UHMM_HMM_PFN_VALID);
		ASSERT_FALSE(pfns[i] & UHMM_HMM_PFN_WRITE);
		ASSERT_TRUE(uhmm_is_zero_pfn(uhmm_hmm_pfn_to_pfn(pfns[i])));
	}
	ASSERT_FALSE(uhmm_mmu_interval_read_retry(&r->sub, seq));
	p[3 * HMM_PAGE + 5] = 42;	/* waits until the op ran */
	ASSERT_INVALIDATED(r, seq, UHMM_MMU_NOTIFY_CLEAR, p + 3 * HMM_PAGE, HMM_PAGE);
	ASSERT_EQ(p[3 * HMM_PAGE + 5], 42);
	/* Now a writable page of its own. */
	mirror(r, (void *)p, UHMM_HMM_PFN_REQ_FAULT, pfns);
	ASSERT_TRUE(pfns[3] & UHMM_HMM_PFN_WRITE);
	ASSERT_FALSE(uhmm_is_zero_pfn(uhmm_hmm_pfn_to_pfn(pfns[3])));
	recorder_free(r);
}

/* Migrations tell every mirror, with the migrating owner; a CPU fault back does too. */
TEST(migration_invalidates_with_owner)
{
	struct dmirror_api api;
	unsigned long pfns[NPAGES];
	struct recorder *r;
	struct hmm_buffer *b;
	unsigned int i;
	unsigned int migrations = 0;
	int fd;

	require_fault_engine();
	api = dmirror_api();
	fd = api.open(0);
	ASSERT_GE(fd, 0);
	b = hmm_buffer_alloc(SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	memset(b->ptr, 3, SIZE);
	r = recorder_new((uintptr_t)b->ptr, SIZE);
	mirror(r, b->ptr, UHMM_HMM_PFN_REQ_FAULT, pfns);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, NPAGES), 0);
	ASSERT_EQ(((volatile char *)b->ptr)[0], 3);	/* faults page 0's block back */
	uhmm_mmu_interval_read_begin(&r->sub);
	pthread_mutex_lock(&r->lock);
	for (i = 0; i < r->n; i++) {
		if (r->ev[i].event != UHMM_MMU_NOTIFY_MIGRATE)
			continue;
		ASSERT_NONNULL(r->ev[i].owner);
		if (r->ev[i].start <= (uintptr_t)b->ptr && r->ev[i].end > (uintptr_t)b->ptr)
			migrations++;
	}
	pthread_mutex_unlock(&r->lock);
	ASSERT_EQ(migrations, 2);	/* to the device, and back on the fault */
	recorder_free(r);
	hmm_buffer_free(b);
}

TEST(exit_sends_release)
{
	int pipefd[2], status;
	enum uhmm_mmu_notifier_event ev;
	pid_t pid;

	require_fault_engine();
	ASSERT_EQ(pipe(pipefd), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		static struct recorder r = { .lock = PTHREAD_MUTEX_INITIALIZER };

		close(pipefd[0]);
		r.write_fd = pipefd[1];
		if (uhmm_mmu_interval_notifier_insert(&r.sub, 0, 1UL << 40, &recorder_ops))
			_exit(1);
		exit(0);
	}
	close(pipefd[1]);
	ASSERT_EQ(read(pipefd[0], &ev, sizeof(ev)), (ssize_t)sizeof(ev));
	ASSERT_EQ(ev, UHMM_MMU_NOTIFY_RELEASE);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_EQ(WEXITSTATUS(status), 0);
}

struct proto {
	struct recorder *r;
	char *p;
	int stop;			/* atomic */
	unsigned long commits, retries;
};

/*
 * The protocol's promise: if read_retry() says no under the driver's lock,
 * no op ran since read_begin().
 */
static void *proto_reader(void *arg)
{
	struct proto *t = arg;
	unsigned long pfns[NPAGES];

	while (!__atomic_load_n(&t->stop, __ATOMIC_RELAXED)) {
		struct uhmm_hmm_range range = {
			.notifier = &t->r->sub, .start = (uintptr_t)t->p,
			.end = (uintptr_t)t->p + SIZE, .hmm_pfns = pfns,
			.default_flags = UHMM_HMM_PFN_REQ_FAULT,
		};
		unsigned long ops_before;
		int ret;

		range.notifier_seq = uhmm_mmu_interval_read_begin(&t->r->sub);
		pthread_mutex_lock(&t->r->lock);
		ops_before = t->r->ops;
		pthread_mutex_unlock(&t->r->lock);
		ret = uhmm_hmm_range_fault(&range);
		if (ret != 0 && ret != -EBUSY)
			HARNESS_FAIL("hmm_range_fault: %d", ret);
		pthread_mutex_lock(&t->r->lock);
		if (ret == 0 && !uhmm_mmu_interval_read_retry(&t->r->sub, range.notifier_seq)) {
			if (t->r->ops != ops_before)
				HARNESS_FAIL("committed although %lu ops ran",
					     t->r->ops - ops_before);
			__atomic_add_fetch(&t->commits, 1, __ATOMIC_RELAXED);
		} else {
			__atomic_add_fetch(&t->retries, 1, __ATOMIC_RELAXED);
		}
		pthread_mutex_unlock(&t->r->lock);
	}
	return NULL;
}

TEST(read_retry_under_threads)
{
	struct proto t = { 0 };
	unsigned long ops;
	pthread_t th[3];
	unsigned int i;

	require_fault_engine();
	t.p = buffer(MAP_PRIVATE);
	t.r = recorder_new((uintptr_t)t.p, SIZE);
	pthread_mutex_lock(&t.r->lock);
	t.r->n = MAX_EVENTS;	/* count only */
	pthread_mutex_unlock(&t.r->lock);
	for (i = 0; i < 3; i++)
		ASSERT_EQ(pthread_create(&th[i], NULL, proto_reader, &t), 0);
	/*
	 * The readers' first hmm_range_fault() registers the range, and only
	 * then does madvise() make events; on a loaded machine the loop below
	 * could otherwise be over before a reader ran.
	 */
	while (__atomic_load_n(&t.commits, __ATOMIC_RELAXED) +
	       __atomic_load_n(&t.retries, __ATOMIC_RELAXED) < 3)
		usleep(1000);
	for (i = 0; i < 2000; i++) {
		ASSERT_EQ(madvise(t.p + (i % NPAGES) * HMM_PAGE, HMM_PAGE, MADV_DONTNEED), 0);
		t.p[(i % NPAGES) * HMM_PAGE] = 1;
	}
	__atomic_store_n(&t.stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < 3; i++)
		ASSERT_EQ(pthread_join(th[i], NULL), 0);
	/*
	 * The last madvise()'s op may still be running on the invalidation
	 * thread: read_begin() waits for it, the lock orders its writes.
	 */
	uhmm_mmu_interval_read_begin(&t.r->sub);
	pthread_mutex_lock(&t.r->lock);
	ops = t.r->ops;
	pthread_mutex_unlock(&t.r->lock);
	printf("# %lu commits, %lu retries, %lu ops\n", t.commits, t.retries, ops);
	ASSERT_GT(ops, 0);
	ASSERT_GT(t.commits, 0);	/* a read_retry() always true would pass otherwise */
	recorder_free(t.r);
}

/* What hmm_range_fault() reports for each kind of page, and its errors. */
TEST(range_fault_flags)
{
	unsigned long pfns[NPAGES], seq;
	struct uhmm_hmm_range range;
	struct recorder *r;
	char *p;

	require_fault_engine();
	p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	p[0] = 1;				/* page 0 present */
	ASSERT_EQ(munmap(p + 2 * HMM_PAGE, HMM_PAGE), 0);	/* page 2 a hole */
	ASSERT_EQ(mprotect(p + 3 * HMM_PAGE, HMM_PAGE, PROT_NONE), 0);
	r = recorder_new((uintptr_t)p, SIZE);
	seq = uhmm_mmu_interval_read_begin(&r->sub);
	range = (struct uhmm_hmm_range){
		.notifier = &r->sub, .notifier_seq = seq, .start = (uintptr_t)p,
		.end = (uintptr_t)p + SIZE, .hmm_pfns = pfns,
		.pfn_flags_mask = UHMM_HMM_PFN_REQ_FAULT,
	};
	memset(pfns, 0, sizeof(pfns));
	pfns[5] = UHMM_HMM_PFN_DMA_MAPPED;
	ASSERT_EQ(uhmm_hmm_range_fault(&range), 0);
	ASSERT_EQ(pfns[0] & (UHMM_HMM_PFN_VALID | UHMM_HMM_PFN_WRITE),
		  UHMM_HMM_PFN_VALID | UHMM_HMM_PFN_WRITE);
	ASSERT_EQ(pfns[1], 0);			/* untouched, not asked for */
	ASSERT_EQ(pfns[2], UHMM_HMM_PFN_ERROR);
	ASSERT_EQ(pfns[3], UHMM_HMM_PFN_ERROR);
	ASSERT_EQ(pfns[5], UHMM_HMM_PFN_DMA_MAPPED);	/* carried through */
	/* Asking for page 1 alone faults it in. */
	pfns[1] = UHMM_HMM_PFN_REQ_FAULT;
	ASSERT_EQ(uhmm_hmm_range_fault(&range), 0);
	ASSERT_TRUE(pfns[1] & UHMM_HMM_PFN_VALID);
	ASSERT_EQ(pfns[4], 0);
	/* Faults asked for in the hole or the PROT_NONE page fail. */
	pfns[2] = UHMM_HMM_PFN_REQ_FAULT;
	ASSERT_EQ(uhmm_hmm_range_fault(&range), -EFAULT);
	pfns[2] = 0;
	pfns[3] = UHMM_HMM_PFN_REQ_FAULT;
	ASSERT_EQ(uhmm_hmm_range_fault(&range), -EFAULT);
	pfns[3] = 0;
	/* A write fault in a read-only mapping. */
	ASSERT_EQ(mprotect(p + 4 * HMM_PAGE, HMM_PAGE, PROT_READ), 0);
	pfns[4] = UHMM_HMM_PFN_REQ_FAULT | UHMM_HMM_PFN_REQ_WRITE;
	range.pfn_flags_mask = ~0UL;
	ASSERT_EQ(uhmm_hmm_range_fault(&range), -EPERM);
	recorder_free(r);
}

TEST(bad_input)
{
	struct uhmm_mmu_interval_notifier sub;
	struct recorder *r;
	unsigned long pfns[1];
	struct uhmm_hmm_range range = { .start = 0x10000, .end = 0x11000, .hmm_pfns = pfns };

	require_fault_engine();
	ASSERT_EQ(uhmm_mmu_interval_notifier_insert(NULL, 0, 1, &recorder_ops), -EINVAL);
	ASSERT_EQ(uhmm_mmu_interval_notifier_insert(&sub, 0, 1, NULL), -EINVAL);
	ASSERT_EQ(uhmm_mmu_interval_notifier_insert(&sub, 0, 0, &recorder_ops), -EOVERFLOW);
	ASSERT_EQ(uhmm_mmu_interval_notifier_insert(&sub, ~0UL, 2, &recorder_ops), -EOVERFLOW);
	ASSERT_EQ(uhmm_hmm_range_fault(NULL), -EINVAL);
	ASSERT_EQ(uhmm_hmm_range_fault(&range), -EINVAL);	/* no notifier */
	r = recorder_new(0, 1UL << 30);
	range.notifier = &r->sub;
	range.start = 0x10001;
	ASSERT_EQ(uhmm_hmm_range_fault(&range), -EINVAL);
	range.start = 0x11000;
	ASSERT_EQ(uhmm_hmm_range_fault(&range), -EINVAL);
	/* A stale sequence number: -EBUSY. */
	range.start = 0x10000;
	range.notifier_seq = uhmm_mmu_interval_read_begin(&r->sub) + 2;
	ASSERT_EQ(uhmm_hmm_range_fault(&range), -EBUSY);
	ASSERT_EQ(uhmm_access_process_vm(0x10, NULL, 1, false), -EINVAL);
	ASSERT_EQ(uhmm_access_process_vm(0x10, pfns, 1, false), -EFAULT);
	recorder_free(r);
}

/*
 * A notifier that is slow to let the CPU take an exclusive page back: it
 * says so, then sleeps, so the test can unmap the page meanwhile.
 */
static int slow_revoke_started;

static bool slow_revoke(struct uhmm_mmu_interval_notifier *sub,
			const struct uhmm_mmu_notifier_range *range, unsigned long cur_seq)
{
	uhmm_mmu_interval_set_seq(sub, cur_seq);
	if (range->event == UHMM_MMU_NOTIFY_EXCLUSIVE && !range->owner) {
		__atomic_store_n(&slow_revoke_started, 1, __ATOMIC_RELEASE);
		usleep(200 * 1000);
	}
	return true;
}

static __thread sigjmp_buf segv_jmp;
static __thread volatile int segv_armed;

static void segv_handler(int sig)
{
	if (!segv_armed)
		_exit(128 + sig);
	siglongjmp(segv_jmp, 1);
}

static void *touch_or_segv(void *arg)
{
	volatile char *p = arg;

	segv_armed = 1;
	if (!sigsetjmp(segv_jmp, 1))
		(void)*p;	/* a fault that the unmap ends with SIGSEGV */
	segv_armed = 0;
	return NULL;
}

/*
 * The CPU takes an exclusive page back while another thread unmaps it: the
 * page is freed (not leaked with the exclusive entry's reference), and the
 * faulting thread is woken, to find the address gone.
 */
TEST(exclusive_revoke_racing_munmap_frees_the_page)
{
	static const struct uhmm_mmu_interval_notifier_ops slow_ops = {
		.invalidate = slow_revoke,
	};
	struct uhmm_mmu_interval_notifier sub;
	struct sigaction sa = { .sa_handler = segv_handler }, old;
	struct timespec until;
	struct uhmm_page *page;
	static int owner;
	pthread_t t;
	char *p;

	require_fault_engine();
	ASSERT_EQ(system_pages_settled(), 0);
	p = buffer(MAP_PRIVATE);
	ASSERT_EQ(uhmm_mmu_interval_notifier_insert(&sub, (uintptr_t)p, SIZE, &slow_ops), 0);
	page = uhmm_make_device_exclusive((uintptr_t)p, &owner);
	ASSERT_NONNULL(page);
	uhmm_unlock_page(page);
	uhmm_put_page(page);
	ASSERT_EQ(mm_stats().system_pages, 1);

	__atomic_store_n(&slow_revoke_started, 0, __ATOMIC_RELAXED);
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(sigaction(SIGSEGV, &sa, &old), 0);
	ASSERT_EQ(pthread_create(&t, NULL, touch_or_segv, p), 0);
	while (!__atomic_load_n(&slow_revoke_started, __ATOMIC_ACQUIRE))
		usleep(1000);
	ASSERT_EQ(munmap(p, SIZE), 0);	/* while the notifier sleeps */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	ASSERT_EQ(pthread_timedjoin_np(t, NULL, &until), 0);	/* else: never woken */
	sigaction(SIGSEGV, &old, NULL);
	ASSERT_EQ(system_pages_settled(), 0);
	uhmm_mmu_interval_notifier_remove(&sub);
}

/* make_device_exclusive() says EXCLUSIVE with its owner; the CPU taking it back, without. */
TEST(exclusive_access_invalidates)
{
	static int owner;
	unsigned long pfns[NPAGES];
	struct recorder *r;
	struct uhmm_page *page;
	unsigned int i, with = 0, without = 0;
	char *p;

	require_fault_engine();
	p = buffer(MAP_PRIVATE);
	r = recorder_new((uintptr_t)p, SIZE);
	mirror(r, p, UHMM_HMM_PFN_REQ_FAULT, pfns);
	page = uhmm_make_device_exclusive((uintptr_t)p + HMM_PAGE, &owner);
	ASSERT_NONNULL(page);
	ASSERT_EQ(((char *)uhmm_page_address(page))[0], 0x5a);
	((char *)uhmm_page_address(page))[0] = 0x11;	/* the device writes */
	uhmm_unlock_page(page);
	uhmm_put_page(page);
	ASSERT_EQ(((volatile char *)p)[HMM_PAGE], 0x11);	/* the CPU takes it back */
	uhmm_mmu_interval_read_begin(&r->sub);
	pthread_mutex_lock(&r->lock);
	for (i = 0; i < r->n; i++) {
		if (r->ev[i].event != UHMM_MMU_NOTIFY_EXCLUSIVE ||
		    r->ev[i].start != (uintptr_t)p + HMM_PAGE)
			continue;
		if (r->ev[i].owner == &owner)
			with++;
		else if (!r->ev[i].owner)
			without++;
	}
	pthread_mutex_unlock(&r->lock);
	ASSERT_EQ(with, 1);
	ASSERT_EQ(without, 1);
	ASSERT_EQ(system_pages_settled(), 0);
	recorder_free(r);
	munmap(p, SIZE);
}
