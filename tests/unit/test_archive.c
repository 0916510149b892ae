/*
 * Unit tests: the export archive (archive.h). Each test works in a fresh
 * temporary directory that it removes again.
 */
#include <sys/stat.h>

#include "unit.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive.h"

static char	 base[64];

static void
setup(void)
{
	snprintf(base, sizeof(base), "/tmp/m0ap-archive-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
}

/* rm -r of one level below base (the tests make no deeper trees). */
static void
rm_tree(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	char		 p[PATH_MAX];
	struct stat	 st;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static void
teardown(void)
{
	rm_tree(base);
}

/* Names in dir, sorted, joined with ' '. */
static void
listing(const char *dir, char *out, size_t outlen)
{
	struct dirent	**names;
	int		  n, i;

	out[0] = '\0';
	n = scandir(dir, &names, NULL, alphasort);
	ck_assert_int_ge(n, 0);
	for (i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") != 0 &&
		    strcmp(names[i]->d_name, "..") != 0) {
			if (out[0] != '\0')
				strncat(out, " ", outlen - strlen(out) - 1);
			strncat(out, names[i]->d_name, outlen - strlen(out) - 1);
		}
		free(names[i]);
	}
	free(names);
}

static void
slurp(const char *path, char *out, size_t outlen)
{
	FILE	*f;
	size_t	 n;

	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	n = fread(out, 1, outlen - 1, f);
	out[n] = '\0';
	fclose(f);
}

START_TEST(test_write)
{
	char		 dir[128], want[PATH_MAX], got[256], ls[1024];
	char		 err[256], *path = NULL;
	struct stat	 st;

	/* The directory is created when missing. */
	snprintf(dir, sizeof(dir), "%s/exports", base);
	ck_assert_int_eq(archive_write(dir, "req-1", "[{\"id\":1}]", 10, &path,
	    err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/req-1.json", dir);
	ck_assert_msg(strcmp(path, want) == 0, "path: got %s, want %s", path,
	    want);
	slurp(path, got, sizeof(got));
	ck_assert_msg(strcmp(got, "[{\"id\":1}]") == 0, "content: got %s",
	    got);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_msg((st.st_mode & 0777) == 0600, "file mode: got %o, want "
	    "600", st.st_mode & 0777);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_msg((st.st_mode & 0777) == 0700, "dir mode: got %o, want "
	    "700", st.st_mode & 0777);
	listing(dir, ls, sizeof(ls));
	ck_assert_msg(strcmp(ls, "req-1.json") == 0, "no temporary file "
	    "left: got '%s'", ls);
	free(path);

	/* A trailing slash in dir does not double. */
	snprintf(want, sizeof(want), "%s/", dir);
	ck_assert_int_eq(archive_write(want, "req-2", "{}", 2, &path, err,
	    sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/req-2.json", dir);
	ck_assert_msg(strcmp(path, want) == 0, "path: got %s, want %s", path,
	    want);
	free(path);
}
END_TEST

/* A name already taken is never overwritten. */
START_TEST(test_write_never_replaces)
{
	char	 got[64], first[PATH_MAX], err[256], *p1 = NULL, *p2 = NULL;
	size_t	 n;

	ck_assert_int_eq(archive_write(base, "same", "one", 3, &p1, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(archive_write(base, "same", "two", 3, &p2, err,
	    sizeof(err)), 0);
	snprintf(first, sizeof(first), "%s/same.json", base);
	ck_assert_str_eq(p1, first);
	ck_assert_msg(strcmp(p1, p2) != 0, "second write reused %s", p2);
	n = strlen(base) + strlen("/same.") + 8 + strlen(".json");
	ck_assert_msg(strlen(p2) == n && strncmp(p2 + strlen(base),
	    "/same.", 6) == 0, "second name: got %s", p2);
	slurp(p1, got, sizeof(got));
	ck_assert_str_eq(got, "one");
	slurp(p2, got, sizeof(got));
	ck_assert_str_eq(got, "two");
	free(p1);
	free(p2);
}
END_TEST

static const char *const bad_names[] = {
	"", "../x", "a/b", "a b", "x\n", "/abs",
	"0123456789012345678901234567890123456789012345678901234567890123"
	"45678901234567890123456789012345678901234567890123456789012345678",
};

START_TEST(test_write_bad_name)
{
	char	 ls[1024], err[256], *path = (char *)"unchanged";

	ck_assert_int_eq(archive_write(base, bad_names[_i], "x", 1, &path,
	    err, sizeof(err)), -1);
	ck_assert_ptr_null(path);
	listing(base, ls, sizeof(ls));
	ck_assert_msg(ls[0] == '\0', "'%s': left '%s'", bad_names[_i], ls);
}
END_TEST

START_TEST(test_write_no_parent)
{
	char	 dir[PATH_MAX], err[256], *path = NULL;

	snprintf(dir, sizeof(dir), "%s/missing/exports", base);
	ck_assert_int_eq(archive_write(dir, "r", "x", 1, &path, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "cannot create") != NULL, "err: %s", err);
	ck_assert_ptr_null(path);
}
END_TEST

/* Make base/name with modification time t (seconds). */
static void
make_file(const char *name, time_t t)
{
	struct timespec	 ts[2];
	char		 p[PATH_MAX];
	int		 fd;

	snprintf(p, sizeof(p), "%s/%s", base, name);
	ck_assert_int_ge(fd = open(p, O_WRONLY | O_CREAT, 0600), 0);
	ts[0].tv_sec = ts[1].tv_sec = t;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	ck_assert_int_eq(futimens(fd, ts), 0);
	close(fd);
}

static const struct {
	const char	*name;
	size_t		 max;
	const char	*keep;
	long		 removed;
	const char	*left;
} prune_cases[] = {
	{ "under the limit", 10, NULL, 0,
	    "a.json b.json c.json d.json notes.txt sub.json x.json.1.tmp" },
	{ "at the limit", 4, NULL, 0,
	    "a.json b.json c.json d.json notes.txt sub.json x.json.1.tmp" },
	{ "oldest go first", 2, NULL, 2,
	    "b.json d.json notes.txt sub.json x.json.1.tmp" },
	{ "keep one", 1, NULL, 3, "b.json notes.txt sub.json x.json.1.tmp" },
	{ "the kept file survives", 1, "c.json", 3,
	    "c.json notes.txt sub.json x.json.1.tmp" },
};

START_TEST(test_prune)
{
	char	 ls[1024], sub[PATH_MAX], err[256];
	long	 n;

	/* mtimes: c oldest, then a, d, b; ties broken by name. */
	make_file("c.json", 1000);
	make_file("a.json", 2000);
	make_file("d.json", 3000);
	make_file("b.json", 4000);
	make_file("notes.txt", 1);
	make_file("x.json.1.tmp", 1);
	snprintf(sub, sizeof(sub), "%s/sub.json", base);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	n = archive_prune(base, prune_cases[_i].max, prune_cases[_i].keep,
	    err, sizeof(err));
	ck_assert_msg(n == prune_cases[_i].removed, "%s: removed %ld, want "
	    "%ld", prune_cases[_i].name, n, prune_cases[_i].removed);
	listing(base, ls, sizeof(ls));
	ck_assert_msg(strcmp(ls, prune_cases[_i].left) == 0, "%s: left '%s', "
	    "want '%s'", prune_cases[_i].name, ls, prune_cases[_i].left);
}
END_TEST

START_TEST(test_prune_unreadable_and_remove)
{
	char	 dir[PATH_MAX], err[256], *path = NULL;

	snprintf(dir, sizeof(dir), "%s/none", base);
	ck_assert_int_eq(archive_prune(dir, 1, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "cannot open") != NULL, "err: %s", err);
	ck_assert_int_eq(access(dir, F_OK), -1);	/* not created */
	ck_assert_int_eq(archive_write(base, "gone", "x", 1, &path, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(archive_remove(path), 0);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(archive_remove(path), -1);
	free(path);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("archive");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_write);
	tcase_add_test(tc, test_write_never_replaces);
	tcase_add_loop_test(tc, test_write_bad_name, 0,
	    sizeof(bad_names) / sizeof(bad_names[0]));
	tcase_add_test(tc, test_write_no_parent);
	tcase_add_loop_test(tc, test_prune, 0,
	    sizeof(prune_cases) / sizeof(prune_cases[0]));
	tcase_add_test(tc, test_prune_unreadable_and_remove);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
