/* SPDX-License-Identifier: MIT */
/* watch: both backends against the real kernel on a mkdtemp() tree — writes,
 * renames into place, copies, deletes, new and moved directories, editor
 * saves, files outside the tree, queue overflow, a missing or replaced root.
 * Absence is checked with a barrier (a file written last, whose report means
 * every earlier event was read), never with a sleep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sys/stat.h>
#include <time.h>

#include "watch.h"

#define RESCAN "<rescan>"
/* An upper bound on waiting for an event that must come, never asserted on. */
#define WAIT_MS 5000

static const WatchBackend inotify = WATCH_BACKEND_INOTIFY;
static const WatchBackend fanotify = WATCH_BACKEND_FANOTIFY;

typedef struct Fixture {
        WatchBackend backend;
        char base[64]; /* holds the root and its siblings outside the tree */
        char *root;    /* base/conf.d */
        Watch *w;
        char **got; /* what the callback reported, NULL as RESCAN */
        size_t n_got;
        unsigned n_barriers;
} Fixture;

/* A lowered /proc/sys/fs/…/max_queued_events, put back in teardown too. */
static char *sysctl_path;
static char *sysctl_saved;

static void sysctl_restore(void) {
        if (!sysctl_path)
                return;
        _cleanup_close_ int fd = open(sysctl_path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0)
                (void) !write(fd, sysctl_saved, strlen(sysctl_saved));
        free(sysctl_path);
        free(sysctl_saved);
        sysctl_path = sysctl_saved = NULL;
}

static bool sysctl_lower(const char *path, const char *value) {
        char *old = NULL;
        size_t len;
        if (read_file_bounded(path, 64, &old, &len) < 0)
                return false;
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, value, strlen(value)) != (ssize_t) strlen(value)) {
                free(old);
                return false;
        }
        sysctl_path = xstrdup(path);
        sysctl_saved = old;
        return true;
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        (void) remove(p);
        return 0; /* go on: remove what can be */
}

static void rm_rf(const char *p) {
        nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static char *at(const Fixture *f, const char *rel) {
        return xasprintf("%s/%s", f->root, rel);
}

static char *out(const Fixture *f, const char *rel) {
        return xasprintf("%s/%s", f->base, rel);
}

/* open(O_CREAT|O_TRUNC) + write + close: an in-place write, as cp does */
static void write_path(const char *path, const char *text) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
}

static void put(const Fixture *f, const char *rel, const char *text) {
        _cleanup_free_ char *p = at(f, rel);
        write_path(p, text);
}

static void mkdirs(const Fixture *f, const char *rel) {
        _cleanup_free_ char *p = at(f, rel);
        assert_int_equal(mkdir_p(p, 0755), 0);
}

static void move(const char *from, const char *to) {
        assert_int_equal(rename(from, to), 0);
}

static void on_change(void *userdata, const char *path) {
        Fixture *f = userdata;
        f->got = xrealloc(f->got, (f->n_got + 1) * sizeof(char *));
        f->got[f->n_got++] = xstrdup(path ?: RESCAN);
}

static bool got(const Fixture *f, const char *what) {
        for (size_t i = 0; i < f->n_got; i++)
                if (streq(f->got[i], what))
                        return true;
        return false;
}

static void forget(Fixture *f) {
        for (size_t i = 0; i < f->n_got; i++)
                free(f->got[i]);
        f->n_got = 0;
}

/* Processes events until one of what (NULL-terminated) is reported; returns
 * it, or NULL when nothing came within WAIT_MS. */
static const char *wait_any(Fixture *f, const char *const *what) {
        uint64_t deadline = now_ms() + WAIT_MS;
        for (;;) {
                for (const char *const *p = what; *p; p++)
                        if (got(f, *p))
                                return *p;
                uint64_t now = now_ms();
                if (now >= deadline)
                        return NULL;
                struct pollfd pfd = { .fd = watch_get_fd(f->w), .events = POLLIN };
                int r = poll(&pfd, 1, (int) (deadline - now));
                assert_true(r >= 0 || errno == EINTR);
                assert_true(watch_process(f->w, on_change, f) >= 0);
        }
}

