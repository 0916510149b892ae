/*
 * proxy: one request's pipeline. See proxy.h.
 *
 * The stages, and who moves a request from one to the next:
 *   PROXY_BODY → proxy_start(): checks, then PROXY_GATE (gated) or
 *                PROXY_UPSTREAM (suspended; the engine talks to Mem0)
 *   PROXY_GATE → the gate's decision (engine thread): PROXY_UPSTREAM
 *                (approved, the same suspension goes on) or PROXY_REFUSED
 *   PROXY_UPSTREAM → Mem0 answered (engine thread): PROXY_EXPORT_CHECK
 *                (a 2xx export) or PROXY_ANSWER
 *   PROXY_EXPORT_CHECK → the check (its worker): PROXY_ANSWER (released)
 *                or PROXY_REFUSED
 *   resumed (proxy_resumed(), engine thread): PROXY_ANSWER and
 *                PROXY_REFUSED build the answer and its claim; an answer
 *                whose claim must be on disk first (proxy_durable())
 *                waits in PROXY_CLAIM_SYNC for the spool's next fsync,
 *                then goes; every answer ends in PROXY_REPLIED.
 * A stage is written only by the thread that then resumes the request,
 * before it does: the resume orders it for the engine thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "claim.h"
#include "export.h"
#include "front.h"
#include "gate.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "route.h"
#include "upstream.h"
#include "xcheck.h"

#define PROXY_RETRY_AFTER_S	5

struct proxy {
	struct eng		*eng;
	struct wm		*wm;
	struct gate		*gate;
	const struct anon	*anon;
	struct xcheck		*xcheck;	/* export check */
	size_t			 inflight;	/* atomic: suspended requests */
	int			 upstream_down;	/* atomic: last exchange could
						   not reach Mem0 */
};

struct proxy *
proxy_create(const struct config *cfg, struct eng *eng, struct wm *wm,
    struct gate *gate, const struct anon *anon)
{
	struct proxy	*px;

	if ((px = calloc(1, sizeof(*px))) == NULL)
		return (NULL);
	px->eng = eng;
	px->wm = wm;
	px->gate = gate;
	px->anon = anon;
	if ((px->xcheck = xcheck_create(cfg, wm)) == NULL) {
		free(px);
		return (NULL);
	}
	return (px);
}

void
proxy_stop(struct proxy *px)
{
	if (px == NULL)
		return;
	xcheck_destroy(px->xcheck);
	px->xcheck = NULL;
}

void
proxy_free(struct proxy *px)
{
	if (px == NULL)
		return;
	xcheck_destroy(px->xcheck);
	free(px);
}

size_t
proxy_inflight(struct proxy *px)
{
	return (__atomic_load_n(&px->inflight, __ATOMIC_RELAXED));
}

int
proxy_upstream_down(struct proxy *px)
{
	return (__atomic_load_n(&px->upstream_down, __ATOMIC_RELAXED));
}

/* Suspend q in stage (it waits for another thread or the network). */
static void
proxy_suspend(struct proxy_req *q, enum proxy_stage stage)
{
	q->stage = stage;
	__atomic_add_fetch(&q->px->inflight, 1, __ATOMIC_RELAXED);
	front_suspend(q);
}

/* An export's claim: what the check found, the archive file. */
static int
proxy_claim_export(struct proxy_req *q, struct buf *text, int status,
    const char *error)
{
	struct claim_export	 x;

	x.path = q->xo.path;
	x.count = q->xo.count;
	x.foreign = q->xo.foreign;
	return (claim_build_export(text, &q->route, q->px->anon, q->method,
	    status, error, &x, q->request_id));
}

