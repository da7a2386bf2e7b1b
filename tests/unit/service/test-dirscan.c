/* SPDX-License-Identifier: MIT */
/* dirscan: the comparison the source watch's rescan makes of two listings
 * of an unwatched directory (added, removed, changed entries; directories
 * by identity only), on hand-made listings, and one listing of a real
 * mkdtemp() directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "dirscan.h"

typedef struct Seen {
        char names[16][32];
        bool dirs[16];
        size_t n;
} Seen;

static void seen(void *userdata, const char *name, bool is_dir) {
        Seen *s = userdata;
        assert_true(s->n < 16);
        snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
        s->dirs[s->n++] = is_dir;
}

static struct stat file_st(ino_t ino, off_t size, time_t mtime, time_t ctime) {
        struct stat st = { .st_mode = S_IFREG | 0644, .st_dev = 1, .st_ino = ino, .st_size = size };
        st.st_mtim.tv_sec = mtime;
        st.st_ctim.tv_sec = ctime;
        return st;
}

static struct stat dir_st(ino_t ino, time_t mtime) {
        struct stat st = { .st_mode = S_IFDIR | 0755, .st_dev = 1, .st_ino = ino, .st_size = 4096 };
        st.st_mtim.tv_sec = st.st_ctim.tv_sec = mtime;
        return st;
}

static void test_same_listing_no_change(void **state) {
        DirScan a = {}, b = {};
        struct stat f = file_st(10, 100, 5, 5), d = dir_st(11, 5);
        dirscan_add(&a, "lds.yaml", &f);
        dirscan_add(&a, "sub", &d);
        dirscan_add(&b, "sub", &d);
        dirscan_add(&b, "lds.yaml", &f);
        dirscan_sort(&a);
        dirscan_sort(&b);
        Seen s = {};
        assert_int_equal(dirscan_diff(&a, &b, seen, &s), 0);
        dirscan_done(&a);
        dirscan_done(&b);
}

static void test_each_attribute_counts(void **state) {
        /* inode (renamed into place), size, mtime, ctime (a same-size write
         * within one mtime tick after a touch -m back) */
        struct stat old = file_st(10, 100, 5, 5);
        struct stat news[] = { file_st(99, 100, 5, 5), file_st(10, 101, 5, 5), file_st(10, 100, 6, 5),
                               file_st(10, 100, 5, 6) };
        for (size_t i = 0; i < ELEMENTSOF(news); i++) {
                DirScan a = {}, b = {};
                dirscan_add(&a, "cds.yaml", &old);
                dirscan_add(&b, "cds.yaml", &news[i]);
                Seen s = {};
                assert_int_equal(dirscan_diff(&a, &b, seen, &s), 1);
                assert_string_equal(s.names[0], "cds.yaml");
                assert_false(s.dirs[0]);
                dirscan_done(&a);
                dirscan_done(&b);
        }
}

static void test_added_removed_in_name_order(void **state) {
        DirScan a = {}, b = {};
        struct stat f = file_st(1, 1, 1, 1), d = dir_st(2, 1);
        dirscan_add(&a, "a.yaml", &f);
        dirscan_add(&a, "gone", &d);
        dirscan_add(&a, "m.yaml", &f);
        dirscan_add(&b, "b.yaml", &f);
        dirscan_add(&b, "m.yaml", &f);
        dirscan_add(&b, "z", &d);
        Seen s = {};
        assert_int_equal(dirscan_diff(&a, &b, seen, &s), 4);
        assert_string_equal(s.names[0], "a.yaml");
        assert_false(s.dirs[0]);
        assert_string_equal(s.names[1], "b.yaml");
        assert_string_equal(s.names[2], "gone");
        assert_true(s.dirs[2]);
        assert_string_equal(s.names[3], "z");
        assert_true(s.dirs[3]);
        dirscan_done(&a);
        dirscan_done(&b);
}

static void test_directories_by_identity_only(void **state) {
        /* a subdirectory's own mtime changes with its entries (its own
         * listing covers those); replaced by another directory or a file,
         * it is a change */
        DirScan a = {}, b = {}, c = {}, d = {};
        struct stat d1 = dir_st(5, 1), d1_later = dir_st(5, 9), d2 = dir_st(6, 1), f = file_st(5, 1, 1, 1);
        dirscan_add(&a, "sub", &d1);
        dirscan_add(&b, "sub", &d1_later);
        dirscan_add(&c, "sub", &d2);
        dirscan_add(&d, "sub", &f);
        Seen s = {};
        assert_int_equal(dirscan_diff(&a, &b, seen, &s), 0);
        assert_int_equal(dirscan_diff(&a, &c, seen, &s), 1);
        assert_true(s.dirs[0]);
        assert_int_equal(dirscan_diff(&a, &d, seen, &s), 1);
        assert_true(s.dirs[1]);
        dirscan_done(&a);
        dirscan_done(&b);
        dirscan_done(&c);
        dirscan_done(&d);
}

static void test_empty_listings(void **state) {
        DirScan a = {}, b = {};
        struct stat f = file_st(1, 1, 1, 1);
        Seen s = {};
        assert_int_equal(dirscan_diff(&a, &b, seen, &s), 0);
        dirscan_add(&b, "x.yaml", &f);
        assert_int_equal(dirscan_diff(&a, &b, seen, &s), 1);
        assert_int_equal(dirscan_diff(&b, &a, seen, &s), 1);
        dirscan_done(&b);
}

static void test_read_real_directory(void **state) {
        char dir[] = "/tmp/test-dirscan-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *f = xasprintf("%s/b.yaml", dir), *sub = xasprintf("%s/a", dir),
                           *dot = xasprintf("%s/.hidden", dir), *link = xasprintf("%s/c", dir);
        int fd = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "x: 1\n", 5), 5);
        close(fd);
        assert_int_equal(mkdir(sub, 0755), 0);
        assert_int_equal(mkdir(dot, 0755), 0);
        assert_int_equal(symlink("a", link), 0); /* followed, as the build does */
        DirScan s = {};
        assert_int_equal(dirscan_read(dir, &s), 0);
        assert_int_equal(s.n, 3);
        assert_string_equal(s.entries[0].name, "a");
        assert_true(s.entries[0].is_dir);
        assert_string_equal(s.entries[1].name, "b.yaml");
        assert_false(s.entries[1].is_dir);
        assert_int_equal(s.entries[1].size, 5);
        assert_string_equal(s.entries[2].name, "c");
        assert_true(s.entries[2].is_dir);
        assert_int_equal(s.entries[2].ino, s.entries[0].ino);
        dirscan_done(&s);
        DirScan none = {};
        _cleanup_free_ char *missing = xasprintf("%s/missing", dir);
        assert_int_equal(dirscan_read(missing, &none), -ENOENT);
        assert_int_equal(dirscan_read(f, &none), -ENOTDIR);
        unlink(link);
        unlink(f);
        rmdir(sub);
        rmdir(dot);
        rmdir(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_same_listing_no_change),
                cmocka_unit_test(test_each_attribute_counts),
                cmocka_unit_test(test_added_removed_in_name_order),
                cmocka_unit_test(test_directories_by_identity_only),
                cmocka_unit_test(test_empty_listings),
                cmocka_unit_test(test_read_real_directory),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
