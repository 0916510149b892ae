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
#define ENG_MAX_WATCH	24	/* watched descriptors (eng_watch()) */
#define ENG_POLL_MAX_MS	1000
#define ENG_EVENTS	64	/* epoll events taken per wait */

/* What an epoll event is about: its data.u64 is tag | value. */
#define ENG_TAG_CURL	(0ULL << 32)	/* value: curl's socket */
#define ENG_TAG_WAKE	(1ULL << 32)	/* the eventfd */
#define ENG_TAG_WATCH	(2ULL << 32)	/* value: index in e->watch */
#define ENG_TAG_MASK	(0xffffffffULL << 32)

struct eng_job {
	CURL		*easy;		/* NULL: a call, fn(arg) */
	eng_done_fn	*done;
	eng_fn		*fn;
	void		*arg;
	struct eng_job	*next;		/* submit queue, then active list */
	struct eng_job	*prev;		/* active list */
};

/* A timer, kept by value in a binary min-heap on (due, seq). */
struct eng_timer {
	long long	 due;
	unsigned long long seq;		/* equal dues run in order added */
	eng_fn		*fn;
	void		*arg;
};

/* A descriptor run inside the loop (eng_watch()). */
struct eng_watch {
	int		 fd;		/* -1: a free slot */
	eng_fn		*ready;
	eng_wait_fn	*wait;		/* may be NULL */
	void		*arg;
	long long	 due;		/* from wait(), -1: none */
	int		 hit;		/* fd readable this turn */
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
	struct eng_timer *timers;	/* min-heap of n_timers */
	size_t		 n_timers;
	size_t		 cap_timers;
	unsigned long long timer_seq;
	struct eng_watch watch[ENG_MAX_WATCH];
	int		 n_watch;	/* slots in use, a high-water mark */
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
	memset(&ev, 0, sizeof(ev));
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0U) |
	    ((what & CURL_POLL_OUT) ? EPOLLOUT : 0U);
	ev.data.u64 = ENG_TAG_CURL | (uint32_t)s;
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
	ev.data.u64 = ENG_TAG_WAKE;
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

