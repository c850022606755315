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
 * are finished after their ops ran, on the deferred-work thread.
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
#include "../core/trace.h"
#include "mm_internal.h"

static bool overlaps(const struct uhmm_mmu_interval_notifier *sub, unsigned long start,
		     unsigned long end)
{
	return sub->start < end && sub->last >= start;
}

bool mn_has_subscriptions(void)
{
	return __atomic_load_n(&init_mm.subs.nr, __ATOMIC_ACQUIRE) != 0;
}

/* --- one invalidation: start (mark), call the ops, end --------------------- */

static unsigned long mn_start(const struct uhmm_mmu_notifier_range *range)
{
	struct uhmm_mmu_interval_notifier *sub;
	unsigned long seq;

	pthread_mutex_lock(&init_mm.subs.lock);
	if (!init_mm.subs.active++)
		init_mm.subs.invalidate_seq++;
	seq = init_mm.subs.invalidate_seq;
	for (sub = init_mm.subs.list; sub; sub = sub->next)
		if (overlaps(sub, range->start, range->end))
			__atomic_store_n(&sub->invalidate_seq, seq, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&init_mm.subs.lock);
	return seq;
}

static void mn_call(const struct uhmm_mmu_notifier_range *range, unsigned long seq)
{
	struct uhmm_mmu_interval_notifier *sub;

	for (sub = init_mm.subs.list; sub; sub = sub->next) {
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

	pthread_mutex_lock(&init_mm.subs.lock);
	if (!--init_mm.subs.active) {
		init_mm.subs.invalidate_seq++;
		while ((sub = init_mm.subs.deferred)) {
			init_mm.subs.deferred = sub->next;
			sub->deferred = false;
			sub->next = init_mm.subs.list;
			init_mm.subs.list = sub;
		}
		pthread_cond_broadcast(&init_mm.subs.wq);
	}
	pthread_mutex_unlock(&init_mm.subs.lock);
}

void mn_invalidate(unsigned long start, unsigned long end, enum uhmm_mmu_notifier_event event,
		   void *owner)
{
	struct uhmm_mmu_notifier_range range = {
		.start = start, .end = end, .event = event,
		.flags = UHMM_MMU_NOTIFIER_RANGE_BLOCKABLE, .owner = owner,
	};
	unsigned long seq;

	uhmm_trace(invalidate, start, end, (int)event);
	if (!mn_has_subscriptions() || start >= end)
		return;
	seq = mn_start(&range);
	mn_call(&range, seq);
	mn_end();
}

/* --- the invalidation thread and the deferred work after it --------------- */

/*
 * Two ordered work queues (lib/core/workqueue.c).  The invalidation thread
 * only calls ops.  What must happen once they ran (the CPU write that may
 * now go ahead, the exclusive page that goes back, a page freed) is handed
 * on, in the same order, to the deferred-work thread, so a slow one (an
 * exclusive page waiting for an event read) holds up no invalidation.
 */
static struct workqueue mn_wq = WORKQUEUE_INIT(mn_wq, "uhmm-invalidate");
static struct workqueue deferred_wq = WORKQUEUE_INIT(deferred_wq, "uhmm-deferred");

/* @done(addr, data), on the deferred-work thread. */
struct mn_done {
	struct work_struct work;
	unsigned long addr, end;	/* the range, for mn_sync_range() */
	void (*done)(unsigned long addr, void *data);
	void *data;
};

/* One invalidation whose ops run on the invalidation thread, then @then. */
struct mn_work {
	struct work_struct work;
	struct uhmm_mmu_notifier_range range;
	unsigned long seq;		/* 0: nobody was subscribed; only passes @then on */
	struct mn_done *then;		/* NULL: nothing after the ops */
};

static void free_work(struct work_struct *work)
{
	free(work);	/* first member of both */
}

static void run_done(struct work_struct *work)
{
	struct mn_done *d = container_of(work, struct mn_done, work);

	d->done(d->addr, d->data);
}

/* No thread to hand it to: run it here, the caller holding no lock it takes. */
static void queue_done(struct mn_done *d)
{
	if (queue_work(&deferred_wq, &d->work) == 0)
		return;
	WARN(1, "cannot start the deferred-work thread: running it in place");
	run_done(&d->work);
	free(d);
}

static void run_invalidation(struct work_struct *work)
{
	struct mn_work *w = container_of(work, struct mn_work, work);

	if (w->seq) {
		mn_call(&w->range, w->seq);
		mn_end();
	}
	if (w->then)
		queue_done(w->then);	/* before this item stops counting as pending */
}

/*
 * Marks the subscriptions [start, end) covers now and has the invalidation
 * thread call their ops, then the deferred-work thread call @done(start,
 * @data) if given.  Never blocks on a driver.  If no memory is left, the ops
 * run here (the caller must then hold no lock an op takes) and @done too.
 */
void mn_invalidate_async(unsigned long start, unsigned long end,
			 enum uhmm_mmu_notifier_event event,
			 void (*done)(unsigned long addr, void *data), void *data)
{
	bool subscribed = mn_has_subscriptions();
	struct mn_work *w;
	struct mn_done *d = NULL;

	if (!subscribed && !done)
		return;
	w = calloc(1, sizeof(*w));
	if (w && done) {
		d = calloc(1, sizeof(*d));
		if (!d) {
			free(w);
			w = NULL;
		}
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
	w->work.func = run_invalidation;
	w->work.release = free_work;
	if (d) {
		*d = (struct mn_done){
			.work = { .func = run_done, .release = free_work },
			.addr = start, .end = end, .done = done, .data = data,
		};
		w->then = d;
	}
	if (subscribed)
		w->seq = mn_start(&w->range);
	/* Even with nobody subscribed, @done waits its turn behind earlier ops. */
	if (queue_work(&mn_wq, &w->work)) {
		WARN(1, "cannot start the invalidation thread: invalidating synchronously");
		run_invalidation(&w->work);
		free(w);
	}
}

struct range {
	unsigned long start, end;
};

static bool invalidation_overlaps(const struct work_struct *work, const void *arg)
{
	const struct mn_work *w = container_of(work, struct mn_work, work);
	const struct range *r = arg;

	return w->range.start < r->end && w->range.end > r->start;
}

static bool done_overlaps(const struct work_struct *work, const void *arg)
{
	const struct mn_done *d = container_of(work, struct mn_done, work);
	const struct range *r = arg;

	return d->addr < r->end && d->end > r->start;
}

/* --- the engine's reads ---------------------------------------------------- */

void mn_events_begin(void)
{
	__atomic_add_fetch(&init_mm.subs.events_seq, 1, __ATOMIC_SEQ_CST);
}

void mn_events_end(void)
{
	pthread_mutex_lock(&init_mm.subs.lock);
	__atomic_add_fetch(&init_mm.subs.events_seq, 1, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&init_mm.subs.wq);
	pthread_mutex_unlock(&init_mm.subs.lock);
}

/* Waits for a read of events that may have started before our caller's. */
void mn_events_sync(void)
{
	unsigned long seq = __atomic_load_n(&init_mm.subs.events_seq, __ATOMIC_SEQ_CST);

	if (!(seq & 1))
		return;
	pthread_mutex_lock(&init_mm.subs.lock);
	while (__atomic_load_n(&init_mm.subs.events_seq, __ATOMIC_SEQ_CST) == seq)
		pthread_cond_wait(&init_mm.subs.wq, &init_mm.subs.lock);
	pthread_mutex_unlock(&init_mm.subs.lock);
}

/*
 * Waits until every invalidation queued for [start, end), and the work
 * after it, has run.  The ops
 * of an munmap() run after it returned: a new mapping at the same address,
 * migrated or made exclusive now, would have its fresh device entries
 * erased by them.  Not from the engine's or the invalidation thread, which
 * those ops may wait for; a fault's migration only takes pages back.
 */
void mn_sync_range(unsigned long start, unsigned long end)
{
	struct range r = { start, end };

	if (current_is_workqueue(&mn_wq) || current_is_workqueue(&deferred_wq) ||
	    mm_in_engine_thread())
		return;
	/* munmap() returns once the event is read, before the engine queues its ops. */
	mn_events_sync();
	/* An invalidation hands its deferred work on before it stops counting. */
	workqueue_wait(&mn_wq, invalidation_overlaps, &r);
	workqueue_wait(&deferred_wq, done_overlaps, &r);
}

/* --- fork and exit ------------------------------------------------------------ */

/*
 * Before fork(), first, holding nothing: both threads finish what they are
 * doing and take nothing new, so no invalidation or deferred work is half
 * done at the fork.  Queued ones stay queued, in both processes.  The
 * invalidation thread first: what it runs last may queue deferred work.
 */
void mn_fork_quiesce(void)
{
	workqueue_pause(&mn_wq);
	workqueue_pause(&deferred_wq);
}

/* Then, after pt_lock: the locks a child must not inherit held. */
void mn_fork_prepare(void)
{
	pthread_mutex_lock(&init_mm.subs.lock);
	workqueue_lock(&mn_wq);
	workqueue_lock(&deferred_wq);
}

void mn_fork_parent(void)
{
	workqueue_unlock(&deferred_wq);
	workqueue_unlock(&mn_wq);
	pthread_mutex_unlock(&init_mm.subs.lock);
	workqueue_resume(&mn_wq);
	workqueue_resume(&deferred_wq);
}

/*
 * The child has neither thread; it starts them for what is queued.  An
 * invalidation another thread was running at the fork never ends here:
 * only the queued ones still count as running, or read_begin() would wait
 * for it forever.
 */
void mn_fork_child(void)
{
	struct uhmm_mmu_interval_notifier *sub;
	struct work_struct *work;

	init_mm.subs.active = 0;
	for (work = mn_wq.head; work; work = work->next)
		init_mm.subs.active += container_of(work, struct mn_work, work)->seq != 0;
	if (!init_mm.subs.active && (init_mm.subs.invalidate_seq & 1)) {
		init_mm.subs.invalidate_seq++;
		while ((sub = init_mm.subs.deferred)) {
			init_mm.subs.deferred = sub->next;
			sub->deferred = false;
			sub->next = init_mm.subs.list;
			init_mm.subs.list = sub;
		}
	}
	pthread_mutex_init(&init_mm.subs.lock, NULL);
	pthread_cond_init(&init_mm.subs.wq, NULL);
	init_mm.subs.events_seq &= ~1UL;
	if (workqueue_fork_child(&mn_wq) | workqueue_fork_child(&deferred_wq))
		pr_err("the invalidation threads cannot start in the child: "
		       "invalidations queued at fork() stay queued");
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
