/*
 * front: the HTTP side. See front.h.
 *
 * One request's life (on the engine thread, which runs the client
 * daemon; the admin daemon has a thread of its own):
 *   URI log callback: keep the raw request target (a 414 is answered
 *                here)
 *   PROXY_HEADERS: allocate struct proxy_req; request id, header checks,
 *                early 413 on Content-Length, own endpoints
 *   PROXY_BODY:  collect the body under limits.max_request_bytes, then
 *                proxy_start(): the pipeline (proxy.h) takes over
 *   resumed:     proxy_resumed() acts on the request's stage
 *   completed:   proxy_req_free()
 */
#include <sys/random.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <microhttpd.h>

#include "admin.h"
#include "claim.h"
#include "front.h"
#include "gate.h"
#include "log.h"
#include "proxy.h"
#include "route.h"
#include "status.h"
#include "tls.h"
#include "upstream.h"

/* A body this many times over the cap is not drained, the socket is cut. */
#define FRONT_DRAIN_FACTOR	4
#define FRONT_REAP_MS		500	/* header deadline checks */
/*
 * libmicrohttpd's memory per connection: the request line, headers and
 * query parameters live in it, and it is zeroed whole between two
 * requests of a keep-alive connection (a quarter of the CPU at 256 KiB).
 * 64 KiB takes a header section of about 63 KiB (libmicrohttpd answers
 * 431 beyond, and beyond 96 header lines at any size), and about 830
 * query parameters; FRONT_QUERY_PARAMS_MAX keeps well below, since past
 * that libmicrohttpd 0.9.75 drops the request without an answer.
 */
#define FRONT_CONN_MEMORY	(64 * 1024)
#define FRONT_TARGET_MAX	16384		/* longer targets: 414 */
#define FRONT_QUERY_PARAMS_MAX	512		/* more parameters: 414 */
#define FRONT_ADMIN_CONNS	64	/* the admin listener's connections */
#define FRONT_RETIRED_MAX	16	/* daemons of replaced certificates */
#ifndef VERSION
#define VERSION			"unknown"
#endif

struct front_loop;

struct front {
	const struct config	*cfg;
	struct eng		*eng;
	struct wm		*wm;
	const struct anon	*anon;
	struct gate		*gate;
	struct proxy		*px;		/* the request pipeline */
	struct MHD_Daemon	*mhd;		/* atomic: a reload with a new
						   certificate replaces it */
	struct tls		 tls;		/* its certificate, or empty */
	int			 quiesced_fd;	/* its socket after
						   front_quiesce(), or -1 */
	struct MHD_Daemon	*admin;		/* admin_listen, or NULL */
	/* The request handler's closure: which listener a request came in
	 * on, known before the daemon's first connection. */
	struct front_lsn {
		struct front	*f;
		int		 admin;
	}			 lsn_client, lsn_admin;
	/*
	 * Client daemons whose certificate was replaced: quiesced (they
	 * accept nothing), they finish the connections they have, still
	 * in the engine's loop. Engine thread only (front_reap() stops the
	 * ones with no connection left).
	 */
	struct {
		struct MHD_Daemon	*mhd;
		struct front_loop	*loop;	/* mhd in the engine's loop */
		struct tls		 tls;
	}			 retired[FRONT_RETIRED_MAX];
	struct front_loop	*loop;		/* mhd in the engine's loop */
	struct status		*status;	/* the status page's rates */
	long long		 started_ms;
	size_t			 active;	/* atomic: requests not yet
						   completed (sent or failed) */
	pthread_mutex_t		 lock;		/* waiting */
	/* The connections waiting for a request's headers, oldest first:
	 * the reaper looks at the head only, not at every connection
	 * (10 000 held requests are not walked twice a second). */
	struct front_conn	*wait_head, *wait_tail;
	unsigned long		 header_timeouts; /* atomic: cut by the
						   reaper */
	unsigned long		 resume_gen;	/* atomic: resumes so far */
};

/*
 * Queue resp on q's connection. A connection of a client listener whose
 * certificate was replaced since (front_reload_tls()) is closed after
 * this answer, so that keep-alive clients move to the new certificate
 * (and the client CA of now) and the old listener can stop.
 */
enum MHD_Result
front_queue(struct proxy_req *q, unsigned int status,
    struct MHD_Response *resp)
{
	if (q->closing)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
		    "close");
	return (MHD_queue_response(q->conn, status, resp));
}

int
front_request_id_valid(const char *id)
{
	size_t	 n = strlen(id), i, hex, digits;

	/* A UUID's layout (claim_id_is_opaque() knows it). */
	if (n == 36 && strchr(id, '-') != NULL)
		return (claim_id_is_opaque(id, n));
	/* 16 to 64 hex digits, not all decimal (a card number). */
	hex = strspn(id, "0123456789abcdefABCDEF");
	for (i = 0, digits = 0; i < hex; i++)
		digits += id[i] >= '0' && id[i] <= '9';
	return (hex == n && n >= 16 && n <= FRONT_REQUEST_ID_MAX &&
	    digits < n);
}

/*
 * A new request id: 16 random bytes as 32 hex digits. The bytes come
 * from a per-thread pool filled by one getrandom() for 32 ids, not one
 * system call per request.
 */
