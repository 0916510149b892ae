/*
 * gate: the approval state machine for held requests. See gate.h.
 *
 * Everything below gate_hold()/gate_lookup() runs on the engine thread:
 * the Wingman calls (wm_call), the Mem0 pre-count (a plain transfer), and
 * the poll timers. A hold is one struct gate_hold walking through
 *
 *   start -> [lookup by X-Approval-Id | outstanding by SCOPE | precount
 *   -> request] -> poll ... -> finish (FORWARD or DENY)
 *
 * and it is finished exactly once: every path ends in gate_finish().
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "claim.h"
#include "gate.h"
#include "log.h"
#include "metrics.h"

#define GATE_KEY_MAX		4096
#define GATE_SCOPE_MAX		1024
#define GATE_INSTR_MAX		8192
#define GATE_REASON_MAX		200
#define GATE_PRECOUNT_MAX	(16 * 1024 * 1024)
#define GATE_RETRY_AFTER_S	5

/* An approval this proxy asked for and may still execute. */
struct gate_entry {
	char			*scope;
	char			 id[GATE_ID_MAX + 1];
	long long		 created_ms;	/* monotonic */
	int			 consumed;
	struct gate_entry	*next;
};

struct gate {
	const struct config	*cfg;
	struct eng		*eng;
	struct wm		*wm;
	const struct anon	*anon;
	char			*request_key;	/* NULL: none configured */
	char			*read_key;
	size_t			 holding;	/* atomic */

	/* Engine thread only. */
	struct gate_entry	*entries;
	size_t			 n_entries;
};

enum gate_step {
	STEP_START = 0,
	STEP_LOOKUP,		/* GET /approvals/{id} named by the client */
	STEP_PRECOUNT,
	STEP_REQUEST,
	STEP_POLL,
	STEP_STATUS		/* gate_lookup(): report, don't decide */
};

struct gate_hold {
	struct gate		*g;
	enum gate_step		 step;
	const struct route	*route;
	char			*method;
	char			*target;
	char			*scope;
	char			*reason;
	char			*request_id;
	char			*authorization;
	char			*api_key;
	char			 client_id[GATE_ID_MAX + 1];	/* header */
	int			 bad_client_id;
	char			 id[GATE_ID_MAX + 1];
	long long		 deadline_ms;	/* hold_max */
	long			 count;
	gate_done_fn		*done;
	void			*arg;

	/* Pre-count transfer. */
	struct curl_slist	*pc_headers;
	char			*pc_url;
	char			*pc_body;
	struct buf		 pc_reply;
};

static void	 gate_poll(void *arg);

/* ---- small helpers ---------------------------------------------------- */

static int
gate_id_valid(const char *id)
{
	size_t	 i;

	for (i = 0; id[i] != '\0'; i++)
		if (i == GATE_ID_MAX || !(isalnum((unsigned char)id[i]) ||
		    id[i] == '-'))
			return (0);
	return (i > 0);
}

/*
 * Read a secret (a Wingman key) from a file: the first line, trimmed.
 * Refused when the file is readable by group or others, or empty.
 */
static char *
gate_read_key(const char *path, char *err, size_t errlen)
{
	char		 line[GATE_KEY_MAX];
	struct stat	 st;
	FILE		*fp;
	size_t		 n;

	if ((fp = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "cannot open key file %s: %s", path,
		    strerror(errno));
		return (NULL);
	}
	if (fstat(fileno(fp), &st) == -1 || (st.st_mode & (S_IRWXG |
	    S_IRWXO)) != 0) {
		snprintf(err, errlen, "key file %s is accessible by group or "
		    "others (mode %04o); chmod 600 it", path,
		    (unsigned)(st.st_mode & 07777));
		fclose(fp);
		return (NULL);
	}
	if (fgets(line, sizeof(line), fp) == NULL)
		line[0] = '\0';
	fclose(fp);
	n = strcspn(line, "\r\n");
	while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	line[n] = '\0';
	if (n == 0) {
		snprintf(err, errlen, "key file %s is empty", path);
		return (NULL);
	}
	return (strdup(line));
}

