/*
 * engine: the one network thread. It owns the libcurl multi handle,
 * every timer, and the descriptors other modules run inside its loop
 * (eng_watch(): the client listener's libmicrohttpd daemon). Other
 * threads hand it transfers with eng_submit(); completion callbacks,
 * timers, tick hooks and watched descriptors all run on the engine
 * thread, so the code they call never needs a lock for engine-owned
 * state. No thread ever waits on the network: the front suspends the
 * client connection and resumes it from a completion callback, all on
 * this thread.
 *
 * Ownership: eng_submit() takes the CURL easy handle until its done
 * callback runs; the callback gets it back (and must clean it up or hand
 * it on). Timer and tick arguments are not owned.
 */
#ifndef ENGINE_H
#define ENGINE_H

#include <stddef.h>

#include <curl/curl.h>

struct eng;

/* Runs on the engine thread once the transfer ended, well or not. */
typedef void	 eng_done_fn(CURL *easy, CURLcode result, void *arg);
/* Runs on the engine thread. */
typedef void	 eng_fn(void *arg);
/* Engine thread: milliseconds until the owner must run even without
 * input (0: now), or -1 for no limit. */
typedef long	 eng_wait_fn(void *arg);

struct eng	*eng_create(void);
int		 eng_start(struct eng *e);

/*
 * Any thread. Queue a transfer. Returns 0, or -1 when the engine is
 * stopping or memory is short (then done is not called and the caller
 * keeps the handle).
 */
int		 eng_submit(struct eng *e, CURL *easy, eng_done_fn *done,
		    void *arg);
/* 1 when the caller is the engine's thread (eng_main). */
int		 eng_on_thread(struct eng *e);

/* Any thread: make the engine run its loop (and its ticks) now. */
void		 eng_wakeup(struct eng *e);

/*
 * Any thread: run fn(arg) on the engine thread soon. Returns 0, or -1 when
 * the engine is stopping (fn is not called).
 */
int		 eng_call(struct eng *e, eng_fn *fn, void *arg);

/*
 * 1 once eng_stop() has begun. Timers still pending at stop run once,
 * early, on the stopping thread: their callbacks check this and wind
 * down (answer held clients, say) instead of starting new work.
 */
int		 eng_stopping(struct eng *e);

/*
 * Engine thread (or before eng_start). Run fn(arg) in delay_ms. Timers
 * due at the same millisecond run in the order they were added. O(log n)
 * in the timers pending. Returns 0, or -1 when memory is short.
 */
int		 eng_timer_add(struct eng *e, long delay_ms, eng_fn *fn,
		    void *arg);
/* Engine thread: how many timers are pending. */
size_t		 eng_timers_pending(struct eng *e);

/*
 * Engine thread (or before eng_start): run ready(arg) on the engine
 * thread whenever fd is readable, and when wait(arg) (asked before each
 * wait; may be NULL) says so. The caller keeps fd open until
 * eng_unwatch(). At most 24 descriptors. Returns 0, or -1.
 */
int		 eng_watch(struct eng *e, int fd, eng_fn *ready,
		    eng_wait_fn *wait, void *arg);
/* Engine thread (or before eng_start, or after eng_stop). */
void		 eng_unwatch(struct eng *e, int fd);

/*
 * The thread that starts and stops the engine: run fn(arg) on the engine
 * thread and wait for it to return; when the engine is not running, run
 * it here. For changes to what the loop watches (a new listener).
 */
void		 eng_run_sync(struct eng *e, eng_fn *fn, void *arg);
/* Before eng_start: fn(arg) runs on every loop turn. At most 4. */
int		 eng_tick_add(struct eng *e, eng_fn *fn, void *arg);

/* Milliseconds on a monotonic clock. */
long long	 eng_now_ms(void);

/*
 * Stop the thread and join it. Then, on the calling thread: calls queued
 * with eng_call() run, transfers still running end with
 * CURLE_ABORTED_BY_CALLBACK through their done callbacks, pending timers
 * run once (eng_stopping() is 1), until nothing is left. Safe to call
 * twice.
 */
void		 eng_stop(struct eng *e);
void		 eng_destroy(struct eng *e);

#endif /* ENGINE_H */