static void
front_new_request_id(char *out)
{
	static __thread unsigned char	 pool[16 * 32];
	static __thread size_t		 left;
	static const char		 hex[] = "0123456789abcdef";
	const unsigned char		*raw;
	size_t				 i;

	if (left == 0) {
		if (getrandom(pool, sizeof(pool), 0) != (ssize_t)sizeof(pool))
			/* Unique enough for correlation when entropy is
			 * short. */
			for (i = 0; i < sizeof(pool); i++)
				pool[i] = (unsigned char)random();
		left = sizeof(pool);
	}
	raw = pool + sizeof(pool) - left;
	left -= 16;
	for (i = 0; i < 16; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[32] = '\0';
}

void
front_suspend(struct proxy_req *q)
{
	MHD_suspend_connection(q->conn);
}

/*
 * Resume q now; a client daemon runs before the loop's next wait. Once
 * resumed, q belongs to its daemon's thread (the admin daemon's may
 * answer and free it at once): nothing of it is read after.
 */
static void
front_resume_here(struct proxy_req *q)
{
	struct front	*f = q->f;

	MHD_resume_connection(q->conn);
	__atomic_add_fetch(&f->resume_gen, 1, __ATOMIC_RELAXED);
}

static void
front_resume_call(void *arg)
{
	front_resume_here(arg);
}

/*
 * Resume a suspended request, from any thread. libmicrohttpd run from
 * the engine's loop (no thread of its own, so no wakeup channel) learns
 * of a resume only when the loop runs it again: a resume on another
 * thread (the export check's worker) becomes a call on the engine
 * thread, which wakes the loop once. Once the engine is stopped, the
 * thread that stops it runs the daemon (front_drain()).
 */
void
front_resume(struct proxy_req *q)
{
	struct eng	*eng = q->f->eng;

	if (q->admin || eng_on_thread(eng) ||
	    eng_call(eng, front_resume_call, q) == -1)
		front_resume_here(q);
}

const char *
front_header(struct proxy_req *q, const char *name)
{
	return (MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, name));
}


static enum MHD_Result
front_reply_json(struct proxy_req *q, unsigned int status,
    const char *json)
{
	struct MHD_Response	*resp;
	enum MHD_Result		 ret;

	resp = MHD_create_response_from_buffer(strlen(json), (void *)json,
	    MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return (MHD_NO);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "X-Request-Id", q->request_id);
	ret = front_queue(q, status, resp);
	MHD_destroy_response(resp);
	q->stage = PROXY_REPLIED;
	return (ret);
}

