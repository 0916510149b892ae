/*
 * wingman: claim delivery and Wingman calls. See wingman.h.
 *
 * Claims live in the spool (spool.h) from wm_claim() until Wingman
 * answered 200 {"status":"logged"}: the sender on the engine thread takes
 * records with spool_next(), posts them, and acks or nacks them. The
 * spool's writer thread fsyncs; after each fsync it tells us how far the
 * disk has it, and the answers waiting for that (group commit) are
 * released on the engine thread, in one call per fsync.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "buf.h"
#include "chain.h"
#include "claim.h"
#include "log.h"
#include "metrics.h"
#include "spool.h"
#include "wingman.h"

/* Wingman's answers are small; anything bigger is not Wingman. */
#define WM_MAX_REPLY	65536
/* Ranges of voided chain seqs one checkpoint states. */
#define WM_VOIDED_MAX		16
/* Claim sends kept for reuse (their easy handle and buffers). */
#define WM_IDLE_SENDS		64
/* How often the checkpoint timer looks whether one is due. */
#define WM_CKPT_CHECK_MS	1000
/* Consecutive failed sends that open the breaker (readiness: not ready). */
#define WM_BREAKER_FAILURES	5
/* A spooled record that cannot be read now: look again after this. */
#define WM_READ_RETRY_MS	200

/*
 * One claim being posted. Sends are kept for reuse (engine thread only):
 * the easy handle keeps its options, the body and reply buffers their
 * memory; only the body, and the URL when a reload changed it, are set
 * again.
 */
struct wm_send {
	struct wm		*w;
	uint64_t		 seq;
	CURL			*easy;
	struct buf		 body;
	struct buf		 reply;
	struct wm_send		*next;		/* in the free list */
};

/* An answer waiting for its claim (seq) to reach the disk. */
struct wm_waiter {
	uint64_t		 seq;
	uint64_t		 cfirst;	/* its chain seqs (chain.h) */
	uint64_t		 clast;
	char			 cmac[CHAIN_MAC_LEN + 1];	/* clast's */
	int			 ok;
	int			 done;		/* wm_claim_wait(): resolved */
	wm_synced_fn		*fn;		/* NULL: wm_claim_wait() */
	void			*arg;
	struct wm_waiter	*next;
};

struct wm {
	const struct config	*cfg;
	struct eng		*eng;
	struct spool		*spool;
	struct chain		*chain;

	/*
	 * One claim enters the spool at a time: it is sealed against the
	 * last one stored (chain.h). Also guards the checkpoint state.
	 */
	pthread_mutex_t		 seal;
	long			 since_ckpt;	/* claims since the last
						   checkpoint */
	long long		 ckpt_ms;	/* when it was stored */
	/*
	 * For the next checkpoint (reason "loss"): claims the spool
	 * refused (logged for replay), and chain seqs sealed whose fsync
	 * failed (the spool dropped them: they never reach Wingman).
	 */
	unsigned long		 unstored;
	struct {
		uint64_t	 a, b;
		char		 mac[CHAIN_MAC_LEN + 1];	/* b's */
	}			 voided[WM_VOIDED_MAX];
	size_t			 nvoided;
	int			 voided_lost;	/* more than fit */

	pthread_mutex_t		 lock;	/* stats, waiters, synced */
	pthread_cond_t		 cond;	/* synced moved (wm_claim_wait) */
	struct wm_stats		 stats;
	struct wm_waiter	*waiters;	/* registered */
	struct wm_waiter	*deferred;	/* ready, the engine stopped */
	int			 every;		/* spool.fsync: always */
	int			 stopped;	/* the spool writer is gone */

	/* Engine thread only (inflight also read by wm_get_stats). */
	struct wm_send		*idle;		/* sends to reuse */
	int			 nidle;
	struct curl_slist	*headers;	/* of every claim post */
	char			*url;		/* ".../log_claim" */
	char			*url_base;	/* the wingman.url it is for */
	int			 inflight;
	int			 failures;	/* consecutive, atomic */
	long long		 retry_at;	/* no send before this */
	long			 backoff_ms;
};

static void	 wm_tick(void *arg);
static void	 wm_refused(struct wm *w);
static void	 wm_void(struct wm *w, uint64_t a, uint64_t b,
		    const char *mac);

/*
 * The running configuration (the one given at start before any), loaded
 * once: an operation takes one snapshot and reads everything from it.
 */
static const struct config *
wm_cfg(const struct wm *w)
{
	const struct config	*c = cfg_live();

	return (c != NULL ? c : w->cfg);
}

/* Engine thread: call the waiters whose fsync came. */
static void
wm_release(void *arg)
{
	struct wm_waiter	*wt = arg, *next;

	for (; wt != NULL; wt = next) {
		next = wt->next;
		wt->fn(wt->arg, wt->ok);
		free(wt);
	}
}

