/*
 * config: built-in defaults, the YAML file, the environment, validation.
 * See config.h.
 *
 * One table, cfg_keys[], describes every key: its dotted name, the
 * environment variable that overrides it, its type, where it lives in
 * struct config, its bounds and its default as text. The defaults go
 * through the same parser as the file and the environment, so a default
 * that breaks its own bounds makes cfg_init() fail (and the unit test).
 * Sections ("upstream", "claims", ...) are not listed: they are the
 * prefixes of the dotted names. Adding a key is one table line plus the
 * field in struct config.
 *
 * The file is read with libyaml's event API by a small recursive descent
 * parser that keeps going after an error: it skips the offending node and
 * carries on, so one run reports every error in the file. Only a YAML
 * syntax error stops it (libyaml cannot resume), and the errors found
 * before it are kept.
 */
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <yaml.h>

#include "buf.h"
#include "config.h"

#define CFG_FILE_MAX	(1024 * 1024)	/* bytes of YAML read at most */
#define CFG_ERRS_MAX	(64 * 1024)	/* bytes of error text kept */
#define CFG_ERRS_SPARE	128		/* kept free for the "more" line */
#define CFG_MSG_MAX	8192		/* one message, path included */
#define CFG_NAME_MAX	128		/* dotted names we look up */
#define CFG_QUOTE_MAX	80		/* bytes of user text in a message */
#define CFG_HOST_MAX	253		/* DNS name length */
#define CFG_SUGGEST_MAX	2		/* edit distance for "did you mean" */

#define KIB		(1024LL)
#define MIB		(1024LL * KIB)
#define GIB		(1024LL * MIB)

#define F(field)	offsetof(struct config, field)

enum cfg_type {
	CFG_T_STR = 0,	/* text, no control characters; min..max = length */
	CFG_T_URL,	/* http(s)://HOST[:PORT][/PATH], trailing '/' dropped;
			   min..max = length */
	CFG_T_LISTEN,	/* HOST:PORT or [V6]:PORT; off = the host string,
			   the port goes beside it (key_port()); with
			   CFG_F_OFF, "off" leaves the host NULL, port 0 */
	CFG_T_LONG,	/* decimal integer in min..max, stored as long */
	CFG_T_COUNT,	/* decimal integer in min..max, stored as size_t */
	CFG_T_SIZE,	/* bytes, optional K/KiB/M/MiB/G/GiB suffix (binary),
			   in min..max, stored as size_t */
	CFG_T_ENUM,	/* one of enums[] (any case), stored as an int-sized
			   enum */
	CFG_T_BOOL	/* true or false, stored as bool */
};

/* The key may be null in YAML (~, null, empty): a NULL string. */
#define CFG_F_OPTIONAL	0x01
/* CFG_T_LISTEN: "off" turns the listener off (host NULL). */
#define CFG_F_OFF	0x02

struct cfg_enum {
	const char	*name;
	int		 value;
};

struct cfg_key {
	const char		*name;	/* dotted: "upstream.url" */
	const char		*env;	/* overriding variable, or NULL */
	enum cfg_type		 type;
	size_t			 off;	/* offsetof(struct config, ...) */
	long long		 min;	/* numbers: value; strings: length */
	long long		 max;
	const struct cfg_enum	*enums;	/* CFG_T_ENUM: ends with NULL name */
	unsigned int		 flags;	/* CFG_F_* */
	const char		*def;	/* default as text; NULL: unset */
};

/* Enum keys are written through an int. */
_Static_assert(sizeof(enum route_dialect) == sizeof(int),
    "enum route_dialect is not int-sized");
_Static_assert(sizeof(enum cfg_log_level) == sizeof(int),
    "enum cfg_log_level is not int-sized");

static const struct cfg_enum cfg_dialects[] = {
	{ "auto",	ROUTE_DIALECT_AUTO },
	{ "oss",	ROUTE_DIALECT_OSS },
	{ "platform",	ROUTE_DIALECT_PLATFORM },
	{ NULL,		0 }
};

static const struct cfg_enum cfg_overflows[] = {
	{ "block", CFG_OVERFLOW_BLOCK },
	{ "drop_oldest", CFG_OVERFLOW_DROP_OLDEST },
	{ NULL, 0 }
};

static const struct cfg_enum cfg_fsyncs[] = {
	{ "batch", CFG_FSYNC_BATCH },
	{ "always", CFG_FSYNC_ALWAYS },
	{ NULL, 0 }
};

static const struct cfg_enum cfg_log_levels[] = {
	{ "debug",	CFG_LOG_DEBUG },
	{ "info",	CFG_LOG_INFO },
	{ "warn",	CFG_LOG_WARN },
	{ "error",	CFG_LOG_ERROR },
	{ NULL,		0 }
};

/*
 * Every key. Keep conf/mem0-audit-proxy.yaml in step: the unit test loads
 * it and wants every field to come out equal to the defaults here.
 */
