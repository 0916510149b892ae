/*
 * ledger: verify Wingman's claim ledger against the chain, and find the
 * claims that name a pseudonym. See ledger.h.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "buf.h"
#include "chain.h"
#include "claim.h"
#include "ledger.h"
#include "spool.h"

#define LEDGER_NO_TS	INT64_MIN
#define LEDGER_VERSIONS	8	/* distinct texts of one seq compared */

/* struct ledger_entry flags */
#define LF_WINDOW	0x0001	/* timestamp in [since, until) */
#define LF_AFTER	0x0002	/* timestamp at or after until */
#define LF_CP		0x0004	/* a checkpoint claim */
#define LF_FIRST	0x0008	/* first copy of its text for its seq */
#define LF_GFIRST	0x0010	/* first copy of its seq (file order) */
#define LF_GWIN		0x0020	/* some copy of its seq is in the window */
#define LF_CHECK	0x0040	/* pass 2: check its link */
#define LF_CPCHECK	0x0080	/* pass 2: check what it restates */
#define LF_LASTCP	0x0100	/* pass 2: the stream's last checkpoint */
/* Voided ranges believed per stream (more: they show as gaps). */
#define LEDGER_VOIDED_MAX	4096
#define LF_PASS2	(LF_CHECK | LF_CPCHECK | LF_LASTCP)
#define LF_VCHECK	0x0200	/* pass 3: link to a voided seq's chain */

/*
 * One sealed claim of the worker: what is kept of it between the passes
 * (64 bytes). The array is in file order; w->order sorts it.
 */
struct ledger_entry {
	uint64_t	 seq;
	int64_t		 ts;		/* microseconds, or LEDGER_NO_TS */
	uint32_t	 stream;	/* index into the stream table */
	uint32_t	 line;
	uint16_t	 file;
	uint16_t	 flags;
	unsigned char	 hash[16];	/* SHA-256 of the claim, truncated */
	unsigned char	 chain[16];	/* its chain value */
};

/* A spool record of the state's stream (--state). */
struct ledger_sprec {
	uint64_t	 seq;
	int		 acked;
};

/* What one stream needs while it is worked out. */
/* Seqs a (verified) loss checkpoint voided, and b's chain value. */
struct ledger_void {
	uint64_t	 a, b;
	unsigned char	 mac[16];
	int		 has_mac;
};

struct ledger_sw {
	size_t		 ostart, oend;	/* its range in w->order */
	uint64_t	 max_present;	/* highest seq in the files */
	uint64_t	 hi_all;	/* highest seq not after the window */
	uint64_t	 before_max;	/* highest seq before it, below it */
	uint64_t	 after_min;	/* lowest seq after it, above it */
	uint64_t	 after_first;	/* lowest seq after it */
	uint64_t	 gap_lo, gap_hi;	/* where gaps are searched */
	/* Seqs voided by verified checkpoints, unsorted. */
	struct ledger_void	*voided;
	size_t		 nvoided, cap_voided;
	uint64_t	 run_max;	/* file-order walk: highest so far */
	uint64_t	 bad;		/* links that did not verify */
	size_t		 lastcp;	/* entry index + 1, 0: none */
	int64_t		 unconf_ts;	/* oldest unconfirmed claim */
	/* The gap range being built (merged while adjacent and alike). */
	int		 gap_open;
	struct ledger_gap gap;
};

struct ledger_work {
	const struct ledger_opts	*o;
	struct ledger_result		*res;
	struct chain_key		 key;
	gzFile				*gz;
	char				*line;	/* LEDGER_LINE_MAX + 2 */

	struct ledger_entry		*e;
	size_t				 n, cap;
	uint32_t			*order;

	char				(*ids)[CHAIN_STREAM_LEN + 1];
	size_t				 ns, ids_cap;
	uint32_t			*htab;		/* stream index + 1 */
	size_t				 hcap;
	struct ledger_sw		*sw;

	int64_t				 end_us;	/* newest line */
	int64_t				 max_us;

	long				 state_stream;	/* index, or -1 */
	struct ledger_sprec		*sp;
	size_t				 nsp, spcap;
	int				 oom;
};

static const char ledger_zero[CHAIN_MAC_LEN + 1] =
    "00000000000000000000000000000000";

/* -- time ---------------------------------------------------------------- */

static int
ledger_digits(const char *p, int n, int *v)
{
	int	 i, x = 0;

	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return (-1);
		x = x * 10 + (p[i] - '0');
	}
	*v = x;
	return (0);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
ledger_days(int64_t y, int m, int d)
{
	int64_t		 era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (era * 146097 + doe - 719468);
}

/*
 * Parse "YYYY-MM-DD[(T| )HH[:MM[:SS[.f...]]]]" at s into microseconds
 * (as if UTC). Returns the number of characters read, or -1.
 */
static int
ledger_parse_time(const char *s, int64_t *us)
{
	int	 y, mo, d, h = 0, mi = 0, sec = 0, n, i;
	long	 frac = 0, scale = 100000;

	if (ledger_digits(s, 4, &y) == -1 || s[4] != '-' ||
	    ledger_digits(s + 5, 2, &mo) == -1 || s[7] != '-' ||
	    ledger_digits(s + 8, 2, &d) == -1 || mo < 1 || mo > 12 ||
	    d < 1 || d > 31)
		return (-1);
	n = 10;
	if ((s[10] == 'T' || s[10] == ' ') && ledger_digits(s + 11, 2, &h) ==
	    0) {
		n = 13;
		if (s[13] == ':' && ledger_digits(s + 14, 2, &mi) == 0) {
			n = 16;
			if (s[16] == ':' && ledger_digits(s + 17, 2, &sec) ==
			    0) {
				n = 19;
				if (s[19] == '.' && s[20] >= '0' &&
				    s[20] <= '9') {
					for (i = 20; s[i] >= '0' && s[i] <= '9';
					    i++) {
						frac += (s[i] - '0') * scale;
						scale /= 10;
					}
					n = i;
				}
			}
		}
	}
	if (h > 23 || mi > 59 || sec > 60)
		return (-1);
	*us = ((ledger_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) *
	    1000000) + frac;
	return (n);
}

int
ledger_time_arg(const char *in, char *out)
{
	int64_t	 us;
	int	 n;

	n = ledger_parse_time(in, &us);
	if (n == -1 || in[n] != '\0' || n >= LEDGER_TS_LEN)
		return (-1);
	memcpy(out, in, (size_t)n + 1);
	if (n > 10)
		out[10] = 'T';
	return (0);
}

/* A line's timestamp as text with 'T' (out: LEDGER_TS_LEN bytes). */
static void
ledger_ts_text(const char *ts, char *out)
{
	size_t	 n = ts == NULL ? 0 : strlen(ts);

	if (n >= LEDGER_TS_LEN)
		n = LEDGER_TS_LEN - 1;
	if (n > 0)
		memcpy(out, ts, n);
	out[n] = '\0';
	if (n > 10 && out[10] == ' ')
		out[10] = 'T';
}

/* 1 in [since, until), 0 before, 2 at or after until. */
static int
ledger_window(const char *since, const char *until, const char *ts)
{
	char	 t[LEDGER_TS_LEN];

	ledger_ts_text(ts, t);
	if (until != NULL && strcmp(t, until) >= 0)
		return (2);
	if (since != NULL && strcmp(t, since) < 0)
		return (0);
	return (1);
}

/* Microseconds (ledger_parse_time()) as "YYYY-MM-DDTHH:MM:SS.ffffff". */
static void
ledger_fmt_us(int64_t us, char *out)
{
	int64_t		 days, secs, z, era, doe, yoe, y, doy, mp, d, m;
	int64_t		 frac;
	char		 t[128];
	int		 n;

	days = us / 86400000000LL;
	frac = us % 86400000000LL;
	if (frac < 0) {
		frac += 86400000000LL;
		days--;
	}
	secs = frac / 1000000;
	frac %= 1000000;
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	n = snprintf(t, sizeof(t), "%04" PRId64 "-%02" PRId64 "-%02" PRId64
	    "T%02" PRId64 ":%02" PRId64 ":%02" PRId64 ".%06" PRId64, y, m, d,
	    secs / 3600, secs / 60 % 60, secs % 60, frac);
	if (n < 0 || n >= LEDGER_TS_LEN)
		n = 0;
	memcpy(out, t, (size_t)n);
	out[n] = '\0';
}

/* -- reading ----------------------------------------------------------- */

/* Open a file, plain or gzip'd (by its magic); NULL with err. */
static gzFile
ledger_open(const char *path, char *err, size_t errlen)
{
	struct stat	 st;
	gzFile		 g;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (NULL);
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return (NULL);
	}
	if ((g = gzdopen(fd, "rb")) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		close(fd);
		return (NULL);
	}
	gzbuffer(g, 128 * 1024);
	return (g);
}

/*
 * Read one line into buf (LEDGER_LINE_MAX + 2 bytes): 1 with *len (no
 * newline) and *toolong, 0 at the end, -1 on a read error (err).
 */
static int
ledger_getline(gzFile g, const char *path, char *buf, size_t *len,
    int *toolong, char *err, size_t errlen)
{
	const char	*msg;
	z_off_t		 at = gztell(g);
	size_t		 n;
	int		 zerr;

	*toolong = 0;
	if (gzgets(g, buf, LEDGER_LINE_MAX + 2) == NULL)
		goto out_end;
	n = strlen(buf);
	if (at != -1 && gztell(g) - at != (z_off_t)n) {
		/* A NUL byte: what follows it would be unseen. Malformed. */
		*toolong = 1;
		*len = 0;
		buf[0] = '\0';
		return (1);
	}
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	else if (n == LEDGER_LINE_MAX + 1) {
		*toolong = 1;
		for (;;) {
			if (gzgets(g, buf, LEDGER_LINE_MAX + 2) == NULL)
				break;
			n = strlen(buf);
			if (n > 0 && buf[n - 1] == '\n')
				break;
		}
		msg = gzerror(g, &zerr);
		if (zerr != Z_OK && zerr != Z_STREAM_END)
			goto out_error;
		n = 0;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	*len = n;
	return (1);

out_end:
	msg = gzerror(g, &zerr);
	if (zerr == Z_OK || zerr == Z_STREAM_END)
		return (0);
out_error:
	/* zlib names a gzdopen()'d file "<fd:N>": the path says it better. */
	if (strncmp(msg, "<fd:", 4) == 0 && strstr(msg, ": ") != NULL)
		msg = strstr(msg, ": ") + 2;
	snprintf(err, errlen, "%s: %s", path, zerr == Z_ERRNO ?
	    strerror(errno) : msg);
	return (-1);
}

/* -- small helpers ------------------------------------------------------ */

static void
ledger_digest(const char *s, size_t len, unsigned char out[16])
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 n = 0;

	if (EVP_Digest(s, len, md, &n, EVP_sha256(), NULL) != 1 || n < 16)
		abort();	/* only when libcrypto cannot do SHA-256 */
	memcpy(out, md, 16);
}

static int
ledger_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* 32 hex digits (chain_parse() checked them) to 16 bytes. */
static void
ledger_unhex(const char *hex, unsigned char out[16])
{
	int	 i;

	for (i = 0; i < 16; i++)
		out[i] = (unsigned char)(ledger_hexval(hex[2 * i]) << 4 |
		    ledger_hexval(hex[2 * i + 1]));
}

static void
ledger_hex(const unsigned char in[16], char out[CHAIN_MAC_LEN + 1])
{
	static const char	 hex[] = "0123456789abcdef";
	int			 i;

	for (i = 0; i < 16; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 0xf];
	}
	out[CHAIN_MAC_LEN] = '\0';
}

/* A line's string member, or NULL. */
static const char *
ledger_str(const cJSON *j, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(j, name);

	return (cJSON_IsString(v) ? v->valuestring : NULL);
}

