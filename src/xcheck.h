/*
 * xcheck: the export check on the response path. For a request whose
 * response is an export (export_is_export(), export.enabled), the front
 * hands the complete, decoded 2xx body here. xcheck runs export_check()
 * and, when export.archive_dir is set, writes the checked body to the
 * archive (archive.h), claims "Created file PATH", and asks Wingman
 * POST /verify {"claim":"Created file PATH"}. It then calls back with the
 * outcome: release the body to the client, or refuse it with an error.
 *
 * Decisions:
 *   malformed (not JSON of a known shape)     502 export_malformed
 *   memories of entities not named            502 export_scope_violation
 *   archive write failed                      500 export_archive_failed
 *   "Created file" claim refused by the spool 503 audit_unavailable
 *   verdict FALSE                             502 export_verification_failed
 *   verdict UNVERIFIABLE                      released, or 502
 *                                             export_unverifiable with
 *                                             export.require_verified
 *   Wingman unreachable, timeout, non-200,    503 wingman_unavailable, or
 *   no verdict                                released with unverified set
 *                                             (export.fail_open)
 *   engine stopping                           503 shutting_down
 * An archive file whose export is refused is removed again (claimed
 * "Removed file PATH"): the archive holds what was released, nothing
 * else. After each write the oldest files beyond export.archive_max_files
 * are removed.
 *
 * Threads: the check and the file write run on one worker thread owned
 * here (started on the first export, so a proxy that never sees one keeps
 * its threads), never on the engine thread (which also runs the client
 * listener): a 64 MiB body takes a while to parse and to fsync. The /verify answer is handled
 * on the engine thread (wm_call(); removing a refused file happens
 * there). done runs on one of those, or on the thread stopping the
 * engine or calling xcheck_destroy().
 *
 * Configuration: each export uses the configuration live when it is
 * submitted (cfg_live(); the cfg given to xcheck_create() when none is
 * published), so a reload changes later exports, never one under way.
 *
 * Ownership: xcheck_create() borrows cfg and wm. What the request
 * points to (route, method, request id, body) is borrowed until done is
 * called. The outcome given to done lives during the call; done may take
 * o->path (and set it to NULL), which is freed after done returns
 * otherwise.
 */
#ifndef XCHECK_H
#define XCHECK_H

#include <stddef.h>

#include "config.h"
#include "route.h"
#include "wingman.h"

struct xcheck;

struct xcheck_request {
	const struct route	*route;		/* classified request */
	const char		*method;	/* as received */
	const char		*request_id;	/* names the archive file */
	int			 status;	/* Mem0's, 2xx */
	const char		*body;		/* decoded */
	size_t			 len;
};

struct xcheck_outcome {
	int		 release;	/* 1: send the body to the client */
	int		 status;	/* refused: HTTP status */
	const char	*error;		/* refused: error code (static) */
	const char	*message;	/* refused: for the client (static) */
	int		 unverified;	/* released by export.fail_open */
	long		 count;		/* memories in the body, -1 unknown */
	long		 foreign;	/* memories of entities not named */
	char		*path;		/* archive file, or NULL */
};

typedef void	 xcheck_done_fn(struct xcheck_outcome *o, void *arg);

/* NULL when out of memory. No thread is started yet. */
struct xcheck	*xcheck_create(const struct config *cfg, struct wm *wm);

/*
 * Any thread. Check one export; done is called exactly once, unless -1 is
 * returned (stopping, out of memory, no thread): then never.
 */
int		 xcheck_submit(struct xcheck *x,
		    const struct xcheck_request *rq, xcheck_done_fn *done,
		    void *arg);

/*
 * Stop the worker: the export being checked finishes, those still queued
 * are answered 503 shutting_down. Then free. Call after eng_stop() (no
 * /verify answer is outstanding then). NULL is fine.
 */
void		 xcheck_destroy(struct xcheck *x);

#endif /* XCHECK_H */
