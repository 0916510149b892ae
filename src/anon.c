/*
 * anon: keyed HMAC pseudonyms. See anon.h.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "anon.h"
#include "trust.h"

#define ANON_REDACT_IN_MAX	4096	/* bytes of free text looked at */
#define ANON_DIGITS_MIN		7	/* a run this long is redacted */
#define ANON_DECODE_PASSES	64	/* %2540 -> %40 -> @ ...; each pass
						   shrinks the text */

int
anon_init(struct anon *a, const void *key, size_t len)
{
	a->key = NULL;
	a->key_len = 0;
	if (len < ANON_KEY_MIN || len > ANON_KEY_MAX)
		return (-1);
	if ((a->key = malloc(len)) == NULL)
		return (-1);
	memcpy(a->key, key, len);
	a->key_len = len;
	return (0);
}

/* Make a new key file: 32 random bytes as 64 hex digits and a newline. */
static int
anon_create_key(const char *path, char *err, size_t errlen)
{
	unsigned char	 raw[32];
	char		 hex[sizeof(raw) * 2 + 2];
	size_t		 i;
	int		 fd;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return (-1);
	}
	for (i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	hex[2 * sizeof(raw)] = '\n';
	hex[2 * sizeof(raw) + 1] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1) {
		snprintf(err, errlen, "cannot create key file %s: %s", path,
		    strerror(errno));
		return (-1);
	}
	if (write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex) ||
	    fsync(fd) == -1) {
		snprintf(err, errlen, "cannot write key file %s: %s", path,
		    strerror(errno));
		close(fd);
		unlink(path);
		return (-1);
	}
	OPENSSL_cleanse(hex, sizeof(hex));
	close(fd);
	return (0);
}

int
anon_load_key(struct anon *a, const char *path, int create, char *err,
    size_t errlen)
{
	unsigned char	 key[ANON_KEY_MAX + 3];	/* room for CR LF */
	size_t		 len;

	a->key = NULL;
	a->key_len = 0;
	if (create && access(path, F_OK) == -1 && errno == ENOENT &&
	    anon_create_key(path, err, errlen) == -1)
		return (-1);
	if (trust_read_key(path, key, sizeof(key), &len, err, errlen) == -1)
		return (-1);
	if (len < ANON_KEY_MIN || len > ANON_KEY_MAX) {
		snprintf(err, errlen, "key file %s must hold %d to %d bytes, "
		    "has %zu", path, ANON_KEY_MIN, ANON_KEY_MAX, len);
		goto out_wipe;
	}
	if (anon_init(a, key, len) == -1) {
		snprintf(err, errlen, "out of memory");
		goto out_wipe;
	}
	OPENSSL_cleanse(key, sizeof(key));
	return (0);

out_wipe:
	OPENSSL_cleanse(key, sizeof(key));
	return (-1);
}

void
anon_pseudonym(const struct anon *a, char letter, const char *value,
    size_t len, char *out)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 maclen = 0;

	if (len == 1 && value[0] == '*') {
		snprintf(out, ANON_PSEUDO_LEN + 1, "%c:*", letter);
		return;
	}
	if (HMAC(EVP_sha256(), a->key, (int)a->key_len,
	    (const unsigned char *)value, len, mac, &maclen) == NULL ||
	    maclen < 4) {
		/* Never fall back to the value itself. */
		snprintf(out, ANON_PSEUDO_LEN + 1, "%c:????????", letter);
		return;
	}
	snprintf(out, ANON_PSEUDO_LEN + 1, "%c:%02x%02x%02x%02x", letter,
	    mac[0], mac[1], mac[2], mac[3]);
}

void
anon_digest(const struct anon *a, const void *data, size_t len, char *out,
    size_t nhex)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 maclen = 0;
	size_t		 i;

	if (nhex > 64)
		nhex = 64;
	if (HMAC(EVP_sha256(), a->key, (int)a->key_len, data, len, mac,
	    &maclen) == NULL || maclen < nhex / 2) {
		memset(out, '?', nhex);
		out[nhex] = '\0';
		return;
	}
	for (i = 0; i + 1 < nhex + 1 && i / 2 < maclen && i < nhex; i += 2)
		snprintf(out + i, 3, "%02x", mac[i / 2]);
	out[nhex] = '\0';
}

