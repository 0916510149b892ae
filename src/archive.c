/*
 * archive: crash-safe export files and their retention. See archive.h.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive.h"
#include "claim.h"
#include "trust.h"

#define ARCHIVE_ID_MAX		128	/* longest name (a request id) */
#define ARCHIVE_TRIES		8	/* random suffixes tried */
#define ARCHIVE_SCAN_MAX	(4L * 1000 * 1000) /* files prune looks at */
#define ARCHIVE_SUFFIX		".json"

struct archive_ent {
	char		*name;
	struct timespec	 mtime;
};

static void	 archive_err(char *err, size_t errlen, const char *what,
		    const char *dir) __attribute__((nonnull));

/* "what DIR: strerror(errno)" into err. */
static void
archive_err(char *err, size_t errlen, const char *what, const char *dir)
{
	snprintf(err, errlen, "%s %s: %s", what, dir, strerror(errno));
}

/* Eight random hex digits into out[9]. */
static void
archive_hex(char *out)
{
	unsigned char	 raw[4];
	size_t		 i;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		for (i = 0; i < sizeof(raw); i++)
			raw[i] = (unsigned char)random();
	for (i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

/* fsync the directory holding path (a file or a directory). */
static int
archive_sync_parent(const char *path)
{
	const char	*slash;
	char		*parent;
	int		 fd, rc;

	if ((slash = strrchr(path, '/')) == NULL)
		parent = strdup(".");
	else if (slash == path)
		parent = strdup("/");
	else
		parent = strndup(path, (size_t)(slash - path));
	if (parent == NULL)
		return (-1);
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(parent);
	if (fd == -1)
		return (-1);
	rc = fsync(fd);
	close(fd);
	return (rc);
}

/*
 * Open dir, creating it (0700) when missing: owned by the proxy's user,
 * not writable by others, not a symlink (trust.h), since retention
 * deletes files in it. Returns an fd or -1.
 */
static int
archive_open_dir(const char *dir, int create, char *err, size_t errlen)
{
	return (trust_open_dir(dir, "export.archive_dir", create, err,
	    errlen));
}

static int
archive_write_all(int fd, const char *data, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		n = write(fd, data, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (-1);
		data += n;
		len -= (size_t)n;
	}
	return (0);
}

/*
 * Give tmp the name final without ever replacing a file: link(2), or,
 * where the file system has no hard links, renameat2(RENAME_NOREPLACE),
 * or a checked rename as the last resort (one writer: no race with
 * ourselves). Returns 0, or -1 with errno (EEXIST: the name is taken).
 */
static int
archive_publish(int dfd, const char *tmp, const char *final, int *moved)
{
	struct stat	 st;

	*moved = 0;
	if (linkat(dfd, tmp, dfd, final, 0) == 0)
		return (0);
	if (errno == EEXIST || (errno != EPERM && errno != EOPNOTSUPP &&
	    errno != EMLINK && errno != ENOSYS))
		return (-1);
	if (renameat2(dfd, tmp, dfd, final, RENAME_NOREPLACE) == 0) {
		*moved = 1;
		return (0);
	}
	if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
		return (-1);
	if (fstatat(dfd, final, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return (-1);
	}
	if (renameat(dfd, tmp, dfd, final) == -1)
		return (-1);
	*moved = 1;
	return (0);
}

int
archive_write(const char *dir, const char *name, const char *data,
    size_t len, char **path, char *err, size_t errlen)
{
	char	 tmp[ARCHIVE_NAME_MAX + 32], final[ARCHIVE_NAME_MAX + 1];
	char	 hex[9];
	size_t	 plen;
	int	 dfd, fd = -1, i, moved = 0;

	*path = NULL;
	if (!claim_token_ok(name, ARCHIVE_ID_MAX)) {
		snprintf(err, errlen, "not a valid archive file name");
		return (-1);
	}
	if ((dfd = archive_open_dir(dir, 1, err, errlen)) == -1)
		return (-1);
	for (i = 0; i < ARCHIVE_TRIES && fd == -1; i++) {
		archive_hex(hex);
		snprintf(tmp, sizeof(tmp), ".%s" ARCHIVE_SUFFIX ".%s.tmp", name,
		    hex);
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
		if (fd == -1 && errno != EEXIST)
			break;
	}
	if (fd == -1) {
		archive_err(err, errlen, "cannot create a file in", dir);
		goto out_close_dir;
	}
	if (archive_write_all(fd, data, len) == -1 || fsync(fd) == -1) {
		archive_err(err, errlen, "cannot write a file in", dir);
		close(fd);
		goto out_unlink_tmp;
	}
	if (close(fd) == -1) {
		archive_err(err, errlen, "cannot write a file in", dir);
		goto out_unlink_tmp;
	}
	for (i = 0; i < ARCHIVE_TRIES; i++) {
		if (i == 0)
			snprintf(final, sizeof(final), "%s" ARCHIVE_SUFFIX,
			    name);
		else {
			archive_hex(hex);
			snprintf(final, sizeof(final), "%s.%s" ARCHIVE_SUFFIX,
			    name, hex);
		}
		if (archive_publish(dfd, tmp, final, &moved) == 0)
			break;
		if (errno != EEXIST) {
			archive_err(err, errlen, "cannot name a file in", dir);
			goto out_unlink_tmp;
		}
	}
	if (i == ARCHIVE_TRIES) {
		snprintf(err, errlen, "no free file name in %s", dir);
		goto out_unlink_tmp;
	}
	if (!moved)
		(void)unlinkat(dfd, tmp, 0);
	if (fsync(dfd) == -1) {
		archive_err(err, errlen, "cannot sync", dir);
		goto out_unlink_final;
	}
	plen = strlen(dir) + 1 + strlen(final) + 1;
	if ((*path = malloc(plen)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out_unlink_final;
	}
	if (dir[0] != '\0' && dir[strlen(dir) - 1] == '/')
		snprintf(*path, plen, "%s%s", dir, final);
	else
		snprintf(*path, plen, "%s/%s", dir, final);
	close(dfd);
	return (0);

out_unlink_final:
	(void)unlinkat(dfd, final, 0);
	close(dfd);
	return (-1);
out_unlink_tmp:
	(void)unlinkat(dfd, tmp, 0);
out_close_dir:
	close(dfd);
	return (-1);
}

static int
archive_ent_cmp(const void *a, const void *b)
{
	const struct archive_ent	*x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return (x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1);
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return (x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1);
	return (strcmp(x->name, y->name));
}

static int
archive_is_ours(const char *name)
{
	size_t	 n = strlen(name), s = strlen(ARCHIVE_SUFFIX);

	return (n > s && strcmp(name + n - s, ARCHIVE_SUFFIX) == 0);
}

long
archive_prune(const char *dir, size_t max_files, const char *keep,
    char *err, size_t errlen)
{
	struct archive_ent	*ents = NULL, *grown;
	struct dirent		*de;
	struct stat		 st;
	DIR			*d;
	size_t			 n = 0, cap = 0, i, excess;
	int			 dfd;
	long			 removed = 0;

	if ((dfd = archive_open_dir(dir, 0, err, errlen)) == -1)
		return (-1);
	if ((d = fdopendir(dfd)) == NULL) {
		archive_err(err, errlen, "cannot read", dir);
		close(dfd);
		return (-1);
	}
	while ((de = readdir(d)) != NULL && n < (size_t)ARCHIVE_SCAN_MAX) {
		if (!archive_is_ours(de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			if ((grown = reallocarray(ents, cap, sizeof(*ents))) ==
			    NULL)
				goto out_nomem;
			ents = grown;
		}
		if ((ents[n].name = strdup(de->d_name)) == NULL)
			goto out_nomem;
		ents[n].mtime = st.st_mtim;
		n++;
	}
	if (n > max_files) {
		qsort(ents, n, sizeof(*ents), archive_ent_cmp);
		excess = n - max_files;
		for (i = 0; i < n && excess > 0; i++) {
			if (keep != NULL && strcmp(ents[i].name, keep) == 0)
				continue;
			if (unlinkat(dirfd(d), ents[i].name, 0) == 0)
				removed++;
			excess--;
		}
		if (removed > 0)
			(void)fsync(dirfd(d));
	}
	for (i = 0; i < n; i++)
		free(ents[i].name);
	free(ents);
	closedir(d);
	return (removed);

out_nomem:
	for (i = 0; i < n; i++)
		free(ents[i].name);
	free(ents);
	closedir(d);
	snprintf(err, errlen, "out of memory");
	return (-1);
}

int
archive_remove(const char *path)
{
	if (unlink(path) == -1)
		return (-1);
	(void)archive_sync_parent(path);
	return (0);
}
