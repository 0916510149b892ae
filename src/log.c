/*
 * log: JSON lines on stderr. See log.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "log.h"

/* Written on SIGHUP by the main thread, read by every thread. */
static int log_level = CFG_LOG_INFO;

void
log_set_level(enum cfg_log_level level)
{
	__atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
}

int
log_enabled(enum cfg_log_level level)
{
	return ((int)level >= __atomic_load_n(&log_level, __ATOMIC_RELAXED));
}

/* A new line object with time, level and msg; NULL when out of memory. */
static cJSON *
log_start(enum cfg_log_level level, const char *msg)
{
	struct timespec	 ts;
	struct tm	 tm;
	char		 when[40];
	cJSON		*obj;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when) - 8, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + strlen(when), 8, ".%03uZ",
	    (unsigned)(ts.tv_nsec / 1000000) % 1000u);
	if ((obj = cJSON_CreateObject()) == NULL)
		return (NULL);
	cJSON_AddStringToObject(obj, "time", when);
	cJSON_AddStringToObject(obj, "level", cfg_log_level_name(level));
	cJSON_AddStringToObject(obj, "msg", msg);
	return (obj);
}

/* Print obj (taken) as one line. */
static void
log_emit(cJSON *obj)
{
	char	*line = NULL;

	if (obj != NULL)
		line = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	if (line == NULL) {
		fputs("{\"level\":\"error\",\"msg\":\"out of memory while "
		    "logging\"}\n", stderr);
		return;
	}
	/* One fputs per line: stdio locks the stream, lines never mix. */
	flockfile(stderr);
	fputs(line, stderr);
	fputc('\n', stderr);
	funlockfile(stderr);
	free(line);
}

void
log_msg(enum cfg_log_level level, const char *msg, ...)
{
	cJSON		*obj;
	const char	*key, *val;
	va_list		 ap;

	if (!log_enabled(level))
		return;
	if ((obj = log_start(level, msg)) != NULL) {
		va_start(ap, msg);
		while ((key = va_arg(ap, const char *)) != NULL) {
			val = va_arg(ap, const char *);
			if (val == NULL)
				cJSON_AddNullToObject(obj, key);
			else
				cJSON_AddStringToObject(obj, key, val);
		}
		va_end(ap);
	}
	log_emit(obj);
}

void
log_claim_fallback(const char *worker, const char *claim, const char *why)
{
	cJSON	*obj, *body;

	if ((obj = log_start(CFG_LOG_ERROR, "claim not stored")) != NULL) {
		cJSON_AddStringToObject(obj, "reason", why);
		if ((body = cJSON_AddObjectToObject(obj, "log_claim")) != NULL) {
			cJSON_AddStringToObject(body, "claim", claim);
			cJSON_AddStringToObject(body, "worker_id", worker);
		}
	}
	log_emit(obj);
}
