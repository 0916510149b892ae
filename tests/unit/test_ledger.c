/*
 * Unit tests: ledger (verify-ledger and trail). Every case writes a
 * synthetic ledger (JSONL, one file or several, some gzip'd) into its own
 * mkdtemp() directory, sealed with a known key the way chain.c seals
 * (chain_mac() over the claim up to " chain="), then checks the result
 * struct of ledger_verify().
 *
 * A case's ledger is a list of tokens, one line each:
 *   A3    claim seq 3 of stream A (B: stream B), honestly sealed
 *   A3!   the same line with its text edited after sealing
 *   |     the following lines go to the next file
 *   M     a line that is not JSON       N  our worker, "claim" not a string
 *   L     a line longer than 1 MiB      O  another worker's claim
 *   U     our worker, a claim without a seal
 *   @+S   the clock jumps S seconds (each line is 1 s after the previous)
 * A stream's plan gives each seq's kind: c claim, s/i/p a start/interval/
 * stop checkpoint restating the previous seq, X a checkpoint that states
 * a wrong chain value.
 */
#include <sys/stat.h>

#include "unit.h"
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <zlib.h>

#include "anon.h"
#include "buf.h"
#include "chain.h"
#include "ledger.h"
#include "spool.h"

static const char key16[] = "0123456789abcdef";
static const char other_key[] = "fedcba9876543210";
#define WORKER	"w-1"
#define DAY	"2026-11-28"
#define SEQ_MAX	32

/* -- scratch directories -------------------------------------------------- */

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		return (rmdir(path));
	return (unlink(path));
}

static void
tdir_make(char *root, size_t len)
{
	snprintf(root, len, "/tmp/test-ledger-XXXXXX");
	ck_assert_msg(mkdtemp(root) != NULL, "mkdtemp: %s", strerror(errno));
}