/* The claim of q (status known) into text. 0, or -1 (logged). */
static int
proxy_claim_text(struct proxy_req *q, struct buf *text, int status,
    const char *error)
{
	int	 rc;

	if (q->export)
		rc = proxy_claim_export(q, text, status, error);
	else
		rc = claim_build(text, &q->route, q->px->anon, q->method,
		    status, error, q->approval_id[0] != '\0' ?
		    q->approval_id : NULL, q->request_id);
	if (rc == -1)
		log_msg(CFG_LOG_ERROR, "claim could not be built",
		    "request_id", q->request_id, LOG_END);
	return (rc);
}

/*
 * Claim a request whose answer does not wait: appended to the spool, or,
 * when the spool refuses it, written to the log for replay (wm_claim()).
 */
static void
proxy_claim(struct proxy_req *q, int status, const char *error)
{
	struct buf	 text;

	if (!q->routed)
		return;
	buf_init(&text, CLAIM_SET_MAX);
	if (proxy_claim_text(q, &text, status, error) == 0)
		(void)wm_claim(q->px->wm, text.data);
	buf_free(&text);
}

/*
 * Which answers wait for their claim to be on disk: exports (the body
 * has not left: without a stored claim it never does), gated requests
 * (their claim says what was deleted, under which approval), and every
 * request under spool.fsync: always.
 */
static int
proxy_durable(struct proxy_req *q)
{
	return (q->routed && (q->export || gate_applies(q->cfg,
	    &q->route) || q->cfg->spool_fsync == CFG_FSYNC_ALWAYS));
}

static void
proxy_log_request(const struct proxy_req *q, int status, const char *error,
    size_t bytes_out)
{
	char	 st[16], ms[32], in[32], out[32], up[32];

	if (q->routed)
		metrics_request(q->route.kind, status);
	if (!log_enabled(CFG_LOG_INFO))
		return;
	snprintf(st, sizeof(st), "%d", status);
	snprintf(ms, sizeof(ms), "%lld", eng_now_ms() - q->t_start);
	snprintf(in, sizeof(in), "%zu", q->body_seen);
	snprintf(out, sizeof(out), "%zu", bytes_out);
	if (q->up_us >= 0)
		snprintf(up, sizeof(up), "%lld.%03lld", q->up_us / 1000,
		    q->up_us % 1000);
	log_msg(CFG_LOG_INFO, "request", "request_id", q->request_id,
	    "client_request_id_hash", q->client_rid_hash[0] != '\0' ?
	    q->client_rid_hash : NULL,
	    "method", q->routed ? q->method : NULL,
	    "kind", q->routed ? route_kind_name(q->route.kind) : "none",
	    "dialect", q->routed ? route_dialect_name(q->route.dialect) : NULL,
	    "status", st, "error", error, "duration_ms", ms,
	    "upstream_ms", q->up_us >= 0 ? up : NULL, "bytes_in", in,
	    "bytes_out", out, LOG_END);
}

/* Engine thread: the claim is on disk (or its fsync failed). */
static void
proxy_synced(void *arg, int ok)
{
	struct proxy_req	*q = arg;

	q->audit_ok = ok;
	front_resume(q);
}


/*
 * Send resp (taken) with status: log, claim, then queue it. For the
 * answers that wait for their claim (proxy_durable()) the connection is
 * suspended first (so the resume can never come before the suspend) and
 * resumed by the spool writer's next fsync, shared by every answer
 * waiting for it; no thread waits.
 */
