/*
 * spool: the durable claim queue. See spool.h.
 *
 * A record on disk (all integers little-endian):
 *	0	magic	u32	SPOOL_MAGIC ("SPL1")
 *	4	len	u32	payload bytes, at most SPOOL_MAX_RECORD
 *	8	seq	u64
 *	16	crc	u32	CRC-32C of the payload
 *	20	hcrc	u32	CRC-32C of bytes 0..19, so a corrupt length is
 *				never believed
 *	24	payload
 *
 * A segment's name is at most the seq of its first record: a new segment
 * is made ahead of time by the writer (the "spare", named after the next
 * seq at that time) and taken over by an append when the active one is
 * full. Records only go to the newest segment, so seqs increase over the
 * segments in name order.
 *
 * Replay trusts a length only when the header checksum holds. After a bad
 * header it resynchronizes on the next magic whose header and payload
 * checksums both hold and whose seq is above every seq already accepted;
 * a bad region counts once in stats.corrupt and its bytes are copied to
 * DIR/quarantine/ (never just dropped). Records are strictly increasing in
 * seq over the segments in name order; anything else is counted as
 * corrupt.
 *
 * DIR/acked (text, replaced with write + rename by the writer):
 *	spool-acked 2
 *	next <seq>	next sequence number at write time
 *	low <seq>	every seq below it is acknowledged
 *	<seq>		... acknowledged seqs above low, ascending
 *	end
 *	crc <8 hex>	CRC-32C of every byte before this line
 * A missing, damaged or impossible file (a seq above any record on disk)
 * only means resends (at least once): it is ignored and the reason logged.
 * The seq of a new record is above "next", so a stale acked file never
 * marks a new record as acknowledged.
 *
 * DIR/lock is flock()ed while the spool is open: two processes appending
 * to one directory would interleave their records.
 *
 * In memory: per segment an array of (seq, offset, length, state, cached
 * payload); recent payloads stay in memory (SPOOL_CACHE_MAX) so the
 * sender rarely reads the disk. One mutex guards it all; no thread holds
 * it while it waits for the disk.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"
#include "trust.h"

#define SPOOL_MAGIC		0x314c5053u	/* "SPL1" on disk */
#define SPOOL_HDR		24
#define SPOOL_SEG_NAMELEN	24		/* seg-<16 hex>.log */
#define SPOOL_ACKED		"acked"
#define SPOOL_ACKED_TMP		"acked.tmp"
#define SPOOL_PROBE		"probe.tmp"
#define SPOOL_QUARANTINE	"quarantine"
#define SPOOL_LOCK		"lock"
#define SPOOL_ACKED_MAX		65536		/* seqs listed above low */
#define SPOOL_RD_CAP		(256 * 1024)	/* replay read window */
#define SPOOL_DEF_MAX		((size_t)256 * 1024 * 1024)
#define SPOOL_DEF_SEG		((size_t)4 * 1024 * 1024)
#define SPOOL_RECS_MIN		64
#define SPOOL_CRC_POLY		0x82f63b78u	/* Castagnoli, reflected */
#define SPOOL_CACHE_MAX		((size_t)8 * 1024 * 1024)
#define SPOOL_ACKED_EVERY_MS	1000		/* acked file at most */
#define SPOOL_RETRY_MIN_MS	100		/* after a failed write */
#define SPOOL_RETRY_MAX_MS	2000
#define SPOOL_READ_RETRY_MS	200		/* after a failed read */
#define SPOOL_PROBE_BYTES	4096
#define SPOOL_QUARANTINE_MAX	(1024 * 1024)	/* bytes kept per region */
#define SPOOL_FETCH_MAX		1024		/* records read back at once */
#define SPOOL_FETCH_BYTES	(1024 * 1024)
#define SPOOL_LOG_EVERY_MS	10000		/* a repeated warning */
#define SPOOL_SEQ_MAX		((uint64_t)1 << 62) /* never reached */
#define SPOOL_OPEN_TRIES	5		/* reads at start, transient */

enum spool_state {
	SPOOL_PENDING = 0,
	SPOOL_INFLIGHT,
	SPOOL_DONE			/* acked, or quarantined */
};

struct spool_rec {
	uint64_t	 seq;
	uint64_t	 off;
	uint32_t	 len;
	uint16_t	 state;
	uint16_t	 cond;		/* SPOOL_APPEND_COND */
	char		*mem;		/* payload copy, or NULL */
};

struct spool_seg {
	uint64_t		 name;		/* at most the first seq */
	uint64_t		 size;		/* bytes in the file */
	int			 fd;		/* the active segment's, else -1 */
	struct spool_rec	*recs;		/* ascending seq */
	size_t			 n;
	size_t			 cap;
	size_t			 lo;		/* recs[0..lo) all DONE */
	size_t			 scan;		/* no PENDING in recs[0..scan) */
	size_t			 live;		/* not DONE */
	size_t			 ndone;
	long long		 retry_at;	/* a read failed: not before */
};

/* What reading a record back found. */
enum spool_read {
	SPOOL_READ_OK = 0,
	SPOOL_READ_AGAIN,	/* a transient error: keep it, try later */
	SPOOL_READ_BAD,		/* not what the index says: quarantine */
	SPOOL_READ_GONE		/* the segment file is not there */
};

/* A reader's descriptor: one segment file open at a time. */
struct spool_reader {
	int		 fd;
	uint64_t	 name;		/* of the file fd reads */
};

/* Work handed to the writer thread. */
struct spool_todo {
	int		*fds;		/* fsync then close */
	size_t		 nfds;
	uint64_t	*unlink;	/* segment names to remove */
	size_t		 nunlink;
	size_t		 cap_fds;
	size_t		 cap_unlink;
};

/* A segment dropped to make room (DROP_OLDEST): its claims go to the
 * lost hook before the file goes. */
struct spool_drop_rec {
	uint64_t	 seq;
	uint64_t	 off;
	uint32_t	 len;
	char		*mem;		/* cached copy, or NULL: read it */
};

struct spool_drop {
	uint64_t		 name;
	struct spool_drop_rec	*recs;
	size_t			 n;
	struct spool_drop	*next;
};

struct spool_quar {
	uint64_t		 seg;
	uint64_t		 off;
	unsigned char		*bytes;
	size_t			 len;
	struct spool_quar	*next;
};

struct spool {
	pthread_mutex_t		 mu;
	pthread_cond_t		 cond;		/* wakes the writer */
	pthread_t		 thread;
	int			 started;
	int			 stopping;
	int			 abandoned;	/* spool_stop_within() gave up
						   on the writer: never freed */

	char			*dir;
	int			 dfd;
	int			 lockfd;
	size_t			 max_bytes;
	size_t			 segment_bytes;
	enum spool_overflow	 overflow;
	long			 sync_interval_ms;
	int			 sync_every;
	void			(*tail)(void *, const char *, size_t);
	int			(*unlinking)(void *);
	void			*hook_arg;

	struct spool_seg	**segs;		/* ascending name */
	size_t			 nsegs;
	size_t			 segcap;
	struct spool_seg	*active;	/* appended to; last in segs */
	int			 spare_fd;	/* made by the writer, or -1 */
	uint64_t		 spare_name;
	struct spool_todo	 todo;
	struct spool_quar	*quar;
	struct spool_drop	*drops;		/* oldest last */

	/* Reading back: spool_next() without a writer, or the writer. */
	struct spool_reader	 rd;
	int			 fetch_wanted;	/* spool_next() waits for one */
	long long		 read_logged_ms;
	struct spool_hooks	 hooks;

	uint64_t		 next_seq;
	uint64_t		 synced_seq;	/* on disk up to this */
	uint64_t		 bytes;
	size_t			 cache_bytes;
	int			 unsynced;	/* written since the last sync */
	int			 sync_wanted;
	int			 dir_dirty;	/* a new segment, no dir fsync */
	int			 ack_dirty;
	long long		 last_sync_ms;
	long long		 last_acked_ms;

	int			 io_failed;	/* a write failed; not yet
						   recovered */
	int			 io_errno;
	long long		 failed_ms;	/* since */
	long long		 retry_at;
	long			 retry_ms;
	double			 unwritable_s;	/* total, finished periods */
	int			 full;		/* last append got EFULL */
	struct spool_stats	 st;		/* counters */
};

/* Replay read window over one segment file. */
struct spool_rd {
	int		 fd;
	uint64_t	 size;
	unsigned char	*buf;
	uint64_t	 base;
	size_t		 n;
	int		 err;
};

enum spool_rec_check {
	SPOOL_REC_OK = 0,
	SPOOL_REC_BADHDR,
	SPOOL_REC_BADCRC,
	SPOOL_REC_TORN
};

static long long
spool_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static const unsigned char spool_magic[4] = { 0x53, 0x50, 0x4c, 0x31 };

/* CRC-32C, slicing by 8. */

static uint32_t		 spool_crc_tab[8][256];
static pthread_once_t	 spool_crc_once = PTHREAD_ONCE_INIT;

static void
spool_crc_init(void)
{
	uint32_t	 c;
	int		 i, k;

	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ SPOOL_CRC_POLY : c >> 1;
		spool_crc_tab[0][i] = c;
	}
	for (i = 0; i < 256; i++) {
		c = spool_crc_tab[0][i];
		for (k = 1; k < 8; k++) {
			c = spool_crc_tab[0][c & 0xff] ^ (c >> 8);
			spool_crc_tab[k][i] = c;
		}
	}
}

static uint32_t
spool_get32(const unsigned char *p)
{
	return ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24);
}

static uint64_t
spool_get64(const unsigned char *p)
{
	return ((uint64_t)spool_get32(p) | (uint64_t)spool_get32(p + 4) << 32);
}

static void
spool_put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static void
spool_put64(unsigned char *p, uint64_t v)
{
	spool_put32(p, (uint32_t)v);
	spool_put32(p + 4, (uint32_t)(v >> 32));
}

/* CRC-32C of n bytes at p; p may be NULL when n is 0. */
static uint32_t
spool_crc32c(const void *p, size_t n)
{
	const unsigned char	*q = p;
	uint32_t		 crc = 0xffffffffu, a, b;

	pthread_once(&spool_crc_once, spool_crc_init);
	while (n >= 8) {
		a = crc ^ spool_get32(q);
		b = spool_get32(q + 4);
		crc = spool_crc_tab[7][a & 0xff] ^
		    spool_crc_tab[6][(a >> 8) & 0xff] ^
		    spool_crc_tab[5][(a >> 16) & 0xff] ^
		    spool_crc_tab[4][a >> 24] ^
		    spool_crc_tab[3][b & 0xff] ^
		    spool_crc_tab[2][(b >> 8) & 0xff] ^
		    spool_crc_tab[1][(b >> 16) & 0xff] ^
		    spool_crc_tab[0][b >> 24];
		q += 8;
		n -= 8;
	}
	while (n-- > 0)
		crc = spool_crc_tab[0][(crc ^ *q++) & 0xff] ^ (crc >> 8);
	return (crc ^ 0xffffffffu);
}

/* Record header. */

static void
spool_hdr_encode(unsigned char *h, uint64_t seq, const void *p, uint32_t len)
{
	spool_put32(h, SPOOL_MAGIC);
	spool_put32(h + 4, len);
	spool_put64(h + 8, seq);
	spool_put32(h + 16, spool_crc32c(p, len));
	spool_put32(h + 20, spool_crc32c(h, 20));
}