/* What the admin documents report, as of now (admin.h). */
static void
front_facts(struct proxy_req *q, struct admin_facts *fa)
{
	const union MHD_DaemonInfo	*ci;
	struct front			*f = q->f;

	memset(fa, 0, sizeof(*fa));
	fa->wm = f->wm;
	fa->gate = f->gate;
	fa->status = f->status;
	fa->cfg = q->cfg;
	fa->upstream_down = proxy_upstream_down(f->px);
	fa->inflight = front_inflight(f);
	fa->header_timeouts = __atomic_load_n(&f->header_timeouts,
	    __ATOMIC_RELAXED);
	fa->started_ms = f->started_ms;
	ci = MHD_get_daemon_info(__atomic_load_n(&f->mhd, __ATOMIC_ACQUIRE),
	    MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	fa->connections = ci != NULL ? ci->num_connections : 0;
}

/* Send an admin document (taken). */
static enum MHD_Result
front_reply_doc(struct proxy_req *q, struct admin_doc *d)
{
	struct MHD_Response	*resp;
	enum MHD_Result		 ret;

	if (d->body == NULL)
		return (front_reply_json(q, 500,
		    "{\"error\":\"internal_error\"}"));
	resp = MHD_create_response_from_buffer(d->len, d->body,
	    d->is_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		admin_doc_free(d);
		return (MHD_NO);
	}
	MHD_add_response_header(resp, "Content-Type", d->type);
	if (d->kind == ADMIN_JSON)
		MHD_add_response_header(resp, "X-Request-Id", q->request_id);
	if (d->kind == ADMIN_PAGE) {
		MHD_add_response_header(resp, "Cache-Control", "no-store");
		MHD_add_response_header(resp, "X-Content-Type-Options",
		    "nosniff");
		MHD_add_response_header(resp, "Content-Security-Policy",
		    "default-src 'none'; script-src 'self'; connect-src "
		    "'self'; style-src 'unsafe-inline'; img-src data:; "
		    "frame-ancestors 'none'; base-uri 'none'; form-action "
		    "'none'");
	}
	ret = front_queue(q, d->status, resp);
	MHD_destroy_response(resp);
	q->stage = PROXY_REPLIED;
	return (ret);
}

/* The client listener's own endpoints. 0 when target is not one. */
static int
front_own_endpoint(struct proxy_req *q, enum MHD_Result *ret)
{
	struct admin_facts	 fa;
	struct admin_doc	 d;

	if (strncmp(q->target, "/_proxy/", 8) != 0)
		return (0);
	front_facts(q, &fa);
	(void)admin_client_reply(&fa, q->target, &d);
	*ret = front_reply_doc(q, &d);
	return (1);
}

/*
 * The admin listener (admin.h): documents, and the approval lookup,
 * which waits for the gate with the connection suspended.
 */
static enum MHD_Result
front_admin(struct proxy_req *q)
{
	struct admin_facts	 fa;
	struct admin_doc	 d;

	front_facts(q, &fa);
	if (admin_reply(&fa, q->method, q->target, front_header(q, "Host"),
	    &d) == -1)
		return (front_reply_json(q, 500,
		    "{\"error\":\"internal_error\"}"));
	if (d.kind != ADMIN_APPROVAL)
		return (front_reply_doc(q, &d));
	proxy_lookup(q, d.approval_id);
	return (MHD_YES);
}

static void
front_client_ip(struct proxy_req *q)
{
	const union MHD_ConnectionInfo	*ci;
	socklen_t			 len;

	snprintf(q->client_ip, sizeof(q->client_ip), "unknown");
	ci = MHD_get_connection_info(q->conn,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return;
	len = ci->client_addr->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (getnameinfo(ci->client_addr, len, q->client_ip,
	    sizeof(q->client_ip), NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(q->client_ip, sizeof(q->client_ip), "unknown");
}

/*
 * Headers that may appear once: the proxy reads the first, Mem0 might
 * read the last (or both): the body's length and type, the credential,
 * and the headers the proxy itself acts on.
 */
enum front_once_hdr {
	FH_CONTENT_LENGTH = 0, FH_TRANSFER_ENCODING, FH_CONTENT_TYPE,
	FH_CONTENT_ENCODING, FH_HOST, FH_AUTHORIZATION, FH_API_KEY,
	FH_MEM0_USER_ID, FH_APPROVAL_ID, FH_REASON, FH_REQUEST_ID,
	FH_COUNT
};

static const char *const front_once[FH_COUNT] = {
	[FH_CONTENT_LENGTH] = "Content-Length",
	[FH_TRANSFER_ENCODING] = "Transfer-Encoding",
	[FH_CONTENT_TYPE] = "Content-Type",
	[FH_CONTENT_ENCODING] = "Content-Encoding",
	[FH_HOST] = "Host",
	[FH_AUTHORIZATION] = "Authorization",
	[FH_API_KEY] = "X-API-Key",
	[FH_MEM0_USER_ID] = "Mem0-User-ID",
	[FH_APPROVAL_ID] = "X-Approval-Id",
	[FH_REASON] = "X-Mem0-Reason",
	[FH_REQUEST_ID] = "X-Request-Id",
};

/* Does a Connection value name one of front_once (a token, any case)? */
static int
front_connection_names_once(const char *v)
{
	size_t	 n, i;

	for (;;) {
		v += strspn(v, " \t,");
		if (*v == '\0')
			return (0);
		n = strcspn(v, " \t,");
		for (i = 0; i < FH_COUNT; i++)
			if (strlen(front_once[i]) == n &&
			    strncasecmp(v, front_once[i], n) == 0)
				return (1);
		v += n;
	}
}

#define FRONT_HDR_SPANS	128	/* headers whose line end is checked */

/* What front_check_header() found. */
struct front_hdr_check {
	const char	*why;		/* first problem, static; or NULL */
	int		 seen[FH_COUNT];
	int		 te_chunked;	/* Transfer-Encoding: chunked, only */
	struct {
		const char	*name;
		const char	*end;	/* of the value, or NULL: empty */
	}		 span[FRONT_HDR_SPANS];
	size_t		 n_span;
};

/*
 * A NUL inside a header value: libmicrohttpd ends the value there, and
 * the rest of the line is never seen. In its buffer (0.9.75) a value's
 * NUL stands where the line ended, followed by what is left of the line
 * end (nothing after a bare LF, one byte after CR LF) and then the next
 * header's name: anything else is the rest of a value cut short. After
 * the last header only the line end and the empty line may follow, and
 * what comes after them (the body) cannot be told from the rest of a
 * value with a line end of its own: that one case goes undetected.
 * Returns 1 when a value was cut.
 */
static int
front_value_cut(const struct front_hdr_check *c)
{
	const char	*p;
	size_t		 i, n;

	for (i = 0; i < c->n_span; i++) {
		if (c->span[i].end == NULL)
			continue;
		for (p = c->span[i].end + 1; *p == ' ' || *p == '\t'; p++)
			;
		for (n = 0; n < 3 && (*p == '\0' || *p == '\r' || *p == '\n');
		    n++)
			p++;
		if (i + 1 < c->n_span ? p != c->span[i + 1].name : n == 0)
			return (1);
	}
	return (0);
}

/*
 * libmicrohttpd (0.9.75) parses a header line in place: the name, a NUL
 * where the ':' was, optional whitespace, the value. For an obs-fold
 * continuation line it joins the lines itself and moves the name
 * elsewhere: a value that does not follow its name on the same line is
 * such a fold, which RFC 9112 5.2 lets a server reject.
 */
static int
front_value_follows_name(const char *name, size_t name_len,
    const char *value, size_t value_len)
{
	const char	*p = name + name_len;

	if (value_len == 0)
		return (1);	/* may be a constant "" */
	if (value <= p || (size_t)(value - p) > FRONT_CONN_MEMORY)
		return (0);
	for (p++; p < value; p++)
		if (*p != ' ' && *p != '\t')
			return (0);
	return (1);
}

static enum MHD_Result
front_check_header(void *cls, enum MHD_ValueKind kind, const char *name,
    size_t name_len, const char *value, size_t value_len)
{
	struct front_hdr_check	*c = cls;
	size_t			 i;

	(void)kind;
	if ((c->why = up_header_invalid(name, name_len, value,
	    value_len)) != NULL)
		return (MHD_NO);
	if (!front_value_follows_name(name, name_len, value, value_len)) {
		c->why = "a header line continued on the next one (obs-fold, "
		    "RFC 9112 5.2): send each header on one line";
		return (MHD_NO);
	}
	if (c->n_span < FRONT_HDR_SPANS) {
		c->span[c->n_span].name = name;
		c->span[c->n_span].end = value_len > 0 ? value + value_len :
		    NULL;
		c->n_span++;
	}
	for (i = 0; i < FH_COUNT; i++)
		if (strcasecmp(name, front_once[i]) == 0 &&
		    c->seen[i]++ > 0) {
			c->why = "a header that may appear once is repeated "
			    "(Content-Length, Content-Type, Authorization, "
			    "X-API-Key, Host, ...)";
			return (MHD_NO);
		}
	if (strcasecmp(name, "Transfer-Encoding") == 0)
		c->te_chunked = value_len == 7 &&
		    strncasecmp(value, "chunked", 7) == 0;
	if (strcasecmp(name, "Connection") == 0 &&
	    front_connection_names_once(value)) {
		/* A hop would drop it: Mem0 would get another request. */
		c->why = "Connection names a header the request needs end to "
		    "end (Content-Type, Authorization, X-API-Key, ...)";
		return (MHD_NO);
	}
	return (MHD_YES);
}

/*
 * The method and the headers as a server behind the proxy could read
 * them: anything libmicrohttpd let through that another parser might
 * read differently (a method with a control or a space, a header with
 * CR or NUL, two lengths, two credentials, no Host in HTTP/1.1) is
 * refused, never forwarded. NULL when fine, else the error code with
 * *why set.
 */
static const char *
front_check_syntax(struct proxy_req *q, unsigned int *status,
    const char **why)
{
	struct front_hdr_check	 c;

	*status = 400;
	if (!up_token_valid(q->method, strlen(q->method))) {
		*why = "the method is not an RFC 9110 token (a space, a "
		    "control or a separator in it)";
		return ("bad_request_method");
	}
	memset(&c, 0, sizeof(c));
	(void)MHD_get_connection_values_n(q->conn, MHD_HEADER_KIND,
	    front_check_header, &c);
	if (c.why == NULL && front_value_cut(&c))
		c.why = "a header value holds a NUL byte";
	if (c.why == NULL && c.seen[FH_HOST] == 0 && q->http11)
		c.why = "an HTTP/1.1 request needs a Host header (RFC 9112 3.2)";
	if (c.why == NULL && c.seen[FH_CONTENT_LENGTH] > 0 &&
	    c.seen[FH_TRANSFER_ENCODING] > 0)
		c.why = "both Content-Length and Transfer-Encoding: the body's "
		    "length is ambiguous";
	if (c.why == NULL && c.seen[FH_TRANSFER_ENCODING] > 0 &&
	    !c.te_chunked) {
		*status = 501;
		*why = "a Transfer-Encoding other than chunked (RFC 9112 "
		    "6.1): send the body with Content-Length or chunked";
		return ("unsupported_transfer_encoding");
	}
	if (c.why == NULL)
		return (NULL);
	*why = c.why;
	return ("bad_request_header");
}

/* First call: headers are in. */
static enum MHD_Result
front_on_headers(struct proxy_req *q)
{
	const struct config	*cfg = q->cfg;
	const char		*rid, *cl, *why, *code;
	enum MHD_Result		 ret;
	char			*end;
	unsigned long long	 n;
	size_t			 bad;
	unsigned int		 status;

	rid = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND,
	    "X-Request-Id");
	if (rid != NULL && front_request_id_valid(rid))
		snprintf(q->request_id, sizeof(q->request_id), "%s", rid);
	else {
		front_new_request_id(q->request_id);
		/* It may carry personal data: only its keyed hash is logged. */
		if (rid != NULL)
			anon_digest(q->f->anon, rid, strlen(rid),
			    q->client_rid_hash, sizeof(q->client_rid_hash) - 1);
	}
	front_client_ip(q);
	if (q->admin)
		return (front_admin(q));

	if ((code = front_check_syntax(q, &status, &why)) != NULL) {
		/* Claimed (a bad method unread); nothing is forwarded. */
		if (strcmp(code, "bad_request_method") == 0) {
			free(q->method);
			if ((q->method = strdup("-")) == NULL)
				return (MHD_NO);
		}
		proxy_route(q);
		return (proxy_refuse(q, status, code, why));
	}
	if (q->target_nul) {
		proxy_route(q);
		return (proxy_refuse(q, 400, "bad_request_target",
		    "the request target holds a NUL byte"));
	}
	if (route_target_check(q->target, &bad, &why) == -1) {
		/*
		 * Claimed as what it would have been: its longest valid
		 * prefix is classified. Nothing of it is forwarded.
		 */
		q->target[bad] = '\0';
		proxy_route(q);
		return (proxy_refuse(q, 400, "bad_request_target", why));
	}
	/* tls.client_ca_file: only clients with a certificate of that CA. */
	/*
	 * Not claimed: a client outside the trust boundary must not be able
	 * to write to the audit trail (or fill the spool).
	 */
	if (cfg->tls_client_ca_file != NULL &&
	    !tls_client_verified(q->conn))
		return (front_reply_json(q, 403, "{\"error\":"
		    "\"client_certificate_required\",\"message\":\"this "
		    "listener takes only clients with a valid client "
		    "certificate of its client CA (tls.client_ca_file)\"}"));
	if (front_own_endpoint(q, &ret))
		return (ret);
	cl = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND,
	    "Content-Length");
	if (cl != NULL) {
		n = strtoull(cl, &end, 10);
		if (*end == '\0' && n > cfg->max_request_bytes) {
			proxy_route(q);
			return (proxy_refuse(q, 413, "request_too_large",
			    "the request body is larger than "
			    "limits.max_request_bytes"));
		}
	}
	q->stage = PROXY_BODY;
	return (MHD_YES);
}

/*
 * The connection's context (MHD_OPTION_NOTIFY_CONNECTION): the raw
 * target of the request being read. It lives as long as the socket, so
 * a request libmicrohttpd refuses before the access handler runs (a
 * header section over the memory limit: 431) leaves nothing behind.
 *
 * It also keeps the header deadline (limits.header_timeout_ms): from the
 * connection, or the end of its previous request, until the access
 * handler sees the headers. libmicrohttpd only knows an idle timeout, so
 * a client sending a byte now and then would keep a slot for ever; the
 * engine's reaper (front_reap()) shuts such a socket down. A client
 * daemon runs on the reaper's thread, so libmicrohttpd cannot close the
 * socket under it: the reaper uses the socket itself. The admin daemon
 * has a thread of its own: there the reaper uses a dup() of the socket,
 * its own, never a descriptor number libmicrohttpd may have closed and
 * reused meanwhile. (A dup for every client connection would take two
 * descriptors per held request.)
 */
struct front_conn {
	char			*target;	/* as received, or NULL */
	int			 fd;		/* the socket, or -1 */
	int			 own_fd;	/* fd is our dup(): close it */
	long long		 since_ms;	/* waiting for headers since */
	int			 waiting;	/* in f's wait list */
	int			 too_long;	/* answered 414 already */
	struct front_conn	*prev, *next;	/* f's wait list, under
						   f->lock */
};

/* Under f->lock: fc joins the wait list's tail (since_ms = now), or
 * leaves it. */
static void
front_wait_add(struct front *f, struct front_conn *fc)
{
	fc->since_ms = eng_now_ms();
	fc->waiting = 1;
	fc->next = NULL;
	fc->prev = f->wait_tail;
	if (f->wait_tail != NULL)
		f->wait_tail->next = fc;
	else
		f->wait_head = fc;
	f->wait_tail = fc;
}

static void
front_wait_del(struct front *f, struct front_conn *fc)
{
	if (!fc->waiting)
		return;
	if (fc->prev != NULL)
		fc->prev->next = fc->next;
	else
		f->wait_head = fc->next;
	if (fc->next != NULL)
		fc->next->prev = fc->prev;
	else
		f->wait_tail = fc->prev;
	fc->prev = fc->next = NULL;
	fc->waiting = 0;
}

static void
front_on_connection(void *cls, struct MHD_Connection *conn,
    void **socket_context, enum MHD_ConnectionNotificationCode toe)
{
	const union MHD_ConnectionInfo	*ci;
	const struct front_lsn		*l = cls;
	struct front			*f = l->f;
	struct front_conn		*fc = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		if ((fc = calloc(1, sizeof(*fc))) == NULL)
			return;
		ci = MHD_get_connection_info(conn,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		fc->fd = -1;
		if (ci != NULL && l->admin) {
			fc->fd = fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0);
			fc->own_fd = fc->fd != -1;
		} else if (ci != NULL)
			fc->fd = ci->connect_fd;
		pthread_mutex_lock(&f->lock);
		front_wait_add(f, fc);
		pthread_mutex_unlock(&f->lock);
		*socket_context = fc;
		return;
	}
	if (fc != NULL) {
		pthread_mutex_lock(&f->lock);
		front_wait_del(f, fc);
		pthread_mutex_unlock(&f->lock);
		if (fc->own_fd)
			close(fc->fd);
		free(fc->target);
		free(fc);
	}
	*socket_context = NULL;
}

/* Waiting for a request's headers (again): the deadline starts now. */
static void
front_conn_wait(struct front *f, struct front_conn *fc, int waiting)
{
	pthread_mutex_lock(&f->lock);
	front_wait_del(f, fc);
	if (waiting)
		front_wait_add(f, fc);
	pthread_mutex_unlock(&f->lock);
}

static void	 front_prune_retired(struct front *);

/*
 * Engine timer, every FRONT_REAP_MS: cut the connections whose request
 * line and headers took longer than limits.header_timeout_ms.
 */
static void
front_reap(void *arg)
{
	struct front		*f = arg;
	struct front_conn	*fc;
	struct wm_stats		 st;
	long long		 now = eng_now_ms(), limit;
	unsigned long		 cut = 0;
	char			 n[32];

	if (eng_stopping(f->eng))
		return;
	front_prune_retired(f);
	wm_get_stats(f->wm, &st);
	status_sample(f->status, now, st.queued, st.sent);
	limit = cfg_live()->header_timeout_ms;
	pthread_mutex_lock(&f->lock);
	/* Oldest first: the first one still in time ends the walk. A cut
	 * connection leaves the list (it is shut down once). */
	while ((fc = f->wait_head) != NULL && now - fc->since_ms >= limit) {
		front_wait_del(f, fc);
		if (fc->fd == -1)
			continue;
		(void)shutdown(fc->fd, SHUT_RDWR);
		cut++;
	}
	pthread_mutex_unlock(&f->lock);
	if (cut > 0) {
		__atomic_add_fetch(&f->header_timeouts, cut, __ATOMIC_RELAXED);
		snprintf(n, sizeof(n), "%lu", cut);
		log_msg(CFG_LOG_WARN, "connections cut: no request headers "
		    "within limits.header_timeout_ms", "count", n, LOG_END);
	}
	(void)eng_timer_add(f->eng, FRONT_REAP_MS, front_reap, f);
}

static struct front_conn *
front_conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo	*ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return (ci != NULL ? ci->socket_context : NULL);
}

