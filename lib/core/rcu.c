// SPDX-License-Identifier: LGPL-2.1-or-later
/* Registering uhmm's reader threads with liburcu, on demand. */
#include <pthread.h>

#include "rcu.h"

__thread bool uhmm_rcu_registered __attribute__((tls_model("initial-exec")));

static pthread_key_t rcu_thread_key;
static pthread_once_t rcu_thread_key_once = PTHREAD_ONCE_INIT;

static void rcu_thread_exit(void *arg)
{
	(void)arg;
	urcu_memb_unregister_thread();
}

static void rcu_thread_key_create(void)
{
	if (pthread_key_create(&rcu_thread_key, rcu_thread_exit))
		pr_err("rcu: no thread key; threads that exit stay registered");
}

void uhmm_rcu_register_thread(void)
{
	pthread_once(&rcu_thread_key_once, rcu_thread_key_create);
	urcu_memb_register_thread();
	pthread_setspecific(rcu_thread_key, (void *)1);
	uhmm_rcu_registered = true;
}
