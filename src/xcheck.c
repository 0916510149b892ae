/*
 * xcheck: check, archive and verify exports off the request threads. See
 * xcheck.h for the decisions and the threads.
 *
 * One job per export: submitted by the front (engine thread, from the
 * upstream done callback), run by the worker thread, finished either
 * there or, when Wingman is asked, in the /verify callback on the engine
 * thread. A job is freed right after its done callback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "archive.h"
#include "buf.h"
#include "claim.h"
#include "export.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"
#include "xcheck.h"

struct xcheck_job {
	struct xcheck		*x;
	const struct config	*cfg;		/* in force at submit */
	struct xcheck_request	 rq;
	xcheck_done_fn		*done;
	void			*arg;
	struct xcheck_outcome	 o;
};

struct xcheck {
	const struct config	*cfg;
	struct wm		*wm;
	struct wk		*worker;	/* checks and file writes */
};

/* Hand the outcome over and free the job. */
static void
xcheck_finish(struct xcheck_job *j)
{
	j->done(&j->o, j->arg);
	free(j->o.path);
	free(j);
}

static void
xcheck_release(struct xcheck_job *j)
{
	j->o.release = 1;
	xcheck_finish(j);
}

static void
xcheck_refuse(struct xcheck_job *j, int status, const char *error,
    const char *message)
{
	j->o.release = 0;
	j->o.status = status;
	j->o.error = error;
	j->o.message = message;
	xcheck_finish(j);
}

/*
 * Claim "{verb} file PATH". wait: on disk before returning (the worker
 * thread only), else written to the kernel (or to the log for replay).
 * 0 or -1.
 */
static int
xcheck_claim_file(struct xcheck_job *j, const char *verb, int wait)
{
	struct buf	 text;
	int		 rc = -1;

	buf_init(&text, CLAIM_MAX + 256);
	if (claim_build_file(&text, j->rq.route, j->rq.method, verb,
	    j->o.path, j->rq.request_id) == 0)
		rc = wait ? wm_claim_wait(j->x->wm, text.data) :
		    wm_claim(j->x->wm, text.data);
	else
		log_msg(CFG_LOG_ERROR, "claim could not be built",
		    "request_id", j->rq.request_id, LOG_END);
	buf_free(&text);
	return (rc);
}

/* The export is refused after its file was written: remove the file. */
static void
xcheck_drop_file(struct xcheck_job *j)
{
	if (j->o.path == NULL)
		return;
	if (archive_remove(j->o.path) == -1) {
		log_msg(CFG_LOG_ERROR, "export archive: cannot remove a "
		    "refused export", "request_id", j->rq.request_id,
		    "detail", strerror(errno), LOG_END);
		return;
	}
	(void)xcheck_claim_file(j, "Removed", 0);
}

/* Worker: remove the refused export's file, then answer. */
static void
xcheck_drop_run(void *arg, int cancelled)
{
	struct xcheck_job	*j = arg;

	(void)cancelled;	/* the file goes either way */
	xcheck_drop_file(j);
	xcheck_finish(j);
}

/*
 * Refuse an export whose file may be written, from the engine thread:
 * the unlink runs on the worker (never on the engine thread), or here
 * when the worker is gone (shutdown).
 */
static void
xcheck_refuse_drop(struct xcheck_job *j, int status, const char *error,
    const char *message)
{
	j->o.release = 0;
	j->o.status = status;
	j->o.error = error;
	j->o.message = message;
	if (j->o.path == NULL ||
	    wk_submit(j->x->worker, xcheck_drop_run, j) == -1)
		xcheck_drop_run(j, 1);
}

