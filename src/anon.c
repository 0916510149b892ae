/*
 * anon: keyed HMAC pseudonyms. See anon.h.
 */
#include <sys/random.h>
#include <sys/stat.h>

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
	unsigned char	 key[ANON_KEY_MAX + 1];
	struct stat	 st;
	ssize_t		 n;
	size_t		 len;
	int		 fd;

	a->key = NULL;
	a->key_len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT && create) {
		if (anon_create_key(path, err, errlen) == -1)
			return (-1);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd == -1) {
		snprintf(err, errlen, "cannot open key file %s: %s", path,
		    strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "cannot stat key file %s: %s", path,
		    strerror(errno));
		goto out_close;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "key file %s is accessible by group or "
		    "others (mode %04o); chmod 600 it", path,
		    (unsigned)(st.st_mode & 07777));
		goto out_close;
	}
	n = read(fd, key, sizeof(key));
	if (n < 0) {
		snprintf(err, errlen, "cannot read key file %s: %s", path,
		    strerror(errno));
		goto out_close;
	}
	len = (size_t)n;
	while (len > 0 && (key[len - 1] == '\n' || key[len - 1] == '\r' ||
	    key[len - 1] == ' ' || key[len - 1] == '\t'))
		len--;
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
	close(fd);
	return (0);

out_wipe:
	OPENSSL_cleanse(key, sizeof(key));
out_close:
	close(fd);
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
