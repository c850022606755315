/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers shared by the library's own files; never installed. */
#ifndef UHMM_LIB_INTERNAL_H
#define UHMM_LIB_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>

#include <uhmm/log.h>

#define UHMM_EXPORT __attribute__((visibility("default")))

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a)	(((x) + (a) - 1) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - __builtin_offsetof(type, member)))

void uhmm_vlog(int level, const char *fmt, va_list ap);
void uhmm_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void uhmm_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* log.c: a UHMM_LOG value (a level's name or number) as a level, or -EINVAL */
int log_level_parse(const char *s);
#define pr_err(...)	uhmm_log(UHMM_LOG_ERR, __VA_ARGS__)
#define pr_warn(...)	uhmm_log(UHMM_LOG_WARNING, __VA_ARGS__)
#define pr_info(...)	uhmm_log(UHMM_LOG_INFO, __VA_ARGS__)
#define pr_debug(...)	uhmm_log(UHMM_LOG_DEBUG, __VA_ARGS__)

/*
 * WARN(cond, fmt, ...): log and count a state that must be impossible or an
 * API misuse; evaluates to cond, like the kernel's.
 */
#define WARN(cond, ...) ({						\
	bool __c = !!(cond);						\
	if (unlikely(__c))						\
		uhmm_warn(__VA_ARGS__);					\
	__c;								\
})
#define WARN_ON(cond) WARN(cond, "WARNING at %s:%d: %s", __FILE__, __LINE__, #cond)

/*
 * lockdep_assert_held(&mutex): in debug builds (UHMM_DEBUG_LOCKS: every
 * buildtype but release), WARN unless the calling thread holds @mutex, a
 * default-type pthread mutex.  Where a comment used to say "lock held".
 * The test harness and tests/run-suite fail a test whose output has one.
 */
#if defined(UHMM_DEBUG_LOCKS) && defined(__GLIBC__)
bool uhmm_mutex_held(pthread_mutex_t *m);
#define lockdep_assert_held(m)	WARN(!uhmm_mutex_held(m), "lockdep: %s:%d: %s: %s not held", \
				     __FILE__, __LINE__, __func__, #m)
#else
#define lockdep_assert_held(m)	do { (void)(m); } while (0)
#endif

/* kthread.c: starts a detached library thread named @name; 0 or -errno. */
int kthread_run(void *(*fn)(void *), void *arg, const char *name);

/*
 * workqueue.c: ordered work queues (the kernel's alloc_ordered_workqueue()):
 * one thread per queue, started by the first queue_work(), runs the items in
 * the order they were queued.  An item is the caller's until its @func has
 * run; then the queue calls @release (if set), which may free it.
 */
struct work_struct {
	struct work_struct *next;		/* the queue's lock */
	void (*func)(struct work_struct *work);
	void (*release)(struct work_struct *work);
};

struct workqueue {
	const char *name;			/* its thread's, at most 15 characters */
	pthread_mutex_t lock;			/* protects everything below */
	pthread_cond_t more;			/* work queued, or resumed */
	pthread_cond_t idle;			/* current went NULL */
	struct work_struct *head, **tail;	/* queued, not started */
	struct work_struct *current;		/* running */
	bool paused;				/* takes nothing new */
	bool running;				/* its thread exists */
};

#define WORKQUEUE_INIT(wq, thread_name) {				\
	.name = (thread_name),						\
	.lock = PTHREAD_MUTEX_INITIALIZER,				\
	.more = PTHREAD_COND_INITIALIZER,				\
	.idle = PTHREAD_COND_INITIALIZER,				\
	.tail = &(wq).head,						\
}

/* Queues @work; 0, or -errno if the thread cannot start (then it is not queued). */
int queue_work(struct workqueue *wq, struct work_struct *work);
/* Whether the caller is @wq's thread. */
bool current_is_workqueue(const struct workqueue *wq);
/* Waits while an item that @match(item, @arg) picks is queued or running; not from @wq. */
void workqueue_wait(struct workqueue *wq,
		    bool (*match)(const struct work_struct *, const void *), const void *arg);
/* Lets the running item finish and starts no other until workqueue_resume(). */
void workqueue_pause(struct workqueue *wq);
void workqueue_resume(struct workqueue *wq);
/*
 * Around fork(), with the queue paused: the parent and the child must not
 * inherit the lock held.  In the child, workqueue_fork_child() makes it
 * anew and starts a thread for what is still queued: 0 or -errno.
 */
void workqueue_lock(struct workqueue *wq);
void workqueue_unlock(struct workqueue *wq);
int workqueue_fork_child(struct workqueue *wq);

#endif /* UHMM_LIB_INTERNAL_H */
