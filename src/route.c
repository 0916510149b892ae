/*
 * route: classify a Mem0 request (kind, dialect) and pull out the entity
 * ids, memory ids and counts a claim needs. See route.h for the contract.
 *
 * Choices the header leaves open, made here on the conservative side (the
 * proxy gates on the kind, so classifying too high costs an approval,
 * classifying too low costs an unaudited delete):
 *
 * - NUL bytes. A path segment is kept with its length, so a segment that
 *   decodes to "memories\0x" matches no literal. Ids taken from the path or
 *   the query are stored with each NUL written as the three characters
 *   "%00" (r->path too), so "alice%00bob" never shrinks to "alice". A
 *   JSON body with a NUL (raw or "\u0000") is not read at all (body_nul:
 *   the front refuses it): cJSON would cut keys and strings short there,
 *   Python would not.
 * - Other readings of the path. The header decodes each segment on its
 *   own, so "%2F" stays inside an id. Uvicorn and WSGI servers decode the
 *   whole path before routing, though, and "/v1%2Fmemories%2F" reaches
 *   Django as "/v1/memories/"; uvicorn routes "." and ".." as names.
 *   Every such reading is classified too, and the most dangerous kind
 *   wins (kind_rank()). The SDK's "/v1/memories/mem%2F1/" stays a read of
 *   memory "mem/1".
 * - Only origin-form targets are classified: the front refuses every
 *   other form, and a '#', spaces, controls and non-ASCII bytes, before
 *   classifying (route_target_check()), so that libcurl sends Mem0 the
 *   very bytes classified here. HEAD is classified as GET.
 * - Query strings and form bodies: the last value of a repeated entity
 *   parameter counts, as in Starlette and Django ("?user_id=a&user_id="
 *   names no user at all).
 * - Bodies: read by their Content-Type (JSON, or no type: JSON; form
 *   data: as a query string; anything else: not read), parsed once with
 *   cJSON. A body with bytes after the JSON value
 *   (other than whitespace) is invalid, as it is for Python's json. Keys
 *   are matched exactly (cJSON_GetObjectItem ignores case; Python does
 *   not). With duplicate keys every occurrence is searched for ids; counts
 *   use the last one, as Python's dict does.
 * - Filters deeper than ROUTE_MAX_FILTER_DEPTH are not walked; the first
 *   such subtree bumps n_ids_seen by one, so n_ids_seen > n_ids tells the
 *   caller that the list of ids is not complete.
 * - Beyond ROUTE_MAX_IDS / ROUTE_MAX_MEMORY_IDS values are no longer
 *   compared with each other, so n_*_seen can count a repeat twice.
 * - ?delete_linked counts as true unless its value is "", "false", "0",
 *   "no" or "off" (any case), and only on DELETE /v1/memories/{id}/.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <limits.h>

#include <cJSON.h>

#include "route.h"

enum route_method {
	METH_OTHER = 0,
	METH_GET,		/* and HEAD */
	METH_POST,
	METH_PUT,
	METH_PATCH,
	METH_DELETE,
	METH_OPTIONS
};

/* One path segment: decoded bytes, not NUL-terminated, may hold NUL. */
struct seg {
	const char	*s;
	size_t		 len;
};

/* A normalized path. store owns the bytes every v[i].s points into. */
struct segv {
	char		*store;
	struct seg	*v;
	size_t		 n;
	int		 trailing;	/* the path ended with '/' */
	int		 has_slash;	/* a segment decoded to hold a '/' */
	int		 literal;	/* keep "." and ".." as segments */
	int		 has_dots;	/* a "." or ".." segment was seen */
};

/* How segv_build() reads a path. */
#define SEGV_FULL_DECODE	0x1	/* decode, then split */
#define SEGV_LITERAL		0x2	/* dot segments are names */
#define SEGV_READINGS		4	/* every combination of the two */

/* The outcome of matching one normalized path against a route table. */
struct match {
	enum route_kind		 kind;
	enum route_dialect	 dialect;
	const char		*pattern;
	int			 path_entity;	/* the route names an entity in
						   its path (ent_type may still
						   be -1: an unknown type) */
	int			 ent_type;	/* -1: no entity id in the path */
	size_t			 ent_seg;
	int			 ent_number;	/* the path holds Mem0's internal
						   number of the entity, not its
						   id (legacy v1 delete) */
	int			 has_mem;	/* segment mem_seg is a memory id */
	size_t			 mem_seg;
	int			 delete_linked;
	int			 batch;		/* count = len(memories) */
};

/* What the matchers need to know about the request besides the path. */
struct req {
	enum route_method	 meth;
	int			 delete_linked;	/* the query says true */
	const cJSON		*body;		/* parsed body or NULL */
};

/* State of one walk over a body. */
struct walk {
	struct route	*r;
	int		 truncated;	/* n_ids_seen already bumped for depth */
};

/* Patterns compared by address in route_parse_response(). */
static const char pat_oss_memory[] = "/memories/{memory_id}";
static const char pat_v1_memory[] = "/v1/memories/{memory_id}/";
static const char pat_v1_batch[] = "/v1/batch/";

static const char *const kind_names[ROUTE_KIND_COUNT] = {
	"other", "ping", "create", "read", "list", "search", "update",
	"delete-one", "bulk-delete", "bulk-update", "reset", "export",
	"history", "entity-enum", "entity-create", "config", "config-write",
	"auth", "destroy"
};

static const char *const entity_names[ROUTE_ENT_COUNT] = {
	"user", "agent", "app", "run"
};

const char *
route_kind_name(enum route_kind kind)
{
	if ((int)kind < 0 || kind >= ROUTE_KIND_COUNT)
		return ("other");
	return (kind_names[kind]);
}

const char *
route_dialect_name(enum route_dialect dialect)
{
	switch (dialect) {
	case ROUTE_DIALECT_OSS:
		return ("oss");
	case ROUTE_DIALECT_PLATFORM:
		return ("platform");
	case ROUTE_DIALECT_AUTO:
	default:
		return ("auto");
	}
}

char
route_entity_letter(enum route_entity type)
{
	static const char letters[ROUTE_ENT_COUNT] = { 'u', 'a', 'p', 'r' };

	if ((int)type < 0 || type >= ROUTE_ENT_COUNT)
		return ('?');
	return (letters[type]);
}

const char *
route_entity_name(enum route_entity type)
{
	if ((int)type < 0 || type >= ROUTE_ENT_COUNT)
		return ("unknown");
	return (entity_names[type]);
}

/* -------------------------------------------------------------------- */
/* Decoding */

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/*
 * Decode src[0..len) into dst, which has room for len bytes (decoding
 * never grows). Returns the decoded length; dst is not NUL-terminated.
 */
static size_t
decode_into(char *dst, const char *src, size_t len, int plus_is_space)
{
	size_t	 i, o;
	int	 hi, lo;

	for (i = 0, o = 0; i < len; i++) {
		if (src[i] == '%' && len - i >= 3) {
			hi = hexval((unsigned char)src[i + 1]);
			lo = hexval((unsigned char)src[i + 2]);
			if (hi >= 0 && lo >= 0) {
				dst[o++] = (char)(hi << 4 | lo);
				i += 2;
				continue;
			}
		}
		if (src[i] == '+' && plus_is_space)
			dst[o++] = ' ';
		else
			dst[o++] = src[i];
	}
	return (o);
}

char *
route_decode(const char *src, size_t len, int plus_is_space)
{
	char	*dst;
	size_t	 n;

	if (src == NULL)
		len = 0;
	if (len == SIZE_MAX)
		return (NULL);
	dst = malloc(len + 1);
	if (dst == NULL)
		return (NULL);
	n = len ? decode_into(dst, src, len, plus_is_space) : 0;
	dst[n] = '\0';
	return (dst);
}

/*
 * Copy p[0..n) into a new NUL-terminated string, writing each NUL byte as
 * "%00" so that the value is never cut short. Caller frees; NULL on
 * allocation failure.
 */
static char *
dup_bytes(const char *p, size_t n)
{
	size_t	 i, nul, o;
	char	*s;

	for (i = 0, nul = 0; i < n; i++)
		if (p[i] == '\0')
			nul++;
	if (n > (SIZE_MAX - 1) / 3)
		return (NULL);
	s = malloc(n + 2 * nul + 1);
	if (s == NULL)
		return (NULL);
	for (i = 0, o = 0; i < n; i++) {
		if (p[i] == '\0') {
			memcpy(s + o, "%00", 3);
			o += 3;
		} else
			s[o++] = p[i];
	}
	s[o] = '\0';
	return (s);
}

