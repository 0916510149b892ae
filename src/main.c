/*
 * mem0-audit-proxy: command line, start-up, signals and shutdown.
 *
 *   mem0-audit-proxy [-c FILE]                 run in the foreground
 *   mem0-audit-proxy [-c FILE] --check-config  validate and exit 0/1
 *   mem0-audit-proxy [-c FILE] hash [--type T] VALUE
 *                                              print VALUE's pseudonym
 *   mem0-audit-proxy [-c FILE] replay LOGFILE...
 *                                              send the claims the log
 *                                              holds for replay
 *   mem0-audit-proxy [-c FILE] verify-ledger [--worker ID] [--since T]
 *       [--until T] [--json] [--state DIR] FILE...
 *                                              is the ledger complete and
 *                                              unaltered (ledger.h)?
 *   mem0-audit-proxy [-c FILE] trail (--user|--agent|--app|--run) ID
 *       [--json] [--since T] [--until T] FILE...
 *                                              the claims naming ID
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "anon.h"
#include "buf.h"
#include "config.h"
#include "engine.h"
#include "front.h"
#include "gate.h"
#include "ledger.h"
#include "log.h"
#include "tls.h"
#include "trust.h"
#include "wingman.h"

#ifndef VERSION
#define VERSION	"unknown"
#endif

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: mem0-audit-proxy [-c FILE] [--check-config]\n"
	    "       mem0-audit-proxy [-c FILE] hash [--type user|agent|app|"
	    "run|memory] VALUE\n"
	    "       mem0-audit-proxy [-c FILE] replay LOGFILE...\n"
	    "       mem0-audit-proxy [-c FILE] verify-ledger [--worker ID] "
	    "[--stream S] [--since T]\n"
	    "           [--until T] [--json] [--state DIR] FILE...\n"
	    "       mem0-audit-proxy [-c FILE] trail (--user|--agent|--app|"
	    "--run) ID [--json]\n"
	    "           [--since T] [--until T] FILE...\n"
	    "\n"
	    "  -c, --config FILE  YAML configuration (default: built-in "
	    "defaults)\n"
	    "  --check-config     validate the configuration and exit\n"
	    "  -V, --version      print the version\n"
	    "  -h, --help         this text\n"
	    "\n"
	    "verify-ledger: is the trail in Wingman's ledger "
	    "(claims_audit.jsonl;\n"
	    "rotated copies too, .gz included, oldest first) complete and "
	    "unaltered?\n"
	    "Exit 0 yes, 1 no, 2 usage or I/O error. --state DIR (the proxy's "
	    "state_dir)\n"
	    "tells missing claims from claims still queued in its spool.\n"
	    "trail: the claims that name that user's (agent's, ...) pseudonym, "
	    "for access\n"
	    "requests and erasure evidence. Exit 0 found, 1 none, 2 error.\n"
	    "T: 2026-11-28, 2026-11-28T10:00 or \"2026-11-28 10:00:05\" "
	    "(since inclusive,\n"
	    "until exclusive).\n"
	    "\n"
	    "Environment (overrides the file): MEM0_URL, WINGMAN_URL,\n"
	    "WINGMAN_WORKER_ID, PROXY_LISTEN, PROXY_STATE_DIR, PROXY_DIALECT,\n"
	    "PROXY_HMAC_KEY_FILE, PROXY_LOG_LEVEL.\n");
}

/*
 * Defaults, then the file (when path is set), then the environment, then
 * the cross-field checks. Returns the number of errors; *errs (malloc'd,
 * caller frees, may stay NULL) holds them one per line.
 */
static int
read_config(struct config *cfg, const char *path, char **errs)
{
	int	 n = 0;

	if (cfg_init(cfg) == -1)
		return (1);
	if (path != NULL)
		n += cfg_load_file(cfg, path, errs);
	n += cfg_apply_env(cfg, errs);
	if (n == 0)
		n += cfg_validate(cfg, errs);
	return (n);
}

/* Start-up: print every error for a human. 0 or -1. */
static int
load_config(struct config *cfg, const char *path)
{
	char	*errs = NULL;
	int	 n;

	n = read_config(cfg, path, &errs);
	if (errs != NULL) {
		fputs(errs, stderr);
		free(errs);
	}
	if (n > 0) {
		fprintf(stderr, "mem0-audit-proxy: %d configuration error%s\n",
		    n, n == 1 ? "" : "s");
		return (-1);
	}
	return (0);
}

