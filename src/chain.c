/*
 * chain: the keyed chain over the claims. See chain.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "chain.h"

#define CHAIN_FILE	"chain"
#define CHAIN_MAGIC	"mem0-audit-proxy chain 1\n"
#define CHAIN_SLOT	256

struct chain {
	struct chain_key	 key;
	int			 dfd;		/* the state directory */
	int			 fd;		/* its chain file */
	uint64_t		 gen;		/* saves, for the slots */
	pthread_mutex_t		 mu;		/* seq, mac (chain_save
						   runs on another thread) */
	char			 stream[CHAIN_STREAM_LEN + 1];
	uint64_t		 seq;		/* last seq handed out */
	char			 mac[CHAIN_MAC_LEN + 1];
};

static const char chain_zero[CHAIN_MAC_LEN + 1] =
    "00000000000000000000000000000000";

void
chain_key_derive(struct chain_key *ck, const struct anon *a)
{
	static const char	 label[] = "mem0-audit-proxy chain key v1";
	unsigned int		 n = sizeof(ck->k);

	if (HMAC(EVP_sha256(), a->key, (int)a->key_len,
	    (const unsigned char *)label, sizeof(label) - 1, ck->k, &n) ==
	    NULL)
		abort();	/* only when libcrypto cannot do SHA-256 */
}

static void
chain_hex(const unsigned char *p, size_t n, char *out)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

void
chain_mac(const struct chain_key *ck, const char *prev, const char *body,
    size_t len, char *out)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE], small[4096], *in = small;
	unsigned int	 n = 0;
	size_t		 total = CHAIN_MAC_LEN + 1 + len;

	/* One-shot HMAC() over prev "\n" body: HMAC_CTX is deprecated. */
	if (total > sizeof(small) && (in = malloc(total)) == NULL)
		abort();	/* nothing sane to seal or check with */
	memcpy(in, prev, CHAIN_MAC_LEN);
	in[CHAIN_MAC_LEN] = '\n';
	memcpy(in + CHAIN_MAC_LEN + 1, body, len);
	if (HMAC(EVP_sha256(), ck->k, (int)sizeof(ck->k), in, total, mac,
	    &n) == NULL || n < CHAIN_MAC_LEN / 2)
		abort();
	if (in != small)
		free(in);
	chain_hex(mac, CHAIN_MAC_LEN / 2, out);
}

static int
chain_is_hex(const char *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		    (p[i] >= 'a' && p[i] <= 'f')))
			return (0);
	return (1);
}

/* A decimal without sign or leading zero, 1..UINT64_MAX-1: 1, else 0. */
static int
chain_parse_seq(const char *p, size_t n, uint64_t *v)
{
	uint64_t	 x = 0;
	size_t		 i;

	if (n == 0 || n > 19 || p[0] == '0')
		return (0);
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return (0);
		x = x * 10 + (uint64_t)(p[i] - '0');
	}
	*v = x;
	return (1);
}

int
chain_parse(const char *claim, size_t len, struct chain_seal *s)
{
	const char	*end, *p, *q;
	size_t		 i;

	/* ... " stream=" 16 " seq=" digits " chain=" 32 "]" */
	if (len < 1 + 7 + CHAIN_MAC_LEN || claim[len - 1] != ']')
		return (0);
	end = claim + len - 1;
	p = end - CHAIN_MAC_LEN;
	if (memcmp(p - 7, " chain=", 7) != 0 || !chain_is_hex(p,
	    CHAIN_MAC_LEN))
		return (0);
	memcpy(s->mac, p, CHAIN_MAC_LEN);
	s->mac[CHAIN_MAC_LEN] = '\0';
	s->body_len = (size_t)(p - 7 - claim);
	/* The digits of seq, backwards to " seq=". */
	q = p - 7;
	for (i = 0; i < 20 && q - i > claim && q[-1 - (long)i] >= '0' &&
	    q[-1 - (long)i] <= '9'; i++)
		;
	p = q - i;
	if (p - claim < 5 + CHAIN_STREAM_LEN + 8 ||
	    memcmp(p - 5, " seq=", 5) != 0 || !chain_parse_seq(p, i, &s->seq))
		return (0);
	p -= 5 + CHAIN_STREAM_LEN;
	if (memcmp(p - 8, " stream=", 8) != 0 || !chain_is_hex(p,
	    CHAIN_STREAM_LEN))
		return (0);
	memcpy(s->stream, p, CHAIN_STREAM_LEN);
	s->stream[CHAIN_STREAM_LEN] = '\0';
	s->text_len = (size_t)(p - 8 - claim);
	return (1);
}