/* /verify answered (engine thread, or the stopping thread). */
static void
xcheck_verified(const struct wm_reply *r, void *arg)
{
	struct xcheck_job	*j = arg;
	const struct config	*cfg = j->cfg;
	const cJSON		*v = NULL;
	const char		*verdict = NULL;
	char			 why[64];

	if (r->result == CURLE_ABORTED_BY_CALLBACK) {
		xcheck_refuse_drop(j, 503, "shutting_down",
		    "the proxy is shutting down; retry");
		return;
	}
	if (r->result == CURLE_OK && r->status == 200 &&
	    cJSON_IsObject(r->json))
		v = cJSON_GetObjectItemCaseSensitive(r->json, "verdict");
	if (cJSON_IsString(v))
		verdict = v->valuestring;
	if (verdict != NULL && strcmp(verdict, "TRUE") == 0) {
		metrics_export(METRICS_E_PASSED);
		xcheck_release(j);
		return;
	}
	if (verdict != NULL && strcmp(verdict, "FALSE") == 0) {
		log_msg(CFG_LOG_WARN, "export refused: Wingman's verdict is "
		    "FALSE", "request_id", j->rq.request_id, LOG_END);
		metrics_export(METRICS_E_VERIFY_FAILED);
		xcheck_refuse_drop(j, 502, "export_verification_failed",
		    "Wingman could not verify the archived export; it was "
		    "not sent");
		return;
	}
	if (verdict != NULL && strcmp(verdict, "UNVERIFIABLE") == 0) {
		if (!cfg->export_require_verified) {
			metrics_export(METRICS_E_PASSED);
			xcheck_release(j);
			return;
		}
		log_msg(CFG_LOG_WARN, "export refused: Wingman's verdict is "
		    "UNVERIFIABLE and export.require_verified is set",
		    "request_id", j->rq.request_id, LOG_END);
		metrics_export(METRICS_E_VERIFY_FAILED);
		xcheck_refuse_drop(j, 502, "export_unverifiable",
		    "Wingman could not tell whether the archived export "
		    "exists; it was not sent");
		return;
	}
	/* No usable answer: Wingman is unavailable for this export. */
	if (r->result != CURLE_OK)
		snprintf(why, sizeof(why), "%s", curl_easy_strerror(r->result));
	else if (r->status != 200)
		snprintf(why, sizeof(why), "status %ld", r->status);
	else
		snprintf(why, sizeof(why), "no verdict in the answer");
	if (cfg->export_fail_open) {
		log_msg(CFG_LOG_WARN, "export released unverified "
		    "(export.fail_open): Wingman unavailable", "request_id",
		    j->rq.request_id, "detail", why, LOG_END);
		metrics_export(METRICS_E_FAIL_OPEN);
		j->o.unverified = 1;
		xcheck_release(j);
		return;
	}
	log_msg(CFG_LOG_WARN, "export refused: Wingman unavailable for "
	    "/verify", "request_id", j->rq.request_id, "detail", why, LOG_END);
	metrics_export(METRICS_E_UNAVAILABLE);
	xcheck_refuse_drop(j, 503, "wingman_unavailable",
	    "Wingman cannot verify the export now; it was not sent. Retry "
	    "later.");
}

/* Archive the checked body and ask Wingman about it (worker thread). */
static void
xcheck_archive(struct xcheck_job *j)
{
	const struct config	*cfg = j->cfg;
	const char		*base;
	cJSON			*body;
	char			*text = NULL, err[256], n[32];
	struct buf		 claim;
	long			 removed;

	if (archive_write(cfg->export_archive_dir, j->rq.request_id,
	    j->rq.body, j->rq.len, &j->o.path, err, sizeof(err)) == -1) {
		log_msg(CFG_LOG_ERROR, "export archive: cannot write",
		    "request_id", j->rq.request_id, "detail", err, LOG_END);
		metrics_export(METRICS_E_UNAVAILABLE);
		xcheck_refuse(j, 500, "export_archive_failed",
		    "the export could not be archived; it was not sent");
		return;
	}
	base = strrchr(j->o.path, '/');
	removed = archive_prune(cfg->export_archive_dir,
	    cfg->export_archive_max_files, base != NULL ? base + 1 : NULL,
	    err, sizeof(err));
	if (removed == -1)
		log_msg(CFG_LOG_WARN, "export archive: retention failed",
		    "detail", err, LOG_END);
	else if (removed > 0 && log_enabled(CFG_LOG_DEBUG)) {
		snprintf(n, sizeof(n), "%ld", removed);
		log_msg(CFG_LOG_DEBUG, "export archive: old files removed",
		    "count", n, LOG_END);
	}
	/* Nothing happens unaudited: no "Created file" claim, no export. */
	if (xcheck_claim_file(j, "Created", 1) == -1) {
		metrics_export(METRICS_E_UNAVAILABLE);
		if (archive_remove(j->o.path) == -1)
			log_msg(CFG_LOG_ERROR, "export archive: cannot remove "
			    "a refused export", "request_id",
			    j->rq.request_id, LOG_END);
		xcheck_refuse(j, 503, "audit_unavailable", "the audit spool "
		    "cannot take claims now (full or not writable); retry "
		    "later");
		return;
	}
	buf_init(&claim, CLAIM_MAX + 256);
	if (buf_printf(&claim, "Created file %s", j->o.path) == 0 &&
	    (body = cJSON_CreateObject()) != NULL) {
		if (cJSON_AddStringToObject(body, "claim", claim.data) != NULL)
			text = cJSON_PrintUnformatted(body);
		cJSON_Delete(body);
	}
	buf_free(&claim);
	if (text == NULL || wm_call(j->x->wm, j->cfg, "POST", "/verify", text,
	    NULL, NULL, xcheck_verified, j) == -1) {
		free(text);
		xcheck_drop_file(j);
		xcheck_refuse(j, 503, "shutting_down",
		    "the proxy cannot verify exports now; retry");
		return;
	}
	free(text);
}

