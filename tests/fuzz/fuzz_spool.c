/*
 * Fuzz the spool's record decoder and replay: the input becomes a
 * segment file (and, after a line "--acked--", the acked file) in a
 * scratch directory; the spool is opened (replay, quarantine), every
 * record read back, and closed.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <unistd.h>

#include "fuzz.h"
#include "spool.h"

static char	 root[] = "/tmp/m0ap-fuzz-spool-XXXXXX";

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return (remove(p));
}

static void
put(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char	 path[256];
	int	 fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		abort();
	if (n > 0 && write(fd, p, n) != (ssize_t)n)
		abort();
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	 sep[] = "\n--acked--\n";
	static int		 ready;
	struct spool_opts	 o;
	struct spool		*s;
	const uint8_t		*acked;
	char			 dir[128], err[512], *rec;
	uint64_t		 seq;
	size_t			 seg, len, k;

	if (!ready) {
		if (mkdtemp(root) == NULL)
			abort();
		ready = 1;
	}
	snprintf(dir, sizeof(dir), "%s/sp", root);
	(void)nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	if (mkdir(dir, 0700) == -1)
		abort();
	acked = memmem(data, size, sep, sizeof(sep) - 1);
	seg = acked != NULL ? (size_t)(acked - data) : size;
	put(dir, "seg-0000000000000001.log", data, seg);
	if (acked != NULL)
		put(dir, "acked", acked + sizeof(sep) - 1,
		    size - seg - (sizeof(sep) - 1));
	memset(&o, 0, sizeof(o));
	o.dir = dir;
	o.max_bytes = 1 << 20;
	o.segment_bytes = 1 << 16;
	if (spool_open(&s, &o, err, sizeof(err)) == 0) {
		for (k = 0; k < 10000 && spool_next(s, &seq, &rec, &len) == 1;
		    k++) {
			free(rec);
			spool_ack(s, seq);
		}
		spool_close(s);
	}
	return (0);
}
