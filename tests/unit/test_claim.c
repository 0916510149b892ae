/*
 * Unit tests: claim texts. Routes are built by hand here so these tests
 * pin the wording independently of the classifier.
 */
#include "unit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claim.h"

static const char key16[] = "0123456789abcdef";
/* HMAC-SHA256(key16, v)[:8], computed with Python's hmac module. */
#define U_ALICE	"u:f3d6ddc7"	/* alice@example.com */
#define A_BOT	"a:9cb803ae"	/* support-bot */
#define MID	"4f1c2b7e-9d7a-4a39-8d3b-0c6f3f0b8a11"
#define EID	"0b5e1c3a-1111-4a2b-9c3d-222233334444"

struct claim_case {
	const char	*name;
	enum route_kind	 kind;
	const char	*user;		/* user id or NULL */
	const char	*agent;		/* agent id or NULL */
	const char	*memory_id;	/* or NULL */
	size_t		 memory_seen;
	const char	*event_id;
	long		 count;
	long		 result_count;
	int		 delete_linked;
	const char	*method;
	int		 status;
	const char	*error;
	const char	*want;
};

static const struct claim_case claim_cases[] = {
	{ "create sync", ROUTE_CREATE, "alice@example.com", NULL, MID, 1,
	    NULL, 1, 1, 0, "POST", 200, NULL,
	    "Stored memory " MID " for user " U_ALICE "... [op=create "
	    "method=POST status=200 request=rid-1]" },
	{ "create async names the event", ROUTE_CREATE, "alice@example.com",
	    NULL, NULL, 0, EID, 1, -1, 0, "POST", 200, NULL,
	    "Stored memory event " EID " for user " U_ALICE "... "
	    "[op=create method=POST status=200 request=rid-1]" },
	{ "create several", ROUTE_CREATE, "alice@example.com", "support-bot",
	    MID, 3, NULL, 2, 3, 0, "POST", 200, NULL,
	    "Stored memory " MID " (+2 more not listed) for user " U_ALICE "..., agent "
	    A_BOT "... [op=create method=POST status=200 request=rid-1]" },
	{ "update", ROUTE_UPDATE, NULL, NULL, MID, 1, NULL, -1, -1, 0, "PUT",
	    200, NULL, "Updated memory " MID " [op=update method=PUT "
	    "status=200 request=rid-1]" },
	{ "delete", ROUTE_DELETE_ONE, NULL, NULL, MID, 1, NULL, -1, -1, 0,
	    "DELETE", 200, NULL, "Deleted memory " MID " [op=delete-one "
	    "method=DELETE status=200 request=rid-1]" },
	{ "memory id that is not opaque is pseudonymized", ROUTE_DELETE_ONE,
	    NULL, NULL, "alice@example.com", 1, NULL, -1, -1, 0, "DELETE", 400,
	    NULL, "Attempt failed: Deleted memory m:f3d6ddc7 [op=delete-one "
	    "method=DELETE status=400 request=rid-1]" },
	{ "bulk delete", ROUTE_BULK_DELETE, "alice@example.com", NULL, NULL,
	    0, NULL, -1, -1, 0, "DELETE", 200, NULL,
	    "Bulk delete for user " U_ALICE "...: unknown items "
	    "[op=bulk-delete method=DELETE status=200 request=rid-1]" },
	{ "bulk delete wildcard", ROUTE_BULK_DELETE, "*", NULL, NULL, 0, NULL,
	    -1, -1, 0, "DELETE", 200, NULL,
	    "Bulk delete for all users: unknown items [op=bulk-delete "
	    "method=DELETE status=200 request=rid-1]" },
	{ "batch delete counts items", ROUTE_BULK_DELETE, NULL, NULL, MID, 3,
	    NULL, 3, -1, 0, "DELETE", 200, NULL,
	    "Bulk delete for memory " MID " (+2 more not listed): 3 items "
	    "[op=bulk-delete method=DELETE status=200 request=rid-1]" },
	{ "whole project wipe", ROUTE_BULK_DELETE, NULL, NULL, NULL, 0, NULL,
	    -1, -1, 0, "DELETE", 200, NULL,
	    "Bulk delete for all entities: unknown items [op=bulk-delete "
	    "method=DELETE status=200 request=rid-1]" },
	{ "linked delete", ROUTE_BULK_DELETE, NULL, NULL, MID, 1, NULL, -1,
	    -1, 1, "DELETE", 200, NULL,
	    "Bulk delete (linked) for memory " MID ": unknown items "
	    "[op=bulk-delete method=DELETE status=200 request=rid-1]" },
	{ "bulk update", ROUTE_BULK_UPDATE, NULL, NULL, MID, 2, NULL, 2, -1,
	    0, "PUT", 200, NULL,
	    "Bulk update for memory " MID " (+1 more not listed): 2 items "
	    "[op=bulk-update method=PUT status=200 request=rid-1]" },
	{ "list", ROUTE_LIST, "alice@example.com", NULL, NULL, 0, NULL, -1, 7,
	    0, "POST", 200, NULL, "Listed 7 memories for user " U_ALICE
	    "... [op=list method=POST status=200 request=rid-1]" },
	{ "unscoped list", ROUTE_LIST, NULL, NULL, NULL, 0, NULL, -1, 12, 0,
	    "GET", 200, NULL, "Listed 12 memories for all entities "
	    "[op=list method=GET status=200 request=rid-1]" },
	{ "search", ROUTE_SEARCH, "alice@example.com", NULL, NULL, 0, NULL,
	    -1, 2, 0, "POST", 200, NULL, "Searched memories for user "
	    U_ALICE "...: 2 results [op=search method=POST status=200 "
	    "request=rid-1]" },
	{ "read", ROUTE_READ, NULL, NULL, MID, 1, NULL, -1, -1, 0, "GET", 200,
	    NULL, "Read memory " MID " [op=read method=GET status=200 "
	    "request=rid-1]" },
	{ "history", ROUTE_HISTORY, NULL, NULL, MID, 1, NULL, -1, 4, 0, "GET",
	    200, NULL, "Read history of memory " MID ": 4 entries "
	    "[op=history method=GET status=200 request=rid-1]" },
	{ "reset", ROUTE_RESET, NULL, NULL, NULL, 0, NULL, -1, -1, 0, "POST",
	    200, NULL, "Reset all memories of all entities [op=reset "
	    "method=POST status=200 request=rid-1]" },
	{ "upstream down", ROUTE_CREATE, "alice@example.com", NULL, NULL, 0,
	    NULL, 1, -1, 0, "POST", 502, "upstream_unreachable",
	    "Attempt failed: Stored memory unknown for user " U_ALICE "... "
	    "[op=create method=POST status=502 error=upstream_unreachable "
	    "request=rid-1]" },
	{ "other", ROUTE_OTHER, NULL, NULL, NULL, 0, NULL, -1, -1, 0, "GET",
	    404, NULL, "Attempt failed: Forwarded unclassified request "
	    "[op=other method=GET status=404 request=rid-1]" },
	{ "odd method is not echoed", ROUTE_OTHER, NULL, NULL, NULL, 0, NULL,
	    -1, -1, 0, "G\"ET", 200, NULL, "Forwarded unclassified request "
	    "[op=other method=(invalid) status=200 request=rid-1]" },
	{ "ping", ROUTE_PING, NULL, NULL, NULL, 0, NULL, -1, -1, 0, "GET",
	    200, NULL, "Ping [op=ping method=GET status=200 request=rid-1]" },
};

