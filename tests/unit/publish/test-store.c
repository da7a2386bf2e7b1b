/* SPDX-License-Identifier: MIT */
/* store: the content-addressed store over real directories — object names,
 * bytes and modes, idempotence, tmpfs detection, repair and collection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "store.h"
#include "util.h"

static char root[64];
static char *out;

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(p);
}

static int setup(void **state) {
        snprintf(root, sizeof(root), "/tmp/fsxds-test-store-XXXXXX");
        if (!mkdtemp(root))
                return -1;
        out = xasprintf("%s/out/deeper", root);
        return 0;
}

static int teardown(void **state) {
        nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        free(out);
        return 0;
}

static char *object_path(const char *name) {
        return xasprintf("%s/.store/%s", out, name);
}

static void test_put_names_bytes_modes(void **state) {
        Store *s = NULL;
        assert_int_equal(store_open(out, getgid(), &s), 0);

        struct stat st;
        assert_int_equal(stat(out, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0750);
        _cleanup_free_ char *dir = xasprintf("%s/.store", out);
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0750);
        assert_int_equal(st.st_gid, getgid());

        char name[65];
        const char *text = "hello";
        assert_int_equal(store_put(s, text, strlen(text), name), 0);
        /* sha256("hello") */
        assert_string_equal(name, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        _cleanup_free_ char *p = object_path(name);
        _cleanup_free_ char *data = NULL;
        size_t len;
        assert_int_equal(read_file_bounded(p, 1024, &data, &len), 0);
        assert_int_equal(len, 5);
        assert_memory_equal(data, "hello", 5);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        assert_int_equal(st.st_gid, getgid());
        assert_int_equal(st.st_nlink, 1);

        /* idempotent: same inode, known without asking the disk */
        char again[65];
        assert_int_equal(store_put(s, text, strlen(text), again), 0);
        assert_string_equal(again, name);
        struct stat st2;
        assert_int_equal(stat(p, &st2), 0);
        assert_int_equal(st2.st_ino, st.st_ino);
        assert_int_equal(store_object_inode(s, name), st.st_ino);
        assert_true(store_has_inode(s, st.st_ino));
        assert_int_equal(store_object_inode(s, "0000000000000000000000000000000000000000000000000000000000000000"), 0);

        /* empty objects are objects too */
        assert_int_equal(store_put(s, "", 0, again), 0);
        assert_string_equal(again, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

        /* a linked object's mode is repaired by the next gc */
        _cleanup_free_ char *elsewhere = xasprintf("%s/linked", out);
        assert_int_equal(link(p, elsewhere), 0);
        assert_int_equal(chmod(p, 0600), 0);
        assert_int_equal(store_gc(s), 1); /* the empty object nothing links */
        assert_int_equal(stat(p, &st2), 0);
        assert_int_equal(st2.st_mode & 07777, 0640);
        assert_int_equal(store_object_inode(s, name), st.st_ino);
        assert_int_equal(unlink(elsewhere), 0);

        /* a crash left an object not synced (here: truncated) that nothing
         * links: opening the store drops it, the next put writes it whole */
        assert_int_equal(truncate(p, 2), 0);
        s = store_free(s);
        assert_int_equal(store_open(out, getgid(), &s), 0);
        assert_int_equal(access(p, F_OK), -1);
        assert_int_equal(store_put(s, text, strlen(text), again), 0);
        free(data);
        data = NULL;
        assert_int_equal(read_file_bounded(p, 1024, &data, &len), 0);
        assert_int_equal(len, 5);

        /* an object that is not what its name says, unknown to this store, is replaced */
        s = store_free(s);
        assert_int_equal(link(p, elsewhere), 0);
        assert_int_equal(truncate(p, 3), 0);
        assert_int_equal(unlink(elsewhere), 0);
        assert_int_equal(store_open(out, getgid(), &s), 0);
        assert_int_equal(access(p, F_OK), -1);

        /* ext4 here, unless /tmp is tmpfs */
        struct statfs sfs;
        assert_int_equal(statfs(out, &sfs), 0);
        assert_int_equal(store_durable(s), sfs.f_type != TMPFS_MAGIC);
        assert_true(store_dirfd(s) >= 0);
        assert_true(store_output_fd(s) >= 0);
        s = store_free(s);
        assert_null(s);
}

static void test_tmpfs_is_not_durable(void **state) {
        struct statfs sfs;
        if (statfs("/dev/shm", &sfs) < 0 || sfs.f_type != TMPFS_MAGIC)
                skip();
        char shm[] = "/dev/shm/fsxds-test-store-XXXXXX";
        assert_non_null(mkdtemp(shm));
        Store *s = NULL;
        assert_int_equal(store_open(shm, (gid_t) -1, &s), 0);
        assert_false(store_durable(s));
        char name[65];
        assert_int_equal(store_put(s, "x", 1, name), 0);
        s = store_free(s);
        nftw(shm, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_gc(void **state) {
        Store *s = NULL;
        assert_int_equal(store_open(out, (gid_t) -1, &s), 0);
        char lonely[65], linked[65];
        assert_int_equal(store_put(s, "lonely", 6, lonely), 0);
        assert_int_equal(store_put(s, "linked", 6, linked), 0);
        _cleanup_free_ char *lp = object_path(linked), *op = object_path(lonely);
        _cleanup_free_ char *elsewhere = xasprintf("%s/node-file", out);
        assert_int_equal(link(lp, elsewhere), 0);
        /* leftovers of a crash in the middle of store_put */
        _cleanup_free_ char *tmp = xasprintf("%s/.store/.tmp.%s.0123456789abcdef", out, lonely);
        assert_int_equal(write_file_atomic(tmp, "half", 4, 0640), 0);
        /* names that are not objects are left alone */
        _cleanup_free_ char *other = xasprintf("%s/.store/README", out);
        assert_int_equal(write_file_atomic(other, "x", 1, 0640), 0);

        assert_int_equal(store_gc(s), 2);
        assert_int_equal(access(op, F_OK), -1);
        assert_int_equal(access(tmp, F_OK), -1);
        assert_int_equal(access(lp, F_OK), 0);
        assert_int_equal(access(other, F_OK), 0);
        assert_int_equal(store_gc(s), 0);

        /* once nothing links it, it goes too */
        assert_int_equal(unlink(elsewhere), 0);
        assert_int_equal(store_gc(s), 1);
        assert_int_equal(access(lp, F_OK), -1);
        s = store_free(s);
}

static void test_collect(void **state) {
        Store *s = NULL;
        assert_int_equal(store_open(out, (gid_t) -1, &s), 0);
        char a[65], b[65], c[65];
        assert_int_equal(store_put(s, "a", 1, a), 0);
        assert_int_equal(store_put(s, "b", 1, b), 0);
        _cleanup_free_ char *pa = object_path(a), *pb = object_path(b), *la = xasprintf("%s/la", out),
                       *lb = xasprintf("%s/lb", out);
        assert_int_equal(link(pa, la), 0);
        assert_int_equal(link(pb, lb), 0);
        /* both were put since the last collection: both checked, both linked */
        assert_int_equal(store_collect(s), 0);

        /* b loses its link; the store is told; a's link goes unannounced */
        struct stat st;
        assert_int_equal(stat(pb, &st), 0);
        assert_int_equal(unlink(lb), 0);
        assert_int_equal(unlink(la), 0);
        store_unlinked(s, st.st_ino);
        assert_int_equal(store_put(s, "c", 1, c), 0);
        assert_int_equal(store_collect(s), 2); /* b and c */
        assert_int_equal(access(pb, F_OK), -1);
        assert_int_equal(access(pa, F_OK), 0);
        assert_int_equal(store_object_inode(s, b), 0);

        /* a full gc finds a */
        assert_int_equal(store_gc(s), 1);
        assert_int_equal(access(pa, F_OK), -1);

        /* a collected object is written again when put again */
        assert_int_equal(store_put(s, "b", 1, b), 0);
        assert_int_equal(access(pb, F_OK), 0);
        s = store_free(s);
}

static void test_reopen_keeps_objects(void **state) {
        Store *s = NULL;
        char a[65], b[65];
        assert_int_equal(store_open(out, (gid_t) -1, &s), 0);
        assert_int_equal(store_put(s, "persist", 7, a), 0);
        _cleanup_free_ char *p = object_path(a);
        struct stat st, st2;
        assert_int_equal(stat(p, &st), 0);
        /* a node links it: it survives the gc that opening runs */
        _cleanup_free_ char *node_file = xasprintf("%s/node-file", out);
        assert_int_equal(link(p, node_file), 0);
        s = store_free(s);
        assert_int_equal(store_open(out, (gid_t) -1, &s), 0);
        assert_int_equal(store_object_inode(s, a), st.st_ino);
        assert_int_equal(store_put(s, "persist", 7, b), 0);
        assert_string_equal(a, b);
        assert_int_equal(stat(p, &st2), 0);
        assert_int_equal(st.st_ino, st2.st_ino);
        s = store_free(s);
}

static void test_planted_store_symlink(void **state) {
        /* .store is fsxds's own name: a symlink there is removed, never written through */
        _cleanup_free_ char *o = xasprintf("%s/planted", root), *target = xasprintf("%s/elsewhere", root);
        assert_int_equal(mkdir_p(o, 0750), 0);
        assert_int_equal(mkdir_p(target, 0750), 0);
        _cleanup_free_ char *link_path = xasprintf("%s/.store", o);
        assert_int_equal(symlink(target, link_path), 0);
        Store *s = NULL;
        assert_int_equal(store_open(o, (gid_t) -1, &s), 0);
        assert_true(store_replaced(s));
        struct stat st;
        assert_int_equal(lstat(link_path, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        char name[65];
        assert_int_equal(store_put(s, "x", 1, name), 0);
        s = store_free(s);
        _cleanup_closedir_ DIR *d = opendir(target);
        assert_non_null(d);
        struct dirent *de;
        while ((de = readdir(d)))
                assert_true(streq(de->d_name, ".") || streq(de->d_name, ".."));
}

static void test_check_object(void **state) {
        Store *s = NULL;
        assert_int_equal(store_open(out, (gid_t) -1, &s), 0);
        char good[65], edited[65];
        assert_int_equal(store_put(s, "good bytes", 10, good), 0);
        assert_int_equal(store_put(s, "published!", 10, edited), 0);
        _cleanup_free_ char *gp = object_path(good), *ep = object_path(edited);
        _cleanup_free_ char *node_file = xasprintf("%s/node-file", out);
        assert_int_equal(link(ep, node_file), 0);
        ino_t old_ino = store_object_inode(s, edited);
        assert_true(old_ino != 0);

        /* good bytes: kept; a chmod of any of its links is put right */
        assert_int_equal(chmod(gp, 0600), 0);
        assert_int_equal(store_check_object(s, good), 0);
        struct stat st;
        assert_int_equal(stat(gp, &st), 0);
        assert_int_equal(st.st_mode & 07777, STORE_OBJECT_MODE);
        assert_true(store_has_inode(s, st.st_ino));

        /* a node's file edited in place, same size: the object changes with it */
        int fd = open(node_file, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "tampered!!", 10), 10);
        close(fd);
        assert_int_equal(store_check_object(s, edited), 1);
        /* dropped: unlinked, forgotten, never counted as published again */
        assert_int_equal(access(ep, F_OK), -1);
        assert_false(store_has_inode(s, old_ino));
        assert_int_equal(store_object_inode(s, edited), 0);
        /* the next put writes the build's bytes anew, as another inode */
        char again[65];
        assert_int_equal(store_put(s, "published!", 10, again), 0);
        assert_string_equal(again, edited);
        _cleanup_free_ char *data = NULL;
        size_t len;
        assert_int_equal(read_file_bounded(ep, 100, &data, &len), 0);
        assert_memory_equal(data, "published!", 10);
        assert_true(store_object_inode(s, edited) != old_ino);

        /* unknown names and objects gone behind its back: nothing to drop */
        assert_int_equal(store_check_object(s, "0000000000000000000000000000000000000000000000000000000000000000"), 0);
        assert_int_equal(unlink(gp), 0);
        assert_int_equal(store_check_object(s, good), 0);
        s = store_free(s);
}

/* The count and bytes of live objects (metrics' fsxds_store_*) follow
 * every put, collection, drop and forget, and a reopen counts the disk. */
static void test_counts(void **state) {
        Store *s = NULL;
        assert_int_equal(store_open(out, (gid_t) -1, &s), 0);
        assert_int_equal(store_n_objects(s), 0);
        assert_int_equal(store_bytes(s), 0);
        char a[65], b[65], c[65];
        assert_int_equal(store_put(s, "aaaa", 4, a), 0);
        assert_int_equal(store_put(s, "bbbbbbbb", 8, b), 0);
        assert_int_equal(store_put(s, "aaaa", 4, a), 0); /* again: no new object */
        assert_int_equal(store_n_objects(s), 2);
        assert_int_equal(store_bytes(s), 12);
        _cleanup_free_ char *pa = object_path(a), *la = xasprintf("%s/la", out);
        assert_int_equal(link(pa, la), 0);
        /* b is linked by nobody: collected */
        assert_int_equal(store_collect(s), 1);
        assert_int_equal(store_n_objects(s), 1);
        assert_int_equal(store_bytes(s), 4);
        /* a dropped (its bytes edited through a link), then forgotten names */
        assert_int_equal(store_put(s, "cc", 2, c), 0);
        _cleanup_free_ char *pc = object_path(c), *lc = xasprintf("%s/lc", out);
        assert_int_equal(link(pc, lc), 0);
        int fd = open(la, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "zzzz", 4), 4);
        close(fd);
        assert_int_equal(store_check_object(s, a), 1);
        assert_int_equal(store_n_objects(s), 1);
        assert_int_equal(store_bytes(s), 2);
        store_forget(s, c);
        store_forget(s, c); /* twice: counted once */
        assert_int_equal(store_n_objects(s), 0);
        assert_int_equal(store_bytes(s), 0);
        s = store_free(s);
        /* reopened: what is on the disk and linked (c) */
        assert_int_equal(store_open(out, (gid_t) -1, &s), 0);
        assert_int_equal(store_n_objects(s), 1);
        assert_int_equal(store_bytes(s), 2);
        s = store_free(s);
        assert_int_equal(store_n_objects(NULL), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_put_names_bytes_modes, setup, teardown),
                cmocka_unit_test(test_tmpfs_is_not_durable),
                cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
                cmocka_unit_test_setup_teardown(test_collect, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reopen_keeps_objects, setup, teardown),
                cmocka_unit_test_setup_teardown(test_planted_store_symlink, setup, teardown),
                cmocka_unit_test_setup_teardown(test_check_object, setup, teardown),
                cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
