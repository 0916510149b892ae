/*
 * claim: anonymized audit sentences. See claim.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claim.h"

/*
 * Entity ids named per claim: every one the request names that route.h
 * keeps (each is someone's trail, `mem0-audit-proxy trail`); beyond,
 * "(+N more)".
 */
#define CLAIM_SHOW_IDS	ROUTE_MAX_IDS

int
claim_token_ok(const char *s, size_t max)
{
	size_t	 i;
	char	 c;

	for (i = 0; s[i] != '\0'; i++) {
		if (i == max)
			return (0);
		c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == ':' || c == '-'))
			return (0);
	}
	return (i > 0);
}

int
claim_id_is_opaque(const char *s, size_t len)
{
	size_t	 i, digits = 0, letters = 0;

	/* A UUID: 8-4-4-4-12 hex digits. */
	if (len == 36) {
		for (i = 0; i < len; i++)
			if ((i == 8 || i == 13 || i == 18 || i == 23) ?
			    s[i] != '-' : !isxdigit((unsigned char)s[i]))
				break;
		if (i == len)
			return (1);
	}
	for (i = 0; i < len; i++) {
		if (isdigit((unsigned char)s[i]))
			digits++;
		else if (isxdigit((unsigned char)s[i]))
			letters++;
		else
			return (0);
	}
	/* A small number: never a phone, card or account number. */
	if (letters == 0)
		return (len >= 1 && len <= 6);
	/* A hash or hex key: digits and letters a-f mixed. */
	return (len >= 8 && len <= 64 && digits > 0);
}

int
claim_put_entity_number(struct buf *out, const struct anon *a,
    const struct route *r)
{
	char		 p[ANON_PSEUDO_LEN + 1];
	const char	*n = r->entity_number;
	size_t		 i, len = strlen(n);

	for (i = 0; i < len && n[i] >= '0' && n[i] <= '9'; i++)
		;
	if (i == len && len > 0 && len <= 19)
		return (buf_printf(out, "%s #%s",
		    route_entity_name(r->entity_number_type), n));
	anon_pseudonym(a, route_entity_letter(r->entity_number_type), n, len,
	    p);
	return (buf_printf(out, "%s #%s", route_entity_name(
	    r->entity_number_type), p));
}

/* A memory or event id: as is when opaque, else "m:" pseudonym. */
static int
claim_put_id(struct buf *out, const struct anon *a, const char *id)
{
	char	 p[ANON_PSEUDO_LEN + 1];

	if (claim_id_is_opaque(id, strlen(id)))
		return (buf_append_str(out, id));
	anon_pseudonym(a, 'm', id, strlen(id), p);
	return (buf_append_str(out, p));
}

static int
claim_put_count(struct buf *out, long n)
{
	if (n < 0)
		return (buf_append_str(out, "unknown"));
	return (buf_printf(out, "%ld", n));
}

/*
 * "user u:1a2b3c4d..., agent a:5e6f7a8b..." for the entity ids of r;
 * "all users" for a wildcard; none_text when there is no id at all.
 */
static int
claim_put_entities(struct buf *out, const struct route *r,
    const struct anon *a, const char *none_text)
{
	char		 p[ANON_PSEUDO_LEN + 1];
	const char	*name;
	size_t		 i, shown = 0;
	int		 t;

	if (r->n_ids == 0 && r->entity_number != NULL)
		return (claim_put_entity_number(out, a, r));
	if (r->n_ids == 0)
		return (buf_append_str(out, none_text));
	for (t = 0; t < ROUTE_ENT_COUNT; t++) {
		for (i = 0; i < r->n_ids; i++) {
			if ((int)r->ids[i].type != t)
				continue;
			if (shown == CLAIM_SHOW_IDS)
				break;
			if (shown > 0 && buf_append_str(out, ", ") == -1)
				return (-1);
			name = route_entity_name(r->ids[i].type);
			if (strcmp(r->ids[i].value, "*") == 0) {
				if (buf_printf(out, "all %ss", name) == -1)
					return (-1);
			} else {
				anon_pseudonym(a, route_entity_letter(
				    r->ids[i].type), r->ids[i].value,
				    strlen(r->ids[i].value), p);
				if (buf_printf(out, "%s %s...", name, p) == -1)
					return (-1);
			}
			shown++;
		}
	}
	if (r->n_ids_seen > shown)
		return (buf_printf(out, " (+%zu more)", r->n_ids_seen - shown));
	return (0);
}