static const struct cfg_key cfg_keys[] = {
/*	  name				env
 *	  type		offset				min	max
 *	  enums		flags		default */
	{ "listen",			"PROXY_LISTEN",
	  CFG_T_LISTEN,	F(listen_host),			0,	0,
	  NULL,		0,		"127.0.0.1:8080" },
	{ "admin_listen",		"PROXY_ADMIN_LISTEN",
	  CFG_T_LISTEN,	F(admin_host),			0,	0,
	  NULL,		CFG_F_OFF,	"127.0.0.1:9090" },
	{ "tls.cert_file",		"PROXY_TLS_CERT_FILE",
	  CFG_T_STR,	F(tls_cert_file),		1,	PATH_MAX - 1,
	  NULL,		CFG_F_OPTIONAL,	NULL },
	{ "tls.key_file",		"PROXY_TLS_KEY_FILE",
	  CFG_T_STR,	F(tls_key_file),		1,	PATH_MAX - 1,
	  NULL,		CFG_F_OPTIONAL,	NULL },
	{ "tls.client_ca_file",		"PROXY_TLS_CLIENT_CA_FILE",
	  CFG_T_STR,	F(tls_client_ca_file),		1,	PATH_MAX - 1,
	  NULL,		CFG_F_OPTIONAL,	NULL },
	{ "state_dir",			"PROXY_STATE_DIR",
	  CFG_T_STR,	F(state_dir),			1,	PATH_MAX - 1,
	  NULL,		0,		"/var/lib/mem0-audit-proxy" },
	{ "hmac_key_file",		"PROXY_HMAC_KEY_FILE",
	  CFG_T_STR,	F(hmac_key_file),		1,	PATH_MAX - 1,
	  NULL,		CFG_F_OPTIONAL,	NULL },

	{ "limits.max_connections",	NULL,
	  CFG_T_LONG,	F(max_connections),		1,	100000,
	  NULL,		0,		"1024" },
	{ "limits.max_request_bytes",	NULL,
	  CFG_T_SIZE,	F(max_request_bytes),		KIB,	GIB,
	  NULL,		0,		"10MiB" },
	{ "limits.max_connections_per_client", NULL,
	  CFG_T_LONG,	F(max_connections_per_client),	1,	100000,
	  NULL,		0,		"256" },
	{ "limits.header_timeout_ms",	NULL,
	  CFG_T_LONG,	F(header_timeout_ms),		100,	3600000,
	  NULL,		0,		"30000" },
	{ "limits.idle_timeout_ms",	NULL,
	  CFG_T_LONG,	F(idle_timeout_ms),		1000,	3600000,
	  NULL,		0,		"60000" },

	{ "upstream.url",		"MEM0_URL",
	  CFG_T_URL,	F(upstream_url),		1,	2048,
	  NULL,		0,		"http://127.0.0.1:8888" },
	{ "upstream.dialect",		"PROXY_DIALECT",
	  CFG_T_ENUM,	F(dialect),			0,	0,
	  cfg_dialects,	0,		"auto" },
	{ "upstream.connect_timeout_ms", NULL,
	  CFG_T_LONG,	F(upstream_connect_timeout_ms),	1,	600000,
	  NULL,		0,		"2000" },
	{ "upstream.timeout_ms",	NULL,
	  CFG_T_LONG,	F(upstream_timeout_ms),		1,	3600000,
	  NULL,		0,		"60000" },
	{ "upstream.max_response_bytes", NULL,
	  CFG_T_SIZE,	F(max_response_bytes),		KIB,	GIB,
	  NULL,		0,		"64MiB" },

	{ "wingman.url",		"WINGMAN_URL",
	  CFG_T_URL,	F(wingman_url),			1,	2048,
	  NULL,		0,		"http://127.0.0.1:5001" },
	{ "wingman.worker_id",		"WINGMAN_WORKER_ID",
	  CFG_T_STR,	F(worker_id),			1,	256,
	  NULL,		0,		"mem0-service" },
	{ "wingman.timeout_ms",		NULL,
	  CFG_T_LONG,	F(wingman_timeout_ms),		1,	60000,
	  NULL,		0,		"500" },

	{ "claims.max_inflight",	NULL,
	  CFG_T_COUNT,	F(claim_max_inflight),		1,	64,
	  NULL,		0,		"4" },

	{ "spool.max_bytes",		NULL,
	  CFG_T_SIZE,	F(spool_max_bytes),		64 * KIB,	64 * GIB,
	  NULL,		0,		"256MiB" },
	{ "spool.segment_bytes",	NULL,
	  CFG_T_SIZE,	F(spool_segment_bytes),		4 * KIB,	GIB,
	  NULL,		0,		"4MiB" },
	{ "spool.overflow",		NULL,
	  CFG_T_ENUM,	F(spool_overflow),		0,	0,
	  cfg_overflows, 0,		"block" },
	{ "spool.fsync",		NULL,
	  CFG_T_ENUM,	F(spool_fsync),			0,	0,
	  cfg_fsyncs,	0,		"batch" },
	{ "spool.fsync_interval_ms",	NULL,
	  CFG_T_LONG,	F(spool_fsync_interval_ms),	1,	10000,
	  NULL,		0,		"10" },
	{ "claims.retry_initial_ms",	NULL,
	  CFG_T_LONG,	F(claim_retry_initial_ms),	1,	3600000,
	  NULL,		0,		"200" },
	{ "claims.retry_max_ms",	NULL,
	  CFG_T_LONG,	F(claim_retry_max_ms),		1,	3600000,
	  NULL,		0,		"30000" },
	{ "claims.checkpoint_every",	NULL,
	  CFG_T_LONG,	F(checkpoint_every),		1,	1000000,
	  NULL,		0,		"1000" },
	{ "claims.checkpoint_interval_s", NULL,
	  CFG_T_LONG,	F(checkpoint_interval_s),	1,	86400,
	  NULL,		0,		"60" },

	{ "log.level",			"PROXY_LOG_LEVEL",
	  CFG_T_ENUM,	F(log_level),			0,	0,
	  cfg_log_levels, 0,		"info" },

	{ "shutdown_timeout_ms",	NULL,
	  CFG_T_LONG,	F(shutdown_timeout_ms),		0,	600000,
	  NULL,		0,		"10000" },

	{ "wingman.deployment_env",	"DEPLOYMENT_ENV",
	  CFG_T_STR,	F(deployment_env),		1,	64,
	  NULL,		0,		"dev" },
	{ "wingman.request_key_file",	"WINGMAN_REQUEST_KEY_FILE",
	  CFG_T_STR,	F(request_key_file),		1,	PATH_MAX - 1,
	  NULL,		CFG_F_OPTIONAL,	NULL },
	{ "wingman.read_key_file",	"WINGMAN_READ_KEY_FILE",
	  CFG_T_STR,	F(read_key_file),		1,	PATH_MAX - 1,
	  NULL,		CFG_F_OPTIONAL,	NULL },

	{ "gate.enabled",		NULL,
	  CFG_T_BOOL,	F(gate_enabled),		0,	0,
	  NULL,		0,		"true" },
	{ "gate.bulk_update",		NULL,
	  CFG_T_BOOL,	F(gate_bulk_update),		0,	0,
	  NULL,		0,		"false" },
	{ "gate.config_write",		NULL,
	  CFG_T_BOOL,	F(gate_config_write),		0,	0,
	  NULL,		0,		"false" },
	{ "gate.task_name",		NULL,
	  CFG_T_STR,	F(gate_task_name),		1,	128,
	  NULL,		0,		"Bulk Memory Deletion" },
	{ "gate.poll_interval_ms",	NULL,
	  CFG_T_LONG,	F(gate_poll_interval_ms),	10,	600000,
	  NULL,		0,		"2000" },
	{ "gate.hold_max_ms",		NULL,
	  CFG_T_LONG,	F(gate_hold_max_ms),		0,	3600000,
	  NULL,		0,		"55000" },
	{ "gate.ttl_ms",		NULL,
	  CFG_T_LONG,	F(gate_ttl_ms),			1000,	604800000,
	  NULL,		0,		"3600000" },
	{ "gate.max_holds",		NULL,
	  CFG_T_LONG,	F(gate_max_holds),		1,	1000000,
	  NULL,		0,		"10000" },
	{ "gate.pending_status",	NULL,
	  CFG_T_LONG,	F(gate_pending_status),		400,	599,
	  NULL,		0,		"409" },
	{ "gate.precount_timeout_ms",	NULL,
	  CFG_T_LONG,	F(gate_precount_timeout_ms),	1,	600000,
	  NULL,		0,		"2000" },
	{ "gate.require_human",		NULL,
	  CFG_T_BOOL,	F(gate_require_human),		0,	0,
	  NULL,		0,		"false" },
	{ "gate.approvals_dir",		"PROXY_APPROVALS_DIR",
	  CFG_T_STR,	F(gate_approvals_dir),		1,	PATH_MAX - 1,
	  NULL,		CFG_F_OPTIONAL,	NULL },
	{ "gate.max_pending",		NULL,
	  CFG_T_LONG,	F(gate_max_pending),		1,	1000000,
	  NULL,		0,		"1000" },
	{ "gate.max_pending_per_client", NULL,
	  CFG_T_LONG,	F(gate_max_pending_per_client),	0,	1000000,
	  NULL,		0,		"20" },
	{ "gate.max_records",		NULL,
	  CFG_T_LONG,	F(gate_max_records),		1,	10000000,
	  NULL,		0,		"10000" },

	{ "export.enabled",		NULL,
	  CFG_T_BOOL,	F(export_enabled),		0,	0,
	  NULL,		0,		"true" },
	{ "export.check_search",	NULL,
	  CFG_T_BOOL,	F(export_check_search),		0,	0,
	  NULL,		0,		"true" },
	{ "export.max_bytes",		NULL,
	  CFG_T_SIZE,	F(export_max_bytes),		KIB,	GIB,
	  NULL,		0,		"64MiB" },
	{ "export.archive_dir",		"PROXY_EXPORT_ARCHIVE_DIR",
	  CFG_T_STR,	F(export_archive_dir),		1,	1024,
	  NULL,		CFG_F_OPTIONAL,	NULL },
	{ "export.require_verified",	NULL,
	  CFG_T_BOOL,	F(export_require_verified),	0,	0,
	  NULL,		0,		"false" },
	{ "export.fail_open",		NULL,
	  CFG_T_BOOL,	F(export_fail_open),		0,	0,
	  NULL,		0,		"false" },
	{ "export.archive_max_files",	NULL,
	  CFG_T_COUNT,	F(export_archive_max_files),	1,	1000000,
	  NULL,		0,		"1000" },
};