/* One export, start to finish or to the /verify call (worker thread). */
static void
xcheck_run(void *arg, int cancelled)
{
	struct xcheck_job	*j = arg;
	struct export_result	 res;
	char			 count[32], foreign[32];
	int			 search = export_is_search(j->rq.route);

	if (cancelled) {
		xcheck_refuse(j, 503, "shutting_down",
		    "the proxy is shutting down; retry");
		return;
	}
	export_check(j->rq.route, j->rq.status, j->rq.body, j->rq.len, &res);
	j->o.count = res.count;
	j->o.foreign = res.foreign;
	snprintf(count, sizeof(count), "%ld", res.count);
	snprintf(foreign, sizeof(foreign), "%ld", res.foreign);
	switch (res.verdict) {
	case EXPORT_OK:
		break;
	case EXPORT_UPSTREAM_ERROR:
		/* The front only submits 2xx; pass anything else through. */
		xcheck_release(j);
		return;
	case EXPORT_SCOPE_VIOLATION:
		log_msg(CFG_LOG_WARN, search ? "search results blocked: "
		    "memories of entities the request did not name" :
		    "export blocked: memories of entities the request did not "
		    "name", "request_id", j->rq.request_id, "count", count,
		    "foreign", foreign, "detail", res.detail, LOG_END);
		metrics_export(METRICS_E_SCOPE_VIOLATION);
		if (search)
			xcheck_refuse(j, 502, "search_scope_violation",
			    "the search results hold memories of entities the "
			    "request did not name (or none at all); they were "
			    "not sent");
		else
			xcheck_refuse(j, 502, "export_scope_violation",
			    "the export holds memories of entities the request "
			    "did not name; it was not sent");
		return;
	case EXPORT_MALFORMED:
	default:
		log_msg(CFG_LOG_WARN, "export blocked: malformed",
		    "request_id", j->rq.request_id, "detail", res.detail,
		    LOG_END);
		metrics_export(METRICS_E_MALFORMED);
		xcheck_refuse(j, 502, "export_malformed",
		    "Mem0's export is not JSON of a known shape; it was not "
		    "sent");
		return;
	}
	/* Search results are checked, never archived. */
	if (j->cfg->export_archive_dir == NULL || search) {
		metrics_export(METRICS_E_PASSED);
		xcheck_release(j);
		return;
	}
	xcheck_archive(j);
}

struct xcheck *
xcheck_create(const struct config *cfg, struct wm *wm)
{
	struct xcheck	*x;

	if ((x = calloc(1, sizeof(*x))) == NULL)
		return (NULL);
	x->cfg = cfg;
	x->wm = wm;
	if ((x->worker = wk_create("export check")) == NULL) {
		free(x);
		return (NULL);
	}
	return (x);
}

int
xcheck_submit(struct xcheck *x, const struct xcheck_request *rq,
    xcheck_done_fn *done, void *arg)
{
	struct xcheck_job	*j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return (-1);
	j->x = x;
	/* A reload changes later exports, never one under way. */
	if ((j->cfg = cfg_live()) == NULL)
		j->cfg = x->cfg;
	j->rq = *rq;
	j->done = done;
	j->arg = arg;
	j->o.count = -1;
	if (wk_submit(x->worker, xcheck_run, j) == -1) {
		free(j);
		return (-1);
	}
	return (0);
}

void
xcheck_destroy(struct xcheck *x)
{
	if (x == NULL)
		return;
	wk_destroy(x->worker);		/* queued exports: 503 */
	free(x);
}