/* Keep the running value of a string that only a restart can change. */
static int
keep_str(char **dst, const char *running)
{
	char	*p = NULL;

	if (running != NULL && (p = strdup(running)) == NULL)
		return (-1);
	free(*dst);
	*dst = p;
	return (0);
}

static int
same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

/*
 * Settings bound at start (the listening socket, the state directory and
 * key, the spool files) keep their running values; the names of those
 * that changed are listed in *changed.
 */
static int
keep_restart_only(struct config *n, const struct config *cur,
    struct buf *changed)
{
	if (!same_str(n->listen_host, cur->listen_host) ||
	    n->listen_port != cur->listen_port)
		buf_append_str(changed, " listen");
	if (!same_str(n->admin_host, cur->admin_host) ||
	    n->admin_port != cur->admin_port)
		buf_append_str(changed, " admin_listen");
	if (!same_str(n->tls_cert_file, cur->tls_cert_file) ||
	    !same_str(n->tls_key_file, cur->tls_key_file) ||
	    !same_str(n->tls_client_ca_file, cur->tls_client_ca_file))
		buf_append_str(changed, " tls");
	if (!same_str(n->state_dir, cur->state_dir))
		buf_append_str(changed, " state_dir");
	if (!same_str(n->hmac_key_file, cur->hmac_key_file))
		buf_append_str(changed, " hmac_key_file");
	if (!same_str(n->gate_approvals_dir, cur->gate_approvals_dir))
		buf_append_str(changed, " gate.approvals_dir");
	if (n->max_connections != cur->max_connections)
		buf_append_str(changed, " limits.max_connections");
	if (n->max_connections_per_client != cur->max_connections_per_client)
		buf_append_str(changed, " limits.max_connections_per_client");
	if (n->idle_timeout_ms != cur->idle_timeout_ms)
		buf_append_str(changed, " limits.idle_timeout_ms");
	if (n->spool_max_bytes != cur->spool_max_bytes ||
	    n->spool_segment_bytes != cur->spool_segment_bytes ||
	    n->spool_overflow != cur->spool_overflow ||
	    n->spool_fsync != cur->spool_fsync)
		buf_append_str(changed, " spool");
	n->listen_port = cur->listen_port;
	n->admin_port = cur->admin_port;
	n->max_connections = cur->max_connections;
	n->max_connections_per_client = cur->max_connections_per_client;
	n->idle_timeout_ms = cur->idle_timeout_ms;
	n->spool_max_bytes = cur->spool_max_bytes;
	n->spool_segment_bytes = cur->spool_segment_bytes;
	n->spool_overflow = cur->spool_overflow;
	n->spool_fsync = cur->spool_fsync;
	if (keep_str(&n->listen_host, cur->listen_host) == -1 ||
	    keep_str(&n->admin_host, cur->admin_host) == -1 ||
	    keep_str(&n->tls_cert_file, cur->tls_cert_file) == -1 ||
	    keep_str(&n->tls_key_file, cur->tls_key_file) == -1 ||
	    keep_str(&n->tls_client_ca_file, cur->tls_client_ca_file) == -1 ||
	    keep_str(&n->state_dir, cur->state_dir) == -1 ||
	    keep_str(&n->hmac_key_file, cur->hmac_key_file) == -1 ||
	    keep_str(&n->gate_approvals_dir, cur->gate_approvals_dir) == -1)
		return (-1);
	return (0);
}

/*
 * SIGHUP: read and validate the configuration again and swap it in at
 * once. On any error the running configuration stays and the log says
 * why. Held requests, open connections and the spool are untouched.
 */
