/*
 * Unit tests: the claim chain (chain.h): the seal's format and MAC
 * (known answers computed with Python's hmac module), parsing of seals
 * and checkpoints, and the state file across restarts and damage.
 */
#include "unit.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chain.h"

static const char key16[] = "0123456789abcdef";
static const char zero[] = "00000000000000000000000000000000";
/*
 * K = HMAC-SHA256(key16, "mem0-audit-proxy chain key v1"); then
 * HMAC-SHA256(K, zero "\n" body)[:32 hex] for BODY1, and with that as
 * prev for BODY2 (Python's hmac module).
 */
#define BODY1	"Ping [op=ping method=GET status=200 request=rid-1 " \
		    "stream=00112233445566aa seq=1"
#define MAC1	"f569e774f04deec310a98f6f5cf7b544"
#define BODY2	"Ping [op=ping method=GET status=200 request=rid-2 " \
		    "stream=00112233445566aa seq=2"
#define MAC2	"abd61040f7c583318e4d36dd962a4028"

static char	 dir[64];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_chain.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char	 p[128];

	snprintf(p, sizeof(p), "%s/chain", dir);
	unlink(p);
	rmdir(dir);
}

START_TEST(test_mac_known_answers)
{
	struct chain_key	 ck;
	struct anon		 a;
	char			 mac[CHAIN_MAC_LEN + 1];

	ck_assert_int_eq(anon_init(&a, key16, 16), 0);
	chain_key_derive(&ck, &a);
	chain_mac(&ck, zero, BODY1, strlen(BODY1), mac);
	ck_assert_str_eq(mac, MAC1);
	chain_mac(&ck, MAC1, BODY2, strlen(BODY2), mac);
	ck_assert_str_eq(mac, MAC2);
	anon_free(&a);
}
END_TEST

START_TEST(test_parse_seals)
{
	static const struct {
		const char	*claim;
		int		 want;
		unsigned long	 seq;
	} cases[] = {
		{ BODY1 " chain=" MAC1 "]", 1, 1 },
		{ "x [a=b stream=00112233445566aa seq=9999999999999999999 "
		    "chain=" MAC1 "]", 1, 0 /* not checked */ },
		{ "x [stream=00112233445566aa seq=18446744073709551614 "
		    "chain=" MAC1 "]", 0, 0 },	/* 20 digits */
		{ BODY1 " chain=" MAC1, 0, 0 },			/* no ']' */
		{ "x [stream=00112233445566aa seq=0 chain=" MAC1 "]", 0, 0 },
		{ "x [stream=00112233445566aa seq=01 chain=" MAC1 "]", 0, 0 },
		{ "x [stream=00112233445566AA seq=1 chain=" MAC1 "]", 0, 0 },
		{ "x [stream=00112233445566a seq=1 chain=" MAC1 "]", 0, 0 },
		{ "x [stream=00112233445566aa seq=1 chain=f569e774]", 0, 0 },
		{ "x [stream=00112233445566aa seq=1 chain=" MAC1 "] ", 0, 0 },
		{ "x [stream=00112233445566aa seq=1chain=" MAC1 "]", 0, 0 },
		{ "Ping [op=ping request=rid-1]", 0, 0 },
		{ "]", 0, 0 },
		{ "", 0, 0 },
	};
	struct chain_seal	 s;
	size_t			 i;
	int			 got;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = chain_parse(cases[i].claim, strlen(cases[i].claim), &s);
		ck_assert_msg(got == cases[i].want, "%s: got %d, want %d",
		    cases[i].claim, got, cases[i].want);
	}
	ck_assert_int_eq(chain_parse(cases[0].claim, strlen(cases[0].claim),
	    &s), 1);
	ck_assert_str_eq(s.stream, "00112233445566aa");
	ck_assert_uint_eq(s.seq, 1);
	ck_assert_str_eq(s.mac, MAC1);
	ck_assert_uint_eq(s.body_len, strlen(BODY1));
	ck_assert_uint_eq(s.text_len, strlen("Ping [op=ping method=GET "
	    "status=200 request=rid-1"));
}
END_TEST