/* -------------------------------------------------------------------- */
/* Paths */

/*
 * Append one decoded segment, dropping "" and resolving "." and ".."
 * (RFC 3986 5.2.4), unless the reading is literal: servers such as
 * uvicorn route on the path as sent, where ".." can be an entity id.
 */
static void
segv_push(struct segv *sv, const char *s, size_t len)
{
	int	 dots;

	if (len == 0)
		return;
	dots = (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' &&
	    s[1] == '.');
	sv->has_dots |= dots;
	if (dots && !sv->literal) {
		if (len == 2 && sv->n > 0)
			sv->n--;	/* ".." at the root stays there */
		return;
	}
	if (memchr(s, '/', len) != NULL)
		sv->has_slash = 1;
	sv->v[sv->n].s = s;
	sv->v[sv->n].len = len;
	sv->n++;
}

/*
 * Split raw[0..len) into normalized segments. Without SEGV_FULL_DECODE:
 * split on '/', then decode each segment (the header's reading); with
 * it: decode the whole path, then split (what uvicorn and WSGI servers
 * do). SEGV_LITERAL: see segv_push(). On success sv owns its memory
 * (segv_free()); -1 on allocation failure.
 */
static int
segv_build(struct segv *sv, const char *raw, size_t len, int how)
{
	size_t		 i, start, nslash, dlen, out, n;
	const char	*src;
	int		 full_decode = (how & SEGV_FULL_DECODE) != 0;

	memset(sv, 0, sizeof(*sv));
	sv->literal = (how & SEGV_LITERAL) != 0;
	if (len == SIZE_MAX)
		return (-1);
	sv->store = malloc(len + 1);
	if (sv->store == NULL)
		return (-1);
	if (full_decode) {
		dlen = decode_into(sv->store, raw, len, 0);
		src = sv->store;
	} else {
		dlen = len;
		src = raw;
	}
	for (i = 0, nslash = 0; i < dlen; i++)
		if (src[i] == '/')
			nslash++;
	sv->v = calloc(nslash + 1, sizeof(*sv->v));
	if (sv->v == NULL) {
		free(sv->store);
		sv->store = NULL;
		return (-1);
	}
	sv->trailing = dlen > 0 && src[dlen - 1] == '/';

	if (full_decode) {
		for (i = 0, start = 0; i <= dlen; i++) {
			if (i == dlen || src[i] == '/') {
				segv_push(sv, src + start, i - start);
				start = i + 1;
			}
		}
		sv->has_slash = 0;	/* no segment can hold '/' now */
		return (0);
	}

	/* Per segment: decode raw[start..i) into the store at offset out. */
	for (i = 0, start = 0, out = 0; i <= len; i++) {
		if (i == len || raw[i] == '/') {
			n = decode_into(sv->store + out, raw + start,
			    i - start, 0);
			segv_push(sv, sv->store + out, n);
			out += n;
			start = i + 1;
		}
	}
	return (0);
}

static void
segv_free(struct segv *sv)
{
	free(sv->store);
	sv->store = NULL;
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

/*
 * The normalized path as a new string: '/' + segments joined by '/' (+ '/'
 * if the raw path had one and there is a segment). NUL bytes become "%00".
 * Caller frees; NULL on allocation failure.
 */
static char *
segv_path(const struct segv *sv)
{
	size_t	 i, j, need, o;
	char	*p;

	need = 2;
	for (i = 0; i < sv->n; i++) {
		for (j = 0; j < sv->v[i].len; j++)
			need += sv->v[i].s[j] == '\0' ? 3 : 1;
		need++;
	}
	p = malloc(need + 1);
	if (p == NULL)
		return (NULL);
	o = 0;
	p[o++] = '/';
	for (i = 0; i < sv->n; i++) {
		if (i > 0)
			p[o++] = '/';
		for (j = 0; j < sv->v[i].len; j++) {
			if (sv->v[i].s[j] == '\0') {
				memcpy(p + o, "%00", 3);
				o += 3;
			} else
				p[o++] = sv->v[i].s[j];
		}
	}
	if (sv->trailing && sv->n > 0)
		p[o++] = '/';
	p[o] = '\0';
	return (p);
}

/* Segment i exists and is exactly lit (case-sensitive, no NUL inside). */
static int
seg_is(const struct segv *sv, size_t i, const char *lit)
{
	size_t	 n;

	if (i >= sv->n)
		return (0);
	n = strlen(lit);
	return (sv->v[i].len == n && memcmp(sv->v[i].s, lit, n) == 0);
}

/* Segment i as an entity type name; app only when allow_app. -1 if not. */
static int
seg_entity(const struct segv *sv, size_t i, int allow_app)
{
	if (seg_is(sv, i, "user"))
		return (ROUTE_ENT_USER);
	if (seg_is(sv, i, "agent"))
		return (ROUTE_ENT_AGENT);
	if (allow_app && seg_is(sv, i, "app"))
		return (ROUTE_ENT_APP);
	if (seg_is(sv, i, "run"))
		return (ROUTE_ENT_RUN);
	return (-1);
}

static enum route_method
method_parse(const char *m)
{
	if (m == NULL)
		return (METH_OTHER);
	if (strcasecmp(m, "GET") == 0 || strcasecmp(m, "HEAD") == 0)
		return (METH_GET);
	if (strcasecmp(m, "POST") == 0)
		return (METH_POST);
	if (strcasecmp(m, "PUT") == 0)
		return (METH_PUT);
	if (strcasecmp(m, "PATCH") == 0)
		return (METH_PATCH);
	if (strcasecmp(m, "DELETE") == 0)
		return (METH_DELETE);
	if (strcasecmp(m, "OPTIONS") == 0)
		return (METH_OPTIONS);
	return (METH_OTHER);
}

/* How much harm a kind can do; the higher reading of a path wins. */
static int
kind_rank(enum route_kind k)
{
	switch (k) {
	case ROUTE_DESTROY:
	case ROUTE_RESET:
		return (6);
	case ROUTE_BULK_DELETE:
		return (5);
	case ROUTE_BULK_UPDATE:
	case ROUTE_CONFIG_WRITE:
		return (4);
	case ROUTE_DELETE_ONE:
	case ROUTE_EXPORT:
		return (3);
	case ROUTE_CREATE:
	case ROUTE_UPDATE:
	case ROUTE_ENTITY_CREATE:
		return (2);
	case ROUTE_READ:
	case ROUTE_LIST:
	case ROUTE_SEARCH:
	case ROUTE_HISTORY:
	case ROUTE_ENTITY_ENUM:
	case ROUTE_CONFIG:
	case ROUTE_AUTH:
		return (1);
	case ROUTE_OTHER:
	case ROUTE_PING:
	case ROUTE_KIND_COUNT:
	default:
		return (0);
	}
}

/* -------------------------------------------------------------------- */
/* JSON helpers */

/* The last member of obj named exactly key (Python dict semantics). */
static const cJSON *
obj_last(const cJSON *obj, const char *key)
{
	const cJSON	*c, *found = NULL;

	if (!cJSON_IsObject(obj))
		return (NULL);
	for (c = obj->child; c != NULL; c = c->next)
		if (c->string != NULL && strcmp(c->string, key) == 0)
			found = c;
	return (found);
}

int
route_entity_key(const char *k)
{
	if (k == NULL)
		return (-1);
	if (strcmp(k, "user_id") == 0 || strcmp(k, "userId") == 0)
		return (ROUTE_ENT_USER);
	if (strcmp(k, "agent_id") == 0 || strcmp(k, "agentId") == 0)
		return (ROUTE_ENT_AGENT);
	if (strcmp(k, "app_id") == 0 || strcmp(k, "appId") == 0)
		return (ROUTE_ENT_APP);
	if (strcmp(k, "run_id") == 0 || strcmp(k, "runId") == 0)
		return (ROUTE_ENT_RUN);
	return (-1);
}

static int
entity_name_type(const char *s)
{
	int	 t;

	for (t = 0; t < ROUTE_ENT_COUNT; t++)
		if (strcmp(s, entity_names[t]) == 0)
			return (t);
	return (-1);
}

static long
json_len(const cJSON *a)
{
	const cJSON	*c;
	long		 n = 0;

	if (a == NULL)
		return (0);
	for (c = a->child; c != NULL && n < LONG_MAX; c = c->next)
		n++;
	return (n);
}

/* -------------------------------------------------------------------- */
/* Recording ids */

/*
 * Store entity id p[0..n) (copied) in list[] (cap entries, *n stored,
 * *seen found); a repeat only adds src to the stored one. Returns 1 when
 * it is new, 0 when it was known or is empty, -1 on allocation failure.
 */
static int
id_store(struct route_id *list, size_t cap, size_t *n, size_t *seen,
    enum route_entity t, const char *p, size_t len, unsigned int src)
{
	char	*v;
	size_t	 i;

	if (len == 0)
		return (0);
	v = dup_bytes(p, len);
	if (v == NULL)
		return (-1);
	for (i = 0; i < *n; i++) {
		if (list[i].type == t && strcmp(list[i].value, v) == 0) {
			list[i].src |= src;
			free(v);
			return (0);
		}
	}
	(*seen)++;
	if (*n >= cap) {
		free(v);
		return (1);
	}
	list[*n].type = t;
	list[*n].value = v;
	list[*n].src = src;
	(*n)++;
	return (1);
}

/*
 * Does Mem0 read an entity id of type t found at src for this route? On
 * routes whose filter source is known (r->id_src is not ROUTE_SRC_ALL),
 * the OSS server has no app_id at all.
 */
static int
id_used(const struct route *r, enum route_entity t, unsigned int src)
{
	if ((src & r->id_src) == 0)
		return (0);
	return (!(r->id_src != ROUTE_SRC_ALL &&
	    r->dialect == ROUTE_DIALECT_OSS && t == ROUTE_ENT_APP));
}

/*
 * Length of the whitespace character (Python's str.isspace(): ASCII
 * \t..\r, \x1c..\x1f, space, U+0085, U+00A0, U+1680, U+2000..U+200A,
 * U+2028, U+2029, U+202F, U+205F, U+3000 in UTF-8) that is exactly
 * p[0..n), or 0.
 */
static size_t
py_space(const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;

	if (n == 1)
		return ((p[0] >= 0x09 && p[0] <= 0x0d) ||
		    (p[0] >= 0x1c && p[0] <= 0x20));
	if (n == 2)
		return (p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0) ? 2 : 0);
	if (n != 3)
		return (0);
	if ((p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80) ||
	    (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80) ||
	    (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f) ||
	    (p[0] == 0xe2 && p[1] == 0x80 && (p[2] <= 0x8a ||
	    p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf)))
		return (3);
	return (0);
}