static enum MHD_Result
proxy_release(struct proxy_req *q, struct MHD_Response *resp,
    unsigned int status, const char *error, size_t bytes_out)
{
	struct buf	 text;
	enum MHD_Result	 ret;
	int		 rc, claimed;

	/* Claimed already: an answer that replaces a held one. */
	claimed = q->stage == PROXY_CLAIM_SYNC;
	if (claimed || !proxy_durable(q)) {
		proxy_log_request(q, (int)status, error, bytes_out);
		if (!claimed)
			proxy_claim(q, (int)status, error);
		ret = front_queue(q, status, resp);
		MHD_destroy_response(resp);
		q->stage = PROXY_REPLIED;
		return (ret);
	}
	q->held_resp = resp;
	q->held_status = status;
	q->held_error = error;
	q->held_bytes = bytes_out;
	q->audit_ok = 1;
	proxy_suspend(q, PROXY_CLAIM_SYNC);
	buf_init(&text, CLAIM_SET_MAX);
	if (proxy_claim_text(q, &text, (int)status, error) == 0) {
		rc = wm_claim_durable(q->px->wm, text.data, proxy_synced, q);
		q->claim_text = buf_steal(&text);
	} else
		rc = -1;	/* no claim: treated as not stored */
	buf_free(&text);
	if (rc == -1)
		q->audit_ok = 0;
	if (rc != 1)
		front_resume(q);	/* nothing to wait for */
	return (MHD_YES);
}

/* Log and send the held answer. */
static enum MHD_Result
proxy_queue_held(struct proxy_req *q)
{
	enum MHD_Result	 ret;

	proxy_log_request(q, (int)q->held_status, q->held_error,
	    q->held_bytes);
	ret = front_queue(q, q->held_status, q->held_resp);
	MHD_destroy_response(q->held_resp);
	q->held_resp = NULL;
	q->stage = PROXY_REPLIED;
	return (ret);
}

/*
 * The claim of a held answer could not be stored. An export is refused
 * (its body never leaves; the refusal is claimed). A gated request that
 * Mem0 carried out: its claim goes to the log for replay, and the client
 * learns that the audit failed. A gated request refused before Mem0, or
 * anything else (spool.fsync: always, already done at Mem0): logged for
 * replay, the answer goes.
 */
static enum MHD_Result
proxy_audit_failed(struct proxy_req *q)
{
	if (q->export) {
		MHD_destroy_response(q->held_resp);
		q->held_resp = NULL;
		proxy_claim(q, 503, "audit_unavailable");
		return (proxy_refuse(q, 503, "audit_unavailable",
		    "the audit spool cannot store this export's claim, so it "
		    "was not sent; retry later"));
	}
	if (q->claim_text != NULL)
		wm_fallback(q->px->wm, q->claim_text, "spool write failed");
	if (gate_applies(q->cfg, &q->route) && q->forwarded) {
		MHD_destroy_response(q->held_resp);
		q->held_resp = NULL;
		return (proxy_refuse(q, 503, "audit_unavailable",
		    "Mem0 carried out the request, but the audit spool could "
		    "not store its claim (the proxy logged it for replay); "
		    "check before repeating it"));
	}
	/* Not forwarded (a refusal), or already done: the answer goes. */
	return (proxy_queue_held(q));
}

/* PROXY_CLAIM_SYNC, resumed: queue the held answer. */
static enum MHD_Result
proxy_send_held(struct proxy_req *q)
{
	if (!q->audit_ok)
		return (proxy_audit_failed(q));
	return (proxy_queue_held(q));
}

/*
 * Queue q->deny as the answer: its JSON body with "request_id" added,
 * Retry-After and X-Approval-Id when set; then log and claim.
 */