START_TEST(test_parse_checkpoints)
{
	static const char	 good[] = "Checkpoint of stream "
	    "00112233445566aa: through seq 41 chain " MAC1 " [op=checkpoint "
	    "reason=interval every=1000 interval=60s stream=00112233445566aa "
	    "seq=42 chain=" MAC2 "]";
	static const char	 first[] = "Checkpoint of stream "
	    "00112233445566aa: through seq 0 chain " MAC1 " [op=checkpoint "
	    "reason=start every=5 interval=2s]";
	static const char	*bad[] = {
		"Checkpoint of stream 00112233445566aa: through seq 41 chain "
		    MAC1 " [op=create reason=start]",
		"Checkpoint of stream 00112233445566aa: through seq x chain "
		    MAC1 " [op=checkpoint]",
		"Checkpoint of stream 00112233445566aa: through seq 01 chain "
		    MAC1 " [op=checkpoint]",
		"Checkpoint of stream 00112233445566aa: through seq 1 chain "
		    "f569 [op=checkpoint]",
		"Stored memory x [op=checkpoint]",
	};
	struct chain_checkpoint	 cp;
	size_t			 i;

	ck_assert_int_eq(chain_parse_checkpoint(good, strlen(good), &cp), 1);
	ck_assert_uint_eq(cp.through, 41);
	ck_assert_str_eq(cp.mac, MAC1);
	ck_assert_str_eq(cp.reason, "interval");
	ck_assert_int_eq(cp.every, 1000);
	ck_assert_int_eq(cp.interval_s, 60);
	ck_assert_int_eq(chain_parse_checkpoint(first, strlen(first), &cp),
	    1);
	ck_assert_uint_eq(cp.through, 0);
	ck_assert_str_eq(cp.reason, "start");
	ck_assert_int_eq(cp.interval_s, 2);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(chain_parse_checkpoint(bad[i], strlen(bad[i]),
		    &cp) == 0, "accepted: %s", bad[i]);
}
END_TEST

/* Seal n claims "Ping [op=ping request=rid-K]" and store each. */
static void
seal_some(struct chain *c, int n, char last[CHAIN_MAC_LEN + 1])
{
	struct chain_seal	 s;
	struct buf		 b;
	uint64_t		 seq;
	char			 text[64];
	int			 i;

	for (i = 0; i < n; i++) {
		snprintf(text, sizeof(text), "Ping [op=ping request=rid-%d]",
		    i);
		buf_init(&b, 1024);
		ck_assert_int_eq(chain_seal(c, text, strlen(text), &b, &seq),
		    0);
		ck_assert_int_eq(chain_parse(b.data, b.len, &s), 1);
		ck_assert_uint_eq(s.seq, seq);
		chain_advance(c, b.data, b.len);
		memcpy(last, s.mac, CHAIN_MAC_LEN + 1);
		buf_free(&b);
	}
}

