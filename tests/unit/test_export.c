/*
 * test_export: table-driven tests of src/export.c. Requests are
 * classified with route_classify(), NULLroute_classify(), as the proxy does, then each response
 * (status, body) is checked: verdict, count, foreign, unscoped, and that
 * the detail never leaks an id or memory text. Also: which routes are
 * exports, verdict names, hostile bodies (NUL bytes, deep nesting,
 * truncation at every byte, a large body).
 */
#include "unit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "export.h"
#include "route.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define OK	EXPORT_OK
#define UPERR	EXPORT_UPSTREAM_ERROR
#define BAD	EXPORT_MALFORMED
#define SCOPE	EXPORT_SCOPE_VIOLATION

/* Response items. Ids start with "id-"; the text is "likes pizza". */
#define MEM(id, ents)	"{\"id\":\"" id "\",\"memory\":\"likes pizza\"" \
			ents "}"
#define UID(v)		",\"user_id\":\"" v "\""
#define AID(v)		",\"agent_id\":\"" v "\""
#define PID(v)		",\"app_id\":\"" v "\""
#define RID(v)		",\"run_id\":\"" v "\""
#define SID(v)		",\"session_id\":\"" v "\""
#define NULLS		",\"user_id\":null,\"agent_id\":null,\"run_id\":null"

#define A1	MEM("id-1", UID("alice"))
#define A2	MEM("id-2", UID("alice"))
#define M1	MEM("id-9", UID("mallory"))
#define NOENT	MEM("id-5", ",\"categories\":[\"food\"]")

#define PAGE(items) "{\"count\":2,\"next\":null,\"previous\":null," \
		    "\"results\":[" items "]}"

/* Strings that must never appear in a detail. */
static const char *const secrets[] = {
	"alice", "mallory", "bob", "pizza", "id-", "r1", "r2", "mark_carey",
	"app1", "app2", "skills"
};

static int
classify(struct route *r, const char *method, const char *path,
    const char *query, const char *body)
{
	return (route_classify(r, method, path, query, body,
	    body ? strlen(body) : 0, NULL, ROUTE_DIALECT_AUTO));
}

static void
assert_clean_detail(const struct export_result *res, int i)
{
	size_t	 k;

	ck_assert_msg(memchr(res->detail, '\0', sizeof(res->detail)) != NULL,
	    "case %d: detail not terminated", i);
	ck_assert_msg(res->detail[0] != '\0', "case %d: empty detail", i);
	for (k = 0; k < NELEM(secrets); k++)
		ck_assert_msg(strstr(res->detail, secrets[k]) == NULL,
		    "case %d: detail \"%s\" holds \"%s\"", i, res->detail,
		    secrets[k]);
}

/* ------------------------------------------------------------------ */
/* The check table */

struct exp_case {
	const char		*method;
	const char		*path;
	const char		*query;		/* NULL: none */
	const char		*req;		/* request body; NULL: none */
	int			 status;
	const char		*resp;		/* response body */
	enum export_verdict	 verdict;
	long			 count;
	long			 foreign;
	long			 unscoped;
};

/* method, path, query, request body, status, response, verdict, count,
   foreign, unscoped (variadic: the request macros below hold commas). */
#define E(...)	{ __VA_ARGS__ }

/* Common requests. */
#define OSS_ALICE	"GET", "/memories", "user_id=alice", NULL
#define OSS_ALL		"GET", "/memories", NULL, NULL
#define V1_ALICE	"GET", "/v1/memories/", "user_id=alice", NULL
#define V2_ALICE	"POST", "/v2/memories/", NULL, \
			"{\"filters\":{\"user_id\":\"alice\"}}"
#define V3_ALICE	"POST", "/v3/memories/", "page=1&page_size=50", \
			"{\"filters\":{\"AND\":[{\"user_id\":\"alice\"}]}}"
#define ENT_ALICE	"GET", "/v1/memories/user/alice/", NULL, NULL
#define EXP_ALICE	"POST", "/v1/exports/get/", NULL, \
			"{\"filters\":{\"user_id\":\"alice\"}}"
#define EXP_BYID	"POST", "/v1/exports/get/", NULL, \
			"{\"memory_export_id\":\"3f0e9a4c-0000-4000-8000-" \
			"000000000001\"}"