static void
reload(const char *path, struct gate *gate, struct front *front)
{
	const struct config	*cur = cfg_live();
	struct config		*n;
	struct buf		 changed;
	char			*errs = NULL, err[512];

	if ((n = calloc(1, sizeof(*n))) == NULL) {
		log_msg(CFG_LOG_ERROR, "reload failed: out of memory; the "
		    "running configuration stays", LOG_END);
		return;
	}
	buf_init(&changed, 256);
	if (read_config(n, path, &errs) > 0) {
		log_msg(CFG_LOG_ERROR, "reload failed: configuration errors; "
		    "the running configuration stays", "errors", errs, LOG_END);
		goto out_free_config;
	}
	if (keep_restart_only(n, cur, &changed) == -1) {
		log_msg(CFG_LOG_ERROR, "reload failed: out of memory; the "
		    "running configuration stays", LOG_END);
		goto out_free_config;
	}
	/* Renewed certificate files at the same paths: taken now. */
	switch (front_reload_tls(front, n, err, sizeof(err))) {
	case -1:
		log_msg(CFG_LOG_ERROR, "reload failed: TLS; the running "
		    "configuration and certificate stay", "detail", err,
		    LOG_END);
		goto out_free_config;
	case 1:
		log_msg(CFG_LOG_INFO, "TLS certificate reloaded", "file",
		    n->tls_cert_file, LOG_END);
		break;
	default:
		break;
	}
	if (gate_reload_keys(gate, n, err, sizeof(err)) == -1) {
		log_msg(CFG_LOG_ERROR, "reload failed; the running "
		    "configuration stays", "detail", err, LOG_END);
		goto out_free_config;
	}
	if (cfg_publish(n) == -1) {
		log_msg(CFG_LOG_ERROR, "reload failed: out of memory; the "
		    "running configuration stays", LOG_END);
		goto out_free_config;
	}
	/* Said at the old level, so a quieter new level still shows it. */
	log_msg(changed.len > 0 ? CFG_LOG_WARN : CFG_LOG_INFO,
	    "configuration reloaded", "file", path, "restart_needed_for",
	    changed.len > 0 ? changed.data + 1 : NULL, LOG_END);
	log_set_level(n->log_level);
	buf_free(&changed);
	free(errs);
	return;

out_free_config:
	cfg_free(n);
	free(n);
	buf_free(&changed);
	free(errs);
}

/* The key file path: hmac_key_file, else STATE_DIR/hmac.key. */
static char *
key_path(const struct config *cfg)
{
	char	*p;
	size_t	 len;

	if (cfg->hmac_key_file != NULL)
		return (strdup(cfg->hmac_key_file));
	len = strlen(cfg->state_dir) + sizeof("/hmac.key");
	if ((p = malloc(len)) != NULL)
		snprintf(p, len, "%s/hmac.key", cfg->state_dir);
	return (p);
}

/*
 * The HMAC key for the audit commands, from the configuration's path;
 * never created (a new key matches no claim). 0, or -1 (printed).
 */
static int
audit_key(const struct config *cfg, struct anon *anon)
{
	char	 err[512], *path;
	int	 rc;

	if ((path = key_path(cfg)) == NULL) {
		fprintf(stderr, "mem0-audit-proxy: out of memory\n");
		return (-1);
	}
	if ((rc = anon_load_key(anon, path, 0, err, sizeof(err))) == -1)
		fprintf(stderr, "mem0-audit-proxy: %s\n", err);
	free(path);
	return (rc);
}

/* --since/--until T of cmd into out: 0, or -1 (printed). */
static int
time_opt(const char *cmd, const char *arg, char out[LEDGER_TS_LEN])
{
	if (ledger_time_arg(arg, out) == 0)
		return (0);
	fprintf(stderr, "mem0-audit-proxy: %s: '%s' is not a time "
	    "(2026-11-28, 2026-11-28T10:00, 2026-11-28 10:00:05)\n", cmd, arg);
	return (-1);
}

static int
cmd_hash(const struct config *cfg, int argc, char **argv)
{
	struct anon	 anon;
	const char	*type = "user";
	char		 out[ANON_PSEUDO_LEN + 1], letter;
	int		 i = 1;

	if (i + 1 < argc && strcmp(argv[i], "--type") == 0) {
		type = argv[i + 1];
		i += 2;
	}
	if (i + 1 != argc) {
		usage(stderr);
		return (2);
	}
	if (strcmp(type, "user") == 0)
		letter = 'u';
	else if (strcmp(type, "agent") == 0)
		letter = 'a';
	else if (strcmp(type, "app") == 0)
		letter = 'p';
	else if (strcmp(type, "run") == 0)
		letter = 'r';
	else if (strcmp(type, "memory") == 0)
		letter = 'm';
	else {
		fprintf(stderr, "mem0-audit-proxy: unknown --type '%s' "
		    "(user, agent, app, run, memory)\n", type);
		return (2);
	}
	if (audit_key(cfg, &anon) == -1)
		return (1);
	anon_pseudonym(&anon, letter, argv[i], strlen(argv[i]), out);
	printf("%s\n", out);
	anon_free(&anon);
	return (0);
}

