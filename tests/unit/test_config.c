/*
 * Unit tests for config: defaults, the YAML file (valid snippets and
 * errors with exact LINE:COL), environment overrides, validation, and the
 * shipped example conf/mem0-audit-proxy.yaml (run from the repo root).
 *
 * Every snippet is written to a temporary file, loaded, and the file is
 * removed. Fields are read through a small table of offsets so that the
 * cases stay data.
 */
#include "unit.h"
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define EXAMPLE_PATH	"conf/mem0-audit-proxy.yaml"
#define MAX_WANT	4

/* ------------------------------------------------------------------ */
/* Fields by name */

enum fkind {
	FK_STR,		/* char *, may be NULL */
	FK_LONG,	/* long */
	FK_SIZE,	/* size_t */
	FK_INT,		/* int and int-sized enums */
	FK_BOOL		/* bool */
};

struct field {
	const char	*name;
	size_t		 off;
	enum fkind	 kind;
};

#define FLD(f, k)	{ #f, offsetof(struct config, f), k }

static const struct field fields[] = {
	FLD(listen_host, FK_STR),
	FLD(listen_port, FK_INT),
	FLD(admin_host, FK_STR),
	FLD(admin_port, FK_INT),
	FLD(max_connections, FK_LONG),
	FLD(max_request_bytes, FK_SIZE),
	FLD(upstream_url, FK_STR),
	FLD(dialect, FK_INT),
	FLD(upstream_connect_timeout_ms, FK_LONG),
	FLD(upstream_timeout_ms, FK_LONG),
	FLD(max_response_bytes, FK_SIZE),
	FLD(wingman_url, FK_STR),
	FLD(worker_id, FK_STR),
	FLD(wingman_timeout_ms, FK_LONG),
	FLD(claim_max_inflight, FK_SIZE),
	FLD(spool_max_bytes, FK_SIZE),
	FLD(spool_segment_bytes, FK_SIZE),
	FLD(spool_overflow, FK_INT),
	FLD(spool_fsync, FK_INT),
	FLD(spool_fsync_interval_ms, FK_LONG),
	FLD(claim_retry_initial_ms, FK_LONG),
	FLD(claim_retry_max_ms, FK_LONG),
	FLD(state_dir, FK_STR),
	FLD(hmac_key_file, FK_STR),
	FLD(log_level, FK_INT),
	FLD(shutdown_timeout_ms, FK_LONG),
	FLD(deployment_env, FK_STR),
	FLD(request_key_file, FK_STR),
	FLD(read_key_file, FK_STR),
	FLD(gate_enabled, FK_BOOL),
	FLD(gate_bulk_update, FK_BOOL),
	FLD(gate_config_write, FK_BOOL),
	FLD(gate_task_name, FK_STR),
	FLD(gate_poll_interval_ms, FK_LONG),
	FLD(gate_hold_max_ms, FK_LONG),
	FLD(gate_ttl_ms, FK_LONG),
	FLD(gate_max_holds, FK_LONG),
	FLD(gate_pending_status, FK_LONG),
	FLD(gate_precount_timeout_ms, FK_LONG),
	FLD(export_enabled, FK_BOOL),
	FLD(export_max_bytes, FK_SIZE),
	FLD(export_archive_dir, FK_STR),
	FLD(export_require_verified, FK_BOOL),
	FLD(export_fail_open, FK_BOOL),
	FLD(export_archive_max_files, FK_SIZE),
};

#define NFIELDS	(sizeof(fields) / sizeof(fields[0]))

static const struct field *
field_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < NFIELDS; i++)
		if (strcmp(fields[i].name, name) == 0)
			return (&fields[i]);
	ck_abort_msg("test bug: no field %s", name);
	return (NULL);
}

static const char *
field_str(const struct config *cfg, const struct field *f)
{
	return (*(char *const *)(const void *)((const char *)cfg + f->off));
}

static long long
field_num(const struct config *cfg, const struct field *f)
{
	const void	*p;

	p = (const char *)cfg + f->off;
	switch (f->kind) {
	case FK_LONG:
		return (*(const long *)p);
	case FK_SIZE:
		return ((long long)*(const size_t *)p);
	case FK_INT:
		return (*(const int *)p);
	case FK_BOOL:
		return (*(const bool *)p);
	case FK_STR:
		break;
	}
	return (0);
}

/* Check one field against a string (FK_STR, NULL = unset) or number. */
static void
check_field(const char *what, const struct config *cfg, const char *name,
    const char *want_s, long long want_n)
{
	const struct field	*f;
	const char		*got;

	f = field_find(name);
	if (f->kind == FK_STR) {
		got = field_str(cfg, f);
		if (want_s == NULL)
			ck_assert_msg(got == NULL, "%s: %s: got '%s', want "
			    "NULL", what, name, got);
		else
			ck_assert_msg(got != NULL && strcmp(got, want_s) == 0,
			    "%s: %s: got '%s', want '%s'", what, name,
			    got != NULL ? got : "(null)", want_s);
	} else
		ck_assert_msg(field_num(cfg, f) == want_n, "%s: %s: got %lld, "
		    "want %lld", what, name, field_num(cfg, f), want_n);
}

/* Every field of a equals the same field of b. */
static void
check_same(const char *what, const struct config *a, const struct config *b)
{
	const char	*sa, *sb;
	size_t		 i;

	for (i = 0; i < NFIELDS; i++) {
		if (fields[i].kind == FK_STR) {
			sa = field_str(a, &fields[i]);
			sb = field_str(b, &fields[i]);
			ck_assert_msg((sa == NULL && sb == NULL) ||
			    (sa != NULL && sb != NULL && strcmp(sa, sb) == 0),
			    "%s: %s: got '%s', want '%s'", what,
			    fields[i].name, sa ? sa : "(null)",
			    sb ? sb : "(null)");
		} else
			ck_assert_msg(field_num(a, &fields[i]) ==
			    field_num(b, &fields[i]), "%s: %s: got %lld, "
			    "want %lld", what, fields[i].name,
			    field_num(a, &fields[i]),
			    field_num(b, &fields[i]));
	}
}

/* ------------------------------------------------------------------ */
/* Files and environment */

static const char *env_vars[] = {
	"MEM0_URL", "WINGMAN_URL", "WINGMAN_WORKER_ID", "PROXY_LISTEN",
	"PROXY_STATE_DIR", "PROXY_DIALECT", "PROXY_HMAC_KEY_FILE",
	"PROXY_LOG_LEVEL", "PROXY_EXPORT_ARCHIVE_DIR",
};

