/*
 * Unit tests: spool (durable claim queue). Every test works in its own
 * mkdtemp() directory under /tmp and removes it. The framing constants
 * below mirror the record layout documented at the top of src/spool.c;
 * the corruption tests poke at those bytes.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "unit.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"

#define HDR		24	/* record header bytes */
#define OFF_LEN		4	/* u32 payload length */
#define OFF_SEQ		8	/* u64 seq */
#define OFF_CRC		16	/* u32 CRC-32C of the payload */

/* The spool directory of the test running (for predicates). */
static char	 cur_dir[128];

/* A scratch directory; the spool lives in <root>/sp (created by open). */
struct tdir {
	char	 root[64];
	char	 sp[96];
};

static void
tdir_make(struct tdir *t)
{
	snprintf(t->root, sizeof(t->root), "/tmp/test-spool-XXXXXX");
	ck_assert_msg(mkdtemp(t->root) != NULL, "mkdtemp: %s",
	    strerror(errno));
	snprintf(t->sp, sizeof(t->sp), "%s/sp", t->root);
}

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
tdir_remove(struct tdir *t)
{
	chmod(t->sp, 0700);
	chmod(t->root, 0700);
	nftw(t->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct spool *
sp_open(const char *dir, size_t max, size_t seg, enum spool_overflow ov)
{
	struct spool_opts	 o;
	struct spool		*s;
	char			 err[256];

	memset(&o, 0, sizeof(o));
	o.dir = dir;
	o.max_bytes = max;
	o.segment_bytes = seg;
	o.overflow = ov;
	err[0] = '\0';
	ck_assert_msg(spool_open(&s, &o, err, sizeof(err)) == 0,
	    "spool_open %s: %s", dir, err);
	ck_assert_int_eq(spool_start(s, NULL), 0);
	return (s);
}

static double
now_sec(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + ts.tv_nsec / 1e9);
}

/* Wait up to 5 s for the writer thread to make pred(s) true. */
static int
sp_wait(struct spool *s, int (*pred)(struct spool *))
{
	struct timespec	 ts = { 0, 5 * 1000 * 1000 };
	double		 t0 = now_sec();

	while (!pred(s)) {
		if (now_sec() - t0 > 5.0)
			return (0);
		nanosleep(&ts, NULL);
	}
	return (1);
}

static struct spool_stats
sp_stats(struct spool *s)
{
	struct spool_stats	 st;

	spool_get_stats(s, &st);
	return (st);
}

/*
 * spool_next(), waiting up to 5 s while records are pending but on disk
 * only: the writer thread reads them back (the loaded hook).
 */
static int
sp_next(struct spool *s, uint64_t *seq, char **data, size_t *len)
{
	struct timespec		 ts = { 0, 2 * 1000 * 1000 };
	struct spool_stats	 st;
	double			 t0 = now_sec();
	int			 rc;

	while ((rc = spool_next(s, seq, data, len)) == 0) {
		st = sp_stats(s);
		if (st.records <= st.inflight || now_sec() - t0 > 5.0)
			break;
		nanosleep(&ts, NULL);
	}
	return (rc);
}

/* Payload i: "rec-<i>" then 'x' up to len bytes. */
static void
payload(char *out, size_t len, int i)
{
	int	 k;

	memset(out, 'x', len);
	k = snprintf(out, len + 1, "rec-%d", i);
	if ((size_t)k < len)
		out[k] = '.';
	out[len] = '\0';
}

/*
 * Append payload(i, len). Waits (up to 200 ms) for the writer to have
 * the next segment file ready, as it has outside a burst, so segment
 * sizes are what the tests expect.
 */
static int
sp_append_n(struct spool *s, int i, size_t len, int sync)
{
	struct timespec	 ts = { 0, 1000 * 1000 };
	char		 b[SPOOL_MAX_RECORD + 1];
	double		 t0 = now_sec();
	int		 rc;

	while (!sp_stats(s).spare_ready && now_sec() - t0 < 0.2)
		nanosleep(&ts, NULL);
	payload(b, len, i);
	rc = spool_append(s, b, len, 0, NULL);
	if (rc == 0 && sync)
		rc = spool_sync(s);
	return (rc);
}

/* Take the next record; want its payload to be payload(want_i, len). */
static uint64_t
sp_take_n(struct spool *s, int want_i, size_t len)
{
	char		 want[SPOOL_MAX_RECORD + 1];
	char		*data;
	size_t		 n;
	uint64_t	 seq;
	int		 rc;

	payload(want, len, want_i);
	rc = sp_next(s, &seq, &data, &n);
	ck_assert_msg(rc == 1, "next for rec-%d: got rc %d, want 1", want_i,
	    rc);
	ck_assert_msg(n == len && memcmp(data, want, len) == 0 &&
	    data[n] == '\0', "next: got %.20s (len %zu), want %.20s (len %zu)",
	    data, n, want, len);
	free(data);
	return (seq);
}

/* Segment files with data in dir (the empty spare does not count):
 * count and total size. */
static size_t
seg_files(const char *dir, size_t *bytes)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 sb;
	char		 p[512];
	size_t		 n = 0;

	if (bytes != NULL)
		*bytes = 0;
	d = opendir(dir);
	if (d == NULL)
		return (0);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "seg-", 4) != 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (stat(p, &sb) != 0 || sb.st_size == 0)
			continue;
		n++;
		if (bytes != NULL)
			*bytes += (size_t)sb.st_size;
	}
	closedir(d);
	return (n);
}

/* Bytes in the files of a directory (0 when there is none). */
static size_t
quarantine_bytes(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 sb;
	char		 p[512];
	size_t		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return (0);
	while ((de = readdir(d)) != NULL) {
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (de->d_name[0] != '.' && stat(p, &sb) == 0)
			n += (size_t)sb.st_size;
	}
	closedir(d);
	return (n);
}

/* Path of the segment file whose first seq is seq. */
static void
seg_path(char *out, size_t outlen, const char *dir, uint64_t seq)
{
	snprintf(out, outlen, "%s/seg-%016" PRIx64 ".log", dir, seq);
}

static uint32_t
le32(const unsigned char *p)
{
	return ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24);
}

static uint64_t
le64(const unsigned char *p)
{
	return ((uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32);
}

START_TEST(test_framing)
{
	struct tdir	 t;
	struct spool	*s;
	struct stat	 sb;
	unsigned char	 b[128];
	char		 p[256];
	int		 fd;
	ssize_t		 n;

	tdir_make(&t);
	s = sp_open(t.sp, 1 << 20, 1 << 16, SPOOL_BLOCK);
	ck_assert_int_eq(spool_append(s, "123456789", 9, 0, NULL), 0);
	spool_close(s);

	ck_assert_int_eq(stat(t.sp, &sb), 0);
	ck_assert_msg((sb.st_mode & 0777) == 0700, "dir mode: got %o, want "
	    "700", (unsigned)(sb.st_mode & 0777));
	seg_path(p, sizeof(p), t.sp, 1);
	fd = open(p, O_RDONLY);
	ck_assert_msg(fd != -1, "open %s: %s", p, strerror(errno));
	ck_assert_int_eq(fstat(fd, &sb), 0);
	ck_assert_msg((sb.st_mode & 0777) == 0600, "segment mode: got %o, "
	    "want 600", (unsigned)(sb.st_mode & 0777));
	n = read(fd, b, sizeof(b));
	close(fd);
	ck_assert_msg(n == HDR + 9, "segment size: got %zd, want %d", n,
	    HDR + 9);
	{
		static const struct {
			const char	*what;
			uint64_t	 got_off;
			int		 is64;
			uint64_t	 want;
		} f[] = {
			{ "magic", 0, 0, 0x314c5053u },
			{ "len", OFF_LEN, 0, 9 },
			{ "seq", OFF_SEQ, 1, 1 },
			/* CRC-32C("123456789"), the Castagnoli check value */
			{ "crc", OFF_CRC, 0, 0xe3069283u },
		};
		size_t		 i;
		uint64_t	 got;

		for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
			got = f[i].is64 ? le64(b + f[i].got_off) :
			    le32(b + f[i].got_off);
			ck_assert_msg(got == f[i].want, "%s: got %#" PRIx64
			    ", want %#" PRIx64, f[i].what, got, f[i].want);
		}
	}
	ck_assert_msg(memcmp(b + HDR, "123456789", 9) == 0, "payload");
	tdir_remove(&t);
}
END_TEST

