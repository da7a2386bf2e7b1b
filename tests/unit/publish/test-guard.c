/* SPDX-License-Identifier: MIT */
/* guard: the removal guard's rule over live counts and removals, the
 * counting of removed names, and its diagnostic; one property per test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "guard.h"
#include "wire.h"

/* A DiscoveryResponse of clusters named names[0..n). */
static void clusters(Buf *b, const char *const *names, size_t n) {
        static const char ct[] = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
        *b = (Buf) {};
        for (size_t i = 0; i < n; i++) {
                size_t any = wire_begin_len(b, 2);
                wire_put_bytes(b, 1, ct, strlen(ct));
                size_t value = wire_begin_len(b, 2);
                wire_put_bytes(b, 1, names[i], strlen(names[i]));
                wire_end_len(b, value);
                wire_end_len(b, any);
        }
        wire_put_bytes(b, 4, ct, strlen(ct));
}

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

static void test_count_names_sorted(void **state) {
        static const char *const live[] = { "web", "db", "cache", "auth" }, *const next[] = { "web" };
        Buf l, n;
        clusters(&l, live, 4);
        clusters(&n, next, 1);
        GuardDelta d = {};
        guard_count(&d, GUARD_CLUSTERS, l.data, l.len, n.data, n.len);
        assert_int_equal(d.live[GUARD_CLUSTERS], 4);
        assert_int_equal(d.removed[GUARD_CLUSTERS], 3);
        assert_string_equal(d.names[GUARD_CLUSTERS][0], "auth");
        assert_string_equal(d.names[GUARD_CLUSTERS][2], "db");
        _cleanup_free_ char *what = guard_describe(&d, 0.5);
        assert_string_equal(what, "3 of 4 clusters (\"auth\", \"cache\", \"db\")");
        guard_delta_done(&d);
        buf_free(&l);
        buf_free(&n);
}

static void test_count_file_gone(void **state) {
        static const char *const live[] = { "a", "b" };
        Buf l;
        clusters(&l, live, 2);
        GuardDelta d = {};
        guard_count(&d, GUARD_CLUSTERS, l.data, l.len, NULL, 0);
        assert_int_equal(d.removed[GUARD_CLUSTERS], 2);
        guard_count(&d, GUARD_LISTENERS, NULL, 0, NULL, 0);
        assert_int_equal(d.live[GUARD_LISTENERS], 0);
        guard_delta_done(&d);
        buf_free(&l);
}

/* the first GUARD_NAMES_SHOWN names, then how many more; only the kinds
 * that exceed max_removal */
static void test_describe_limit(void **state) {
        char names[25][8];
        const char *live[25];
        for (size_t i = 0; i < 25; i++) {
                snprintf(names[i], sizeof names[i], "c%02zu", i);
                live[i] = names[i];
        }
        Buf l;
        clusters(&l, live, 25);
        GuardDelta d = { .live = { 4 }, .removed = { 1 } }; /* listeners: 1 of 4 passes */
        guard_count(&d, GUARD_CLUSTERS, l.data, l.len, NULL, 0);
        _cleanup_free_ char *what = guard_describe(&d, 0.5);
        assert_string_equal(what, "25 of 25 clusters (\"c00\", \"c01\", \"c02\", \"c03\", \"c04\", \"c05\", "
                                  "\"c06\", \"c07\", \"c08\", \"c09\" and 15 more)");
        guard_delta_done(&d);
        buf_free(&l);
}

/* a name is shown as a JSON string: quotes and control characters escaped */
static void test_describe_escapes(void **state) {
        static const char *const live[] = { "a\"b\n" };
        Buf l;
        clusters(&l, live, 1);
        GuardDelta d = {};
        guard_count(&d, GUARD_CLUSTERS, l.data, l.len, NULL, 0);
        _cleanup_free_ char *what = guard_describe(&d, 0.5);
        assert_string_equal(what, "1 of 1 clusters (\"a\\\"b\\n\")");
        guard_delta_done(&d);
        buf_free(&l);
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
                cmocka_unit_test(test_count_names_sorted),
                cmocka_unit_test(test_count_file_gone),
                cmocka_unit_test(test_describe_limit),
                cmocka_unit_test(test_describe_escapes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
