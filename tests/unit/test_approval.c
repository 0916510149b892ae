/*
 * Unit tests: the approval store (approval.c). Record text and its MAC,
 * then the store against a real directory: put, get, find by scope, use
 * at most once (also across two stores on one directory, and after a
 * reopen), expiry and pruning, the cap, planted and damaged records, and
 * a directory that is not safe to use.
 */
#include <sys/stat.h>

#include "unit.h"
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "approval.h"
#include "log.h"

static const char key16[] = "0123456789abcdef";
static struct anon	 anon;
static char		 dir[256];

static void
setup(void)
{
	ck_assert_int_eq(anon_init(&anon, key16, 16), 0);
	snprintf(dir, sizeof(dir), "/tmp/m0ap-appr-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	log_set_level(CFG_LOG_ERROR);
}

static void
teardown(void)
{
	char	 cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	anon_free(&anon);
}

static void
rec_fill(struct appr_rec *r, const char *id, const char *scope,
    long long created)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->created = created;
	snprintf(r->task, sizeof(r->task), "Bulk Memory Deletion");
	snprintf(r->worker, sizeof(r->worker), "mem0-service");
	memset(r->instruction, 'a', APPR_DIGEST_LEN);
	snprintf(r->scope, sizeof(r->scope), "%s", scope);
}

START_TEST(test_format_parse)
{
	struct appr_rec	 r, got;
	struct anon	 other;
	char		 text[4096], bad[4096];
	int		 n;
	size_t		 i;

	rec_fill(&r, "e4568886-fde3-44c3-9a35-af88ce237c77",
	    "DELETE /v1/memories/ platform user=u:1 digest=ab", 1767225600LL);
	n = appr_format(&anon, &r, text, sizeof(text));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(appr_parse(&anon, text, (size_t)n, &got), 0);
	ck_assert_str_eq(got.id, r.id);
	ck_assert_str_eq(got.scope, r.scope);
	ck_assert_str_eq(got.task, r.task);
	ck_assert_str_eq(got.worker, r.worker);
	ck_assert_str_eq(got.instruction, r.instruction);
	ck_assert(got.created == r.created);

	/* Any changed byte is refused (the MAC, or the format). */
	for (i = 0; i < (size_t)n; i++) {
		memcpy(bad, text, (size_t)n);
		bad[i] = bad[i] == 'x' ? 'y' : 'x';
		ck_assert_msg(appr_parse(&anon, bad, (size_t)n, &got) == -1,
		    "byte %zu changed, still accepted", i);
	}
	/* Cut anywhere, or with bytes after it. */
	for (i = 0; i < (size_t)n; i++)
		ck_assert_int_eq(appr_parse(&anon, text, i, &got), -1);
	memcpy(bad, text, (size_t)n);
	memcpy(bad + n, "x\n", 2);
	ck_assert_int_eq(appr_parse(&anon, bad, (size_t)n + 2, &got), -1);
	/* Signed with another key: refused. */
	ck_assert_int_eq(anon_init(&other, "another key, 16b", 16), 0);
	ck_assert_int_eq(appr_parse(&other, text, (size_t)n, &got), -1);
	anon_free(&other);
	/* What cannot be written safely is not written. */
	snprintf(r.scope, sizeof(r.scope), "a\nmac: x");
	ck_assert_int_eq(appr_format(&anon, &r, text, sizeof(text)), -1);
	rec_fill(&r, "../x", "s", 1);
	ck_assert_int_eq(appr_format(&anon, &r, text, sizeof(text)), -1);
	ck_assert_int_eq(appr_id_valid("0b5e1c3a-1111-4a2b"), 1);
	ck_assert_int_eq(appr_id_valid(""), 0);
	ck_assert_int_eq(appr_id_valid("a/b"), 0);
	ck_assert_int_eq(appr_id_valid("a.rec"), 0);
}
END_TEST

/* ---- the store, synchronously ---------------------------------------- */

static sem_t	 done_sem;

static void
job_done(struct appr_job *j)
{
	(void)j;
	sem_post(&done_sem);
}

/* Run one job and wait for it. */
static enum appr_result
run(struct appr *s, struct appr_job *j, enum appr_op op)
{
	j->op = op;
	if (j->ttl == 0)
		j->ttl = 3600;
	if (j->max == 0)
		j->max = 100;
	j->done = job_done;
	ck_assert_int_eq(appr_submit(s, j), 0);
	sem_wait(&done_sem);
	return (j->result);
}

static enum appr_result
put(struct appr *s, const char *id, const char *scope, long long age,
    int use)
{
	struct appr_job	 j;

	memset(&j, 0, sizeof(j));
	rec_fill(&j.rec, id, scope, (long long)time(NULL) - age);
	j.use = use;
	return (run(s, &j, APPR_PUT));
}

