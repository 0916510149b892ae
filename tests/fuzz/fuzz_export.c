/*
 * Fuzz the export checker: a classified export request (the first line:
 * METHOD TARGET, e.g. "GET /memories?user_id=a") and Mem0's answer body
 * (the rest), through export_check() for 200 and an error status.
 */
#include "export.h"
#include "fuzz.h"
#include "route.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct export_result	 res;
	struct route		 r;
	char			*line, *sp, *query;
	size_t			 off = 0;

	line = fuzz_field(data, size, &off, NULL);
	if ((sp = strchr(line, ' ')) != NULL)
		*sp++ = '\0';
	else
		sp = (char *)"/memories";
	if ((query = strchr(sp, '?')) != NULL)
		*query++ = '\0';
	if (route_classify(&r, line, sp, query, NULL, 0, NULL,
	    ROUTE_DIALECT_AUTO) == 0) {
		(void)export_check(&r, 200, (const char *)data + off,
		    size - (off < size ? off : size), &res);
		(void)export_verdict_name(res.verdict);
		(void)export_check(&r, 500, (const char *)data + off,
		    size - (off < size ? off : size), &res);
	}
	route_free(&r);
	free(line);
	return (0);
}
