/*
 * anon: pseudonyms for personal identifiers. A pseudonym is a prefix
 * letter, ':' and the first 8 hex digits of HMAC-SHA256(key, value):
 * "u:1a2b3c4d". The same value always gives the same pseudonym under one
 * key, so auditors can follow a user without learning who it is, and
 * `mem0-audit-proxy hash VALUE` lets them find a known user's claims.
 *
 * Ownership: struct anon holds a copy of the key; anon_free() wipes and
 * frees it.
 */
#ifndef ANON_H
#define ANON_H

#include <stddef.h>

#include "buf.h"

#define ANON_KEY_MIN	16	/* bytes: shorter keys are refused */
#define ANON_KEY_MAX	4096
#define ANON_PSEUDO_LEN	10	/* "u:" + 8 hex, without the NUL */

struct anon {
	unsigned char	*key;
	size_t		 key_len;
};

/* Use key[0..len) (copied). Returns 0, or -1 if len is out of range. */
int	 anon_init(struct anon *a, const void *key, size_t len);

/*
 * Load the key from path. When the file does not exist and create is set,
 * make a new random key there (mode 0600, written and fsync'd). Refuses a
 * key file readable by group or others. On error returns -1 and writes a
 * message to err[0..errlen).
 */
int	 anon_load_key(struct anon *a, const char *path, int create,
	    char *err, size_t errlen);

/*
 * Write letter ':' 8-hex into out (at least ANON_PSEUDO_LEN + 1 bytes).
 * The wildcard "*" is not personal data and is written as "letter:*".
 */
void	 anon_pseudonym(const struct anon *a, char letter, const char *value,
	    size_t len, char *out);

/*
 * Keyed digest: nhex (even, at most 64) hex digits of HMAC-SHA256(key,
 * data) into out (nhex + 1 bytes). For fingerprints of whole requests.
 */
void	 anon_digest(const struct anon *a, const void *data, size_t len,
	    char *out, size_t nhex);

/* An id whose pseudonym replaces it in free text (anon_redact()). */
struct anon_known {
	char		 letter;	/* 'u', 'a', 'p', 'r' */
	const char	*value;
};

/*
 * Append free text from a client (a reason given for a bulk delete) to
 * out, made safe for an audit record: at most max bytes; printable ASCII
 * only (anything else becomes '?'); every e-mail address (also written
 * with %40) replaced by its user pseudonym, as `mem0-audit-proxy hash`
 * prints it; every run of 7 or more digits (phone numbers, account
 * numbers; separators -.()/+ and single spaces inside allowed) by
 * "[redacted]"; every whole-word occurrence of a known id by its
 * pseudonym. Returns 0, or -1 when out is full or memory is short.
 */
int	 anon_redact(struct buf *out, const struct anon *a, const char *in,
	    size_t max, const struct anon_known *known, size_t n_known);

void	 anon_free(struct anon *a);

#endif /* ANON_H */
