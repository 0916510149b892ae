/*
 * tls: the client listener's certificate, key and client CA, read from
 * the files of tls.* for libmicrohttpd's TLS support (GnuTLS underneath),
 * and the check of a client certificate against that CA.
 *
 * libmicrohttpd asks for a client certificate when it has a trust list
 * (MHD_OPTION_HTTPS_MEM_TRUST) but does not insist: tls_client_verified()
 * is the proxy's own check, made before anything else of a request is
 * looked at.
 *
 * Ownership: tls_load() fills a struct tls the caller releases with
 * tls_free() (which wipes the key); a zeroed struct tls is empty and may
 * be freed. The PEM strings must outlive the daemon started with them.
 */
#ifndef TLS_H
#define TLS_H

#include <stddef.h>

#include <microhttpd.h>

#include "config.h"

struct tls {
	char	*cert;		/* PEM, NUL-terminated; NULL: no TLS */
	char	*key;		/* PEM */
	char	*ca;		/* PEM, or NULL: no client certificates */
};

/*
 * Read the files cfg names and check that GnuTLS takes them (a key that
 * matches the certificate, a CA list with a certificate). With no
 * tls.cert_file, t stays empty and 0 is returned. The key file must pass
 * trust_read_key()'s checks (owned by the proxy's user or root, no access
 * for group or others). Returns 0, or -1 with a message in err (t empty
 * then).
 */
int	 tls_load(struct tls *t, const struct config *cfg, char *err,
	    size_t errlen);

/* 1 when a and b hold the same certificate, key and CA. */
int	 tls_same(const struct tls *a, const struct tls *b);

void	 tls_free(struct tls *t);

/*
 * Did the client of conn present a certificate that chains to the client
 * CA and is valid now? 1 yes, 0 no (none, untrusted, expired, or not a
 * TLS connection).
 */
int	 tls_client_verified(struct MHD_Connection *conn);

#endif /* TLS_H */
