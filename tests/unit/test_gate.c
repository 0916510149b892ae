/*
 * Unit tests: the approval gate's pure parts: SCOPE lines, the ten-section
 * instruction, reading SCOPE back, task names, and the state machine's
 * verdict table. The asynchronous flow is covered end to end in
 * tests/e2e/test_gate.py.
 */
#include "unit.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate.h"

static const char key16[] = "0123456789abcdef";
#define U_ALICE	"u:f3d6ddc7"	/* HMAC-SHA256(key16, alice@example.com)[:8] */

static struct anon	 anon;

static void
setup(void)
{
	ck_assert_int_eq(anon_init(&anon, key16, 16), 0);
}

static void
teardown(void)
{
	anon_free(&anon);
}

/* SCOPE of a classified request (body, headers may be NULL). */
static char *
scope_with(const char *method, const char *path, const char *query,
    const char *target, const char *body, const char *authorization,
    const char *api_key, const char *content_type)
{
	struct gate_request	 rq;
	struct route		 r;
	struct buf		 out;

	ck_assert_int_eq(route_classify(&r, method, path, query, body,
	    body ? strlen(body) : 0, content_type, ROUTE_DIALECT_AUTO), 0);
	memset(&rq, 0, sizeof(rq));
	rq.route = &r;
	rq.method = method;
	rq.target = target;
	rq.body = body;
	rq.body_len = body ? strlen(body) : 0;
	rq.authorization = authorization;
	rq.api_key = api_key;
	rq.content_type = content_type;
	buf_init(&out, 1024);
	ck_assert_int_eq(gate_scope(&out, &anon, &rq), 0);
	route_free(&r);
	return (buf_steal(&out));
}

static char *
scope_of(const char *method, const char *path, const char *query,
    const char *target, const char *body)
{
	return (scope_with(method, path, query, target, body, NULL, NULL,
	    NULL));
}

START_TEST(test_scope_lines)
{
	static const struct {
		const char	*method, *path, *query, *target, *body;
		const char	*want_prefix;
	} cases[] = {
		{ "DELETE", "/memories", "user_id=alice%40example.com",
		    "/memories?user_id=alice%40example.com", NULL,
		    "DELETE /memories oss user=" U_ALICE " digest=" },
		{ "delete", "/memories", "user_id=alice%40example.com",
		    "/memories?user_id=alice%40example.com", NULL,
		    "DELETE /memories oss user=" U_ALICE " digest=" },
		{ "DELETE", "/v1/memories/", "user_id=alice%40example.com&"
		    "agent_id=*", "/v1/memories/?user_id=alice%40example.com&"
		    "agent_id=*", NULL, "DELETE /v1/memories/ platform user="
		    U_ALICE " agent=a:* digest=" },
		{ "POST", "/reset", NULL, "/reset", NULL,
		    "POST /reset oss digest=" },
		{ "DELETE", "/v1/batch/", NULL, "/v1/batch/",
		    "{\"memories\":[{\"memory_id\":\"m1\"},{\"memory_id\":"
		    "\"m2\"}]}", "DELETE /v1/batch/ platform memories=2 "
		    "digest=" },
	};
	size_t	 i;
	char	*got;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = scope_of(cases[i].method, cases[i].path, cases[i].query,
		    cases[i].target, cases[i].body);
		ck_assert_msg(strncmp(got, cases[i].want_prefix,
		    strlen(cases[i].want_prefix)) == 0 &&
		    strlen(got) == strlen(cases[i].want_prefix) + 32,
		    "case %zu:\n got  %s\n want %s<32 hex>", i, got,
		    cases[i].want_prefix);
		ck_assert_msg(strstr(got, "alice") == NULL, "raw id: %s", got);
		free(got);
	}
}
END_TEST

