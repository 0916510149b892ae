/*
 * upstream: forward one request to Mem0. See upstream.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "upstream.h"

static const char *const up_hop_by_hop[] = {
	"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
	"Transfer-Encoding", "Upgrade", "Proxy-Authorization",
	"Proxy-Authenticate", NULL
};

/* Headers the proxy computes itself, in either direction. */
static const char *const up_request_own[] = {
	"Host", "Content-Length", "Expect", "X-Request-Id",
	"X-Forwarded-For", NULL
};

static int
up_in_list(const char *name, const char *const *list)
{
	size_t	 i;

	for (i = 0; list[i] != NULL; i++)
		if (strcasecmp(name, list[i]) == 0)
			return (1);
	return (0);
}

/* Is name one of the comma-separated tokens of the Connection header? */
static int
up_in_connection(const char *name, const char *connection)
{
	const char	*p, *start;
	size_t		 n, len;

	if (connection == NULL)
		return (0);
	len = strlen(name);
	for (p = connection; *p != '\0';) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		start = p;
		while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		n = (size_t)(p - start);
		if (n == len && n > 0 && strncasecmp(start, name, n) == 0)
			return (1);
		while (*p != '\0' && *p != ',')
			p++;
	}
	return (0);
}

int
up_token_valid(const char *s, size_t len)
{
	static const char	 tchar[] = "!#$%&'*+-.^_`|~";
	unsigned char		 c;
	size_t			 i;

	if (len == 0)
		return (0);
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z'))
			continue;
		/* memchr, not strchr: strchr matches a NUL byte. */
		if (memchr(tchar, c, sizeof(tchar) - 1) == NULL)
			return (0);
	}
	return (1);
}

const char *
up_header_invalid(const char *name, size_t name_len, const char *value,
    size_t value_len)
{
	unsigned char	 c;
	size_t		 i;

	if (!up_token_valid(name, name_len))
		return ("a header name is empty or has a character outside "
		    "the RFC 9110 token set (space, control, separator, "
		    "non-ASCII)");
	for (i = 0; i < value_len; i++) {
		c = (unsigned char)value[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return ("a header value has a control character (CR, "
			    "LF, NUL, ...)");
	}
	return (NULL);
}

int
up_is_hop_by_hop(const char *name, const char *connection)
{
	return (up_in_list(name, up_hop_by_hop) ||
	    up_in_connection(name, connection));
}

int
up_response_header_dropped(const struct up_exchange *x, const char *name)
{
	const char	*connection = NULL;
	size_t		 i;

	for (i = 0; i < x->n_headers; i++)
		if (strcasecmp(x->headers[i].name, "Connection") == 0)
			connection = x->headers[i].value;
	return (up_is_hop_by_hop(name, connection) ||
	    strcasecmp(name, "Content-Length") == 0 ||
	    strcasecmp(name, "Date") == 0 ||
	    (x->decode && strcasecmp(name, "Content-Encoding") == 0));
}

const char *
up_error_code(enum up_error e)
{
	switch (e) {
	case UP_OK:
		return ("ok");
	case UP_UNREACHABLE:
		return ("upstream_unreachable");
	case UP_TIMEOUT:
		return ("upstream_timeout");
	case UP_TOO_LARGE:
		return ("upstream_response_too_large");
	case UP_BAD_RESPONSE:
		return ("upstream_bad_response");
	case UP_ABORTED:
		return ("shutting_down");
	case UP_INTERNAL:
	default:
		return ("internal_error");
	}
}

static void
up_clear_headers(struct up_exchange *x)
{
	size_t	 i;

	for (i = 0; i < x->n_headers; i++) {
		free(x->headers[i].name);
		free(x->headers[i].value);
	}
	x->n_headers = 0;
	x->header_bytes = 0;
}

static size_t
up_on_header(char *data, size_t size, size_t n, void *arg)
{
	struct up_exchange	*x = arg;
	size_t			 len = size * n, nlen, vlen;
	const char		*colon, *v, *end;

	x->header_bytes += len;
	if (x->header_bytes > UP_MAX_HEADER_BYTES)
		return (0);
	/* A new status line (after 1xx or a redirect) starts over. */
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		up_clear_headers(x);
		x->header_bytes = len;
		return (len);
	}
	end = data + len;
	while (end > data && (end[-1] == '\r' || end[-1] == '\n'))
		end--;
	if (end == data)
		return (len);
	if ((colon = memchr(data, ':', (size_t)(end - data))) == NULL)
		return (len);	/* obs-fold or junk: skip */
	nlen = (size_t)(colon - data);
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	vlen = (size_t)(end - v);
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (nlen == 0 || x->n_headers == UP_MAX_HEADERS)
		return (len);
	x->headers[x->n_headers].name = strndup(data, nlen);
	x->headers[x->n_headers].value = strndup(v, vlen);
	if (x->headers[x->n_headers].name == NULL ||
	    x->headers[x->n_headers].value == NULL) {
		free(x->headers[x->n_headers].name);
		free(x->headers[x->n_headers].value);
		return (0);
	}
	x->n_headers++;
	return (len);
}

static size_t
up_on_body(char *data, size_t size, size_t n, void *arg)
{
	struct up_exchange	*x = arg;

	if (buf_append(&x->body, data, size * n) == -1) {
		x->error = UP_TOO_LARGE;
		return (0);
	}
	return (size * n);
}