int
eng_on_thread(struct eng *e)
{
	return (eng_self == e);
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

/* Does timer a run before timer b? */
static int
eng_timer_before(const struct eng_timer *a, const struct eng_timer *b)
{
	return (a->due < b->due || (a->due == b->due && a->seq < b->seq));
}

int
eng_timer_add(struct eng *e, long delay_ms, eng_fn *fn, void *arg)
{
	struct eng_timer	 t, *nt;
	size_t			 i, up, cap;

	if (e->n_timers == e->cap_timers) {
		cap = e->cap_timers == 0 ? 64 : e->cap_timers * 2;
		if ((nt = realloc(e->timers, cap * sizeof(*nt))) == NULL)
			return (-1);
		e->timers = nt;
		e->cap_timers = cap;
	}
	t.due = eng_now_ms() + (delay_ms > 0 ? delay_ms : 0);
	t.seq = e->timer_seq++;
	t.fn = fn;
	t.arg = arg;
	/* Sift up from the new leaf. */
	for (i = e->n_timers++; i > 0; i = up) {
		up = (i - 1) / 2;
		if (!eng_timer_before(&t, &e->timers[up]))
			break;
		e->timers[i] = e->timers[up];
	}
	e->timers[i] = t;
	return (0);
}

/* Take the first timer off the heap into *out. */
static void
eng_timer_pop(struct eng *e, struct eng_timer *out)
{
	struct eng_timer	 last;
	size_t			 i, c, n;

	*out = e->timers[0];
	last = e->timers[--e->n_timers];
	n = e->n_timers;
	/* Sift the last leaf down from the root. */
	for (i = 0; (c = 2 * i + 1) < n; i = c) {
		if (c + 1 < n && eng_timer_before(&e->timers[c + 1],
		    &e->timers[c]))
			c++;
		if (!eng_timer_before(&e->timers[c], &last))
			break;
		e->timers[i] = e->timers[c];
	}
	if (n > 0)
		e->timers[i] = last;
}

size_t
eng_timers_pending(struct eng *e)
{
	return (e->n_timers);
}

int
eng_watch(struct eng *e, int fd, eng_fn *ready, eng_wait_fn *wait,
    void *arg)
{
	struct epoll_event	 ev;
	int			 i;

	for (i = 0; i < ENG_MAX_WATCH && e->watch[i].ready != NULL; i++)
		;
	if (i == ENG_MAX_WATCH)
		return (-1);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = ENG_TAG_WATCH | (uint32_t)i;
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		return (-1);
	e->watch[i].fd = fd;
	e->watch[i].ready = ready;
	e->watch[i].wait = wait;
	e->watch[i].arg = arg;
	e->watch[i].due = -1;
	e->watch[i].hit = 0;
	if (i >= e->n_watch)
		e->n_watch = i + 1;
	return (0);
}

void
eng_unwatch(struct eng *e, int fd)
{
	int	 i;

	for (i = 0; i < e->n_watch; i++) {
		if (e->watch[i].ready == NULL || e->watch[i].fd != fd)
			continue;
		(void)epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
		memset(&e->watch[i], 0, sizeof(e->watch[i]));
		e->watch[i].fd = -1;
	}
	while (e->n_watch > 0 && e->watch[e->n_watch - 1].ready == NULL)
		e->n_watch--;
}

/* eng_run_sync(): the call, and the caller waiting for its end. */
struct eng_sync {
	eng_fn		*fn;
	void		*arg;
	int		 done;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
};

static void
eng_sync_run(void *arg)
{
	struct eng_sync	*s = arg;

	s->fn(s->arg);
	pthread_mutex_lock(&s->mu);
	s->done = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void
eng_run_sync(struct eng *e, eng_fn *fn, void *arg)
{
	struct eng_sync	 s;

	/* Not running (yet, or any more): this thread owns the loop. */
	if (eng_self == e || !e->started) {
		fn(arg);
		return;
	}
	memset(&s, 0, sizeof(s));
	s.fn = fn;
	s.arg = arg;
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	if (eng_call(e, eng_sync_run, &s) == -1) {
		fn(arg);	/* cannot happen: only we stop it */
		goto out_destroy;
	}
	pthread_mutex_lock(&s.mu);
	while (!s.done)
		pthread_cond_wait(&s.cv, &s.mu);
	pthread_mutex_unlock(&s.mu);
out_destroy:
	pthread_cond_destroy(&s.cv);
	pthread_mutex_destroy(&s.mu);
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
	struct eng_timer	 t;
	long long		 now;

	now = eng_now_ms();
	while (e->n_timers > 0 && e->timers[0].due <= now) {
		eng_timer_pop(e, &t);
		t.fn(t.arg);
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

/* Hand curl the ready sockets; drain the eventfd; mark watched fds. */
static void
eng_dispatch(struct eng *e, const struct epoll_event *ev, int n)
{
	uint64_t	 v, tag;
	int		 i, flags, running;

	for (i = 0; i < n; i++) {
		tag = ev[i].data.u64 & ENG_TAG_MASK;
		if (tag == ENG_TAG_WAKE) {
			(void)read(e->evfd, &v, sizeof(v));
			continue;
		}
		if (tag == ENG_TAG_WATCH) {
			e->watch[ev[i].data.u64 & 0xffffffffU].hit = 1;
			continue;
		}
		flags = 0;
		if (ev[i].events & EPOLLIN)
			flags |= CURL_CSELECT_IN;
		if (ev[i].events & EPOLLOUT)
			flags |= CURL_CSELECT_OUT;
		if (ev[i].events & (EPOLLERR | EPOLLHUP))
			flags |= CURL_CSELECT_ERR;
		curl_multi_socket_action(e->multi,
		    (curl_socket_t)(ev[i].data.u64 & 0xffffffffU), flags,
		    &running);
	}
}

/*
 * Ask each watched descriptor's owner when it must run at the latest;
 * returns the wait bounded by that.
 */
static long long
eng_watch_wait(struct eng *e, long long now, long long wait)
{
	struct eng_watch	*w;
	long			 d;
	int			 i;

	for (i = 0; i < e->n_watch; i++) {
		w = &e->watch[i];
		w->due = -1;
		if (w->ready == NULL || w->wait == NULL ||
		    (d = w->wait(w->arg)) < 0)
			continue;
		w->due = now + d;
		if (d < wait)
			wait = d;
	}
	return (wait);
}

/* Run the watched descriptors that are readable or due. */
static void
eng_watch_run(struct eng *e)
{
	struct eng_watch	*w;
	long long		 now = eng_now_ms();
	int			 i;

	for (i = 0; i < e->n_watch; i++) {
		w = &e->watch[i];
		if (w->ready == NULL || (!w->hit && (w->due < 0 ||
		    w->due > now)))
			continue;
		w->hit = 0;
		w->ready(w->arg);
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
		if (e->n_timers > 0 && e->timers[0].due - now < wait)
			wait = e->timers[0].due - now;
		if (e->curl_due >= 0 && e->curl_due - now < wait)
			wait = e->curl_due - now;
		wait = eng_watch_wait(e, now, wait);
		if (wait < 0)
			wait = 0;
		n = epoll_wait(e->epfd, ev, ENG_EVENTS, (int)wait);
		if (n > 0)
			eng_dispatch(e, ev, n);
		else if (n == -1 && errno != EINTR)
			log_msg(CFG_LOG_ERROR, "engine: epoll_wait failed",
			    "error", strerror(errno), LOG_END);
		(void)eng_read_done(e);
		eng_watch_run(e);
	}
	eng_self = NULL;
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
	struct eng_timer	 t;

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
		if (e->n_timers > 0) {
			eng_timer_pop(e, &t);
			t.fn(t.arg);
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
	free(e->timers);
	close(e->evfd);
	close(e->epfd);
	pthread_mutex_destroy(&e->lock);
	free(e);
}
