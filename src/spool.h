/*
 * spool: the durable claim queue. Every claim is written here before it
 * counts as accepted, and removed only after Wingman logged it, so a crash,
 * a restart or a long Wingman outage loses nothing (delivery is at least
 * once: a claim may be sent twice, never zero times).
 *
 * On disk: segment files DIR/seg-<first seq, 16 hex digits>.log; each
 * record is framed with a magic, its length, a CRC-32C of the payload and
 * its sequence number, so a torn or corrupt record is detected on replay,
 * counted, copied to DIR/quarantine/ and skipped, never trusted and never
 * a crash. Acknowledged records are remembered in a small checksummed
 * sidecar file (DIR/acked) so a restart does not resend a whole segment;
 * a damaged or impossible one is ignored (everything is replayed). A
 * segment whose records are all acknowledged is removed.
 *
 * Threads. spool_append() writes the record to the kernel (one writev on
 * the caller's thread: a process crash right after loses nothing) and
 * returns its sequence number. Everything that waits for the disk (fsync,
 * new segment files, the acked file and its rename, unlinking delivered
 * segments, recovering from a full disk) runs on the spool's own writer
 * thread, never holding the mutex while it waits. After each fsync the
 * writer calls the synced callback with the highest sequence number now
 * durable (group commit: one fsync covers every record written before
 * it). spool_next() (the sender, on the engine thread) serves recent
 * records from memory and reads older ones back from disk.
 *
 * Bounded by max_bytes. When full, overflow BLOCK makes spool_append()
 * fail with SPOOL_EFULL (the caller refuses new work: nothing happens
 * unaudited); DROP_OLDEST discards the oldest records (counted). A failed
 * write (disk full, I/O error) makes the spool unwritable until the
 * writer's probe finds that it takes writes again; delivered segments are
 * removed meanwhile, so a full disk recovers without a restart.
 *
 * Ownership: spool_open() returns a spool the caller closes with
 * spool_close(); spool_next() returns a malloc'd copy the caller frees.
 */
#ifndef SPOOL_H
#define SPOOL_H

#include <stddef.h>
#include <stdint.h>

#define SPOOL_EFULL	(-2)	/* spool_append: over max_bytes (BLOCK) */
#define SPOOL_EIO	(-1)	/* write failed: disk full, EIO, ... */
#define SPOOL_RETRY	(-3)	/* spool_next: a transient read error */

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
	long			 sync_interval_ms; /* fsync at least this
						   often while there is
						   unsynced data */
	int			 sync_every;	/* fsync after every write
						   (spool.fsync: always) */
	/*
	 * Optional, for what the owner derives from the records (the
	 * claim chain, chain.h): tail is called once by spool_open() with
	 * the newest intact record on disk, delivered or not; unlinking
	 * before any segment file is removed (at open or on the writer,
	 * no lock held), so the owner can first store what it would need
	 * from them. When unlinking returns -1 the files stay (logged;
	 * removed at the next start).
	 */
	void			(*tail)(void *arg, const char *data,
				    size_t len);
	int			(*unlinking)(void *arg);
	void			*hook_arg;
};

struct spool_stats {
	size_t			 records;	/* not yet acknowledged */
	size_t			 bytes;		/* on disk */
	size_t			 inflight;	/* handed out by spool_next */
	unsigned long long	 appended;
	unsigned long long	 acked;
	unsigned long long	 dropped;	/* DROP_OLDEST overflow */
	unsigned long long	 corrupt;	/* bad records, quarantined */
	unsigned long long	 io_errors;
	unsigned long long	 syncs;		/* fsyncs done by the writer */
	int			 writable;	/* takes appends now */
	int			 spare_ready;	/* the next segment file is
						   made (bursts outrunning the
						   writer grow the current) */
	double			 unwritable_s;	/* total time it did not */
};

/* Runs on the writer thread after an fsync: records up to seq are on disk
 * (ok), or the fsync failed (ok 0; then seq is what it tried). */
typedef void	 spool_synced_fn(void *arg, uint64_t seq, int ok);

struct spool;

/*
 * Open (and replay) the spool in o->dir. Records found on disk and not
 * acknowledged become pending again. Returns 0, or -1 with a message in
 * err (directory not creatable or not writable, ...). No thread yet.
 */
int	 spool_open(struct spool **out, const struct spool_opts *o,
	    char *err, size_t errlen);

