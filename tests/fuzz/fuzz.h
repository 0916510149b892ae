/*
 * fuzz: what the libFuzzer targets share. Each target is one file,
 * tests/fuzz/fuzz_<name>.c, defining LLVMFuzzerTestOneInput(); seed
 * inputs live in tests/fuzz/corpus/<name>/, crashes found are kept as
 * regression inputs in tests/fuzz/regressions/<name>/ (tests/fuzz/run.sh
 * runs both).
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int	 LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The next field of data[*off..size), up to a '\n' (not included) or the
 * end, as a malloc'd NUL-terminated copy (NULs inside are kept: the
 * string then looks shorter, as a C caller would see it). *len is its
 * byte length. Never NULL (aborts when memory is short).
 */
static inline char *
fuzz_field(const uint8_t *data, size_t size, size_t *off, size_t *len)
{
	const uint8_t	*nl;
	size_t		 n;
	char		*s;

	if (*off > size)
		*off = size;
	nl = memchr(data + *off, '\n', size - *off);
	n = nl != NULL ? (size_t)(nl - (data + *off)) : size - *off;
	if ((s = malloc(n + 1)) == NULL)
		abort();
	memcpy(s, data + *off, n);
	s[n] = '\0';
	*off += n + (nl != NULL);
	if (len != NULL)
		*len = n;
	return (s);
}

#endif /* FUZZ_H */
