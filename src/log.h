/*
 * log: one JSON object per line on stderr. Lines are built with cJSON, so
 * a quote or a newline in a value can never break a line.
 *
 * log_msg() takes a message and then (key, value) string pairs, ended by
 * NULL: log_msg(CFG_LOG_WARN, "claim dropped", "reason", "queue full",
 * LOG_END). Values may be NULL (written as null). Nothing is owned: every
 * argument is copied before the call returns. Thread-safe.
 */
#ifndef LOG_H
#define LOG_H

#include "config.h"

/* Ends log_msg()'s (key, value) pairs: a null pointer of the right type. */
#define LOG_END	((const char *)NULL)

void	 log_set_level(enum cfg_log_level level);

/*
 * A claim the spool could not store, at level error and whatever the
 * level, as one line: {"time","level":"error","msg":"claim not stored",
 * "reason":why,"log_claim":{"claim":claim,"worker_id":worker}}; the
 * log_claim object is the exact body for POST /log_claim, which
 * `mem0-audit-proxy replay` sends.
 */
void	 log_claim_fallback(const char *worker, const char *claim,
	    const char *why);
int	 log_enabled(enum cfg_log_level level);
void	 log_msg(enum cfg_log_level level, const char *msg, ...)
	    __attribute__((sentinel));

#endif /* LOG_H */