#define CFG_NKEYS	(sizeof(cfg_keys) / sizeof(cfg_keys[0]))

/* Cross-field rules checked by cfg_validate(): lo <= hi. */
static const struct {
	const char	*lo;
	const char	*hi;
} cfg_le_rules[] = {
	{ "upstream.connect_timeout_ms",	"upstream.timeout_ms" },
	{ "claims.retry_initial_ms",		"claims.retry_max_ms" },
	{ "gate.max_pending",			"gate.max_records" },
};

/* Error lines being collected for one call. */
struct cfg_errs {
	struct buf	 b;
	int		 n;		/* errors, shown or not */
	int		 dropped;	/* not shown: text cap reached */
};

/* A dotted name (key or section) met in the current document. */
struct cfg_seen {
	const char	*name;	/* into cfg_keys[].name, not owned */
	size_t		 len;
	yaml_mark_t	 mark;
};

/* The state of one file being parsed. */
struct cfg_parse {
	yaml_parser_t	 parser;
	const char	*path;
	const char	*text;		/* file content */
	size_t		 textlen;
	struct config	*cfg;
	struct cfg_errs	*errs;
	struct cfg_seen	*seen;
	size_t		 nseen;
	size_t		 maxseen;
	int		 broken;	/* libyaml failed: no more events */
};

/* ------------------------------------------------------------------ */
/* Error text */

/* buf content as a string: "" before the first append. */
static const char *
buf_str(const struct buf *b)
{
	return (b->data != NULL ? b->data : "");
}

/* Start collecting; the text already in *out (if any) is kept in front. */
static void
errs_start(struct cfg_errs *e, char **out)
{
	size_t	 old;

	old = (out != NULL && *out != NULL) ? strlen(*out) : 0;
	buf_init(&e->b, old + CFG_ERRS_MAX);
	e->n = 0;
	e->dropped = 0;
	if (old > 0) {
		(void)buf_append(&e->b, *out, old);
		free(*out);
		*out = NULL;
	}
}

/* Add one error: the formatted text plus "\n". Always counted. */
static void
errs_add(struct cfg_errs *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
errs_add(struct cfg_errs *e, const char *fmt, ...)
{
	struct buf	 line;
	va_list		 ap;
	int		 rc;

	e->n++;
	buf_init(&line, CFG_MSG_MAX);
	va_start(ap, fmt);
	rc = buf_vprintf(&line, fmt, ap);
	va_end(ap);
	if (rc == -1 || buf_append(&line, "\n", 1) == -1 ||
	    e->b.len + line.len + CFG_ERRS_SPARE > e->b.max ||
	    buf_append(&e->b, line.data, line.len) == -1)
		e->dropped++;
	buf_free(&line);
}

/* Hand the text to *out (NULL when empty) and return the error count. */
static int
errs_finish(struct cfg_errs *e, char **out)
{
	if (e->dropped > 0) {
		/* CFG_ERRS_SPARE was kept for this line. */
		(void)buf_printf(&e->b, "(%d more errors not shown)\n",
		    e->dropped);
	}
	if (out != NULL && e->b.len > 0)
		*out = buf_steal(&e->b);
	buf_free(&e->b);
	return (e->n);
}

/*
 * Append user text s[0..len), at most CFG_QUOTE_MAX bytes, control
 * characters, quotes and backslashes escaped, so that a message stays one
 * line whatever the file holds.
 */
static void
msg_escape(struct buf *b, const char *s, size_t len)
{
	size_t		 i, n;
	unsigned char	 c;

	n = len > CFG_QUOTE_MAX ? CFG_QUOTE_MAX : len;
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\')
			(void)buf_printf(b, "\\x%02x", c);
		else
			(void)buf_append(b, &s[i], 1);
	}
	if (n < len)
		(void)buf_append(b, "...", 3);
}

/* The same in single quotes. */
static void
msg_quote(struct buf *b, const char *s, size_t len)
{
	(void)buf_append(b, "'", 1);
	msg_escape(b, s, len);
	(void)buf_append(b, "'", 1);
}

/* Human form of a byte count for range messages: "1 KiB", "1000 bytes". */
static void
msg_size(struct buf *b, long long v)
{
	if (v >= GIB && v % GIB == 0)
		(void)buf_printf(b, "%lld GiB", v / GIB);
	else if (v >= MIB && v % MIB == 0)
		(void)buf_printf(b, "%lld MiB", v / MIB);
	else if (v >= KIB && v % KIB == 0)
		(void)buf_printf(b, "%lld KiB", v / KIB);
	else
		(void)buf_printf(b, "%lld bytes", v);
}

/* "(MIN..MAX)" with the unit of k: ms for *_ms keys, sizes as KiB/MiB. */
static void
msg_range(struct buf *b, const struct cfg_key *k)
{
	size_t	 n;

	(void)buf_append(b, "(", 1);
	if (k->type == CFG_T_SIZE) {
		msg_size(b, k->min);
		(void)buf_append(b, "..", 2);
		msg_size(b, k->max);
	} else {
		(void)buf_printf(b, "%lld..%lld", k->min, k->max);
		n = strlen(k->name);
		if (n > 3 && strcmp(k->name + n - 3, "_ms") == 0)
			(void)buf_append_str(b, " ms");
	}
	(void)buf_append(b, ")", 1);
}

/* "auto, oss, platform" */
static void
msg_enums(struct buf *b, const struct cfg_enum *en)
{
	for (; en->name != NULL; en++)
		(void)buf_printf(b, "%s%s", en->name,
		    en[1].name != NULL ? ", " : "");
}

/* What a value of k looks like, for "must be a single value (...)". */
static void
msg_type(struct buf *b, const struct cfg_key *k)
{
	switch (k->type) {
	case CFG_T_STR:
		(void)buf_append_str(b, "a string");
		break;
	case CFG_T_URL:
		(void)buf_append_str(b, "an http:// or https:// URL");
		break;
	case CFG_T_LISTEN:
		(void)buf_append_str(b, (k->flags & CFG_F_OFF) ?
		    "HOST:PORT or off" : "HOST:PORT");
		break;
	case CFG_T_LONG:
	case CFG_T_COUNT:
		(void)buf_append_str(b, "an integer ");
		msg_range(b, k);
		break;
	case CFG_T_SIZE:
		(void)buf_append_str(b, "a size in bytes ");
		msg_range(b, k);
		break;
	case CFG_T_ENUM:
		(void)buf_append_str(b, "one of ");
		msg_enums(b, k->enums);
		break;
	case CFG_T_BOOL:
		(void)buf_append_str(b, "true or false");
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Values */

static void *
key_field(const struct cfg_key *k, struct config *cfg)
{
	return ((char *)cfg + k->off);
}

static const void *
key_cfield(const struct cfg_key *k, const struct config *cfg)
{
	return ((const char *)cfg + k->off);
}

/* CFG_T_LISTEN: the port that goes with the host. */
static int *
key_port(const struct cfg_key *k, struct config *cfg)
{
	return (k->off == F(admin_host) ? &cfg->admin_port :
	    &cfg->listen_port);
}

static int
key_cport(const struct cfg_key *k, const struct config *cfg)
{
	return (k->off == F(admin_host) ? cfg->admin_port :
	    cfg->listen_port);
}

static const struct cfg_key *
key_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < CFG_NKEYS; i++)
		if (strcmp(cfg_keys[i].name, name) == 0)
			return (&cfg_keys[i]);
	return (NULL);
}

/*
 * If name is a section (a proper prefix of some key, up to a '.'), return
 * the table's copy of it (length strlen(name)), else NULL.
 */