/*
 * The writer thread: records up to seq are on disk (or their fsync
 * failed). Every waiter is registered before the pass that covers its
 * record reports (wm_register()), so the first report covering a waiter
 * decides it. Asynchronous waiters go to the engine; blocking ones
 * (wm_claim_wait()) are woken.
 */
static void
wm_synced(void *arg, uint64_t seq, int ok)
{
	struct wm		*w = arg;
	struct wm_waiter	**pp, *wt, *ready = NULL;

	pthread_mutex_lock(&w->lock);
	for (pp = &w->waiters; (wt = *pp) != NULL;) {
		if (wt->seq > seq) {
			pp = &wt->next;
			continue;
		}
		*pp = wt->next;
		wt->ok = ok;
		if (!ok) {
			/* The spool dropped them (spool_discard_cond()). */
			pthread_mutex_lock(&w->seal);
			wm_void(w, wt->cfirst, wt->clast, wt->cmac);
			pthread_mutex_unlock(&w->seal);
		}
		if (wt->fn == NULL) {
			wt->done = 1;		/* its thread frees nothing */
			continue;
		}
		wt->next = ready;
		ready = wt;
	}
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	/* Claims that wait for their fsync before they are sent: now. */
	eng_wakeup(w->eng);
	if (ready == NULL || eng_call(w->eng, wm_release, ready) == 0)
		return;
	/* The engine is stopping: wm_flush_waiters() calls them. */
	pthread_mutex_lock(&w->lock);
	while ((wt = ready) != NULL) {
		ready = wt->next;
		wt->next = w->deferred;
		w->deferred = wt;
	}
	pthread_mutex_unlock(&w->lock);
}

/* The writer read queued claims back from disk: send them. */
static void
wm_loaded(void *arg)
{
	struct wm	*w = arg;

	eng_wakeup(w->eng);
}

static void	 wm_lost(void *, const char *, size_t, const char *);

/* spool_open(): the newest claim on disk; the chain goes on from it. */
static void
wm_tail(void *arg, const char *data, size_t len)
{
	struct wm	*w = arg;

	chain_observe(w->chain, data, len);
}

/*
 * Before delivered segment files are removed (spool writer, or open):
 * the chain's state must not depend on them any more.
 */
static int
wm_unlinking(void *arg)
{
	struct wm	*w = arg;

	return (chain_save(w->chain));
}

/*
 * Under w->seal: seal line[0..len) as the next claim and append it. 0
 * with *seq (the spool's), or the spool's error (the chain did not move).
 */
static int
wm_store_one(struct wm *w, const char *line, size_t len, int flags,
    uint64_t *seq, uint64_t *cseqp)
{
	struct buf	 b;
	uint64_t	 cseq = 0;
	int		 rc;

	buf_init(&b, SPOOL_MAX_RECORD);
	if (chain_seal(w->chain, line, len, &b, &cseq) == -1) {
		/* Not a claim of ours (no closing ']'): stored as is. */
		log_msg(CFG_LOG_WARN, "claim stored without a seal",
		    LOG_END);
		buf_reset(&b);
		if (buf_append(&b, line, len) == -1) {
			buf_free(&b);
			errno = EMSGSIZE;
			return (SPOOL_EIO);
		}
	}
	rc = spool_append(w->spool, b.data, b.len, flags, seq);
	if (rc == 0)
		chain_advance(w->chain, b.data, b.len);
	buf_free(&b);
	if (cseqp != NULL)
		*cseqp = cseq;
	return (rc);
}

/* Under w->seal: the " unstored=N voided=..." of the next checkpoint. */
static void
wm_loss_text(struct wm *w, struct buf *b)
{
	size_t	 i;

	char	 upto[32];

	if (w->unstored > 0)
		buf_printf(b, " unstored=%lu", w->unstored);
	/* One append per range: a range is written whole or not at all. */
	for (i = 0; i < w->nvoided; i++) {
		upto[0] = '\0';
		if (w->voided[i].b != w->voided[i].a)
			snprintf(upto, sizeof(upto), "-%" PRIu64,
			    w->voided[i].b);
		buf_printf(b, "%s%" PRIu64 "%s:%s", i == 0 ? " voided=" : ",",
		    w->voided[i].a, upto, w->voided[i].mac);
	}
}

/*
 * Under w->seal: chain seqs [a, b] were sealed but never stored; mac is
 * b's chain value (the next claim links to it).
 */
static void
wm_void(struct wm *w, uint64_t a, uint64_t b, const char *mac)
{
	if (a == 0 || b < a)
		return;
	if (w->nvoided == WM_VOIDED_MAX) {
		w->voided_lost = 1;
		return;
	}
	w->voided[w->nvoided].a = a;
	w->voided[w->nvoided].b = b;
	memcpy(w->voided[w->nvoided++].mac, mac, CHAIN_MAC_LEN + 1);
}