/* A new request on conn: its state, taking the target from the
 * connection's context. NULL when memory is short. */
static struct proxy_req *
front_req_new(struct front *f, struct MHD_Connection *conn)
{
	struct front_conn	*fc = front_conn_of(conn);
	struct proxy_req	*q;

	if (fc == NULL || fc->target == NULL)
		return (NULL);
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return (NULL);
	q->target = fc->target;
	fc->target = NULL;
	front_conn_wait(f, fc, 0);
	q->f = f;
	q->px = f->px;
	q->cfg = cfg_live();
	q->conn = conn;
	q->t_start = eng_now_ms();
	q->up_us = -1;
	__atomic_add_fetch(&f->active, 1, __ATOMIC_RELAXED);
	buf_init(&q->body, q->cfg->max_request_bytes);
	return (q);
}

static enum MHD_Result
front_on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	const union MHD_ConnectionInfo	*di;
	const struct front_lsn		*l = cls;
	struct MHD_Daemon		*cur;
	struct proxy_req		*q = *con_cls;

	if (q == NULL) {
		if ((q = *con_cls = front_req_new(l->f, conn)) == NULL)
			return (MHD_NO);
		q->admin = l->admin;
		cur = __atomic_load_n(&l->f->mhd, __ATOMIC_ACQUIRE);
		q->closing = !l->admin && cur != NULL &&
		    (di = MHD_get_connection_info(conn,
		    MHD_CONNECTION_INFO_DAEMON)) != NULL && di->daemon != cur;
	}
	switch (q->stage) {
	case PROXY_HEADERS:
		if ((q->method = strdup(method)) == NULL)
			return (MHD_NO);
		q->http11 = strcmp(version, MHD_HTTP_VERSION_1_1) == 0;
		/*
		 * url and version lie in libmicrohttpd's copy of the request
		 * line, the version right after the target as the URI
		 * callback saw it; further on, the target held a NUL that
		 * cut it short.
		 */
		q->target_nul = version != url + strlen(q->target) + 1;
		return (front_on_headers(q));
	case PROXY_BODY:
		if (*upload_data_size > 0) {
			q->has_body = 1;
			q->body_seen += *upload_data_size;
			if (!q->too_large && buf_append(&q->body, upload_data,
			    *upload_data_size) == -1)
				q->too_large = 1;
			*upload_data_size = 0;
			/* Draining a huge body helps nobody: cut it. */
			if (q->too_large && q->body_seen / FRONT_DRAIN_FACTOR >
			    q->cfg->max_request_bytes)
				return (MHD_NO);
			return (MHD_YES);
		}
		return (proxy_start(q));
	default:
		return (proxy_resumed(q));
	}
}

