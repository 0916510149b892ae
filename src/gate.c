/*
 * gate: the approval state machine for held requests. See gate.h.
 *
 * Everything below gate_hold()/gate_lookup() runs on the engine thread:
 * the Wingman calls (wm_call), the Mem0 pre-count (a plain transfer), the
 * poll timers, and the answers of the approval store (whose file work
 * runs on the store's thread and comes back through eng_call()). A hold
 * is one struct gate_hold walking through
 *
 *   start -> [X-Approval-Id: store GET | plain: store FIND]
 *         -> found: poll ... | not found: limits -> precount -> request
 *            -> store PUT -> poll ...
 *         -> APPROVED: store USE -> "Starting" claim -> forward
 *
 * and it is finished exactly once: every path ends in gate_finish().
 *
 * Beside the holds the engine thread keeps one entry per approval this
 * proxy is asking for or waiting on (gate_entry): it makes a second hold
 * for the same SCOPE wait for the first one's request instead of asking
 * again, and it counts the approvals waiting for a human per client
 * address, per credential and overall (gate.max_pending*).
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "claim.h"
#include "gate.h"
#include "log.h"
#include "metrics.h"
#include "trust.h"
#include "worker.h"

#define GATE_KEY_MAX		4096
#define GATE_SCOPE_MAX		APPR_SCOPE_MAX
#define GATE_INSTR_MAX		8192
#define GATE_PRECOUNT_MAX	(16 * 1024 * 1024)
#define GATE_PRECOUNT_CAP	1000	/* OSS lists at most this many */
#define GATE_RETRY_AFTER_S	5
#define GATE_WAIT_MS		50	/* while another hold asks */
#define GATE_CLIENT_MAX		64
#define GATE_CRED_LEN		16	/* hex digits of a credential */
#define GATE_REFRESH_MIN_MS	5000	/* between two looks at one entry */
#define GATE_ID_BUCKETS		4096	/* by_id[]: a power of two */
/* From this many approvals pending, one GET /approvals/pending every
 * half poll interval answers their polls (gate_sweep()). */
#define GATE_SWEEP_MIN		8
#define GATE_SWEEP_MAX_LIST	20000	/* its ?limit= at most */
#define GATE_SWEEP_MAX_REPLY	(32 * 1024 * 1024)
#define GATE_SWEEP_TRIM		(1024 * 1024)	/* a reply this large:
						   its memory goes back to
						   the system after */
/* Polls by id in flight at most; more wait in the proxy (a decision on
 * thousands of approvals at once must not become Wingman timeouts). */
#define GATE_POLLS_MAX		32
#define GATE_POLL_SLACK_MS	250	/* polls come due together */
#define GATE_REFRESH_MAX	8	/* refresh calls in flight */
#define GATE_SHOWN_MAX		100	/* approvals on the status page */
#define GATE_SHOWN_MS		1000	/* its refresh period */

enum gate_estate {
	GE_CREATING = 0,	/* asking Wingman now */
	GE_PENDING,		/* asked; no decision seen yet */
	GE_DONE			/* decided, used, or the request failed */
};

/* An approval this proxy is asking for, or waiting on. Engine thread. */
struct gate_entry {
	unsigned long long	 seq;
	char			*scope;
	char			 id[GATE_ID_MAX + 1];	/* "" while creating */
	char			 client[GATE_CLIENT_MAX];
	char			 cred[GATE_CRED_LEN + 1];	/* or "" */
	long long		 created_ms;	/* monotonic */
	const struct config	*cfg;		/* the snapshot of the request
						   that made it: its Wingman */
	long long		 expires_ms;	/* created_ms + that gate.ttl_ms */
	long long		 refreshed_ms;	/* last asked Wingman, or 0 */
	cJSON			*reply;		/* Wingman's last answer to a
						   poll by id (held duplicates
						   share it), or NULL */
	long long		 reply_ms;
	long long		 asking_ms;	/* a poll by id for it started
						   then, unanswered; or 0 */
	long long		 failed_ms;	/* the last poll by id failed
						   then (failed_why), or 0:
						   the holds that waited for
						   it fail too */
	const char		*failed_why;	/* static */
	/* The pending list's word: PENDING, as asked for (ident). */
	long long		 listed_ms;	/* the list's ask time, 0 none */
	long long		 listed_created; /* its created_at, -1 none */
	int			 listed;	/* in the last good list */
	char			 ident[APPR_DIGEST_LEN + 1];	/* gate_ident()
						   of what was asked, or "" */
	enum gate_estate	 state;
	const char		*kind;		/* route_kind_name() */
	struct gate_entry	*next;
	struct gate_entry	*hnext;		/* g->by_id[], once id is set */
};

/*
 * The approvals shown on the status page: a copy of the entries still
 * asking or pending, made by the engine thread every GATE_SHOWN_MS and
 * read by the admin listener under the gate's shown_lock.
 */
struct gate_shown {
	char		 id[GATE_ID_MAX + 1];
	char		*scope;
	const char	*kind;
	const char	*state;		/* "asking", "pending" */
	char		 wm_status[32];	/* Wingman's last word, or "" */
	long long	 created_ms;	/* monotonic */
};

struct gate {
	const struct config	*cfg;
	struct eng		*eng;
	struct wm		*wm;
	const struct anon	*anon;
	struct appr		*store;
	char			*request_key;	/* NULL: none configured */
	char			*read_key;
	size_t			 holding;	/* atomic */

	/* Engine thread only. Oldest first. */
	struct gate_entry	*entries;
	/* The entries with an id, by id: a poll finds its approval in
	 * O(1), not by a walk through every hold. */
	struct gate_entry	*by_id[GATE_ID_BUCKETS];
	unsigned long long	 next_seq;
	int			 refreshing;	/* refresh calls in flight */
	int			 polling;	/* polls by id in flight */
	struct gate_hold	*pollq_head;	/* holds waiting for a slot */
	struct gate_hold	*pollq_tail;
	long long		 sweep_ms;	/* last list call asked, or 0 */
	int			 sweeping;	/* a list call is in flight, or
						   its reply with the lister */
	int			 sweep_failed;	/* the last one failed */
	char			 sweep_digest[APPR_DIGEST_LEN + 1];
					/* of the last good list, or "" */
	struct wk		*lister;	/* digests and parses lists */
	int			 lister_stop;	/* atomic: shutting down, the
						   list at hand is dropped */
	long long		 shown_ms;	/* last gate_show() */

	/* The status page's copy (gate_show()), under shown_lock. */
	pthread_mutex_t		 shown_lock;
	int			 shown_lock_ok;
	struct gate_shown	*shown;
	size_t			 n_shown;
	size_t			 n_waiting;	/* all, beyond GATE_SHOWN_MAX */
	long long		 oldest_pending_ms; /* created_ms, or 0 */
};

enum gate_step {
	STEP_START = 0,
	STEP_LOOKUP,		/* the id the client named: store, Wingman */
	STEP_FIND,		/* an outstanding approval for the SCOPE */
	STEP_PRECOUNT,
	STEP_REQUEST,		/* POST /approvals/request */
	STEP_RECORD,		/* store PUT of the new approval */
	STEP_POLL,
	STEP_USE,		/* store USE: may we forward? */
	STEP_STATUS		/* gate_lookup(): report, don't decide */
};

/*
 * What a hold asked Wingman for, as the store records it: struct
 * appr_rec without the SCOPE (1 KiB), which the hold keeps once, sized
 * to fit, in its scope.
 */
struct gate_asked {
	char		 id[APPR_ID_MAX + 1];
	long long	 created;	/* UTC seconds */
	char		 task[APPR_TASK_MAX + 1];
	char		 worker[APPR_WORKER_MAX + 1];
	char		 instruction[APPR_DIGEST_LEN + 1];	/* digest */
};

struct gate_hold {
	struct gate		*g;
	const struct config	*cfg;		/* the request's snapshot
						   (gate.h), all along */
	struct gate_hold	*poll_next;	/* g->pollq, waiting for a
						   poll slot */
	enum gate_step		 step;
	const struct route	*route;
	char			*method;
	char			*target;
	char			*scope;
	char			*reason;	/* safe (gate_reason()) */
	char			*request_id;
	char			*authorization;
	char			*api_key;
	char			 client[GATE_CLIENT_MAX];
	char			 cred[GATE_CRED_LEN + 1];
	char			 client_id[GATE_ID_MAX + 1];	/* header */
	int			 bad_client_id;
	char			 id[GATE_ID_MAX + 1];
	unsigned long long	 entry;		/* seq of the entry this hold
						   created, 0 none */
	struct gate_asked	 rec;		/* what was asked */
	long long		 deadline_ms;	/* hold_max */
	long long		 deferred_ms;	/* waiting since then for
						   another hold's poll of its
						   approval, or 0 */
	long			 count;
	int			 count_capped;
	int			 auto_approved;
	struct appr_job		*job;		/* the store job in flight or
						   just answered (one at a
						   time); NULL while the hold
						   waits for a poll */
	gate_done_fn		*done;
	void			*arg;

	/* Pre-count transfer. */
	struct curl_slist	*pc_headers;
	char			*pc_url;
	char			*pc_body;
	struct buf		 pc_reply;
};

static void	 gate_poll(void *arg);
static void	 gate_start(void *arg);
static void	 gate_pollq_expire(struct gate *);

/* ---- small helpers ---------------------------------------------------- */

/*
 * Read a secret (a Wingman key) from a file: the first line, trimmed.
 * Refused when the file is readable by group or others, or empty.
 */
static char *
gate_read_key(const char *path, char *err, size_t errlen)
{
	unsigned char	 key[GATE_KEY_MAX];
	char		*out;
	size_t		 len, n;

	if (trust_read_key(path, key, sizeof(key), &len, err, errlen) == -1)
		return (NULL);
	/* The first line: it goes into a header. */
	for (n = 0; n < len && key[n] != '\r' && key[n] != '\n'; n++)
		;
	len = n;
	while (len > 0 && (key[len - 1] == ' ' || key[len - 1] == '\t'))
		len--;
	if (len == 0) {
		snprintf(err, errlen, "key file %s is empty", path);
		return (NULL);
	}
	if ((out = strndup((const char *)key, len)) == NULL)
		snprintf(err, errlen, "out of memory");
	OPENSSL_cleanse(key, sizeof(key));
	return (out);
}

/*
 * Seconds since the epoch of an ISO-8601 time as Wingman writes it
 * ("2026-11-24T12:33:53.192312+00:00"): fraction ignored, the offset
 * (Z, +HH:MM, -HH:MM, +HHMM) applied; none means UTC. -1 when it does not
 * parse.
 */
