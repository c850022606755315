// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The invalidation machinery under the interval notifiers (mmu_notifier.c
 * is their API): the subscriptions, one invalidation's mark and ops, and
 * the invalidation thread.
 *
 * The sequence protocol is the kernel's.  subs.invalidate_seq is even while
 * no invalidation runs and odd while at least one does; an invalidation
 * gives every subscription it covers the odd value (the core marks them when
 * it starts, the op marks them again with set_seq()), and read_begin() waits
 * while a subscription's value equals the running one.  While any
 * invalidation runs the list is not changed: inserts wait on a deferred list
 * and removes wait for the end, so ops are called without the lock.
 *
 * The invalidation thread: the fault engine learns of munmap, madvise and
 * mremap by reading userfaultfd events, with uhmm's page-table lock held.
 * It marks the covered subscriptions at once, then hands the range to this
 * thread, which calls the ops: an op may wait for a driver lock held by a
 * thread whose copy is itself waiting for the engine to resolve a fault.
 * CPU writes to write-protected pages and revocations of exclusive access
 * are finished here too, after their ops ran.
 *
 * munmap() returns as soon as the engine has read its event, before the
 * marking.  The engine counts its reads (events_seq, odd during a read and
 * the marking after it), and read_retry() waits out a read in progress, so
 * a read_retry() that starts after munmap() returned sees the change.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uhmm/migrate.h>
#include <uhmm/mmu_notifier.h>

#include "../core/internal.h"
#include "mm_internal.h"

struct mn_subs subs = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wq = PTHREAD_COND_INITIALIZER,
	.invalidate_seq = 2,
};

static bool overlaps(const struct uhmm_mmu_interval_notifier *sub, unsigned long start,
		     unsigned long end)
{
	return sub->start < end && sub->last >= start;
}

bool mn_has_subscriptions(void)
{
	return __atomic_load_n(&subs.nr, __ATOMIC_ACQUIRE) != 0;
}

/* --- one invalidation: start (mark), call the ops, end --------------------- */

static unsigned long mn_start(const struct uhmm_mmu_notifier_range *range)
{
	struct uhmm_mmu_interval_notifier *sub;
	unsigned long seq;

	pthread_mutex_lock(&subs.lock);
	if (!subs.active++)
		subs.invalidate_seq++;
	seq = subs.invalidate_seq;
	for (sub = subs.list; sub; sub = sub->next)
		if (overlaps(sub, range->start, range->end))
			__atomic_store_n(&sub->invalidate_seq, seq, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&subs.lock);
	return seq;
}

static void mn_call(const struct uhmm_mmu_notifier_range *range, unsigned long seq)
{
	struct uhmm_mmu_interval_notifier *sub;

	for (sub = subs.list; sub; sub = sub->next) {
		if (!overlaps(sub, range->start, range->end))
			continue;
		if (!sub->ops->invalidate(sub, range, seq))
			WARN(1, "an invalidate op refused a blockable range %#lx-%#lx",
			     range->start, range->end);
	}
}

static void mn_end(void)
{
	struct uhmm_mmu_interval_notifier *sub;

	pthread_mutex_lock(&subs.lock);
	if (!--subs.active) {
		subs.invalidate_seq++;
		while ((sub = subs.deferred)) {
			subs.deferred = sub->next;
			sub->deferred = false;
			sub->next = subs.list;
			subs.list = sub;
		}
		pthread_cond_broadcast(&subs.wq);
	}
	pthread_mutex_unlock(&subs.lock);
}

void mn_invalidate(unsigned long start, unsigned long end, enum uhmm_mmu_notifier_event event,
		   void *owner)
{
	struct uhmm_mmu_notifier_range range = {
		.start = start, .end = end, .event = event,
		.flags = UHMM_MMU_NOTIFIER_RANGE_BLOCKABLE, .owner = owner,
	};
	unsigned long seq;

	if (!mn_has_subscriptions() || start >= end)
		return;
	seq = mn_start(&range);
	mn_call(&range, seq);
	mn_end();
}

/* --- the invalidation thread --------------------------------------------- */