static enum MHD_Result
proxy_send_deny(struct proxy_req *q)
{
	struct MHD_Response	*resp;
	char			*text = NULL;
	char			 ra[16];

	if (q->deny.body != NULL) {
		cJSON_AddStringToObject(q->deny.body, "request_id",
		    q->request_id);
		text = cJSON_PrintUnformatted(q->deny.body);
		cJSON_Delete(q->deny.body);
		q->deny.body = NULL;
	}
	if (text == NULL)
		return (MHD_NO);
	resp = MHD_create_response_from_buffer(strlen(text), text,
	    MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return (MHD_NO);
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "X-Request-Id", q->request_id);
	if (q->deny.retry_after > 0) {
		snprintf(ra, sizeof(ra), "%d", q->deny.retry_after);
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	if (q->approval_id[0] != '\0')
		MHD_add_response_header(resp, "X-Approval-Id", q->approval_id);
	return (proxy_release(q, resp, (unsigned int)q->deny.status,
	    q->deny.error, 0));
}

/* Make q->deny a JSON error {"error":code,"message":msg}. */
static void
proxy_set_deny(struct proxy_req *q, int status, const char *error,
    const char *message)
{
	cJSON_Delete(q->deny.body);
	memset(&q->deny, 0, sizeof(q->deny));
	q->deny.decision = GATE_DENY;
	q->deny.status = status;
	q->deny.error = error;
	q->deny.retry_after = status == 503 ? PROXY_RETRY_AFTER_S : 0;
	if ((q->deny.body = cJSON_CreateObject()) != NULL) {
		cJSON_AddStringToObject(q->deny.body, "error", error);
		cJSON_AddStringToObject(q->deny.body, "message", message);
	}
}

/*
 * Queue a JSON error {"error":code,"message":msg,"request_id":id}.
 * 503 carries Retry-After.
 */
enum MHD_Result
proxy_refuse(struct proxy_req *q, unsigned int status, const char *code,
    const char *msg)
{
	proxy_set_deny(q, (int)status, code, msg);
	return (proxy_send_deny(q));
}

/* Classify what we know, for claims of requests refused early. */
int
proxy_route(struct proxy_req *q)
{
	const struct config	*cfg = q->cfg;
	char			*query;
	int			 rc;

	if (q->routed)
		return (0);
	query = strchr(q->target, '?');
	if (query != NULL)
		*query = '\0';
	rc = route_classify(&q->route, q->method, q->target,
	    query != NULL ? query + 1 : NULL, q->body.data, q->body.len,
	    MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND,
	    "Content-Type"), cfg->dialect);
	if (query != NULL)
		*query = '?';
	q->routed = 1;		/* even on -1: route_free() is safe */
	/*
	 * Exports are checked (xcheck.h) and claimed as exports, refused
	 * early or not. HEAD has no body to check (curl reads none for
	 * exactly "HEAD").
	 */
	q->export = rc == 0 && cfg->export_enabled &&
	    strcmp(q->method, "HEAD") != 0 && (export_is_export(&q->route) ||
	    (cfg->export_check_search && export_is_search(&q->route)));
	q->xo.count = -1;
	return (rc);
}

struct proxy_hdr_ctx {
	struct proxy_req	*q;
	const char		*connection;
	int			 failed;
};

static enum MHD_Result
proxy_copy_header(void *cls, enum MHD_ValueKind kind, const char *name,
    const char *value)
{
	struct proxy_hdr_ctx	*h = cls;

	(void)kind;
	if (up_add_header(h->q->up, name, value, h->connection) == -1) {
		h->failed = 1;
		return (MHD_NO);
	}
	return (MHD_YES);
}

static void	 proxy_fail_suspended(struct proxy_req *q, int status,
		    const char *error, const char *message);

/* The export check decided (worker or engine thread). */
static void
proxy_export_done(struct xcheck_outcome *o, void *arg)
{
	struct proxy_req	*q = arg;

	q->xo = *o;		/* takes the path */
	o->path = NULL;
	if (o->release) {
		q->stage = PROXY_ANSWER;
		front_resume(q);
	} else
		proxy_fail_suspended(q, o->status, o->error, o->message);
}

/*
 * A 2xx export is in (engine thread): check it before the client sees
 * it. Returns 0 when the check (or its refusal) resumes the connection,
 * -1 when the answer goes back as it is.
 */
static int
proxy_export_start(struct proxy_req *q)
{
	struct xcheck_request	 rq;

	if (q->up->error != UP_OK || q->up->status < 200 || q->up->status > 299)
		return (-1);
	rq.route = &q->route;
	rq.method = q->method;
	rq.request_id = q->request_id;
	rq.status = (int)q->up->status;
	rq.body = q->up->body.data != NULL ? q->up->body.data : "";
	rq.len = q->up->body.len;
	q->stage = PROXY_EXPORT_CHECK;
	if (xcheck_submit(q->px->xcheck, &rq, proxy_export_done, q) == -1)
		proxy_fail_suspended(q, 503, "shutting_down",
		    "the proxy cannot check exports now; retry");
	return (0);
}