/*
 * Strict JSON (RFC 8259) over the cursor [*p, end): what Python's json
 * and jq accept alike. Wingman writes json.dumps() output: ASCII only
 * (non-ASCII as \uXXXX), so any byte above 0x7e or below 0x20 (a raw
 * control or a byte of UTF-8, valid or not) is refused, as are the
 * escape \u0000 (cJSON would stop the string there, Python would not),
 * whitespace other than space and tab, numbers outside the grammar
 * ("01", "1."), and nesting deeper than 64. 0 and *p past the value,
 * or -1.
 */
static int	 ledger_jvalue(const char **, const char *, int);

static void
ledger_jws(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
}

static int
ledger_jstring(const char **p, const char *end)
{
	const char	*q = *p + 1;
	int		 i;

	for (; q < end; q++) {
		unsigned char c = (unsigned char)*q;

		if (c == '"') {
			*p = q + 1;
			return (0);
		}
		if (c < 0x20 || c > 0x7e)
			return (-1);
		if (c != '\\')
			continue;
		if (++q >= end)
			return (-1);
		if (strchr("\"\\/bfnrt", *q) != NULL && *q != '\0')
			continue;
		if (*q != 'u' || end - q < 5)
			return (-1);
		for (i = 1; i <= 4; i++)
			if (ledger_hexval(q[i]) == -1)
				return (-1);
		if (memcmp(q + 1, "0000", 4) == 0)
			return (-1);
		q += 4;
	}
	return (-1);
}

static int
ledger_jdigits(const char **p, const char *end)
{
	const char	*q = *p;

	while (q < end && *q >= '0' && *q <= '9')
		q++;
	if (q == *p)
		return (-1);
	*p = q;
	return (0);
}

static int
ledger_jnumber(const char **p, const char *end)
{
	if (*p < end && **p == '-')
		(*p)++;
	if (*p < end && **p == '0')
		(*p)++;
	else if (ledger_jdigits(p, end) == -1)
		return (-1);
	if (*p < end && **p == '.') {
		(*p)++;
		if (ledger_jdigits(p, end) == -1)
			return (-1);
	}
	if (*p < end && (**p == 'e' || **p == 'E')) {
		(*p)++;
		if (*p < end && (**p == '+' || **p == '-'))
			(*p)++;
		if (ledger_jdigits(p, end) == -1)
			return (-1);
	}
	return (0);
}

/* An object or array after its opening character. */
static int
ledger_jcompound(const char **p, const char *end, int depth, char close)
{
	ledger_jws(p, end);
	if (*p < end && **p == close) {
		(*p)++;
		return (0);
	}
	for (;;) {
		if (close == '}') {
			if (*p >= end || **p != '"' ||
			    ledger_jstring(p, end) == -1)
				return (-1);
			ledger_jws(p, end);
			if (*p >= end || **p != ':')
				return (-1);
			(*p)++;
			ledger_jws(p, end);
		}
		if (ledger_jvalue(p, end, depth + 1) == -1)
			return (-1);
		ledger_jws(p, end);
		if (*p < end && **p == ',') {
			(*p)++;
			ledger_jws(p, end);
			continue;
		}
		if (*p < end && **p == close) {
			(*p)++;
			return (0);
		}
		return (-1);
	}
}

static int
ledger_jvalue(const char **p, const char *end, int depth)
{
	static const char	*lit[] = { "true", "false", "null" };
	size_t			 i, n;

	if (*p >= end || depth > 64)
		return (-1);
	switch (**p) {
	case '{':
	case '[':
		(*p)++;
		return (ledger_jcompound(p, end, depth, (*p)[-1] == '{' ?
		    '}' : ']'));
	case '"':
		return (ledger_jstring(p, end));
	default:
		break;
	}
	for (i = 0; i < sizeof(lit) / sizeof(lit[0]); i++) {
		n = strlen(lit[i]);
		if ((size_t)(end - *p) >= n && memcmp(*p, lit[i], n) == 0) {
			*p += n;
			return (0);
		}
	}
	return (ledger_jnumber(p, end));
}

/*
 * Parse one ledger line as every reader of it would: strict JSON (above),
 * one object and nothing after it, no member that matters (timestamp,
 * worker_id, claim) twice (cJSON takes the first of two keys, Python's
 * json the last). A line where readers could disagree is malformed,
 * never read one way. NULL when it is not such a line.
 */
static cJSON *
ledger_json_line(const char *buf, size_t len)
{
	static const char	*keys[] = { "timestamp", "worker_id", "claim" };
	const char		*p = buf, *end = buf + len;
	const cJSON		*c;
	cJSON			*j;
	size_t			 k, seen;

	ledger_jws(&p, end);
	if (p >= end || *p != '{' || ledger_jvalue(&p, end, 0) == -1)
		return (NULL);
	ledger_jws(&p, end);
	if (p != end)
		return (NULL);
	if ((j = cJSON_ParseWithLength(buf, len)) == NULL)
		return (NULL);
	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		seen = 0;
		for (c = j->child; c != NULL; c = c->next)
			if (c->string != NULL && strcmp(c->string, keys[k]) == 0)
				seen++;
		if (seen > 1) {
			cJSON_Delete(j);
			return (NULL);
		}
	}
	return (j);
}

static void
ledger_malformed(struct ledger_result *r, uint32_t file, uint32_t line)
{
	r->malformed++;
	if (r->n_malformed < LEDGER_LIST_MAX) {
		r->malformed_at[r->n_malformed].file = file;
		r->malformed_at[r->n_malformed].line = line;
		r->n_malformed++;
	}
}

/* -- the stream table ---------------------------------------------------- */

static uint64_t
ledger_hash_id(const char *id)
{
	uint64_t	 h = 1469598103934665603ULL;
	int		 i;

	for (i = 0; i < CHAIN_STREAM_LEN; i++) {
		h ^= (unsigned char)id[i];
		h *= 1099511628211ULL;
	}
	return (h);
}

static int
ledger_rehash(struct ledger_work *w, size_t cap)
{
	uint32_t	*t;
	size_t		 i, k;

	if ((t = calloc(cap, sizeof(*t))) == NULL)
		return (-1);
	for (i = 0; i < w->ns; i++) {
		k = (size_t)(ledger_hash_id(w->ids[i]) & (cap - 1));
		while (t[k] != 0)
			k = (k + 1) & (cap - 1);
		t[k] = (uint32_t)i + 1;
	}
	free(w->htab);
	w->htab = t;
	w->hcap = cap;
	return (0);
}

/* The index of stream id if known, else -1. */
static long
ledger_stream_known(const struct ledger_work *w, const char *id)
{
	size_t	 k;

	if (w->hcap == 0)
		return (-1);
	k = (size_t)(ledger_hash_id(id) & (w->hcap - 1));
	while (w->htab[k] != 0) {
		if (memcmp(w->ids[w->htab[k] - 1], id, CHAIN_STREAM_LEN) == 0)
			return ((long)w->htab[k] - 1);
		k = (k + 1) & (w->hcap - 1);
	}
	return (-1);
}

/* The index of stream id, added when new; -1 when out of memory. */
static long
ledger_stream_index(struct ledger_work *w, const char *id)
{
	void	*p;
	size_t	 k, cap;

	if (w->hcap == 0 && ledger_rehash(w, 64) == -1)
		return (-1);
	k = (size_t)(ledger_hash_id(id) & (w->hcap - 1));
	while (w->htab[k] != 0) {
		if (memcmp(w->ids[w->htab[k] - 1], id, CHAIN_STREAM_LEN) == 0)
			return ((long)w->htab[k] - 1);
		k = (k + 1) & (w->hcap - 1);
	}
	if (w->ns == w->ids_cap) {
		cap = w->ids_cap == 0 ? 16 : w->ids_cap * 2;
		if ((p = reallocarray(w->ids, cap, sizeof(*w->ids))) == NULL)
			return (-1);
		w->ids = p;
		w->ids_cap = cap;
	}
	memcpy(w->ids[w->ns], id, CHAIN_STREAM_LEN + 1);
	w->htab[k] = (uint32_t)w->ns + 1;
	w->ns++;
	if (w->ns * 2 > w->hcap && ledger_rehash(w, w->hcap * 2) == -1)
		return (-1);
	return ((long)w->ns - 1);
}

/* -- pass 1 ------------------------------------------------------------- */

static int
ledger_add_entry(struct ledger_work *w, const struct ledger_entry *x)
{
	void	*p;
	size_t	 cap;

	if (w->n == w->cap) {
		if (w->cap >= UINT32_MAX / 2)
			return (-1);
		cap = w->cap == 0 ? 4096 : w->cap * 2;
		if ((p = reallocarray(w->e, cap, sizeof(*w->e))) == NULL)
			return (-1);
		w->e = p;
		w->cap = cap;
	}
	w->e[w->n++] = *x;
	return (0);
}

/* One line of pass 1. 0, or -1 when out of memory. */
static int
ledger_pass1_line(struct ledger_work *w, uint32_t file, uint32_t line,
    const char *buf, size_t len)
{
	const struct ledger_opts	*o = w->o;
	struct ledger_result		*r = w->res;
	struct ledger_entry		 x;
	struct chain_seal		 s;
	struct chain_checkpoint		 cp;
	const char			*ts, *wk, *claim;
	cJSON				*j;
	int64_t				 us;
	size_t				 clen;
	long				 si;
	int				 win, rc = 0;

	if ((j = ledger_json_line(buf, len)) == NULL) {
		ledger_malformed(r, file, line);
		goto out_free_json;
	}
	ts = ledger_str(j, "timestamp");
	us = LEDGER_NO_TS;
	if (ts != NULL && ledger_parse_time(ts, &us) != -1 && us > w->max_us) {
		w->max_us = us;
		ledger_ts_text(ts, r->end_ts);
	}
	wk = ledger_str(j, "worker_id");
	if (wk == NULL || strcmp(wk, o->worker) != 0) {
		r->other_workers++;
		goto out_free_json;
	}
	if ((claim = ledger_str(j, "claim")) == NULL) {
		ledger_malformed(r, file, line);
		goto out_free_json;
	}
	clen = strlen(claim);
	win = ledger_window(o->since, o->until, ts);
	if (win == 1)
		r->ours++;
	else
		r->outside++;
	if (!chain_parse(claim, clen, &s)) {
		if (win == 1)
			r->unchained++;
		goto out_free_json;
	}
	if (o->stream != NULL && strcmp(s.stream, o->stream) != 0) {
		r->other_streams++;
		goto out_free_json;
	}
	if (us == LEDGER_NO_TS) {
		/* The time decides windows and overdue checkpoints. */
		ledger_malformed(r, file, line);
		goto out_free_json;
	}
	if (win == 1)
		r->sealed++;
	if (w->ns >= LEDGER_STREAMS_MAX && ledger_stream_known(w, s.stream) ==
	    -1) {
		r->too_many_streams = 1;
		goto out_free_json;
	}
	if ((si = ledger_stream_index(w, s.stream)) == -1) {
		rc = -1;
		goto out_free_json;
	}
	memset(&x, 0, sizeof(x));
	x.seq = s.seq;
	x.ts = us;
	x.stream = (uint32_t)si;
	x.line = line;
	x.file = (uint16_t)file;
	x.flags = win == 1 ? LF_WINDOW : win == 2 ? LF_AFTER : 0;
	if (chain_parse_checkpoint(claim, clen, &cp))
		x.flags |= LF_CP;
	ledger_digest(claim, clen, x.hash);
	ledger_unhex(s.mac, x.chain);
	if (ledger_add_entry(w, &x) == -1)
		rc = -1;
out_free_json:
	cJSON_Delete(j);
	return (rc);
}