/*
 * A target longer than FRONT_TARGET_MAX: answered 414 from the URI
 * callback, straight onto the socket (through the connection's own
 * descriptor; nothing else was written for this request yet), logged
 * and claimed. libmicrohttpd 0.9.75 would drop a long query without a
 * word once its arguments overflow the connection's memory. The access
 * handler then closes the connection (front_req_new()).
 */
static void
front_uri_refuse(struct front *f, struct front_conn *fc, const char *code,
    const char *message)
{
	char	 head[256], body[256], rid[33];
	int	 n, m;

	fc->too_long = 1;
	front_new_request_id(rid);
	m = snprintf(body, sizeof(body), "{\"error\":\"%s\",\"message\":"
	    "\"%s\"}", code, message);
	n = snprintf(head, sizeof(head), "HTTP/1.1 414 URI Too Long\r\n"
	    "Content-Type: application/json\r\nContent-Length: %d\r\n"
	    "X-Request-Id: %s\r\nConnection: close\r\n\r\n", m, rid);
	if (fc->fd != -1 && send(fc->fd, head, (size_t)n,
	    MSG_NOSIGNAL | MSG_DONTWAIT | MSG_MORE) == n)
		(void)send(fc->fd, body, (size_t)m, MSG_NOSIGNAL |
		    MSG_DONTWAIT);
	/* The answer, then the end: the client closes, so does MHD. */
	if (fc->fd != -1)
		(void)shutdown(fc->fd, SHUT_WR);
	log_msg(CFG_LOG_INFO, "request", "request_id", rid, "kind", "other",
	    "status", "414", "error", code, LOG_END);
	proxy_claim_refused_target(f->px, rid, 414, code);
}