static bool wait_for(Fixture *f, const char *what) {
        const char *const list[] = { what, NULL };
        return wait_any(f, list) != NULL;
}

/* Writes a new file and waits for its report: events are queued in order, so
 * everything done before has been read by then. */
static void barrier(Fixture *f) {
        _cleanup_free_ char *rel = xasprintf("common/zz-barrier-%u.yaml", f->n_barriers++);
        put(f, rel, "b: 1\n");
        assert_true(wait_for(f, rel));
}

/* Only barriers and the paths listed (NULL-terminated) were reported. */
static void assert_only(const Fixture *f, const char *const *allowed) {
        for (size_t i = 0; i < f->n_got; i++) {
                bool ok = startswith(f->got[i], "common/zz-barrier-");
                for (const char *const *a = allowed; !ok && *a; a++)
                        ok = streq(f->got[i], *a);
                if (!ok)
                        fail_msg("unexpected report: %s", f->got[i]);
        }
}

static int setup(void **state) {
        Fixture *f = xcalloc(1, sizeof(Fixture));
        f->backend = *(const WatchBackend *) *state;
        strcpy(f->base, "/tmp/fsxds-test-watch-XXXXXX");
        assert_non_null(mkdtemp(f->base));
        f->root = out(f, "conf.d");
        mkdirs(f, "common");
        mkdirs(f, "nodes/edge");
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        sysctl_restore();
        watch_free(f->w);
        forget(f);
        free(f->got);
        rm_rf(f->base);
        free(f->root);
        free(f);
        return 0;
}

/* Starts the watch, or skips the test where fanotify is not available. */
static void start(Fixture *f) {
        char *reason = NULL;
        int r = watch_new(f->backend, f->root, &f->w, &reason);
        if (f->backend == WATCH_BACKEND_FANOTIFY && r < 0 &&
            (r == -EPERM || r == -EINVAL || r == -ENOSYS || r == -ENODEV || r == -EXDEV || r == -EOPNOTSUPP)) {
                print_message("fanotify is not available here (%s; needs root/CAP_SYS_ADMIN, Linux 5.9 and a "
                              "filesystem with file handles): skipped\n",
                              strerror(-r));
                skip();
        }
        assert_int_equal(r, 0);
        assert_null(reason);
        assert_int_equal(watch_get_backend(f->w), f->backend);
}

static void test_source_name(void **state) {
        const char *yes[] = { "lds.yaml", "a.yml", "x.json", "4913.yaml", "v1.cds.yaml" };
        const char *no[] = { ".x.yaml.swp", ".lds.yaml", "lds.yaml~", "4913", ".#lds.yaml", "#lds.yaml#",
                             "lds.yaml.swp", "README.md", "lds.yaml.tmp", "lds", "" };
        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                assert_true(watch_is_source_name(yes[i]));
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                assert_false(watch_is_source_name(no[i]));
}

static void test_fd(void **state) {
        Fixture *f = *state;
        start(f);
        int fd = watch_get_fd(f->w);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
        /* nothing happened in the tree: returns at once, reports nothing */
        assert_int_equal(watch_process(f->w, on_change, f), 0);
        assert_int_equal(f->n_got, 0);
}

static void test_write(void **state) {
        Fixture *f = *state;
        start(f);
        put(f, "common/a.yaml", "a: 1\n");
        assert_true(wait_for(f, "common/a.yaml"));
        put(f, "nodes/edge/lds.json", "{}\n");
        assert_true(wait_for(f, "nodes/edge/lds.json"));
        put(f, "top.yml", "t: 1\n");
        assert_true(wait_for(f, "top.yml"));
        barrier(f);
        assert_false(got(f, RESCAN));
}