START_TEST(test_round_trip)
{
	static const struct {
		const char	*data;
		size_t		 len;
	} cases[] = {
		{ "first claim", 11 },
		{ "", 0 },
		{ "with\0nul", 8 },
		{ "{\"op\":\"add\",\"user\":\"u:1a2b\"}", 28 },
		{ "last", 4 },
	};
	struct tdir		 t;
	struct spool		*s;
	struct spool_stats	 st;
	uint64_t		 seq, prev = 0, seqs[8];
	char			*data;
	size_t			 i, len, nc = sizeof(cases) / sizeof(cases[0]);

	tdir_make(&t);
	s = sp_open(t.sp, 1 << 20, 1 << 16, SPOOL_BLOCK);
	ck_assert_int_eq(spool_writable(s), 1);
	for (i = 0; i < nc; i++)
		ck_assert_int_eq(spool_append(s, cases[i].data, cases[i].len,
		    0, NULL), 0);
	st = sp_stats(s);
	ck_assert_msg(st.records == nc && st.appended == nc, "records %zu "
	    "appended %llu, want %zu", st.records, st.appended, nc);
	ck_assert_msg(st.bytes == nc * HDR + 11 + 0 + 8 + 28 + 4,
	    "bytes: got %zu", st.bytes);
	for (i = 0; i < nc; i++) {
		ck_assert_int_eq(sp_next(s, &seq, &data, &len), 1);
		ck_assert_msg(len == cases[i].len &&
		    memcmp(data, cases[i].data, len) == 0 && data[len] == '\0',
		    "case %zu: got '%s' (%zu), want '%s'", i, data, len,
		    cases[i].data);
		ck_assert_msg(seq > prev, "case %zu: seq %" PRIu64 " after %"
		    PRIu64, i, seq, prev);
		prev = seqs[i] = seq;
		free(data);
	}
	ck_assert_int_eq(sp_next(s, &seq, &data, &len), 0);
	st = sp_stats(s);
	ck_assert_uint_eq(st.inflight, nc);
	for (i = 0; i < nc; i++)
		spool_ack(s, seqs[i]);
	st = sp_stats(s);
	ck_assert_msg(st.records == 0 && st.inflight == 0 && st.acked == nc,
	    "after acks: records %zu inflight %zu acked %llu", st.records,
	    st.inflight, st.acked);
	ck_assert_int_eq(sp_next(s, &seq, &data, &len), 0);
	ck_assert_int_eq(spool_sync(s), 0);
	spool_close(s);
	spool_close(NULL);
	tdir_remove(&t);
}
END_TEST

START_TEST(test_nack_and_unknown)
{
	/* ops: 'n' next (want payload index), 'N' nack, 'A' ack (record
	 * index), 'e' next wants none. Records 0..2 are appended first. */
	static const struct {
		char	 op;
		int	 arg;
	} ops[] = {
		{ 'n', 0 }, { 'n', 1 }, { 'N', 0 }, { 'n', 0 }, { 'n', 2 },
		{ 'e', 0 }, { 'N', 1 }, { 'N', 2 }, { 'n', 1 }, { 'A', 0 },
		{ 'N', 0 }, { 'n', 2 }, { 'A', 2 }, { 'A', 1 }, { 'e', 0 },
	};
	struct tdir		 t;
	struct spool		*s;
	struct spool_stats	 st;
	uint64_t		 seq[3], got;
	size_t			 i;
	char			*data;
	size_t			 len;

	tdir_make(&t);
	s = sp_open(t.sp, 1 << 20, 1 << 16, SPOOL_BLOCK);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(sp_append_n(s, (int)i, 10, 0), 0);
	seq[0] = 1;
	seq[1] = 2;
	seq[2] = 3;
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		switch (ops[i].op) {
		case 'n':
			got = sp_take_n(s, ops[i].arg, 10);
			ck_assert_msg(got == seq[ops[i].arg], "op %zu: got seq "
			    "%" PRIu64 ", want %" PRIu64, i, got,
			    seq[ops[i].arg]);
			break;
		case 'N':
			spool_nack(s, seq[ops[i].arg]);
			break;
		case 'A':
			spool_ack(s, seq[ops[i].arg]);
			break;
		case 'e':
			ck_assert_msg(sp_next(s, &got, &data, &len) == 0,
			    "op %zu: a record came out, want none", i);
			break;
		}
	}
	st = sp_stats(s);
	ck_assert_msg(st.acked == 3 && st.records == 0 && st.inflight == 0,
	    "acked %llu records %zu inflight %zu", st.acked, st.records,
	    st.inflight);
	/* Unknown and repeated acks/nacks are no-ops. */
	spool_ack(s, 0);
	spool_ack(s, 999);
	spool_ack(s, seq[1]);
	spool_nack(s, 12345);
	spool_nack(s, seq[0]);
	st = sp_stats(s);
	ck_assert_msg(st.acked == 3 && st.records == 0, "after no-ops: acked "
	    "%llu records %zu", st.acked, st.records);
	spool_close(s);
	tdir_remove(&t);
}
END_TEST

START_TEST(test_out_of_order_and_reopen)
{
	static const int	 acks[] = { 7, 2, 10, 5 };	/* 1-based */
	static const int	 want[] = { 1, 3, 4, 6, 8, 9 };
	struct tdir		 t;
	struct spool		*s;
	struct spool_stats	 st;
	uint64_t		 seq;
	size_t			 i;
	int			 k;

	tdir_make(&t);
	s = sp_open(t.sp, 1 << 20, 1024, SPOOL_BLOCK);
	for (k = 1; k <= 10; k++)
		ck_assert_int_eq(sp_append_n(s, k, 100, 0), 0);
	for (k = 1; k <= 10; k++) {
		seq = sp_take_n(s, k, 100);
		ck_assert_uint_eq(seq, (uint64_t)k);
	}
	for (i = 0; i < sizeof(acks) / sizeof(acks[0]); i++)
		spool_ack(s, (uint64_t)acks[i]);
	/* 1, 3, 4, 6, 8, 9 stay in flight: pending again after a restart. */
	spool_close(s);

	s = sp_open(t.sp, 1 << 20, 1024, SPOOL_BLOCK);
	st = sp_stats(s);
	ck_assert_msg(st.records == 6 && st.corrupt == 0, "reopen: records "
	    "%zu corrupt %llu, want 6, 0", st.records, st.corrupt);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		seq = sp_take_n(s, want[i], 100);
		ck_assert_msg(seq == (uint64_t)want[i], "got seq %" PRIu64
		    ", want %d", seq, want[i]);
		spool_ack(s, seq);
	}
	ck_assert_int_eq(sp_append_n(s, 11, 100, 0), 0);
	seq = sp_take_n(s, 11, 100);
	ck_assert_msg(seq == 11, "new seq after reopen: got %" PRIu64
	    ", want 11", seq);
	spool_ack(s, seq);
	spool_close(s);

	/* Everything acked, every segment gone: seqs still go up. */
	ck_assert_uint_eq(seg_files(t.sp, NULL), 0);
	s = sp_open(t.sp, 1 << 20, 1024, SPOOL_BLOCK);
	ck_assert_uint_eq(sp_stats(s).records, 0);
	ck_assert_int_eq(sp_append_n(s, 12, 100, 0), 0);
	seq = sp_take_n(s, 12, 100);
	ck_assert_msg(seq == 12, "seq after empty reopen: got %" PRIu64
	    ", want 12", seq);
	spool_close(s);
	tdir_remove(&t);
}
END_TEST