#define REPLAY_LINE_MAX	(1024 * 1024)
#define REPLAY_PER_LINE	64	/* claims in one (glued) line */

static size_t
replay_reply(char *data, size_t size, size_t n, void *arg)
{
	struct buf	*b = arg;

	return (buf_append(b, data, size * n) == 0 ? size * n : 0);
}

/* POST one /log_claim body; 0 when Wingman answered {"status":"logged"}. */
static int
replay_send(const struct config *cfg, CURL *easy, const char *body)
{
	struct curl_slist	*h;
	struct buf		 url, reply;
	const cJSON		*st;
	cJSON			*j;
	long			 code = 0;
	int			 rc = -1;

	buf_init(&url, 4096);
	buf_init(&reply, 65536);
	h = curl_slist_append(NULL, "Content-Type: application/json");
	if (h == NULL || buf_printf(&url, "%s/log_claim", cfg->wingman_url) ==
	    -1)
		goto out_free;
	curl_easy_reset(easy);
	curl_easy_setopt(easy, CURLOPT_URL, url.data);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, cfg->wingman_timeout_ms <
	    5000 ? 5000L : cfg->wingman_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, replay_reply);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &reply);
	if (curl_easy_perform(easy) != CURLE_OK)
		goto out_free;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	if (code == 200 && reply.data != NULL &&
	    (j = cJSON_ParseWithLength(reply.data, reply.len)) != NULL) {
		st = cJSON_GetObjectItemCaseSensitive(j, "status");
		if (cJSON_IsString(st) && strcmp(st->valuestring, "logged") == 0)
			rc = 0;
		cJSON_Delete(j);
	}
out_free:
	curl_slist_free_all(h);
	buf_free(&url);
	buf_free(&reply);
	return (rc);
}

/*
 * The /log_claim body of a "claim not stored" log line, or NULL. The line
 * may carry a prefix (journalctl, docker logs): the JSON starts at '{'.
 */
/*
 * The /log_claim bodies in one log line: every JSON object in it whose
 * msg is "claim not stored" (after any prefix journalctl or syslog adds,
 * several when lines were glued together), also inside the "log" string
 * of a docker json-file line. At most max malloc'd bodies into out;
 * returns how many.
 */
static int
replay_bodies(const char *line, char **out, int max, int nested)
{
	const cJSON	*msg, *lc, *claim, *worker, *log;
	const char	*p = line, *end;
	cJSON		*j;
	int		 n = 0;

	while (n < max && (p = strchr(p, '{')) != NULL) {
		if ((j = cJSON_ParseWithOpts(p, &end, 0)) == NULL) {
			p++;
			continue;
		}
		msg = cJSON_GetObjectItemCaseSensitive(j, "msg");
		lc = cJSON_GetObjectItemCaseSensitive(j, "log_claim");
		claim = cJSON_GetObjectItemCaseSensitive(lc, "claim");
		worker = cJSON_GetObjectItemCaseSensitive(lc, "worker_id");
		log = cJSON_GetObjectItemCaseSensitive(j, "log");
		if (cJSON_IsString(msg) && strcmp(msg->valuestring,
		    "claim not stored") == 0 && cJSON_IsString(claim) &&
		    cJSON_IsString(worker)) {
			if ((out[n] = cJSON_PrintUnformatted(lc)) != NULL)
				n++;
		} else if (!nested && cJSON_IsString(log))
			n += replay_bodies(log->valuestring, out + n, max - n,
			    1);
		cJSON_Delete(j);
		p = end > p ? end : p + 1;
	}
	return (n);
}

/*
 * replay LOGFILE...: send the claims the proxy could not store (its log
 * lines "claim not stored") to Wingman, in order. "-" reads stdin.
 * Exit 0 when every one was logged.
 */