/* Python's str.strip() of p[0..*n): the new start, *n shortened. */
static const char *
py_strip(const char *p, size_t *n)
{
	size_t	 k, w;

	for (;;) {
		for (w = 0, k = 1; w == 0 && k <= 3 && k <= *n; k++)
			w = py_space(p, k);
		if (w == 0)
			break;
		p += w;
		*n -= w;
	}
	for (;;) {
		for (w = 0, k = 1; w == 0 && k <= 3 && k <= *n; k++)
			w = py_space(p + *n - k, k);
		if (w == 0)
			break;
		*n -= w;
	}
	return (p);
}

/*
 * Record entity id p[0..n) found at src: among the ids Mem0 uses, or
 * among the ignored ones. Empty values are skipped. The OSS server trims
 * entity ids as Python's str.strip() does, so the proxy does too; the
 * platform's rule is unknown, so a padded id is flagged (ids_padded).
 */
static int
id_add(struct route *r, enum route_entity t, const char *p, size_t n,
    unsigned int src)
{
	const char	*q;
	size_t		 m = n;
	int		 rc;

	q = py_strip(p, &m);
	if (m != n && r->dialect == ROUTE_DIALECT_OSS) {
		p = q;
		n = m;
	} else if (m != n)
		r->ids_padded = 1;

	if (!id_used(r, t, src))
		return (id_store(r->ignored, ROUTE_MAX_IGNORED, &r->n_ignored,
		    &r->n_ignored_seen, t, p, n, src) == -1 ? -1 : 0);
	rc = id_store(r->ids, ROUTE_MAX_IDS, &r->n_ids, &r->n_ids_seen, t, p,
	    n, src);
	if (rc == 1 && n == 1 && p[0] == '*')
		r->wildcard = 1;
	return (rc == -1 ? -1 : 0);
}

/*
 * Record memory id p[0..n) (copied) with what happened to it (ROUTE_EV_*);
 * empty values are skipped, a repeat keeps its first event. Linear
 * search: at most ROUTE_MAX_MEMORY_IDS ids are stored.
 */
static int
mem_add_ev(struct route *r, const char *p, size_t n, unsigned char ev)
{
	unsigned char	*e;
	char		**l, *v;
	size_t		 i, cap;

	if (n == 0)
		return (0);
	for (i = 0; i < r->n_memory_ids; i++) {
		if (strlen(r->memory_ids[i]) == n &&
		    memcmp(r->memory_ids[i], p, n) == 0)
			return (0);
	}
	r->n_memory_ids_seen++;
	if (r->n_memory_ids >= ROUTE_MAX_MEMORY_IDS)
		return (0);
	if (r->n_memory_ids == r->cap_memory_ids) {
		cap = r->cap_memory_ids ? r->cap_memory_ids * 2 : 8;
		if (cap > ROUTE_MAX_MEMORY_IDS)
			cap = ROUTE_MAX_MEMORY_IDS;
		if ((l = realloc(r->memory_ids, cap * sizeof(*l))) == NULL)
			return (-1);
		r->memory_ids = l;
		if ((e = realloc(r->memory_events, cap)) == NULL)
			return (-1);
		r->memory_events = e;
		r->cap_memory_ids = cap;
	}
	if ((v = dup_bytes(p, n)) == NULL)
		return (-1);
	r->memory_events[r->n_memory_ids] = ev;
	r->memory_ids[r->n_memory_ids++] = v;
	return (0);
}

static int
mem_add(struct route *r, const char *p, size_t n)
{
	return (mem_add_ev(r, p, n, ROUTE_EV_UNKNOWN));
}

void
route_number_id(double d, char *out, size_t outlen)
{
	if (isfinite(d) && d == floor(d) && fabs(d) < 1e15)
		snprintf(out, outlen, "%.0f", d);
	else
		snprintf(out, outlen, "%.17g", d);
}

/* A JSON scalar as id text: strings as is, numbers printed. */
static int
json_id_add(struct route *r, enum route_entity t, const cJSON *v)
{
	char	 num[ROUTE_NUMBER_ID_MAX];

	if (cJSON_IsString(v) && v->valuestring != NULL)
		return (id_add(r, t, v->valuestring, strlen(v->valuestring),
		    ROUTE_SRC_BODY));
	if (cJSON_IsNumber(v)) {
		route_number_id(v->valuedouble, num, sizeof(num));
		return (id_add(r, t, num, strlen(num), ROUTE_SRC_BODY));
	}
	return (0);
}

/* Depth cap reached: flag once that the id list is incomplete. */
static void
walk_truncated(struct walk *w)
{
	if (!w->truncated) {
		w->truncated = 1;
		w->r->n_ids_seen++;
	}
}

/*
 * The values under an entity key: a plain value, "*", a list, or an
 * operator object. Only "eq" and "in" name entities; any other operator
 * ("ne", "nin", "gte", "contains", ...) selects entities the request does
 * not name, so it counts as "*" (all of that type). *found counts the
 * concrete values recorded: none (null, "", [], {"in":[]}) is "*" too,
 * decided by the caller.
 */
static int
walk_values(struct walk *w, enum route_entity t, const cJSON *v, int depth,
    size_t *found)
{
	const cJSON	*c;

	if (depth > ROUTE_MAX_FILTER_DEPTH) {
		walk_truncated(w);
		return (0);
	}
	if (cJSON_IsObject(v)) {
		for (c = v->child; c != NULL; c = c->next) {
			if (c->string != NULL && (strcmp(c->string, "eq") == 0 ||
			    strcmp(c->string, "in") == 0)) {
				if (walk_values(w, t, c, depth + 1, found) == -1)
					return (-1);
			} else if (id_add(w->r, t, "*", 1, ROUTE_SRC_BODY) == -1)
				return (-1);
			else
				(*found)++;
		}
		return (0);
	}
	if (cJSON_IsArray(v)) {
		for (c = v->child; c != NULL; c = c->next)
			if (walk_values(w, t, c, depth + 1, found) == -1)
				return (-1);
		return (0);
	}
	if ((cJSON_IsString(v) && v->valuestring != NULL &&
	    v->valuestring[0] != '\0') || cJSON_IsNumber(v))
		(*found)++;
	return (json_id_add(w->r, t, v));
}

