/* SPDX-License-Identifier: MIT */
/* util: the byte buffer, string helpers, bounded file reads, atomic
 * writes, mkdir -p and sha256 — on real files in a scratch directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "sha256.h"
#include "util.h"

static char root[64];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(p);
}

static int setup(void **state) {
        snprintf(root, sizeof(root), "/tmp/fsxds-test-util-XXXXXX");
        return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state) {
        nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        return 0;
}

static char *in_root(const char *name) {
        return xasprintf("%s/%s", root, name);
}

static void test_buf_append_printf_steal(void **state) {
        Buf b = {};
        buf_append(&b, "ab", 2);
        buf_append(&b, "ignored", 0);
        buf_putc(&b, 'c');
        buf_printf(&b, "-%d-%s", 42, "x");
        assert_int_equal(b.len, 8);
        assert_memory_equal(b.data, "abc-42-x", 8);
        assert_int_equal(b.cap, 256); /* the first reservation */
        char *s = buf_steal_str(&b);
        assert_string_equal(s, "abc-42-x");
        assert_null(b.data);
        assert_int_equal(b.len, 0);
        assert_int_equal(b.cap, 0);
        free(s);
}

static void test_buf_grows_by_doubling(void **state) {
        Buf b = {};
        char chunk[300];
        memset(chunk, 'z', sizeof chunk);
        buf_append(&b, chunk, sizeof chunk);
        assert_int_equal(b.cap, 512);
        buf_reserve(&b, 1000);
        assert_int_equal(b.cap, 2048);
        assert_int_equal(b.len, 300);
        buf_reserve(&b, 10); /* fits: no change */
        assert_int_equal(b.cap, 2048);
        buf_free(&b);
        assert_null(b.data);
        assert_int_equal(b.cap, 0);
}

static void test_buf_steal_empty(void **state) {
        Buf b = {};
        char *s = buf_steal_str(&b);
        assert_string_equal(s, "");
        free(s);
}

static void test_buf_put_index(void **state) {
        Buf b = {};
        buf_put_index(&b, 0);
        buf_put_index(&b, 7);
        buf_put_index(&b, 1234567890);
        char *s = buf_steal_str(&b);
        assert_string_equal(s, "[0][7][1234567890]");
        free(s);
}

static void test_buf_put_json_string(void **state) {
        Buf b = {};
        buf_put_json_string(&b, "a\"b\\c\nd\te\x01\x1f/é");
        char *s = buf_steal_str(&b);
        assert_string_equal(s, "\"a\\\"b\\\\c\\nd\\te\\u0001\\u001f/é\"");
        free(s);
}

static void test_strings(void **state) {
        assert_true(startswith("lds/lds.pb", "lds/"));
        assert_true(startswith("lds", ""));
        assert_false(startswith("ld", "lds"));
        assert_true(endswith("lds/lds.pb", ".pb"));
        assert_true(endswith("x", ""));
        assert_false(endswith("pb", ".pb"));
        assert_true(streq("a", "a"));
        assert_false(streq("a", "ab"));
        assert_true(strneq_len("abc", 2, "ab"));
        assert_false(strneq_len("abc", 3, "ab"));
        _cleanup_free_ char *n = xstrndup("hello", 3);
        assert_string_equal(n, "hel");
        _cleanup_free_ char *p = xasprintf("%s:%u", "f", 3u);
        assert_string_equal(p, "f:3");
}

static void test_edit_distance(void **state) {
        assert_int_equal(edit_distance("web", "web", 3), 0);
        assert_int_equal(edit_distance("webb", "web", 3), 1);       /* insertion */
        assert_int_equal(edit_distance("wb", "web", 3), 1);         /* deletion */
        assert_int_equal(edit_distance("wab", "web", 3), 1);        /* substitution */
        assert_int_equal(edit_distance("ewb", "web", 3), 1);        /* adjacent swap: one edit, not two */
        assert_int_equal(edit_distance("", "abc", 3), 3);
        assert_int_equal(edit_distance("kitten", "sitting", 5), 3);
        assert_int_equal(edit_distance("source_dir", "sorce_dri", 5), 2);
        /* above max: max + 1, by length alone or after the table */
        assert_int_equal(edit_distance("a", "abcdef", 2), 3);
        assert_int_equal(edit_distance("abcdef", "uvwxyz", 2), 3);
        /* names of any length */
        char a[300], b[300];
        memset(a, 'x', sizeof a - 1);
        a[sizeof a - 1] = 0;
        memcpy(b, a, sizeof b);
        b[150] = 'y';
        assert_int_equal(edit_distance(a, b, 10), 1);
}