int
up_exchange_init(struct up_exchange *x, const char *base_url,
    const char *method, const char *target, const char *body,
    size_t body_len, int has_body, long connect_timeout_ms, long timeout_ms,
    size_t max_response_bytes)
{
	size_t	 len;

	memset(x, 0, sizeof(*x));
	buf_init(&x->body, max_response_bytes);
	len = strlen(base_url) + strlen(target) + 1;
	if ((x->url = malloc(len)) == NULL)
		return (-1);
	snprintf(x->url, len, "%s%s", base_url, target);
	if ((x->easy = curl_easy_init()) == NULL)
		goto out_free_url;

	curl_easy_setopt(x->easy, CURLOPT_URL, x->url);
	/* Forward the path byte for byte: no dot-segment squashing. */
	curl_easy_setopt(x->easy, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	/* A name lookup that hangs never holds the engine thread or exit. */
	curl_easy_setopt(x->easy, CURLOPT_QUICK_EXIT, 1L);
	curl_easy_setopt(x->easy, CURLOPT_HTTP_VERSION,
	    CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    connect_timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errmsg);
	curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, up_on_header);
	curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, up_on_body);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	/*
	 * Bodies pass through as encoded: no CURLOPT_ACCEPT_ENCODING,
	 * except on export routes (up_exchange_decode()).
	 */

	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(x->easy, CURLOPT_NOBODY, 1L);
	else if (has_body) {
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)body_len);
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS,
		    body != NULL ? body : "");
	}
	if (strcmp(method, "GET") != 0 || has_body)
		curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, method);
	/* curl would add "Expect: 100-continue" and a default Accept. */
	if (up_set_header(x, "Expect", "") == -1 ||
	    up_set_header(x, "Accept", NULL) == -1)
		goto out_cleanup_easy;
	return (0);

out_cleanup_easy:
	curl_easy_cleanup(x->easy);
	x->easy = NULL;
out_free_url:
	free(x->url);
	x->url = NULL;
	return (-1);
}

int
up_exchange_decode(struct up_exchange *x)
{
	/* "": every encoding this libcurl can decode. */
	if (curl_easy_setopt(x->easy, CURLOPT_ACCEPT_ENCODING, "") !=
	    CURLE_OK)
		return (-1);
	x->decode = 1;
	return (0);
}

/*
 * value NULL removes a header curl would add ("Name:"); "" sends it empty
 * ("Name;" in curl's syntax).
 */
int
up_set_header(struct up_exchange *x, const char *name, const char *value)
{
	struct curl_slist	*l;
	char			*line;
	size_t			 len;

	len = strlen(name) + (value != NULL ? strlen(value) : 0) + 3;
	if ((line = malloc(len)) == NULL)
		return (-1);
	if (value == NULL || (value[0] == '\0' &&
	    strcasecmp(name, "Expect") == 0))
		snprintf(line, len, "%s:", name);
	else if (value[0] == '\0')
		snprintf(line, len, "%s;", name);
	else
		snprintf(line, len, "%s: %s", name, value);
	l = curl_slist_append(x->req_headers, line);
	free(line);
	if (l == NULL)
		return (-1);
	x->req_headers = l;
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->req_headers);
	return (0);
}

int
up_add_header(struct up_exchange *x, const char *name, const char *value,
    const char *connection)
{
	if (up_is_hop_by_hop(name, connection) ||
	    up_in_list(name, up_request_own))
		return (0);
	/* Decoding: curl's own Accept-Encoding, never the client's. */
	if (x->decode && strcasecmp(name, "Accept-Encoding") == 0)
		return (0);
	/* An explicit Accept from the client replaces curl's default. */
	return (up_set_header(x, name, value != NULL ? value : ""));
}

void
up_exchange_done(struct up_exchange *x, CURLcode result)
{
	long	 status = 0;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	x->status = status;
	if (result == CURLE_OK) {
		x->error = status >= 100 ? UP_OK : UP_BAD_RESPONSE;
		return;
	}
	if (x->error == UP_TOO_LARGE)
		return;
	switch (result) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_SSL_CONNECT_ERROR:
		x->error = UP_UNREACHABLE;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		x->error = UP_TIMEOUT;
		break;
	case CURLE_ABORTED_BY_CALLBACK:
		x->error = UP_ABORTED;
		break;
	case CURLE_OUT_OF_MEMORY:
		x->error = UP_INTERNAL;
		break;
	case CURLE_BAD_CONTENT_ENCODING:	/* cannot decode: never pass */
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_WRITE_ERROR:
	default:
		x->error = UP_BAD_RESPONSE;
		break;
	}
	if (x->errmsg[0] == '\0')
		snprintf(x->errmsg, sizeof(x->errmsg), "%s",
		    curl_easy_strerror(result));
}

void
up_exchange_free(struct up_exchange *x)
{
	up_clear_headers(x);
	if (x->easy != NULL)
		curl_easy_cleanup(x->easy);
	x->easy = NULL;
	curl_slist_free_all(x->req_headers);
	x->req_headers = NULL;
	free(x->url);
	x->url = NULL;
	buf_free(&x->body);
}