static long long
gate_parse_utc(const char *iso)
{
	struct tm	 tm;
	const char	*p;

	memset(&tm, 0, sizeof(tm));
	if (iso == NULL ||
	    (p = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return (-1);
	return ((long long)timegm(&tm));
}

static const char *
gate_json_str(const cJSON *obj, const char *key)
{
	const cJSON	*v;

	v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return (cJSON_IsString(v) ? v->valuestring : NULL);
}

/* ---- scope and instruction --------------------------------------------- */

static int
gate_cmp_str(const void *a, const void *b)
{
	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

int
gate_scope(struct buf *out, const struct anon *a, const struct route *r,
    const char *method, const char *target, const char *body,
    size_t body_len)
{
	char		 pseudo[ROUTE_MAX_IDS][ANON_PSEUDO_LEN + 1];
	const char	*sorted[ROUTE_MAX_IDS];
	char		 digest[33], m[17];
	struct buf	 req;
	size_t		 i, n;
	int		 t, rc;

	for (i = 0; i < sizeof(m) - 1 && method[i] != '\0'; i++)
		m[i] = (char)toupper((unsigned char)method[i]);
	m[i] = '\0';
	rc = buf_printf(out, "%s %s %s", m, r->pattern[0] ? r->pattern : "-",
	    route_dialect_name(r->dialect));
	for (t = 0; rc == 0 && t < ROUTE_ENT_COUNT; t++) {
		n = 0;
		for (i = 0; i < r->n_ids; i++) {
			if ((int)r->ids[i].type != t)
				continue;
			anon_pseudonym(a, route_entity_letter(r->ids[i].type),
			    r->ids[i].value, strlen(r->ids[i].value), pseudo[n]);
			sorted[n] = pseudo[n];
			n++;
		}
		if (n == 0)
			continue;
		qsort(sorted, n, sizeof(sorted[0]), gate_cmp_str);
		rc = buf_printf(out, " %s=", route_entity_name(
		    (enum route_entity)t));
		for (i = 0; rc == 0 && i < n; i++)
			rc = buf_printf(out, "%s%s", i ? "," : "", sorted[i]);
	}
	if (rc == 0 && r->n_ids_seen > r->n_ids)
		rc = buf_printf(out, " more_ids=%zu", r->n_ids_seen - r->n_ids);
	if (rc == 0 && r->n_memory_ids_seen > 0)
		rc = buf_printf(out, " memories=%zu", r->n_memory_ids_seen);
	if (rc != 0)
		return (-1);

	/* The digest binds the approval to these exact bytes. */
	buf_init(&req, (size_t)-1 / 2);
	if (buf_printf(&req, "%s\n%s\n", m, target) == -1 ||
	    (body_len > 0 && buf_append(&req, body, body_len) == -1)) {
		buf_free(&req);
		return (-1);
	}
	anon_digest(a, req.data, req.len, digest, 32);
	buf_free(&req);
	return (buf_printf(out, " digest=%s", digest));
}

const char *
gate_task_name(const struct gate *g, const struct route *r)
{
	switch (r->kind) {
	case ROUTE_RESET:
		return ("Memory Reset");
	case ROUTE_DESTROY:
		return ("Organization or Project Deletion");
	case ROUTE_BULK_UPDATE:
		return ("Bulk Memory Update");
	case ROUTE_CONFIG_WRITE:
		return ("Memory Configuration Change");
	default:
		return (g != NULL ? cfg_live()->gate_task_name :
		    "Bulk Memory Deletion");
	}
}

/* "user u:1a2b3c4d, agent all" or "all entities". */
static int
gate_put_subject(struct buf *out, const struct anon *a, const struct route *r)
{
	char	 p[ANON_PSEUDO_LEN + 1];
	size_t	 i;
	int	 rc = 0;

	if (r->n_ids == 0)
		return (buf_append_str(out, r->n_memory_ids_seen > 0 ?
		    "the listed memories" : "all entities"));
	for (i = 0; rc == 0 && i < r->n_ids; i++) {
		if (strcmp(r->ids[i].value, "*") == 0)
			rc = buf_printf(out, "%sall %ss", i ? ", " : "",
			    route_entity_name(r->ids[i].type));
		else {
			anon_pseudonym(a, route_entity_letter(r->ids[i].type),
			    r->ids[i].value, strlen(r->ids[i].value), p);
			rc = buf_printf(out, "%s%s %s", i ? ", " : "",
			    route_entity_name(r->ids[i].type), p);
		}
	}
	return (rc);
}

/* Keep a client's reason printable and short; it is free text. */
static void
gate_clean_reason(const char *in, char *out, size_t outlen)
{
	size_t	 i, o = 0;

	if (in == NULL || in[0] == '\0') {
		snprintf(out, outlen, "not given");
		return;
	}
	for (i = 0; in[i] != '\0' && o + 1 < outlen && o < GATE_REASON_MAX;
	    i++)
		out[o++] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
	out[o] = '\0';
}

int
gate_instruction(struct buf *out, const struct anon *a,
    const struct route *r, const char *scope, const char *reason,
    long count, long long expires)
{
	struct buf	 subj;
	struct tm	 tm;
	time_t		 t = (time_t)expires;
	char		 when[32], why[GATE_REASON_MAX + 1], cnt[32];
	const char	*what;
	int		 rc;

	switch (r->kind) {
	case ROUTE_RESET:
		what = "Delete all memories of all entities (Mem0 reset)";
		break;
	case ROUTE_DESTROY:
		what = "Delete a whole Mem0 organization or project";
		break;
	case ROUTE_BULK_UPDATE:
		what = "Update memories in bulk";
		break;
	case ROUTE_CONFIG_WRITE:
		what = "Change the Mem0 configuration";
		break;
	default:
		what = "Delete memories in bulk";
		break;
	}
	buf_init(&subj, 1024);
	if (gate_put_subject(&subj, a, r) == -1) {
		buf_free(&subj);
		return (-1);
	}
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	gate_clean_reason(reason, why, sizeof(why));
	if (count >= 0)
		snprintf(cnt, sizeof(cnt), "%ld", count);
	else
		snprintf(cnt, sizeof(cnt), "unknown");
	rc = buf_printf(out,
	    "DELIVERABLES: %s for %s through mem0-audit-proxy, exactly as "
	    "described by SCOPE.\n"
	    "SUCCESS_CRITERIA: Mem0 accepts the request once; nothing outside "
	    "SCOPE is changed.\n"
	    "BOUNDARIES: Only the request identified by SCOPE; the proxy "
	    "refuses any other request with this approval.\n"
	    "DEPENDENCIES: Mem0 reachable from the proxy; this approval "
	    "decided before EXPIRES.\n"
	    "MITIGATION: Deleted memories cannot be restored by the proxy; "
	    "export them first if they may be needed; reject when unsure.\n"
	    "TEST_PROCESS: After APPROVED the proxy forwards the request once "
	    "and logs the outcome as a claim with the same approval id.\n"
	    "TEST_RESULTS_FORMAT: Claims \"Starting ...\" and \"Bulk ...: N "
	    "items\" in the Wingman ledger.\n"
	    "RESOURCE_REQUIREMENTS: One Mem0 API call.\n"
	    "RISK_ASSESSMENT: HIGH: irreversible delete or change of %s "
	    "memories.\n"
	    "QUALITY_METRICS: Affected count matches AFFECTED; exactly one "
	    "execution.\n"
	    "USER: %s\n"
	    "REASON: %s\n"
	    "AFFECTED: %s memories\n"
	    "EXPIRES: %s\n"
	    "SCOPE: %s",
	    what, subj.data, cnt, subj.data, why, cnt, when, scope);
	buf_free(&subj);
	return (rc);
}

int
gate_scope_of(const char *instruction, char *out, size_t outlen)
{
	const char	*p, *end;
	size_t		 n;

	if (instruction == NULL)
		return (-1);
	for (p = instruction; p != NULL; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, "SCOPE: ", 7) == 0) {
			p += 7;
			end = strchr(p, '\n');
			n = end != NULL ? (size_t)(end - p) : strlen(p);
			if (n + 1 > outlen)
				return (-1);
			memcpy(out, p, n);
			out[n] = '\0';
			return (0);
		}
	}
	return (-1);
}

/* ---- outstanding approvals ---------------------------------------------- */

static void
gate_entry_free(struct gate_entry *e)
{
	free(e->scope);
	free(e);
}

/* Drop entries older than the TTL; keep the list bounded. */
static void
gate_entries_prune(struct gate *g)
{
	struct gate_entry	**pp, *e;
	long long		 now = eng_now_ms();
	size_t			 cap = (size_t)cfg_live()->gate_max_holds * 2;

	for (pp = &g->entries; (e = *pp) != NULL;) {
		if (now - e->created_ms > cfg_live()->gate_ttl_ms ||
		    g->n_entries > cap) {
			*pp = e->next;
			gate_entry_free(e);
			g->n_entries--;
		} else
			pp = &e->next;
	}
}

static struct gate_entry *
gate_entry_by_scope(struct gate *g, const char *scope)
{
	struct gate_entry	*e;

	gate_entries_prune(g);
	for (e = g->entries; e != NULL; e = e->next)
		if (!e->consumed && strcmp(e->scope, scope) == 0)
			return (e);
	return (NULL);
}

static struct gate_entry *
gate_entry_by_id(struct gate *g, const char *id)
{
	struct gate_entry	*e;

	for (e = g->entries; e != NULL; e = e->next)
		if (strcmp(e->id, id) == 0)
			return (e);
	return (NULL);
}

/* Newest first, so a prune past the cap drops the oldest. */
static struct gate_entry *
gate_entry_add(struct gate *g, const char *scope, const char *id)
{
	struct gate_entry	*e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return (NULL);
	if ((e->scope = strdup(scope)) == NULL) {
		free(e);
		return (NULL);
	}
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->created_ms = eng_now_ms();
	e->next = g->entries;
	g->entries = e;
	g->n_entries++;
	return (e);
}

/* ---- finishing ---------------------------------------------------------- */

static void
gate_hold_free(struct gate_hold *h)
{
	free(h->method);
	free(h->target);
	free(h->scope);
	free(h->reason);
	free(h->request_id);
	free(h->authorization);
	free(h->api_key);
	curl_slist_free_all(h->pc_headers);
	free(h->pc_url);
	free(h->pc_body);
	buf_free(&h->pc_reply);
	free(h);
}

static enum metrics_approval
gate_metric(const struct gate_outcome *o)
{
	if (o->decision == GATE_FORWARD)
		return (METRICS_A_FORWARDED);
	if (strcmp(o->error, "approval_rejected") == 0)
		return (METRICS_A_REJECTED);
	if (strcmp(o->error, "approval_expired") == 0)
		return (METRICS_A_EXPIRED);
	if (strcmp(o->error, "approval_pending") == 0)
		return (METRICS_A_PENDING_TIMEOUT);
	if (strcmp(o->error, "wingman_unavailable") == 0 ||
	    strcmp(o->error, "shutting_down") == 0)
		return (METRICS_A_UNAVAILABLE);
	return (METRICS_A_REFUSED);
}

static void
gate_finish(struct gate_hold *h, struct gate_outcome *o)
{
	struct gate	*g = h->g;

	snprintf(o->approval_id, sizeof(o->approval_id), "%s", h->id);
	o->count = h->count;
	if (h->step != STEP_STATUS) {
		__atomic_sub_fetch(&g->holding, 1, __ATOMIC_RELAXED);
		metrics_approval(gate_metric(o));
	}
	h->done(o, h->arg);
	gate_hold_free(h);
}

/*
 * Deny with status and error; extra fields from the approval object when
 * there is one.
 */
static void
gate_deny(struct gate_hold *h, int status, const char *error,
    const char *message, const cJSON *approval)
{
	struct gate_outcome	 o;
	const char		*v;

	memset(&o, 0, sizeof(o));
	o.decision = GATE_DENY;
	o.status = status;
	o.error = error;
	if ((o.body = cJSON_CreateObject()) != NULL) {
		cJSON_AddStringToObject(o.body, "error", error);
		cJSON_AddStringToObject(o.body, "message", message);
		if (h->id[0] != '\0')
			cJSON_AddStringToObject(o.body, "approval_id", h->id);
		if (approval != NULL) {
			if ((v = gate_json_str(approval, "status")) != NULL)
				cJSON_AddStringToObject(o.body, "status", v);
			v = gate_json_str(approval, "decided_by");
			cJSON_AddItemToObject(o.body, "decided_by", v ?
			    cJSON_CreateString(v) : cJSON_CreateNull());
			v = gate_json_str(approval, "decision_note");
			if (v == NULL)
				v = gate_json_str(approval,
				    "rejection_reason");
			cJSON_AddItemToObject(o.body, "note", v ?
			    cJSON_CreateString(v) : cJSON_CreateNull());
		}
	}
	if (status == 503)
		o.retry_after = GATE_RETRY_AFTER_S;
	gate_finish(h, &o);
}

static void
gate_unavailable(struct gate_hold *h, const char *why)
{
	if (eng_stopping(h->g->eng)) {
		gate_deny(h, 503, "shutting_down",
		    "the proxy is shutting down; retry", NULL);
		return;
	}
	log_msg(CFG_LOG_WARN, "approval gate: Wingman unavailable, denying",
	    "request_id", h->request_id, "detail", why, LOG_END);
	gate_deny(h, 503, "wingman_unavailable",
	    "Wingman cannot decide on this request now; nothing was deleted. "
	    "Retry later.", NULL);
}

/* The "Starting ..." claim is on disk: release the request to Mem0. */
static void
gate_release(void *arg)
{
	struct gate_hold	*h = arg;
	struct gate_outcome	 o;

	memset(&o, 0, sizeof(o));
	o.decision = GATE_FORWARD;
	gate_finish(h, &o);
}

/*
 * APPROVED: mark the approval used, claim "Starting ..." durably (a group
 * commit: no thread waits for the fsync), then forward. A spool that
 * cannot take the claim stops the request: nothing happens unaudited.
 */
static void
gate_forward(struct gate_hold *h)
{
	struct gate_entry	*e;
	struct buf		 text;
	int			 rc;

	if ((e = gate_entry_by_id(h->g, h->id)) != NULL)
		e->consumed = 1;
	else if ((e = gate_entry_add(h->g, h->scope, h->id)) != NULL)
		e->consumed = 1;
	buf_init(&text, CLAIM_MAX + 256);
	rc = claim_build_start(&text, h->route, h->g->anon, h->method,
	    h->count, h->id, h->request_id);
	if (rc == 0)
		rc = wm_claim_durable(h->g->wm, text.data, gate_release, h);
	buf_free(&text);
	if (rc == 0)
		gate_release(h);
	else if (rc == -1)
		gate_deny(h, 503, "audit_unavailable", "the audit spool cannot "
		    "take claims now; nothing was deleted. Retry later.", NULL);
}

static void
gate_pending_timeout(struct gate_hold *h)
{
	struct gate_outcome	 o;
	char			 msg[256];

	memset(&o, 0, sizeof(o));
	o.decision = GATE_DENY;
	o.status = (int)cfg_live()->gate_pending_status;
	o.error = "approval_pending";
	o.retry_after = (int)((cfg_live()->gate_poll_interval_ms + 999) / 1000);
	if (o.retry_after < 1)
		o.retry_after = 1;
	snprintf(o.location, sizeof(o.location), "/_proxy/approvals/%s",
	    h->id);
	snprintf(msg, sizeof(msg), "waiting for a human to approve in "
	    "Wingman; nothing was deleted yet. Repeat the same request (or "
	    "send X-Approval-Id: %s) to resume.", h->id);
	if ((o.body = cJSON_CreateObject()) != NULL) {
		cJSON_AddStringToObject(o.body, "error", "approval_pending");
		cJSON_AddStringToObject(o.body, "message", msg);
		cJSON_AddStringToObject(o.body, "approval_id", h->id);
		cJSON_AddStringToObject(o.body, "status", "PENDING");
		cJSON_AddStringToObject(o.body, "location", o.location);
	}
	gate_finish(h, &o);
}

/* ---- deciding on an approval object ------------------------------------- */

/*
 * Act on Wingman's approval object (from a poll, a lookup, or the request
 * reply). check_scope: the object came from the client's X-Approval-Id.
 */
static void
gate_decide(struct gate_hold *h, const cJSON *ap, int check_scope)
{
	struct gate		*g = h->g;
	struct gate_entry	*e;
	const char		*status, *worker;
	char			 scope[GATE_SCOPE_MAX];
	long long		 created;

	status = gate_json_str(ap, "status");
	if (status == NULL) {
		gate_unavailable(h, "approval without a status");
		return;
	}
	if (check_scope) {
		worker = gate_json_str(ap, "worker_id");
		if (gate_scope_of(gate_json_str(ap, "instruction"), scope,
		    sizeof(scope)) == -1 || strcmp(scope, h->scope) != 0 ||
		    worker == NULL || strcmp(worker, cfg_live()->worker_id) != 0) {
			gate_deny(h, 403, "approval_scope_mismatch",
			    "this approval was given for another request", ap);
			return;
		}
		if ((e = gate_entry_by_id(g, h->id)) != NULL && e->consumed) {
			gate_deny(h, 403, "approval_consumed",
			    "this approval was already used; an approval "
			    "executes one request once", ap);
			return;
		}
	}
	created = gate_parse_utc(gate_json_str(ap, "created_at"));
	switch (gate_verdict(status, created > 0 ? (long long)time(NULL) -
	    created : -1, cfg_live()->gate_ttl_ms / 1000,
	    eng_now_ms() >= h->deadline_ms)) {
	case GATE_V_FORWARD:
		gate_forward(h);
		break;
	case GATE_V_REJECTED:
		gate_deny(h, 403, "approval_rejected",
		    "Wingman rejected this request; nothing was deleted", ap);
		break;
	case GATE_V_EXPIRED:
		gate_deny(h, 403, "approval_expired", strcmp(status,
		    "EXPIRED") == 0 ? "the approval request expired in "
		    "Wingman" : "the approval is older than the proxy's ttl",
		    ap);
		break;
	case GATE_V_TIMEOUT:
		gate_pending_timeout(h);
		break;
	case GATE_V_POLL:
		if (eng_stopping(g->eng)) {
			gate_unavailable(h, "stopping");
			break;
		}
		h->step = STEP_POLL;
		if (eng_timer_add(g->eng, cfg_live()->gate_poll_interval_ms,
		    gate_poll, h) == -1)
			gate_unavailable(h, "out of memory");
		break;
	case GATE_V_UNAVAILABLE:
	default:
		gate_unavailable(h, "unknown approval status");
		break;
	}
}

enum gate_verdict
gate_verdict(const char *status, long long age_s, long long ttl_s,
    int past_deadline)
{
	if (status == NULL)
		return (GATE_V_UNAVAILABLE);
	if (strcmp(status, "REJECTED") == 0 ||
	    strcmp(status, "AUTO_REJECTED") == 0)
		return (GATE_V_REJECTED);
	if (strcmp(status, "EXPIRED") == 0)
		return (GATE_V_EXPIRED);
	if (strcmp(status, "APPROVED") != 0 &&
	    strcmp(status, "AUTO_APPROVED") != 0 &&
	    strcmp(status, "PENDING") != 0)
		return (GATE_V_UNAVAILABLE);
	/* Default-deny: an approval past the proxy's own ttl is void. */
	if (age_s > ttl_s)
		return (GATE_V_EXPIRED);
	if (strcmp(status, "PENDING") == 0)
		return (past_deadline ? GATE_V_TIMEOUT : GATE_V_POLL);
	return (GATE_V_FORWARD);
}

/* gate_lookup(): report Wingman's view of one approval. */
static void
gate_report(struct gate_hold *h, const struct wm_reply *r)
{
	struct gate_outcome	 o;
	static const char *const keys[] = { "status", "decided_by",
	    "decision_note", "created_at", "decided_at", "task_name" };
	const char		*v;
	size_t			 i;

	if (r->result != CURLE_OK || (r->status != 200 && r->status != 404) ||
	    (r->status == 200 && !cJSON_IsObject(r->json))) {
		gate_unavailable(h, "status lookup failed");
		return;
	}
	if (r->status == 404) {
		gate_deny(h, 404, "approval_not_found",
		    "Wingman has no approval with this id", NULL);
		return;
	}
	memset(&o, 0, sizeof(o));
	o.decision = GATE_DENY;
	o.status = 200;
	o.error = NULL;
	if ((o.body = cJSON_CreateObject()) != NULL) {
		cJSON_AddStringToObject(o.body, "approval_id", h->id);
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			v = gate_json_str(r->json, keys[i]);
			cJSON_AddItemToObject(o.body, strcmp(keys[i],
			    "decision_note") == 0 ? "note" : keys[i], v ?
			    cJSON_CreateString(v) : cJSON_CreateNull());
		}
	}
	gate_finish(h, &o);
}