/*
 * A filters tree: objects whose entity keys hold values, AND/OR/NOT (any
 * key, really) holding lists or objects of further filters. "metadata"
 * is skipped: a user_id inside it is a metadata field, not an entity.
 * depth counts nested keys: the elements of an AND list are at the depth
 * of the list, so {"AND":[{"OR":[...]}]} is two levels.
 */
static int
walk_filters(struct walk *w, const cJSON *node, int depth)
{
	const cJSON	*c;
	size_t		 found;
	int		 t, d;

	if (depth > ROUTE_MAX_FILTER_DEPTH) {
		walk_truncated(w);
		return (0);
	}
	if (!cJSON_IsArray(node) && !cJSON_IsObject(node))
		return (0);
	for (c = node->child; c != NULL; c = c->next) {
		if (cJSON_IsObject(node)) {
			t = route_entity_key(c->string);
			if (t >= 0) {
				found = 0;
				if (walk_values(w, (enum route_entity)t, c,
				    depth + 1, &found) == -1 ||
				    (found == 0 && id_add(w->r,
				    (enum route_entity)t, "*", 1,
				    ROUTE_SRC_BODY) == -1))
					return (-1);
				continue;
			}
			if (c->string != NULL &&
			    strcmp(c->string, "metadata") == 0)
				continue;
		}
		d = cJSON_IsObject(node) || cJSON_IsArray(c) ? depth + 1 : depth;
		if (walk_filters(w, c, d) == -1)
			return (-1);
	}
	return (0);
}

/* memories[].memory_id of a batch body (plain strings accepted too). */
static int
body_batch_ids(struct route *r, const cJSON *arr)
{
	const cJSON	*c, *id;

	if (!cJSON_IsArray(arr))
		return (0);
	for (c = arr->child; c != NULL; c = c->next) {
		id = cJSON_IsObject(c) ? obj_last(c, "memory_id") : c;
		if (cJSON_IsString(id) && id->valuestring != NULL &&
		    mem_add(r, id->valuestring, strlen(id->valuestring)) == -1)
			return (-1);
	}
	return (0);
}

/* Entity ids and memory ids of a parsed request body. */
static int
body_ids(struct route *r, const cJSON *root)
{
	struct walk	 w = { r, 0 };
	const cJSON	*c, *etype;
	size_t		 found = 0;	/* top level: null names nobody */
	int		 t;

	if (!cJSON_IsObject(root))
		return (0);
	for (c = root->child; c != NULL; c = c->next) {
		if (c->string == NULL)
			continue;
		t = route_entity_key(c->string);
		if (t >= 0) {
			if (walk_values(&w, (enum route_entity)t, c, 1,
			    &found) == -1)
				return (-1);
		} else if (strcmp(c->string, "filters") == 0) {
			if (walk_filters(&w, c, 1) == -1)
				return (-1);
		} else if (strcmp(c->string, "memories") == 0) {
			if (body_batch_ids(r, c) == -1)
				return (-1);
		} else if (strcmp(c->string, "memory_id") == 0) {
			if (cJSON_IsString(c) && c->valuestring != NULL &&
			    mem_add(r, c->valuestring,
			    strlen(c->valuestring)) == -1)
				return (-1);
		} else if (strcmp(c->string, "entity_id") == 0) {
			/* Profile jobs: {"entity_type":"user","entity_id"}. */
			etype = obj_last(root, "entity_type");
			if (!cJSON_IsString(etype) || etype->valuestring == NULL)
				continue;
			t = entity_name_type(etype->valuestring);
			if (t >= 0 &&
			    json_id_add(r, (enum route_entity)t, c) == -1)
				return (-1);
		}
	}
	return (0);
}

/* len(messages): a list counts its items, a lone string or object 1. */
static long
body_messages_count(const cJSON *root)
{
	const cJSON	*m;

	m = obj_last(root, "messages");
	if (cJSON_IsArray(m))
		return (json_len(m));
	if (cJSON_IsString(m) || cJSON_IsObject(m))
		return (1);
	return (-1);
}

/* -------------------------------------------------------------------- */
/* Query strings */

static int
query_false(const char *v, size_t n)
{
	static const char *const no[] = { "", "false", "0", "no", "off" };
	size_t	 i;

	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (strlen(no[i]) == n && strncasecmp(v, no[i], n) == 0)
			return (1);
	return (0);
}

/*
 * The parameters of a query string or a form body, read as Starlette and
 * Django read them: pairs split on '&', '+' is a space, a name without
 * '=' has the value "", and of a repeated name the last value counts.
 * delete_linked is conservative instead: true when any value is true.
 */
struct params {
	char		*ent[ROUTE_ENT_COUNT];	/* last value, or NULL */
	size_t		 ent_len[ROUTE_ENT_COUNT];
	char		*org_id;		/* last value, or NULL */
	char		*project_id;
	char		*fields;		/* last value, or NULL */
	int		 delete_linked;
};

static int
param_entity(const char *k, size_t n)
{
	static const char *const names[ROUTE_ENT_COUNT] = {
		"user_id", "agent_id", "app_id", "run_id"
	};
	int	 t;

	for (t = 0; t < ROUTE_ENT_COUNT; t++)
		if (strlen(names[t]) == n && memcmp(k, names[t], n) == 0)
			return (t);
	return (-1);
}

static void
params_free(struct params *pp)
{
	int	 t;

	for (t = 0; t < ROUTE_ENT_COUNT; t++) {
		free(pp->ent[t]);
		pp->ent[t] = NULL;
	}
	free(pp->org_id);
	free(pp->project_id);
	free(pp->fields);
	pp->org_id = pp->project_id = pp->fields = NULL;
}

/* Keep tmp (a name of klen bytes, then the value) as *slot's value. */
static void
param_keep(char **slot, char *tmp, size_t klen, size_t vlen)
{
	memmove(tmp, tmp + klen, vlen);
	tmp[vlen] = '\0';
	free(*slot);
	*slot = tmp;
}

/* Parse s[0..len) into *pp (zeroed first). -1 on allocation failure. */
static int
params_parse(struct params *pp, const char *s, size_t len)
{
	const char	*p, *amp, *eq;
	char		*tmp;
	size_t		 off, plen, klen, dk, dv;
	int		 t;

	memset(pp, 0, sizeof(*pp));
	if (s == NULL)
		return (0);
	for (off = 0; off <= len; off += plen + 1) {
		p = s + off;
		amp = memchr(p, '&', len - off);
		plen = amp != NULL ? (size_t)(amp - p) : len - off;
		if (plen == 0)
			continue;
		eq = memchr(p, '=', plen);
		klen = eq ? (size_t)(eq - p) : plen;
		if ((tmp = malloc(plen + 1)) == NULL) {
			params_free(pp);
			return (-1);
		}
		dk = decode_into(tmp, p, klen, 1);
		dv = eq ? decode_into(tmp + dk, eq + 1, plen - klen - 1, 1) :
		    0;
		/* The name is tmp[0..dk), the value the dv bytes after it. */
		if (dk == 13 && memcmp(tmp, "delete_linked", 13) == 0 &&
		    !query_false(tmp + dk, dv))
			pp->delete_linked = 1;
		if ((t = param_entity(tmp, dk)) >= 0) {
			param_keep(&pp->ent[t], tmp, dk, dv);
			pp->ent_len[t] = dv;
		} else if (dk == 6 && memcmp(tmp, "org_id", 6) == 0)
			param_keep(&pp->org_id, tmp, dk, dv);
		else if (dk == 10 && memcmp(tmp, "project_id", 10) == 0)
			param_keep(&pp->project_id, tmp, dk, dv);
		else if (dk == 6 && memcmp(tmp, "fields", 6) == 0)
			param_keep(&pp->fields, tmp, dk, dv);
		else
			free(tmp);
	}
	return (0);
}

/* Record the entity ids of *pp, found at src. */
static int
params_ids(struct route *r, const struct params *pp, unsigned int src)
{
	int	 t;

	for (t = 0; t < ROUTE_ENT_COUNT; t++)
		if (pp->ent[t] != NULL && id_add(r, (enum route_entity)t,
		    pp->ent[t], pp->ent_len[t], src) == -1)
			return (-1);
	return (0);
}

/* -------------------------------------------------------------------- */
/* Route tables */

static void
set_kind(struct match *m, enum route_kind kind, const char *pattern)
{
	m->kind = kind;
	m->pattern = pattern;
}