static char		*fill_ids[1];
static unsigned char	 fill_events[1];

static void
fill(struct route *r, const struct claim_case *c)
{
	memset(r, 0, sizeof(*r));
	r->kind = c->kind;
	r->dialect = ROUTE_DIALECT_PLATFORM;
	r->pattern = "/v1/memories/";
	if (c->user != NULL) {
		r->ids[r->n_ids].type = ROUTE_ENT_USER;
		r->ids[r->n_ids++].value = (char *)c->user;
	}
	if (c->agent != NULL) {
		r->ids[r->n_ids].type = ROUTE_ENT_AGENT;
		r->ids[r->n_ids++].value = (char *)c->agent;
	}
	r->n_ids_seen = r->n_ids;
	if (c->memory_id != NULL) {
		fill_ids[0] = (char *)c->memory_id;
		fill_events[0] = ROUTE_EV_UNKNOWN;
		r->memory_ids = fill_ids;
		r->memory_events = fill_events;
		r->n_memory_ids = 1;
	}
	r->n_memory_ids_seen = c->memory_seen;
	r->event_id = (char *)c->event_id;
	r->count = c->count;
	r->result_count = c->result_count;
	r->delete_linked = c->delete_linked;
}

START_TEST(test_claim_texts)
{
	struct anon	 a;
	struct route	 r;
	struct buf	 out;
	size_t		 i;

	ck_assert_int_eq(anon_init(&a, key16, 16), 0);
	for (i = 0; i < sizeof(claim_cases) / sizeof(claim_cases[0]); i++) {
		fill(&r, &claim_cases[i]);
		buf_init(&out, CLAIM_MAX);
		ck_assert_int_eq(claim_build(&out, &r, &a, claim_cases[i].method,
		    claim_cases[i].status, claim_cases[i].error, NULL, "rid-1"), 0);
		ck_assert_msg(strcmp(out.data, claim_cases[i].want) == 0,
		    "%s:\n got  %s\n want %s", claim_cases[i].name, out.data,
		    claim_cases[i].want);
		/* No raw id survives. */
		ck_assert_msg(strstr(out.data, "alice") == NULL &&
		    strstr(out.data, "support-bot") == NULL,
		    "%s: raw id in %s", claim_cases[i].name, out.data);
		buf_free(&out);
	}
	anon_free(&a);
}
END_TEST

