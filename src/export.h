/*
 * export: the check an export response must pass before it reaches the
 * client. An "export" is a bulk read of memories: OSS GET /memories (with
 * or without entity ids), platform GET /v1/memories/, POST /v2/memories/,
 * POST /v3/memories/ (list), GET /v1/memories/{type}/{id}/, and
 * POST /v1/exports/get/.
 *
 * export_check() looks at a complete, decoded response body: the status
 * must be 2xx, the body JSON of a shape known for that route and dialect,
 * and, when the request named entity ids, every memory in it must belong
 * to them (a memory carrying another user's id is "foreign"). It counts
 * the memories for the claim. No I/O, no allocation that outlives the
 * call.
 *
 * Ownership: nothing is retained; res is caller-owned.
 */
#ifndef EXPORT_H
#define EXPORT_H

#include <stddef.h>

#include "route.h"

enum export_verdict {
	EXPORT_OK = 0,
	EXPORT_UPSTREAM_ERROR,		/* status not 2xx: pass it through */
	EXPORT_MALFORMED,		/* not JSON, or an unknown shape */
	EXPORT_SCOPE_VIOLATION		/* foreign memories inside */
};

struct export_result {
	enum export_verdict	 verdict;
	long			 count;		/* memories in the body, -1 */
	long			 foreign;	/* memories of other entities */
	long			 unscoped;	/* memories without entity ids
						   (cannot be checked) */
	char			 detail[160];	/* why, for logs: never ids,
						   never memory text */
};

/* 1 if r (classified) is one of the export routes above. */
int	 export_is_export(const struct route *r);

/*
 * Check body[0..len) (need not be NUL-terminated) returned with status
 * for request r. Always fills *res; returns res->verdict.
 */
enum export_verdict	 export_check(const struct route *r, int status,
			    const char *body, size_t len,
			    struct export_result *res);

/* "ok", "upstream_error", "export_malformed", "export_scope_violation". */
const char	*export_verdict_name(enum export_verdict v);

#endif /* EXPORT_H */