/* The value of "name=" inside the bracketed tail [tail, end), or NULL. */
static const char *
chain_tail_value(const char *tail, const char *end, const char *name,
    size_t *vlen)
{
	size_t		 n = strlen(name);
	const char	*p, *v;

	for (p = tail; p + n + 1 <= end; p++) {
		if ((p[-1] != ' ' && p[-1] != '[') || memcmp(p, name, n) != 0 ||
		    p[n] != '=')
			continue;
		v = p + n + 1;
		for (p = v; p < end && *p != ' ' && *p != ']'; p++)
			;
		*vlen = (size_t)(p - v);
		return (v);
	}
	return (NULL);
}

static long
chain_small_number(const char *p, size_t n)
{
	long	 v = 0;
	size_t	 i;

	if (n == 0 || n > 9)
		return (-1);
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return (-1);
		v = v * 10 + (p[i] - '0');
	}
	return (v);
}

int
chain_parse_checkpoint(const char *claim, size_t len,
    struct chain_checkpoint *cp)
{
	static const char	 head[] = "Checkpoint of stream ";
	const char		*p, *end = claim + len, *tail, *v;
	size_t			 n;

	if (len < sizeof(head) || memcmp(claim, head, sizeof(head) - 1) != 0)
		return (0);
	p = claim + sizeof(head) - 1 + CHAIN_STREAM_LEN;
	if (p + 15 > end || memcmp(p, ": through seq ", 14) != 0)
		return (0);
	p += 14;
	for (n = 0; p + n < end && p[n] >= '0' && p[n] <= '9'; n++)
		;
	cp->through = 0;
	if (!(n == 1 && p[0] == '0') && !chain_parse_seq(p, n, &cp->through))
		return (0);
	p += n;
	if (p + 7 + CHAIN_MAC_LEN + 2 > end || memcmp(p, " chain ", 7) != 0 ||
	    !chain_is_hex(p + 7, CHAIN_MAC_LEN) ||
	    memcmp(p + 7 + CHAIN_MAC_LEN, " [", 2) != 0)
		return (0);
	memcpy(cp->mac, p + 7, CHAIN_MAC_LEN);
	cp->mac[CHAIN_MAC_LEN] = '\0';
	tail = p + 7 + CHAIN_MAC_LEN + 2;
	if ((v = chain_tail_value(tail, end, "op", &n)) == NULL || n != 10 ||
	    memcmp(v, "checkpoint", 10) != 0)
		return (0);
	cp->reason[0] = '\0';
	if ((v = chain_tail_value(tail, end, "reason", &n)) != NULL &&
	    n < sizeof(cp->reason)) {
		memcpy(cp->reason, v, n);
		cp->reason[n] = '\0';
	}
	cp->every = cp->interval_s = -1;
	if ((v = chain_tail_value(tail, end, "every", &n)) != NULL)
		cp->every = chain_small_number(v, n);
	if ((v = chain_tail_value(tail, end, "interval", &n)) != NULL &&
	    n > 1 && v[n - 1] == 's')
		cp->interval_s = chain_small_number(v, n - 1);
	cp->unstored = 0;
	if ((v = chain_tail_value(tail, end, "unstored", &n)) != NULL &&
	    (cp->unstored = chain_small_number(v, n)) < 0)
		cp->unstored = 0;
	cp->voided = chain_tail_value(tail, end, "voided", &cp->voided_len);
	if (cp->voided != NULL && cp->voided_len == 0)
		cp->voided = NULL;
	return (1);
}