static const struct exp_case exp_cases[] = {
	/* ---- OSS GET /memories (§2.5) ---- */
	E(OSS_ALICE, 200, "{\"results\":[" A1 "," A2 "]}", OK, 2, 0, 0),
	E(OSS_ALICE, 200, "{\"results\":[" A1 "," M1 "]}", SCOPE, 2, 1, 0),
	E(OSS_ALICE, 200, "{\"results\":[" M1 "," M1 "," A1 "]}",
	    SCOPE, 3, 2, 0),
	E(OSS_ALICE, 200, "{\"results\":[]}", OK, 0, 0, 0),
	E(OSS_ALICE, 200, "{\"results\":[" A1 "],\"relations\":"
	    "{\"added_entities\":[],\"deleted_entities\":[]}}", OK, 1, 0, 0),
	/* Unscoped admin read: no check, everything counted. */
	E(OSS_ALL, 200, "{\"results\":[" A1 "," M1 "," NOENT "]}",
	    OK, 3, 0, 1),
	/* Legacy core: a bare array. */
	E(OSS_ALICE, 200, "[" A1 "," A2 "]", OK, 2, 0, 0),
	E(OSS_ALICE, 200, "[" A1 "," M1 "]", SCOPE, 2, 1, 0),
	/* The deployment (§3): {"memories":{"results","relations"}}. */
	E(OSS_ALICE, 200, "{\"memories\":{\"results\":[" A1 "," A2 "],"
	    "\"relations\":[]}}", OK, 2, 0, 0),
	E(OSS_ALICE, 200, "{\"memories\":{\"results\":[" A1 "," M1 "],"
	    "\"relations\":[{\"source\":\"x\",\"relationship\":\"likes\","
	    "\"destination\":\"y\"}]}}", SCOPE, 2, 1, 0),
	E(OSS_ALICE, 200, "{\"memories\":[" A1 "," M1 "]}", SCOPE, 2, 1, 0),
	E(OSS_ALICE, 200, "{\"results\":{\"results\":[" A1 "]}}",
	    OK, 1, 0, 0),
	E(OSS_ALICE, 200, "{\"results\":{\"results\":[" M1 "]}}",
	    SCOPE, 1, 1, 0),
	E("GET", "/memories", "user_id=mark_carey%2Fpersonal&query=x&limit=5",
	    NULL, 200, "{\"memories\":{\"results\":["
	    MEM("id-1", UID("mark_carey/personal")) ","
	    MEM("id-2", UID("mark_carey/work")) "]}}", SCOPE, 2, 1, 0),
	E("GET", "/memories", "user_id=mark_carey/personal", NULL, 200,
	    "{\"memories\":{\"results\":["
	    MEM("id-1", UID("mark_carey/personal")) "]}}", OK, 1, 0, 0),
	/* user AND agent: each named type must match when present. */
	E("GET", "/memories", "user_id=alice&agent_id=bot", NULL, 200,
	    "{\"results\":[" MEM("id-1", UID("alice") AID("bot")) ","
	    MEM("id-2", UID("alice") ",\"agent_id\":null") ","
	    MEM("id-3", AID("bot")) "]}", OK, 3, 0, 0),
	E("GET", "/memories", "user_id=alice&agent_id=bot", NULL, 200,
	    "{\"results\":[" MEM("id-1", UID("alice") AID("bot")) ","
	    MEM("id-2", UID("alice") AID("bot2")) "]}", SCOPE, 2, 1, 0),
	E("GET", "/memories", "agent_id=bot", NULL, 200,
	    "{\"results\":[" MEM("id-1", UID("alice") AID("bot")) ","
	    MEM("id-2", UID("mallory") AID("bot")) "]}", OK, 2, 0, 0),
	/* A repeated parameter: Mem0 reads the last one only. */
	E("GET", "/memories", "user_id=alice&user_id=bob", NULL, 200,
	    "{\"results\":[" A1 "," MEM("id-2", UID("bob")) "]}",
	    SCOPE, 2, 1, 0),
	E("GET", "/memories", "user_id=bob&user_id=alice", NULL, 200,
	    "{\"results\":[" A1 "]}", OK, 1, 0, 0),
	/* Wildcards. */
	E("GET", "/memories", "user_id=*", NULL, 200,
	    "{\"results\":[" A1 "," M1 "]}", OK, 2, 0, 0),
	E("GET", "/memories", "user_id=alice&user_id=*", NULL, 200,
	    "{\"results\":[" A1 "," M1 "]}", OK, 2, 0, 0),
	E("GET", "/memories", "user_id=alice&agent_id=*", NULL, 200,
	    "{\"results\":[" MEM("id-1", UID("alice") AID("x")) ","
	    MEM("id-2", UID("mallory") AID("y")) "]}", SCOPE, 2, 1, 0),
	/* Null and missing entity ids: no owner, so not the requester's. */
	E(OSS_ALICE, 200, "{\"results\":[" MEM("id-1", NULLS) ","
	    NOENT "," A1 "]}", SCOPE, 3, 2, 2),
	/* Allow-list: no owner, or only a type the request did not name,
	   or a projection without the owner's key: not the requester's. */
	E(OSS_ALICE, 200, "{\"results\":[" NOENT "]}", SCOPE, 1, 1, 1),
	E(OSS_ALICE, 200, "{\"results\":[" MEM("id-1", AID("bot")) "]}",
	    SCOPE, 1, 1, 0),
	E(OSS_ALICE, 200, "{\"results\":[" MEM("id-1", AID("bot")
	    UID("alice")) "]}", OK, 1, 0, 0),
	E(V3_ALICE, 200, PAGE("{\"id\":\"id-1\",\"memory\":\"x\"},"
	    "{\"id\":\"id-2\",\"memory\":\"y\"}"), SCOPE, 2, 2, 2),
	/* camelCase, session_id for run, repeated keys, odd types. */
	E(OSS_ALICE, 200, "{\"results\":[" MEM("id-1",
	    ",\"userId\":\"mallory\"") "]}", SCOPE, 1, 1, 0),
	E(OSS_ALICE, 200, "{\"results\":[" MEM("id-1",
	    ",\"userId\":\"alice\"") "]}", OK, 1, 0, 0),
	E("GET", "/memories", "run_id=r1", NULL, 200,
	    "{\"results\":[" MEM("id-1", RID("r1")) ","
	    MEM("id-2", SID("r2")) "]}", SCOPE, 2, 1, 0),
	E(OSS_ALICE, 200, "{\"results\":[" MEM("id-1",
	    UID("alice") UID("mallory")) "]}", SCOPE, 1, 1, 0),
	E("GET", "/memories", "user_id=42", NULL, 200,
	    "{\"results\":[{\"id\":\"id-1\",\"user_id\":42},"
	    "{\"id\":\"id-2\",\"user_id\":43}]}", SCOPE, 2, 1, 0),
	E(OSS_ALICE, 200, "{\"results\":[{\"id\":\"id-1\",\"user_id\":true},"
	    "{\"id\":\"id-2\",\"user_id\":[\"alice\"]}]}", SCOPE, 2, 2, 0),
	E(OSS_ALICE, 200, "{\"results\":[{\"id\":7,\"user_id\":\"Alice\"}]}",
	    SCOPE, 1, 1, 0),
	/* A user_id inside metadata is not an entity. */
	E(OSS_ALICE, 200, "{\"results\":[" MEM("id-1", UID("alice")
	    ",\"metadata\":{\"user_id\":\"mallory\"}") "]}", OK, 1, 0, 0),

	/* ---- searches: the same allow-list (export.check_search) ---- */
	E("POST", "/search", NULL, "{\"query\":\"q\",\"user_id\":\"alice\"}",
	    200, "{\"results\":[" A1 "," A2 "]}", OK, 2, 0, 0),
	E("POST", "/search", NULL, "{\"query\":\"q\",\"user_id\":\"alice\"}",
	    200, "{\"results\":[" A1 "," M1 "," NOENT "]}", SCOPE, 3, 2, 1),
	E("POST", "/v3/memories/search/", NULL, "{\"query\":\"q\","
	    "\"filters\":{\"OR\":[{\"user_id\":\"alice\"},{\"created_at\":"
	    "{\"gte\":\"1970-01-01\"}}]}}", 200, "{\"results\":[" A1 "," M1
	    "]}", SCOPE, 2, 1, 0),
	E("POST", "/v3/memories/search/", NULL, "{\"query\":\"q\","
	    "\"filters\":{\"user_id\":\"alice\"}}", 200, "{\"results\":[" A1
	    "]}", OK, 1, 0, 0),
	E("POST", "/v2/memories/search/", NULL, "{\"query\":\"q\","
	    "\"filters\":{\"user_id\":\"alice\"}}", 200, "[" A1 "," M1 "]",
	    SCOPE, 2, 1, 0),
	E("POST", "/v1/memories/search/", NULL, "{\"query\":\"q\","
	    "\"user_id\":\"alice\"}", 200, "{\"results\":[" A1 "],"
	    "\"relations\":[]}", OK, 1, 0, 0),
	/* No entity named: nothing to hold it to (claimed project-wide). */
	E("POST", "/v3/memories/search/", NULL, "{\"query\":\"q\","
	    "\"filters\":{\"user_id\":\"*\"}}", 200, "{\"results\":[" A1 ","
	    M1 "]}", OK, 2, 0, 0),

	/* ---- GET /v1/memories/ (§4.2): array or paginated ---- */
	E(V1_ALICE, 200, "[" A1 "," A2 "]", OK, 2, 0, 0),
	E(V1_ALICE, 200, PAGE(A1 "," A2), OK, 2, 0, 0),
	E(V1_ALICE, 200, "[" A1 "," M1 "]", SCOPE, 2, 1, 0),
	E(V1_ALICE, 200, PAGE(M1 "," A1), SCOPE, 2, 1, 0),
	E(V1_ALICE, 200, "{\"results\":[" A1 "],\"relations\":[]}",
	    OK, 1, 0, 0),
	E("GET", "/v1/memories/", "app_id=app1", NULL, 200,
	    "[" MEM("id-1", PID("app1")) "," MEM("id-2", PID("app2")) "]",
	    SCOPE, 2, 1, 0),
	E("GET", "/v1/memories/", NULL, NULL, 200, "[" A1 "," M1 "]",
	    OK, 2, 0, 0),
	E(V1_ALICE, 200, "{\"memories\":[" A1 "]}", BAD, -1, 0, 0),
	E(V1_ALICE, 200, "{\"results\":{\"results\":[" A1 "]}}",
	    BAD, -1, 0, 0),

	/* ---- POST /v2/memories/: array (older: {"results"}) ---- */
	E(V2_ALICE, 200, "[" A1 "," A2 "]", OK, 2, 0, 0),
	E(V2_ALICE, 200, "{\"results\":[" A1 "," A2 "]}", OK, 2, 0, 0),
	E(V2_ALICE, 200, "[" A1 "," M1 "]", SCOPE, 2, 1, 0),
	E("POST", "/v2/memories/", NULL, "{\"filters\":{\"AND\":[{\"user_id\":"
	    "\"alice\"},{\"agent_id\":\"*\"}]}}", 200,
	    "[" MEM("id-1", UID("alice") AID("x")) "]", OK, 1, 0, 0),

	/* ---- POST /v3/memories/: envelope, run id as session_id ---- */
	E(V3_ALICE, 200, PAGE(A1 "," A2), OK, 2, 0, 0),
	E(V3_ALICE, 200, PAGE(A1 "," M1), SCOPE, 2, 1, 0),
	E("POST", "/v3/memories/", NULL, "{\"filters\":{\"AND\":["
	    "{\"user_id\":\"alice\"},{\"run_id\":\"r1\"}]}}", 200,
	    PAGE(MEM("id-1", UID("alice") SID("r1")) ","
	    MEM("id-2", UID("alice") ",\"session_id\":null")), OK, 2, 0, 0),
	E("POST", "/v3/memories/", NULL, "{\"filters\":{\"AND\":["
	    "{\"user_id\":\"alice\"},{\"run_id\":\"r1\"}]}}", 200,
	    PAGE(MEM("id-1", UID("alice") SID("r2"))), SCOPE, 1, 1, 0),
	E("POST", "/v3/memories/", NULL, "{\"filters\":{\"userId\":"
	    "\"alice\"}}", 200, PAGE(A1 "," M1), SCOPE, 2, 1, 0),
	E("POST", "/v3/memories/", NULL, "{\"filters\":{\"user_id\":"
	    "{\"in\":[\"alice\",\"bob\"]}}}", 200,
	    PAGE(A1 "," MEM("id-2", UID("bob"))), OK, 2, 0, 0),
	E(V3_ALICE, 200, "[" A1 "]", BAD, -1, 0, 0),
	E(V3_ALICE, 200, "{\"count\":1}", BAD, -1, 0, 0),
	E(V3_ALICE, 201, PAGE(A1), OK, 1, 0, 0),

	/* ---- GET /v1/memories/{type}/{id}/: items carry no entity ---- */
	E(ENT_ALICE, 200, PAGE(NOENT "," NOENT), OK, 2, 0, 2),
	E(ENT_ALICE, 200, PAGE(NOENT "," M1), SCOPE, 2, 1, 1),
	E(ENT_ALICE, 200, "[" NOENT "]", BAD, -1, 0, 0),
	E("GET", "/v1/memories/agent/bot/", "page=2", NULL, 200,
	    PAGE(MEM("id-1", AID("bot") UID("mallory"))), OK, 1, 0, 0),
	E("GET", "/v1/memories/agent/bot/", NULL, NULL, 200,
	    PAGE(MEM("id-1", AID("bot2"))), SCOPE, 1, 1, 0),

	/*
	 * ---- POST /v1/exports/get/: an object shaped by the schema ----
	 * The export is found by its id whatever the filters say: records
	 * without entity ids are refused when the request names one.
	 */
	E(EXP_ALICE, 200, "{\"full_name\":\"A\",\"skills\":[\"x\",\"y\"]}",
	    SCOPE, 1, 1, 1),
	E(EXP_BYID, 200, "{\"full_name\":\"A\",\"skills\":[\"x\",\"y\"]}",
	    OK, 1, 0, 1),
	E(EXP_ALICE, 200, "{\"memories\":[" A1 "," A2 "]}", OK, 2, 0, 0),
	E(EXP_ALICE, 200, "{\"tags\":[\"a\"],\"items\":[{\"x\":1},"
	    "{\"y\":{\"z\":[1]}},3],\"more\":[{\"w\":1}]}", SCOPE, 2, 2, 2),
	E(EXP_ALICE, 200, "{\"memories\":[" A1 ",{\"memory\":\"x\"}]}",
	    SCOPE, 2, 1, 1),
	E(EXP_ALICE, 200, "{\"profile\":{\"name\":\"A\"},\"memories\":["
	    "{\"user_id\":\"alice\",\"facts\":[{\"t\":1,\"deep\":{"
	    "\"user_id\":\"mallory\"}}]},{\"user_id\":\"alice\"}]}",
	    SCOPE, 2, 1, 0),
	E(EXP_ALICE, 200, "{\"records\":[{\"a\":1}],\"meta\":{\"owner\":"
	    "{\"user_id\":\"mallory\"}}}", SCOPE, 1, 1, 1),
	E(EXP_ALICE, 200, "{\"user_id\":\"mallory\",\"name\":\"M\"}",
	    SCOPE, 1, 1, 0),
	E(EXP_ALICE, 200, "{\"user_id\":\"alice\",\"name\":\"A\"}",
	    OK, 1, 0, 0),
	E(EXP_ALICE, 200, "{\"a\":[[{\"userId\":\"mallory\"}]]}",
	    SCOPE, 1, 1, 0),
	E(EXP_ALICE, 200, "{}", OK, 0, 0, 0),
	E(EXP_BYID, 200, "{\"memories\":[" A1 "," M1 "]}", OK, 2, 0, 0),
	E(EXP_ALICE, 200, "[" A1 "]", BAD, -1, 0, 0),
	E(EXP_ALICE, 200, "\"done\"", BAD, -1, 0, 0),
	E(EXP_ALICE, 404, "{\"error\":\"No memory export request found\"}",
	    UPERR, -1, 0, 0),
	E(EXP_ALICE, 400, "{\"message\":\"One of the filters ...\"}",
	    UPERR, -1, 0, 0),

	/* ---- Malformed ---- */
	E(OSS_ALICE, 200, "hello", BAD, -1, 0, 0),
	E(OSS_ALICE, 200, "", BAD, -1, 0, 0),
	E(V1_ALICE, 200, "{\"results\":[" "{\"id\":\"id-1\"", BAD, -1, 0, 0),
	E(V3_ALICE, 200, "{\"count\":2,\"results\":[" A1 ",", BAD, -1, 0, 0),
	E(OSS_ALICE, 200, "\"results\"", BAD, -1, 0, 0),
	E(V2_ALICE, 200, "42", BAD, -1, 0, 0),
	E(V2_ALICE, 200, "null", BAD, -1, 0, 0),
	E(V2_ALICE, 200, "true", BAD, -1, 0, 0),
	E(OSS_ALICE, 200, "{\"message\":\"ok\"}", BAD, -1, 0, 0),
	E(OSS_ALICE, 200, "{\"results\":\"none\"}", BAD, -1, 0, 0),
	E(OSS_ALICE, 200, "{\"results\":null}", BAD, -1, 0, 0),
	E(OSS_ALICE, 200, "{\"results\":{\"items\":[]}}", BAD, -1, 0, 0),
	E(OSS_ALICE, 200, "{\"memories\":{\"results\":{}}}", BAD, -1, 0, 0),
	E(OSS_ALICE, 200, "{\"memories\":\"x\"}", BAD, -1, 0, 0),
	E(V1_ALICE, 200, "{\"results\":{\"a\":1}}", BAD, -1, 0, 0),
	E(OSS_ALICE, 200, "{\"results\":[" A1 ",\"id-2\"]}", BAD, -1, 0, 0),
	E(V1_ALICE, 200, "[" A1 ",[" A2 "]]", BAD, -1, 0, 0),
	E(V2_ALICE, 200, "[null]", BAD, -1, 0, 0),
	E(OSS_ALICE, 200, "{\"results\":[{\"memory\":\"likes pizza\","
	    "\"user_id\":\"alice\"}]}", BAD, -1, 0, 0),
	E(V3_ALICE, 200, PAGE("{\"id\":null" UID("alice") "}"),
	    BAD, -1, 0, 0),
	E(V3_ALICE, 200, PAGE("{\"id\":\"\"" UID("alice") "}"),
	    BAD, -1, 0, 0),
	/* A foreign item and a malformed one: malformed wins. */
	E(OSS_ALICE, 200, "{\"results\":[" M1 ",7]}", BAD, -1, 0, 0),
	/* Bytes after the value; two values; duplicate envelope keys. */
	E(OSS_ALICE, 200, "{\"results\":[" A1 "]} x", BAD, -1, 0, 0),
	E(OSS_ALICE, 200, "{\"results\":[" A1 "]}{\"results\":[" M1 "]}",
	    BAD, -1, 0, 0),
	E(OSS_ALICE, 200, "{\"results\":[" A1 "]}\r\n\t ", OK, 1, 0, 0),
	E(OSS_ALICE, 200, "{\"results\":[" A1 "],\"results\":[" M1 "]}",
	    BAD, -1, 0, 0),
	E(OSS_ALICE, 200, "{\"results\":[" A1 "],\"memories\":{\"results\":["
	    M1 "]}}", BAD, -1, 0, 0),
	E(V3_ALICE, 200, "{\"results\":[" A1 "],\"results\":[]}",
	    BAD, -1, 0, 0),
	/* cJSON would cut "alice\u0000x" to "alice": refused. */
	E(OSS_ALICE, 200, "{\"results\":[" MEM("id-1", UID("alice\\u0000x"))
	    "]}", BAD, -1, 0, 0),
	/* An escaped backslash, then plain "u0000": fine. */
	E(OSS_ALICE, 200, "{\"results\":[" MEM("id-1", UID("alice")
	    ",\"note\":\"a\\\\u0000\"") "]}", OK, 1, 0, 0),

	/* ---- Not 2xx: passed through, body never read ---- */
	E(OSS_ALICE, 500, "{\"detail\":\"boom\"}", UPERR, -1, 0, 0),
	E(OSS_ALICE, 502, "not json", UPERR, -1, 0, 0),
	E(V1_ALICE, 400, "{\"error\":\"limit must be <= 200\"}",
	    UPERR, -1, 0, 0),
	E(V3_ALICE, 401, "{\"detail\":\"Invalid API key\"}", UPERR, -1, 0, 0),
	E(ENT_ALICE, 404, PAGE(M1), UPERR, -1, 0, 0),
	E(V2_ALICE, 302, "[" M1 "]", UPERR, -1, 0, 0),
	E(V2_ALICE, 199, "[" A1 "]", UPERR, -1, 0, 0),
	E(V2_ALICE, 0, "", UPERR, -1, 0, 0),
	E(V3_ALICE, 204, "", BAD, -1, 0, 0),
};