/* Requests that went through the export check (claim_build_export). */
static const struct {
	const char	*name;
	enum route_kind	 kind;
	const char	*pattern;
	const char	*user;		/* user id or NULL */
	const char	*method;
	int		 status;
	const char	*error;
	struct claim_export x;
	const char	*want;
} export_cases[] = {
	{ "list used as an export", ROUTE_LIST, "/v1/memories/",
	    "alice@example.com", "GET", 200, NULL, { NULL, 10, 0 },
	    "Exported 10 memories to /v1/memories/ for user " U_ALICE "... "
	    "[op=list method=GET status=200 request=rid-1]" },
	{ "archived: names the file", ROUTE_LIST, "/v3/memories/",
	    "alice@example.com", "POST", 200, NULL,
	    { "/srv/exports/rid-1.json", 3, 0 },
	    "Exported 3 memories to /srv/exports/rid-1.json for user " U_ALICE
	    "... [op=list method=POST status=200 request=rid-1]" },
	{ "admin read of everything", ROUTE_LIST, "/memories", NULL, "GET",
	    200, NULL, { NULL, 12, 0 },
	    "Exported 12 memories to /memories [op=list method=GET "
	    "status=200 request=rid-1]" },
	{ "exports/get", ROUTE_EXPORT, "/v1/exports/get/",
	    "alice@example.com", "POST", 200, NULL, { NULL, 1, 0 },
	    "Exported 1 memories to /v1/exports/get/ for user " U_ALICE "... "
	    "[op=export method=POST status=200 request=rid-1]" },
	{ "foreign items blocked", ROUTE_LIST, "/memories",
	    "alice@example.com", "GET", 502, "export_scope_violation",
	    { NULL, 10, 2 },
	    "Attempt failed: Blocked export of 10 memories for user " U_ALICE
	    "...: 2 foreign items [op=list method=GET status=502 "
	    "error=export_scope_violation request=rid-1]" },
	{ "too large: count unknown", ROUTE_LIST, "/v1/memories/",
	    "alice@example.com", "GET", 502, "export_too_large",
	    { NULL, -1, 0 },
	    "Attempt failed: Exported unknown memories to /v1/memories/ for "
	    "user " U_ALICE "... [op=list method=GET status=502 "
	    "error=export_too_large request=rid-1]" },
	{ "verification failed names the file", ROUTE_LIST, "/v1/memories/",
	    "alice@example.com", "GET", 502, "export_verification_failed",
	    { "/srv/exports/rid-1.json", 4, 0 },
	    "Attempt failed: Exported 4 memories to /srv/exports/rid-1.json "
	    "for user " U_ALICE "... [op=list method=GET status=502 "
	    "error=export_verification_failed request=rid-1]" },
	{ "search: results counted", ROUTE_SEARCH, "/v2/memories/search/",
	    "alice@example.com", "POST", 200, NULL, { NULL, 5, 0 },
	    "Searched memories for user " U_ALICE "...: 5 results "
	    "[op=search method=POST status=200 request=rid-1]" },
	{ "search without an owner", ROUTE_SEARCH, "/search", NULL, "POST",
	    200, NULL, { NULL, 0, 0 },
	    "Searched memories for the whole project: 0 results "
	    "[op=search method=POST status=200 request=rid-1]" },
	{ "search with foreign results", ROUTE_SEARCH, "/v1/memories/search/",
	    "alice@example.com", "POST", 502, "search_scope_violation",
	    { NULL, 7, 3 },
	    "Attempt failed: Blocked search results: 7 memories for user "
	    U_ALICE "...: 3 foreign items [op=search method=POST status=502 "
	    "error=search_scope_violation request=rid-1]" },
	{ "upstream error passed through", ROUTE_LIST, "/memories",
	    "alice@example.com", "GET", 404, NULL, { NULL, -1, 0 },
	    "Attempt failed: Exported unknown memories to /memories for user "
	    U_ALICE "... [op=list method=GET status=404 request=rid-1]" },
};

