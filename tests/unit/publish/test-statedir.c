/* SPDX-License-Identifier: MIT */
/* statedir: the format version, the generation counter, the crash
 * leftovers, the last good copies' MANIFESTs and their verified read-back,
 * the allow-removal and forget protocol and the lock, over a real
 * directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>
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
        _cleanup_free_ char *p = xasprintf("%s/.fsxds/generation", root), *text = NULL;
        assert_int_equal(read_file_bounded(p, 64, &text, NULL), 0);
        assert_string_equal(text, "18446744073709551615\n");
}

static void test_generation_garbage(void **state) {
        _cleanup_free_ char *p = xasprintf("%s/.fsxds/generation", root);
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

static uint64_t realtime_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void test_allowance_consumed_once(void **state) {
        assert_int_equal(statedir_allow_removal_create(root, "core", NULL), 0);
        assert_int_equal(statedir_allow_removal_consume(root, "core", realtime_usec()), 1);
        assert_int_equal(statedir_allow_removal_consume(root, "core", realtime_usec()), 0);
        _cleanup_free_ char *path = statedir_allowance_path(root, "core");
        assert_int_equal(access(path, F_OK), -1);
}

static void test_allowance_absent(void **state) {
        assert_int_equal(statedir_allow_removal_consume(root, "nobody", realtime_usec()), 0);
}

/* one older than STATEDIR_ALLOWANCE_USEC lets nothing through, and goes */
static void test_allowance_expired(void **state) {
        assert_int_equal(statedir_allow_removal_create(root, "old", NULL), 0);
        uint64_t later = realtime_usec() + STATEDIR_ALLOWANCE_USEC + 1000000;
        assert_int_equal(statedir_allow_removal_consume(root, "old", later), 0);
        _cleanup_free_ char *path = statedir_allowance_path(root, "old");
        assert_int_equal(access(path, F_OK), -1);
}

typedef struct Listed {
        size_t n;
        char names[4][16];
        uint64_t mtime[4];
} Listed;

static void note_request(void *userdata, const char *node, uint64_t mtime_usec) {
        Listed *l = userdata;
        assert_true(l->n < 4);
        snprintf(l->names[l->n], sizeof l->names[0], "%s", node);
        l->mtime[l->n++] = mtime_usec;
}

/* forget/: requests are regular files named by node ids, nothing else */
static void test_requests(void **state) {
        _cleanup_free_ char *d = xasprintf("%s/requests", root), *path = NULL;
        Listed l = {};
        assert_int_equal(statedir_list_requests(d, STATEDIR_FORGET, note_request, &l), 0); /* no directory */
        assert_int_equal(statedir_forget_request_create(d, "gone", &path), 0);
        _cleanup_free_ char *expected = xasprintf("%s/forget/gone", d);
        assert_string_equal(path, expected);
        _cleanup_free_ char *junk = xasprintf("%s/forget/.gone.tmp.x", d), *sub = xasprintf("%s/forget/sub", d);
        assert_int_equal(write_file_atomic(junk, "x", 1, 0640), 0);
        assert_int_equal(mkdir(sub, 0750), 0);
        _cleanup_free_ char *link = xasprintf("%s/forget/linked", d);
        assert_int_equal(symlink(expected, link), 0);
        uint64_t now = realtime_usec();
        assert_int_equal(statedir_list_requests(d, STATEDIR_FORGET, note_request, &l), 1);
        assert_string_equal(l.names[0], "gone");
        assert_true(l.mtime[0] <= now && l.mtime[0] + 60000000 > now);
        assert_int_equal(statedir_request_remove(d, STATEDIR_FORGET, "gone"), 1);
        assert_int_equal(statedir_request_remove(d, STATEDIR_FORGET, "gone"), 0);
}

/* fsxdsd's shared lock: a second one is fine, fsxds forget's exclusive
 * one is refused at once while it is held, and taken once it is not */
static void test_lock(void **state) {
        _cleanup_free_ char *missing = xasprintf("%s/no-state", root);
        int a = -1, b = -1, x = -1;
        assert_int_equal(statedir_lock(missing, true, &x), -ENOENT);
        assert_int_equal(statedir_lock(root, false, &a), 0);
        assert_int_equal(statedir_lock(root, false, &b), 0);
        assert_int_equal(statedir_lock(root, true, &x), -EWOULDBLOCK);
        close(a);
        assert_int_equal(statedir_lock(root, true, &x), -EWOULDBLOCK);
        close(b);
        assert_int_equal(statedir_lock(root, true, &x), 0);
        assert_true(x >= 0);
        close(x);
}

