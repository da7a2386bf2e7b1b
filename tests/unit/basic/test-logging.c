/* SPDX-License-Identifier: MIT */
/* logging: the level and target names LogControl1 and FSXDS_LOG_LEVEL
 * take, the start level's precedence (--verbose over FSXDS_LOG_LEVEL over
 * info), and what a level or the null target lets through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "logging.h"

static void test_level_names(void **state) {
        static const char *const names[] = { "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" };
        for (int i = 0; i < 8; i++) {
                assert_int_equal(log_level_from_string(names[i]), i);
                assert_string_equal(log_level_to_string(i), names[i]);
        }
        assert_int_equal(log_level_from_string("0"), LOG_EMERG);
        assert_int_equal(log_level_from_string("7"), LOG_DEBUG);
        assert_int_equal(log_level_from_string("8"), -EINVAL);
        assert_int_equal(log_level_from_string("77"), -EINVAL);
        assert_int_equal(log_level_from_string("error"), -EINVAL);
        assert_int_equal(log_level_from_string("DEBUG"), -EINVAL);
        assert_int_equal(log_level_from_string(""), -EINVAL);
        assert_null(log_level_to_string(8));
        assert_null(log_level_to_string(-1));
}

static void test_target_names(void **state) {
        assert_int_equal(log_target_from_string("console"), LOG_TARGET_CONSOLE);
        assert_int_equal(log_target_from_string("journal"), LOG_TARGET_JOURNAL);
        assert_int_equal(log_target_from_string("null"), LOG_TARGET_NULL);
        assert_string_equal(log_target_to_string(LOG_TARGET_CONSOLE), "console");
        assert_string_equal(log_target_to_string(LOG_TARGET_JOURNAL), "journal");
        assert_string_equal(log_target_to_string(LOG_TARGET_NULL), "null");
        for (const char *const *t = (const char *const[]){ "kmsg", "journal-or-kmsg", "syslog", "syslog-or-kmsg", NULL };
             *t; t++)
                assert_int_equal(log_target_from_string(*t), -EOPNOTSUPP);
        assert_int_equal(log_target_from_string("file"), -EINVAL);
        assert_int_equal(log_target_from_string(""), -EINVAL);
        assert_null(log_target_to_string(_LOG_TARGET_MAX));
}

static void test_auto_target(void **state) {
        unsetenv("JOURNAL_STREAM");
        assert_int_equal(log_target_from_string("auto"), LOG_TARGET_CONSOLE);
        setenv("JOURNAL_STREAM", "8:1234", 1);
        assert_int_equal(log_target_from_string("auto"), LOG_TARGET_JOURNAL);
        log_setup(false);
        assert_int_equal(log_get_target(), LOG_TARGET_JOURNAL);
        unsetenv("JOURNAL_STREAM");
        log_setup(false);
        assert_int_equal(log_get_target(), LOG_TARGET_CONSOLE);
}

static void test_start_level(void **state) {
        unsetenv("FSXDS_LOG_LEVEL");
        log_set_max_level(LOG_INFO);
        log_setup(false);
        assert_int_equal(log_get_max_level(), LOG_INFO);
        log_setup(true);
        assert_int_equal(log_get_max_level(), LOG_DEBUG);

        setenv("FSXDS_LOG_LEVEL", "warning", 1);
        log_set_max_level(LOG_INFO);
        log_setup(false);
        assert_int_equal(log_get_max_level(), LOG_WARNING);
        log_setup(true); /* --verbose wins */
        assert_int_equal(log_get_max_level(), LOG_DEBUG);

        setenv("FSXDS_LOG_LEVEL", "loud", 1); /* reported on stderr, ignored */
        log_set_max_level(LOG_INFO);
        log_setup(false);
        assert_int_equal(log_get_max_level(), LOG_INFO);
        unsetenv("FSXDS_LOG_LEVEL");
}

static void test_enabled(void **state) {
        log_set_target(LOG_TARGET_CONSOLE);
        log_set_max_level(LOG_NOTICE);
        assert_true(log_level_enabled(LOG_ERR));
        assert_true(log_level_enabled(LOG_WARNING));
        assert_false(log_level_enabled(LOG_INFO));
        log_set_max_level(LOG_CRIT);
        assert_false(log_level_enabled(LOG_ERR));
        log_set_max_level(LOG_DEBUG);
        assert_true(log_level_enabled(LOG_DEBUG));
        log_set_target(LOG_TARGET_NULL);
        assert_false(log_level_enabled(LOG_ERR));
        log_set_target(LOG_TARGET_CONSOLE);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_level_names),
                cmocka_unit_test(test_target_names),
                cmocka_unit_test(test_auto_target),
                cmocka_unit_test(test_start_level),
                cmocka_unit_test(test_enabled),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