static const char *
section_find(const char *name)
{
	size_t	 i, n;

	n = strlen(name);
	for (i = 0; i < CFG_NKEYS; i++)
		if (strncmp(cfg_keys[i].name, name, n) == 0 &&
		    cfg_keys[i].name[n] == '.')
			return (cfg_keys[i].name);
	return (NULL);
}

/* Replace the string at *field with a copy of s[0..len). */
static int
str_replace(char **field, const char *s, size_t len, struct buf *msg)
{
	char	*p;

	if ((p = strndup(s, len)) == NULL) {
		(void)buf_append_str(msg, "out of memory");
		return (-1);
	}
	free(*field);
	*field = p;
	return (0);
}

/*
 * Decimal integer: optional sign, digits, nothing else. Returns 0, -1
 * when s is not a number, -2 when it does not fit a long long (*out is
 * then LLONG_MIN or LLONG_MAX, for the range message).
 */
static int
parse_ll(const char *s, long long *out)
{
	const char	*p;
	char		*end;
	long long	 v;

	p = s;
	if (*p == '-' || *p == '+')
		p++;
	if (*p < '0' || *p > '9')
		return (-1);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return (-1);
	*out = v;	/* LLONG_MIN or LLONG_MAX on ERANGE */
	return (errno == ERANGE ? -2 : 0);
}

/*
 * Size: digits, then optionally one space and K, KiB, M, MiB, G or GiB
 * (all binary). Returns as parse_ll(); on -2 *out is LLONG_MAX.
 */
static int
parse_size(const char *s, long long *out)
{
	static const struct {
		const char	*suffix;
		long long	 mult;
	} units[] = {
		{ "", 1 }, { "K", KIB }, { "KiB", KIB }, { "M", MIB },
		{ "MiB", MIB }, { "G", GIB }, { "GiB", GIB },
	};
	const char	*p;
	long long	 v;
	size_t		 i;
	int		 overflow;

	p = s;
	if (*p < '0' || *p > '9')
		return (-1);
	v = 0;
	overflow = 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (LLONG_MAX - (*p - '0')) / 10)
			overflow = 1;
		else
			v = v * 10 + (*p - '0');
	}
	if (*p == ' ' && p[1] != '\0')
		p++;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(p, units[i].suffix) == 0)
			break;
	if (i == sizeof(units) / sizeof(units[0]))
		return (-1);
	if (overflow || v > LLONG_MAX / units[i].mult) {
		*out = LLONG_MAX;
		return (-2);
	}
	*out = v * units[i].mult;
	return (0);
}

/* A port: 1 to 5 digits, 1..65535. Returns it, or -1. */
static int
parse_port(const char *s, size_t len)
{
	size_t	 i;
	int	 v;

	if (len == 0 || len > 5)
		return (-1);
	v = 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (s[i] - '0');
	}
	return (v >= 1 && v <= 65535 ? v : -1);
}

/*
 * Split s[0..len) into a host and a port: "HOST", "HOST:PORT", "[V6]" or
 * "[V6]:PORT". The host (without brackets, NUL-terminated) goes to host,
 * which has room for CFG_HOST_MAX + 1 bytes; *port is 0 when there is
 * none. A host is a bracketed IPv6 address or letters, digits, '.', '-'
 * and '_' (IPv4 addresses and DNS names). Returns NULL or the reason it
 * is not valid.
 */
static const char *
parse_hostport(const char *s, size_t len, char *host, int *port)
{
	struct in6_addr	 a6;
	const char	*end, *colon;
	size_t		 hlen, i;

	*port = 0;
	if (len > 0 && s[0] == '[') {
		end = memchr(s, ']', len);
		if (end == NULL)
			return ("'[' without ']'");
		hlen = (size_t)(end - s) - 1;
		if (hlen == 0 || hlen >= INET6_ADDRSTRLEN)
			return ("not an IPv6 address in brackets");
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return ("not an IPv6 address in brackets");
		colon = end + 1;
		if (colon == s + len)
			return (NULL);
		if (*colon != ':')
			return ("junk after ']'");
	} else {
		colon = memchr(s, ':', len);
		hlen = colon != NULL ? (size_t)(colon - s) : len;
		if (colon != NULL && memchr(colon + 1, ':',
		    len - hlen - 1) != NULL)
			return ("an IPv6 address needs brackets, as in "
			    "[::1]:8080");
		if (hlen == 0)
			return ("the host is empty");
		if (hlen > CFG_HOST_MAX)
			return ("the host is too long");
		for (i = 0; i < hlen; i++)
			if (!((s[i] >= 'a' && s[i] <= 'z') ||
			    (s[i] >= 'A' && s[i] <= 'Z') ||
			    (s[i] >= '0' && s[i] <= '9') ||
			    s[i] == '.' || s[i] == '-' || s[i] == '_'))
				return ("the host has a character other than "
				    "letters, digits, '.', '-', '_'");
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (colon == NULL)
			return (NULL);
	}
	*port = parse_port(colon + 1, (size_t)(s + len - colon - 1));
	if (*port == -1)
		return ("the port is not a number from 1 to 65535");
	return (NULL);
}

/*
 * Check an upstream-style base URL: http:// or https:// (any case), a
 * host, an optional port and path; no credentials, query or fragment, no
 * spaces. On success *keep is the length without trailing slashes.
 */
static const char *
parse_url(const char *s, size_t len, size_t *keep)
{
	char		 host[CFG_HOST_MAX + 1];
	const char	*rest, *reason;
	size_t		 alen;
	int		 port;

	if (len >= 7 && strncasecmp(s, "http://", 7) == 0)
		rest = s + 7;
	else if (len >= 8 && strncasecmp(s, "https://", 8) == 0)
		rest = s + 8;
	else
		return ("the scheme must be http:// or https://");
	if (memchr(s, ' ', len) != NULL)
		return ("it has a space");
	if (memchr(s, '?', len) != NULL || memchr(s, '#', len) != NULL)
		return ("it must not have a query or fragment");
	alen = strcspn(rest, "/");
	if (memchr(rest, '@', alen) != NULL)
		return ("credentials (user@host) are not allowed");
	if (alen == 0)
		return ("the host is empty");
	if ((reason = parse_hostport(rest, alen, host, &port)) != NULL)
		return (reason);
	*keep = len;
	while (*keep > (size_t)(rest - s) + alen && s[*keep - 1] == '/')
		(*keep)--;
	return (NULL);
}

/* Length and control character checks for every string type. */
static int
check_text(const struct cfg_key *k, const char *s, size_t len,
    struct buf *msg)
{
	size_t	 i;

	if ((long long)len < k->min) {
		(void)buf_append_str(msg, "must not be empty");
		return (-1);
	}
	if (k->max > 0 && (long long)len > k->max) {
		(void)buf_printf(msg, "is longer than %lld bytes", k->max);
		return (-1);
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			msg_quote(msg, s, len);
			(void)buf_append_str(msg,
			    " has a control character");
			return (-1);
		}
	}
	return (0);
}

/* Number check shared by the setter and cfg_validate(). */
static int
check_range(const struct cfg_key *k, const char *text, long long v,
    struct buf *msg)
{
	if (v >= k->min && v <= k->max)
		return (0);
	if (text != NULL)
		msg_quote(msg, text, strlen(text));
	else
		(void)buf_printf(msg, "%lld", v);
	(void)buf_append_str(msg, " is out of range ");
	msg_range(msg, k);
	return (-1);
}

/*
 * Set key k in cfg from the text val (len bytes, NUL-terminated). Returns
 * 0, or -1 with the reason in msg (without key name or location). cfg is
 * left unchanged on error.
 */
