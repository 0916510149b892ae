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

#include "anon.h"
#include "buf.h"
#include "config.h"
#include "engine.h"

struct wm;

struct wm_stats {
	unsigned long long	 queued;	/* appended to the spool */
	unsigned long long	 sent;		/* logged by Wingman */
	unsigned long long	 retried;	/* failed attempts */
	unsigned long long	 dropped;	/* spool overflow, drop_oldest */
	unsigned long long	 refused;	/* not appended: full or I/O */
	unsigned long long	 fallback;	/* not stored: written to the
						   log for replay instead */
	unsigned long long	 corrupt;	/* bad records, quarantined */
	unsigned long long	 io_errors;
	unsigned long long	 syncs;
	size_t			 pending;	/* in the spool, not yet logged */
	size_t			 spool_bytes;
	size_t			 inflight;
	int			 breaker_open;	/* 5+ failed sends in a row */
	int			 spool_writable;
	double			 unwritable_s;	/* total time it was not */
};

/*
 * Open the claim chain (chain.h: the stream in STATE_DIR/chain, keyed
 * from anon's key) and the spool (replayed), start the spool's writer
 * thread, store a "start" checkpoint, and register the sender's tick and
 * the checkpoint timer on eng; call before eng_start(). NULL with a
 * message in err on error.
 */
struct wm	*wm_create(const struct config *cfg, struct eng *eng,
		    const struct anon *anon, char *err, size_t errlen);

/*
 * Claims: text is one claim, or several, one per line (a request that
 * names more memories than fit in one claim). Each line is sealed
 * (chain.h) as it enters the spool, in order, and counts toward the
 * next checkpoint.
 *
 * Any thread. Append one claim to the spool (written to the kernel; the
 * writer fsyncs it within spool.fsync_interval_ms). Returns 0, or -1
 * when the spool refused it (full under the block policy, or a write
 * error): the claim is then written to the log in full, as
 * {"msg":"claim not stored","log_claim":{...}} (the exact body for
 * /log_claim, for `mem0-audit-proxy replay`), and counted.
 */
int		 wm_claim(struct wm *w, const char *text);

/*
 * Any thread but the engine's and the front's: append a claim and wait
 * until it is on disk. Returns 0, or -1 (refused or the fsync failed;
 * the claim is not written to the log: the caller decides).
 */
int		 wm_claim_wait(struct wm *w, const char *text);

/* Runs once the claim it was registered with is on disk (ok 1), or its
 * fsync failed (ok 0). On the engine thread (or the stopping one). */
typedef void	 wm_synced_fn(void *arg, int ok);

/*
 * Any thread. Append a claim that must be on disk before the response it
 * describes leaves (gated and export routes): a group commit. Returns 1
 * and calls fn(arg, ok) on the engine thread right after the writer's
 * next fsync (no thread waits); 0 when it is on disk already (at
 * shutdown it is synced on the calling thread): fn is not called; -1
 * when the spool refused it (fn is not called, nothing is logged: the
 * caller decides, see wm_fallback()).
 */
int		 wm_claim_durable(struct wm *w, const char *text,
		    wm_synced_fn *fn, void *arg);

/* Write a claim that could not be stored to the log, replayable. */
void		 wm_fallback(struct wm *w, const char *text, const char *why);

/*
 * Shutdown, after eng_stop(): stop the spool writer (a last fsync; at
 * most ms, < 0 for ever: a disk that hangs does not hold the exit) and
 * call every waiter still registered, on this thread.
 */
void		 wm_flush_waiters(struct wm *w, long ms);

/* Store the "stop" checkpoint: a clean stop, before the last drain. */
void		 wm_close_stream(struct wm *w);

/* 1 while the spool accepts claims (for refusing requests early). */
int		 wm_accepting(struct wm *w);

/* Any thread. */
void		 wm_get_stats(struct wm *w, struct wm_stats *st);

/* What one Wingman call gave, for a wm_call() callback. */
struct wm_reply {
	CURLcode	 result;	/* transport result */
	long		 status;	/* HTTP status; 0 when none */
	const cJSON	*json;		/* body, NULL if not JSON (or not
					   parsed: wm_call_text()); freed
					   after the callback returns */
	const char	*body;		/* the body as received, len bytes
					   (not NUL-terminated), or NULL;
					   freed after the callback */
	size_t		 len;
	struct buf	*text;		/* wm_call_text(), a body: its
					   buffer; the callback may take
					   the data (buf_steal()) and
					   must not use body after */
};

/* Runs on the engine thread (or the stopping thread, result aborted). */
typedef void	 wm_reply_fn(const struct wm_reply *r, void *arg);

/*
 * Any thread. One JSON call to Wingman under cfg (its wingman.url and
 * wingman.timeout_ms; NULL: the live configuration): method and path
 * ("/approvals/request"), body JSON text or NULL, an optional key header
 * (name and value, both NULL for none). A request calls under its own
 * snapshot, so a reload that moves Wingman does not move the approvals
 * it waits for. fn is called exactly once, unless -1 is returned (engine
 * stopping, out of memory). r->json is the reply when the whole body is
 * one JSON value (wm_parse_json()), else NULL.
 */
int		 wm_call(struct wm *w, const struct config *cfg,
		    const char *method, const char *path, const char *body,
		    const char *key_header, const char *key_value,
		    wm_reply_fn *fn, void *arg);
/*
 * wm_call() whose reply may be up to max_reply bytes (64 KiB there) and
 * is not parsed: r->json is NULL, r->body holds it (a caller that can
 * tell an unchanged reply from its digest need not parse it again).
 */
int		 wm_call_text(struct wm *w, const struct config *cfg,
		    const char *method, const char *path, const char *body,
		    const char *key_header, const char *key_value,
		    size_t max_reply, wm_reply_fn *fn, void *arg);

/*
 * A body that is one JSON value, with nothing but whitespace around it,
 * parsed (the caller deletes it); NULL for anything else, a valid value
 * followed by more bytes included.
 */
cJSON		*wm_parse_json(const char *body, size_t len);

void		 wm_destroy(struct wm *w);

/* 1 if a /log_claim reply (status, body[0..len), may be NULL) says
 * 200 {"status":"logged",...}: the claim may leave the spool. */
int		 wm_reply_logged(long status, const char *body, size_t len);

#endif /* WINGMAN_H */