/* How many query parameters libmicrohttpd will store for uri. */
static size_t
front_query_params(const char *uri)
{
	const char	*q = strchr(uri, '?');
	size_t		 n;

	if (q == NULL || q[1] == '\0')
		return (0);
	for (n = 1; (q = strchr(q + 1, '&')) != NULL; n++)
		;
	return (n);
}

/* The request line is in: keep its raw target (MHD decodes url). */
static void *
front_on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct front_conn	*fc = front_conn_of(conn);

	if (fc == NULL)
		return (NULL);
	free(fc->target);
	fc->target = NULL;
	if (strlen(uri) > FRONT_TARGET_MAX)
		front_uri_refuse(cls, fc, "uri_too_long", "the request target "
		    "is longer than 16384 bytes");
	else if (front_query_params(uri) > FRONT_QUERY_PARAMS_MAX)
		front_uri_refuse(cls, fc, "too_many_query_parameters", "the "
		    "request target has more than 512 query parameters");
	else
		fc->target = strdup(uri);	/* NULL: the request fails */
	return (NULL);
}

static void
front_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct front_conn	*fc;
	struct proxy_req	*q = *con_cls;

	(void)cls;
	(void)toe;
	if (q == NULL)
		return;
	/* Keep-alive: the next request's headers have a deadline too. */
	if ((fc = front_conn_of(conn)) != NULL)
		front_conn_wait(q->f, fc, 1);
	__atomic_sub_fetch(&q->f->active, 1, __ATOMIC_RELAXED);
	proxy_req_free(q);
	*con_cls = NULL;
}

static void	 front_on_mhd_log(void *, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));

/* libmicrohttpd's messages, as our log lines. */
static void
front_on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char	 msg[512];
	size_t	 n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_msg(CFG_LOG_WARN, "libmicrohttpd", "detail", msg, LOG_END);
}

/* A listening daemon on host:port; NULL with a message in err. */
static struct MHD_Daemon *
front_listen(struct front *f, int admin, const char *host, int port_n,
    unsigned int conns, unsigned int per_client, const struct tls *tls,
    int listen_fd, char *err, size_t errlen)
{
	const struct config	*cfg = f->cfg;
	struct MHD_OptionItem	 extra[5];
	struct addrinfo		 hints, *ai = NULL;
	struct MHD_Daemon	*d;
	unsigned int		 flags;
	size_t			 n = 0;
	char			 port[16];
	int			 rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", port_n);
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		snprintf(err, errlen, "listen address %s: %s", host,
		    gai_strerror(rc));
		return (NULL);
	}
	/*
	 * The client listener runs inside the engine's loop (front_watch()),
	 * so a request never changes threads on its way to Mem0 and back;
	 * the admin listener keeps a thread of its own, so that the status
	 * page answers even when the loop is saturated.
	 */
	flags = (admin ? MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO :
	    MHD_USE_EPOLL) | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* TLS: libmicrohttpd asks for a client certificate with a trust
	 * list; the check is front_on_headers()'s (tls_client_verified()). */
	if (tls != NULL && tls->cert != NULL) {
		flags |= MHD_USE_TLS;
		extra[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT,
		    0, tls->cert };
		extra[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY,
		    0, tls->key };
		if (tls->ca != NULL)
			extra[n++] = (struct MHD_OptionItem){
			    MHD_OPTION_HTTPS_MEM_TRUST, 0, tls->ca };
	}
	/* A new certificate: the running daemon's socket, not a new one. */
	if (listen_fd != -1)
		extra[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET,
		    listen_fd, NULL };
	extra[n] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	d = MHD_start_daemon(flags, (uint16_t)port_n, NULL, NULL,
	    front_on_request, admin ? &f->lsn_admin : &f->lsn_client,
	    MHD_OPTION_EXTERNAL_LOGGER, front_on_mhd_log, f,
	    MHD_OPTION_SOCK_ADDR, ai->ai_addr,
	    MHD_OPTION_URI_LOG_CALLBACK, front_on_uri, f,
	    MHD_OPTION_NOTIFY_COMPLETED, front_on_completed, f,
	    MHD_OPTION_NOTIFY_CONNECTION, front_on_connection,
	    admin ? &f->lsn_admin : &f->lsn_client,
	    MHD_OPTION_CONNECTION_LIMIT, conns,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_client,
	    MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)((cfg->idle_timeout_ms + 999) / 1000),
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)FRONT_CONN_MEMORY,
	    MHD_OPTION_ARRAY, extra,
	    MHD_OPTION_END);
	freeaddrinfo(ai);
	if (d == NULL && tls != NULL && tls->cert != NULL)
		snprintf(err, errlen, "cannot listen on %s:%d with TLS (port "
		    "in use, no permission, or a certificate and key that do "
		    "not load or do not match: see the libmicrohttpd line "
		    "above)", host, port_n);
	else if (d == NULL)
		snprintf(err, errlen, "cannot listen on %s:%d (in use, or no "
		    "permission)", host, port_n);
	return (d);
}