static int
key_set(const struct cfg_key *k, struct config *cfg, const char *val,
    size_t len, struct buf *msg)
{
	const struct cfg_enum	*en;
	void			*field;
	const char		*reason;
	char			 host[CFG_HOST_MAX + 1];
	long long		 v;
	size_t			 keep;
	int			 port, rc;

	field = key_field(k, cfg);
	if (memchr(val, '\0', len) != NULL) {
		(void)buf_append_str(msg, "the value has a NUL byte");
		return (-1);
	}
	switch (k->type) {
	case CFG_T_STR:
		if (check_text(k, val, len, msg) == -1)
			return (-1);
		return (str_replace(field, val, len, msg));
	case CFG_T_URL:
		if (check_text(k, val, len, msg) == -1)
			return (-1);
		if ((reason = parse_url(val, len, &keep)) != NULL)
			goto bad_value;
		return (str_replace(field, val, keep, msg));
	case CFG_T_LISTEN:
		if (check_text(k, val, len, msg) == -1)
			return (-1);
		if ((k->flags & CFG_F_OFF) && len == 3 &&
		    strncasecmp(val, "off", 3) == 0) {
			free(*(char **)field);
			*(char **)field = NULL;
			*key_port(k, cfg) = 0;
			return (0);
		}
		reason = parse_hostport(val, len, host, &port);
		if (reason == NULL && port == 0)
			reason = "the port is missing (HOST:PORT)";
		if (reason != NULL)
			goto bad_value;
		if (str_replace(field, host, strlen(host), msg) == -1)
			return (-1);
		*key_port(k, cfg) = port;
		return (0);
	case CFG_T_LONG:
	case CFG_T_COUNT:
	case CFG_T_SIZE:
		if (k->type == CFG_T_SIZE)
			rc = parse_size(val, &v);
		else
			rc = parse_ll(val, &v);
		if (rc == -1) {
			msg_quote(msg, val, len);
			(void)buf_append_str(msg, k->type == CFG_T_SIZE ?
			    " is not a size (an integer, optionally with K, "
			    "KiB, M, MiB, G or GiB)" : " is not an integer");
			return (-1);
		}
		if (check_range(k, val, v, msg) == -1)
			return (-1);
		if (k->type == CFG_T_LONG)
			*(long *)field = (long)v;
		else
			*(size_t *)field = (size_t)v;
		return (0);
	case CFG_T_ENUM:
		for (en = k->enums; en->name != NULL; en++) {
			if (strcasecmp(en->name, val) == 0) {
				*(int *)field = en->value;
				return (0);
			}
		}
		msg_quote(msg, val, len);
		(void)buf_append_str(msg, " is not one of ");
		msg_enums(msg, k->enums);
		return (-1);
	case CFG_T_BOOL:
		if (strcmp(val, "true") == 0 || strcmp(val, "True") == 0 ||
		    strcmp(val, "TRUE") == 0)
			*(bool *)field = true;
		else if (strcmp(val, "false") == 0 ||
		    strcmp(val, "False") == 0 || strcmp(val, "FALSE") == 0)
			*(bool *)field = false;
		else {
			msg_quote(msg, val, len);
			(void)buf_append_str(msg, " is not true or false");
			return (-1);
		}
		return (0);
	}
	(void)buf_append_str(msg, "unknown key type");
	return (-1);

bad_value:
	msg_quote(msg, val, len);
	(void)buf_printf(msg, " is not %s: %s", k->type == CFG_T_URL ?
	    "an http:// or https:// URL with a host" :
	    (k->flags & CFG_F_OFF) ? "HOST:PORT or off (such as "
	    "127.0.0.1:9090 or [::1]:9090)" :
	    "HOST:PORT (such as 127.0.0.1:8080 or [::1]:8080)", reason);
	return (-1);
}

/* Unset an optional key (YAML null). */
static void
key_unset(const struct cfg_key *k, struct config *cfg)
{
	char	**field;

	field = key_field(k, cfg);
	free(*field);
	*field = NULL;
}

/* The numeric value of k in cfg (integers, sizes, enums, booleans). */
static long long
key_number(const struct cfg_key *k, const struct config *cfg)
{
	const void	*field;

	field = key_cfield(k, cfg);
	switch (k->type) {
	case CFG_T_LONG:
		return (*(const long *)field);
	case CFG_T_COUNT:
	case CFG_T_SIZE:
		return ((long long)*(const size_t *)field);
	case CFG_T_ENUM:
		return (*(const int *)field);
	case CFG_T_BOOL:
		return (*(const bool *)field);
	case CFG_T_STR:
	case CFG_T_URL:
	case CFG_T_LISTEN:
		break;
	}
	return (0);
}

/* Check a listen host as stored (no brackets) and port. */
static int
check_listen(const char *host, int port, struct buf *msg)
{
	struct in6_addr	 a6;
	char		 h[CFG_HOST_MAX + 1];
	int		 p;

	if (strchr(host, ':') != NULL ? inet_pton(AF_INET6, host, &a6) != 1 :
	    parse_hostport(host, strlen(host), h, &p) != NULL) {
		msg_quote(msg, host, strlen(host));
		(void)buf_append_str(msg, " is not a host name or address");
		return (-1);
	}
	if (port < 1 || port > 65535) {
		(void)buf_printf(msg, "port %d is out of range (1..65535)",
		    port);
		return (-1);
	}
	return (0);
}

/*
 * Check the value k has in cfg, for values set by code rather than text.
 * Returns 0, or -1 with the reason in msg.
 */
static int
key_check(const struct cfg_key *k, const struct config *cfg,
    struct buf *msg)
{
	const struct cfg_enum	*en;
	const char		*s, *reason;
	size_t			 keep;

	switch (k->type) {
	case CFG_T_STR:
	case CFG_T_URL:
	case CFG_T_LISTEN:
		s = *(char *const *)key_cfield(k, cfg);
		if (s == NULL) {
			if (k->flags & (CFG_F_OPTIONAL | CFG_F_OFF))
				return (0);
			(void)buf_append_str(msg, "is not set");
			return (-1);
		}
		if (check_text(k, s, strlen(s), msg) == -1)
			return (-1);
		if (k->type == CFG_T_URL &&
		    (reason = parse_url(s, strlen(s), &keep)) != NULL) {
			msg_quote(msg, s, strlen(s));
			(void)buf_printf(msg, " is not an http:// or https:// "
			    "URL with a host: %s", reason);
			return (-1);
		}
		if (k->type == CFG_T_LISTEN &&
		    check_listen(s, key_cport(k, cfg), msg) == -1)
			return (-1);
		return (0);
	case CFG_T_LONG:
	case CFG_T_COUNT:
	case CFG_T_SIZE:
		return (check_range(k, NULL, key_number(k, cfg), msg));
	case CFG_T_ENUM:
		for (en = k->enums; en->name != NULL; en++)
			if (en->value == key_number(k, cfg))
				return (0);
		(void)buf_printf(msg, "%lld is not one of ",
		    key_number(k, cfg));
		msg_enums(msg, k->enums);
		return (-1);
	case CFG_T_BOOL:
		return (0);
	}
	return (0);
}

/* ------------------------------------------------------------------ */
/* Public: defaults, free, names */

int
cfg_init(struct config *cfg)
{
	struct buf	 msg;
	size_t		 i;
	int		 rc;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < CFG_NKEYS; i++) {
		if (cfg_keys[i].def == NULL)
			continue;
		buf_init(&msg, CFG_MSG_MAX);
		rc = key_set(&cfg_keys[i], cfg, cfg_keys[i].def,
		    strlen(cfg_keys[i].def), &msg);
		buf_free(&msg);
		if (rc == -1) {
			cfg_free(cfg);
			return (-1);
		}
	}
	return (0);
}