struct mn_work {
	struct uhmm_mmu_notifier_range range;
	unsigned long seq;		/* 0: not started (nobody was subscribed) */
	void (*done)(unsigned long addr, void *data);	/* then: resolve a fault, free a page */
	void *data;
	struct mn_work *next;
};

static struct {
	pthread_mutex_t lock;		/* protects everything here */
	pthread_cond_t cond;		/* work queued, or unpaused */
	pthread_cond_t idle;		/* current went NULL */
	struct mn_work *head, **tail;
	struct mn_work *current;	/* being processed */
	bool paused;			/* fork() in progress: take nothing new */
	bool running;			/* the thread exists */
} worker = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.idle = PTHREAD_COND_INITIALIZER,
	.tail = &worker.head,
};

static __thread bool in_mn_thread;

static void *mn_thread(void *arg)
{
	sigset_t all;

	(void)arg;
	in_mn_thread = true;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		struct mn_work *w;

		pthread_mutex_lock(&worker.lock);
		while (!worker.head || worker.paused)
			pthread_cond_wait(&worker.cond, &worker.lock);
		w = worker.head;
		worker.head = w->next;
		if (!worker.head)
			worker.tail = &worker.head;
		worker.current = w;
		pthread_mutex_unlock(&worker.lock);

		if (w->seq) {
			mn_call(&w->range, w->seq);
			mn_end();
		}
		if (w->done)
			w->done(w->range.start, w->data);

		pthread_mutex_lock(&worker.lock);
		worker.current = NULL;
		pthread_cond_broadcast(&worker.idle);
		pthread_mutex_unlock(&worker.lock);
		free(w);
	}
	return NULL;
}

/* worker.lock held */
static int mn_thread_start(void)
{
	int ret;

	lockdep_assert_held(&worker.lock);
	if (worker.running)
		return 0;
	ret = kthread_run(mn_thread, NULL, "uhmm-invalidate");
	worker.running = !ret;
	return ret;
}

/*
 * Marks the subscriptions [start, end) covers now and has the invalidation
 * thread call their ops, then @done(start, @data) if given.  Never blocks on a
 * driver.  If no memory is left, the ops run here (the caller must then
 * hold no lock an op takes) and @done too.
 */
void mn_invalidate_async(unsigned long start, unsigned long end,
			 enum uhmm_mmu_notifier_event event,
			 void (*done)(unsigned long addr, void *data), void *data)
{
	struct mn_work *w = calloc(1, sizeof(*w));
	bool subscribed = mn_has_subscriptions();

	if (!subscribed && !done) {
		free(w);
		return;
	}
	if (!w) {
		WARN(1, "out of memory: invalidating %#lx-%#lx synchronously", start, end);
		mn_invalidate(start, end, event, NULL);
		if (done)
			done(start, data);
		return;
	}
	w->range = (struct uhmm_mmu_notifier_range){
		.start = start, .end = end, .event = event,
		.flags = UHMM_MMU_NOTIFIER_RANGE_BLOCKABLE,
	};
	w->done = done;
	w->data = data;
	if (subscribed)
		w->seq = mn_start(&w->range);
	pthread_mutex_lock(&worker.lock);
	if (mn_thread_start()) {
		pthread_mutex_unlock(&worker.lock);
		WARN(1, "cannot start the invalidation thread: invalidating synchronously");
		if (w->seq) {
			mn_call(&w->range, w->seq);
			mn_end();
		}
		if (done)
			done(start, data);
		free(w);
		return;
	}
	*worker.tail = w;
	worker.tail = &w->next;
	w->next = NULL;
	pthread_cond_signal(&worker.cond);
	pthread_mutex_unlock(&worker.lock);
}

/* worker.lock held */
static bool mn_work_pending(unsigned long start, unsigned long end)
{
	const struct mn_work *w;

	if (worker.current && worker.current->range.start < end &&
	    worker.current->range.end > start)
		return true;
	for (w = worker.head; w; w = w->next)
		if (w->range.start < end && w->range.end > start)
			return true;
	return false;
}

/* --- the engine's reads ---------------------------------------------------- */