static int
cmd_replay(const struct config *cfg, int argc, char **argv)
{
	CURL	*easy;
	FILE	*fp;
	char	*line = NULL, *bodies[REPLAY_PER_LINE];
	size_t	 cap = 0;
	ssize_t	 n;
	long	 lineno;
	int	 i, k, nb, sent = 0, failed = 0, found = 0;

	if (argc < 2) {
		usage(stderr);
		return (2);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (easy = curl_easy_init()) == NULL) {
		fprintf(stderr, "mem0-audit-proxy: cannot start libcurl\n");
		return (1);
	}
	for (i = 1; i < argc; i++) {
		fp = strcmp(argv[i], "-") == 0 ? stdin : fopen(argv[i], "re");
		if (fp == NULL) {
			fprintf(stderr, "mem0-audit-proxy: %s: %s\n", argv[i],
			    strerror(errno));
			failed++;
			continue;
		}
		for (lineno = 1; (n = getline(&line, &cap, fp)) != -1;
		    lineno++) {
			nb = n > REPLAY_LINE_MAX ? 0 :
			    replay_bodies(line, bodies, REPLAY_PER_LINE, 0);
			if (nb == 0 && strstr(line, "claim not stored") !=
			    NULL) {
				/* Cut, or mangled: never skipped quietly. */
				found++;
				failed++;
				fprintf(stderr, "mem0-audit-proxy: %s:%ld: a "
				    "\"claim not stored\" line that cannot be "
				    "read (cut short?); send its claim by "
				    "hand\n", argv[i], lineno);
			}
			for (k = 0; k < nb; k++) {
				found++;
				if (replay_send(cfg, easy, bodies[k]) == 0)
					sent++;
				else {
					failed++;
					fprintf(stderr, "mem0-audit-proxy: "
					    "%s:%ld: Wingman did not log this "
					    "claim; run replay again later\n",
					    argv[i], lineno);
				}
				free(bodies[k]);
			}
		}
		if (fp != stdin)
			fclose(fp);
	}
	free(line);
	curl_easy_cleanup(easy);
	curl_global_cleanup();
	printf("replayed %d of %d claims to %s\n", sent, found,
	    cfg->wingman_url);
	return (failed > 0 ? 1 : 0);
}

/*
 * verify-ledger [--worker ID] [--since T] [--until T] [--json]
 * [--state DIR] FILE...: is the trail in Wingman's ledger complete and
 * unaltered (ledger.h)? Exit 0 yes, 1 no, 2 usage or I/O error.
 */
static int
cmd_verify_ledger(const struct config *cfg, int argc, char **argv)
{
	struct ledger_result	 res;
	struct ledger_opts	 o;
	struct anon		 anon;
	const char		**files;
	char			 since[LEDGER_TS_LEN], until[LEDGER_TS_LEN];
	char			 err[512];
	size_t			 n = 0;
	int			 i, json = 0, opts = 1, rc = 2;

	memset(&o, 0, sizeof(o));
	o.worker = cfg->worker_id;
	o.default_interval_s = cfg->checkpoint_interval_s;
	if ((files = calloc((size_t)argc, sizeof(*files))) == NULL) {
		fprintf(stderr, "mem0-audit-proxy: out of memory\n");
		return (2);
	}
	for (i = 1; i < argc; i++) {
		if (!opts || argv[i][0] != '-')
			files[n++] = argv[i];
		else if (strcmp(argv[i], "--") == 0)
			opts = 0;
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (i + 1 < argc && strcmp(argv[i], "--worker") == 0)
			o.worker = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--state") == 0)
			o.state_dir = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--stream") == 0) {
			o.stream = argv[++i];
			if (strlen(o.stream) != CHAIN_STREAM_LEN ||
			    strspn(o.stream, "0123456789abcdef") !=
			    CHAIN_STREAM_LEN) {
				fprintf(stderr, "mem0-audit-proxy: --stream "
				    "takes a stream id: %d hex digits\n",
				    CHAIN_STREAM_LEN);
				goto out_free_files;
			}
		} else if (i + 1 < argc && strcmp(argv[i], "--since") == 0) {
			if (time_opt(argv[0], argv[++i], since) == -1)
				goto out_free_files;
			o.since = since;
		} else if (i + 1 < argc && strcmp(argv[i], "--until") == 0) {
			if (time_opt(argv[0], argv[++i], until) == -1)
				goto out_free_files;
			o.until = until;
		} else {
			fprintf(stderr, "mem0-audit-proxy: verify-ledger: "
			    "unknown option or missing value: %s\n", argv[i]);
			goto out_usage;
		}
	}
	if (n == 0)
		goto out_usage;
	if (audit_key(cfg, &anon) == -1)
		goto out_free_files;
	o.anon = &anon;
	if (ledger_verify(&o, files, n, &res, err, sizeof(err)) == -1)
		fprintf(stderr, "mem0-audit-proxy: %s\n", err);
	else if (json && ledger_print_json(stdout, &res) == -1)
		fprintf(stderr, "mem0-audit-proxy: out of memory\n");
	else {
		if (!json)
			ledger_print(stdout, &res);
		rc = res.ok ? 0 : 1;
	}
	ledger_result_free(&res);
	anon_free(&anon);
	if (fflush(stdout) == EOF)
		rc = 2;
	free(files);
	return (rc);