/*
 * A client daemon in the engine's loop: libmicrohttpd's own epoll set is
 * one descriptor of the engine's, and the daemon runs when it is
 * readable or when its timeouts (idle connections, resumed ones, TLS
 * data already read) say so.
 */
/* A client daemon the engine runs. Engine thread only. */
struct front_loop {
	struct front		*f;
	struct MHD_Daemon	*d;
	unsigned long		 seen;		/* f->resume_gen at its last
						   run */
};

static void
front_daemon_run(void *arg)
{
	struct front_loop	*l = arg;

	l->seen = __atomic_load_n(&l->f->resume_gen, __ATOMIC_RELAXED);
	(void)MHD_run(l->d);
}

static long
front_daemon_wait(void *arg)
{
	struct front_loop	*l = arg;
	MHD_UNSIGNED_LONG_LONG	 t;

	/* A connection resumed since the daemon last ran: now. */
	if (l->seen != __atomic_load_n(&l->f->resume_gen, __ATOMIC_RELAXED))
		return (0);
	if (MHD_get_timeout(l->d, &t) != MHD_YES)
		return (-1);
	return (t > (MHD_UNSIGNED_LONG_LONG)LONG_MAX ? LONG_MAX : (long)t);
}

/* The descriptor the engine watches for daemon d, or -1. */
static int
front_daemon_fd(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo	*di;

	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
	return (di != NULL ? di->epoll_fd : -1);
}

/* Engine thread (eng_run_sync()): what a change of daemons needs. */
struct front_swap {
	struct front		*f;
	struct MHD_Daemon	*d;		/* the new daemon */
	const struct config	*cfg;		/* reload: its files */
	struct tls		*tls;		/* reload: taken when used */
	struct front_loop	*loop;		/* out: s->d's, in the loop */
	char			*err;
	size_t			 errlen;
	int			 rc;
};

/* Engine thread: run s->d in the loop (its struct in s->loop). */
static void
front_watch(void *arg)
{
	struct front_swap	*s = arg;
	struct front_loop	*l;
	int			 fd;

	s->rc = -1;
	if ((fd = front_daemon_fd(s->d)) == -1 ||
	    (l = calloc(1, sizeof(*l))) == NULL)
		return;
	l->f = s->f;
	l->d = s->d;
	l->seen = __atomic_load_n(&s->f->resume_gen, __ATOMIC_RELAXED);
	if (eng_watch(s->f->eng, fd, front_daemon_run, front_daemon_wait,
	    l) == -1) {
		free(l);
		return;
	}
	s->loop = l;
	s->rc = 0;
}

/*
 * Engine thread, or any once the engine stopped: stop the daemon of l
 * and free l.
 */
static void
front_daemon_stop(struct front *f, struct front_loop *l)
{
	int	 fd;

	if (l == NULL)
		return;
	if ((fd = front_daemon_fd(l->d)) != -1)
		eng_unwatch(f->eng, fd);
	MHD_stop_daemon(l->d);
	free(l);
}

struct front *
front_start(const struct config *cfg, struct eng *eng, struct wm *wm,
    struct gate *gate, const struct anon *anon, char *err, size_t errlen)
{
	struct front_swap	 ws;
	struct front		*f;
	struct MHD_Daemon	*d;

