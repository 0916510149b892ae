/*
 * engine: the one thread that owns the libcurl multi handle and every
 * timer. Other threads hand it transfers with eng_submit(); completion
 * callbacks, timers and tick hooks all run on the engine thread, so the
 * code they call never needs a lock for engine-owned state. No thread
 * ever waits on the network: the front suspends the client connection and
 * the engine resumes it from a completion callback.
 *
 * Ownership: eng_submit() takes the CURL easy handle until its done
 * callback runs; the callback gets it back (and must clean it up or hand
 * it on). Timer and tick arguments are not owned.
 */
#ifndef ENGINE_H
#define ENGINE_H

#include <curl/curl.h>

struct eng;

/* Runs on the engine thread once the transfer ended, well or not. */
typedef void	 eng_done_fn(CURL *easy, CURLcode result, void *arg);
/* Runs on the engine thread. */
typedef void	 eng_fn(void *arg);

struct eng	*eng_create(void);
int		 eng_start(struct eng *e);

/*
 * Any thread. Queue a transfer. Returns 0, or -1 when the engine is
 * stopping or memory is short (then done is not called and the caller
 * keeps the handle).
 */
int		 eng_submit(struct eng *e, CURL *easy, eng_done_fn *done,
		    void *arg);
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

/* Engine thread (or before eng_start). Run fn(arg) in delay_ms. */
int		 eng_timer_add(struct eng *e, long delay_ms, eng_fn *fn,
		    void *arg);
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