static void
gate_on_approval(const struct wm_reply *r, void *arg)
{
	struct gate_hold	*h = arg;

	if (h->step == STEP_STATUS) {
		gate_report(h, r);
		return;
	}
	if (r->result != CURLE_OK) {
		gate_unavailable(h, curl_easy_strerror(r->result));
		return;
	}
	if (r->status == 404 && h->step != STEP_POLL) {
		gate_deny(h, 403, "approval_not_found",
		    "Wingman has no approval with this id", NULL);
		return;
	}
	if (r->status == 404) {
		struct gate_entry *e = gate_entry_by_id(h->g, h->id);

		if (e != NULL)
			e->consumed = 1;	/* never resume it again */
		gate_deny(h, 403, "approval_not_found",
		    "Wingman no longer knows this approval", NULL);
		return;
	}
	if (r->status != 200 || !cJSON_IsObject(r->json)) {
		gate_unavailable(h, r->status == 401 ? "401 from Wingman "
		    "(read key)" : "unexpected reply to GET /approvals/{id}");
		return;
	}
	gate_decide(h, r->json, h->step == STEP_LOOKUP);
}

static void
gate_get_approval(struct gate_hold *h)
{
	char	 path[GATE_ID_MAX + 32];

	snprintf(path, sizeof(path), "/approvals/%s", h->id);
	if (wm_call(h->g->wm, "GET", path, NULL, h->g->read_key ?
	    "X-Wingman-Approval-Read-Key" : NULL, h->g->read_key,
	    gate_on_approval, h) == -1)
		gate_unavailable(h, "cannot call Wingman");
}

