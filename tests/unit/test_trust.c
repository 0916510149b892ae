/* Tests for trust: which directories and key files the proxy believes. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trust.h"
#include "unit.h"

#define OTHER_UID	4242	/* a user the tests are not */

static char	 base[] = "/tmp/m0ap-trust-XXXXXX";

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(base));
}

static void
teardown(void)
{
	char	 cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	(void)system(cmd);
	memcpy(base + strlen(base) - 6, "XXXXXX", 6);
}

static void
write_file(const char *path, const char *data, mode_t mode)
{
	FILE	*fp = fopen(path, "w");

	ck_assert_ptr_nonnull(fp);
	fputs(data, fp);
	fclose(fp);
	ck_assert_int_eq(chmod(path, mode), 0);
}

/* How a directory is made before trust_open_dir() sees it. */
enum dir_setup { D_MISSING, D_MODE, D_SYMLINK, D_OWN_SYMLINK, D_FILE, D_OTHER_OWNER };

START_TEST(test_dirs)
{
	static const struct {
		enum dir_setup	 how;
		mode_t		 mode;
		int		 ok;
		const char	*msg;	/* in the error */
	} cases[] = {
		{ D_MISSING, 0, 1, NULL },
		{ D_MODE, 0700, 1, NULL },
		{ D_MODE, 0755, 1, NULL },
		{ D_MODE, 0750, 1, NULL },
		{ D_MODE, 0777, 0, "writable by group or others (mode 0777)" },
		{ D_MODE, 0770, 0, "writable by group or others" },
		{ D_MODE, 0702, 0, "writable by group or others" },
		{ D_MODE, 01777, 0, "writable by group or others" },
		{ D_SYMLINK, 0700, 0, "a symlink" },	/* another user's */
		{ D_OWN_SYMLINK, 0700, 1, NULL },	/* systemd's, ours */
		{ D_FILE, 0600, 0, "not a directory" },
		{ D_OTHER_OWNER, 0700, 0, "owned by uid 4242" },
	};
	char		 dir[512], real[512], err[512];
	struct stat	 st;
	size_t		 i;
	int		 fd;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(real, sizeof(real), "%s/real%zu", base, i);
		snprintf(dir, sizeof(dir), "%s/dir%zu", base, i);
		switch (cases[i].how) {
		case D_MISSING:
			break;
		case D_MODE:
		case D_OTHER_OWNER:
			ck_assert_int_eq(mkdir(dir, 0700), 0);
			ck_assert_int_eq(chmod(dir, cases[i].mode), 0);
			if (cases[i].how == D_OTHER_OWNER && chown(dir,
			    OTHER_UID, OTHER_UID) == -1) {
				ck_assert_int_ne(geteuid(), 0);
				continue;	/* not root: cannot set up */
			}
			break;
		case D_SYMLINK:
		case D_OWN_SYMLINK:
			ck_assert_int_eq(mkdir(real, 0700), 0);
			ck_assert_int_eq(symlink(real, dir), 0);
			if (cases[i].how == D_SYMLINK && lchown(dir, OTHER_UID,
			    OTHER_UID) == -1) {
				ck_assert_int_ne(geteuid(), 0);
				continue;	/* not root: cannot set up */
			}
			break;
		case D_FILE:
			write_file(dir, "x", 0600);
			break;
		}
		err[0] = '\0';
		fd = trust_open_dir(dir, "state_dir", 1, err, sizeof(err));
		ck_assert_msg((fd != -1) == cases[i].ok, "case %zu: got fd %d "
		    "(%s), want ok %d", i, fd, err, cases[i].ok);
		if (fd != -1) {
			ck_assert_int_eq(fstat(fd, &st), 0);
			ck_assert(S_ISDIR(st.st_mode));
			if (cases[i].how == D_MISSING)
				ck_assert_int_eq(st.st_mode & 07777, 0700);
			close(fd);
			continue;
		}
		ck_assert_msg(strstr(err, cases[i].msg) != NULL &&
		    strstr(err, "state_dir") != NULL, "case %zu: error \"%s\", "
		    "want \"%s\"", i, err, cases[i].msg);
	}
}
END_TEST

/* How a key file is made before trust_read_key() sees it. */
enum key_setup { K_FILE, K_MISSING, K_DIR, K_FIFO, K_OTHER_OWNER, K_SYMLINK };

START_TEST(test_keys)
{
	static const struct {
		enum key_setup	 how;
		const char	*data;
		mode_t		 mode;
		const char	*want;	/* the key, or NULL: refused */
		const char	*msg;
	} cases[] = {
		{ K_FILE, "0123456789abcdef\n", 0600, "0123456789abcdef", NULL },
		{ K_FILE, "in ner\r\n \t", 0400,
		    "in ner", NULL },
		{ K_FILE, "", 0600, "", NULL },
		{ K_FILE, "k", 0640, NULL, "accessible by group or others" },
		{ K_FILE, "k", 0644, NULL, "(mode 0644)" },
		{ K_FILE, "k", 0601, NULL, "accessible by group or others" },
		{ K_FILE, "0123456789abcdefXY", 0600, NULL, "longer than 17" },
		{ K_MISSING, NULL, 0, NULL, "cannot open key file" },
		{ K_DIR, NULL, 0700, NULL, "not a regular file" },
		{ K_FIFO, NULL, 0600, NULL, "not a regular file" },
		{ K_OTHER_OWNER, "k", 0600, NULL, "owned by uid 4242" },
		/* a symlink to a good file is followed (Kubernetes secrets) */
		{ K_SYMLINK, "linked", 0600, "linked", NULL },
	};
	unsigned char	 out[18];
	char		 path[512], real[512], err[512];
	size_t		 i, len;
	int		 rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(path, sizeof(path), "%s/key%zu", base, i);
		snprintf(real, sizeof(real), "%s/real%zu", base, i);
		switch (cases[i].how) {
		case K_FILE:
			write_file(path, cases[i].data, cases[i].mode);
			break;
		case K_MISSING:
			break;
		case K_DIR:
			ck_assert_int_eq(mkdir(path, cases[i].mode), 0);
			break;
		case K_FIFO:
			ck_assert_int_eq(mkfifo(path, cases[i].mode), 0);
			break;
		case K_OTHER_OWNER:
			write_file(path, cases[i].data, cases[i].mode);
			if (chown(path, OTHER_UID, OTHER_UID) == -1)
				continue;	/* not root */
			break;
		case K_SYMLINK:
			write_file(real, cases[i].data, cases[i].mode);
			ck_assert_int_eq(symlink(real, path), 0);
			break;
		}
		err[0] = '\0';
		memset(out, 'Z', sizeof(out));
		rc = trust_read_key(path, out, sizeof(out), &len, err,
		    sizeof(err));
		if (cases[i].want != NULL) {
			ck_assert_msg(rc == 0, "case %zu: refused: %s", i, err);
			ck_assert_msg(len == strlen(cases[i].want) &&
			    memcmp(out, cases[i].want, len) == 0, "case %zu: "
			    "key \"%.*s\", want \"%s\"", i, (int)len, out,
			    cases[i].want);
			continue;
		}
		ck_assert_msg(rc == -1, "case %zu: accepted", i);
		ck_assert_msg(strstr(err, cases[i].msg) != NULL, "case %zu: "
		    "error \"%s\", want \"%s\"", i, err, cases[i].msg);
		ck_assert_uint_eq(len, 0);
	}
}
END_TEST

UNIT_MAIN_FIXTURE("trust", setup, teardown, test_dirs, test_keys)
