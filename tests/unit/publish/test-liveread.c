/* SPDX-License-Identifier: MIT */
/* liveread: a node directory read back as Envoy reads it, over a real
 * directory: regular files, the watched_directory layout through "..data",
 * and what is never followed (a symlink out, "..data" naming a path, a
 * symlinked node or type directory), each an entry with its reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "liveread.h"

static char root[64];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(p);
}

static int setup(void **state) {
        snprintf(root, sizeof root, "/tmp/fsxds-test-liveread-XXXXXX");
        return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state) {
        return nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *rel, const char *text) {
        _cleanup_free_ char *p = xasprintf("%s/%s", root, rel);
        _cleanup_free_ char *dir = xstrdup(p);
        *strrchr(dir, '/') = 0;
        assert_int_equal(mkdir_p(dir, 0755), 0);
        assert_int_equal(write_file_atomic(p, text, strlen(text), 0644), 0);
}

static void link_at(const char *target, const char *rel) {
        _cleanup_free_ char *p = xasprintf("%s/%s", root, rel);
        _cleanup_free_ char *dir = xstrdup(p);
        *strrchr(dir, '/') = 0;
        assert_int_equal(mkdir_p(dir, 0755), 0);
        assert_int_equal(symlink(target, p), 0);
}

/* the index of path in l, or fails */
static size_t find(const LiveNode *l, const char *path) {
        for (size_t i = 0; i < l->out.n; i++)
                if (streq(l->out.files[i].path, path))
                        return i;
        fail_msg("%s is not in the listing", path);
        return 0;
}

static void assert_bytes(const LiveNode *l, const char *path, const char *text) {
        size_t i = find(l, path);
        assert_null(l->odd[i]);
        assert_int_equal(l->out.files[i].len, strlen(text));
        assert_memory_equal(l->out.files[i].data, text, strlen(text));
}

static void assert_odd(const LiveNode *l, const char *path, const char *why) {
        size_t i = find(l, path);
        assert_null(l->out.files[i].data);
        assert_non_null(l->odd[i]);
        assert_string_equal(l->odd[i], why);
}

static void test_absent(void **state) {
        LiveNode l = {};
        _cleanup_free_ char *error = NULL, *out = xasprintf("%s/out", root), *none = xasprintf("%s/none", root);
        assert_int_equal(live_read_node(none, "edge", &l, &error), -ENOENT);
        assert_int_equal(mkdir(out, 0755), 0);
        assert_int_equal(live_read_node(out, "edge", &l, &error), -ENOENT);
        assert_null(error);
        /* a symlink where the node directory should be is never followed */
        assert_int_equal(mkdir(none, 0755), 0);
        link_at(none, "out/edge");
        assert_int_equal(live_read_node(out, "edge", &l, &error), -ENOTDIR);
}

static void test_rename_layout(void **state) {
        put("out/edge/lds/lds.pb", "L");
        put("out/edge/cds/cds.pb", "C");
        put("out/edge/eds/b.pb", "B");
        put("out/edge/eds/a.pb", "A");
        put("out/edge/eds/notes.txt", "not a file of Envoy's");
        put("out/edge/eds/.tmp.a.pb.123", "a temporary");
        put("out/edge/MANIFEST", "{}");
        put("out/edge/other/x.pb", "no type directory");
        _cleanup_free_ char *out = xasprintf("%s/out", root), *error = NULL;
        LiveNode l = {};
        assert_int_equal(live_read_node(out, "edge", &l, &error), 0);
        assert_int_equal(l.out.n, 4);
        /* sorted by path */
        assert_string_equal(l.out.files[0].path, "cds/cds.pb");
        assert_string_equal(l.out.files[1].path, "eds/a.pb");
        assert_string_equal(l.out.files[2].path, "eds/b.pb");
        assert_string_equal(l.out.files[3].path, "lds/lds.pb");
        assert_bytes(&l, "eds/a.pb", "A");
        assert_bytes(&l, "lds/lds.pb", "L");
        live_node_done(&l);
}

static void test_watched_layout(void **state) {
        put("out/edge/cds/..gen-3/cds.pb", "C3");
        put("out/edge/cds/..gen-2/cds.pb", "C2");
        link_at("..gen-3", "out/edge/cds/..data");
        link_at("..data/cds.pb", "out/edge/cds/cds.pb");
        /* a name the live generation lacks */
        link_at("..data/gone.pb", "out/edge/cds/gone.pb");
        /* "..data" naming a path is not followed */
        put("out/edge/eds/..gen-1/w.pb", "W");
        _cleanup_free_ char *gen = xasprintf("%s/out/edge/eds/..gen-1", root);
        link_at(gen, "out/edge/eds/..data");
        link_at("..data/w.pb", "out/edge/eds/w.pb");
        /* links elsewhere, and what is not a file */
        put("outside.pb", "secret");
        _cleanup_free_ char *outside = xasprintf("%s/outside.pb", root);
        link_at(outside, "out/edge/lds/lds.pb");
        _cleanup_free_ char *fifo = xasprintf("%s/out/edge/lds/f.pb", root), *dir = xasprintf("%s/out/edge/lds/d.pb", root);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        assert_int_equal(mkdir(dir, 0700), 0);
        /* a symlinked type directory holds nothing of fsxds's */
        _cleanup_free_ char *elsewhere = xasprintf("%s/elsewhere", root);
        put("elsewhere/r.pb", "R");
        link_at(elsewhere, "out/edge/rds");

        _cleanup_free_ char *out = xasprintf("%s/out", root), *error = NULL;
        LiveNode l = {};
        assert_int_equal(live_read_node(out, "edge", &l, &error), 0);
        assert_bytes(&l, "cds/cds.pb", "C3");
        assert_odd(&l, "cds/gone.pb", "a dangling symlink");
        assert_odd(&l, "eds/w.pb", "a symlink through ..data, which names no generation directory");
        _cleanup_free_ char *why = xasprintf("a symlink to %s, not to ..data/lds.pb", outside);
        assert_odd(&l, "lds/lds.pb", why);
        assert_odd(&l, "lds/f.pb", "not a regular file");
        assert_odd(&l, "lds/d.pb", "not a regular file");
        assert_int_equal(l.out.n, 6);
        live_node_done(&l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_absent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rename_layout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_watched_layout, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