/*
 * Which memory ids one claim names: r->memory_ids[idx[0..n)]. more: the
 * request named ids beyond ROUTE_MAX_MEMORY_IDS, not stored: say so.
 * NULL (or n 0) when the claim names none.
 */
struct claim_key {
	const size_t	*idx;
	size_t		 n;
	size_t		 more;
};

/* The memory key: the ids of k, else the event id, else "unknown". */
static int
claim_put_key(struct buf *out, const struct route *r, const struct anon *a,
    const struct claim_key *k)
{
	size_t	 i;

	if (k != NULL && k->n > 0) {
		for (i = 0; i < k->n; i++) {
			if (i > 0 && buf_append_str(out, ", ") == -1)
				return (-1);
			if (claim_put_id(out, a, r->memory_ids[k->idx[i]]) ==
			    -1)
				return (-1);
		}
		if (k->more > 0)
			return (buf_printf(out, " (+%zu more not listed)",
			    k->more));
		return (0);
	}
	if (r->event_id != NULL) {
		if (buf_append_str(out, "event ") == -1)
			return (-1);
		return (claim_put_id(out, a, r->event_id));
	}
	return (buf_append_str(out, "unknown"));
}

/* "memory" or "memories" for the ids of k. */
static const char *
claim_noun(const struct claim_key *k)
{
	return (k != NULL && k->n > 1 ? "memories" : "memory");
}

/*
 * The export sentence; x NULL: a plain ROUTE_EXPORT request, counted from
 * the response and named by its route pattern.
 */
static int
claim_put_export(struct buf *out, const struct route *r,
    const struct anon *a, const struct claim_export *x)
{
	const char	*path = r->pattern;
	long		 count = r->result_count;

	if (x != NULL) {
		count = x->count;
		if (x->path != NULL)
			path = x->path;
	}
	if (r->kind == ROUTE_SEARCH && x != NULL && x->foreign > 0) {
		buf_append_str(out, "Blocked search results: ");
		claim_put_count(out, count);
		buf_append_str(out, " memories for ");
		claim_put_entities(out, r, a, "the whole project");
		buf_printf(out, ": %ld foreign items", x->foreign);
	} else if (r->kind == ROUTE_SEARCH) {
		buf_append_str(out, "Searched memories for ");
		claim_put_entities(out, r, a, "the whole project");
		buf_append_str(out, ": ");
		claim_put_count(out, count);
		buf_append_str(out, " results");
	} else if (x != NULL && x->foreign > 0) {
		buf_append_str(out, "Blocked export of ");
		claim_put_count(out, count);
		buf_append_str(out, " memories for ");
		claim_put_entities(out, r, a, "all entities");
		buf_printf(out, ": %ld foreign items", x->foreign);
	} else {
		buf_append_str(out, "Exported ");
		claim_put_count(out, count);
		buf_printf(out, " memories to %s", path);
		if (r->n_ids > 0) {
			buf_append_str(out, " for ");
			claim_put_entities(out, r, a, "");
		}
	}
	return (buf_result(out));
}

/* "<noun> <ids>" for the memory ids of k (claim_put_key()). */
static void
claim_put_noun_key(struct buf *out, const struct route *r,
    const struct anon *a, const struct claim_key *k)
{
	buf_printf(out, "%s ", claim_noun(k));
	claim_put_key(out, r, a, k);
}