/* Under w->seal: store a checkpoint claim. 0, or the spool's error. */
static int
wm_store_checkpoint(struct wm *w, const char *reason)
{
	const struct config	*c = wm_cfg(w);
	struct buf		 b, loss;
	uint64_t		 seq;
	int			 rc = SPOOL_EIO;

	buf_init(&b, CLAIM_MAX);
	/* WM_VOIDED_MAX ranges of at most 75 bytes, and " unstored=N":
	 * all of it fits, and so does the checkpoint (CLAIM_MAX). */
	buf_init(&loss, WM_VOIDED_MAX * 75 + 32);
	wm_loss_text(w, &loss);
	if (loss.len > 0 && strcmp(reason, "stop") != 0 &&
	    strcmp(reason, "start") != 0)
		reason = "loss";
	if (chain_checkpoint_text(w->chain, &b, reason, c->checkpoint_every,
	    c->checkpoint_interval_s, loss.data) == 0)
		rc = wm_store_one(w, b.data, b.len, 0, &seq, NULL);
	if (rc == 0) {
		w->since_ckpt = 0;
		w->ckpt_ms = eng_now_ms();
		w->unstored = 0;
		w->nvoided = 0;
		if (w->voided_lost)
			log_msg(CFG_LOG_ERROR, "chain: more voided claim "
			    "ranges than one checkpoint states; the rest "
			    "show as gaps", LOG_END);
		w->voided_lost = 0;
	}
	buf_free(&loss);
	buf_free(&b);
	return (rc);
}

/* Store a checkpoint now (start, stop). */
static void
wm_checkpoint(struct wm *w, const char *reason)
{
	int	 rc;

	pthread_mutex_lock(&w->seal);
	rc = wm_store_checkpoint(w, reason);
	pthread_mutex_unlock(&w->seal);
	if (rc != 0) {
		wm_refused(w);
		log_msg(CFG_LOG_WARN, "chain checkpoint not stored (the next "
		    "one restates the chain)", "reason", reason, LOG_END);
	}
}

/*
 * Engine timer: a checkpoint when claims were stored since the last one
 * and claims.checkpoint_interval_s has passed, so a trail cut after them
 * misses a checkpoint that should be there.
 */
static void
wm_ckpt_tick(void *arg)
{
	struct wm	*w = arg;
	long long	 now = eng_now_ms();
	int		 due;

	if (eng_stopping(w->eng))
		return;
	pthread_mutex_lock(&w->seal);
	due = (w->since_ckpt > 0 && now - w->ckpt_ms >=
	    wm_cfg(w)->checkpoint_interval_s * 1000) || w->unstored > 0 ||
	    w->nvoided > 0;
	if (due)
		(void)wm_store_checkpoint(w, "interval");
	pthread_mutex_unlock(&w->seal);
	eng_timer_add(w->eng, WM_CKPT_CHECK_MS, wm_ckpt_tick, w);
}

/*
 * Seal and append each line of text (a request may have several claims,
 * one per line), in order, as one step under w->seal. Returns 0 with
 * *seq the spool seq of the last one; or the spool's error, with *rest
 * the lines not stored (the caller logs them for replay).
 */
static int
wm_store(struct wm *w, const char *text, int flags, uint64_t *seq,
    const char **rest, uint64_t *cfirst, uint64_t *clast, char *cmac)
{
	const char	*p = text, *nl;
	uint64_t	 cseq;
	size_t		 len;
	int		 rc = 0;

	*cfirst = *clast = 0;
	pthread_mutex_lock(&w->seal);
	while (*p != '\0') {
		nl = strchr(p, '\n');
		len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (len > 0 && (rc = wm_store_one(w, p, len, flags, seq,
		    &cseq)) != 0)
			break;
		if (len > 0 && cseq != 0) {
			if (*cfirst == 0)
				*cfirst = cseq;
			chain_last(w->chain, clast, cmac);
		}
		p += len + (nl != NULL);
		if (len > 0 && ++w->since_ckpt >= wm_cfg(w)->checkpoint_every)
			(void)wm_store_checkpoint(w, "count");
	}
	pthread_mutex_unlock(&w->seal);
	*rest = p;
	return (rc);
}

