/*
 * gate: the approval gate. A bulk-destructive request (bulk delete, OSS
 * reset, organization or project delete; by config also batch updates and
 * configuration writes) is held, without a thread, until a human approves
 * exactly that request in Wingman, and then it is forwarded once:
 *
 *   pre-count what Mem0 would affect (a short read with the client's own
 *   credentials, from the same parameters Mem0 will use)
 *   POST /approvals/request with a ten-section instruction whose SCOPE
 *   line binds it to this request; the approval is recorded in the
 *   approval store (approval.h) before anybody hears of its id
 *   AUTO_APPROVED (as the answer to that request only) -> forward;
 *   PENDING -> poll GET /approvals/{id} every gate.poll_interval_ms for
 *   at most gate.hold_max_ms
 *   APPROVED -> mark it used in the store (whoever marks it forwards,
 *   nobody else, across restarts and replicas) -> forward;
 *   REJECTED / AUTO_REJECTED -> 403; EXPIRED or older than gate.ttl_ms
 *   -> 403; hold time over -> 409 (gate.pending_status) with the approval
 *   id, Retry-After and a Location to poll; Wingman unreachable, slow,
 *   5xx, 401 or malformed -> 503. Never forward without an approval this
 *   proxy asked for, for the same SCOPE, unused.
 *
 * A client resumes a timed-out hold by repeating the same request (the
 * store finds the outstanding approval by its SCOPE) or by naming the
 * approval in X-Approval-Id; both work on any replica sharing the
 * approvals directory. Wingman's copy of the approval must still match
 * what the proxy recorded (task, worker, a digest of the instruction).
 * gate.require_human refuses AUTO_APPROVED and APPROVED without a
 * decided_by. New approvals are capped per client address, per
 * credential and overall (429).
 *
 * Threads: gate_hold() and gate_lookup() may be called from any thread;
 * the state machine runs on the engine thread, and so do the callbacks;
 * the store's files are read and written on the store's thread; a list
 * of pending approvals is digested and parsed on the lister's (a worker
 * started by the first list), which hands the engine what it found.
 *
 * Configuration: a held request reads one snapshot, the one its request
 * started with (gate_request.cfg), from arrival to answer: a reload
 * meanwhile changes nothing for it (retired snapshots live until exit,
 * cfg_publish()). The gate's own timers read the live one once a pass.
 *
 * Ownership: gate_create() borrows cfg, eng, wm and anon. gate_hold()
 * copies what it needs from its request, except route and cfg, which must
 * stay valid until the callback ran. The callback owns outcome->body.
 */
#ifndef GATE_H
#define GATE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "anon.h"
#include "approval.h"
#include "buf.h"
#include "config.h"
#include "engine.h"
#include "route.h"
#include "wingman.h"

#define GATE_ID_MAX	APPR_ID_MAX
#define GATE_REASON_MAX	200	/* bytes of a client's reason kept */

struct gate;

struct gate_request {
	const struct config	*cfg;		/* the request's snapshot */
	const struct route	*route;
	const char		*method;
	const char		*target;	/* raw "/path?query" */
	const char		*body;		/* request body, may be NULL */
	size_t			 body_len;
	const char		*approval_id;	/* X-Approval-Id or NULL */
	const char		*reason;	/* X-Mem0-Reason or NULL */
	const char		*request_id;
	const char		*authorization;	/* for the pre-count, or NULL */
	const char		*api_key;	/* X-API-Key, or NULL */
	const char		*content_type;	/* or NULL */
	const char		*content_encoding; /* or NULL */
	const char		*client_ip;	/* for the per-client cap */
};

enum gate_decision {
	GATE_FORWARD = 0,
	GATE_DENY
};

struct gate_outcome {
	enum gate_decision	 decision;
	int			 status;	/* DENY: HTTP status */
	const char		*error;		/* DENY: static error code */
	cJSON			*body;		/* DENY: JSON object, owned by
						   the callback */
	char			 approval_id[GATE_ID_MAX + 1];	/* or "" */
	int			 retry_after;	/* seconds, 0 = none */
	long			 count;		/* affected, -1 unknown */
};

typedef void	 gate_done_fn(struct gate_outcome *o, void *arg);

/*
 * Load the key files and open the approval store (cfg's approvals_dir,
 * else STATE_DIR/approvals). NULL with a message in err on error.
 */
struct gate	*gate_create(const struct config *cfg, struct eng *eng,
		    struct wm *wm, const struct anon *anon, char *err,
		    size_t errlen);

/* 1 if requests of this kind are held under cfg. */
int		 gate_applies(const struct config *cfg, const struct route *r);

/*
 * Hold one request. done runs once with the decision. Returns -2 when
 * gate.max_holds requests are held already, -1 when the request cannot be
 * taken (engine stopping, out of memory): the caller answers 503 itself.
 */
int		 gate_hold(struct gate *g, const struct gate_request *rq,
		    gate_done_fn *done, void *arg);

/*
 * GET /approvals/{id} (admin listener): Wingman's view of one approval this proxy
 * asked for, as a DENY outcome carrying status 200 and a JSON body
 * {approval_id, status, decided_by, note, created_at, decided_at,
 * task_name} (or 404/503). Returns -1 as gate_hold().
 */
