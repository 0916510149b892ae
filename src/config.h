/*
 * config: the proxy's settings, from built-in defaults, an optional YAML
 * file (libyaml) and environment variables, in that order of precedence
 * (the environment wins).
 *
 * Every key is described once in a table in config.c; the same table
 * drives parsing, validation and the error messages. Unknown keys, values
 * of the wrong type or out of range are errors reported as
 * "FILE:LINE:COL: message" (1-based), and all of them are reported in one
 * run, not just the first.
 *
 * Ownership: cfg_init() fills a caller-owned struct config with defaults
 * (every string malloc'd); cfg_free() releases it. Strings are never NULL
 * unless documented as optional.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "route.h"

enum cfg_overflow {
	CFG_OVERFLOW_BLOCK = 0,		/* spool full: refuse requests (503) */
	CFG_OVERFLOW_DROP_OLDEST	/* spool full: drop the oldest claims */
};

enum cfg_fsync {
	CFG_FSYNC_BATCH = 0,		/* fsync every spool.fsync_interval_ms */
	CFG_FSYNC_ALWAYS		/* fsync every claim */
};

enum cfg_log_level {
	CFG_LOG_DEBUG = 0,
	CFG_LOG_INFO,
	CFG_LOG_WARN,
	CFG_LOG_ERROR
};

struct config {
	/* listen: "HOST:PORT" ("[::1]:8080" for IPv6). */
	char			*listen_host;
	int			 listen_port;
	/* admin_listen: metrics, approval lookups, the status page;
	 * admin_host NULL: "off". */
	char			*admin_host;
	int			 admin_port;
	/* tls.*: TLS on the client listener when cert and key are set;
	 * client certificates required when client_ca_file is set. */
	char			*tls_cert_file;
	char			*tls_key_file;
	char			*tls_client_ca_file;
	long			 max_connections;	/* limits.max_connections */
	size_t			 max_request_bytes;	/* limits.max_request_bytes */
	long			 max_connections_per_client; /* limits.* */
	long			 header_timeout_ms;	/* request line + headers */
	long			 idle_timeout_ms;	/* no byte either way */

	/* upstream.* : the Mem0 server. */
	char			*upstream_url;		/* no trailing '/' */
	enum route_dialect	 dialect;		/* upstream.dialect */
	long			 upstream_connect_timeout_ms;
	long			 upstream_timeout_ms;
	size_t			 max_response_bytes;	/* upstream.max_response_bytes */

	/* wingman.* */
	char			*wingman_url;		/* no trailing '/' */
	char			*worker_id;
	long			 wingman_timeout_ms;

	/* claims.* : how the spool is drained to Wingman. */
	size_t			 claim_max_inflight;	/* sends at once */
	long			 claim_retry_initial_ms;
	long			 checkpoint_every;	/* claims between
							   chain checkpoints */
	long			 checkpoint_interval_s;
	long			 claim_retry_max_ms;

	/* spool.* : the durable claim queue in STATE_DIR/spool. */
	size_t			 spool_max_bytes;
	size_t			 spool_segment_bytes;
	enum cfg_overflow	 spool_overflow;
	enum cfg_fsync		 spool_fsync;
	long			 spool_fsync_interval_ms;

	/* state_dir and the HMAC key. */
	char			*state_dir;
	char			*hmac_key_file;		/* optional: NULL means
							   STATE_DIR/hmac.key */

	enum cfg_log_level	 log_level;		/* log.level */

	/* On SIGTERM: time to finish requests and deliver claims. */
	long			 shutdown_timeout_ms;

	/* wingman.* for approvals. */
	char			*deployment_env;	/* wingman.deployment_env */
	char			*request_key_file;	/* optional */
	char			*read_key_file;		/* optional */

	/* gate.* : the approval gate for bulk deletes. */
	bool			 gate_enabled;
	bool			 gate_bulk_update;	/* also hold batch updates */
	bool			 gate_config_write;	/* also hold config writes */
	char			*gate_task_name;
	long			 gate_poll_interval_ms;
	long			 gate_hold_max_ms;
	long			 gate_ttl_ms;
	long			 gate_max_holds;
	long			 gate_pending_status;
	long			 gate_precount_timeout_ms;
	bool			 gate_require_human;	/* only APPROVED with a
							   decided_by */
	char			*gate_approvals_dir;	/* optional: NULL means
							   STATE_DIR/approvals */
	long			 gate_max_pending;	/* outstanding, overall */
	long			 gate_max_pending_per_client; /* 0: no cap */
	long			 gate_max_records;	/* approval records kept */

	/* export.* : the check of bulk-read responses (export.h). */
	bool			 export_enabled;
	bool			 export_check_search;	/* searches too */
	size_t			 export_max_bytes;	/* decoded body cap */
	char			*export_archive_dir;	/* optional: NULL means
							   no archive, no verify */
	bool			 export_require_verified; /* UNVERIFIABLE
							   refuses */
	bool			 export_fail_open;	/* Wingman down: release */
	size_t			 export_archive_max_files;
};

/* Fill *cfg with the built-in defaults. Returns 0 or -1 (out of memory). */
int	 cfg_init(struct config *cfg);

/*
 * Read the YAML file at path into *cfg (which holds defaults or an earlier
 * state). Each error is appended to *errs as one line
 * "PATH:LINE:COL: message\n"; *errs is malloc'd (caller frees) or left
 * NULL when there is none. Returns the number of errors (0 = success);
 * *cfg may be partly updated when errors are reported.
 */
int	 cfg_load_file(struct config *cfg, const char *path, char **errs);

/*
 * Apply MEM0_URL, WINGMAN_URL, WINGMAN_WORKER_ID, PROXY_LISTEN,
 * PROXY_STATE_DIR (and the others documented in the README) from the
 * environment. Errors as for cfg_load_file(), with "env NAME: message".
 */
int	 cfg_apply_env(struct config *cfg, char **errs);

/*
 * Cross-field checks once everything is loaded (URLs parse as http(s),
 * timeouts positive, ...). Errors appended to *errs as above.
 */
int	 cfg_validate(const struct config *cfg, char **errs);

void	 cfg_free(struct config *cfg);

/*
 * The configuration in force, for readers on any thread: load it once per
 * use (const struct config *c = cfg_live()). cfg_publish() (main thread
 * only) makes a heap-allocated, validated config the live one and takes
 * it; the previous one is retired, not freed, until cfg_release_all() at
 * exit. Returns 0 or -1 (out of memory: nothing changed).
 */
const struct config	*cfg_live(void);
int			 cfg_publish(struct config *cfg);
void			 cfg_release_all(void);

/* "debug", "info", ... */
const char	*cfg_log_level_name(enum cfg_log_level level);

/*
 * A short digest of the effective configuration (every key's value, file
 * and environment applied): 16 hex digits of SHA-256 in out (outlen >=
 * 17). Two proxies with the same digest run the same settings. Returns
 * 0, or -1.
 */
int		 cfg_digest(const struct config *cfg, char *out, size_t outlen);

#endif /* CONFIG_H */