void mn_events_begin(void)
{
	__atomic_add_fetch(&subs.events_seq, 1, __ATOMIC_SEQ_CST);
}

void mn_events_end(void)
{
	pthread_mutex_lock(&subs.lock);
	__atomic_add_fetch(&subs.events_seq, 1, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&subs.wq);
	pthread_mutex_unlock(&subs.lock);
}

/* Waits for a read of events that may have started before our caller's. */
void mn_events_sync(void)
{
	unsigned long seq = __atomic_load_n(&subs.events_seq, __ATOMIC_SEQ_CST);

	if (!(seq & 1))
		return;
	pthread_mutex_lock(&subs.lock);
	while (__atomic_load_n(&subs.events_seq, __ATOMIC_SEQ_CST) == seq)
		pthread_cond_wait(&subs.wq, &subs.lock);
	pthread_mutex_unlock(&subs.lock);
}

/*
 * Waits until every invalidation queued for [start, end) has run.  The ops
 * of an munmap() run after it returned: a new mapping at the same address,
 * migrated or made exclusive now, would have its fresh device entries
 * erased by them.  Not from the engine's or the invalidation thread, which
 * those ops may wait for; a fault's migration only takes pages back.
 */
void mn_sync_range(unsigned long start, unsigned long end)
{
	if (in_mn_thread || mm_in_engine_thread())
		return;
	/* munmap() returns once the event is read, before the engine queues its ops. */
	mn_events_sync();
	pthread_mutex_lock(&worker.lock);
	while (mn_work_pending(start, end))
		pthread_cond_wait(&worker.idle, &worker.lock);
	pthread_mutex_unlock(&worker.lock);
}

/* --- fork and exit ------------------------------------------------------------ */

/*
 * Before fork(), first, holding nothing: the invalidation thread finishes
 * what it is doing and takes nothing new, so no invalidation is half done
 * at the fork.  Queued ones stay queued, in both processes.
 */
void mn_fork_quiesce(void)
{
	pthread_mutex_lock(&worker.lock);
	worker.paused = true;
	while (worker.current)
		pthread_cond_wait(&worker.idle, &worker.lock);
	pthread_mutex_unlock(&worker.lock);
}

/* Then, after pt_lock: the locks a child must not inherit held. */
void mn_fork_prepare(void)
{
	pthread_mutex_lock(&subs.lock);
	pthread_mutex_lock(&worker.lock);
}

void mn_fork_parent(void)
{
	worker.paused = false;
	pthread_cond_signal(&worker.cond);
	pthread_mutex_unlock(&worker.lock);
	pthread_mutex_unlock(&subs.lock);
}

/*
 * The child has no invalidation thread; it starts one for what is queued.
 * An invalidation another thread was running at the fork never ends here:
 * only the queued ones still count as running, or read_begin() would wait
 * for it forever.
 */
void mn_fork_child(void)
{
	struct uhmm_mmu_interval_notifier *sub;
	struct mn_work *w;

	subs.active = 0;
	for (w = worker.head; w; w = w->next)
		subs.active += w->seq != 0;
	if (!subs.active && (subs.invalidate_seq & 1)) {
		subs.invalidate_seq++;
		while ((sub = subs.deferred)) {
			subs.deferred = sub->next;
			sub->deferred = false;
			sub->next = subs.list;
			subs.list = sub;
		}
	}
	pthread_mutex_init(&subs.lock, NULL);
	pthread_cond_init(&subs.wq, NULL);
	pthread_mutex_init(&worker.lock, NULL);
	pthread_cond_init(&worker.cond, NULL);
	pthread_cond_init(&worker.idle, NULL);
	worker.paused = false;
	worker.running = false;
	subs.events_seq &= ~1UL;
	if (worker.head)
		mn_thread_start();
}

/* exit(): every subscription hears that the address space goes away. */
static void mn_release(void)
{
	mn_invalidate(0, ~0UL, UHMM_MMU_NOTIFY_RELEASE, NULL);
}

/* Once, from the first insert: exit() then tells every subscription. */
void mn_register_release(void)
{
	atexit(mn_release);
}