/*
 * The state file: two slots of CHAIN_SLOT bytes, written in turn in
 * place (pwrite, fdatasync: no new block, no rename, so it works on a
 * full disk), each "magic, stream, seq, chain, gen, mac" and NUL padding,
 * the mac over the text before it with the chain key. The valid slot
 * with the higher gen wins: a torn write loses one save, never both.
 */
struct chain_state {
	char		 stream[CHAIN_STREAM_LEN + 1];
	uint64_t	 seq;
	char		 mac[CHAIN_MAC_LEN + 1];
	uint64_t	 gen;
};

static int
chain_slot_parse(const struct chain_key *ck, const char *slot,
    struct chain_state *st)
{
	char		 text[CHAIN_SLOT + 1], want[CHAIN_MAC_LEN + 1];
	char		 got[CHAIN_MAC_LEN + 1];
	const char	*m;
	size_t		 len;
	int		 n = 0;

	memcpy(text, slot, CHAIN_SLOT);
	text[CHAIN_SLOT] = '\0';
	len = strlen(text);
	if (len < sizeof(CHAIN_MAGIC) || memcmp(text, CHAIN_MAGIC,
	    sizeof(CHAIN_MAGIC) - 1) != 0 || (m = strstr(text, "\nmac ")) ==
	    NULL)
		return (-1);
	m++;
	if (sscanf(m, "mac %32[0-9a-f]\n%n", got, &n) != 1 ||
	    (size_t)(m - text) + (size_t)n != len ||
	    strlen(got) != CHAIN_MAC_LEN)
		return (-1);
	chain_mac(ck, chain_zero, text, (size_t)(m - text), want);
	if (strcmp(want, got) != 0)
		return (-1);
	if (sscanf(text + sizeof(CHAIN_MAGIC) - 1,
	    "stream %16[0-9a-f]\nseq %" SCNu64 "\nchain %32[0-9a-f]\n"
	    "gen %" SCNu64 "\n", st->stream, &st->seq, st->mac, &st->gen) !=
	    4 || strlen(st->stream) != CHAIN_STREAM_LEN ||
	    strlen(st->mac) != CHAIN_MAC_LEN)
		return (-1);
	return (0);
}

/* Read the state file fd: 0 and *st, or -1 (short, damaged, other key). */
static int
chain_read_state(int fd, const struct chain_key *ck, struct chain_state *st)
{
	char			 both[2 * CHAIN_SLOT];
	struct chain_state	 s[2];
	ssize_t			 n;
	int			 ok0, ok1;

	n = pread(fd, both, sizeof(both), 0);
	if (n != (ssize_t)sizeof(both))
		return (-1);
	ok0 = chain_slot_parse(ck, both, &s[0]) == 0;
	ok1 = chain_slot_parse(ck, both + CHAIN_SLOT, &s[1]) == 0;
	if (ok0 && (!ok1 || s[0].gen >= s[1].gen))
		*st = s[0];
	else if (ok1)
		*st = s[1];
	else
		return (-1);
	return (0);
}

/* Format one slot of state into slot (CHAIN_SLOT bytes). */
static void
chain_slot_format(const struct chain_key *ck, const struct chain_state *st,
    char *slot)
{
	char	 mac[CHAIN_MAC_LEN + 1];
	int	 n;

	memset(slot, 0, CHAIN_SLOT);
	n = snprintf(slot, CHAIN_SLOT, CHAIN_MAGIC "stream %s\nseq %" PRIu64
	    "\nchain %s\ngen %" PRIu64 "\n", st->stream, st->seq, st->mac,
	    st->gen);
	chain_mac(ck, chain_zero, slot, (size_t)n, mac);
	snprintf(slot + n, CHAIN_SLOT - (size_t)n, "mac %s\n", mac);
}