/* what fsxds forget refuses: a node fsxdsd still builds */
static void test_forget_refused(void **state) {
        _cleanup_free_ char *src = xasprintf("%s/src", root), *node = xasprintf("%s/src/nodes/edge", root);
        assert_int_equal(mkdir_p(node, 0750), 0);
        char *listed[] = { (char *) "core" };
        _cleanup_free_ char *why = NULL, *why2 = NULL;
        assert_int_equal(statedir_forget_refused(src, listed, 1, "edge", &why), 1);
        _cleanup_free_ char *exists = xasprintf("%s exists", node);
        assert_string_equal(why, exists);
        assert_int_equal(statedir_forget_refused(src, listed, 1, "core", &why2), 1);
        assert_string_equal(why2, "node core is listed in nodes:");
        assert_int_equal(statedir_forget_refused(src, listed, 1, "old", NULL), 0);
        /* a source_dir that is a file has no nodes */
        _cleanup_free_ char *file_src = xasprintf("%s/src/file", root);
        assert_int_equal(write_file_atomic(file_src, "x", 1, 0640), 0);
        assert_int_equal(statedir_forget_refused(file_src, NULL, 0, "old", NULL), 0);
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

/* format 1's counter, at the top, is read when .fsxds/ has none */
static void test_generation_legacy(void **state) {
        _cleanup_free_ char *dir = xasprintf("%s/legacy-gen", root), *p = xasprintf("%s/generation", dir);
        assert_int_equal(mkdir_p(dir, 0750), 0);
        assert_int_equal(write_file_atomic(p, "41\n", 3, 0640), 0);
        uint64_t g = 0;
        assert_int_equal(statedir_read_generation(dir, &g), 0);
        assert_true(g == 41);
        assert_int_equal(statedir_write_generation(dir, 42), 0);
        assert_int_equal(statedir_read_generation(dir, &g), 0);
        assert_true(g == 42);
        /* the format file written last removes the old counter */
        assert_int_equal(statedir_write_format(dir), 0);
        assert_int_equal(access(p, F_OK), -1);
        unsigned f = 0;
        assert_int_equal(statedir_read_format(dir, &f), 0);
        assert_int_equal(f, STATEDIR_FORMAT);
}

static void test_format(void **state) {
        _cleanup_free_ char *fresh = xasprintf("%s/fmt-fresh", root), *old = xasprintf("%s/fmt-old/nodes", root);
        _cleanup_free_ char *bad = xasprintf("%s/fmt-bad/.fsxds", root), *badf = xasprintf("%s/format", bad);
        unsigned f = 9;
        assert_int_equal(statedir_read_format(fresh, &f), 0);
        assert_int_equal(f, 0);
        assert_int_equal(mkdir_p(old, 0750), 0);
        _cleanup_free_ char *olddir = xasprintf("%s/fmt-old", root);
        assert_int_equal(statedir_read_format(olddir, &f), 0);
        assert_int_equal(f, 1);
        assert_int_equal(mkdir_p(bad, 0750), 0);
        assert_int_equal(write_file_atomic(badf, "two\n", 4, 0640), 0);
        _cleanup_free_ char *baddir = xasprintf("%s/fmt-bad", root);
        assert_int_equal(statedir_read_format(baddir, &f), -EBADMSG);
}

static void put(const char *dir, const char *name, const void *data, size_t len) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
        _cleanup_free_ char *parent = xstrdup(p);
        *strrchr(parent, '/') = 0;
        assert_int_equal(mkdir_p(parent, 0750), 0);
        assert_int_equal(write_file_atomic(p, data, len, 0640), 0);
}

static bool exists(const char *dir, const char *name) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
        struct stat st;
        return lstat(p, &st) == 0;
}