static void
gate_poll(void *arg)
{
	struct gate_hold	*h = arg;

	if (eng_stopping(h->g->eng)) {
		gate_unavailable(h, "stopping");
		return;
	}
	gate_get_approval(h);
}

/* ---- asking for an approval --------------------------------------------- */

static void
gate_on_request(const struct wm_reply *r, void *arg)
{
	struct gate_hold	*h = arg;
	const cJSON		*req;
	const char		*status, *id;

	if (r->result != CURLE_OK) {
		gate_unavailable(h, curl_easy_strerror(r->result));
		return;
	}
	status = cJSON_IsObject(r->json) ? gate_json_str(r->json, "status") :
	    NULL;
	/* Newer Wingman: 403/422 AUTO_REJECTED is a decision, not an outage. */
	if ((r->status == 403 || r->status == 422) && status != NULL &&
	    strcmp(status, "AUTO_REJECTED") == 0) {
		gate_deny(h, 403, "approval_rejected",
		    "Wingman rejected this request automatically; nothing was "
		    "deleted", r->json);
		return;
	}
	if (r->status != 200 || status == NULL) {
		gate_unavailable(h, r->status == 401 ? "401 from Wingman "
		    "(request key)" : "unexpected reply to /approvals/request");
		return;
	}
	req = cJSON_GetObjectItemCaseSensitive(r->json, "request");
	id = cJSON_IsObject(req) ? gate_json_str(req, "request_id") : NULL;
	if (id == NULL || !gate_id_valid(id)) {
		if (strcmp(status, "AUTO_APPROVED") == 0) {
			gate_forward(h);
			return;
		}
		gate_unavailable(h, "approval request without a valid id");
		return;
	}
	snprintf(h->id, sizeof(h->id), "%s", id);
	if (strcmp(status, "PENDING") == 0 &&
	    gate_entry_by_id(h->g, h->id) == NULL &&
	    gate_entry_add(h->g, h->scope, h->id) == NULL) {
		gate_unavailable(h, "out of memory");
		return;
	}
	log_msg(CFG_LOG_INFO, "approval gate: request held", "request_id",
	    h->request_id, "approval_id", h->id, "status", status, LOG_END);
	h->step = STEP_REQUEST;
	gate_decide(h, req, 0);
}

