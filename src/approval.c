/*
 * approval: the approvals this proxy asked for, on disk. See approval.h.
 *
 * The store's thread owns an index of the records it knows (id, scope,
 * created), loaded at open and refreshed from the directory when a
 * lookup misses (another replica may have written since). The index is a
 * cache: a use mark is always checked on disk, and a record is always
 * read (and its MAC checked) from disk before it is handed out.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "approval.h"
#include "log.h"
#include "trust.h"
#include "worker.h"

#define APPR_FILE_MAX	4096	/* bytes of one record file */
#define APPR_NAME_MAX	(APPR_ID_MAX + 64)
#define APPR_TMP_AGE_S	60	/* a temporary file this old is debris */
#define APPR_MAGIC	"mem0-audit-proxy approval v1\n"

struct appr_entry {
	char			 id[APPR_ID_MAX + 1];
	char			*scope;
	long long		 created;
	struct appr_entry	*next;		/* s->entries, oldest first */
	struct appr_entry	*id_next;	/* s->by_id[] */
	struct appr_entry	*scope_next;	/* s->by_scope[] */
};

/* The index's hash tables: a power of two of buckets each. */
#define APPR_BUCKETS	4096

struct appr {
	int			 dfd;
	char			*dir;
	const struct anon	*anon;
	struct wk		*worker;

	/* The store's thread only (and open/close). */
	struct appr_entry	*entries;
	struct appr_entry	*tail;		/* the newest, or NULL */
	/* The same entries by id and by SCOPE: a lookup, and the search
	 * for a SCOPE's record before each new approval, cost O(1), not a
	 * walk through every record (thousands, with many held). */
	struct appr_entry	*by_id[APPR_BUCKETS];
	struct appr_entry	*by_scope[APPR_BUCKETS];
	size_t			 n;		/* atomic for appr_count() */
	unsigned int		 seq;		/* temporary file names */
};