START_TEST(test_seal_links_and_survives_restart)
{
	struct chain		*c;
	struct chain_key	 ck;
	struct chain_seal	 s1, s2;
	struct anon		 a;
	struct buf		 b1, b2;
	const char		*note;
	char			 err[256], stream[CHAIN_STREAM_LEN + 1];
	char			 mac[CHAIN_MAC_LEN + 1], last[CHAIN_MAC_LEN + 1];
	uint64_t		 seq;

	ck_assert_int_eq(anon_init(&a, key16, 16), 0);
	chain_key_derive(&ck, &a);
	ck_assert_int_eq(chain_open(&c, dir, &a, &note, err, sizeof(err)), 0);
	ck_assert_ptr_null(note);
	ck_assert_uint_eq(chain_last_seq(c), 0);
	memcpy(stream, chain_stream(c), sizeof(stream));

	/* Two claims: the second links to the first. */
	buf_init(&b1, 1024);
	buf_init(&b2, 1024);
	ck_assert_int_eq(chain_seal(c, "A [op=x]", 8, &b1, &seq), 0);
	ck_assert_uint_eq(seq, 1);
	/* Not stored yet: sealing again gives the same seq. */
	ck_assert_int_eq(chain_seal(c, "B [op=x]", 8, &b2, &seq), 0);
	ck_assert_uint_eq(seq, 1);
	buf_reset(&b2);
	chain_advance(c, b1.data, b1.len);
	ck_assert_int_eq(chain_seal(c, "B [op=x]", 8, &b2, &seq), 0);
	ck_assert_uint_eq(seq, 2);
	ck_assert_int_eq(chain_parse(b1.data, b1.len, &s1), 1);
	ck_assert_int_eq(chain_parse(b2.data, b2.len, &s2), 1);
	ck_assert_str_eq(s1.stream, stream);
	chain_mac(&ck, zero, b1.data, s1.body_len, mac);
	ck_assert_str_eq(mac, s1.mac);
	chain_mac(&ck, s1.mac, b2.data, s2.body_len, mac);
	ck_assert_str_eq(mac, s2.mac);
	chain_advance(c, b2.data, b2.len);
	/* A claim that does not end with ']' is not sealed. */
	buf_reset(&b1);
	ck_assert_int_eq(chain_seal(c, "no tail", 7, &b1, &seq), -1);
	ck_assert_uint_eq(b1.len, 0);
	buf_free(&b1);
	buf_free(&b2);

	seal_some(c, 3, last);
	ck_assert_uint_eq(chain_last_seq(c), 5);
	ck_assert_int_eq(chain_save(c), 0);
	chain_close(c);

	/* Restart: the same stream, from seq 5. */
	ck_assert_int_eq(chain_open(&c, dir, &a, &note, err, sizeof(err)), 0);
	ck_assert_ptr_null(note);
	ck_assert_str_eq(chain_stream(c), stream);
	ck_assert_uint_eq(chain_last_seq(c), 5);
	ck_assert_int_eq(chain_peek(dir, &a, stream, &seq, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(seq, 5);
	chain_close(c);
	anon_free(&a);
}
END_TEST

/* The spool's newest record moves the chain on; others do not. */
START_TEST(test_observe_spool_tail)
{
	struct chain	*c;
	struct anon	 a;
	const char	*note;
	char		 err[256], rec[256];

	ck_assert_int_eq(anon_init(&a, key16, 16), 0);
	ck_assert_int_eq(chain_open(&c, dir, &a, &note, err, sizeof(err)), 0);
	snprintf(rec, sizeof(rec), "x [op=y stream=%s seq=9 chain=" MAC2 "]",
	    chain_stream(c));
	chain_observe(c, rec, strlen(rec));
	ck_assert_uint_eq(chain_last_seq(c), 9);
	snprintf(rec, sizeof(rec), "x [op=y stream=%s seq=3 chain=" MAC1 "]",
	    chain_stream(c));
	chain_observe(c, rec, strlen(rec));
	ck_assert_uint_eq(chain_last_seq(c), 9);	/* older */
	snprintf(rec, sizeof(rec), "x [op=y stream=ffffffffffffffff "
	    "seq=99 chain=" MAC1 "]");
	chain_observe(c, rec, strlen(rec));
	ck_assert_uint_eq(chain_last_seq(c), 9);	/* another stream */
	chain_close(c);
	anon_free(&a);
}
END_TEST

/* Overwrite [off, off + n) of dir/chain with garbage. */
static void
damage(off_t off, size_t n)
{
	char	 p[128], junk[512];
	int	 fd;

	memset(junk, 'x', sizeof(junk));
	snprintf(p, sizeof(p), "%s/chain", dir);
	fd = open(p, O_WRONLY);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(pwrite(fd, junk, n, off), (ssize_t)n);
	close(fd);
}

START_TEST(test_state_file_damage)
{
	struct chain	*c;
	struct anon	 a, other;
	const char	*note;
	char		 err[256], stream[CHAIN_STREAM_LEN + 1];
	char		 last[CHAIN_MAC_LEN + 1];
	uint64_t	 seq;

	ck_assert_int_eq(anon_init(&a, key16, 16), 0);
	ck_assert_int_eq(anon_init(&other, "fedcba9876543210", 16), 0);
	ck_assert_int_eq(chain_open(&c, dir, &a, &note, err, sizeof(err)), 0);
	memcpy(stream, chain_stream(c), sizeof(stream));
	seal_some(c, 2, last);
	ck_assert_int_eq(chain_save(c), 0);	/* gen 2: slot 0 */
	seal_some(c, 2, last);
	ck_assert_int_eq(chain_save(c), 0);	/* gen 3: slot 1 */
	chain_close(c);

	/* A torn newest slot: the other one still holds (one save lost). */
	damage(256 + 40, 8);
	ck_assert_int_eq(chain_open(&c, dir, &a, &note, err, sizeof(err)), 0);
	ck_assert_ptr_null(note);
	ck_assert_str_eq(chain_stream(c), stream);
	ck_assert_uint_eq(chain_last_seq(c), 2);
	chain_close(c);

	/* Another key: cannot be read back; a new stream, said so. */
	ck_assert_int_eq(chain_peek(dir, &other, stream, &seq, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(chain_open(&c, dir, &other, &note, err,
	    sizeof(err)), 0);
	ck_assert_ptr_nonnull(note);
	ck_assert_str_ne(chain_stream(c), stream);
	ck_assert_uint_eq(chain_last_seq(c), 0);
	chain_close(c);

	/* Both slots damaged: a new stream. */
	damage(0, 512);
	ck_assert_int_eq(chain_open(&c, dir, &a, &note, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(note);
	ck_assert_uint_eq(chain_last_seq(c), 0);
	chain_close(c);
	anon_free(&other);
	anon_free(&a);
}
END_TEST

START_TEST(test_checkpoint_text)
{
	struct chain_checkpoint	 cp;
	struct chain_seal	 s;
	struct chain		*c;
	struct anon		 a;
	struct buf		 b, sealed;
	const char		*note;
	char			 err[256], last[CHAIN_MAC_LEN + 1];
	uint64_t		 seq;

	ck_assert_int_eq(anon_init(&a, key16, 16), 0);
	ck_assert_int_eq(chain_open(&c, dir, &a, &note, err, sizeof(err)), 0);
	seal_some(c, 3, last);
	buf_init(&b, 1024);
	ck_assert_int_eq(chain_checkpoint_text(c, &b, "count", 3, 60, NULL), 0);
	ck_assert_int_eq(chain_parse_checkpoint(b.data, b.len, &cp), 1);
	ck_assert_uint_eq(cp.through, 3);
	ck_assert_str_eq(cp.mac, last);
	ck_assert_str_eq(cp.reason, "count");
	ck_assert_int_eq(cp.every, 3);
	ck_assert_int_eq(cp.interval_s, 60);
	/* Sealed like any claim, and still a checkpoint. */
	buf_init(&sealed, 1024);
	ck_assert_int_eq(chain_seal(c, b.data, b.len, &sealed, &seq), 0);
	ck_assert_uint_eq(seq, 4);
	ck_assert_int_eq(chain_parse(sealed.data, sealed.len, &s), 1);
	ck_assert_int_eq(chain_parse_checkpoint(sealed.data, sealed.len, &cp),
	    1);
	ck_assert_uint_eq(cp.through, 3);
	buf_free(&sealed);
	buf_free(&b);
	chain_close(c);
	anon_free(&a);
}
END_TEST

int
main(void)
{
	const TTest *const tests[] = {
		test_mac_known_answers,
		test_parse_seals,
		test_parse_checkpoints,
		test_seal_links_and_survives_restart,
		test_observe_spool_tail,
		test_state_file_damage,
		test_checkpoint_text,
	};

	return (unit_run(unit_suite("chain", tests,
	    sizeof(tests) / sizeof(tests[0]), setup, teardown)));
}
