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
 * Replay trusts a length only when the header checksum holds. After a bad
 * header it resynchronizes on the next magic whose header and payload
 * checksums both hold and whose seq is above every seq already accepted;
 * a bad region counts once in stats.corrupt. Records are strictly
 * increasing in seq over the segments in name order; anything else is
 * counted as corrupt.
 *
 * DIR/acked (text, replaced with write + rename):
 *	spool-acked 1
 *	next <seq>	next sequence number at write time
 *	low <seq>	every seq below it is acknowledged
 *	<seq>		... acknowledged seqs above low, ascending
 *	end
 * A missing or malformed file only means resends (at least once). The seq
 * of a new record is above "next", so a stale acked file never marks a
 * new record as acknowledged.
 *
 * DIR/lock is flock()ed while the spool is open: two processes appending
 * to one directory would interleave their records.
 *
 * In memory: per segment an array of (seq, offset, length, state); the
 * payloads stay on disk and spool_next() reads them back.
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"

#define SPOOL_MAGIC		0x314c5053u	/* "SPL1" on disk */
#define SPOOL_HDR		24
#define SPOOL_SEG_NAMELEN	24		/* seg-<16 hex>.log */
#define SPOOL_ACKED		"acked"
#define SPOOL_ACKED_TMP		"acked.tmp"
#define SPOOL_LOCK		"lock"
#define SPOOL_ACKED_MAX		65536		/* seqs listed above low */
#define SPOOL_RD_CAP		(256 * 1024)	/* replay read window */
#define SPOOL_DEF_MAX		((size_t)256 * 1024 * 1024)
#define SPOOL_DEF_SEG		((size_t)4 * 1024 * 1024)
#define SPOOL_RECS_MIN		64
#define SPOOL_CRC_POLY		0x82f63b78u	/* Castagnoli, reflected */

enum spool_state {
	SPOOL_PENDING = 0,
	SPOOL_INFLIGHT,
	SPOOL_DONE			/* acked, or unreadable */
};

struct spool_rec {
	uint64_t	 seq;
	uint64_t	 off;
	uint32_t	 len;
	uint32_t	 state;
};

struct spool_seg {
	uint64_t		 name;		/* first seq, from the name */
	uint64_t		 size;		/* bytes in the file */
	int			 fd;		/* -1 unless active/unsynced */
	int			 unsynced;	/* written since last fsync */
	struct spool_rec	*recs;		/* ascending seq */
	size_t			 n;
	size_t			 cap;
	size_t			 lo;		/* recs[0..lo) all DONE */
	size_t			 scan;		/* no PENDING in recs[0..scan) */
	size_t			 live;		/* not DONE */
	size_t			 ndone;
};