/* On-disk bytes of the segment files equal what the spool counts. */
static int
disk_matches(struct spool *s)
{
	struct spool_stats	 st;
	size_t			 bytes;
	char			 dir[128];

	spool_get_stats(s, &st);
	snprintf(dir, sizeof(dir), "%s", cur_dir);
	seg_files(dir, &bytes);
	return (bytes == st.bytes);
}

START_TEST(test_acked_segments_deleted)
{
	struct tdir		 t;
	struct spool		*s;
	struct spool_stats	 st;
	size_t			 files, bytes;
	uint64_t		 seq;
	int			 k;

	tdir_make(&t);
	snprintf(cur_dir, sizeof(cur_dir), "%s", t.sp);
	/* About 16 records of 1024 bytes on disk per 16 KiB segment. */
	s = sp_open(t.sp, 1 << 20, 16384, SPOOL_BLOCK);
	for (k = 1; k <= 100; k++)
		ck_assert_int_eq(sp_append_n(s, k, 1000, 0), 0);
	files = seg_files(t.sp, &bytes);
	st = sp_stats(s);
	ck_assert_msg(files >= 3 && bytes == 100 * 1024 &&
	    st.bytes == bytes, "files %zu bytes %zu stats %zu, want >= 3, %d",
	    files, bytes, st.bytes, 100 * 1024);
	for (k = 1; k <= 50; k++) {
		seq = sp_take_n(s, k, 1000);
		spool_ack(s, seq);
	}
	/* Delivered segments go (the writer removes the files). */
	ck_assert(sp_wait(s, disk_matches));
	files = seg_files(t.sp, &bytes);
	ck_assert_msg(bytes < 100 * 1024 && bytes >= 50 * 1024 &&
	    files >= 1, "after 50 acks: files %zu bytes %zu", files, bytes);
	for (k = 51; k <= 100; k++) {
		seq = sp_take_n(s, k, 1000);
		spool_ack(s, seq);
	}
	ck_assert(sp_wait(s, disk_matches));
	files = seg_files(t.sp, &bytes);
	ck_assert_msg(files <= 1, "after all acks: files %zu", files);
	spool_close(s);
	files = seg_files(t.sp, &bytes);
	ck_assert_msg(files == 0 && bytes == 0, "after close: files %zu "
	    "bytes %zu", files, bytes);
	tdir_remove(&t);
}
END_TEST

enum mutation {
	MUT_TRUNC_PAYLOAD,	/* last record cut inside its payload */
	MUT_TRUNC_HEADER,	/* last record cut inside its header */
	MUT_FLIP_PAYLOAD,	/* a payload byte of record at */
	MUT_FLIP_LEN,		/* a length byte of record at */
	MUT_FLIP_MAGIC,
	MUT_FLIP_SEQ,
	MUT_ZERO_TAIL,		/* 100 zero bytes after the last record */
	MUT_ALL_GARBAGE		/* every byte of the segment flipped */
};

START_TEST(test_corruption)
{
	static const struct {
		const char	*name;
		enum mutation	 m;
		int		 at;		/* 0-based record */
		int		 want[5];	/* kept, 1-based, 0 ends */
		int		 want_segs;	/* after the new append */
	} cases[] = {
		{ "torn tail", MUT_TRUNC_PAYLOAD, 4, { 1, 2, 3, 4 }, 2 },
		{ "torn header", MUT_TRUNC_HEADER, 4, { 1, 2, 3, 4 }, 2 },
		{ "payload byte", MUT_FLIP_PAYLOAD, 2, { 1, 2, 4, 5 }, 2 },
		{ "length byte", MUT_FLIP_LEN, 2, { 1, 2, 4, 5 }, 2 },
		{ "magic byte", MUT_FLIP_MAGIC, 1, { 1, 3, 4, 5 }, 2 },
		{ "seq byte", MUT_FLIP_SEQ, 0, { 2, 3, 4, 5 }, 2 },
		{ "zero tail", MUT_ZERO_TAIL, 0, { 1, 2, 3, 4, 5 }, 2 },
		{ "all garbage", MUT_ALL_GARBAGE, 0, { 0 }, 1 },
	};
	const size_t		 plen = 100, rlen = HDR + 100;
	size_t			 c, i, nwant;
	struct tdir		 t;
	struct spool		*s;
	struct spool_stats	 st;
	char			 p[256], *data;
	unsigned char		 byte, zeros[100], *all;
	uint64_t		 seq;
	size_t			 len;
	off_t			 off;
	int			 fd, k;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		tdir_make(&t);
		s = sp_open(t.sp, 1 << 20, 1 << 16, SPOOL_BLOCK);
		for (k = 1; k <= 5; k++)
			ck_assert_int_eq(sp_append_n(s, k, plen, 0), 0);
		spool_close(s);

		seg_path(p, sizeof(p), t.sp, 1);
		fd = open(p, O_RDWR);
		ck_assert_msg(fd != -1, "%s: open %s", cases[c].name, p);
		off = (off_t)(cases[c].at * rlen);
		switch (cases[c].m) {
		case MUT_TRUNC_PAYLOAD:
			ck_assert_int_eq(ftruncate(fd, off + HDR + 37), 0);
			break;
		case MUT_TRUNC_HEADER:
			ck_assert_int_eq(ftruncate(fd, off + 10), 0);
			break;
		case MUT_FLIP_PAYLOAD:
		case MUT_FLIP_LEN:
		case MUT_FLIP_MAGIC:
		case MUT_FLIP_SEQ:
			off += cases[c].m == MUT_FLIP_PAYLOAD ? HDR + 50 :
			    cases[c].m == MUT_FLIP_LEN ? OFF_LEN :
			    cases[c].m == MUT_FLIP_SEQ ? OFF_SEQ : 1;
			ck_assert_int_eq(pread(fd, &byte, 1, off), 1);
			byte ^= 0x10;
			ck_assert_int_eq(pwrite(fd, &byte, 1, off), 1);
			break;
		case MUT_ZERO_TAIL:
			memset(zeros, 0, sizeof(zeros));
			ck_assert_int_eq(pwrite(fd, zeros, sizeof(zeros),
			    (off_t)(5 * rlen)), (ssize_t)sizeof(zeros));
			break;
		case MUT_ALL_GARBAGE:
			all = malloc(5 * rlen);
			ck_assert_ptr_nonnull(all);
			ck_assert_int_eq(pread(fd, all, 5 * rlen, 0),
			    (ssize_t)(5 * rlen));
			for (i = 0; i < 5 * rlen; i++)
				all[i] ^= 0xa5;
			ck_assert_int_eq(pwrite(fd, all, 5 * rlen, 0),
			    (ssize_t)(5 * rlen));
			free(all);
			break;
		}
		close(fd);

		for (nwant = 0; nwant < 5 && cases[c].want[nwant] != 0;)
			nwant++;
		s = sp_open(t.sp, 1 << 20, 1 << 16, SPOOL_BLOCK);
		st = sp_stats(s);
		ck_assert_msg(st.corrupt == 1 && st.records == nwant,
		    "%s: corrupt %llu records %zu, want 1, %zu",
		    cases[c].name, st.corrupt, st.records, nwant);
		/* Never just dropped: the damaged bytes are kept. */
		snprintf(p, sizeof(p), "%s/quarantine", t.sp);
		ck_assert_msg(quarantine_bytes(p) > 0, "%s: nothing in the "
		    "quarantine", cases[c].name);
		ck_assert_int_eq(sp_append_n(s, 99, plen, 0), 0);
		ck_assert_msg((int)seg_files(t.sp, NULL) == cases[c].want_segs,
		    "%s: segments %zu, want %d (appends go to a new one)",
		    cases[c].name, seg_files(t.sp, NULL), cases[c].want_segs);
		spool_close(s);

		/* Once more: same count, and the new record is there too. */
		s = sp_open(t.sp, 1 << 20, 1 << 16, SPOOL_BLOCK);
		st = sp_stats(s);
		ck_assert_msg(st.corrupt == (nwant > 0 ? 1u : 0u) &&
		    st.records == nwant + 1, "%s: second reopen: corrupt %llu "
		    "records %zu", cases[c].name, st.corrupt, st.records);
		for (i = 0; i < nwant; i++) {
			seq = sp_take_n(s, cases[c].want[i], plen);
			ck_assert_msg(seq == (uint64_t)cases[c].want[i],
			    "%s: got seq %" PRIu64 ", want %d", cases[c].name,
			    seq, cases[c].want[i]);
			spool_ack(s, seq);
		}
		seq = sp_take_n(s, 99, plen);
		ck_assert_msg(seq > 5, "%s: new record seq %" PRIu64,
		    cases[c].name, seq);
		spool_ack(s, seq);
		ck_assert_int_eq(sp_next(s, &seq, &data, &len), 0);
		spool_close(s);
		ck_assert_msg(seg_files(t.sp, NULL) == 0, "%s: segments left "
		    "after acking everything", cases[c].name);
		tdir_remove(&t);
	}
}
END_TEST

