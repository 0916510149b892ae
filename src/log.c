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

static enum cfg_log_level log_level = CFG_LOG_INFO;

void
log_set_level(enum cfg_log_level level)
{
	log_level = level;
}

int
log_enabled(enum cfg_log_level level)
{
	return (level >= log_level);
}

void
log_msg(enum cfg_log_level level, const char *msg, ...)
{
	struct timespec	 ts;
	struct tm	 tm;
	char		 when[40];
	cJSON		*obj;
	char		*line;
	const char	*key, *val;
	va_list		 ap;

	if (!log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when) - 8, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + strlen(when), 8, ".%03uZ",
	    (unsigned)(ts.tv_nsec / 1000000) % 1000u);

	if ((obj = cJSON_CreateObject()) == NULL)
		goto out_plain;
	cJSON_AddStringToObject(obj, "time", when);
	cJSON_AddStringToObject(obj, "level", cfg_log_level_name(level));
	cJSON_AddStringToObject(obj, "msg", msg);
	va_start(ap, msg);
	while ((key = va_arg(ap, const char *)) != NULL) {
		val = va_arg(ap, const char *);
		if (val == NULL)
			cJSON_AddNullToObject(obj, key);
		else
			cJSON_AddStringToObject(obj, key, val);
	}
	va_end(ap);
	line = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	if (line == NULL)
		goto out_plain;
	/* One fputs per line: stdio locks the stream, lines never mix. */
	flockfile(stderr);
	fputs(line, stderr);
	fputc('\n', stderr);
	funlockfile(stderr);
	free(line);
	return;

out_plain:
	fputs("{\"level\":\"error\",\"msg\":\"out of memory while logging\"}\n",
	    stderr);
}