static void
gate_request_approval(struct gate_hold *h)
{
	struct buf	 instr;
	cJSON		*j;
	char		*body;

	buf_init(&instr, GATE_INSTR_MAX);
	if (gate_instruction(&instr, h->g->anon, h->route, h->scope,
	    h->reason, h->count, (long long)time(NULL) +
	    cfg_live()->gate_ttl_ms / 1000) == -1) {
		buf_free(&instr);
		gate_unavailable(h, "instruction too long");
		return;
	}
	body = NULL;
	if ((j = cJSON_CreateObject()) != NULL) {
		cJSON_AddStringToObject(j, "worker_id", cfg_live()->worker_id);
		cJSON_AddStringToObject(j, "task_name",
		    gate_task_name(h->g, h->route));
		cJSON_AddStringToObject(j, "instruction", instr.data);
		cJSON_AddStringToObject(j, "deployment_env",
		    cfg_live()->deployment_env);
		body = cJSON_PrintUnformatted(j);
		cJSON_Delete(j);
	}
	buf_free(&instr);
	h->step = STEP_REQUEST;
	if (body == NULL || wm_call(h->g->wm, "POST", "/approvals/request",
	    body, h->g->request_key ? "X-Wingman-Approval-Request-Key" : NULL,
	    h->g->request_key, gate_on_request, h) == -1)
		gate_unavailable(h, "cannot call Wingman");
	free(body);
}