static int
claim_put_text(struct buf *out, const struct route *r, const struct anon *a,
    const struct claim_key *k, int event)
{
	switch (r->kind) {
	case ROUTE_PING:
		buf_append_str(out, "Ping");
		break;
	case ROUTE_CREATE:
		/* What the add did to these (a legacy add may also update
		 * or delete memories). */
		buf_append_str(out, event == ROUTE_EV_UPDATE ? "Updated " :
		    event == ROUTE_EV_DELETE ? "Deleted " : "Stored ");
		claim_put_noun_key(out, r, a, k);
		buf_append_str(out, " for ");
		claim_put_entities(out, r, a, "no entity");
		break;
	case ROUTE_READ:
		if (r->n_memory_ids > 0) {
			buf_append_str(out, "Read ");
			claim_put_noun_key(out, r, a, k);
		} else {
			buf_append_str(out, "Read data for ");
			claim_put_entities(out, r, a, "no entity");
		}
		break;
	case ROUTE_LIST:
		buf_append_str(out, "Listed ");
		claim_put_count(out, r->result_count);
		buf_append_str(out, " memories for ");
		claim_put_entities(out, r, a, "all entities");
		break;
	case ROUTE_SEARCH:
	case ROUTE_EXPORT:
		claim_put_export(out, r, a, NULL);
		break;
	case ROUTE_UPDATE:
		buf_append_str(out, "Updated ");
		claim_put_noun_key(out, r, a, k);
		break;
	case ROUTE_DELETE_ONE:
		buf_append_str(out, "Deleted ");
		claim_put_noun_key(out, r, a, k);
		break;
	case ROUTE_BULK_DELETE:
	case ROUTE_BULK_UPDATE:
		buf_printf(out, "Bulk %s for ",
		    r->kind == ROUTE_BULK_UPDATE ? "update" :
		    r->delete_linked ? "delete (linked)" : "delete");
		if (r->n_ids == 0 && r->n_memory_ids > 0)
			claim_put_noun_key(out, r, a, k);
		else
			claim_put_entities(out, r, a, "all entities");
		buf_append_str(out, ": ");
		claim_put_count(out, r->count >= 0 ? r->count :
		    r->result_count);
		buf_append_str(out, " items");
		break;
	case ROUTE_RESET:
		buf_append_str(out, "Reset all memories of all entities");
		break;
	case ROUTE_HISTORY:
		if (r->n_memory_ids > 0) {
			buf_append_str(out, "Read history of ");
			claim_put_noun_key(out, r, a, k);
		} else
			buf_append_str(out, "Read history of all memories");
		buf_append_str(out, ": ");
		claim_put_count(out, r->result_count);
		buf_append_str(out, " entries");
		break;
	case ROUTE_ENTITY_ENUM:
		buf_append_str(out, "Listed ");
		claim_put_count(out, r->result_count);
		buf_append_str(out, " entities");
		break;
	case ROUTE_ENTITY_CREATE:
		buf_append_str(out, "Registered entity ");
		claim_put_entities(out, r, a, "unknown");
		break;
	case ROUTE_CONFIG:
		buf_append_str(out, "Read configuration");
		break;
	case ROUTE_CONFIG_WRITE:
		buf_append_str(out, "Changed configuration");
		break;
	case ROUTE_AUTH:
		buf_append_str(out, "Authentication request");
		break;
	case ROUTE_DESTROY:
		buf_append_str(out, "Destroyed organization or project");
		break;
	case ROUTE_OTHER:
	case ROUTE_KIND_COUNT:
	default:
		buf_append_str(out, "Forwarded unclassified request");
		break;
	}
	return (buf_result(out));
}

/* Method names are tokens; anything else is not printed as received. */
static const char *
claim_safe_method(const char *method)
{
	size_t	 i;

	for (i = 0; method[i] != '\0'; i++)
		if (i >= 16 || !isalpha((unsigned char)method[i]))
			return ("(invalid)");
	return (i > 0 ? method : "(invalid)");
}

/* What goes in the bracketed tail of a request's claims. */
struct claim_tail {
	const char	*method;
	int		 status;	/* -1: a "Starting" claim */
	const char	*error;
	const char	*approval_id;
	const char	*request_id;
	long		 start_count;	/* a "Starting" claim's count */
	const struct claim_export *x;	/* claim_build_export(), or NULL */
};

/* The "Starting ..." sentence of an approved request being released. */
static int
claim_put_start(struct buf *out, const struct route *r, const struct anon *a,
    const struct claim_key *k, long count)
{
	const char	*op;

	switch (r->kind) {
	case ROUTE_BULK_UPDATE:
		op = "bulk update";
		break;
	case ROUTE_RESET:
		op = "reset";
		break;
	case ROUTE_DESTROY:
		op = "organization or project delete";
		break;
	case ROUTE_CONFIG_WRITE:
		op = "configuration change";
		break;
	default:
		op = "bulk delete";
		break;
	}
	buf_printf(out, "Starting %s for ", op);
	if (r->n_ids == 0 && r->n_memory_ids > 0)
		claim_put_noun_key(out, r, a, k);
	else
		claim_put_entities(out, r, a, "all entities");
	buf_append_str(out, ": ");
	claim_put_count(out, count);
	buf_append_str(out, " items");
	return (buf_result(out));
}

/*
 * One claim line: the sentence for the ids of k (event: which sentence
 * of an add), then the tail; part/parts > 1 when the request's ids take
 * several claims. Appended to out, or -1 (out unchanged).
 */