static int
anon_word_char(int c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_');
}

static int
anon_local_char(int c)
{
	/* '?' stands for a byte that was not printable ASCII. */
	return (anon_word_char(c) || (c != '\0' && strchr(".%+-?", c) !=
	    NULL));
}

static int
anon_domain_char(int c)
{
	return (anon_word_char(c) || c == '-' || c == '.' || c == '?');
}

/*
 * An e-mail address starting at t[i]: its length, else 0. Generous on
 * purpose (a reason is free text; redacting too much costs nothing): a
 * local part of address characters or a quoted string, an '@' with at
 * most one space either side, and a domain of one character or more
 * (a host name, an internationalized one: '?' stands for its non-ASCII
 * bytes); a full stop right after it is not part of it.
 */
static size_t
anon_email_at(const char *t, size_t len, size_t i)
{
	size_t	 j = i, dom;

	if (t[j] == '"') {
		for (j++; j < len && t[j] != '"'; j++)
			;
		if (j >= len || j == i + 1)
			return (0);
		j++;
	} else {
		while (j < len && anon_local_char((unsigned char)t[j]))
			j++;
		if (j == i)
			return (0);
	}
	if (j < len && t[j] == ' ')
		j++;
	if (j >= len || t[j] != '@')
		return (0);
	if (++j < len && t[j] == ' ')
		j++;
	dom = j;
	while (j < len && anon_domain_char((unsigned char)t[j]))
		j++;
	while (j > dom && t[j - 1] == '.')
		j--;
	return (j > dom ? j - i : 0);
}

/*
 * A run of digits starting at t[i], any one or two separators between
 * them (spaces, -.()/+,_ and '?' for a tab or a non-ASCII byte): its
 * length when it holds ANON_DIGITS_MIN digits or more, else 0.
 */
static size_t
anon_digits_at(const char *t, size_t len, size_t i)
{
	static const char	 seps[] = " -.()/+,_?";
	size_t			 j = i, k, digits = 0, end = i;
	size_t			 group = i, before = 0;

	if (!((t[i] >= '0' && t[i] <= '9') || t[i] == '+' || t[i] == '('))
		return (0);
	while (j < len) {
		if (t[j] >= '0' && t[j] <= '9') {
			digits++;
			end = ++j;
			continue;
		}
		for (k = j; k < len && k - j < 3 &&
		    memchr(seps, t[k], sizeof(seps) - 1) != NULL; k++)
			;
		if (k == j || k - j > 2 || k >= len ||
		    !(t[k] >= '0' && t[k] <= '9'))
			break;
		group = j;		/* the last group starts after here */
		before = digits;
		j = k;
	}
	/*
	 * The last group runs into a word ("170 1alice@x.com"): it is the
	 * start of that word (an address, an id), not of this number.
	 */
	if (end < len && anon_word_char((unsigned char)t[end]) && group > i) {
		end = group;
		digits = before;
	}
	return (digits >= ANON_DIGITS_MIN ? end - i : 0);
}

static int
anon_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	return ((tolower((unsigned char)c) - 'a') + 10);
}

/*
 * Does text t[0..n) spell id v[0..n)? Letters in any case, and a '+' in
 * the text for a space in the id (a query string's spelling).
 */
static int
anon_same_text(const char *t, const char *v, size_t n)
{
	size_t	 j;

	for (j = 0; j < n; j++)
		if (tolower((unsigned char)t[j]) !=
		    tolower((unsigned char)v[j]) &&
		    !(t[j] == '+' && v[j] == ' '))
			return (0);
	return (1);
}

/*
 * Percent-decode t[0..len) in place until nothing changes (a value
 * encoded twice is still found), then keep printable ASCII only
 * (anything else becomes '?'). Returns the new length.
 */