struct wm *
wm_create(const struct config *cfg, struct eng *eng, const struct anon *anon,
    char *err, size_t errlen)
{
	struct spool_opts	 o;
	struct spool_hooks	 hooks;
	struct wm		*w;
	const char		*note;
	char			 dir[4096];

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	w->cfg = cfg;
	w->eng = eng;
	if (chain_open(&w->chain, cfg->state_dir, anon, &note, err, errlen) ==
	    -1)
		goto out_free_w;
	if (note != NULL)
		log_msg(CFG_LOG_ERROR, "chain: a new claim stream starts",
		    "reason", note, "stream", chain_stream(w->chain), LOG_END);
	if (pthread_mutex_init(&w->seal, NULL) != 0) {
		snprintf(err, errlen, "cannot create a mutex");
		goto out_close_chain;
	}
	snprintf(dir, sizeof(dir), "%s/spool", cfg->state_dir);
	memset(&o, 0, sizeof(o));
	o.tail = wm_tail;
	o.unlinking = wm_unlinking;
	o.hook_arg = w;
	o.dir = dir;
	o.max_bytes = cfg->spool_max_bytes;
	o.segment_bytes = cfg->spool_segment_bytes;
	o.overflow = cfg->spool_overflow == CFG_OVERFLOW_DROP_OLDEST ?
	    SPOOL_DROP_OLDEST : SPOOL_BLOCK;
	o.sync_interval_ms = cfg->spool_fsync_interval_ms;
	o.sync_every = cfg->spool_fsync == CFG_FSYNC_ALWAYS;
	w->every = o.sync_every;
	if (spool_open(&w->spool, &o, err, errlen) == -1)
		goto out_destroy_seal;
	/* The chain goes on from the newest claim on disk (wm_tail()). */
	if (chain_save(w->chain) == -1) {
		snprintf(err, errlen, "chain: cannot save %s/chain: %s",
		    cfg->state_dir, strerror(errno));
		goto out_close_spool;
	}
	if (pthread_mutex_init(&w->lock, NULL) != 0) {
		snprintf(err, errlen, "cannot create a mutex");
		goto out_close_spool;
	}
	if (pthread_cond_init(&w->cond, NULL) != 0) {
		snprintf(err, errlen, "cannot create a condition");
		goto out_destroy_lock;
	}
	if (eng_tick_add(eng, wm_tick, w) == -1) {
		snprintf(err, errlen, "too many engine ticks");
		goto out_destroy_cond;
	}
	memset(&hooks, 0, sizeof(hooks));
	hooks.synced = wm_synced;
	hooks.loaded = wm_loaded;
	hooks.lost = wm_lost;
	hooks.arg = w;
	if (spool_start(w->spool, &hooks) == -1) {
		snprintf(err, errlen, "cannot start the spool's writer thread");
		goto out_destroy_cond;
	}
	/* The trail says where this run starts; the timer keeps it fresh. */
	wm_checkpoint(w, "start");
	if (eng_timer_add(eng, WM_CKPT_CHECK_MS, wm_ckpt_tick, w) == -1) {
		snprintf(err, errlen, "cannot arm the checkpoint timer");
		goto out_stop_spool;
	}
	return (w);

out_stop_spool:
	spool_stop(w->spool);
out_destroy_cond:
	pthread_cond_destroy(&w->cond);
out_destroy_lock:
	pthread_mutex_destroy(&w->lock);
out_close_spool:
	spool_close(w->spool);
out_destroy_seal:
	pthread_mutex_destroy(&w->seal);
out_close_chain:
	chain_close(w->chain);
out_free_w:
	free(w);
	return (NULL);
}

