/*
 * chain: the keyed chain over the claims, so that an auditor can prove the
 * Wingman ledger holds every claim the proxy made, unaltered.
 *
 * Every claim the proxy stores is sealed before it enters the spool: its
 * bracketed tail gets " stream=S seq=N chain=C" before the closing ']':
 *
 *   Deleted memory 1f0c... [op=delete method=DELETE status=204
 *   request=r-1 stream=9c1e4f2a7b3d5e60 seq=42 chain=<32 hex>]
 *
 *   S  the proxy's stream: 16 hex digits, made once and kept in
 *      STATE_DIR/chain (one per proxy: replicas have their own);
 *   N  1, 2, 3, ... in the order claims enter the spool; kept across
 *      restarts, so a redelivered claim carries the same N and C;
 *   C  the first 32 hex digits of HMAC-SHA256(K, P "\n" B), where P is
 *      the chain value of claim N-1 (32 '0' for N = 1) and B the claim
 *      text up to, not including, " chain=". K is derived from the HMAC
 *      key (chain_key_derive()): nobody without it can forge a link.
 *
 * Checkpoint claims restate the chain every claims.checkpoint_every
 * claims or claims.checkpoint_interval_s seconds (when something was
 * claimed since the last one), at start and at a clean stop; they are
 * chained like every other claim:
 *
 *   Checkpoint of stream S: through seq N chain C [op=checkpoint
 *   reason=interval every=1000 interval=60s stream=S seq=N+1 chain=...]
 *
 * reason is start, count, interval or stop. A trail whose newest claims
 * were cut off ends without the checkpoint that should follow them.
 *
 * Ownership: chain_open() returns a chain freed by chain_close(). The
 * caller serializes chain_seal() and chain_advance() (a claim is sealed
 * against the last one stored); the other calls may come from any thread.
 */
#ifndef CHAIN_H
#define CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "anon.h"
#include "buf.h"

#define CHAIN_STREAM_LEN	16	/* hex digits */
#define CHAIN_MAC_LEN		32	/* hex digits */
#define CHAIN_KEY_LEN		32	/* bytes */
/* What chain_seal() adds at most (" stream=... seq=... chain=..."). */
#define CHAIN_SEAL_MAX		(8 + CHAIN_STREAM_LEN + 5 + 20 + 7 + \
				    CHAIN_MAC_LEN)

struct chain_key {
	unsigned char	 k[CHAIN_KEY_LEN];
};

/* K = HMAC-SHA256(HMAC key, "mem0-audit-proxy chain key v1"). */
void	 chain_key_derive(struct chain_key *ck, const struct anon *a);

/*
 * out (CHAIN_MAC_LEN + 1 bytes) = the chain value of a claim whose text
 * up to " chain=" is body[0..len), after prev (CHAIN_MAC_LEN hex digits).
 */
void	 chain_mac(const struct chain_key *ck, const char *prev,
	    const char *body, size_t len, char *out);

/* The seal of a claim, as chain_parse() reads it. */
struct chain_seal {
	char		 stream[CHAIN_STREAM_LEN + 1];
	uint64_t	 seq;
	char		 mac[CHAIN_MAC_LEN + 1];
	size_t		 body_len;	/* text up to " chain=" */
	size_t		 text_len;	/* text up to " stream=": the
					   claim as it was before sealing,
					   without its closing ']' */
};

/*
 * 1 if claim[0..len) ends with a well-formed seal (" stream=<16 hex>
 * seq=<1..19 digits, not 0, no leading 0> chain=<32 hex>]"), filling s;
 * 0 if it has none.
 */
int	 chain_parse(const char *claim, size_t len, struct chain_seal *s);

/* What a checkpoint claim states (chain_parse_checkpoint()). */
struct chain_checkpoint {
	uint64_t	 through;	/* last seq before the checkpoint */
	char		 mac[CHAIN_MAC_LEN + 1];	/* its chain value */
	char		 reason[16];	/* start, count, interval, stop */
	long		 every;		/* claims between checkpoints */
	long		 interval_s;	/* seconds between checkpoints */
	long		 unstored;	/* claims the spool refused since
					   the last one (logged for
					   replay); 0 when not stated */
	const char	*voided;	/* "A-B:M,C:N": seqs sealed but never
					   stored (their fsync failed),
					   pointing into the claim; NULL */
	size_t		 voided_len;
};

/* 1 if claim[0..len) is a checkpoint claim (sealed or not), else 0. */
int	 chain_parse_checkpoint(const char *claim, size_t len,
	    struct chain_checkpoint *cp);

/* The proxy's chain: its stream, the last seq and value handed out. */
struct chain;

/*
 * Open the chain kept in dir/chain (a file of a few lines with its own
 * checksum), or start a new stream there. A file that cannot be read
 * back (damaged) starts a new stream too; *note (static text, may be
 * set to NULL) then says why, for a claim and the log. Returns 0, or -1
 * with a message in err (the directory is not writable, ...).
 */
int	 chain_open(struct chain **out, const char *dir, const struct anon *a,
	    const char **note, char *err, size_t errlen);

/*
 * A stored claim found on disk at start (the spool's newest record): if
 * it is sealed in this stream with a later seq than the file, the chain
 * goes on from it.
 */
void	 chain_observe(struct chain *c, const char *rec, size_t len);

/*
 * Write the state (stream, last seq and value) to dir/chain: in place,
 * one of two slots in turn, fdatasync (works on a full disk). Any thread (the state is
 * read under the chain's own small lock). 0, or -1 with errno.
 */
int	 chain_save(struct chain *c);

/*
 * Seal text (a claim ending with ']') as the next claim: append the
 * sealed claim to out and set *seq. The chain does not move until
 * chain_advance() (the spool may refuse the record). 0, or -1 when text
 * does not end with ']' or out is full.
 */
int	 chain_seal(struct chain *c, const char *text, size_t len,
	    struct buf *out, uint64_t *seq);

/* The sealed claim sealed[0..len) was stored: it is the last link now. */
void	 chain_advance(struct chain *c, const char *sealed, size_t len);

/*
 * Append the (unsealed) checkpoint claim for the current state: reason
 * as in the header comment, every and interval_s as configured; extra
 * (NULL for none) goes into the tail as is: " unstored=N" (claims the
 * spool refused since the last checkpoint, logged for replay) and
 * " voided=A-B:M,C:N" (seqs sealed whose fsync failed: never stored,
 * never sent; what they said was refused or logged; M the chain value
 * of B, so the claim after B can still be checked), reason "loss".
 */
int	 chain_checkpoint_text(struct chain *c, struct buf *out,
	    const char *reason, long every, long interval_s,
	    const char *extra);

/*
 * Read-only, for audits (verify-ledger --state): the stream and last seq
 * saved in dir/chain (the spool may hold later ones). 0, or -1 with a
 * message in err.
 */
int	 chain_peek(const char *dir, const struct anon *a,
	    char stream[CHAIN_STREAM_LEN + 1], uint64_t *last_seq, char *err,
	    size_t errlen);

/* The last seq handed out and its chain value (CHAIN_MAC_LEN + 1). */
void		 chain_last(struct chain *c, uint64_t *seq, char *mac);

/* The stream id (CHAIN_STREAM_LEN hex digits) and the last seq. */
const char	*chain_stream(const struct chain *c);
uint64_t	 chain_last_seq(struct chain *c);

void	 chain_close(struct chain *c);

#endif /* CHAIN_H */