static void
proxy_up_done(CURL *easy, CURLcode result, void *arg)
{
	struct proxy_req	*q = arg;
	curl_off_t		 us = 0;

	up_exchange_done(q->up, result);
	if (result != CURLE_ABORTED_BY_CALLBACK) {
		curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &us);
		metrics_observe(METRICS_H_UPSTREAM, (double)us / 1e6);
		q->up_us = (long long)us;
		__atomic_store_n(&q->px->upstream_down,
		    q->up->error == UP_UNREACHABLE, __ATOMIC_RELAXED);
	}
	if (q->export && proxy_export_start(q) == 0)
		return;
	q->stage = PROXY_ANSWER;
	front_resume(q);
}

/* Build the upstream exchange (on the thread that runs q's daemon: its
 * headers are read here). */
static int
proxy_prepare(struct proxy_req *q)
{
	const struct config	*cfg = q->cfg;
	struct proxy_hdr_ctx	 h;
	const char		*xff;
	char			*xff_new = NULL;
	size_t			 len;
	int			 has_body, rc;

	has_body = q->has_body || strcmp(q->method, "POST") == 0 ||
	    strcmp(q->method, "PUT") == 0 || strcmp(q->method, "PATCH") == 0;
	if ((q->up = calloc(1, sizeof(*q->up))) == NULL)
		return (-1);
	if (up_exchange_init(q->up, cfg->upstream_url, q->method, q->target,
	    q->body.data, q->body.len, has_body,
	    cfg->upstream_connect_timeout_ms, cfg->upstream_timeout_ms,
	    q->export ? cfg->export_max_bytes : cfg->max_response_bytes) == -1) {
		free(q->up);
		q->up = NULL;
		return (-1);
	}
	/*
	 * Bodies the proxy must read: exports (checked), and adds, whose
	 * claims name the memories Mem0's answer lists (a gzip'd answer
	 * would hide them; curl decodes, the client gets it plain).
	 */
	if ((q->export || q->route.kind == ROUTE_CREATE) &&
	    up_exchange_decode(q->up) == -1)
		return (-1);

	h.q = q;
	h.connection = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND,
	    "Connection");
	h.failed = 0;
	MHD_get_connection_values(q->conn, MHD_HEADER_KIND, proxy_copy_header,
	    &h);
	if (h.failed)
		return (-1);
	/* curl would invent a form Content-Type for a body without one. */
	if (has_body && MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND,
	    "Content-Type") == NULL &&
	    up_set_header(q->up, "Content-Type", NULL) == -1)
		return (-1);

	xff = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND,
	    "X-Forwarded-For");
	if (xff != NULL && xff[0] != '\0') {
		len = strlen(xff) + strlen(q->client_ip) + 3;
		if ((xff_new = malloc(len)) == NULL)
			return (-1);
		snprintf(xff_new, len, "%s, %s", xff, q->client_ip);
	}
	rc = 0;
	if (up_set_header(q->up, "X-Forwarded-For",
	    xff_new != NULL ? xff_new : q->client_ip) == -1 ||
	    up_set_header(q->up, "X-Request-Id", q->request_id) == -1)
		rc = -1;
	free(xff_new);
	return (rc);
}

/* Answer a suspended request with 503 at once (engine stopping, ...). */
static void
proxy_fail_suspended(struct proxy_req *q, int status, const char *error,
    const char *message)
{
	proxy_set_deny(q, status, error, message);
	q->stage = PROXY_REFUSED;
	front_resume(q);
}