void
wm_fallback(struct wm *w, const char *text, const char *why)
{
	const char	*p;
	unsigned long	 lines = 1;

	for (p = text; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	/* Said in the next checkpoint: the ledger shows the loss. */
	pthread_mutex_lock(&w->seal);
	w->unstored += lines;
	pthread_mutex_unlock(&w->seal);
	log_claim_fallback(wm_cfg(w)->worker_id, text, why);
	pthread_mutex_lock(&w->lock);
	w->stats.fallback++;
	pthread_mutex_unlock(&w->lock);
}

/* The spool gave up a claim (overflow: drop_oldest): keep it in the log. */
static void
wm_lost(void *arg, const char *data, size_t len, const char *why)
{
	(void)len;
	wm_fallback(arg, data, why);
}

/* Count a refusal. Called without w->lock. */
static void
wm_refused(struct wm *w)
{
	pthread_mutex_lock(&w->lock);
	w->stats.refused++;
	pthread_mutex_unlock(&w->lock);
}

/*
 * Store text (one claim per line); count a refusal. 0 with *seq, or the
 * spool's error with *rest the lines not stored.
 */
static int
wm_append(struct wm *w, const char *text, int flags, uint64_t *seq,
    const char **rest)
{
	int		 rc;

	uint64_t	 cfirst, clast;
	char		 cmac[CHAIN_MAC_LEN + 1];

	if ((rc = wm_store(w, text, flags, seq, rest, &cfirst, &clast,
	    cmac)) != 0)
		wm_refused(w);
	return (rc);
}

int
wm_claim(struct wm *w, const char *text)
{
	const char	*rest;
	uint64_t	 seq;
	int		 rc;

	if ((rc = wm_append(w, text, 0, &seq, &rest)) != 0) {
		wm_fallback(w, rest, rc == SPOOL_EFULL ? "spool full" :
		    "spool write failed");
		return (-1);
	}
	eng_wakeup(w->eng);
	return (0);
}

/*
 * Append text and register wt for the fsync that covers it, as one step:
 * the writer's report for that fsync needs the lock held here, so it
 * cannot come before the waiter is in the list. 1 registered; 0 synced
 * here (shutting down); -1 refused (wt untouched).
 */
static int
wm_register(struct wm *w, const char *text, struct wm_waiter *wt)
{
	const char	*rest;
	int		 rc;

	pthread_mutex_lock(&w->lock);
	if (w->stopped) {
		/* Shutting down: nobody may be left waiting; sync here. */
		pthread_mutex_unlock(&w->lock);
		if (wm_append(w, text, SPOOL_APPEND_COND, &wt->seq, &rest) !=
		    0)
			return (-1);
		return (spool_sync(w->spool) == 0 ? 0 : -1);
	}
	/*
	 * Not wm_append(): its refusal count takes w->lock. Lines stored
	 * before a refusal stay (conditional: never sent unless synced;
	 * the caller treats the whole as not stored).
	 */
	rc = wm_store(w, text, SPOOL_APPEND_COND, &wt->seq, &rest,
	    &wt->cfirst, &wt->clast, wt->cmac);
	if (rc == 0) {
		wt->next = w->waiters;
		w->waiters = wt;
	}
	pthread_mutex_unlock(&w->lock);
	if (rc != 0) {
		wm_refused(w);
		return (-1);
	}
	eng_wakeup(w->eng);
	/* Group commit: the writer's next fsync covers every waiter. */
	spool_want_sync(w->spool);
	return (1);
}

int
wm_claim_wait(struct wm *w, const char *text)
{
	struct wm_waiter	 wt;
	int			 rc;

	memset(&wt, 0, sizeof(wt));
	if ((rc = wm_register(w, text, &wt)) != 1)
		return (rc);
	pthread_mutex_lock(&w->lock);
	while (!wt.done)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
	return (wt.ok ? 0 : -1);
}

int
wm_claim_durable(struct wm *w, const char *text, wm_synced_fn *fn,
    void *arg)
{
	struct wm_waiter	*wt;
	int			 rc;

	if ((wt = calloc(1, sizeof(*wt))) == NULL)
		return (-1);
	wt->fn = fn;
	wt->arg = arg;
	if ((rc = wm_register(w, text, wt)) != 1)
		free(wt);
	return (rc);
}

void
wm_flush_waiters(struct wm *w, long ms)
{
	struct wm_waiter	*wt, *next, *all;

	/*
	 * From here on claims are synced by whoever appends them. Waiters
	 * registered before are decided by the writer's last pass (which
	 * covers their records) and come back deferred.
	 */
	pthread_mutex_lock(&w->lock);
	w->stopped = 1;
	pthread_mutex_unlock(&w->lock);
	(void)spool_stop_within(w->spool, ms);
	pthread_mutex_lock(&w->lock);
	all = w->deferred;
	w->deferred = NULL;
	/* None should be left; if one is, its fsync never came. */
	for (wt = w->waiters; wt != NULL; wt = next) {
		next = wt->next;
		wt->ok = 0;
		if (wt->fn == NULL) {
			wt->done = 1;
			continue;
		}
		wt->next = all;
		all = wt;
	}
	w->waiters = NULL;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	wm_release(all);
}

void
wm_close_stream(struct wm *w)
{
	wm_checkpoint(w, "stop");
}

int
wm_accepting(struct wm *w)
{
	return (spool_writable(w->spool));
}

void
wm_get_stats(struct wm *w, struct wm_stats *st)
{
	struct spool_stats	 ss;

	pthread_mutex_lock(&w->lock);
	*st = w->stats;
	pthread_mutex_unlock(&w->lock);
	spool_get_stats(w->spool, &ss);
	st->pending = ss.records;
	st->spool_bytes = ss.bytes;
	st->queued = ss.appended;
	st->dropped = ss.dropped;
	st->corrupt = ss.corrupt;
	st->io_errors = ss.io_errors;
	st->syncs = ss.syncs;
	st->spool_writable = ss.writable;
	st->unwritable_s = ss.unwritable_s;
	st->breaker_open = __atomic_load_n(&w->failures, __ATOMIC_RELAXED) >=
	    WM_BREAKER_FAILURES;
	/* inflight is engine-owned; a racy read is fine for a gauge. */
	st->inflight = (size_t)__atomic_load_n(&w->inflight,
	    __ATOMIC_RELAXED);
}

static size_t
wm_on_reply(char *data, size_t size, size_t n, void *arg)
{
	struct wm_send	*s = arg;

	if (buf_append(&s->reply, data, size * n) == -1)
		return (0);
	return (size * n);
}

static void
wm_send_free(struct wm_send *s)
{
	if (s->easy != NULL)
		curl_easy_cleanup(s->easy);
	buf_free(&s->body);
	buf_free(&s->reply);
	free(s);
}

/* Engine thread: keep s for the next claim (a few), else free it. */
static void
wm_send_put(struct wm *w, struct wm_send *s)
{
	if (w->nidle >= WM_IDLE_SENDS || s->easy == NULL) {
		wm_send_free(s);
		return;
	}
	buf_reset(&s->body);
	buf_reset(&s->reply);
	s->next = w->idle;
	w->idle = s;
	w->nidle++;
}

cJSON *
wm_parse_json(const char *body, size_t len)
{
	const char	*end = NULL, *p;
	cJSON		*j;

	if (body == NULL || (j = cJSON_ParseWithLengthOpts(body, len, &end,
	    0)) == NULL)
		return (NULL);
	for (p = end != NULL ? end : body; p < body + len &&
	    (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'); p++)
		;
	if (p != body + len) {
		cJSON_Delete(j);	/* more after the value */
		return (NULL);
	}
	return (j);
}

int
wm_reply_logged(long status, const char *body, size_t len)
{
	cJSON		*j;
	const cJSON	*st;
	int		 ok;

	if (status != 200 || body == NULL)
		return (0);
	if ((j = wm_parse_json(body, len)) == NULL)
		return (0);
	st = cJSON_GetObjectItemCaseSensitive(j, "status");
	ok = cJSON_IsString(st) && strcmp(st->valuestring, "logged") == 0;
	cJSON_Delete(j);
	return (ok);
}

static void
wm_send_done(CURL *easy, CURLcode result, void *arg)
{
	struct wm_send		*s = arg;
	struct wm		*w = s->w;
	const struct config	*c;
	long			 status = 0;
	long			 jitter;
	char			 code[16];

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (result != CURLE_ABORTED_BY_CALLBACK) {
		curl_off_t us = 0;

		curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &us);
		metrics_observe(METRICS_H_WINGMAN, (double)us / 1e6);
	}
	__atomic_sub_fetch(&w->inflight, 1, __ATOMIC_RELAXED);
	if (result == CURLE_OK && wm_reply_logged(status, s->reply.data,
	    s->reply.len)) {
		__atomic_store_n(&w->failures, 0, __ATOMIC_RELAXED);
		spool_ack(w->spool, s->seq);
		pthread_mutex_lock(&w->lock);
		w->stats.sent++;
		pthread_mutex_unlock(&w->lock);
		if (w->backoff_ms != 0)
			log_msg(CFG_LOG_INFO, "wingman log_claim works again",
			    LOG_END);
		w->backoff_ms = 0;
		wm_send_put(w, s);
		return;
	}

	/* Back in the spool, first in line; back off. */
	spool_nack(w->spool, s->seq);
	if (result == CURLE_ABORTED_BY_CALLBACK) {
		wm_send_free(s);
		return;		/* stopping: stays on disk for next start */
	}
	wm_send_put(w, s);
	snprintf(code, sizeof(code), "%ld", status);
	log_msg(w->backoff_ms == 0 ? CFG_LOG_WARN : CFG_LOG_DEBUG,
	    "wingman log_claim failed; claims stay in the spool and are "
	    "retried", "error", result != CURLE_OK ?
	    curl_easy_strerror(result) : "unexpected reply", "status", code,
	    LOG_END);
	pthread_mutex_lock(&w->lock);
	w->stats.retried++;
	pthread_mutex_unlock(&w->lock);
	__atomic_add_fetch(&w->failures, 1, __ATOMIC_RELAXED);

	c = wm_cfg(w);
	if (w->backoff_ms == 0)
		w->backoff_ms = c->claim_retry_initial_ms;
	else if (w->backoff_ms < c->claim_retry_max_ms / 2)
		w->backoff_ms *= 2;
	else
		w->backoff_ms = c->claim_retry_max_ms;
	/* Jitter: wait a random time in [b/2, b]. */
	jitter = w->backoff_ms / 2 > 0 ? random() % (w->backoff_ms / 2 + 1) :
	    0;
	w->retry_at = eng_now_ms() + w->backoff_ms / 2 + jitter;
	eng_timer_add(w->eng, w->backoff_ms / 2 + jitter, wm_tick, w);
}

/*
 * Append s[0..len) as the inside of a JSON string: '"', '\\' and control
 * characters escaped, other bytes as they are (claims are ASCII; a
 * worker_id is the configuration's UTF-8). 0 or -1 (full).
 */
static int
wm_json_str(struct buf *b, const char *p, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	char			 esc[6] = { '\\', 'u', '0', '0', 0, 0 };
	size_t			 i, run = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (buf_append(b, p + run, i - run) == -1)
			return (-1);
		run = i + 1;
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			if (buf_append(b, esc, 2) == -1)
				return (-1);
			esc[1] = 'u';
			continue;
		}
		esc[4] = hex[c >> 4];
		esc[5] = hex[c & 0xf];
		if (buf_append(b, esc, 6) == -1)
			return (-1);
	}
	return (buf_append(b, p + run, len - run));
}

