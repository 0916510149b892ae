/*
 * admin: the proxy's own endpoints as documents. See admin.h.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "admin.h"
#include "buf.h"
#include "engine.h"
#include "metrics.h"

#ifndef VERSION
#define VERSION	"unknown"
#endif

/* A static JSON document. */
static int
admin_static(struct admin_doc *d, unsigned int status, const char *json)
{
	memset(d, 0, sizeof(*d));
	d->kind = ADMIN_JSON;
	d->status = status;
	d->type = "application/json";
	d->body = (char *)(uintptr_t)json;
	d->len = strlen(json);
	d->is_static = 1;
	return (0);
}

/* A document that takes malloc'd body[0..len). */
static int
admin_owned(struct admin_doc *d, enum admin_kind kind, unsigned int status,
    const char *type, char *body, size_t len)
{
	memset(d, 0, sizeof(*d));
	d->kind = kind;
	d->status = status;
	d->type = type;
	d->body = body;
	d->len = len;
	return (body != NULL ? 0 : -1);
}

static int
admin_ready(const struct admin_facts *f, struct wm_stats *st)
{
	wm_get_stats(f->wm, st);
	return (wm_accepting(f->wm) && !st->breaker_open &&
	    !f->upstream_down);
}

/*
 * Ready to take traffic: the spool takes claims, claim delivery to Wingman
 * is not failing (breaker closed), and the last exchange reached Mem0.
 */
static int
admin_readyz(const struct admin_facts *f, struct admin_doc *d)
{
	struct wm_stats	 st;
	struct buf	 b;
	size_t		 len;
	int		 ready;

	ready = admin_ready(f, &st);
	buf_init(&b, 512);
	if (buf_printf(&b, "{\"status\":\"%s\",\"spool_writable\":%s,"
	    "\"wingman_breaker_open\":%s,\"upstream_reachable\":%s}",
	    ready ? "ready" : "not_ready",
	    wm_accepting(f->wm) ? "true" : "false",
	    st.breaker_open ? "true" : "false",
	    f->upstream_down ? "false" : "true") == -1) {
		buf_free(&b);
		return (-1);
	}
	len = b.len;
	return (admin_owned(d, ADMIN_JSON, ready ? 200 : 503,
	    "application/json", buf_steal(&b), len));
}

static int
admin_metrics(const struct admin_facts *f, struct admin_doc *d)
{
	struct metrics_gauges	 g;
	struct wm_stats		 st;
	struct buf		 b;
	size_t			 len;

	wm_get_stats(f->wm, &st);
	memset(&g, 0, sizeof(g));
	g.spool_claims = st.pending;
	g.spool_bytes = st.spool_bytes;
	g.claims_queued = st.queued;
	g.claims_sent = st.sent;
	g.claims_retried = st.retried;
	g.claims_dropped = st.dropped;
	g.claims_refused = st.refused;
	g.claims_fallback = st.fallback;
	g.spool_corrupt = st.corrupt;
	g.spool_io_errors = st.io_errors;
	g.spool_writable = st.spool_writable;
	g.spool_unwritable_s = st.unwritable_s;
	g.breaker_open = st.breaker_open;
	g.holds = gate_holding(f->gate);
	g.oldest_pending_s = gate_oldest_pending_s(f->gate);
	g.upstream_reachable = !f->upstream_down;
	g.inflight = f->inflight;
	g.header_timeouts = f->header_timeouts;
	g.connections = (unsigned int)f->connections;
	buf_init(&b, 1024 * 1024);
	if (metrics_render(&b, &g, VERSION) == -1) {
		buf_free(&b);
		return (admin_static(d, 500, "{\"error\":\"internal_error\"}"));
	}
	len = b.len;
	return (admin_owned(d, ADMIN_METRICS, 200,
	    "text/plain; version=0.0.4", buf_steal(&b), len));
}

/* A URL for the page: no user:password@ part. */
static const char *
admin_public_url(const char *url, char *out, size_t outlen)
{
	const char	*at, *scheme;

	if (url == NULL)
		return ("");
	scheme = strstr(url, "://");
	at = strchr(url, '@');
	if (scheme == NULL || at == NULL)
		return (url);
	snprintf(out, outlen, "%.*s%s", (int)(scheme + 3 - url), url,
	    at + 1);
	return (out);
}

/*
 * GET /status.json: what the status page shows. Pseudonyms only (the
 * SCOPE lines of approvals); no key, credential or raw id.
 */
