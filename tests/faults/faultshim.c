/*
 * faultshim: an LD_PRELOAD library that makes system calls fail or stall,
 * for the end-to-end fault tests (tests/e2e/test_faults.py). Never linked
 * into the proxy.
 *
 * The rules come from the file named by M0AP_FAULTS_FILE (re-read when it
 * changes, so a test turns faults on and off while the proxy runs) or from
 * M0AP_FAULTS. One rule per line or separated by ';':
 *
 *	CALL ACTION [OPTION ...]
 *
 *	CALL	write writev pwrite fsync fdatasync open openat read pread
 *		preadv rename renameat unlink unlinkat linkat getaddrinfo
 *	ACTION	ENOSPC EIO EMFILE EINTR ENFILE EDQUOT: fail with that errno
 *		short: do half of the bytes (read and write families)
 *		sleep=MS: wait, then do the real call
 *	OPTION	path=S	only files whose path contains S (for descriptors,
 *			the path /proc/self/fd/N points to; for getaddrinfo,
 *			the host name must equal S)
 *		nth=N	only the Nth matching call (1-based)
 *		after=N	only matching calls after the first N
 *		count=N	at most N times
 *		prob=P	with probability P (0..1)
 *
 * Example: "write ENOSPC path=/spool/" fails every write to a spool file.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FS_MAX_RULES	32
#define FS_PATH_MAX	256
#define FS_RECHECK_MS	20

enum fs_action {
	FS_ERRNO = 0,
	FS_SHORT,
	FS_SLEEP
};

struct fs_rule {
	char		 call[16];
	enum fs_action	 action;
	int		 err;
	long		 sleep_ms;
	char		 path[FS_PATH_MAX];
	long		 nth;
	long		 after;
	long		 count;
	double		 prob;
	atomic_long	 seen;		/* matching calls */
	atomic_long	 done;		/* faults made */
};

static pthread_mutex_t	 fs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct fs_rule	 fs_rules[FS_MAX_RULES];
static int		 fs_nrules;
static struct timespec	 fs_mtime;
static ino_t		 fs_ino;
static off_t		 fs_size;
static long long	 fs_checked_ms;
static __thread int	 fs_inside;	/* no faults inside the shim */

static long long
fs_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static int
fs_errno_of(const char *s)
{
	static const struct {
		const char	*name;
		int		 err;
	} e[] = {
		{ "ENOSPC", ENOSPC }, { "EIO", EIO }, { "EMFILE", EMFILE },
		{ "EINTR", EINTR }, { "ENFILE", ENFILE }, { "EDQUOT", EDQUOT },
	};
	size_t	 i;

	for (i = 0; i < sizeof(e) / sizeof(e[0]); i++)
		if (strcmp(s, e[i].name) == 0)
			return (e[i].err);
	return (0);
}