static int
claim_line(struct buf *out, const struct route *r, const struct anon *a,
    const struct claim_key *k, int event, const struct claim_tail *t,
    size_t part, size_t parts)
{
	struct buf	 text;
	int		 rc;

	buf_init(&text, CLAIM_MAX);
	if (t->status >= 0 && (t->status < 200 || t->status > 299))
		buf_append_str(&text, "Attempt failed: ");
	/* A sentence too long for the cap is cut; the tail is kept. */
	if (t->status < 0)
		rc = claim_put_start(&text, r, a, k, t->start_count);
	else if (t->x != NULL)
		rc = claim_put_export(&text, r, a, t->x);
	else
		rc = claim_put_text(&text, r, a, k, event);
	if (rc == -1) {
		buf_truncate(&text, text.len);
		buf_append_str(&text, " (truncated)");
	}
	buf_printf(&text, " [op=%s method=%s", route_kind_name(r->kind),
	    claim_safe_method(t->method));
	if (t->status >= 0)
		buf_printf(&text, " status=%d", t->status);
	if (t->error != NULL)
		buf_printf(&text, " error=%s", t->error);
	if (t->approval_id != NULL && t->approval_id[0] != '\0')
		buf_printf(&text, " approval=%s", t->approval_id);
	buf_printf(&text, " request=%s", t->request_id);
	if (parts > 1)
		buf_printf(&text, " part=%zu/%zu", part, parts);
	buf_append_str(&text, "]");
	rc = buf_result(&text);
	if (rc == 0 && out->len > 0)
		rc = buf_append_str(out, "\n");
	if (rc == 0)
		rc = buf_append(out, text.data, text.len);
	buf_free(&text);
	return (rc);
}

/* Does the sentence of r name its memory ids (claim_put_key())? */
static int
claim_names_ids(const struct route *r, const struct claim_tail *t)
{
	if (r->n_memory_ids == 0 || t->x != NULL)
		return (0);
	switch (r->kind) {
	case ROUTE_CREATE:
	case ROUTE_READ:
	case ROUTE_UPDATE:
	case ROUTE_DELETE_ONE:
	case ROUTE_HISTORY:
		return (t->status >= 0);
	case ROUTE_BULK_DELETE:
	case ROUTE_BULK_UPDATE:
		return (r->n_ids == 0);
	default:
		return (0);
	}
}

/* Room for ids in one claim: the cap less the seal, a part count and a
 * "(+N more not listed)". */
#define CLAIM_ID_ROOM	(CLAIM_MAX - 96 - 24 - 40)

/* One claim of a request that names many ids: idx[from..from + n). */
struct claim_part {
	int	 ev;
	size_t	 from;
	size_t	 n;
};

/* How long memory id i is in a claim (as is, or its pseudonym). */
static size_t
claim_id_width(const struct route *r, size_t i)
{
	size_t	 w = strlen(r->memory_ids[i]);

	return (claim_id_is_opaque(r->memory_ids[i], w) ? w : ANON_PSEUDO_LEN);
}

/*
 * Cut group idx[from..to) (all with event ev) into claims that fit:
 * base is the length of its claim without any id. Appends to parts.
 */
static void
claim_pack(const struct route *r, const size_t *idx, size_t from, size_t to,
    int ev, size_t base, struct claim_part *parts, size_t *nparts)
{
	size_t	 i, first = from, used = 0, w;

	for (i = from; i < to; i++) {
		w = claim_id_width(r, idx[i]) + 2;	/* ", " */
		if (i > first && base + used + w > CLAIM_ID_ROOM) {
			parts[*nparts].ev = ev;
			parts[*nparts].from = first;
			parts[(*nparts)++].n = i - first;
			first = i;
			used = 0;
		}
		used += w;
	}
	parts[*nparts].ev = ev;
	parts[*nparts].from = first;
	parts[(*nparts)++].n = to - first;
}

/*
 * Every claim of one request, one per line: each memory id the request
 * named or Mem0 reported is in one (an add's ids grouped by what it did
 * to them; NONE: nothing, not named), as many claims as they take.
 */