int		 gate_lookup(struct gate *g, const struct config *cfg,
		    const char *approval_id, gate_done_fn *done, void *arg);

/*
 * Reload: read the Wingman key files named in cfg and hand them to the
 * engine thread, which swaps them in. Returns -1 with a message (a file
 * missing, empty or readable by others): the old keys stay.
 */
int		 gate_reload_keys(struct gate *g, const struct config *cfg,
		    char *err, size_t errlen);

/* Requests held right now. Any thread. */
size_t		 gate_holding(struct gate *g);

/*
 * Any thread. Adds to obj "approvals": the approvals this proxy is asking
 * for or waiting on (at most 100, oldest first; each {id, kind, scope,
 * state, wingman_status, age_s, link}, pseudonyms only) and
 * "approvals_waiting" (all of them). A copy at most about a second old.
 * Returns 0, or -1 when memory is short (obj may hold part of it).
 */
int		 gate_status_json(struct gate *g, cJSON *obj,
		    const char *wingman_url);

/* Any thread. Age of the oldest approval waiting for a human, seconds;
 * 0 when none waits. About a second stale at most. */
double		 gate_oldest_pending_s(struct gate *g);

/*
 * Shutdown, before eng_stop(): finish the store's file work and the
 * pending list being read; holds that wait for the store are answered
 * 503 through the engine.
 */
void		 gate_stop_io(struct gate *g);

void		 gate_destroy(struct gate *g);

/* Pure helpers, exposed for the unit tests. */

/*
 * The canonical SCOPE line (without "SCOPE: ") of a request: method, route
 * pattern, dialect, pseudonymous entity ids (those Mem0 uses) sorted per
 * type, and a keyed digest of the exact request: the method's bytes as
 * sent, the target, Content-Type, Content-Encoding, the credential
 * (Authorization, X-API-Key) and the body. An approval covers that
 * request, sent with that credential, and no other.
 */
int		 gate_scope(struct buf *out, const struct anon *a,
		    const struct gate_request *rq);

/* What an instruction says (gate_instruction()). */
struct gate_instr {
	const struct route	*route;
	const char		*scope;		/* the SCOPE line */
	const char		*reason;	/* made safe (anon_redact()),
						   or NULL */
	long			 count;		/* affected, -1 unknown */
	int			 count_capped;	/* count is a lower bound */
	long long		 expires;	/* UTC seconds */
};

/*
 * The ten-section instruction followed by USER, IGNORED (ids the request
 * names where Mem0 does not read them), REASON, AFFECTED, EXPIRES and
 * SCOPE lines. Every kind is rated HIGH by Wingman's keyword rules. No
 * raw id ever appears in it.
 */
int		 gate_instruction(struct buf *out, const struct anon *a,
		    const struct gate_instr *in);

/* The SCOPE line inside an instruction, copied to out (NUL-terminated);
 * -1 when there is none. */
int		 gate_scope_of(const char *instruction, char *out, size_t outlen);

/*
 * A client's reason, safe for the instruction: anon_redact() with the
 * request's own ids (used and ignored) as known ids, at most
 * GATE_REASON_MAX bytes; "not given" when empty. Returns 0 or -1.
 */
int		 gate_reason(struct buf *out, const struct anon *a,
		    const struct route *r, const char *reason);

/*
 * Wingman's created_at ("2026-11-28T10:00:00.123456", with "Z" or an
 * offset, or none: UTC) as seconds since the epoch; -1 when it does not
 * parse.
 */
long long	 gate_parse_utc(const char *iso);

/* What the gate knows about an approval when it decides. */
struct gate_view {
	const char	*status;	/* Wingman's status, NULL if absent */
	int		 decided_by;	/* a non-empty decided_by */
	long long	 age_s;		/* since created_at, -1 unknown */
	long long	 ttl_s;		/* gate.ttl_ms in seconds */
	int		 past_deadline;	/* the hold time is over */
	int		 immediate;	/* the reply to the proxy's own
					   POST /approvals/request */
	int		 require_human;	/* gate.require_human */
};

/* What to do with an approval in a given state: the state machine. */
enum gate_verdict {
	GATE_V_FORWARD = 0,	/* APPROVED, or AUTO_APPROVED as the
				   immediate answer, within ttl */
	GATE_V_REJECTED,	/* REJECTED / AUTO_REJECTED: 403 */
	GATE_V_EXPIRED,		/* EXPIRED, or older than ttl: 403 */
	GATE_V_POLL,		/* PENDING, hold time left: poll again */
	GATE_V_TIMEOUT,		/* PENDING, hold time over: 409 */
	GATE_V_UNAVAILABLE,	/* no or unknown status: 503 */
	GATE_V_NOT_HUMAN,	/* require_human, no human decided: 403 */
	GATE_V_INVALID		/* AUTO_APPROVED later than the immediate
				   answer: not the proxy's decision: 403 */
};

enum gate_verdict gate_verdict(const struct gate_view *v);

/*
 * Task name for the kind of r ("Bulk Memory Deletion", ...); a bulk
 * delete's is cfg's gate.task_name, or the default when cfg is NULL.
 */
const char	*gate_task_name(const struct config *cfg,
		    const struct route *r);

#endif /* GATE_H */
