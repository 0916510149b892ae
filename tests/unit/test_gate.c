/*
 * Unit tests: the approval gate's pure parts: SCOPE lines, the ten-section
 * instruction, reading SCOPE back, task names, and the state machine's
 * verdict table. The asynchronous flow is covered end to end in
 * tests/e2e/test_gate.py.
 */
#include "unit.h"
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

/* SCOPE of a classified request (body may be NULL). */
static char *
scope_of(const char *method, const char *path, const char *query,
    const char *target, const char *body)
{
	struct route	 r;
	struct buf	 out;

	ck_assert_int_eq(route_classify(&r, method, path, query, body,
	    body ? strlen(body) : 0, NULL, ROUTE_DIALECT_AUTO), 0);
	buf_init(&out, 1024);
	ck_assert_int_eq(gate_scope(&out, &anon, &r, method, target, body,
	    body ? strlen(body) : 0), 0);
	route_free(&r);
	return (buf_steal(&out));
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

START_TEST(test_instruction)
{
	static const char *const sections[] = { "DELIVERABLES",
	    "SUCCESS_CRITERIA", "BOUNDARIES", "DEPENDENCIES", "MITIGATION",
	    "TEST_PROCESS", "TEST_RESULTS_FORMAT", "RESOURCE_REQUIREMENTS",
	    "RISK_ASSESSMENT", "QUALITY_METRICS" };
	struct route	 r;
	struct buf	 out;
	char		 scope[256];
	size_t		 i;

	ck_assert_int_eq(route_classify(&r, "DELETE", "/memories",
	    "user_id=alice%40example.com", NULL, 0, NULL, ROUTE_DIALECT_AUTO), 0);
	buf_init(&out, 8192);
	ck_assert_int_eq(gate_instruction(&out, &anon, &r, "DELETE /memories "
	    "oss user=" U_ALICE " digest=00", "erase\nme\x01 please", 12,
	    1767225600LL), 0);
	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		ck_assert_msg(strstr(out.data, sections[i]) != NULL,
		    "section %s missing:\n%s", sections[i], out.data);
	}
	ck_assert_ptr_nonnull(strstr(out.data, "\nUSER: user " U_ALICE "\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "\nREASON: erase?me? please\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "\nAFFECTED: 12 memories\n"));
	ck_assert_ptr_nonnull(strstr(out.data,
	    "\nEXPIRES: 2026-01-01T00:00:00Z\n"));
	/* Wingman's risk rules: "delete " makes it HIGH, never LOW. */
	ck_assert_ptr_nonnull(strstr(out.data, "Delete "));
	ck_assert_ptr_null(strstr(out.data, "alice"));
	ck_assert_int_eq(gate_scope_of(out.data, scope, sizeof(scope)), 0);
	ck_assert_str_eq(scope, "DELETE /memories oss user=" U_ALICE
	    " digest=00");
	buf_reset(&out);
	ck_assert_int_eq(gate_instruction(&out, &anon, &r, "S", NULL, -1, 0),
	    0);
	ck_assert_ptr_nonnull(strstr(out.data, "\nREASON: not given\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "\nAFFECTED: unknown "));
	buf_free(&out);
	route_free(&r);

	ck_assert_int_eq(gate_scope_of("no scope here", scope, sizeof(scope)),
	    -1);
	ck_assert_int_eq(gate_scope_of("SCOPE: xy", scope, 2), -1);
	ck_assert_int_eq(gate_scope_of(NULL, scope, sizeof(scope)), -1);
}
END_TEST

START_TEST(test_reason_is_capped)
{
	struct route	 r;
	struct buf	 out;
	char		 reason[1000];
	const char	*p, *nl;

	memset(reason, 'x', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	ck_assert_int_eq(route_classify(&r, "POST", "/reset", NULL, NULL, 0, NULL,
	    ROUTE_DIALECT_AUTO), 0);
	buf_init(&out, 8192);
	ck_assert_int_eq(gate_instruction(&out, &anon, &r, "S", reason, -1, 0),
	    0);
	p = strstr(out.data, "\nREASON: ");
	ck_assert_ptr_nonnull(p);
	nl = strchr(p + 1, '\n');
	ck_assert_int_eq(nl - (p + 9), 200);
	ck_assert_ptr_nonnull(strstr(out.data, "all entities"));
	buf_free(&out);
	route_free(&r);
}
END_TEST

START_TEST(test_verdicts)
{
	static const struct {
		const char		*status;
		long long		 age;
		int			 past_deadline;
		enum gate_verdict	 want;
	} cases[] = {
		{ "APPROVED", 10, 0, GATE_V_FORWARD },
		{ "AUTO_APPROVED", 10, 0, GATE_V_FORWARD },
		{ "APPROVED", -1, 1, GATE_V_FORWARD },
		{ "APPROVED", 3601, 0, GATE_V_EXPIRED },
		{ "REJECTED", 10, 0, GATE_V_REJECTED },
		{ "AUTO_REJECTED", 10, 0, GATE_V_REJECTED },
		{ "REJECTED", 99999, 1, GATE_V_REJECTED },
		{ "EXPIRED", 10, 0, GATE_V_EXPIRED },
		{ "PENDING", 10, 0, GATE_V_POLL },
		{ "PENDING", 10, 1, GATE_V_TIMEOUT },
		{ "PENDING", 3601, 0, GATE_V_EXPIRED },
		{ "approved", 10, 0, GATE_V_UNAVAILABLE },
		{ "", 10, 0, GATE_V_UNAVAILABLE },
		{ NULL, 10, 0, GATE_V_UNAVAILABLE },
	};
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(gate_verdict(cases[i].status, cases[i].age, 3600,
		    cases[i].past_deadline) == cases[i].want,
		    "case %zu (%s): got %d, want %d", i,
		    cases[i].status ? cases[i].status : "NULL",
		    gate_verdict(cases[i].status, cases[i].age, 3600,
		    cases[i].past_deadline), cases[i].want);
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
    test_scope_lines, test_scope_binds_the_exact_request, test_instruction,
    test_reason_is_capped, test_verdicts, test_task_names)
