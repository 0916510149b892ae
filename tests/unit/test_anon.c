/* Unit tests: anon (HMAC pseudonyms, key files). */
#include <sys/stat.h>

#include "unit.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anon.h"

static const char key16[] = "0123456789abcdef";
/* HMAC-SHA256(key16, "mary ann"), first 8 hex digits. */
#define MARY_ANN "u:4d2ddab5"

START_TEST(test_known_vectors)
{
	/*
	 * Expected values from an independent HMAC-SHA256 implementation
	 * (python3 -c "import hmac,hashlib; print(hmac.new(b'0123456789abcdef',
	 * b'alice@example.com', hashlib.sha256).hexdigest()[:8])").
	 */
	static const struct {
		char		 letter;
		const char	*value;
		const char	*want;
	} cases[] = {
		{ 'u', "alice@example.com", "u:f3d6ddc7" },
		{ 'a', "support-bot", "a:9cb803ae" },
		{ 'u', "*", "u:*" },
		{ 'r', "", "r:496dc93f" },
	};
	struct anon	 a;
	char		 out[ANON_PSEUDO_LEN + 1];
	size_t		 i;

	ck_assert_int_eq(anon_init(&a, key16, 16), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		anon_pseudonym(&a, cases[i].letter, cases[i].value,
		    strlen(cases[i].value), out);
		ck_assert_msg(strcmp(out, cases[i].want) == 0,
		    "case %zu (%s): got %s, want %s", i, cases[i].value, out,
		    cases[i].want);
	}
	anon_free(&a);
}
END_TEST

START_TEST(test_stable_and_keyed)
{
	struct anon	 a, b;
	char		 p1[ANON_PSEUDO_LEN + 1], p2[ANON_PSEUDO_LEN + 1];
	char		 p3[ANON_PSEUDO_LEN + 1];

	ck_assert_int_eq(anon_init(&a, key16, 16), 0);
	ck_assert_int_eq(anon_init(&b, "another key, 16b", 16), 0);
	anon_pseudonym(&a, 'u', "bob", 3, p1);
	anon_pseudonym(&a, 'u', "bob", 3, p2);
	anon_pseudonym(&b, 'u', "bob", 3, p3);
	ck_assert_str_eq(p1, p2);
	ck_assert_str_ne(p1, p3);
	ck_assert_ptr_null(strstr(p1, "bob"));
	anon_free(&b);
	ck_assert_int_eq(anon_init(&b, "short", 5), -1);
	anon_free(&a);
	anon_free(&b);
	anon_free(&b);
}
END_TEST

START_TEST(test_key_files)
{
	char		 dir[] = "/tmp/anon-test-XXXXXX", path[256], err[256];
	char		 p1[ANON_PSEUDO_LEN + 1], p2[ANON_PSEUDO_LEN + 1];
	struct anon	 a, b;
	struct stat	 st;
	int		 fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/hmac.key", dir);

	/* Absent, create not allowed: error naming the file. */
	ck_assert_int_eq(anon_load_key(&a, path, 0, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, path));

	/* Absent, created 0600, then the same key on reload. */
	ck_assert_int_eq(anon_load_key(&a, path, 1, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(anon_load_key(&b, path, 1, err, sizeof(err)), 0);
	anon_pseudonym(&a, 'u', "carol", 5, p1);
	anon_pseudonym(&b, 'u', "carol", 5, p2);
	ck_assert_str_eq(p1, p2);
	anon_free(&a);
	anon_free(&b);

	/* Group-readable: refused. */
	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert_int_eq(anon_load_key(&a, path, 0, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "group or others"));
	unlink(path);

	/* Too short. */
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "short\n", 6), 6);
	close(fd);
	ck_assert_int_eq(anon_load_key(&a, path, 0, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "must hold"));
	unlink(path);
	rmdir(dir);
}
END_TEST