static void
tdir_remove(const char *root)
{
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
write_file(const char *path, const char *data, size_t len, int gz)
{
	gzFile	 g;
	FILE	*fp;

	if (gz) {
		ck_assert_msg((g = gzopen(path, "wb")) != NULL, "gzopen %s",
		    path);
		ck_assert_int_eq(gzwrite(g, data, (unsigned)len), (int)len);
		ck_assert_int_eq(gzclose(g), Z_OK);
		return;
	}
	ck_assert_msg((fp = fopen(path, "w")) != NULL, "fopen %s", path);
	ck_assert_uint_eq(fwrite(data, 1, len, fp), len);
	ck_assert_int_eq(fclose(fp), 0);
}

/* -- sealed claims -------------------------------------------------------- */

/* The honest claims of one stream: claim[seq], 1-based. */
struct gen_stream {
	char	 id[CHAIN_STREAM_LEN + 1];
	char	 claim[SEQ_MAX + 1][512];
	size_t	 n;
};

/* Seal text (ending with ']') as seq after prev, as chain_seal() does. */
static void
seal(const struct chain_key *ck, const char *stream, uint64_t seq,
    const char *prev, const char *text, char *out, size_t outlen,
    char *mac)
{
	char	 body[512];
	int	 n;

	n = snprintf(body, sizeof(body), "%.*s stream=%s seq=%" PRIu64,
	    (int)strlen(text) - 1, text, stream, seq);
	ck_assert(n > 0 && (size_t)n < sizeof(body));
	chain_mac(ck, prev, body, (size_t)n, mac);
	n = snprintf(out, outlen, "%s chain=%s]", body, mac);
	ck_assert(n > 0 && (size_t)n < outlen);
}

static void
gen(struct gen_stream *g, const struct chain_key *ck, const char *id,
    const char *plan)
{
	char	 prev[CHAIN_MAC_LEN + 1], mac[CHAIN_MAC_LEN + 1], text[400];
	char	 macs[SEQ_MAX + 1][CHAIN_MAC_LEN + 1];
	size_t	 i;
	const char *reason;

	memset(g, 0, sizeof(*g));
	snprintf(g->id, sizeof(g->id), "%s", id);
	memset(prev, '0', CHAIN_MAC_LEN);
	prev[CHAIN_MAC_LEN] = '\0';
	g->n = strlen(plan);
	ck_assert(g->n <= SEQ_MAX);
	for (i = 0; i < g->n; i++) {
		if (plan[i] == 'c')
			snprintf(text, sizeof(text), "Stored memory m-%zu for "
			    "user u:0000abcd... [op=create method=POST "
			    "status=200 request=r-%zu]", i + 1, i + 1);
		else if (plan[i] == 'v')	/* voids the seq before it */
			snprintf(text, sizeof(text), "Checkpoint of stream %s: "
			    "through seq %zu chain %s [op=checkpoint reason=loss "
			    "every=1000 interval=60s unstored=0 voided=%zu:%s]",
			    id, i, prev, i, prev);
		else if (plan[i] == 'w')	/* voids the one before that */
			snprintf(text, sizeof(text), "Checkpoint of stream %s: "
			    "through seq %zu chain %s [op=checkpoint reason=loss "
			    "every=1000 interval=60s unstored=0 voided=%zu:%s]",
			    id, i, prev, i - 1, macs[i - 1]);
		else {
			reason = plan[i] == 's' ? "start" : plan[i] == 'p' ?
			    "stop" : "interval";
			snprintf(text, sizeof(text), "Checkpoint of stream %s: "
			    "through seq %zu chain %s [op=checkpoint reason=%s "
			    "every=1000 interval=60s]", id, i, plan[i] == 'X' ?
			    "deadbeefdeadbeefdeadbeefdeadbeef" : prev, reason);
		}
		seal(ck, id, i + 1, prev, text, g->claim[i + 1],
		    sizeof(g->claim[i + 1]), mac);
		memcpy(prev, mac, sizeof(prev));
		memcpy(macs[i + 1], mac, sizeof(macs[i + 1]));
	}
}

/* One JSONL line as Wingman writes it (json.dumps default separators). */
static void
json_line(struct buf *b, int t, const char *worker, const char *claim)
{
	ck_assert_int_eq(buf_printf(b, "{\"timestamp\": \"" DAY
	    "T%02d:%02d:%02d.%06d\", \"worker_id\": \"%s\", \"claim\": \"%s\", "
	    "\"status\": \"pending\"}\n", 10 + t / 3600, t / 60 % 60, t % 60,
	    t * 7 % 1000000, worker, claim), 0);
}

/* -- the table ---------------------------------------------------------- */

/* What one stream must show. Zero means zero. */
struct swant {
	uint64_t	 claims, verified, duplicates, unlinked;
	uint64_t	 missing, gap_from, gap_to;	/* first gap */
	uint64_t	 altered;
	uint32_t	 altered_file, altered_line;	/* first one */
	uint64_t	 conflicts, reordered, cp_bad, unconfirmed;
	int		 closed, overdue, wrong_key;
	uint64_t	 cp_seq;
};

struct lcase {
	const char	*name;
	const char	*plan_a, *plan_b;
	const char	*lines;
	unsigned	 gz;		/* bit i: file i is gzip'd */
	const char	*since, *until;
	int		 wrong_key;	/* verify with another key */
	int		 ok;
	size_t		 n_streams;
	uint64_t	 malformed, unchained, other_workers;
	struct swant	 a, b;
};

#define PLAN7	"scccccp"
#define ALL7	"A1 A2 A3 A4 A5 A6 A7"
#define PLAN10	"sccccccccp"
#define ALL10	"A1 A2 A3 A4 A5 A6 A7 A8 A9 A10"

static const struct lcase cases[] = {
	{ .name = "clean trail", .plan_a = PLAN7, .lines = ALL7, .ok = 1,
	  .n_streams = 1, .a = { .claims = 7, .verified = 7, .closed = 1,
	  .cp_seq = 7 } },
	{ .name = "deleted line: gap named", .plan_a = PLAN7,
	  .lines = "A1 A2 A3 A5 A6 A7", .n_streams = 1,
	  .a = { .claims = 6, .verified = 5, .unlinked = 1, .missing = 1,
	  .gap_from = 4, .gap_to = 4, .closed = 1, .cp_seq = 7 } },
	{ .name = "edited claim: altered with its line", .plan_a = PLAN7,
	  .lines = "A1 A2 A3! A4 A5 A6 A7", .n_streams = 1,
	  .a = { .claims = 7, .verified = 6, .altered = 1, .altered_line = 3,
	  .closed = 1, .cp_seq = 7 } },
	{ .name = "swapped pair: reordered, passes", .plan_a = PLAN7,
	  .lines = "A1 A2 A4 A3 A5 A6 A7", .ok = 1, .n_streams = 1,
	  .a = { .claims = 7, .verified = 7, .reordered = 1, .closed = 1,
	  .cp_seq = 7 } },
	{ .name = "duplicates pass, counted", .plan_a = PLAN7,
	  .lines = "A1 A2 A3 A2 A3 A4 A5 A6 A7 A7", .ok = 1, .n_streams = 1,
	  .a = { .claims = 7, .verified = 7, .duplicates = 3, .closed = 1,
	  .cp_seq = 7 } },
	{ .name = "trimmed tail: checkpoint overdue", .plan_a = PLAN10,
	  .lines = "A1 A2 A3 A4 A5 @+600 O", .n_streams = 1,
	  .other_workers = 1, .a = { .claims = 5, .verified = 5,
	  .unconfirmed = 4, .overdue = 1, .cp_seq = 1 } },
	{ .name = "recent claims after the checkpoint: not yet overdue",
	  .plan_a = PLAN10, .lines = "A1 A2 A3 A4 A5 @+100 O", .ok = 1,
	  .n_streams = 1, .other_workers = 1, .a = { .claims = 5,
	  .verified = 5, .unconfirmed = 4, .cp_seq = 1 } },
	{ .name = "two interleaved streams", .plan_a = "scccp",
	  .plan_b = "sccp", .lines = "A1 B1 A2 B2 A3 B3 A4 B4 A5", .ok = 1,
	  .n_streams = 2, .a = { .claims = 5, .verified = 5, .closed = 1,
	  .cp_seq = 5 }, .b = { .claims = 4, .verified = 4, .closed = 1,
	  .cp_seq = 4 } },
	{ .name = "interleaved, one stream with a gap", .plan_a = "scccp",
	  .plan_b = "sccp", .lines = "A1 B1 A2 A3 B3 A4 B4 A5",
	  .n_streams = 2, .a = { .claims = 5, .verified = 5, .closed = 1,
	  .cp_seq = 5 }, .b = { .claims = 3, .verified = 2, .unlinked = 1,
	  .missing = 1, .gap_from = 2, .gap_to = 2, .closed = 1,
	  .cp_seq = 4 } },
	{ .name = "rotated: two files", .plan_a = PLAN7,
	  .lines = "A1 A2 A3 | A4 A5 A6 A7", .ok = 1, .n_streams = 1,
	  .a = { .claims = 7, .verified = 7, .closed = 1, .cp_seq = 7 } },
	{ .name = "rotated: the older file gzip'd", .plan_a = PLAN7,
	  .lines = "A1 A2 A3 | A4 A5 A6 A7", .gz = 1, .ok = 1,
	  .n_streams = 1, .a = { .claims = 7, .verified = 7, .closed = 1,
	  .cp_seq = 7 } },
	{ .name = "rotated: an edit inside the gzip'd file", .plan_a = PLAN7,
	  .lines = "A1 A2! A3 | A4 A5 A6 A7", .gz = 1, .n_streams = 1,
	  .a = { .claims = 7, .verified = 6, .altered = 1, .altered_line = 2,
	  .closed = 1, .cp_seq = 7 } },
	{ .name = "rotated: an edit in the second file", .plan_a = PLAN7,
	  .lines = "A1 A2 A3 | A4 A5! A6 A7", .gz = 1, .n_streams = 1,
	  .a = { .claims = 7, .verified = 6, .altered = 1, .altered_file = 1,
	  .altered_line = 2, .closed = 1, .cp_seq = 7 } },
	{ .name = "conflict: one seq, two texts", .plan_a = PLAN7,
	  .lines = "A1 A2 A3 A3! A4 A5 A6 A7", .n_streams = 1,
	  .a = { .claims = 7, .verified = 7, .altered = 1, .altered_line = 4,
	  .conflicts = 1, .closed = 1, .cp_seq = 7 } },
	{ .name = "since: links use the line before the window",
	  .plan_a = PLAN10, .lines = ALL10, .since = DAY "T10:00:03",
	  .ok = 1, .n_streams = 1, .a = { .claims = 7, .verified = 7,
	  .closed = 1, .cp_seq = 10 } },
	{ .name = "since: a gap before the window is not searched",
	  .plan_a = PLAN10, .lines = "A1 A3 A4 A5 A6 A7 A8 A9 A10",
	  .since = DAY "T10:00:02", .ok = 1, .n_streams = 1,
	  .a = { .claims = 7, .verified = 7, .closed = 1, .cp_seq = 10 } },
	{ .name = "since: a gap inside the window is", .plan_a = PLAN10,
	  .lines = "A1 A2 A3 A4 A6 A7 A8 A9 A10", .since = DAY "T10:00:02",
	  .n_streams = 1, .a = { .claims = 7, .verified = 6, .unlinked = 1,
	  .missing = 1, .gap_from = 5, .gap_to = 5, .closed = 1,
	  .cp_seq = 10 } },
	{ .name = "until: later claims and checkpoints do not count",
	  .plan_a = PLAN10, .lines = ALL10, .until = DAY "T10:00:05",
	  .ok = 1, .n_streams = 1, .a = { .claims = 5, .verified = 5,
	  .unconfirmed = 4, .cp_seq = 1 } },
	{ .name = "until: an edit after it is not reported", .plan_a = PLAN10,
	  .lines = "A1 A2 A3 A4 A5 A6 A7! A8 A9 A10", .until = DAY "T10:00:05",
	  .ok = 1, .n_streams = 1, .a = { .claims = 5, .verified = 5,
	  .unconfirmed = 4, .cp_seq = 1 } },
	{ .name = "wrong key: the stream does not verify", .plan_a = PLAN7,
	  .lines = ALL7, .wrong_key = 1, .n_streams = 1,
	  .a = { .claims = 7, .altered = 7, .wrong_key = 1, .closed = 1,
	  .cp_seq = 7 } },
	{ .name = "malformed lines fail (the chain itself holds)",
	  .plan_a = PLAN7, .lines = "A1 M A2 N A3 L A4 A5 A6 A7",
	  .n_streams = 1, .malformed = 3, .a = { .claims = 7, .verified = 7,
	  .closed = 1, .cp_seq = 7 } },
	/*
	 * Lines that readers could read two ways (cJSON vs Python's json):
	 * a forged second "claim" key, a NUL escape, text after the
	 * object. Each is malformed, and its claim is not taken: a gap.
	 */
	{ .name = "a repeated claim key is malformed", .plan_a = PLAN7,
	  .lines = "A1 A2 D3 A4 A5 A6 A7", .n_streams = 1, .malformed = 1,
	  .a = { .claims = 6, .verified = 5, .unlinked = 1, .missing = 1,
	  .gap_from = 3, .gap_to = 3, .closed = 1, .cp_seq = 7 } },
	{ .name = "a NUL escape in the claim is malformed", .plan_a = PLAN7,
	  .lines = "A1 A2 Z3 A4 A5 A6 A7", .n_streams = 1, .malformed = 1,
	  .a = { .claims = 6, .verified = 5, .unlinked = 1, .missing = 1,
	  .gap_from = 3, .gap_to = 3, .closed = 1, .cp_seq = 7 } },
	{ .name = "text after the object is malformed", .plan_a = PLAN7,
	  .lines = "A1 A2 T3 A4 A5 A6 A7", .n_streams = 1, .malformed = 1,
	  .a = { .claims = 6, .verified = 5, .unlinked = 1, .missing = 1,
	  .gap_from = 3, .gap_to = 3, .closed = 1, .cp_seq = 7 } },
	{ .name = "a sealed claim without a time is malformed",
	  .plan_a = PLAN7, .lines = "A1 A2 W3 A4 A5 A6 A7", .n_streams = 1,
	  .malformed = 1, .a = { .claims = 6, .verified = 5, .unlinked = 1,
	  .missing = 1, .gap_from = 3, .gap_to = 3, .closed = 1,
	  .cp_seq = 7 } },
	/* The window's edges (lines are a second apart, from 10:00:00). */
	{ .name = "since: the window's first claim needs the one before",
	  .plan_a = PLAN10, .lines = "A4 A5 A6 A7 A8 A9 A10",
	  .since = DAY "T10:00:00", .n_streams = 1, .a = { .claims = 7,
	  .verified = 6, .unlinked = 1, .missing = 1, .gap_from = 3,
	  .gap_to = 3, .closed = 1, .cp_seq = 10 } },
	{ .name = "since: claims cut at the window's start",
	  .plan_a = PLAN10, .lines = "A1 A2 A6 A7 A8 A9 A10",
	  .since = DAY "T10:00:02", .n_streams = 1, .a = { .claims = 5,
	  .verified = 4, .unlinked = 1, .missing = 3, .gap_from = 3,
	  .gap_to = 5, .closed = 1, .cp_seq = 10 } },
	/*
	 * Times are not sealed: a claim whose time was moved out of the
	 * window, below its end or above its start, must not shrink the
	 * search for a deletion inside it.
	 */
	{ .name = "until: a time moved after the window hides no deletion",
	  .plan_a = PLAN10, .lines = "A1 A2 @+10 A3 @+-11 A5 A6 A7 A8 A9 A10",
	  .until = DAY "T10:00:05", .n_streams = 1, .a = { .claims = 5,
	  .verified = 4, .unlinked = 1, .missing = 1, .gap_from = 4,
	  .gap_to = 4, .unconfirmed = 4, .cp_seq = 1 } },
	{ .name = "since: a time moved before the window hides no deletion",
	  .plan_a = PLAN10, .lines = "A1 A2 A3 @+10 A4 A6 A8 A9 A10 @+-12 A7",
	  .since = DAY "T10:00:12", .n_streams = 1, .a = { .claims = 5,
	  .verified = 4, .unlinked = 1, .missing = 1, .gap_from = 5,
	  .gap_to = 5, .closed = 1, .cp_seq = 10 } },
	/* Strict lines: what Python's json refuses is malformed here too. */
	{ .name = "a raw tab, a number 01, a non-ASCII byte, a raw NUL",
	  .plan_a = PLAN7, .lines = "A1 A2 A3 A4 A5 A6 A7 R1 R2 R3 R4",
	  .n_streams = 1, .malformed = 4, .a = { .claims = 7, .verified = 7,
	  .closed = 1, .cp_seq = 7 } },
	/* A failed fsync voided seq 4; the loss checkpoint right after it
	 * links to the chain it states, and excuses the gap. */
	{ .name = "a voided seq before its loss checkpoint is no gap",
	  .plan_a = "scccvcp", .lines = "A1 A2 A3 A5 A6 A7", .ok = 1,
	  .n_streams = 1, .a = { .claims = 6, .verified = 6, .closed = 1,
	  .cp_seq = 7 } },
	/* Seq 5 voided, seq 6 a claim, 7 the loss checkpoint: 6 links to
	 * the chain value the checkpoint gives for 5 (pass 3). */
	{ .name = "the claim after a voided seq is checked too",
	  .plan_a = "scccccwp", .lines = "A1 A2 A3 A4 A6 A7 A8", .ok = 1,
	  .n_streams = 1, .a = { .claims = 7, .verified = 7, .closed = 1,
	  .cp_seq = 8 } },
	{ .name = "an edit of the claim after a voided seq shows",
	  .plan_a = "scccccwp", .lines = "A1 A2 A3 A4 A6! A7 A8",
	  .n_streams = 1, .a = { .claims = 7, .verified = 6, .altered = 1,
	  .altered_line = 5, .closed = 1, .cp_seq = 8 } },
	{ .name = "a deletion is not excused by a loss checkpoint",
	  .plan_a = "scccvcp", .lines = "A1 A2 A4 A5 A6 A7", .n_streams = 1,
	  .a = { .claims = 6, .verified = 5, .unlinked = 1, .missing = 1,
	  .gap_from = 3, .gap_to = 3, .closed = 1, .cp_seq = 7 } },
	{ .name = "until: claims cut at the window's end",
	  .plan_a = PLAN10, .lines = "A1 A2 A3 A6 A7 A8 A9 A10",
	  .until = DAY "T10:00:03", .n_streams = 1, .a = { .claims = 3,
	  .verified = 3, .missing = 2, .gap_from = 4, .gap_to = 5,
	  .unconfirmed = 2, .cp_seq = 1 } },
	{ .name = "checkpoint that disagrees", .plan_a = "scccXcccp",
	  .lines = "A1 A2 A3 A4 A5 A6 A7 A8 A9", .n_streams = 1,
	  .a = { .claims = 9, .verified = 9, .cp_bad = 1, .closed = 1,
	  .cp_seq = 9 } },
	{ .name = "unchained and other workers' claims", .plan_a = PLAN7,
	  .lines = "U A1 O A2 A3 A4 A5 A6 A7 O", .ok = 1, .n_streams = 1,
	  .unchained = 1, .other_workers = 2, .a = { .claims = 7,
	  .verified = 7, .closed = 1, .cp_seq = 7 } },
	{ .name = "a stop checkpoint followed by more claims is not closed",
	  .plan_a = "sccpcc", .lines = "A1 A2 A3 A4 A5 A6", .ok = 1,
	  .n_streams = 1, .a = { .claims = 6, .verified = 6,
	  .unconfirmed = 2, .cp_seq = 4 } },
	{ .name = "no sealed claim of ours: nothing vouched for",
	  .lines = "O U O", .unchained = 1, .other_workers = 2 },
};

/* Write the case's files into dir; their paths into paths[]. */
static size_t
build(const struct lcase *c, const char *dir, char paths[][128],
    size_t max)
{
	struct chain_key	 ck;
	struct anon		 anon;
	struct gen_stream	*g;
	struct buf		 b;
	const char		*p = c->lines;
	char			 tok[32], claim[600], *q;
	size_t			 nf = 0, n;
	unsigned long		 seq;
	int			 t = 0;

	ck_assert_int_eq(anon_init(&anon, key16, 16), 0);
	chain_key_derive(&ck, &anon);
	anon_free(&anon);
	ck_assert((g = calloc(2, sizeof(*g))) != NULL);
	if (c->plan_a != NULL)
		gen(&g[0], &ck, "a0a0a0a0a0a0a0a0", c->plan_a);
	if (c->plan_b != NULL)
		gen(&g[1], &ck, "b1b1b1b1b1b1b1b1", c->plan_b);
	buf_init(&b, 8 * 1024 * 1024);
	for (;;) {
		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (*p == '\0' || *p == '|') {
			snprintf(paths[nf], 128, "%s/claims_audit.jsonl.%zu",
			    dir, nf);
			write_file(paths[nf], b.data != NULL ? b.data : "",
			    b.len, (c->gz >> nf) & 1);
			buf_reset(&b);
			nf++;
			ck_assert(nf <= max);
			if (*p != '|')
				break;
			p++;
			continue;
		}
		ck_assert(n < sizeof(tok));
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += n;
		if (tok[0] == '@') {
			t += atoi(tok + 2);
			continue;
		}
		switch (tok[0]) {
		case 'M':
			ck_assert_int_eq(buf_printf(&b, "{\"timestamp\": \""
			    DAY "T10:00:00\", \"worker_id\": \"" WORKER
			    "\", \"cla\n"), 0);
			break;
		case 'N':
			ck_assert_int_eq(buf_printf(&b, "{\"timestamp\": \""
			    DAY "T10:00:00\", \"worker_id\": \"" WORKER
			    "\", \"claim\": 12}\n"), 0);
			break;
		case 'L':
			ck_assert_int_eq(buf_printf(&b, "{\"worker_id\": \""
			    WORKER "\", \"claim\": \""), 0);
			for (n = 0; n < LEDGER_LINE_MAX / 64 + 1; n++)
				ck_assert_int_eq(buf_append_str(&b, "xxxxxxxx"
				    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				    "xxxxxxxxxxxxxxxx"), 0);
			ck_assert_int_eq(buf_append_str(&b, "\"}\n"), 0);
			break;
		case 'O':
			json_line(&b, t, "w-2", "Stored memory m-9 [op=create "
			    "method=POST status=200 request=r-9]");
			break;
		case 'U':
			json_line(&b, t, WORKER, "Stored memory m-8 "
			    "[op=create method=POST status=200 request=r-8]");
			break;
		case 'R':	/* a line Python's json would refuse */
			seq = strtoul(tok + 1, &q, 10);
			if (seq == 1)
				ck_assert_int_eq(buf_append_str(&b, "{\"a\": "
				    "\"x\ty\", \"worker_id\": \"" WORKER "\"}\n"),
				    0);
			else if (seq == 2)
				ck_assert_int_eq(buf_append_str(&b, "{\"a\": 01, "
				    "\"worker_id\": \"" WORKER "\"}\n"), 0);
			else if (seq == 3)
				ck_assert_int_eq(buf_append_str(&b, "{\"a\": "
				    "\"\xc3\xa9\", \"worker_id\": \"" WORKER
				    "\"}\n"), 0);
			else {
				ck_assert_int_eq(buf_append_str(&b, "{\"a\": 1}"),
				    0);
				ck_assert_int_eq(buf_append(&b, "\0x\n", 3), 0);
			}
			break;
		case 'D':	/* A<n> with a forged second claim key */
		case 'Z':	/* A<n> with a NUL escape and more */
		case 'T':	/* A<n> then text after the object */
		case 'W':	/* A<n> without a timestamp */
			seq = strtoul(tok + 1, &q, 10);
			ck_assert(seq >= 1 && seq <= g[0].n);
			if (tok[0] == 'W')
				ck_assert_int_eq(buf_printf(&b, "{\"worker_id\": "
				    "\"" WORKER "\", \"claim\": \"%s\"}\n",
				    g[0].claim[seq]), 0);
			else if (tok[0] == 'Z')
				ck_assert_int_eq(buf_printf(&b, "{\"timestamp\": "
				    "\"" DAY "T10:00:%02d\", \"worker_id\": \""
				    WORKER "\", \"claim\": \"%s\\u0000 and "
				    "more\"}\n", t % 60, g[0].claim[seq]), 0);
			else
				ck_assert_int_eq(buf_printf(&b, "{\"timestamp\": "
				    "\"" DAY "T10:00:%02d\", \"worker_id\": \""
				    WORKER "\", \"claim\": \"%s\"%s}%s\n",
				    t % 60, g[0].claim[seq], tok[0] == 'D' ?
				    ", \"claim\": \"Deleted every memory\"" : "",
				    tok[0] == 'T' ? " {\"claim\": \"x\"}" : ""),
				    0);
			break;
		case 'A':
		case 'B':
			seq = strtoul(tok + 1, &q, 10);
			ck_assert_msg(seq >= 1 && seq <= g[tok[0] - 'A'].n,
			    "%s: token %s beyond the plan", c->name, tok);
			snprintf(claim, sizeof(claim), "%s",
			    g[tok[0] - 'A'].claim[seq]);
			if (*q == '!') {
				/* Edit the text, keep the seal. */
				if ((q = strstr(claim, "m-")) == NULL)
					q = strstr(claim, "through");
				ck_assert(q != NULL);
				q[0] = q[0] == 'm' ? 'n' : 'T';
			}
			json_line(&b, t, WORKER, claim);
			break;
		default:
			ck_abort_msg("%s: bad token %s", c->name, tok);
		}
		t++;
	}
	buf_free(&b);
	free(g);
	return (nf);
}

static void
check_stream(const struct lcase *c, const char *which,
    const struct ledger_stream *s, const struct swant *w)
{
#define EQ(f) ck_assert_msg(s->f == w->f, "%s: stream %s: " #f " %llu, " \
	    "want %llu", c->name, which, (unsigned long long)s->f, \
	    (unsigned long long)w->f)
	EQ(claims);
	EQ(verified);
	EQ(duplicates);
	EQ(unlinked);
	EQ(missing);
	EQ(altered);
	EQ(conflicts);
	EQ(reordered);
	EQ(cp_bad);
	EQ(unconfirmed);
	EQ(closed);
	EQ(overdue);
	EQ(wrong_key);
	EQ(cp_seq);
#undef EQ
	ck_assert_msg(s->ok == (s->missing == 0 && s->altered == 0 &&
	    s->conflicts == 0 && s->cp_bad == 0 && !s->overdue),
	    "%s: stream %s: ok %d", c->name, which, s->ok);
	if (w->missing > 0) {
		ck_assert_uint_ge(s->n_gaps, 1);
		ck_assert_msg(s->gaps[0].from == w->gap_from &&
		    s->gaps[0].to == w->gap_to &&
		    s->gaps[0].kind == LEDGER_GAP_MISSING,
		    "%s: gap %" PRIu64 "-%" PRIu64 ", want %" PRIu64 "-%"
		    PRIu64, c->name, s->gaps[0].from, s->gaps[0].to,
		    w->gap_from, w->gap_to);
	}
	if (w->altered > 0 && !w->wrong_key) {
		ck_assert_uint_ge(s->n_altered, 1);
		ck_assert_msg(s->altered_at[0].at.file == w->altered_file &&
		    s->altered_at[0].at.line == w->altered_line,
		    "%s: altered at %u:%u, want %u:%u", c->name,
		    s->altered_at[0].at.file, s->altered_at[0].at.line,
		    w->altered_file, w->altered_line);
	}
	if (w->overdue)
		ck_assert_uint_eq(s->cut_after, s->last_seq);
}