static int
ledger_pass1(struct ledger_work *w, char *err, size_t errlen)
{
	struct ledger_result	*r = w->res;
	size_t			 f, len;
	uint32_t		 line;
	int			 rc, toolong;

	for (f = 0; f < r->n_files; f++) {
		for (line = 1;; line++) {
			rc = ledger_getline(w->gz[f], r->files[f].path, w->line,
			    &len, &toolong, err, errlen);
			if (rc == -1)
				return (-1);
			if (rc == 0)
				break;
			if (line == UINT32_MAX) {
				snprintf(err, errlen, "%s: too many lines",
				    r->files[f].path);
				return (-1);
			}
			r->files[f].lines++;
			r->lines++;
			if (toolong) {
				ledger_malformed(r, (uint32_t)f, line);
				continue;
			}
			if (len == 0)
				continue;	/* a blank line holds nothing */
			if (ledger_pass1_line(w, (uint32_t)f, line, w->line,
			    len) == -1) {
				snprintf(err, errlen, "out of memory");
				return (-1);
			}
		}
	}
	return (0);
}

/* -- the state directory ------------------------------------------------ */

static int
ledger_spool_rec(void *arg, uint64_t rec_seq, const char *data, size_t len,
    int acked)
{
	struct ledger_work	*w = arg;
	struct chain_seal	 s;
	void			*p;
	size_t			 cap;

	(void)rec_seq;
	if (!chain_parse(data, len, &s) || strcmp(s.stream,
	    w->res->state_stream) != 0)
		return (0);
	if (w->nsp == w->spcap) {
		cap = w->spcap == 0 ? 256 : w->spcap * 2;
		if ((p = reallocarray(w->sp, cap, sizeof(*w->sp))) == NULL) {
			w->oom = 1;
			return (-1);
		}
		w->sp = p;
		w->spcap = cap;
	}
	w->sp[w->nsp].seq = s.seq;
	w->sp[w->nsp].acked = acked;
	w->nsp++;
	return (0);
}

static int
ledger_sprec_cmp(const void *a, const void *b)
{
	const struct ledger_sprec	*x = a, *y = b;

	if (x->seq != y->seq)
		return (x->seq < y->seq ? -1 : 1);
	return (y->acked - x->acked);	/* acked first */
}