static void test_rename_into_place(void **state) {
        Fixture *f = *state;
        start(f);
        put(f, "common/.a.yaml.tmp", "a: 1\n");
        _cleanup_free_ char *tmp = at(f, "common/.a.yaml.tmp"), *dst = at(f, "common/a.yaml");
        move(tmp, dst);
        assert_true(wait_for(f, "common/a.yaml"));

        put(f, "nodes/edge/lds.yaml.new", "l: 1\n");
        _cleanup_free_ char *tmp2 = at(f, "nodes/edge/lds.yaml.new"), *dst2 = at(f, "nodes/edge/lds.yaml");
        move(tmp2, dst2);
        assert_true(wait_for(f, "nodes/edge/lds.yaml"));

        /* a rename away is a change too (the file is gone) */
        forget(f);
        _cleanup_free_ char *away = out(f, "lds.yaml");
        move(dst2, away);
        assert_true(wait_for(f, "nodes/edge/lds.yaml"));
        barrier(f);
        assert_only(f, (const char *const[]) { "nodes/edge/lds.yaml", NULL });
}

static void copy_file(const char *from, const char *to) {
        char *data = NULL;
        size_t len;
        assert_int_equal(read_file_bounded(from, 1 << 20, &data, &len), 0);
        _cleanup_close_ int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t) len);
        free(data);
}

static void test_copy(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *src = out(f, "src.yaml"), *dst = at(f, "nodes/edge/cds.yaml");
        write_path(src, "c: 1\n");
        start(f);
        copy_file(src, dst); /* a new file */
        assert_true(wait_for(f, "nodes/edge/cds.yaml"));
        barrier(f);
        forget(f);
        write_path(src, "c: 2\n");
        copy_file(src, dst); /* over the old one, in place */
        assert_true(wait_for(f, "nodes/edge/cds.yaml"));
        barrier(f);
        assert_only(f, (const char *const[]) { "nodes/edge/cds.yaml", NULL });
}

static void test_delete(void **state) {
        Fixture *f = *state;
        put(f, "common/gone.yaml", "g: 1\n");
        put(f, "nodes/edge/lds.yaml", "l: 1\n");
        start(f);
        _cleanup_free_ char *p = at(f, "common/gone.yaml");
        assert_int_equal(unlink(p), 0);
        assert_true(wait_for(f, "common/gone.yaml"));

        /* a whole node: its files, then the directory itself */
        forget(f);
        _cleanup_free_ char *node = at(f, "nodes/edge");
        rm_rf(node);
        assert_true(wait_for(f, "nodes/edge/lds.yaml"));
        assert_true(wait_for(f, RESCAN));
}

/* mkdir -p and a file at once, many times: the new directories are watched
 * before they are listed, so a file created in the gap is never lost and
 * later files are reported by name. */
static void test_new_directories(void **state) {
        Fixture *f = *state;
        start(f);
        for (unsigned i = 0; i < 20; i++) {
                _cleanup_free_ char *dir = xasprintf("nodes/n%u/x/y", i);
                _cleanup_free_ char *first = xasprintf("%s/first.yaml", dir);
                _cleanup_free_ char *second = xasprintf("%s/second.yaml", dir);
                forget(f);
                mkdirs(f, dir);
                put(f, first, "f: 1\n");
                /* the file may come by name, and the new directories always as a rescan */
                assert_true(wait_for(f, RESCAN));
                put(f, second, "s: 1\n");
                assert_true(wait_for(f, second));
        }
        /* an empty directory is a new node: a rescan */
        forget(f);
        mkdirs(f, "nodes/empty");
        assert_true(wait_for(f, RESCAN));
}

