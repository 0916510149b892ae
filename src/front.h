/*
 * front: the client side. A libmicrohttpd daemon run inside the engine's
 * loop (engine.h, eng_watch()) reads each request (body under a hard
 * cap), classifies it, suspends the connection while the engine talks to
 * Mem0, and resumes it to send Mem0's answer (or the proxy's JSON error)
 * back, all on the engine thread. After the status
 * is known it builds the request's claim and queues it for Wingman.
 *
 * Gated requests (gate.h) are suspended the same way while the gate asks
 * Wingman; the gate's callback either hands the prepared transfer to the
 * engine or resumes the connection with its denial.
 *
 * Exports (bulk reads of memories, export.h) are held the same way after
 * Mem0 answered, while xcheck.h checks, archives and verifies the decoded
 * body; the client gets it only when the check releases it.
 *
 * The proxy's own endpoints (never forwarded, never claimed): on the
 * client listener only /_proxy/healthz and /_proxy/readyz; on the admin
 * listener (admin_listen, a second daemon whose requests the same code
 * serves, flagged by the daemon they arrived on) /healthz, /readyz,
 * /metrics, /approvals/{id}, /status, /status.js and /status.json, each
 * also under /_proxy/. The admin listener is read-only: GET and HEAD.
 *
 * Ownership: front_start() borrows cfg, eng, wm, gate and anon; they must
 * outlive the front.
 */
#ifndef FRONT_H
#define FRONT_H

#include <stddef.h>

#include <microhttpd.h>

#include "anon.h"
#include "config.h"
#include "engine.h"
#include "gate.h"
#include "wingman.h"

#define FRONT_REQUEST_ID_MAX	64

struct front;
struct proxy_req;

/*
 * For the pipeline (proxy.h), on the thread that runs q's daemon:
 * queue resp (not taken) as q's answer; suspend q's connection.
 */
enum MHD_Result	 front_queue(struct proxy_req *q, unsigned int status,
		    struct MHD_Response *resp);
void		 front_suspend(struct proxy_req *q);
/* Any thread: q runs again (proxy_resumed()) soon. */
void		 front_resume(struct proxy_req *q);
/* A request header's value (the first of its name), or NULL. */
const char	*front_header(struct proxy_req *q, const char *name);

/*
 * Reload (the thread that starts and stops the engine): read the TLS
 * files of cfg again; when their content changed, a new client daemon
 * with them takes over the listening socket (the swap runs on the engine
 * thread) and the old one finishes its connections. Returns 1 when
 * replaced, 0 when nothing changed (or no TLS), -1 with a message in err
 * (a file unreadable, a certificate or key refused): the old one stays.
 */
int		 front_reload_tls(struct front *f, const struct config *cfg,
		    char *err, size_t errlen);

/*
 * Start listening (after eng_start(): the client daemon joins the
 * engine's loop). On error returns NULL with a message in err.
 */
struct front	*front_start(const struct config *cfg, struct eng *eng,
		    struct wm *wm, struct gate *gate, const struct anon *anon,
		    char *err, size_t errlen);

/* Stop accepting new connections; requests in progress go on. */
void		 front_quiesce(struct front *f);

/* Requests suspended right now (waiting for Mem0 or the gate). */
size_t		 front_inflight(struct front *f);
/* Requests received and not yet completed (answer not fully sent). */
size_t		 front_active(struct front *f);

/*
 * After eng_stop(): this thread runs the client daemons until every
 * request has been answered (the stop answered what was held) or ms
 * passed.
 */
void		 front_drain(struct front *f, long ms);

/* Close everything and free. Call after the engine has stopped. */
void		 front_stop(struct front *f);

/*
 * 1 if id is acceptable as a client-supplied X-Request-Id: a UUID or 16
 * to 64 hex digits, which cannot carry personal data. Any other id is
 * replaced by the proxy's own, and only its keyed hash is logged.
 */
int		 front_request_id_valid(const char *id);

#endif /* FRONT_H */