/* OSS server (§2.3, §8.1): exact paths, no trailing slash. */
static void
match_oss(struct match *m, const struct segv *sv, const struct req *rq)
{
	enum route_method	 meth = rq->meth;
	size_t			 n = sv->n;

	if (n == 0 || sv->trailing)
		return;		/* "/" or "/x/": 404 or a redirect */

	if (seg_is(sv, 0, "memories")) {
		if (n == 1) {
			if (meth == METH_POST)
				set_kind(m, ROUTE_CREATE, "/memories");
			else if (meth == METH_GET)
				set_kind(m, ROUTE_LIST, "/memories");
			else if (meth == METH_DELETE)
				set_kind(m, ROUTE_BULK_DELETE, "/memories");
			return;
		}
		if (n == 2) {
			m->has_mem = 1;
			m->mem_seg = 1;
			if (meth == METH_GET)
				set_kind(m, ROUTE_READ, pat_oss_memory);
			else if (meth == METH_PUT)
				set_kind(m, ROUTE_UPDATE, pat_oss_memory);
			else if (meth == METH_DELETE)
				set_kind(m, ROUTE_DELETE_ONE, pat_oss_memory);
			else
				m->has_mem = 0;
			return;
		}
		if (n == 3 && seg_is(sv, 2, "history") && meth == METH_GET) {
			m->has_mem = 1;
			m->mem_seg = 1;
			set_kind(m, ROUTE_HISTORY,
			    "/memories/{memory_id}/history");
		}
		return;
	}
	if (n == 1 && seg_is(sv, 0, "search") && meth == METH_POST) {
		set_kind(m, ROUTE_SEARCH, "/search");
		return;
	}
	if (n == 1 && seg_is(sv, 0, "reset") && meth == METH_POST) {
		set_kind(m, ROUTE_RESET, "/reset");
		return;
	}
	if (seg_is(sv, 0, "configure")) {
		if (n == 1 && meth == METH_GET)
			set_kind(m, ROUTE_CONFIG, "/configure");
		else if (n == 1 && meth == METH_POST)
			set_kind(m, ROUTE_CONFIG_WRITE, "/configure");
		else if (n == 2 && seg_is(sv, 1, "providers") &&
		    meth == METH_GET)
			set_kind(m, ROUTE_CONFIG, "/configure/providers");
		return;
	}
	if (n == 1 && seg_is(sv, 0, "config") && meth == METH_GET) {
		set_kind(m, ROUTE_CONFIG, "/config");
		return;
	}
	if (n == 1 && seg_is(sv, 0, "health") && meth == METH_GET) {
		set_kind(m, ROUTE_PING, "/health");
		return;
	}
	if (seg_is(sv, 0, "entities")) {
		if (n == 1 && meth == METH_GET)
			set_kind(m, ROUTE_ENTITY_ENUM, "/entities");
		else if (n == 3 && meth == METH_DELETE) {
			set_kind(m, ROUTE_BULK_DELETE,
			    "/entities/{entity_type}/{entity_id}");
			m->ent_type = seg_entity(sv, 1, 0);
			m->ent_seg = 2;
			m->path_entity = 1;
		}
		return;
	}
	if (seg_is(sv, 0, "auth") && n >= 2) {
		static const char *const known[] = {
			"setup-status", "register", "login", "refresh", "me",
			"change-password", "onboarding-complete"
		};
		static const char *const pats[] = {
			"/auth/setup-status", "/auth/register", "/auth/login",
			"/auth/refresh", "/auth/me", "/auth/change-password",
			"/auth/onboarding-complete"
		};
		size_t	 i;

		set_kind(m, ROUTE_AUTH, "/auth/*");
		for (i = 0; n == 2 && i < sizeof(known) / sizeof(known[0]);
		    i++)
			if (seg_is(sv, 1, known[i]))
				m->pattern = pats[i];
		return;
	}
	if (seg_is(sv, 0, "api-keys")) {
		if (n == 1)
			set_kind(m, ROUTE_AUTH, "/api-keys");
		else if (n == 2)
			set_kind(m, ROUTE_AUTH, "/api-keys/{key_id}");
		else
			set_kind(m, ROUTE_AUTH, "/api-keys/*");
		return;
	}
	/* /requests, /generate-instructions, /, /docs, ...: other. */
}

/* GET (and HEAD, OPTIONS) read admin settings; anything else writes. */
static void
set_admin(struct match *m, enum route_method meth, const char *pattern)
{
	if (meth == METH_GET || meth == METH_OPTIONS)
		set_kind(m, ROUTE_CONFIG, pattern);
	else
		set_kind(m, ROUTE_CONFIG_WRITE, pattern);
}

/* /api/v1/orgs/... and /api/v1/webhooks/... (§4.3). */
static void
match_platform_api(struct match *m, const struct segv *sv,
    const struct req *rq)
{
	enum route_method	 meth = rq->meth;
	size_t			 n = sv->n;

	if (seg_is(sv, 2, "orgs")) {
		if (n == 3)
			set_admin(m, meth, "/api/v1/orgs/");
		else if (!seg_is(sv, 3, "organizations"))
			set_admin(m, meth, "/api/v1/orgs/*");
		else if (n == 4)
			set_admin(m, meth, "/api/v1/orgs/organizations/");
		else if (n == 5 && meth == METH_DELETE)
			set_kind(m, ROUTE_DESTROY,
			    "/api/v1/orgs/organizations/{org_id}/");
		else if (n == 5)
			set_admin(m, meth,
			    "/api/v1/orgs/organizations/{org_id}/");
		else if (n == 6 && seg_is(sv, 5, "members"))
			set_admin(m, meth,
			    "/api/v1/orgs/organizations/{org_id}/members/");
		else if (n == 6 && seg_is(sv, 5, "projects"))
			set_admin(m, meth,
			    "/api/v1/orgs/organizations/{org_id}/projects/");
		else if (n == 7 && seg_is(sv, 5, "projects") &&
		    meth == METH_DELETE)
			set_kind(m, ROUTE_DESTROY, "/api/v1/orgs/organizations/"
			    "{org_id}/projects/{project_id}/");
		else if (n == 7 && seg_is(sv, 5, "projects"))
			set_admin(m, meth, "/api/v1/orgs/organizations/"
			    "{org_id}/projects/{project_id}/");
		else if (n == 8 && seg_is(sv, 5, "projects") &&
		    seg_is(sv, 7, "members"))
			set_admin(m, meth, "/api/v1/orgs/organizations/"
			    "{org_id}/projects/{project_id}/members/");
		else
			set_admin(m, meth, "/api/v1/orgs/*");
		return;
	}
	if (seg_is(sv, 2, "webhooks")) {
		if (n == 5 && seg_is(sv, 3, "projects"))
			set_admin(m, meth,
			    "/api/v1/webhooks/projects/{project_id}/");
		else if (n == 4)
			set_admin(m, meth, "/api/v1/webhooks/{webhook_id}/");
		else
			set_admin(m, meth, "/api/v1/webhooks/*");
	}
}

/* The /v1/memories/... family, rows 4 to 8 of §8.2. */
static void
match_v1_memories(struct match *m, const struct segv *sv,
    const struct req *rq)
{
	enum route_method	 meth = rq->meth;
	size_t			 n = sv->n;
	int			 t;

	if (n == 3 && seg_is(sv, 2, "events") && meth == METH_GET) {
		set_kind(m, ROUTE_HISTORY, "/v1/memories/events/");
		return;
	}
	if (n == 4 && seg_is(sv, 3, "history") && meth == METH_GET) {
		set_kind(m, ROUTE_HISTORY, "/v1/memories/{memory_id}/history/");
		m->has_mem = 1;
		m->mem_seg = 2;
		return;
	}
	t = n == 4 && meth == METH_GET ? seg_entity(sv, 2, 1) : -1;
	if (t >= 0) {
		set_kind(m, ROUTE_LIST,
		    "/v1/memories/{entity_type}/{entity_id}/");
		m->ent_type = t;
		m->ent_seg = 3;
		m->path_entity = 1;
		return;
	}
	if (n == 3) {
		m->has_mem = 1;
		m->mem_seg = 2;
		if (meth == METH_GET)
			set_kind(m, ROUTE_READ, pat_v1_memory);
		else if (meth == METH_PUT)
			set_kind(m, ROUTE_UPDATE, pat_v1_memory);
		else if (meth == METH_DELETE && rq->delete_linked) {
			set_kind(m, ROUTE_BULK_DELETE, pat_v1_memory);
			m->delete_linked = 1;
		} else if (meth == METH_DELETE)
			set_kind(m, ROUTE_DELETE_ONE, pat_v1_memory);
		else
			m->has_mem = 0;
		return;
	}
	if (n == 2) {
		if (meth == METH_POST)
			set_kind(m, ROUTE_CREATE, "/v1/memories/");
		else if (meth == METH_GET)
			set_kind(m, ROUTE_LIST, "/v1/memories/");
		else if (meth == METH_DELETE)
			set_kind(m, ROUTE_BULK_DELETE, "/v1/memories/");
	}
}

