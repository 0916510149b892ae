/*
 * Fuzz the request classifier: the target check, classification in every
 * dialect, id extraction from path, query and body, and the response
 * parser. Input: METHOD \n TARGET \n CONTENT-TYPE \n BODY (the rest).
 */
#include "fuzz.h"
#include "route.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum route_dialect	 dialects[] = {
		ROUTE_DIALECT_AUTO, ROUTE_DIALECT_OSS, ROUTE_DIALECT_PLATFORM
	};
	struct route	 r;
	const char	*why;
	char		*method, *target, *ctype, *query;
	size_t		 off = 0, bad, blen, i;

	method = fuzz_field(data, size, &off, NULL);
	target = fuzz_field(data, size, &off, NULL);
	ctype = fuzz_field(data, size, &off, NULL);
	blen = size - (off < size ? off : size);
	if (route_target_check(target, &bad, &why) == -1)
		target[bad] = '\0';
	if ((query = strchr(target, '?')) != NULL)
		*query++ = '\0';
	for (i = 0; i < sizeof(dialects) / sizeof(dialects[0]); i++) {
		if (route_classify(&r, method, target, query,
		    (const char *)data + off, blen, ctype[0] ? ctype : NULL,
		    dialects[i]) == 0) {
			(void)route_kind_name(r.kind);
			route_parse_response(&r, 200, (const char *)data + off,
			    blen);
		}
		route_free(&r);
	}
	free(method);
	free(target);
	free(ctype);
	return (0);
}
