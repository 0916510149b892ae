/*
 * wingman: the Wingman client. For now, claim delivery: a bounded
 * in-memory queue that any thread feeds with wm_claim(), drained to
 * POST /log_claim by the engine thread with a few concurrent requests,
 * retried with jittered exponential backoff until Wingman answers
 * 200 {"status":"logged"}. A client request never waits for Wingman.
 *
 * When the queue is full the oldest claim is dropped, counted and logged
 * (the durable spool replaces this queue).
 *
 * Ownership: wm_create() borrows cfg and eng, which must outlive it;
 * wm_claim() copies the text.
 */
#ifndef WINGMAN_H
#define WINGMAN_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "engine.h"

#define WM_MAX_INFLIGHT	2

struct wm;

struct wm_stats {
	unsigned long long	 queued;	/* accepted by wm_claim */
	unsigned long long	 sent;		/* logged by Wingman */
	unsigned long long	 retried;	/* failed attempts */
	unsigned long long	 dropped;	/* lost to queue overflow */
	size_t			 pending;	/* queued + in flight */
};

/* Registers its tick on eng; call before eng_start(). */
struct wm	*wm_create(const struct config *cfg, struct eng *eng);

/* Any thread. Queue one claim. Returns 0, or -1 when out of memory. */
int		 wm_claim(struct wm *w, const char *text);

/* Any thread. */
void		 wm_get_stats(struct wm *w, struct wm_stats *st);

/* What one Wingman call gave, for a wm_call() callback. */
struct wm_reply {
	CURLcode	 result;	/* transport result */
	long		 status;	/* HTTP status; 0 when none */
	const cJSON	*json;		/* body, NULL if not JSON; freed
					   after the callback returns */
};

/* Runs on the engine thread (or the stopping thread, result aborted). */
typedef void	 wm_reply_fn(const struct wm_reply *r, void *arg);

/*
 * Any thread. One JSON call to Wingman: method and path ("/approvals/
 * request"), body JSON text or NULL, an optional key header (name and
 * value, both NULL for none), wingman.timeout_ms. fn is called exactly
 * once, unless -1 is returned (engine stopping, out of memory).
 */
int		 wm_call(struct wm *w, const char *method, const char *path,
		    const char *body, const char *key_header,
		    const char *key_value, wm_reply_fn *fn, void *arg);

void		 wm_destroy(struct wm *w);

#endif /* WINGMAN_H */