static void test_closest_match(void **state) {
        static const char *const clusters[] = { "web", "api", "backend", "web-canary" };
        assert_string_equal(closest_match("webb", clusters, ELEMENTSOF(clusters)), "web");
        assert_string_equal(closest_match("bakcend", clusters, ELEMENTSOF(clusters)), "backend");
        assert_string_equal(closest_match("web-canry", clusters, ELEMENTSOF(clusters)), "web-canary");
        /* too far: one edit per three bytes of the longer name */
        assert_null(closest_match("xyz", clusters, ELEMENTSOF(clusters)));
        static const char *const short_names[] = { "r0", "ab" };
        assert_null(closest_match("r9", short_names, ELEMENTSOF(short_names)));
        assert_string_equal(closest_match("abc", short_names, ELEMENTSOF(short_names)), "ab");
        assert_string_equal(closest_match("bcknd", clusters, ELEMENTSOF(clusters)), "backend"); /* 2 edits, 7 bytes */
        assert_null(closest_match("bknd", clusters, ELEMENTSOF(clusters)));                     /* 3 edits, 7 bytes */
        assert_null(closest_match("frontend", clusters, ELEMENTSOF(clusters)));
        /* itself is no suggestion; nothing to choose from neither */
        assert_null(closest_match("api", clusters, ELEMENTSOF(clusters)));
        assert_null(closest_match("api", NULL, 0));
        /* a tie suggests nothing; the same name twice is no tie */
        static const char *const two[] = { "web1", "web3" };
        assert_null(closest_match("web2", two, ELEMENTSOF(two)));
        static const char *const same[] = { "web1", "web1" };
        assert_string_equal(closest_match("web2", same, ELEMENTSOF(same)), "web1");
        static const char *const keys[] = { "source_dir", "output_dir", "state_dir", "settle", "settle_max" };
        assert_string_equal(closest_match("sorce_dir", keys, ELEMENTSOF(keys)), "source_dir");
        assert_string_equal(closest_match("output_dri", keys, ELEMENTSOF(keys)), "output_dir");
        assert_string_equal(closest_match("setle", keys, ELEMENTSOF(keys)), "settle");
}

static void test_format_bytes(void **state) {
        char b[FORMAT_BYTES_MAX];
        assert_string_equal(format_bytes(0, b), "0 bytes");
        assert_string_equal(format_bytes(1, b), "1 byte");
        assert_string_equal(format_bytes(1023, b), "1023 bytes");
        assert_string_equal(format_bytes(1024, b), "1 KiB");
        assert_string_equal(format_bytes(1536, b), "1.5 KiB");
        assert_string_equal(format_bytes(1u << 20, b), "1 MiB");
        assert_string_equal(format_bytes(128u << 20, b), "128 MiB");
        assert_string_equal(format_bytes((128u << 20) + 1, b), "128.0 MiB");
        assert_string_equal(format_bytes(1u << 30, b), "1 GiB");
        assert_string_equal(format_bytes((3ull << 30) + (1ull << 29), b), "3.5 GiB");
        assert_string_equal(format_bytes(UINT64_MAX, b), "16.0 EiB");
}

static void test_read_file_bounded(void **state) {
        _cleanup_free_ char *path = in_root("data");
        assert_int_equal(write_file_atomic(path, "0123456789", 10, 0644), 0);

        char *data = NULL;
        size_t len = 0;
        assert_int_equal(read_file_bounded(path, 10, &data, &len), 0);
        assert_int_equal(len, 10);
        assert_string_equal(data, "0123456789"); /* NUL-terminated */
        free(data);

        /* one byte over the limit */
        data = NULL;
        assert_int_equal(read_file_bounded(path, 9, &data, &len), -EFBIG);
        assert_null(data);
        /* ret_len is optional */
        assert_int_equal(read_file_bounded(path, 100, &data, NULL), 0);
        free(data);
}

static void test_read_file_bounded_refuses(void **state) {
        char *data = NULL;
        size_t len = 0;
        assert_int_equal(read_file_bounded(root, 1 << 20, &data, &len), -EISDIR);
        _cleanup_free_ char *missing = in_root("missing");
        assert_int_equal(read_file_bounded(missing, 1 << 20, &data, &len), -ENOENT);
        assert_null(data);
}

static void test_read_file_bounded_not_regular(void **state) {
        /* a FIFO without a writer: refused at once (a blocking open would
         * wait for a writer forever; issue 12), as are devices */
        _cleanup_free_ char *fifo = in_root("fifo");
        assert_int_equal(mkfifo(fifo, 0600), 0);
        char *data = NULL;
        size_t len = 0;
        assert_int_equal(read_file_bounded(fifo, 16, &data, &len), -EBADFD);
        assert_null(data);
        assert_int_equal(open_regular(fifo), -EBADFD);
        assert_int_equal(read_file_bounded("/dev/null", 16, &data, &len), -EBADFD);
        assert_non_null(strstr(read_error_string(-EBADFD), "not a regular file"));
        int fd = open_regular("/proc/self/status"); /* /proc's files are regular */
        assert_true(fd >= 0);
        assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
        close(fd);
}

