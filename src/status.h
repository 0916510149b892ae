/*
 * status: the admin listener's read-only status page. The page itself is
 * a static HTML document and its script (/status.js), which fetches
 * /status.json every 2 s and fills the tables; it has no controls
 * (approvals are decided in Wingman, never here). This module also keeps
 * the claim rates the page shows: status_sample() records the running
 * totals of claims queued (in) and delivered (out), status_rates() turns
 * the last minute of samples into per-second rates.
 *
 * Ownership: status_create() returns a struct the caller frees with
 * status_destroy() (NULL is fine). status_page() is static text.
 * Thread safety: every function may be called from any thread.
 */
#ifndef STATUS_H
#define STATUS_H

#include <stddef.h>

struct status;

struct status	*status_create(void);
void		 status_destroy(struct status *st);

/* Record the totals at now_ms (monotonic); a sample less than a second
 * after the previous one is ignored. */
void		 status_sample(struct status *st, long long now_ms,
		    unsigned long long in, unsigned long long out);

/*
 * Claims per second in and out over the samples of the last minute.
 * Returns 0, or -1 while fewer than two samples exist (rates unknown).
 */
int		 status_rates(struct status *st, double *in_per_s,
		    double *out_per_s);

/* The page (text/html; charset=utf-8) and its script
 * (text/javascript; charset=utf-8), with their lengths. */
const char	*status_page(size_t *len);
const char	*status_script(size_t *len);

#endif /* STATUS_H */