/* The /log_claim body for claim[0..len): {"claim":"...","worker_id":"..."}. */
static int
wm_claim_body(struct buf *b, const char *claim, size_t len,
    const char *worker_id)
{
	if (buf_append_str(b, "{\"claim\":\"") == -1 ||
	    wm_json_str(b, claim, len) == -1 ||
	    buf_append_str(b, "\",\"worker_id\":\"") == -1 ||
	    wm_json_str(b, worker_id, strlen(worker_id)) == -1 ||
	    buf_append_str(b, "\"}") == -1)
		return (-1);
	return (0);
}

/*
 * Engine thread: the claim URL for the running wingman.url (made again
 * only when a reload changed it). NULL when out of memory.
 */
static const char *
wm_claim_url(struct wm *w, const struct config *c)
{
	size_t	 len;
	char	*url, *base;

	if (w->url != NULL && strcmp(w->url_base, c->wingman_url) == 0)
		return (w->url);
	len = strlen(c->wingman_url) + sizeof("/log_claim");
	if ((url = malloc(len)) == NULL)
		return (NULL);
	if ((base = strdup(c->wingman_url)) == NULL) {
		free(url);
		return (NULL);
	}
	snprintf(url, len, "%s/log_claim", c->wingman_url);
	free(w->url);
	free(w->url_base);
	w->url = url;
	w->url_base = base;
	return (url);
}