static enum appr_result
use(struct appr *s, const char *id)
{
	struct appr_job	 j;

	memset(&j, 0, sizeof(j));
	snprintf(j.rec.id, sizeof(j.rec.id), "%s", id);
	return (run(s, &j, APPR_USE));
}

/* FIND: the id found, or "" for none. */
static const char *
find(struct appr *s, const char *scope, long long ttl)
{
	static struct appr_job	 j;

	memset(&j, 0, sizeof(j));
	snprintf(j.rec.scope, sizeof(j.rec.scope), "%s", scope);
	j.ttl = ttl;
	if (run(s, &j, APPR_FIND) != APPR_OK)
		return ("");
	return (j.rec.id);
}

static struct appr *
open_store(void)
{
	struct appr	*s;
	char		 err[512];

	s = appr_open(dir, &anon, err, sizeof(err));
	ck_assert_msg(s != NULL, "%s", err);
	return (s);
}

START_TEST(test_store)
{
	struct appr	*s, *t;
	struct appr_job	 j;
	struct stat	 st;
	char		 path[512];

	sem_init(&done_sem, 0, 0);
	s = open_store();
	ck_assert_int_eq(put(s, "id-1", "scope A", 10, 0), APPR_OK);
	ck_assert_int_eq(put(s, "id-2", "scope A", 5, 0), APPR_OK);
	ck_assert_int_eq(put(s, "id-3", "scope B", 1, 0), APPR_OK);
	ck_assert_uint_eq(appr_count(s), 3);
	snprintf(path, sizeof(path), "%s/id-1.rec", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);

	/* GET: the record, unused, live. */
	memset(&j, 0, sizeof(j));
	snprintf(j.rec.id, sizeof(j.rec.id), "id-1");
	ck_assert_int_eq(run(s, &j, APPR_GET), APPR_OK);
	ck_assert_str_eq(j.rec.scope, "scope A");
	ck_assert_int_eq(j.used, 0);
	ck_assert_int_eq(j.expired, 0);
	memset(&j, 0, sizeof(j));
	snprintf(j.rec.id, sizeof(j.rec.id), "no-such-id");
	ck_assert_int_eq(run(s, &j, APPR_GET), APPR_NONE);

	/* FIND: the newest unused one of the scope. */
	ck_assert_str_eq(find(s, "scope A", 3600), "id-2");
	ck_assert_str_eq(find(s, "scope C", 3600), "");

	/* USE: once. */
	ck_assert_int_eq(use(s, "id-2"), APPR_OK);
	ck_assert_int_eq(use(s, "id-2"), APPR_USED);
	ck_assert_str_eq(find(s, "scope A", 3600), "id-1");
	ck_assert_int_eq(use(s, "id-1"), APPR_OK);
	ck_assert_str_eq(find(s, "scope A", 3600), "");
	memset(&j, 0, sizeof(j));
	snprintf(j.rec.id, sizeof(j.rec.id), "id-2");
	ck_assert_int_eq(run(s, &j, APPR_GET), APPR_OK);
	ck_assert_int_eq(j.used, 1);

	/* A second store on the same directory (a replica, a restart). */
	t = open_store();
	ck_assert_int_eq(use(t, "id-2"), APPR_USED);
	ck_assert_str_eq(find(t, "scope B", 3600), "id-3");
	ck_assert_int_eq(use(t, "id-3"), APPR_OK);
	ck_assert_int_eq(use(s, "id-3"), APPR_USED);
	/* What one writes, the other finds (its index refreshes). */
	ck_assert_int_eq(put(t, "id-4", "scope D", 0, 0), APPR_OK);
	ck_assert_str_eq(find(s, "scope D", 3600), "id-4");
	/* PUT with use: recorded and used at once (AUTO_APPROVED). */
	ck_assert_int_eq(put(s, "id-5", "scope E", 0, 1), APPR_OK);
	ck_assert_int_eq(use(t, "id-5"), APPR_USED);
	ck_assert_str_eq(find(t, "scope E", 3600), "");
	appr_close(t);
	appr_close(s);
	sem_destroy(&done_sem);
}
END_TEST

