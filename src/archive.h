/*
 * archive: the export archive directory (export.archive_dir). Each export
 * that passed the check is written as one file, NAME.json, so that
 * Wingman can verify "Created file PATH" and an auditor can read what
 * was released.
 *
 * A file is written crash-safely: to a temporary name in the same
 * directory (".NAME.json.XXXXXXXX.tmp", mode 0600, created exclusively),
 * fsync'd, linked to its final name (never over an existing file: a
 * name already taken gets a random suffix, NAME.XXXXXXXX.json), the
 * temporary name removed, and the directory fsync'd. A reader never sees
 * a partial file under a final name.
 *
 * Retention: archive_prune() keeps the newest max_files regular files
 * whose names end in ".json" and removes the others, oldest first (by
 * modification time, then name). The directory should hold nothing else.
 *
 * Blocking file I/O: call from a thread that may wait on the disk.
 *
 * Ownership: archive_write() returns a malloc'd path the caller frees.
 * Nothing else is retained between calls.
 */
#ifndef ARCHIVE_H
#define ARCHIVE_H

#include <stddef.h>

/* Longest final file name (NAME + suffix + ".json"). */
#define ARCHIVE_NAME_MAX	200

/*
 * Write data[0..len) as DIR/NAME.json (see above). dir is created (0700)
 * when missing; its parent must exist. name: 1..128 characters of
 * [A-Za-z0-9._:-] (a request id). On success returns 0 and *path
 * (malloc'd, "DIR/FILE"); on failure -1 with a reason in err (no data,
 * never a path component other than dir) and nothing left behind.
 */
int	 archive_write(const char *dir, const char *name, const char *data,
	    size_t len, char **path, char *err, size_t errlen);

/*
 * Keep the newest max_files "*.json" files of dir, never removing the
 * one named keep (a final file name, or NULL). Returns the number of
 * files removed, or -1 when dir cannot be read (err says why).
 */
long	 archive_prune(const char *dir, size_t max_files, const char *keep,
	    char *err, size_t errlen);

/* Remove one archive file and sync its directory. Returns 0 or -1. */
int	 archive_remove(const char *path);

#endif /* ARCHIVE_H */
