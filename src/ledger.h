/*
 * ledger: read Wingman's claim ledger (claims_audit.jsonl, one JSON object
 * a line, plain or gzip'd rotated copies) and answer two questions.
 *
 * ledger_verify(): does the ledger hold every claim this deployment
 * sealed (chain.h), unaltered? Per stream: gaps in the seqs, links whose
 * MAC does not verify with the key (altered), one seq with two texts
 * (conflict), checkpoints that disagree with the claims they restate,
 * and a trail that ends long after its last checkpoint (cut off).
 * Duplicates (at-least-once delivery) and reordering (concurrent sends,
 * retries) are counted, never failures. With the proxy's state directory
 * the missing seqs are told apart: still queued in the spool, delivered
 * per the spool yet absent from the ledger, or missing.
 *
 * Two passes over the files, kept open in between (a rotation during the
 * run does not change what is read): the first keeps a small record per
 * sealed claim of the worker (seq, stream, place, timestamp, a 128-bit
 * digest of the text, the chain value), never the text; the records are
 * sorted by stream and seq; the second pass reads again only the lines
 * whose link or checkpoint must be checked. Memory: about 70 bytes per
 * claim of the worker, nothing per other line.
 *
 * ledger_trail(): the claims that name one pseudonym ("u:1a2b3c4d"), for
 * access requests and erasure evidence.
 *
 * Timestamps are Wingman's local naive ISO times; windows (since, until)
 * compare them as text ("2026-11-28" <= t < "2026-11-29"), durations
 * (overdue checkpoints) as if they were UTC.
 *
 * Ownership: ledger_verify() fills a caller-owned struct ledger_result
 * that ledger_result_free() releases; file names in it point into the
 * caller's array (not copied: keep it alive while printing). Nothing else
 * is retained between calls.
 */
#ifndef LEDGER_H
#define LEDGER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "anon.h"
#include "chain.h"

#define LEDGER_LINE_MAX		(1024 * 1024)	/* longer: malformed */
#define LEDGER_LIST_MAX		20	/* listed items of each kind */
#define LEDGER_FILES_MAX	4096
/* Streams of one worker: more is not a deployment, it is an attack on
 * the verifier's memory (reported, fails). */
#define LEDGER_STREAMS_MAX	1024
#define LEDGER_TS_LEN		40	/* a timestamp as text, with NUL */
/* No checkpoint in a stream, none configured: the interval assumed. */
#define LEDGER_DEFAULT_INTERVAL_S	60

struct ledger_opts {
	const char		*worker;	/* whose lines count */
	const char		*since;		/* a ledger_time_arg() value,
						   inclusive, or NULL */
	const char		*until;		/* exclusive, or NULL */
	const char		*state_dir;	/* the proxy's state_dir, or
						   NULL */
	const char		*stream;	/* only this stream (another
						   key's streams, a rotation),
						   or NULL for all */
	const struct anon	*anon;		/* the HMAC key */
	long			 default_interval_s; /* a stream without
						   checkpoint: its interval
						   (0: LEDGER_DEFAULT_...) */
};

/* A place in the files: res->files[file], 1-based line. */
struct ledger_at {
	uint32_t	 file;
	uint32_t	 line;
};

struct ledger_file {
	const char	*path;		/* the caller's string */
	uint64_t	 lines;
};

enum ledger_gap_kind {
	LEDGER_GAP_MISSING = 0,		/* not in the ledger */
	LEDGER_GAP_PENDING,		/* queued in the spool, unacked */
	LEDGER_GAP_ACKED,		/* the spool says delivered */
	LEDGER_GAP_VOIDED		/* a verified checkpoint says the
					   proxy never stored them (their
					   fsync failed): not a failure */
};

struct ledger_gap {
	uint64_t		 from, to;	/* inclusive */
	enum ledger_gap_kind	 kind;
};

struct ledger_altered {
	uint64_t		 seq;
	struct ledger_at	 at;
};

struct ledger_conflict {
	uint64_t		 seq;
	struct ledger_at	 first, other;
};

