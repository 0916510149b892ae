/*
 * approval: the durable record of the approvals this proxy asked Wingman
 * for, and of their use. Wingman stores approvals anyone with a request
 * key can create; only the ones recorded here unlock a held request, and
 * each of them unlocks one request, once, across restarts and across
 * replicas that share the directory (gate.approvals_dir, default
 * STATE_DIR/approvals):
 *
 *   ID.rec   what the proxy asked: the approval id, when, the task name,
 *            the worker id, a keyed digest of the whole instruction and
 *            its SCOPE line; signed with a MAC under the HMAC key, so a
 *            record planted or edited without the key is refused
 *   ID.used  created with O_CREAT|O_EXCL before the request it approves
 *            is forwarded: whoever creates it forwards, nobody else
 *
 * Each file is written to a temporary name, fsync'd, linked into place
 * and the directory fsync'd before the caller hears of it. Records older
 * than the ttl are removed, oldest first (their use marks with them: an
 * approval older than the ttl is refused anyway). When max live records
 * exist, a new one is refused (APPR_FULL) rather than a use mark
 * forgotten.
 *
 * Threads: the files are read and written on the store's own thread
 * (worker.h), never on the caller's. appr_submit() may be called from
 * any thread; job->done runs on the store's thread, or with
 * APPR_STOPPING on the thread calling appr_stop().
 *
 * Ownership: appr_open() borrows anon (it must outlive the store). A
 * submitted job is borrowed until its done callback ran.
 */
#ifndef APPROVAL_H
#define APPROVAL_H

#include <stddef.h>
#include <stdint.h>

#include "anon.h"

#define APPR_ID_MAX	64
#define APPR_TASK_MAX	128
#define APPR_WORKER_MAX	256
#define APPR_SCOPE_MAX	1024
#define APPR_DIGEST_LEN	64	/* hex digits of a keyed digest */

struct appr_rec {
	char		 id[APPR_ID_MAX + 1];
	long long	 created;	/* UTC seconds */
	char		 task[APPR_TASK_MAX + 1];
	char		 worker[APPR_WORKER_MAX + 1];
	char		 instruction[APPR_DIGEST_LEN + 1];	/* digest */
	char		 scope[APPR_SCOPE_MAX];
};

/* FNV-1a of a NUL-terminated string (approval ids and SCOPEs, for hash
 * tables: not a digest). */
uint32_t	 appr_str_hash(const char *str);

enum appr_op {
	APPR_PUT = 0,	/* write rec (and mark it used when use is set) */
	APPR_GET,	/* read the record rec.id */
	APPR_FIND,	/* the newest live, unused record for rec.scope */
	APPR_USE	/* mark rec.id used, if nobody did */
};

enum appr_result {
	APPR_OK = 0,	/* done; GET and FIND filled rec */
	APPR_NONE,	/* GET, FIND: no such live record; USE: the
			   record is gone (pruned) */
	APPR_USED,	/* USE: somebody used it already */
	APPR_FULL,	/* PUT: max live records exist */
	APPR_ERROR,	/* a file could not be read or written: err */
	APPR_STOPPING	/* the store is closing */
};

struct appr_job;
typedef void	 appr_done_fn(struct appr_job *j);

struct appr_job {
	enum appr_op		 op;
	struct appr_rec		 rec;
	int			 use;		/* PUT: mark used as well */
	long long		 ttl;		/* seconds a record lives */
	size_t			 max;		/* PUT: live records at most */

	enum appr_result	 result;
	int			 used;		/* GET: the record is used */
	int			 expired;	/* GET: older than ttl */
	int			 err;		/* errno with APPR_ERROR */

	appr_done_fn		*done;
	void			*arg;
	struct appr		*store;		/* set by appr_submit() */
};

struct appr;

/*
 * Open (create, mode 0700) the directory and read the records in it. The
 * directory must be owned by this user and not writable by group or
 * others; it is never followed through a symlink. NULL with a message in
 * err on error.
 */
struct appr	*appr_open(const char *dir, const struct anon *anon,
		    char *err, size_t errlen);

/* Any thread. Returns 0, or -1 (closing, no memory): done is not called. */
int		 appr_submit(struct appr *s, struct appr_job *j);

/* Records in the index right now (for metrics; any thread). */
size_t		 appr_count(struct appr *s);

/*
 * Stop the thread: the job running finishes, queued jobs end
 * APPR_STOPPING (on the calling thread), later appr_submit() calls fail.
 */
void		 appr_stop(struct appr *s);

/* appr_stop(), then free. NULL is fine. */
void		 appr_close(struct appr *s);

/* Synchronous parts, for the unit tests and the store's thread. */

/* The record as signed text into out (outlen bytes). Returns the length or
 * -1 when it does not fit or rec holds a newline. */
int		 appr_format(const struct anon *anon, const struct appr_rec *r,
		    char *out, size_t outlen);
/* Parse and check signed text; 0, or -1 (malformed, or the MAC fails). */
int		 appr_parse(const struct anon *anon, const char *text,
		    size_t len, struct appr_rec *r);
/* 1 if id is 1 to APPR_ID_MAX letters, digits or '-'. */
int		 appr_id_valid(const char *id);

#endif /* APPROVAL_H */