/* 0 and the fields when h is a sound header, else -1. */
static int
spool_hdr_decode(const unsigned char *h, uint64_t *seq, uint32_t *len,
    uint32_t *crc)
{
	if (spool_get32(h) != SPOOL_MAGIC)
		return (-1);
	if (spool_get32(h + 20) != spool_crc32c(h, 20))
		return (-1);
	if (spool_get32(h + 4) > SPOOL_MAX_RECORD)
		return (-1);
	*len = spool_get32(h + 4);
	*seq = spool_get64(h + 8);
	*crc = spool_get32(h + 16);
	return (0);
}

/* Segments. */

static void
spool_seg_name(char *out, size_t outlen, uint64_t seq)
{
	snprintf(out, outlen, "seg-%016" PRIx64 ".log", seq);
}

/* 0 and the seq when name is exactly seg-<16 lowercase hex>.log. */
static int
spool_seg_parse(const char *name, uint64_t *seq)
{
	uint64_t	 v = 0;
	int		 i, c;

	if (strlen(name) != SPOOL_SEG_NAMELEN || strncmp(name, "seg-", 4) != 0 ||
	    strcmp(name + 20, ".log") != 0)
		return (-1);
	for (i = 4; i < 20; i++) {
		c = (unsigned char)name[i];
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return (-1);
	}
	*seq = v;
	return (0);
}

static void
spool_reader_close(struct spool_reader *rd)
{
	if (rd->fd != -1)
		close(rd->fd);
	rd->fd = -1;
}

/*
 * Read the record seq (at off, len payload bytes) of segment name into
 * data (len + 1 bytes) and h, and check it. Touches no spool state and
 * takes no lock: the writer reads with the lock dropped. On BAD, *have
 * bytes were read (header first) for the quarantine; GONE: the file
 * does not exist; AGAIN: a transient error, errno set.
 */
static enum spool_read
spool_read_at(int dfd, struct spool_reader *rd, uint64_t name, uint64_t seq,
    uint64_t off, uint32_t len, unsigned char *h, char *data, size_t *have)
{
	struct iovec	 iov[2];
	struct stat	 sb;
	char		 fn[SPOOL_SEG_NAMELEN + 1];
	uint64_t	 hseq;
	uint32_t	 hlen, crc;
	ssize_t		 got;

	*have = 0;
	if (rd->fd == -1 || rd->name != name) {
		if (rd->fd != -1)
			close(rd->fd);
		spool_seg_name(fn, sizeof(fn), name);
		if ((rd->fd = openat(dfd, fn, O_RDONLY | O_CLOEXEC)) == -1)
			return (errno == ENOENT ? SPOOL_READ_GONE :
			    SPOOL_READ_AGAIN);
		rd->name = name;
	}
	iov[0].iov_base = h;
	iov[0].iov_len = SPOOL_HDR;
	iov[1].iov_base = data;
	iov[1].iov_len = len;
	do
		got = preadv(rd->fd, iov, 2, (off_t)off);
	while (got == -1 && errno == EINTR);
	if (got == -1)
		return (SPOOL_READ_AGAIN);
	if (got != (ssize_t)(SPOOL_HDR + len)) {
		/* Short: is the record not there, or was the read short? */
		if (fstat(rd->fd, &sb) == -1 ||
		    (uint64_t)sb.st_size >= off + SPOOL_HDR + len) {
			errno = EIO;
			return (SPOOL_READ_AGAIN);
		}
		*have = (size_t)got;
		return (SPOOL_READ_BAD);
	}
	*have = (size_t)got;
	if (spool_hdr_decode(h, &hseq, &hlen, &crc) == -1 || hseq != seq ||
	    hlen != len || spool_crc32c(data, len) != crc)
		return (SPOOL_READ_BAD);
	data[len] = '\0';
	return (SPOOL_READ_OK);
}

static struct spool_seg *
spool_seg_new(uint64_t name)
{
	struct spool_seg	*seg;

	seg = calloc(1, sizeof(*seg));
	if (seg == NULL)
		return (NULL);
	seg->name = name;
	seg->fd = -1;
	return (seg);
}

static void
spool_uncache(struct spool *s, struct spool_rec *r)
{
	if (r->mem == NULL)
		return;
	free(r->mem);
	r->mem = NULL;
	s->cache_bytes -= r->len;
}

static void
spool_seg_free(struct spool *s, struct spool_seg *seg)
{
	size_t	 i;

	if (seg == NULL)
		return;
	for (i = 0; i < seg->n; i++)
		spool_uncache(s, &seg->recs[i]);
	if (seg->fd != -1)
		close(seg->fd);
	free(seg->recs);
	free(seg);
}

/* Room for one more record in seg's index. 0 or -1 (memory). */
static int
spool_seg_reserve(struct spool_seg *seg)
{
	struct spool_rec	*p;
	size_t			 ncap;

	if (seg->n < seg->cap)
		return (0);
	ncap = seg->cap ? seg->cap * 2 : SPOOL_RECS_MIN;
	if (ncap < seg->cap || ncap > ((size_t)-1) / sizeof(*p))
		return (-1);
	p = realloc(seg->recs, ncap * sizeof(*p));
	if (p == NULL)
		return (-1);
	seg->recs = p;
	seg->cap = ncap;
	return (0);
}

/* Add a record to seg's index (room was reserved); mem is taken. */
static void
spool_seg_push(struct spool *s, struct spool_seg *seg, uint64_t seq,
    uint64_t off, uint32_t len, char *mem, int cond)
{
	struct spool_rec	*r = &seg->recs[seg->n++];

	r->seq = seq;
	r->off = off;
	r->len = len;
	r->state = SPOOL_PENDING;
	r->cond = cond != 0;
	r->mem = mem;
	if (mem != NULL)
		s->cache_bytes += len;
	seg->live++;
}

/* Append seg to s->segs (callers keep the name order). 0 or -1. */
static int
spool_segs_add(struct spool *s, struct spool_seg *seg)
{
	struct spool_seg	**p;
	size_t			  ncap;

	if (s->nsegs == s->segcap) {
		ncap = s->segcap ? s->segcap * 2 : 16;
		p = realloc(s->segs, ncap * sizeof(*p));
		if (p == NULL)
			return (-1);
		s->segs = p;
		s->segcap = ncap;
	}
	s->segs[s->nsegs++] = seg;
	return (0);
}

/* Queue fd for the writer: fsync it, then close it. */
static void
spool_todo_fd(struct spool *s, int fd)
{
	int	*p;
	size_t	 ncap;

	if (s->todo.nfds == s->todo.cap_fds) {
		ncap = s->todo.cap_fds ? s->todo.cap_fds * 2 : 8;
		if ((p = realloc(s->todo.fds, ncap * sizeof(*p))) == NULL) {
			/* No memory for the list: sync it here, rarely. */
			if (fdatasync(fd) == -1)
				s->st.io_errors++;
			close(fd);
			return;
		}
		s->todo.fds = p;
		s->todo.cap_fds = ncap;
	}
	s->todo.fds[s->todo.nfds++] = fd;
	s->unsynced = 1;
}

/* Queue a segment file for the writer to remove. */
static void
spool_todo_unlink(struct spool *s, uint64_t name)
{
	char		 fn[SPOOL_SEG_NAMELEN + 1];
	uint64_t	*p;
	size_t		 ncap;

	if (s->todo.nunlink == s->todo.cap_unlink) {
		ncap = s->todo.cap_unlink ? s->todo.cap_unlink * 2 : 16;
		if ((p = realloc(s->todo.unlink, ncap * sizeof(*p))) == NULL) {
			spool_seg_name(fn, sizeof(fn), name);
			if (unlinkat(s->dfd, fn, 0) == -1 && errno != ENOENT)
				s->st.io_errors++;
			return;
		}
		s->todo.unlink = p;
		s->todo.cap_unlink = ncap;
	}
	s->todo.unlink[s->todo.nunlink++] = name;
}

/*
 * Hand the records of seg that are not done to the writer, which gives
 * each to the lost hook and then removes the file. 0, or -1 when memory
 * is short (they are only counted then).
 */
static int
spool_drop_later(struct spool *s, struct spool_seg *seg)
{
	struct spool_drop	*d;
	struct spool_rec	*r;
	size_t			 i;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return (-1);
	if (seg->live > 0 &&
	    (d->recs = calloc(seg->live, sizeof(*d->recs))) == NULL) {
		free(d);
		return (-1);
	}
	d->name = seg->name;
	for (i = seg->lo; i < seg->n && d->n < seg->live; i++) {
		r = &seg->recs[i];
		if (r->state == SPOOL_DONE)
			continue;
		d->recs[d->n].seq = r->seq;
		d->recs[d->n].off = r->off;
		d->recs[d->n].len = r->len;
		d->recs[d->n].mem = r->mem;	/* taken */
		if (r->mem != NULL)
			s->cache_bytes -= r->len;
		r->mem = NULL;
		d->n++;
	}
	d->next = s->drops;
	s->drops = d;
	return (0);
}

/*
 * Forget seg; the writer removes its file. With drop, its records that
 * are not done are counted as dropped (DROP_OLDEST) and handed to the
 * lost hook first; without, it has none.
 */
static void
spool_seg_delete(struct spool *s, struct spool_seg *seg, int drop)
{
	size_t	 i;
	int	 later = 0;

	for (i = seg->lo; i < seg->n; i++) {
		if (seg->recs[i].state == SPOOL_DONE)
			continue;
		if (seg->recs[i].state == SPOOL_INFLIGHT)
			s->st.inflight--;
		s->st.records--;
		if (drop)
			s->st.dropped++;
	}
	if (drop && seg->live > 0) {
		if (spool_drop_later(s, seg) == 0)
			later = 1;
		else
			log_msg(CFG_LOG_ERROR, "spool: out of memory: claims "
			    "dropped to make room are not logged", LOG_END);
	}
	s->bytes -= seg->size;
	if (s->active == seg)
		s->active = NULL;
	if (s->rd.fd != -1 && s->rd.name == seg->name)
		spool_reader_close(&s->rd);
	for (i = 0; i < s->nsegs; i++) {
		if (s->segs[i] == seg) {
			memmove(&s->segs[i], &s->segs[i + 1],
			    (s->nsegs - i - 1) * sizeof(s->segs[0]));
			s->nsegs--;
			break;
		}
	}
	if (!later)
		spool_todo_unlink(s, seg->name);
	spool_seg_free(s, seg);
	s->ack_dirty = 1;
	s->full = 0;
	pthread_cond_signal(&s->cond);
}