struct ledger_reorder {
	uint64_t		 seq;
	uint64_t		 after_seq;	/* the higher seq before it */
	struct ledger_at	 at;
};

struct ledger_cp_bad {
	uint64_t		 seq;		/* the checkpoint claim's */
	uint64_t		 through;
	struct ledger_at	 at;
};

struct ledger_stream {
	char		 id[CHAIN_STREAM_LEN + 1];
	int		 this_proxy;	/* the state directory's stream */
	uint64_t	 first_seq;	/* lowest and highest in the window */
	uint64_t	 last_seq;	/* (0: none) */
	uint64_t	 claims;	/* distinct seqs in the window */
	uint64_t	 verified;	/* links whose MAC verified */
	uint64_t	 duplicates;	/* extra copies, same text */
	uint64_t	 unlinked;	/* seq - 1 absent: not checkable */

	uint64_t	 gap_ranges;
	uint64_t	 missing;	/* seqs, LEDGER_GAP_MISSING */
	uint64_t	 pending;	/* seqs, LEDGER_GAP_PENDING */
	uint64_t	 acked_missing;	/* seqs, LEDGER_GAP_ACKED */
	uint64_t	 voided;	/* seqs, LEDGER_GAP_VOIDED */
	uint64_t	 unstored;	/* claims the spool refused, as
					   its checkpoints state (logged
					   for replay) */
	size_t		 n_gaps;
	struct ledger_gap	 gaps[LEDGER_LIST_MAX];

	uint64_t	 altered;
	size_t		 n_altered;
	struct ledger_altered	 altered_at[LEDGER_LIST_MAX];
	int		 wrong_key;	/* links checked, none verified */

	uint64_t	 conflicts;
	size_t		 n_conflicts;
	struct ledger_conflict	 conflict_at[LEDGER_LIST_MAX];

	uint64_t	 reordered;
	size_t		 n_reordered;
	struct ledger_reorder	 reorder_at[LEDGER_LIST_MAX];

	uint64_t	 cp_bad;	/* checkpoints that disagree */
	size_t		 n_cp_bad;
	struct ledger_cp_bad	 cp_bad_at[LEDGER_LIST_MAX];

	int		 has_cp;	/* a last checkpoint was found */
	uint64_t	 cp_seq;	/* its own seq */
	uint64_t	 cp_through;
	char		 cp_ts[LEDGER_TS_LEN];
	char		 cp_reason[16];
	long		 cp_every;	/* -1: not stated */
	long		 cp_interval_s;	/* -1: not stated */
	struct ledger_at cp_at;

	uint64_t	 unconfirmed;	/* seqs after the last checkpoint */
	char		 unconfirmed_ts[LEDGER_TS_LEN];	/* the oldest */
	int		 closed;	/* ends with a reason=stop checkpoint */
	int		 overdue;	/* the checkpoint should be there */
	uint64_t	 cut_after;	/* overdue: the highest seq seen */

	int		 ok;		/* nothing above fails */
};

struct ledger_result {
	struct ledger_file	*files;
	size_t			 n_files;
	const char		*worker;	/* opts->worker */

	uint64_t	 lines;		/* all lines read */
	uint64_t	 ours;		/* the worker's claims in the window */
	uint64_t	 sealed;	/* ... of them sealed */
	uint64_t	 unchained;	/* ... without a seal */
	uint64_t	 outside;	/* the worker's, outside the window */
	uint64_t	 other_workers;	/* lines of other (or no) workers */
	uint64_t	 other_streams;	/* sealed, not opts->stream */
	int		 too_many_streams; /* LEDGER_STREAMS_MAX reached */
	uint64_t	 unstored;	/* the streams' unstored, summed */
	int		 unreplayed;	/* more than the unchained claims
					   in the window: fails */
	uint64_t	 malformed;	/* not JSON, read two ways, no
					   claim, too long, a sealed claim
					   without a time: fails */
	size_t		 n_malformed;
	struct ledger_at	 malformed_at[LEDGER_LIST_MAX];
	char		 end_ts[LEDGER_TS_LEN];	/* the newest line, or
						   until: "" when none */

