/*
 * Unit tests: the admin documents' routing (admin.h): which path gets
 * which answer, read-only methods, and the Host rule on loopback that
 * keeps a rebound web page out. The documents that read live state
 * (readyz, metrics, status.json) are tested end to end (test_admin.py).
 */
#include "unit.h"
#include <stdlib.h>
#include <string.h>

#include "admin.h"

START_TEST(test_host_is_literal)
{
	static const struct {
		const char	*host;
		int		 want;
	} cases[] = {
		{ "127.0.0.1", 1 },
		{ "127.0.0.1:9090", 1 },
		{ "localhost", 1 },
		{ "LOCALHOST:9090", 1 },
		{ "[::1]", 1 },
		{ "[::1]:9090", 1 },
		{ "10.1.2.3", 1 },
		{ "evil.example", 0 },
		{ "evil.example:9090", 0 },
		{ "127.0.0.1.nip.io", 0 },
		{ "localhost.evil.example", 0 },
		{ "127.0.0.1:90x", 0 },
		{ "[::1", 0 },
		{ "[::1]x", 0 },
		{ "", 0 },
	};
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(admin_host_is_literal(cases[i].host) ==
		    cases[i].want, "%s: want %d", cases[i].host,
		    cases[i].want);
}
END_TEST

START_TEST(test_routes)
{
	static const struct {
		const char	*method, *path, *host;
		int		 loopback;
		enum admin_kind	 kind;
		unsigned int	 status;
		const char	*has;		/* in the body, or NULL */
	} cases[] = {
		{ "GET", "/healthz", "127.0.0.1:9090", 1, ADMIN_JSON, 200,
		    "\"ok\"" },
		{ "GET", "/_proxy/healthz", NULL, 1, ADMIN_JSON, 200, "ok" },
		{ "HEAD", "/healthz", "localhost", 1, ADMIN_JSON, 200, "ok" },
		{ "POST", "/healthz", "127.0.0.1", 1, ADMIN_JSON, 405,
		    "read-only" },
		{ "DELETE", "/approvals/x", "127.0.0.1", 1, ADMIN_JSON, 405,
		    "read-only" },
		{ "GET", "/metrics", "attacker.example", 1, ADMIN_JSON, 421,
		    "misdirected_request" },
		/* Off loopback, the name is the operator's to choose. */
		{ "GET", "/healthz", "proxy.internal", 0, ADMIN_JSON, 200,
		    "ok" },
		{ "GET", "/status", "127.0.0.1", 1, ADMIN_PAGE, 200, "<" },
		{ "GET", "/", "127.0.0.1", 1, ADMIN_PAGE, 200, "<" },
		{ "GET", "/status.js", "127.0.0.1", 1, ADMIN_PAGE, 200, NULL },
		{ "GET", "/approvals/abc-123", "127.0.0.1", 1, ADMIN_APPROVAL,
		    0, NULL },
		{ "GET", "/_proxy/approvals/abc", "127.0.0.1", 1,
		    ADMIN_APPROVAL, 0, NULL },
		{ "GET", "/nope", "127.0.0.1", 1, ADMIN_JSON, 404,
		    "/status.json" },
	};
	static char		 lo[] = "127.0.0.1", any[] = "0.0.0.0";
	struct admin_facts	 f;
	struct admin_doc	 d;
	struct config		 cfg;
	size_t			 i;

	memset(&cfg, 0, sizeof(cfg));
	memset(&f, 0, sizeof(f));
	f.cfg = &cfg;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg.admin_host = cases[i].loopback ? lo : any;
		ck_assert_int_eq(admin_reply(&f, cases[i].method,
		    cases[i].path, cases[i].host, &d), 0);
		ck_assert_msg(d.kind == cases[i].kind, "%s %s: kind %d, want "
		    "%d", cases[i].method, cases[i].path, d.kind,
		    cases[i].kind);
		if (d.kind == ADMIN_APPROVAL) {
			ck_assert_msg(strncmp(d.approval_id, "abc", 3) == 0,
			    "%s: id %s", cases[i].path, d.approval_id);
			continue;
		}
		ck_assert_msg(d.status == cases[i].status, "%s %s: status %u, "
		    "want %u", cases[i].method, cases[i].path, d.status,
		    cases[i].status);
		ck_assert(d.body != NULL && d.len == strlen(d.body));
		if (cases[i].has != NULL)
			ck_assert_msg(strstr(d.body, cases[i].has) != NULL,
			    "%s: %s", cases[i].path, d.body);
		admin_doc_free(&d);
	}
}
END_TEST

START_TEST(test_client_listener)
{
	struct admin_facts	 f;
	struct admin_doc	 d;

	memset(&f, 0, sizeof(f));
	ck_assert_int_eq(admin_client_reply(&f, "/v1/memories/", &d), 0);
	ck_assert_int_eq(admin_client_reply(&f, "/_proxyx", &d), 0);
	ck_assert_int_eq(admin_client_reply(&f, "/_proxy/healthz", &d), 1);
	ck_assert_uint_eq(d.status, 200);
	ck_assert_int_eq(admin_client_reply(&f, "/_proxy/metrics", &d), 1);
	ck_assert_uint_eq(d.status, 404);
	ck_assert_ptr_nonnull(strstr(d.body, "admin_listen"));
}
END_TEST

int
main(void)
{
	const TTest *const tests[] = {
		test_host_is_literal,
		test_routes,
		test_client_listener,
	};

	return (unit_run(unit_suite("admin", tests,
	    sizeof(tests) / sizeof(tests[0]), NULL, NULL)));
}