START_TEST(test_export_claims)
{
	struct claim_case	 c;
	struct anon		 a;
	struct route		 r;
	struct buf		 out;
	size_t			 i;

	ck_assert_int_eq(anon_init(&a, key16, 16), 0);
	for (i = 0; i < sizeof(export_cases) / sizeof(export_cases[0]); i++) {
		memset(&c, 0, sizeof(c));
		c.kind = export_cases[i].kind;
		c.user = export_cases[i].user;
		c.count = -1;
		c.result_count = 99;	/* the check's count wins */
		fill(&r, &c);
		r.pattern = export_cases[i].pattern;
		buf_init(&out, CLAIM_MAX);
		ck_assert_int_eq(claim_build_export(&out, &r, &a,
		    export_cases[i].method, export_cases[i].status,
		    export_cases[i].error, &export_cases[i].x, "rid-1"), 0);
		ck_assert_msg(strcmp(out.data, export_cases[i].want) == 0,
		    "%s:\n got  %s\n want %s", export_cases[i].name, out.data,
		    export_cases[i].want);
		ck_assert_msg(strstr(out.data, "alice") == NULL,
		    "%s: raw id in %s", export_cases[i].name, out.data);
		buf_free(&out);
	}
	anon_free(&a);
}
END_TEST

/* A plain ROUTE_EXPORT through claim_build(): the response's count. */
START_TEST(test_export_kind_without_check)
{
	static const char	 want[] = "Exported 7 memories to /v1/exports/ "
	    "for user " U_ALICE "... [op=export method=POST status=201 "
	    "request=rid-1]";
	struct claim_case	 c;
	struct anon		 a;
	struct route		 r;
	struct buf		 out;

	ck_assert_int_eq(anon_init(&a, key16, 16), 0);
	memset(&c, 0, sizeof(c));
	c.kind = ROUTE_EXPORT;
	c.user = "alice@example.com";
	c.count = -1;
	c.result_count = 7;
	fill(&r, &c);
	r.pattern = "/v1/exports/";
	buf_init(&out, CLAIM_MAX);
	ck_assert_int_eq(claim_build(&out, &r, &a, "POST", 201, NULL, NULL,
	    "rid-1"), 0);
	ck_assert_msg(strcmp(out.data, want) == 0, "got  %s\n want %s",
	    out.data, want);
	buf_free(&out);
	anon_free(&a);
}
END_TEST