START_TEST(test_verify_table)
{
	struct ledger_result	 r;
	struct ledger_opts	 o;
	struct anon		 anon;
	const struct lcase	*c;
	const char		*files[4];
	char			 dir[64], paths[4][128], err[512];
	size_t			 i, k, nf;
	FILE			*devnull;

	ck_assert((devnull = fopen("/dev/null", "w")) != NULL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = &cases[i];
		tdir_make(dir, sizeof(dir));
		nf = build(c, dir, paths, 4);
		for (k = 0; k < nf; k++)
			files[k] = paths[k];
		ck_assert_int_eq(anon_init(&anon, c->wrong_key ? other_key :
		    key16, 16), 0);
		memset(&o, 0, sizeof(o));
		o.worker = WORKER;
		o.since = c->since;
		o.until = c->until;
		o.anon = &anon;
		err[0] = '\0';
		ck_assert_msg(ledger_verify(&o, files, nf, &r, err,
		    sizeof(err)) == 0, "%s: %s", c->name, err);
		ck_assert_msg(r.ok == c->ok, "%s: ok %d, want %d", c->name,
		    r.ok, c->ok);
		ck_assert_msg(r.n_streams == c->n_streams, "%s: %zu streams, "
		    "want %zu", c->name, r.n_streams, c->n_streams);
		ck_assert_msg(r.malformed == c->malformed && r.unchained ==
		    c->unchained && r.other_workers == c->other_workers,
		    "%s: malformed %" PRIu64 " unchained %" PRIu64 " other %"
		    PRIu64, c->name, r.malformed, r.unchained,
		    r.other_workers);
		ck_assert(!r.pending_only);
		if (r.n_streams >= 1) {
			ck_assert_str_eq(r.streams[0].id, "a0a0a0a0a0a0a0a0");
			check_stream(c, "A", &r.streams[0], &c->a);
		}
		if (r.n_streams >= 2) {
			ck_assert_str_eq(r.streams[1].id, "b1b1b1b1b1b1b1b1");
			check_stream(c, "B", &r.streams[1], &c->b);
		}
		/* Both reports run on every result (sanitizers watch). */
		ledger_print(devnull, &r);
		ck_assert_int_eq(ledger_print_json(devnull, &r), 0);
		ledger_result_free(&r);
		anon_free(&anon);
		tdir_remove(dir);
	}
	fclose(devnull);
}
END_TEST