/* ---- pre-count ----------------------------------------------------------- */

static size_t
gate_pc_write(char *data, size_t size, size_t n, void *arg)
{
	struct gate_hold	*h = arg;

	if (buf_append(&h->pc_reply, data, size * n) == -1)
		return (0);
	return (size * n);
}

static void
gate_pc_done(CURL *easy, CURLcode result, void *arg)
{
	struct gate_hold	*h = arg;
	struct route		 r;
	long			 status = 0;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(easy);
	if (result == CURLE_ABORTED_BY_CALLBACK || eng_stopping(h->g->eng)) {
		gate_unavailable(h, "stopping");
		return;
	}
	if (result == CURLE_OK && status >= 200 && status <= 299) {
		memset(&r, 0, sizeof(r));
		r.kind = ROUTE_LIST;
		r.result_count = -1;
		route_parse_response(&r, (int)status, h->pc_reply.data,
		    h->pc_reply.len);
		h->count = r.result_count;
		route_free(&r);
	}
	buf_free(&h->pc_reply);
	gate_request_approval(h);
}

/* Append "k=v" (v percent-encoded) to a query. */
static int
gate_put_query(struct buf *q, CURL *easy, const char *k, const char *v)
{
	char	*enc;
	int	 rc;

	if ((enc = curl_easy_escape(easy, v, 0)) == NULL)
		return (-1);
	rc = buf_printf(q, "%s%s=%s", q->len ? "&" : "", k, enc);
	curl_free(enc);
	return (rc);
}

/*
 * Count what the request would affect with a short read of Mem0 using the
 * client's own credentials. 0 when a transfer was started; -1 when there
 * is nothing to count this way (the caller goes on with "unknown").
 */
