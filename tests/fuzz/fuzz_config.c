/*
 * Fuzz the configuration loader: the input is a YAML file (written to an
 * in-memory file), loaded, then validated.
 */
#include <sys/mman.h>

#include <stdio.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	 cfg;
	char		 path[64], *errs = NULL;
	int		 fd;

	if ((fd = memfd_create("fuzz-config", MFD_CLOEXEC)) == -1)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (cfg_init(&cfg) == 0) {
		if (cfg_load_file(&cfg, path, &errs) == 0) {
			free(errs);
			errs = NULL;
			(void)cfg_validate(&cfg, &errs);
		}
		free(errs);
		cfg_free(&cfg);
	}
	close(fd);
	return (0);
}