long long
gate_parse_utc(const char *iso)
{
	struct tm	 tm;
	const char	*p;
	long long	 t;
	int		 sign, hh, mm;

	memset(&tm, 0, sizeof(tm));
	if (iso == NULL ||
	    (p = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return (-1);
	t = (long long)timegm(&tm);
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			;
	if (*p == '\0' || strcmp(p, "Z") == 0)
		return (t);
	if (*p != '+' && *p != '-')
		return (-1);
	sign = *p++ == '+' ? 1 : -1;
	if (sscanf(p, "%2d:%2d", &hh, &mm) != 2 &&
	    sscanf(p, "%2d%2d", &hh, &mm) != 2)
		return (-1);
	if (hh > 23 || mm > 59)
		return (-1);
	return (t - sign * (hh * 3600LL + mm * 60LL));
}

static const char *
gate_json_str(const cJSON *obj, const char *key)
{
	const cJSON	*v;

	v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return (cJSON_IsString(v) ? v->valuestring : NULL);
}

/* The keyed digest of an instruction, as recorded in the store. */
static void
gate_instr_digest(const struct anon *a, const char *instr, char *out)
{
	static const char	 tag[] = "\0approval-instruction\0";
	struct buf		 b;

	buf_init(&b, (size_t)-1 / 2);
	if (buf_append(&b, tag, sizeof(tag)) == -1 ||
	    buf_append_str(&b, instr) == -1) {
		buf_free(&b);
		out[0] = '\0';		/* matches nothing: refused */
		return;
	}
	anon_digest(a, b.data, b.len, out, APPR_DIGEST_LEN);
	buf_free(&b);
}

/*
 * What identifies an approval as the one asked for: the keyed digest of
 * its task, worker and instruction digest (gate_same_approval()'s
 * fields), into out (APPR_DIGEST_LEN + 1 bytes; "" matches nothing).
 */
static void
gate_ident(const struct anon *a, const char *task, const char *worker,
    const char *instr_digest, char *out)
{
	static const char	 tag[] = "\0approval-ident\0";
	struct buf		 b;

	buf_init(&b, 2 * APPR_SCOPE_MAX);
	buf_append(&b, tag, sizeof(tag));
	buf_append(&b, task, strlen(task) + 1);
	buf_append(&b, worker, strlen(worker) + 1);
	buf_append_str(&b, instr_digest);
	if (buf_result(&b) == -1)
		out[0] = '\0';
	else
		anon_digest(a, b.data, b.len, out, APPR_DIGEST_LEN);
	buf_free(&b);
}

/* ---- scope and instruction --------------------------------------------- */

static int
gate_cmp_str(const void *a, const void *b)
{
	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

/* Append "<length>:<bytes>\n" (NULL: "-\n"): fields never run together.
 * 0 or -1. */
static void
gate_put_field(struct buf *b, const char *s, size_t len)
{
	if (s == NULL) {
		buf_append_str(b, "-\n");
		return;
	}
	buf_printf(b, "%zu:", len);
	buf_append(b, s, len);
	buf_append_str(b, "\n");
}

/* gate_put_field() of a string, or of NULL. */
static void
gate_put_str(struct buf *b, const char *s)
{
	gate_put_field(b, s, s != NULL ? strlen(s) : 0);
}

int
gate_scope(struct buf *out, const struct anon *a,
    const struct gate_request *rq)
{
	const struct route	*r = rq->route;
	char			 pseudo[ROUTE_MAX_IDS][ANON_PSEUDO_LEN + 1];
	const char		*sorted[ROUTE_MAX_IDS];
	char			 digest[33], m[17];
	struct buf		 req;
	size_t			 i, n;
	int			 t;

	for (i = 0; i < sizeof(m) - 1 && rq->method[i] != '\0'; i++)
		m[i] = (char)toupper((unsigned char)rq->method[i]);
	m[i] = '\0';
	buf_printf(out, "%s %s %s", m, r->pattern[0] ? r->pattern : "-",
	    route_dialect_name(r->dialect));
	for (t = 0; t < ROUTE_ENT_COUNT; t++) {
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
		buf_printf(out, " %s=", route_entity_name((enum route_entity)t));
		for (i = 0; i < n; i++)
			buf_printf(out, "%s%s", i ? "," : "", sorted[i]);
	}
	if (r->entity_number != NULL) {
		buf_append_str(out, " entity=");
		claim_put_entity_number(out, a, r);
	}
	if (r->n_ids_seen > r->n_ids)
		buf_printf(out, " more_ids=%zu", r->n_ids_seen - r->n_ids);
	if (r->n_memory_ids_seen > 0)
		buf_printf(out, " memories=%zu", r->n_memory_ids_seen);
	if (buf_result(out) != 0)
		return (-1);

	/* The digest binds the approval to these exact bytes. */
	buf_init(&req, (size_t)-1 / 2);
	buf_append_str(&req, "scope v2\n");
	gate_put_str(&req, rq->method);
	gate_put_str(&req, rq->target);
	gate_put_str(&req, rq->content_type);
	gate_put_str(&req, rq->content_encoding);
	gate_put_str(&req, rq->authorization);
	gate_put_str(&req, rq->api_key);
	gate_put_field(&req, rq->body, rq->body != NULL ? rq->body_len : 0);
	if (buf_result(&req) != 0) {
		buf_free(&req);
		return (-1);
	}
	anon_digest(a, req.data, req.len, digest, 32);
	buf_free(&req);
	return (buf_printf(out, " digest=%s", digest));
}

const char *
gate_task_name(const struct config *cfg, const struct route *r)
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
		return (cfg != NULL ? cfg->gate_task_name :
		    "Bulk Memory Deletion");
	}
}

/* "user u:1a2b3c4d, agent all agents" for a list of ids. */
static int
gate_put_ids(struct buf *out, const struct anon *a,
    const struct route_id *ids, size_t n)
{
	char	 p[ANON_PSEUDO_LEN + 1];
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (strcmp(ids[i].value, "*") == 0)
			buf_printf(out, "%sall %ss", i ? ", " : "",
			    route_entity_name(ids[i].type));
		else {
			anon_pseudonym(a, route_entity_letter(ids[i].type),
			    ids[i].value, strlen(ids[i].value), p);
			buf_printf(out, "%s%s %s", i ? ", " : "",
			    route_entity_name(ids[i].type), p);
		}
	}
	return (buf_result(out));
}

/*
 * What the request affects, in the words of an approver: the entities
 * Mem0 will filter on, or what an unfiltered request of this kind means.
 */
static int
gate_put_subject(struct buf *out, const struct anon *a, const struct route *r)
{
	char	 p[ANON_PSEUDO_LEN + 1];

	if (r->n_ids == 0 && r->entity_number != NULL) {
		claim_put_entity_number(out, a, r);
		return (buf_append_str(out, " (Mem0's internal number of the "
		    "entity, not its id: GET /v1/entities/ says which one it "
		    "is)"));
	}
	if (r->n_ids > 0) {
		gate_put_ids(out, a, r->ids, r->n_ids);
		if (r->n_ids_seen > r->n_ids)
			buf_printf(out, " (+%zu more)", r->n_ids_seen -
			    r->n_ids);
		return (buf_result(out));
	}
	switch (r->kind) {
	case ROUTE_RESET:
		return (buf_append_str(out, "ALL memories of ALL entities"));
	case ROUTE_DESTROY:
		return (buf_append_str(out, "the whole organization or project "
		    "and ALL its memories"));
	case ROUTE_CONFIG_WRITE:
		return (buf_append_str(out, "the Mem0 configuration"));
	default:
		break;
	}
	if (r->body_subject)
		return (buf_printf(out, "the %zu listed memories",
		    r->n_memory_ids_seen));
	if (r->delete_linked && r->n_memory_ids > 0) {
		if (claim_id_is_opaque(r->memory_ids[0],
		    strlen(r->memory_ids[0])))
			return (buf_printf(out, "memory %s and every memory "
			    "linked to it", r->memory_ids[0]));
		anon_pseudonym(a, 'm', r->memory_ids[0],
		    strlen(r->memory_ids[0]), p);
		return (buf_printf(out, "memory %s and every memory linked to "
		    "it", p));
	}
	if (r->id_src == ROUTE_SRC_QUERY)
		return (buf_append_str(out, "ALL memories of the project (no "
		    "user, agent, app or run filter)"));
	return (buf_append_str(out, "no known entity"));
}

/* Where an ignored id was found, for the IGNORED line. */
static const char *
gate_src_name(unsigned int src)
{
	if (src & ROUTE_SRC_BODY)
		return ("body");
	if (src & ROUTE_SRC_QUERY)
		return ("query");
	return ("path");
}

/* "IGNORED: ..." when the request names ids Mem0 will not read. */
static int
gate_put_ignored(struct buf *out, const struct anon *a, const struct route *r)
{
	const char	*from;
	size_t		 i;

	if (r->n_ignored_seen == 0)
		return (0);
	buf_append_str(out, "IGNORED: the request also names ");
	gate_put_ids(out, a, r->ignored, r->n_ignored);
	if (r->n_ignored_seen > r->n_ignored)
		buf_printf(out, " (+%zu more)", r->n_ignored_seen -
		    r->n_ignored);
	from = r->n_ignored > 0 ? gate_src_name(r->ignored[0].src) : "body";
	for (i = 1; i < r->n_ignored; i++)
		if (strcmp(gate_src_name(r->ignored[i].src), from) != 0)
			from = "request";
	return (buf_printf(out, " in its %s; Mem0 does not read them for "
	    "this request, so they do not narrow what it affects.\n", from));
}

int
gate_reason(struct buf *out, const struct anon *a, const struct route *r,
    const char *reason)
{
	struct anon_known	 known[ROUTE_MAX_IDS + ROUTE_MAX_IGNORED];
	size_t			 i, n = 0;
	int			 rc;

	for (i = 0; i < r->n_ids; i++) {
		known[n].letter = route_entity_letter(r->ids[i].type);
		known[n++].value = r->ids[i].value;
	}
	for (i = 0; i < r->n_ignored; i++) {
		known[n].letter = route_entity_letter(r->ignored[i].type);
		known[n++].value = r->ignored[i].value;
	}
	if (reason != NULL && (rc = anon_redact(out, a, reason,
	    GATE_REASON_MAX, known, n)) != 0)
		return (rc);
	if (out->len == 0)
		return (buf_append_str(out, "not given"));
	return (0);
}

