/*
 * Fuzz what the proxy reads from Wingman and from its approval store:
 * the /log_claim reply, created_at times, the SCOPE line of an
 * instruction, and signed approval records.
 */
#include "anon.h"
#include "approval.h"
#include "fuzz.h"
#include "gate.h"
#include "wingman.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct anon	 anon;
	static int		 ready;
	struct appr_rec		 rec;
	char			*text, scope[4096];

	if (!ready) {
		if (anon_init(&anon, "0123456789abcdef", 16) == -1)
			abort();
		ready = 1;
	}
	(void)wm_reply_logged(200, (const char *)data, size);
	if ((text = malloc(size + 1)) == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	(void)gate_parse_utc(text);
	(void)gate_scope_of(text, scope, sizeof(scope));
	(void)appr_parse(&anon, (const char *)data, size, &rec);
	(void)appr_id_valid(text);
	free(text);
	return (0);
}