/* chain_peek() and spool_scan(): 0, or -1 with err. */
static int
ledger_state(struct ledger_work *w, char *err, size_t errlen)
{
	struct ledger_result	*r = w->res;
	char			 e2[512], *dir;
	unsigned long		 bad = 0;
	size_t			 len;
	long			 si;

	if (chain_peek(w->o->state_dir, w->o->anon, r->state_stream,
	    &r->state_last_seq, e2, sizeof(e2)) == -1) {
		snprintf(err, errlen, "state %s: %s", w->o->state_dir, e2);
		return (-1);
	}
	if (w->o->stream != NULL && strcmp(w->o->stream, r->state_stream) !=
	    0) {
		snprintf(err, errlen, "state %s holds stream %s, not --stream "
		    "%s: drop one of them", w->o->state_dir, r->state_stream,
		    w->o->stream);
		return (-1);
	}
	len = strlen(w->o->state_dir) + sizeof("/spool");
	if ((dir = malloc(len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	snprintf(dir, len, "%s/spool", w->o->state_dir);
	if (spool_scan(dir, ledger_spool_rec, w, &bad, e2, sizeof(e2)) !=
	    0 || w->oom) {
		snprintf(err, errlen, "spool %s: %s", dir, w->oom ?
		    "out of memory" : e2);
		free(dir);
		return (-1);
	}
	free(dir);
	if (w->nsp > 0)
		qsort(w->sp, w->nsp, sizeof(*w->sp), ledger_sprec_cmp);
	r->spool_records = w->nsp;
	r->spool_damaged = bad;
	/* The chain file is saved now and then: the spool may be ahead. */
	if (w->nsp > 0 && w->sp[w->nsp - 1].seq > r->state_last_seq)
		r->state_last_seq = w->sp[w->nsp - 1].seq;
	r->has_state = 1;
	if ((si = ledger_stream_index(w, r->state_stream)) == -1) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	w->state_stream = si;
	return (0);
}

/* -- sorting and the checks that need no text ---------------------------- */

static int
ledger_order_cmp(const void *a, const void *b, void *arg)
{
	const struct ledger_entry	*e = arg;
	uint32_t			 i = *(const uint32_t *)a;
	uint32_t			 k = *(const uint32_t *)b;

	if (e[i].stream != e[k].stream)
		return (e[i].stream < e[k].stream ? -1 : 1);
	if (e[i].seq != e[k].seq)
		return (e[i].seq < e[k].seq ? -1 : 1);
	return (i < k ? -1 : i > k);
}

/* The first position in w->order of (stream, seq), or -1. */
static long
ledger_find(const struct ledger_work *w, uint32_t stream, uint64_t seq)
{
	const struct ledger_sw	*sw = &w->sw[stream];
	size_t			 lo = sw->ostart, hi = sw->oend, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (w->e[w->order[mid]].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < sw->oend && w->e[w->order[lo]].seq == seq)
		return ((long)lo);
	return (-1);
}

/* Add seqs [from, to] of kind to the gap being built, or start one. */
static void
ledger_gap_flush(struct ledger_stream *rs, struct ledger_sw *sw)
{
	uint64_t	 n;

	if (!sw->gap_open)
		return;
	sw->gap_open = 0;
	n = sw->gap.to - sw->gap.from + 1;
	if (sw->gap.kind == LEDGER_GAP_PENDING)
		rs->pending += n;
	else if (sw->gap.kind == LEDGER_GAP_ACKED)
		rs->acked_missing += n;
	else if (sw->gap.kind == LEDGER_GAP_VOIDED)
		rs->voided += n;
	else
		rs->missing += n;
	rs->gap_ranges++;
	if (rs->n_gaps < LEDGER_LIST_MAX)
		rs->gaps[rs->n_gaps++] = sw->gap;
}

static void
ledger_gap_add(struct ledger_stream *rs, struct ledger_sw *sw, uint64_t from,
    uint64_t to, enum ledger_gap_kind kind)
{
	if (sw->gap_open && sw->gap.kind == kind && sw->gap.to + 1 == from) {
		sw->gap.to = to;
		return;
	}
	ledger_gap_flush(rs, sw);
	sw->gap_open = 1;
	sw->gap.from = from;
	sw->gap.to = to;
	sw->gap.kind = kind;
}

static void	 ledger_gap_spool(struct ledger_work *, uint32_t, uint64_t,
		    uint64_t);

/*
 * Seqs [from, to] are not in the ledger: those a verified checkpoint
 * voided are no failure; the rest are classified by the spool.
 */
static void
ledger_gap(struct ledger_work *w, uint32_t s, uint64_t from, uint64_t to)
{
	struct ledger_sw	*sw = &w->sw[s];
	uint64_t		 a, b;
	size_t			 i;

	for (i = 0; i < sw->nvoided; i++) {
		a = sw->voided[i].a;
		b = sw->voided[i].b;
		if (b < from || a > to)
			continue;
		if (a > from)
			ledger_gap(w, s, from, a - 1);
		ledger_gap_add(&w->res->streams[s], sw, a > from ? a : from,
		    b < to ? b : to, LEDGER_GAP_VOIDED);
		if (b < to)
			ledger_gap(w, s, b + 1, to);
		return;
	}
	ledger_gap_spool(w, s, from, to);
}

/* Seqs [from, to] are not in the ledger: classify them by the spool. */
static void
ledger_gap_spool(struct ledger_work *w, uint32_t s, uint64_t from,
    uint64_t to)
{
	struct ledger_stream	*rs = &w->res->streams[s];
	struct ledger_sw	*sw = &w->sw[s];
	size_t			 lo = 0, hi = w->nsp, mid;
	uint64_t		 cur = from;

	if ((long)s != w->state_stream || w->nsp == 0) {
		ledger_gap_add(rs, sw, from, to, LEDGER_GAP_MISSING);
		return;
	}
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (w->sp[mid].seq < from)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < w->nsp && w->sp[lo].seq <= to; lo++) {
		if (w->sp[lo].seq < cur)
			continue;	/* the same seq twice */
		if (w->sp[lo].seq > cur)
			ledger_gap_add(rs, sw, cur, w->sp[lo].seq - 1,
			    LEDGER_GAP_MISSING);
		ledger_gap_add(rs, sw, w->sp[lo].seq, w->sp[lo].seq,
		    w->sp[lo].acked ? LEDGER_GAP_ACKED : LEDGER_GAP_PENDING);
		cur = w->sp[lo].seq + 1;
	}
	if (cur <= to)
		ledger_gap_add(rs, sw, cur, to, LEDGER_GAP_MISSING);
}

/*
 * One seq of a stream, w->order[g..gend): duplicates, conflicts, which
 * copies pass 2 checks, the window's bounds.
 */
static void
ledger_group(struct ledger_work *w, size_t g, size_t gend, int prev_present)
{
	struct ledger_entry	*first = &w->e[w->order[g]], *x;
	struct ledger_stream	*rs = &w->res->streams[first->stream];
	struct ledger_sw	*sw = &w->sw[first->stream];
	struct ledger_conflict	*c;
	uint32_t		 ver[LEDGER_VERSIONS];
	size_t			 k, m, nver = 0;
	int			 in_win = 0, not_after = 0, same;

	for (k = g; k < gend; k++) {
		x = &w->e[w->order[k]];
		if (x->flags & LF_WINDOW)
			in_win = 1;
		if (!(x->flags & LF_AFTER))
			not_after = 1;
	}
	if (first->seq > sw->max_present)
		sw->max_present = first->seq;
	/*
	 * The window's neighbours in seq order (sorted ascending here):
	 * the last seq stamped before the window below its first seq, the
	 * first stamped after it above its last. Seqs stamped outside the
	 * window but inside its seq span (a retry, or an edited time) do
	 * not move the bounds.
	 */
	if (in_win)
		sw->after_min = 0;
	else if (not_after) {
		if (rs->first_seq == 0)
			sw->before_max = first->seq;
	} else {
		if (sw->after_first == 0)
			sw->after_first = first->seq;
		if (rs->last_seq != 0 && sw->after_min == 0)
			sw->after_min = first->seq;
	}
	if (not_after && first->seq > sw->hi_all)
		sw->hi_all = first->seq;
	if (in_win) {
		rs->claims++;
		if (rs->first_seq == 0)
			rs->first_seq = first->seq;
		rs->last_seq = first->seq;
	}
	for (k = g; k < gend; k++) {
		x = &w->e[w->order[k]];
		if (in_win)
			x->flags |= LF_GWIN;
		same = 0;
		for (m = 0; m < nver; m++)
			if (memcmp(w->e[ver[m]].hash, x->hash, 16) == 0)
				same = 1;
		if (same) {
			if (in_win)
				rs->duplicates++;
			continue;
		}
		if (k == g)
			x->flags |= LF_GFIRST;
		else if (in_win) {
			rs->conflicts++;
			if (rs->n_conflicts < LEDGER_LIST_MAX) {
				c = &rs->conflict_at[rs->n_conflicts++];
				c->seq = x->seq;
				c->first.file = first->file;
				c->first.line = first->line;
				c->other.file = x->file;
				c->other.line = x->line;
			}
		}
		if (nver == LEDGER_VERSIONS)
			continue;	/* counted; not checked */
		ver[nver++] = w->order[k];
		x->flags |= LF_FIRST;
		if ((x->flags & LF_CP) && !(x->flags & LF_AFTER))
			sw->lastcp = (size_t)w->order[k] + 1;
		if (!in_win)
			continue;
		if (x->flags & LF_CP)
			x->flags |= LF_CPCHECK;
		if (x->seq == 1 || prev_present)
			x->flags |= LF_CHECK;
		else
			rs->unlinked++;
	}
}

/* After the state: sort, then every check that needs no claim text. */
static int
ledger_analyze(struct ledger_work *w)
{
	struct ledger_result	*r = w->res;
	struct ledger_stream	*rs;
	struct ledger_sw	*sw;
	struct ledger_entry	*x;
	struct ledger_reorder	*ro;
	size_t			 i, g, gend;
	uint32_t		 s;

	if ((r->streams = calloc(w->ns + 1, sizeof(*r->streams))) == NULL ||
	    (w->sw = calloc(w->ns + 1, sizeof(*w->sw))) == NULL ||
	    (w->order = calloc(w->n + 1, sizeof(*w->order))) == NULL)
		return (-1);
	r->n_streams = w->ns;
	for (s = 0; s < w->ns; s++) {
		memcpy(r->streams[s].id, w->ids[s], sizeof(r->streams[s].id));
		r->streams[s].this_proxy = (long)s == w->state_stream;
		r->streams[s].cp_every = r->streams[s].cp_interval_s = -1;
		w->sw[s].unconf_ts = LEDGER_NO_TS;
	}
	for (i = 0; i < w->n; i++)
		w->order[i] = (uint32_t)i;
	qsort_r(w->order, w->n, sizeof(*w->order), ledger_order_cmp, w->e);

	/* Each seq group, in stream and seq order. */
	for (g = 0; g < w->n; g = gend) {
		x = &w->e[w->order[g]];
		s = x->stream;
		if (g == 0 || w->e[w->order[g - 1]].stream != s)
			w->sw[s].ostart = g;
		for (gend = g + 1; gend < w->n &&
		    w->e[w->order[gend]].stream == s &&
		    w->e[w->order[gend]].seq == x->seq; gend++)
			;
		w->sw[s].oend = gend;
		ledger_group(w, g, gend, g > 0 &&
		    w->e[w->order[g - 1]].stream == s &&
		    w->e[w->order[g - 1]].seq + 1 == x->seq);
	}

	/* Reordering, in file order. */
	for (i = 0; i < w->n; i++) {
		x = &w->e[i];
		sw = &w->sw[x->stream];
		rs = &r->streams[x->stream];
		if (x->seq < sw->run_max && (x->flags & LF_GFIRST) &&
		    (x->flags & LF_GWIN)) {
			rs->reordered++;
			if (rs->n_reordered < LEDGER_LIST_MAX) {
				ro = &rs->reorder_at[rs->n_reordered++];
				ro->seq = x->seq;
				ro->after_seq = sw->run_max;
				ro->at.file = x->file;
				ro->at.line = x->line;
			}
		}
		if (x->seq > sw->run_max)
			sw->run_max = x->seq;
	}

	for (s = 0; s < w->ns; s++)
		if (w->sw[s].lastcp > 0)
			w->e[w->sw[s].lastcp - 1].flags |= LF_LASTCP;
	return (0);
}

/*
 * Gaps, bounded by the window (and the state's last seq); after pass 2,
 * which found the verified checkpoints' voided seqs.
 */
static void
ledger_gaps(struct ledger_work *w)
{
	struct ledger_result	*r = w->res;
	const struct ledger_opts *o = w->o;
	struct ledger_stream	*rs;
	struct ledger_sw	*sw;
	size_t			 g;
	uint64_t		 lo, hi, expect, q;
	uint32_t		 s;

	for (s = 0; s < w->ns; s++) {
		rs = &r->streams[s];
		sw = &w->sw[s];
		/*
		 * The window's edges hold too: from the last claim before
		 * it (which must be in the files: else the first claim of
		 * the window, unlinked, could be anything) to the first
		 * after it. Claims cut at either edge are gaps.
		 */
		if (rs->first_seq == 0) {
			/*
			 * Nothing in the window: between the claims around
			 * it (or up to the state's last seq) all are gaps.
			 */
			lo = sw->before_max + 1;
			hi = o->until != NULL && sw->after_first > 0 ?
			    sw->after_first - 1 : 0;
			if (rs->this_proxy && o->until == NULL &&
			    r->state_last_seq > hi)
				hi = r->state_last_seq;
			if ((sw->before_max > 0 || o->since == NULL ||
			    rs->this_proxy) && hi >= lo)
				ledger_gap(w, s, lo, hi);
			ledger_gap_flush(rs, sw);
			continue;
		}
		if (o->since == NULL)
			lo = 1;
		else if (sw->before_max > 0)
			lo = sw->before_max + 1;
		else
			lo = rs->first_seq > 1 ? rs->first_seq - 1 : 1;
		hi = rs->last_seq;
		if (o->until != NULL && sw->after_min > 0)
			hi = sw->after_min - 1;
		if (rs->this_proxy && o->until == NULL &&
		    r->state_last_seq > hi)
			hi = r->state_last_seq;
		expect = lo;
		for (g = sw->ostart; g < sw->oend && expect <= hi; g++) {
			q = w->e[w->order[g]].seq;
			if (q < expect)
				continue;
			if (q > hi)
				break;
			if (q > expect)
				ledger_gap(w, s, expect, q - 1);
			expect = q + 1;
		}
		if (expect <= hi && hi > 0)
			ledger_gap(w, s, expect, hi);
		ledger_gap_flush(rs, sw);
	}
}

/* -- pass 2: the links and the checkpoints ------------------------------ */

/* 1 if chain value mac (16 bytes) is that of some text of (stream, seq). */
static int
ledger_chain_is(const struct ledger_work *w, uint32_t stream, uint64_t seq,
    const unsigned char mac[16], int *found)
{
	const struct ledger_entry	*x;
	long				 g;
	size_t				 k;

	*found = 0;
	if ((g = ledger_find(w, stream, seq)) == -1)
		return (0);
	*found = 1;
	for (k = (size_t)g; k < w->sw[stream].oend; k++) {
		x = &w->e[w->order[k]];
		if (x->seq != seq)
			break;
		if ((x->flags & LF_FIRST) && memcmp(x->chain, mac, 16) == 0)
			return (1);
	}
	return (0);
}

/* 1 if the claim's link verifies after some text of seq - 1. */
static int
ledger_link_ok(const struct ledger_work *w, const struct ledger_entry *x,
    const char *claim, const struct chain_seal *s)
{
	const struct ledger_entry	*p;
	char				 prev[CHAIN_MAC_LEN + 1];
	char				 mac[CHAIN_MAC_LEN + 1];
	long				 g;
	size_t				 k;

	if (x->seq == 1) {
		chain_mac(&w->key, ledger_zero, claim, s->body_len, mac);
		return (strcmp(mac, s->mac) == 0);
	}
	if ((g = ledger_find(w, x->stream, x->seq - 1)) == -1)
		return (0);
	for (k = (size_t)g; k < w->sw[x->stream].oend; k++) {
		p = &w->e[w->order[k]];
		if (p->seq != x->seq - 1)
			break;
		if (!(p->flags & LF_FIRST))
			continue;
		ledger_hex(p->chain, prev);
		chain_mac(&w->key, prev, claim, s->body_len, mac);
		if (strcmp(mac, s->mac) == 0)
			return (1);
	}
	return (0);
}

/* 1 if the checkpoint claim at seq verifies after the chain it states. */
static int
ledger_cp_self_linked(const struct ledger_work *w, const char *claim,
    size_t clen, const struct chain_seal *s, uint64_t seq)
{
	struct chain_checkpoint	 cp;
	char			 mac[CHAIN_MAC_LEN + 1];

	if (!chain_parse_checkpoint(claim, clen, &cp) || cp.through + 1 !=
	    seq)
		return (0);
	chain_mac(&w->key, cp.mac, claim, s->body_len, mac);
	return (strcmp(mac, s->mac) == 0);
}

/* The checkpoint claim x restates: does it agree? Its details if last. */
/*
 * "A-B,C" of a checkpoint's voided= into the stream's voided seqs: only
 * from a checkpoint whose own link verified (a forged one cannot excuse
 * a gap), and only seqs below it. Ranges past LEDGER_VOIDED_MAX per
 * stream are ignored (they show as gaps).
 */
static void
ledger_voided(struct ledger_work *w, const struct ledger_entry *x,
    const char *p, size_t n)
{
	struct ledger_sw	*sw = &w->sw[x->stream];
	struct ledger_void	*v;
	const char		*end = p + n;
	char			 hex[CHAIN_MAC_LEN + 1];
	uint64_t		 a, b;
	size_t			 cap, k;
	char			*q;

	while (p < end) {
		a = strtoull(p, &q, 10);
		b = a;
		if (q < end && *q == '-')
			b = strtoull(q + 1, &q, 10);
		if (q == p || a == 0 || b < a || b >= x->seq)
			return;		/* not ours to believe */
		if (sw->nvoided == sw->cap_voided) {
			if (sw->cap_voided >= LEDGER_VOIDED_MAX)
				return;
			cap = sw->cap_voided ? sw->cap_voided * 2 : 8;
			if ((v = reallocarray(sw->voided, cap,
			    sizeof(*v))) == NULL)
				return;
			sw->voided = v;
			sw->cap_voided = cap;
		}
		v = &sw->voided[sw->nvoided++];
		v->a = a;
		v->b = b;
		v->has_mac = 0;
		/* ":" and b's chain value: the claim after b links to it. */
		if (q < end && *q == ':' && end - q > CHAIN_MAC_LEN) {
			for (k = 0; k < CHAIN_MAC_LEN; k++)
				if (!((q[1 + k] >= '0' && q[1 + k] <= '9') ||
				    (q[1 + k] >= 'a' && q[1 + k] <= 'f')))
					return;
			memcpy(hex, q + 1, CHAIN_MAC_LEN);
			hex[CHAIN_MAC_LEN] = '\0';
			ledger_unhex(hex, v->mac);
			v->has_mac = 1;
			q += 1 + CHAIN_MAC_LEN;
		}
		p = q;
		if (p < end && *p == ',')
			p++;
		else
			return;
	}
}

static void
ledger_checkpoint(struct ledger_work *w, const struct ledger_entry *x,
    const char *claim, size_t clen, const char *ts, int linked)
{
	struct ledger_stream	*rs = &w->res->streams[x->stream];
	struct chain_checkpoint	 cp;
	struct ledger_cp_bad	*b;
	unsigned char		 mac[16];
	int			 agree = 1, found;

	if (!chain_parse_checkpoint(claim, clen, &cp))
		return;
	if ((x->flags & LF_CPCHECK) && linked) {
		rs->unstored += (uint64_t)cp.unstored;
		if (cp.voided != NULL)
			ledger_voided(w, x, cp.voided, cp.voided_len);
	}
	if (x->flags & LF_CPCHECK) {
		ledger_unhex(cp.mac, mac);
		if (memcmp(claim + sizeof("Checkpoint of stream ") - 1,
		    rs->id, CHAIN_STREAM_LEN) != 0)
			agree = 0;
		else if (cp.through == 0)
			agree = strcmp(cp.mac, ledger_zero) == 0;
		else if (!ledger_chain_is(w, x->stream, cp.through, mac,
		    &found) && found)
			agree = 0;
		if (!agree) {
			rs->cp_bad++;
			if (rs->n_cp_bad < LEDGER_LIST_MAX) {
				b = &rs->cp_bad_at[rs->n_cp_bad++];
				b->seq = x->seq;
				b->through = cp.through;
				b->at.file = x->file;
				b->at.line = x->line;
			}
		}
	}
	if (x->flags & LF_LASTCP) {
		rs->has_cp = 1;
		rs->cp_seq = x->seq;
		rs->cp_through = cp.through;
		ledger_ts_text(ts, rs->cp_ts);
		snprintf(rs->cp_reason, sizeof(rs->cp_reason), "%s",
		    cp.reason);
		rs->cp_every = cp.every;
		rs->cp_interval_s = cp.interval_s;
		rs->cp_at.file = x->file;
		rs->cp_at.line = x->line;
	}
}

/*
 * Mark the claims whose predecessor a verified loss checkpoint voided
 * and whose chain value it stated: pass 3 checks their links with it.
 * Returns how many.
 */
static size_t
ledger_mark_vcheck(struct ledger_work *w)
{
	struct ledger_entry	*x;
	struct ledger_sw	*sw;
	size_t			 i, k, n = 0;
	uint32_t		 s;
	long			 g;

	for (s = 0; s < w->ns; s++) {
		sw = &w->sw[s];
		for (i = 0; i < sw->nvoided; i++) {
			if (!sw->voided[i].has_mac ||
			    (g = ledger_find(w, s, sw->voided[i].b + 1)) == -1)
				continue;
			for (k = (size_t)g; k < sw->oend; k++) {
				x = &w->e[w->order[k]];
				if (x->seq != sw->voided[i].b + 1)
					break;
				if ((x->flags & (LF_FIRST | LF_GWIN)) ==
				    (LF_FIRST | LF_GWIN) &&
				    !(x->flags & LF_CHECK)) {
					x->flags |= LF_VCHECK;
					n++;
				}
			}
		}
	}
	return (n);
}

/* Pass 3: x links to the chain value its voided predecessor had. */
static int
ledger_vcheck_line(struct ledger_work *w, struct ledger_entry *x,
    const char *buf, size_t len)
{
	struct ledger_stream	*rs = &w->res->streams[x->stream];
	struct ledger_sw	*sw = &w->sw[x->stream];
	struct ledger_altered	*a;
	struct chain_seal	 s;
	unsigned char		 hash[16];
	const char		*claim;
	char			 prev[CHAIN_MAC_LEN + 1];
	char			 mac[CHAIN_MAC_LEN + 1];
	cJSON			*j;
	size_t			 i;
	int			 rc = -1, ok = 0;

	if ((j = ledger_json_line(buf, len)) == NULL)
		return (-1);
	if ((claim = ledger_str(j, "claim")) == NULL)
		goto out_free_json;
	ledger_digest(claim, strlen(claim), hash);
	if (memcmp(hash, x->hash, 16) != 0 || !chain_parse(claim,
	    strlen(claim), &s))
		goto out_free_json;
	for (i = 0; i < sw->nvoided && !ok; i++) {
		if (!sw->voided[i].has_mac || sw->voided[i].b + 1 != x->seq)
			continue;
		ledger_hex(sw->voided[i].mac, prev);
		chain_mac(&w->key, prev, claim, s.body_len, mac);
		ok = strcmp(mac, s.mac) == 0;
	}
	if (rs->unlinked > 0)
		rs->unlinked--;
	if (ok)
		rs->verified++;
	else {
		sw->bad++;
		rs->altered++;
		if (rs->n_altered < LEDGER_LIST_MAX) {
			a = &rs->altered_at[rs->n_altered++];
			a->seq = x->seq;
			a->at.file = x->file;
			a->at.line = x->line;
		}
	}
	rc = 0;
out_free_json:
	cJSON_Delete(j);
	return (rc);
}

/* Entry x's line again, buf[0..len). 0, or -1 when it changed. */
static int
ledger_pass2_line(struct ledger_work *w, struct ledger_entry *x,
    const char *buf, size_t len)
{
	struct ledger_stream	*rs = &w->res->streams[x->stream];
	struct ledger_altered	*a;
	struct chain_seal	 s;
	unsigned char		 hash[16];
	const char		*claim;
	cJSON			*j;
	size_t			 clen;
	int			 rc = -1, linked = 0;

	if ((j = ledger_json_line(buf, len)) == NULL)
		return (-1);
	if ((claim = ledger_str(j, "claim")) == NULL)
		goto out_free_json;
	clen = strlen(claim);
	ledger_digest(claim, clen, hash);
	if (memcmp(hash, x->hash, 16) != 0 || !chain_parse(claim, clen, &s))
		goto out_free_json;
	if (x->flags & LF_CHECK) {
		if ((linked = ledger_link_ok(w, x, claim, &s)))
			rs->verified++;
		else {
			w->sw[x->stream].bad++;
			rs->altered++;
			if (rs->n_altered < LEDGER_LIST_MAX) {
				a = &rs->altered_at[rs->n_altered++];
				a->seq = x->seq;
				a->at.file = x->file;
				a->at.line = x->line;
			}
		}
	}
	/*
	 * A checkpoint whose predecessor is not in the ledger (voided by
	 * the very checkpoint, as after a failed fsync on a quiet proxy)
	 * links to the chain value it states itself: its MAC covers that
	 * statement, so nobody without the key could make one that fits.
	 */
	if (!(x->flags & LF_CHECK) && (x->flags & LF_CPCHECK) &&
	    ledger_cp_self_linked(w, claim, clen, &s, x->seq)) {
		linked = 1;
		x->flags |= LF_CHECK;	/* checked: not again in pass 3 */
		rs->verified++;
		if (rs->unlinked > 0)
			rs->unlinked--;
	}
	if (x->flags & (LF_CPCHECK | LF_LASTCP))
		ledger_checkpoint(w, x, claim, clen, ledger_str(j,
		    "timestamp"), linked);
	rc = 0;
out_free_json:
	cJSON_Delete(j);
	return (rc);
}

static int
ledger_pass2(struct ledger_work *w, uint16_t mask, char *err, size_t errlen)
{
	struct ledger_result	*r = w->res;
	struct ledger_entry	*x;
	size_t			 f, i = 0, len;
	uint32_t		 line;
	int			 rc, toolong;

	for (f = 0; f < r->n_files; f++) {
		/* The next entry of this file pass 2 needs, if any. */
		while (i < w->n && w->e[i].file == f &&
		    !(w->e[i].flags & mask))
			i++;
		if (i >= w->n || w->e[i].file != f)
			continue;
		if (gzrewind(w->gz[f]) == -1) {
			snprintf(err, errlen, "%s: cannot read it again",
			    r->files[f].path);
			return (-1);
		}
		for (line = 1; i < w->n && w->e[i].file == f; line++) {
			rc = ledger_getline(w->gz[f], r->files[f].path, w->line,
			    &len, &toolong, err, errlen);
			if (rc == -1)
				return (-1);
			if (rc == 0 || line > w->e[i].line)
				goto out_changed;
			if (line < w->e[i].line)
				continue;
			x = &w->e[i];
			if (toolong || (mask == LF_VCHECK ?
			    ledger_vcheck_line(w, x, w->line, len) :
			    ledger_pass2_line(w, x, w->line, len)) == -1)
				goto out_changed;
			for (i++; i < w->n && w->e[i].file == f &&
			    !(w->e[i].flags & mask); i++)
				;
		}
	}
	return (0);

out_changed:
	snprintf(err, errlen, "%s: changed while it was read (line %" PRIu32
	    "); run the check again", r->files[f].path, w->e[i].line);
	return (-1);
}

/* -- the verdict -------------------------------------------------------- */

static void
ledger_finish(struct ledger_work *w)
{
	struct ledger_result	*r = w->res;
	struct ledger_stream	*rs;
	struct ledger_sw	*sw;
	struct ledger_entry	*x;
	size_t			 s, k, kept = 0;
	int64_t			 end = w->max_us, limit, us;
	uint64_t		 top;
	long			 interval;
	int			 hard, hard_any = 0;

	if (w->o->until != NULL) {
		snprintf(r->end_ts, sizeof(r->end_ts), "%s", w->o->until);
		if (ledger_parse_time(w->o->until, &us) != -1)
			end = us;
	}
	r->interval_s = w->o->default_interval_s > 0 ?
	    w->o->default_interval_s : LEDGER_DEFAULT_INTERVAL_S;
	ledger_gaps(w);
	r->ok = 1;
	for (s = 0; s < r->n_streams; s++) {
		rs = &r->streams[s];
		sw = &w->sw[s];
		/* Seqs of the window after the last checkpoint. */
		for (k = sw->ostart; k < sw->oend; k++) {
			x = &w->e[w->order[k]];
			if (!(x->flags & LF_GWIN) || (rs->has_cp &&
			    x->seq <= rs->cp_seq))
				continue;
			if (x->flags & LF_GFIRST)
				rs->unconfirmed++;
			if ((x->flags & LF_WINDOW) && x->ts != LEDGER_NO_TS &&
			    (sw->unconf_ts == LEDGER_NO_TS ||
			    x->ts < sw->unconf_ts))
				sw->unconf_ts = x->ts;
		}
		if (sw->unconf_ts != LEDGER_NO_TS)
			ledger_fmt_us(sw->unconf_ts, rs->unconfirmed_ts);
		/* The state directory may know later claims (queued). */
		top = sw->hi_all;
		if (rs->this_proxy && w->o->until == NULL &&
		    r->state_last_seq > top)
			top = r->state_last_seq;
		rs->closed = rs->has_cp && strcmp(rs->cp_reason, "stop") == 0 &&
		    rs->cp_seq == top;
		interval = rs->has_cp && rs->cp_interval_s > 0 ?
		    rs->cp_interval_s : r->interval_s;
		/*
		 * A later claim after --until shows the stream went on, and
		 * the gap search reaches it: nothing can be cut unseen.
		 */
		if (rs->unconfirmed > 0 && sw->unconf_ts != LEDGER_NO_TS &&
		    !(w->o->until != NULL && sw->after_min > 0)) {
			limit = (2 * (int64_t)interval + 60) * 1000000;
			if (end != LEDGER_NO_TS && end - sw->unconf_ts >
			    limit) {
				rs->overdue = 1;
				rs->cut_after = rs->last_seq;
			}
		}
		rs->wrong_key = rs->verified == 0 && sw->bad > 0;
		hard = rs->conflicts > 0 || rs->altered > 0 ||
		    rs->missing > 0 || rs->acked_missing > 0 || rs->cp_bad > 0 ||
		    rs->overdue;
		rs->ok = !hard && rs->pending == 0;
		/* Reported: claims in the window, or the state's stream. */
		if (rs->claims == 0 && !rs->this_proxy && rs->pending == 0 &&
		    rs->missing == 0 && rs->acked_missing == 0)
			continue;
		r->pending += rs->pending;
		if (hard)
			hard_any = 1;
		if (!rs->ok)
			r->ok = 0;
		if (kept != s)
			r->streams[kept] = *rs;
		kept++;
	}
	r->n_streams = kept;
	/* Claims the spool refused must be in the ledger, replayed. */
	for (s = 0; s < kept; s++)
		r->unstored += r->streams[s].unstored;
	r->unreplayed = r->unstored > r->unchained;
	if (r->unreplayed)
		hard_any = 1;
	if (kept == 0 || r->malformed > 0 || r->too_many_streams ||
	    r->unreplayed)
		r->ok = 0;
	if (r->malformed > 0 || r->too_many_streams)
		hard_any = 1;
	r->pending_only = !r->ok && !hard_any && r->pending > 0;
}

static void
ledger_work_free(struct ledger_work *w)
{
	size_t	 f;

	if (w->gz != NULL)
		for (f = 0; f < w->res->n_files; f++)
			if (w->gz[f] != NULL)
				gzclose(w->gz[f]);
	free(w->gz);
	free(w->line);
	free(w->e);
	free(w->order);
	free(w->ids);
	free(w->htab);
	if (w->sw != NULL)
		for (f = 0; f < w->ns; f++)
			free(w->sw[f].voided);
	free(w->sw);
	free(w->sp);
	OPENSSL_cleanse(&w->key, sizeof(w->key));
}

int
ledger_verify(const struct ledger_opts *o, const char *const *files,
    size_t n, struct ledger_result *res, char *err, size_t errlen)
{
	struct ledger_work	 w;
	size_t			 f;
	int			 rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&w, 0, sizeof(w));
	w.o = o;
	w.res = res;
	w.state_stream = -1;
	w.max_us = LEDGER_NO_TS;
	res->worker = o->worker;
	if (n == 0 || n > LEDGER_FILES_MAX) {
		snprintf(err, errlen, "between 1 and %d files",
		    LEDGER_FILES_MAX);
		return (-1);
	}
	chain_key_derive(&w.key, o->anon);
	if ((res->files = calloc(n, sizeof(*res->files))) == NULL ||
	    (w.gz = calloc(n, sizeof(*w.gz))) == NULL ||
	    (w.line = malloc(LEDGER_LINE_MAX + 2)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out_free_work;
	}
	res->n_files = n;
	for (f = 0; f < n; f++) {
		res->files[f].path = files[f];
		if ((w.gz[f] = ledger_open(files[f], err, errlen)) == NULL)
			goto out_free_work;
	}
	if (ledger_pass1(&w, err, errlen) == -1)
		goto out_free_work;
	if (o->state_dir != NULL && ledger_state(&w, err, errlen) == -1)
		goto out_free_work;
	if (ledger_analyze(&w) == -1) {
		snprintf(err, errlen, "out of memory");
		goto out_free_work;
	}
	if (ledger_pass2(&w, LF_PASS2, err, errlen) == -1)
		goto out_free_work;
	/* Claims right after a voided range: a third, short pass. */
	if (ledger_mark_vcheck(&w) > 0 && ledger_pass2(&w, LF_VCHECK, err,
	    errlen) == -1)
		goto out_free_work;
	ledger_finish(&w);
	rc = 0;

out_free_work:
	ledger_work_free(&w);
	return (rc);
}

void
ledger_result_free(struct ledger_result *r)
{
	free(r->files);
	free(r->streams);
	memset(r, 0, sizeof(*r));
}

/* -- reports ------------------------------------------------------------ */

static const char *
ledger_gap_kind_name(enum ledger_gap_kind k)
{
	switch (k) {
	case LEDGER_GAP_PENDING:
		return ("not yet delivered (in the proxy's spool)");
	case LEDGER_GAP_ACKED:
		return ("delivered per the spool's acked file but not in the "
		    "ledger");
	case LEDGER_GAP_VOIDED:
		return ("voided: never stored (the disk failed), as a "
		    "checkpoint says; not a failure");
	default:
		return ("missing");
	}
}

static const char *
ledger_gap_kind_key(enum ledger_gap_kind k)
{
	switch (k) {
	case LEDGER_GAP_PENDING:
		return ("pending");
	case LEDGER_GAP_ACKED:
		return ("acked_missing");
	case LEDGER_GAP_VOIDED:
		return ("voided");
	default:
		return ("missing");
	}
}

/* "FILE:LINE" into out. */
static void
ledger_at_text(const struct ledger_result *r, struct ledger_at at, char *out,
    size_t outlen)
{
	snprintf(out, outlen, "%s:%" PRIu32, at.file < r->n_files ?
	    r->files[at.file].path : "?", at.line);
}

static void
ledger_more(FILE *fp, uint64_t total, size_t listed)
{
	if (total > listed)
		fprintf(fp, " (and %" PRIu64 " more)", total - listed);
	fputc('\n', fp);
}

static void
ledger_print_range(FILE *fp, uint64_t from, uint64_t to)
{
	if (from == to)
		fprintf(fp, "%" PRIu64, from);
	else
		fprintf(fp, "%" PRIu64 "-%" PRIu64, from, to);
}

/* Why the stream fails, appended to b ("; "-separated). */
static void
ledger_stream_why(struct buf *b, const struct ledger_stream *rs)
{
	size_t	 start = b->len;

	if (rs->wrong_key)
		buf_printf(b, "; stream %s: does not verify with this key "
		    "(another deployment's key?)", rs->id);
	else if (rs->altered > 0)
		buf_printf(b, "; stream %s: %" PRIu64 " altered", rs->id,
		    rs->altered);
	if (rs->missing > 0)
		buf_printf(b, "; stream %s: %" PRIu64 " missing", rs->id,
		    rs->missing);
	if (rs->acked_missing > 0)
		buf_printf(b, "; stream %s: %" PRIu64 " delivered per the "
		    "spool but not in the ledger", rs->id, rs->acked_missing);
	if (rs->conflicts > 0)
		buf_printf(b, "; stream %s: %" PRIu64 " conflicting", rs->id,
		    rs->conflicts);
	if (rs->cp_bad > 0)
		buf_printf(b, "; stream %s: %" PRIu64 " checkpoint%s "
		    "disagree%s", rs->id, rs->cp_bad, rs->cp_bad == 1 ? "" :
		    "s", rs->cp_bad == 1 ? "s" : "");
	if (rs->overdue)
		buf_printf(b, "; stream %s: checkpoint overdue: the ledger "
		    "may have been cut after seq %" PRIu64, rs->id,
		    rs->cut_after);
	if (rs->pending > 0 && b->len == start)
		buf_printf(b, "; stream %s: %" PRIu64 " not yet delivered",
		    rs->id, rs->pending);
}

static void
ledger_print_stream(FILE *fp, const struct ledger_result *r,
    const struct ledger_stream *rs)
{
	char	 a[4096], b[4096];
	size_t	 i;

	fprintf(fp, "\nstream %s%s:\n", rs->id, rs->this_proxy ?
	    " (this proxy, per the state directory)" : "");
	if (rs->claims > 0)
		fprintf(fp, "  seqs %" PRIu64 "-%" PRIu64 ": %" PRIu64
		    " claims, %" PRIu64 " links verified, %" PRIu64
		    " duplicates, %" PRIu64 " unlinked (next to a gap)\n",
		    rs->first_seq, rs->last_seq, rs->claims, rs->verified,
		    rs->duplicates, rs->unlinked);
	else
		fprintf(fp, "  no claims in the ledger\n");
	if (rs->gap_ranges == 0)
		fprintf(fp, "  gaps: none\n");
	else {
		fprintf(fp, "  gaps: %" PRIu64 " range%s (%" PRIu64
		    " missing, %" PRIu64 " not yet delivered, %" PRIu64
		    " delivered but absent, %" PRIu64 " voided):\n",
		    rs->gap_ranges, rs->gap_ranges == 1 ? "" : "s",
		    rs->missing, rs->pending, rs->acked_missing, rs->voided);
		for (i = 0; i < rs->n_gaps; i++) {
			fprintf(fp, "    ");
			ledger_print_range(fp, rs->gaps[i].from,
			    rs->gaps[i].to);
			fprintf(fp, " %s\n", ledger_gap_kind_name(
			    rs->gaps[i].kind));
		}
		if (rs->gap_ranges > rs->n_gaps)
			fprintf(fp, "    (and %" PRIu64 " more ranges)\n",
			    rs->gap_ranges - rs->n_gaps);
	}
	if (rs->unstored > 0)
		fprintf(fp, "  claims the spool refused (logged for replay): %"
		    PRIu64 "; unchained claims in the ledger: %" PRIu64 "\n",
		    rs->unstored, r->unchained);
	if (rs->wrong_key)
		fprintf(fp, "  does not verify with this key (another "
		    "deployment's key?): none of %" PRIu64 " links verified\n",
		    rs->altered);
	else if (rs->altered > 0) {
		fprintf(fp, "  altered: %" PRIu64 ":", rs->altered);
		for (i = 0; i < rs->n_altered; i++) {
			ledger_at_text(r, rs->altered_at[i].at, a, sizeof(a));
			fprintf(fp, "%s %s seq=%" PRIu64, i ? "," : "", a,
			    rs->altered_at[i].seq);
		}
		ledger_more(fp, rs->altered, rs->n_altered);
	} else
		fprintf(fp, "  altered: none\n");
	if (rs->conflicts > 0) {
		fprintf(fp, "  conflicts (one seq, two texts): %" PRIu64 ":",
		    rs->conflicts);
		for (i = 0; i < rs->n_conflicts; i++) {
			ledger_at_text(r, rs->conflict_at[i].first, a,
			    sizeof(a));
			ledger_at_text(r, rs->conflict_at[i].other, b,
			    sizeof(b));
			fprintf(fp, "%s seq=%" PRIu64 " %s vs %s", i ? "," : "",
			    rs->conflict_at[i].seq, a, b);
		}
		ledger_more(fp, rs->conflicts, rs->n_conflicts);
	}
	if (rs->reordered > 0) {
		fprintf(fp, "  reordered (not a failure): %" PRIu64 ":",
		    rs->reordered);
		for (i = 0; i < rs->n_reordered; i++) {
			ledger_at_text(r, rs->reorder_at[i].at, a, sizeof(a));
			fprintf(fp, "%s seq=%" PRIu64 " at %s after seq=%"
			    PRIu64, i ? "," : "", rs->reorder_at[i].seq, a,
			    rs->reorder_at[i].after_seq);
		}
		ledger_more(fp, rs->reordered, rs->n_reordered);
	}
	if (rs->cp_bad > 0) {
		fprintf(fp, "  checkpoint disagrees: %" PRIu64 ":", rs->cp_bad);
		for (i = 0; i < rs->n_cp_bad; i++) {
			ledger_at_text(r, rs->cp_bad_at[i].at, a, sizeof(a));
			fprintf(fp, "%s %s seq=%" PRIu64 " (through %" PRIu64
			    ")", i ? "," : "", a, rs->cp_bad_at[i].seq,
			    rs->cp_bad_at[i].through);
		}
		ledger_more(fp, rs->cp_bad, rs->n_cp_bad);
	}
	if (rs->has_cp)
		fprintf(fp, "  last checkpoint: seq %" PRIu64 " (through %"
		    PRIu64 ") at %s, reason %s, interval %lds\n", rs->cp_seq,
		    rs->cp_through, rs->cp_ts[0] != '\0' ? rs->cp_ts :
		    "(no timestamp)", rs->cp_reason[0] != '\0' ?
		    rs->cp_reason : "?", rs->cp_interval_s);
	else if (rs->claims > 0)
		fprintf(fp, "  last checkpoint: none (claims unconfirmed after "
		    "%lds count as overdue)\n", 2 * r->interval_s + 60);
	if (rs->unconfirmed > 0)
		fprintf(fp, "  unconfirmed: %" PRIu64 " claim%s after the last "
		    "checkpoint, the oldest at %s\n", rs->unconfirmed,
		    rs->unconfirmed == 1 ? "" : "s", rs->unconfirmed_ts[0] ?
		    rs->unconfirmed_ts : "(no timestamp)");
	if (rs->closed)
		fprintf(fp, "  closed: the stream ends with its stop "
		    "checkpoint\n");
	if (rs->overdue)
		fprintf(fp, "  checkpoint overdue: the ledger may have been "
		    "cut after seq %" PRIu64 "\n", rs->cut_after);
	fprintf(fp, "  => %s\n", rs->ok ? "OK" : "FAILED");
}

void
ledger_print(FILE *fp, const struct ledger_result *r)
{
	struct buf	 why;
	char		 a[4096];
	size_t		 i;

	fprintf(fp, "Ledger check for worker %s\n", r->worker);
	fprintf(fp, "files: %zu\n", r->n_files);
	for (i = 0; i < r->n_files; i++)
		fprintf(fp, "  %s: %" PRIu64 " lines\n", r->files[i].path,
		    r->files[i].lines);
	fprintf(fp, "lines: %" PRIu64 "; claims of %s: %" PRIu64 " (%" PRIu64
	    " sealed, %" PRIu64 " unchained); other workers: %" PRIu64
	    "; malformed: %" PRIu64 "; outside the window: %" PRIu64 "\n",
	    r->lines, r->worker, r->ours, r->sealed, r->unchained,
	    r->other_workers, r->malformed, r->outside);
	if (r->unchained > 0)
		fprintf(fp, "unchained claims carry no seal (replayed from the "
		    "proxy's fallback log, or an older version): not "
		    "verifiable\n");
	if (r->malformed > 0) {
		fprintf(fp, "malformed lines:");
		for (i = 0; i < r->n_malformed; i++) {
			ledger_at_text(r, r->malformed_at[i], a, sizeof(a));
			fprintf(fp, "%s %s", i ? "," : "", a);
		}
		ledger_more(fp, r->malformed, r->n_malformed);
	}
	fprintf(fp, "ledger ends: %s\n", r->end_ts[0] ? r->end_ts :
	    "(no timestamp)");
	if (r->has_state)
		fprintf(fp, "state: stream %s, last seq %" PRIu64 ", %" PRIu64
		    " of its claims in the spool\n", r->state_stream,
		    r->state_last_seq, r->spool_records);
	fprintf(fp, "streams: %zu\n", r->n_streams);
	for (i = 0; i < r->n_streams; i++)
		ledger_print_stream(fp, r, &r->streams[i]);
	fputc('\n', fp);
	if (r->ok) {
		fprintf(fp, "OK: complete and unaltered through the last "
		    "checkpoint\n");
		return;
	}
	if (r->n_streams == 0 && r->malformed == 0) {
		fprintf(fp, "FAILED: no sealed claims of worker %s in the "
		    "files%s\n", r->worker, r->outside > 0 ?
		    " within the window" : "");
		return;
	}
	if (r->pending_only) {
		fprintf(fp, "FAILED: the trail is incomplete only because %"
		    PRIu64 " claim%s %s still queued in the proxy's spool "
		    "(not yet delivered); check again later\n", r->pending,
		    r->pending == 1 ? "" : "s", r->pending == 1 ? "is" : "are");
		return;
	}
	buf_init(&why, 64 * 1024);
	if (r->malformed > 0)
		buf_printf(&why, "; %" PRIu64 " malformed line%s (not JSON, "
		    "readable two ways, or a sealed claim without a time)",
		    r->malformed, r->malformed == 1 ? "" : "s");
	if (r->too_many_streams)
		buf_printf(&why, "; more than %d streams (only the first "
		    "are checked: use --stream)", LEDGER_STREAMS_MAX);
	if (r->unreplayed)
		buf_printf(&why, "; the proxy could not store %" PRIu64
		    " claim%s (its checkpoints say so) and the ledger holds "
		    "only %" PRIu64 " unchained claims: run `mem0-audit-proxy "
		    "replay` on its log", r->unstored, r->unstored == 1 ? "" :
		    "s", r->unchained);
	/* The first few streams: a flood of forged ones is not printed. */
	for (i = 0; i < r->n_streams && why.len < 8192; i++)
		if (!r->streams[i].ok)
			ledger_stream_why(&why, &r->streams[i]);
	fprintf(fp, "FAILED: %s\n", why.len > 2 ? why.data + 2 :
	    "see above");
	buf_free(&why);
}

/* cJSON helpers that tolerate NULL (out of memory is checked once). */
static void
ledger_jnum(cJSON *o, const char *k, uint64_t v)
{
	cJSON_AddNumberToObject(o, k, (double)v);
}

static cJSON *
ledger_jat(const struct ledger_result *r, struct ledger_at at)
{
	char	 a[4096];

	ledger_at_text(r, at, a, sizeof(a));
	return (cJSON_CreateString(a));
}

static cJSON *
ledger_json_stream(const struct ledger_result *r,
    const struct ledger_stream *rs)
{
	cJSON	*o, *l, *x, *cp;
	size_t	 i;

	if ((o = cJSON_CreateObject()) == NULL)
		return (NULL);
	cJSON_AddStringToObject(o, "stream", rs->id);
	cJSON_AddBoolToObject(o, "this_proxy", rs->this_proxy);
	cJSON_AddBoolToObject(o, "ok", rs->ok);
	ledger_jnum(o, "first_seq", rs->first_seq);
	ledger_jnum(o, "last_seq", rs->last_seq);
	ledger_jnum(o, "claims", rs->claims);
	ledger_jnum(o, "verified", rs->verified);
	ledger_jnum(o, "duplicates", rs->duplicates);
	ledger_jnum(o, "unlinked", rs->unlinked);
	ledger_jnum(o, "gap_ranges", rs->gap_ranges);
	ledger_jnum(o, "missing", rs->missing);
	ledger_jnum(o, "pending", rs->pending);
	ledger_jnum(o, "acked_missing", rs->acked_missing);
	ledger_jnum(o, "voided", rs->voided);
	ledger_jnum(o, "unstored", rs->unstored);
	l = cJSON_AddArrayToObject(o, "gaps");
	for (i = 0; l != NULL && i < rs->n_gaps; i++) {
		x = cJSON_CreateObject();
		ledger_jnum(x, "from", rs->gaps[i].from);
		ledger_jnum(x, "to", rs->gaps[i].to);
		cJSON_AddStringToObject(x, "kind",
		    ledger_gap_kind_key(rs->gaps[i].kind));
		cJSON_AddItemToArray(l, x);
	}
	cJSON_AddBoolToObject(o, "wrong_key", rs->wrong_key);
	ledger_jnum(o, "altered", rs->altered);
	l = cJSON_AddArrayToObject(o, "altered_at");
	for (i = 0; l != NULL && i < rs->n_altered; i++) {
		x = cJSON_CreateObject();
		ledger_jnum(x, "seq", rs->altered_at[i].seq);
		cJSON_AddItemToObject(x, "at", ledger_jat(r,
		    rs->altered_at[i].at));
		cJSON_AddItemToArray(l, x);
	}
	ledger_jnum(o, "conflicts", rs->conflicts);
	l = cJSON_AddArrayToObject(o, "conflict_at");
	for (i = 0; l != NULL && i < rs->n_conflicts; i++) {
		x = cJSON_CreateObject();
		ledger_jnum(x, "seq", rs->conflict_at[i].seq);
		cJSON_AddItemToObject(x, "first", ledger_jat(r,
		    rs->conflict_at[i].first));
		cJSON_AddItemToObject(x, "other", ledger_jat(r,
		    rs->conflict_at[i].other));
		cJSON_AddItemToArray(l, x);
	}
	ledger_jnum(o, "reordered", rs->reordered);
	l = cJSON_AddArrayToObject(o, "reordered_at");
	for (i = 0; l != NULL && i < rs->n_reordered; i++) {
		x = cJSON_CreateObject();
		ledger_jnum(x, "seq", rs->reorder_at[i].seq);
		ledger_jnum(x, "after_seq", rs->reorder_at[i].after_seq);
		cJSON_AddItemToObject(x, "at", ledger_jat(r,
		    rs->reorder_at[i].at));
		cJSON_AddItemToArray(l, x);
	}
	ledger_jnum(o, "checkpoint_disagrees", rs->cp_bad);
	l = cJSON_AddArrayToObject(o, "checkpoint_disagrees_at");
	for (i = 0; l != NULL && i < rs->n_cp_bad; i++) {
		x = cJSON_CreateObject();
		ledger_jnum(x, "seq", rs->cp_bad_at[i].seq);
		ledger_jnum(x, "through", rs->cp_bad_at[i].through);
		cJSON_AddItemToObject(x, "at", ledger_jat(r,
		    rs->cp_bad_at[i].at));
		cJSON_AddItemToArray(l, x);
	}
	if (rs->has_cp && (cp = cJSON_AddObjectToObject(o,
	    "last_checkpoint")) != NULL) {
		ledger_jnum(cp, "seq", rs->cp_seq);
		ledger_jnum(cp, "through", rs->cp_through);
		cJSON_AddStringToObject(cp, "timestamp", rs->cp_ts);
		cJSON_AddStringToObject(cp, "reason", rs->cp_reason);
		cJSON_AddNumberToObject(cp, "every", (double)rs->cp_every);
		cJSON_AddNumberToObject(cp, "interval_s",
		    (double)rs->cp_interval_s);
		cJSON_AddItemToObject(cp, "at", ledger_jat(r, rs->cp_at));
	} else
		cJSON_AddNullToObject(o, "last_checkpoint");
	ledger_jnum(o, "unconfirmed", rs->unconfirmed);
	if (rs->unconfirmed > 0)
		cJSON_AddStringToObject(o, "unconfirmed_since",
		    rs->unconfirmed_ts);
	else
		cJSON_AddNullToObject(o, "unconfirmed_since");
	cJSON_AddBoolToObject(o, "closed", rs->closed);
	cJSON_AddBoolToObject(o, "overdue", rs->overdue);
	if (rs->overdue)
		ledger_jnum(o, "cut_after_seq", rs->cut_after);
	else
		cJSON_AddNullToObject(o, "cut_after_seq");
	return (o);
}

int
ledger_print_json(FILE *fp, const struct ledger_result *r)
{
	cJSON	*o, *l, *x;
	char	*text;
	size_t	 i;
	int	 rc = -1;

	if ((o = cJSON_CreateObject()) == NULL)
		return (-1);
	cJSON_AddBoolToObject(o, "ok", r->ok);
	cJSON_AddBoolToObject(o, "pending_only", r->pending_only);
	cJSON_AddStringToObject(o, "worker", r->worker);
	l = cJSON_AddArrayToObject(o, "files");
	for (i = 0; l != NULL && i < r->n_files; i++) {
		x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "path", r->files[i].path);
		ledger_jnum(x, "lines", r->files[i].lines);
		cJSON_AddItemToArray(l, x);
	}
	ledger_jnum(o, "lines", r->lines);
	ledger_jnum(o, "our_claims", r->ours);
	ledger_jnum(o, "sealed", r->sealed);
	ledger_jnum(o, "unchained", r->unchained);
	ledger_jnum(o, "outside_window", r->outside);
	ledger_jnum(o, "other_workers", r->other_workers);
	ledger_jnum(o, "malformed", r->malformed);
	ledger_jnum(o, "other_streams", r->other_streams);
	ledger_jnum(o, "unstored", r->unstored);
	cJSON_AddBoolToObject(o, "unreplayed", r->unreplayed);
	cJSON_AddBoolToObject(o, "too_many_streams", r->too_many_streams);
	l = cJSON_AddArrayToObject(o, "malformed_at");
	for (i = 0; l != NULL && i < r->n_malformed; i++)
		cJSON_AddItemToArray(l, ledger_jat(r, r->malformed_at[i]));
	if (r->end_ts[0] != '\0')
		cJSON_AddStringToObject(o, "ledger_end", r->end_ts);
	else
		cJSON_AddNullToObject(o, "ledger_end");
	if (r->has_state && (x = cJSON_AddObjectToObject(o, "state")) !=
	    NULL) {
		cJSON_AddStringToObject(x, "stream", r->state_stream);
		ledger_jnum(x, "last_seq", r->state_last_seq);
		ledger_jnum(x, "spool_records", r->spool_records);
	} else
		cJSON_AddNullToObject(o, "state");
	ledger_jnum(o, "pending", r->pending);
	l = cJSON_AddArrayToObject(o, "streams");
	for (i = 0; l != NULL && i < r->n_streams; i++)
		cJSON_AddItemToArray(l, ledger_json_stream(r, &r->streams[i]));
	if ((text = cJSON_PrintUnformatted(o)) != NULL) {
		if (fprintf(fp, "%s\n", text) > 0)
			rc = 0;
		cJSON_free(text);
	}
	cJSON_Delete(o);
	return (rc);
}

/* -- trail -------------------------------------------------------------- */

int
ledger_names(const char *text, size_t len, const char *pseudo)
{
	const char	*p = text, *end = text + len, *q;
	size_t		 n = strlen(pseudo);
	char		 c;

	if (n == 0)
		return (0);
	while ((q = memmem(p, (size_t)(end - p), pseudo, n)) != NULL) {
		p = q + 1;
		if (q > text) {
			c = q[-1];
			if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			    (c >= 'A' && c <= 'Z') || c == '_' || c == ':')
				continue;
		}
		if (q + n < end && ledger_hexval(q[n]) != -1)
			continue;
		return (1);
	}
	return (0);
}

