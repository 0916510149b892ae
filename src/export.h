/*
 * export: the check an export response must pass before it reaches the
 * client. An "export" is a bulk read of memories: OSS GET /memories (with
 * or without entity ids), platform GET /v1/memories/, POST /v2/memories/,
 * POST /v3/memories/ (list), GET /v1/memories/{type}/{id}/, and
 * POST /v1/exports/get/. Searches (OSS POST /search, platform
 * /v1|v2|v3/memories/search/) return memories too and are checked the
 * same way (export.check_search).
 *
 * export_check() looks at a complete, decoded response body: the status
 * must be 2xx, the body JSON of a shape known for that route and dialect,
 * and, when the request named entity ids, every memory in it must belong
 * to them: in a list or a search, a memory is released only if it
 * carries an id the request named (an allow-list: no entity key, another
 * value, or only a type the request did not name makes it "foreign"); in
 * an exports/get document, no object may carry an id the request did not
 * name. It counts the memories for the claim. No I/O, no allocation that
 * outlives the call.
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
/* 1 if r is a search (checked like an export with export.check_search). */
int	 export_is_search(const struct route *r);

/*
 * The entity keys (1 << ROUTE_ENT_*) every memory in r's answer must carry
 * for the allow-list to release it: the types the request names (0 when
 * it names none, or for routes that are not checked item by item). A
 * response projection (r->fields) that drops one of them hides the owner.
 */
unsigned int	 export_owner_keys(const struct route *r);

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
