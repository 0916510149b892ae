/*
 * wingman: the Wingman client. Claim delivery: wm_claim() (any thread)
 * appends the claim to the durable spool (STATE_DIR/spool, spool.h) and
 * only then counts it as accepted; the engine thread drains the spool to
 * POST /log_claim with a few concurrent requests, retried with jittered
 * exponential backoff, and removes a claim only after Wingman answered
 * 200 {"status":"logged"}: at least once, never lost, and a client
 * request never waits for Wingman. Also wm_call(): any JSON call to
 * Wingman (approvals, verify).
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

struct wm;

struct wm_stats {
	unsigned long long	 queued;	/* appended to the spool */
	unsigned long long	 sent;		/* logged by Wingman */
	unsigned long long	 retried;	/* failed attempts */
	unsigned long long	 dropped;	/* spool overflow, drop_oldest */
	unsigned long long	 refused;	/* not appended: full or I/O */
	unsigned long long	 corrupt;	/* bad records found on replay */
	unsigned long long	 io_errors;
	size_t			 pending;	/* in the spool, not yet logged */
	size_t			 spool_bytes;
	size_t			 inflight;
	int			 breaker_open;	/* 5+ failed sends in a row */
};

/*
 * Open (and replay) the spool and register the sender's tick on eng; call
 * before eng_start(). NULL with a message in err on error.
 */
struct wm	*wm_create(const struct config *cfg, struct eng *eng, char *err,
		    size_t errlen);

/*
 * Any thread. Append one claim to the spool; sync: fsync before
 * returning (gated and export routes). Returns 0, or -1 when the spool
 * refused it (full under the block policy, or a write error): the claim
 * is then logged in full at level error and counted.
 */
int		 wm_claim(struct wm *w, const char *text, int sync);

/* Runs once the claim it was registered with is on disk. */
typedef void	 wm_synced_fn(void *arg);

/*
 * Any thread. Append a claim that must be on disk before the response it
 * describes leaves (gated and export routes). Under the batched policy
 * this is a group commit: returns 1 and calls fn(arg) on the engine
 * thread right after the next spool fsync (within spool.fsync_interval_ms;
 * no thread waits). Returns 0 when the claim is already on disk (policy
 * "always", or stopping): fn is not called. Returns -1 when the spool
 * refused it (logged in full): fn is not called.
 */
int		 wm_claim_durable(struct wm *w, const char *text,
		    wm_synced_fn *fn, void *arg);

/* Sync and release every waiter now (shutdown, after the engine stops). */
void		 wm_flush_waiters(struct wm *w);

/* 1 while the spool accepts claims (for refusing requests early). */
int		 wm_accepting(struct wm *w);

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