/* The record seq: 0 with its segment and index, or -1 when unknown. */
static int
spool_find(struct spool *s, uint64_t seq, struct spool_seg **segp,
    size_t *idxp)
{
	struct spool_seg	*seg;
	size_t			 lo = 0, hi = s->nsegs, mid;

	/* Last segment whose first record is <= seq (only the last may be
	 * empty: treat it as past everything). */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		seg = s->segs[mid];
		if (seg->n > 0 && seg->recs[0].seq <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return (-1);
	seg = s->segs[lo - 1];
	lo = 0;
	hi = seg->n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (seg->recs[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == seg->n || seg->recs[lo].seq != seq)
		return (-1);
	*segp = seg;
	*idxp = lo;
	return (0);
}

static void	 spool_rec_done(struct spool *, struct spool_seg *, size_t, int);

/*
 * The file of seg is gone (removed by someone else): its records that
 * were not delivered can never be; say so, loudly, and count them.
 */
static void
spool_seg_gone(struct spool *s, struct spool_seg *seg)
{
	char	 fn[SPOOL_SEG_NAMELEN + 1], nrec[32];
	size_t	 i;
	int	 last;

	spool_seg_name(fn, sizeof(fn), seg->name);
	snprintf(nrec, sizeof(nrec), "%zu", seg->live);
	log_msg(CFG_LOG_ERROR, "spool: a segment file was removed behind the "
	    "proxy's back; its queued claims are lost", "segment", fn,
	    "claims", nrec, LOG_END);
	for (i = seg->lo; i < seg->n; i++) {
		if (seg->recs[i].state == SPOOL_DONE)
			continue;
		s->st.corrupt++;
		last = seg->live == 1;
		spool_rec_done(s, seg, i, 0);	/* the last frees seg */
		if (last)
			break;
	}
}

/*
 * Record idx of seg is done (acked when acked, else quarantined). A
 * segment left with nothing to deliver is removed; the active one too
 * once it is a quarter full and a spare is ready to take over, so a
 * delivered segment never holds disk space for long.
 */
static void
spool_rec_done(struct spool *s, struct spool_seg *seg, size_t idx, int acked)
{
	struct spool_rec	*r = &seg->recs[idx];

	if (r->state == SPOOL_DONE)
		return;
	if (r->state == SPOOL_INFLIGHT)
		s->st.inflight--;
	r->state = SPOOL_DONE;
	spool_uncache(s, r);
	seg->live--;
	seg->ndone++;
	s->st.records--;
	if (acked)
		s->st.acked++;
	while (seg->lo < seg->n && seg->recs[seg->lo].state == SPOOL_DONE)
		seg->lo++;
	s->ack_dirty = 1;
	if (seg->live > 0)
		return;
	s->full = 0;
	if (seg != s->active || (s->spare_fd != -1 &&
	    seg->size >= s->segment_bytes / 4))
		spool_seg_delete(s, seg, 0);
}

/* Write all of p or fail with -1. */
static int
spool_write_all(int fd, const char *p, size_t n)
{
	ssize_t	 w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return (-1);
		}
		p += w;
		n -= (size_t)w;
	}
	return (0);
}

/*
 * The acked file's text for the current state (malloc'd, *len bytes, crc
 * line included). NULL when out of memory.
 */
static char *
spool_acked_text(struct spool *s, size_t *len)
{
	struct spool_seg	*seg;
	size_t			 cap = 256, n, i, j, listed = 0;
	uint64_t		 low = s->next_seq;
	char			*b, *p;

	for (i = 0; i < s->nsegs; i++) {
		seg = s->segs[i];
		if (seg->lo < seg->n) {
			low = seg->recs[seg->lo].seq;
			break;
		}
	}
	if ((b = malloc(cap)) == NULL)
		return (NULL);
	n = (size_t)snprintf(b, cap, "spool-acked 2\nnext %" PRIu64
	    "\nlow %" PRIu64 "\n", s->next_seq, low);
	for (i = 0; i < s->nsegs && listed < SPOOL_ACKED_MAX; i++) {
		seg = s->segs[i];
		if (seg->ndone <= seg->lo)
			continue;	/* no acked record above lo */
		for (j = seg->lo; j < seg->n && listed < SPOOL_ACKED_MAX;
		    j++) {
			if (seg->recs[j].state != SPOOL_DONE ||
			    seg->recs[j].seq <= low)
				continue;
			if (cap - n < 32) {
				cap *= 2;
				if ((p = realloc(b, cap)) == NULL) {
					free(b);
					return (NULL);
				}
				b = p;
			}
			n += (size_t)snprintf(b + n, cap - n, "%" PRIu64 "\n",
			    seg->recs[j].seq);
			listed++;
		}
	}
	if (cap - n < 32 && (p = realloc(b, cap + 32)) != NULL) {
		b = p;
		cap += 32;
	}
	if (cap - n < 32) {
		free(b);
		return (NULL);
	}
	memcpy(b + n, "end\n", 4);
	n += 4;
	n += (size_t)snprintf(b + n, cap - n, "crc %08" PRIx32 "\n",
	    spool_crc32c(b, n));
	*len = n;
	return (b);
}