START_TEST(test_block_full)
{
	struct tdir		 t;
	struct spool		*s;
	struct spool_stats	 st;
	uint64_t		 seq;
	int			 k, rc, n = 0, acked;

	tdir_make(&t);
	/* 64 KiB, 16 KiB segments, 1024 bytes per record on disk. */
	s = sp_open(t.sp, 65536, 16384, SPOOL_BLOCK);
	for (k = 1; k <= 100; k++) {
		rc = sp_append_n(s, k, 1000, 0);
		if (rc != 0)
			break;
		n++;
	}
	ck_assert_msg(n == 64 && rc == SPOOL_EFULL, "appended %d then rc "
	    "%d, want 64 then %d", n, rc, SPOOL_EFULL);
	ck_assert_int_eq(spool_writable(s), 0);
	ck_assert_int_eq(sp_append_n(s, 65, 1000, 0), SPOOL_EFULL);
	st = sp_stats(s);
	ck_assert_msg(st.bytes == 65536 && st.records == 64 &&
	    st.dropped == 0, "full: bytes %zu records %zu dropped %llu",
	    st.bytes, st.records, st.dropped);

	/* Ack the oldest until a whole segment is delivered: room again. */
	for (acked = 1; acked <= 64 && !spool_writable(s); acked++) {
		seq = sp_take_n(s, acked, 1000);
		spool_ack(s, seq);
	}
	ck_assert_msg(spool_writable(s) && acked <= 40, "writable after "
	    "%d acks", acked - 1);
	ck_assert_int_eq(sp_append_n(s, 65, 1000, 0), 0);

	/* Drain everything (the active segment too): appends work again. */
	for (k = acked; k <= 65; k++) {
		seq = sp_take_n(s, k, 1000);
		spool_ack(s, seq);
	}
	ck_assert_int_eq(spool_writable(s), 1);
	ck_assert_int_eq(sp_append_n(s, 66, 1000, 0), 0);
	seq = sp_take_n(s, 66, 1000);
	ck_assert_uint_eq(seq, 66);
	/* A record bigger than the whole spool never fits. */
	ck_assert_int_eq(sp_append_n(s, 0, 65536, 0), SPOOL_EFULL);
	spool_close(s);
	tdir_remove(&t);
}
END_TEST

START_TEST(test_drop_oldest)
{
	struct tdir		 t;
	struct spool		*s;
	struct spool_stats	 st;
	uint64_t		 seq, first, prev;
	char			*data;
	size_t			 len, got = 0;
	int			 k;

	tdir_make(&t);
	s = sp_open(t.sp, 65536, 16384, SPOOL_DROP_OLDEST);
	ck_assert_int_eq(sp_append_n(s, 1, 1000, 0), 0);
	first = sp_take_n(s, 1, 1000);		/* in flight, then dropped */
	for (k = 2; k <= 200; k++)
		ck_assert_msg(sp_append_n(s, k, 1000, 0) == 0, "append %d", k);
	ck_assert_int_eq(spool_writable(s), 1);
	st = sp_stats(s);
	ck_assert_msg(st.dropped > 0 && st.records + st.dropped == 200 &&
	    st.bytes <= 65536 && st.inflight == 0, "dropped %llu records %zu "
	    "bytes %zu inflight %zu", st.dropped, st.records, st.bytes,
	    st.inflight);
	spool_ack(s, first);			/* unknown now: no-op */
	spool_nack(s, first);
	ck_assert_uint_eq(sp_stats(s).acked, 0);

	/* What is left is the newest run, in order, ending with 200. */
	prev = 0;
	while (sp_next(s, &seq, &data, &len) == 1) {
		ck_assert_msg(prev == 0 || seq == prev + 1, "seq %" PRIu64
		    " after %" PRIu64, seq, prev);
		prev = seq;
		free(data);
		got++;
	}
	ck_assert_msg(prev == 200 && got == st.records, "last %" PRIu64
	    " got %zu, want 200, %zu", prev, got, st.records);
	spool_close(s);
	tdir_remove(&t);
}
END_TEST

