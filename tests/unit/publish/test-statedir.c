/* SPDX-License-Identifier: MIT */
/* statedir: the generation counter and the allow-removal protocol over a
 * real directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "statedir.h"

static char root[64];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(p);
}

static int setup(void **state) {
        snprintf(root, sizeof root, "/tmp/fsxds-test-statedir-XXXXXX");
        return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state) {
        return nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_paths(void **state) {
        _cleanup_free_ char *a = statedir_node_path("/var/lib/fsxds/", "edge");
        _cleanup_free_ char *b = statedir_allowance_path("/var/lib/fsxds", "edge");
        assert_string_equal(a, "/var/lib/fsxds/nodes/edge");
        assert_string_equal(b, "/var/lib/fsxds/allow-removal/edge");
}

static void test_generation_absent(void **state) {
        uint64_t g = 42;
        assert_int_equal(statedir_read_generation(root, &g), -ENOENT);
        assert_int_equal(g, 42);
}

static void test_generation_round_trip(void **state) {
        uint64_t g = 0;
        assert_int_equal(statedir_write_generation(root, 18446744073709551615u), 0);
        assert_int_equal(statedir_read_generation(root, &g), 0);
        assert_true(g == 18446744073709551615u);
        _cleanup_free_ char *p = xasprintf("%s/generation", root), *text = NULL;
        assert_int_equal(read_file_bounded(p, 64, &text, NULL), 0);
        assert_string_equal(text, "18446744073709551615\n");
}

static void test_generation_garbage(void **state) {
        _cleanup_free_ char *p = xasprintf("%s/generation", root);
        assert_int_equal(write_file_atomic(p, "12x\n", 4, 0640), 0);
        uint64_t g = 7;
        assert_int_equal(statedir_read_generation(root, &g), -EBADMSG);
        assert_int_equal(g, 7);
}

static void test_allowance_create(void **state) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        assert_int_equal(statedir_allow_removal_create(root, "edge", &path), 0);
        _cleanup_free_ char *expected = xasprintf("%s/allow-removal/edge", root);
        assert_string_equal(path, expected);
        size_t len = 0;
        assert_int_equal(read_file_bounded(path, 64, &text, &len), 0);
        assert_int_equal(len, strlen("2024-11-26T06:26:40Z\n"));
        assert_int_equal(text[len - 1], '\n');
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
}

static void test_allowance_consumed_once(void **state) {
        assert_int_equal(statedir_allow_removal_create(root, "core", NULL), 0);
        assert_int_equal(statedir_allow_removal_consume(root, "core"), 1);
        assert_int_equal(statedir_allow_removal_consume(root, "core"), 0);
        _cleanup_free_ char *path = statedir_allowance_path(root, "core");
        assert_int_equal(access(path, F_OK), -1);
}

static void test_allowance_absent(void **state) {
        assert_int_equal(statedir_allow_removal_consume(root, "nobody"), 0);
}

static void test_remove_entry(void **state) {
        _cleanup_free_ char *nodes = xasprintf("%s/nodes", root), *dir = xasprintf("%s/nodes/gone/lds", root);
        _cleanup_free_ char *file = xasprintf("%s/nodes/gone/lds/x.pb", root), *link = xasprintf("%s/nodes/gone/up", root);
        assert_int_equal(mkdir_p(dir, 0750), 0);
        assert_int_equal(write_file_atomic(file, "x", 1, 0640), 0);
        assert_int_equal(symlink(root, link), 0); /* removed, not followed */
        assert_int_equal(statedir_remove_entry(nodes, "gone"), 1);
        _cleanup_free_ char *gone = xasprintf("%s/gone", nodes);
        assert_int_equal(access(gone, F_OK), -1);
        assert_int_equal(access(root, F_OK), 0);
        assert_int_equal(statedir_remove_entry(nodes, "gone"), 0);
}

/* fsxds forget on a state_dir that was never made: nothing to remove */
static void test_remove_entry_no_parent(void **state) {
        _cleanup_free_ char *parent = xasprintf("%s/never", root);
        assert_int_equal(statedir_remove_entry(parent, "gone"), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_paths),
                cmocka_unit_test(test_generation_absent),
                cmocka_unit_test(test_generation_round_trip),
                cmocka_unit_test(test_generation_garbage),
                cmocka_unit_test(test_allowance_create),
                cmocka_unit_test(test_allowance_consumed_once),
                cmocka_unit_test(test_allowance_absent),
                cmocka_unit_test(test_remove_entry),
                cmocka_unit_test(test_remove_entry_no_parent),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