int
chain_save(struct chain *c)
{
	struct chain_state	 st;
	char			 slot[CHAIN_SLOT];

	pthread_mutex_lock(&c->mu);
	memcpy(st.stream, c->stream, sizeof(st.stream));
	st.seq = c->seq;
	memcpy(st.mac, c->mac, sizeof(st.mac));
	st.gen = ++c->gen;
	chain_slot_format(&c->key, &st, slot);
	/* Under the lock: two saves never write the same slot at once. */
	if (pwrite(c->fd, slot, CHAIN_SLOT, (off_t)(st.gen % 2) *
	    CHAIN_SLOT) != CHAIN_SLOT) {
		pthread_mutex_unlock(&c->mu);
		if (errno == 0)
			errno = EIO;
		return (-1);
	}
	pthread_mutex_unlock(&c->mu);
	return (fdatasync(c->fd));
}

/* A new stream: random id, seq 0. 0, or -1 when there is no randomness. */
static int
chain_new_stream(struct chain *c)
{
	unsigned char	 r[CHAIN_STREAM_LEN / 2];

	if (RAND_bytes(r, sizeof(r)) != 1)
		return (-1);
	chain_hex(r, sizeof(r), c->stream);
	c->seq = 0;
	memcpy(c->mac, chain_zero, sizeof(c->mac));
	return (0);
}

int
chain_open(struct chain **out, const char *dir, const struct anon *a,
    const char **note, char *err, size_t errlen)
{
	struct chain		*c;
	struct chain_state	 st;
	char			 zeros[2 * CHAIN_SLOT];
	int			 fresh = 0;

	*note = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	c->fd = -1;
	chain_key_derive(&c->key, a);
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		snprintf(err, errlen, "cannot create a mutex");
		goto out_free;
	}
	if ((c->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "chain: cannot open %s: %s", dir,
		    strerror(errno));
		goto out_mutex;
	}
	c->fd = openat(c->dfd, CHAIN_FILE, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (c->fd == -1 && errno == ENOENT) {
		c->fd = openat(c->dfd, CHAIN_FILE, O_RDWR | O_CREAT | O_EXCL |
		    O_CLOEXEC | O_NOFOLLOW, 0600);
		fresh = 1;
	}
	if (c->fd == -1) {
		snprintf(err, errlen, "chain: cannot open %s/%s: %s", dir,
		    CHAIN_FILE, strerror(errno));
		goto out_dir;
	}
	if (!fresh && chain_read_state(c->fd, &c->key, &st) == 0) {
		memcpy(c->stream, st.stream, sizeof(c->stream));
		memcpy(c->mac, st.mac, sizeof(c->mac));
		c->seq = st.seq;
		c->gen = st.gen;
	} else {
		if (!fresh)
			*note = "the state of the previous stream could not "
			    "be read back (damaged, or made with another key)";
		if (chain_new_stream(c) == -1) {
			snprintf(err, errlen, "chain: no random bytes for a "
			    "stream id");
			goto out_file;
		}
		/* Both slots exist before the first in-place save. */
		memset(zeros, 0, sizeof(zeros));
		if (pwrite(c->fd, zeros, sizeof(zeros), 0) !=
		    (ssize_t)sizeof(zeros) || chain_save(c) == -1 ||
		    fsync(c->fd) == -1 || fsync(c->dfd) == -1) {
			snprintf(err, errlen, "chain: cannot write %s/%s: %s",
			    dir, CHAIN_FILE, strerror(errno != 0 ? errno :
			    EIO));
			goto out_file;
		}
	}
	*out = c;
	return (0);

out_file:
	close(c->fd);
out_dir:
	close(c->dfd);
out_mutex:
	pthread_mutex_destroy(&c->mu);
out_free:
	OPENSSL_cleanse(&c->key, sizeof(c->key));
	free(c);
	return (-1);
}