static void test_read_regular_fd(void **state) {
        _cleanup_free_ char *path = in_root("key");
        assert_int_equal(write_file_atomic(path, "secret", 6, 0600), 0);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        uint8_t *data = NULL;
        size_t len = 0;
        assert_int_equal(read_regular_fd(fd, 6, &data, &len), 0);
        assert_int_equal(len, 6);
        assert_string_equal((char *) data, "secret");
        free(data);

        _cleanup_close_ int fd2 = open(path, O_RDONLY | O_CLOEXEC);
        data = NULL;
        assert_int_equal(read_regular_fd(fd2, 5, &data, &len), -EFBIG);
        assert_null(data);

        _cleanup_close_ int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(read_regular_fd(dfd, 100, &data, &len), -EBADFD);
}

static void test_write_file_atomic(void **state) {
        _cleanup_free_ char *path = in_root("out.pb");
        assert_int_equal(write_file_atomic(path, "one", 3, 0640), 0);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640); /* exact, whatever the umask */
        assert_int_equal(st.st_size, 3);

        /* replaced whole, mode too */
        assert_int_equal(write_file_atomic(path, "second", 6, 0604), 0);
        char *data = NULL;
        size_t len = 0;
        assert_int_equal(read_file_bounded(path, 100, &data, &len), 0);
        assert_string_equal(data, "second");
        free(data);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0604);

        /* no temporary file left behind */
        _cleanup_free_ char *tmp = xasprintf("%s.tmp.%d", path, (int) getpid());
        assert_int_equal(access(tmp, F_OK), -1);
        assert_int_equal(errno, ENOENT);

        /* an empty file is a file */
        assert_int_equal(write_file_atomic(path, NULL, 0, 0644), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_size, 0);
}

static void test_write_file_atomic_is_tmp(void **state) {
        assert_true(write_file_atomic_is_tmp("status.json.tmp.4242", "status.json"));
        assert_true(write_file_atomic_is_tmp("status.json.tmp.4242", NULL));
        assert_true(write_file_atomic_is_tmp("a.tmp.b.tmp.1", "a.tmp.b"));
        assert_false(write_file_atomic_is_tmp("status.json.tmp.4242", "other"));
        assert_false(write_file_atomic_is_tmp("status.json.tmp.", NULL));
        assert_false(write_file_atomic_is_tmp("status.json.tmp.old", NULL));
        assert_false(write_file_atomic_is_tmp(".tmp.1", NULL));
        assert_false(write_file_atomic_is_tmp("status.json", NULL));
        assert_false(write_file_atomic_is_tmp("xstatus.json.tmp.1", "status.json"));
}

static void test_write_file_atomic_missing_dir(void **state) {
        _cleanup_free_ char *path = in_root("no/such/dir/f");
        assert_int_equal(write_file_atomic(path, "x", 1, 0644), -ENOENT);
}

static void test_mkdir_p(void **state) {
        _cleanup_free_ char *deep = in_root("a/b/c");
        assert_int_equal(mkdir_p(deep, 0755), 0);
        struct stat st;
        assert_int_equal(stat(deep, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        /* again: nothing to do */
        assert_int_equal(mkdir_p(deep, 0755), 0);
        /* a trailing slash is fine */
        _cleanup_free_ char *slash = in_root("d/e/");
        assert_int_equal(mkdir_p(slash, 0755), 0);
        _cleanup_free_ char *e = in_root("d/e");
        assert_int_equal(stat(e, &st), 0);
        /* a file in the way */
        _cleanup_free_ char *file = in_root("file");
        assert_int_equal(write_file_atomic(file, "x", 1, 0644), 0);
        _cleanup_free_ char *under = in_root("file/sub");
        assert_int_equal(mkdir_p(under, 0755), -ENOTDIR);
}

static void test_sha256_hex(void **state) {
        char hex[65];
        sha256_hex("abc", 3, hex);
        assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        sha256_hex("", 0, hex);
        assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_buf_append_printf_steal),
                cmocka_unit_test(test_buf_grows_by_doubling),
                cmocka_unit_test(test_buf_steal_empty),
                cmocka_unit_test(test_buf_put_index),
                cmocka_unit_test(test_buf_put_json_string),
                cmocka_unit_test(test_strings),
                cmocka_unit_test(test_edit_distance),
                cmocka_unit_test(test_closest_match),
                cmocka_unit_test(test_format_bytes),
                cmocka_unit_test_setup_teardown(test_read_file_bounded, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_file_bounded_refuses, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_file_bounded_not_regular, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_regular_fd, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_file_atomic, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_file_atomic_missing_dir, setup, teardown),
                cmocka_unit_test(test_write_file_atomic_is_tmp),
                cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
                cmocka_unit_test(test_sha256_hex),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