out_usage:
	usage(stderr);
out_free_files:
	free(files);
	return (2);
}

/*
 * trail (--user|--agent|--app|--run) ID [--json] [--since T] [--until T]
 * FILE...: the claims that name ID's pseudonym, oldest first. Exit 0 when
 * there is one, 1 when none, 2 on a usage or I/O error.
 */
static int
cmd_trail(const struct config *cfg, int argc, char **argv)
{
	struct ledger_trail_out	 out;
	struct anon		 anon;
	const char		**files, *id = NULL, *since = NULL;
	const char		*until = NULL;
	char			 s[LEDGER_TS_LEN], u[LEDGER_TS_LEN];
	char			 pseudo[ANON_PSEUDO_LEN + 1], err[512];
	char			 letter = 0;
	size_t			 n = 0;
	long			 hits;
	int			 i, opts = 1, rc = 2;

	memset(&out, 0, sizeof(out));
	out.fp = stdout;
	if ((files = calloc((size_t)argc, sizeof(*files))) == NULL) {
		fprintf(stderr, "mem0-audit-proxy: out of memory\n");
		return (2);
	}
	for (i = 1; i < argc; i++) {
		if (!opts || argv[i][0] != '-')
			files[n++] = argv[i];
		else if (strcmp(argv[i], "--") == 0)
			opts = 0;
		else if (strcmp(argv[i], "--json") == 0)
			out.json = 1;
		else if (i + 1 < argc && letter == 0 && (strcmp(argv[i],
		    "--user") == 0 || strcmp(argv[i], "--agent") == 0 ||
		    strcmp(argv[i], "--app") == 0 || strcmp(argv[i],
		    "--run") == 0)) {
			letter = argv[i][3] == 'p' ? 'p' : argv[i][2];
			id = argv[++i];
		} else if (i + 1 < argc && strcmp(argv[i], "--since") == 0) {
			if (time_opt(argv[0], argv[++i], s) == -1)
				goto out_free_files;
			since = s;
		} else if (i + 1 < argc && strcmp(argv[i], "--until") == 0) {
			if (time_opt(argv[0], argv[++i], u) == -1)
				goto out_free_files;
			until = u;
		} else {
			fprintf(stderr, "mem0-audit-proxy: trail: unknown "
			    "option, missing value or a second entity: %s\n",
			    argv[i]);
			goto out_usage;
		}
	}
	if (letter == 0 || n == 0)
		goto out_usage;
	if (audit_key(cfg, &anon) == -1)
		goto out_free_files;
	anon_pseudonym(&anon, letter, id, strlen(id), pseudo);
	anon_free(&anon);
	hits = ledger_trail(pseudo, since, until, files, n,
	    ledger_trail_print, &out, err, sizeof(err));
	ledger_trail_end(&out);
	if (hits == -1)
		fprintf(stderr, "mem0-audit-proxy: %s\n", err);
	else {
		fprintf(stderr, "mem0-audit-proxy: %ld claim%s name%s %s\n",
		    hits, hits == 1 ? "" : "s", hits == 1 ? "s" : "", pseudo);
		rc = hits > 0 ? 0 : 1;
	}
	if (fflush(stdout) == EOF)
		rc = 2;
	free(files);
	return (rc);

out_usage:
	usage(stderr);
out_free_files:
	free(files);
	return (2);
}

/* A directory the proxy trusts (trust.h), made when missing. 0 or -1. */
static int
ensure_dir(const char *dir, const char *what)
{
	char	 err[512];
	int	 fd;

	if ((fd = trust_open_dir(dir, what, 1, err, sizeof(err))) == -1) {
		fprintf(stderr, "mem0-audit-proxy: %s\n", err);
		return (-1);
	}
	close(fd);
	return (0);
}