/* every temporary name fsxds leaves, and only those */
static void test_clean(void **state) {
        _cleanup_free_ char *d = xasprintf("%s/clean", root);
        const char *gone[] = { "generation.tmp.123", ".fsxds/generation.tmp.4", ".fsxds/format.tmp.5",
                               "allow-removal/.edge.tmp.77", "allow-removal/.a.tmp.b.tmp.78", "forget/.edge.tmp.79",
                               "nodes/edge/.MANIFEST.tmp.8",
                               "nodes/edge/lds/.tmp.lds.pb.9" };
        const char *kept[] = { "generation", "generation.tmp.12x", "generation.tmpfile", ".fsxds/generation",
                               "allow-removal/edge", "allow-removal/.edge.tmp.", "forget/edge", "nodes/edge/MANIFEST",
                               "nodes/edge/lds/lds.pb", "notes.tmp.1" };
        for (size_t i = 0; i < ELEMENTSOF(gone); i++)
                put(d, gone[i], "x", 1);
        for (size_t i = 0; i < ELEMENTSOF(kept); i++)
                put(d, kept[i], "x", 1);
        assert_int_equal(statedir_clean(d), (int) ELEMENTSOF(gone));
        for (size_t i = 0; i < ELEMENTSOF(gone); i++)
                assert_false(exists(d, gone[i]));
        for (size_t i = 0; i < ELEMENTSOF(kept); i++)
                assert_true(exists(d, kept[i]));
}

/* A DiscoveryResponse of one listener named name (version "v1"). */
static size_t response(uint8_t *out, const char *name) {
        static const char lt[] = "type.googleapis.com/envoy.config.listener.v3.Listener";
        uint8_t listener[64], any[160];
        size_t nl = 0, na = 0, n = 0, len = strlen(name);
        listener[nl++] = 0x0a, listener[nl++] = (uint8_t) len;
        memcpy(listener + nl, name, len), nl += len;
        any[na++] = 0x0a, any[na++] = (uint8_t) strlen(lt);
        memcpy(any + na, lt, strlen(lt)), na += strlen(lt);
        any[na++] = 0x12, any[na++] = (uint8_t) nl;
        memcpy(any + na, listener, nl), na += nl;
        out[n++] = 0x0a, out[n++] = 2, out[n++] = 'v', out[n++] = '1';
        out[n++] = 0x12, out[n++] = (uint8_t) na;
        memcpy(out + n, any, na), n += na;
        out[n++] = 0x22, out[n++] = (uint8_t) strlen(lt);
        memcpy(out + n, lt, strlen(lt)), n += strlen(lt);
        return n;
}

static void test_is_response(void **state) {
        uint8_t r[256];
        size_t n = response(r, "web");
        assert_true(statedir_is_response(r, n));
        assert_false(statedir_is_response(r, 0));
        assert_false(statedir_is_response(r, n - 1));
        uint8_t garbage[256];
        memset(garbage, 0xa5, n);
        assert_false(statedir_is_response(garbage, n));
}

/* A copy as fsxdsd writes it: the file, then its MANIFEST. */
static char *make_copy(const char *name, uint64_t generation) {
        char *d = xasprintf("%s/%s", root, name);
        _cleanup_free_ char *node = xasprintf("%s/nodes/edge", d);
        uint8_t r[256];
        size_t n = response(r, "web");
        put(node, "lds/lds.pb", r, n);
        NodeFile f = { .path = (char *) "lds/lds.pb", .data = r, .len = n };
        NodeOutput o = { .files = &f, .n = 1 };
        Manifest m;
        statedir_copy_manifest("edge", generation, &o, &m);
        assert_int_equal(statedir_write_copy_manifest(d, "edge", &m, false, NULL), 0);
        assert_true(statedir_copy_manifest_current(d, "edge", &m));
        m.generation++;
        assert_false(statedir_copy_manifest_current(d, "edge", &m));
        manifest_done(&m);
        return d;
}

static void test_copy_round_trip(void **state) {
        _cleanup_free_ char *d = make_copy("copy-ok", 17);
        NodeOutput o = {};
        uint64_t g = 0;
        _cleanup_free_ char *error = NULL;
        assert_int_equal(statedir_load_copy(d, "edge", false, &o, &g, &error), 0);
        assert_true(g == 17);
        assert_int_equal(o.n, 1);
        assert_string_equal(o.files[0].path, "lds/lds.pb");
        assert_int_equal(o.files[0].n_resources, 1);
        node_output_done(&o);
        _cleanup_free_ char *nodes = xasprintf("%s/nodes", d);
        assert_true(statedir_manifest_generation(nodes, "edge") == 17);
        assert_int_equal(statedir_load_copy(d, "nobody", false, &o, &g, &error), -ENOENT);
}