/*
 * A set of short strings (memory ids, "stream/seq" keys) for
 * ledger_trail(): open addressing, grows at half full. Bounded by the
 * ledger: one entry per id or claim of the trail.
 */
struct ledger_set {
	char	**slot;
	size_t	 cap;
	size_t	 n;
};

static uint64_t
ledger_set_hash(const char *p, size_t n)
{
	uint64_t	 h = 1469598103934665603ULL;	/* FNV-1a */
	size_t		 i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
	return (h);
}

/* 1 if p[0..n) is in the set. */
static int
ledger_set_has(const struct ledger_set *st, const char *p, size_t n)
{
	size_t	 i;

	if (st->cap == 0)
		return (0);
	for (i = ledger_set_hash(p, n) & (st->cap - 1); st->slot[i] != NULL;
	    i = (i + 1) & (st->cap - 1))
		if (strlen(st->slot[i]) == n && memcmp(st->slot[i], p, n) == 0)
			return (1);
	return (0);
}

/* Add p[0..n) (copied): 1 added, 0 there already, -1 out of memory. */
static int
ledger_set_add(struct ledger_set *st, const char *p, size_t n)
{
	struct ledger_set	 big;
	size_t			 i, j;

	if (ledger_set_has(st, p, n))
		return (0);
	if (2 * (st->n + 1) > st->cap) {
		big.cap = st->cap ? st->cap * 2 : 256;
		big.n = st->n;
		if ((big.slot = calloc(big.cap, sizeof(*big.slot))) == NULL)
			return (-1);
		for (i = 0; i < st->cap; i++) {
			if (st->slot[i] == NULL)
				continue;
			for (j = ledger_set_hash(st->slot[i],
			    strlen(st->slot[i])) & (big.cap - 1);
			    big.slot[j] != NULL; j = (j + 1) & (big.cap - 1))
				;
			big.slot[j] = st->slot[i];
		}
		free(st->slot);
		*st = big;
	}
	for (i = ledger_set_hash(p, n) & (st->cap - 1); st->slot[i] != NULL;
	    i = (i + 1) & (st->cap - 1))
		;
	if ((st->slot[i] = malloc(n + 1)) == NULL)
		return (-1);
	memcpy(st->slot[i], p, n);
	st->slot[i][n] = '\0';
	st->n++;
	return (1);
}