static void
sleep_ms(long ms)
{
	struct timespec	 ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

/*
 * Graceful stop: no new connections, let requests in flight finish (not
 * those held for approval), give the sender time to deliver queued
 * claims, then stop the engine, which answers what is left, held requests
 * included, with 503, and the front.
 */
static void
shutdown_all(const struct config *cfg, struct front *front, struct eng *eng,
    struct gate *gate, struct wm *wm)
{
	struct wm_stats	 st;
	long long	 deadline;
	char		 n[32];

	deadline = eng_now_ms() + cfg->shutdown_timeout_ms;
	front_quiesce(front);
	/* Held requests are not waited for: the engine stop answers them. */
	while (front_inflight(front) > gate_holding(gate) &&
	    eng_now_ms() < deadline)
		sleep_ms(20);
	/* The trail ends here for this run, cleanly (chain.h). */
	wm_close_stream(wm);
	for (;;) {
		wm_get_stats(wm, &st);
		if (st.pending == 0 || eng_now_ms() >= deadline)
			break;
		sleep_ms(20);
	}
	/* Approval file work ends first: its answers go through the engine. */
	gate_stop_io(gate);
	eng_stop(eng);
	/*
	 * Answers that waited for an fsync registered after the last one.
	 * A disk that hangs gets what is left of the timeout (at least 1 s).
	 */
	wm_flush_waiters(wm, deadline - eng_now_ms() > 1000 ?
	    deadline - eng_now_ms() : 1000);
	/*
	 * Resumed connections get their 503 when their daemon runs again:
	 * let every answer be sent before the daemon closes the sockets.
	 */
	front_drain(front, 2000);
	front_stop(front);
	wm_get_stats(wm, &st);
	if (st.pending > 0) {
		snprintf(n, sizeof(n), "%zu", st.pending);
		log_msg(CFG_LOG_WARN, "claims not yet delivered stay in the "
		    "spool for the next start", "count", n, LOG_END);
	}
}

/* What the spool replay found: claims to send, and damage skipped. */
static void
log_spool(struct wm *wm)
{
	struct wm_stats	 st;
	char		 n[32], c[32], b[32];

	wm_get_stats(wm, &st);
	snprintf(n, sizeof(n), "%zu", st.pending);
	snprintf(c, sizeof(c), "%llu", st.corrupt);
	snprintf(b, sizeof(b), "%zu", st.spool_bytes);
	log_msg(st.corrupt > 0 ? CFG_LOG_WARN : CFG_LOG_INFO, st.corrupt > 0 ?
	    "spool replayed; corrupt records were skipped" : "spool replayed",
	    "pending_claims", n, "corrupt_records", c, "bytes", b, LOG_END);
}

static int
run(const struct config *cfg, const char *cfg_path)
{
	struct anon	 anon;
	struct eng	*eng = NULL;
	struct wm	*wm = NULL;
	struct gate	*gate = NULL;
	struct front	*front = NULL;
	sigset_t	 set;
	char		 err[512], port[16];
	char		*path;
	int		 sig, rc = 1;

	log_set_level(cfg->log_level);
	if (ensure_dir(cfg->state_dir, "state_dir") == -1 ||
	    (cfg->export_archive_dir != NULL &&
	    ensure_dir(cfg->export_archive_dir, "export.archive_dir") == -1))
		return (1);
	if ((path = key_path(cfg)) == NULL)
		return (1);
	if (anon_load_key(&anon, path, cfg->hmac_key_file == NULL, err,
	    sizeof(err)) == -1) {
		log_msg(CFG_LOG_ERROR, "cannot load the HMAC key", "detail", err,
		    LOG_END);
		free(path);
		return (1);
	}
	free(path);

	/* Signals go to this thread only: block them before any thread. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_msg(CFG_LOG_ERROR, "curl_global_init failed", LOG_END);
		goto out_free_anon;
	}
	if ((eng = eng_create()) == NULL) {
		log_msg(CFG_LOG_ERROR, "out of memory", LOG_END);
		goto out_destroy_engine;
	}
	if ((wm = wm_create(cfg, eng, &anon, err, sizeof(err))) == NULL) {
		log_msg(CFG_LOG_ERROR, "cannot open the claim spool", "detail",
		    err, LOG_END);
		goto out_destroy_engine;
	}
	log_spool(wm);
	if ((gate = gate_create(cfg, eng, wm, &anon, err, sizeof(err))) ==
	    NULL) {
		log_msg(CFG_LOG_ERROR, "cannot start the approval gate",
		    "detail", err, LOG_END);
		goto out_destroy_engine;
	}
	if (eng_start(eng) == -1) {
		log_msg(CFG_LOG_ERROR, "cannot start the engine thread", LOG_END);
		goto out_destroy_engine;
	}
	if ((front = front_start(cfg, eng, wm, gate, &anon, err,
	    sizeof(err))) ==
	    NULL) {
		log_msg(CFG_LOG_ERROR, "cannot start", "detail", err, LOG_END);
		goto out_destroy_engine;
	}
	snprintf(port, sizeof(port), "%d", cfg->listen_port);
	log_msg(CFG_LOG_INFO, "listening", "host", cfg->listen_host, "port",
	    port, "upstream", cfg->upstream_url, "wingman", cfg->wingman_url,
	    "dialect", route_dialect_name(cfg->dialect), "version", VERSION,
	    LOG_END);
	if (cfg->admin_host != NULL) {
		snprintf(port, sizeof(port), "%d", cfg->admin_port);
		log_msg(CFG_LOG_INFO, "admin listener (metrics, status page)",
		    "host", cfg->admin_host, "port", port, LOG_END);
	}

	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload(cfg_path, gate, front);
			continue;
		}
		break;
	}
	log_msg(CFG_LOG_INFO, "stopping", "signal", strsignal(sig), LOG_END);
	shutdown_all(cfg_live(), front, eng, gate, wm);
	rc = 0;

out_destroy_engine:
	/*
	 * The engine stops first (its callbacks use the gate and the claim
	 * sender), but is freed last: the spool's writer thread wakes it
	 * until wm_destroy() has joined that thread.
	 */
	gate_stop_io(gate);
	if (eng != NULL)
		eng_stop(eng);
	wm_destroy(wm);
	gate_destroy(gate);
	eng_destroy(eng);
	curl_global_cleanup();
out_free_anon:
	anon_free(&anon);
	return (rc);
}

/* --check-config: the TLS files load, and the key fits the certificate. */
static int
check_tls(const struct config *cfg)
{
	struct tls	 t;
	char		 err[512];

	if (tls_load(&t, cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "mem0-audit-proxy: %s\n", err);
		return (1);
	}
	tls_free(&t);
	return (0);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct config	*cfg;
	const char	*path = NULL;
	int		 ch, check = 0, rc;

	/* '+': stop at the first non-option (the "hash" command). */
	while ((ch = getopt_long(argc, argv, "+c:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			check = 1;
			break;
		case 'h':
			usage(stdout);
			return (0);
		case 'V':
			printf("mem0-audit-proxy %s\n", VERSION);
			return (0);
		default:
			usage(stderr);
			return (2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 0 && strcmp(argv[0], "hash") != 0 &&
	    strcmp(argv[0], "replay") != 0 &&
	    strcmp(argv[0], "verify-ledger") != 0 &&
	    strcmp(argv[0], "trail") != 0) {
		usage(stderr);
		return (2);
	}
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		fprintf(stderr, "mem0-audit-proxy: out of memory\n");
		return (1);
	}
	if (load_config(cfg, path) == -1) {
		cfg_free(cfg);
		free(cfg);
		return (1);
	}
	if (check) {
		rc = check_tls(cfg);
		if (rc == 0)
			printf("configuration OK\n");
	} else if (argc > 0 && strcmp(argv[0], "replay") == 0)
		rc = cmd_replay(cfg, argc, argv);
	else if (argc > 0 && strcmp(argv[0], "verify-ledger") == 0)
		rc = cmd_verify_ledger(cfg, argc, argv);
	else if (argc > 0 && strcmp(argv[0], "trail") == 0)
		rc = cmd_trail(cfg, argc, argv);
	else if (argc > 0)
		rc = cmd_hash(cfg, argc, argv);
	else if (cfg_publish(cfg) == -1) {
		fprintf(stderr, "mem0-audit-proxy: out of memory\n");
		rc = 1;
	} else {
		rc = run(cfg, path);
		cfg_release_all();	/* frees cfg and every retired one */
		return (rc);
	}
	cfg_free(cfg);
	free(cfg);
	return (rc);
}