/* A send with its easy handle set up for claim posts, or NULL. */
static struct wm_send *
wm_send_get(struct wm *w)
{
	struct wm_send	*s;

	if ((s = w->idle) != NULL) {
		w->idle = s->next;
		w->nidle--;
		return (s);
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (NULL);
	s->w = w;
	buf_init(&s->body, SPOOL_MAX_RECORD * 6 + 1024);
	buf_init(&s->reply, WM_MAX_REPLY);
	if ((s->easy = curl_easy_init()) == NULL) {
		free(s);
		return (NULL);
	}
	curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->easy, CURLOPT_QUICK_EXIT, 1L);
	curl_easy_setopt(s->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, w->headers);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, wm_on_reply);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
	return (s);
}

/* Post one spooled claim. Takes claim (freed here). */
static int
wm_start_send(struct wm *w, uint64_t seq, char *claim, size_t len)
{
	const struct config	*c = wm_cfg(w);
	const char		*url;
	struct wm_send		*s;

	if (w->headers == NULL) {
		struct curl_slist	*l;

		if ((l = curl_slist_append(NULL,
		    "Content-Type: application/json")) == NULL)
			goto out_nack;
		if ((w->headers = curl_slist_append(l, "Expect:")) == NULL) {
			curl_slist_free_all(l);
			goto out_nack;
		}
	}
	if ((url = wm_claim_url(w, c)) == NULL || (s = wm_send_get(w)) ==
	    NULL)
		goto out_nack;
	s->seq = seq;
	if (wm_claim_body(&s->body, claim, len, c->worker_id) == -1) {
		wm_send_put(w, s);
		goto out_nack;
	}
	free(claim);
	claim = NULL;
	/* Per send: a reload may change the URL and the timeout. */
	curl_easy_setopt(s->easy, CURLOPT_URL, url);
	curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, c->wingman_timeout_ms);
	curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    c->wingman_timeout_ms);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body.data);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)s->body.len);
	if (eng_submit(w->eng, s->easy, wm_send_done, s) == -1) {
		wm_send_put(w, s);
		goto out_nack;
	}
	__atomic_add_fetch(&w->inflight, 1, __ATOMIC_RELAXED);
	return (0);

out_nack:
	free(claim);
	spool_nack(w->spool, seq);
	return (-1);
}

/* Engine thread: start sends while there is room and no backoff. */
static void
wm_tick(void *arg)
{
	struct wm	*w = arg;
	uint64_t	 seq;
	size_t		 len, max;
	char		*claim;
	int		 rc = 0;

	if (eng_stopping(w->eng) || eng_now_ms() < w->retry_at)
		return;
	/* Breaker open: one probe at a time until Wingman answers again. */
	max = __atomic_load_n(&w->failures, __ATOMIC_RELAXED) >=
	    WM_BREAKER_FAILURES ? 1 : wm_cfg(w)->claim_max_inflight;
	while ((size_t)__atomic_load_n(&w->inflight, __ATOMIC_RELAXED) <
	    max && (rc = spool_next(w->spool, &seq, &claim, &len)) == 1) {
		if (wm_start_send(w, seq, claim, len) == -1)
			break;
	}
	/* Records that cannot be read now: they stay; look again soon. */
	if (rc == SPOOL_RETRY)
		eng_timer_add(w->eng, WM_READ_RETRY_MS, wm_tick, w);
}

struct wm_callctx {
	wm_reply_fn		*fn;
	void			*arg;
	struct curl_slist	*headers;
	char			*body;
	char			*url;
	struct buf		 reply;
	int			 text;		/* wm_call_text(): not parsed */
};

static size_t
wm_call_on_reply(char *data, size_t size, size_t n, void *arg)
{
	struct wm_callctx	*c = arg;

	if (buf_append(&c->reply, data, size * n) == -1)
		return (0);
	return (size * n);
}

