/*
 * spool: the durable claim queue. Every claim is appended here before it
 * counts as accepted, and removed only after Wingman logged it, so a crash,
 * a restart or a long Wingman outage loses nothing (delivery is at least
 * once: a claim may be sent twice, never zero times).
 *
 * On disk: segment files DIR/seg-<first seq, 16 hex digits>.log; each
 * record is framed with a magic, its length, a CRC-32C of the payload and
 * its sequence number, so a torn or corrupt tail is detected on replay,
 * counted and skipped, never trusted and never a crash. Acknowledged
 * records are remembered in a small sidecar file (DIR/acked) so a restart
 * does not resend a whole segment; a segment whose records are all
 * acknowledged is unlinked.
 *
 * Bounded by max_bytes. When full, overflow BLOCK makes spool_append()
 * fail with SPOOL_EFULL (the caller refuses new work: nothing happens
 * unaudited); DROP_OLDEST discards the oldest records (counted).
 *
 * Thread-safety: every function may be called from any thread; one mutex
 * inside. Appends come from the front's thread, the consumer runs on the
 * engine thread.
 *
 * Ownership: spool_open() returns a spool the caller closes with
 * spool_close(); spool_next() returns a malloc'd copy the caller frees.
 */
#ifndef SPOOL_H
#define SPOOL_H

#include <stddef.h>
#include <stdint.h>

#define SPOOL_EFULL	(-2)	/* spool_append: over max_bytes (BLOCK) */
#define SPOOL_EIO	(-1)	/* write/fsync failed: disk full, EIO, ... */

#define SPOOL_MAX_RECORD	(64 * 1024)	/* payload bytes */

enum spool_overflow {
	SPOOL_BLOCK = 0,
	SPOOL_DROP_OLDEST
};

struct spool_opts {
	const char		*dir;		/* created 0700 if missing */
	size_t			 max_bytes;	/* all segments, framing incl. */
	size_t			 segment_bytes;	/* rotate after this */
	enum spool_overflow	 overflow;
	int			 fsync_always;	/* else spool_sync() batches */
};

struct spool_stats {
	size_t			 records;	/* not yet acknowledged */
	size_t			 bytes;		/* on disk */
	size_t			 inflight;	/* handed out by spool_next */
	unsigned long long	 appended;
	unsigned long long	 acked;
	unsigned long long	 dropped;	/* DROP_OLDEST overflow */
	unsigned long long	 corrupt;	/* bad records found on replay */
	unsigned long long	 io_errors;
};

struct spool;

/*
 * Open (and replay) the spool in o->dir. Records found on disk and not
 * acknowledged become pending again. Returns 0, or -1 with a message in
 * err (directory not creatable or not writable, ...).
 */
int	 spool_open(struct spool **out, const struct spool_opts *o,
	    char *err, size_t errlen);

/*
 * Append one record. sync forces an fsync before returning whatever the
 * policy (claims of gated and export routes). Returns 0, SPOOL_EFULL or
 * SPOOL_EIO; on error nothing was appended.
 */
int	 spool_append(struct spool *s, const void *data, size_t len, int sync);

/*
 * Hand out the oldest pending record that is not in flight: returns 1 and
 * sets *seq, *data (malloc'd, NUL-terminated, caller frees) and *len; 0
 * when there is none; -1 on error. The record stays in the spool, in
 * flight, until spool_ack() or spool_nack().
 */
int	 spool_next(struct spool *s, uint64_t *seq, char **data, size_t *len);

/* Delivered: forget the record (segments fully acked are unlinked). */
void	 spool_ack(struct spool *s, uint64_t seq);
/* Not delivered: the record is pending again and comes out first. */
void	 spool_nack(struct spool *s, uint64_t seq);

/* fsync what was appended since the last sync (batched policy). */
int	 spool_sync(struct spool *s);

void	 spool_get_stats(struct spool *s, struct spool_stats *st);

/* 1 if the spool can take appends now (not full under BLOCK, no I/O error
 * since the last successful append). For readiness. */
int	 spool_writable(struct spool *s);

/* Sync, persist the ack state, close files, free. NULL is fine. */
void	 spool_close(struct spool *s);

#endif /* SPOOL_H */