static int
gate_precount(struct gate_hold *h)
{
	const struct route	*r = h->route;
	struct buf		 u, q;
	cJSON			*body = NULL, *and, *one;
	CURL			*easy;
	size_t			 i;
	int			 rc = -1;

	if (r->n_ids == 0 || (r->kind != ROUTE_BULK_DELETE &&
	    r->kind != ROUTE_BULK_UPDATE) || r->n_memory_ids_seen > 0)
		return (-1);
	if ((easy = curl_easy_init()) == NULL)
		return (-1);
	buf_init(&u, 8192);
	buf_init(&q, 4096);
	if (r->dialect == ROUTE_DIALECT_OSS) {
		for (i = 0; i < r->n_ids; i++) {
			if (r->ids[i].type == ROUTE_ENT_APP)
				continue;
			if (gate_put_query(&q, easy, r->ids[i].type ==
			    ROUTE_ENT_USER ? "user_id" : r->ids[i].type ==
			    ROUTE_ENT_AGENT ? "agent_id" : "run_id",
			    r->ids[i].value) == -1)
				goto out_cleanup;
		}
		if (buf_printf(&u, "%s/memories?%s", cfg_live()->upstream_url,
		    q.data != NULL ? q.data : "") == -1)
			goto out_cleanup;
	} else {
		if ((body = cJSON_CreateObject()) == NULL ||
		    (and = cJSON_AddArrayToObject(cJSON_AddObjectToObject(body,
		    "filters"), "AND")) == NULL)
			goto out_cleanup;
		for (i = 0; i < r->n_ids; i++) {
			char key[16];

			snprintf(key, sizeof(key), "%s_id",
			    route_entity_name(r->ids[i].type));
			if ((one = cJSON_CreateObject()) == NULL)
				goto out_cleanup;
			cJSON_AddItemToArray(and, one);
			cJSON_AddStringToObject(one, key, r->ids[i].value);
		}
		if ((h->pc_body = cJSON_PrintUnformatted(body)) == NULL ||
		    buf_printf(&u, "%s/v3/memories/?page=1&page_size=1",
		    cfg_live()->upstream_url) == -1)
			goto out_cleanup;
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, h->pc_body);
	}
	h->pc_url = buf_steal(&u);
	if ((h->pc_headers = curl_slist_append(NULL,
	    "Content-Type: application/json")) == NULL)
		goto out_cleanup;
	if (h->authorization != NULL) {
		buf_reset(&q);
		if (buf_printf(&q, "Authorization: %s", h->authorization) ==
		    -1 || curl_slist_append(h->pc_headers, q.data) == NULL)
			goto out_cleanup;
	}
	if (h->api_key != NULL) {
		buf_reset(&q);
		if (buf_printf(&q, "X-API-Key: %s", h->api_key) == -1 ||
		    curl_slist_append(h->pc_headers, q.data) == NULL)
			goto out_cleanup;
	}
	buf_init(&h->pc_reply, GATE_PRECOUNT_MAX);
	curl_easy_setopt(easy, CURLOPT_URL, h->pc_url);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h->pc_headers);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
	    cfg_live()->gate_precount_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, gate_pc_write);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
	h->step = STEP_PRECOUNT;
	if (eng_submit(h->g->eng, easy, gate_pc_done, h) == -1)
		goto out_cleanup;
	rc = 0;
	easy = NULL;

out_cleanup:
	if (easy != NULL)
		curl_easy_cleanup(easy);
	cJSON_Delete(body);
	buf_free(&u);
	buf_free(&q);
	return (rc);
}

/* ---- entry points ------------------------------------------------------- */

static void
gate_start(void *arg)
{
	struct gate_hold	*h = arg;
	struct gate_entry	*e;

	if (eng_stopping(h->g->eng)) {
		gate_unavailable(h, "stopping");
		return;
	}
	h->deadline_ms = eng_now_ms() + cfg_live()->gate_hold_max_ms;
	if (h->step == STEP_STATUS) {
		if (h->bad_client_id)
			gate_deny(h, 404, "approval_not_found",
			    "not an approval id", NULL);
		else
			gate_get_approval(h);
		return;
	}
	if (h->bad_client_id) {
		gate_deny(h, 400, "bad_approval_id", "X-Approval-Id must be "
		    "1 to 64 letters, digits or '-'", NULL);
		return;
	}
	if (h->client_id[0] != '\0') {
		snprintf(h->id, sizeof(h->id), "%s", h->client_id);
		h->step = STEP_LOOKUP;
		gate_get_approval(h);
		return;
	}
	if ((e = gate_entry_by_scope(h->g, h->scope)) != NULL) {
		/* A plain retry of a request still waiting: same approval. */
		snprintf(h->id, sizeof(h->id), "%s", e->id);
		h->step = STEP_POLL;
		gate_get_approval(h);
		return;
	}
	if (gate_precount(h) == -1)
		gate_request_approval(h);
}

static char *
gate_dup(const char *s)
{
	return (s != NULL ? strdup(s) : NULL);
}