static int
admin_status_json(const struct admin_facts *f, struct admin_doc *d)
{
	const struct config	*cfg = f->cfg;
	struct wm_stats		 st;
	cJSON			*o, *sp, *cl, *wmo, *up;
	double			 in_s, out_s;
	char			 digest[17], url[1024];
	char			*text;
	int			 rates, ok, ready;

	ready = admin_ready(f, &st);
	rates = f->status != NULL && status_rates(f->status, &in_s,
	    &out_s) == 0;
	if (cfg_digest(cfg, digest, sizeof(digest)) == -1)
		snprintf(digest, sizeof(digest), "unknown");
	if ((o = cJSON_CreateObject()) == NULL)
		return (admin_static(d, 500, "{\"error\":\"internal_error\"}"));
	ok = cJSON_AddStringToObject(o, "version", VERSION) != NULL &&
	    cJSON_AddStringToObject(o, "config_digest", digest) != NULL &&
	    cJSON_AddNumberToObject(o, "uptime_s",
	    (double)((eng_now_ms() - f->started_ms) / 1000)) != NULL &&
	    cJSON_AddBoolToObject(o, "ready", ready) != NULL &&
	    cJSON_AddNumberToObject(o, "holds",
	    (double)gate_holding(f->gate)) != NULL &&
	    cJSON_AddNumberToObject(o, "inflight", (double)f->inflight) !=
	    NULL &&
	    cJSON_AddNumberToObject(o, "connections",
	    (double)f->connections) != NULL &&
	    (sp = cJSON_AddObjectToObject(o, "spool")) != NULL &&
	    cJSON_AddNumberToObject(sp, "claims", (double)st.pending) !=
	    NULL &&
	    cJSON_AddNumberToObject(sp, "bytes", (double)st.spool_bytes) !=
	    NULL &&
	    cJSON_AddNumberToObject(sp, "max_bytes",
	    (double)cfg->spool_max_bytes) != NULL &&
	    cJSON_AddBoolToObject(sp, "writable", wm_accepting(f->wm)) !=
	    NULL &&
	    (cl = cJSON_AddObjectToObject(o, "claims")) != NULL &&
	    cJSON_AddNumberToObject(cl, "queued_total",
	    (double)st.queued) != NULL &&
	    cJSON_AddNumberToObject(cl, "sent_total", (double)st.sent) !=
	    NULL &&
	    cJSON_AddNumberToObject(cl, "dropped_total",
	    (double)st.dropped) != NULL &&
	    cJSON_AddNumberToObject(cl, "refused_total",
	    (double)st.refused) != NULL &&
	    (rates ? cJSON_AddNumberToObject(cl, "in_per_s", in_s) :
	    cJSON_AddNullToObject(cl, "in_per_s")) != NULL &&
	    (rates ? cJSON_AddNumberToObject(cl, "out_per_s", out_s) :
	    cJSON_AddNullToObject(cl, "out_per_s")) != NULL &&
	    (st.pending == 0 ? cJSON_AddNumberToObject(cl, "drain_s", 0) :
	    rates && out_s > in_s ? cJSON_AddNumberToObject(cl, "drain_s",
	    (double)st.pending / (out_s - in_s)) :
	    cJSON_AddNullToObject(cl, "drain_s")) != NULL &&
	    (wmo = cJSON_AddObjectToObject(o, "wingman")) != NULL &&
	    cJSON_AddStringToObject(wmo, "url", admin_public_url(
	    cfg->wingman_url, url, sizeof(url))) != NULL &&
	    cJSON_AddBoolToObject(wmo, "breaker_open", st.breaker_open) !=
	    NULL &&
	    (up = cJSON_AddObjectToObject(o, "upstream")) != NULL &&
	    cJSON_AddStringToObject(up, "url", admin_public_url(
	    cfg->upstream_url, url, sizeof(url))) != NULL &&
	    cJSON_AddBoolToObject(up, "reachable", !f->upstream_down) !=
	    NULL &&
	    gate_status_json(f->gate, o, admin_public_url(cfg->wingman_url,
	    url, sizeof(url))) == 0;
	text = ok ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (text == NULL)
		return (admin_static(d, 500, "{\"error\":\"internal_error\"}"));
	/* cJSON allocates with malloc (no hooks set): free() releases it. */
	return (admin_owned(d, ADMIN_JSON, 200, "application/json", text,
	    strlen(text)));
}