START_TEST(test_file_claims)
{
	static const struct {
		const char	*verb;
		const char	*want;
	} cases[] = {
		{ "Created", "Created file /srv/exports/rid-1.json [op=list "
		    "method=GET request=rid-1]" },
		{ "Removed", "Removed file /srv/exports/rid-1.json [op=list "
		    "method=GET request=rid-1]" },
	};
	struct claim_case	 c;
	struct route		 r;
	struct buf		 out;
	size_t			 i;

	memset(&c, 0, sizeof(c));
	c.kind = ROUTE_LIST;
	c.user = "alice@example.com";
	fill(&r, &c);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_init(&out, CLAIM_MAX);
		ck_assert_int_eq(claim_build_file(&out, &r, "GET",
		    cases[i].verb, "/srv/exports/rid-1.json", "rid-1"), 0);
		ck_assert_msg(strcmp(out.data, cases[i].want) == 0,
		    "got  %s\n want %s", out.data, cases[i].want);
		buf_free(&out);
	}
}
END_TEST

/* A legacy v1 entity delete: Mem0's internal number, never a pseudonym
 * of the number as if it were a user id. */
START_TEST(test_entity_number_claims)
{
	static const struct {
		const char	*number;
		const char	*want;
	} cases[] = {
		{ "42", "Bulk delete for user #42: unknown items [op=bulk-delete "
		    "method=DELETE status=200 request=rid-1]" },
		{ "alice", "Bulk delete for user #u:fdbf8b1c: unknown items "
		    "[op=bulk-delete method=DELETE status=200 request=rid-1]" },
	};
	struct anon	 a;
	struct route	 r;
	struct buf	 out;
	size_t		 i;

	ck_assert_int_eq(anon_init(&a, key16, 16), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&r, 0, sizeof(r));
		r.kind = ROUTE_BULK_DELETE;
		r.count = r.result_count = -1;
		r.entity_number = (char *)cases[i].number;
		r.entity_number_type = ROUTE_ENT_USER;
		buf_init(&out, CLAIM_MAX);
		ck_assert_int_eq(claim_build(&out, &r, &a, "DELETE", 200, NULL,
		    NULL, "rid-1"), 0);
		ck_assert_msg(strcmp(out.data, cases[i].want) == 0,
		    "got  %s\nwant %s", out.data, cases[i].want);
		buf_free(&out);
	}
	anon_free(&a);
}
END_TEST

START_TEST(test_opaque_ids)
{
	static const struct {
		const char	*id;
		int		 want;
	} cases[] = {
		{ MID, 1 }, { "12345", 1 }, { "123456", 1 }, { "", 0 },
		{ "alice", 0 }, { "mem 1", 0 }, { "a@b", 0 }, { "---", 0 },
		{ "0123456789012345678901234567890123456789012345678901234567890"
		    "12345", 0 },
		/* numbers that could be a phone, a card, an SSN */
		{ "5551234", 0 }, { "4111111111111111", 0 }, { "123-45-6789", 0 },
		{ "+15551234567", 0 }, { "555-123-4567", 0 },
		/* hex: mixed digits and letters, 8 to 64 */
		{ "deadbeef", 0 }, { "decade", 0 }, { "1a2b3c4d", 1 },
		{ "1a2b3c4", 0 },
		{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		    1 },
		{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		    "0", 0 },
		/* a UUID's layout exactly */
		{ "3F1C2B7E-9D7A-4A39-8D3B-0C6F3F0B8A11", 1 },
		{ "3f1c2b7e9-d7a-4a39-8d3b-0c6f3f0b8a11", 0 },
		{ "3f1c2b7e-9d7a-4a39-8d3b-0c6f3f0b8a1g", 0 },
	};
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(claim_id_is_opaque(cases[i].id,
		    strlen(cases[i].id)) == cases[i].want,
		    "%s: got %d, want %d", cases[i].id, !cases[i].want,
		    cases[i].want);
}
END_TEST

/* A route naming ids[0..n) with events evs (NULL: all unknown). */
static void
fill_many(struct route *r, enum route_kind kind, const char *user,
    char **ids, unsigned char *evs, size_t n, size_t seen)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->dialect = ROUTE_DIALECT_OSS;
	r->pattern = "/memories";
	if (user != NULL) {
		r->ids[0].type = ROUTE_ENT_USER;
		r->ids[0].value = (char *)user;
		r->n_ids = r->n_ids_seen = 1;
	}
	r->memory_ids = ids;
	r->memory_events = evs;
	r->n_memory_ids = n;
	r->n_memory_ids_seen = seen;
	r->count = (long)seen;
	r->result_count = (long)n;
}

