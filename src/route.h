/*
 * route: decide which Mem0 operation a request is, the way Mem0 itself
 * will see it, and pull out the ids and counts a claim needs.
 *
 * The path is normalized as the upstream interprets it: split on '/',
 * each segment percent-decoded on its own (so an encoded '/' stays inside
 * its segment, as an id), empty segments dropped ('//' collapses), '.' and
 * '..' resolved (conservative: front ends such as nginx do it). Literal
 * segments match case-sensitively, as FastAPI and Django do; the method is
 * compared case-insensitively (conservative for gating). The OSS server
 * has no trailing slash redirect, so "/memories/" is not "/memories" there;
 * the platform treats a missing trailing slash like a present one.
 *
 * Which ids count is decided the way Mem0 decides it: the last value of
 * a repeated query parameter (Starlette and Django keep the last one);
 * for the routes the approval gate holds, only the place Mem0 reads its
 * filter from (the query of a delete-all, the path of an entity delete,
 * the body of a batch): ids found elsewhere in the request are kept
 * apart, as ignored, so that an approver is never shown a subject Mem0
 * will not use.
 *
 * Ownership: route_classify() fills a caller-owned struct route; every
 * pointer inside it is owned by the struct and released by route_free().
 * All strings are NUL-terminated and decoded. Nothing here does I/O.
 */
#ifndef ROUTE_H
#define ROUTE_H

#include <stddef.h>

enum route_kind {
	ROUTE_OTHER = 0,
	ROUTE_PING,
	ROUTE_CREATE,		/* add memories */
	ROUTE_READ,		/* one memory, summary, profile */
	ROUTE_LIST,		/* list memories (scoped or not) */
	ROUTE_SEARCH,
	ROUTE_UPDATE,
	ROUTE_DELETE_ONE,
	ROUTE_BULK_DELETE,	/* delete_all, batch delete, entity delete */
	ROUTE_BULK_UPDATE,	/* batch update */
	ROUTE_RESET,		/* OSS POST /reset */
	ROUTE_EXPORT,		/* platform /v1/exports/ and /v1/exports/get/ */
	ROUTE_HISTORY,
	ROUTE_ENTITY_ENUM,	/* lists of users/agents/... */
	ROUTE_ENTITY_CREATE,	/* POST /v1/users/ etc. */
	ROUTE_CONFIG,		/* read configuration */
	ROUTE_CONFIG_WRITE,	/* OSS POST /configure, project PATCH, webhooks */
	ROUTE_AUTH,		/* OSS /auth/..., /api-keys... */
	ROUTE_DESTROY,		/* DELETE of an organization or project */
	ROUTE_KIND_COUNT
};

enum route_dialect {
	ROUTE_DIALECT_AUTO = 0,	/* config only: decide per request */
	ROUTE_DIALECT_OSS,	/* self-hosted REST server, bare paths */
	ROUTE_DIALECT_PLATFORM	/* /v1/, /v2/, /v3/, /api/v1/ */
};

enum route_entity {
	ROUTE_ENT_USER = 0,
	ROUTE_ENT_AGENT,
	ROUTE_ENT_APP,
	ROUTE_ENT_RUN,
	ROUTE_ENT_COUNT
};

/* Caps: ids beyond these are counted (n_*_seen) but not stored. */
#define ROUTE_MAX_IDS		16
#define ROUTE_MAX_IGNORED	8
/* Every memory a request names up to this (a platform batch holds at
 * most 1000): all of them go in its claims (claim.h). */
#define ROUTE_MAX_MEMORY_IDS	1000
/* Nesting depth of AND/OR/NOT filter trees walked before giving up. */
#define ROUTE_MAX_FILTER_DEPTH	16

/*
 * What an add did to a memory, from the "event" of its response item
 * (a legacy add may also update or delete memories; NONE: no change).
 */
#define ROUTE_EV_UNKNOWN	0	/* no event: not a create response */
#define ROUTE_EV_ADD		1
#define ROUTE_EV_UPDATE		2
#define ROUTE_EV_DELETE		3
#define ROUTE_EV_NONE		4

/* Where in the request an id was found. */
#define ROUTE_SRC_PATH		0x01
#define ROUTE_SRC_QUERY		0x02
#define ROUTE_SRC_BODY		0x04
#define ROUTE_SRC_ALL		0x07

/* How the request body was read (from its Content-Type). */
enum route_body {
	ROUTE_BODY_NONE = 0,	/* no body */
	ROUTE_BODY_JSON,	/* JSON, parsed (body_invalid if it did not) */
	ROUTE_BODY_FORM,	/* application/x-www-form-urlencoded */
	ROUTE_BODY_OTHER	/* a type the proxy does not read */
};

struct route_id {
	enum route_entity	 type;
	char			*value;	/* decoded; "*" for a wildcard */
	unsigned int		 src;	/* ROUTE_SRC_* where it was found */
};

struct route {
	enum route_kind		 kind;
	enum route_dialect	 dialect;	/* never AUTO after classify */
	const char		*pattern;	/* static route template, e.g.
						   "/v1/memories/{memory_id}/";
						   never holds an id; "" for
						   ROUTE_OTHER */
	char			*path;		/* normalized decoded path */