/* Hand the prepared exchange to the engine. Any thread, once suspended. */
static void
proxy_submit(struct proxy_req *q)
{
	q->forwarded = 1;
	if (eng_submit(q->px->eng, q->up->easy, proxy_up_done, q) == -1) {
		/* Stopping: answer at once through the resumed path. */
		q->up->error = UP_ABORTED;
		q->stage = PROXY_ANSWER;
		front_resume(q);
	}
}

static enum MHD_Result
proxy_forward(struct proxy_req *q)
{
	if (proxy_prepare(q) == -1)
		return (proxy_refuse(q, 500, "internal_error",
		    "the proxy could not prepare the upstream request"));
	proxy_suspend(q, PROXY_UPSTREAM);
	proxy_submit(q);
	return (MHD_YES);
}

/* The gate decided (engine thread). */
static void
proxy_gate_done(struct gate_outcome *o, void *arg)
{
	struct proxy_req	*q = arg;

	if (o->approval_id[0] != '\0')
		snprintf(q->approval_id, sizeof(q->approval_id), "%s",
		    o->approval_id);
	if (q->routed && q->route.count < 0 && o->count >= 0)
		q->route.count = o->count;
	if (o->decision == GATE_FORWARD) {
		/*
		 * Prepared only now: a curl handle and its buffers are most
		 * of what a held request would otherwise keep while it
		 * waits. Out of memory here costs the approval (it is used):
		 * the client gets 500, claimed, and asks for a new one.
		 */
		if (q->up == NULL && proxy_prepare(q) == -1) {
			proxy_fail_suspended(q, 500, "internal_error", "the "
			    "proxy could not prepare the approved request; "
			    "nothing was sent to Mem0 (ask for a new "
			    "approval)");
			return;
		}
		q->stage = PROXY_UPSTREAM;
		proxy_submit(q);
		return;
	}
	q->deny = *o;		/* takes the body */
	q->stage = PROXY_REFUSED;
	front_resume(q);
}

/* A gated request: suspend it and let the gate decide (the Mem0
 * transfer is prepared once it is approved). */
static enum MHD_Result
proxy_gate(struct proxy_req *q)
{
	struct gate_request	 rq;
	int			 rc;

	/*
	 * Where the body says what is affected (a batch), the approver must
	 * be shown what Mem0 will read: a body the proxy cannot read as
	 * Mem0 does is refused, never approved best-effort.
	 */
	if (q->route.body_subject && q->route.body != ROUTE_BODY_JSON)
		return (proxy_refuse(q, 415, "unsupported_media_type",
		    "this request's body decides what is affected: send it as "
		    "Content-Type: application/json"));
	/* Whether the platform trims " alice " is unknown: not guessed. */
	if (q->route.ids_padded)
		return (proxy_refuse(q, 400, "bad_entity_id",
		    "an entity id starts or ends with whitespace; send it "
		    "without"));
	if (q->route.body_subject && q->route.body_invalid)
		return (proxy_refuse(q, 400, "bad_request_body",
		    "this request's body decides what is affected and is not "
		    "valid JSON"));
	memset(&rq, 0, sizeof(rq));
	rq.cfg = q->cfg;
	rq.route = &q->route;
	rq.method = q->method;
	rq.target = q->target;
	rq.body = q->body.data;
	rq.body_len = q->body.len;
	rq.approval_id = front_header(q, "X-Approval-Id");
	rq.reason = front_header(q, "X-Mem0-Reason");
	rq.request_id = q->request_id;
	rq.authorization = front_header(q, "Authorization");
	rq.api_key = front_header(q, "X-API-Key");
	rq.content_type = front_header(q, "Content-Type");
	rq.content_encoding = front_header(q, "Content-Encoding");
	rq.client_ip = q->client_ip;
	proxy_suspend(q, PROXY_GATE);
	rc = gate_hold(q->px->gate, &rq, proxy_gate_done, q);
	if (rc == -2)
		proxy_fail_suspended(q, 503, "too_many_holds", "too many "
		    "requests are waiting for approval; retry later");
	else if (rc == -1)
		proxy_fail_suspended(q, 503, "shutting_down",
		    "the proxy cannot hold requests now; retry");
	return (MHD_YES);
}