START_TEST(test_oversize)
{
	struct tdir		 t;
	struct spool		*s;
	struct spool_stats	 st;
	static char		 big[SPOOL_MAX_RECORD + 2];

	tdir_make(&t);
	s = sp_open(t.sp, 1 << 20, 1 << 18, SPOOL_BLOCK);
	memset(big, 'b', sizeof(big));
	ck_assert_int_ne(spool_append(s, big, SPOOL_MAX_RECORD + 1, 0, NULL), 0);
	st = sp_stats(s);
	ck_assert_msg(st.appended == 0 && st.bytes == 0 && st.io_errors == 0,
	    "oversize: appended %llu bytes %zu io_errors %llu",
	    st.appended, st.bytes, st.io_errors);
	ck_assert_int_eq(spool_writable(s), 1);
	ck_assert_int_eq(sp_append_n(s, 7, SPOOL_MAX_RECORD, 0), 0);
	sp_take_n(s, 7, SPOOL_MAX_RECORD);
	spool_close(s);
	tdir_remove(&t);
}
END_TEST

/* spool_open in a child running as nobody; the message comes back. */
static int
open_as_nobody(const char *dir, char *msg, size_t msglen, int *rc)
{
	int	 pfd[2], status;
	pid_t	 pid;
	ssize_t	 n;

	if (pipe(pfd) == -1)
		return (-1);
	pid = fork();
	if (pid == -1)
		return (-1);
	if (pid == 0) {
		struct spool_opts	 o;
		struct spool		*s;
		char			 err[256] = "";
		int			 r;

		close(pfd[0]);
		if (setgid(65534) == -1 || setuid(65534) == -1)
			_exit(2);
		memset(&o, 0, sizeof(o));
		o.dir = dir;
		r = spool_open(&s, &o, err, sizeof(err));
		if (r == 0)
			spool_close(s);
		(void)write(pfd[1], err, strlen(err));
		_exit(r == 0 ? 0 : 1);
	}
	close(pfd[1]);
	n = read(pfd[0], msg, msglen - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 2)
		return (-1);
	*rc = WEXITSTATUS(status) == 0 ? 0 : -1;
	return (0);
}

START_TEST(test_open_errors)
{
	struct tdir		 t;
	struct spool_opts	 o;
	struct spool		*s, *s2;
	char			 path[256], err[512], file[200];
	int			 fd, rc;
	size_t			 i;
	struct {
		const char	*what;
		const char	*sub;
		int		 want_errno;
	} cases[] = {
		{ "parent is a file", "file/sp", ENOTDIR },
		{ "parent missing", "missing/sp", ENOENT },
	};

	tdir_make(&t);
	snprintf(file, sizeof(file), "%s/file", t.root);
	fd = open(file, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ne(fd, -1);
	close(fd);
	memset(&o, 0, sizeof(o));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", t.root, cases[i].sub);
		o.dir = path;
		err[0] = '\0';
		s = (struct spool *)(uintptr_t)1;
		ck_assert_int_eq(spool_open(&s, &o, err, sizeof(err)), -1);
		ck_assert_ptr_null(s);
		ck_assert_msg(strstr(err, path) != NULL &&
		    strstr(err, strerror(cases[i].want_errno)) != NULL,
		    "%s: got '%s', want the path and '%s'", cases[i].what,
		    err, strerror(cases[i].want_errno));
	}
	o.dir = NULL;
	ck_assert_int_eq(spool_open(&s, &o, err, sizeof(err)), -1);
	o.dir = t.sp;
	ck_assert_int_eq(spool_open(&s, &o, NULL, 0), 0);

	/* A second spool on the same directory is refused. */
	ck_assert_int_eq(spool_open(&s2, &o, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "in use") != NULL && strstr(err, t.sp),
	    "second open: got '%s'", err);
	spool_close(s);

	/* Unwritable directory. Root ignores mode bits: try as nobody. */
	ck_assert_int_eq(chmod(t.sp, 0555), 0);
	if (geteuid() != 0) {
		rc = spool_open(&s, &o, err, sizeof(err));
		if (rc == 0)
			spool_close(s);
	} else {
		ck_assert_int_eq(chmod(t.root, 0755), 0);
		/* nobody's own directory (trust.h), but read-only. */
		ck_assert_int_eq(chown(t.sp, 65534, 65534), 0);
		/* nobody cannot open the lock file root created. */
		snprintf(path, sizeof(path), "%s/lock", t.sp);
		unlink(path);
		if (open_as_nobody(t.sp, err, sizeof(err), &rc) == -1) {
			fprintf(stderr, "test_spool: running as root and "
			    "cannot switch to uid 65534: unwritable "
			    "directory not tested\n");
			tdir_remove(&t);
			return;
		}
	}
	ck_assert_msg(rc == -1 && strstr(err, t.sp) != NULL &&
	    strstr(err, strerror(EACCES)) != NULL, "unwritable: rc %d '%s', "
	    "want -1 and the path and '%s'", rc, err, strerror(EACCES));
	tdir_remove(&t);
}
END_TEST

static int
is_writable(struct spool *s)
{
	return (spool_writable(s));
}

START_TEST(test_disk_full)
{
	/* RLIMIT_FSIZE with SIGXFSZ ignored: writes past the limit fail
	 * with EFBIG; one across it is short. The writer's probe finds
	 * when writes work again: no restart. */
	static const struct {
		const char	*what;
		size_t		 extra;		/* limit - segment size */
	} cases[] = {
		{ "short write", 50 },
		{ "no write at all", 0 },
	};
	struct tdir		 t;
	struct spool		*s;
	struct spool_stats	 st, st_fail;
	struct rlimit		 old, lim;
	const size_t		 rlen = HDR + 100;
	size_t			 c, before;
	int			 rc1, rc2, w_fail, k, w_back;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		tdir_make(&t);
		s = sp_open(t.sp, 1 << 20, 1 << 18, SPOOL_BLOCK);
		for (k = 1; k <= 3; k++)
			ck_assert_int_eq(sp_append_n(s, k, 100, 0), 0);
		before = sp_stats(s).bytes;
		ck_assert_uint_eq(before, 3 * rlen);

		ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
		signal(SIGXFSZ, SIG_IGN);
		lim = old;
		lim.rlim_cur = before + cases[c].extra;
		ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
		/* No ck_assert until the limit is back (its report is a
		 * file too). */
		rc1 = sp_append_n(s, 4, 100, 0);
		rc2 = sp_append_n(s, 4, 100, 0);
		w_fail = spool_writable(s);
		st_fail = sp_stats(s);
		/* Still failing a while later: the probe fails too. */
		usleep(300 * 1000);
		w_back = spool_writable(s);
		setrlimit(RLIMIT_FSIZE, &old);
		signal(SIGXFSZ, SIG_DFL);

		ck_assert_msg(rc1 == SPOOL_EIO && rc2 == SPOOL_EIO,
		    "%s: got %d, %d, want %d", cases[c].what, rc1, rc2,
		    SPOOL_EIO);
		ck_assert_msg(w_fail == 0 && w_back == 0 &&
		    st_fail.io_errors >= 1 && st_fail.bytes == before &&
		    st_fail.records == 3 && !st_fail.writable,
		    "%s: writable %d/%d io_errors %llu bytes %zu records %zu",
		    cases[c].what, w_fail, w_back, st_fail.io_errors,
		    st_fail.bytes, st_fail.records);

		/* The cause is gone: writable again by itself. */
		ck_assert_msg(sp_wait(s, is_writable), "%s: still not "
		    "writable", cases[c].what);
		ck_assert_int_eq(sp_append_n(s, 4, 100, 0), 0);
		st = sp_stats(s);
		ck_assert_uint_eq(st.bytes, 4 * rlen);
		ck_assert_msg(st.unwritable_s > 0.2, "unwritable for %.3f s",
		    st.unwritable_s);
		spool_close(s);

		s = sp_open(t.sp, 1 << 20, 1 << 18, SPOOL_BLOCK);
		st = sp_stats(s);
		ck_assert_msg(st.corrupt == 0 && st.records == 4, "%s: reopen:"
		    " corrupt %llu records %zu, want 0, 4", cases[c].what,
		    st.corrupt, st.records);
		for (k = 1; k <= 4; k++)
			ck_assert_uint_eq(sp_take_n(s, k, 100), (uint64_t)k);
		spool_close(s);
		tdir_remove(&t);
	}
}
END_TEST

