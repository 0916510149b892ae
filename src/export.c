/*
 * export: check an export response before it reaches the client. See
 * export.h for the contract.
 *
 * Choices the header leaves open, made here on the side of blocking (a
 * wrongly blocked export costs a retry, a wrongly passed one leaks another
 * user's memories):
 *
 * - Shapes, per route (mem0-api.md §2.5, §3, §4.2, §8.3). Anything else is
 *   malformed.
 *     OSS GET /memories          array | {"results":[..]} |
 *                                {"results":{"results":[..]}} |
 *                                {"memories":[..]} |
 *                                {"memories":{"results":[..]}}
 *     GET /v1/memories/          array | {"results":[..]} (paginated)
 *     POST /v2/memories/         array | {"results":[..]}
 *     POST /v3/memories/         {"results":[..]} (paginated)
 *     GET /v1/memories/{t}/{id}/ {"results":[..]} (paginated)
 *   Other members ("count", "relations", ...) are ignored. A "results" or
 *   "memories" key given twice, or both at the OSS top level, is
 *   malformed: clients disagree about which one wins. Every item must be
 *   an object with an "id" (a non-empty string or a number).
 * - count is the number of items in this body (not the envelope's
 *   "count", which is the total over all pages).
 * - POST /v1/exports/get/: the body must be a JSON object. count is the
 *   number of objects in the first top-level member that is an array
 *   holding at least one object (the exported records); when there is
 *   none, the whole object is one record (1), and {} is 0. Every object
 *   anywhere in it, at most EXPORT_MAX_DEPTH levels deep, is checked for
 *   entity keys; deeper nesting is malformed (it cannot be checked).
 *   foreign counts objects with foreign ids, wherever they are; unscoped
 *   counts records without a non-null entity id anywhere inside.
 * - Entity keys: user_id, agent_id, app_id, run_id, their camelCase forms,
 *   and session_id/sessionId for run (the platform's name for it). Every
 *   occurrence of a repeated key is checked. A string must equal one of
 *   the requested values exactly; a number is compared as route.c prints
 *   it; null is "not set"; true, false, arrays and objects are foreign.
 * - unscoped: items with no entity key holding a non-null value. An item
 *   whose entity keys are all null carries no owner either.
 * - Request ids: a type whose values include "*" is not checked. When
 *   route.c could not store every id (n_ids_seen > n_ids), the stored ones
 *   are used: that can only block more. route.c keeps no operators, so
 *   each named value counts as allowed and each named type as required
 *   when present: an OR across types, or a "ne"/"nin" value, makes
 *   legitimate items look foreign and such an export is blocked.
 * - Bytes: a NUL byte, or a "\u0000" escape (cJSON would cut the string
 *   there, so "alice\u0000x" would compare as "alice"), or anything but
 *   whitespace after the JSON value, is malformed.
 * - detail never holds ids, keys of exported objects or memory text:
 *   only indexes, counts and the fixed names of envelope keys.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "export.h"

/* Nesting walked in /v1/exports/get/ bodies; deeper is malformed. */
#define EXPORT_MAX_DEPTH	64
/* The largest body looked at (the config's upstream.max_response_bytes
   cannot be set higher). */
#define EXPORT_MAX_BODY		((size_t)1 << 30)

/* Which shapes a route's response may take. */
enum export_family {
	FAM_NONE = 0,
	FAM_OSS_LIST,		/* OSS GET /memories */
	FAM_V1_LIST,		/* GET /v1/memories/ */
	FAM_V2_LIST,		/* POST /v2/memories/ */
	FAM_V3_LIST,		/* POST /v3/memories/ */
	FAM_ENTITY_LIST,	/* GET /v1/memories/{type}/{id}/ */
	FAM_EXPORT_GET,		/* POST /v1/exports/get/ */
	FAM_OSS_SEARCH,		/* OSS POST /search */
	FAM_V1_SEARCH,		/* POST /v1/memories/search/ */
	FAM_V2_SEARCH,		/* POST /v2/memories/search/ */
	FAM_V3_SEARCH		/* POST /v3/memories/search/ */
};