static void test_directory_moved_in_and_out(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *incoming = out(f, "incoming"), *sub = out(f, "incoming/sub");
        _cleanup_free_ char *x = out(f, "incoming/x.yaml"), *y = out(f, "incoming/sub/y.yaml");
        assert_int_equal(mkdir_p(sub, 0755), 0);
        write_path(x, "x: 1\n");
        write_path(y, "y: 1\n");
        start(f);

        _cleanup_free_ char *moved = at(f, "nodes/moved");
        move(incoming, moved);
        assert_true(wait_for(f, RESCAN));
        forget(f);
        put(f, "nodes/moved/sub/z.yaml", "z: 1\n");
        assert_true(wait_for(f, "nodes/moved/sub/z.yaml"));

        /* moved within the tree: reported under the new path only */
        forget(f);
        _cleanup_free_ char *renamed = at(f, "common/moved");
        move(moved, renamed);
        assert_true(wait_for(f, RESCAN));
        forget(f);
        put(f, "common/moved/sub/w.yaml", "w: 1\n");
        assert_true(wait_for(f, "common/moved/sub/w.yaml"));
        assert_false(got(f, "nodes/moved/sub/w.yaml"));

        /* moved out: a rescan, and nothing from it afterwards */
        forget(f);
        _cleanup_free_ char *gone = out(f, "gone"), *later = out(f, "gone/sub/later.yaml");
        move(renamed, gone);
        assert_true(wait_for(f, RESCAN));
        forget(f);
        write_path(later, "l: 1\n");
        barrier(f);
        assert_only(f, (const char *const[]) { NULL });
}

/* vim with backup: .x.swp, the 4913 probe, x renamed to x~, x written, x~
 * deleted; then emacs's lock and autosave files. Only x is ever reported. */
static void test_editor_save(void **state) {
        Fixture *f = *state;
        put(f, "common/x.yaml", "x: 1\n");
        start(f);
        _cleanup_free_ char *x = at(f, "common/x.yaml"), *backup = at(f, "common/x.yaml~");
        _cleanup_free_ char *swp = at(f, "common/.x.yaml.swp"), *probe = at(f, "common/4913");
        _cleanup_free_ char *lock = at(f, "common/.#x.yaml"), *autosave = at(f, "common/#x.yaml#");

        write_path(swp, "swap");
        write_path(probe, "");
        assert_int_equal(unlink(probe), 0);
        move(x, backup);
        write_path(x, "x: 2\n");
        assert_int_equal(unlink(backup), 0);
        write_path(swp, "swap 2");
        assert_int_equal(unlink(swp), 0);

        assert_int_equal(symlink("user@host.1234:1", lock), 0);
        write_path(autosave, "x: 3\n");
        assert_int_equal(unlink(autosave), 0);
        assert_int_equal(unlink(lock), 0);

        barrier(f);
        assert_true(got(f, "common/x.yaml"));
        assert_only(f, (const char *const[]) { "common/x.yaml", NULL });
}

/* Nothing outside the tree, in dot-directories or in the root's parent is
 * reported (fanotify marks the whole filesystem: these are on it). */
static void test_outside(void **state) {
        Fixture *f = *state;
        start(f);
        _cleanup_free_ char *sibling = out(f, "sibling"), *in_sibling = out(f, "sibling/a.yaml");
        _cleanup_free_ char *next_to_root = out(f, "outside.yaml");
        write_path(next_to_root, "o: 1\n");
        assert_int_equal(mkdir(sibling, 0755), 0);
        write_path(in_sibling, "a: 1\n");
        mkdirs(f, ".git");
        put(f, ".git/config.yaml", "c: 1\n");
        mkdirs(f, "common/.hidden");
        put(f, "common/.hidden/h.yaml", "h: 1\n");
        put(f, "common/notes.txt", "n\n");
        barrier(f);
        assert_only(f, (const char *const[]) { NULL });
}

