/*
 * Unit tests for what wingman.c decides from a reply's bytes alone:
 * wm_parse_json() (a reply is one JSON value or nothing) and
 * wm_reply_logged() (when a claim may leave the spool).
 */
#include "unit.h"
#include <string.h>

#include "wingman.h"

START_TEST(test_parse_json)
{
	static const struct {
		const char	*body;
		size_t		 len;		/* 0: strlen(body) */
		int		 want;		/* 1 parsed, 0 refused */
	} cases[] = {
		{ "{\"pending\": []}", 0, 1 },
		{ "  {\"a\": 1}\r\n\t ", 0, 1 },	/* Flask ends with \n */
		{ "[1, 2]", 0, 1 },
		{ "\"text\"", 0, 1 },
		{ "{\"a\": 1} {\"b\": 2}", 0, 0 },	/* a second value */
		{ "{\"a\": 1}]]}", 0, 0 },
		{ "{\"a\": 1}x", 0, 0 },
		{ "{\"a\": 1}\0junk", 13, 0 },		/* a NUL, then more */
		{ "{\"a\": 1}\0", 9, 0 },
		{ "{\"a\": 1", 0, 0 },			/* cut */
		{ "", 0, 0 },
		{ "   ", 0, 0 },
		{ "{\"a\": 1}", 5, 0 },			/* len cuts it */
		{ "{\"a\": 1}  trailing", 10, 1 },	/* len ends in spaces */
	};
	cJSON	*j;
	size_t	 i, len;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].body);
		j = wm_parse_json(cases[i].body, len);
		ck_assert_msg((j != NULL) == cases[i].want, "case %zu (%.*s): "
		    "got %s, want %s", i, (int)len, cases[i].body,
		    j != NULL ? "parsed" : "refused",
		    cases[i].want ? "parsed" : "refused");
		cJSON_Delete(j);
	}
	ck_assert_ptr_null(wm_parse_json(NULL, 0));
}
END_TEST

START_TEST(test_reply_logged)
{
	static const struct {
		long		 status;
		const char	*body;
		int		 want;
	} cases[] = {
		{ 200, "{\"status\": \"logged\", \"id\": 7}\n", 1 },
		{ 200, "{\"status\": \"logged\"}", 1 },
		{ 201, "{\"status\": \"logged\"}", 0 },
		{ 500, "{\"status\": \"logged\"}", 0 },
		{ 200, "{\"status\": \"duplicate\"}", 0 },
		{ 200, "{\"status\": \"LOGGED\"}", 0 },
		{ 200, "{\"status\": 1}", 0 },
		{ 200, "{\"status\": \"logged\"} trailing", 0 },
		{ 200, "<html>logged</html>", 0 },
		{ 200, "", 0 },
	};
	size_t	 i;
	int	 got;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = wm_reply_logged(cases[i].status, cases[i].body,
		    strlen(cases[i].body));
		ck_assert_msg(got == cases[i].want, "case %zu (%ld %s): got "
		    "%d, want %d", i, cases[i].status, cases[i].body, got,
		    cases[i].want);
	}
	ck_assert_int_eq(wm_reply_logged(200, NULL, 0), 0);
}
END_TEST

UNIT_MAIN("wingman", test_parse_json, test_reply_logged)