void
cfg_free(struct config *cfg)
{
	char	**field;
	size_t	 i;

	for (i = 0; i < CFG_NKEYS; i++) {
		switch (cfg_keys[i].type) {
		case CFG_T_STR:
		case CFG_T_URL:
		case CFG_T_LISTEN:
			field = key_field(&cfg_keys[i], cfg);
			free(*field);
			*field = NULL;
			break;
		case CFG_T_LONG:
		case CFG_T_COUNT:
		case CFG_T_SIZE:
		case CFG_T_ENUM:
		case CFG_T_BOOL:
			break;
		}
	}
}

int
cfg_digest(const struct config *cfg, char *out, size_t outlen)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, j;
	const char	*sv;
	EVP_MD_CTX	*ctx;
	char		 num[64];
	size_t		 i;
	int		 ok;

	if (outlen < 17 || (ctx = EVP_MD_CTX_new()) == NULL)
		return (-1);
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (i = 0; ok && i < CFG_NKEYS; i++) {
		const struct cfg_key	*k = &cfg_keys[i];

		ok = EVP_DigestUpdate(ctx, k->name, strlen(k->name) + 1);
		switch (k->type) {
		case CFG_T_STR:
		case CFG_T_URL:
		case CFG_T_LISTEN:
			sv = *(char *const *)key_cfield(k, cfg);
			if (k->type == CFG_T_LISTEN)
				snprintf(num, sizeof(num), ":%d",
				    key_cport(k, cfg));
			else
				num[0] = '\0';
			ok = ok && (sv == NULL ? EVP_DigestUpdate(ctx, "", 1) :
			    EVP_DigestUpdate(ctx, sv, strlen(sv) + 1)) &&
			    EVP_DigestUpdate(ctx, num, strlen(num) + 1);
			break;
		case CFG_T_LONG:
		case CFG_T_COUNT:
		case CFG_T_SIZE:
		case CFG_T_ENUM:
		case CFG_T_BOOL:
			snprintf(num, sizeof(num), "%lld", key_number(k, cfg));
			ok = ok && EVP_DigestUpdate(ctx, num, strlen(num) + 1);
			break;
		}
	}
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return (-1);
	for (j = 0; j < mdlen && 2 * j + 2 < outlen && j < 8; j++)
		snprintf(out + 2 * j, 3, "%02x", md[j]);
	return (0);
}

const char *
cfg_log_level_name(enum cfg_log_level level)
{
	const struct cfg_enum	*en;

	for (en = cfg_log_levels; en->name != NULL; en++)
		if (en->value == (int)level)
			return (en->name);
	return ("unknown");
}

/* ------------------------------------------------------------------ */
/* The YAML file */

/* Error at a libyaml mark (0-based) of the file. */
static void
perr(struct cfg_parse *p, const yaml_mark_t *mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
perr(struct cfg_parse *p, const yaml_mark_t *mark, const char *fmt, ...)
{
	struct buf	 msg;
	va_list		 ap;

	buf_init(&msg, CFG_MSG_MAX);
	va_start(ap, fmt);
	(void)buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	errs_add(p->errs, "%s:%zu:%zu: %s", p->path, mark->line + 1,
	    mark->column + 1, buf_str(&msg));
	buf_free(&msg);
}

/* Report why libyaml stopped. */
static void
perr_yaml(struct cfg_parse *p)
{
	const yaml_parser_t	*y;
	yaml_mark_t		 mark;
	size_t			 i;

	y = &p->parser;
	switch (y->error) {
	case YAML_READER_ERROR:
		/* No mark: count lines and characters up to the offset. */
		memset(&mark, 0, sizeof(mark));
		for (i = 0; i < y->problem_offset && i < p->textlen; i++) {
			if (p->text[i] == '\n') {
				mark.line++;
				mark.column = 0;
			} else if (((unsigned char)p->text[i] & 0xc0) != 0x80)
				mark.column++;
		}
		perr(p, &mark, "invalid input: %s (byte %zu)",
		    y->problem != NULL ? y->problem : "?", y->problem_offset);
		break;
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
		if (y->context != NULL)
			perr(p, &y->problem_mark, "YAML syntax error: %s "
			    "(%s at line %zu, column %zu)",
			    y->problem != NULL ? y->problem : "?", y->context,
			    y->context_mark.line + 1,
			    y->context_mark.column + 1);
		else
			perr(p, &y->problem_mark, "YAML syntax error: %s",
			    y->problem != NULL ? y->problem : "?");
		break;
	case YAML_MEMORY_ERROR:
		errs_add(p->errs, "%s: out of memory while parsing",
		    p->path);
		break;
	default:
		errs_add(p->errs, "%s: YAML error", p->path);
		break;
	}
}

/*
 * Next event into *ev (caller deletes it). Returns 0, or -1 once libyaml
 * has failed (reported once; *ev is then empty).
 */
static int
parse_next(struct cfg_parse *p, yaml_event_t *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (p->broken)
		return (-1);
	if (!yaml_parser_parse(&p->parser, ev)) {
		perr_yaml(p);
		p->broken = 1;
		return (-1);
	}
	if (ev->type == YAML_NO_EVENT) {
		p->broken = 1;
		return (-1);
	}
	return (0);
}

/* Consume the rest of the node that starts with *first (not deleted). */
static int
parse_skip(struct cfg_parse *p, const yaml_event_t *first)
{
	yaml_event_t	 ev;
	size_t		 depth;

	if (first->type != YAML_MAPPING_START_EVENT &&
	    first->type != YAML_SEQUENCE_START_EVENT)
		return (0);
	depth = 1;
	while (depth > 0) {
		if (parse_next(p, &ev) == -1)
			return (-1);
		if (ev.type == YAML_MAPPING_START_EVENT ||
		    ev.type == YAML_SEQUENCE_START_EVENT)
			depth++;
		else if (ev.type == YAML_MAPPING_END_EVENT ||
		    ev.type == YAML_SEQUENCE_END_EVENT)
			depth--;
		yaml_event_delete(&ev);
	}
	return (0);
}

/* "a mapping", "a sequence", ... for the node that starts with ev. */
static const char *
node_kind(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_MAPPING_START_EVENT:
		return ("a mapping");
	case YAML_SEQUENCE_START_EVENT:
		return ("a sequence");
	case YAML_ALIAS_EVENT:
		return ("an alias");
	case YAML_SCALAR_EVENT:
		return ("a single value");
	default:
		return ("something else");
	}
}