int
chain_peek(const char *dir, const struct anon *a,
    char stream[CHAIN_STREAM_LEN + 1], uint64_t *last_seq, char *err,
    size_t errlen)
{
	struct chain_key	 ck;
	struct chain_state	 st;
	int			 dfd, fd, rc;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (fd = openat(dfd, CHAIN_FILE, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1) {
		snprintf(err, errlen, "cannot open %s/%s: %s", dir, CHAIN_FILE,
		    strerror(errno));
		if (dfd != -1)
			close(dfd);
		return (-1);
	}
	chain_key_derive(&ck, a);
	rc = chain_read_state(fd, &ck, &st);
	OPENSSL_cleanse(&ck, sizeof(ck));
	close(fd);
	close(dfd);
	if (rc == -1) {
		snprintf(err, errlen, "%s/%s is damaged or was made with "
		    "another key", dir, CHAIN_FILE);
		return (-1);
	}
	memcpy(stream, st.stream, CHAIN_STREAM_LEN + 1);
	*last_seq = st.seq;
	return (0);
}

void
chain_observe(struct chain *c, const char *rec, size_t len)
{
	struct chain_seal	 s;

	if (!chain_parse(rec, len, &s) || strcmp(s.stream, c->stream) != 0)
		return;
	pthread_mutex_lock(&c->mu);
	if (s.seq > c->seq) {
		c->seq = s.seq;
		memcpy(c->mac, s.mac, sizeof(c->mac));
	}
	pthread_mutex_unlock(&c->mu);
}

int
chain_seal(struct chain *c, const char *text, size_t len, struct buf *out,
    uint64_t *seq)
{
	char	 prev[CHAIN_MAC_LEN + 1], mac[CHAIN_MAC_LEN + 1];
	size_t	 start = out->len;
	uint64_t n;

	if (len == 0 || text[len - 1] != ']')
		return (-1);
	pthread_mutex_lock(&c->mu);
	n = c->seq + 1;
	memcpy(prev, c->mac, sizeof(prev));
	pthread_mutex_unlock(&c->mu);
	if (buf_append(out, text, len - 1) == -1 ||
	    buf_printf(out, " stream=%s seq=%" PRIu64, c->stream, n) == -1)
		goto out_undo;
	chain_mac(&c->key, prev, out->data + start, out->len - start, mac);
	if (buf_printf(out, " chain=%s]", mac) == -1)
		goto out_undo;
	*seq = n;
	return (0);

out_undo:
	buf_truncate(out, start);
	return (-1);
}

void
chain_advance(struct chain *c, const char *sealed, size_t len)
{
	chain_observe(c, sealed, len);
}

int
chain_checkpoint_text(struct chain *c, struct buf *out,
    const char *reason, long every, long interval_s, const char *extra)
{
	char		 mac[CHAIN_MAC_LEN + 1];
	uint64_t	 seq;

	pthread_mutex_lock(&c->mu);
	seq = c->seq;
	memcpy(mac, c->mac, sizeof(mac));
	pthread_mutex_unlock(&c->mu);
	return (buf_printf(out, "Checkpoint of stream %s: through seq %"
	    PRIu64 " chain %s [op=checkpoint reason=%s every=%ld "
	    "interval=%lds%s]", c->stream, seq, mac, reason, every,
	    interval_s, extra != NULL ? extra : ""));
}

void
chain_last(struct chain *c, uint64_t *seq, char *mac)
{
	pthread_mutex_lock(&c->mu);
	*seq = c->seq;
	memcpy(mac, c->mac, CHAIN_MAC_LEN + 1);
	pthread_mutex_unlock(&c->mu);
}

const char *
chain_stream(const struct chain *c)
{
	return (c->stream);
}

uint64_t
chain_last_seq(struct chain *c)
{
	uint64_t	 seq;

	pthread_mutex_lock(&c->mu);
	seq = c->seq;
	pthread_mutex_unlock(&c->mu);
	return (seq);
}

void
chain_close(struct chain *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	close(c->dfd);
	pthread_mutex_destroy(&c->mu);
	OPENSSL_cleanse(&c->key, sizeof(c->key));
	free(c);
}