int
gate_instruction(struct buf *out, const struct anon *a,
    const struct gate_instr *in)
{
	const struct route	*r = in->route;
	struct buf		 subj, ign;
	struct tm		 tm;
	time_t			 t = (time_t)in->expires;
	char			 when[32], cnt[48];
	const char		*what;
	int			 rc = -1;

	switch (r->kind) {
	case ROUTE_RESET:
		what = "Delete all memories of all entities (Mem0 reset, a "
		    "full wipe)";
		break;
	case ROUTE_DESTROY:
		what = "Delete a whole Mem0 organization or project";
		break;
	case ROUTE_BULK_UPDATE:
		what = "Update memories in bulk, overwriting their text";
		break;
	case ROUTE_CONFIG_WRITE:
		what = "Change the Mem0 configuration (it can repoint or "
		    "wipe the memory store)";
		break;
	default:
		what = "Delete memories in bulk";
		break;
	}
	buf_init(&subj, 2048);
	buf_init(&ign, 2048);
	if (gate_put_subject(&subj, a, r) == -1 ||
	    gate_put_ignored(&ign, a, r) == -1)
		goto out_free;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (in->count < 0)
		snprintf(cnt, sizeof(cnt), "unknown");
	else if (in->count_capped)
		snprintf(cnt, sizeof(cnt), "at least %ld", in->count);
	else
		snprintf(cnt, sizeof(cnt), "%ld", in->count);
	rc = buf_printf(out,
	    "DELIVERABLES: %s for %s through mem0-audit-proxy, exactly as "
	    "described by SCOPE.\n"
	    "SUCCESS_CRITERIA: Mem0 accepts the request once; nothing outside "
	    "SCOPE is changed.\n"
	    "BOUNDARIES: Only the request identified by SCOPE; the proxy "
	    "refuses any other request with this approval.\n"
	    "DEPENDENCIES: Mem0 reachable from the proxy; this approval "
	    "decided before EXPIRES.\n"
	    "MITIGATION: Deleted or overwritten memories cannot be restored "
	    "by the proxy; export them first if they may be needed; reject "
	    "when unsure.\n"
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
	    "%s"
	    "REASON: %s\n"
	    "AFFECTED: %s memories\n"
	    "EXPIRES: %s\n"
	    "SCOPE: %s",
	    what, subj.data, cnt, subj.data, ign.data != NULL ? ign.data : "",
	    in->reason != NULL ? in->reason : "not given", cnt, when,
	    in->scope);

out_free:
	buf_free(&subj);
	buf_free(&ign);
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

enum gate_verdict
gate_verdict(const struct gate_view *v)
{
	const char	*s = v->status;

	if (s == NULL)
		return (GATE_V_UNAVAILABLE);
	if (strcmp(s, "REJECTED") == 0 || strcmp(s, "AUTO_REJECTED") == 0)
		return (GATE_V_REJECTED);
	if (strcmp(s, "EXPIRED") == 0)
		return (GATE_V_EXPIRED);
	if (strcmp(s, "APPROVED") != 0 && strcmp(s, "AUTO_APPROVED") != 0 &&
	    strcmp(s, "PENDING") != 0)
		return (GATE_V_UNAVAILABLE);
	/* An automatic approval is the answer to the request, or nothing. */
	if (strcmp(s, "AUTO_APPROVED") == 0 && !v->immediate)
		return (GATE_V_INVALID);
	/* Default-deny: an approval past the proxy's own ttl is void. */
	if (v->age_s > v->ttl_s)
		return (GATE_V_EXPIRED);
	if (strcmp(s, "PENDING") == 0)
		return (v->past_deadline ? GATE_V_TIMEOUT : GATE_V_POLL);
	if (v->require_human && (strcmp(s, "AUTO_APPROVED") == 0 ||
	    !v->decided_by))
		return (GATE_V_NOT_HUMAN);
	return (GATE_V_FORWARD);
}

/* ---- entries ----------------------------------------------------------- */

/* An approval id's bucket of g->by_id. */
static size_t
gate_id_hash(const char *id)
{
	return (appr_str_hash(id) & (GATE_ID_BUCKETS - 1));
}

static void
gate_id_unlink(struct gate *g, struct gate_entry *e)
{
	struct gate_entry	**pp;

	if (e->id[0] == '\0')
		return;
	for (pp = &g->by_id[gate_id_hash(e->id)]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	e->hnext = NULL;
}

/* Wingman named the approval of e: id. */
static void
gate_id_set(struct gate *g, struct gate_entry *e, const char *id)
{
	size_t	 b;

	gate_id_unlink(g, e);
	snprintf(e->id, sizeof(e->id), "%s", id);
	if (e->id[0] == '\0')
		return;
	b = gate_id_hash(e->id);
	e->hnext = g->by_id[b];
	g->by_id[b] = e;
}

static void
gate_entry_free(struct gate_entry *e)
{
	cJSON_Delete(e->reply);
	free(e->scope);
	free(e);
}

/* Forget entries that are done, and any past the ttl of the request
 * that made them. */
static void
gate_entries_prune(struct gate *g)
{
	struct gate_entry	**pp, *e;
	long long		 now = eng_now_ms();

	for (pp = &g->entries; (e = *pp) != NULL;) {
		if (e->state == GE_DONE || now > e->expires_ms) {
			*pp = e->next;
			gate_id_unlink(g, e);
			gate_entry_free(e);
		} else
			pp = &e->next;
	}
}

static struct gate_entry *
gate_entry_seq(struct gate *g, unsigned long long seq)
{
	struct gate_entry	*e;

	for (e = g->entries; seq != 0 && e != NULL; e = e->next)
		if (e->seq == seq)
			return (e);
	return (NULL);
}

/* The decision on approval id is known: it waits for nobody any more. */
static void
gate_entry_done(struct gate *g, const char *id)
{
	struct gate_entry	*e;

	for (e = g->by_id[gate_id_hash(id)]; e != NULL; e = e->hnext)
		if (strcmp(e->id, id) == 0)
			e->state = GE_DONE;
}

/* The entry of the approval id (the oldest, if several), or NULL. */
static struct gate_entry *
gate_entry_id(struct gate *g, const char *id)
{
	struct gate_entry	*e, *found = NULL;

	if (id[0] == '\0')
		return (NULL);
	for (e = g->by_id[gate_id_hash(id)]; e != NULL; e = e->hnext)
		if (strcmp(e->id, id) == 0 && (found == NULL ||
		    e->seq < found->seq))
			found = e;
	return (found);
}

/* Is another hold asking Wingman for this SCOPE right now? */
static int
gate_entry_asking(struct gate *g, const char *scope)
{
	struct gate_entry	*e;

	gate_entries_prune(g);
	for (e = g->entries; e != NULL; e = e->next)
		if (e->state == GE_CREATING && strcmp(e->scope, scope) == 0)
			return (1);
	return (0);
}

/* A new entry for h, asking (appended: the list stays oldest first). */
static struct gate_entry *
gate_entry_new(struct gate *g, const struct gate_hold *h)
{
	struct gate_entry	*e, **pp;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return (NULL);
	if ((e->scope = strdup(h->scope)) == NULL) {
		free(e);
		return (NULL);
	}
	e->seq = ++g->next_seq;
	snprintf(e->client, sizeof(e->client), "%s", h->client);
	snprintf(e->cred, sizeof(e->cred), "%s", h->cred);
	e->created_ms = eng_now_ms();
	e->cfg = h->cfg;
	e->expires_ms = e->created_ms + h->cfg->gate_ttl_ms;
	e->listed_created = -1;
	e->state = GE_CREATING;
	e->kind = route_kind_name(h->route->kind);
	for (pp = &g->entries; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = e;
	return (e);
}

/* ---- the status page's copy -------------------------------------------- */

static void
gate_shown_free(struct gate_shown *v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(v[i].scope);
	free(v);
}

/*
 * Engine tick: every GATE_SHOWN_MS, copy the approvals still asking or
 * pending for the admin listener. Out of memory: the old copy stays.
 */
static void
gate_show(void *arg)
{
	struct gate		*g = arg;
	struct gate_entry	*e;
	struct gate_shown	*v, *old;
	long long		 now = eng_now_ms(), oldest = 0;
	size_t			 n = 0, all = 0, n_old;
	cJSON			*st;

	if (g->shown_ms != 0 && now - g->shown_ms < GATE_SHOWN_MS)
		return;
	g->shown_ms = now;
	gate_pollq_expire(g);
	gate_entries_prune(g);
	if ((v = calloc(GATE_SHOWN_MAX, sizeof(*v))) == NULL)
		return;
	for (e = g->entries; e != NULL; e = e->next) {
		if (e->state == GE_DONE)
			continue;
		all++;
		if (e->state == GE_PENDING && oldest == 0)
			oldest = e->created_ms;
		if (n == GATE_SHOWN_MAX ||
		    (v[n].scope = strdup(e->scope)) == NULL)
			continue;
		snprintf(v[n].id, sizeof(v[n].id), "%s", e->id);
		v[n].kind = e->kind;
		v[n].state = e->state == GE_PENDING ? "pending" : "asking";
		st = e->reply != NULL && e->reply_ms >= e->listed_ms ?
		    cJSON_GetObjectItemCaseSensitive(e->reply, "status") : NULL;
		if (cJSON_IsString(st))
			snprintf(v[n].wm_status, sizeof(v[n].wm_status), "%s",
			    st->valuestring);
		else if (e->listed_ms != 0)
			snprintf(v[n].wm_status, sizeof(v[n].wm_status),
			    "PENDING");
		v[n].created_ms = e->created_ms;
		n++;
	}
	pthread_mutex_lock(&g->shown_lock);
	old = g->shown;
	n_old = g->n_shown;
	g->shown = v;
	g->n_shown = n;
	g->n_waiting = all;
	g->oldest_pending_ms = oldest;
	pthread_mutex_unlock(&g->shown_lock);
	gate_shown_free(old, n_old);
}

int
gate_status_json(struct gate *g, cJSON *obj, const char *wingman_url)
{
	cJSON		*arr, *it;
	long long	 now = eng_now_ms();
	size_t		 i;
	char		 link[1024];
	int		 rc = -1;

	if ((arr = cJSON_AddArrayToObject(obj, "approvals")) == NULL)
		return (-1);
	pthread_mutex_lock(&g->shown_lock);
	for (i = 0; i < g->n_shown; i++) {
		if ((it = cJSON_CreateObject()) == NULL)
			goto out_unlock;
		cJSON_AddItemToArray(arr, it);
		if (cJSON_AddStringToObject(it, "id", g->shown[i].id) ==
		    NULL ||
		    cJSON_AddStringToObject(it, "kind", g->shown[i].kind) ==
		    NULL ||
		    cJSON_AddStringToObject(it, "scope", g->shown[i].scope) ==
		    NULL ||
		    cJSON_AddStringToObject(it, "state", g->shown[i].state) ==
		    NULL ||
		    cJSON_AddStringToObject(it, "wingman_status",
		    g->shown[i].wm_status) == NULL ||
		    cJSON_AddNumberToObject(it, "age_s",
		    (double)((now - g->shown[i].created_ms) / 1000)) == NULL)
			goto out_unlock;
		link[0] = '\0';
		if (g->shown[i].id[0] != '\0')
			snprintf(link, sizeof(link), "%s/approvals/%s",
			    wingman_url, g->shown[i].id);
		if (cJSON_AddStringToObject(it, "link", link) == NULL)
			goto out_unlock;
	}
	if (cJSON_AddNumberToObject(obj, "approvals_waiting",
	    (double)g->n_waiting) == NULL)
		goto out_unlock;
	rc = 0;
out_unlock:
	pthread_mutex_unlock(&g->shown_lock);
	return (rc);
}

double
gate_oldest_pending_s(struct gate *g)
{
	long long	 t;

	pthread_mutex_lock(&g->shown_lock);
	t = g->oldest_pending_ms;
	pthread_mutex_unlock(&g->shown_lock);
	return (t == 0 ? 0.0 : (double)(eng_now_ms() - t) / 1000.0);
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
	free(h->job);
	free(h);
}

static enum metrics_approval
gate_metric(const struct gate_outcome *o)
{
	if (o->decision == GATE_FORWARD)
		return (METRICS_A_FORWARDED);
	if (strcmp(o->error, "approval_rejected") == 0 ||
	    strcmp(o->error, "approval_not_human") == 0)
		return (METRICS_A_REJECTED);
	if (strcmp(o->error, "approval_expired") == 0)
		return (METRICS_A_EXPIRED);
	if (strcmp(o->error, "approval_pending") == 0)
		return (METRICS_A_PENDING_TIMEOUT);
	if (strcmp(o->error, "too_many_pending_approvals") == 0)
		return (METRICS_A_LIMITED);
	if (o->status == 503)
		return (METRICS_A_UNAVAILABLE);
	return (METRICS_A_REFUSED);
}

/* Hand the outcome over and free the hold. engine_side: 0 when called
 * off the engine thread (the engine's entries are not touched then). */
static void
gate_finish_on(struct gate_hold *h, struct gate_outcome *o, int engine_side)
{
	struct gate		*g = h->g;
	struct gate_entry	*e;

	/* An entry still asking when its hold ends was never asked for. */
	if (engine_side && (e = gate_entry_seq(g, h->entry)) != NULL &&
	    e->state == GE_CREATING)
		e->state = GE_DONE;
	snprintf(o->approval_id, sizeof(o->approval_id), "%s", h->id);
	o->count = h->count;
	if (h->step != STEP_STATUS) {
		__atomic_sub_fetch(&g->holding, 1, __ATOMIC_RELAXED);
		metrics_approval(gate_metric(o));
	}
	h->done(o, h->arg);
	gate_hold_free(h);
}

static void
gate_finish(struct gate_hold *h, struct gate_outcome *o)
{
	gate_finish_on(h, o, 1);
}

/* A denial: {error, message, approval_id, and Wingman's view when any}. */
static void
gate_deny_outcome(struct gate_hold *h, struct gate_outcome *o, int status,
    const char *error, const char *message, const cJSON *approval)
{
	const char	*v;

	memset(o, 0, sizeof(*o));
	o->decision = GATE_DENY;
	o->status = status;
	o->error = error;
	if ((o->body = cJSON_CreateObject()) != NULL) {
		cJSON_AddStringToObject(o->body, "error", error);
		cJSON_AddStringToObject(o->body, "message", message);
		if (h->id[0] != '\0')
			cJSON_AddStringToObject(o->body, "approval_id", h->id);
		if (approval != NULL) {
			if ((v = gate_json_str(approval, "status")) != NULL)
				cJSON_AddStringToObject(o->body, "status", v);
			v = gate_json_str(approval, "decided_by");
			cJSON_AddItemToObject(o->body, "decided_by", v ?
			    cJSON_CreateString(v) : cJSON_CreateNull());
			v = gate_json_str(approval, "decision_note");
			if (v == NULL)
				v = gate_json_str(approval,
				    "rejection_reason");
			cJSON_AddItemToObject(o->body, "note", v ?
			    cJSON_CreateString(v) : cJSON_CreateNull());
		}
	}
	if (status == 503 || status == 429)
		o->retry_after = GATE_RETRY_AFTER_S;
}

static void
gate_deny(struct gate_hold *h, int status, const char *error,
    const char *message, const cJSON *approval)
{
	struct gate_outcome	 o;

	gate_deny_outcome(h, &o, status, error, message, approval);
	gate_finish(h, &o);
}

static void
gate_unavailable(struct gate_hold *h, const char *why)
{
	if (eng_stopping(h->g->eng)) {
		gate_deny(h, 503, "shutting_down",
		    "the proxy is shutting down; nothing was deleted. Retry.",
		    NULL);
		return;
	}
	log_msg(CFG_LOG_WARN, "approval gate: Wingman unavailable, denying",
	    "request_id", h->request_id, "detail", why, LOG_END);
	gate_deny(h, 503, "wingman_unavailable",
	    "Wingman cannot decide on this request now; nothing was deleted. "
	    "Retry later.", NULL);
}

static void
gate_consumed(struct gate_hold *h)
{
	gate_deny(h, 409, "approval_consumed", "this approval was already "
	    "used; an approval executes one request once", NULL);
}

/* The approval store failed (result of a job that did not succeed). */
static void
gate_store_failed(struct gate_hold *h, enum appr_result res)
{
	if (res == APPR_STOPPING || eng_stopping(h->g->eng))
		gate_deny(h, 503, "shutting_down",
		    "the proxy is shutting down; nothing was deleted. Retry.",
		    NULL);
	else if (res == APPR_FULL)
		gate_deny(h, 503, "approval_store_full",
		    "the proxy keeps gate.max_records approvals and all are "
		    "in use; nothing was deleted. Retry later.", NULL);
	else
		gate_deny(h, 503, "approval_store_unavailable",
		    "the proxy cannot read or write its approval records; "
		    "nothing was deleted. Retry later.", NULL);
}

/* ---- the approval store -------------------------------------------------- */

static void	 gate_on_store(void *arg);

/* The store's thread: bring the answer to the engine thread. */
static void
gate_store_done(struct appr_job *j)
{
	struct gate_hold	*h = j->arg;
	struct gate_outcome	 o;

	if (eng_call(h->g->eng, gate_on_store, h) == 0)
		return;
	/*
	 * Out of memory (the engine stops only after the store): answer
	 * from here, touching nothing the engine thread owns.
	 */
	gate_deny_outcome(h, &o, 503, "shutting_down",
	    "the proxy cannot hold requests now; nothing was deleted. Retry.",
	    NULL);
	gate_finish_on(h, &o, 0);
}

/* What a found record says was asked (its SCOPE is checked apart). */
static void
gate_asked_set(struct gate_asked *a, const struct appr_rec *r)
{
	memcpy(a->id, r->id, sizeof(a->id));
	a->created = r->created;
	memcpy(a->task, r->task, sizeof(a->task));
	memcpy(a->worker, r->worker, sizeof(a->worker));
	memcpy(a->instruction, r->instruction, sizeof(a->instruction));
}

/*
 * Submit a store job for h: GET and USE of h->id, FIND of h->scope, PUT
 * of h->rec with h->scope (used at once when auto-approved). Its answer
 * is in h->job.
 */
static void
gate_store(struct gate_hold *h, enum appr_op op)
{
	const struct config	*cfg = h->cfg;
	struct appr_job		*j;

	if (h->job == NULL && (h->job = malloc(sizeof(*h->job))) == NULL) {
		gate_unavailable(h, "out of memory");
		return;
	}
	j = h->job;
	memset(j, 0, sizeof(*j));
	switch (op) {
	case APPR_PUT:
		memcpy(j->rec.id, h->rec.id, sizeof(j->rec.id));
		j->rec.created = h->rec.created;
		memcpy(j->rec.task, h->rec.task, sizeof(j->rec.task));
		memcpy(j->rec.worker, h->rec.worker, sizeof(j->rec.worker));
		memcpy(j->rec.instruction, h->rec.instruction,
		    sizeof(j->rec.instruction));
		snprintf(j->rec.scope, sizeof(j->rec.scope), "%s", h->scope);
		j->use = h->auto_approved;
		break;
	case APPR_FIND:
		snprintf(j->rec.scope, sizeof(j->rec.scope), "%s", h->scope);
		break;
	case APPR_GET:
	case APPR_USE:
	default:
		snprintf(j->rec.id, sizeof(j->rec.id), "%s", h->id);
		break;
	}
	j->op = op;
	j->ttl = cfg->gate_ttl_ms / 1000;
	j->max = (size_t)cfg->gate_max_records;
	j->done = gate_store_done;
	j->arg = h;
	if (appr_submit(h->g->store, j) == -1)
		gate_store_failed(h, APPR_STOPPING);
}

static void
gate_burned(struct appr_job *j)
{
	free(j);
}

/*
 * An approval that can never be executed (Wingman lost it, it expired,
 * its copy is not the one asked for) is marked used, so that a plain
 * retry of the request asks for a new one instead of meeting it again.
 * Fire and forget: the request is refused either way.
 */
static void
gate_burn(struct gate *g, const char *id)
{
	struct appr_job	*j;

	if (!appr_id_valid(id) || (j = calloc(1, sizeof(*j))) == NULL)
		return;
	j->op = APPR_USE;
	snprintf(j->rec.id, sizeof(j->rec.id), "%s", id);
	j->done = gate_burned;
	if (appr_submit(g->store, j) == -1)
		free(j);
}

/* ---- forwarding -------------------------------------------------------- */

/*
 * The "Starting ..." claim is on disk: release the request to Mem0. Its
 * fsync failed: nothing is forwarded (the approval stays used: a new
 * one is needed, and the log says why).
 */
static void
gate_started(void *arg, int ok)
{
	struct gate_hold	*h = arg;
	struct gate_outcome	 o;

	if (!ok) {
		gate_deny(h, 503, "audit_unavailable", "the audit spool cannot "
		    "store claims now; nothing was deleted. Retry later.",
		    NULL);
		return;
	}
	memset(&o, 0, sizeof(o));
	o.decision = GATE_FORWARD;
	gate_finish(h, &o);
}

/*
 * This hold may forward (the approval is marked used, by it): claim
 * "Starting ..." durably (a group commit: no thread waits for the fsync),
 * then forward. A spool that cannot take the claim stops the request:
 * nothing happens unaudited.
 */
static void
gate_forward(struct gate_hold *h)
{
	struct buf	 text;
	int		 rc;

	if (h->id[0] != '\0')
		gate_entry_done(h->g, h->id);
	buf_init(&text, CLAIM_SET_MAX);
	rc = claim_build_start(&text, h->route, h->g->anon, h->method,
	    h->count, h->id[0] != '\0' ? h->id : NULL, h->request_id);
	if (rc == 0)
		rc = wm_claim_durable(h->g->wm, text.data, gate_started, h);
	buf_free(&text);
	if (rc == 0)
		gate_started(h, 1);
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
	o.status = (int)h->cfg->gate_pending_status;
	o.error = "approval_pending";
	o.retry_after = (int)((h->cfg->gate_poll_interval_ms + 999) / 1000);
	if (o.retry_after < 1)
		o.retry_after = 1;
	snprintf(msg, sizeof(msg), "waiting for a human to approve in "
	    "Wingman; nothing was deleted yet. Repeat the same request (or "
	    "send X-Approval-Id: %s) to resume.", h->id);
	if ((o.body = cJSON_CreateObject()) != NULL) {
		cJSON_AddStringToObject(o.body, "error", "approval_pending");
		cJSON_AddStringToObject(o.body, "message", msg);
		cJSON_AddStringToObject(o.body, "approval_id", h->id);
		cJSON_AddStringToObject(o.body, "status", "PENDING");
	}
	gate_finish(h, &o);
}

/* ---- deciding on an approval object ------------------------------------- */

/*
 * The delay of a hold's next poll: the interval, stretched to the next
 * multiple of an eighth of it (at most GATE_POLL_SLACK_MS), so that the
 * polls of thousands of holds come due together, a few wakeups a
 * second instead of one per hold.
 */
static long
gate_poll_slack(long interval)
{
	long	 slack = interval / 8;

	return (slack > GATE_POLL_SLACK_MS ? GATE_POLL_SLACK_MS :
	    slack > 1 ? slack : 1);
}

static long
gate_poll_delay(long interval)
{
	long long	 due = eng_now_ms() + interval;
	long		 slack = gate_poll_slack(interval);

	return (interval + (long)((slack - due % slack) % slack));
}

static void	 gate_wait_for(struct gate_hold *, long);

/* Poll again after gate.poll_interval_ms, or 409 when the hold is over. */
static void
gate_wait(struct gate_hold *h)
{
	h->deferred_ms = 0;
	gate_wait_for(h, gate_poll_delay(h->cfg->gate_poll_interval_ms));
}

static void
gate_wait_for(struct gate_hold *h, long delay_ms)
{
	/* No store job is in flight while a hold waits: its 1.6 KiB go. */
	free(h->job);
	h->job = NULL;
	if (eng_now_ms() >= h->deadline_ms) {
		gate_pending_timeout(h);
		return;
	}
	if (eng_stopping(h->g->eng)) {
		gate_unavailable(h, "stopping");
		return;
	}
	h->step = STEP_POLL;
	if (eng_timer_add(h->g->eng, delay_ms, gate_poll, h) == -1)
		gate_unavailable(h, "out of memory");
}

/*
 * Is Wingman's approval object the one this proxy asked for (h->rec)?
 * Wingman keeps approvals unchanged; a copy that differs was not made by
 * this proxy's request.
 */
static int
gate_same_approval(struct gate_hold *h, const cJSON *ap)
{
	const char	*task, *worker, *instr;
	char		 digest[APPR_DIGEST_LEN + 1];

	task = gate_json_str(ap, "task_name");
	worker = gate_json_str(ap, "worker_id");
	instr = gate_json_str(ap, "instruction");
	if (task == NULL || worker == NULL || instr == NULL ||
	    strcmp(task, h->rec.task) != 0 ||
	    strcmp(worker, h->rec.worker) != 0)
		return (0);
	gate_instr_digest(h->g->anon, instr, digest);
	return (strcmp(digest, h->rec.instruction) == 0);
}

/* Act on Wingman's copy of the approval h->rec (a poll or a lookup). */
static void
gate_decide(struct gate_hold *h, const cJSON *ap)
{
	const struct config	*cfg = h->cfg;
	struct gate_view	 v;
	const char		*by;
	long long		 created;

	if (!gate_same_approval(h, ap)) {
		log_msg(CFG_LOG_WARN, "approval gate: Wingman's copy of an "
		    "approval differs from the one this proxy asked for",
		    "request_id", h->request_id, "approval_id", h->id,
		    LOG_END);
		gate_entry_done(h->g, h->id);
		gate_burn(h->g, h->id);
		gate_deny(h, 403, "approval_invalid", "Wingman's copy of this "
		    "approval is not the one this proxy asked for; nothing "
		    "was deleted", ap);
		return;
	}
	memset(&v, 0, sizeof(v));
	v.status = gate_json_str(ap, "status");
	by = gate_json_str(ap, "decided_by");
	v.decided_by = by != NULL && by[0] != '\0';
	created = gate_parse_utc(gate_json_str(ap, "created_at"));
	if (created < 0 || h->rec.created < created)
		created = h->rec.created;	/* the older of the two */
	v.age_s = (long long)time(NULL) - created;
	v.ttl_s = cfg->gate_ttl_ms / 1000;
	v.past_deadline = eng_now_ms() >= h->deadline_ms;
	v.require_human = cfg->gate_require_human;
	switch (gate_verdict(&v)) {
	case GATE_V_FORWARD:
		h->step = STEP_USE;
		gate_store(h, APPR_USE);
		return;
	case GATE_V_POLL:
		gate_wait(h);
		return;
	case GATE_V_TIMEOUT:
		gate_pending_timeout(h);
		return;
	case GATE_V_UNAVAILABLE:
		gate_unavailable(h, "unknown approval status");
		return;
	case GATE_V_REJECTED:
	case GATE_V_EXPIRED:
	case GATE_V_NOT_HUMAN:
	case GATE_V_INVALID:
	default:
		break;
	}
	gate_entry_done(h->g, h->id);
	switch (gate_verdict(&v)) {
	case GATE_V_REJECTED:
		gate_deny(h, 403, "approval_rejected",
		    "Wingman rejected this request; nothing was deleted", ap);
		break;
	case GATE_V_EXPIRED:
		gate_burn(h->g, h->id);
		gate_deny(h, 403, "approval_expired", strcmp(v.status,
		    "EXPIRED") == 0 ? "the approval request expired in "
		    "Wingman" : "the approval is older than the proxy's ttl",
		    ap);
		break;
	case GATE_V_NOT_HUMAN:
		gate_deny(h, 403, "approval_not_human", "gate.require_human: "
		    "only an approval decided by a named human counts; nothing "
		    "was deleted", ap);
		break;
	default:
		gate_burn(h->g, h->id);
		gate_deny(h, 403, "approval_invalid", "an automatic approval "
		    "counts only as the answer to the proxy's own request; "
		    "nothing was deleted", ap);
		break;
	}
}

/* GET /approvals/{id} answered (a lookup or a poll). */
static void
gate_on_approval(const struct wm_reply *r, void *arg)
{
	struct gate_hold	*h = arg;
	struct gate_entry	*e;
	const char		*why = NULL;

	/* Held duplicates waiting on this poll share its failure too. */
	if ((e = gate_entry_id(h->g, h->id)) != NULL)
		e->asking_ms = 0;
	if (r->result != CURLE_OK)
		why = curl_easy_strerror(r->result);
	else if (r->status != 404 && (r->status != 200 ||
	    !cJSON_IsObject(r->json)))
		why = r->status == 401 ? "401 from Wingman (read key)" :
		    "unexpected reply to GET /approvals/{id}";
	if (e != NULL) {
		e->failed_ms = why != NULL ? eng_now_ms() : 0;
		e->failed_why = why;
	}
	if (why != NULL) {
		gate_unavailable(h, why);
		return;
	}
	if (r->status == 404) {
		gate_entry_done(h->g, h->id);
		gate_burn(h->g, h->id);
		gate_deny(h, 403, "approval_not_found",
		    "Wingman has no approval with this id", NULL);
		return;
	}
	/* Held duplicates of the request read this answer, not Wingman. */
	if (e != NULL) {
		cJSON_Delete(e->reply);
		e->reply = cJSON_Duplicate(r->json, 1);
		e->reply_ms = eng_now_ms();
	}
	gate_decide(h, r->json);
}

/* gate_lookup(): report Wingman's view of one approval. */
static void
gate_report(const struct wm_reply *r, void *arg)
{
	struct gate_hold	*h = arg;
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
gate_get_approval(struct gate_hold *h, wm_reply_fn *fn)
{
	char	 path[GATE_ID_MAX + 32];

	snprintf(path, sizeof(path), "/approvals/%s", h->id);
	if (wm_call(h->g->wm, h->cfg, "GET", path, NULL, h->g->read_key ?
	    "X-Wingman-Approval-Read-Key" : NULL, h->g->read_key, fn, h) ==
	    -1)
		gate_unavailable(h, "cannot call Wingman");
}

static void	 gate_poll_by_id(struct gate_hold *h);

/*
 * A poll by id answered: its slot goes to the next hold waiting (or,
 * stopping, every waiting hold is answered), then h acts on the answer.
 */
static void
gate_on_poll(const struct wm_reply *r, void *arg)
{
	struct gate_hold	*h = arg, *next;
	struct gate		*g = h->g;

	g->polling--;
	while ((next = g->pollq_head) != NULL &&
	    (g->polling < GATE_POLLS_MAX || eng_stopping(g->eng))) {
		if ((g->pollq_head = next->poll_next) == NULL)
			g->pollq_tail = NULL;
		next->poll_next = NULL;
		if (eng_stopping(g->eng))
			gate_unavailable(next, "stopping");
		else if (eng_now_ms() >= next->deadline_ms)
			gate_pending_timeout(next);	/* no slot spent */
		else
			gate_poll_by_id(next);
	}
	gate_on_approval(r, h);
}

/*
 * Engine tick (with gate_show()): holds still queued for a poll slot at
 * their deadline get their 409 now, not when a slot frees (thousands
 * queued behind a slow Wingman would get it minutes late).
 */
static void
gate_pollq_expire(struct gate *g)
{
	struct gate_hold	**pp, *h, *prev = NULL;
	long long		 now = eng_now_ms();

	for (pp = &g->pollq_head; (h = *pp) != NULL;) {
		if (now < h->deadline_ms) {
			prev = h;
			pp = &h->poll_next;
			continue;
		}
		*pp = h->poll_next;
		if (g->pollq_tail == h)
			g->pollq_tail = prev;
		h->poll_next = NULL;
		gate_pending_timeout(h);
	}
}

/* GET /approvals/{h->id} now, or when a slot frees (GATE_POLLS_MAX). */
static void
gate_poll_by_id(struct gate_hold *h)
{
	struct gate	*g = h->g;
	char		 path[GATE_ID_MAX + 32];

	if (g->polling >= GATE_POLLS_MAX) {
		if (g->pollq_tail != NULL)
			g->pollq_tail->poll_next = h;
		else
			g->pollq_head = h;
		g->pollq_tail = h;
		return;
	}
	snprintf(path, sizeof(path), "/approvals/%s", h->id);
	if (wm_call(g->wm, h->cfg, "GET", path, NULL, g->read_key ?
	    "X-Wingman-Approval-Read-Key" : NULL, g->read_key, gate_on_poll,
	    h) == -1) {
		gate_unavailable(h, "cannot call Wingman");
		return;
	}
	g->polling++;
}

/*
 * The pending list said PENDING of h's approval (as asked for) less than
 * a poll interval ago: wait again, unless the hold is over or the
 * approval past the ttl, which a poll by id decides with Wingman's own
 * copy. 1 when h waits.
 */
static int
gate_still_listed(struct gate_hold *h, const struct gate_entry *e)
{
	const struct config	*cfg = h->cfg;
	struct gate_view	 v;
	long long		 created = h->rec.created;

	if (e->listed_created >= 0 && e->listed_created < created)
		created = e->listed_created;	/* the older of the two */
	memset(&v, 0, sizeof(v));
	v.status = "PENDING";
	v.age_s = (long long)time(NULL) - created;
	v.ttl_s = cfg->gate_ttl_ms / 1000;
	v.past_deadline = eng_now_ms() >= h->deadline_ms;
	v.require_human = cfg->gate_require_human;
	if (gate_verdict(&v) != GATE_V_POLL)
		return (0);
	gate_wait(h);
	return (1);
}

/*
 * What does Wingman say about h's approval? What it said less than a
 * poll interval ago serves, the newer of two: another hold's poll of
 * the same approval (a copy: deciding may drop the entry), so that many
 * held duplicates cost Wingman one question per interval; or the
 * pending list (gate_on_sweep()), so that many holds cost it one list.
 */
static void
gate_consult(struct gate_hold *h)
{
	struct gate_entry	*e;
	cJSON			*ap;
	long long		 now = eng_now_ms();
	long			 every = h->cfg->gate_poll_interval_ms;

	if ((e = gate_entry_id(h->g, h->id)) == NULL) {
		gate_poll_by_id(h);
		return;
	}
	if (e->reply != NULL && e->reply_ms >= e->listed_ms &&
	    now - e->reply_ms < every &&
	    (ap = cJSON_Duplicate(e->reply, 1)) != NULL) {
		gate_decide(h, ap);
		cJSON_Delete(ap);
		return;
	}
	if (e->listed_ms != 0 && now - e->listed_ms < every &&
	    gate_still_listed(h, e))
		return;
	/* The poll this hold waited for failed: so does this one (fail
	 * closed at once, not one timeout after another). */
	if (h->deferred_ms != 0 && e->failed_ms >= h->deferred_ms) {
		gate_unavailable(h, e->failed_why);
		return;
	}
	/* Another hold of it is asking now (their polls come due
	 * together): its answer serves this one too, in a moment. */
	if (e->asking_ms != 0 && now - e->asking_ms <
	    h->cfg->wingman_timeout_ms) {
		if (h->deferred_ms == 0)
			h->deferred_ms = now;
		gate_wait_for(h, gate_poll_slack(every));
		return;
	}
	h->deferred_ms = 0;
	e->asking_ms = now;
	gate_poll_by_id(h);
}

/* One PENDING approval of a list, as the lister read it. */
struct gate_listed {
	char		 id[GATE_ID_MAX + 1];
	char		 ident[APPR_DIGEST_LEN + 1];	/* gate_ident(), or
							   "" (no match) */
	long long	 created;			/* -1 unknown */
};

/*
 * A pending list on its way: the engine hands the reply to the lister
 * (g->lister, a worker thread), which digests it and, when it changed,
 * parses it into items; the engine marks its entries from those.
 * Ownership: the job owns body (the lister frees it) and items.
 */
struct gate_list_job {
	struct gate		*g;
	char			*body;
	size_t			 len;
	long long		 asked;		/* g->sweep_ms of its call */
	char			 digest[APPR_DIGEST_LEN + 1];
					/* in: the last good list's; out:
					   this one's when parsed */
	enum metrics_list	 result;
	struct gate_listed	*items;
	size_t			 n;
};

static void
gate_list_job_free(struct gate_list_job *j)
{
	free(j->body);
	free(j->items);
	free(j);
}

/*
 * A list element that may be taken: its request_id when it is an object
 * saying PENDING with an id that fits, else NULL. Only what the list
 * promises is read from it: PENDING, never a release.
 */
static const char *
gate_list_pending(const cJSON *it)
{
	const char	*id, *st;

	if (!cJSON_IsObject(it) ||
	    (id = gate_json_str(it, "request_id")) == NULL ||
	    strlen(id) > GATE_ID_MAX ||
	    (st = gate_json_str(it, "status")) == NULL ||
	    strcmp(st, "PENDING") != 0)
		return (NULL);
	return (id);
}

/*
 * Lister: the PENDING items of a list, with the identity of each
 * (gate_ident(): read only, from the gate's HMAC key). 0, or -1 when it
 * is not a list or memory is short.
 */
static int
gate_list_parse(struct gate_list_job *j)
{
	const struct anon	*a = j->g->anon;
	struct gate_listed	*l;
	cJSON			*json;
	const cJSON		*list, *it;
	const char		*id, *task, *worker, *instr;
	char			 digest[APPR_DIGEST_LEN + 1];
	int			 rc = -1;

	if ((json = wm_parse_json(j->body, j->len)) == NULL)
		return (-1);
	list = cJSON_GetObjectItemCaseSensitive(json, "pending");
	if (!cJSON_IsObject(json) || !cJSON_IsArray(list))
		goto out_free_json;
	/* Room for what can match, not for every element. */
	cJSON_ArrayForEach(it, list)
		if (gate_list_pending(it) != NULL)
			j->n++;
	if ((j->items = calloc(j->n + 1, sizeof(*j->items))) == NULL)
		goto out_free_json;
	j->n = 0;
	cJSON_ArrayForEach(it, list) {
		if (__atomic_load_n(&j->g->lister_stop, __ATOMIC_RELAXED))
			goto out_free_json;	/* shutting down */
		if ((id = gate_list_pending(it)) == NULL)
			continue;
		l = &j->items[j->n++];
		memcpy(l->id, id, strlen(id) + 1);
		l->created = gate_parse_utc(gate_json_str(it, "created_at"));
		task = gate_json_str(it, "task_name");
		worker = gate_json_str(it, "worker_id");
		instr = gate_json_str(it, "instruction");
		if (task == NULL || worker == NULL || instr == NULL)
			continue;	/* ident "": matches nothing */
		gate_instr_digest(a, instr, digest);
		gate_ident(a, task, worker, digest, l->ident);
	}
	rc = 0;
out_free_json:
	cJSON_Delete(json);
	return (rc);
}

static void	 gate_list_apply(void *arg);

/* Lister thread: the digest, the parse, the identities; then back. */
static void
gate_list_run(void *arg, int cancelled)
{
	struct gate_list_job	*j = arg;
	char			 digest[APPR_DIGEST_LEN + 1];

	if (cancelled ||
	    __atomic_load_n(&j->g->lister_stop, __ATOMIC_RELAXED)) {
		gate_list_job_free(j);	/* stopping: nobody waits for it */
		return;
	}
	anon_digest(j->g->anon, j->body, j->len, digest, APPR_DIGEST_LEN);
	if (strcmp(digest, j->digest) == 0)
		j->result = METRICS_L_UNCHANGED;
	else if (gate_list_parse(j) == 0) {
		j->result = METRICS_L_PARSED;
		memcpy(j->digest, digest, sizeof(digest));
	} else
		j->result = METRICS_L_FAILED;
	free(j->body);
	j->body = NULL;
	if (j->len > GATE_SWEEP_TRIM)
		malloc_trim(0);		/* the reply and its parse */
	if (__atomic_load_n(&j->g->lister_stop, __ATOMIC_RELAXED) ||
	    eng_call(j->g->eng, gate_list_apply, j) == -1)
		gate_list_job_free(j);	/* stopping */
}

/*
 * Engine thread: a list call ended. ok: the list (asked at asked) was
 * good, and the entries' listed marks are current. Serves its word to
 * the entries.
 */
static void
gate_list_done(struct gate *g, int ok, enum metrics_list result,
    long long asked)
{
	struct gate_entry	*e;

	g->sweeping = 0;
	metrics_approval_list(ok ? result : METRICS_L_FAILED);
	if (ok == g->sweep_failed)
		log_msg(ok ? CFG_LOG_INFO : CFG_LOG_WARN, ok ? "approval gate: "
		    "listing pending approvals works again" : "approval gate: "
		    "listing pending approvals failed; each approval is polled "
		    "by id", LOG_END);
	g->sweep_failed = !ok;
	if (!ok)
		return;
	for (e = g->entries; e != NULL; e = e->next) {
		if (e->state != GE_PENDING)
			continue;
		if (e->listed) {
			e->listed_ms = asked;
			continue;
		}
		/* Not listed: decided (or cut off). Asked for by id. */
		e->listed_ms = 0;
		if (e->reply != NULL && e->reply_ms <= asked)
			e->reply_ms = 0;
	}
}

/*
 * Engine thread: the lister's result. A parsed list marks the entries
 * it names, each only if the listed object is the approval the entry
 * asked for (its ident); an unchanged one keeps the marks.
 */
static void
gate_list_apply(void *arg)
{
	struct gate_list_job	*j = arg;
	struct gate		*g = j->g;
	struct gate_entry	*e;
	const struct gate_listed *l;
	size_t			 i;

	if (eng_stopping(g->eng)) {
		gate_list_job_free(j);
		return;
	}
	if (j->result == METRICS_L_PARSED) {
		memcpy(g->sweep_digest, j->digest, sizeof(g->sweep_digest));
		for (e = g->entries; e != NULL; e = e->next)
			e->listed = 0;
		for (i = 0; i < j->n; i++) {
			l = &j->items[i];
			if ((e = gate_entry_id(g, l->id)) == NULL ||
			    e->state != GE_PENDING || e->listed ||
			    e->ident[0] == '\0' || strcmp(l->ident,
			    e->ident) != 0)
				continue;
			e->listed = 1;
			e->listed_created = l->created;
		}
	} else if (j->result == METRICS_L_FAILED)
		g->sweep_digest[0] = '\0';
	gate_list_done(g, j->result != METRICS_L_FAILED, j->result,
	    j->asked);
	gate_list_job_free(j);
}

/*
 * Many approvals pending: their polls cost Wingman one GET each per
 * interval. One GET /approvals/pending (every half interval, from this
 * engine timer) lists them all: each listed one, if it is the approval
 * its entry asked for, is PENDING as of the list's ask time, which
 * gate_consult() serves to the entry's holds, so their polls ask
 * Wingman nothing. The list alone never releases a request: an approval
 * missing from it (decided, expired, or cut by the limit) is asked for
 * by id, as without the list. A list that fails or does not parse
 * changes nothing. A list byte for byte the same as the last good one
 * (its keyed digest) is not parsed again: while nothing changes, 10 000
 * holds cost a transfer and a digest per half interval, and no copy.
 * The digest and the parse (about 10 and 100 ms for 10 000 approvals)
 * run on the lister thread, not here: requests do not wait behind them.
 */
static void
gate_on_sweep(const struct wm_reply *r, void *arg)
{
	struct gate		*g = arg;
	struct gate_list_job	*j;

	if (r->result != CURLE_OK || r->status != 200 || r->text == NULL ||
	    r->text->data == NULL)
		goto out_failed;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		goto out_failed;
	j->g = g;
	j->asked = g->sweep_ms;
	j->len = r->text->len;
	j->body = buf_steal(r->text);
	memcpy(j->digest, g->sweep_digest, sizeof(j->digest));
	if (wk_submit(g->lister, gate_list_run, j) == -1) {
		gate_list_job_free(j);
		goto out_failed;
	}
	return;		/* g->sweeping until gate_list_apply() */

out_failed:
	gate_list_done(g, 0, METRICS_L_FAILED, 0);
}

/*
 * Engine timer, every half poll interval (a timer, not a tick: it must
 * wake the loop, ahead of the polls it answers): list the pending
 * approvals when enough wait (above).
 */
static void
gate_sweep(void *arg)
{
	struct gate		*g = arg;
	struct gate_entry	*e;
	long			 every;
	size_t			 n = 0;
	char			 path[64];

	if (eng_stopping(g->eng) ||
	    __atomic_load_n(&g->lister_stop, __ATOMIC_RELAXED))
		return;
	every = cfg_live()->gate_poll_interval_ms / 2;
	if (eng_timer_add(g->eng, every > 0 ? every : 1, gate_sweep, g) == -1)
		log_msg(CFG_LOG_ERROR, "approval gate: out of memory; pending "
		    "approvals are polled by id from now on", LOG_END);
	if (g->sweeping)
		return;
	g->sweep_ms = eng_now_ms();
	for (e = g->entries; e != NULL; e = e->next)
		if (e->state == GE_PENDING && e->id[0] != '\0')
			n++;
	if (n < GATE_SWEEP_MIN)
		return;
	/* Others' approvals are listed too: room for them, bounded. */
	n = n * 2 + 64 < GATE_SWEEP_MAX_LIST ? n * 2 + 64 : GATE_SWEEP_MAX_LIST;
	snprintf(path, sizeof(path), "/approvals/pending?limit=%zu", n);
	if (wm_call_text(g->wm, NULL, "GET", path, NULL, g->read_key ?
	    "X-Wingman-Approval-Read-Key" : NULL, g->read_key,
	    GATE_SWEEP_MAX_REPLY, gate_on_sweep, g) == 0)
		g->sweeping = 1;
}

static void
gate_poll(void *arg)
{
	struct gate_hold	*h = arg;

	if (eng_stopping(h->g->eng)) {
		gate_unavailable(h, "stopping");
		return;
	}
	gate_consult(h);
}

/* ---- asking for an approval --------------------------------------------- */

/*
 * Wingman's answer to the proxy's own request: the echoed row must carry
 * the instruction, task and worker id just sent.
 */
static void
gate_on_request(const struct wm_reply *r, void *arg)
{
	struct gate_hold	*h = arg;
	struct gate_entry	*e;
	struct gate_view	 v;
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
	memset(&v, 0, sizeof(v));
	v.status = status;
	v.immediate = 1;
	v.age_s = -1;
	v.ttl_s = h->cfg->gate_ttl_ms / 1000;
	v.require_human = h->cfg->gate_require_human;
	if (strcmp(status, "AUTO_APPROVED") == 0) {
		if (gate_verdict(&v) == GATE_V_NOT_HUMAN) {
			if (id != NULL && appr_id_valid(id))
				snprintf(h->id, sizeof(h->id), "%s", id);
			gate_deny(h, 403, "approval_not_human",
			    "Wingman approved this request automatically and "
			    "gate.require_human wants a human; nothing was "
			    "deleted", r->json);
			return;
		}
		if (id == NULL) {
			/* An answer without an id: single use by itself. */
			gate_forward(h);
			return;
		}
		h->auto_approved = 1;
	} else if (strcmp(status, "PENDING") != 0) {
		gate_unavailable(h, "unexpected status from /approvals/request");
		return;
	}
	if (id == NULL || !appr_id_valid(id)) {
		gate_unavailable(h, "approval request without a valid id");
		return;
	}
	snprintf(h->id, sizeof(h->id), "%s", id);
	snprintf(h->rec.id, sizeof(h->rec.id), "%s", id);
	if (!gate_same_approval(h, req)) {
		gate_deny(h, 403, "approval_invalid", "Wingman answered with "
		    "an approval other than the one asked for; nothing was "
		    "deleted", r->json);
		return;
	}
	if ((e = gate_entry_seq(h->g, h->entry)) != NULL) {
		gate_id_set(h->g, e, id);
		gate_ident(h->g->anon, h->rec.task, h->rec.worker,
		    h->rec.instruction, e->ident);
	}
	/* Recorded, and synced, before the client hears of the id. */
	h->step = STEP_RECORD;
	gate_store(h, APPR_PUT);
}

/*
 * The store's answer to a USE (or a PUT that used at once): answered
 * here, with 1, unless the mark is this hold's and the record is there.
 */
static int
gate_use_refused(struct gate_hold *h)
{
	if (h->job->result == APPR_USED)
		gate_consumed(h);
	else if (h->job->result == APPR_NONE)
		gate_deny(h, 403, "approval_expired", "the approval's record "
		    "expired (gate.ttl_ms) before it was used; nothing was "
		    "deleted. Ask for a new approval.", NULL);
	else if (h->job->result != APPR_OK)
		gate_store_failed(h, h->job->result);
	else
		return (0);
	return (1);
}

/* The new approval is recorded (store PUT answered). */
static void
gate_recorded(struct gate_hold *h)
{
	struct gate_entry	*e;
	enum appr_result	 res = h->job->result;

	/*
	 * Not recorded: this proxy will never honour the approval, so the
	 * client is not told its id (a human may still see it pending in
	 * Wingman: the log names it).
	 */
	if (res != APPR_OK && res != APPR_USED && res != APPR_NONE) {
		log_msg(CFG_LOG_WARN, "approval gate: Wingman's approval could "
		    "not be recorded; it is left pending in Wingman and this "
		    "proxy will not honour it", "request_id", h->request_id,
		    "approval_id", h->id, LOG_END);
		h->id[0] = '\0';
	}
	if (gate_use_refused(h))
		return;
	if (h->auto_approved) {
		gate_forward(h);
		return;
	}
	if ((e = gate_entry_seq(h->g, h->entry)) != NULL)
		e->state = GE_PENDING;
	h->entry = 0;
	log_msg(CFG_LOG_INFO, "approval gate: request held", "request_id",
	    h->request_id, "approval_id", h->id, LOG_END);
	gate_wait(h);
}

static void
gate_request_approval(struct gate_hold *h)
{
	const struct config	*cfg = h->cfg;
	struct gate_instr	 in;
	struct buf		 instr;
	cJSON			*j;
	char			*body;

	memset(&in, 0, sizeof(in));
	in.route = h->route;
	in.scope = h->scope;
	in.reason = h->reason;
	in.count = h->count;
	in.count_capped = h->count_capped;
	in.expires = (long long)time(NULL) + cfg->gate_ttl_ms / 1000;
	buf_init(&instr, GATE_INSTR_MAX);
	if (gate_instruction(&instr, h->g->anon, &in) == -1) {
		buf_free(&instr);
		gate_unavailable(h, "instruction too long");
		return;
	}
	/* What the record will hold: id and created come with the answer. */
	memset(&h->rec, 0, sizeof(h->rec));
	h->rec.created = (long long)time(NULL);
	snprintf(h->rec.task, sizeof(h->rec.task), "%s",
	    gate_task_name(h->cfg, h->route));
	snprintf(h->rec.worker, sizeof(h->rec.worker), "%s", cfg->worker_id);
	gate_instr_digest(h->g->anon, instr.data, h->rec.instruction);
	body = NULL;
	if ((j = cJSON_CreateObject()) != NULL) {
		cJSON_AddStringToObject(j, "worker_id", h->rec.worker);
		cJSON_AddStringToObject(j, "task_name", h->rec.task);
		cJSON_AddStringToObject(j, "instruction", instr.data);
		cJSON_AddStringToObject(j, "deployment_env",
		    cfg->deployment_env);
		body = cJSON_PrintUnformatted(j);
		cJSON_Delete(j);
	}
	buf_free(&instr);
	h->step = STEP_REQUEST;
	if (body == NULL || wm_call(h->g->wm, h->cfg, "POST",
	    "/approvals/request", body, h->g->request_key ?
	    "X-Wingman-Approval-Request-Key" : NULL, h->g->request_key,
	    gate_on_request, h) == -1)
		gate_unavailable(h, "cannot call Wingman");
	free(body);
}

/* ---- limits ---------------------------------------------------------------- */

/* A pending entry's state, refreshed from Wingman (not tied to a hold). */
struct gate_refresh {
	struct gate	*g;
	char		 id[GATE_ID_MAX + 1];
};

static void
gate_on_refresh(const struct wm_reply *r, void *arg)
{
	struct gate_refresh	*f = arg;
	const char		*status;

	if (r->result == CURLE_OK && r->status == 404)
		gate_entry_done(f->g, f->id);
	else if (r->result == CURLE_OK && r->status == 200 &&
	    (status = gate_json_str(r->json, "status")) != NULL &&
	    strcmp(status, "PENDING") != 0)
		gate_entry_done(f->g, f->id);
	f->g->refreshing--;
	free(f);
}

/*
 * A client is at its cap: ask Wingman about its pending approvals (a
 * human may have decided without anybody polling), so that its next
 * try counts only what still waits. A client retrying in a loop costs
 * Wingman at most one look per entry every GATE_REFRESH_MIN_MS, and
 * never more than GATE_REFRESH_MAX calls at once.
 */
static void
gate_refresh_client(struct gate *g, const struct gate_hold *h)
{
	struct gate_refresh	*f;
	struct gate_entry	*e;
	char			 path[GATE_ID_MAX + 32];
	long long		 now = eng_now_ms();

	for (e = g->entries; e != NULL; e = e->next) {
		if (g->refreshing >= GATE_REFRESH_MAX)
			return;
		if (e->state != GE_PENDING || e->id[0] == '\0' ||
		    (strcmp(e->client, h->client) != 0 &&
		    (h->cred[0] == '\0' || strcmp(e->cred, h->cred) != 0)))
			continue;
		if (e->refreshed_ms != 0 &&
		    now - e->refreshed_ms < GATE_REFRESH_MIN_MS)
			continue;
		if ((f = calloc(1, sizeof(*f))) == NULL)
			return;
		f->g = g;
		snprintf(f->id, sizeof(f->id), "%s", e->id);
		snprintf(path, sizeof(path), "/approvals/%s", e->id);
		e->refreshed_ms = now;
		/* Asked of the Wingman the entry's request asked: after a
		 * reload moved it, the new one would say 404 ("decided"). */
		if (wm_call(g->wm, e->cfg, "GET", path, NULL, g->read_key ?
		    "X-Wingman-Approval-Read-Key" : NULL, g->read_key,
		    gate_on_refresh, f) == -1) {
			free(f);
			continue;
		}
		g->refreshing++;
	}
}

/*
 * May h ask for one more approval? Counts the approvals asked for and
 * not yet decided: per client address, per credential, overall. Returns
 * NULL, or the error message for a 429.
 */
static const char *
gate_over_limit(struct gate *g, const struct gate_hold *h)
{
	const struct config	*cfg = h->cfg;
	struct gate_entry	*e;
	long			 by_client = 0, by_cred = 0, total = 0;

	gate_entries_prune(g);
	for (e = g->entries; e != NULL; e = e->next) {
		total++;
		if (strcmp(e->client, h->client) == 0)
			by_client++;
		if (h->cred[0] != '\0' && strcmp(e->cred, h->cred) == 0)
			by_cred++;
	}
	if (total >= cfg->gate_max_pending)
		return ("gate.max_pending approvals are waiting for a human; "
		    "nothing was deleted. Retry when some are decided.");
	if (cfg->gate_max_pending_per_client > 0 &&
	    (by_client >= cfg->gate_max_pending_per_client ||
	    by_cred >= cfg->gate_max_pending_per_client))
		return ("this client has gate.max_pending_per_client approvals "
		    "waiting for a human; nothing was deleted. Retry when some "
		    "are decided.");
	return (NULL);
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
		/* An OSS list stops at top_k: the count is a lower bound. */
		h->count_capped = h->route->dialect == ROUTE_DIALECT_OSS &&
		    h->count >= GATE_PRECOUNT_CAP;
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
 * Does a short read tell what r would affect? Bulk deletes filtered by
 * entities Mem0 reads (or by none: the whole project), and resets. Not
 * batches (their count is their length), linked deletes, the legacy
 * numeric entity delete, or anything whose ids are incomplete.
 */
static int
gate_countable(const struct route *r)
{
	if (r->kind == ROUTE_RESET)
		return (r->dialect == ROUTE_DIALECT_OSS);
	if (r->kind != ROUTE_BULK_DELETE || r->body_subject ||
	    r->delete_linked || r->n_memory_ids_seen > 0 ||
	    r->n_ids_seen > r->n_ids)
		return (0);
	if (strcmp(r->pattern, "/v1/entities/{entity_type}/{entity_id}/") ==
	    0)
		return (0);
	/* An entity delete whose type is unknown: Mem0 refuses it. */
	if (r->id_src == ROUTE_SRC_PATH && r->n_ids == 0)
		return (0);
	return (1);
}

/*
 * The pre-count request: OSS GET /memories with the same filter (or none:
 * every memory, as an admin) and top_k=1000; platform POST /v3/memories/
 * ?page_size=1 with the filter as an AND, or, for an unfiltered delete,
 * every memory of the project (any user, agent, app or run), in the
 * project the request names (org_id, project_id). Expired memories are
 * counted: a delete removes them too.
 */
static int
gate_pc_build(struct gate_hold *h, CURL *easy, struct buf *u)
{
	static const char *const oss_keys[ROUTE_ENT_COUNT] = {
		"user_id", "agent_id", NULL, "run_id"
	};
	static const char *const all_keys[ROUTE_ENT_COUNT] = {
		"user_id", "agent_id", "app_id", "run_id"
	};
	const struct route	*r = h->route;
	struct buf		 q;
	cJSON			*body, *list, *one;
	size_t			 i;
	int			 t, rc = -1;

	if (r->dialect == ROUTE_DIALECT_OSS) {
		buf_init(&q, 8192);
		for (i = 0; i < r->n_ids; i++)
			if (oss_keys[r->ids[i].type] != NULL &&
			    gate_put_query(&q, easy, oss_keys[r->ids[i].type],
			    r->ids[i].value) == -1)
				goto out_free_query;
		if (buf_printf(u, "%s/memories?%s%stop_k=%d&show_expired=true",
		    h->cfg->upstream_url, q.data != NULL ? q.data : "",
		    q.len > 0 ? "&" : "", GATE_PRECOUNT_CAP) == 0)
			rc = 0;
out_free_query:
		buf_free(&q);
		return (rc);
	}
	if ((body = cJSON_CreateObject()) == NULL)
		return (-1);
	list = cJSON_AddArrayToObject(cJSON_AddObjectToObject(body,
	    "filters"), r->n_ids > 0 ? "AND" : "OR");
	if (list == NULL)
		goto out_free_body;
	for (i = 0; i < r->n_ids; i++) {
		if ((one = cJSON_CreateObject()) == NULL)
			goto out_free_body;
		cJSON_AddItemToArray(list, one);
		cJSON_AddStringToObject(one, all_keys[r->ids[i].type],
		    r->ids[i].value);
	}
	for (t = 0; r->n_ids == 0 && t < ROUTE_ENT_COUNT; t++) {
		if ((one = cJSON_CreateObject()) == NULL)
			goto out_free_body;
		cJSON_AddItemToArray(list, one);
		cJSON_AddStringToObject(one, all_keys[t], "*");
	}
	/* Expired memories are deleted too; the same project is read. */
	if (cJSON_AddTrueToObject(body, "show_expired") == NULL ||
	    (r->org_id != NULL &&
	    cJSON_AddStringToObject(body, "org_id", r->org_id) == NULL) ||
	    (r->project_id != NULL &&
	    cJSON_AddStringToObject(body, "project_id", r->project_id) ==
	    NULL))
		goto out_free_body;
	if ((h->pc_body = cJSON_PrintUnformatted(body)) == NULL ||
	    buf_printf(u, "%s/v3/memories/?page=1&page_size=1",
	    h->cfg->upstream_url) == -1)
		goto out_free_body;
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, h->pc_body);
	rc = 0;
out_free_body:
	cJSON_Delete(body);
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
	struct buf	 u, line;
	CURL		*easy;
	int		 rc = -1;

	if (!gate_countable(h->route))
		return (-1);
	if ((easy = curl_easy_init()) == NULL)
		return (-1);
	buf_init(&u, 16384);
	buf_init(&line, 8192);
	if (gate_pc_build(h, easy, &u) == -1)
		goto out_cleanup;
	h->pc_url = buf_steal(&u);
	if ((h->pc_headers = curl_slist_append(NULL,
	    "Content-Type: application/json")) == NULL)
		goto out_cleanup;
	if (h->authorization != NULL) {
		if (buf_printf(&line, "Authorization: %s", h->authorization) ==
		    -1 || curl_slist_append(h->pc_headers, line.data) == NULL)
			goto out_cleanup;
	}
	if (h->api_key != NULL) {
		buf_reset(&line);
		if (buf_printf(&line, "X-API-Key: %s", h->api_key) == -1 ||
		    curl_slist_append(h->pc_headers, line.data) == NULL)
			goto out_cleanup;
	}
	buf_init(&h->pc_reply, GATE_PRECOUNT_MAX);
	curl_easy_setopt(easy, CURLOPT_URL, h->pc_url);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h->pc_headers);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_QUICK_EXIT, 1L);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
	    h->cfg->upstream_connect_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
	    h->cfg->gate_precount_timeout_ms);
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
	buf_free(&u);
	buf_free(&line);
	return (rc);
}

/* No approval for this SCOPE yet: ask for one, within the limits. */
static void
gate_ask(struct gate_hold *h)
{
	struct gate_entry	*e;
	const char		*why;

	if ((why = gate_over_limit(h->g, h)) != NULL) {
		gate_refresh_client(h->g, h);
		log_msg(CFG_LOG_WARN, "approval gate: too many approvals "
		    "pending", "request_id", h->request_id, LOG_END);
		gate_deny(h, 429, "too_many_pending_approvals", why, NULL);
		return;
	}
	if ((e = gate_entry_new(h->g, h)) == NULL) {
		gate_unavailable(h, "out of memory");
		return;
	}
	h->entry = e->seq;
	if (gate_precount(h) == -1)
		gate_request_approval(h);
}

/* ---- the store's answers -------------------------------------------------- */


/* X-Approval-Id: is it an approval this proxy asked for, for this? */
static void
gate_looked_up(struct gate_hold *h)
{
	if (h->job->result == APPR_NONE) {
		gate_deny(h, 403, "approval_unknown", "this proxy did not ask "
		    "for this approval (or forgot it after gate.ttl_ms); "
		    "nothing was deleted", NULL);
		return;
	}
	if (h->job->result != APPR_OK) {
		gate_store_failed(h, h->job->result);
		return;
	}
	if (strcmp(h->job->rec.scope, h->scope) != 0) {
		gate_deny(h, 403, "approval_scope_mismatch",
		    "this approval was given for another request", NULL);
		return;
	}
	if (h->job->used) {
		gate_consumed(h);
		return;
	}
	if (h->job->expired) {
		gate_deny(h, 403, "approval_expired",
		    "the approval is older than the proxy's ttl", NULL);
		return;
	}
	gate_asked_set(&h->rec, &h->job->rec);
	gate_consult(h);
}

/* A plain retry: is there an outstanding approval for this SCOPE? */
static void
gate_found(struct gate_hold *h)
{
	if (h->job->result == APPR_NONE) {
		gate_ask(h);
		return;
	}
	if (h->job->result != APPR_OK) {
		gate_store_failed(h, h->job->result);
		return;
	}
	gate_asked_set(&h->rec, &h->job->rec);
	snprintf(h->id, sizeof(h->id), "%s", h->rec.id);
	h->step = STEP_POLL;
	gate_consult(h);
}

/* May this hold forward: did it mark the approval used? */
static void
gate_used(struct gate_hold *h)
{
	if (gate_use_refused(h))
		return;
	gate_forward(h);
}

/* gate_lookup(): only approvals this proxy asked for are shown. */
static void
gate_status_found(struct gate_hold *h)
{
	if (h->job->result == APPR_NONE) {
		gate_deny(h, 404, "approval_not_found", "this proxy did not ask "
		    "for an approval with this id", NULL);
		return;
	}
	if (h->job->result != APPR_OK) {
		gate_store_failed(h, h->job->result);
		return;
	}
	gate_get_approval(h, gate_report);
}

static void
gate_on_store(void *arg)
{
	struct gate_hold	*h = arg;

	switch (h->step) {
	case STEP_STATUS:
		gate_status_found(h);
		break;
	case STEP_LOOKUP:
		gate_looked_up(h);
		break;
	case STEP_FIND:
		gate_found(h);
		break;
	case STEP_RECORD:
		gate_recorded(h);
		break;
	case STEP_USE:
		gate_used(h);
		break;
	case STEP_START:
	case STEP_PRECOUNT:
	case STEP_REQUEST:
	case STEP_POLL:
	default:
		gate_unavailable(h, "internal: unexpected store answer");
		break;
	}
}

/* ---- entry points ------------------------------------------------------- */

static void
gate_start(void *arg)
{
	struct gate_hold	*h = arg;

	if (eng_stopping(h->g->eng)) {
		gate_unavailable(h, "stopping");
		return;
	}
	if (h->deadline_ms == 0)
		h->deadline_ms = eng_now_ms() + h->cfg->gate_hold_max_ms;
	if (h->step == STEP_STATUS) {
		if (h->bad_client_id) {
			gate_deny(h, 404, "approval_not_found",
			    "not an approval id", NULL);
			return;
		}
		gate_store(h, APPR_GET);
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
		gate_store(h, APPR_GET);
		return;
	}
	/* Another hold is asking for this very request: wait for its id. */
	if (gate_entry_asking(h->g, h->scope)) {
		if (eng_now_ms() >= h->deadline_ms ||
		    eng_timer_add(h->g->eng, GATE_WAIT_MS, gate_start, h) == -1)
			gate_unavailable(h, "another request is still asking "
			    "Wingman");
		return;
	}
	h->step = STEP_FIND;
	gate_store(h, APPR_FIND);
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
	struct buf		 b;
	const char		*cred;

	if (__atomic_add_fetch(&g->holding, 1, __ATOMIC_RELAXED) >
	    (size_t)rq->cfg->gate_max_holds) {
		__atomic_sub_fetch(&g->holding, 1, __ATOMIC_RELAXED);
		return (-2);
	}
	if ((h = calloc(1, sizeof(*h))) == NULL)
		goto out_unhold;
	h->g = g;
	h->cfg = rq->cfg;
	h->route = rq->route;
	h->done = done;
	h->arg = arg;
	h->count = rq->route->count;
	buf_init(&h->pc_reply, 1);
	buf_init(&b, GATE_SCOPE_MAX - 1);
	if (gate_scope(&b, g->anon, rq) == -1) {
		buf_free(&b);
		goto out_free_hold;
	}
	h->scope = buf_steal(&b);
	buf_init(&b, GATE_REASON_MAX + 16);
	if (gate_reason(&b, g->anon, rq->route, rq->reason) == -1) {
		buf_free(&b);
		goto out_free_hold;
	}
	h->reason = buf_steal(&b);
	if (h->scope == NULL || h->reason == NULL ||
	    (h->method = gate_dup(rq->method)) == NULL ||
	    (h->target = gate_dup(rq->target)) == NULL ||
	    (h->request_id = gate_dup(rq->request_id)) == NULL ||
	    (rq->authorization != NULL &&
	    (h->authorization = strdup(rq->authorization)) == NULL) ||
	    (rq->api_key != NULL && (h->api_key = strdup(rq->api_key)) == NULL))
		goto out_free_hold;
	snprintf(h->client, sizeof(h->client), "%s", rq->client_ip != NULL ?
	    rq->client_ip : "unknown");
	/* A credential is counted by its keyed hash, never kept. */
	cred = rq->authorization != NULL ? rq->authorization : rq->api_key;
	if (cred != NULL && cred[0] != '\0')
		anon_digest(g->anon, cred, strlen(cred), h->cred,
		    GATE_CRED_LEN);
	if (rq->approval_id != NULL) {
		if (!appr_id_valid(rq->approval_id))
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
gate_lookup(struct gate *g, const struct config *cfg, const char *approval_id,
    gate_done_fn *done, void *arg)
{
	struct gate_hold	*h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return (-1);
	h->g = g;
	h->cfg = cfg;
	h->done = done;
	h->arg = arg;
	h->count = -1;
	h->step = STEP_STATUS;
	buf_init(&h->pc_reply, 1);
	/* The id goes into a Wingman URL: nothing but an id may pass. */
	if (appr_id_valid(approval_id))
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
gate_applies(const struct config *cfg, const struct route *r)
{
	if (!cfg->gate_enabled)
		return (0);
	switch (r->kind) {
	case ROUTE_BULK_DELETE:
	case ROUTE_RESET:
	case ROUTE_DESTROY:
		return (1);
	case ROUTE_BULK_UPDATE:
		return (cfg->gate_bulk_update);
	case ROUTE_CONFIG_WRITE:
		return (cfg->gate_config_write);
	default:
		return (0);
	}
}

struct gate *
gate_create(const struct config *cfg, struct eng *eng, struct wm *wm,
    const struct anon *anon, char *err, size_t errlen)
{
	struct gate	*g;
	char		*dir = NULL;
	size_t		 len;

	if ((g = calloc(1, sizeof(*g))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	g->cfg = cfg;
	g->eng = eng;
	g->wm = wm;
	g->anon = anon;
	if (pthread_mutex_init(&g->shown_lock, NULL) != 0) {
		snprintf(err, errlen, "cannot create a mutex");
		goto out_free_gate;
	}
	g->shown_lock_ok = 1;
	if ((g->lister = wk_create("approval-list")) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out_free_gate;
	}
	if (eng_tick_add(eng, gate_show, g) == -1 ||
	    eng_timer_add(eng, 1, gate_sweep, g) == -1) {
		snprintf(err, errlen, "too many engine ticks");
		goto out_free_gate;
	}
	if (cfg->request_key_file != NULL &&
	    (g->request_key = gate_read_key(cfg->request_key_file, err,
	    errlen)) == NULL)
		goto out_free_gate;
	if (cfg->read_key_file != NULL &&
	    (g->read_key = gate_read_key(cfg->read_key_file, err, errlen)) ==
	    NULL)
		goto out_free_gate;
	if (cfg->gate_approvals_dir != NULL)
		dir = strdup(cfg->gate_approvals_dir);
	else {
		len = strlen(cfg->state_dir) + sizeof("/approvals");
		if ((dir = malloc(len)) != NULL)
			snprintf(dir, len, "%s/approvals", cfg->state_dir);
	}
	if (dir == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out_free_gate;
	}
	g->store = appr_open(dir, anon, err, errlen);
	free(dir);
	if (g->store == NULL)
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
gate_stop_io(struct gate *g)
{
	if (g == NULL)
		return;
	/* Not joined here: a list half parsed is dropped (gate_destroy()
	 * joins), so the holds' 503s do not wait for it. */
	__atomic_store_n(&g->lister_stop, 1, __ATOMIC_RELAXED);
	appr_stop(g->store);
}

void
gate_destroy(struct gate *g)
{
	struct gate_entry	*e;

	if (g == NULL)
		return;
	wk_destroy(g->lister);
	appr_close(g->store);
	while ((e = g->entries) != NULL) {
		g->entries = e->next;
		gate_entry_free(e);
	}
	free(g->request_key);
	free(g->read_key);
	gate_shown_free(g->shown, g->n_shown);
	if (g->shown_lock_ok)
		pthread_mutex_destroy(&g->shown_lock);
	free(g);
}
