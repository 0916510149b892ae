/*
 * metrics: Prometheus text exposition. See metrics.h.
 */
#include <stdio.h>

#include "metrics.h"

#define M_CLASSES	6	/* 1xx..5xx, and "other" */

static const double metrics_bounds[] = {
	0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60
};
#define M_BUCKETS	(sizeof(metrics_bounds) / sizeof(metrics_bounds[0]))

struct metrics_histogram {
	unsigned long long	 buckets[M_BUCKETS];	/* not cumulative */
	unsigned long long	 count;
	unsigned long long	 sum_us;		/* microseconds */
};

static unsigned long long	 m_requests[ROUTE_KIND_COUNT][M_CLASSES];
static struct metrics_histogram	 m_hist[METRICS_H_COUNT];
static unsigned long long	 m_approvals[METRICS_A_COUNT];
static unsigned long long	 m_exports[METRICS_E_COUNT];
static unsigned long long	 m_lists[METRICS_L_COUNT];

static const char *const m_class_names[M_CLASSES] = {
	"1xx", "2xx", "3xx", "4xx", "5xx", "other"
};
static const char *const m_hist_names[METRICS_H_COUNT] = {
	"mem0_proxy_upstream_duration_seconds",
	"mem0_proxy_wingman_duration_seconds"
};
static const char *const m_hist_help[METRICS_H_COUNT] = {
	"Time of one exchange with Mem0.",
	"Time of one call to Wingman."
};
static const char *const m_approval_names[METRICS_A_COUNT] = {
	"forwarded", "rejected", "expired", "pending_timeout", "unavailable",
	"refused", "limited"
};
static const char *const m_export_names[METRICS_E_COUNT] = {
	"passed", "malformed", "scope_violation", "too_large",
	"verification_failed", "unavailable", "fail_open"
};

static const char *const m_list_names[METRICS_L_COUNT] = {
	"parsed", "unchanged", "failed"
};

static void
m_add(unsigned long long *p, unsigned long long n)
{
	__atomic_add_fetch(p, n, __ATOMIC_RELAXED);
}

static unsigned long long
m_get(const unsigned long long *p)
{
	return (__atomic_load_n(p, __ATOMIC_RELAXED));
}

void
metrics_request(enum route_kind kind, int status)
{
	int	 c;

	if ((int)kind < 0 || kind >= ROUTE_KIND_COUNT)
		kind = ROUTE_OTHER;
	c = status >= 100 && status <= 599 ? status / 100 - 1 : M_CLASSES - 1;
	m_add(&m_requests[kind][c], 1);
}

void
metrics_observe(enum metrics_hist h, double seconds)
{
	size_t	 i;

	if ((int)h < 0 || h >= METRICS_H_COUNT)
		return;
	if (seconds < 0)
		seconds = 0;
	for (i = 0; i < M_BUCKETS; i++)
		if (seconds <= metrics_bounds[i]) {
			m_add(&m_hist[h].buckets[i], 1);
			break;
		}
	m_add(&m_hist[h].count, 1);
	m_add(&m_hist[h].sum_us, (unsigned long long)(seconds * 1e6));
}

void
metrics_approval(enum metrics_approval a)
{
	if ((int)a >= 0 && a < METRICS_A_COUNT)
		m_add(&m_approvals[a], 1);
}

void
metrics_export(enum metrics_export e)
{
	if ((int)e >= 0 && e < METRICS_E_COUNT)
		m_add(&m_exports[e], 1);
}

void
metrics_approval_list(enum metrics_list l)
{
	if ((int)l >= 0 && l < METRICS_L_COUNT)
		m_add(&m_lists[l], 1);
}

static void
m_head(struct buf *out, const char *name, const char *type,
    const char *help)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

static void
m_render_hist(struct buf *out, enum metrics_hist h)
{
	unsigned long long	 cum = 0;
	size_t			 i;
	const char		*n = m_hist_names[h];

	m_head(out, n, "histogram", m_hist_help[h]);
	for (i = 0; i < M_BUCKETS; i++) {
		cum += m_get(&m_hist[h].buckets[i]);
		buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", n,
		    metrics_bounds[i], cum);
	}
	buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n"
	    "%s_count %llu\n", n, m_get(&m_hist[h].count), n,
	    (double)m_get(&m_hist[h].sum_us) / 1e6, n,
	    m_get(&m_hist[h].count));
}

