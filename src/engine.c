/*
 * engine: libcurl multi loop, work queue and timers. See engine.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "engine.h"
#include "log.h"

#define ENG_MAX_TICKS	4
#define ENG_POLL_MAX_MS	1000

struct eng_job {
	CURL		*easy;		/* NULL: a call, fn(arg) */
	eng_done_fn	*done;
	eng_fn		*fn;
	void		*arg;
	struct eng_job	*next;		/* submit queue, then active list */
	struct eng_job	*prev;		/* active list */
};

struct eng_timer {
	long long	 due;
	eng_fn		*fn;
	void		*arg;
	struct eng_timer *next;
};

struct eng {
	CURLM		*multi;
	pthread_t	 thread;
	int		 started;

	pthread_mutex_t	 lock;		/* guards queue and stopping */
	struct eng_job	*queue_head;
	struct eng_job	*queue_tail;
	int		 stopping;

	/* Engine thread only. */
	struct eng_job	*active;	/* transfers in the multi handle */
	struct eng_timer *timers;	/* sorted by due */
	struct {
		eng_fn	*fn;
		void	*arg;
	}		 ticks[ENG_MAX_TICKS];
	int		 n_ticks;

	/*
	 * A wakeup is on its way (curl_multi_wakeup() sent, the loop has
	 * not yet looked at its work): further ones would only cost
	 * syscalls and context switches. Cleared by the loop before it
	 * takes the queue, so work queued after that wakes it again.
	 */
	int		 wake_pending;	/* atomic */
};

/* The engine this thread runs, if any: it needs no wakeup. */
static __thread struct eng	*eng_self;

long long
eng_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

struct eng *
eng_create(void)
{
	struct eng	*e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return (NULL);
	if ((e->multi = curl_multi_init()) == NULL)
		goto out_free_eng;
	if (pthread_mutex_init(&e->lock, NULL) != 0)
		goto out_cleanup_multi;
	/* Keep-alive connections to Mem0 and Wingman are reused. */
	curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, 64L);
	return (e);

out_cleanup_multi:
	curl_multi_cleanup(e->multi);
out_free_eng:
	free(e);
	return (NULL);
}

void
eng_wakeup(struct eng *e)
{
	/* The loop takes its queue and ticks before it polls again. */
	if (eng_self == e)
		return;
	if (__atomic_exchange_n(&e->wake_pending, 1, __ATOMIC_ACQ_REL) == 0)
		curl_multi_wakeup(e->multi);
}

static int
eng_enqueue(struct eng *e, struct eng_job *job)
{
	pthread_mutex_lock(&e->lock);
	if (e->stopping) {
		pthread_mutex_unlock(&e->lock);
		return (-1);
	}
	if (e->queue_tail != NULL)
		e->queue_tail->next = job;
	else
		e->queue_head = job;
	e->queue_tail = job;
	pthread_mutex_unlock(&e->lock);
	eng_wakeup(e);
	return (0);
}

int
eng_submit(struct eng *e, CURL *easy, eng_done_fn *done, void *arg)
{
	struct eng_job	*job;

	if ((job = calloc(1, sizeof(*job))) == NULL)
		return (-1);
	job->easy = easy;
	job->done = done;
	job->arg = arg;
	if (eng_enqueue(e, job) == -1) {
		free(job);
		return (-1);
	}
	return (0);
}

int
eng_call(struct eng *e, eng_fn *fn, void *arg)
{
	struct eng_job	*job;

	if ((job = calloc(1, sizeof(*job))) == NULL)
		return (-1);
	job->fn = fn;
	job->arg = arg;
	if (eng_enqueue(e, job) == -1) {
		free(job);
		return (-1);
	}
	return (0);
}