static void
ledger_set_free(struct ledger_set *st)
{
	size_t	 i;

	for (i = 0; i < st->cap; i++)
		free(st->slot[i]);
	free(st->slot);
	memset(st, 0, sizeof(*st));
}

/*
 * The memory ids a claim's sentence names (the part before " ["): UUIDs,
 * opaque hex ids of 8 or more characters, "m:" pseudonyms. fn(arg, p, n)
 * for each; it returns 1 to stop (the answer), -1 on error, else 0.
 */
static int
ledger_memory_ids(const char *claim, int (*fn)(void *, const char *, size_t),
    void *arg)
{
	const char	*end = strstr(claim, " [op="), *p = claim, *q;
	size_t		 n;
	int		 rc;

	if (end == NULL)
		end = claim + strlen(claim);
	while (p < end) {
		while (p < end && (*p == ' ' || *p == ','))
			p++;
		for (q = p; q < end && *q != ' ' && *q != ','; q++)
			;
		n = (size_t)(q - p);
		while (n > 0 && (p[n - 1] == '.' || p[n - 1] == ':'))
			n--;
		if ((n == 10 && p[0] == 'm' && p[1] == ':' &&
		    ledger_hexval(p[2]) != -1) || (n >= 8 &&
		    claim_id_is_opaque(p, n))) {
			if ((rc = fn(arg, p, n)) != 0)
				return (rc);
		}
		p = q;
	}
	return (0);
}

