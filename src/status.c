/*
 * status: the status page and the claim rates. See status.h.
 *
 * The page is built only from textContent and element properties, never
 * from HTML strings, so nothing the JSON holds (a SCOPE line, a Wingman
 * status) can become markup. The admin listener serves it with a
 * Content-Security-Policy that allows no script but /status.js.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

#define STATUS_SAMPLES		64	/* one per second at most */
#define STATUS_WINDOW_MS	60000	/* rates over the last minute */
#define STATUS_MIN_STEP_MS	1000

struct status_sample {
	long long		 ms;
	unsigned long long	 in;
	unsigned long long	 out;
};

struct status {
	pthread_mutex_t		 lock;
	struct status_sample	 ring[STATUS_SAMPLES];
	size_t			 head;	/* next slot */
	size_t			 n;
};

struct status *
status_create(void)
{
	struct status	*st;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return (NULL);
	if (pthread_mutex_init(&st->lock, NULL) != 0) {
		free(st);
		return (NULL);
	}
	return (st);
}

void
status_destroy(struct status *st)
{
	if (st == NULL)
		return;
	pthread_mutex_destroy(&st->lock);
	free(st);
}

static struct status_sample *
status_nth_newest(struct status *st, size_t i)
{
	return (&st->ring[(st->head + STATUS_SAMPLES - 1 - i) %
	    STATUS_SAMPLES]);
}

void
status_sample(struct status *st, long long now_ms, unsigned long long in,
    unsigned long long out)
{
	pthread_mutex_lock(&st->lock);
	if (st->n == 0 ||
	    now_ms - status_nth_newest(st, 0)->ms >= STATUS_MIN_STEP_MS) {
		st->ring[st->head].ms = now_ms;
		st->ring[st->head].in = in;
		st->ring[st->head].out = out;
		st->head = (st->head + 1) % STATUS_SAMPLES;
		if (st->n < STATUS_SAMPLES)
			st->n++;
	}
	pthread_mutex_unlock(&st->lock);
}

int
status_rates(struct status *st, double *in_per_s, double *out_per_s)
{
	struct status_sample	*last, *first;
	size_t			 i;
	double			 secs;
	int			 rc = -1;

	pthread_mutex_lock(&st->lock);
	if (st->n < 2)
		goto out_unlock;
	last = status_nth_newest(st, 0);
	first = status_nth_newest(st, 1);
	for (i = 2; i < st->n; i++) {
		if (last->ms - status_nth_newest(st, i)->ms > STATUS_WINDOW_MS)
			break;
		first = status_nth_newest(st, i);
	}
	secs = (double)(last->ms - first->ms) / 1000.0;
	if (secs <= 0)
		goto out_unlock;
	*in_per_s = (double)(last->in - first->in) / secs;
	*out_per_s = (double)(last->out - first->out) / secs;
	rc = 0;
out_unlock:
	pthread_mutex_unlock(&st->lock);
	return (rc);
}

static const char status_html[] =
"<!DOCTYPE html>\n"
"<html lang=\"en\">\n"
"<head>\n"
"<meta charset=\"utf-8\">\n"
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
"<title>mem0-audit-proxy status</title>\n"
"<link rel=\"icon\" href=\"data:,\">\n"
"<style>\n"
"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\n"
"h1{font-size:1.3em;margin:0 0 .2em}\n"
"h2{font-size:1.05em;margin:1.4em 0 .4em}\n"
".meta{color:#666}\n"
".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(14em,1fr));"
"gap:.6em}\n"
".card{border:1px solid #ccc;border-radius:4px;padding:.5em .8em}\n"
".card b{display:block;font-size:.8em;color:#666;font-weight:normal}\n"
".ok{color:#176f2c}.bad{color:#b00020}\n"
"table{border-collapse:collapse;width:100%}\n"
"th,td{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;"
"vertical-align:top}\n"
"td.scope{font-family:monospace;font-size:.85em;word-break:break-all}\n"
"#banner{display:none;background:#fde;padding:.4em .8em;margin:.6em 0}\n"
"</style>\n"
"</head>\n"
"<body>\n"
"<h1>mem0-audit-proxy</h1>\n"
"<div class=\"meta\">version <span id=\"version\">?</span>, "
"configuration <span id=\"config_digest\">?</span>, up "
"<span id=\"uptime\">?</span>, updated <span id=\"updated\">never</span>"
"</div>\n"
"<div id=\"banner\">The proxy did not answer the last update.</div>\n"
"<h2>Health</h2>\n"
"<div class=\"grid\">\n"
"<div class=\"card\"><b>ready</b><span id=\"ready\">?</span></div>\n"
"<div class=\"card\"><b>Mem0 (upstream)</b><span id=\"upstream\">?</span>"
"</div>\n"
"<div class=\"card\"><b>Wingman breaker</b><span id=\"breaker\">?</span>"
"</div>\n"
"<div class=\"card\"><b>spool writable</b><span id=\"writable\">?</span>"
"</div>\n"
"</div>\n"
"<h2>Claims</h2>\n"
"<div class=\"grid\">\n"
"<div class=\"card\"><b>in the spool (not yet logged)</b>"
"<span id=\"spool_claims\">?</span></div>\n"
"<div class=\"card\"><b>spool bytes</b><span id=\"spool_bytes\">?</span>"
"</div>\n"
"<div class=\"card\"><b>in per second</b><span id=\"in_rate\">?</span>"
"</div>\n"
"<div class=\"card\"><b>out per second (to Wingman)</b>"
"<span id=\"out_rate\">?</span></div>\n"
"<div class=\"card\"><b>time to drain</b><span id=\"drain\">?</span>"
"</div>\n"
"<div class=\"card\"><b>requests held / in flight / connections</b>"
"<span id=\"load\">?</span></div>\n"
"</div>\n"
"<h2>Approvals waiting (<span id=\"approvals_waiting\">0</span>)</h2>\n"
"<p class=\"meta\">Read-only: approve or reject in Wingman.</p>\n"
"<table>\n"
"<thead><tr><th>approval</th><th>kind</th><th>scope (pseudonyms)</th>"
"<th>state</th><th>Wingman</th><th>age</th></tr></thead>\n"
"<tbody id=\"approvals\"></tbody>\n"
"</table>\n"
"<script src=\"status.js\"></script>\n"
"</body>\n"
"</html>\n";

