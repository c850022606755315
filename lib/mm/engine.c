// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fault engine: one handler thread reads the userfaultfd of the
 * process's ranges that hold device pages (userfaultfd.c opens it), resolves
 * the faults (memory.c) and applies the events.
 *
 * Why a handler thread rather than UFFD_FEATURE_SIGBUS in the faulting
 * thread: SIGBUS mode resolves a fault about ten times faster on these
 * machines (see DESIGN.md), but a fault taken inside a system call then
 * fails the call with EFAULT instead of waiting, and driver callbacks would
 * run in a signal handler.  With a handler thread, read(2) into a buffer in
 * device memory works as it does on the kernel, and migrate_to_ram() runs in
 * an ordinary thread.  bench/ measures both costs.
 *
 * Events: the engine asks for UNMAP, REMOVE and REMAP, so device pages go
 * back to their driver when their range is unmapped or discarded, and move
 * with mremap().  Messages are read with pt_lock held and the events in a
 * batch applied before it is dropped: a munmap() returns only once its event
 * is read, so anything the caller does next sees the range gone.
 *
 * fork(): the child's mappings lose their registration (no EVENT_FORK).  The
 * child handler opens a new userfaultfd, registers the same ranges again and
 * starts its own thread; the child's copy of the driver's memory and of
 * uhmm's tables then serves its faults, so parent and child each see their
 * own private copy.  fork.c does the rest of fork(); fork() waits for
 * migrations in flight (fork_gate.c).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include <uhmm/migrate.h>

#include "../core/internal.h"
#include "mm_internal.h"

#define MSG_BATCH	64


/* After the ops ran for a CPU write to a write-protected page: let it write. */
static void wp_fault_done(unsigned long addr, void *data)
{
	int ret = mm_writeprotect(addr, UHMM_PAGE_SIZE, false);

	if (ret && ret != -ENOENT)
		mm_wake(addr, UHMM_PAGE_SIZE);
}

/* --- the handler thread --------------------------------------------------- */

/* Applies one non-fault event; pt_lock held. */
static void engine_event(const struct uffd_msg *msg)
{
	unsigned long from, to, len;

	lockdep_assert_held(&init_mm.pt_lock);
	switch (msg->event) {
	case UFFD_EVENT_UNMAP:
		mn_invalidate_async(msg->arg.remove.start, msg->arg.remove.end,
				    UHMM_MMU_NOTIFY_UNMAP, NULL, NULL);
		mm_regs_unmapped(msg->arg.remove.start, msg->arg.remove.end);
		mm_unmap_range(msg->arg.remove.start, msg->arg.remove.end);
		break;
	case UFFD_EVENT_REMOVE:
		mn_invalidate_async(msg->arg.remove.start, msg->arg.remove.end,
				    UHMM_MMU_NOTIFY_CLEAR, NULL, NULL);
		mm_unmap_range(msg->arg.remove.start, msg->arg.remove.end);
		break;
	case UFFD_EVENT_REMAP:
		from = msg->arg.remap.from;
		to = msg->arg.remap.to;
		len = msg->arg.remap.len;
		mn_invalidate_async(from, from + len, UHMM_MMU_NOTIFY_UNMAP, NULL, NULL);
		mm_remap_range(from, to, len);
		mm_regs_remapped(from, to, len);
		break;
	default:
		break;
	}
}

/* Faults read but not yet handled, in arrival order; the engine thread's own. */
static struct {
	struct uffd_msg *msgs;
	size_t head, tail, cap;
} pending;

static void pending_push(const struct uffd_msg *msg)
{
	if (pending.head && pending.tail == pending.cap) {
		memmove(pending.msgs, pending.msgs + pending.head,
			(pending.tail - pending.head) * sizeof(*msg));
		pending.tail -= pending.head;
		pending.head = 0;
	}
	if (pending.tail == pending.cap) {
		size_t cap = pending.cap ? 2 * pending.cap : MSG_BATCH;
		struct uffd_msg *n = realloc(pending.msgs, cap * sizeof(*n));

		if (!n) {
			/* The thread stays blocked until it faults again: wake it. */
			mm_wake(msg->arg.pagefault.address, UHMM_PAGE_SIZE);
			return;
		}
		pending.msgs = n;
		pending.cap = cap;
	}
	pending.msgs[pending.tail++] = *msg;
}

/*
 * Reads what the kernel has queued: events are applied at once, under the
 * same hold of pt_lock as the read; faults wait in the pending queue.
 * Returns the messages read, 0 if none, or -errno.
 */
static ssize_t engine_read(int fd)
{
	struct uffd_msg msgs[MSG_BATCH];
	ssize_t n, i;

	pthread_mutex_lock(&init_mm.pt_lock);
	mn_events_begin();
	n = read(fd, msgs, sizeof(msgs));
	if (n < 0) {
		n = errno == EAGAIN || errno == EINTR ? 0 : -errno;
		mn_events_end();
		pthread_mutex_unlock(&init_mm.pt_lock);
		return n;
	}
	n /= sizeof(msgs[0]);
	for (i = 0; i < n; i++) {
		if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
			pending_push(&msgs[i]);
		else
			engine_event(&msgs[i]);
	}
	if (n)
		mm_uffd_events_read();
	mn_events_end();
	pthread_mutex_unlock(&init_mm.pt_lock);
	mm_inject_delay(UHMM_DELAY_UNMAP_PUT);
	mm_put_deferred();
	return n;
}