static size_t
anon_normalize(char *t, size_t len)
{
	size_t	 i, o, pass;
	int	 changed = 1;

	for (pass = 0; changed && pass < ANON_DECODE_PASSES; pass++) {
		changed = 0;
		for (i = 0, o = 0; i < len; i++) {
			if (t[i] == '%' && i + 2 < len &&
			    isxdigit((unsigned char)t[i + 1]) &&
			    isxdigit((unsigned char)t[i + 2])) {
				t[o++] = (char)(anon_hexval(t[i + 1]) << 4 |
				    anon_hexval(t[i + 2]));
				i += 2;
				changed = 1;
			} else
				t[o++] = t[i];
		}
		len = o;
	}
	/* Look-alikes of '@' (U+FF20, U+FE6B), then printable ASCII. */
	for (i = 0, o = 0; i < len; i++) {
		if (i + 2 < len && (unsigned char)t[i] == 0xef &&
		    (((unsigned char)t[i + 1] == 0xbc &&
		    (unsigned char)t[i + 2] == 0xa0) ||
		    ((unsigned char)t[i + 1] == 0xb9 &&
		    (unsigned char)t[i + 2] == 0xab))) {
			t[o++] = '@';
			i += 2;
		} else
			t[o++] = (t[i] >= 0x20 && t[i] < 0x7f) ? t[i] : '?';
	}
	return (o);
}

/* The longest known id at t[i] that ends a word: its index, else -1. */
static int
anon_known_at(const char *t, size_t len, size_t i,
    const struct anon_known *known, size_t n_known)
{
	size_t	 k, n, best_len = 0;
	int	 best = -1;

	for (k = 0; k < n_known; k++) {
		n = strlen(known[k].value);
		if (n == 0 || (n == 1 && known[k].value[0] == '*') ||
		    n > len - i || !anon_same_text(t + i, known[k].value, n))
			continue;
		if (i + n < len && anon_word_char((unsigned char)t[i + n]))
			continue;
		if (n > best_len) {
			best_len = n;
			best = (int)k;
		}
	}
	return (best);
}

int
anon_redact(struct buf *out, const struct anon *a, const char *in,
    size_t max, const struct anon_known *known, size_t n_known)
{
	char		 p[ANON_PSEUDO_LEN + 1];
	const char	*rep;
	char		*t;
	size_t		 len, i, n, adv, fresh, start = out->len;
	int		 k, rc = 0;

	len = strnlen(in, ANON_REDACT_IN_MAX);
	if ((t = malloc(len + 1)) == NULL)
		return (-1);
	memcpy(t, in, len);
	len = anon_normalize(t, len);
	/*
	 * A token may start at i when i follows a replaced one (what was
	 * there is gone: "...com+alice@x.com") or a character that cannot
	 * be part of it.
	 */
	for (i = 0, fresh = 0; rc == 0 && i < len; i += adv) {
		rep = NULL;
		adv = 1;
		if ((i == fresh || !anon_local_char((unsigned char)t[i - 1])) &&
		    (n = anon_email_at(t, len, i)) > 0) {
			anon_pseudonym(a, 'u', t + i, n, p);
			rep = p;
			adv = n;
		} else if ((i == fresh || !anon_word_char((unsigned char)
		    t[i - 1])) && (k = anon_known_at(t, len, i, known,
		    n_known)) >= 0) {
			adv = strlen(known[k].value);
			anon_pseudonym(a, known[k].letter, known[k].value, adv,
			    p);
			rep = p;
		} else if ((i == fresh || !(t[i - 1] >= '0' &&
		    t[i - 1] <= '9')) && (n = anon_digits_at(t, len, i)) > 0) {
			rep = "[redacted]";
			adv = n;
		}
		if (rep != NULL)
			fresh = i + adv;
		/* Stop before what does not fit: never half a pseudonym. */
		if (out->len - start + (rep != NULL ? strlen(rep) : 1) > max)
			break;
		rc = rep != NULL ? buf_append_str(out, rep) :
		    buf_append(out, t + i, 1);
	}
	free(t);
	return (rc);
}

void
anon_free(struct anon *a)
{
	if (a->key != NULL) {
		OPENSSL_cleanse(a->key, a->key_len);
		free(a->key);
	}
	a->key = NULL;
	a->key_len = 0;
}