/*
 * An id in lower case into out (at least 129 bytes): Mem0 takes a UUID
 * in any case, so one memory may be named in several spellings. 0, or
 * -1 when it is too long to be an id.
 */
static int
ledger_id_lower(const char *p, size_t n, char *out)
{
	size_t	 i, k = 0, hex = 0;

	if (n > 128)
		return (-1);
	for (i = 0; i < n; i++) {
		out[i] = (p[i] >= 'A' && p[i] <= 'Z') ? (char)(p[i] - 'A' +
		    'a') : p[i];
		hex += ledger_hexval(p[i]) != -1;
	}
	out[n] = '\0';
	/* A UUID with or without its dashes: the 32 digits. */
	if (hex == 32 && n <= 36) {
		for (i = 0; i < n; i++)
			if (out[i] != '-')
				out[k++] = out[i];
		if (k == 32)
			out[k] = '\0';
	}
	return (0);
}

static int
ledger_collect_id(void *arg, const char *p, size_t n)
{
	char	 id[129];

	if (ledger_id_lower(p, n, id) == -1)
		return (0);
	return (ledger_set_add(arg, id, strlen(id)) == -1 ? -1 : 0);
}

static int
ledger_known_id(void *arg, const char *p, size_t n)
{
	char	 id[129];

	return (ledger_id_lower(p, n, id) == 0 && ledger_set_has(arg, id,
	    strlen(id)));
}