/* A ConfigMap-style switch: a new ..data symlink renamed over the old one. */
static void test_kubernetes_data(void **state) {
        Fixture *f = *state;
        mkdirs(f, "common/..2024_01");
        put(f, "common/..2024_01/cds.yaml", "c: 1\n");
        _cleanup_free_ char *data = at(f, "common/..data"), *tmp = at(f, "common/..data_tmp");
        assert_int_equal(symlink("..2024_01", data), 0);
        start(f);
        mkdirs(f, "common/..2024_02");
        put(f, "common/..2024_02/cds.yaml", "c: 2\n");
        assert_int_equal(symlink("..2024_02", tmp), 0);
        move(tmp, data);
        assert_true(wait_for(f, RESCAN));
        barrier(f);
        assert_only(f, (const char *const[]) { RESCAN, NULL });
}

/* mv conf.d conf.d.old; mkdir conf.d: a rescan, then the new root is watched
 * and the old one is not. */
static void test_root_replaced(void **state) {
        Fixture *f = *state;
        put(f, "common/a.yaml", "a: 1\n");
        start(f);
        _cleanup_free_ char *old = out(f, "conf.d.old"), *old_file = out(f, "conf.d.old/common/d.yaml");
        move(f->root, old);
        mkdirs(f, "common");
        put(f, "common/b.yaml", "b: 1\n");
        assert_true(wait_for(f, RESCAN));
        forget(f);
        put(f, "common/c.yaml", "c: 1\n");
        assert_true(wait_for(f, "common/c.yaml"));
        write_path(old_file, "d: 1\n");
        barrier(f);
        assert_only(f, (const char *const[]) { "common/c.yaml", NULL });

        /* rm -rf, then mkdir again */
        forget(f);
        rm_rf(f->root);
        assert_true(wait_for(f, RESCAN));
        forget(f);
        mkdirs(f, "nodes/e");
        assert_true(wait_for(f, RESCAN));
        forget(f);
        put(f, "nodes/e/l.yaml", "l: 1\n");
        assert_true(wait_for(f, "nodes/e/l.yaml"));
}

/* The root as a symlink switched to another tree (ln -s v2 tmp; mv -T tmp
 * conf.d): a rescan, then the new target is watched and the old one is not. */
static void test_root_symlink_switch(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *v1 = out(f, "v1"), *v2 = out(f, "v2/common"), *tmp = out(f, "conf.d.tmp");
        _cleanup_free_ char *old_file = out(f, "v1/common/old.yaml");
        rm_rf(f->root);
        assert_int_equal(mkdir_p(v2, 0755), 0);
        _cleanup_free_ char *v2_dir = out(f, "v2");
        move(v2_dir, v1);
        assert_int_equal(mkdir_p(v2, 0755), 0);
        assert_int_equal(symlink("v1", f->root), 0);
        start(f);
        put(f, "common/a.yaml", "a: 1\n");
        assert_true(wait_for(f, "common/a.yaml"));

        forget(f);
        assert_int_equal(symlink("v2", tmp), 0);
        move(tmp, f->root);
        assert_true(wait_for(f, RESCAN));
        forget(f);
        write_path(old_file, "o: 1\n");
        put(f, "common/b.yaml", "b: 1\n");
        assert_true(wait_for(f, "common/b.yaml"));
        barrier(f);
        assert_only(f, (const char *const[]) { "common/b.yaml", NULL });
}

/* A symlink to a directory is followed, as the build follows it. */
static void test_symlinked_directory(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *shared = out(f, "shared"), *link = at(f, "nodes/edge/shared");
        _cleanup_free_ char *file = out(f, "shared/s.yaml"), *later = out(f, "shared2");
        assert_int_equal(mkdir(shared, 0755), 0);
        assert_int_equal(symlink("../../../shared", link), 0);
        start(f);
        write_path(file, "s: 1\n");
        assert_true(wait_for(f, "nodes/edge/shared/s.yaml"));

        /* a symlink to a directory created later: a rescan, then watched */
        forget(f);
        _cleanup_free_ char *link2 = at(f, "common/shared2"), *file2 = out(f, "shared2/t.yaml");
        assert_int_equal(mkdir(later, 0755), 0);
        assert_int_equal(symlink("../../shared2", link2), 0);
        assert_true(wait_for(f, RESCAN));
        write_path(file2, "t: 1\n");
        assert_true(wait_for(f, "common/shared2/t.yaml"));
}