START_TEST(test_scope_binds_the_exact_request)
{
	char	*a, *b, *c, *d, *e;

	a = scope_of("DELETE", "/memories", "user_id=a", "/memories?user_id=a",
	    NULL);
	b = scope_of("DELETE", "/memories", "user_id=a",
	    "/memories?user_id=a", NULL);
	c = scope_of("DELETE", "/memories", "user_id=b", "/memories?user_id=b",
	    NULL);
	d = scope_of("DELETE", "/memories", "user_id=a&metadata=x",
	    "/memories?user_id=a&metadata=x", NULL);
	e = scope_of("DELETE", "/v1/batch/", NULL, "/v1/batch/",
	    "{\"memories\":[{\"memory_id\":\"m1\"}]}");
	ck_assert_str_eq(a, b);
	ck_assert_str_ne(a, c);		/* another user */
	ck_assert_str_ne(a, d);		/* same ids, narrower or wider */
	free(e);
	e = scope_of("DELETE", "/v1/batch/", NULL, "/v1/batch/",
	    "{\"memories\":[{\"memory_id\":\"m2\"}]}");
	ck_assert_ptr_nonnull(strstr(e, "memories=1"));
	free(a);
	a = scope_of("DELETE", "/v1/batch/", NULL, "/v1/batch/",
	    "{\"memories\":[{\"memory_id\":\"m1\"}]}");
	ck_assert_str_ne(a, e);		/* other memories, same count */
	free(a);
	free(b);
	free(c);
	free(d);
	free(e);
}
END_TEST

/*
 * An approval is for one request as sent: another spelling of the method,
 * another credential, another body type gives another digest (the human
 * readable part stays the same).
 */
START_TEST(test_scope_binds_method_credential_and_type)
{
	static const struct {
		const char	*method, *auth, *key, *type;
	} cases[] = {
		{ "DELETE", "Token k1", NULL, NULL },	/* the reference */
		{ "delete", "Token k1", NULL, NULL },
		{ "Delete", "Token k1", NULL, NULL },
		{ "DELETE", "Token k2", NULL, NULL },
		{ "DELETE", NULL, NULL, NULL },
		{ "DELETE", NULL, "Token k1", NULL },
		{ "DELETE", "Token k1", "k", NULL },
		{ "DELETE", "Token k1", NULL, "application/json" },
		{ "DELETE", "Token k1", NULL, "" },
	};
	char	*got[sizeof(cases) / sizeof(cases[0])], *sp;
	size_t	 i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got[i] = scope_with(cases[i].method, "/memories", "user_id=a",
		    "/memories?user_id=a", NULL, cases[i].auth, cases[i].key,
		    cases[i].type);
		sp = strstr(got[i], " digest=");
		ck_assert_ptr_nonnull(sp);
		ck_assert_msg(strncmp(got[i], got[0], (size_t)(sp - got[i]))
		    == 0, "case %zu: readable part %s, want %s", i, got[i],
		    got[0]);
		for (j = 0; j < i; j++)
			ck_assert_msg(strcmp(got[i], got[j]) != 0,
			    "cases %zu and %zu share a digest", j, i);
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		free(got[i]);
	sp = scope_with("DELETE", "/memories", "user_id=a",
	    "/memories?user_id=a", NULL, "Token k1", NULL, NULL);
	got[0] = scope_with("DELETE", "/memories", "user_id=a",
	    "/memories?user_id=a", NULL, "Token k1", NULL, NULL);
	ck_assert_str_eq(sp, got[0]);		/* and it is stable */
	free(sp);
	free(got[0]);
}
END_TEST

/* An instruction for a classified request (query, ctype, body may be NULL). */
static char *
instruction_of(const char *method, const char *path, const char *query,
    const char *ctype, const char *body, const char *reason, long count,
    int capped)
{
	struct gate_instr	 in;
	struct route		 r;
	struct buf		 out, why;

	ck_assert_int_eq(route_classify(&r, method, path, query, body,
	    body ? strlen(body) : 0, ctype, ROUTE_DIALECT_AUTO), 0);
	buf_init(&why, 1024);
	ck_assert_int_eq(gate_reason(&why, &anon, &r, reason), 0);
	memset(&in, 0, sizeof(in));
	in.route = &r;
	in.scope = "S";
	in.reason = why.data;
	in.count = count;
	in.count_capped = capped;
	in.expires = 1767225600LL;
	buf_init(&out, 8192);
	ck_assert_int_eq(gate_instruction(&out, &anon, &in), 0);
	buf_free(&why);
	route_free(&r);
	return (buf_steal(&out));
}

