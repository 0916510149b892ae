/* Unit tests: upstream header rules (RFC 9110 hop-by-hop). */
#include "unit.h"
#include <stdlib.h>
#include <string.h>

#include "front.h"
#include "upstream.h"

START_TEST(test_hop_by_hop)
{
	static const struct {
		const char	*name;
		const char	*connection;
		int		 want;
	} cases[] = {
		{ "Connection", NULL, 1 }, { "keep-alive", NULL, 1 },
		{ "Transfer-Encoding", NULL, 1 }, { "TE", NULL, 1 },
		{ "Trailer", NULL, 1 }, { "Upgrade", NULL, 1 },
		{ "Proxy-Authorization", NULL, 1 },
		{ "Proxy-Authenticate", NULL, 1 },
		{ "Proxy-Connection", NULL, 1 },
		{ "Authorization", NULL, 0 }, { "Mem0-User-ID", NULL, 0 },
		{ "X-Secret-Hop", "keep-alive, X-Secret-Hop", 1 },
		{ "x-secret-hop", "close,X-SECRET-HOP", 1 },
		{ "X-Secret", "X-Secret-Hop", 0 },
		{ "X-Other", "close", 0 },
		{ "Content-Type", "", 0 },
	};
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(up_is_hop_by_hop(cases[i].name,
		    cases[i].connection) == cases[i].want,
		    "%s (Connection: %s): got %d, want %d", cases[i].name,
		    cases[i].connection ? cases[i].connection : "-",
		    !cases[i].want, cases[i].want);
}
END_TEST

START_TEST(test_error_codes)
{
	static const struct {
		enum up_error	 e;
		const char	*want;
	} cases[] = {
		{ UP_UNREACHABLE, "upstream_unreachable" },
		{ UP_TIMEOUT, "upstream_timeout" },
		{ UP_TOO_LARGE, "upstream_response_too_large" },
		{ UP_BAD_RESPONSE, "upstream_bad_response" },
		{ UP_ABORTED, "shutting_down" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_str_eq(up_error_code(cases[i].e), cases[i].want);
}
END_TEST

START_TEST(test_request_id_validation)
{
	static const struct {
		const char	*id;
		int		 want;
	} cases[] = {
		/* Kept: a UUID, or 16 to 64 hex digits, not all decimal. */
		{ "0b5e1c3a-1111-4a2b-9c3d-222233334444", 1 },
		{ "0B5E1C3A-1111-4A2B-9C3D-222233334444", 1 },
		{ "0123456789abcdef", 1 },
		{ "abababababababab", 1 },
		{ "0123456789abcdef0123456789abcdef0123", 1 },
		/* a long number could be a card number */
		{ "4111111111111111", 0 }, { "0000000000000000", 0 },
		/* Anything else may carry personal data: replaced. */
		{ "0123456789abcde", 0 }, { "0123456789abcdeg", 0 },
		{ "0b5e1c3a-1111-4a2b-9c3d-22223333444", 0 },
		{ "0b5e1c3a-1111-4a2b-9c3d-2222333344444", 0 },
		{ "0b5e1c3a11114a2b-9c3d-222233334444-", 0 },
		{ "0b5e1c3a-1111-4a2b-9c3d-22223333444z", 0 },
		{ "abc-123", 0 }, { "A.b_c:d-e", 0 }, { "", 0 },
		{ "has space", 0 }, { "quote\"", 0 }, { "new\nline", 0 },
		{ "alice@example.com", 0 }, { "alice", 0 },
		{ "deadbeefdeadbeef\n", 0 },
	};
	char	 longid[FRONT_REQUEST_ID_MAX + 2];
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(front_request_id_valid(cases[i].id) ==
		    cases[i].want, "'%s': want %d", cases[i].id,
		    cases[i].want);
	memset(longid, 'a', sizeof(longid) - 1);
	longid[FRONT_REQUEST_ID_MAX] = '\0';
	ck_assert_int_eq(front_request_id_valid(longid), 1);
	longid[FRONT_REQUEST_ID_MAX] = 'a';
	longid[FRONT_REQUEST_ID_MAX + 1] = '\0';
	ck_assert_int_eq(front_request_id_valid(longid), 0);
}
END_TEST

UNIT_MAIN("upstream",
    test_hop_by_hop, test_error_codes, test_request_id_validation)