/* /v1/, /v2/, /v3/ (§8.2, in the table's order); trailing '/' optional. */
static void
match_platform(struct match *m, const struct segv *sv, const struct req *rq)
{
	static const char *const search_pats[] = {
		"/v1/memories/search/", "/v2/memories/search/",
		"/v3/memories/search/"
	};
	static const char *const ent_segs[] = {
		"users", "agents", "apps", "runs"
	};
	static const char *const ent_pats[] = {
		"/v1/users/", "/v1/agents/", "/v1/apps/", "/v1/runs/"
	};
	enum route_method	 meth = rq->meth;
	size_t			 n = sv->n, i;
	int			 v;

	if (seg_is(sv, 0, "api") && seg_is(sv, 1, "v1")) {
		match_platform_api(m, sv, rq);
		return;
	}
	if (seg_is(sv, 0, "v1"))
		v = 1;
	else if (seg_is(sv, 0, "v2"))
		v = 2;
	else if (seg_is(sv, 0, "v3"))
		v = 3;
	else
		return;

	/* 1. ping */
	if (v == 1 && n == 2 && seg_is(sv, 1, "ping") && meth == METH_GET) {
		set_kind(m, ROUTE_PING, "/v1/ping/");
		return;
	}
	/* 2. search, 3. v3 add */
	if (n == 3 && seg_is(sv, 1, "memories") && meth == METH_POST) {
		if (seg_is(sv, 2, "search")) {
			set_kind(m, ROUTE_SEARCH, search_pats[v - 1]);
			return;
		}
		if (v == 3 && seg_is(sv, 2, "add")) {
			set_kind(m, ROUTE_CREATE, "/v3/memories/add/");
			return;
		}
	}
	/* 4.-8. /v1/memories/... */
	if (v == 1 && seg_is(sv, 1, "memories")) {
		match_v1_memories(m, sv, rq);
		return;
	}
	/* 9. v2/v3 list (v3: create in two betas, told by "messages") */
	if (n == 2 && seg_is(sv, 1, "memories") && meth == METH_POST) {
		if (v == 3 && obj_last(rq->body, "messages") != NULL)
			set_kind(m, ROUTE_CREATE, "/v3/memories/");
		else if (v == 3)
			set_kind(m, ROUTE_LIST, "/v3/memories/");
		else if (v == 2)
			set_kind(m, ROUTE_LIST, "/v2/memories/");
		return;
	}
	/* 10. batch */
	if (v == 1 && n == 2 && seg_is(sv, 1, "batch")) {
		m->batch = 1;
		if (meth == METH_PUT)
			set_kind(m, ROUTE_BULK_UPDATE, pat_v1_batch);
		else if (meth == METH_DELETE)
			set_kind(m, ROUTE_BULK_DELETE, pat_v1_batch);
		else
			m->batch = 0;
		return;
	}
	/* 11. entities; 13. profile */
	if (seg_is(sv, 1, "entities") && v != 3) {
		if (n == 4 && meth == METH_DELETE) {
			set_kind(m, ROUTE_BULK_DELETE, v == 1 ?
			    "/v1/entities/{entity_type}/{entity_id}/" :
			    "/v2/entities/{entity_type}/{entity_id}/");
			m->ent_type = seg_entity(sv, 2, 1);
			m->ent_seg = 3;
			m->ent_number = v == 1;
			m->path_entity = 1;
		} else if (v == 1 && n == 2 && meth == METH_GET)
			set_kind(m, ROUTE_ENTITY_ENUM, "/v1/entities/");
		else if (v == 1 && n == 3 && seg_is(sv, 2, "filters") &&
		    meth == METH_GET)
			set_kind(m, ROUTE_ENTITY_ENUM, "/v1/entities/filters/");
		else if (v == 2 && n == 4 && meth == METH_GET) {
			set_kind(m, ROUTE_ENTITY_ENUM,
			    "/v2/entities/{entity_type}/{entity_id}/");
			m->ent_type = seg_entity(sv, 2, 1);
			m->ent_seg = 3;
			m->path_entity = 1;
		} else if (v == 2 && n == 5 && seg_is(sv, 2, "user") &&
		    seg_is(sv, 4, "profile") && meth == METH_GET) {
			set_kind(m, ROUTE_READ,
			    "/v2/entities/user/{entity_id}/profile/");
			m->ent_type = ROUTE_ENT_USER;
			m->ent_seg = 3;
			m->path_entity = 1;
		}
		return;
	}
	/* 12. exports */
	if (v == 1 && seg_is(sv, 1, "exports") && meth == METH_POST) {
		if (n == 2)
			set_kind(m, ROUTE_EXPORT, "/v1/exports/");
		else if (n == 3 && seg_is(sv, 2, "get"))
			set_kind(m, ROUTE_EXPORT, "/v1/exports/get/");
		return;
	}
	/* 13. summary, profiles; feedback, events, stats are other */
	if (v == 1 && n == 2 && seg_is(sv, 1, "summary") &&
	    meth == METH_POST) {
		set_kind(m, ROUTE_READ, "/v1/summary/");
		return;
	}
	if (v == 2 && n == 3 && seg_is(sv, 1, "profiles") &&
	    seg_is(sv, 2, "settings")) {
		if (meth == METH_GET)
			set_kind(m, ROUTE_CONFIG, "/v2/profiles/settings/");
		else if (meth == METH_POST || meth == METH_PUT ||
		    meth == METH_PATCH)
			set_kind(m, ROUTE_CONFIG_WRITE,
			    "/v2/profiles/settings/");
		return;
	}
	/* 14. entity create */
	if (v == 1 && n == 2 && meth == METH_POST) {
		for (i = 0; i < sizeof(ent_segs) / sizeof(ent_segs[0]); i++) {
			if (seg_is(sv, 1, ent_segs[i])) {
				set_kind(m, ROUTE_ENTITY_CREATE, ent_pats[i]);
				return;
			}
		}
	}
}

static int
is_platform_path(const struct segv *sv)
{
	return (seg_is(sv, 0, "v1") || seg_is(sv, 0, "v2") ||
	    seg_is(sv, 0, "v3") ||
	    (seg_is(sv, 0, "api") && seg_is(sv, 1, "v1")));
}

static void
classify(struct match *m, const struct segv *sv, enum route_dialect cfg,
    const struct req *rq)
{
	memset(m, 0, sizeof(*m));
	m->kind = ROUTE_OTHER;
	m->pattern = "";
	m->ent_type = -1;
	if (cfg == ROUTE_DIALECT_OSS || cfg == ROUTE_DIALECT_PLATFORM)
		m->dialect = cfg;
	else
		m->dialect = is_platform_path(sv) ? ROUTE_DIALECT_PLATFORM :
		    ROUTE_DIALECT_OSS;
	if (m->dialect == ROUTE_DIALECT_PLATFORM)
		match_platform(m, sv, rq);
	else
		match_oss(m, sv, rq);
	if (m->kind == ROUTE_OTHER) {
		m->pattern = "";
		m->ent_type = -1;
		m->path_entity = 0;
		m->has_mem = 0;
		m->batch = 0;
	}
}

/*
 * Where Mem0 reads the entity filter of a route from (ROUTE_SRC_*), for
 * the routes whose effect it decides: the query of a delete-all (OSS
 * FastAPI Query parameters, platform query_params), the path of an
 * entity delete; nothing for a batch (memory ids only), a linked delete,
 * a reset, an organization or project delete, a configuration write.
 * Everywhere else every place counts.
 */
static unsigned int
filter_sources(const struct match *m)
{
	switch (m->kind) {
	case ROUTE_BULK_DELETE:
		if (m->path_entity)
			return (ROUTE_SRC_PATH);
		if (m->batch || m->delete_linked)
			return (0);
		return (ROUTE_SRC_QUERY);
	case ROUTE_RESET:
	case ROUTE_DESTROY:
	case ROUTE_BULK_UPDATE:
	case ROUTE_CONFIG_WRITE:
		return (0);
	default:
		return (ROUTE_SRC_ALL);
	}
}

/*
 * How a body of this Content-Type is read: JSON when the media type is
 * application/json or a "+json" type, or when there is no type (FastAPI then
 * tries JSON); form data; anything else is not read.
 */
