/*
 * Fuzz the ledger reader (ledger.h) and the seal parsers (chain.h): the
 * input is a whole Wingman ledger file, which an attacker may have
 * written. verify-ledger and trail must read anything without a crash,
 * a leak or undefined behaviour, and every line through chain_parse()
 * and chain_parse_checkpoint().
 */
#include <stdio.h>
#include <unistd.h>

#include "anon.h"
#include "chain.h"
#include "fuzz.h"
#include "ledger.h"

static const char	 key16[] = "0123456789abcdef";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char		 path[64];
	struct ledger_result	 r;
	struct ledger_opts	 o;
	struct chain_checkpoint	 cp;
	struct chain_seal	 s;
	struct anon		 a;
	const char		*files[1];
	char			 err[512], *line;
	size_t			 off = 0, len;
	FILE			*fp;

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "/tmp/fuzz_ledger.%ld",
		    (long)getpid());
	if (anon_init(&a, key16, 16) == -1)
		abort();
	while (off < size) {
		line = fuzz_field(data, size, &off, &len);
		(void)chain_parse(line, len, &s);
		(void)chain_parse_checkpoint(line, len, &cp);
		free(line);
	}
	if ((fp = fopen(path, "w")) == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, fp) != size)
		abort();
	fclose(fp);
	files[0] = path;
	memset(&o, 0, sizeof(o));
	o.worker = "mem0-service";
	o.anon = &a;
	if (ledger_verify(&o, files, 1, &r, err, sizeof(err)) == 0)
		ledger_result_free(&r);
	o.since = "2026-11-28T10:00:01";
	o.until = "2026-11-28T10:00:05";
	if (ledger_verify(&o, files, 1, &r, err, sizeof(err)) == 0)
		ledger_result_free(&r);
	anon_free(&a);
	return (0);
}