	/* The entity ids Mem0 will use for this request. */
	struct route_id		 ids[ROUTE_MAX_IDS];
	size_t			 n_ids;		/* stored */
	size_t			 n_ids_seen;	/* found, stored or not */
	int			 wildcard;	/* some entity id is "*" */
	int			 ids_padded;	/* a platform entity id starts
						   or ends with whitespace */
	/* Entity ids the request names where Mem0 does not look. */
	struct route_id		 ignored[ROUTE_MAX_IGNORED];
	size_t			 n_ignored;
	size_t			 n_ignored_seen;
	unsigned int		 id_src;	/* ROUTE_SRC_* Mem0 reads the
						   entity filter from */

	char			**memory_ids;	/* malloc'd array, NULL
						   when there is none */
	unsigned char		*memory_events;	/* ROUTE_EV_* of each */
	size_t			 n_memory_ids;	/* stored */
	size_t			 cap_memory_ids;
	size_t			 n_memory_ids_seen;

	long			 count;		/* request-side item count:
						   messages, batch items;
						   -1 unknown */
	int			 delete_linked;	/* ?delete_linked=true */
	enum route_body		 body;		/* how the body was read */
	int			 body_invalid;	/* JSON body did not parse */
	int			 body_nul;	/* a JSON body with a NUL (also
						   \u0000): not read alike */
	int			 body_subject;	/* the body decides what is
						   affected (batch routes) */

	/*
	 * DELETE /v1/entities/{type}/{n}/ (legacy): the entity is named by
	 * Mem0's internal number (decoded path segment), not by its id;
	 * NULL on every other route.
	 */
	char			*entity_number;
	enum route_entity	 entity_number_type;

	/*
	 * A response projection (?fields= or "fields" in the body): set,
	 * and the entity keys (1 << ROUTE_ENT_*) it keeps.
	 */
	int			 fields;
	unsigned int		 fields_entities;

	/* ?org_id, ?project_id (decoded, the last one), or NULL: which
	 * project a platform request addresses (legacy SDKs send them). */
	char			*org_id;
	char			*project_id;

	/* Filled by route_parse_response(). */
	long			 result_count;	/* -1 unknown */
	char			*event_id;	/* async add / delete; NULL */
};

/*
 * Check a request target before anything else looks at it. Only the
 * origin form is accepted ("/path" or "/path?query", RFC 9112 3.2.1):
 * the path holds only RFC 3986 path characters and well-formed "%HH"
 * escapes, the query only visible ASCII; never a '#', a space, a control
 * byte or a byte above 0x7e. Those are exactly the targets that reach
 * Mem0 byte for byte through libcurl, so what the proxy classifies is
 * what Mem0 receives. Returns 0, or -1 with *why set to a static reason
 * for the client and *bad (when bad is not NULL) to the offset of the
 * first byte refused: target[0..*bad) is a valid target, or empty.
 */
int		 route_target_check(const char *target, size_t *bad,
		    const char **why);

/*
 * Classify one request. method: as received (any case). raw_path: the path
 * as received, not decoded, without the query; it must have passed
 * route_target_check() (anything not starting with '/' is ROUTE_OTHER).
 * raw_query: the part after '?', not decoded, or NULL. body: request body
 * (may be NULL when len 0), need not be NUL-terminated. content_type: the
 * request's Content-Type, or NULL: JSON and no type are read as JSON,
 * form data as form data, other types not at all (body = OTHER). dialect:
 * ROUTE_DIALECT_AUTO decides from the path. Returns 0, or -1 on
 * allocation failure (then *r is safe to route_free()). A body that does
 * not parse is not an error: body_invalid is set and extraction skips it.
 */
int		 route_classify(struct route *r, const char *method,
		    const char *raw_path, const char *raw_query,
		    const char *body, size_t body_len,
		    const char *content_type, enum route_dialect dialect);

/*
 * Read ids and counts out of an upstream response body (status as sent by
 * the upstream; non-2xx bodies are ignored). Adds memory ids from
 * results[].id / results[].data / event results, event_id, and the result
 * count (count field, results length, array length, nested
 * {"memories":{"results"}} and {"results":{"results"}}). Never fails:
 * what it cannot read stays unknown.
 */
void		 route_parse_response(struct route *r, int status,
		    const char *body, size_t body_len);

void		 route_free(struct route *r);

/* "create", "bulk-delete", ...: stable names used in claims and metrics. */
const char	*route_kind_name(enum route_kind kind);
/* "oss", "platform" ("auto" for ROUTE_DIALECT_AUTO). */
const char	*route_dialect_name(enum route_dialect dialect);
/* 'u', 'a', 'p', 'r': the pseudonym prefix letter of an entity type. */
char		 route_entity_letter(enum route_entity type);
/*
 * Entity type named by a JSON key: user_id/userId, agent_id/agentId,
 * app_id/appId, run_id/runId; -1 for anything else (NULL included).
 */
int		 route_entity_key(const char *k);
/* "user", "agent", "app", "run". */
const char	*route_entity_name(enum route_entity type);

/*
 * A JSON number used as an entity id, as text: integers below 1e15 in
 * full ("42"), anything else with 17 significant digits. The one
 * spelling for ids read from requests and from Mem0's answers.
 */
#define ROUTE_NUMBER_ID_MAX	64
void		 route_number_id(double d, char *out, size_t outlen);

/*
 * Decode percent escapes of src[0..len) into a new string; plus_is_space
 * turns '+' into ' ' (query strings). Invalid escapes are kept as is.
 * Returns a malloc'd string (caller frees) or NULL on allocation failure.
 */
char		*route_decode(const char *src, size_t len, int plus_is_space);

#endif /* ROUTE_H */
