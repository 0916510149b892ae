/*
 * Unit tests: engine (timers in a heap, descriptors watched in the loop,
 * calls run on the loop's thread, the stop's wind-down).
 */
#include "unit.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

#define T_MAX	512

/* What ran, in order. */
static int		 ran[T_MAX];
static int		 n_ran;
static pthread_mutex_t	 ran_mu = PTHREAD_MUTEX_INITIALIZER;

static void
t_record(void *arg)
{
	pthread_mutex_lock(&ran_mu);
	if (n_ran < T_MAX)
		ran[n_ran++] = (int)(long)arg;
	pthread_mutex_unlock(&ran_mu);
}

static int
t_ran(void)
{
	int	 n;

	pthread_mutex_lock(&ran_mu);
	n = n_ran;
	pthread_mutex_unlock(&ran_mu);
	return (n);
}

static void
t_reset(void)
{
	n_ran = 0;
	memset(ran, 0, sizeof(ran));
}

static void
t_sleep_ms(long ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Timers added out of order (before the engine starts) run at stop,
 * early, in due order; equal dues in the order they were added. Table:
 * delays, and the order (indexes) they must run in.
 */
START_TEST(test_timers_run_in_due_order)
{
	static const struct {
		long	 delay[8];
		int	 n;
		int	 want[8];
	} cases[] = {
		{ { 30, 10, 20 }, 3, { 1, 2, 0 } },
		{ { 5, 5, 5, 5 }, 4, { 0, 1, 2, 3 } },
		{ { 50, 0, 50, 0, 25 }, 5, { 1, 3, 4, 0, 2 } },
		{ { 7 }, 1, { 0 } },
		{ { 9, 8, 7, 6, 5, 4, 3, 2 }, 8, { 7, 6, 5, 4, 3, 2, 1, 0 } },
	};
	struct eng	*e;
	size_t		 c;
	int		 i;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		t_reset();
		ck_assert_ptr_nonnull(e = eng_create());
		for (i = 0; i < cases[c].n; i++)
			ck_assert_int_eq(eng_timer_add(e, cases[c].delay[i] *
			    1000, t_record, (void *)(long)i), 0);
		ck_assert_uint_eq(eng_timers_pending(e), (size_t)cases[c].n);
		eng_stop(e);	/* never started: runs them all, in order */
		ck_assert_int_eq(n_ran, cases[c].n);
		for (i = 0; i < cases[c].n; i++)
			ck_assert_msg(ran[i] == cases[c].want[i],
			    "case %zu: position %d got timer %d, want %d", c,
			    i, ran[i], cases[c].want[i]);
		ck_assert_uint_eq(eng_timers_pending(e), 0);
		eng_destroy(e);
	}
}
END_TEST

/* A thousand timers in random order: the heap hands them out sorted. */
START_TEST(test_timer_heap_many)
{
	struct eng	*e;
	unsigned int	 seed = 12345;
	long		 d[T_MAX];
	int		 i;

	t_reset();
	ck_assert_ptr_nonnull(e = eng_create());
	for (i = 0; i < T_MAX; i++) {
		d[i] = (long)(rand_r(&seed) % 1000) * 1000;
		ck_assert_int_eq(eng_timer_add(e, d[i], t_record,
		    (void *)(long)i), 0);
	}
	eng_stop(e);
	ck_assert_int_eq(n_ran, T_MAX);
	for (i = 1; i < T_MAX; i++)
		ck_assert_msg(d[ran[i - 1]] < d[ran[i]] ||
		    (d[ran[i - 1]] == d[ran[i]] && ran[i - 1] < ran[i]),
		    "position %d: timer %d (%ld) after %d (%ld)", i, ran[i],
		    d[ran[i]], ran[i - 1], d[ran[i - 1]]);
	eng_destroy(e);
}
END_TEST

/* A short timer runs on the running engine, a long one does not yet. */
static void
t_add_timers(void *arg)
{
	struct eng	*e = arg;

	(void)eng_timer_add(e, 20, t_record, (void *)1L);
	(void)eng_timer_add(e, 60000, t_record, (void *)2L);
}

START_TEST(test_timer_fires_while_running)
{
	struct eng	*e;
	int		 i;

	t_reset();
	ck_assert_ptr_nonnull(e = eng_create());
	ck_assert_int_eq(eng_start(e), 0);
	eng_run_sync(e, t_add_timers, e);
	for (i = 0; i < 200 && t_ran() < 1; i++)
		t_sleep_ms(10);
	t_sleep_ms(50);
	ck_assert_int_eq(t_ran(), 1);
	ck_assert_int_eq(ran[0], 1);
	eng_stop(e);		/* the long one runs early, at stop */
	ck_assert_int_eq(n_ran, 2);
	ck_assert_int_eq(ran[1], 2);
	eng_destroy(e);
}
END_TEST

/* A watched descriptor: ready() runs on the engine thread, per input. */
struct t_watch {
	struct eng	*e;
	int		 fd[2];
	int		 reads;
	int		 on_thread;	/* every call was on the loop */
	long		 wait;		/* what wait() answers */
	int		 waits;
	int		 rc;
};