	int		 has_state;	/* opts->state_dir was read */
	char		 state_stream[CHAIN_STREAM_LEN + 1];
	uint64_t	 state_last_seq;
	uint64_t	 spool_records;	/* of the state's stream */
	unsigned long	 spool_damaged;	/* records spool_scan() skipped */
	long		 interval_s;	/* assumed without checkpoint */

	struct ledger_stream	*streams;	/* those with claims in the
						   window, and the state's */
	size_t			 n_streams;

	uint64_t	 pending;	/* sum of the streams' pending */
	int		 pending_only;	/* not ok only because of it */
	int		 ok;		/* complete and unaltered */
};

/*
 * A --since/--until argument: "YYYY-MM-DD", optionally followed by 'T'
 * or ' ' and "HH", "HH:MM", "HH:MM:SS" or "HH:MM:SS.ffffff". Writes the
 * normalized form ('T') to out (LEDGER_TS_LEN bytes). 0, or -1 when it
 * is not such a time.
 */
int	 ledger_time_arg(const char *in, char *out);

/*
 * Verify files[0..n) in that order (rotated copies oldest first). Fills
 * res (zeroed first; free it with ledger_result_free() whatever the
 * return). Returns 0 when the files were read (res->ok says whether
 * they pass), -1 with a message in err on an I/O error, a file that
 * changed between the passes, out of memory, or an unreadable state
 * directory.
 */
int	 ledger_verify(const struct ledger_opts *o, const char *const *files,
	    size_t n, struct ledger_result *res, char *err, size_t errlen);

/* The report for a human auditor, and the same facts as one JSON object. */
void	 ledger_print(FILE *fp, const struct ledger_result *r);
int	 ledger_print_json(FILE *fp, const struct ledger_result *r);

void	 ledger_result_free(struct ledger_result *r);

/* One claim that names the pseudonym (ledger_trail()). */
struct ledger_hit {
	const char	*timestamp;	/* "" when the line has none */
	const char	*worker;	/* "" when the line has none */
	const char	*claim;		/* NUL-terminated, as in the ledger */
	size_t		 claim_len;
	int		 sealed;
	int		 by_memory;	/* names no entity, but a memory
					   stored for it */
	char		 stream[CHAIN_STREAM_LEN + 1];	/* when sealed */
	uint64_t	 seq;		/* when sealed */
	const char	*file;
	uint64_t	 line;
};

/*
 * Call fn for every claim in files[0..n) (in file order) that names
 * pseudo ("u:1a2b3c4d") as a whole token, or a memory id that such a
 * claim names (so "Deleted memory X" of the entity's memory X is in its
 * trail), within [since, until) (either may be NULL); a claim delivered
 * more than once (same stream and seq) is reported once. Two passes
 * over the files. The chain is not checked here (verify-ledger does).
 * The hit's strings are valid during the call only.
 * Returns the number of hits, or -1 with a message in err (I/O error,
 * out of memory).
 */
long	 ledger_trail(const char *pseudo, const char *since, const char *until,
	    const char *const *files, size_t n,
	    void (*fn)(void *arg, const struct ledger_hit *h), void *arg,
	    char *err, size_t errlen);

/*
 * A ledger_trail() callback that prints each hit to fp: a line
 * "TIMESTAMP  STREAM/SEQ  CLAIM" ("-" for an unsealed claim; control
 * characters as '?'), or with json an element of a JSON array (timestamp,
 * worker_id, stream, seq, claim, match: "entity" or "memory", file,
 * line). ledger_trail_end() ends the
 * array ("[]" when there was no hit).
 */
struct ledger_trail_out {
	FILE		*fp;
	int		 json;
	long		 n;		/* hits printed */
};
void	 ledger_trail_print(void *arg, const struct ledger_hit *h);
void	 ledger_trail_end(struct ledger_trail_out *out);

/* 1 if text[0..len) names pseudo as a whole token (ledger_trail()). */
int	 ledger_names(const char *text, size_t len, const char *pseudo);

#endif /* LEDGER_H */