int
metrics_render(struct buf *out, const struct metrics_gauges *g,
    const char *version)
{
	unsigned long long	 v;
	int			 k, c;

	m_head(out, "mem0_proxy_build_info", "gauge", "Build information.");
	buf_printf(out, "mem0_proxy_build_info{version=\"%s\"} 1\n", version);
	m_head(out, "mem0_proxy_requests_total", "counter",
	    "Requests answered, by Mem0 operation and status class.");
	for (k = 0; k < ROUTE_KIND_COUNT; k++)
		for (c = 0; c < M_CLASSES; c++) {
			if ((v = m_get(&m_requests[k][c])) == 0)
				continue;
			buf_printf(out, "mem0_proxy_requests_total{kind=\"%s\","
			    "code=\"%s\"} %llu\n", route_kind_name(
			    (enum route_kind)k), m_class_names[c], v);
		}
	for (k = 0; k < METRICS_H_COUNT; k++)
		m_render_hist(out, (enum metrics_hist)k);
	m_head(out, "mem0_proxy_approvals_total", "counter",
	    "Approval gate outcomes.");
	for (k = 0; k < METRICS_A_COUNT; k++)
		buf_printf(out, "mem0_proxy_approvals_total{outcome=\"%s\"} "
		    "%llu\n", m_approval_names[k], m_get(&m_approvals[k]));
	m_head(out, "mem0_proxy_approval_lists_total", "counter",
	    "Lists of pending approvals asked from Wingman, by result.");
	for (k = 0; k < METRICS_L_COUNT; k++)
		buf_printf(out, "mem0_proxy_approval_lists_total{result="
		    "\"%s\"} %llu\n", m_list_names[k], m_get(&m_lists[k]));
	m_head(out, "mem0_proxy_export_checks_total", "counter",
	    "Export check outcomes.");
	for (k = 0; k < METRICS_E_COUNT; k++)
		buf_printf(out, "mem0_proxy_export_checks_total{outcome="
		    "\"%s\"} %llu\n", m_export_names[k], m_get(&m_exports[k]));
	buf_printf(out,
	    "# HELP mem0_proxy_holds Requests held for approval now.\n"
	    "# TYPE mem0_proxy_holds gauge\nmem0_proxy_holds %zu\n"
	    "# HELP mem0_proxy_inflight Requests waiting for Mem0 or "
	    "the gate now.\n"
	    "# TYPE mem0_proxy_inflight gauge\nmem0_proxy_inflight %zu\n"
	    "# HELP mem0_proxy_connections Client connections open now.\n"
	    "# TYPE mem0_proxy_connections gauge\n"
	    "mem0_proxy_connections %zu\n"
	    "# HELP mem0_proxy_header_timeouts_total Connections cut: no "
	    "request headers within limits.header_timeout_ms.\n"
	    "# TYPE mem0_proxy_header_timeouts_total counter\n"
	    "mem0_proxy_header_timeouts_total %lu\n"
	    "# HELP mem0_proxy_spool_claims Claims in the spool, not "
	    "yet logged by Wingman.\n"
	    "# TYPE mem0_proxy_spool_claims gauge\n"
	    "mem0_proxy_spool_claims %zu\n"
	    "# HELP mem0_proxy_spool_bytes Bytes of the spool on disk.\n"
	    "# TYPE mem0_proxy_spool_bytes gauge\n"
	    "mem0_proxy_spool_bytes %zu\n"
	    "# HELP mem0_proxy_claims_total Claims by what happened to "
	    "them.\n"
	    "# TYPE mem0_proxy_claims_total counter\n"
	    "mem0_proxy_claims_total{state=\"queued\"} %llu\n"
	    "mem0_proxy_claims_total{state=\"sent\"} %llu\n"
	    "mem0_proxy_claims_total{state=\"retried\"} %llu\n"
	    "mem0_proxy_claims_total{state=\"dropped\"} %llu\n"
	    "mem0_proxy_claims_total{state=\"refused\"} %llu\n"
	    "mem0_proxy_claims_total{state=\"fallback\"} %llu\n"
	    "# HELP mem0_proxy_spool_corrupt_records_total Damaged "
	    "records skipped (and quarantined).\n"
	    "# TYPE mem0_proxy_spool_corrupt_records_total counter\n"
	    "mem0_proxy_spool_corrupt_records_total %llu\n"
	    "# HELP mem0_proxy_spool_io_errors_total Failed spool "
	    "reads and writes.\n"
	    "# TYPE mem0_proxy_spool_io_errors_total counter\n"
	    "mem0_proxy_spool_io_errors_total %llu\n"
	    "# HELP mem0_proxy_spool_writable 1 while the spool takes "
	    "claims.\n"
	    "# TYPE mem0_proxy_spool_writable gauge\n"
	    "mem0_proxy_spool_writable %d\n"
	    "# HELP mem0_proxy_spool_unwritable_seconds_total Time the "
	    "spool could not take claims.\n"
	    "# TYPE mem0_proxy_spool_unwritable_seconds_total counter\n"
	    "mem0_proxy_spool_unwritable_seconds_total %.3f\n"
	    "# HELP mem0_proxy_wingman_breaker_open 1 while claim "
	    "delivery to Wingman is failing.\n"
	    "# TYPE mem0_proxy_wingman_breaker_open gauge\n"
	    "mem0_proxy_wingman_breaker_open %d\n",
	    g->holds, g->inflight, g->connections, g->header_timeouts,
	    g->spool_claims, g->spool_bytes,
	    g->claims_queued, g->claims_sent, g->claims_retried,
	    g->claims_dropped, g->claims_refused, g->claims_fallback,
	    g->spool_corrupt, g->spool_io_errors, g->spool_writable,
	    g->spool_unwritable_s, g->breaker_open);
	buf_printf(out,
	    "# HELP mem0_proxy_approval_oldest_pending_seconds Age of "
	    "the oldest approval waiting for a human (0: none).\n"
	    "# TYPE mem0_proxy_approval_oldest_pending_seconds gauge\n"
	    "mem0_proxy_approval_oldest_pending_seconds %.0f\n"
	    "# HELP mem0_proxy_upstream_reachable 1 while the last "
	    "exchange reached Mem0.\n"
	    "# TYPE mem0_proxy_upstream_reachable gauge\n"
	    "mem0_proxy_upstream_reachable %d\n",
	    g->oldest_pending_s, g->upstream_reachable);
	return (buf_result(out));
}