/* A plain empty, ~ or null scalar. */
static int
scalar_is_null(const yaml_event_t *ev)
{
	const char	*s;

	if (ev->type != YAML_SCALAR_EVENT ||
	    ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return (0);
	s = (const char *)ev->data.scalar.value;
	return (ev->data.scalar.length == 0 || strcmp(s, "~") == 0 ||
	    strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
	    strcmp(s, "NULL") == 0);
}

/* Edit distance of two short strings; SIZE_MAX when too long. */
static size_t
edit_distance(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t	 row[CFG_NAME_MAX + 1];
	size_t	 i, j, prev, diag, best;

	if (alen > CFG_NAME_MAX || blen > CFG_NAME_MAX)
		return (SIZE_MAX);
	for (j = 0; j <= blen; j++)
		row[j] = j;
	for (i = 1; i <= alen; i++) {
		diag = row[0];
		row[0] = i;
		for (j = 1; j <= blen; j++) {
			prev = row[j];
			best = diag + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = prev;
		}
	}
	return (row[blen]);
}

/*
 * The known name (key or section) closest to name, when it is close
 * enough to be a typo; its length in *len. NULL when none is.
 */
static const char *
suggest(const char *name, size_t *len)
{
	const char	*best, *s, *dot;
	size_t		 i, d, bestd, n;

	best = NULL;
	bestd = CFG_SUGGEST_MAX + 1;
	n = strlen(name);
	for (i = 0; i < CFG_NKEYS; i++) {
		s = cfg_keys[i].name;
		dot = s;
		for (;;) {
			dot = strchr(dot, '.');
			d = edit_distance(name, n, s, dot != NULL ?
			    (size_t)(dot - s) : strlen(s));
			/* One typo per three characters at most. */
			if (d < bestd && d * 3 <= n) {
				bestd = d;
				best = s;
				*len = dot != NULL ? (size_t)(dot - s) :
				    strlen(s);
			}
			if (dot == NULL)
				break;
			dot++;
		}
	}
	return (best);
}

static int	parse_mapping(struct cfg_parse *, const char *, size_t);

/* The value of key k: a scalar, or an error. */
static int
parse_value(struct cfg_parse *p, const struct cfg_key *k,
    const yaml_event_t *key, const yaml_event_t *val)
{
	struct buf	 msg;

	buf_init(&msg, CFG_MSG_MAX);
	if (val->type == YAML_SCALAR_EVENT) {
		if (scalar_is_null(val) || ((k->flags & CFG_F_OPTIONAL) &&
		    val->data.scalar.length == 0)) {
			if (k->flags & CFG_F_OPTIONAL)
				key_unset(k, p->cfg);
			else
				perr(p, &key->start_mark, "%s: missing value",
				    k->name);
		} else if (key_set(k, p->cfg,
		    (const char *)val->data.scalar.value,
		    val->data.scalar.length, &msg) == -1)
			perr(p, &val->start_mark, "%s: %s", k->name,
			    buf_str(&msg));
		buf_free(&msg);
		return (0);
	}
	msg_type(&msg, k);
	if (val->type == YAML_ALIAS_EVENT)
		perr(p, &val->start_mark, "%s: aliases (*name) are not "
		    "supported", k->name);
	else
		perr(p, &val->start_mark, "%s must be a single value (%s), "
		    "not %s", k->name, buf_str(&msg), node_kind(val));
	buf_free(&msg);
	return (parse_skip(p, val));
}

/* The value of a section: a mapping (or null: an empty section). */
static int
parse_section(struct cfg_parse *p, const char *sect, size_t len,
    const yaml_event_t *val)
{
	if (val->type == YAML_MAPPING_START_EVENT)
		return (parse_mapping(p, sect, len));
	if (scalar_is_null(val))
		return (0);
	perr(p, &val->start_mark, "%.*s must be a mapping (a section of "
	    "keys), not %s", (int)len, sect, node_kind(val));
	return (parse_skip(p, val));
}

/*
 * One "key: value" pair of the mapping whose dotted name is
 * prefix[0..plen) ("" at the top). key is a scalar event (not deleted).
 */
static int
parse_entry(struct cfg_parse *p, const char *prefix, size_t plen,
    const yaml_event_t *key)
{
	yaml_event_t		 val;
	struct buf		 qname;
	const struct cfg_key	*k;
	const char		*ks, *sect, *name, *hint;
	char			 full[CFG_NAME_MAX];
	size_t			 klen, i, nlen, hlen;
	int			 rc, dotted;

	ks = (const char *)key->data.scalar.value;
	klen = key->data.scalar.length;
	k = NULL;
	sect = NULL;
	full[0] = '\0';
	dotted = memchr(ks, '.', klen) != NULL;
	if (memchr(ks, '\0', klen) == NULL &&
	    plen + 1 + klen < sizeof(full)) {
		if (plen > 0)
			snprintf(full, sizeof(full), "%.*s.%s", (int)plen,
			    prefix, ks);
		else
			snprintf(full, sizeof(full), "%s", ks);
		/* Keys are nested mappings; "upstream.url:" is unknown. */
		if (!dotted && (k = key_find(full)) == NULL)
			sect = section_find(full);
	}

	if (parse_next(p, &val) == -1)
		return (-1);

	if (k == NULL && sect == NULL) {
		buf_init(&qname, CFG_MSG_MAX);
		(void)buf_printf(&qname, "'%.*s%s", (int)plen, prefix,
		    plen > 0 ? "." : "");
		msg_escape(&qname, ks, klen);
		(void)buf_append(&qname, "'", 1);
		hint = NULL;
		hlen = 0;
		if (full[0] != '\0' && dotted &&
		    (key_find(full) != NULL || section_find(full) != NULL))
			perr(p, &key->start_mark, "unknown key %s (write "
			    "dotted names as nested mappings)",
			    buf_str(&qname));
		else if (full[0] != '\0' &&
		    (hint = suggest(full, &hlen)) != NULL)
			perr(p, &key->start_mark, "unknown key %s (did you "
			    "mean '%.*s'?)", buf_str(&qname), (int)hlen,
			    hint);
		else
			perr(p, &key->start_mark, "unknown key %s",
			    buf_str(&qname));
		buf_free(&qname);
		rc = parse_skip(p, &val);
		goto out_delete_val;
	}

	name = k != NULL ? k->name : sect;
	nlen = strlen(full);
	for (i = 0; i < p->nseen; i++) {
		if (p->seen[i].len == nlen &&
		    strncmp(p->seen[i].name, name, nlen) == 0) {
			perr(p, &key->start_mark, "duplicate key '%s' (first "
			    "at line %zu, column %zu)", full,
			    p->seen[i].mark.line + 1,
			    p->seen[i].mark.column + 1);
			rc = parse_skip(p, &val);
			goto out_delete_val;
		}
	}
	if (p->nseen < p->maxseen) {
		p->seen[p->nseen].name = name;
		p->seen[p->nseen].len = nlen;
		p->seen[p->nseen].mark = key->start_mark;
		p->nseen++;
	}

	if (k != NULL)
		rc = parse_value(p, k, key, &val);
	else
		rc = parse_section(p, sect, nlen, &val);

out_delete_val:
	yaml_event_delete(&val);
	return (rc);
}

/*
 * The pairs of a mapping whose MAPPING-START was just read, up to its
 * MAPPING-END. prefix[0..plen) is its dotted name ("" at the top).
 */
static int
parse_mapping(struct cfg_parse *p, const char *prefix, size_t plen)
{
	yaml_event_t	 key, val;
	int		 rc;

	for (;;) {
		if (parse_next(p, &key) == -1)
			return (-1);
		if (key.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&key);
			return (0);
		}
		if (key.type == YAML_SCALAR_EVENT) {
			rc = parse_entry(p, prefix, plen, &key);
			yaml_event_delete(&key);
			if (rc == -1)
				return (-1);
			continue;
		}
		/* A mapping, sequence or alias as a key: skip it all. */
		perr(p, &key.start_mark, "a key must be a plain name, "
		    "not %s", node_kind(&key));
		rc = parse_skip(p, &key);
		yaml_event_delete(&key);
		if (rc == -1 || parse_next(p, &val) == -1)
			return (-1);
		rc = parse_skip(p, &val);
		yaml_event_delete(&val);
		if (rc == -1)
			return (-1);
	}
}

/* The root node of a document; ignore: a second document, skipped. */
static int
parse_document(struct cfg_parse *p, int ignore)
{
	yaml_event_t	 ev;
	int		 rc;

	if (parse_next(p, &ev) == -1)
		return (-1);
	if (ignore)
		rc = parse_skip(p, &ev);
	else if (ev.type == YAML_MAPPING_START_EVENT)
		rc = parse_mapping(p, "", 0);
	else if (scalar_is_null(&ev))
		rc = 0;
	else {
		perr(p, &ev.start_mark, "the top level must be a mapping of "
		    "keys, not %s", node_kind(&ev));
		rc = parse_skip(p, &ev);
	}
	yaml_event_delete(&ev);
	return (rc);
}