/* What the request asked for, per entity type. */
struct scope {
	const struct route	*r;
	int			 check[ROUTE_ENT_COUNT]; /* named, no "*" */
	int			 active;	/* some type is checked */
};

/* Tally of one exports/get subtree. */
struct walk {
	long	 foreign;	/* objects with foreign ids */
	int	 has_entity;	/* some non-null entity id inside */
	int	 too_deep;
};

static void	 set_detail(struct export_result *res, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

/* Write the log reason into res->detail (cut to fit). */
static void
set_detail(struct export_result *res, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
	va_end(ap);
}

const char *
export_verdict_name(enum export_verdict v)
{
	switch (v) {
	case EXPORT_OK:
		return ("ok");
	case EXPORT_UPSTREAM_ERROR:
		return ("upstream_error");
	case EXPORT_SCOPE_VIOLATION:
		return ("export_scope_violation");
	case EXPORT_MALFORMED:
	default:
		/* An out-of-range verdict is treated as the safe one. */
		return ("export_malformed");
	}
}

/* The shape family of a classified request; FAM_NONE if not an export. */
static enum export_family
route_family(const struct route *r)
{
	const char	*p;

	if (r == NULL || r->pattern == NULL)
		return (FAM_NONE);
	p = r->pattern;
	if (r->kind == ROUTE_SEARCH) {
		if (r->dialect == ROUTE_DIALECT_OSS)
			return (strcmp(p, "/search") == 0 ? FAM_OSS_SEARCH :
			    FAM_NONE);
		if (strcmp(p, "/v1/memories/search/") == 0)
			return (FAM_V1_SEARCH);
		if (strcmp(p, "/v2/memories/search/") == 0)
			return (FAM_V2_SEARCH);
		if (strcmp(p, "/v3/memories/search/") == 0)
			return (FAM_V3_SEARCH);
		return (FAM_NONE);
	}
	if (r->kind == ROUTE_LIST && r->dialect == ROUTE_DIALECT_OSS) {
		if (strcmp(p, "/memories") == 0)
			return (FAM_OSS_LIST);
		return (FAM_NONE);
	}
	if (r->dialect != ROUTE_DIALECT_PLATFORM)
		return (FAM_NONE);
	if (r->kind == ROUTE_LIST) {
		if (strcmp(p, "/v1/memories/") == 0)
			return (FAM_V1_LIST);
		if (strcmp(p, "/v2/memories/") == 0)
			return (FAM_V2_LIST);
		if (strcmp(p, "/v3/memories/") == 0)
			return (FAM_V3_LIST);
		if (strcmp(p, "/v1/memories/{entity_type}/{entity_id}/") == 0)
			return (FAM_ENTITY_LIST);
		return (FAM_NONE);
	}
	if (r->kind == ROUTE_EXPORT && strcmp(p, "/v1/exports/get/") == 0)
		return (FAM_EXPORT_GET);
	return (FAM_NONE);
}

static int
family_is_search(enum export_family fam)
{
	return (fam == FAM_OSS_SEARCH || fam == FAM_V1_SEARCH ||
	    fam == FAM_V2_SEARCH || fam == FAM_V3_SEARCH);
}

int
export_is_export(const struct route *r)
{
	enum export_family	 fam = route_family(r);

	return (fam != FAM_NONE && !family_is_search(fam));
}

int
export_is_search(const struct route *r)
{
	return (family_is_search(route_family(r)));
}


/* -------------------------------------------------------------------- */
/* Scope */

/* Which entity types to check for request r (kept by pointer in sc). */
static void
scope_init(struct scope *sc, const struct route *r)
{
	int	 named[ROUTE_ENT_COUNT], wild[ROUTE_ENT_COUNT];
	size_t	 i, n;
	int	 t;

	memset(sc, 0, sizeof(*sc));
	memset(named, 0, sizeof(named));
	memset(wild, 0, sizeof(wild));
	sc->r = r;
	n = r->n_ids < ROUTE_MAX_IDS ? r->n_ids : ROUTE_MAX_IDS;
	for (i = 0; i < n; i++) {
		t = (int)r->ids[i].type;
		if (t < 0 || t >= ROUTE_ENT_COUNT || r->ids[i].value == NULL)
			continue;
		if (strcmp(r->ids[i].value, "*") == 0)
			wild[t] = 1;
		else
			named[t] = 1;
	}
	for (t = 0; t < ROUTE_ENT_COUNT; t++) {
		sc->check[t] = named[t] && !wild[t];
		if (sc->check[t])
			sc->active = 1;
	}
}

unsigned int
export_owner_keys(const struct route *r)
{
	enum export_family	 fam = route_family(r);
	struct scope		 sc;
	unsigned int		 mask = 0;
	int			 t;

	if (fam == FAM_NONE || fam == FAM_ENTITY_LIST || fam == FAM_EXPORT_GET)
		return (0);
	scope_init(&sc, r);
	for (t = 0; t < ROUTE_ENT_COUNT; t++)
		if (sc.check[t])
			mask |= 1u << t;
	return (mask);
}

/* 1 if s is one of the requested values of type t. */
static int
scope_has(const struct scope *sc, int t, const char *s)
{
	const struct route	*r = sc->r;
	size_t			 i, n;

	n = r->n_ids < ROUTE_MAX_IDS ? r->n_ids : ROUTE_MAX_IDS;
	for (i = 0; i < n; i++)
		if ((int)r->ids[i].type == t && r->ids[i].value != NULL &&
		    strcmp(r->ids[i].value, s) == 0)
			return (1);
	return (0);
}

/* Entity type of an item key; the platform returns run ids as session_id. */
static int
entity_key(const char *k)
{
	if (k != NULL && (strcmp(k, "session_id") == 0 ||
	    strcmp(k, "sessionId") == 0))
		return (ROUTE_ENT_RUN);
	return (route_entity_key(k));
}

/* 1 if value v of an entity key of type t is not one the request named. */
static int
value_foreign(const struct scope *sc, int t, const cJSON *v)
{
	char	 num[ROUTE_NUMBER_ID_MAX];

	if (cJSON_IsString(v))
		return (v->valuestring == NULL || !scope_has(sc, t,
		    v->valuestring));
	if (cJSON_IsNumber(v)) {
		/* As the request's numeric ids were recorded. */
		route_number_id(v->valuedouble, num, sizeof(num));
		return (!scope_has(sc, t, num));
	}
	/* true, false, arrays, objects: cannot be one of ours. */
	return (1);
}

/*
 * Look at the entity keys directly inside object obj. Returns 1 if one of
 * them holds a value the request did not name, or, with allow (a memory
 * of a list or search), when none holds a value it named: an item with
 * no entity key at all, or owned only by a type the request did not
 * name, is not the requester's. Sets *has_entity when one holds a
 * non-null value.
 */
static int
object_foreign(const struct scope *sc, const cJSON *obj, int allow,
    int *has_entity)
{
	const cJSON	*c;
	int		 t, foreign = 0, matched = 0;

	for (c = obj->child; c != NULL; c = c->next) {
		t = entity_key(c->string);
		if (t < 0 || cJSON_IsNull(c))
			continue;
		*has_entity = 1;
		if (!sc->active || !sc->check[t])
			continue;
		if (value_foreign(sc, t, c))
			foreign = 1;
		else
			matched = 1;
	}
	return (foreign || (allow && sc->active && !matched));
}

/* -------------------------------------------------------------------- */
/* Bytes and JSON */

/*
 * 0 if body[0..len) may be handed to cJSON: no NUL byte, no "\u0000"
 * escape (cJSON would end the string there). Sets the detail otherwise.
 */
static int
bytes_ok(const char *body, size_t len, struct export_result *res)
{
	size_t	 i;

	if (memchr(body, '\0', len) != NULL) {
		set_detail(res, "body contains a NUL byte");
		return (-1);
	}
	for (i = 0; i < len; i++) {
		if (body[i] != '\\')
			continue;
		/* An escape: look at it, then step over the escaped byte. */
		if (len - i >= 6 && body[i + 1] == 'u' &&
		    memcmp(body + i + 2, "0000", 4) == 0) {
			set_detail(res, "body contains a \\u0000 escape");
			return (-1);
		}
		i++;
	}
	return (0);
}

/*
 * Parse body[0..len) as one JSON value followed by nothing but
 * whitespace. Returns the tree (caller frees with cJSON_Delete) or NULL
 * with the detail set.
 */
static cJSON *
parse_body(const char *body, size_t len, struct export_result *res)
{
	cJSON		*root;
	const char	*end = NULL;

	root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (root == NULL) {
		set_detail(res, "body is not JSON");
		return (NULL);
	}
	if (end == NULL || end < body || end > body + len) {
		cJSON_Delete(root);
		set_detail(res, "body is not JSON");
		return (NULL);
	}
	while (end < body + len && (*end == ' ' || *end == '\t' ||
	    *end == '\n' || *end == '\r'))
		end++;
	if (end < body + len) {
		cJSON_Delete(root);
		set_detail(res, "body has bytes after the JSON value");
		return (NULL);
	}
	return (root);
}

/* The member of obj named exactly key; *dup set if it occurs twice. */
static const cJSON *
obj_get(const cJSON *obj, const char *key, int *dup)
{
	const cJSON	*c, *found = NULL;

	*dup = 0;
	if (!cJSON_IsObject(obj))
		return (NULL);
	for (c = obj->child; c != NULL; c = c->next) {
		if (c->string == NULL || strcmp(c->string, key) != 0)
			continue;
		if (found != NULL)
			*dup = 1;
		found = c;
	}
	return (found);
}

/* "an array", "a string", ...: for details. Static strings. */
static const char *
json_type_name(const cJSON *v)
{
	if (cJSON_IsArray(v))
		return ("an array");
	if (cJSON_IsObject(v))
		return ("an object");
	if (cJSON_IsString(v))
		return ("a string");
	if (cJSON_IsNumber(v))
		return ("a number");
	if (cJSON_IsBool(v))
		return ("a boolean");
	if (cJSON_IsNull(v))
		return ("null");
	return ("not a JSON value");
}

/* -------------------------------------------------------------------- */
/* Lists */

/*
 * {"results":[...]} inside obj (named where in the detail). Returns the
 * array, or NULL with the detail set.
 */
static const cJSON *
results_array(const cJSON *obj, const char *where,
    struct export_result *res)
{
	const cJSON	*v;
	int		 dup;

	v = obj_get(obj, "results", &dup);
	if (dup) {
		set_detail(res, "%s has two results keys", where);
		return (NULL);
	}
	if (v == NULL) {
		set_detail(res, "%s has no results array", where);
		return (NULL);
	}
	if (!cJSON_IsArray(v)) {
		set_detail(res, "%s results is %s, want an array", where,
		    json_type_name(v));
		return (NULL);
	}
	return (v);
}

/*
 * The OSS envelope: {"results":[..]}, {"results":{"results":[..]}},
 * {"memories":[..]} or {"memories":{"results":[..]}}.
 */
static const cJSON *
oss_items(const cJSON *root, struct export_result *res)
{
	const cJSON	*results, *memories, *v;
	const char	*name;
	int		 dup_r, dup_m;

	results = obj_get(root, "results", &dup_r);
	memories = obj_get(root, "memories", &dup_m);
	if (dup_r || dup_m) {
		set_detail(res, "body has two %s keys",
		    dup_r ? "results" : "memories");
		return (NULL);
	}
	if (results != NULL && memories != NULL) {
		set_detail(res, "body has both results and memories");
		return (NULL);
	}
	if (results == NULL && memories == NULL) {
		set_detail(res, "body has no results array");
		return (NULL);
	}
	v = results != NULL ? results : memories;
	name = results != NULL ? "results" : "memories";
	if (cJSON_IsArray(v))
		return (v);
	if (cJSON_IsObject(v))
		return (results_array(v, name, res));
	set_detail(res, "%s is %s, want an array or object", name,
	    json_type_name(v));
	return (NULL);
}

/* The item array of a list body for family fam, or NULL + detail. */
static const cJSON *
list_items(const cJSON *root, enum export_family fam,
    struct export_result *res)
{
	int	 array_ok;

	array_ok = fam == FAM_OSS_LIST || fam == FAM_V1_LIST ||
	    fam == FAM_V2_LIST || fam == FAM_OSS_SEARCH ||
	    fam == FAM_V1_SEARCH || fam == FAM_V2_SEARCH;
	if (cJSON_IsArray(root)) {
		if (array_ok)
			return (root);
		set_detail(res, "body is an array, want an object");
		return (NULL);
	}
	if (!cJSON_IsObject(root)) {
		set_detail(res, "body is %s, want %s", json_type_name(root),
		    array_ok ? "an array or object" : "an object");
		return (NULL);
	}
	if (fam == FAM_OSS_LIST || fam == FAM_OSS_SEARCH)
		return (oss_items(root, res));
	return (results_array(root, "body", res));
}

/* An item's "id": a non-empty string or a number. */
static int
item_has_id(const cJSON *item)
{
	const cJSON	*id;
	int		 dup;

	id = obj_get(item, "id", &dup);
	if (cJSON_IsString(id))
		return (id->valuestring != NULL && id->valuestring[0] != '\0');
	return (cJSON_IsNumber(id));
}

/*
 * A list body (array or envelope, by family): every item an object with
 * an id; counts and the scope verdict into res.
 */
static enum export_verdict
check_list(const struct scope *sc, const cJSON *root, enum export_family fam,
    struct export_result *res)
{
	const cJSON	*items, *c;
	long		 n = 0, foreign = 0, unscoped = 0;
	int		 has_entity;

	items = list_items(root, fam, res);
	if (items == NULL)
		return (EXPORT_MALFORMED);
	for (c = items->child; c != NULL; c = c->next, n++) {
		if (!cJSON_IsObject(c)) {
			set_detail(res, "results[%ld] is not an object", n);
			return (EXPORT_MALFORMED);
		}
		if (!item_has_id(c)) {
			set_detail(res, "results[%ld] has no id", n);
			return (EXPORT_MALFORMED);
		}
		has_entity = 0;
		/* An entity's own list names it in the path, not the items. */
		if (object_foreign(sc, c, fam != FAM_ENTITY_LIST, &has_entity))
			foreign++;
		if (!has_entity)
			unscoped++;
	}
	res->count = n;
	res->foreign = foreign;
	res->unscoped = unscoped;
	if (foreign > 0) {
		set_detail(res, "%ld of %ld memories belong to other "
		    "entities%s", foreign, n,
		    sc->r->n_ids_seen > sc->r->n_ids ?
		    " (request ids incomplete)" : "");
		return (EXPORT_SCOPE_VIOLATION);
	}
	if (unscoped > 0)
		set_detail(res, "%ld memories, %ld without entity ids", n,
		    unscoped);
	else
		set_detail(res, "%ld memories", n);
	return (EXPORT_OK);
}

/* -------------------------------------------------------------------- */
/* /v1/exports/get/ */

/* Check every object in node, depth levels down (the root is 1). */
static void
walk_export(const struct scope *sc, const cJSON *node, int depth,
    struct walk *w)
{
	const cJSON	*c;

	if (!cJSON_IsObject(node) && !cJSON_IsArray(node))
		return;
	if (depth > EXPORT_MAX_DEPTH) {
		w->too_deep = 1;
		return;
	}
	if (cJSON_IsObject(node) && object_foreign(sc, node, 0,
	    &w->has_entity))
		w->foreign++;
	for (c = node->child; c != NULL && !w->too_deep; c = c->next)
		walk_export(sc, c, depth + 1, w);
}

/* The first top-level member that is an array holding an object. */
static const cJSON *
records_array(const cJSON *root)
{
	const cJSON	*c, *e;

	for (c = root->child; c != NULL; c = c->next) {
		if (!cJSON_IsArray(c))
			continue;
		for (e = c->child; e != NULL; e = e->next)
			if (cJSON_IsObject(e))
				return (c);
	}
	return (NULL);
}

/*
 * A /v1/exports/get/ body: an object; every object inside it checked,
 * records counted (see the top of this file).
 */
static enum export_verdict
check_export_get(const struct scope *sc, const cJSON *root,
    struct export_result *res)
{
	const cJSON	*recs, *c, *e;
	struct walk	 all, one;
	long		 n = 0, unscoped = 0;

	if (!cJSON_IsObject(root)) {
		set_detail(res, "body is %s, want an object",
		    json_type_name(root));
		return (EXPORT_MALFORMED);
	}
	memset(&all, 0, sizeof(all));
	recs = records_array(root);
	/* The root's own keys, then each member; records one by one. */
	if (object_foreign(sc, root, 0, &all.has_entity))
		all.foreign++;
	for (c = root->child; c != NULL && !all.too_deep; c = c->next) {
		if (c != recs) {
			walk_export(sc, c, 2, &all);
			continue;
		}
		for (e = c->child; e != NULL && !all.too_deep; e = e->next) {
			if (!cJSON_IsObject(e)) {
				walk_export(sc, e, 3, &all);
				continue;
			}
			memset(&one, 0, sizeof(one));
			walk_export(sc, e, 3, &one);
			all.foreign += one.foreign;
			all.too_deep |= one.too_deep;
			n++;
			if (!one.has_entity)
				unscoped++;
			else
				all.has_entity = 1;
		}
	}
	if (all.too_deep) {
		set_detail(res, "export nested deeper than %d levels",
		    EXPORT_MAX_DEPTH);
		return (EXPORT_MALFORMED);
	}
	if (recs == NULL) {
		n = root->child != NULL ? 1 : 0;
		unscoped = n == 1 && !all.has_entity ? 1 : 0;
	}
	/*
	 * The export's schema decides the records' keys, and the export is
	 * found by its id, whatever the filters say: a record without an
	 * entity id cannot be shown to be the named entity's.
	 */
	if (sc->active && unscoped > 0 && all.foreign == 0) {
		res->count = n;
		res->foreign = unscoped;
		res->unscoped = unscoped;
		set_detail(res, "%ld of %ld records carry no entity id: include "
		    "the entity keys (user_id, agent_id, ...) in the export "
		    "schema", unscoped, n);
		return (EXPORT_SCOPE_VIOLATION);
	}
	res->count = n;
	res->foreign = all.foreign;
	res->unscoped = unscoped;
	if (all.foreign > 0) {
		set_detail(res, "%ld objects in an export of %ld records "
		    "belong to other entities%s", all.foreign, n,
		    sc->r->n_ids_seen > sc->r->n_ids ?
		    " (request ids incomplete)" : "");
		return (EXPORT_SCOPE_VIOLATION);
	}
	if (unscoped > 0)
		set_detail(res, "%ld records, %ld without entity ids", n,
		    unscoped);
	else
		set_detail(res, "%ld records", n);
	return (EXPORT_OK);
}

/* -------------------------------------------------------------------- */
/* Entry point */

enum export_verdict
export_check(const struct route *r, int status, const char *body,
    size_t len, struct export_result *res)
{
	struct export_result	 local;
	struct scope		 sc;
	enum export_family	 fam;
	cJSON			*root;

	if (res == NULL)
		res = &local;
	memset(res, 0, sizeof(*res));
	res->verdict = EXPORT_MALFORMED;
	res->count = -1;

	if (status < 200 || status > 299) {
		res->verdict = EXPORT_UPSTREAM_ERROR;
		set_detail(res, "upstream status %d", status);
		return (res->verdict);
	}
	fam = route_family(r);
	if (fam == FAM_NONE) {
		set_detail(res, "not an export route");
		return (res->verdict);
	}
	if (body == NULL || len == 0) {
		set_detail(res, "body is empty");
		return (res->verdict);
	}
	if (len > EXPORT_MAX_BODY) {
		set_detail(res, "body is larger than %zu bytes",
		    EXPORT_MAX_BODY);
		return (res->verdict);
	}
	if (bytes_ok(body, len, res) == -1)
		return (res->verdict);
	root = parse_body(body, len, res);
	if (root == NULL)
		return (res->verdict);

	scope_init(&sc, r);
	if (fam == FAM_EXPORT_GET)
		res->verdict = check_export_get(&sc, root, res);
	else
		res->verdict = check_list(&sc, root, fam, res);
	if (res->verdict == EXPORT_MALFORMED) {
		res->count = -1;
		res->foreign = 0;
		res->unscoped = 0;
	}
	cJSON_Delete(root);
	return (res->verdict);
}