static enum route_body
body_kind(const char *ct, size_t body_len)
{
	size_t	 n;

	if (body_len == 0)
		return (ROUTE_BODY_NONE);
	if (ct == NULL)
		return (ROUTE_BODY_JSON);
	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	if (n == 0)
		return (ROUTE_BODY_JSON);
	if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
		return (ROUTE_BODY_JSON);
	if (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0 &&
	    memchr(ct, '/', n) != NULL)
		return (ROUTE_BODY_JSON);
	if (n == 33 &&
	    strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0)
		return (ROUTE_BODY_FORM);
	return (ROUTE_BODY_OTHER);
}

/*
 * Does the JSON text hold a NUL, raw or escaped (\u0000)? cJSON ends its
 * strings there, Python does not: "memories\u0000" would be "memories"
 * to the proxy and another key to Mem0.
 */
static int
json_has_nul(const char *body, size_t len)
{
	size_t	 i;

	if (memchr(body, '\0', len) != NULL)
		return (1);
	for (i = 0; i + 1 < len; i++) {
		if (body[i] != '\\')
			continue;
		if (body[i + 1] == 'u' && i + 5 < len &&
		    memcmp(body + i + 2, "0000", 4) == 0)
			return (1);
		i++;			/* the escaped character */
	}
	return (0);
}

/* The entity type a projected field name keeps, or -1 (session_id: run). */
static int
field_entity(const char *s, size_t n)
{
	char	 name[16];

	if (n == 0 || n >= sizeof(name))
		return (-1);
	memcpy(name, s, n);
	name[n] = '\0';
	if (strcmp(name, "session_id") == 0 || strcmp(name, "sessionId") == 0)
		return (ROUTE_ENT_RUN);
	return (route_entity_key(name));
}

/*
 * A response projection: ?fields=a,b (the query) or "fields": [..] (the
 * body; the last one, as Python keeps it). Sets r->fields and the entity
 * keys it keeps (r->fields_entities).
 */
static void
fields_read(struct route *r, const char *query, const cJSON *root)
{
	const cJSON	*f, *c;
	const char	*p, *comma;
	int		 t;

	f = obj_last(root, "fields");
	if (cJSON_IsArray(f) && f->child != NULL) {
		r->fields = 1;
		for (c = f->child; c != NULL; c = c->next)
			if (cJSON_IsString(c) && c->valuestring != NULL &&
			    (t = field_entity(c->valuestring,
			    strlen(c->valuestring))) >= 0)
				r->fields_entities |= 1u << t;
	} else if (cJSON_IsString(f) && f->valuestring[0] != '\0')
		query = f->valuestring;		/* "a,b" in a body too */
	if (query == NULL || query[0] == '\0' || r->fields)
		return;
	r->fields = 1;
	for (p = query;; p = comma + 1) {
		comma = strchr(p, ',');
		t = field_entity(p, comma != NULL ? (size_t)(comma - p) :
		    strlen(p));
		if (t >= 0)
			r->fields_entities |= 1u << t;
		if (comma == NULL)
			break;
	}
}

/* A JSON body, or NULL when it does not parse (trailing junk included). */
static cJSON *
body_json(const char *body, size_t body_len)
{
	const char	*end = NULL;
	cJSON		*root;
	size_t		 i;

	/*
	 * A UTF-8 BOM: Starlette reads past one (json.loads on bytes), and
	 * refuses a second; cJSON would skip that one too.
	 */
	if (body_len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0) {
		body += 3;
		body_len -= 3;
	}
	if (body_len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0)
		return (NULL);
	/*
	 * Python's whitespace is " \t\n\r" and its strings take no control
	 * character; cJSON skips any byte up to ' ' between tokens.
	 */
	for (i = 0; i < body_len; i++)
		if ((unsigned char)body[i] < 0x20 && body[i] != '\t' &&
		    body[i] != '\n' && body[i] != '\r')
			return (NULL);

	root = cJSON_ParseWithLengthOpts(body, body_len, &end, 0);
	if (root == NULL || end == NULL)
		return (root);
	/* Only whitespace may follow the value. */
	while (end < body + body_len && (*end == ' ' || *end == '\t' ||
	    *end == '\n' || *end == '\r'))
		end++;
	if (end < body + body_len) {
		cJSON_Delete(root);
		root = NULL;
	}
	return (root);
}

/* Characters of a path segment besides ALPHA and DIGIT (RFC 3986). */
static int
target_path_char(int c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("-._~!$&'()*+,;=:@/", c) !=
	    NULL);
}

int
route_target_check(const char *target, size_t *bad, const char **why)
{
	const unsigned char	*t = (const unsigned char *)target;
	size_t			 i = 0;
	int			 in_query = 0;

	*why = NULL;
	if (t == NULL || t[0] != '/') {
		*why = "the request target must be an absolute path "
		    "(\"/...\"), not a URL or \"*\"";
		goto out_bad;
	}
	for (; t[i] != '\0'; i++) {
		if (t[i] == '#')
			*why = "the request target must not contain '#' (a "
			    "fragment is never sent to a server)";
		else if (t[i] < 0x20 || t[i] == 0x7f)
			*why = "the request target contains a control "
			    "character";
		else if (t[i] == ' ')
			*why = "the request target contains a space";
		else if (t[i] > 0x7f)
			*why = "the request target contains a non-ASCII byte; "
			    "percent-encode it";
		else if (in_query)
			continue;
		else if (t[i] == '?')
			in_query = 1;
		else if (t[i] == '%') {
			if (hexval(t[i + 1]) < 0 || hexval(t[i + 2]) < 0)
				*why = "the request path contains a '%' that "
				    "is not a %HH escape";
			else
				i += 2;
		} else if (!target_path_char(t[i]))
			*why = "the request path contains a character that "
			    "must be percent-encoded";
		if (*why != NULL)
			goto out_bad;
	}
	return (0);

out_bad:
	if (bad != NULL)
		*bad = i;
	return (-1);
}

/* -------------------------------------------------------------------- */
/* Entry points */

static void
route_init(struct route *r)
{
	memset(r, 0, sizeof(*r));
	r->kind = ROUTE_OTHER;
	r->dialect = ROUTE_DIALECT_OSS;
	r->pattern = "";
	r->id_src = ROUTE_SRC_ALL;
	r->count = -1;
	r->result_count = -1;
}