START_TEST(test_instruction)
{
	static const char *const sections[] = { "DELIVERABLES",
	    "SUCCESS_CRITERIA", "BOUNDARIES", "DEPENDENCIES", "MITIGATION",
	    "TEST_PROCESS", "TEST_RESULTS_FORMAT", "RESOURCE_REQUIREMENTS",
	    "RISK_ASSESSMENT", "QUALITY_METRICS" };
	struct gate_instr	 in;
	struct route		 r;
	struct buf		 out;
	char			 scope[256];
	size_t			 i;

	ck_assert_int_eq(route_classify(&r, "DELETE", "/memories",
	    "user_id=alice%40example.com", NULL, 0, NULL, ROUTE_DIALECT_AUTO),
	    0);
	memset(&in, 0, sizeof(in));
	in.route = &r;
	in.scope = "DELETE /memories oss user=" U_ALICE " digest=00";
	in.reason = "erase please";
	in.count = 12;
	in.expires = 1767225600LL;
	buf_init(&out, 8192);
	ck_assert_int_eq(gate_instruction(&out, &anon, &in), 0);
	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		ck_assert_msg(strstr(out.data, sections[i]) != NULL,
		    "section %s missing:\n%s", sections[i], out.data);
	}
	ck_assert_ptr_nonnull(strstr(out.data, "\nUSER: user " U_ALICE "\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "\nREASON: erase please\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "\nAFFECTED: 12 memories\n"));
	ck_assert_ptr_nonnull(strstr(out.data,
	    "\nEXPIRES: 2026-01-01T00:00:00Z\n"));
	ck_assert_ptr_null(strstr(out.data, "IGNORED"));
	ck_assert_ptr_null(strstr(out.data, "alice"));
	ck_assert_int_eq(gate_scope_of(out.data, scope, sizeof(scope)), 0);
	ck_assert_str_eq(scope, "DELETE /memories oss user=" U_ALICE
	    " digest=00");
	buf_reset(&out);
	in.reason = NULL;
	in.count = -1;
	ck_assert_int_eq(gate_instruction(&out, &anon, &in), 0);
	ck_assert_ptr_nonnull(strstr(out.data, "\nREASON: not given\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "\nAFFECTED: unknown "));
	buf_reset(&out);
	in.count = 1000;
	in.count_capped = 1;
	ck_assert_int_eq(gate_instruction(&out, &anon, &in), 0);
	ck_assert_ptr_nonnull(strstr(out.data,
	    "\nAFFECTED: at least 1000 memories\n"));
	buf_free(&out);
	route_free(&r);

	ck_assert_int_eq(gate_scope_of("no scope here", scope, sizeof(scope)),
	    -1);
	ck_assert_int_eq(gate_scope_of("SCOPE: xy", scope, 2), -1);
	ck_assert_int_eq(gate_scope_of(NULL, scope, sizeof(scope)), -1);
}
END_TEST

/* The approver is shown what Mem0 will do, from what Mem0 reads. */
START_TEST(test_subjects)
{
	static const struct {
		const char	*method, *path, *query, *ctype, *body;
		const char	*user;		/* the USER line */
		const char	*ignored;	/* the IGNORED line, or NULL */
	} cases[] = {
		/* Platform delete-all: the query, and only the query. */
		{ "DELETE", "/v1/memories/", NULL, "application/json",
		    "{\"user_id\":\"alice@example.com\"}",
		    "ALL memories of the project (no user, agent, app or run "
		    "filter)", "IGNORED: the request also names user " U_ALICE
		    " in its body; Mem0 does not read them for this request, "
		    "so they do not narrow what it affects." },
		{ "DELETE", "/v1/memories/", NULL,
		    "application/x-www-form-urlencoded",
		    "user_id=alice%40example.com", "ALL memories of the "
		    "project (no user, agent, app or run filter)",
		    "IGNORED: the request also names user " U_ALICE
		    " in its body; Mem0 does not read them for this request, "
		    "so they do not narrow what it affects." },
		{ "DELETE", "/v1/memories/", NULL, NULL, NULL,
		    "ALL memories of the project (no user, agent, app or run "
		    "filter)", NULL },
		{ "DELETE", "/v1/memories/", "user_id=bob&user_id="
		    "alice%40example.com&agent_id=*", NULL, NULL,
		    "user " U_ALICE ", all agents", NULL },
		{ "DELETE", "/v1/memories/", "user_id=alice%40example.com&"
		    "user_id=", NULL, NULL, "ALL memories of the project (no "
		    "user, agent, app or run filter)", NULL },
		/* OSS: query; there is no app_id there. */
		{ "DELETE", "/memories", "app_id=alice%40example.com", NULL,
		    NULL, "ALL memories of the project (no user, agent, app or "
		    "run filter)", "IGNORED: the request also names app p:"
		    "f3d6ddc7 in its query; Mem0 does not read them for this "
		    "request, so they do not narrow what it affects." },
		/* Entity deletes: the path. */
		{ "DELETE", "/v2/entities/user/alice%40example.com/",
		    "agent_id=x", NULL, NULL, "user " U_ALICE, "IGNORED: the "
		    "request also names agent a:68f4d9c0 in its query; Mem0 "
		    "does not read them for this request, so they do not "
		    "narrow what it affects." },
		{ "DELETE", "/entities/nope/x", NULL, NULL, NULL,
		    "no known entity", NULL },
		/* Reset, batches, linked deletes, destroy. */
		{ "POST", "/reset", NULL, NULL, NULL,
		    "ALL memories of ALL entities", NULL },
		{ "DELETE", "/v1/batch/", NULL, "application/json",
		    "{\"memories\":[{\"memory_id\":\"a\"},{\"memory_id\":\"b\"}]}",
		    "the 2 listed memories", NULL },
		{ "DELETE", "/v1/memories/3f1c2b7e-9d7a-4a39-8d3b-0c6f3f0b8a11/",
		    "delete_linked=true", NULL, NULL, "memory 3f1c2b7e-9d7a-"
		    "4a39-8d3b-0c6f3f0b8a11 and every memory linked to it",
		    NULL },
		{ "DELETE", "/api/v1/orgs/organizations/o1/", NULL, NULL, NULL,
		    "the whole organization or project and ALL its memories",
		    NULL },
	};
	size_t	 i;
	char	*got, want[1024];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = instruction_of(cases[i].method, cases[i].path,
		    cases[i].query, cases[i].ctype, cases[i].body, NULL, -1, 0);
		snprintf(want, sizeof(want), "\nUSER: %s\n", cases[i].user);
		ck_assert_msg(strstr(got, want) != NULL, "case %zu: no %s in:\n%s",
		    i, want, got);
		if (cases[i].ignored != NULL) {
			snprintf(want, sizeof(want), "\n%s\n", cases[i].ignored);
			ck_assert_msg(strstr(got, want) != NULL,
			    "case %zu: no %s in:\n%s", i, want, got);
		} else
			ck_assert_msg(strstr(got, "IGNORED") == NULL,
			    "case %zu: IGNORED in:\n%s", i, got);
		ck_assert_msg(strstr(got, "alice") == NULL &&
		    strstr(got, "bob") == NULL, "case %zu: raw id:\n%s", i,
		    got);
		free(got);
	}
}
END_TEST

