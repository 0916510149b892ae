/*
 * proxy: one request's pipeline, once the front (front.h) has read it:
 * route → gate → upstream → export check → claim → durable release.
 * Where a request is, is one value: its stage (enum proxy_stage). Every
 * resume of a suspended request comes back through proxy_resumed(),
 * which acts on that stage. Which claims must be on disk before the
 * answer goes is decided in one place (proxy_durable() in proxy.c).
 *
 * The front owns the HTTP side: libmicrohttpd, connections, limits on
 * what is read, the proxy's own endpoints. It fills struct proxy_req,
 * calls proxy_start() when the body is in, proxy_resumed() when a
 * suspended request runs again, proxy_req_free() when it is complete;
 * the proxy answers through front_queue() and suspends and resumes
 * through front_suspend() / front_resume().
 *
 * Threads: everything runs on the engine thread (which runs the client
 * listener), except the export check's outcome (its worker) and the
 * admin listener's requests (its own thread): both only set a stage and
 * resume.
 *
 * Ownership: proxy_create() borrows eng, wm, gate and anon; they must
 * outlive it. struct proxy_req is allocated by the front and freed with
 * proxy_req_free(), which frees what it points to (target, method, body,
 * route, exchange, held answer).
 */
#ifndef PROXY_H
#define PROXY_H

#include <stddef.h>

#include <microhttpd.h>

#include "anon.h"
#include "buf.h"
#include "config.h"
#include "engine.h"
#include "front.h"
#include "gate.h"
#include "route.h"
#include "upstream.h"
#include "wingman.h"
#include "xcheck.h"

enum proxy_stage {
	PROXY_HEADERS = 0,	/* front: the request line and headers */
	PROXY_BODY,		/* front: the body */
	PROXY_GATE,		/* suspended: the gate decides, or an
				   approval lookup answers */
	PROXY_UPSTREAM,		/* suspended: at Mem0 */
	PROXY_EXPORT_CHECK,	/* suspended: the export check reads it */
	PROXY_ANSWER,		/* to resume: Mem0's answer goes back */
	PROXY_REFUSED,		/* to resume: q->deny goes back */
	PROXY_CLAIM_SYNC,	/* suspended: the built answer waits for
				   its claim's fsync */
	PROXY_REPLIED		/* queued */
};

struct proxy;

struct proxy_req {
	struct front		*f;
	struct proxy		*px;
	/* The configuration this request runs under, taken once when it
	 * starts (a reload in between does not split it): never freed
	 * before exit (cfg_release_all()). */
	const struct config	*cfg;
	struct MHD_Connection	*conn;
	enum proxy_stage	 stage;
	int			 admin;		/* came in on admin_listen */
	int			 target_nul;	/* a NUL cut the target short */
	int			 closing;	/* on a retired client daemon */
	char			*target;	/* raw "/path?query" */
	char			*method;
	int			 http11;	/* HTTP/1.1 (not 1.0) */
	long long		 t_start;

	struct buf		 body;
	size_t			 body_seen;	/* bytes received, kept or not */
	int			 has_body;
	int			 too_large;

	char			 request_id[FRONT_REQUEST_ID_MAX + 1];
	char			 client_rid_hash[17];	/* a client's
						   X-Request-Id we did not
						   keep, hashed; or "" */
	char			 client_ip[64];

	/* Facts about the request, each set once. */
	struct route		 route;
	int			 routed;	/* route holds something */
	struct up_exchange	*up;		/* the Mem0 exchange, once
						   prepared (proxy_prepare()),
						   or NULL; freed with q */
	int			 forwarded;	/* handed to the engine for
						   Mem0 */
	long long		 up_us;		/* its exchange took, or -1 */
	int			 export;	/* the response is checked */

	/* Approval gate. */
	char			 approval_id[GATE_ID_MAX + 1];
	struct gate_outcome	 deny;		/* PROXY_REFUSED's answer */

	/* The answer, built, waiting for its claim to be fsync'd. */
	struct MHD_Response	*held_resp;
	unsigned int		 held_status;
	const char		*held_error;	/* static, or NULL */
	size_t			 held_bytes;
	char			*claim_text;	/* the durable claim */
	int			 audit_ok;	/* its fsync worked */

	/* Export check (xcheck.h): count, foreign, path. */
	struct xcheck_outcome	 xo;
};

/* NULL when memory is short (or the export check cannot start). */
struct proxy	*proxy_create(const struct config *cfg, struct eng *eng,
		    struct wm *wm, struct gate *gate,
		    const struct anon *anon);
/* Exports still queued for their check are answered (503). */
void		 proxy_stop(struct proxy *px);
void		 proxy_free(struct proxy *px);

/* Requests suspended right now (waiting for Mem0, the gate, ...). */
size_t		 proxy_inflight(struct proxy *px);
/* 1 when the last exchange could not reach Mem0. */
int		 proxy_upstream_down(struct proxy *px);

/* Classify what is known of q (for the claims of early refusals too).
 * 0, or -1 when memory is short. Safe to call twice. */
int		 proxy_route(struct proxy_req *q);
/* The whole body is in (q->too_large: it was over the cap). */
enum MHD_Result	 proxy_start(struct proxy_req *q);
/* Answer {"error":code,"message":msg,"request_id":id}, logged and
 * claimed; 503 carries Retry-After. */
enum MHD_Result	 proxy_refuse(struct proxy_req *q, unsigned int status,
		    const char *code, const char *msg);
/* q runs again after front_resume(): act on its stage. */
enum MHD_Result	 proxy_resumed(struct proxy_req *q);
/* The admin listener's approval lookup: suspended until the gate
 * answers (then PROXY_REFUSED carries the document). */
void		 proxy_lookup(struct proxy_req *q, const char *approval_id);
/* Claim a request refused before it had a route (a 414 target). */
void		 proxy_claim_refused_target(struct proxy *px,
		    const char *request_id, int status, const char *error);
void		 proxy_req_free(struct proxy_req *q);

#endif /* PROXY_H */