/* Parse one rule; 0, or -1 when it is not one. Locked. */
static int
fs_parse_rule(char *line, struct fs_rule *r)
{
	char	*tok, *save = NULL;
	int	 i = 0;

	memset(r, 0, sizeof(*r));
	r->prob = 1.0;
	for (tok = strtok_r(line, " \t", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t", &save), i++) {
		if (i == 0)
			snprintf(r->call, sizeof(r->call), "%s", tok);
		else if (i == 1) {
			if (strcmp(tok, "short") == 0)
				r->action = FS_SHORT;
			else if (strncmp(tok, "sleep=", 6) == 0) {
				r->action = FS_SLEEP;
				r->sleep_ms = atol(tok + 6);
			} else if ((r->err = fs_errno_of(tok)) != 0)
				r->action = FS_ERRNO;
			else
				return (-1);
		} else if (strncmp(tok, "path=", 5) == 0)
			snprintf(r->path, sizeof(r->path), "%s", tok + 5);
		else if (strncmp(tok, "nth=", 4) == 0)
			r->nth = atol(tok + 4);
		else if (strncmp(tok, "after=", 6) == 0)
			r->after = atol(tok + 6);
		else if (strncmp(tok, "count=", 6) == 0)
			r->count = atol(tok + 6);
		else if (strncmp(tok, "prob=", 5) == 0)
			r->prob = atof(tok + 5);
		else
			return (-1);
	}
	return (i >= 2 ? 0 : -1);
}

/* Load rules from text (';' or newlines between them). Locked. */
static void
fs_load(const char *text)
{
	char	*copy, *line, *save = NULL;

	fs_nrules = 0;
	if (text == NULL || (copy = strdup(text)) == NULL)
		return;
	for (line = strtok_r(copy, ";\n", &save); line != NULL &&
	    fs_nrules < FS_MAX_RULES; line = strtok_r(NULL, ";\n", &save))
		if (fs_parse_rule(line, &fs_rules[fs_nrules]) == 0)
			fs_nrules++;
	free(copy);
}

/* Re-read the rules file when it changed (at most every few ms). */
static void
fs_refresh(void)
{
	static __typeof__(&read) real_read;
	const char	*file = getenv("M0AP_FAULTS_FILE");
	struct stat	 st;
	char		 buf[4096];
	ssize_t		 n;
	int		 fd;
	long long	 now = fs_now_ms();

	if (file == NULL) {
		if (fs_checked_ms == 0) {
			fs_load(getenv("M0AP_FAULTS"));
			fs_checked_ms = now;
		}
		return;
	}
	if (fs_checked_ms != 0 && now - fs_checked_ms < FS_RECHECK_MS)
		return;
	fs_checked_ms = now;
	if (stat(file, &st) == -1) {
		fs_nrules = 0;
		memset(&fs_mtime, 0, sizeof(fs_mtime));
		fs_ino = 0;
		return;
	}
	/* The tests replace the file: a new inode even in the same tick. */
	if (st.st_mtim.tv_sec == fs_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == fs_mtime.tv_nsec && st.st_ino == fs_ino &&
	    st.st_size == fs_size)
		return;
	fs_mtime = st.st_mtim;
	fs_ino = st.st_ino;
	fs_size = st.st_size;
	if (real_read == NULL)
		real_read = (__typeof__(&read))dlsym(RTLD_NEXT, "read");
	if ((fd = openat(AT_FDCWD, file, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = real_read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	fs_load(buf);
}

/* The path behind a descriptor ("" when unknown). */
static void
fs_fd_path(int fd, char *out, size_t outlen)
{
	char	 link[64];
	ssize_t	 n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, out, outlen - 1);
	out[n > 0 ? n : 0] = '\0';
}

/*
 * Is there a fault for this call? fd >= 0: a descriptor call; else name
 * is the path (or host). Returns the rule (copied to *out) or 0.
 */
static int
fs_match(const char *call, int fd, const char *name, struct fs_rule *out)
{
	char		 path[FS_PATH_MAX];
	struct fs_rule	*r;
	long		 seen;
	int		 i, hit = 0, have_path = 0;

	if (fs_inside)
		return (0);
	fs_inside = 1;
	pthread_mutex_lock(&fs_mu);
	fs_refresh();
	for (i = 0; i < fs_nrules && !hit; i++) {
		r = &fs_rules[i];
		if (strcmp(r->call, call) != 0)
			continue;
		if (r->path[0] != '\0') {
			if (fd >= 0 && !have_path) {
				fs_fd_path(fd, path, sizeof(path));
				have_path = 1;
			}
			if (strcmp(call, "getaddrinfo") == 0 ?
			    (name == NULL || strcmp(name, r->path) != 0) :
			    strstr(fd >= 0 ? path : (name ? name : ""),
			    r->path) == NULL)
				continue;
		}
		seen = atomic_fetch_add(&r->seen, 1) + 1;
		if (r->nth > 0 && seen != r->nth)
			continue;
		if (r->after > 0 && seen <= r->after)
			continue;
		if (r->count > 0 && atomic_load(&r->done) >= r->count)
			continue;
		if (r->prob < 1.0 && (double)random() / RAND_MAX >= r->prob)
			continue;
		atomic_fetch_add(&r->done, 1);
		memcpy(out, r, sizeof(*out));
		hit = 1;
	}
	pthread_mutex_unlock(&fs_mu);
	fs_inside = 0;
	return (hit);
}

static void
fs_sleep(long ms)
{
	struct timespec	 ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* The next definition of name (libc's), looked up once. */
#define REAL(name)							\
	static __typeof__(&name) real_##name;				\
	if (real_##name == NULL)					\
		real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

/*
 * Apply a matched rule to a byte-count call: -1 with errno, or a count
 * to use instead (short), or 0 to go on.
 */
static ssize_t
fs_apply(const struct fs_rule *r, size_t *count)
{
	switch (r->action) {
	case FS_ERRNO:
		errno = r->err;
		return (-1);
	case FS_SHORT:
		if (*count > 1)
			*count /= 2;
		return (0);
	case FS_SLEEP:
	default:
		fs_sleep(r->sleep_ms);
		return (0);
	}
}

ssize_t
write(int fd, const void *buf, size_t count)
{
	struct fs_rule	 r;

	REAL(write);
	if (fs_match("write", fd, NULL, &r) && fs_apply(&r, &count) == -1)
		return (-1);
	return (real_write(fd, buf, count));
}

ssize_t
pwrite(int fd, const void *buf, size_t count, off_t off)
{
	struct fs_rule	 r;

	REAL(pwrite);
	if (fs_match("pwrite", fd, NULL, &r) && fs_apply(&r, &count) == -1)
		return (-1);
	return (real_pwrite(fd, buf, count, off));
}

ssize_t
writev(int fd, const struct iovec *iov, int iovcnt)
{
	struct fs_rule	 r;
	size_t		 total = 0, want, i;
	ssize_t		 rc;
	char		*flat;

	REAL(writev);
	REAL(write);
	if (!fs_match("writev", fd, NULL, &r))
		return (real_writev(fd, iov, iovcnt));
	for (i = 0; i < (size_t)iovcnt; i++)
		total += iov[i].iov_len;
	want = total;
	if (fs_apply(&r, &want) == -1)
		return (-1);
	if (want == total)
		return (real_writev(fd, iov, iovcnt));
	/* Short: write the first half of the bytes only. */
	if ((flat = malloc(total)) == NULL)
		return (real_writev(fd, iov, iovcnt));
	for (i = 0, total = 0; i < (size_t)iovcnt; i++) {
		memcpy(flat + total, iov[i].iov_base, iov[i].iov_len);
		total += iov[i].iov_len;
	}
	rc = real_write(fd, flat, want);
	free(flat);
	return (rc);
}

ssize_t
read(int fd, void *buf, size_t count)
{
	struct fs_rule	 r;

	REAL(read);
	if (fs_match("read", fd, NULL, &r) && fs_apply(&r, &count) == -1)
		return (-1);
	return (real_read(fd, buf, count));
}

ssize_t
pread(int fd, void *buf, size_t count, off_t off)
{
	struct fs_rule	 r;

	REAL(pread);
	if (fs_match("pread", fd, NULL, &r) && fs_apply(&r, &count) == -1)
		return (-1);
	return (real_pread(fd, buf, count, off));
}

ssize_t
preadv(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	struct fs_rule	 r;
	struct iovec	 half[2];
	size_t		 total = 0, want;
	int		 i;

	REAL(preadv);
	if (!fs_match("preadv", fd, NULL, &r))
		return (real_preadv(fd, iov, iovcnt, off));
	for (i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	want = total;
	if (fs_apply(&r, &want) == -1)
		return (-1);
	if (want == total || iovcnt < 1)
		return (real_preadv(fd, iov, iovcnt, off));
	/* Short: only the first iovec, at most half of it. */
	half[0] = iov[0];
	if (half[0].iov_len > want)
		half[0].iov_len = want;
	return (real_preadv(fd, half, 1, off));
}

int
fsync(int fd)
{
	struct fs_rule	 r;
	size_t		 n = 0;

	REAL(fsync);
	if (fs_match("fsync", fd, NULL, &r) && fs_apply(&r, &n) == -1)
		return (-1);
	return (real_fsync(fd));
}

int
fdatasync(int fd)
{
	struct fs_rule	 r;
	size_t		 n = 0;

	REAL(fdatasync);
	if (fs_match("fdatasync", fd, NULL, &r) && fs_apply(&r, &n) == -1)
		return (-1);
	return (real_fdatasync(fd));
}

/* The path of dirfd/name, for matching (name alone when dirfd is CWD). */
static void
fs_at_path(int dirfd, const char *name, char *out, size_t outlen)
{
	char	 dir[FS_PATH_MAX];

	if (name != NULL && name[0] != '/' && dirfd != AT_FDCWD) {
		fs_fd_path(dirfd, dir, sizeof(dir));
		snprintf(out, outlen, "%s/%s", dir, name);
	} else
		snprintf(out, outlen, "%s", name != NULL ? name : "");
}

/* A path call: 0 to go on, -1 with errno to fail. */
static int
fs_path_call(const char *call, int dirfd, const char *name)
{
	struct fs_rule	 r;
	char		 path[FS_PATH_MAX * 2];
	size_t		 n = 0;

	if (fs_inside)
		return (0);
	fs_inside = 1;
	fs_at_path(dirfd, name, path, sizeof(path));
	fs_inside = 0;
	if (!fs_match(call, -1, path, &r))
		return (0);
	return (fs_apply(&r, &n) == -1 ? -1 : 0);
}

int
openat(int dirfd, const char *name, int flags, ...)
{
	mode_t	 mode = 0;
	va_list	 ap;

	REAL(openat);
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if (fs_path_call("openat", dirfd, name) == -1)
		return (-1);
	return (real_openat(dirfd, name, flags, mode));
}

int
open(const char *name, int flags, ...)
{
	mode_t	 mode = 0;
	va_list	 ap;

	REAL(open);
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if (fs_path_call("open", AT_FDCWD, name) == -1)
		return (-1);
	return (real_open(name, flags, mode));
}

int
renameat(int od, const char *o, int nd, const char *n)
{
	REAL(renameat);
	if (fs_path_call("renameat", od, o) == -1)
		return (-1);
	return (real_renameat(od, o, nd, n));
}

int
rename(const char *o, const char *n)
{
	REAL(rename);
	if (fs_path_call("rename", AT_FDCWD, o) == -1)
		return (-1);
	return (real_rename(o, n));
}

int
unlinkat(int dirfd, const char *name, int flags)
{
	REAL(unlinkat);
	if (fs_path_call("unlinkat", dirfd, name) == -1)
		return (-1);
	return (real_unlinkat(dirfd, name, flags));
}

int
unlink(const char *name)
{
	REAL(unlink);
	if (fs_path_call("unlink", AT_FDCWD, name) == -1)
		return (-1);
	return (real_unlink(name));
}

int
linkat(int od, const char *o, int nd, const char *n, int flags)
{
	REAL(linkat);
	if (fs_path_call("linkat", nd, n) == -1)
		return (-1);
	return (real_linkat(od, o, nd, n, flags));
}

int
getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	struct fs_rule	 r;

	REAL(getaddrinfo);
	if (fs_match("getaddrinfo", -1, node, &r)) {
		if (r.action == FS_SLEEP)
			fs_sleep(r.sleep_ms);
		else
			return (EAI_AGAIN);
	}
	return (real_getaddrinfo(node, service, hints, res));
}