static int
claim_build_any(struct buf *out, const struct route *r, const struct anon *a,
    const struct claim_tail *t)
{
	static const int	 evs[] = { ROUTE_EV_ADD, ROUTE_EV_UPDATE,
				    ROUTE_EV_DELETE };
	struct claim_part	*parts = NULL;
	struct claim_key	 k;
	struct buf		 probe;
	size_t			*idx = NULL, one = 0;
	size_t			 n = r->n_memory_ids, i, g, ngroups, nparts = 0;
	size_t			 nidx = 0, from, before = out->len;
	int			 ev;

	if (!claim_names_ids(r, t))
		return (claim_line(out, r, a, NULL, ROUTE_EV_ADD, t, 1, 1));
	/* One id (most requests): one claim, no measuring. */
	if (n == 1 && r->memory_ids[0] != NULL && (r->kind != ROUTE_CREATE ||
	    r->memory_events[0] != ROUTE_EV_NONE)) {
		k.idx = &one;
		k.n = 1;
		k.more = r->n_memory_ids_seen - 1;
		ev = r->kind == ROUTE_CREATE ? r->memory_events[0] :
		    ROUTE_EV_ADD;
		return (claim_line(out, r, a, &k, ev == ROUTE_EV_UNKNOWN ?
		    ROUTE_EV_ADD : ev, t, 1, 1));
	}
	ngroups = r->kind == ROUTE_CREATE ? 3 : 1;
	if ((idx = calloc(n, sizeof(*idx))) == NULL ||
	    (parts = calloc(n, sizeof(*parts))) == NULL)
		goto out_free;
	for (g = 0; g < ngroups; g++) {
		from = nidx;
		for (i = 0; i < n; i++) {
			ev = r->memory_events[i];
			if (ngroups == 1 || ev == evs[g] ||
			    (g == 0 && ev == ROUTE_EV_UNKNOWN))
				idx[nidx++] = i;
		}
		if (nidx == from)
			continue;
		/* The length of this group's claim naming no id. */
		buf_init(&probe, CLAIM_MAX);
		k.idx = idx + from;
		k.n = 1;
		k.more = 0;
		if (claim_line(&probe, r, a, &k, evs[g], t, 1, 1) == -1) {
			buf_free(&probe);
			goto out_free;
		}
		claim_pack(r, idx, from, nidx, evs[g], probe.len -
		    claim_id_width(r, idx[from]), parts, &nparts);
		buf_free(&probe);
	}
	if (nparts == 0) {	/* an add that changed nothing */
		free(parts);
		free(idx);
		return (claim_line(out, r, a, NULL, ROUTE_EV_ADD, t, 1, 1));
	}
	for (i = 0; i < nparts; i++) {
		k.idx = idx + parts[i].from;
		k.n = parts[i].n;
		k.more = i + 1 == nparts ? r->n_memory_ids_seen - n : 0;
		if (claim_line(out, r, a, &k, parts[i].ev, t, i + 1, nparts) ==
		    -1)
			goto out_undo;
	}
	free(parts);
	free(idx);
	return (0);

out_undo:
	buf_truncate(out, before);
out_free:
	free(parts);
	free(idx);
	return (-1);
}

int
claim_build(struct buf *out, const struct route *r, const struct anon *a,
    const char *method, int status, const char *error,
    const char *approval_id, const char *request_id)
{
	struct claim_tail	 t = { method, status, error, approval_id,
				    request_id, 0, NULL };

	return (claim_build_any(out, r, a, &t));
}

int
claim_build_export(struct buf *out, const struct route *r,
    const struct anon *a, const char *method, int status, const char *error,
    const struct claim_export *x, const char *request_id)
{
	struct claim_tail	 t = { method, status, error, NULL, request_id,
				    0, x };

	return (claim_build_any(out, r, a, &t));
}

int
claim_build_file(struct buf *out, const struct route *r, const char *method,
    const char *verb, const char *path, const char *request_id)
{
	struct buf	 text;
	int		 rc;

	buf_init(&text, CLAIM_MAX);
	rc = buf_printf(&text, "%s file %s [op=%s method=%s request=%s]", verb,
	    path, route_kind_name(r->kind), claim_safe_method(method),
	    request_id);
	if (rc == 0)
		rc = buf_append(out, text.data, text.len);
	buf_free(&text);
	return (rc);
}

int
claim_build_start(struct buf *out, const struct route *r,
    const struct anon *a, const char *method, long count,
    const char *approval_id, const char *request_id)
{
	struct claim_tail	 t = { method, -1, NULL, approval_id,
				    request_id, count, NULL };

	return (claim_build_any(out, r, a, &t));
}