#define MID2	"5a2d3c8f-0e8b-4b4a-9e9c-1d7a4a1c9b22"
#define MID3	"6b3e4d9a-1f9c-4c5b-8f0d-2e8b5b2d0c33"
/* HMAC-SHA256(key16, "not-an-opaque-id")[:8], from Python: m:5d2216c7 */

/* Several memories in one add: every id named, grouped by event. */
START_TEST(test_many_ids_in_one_claim)
{
	static const struct {
		const char	*name;
		unsigned char	 evs[4];
		size_t		 n;
		const char	*want;
	} cases[] = {
		{ "three added", { ROUTE_EV_ADD, ROUTE_EV_ADD, ROUTE_EV_ADD },
		    3, "Stored memories " MID ", " MID2 ", " MID3 " for user "
		    U_ALICE "... [op=create method=POST status=200 "
		    "request=rid-1]" },
		{ "one added", { ROUTE_EV_ADD }, 1, "Stored memory " MID
		    " for user " U_ALICE "... [op=create method=POST "
		    "status=200 request=rid-1]" },
		{ "add, update, none, delete", { ROUTE_EV_ADD,
		    ROUTE_EV_UPDATE, ROUTE_EV_NONE, ROUTE_EV_DELETE }, 4,
		    "Stored memory " MID " for user " U_ALICE "... "
		    "[op=create method=POST status=200 request=rid-1 "
		    "part=1/3]\n"
		    "Updated memory " MID2 " for user " U_ALICE "... "
		    "[op=create method=POST status=200 request=rid-1 "
		    "part=2/3]\n"
		    "Deleted memory m:5d2216c7 for user " U_ALICE "... "
		    "[op=create method=POST status=200 request=rid-1 "
		    "part=3/3]" },
		{ "nothing changed", { ROUTE_EV_NONE }, 1, "Stored memory "
		    "unknown for user " U_ALICE "... [op=create method=POST "
		    "status=200 request=rid-1]" },
	};
	static char	 m1[] = MID, m2[] = MID2, m3[] = MID3;
	static char	 m4[] = "not-an-opaque-id";
	char		*ids[4] = { m1, m2, m3, m4 };
	struct anon	 a;
	struct route	 r;
	struct buf	 out;
	size_t		 i;

	ck_assert_int_eq(anon_init(&a, key16, 16), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fill_many(&r, ROUTE_CREATE, "alice@example.com", ids,
		    (unsigned char *)cases[i].evs, cases[i].n, cases[i].n);
		buf_init(&out, CLAIM_SET_MAX);
		ck_assert_int_eq(claim_build(&out, &r, &a, "POST", 200, NULL,
		    NULL, "rid-1"), 0);
		ck_assert_msg(strcmp(out.data, cases[i].want) == 0,
		    "%s:\n got  %s\n want %s", cases[i].name, out.data,
		    cases[i].want);
		buf_free(&out);
	}
	anon_free(&a);
}
END_TEST

/*
 * A batch delete of ROUTE_MAX_MEMORY_IDS ids (and 5 past the cap): as
 * many claims as it takes, none longer than CLAIM_MAX, every stored id
 * in exactly one, numbered parts, the ids not stored said.
 */