START_TEST(test_expiry_and_cap)
{
	struct appr	*s;
	struct appr_job	 j;
	char		 path[512];

	sem_init(&done_sem, 0, 0);
	s = open_store();
	ck_assert_int_eq(put(s, "old-1", "scope A", 7200, 0), APPR_OK);
	ck_assert_int_eq(use(s, "old-1"), APPR_OK);
	ck_assert_int_eq(put(s, "old-2", "scope A", 4000, 0), APPR_OK);
	/* Expired ones are never found, and GET says so. */
	ck_assert_str_eq(find(s, "scope A", 3600), "");
	memset(&j, 0, sizeof(j));
	snprintf(j.rec.id, sizeof(j.rec.id), "old-2");
	ck_assert_int_eq(run(s, &j, APPR_GET), APPR_OK);
	ck_assert_int_eq(j.expired, 1);
	/* The next PUT prunes them, use marks with them, oldest first. */
	ck_assert_int_eq(put(s, "new-1", "scope A", 0, 0), APPR_OK);
	ck_assert_uint_eq(appr_count(s), 1);
	snprintf(path, sizeof(path), "%s/old-1.used", dir);
	ck_assert_int_eq(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/old-1.rec", dir);
	ck_assert_int_eq(access(path, F_OK), -1);

	/* Full: a new record is refused, no live use mark is forgotten. */
	memset(&j, 0, sizeof(j));
	rec_fill(&j.rec, "new-2", "scope B", (long long)time(NULL));
	j.max = 1;
	ck_assert_int_eq(run(s, &j, APPR_PUT), APPR_FULL);
	ck_assert_uint_eq(appr_count(s), 1);
	j.max = 2;
	ck_assert_int_eq(run(s, &j, APPR_PUT), APPR_OK);
	appr_close(s);
	sem_destroy(&done_sem);
}
END_TEST

/*
 * Many records in many SCOPEs (hash buckets shared), written out of time
 * order, some by another store (a replica): every SCOPE finds its own
 * newest record, every id is found, and pruning keeps the rest.
 */
START_TEST(test_index_at_scale)
{
	struct appr	*s, *t;
	struct appr_job	 j;
	char		 id[64], scope[64], want[64];
	int		 i, k, n = 1200, scopes = 150;

	sem_init(&done_sem, 0, 0);
	s = open_store();
	t = open_store();
	/* Ages go down and up again: records arrive out of order. */
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "id-%d", i);
		snprintf(scope, sizeof(scope), "DELETE /memories user=u%d",
		    i % scopes);
		memset(&j, 0, sizeof(j));
		rec_fill(&j.rec, id, scope, (long long)time(NULL) -
		    (i * 7919) % 3000 - 10);
		j.max = 100000;
		ck_assert_int_eq(run(i % 5 == 0 ? t : s, &j, APPR_PUT),
		    APPR_OK);
	}
	for (k = 0; k < scopes; k += 7) {
		/* The newest (smallest age) record of scope k. */
		long	 best = -1, age;

		for (i = k; i < n; i += scopes) {
			age = (long)((i * 7919) % 3000 + 10);
			if (best == -1 || age < best ||
			    (age == best && i > atoi(want + 3))) {
				best = age;
				snprintf(want, sizeof(want), "id-%d", i);
			}
		}
		snprintf(scope, sizeof(scope), "DELETE /memories user=u%d", k);
		ck_assert_msg(strcmp(find(s, scope, 3600), want) == 0,
		    "scope %d: got %s, want %s", k, find(s, scope, 3600),
		    want);
	}
	for (i = 0; i < n; i += 13) {
		memset(&j, 0, sizeof(j));
		snprintf(j.rec.id, sizeof(j.rec.id), "id-%d", i);
		ck_assert_int_eq(run(s, &j, APPR_GET), APPR_OK);
	}
	/* A short ttl prunes what is older than 1 500 s, and only that. */
	memset(&j, 0, sizeof(j));
	rec_fill(&j.rec, "id-last", "scope last", (long long)time(NULL));
	j.ttl = 1500;
	j.max = 100000;
	ck_assert_int_eq(run(s, &j, APPR_PUT), APPR_OK);
	for (i = 0, k = 0; i < n; i++)
		k += (i * 7919) % 3000 + 10 <= 1500 - 2;
	ck_assert_msg(appr_count(s) >= (size_t)k + 1 && appr_count(s) <=
	    (size_t)k + 1 + n / 100, "got %zu records, want about %d",
	    appr_count(s), k + 1);
	ck_assert_str_eq(find(s, "scope last", 3600), "id-last");
	appr_close(t);
	appr_close(s);
	sem_destroy(&done_sem);
}
END_TEST

/*
 * A replica with a shorter gate.ttl_ms (or a clock ahead) prunes a
 * record and its use mark while another replica still holds a request
 * for it: the use is refused (APPR_NONE), never a second forward.
 */
