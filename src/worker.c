/*
 * worker: a job thread with a FIFO queue. See worker.h.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"

struct wk_job {
	wk_fn		*fn;
	void		*arg;
	struct wk_job	*next;
};

struct wk {
	const char	*name;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	struct wk_job	*head;		/* queue, under lock */
	struct wk_job	*tail;
	int		 started;	/* the thread exists */
	int		 stopping;
	pthread_t	 thread;
};

/* Take the first job off the queue. Locked. */
static struct wk_job *
wk_pop(struct wk *w)
{
	struct wk_job	*j = w->head;

	if (j != NULL) {
		w->head = j->next;
		if (w->head == NULL)
			w->tail = NULL;
	}
	return (j);
}

static void *
wk_main(void *arg)
{
	struct wk	*w = arg;
	struct wk_job	*j;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->head == NULL && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->stopping)
			break;
		j = wk_pop(w);
		pthread_mutex_unlock(&w->lock);
		j->fn(j->arg, 0);
		free(j);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return (NULL);
}

struct wk *
wk_create(const char *name)
{
	struct wk	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return (NULL);
	w->name = name;
	if (pthread_mutex_init(&w->lock, NULL) != 0)
		goto out_free;
	if (pthread_cond_init(&w->cond, NULL) != 0)
		goto out_destroy_lock;
	return (w);

out_destroy_lock:
	pthread_mutex_destroy(&w->lock);
out_free:
	free(w);
	return (NULL);
}

/* Start the thread with every signal blocked (main takes them). Locked. */
static int
wk_start(struct wk *w)
{
	sigset_t	 all, old;
	int		 rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->thread, NULL, wk_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_msg(CFG_LOG_ERROR, "cannot start a worker thread",
		    "worker", w->name, "detail", strerror(rc), LOG_END);
		return (-1);
	}
	w->started = 1;
	return (0);
}

int
wk_submit(struct wk *w, wk_fn *fn, void *arg)
{
	struct wk_job	*j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return (-1);
	j->fn = fn;
	j->arg = arg;
	pthread_mutex_lock(&w->lock);
	if (w->stopping || (!w->started && wk_start(w) == -1)) {
		pthread_mutex_unlock(&w->lock);
		free(j);
		return (-1);
	}
	if (w->tail != NULL)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return (0);
}

void
wk_stop(struct wk *w)
{
	struct wk_job	*j;
	int		 join;

	pthread_mutex_lock(&w->lock);
	w->stopping = 1;
	join = w->started;
	w->started = 0;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	if (join)
		pthread_join(w->thread, NULL);
	/* The thread is gone: nobody else takes from the queue now. */
	for (;;) {
		pthread_mutex_lock(&w->lock);
		j = wk_pop(w);
		pthread_mutex_unlock(&w->lock);
		if (j == NULL)
			break;
		j->fn(j->arg, 1);
		free(j);
	}
}

void
wk_destroy(struct wk *w)
{
	if (w == NULL)
		return;
	wk_stop(w);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