/* The text and JSON reports say what the result holds. */
START_TEST(test_reports)
{
	struct ledger_result	 r;
	struct ledger_opts	 o;
	struct anon		 anon;
	const struct lcase	 c = { .name = "report", .plan_a = PLAN7,
	    .lines = "A1 A2 A3! A5 A4 A6 A7" };
	const char		*files[1];
	char			 dir[64], paths[4][128], err[512], *text;
	char			 want[160];
	size_t			 len;
	FILE			*fp;
	cJSON			*j, *s;

	tdir_make(dir, sizeof(dir));
	ck_assert_uint_eq(build(&c, dir, paths, 4), 1);
	files[0] = paths[0];
	ck_assert_int_eq(anon_init(&anon, key16, 16), 0);
	memset(&o, 0, sizeof(o));
	o.worker = WORKER;
	o.anon = &anon;
	ck_assert_int_eq(ledger_verify(&o, files, 1, &r, err, sizeof(err)),
	    0);
	ck_assert((fp = open_memstream(&text, &len)) != NULL);
	ledger_print(fp, &r);
	fclose(fp);
	ck_assert_msg(strstr(text, "altered: 1: ") != NULL &&
	    strstr(text, "claims_audit.jsonl.0:3 seq=3") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "seq=4 at ") != NULL &&
	    strstr(text, "after seq=5") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "\nFAILED: stream a0a0a0a0a0a0a0a0: 1 "
	    "altered\n") != NULL, "%s", text);
	free(text);
	ck_assert((fp = open_memstream(&text, &len)) != NULL);
	ck_assert_int_eq(ledger_print_json(fp, &r), 0);
	fclose(fp);
	ck_assert_msg((j = cJSON_Parse(text)) != NULL, "%s", text);
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "ok")));
	s = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "streams"), 0);
	ck_assert(s != NULL);
	ck_assert_int_eq(cJSON_GetObjectItem(s, "altered")->valueint, 1);
	ck_assert_int_eq(cJSON_GetObjectItem(s, "reordered")->valueint, 1);
	snprintf(want, sizeof(want), "%s:3", paths[0]);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(
	    cJSON_GetObjectItem(s, "altered_at"), 0), "at")->valuestring,
	    want);
	cJSON_Delete(j);
	free(text);
	ledger_result_free(&r);
	anon_free(&anon);
	tdir_remove(dir);
}
END_TEST