int
gate_hold(struct gate *g, const struct gate_request *rq, gate_done_fn *done,
    void *arg)
{
	struct gate_hold	*h;
	struct buf		 scope;

	if (__atomic_add_fetch(&g->holding, 1, __ATOMIC_RELAXED) >
	    (size_t)cfg_live()->gate_max_holds) {
		__atomic_sub_fetch(&g->holding, 1, __ATOMIC_RELAXED);
		return (-2);
	}
	if ((h = calloc(1, sizeof(*h))) == NULL)
		goto out_unhold;
	h->g = g;
	h->route = rq->route;
	h->done = done;
	h->arg = arg;
	h->count = rq->route->count;
	buf_init(&h->pc_reply, 1);
	buf_init(&scope, GATE_SCOPE_MAX - 1);
	if (gate_scope(&scope, g->anon, rq->route, rq->method, rq->target,
	    rq->body, rq->body_len) == -1) {
		buf_free(&scope);
		goto out_free_hold;
	}
	h->scope = buf_steal(&scope);
	if ((h->method = gate_dup(rq->method)) == NULL ||
	    (h->target = gate_dup(rq->target)) == NULL ||
	    (h->request_id = gate_dup(rq->request_id)) == NULL ||
	    (rq->reason != NULL && (h->reason = strdup(rq->reason)) == NULL) ||
	    (rq->authorization != NULL &&
	    (h->authorization = strdup(rq->authorization)) == NULL) ||
	    (rq->api_key != NULL && (h->api_key = strdup(rq->api_key)) == NULL))
		goto out_free_hold;
	if (rq->approval_id != NULL) {
		if (!gate_id_valid(rq->approval_id))
			h->bad_client_id = 1;	/* denied in gate_start() */
		else
			snprintf(h->client_id, sizeof(h->client_id), "%s",
			    rq->approval_id);
	}
	if (eng_call(g->eng, gate_start, h) == -1)
		goto out_free_hold;
	return (0);

out_free_hold:
	gate_hold_free(h);
out_unhold:
	__atomic_sub_fetch(&g->holding, 1, __ATOMIC_RELAXED);
	return (-1);
}

int
gate_lookup(struct gate *g, const char *approval_id, gate_done_fn *done,
    void *arg)
{
	struct gate_hold	*h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return (-1);
	h->g = g;
	h->done = done;
	h->arg = arg;
	h->count = -1;
	h->step = STEP_STATUS;
	buf_init(&h->pc_reply, 1);
	/* The id goes into a Wingman URL: nothing but an id may pass. */
	if (gate_id_valid(approval_id))
		snprintf(h->id, sizeof(h->id), "%s", approval_id);
	else
		h->bad_client_id = 1;
	if ((h->request_id = strdup("-")) == NULL ||
	    eng_call(g->eng, gate_start, h) == -1) {
		gate_hold_free(h);
		return (-1);
	}
	return (0);
}

size_t
gate_holding(struct gate *g)
{
	return (__atomic_load_n(&g->holding, __ATOMIC_RELAXED));
}

int
gate_applies(const struct gate *g, const struct route *r)
{
	(void)g;
	if (!cfg_live()->gate_enabled)
		return (0);
	switch (r->kind) {
	case ROUTE_BULK_DELETE:
	case ROUTE_RESET:
	case ROUTE_DESTROY:
		return (1);
	case ROUTE_BULK_UPDATE:
		return (cfg_live()->gate_bulk_update);
	case ROUTE_CONFIG_WRITE:
		return (cfg_live()->gate_config_write);
	default:
		return (0);
	}
}

struct gate *
gate_create(const struct config *cfg, struct eng *eng, struct wm *wm,
    const struct anon *anon, char *err, size_t errlen)
{
	struct gate	*g;

	if ((g = calloc(1, sizeof(*g))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	g->cfg = cfg;
	g->eng = eng;
	g->wm = wm;
	g->anon = anon;
	if (cfg->request_key_file != NULL &&
	    (g->request_key = gate_read_key(cfg->request_key_file, err,
	    errlen)) == NULL)
		goto out_free_gate;
	if (cfg->read_key_file != NULL &&
	    (g->read_key = gate_read_key(cfg->read_key_file, err, errlen)) ==
	    NULL)
		goto out_free_gate;
	return (g);

out_free_gate:
	gate_destroy(g);
	return (NULL);
}

struct gate_keys {
	struct gate	*g;
	char		*request_key;
	char		*read_key;
};

/* Engine thread: the only reader of the keys swaps them. */
static void
gate_swap_keys(void *arg)
{
	struct gate_keys	*k = arg;
	char			*old;

	old = k->g->request_key;
	k->g->request_key = k->request_key;
	k->request_key = old;
	old = k->g->read_key;
	k->g->read_key = k->read_key;
	k->read_key = old;
	free(k->request_key);
	free(k->read_key);
	free(k);
}

int
gate_reload_keys(struct gate *g, const struct config *cfg, char *err,
    size_t errlen)
{
	struct gate_keys	*k;

	if ((k = calloc(1, sizeof(*k))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	k->g = g;
	if ((cfg->request_key_file != NULL &&
	    (k->request_key = gate_read_key(cfg->request_key_file, err,
	    errlen)) == NULL) || (cfg->read_key_file != NULL &&
	    (k->read_key = gate_read_key(cfg->read_key_file, err, errlen)) ==
	    NULL)) {
		free(k->request_key);
		free(k);
		return (-1);
	}
	if (eng_call(g->eng, gate_swap_keys, k) == -1) {
		free(k->request_key);
		free(k->read_key);
		free(k);
		snprintf(err, errlen, "the engine is stopping");
		return (-1);
	}
	return (0);
}

void
gate_destroy(struct gate *g)
{
	struct gate_entry	*e;

	if (g == NULL)
		return;
	while ((e = g->entries) != NULL) {
		g->entries = e->next;
		gate_entry_free(e);
	}
	free(g->request_key);
	free(g->read_key);
	free(g);
}