static void expect_refused(const char *d, const char *what) {
        NodeOutput o = {};
        uint64_t g = 0;
        _cleanup_free_ char *error = NULL;
        assert_true(statedir_load_copy(d, "edge", false, &o, &g, &error) < 0);
        assert_non_null(error);
        if (!strstr(error, what))
                fail_msg("\"%s\" does not name %s", error, what);
        assert_null(o.files);
}

static void test_copy_truncated(void **state) {
        _cleanup_free_ char *d = make_copy("copy-empty", 3), *p = xasprintf("%s/nodes/edge/lds/lds.pb", d);
        assert_int_equal(truncate(p, 0), 0);
        expect_refused(d, "lds/lds.pb");
}

static void test_copy_garbage(void **state) {
        _cleanup_free_ char *d = make_copy("copy-garbage", 3), *p = xasprintf("%s/nodes/edge/lds/lds.pb", d);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        uint8_t g[256];
        memset(g, 0xa5, sizeof g);
        assert_int_equal(write_file_atomic(p, g, (size_t) st.st_size, 0640), 0);
        expect_refused(d, "lds/lds.pb");
}

static void test_copy_symlinks(void **state) {
        /* a type directory, then the node directory, swapped for a symlink to a good copy */
        _cleanup_free_ char *good = make_copy("copy-target", 3);
        _cleanup_free_ char *d = make_copy("copy-link", 3), *lds = xasprintf("%s/nodes/edge/lds", d);
        _cleanup_free_ char *target = xasprintf("%s/nodes/edge/lds", good);
        _cleanup_free_ char *old_lds = xasprintf("%s/nodes/edge/old-lds", d);
        assert_int_equal(rename(lds, old_lds), 0);
        assert_int_equal(symlink(target, lds), 0);
        expect_refused(d, "lds");
        _cleanup_free_ char *d2 = make_copy("copy-nodelink", 3), *node = xasprintf("%s/nodes/edge", d2);
        _cleanup_free_ char *gnode = xasprintf("%s/nodes/edge", good);
        _cleanup_free_ char *old_node = xasprintf("%s/nodes/old-edge", d2);
        assert_int_equal(rename(node, old_node), 0);
        assert_int_equal(symlink(gnode, node), 0);
        expect_refused(d2, "symlink");
}

static void test_copy_no_manifest(void **state) {
        _cleanup_free_ char *d = make_copy("copy-nomanifest", 3), *p = xasprintf("%s/nodes/edge/MANIFEST", d);
        assert_int_equal(unlink(p), 0);
        expect_refused(d, "MANIFEST");
}

/* format 1: copies without MANIFEST, adopted when every file parses */
static void test_adopt(void **state) {
        _cleanup_free_ char *d = xasprintf("%s/adopt", root);
        _cleanup_free_ char *good = xasprintf("%s/nodes/good", d), *bad = xasprintf("%s/nodes/bad", d);
        uint8_t r[256];
        size_t n = response(r, "web");
        put(good, "lds/lds.pb", r, n);
        put(good, "cds/cds.pb", r, n);
        put(bad, "lds/lds.pb", r, n);
        put(bad, "cds/cds.pb", "", 0);
        assert_int_equal(statedir_adopt(d, NULL, NULL), 1);
        NodeOutput o = {};
        uint64_t g = 9;
        _cleanup_free_ char *error = NULL;
        assert_int_equal(statedir_load_copy(d, "good", false, &o, &g, &error), 0);
        assert_int_equal(o.n, 2);
        assert_string_equal(o.files[0].path, "cds/cds.pb");
        assert_true(g == 0);
        node_output_done(&o);
        assert_int_equal(statedir_load_copy(d, "bad", false, &o, &g, &error), -EBADMSG);
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
                cmocka_unit_test(test_allowance_expired),
                cmocka_unit_test(test_requests),
                cmocka_unit_test(test_lock),
                cmocka_unit_test(test_forget_refused),
                cmocka_unit_test(test_remove_entry),
                cmocka_unit_test(test_remove_entry_no_parent),
                cmocka_unit_test(test_generation_legacy),
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_clean),
                cmocka_unit_test(test_is_response),
                cmocka_unit_test(test_copy_round_trip),
                cmocka_unit_test(test_copy_truncated),
                cmocka_unit_test(test_copy_garbage),
                cmocka_unit_test(test_copy_symlinks),
                cmocka_unit_test(test_copy_no_manifest),
                cmocka_unit_test(test_adopt),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