/* A missing file is an error, not a verdict. */
START_TEST(test_missing_file)
{
	struct ledger_result	 r;
	struct ledger_opts	 o;
	struct anon		 anon;
	const char		*files[] = {
		"/nonexistent/claims_audit.jsonl"
	};
	char			 err[512];

	ck_assert_int_eq(anon_init(&anon, key16, 16), 0);
	memset(&o, 0, sizeof(o));
	o.worker = WORKER;
	o.anon = &anon;
	err[0] = '\0';
	ck_assert_int_eq(ledger_verify(&o, files, 1, &r, err, sizeof(err)),
	    -1);
	ck_assert_msg(strstr(err, "/nonexistent/claims_audit.jsonl") != NULL,
	    "%s", err);
	ledger_result_free(&r);
	anon_free(&anon);
}
END_TEST

/*
 * --state: a real chain and spool. Claims 1-5 sealed and spooled; 1-3
 * delivered (acked); the ledger holds 1-2 (3 lost after delivery) or
 * 1-3 (4 and 5 merely queued).
 */
START_TEST(test_state)
{
	static const struct {
		const char	*name;
		int		 in_ledger;	/* claims 1..in_ledger */
		int		 ok, pending_only;
		uint64_t	 missing, pending, acked_missing;
		size_t		 n_gaps;
	} tcases[] = {
		{ "lost after delivery", 2, 0, 0, 0, 2, 1, 2 },
		{ "only queued", 3, 0, 1, 0, 2, 0, 1 },
		{ "nothing in the ledger yet", 0, 0, 0, 0, 2, 3, 2 },
	};
	struct ledger_result	 r;
	struct ledger_opts	 o;
	struct spool_opts	 so;
	struct anon		 anon;
	struct chain		*ch;
	struct spool		*sp;
	struct buf		 b, lines;
	const char		*note, *files[1];
	char			 dir[64], spdir[96], path[128], err[512];
	char			 sealed[5][600], text[200], *data;
	uint64_t		 seq, rseq[5];
	size_t			 i, k, len;
	int			 rc;

	ck_assert_int_eq(anon_init(&anon, key16, 16), 0);
	for (i = 0; i < sizeof(tcases) / sizeof(tcases[0]); i++) {
		tdir_make(dir, sizeof(dir));
		snprintf(spdir, sizeof(spdir), "%s/spool", dir);
		ck_assert_msg(chain_open(&ch, dir, &anon, &note, err,
		    sizeof(err)) == 0, "%s", err);
		memset(&so, 0, sizeof(so));
		so.dir = spdir;
		so.max_bytes = 1024 * 1024;
		so.segment_bytes = 64 * 1024;
		ck_assert_msg(spool_open(&sp, &so, err, sizeof(err)) == 0,
		    "%s", err);
		ck_assert_int_eq(spool_start(sp, NULL), 0);
		for (k = 0; k < 5; k++) {
			snprintf(text, sizeof(text), "Stored memory m-%zu "
			    "[op=create method=POST status=200 request=r-%zu]",
			    k + 1, k + 1);
			buf_init(&b, 1024);
			ck_assert_int_eq(chain_seal(ch, text, strlen(text), &b,
			    &seq), 0);
			ck_assert_uint_eq(seq, k + 1);
			chain_advance(ch, b.data, b.len);
			ck_assert_int_eq(spool_append(sp, b.data, b.len, 0,
			    &rseq[k]), 0);
			snprintf(sealed[k], sizeof(sealed[k]), "%s", b.data);
			buf_free(&b);
		}
		ck_assert_int_eq(spool_sync(sp), 0);
		for (k = 0; k < 3; k++) {
			rc = spool_next(sp, &seq, &data, &len);
			ck_assert_int_eq(rc, 1);
			ck_assert_uint_eq(seq, rseq[k]);
			free(data);
			spool_ack(sp, seq);
		}
		spool_stop(sp);
		spool_close(sp);
		ck_assert_int_eq(chain_save(ch), 0);
		chain_close(ch);

		buf_init(&lines, 64 * 1024);
		for (k = 0; k < (size_t)tcases[i].in_ledger; k++)
			json_line(&lines, (int)k, WORKER, sealed[k]);
		/* Another worker's line, so the file is never empty. */
		json_line(&lines, 5, "w-2", "Stored memory m-9 [op=create]");
		snprintf(path, sizeof(path), "%s/claims_audit.jsonl", dir);
		write_file(path, lines.data, lines.len, 0);
		buf_free(&lines);

		files[0] = path;
		memset(&o, 0, sizeof(o));
		o.worker = WORKER;
		o.anon = &anon;
		o.state_dir = dir;
		ck_assert_msg(ledger_verify(&o, files, 1, &r, err,
		    sizeof(err)) == 0, "%s: %s", tcases[i].name, err);
		ck_assert_msg(r.has_state && r.state_last_seq == 5,
		    "%s: state last seq %" PRIu64, tcases[i].name,
		    r.state_last_seq);
		ck_assert_uint_eq(r.n_streams, 1);
		ck_assert(r.streams[0].this_proxy);
		ck_assert_msg(r.ok == tcases[i].ok && r.pending_only ==
		    tcases[i].pending_only, "%s: ok %d pending_only %d",
		    tcases[i].name, r.ok, r.pending_only);
		ck_assert_msg(r.streams[0].missing == tcases[i].missing &&
		    r.streams[0].pending == tcases[i].pending &&
		    r.streams[0].acked_missing == tcases[i].acked_missing &&
		    r.streams[0].n_gaps == tcases[i].n_gaps,
		    "%s: missing %" PRIu64 " pending %" PRIu64 " acked %"
		    PRIu64 " gaps %zu", tcases[i].name, r.streams[0].missing,
		    r.streams[0].pending, r.streams[0].acked_missing,
		    r.streams[0].n_gaps);
		/* The last range: the queued claims 4-5. */
		ck_assert(r.streams[0].gaps[r.streams[0].n_gaps - 1].kind ==
		    LEDGER_GAP_PENDING);
		ck_assert_uint_eq(r.streams[0].gaps[r.streams[0].n_gaps -
		    1].from, 4);
		ck_assert_uint_eq(r.streams[0].gaps[r.streams[0].n_gaps -
		    1].to, 5);
		ledger_result_free(&r);
		tdir_remove(dir);
	}
	anon_free(&anon);
}
END_TEST