/* Free text: e-mails, long numbers and known ids never pass. */
START_TEST(test_redact)
{
	static const struct anon_known known[] = {
		{ 'u', "alice" }, { 'u', "mark_carey/personal" },
		{ 'a', "*" }, { 'r', "" }, { 'u', "mary ann" },
	};
	static const struct {
		const char	*in;
		size_t		 max;
		const char	*want;
	} cases[] = {
		{ "GDPR erasure #4711", 200, "GDPR erasure #4711" },
		{ "erase alice@example.com now", 200, "erase u:f3d6ddc7 now" },
		{ "erase alice%40example.com.", 200, "erase u:f3d6ddc7." },
		{ "<bob.smith@example.org>", 200, "<u:b106a7b4>" },
		{ "x@y.io,A.B+tag@sub.example.co.uk", 200,
		    "u:dc8cba3b,u:bdacc7cc" },
		/* Generous: a host name, a one-letter top-level part. */
		{ "not@mail, a@b.c, @x.com, me@", 200,
		    "u:6249266b, u:c8b9adc2, @x.com, me@" },
		{ "call +49 170 1234567 or (555) 123-4567", 200,
		    "call [redacted] or [redacted]" },
		{ "ticket 123456 and 1234567", 200,
		    "ticket 123456 and [redacted]" },
		{ "dated 2026-11-28", 200, "dated [redacted]" },
		{ "user alice asked; alice's data", 200,
		    "user u:fdbf8b1c asked; u:fdbf8b1c's data" },
		{ "malice and alicex stay", 200, "malice and alicex stay" },
		{ "ns mark_carey/personal gone", 200, "ns u:541ab9a6 gone" },
		{ "tab\there\xc3\xa9\n", 200, "tab?here???" },
		{ "cut here please", 8, "cut here" },
		{ "ab alice@example.com", 8, "ab " },
		{ "", 200, "" },
		/* every spelling a query string allows */
		{ "erase %61lice now", 200, "erase u:fdbf8b1c now" },
		{ "erase ALICE and Alice", 200, "erase u:fdbf8b1c and u:fdbf8b1c" },
		{ "erase alice%2540example.com", 200, "erase u:f3d6ddc7" },
		{ "erase alice%252540example.com", 200, "erase u:f3d6ddc7" },
		{ "for mary+ann and mary%20ann", 200, "for " MARY_ANN " and "
		    MARY_ANN },
		{ "%E2%80%8Balice", 200, "???u:fdbf8b1c" },
		{ "line%0Abreak%00", 200, "line?break?" },
		{ "100% sure, %zz %4", 200, "100% sure, %zz %4" },
		{ "call 555%2D123%2D4567", 200, "call [redacted]" },
		/* every spelling an address or a number can take */
		{ "john.doe%2525252540example.com", 200, "u:6a6ca95f" },
		{ "\"john.doe\"@example.com", 200, "u:26ba3b65" },
		{ "john.doe@ex\xc3\xa4mple.com", 200, "u:ff33d444" },
		{ "john.doe\xef\xbc\xa0" "example.com", 200, "u:6a6ca95f" },
		{ "mail john.doe @ example.com now", 200, "mail u:5822778a now" },
		/* an address right after a replaced one */
		{ "a@x.com+alice@example.com", 200, "u:4fe37d75u:ff0b2c26" },
		/* a number running into an address: the address wins */
		{ "call 170 170 1alice@example.com", 200, "call 170 170 u:e4287bf8" },
		{ "555,123,4567 or 555  123  4567", 200,
		    "[redacted] or [redacted]" },
		{ "555%09123%094567 and 4111_1111_1111_1111", 200,
		    "[redacted] and [redacted]" },
	};
	struct anon	 a;
	struct buf	 out;
	size_t		 i;

	ck_assert_int_eq(anon_init(&a, key16, 16), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_init(&out, 1024);
		ck_assert_int_eq(anon_redact(&out, &a, cases[i].in,
		    cases[i].max, known, sizeof(known) / sizeof(known[0])), 0);
		ck_assert_msg(strcmp(out.data != NULL ? out.data : "",
		    cases[i].want) == 0, "case %zu (%s):\n got  \"%s\"\n want "
		    "\"%s\"", i, cases[i].in, out.data != NULL ? out.data : "",
		    cases[i].want);
		ck_assert_uint_le(out.len, cases[i].max);
		buf_free(&out);
	}
	anon_free(&a);
}
END_TEST

UNIT_MAIN("anon",
    test_known_vectors, test_stable_and_keyed, test_key_files, test_redact)