static unsigned int
proxy_error_status(enum up_error e)
{
	switch (e) {
	case UP_TIMEOUT:
		return (504);
	case UP_ABORTED:
		return (503);
	case UP_INTERNAL:
		return (500);
	case UP_OK:
	case UP_UNREACHABLE:
	case UP_TOO_LARGE:
	case UP_BAD_RESPONSE:
	default:
		return (502);
	}
}

static const char *
proxy_error_message(enum up_error e)
{
	switch (e) {
	case UP_UNREACHABLE:
		return ("Mem0 could not be reached");
	case UP_TIMEOUT:
		return ("Mem0 did not answer in time");
	case UP_TOO_LARGE:
		return ("Mem0's response is larger than the proxy accepts");
	case UP_BAD_RESPONSE:
		return ("Mem0 sent an invalid response");
	case UP_ABORTED:
		return ("the proxy is shutting down; retry");
	case UP_OK:
	case UP_INTERNAL:
	default:
		return ("internal proxy error");
	}
}

/* Resumed: send Mem0's answer back, then claim it. */
static enum MHD_Result
proxy_reply_upstream(struct proxy_req *q)
{
	struct up_exchange	*x = q->up;
	struct MHD_Response	*resp;
	const char		*up_rid = NULL;
	size_t			 i, len;
	char			*data;
	int			 status;

	if (x->error == UP_TOO_LARGE && q->export) {
		metrics_export(METRICS_E_TOO_LARGE);
		return (proxy_refuse(q, 502, "export_too_large",
		    "the export is larger than export.max_bytes; it was not "
		    "sent (narrow it: filters, pages)"));
	}
	if (x->error != UP_OK) {
		log_msg(CFG_LOG_WARN, "upstream failed", "request_id",
		    q->request_id, "error", up_error_code(x->error), "detail",
		    x->errmsg, LOG_END);
		return (proxy_refuse(q, proxy_error_status(x->error),
		    up_error_code(x->error), proxy_error_message(x->error)));
	}
	status = (int)x->status;
	/* An export was counted by its check; do not parse it again here. */
	if (!q->export)
		route_parse_response(&q->route, status, x->body.data,
		    x->body.len);

	len = x->body.len;
	data = buf_steal(&x->body);
	if (data != NULL)
		resp = MHD_create_response_from_buffer(len, data,
		    MHD_RESPMEM_MUST_FREE);
	else
		resp = MHD_create_response_from_buffer(0, (void *)"",
		    MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		free(data);
		return (proxy_refuse(q, 500, "internal_error",
		    "out of memory"));
	}
	for (i = 0; i < x->n_headers; i++) {
		if (up_response_header_dropped(x, x->headers[i].name))
			continue;
		if (strcasecmp(x->headers[i].name, "X-Request-Id") == 0) {
			up_rid = x->headers[i].value;
			continue;
		}
		MHD_add_response_header(resp, x->headers[i].name,
		    x->headers[i].value);
	}
	MHD_add_response_header(resp, "X-Request-Id", q->request_id);
	if (q->approval_id[0] != '\0')
		MHD_add_response_header(resp, "X-Approval-Id", q->approval_id);
	if (up_rid != NULL && strcmp(up_rid, q->request_id) != 0)
		MHD_add_response_header(resp, "X-Upstream-Request-Id", up_rid);
	if (q->xo.unverified)
		MHD_add_response_header(resp, "X-Export-Unverified", "1");
	return (proxy_release(q, resp, (unsigned int)status, NULL, len));
}
enum MHD_Result
proxy_start(struct proxy_req *q)
{
	if (q->too_large) {
		buf_free(&q->body);
		proxy_route(q);
		return (proxy_refuse(q, 413, "request_too_large",
		    "the request body is larger than "
		    "limits.max_request_bytes"));
	}
	if (proxy_route(q) == -1)
		return (proxy_refuse(q, 500, "internal_error",
		    "out of memory"));
	if (q->export && q->route.fields &&
	    (export_owner_keys(&q->route) & ~q->route.fields_entities) != 0)
		return (proxy_refuse(q, 400, "export_fields_without_owner",
		    "a fields projection on a checked export or search must "
		    "keep the entity keys it filters on (user_id, agent_id, "
		    "app_id, run_id): add them to fields"));
	if (q->route.body == ROUTE_BODY_JSON && q->route.body_invalid &&
	    !q->route.body_nul)
		return (proxy_refuse(q, 400, "bad_request_body",
		    "the JSON body does not parse as strict JSON (NaN, "
		    "Infinity and lone surrogates included), so the proxy "
		    "cannot read it as Mem0 would"));
	if (q->route.body_nul)
		return (proxy_refuse(q, 400, "bad_request_body",
		    "the JSON body holds a NUL character (\\u0000), which the "
		    "proxy and Mem0 would read differently"));
	/* Nothing happens unaudited: no spool room, no request. */
	if (!wm_accepting(q->px->wm))
		return (proxy_refuse(q, 503, "audit_unavailable",
		    "the audit spool cannot take claims now (full or not "
		    "writable); retry later"));
	if (gate_applies(q->cfg, &q->route))
		return (proxy_gate(q));
	return (proxy_forward(q));
}