static void
wm_callctx_free(struct wm_callctx *c)
{
	curl_slist_free_all(c->headers);
	free(c->body);
	free(c->url);
	buf_free(&c->reply);
	free(c);
}

static void
wm_call_done(CURL *easy, CURLcode result, void *arg)
{
	struct wm_callctx	*c = arg;
	struct wm_reply		 r;
	cJSON			*json = NULL;

	memset(&r, 0, sizeof(r));
	r.result = result;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
	if (result != CURLE_ABORTED_BY_CALLBACK) {
		curl_off_t us = 0;

		curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &us);
		metrics_observe(METRICS_H_WINGMAN, (double)us / 1e6);
	}
	curl_easy_cleanup(easy);
	if (result == CURLE_OK && c->reply.data != NULL) {
		r.body = c->reply.data;
		r.len = c->reply.len;
		if (c->text)
			r.text = &c->reply;
		else
			json = wm_parse_json(c->reply.data, c->reply.len);
	}
	r.json = json;
	c->fn(&r, c->arg);
	cJSON_Delete(json);
	wm_callctx_free(c);
}

static int	 wm_call_opt(struct wm *, const struct config *,
		    const char *, const char *, const char *, const char *,
		    const char *, size_t, int, wm_reply_fn *, void *);

int
wm_call(struct wm *w, const struct config *cfg, const char *method,
    const char *path, const char *body, const char *key_header,
    const char *key_value, wm_reply_fn *fn, void *arg)
{
	return (wm_call_opt(w, cfg, method, path, body, key_header, key_value,
	    WM_MAX_REPLY, 0, fn, arg));
}

int
wm_call_text(struct wm *w, const struct config *cfg, const char *method,
    const char *path, const char *body, const char *key_header,
    const char *key_value, size_t max_reply, wm_reply_fn *fn, void *arg)
{
	return (wm_call_opt(w, cfg, method, path, body, key_header, key_value,
	    max_reply, 1, fn, arg));
}

static int
wm_call_opt(struct wm *w, const struct config *cfg, const char *method,
    const char *path, const char *body, const char *key_header,
    const char *key_value, size_t max_reply, int text, wm_reply_fn *fn,
    void *arg)
{
	struct wm_callctx	*c;
	struct curl_slist	*l;
	struct buf		 line;
	CURL			*easy;
	size_t			 len;

	if (cfg == NULL)
		cfg = wm_cfg(w);	/* one snapshot */
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (-1);
	c->fn = fn;
	c->arg = arg;
	c->text = text;
	buf_init(&c->reply, max_reply);
	len = strlen(cfg->wingman_url) + strlen(path) + 1;
	if ((c->url = malloc(len)) == NULL)
		goto out_free_ctx;
	snprintf(c->url, len, "%s%s", cfg->wingman_url, path);
	if (body != NULL && (c->body = strdup(body)) == NULL)
		goto out_free_ctx;
	if ((l = curl_slist_append(NULL, "Content-Type: application/json")) ==
	    NULL)
		goto out_free_ctx;
	c->headers = l;
	if ((l = curl_slist_append(c->headers, "Expect:")) == NULL)
		goto out_free_ctx;
	c->headers = l;
	if (key_header != NULL && key_value != NULL) {
		buf_init(&line, 8192);
		if (buf_printf(&line, "%s: %s", key_header, key_value) == -1 ||
		    (l = curl_slist_append(c->headers, line.data)) == NULL) {
			buf_free(&line);
			goto out_free_ctx;
		}
		buf_free(&line);
		c->headers = l;
	}
	if ((easy = curl_easy_init()) == NULL)
		goto out_free_ctx;
	curl_easy_setopt(easy, CURLOPT_URL, c->url);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_QUICK_EXIT, 1L);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, cfg->wingman_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
	    cfg->wingman_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, wm_call_on_reply);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, c);
	if (c->body != NULL)
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, c->body);
	if (strcmp(method, "GET") != 0 || c->body != NULL)
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
	if (eng_submit(w->eng, easy, wm_call_done, c) == -1) {
		curl_easy_cleanup(easy);
		goto out_free_ctx;
	}
	return (0);

out_free_ctx:
	wm_callctx_free(c);
	return (-1);
}

void
wm_destroy(struct wm *w)
{
	struct wm_send	*s;

	if (w == NULL)
		return;
	wm_flush_waiters(w, -1);
	spool_close(w->spool);
	/* After the writer's last pass: the chain as the spool left it. */
	if (chain_save(w->chain) == -1)
		log_msg(CFG_LOG_WARN, "chain: state not saved at exit (the "
		    "next start reads it back from the spool)", LOG_END);
	chain_close(w->chain);
	while ((s = w->idle) != NULL) {
		w->idle = s->next;
		wm_send_free(s);
	}
	curl_slist_free_all(w->headers);
	free(w->url);
	free(w->url_base);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	pthread_mutex_destroy(&w->seal);
	free(w);
}