static void
t_watch_ready(void *arg)
{
	struct t_watch	*w = arg;
	char		 c;

	pthread_mutex_lock(&ran_mu);
	if (read(w->fd[0], &c, 1) == 1)
		w->reads++;
	else
		w->waits++;	/* ran because wait() said so */
	if (!eng_on_thread(w->e))
		w->on_thread = 0;
	pthread_mutex_unlock(&ran_mu);
}

static long
t_watch_wait(void *arg)
{
	struct t_watch	*w = arg;
	long		 v;

	pthread_mutex_lock(&ran_mu);	/* the test thread changes it */
	v = w->wait;
	pthread_mutex_unlock(&ran_mu);
	return (v);
}

static void
t_watch_add(void *arg)
{
	struct t_watch	*w = arg;

	w->rc = eng_watch(w->e, w->fd[0], t_watch_ready, t_watch_wait, w);
}

static void
t_watch_del(void *arg)
{
	struct t_watch	*w = arg;

	eng_unwatch(w->e, w->fd[0]);
}

START_TEST(test_watch_runs_on_input_and_on_wait)
{
	struct t_watch	 w;
	int		 i, reads, waits;

	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(pipe2(w.fd, O_NONBLOCK), 0);
	w.on_thread = 1;
	w.wait = -1;
	ck_assert_ptr_nonnull(w.e = eng_create());
	ck_assert_int_eq(eng_start(w.e), 0);
	eng_run_sync(w.e, t_watch_add, &w);
	ck_assert_int_eq(w.rc, 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(write(w.fd[1], "x", 1), 1);
	for (i = 0; i < 200; i++) {
		pthread_mutex_lock(&ran_mu);
		reads = w.reads;
		pthread_mutex_unlock(&ran_mu);
		if (reads == 3)
			break;
		t_sleep_ms(10);
	}
	ck_assert_int_eq(reads, 3);
	/* No input, but wait() says 10 ms: it runs again and again. */
	pthread_mutex_lock(&ran_mu);
	w.wait = 10;
	pthread_mutex_unlock(&ran_mu);
	ck_assert_int_eq(write(w.fd[1], "x", 1), 1);	/* wake the loop */
	t_sleep_ms(300);
	pthread_mutex_lock(&ran_mu);
	waits = w.waits;
	w.wait = -1;
	pthread_mutex_unlock(&ran_mu);
	ck_assert_msg(waits >= 5, "got %d runs from wait(), want >= 5",
	    waits);
	eng_run_sync(w.e, t_watch_del, &w);
	pthread_mutex_lock(&ran_mu);
	reads = w.reads;
	pthread_mutex_unlock(&ran_mu);
	ck_assert_int_eq(write(w.fd[1], "y", 1), 1);
	t_sleep_ms(100);
	pthread_mutex_lock(&ran_mu);
	ck_assert_int_eq(w.reads, reads);	/* unwatched: not read */
	pthread_mutex_unlock(&ran_mu);
	eng_stop(w.e);			/* joined: its writes are seen */
	ck_assert_int_eq(w.on_thread, 1);
	eng_destroy(w.e);
	close(w.fd[0]);
	close(w.fd[1]);
}
END_TEST

/* The watch table has a hard cap, and a freed slot is reused. */
START_TEST(test_watch_cap)
{
	struct eng	*e;
	int		 fds[32][2], i, n = 0;

	ck_assert_ptr_nonnull(e = eng_create());
	for (i = 0; i < 32; i++) {
		ck_assert_int_eq(pipe(fds[i]), 0);
		if (eng_watch(e, fds[i][0], t_record, NULL, NULL) == 0)
			n++;
	}
	ck_assert_int_eq(n, 24);
	eng_unwatch(e, fds[3][0]);
	ck_assert_int_eq(eng_watch(e, fds[30][0], t_record, NULL, NULL), 0);
	ck_assert_int_eq(eng_watch(e, fds[31][0], t_record, NULL, NULL), -1);
	eng_destroy(e);
	for (i = 0; i < 32; i++) {
		close(fds[i][0]);
		close(fds[i][1]);
	}
}
END_TEST

/* eng_run_sync(): on the loop's thread while it runs, here otherwise. */
struct t_sync {
	struct eng	*e;
	int		 on_thread;
};

static void
t_sync_fn(void *arg)
{
	struct t_sync	*s = arg;

	s->on_thread = eng_on_thread(s->e);
}

START_TEST(test_run_sync)
{
	struct t_sync	 s;

	ck_assert_ptr_nonnull(s.e = eng_create());
	s.on_thread = -1;
	eng_run_sync(s.e, t_sync_fn, &s);	/* not started: here */
	ck_assert_int_eq(s.on_thread, 0);
	ck_assert_int_eq(eng_start(s.e), 0);
	eng_run_sync(s.e, t_sync_fn, &s);
	ck_assert_int_eq(s.on_thread, 1);
	ck_assert_int_eq(eng_on_thread(s.e), 0);
	eng_stop(s.e);
	s.on_thread = -1;
	eng_run_sync(s.e, t_sync_fn, &s);	/* stopped: here */
	ck_assert_int_eq(s.on_thread, 0);
	eng_destroy(s.e);
}
END_TEST

UNIT_MAIN("engine", test_timers_run_in_due_order, test_timer_heap_many,
    test_timer_fires_while_running, test_watch_runs_on_input_and_on_wait,
    test_watch_cap, test_run_sync)