START_TEST(test_many_ids_split_into_parts)
{
	static char	 store[ROUTE_MAX_MEMORY_IDS][40];
	char		*ids[ROUTE_MAX_MEMORY_IDS], *line, *nl, want[64];
	unsigned char	 evs[ROUTE_MAX_MEMORY_IDS];
	struct anon	 a;
	struct route	 r;
	struct buf	 out;
	size_t		 i, lines = 0, parts = 0;

	ck_assert_int_eq(anon_init(&a, key16, 16), 0);
	for (i = 0; i < ROUTE_MAX_MEMORY_IDS; i++) {
		snprintf(store[i], sizeof(store[i]),
		    "%08zx-0000-4000-8000-%012zx", i, i);
		ids[i] = store[i];
		evs[i] = ROUTE_EV_UNKNOWN;
	}
	fill_many(&r, ROUTE_BULK_DELETE, NULL, ids, evs,
	    ROUTE_MAX_MEMORY_IDS, ROUTE_MAX_MEMORY_IDS + 5);
	r.n_ids = r.n_ids_seen = 0;
	buf_init(&out, CLAIM_SET_MAX);
	ck_assert_int_eq(claim_build(&out, &r, &a, "DELETE", 200, NULL, NULL,
	    "rid-1"), 0);
	for (line = out.data; line != NULL; line = nl) {
		nl = strchr(line, '\n');
		if (nl != NULL)
			*nl++ = '\0';
		lines++;
		ck_assert_msg(strlen(line) <= CLAIM_MAX - 96, "line %zu is %zu "
		    "bytes", lines, strlen(line));
		ck_assert_msg(strncmp(line, "Bulk delete for memories ", 25) ==
		    0 || strncmp(line, "Bulk delete for memory ", 23) == 0,
		    "line %zu: %s", lines, line);
		ck_assert_msg(sscanf(strstr(line, " part="), " part=%*u/%zu",
		    &parts) == 1, "no part in %s", line);
		snprintf(want, sizeof(want), " part=%zu/", lines);
		ck_assert_msg(strstr(line, want) != NULL, "line %zu: %s",
		    lines, line);
	}
	ck_assert_uint_eq(lines, parts);
	ck_assert_msg(lines > 10 && lines < 40, "%zu claims", lines);
	/* Every id once (ids are unique, none a prefix of another). */
	for (i = 0; i < ROUTE_MAX_MEMORY_IDS; i++) {
		const char *p = out.data, *end = out.data + out.len;
		size_t	    seen = 0;

		while (p < end && (p = memmem(p, (size_t)(end - p), store[i],
		    strlen(store[i]))) != NULL) {
			seen++;
			p += strlen(store[i]);
		}
		ck_assert_msg(seen == 1, "%s named %zu times", store[i], seen);
	}
	/* The last claim says that 5 were not listed; it is still shown
	 * with the NULs the loop put in place of the line ends. */
	ck_assert_ptr_nonnull(memmem(out.data, out.len,
	    "(+5 more not listed)", 20));
	buf_free(&out);
	anon_free(&a);
}
END_TEST

/* A search over six users names all six: each is someone's trail. */
START_TEST(test_every_entity_named)
{
	static char	 v[6][16];
	struct anon	 a;
	struct route	 r;
	struct buf	 out;
	char		 p[ANON_PSEUDO_LEN + 1];
	size_t		 i;

	ck_assert_int_eq(anon_init(&a, key16, 16), 0);
	memset(&r, 0, sizeof(r));
	r.kind = ROUTE_SEARCH;
	r.dialect = ROUTE_DIALECT_PLATFORM;
	r.pattern = "/v2/memories/search/";
	r.result_count = 3;
	for (i = 0; i < 6; i++) {
		snprintf(v[i], sizeof(v[i]), "user-%zu", i);
		r.ids[i].type = ROUTE_ENT_USER;
		r.ids[i].value = v[i];
	}
	r.n_ids = r.n_ids_seen = 6;
	buf_init(&out, CLAIM_SET_MAX);
	ck_assert_int_eq(claim_build(&out, &r, &a, "POST", 200, NULL, NULL,
	    "rid-1"), 0);
	for (i = 0; i < 6; i++) {
		anon_pseudonym(&a, 'u', v[i], strlen(v[i]), p);
		ck_assert_msg(strstr(out.data, p) != NULL, "%s not in %s", p,
		    out.data);
	}
	ck_assert_msg(strstr(out.data, "more") == NULL, "%s", out.data);
	buf_free(&out);
	anon_free(&a);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("claim");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_claim_texts);
	tcase_add_test(tc, test_opaque_ids);
	tcase_add_test(tc, test_entity_number_claims);
	tcase_add_test(tc, test_export_claims);
	tcase_add_test(tc, test_export_kind_without_check);
	tcase_add_test(tc, test_file_claims);
	tcase_add_test(tc, test_many_ids_in_one_claim);
	tcase_add_test(tc, test_many_ids_split_into_parts);
	tcase_add_test(tc, test_every_entity_named);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