/*
 * Wingman's risk rules (wingman-api.md, section 4): HIGH when task name,
 * instruction or environment holds one of these, case-insensitive.
 */
static int
wingman_high(const char *task, const char *instr, const char *env)
{
	static const char *const high[] = { "prod", "production", "drop ",
	    "truncate ", "delete ", "rm -", "wipe", "format ", "rotate key",
	    "secret", "token", "password", "client secret", "--force",
	    "--delete" };
	char	 text[16384];
	size_t	 i;

	snprintf(text, sizeof(text), "%s\n%s\n%s", task, instr, env);
	for (i = 0; text[i] != '\0'; i++)
		text[i] = (char)tolower((unsigned char)text[i]);
	if (strcmp(env, "prd") == 0)
		return (1);
	for (i = 0; i < sizeof(high) / sizeof(high[0]); i++)
		if (strstr(text, high[i]) != NULL)
			return (1);
	return (0);
}

/* Every gated kind asks a human (unless Wingman's policy says not). */
START_TEST(test_every_kind_is_high_risk)
{
	static const struct {
		const char	*method, *path, *query, *body;
	} cases[] = {
		{ "DELETE", "/memories", "user_id=a", NULL },
		{ "DELETE", "/entities/user/a", NULL, NULL },
		{ "POST", "/reset", NULL, NULL },
		{ "POST", "/configure", NULL, "{\"llm\":{}}" },
		{ "DELETE", "/v1/memories/", NULL, NULL },
		{ "DELETE", "/v1/batch/", NULL, "{\"memories\":[]}" },
		{ "PUT", "/v1/batch/", NULL, "{\"memories\":[]}" },
		{ "DELETE", "/v2/entities/agent/x/", NULL, NULL },
		{ "DELETE", "/v1/entities/user/42/", NULL, NULL },
		{ "DELETE", "/v1/memories/m1/", "delete_linked=1", NULL },
		{ "DELETE", "/api/v1/orgs/organizations/o/", NULL, NULL },
		{ "DELETE", "/api/v1/orgs/organizations/o/projects/p/", NULL,
		    NULL },
		{ "PATCH", "/api/v1/orgs/organizations/o/projects/p/", NULL,
		    "{}" },
	};
	struct route	 r;
	size_t		 i;
	char		*got;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = instruction_of(cases[i].method, cases[i].path,
		    cases[i].query, NULL, cases[i].body, NULL, -1, 0);
		ck_assert_int_eq(route_classify(&r, cases[i].method,
		    cases[i].path, cases[i].query, cases[i].body,
		    cases[i].body ? strlen(cases[i].body) : 0, NULL,
		    ROUTE_DIALECT_AUTO), 0);
		ck_assert_msg(r.kind == ROUTE_BULK_DELETE ||
		    r.kind == ROUTE_RESET || r.kind == ROUTE_DESTROY ||
		    r.kind == ROUTE_BULK_UPDATE ||
		    r.kind == ROUTE_CONFIG_WRITE, "case %zu: not gated", i);
		ck_assert_msg(wingman_high(gate_task_name(NULL, &r), got,
		    "dev"), "case %zu (%s): Wingman would rate it below HIGH:"
		    "\n%s", i, route_kind_name(r.kind), got);
		route_free(&r);
		free(got);
	}
	/* The rule itself can say no. */
	ck_assert_int_eq(wingman_high("Memory Reset", "POST /reset", "dev"),
	    0);
}
END_TEST

