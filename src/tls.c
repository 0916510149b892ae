/*
 * tls: certificate files and client certificate checks. See tls.h.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <openssl/crypto.h>

#include "tls.h"
#include "trust.h"

#define TLS_FILE_MAX	(1024 * 1024)	/* a certificate chain or CA list */
#define TLS_KEY_MAX	(64 * 1024)

/* A whole PEM file as a string; NULL with a message in err. */
static char *
tls_read_pem(const char *path, const char *what, char *err, size_t errlen)
{
	struct stat	 st;
	char		*buf = NULL;
	ssize_t		 n;
	size_t		 len = 0;
	int		 fd;

	/* O_NONBLOCK: a FIFO at the path must not hang the reload. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) ==
	    -1) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return (NULL);
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s %s: not a regular file", what, path);
		goto out_close;
	}
	if (st.st_size <= 0 || st.st_size > TLS_FILE_MAX) {
		snprintf(err, errlen, "%s %s: empty or larger than %d bytes",
		    what, path, TLS_FILE_MAX);
		goto out_close;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out_close;
	}
	while (len < (size_t)st.st_size) {
		n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s %s: %s", what, path,
			    n == 0 ? "shorter than its size" : strerror(errno));
			free(buf);
			buf = NULL;
			goto out_close;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (strstr(buf, "-----BEGIN ") == NULL) {
		snprintf(err, errlen, "%s %s: no PEM block (-----BEGIN ...)",
		    what, path);
		free(buf);
		buf = NULL;
	}
out_close:
	close(fd);
	return (buf);
}

/*
 * Does GnuTLS take the pair (and the CA list)? The same calls
 * libmicrohttpd makes at start, so that a bad file fails --check-config
 * and a reload instead of the listener.
 */
static int
tls_check(const struct tls *t, char *err, size_t errlen)
{
	gnutls_certificate_credentials_t	 cred;
	gnutls_datum_t				 c, k, a;
	int					 rc;

	if (gnutls_certificate_allocate_credentials(&cred) < 0) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	c.data = (unsigned char *)t->cert;
	c.size = (unsigned int)strlen(t->cert);
	k.data = (unsigned char *)t->key;
	k.size = (unsigned int)strlen(t->key);
	rc = gnutls_certificate_set_x509_key_mem(cred, &c, &k,
	    GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		snprintf(err, errlen, "tls.cert_file and tls.key_file: %s",
		    gnutls_strerror(rc));
		goto out_free;
	}
	if (t->ca != NULL) {
		a.data = (unsigned char *)t->ca;
		a.size = (unsigned int)strlen(t->ca);
		rc = gnutls_certificate_set_x509_trust_mem(cred, &a,
		    GNUTLS_X509_FMT_PEM);
		if (rc <= 0) {
			snprintf(err, errlen, "tls.client_ca_file: %s",
			    rc == 0 ? "no certificate in it" :
			    gnutls_strerror(rc));
			rc = -1;
			goto out_free;
		}
	}
	rc = 0;
out_free:
	gnutls_certificate_free_credentials(cred);
	return (rc < 0 ? -1 : 0);
}

int
tls_load(struct tls *t, const struct config *cfg, char *err, size_t errlen)
{
	unsigned char	*key;
	size_t		 len;

	memset(t, 0, sizeof(*t));
	if (cfg->tls_cert_file == NULL)
		return (0);
	if ((t->cert = tls_read_pem(cfg->tls_cert_file, "tls.cert_file", err,
	    errlen)) == NULL)
		goto out_free;
	if ((key = malloc(TLS_KEY_MAX + 2)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out_free;
	}
	if (trust_read_key(cfg->tls_key_file, key, TLS_KEY_MAX, &len, err,
	    errlen) == -1) {
		free(key);
		goto out_free;
	}
	key[len++] = '\n';	/* trust_read_key() trimmed it */
	key[len] = '\0';
	t->key = (char *)key;
	if (strstr(t->key, "-----BEGIN ") == NULL) {
		snprintf(err, errlen, "tls.key_file %s: no PEM block "
		    "(-----BEGIN ...)", cfg->tls_key_file);
		goto out_free;
	}
	if (cfg->tls_client_ca_file != NULL &&
	    (t->ca = tls_read_pem(cfg->tls_client_ca_file,
	    "tls.client_ca_file", err, errlen)) == NULL)
		goto out_free;
	if (tls_check(t, err, errlen) == -1)
		goto out_free;
	return (0);

out_free:
	tls_free(t);
	return (-1);
}

static int
tls_same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

int
tls_same(const struct tls *a, const struct tls *b)
{
	return (tls_same_str(a->cert, b->cert) &&
	    tls_same_str(a->key, b->key) && tls_same_str(a->ca, b->ca));
}

void
tls_free(struct tls *t)
{
	free(t->cert);
	if (t->key != NULL) {
		OPENSSL_cleanse(t->key, strlen(t->key));
		free(t->key);
	}
	free(t->ca);
	memset(t, 0, sizeof(*t));
}

int
tls_client_verified(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo	*ci;
	gnutls_session_t		 session;
	gnutls_typed_vdata_st		 purpose;
	unsigned int			 n = 0, status = 0;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || ci->tls_session == NULL)
		return (0);
	session = (gnutls_session_t)ci->tls_session;
	if (gnutls_certificate_get_peers(session, &n) == NULL || n == 0)
		return (0);
	/* A certificate whose key usage says it is not a client's fails. */
	memset(&purpose, 0, sizeof(purpose));
	purpose.type = GNUTLS_DT_KEY_PURPOSE_OID;
	purpose.data = (unsigned char *)(uintptr_t)GNUTLS_KP_TLS_WWW_CLIENT;
	if (gnutls_certificate_verify_peers(session, &purpose, 1,
	    &status) != 0)
		return (0);
	return (status == 0);
}