int
appr_id_valid(const char *id)
{
	size_t	 i;
	char	 c;

	for (i = 0; id[i] != '\0'; i++) {
		c = id[i];
		if (i == APPR_ID_MAX || !((c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-'))
			return (0);
	}
	return (i > 0);
}

/* The record's MAC: a keyed digest under its own domain tag. */
static void
appr_mac(const struct anon *anon, const char *text, size_t len, char *out)
{
	static const char	 tag[] = "\0approval-record\0";
	char			*buf;

	if ((buf = malloc(sizeof(tag) + len)) == NULL) {
		out[0] = '\0';		/* matches no MAC: refused */
		return;
	}
	memcpy(buf, tag, sizeof(tag));
	memcpy(buf + sizeof(tag), text, len);
	anon_digest(anon, buf, sizeof(tag) + len, out, APPR_DIGEST_LEN);
	free(buf);
}

int
appr_format(const struct anon *anon, const struct appr_rec *r, char *out,
    size_t outlen)
{
	char	 mac[APPR_DIGEST_LEN + 1];
	int	 n, m;

	if (strpbrk(r->task, "\r\n") != NULL ||
	    strpbrk(r->worker, "\r\n") != NULL ||
	    strpbrk(r->scope, "\r\n") != NULL || !appr_id_valid(r->id))
		return (-1);
	n = snprintf(out, outlen, APPR_MAGIC "id: %s\ncreated: %lld\n"
	    "task: %s\nworker: %s\ninstruction: %s\nscope: %s\n", r->id,
	    r->created, r->task, r->worker, r->instruction, r->scope);
	if (n < 0 || (size_t)n >= outlen)
		return (-1);
	appr_mac(anon, out, (size_t)n, mac);
	m = snprintf(out + n, outlen - (size_t)n, "mac: %s\n", mac);
	if (m < 0 || (size_t)m >= outlen - (size_t)n)
		return (-1);
	return (n + m);
}

/*
 * The value of line "key: value\n" at *p into out (outlen bytes); moves
 * *p past the line. -1 when the line is not that key or does not fit.
 */
static int
appr_line(const char **p, const char *end, const char *key, char *out,
    size_t outlen)
{
	const char	*nl;
	size_t		 klen = strlen(key), vlen;

	if ((size_t)(end - *p) < klen + 2 || memcmp(*p, key, klen) != 0 ||
	    (*p)[klen] != ':' || (*p)[klen + 1] != ' ')
		return (-1);
	*p += klen + 2;
	if ((nl = memchr(*p, '\n', (size_t)(end - *p))) == NULL)
		return (-1);
	vlen = (size_t)(nl - *p);
	if (vlen >= outlen || memchr(*p, '\0', vlen) != NULL)
		return (-1);
	memcpy(out, *p, vlen);
	out[vlen] = '\0';
	*p = nl + 1;
	return (0);
}

int
appr_parse(const struct anon *anon, const char *text, size_t len,
    struct appr_rec *r)
{
	const char	*p = text, *end = text + len, *signed_end;
	char		 num[32], mac[APPR_DIGEST_LEN + 1];
	char		 want[APPR_DIGEST_LEN + 1];
	char		*e;
	size_t		 i;

	memset(r, 0, sizeof(*r));
	if (len < sizeof(APPR_MAGIC) - 1 ||
	    memcmp(p, APPR_MAGIC, sizeof(APPR_MAGIC) - 1) != 0)
		return (-1);
	p += sizeof(APPR_MAGIC) - 1;
	if (appr_line(&p, end, "id", r->id, sizeof(r->id)) == -1 ||
	    appr_line(&p, end, "created", num, sizeof(num)) == -1 ||
	    appr_line(&p, end, "task", r->task, sizeof(r->task)) == -1 ||
	    appr_line(&p, end, "worker", r->worker, sizeof(r->worker)) ==
	    -1 || appr_line(&p, end, "instruction", r->instruction,
	    sizeof(r->instruction)) == -1 ||
	    appr_line(&p, end, "scope", r->scope, sizeof(r->scope)) == -1)
		return (-1);
	signed_end = p;
	if (appr_line(&p, end, "mac", mac, sizeof(mac)) == -1 || p != end)
		return (-1);
	errno = 0;
	r->created = strtoll(num, &e, 10);
	if (errno != 0 || e == num || *e != '\0' || r->created < 0 ||
	    !appr_id_valid(r->id) ||
	    strlen(r->instruction) != APPR_DIGEST_LEN)
		return (-1);
	for (i = 0; i < APPR_DIGEST_LEN; i++)
		if (strchr("0123456789abcdef", r->instruction[i]) == NULL)
			return (-1);
	appr_mac(anon, text, (size_t)(signed_end - text), want);
	if (strlen(mac) != APPR_DIGEST_LEN || strcmp(mac, want) != 0)
		return (-1);
	return (0);
}

/* ---- files (the store's thread) ----------------------------------------- */

static void
appr_name(char *out, const char *id, const char *suffix)
{
	snprintf(out, APPR_NAME_MAX, "%s%s", id, suffix);
}

/* Read and check ID.rec. 0, or -1 with errno (ENOENT, EBADMSG, ...). */
static int
appr_read(struct appr *s, const char *id, struct appr_rec *r)
{
	char	 name[APPR_NAME_MAX], buf[APPR_FILE_MAX + 1];
	ssize_t	 n;
	size_t	 len = 0;
	int	 fd, saved;

	appr_name(name, id, ".rec");
	fd = openat(s->dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return (-1);
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	saved = n == -1 ? errno : 0;
	close(fd);
	if (saved != 0) {
		errno = saved;
		return (-1);
	}
	if (len > APPR_FILE_MAX || appr_parse(s->anon, buf, len, r) == -1 ||
	    strcmp(r->id, id) != 0) {
		errno = EBADMSG;
		return (-1);
	}
	return (0);
}

/* Write all of buf to fd; -1 on error. */
static int
appr_write_all(int fd, const char *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (-1);
		buf += n;
		len -= (size_t)n;
	}
	return (0);
}

/*
 * Write ID.rec: a temporary file, fsync'd, linked into place (an existing
 * record of the same id stays), the directory fsync'd. 0 or -1 (errno).
 */
static int
appr_write(struct appr *s, const struct appr_rec *r)
{
	char	 text[APPR_FILE_MAX], tmp[APPR_NAME_MAX], name[APPR_NAME_MAX];
	int	 len, fd, saved;

	if ((len = appr_format(s->anon, r, text, sizeof(text))) == -1) {
		errno = EINVAL;
		return (-1);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%u", r->id, (long)getpid(),
	    s->seq++);
	appr_name(name, r->id, ".rec");
	fd = openat(s->dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		return (-1);
	if (appr_write_all(fd, text, (size_t)len) == -1 || fsync(fd) == -1) {
		saved = errno;
		close(fd);
		unlinkat(s->dfd, tmp, 0);
		errno = saved;
		return (-1);
	}
	close(fd);
	if (linkat(s->dfd, tmp, s->dfd, name, 0) == -1 && errno != EEXIST) {
		saved = errno;
		unlinkat(s->dfd, tmp, 0);
		errno = saved;
		return (-1);
	}
	unlinkat(s->dfd, tmp, 0);
	return (fsync(s->dfd));
}

/* 1 if ID.used exists, 0 if not, -1 on error. */
static int
appr_is_used(struct appr *s, const char *id)
{
	struct stat	 st;
	char		 name[APPR_NAME_MAX];

	appr_name(name, id, ".used");
	if (fstatat(s->dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return (1);
	return (errno == ENOENT ? 0 : -1);
}

/*
 * Create ID.used if nobody did: 1 created (and on disk), 0 it existed,
 * -1 on error.
 */
static int
appr_mark_used(struct appr *s, const char *id)
{
	char	 name[APPR_NAME_MAX], line[64];
	int	 fd, n, saved;

	appr_name(name, id, ".used");
	fd = openat(s->dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		return (errno == EEXIST ? 0 : -1);
	n = snprintf(line, sizeof(line), "used %lld\n", (long long)time(NULL));
	if (appr_write_all(fd, line, (size_t)n) == -1 || fsync(fd) == -1) {
		/*
		 * The mark exists but may not survive a crash: keep it (it
		 * refuses a second use here) and report the error.
		 */
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	close(fd);
	return (fsync(s->dfd) == 0 ? 1 : -1);
}

/* ---- the index ----------------------------------------------------------- */

uint32_t
appr_str_hash(const char *str)
{
	uint32_t	 h = 2166136261U;

	for (; *str != '\0'; str++)
		h = (h ^ (unsigned char)*str) * 16777619U;
	return (h);
}

/* A string's bucket in the index. */
static size_t
appr_hash(const char *str)
{
	return (appr_str_hash(str) & (APPR_BUCKETS - 1));
}

static struct appr_entry *
appr_index_get(struct appr *s, const char *id)
{
	struct appr_entry	*e;

	for (e = s->by_id[appr_hash(id)]; e != NULL; e = e->id_next)
		if (strcmp(e->id, id) == 0)
			return (e);
	return (NULL);
}

/* Add r, keeping the list oldest first. -1 when out of memory. */
static int
appr_index_add(struct appr *s, const struct appr_rec *r)
{
	struct appr_entry	*e, **pp;
	size_t			 b;

	if (appr_index_get(s, r->id) != NULL)
		return (0);
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return (-1);
	if ((e->scope = strdup(r->scope)) == NULL) {
		free(e);
		return (-1);
	}
	snprintf(e->id, sizeof(e->id), "%s", r->id);
	e->created = r->created;
	/* Mostly the newest: at the tail at once; else in its place. */
	if (s->tail == NULL || s->tail->created <= e->created) {
		if (s->tail != NULL)
			s->tail->next = e;
		else
			s->entries = e;
		s->tail = e;
	} else {
		for (pp = &s->entries; *pp != NULL &&
		    (*pp)->created <= e->created; pp = &(*pp)->next)
			;
		e->next = *pp;
		*pp = e;
	}
	b = appr_hash(e->id);
	e->id_next = s->by_id[b];
	s->by_id[b] = e;
	b = appr_hash(e->scope);
	e->scope_next = s->by_scope[b];
	s->by_scope[b] = e;
	__atomic_add_fetch(&s->n, 1, __ATOMIC_RELAXED);
	return (0);
}

static void
appr_index_drop(struct appr *s, struct appr_entry **pp)
{
	struct appr_entry	*e = *pp, **hp, *t;

	*pp = e->next;
	for (hp = &s->by_id[appr_hash(e->id)]; *hp != NULL;
	    hp = &(*hp)->id_next)
		if (*hp == e) {
			*hp = e->id_next;
			break;
		}
	for (hp = &s->by_scope[appr_hash(e->scope)]; *hp != NULL;
	    hp = &(*hp)->scope_next)
		if (*hp == e) {
			*hp = e->scope_next;
			break;
		}
	if (s->tail == e)
		for (s->tail = NULL, t = s->entries; t != NULL; t = t->next)
			s->tail = t;
	free(e->scope);
	free(e);
	__atomic_sub_fetch(&s->n, 1, __ATOMIC_RELAXED);
}

/*
 * Read the records of the directory that the index does not hold yet;
 * with cleanup, remove temporary files left by a crash.
 */
static void
appr_refresh(struct appr *s, int cleanup)
{
	struct appr_rec	 r;
	struct dirent	*d;
	struct stat	 st;
	DIR		*dp;
	char		 id[APPR_ID_MAX + 1];
	size_t		 n;
	int		 fd;

	if ((fd = dup(s->dfd)) == -1)
		return;
	if ((dp = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	rewinddir(dp);
	while ((d = readdir(dp)) != NULL) {
		n = strlen(d->d_name);
		if (cleanup && strstr(d->d_name, ".tmp.") != NULL &&
		    fstatat(s->dfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_mtime + APPR_TMP_AGE_S < time(NULL)) {
			unlinkat(s->dfd, d->d_name, 0);
			continue;
		}
		if (n < 5 || n - 4 > APPR_ID_MAX ||
		    strcmp(d->d_name + n - 4, ".rec") != 0)
			continue;
		memcpy(id, d->d_name, n - 4);
		id[n - 4] = '\0';
		if (!appr_id_valid(id) || appr_index_get(s, id) != NULL)
			continue;
		if (appr_read(s, id, &r) == -1) {
			log_msg(CFG_LOG_WARN, "approval store: a record is "
			    "unreadable or not signed with this key; it never "
			    "unlocks a request", "file", d->d_name, "detail",
			    strerror(errno), LOG_END);
			continue;
		}
		if (appr_index_add(s, &r) == -1)
			break;
	}
	closedir(dp);
}

/* Remove the records older than ttl seconds (and their use marks). */
static void
appr_prune(struct appr *s, long long now, long long ttl)
{
	struct appr_entry	**pp;
	char			 name[APPR_NAME_MAX];

	/* Oldest first: stop at the first live one. */
	for (pp = &s->entries; *pp != NULL && (*pp)->created + ttl < now;) {
		appr_name(name, (*pp)->id, ".rec");
		if (unlinkat(s->dfd, name, 0) == -1 && errno != ENOENT)
			break;		/* keep it while it cannot go */
		appr_name(name, (*pp)->id, ".used");
		unlinkat(s->dfd, name, 0);
		appr_index_drop(s, pp);
	}
}

/* ---- jobs ------------------------------------------------------------------ */

static void
appr_fail(struct appr_job *j, int err)
{
	j->result = APPR_ERROR;
	j->err = err;
}

static void
appr_do_use(struct appr *s, struct appr_job *j)
{
	struct appr_rec	 rec;
	int		 rc;

	if (!appr_id_valid(j->rec.id)) {
		appr_fail(j, EINVAL);
		return;
	}
	if ((rc = appr_mark_used(s, j->rec.id)) == -1) {
		appr_fail(j, errno);
		return;
	}
	if (rc == 0) {
		j->result = APPR_USED;
		return;
	}
	/*
	 * The mark is ours: is the record still there? A replica sharing
	 * the directory may have pruned both (its gate.ttl_ms, its clock),
	 * and without its record an approval unlocks nothing.
	 */
	if (appr_read(s, j->rec.id, &rec) == 0)
		return;
	if (errno == ENOENT || errno == EBADMSG)
		j->result = APPR_NONE;
	else
		appr_fail(j, errno);
}

static void
appr_do_put(struct appr *s, struct appr_job *j, long long now)
{
	appr_prune(s, now, j->ttl);
	if (appr_index_get(s, j->rec.id) == NULL && s->n >= j->max) {
		j->result = APPR_FULL;
		return;
	}
	if (appr_write(s, &j->rec) == -1) {
		appr_fail(j, errno);
		return;
	}
	/* The file is on disk; the index is a cache and may miss it. */
	(void)appr_index_add(s, &j->rec);
	if (j->use)
		appr_do_use(s, j);
}

static void
appr_do_get(struct appr *s, struct appr_job *j, long long now)
{
	char	 id[APPR_ID_MAX + 1];
	int	 used;

	snprintf(id, sizeof(id), "%s", j->rec.id);
	if (!appr_id_valid(id)) {
		j->result = APPR_NONE;
		return;
	}
	if (appr_read(s, id, &j->rec) == -1) {
		if (errno == EBADMSG)
			log_msg(CFG_LOG_WARN, "approval store: a record is not "
			    "signed with this key; it never unlocks a request",
			    "approval_id", id, LOG_END);
		if (errno == ENOENT || errno == EBADMSG)
			j->result = APPR_NONE;
		else
			appr_fail(j, errno);
		snprintf(j->rec.id, sizeof(j->rec.id), "%s", id);
		return;
	}
	(void)appr_index_add(s, &j->rec);
	if ((used = appr_is_used(s, id)) == -1) {
		appr_fail(j, errno);
		return;
	}
	j->used = used;
	j->expired = j->rec.created + j->ttl < now;
}

/* The newest live unused record for j->rec.scope in the index. */
static int
appr_find_indexed(struct appr *s, struct appr_job *j, long long now)
{
	struct appr_entry	*e, *best;
	struct appr_rec		 r;
	char			 skip[8][APPR_ID_MAX + 1];
	size_t			 n_skip = 0, i;
	int			 used;

	for (;;) {
		best = NULL;
		for (e = s->by_scope[appr_hash(j->rec.scope)]; e != NULL;
		    e = e->scope_next) {
			if (e->created + j->ttl < now ||
			    strcmp(e->scope, j->rec.scope) != 0)
				continue;
			for (i = 0; i < n_skip; i++)
				if (strcmp(skip[i], e->id) == 0)
					break;
			if (i == n_skip && (best == NULL ||
			    e->created >= best->created))
				best = e;
		}
		if (best == NULL)
			return (0);
		if ((used = appr_is_used(s, best->id)) == -1) {
			appr_fail(j, errno);
			return (-1);
		}
		if (!used && appr_read(s, best->id, &r) == 0) {
			j->rec = r;
			j->result = APPR_OK;
			return (1);
		}
		/* Used, gone or unreadable: look further back, a little. */
		if (n_skip == sizeof(skip) / sizeof(skip[0]))
			return (0);
		snprintf(skip[n_skip++], sizeof(skip[0]), "%s", best->id);
	}
}

static void
appr_do_find(struct appr *s, struct appr_job *j, long long now)
{
	int	 rc;

	if ((rc = appr_find_indexed(s, j, now)) != 0)
		return;
	/* Another replica may have asked since: read the directory again. */
	appr_refresh(s, 0);
	if ((rc = appr_find_indexed(s, j, now)) == 0)
		j->result = APPR_NONE;
}

static void
appr_run(void *arg, int cancelled)
{
	struct appr_job	*j = arg;
	struct appr	*s = j->store;
	long long	 now = (long long)time(NULL);

	j->result = APPR_OK;
	j->used = j->expired = j->err = 0;
	if (cancelled)
		j->result = APPR_STOPPING;
	else {
		switch (j->op) {
		case APPR_PUT:
			appr_do_put(s, j, now);
			break;
		case APPR_GET:
			appr_do_get(s, j, now);
			break;
		case APPR_FIND:
			appr_do_find(s, j, now);
			break;
		case APPR_USE:
		default:
			appr_do_use(s, j);
			break;
		}
	}
	if (j->result == APPR_ERROR)
		log_msg(CFG_LOG_ERROR, "approval store: I/O error", "dir",
		    s->dir, "approval_id", j->rec.id[0] != '\0' ? j->rec.id :
		    NULL, "detail", strerror(j->err), LOG_END);
	j->done(j);
}

/* ---- open and close -------------------------------------------------------- */

struct appr *
appr_open(const char *dir, const struct anon *anon, char *err, size_t errlen)
{
	struct appr	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	s->dfd = -1;
	s->anon = anon;
	if ((s->dir = strdup(dir)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out_close;
	}
	if ((s->dfd = trust_open_dir(dir, "approvals_dir", 1, err, errlen)) ==
	    -1)
		goto out_close;
	if ((s->worker = wk_create("approval store")) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out_close;
	}
	appr_refresh(s, 1);
	return (s);

out_close:
	appr_close(s);
	return (NULL);
}

int
appr_submit(struct appr *s, struct appr_job *j)
{
	j->store = s;
	return (wk_submit(s->worker, appr_run, j));
}

size_t
appr_count(struct appr *s)
{
	return (__atomic_load_n(&s->n, __ATOMIC_RELAXED));
}

void
appr_stop(struct appr *s)
{
	if (s != NULL && s->worker != NULL)
		wk_stop(s->worker);
}

void
appr_close(struct appr *s)
{
	if (s == NULL)
		return;
	wk_destroy(s->worker);
	while (s->entries != NULL)
		appr_index_drop(s, &s->entries);
	if (s->dfd != -1)
		close(s->dfd);
	free(s->dir);
	free(s);
}