/*
 * What the writer thread tells the spool's owner. Each runs on the
 * writer thread with no lock of the spool held; any may be NULL.
 */
struct spool_hooks {
	spool_synced_fn	*synced;	/* after each fsync */
	/* Records read back from disk are ready: spool_next() again. */
	void		(*loaded)(void *arg);
	/*
	 * A record that will never be sent from the spool (DROP_OLDEST
	 * made room): data[0..len) is its payload, NUL-terminated; why a
	 * static reason. The owner keeps it some other way (the log).
	 */
	void		(*lost)(void *arg, const char *data, size_t len,
			    const char *why);
	void		*arg;
};

/* Start the writer thread. hooks (copied) may be NULL. */
int	 spool_start(struct spool *s, const struct spool_hooks *hooks);

/*
 * spool_append() flag: the record is true only if it is stored. The
 * caller waits for its fsync (the synced hook) and, if that fails,
 * answers otherwise (a refusal); the spool then never delivers it, and
 * spool_next() hands it out only once its fsync succeeded.
 */
#define SPOOL_APPEND_COND	0x1

/*
 * Any thread. Write one record (to the kernel: not yet fsync'd) and set
 * *seq (may be NULL). flags: 0 or SPOOL_APPEND_COND. Returns 0,
 * SPOOL_EFULL or SPOOL_EIO; on error nothing was appended.
 */
int	 spool_append(struct spool *s, const void *data, size_t len,
	    int flags, uint64_t *seq);

/* Any thread. Ask the writer for an fsync now (someone waits for it). */
void	 spool_want_sync(struct spool *s);

/* The highest seq known to be on disk (0: none yet). Any thread. */
uint64_t spool_synced(struct spool *s);

/*
 * Hand out the oldest pending record that is not in flight: returns 1 and
 * sets *seq, *data (malloc'd, NUL-terminated, caller frees) and *len; 0
 * when there is none, or when it is on disk only: the writer reads it
 * back and calls the loaded hook (the engine thread never waits for the
 * disk; without a writer thread it is read here); SPOOL_RETRY when
 * records are pending but could not be read lately (EMFILE, EIO, a
 * short read: they stay pending, the caller tries later); -1 when out
 * of memory. A record whose checksum or
 * framing is wrong is copied to DIR/quarantine/, counted, logged by the
 * caller through spool_get_stats(), and skipped. The record stays in the
 * spool, in flight, until spool_ack() or spool_nack().
 */
int	 spool_next(struct spool *s, uint64_t *seq, char **data, size_t *len);

/* Delivered: forget the record (segments fully acked are removed). */
void	 spool_ack(struct spool *s, uint64_t seq);
/* Not delivered: the record is pending again and comes out first. */
void	 spool_nack(struct spool *s, uint64_t seq);

/*
 * fsync what was written, on the caller's thread. For shutdown, after
 * spool_stop(); the writer does it otherwise. 0 or -1.
 */
int	 spool_sync(struct spool *s);

void	 spool_get_stats(struct spool *s, struct spool_stats *st);

/*
 * Read-only, for audits while a proxy runs (verify-ledger --state):
 * call fn for every intact record in the spool directory dir, by
 * segment and offset (ascending seq), with acked 1 when the acked file
 * says it was delivered. Damaged records are skipped (*bad counts them,
 * may be NULL). fn returns 0 to go on, else the scan stops and returns
 * that. 0, or -1 with a message in err.
 */
int	 spool_scan(const char *dir, int (*fn)(void *arg, uint64_t seq,
	    const char *data, size_t len, int acked), void *arg,
	    unsigned long *bad, char *err, size_t errlen);

/* 1 if the spool takes appends now (not full under BLOCK, not failed). */
int	 spool_writable(struct spool *s);

/* Stop the writer: a last fsync and acked file, then join. Idempotent. */
void	 spool_stop(struct spool *s);

/*
 * spool_stop(), waiting at most ms (< 0: for ever) for the writer. When
 * it is still stuck in the disk (a hanging fsync), the spool is left to
 * it (never freed; the process is exiting) and -1 returned.
 */
int	 spool_stop_within(struct spool *s, long ms);

/* spool_stop(), close files, free (not a spool left to its writer).
 * NULL is fine. */
void	 spool_close(struct spool *s);

#endif /* SPOOL_H */