/* -- trail ------------------------------------------------------------- */

START_TEST(test_names)
{
	static const struct {
		const char	*text;
		int		 want;
	} tcases[] = {
		{ "for user u:f3d6ddc7... [op=create]", 1 },
		{ "for user u:f3d6ddc7", 1 },
		{ "(u:f3d6ddc7)", 1 },
		{ "user u:f3d6ddc7, agent a:9cb803ae...", 1 },
		{ "u:f3d6ddc7a", 0 },		/* a longer pseudonym */
		{ "u:f3d6ddc70... ", 0 },
		{ "xu:f3d6ddc7 ", 0 },		/* inside a word */
		{ "u:f3d6ddc", 0 },
		{ "a:f3d6ddc7", 0 },		/* another kind */
		{ "u:00000000 then u:f3d6ddc7.", 1 },
	};
	size_t	 i;

	for (i = 0; i < sizeof(tcases) / sizeof(tcases[0]); i++)
		ck_assert_msg(ledger_names(tcases[i].text,
		    strlen(tcases[i].text), "u:f3d6ddc7") == tcases[i].want,
		    "%s: want %d", tcases[i].text, tcases[i].want);
}
END_TEST

struct hits {
	uint64_t	 line[16];
	uint64_t	 seq[16];
	int		 sealed[16];
	int		 by_memory[16];
	size_t		 n;
};