	if ((f = calloc(1, sizeof(*f))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	f->cfg = cfg;
	f->eng = eng;
	f->wm = wm;
	f->gate = gate;
	f->anon = anon;
	if (pthread_mutex_init(&f->lock, NULL) != 0) {
		snprintf(err, errlen, "cannot create a mutex");
		free(f);
		return (NULL);
	}
	f->started_ms = eng_now_ms();
	f->quiesced_fd = -1;
	f->lsn_client.f = f;
	f->lsn_admin.f = f;
	f->lsn_admin.admin = 1;
	if ((f->px = proxy_create(cfg, eng, wm, gate, anon)) == NULL ||
	    (f->status = status_create()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out_free_front;
	}
	if (tls_load(&f->tls, cfg, err, errlen) == -1)
		goto out_free_front;
	/* Atomic: the daemon's thread may look at it already. */
	d = front_listen(f, 0, cfg->listen_host, cfg->listen_port,
	    (unsigned int)cfg->max_connections,
	    (unsigned int)cfg->max_connections_per_client, &f->tls, -1, err,
	    errlen);
	if (d == NULL)
		goto out_free_front;
	__atomic_store_n(&f->mhd, d, __ATOMIC_RELEASE);
	/* The admin listener: few connections, the same protections. */
	if (cfg->admin_host != NULL &&
	    (f->admin = front_listen(f, 1, cfg->admin_host, cfg->admin_port,
	    FRONT_ADMIN_CONNS, FRONT_ADMIN_CONNS / 4, NULL, -1, err,
	    errlen)) == NULL)
		goto out_stop_client;
	memset(&ws, 0, sizeof(ws));
	ws.f = f;
	ws.d = d;
	eng_run_sync(eng, front_watch, &ws);
	f->loop = ws.loop;
	if (ws.rc == -1) {
		snprintf(err, errlen, "cannot run the client listener in the "
		    "engine's loop");
		goto out_stop_admin;
	}
	/* The header deadline's reaper runs on the engine thread. */
	(void)eng_call(eng, front_reap, f);
	return (f);

out_stop_admin:
	if (f->admin != NULL)
		MHD_stop_daemon(f->admin);
out_stop_client:
	MHD_stop_daemon(f->mhd);
out_free_front:
	tls_free(&f->tls);
	status_destroy(f->status);
	proxy_free(f->px);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return (NULL);
}

/*
 * Engine thread: stop the retired daemons whose last connection has
 * ended (from the reaper's timer and before a reload).
 */
static void
front_prune_retired(struct front *f)
{
	const union MHD_DaemonInfo	*di;
	size_t				 i;

	for (i = 0; i < FRONT_RETIRED_MAX; i++) {
		if (f->retired[i].mhd == NULL)
			continue;
		di = MHD_get_daemon_info(f->retired[i].mhd,
		    MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (di == NULL || di->num_connections != 0)
			continue;
		front_daemon_stop(f, f->retired[i].loop);
		f->retired[i].mhd = NULL;
		f->retired[i].loop = NULL;
		tls_free(&f->retired[i].tls);
	}
}

/*
 * Engine thread: a new client daemon with s->tls takes over the
 * listening socket; the old one finishes its connections.
 */
static void
front_swap_tls(void *arg)
{
	const union MHD_DaemonInfo	*di;
	struct front_swap		*s = arg;
	struct front			*f = s->f;
	const struct config		*cfg = s->cfg;
	struct MHD_Daemon		*d, *old = f->mhd;
	size_t				 i;

	s->rc = -1;
	front_prune_retired(f);
	for (i = 0; i < FRONT_RETIRED_MAX && f->retired[i].mhd != NULL; i++)
		;
	if (i == FRONT_RETIRED_MAX) {
		snprintf(s->err, s->errlen, "%d older certificates still serve "
		    "open connections; try again later, or restart",
		    FRONT_RETIRED_MAX);
		return;
	}
	di = MHD_get_daemon_info(old, MHD_DAEMON_INFO_LISTEN_FD);
	if (di == NULL) {
		snprintf(s->err, s->errlen, "the client listener's socket is "
		    "gone");
		return;
	}
	/*
	 * The new daemon shares the listening socket; once it runs, the old
	 * one stops accepting (its socket is then the new one's) and keeps
	 * its connections to the end.
	 */
	if ((d = front_listen(f, 0, cfg->listen_host, cfg->listen_port,
	    (unsigned int)cfg->max_connections,
	    (unsigned int)cfg->max_connections_per_client, s->tls,
	    (int)di->listen_fd, s->err, s->errlen)) == NULL)
		return;
	s->d = d;
	front_watch(s);
	if (s->rc == -1) {
		snprintf(s->err, s->errlen, "cannot run the new client "
		    "listener in the engine's loop");
		MHD_stop_daemon(d);
		return;
	}
	(void)MHD_quiesce_daemon(old);
	__atomic_store_n(&f->mhd, d, __ATOMIC_RELEASE);
	f->retired[i].mhd = old;
	f->retired[i].loop = f->loop;
	f->retired[i].tls = f->tls;
	f->loop = s->loop;
	f->tls = *s->tls;
	memset(s->tls, 0, sizeof(*s->tls));
	s->rc = 1;
}

int
front_reload_tls(struct front *f, const struct config *cfg, char *err,
    size_t errlen)
{
	struct front_swap	 s;
	struct tls		 t;

	if (f->tls.cert == NULL)
		return (0);		/* TLS on or off: a restart */
	if (tls_load(&t, cfg, err, errlen) == -1)
		return (-1);
	if (tls_same(&t, &f->tls)) {
		tls_free(&t);
		return (0);
	}
	memset(&s, 0, sizeof(s));
	s.f = f;
	s.cfg = cfg;
	s.tls = &t;
	s.err = err;
	s.errlen = errlen;
	eng_run_sync(f->eng, front_swap_tls, &s);
	tls_free(&t);			/* unless the new daemon took it */
	return (s.rc);
}

/* Engine thread: stop accepting; keep the socket for front_stop(). */
static void
front_quiesce_run(void *arg)
{
	struct front	*f = arg;
	MHD_socket	 s;

	/*
	 * Closing the socket now could hand its number to another file
	 * while a retired daemon still knows it: stop listening now (new
	 * connections are refused), close once the daemons are stopped.
	 */
	s = MHD_quiesce_daemon(f->mhd);
	if (s != MHD_INVALID_SOCKET) {
		(void)shutdown(s, SHUT_RDWR);
		f->quiesced_fd = s;
	}
}

void
front_quiesce(struct front *f)
{
	eng_run_sync(f->eng, front_quiesce_run, f);
}

void
front_drain(struct front *f, long ms)
{
	struct pollfd	 pfd[1 + FRONT_RETIRED_MAX];
	nfds_t		 n, i;
	long long	 deadline = eng_now_ms() + ms;

	/* The engine is stopped: this thread runs the client daemons. */
	while (front_active(f) > 0 && eng_now_ms() < deadline) {
		n = 0;
		pfd[n].fd = front_daemon_fd(f->mhd);
		pfd[n++].events = POLLIN;
		for (i = 0; i < FRONT_RETIRED_MAX; i++)
			if (f->retired[i].mhd != NULL) {
				pfd[n].fd = front_daemon_fd(f->retired[i].mhd);
				pfd[n++].events = POLLIN;
			}
		(void)poll(pfd, n, 10);
		(void)MHD_run(f->mhd);
		for (i = 0; i < FRONT_RETIRED_MAX; i++)
			if (f->retired[i].mhd != NULL)
				(void)MHD_run(f->retired[i].mhd);
	}
}

size_t
front_inflight(struct front *f)
{
	return (proxy_inflight(f->px));
}

size_t
front_active(struct front *f)
{
	return (__atomic_load_n(&f->active, __ATOMIC_RELAXED));
}

void
front_stop(struct front *f)
{
	size_t	 i;

	if (f == NULL)
		return;
	/* Exports still queued are answered (503) before the sockets go. */
	proxy_stop(f->px);
	/* The admin listener first: its metrics read the client daemon. */
	if (f->admin != NULL)
		MHD_stop_daemon(f->admin);
	front_daemon_stop(f, f->loop);
	for (i = 0; i < FRONT_RETIRED_MAX; i++)
		if (f->retired[i].mhd != NULL) {
			front_daemon_stop(f, f->retired[i].loop);
			tls_free(&f->retired[i].tls);
		}
	if (f->quiesced_fd != -1)
		close(f->quiesced_fd);
	tls_free(&f->tls);
	status_destroy(f->status);
	proxy_free(f->px);
	pthread_mutex_destroy(&f->lock);
	free(f);
}