int
admin_host_is_literal(const char *host)
{
	unsigned char	 a[sizeof(struct in6_addr)];
	char		 h[64];
	const char	*end;
	size_t		 n;

	if (host[0] == '[') {
		if ((end = strchr(host, ']')) == NULL ||
		    (size_t)(end - host - 1) >= sizeof(h))
			return (0);
		memcpy(h, host + 1, (size_t)(end - host - 1));
		h[end - host - 1] = '\0';
		return (inet_pton(AF_INET6, h, a) == 1 && (end[1] == '\0' ||
		    (end[1] == ':' && end[2 + strspn(end + 2, "0123456789")] ==
		    '\0')));
	}
	n = strcspn(host, ":");
	if (n >= sizeof(h) || (host[n] == ':' &&
	    host[n + 1 + strspn(host + n + 1, "0123456789")] != '\0'))
		return (0);
	memcpy(h, host, n);
	h[n] = '\0';
	return (strcasecmp(h, "localhost") == 0 ||
	    inet_pton(AF_INET, h, a) == 1);
}

/* Is the admin listener on a loopback address? */
static int
admin_on_loopback(const struct config *cfg)
{
	return (cfg->admin_host != NULL &&
	    (strncmp(cfg->admin_host, "127.", 4) == 0 ||
	    strcmp(cfg->admin_host, "::1") == 0 ||
	    strcasecmp(cfg->admin_host, "localhost") == 0));
}

/* The status page or its script: static text. */
static int
admin_page(struct admin_doc *d, const char *text, size_t len,
    const char *type)
{
	memset(d, 0, sizeof(*d));
	d->kind = ADMIN_PAGE;
	d->status = 200;
	d->type = type;
	d->body = (char *)(uintptr_t)text;
	d->len = len;
	d->is_static = 1;
	return (0);
}

int
admin_reply(const struct admin_facts *f, const char *method,
    const char *path, const char *host, struct admin_doc *d)
{
	const char	*p = path, *doc;
	size_t		 len;

	if (strncmp(p, "/_proxy/", 8) == 0)
		p += 7;
	if (host != NULL && admin_on_loopback(f->cfg) &&
	    !admin_host_is_literal(host))
		return (admin_static(d, 421, "{\"error\":"
		    "\"misdirected_request\",\"message\":\"the admin "
		    "listener on loopback answers only to an address or "
		    "localhost in Host\"}"));
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return (admin_static(d, 405, "{\"error\":"
		    "\"method_not_allowed\",\"message\":\"the admin "
		    "listener is read-only: GET only\"}"));
	if (strcmp(p, "/healthz") == 0)
		return (admin_static(d, 200, "{\"status\":\"ok\"}"));
	if (strcmp(p, "/readyz") == 0)
		return (admin_readyz(f, d));
	if (strcmp(p, "/metrics") == 0)
		return (admin_metrics(f, d));
	if (strcmp(p, "/status.json") == 0)
		return (admin_status_json(f, d));
	if (strcmp(p, "/status") == 0 || strcmp(p, "/") == 0) {
		doc = status_page(&len);
		return (admin_page(d, doc, len, "text/html; charset=utf-8"));
	}
	if (strcmp(p, "/status.js") == 0) {
		doc = status_script(&len);
		return (admin_page(d, doc, len,
		    "text/javascript; charset=utf-8"));
	}
	if (strncmp(p, "/approvals/", 11) == 0) {
		memset(d, 0, sizeof(*d));
		d->kind = ADMIN_APPROVAL;
		d->approval_id = p + 11;
		return (0);
	}
	return (admin_static(d, 404, "{\"error\":\"not_found\","
	    "\"message\":\"no such admin endpoint (try /status, "
	    "/status.json, /metrics, /approvals/ID, /healthz, /readyz)\"}"));
}

int
admin_client_reply(const struct admin_facts *f, const char *path,
    struct admin_doc *d)
{
	if (strncmp(path, "/_proxy/", 8) != 0)
		return (0);
	if (strcmp(path, "/_proxy/healthz") == 0)
		(void)admin_static(d, 200, "{\"status\":\"ok\"}");
	else if (strcmp(path, "/_proxy/readyz") == 0) {
		if (admin_readyz(f, d) == -1)
			memset(d, 0, sizeof(*d));
	} else
		(void)admin_static(d, 404,
		    "{\"error\":\"not_found\",\"message\":\"the client "
		    "listener serves only /_proxy/healthz and /_proxy/readyz; "
		    "metrics, approval lookups and the status page are on the "
		    "admin listener (admin_listen)\"}");
	return (1);
}

void
admin_doc_free(struct admin_doc *d)
{
	if (d == NULL)
		return;
	if (!d->is_static)
		free(d->body);
	d->body = NULL;
	d->len = 0;
}
