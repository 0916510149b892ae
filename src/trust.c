/* trust: directories and key files the proxy believes (trust.h). */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "trust.h"

/* fsync the directory that holds path (a new entry in it). */
static void
trust_sync_parent(const char *path)
{
	char	 parent[4096];
	char	*slash;
	int	 fd;

	if (snprintf(parent, sizeof(parent), "%s", path) >=
	    (int)sizeof(parent))
		return;
	if ((slash = strrchr(parent, '/')) == NULL)
		snprintf(parent, sizeof(parent), ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	(void)fsync(fd);
	close(fd);
}

/* A symlink st (lstat of path) owned by root or us, in a directory that
 * only root or we can write (no other user could swap it). */
static int
trust_link_ok(const char *path, const struct stat *st)
{
	struct stat	 pst;
	char		 parent[PATH_MAX];
	char		*slash;

	if (st->st_uid != 0 && st->st_uid != geteuid())
		return (0);
	if (snprintf(parent, sizeof(parent), "%s", path) >=
	    (int)sizeof(parent))
		return (0);
	if ((slash = strrchr(parent, '/')) == NULL)
		snprintf(parent, sizeof(parent), ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	if (stat(parent, &pst) == -1)
		return (0);
	if (pst.st_uid != 0 && pst.st_uid != geteuid())
		return (0);
	return ((pst.st_mode & (S_IWGRP | S_IWOTH)) == 0);
}

int
trust_open_dir(const char *dir, const char *what, int create, char *err,
    size_t errlen)
{
	struct stat	 st;
	char		 real[PATH_MAX];
	int		 fd;

	/*
	 * A symlink is followed only when root or the proxy's user made it,
	 * in a directory only they can write: systemd's StateDirectory= with
	 * DynamicUser= is /var/lib/NAME -> private/NAME, made by root. The
	 * target is then checked like any directory.
	 */
	if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode)) {
		if (!trust_link_ok(dir, &st)) {
			snprintf(err, errlen, "%s %s is a symlink that another "
			    "user made or could replace; use the directory "
			    "itself", what, dir);
			return (-1);
		}
		if (realpath(dir, real) == NULL) {
			snprintf(err, errlen, "cannot open %s %s: %s", what,
			    dir, strerror(errno));
			return (-1);
		}
		dir = real;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT && create) {
		if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s %s: %s", what,
			    dir, strerror(errno));
			return (-1);
		}
		trust_sync_parent(dir);
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	}
	if (fd == -1) {
		snprintf(err, errlen, "cannot open %s %s: %s%s", what, dir,
		    strerror(errno), errno == ELOOP || errno == ENOTDIR ?
		    " (a symlink, or not a directory)" : "");
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s %s: %s", what, dir, strerror(errno));
		goto out_close;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s %s is owned by uid %ld, not by the "
		    "proxy's user (uid %ld); chown it", what, dir,
		    (long)st.st_uid, (long)geteuid());
		goto out_close;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(err, errlen, "%s %s is writable by group or others "
		    "(mode %04o); chmod 700 it", what, dir,
		    (unsigned)(st.st_mode & 07777));
		goto out_close;
	}
	return (fd);

out_close:
	close(fd);
	return (-1);
}

int
trust_read_key(const char *path, unsigned char *out, size_t cap,
    size_t *len, char *err, size_t errlen)
{
	struct stat	 st;
	ssize_t		 n;
	size_t		 got = 0;
	int		 fd;

	*len = 0;
	/* O_NONBLOCK: a FIFO planted as the key must not hang the start. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) ==
	    -1) {
		snprintf(err, errlen, "cannot open key file %s: %s", path,
		    strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "cannot stat key file %s: %s", path,
		    strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "key file %s is not a regular file",
		    path);
		goto out_close;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errlen, "key file %s is owned by uid %ld, not by "
		    "the proxy's user (uid %ld) or root; chown it", path,
		    (long)st.st_uid, (long)geteuid());
		goto out_close;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		snprintf(err, errlen, "key file %s is accessible by group or "
		    "others (mode %04o); chmod 600 it", path,
		    (unsigned)(st.st_mode & 07777));
		goto out_close;
	}
	while (got < cap) {
		n = read(fd, out + got, cap - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "cannot read key file %s: %s",
			    path, strerror(errno));
			goto out_wipe;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got == cap) {
		snprintf(err, errlen, "key file %s is longer than %zu bytes",
		    path, cap - 1);
		goto out_wipe;
	}
	while (got > 0 && (out[got - 1] == '\n' || out[got - 1] == '\r' ||
	    out[got - 1] == ' ' || out[got - 1] == '\t'))
		got--;
	close(fd);
	*len = got;
	return (0);

out_wipe:
	OPENSSL_cleanse(out, cap);
out_close:
	close(fd);
	return (-1);
}
