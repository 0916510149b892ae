/*
 * metrics: counters and histograms in Prometheus text format, served at
 * /metrics on the admin listener. Updates are lock-free atomic adds from any thread;
 * rendering reads them without stopping anyone (a scrape may see a
 * request counted and its histogram not yet: fine for monitoring).
 *
 * Gauges that live in other modules (spool depth, holds, breaker) are
 * passed to metrics_render() by the caller, so this module depends on
 * nothing but route.h and buf.h.
 *
 * Ownership: all state is static; nothing to free.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>

#include "buf.h"
#include "route.h"

enum metrics_hist {
	METRICS_H_UPSTREAM = 0,		/* Mem0 exchange, seconds */
	METRICS_H_WINGMAN,		/* one Wingman call, seconds */
	METRICS_H_COUNT
};

/* Outcomes of the approval gate, for the approvals counter. */
enum metrics_approval {
	METRICS_A_FORWARDED = 0,	/* approved or auto-approved */
	METRICS_A_REJECTED,
	METRICS_A_EXPIRED,
	METRICS_A_PENDING_TIMEOUT,	/* 409 after hold_max */
	METRICS_A_UNAVAILABLE,		/* 503: Wingman failed, shutdown */
	METRICS_A_REFUSED,		/* scope mismatch, consumed, not
					   found, unknown, invalid, bad id */
	METRICS_A_LIMITED,		/* 429: too many pending */
	METRICS_A_COUNT
};

/* Outcomes of the export check. */
enum metrics_export {
	METRICS_E_PASSED = 0,
	METRICS_E_MALFORMED,
	METRICS_E_SCOPE_VIOLATION,
	METRICS_E_TOO_LARGE,
	METRICS_E_VERIFY_FAILED,
	METRICS_E_UNAVAILABLE,
	METRICS_E_FAIL_OPEN,		/* released unverified by policy */
	METRICS_E_COUNT
};

/* A list of pending approvals asked from Wingman (the gate's sweep). */
enum metrics_list {
	METRICS_L_PARSED = 0,		/* changed since the last: parsed */
	METRICS_L_UNCHANGED,		/* the same bytes: not parsed again */
	METRICS_L_FAILED,		/* no answer, or not a list */
	METRICS_L_COUNT
};

struct metrics_gauges {
	size_t			 spool_claims;	/* not yet logged */
	size_t			 spool_bytes;
	unsigned long long	 claims_queued;
	unsigned long long	 claims_sent;
	unsigned long long	 claims_retried;
	unsigned long long	 claims_dropped;
	unsigned long long	 claims_refused;
	unsigned long long	 claims_fallback;
	unsigned long long	 spool_corrupt;
	unsigned long long	 spool_io_errors;
	int			 spool_writable;
	double			 spool_unwritable_s;
	int			 breaker_open;
	size_t			 holds;
	size_t			 inflight;
	size_t			 connections;	/* open client connections */
	unsigned long		 header_timeouts; /* cut by the deadline */
	double			 oldest_pending_s; /* oldest approval waiting
						   for a human, or 0 */
	int			 upstream_reachable; /* last exchange reached
						   Mem0 */
};

/* One request answered: kind, HTTP status sent to the client. */
void	 metrics_request(enum route_kind kind, int status);
void	 metrics_observe(enum metrics_hist h, double seconds);
void	 metrics_approval(enum metrics_approval a);
void	 metrics_export(enum metrics_export e);
void	 metrics_approval_list(enum metrics_list l);

/* Append the whole exposition to out. Returns 0 or -1 (out full). */
int	 metrics_render(struct buf *out, const struct metrics_gauges *g,
	    const char *version);

#endif /* METRICS_H */
