/* SPDX-License-Identifier: MIT */
/* guard: the removal guard's rule over live counts and removals, one
 * property per test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "guard.h"

static void test_nothing_live_never_exceeds(void **state) {
        assert_false(guard_exceeds(0, 0, 0.0));
        assert_false(guard_exceeds(5, 0, 0.5));
}

static void test_exactly_max_removal_passes(void **state) {
        assert_false(guard_exceeds(2, 4, 0.5));
}

static void test_above_max_removal_exceeds(void **state) {
        assert_true(guard_exceeds(3, 4, 0.5));
}

static void test_zero_max_removal_refuses_any_removal(void **state) {
        assert_false(guard_exceeds(0, 10, 0.0));
        assert_true(guard_exceeds(1, 10, 0.0));
}

static void test_max_removal_one_allows_removing_all(void **state) {
        assert_false(guard_exceeds(10, 10, 1.0));
}

static void test_check_passes_below_limits(void **state) {
        GuardDelta d = { .live = { 10, 4 }, .removed = { 5, 2 } };
        GuardKind k = _GUARD_KIND_INVALID;
        assert_int_equal(guard_check(&d, 0.5, &k), 0);
        assert_int_equal(k, _GUARD_KIND_INVALID); /* untouched */
}

static void test_check_reports_clusters(void **state) {
        GuardDelta d = { .live = { 10, 4 }, .removed = { 0, 3 } };
        GuardKind k = _GUARD_KIND_INVALID;
        assert_int_equal(guard_check(&d, 0.5, &k), 1);
        assert_int_equal(k, GUARD_CLUSTERS);
}

static void test_check_reports_listeners_first(void **state) {
        GuardDelta d = { .live = { 2, 4 }, .removed = { 2, 4 } };
        GuardKind k = _GUARD_KIND_INVALID;
        assert_int_equal(guard_check(&d, 0.5, &k), 1);
        assert_int_equal(k, GUARD_LISTENERS);
}

static void test_check_kind_is_optional(void **state) {
        GuardDelta d = { .live = { 1, 0 }, .removed = { 1, 0 } };
        assert_int_equal(guard_check(&d, 0.5, NULL), 1);
}

static void test_kind_names(void **state) {
        assert_string_equal(guard_kind_to_string(GUARD_LISTENERS), "listeners");
        assert_string_equal(guard_kind_to_string(GUARD_CLUSTERS), "clusters");
        assert_null(guard_kind_to_string(_GUARD_KIND_MAX));
        assert_int_equal(guard_kind_from_string("clusters"), GUARD_CLUSTERS);
        assert_int_equal(guard_kind_from_string("routes"), _GUARD_KIND_INVALID);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_nothing_live_never_exceeds),
                cmocka_unit_test(test_exactly_max_removal_passes),
                cmocka_unit_test(test_above_max_removal_exceeds),
                cmocka_unit_test(test_zero_max_removal_refuses_any_removal),
                cmocka_unit_test(test_max_removal_one_allows_removing_all),
                cmocka_unit_test(test_check_passes_below_limits),
                cmocka_unit_test(test_check_reports_clusters),
                cmocka_unit_test(test_check_reports_listeners_first),
                cmocka_unit_test(test_check_kind_is_optional),
                cmocka_unit_test(test_kind_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