/* Write text as DIR/acked: tmp, fsync, rename. 0, or -1 with errno. */
static int
spool_acked_write(int dfd, const char *text, size_t len)
{
	int	 fd, saved;

	fd = openat(dfd, SPOOL_ACKED_TMP,
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		return (-1);
	if (spool_write_all(fd, text, len) == -1 || fdatasync(fd) == -1) {
		saved = errno;
		close(fd);
		unlinkat(dfd, SPOOL_ACKED_TMP, 0);
		errno = saved;
		return (-1);
	}
	if (close(fd) == -1 ||
	    renameat(dfd, SPOOL_ACKED_TMP, dfd, SPOOL_ACKED) == -1) {
		saved = errno;
		unlinkat(dfd, SPOOL_ACKED_TMP, 0);
		errno = saved;
		return (-1);
	}
	return (0);
}

/* Parse a decimal u64 filling the whole of p (no newline). 0 or -1. */
static int
spool_parse_u64(const char *p, uint64_t *v)
{
	char			*end;
	unsigned long long	 x;

	if (*p < '0' || *p > '9')
		return (-1);
	errno = 0;
	x = strtoull(p, &end, 10);
	if (errno != 0 || *end != '\0')
		return (-1);
	*v = (uint64_t)x;
	return (0);
}

/* What DIR/acked says, once read and checked. */
struct spool_acked {
	int		 ok;		/* present and sound */
	const char	*why;		/* not ok: why (static), or NULL when
					   there is no file */
	uint64_t	 low;
	uint64_t	 next;
	uint64_t	*list;		/* ascending; caller frees */
	size_t		 nlist;
};

/*
 * Read DIR/acked into *a. A file that is missing, cut short, malformed,
 * or fails its checksum is not ok (a->why says which); its seqs are not
 * used, so records are resent: nothing is lost.
 */
static void
spool_acked_load(int dfd, struct spool_acked *a)
{
	char		 buf[64], *text = NULL, *line, *nl, *tmp;
	uint64_t	*p, v;
	size_t		 n = 0, cap = 0, len = 0, tcap = 0, body;
	ssize_t		 k;
	int		 fd, lineno = 0, ended = 0;

	memset(a, 0, sizeof(*a));
	if ((fd = openat(dfd, SPOOL_ACKED, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			a->why = "cannot be read";
		return;
	}
	for (;;) {
		if (len + sizeof(buf) > tcap) {
			if (tcap > (size_t)SPOOL_ACKED_MAX * 24)
				break;		/* far too big: damaged */
			tcap = tcap ? tcap * 2 : 4096;
			if ((tmp = realloc(text, tcap + 1)) == NULL)
				break;
			text = tmp;
		}
		k = read(fd, text + len, tcap - len);
		if (k == -1 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	close(fd);
	a->why = "is damaged (bad checksum or format)";
	if (text == NULL)
		return;
	text[len] = '\0';
	/* The last line is "crc XXXXXXXX" over everything before it. */
	if (len < 14 || text[len - 1] != '\n' ||
	    strncmp(text + len - 13, "crc ", 4) != 0)
		goto out_free;
	body = len - 13;
	if (spool_crc32c(text, body) != strtoul(text + len - 9, NULL, 16))
		goto out_free;
	text[body] = '\0';
	for (line = text; *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			goto out_free;
		*nl = '\0';
		lineno++;
		if (lineno == 1) {
			if (strcmp(line, "spool-acked 2") != 0)
				goto out_free;
		} else if (lineno == 2) {
			if (strncmp(line, "next ", 5) != 0 ||
			    spool_parse_u64(line + 5, &a->next) == -1)
				goto out_free;
		} else if (lineno == 3) {
			if (strncmp(line, "low ", 4) != 0 ||
			    spool_parse_u64(line + 4, &a->low) == -1)
				goto out_free;
		} else if (strcmp(line, "end") == 0) {
			ended = 1;
			break;
		} else {
			if (spool_parse_u64(line, &v) == -1 || v <= a->low ||
			    (n > 0 && v <= a->list[n - 1]) ||
			    n >= SPOOL_ACKED_MAX)
				goto out_free;
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				p = realloc(a->list, cap * sizeof(*p));
				if (p == NULL)
					goto out_free;
				a->list = p;
			}
			a->list[n++] = v;
		}
	}
	if (!ended || a->low > a->next)
		goto out_free;
	a->nlist = n;
	a->ok = 1;
	a->why = NULL;
	free(text);
	return;

out_free:
	free(text);
	free(a->list);
	a->list = NULL;
	a->nlist = 0;
}

static int
spool_u64_cmp(const void *a, const void *b)
{
	uint64_t	 x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

/* Quarantine and replay. */

/*
 * Copy bytes of a damaged region into DIR/quarantine/ (0700), named
 * after the segment and the offset, and log it. Never fatal.
 */
static void
spool_quarantine_write(struct spool *s, uint64_t seg, uint64_t off,
    const unsigned char *p, size_t len)
{
	char	 name[SPOOL_SEG_NAMELEN + 1], path[96], o[32], n[32];
	int	 fd, ok = 0;

	spool_seg_name(name, sizeof(name), seg);
	snprintf(path, sizeof(path), SPOOL_QUARANTINE "/%.20s-at-%" PRIu64
	    ".bin", name, off);
	if ((mkdirat(s->dfd, SPOOL_QUARANTINE, 0700) == 0 || errno == EEXIST) &&
	    (fd = openat(s->dfd, path, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) != -1) {
		ok = spool_write_all(fd, (const char *)p, len) == 0 &&
		    fsync(fd) == 0;
		close(fd);
	}
	snprintf(o, sizeof(o), "%" PRIu64, off);
	snprintf(n, sizeof(n), "%zu", len);
	log_msg(CFG_LOG_WARN, ok ? "spool: a corrupt record was skipped; "
	    "its bytes are kept in the quarantine" : "spool: a corrupt "
	    "record was skipped; its bytes could not be copied to the "
	    "quarantine", "segment", name, "offset", o, "bytes", n,
	    "file", ok ? path : NULL, LOG_END);
}

/* Quarantine [from, to) of an open segment file (at most a cap). */
static void
spool_quarantine_range(struct spool *s, int fd, uint64_t seg,
    uint64_t from, uint64_t to)
{
	unsigned char	*p;
	size_t		 len, got = 0;
	ssize_t		 k;

	len = to - from > SPOOL_QUARANTINE_MAX ? SPOOL_QUARANTINE_MAX :
	    (size_t)(to - from);
	if ((p = malloc(len + 1)) == NULL)
		return;
	while (got < len) {
		k = pread(fd, p + got, len - got, (off_t)(from + got));
		if (k == -1 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	spool_quarantine_write(s, seg, from, p, got);
	free(p);
}

/*
 * Make [off, off + len) of the file readable in the window. Returns a
 * pointer to it (and in *avail how many bytes from off are in the
 * window), or NULL past the end or on a read error (r->err set).
 */
static const unsigned char *
spool_rd_get(struct spool_rd *r, uint64_t off, size_t len, size_t *avail)
{
	size_t	 want, got = 0;
	ssize_t	 k;

	if (off > r->size || len > r->size - off || len > SPOOL_RD_CAP)
		return (NULL);
	if (off < r->base || off - r->base > r->n ||
	    len > r->n - (off - r->base)) {
		want = r->size - off > SPOOL_RD_CAP ? SPOOL_RD_CAP :
		    (size_t)(r->size - off);
		while (got < want) {
			k = pread(r->fd, r->buf + got, want - got,
			    (off_t)(off + got));
			if (k == -1 && errno == EINTR)
				continue;
			if (k == -1) {
				/* Transient or not: never read as damage. */
				r->err = errno != 0 ? errno : EIO;
				break;
			}
			if (k == 0)
				break;		/* the file is shorter */
			got += (size_t)k;
		}
		r->base = off;
		r->n = got;
		if (got < len)
			return (NULL);
	}
	if (avail != NULL)
		*avail = r->n - (size_t)(off - r->base);
	return (r->buf + (off - r->base));
}

/* Check the record at off. */
static enum spool_rec_check
spool_rd_rec(struct spool_rd *r, uint64_t off, uint64_t *seq, uint32_t *len)
{
	const unsigned char	*p;
	uint32_t		 crc;

	p = spool_rd_get(r, off, SPOOL_HDR, NULL);
	if (p == NULL)
		return (SPOOL_REC_TORN);
	if (spool_hdr_decode(p, seq, len, &crc) == -1)
		return (SPOOL_REC_BADHDR);
	if (*len > r->size - off - SPOOL_HDR)
		return (SPOOL_REC_TORN);
	p = spool_rd_get(r, off + SPOOL_HDR, *len, NULL);
	if (p == NULL)
		return (SPOOL_REC_TORN);
	if (spool_crc32c(p, *len) != crc)
		return (SPOOL_REC_BADCRC);
	return (SPOOL_REC_OK);
}

/*
 * Offset of the first intact record at or after from whose seq is at
 * least min_seq, or the file size when there is none.
 */
static uint64_t
spool_resync(struct spool_rd *r, uint64_t from, uint64_t min_seq)
{
	const unsigned char	*p, *q;
	uint64_t		 pos = from, cand, seq;
	uint32_t		 len;
	size_t			 avail;

	while (pos < r->size && r->size - pos >= SPOOL_HDR && !r->err) {
		p = spool_rd_get(r, pos, SPOOL_HDR, &avail);
		if (p == NULL)
			break;
		q = memmem(p, avail, spool_magic, sizeof(spool_magic));
		if (q == NULL) {
			pos += avail - (sizeof(spool_magic) - 1);
			continue;
		}
		cand = pos + (uint64_t)(q - p);
		if (spool_rd_rec(r, cand, &seq, &len) == SPOOL_REC_OK &&
		    seq >= min_seq)
			return (cand);
		pos = cand + 1;
	}
	return (r->size);
}

struct spool_replay {
	char		*tail;		/* the newest record's payload */
	size_t		 tail_len;
	uint64_t	 last;		/* highest seq accepted so far */
	int		 any;		/* last is meaningful */
	uint64_t	 next;		/* at least this for new records */
	unsigned char	*buf;		/* SPOOL_RD_CAP */
};

/*
 * Index the records of segment seg (file already open as fd), all
 * pending; damaged regions are quarantined. Returns 0, -1 on memory
 * shortage, or SPOOL_RETRY when a read failed (errno set): nothing of
 * it was judged; the caller starts the segment over.
 */
static int
spool_replay_seg(struct spool *s, struct spool_replay *rp,
    struct spool_seg *seg, int fd, uint64_t size)
{
	struct spool_rd		 r;
	enum spool_rec_check	 rc;
	uint64_t		 off = 0, seq, min_seq, bad_from;
	uint32_t		 len;
	int			 bad = 0;

	r.fd = fd;
	r.size = size;
	r.buf = rp->buf;
	r.base = 0;
	r.n = 0;
	r.err = 0;
	while (off < size) {
		min_seq = seg->name;
		if (rp->any && rp->last + 1 > min_seq)
			min_seq = rp->last + 1;
		rc = spool_rd_rec(&r, off, &seq, &len);
		if (r.err)
			goto out_again;
		if (rc == SPOOL_REC_OK && seq >= min_seq) {
			if (spool_seg_reserve(seg) == -1)
				return (-1);
			spool_seg_push(s, seg, seq, off, len, NULL, 0);
			s->st.records++;
			rp->last = seq;
			rp->any = 1;
			off += SPOOL_HDR + len;
			continue;
		}
		s->st.corrupt++;
		bad = 1;
		bad_from = off;
		if (rc == SPOOL_REC_OK || rc == SPOOL_REC_BADCRC)
			/* The header checksum holds: the length is good. */
			off += SPOOL_HDR + len;
		else
			off = spool_resync(&r, off + 1, min_seq);
		if (r.err)
			goto out_again;
		spool_quarantine_range(s, fd, seg->name, bad_from, off);
	}
	/* Records we could not read may have used seqs up to this. */
	if (bad && seg->name + size / SPOOL_HDR + 1 > rp->next)
		rp->next = seg->name + size / SPOOL_HDR + 1;
	if (seg->name + 1 > rp->next)
		rp->next = seg->name + 1;
	return (0);

out_again:
	s->st.io_errors++;
	errno = r.err;
	return (SPOOL_RETRY);
}

/*
 * Replay: keep a copy of the last intact record of seg (open as fd), for
 * the tail hook: after the last segment, the newest on disk. A record
 * that cannot be read now is not kept (the owner relies on its state).
 */
static void
spool_keep_tail(struct spool_replay *rp, struct spool_seg *seg, int fd)
{
	struct spool_rec	*r;
	char			*p;
	ssize_t			 k;
	size_t			 got = 0;

	if (seg->n == 0)
		return;
	r = &seg->recs[seg->n - 1];
	if ((p = realloc(rp->tail, (size_t)r->len + 1)) == NULL)
		return;
	rp->tail = p;
	rp->tail_len = 0;
	while (got < r->len) {
		k = pread(fd, p + got, r->len - got, (off_t)(r->off +
		    SPOOL_HDR + got));
		if (k == -1 && errno == EINTR)
			continue;
		if (k <= 0)
			return;
		got += (size_t)k;
	}
	p[got] = '\0';
	rp->tail_len = got;
}

/*
 * Replay segment file name into a new segment, starting over after a
 * transient error (EMFILE, EIO, ...) with a growing pause: a read error
 * is never taken for damage, and a segment is never skipped (its
 * sequence numbers could be reused). 0, or -1 with errno.
 */
static int
spool_replay_file(struct spool *s, struct spool_replay *rp, uint64_t name)
{
	struct spool_replay	 save = *rp;
	size_t			 records = s->st.records;
	unsigned long long	 corrupt = s->st.corrupt;
	struct spool_seg	*seg;
	struct timespec		 pause;
	struct stat		 sb;
	char			 fn[SPOOL_SEG_NAMELEN + 1];
	int			 fd, rc, saved, try;

	if ((seg = spool_seg_new(name)) == NULL ||
	    spool_segs_add(s, seg) == -1) {
		free(seg);
		errno = ENOMEM;
		return (-1);
	}
	spool_seg_name(fn, sizeof(fn), name);
	for (try = 1;; try++) {
		rc = SPOOL_RETRY;
		if ((fd = openat(s->dfd, fn, O_RDONLY | O_CLOEXEC)) != -1) {
			if (fstat(fd, &sb) == 0) {
				seg->size = (uint64_t)sb.st_size;
				rc = spool_replay_seg(s, rp, seg, fd,
				    seg->size);
			}
			if (rc == 0 && s->tail != NULL)
				spool_keep_tail(rp, seg, fd);
			saved = errno;
			close(fd);
			errno = saved;
		}
		if (rc == 0)
			break;
		if (rc == -1) {
			errno = ENOMEM;
			return (-1);
		}
		if (try == SPOOL_OPEN_TRIES || errno == ENOENT)
			return (-1);
		/* Start this segment over. */
		*rp = save;
		s->st.records = records;
		s->st.corrupt = corrupt;
		seg->n = seg->live = seg->ndone = seg->lo = seg->scan = 0;
		pause.tv_sec = 0;
		pause.tv_nsec = 100L * 1000 * 1000 * try;
		nanosleep(&pause, NULL);
	}
	s->bytes += seg->size;
	return (0);
}

/*
 * May the acked file be believed for records up to last (the highest
 * seq on disk; any: there is one)? NULL, or why not.
 */
static const char *
spool_acked_doubt(const struct spool_acked *a, uint64_t last, int any)
{
	if (!a->ok)
		return (a->why);
	if (a->next >= SPOOL_SEQ_MAX || a->low > a->next ||
	    (a->nlist > 0 && a->list[a->nlist - 1] >= a->next))
		return ("holds impossible sequence numbers");
	if (!any)
		return (NULL);
	if (a->low > last + 1 || (a->nlist > 0 && a->list[a->nlist - 1] > last))
		return ("marks records above the highest one on disk as "
		    "delivered");
	return (NULL);
}

/* Mark the records the acked file lists as done. */
static void
spool_apply_acked(struct spool *s, const struct spool_acked *a)
{
	struct spool_seg	*seg;
	struct spool_rec	*r;
	size_t			 i, j;

	for (i = 0; i < s->nsegs; i++) {
		seg = s->segs[i];
		for (j = 0; j < seg->n; j++) {
			r = &seg->recs[j];
			if (!(r->seq < a->low || (a->nlist > 0 &&
			    bsearch(&r->seq, a->list, a->nlist,
			    sizeof(r->seq), spool_u64_cmp) != NULL)))
				continue;
			r->state = SPOOL_DONE;
			seg->live--;
			seg->ndone++;
			s->st.records--;
		}
		while (seg->lo < seg->n &&
		    seg->recs[seg->lo].state == SPOOL_DONE)
			seg->lo++;
	}
}

static void
spool_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
spool_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
spool_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Free s without syncing or writing anything (also for a failed open). */
static void
spool_destroy(struct spool *s)
{
	size_t	 i;

	for (i = 0; i < s->nsegs; i++)
		spool_seg_free(s, s->segs[i]);
	free(s->segs);
	for (i = 0; i < s->todo.nfds; i++)
		close(s->todo.fds[i]);
	free(s->todo.fds);
	free(s->todo.unlink);
	while (s->quar != NULL) {
		struct spool_quar *q = s->quar;

		s->quar = q->next;
		free(q->bytes);
		free(q);
	}
	while (s->drops != NULL) {
		struct spool_drop *d = s->drops;

		s->drops = d->next;
		for (i = 0; i < d->n; i++)
			free(d->recs[i].mem);
		free(d->recs);
		free(d);
	}
	if (s->spare_fd != -1)
		close(s->spare_fd);
	spool_reader_close(&s->rd);
	if (s->lockfd != -1)
		close(s->lockfd);
	if (s->dfd != -1)
		close(s->dfd);
	free(s->dir);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* The mutex, and a condition on the monotonic clock. 0 or -1. */
static int
spool_sync_init(struct spool *s)
{
	pthread_condattr_t	 ca;
	int			 rc = -1;

	if (pthread_mutex_init(&s->mu, NULL) != 0)
		return (-1);
	if (pthread_condattr_init(&ca) != 0)
		goto out_destroy_mutex;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
	    pthread_cond_init(&s->cond, &ca) == 0)
		rc = 0;
	pthread_condattr_destroy(&ca);
	if (rc == 0)
		return (0);
out_destroy_mutex:
	pthread_mutex_destroy(&s->mu);
	return (-1);
}

/* List the segment names (ascending seq) in s->dfd. 0 or -1 with errno. */
static int
spool_list(struct spool *s, uint64_t **out, size_t *nout)
{
	DIR		*d;
	struct dirent	*de;
	uint64_t	*l = NULL, *p, v;
	size_t		 n = 0, cap = 0;
	int		 fd, saved;

	fd = dup(s->dfd);
	if (fd == -1)
		return (-1);
	d = fdopendir(fd);
	if (d == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (spool_seg_parse(de->d_name, &v) == -1)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			p = realloc(l, cap * sizeof(*p));
			if (p == NULL) {
				free(l);
				closedir(d);
				errno = ENOMEM;
				return (-1);
			}
			l = p;
		}
		l[n++] = v;
	}
	closedir(d);
	if (n > 0)
		qsort(l, n, sizeof(*l), spool_u64_cmp);
	*out = l;
	*nout = n;
	return (0);
}

/* Remove segment files (no lock held). Returns the failures. */
static unsigned long long
spool_unlink_names(struct spool *s, const uint64_t *names, size_t n)
{
	unsigned long long	 failed = 0;
	char			 name[SPOOL_SEG_NAMELEN + 1];
	size_t			 i;

	if (n > 0 && s->unlinking != NULL && s->unlinking(s->hook_arg) == -1) {
		log_msg(CFG_LOG_ERROR, "spool: delivered segment files are "
		    "kept: the owner could not store its state first (they "
		    "are removed at the next start)", LOG_END);
		return (n);
	}
	for (i = 0; i < n; i++) {
		spool_seg_name(name, sizeof(name), names[i]);
		if (unlinkat(s->dfd, name, 0) == -1 && errno != ENOENT)
			failed++;
	}
	return (failed);
}

/*
 * A new empty segment file named name (no lock held). A file of that
 * name can only be a leftover holding no record the spool knows (names
 * come from the next sequence number): one whose removal failed after a
 * failed write. It is removed and the file made again. fd, or -1 with
 * errno.
 */
static int
spool_create_seg(struct spool *s, uint64_t name)
{
	char	 fn[SPOOL_SEG_NAMELEN + 1];
	int	 fd;

	spool_seg_name(fn, sizeof(fn), name);
	fd = openat(s->dfd, fn, O_RDWR | O_CREAT | O_EXCL | O_APPEND |
	    O_CLOEXEC, 0600);
	if (fd == -1 && errno == EEXIST && unlinkat(s->dfd, fn, 0) == 0)
		fd = openat(s->dfd, fn, O_RDWR | O_CREAT | O_EXCL | O_APPEND |
		    O_CLOEXEC, 0600);
	return (fd);
}

/* A full or failing disk (recoverable), not a configuration error. */
static int
spool_disk_trouble(int err)
{
	return (err == ENOSPC || err == EDQUOT || err == EIO);
}

/* A write or fsync failed: the spool takes no appends until recovered. */
static void
spool_failed(struct spool *s, int err)
{
	s->st.io_errors++;
	if (s->io_failed)
		return;
	s->io_failed = 1;
	s->io_errno = err != 0 ? err : EIO;
	s->failed_ms = spool_now_ms();
	s->retry_ms = SPOOL_RETRY_MIN_MS;
	s->retry_at = s->failed_ms + s->retry_ms;
	log_msg(CFG_LOG_ERROR, "spool: a write failed; requests are refused "
	    "(503 audit_unavailable) until the spool takes writes again",
	    "dir", s->dir, "error", strerror(s->io_errno), LOG_END);
	pthread_cond_signal(&s->cond);
}

int
spool_open(struct spool **out, const struct spool_opts *o, char *err,
    size_t errlen)
{
	struct spool		*s;
	struct spool_replay	 rp;
	struct spool_acked	 ak;
	const char		*doubt;
	char			 name[SPOOL_SEG_NAMELEN + 1], *text;
	char			 why[512];
	uint64_t		*names = NULL;
	size_t			 nnames = 0, i, len;
	int			 rc, saved;

	*out = NULL;
	memset(&rp, 0, sizeof(rp));
	memset(&ak, 0, sizeof(ak));
	if (o == NULL || o->dir == NULL || o->dir[0] == '\0') {
		spool_err(err, errlen, "spool: no directory given");
		return (-1);
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		spool_err(err, errlen, "spool: out of memory");
		return (-1);
	}
	s->dfd = -1;
	s->lockfd = -1;
	s->rd.fd = -1;
	s->spare_fd = -1;
	if (spool_sync_init(s) == -1) {
		free(s);
		spool_err(err, errlen, "spool: cannot create a mutex");
		return (-1);
	}
	s->dir = strdup(o->dir);
	if (s->dir == NULL) {
		spool_err(err, errlen, "spool: out of memory");
		goto out_destroy;
	}
	s->max_bytes = o->max_bytes ? o->max_bytes : SPOOL_DEF_MAX;
	s->segment_bytes = o->segment_bytes ? o->segment_bytes : SPOOL_DEF_SEG;
	/* At least four segments fit: freeing or dropping one is a quarter
	 * of the spool at most. */
	if (s->segment_bytes > s->max_bytes / 4 && s->max_bytes / 4 > 0)
		s->segment_bytes = s->max_bytes / 4;
	s->overflow = o->overflow;
	s->sync_interval_ms = o->sync_interval_ms > 0 ? o->sync_interval_ms :
	    10;
	s->sync_every = o->sync_every;
	s->tail = o->tail;
	s->unlinking = o->unlinking;
	s->hook_arg = o->hook_arg;

	s->dfd = trust_open_dir(s->dir, "spool directory", 1, why,
	    sizeof(why));
	if (s->dfd == -1) {
		spool_err(err, errlen, "spool: %s", why);
		goto out_destroy;
	}
	s->lockfd = openat(s->dfd, SPOOL_LOCK, O_RDWR | O_CREAT | O_CLOEXEC,
	    0600);
	if (s->lockfd == -1) {
		spool_err(err, errlen, "spool: directory %s is not writable: "
		    "cannot open %s/%s: %s", s->dir, s->dir, SPOOL_LOCK,
		    strerror(errno));
		goto out_destroy;
	}
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) == -1) {
		spool_err(err, errlen, "spool: directory %s is in use by "
		    "another spool (%s/%s is locked): %s", s->dir, s->dir,
		    SPOOL_LOCK, strerror(errno));
		goto out_destroy;
	}

	if (spool_list(s, &names, &nnames) == -1) {
		spool_err(err, errlen, "spool: cannot list directory %s: %s",
		    s->dir, strerror(errno));
		goto out_free_replay;
	}
	rp.buf = malloc(SPOOL_RD_CAP);
	if (rp.buf == NULL) {
		spool_err(err, errlen, "spool: out of memory");
		goto out_free_replay;
	}
	for (i = 0; i < nnames; i++) {
		if (spool_replay_file(s, &rp, names[i]) == -1) {
			/* Skipping it could reuse its seqs: refuse. */
			spool_seg_name(name, sizeof(name), names[i]);
			spool_err(err, errlen, "spool: cannot read %s/%s: %s "
			    "(nothing was dropped; fix the disk and start "
			    "again)", s->dir, name, strerror(errno));
			goto out_free_replay;
		}
	}
	/* Which records were delivered: believed only when it makes sense. */
	spool_acked_load(s->dfd, &ak);
	if ((doubt = spool_acked_doubt(&ak, rp.last, rp.any)) != NULL) {
		log_msg(CFG_LOG_WARN, "spool: the acked file is not used; "
		    "every record on disk is sent again (at least once)",
		    "file", SPOOL_ACKED, "reason", doubt, LOG_END);
		ak.ok = 0;
	}
	if (ak.ok)
		spool_apply_acked(s, &ak);
	s->next_seq = rp.next;
	if (rp.any && rp.last + 1 > s->next_seq)
		s->next_seq = rp.last + 1;
	if (ak.ok && ak.next > s->next_seq)
		s->next_seq = ak.next;
	if (s->next_seq == 0)
		s->next_seq = 1;

	/* What is on disk at start counts as synced. */
	s->synced_seq = s->next_seq - 1;
	if (s->tail != NULL && rp.tail != NULL && rp.tail_len > 0)
		s->tail(s->hook_arg, rp.tail, rp.tail_len);
	for (i = s->nsegs; i-- > 0;) {
		if (s->segs[i]->live == 0)
			spool_seg_delete(s, s->segs[i], 0);
	}
	s->st.io_errors += spool_unlink_names(s, s->todo.unlink,
	    s->todo.nunlink);
	s->todo.nunlink = 0;
	unlinkat(s->dfd, SPOOL_PROBE, 0);
	/*
	 * Also the proof that the directory takes writes. A full or
	 * failing disk does not stop the start: the queued claims are sent
	 * (which frees space) and the writer's probe makes the spool
	 * writable again; until then requests get 503. A directory the
	 * proxy may not write is a configuration error.
	 */
	s->full = 0;
	s->last_sync_ms = s->last_acked_ms = spool_now_ms();
	if ((text = spool_acked_text(s, &len)) == NULL) {
		spool_err(err, errlen, "spool: out of memory");
		goto out_free_replay;
	}
	rc = spool_acked_write(s->dfd, text, len);
	saved = errno;
	free(text);
	if (rc == -1 && !spool_disk_trouble(saved)) {
		spool_err(err, errlen, "spool: directory %s is not writable: "
		    "cannot write %s/%s: %s", s->dir, s->dir,
		    SPOOL_ACKED_TMP, strerror(saved));
		goto out_free_replay;
	}
	s->ack_dirty = rc == -1;
	/* The first segment to write to, ready before the first claim. */
	if (rc == 0) {
		s->spare_name = s->next_seq;
		if ((s->spare_fd = spool_create_seg(s, s->spare_name)) == -1 ||
		    fsync(s->dfd) == -1) {
			rc = -1;
			saved = errno;
		}
		if (rc == -1 && !spool_disk_trouble(saved)) {
			spool_err(err, errlen, "spool: cannot create a segment "
			    "in %s: %s", s->dir, strerror(saved));
			goto out_free_replay;
		}
	}
	if (rc == -1)
		spool_failed(s, saved);
	free(rp.buf);
	free(rp.tail);
	free(ak.list);
	free(names);
	*out = s;
	return (0);

out_free_replay:
	free(rp.buf);
	free(rp.tail);
	free(ak.list);
	free(names);
out_destroy:
	spool_destroy(s);
	return (-1);
}

/* The writer thread. Each spool_do_* runs with the lock held and drops
 * it while it waits for the disk. */

static void	 spool_do_fetch(struct spool *);
static void	 spool_discard_cond(struct spool *, uint64_t);


/*
 * The fsync covering records (synced_seq, upto] failed. A conditional
 * record (SPOOL_APPEND_COND) was only true if stored: its writer was told
 * and answers otherwise (503, a refusal claim), so the record must never
 * reach Wingman; it is done with, not delivered. Others stay queued (in
 * memory, likely still sent).
 */
static void
spool_discard_cond(struct spool *s, uint64_t upto)
{
	struct spool_seg	*seg;
	uint64_t		*seqs = NULL, *p;
	size_t			 n = 0, cap = 0, i, j, idx;

	for (i = s->nsegs; i-- > 0;) {
		seg = s->segs[i];
		for (j = seg->n; j-- > seg->lo;) {
			if (seg->recs[j].seq <= s->synced_seq)
				goto collected;
			if (seg->recs[j].seq > upto || !seg->recs[j].cond ||
			    seg->recs[j].state == SPOOL_DONE)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				if ((p = realloc(seqs, cap * sizeof(*p))) ==
				    NULL)
					goto collected;	/* the rest stays */
				seqs = p;
			}
			seqs[n++] = seg->recs[j].seq;
		}
	}
collected:
	for (i = 0; i < n; i++)
		if (spool_find(s, seqs[i], &seg, &idx) == 0)
			spool_rec_done(s, seg, idx, 0);
	free(seqs);
}

/*
 * fsync everything written so far (the active segment, retired ones, the
 * directory after a new segment), then report through the callback
 * (with notify) what is on disk now.
 */
static void
spool_do_sync(struct spool *s, int notify)
{
	spool_synced_fn	*fn = s->hooks.synced;
	int		*fds = NULL, dirfd = -1, actfd = -1, ok = 1, err = 0;
	size_t		 nfd = 0, i;
	uint64_t	 upto = s->next_seq - 1;

	s->sync_wanted = 0;
	if (s->unsynced) {
		if (s->active != NULL && s->active->fd != -1 &&
		    (actfd = dup(s->active->fd)) == -1 &&
		    fdatasync(s->active->fd) == -1) {
			ok = 0;
			err = errno;
		}
		fds = s->todo.fds;
		nfd = s->todo.nfds;
		s->todo.fds = NULL;
		s->todo.nfds = s->todo.cap_fds = 0;
		s->unsynced = 0;
	}
	if (s->dir_dirty) {
		if ((dirfd = dup(s->dfd)) == -1 && fsync(s->dfd) == -1) {
			ok = 0;
			err = errno;
		}
		s->dir_dirty = 0;
	}
	pthread_mutex_unlock(&s->mu);
	if (actfd != -1) {
		if (fdatasync(actfd) == -1) {
			ok = 0;
			err = errno;
		}
		close(actfd);
	}
	for (i = 0; i < nfd; i++) {
		if (fdatasync(fds[i]) == -1) {
			ok = 0;
			err = errno;
		}
		close(fds[i]);
	}
	free(fds);
	if (dirfd != -1) {
		if (fsync(dirfd) == -1) {
			ok = 0;
			err = errno;
		}
		close(dirfd);
	}
	pthread_mutex_lock(&s->mu);
	s->st.syncs++;
	s->last_sync_ms = spool_now_ms();
	if (ok && upto > s->synced_seq)
		s->synced_seq = upto;
	else if (!ok) {
		/*
		 * After a failed fsync nothing written since the last good
		 * one is known to be on disk (the kernel may have dropped
		 * it), whatever a later fsync says. Appends stop now; every
		 * waiter up to here hears "failed".
		 */
		spool_failed(s, err);
		upto = s->next_seq - 1;
		spool_discard_cond(s, upto);
	}
	if (notify && fn != NULL) {
		pthread_mutex_unlock(&s->mu);
		fn(s->hooks.arg, upto, ok);
		pthread_mutex_lock(&s->mu);
	}
}

/* Remove the segment files that were delivered or dropped. */
static void
spool_do_unlinks(struct spool *s)
{
	uint64_t		*names = s->todo.unlink;
	size_t			 n = s->todo.nunlink;
	unsigned long long	 failed;

	s->todo.unlink = NULL;
	s->todo.nunlink = s->todo.cap_unlink = 0;
	pthread_mutex_unlock(&s->mu);
	failed = spool_unlink_names(s, names, n);
	free(names);
	pthread_mutex_lock(&s->mu);
	s->st.io_errors += failed;
}

/* Copy the damaged records found by spool_next() to the quarantine. */
static void
spool_do_quarantine(struct spool *s)
{
	struct spool_quar	*q = s->quar, *next;

	s->quar = NULL;
	pthread_mutex_unlock(&s->mu);
	for (; q != NULL; q = next) {
		next = q->next;
		spool_quarantine_write(s, q->seg, q->off, q->bytes, q->len);
		free(q->bytes);
		free(q);
	}
	pthread_mutex_lock(&s->mu);
}

/*
 * Give the claims of dropped segments to the lost hook (read back from
 * the file when not in memory), then remove the files.
 */
static void
spool_do_drops(struct spool *s)
{
	struct spool_drop	*d, *all = s->drops, *next, *rev = NULL;
	struct spool_reader	 rd = { -1, 0 };
	unsigned char		 h[SPOOL_HDR];
	char			 fn[SPOOL_SEG_NAMELEN + 1], num[32], *p;
	enum spool_read		 rr;
	unsigned long long	 unread = 0, failed = 0;
	size_t			 i, have;

	s->drops = NULL;
	pthread_mutex_unlock(&s->mu);
	for (d = all; d != NULL; d = next) {	/* oldest first */
		next = d->next;
		d->next = rev;
		rev = d;
	}
	for (d = rev; d != NULL; d = next) {
		next = d->next;
		for (i = 0; i < d->n; i++) {
			if ((p = d->recs[i].mem) == NULL &&
			    (p = malloc((size_t)d->recs[i].len + 1)) != NULL) {
				rr = spool_read_at(s->dfd, &rd, d->name,
				    d->recs[i].seq, d->recs[i].off,
				    d->recs[i].len, h, p, &have);
				if (rr != SPOOL_READ_OK) {
					free(p);
					p = NULL;
				}
			} else if (p != NULL)
				p[d->recs[i].len] = '\0';
			if (p == NULL)
				unread++;
			else if (s->hooks.lost != NULL)
				s->hooks.lost(s->hooks.arg, p, d->recs[i].len,
				    "spool full: dropped the oldest claims "
				    "(spool.overflow: drop_oldest)");
			free(p);
		}
		spool_reader_close(&rd);
		spool_seg_name(fn, sizeof(fn), d->name);
		if (unlinkat(s->dfd, fn, 0) == -1 && errno != ENOENT)
			failed++;
		free(d->recs);
		free(d);
	}
	if (unread > 0) {
		snprintf(num, sizeof(num), "%llu", unread);
		log_msg(CFG_LOG_ERROR, "spool: claims dropped to make room "
		    "could not be read back for the log", "claims", num,
		    LOG_END);
	}
	pthread_mutex_lock(&s->mu);
	s->st.io_errors += failed + unread;
	s->dir_dirty = 1;
}

/* Make the next segment file ahead of time. 0, or -1 with errno. */
static int
spool_do_spare(struct spool *s)
{
	uint64_t	 name = s->next_seq;
	int		 fd, saved;

	/* A fresh active segment (no record yet) has this name: later. */
	if (s->active != NULL && s->active->name == name) {
		s->retry_at = spool_now_ms() + SPOOL_RETRY_MIN_MS;
		return (0);
	}
	pthread_mutex_unlock(&s->mu);
	fd = spool_create_seg(s, name);
	saved = errno;
	pthread_mutex_lock(&s->mu);
	if (fd == -1) {
		s->st.io_errors++;
		errno = saved;
		return (-1);
	}
	if (s->spare_fd != -1 || name > s->next_seq) {
		/* Somebody was quicker (cannot happen, but be sure). */
		close(fd);
		spool_todo_unlink(s, name);
		return (0);
	}
	s->spare_fd = fd;
	s->spare_name = name;
	s->dir_dirty = 1;
	return (0);
}

/* Write the acked file, off the request paths. */
static void
spool_do_acked(struct spool *s)
{
	char	*text;
	size_t	 len;
	int	 rc;

	if ((text = spool_acked_text(s, &len)) == NULL)
		return;
	s->ack_dirty = 0;
	s->last_acked_ms = spool_now_ms();
	pthread_mutex_unlock(&s->mu);
	rc = spool_acked_write(s->dfd, text, len);
	free(text);
	pthread_mutex_lock(&s->mu);
	if (rc == -1) {
		s->ack_dirty = 1;	/* later; only resends at stake */
		s->st.io_errors++;
	}
}

/* Does the directory take a small write, fsync'd? 0 or -1 (errno). */
static int
spool_probe(struct spool *s)
{
	char	 zero[SPOOL_PROBE_BYTES];
	int	 fd, rc = -1, saved;

	memset(zero, 0, sizeof(zero));
	fd = openat(s->dfd, SPOOL_PROBE, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		return (-1);
	if (spool_write_all(fd, zero, sizeof(zero)) == 0 && fdatasync(fd) == 0)
		rc = 0;
	saved = errno;
	close(fd);
	unlinkat(s->dfd, SPOOL_PROBE, 0);
	errno = saved;
	return (rc);
}

/*
 * After a failed write: free what can be freed (a delivered active
 * segment, leftovers), then probe; once a write works again, make sure a
 * segment is ready and take appends again. Backs off while it fails.
 */
static void
spool_do_recover(struct spool *s)
{
	char	 secs[32];
	int	 rc, fd = -1, need;
	uint64_t name;

	if (s->active != NULL && s->active->live == 0)
		spool_seg_delete(s, s->active, 0);
	else if (s->active != NULL) {
		/* Never append to a file that failed: retire it. */
		spool_todo_fd(s, s->active->fd);
		s->active->fd = -1;
		s->active = NULL;
	}
	if (s->todo.nunlink > 0)
		spool_do_unlinks(s);
	name = s->next_seq;
	need = s->spare_fd == -1;	/* appends are refused: stays so */
	pthread_mutex_unlock(&s->mu);
	unlinkat(s->dfd, SPOOL_ACKED_TMP, 0);
	if ((rc = spool_probe(s)) == 0 && need &&
	    (fd = spool_create_seg(s, name)) == -1)
		rc = -1;
	pthread_mutex_lock(&s->mu);
	if (rc == -1) {
		s->retry_ms = s->retry_ms * 2 > SPOOL_RETRY_MAX_MS ?
		    SPOOL_RETRY_MAX_MS : s->retry_ms * 2;
		s->retry_at = spool_now_ms() + s->retry_ms;
		return;
	}
	if (fd != -1) {
		if (s->spare_fd == -1 && name == s->next_seq) {
			s->spare_fd = fd;
			s->spare_name = name;
			s->dir_dirty = 1;
		} else {
			close(fd);
			spool_todo_unlink(s, name);
		}
	}
	s->io_failed = 0;
	s->unwritable_s += (double)(spool_now_ms() - s->failed_ms) / 1000.0;
	snprintf(secs, sizeof(secs), "%.1f",
	    (double)(spool_now_ms() - s->failed_ms) / 1000.0);
	log_msg(CFG_LOG_WARN, "spool: takes writes again; requests are "
	    "accepted", "dir", s->dir, "unwritable_s", secs, LOG_END);
}

/* When the writer has something to do next (ms, monotonic). */
static long long
spool_next_due(struct spool *s, long long now)
{
	long long	 due = now + 60000;

	if (s->stopping || s->sync_wanted || s->todo.nunlink > 0 ||
	    s->quar != NULL || s->fetch_wanted || s->drops != NULL ||
	    (s->unsynced && s->sync_every))
		return (now);
	if (s->unsynced && s->last_sync_ms + s->sync_interval_ms < due)
		due = s->last_sync_ms + s->sync_interval_ms;
	if (s->io_failed && s->retry_at < due)
		due = s->retry_at;
	if (!s->io_failed && s->spare_fd == -1 && s->retry_at < due)
		due = s->retry_at;
	if (s->ack_dirty && s->last_acked_ms + SPOOL_ACKED_EVERY_MS < due)
		due = s->last_acked_ms + SPOOL_ACKED_EVERY_MS;
	return (due < now ? now : due);
}

static void *
spool_writer(void *arg)
{
	struct spool	*s = arg;
	struct timespec	 ts;
	long long	 now, due;
	int		 last;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		now = spool_now_ms();
		last = s->stopping;
		if (s->todo.nunlink > 0)
			spool_do_unlinks(s);
		if (s->drops != NULL)
			spool_do_drops(s);
		if (s->quar != NULL)
			spool_do_quarantine(s);
		if (s->io_failed && !last && now >= s->retry_at)
			spool_do_recover(s);
		if (last || s->sync_wanted || (s->unsynced &&
		    (s->sync_every ||
		    now - s->last_sync_ms >= s->sync_interval_ms)))
			spool_do_sync(s, 1);
		if (!last && !s->io_failed && s->spare_fd == -1 &&
		    now >= s->retry_at && spool_do_spare(s) == -1)
			s->retry_at = now + SPOOL_RETRY_MIN_MS;
		if (s->ack_dirty && (last ||
		    now - s->last_acked_ms >= SPOOL_ACKED_EVERY_MS))
			spool_do_acked(s);
		if (s->fetch_wanted && !last)
			spool_do_fetch(s);
		if (last) {
			if (s->todo.nunlink > 0)
				spool_do_unlinks(s);
			break;
		}
		due = spool_next_due(s, spool_now_ms());
		ts.tv_sec = (time_t)(due / 1000);
		ts.tv_nsec = (long)(due % 1000) * 1000000L;
		if (!s->stopping && due > spool_now_ms())
			pthread_cond_timedwait(&s->cond, &s->mu, &ts);
	}
	pthread_mutex_unlock(&s->mu);
	return (NULL);
}

int
spool_start(struct spool *s, const struct spool_hooks *hooks)
{
	sigset_t	 all, old;
	int		 rc;

	pthread_mutex_lock(&s->mu);
	if (hooks != NULL)
		s->hooks = *hooks;
	/* Signals go to the main thread only. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&s->thread, NULL, spool_writer, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0)
		s->started = 1;
	pthread_mutex_unlock(&s->mu);
	return (rc == 0 ? 0 : -1);
}

/* Appending. */

/*
 * The active segment is done with: its fd goes to the writer. One with
 * nothing left to deliver goes at once (no later ack would remove it).
 */
static void
spool_retire_active(struct spool *s)
{
	struct spool_seg	*seg = s->active;

	s->active = NULL;
	if (seg->live == 0) {
		spool_seg_delete(s, seg, 0);
		return;
	}
	if (seg->fd != -1)
		spool_todo_fd(s, seg->fd);
	seg->fd = -1;
}

/* Make the spare file the active segment. 0, or -1 (none ready). */
static int
spool_take_spare(struct spool *s)
{
	struct spool_seg	*seg;

	if (s->spare_fd == -1)
		return (-1);
	if ((seg = spool_seg_new(s->spare_name)) == NULL ||
	    spool_segs_add(s, seg) == -1) {
		free(seg);
		return (-1);
	}
	seg->fd = s->spare_fd;
	s->spare_fd = -1;
	s->active = seg;
	pthread_cond_signal(&s->cond);	/* the writer makes the next one */
	return (0);
}

/*
 * Make room for rec more bytes: reclaim a delivered active segment, then
 * under DROP_OLDEST drop whole oldest segments. 0, or -1 when it does
 * not fit.
 */
static int
spool_make_room(struct spool *s, uint64_t rec)
{
	if (s->bytes + rec <= s->max_bytes)
		return (0);
	if (s->active != NULL && s->active->live == 0 && s->spare_fd != -1)
		spool_seg_delete(s, s->active, 0);
	if (s->overflow == SPOOL_DROP_OLDEST) {
		while (s->bytes + rec > s->max_bytes && s->nsegs > 0) {
			if (s->segs[0] == s->active && s->spare_fd == -1)
				break;
			spool_seg_delete(s, s->segs[0], 1);
		}
	}
	return (s->bytes + rec <= s->max_bytes ? 0 : -1);
}

/*
 * A failed write may have left part of its record at the end of seg: cut
 * it off (or leave it as a torn tail that replay detects), and never
 * write to that file again.
 */
static void
spool_undo(struct spool *s, struct spool_seg *seg, uint64_t old)
{
	struct stat	 sb;
	int		 saved = errno;

	if (ftruncate(seg->fd, (off_t)old) == -1 &&
	    fstat(seg->fd, &sb) == 0 && (uint64_t)sb.st_size > old) {
		s->bytes += (uint64_t)sb.st_size - seg->size;
		seg->size = (uint64_t)sb.st_size;
	}
	spool_retire_active(s);
	errno = saved;
}

int
spool_append(struct spool *s, const void *data, size_t len, int flags,
    uint64_t *seqp)
{
	struct spool_seg	*seg;
	unsigned char		 h[SPOOL_HDR];
	struct iovec		 iov[2];
	uint64_t		 rec, old;
	ssize_t			 w;
	char			*mem = NULL;
	int			 rc = SPOOL_EIO;

	if (len > SPOOL_MAX_RECORD || (data == NULL && len > 0)) {
		errno = EMSGSIZE;
		return (SPOOL_EIO);
	}
	rec = SPOOL_HDR + len;
	pthread_mutex_lock(&s->mu);
	if (s->io_failed) {
		errno = s->io_errno;
		goto out_unlock;
	}
	if (rec > s->max_bytes) {
		rc = SPOOL_EFULL;	/* can never fit */
		goto out_unlock;
	}
	if (s->next_seq >= SPOOL_SEQ_MAX) {
		errno = EOVERFLOW;
		goto out_unlock;
	}
	if (spool_make_room(s, rec) == -1) {
		s->full = 1;
		rc = SPOOL_EFULL;
		goto out_unlock;
	}
	/*
	 * Rotate when the writer has the next file ready; until then the
	 * active one grows (never wait for the disk here).
	 */
	if (s->active != NULL && s->active->size > 0 &&
	    s->active->size + rec > s->segment_bytes && s->spare_fd != -1)
		spool_retire_active(s);
	if (s->active == NULL && spool_take_spare(s) == -1) {
		errno = EAGAIN;		/* no segment file to write to */
		goto out_ioerr;
	}
	seg = s->active;
	if (spool_seg_reserve(seg) == -1) {
		errno = ENOMEM;
		goto out_unlock;
	}
	if (s->cache_bytes + len <= SPOOL_CACHE_MAX &&
	    (mem = malloc(len + 1)) != NULL)
		memcpy(mem, data, len);
	spool_hdr_encode(h, s->next_seq, data, (uint32_t)len);
	iov[0].iov_base = h;
	iov[0].iov_len = SPOOL_HDR;
	iov[1].iov_base = (void *)(uintptr_t)data;
	iov[1].iov_len = len;
	old = seg->size;
	do
		w = writev(seg->fd, iov, len > 0 ? 2 : 1);
	while (w == -1 && errno == EINTR);
	if (w != (ssize_t)rec) {
		if (w >= 0)
			errno = ENOSPC;	/* short write: the disk is full */
		free(mem);
		spool_undo(s, seg, old);
		goto out_ioerr;
	}
	spool_seg_push(s, seg, s->next_seq, old, (uint32_t)len, mem,
	    flags & SPOOL_APPEND_COND);
	seg->size += rec;
	s->bytes += rec;
	if (seqp != NULL)
		*seqp = s->next_seq;
	s->next_seq++;
	s->st.appended++;
	s->st.records++;
	s->full = 0;
	if (!s->unsynced || s->sync_every) {
		s->unsynced = 1;
		s->sync_wanted |= s->sync_every;
		pthread_cond_signal(&s->cond);
	}
	rc = 0;
	goto out_unlock;

out_ioerr:
	spool_failed(s, errno);
	rc = SPOOL_EIO;
out_unlock:
	pthread_mutex_unlock(&s->mu);
	return (rc);
}

void
spool_want_sync(struct spool *s)
{
	pthread_mutex_lock(&s->mu);
	s->sync_wanted = 1;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

uint64_t
spool_synced(struct spool *s)
{
	uint64_t	 v;

	pthread_mutex_lock(&s->mu);
	v = s->synced_seq;
	pthread_mutex_unlock(&s->mu);
	return (v);
}

/* Consuming. */

/* Queue what was read of a damaged record for the quarantine. */
static void
spool_quarantine_later(struct spool *s, uint64_t seg, uint64_t off,
    const unsigned char *h, size_t hlen, const char *data, size_t dlen)
{
	struct spool_quar	*q;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return;
	if ((q->bytes = malloc(hlen + dlen + 1)) == NULL) {
		free(q);
		return;
	}
	memcpy(q->bytes, h, hlen);
	memcpy(q->bytes + hlen, data, dlen);
	q->len = hlen + dlen;
	q->seg = seg;
	q->off = off;
	q->next = s->quar;
	s->quar = q;
	pthread_cond_signal(&s->cond);
}

/*
 * What a read of record idx of seg found, applied under the lock: the
 * bytes become its cached copy (mem, taken), or a damaged record is
 * quarantined and skipped, or a failed read makes the segment wait.
 */
static void
spool_read_done(struct spool *s, struct spool_seg *seg, size_t idx,
    enum spool_read rr, int err, const unsigned char *h, char *mem,
    size_t have)
{
	struct spool_rec	*r = &seg->recs[idx];
	char			 fn[SPOOL_SEG_NAMELEN + 1], off[32];
	long long		 now = spool_now_ms();

	switch (rr) {
	case SPOOL_READ_OK:
		if (r->mem == NULL && r->state != SPOOL_DONE) {
			r->mem = mem;
			s->cache_bytes += r->len;
			return;
		}
		break;
	case SPOOL_READ_AGAIN:
		s->st.io_errors++;
		seg->retry_at = now + SPOOL_READ_RETRY_MS;
		if (now - s->read_logged_ms >= SPOOL_LOG_EVERY_MS) {
			s->read_logged_ms = now;
			spool_seg_name(fn, sizeof(fn), seg->name);
			log_msg(CFG_LOG_WARN, "spool: cannot read a queued "
			    "claim; it stays queued and is read again",
			    "segment", fn, "error", strerror(err), LOG_END);
		}
		break;
	case SPOOL_READ_BAD:
		if (have > 0)
			spool_quarantine_later(s, seg->name, r->off, h,
			    have < SPOOL_HDR ? have : SPOOL_HDR, mem,
			    have > SPOOL_HDR ? have - SPOOL_HDR : 0);
		else {
			/* Nothing there to keep: the file was cut short. */
			spool_seg_name(fn, sizeof(fn), seg->name);
			snprintf(off, sizeof(off), "%llu",
			    (unsigned long long)r->off);
			log_msg(CFG_LOG_WARN, "spool: a queued claim is missing "
			    "from its file (cut short behind the proxy's back); "
			    "skipped", "segment", fn, "offset", off, LOG_END);
		}
		s->st.corrupt++;
		spool_rec_done(s, seg, idx, 0);
		break;
	case SPOOL_READ_GONE:
		spool_seg_gone(s, seg);
		break;
	}
	free(mem);
}

/*
 * Under the lock: the first pending record of a segment that is not
 * waiting after a failed read. NULL when there is none (*blocked: some
 * wait).
 */
static struct spool_seg *
spool_first_pending(struct spool *s, long long now, int *blocked)
{
	struct spool_seg	*seg;
	size_t			 i;

	*blocked = 0;
	for (i = 0; i < s->nsegs; i++) {
		seg = s->segs[i];
		while (seg->scan < seg->n &&
		    seg->recs[seg->scan].state != SPOOL_PENDING)
			seg->scan++;
		if (seg->scan == seg->n)
			continue;
		if (seg->retry_at > now) {
			*blocked = 1;
			continue;
		}
		return (seg);
	}
	return (NULL);
}

/*
 * The writer: read pending records that are not in memory (a backlog
 * from before a restart, or past the cache) ahead of the sender, up to
 * SPOOL_FETCH_BYTES at a time, so the engine thread never waits for the
 * disk. Reports through the loaded hook.
 */
static void
spool_do_fetch(struct spool *s)
{
	struct spool_fetch {
		uint64_t	 name, seq, off;
		uint32_t	 len;
		enum spool_read	 rr;
		int		 err;
		size_t		 have;
		unsigned char	 h[SPOOL_HDR];
		char		*mem;
	}			*f;
	struct spool_reader	 rd = { -1, 0 };
	struct spool_seg	*seg;
	struct spool_rec	*r;
	size_t			 n = 0, all, i, idx, bytes = 0;
	int			 blocked;

	s->fetch_wanted = 0;
	if ((f = calloc(SPOOL_FETCH_MAX, sizeof(*f))) == NULL)
		return;
	if ((seg = spool_first_pending(s, spool_now_ms(), &blocked)) != NULL) {
		for (idx = seg->scan; idx < seg->n && n < SPOOL_FETCH_MAX &&
		    bytes < SPOOL_FETCH_BYTES && s->cache_bytes + bytes +
		    seg->recs[idx].len <= SPOOL_CACHE_MAX; idx++) {
			r = &seg->recs[idx];
			if (r->state != SPOOL_PENDING || r->mem != NULL)
				continue;
			if ((f[n].mem = malloc((size_t)r->len + 1)) == NULL)
				break;
			f[n].name = seg->name;
			f[n].seq = r->seq;
			f[n].off = r->off;
			f[n].len = r->len;
			bytes += r->len;
			n++;
		}
	}
	pthread_mutex_unlock(&s->mu);
	all = n;
	for (i = 0; i < n; i++) {
		f[i].rr = spool_read_at(s->dfd, &rd, f[i].name, f[i].seq,
		    f[i].off, f[i].len, f[i].h, f[i].mem, &f[i].have);
		f[i].err = errno;
		if (f[i].rr != SPOOL_READ_OK && f[i].rr != SPOOL_READ_BAD) {
			n = i + 1;	/* the rest of this file waits too */
			break;
		}
	}
	spool_reader_close(&rd);
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < n; i++) {
		if (spool_find(s, f[i].seq, &seg, &idx) == -1)
			free(f[i].mem);		/* gone meanwhile */
		else
			spool_read_done(s, seg, idx, f[i].rr, f[i].err,
			    f[i].h, f[i].mem, f[i].have);
	}
	for (i = n; i < all; i++)
		free(f[i].mem);			/* not read: next time */
	free(f);
	if (n > 0 && s->hooks.loaded != NULL) {
		pthread_mutex_unlock(&s->mu);
		s->hooks.loaded(s->hooks.arg);
		pthread_mutex_lock(&s->mu);
	}
}

int
spool_next(struct spool *s, uint64_t *seq, char **data, size_t *len)
{
	struct spool_seg	*seg;
	struct spool_rec	*r;
	enum spool_read		 rr;
	unsigned char		 h[SPOOL_HDR];
	char			*p;
	size_t			 idx, have;
	int			 rc = 0, blocked;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		if ((seg = spool_first_pending(s, spool_now_ms(),
		    &blocked)) == NULL) {
			rc = blocked ? SPOOL_RETRY : 0;
			break;
		}
		idx = seg->scan;
		r = &seg->recs[idx];
		if ((r->cond || s->started) && r->seq > s->synced_seq) {
			/*
			 * Sent only once on disk (the synced hook wakes the
			 * sender): a conditional record is true only then,
			 * and a claim Wingman logged is never lost to a
			 * power cut, so after one its chain seq (chain.h) is
			 * never handed out twice.
			 */
			rc = 0;
			break;
		}
		if (r->mem == NULL && s->started) {
			/* The writer reads it; the loaded hook says when. */
			s->fetch_wanted = 1;
			pthread_cond_signal(&s->cond);
			rc = 0;
			break;
		}
		if ((p = malloc((size_t)r->len + 1)) == NULL) {
			rc = -1;
			break;
		}
		if (r->mem != NULL) {
			memcpy(p, r->mem, r->len);
			p[r->len] = '\0';
		} else {
			/* No writer (tests, shutdown): read it here. */
			rr = spool_read_at(s->dfd, &s->rd, seg->name, r->seq,
			    r->off, r->len, h, p, &have);
			if (rr != SPOOL_READ_OK) {
				spool_read_done(s, seg, idx, rr, errno, h, p,
				    have);
				continue;
			}
		}
		r->state = SPOOL_INFLIGHT;
		seg->scan++;
		s->st.inflight++;
		*seq = r->seq;
		*data = p;
		*len = r->len;
		rc = 1;
		break;
	}
	pthread_mutex_unlock(&s->mu);
	return (rc);
}

void
spool_ack(struct spool *s, uint64_t seq)
{
	struct spool_seg	*seg;
	size_t			 idx;

	pthread_mutex_lock(&s->mu);
	if (spool_find(s, seq, &seg, &idx) == 0)
		spool_rec_done(s, seg, idx, 1);
	pthread_mutex_unlock(&s->mu);
}

void
spool_nack(struct spool *s, uint64_t seq)
{
	struct spool_seg	*seg;
	size_t			 idx;

	pthread_mutex_lock(&s->mu);
	if (spool_find(s, seq, &seg, &idx) == 0 &&
	    seg->recs[idx].state == SPOOL_INFLIGHT) {
		seg->recs[idx].state = SPOOL_PENDING;
		s->st.inflight--;
		if (idx < seg->scan)
			seg->scan = idx;
	}
	pthread_mutex_unlock(&s->mu);
}

int
spool_sync(struct spool *s)
{
	int	 failed;

	pthread_mutex_lock(&s->mu);
	failed = s->io_failed;
	spool_do_sync(s, 0);
	if (!failed && s->io_failed)
		failed = -1;
	pthread_mutex_unlock(&s->mu);
	return (failed ? -1 : 0);
}

/* Takes appends? Locked. */
static int
spool_writable_locked(struct spool *s)
{
	uint64_t	 used;

	used = s->bytes;
	if (s->active != NULL && s->active->live == 0)
		used -= s->active->size;	/* reclaimed on demand */
	return (!s->io_failed && (s->active != NULL || s->spare_fd != -1) &&
	    !(s->overflow == SPOOL_BLOCK &&
	    (s->full || used + SPOOL_HDR > s->max_bytes)));
}

void
spool_get_stats(struct spool *s, struct spool_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->st;
	st->bytes = (size_t)s->bytes;
	st->writable = spool_writable_locked(s);
	st->spare_ready = s->spare_fd != -1;
	st->unwritable_s = s->unwritable_s + (s->io_failed ?
	    (double)(spool_now_ms() - s->failed_ms) / 1000.0 : 0.0);
	pthread_mutex_unlock(&s->mu);
}

int
spool_writable(struct spool *s)
{
	int	 w;

	pthread_mutex_lock(&s->mu);
	w = spool_writable_locked(s);
	pthread_mutex_unlock(&s->mu);
	return (w);
}

/* A spool whose writer was left waiting for the disk at exit: still
 * reachable (for leak checkers), never freed under the writer. */
static struct spool	*spool_abandoned;

void
spool_stop(struct spool *s)
{
	(void)spool_stop_within(s, -1);
}

int
spool_stop_within(struct spool *s, long ms)
{
	char		 name[SPOOL_SEG_NAMELEN + 1];
	struct timespec	 ts;
	size_t		 i;
	int		 join;

	if (s == NULL || s->abandoned)
		return (s == NULL ? 0 : -1);
	pthread_mutex_lock(&s->mu);
	join = s->started;
	s->started = 0;
	s->stopping = 1;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
	if (join && ms < 0) {
		pthread_join(s->thread, NULL);
		return (0);
	}
	if (join) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (pthread_timedjoin_np(s->thread, NULL, &ts) == 0)
			return (0);
		s->abandoned = 1;
		spool_abandoned = s;
		log_msg(CFG_LOG_WARN, "spool: the writer is still waiting for "
		    "the disk; exiting without it (every claim written is in "
		    "the kernel, and replayed at the next start)", "dir",
		    s->dir, LOG_END);
		return (-1);
	}
	/* Never started (or stopped already): the last work here. */
	pthread_mutex_lock(&s->mu);
	for (i = s->nsegs; i-- > 0;)
		if (s->segs[i]->live == 0)
			spool_seg_delete(s, s->segs[i], 0);
	if (s->todo.nunlink > 0)
		spool_do_unlinks(s);
	if (s->drops != NULL)
		spool_do_drops(s);
	if (s->quar != NULL)
		spool_do_quarantine(s);
	spool_do_sync(s, 0);
	if (s->ack_dirty)
		spool_do_acked(s);
	if (s->spare_fd != -1) {
		close(s->spare_fd);
		s->spare_fd = -1;
		spool_seg_name(name, sizeof(name), s->spare_name);
		unlinkat(s->dfd, name, 0);
	}
	pthread_mutex_unlock(&s->mu);
	return (0);
}

void
spool_close(struct spool *s)
{
	if (s == NULL || s->abandoned)
		return;
	spool_stop(s);
	spool_stop(s);		/* the leftovers, on this thread */
	spool_destroy(s);
}

int
spool_scan(const char *dir, int (*fn)(void *, uint64_t, const char *, size_t,
    int), void *arg, unsigned long *bad, char *err, size_t errlen)
{
	struct spool		 fake;
	struct spool_acked	 ak;
	struct spool_rd		 r;
	enum spool_rec_check	 ck;
	const unsigned char	*p;
	uint64_t		*names = NULL, off, seq;
	uint32_t		 len;
	unsigned long		 nbad = 0;
	struct stat		 sb;
	char			 fn_name[SPOOL_SEG_NAMELEN + 1];
	size_t			 nnames = 0, i;
	int			 fd, rc = 0, acked;

	memset(&fake, 0, sizeof(fake));
	if ((fake.dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1) {
		spool_err(err, errlen, "cannot open %s: %s", dir,
		    strerror(errno));
		return (-1);
	}
	if ((r.buf = malloc(SPOOL_RD_CAP)) == NULL) {
		spool_err(err, errlen, "out of memory");
		goto out_close_dir;
	}
	if (spool_list(&fake, &names, &nnames) == -1) {
		spool_err(err, errlen, "cannot list %s: %s", dir,
		    strerror(errno));
		goto out_free_buf;
	}
	spool_acked_load(fake.dfd, &ak);
	for (i = 0; i < nnames && rc == 0; i++) {
		spool_seg_name(fn_name, sizeof(fn_name), names[i]);
		if ((fd = openat(fake.dfd, fn_name, O_RDONLY | O_CLOEXEC)) ==
		    -1)
			continue;	/* removed meanwhile: delivered */
		if (fstat(fd, &sb) == -1) {
			close(fd);
			continue;
		}
		r.fd = fd;
		r.size = (uint64_t)sb.st_size;
		r.base = 0;
		r.n = 0;
		r.err = 0;
		for (off = 0; off < r.size && rc == 0 && !r.err;) {
			ck = spool_rd_rec(&r, off, &seq, &len);
			if (ck != SPOOL_REC_OK) {
				nbad++;
				off = ck == SPOOL_REC_BADCRC ? off + SPOOL_HDR +
				    len : spool_resync(&r, off + 1, 0);
				continue;
			}
			p = spool_rd_get(&r, off + SPOOL_HDR, len, NULL);
			if (p == NULL)
				break;
			acked = ak.ok && (seq < ak.low || (ak.nlist > 0 &&
			    bsearch(&seq, ak.list, ak.nlist, sizeof(seq),
			    spool_u64_cmp) != NULL));
			rc = fn(arg, seq, (const char *)p, len, acked);
			off += SPOOL_HDR + len;
		}
		close(fd);
	}
	free(ak.list);
	free(names);
	free(r.buf);
	close(fake.dfd);
	if (bad != NULL)
		*bad = nbad;
	return (rc);

out_free_buf:
	free(r.buf);
out_close_dir:
	close(fake.dfd);
	return (-1);
}
