/*
 * unit: what every Check test program shares. UNIT_MAIN(name, test...)
 * defines main(): one suite, one test case with the listed tests, run in
 * Check's forking mode, exit status 0 only when every check passed.
 */
#ifndef UNIT_H
#define UNIT_H

#include <check.h>
#include <stdlib.h>

static inline int
unit_run(Suite *s)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}

/* A suite "name" with one test case holding the tests given. */
static inline Suite *
unit_suite(const char *name, const TTest *const *tests, size_t n,
    void (*setup)(void), void (*teardown)(void))
{
	Suite	*s = suite_create(name);
	TCase	*tc = tcase_create("core");
	size_t	 i;

	if (setup != NULL || teardown != NULL)
		tcase_add_checked_fixture(tc, setup, teardown);
	for (i = 0; i < n; i++)
		tcase_add_test(tc, tests[i]);
	suite_add_tcase(s, tc);
	return (s);
}

#define UNIT_MAIN_FIXTURE(name, setup, teardown, ...)			\
	int								\
	main(void)							\
	{								\
		const TTest *const unit_tests[] = { __VA_ARGS__ };	\
		return (unit_run(unit_suite(name, unit_tests,		\
		    sizeof(unit_tests) / sizeof(unit_tests[0]), setup,	\
		    teardown)));					\
	}

#define UNIT_MAIN(name, ...)	UNIT_MAIN_FIXTURE(name, NULL, NULL, __VA_ARGS__)

#endif /* UNIT_H */