START_TEST(test_check)
{
	const struct exp_case	*c = &exp_cases[_i];
	struct export_result	 res;
	struct route		 r;
	enum export_verdict	 v;

	ck_assert_msg(classify(&r, c->method, c->path, c->query, c->req) == 0,
	    "case %d: classify failed", _i);
	ck_assert_msg(export_is_export(&r) || export_is_search(&r),
	    "case %d (%s %s): not an export route (kind %s, pattern \"%s\")",
	    _i, c->method, c->path, route_kind_name(r.kind), r.pattern);
	memset(&res, 0x5a, sizeof(res));
	v = export_check(&r, c->status, c->resp, strlen(c->resp), &res);
	ck_assert_msg(v == res.verdict,
	    "case %d: returned %s, res says %s", _i, export_verdict_name(v),
	    export_verdict_name(res.verdict));
	ck_assert_msg(v == c->verdict,
	    "case %d (%s %s %d): verdict got %s, want %s (detail \"%s\")",
	    _i, c->method, c->path, c->status, export_verdict_name(v),
	    export_verdict_name(c->verdict), res.detail);
	ck_assert_msg(res.count == c->count,
	    "case %d (%s %s): count got %ld, want %ld (detail \"%s\")", _i,
	    c->method, c->path, res.count, c->count, res.detail);
	ck_assert_msg(res.foreign == c->foreign,
	    "case %d (%s %s): foreign got %ld, want %ld", _i, c->method,
	    c->path, res.foreign, c->foreign);
	ck_assert_msg(res.unscoped == c->unscoped,
	    "case %d (%s %s): unscoped got %ld, want %ld", _i, c->method,
	    c->path, res.unscoped, c->unscoped);
	assert_clean_detail(&res, _i);
	route_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Details: short reasons, fixed wording */

struct detail_case {
	const char		*method;
	const char		*path;
	const char		*query;
	const char		*req;
	int			 status;
	const char		*resp;
	const char		*want;	/* exact detail */
};

static const struct detail_case detail_cases[] = {
	{ OSS_ALICE, 200, "{\"results\":[" A1 "," A1 "," A1 ",\"x\"]}",
	    "results[3] is not an object" },
	{ OSS_ALICE, 200, "{\"results\":[" A1 ",{\"memory\":\"x\"}]}",
	    "results[1] has no id" },
	{ V3_ALICE, 200, PAGE(A1 "," M1 "," M1),
	    "2 of 3 memories belong to other entities" },
	{ OSS_ALICE, 200, "{\"results\":[" A1 "," NOENT "]}",
	    "1 of 2 memories belong to other entities" },
	{ OSS_ALL, 200, "{\"results\":[" A1 "," NOENT "]}",
	    "2 memories, 1 without entity ids" },
	{ V1_ALICE, 200, "[" A1 "]", "1 memories" },
	{ V1_ALICE, 503, "", "upstream status 503" },
	{ OSS_ALICE, 200, "{\"results\":[]} 1",
	    "body has bytes after the JSON value" },
	{ OSS_ALICE, 200, "[", "body is not JSON" },
	{ V3_ALICE, 200, "[]", "body is an array, want an object" },
	{ EXP_ALICE, 200, "{\"memories\":[{\"user_id\":\"mallory\"}]}",
	    "1 objects in an export of 1 records belong to other entities" },
	/* 17 users named, 16 stored (ROUTE_MAX_IDS): blocks, and says why. */
	{ "POST", "/v2/memories/", NULL, "{\"filters\":{\"user_id\":{\"in\":"
	    "[\"u01\",\"u02\",\"u03\",\"u04\",\"u05\",\"u06\",\"u07\","
	    "\"u08\",\"u09\",\"u10\",\"u11\",\"u12\",\"u13\",\"u14\","
	    "\"u15\",\"u16\",\"u17\"]}}}", 200,
	    "[" MEM("id-1", UID("u16")) "," MEM("id-2", UID("u17")) "]",
	    "1 of 2 memories belong to other entities (request ids "
	    "incomplete)" },
	{ "GET", "/memories/m1", NULL, NULL, 200, "[]",
	    "not an export route" },
};

START_TEST(test_detail)
{
	const struct detail_case	*c = &detail_cases[_i];
	struct export_result		 res;
	struct route			 r;

	ck_assert_int_eq(classify(&r, c->method, c->path, c->query, c->req),
	    0);
	(void)export_check(&r, c->status, c->resp, strlen(c->resp), &res);
	ck_assert_msg(strcmp(res.detail, c->want) == 0,
	    "case %d: detail got \"%s\", want \"%s\"", _i, res.detail,
	    c->want);
	assert_clean_detail(&res, _i);
	route_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Which routes are exports */

struct is_case {
	enum route_dialect	 cfg;
	const char		*method;
	const char		*path;
	const char		*query;
	const char		*req;
	int			 want;
};

static const struct is_case is_cases[] = {
	{ ROUTE_DIALECT_AUTO, "GET", "/memories", NULL, NULL, 1 },
	{ ROUTE_DIALECT_AUTO, "GET", "/memories", "user_id=alice", NULL, 1 },
	{ ROUTE_DIALECT_OSS, "GET", "/memories", "agent_id=a", NULL, 1 },
	{ ROUTE_DIALECT_AUTO, "GET", "/v1/memories/", "user_id=alice",
	    NULL, 1 },
	{ ROUTE_DIALECT_AUTO, "GET", "/v1/memories", NULL, NULL, 1 },
	{ ROUTE_DIALECT_AUTO, "POST", "/v2/memories/", NULL,
	    "{\"filters\":{\"user_id\":\"alice\"}}", 1 },
	{ ROUTE_DIALECT_AUTO, "POST", "/v3/memories/", NULL,
	    "{\"filters\":{\"user_id\":\"alice\"}}", 1 },
	{ ROUTE_DIALECT_AUTO, "GET", "/v1/memories/user/alice/", NULL,
	    NULL, 1 },
	{ ROUTE_DIALECT_AUTO, "GET", "/v1/memories/run/r1/", NULL, NULL, 1 },
	{ ROUTE_DIALECT_AUTO, "POST", "/v1/exports/get/", NULL,
	    "{\"memory_export_id\":\"x\"}", 1 },
	{ ROUTE_DIALECT_AUTO, "POST", "/v1/exports/get", NULL, NULL, 1 },
	/* Not exports. */
	{ ROUTE_DIALECT_AUTO, "POST", "/v1/exports/", NULL,
	    "{\"schema\":{},\"filters\":{\"user_id\":\"alice\"}}", 0 },
	{ ROUTE_DIALECT_AUTO, "GET", "/v1/exports/get/", NULL, NULL, 0 },
	{ ROUTE_DIALECT_AUTO, "GET", "/memories/m1", NULL, NULL, 0 },
	{ ROUTE_DIALECT_AUTO, "GET", "/v1/memories/m1/", NULL, NULL, 0 },
	{ ROUTE_DIALECT_AUTO, "POST", "/search", NULL,
	    "{\"query\":\"q\",\"user_id\":\"alice\"}", 0 },
	{ ROUTE_DIALECT_AUTO, "POST", "/v3/memories/search/", NULL,
	    "{\"query\":\"q\",\"filters\":{\"user_id\":\"alice\"}}", 0 },
	{ ROUTE_DIALECT_AUTO, "POST", "/v1/memories/search/", NULL,
	    "{\"query\":\"q\"}", 0 },
	{ ROUTE_DIALECT_AUTO, "POST", "/v3/memories/", NULL,
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 0 },
	{ ROUTE_DIALECT_AUTO, "POST", "/memories", NULL,
	    "{\"messages\":[],\"user_id\":\"alice\"}", 0 },
	{ ROUTE_DIALECT_AUTO, "DELETE", "/memories", "user_id=alice",
	    NULL, 0 },
	{ ROUTE_DIALECT_AUTO, "DELETE", "/v1/memories/", "user_id=alice",
	    NULL, 0 },
	{ ROUTE_DIALECT_AUTO, "GET", "/memories/", NULL, NULL, 0 },
	{ ROUTE_DIALECT_AUTO, "GET", "/v1/memories/m1/history/", NULL,
	    NULL, 0 },
	{ ROUTE_DIALECT_AUTO, "GET", "/v1/memories/events/", NULL, NULL, 0 },
	{ ROUTE_DIALECT_AUTO, "GET", "/entities", NULL, NULL, 0 },
	{ ROUTE_DIALECT_AUTO, "GET", "/v1/entities/", NULL, NULL, 0 },
	{ ROUTE_DIALECT_AUTO, "GET", "/v1/ping/", NULL, NULL, 0 },
	{ ROUTE_DIALECT_AUTO, "POST", "/v1/summary/", NULL,
	    "{\"filters\":{\"user_id\":\"alice\"}}", 0 },
	/* The platform path on an OSS upstream is not a route there. */
	{ ROUTE_DIALECT_OSS, "GET", "/v1/memories/", NULL, NULL, 0 },
	{ ROUTE_DIALECT_PLATFORM, "GET", "/memories", NULL, NULL, 0 },
};

START_TEST(test_is_export)
{
	const struct is_case	*c = &is_cases[_i];
	struct route		 r;
	int			 got;

	ck_assert_int_eq(route_classify(&r, c->method, c->path, c->query,
	    c->req, c->req ? strlen(c->req) : 0, NULL, c->cfg), 0);
	got = export_is_export(&r);
	ck_assert_msg(got == c->want,
	    "case %d (%s %s): export_is_export got %d, want %d (kind %s, "
	    "pattern \"%s\")", _i, c->method, c->path, got, c->want,
	    route_kind_name(r.kind), r.pattern);
	/* A route that is neither an export nor a search is never
	 * passed as one. */
	if (!c->want && !export_is_search(&r)) {
		struct export_result	 res;

		ck_assert_int_eq(export_check(&r, 200, "[]", 2, &res),
		    EXPORT_MALFORMED);
		ck_assert_int_eq(res.count, -1);
	}
	route_free(&r);
}
END_TEST

START_TEST(test_names)
{
	static const struct {
		enum export_verdict	 v;
		const char		*want;
	} cases[] = {
		{ EXPORT_OK, "ok" },
		{ EXPORT_UPSTREAM_ERROR, "upstream_error" },
		{ EXPORT_MALFORMED, "export_malformed" },
		{ EXPORT_SCOPE_VIOLATION, "export_scope_violation" },
		{ (enum export_verdict)99, "export_malformed" },
	};
	size_t	 i;

	for (i = 0; i < NELEM(cases); i++)
		ck_assert_msg(strcmp(export_verdict_name(cases[i].v),
		    cases[i].want) == 0, "case %zu: got \"%s\", want \"%s\"",
		    i, export_verdict_name(cases[i].v), cases[i].want);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Hostile input */

START_TEST(test_null_args)
{
	struct export_result	 res;
	struct route		 r;

	ck_assert_int_eq(export_is_export(NULL), 0);
	ck_assert_int_eq(export_check(NULL, 200, "[]", 2, &res),
	    EXPORT_MALFORMED);
	ck_assert_int_eq(export_check(NULL, 500, "[]", 2, &res),
	    EXPORT_UPSTREAM_ERROR);
	ck_assert_int_eq(classify(&r, "GET", "/memories", "user_id=alice",
	    NULL), 0);
	/* NULL res: still answers. */
	ck_assert_int_eq(export_check(&r, 200, "[]", 2, NULL), EXPORT_OK);
	ck_assert_int_eq(export_check(&r, 200, NULL, 10, &res),
	    EXPORT_MALFORMED);
	ck_assert_int_eq(res.count, -1);
	route_free(&r);
}
END_TEST

/* Raw NUL bytes: cJSON would stop at them; refused. */
START_TEST(test_nul_bytes)
{
	static const char b1[] = "{\"results\":[{\"id\":\"id-1\","
	    "\"user_id\":\"alice\0x\"}]}";
	static const char b2[] = "{\"results\":[]}\0{\"results\":[7]}";
	struct export_result	 res;
	struct route		 r;

	ck_assert_int_eq(classify(&r, "GET", "/memories", "user_id=alice",
	    NULL), 0);
	ck_assert_int_eq(export_check(&r, 200, b1, sizeof(b1) - 1, &res),
	    EXPORT_MALFORMED);
	ck_assert_int_eq(export_check(&r, 200, b2, sizeof(b2) - 1, &res),
	    EXPORT_MALFORMED);
	/* The same body without the NUL, as a sanity check. */
	ck_assert_int_eq(export_check(&r, 200, b2, strlen(b2), &res),
	    EXPORT_OK);
	route_free(&r);
}
END_TEST

/* {"a":{"a":...{"user_id":"mallory"}}} at depth n. */
static char *
nested_export(size_t n, const char *leaf)
{
	size_t	 i, cap;
	char	*b, *p;

	cap = n * 7 + strlen(leaf) + n + 16;
	b = malloc(cap);
	ck_assert_ptr_nonnull(b);
	p = b;
	for (i = 0; i < n; i++)
		p += sprintf(p, "{\"a\":");
	p += sprintf(p, "%s", leaf);
	for (i = 0; i < n; i++)
		*p++ = '}';
	*p = '\0';
	return (b);
}

START_TEST(test_depth)
{
	static const struct {
		size_t			 wraps;
		const char		*leaf;
		enum export_verdict	 want;
	} cases[] = {
		{ 1, "{\"user_id\":\"mallory\"}", EXPORT_SCOPE_VIOLATION },
		{ 62, "{\"user_id\":\"mallory\"}", EXPORT_SCOPE_VIOLATION },
		{ 63, "{\"user_id\":\"mallory\"}", EXPORT_SCOPE_VIOLATION },
		{ 63, "{\"user_id\":\"alice\"}", EXPORT_OK },
		{ 64, "{\"user_id\":\"mallory\"}", EXPORT_MALFORMED },
		{ 64, "1", EXPORT_SCOPE_VIOLATION },	/* no entity id */
		{ 64, "[]", EXPORT_MALFORMED },
		{ 200, "{\"user_id\":\"mallory\"}", EXPORT_MALFORMED },
		{ 5000, "1", EXPORT_MALFORMED },  /* too deep for cJSON */
	};
	struct export_result	 res;
	struct route		 r;
	size_t			 i;
	char			*b;

	ck_assert_int_eq(classify(&r, "POST", "/v1/exports/get/", NULL,
	    "{\"filters\":{\"user_id\":\"alice\"}}"), 0);
	for (i = 0; i < NELEM(cases); i++) {
		b = nested_export(cases[i].wraps, cases[i].leaf);
		ck_assert_msg(export_check(&r, 200, b, strlen(b), &res) ==
		    cases[i].want, "case %zu (depth %zu): got %s, want %s",
		    i, cases[i].wraps, export_verdict_name(res.verdict),
		    export_verdict_name(cases[i].want));
		free(b);
	}
	route_free(&r);
}
END_TEST

/* Every prefix of a valid body, in an exactly-sized buffer. */
START_TEST(test_truncated)
{
	static const char full[] =
	    "{\"memories\":{\"results\":[{\"id\":\"id-1\",\"memory\":"
	    "\"a\\\"b\\u00e9\",\"user_id\":\"alice\",\"agent_id\":null,"
	    "\"metadata\":{\"k\":[1,2.5e3,true]}}],\"relations\":[]}}";
	struct export_result	 res;
	struct route		 r;
	size_t			 cut;
	char			*b;

	ck_assert_int_eq(classify(&r, "GET", "/memories", "user_id=alice",
	    NULL), 0);
	for (cut = 0; cut <= sizeof(full) - 1; cut++) {
		b = malloc(cut ? cut : 1);
		ck_assert_ptr_nonnull(b);
		memcpy(b, full, cut);
		export_check(&r, 200, b, cut, &res);
		ck_assert_msg(res.verdict == (cut == sizeof(full) - 1 ?
		    EXPORT_OK : EXPORT_MALFORMED), "cut %zu: got %s", cut,
		    export_verdict_name(res.verdict));
		free(b);
	}
	ck_assert_int_eq(res.count, 1);
	route_free(&r);
}
END_TEST

/* About 20 MiB of memories, not NUL-terminated, one foreign at the end. */
START_TEST(test_big_body)
{
	static const char item[] = "{\"id\":\"3f0e9a4c-1111-4000-8000-"
	    "000000000001\",\"memory\":\"a fairly ordinary memory about food"
	    " and travel plans\",\"user_id\":\"alice\",\"agent_id\":null,"
	    "\"metadata\":{},\"created_at\":\"2026-01-01T00:00:00Z\"},";
	static const char last[] = "{\"id\":\"x\",\"user_id\":\"mallory\"}";
	struct export_result	 res;
	struct route		 r;
	size_t			 n = 100000, i, len;
	char			*b, *p;
	clock_t			 t0;

	b = malloc(n * (sizeof(item) - 1) + sizeof(last) + 64);
	ck_assert_ptr_nonnull(b);
	p = b;
	p += sprintf(p, "{\"count\":%zu,\"results\":[", n + 1);
	for (i = 0; i < n; i++) {
		memcpy(p, item, sizeof(item) - 1);
		p += sizeof(item) - 1;
	}
	memcpy(p, last, sizeof(last) - 1);
	p += sizeof(last) - 1;
	memcpy(p, "]}", 2);
	p += 2;
	len = (size_t)(p - b);
	ck_assert_uint_gt(len, 16u * 1024 * 1024);

	ck_assert_int_eq(classify(&r, "POST", "/v3/memories/", NULL,
	    "{\"filters\":{\"user_id\":\"alice\"}}"), 0);
	t0 = clock();
	ck_assert_int_eq(export_check(&r, 200, b, len, &res),
	    EXPORT_SCOPE_VIOLATION);
	ck_assert_int_eq(res.count, (long)n + 1);
	ck_assert_int_eq(res.foreign, 1);
	ck_assert_msg((double)(clock() - t0) / CLOCKS_PER_SEC < 20.0,
	    "a 20 MiB body took too long");
	/* Without the foreign item (cut before it, closed again). */
	p = b + len - (sizeof(last) - 1) - 2;
	p[-1] = ']';
	p[0] = '}';
	ck_assert_int_eq(export_check(&r, 200, b, (size_t)(p + 1 - b), &res),
	    EXPORT_OK);
	ck_assert_int_eq(res.count, (long)n);
	route_free(&r);
	free(b);
}
END_TEST

static Suite *
export_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("export");
	tc = tcase_create("check");
	tcase_add_loop_test(tc, test_check, 0, (int)NELEM(exp_cases));
	tcase_add_loop_test(tc, test_detail, 0, (int)NELEM(detail_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("routes");
	tcase_add_loop_test(tc, test_is_export, 0, (int)NELEM(is_cases));
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_null_args);
	tcase_add_test(tc, test_nul_bytes);
	tcase_add_test(tc, test_depth);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_big_body);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (unit_run(export_suite()));
}