static void
hit(void *arg, const struct ledger_hit *h)
{
	struct hits	*hs = arg;

	ck_assert_uint_lt(hs->n, 16);
	hs->line[hs->n] = h->line;
	hs->seq[hs->n] = h->seq;
	hs->sealed[hs->n] = h->sealed;
	hs->by_memory[hs->n] = h->by_memory;
	hs->n++;
}

#define TRAIL_MID	"4f1c2b7e-9d7a-4a39-8d3b-0c6f3f0b8a11"

START_TEST(test_trail)
{
	static const struct {
		const char	*who;
		const char	*since, *until;
		size_t		 n;
		uint64_t	 lines[8];
	} tcases[] = {
		/* 6: alice's memory M; 7: its delete (names M only); 8: a
		 * redelivery of 1 (listed once). */
		{ "alice@example.com", NULL, NULL, 6, { 1, 3, 5, 6, 7, 9 } },
		/* 9: M in another spelling (Mem0 takes any case, no
		 * dashes); the window starts after M was stored. */
		{ "alice@example.com", DAY "T10:00:06", NULL, 3,
		    { 7, 8, 9 } },
		{ "bob@example.com", NULL, NULL, 1, { 2 } },
		/* 1 is before the window: its redelivery 8 is in it. */
		{ "alice@example.com", DAY "T10:00:02", NULL, 6,
		    { 3, 5, 6, 7, 8, 9 } },
		{ "alice@example.com", NULL, DAY "T10:00:02", 1, { 1 } },
		{ "carol@example.com", NULL, NULL, 0, { 0 } },
	};
	struct chain_key	 ck;
	struct anon		 anon;
	struct hits		 hs;
	struct buf		 b;
	const char		*files[1];
	char			 dir[64], path[128], err[512], alice[16];
	char			 bob[16], pseudo[16], text[300], claim[600];
	char			 mac[CHAIN_MAC_LEN + 1], *text_out;
	struct ledger_trail_out	 out;
	cJSON			*j;
	size_t			 i, k, len;
	long			 n;

	ck_assert_int_eq(anon_init(&anon, key16, 16), 0);
	chain_key_derive(&ck, &anon);
	anon_pseudonym(&anon, 'u', "alice@example.com", 17, alice);
	anon_pseudonym(&anon, 'u', "bob@example.com", 15, bob);
	tdir_make(dir, sizeof(dir));
	buf_init(&b, 64 * 1024);
	snprintf(text, sizeof(text), "Stored memory m-1 for user %s... "
	    "[op=create method=POST status=200 request=r-1]", alice);
	seal(&ck, "a0a0a0a0a0a0a0a0", 1, "00000000000000000000000000000000",
	    text, claim, sizeof(claim), mac);
	json_line(&b, 0, WORKER, claim);
	snprintf(text, sizeof(text), "Stored memory m-2 for user %s... "
	    "[op=create method=POST status=200 request=r-2]", bob);
	json_line(&b, 1, WORKER, text);
	snprintf(text, sizeof(text), "Bulk delete for user %s...: 3 items "
	    "[op=bulk-delete method=DELETE status=200 request=r-3]", alice);
	json_line(&b, 2, "w-2", text);
	snprintf(text, sizeof(text), "Stored memory m-4 for user %s0... "
	    "[op=create]", alice);	/* a longer token: not alice */
	json_line(&b, 3, WORKER, text);
	snprintf(text, sizeof(text), "Deleted memory m-1 of user %s "
	    "[op=delete-one]", alice);
	json_line(&b, 4, WORKER, text);
	snprintf(text, sizeof(text), "Stored memory " TRAIL_MID " for user "
	    "%s... [op=create method=POST status=200 request=r-6]", alice);
	json_line(&b, 5, WORKER, text);
	json_line(&b, 6, WORKER, "Deleted memory " TRAIL_MID " [op=delete-one "
	    "method=DELETE status=200 request=r-7]");
	json_line(&b, 7, WORKER, claim);	/* line 1 again */
	json_line(&b, 8, WORKER, "Deleted memory "
	    "4F1C2B7E9D7A4A398D3B0C6F3F0B8A11 [op=delete-one method=DELETE "
	    "status=200 request=r-9]");
	snprintf(path, sizeof(path), "%s/claims_audit.jsonl.gz", dir);
	write_file(path, b.data, b.len, 1);
	buf_free(&b);
	files[0] = path;
	for (i = 0; i < sizeof(tcases) / sizeof(tcases[0]); i++) {
		anon_pseudonym(&anon, 'u', tcases[i].who,
		    strlen(tcases[i].who), pseudo);
		memset(&hs, 0, sizeof(hs));
		n = ledger_trail(pseudo, tcases[i].since, tcases[i].until,
		    files, 1, hit, &hs, err, sizeof(err));
		ck_assert_msg(n == (long)tcases[i].n && hs.n == tcases[i].n,
		    "%s: %ld hits, want %zu", tcases[i].who, n, tcases[i].n);
		for (k = 0; k < hs.n; k++)
			ck_assert_msg(hs.line[k] == tcases[i].lines[k],
			    "%s: hit %zu on line %" PRIu64 ", want %" PRIu64,
			    tcases[i].who, k, hs.line[k], tcases[i].lines[k]);
	}
	/* The sealed one names its stream and seq. */
	memset(&hs, 0, sizeof(hs));
	ck_assert_int_eq(ledger_trail(alice, NULL, NULL, files, 1, hit, &hs,
	    err, sizeof(err)), 6);
	ck_assert(hs.sealed[0] && hs.seq[0] == 1 && !hs.sealed[1]);
	ck_assert(!hs.by_memory[3] && hs.by_memory[4]);

	/* What the command prints: lines, and a JSON array. */
	memset(&out, 0, sizeof(out));
	ck_assert((out.fp = open_memstream(&text_out, &len)) != NULL);
	ck_assert_int_eq(ledger_trail(alice, NULL, NULL, files, 1,
	    ledger_trail_print, &out, err, sizeof(err)), 6);
	ledger_trail_end(&out);
	fclose(out.fp);
	ck_assert_msg(strncmp(text_out, DAY "T10:00:00.000000  "
	    "a0a0a0a0a0a0a0a0/1  Stored memory m-1 for user ", 50) == 0,
	    "%s", text_out);
	ck_assert_msg(strstr(text_out, "\n" DAY "T10:00:02.000014  -  Bulk "
	    "delete for user ") != NULL, "%s", text_out);
	free(text_out);
	memset(&out, 0, sizeof(out));
	out.json = 1;
	ck_assert((out.fp = open_memstream(&text_out, &len)) != NULL);
	ck_assert_int_eq(ledger_trail(alice, NULL, NULL, files, 1,
	    ledger_trail_print, &out, err, sizeof(err)), 6);
	ledger_trail_end(&out);
	fclose(out.fp);
	ck_assert_msg((j = cJSON_Parse(text_out)) != NULL, "%s", text_out);
	ck_assert_int_eq(cJSON_GetArraySize(j), 6);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 4),
	    "match")->valuestring, "memory");
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 2),
	    "worker_id")->valuestring, WORKER);
	ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0),
	    "seq")->valueint, 1);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 1),
	    "seq")));
	cJSON_Delete(j);
	free(text_out);
	memset(&out, 0, sizeof(out));
	out.json = 1;
	ck_assert((out.fp = open_memstream(&text_out, &len)) != NULL);
	ledger_trail_end(&out);
	fclose(out.fp);
	ck_assert_str_eq(text_out, "[]\n");
	free(text_out);
	tdir_remove(dir);
	anon_free(&anon);
}
END_TEST

