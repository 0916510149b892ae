/*
 * admin: the proxy's own endpoints as documents. Health, readiness,
 * metrics, the status page, its script and its JSON: a method, a path
 * and a Host in; a status, a content type and a body out. No socket and
 * no libmicrohttpd here: the front serves them on the admin listener
 * (and /_proxy/healthz, /_proxy/readyz on the client one), and does the
 * one asynchronous lookup (/approvals/ID) itself.
 *
 * Ownership: admin_reply() fills a caller-owned struct admin_doc whose
 * body is malloc'd unless static is set; admin_doc_free() releases it.
 * The facts are borrowed for the call.
 */
#ifndef ADMIN_H
#define ADMIN_H

#include <stddef.h>

#include "config.h"
#include "gate.h"
#include "status.h"
#include "wingman.h"

/* What the documents report, gathered by the front for one request. */
struct admin_facts {
	struct wm		*wm;
	struct gate		*gate;
	struct status		*status;	/* claim rates, may be NULL */
	const struct config	*cfg;		/* the request's snapshot */
	int			 upstream_down;	/* the last exchange failed */
	size_t			 inflight;	/* requests being served */
	size_t			 connections;	/* client connections open */
	unsigned long		 header_timeouts;
	long long		 started_ms;	/* eng_now_ms() at start */
};

enum admin_kind {
	ADMIN_JSON = 0,		/* application/json, X-Request-Id */
	ADMIN_METRICS,		/* Prometheus text */
	ADMIN_PAGE,		/* the status page or script: no-store,
				   nosniff, a strict CSP */
	ADMIN_APPROVAL		/* /approvals/ID: the front looks it up */
};

struct admin_doc {
	enum admin_kind	 kind;
	unsigned int	 status;
	const char	*type;		/* Content-Type (static) */
	char		*body;
	size_t		 len;
	int		 is_static;	/* body is not to be freed */
	const char	*approval_id;	/* ADMIN_APPROVAL: into the path */
};

/*
 * The admin listener's answer to method and path (with or without the
 * client listener's "/_proxy" prefix); host is the Host header or NULL.
 * On loopback only an address or localhost in Host is served (421
 * otherwise: DNS rebinding); GET and HEAD only (405); 404 names the
 * endpoints. 0, or -1 when memory is short (nothing to free).
 */
int	 admin_reply(const struct admin_facts *f, const char *method,
	    const char *path, const char *host, struct admin_doc *d);

/*
 * The client listener's own endpoints: /_proxy/healthz and readyz, a
 * 404 pointing to admin_listen for the rest of /_proxy/. 1 and *d set
 * when path is one of them (d->body NULL: out of memory), 0 when it is
 * not (the request is proxied).
 */
int	 admin_client_reply(const struct admin_facts *f, const char *path,
	    struct admin_doc *d);

/* 1 if host (a Host value, port allowed) is an IP literal or localhost. */
int	 admin_host_is_literal(const char *host);

void	 admin_doc_free(struct admin_doc *d);

#endif /* ADMIN_H */