struct spool {
	pthread_mutex_t		 mu;
	char			*dir;
	int			 dfd;
	int			 lockfd;
	size_t			 max_bytes;
	size_t			 segment_bytes;
	enum spool_overflow	 overflow;
	int			 fsync_always;
	struct spool_seg	**segs;		/* ascending name */
	size_t			 nsegs;
	size_t			 segcap;
	struct spool_seg	*active;	/* appended to; last in segs */
	struct spool_seg	*rotated;	/* rotated, fd kept to fsync */
	struct spool_seg	*rseg;		/* whose file rfd is */
	int			 rfd;
	uint64_t		 next_seq;
	uint64_t		 bytes;
	int			 dir_dirty;	/* a new segment, no dir fsync */
	int			 ack_dirty;
	int			 io_failed;
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
spool_seg_free(struct spool_seg *seg)
{
	if (seg == NULL)
		return;
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

/* Add a record to seg's index; room was reserved. */
static void
spool_seg_push(struct spool_seg *seg, uint64_t seq, uint64_t off,
    uint32_t len, int done)
{
	struct spool_rec	*r = &seg->recs[seg->n++];

	r->seq = seq;
	r->off = off;
	r->len = len;
	r->state = done ? SPOOL_DONE : SPOOL_PENDING;
	if (done) {
		seg->ndone++;
		if (seg->lo == seg->n - 1)
			seg->lo++;
	} else
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

/*
 * Forget seg and unlink its file. With drop, its records that are not
 * done are counted as dropped (DROP_OLDEST); without, it has none.
 */
static void
spool_seg_delete(struct spool *s, struct spool_seg *seg, int drop)
{
	char	 name[SPOOL_SEG_NAMELEN + 1];
	size_t	 i;

	for (i = seg->lo; i < seg->n; i++) {
		if (seg->recs[i].state == SPOOL_DONE)
			continue;
		if (seg->recs[i].state == SPOOL_INFLIGHT)
			s->st.inflight--;
		s->st.records--;
		if (drop)
			s->st.dropped++;
	}
	spool_seg_name(name, sizeof(name), seg->name);
	if (unlinkat(s->dfd, name, 0) == -1 && errno != ENOENT)
		s->st.io_errors++;
	s->bytes -= seg->size;
	if (s->active == seg)
		s->active = NULL;
	if (s->rotated == seg)
		s->rotated = NULL;
	if (s->rseg == seg) {
		close(s->rfd);
		s->rfd = -1;
		s->rseg = NULL;
	}
	for (i = 0; i < s->nsegs; i++) {
		if (s->segs[i] == seg) {
			memmove(&s->segs[i], &s->segs[i + 1],
			    (s->nsegs - i - 1) * sizeof(s->segs[0]));
			s->nsegs--;
			break;
		}
	}
	spool_seg_free(seg);
	s->ack_dirty = 1;
	s->full = 0;
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

/*
 * Record idx of seg is done (acked when acked, else unreadable). A
 * segment left with nothing to deliver is unlinked unless it is the
 * active one (reclaimed later when space is short or at rotation).
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
	seg->live--;
	seg->ndone++;
	s->st.records--;
	if (acked)
		s->st.acked++;
	while (seg->lo < seg->n && seg->recs[seg->lo].state == SPOOL_DONE)
		seg->lo++;
	s->ack_dirty = 1;
	if (seg->live == 0) {
		s->full = 0;
		if (seg != s->active)
			spool_seg_delete(s, seg, 0);
	}
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
 * Replace DIR/acked with the current ack state (write tmp + rename; the
 * tmp is fsynced first only when durable). 0, or -1 with errno.
 */
static int
spool_write_acked(struct spool *s, int durable)
{
	struct spool_seg	*seg;
	char			 b[8192];
	size_t			 n, i, j, listed = 0;
	uint64_t		 low = s->next_seq;
	int			 fd, saved;

	for (i = 0; i < s->nsegs; i++) {
		seg = s->segs[i];
		if (seg->lo < seg->n) {
			low = seg->recs[seg->lo].seq;
			break;
		}
	}
	fd = openat(s->dfd, SPOOL_ACKED_TMP,
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		return (-1);
	n = (size_t)snprintf(b, sizeof(b), "spool-acked 1\nnext %" PRIu64
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
			if (n > sizeof(b) - 32) {
				if (spool_write_all(fd, b, n) == -1)
					goto out_close;
				n = 0;
			}
			n += (size_t)snprintf(b + n, sizeof(b) - n,
			    "%" PRIu64 "\n", seg->recs[j].seq);
			listed++;
		}
	}
	memcpy(b + n, "end\n", 4);
	n += 4;
	if (spool_write_all(fd, b, n) == -1)
		goto out_close;
	if (durable && fsync(fd) == -1)
		goto out_close;
	if (close(fd) == -1)
		return (-1);
	return (renameat(s->dfd, SPOOL_ACKED_TMP, s->dfd, SPOOL_ACKED));

out_close:
	saved = errno;
	close(fd);
	errno = saved;
	return (-1);
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

/*
 * Read DIR/acked. On any doubt (missing, malformed, truncated) all
 * outputs are 0/NULL: records are resent, nothing is lost. *list
 * (ascending, caller frees) holds the acked seqs above *low.
 */
static void
spool_load_acked(int dfd, uint64_t *low, uint64_t *next, uint64_t **list,
    size_t *nlist)
{
	FILE		*f;
	char		 line[64];
	uint64_t	*l = NULL, *p, v, lw = 0, nx = 0;
	size_t		 n = 0, cap = 0, k;
	int		 fd, ok = 0, lineno = 0;

	*low = 0;
	*next = 0;
	*list = NULL;
	*nlist = 0;
	fd = openat(dfd, SPOOL_ACKED, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return;
	f = fdopen(fd, "r");
	if (f == NULL) {
		close(fd);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		k = strlen(line);
		if (k == 0 || line[k - 1] != '\n')
			break;
		line[k - 1] = '\0';
		lineno++;
		if (lineno == 1) {
			if (strcmp(line, "spool-acked 1") != 0)
				break;
		} else if (lineno == 2) {
			if (strncmp(line, "next ", 5) != 0 ||
			    spool_parse_u64(line + 5, &nx) == -1)
				break;
		} else if (lineno == 3) {
			if (strncmp(line, "low ", 4) != 0 ||
			    spool_parse_u64(line + 4, &lw) == -1)
				break;
		} else if (strcmp(line, "end") == 0) {
			ok = 1;
			break;
		} else {
			if (spool_parse_u64(line, &v) == -1 || v <= lw ||
			    (n > 0 && v <= l[n - 1]) || n >= SPOOL_ACKED_MAX)
				break;
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				p = realloc(l, cap * sizeof(*p));
				if (p == NULL)
					break;
				l = p;
			}
			l[n++] = v;
		}
	}
	fclose(f);
	if (!ok) {
		free(l);
		return;
	}
	*low = lw;
	*next = nx;
	*list = l;
	*nlist = n;
}

static int
spool_u64_cmp(const void *a, const void *b)
{
	uint64_t	 x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

/* Replay. */

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
			if (k <= 0) {
				/* An error, or the file shrank under us. */
				r->err = 1;
				break;
			}
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
	uint64_t	 low;		/* from DIR/acked */
	uint64_t	*acked;		/* ascending */
	size_t		 nacked;
	uint64_t	 last;		/* highest seq accepted so far */
	int		 any;		/* last is meaningful */
	uint64_t	 next;		/* at least this for new records */
	unsigned char	*buf;		/* SPOOL_RD_CAP */
};

/*
 * Index the records of segment seg (file already open as fd). Returns 0,
 * or -1 on memory shortage.
 */
static int
spool_replay_seg(struct spool *s, struct spool_replay *rp,
    struct spool_seg *seg, int fd, uint64_t size)
{
	struct spool_rd		 r;
	enum spool_rec_check	 rc;
	uint64_t		 off = 0, seq, min_seq;
	uint32_t		 len;
	int			 bad = 0, done;

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
		if (rc == SPOOL_REC_OK && seq >= min_seq) {
			if (spool_seg_reserve(seg) == -1)
				return (-1);
			done = seq < rp->low || (rp->nacked > 0 &&
			    bsearch(&seq, rp->acked, rp->nacked,
			    sizeof(seq), spool_u64_cmp) != NULL);
			spool_seg_push(seg, seq, off, len, done);
			if (!done)
				s->st.records++;
			rp->last = seq;
			rp->any = 1;
			off += SPOOL_HDR + len;
			continue;
		}
		s->st.corrupt++;
		bad = 1;
		if (rc == SPOOL_REC_OK || rc == SPOOL_REC_BADCRC) {
			/* The header checksum holds: the length is good. */
			off += SPOOL_HDR + len;
			continue;
		}
		if (r.err)
			break;
		off = spool_resync(&r, off + 1, min_seq);
	}
	if (r.err)
		s->st.io_errors++;
	/* Records we could not read may have used seqs up to this. */
	if (bad && seg->name + size / SPOOL_HDR + 1 > rp->next)
		rp->next = seg->name + size / SPOOL_HDR + 1;
	if (seg->name + 1 > rp->next)
		rp->next = seg->name + 1;
	return (0);
}

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
		spool_seg_free(s->segs[i]);
	free(s->segs);
	if (s->rfd != -1)
		close(s->rfd);
	if (s->lockfd != -1)
		close(s->lockfd);
	if (s->dfd != -1)
		close(s->dfd);
	free(s->dir);
	free(s);
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

int
spool_open(struct spool **out, const struct spool_opts *o, char *err,
    size_t errlen)
{
	struct spool		*s;
	struct spool_seg	*seg;
	struct spool_replay	 rp;
	struct stat		 sb;
	char			 name[SPOOL_SEG_NAMELEN + 1];
	uint64_t		*names = NULL;
	size_t			 nnames = 0, i;
	int			 fd;

	*out = NULL;
	memset(&rp, 0, sizeof(rp));
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
	s->rfd = -1;
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
	s->fsync_always = o->fsync_always;

	if (mkdir(s->dir, 0700) == -1 && errno != EEXIST) {
		spool_err(err, errlen, "spool: cannot create directory %s: %s",
		    s->dir, strerror(errno));
		goto out_destroy;
	}
	s->dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd == -1) {
		spool_err(err, errlen, "spool: cannot open directory %s: %s",
		    s->dir, strerror(errno));
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

	spool_load_acked(s->dfd, &rp.low, &rp.next, &rp.acked, &rp.nacked);
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
		spool_seg_name(name, sizeof(name), names[i]);
		fd = openat(s->dfd, name, O_RDONLY | O_CLOEXEC);
		if (fd == -1 || fstat(fd, &sb) == -1) {
			/* Skipping it could reuse its seqs: refuse. */
			spool_err(err, errlen, "spool: cannot read %s/%s: %s",
			    s->dir, name, strerror(errno));
			if (fd != -1)
				close(fd);
			goto out_free_replay;
		}
		seg = spool_seg_new(names[i]);
		if (seg == NULL || spool_segs_add(s, seg) == -1) {
			spool_seg_free(seg);
			close(fd);
			spool_err(err, errlen, "spool: out of memory");
			goto out_free_replay;
		}
		seg->size = (uint64_t)sb.st_size;
		s->bytes += seg->size;
		if (spool_replay_seg(s, &rp, seg, fd, seg->size) == -1) {
			close(fd);
			spool_err(err, errlen, "spool: out of memory");
			goto out_free_replay;
		}
		close(fd);
	}
	s->next_seq = rp.next;
	if (rp.any && rp.last + 1 > s->next_seq)
		s->next_seq = rp.last + 1;
	if (s->next_seq == 0)
		s->next_seq = 1;

	/* Also the proof that the directory takes writes. */
	if (spool_write_acked(s, 0) == -1) {
		spool_err(err, errlen, "spool: directory %s is not writable: "
		    "cannot write %s/%s: %s", s->dir, s->dir,
		    SPOOL_ACKED_TMP, strerror(errno));
		goto out_free_replay;
	}
	s->ack_dirty = 0;
	for (i = s->nsegs; i-- > 0;) {
		if (s->segs[i]->live == 0)
			spool_seg_delete(s, s->segs[i], 0);
	}
	s->full = 0;
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		spool_err(err, errlen, "spool: cannot create a mutex");
		goto out_free_replay;
	}
	free(rp.buf);
	free(rp.acked);
	free(names);
	*out = s;
	return (0);

out_free_replay:
	free(rp.buf);
	free(rp.acked);
	free(names);
out_destroy:
	spool_destroy(s);
	return (-1);
}

/* Appending. */

/* Sync seg's data and, after a new segment, the directory. 0 or -1. */
static int
spool_sync_seg(struct spool *s, struct spool_seg *seg)
{
	if (fdatasync(seg->fd) == -1)
		return (-1);
	seg->unsynced = 0;
	if (s->dir_dirty) {
		if (fsync(s->dfd) == -1)
			return (-1);
		s->dir_dirty = 0;
	}
	return (0);
}

/* The active segment is done with: delete, keep its fd to sync, or close. */
static void
spool_rotate(struct spool *s)
{
	struct spool_seg	*seg = s->active, *old;

	s->active = NULL;
	if (seg->live == 0) {
		spool_seg_delete(s, seg, 0);
		return;
	}
	if (!seg->unsynced) {
		close(seg->fd);
		seg->fd = -1;
		return;
	}
	if (s->rotated != NULL) {
		/* Two rotations between syncs: sync the older now. */
		old = s->rotated;
		if (fdatasync(old->fd) == -1) {
			s->st.io_errors++;
			s->io_failed = 1;
		}
		close(old->fd);
		old->fd = -1;
		old->unsynced = 0;
	}
	s->rotated = seg;
}

/* A new active segment named after the next seq. 0 or -1 with errno. */
static int
spool_new_active(struct spool *s)
{
	struct spool_seg	*seg;
	char			 name[SPOOL_SEG_NAMELEN + 1];
	int			 saved;

	seg = spool_seg_new(s->next_seq);
	if (seg == NULL) {
		errno = ENOMEM;
		return (-1);
	}
	spool_seg_name(name, sizeof(name), seg->name);
	seg->fd = openat(s->dfd, name,
	    O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (seg->fd == -1) {
		saved = errno;
		spool_seg_free(seg);
		errno = saved;
		return (-1);
	}
	if (spool_segs_add(s, seg) == -1) {
		unlinkat(s->dfd, name, 0);
		spool_seg_free(seg);
		errno = ENOMEM;
		return (-1);
	}
	s->active = seg;
	s->dir_dirty = 1;
	return (0);
}

/*
 * Make room for rec more bytes: reclaim a fully acked active segment,
 * then under DROP_OLDEST drop whole oldest segments. 0, or -1 when it
 * does not fit.
 */
static int
spool_make_room(struct spool *s, uint64_t rec)
{
	if (s->bytes + rec <= s->max_bytes)
		return (0);
	if (s->active != NULL && s->active->live == 0)
		spool_seg_delete(s, s->active, 0);
	if (s->overflow == SPOOL_DROP_OLDEST) {
		while (s->bytes + rec > s->max_bytes && s->nsegs > 0)
			spool_seg_delete(s, s->segs[0], 1);
	}
	return (s->bytes + rec <= s->max_bytes ? 0 : -1);
}

/*
 * A failed append may have left part (or, when only the fsync failed,
 * all) of its record at the end of seg: cut it off. When that fails too,
 * leave it as a torn tail that replay detects and move on to a new
 * segment; a whole record's seq is then never reused.
 */
static void
spool_undo(struct spool *s, struct spool_seg *seg, uint64_t old, int whole)
{
	struct stat	 sb;
	uint64_t	 now;
	int		 saved = errno;

	if (ftruncate(seg->fd, (off_t)old) == 0) {
		errno = saved;
		return;
	}
	now = old;
	if (fstat(seg->fd, &sb) == 0 && (uint64_t)sb.st_size > old)
		now = (uint64_t)sb.st_size;
	s->bytes += now - seg->size;
	seg->size = now;
	if (whole)
		s->next_seq++;
	spool_rotate(s);
	errno = saved;
}

int
spool_append(struct spool *s, const void *data, size_t len, int sync)
{
	struct spool_seg	*seg;
	unsigned char		 h[SPOOL_HDR];
	struct iovec		 iov[2];
	uint64_t		 rec, old;
	ssize_t			 w;
	int			 rc = SPOOL_EIO;

	if (len > SPOOL_MAX_RECORD || (data == NULL && len > 0)) {
		errno = EMSGSIZE;
		return (SPOOL_EIO);
	}
	rec = SPOOL_HDR + len;
	pthread_mutex_lock(&s->mu);
	if (rec > s->max_bytes) {
		rc = SPOOL_EFULL;	/* can never fit */
		goto out_unlock;
	}
	if (spool_make_room(s, rec) == -1) {
		s->full = 1;
		rc = SPOOL_EFULL;
		goto out_unlock;
	}
	if (s->active != NULL && s->active->size > 0 &&
	    s->active->size + rec > s->segment_bytes)
		spool_rotate(s);
	if (s->active == NULL && spool_new_active(s) == -1)
		goto out_ioerr;
	seg = s->active;
	if (spool_seg_reserve(seg) == -1) {
		errno = ENOMEM;
		goto out_unlock;
	}
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
		spool_undo(s, seg, old, 0);
		goto out_ioerr;
	}
	if (sync || s->fsync_always) {
		if (spool_sync_seg(s, seg) == -1) {
			spool_undo(s, seg, old, 1);
			goto out_ioerr;
		}
	} else
		seg->unsynced = 1;
	spool_seg_push(seg, s->next_seq, old, (uint32_t)len, 0);
	seg->size += rec;
	s->bytes += rec;
	s->next_seq++;
	s->st.appended++;
	s->st.records++;
	s->io_failed = 0;
	s->full = 0;
	rc = 0;
	goto out_unlock;

out_ioerr:
	s->st.io_errors++;
	s->io_failed = 1;
	rc = SPOOL_EIO;
out_unlock:
	pthread_mutex_unlock(&s->mu);
	return (rc);
}

/* Consuming. */

/*
 * Read record r of seg into data (r->len + 1 bytes) and check it.
 * 0, or -1 when unreadable or not what the index says.
 */
static int
spool_read_rec(struct spool *s, struct spool_seg *seg,
    const struct spool_rec *r, char *data)
{
	unsigned char	 h[SPOOL_HDR];
	struct iovec	 iov[2];
	char		 name[SPOOL_SEG_NAMELEN + 1];
	uint64_t	 seq;
	uint32_t	 len, crc;
	ssize_t		 got;
	int		 fd;

	fd = seg->fd;
	if (fd == -1) {
		if (s->rseg != seg) {
			if (s->rfd != -1)
				close(s->rfd);
			s->rseg = NULL;
			spool_seg_name(name, sizeof(name), seg->name);
			s->rfd = openat(s->dfd, name, O_RDONLY | O_CLOEXEC);
			if (s->rfd == -1) {
				s->st.io_errors++;
				return (-1);
			}
			s->rseg = seg;
		}
		fd = s->rfd;
	}
	iov[0].iov_base = h;
	iov[0].iov_len = SPOOL_HDR;
	iov[1].iov_base = data;
	iov[1].iov_len = r->len;
	do
		got = preadv(fd, iov, 2, (off_t)r->off);
	while (got == -1 && errno == EINTR);
	if (got == -1)
		s->st.io_errors++;
	if (got != (ssize_t)(SPOOL_HDR + r->len))
		return (-1);
	if (spool_hdr_decode(h, &seq, &len, &crc) == -1 || seq != r->seq ||
	    len != r->len || spool_crc32c(data, len) != crc)
		return (-1);
	data[len] = '\0';
	return (0);
}

int
spool_next(struct spool *s, uint64_t *seq, char **data, size_t *len)
{
	struct spool_seg	*seg = NULL;
	struct spool_rec	*r;
	char			*p;
	size_t			 i, idx;
	int			 rc = 0;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		for (i = 0; i < s->nsegs; i++) {
			seg = s->segs[i];
			while (seg->scan < seg->n &&
			    seg->recs[seg->scan].state != SPOOL_PENDING)
				seg->scan++;
			if (seg->scan < seg->n)
				break;
		}
		if (i == s->nsegs)
			break;		/* nothing pending */
		idx = seg->scan;
		r = &seg->recs[idx];
		p = malloc((size_t)r->len + 1);
		if (p == NULL) {
			rc = -1;
			break;
		}
		if (spool_read_rec(s, seg, r, p) == 0) {
			r->state = SPOOL_INFLIGHT;
			seg->scan++;
			s->st.inflight++;
			*seq = r->seq;
			*data = p;
			*len = r->len;
			rc = 1;
			break;
		}
		/* Unreadable now: never wedge the consumer on it. */
		free(p);
		s->st.corrupt++;
		spool_rec_done(s, seg, idx, 0);
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

/*
 * The fsyncs run without the mutex (on dups of the descriptors), so
 * appends never wait for the disk unless they asked to.
 */
int
spool_sync(struct spool *s)
{
	int	 fds[3], isdir[3];
	size_t	 nfd = 0, i;
	int	 rc = 0, fd;

	pthread_mutex_lock(&s->mu);
	if (s->active != NULL && s->active->unsynced) {
		fd = dup(s->active->fd);
		if (fd == -1) {
			if (fdatasync(s->active->fd) == -1)
				rc = -1;
		} else {
			fds[nfd] = fd;
			isdir[nfd++] = 0;
		}
		s->active->unsynced = 0;
	}
	if (s->rotated != NULL) {
		fds[nfd] = s->rotated->fd;
		isdir[nfd++] = 0;
		s->rotated->fd = -1;
		s->rotated->unsynced = 0;
		s->rotated = NULL;
	}
	if (s->dir_dirty) {
		fd = dup(s->dfd);
		if (fd == -1) {
			if (fsync(s->dfd) == -1)
				rc = -1;
		} else {
			fds[nfd] = fd;
			isdir[nfd++] = 1;
		}
		s->dir_dirty = 0;
	}
	if (s->ack_dirty) {
		if (spool_write_acked(s, 0) == -1)
			rc = -1;
		else
			s->ack_dirty = 0;
	}
	pthread_mutex_unlock(&s->mu);

	for (i = 0; i < nfd; i++) {
		if ((isdir[i] ? fsync(fds[i]) : fdatasync(fds[i])) == -1)
			rc = -1;
		close(fds[i]);
	}
	if (rc == -1) {
		pthread_mutex_lock(&s->mu);
		s->st.io_errors++;
		s->io_failed = 1;
		pthread_mutex_unlock(&s->mu);
	}
	return (rc);
}

void
spool_get_stats(struct spool *s, struct spool_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->st;
	st->bytes = (size_t)s->bytes;
	pthread_mutex_unlock(&s->mu);
}

int
spool_writable(struct spool *s)
{
	uint64_t	 used;
	int		 w;

	pthread_mutex_lock(&s->mu);
	used = s->bytes;
	if (s->active != NULL && s->active->live == 0)
		used -= s->active->size;	/* reclaimed on demand */
	w = !s->io_failed && !(s->overflow == SPOOL_BLOCK &&
	    (s->full || used + SPOOL_HDR > s->max_bytes));
	pthread_mutex_unlock(&s->mu);
	return (w);
}

void
spool_close(struct spool *s)
{
	size_t	 i;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	if (s->active != NULL && s->active->unsynced)
		(void)spool_sync_seg(s, s->active);
	if (s->rotated != NULL) {
		(void)fdatasync(s->rotated->fd);
		close(s->rotated->fd);
		s->rotated->fd = -1;
		s->rotated = NULL;
	}
	if (s->dir_dirty)
		(void)fsync(s->dfd);
	for (i = s->nsegs; i-- > 0;) {
		if (s->segs[i]->live == 0)
			spool_seg_delete(s, s->segs[i], 0);
	}
	(void)spool_write_acked(s, 1);
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_destroy(&s->mu);
	spool_destroy(s);
}