/*
 * One pass of ledger_trail() over the files. collect: gather the memory
 * ids of the claims naming pseudo into ids; else report the claims that
 * name pseudo or one of ids, each sealed claim once (seen). Returns the
 * hits, or -1 with err.
 */
static long
ledger_trail_pass(const char *pseudo, const char *since, const char *until,
    const char *const *files, size_t n, int collect, struct ledger_set *ids,
    struct ledger_set *seen, void (*fn)(void *, const struct ledger_hit *),
    void *arg, char *buf, char *err, size_t errlen)
{
	struct ledger_hit	 h;
	struct chain_seal	 s;
	const char		*claim, *ts, *wk;
	cJSON			*j;
	gzFile			 g;
	char			 key[CHAIN_STREAM_LEN + 24];
	size_t			 f, len;
	uint64_t		 line;
	long			 hits = 0;
	int			 rc, toolong, user, mem;

	for (f = 0; f < n; f++) {
		if ((g = ledger_open(files[f], err, errlen)) == NULL)
			return (-1);
		for (line = 1;; line++) {
			rc = ledger_getline(g, files[f], buf, &len, &toolong,
			    err, errlen);
			if (rc == -1) {
				gzclose(g);
				return (-1);
			}
			if (rc == 0)
				break;
			/* Cheap: most lines name neither. */
			if (toolong || len == 0 || ((collect || ids->n == 0) &&
			    memmem(buf, len, pseudo, strlen(pseudo)) == NULL))
				continue;
			if ((j = ledger_json_line(buf, len)) == NULL)
				continue;
			claim = ledger_str(j, "claim");
			ts = ledger_str(j, "timestamp");
			wk = ledger_str(j, "worker_id");
			rc = 0;
			/* Memories stored before the window count too. */
			if (claim == NULL || (!collect && ledger_window(since,
			    until, ts) != 1))
				goto next;
			user = ledger_names(claim, strlen(claim), pseudo);
			if (collect) {
				if (user && ledger_memory_ids(claim,
				    ledger_collect_id, ids) == -1)
					rc = -1;
				goto next;
			}
			mem = !user && ledger_memory_ids(claim,
			    ledger_known_id, ids) == 1;
			if (!user && !mem)
				goto next;
			memset(&h, 0, sizeof(h));
			if (chain_parse(claim, strlen(claim), &s)) {
				/* A redelivered claim is one claim. */
				snprintf(key, sizeof(key), "%s/%" PRIu64,
				    s.stream, s.seq);
				if ((rc = ledger_set_add(seen, key,
				    strlen(key))) != 1)
					goto next;
				rc = 0;
				h.sealed = 1;
				memcpy(h.stream, s.stream, sizeof(h.stream));
				h.seq = s.seq;
			}
			h.timestamp = ts != NULL ? ts : "";
			h.worker = wk != NULL ? wk : "";
			h.claim = claim;
			h.claim_len = strlen(claim);
			h.by_memory = mem;
			h.file = files[f];
			h.line = line;
			fn(arg, &h);
			hits++;
next:
			cJSON_Delete(j);
			if (rc == -1) {
				gzclose(g);
				snprintf(err, errlen, "out of memory");
				return (-1);
			}
		}
		gzclose(g);
	}
	return (hits);
}

long
ledger_trail(const char *pseudo, const char *since, const char *until,
    const char *const *files, size_t n,
    void (*fn)(void *arg, const struct ledger_hit *h), void *arg,
    char *err, size_t errlen)
{
	struct ledger_set	 ids, seen;
	char			*buf;
	long			 hits = -1;

	memset(&ids, 0, sizeof(ids));
	memset(&seen, 0, sizeof(seen));
	if ((buf = malloc(LEDGER_LINE_MAX + 2)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	/* First the memories stored for the entity, then every claim
	 * naming the entity or one of them. */
	if (ledger_trail_pass(pseudo, since, until, files, n, 1, &ids, &seen,
	    fn, arg, buf, err, errlen) != -1)
		hits = ledger_trail_pass(pseudo, since, until, files, n, 0,
		    &ids, &seen, fn, arg, buf, err, errlen);
	ledger_set_free(&ids);
	ledger_set_free(&seen);
	free(buf);
	return (hits);
}

void
ledger_trail_print(void *arg, const struct ledger_hit *h)
{
	struct ledger_trail_out	*out = arg;
	cJSON			*o;
	char			*text;
	size_t			 i;

	if (!out->json) {
		fprintf(out->fp, "%s  ", h->timestamp[0] != '\0' ?
		    h->timestamp : "-");
		if (h->sealed)
			fprintf(out->fp, "%s/%" PRIu64 "  ", h->stream, h->seq);
		else
			fputs("-  ", out->fp);
		for (i = 0; i < h->claim_len; i++)
			fputc((unsigned char)h->claim[i] < 0x20 ||
			    h->claim[i] == 0x7f ? '?' : h->claim[i], out->fp);
		fputc('\n', out->fp);
		out->n++;
		return;
	}
	if ((o = cJSON_CreateObject()) == NULL)
		return;
	cJSON_AddStringToObject(o, "timestamp", h->timestamp);
	cJSON_AddStringToObject(o, "worker_id", h->worker);
	if (h->sealed) {
		cJSON_AddStringToObject(o, "stream", h->stream);
		cJSON_AddNumberToObject(o, "seq", (double)h->seq);
	} else {
		cJSON_AddNullToObject(o, "stream");
		cJSON_AddNullToObject(o, "seq");
	}
	cJSON_AddStringToObject(o, "claim", h->claim);
	cJSON_AddStringToObject(o, "match", h->by_memory ? "memory" :
	    "entity");
	cJSON_AddStringToObject(o, "file", h->file);
	cJSON_AddNumberToObject(o, "line", (double)h->line);
	if ((text = cJSON_PrintUnformatted(o)) != NULL) {
		fprintf(out->fp, "%s\n%s", out->n == 0 ? "[" : ",", text);
		cJSON_free(text);
		out->n++;
	}
	cJSON_Delete(o);
}

void
ledger_trail_end(struct ledger_trail_out *out)
{
	if (out->json)
		fputs(out->n == 0 ? "[]\n" : "\n]\n", out->fp);
}
