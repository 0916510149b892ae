/* Unit tests: buf (capped buffer). */
#include "unit.h"
#include <stdlib.h>
#include <string.h>

#include "buf.h"

START_TEST(test_cap_is_hard)
{
	static const struct {
		size_t		 max;
		const char	*parts[4];
		int		 want_rc[4];
		const char	*want;
	} cases[] = {
		{ 5, { "ab", "cd", "e", NULL }, { 0, 0, 0 }, "abcde" },
		/* The first refusal sticks: later appends, even ones that
		 * would fit, are refused too. */
		{ 5, { "abc", "def", "f", NULL }, { 0, -1, -1 }, "abc" },
		{ 0, { "a", "", NULL }, { -1, -1 }, "" },
		{ 3, { "abcd", "abc", "x", NULL }, { -1, -1, -1 }, "" },
		{ 3, { "", "abc", "", NULL }, { 0, 0, 0 }, "abc" },
	};
	size_t	 i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;

		buf_init(&b, cases[i].max);
		for (j = 0; cases[i].parts[j] != NULL; j++) {
			int rc = buf_append_str(&b, cases[i].parts[j]);
			ck_assert_msg(rc == cases[i].want_rc[j],
			    "case %zu part %zu: got rc %d, want %d", i, j, rc,
			    cases[i].want_rc[j]);
		}
		ck_assert_msg(b.len == strlen(cases[i].want) &&
		    (b.len == 0 || strcmp(b.data, cases[i].want) == 0),
		    "case %zu: got '%s', want '%s'", i,
		    b.data ? b.data : "(null)", cases[i].want);
		ck_assert_msg(b.len <= b.max, "case %zu: len over max", i);
		/* buf_result(): -1 once any append was refused. */
		for (j = 0; cases[i].parts[j] != NULL &&
		    cases[i].want_rc[j] == 0; j++)
			;
		ck_assert_msg(buf_result(&b) == (cases[i].parts[j] != NULL ?
		    -1 : 0), "case %zu: got result %d", i, buf_result(&b));
		buf_free(&b);
	}
}
END_TEST

START_TEST(test_printf_and_steal)
{
	struct buf	 b;
	char		*s;

	buf_init(&b, 16);
	ck_assert_int_eq(buf_printf(&b, "%d-%s", 42, "x"), 0);
	ck_assert_str_eq(b.data, "42-x");
	ck_assert_int_eq(buf_printf(&b, "%s", "0123456789abcdef"), -1);
	ck_assert_str_eq(b.data, "42-x");
	s = buf_steal(&b);
	ck_assert_str_eq(s, "42-x");
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	free(s);
	buf_free(&b);
}
END_TEST

START_TEST(test_grows_large)
{
	struct buf	 b;
	char		 chunk[1000];
	size_t		 i;

	memset(chunk, 'x', sizeof(chunk));
	buf_init(&b, 1000000);
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(buf_append(&b, chunk, sizeof(chunk)), 0);
	ck_assert_uint_eq(b.len, 1000000);
	ck_assert_int_eq(buf_append(&b, "y", 1), -1);
	ck_assert_int_eq(b.data[b.len], '\0');
	buf_free(&b);
}
END_TEST

/*
 * A sentence built as plain appends, checked once; buf_truncate() cuts
 * it and makes appends work again. Table: the cap, the words, the
 * length to cut back to after them (or -1), the word added after the
 * cut, then what buf_result() and the text must be.
 */
START_TEST(test_sticky_failure_and_truncate)
{
	static const struct {
		size_t		 max;
		const char	*words[4];
		long		 cut;
		const char	*after;
		int		 want_rc;
		const char	*want;
	} cases[] = {
		{ 16, { "one ", "two ", "three", NULL }, -1, NULL, 0,
		    "one two three" },
		{ 10, { "one ", "two ", "three", NULL }, -1, NULL, -1,
		    "one two " },
		{ 10, { "one ", "two ", "three", NULL }, 4, "+", 0, "one +" },
		{ 10, { "one ", "two ", "three", NULL }, 8, "cut!", -1,
		    "one two " },
		{ 10, { "one ", NULL }, 100, "x", 0, "one x" },
	};
	size_t	 i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;

		buf_init(&b, cases[i].max);
		for (j = 0; cases[i].words[j] != NULL; j++)
			buf_append_str(&b, cases[i].words[j]);
		if (cases[i].cut >= 0) {
			buf_truncate(&b, (size_t)cases[i].cut);
			ck_assert_int_eq(buf_result(&b), 0);
			buf_printf(&b, "%s", cases[i].after);
		}
		ck_assert_msg(buf_result(&b) == cases[i].want_rc,
		    "case %zu: got result %d, want %d", i, buf_result(&b),
		    cases[i].want_rc);
		ck_assert_msg(strcmp(b.data, cases[i].want) == 0,
		    "case %zu: got '%s', want '%s'", i, b.data,
		    cases[i].want);
		buf_reset(&b);
		ck_assert_int_eq(buf_result(&b), 0);
		ck_assert_int_eq(buf_append_str(&b, "ok"), 0);
		buf_free(&b);
	}
}
END_TEST

UNIT_MAIN("buf",
    test_cap_is_hard, test_printf_and_steal, test_grows_large,
    test_sticky_failure_and_truncate)