START_TEST(test_time_arg)
{
	static const struct {
		const char	*in, *want;	/* want NULL: refused */
	} tcases[] = {
		{ "2026-11-28", "2026-11-28" },
		{ "2026-11-28T10", "2026-11-28T10" },
		{ "2026-11-28T10:00", "2026-11-28T10:00" },
		{ "2026-11-28 10:00:05", "2026-11-28T10:00:05" },
		{ "2026-11-28T10:00:05.867331", "2026-11-28T10:00:05.867331" },
		{ "2026-11", NULL },
		{ "2026-13-01", NULL },
		{ "2026-11-28T", NULL },
		{ "2026-11-28T25:00", NULL },
		{ "2026-11-28T10:0", NULL },
		{ "yesterday", NULL },
		{ "", NULL },
		{ "2026-11-28Z", NULL },
	};
	char	 out[LEDGER_TS_LEN];
	size_t	 i;
	int	 rc;

	for (i = 0; i < sizeof(tcases) / sizeof(tcases[0]); i++) {
		rc = ledger_time_arg(tcases[i].in, out);
		if (tcases[i].want == NULL) {
			ck_assert_msg(rc == -1, "%s: accepted", tcases[i].in);
			continue;
		}
		ck_assert_msg(rc == 0, "%s: refused", tcases[i].in);
		ck_assert_str_eq(out, tcases[i].want);
	}
}
END_TEST

UNIT_MAIN("ledger", test_verify_table, test_reports, test_missing_file,
    test_state, test_names, test_trail, test_time_arg)