/* Read the whole file into b (capped). Reports and returns -1 on error. */
static int
read_file(const char *path, struct buf *b, struct cfg_errs *e)
{
	FILE	*fp;
	char	 chunk[8192];
	size_t	 n;
	int	 rc;

	if ((fp = fopen(path, "rb")) == NULL) {
		errs_add(e, "%s: cannot open: %s", path, strerror(errno));
		return (-1);
	}
	rc = 0;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if (buf_append(b, chunk, n) == -1) {
			if (b->len + n > b->max)
				errs_add(e, "%s: larger than %d bytes", path,
				    CFG_FILE_MAX);
			else
				errs_add(e, "%s: out of memory", path);
			rc = -1;
			goto out_close;
		}
	}
	if (ferror(fp)) {
		errs_add(e, "%s: cannot read: %s", path, strerror(errno));
		rc = -1;
	}
out_close:
	fclose(fp);
	return (rc);
}

int
cfg_load_file(struct config *cfg, const char *path, char **errs)
{
	struct cfg_errs	 e;
	struct cfg_parse p;
	struct buf	 text;
	yaml_event_t	 ev;
	yaml_mark_t	 mark;
	yaml_event_type_t type;
	const char	*dot;
	size_t		 i, ndocs;

	errs_start(&e, errs);
	buf_init(&text, CFG_FILE_MAX);
	if (read_file(path, &text, &e) == -1)
		goto out_free_text;

	memset(&p, 0, sizeof(p));
	p.path = path;
	p.text = buf_str(&text);
	p.textlen = text.len;
	p.cfg = cfg;
	p.errs = &e;
	/* Room for every distinct known name: keys and their sections. */
	for (i = 0; i < CFG_NKEYS; i++)
		for (dot = cfg_keys[i].name; dot != NULL;
		    dot = strchr(dot + 1, '.'))
			p.maxseen++;
	p.seen = calloc(p.maxseen, sizeof(*p.seen));
	if (p.seen == NULL) {
		errs_add(&e, "%s: out of memory", path);
		goto out_free_text;
	}
	if (!yaml_parser_initialize(&p.parser)) {
		errs_add(&e, "%s: out of memory", path);
		goto out_free_seen;
	}
	yaml_parser_set_input_string(&p.parser,
	    (const unsigned char *)p.text, p.textlen);

	/* STREAM-START, then documents until STREAM-END. */
	if (parse_next(&p, &ev) == -1)
		goto out_delete_parser;
	yaml_event_delete(&ev);
	ndocs = 0;
	for (;;) {
		if (parse_next(&p, &ev) == -1)
			break;
		type = ev.type;
		mark = ev.start_mark;
		yaml_event_delete(&ev);
		if (type != YAML_DOCUMENT_START_EVENT)
			break;		/* STREAM-END */
		if (++ndocs == 2)
			perr(&p, &mark, "only one YAML document is allowed; "
			    "the rest of the file is ignored");
		if (parse_document(&p, ndocs > 1) == -1)
			break;
		if (parse_next(&p, &ev) == -1)	/* DOCUMENT-END */
			break;
		yaml_event_delete(&ev);
	}

out_delete_parser:
	yaml_parser_delete(&p.parser);
out_free_seen:
	free(p.seen);
out_free_text:
	buf_free(&text);
	return (errs_finish(&e, errs));
}

/* ------------------------------------------------------------------ */
/* Environment and validation */

int
cfg_apply_env(struct config *cfg, char **errs)
{
	struct cfg_errs	 e;
	struct buf	 msg;
	const char	*val;
	size_t		 i;

	errs_start(&e, errs);
	for (i = 0; i < CFG_NKEYS; i++) {
		if (cfg_keys[i].env == NULL)
			continue;
		val = getenv(cfg_keys[i].env);
		if (val == NULL || val[0] == '\0')
			continue;
		buf_init(&msg, CFG_MSG_MAX);
		if (key_set(&cfg_keys[i], cfg, val, strlen(val), &msg) == -1)
			errs_add(&e, "env %s: %s", cfg_keys[i].env,
			    buf_str(&msg));
		buf_free(&msg);
	}
	return (errs_finish(&e, errs));
}

int
cfg_validate(const struct config *cfg, char **errs)
{
	const struct cfg_key	*lo, *hi;
	struct cfg_errs		 e;
	struct buf		 msg;
	size_t			 i;

	errs_start(&e, errs);
	for (i = 0; i < CFG_NKEYS; i++) {
		buf_init(&msg, CFG_MSG_MAX);
		if (key_check(&cfg_keys[i], cfg, &msg) == -1)
			errs_add(&e, "config: %s: %s", cfg_keys[i].name,
			    buf_str(&msg));
		buf_free(&msg);
	}
	for (i = 0; i < sizeof(cfg_le_rules) / sizeof(cfg_le_rules[0]);
	    i++) {
		lo = key_find(cfg_le_rules[i].lo);
		hi = key_find(cfg_le_rules[i].hi);
		if (lo == NULL || hi == NULL) {
			errs_add(&e, "config: bad rule %s <= %s",
			    cfg_le_rules[i].lo, cfg_le_rules[i].hi);
			continue;
		}
		if (key_number(lo, cfg) > key_number(hi, cfg))
			errs_add(&e, "config: %s (%lld) must not be greater "
			    "than %s (%lld)", lo->name, key_number(lo, cfg),
			    hi->name, key_number(hi, cfg));
	}
	/* Wingman looks the archive file up by path: only absolute works. */
	if (cfg->export_archive_dir != NULL &&
	    cfg->export_archive_dir[0] != '/')
		errs_add(&e, "config: export.archive_dir: must be an absolute "
		    "path");
	if ((cfg->tls_cert_file == NULL) != (cfg->tls_key_file == NULL))
		errs_add(&e, "config: tls.cert_file and tls.key_file go "
		    "together (set both for TLS, or neither)");
	if (cfg->tls_client_ca_file != NULL && cfg->tls_cert_file == NULL)
		errs_add(&e, "config: tls.client_ca_file needs tls.cert_file "
		    "and tls.key_file (client certificates need TLS)");
	if (cfg->export_require_verified && cfg->export_fail_open)
		errs_add(&e, "config: export.require_verified and "
		    "export.fail_open exclude each other (one releases "
		    "unverified exports, the other refuses them)");
	return (errs_finish(&e, errs));
}

/*
 * The configuration in force. Readers on any thread load the pointer
 * once per use; a reload publishes a new struct. Retired structs are kept
 * until exit, so a reader holding an old pointer never sees freed memory
 * (a few kilobytes per reload).
 */
struct cfg_retired {
	struct config		*cfg;
	struct cfg_retired	*next;
};

static struct config		*cfg_current;
static struct cfg_retired	*cfg_retired_list;

const struct config *
cfg_live(void)
{
	return (__atomic_load_n(&cfg_current, __ATOMIC_ACQUIRE));
}

int
cfg_publish(struct config *cfg)
{
	struct cfg_retired	*r;
	struct config		*old;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (-1);
	old = __atomic_exchange_n(&cfg_current, cfg, __ATOMIC_ACQ_REL);
	if (old == NULL) {
		free(r);
		return (0);
	}
	r->cfg = old;
	r->next = cfg_retired_list;
	cfg_retired_list = r;
	return (0);
}

void
cfg_release_all(void)
{
	struct cfg_retired	*r;
	struct config		*cur;

	cur = __atomic_exchange_n(&cfg_current, NULL, __ATOMIC_ACQ_REL);
	if (cur != NULL) {
		cfg_free(cur);
		free(cur);
	}
	while ((r = cfg_retired_list) != NULL) {
		cfg_retired_list = r->next;
		cfg_free(r->cfg);
		free(r->cfg);
		free(r);
	}
}