static const char status_js[] =
"'use strict';\n"
"function put(id, text, cls) {\n"
"  const el = document.getElementById(id);\n"
"  el.textContent = text;\n"
"  if (cls !== undefined) el.className = cls;\n"
"}\n"
"function yesno(v, good) {\n"
"  return [v ? 'yes' : 'no', v === good ? 'ok' : 'bad'];\n"
"}\n"
"function dur(s) {\n"
"  if (s === null || s === undefined) return 'n/a';\n"
"  s = Math.round(s);\n"
"  if (s < 120) return s + ' s';\n"
"  if (s < 7200) return Math.round(s / 60) + ' min';\n"
"  return Math.round(s / 3600) + ' h';\n"
"}\n"
"function rate(v) {\n"
"  return v === null || v === undefined ? 'n/a' : v.toFixed(1);\n"
"}\n"
"function row(a) {\n"
"  const tr = document.createElement('tr');\n"
"  const id = document.createElement('td');\n"
"  if (a.link) {\n"
"    const link = document.createElement('a');\n"
"    link.href = a.link;\n"
"    link.rel = 'noreferrer';\n"
"    link.textContent = a.id;\n"
"    id.appendChild(link);\n"
"  } else {\n"
"    id.textContent = '(being asked)';\n"
"  }\n"
"  tr.appendChild(id);\n"
"  for (const [k, cls] of [['kind'], ['scope', 'scope'], ['state'],\n"
"                          ['wingman_status']]) {\n"
"    const td = document.createElement('td');\n"
"    td.textContent = a[k] || '';\n"
"    if (cls) td.className = cls;\n"
"    tr.appendChild(td);\n"
"  }\n"
"  const age = document.createElement('td');\n"
"  age.textContent = dur(a.age_s);\n"
"  tr.appendChild(age);\n"
"  return tr;\n"
"}\n"
"function show(s) {\n"
"  put('version', s.version);\n"
"  put('config_digest', s.config_digest);\n"
"  put('uptime', dur(s.uptime_s));\n"
"  put('updated', new Date().toLocaleTimeString());\n"
"  put('ready', ...yesno(s.ready, true));\n"
"  put('upstream', s.upstream.reachable ? 'reachable' : 'unreachable',\n"
"      s.upstream.reachable ? 'ok' : 'bad');\n"
"  put('breaker', s.wingman.breaker_open ? 'open' : 'closed',\n"
"      s.wingman.breaker_open ? 'bad' : 'ok');\n"
"  put('writable', ...yesno(s.spool.writable, true));\n"
"  put('spool_claims', String(s.spool.claims));\n"
"  put('spool_bytes', String(s.spool.bytes));\n"
"  put('in_rate', rate(s.claims.in_per_s));\n"
"  put('out_rate', rate(s.claims.out_per_s));\n"
"  put('drain', s.spool.claims === 0 ? 'empty' : dur(s.claims.drain_s));\n"
"  put('load', s.holds + ' / ' + s.inflight + ' / ' + s.connections);\n"
"  put('approvals_waiting', String(s.approvals_waiting));\n"
"  const body = document.getElementById('approvals');\n"
"  body.replaceChildren(...s.approvals.map(row));\n"
"}\n"
"async function update() {\n"
"  try {\n"
"    const r = await fetch('status.json', {cache: 'no-store'});\n"
"    if (!r.ok) throw new Error('HTTP ' + r.status);\n"
"    show(await r.json());\n"
"    document.getElementById('banner').style.display = 'none';\n"
"  } catch (e) {\n"
"    document.getElementById('banner').style.display = 'block';\n"
"  }\n"
"}\n"
"update();\n"
"setInterval(update, 2000);\n";

const char *
status_page(size_t *len)
{
	*len = sizeof(status_html) - 1;
	return (status_html);
}

const char *
status_script(size_t *len)
{
	*len = sizeof(status_js) - 1;
	return (status_js);
}
