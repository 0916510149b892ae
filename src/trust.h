/*
 * trust: the files the proxy believes. Its state directories (the state
 * dir, the spool, the approval store, the export archive) and its key
 * files (the HMAC key, the Wingman role keys) decide what is forwarded
 * and what pseudonyms mean, so another local user must not be able to
 * plant or change them:
 *
 *   - a directory must be owned by the proxy's user, must not be
 *     writable by group or others, and must not be a symlink (opened
 *     with O_NOFOLLOW); a missing one is created 0700;
 *   - a key file must be a regular file owned by the proxy's user (or
 *     root) and not accessible by group or others.
 *
 * Ownership: trust_open_dir() returns an fd the caller closes; the key
 * bytes land in the caller's buffer, which the caller wipes.
 */
#ifndef TRUST_H
#define TRUST_H

#include <stddef.h>

/*
 * Open dir after the checks above; with create, a missing one is made
 * (0700, its parent fsync'd). what names it in messages ("state_dir",
 * ...). Returns an O_DIRECTORY fd, or -1 with a message in err.
 */
int	 trust_open_dir(const char *dir, const char *what, int create,
	    char *err, size_t errlen);

/*
 * Read the key file path into out[0..cap) after the checks above, with
 * trailing CR, LF, spaces and tabs removed; *len is the key's length.
 * A file longer than cap - 1 bytes is refused. Returns 0, or -1 with a
 * message in err (out is wiped then).
 */
int	 trust_read_key(const char *path, unsigned char *out, size_t cap,
	    size_t *len, char *err, size_t errlen);

#endif /* TRUST_H */