/*
 * The transport's event reader for the engine's own thread
 * (mm_uffd_wait_event()): an ioctl it made said -EAGAIN, and no other
 * thread reads for it.  The event may not be queued yet: wait for it a
 * little, then read what there is.
 */
static void engine_drain(void)
{
	struct pollfd pfd = { .fd = init_mm.uffd, .events = POLLIN };

	poll(&pfd, 1, 1);
	engine_read(init_mm.uffd);
}

static void *engine_thread(void *arg)
{
	int fd = (int)(long)arg;
	unsigned long waited = 0;
	bool waiting = false;
	sigset_t all;

	mm_engine_thread = true;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		size_t todo;
		ssize_t n;

		/*
		 * Faults on pages being migrated wait in the queue, not in
		 * this thread, which keeps reading: the migration may need an
		 * event read before it can finish.  They are looked at again
		 * every millisecond (a finished migration wakes no one here).
		 */
		if (pending.head == pending.tail || waiting) {
			if (poll(&pfd, 1, waiting ? 1 : -1) < 0 && errno != EINTR)
				break;
			if (pfd.revents & (POLLERR | POLLNVAL))
				break;
		}
		n = engine_read(fd);
		if (n < 0) {
			pr_err("fault engine: read: %s", strerror((int)-n));
			break;
		}
		if (!waiting)
			waited = 0;
		else if (++waited == 10000)
			pr_warn("CPU faults have waited 10 s for migrations of their pages to "
				"finish");
		waiting = false;
		for (todo = pending.tail - pending.head; todo; todo--) {
			struct uffd_msg msg = pending.msgs[pending.head++];
			unsigned long addr = ALIGN_DOWN(msg.arg.pagefault.address,
							UHMM_PAGE_SIZE);

			if (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) {
				/* A write to a page a device holds read-only. */
				mn_invalidate_async(addr, addr + UHMM_PAGE_SIZE,
						    UHMM_MMU_NOTIFY_CLEAR, wp_fault_done, NULL);
			} else if (!handle_mm_fault(addr, msg.arg.pagefault.flags,
						    msg.arg.pagefault.feat.ptid)) {
				pending_push(&msg);
				mm_count(fault_retries, 1);
				waiting = true;
			}
		}
	}
	return NULL;
}

static int engine_thread_start(void)
{
	return kthread_run(engine_thread, (void *)(long)init_mm.uffd, "uhmm-engine");
}

/* --- fork (fork.c calls these) --------------------------------------------- */

bool mm_engine_running(void)
{
	return __atomic_load_n(&init_mm.engine_state, __ATOMIC_ACQUIRE) == 1;
}

/*
 * In the child, once the transport and the tables are re-made (@ret: how
 * that went): the engine's lock and queue anew, and a handler thread of its
 * own.  A child whose engine cannot restart says so and keeps the error.
 */
int mm_engine_fork_child(int ret)
{
	pthread_mutex_init(&init_mm.engine_lock, NULL);
	pending.head = pending.tail = 0;
	if (!ret)
		ret = engine_thread_start();
	if (ret < 0) {
		pr_err("the fault engine cannot restart in the child (%s): pages in device "
		       "memory are not reachable there", strerror(-ret));
		init_mm.engine_state = ret;
	}
	return ret;
}

/* --- start ---------------------------------------------------------------- */

int mm_engine_start(void)
{
	int state = __atomic_load_n(&init_mm.engine_state, __ATOMIC_ACQUIRE);
	int ret;

	if (likely(state == 1))
		return 0;
	pthread_mutex_lock(&init_mm.engine_lock);
	if (init_mm.engine_state) {
		ret = init_mm.engine_state == 1 ? 0 : init_mm.engine_state;
		goto out;
	}
	mm_set_event_reader(engine_drain);
	ret = mm_uffd_open();
	if (!ret)
		ret = sysmem_init(init_mm.stage_uffd, init_mm.uffd);
	if (!ret)
		ret = engine_thread_start();
	if (ret) {
		mm_uffd_close();
		__atomic_store_n(&init_mm.engine_state, ret, __ATOMIC_RELEASE);
		goto out;
	}
	__atomic_store_n(&init_mm.engine_state, 1, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&init_mm.engine_lock);
	return ret;
}

UHMM_EXPORT int uhmm_mm_get_stats(struct uhmm_mm_stats *stats)
{
	struct uhmm_mm_stats s;

	if (!stats || stats->size < sizeof(uint64_t))
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	mm_stats_fill(__atomic_load_n(&init_mm.counters, __ATOMIC_ACQUIRE), &s);
	pthread_mutex_lock(&init_mm.pt_lock);
	s.registered_bytes = mm_registered_bytes();
	pthread_mutex_unlock(&init_mm.pt_lock);
	s.system_pages = sysmem_in_use();
	mm_stats_copy_out(stats, &s);
	return 0;
}

UHMM_EXPORT void uhmm_mm_reset_stats(void)
{
	mm_stats_reset();
}