int
eng_timer_add(struct eng *e, long delay_ms, eng_fn *fn, void *arg)
{
	struct eng_timer	*t, **pp;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (-1);
	t->due = eng_now_ms() + (delay_ms > 0 ? delay_ms : 0);
	t->fn = fn;
	t->arg = arg;
	for (pp = &e->timers; *pp != NULL && (*pp)->due <= t->due;
	    pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	return (0);
}

int
eng_tick_add(struct eng *e, eng_fn *fn, void *arg)
{
	if (e->n_ticks == ENG_MAX_TICKS)
		return (-1);
	e->ticks[e->n_ticks].fn = fn;
	e->ticks[e->n_ticks].arg = arg;
	e->n_ticks++;
	return (0);
}

/*
 * Move submitted jobs into the multi handle, or, when abort is set (the
 * engine is stopping), end them at once.
 */
static void
eng_take_queue(struct eng *e, int abort)
{
	struct eng_job	*job, *next;

	pthread_mutex_lock(&e->lock);
	job = e->queue_head;
	e->queue_head = e->queue_tail = NULL;
	pthread_mutex_unlock(&e->lock);
	for (; job != NULL; job = next) {
		next = job->next;
		job->next = job->prev = NULL;
		if (job->easy == NULL) {
			job->fn(job->arg);
			free(job);
			continue;
		}
		curl_easy_setopt(job->easy, CURLOPT_PRIVATE, job);
		if (abort || curl_multi_add_handle(e->multi, job->easy) !=
		    CURLM_OK) {
			job->done(job->easy, abort ? CURLE_ABORTED_BY_CALLBACK :
			    CURLE_OUT_OF_MEMORY, job->arg);
			free(job);
			continue;
		}
		job->next = e->active;
		if (e->active != NULL)
			e->active->prev = job;
		e->active = job;
	}
}

static void
eng_run_timers(struct eng *e)
{
	struct eng_timer	*t;
	long long		 now;

	now = eng_now_ms();
	while ((t = e->timers) != NULL && t->due <= now) {
		e->timers = t->next;
		t->fn(t->arg);
		free(t);
	}
}

static void
eng_finish(struct eng *e, CURL *easy, CURLcode result)
{
	struct eng_job	*job = NULL;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&job);
	curl_multi_remove_handle(e->multi, easy);
	if (job == NULL)
		return;
	if (job->prev != NULL)
		job->prev->next = job->next;
	else
		e->active = job->next;
	if (job->next != NULL)
		job->next->prev = job->prev;
	job->done(easy, result, job->arg);
	free(job);
}

/* Finish the transfers that are done; returns how many. */
static int
eng_read_done(struct eng *e)
{
	CURLMsg	*msg;
	int	 left, n = 0;

	while ((msg = curl_multi_info_read(e->multi, &left)) != NULL) {
		if (msg->msg == CURLMSG_DONE) {
			eng_finish(e, msg->easy_handle, msg->data.result);
			n++;
		}
	}
	return (n);
}

int
eng_stopping(struct eng *e)
{
	int	 s;

	pthread_mutex_lock(&e->lock);
	s = e->stopping;
	pthread_mutex_unlock(&e->lock);
	return (s);
}

static void *
eng_main(void *arg)
{
	struct eng	*e = arg;
	long long	 wait;
	int		 running, i;

	eng_self = e;
	while (!eng_stopping(e)) {
		__atomic_store_n(&e->wake_pending, 0, __ATOMIC_RELEASE);
		eng_take_queue(e, 0);
		eng_run_timers(e);
		for (i = 0; i < e->n_ticks; i++)
			e->ticks[i].fn(e->ticks[i].arg);
		eng_take_queue(e, 0);
		curl_multi_perform(e->multi, &running);
		/* A finished transfer may free room for more: tick again. */
		if (eng_read_done(e) > 0)
			continue;

		wait = ENG_POLL_MAX_MS;
		if (e->timers != NULL) {
			wait = e->timers->due - eng_now_ms();
			if (wait < 0)
				wait = 0;
			if (wait > ENG_POLL_MAX_MS)
				wait = ENG_POLL_MAX_MS;
		}
		curl_multi_poll(e->multi, NULL, 0, (int)wait, NULL);
	}
	return (NULL);
}

int
eng_start(struct eng *e)
{
	if (pthread_create(&e->thread, NULL, eng_main, e) != 0)
		return (-1);
	e->started = 1;
	return (0);
}

void
eng_stop(struct eng *e)
{
	struct eng_timer	*t;

	pthread_mutex_lock(&e->lock);
	e->stopping = 1;
	pthread_mutex_unlock(&e->lock);
	if (e->started) {
		curl_multi_wakeup(e->multi);
		pthread_join(e->thread, NULL);
		e->started = 0;
	}
	/*
	 * The thread is gone: this thread now owns the multi handle. Wind
	 * everything down; callbacks may queue more (a held request that is
	 * answered submits nothing, but a claim sender may retry), so loop
	 * until all is quiet. eng_submit/eng_call refuse new work now.
	 */
	for (;;) {
		eng_take_queue(e, 1);
		if (e->active != NULL) {
			eng_finish(e, e->active->easy,
			    CURLE_ABORTED_BY_CALLBACK);
			continue;
		}
		if ((t = e->timers) != NULL) {
			e->timers = t->next;
			t->fn(t->arg);
			free(t);
			continue;
		}
		break;
	}
}

void
eng_destroy(struct eng *e)
{
	if (e == NULL)
		return;
	eng_stop(e);
	curl_multi_cleanup(e->multi);
	pthread_mutex_destroy(&e->lock);
	free(e);
}