int
route_classify(struct route *r, const char *method, const char *raw_path,
    const char *raw_query, const char *body, size_t body_len,
    const char *content_type, enum route_dialect dialect)
{
	struct segv	 rd[SEGV_READINGS];	/* by SEGV_* flags */
	struct match	 m, malt;
	struct req	 rq;
	struct params	 qp, fp;
	const struct segv *use;
	const char	*path;
	const cJSON	*mems;
	cJSON		*root = NULL;
	size_t		 plen;
	int		 how, rc = -1;

	route_init(r);
	memset(rd, 0, sizeof(rd));
	memset(&fp, 0, sizeof(fp));
	/* Only the origin form is ever classified (route_target_check()). */
	path = raw_path != NULL && raw_path[0] == '/' ? raw_path : "";
	plen = strlen(path);

	memset(&rq, 0, sizeof(rq));
	rq.meth = method_parse(method);
	if (params_parse(&qp, raw_query, raw_query != NULL ?
	    strlen(raw_query) : 0) == -1)
		return (-1);
	rq.delete_linked = qp.delete_linked;

	if (body == NULL)
		body_len = 0;
	r->body = body_kind(content_type, body_len);
	if (r->body == ROUTE_BODY_JSON) {
		if (json_has_nul(body, body_len))
			r->body_invalid = r->body_nul = 1;
		else if ((root = body_json(body, body_len)) == NULL)
			r->body_invalid = 1;
	} else if (r->body == ROUTE_BODY_FORM &&
	    params_parse(&fp, body, body_len) == -1)
		goto out_free_params;
	rq.body = root;

	/*
	 * Every reading a server behind the proxy may make of the path
	 * (split then decode, or decode then split; dot segments resolved
	 * or routed as names): the most harmful one counts, the plain one
	 * on a tie.
	 */
	if (segv_build(&rd[0], path, plen, 0) == -1)
		goto out_free_json;
	classify(&m, &rd[0], dialect, &rq);
	use = &rd[0];
	for (how = 1; how < SEGV_READINGS; how++) {
		if ((how == SEGV_LITERAL && !rd[0].has_dots) ||
		    ((how & SEGV_FULL_DECODE) && !rd[0].has_slash))
			continue;
		if (segv_build(&rd[how], path, plen, how) == -1)
			goto out_free_readings;
		classify(&malt, &rd[how], dialect, &rq);
		if (kind_rank(malt.kind) > kind_rank(m.kind)) {
			m = malt;
			use = &rd[how];
		}
	}

	r->kind = m.kind;
	r->dialect = m.dialect;
	r->pattern = m.pattern;
	r->delete_linked = m.delete_linked;
	r->id_src = filter_sources(&m);
	r->body_subject = m.batch;
	r->path = segv_path(use);
	if (r->path == NULL)
		goto out_free_readings;

	/*
	 * Path ids first: they must not be crowded out by the caps. A
	 * legacy v1 entity delete names the entity by Mem0's internal
	 * number: which user that is, only Mem0 knows.
	 */
	if (m.ent_type >= 0 && m.ent_seg < use->n && m.ent_number) {
		r->entity_number_type = (enum route_entity)m.ent_type;
		if ((r->entity_number = dup_bytes(use->v[m.ent_seg].s,
		    use->v[m.ent_seg].len)) == NULL)
			goto out_free_readings;
	} else if (m.ent_type >= 0 && m.ent_seg < use->n &&
	    id_add(r, (enum route_entity)m.ent_type, use->v[m.ent_seg].s,
	    use->v[m.ent_seg].len, ROUTE_SRC_PATH) == -1)
		goto out_free_readings;
	if (m.has_mem && m.mem_seg < use->n &&
	    mem_add(r, use->v[m.mem_seg].s, use->v[m.mem_seg].len) == -1)
		goto out_free_readings;
	if (params_ids(r, &qp, ROUTE_SRC_QUERY) == -1 ||
	    params_ids(r, &fp, ROUTE_SRC_BODY) == -1)
		goto out_free_readings;
	r->org_id = qp.org_id;		/* taken */
	r->project_id = qp.project_id;
	qp.org_id = qp.project_id = NULL;
	fields_read(r, qp.fields, root);
	if (root != NULL && body_ids(r, root) == -1)
		goto out_free_readings;

	if (r->kind == ROUTE_CREATE && root != NULL)
		r->count = body_messages_count(root);
	else if (m.batch) {
		mems = obj_last(root, "memories");
		if (cJSON_IsArray(mems))
			r->count = json_len(mems);
	}
	rc = 0;

out_free_readings:
	for (how = 0; how < SEGV_READINGS; how++)
		segv_free(&rd[how]);
out_free_json:
	cJSON_Delete(root);
out_free_params:
	params_free(&fp);
	params_free(&qp);
	return (rc);
}

/* GET /v1/event/{event_id}/: a job status whose results are memories. */
static int
is_event_poll(const struct route *r)
{
	const char	*p, *slash;

	if (r->dialect != ROUTE_DIALECT_PLATFORM || r->path == NULL ||
	    strncmp(r->path, "/v1/event/", 10) != 0)
		return (0);
	p = r->path + 10;
	slash = strchr(p, '/');
	return (*p != '\0' && *p != '/' &&
	    (slash == NULL || slash[1] == '\0'));
}

/*
 * Which member of a response item names a memory: "id" for memory lists,
 * "memory_id" for history entries, NULL where items are something else
 * (entities, events, exports).
 */
static const char *
item_id_field(const struct route *r)
{
	switch (r->kind) {
	case ROUTE_CREATE:
	case ROUTE_LIST:
	case ROUTE_SEARCH:
		return ("id");
	case ROUTE_READ:
	case ROUTE_UPDATE:
		if (r->pattern == pat_oss_memory ||
		    r->pattern == pat_v1_memory)
			return ("id");
		return (NULL);
	case ROUTE_HISTORY:
		return ("memory_id");
	case ROUTE_OTHER:
		return (is_event_poll(r) ? "id" : NULL);
	default:
		return (NULL);
	}
}

static void
set_event_id(struct route *r, const cJSON *v)
{
	char	*s;

	if (!cJSON_IsString(v) || v->valuestring == NULL ||
	    v->valuestring[0] == '\0')
		return;
	s = strdup(v->valuestring);
	if (s == NULL)
		return;
	free(r->event_id);
	r->event_id = s;
}

/* What an add response item says happened ("event"), ROUTE_EV_*. */
static unsigned char
item_event(const struct route *r, const cJSON *item)
{
	const cJSON	*ev;

	if (r->kind != ROUTE_CREATE)
		return (ROUTE_EV_UNKNOWN);
	ev = obj_last(item, "event");
	if (!cJSON_IsString(ev) || ev->valuestring == NULL)
		return (ROUTE_EV_ADD);
	if (strcmp(ev->valuestring, "UPDATE") == 0)
		return (ROUTE_EV_UPDATE);
	if (strcmp(ev->valuestring, "DELETE") == 0)
		return (ROUTE_EV_DELETE);
	if (strcmp(ev->valuestring, "NONE") == 0)
		return (ROUTE_EV_NONE);
	return (ROUTE_EV_ADD);
}

/* Memory ids of response items: item.<field>, or item.data.id. */
static void
items_ids(struct route *r, const cJSON *items, const char *field)
{
	const cJSON	*c, *id;

	for (c = items->child; c != NULL; c = c->next) {
		id = obj_last(c, field);
		if (!cJSON_IsString(id) && strcmp(field, "id") == 0)
			id = obj_last(obj_last(c, "data"), "id");
		if (cJSON_IsString(id) && id->valuestring != NULL &&
		    mem_add_ev(r, id->valuestring, strlen(id->valuestring),
		    item_event(r, c)) == -1)
			return;
	}
}

void
route_parse_response(struct route *r, int status, const char *body,
    size_t body_len)
{
	cJSON		*root;
	const cJSON	*items = NULL, *res, *mem, *cnt, *id;
	const char	*field;
	double		 d;

	if (r == NULL || status < 200 || status > 299 || body == NULL ||
	    body_len == 0)
		return;
	root = cJSON_ParseWithLength(body, body_len);
	if (root == NULL)
		return;
	field = item_id_field(r);

	if (cJSON_IsArray(root)) {
		items = root;
		r->result_count = json_len(root);
		set_event_id(r, obj_last(root->child, "event_id"));
	} else if (cJSON_IsObject(root)) {
		res = obj_last(root, "results");
		mem = obj_last(root, "memories");
		if (cJSON_IsArray(res))
			items = res;
		else if (cJSON_IsArray(obj_last(res, "results")))
			items = obj_last(res, "results");
		else if (cJSON_IsArray(obj_last(mem, "results")))
			items = obj_last(mem, "results");
		else if (cJSON_IsArray(mem))
			items = mem;

		cnt = obj_last(root, "count");
		d = cJSON_IsNumber(cnt) ? cnt->valuedouble : -1;
		if (isfinite(d) && d >= 0)
			r->result_count = d >= (double)LONG_MAX ? LONG_MAX :
			    (long)d;
		else if (items != NULL)
			r->result_count = json_len(items);

		set_event_id(r, obj_last(root, "event_id"));
		if (r->event_id == NULL && items != NULL)
			set_event_id(r, obj_last(items->child, "event_id"));

		id = obj_last(root, "id");
		if (field != NULL && (r->kind == ROUTE_READ ||
		    r->kind == ROUTE_UPDATE) && cJSON_IsString(id) &&
		    id->valuestring != NULL)
			(void)mem_add(r, id->valuestring,
			    strlen(id->valuestring));
	}
	if (items != NULL && field != NULL)
		items_ids(r, items, field);
	cJSON_Delete(root);
}

void
route_free(struct route *r)
{
	size_t	 i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n_ids && i < ROUTE_MAX_IDS; i++) {
		free(r->ids[i].value);
		r->ids[i].value = NULL;
	}
	r->n_ids = 0;
	for (i = 0; i < r->n_ignored && i < ROUTE_MAX_IGNORED; i++) {
		free(r->ignored[i].value);
		r->ignored[i].value = NULL;
	}
	r->n_ignored = 0;
	for (i = 0; i < r->n_memory_ids; i++)
		free(r->memory_ids[i]);
	free(r->memory_ids);
	free(r->memory_events);
	r->memory_ids = NULL;
	r->memory_events = NULL;
	r->n_memory_ids = r->cap_memory_ids = 0;
	free(r->path);
	r->path = NULL;
	free(r->event_id);
	r->event_id = NULL;
	free(r->org_id);
	free(r->project_id);
	r->org_id = r->project_id = NULL;
	free(r->entity_number);
	r->entity_number = NULL;
}