START_TEST(test_crash)
{
	enum { N = 100000, KILL_AFTER = 300 };
	struct tdir		 t;
	struct spool		*s;
	struct spool_stats	 st;
	struct pollfd		 pf;
	unsigned char		*seen;
	char			*data;
	size_t			 len;
	uint64_t		 seq, prev = 0;
	double			 t0;
	int			 pfd[2], status, idx, reported = 0;
	int			 max_reported = -1, i, rc;
	pid_t			 pid;

	tdir_make(&t);
	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct spool_opts	 o;
		char			 err[256], b[300];

		close(pfd[0]);
		memset(&o, 0, sizeof(o));
		o.dir = t.sp;
		o.max_bytes = 64 << 20;
		o.segment_bytes = 16384;
		if (spool_open(&s, &o, err, sizeof(err)) == -1)
			_exit(1);
		for (i = 0; i < N; i++) {
			payload(b, 200, i);
			if (spool_append(s, b, 200, 0, NULL) != 0 ||
			    spool_sync(s) != 0)
				_exit(1);
			if (write(pfd[1], &i, sizeof(i)) != sizeof(i))
				_exit(1);
		}
		_exit(0);
	}
	close(pfd[1]);
	pf.fd = pfd[0];
	pf.events = POLLIN;
	t0 = now_sec();
	while (reported < KILL_AFTER && now_sec() - t0 < 3.0) {
		if (poll(&pf, 1, 100) <= 0)
			continue;
		if (read(pfd[0], &idx, sizeof(idx)) != sizeof(idx))
			break;
		reported++;
		max_reported = idx;
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	while (read(pfd[0], &idx, sizeof(idx)) == sizeof(idx))
		max_reported = idx;
	close(pfd[0]);
	ck_assert_msg(WIFSIGNALED(status) && max_reported > 0, "child: "
	    "status %#x, reported %d", status, max_reported);

	s = sp_open(t.sp, 64 << 20, 16384, SPOOL_BLOCK);
	st = sp_stats(s);
	seen = calloc((size_t)max_reported + 2, 1);
	ck_assert_ptr_nonnull(seen);
	while ((rc = sp_next(s, &seq, &data, &len)) == 1) {
		ck_assert_msg(seq > prev, "seq %" PRIu64 " after %" PRIu64,
		    seq, prev);
		prev = seq;
		ck_assert_msg(len == 200 && sscanf(data, "rec-%d", &idx) == 1 &&
		    idx >= 0 && idx <= max_reported + 1, "bad record '%.20s'",
		    data);
		seen[idx] = 1;
		free(data);
		spool_ack(s, seq);
	}
	for (i = 0; i <= max_reported; i++)
		ck_assert_msg(seen[i], "record %d was reported appended but "
		    "is missing (reported up to %d, corrupt %llu)", i,
		    max_reported, st.corrupt);
	ck_assert_msg(st.corrupt <= 1, "corrupt %llu", st.corrupt);
	free(seen);
	ck_assert_int_eq(sp_append_n(s, 1, 200, 1), 0);
	spool_close(s);
	tdir_remove(&t);
}
END_TEST

/* CRC-32C, bitwise: the acked file's checksum, computed independently. */
static uint32_t
crc32c(const char *p, size_t n)
{
	uint32_t	 c = 0xffffffffu;
	int		 k;

	while (n-- > 0) {
		c ^= (unsigned char)*p++;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return (c ^ 0xffffffffu);
}

/* body + "crc XXXXXXXX\n" into out. */
static const char *
with_crc(const char *body, char *out, size_t outlen)
{
	snprintf(out, outlen, "%scrc %08x\n", body,
	    (unsigned)crc32c(body, strlen(body)));
	return (out);
}

START_TEST(test_good_acked_file)
{
	struct tdir	 t;
	struct spool	*s;
	char		 p[256], b[512], text[512];
	int		 fd, k;
	ssize_t		 n;

	tdir_make(&t);
	s = sp_open(t.sp, 1 << 20, 1 << 16, SPOOL_BLOCK);
	for (k = 1; k <= 5; k++)
		ck_assert_int_eq(sp_append_n(s, k, 50, 0), 0);
	for (k = 1; k <= 3; k++)
		spool_ack(s, sp_take_n(s, k, 50));
	spool_close(s);
	/* What the spool wrote is what an independent CRC-32C says. */
	snprintf(p, sizeof(p), "%s/acked", t.sp);
	fd = open(p, O_RDONLY);
	ck_assert_int_ne(fd, -1);
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	text[n] = '\0';
	ck_assert_str_eq(text, with_crc("spool-acked 2\nnext 6\nlow 4\nend\n",
	    b, sizeof(b)));
	/* Believed: only 4 and 5 come back. */
	s = sp_open(t.sp, 1 << 20, 1 << 16, SPOOL_BLOCK);
	ck_assert_uint_eq(sp_stats(s).records, 2);
	ck_assert_uint_eq(sp_take_n(s, 4, 50), 4);
	ck_assert_uint_eq(sp_take_n(s, 5, 50), 5);
	spool_close(s);
	/* One digit changed: the checksum catches it, all is resent. */
	fd = open(p, O_WRONLY | O_TRUNC);
	ck_assert_int_ne(fd, -1);
	with_crc("spool-acked 2\nnext 6\nlow 4\nend\n", b, sizeof(b));
	b[strlen("spool-acked 2\nnext 6\nlow ")] = '5';
	ck_assert_int_eq(write(fd, b, strlen(b)), (ssize_t)strlen(b));
	close(fd);
	s = sp_open(t.sp, 1 << 20, 1 << 16, SPOOL_BLOCK);
	ck_assert_uint_eq(sp_stats(s).records, 5);
	spool_close(s);
	tdir_remove(&t);
}
END_TEST

START_TEST(test_bad_acked_file)
{
	static const char	*bodies[] = {
		"",
		"garbage\n",
		"spool-acked 1\nnext 6\nlow 4\nend\n",	/* old format */
		"spool-acked 2\nnext 6\nlow 4\nend\n",	/* no crc */
		"spool-acked 2\nnext 6\nlow 4\nend\ncrc 00000000\n",
		/* Sound checksums, impossible content: */
		"@spool-acked 2\nnext 6\nlow x\nend\n",
		"@spool-acked 2\nnext 6\nlow 1\n3\n2\nend\n",
		"@spool-acked 2\nnext 6\nlow 99999999\nend\n",
		"@spool-acked 2\nnext 99999999\nlow 2\n3\n99999998\nend\n",
		"@spool-acked 2\nnext 3\nlow 5\nend\n",
	};
	struct tdir	 t;
	struct spool	*s;
	char		 p[256], b[512];
	const char	*body;
	size_t		 i;
	uint64_t	 seq;
	int		 fd, k;

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		tdir_make(&t);
		s = sp_open(t.sp, 1 << 20, 1 << 16, SPOOL_BLOCK);
		for (k = 1; k <= 5; k++)
			ck_assert_int_eq(sp_append_n(s, k, 50, 0), 0);
		for (k = 1; k <= 3; k++)
			spool_ack(s, sp_take_n(s, k, 50));
		spool_close(s);
		snprintf(p, sizeof(p), "%s/acked", t.sp);
		fd = open(p, O_WRONLY | O_TRUNC);
		ck_assert_int_ne(fd, -1);
		body = bodies[i][0] == '@' ? with_crc(bodies[i] + 1, b,
		    sizeof(b)) : bodies[i];
		ck_assert_int_eq(write(fd, body, strlen(body)),
		    (ssize_t)strlen(body));
		close(fd);
		/* Unusable ack state: everything on disk is resent. */
		s = sp_open(t.sp, 1 << 20, 1 << 16, SPOOL_BLOCK);
		ck_assert_msg(sp_stats(s).records == 5, "body %zu: records "
		    "%zu, want 5", i, sp_stats(s).records);
		for (k = 1; k <= 5; k++)
			spool_ack(s, sp_take_n(s, k, 50));
		ck_assert_int_eq(sp_append_n(s, 6, 50, 0), 0);
		seq = sp_take_n(s, 6, 50);
		ck_assert_msg(seq == 6, "body %zu: seq %" PRIu64, i, seq);
		spool_close(s);
		tdir_remove(&t);
	}
}
END_TEST