static void
clear_env(void)
{
	size_t	 i;

	for (i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
}

/* Write len bytes of text to a new temporary file; path gets its name. */
static void
write_tmp(char *path, size_t pathsz, const char *text, size_t len)
{
	int	 fd;

	ck_assert(snprintf(path, pathsz, "/tmp/test_config.XXXXXX") <
	    (int)pathsz);
	fd = mkstemp(path);
	ck_assert_msg(fd != -1, "mkstemp: %s", strerror(errno));
	ck_assert_msg(write(fd, text, len) == (ssize_t)len, "write: %s",
	    strerror(errno));
	close(fd);
}

/* Load a snippet on top of the defaults. Returns the error count. */
static int
load_text(struct config *cfg, const char *text, size_t len, char *path,
    size_t pathsz, char **errs)
{
	int	 n;

	ck_assert_int_eq(cfg_init(cfg), 0);
	write_tmp(path, pathsz, text, len);
	*errs = NULL;
	n = cfg_load_file(cfg, path, errs);
	unlink(path);
	return (n);
}

static size_t
count_lines(const char *s)
{
	size_t	 n;

	n = 0;
	for (; s != NULL && *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return (n);
}

/* Every line of errs starts with "PREFIX" and ends with '\n'. */
static void
check_lines(const char *what, const char *errs, const char *prefix)
{
	const char	*line, *nl;

	for (line = errs; line != NULL && *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		ck_assert_msg(nl != NULL, "%s: last line has no newline: %s",
		    what, line);
		ck_assert_msg(strncmp(line, prefix, strlen(prefix)) == 0,
		    "%s: line does not start with '%s': %.*s", what, prefix,
		    (int)(nl - line), line);
	}
}

/* ------------------------------------------------------------------ */
/* Defaults */

static const struct {
	const char	*field;
	const char	*want_s;
	long long	 want_n;
} default_cases[] = {
	{ "listen_host",		"127.0.0.1",	0 },
	{ "listen_port",		NULL,		8080 },
	{ "admin_host",			"127.0.0.1",	0 },
	{ "admin_port",			NULL,		9090 },
	{ "max_connections",		NULL,		1024 },
	{ "max_request_bytes",		NULL,		10 * 1024 * 1024 },
	{ "upstream_url",		"http://127.0.0.1:8888", 0 },
	{ "dialect",			NULL,		ROUTE_DIALECT_AUTO },
	{ "upstream_connect_timeout_ms", NULL,		2000 },
	{ "upstream_timeout_ms",	NULL,		60000 },
	{ "max_response_bytes",		NULL,		64 * 1024 * 1024 },
	{ "wingman_url",		"http://127.0.0.1:5001", 0 },
	{ "worker_id",			"mem0-service",	0 },
	{ "wingman_timeout_ms",		NULL,		500 },
	{ "claim_max_inflight",		NULL,		4 },
	{ "spool_max_bytes",		NULL,		256 * 1024 * 1024 },
	{ "spool_segment_bytes",	NULL,		4 * 1024 * 1024 },
	{ "spool_overflow",		NULL,		CFG_OVERFLOW_BLOCK },
	{ "spool_fsync",		NULL,		CFG_FSYNC_BATCH },
	{ "spool_fsync_interval_ms",	NULL,		10 },
	{ "claim_retry_initial_ms",	NULL,		200 },
	{ "claim_retry_max_ms",		NULL,		30000 },
	{ "state_dir",			"/var/lib/mem0-audit-proxy", 0 },
	{ "hmac_key_file",		NULL,		0 },
	{ "log_level",			NULL,		CFG_LOG_INFO },
	{ "shutdown_timeout_ms",	NULL,		10000 },
	{ "deployment_env",		"dev",		0 },
	{ "request_key_file",		NULL,		0 },
	{ "read_key_file",		NULL,		0 },
	{ "gate_enabled",		NULL,		1 },
	{ "gate_bulk_update",		NULL,		0 },
	{ "gate_config_write",		NULL,		0 },
	{ "gate_task_name",		"Bulk Memory Deletion", 0 },
	{ "gate_poll_interval_ms",	NULL,		2000 },
	{ "gate_hold_max_ms",		NULL,		55000 },
	{ "gate_ttl_ms",		NULL,		3600000 },
	{ "gate_max_holds",		NULL,		10000 },
	{ "gate_pending_status",	NULL,		409 },
	{ "gate_precount_timeout_ms",	NULL,		2000 },
	{ "export_enabled",		NULL,		1 },
	{ "export_max_bytes",		NULL,		64 * 1024 * 1024 },
	{ "export_archive_dir",		NULL,		0 },
	{ "export_require_verified",	NULL,		0 },
	{ "export_fail_open",		NULL,		0 },
	{ "export_archive_max_files",	NULL,		1000 },
};

START_TEST(test_defaults)
{
	struct config	 cfg;

	ck_assert_int_eq(cfg_init(&cfg), 0);
	check_field("defaults", &cfg, default_cases[_i].field,
	    default_cases[_i].want_s, default_cases[_i].want_n);
	cfg_free(&cfg);
}
END_TEST

START_TEST(test_defaults_validate)
{
	struct config	 cfg;
	char		*errs = NULL;
	int		 n;

	ck_assert_int_eq(cfg_init(&cfg), 0);
	n = cfg_validate(&cfg, &errs);
	ck_assert_msg(n == 0 && errs == NULL, "validate(defaults): got %d "
	    "errors: %s", n, errs ? errs : "");
	cfg_free(&cfg);
}
END_TEST

START_TEST(test_free_twice)
{
	struct config	 cfg;
	size_t		 i;

	ck_assert_int_eq(cfg_init(&cfg), 0);
	cfg.hmac_key_file = strdup("/k");
	cfg_free(&cfg);
	for (i = 0; i < NFIELDS; i++)
		if (fields[i].kind == FK_STR)
			ck_assert_msg(field_str(&cfg, &fields[i]) == NULL,
			    "after cfg_free: %s is not NULL", fields[i].name);
	cfg_free(&cfg);
}
END_TEST

static const struct {
	enum cfg_log_level	 level;
	const char		*want;
} level_names[] = {
	{ CFG_LOG_DEBUG, "debug" },
	{ CFG_LOG_INFO, "info" },
	{ CFG_LOG_WARN, "warn" },
	{ CFG_LOG_ERROR, "error" },
};

START_TEST(test_log_level_name)
{
	const char	*got;

	got = cfg_log_level_name(level_names[_i].level);
	ck_assert_msg(strcmp(got, level_names[_i].want) == 0,
	    "cfg_log_level_name(%d): got '%s', want '%s'",
	    (int)level_names[_i].level, got, level_names[_i].want);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Valid files */

#define MIB	(1024LL * 1024)
#define GIB	(1024LL * MIB)

static const struct {
	const char	*yaml;
	const char	*field;
	const char	*want_s;
	long long	 want_n;
} ok_cases[] = {
	/* Empty and comment-only files keep the defaults. */
	{ "", "upstream_url", "http://127.0.0.1:8888", 0 },
	{ "# nothing\n\n", "listen_port", NULL, 8080 },
	{ "---\n", "worker_id", "mem0-service", 0 },
	{ "---\n...\n", "max_connections", NULL, 1024 },
	{ "upstream:\n", "upstream_url", "http://127.0.0.1:8888", 0 },
	{ "upstream: ~\nlog: null\n", "log_level", NULL, CFG_LOG_INFO },

	/* Sizes. */
	{ "limits:\n  max_request_bytes: 4096\n", "max_request_bytes",
	  NULL, 4096 },
	{ "limits:\n  max_request_bytes: 1K\n", "max_request_bytes",
	  NULL, 1024 },
	{ "limits:\n  max_request_bytes: 2KiB\n", "max_request_bytes",
	  NULL, 2048 },
	{ "limits:\n  max_request_bytes: 3M\n", "max_request_bytes",
	  NULL, 3 * MIB },
	{ "limits:\n  max_request_bytes: 4 MiB\n", "max_request_bytes",
	  NULL, 4 * MIB },
	{ "limits:\n  max_request_bytes: 1G\n", "max_request_bytes",
	  NULL, GIB },
	{ "upstream:\n  max_response_bytes: 1GiB\n", "max_response_bytes",
	  NULL, GIB },
	{ "upstream:\n  max_response_bytes: 1024\n", "max_response_bytes",
	  NULL, 1024 },

	/* Integers and their bounds. */
	{ "limits:\n  max_connections: 1\n", "max_connections", NULL, 1 },
	{ "limits:\n  max_connections: 100000\n", "max_connections",
	  NULL, 100000 },
	{ "limits:\n  max_connections: \"77\"\n", "max_connections",
	  NULL, 77 },
	{ "limits:\n  max_connections: &n 5\n", "max_connections", NULL, 5 },
	{ "upstream:\n  connect_timeout_ms: 150\n",
	  "upstream_connect_timeout_ms", NULL, 150 },
	{ "upstream:\n  timeout_ms: 3600000\n", "upstream_timeout_ms",
	  NULL, 3600000 },
	{ "wingman:\n  timeout_ms: 60000\n", "wingman_timeout_ms",
	  NULL, 60000 },
	{ "claims:\n  max_inflight: 64\n", "claim_max_inflight",
	  NULL, 64 },
	{ "claims:\n  retry_initial_ms: 50\n", "claim_retry_initial_ms",
	  NULL, 50 },
	{ "claims:\n  retry_max_ms: 1000\n", "claim_retry_max_ms",
	  NULL, 1000 },

	/* Enums. */
	{ "upstream:\n  dialect: oss\n", "dialect", NULL, ROUTE_DIALECT_OSS },
	{ "upstream:\n  dialect: platform\n", "dialect", NULL,
	  ROUTE_DIALECT_PLATFORM },
	{ "upstream:\n  dialect: auto\n", "dialect", NULL,
	  ROUTE_DIALECT_AUTO },
	{ "upstream:\n  dialect: OSS\n", "dialect", NULL, ROUTE_DIALECT_OSS },
	{ "log:\n  level: debug\n", "log_level", NULL, CFG_LOG_DEBUG },
	{ "log:\n  level: warn\n", "log_level", NULL, CFG_LOG_WARN },
	{ "log:\n  level: error\n", "log_level", NULL, CFG_LOG_ERROR },

	/* URLs: trailing slashes go, the rest stays. */
	{ "upstream:\n  url: http://mem0:8888/\n", "upstream_url",
	  "http://mem0:8888", 0 },
	{ "upstream:\n  url: https://api.mem0.ai//\n", "upstream_url",
	  "https://api.mem0.ai", 0 },
	{ "upstream:\n  url: http://h/prefix/\n", "upstream_url",
	  "http://h/prefix", 0 },
	{ "upstream:\n  url: HTTP://H\n", "upstream_url", "HTTP://H", 0 },
	{ "upstream:\n  url: \"http://[::1]:8888/\"\n", "upstream_url",
	  "http://[::1]:8888", 0 },
	{ "wingman:\n  url: http://wingman:5001/\n", "wingman_url",
	  "http://wingman:5001", 0 },
	{ "wingman:\n  url: http://mock_wingman\n", "wingman_url",
	  "http://mock_wingman", 0 },
	{ "upstream: {url: 'http://a:1/', dialect: oss}\n", "upstream_url",
	  "http://a:1", 0 },
	{ "upstream: {url: 'http://a:1/', dialect: oss}\n", "dialect",
	  NULL, ROUTE_DIALECT_OSS },

	/* Listen addresses. */
	{ "listen: \"[::1]:9090\"\n", "listen_host", "::1", 0 },
	{ "listen: \"[::1]:9090\"\n", "listen_port", NULL, 9090 },
	{ "listen: \"[::]:65535\"\n", "listen_host", "::", 0 },
	{ "listen: \"[::]:65535\"\n", "listen_port", NULL, 65535 },
	{ "listen: 0.0.0.0:80\n", "listen_host", "0.0.0.0", 0 },
	{ "listen: localhost:1\n", "listen_port", NULL, 1 },
	{ "admin_listen: \"[::1]:9191\"\n", "admin_host", "::1", 0 },
	{ "admin_listen: \"[::1]:9191\"\n", "admin_port", NULL, 9191 },
	{ "admin_listen: \"[::1]:9191\"\n", "listen_port", NULL, 8080 },
	{ "admin_listen: off\n", "admin_host", NULL, 0 },
	{ "admin_listen: OFF\n", "admin_port", NULL, 0 },
	{ "admin_listen: off\nlisten: 1.2.3.4:5\n", "listen_port", NULL, 5 },

	/* Strings. */
	{ "state_dir: /srv/proxy\n", "state_dir", "/srv/proxy", 0 },
	{ "hmac_key_file: /etc/proxy/key\n", "hmac_key_file",
	  "/etc/proxy/key", 0 },
	{ "hmac_key_file: ~\n", "hmac_key_file", NULL, 0 },
	{ "hmac_key_file:\n", "hmac_key_file", NULL, 0 },
	{ "hmac_key_file: \"\"\n", "hmac_key_file", NULL, 0 },
	{ "wingman:\n  worker_id: 123\n", "worker_id", "123", 0 },
	{ "wingman:\n  worker_id: \"null\"\n", "worker_id", "null", 0 },

	/* The export check. */
	{ "export:\n  enabled: false\n", "export_enabled", NULL, 0 },
	{ "export:\n  max_bytes: 1KiB\n", "export_max_bytes", NULL, 1024 },
	{ "export:\n  max_bytes: 1GiB\n", "export_max_bytes", NULL, GIB },
	{ "export:\n  archive_dir: /srv/exports\n", "export_archive_dir",
	  "/srv/exports", 0 },
	{ "export:\n  archive_dir: null\n", "export_archive_dir", NULL, 0 },
	{ "export:\n  require_verified: true\n", "export_require_verified",
	  NULL, 1 },
	{ "export:\n  fail_open: true\n", "export_fail_open", NULL, 1 },
	{ "export:\n  archive_max_files: 1\n", "export_archive_max_files",
	  NULL, 1 },
	{ "export:\n  archive_max_files: 1000000\n",
	  "export_archive_max_files", NULL, 1000000 },

	/* Several sections together, with comments. */
	{ "# proxy\nlisten: 10.0.0.1:81 # here\nupstream:\n"
	  "  url: http://m/\n  dialect: platform\nclaims:\n"
	  "  max_inflight: 5\n", "claim_max_inflight", NULL, 5 },
};

START_TEST(test_ok)
{
	struct config	 cfg;
	char		 path[64], what[32];
	char		*errs;
	int		 n;

	snprintf(what, sizeof(what), "ok_cases[%d]", _i);
	n = load_text(&cfg, ok_cases[_i].yaml, strlen(ok_cases[_i].yaml),
	    path, sizeof(path), &errs);
	ck_assert_msg(n == 0 && errs == NULL, "%s: got %d errors, want 0: %s",
	    what, n, errs ? errs : "");
	check_field(what, &cfg, ok_cases[_i].field, ok_cases[_i].want_s,
	    ok_cases[_i].want_n);
	n = cfg_validate(&cfg, &errs);
	ck_assert_msg(n == 0, "%s: validate: got %d errors: %s", what, n,
	    errs ? errs : "");
	cfg_free(&cfg);
}
END_TEST

/* Loading on top of an earlier state changes only the keys present. */
START_TEST(test_ok_keeps_others)
{
	struct config	 cfg, def;
	char		 path[64];
	char		*errs;

	ck_assert_int_eq(cfg_init(&def), 0);
	ck_assert_int_eq(load_text(&cfg, "log:\n  level: warn\n", 19, path,
	    sizeof(path), &errs), 0);
	cfg.log_level = def.log_level;
	check_same("only log.level set", &cfg, &def);
	cfg_free(&cfg);
	cfg_free(&def);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Errors */

static const struct {
	const char	*yaml;
	int		 nerr;
	const char	*want[MAX_WANT];	/* substrings of the text */
} err_cases[] = {
	/* Unknown keys, with a hint when it looks like a typo. */
	{ "upstream:\n  urll: http://x\n", 1,
	  { ":2:3: unknown key 'upstream.urll' (did you mean "
	    "'upstream.url'?)" } },
	{ "foo: 1\n", 1, { ":1:1: unknown key 'foo'\n" } },
	{ "listn: 1.2.3.4:5\n", 1,
	  { ":1:1: unknown key 'listn' (did you mean 'listen'?)" } },
	{ "upstrem:\n  url: http://x\n", 1,
	  { ":1:1: unknown key 'upstrem' (did you mean 'upstream'?)" } },
	{ "upstream.url: http://x\n", 1,
	  { ":1:1: unknown key 'upstream.url' (write dotted names as "
	    "nested mappings)" } },
	{ "bogus:\n  a: 1\n  b: [1, {c: 2}]\nlisten: nope\n", 2,
	  { ":1:1: unknown key 'bogus'\n", ":4:9: listen: 'nope' is not "
	    "HOST:PORT" } },
	{ "\"a\\nb\": 1\n", 1, { ":1:1: unknown key 'a\\x0ab'" } },
	{ "? [a]\n: 1\nlog: {level: nope}\n", 2,
	  { ":1:3: a key must be a plain name, not a sequence",
	    ":3:14: log.level: 'nope' is not one of debug, info, warn, "
	    "error" } },

	/* Wrong node types. */
	{ "listen:\n  host: x\n", 1,
	  { ":2:3: listen must be a single value (HOST:PORT), not a "
	    "mapping" } },
	{ "upstream:\n  url: [a, b]\n", 1,
	  { ":2:8: upstream.url must be a single value (an http:// or "
	    "https:// URL), not a sequence" } },
	{ "limits:\n  max_connections: [1]\n", 1,
	  { ":2:20: limits.max_connections must be a single value (an "
	    "integer (1..100000)), not a sequence" } },
	{ "upstream: http://x\n", 1,
	  { ":1:11: upstream must be a mapping (a section of keys), not a "
	    "single value" } },
	{ "claims:\n  - 1\n", 1,
	  { ":2:3: claims must be a mapping (a section of keys), not a "
	    "sequence" } },
	{ "- a\n- b\n", 1,
	  { ":1:1: the top level must be a mapping of keys, not a "
	    "sequence" } },
	{ "just text\n", 1,
	  { ":1:1: the top level must be a mapping of keys, not a single "
	    "value" } },
	{ "limits:\n  max_connections: &n 10\nupstream:\n"
	  "  timeout_ms: *n\n", 1,
	  { ":4:15: upstream.timeout_ms: aliases (*name) are not "
	    "supported" } },
	{ "listen:\n", 1, { ":1:1: listen: missing value" } },
	{ "upstream:\n  url: ~\n", 1,
	  { ":2:3: upstream.url: missing value" } },

	/* Numbers. */
	{ "limits:\n  max_connections: lots\n", 1,
	  { ":2:20: limits.max_connections: 'lots' is not an integer" } },
	{ "limits:\n  max_connections: 1.5\n", 1,
	  { ":2:20: limits.max_connections: '1.5' is not an integer" } },
	{ "limits:\n  max_connections: 0\n", 1,
	  { ":2:20: limits.max_connections: '0' is out of range "
	    "(1..100000)" } },
	{ "limits:\n  max_connections: 100001\n", 1,
	  { "'100001' is out of range (1..100000)" } },
	{ "limits:\n  max_connections: 99999999999999999999999\n", 1,
	  { "'99999999999999999999999' is out of range (1..100000)" } },
	{ "upstream:\n  timeout_ms: -5\n", 1,
	  { ":2:15: upstream.timeout_ms: '-5' is out of range "
	    "(1..3600000 ms)" } },
	{ "claims:\n  max_inflight: 0\n", 1,
	  { ":2:17: claims.max_inflight: '0' is out of range (1..64)" } },

	/* Sizes. */
	{ "limits:\n  max_request_bytes: 10MB\n", 1,
	  { ":2:22: limits.max_request_bytes: '10MB' is not a size" } },
	{ "limits:\n  max_request_bytes: -1\n", 1,
	  { "'-1' is not a size" } },
	{ "limits:\n  max_request_bytes: 2GiB\n", 1,
	  { ":2:22: limits.max_request_bytes: '2GiB' is out of range "
	    "(1 KiB..1 GiB)" } },
	{ "export:\n  max_bytes: 2GiB\n", 1,
	  { ":2:14: export.max_bytes: '2GiB' is out of range "
	    "(1 KiB..1 GiB)" } },
	{ "export:\n  archive_max_files: 0\n", 1,
	  { ":2:22: export.archive_max_files: '0' is out of range "
	    "(1..1000000)" } },
	{ "upstream:\n  max_response_bytes: 512\n", 1,
	  { "upstream.max_response_bytes: '512' is out of range "
	    "(1 KiB..1 GiB)" } },
	{ "upstream:\n  max_response_bytes: 99999999999G\n", 1,
	  { "'99999999999G' is out of range (1 KiB..1 GiB)" } },

	/* Enums. */
	{ "upstream:\n  dialect: cloud\n", 1,
	  { ":2:12: upstream.dialect: 'cloud' is not one of auto, oss, "
	    "platform" } },
	{ "log:\n  level: verbose\n", 1,
	  { ":2:10: log.level: 'verbose' is not one of debug, info, warn, "
	    "error" } },

	/* URLs. */
	{ "upstream:\n  url: ftp://h\n", 1,
	  { ":2:8: upstream.url: 'ftp://h' is not an http:// or https:// "
	    "URL with a host: the scheme must be http:// or https://" } },
	{ "upstream:\n  url: mem0:8888\n", 1,
	  { "the scheme must be http:// or https://" } },
	{ "wingman:\n  url: http:///x\n", 1,
	  { ":2:8: wingman.url: 'http:///x' is not an http:// or https:// "
	    "URL with a host: the host is empty" } },
	{ "wingman:\n  url: http://h:99999\n", 1,
	  { "the port is not a number from 1 to 65535" } },
	{ "wingman:\n  url: \"http://h:\"\n", 1,
	  { "the port is not a number from 1 to 65535" } },
	{ "upstream:\n  url: http://u:p@h\n", 1,
	  { "credentials (user@host) are not allowed" } },
	{ "upstream:\n  url: http://h/?a=1\n", 1,
	  { "it must not have a query or fragment" } },
	{ "upstream:\n  url: \"http://h x\"\n", 1, { "it has a space" } },
	{ "upstream:\n  url: \"http://[::zz]:1\"\n", 1,
	  { "not an IPv6 address in brackets" } },
	{ "upstream:\n  url: \"\"\n", 1,
	  { ":2:8: upstream.url: must not be empty" } },

	/* Listen addresses. */
	{ "listen: 127.0.0.1:0\n", 1,
	  { ":1:9: listen: '127.0.0.1:0' is not HOST:PORT (such as "
	    "127.0.0.1:8080 or [::1]:8080): the port is not a number from 1 "
	    "to 65535" } },
	{ "listen: 127.0.0.1\n", 1, { "the port is missing" } },
	{ "listen: \"::1:8080\"\n", 1,
	  { ":1:9: listen: '::1:8080' is not HOST:PORT",
	    "an IPv6 address needs brackets" } },
	{ "listen: \"[::1]\"\n", 1, { "the port is missing" } },
	{ "listen: \"[::1]8080\"\n", 1, { "junk after ']'" } },
	{ "listen: \"[::1:8080\"\n", 1, { "'[' without ']'" } },
	{ "listen: \"[zz]:80\"\n", 1, { "not an IPv6 address in brackets" } },
	{ "listen: \":8080\"\n", 1, { "the host is empty" } },
	{ "listen: \"bad host:80\"\n", 1,
	  { "the host has a character other than" } },

	/* Strings. */
	{ "state_dir: \"\"\n", 1, { ":1:12: state_dir: must not be empty" } },
	{ "wingman:\n  worker_id: \"a\\tb\"\n", 1,
	  { ":2:14: wingman.worker_id: 'a\\x09b' has a control character" } },
	{ "state_dir: \"a\\0b\"\n", 1,
	  { ":1:12: state_dir: the value has a NUL byte" } },

	/* Duplicates. */
	{ "listen: a:1\nlisten: b:2\n", 1,
	  { ":2:1: duplicate key 'listen' (first at line 1, column 1)" } },
	{ "log:\n  level: info\nlog:\n  level: nope\n", 1,
	  { ":3:1: duplicate key 'log' (first at line 1, column 1)" } },
	{ "upstream:\n  timeout_ms: 1\n  dialect: oss\n  timeout_ms: 2\n", 1,
	  { ":4:3: duplicate key 'upstream.timeout_ms' (first at line 2, "
	    "column 3)" } },

	/* YAML syntax errors, after errors found before them. */
	{ "listen: \"abc\n", 1,
	  { ":2:1: YAML syntax error: found unexpected end of stream "
	    "(while scanning a quoted scalar at line 1, column 9)" } },
	{ "foo: 1\nbar: [\n", 3,
	  { ":1:1: unknown key 'foo'\n", ":2:1: unknown key 'bar'\n",
	    ":3:1: YAML syntax error: did not find expected node content "
	    "(while parsing a flow node at line 3, column 1)" } },
	{ "upstream:\n\turl: http://x\n", 1,
	  { ":2:1: YAML syntax error: found character that cannot start "
	    "any token" } },
	{ "a: b: c\n", 2, { ":1:1: unknown key 'a'\n", ":1:5: YAML syntax "
	    "error: mapping values are not allowed in this context" } },
	{ "listen: \"\xff\"\n", 1, { ":1:10: invalid input: " } },

	/* Only the first document counts. */
	{ "log: {level: info}\n---\nfoo: 1\n", 1,
	  { ":2:1: only one YAML document is allowed; the rest of the file "
	    "is ignored" } },

	/* Flow style: positions still point at each value. */
	{ "upstream: {url: 'ftp://x', dialect: no}\n", 2,
	  { ":1:17: upstream.url: 'ftp://x'",
	    ":1:37: upstream.dialect: 'no' is not one of" } },

	/* Many errors in one file: all of them, in order. */
	{ "listen: x\n"
	  "limits:\n"
	  "  max_connections: 0\n"
	  "  max_request_bytes: lots\n"
	  "upstream:\n"
	  "  url: ftp://h\n"
	  "  dialect: cloud\n"
	  "  nope: 1\n"
	  "wingman:\n"
	  "  timeout_ms: 0\n"
	  "log:\n"
	  "  level: loud\n", 8,
	  { ":1:9: listen:", ":3:20: limits.max_connections:",
	    ":8:3: unknown key 'upstream.nope'", ":12:10: log.level:" } },
};

START_TEST(test_err)
{
	struct config	 cfg;
	char		 path[64], what[32], prefix[80];
	char		*errs;
	size_t		 i;
	int		 n;

	snprintf(what, sizeof(what), "err_cases[%d]", _i);
	n = load_text(&cfg, err_cases[_i].yaml, strlen(err_cases[_i].yaml),
	    path, sizeof(path), &errs);
	ck_assert_msg(n == err_cases[_i].nerr, "%s: got %d errors, want %d:\n"
	    "%s", what, n, err_cases[_i].nerr, errs ? errs : "");
	ck_assert_msg(errs != NULL, "%s: no error text", what);
	ck_assert_msg(count_lines(errs) == (size_t)n, "%s: got %zu lines "
	    "for %d errors:\n%s", what, count_lines(errs), n, errs);
	snprintf(prefix, sizeof(prefix), "%s:", path);
	check_lines(what, errs, prefix);
	for (i = 0; i < MAX_WANT && err_cases[_i].want[i] != NULL; i++)
		ck_assert_msg(strstr(errs, err_cases[_i].want[i]) != NULL,
		    "%s: want '%s' in:\n%s", what, err_cases[_i].want[i],
		    errs);
	free(errs);
	cfg_free(&cfg);
}
END_TEST

START_TEST(test_err_cannot_open)
{
	struct config	 cfg;
	char		*errs = NULL;
	const char	*want;
	int		 n;

	ck_assert_int_eq(cfg_init(&cfg), 0);
	n = cfg_load_file(&cfg, "/nonexistent/proxy.yaml", &errs);
	want = "/nonexistent/proxy.yaml: cannot open: No such file or "
	    "directory\n";
	ck_assert_msg(n == 1 && errs != NULL && strcmp(errs, want) == 0,
	    "got %d errors '%s', want 1 '%s'", n, errs ? errs : "", want);
	free(errs);
	check_field("after a failed open", &cfg, "upstream_url",
	    "http://127.0.0.1:8888", 0);
	cfg_free(&cfg);
}
END_TEST

START_TEST(test_err_too_large)
{
	struct config	 cfg;
	char		 path[64];
	char		*errs, *text;
	size_t		 len;
	int		 n;

	len = 1024 * 1024 + 1;
	text = malloc(len);
	ck_assert(text != NULL);
	memset(text, '#', len);
	n = load_text(&cfg, text, len, path, sizeof(path), &errs);
	ck_assert_msg(n == 1 && errs != NULL &&
	    strstr(errs, ": larger than 1048576 bytes") != NULL,
	    "got %d errors: %s", n, errs ? errs : "");
	free(errs);
	free(text);
	cfg_free(&cfg);
}
END_TEST

/* Thousands of errors: all counted, the text capped with a note. */
START_TEST(test_err_many)
{
	struct config	 cfg;
	char		 path[64];
	char		*errs, *text;
	size_t		 len, i, cap;
	int		 n;

	cap = 5000 * 16;
	text = malloc(cap);
	ck_assert(text != NULL);
	len = 0;
	for (i = 0; i < 5000; i++)
		len += (size_t)snprintf(text + len, cap - len, "k%zu: 1\n", i);
	n = load_text(&cfg, text, len, path, sizeof(path), &errs);
	ck_assert_msg(n == 5000, "got %d errors, want 5000", n);
	ck_assert(errs != NULL);
	ck_assert_msg(strlen(errs) <= 64 * 1024 + 128, "error text is %zu "
	    "bytes", strlen(errs));
	ck_assert_msg(strstr(errs, ":1:1: unknown key 'k0'\n") != NULL,
	    "first error missing");
	ck_assert_msg(strstr(errs, "more errors not shown)\n") != NULL,
	    "no 'more errors' note at the end");
	free(errs);
	free(text);
	cfg_free(&cfg);
}
END_TEST

/* errs == NULL: errors are only counted. Existing text is kept. */
START_TEST(test_err_append)
{
	struct config	 cfg;
	char		 path[64];
	char		*errs;
	int		 n;

	ck_assert_int_eq(cfg_init(&cfg), 0);
	write_tmp(path, sizeof(path), "foo: 1\nbar: 2\n", 14);
	n = cfg_load_file(&cfg, path, NULL);
	ck_assert_msg(n == 2, "errs NULL: got %d errors, want 2", n);
	errs = strdup("earlier: error\n");
	ck_assert(errs != NULL);
	n = cfg_load_file(&cfg, path, &errs);
	unlink(path);
	ck_assert_msg(n == 2, "got %d errors, want 2", n);
	ck_assert_msg(strncmp(errs, "earlier: error\n", 15) == 0 &&
	    count_lines(errs) == 3, "earlier text lost:\n%s", errs);
	free(errs);
	cfg_free(&cfg);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Environment */

static const struct {
	const char	*var;
	const char	*value;
	const char	*field;
	const char	*want_s;
	long long	 want_n;
} env_cases[] = {
	{ "MEM0_URL", "http://mem0:8000/", "upstream_url",
	  "http://mem0:8000", 0 },
	{ "WINGMAN_URL", "https://wm.example/", "wingman_url",
	  "https://wm.example", 0 },
	{ "WINGMAN_WORKER_ID", "worker-7", "worker_id", "worker-7", 0 },
	{ "PROXY_LISTEN", "[::1]:7000", "listen_host", "::1", 0 },
	{ "PROXY_LISTEN", "[::1]:7000", "listen_port", NULL, 7000 },
	{ "PROXY_LISTEN", "0.0.0.0:9000", "listen_host", "0.0.0.0", 0 },
	{ "PROXY_ADMIN_LISTEN", "off", "admin_host", NULL, 0 },
	{ "PROXY_ADMIN_LISTEN", "10.0.0.1:9100", "admin_port", NULL, 9100 },
	{ "PROXY_ADMIN_LISTEN", "10.0.0.1:9100", "listen_port", NULL, 8080 },
	{ "PROXY_STATE_DIR", "/srv/state", "state_dir", "/srv/state", 0 },
	{ "PROXY_DIALECT", "platform", "dialect", NULL,
	  ROUTE_DIALECT_PLATFORM },
	{ "PROXY_HMAC_KEY_FILE", "/run/key", "hmac_key_file", "/run/key", 0 },
	{ "PROXY_LOG_LEVEL", "debug", "log_level", NULL, CFG_LOG_DEBUG },
	{ "PROXY_LOG_LEVEL", "ERROR", "log_level", NULL, CFG_LOG_ERROR },
	{ "PROXY_EXPORT_ARCHIVE_DIR", "/srv/exports", "export_archive_dir",
	  "/srv/exports", 0 },
	/* Set but empty: ignored. */
	{ "MEM0_URL", "", "upstream_url", "http://127.0.0.1:8888", 0 },
	{ "PROXY_LISTEN", "", "listen_port", NULL, 8080 },
};

START_TEST(test_env)
{
	struct config	 cfg;
	char		 what[64];
	char		*errs = NULL;
	int		 n;

	snprintf(what, sizeof(what), "env %s=%s", env_cases[_i].var,
	    env_cases[_i].value);
	ck_assert_int_eq(cfg_init(&cfg), 0);
	ck_assert_int_eq(setenv(env_cases[_i].var, env_cases[_i].value, 1),
	    0);
	n = cfg_apply_env(&cfg, &errs);
	ck_assert_msg(n == 0 && errs == NULL, "%s: got %d errors: %s", what,
	    n, errs ? errs : "");
	check_field(what, &cfg, env_cases[_i].field, env_cases[_i].want_s,
	    env_cases[_i].want_n);
	cfg_free(&cfg);
}
END_TEST

static const struct {
	const char	*var;
	const char	*value;
	const char	*want;
} env_err_cases[] = {
	{ "MEM0_URL", "ftp://x", "env MEM0_URL: 'ftp://x' is not an http:// "
	  "or https:// URL with a host: the scheme must be http:// or "
	  "https://\n" },
	{ "WINGMAN_URL", "localhost:5001", "env WINGMAN_URL: "
	  "'localhost:5001' is not an http://" },
	{ "PROXY_LISTEN", "8080", "env PROXY_LISTEN: '8080' is not "
	  "HOST:PORT" },
	{ "PROXY_LISTEN", "off", "env PROXY_LISTEN: 'off' is not "
	  "HOST:PORT" },
	{ "PROXY_ADMIN_LISTEN", "9090", "env PROXY_ADMIN_LISTEN: '9090' is "
	  "not HOST:PORT or off" },
	{ "PROXY_DIALECT", "cloud", "env PROXY_DIALECT: 'cloud' is not one "
	  "of auto, oss, platform\n" },
	{ "PROXY_LOG_LEVEL", "loud", "env PROXY_LOG_LEVEL: 'loud' is not "
	  "one of debug, info, warn, error\n" },
	{ "WINGMAN_WORKER_ID", "a\nb", "env WINGMAN_WORKER_ID: 'a\\x0ab' "
	  "has a control character\n" },
};

START_TEST(test_env_err)
{
	struct config	 cfg;
	char		*errs = NULL;
	int		 n;

	ck_assert_int_eq(cfg_init(&cfg), 0);
	ck_assert_int_eq(setenv(env_err_cases[_i].var,
	    env_err_cases[_i].value, 1), 0);
	n = cfg_apply_env(&cfg, &errs);
	ck_assert_msg(n == 1 && errs != NULL && count_lines(errs) == 1 &&
	    strncmp(errs, env_err_cases[_i].want,
	    strlen(env_err_cases[_i].want)) == 0,
	    "env %s: got %d errors '%s', want 1 starting '%s'",
	    env_err_cases[_i].var, n, errs ? errs : "",
	    env_err_cases[_i].want);
	free(errs);
	/* A bad value leaves the default in place. */
	ck_assert_int_eq(cfg_validate(&cfg, NULL), 0);
	cfg_free(&cfg);
}
END_TEST

/* Environment beats the file; several env errors in one call. */
START_TEST(test_env_wins)
{
	struct config	 cfg;
	char		 path[64];
	char		*errs;
	int		 n;

	n = load_text(&cfg, "upstream:\n  url: http://file:1\n"
	    "wingman:\n  worker_id: from-file\nlog:\n  level: warn\n",
	    strlen("upstream:\n  url: http://file:1\n"
	    "wingman:\n  worker_id: from-file\nlog:\n  level: warn\n"),
	    path, sizeof(path), &errs);
	ck_assert_msg(n == 0, "file: %d errors: %s", n, errs ? errs : "");
	ck_assert_int_eq(setenv("MEM0_URL", "http://env:2/", 1), 0);
	ck_assert_int_eq(setenv("WINGMAN_WORKER_ID", "", 1), 0);
	n = cfg_apply_env(&cfg, &errs);
	ck_assert_msg(n == 0, "env: %d errors: %s", n, errs ? errs : "");
	check_field("env over file", &cfg, "upstream_url", "http://env:2", 0);
	check_field("empty env keeps file", &cfg, "worker_id", "from-file", 0);
	check_field("no env keeps file", &cfg, "log_level", NULL,
	    CFG_LOG_WARN);

	ck_assert_int_eq(setenv("PROXY_DIALECT", "x", 1), 0);
	ck_assert_int_eq(setenv("PROXY_LOG_LEVEL", "y", 1), 0);
	n = cfg_apply_env(&cfg, &errs);
	ck_assert_msg(n == 2 && count_lines(errs) == 2 &&
	    strstr(errs, "env PROXY_DIALECT: ") != NULL &&
	    strstr(errs, "env PROXY_LOG_LEVEL: ") != NULL,
	    "got %d errors, want 2:\n%s", n, errs ? errs : "");
	free(errs);
	cfg_free(&cfg);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Validation of values set by code and cross-field rules */

static void
mut_retry(struct config *c)
{
	c->claim_retry_initial_ms = 5000;
	c->claim_retry_max_ms = 1000;
}

static void
mut_connect(struct config *c)
{
	c->upstream_connect_timeout_ms = 3000;
	c->upstream_timeout_ms = 2000;
}

static void
mut_max_conn(struct config *c)
{
	c->max_connections = 0;
}

static void
mut_url(struct config *c)
{
	free(c->wingman_url);
	c->wingman_url = strdup("ftp://x");
}

static void
mut_state_dir(struct config *c)
{
	free(c->state_dir);
	c->state_dir = NULL;
}

static void
mut_dialect(struct config *c)
{
	c->dialect = (enum route_dialect)7;
}

static void
mut_port(struct config *c)
{
	c->listen_port = 70000;
}

static void
mut_size(struct config *c)
{
	c->max_response_bytes = 10;
}

static void
mut_archive_rel(struct config *c)
{
	c->export_archive_dir = strdup("exports");
}

static void
mut_export_both(struct config *c)
{
	c->export_require_verified = true;
	c->export_fail_open = true;
}

static void
mut_tls_half(struct config *c)
{
	c->tls_cert_file = strdup("/etc/p/cert.pem");
}

static void
mut_tls_ca_only(struct config *c)
{
	c->tls_client_ca_file = strdup("/etc/p/ca.pem");
}

static void
mut_admin_port(struct config *c)
{
	c->admin_port = 0;
}

static void
mut_two(struct config *c)
{
	mut_retry(c);
	mut_connect(c);
}

static const struct {
	const char	*name;
	void		(*mutate)(struct config *);
	int		 nerr;
	const char	*want;
} validate_cases[] = {
	{ "retry", mut_retry, 1, "config: claims.retry_initial_ms (5000) "
	  "must not be greater than claims.retry_max_ms (1000)\n" },
	{ "connect", mut_connect, 1, "config: upstream.connect_timeout_ms "
	  "(3000) must not be greater than upstream.timeout_ms (2000)\n" },
	{ "max_conn", mut_max_conn, 1, "config: limits.max_connections: 0 "
	  "is out of range (1..100000)\n" },
	{ "url", mut_url, 1, "config: wingman.url: 'ftp://x' is not an "
	  "http:// or https:// URL with a host" },
	{ "state_dir", mut_state_dir, 1, "config: state_dir: is not set\n" },
	{ "dialect", mut_dialect, 1, "config: upstream.dialect: 7 is not "
	  "one of auto, oss, platform\n" },
	{ "port", mut_port, 1, "config: listen: port 70000 is out of range "
	  "(1..65535)\n" },
	{ "size", mut_size, 1, "config: upstream.max_response_bytes: 10 is "
	  "out of range (1 KiB..1 GiB)\n" },
	{ "archive_dir", mut_archive_rel, 1, "config: export.archive_dir: "
	  "must be an absolute path\n" },
	{ "export policies", mut_export_both, 1, "config: "
	  "export.require_verified and export.fail_open exclude each other" },
	{ "tls half", mut_tls_half, 1, "config: tls.cert_file and "
	  "tls.key_file go together" },
	{ "tls ca only", mut_tls_ca_only, 1, "config: tls.client_ca_file "
	  "needs tls.cert_file and tls.key_file" },
	{ "admin port", mut_admin_port, 1, "config: admin_listen: port 0 is "
	  "out of range (1..65535)\n" },
	{ "two", mut_two, 2, "claims.retry_initial_ms (5000)" },
};

START_TEST(test_validate)
{
	struct config	 cfg;
	char		*errs = NULL;
	int		 n;

	ck_assert_int_eq(cfg_init(&cfg), 0);
	validate_cases[_i].mutate(&cfg);
	n = cfg_validate(&cfg, &errs);
	ck_assert_msg(n == validate_cases[_i].nerr && errs != NULL &&
	    count_lines(errs) == (size_t)n &&
	    strstr(errs, validate_cases[_i].want) != NULL,
	    "validate %s: got %d errors '%s', want %d with '%s'",
	    validate_cases[_i].name, n, errs ? errs : "",
	    validate_cases[_i].nerr, validate_cases[_i].want);
	free(errs);
	cfg_free(&cfg);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The shipped example */

/*
 * Start from values that differ from every default, load the example:
 * every field must come back to its default, which proves both that the
 * example documents the defaults and that it sets every key.
 */
START_TEST(test_example)
{
	struct config	 cfg, def;
	char		*errs = NULL;
	size_t		 i;
	void		*p;
	int		 n;

	ck_assert_int_eq(cfg_init(&def), 0);
	ck_assert_int_eq(cfg_init(&cfg), 0);
	for (i = 0; i < NFIELDS; i++) {
		p = (char *)&cfg + fields[i].off;
		switch (fields[i].kind) {
		case FK_STR:
			free(*(char **)p);
			*(char **)p = strdup("poison");
			break;
		case FK_LONG:
			*(long *)p = 7;
			break;
		case FK_SIZE:
			*(size_t *)p = 7;
			break;
		case FK_INT:
			*(int *)p = 3;
			break;
		case FK_BOOL:
			*(bool *)p = !*(bool *)p;
			break;
		}
	}
	n = cfg_load_file(&cfg, EXAMPLE_PATH, &errs);
	ck_assert_msg(n == 0 && errs == NULL, "%s: got %d errors (run from "
	    "the repo root):\n%s", EXAMPLE_PATH, n, errs ? errs : "");
	check_same(EXAMPLE_PATH, &cfg, &def);
	n = cfg_validate(&cfg, &errs);
	ck_assert_msg(n == 0, "%s: validate: %d errors: %s", EXAMPLE_PATH,
	    n, errs ? errs : "");
	cfg_free(&cfg);
	cfg_free(&def);
}
END_TEST

/* ------------------------------------------------------------------ */

#define NCASES(a)	((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
config_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("config");

	tc = tcase_create("defaults");
	tcase_add_loop_test(tc, test_defaults, 0, NCASES(default_cases));
	tcase_add_test(tc, test_defaults_validate);
	tcase_add_test(tc, test_free_twice);
	tcase_add_loop_test(tc, test_log_level_name, 0, NCASES(level_names));
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, clear_env, clear_env);
	tcase_add_loop_test(tc, test_ok, 0, NCASES(ok_cases));
	tcase_add_test(tc, test_ok_keeps_others);
	tcase_add_loop_test(tc, test_err, 0, NCASES(err_cases));
	tcase_add_test(tc, test_err_cannot_open);
	tcase_add_test(tc, test_err_too_large);
	tcase_add_test(tc, test_err_many);
	tcase_add_test(tc, test_err_append);
	tcase_add_test(tc, test_example);
	suite_add_tcase(s, tc);

	tc = tcase_create("env");
	tcase_add_checked_fixture(tc, clear_env, clear_env);
	tcase_add_loop_test(tc, test_env, 0, NCASES(env_cases));
	tcase_add_loop_test(tc, test_env_err, 0, NCASES(env_err_cases));
	tcase_add_test(tc, test_env_wins);
	suite_add_tcase(s, tc);

	tc = tcase_create("validate");
	tcase_add_loop_test(tc, test_validate, 0, NCASES(validate_cases));
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return (unit_run(config_suite()));
}