START_TEST(test_use_after_a_replica_pruned)
{
	struct appr	*a, *b;
	struct appr_job	 j;
	char		 path[512];

	sem_init(&done_sem, 0, 0);
	a = open_store();
	b = open_store();
	ck_assert_int_eq(put(a, "id-1", "scope A", 100, 0), APPR_OK);
	ck_assert_int_eq(use(a, "id-1"), APPR_OK);
	/* B knows id-1 (a GET); with a ttl of 10 s its next PUT prunes
	 * it, record and mark. */
	memset(&j, 0, sizeof(j));
	snprintf(j.rec.id, sizeof(j.rec.id), "id-1");
	ck_assert_int_eq(run(b, &j, APPR_GET), APPR_OK);
	memset(&j, 0, sizeof(j));
	rec_fill(&j.rec, "id-2", "scope B", (long long)time(NULL));
	j.ttl = 10;
	ck_assert_int_eq(run(b, &j, APPR_PUT), APPR_OK);
	snprintf(path, sizeof(path), "%s/id-1.used", dir);
	ck_assert_int_eq(access(path, F_OK), -1);
	/* A's second held duplicate: its mark is new, the record gone. */
	ck_assert_int_eq(use(a, "id-1"), APPR_NONE);
	ck_assert_int_eq(use(a, "id-1"), APPR_USED);
	appr_close(b);
	appr_close(a);
	sem_destroy(&done_sem);
}
END_TEST

START_TEST(test_planted_and_damaged)
{
	struct appr	*s;
	struct appr_job	 j;
	struct appr_rec	 r;
	struct anon	 other;
	char		 path[512], text[4096];
	int		 fd, n;

	sem_init(&done_sem, 0, 0);
	/* A record made with another key, planted in the directory. */
	ck_assert_int_eq(anon_init(&other, "another key, 16b", 16), 0);
	rec_fill(&r, "planted", "scope P", (long long)time(NULL));
	n = appr_format(&other, &r, text, sizeof(text));
	ck_assert_int_gt(n, 0);
	anon_free(&other);
	ck_assert_int_eq(mkdir(dir, 0700) == 0 || access(dir, F_OK) == 0, 1);
	snprintf(path, sizeof(path), "%s/planted.rec", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, (size_t)n), n);
	close(fd);
	s = open_store();
	ck_assert_str_eq(find(s, "scope P", 3600), "");
	memset(&j, 0, sizeof(j));
	snprintf(j.rec.id, sizeof(j.rec.id), "planted");
	ck_assert_int_eq(run(s, &j, APPR_GET), APPR_NONE);
	/* A good record damaged after it was written. */
	ck_assert_int_eq(put(s, "good", "scope G", 0, 0), APPR_OK);
	snprintf(path, sizeof(path), "%s/good.rec", dir);
	fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "X", 1, 40), 1);
	close(fd);
	ck_assert_str_eq(find(s, "scope G", 3600), "");
	memset(&j, 0, sizeof(j));
	snprintf(j.rec.id, sizeof(j.rec.id), "good");
	ck_assert_int_eq(run(s, &j, APPR_GET), APPR_NONE);
	appr_close(s);
	sem_destroy(&done_sem);
}
END_TEST

START_TEST(test_unsafe_directory)
{
	struct appr	*s;
	char		 err[512], sub[300], link[300];

	snprintf(sub, sizeof(sub), "%s/open", dir);
	ck_assert_int_eq(mkdir(sub, 0777), 0);
	ck_assert_int_eq(chmod(sub, 0777), 0);
	s = appr_open(sub, &anon, err, sizeof(err));
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err, "writable by group or others") != NULL,
	    "%s", err);
	ck_assert_int_eq(chmod(sub, 0700), 0);
	snprintf(link, sizeof(link), "%s/link", dir);
	ck_assert_int_eq(symlink(sub, link), 0);
	/* Another user's symlink (root's or ours is followed: systemd's). */
	if (lchown(link, 4242, 4242) == 0) {
		s = appr_open(link, &anon, err, sizeof(err));
		ck_assert_ptr_null(s);
		ck_assert_msg(strstr(err, "symlink") != NULL, "%s", err);
	} else
		ck_assert_int_ne(geteuid(), 0);
	snprintf(link, sizeof(link), "%s/missing/deeper", dir);
	s = appr_open(link, &anon, err, sizeof(err));
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err, "cannot create") != NULL, "%s", err);
	/* Made when missing, mode 0700. */
	snprintf(link, sizeof(link), "%s/fresh", dir);
	s = appr_open(link, &anon, err, sizeof(err));
	ck_assert_msg(s != NULL, "%s", err);
	appr_close(s);
}
END_TEST

UNIT_MAIN_FIXTURE("approval", setup, teardown, test_index_at_scale,
    test_format_parse, test_store, test_expiry_and_cap,
    test_use_after_a_replica_pruned, test_planted_and_damaged,
    test_unsafe_directory)