struct producer {
	struct spool	*s;
	int		 n;
	int		 failed;
};

static void *
produce(void *arg)
{
	struct producer	*p = arg;
	int		 i;

	for (i = 0; i < p->n; i++) {
		if (sp_append_n(p->s, i, 300, 0) != 0)
			p->failed++;
		if (i % 64 == 0 && spool_sync(p->s) != 0)
			p->failed++;
	}
	return (NULL);
}

START_TEST(test_threads)
{
	struct tdir	 t;
	struct producer	 p;
	pthread_t	 th;
	char		*data;
	size_t		 len;
	uint64_t	 seq, held[4];
	int		 got = 0, nheld = 0, idx, want = 0;
	double		 t0;

	tdir_make(&t);
	p.s = sp_open(t.sp, 64 << 20, 1 << 16, SPOOL_BLOCK);
	p.n = 5000;
	p.failed = 0;
	ck_assert_int_eq(pthread_create(&th, NULL, produce, &p), 0);
	t0 = now_sec();
	/* Up to four in flight; every fourth acked out of order. */
	while (got < p.n && now_sec() - t0 < 5.0) {
		if (sp_next(p.s, &seq, &data, &len) != 1) {
			if (nheld > 0)
				spool_ack(p.s, held[--nheld]);
			continue;
		}
		ck_assert_msg(sscanf(data, "rec-%d", &idx) == 1 && idx == want,
		    "got '%.12s', want rec-%d", data, want);
		want++;
		free(data);
		got++;
		held[nheld++] = seq;
		if (nheld == 4)
			while (nheld > 0)
				spool_ack(p.s, held[--nheld]);
	}
	while (nheld > 0)
		spool_ack(p.s, held[--nheld]);
	pthread_join(th, NULL);
	ck_assert_msg(got == p.n && p.failed == 0, "got %d of %d, %d failed",
	    got, p.n, p.failed);
	ck_assert_uint_eq(sp_stats(p.s).records, 0);
	spool_close(p.s);
	tdir_remove(&t);
}
END_TEST

/* Damage found when reading a record back: quarantined, skipped;
 * a transient error (no descriptor free) keeps the record. */
START_TEST(test_read_side_faults)
{
	struct tdir		 t;
	struct spool		*s;
	struct spool_stats	 st;
	struct rlimit		 old, lim;
	char			 p[256], *data;
	unsigned char		 byte;
	uint64_t		 seq;
	size_t			 len;
	int			 fd, k, rc;

	tdir_make(&t);
	s = sp_open(t.sp, 1 << 20, 1 << 16, SPOOL_BLOCK);
	for (k = 1; k <= 4; k++)
		ck_assert_int_eq(sp_append_n(s, k, 100, 1), 0);
	spool_close(s);
	/* Reopened: nothing cached, every record is read from disk. */
	s = sp_open(t.sp, 1 << 20, 1 << 16, SPOOL_BLOCK);
	ck_assert_uint_eq(sp_stats(s).records, 4);

	/* No descriptor to open the segment with: try later, keep all. */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	lim = old;
	lim.rlim_cur = 3;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
	rc = sp_next(s, &seq, &data, &len);
	setrlimit(RLIMIT_NOFILE, &old);
	ck_assert_int_eq(rc, SPOOL_RETRY);
	st = sp_stats(s);
	ck_assert_msg(st.records == 4 && st.corrupt == 0 && st.io_errors > 0,
	    "records %zu corrupt %llu io_errors %llu", st.records, st.corrupt,
	    st.io_errors);

	/* Record 2 damaged on disk since replay: quarantined, skipped. */
	seg_path(p, sizeof(p), t.sp, 1);
	fd = open(p, O_RDWR);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(pread(fd, &byte, 1, (off_t)(HDR + 100 + HDR + 7)), 1);
	byte ^= 0x40;
	ck_assert_int_eq(pwrite(fd, &byte, 1, (off_t)(HDR + 100 + HDR + 7)),
	    1);
	close(fd);
	usleep(300 * 1000);	/* the retry delay after the failed read */
	ck_assert_uint_eq(sp_take_n(s, 1, 100), 1);
	ck_assert_uint_eq(sp_take_n(s, 3, 100), 3);
	ck_assert_uint_eq(sp_take_n(s, 4, 100), 4);
	st = sp_stats(s);
	ck_assert_msg(st.corrupt == 1 && st.records == 3, "corrupt %llu "
	    "records %zu", st.corrupt, st.records);
	snprintf(p, sizeof(p), "%s/quarantine", t.sp);
	spool_close(s);
	ck_assert_uint_eq(quarantine_bytes(p), HDR + 100);
	tdir_remove(&t);
}
END_TEST

struct synced_log {
	pthread_mutex_t	 mu;
	uint64_t	 seq;
	int		 calls;
	int		 ok;
};

static void
on_synced(void *arg, uint64_t seq, int ok)
{
	struct synced_log	*l = arg;

	pthread_mutex_lock(&l->mu);
	l->seq = seq;
	l->ok = ok;
	l->calls++;
	pthread_mutex_unlock(&l->mu);
}