START_TEST(test_reason)
{
	char	 reason[1000], *got;
	const char *p, *nl;

	memset(reason, 'x', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	got = instruction_of("POST", "/reset", NULL, NULL, NULL, reason, -1, 0);
	p = strstr(got, "\nREASON: ");
	ck_assert_ptr_nonnull(p);
	nl = strchr(p + 1, '\n');
	ck_assert_int_eq(nl - (p + 9), GATE_REASON_MAX);
	free(got);
	/* Ids of the request, e-mail addresses, phone numbers: pseudonyms. */
	got = instruction_of("DELETE", "/v1/memories/",
	    "user_id=alice%40example.com", NULL, NULL, "GDPR #4711 for "
	    "alice@example.com, call +1 555 123 4567\n", -1, 0);
	ck_assert_msg(strstr(got, "\nREASON: GDPR #4711 for " U_ALICE
	    ", call [redacted]?\n") != NULL, "%s", got);
	free(got);
	got = instruction_of("DELETE", "/entities/user/mark_carey%2Fwork",
	    NULL, NULL, NULL, "mark_carey/work asked", -1, 0);
	ck_assert_msg(strstr(got, "\nREASON: u:") != NULL &&
	    strstr(got, "mark_carey") == NULL, "%s", got);
	free(got);
}
END_TEST

START_TEST(test_verdicts)
{
	static const struct {
		const char		*status;
		long long		 age;
		int			 past_deadline;
		int			 immediate;
		int			 human;		/* require_human */
		int			 decided_by;
		enum gate_verdict	 want;
	} cases[] = {
		{ "APPROVED", 10, 0, 0, 0, 1, GATE_V_FORWARD },
		{ "APPROVED", 10, 0, 0, 0, 0, GATE_V_FORWARD },
		{ "APPROVED", -1, 1, 0, 0, 1, GATE_V_FORWARD },
		{ "APPROVED", 3601, 0, 0, 0, 1, GATE_V_EXPIRED },
		/* Automatic approval: only as the answer to the request. */
		{ "AUTO_APPROVED", -1, 0, 1, 0, 0, GATE_V_FORWARD },
		{ "AUTO_APPROVED", 10, 0, 0, 0, 0, GATE_V_INVALID },
		{ "AUTO_APPROVED", 10, 1, 0, 0, 1, GATE_V_INVALID },
		/* gate.require_human */
		{ "AUTO_APPROVED", -1, 0, 1, 1, 0, GATE_V_NOT_HUMAN },
		{ "APPROVED", 10, 0, 0, 1, 0, GATE_V_NOT_HUMAN },
		{ "APPROVED", 10, 0, 0, 1, 1, GATE_V_FORWARD },
		{ "REJECTED", 10, 0, 0, 0, 1, GATE_V_REJECTED },
		{ "AUTO_REJECTED", 10, 0, 1, 0, 0, GATE_V_REJECTED },
		{ "REJECTED", 99999, 1, 0, 1, 0, GATE_V_REJECTED },
		{ "EXPIRED", 10, 0, 0, 0, 0, GATE_V_EXPIRED },
		{ "PENDING", 10, 0, 0, 0, 0, GATE_V_POLL },
		{ "PENDING", 10, 1, 0, 0, 0, GATE_V_TIMEOUT },
		{ "PENDING", 3601, 0, 0, 0, 0, GATE_V_EXPIRED },
		{ "approved", 10, 0, 0, 0, 1, GATE_V_UNAVAILABLE },
		{ "", 10, 0, 0, 0, 0, GATE_V_UNAVAILABLE },
		{ NULL, 10, 0, 0, 0, 0, GATE_V_UNAVAILABLE },
	};
	struct gate_view	 v;
	enum gate_verdict	 got;
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&v, 0, sizeof(v));
		v.status = cases[i].status;
		v.age_s = cases[i].age;
		v.ttl_s = 3600;
		v.past_deadline = cases[i].past_deadline;
		v.immediate = cases[i].immediate;
		v.require_human = cases[i].human;
		v.decided_by = cases[i].decided_by;
		got = gate_verdict(&v);
		ck_assert_msg(got == cases[i].want, "case %zu (%s): got %d, "
		    "want %d", i, cases[i].status ? cases[i].status : "NULL",
		    got, cases[i].want);
	}
}
END_TEST

START_TEST(test_task_names)
{
	static const struct {
		enum route_kind	 kind;
		const char	*want;
	} cases[] = {
		{ ROUTE_BULK_DELETE, "Bulk Memory Deletion" },
		{ ROUTE_RESET, "Memory Reset" },
		{ ROUTE_DESTROY, "Organization or Project Deletion" },
		{ ROUTE_BULK_UPDATE, "Bulk Memory Update" },
		{ ROUTE_CONFIG_WRITE, "Memory Configuration Change" },
	};
	struct route	 r;
	size_t		 i;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r.kind = cases[i].kind;
		ck_assert_str_eq(gate_task_name(NULL, &r), cases[i].want);
	}
}
END_TEST

UNIT_MAIN_FIXTURE("gate", setup, teardown,
    test_scope_lines, test_scope_binds_the_exact_request,
    test_scope_binds_method_credential_and_type, test_instruction,
    test_subjects, test_every_kind_is_high_risk, test_reason, test_verdicts,
    test_task_names)
