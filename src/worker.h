/*
 * worker: one thread that runs jobs in order, for work that must not run
 * on the client-facing or the engine thread (file writes and fsyncs,
 * parsing a large body). The thread starts with the first job, with every
 * signal blocked, so a proxy that never needs it keeps its threads.
 *
 * Ownership: the worker owns its queue entries, never the job arguments.
 * A job's fn runs exactly once for every wk_submit() that returned 0:
 * on the worker thread with cancelled = 0, or, for jobs still queued when
 * wk_stop() is called, on the thread calling it with cancelled = 1.
 */
#ifndef WORKER_H
#define WORKER_H

struct wk;

typedef void	 wk_fn(void *arg, int cancelled);

/* name: for log lines. NULL when out of memory. No thread yet. */
struct wk	*wk_create(const char *name);

/*
 * Any thread. Queue fn(arg). Returns 0, or -1 when the worker is
 * stopping or cannot start its thread or memory is short (then fn is
 * never called).
 */
int		 wk_submit(struct wk *w, wk_fn *fn, void *arg);

/*
 * Stop: the job running finishes, jobs still queued run cancelled (on
 * the calling thread), the thread is joined. Later wk_submit() calls
 * fail. Safe to call twice.
 */
void		 wk_stop(struct wk *w);

/* wk_stop(), then free. NULL is fine. */
void		 wk_destroy(struct wk *w);

#endif /* WORKER_H */