enum MHD_Result
proxy_resumed(struct proxy_req *q)
{
	switch (q->stage) {
	case PROXY_ANSWER:
		__atomic_sub_fetch(&q->px->inflight, 1, __ATOMIC_RELAXED);
		return (proxy_reply_upstream(q));
	case PROXY_REFUSED:
		__atomic_sub_fetch(&q->px->inflight, 1, __ATOMIC_RELAXED);
		return (proxy_send_deny(q));
	case PROXY_CLAIM_SYNC:
		__atomic_sub_fetch(&q->px->inflight, 1, __ATOMIC_RELAXED);
		return (proxy_send_held(q));
	case PROXY_HEADERS:
	case PROXY_BODY:
	case PROXY_GATE:
	case PROXY_UPSTREAM:
	case PROXY_EXPORT_CHECK:
	case PROXY_REPLIED:
	default:
		/* Not suspended, or not resumed by us: nothing to do. */
		return (MHD_YES);
	}
}

void
proxy_lookup(struct proxy_req *q, const char *approval_id)
{
	proxy_suspend(q, PROXY_GATE);
	if (gate_lookup(q->px->gate, q->cfg, approval_id, proxy_gate_done,
	    q) == -1)
		proxy_fail_suspended(q, 503, "shutting_down",
		    "the proxy cannot look up approvals now; retry");
}

void
proxy_claim_refused_target(struct proxy *px, const char *request_id,
    int status, const char *error)
{
	struct route	 r;
	struct buf	 text;

	if (route_classify(&r, "-", "/", NULL, NULL, 0, NULL,
	    cfg_live()->dialect) == -1)
		return;
	metrics_request(r.kind, status);
	buf_init(&text, CLAIM_SET_MAX);
	if (claim_build(&text, &r, px->anon, "-", status, error, NULL,
	    request_id) == 0)
		(void)wm_claim(px->wm, text.data);
	buf_free(&text);
	route_free(&r);
}

void
proxy_req_free(struct proxy_req *q)
{
	if (q->up != NULL) {
		up_exchange_free(q->up);
		free(q->up);
	}
	cJSON_Delete(q->deny.body);
	if (q->held_resp != NULL)
		MHD_destroy_response(q->held_resp);
	free(q->xo.path);
	free(q->claim_text);
	if (q->routed)
		route_free(&q->route);
	buf_free(&q->body);
	free(q->method);
	free(q->target);
	free(q);
}
