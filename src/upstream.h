/*
 * upstream: one exchange with Mem0. Builds the libcurl easy handle that
 * forwards a client request unchanged (method, path and query byte for
 * byte, body, end-to-end headers), collects the response status, headers
 * and body under a hard cap, and maps transfer failures to the proxy's
 * error codes. The engine runs the transfer.
 *
 * Hop-by-hop headers (RFC 9110 7.6.1: Connection and every header it
 * names, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
 * Upgrade, Proxy-Authorization, Proxy-Authenticate) are dropped in both
 * directions; so are Host and Content-Length (recomputed), Expect, and
 * Date (the front adds its own).
 *
 * Ownership: struct up_exchange is caller-owned; up_exchange_free()
 * releases everything it holds, including the easy handle. The method,
 * target and body pointers are borrowed and must outlive the transfer.
 */
#ifndef UPSTREAM_H
#define UPSTREAM_H

#include <stddef.h>

#include <curl/curl.h>

#include "buf.h"

enum up_error {
	UP_OK = 0,
	UP_UNREACHABLE,		/* connect, resolve, reset: 502 */
	UP_TIMEOUT,		/* 504 */
	UP_TOO_LARGE,		/* response over the cap: 502 */
	UP_BAD_RESPONSE,	/* not HTTP, or cut short: 502 */
	UP_ABORTED,		/* shutting down: 503 */
	UP_INTERNAL		/* out of memory etc.: 500 */
};

#define UP_MAX_HEADERS		100	/* response headers kept */
#define UP_MAX_HEADER_BYTES	65536

struct up_header {
	char	*name;
	char	*value;
};

struct up_exchange {
	CURL			*easy;
	struct curl_slist	*req_headers;
	char			*url;

	long			 status;
	struct up_header	 headers[UP_MAX_HEADERS];
	size_t			 n_headers;
	size_t			 header_bytes;
	struct buf		 body;

	enum up_error		 error;
	char			 errmsg[CURL_ERROR_SIZE];

	int			 decode;	/* up_exchange_decode() */
};

/*
 * Prepare an exchange: url = base_url + target (target is "/path?query"
 * exactly as received). has_body: send body[0..body_len) (even when 0
 * bytes, as Content-Length: 0). Timeouts in ms. Returns 0 or -1.
 */
int	 up_exchange_init(struct up_exchange *x, const char *base_url,
	    const char *method, const char *target, const char *body,
	    size_t body_len, int has_body, long connect_timeout_ms,
	    long timeout_ms, size_t max_response_bytes);

/*
 * Ask Mem0 for a body the proxy can read (export routes, export.h): curl
 * sends its own Accept-Encoding (gzip, deflate, br, zstd as built) in
 * place of the client's and decodes the body itself, so the body cap
 * counts decoded bytes; an encoding curl cannot decode fails the
 * exchange (UP_BAD_RESPONSE), it never passes undecoded. The response's
 * Content-Encoding is then dropped towards the client. Call right after
 * up_exchange_init(), before any up_add_header(). Returns 0 or -1.
 */
int	 up_exchange_decode(struct up_exchange *x);

/*
 * Add a request header "name: value" unless it is hop-by-hop or one the
 * proxy sets itself. connection: the client's Connection header value
 * (may be NULL), whose tokens are hop-by-hop too. Returns 0 or -1.
 */
int	 up_add_header(struct up_exchange *x, const char *name,
	    const char *value, const char *connection);
/* Add a header unconditionally (X-Request-Id, X-Forwarded-For). */
int	 up_set_header(struct up_exchange *x, const char *name,
	    const char *value);

/* Map the transfer's result to status/error. Call from the done callback. */
void	 up_exchange_done(struct up_exchange *x, CURLcode result);

/* 1 if a response header must not be passed to the client. */
int	 up_response_header_dropped(const struct up_exchange *x,
	    const char *name);

/* 1 if s[0..len) is an RFC 9110 token (a method, a header name). */
int	 up_token_valid(const char *s, size_t len);

/*
 * Check one request header as received (lengths given: a NUL inside is
 * an error): the name a token, the value only visible characters, space,
 * tab and obs-text (no CR, LF or other control). NULL when well formed,
 * else a static sentence saying what is wrong (never quoting the header).
 */
const char	*up_header_invalid(const char *name, size_t name_len,
		    const char *value, size_t value_len);

/* 1 if name is hop-by-hop (or named in connection). */
int	 up_is_hop_by_hop(const char *name, const char *connection);

const char	*up_error_code(enum up_error e);

void	 up_exchange_free(struct up_exchange *x);

#endif /* UPSTREAM_H */