/* A root that does not exist yet, two levels down: an idle watch, then a
 * rescan when it appears, then its files by name. */
static void test_root_missing(void **state) {
        Fixture *f = *state;
        rm_rf(f->root);
        free(f->root);
        f->root = out(f, "deep/er/conf.d");
        start(f);
        assert_int_equal(watch_process(f->w, on_change, f), 0);
        mkdirs(f, "common");
        put(f, "common/a.yaml", "a: 1\n");
        assert_true(wait_for(f, RESCAN));
        forget(f);
        put(f, "common/b.yaml", "b: 1\n");
        assert_true(wait_for(f, "common/b.yaml"));
}

/* Fills a queue lowered to a few events: a rescan, and the watch still works. */
static void test_overflow(void **state) {
        Fixture *f = *state;
        bool ino = f->backend == WATCH_BACKEND_INOTIFY;
        if (geteuid() != 0) {
                print_message("needs root to lower max_queued_events: skipped\n");
                skip();
        }
        if (!sysctl_lower(ino ? "/proc/sys/fs/inotify/max_queued_events" : "/proc/sys/fs/fanotify/max_queued_events",
                          ino ? "16" : "256")) {
                print_message("cannot lower max_queued_events (%m): skipped\n");
                skip();
        }
        start(f); /* the limit is taken when the queue is created */
        sysctl_restore();

        for (unsigned i = 0; i < (ino ? 100u : 2000u); i++) {
                _cleanup_free_ char *rel = xasprintf("common/f%u.yaml", i);
                put(f, rel, "f: 1\n");
        }
        assert_true(wait_for(f, RESCAN));

        /* Still watching. fanotify sees the whole (shared, busy) filesystem
         * through its small queue, so it may overflow again: try again then. */
        bool seen = false;
        for (unsigned i = 0; i < 10 && !seen; i++) {
                _cleanup_free_ char *rel = xasprintf("common/after-%u.yaml", i);
                forget(f);
                put(f, rel, "a: 1\n");
                const char *r = wait_any(f, (const char *const[]) { rel, RESCAN, NULL });
                assert_non_null(r);
                seen = streq(r, rel) || wait_for(f, rel);
        }
        assert_true(seen);
}

static void test_auto(void **state) {
        Fixture *f = *state;
        char *reason = NULL;
        assert_int_equal(watch_new(WATCH_BACKEND_AUTO, f->root, &f->w, &reason), 0);
        WatchBackend b = watch_get_backend(f->w);
        if (b == WATCH_BACKEND_FANOTIFY)
                assert_null(reason);
        else {
                assert_int_equal(b, WATCH_BACKEND_INOTIFY);
                assert_non_null(reason);
                print_message("auto fell back to inotify: %s\n", reason);
                free(reason);
        }
        put(f, "common/a.yaml", "a: 1\n");
        assert_true(wait_for(f, "common/a.yaml"));
}

#define WITH(t, backend) { #t "/" #backend, t, setup, teardown, (void *) &backend }
#define BOTH(t) WITH(t, inotify), WITH(t, fanotify)

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_source_name),
                BOTH(test_fd),
                BOTH(test_write),
                BOTH(test_rename_into_place),
                BOTH(test_copy),
                BOTH(test_delete),
                BOTH(test_new_directories),
                BOTH(test_directory_moved_in_and_out),
                BOTH(test_editor_save),
                BOTH(test_outside),
                BOTH(test_kubernetes_data),
                BOTH(test_root_replaced),
                BOTH(test_root_symlink_switch),
                BOTH(test_symlinked_directory),
                BOTH(test_root_missing),
                BOTH(test_overflow),
                WITH(test_auto, inotify), /* the backend given is not used */
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
