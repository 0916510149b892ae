/*
 * engine: libcurl multi loop, work queue and timers. See engine.h.
 *
 * The loop is libcurl's multi_socket interface on one epoll set: curl
 * says which sockets it waits for (eng_on_socket) and when it wants to
 * be called for its timeouts (eng_on_timer); the loop waits in
 * epoll_wait and hands curl only the sockets that are ready, so a pass
 * costs nothing per idle transfer. Other threads wake it through an
 * eventfd in the same set, written only when no wakeup is pending.
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "log.h"

#define ENG_MAX_TICKS	4
#define ENG_POLL_MAX_MS	1000
#define ENG_EVENTS	64	/* epoll events taken per wait */

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
	int		 epfd;		/* curl's sockets and evfd */
	int		 evfd;		/* wakeups from other threads */
	long long	 curl_due;	/* curl's timeout, -1: none */

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
	 * A wakeup is on its way (evfd written, the loop has
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

/* curl: wait for socket s as what says (CURL_POLL_*), or stop. */
static int
eng_on_socket(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
	struct eng		*e = userp;
	struct epoll_event	 ev;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		/* curl forgets it (and may close it) after this call. */
		(void)epoll_ctl(e->epfd, EPOLL_CTL_DEL, s, NULL);
		return (0);
	}
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0U) |
	    ((what & CURL_POLL_OUT) ? EPOLLOUT : 0U);
	ev.data.fd = s;
	if (epoll_ctl(e->epfd, socketp != NULL ? EPOLL_CTL_MOD :
	    EPOLL_CTL_ADD, s, &ev) == -1 && epoll_ctl(e->epfd, socketp !=
	    NULL ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, s, &ev) == -1) {
		log_msg(CFG_LOG_ERROR, "engine: epoll_ctl failed", "error",
		    strerror(errno), LOG_END);
		return (-1);	/* curl fails that transfer */
	}
	if (socketp == NULL)
		curl_multi_assign(e->multi, s, e);	/* known now */
	return (0);
}

/* curl: call me back in timeout_ms (-1: never). Not from here. */
static int
eng_on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct eng	*e = userp;

	(void)multi;
	e->curl_due = timeout_ms < 0 ? -1 : eng_now_ms() + timeout_ms;
	return (0);
}

struct eng *
eng_create(void)
{
	struct epoll_event	 ev;
	struct eng		*e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return (NULL);
	e->curl_due = -1;
	if ((e->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		goto out_free_eng;
	if ((e->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1)
		goto out_close_epoll;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.fd = e->evfd;
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->evfd, &ev) == -1)
		goto out_close_evfd;
	if ((e->multi = curl_multi_init()) == NULL)
		goto out_close_evfd;
	if (pthread_mutex_init(&e->lock, NULL) != 0)
		goto out_cleanup_multi;
	/* Keep-alive connections to Mem0 and Wingman are reused. */
	curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, 64L);
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, eng_on_socket);
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, eng_on_timer);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
	return (e);

out_cleanup_multi:
	curl_multi_cleanup(e->multi);
out_close_evfd:
	close(e->evfd);
out_close_epoll:
	close(e->epfd);
out_free_eng:
	free(e);
	return (NULL);
}

/* Make the loop's epoll_wait return (the eventfd becomes readable). */
static void
eng_kick(struct eng *e)
{
	uint64_t	 one = 1;

	while (write(e->evfd, &one, sizeof(one)) == -1 && errno == EINTR)
		;
}

void
eng_wakeup(struct eng *e)
{
	/* The loop takes its queue and ticks before it polls again. */
	if (eng_self == e)
		return;
	if (__atomic_exchange_n(&e->wake_pending, 1, __ATOMIC_ACQ_REL) == 0)
		eng_kick(e);
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

/* Hand curl the ready sockets; drain the eventfd. */
static void
eng_dispatch(struct eng *e, const struct epoll_event *ev, int n)
{
	uint64_t	 v;
	int		 i, flags, running;

	for (i = 0; i < n; i++) {
		if (ev[i].data.fd == e->evfd) {
			(void)read(e->evfd, &v, sizeof(v));
			continue;
		}
		flags = 0;
		if (ev[i].events & EPOLLIN)
			flags |= CURL_CSELECT_IN;
		if (ev[i].events & EPOLLOUT)
			flags |= CURL_CSELECT_OUT;
		if (ev[i].events & (EPOLLERR | EPOLLHUP))
			flags |= CURL_CSELECT_ERR;
		curl_multi_socket_action(e->multi, ev[i].data.fd, flags,
		    &running);
	}
}

static void *
eng_main(void *arg)
{
	struct epoll_event	 ev[ENG_EVENTS];
	struct eng		*e = arg;
	long long		 wait, now;
	int			 running, i, n;

	eng_self = e;
	while (!eng_stopping(e)) {
		__atomic_store_n(&e->wake_pending, 0, __ATOMIC_RELEASE);
		eng_take_queue(e, 0);
		eng_run_timers(e);
		for (i = 0; i < e->n_ticks; i++)
			e->ticks[i].fn(e->ticks[i].arg);
		eng_take_queue(e, 0);
		now = eng_now_ms();
		if (e->curl_due >= 0 && e->curl_due <= now) {
			e->curl_due = -1;
			curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT,
			    0, &running);
		}
		/* A finished transfer may free room for more: tick again. */
		if (eng_read_done(e) > 0)
			continue;

		wait = ENG_POLL_MAX_MS;
		if (e->timers != NULL && e->timers->due - now < wait)
			wait = e->timers->due - now;
		if (e->curl_due >= 0 && e->curl_due - now < wait)
			wait = e->curl_due - now;
		if (wait < 0)
			wait = 0;
		n = epoll_wait(e->epfd, ev, ENG_EVENTS, (int)wait);
		if (n > 0)
			eng_dispatch(e, ev, n);
		else if (n == -1 && errno != EINTR)
			log_msg(CFG_LOG_ERROR, "engine: epoll_wait failed",
			    "error", strerror(errno), LOG_END);
		(void)eng_read_done(e);
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
		eng_kick(e);
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
	curl_multi_cleanup(e->multi);	/* may still tell eng_on_socket */
	close(e->evfd);
	close(e->epfd);
	pthread_mutex_destroy(&e->lock);
	free(e);
}