/* The writer fsyncs on request and says how far the disk has it. */
START_TEST(test_sync_callback)
{
	struct spool_hooks	 hooks;
	struct synced_log	 l;
	struct spool_opts	 o;
	struct tdir		 t;
	struct spool		*s;
	char			 err[256];
	uint64_t		 seq, got = 0;
	double			 t0;
	int			 calls = 0;

	memset(&l, 0, sizeof(l));
	pthread_mutex_init(&l.mu, NULL);
	tdir_make(&t);
	memset(&o, 0, sizeof(o));
	o.dir = t.sp;
	o.sync_interval_ms = 60000;	/* only on request */
	ck_assert_int_eq(spool_open(&s, &o, err, sizeof(err)), 0);
	memset(&hooks, 0, sizeof(hooks));
	hooks.synced = on_synced;
	hooks.arg = &l;
	ck_assert_int_eq(spool_start(s, &hooks), 0);
	ck_assert_int_eq(spool_append(s, "a", 1, 0, &seq), 0);
	ck_assert_int_eq(spool_append(s, "b", 1, 0, &seq), 0);
	ck_assert_uint_eq(seq, 2);
	spool_want_sync(s);
	t0 = now_sec();
	while (now_sec() - t0 < 5.0) {
		pthread_mutex_lock(&l.mu);
		got = l.seq;
		calls = l.calls;
		pthread_mutex_unlock(&l.mu);
		if (got >= 2)
			break;
		usleep(1000);
	}
	ck_assert_msg(got == 2 && l.ok && calls >= 1, "synced %" PRIu64
	    " after %d calls", got, calls);
	ck_assert_uint_eq(spool_synced(s), 2);
	ck_assert_uint_ge(sp_stats(s).syncs, 1);
	spool_close(s);
	pthread_mutex_destroy(&l.mu);
	tdir_remove(&t);
}
END_TEST

/* What the hooks of test_tail_unlinking_and_scan saw. */
struct hook_log {
	char	 tail[64];
	int	 tails;
	int	 unlinks;
	int	 refuse;		/* unlinking returns -1 */
	char	 dir[96];
	int	 files_at_unlink;	/* segment files when it was called */
};

static int
count_segs(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, "seg-", 4) == 0;
	closedir(d);
	return (n);
}

static void
hook_tail(void *arg, const char *data, size_t len)
{
	struct hook_log	*l = arg;

	snprintf(l->tail, sizeof(l->tail), "%.*s", (int)len, data);
	l->tails++;
}

static int
hook_unlinking(void *arg)
{
	struct hook_log	*l = arg;

	l->unlinks++;
	l->files_at_unlink = count_segs(l->dir);
	return (l->refuse ? -1 : 0);
}

struct scan_log {
	uint64_t	 seqs[16];
	int		 acked[16];
	char		 first[16];
	int		 n;
};

static int
scan_one(void *arg, uint64_t seq, const char *data, size_t len, int acked)
{
	struct scan_log	*l = arg;

	if (l->n == 0)
		snprintf(l->first, sizeof(l->first), "%.*s", (int)len, data);
	l->seqs[l->n] = seq;
	l->acked[l->n++] = acked;
	return (l->n == 16);
}

/*
 * The owner's hooks: tail gets the newest record at open (delivered or
 * not), unlinking runs before a segment file is removed and can keep it;
 * spool_scan() reads a live spool without disturbing it.
 */
START_TEST(test_tail_unlinking_and_scan)
{
	struct spool_opts	 o;
	struct hook_log		 hl;
	struct scan_log		 sl;
	struct spool		*s;
	struct tdir		 t;
	unsigned long		 bad = 0;
	uint64_t		 seq;
	size_t			 len;
	char			 err[256], *data, p[16];
	int			 i;

	tdir_make(&t);
	memset(&hl, 0, sizeof(hl));
	snprintf(hl.dir, sizeof(hl.dir), "%s", t.sp);
	memset(&o, 0, sizeof(o));
	o.dir = t.sp;
	o.max_bytes = 1 << 20;
	o.segment_bytes = 4096;
	o.tail = hook_tail;
	o.unlinking = hook_unlinking;
	o.hook_arg = &hl;
	ck_assert_int_eq(spool_open(&s, &o, err, sizeof(err)), 0);
	ck_assert_int_eq(hl.tails, 0);		/* empty: nothing to report */
	ck_assert_int_eq(spool_start(s, NULL), 0);
	for (i = 1; i <= 3; i++) {
		snprintf(p, sizeof(p), "rec-%d", i);
		ck_assert_int_eq(spool_append(s, p, strlen(p), 0, &seq), 0);
	}
	/* Two delivered, one not. */
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(sp_next(s, &seq, &data, &len), 1);
		free(data);
		spool_ack(s, seq);
	}
	spool_stop(s);

	/* A scan of the stopped spool: all three, the first two acked. */
	memset(&sl, 0, sizeof(sl));
	ck_assert_int_eq(spool_scan(t.sp, scan_one, &sl, &bad, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(sl.n, 3);
	ck_assert_str_eq(sl.first, "rec-1");
	ck_assert_int_eq(sl.acked[0] + sl.acked[1], 2);
	ck_assert_int_eq(sl.acked[2], 0);
	ck_assert_uint_eq(bad, 0);
	spool_close(s);

	/* Open again: the newest (undelivered) record is the tail. */
	ck_assert_int_eq(spool_open(&s, &o, err, sizeof(err)), 0);
	ck_assert_int_eq(hl.tails, 1);
	ck_assert_str_eq(hl.tail, "rec-3");
	/*
	 * Everything in that (no longer active) segment delivered: the
	 * writer removes it, after the unlinking hook, which still saw it.
	 */
	hl.unlinks = 0;
	ck_assert_int_eq(spool_start(s, NULL), 0);
	ck_assert_int_eq(sp_next(s, &seq, &data, &len), 1);
	free(data);
	spool_ack(s, seq);
	spool_stop(s);
	spool_close(s);
	ck_assert_int_ge(hl.unlinks, 1);
	ck_assert_int_ge(hl.files_at_unlink, 2);
	snprintf(err, sizeof(err), "%s/seg-0000000000000001.log", t.sp);
	ck_assert_int_eq(access(err, F_OK), -1);

	/* Nothing left on disk: no tail (the owner kept its state). */
	hl.tails = 0;
	ck_assert_int_eq(spool_open(&s, &o, err, sizeof(err)), 0);
	ck_assert_int_eq(hl.tails, 0);
	spool_close(s);

	/*
	 * A refusing owner keeps the files: the delivered record is still
	 * on disk at the next open (its tail), then removed.
	 */
	hl.refuse = 1;
	hl.unlinks = 0;
	ck_assert_int_eq(spool_open(&s, &o, err, sizeof(err)), 0);
	ck_assert_int_eq(spool_start(s, NULL), 0);
	ck_assert_int_eq(spool_append(s, "rec-4", 5, 0, &seq), 0);
	ck_assert_int_eq(sp_next(s, &seq, &data, &len), 1);
	free(data);
	spool_ack(s, seq);
	spool_stop(s);
	spool_close(s);
	ck_assert_int_ge(hl.unlinks, 1);
	hl.refuse = 0;
	hl.tails = 0;
	ck_assert_int_eq(spool_open(&s, &o, err, sizeof(err)), 0);
	ck_assert_int_eq(hl.tails, 1);
	ck_assert_str_eq(hl.tail, "rec-4");
	spool_close(s);
	tdir_remove(&t);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("spool");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_framing);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_nack_and_unknown);
	tcase_add_test(tc, test_out_of_order_and_reopen);
	tcase_add_test(tc, test_acked_segments_deleted);
	tcase_add_test(tc, test_corruption);
	tcase_add_test(tc, test_block_full);
	tcase_add_test(tc, test_drop_oldest);
	tcase_add_test(tc, test_oversize);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_disk_full);
	tcase_add_test(tc, test_crash);
	tcase_add_test(tc, test_bad_acked_file);
	tcase_add_test(tc, test_good_acked_file);
	tcase_add_test(tc, test_read_side_faults);
	tcase_add_test(tc, test_sync_callback);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_tail_unlinking_and_scan);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
