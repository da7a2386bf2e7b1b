/* SPDX-License-Identifier: MIT */
/* publish: generations published into real directories in both modes —
 * bytes and modes, nothing touched when nothing changed, one file touched
 * when one changed, shared inodes, the intermediate cds, the order of the
 * renames as inotify reports them, crash leftovers, planted symlinks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "publish.h"
#include "sha256.h"
#include "wire.h"
#include "../random.h"

static char root[64];
static char *out;
static Store *store;

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(p);
}

static PublishMode mode_of(void **state) {
        return *(const PublishMode *) *state;
}

static int setup_in(const char *base) {
        snprintf(root, sizeof(root), "%s/fsxds-test-publish-XXXXXX", base);
        if (!mkdtemp(root))
                return -1;
        out = xasprintf("%s/out", root);
        return store_open(out, getgid(), &store);
}

/* ext4 here: the store is durable, every sync path runs */
static int setup(void **state) {
        return setup_in("/tmp");
}

/* Thousands of directories: on tmpfs when there is one, since creating and
 * removing them on this disk costs ~0.3 + 1 ms each. */
static int setup_many(void **state) {
        struct statfs sfs;
        return setup_in(statfs("/dev/shm", &sfs) == 0 && sfs.f_type == TMPFS_MAGIC ? "/dev/shm" : "/tmp");
}

static int teardown(void **state) {
        store = store_free(store);
        nftw(root, rm_cb, 64, FTW_DEPTH | FTW_PHYS);
        free(out);
        return 0;
}

/* ---- building NodeOutputs ---- */

static int cmp_file(const void *a, const void *b) {
        return strcmp(((const NodeFile *) a)->path, ((const NodeFile *) b)->path);
}

static void out_set(NodeOutput *o, const char *path, const void *data, size_t len) {
        NodeFile *f = NULL;
        for (size_t i = 0; i < o->n && !f; i++)
                if (streq(o->files[i].path, path))
                        f = &o->files[i];
        if (!f) {
                o->files = xrealloc(o->files, (o->n + 1) * sizeof(NodeFile));
                f = &o->files[o->n++];
                *f = (NodeFile) { .path = xstrdup(path) };
        }
        free(f->data);
        f->data = xmalloc(len + 1);
        memcpy(f->data, data, len);
        f->len = len;
        qsort(o->files, o->n, sizeof(NodeFile), cmp_file);
}

static void out_text(NodeOutput *o, const char *path, const char *text) {
        out_set(o, path, text, strlen(text));
}

static void out_del(NodeOutput *o, const char *path) {
        for (size_t i = 0; i < o->n; i++)
                if (streq(o->files[i].path, path)) {
                        free(o->files[i].path);
                        free(o->files[i].data);
                        memmove(&o->files[i], &o->files[i + 1], (o->n - i - 1) * sizeof(NodeFile));
                        o->n--;
                        return;
                }
        fail_msg("no %s", path);
}

/* A cds DiscoveryResponse, framed as the compiler frames it; "a b=2": the
 * clusters a and b, b with a marker that makes it differ from plain b. */
static void out_cds(NodeOutput *o, const char *spec) {
        _cleanup_free_ char *copy = xstrdup(spec);
        Resource items[16] = {};
        Resource *ptrs[16];
        size_t n = 0;
        for (char *tok = strtok(copy, " "); tok; tok = strtok(NULL, " ")) {
                char *eq = strchr(tok, '=');
                uint64_t marker = 0;
                if (eq) {
                        *eq = 0;
                        marker = strtoull(eq + 1, NULL, 10);
                }
                Buf cluster = {}, any = {};
                wire_put_bytes(&cluster, 1, tok, strlen(tok));
                if (marker) {
                        wire_put_tag(&cluster, 2, WIRE_VARINT);
                        wire_put_varint(&cluster, marker);
                }
                const char *url = resource_type_to_url(RESOURCE_CLUSTER);
                wire_put_bytes(&any, 1, url, strlen(url));
                wire_put_bytes(&any, 2, cluster.data, cluster.len);
                buf_free(&cluster);
                items[n] = (Resource) { .type = RESOURCE_CLUSTER, .name = xstrdup(tok), .any = any.data, .any_len = any.len };
                ptrs[n] = &items[n];
                n++;
        }
        char version[17];
        resources_version(ptrs, n, version);
        Buf b = {};
        resources_response(ptrs, n, version, resource_type_to_url(RESOURCE_CLUSTER), &b);
        out_set(o, "cds/cds.pb", b.data, b.len);
        buf_free(&b);
        for (size_t i = 0; i < n; i++)
                resource_done(&items[i]);
}

/* ---- reading back ---- */

static char *path_of(const char *node, const char *rel) {
        return xasprintf("%s/%s/%s", out, node, rel);
}

static bool read_rel(const char *node, const char *rel, char **ret, size_t *ret_len) {
        _cleanup_free_ char *p = path_of(node, rel);
        return read_file_bounded(p, 1 << 20, ret, ret_len) == 0;
}

static void assert_file(const char *node, const NodeFile *f) {
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        if (!read_rel(node, f->path, &data, &len))
                fail_msg("%s/%s unreadable", node, f->path);
        assert_int_equal(len, f->len);
        assert_memory_equal(data, f->data, len);
}

static void assert_published(const char *node, const NodeOutput *o) {
        for (size_t i = 0; i < o->n; i++)
                assert_file(node, &o->files[i]);
}

static bool exists(const char *node, const char *rel) {
        _cleanup_free_ char *p = path_of(node, rel);
        struct stat st;
        return lstat(p, &st) == 0;
}

/* cluster names of a live cds.pb, space separated */
static char *cds_names(const char *node) {
        _cleanup_free_ char *data = NULL;
        size_t len;
        assert_true(read_rel(node, "cds/cds.pb", &data, &len));
        Buf names = {};
        WireReader r = { (const uint8_t *) data, (const uint8_t *) data + len };
        WireField f;
        while (wire_next(&r, &f)) {
                if (f.number != 2)
                        continue;
                WireReader ar = { f.data, f.data + f.len };
                WireField af;
                while (wire_next(&ar, &af)) {
                        if (af.number != 2)
                                continue;
                        WireReader cr = { af.data, af.data + af.len };
                        WireField cf;
                        while (wire_next(&cr, &cf))
                                if (cf.number == 1) {
                                        if (names.len)
                                                buf_putc(&names, ' ');
                                        buf_append(&names, cf.data, cf.len);
                                }
                }
        }
        assert_true(r.p == r.end);
        return buf_steal_str(&names);
}

/* ---- snapshots: every entry of a node directory, its inode and mtime ---- */

typedef struct Entry {
        char *path;
        ino_t ino;
        struct timespec mtim;
} Entry;

static struct {
        Entry *e;
        size_t n;
} snap_acc;

static int snap_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        snap_acc.e = xrealloc(snap_acc.e, (snap_acc.n + 1) * sizeof(Entry));
        snap_acc.e[snap_acc.n++] = (Entry) { xstrdup(p), st->st_ino, st->st_mtim };
        return 0;
}

static int cmp_entry(const void *a, const void *b) {
        return strcmp(((const Entry *) a)->path, ((const Entry *) b)->path);
}

typedef struct Snapshot {
        Entry *e;
        size_t n;
} Snapshot;

static Snapshot snapshot(const char *dir) {
        snap_acc.e = NULL;
        snap_acc.n = 0;
        assert_int_equal(nftw(dir, snap_cb, 64, FTW_PHYS), 0);
        qsort(snap_acc.e, snap_acc.n, sizeof(Entry), cmp_entry);
        return (Snapshot) { snap_acc.e, snap_acc.n };
}

static void snapshot_done(Snapshot *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->e[i].path);
        free(s->e);
        *s = (Snapshot) {};
}

static const Entry *snapshot_find(const Snapshot *s, const char *path) {
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->e[i].path, path))
                        return &s->e[i];
        return NULL;
}

static bool entry_same(const Entry *a, const Entry *b) {
        return a && b && a->ino == b->ino && a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec;
}

static void assert_snapshots_equal(const Snapshot *a, const Snapshot *b) {
        for (size_t i = 0; i < a->n; i++)
                if (!entry_same(&a->e[i], snapshot_find(b, a->e[i].path)))
                        fail_msg("%s changed or disappeared", a->e[i].path);
        for (size_t i = 0; i < b->n; i++)
                if (!snapshot_find(a, b->e[i].path))
                        fail_msg("%s appeared", b->e[i].path);
}

static void assert_no_temporaries(const Snapshot *s) {
        for (size_t i = 0; i < s->n; i++) {
                const char *base = strrchr(s->e[i].path, '/') + 1;
                if (startswith(base, ".tmp.") || streq(base, "..data.tmp"))
                        fail_msg("leftover %s", s->e[i].path);
        }
}

/* ---- publishing ---- */

static NodePlan *plan(const char *node, PublishMode mode, const NodeOutput *o) {
        NodePlan *p = NULL;
        int r = publish_plan(store, out, node, mode, o, &p);
        if (r < 0)
                fail_msg("publish_plan(%s): %s", node, strerror(-r));
        return p;
}

static void run_phase(NodePlan *p, PublishPhase phase) {
        int r = node_plan_run_phase(p, phase);
        if (r < 0)
                fail_msg("phase %s: %s", publish_phase_to_string(phase), strerror(-r));
}

static void finish(NodePlan **plans, size_t n) {
        int r = publish_finish(store, plans, n);
        if (r < 0)
                fail_msg("publish_finish: %s", strerror(-r));
}

static size_t publish(const char *node, PublishMode mode, const NodeOutput *o) {
        NodePlan *p = plan(node, mode, o);
        size_t n = node_plan_n_changes(p);
        for (PublishPhase ph = 0; ph < _PUBLISH_PHASE_MAX; ph++)
                run_phase(p, ph);
        finish(&p, 1);
        node_plan_free(p);
        return n;
}

static void base_output(NodeOutput *o) {
        out_cds(o, "a b");
        out_text(o, "eds/a.pb", "endpoints of a");
        out_text(o, "eds/b.pb", "endpoints of b");
        out_text(o, "lds/lds.pb", "listeners v1");
        out_text(o, "rds/r1.pb", "route r1 v1");
        out_text(o, "sds/s1.pb", "secret s1");
        out_text(o, "rtds/layer.pb", "runtime layer");
}

static const char *const type_dirs[] = { "cds", "eds", "lds", "rds", "sds", "rtds" };

/* (1) */
static void test_first_publish(void **state) {
        PublishMode mode = mode_of(state);
        NodeOutput o = {};
        base_output(&o);
        assert_int_equal(publish("n1", mode, &o), o.n);
        assert_published("n1", &o);

        struct stat st;
        _cleanup_free_ char *node_dir = xasprintf("%s/n1", out);
        assert_int_equal(stat(node_dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0750);
        assert_int_equal(st.st_gid, getgid());
        for (size_t i = 0; i < ELEMENTSOF(type_dirs); i++) {
                _cleanup_free_ char *d = path_of("n1", type_dirs[i]);
                assert_int_equal(lstat(d, &st), 0);
                assert_true(S_ISDIR(st.st_mode));
                assert_int_equal(st.st_mode & 07777, 0750);
                assert_int_equal(st.st_gid, getgid());
        }
        for (size_t i = 0; i < o.n; i++) {
                _cleanup_free_ char *p = path_of("n1", o.files[i].path);
                assert_int_equal(lstat(p, &st), 0);
                if (mode == PUBLISH_MODE_RENAME)
                        assert_true(S_ISREG(st.st_mode));
                else {
                        assert_true(S_ISLNK(st.st_mode));
                        char target[PATH_MAX];
                        ssize_t k = readlink(p, target, sizeof(target) - 1);
                        assert_true(k > 0);
                        target[k] = 0;
                        _cleanup_free_ char *want = xasprintf("..data/%s", strrchr(o.files[i].path, '/') + 1);
                        assert_string_equal(target, want);
                }
                assert_int_equal(stat(p, &st), 0);
                assert_int_equal(st.st_mode & 07777, 0640);
                assert_int_equal(st.st_gid, getgid());
        }
        if (mode == PUBLISH_MODE_WATCHED_DIRECTORY) {
                _cleanup_free_ char *data = path_of("n1", "cds/..data");
                assert_int_equal(lstat(data, &st), 0);
                assert_true(S_ISLNK(st.st_mode));
        }
        Snapshot s = snapshot(node_dir);
        assert_no_temporaries(&s);
        snapshot_done(&s);
        node_output_done(&o);
}

/* (2) */
static void test_republish_changes_nothing(void **state) {
        PublishMode mode = mode_of(state);
        NodeOutput o = {};
        base_output(&o);
        publish("n1", mode, &o);
        _cleanup_free_ char *node_dir = xasprintf("%s/n1", out);
        Snapshot before = snapshot(node_dir);

        NodePlan *p = plan("n1", mode, &o);
        assert_int_equal(node_plan_n_changes(p), 0);
        for (PublishPhase ph = 0; ph < _PUBLISH_PHASE_MAX; ph++) {
                assert_false(node_plan_has_phase(p, ph));
                run_phase(p, ph);
        }
        finish(&p, 1);
        node_plan_free(p);

        /* a restart: a new store handle, same store */
        store = store_free(store);
        assert_int_equal(store_open(out, getgid(), &store), 0);
        assert_int_equal(publish("n1", mode, &o), 0);

        /* a lost store: the live files are compared by content */
        _cleanup_free_ char *store_dir = xasprintf("%s/.store", out);
        store = store_free(store);
        assert_int_equal(nftw(store_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS), 0);
        assert_int_equal(store_open(out, getgid(), &store), 0);
        assert_int_equal(publish("n1", mode, &o), 0);

        Snapshot after = snapshot(node_dir);
        assert_snapshots_equal(&before, &after);
        assert_no_temporaries(&after);
        assert_published("n1", &o);
        snapshot_done(&before);
        snapshot_done(&after);
        node_output_done(&o);
}

/* (3) */
static void test_one_change_touches_one_file(void **state) {
        PublishMode mode = mode_of(state);
        NodeOutput o = {};
        base_output(&o);
        publish("n1", mode, &o);
        _cleanup_free_ char *node_dir = xasprintf("%s/n1", out);
        Snapshot before = snapshot(node_dir);

        out_text(&o, "eds/b.pb", "endpoints of b, moved");
        NodePlan *p = plan("n1", mode, &o);
        assert_int_equal(node_plan_n_changes(p), 1);
        for (PublishPhase ph = 0; ph < _PUBLISH_PHASE_MAX; ph++)
                assert_int_equal(node_plan_has_phase(p, ph),
                                 ph == PUBLISH_PHASE_EDS || (mode == PUBLISH_MODE_WATCHED_DIRECTORY && ph == PUBLISH_PHASE_REMOVE_FILES));
        for (PublishPhase ph = 0; ph < _PUBLISH_PHASE_MAX; ph++)
                run_phase(p, ph);
        finish(&p, 1);
        node_plan_free(p);
        assert_published("n1", &o);

        Snapshot after = snapshot(node_dir);
        assert_no_temporaries(&after);
        _cleanup_free_ char *eds = xasprintf("%s/eds", node_dir), *b = xasprintf("%s/eds/b.pb", node_dir),
                       *data = xasprintf("%s/eds/..data", node_dir);
        for (size_t i = 0; i < before.n; i++) {
                const char *path = before.e[i].path;
                const Entry *now = snapshot_find(&after, path);
                if (mode == PUBLISH_MODE_RENAME) {
                        /* the file and its directory's mtime, nothing else */
                        if (streq(path, b) || streq(path, eds))
                                assert_false(entry_same(&before.e[i], now));
                        else if (!entry_same(&before.e[i], now))
                                fail_msg("%s touched", path);
                } else {
                        /* eds's "..data" and generation, nothing else */
                        if (startswith(path, eds) && (streq(path, eds) || streq(path, data) || strstr(path, "/..gen-")))
                                continue;
                        if (!entry_same(&before.e[i], now))
                                fail_msg("%s touched", path);
                }
        }
        snapshot_done(&before);
        snapshot_done(&after);
        node_output_done(&o);
}

/* Files planted next to the state-of-the-world files (cds/extra.pb,
 * lds/x.pb) are removed like stray files of the other types: only lds.pb
 * and cds.pb are kept whatever happens, since bootstraps name them. */
static void test_stray_files_removed(void **state) {
        PublishMode mode = mode_of(state);
        NodeOutput o = {};
        base_output(&o);
        publish("n1", mode, &o);
        static const char *const strays[] = { "cds/extra.pb", "lds/x.pb", "eds/y.pb" };
        for (size_t i = 0; i < ELEMENTSOF(strays); i++) {
                _cleanup_free_ char *p = path_of("n1", strays[i]);
                assert_int_equal(write_file_atomic(p, "stray", 5, 0644), 0);
        }
        NodePlan *p = plan("n1", mode, &o);
        assert_int_equal(node_plan_n_changes(p), ELEMENTSOF(strays));
        assert_true(node_plan_has_phase(p, PUBLISH_PHASE_REMOVE_FILES));
        assert_false(node_plan_has_phase(p, PUBLISH_PHASE_LDS));
        assert_false(node_plan_has_phase(p, PUBLISH_PHASE_CDS));
        for (PublishPhase ph = 0; ph < _PUBLISH_PHASE_MAX; ph++)
                run_phase(p, ph);
        finish(&p, 1);
        node_plan_free(p);
        for (size_t i = 0; i < ELEMENTSOF(strays); i++)
                assert_false(exists("n1", strays[i]));
        assert_published("n1", &o);
        assert_true(exists("n1", "lds/lds.pb"));
        assert_true(exists("n1", "cds/cds.pb"));
        node_output_done(&o);
}

/* (4) */
static void test_nodes_share_inodes(void **state) {
        PublishMode mode = mode_of(state);
        enum { N = 1000 };
        NodeOutput o = {};
        out_cds(&o, "shared");
        out_text(&o, "eds/shared.pb", "endpoints everyone has");
        out_text(&o, "lds/lds.pb", "listeners");
        NodePlan **plans = xcalloc(N, sizeof(NodePlan *));
        char node[32];
        for (size_t i = 0; i < N; i++) {
                snprintf(node, sizeof(node), "node-%04zu", i);
                plans[i] = plan(node, mode, &o);
        }
        for (PublishPhase ph = 0; ph < _PUBLISH_PHASE_MAX; ph++)
                for (size_t i = 0; i < N; i++)
                        run_phase(plans[i], ph);
        finish(plans, N);
        for (size_t i = 0; i < N; i++)
                node_plan_free(plans[i]);
        free(plans);

        struct stat first, st;
        _cleanup_free_ char *p0 = path_of("node-0000", "eds/shared.pb");
        assert_int_equal(stat(p0, &first), 0);
        assert_true(first.st_nlink >= N);
        for (size_t i = 0; i < N; i++) {
                snprintf(node, sizeof(node), "node-%04zu", i);
                _cleanup_free_ char *p = path_of(node, "eds/shared.pb");
                assert_int_equal(stat(p, &st), 0);
                assert_int_equal(st.st_ino, first.st_ino);
        }
        node_output_done(&o);
}

/* (5) */
static void test_cluster_removal_intermediate(void **state) {
        PublishMode mode = mode_of(state);
        NodeOutput o = {};
        base_output(&o);
        publish("n1", mode, &o);

        /* b goes (with its endpoints), c comes */
        out_cds(&o, "a c");
        out_del(&o, "eds/b.pb");
        out_text(&o, "eds/c.pb", "endpoints of c");
        NodePlan *p = plan("n1", mode, &o);
        assert_int_equal(node_plan_n_changes(p), 3);
        assert_true(node_plan_has_phase(p, PUBLISH_PHASE_EDS));
        assert_true(node_plan_has_phase(p, PUBLISH_PHASE_CDS));
        assert_true(node_plan_has_phase(p, PUBLISH_PHASE_CDS_FINAL));
        assert_true(node_plan_has_phase(p, PUBLISH_PHASE_REMOVE_FILES));
        assert_false(node_plan_has_phase(p, PUBLISH_PHASE_LDS));
        for (PublishPhase ph = 0; ph < _PUBLISH_PHASE_MAX; ph++) {
                run_phase(p, ph);
                _cleanup_free_ char *names = cds_names("n1");
                if (ph < PUBLISH_PHASE_CDS)
                        assert_string_equal(names, "a b");
                else if (ph < PUBLISH_PHASE_CDS_FINAL)
                        assert_string_equal(names, "a b c");
                else
                        assert_string_equal(names, "a c");
                if (ph >= PUBLISH_PHASE_EDS)
                        assert_true(exists("n1", "eds/c.pb"));
                /* b's endpoints stay readable until nothing can name them */
                _cleanup_free_ char *data = NULL;
                size_t len;
                assert_int_equal(read_rel("n1", "eds/b.pb", &data, &len), ph < PUBLISH_PHASE_REMOVE_FILES);
                assert_int_equal(exists("n1", "eds/b.pb"), ph < PUBLISH_PHASE_REMOVE_FILES);
        }
        finish(&p, 1);
        node_plan_free(p);
        assert_published("n1", &o);

        /* only a removal: the live cds already is the intermediate */
        out_cds(&o, "c");
        p = plan("n1", mode, &o);
        assert_false(node_plan_has_phase(p, PUBLISH_PHASE_CDS));
        assert_true(node_plan_has_phase(p, PUBLISH_PHASE_CDS_FINAL));
        for (PublishPhase ph = 0; ph < _PUBLISH_PHASE_MAX; ph++) {
                run_phase(p, ph);
                _cleanup_free_ char *names = cds_names("n1");
                assert_string_equal(names, ph < PUBLISH_PHASE_CDS_FINAL ? "a c" : "c");
        }
        finish(&p, 1);
        node_plan_free(p);

        /* a changed cluster and a removed one: the intermediate takes the new one */
        out_cds(&o, "a c=7");
        publish("n1", mode, &o);
        out_cds(&o, "c=8");
        p = plan("n1", mode, &o);
        assert_true(node_plan_has_phase(p, PUBLISH_PHASE_CDS));
        run_phase(p, PUBLISH_PHASE_CDS);
        _cleanup_free_ char *names = cds_names("n1");
        assert_string_equal(names, "a c");
        _cleanup_free_ char *data = NULL;
        size_t len;
        assert_true(read_rel("n1", "cds/cds.pb", &data, &len));
        assert_non_null(memmem(data, len, "\x10\x08", 2)); /* c's marker 8 */
        for (PublishPhase ph = PUBLISH_PHASE_CDS + 1; ph < _PUBLISH_PHASE_MAX; ph++)
                run_phase(p, ph);
        finish(&p, 1);
        node_plan_free(p);
        assert_published("n1", &o);

        /* the intermediate objects went with the last publish_finish */
        _cleanup_free_ char *store_dir = xasprintf("%s/.store", out);
        Snapshot s = snapshot(store_dir);
        for (size_t i = 0; i < s.n; i++) {
                struct stat st;
                assert_int_equal(lstat(s.e[i].path, &st), 0);
                if (S_ISREG(st.st_mode))
                        assert_true(st.st_nlink >= 2);
        }
        snapshot_done(&s);
        node_output_done(&o);
}

/* (6) the order Envoy sees, from a real inotify watch per type directory */
typedef struct Event {
        const char *dir;
        char name[NAME_MAX + 1];
        uint32_t mask;
} Event;

static size_t read_events(int fd, const int *wds, size_t n_wds, Event *ev, size_t max) {
        size_t n = 0;
        char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
        for (;;) {
                ssize_t k = read(fd, buf, sizeof(buf));
                if (k < 0) {
                        assert_int_equal(errno, EAGAIN);
                        return n;
                }
                for (char *q = buf; q < buf + k;) {
                        const struct inotify_event *e = (const struct inotify_event *) q;
                        q += sizeof(*e) + e->len;
                        const char *name = e->len ? e->name : "";
                        /* what Envoy reacts to: a rename into place, a file going away */
                        bool wanted = (e->mask & IN_MOVED_TO) || ((e->mask & IN_DELETE) && endswith(name, ".pb"));
                        if (!wanted)
                                continue;
                        assert_true(n < max);
                        for (size_t i = 0; i < n_wds; i++)
                                if (wds[i] == e->wd)
                                        ev[n].dir = type_dirs[i];
                        snprintf(ev[n].name, sizeof(ev[n].name), "%s", name);
                        ev[n].mask = e->mask;
                        n++;
                }
        }
}

static char *events_string(const Event *ev, size_t n) {
        Buf b = {};
        for (size_t i = 0; i < n; i++)
                buf_printf(&b, "%s%s %s/%s", i ? ", " : "", ev[i].mask & IN_MOVED_TO ? "moved_to" : "delete", ev[i].dir,
                           ev[i].name);
        return buf_steal_str(&b);
}

static void test_order(void **state) {
        PublishMode mode = mode_of(state);
        bool watched = mode == PUBLISH_MODE_WATCHED_DIRECTORY;
        NodeOutput o = {};
        base_output(&o);
        publish("n1", mode, &o);

        int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        assert_true(fd >= 0);
        int wds[ELEMENTSOF(type_dirs)];
        for (size_t i = 0; i < ELEMENTSOF(type_dirs); i++) {
                _cleanup_free_ char *d = path_of("n1", type_dirs[i]);
                wds[i] = inotify_add_watch(fd, d, IN_MOVED_TO | IN_DELETE | IN_CREATE);
                assert_true(wds[i] >= 0);
        }

        /* a cluster, its endpoints and a route to it, all at once */
        out_cds(&o, "a b c");
        out_text(&o, "eds/c.pb", "endpoints of c");
        out_text(&o, "rds/r2.pb", "route r2 to c");
        out_text(&o, "lds/lds.pb", "listeners v2, naming r2");
        publish("n1", mode, &o);
        Event ev[64];
        size_t n = read_events(fd, wds, ELEMENTSOF(type_dirs), ev, ELEMENTSOF(ev));
        _cleanup_free_ char *got = events_string(ev, n);
        assert_string_equal(got, watched ? "moved_to eds/..data, moved_to cds/..data, moved_to rds/..data, moved_to lds/..data"
                                         : "moved_to eds/c.pb, moved_to cds/cds.pb, moved_to rds/r2.pb, moved_to lds/lds.pb");

        /* and back: listener first, endpoints last */
        out_cds(&o, "a b");
        out_del(&o, "eds/c.pb");
        out_del(&o, "rds/r2.pb");
        out_text(&o, "lds/lds.pb", "listeners v3");
        publish("n1", mode, &o);
        n = read_events(fd, wds, ELEMENTSOF(type_dirs), ev, ELEMENTSOF(ev));
        _cleanup_free_ char *back = events_string(ev, n);
        assert_string_equal(back, watched ? "moved_to lds/..data, delete rds/r2.pb, moved_to cds/..data, delete eds/c.pb"
                                          : "moved_to lds/lds.pb, delete rds/r2.pb, moved_to cds/cds.pb, delete eds/c.pb");
        close(fd);
        node_output_done(&o);
}

/* A store nothing watches (state_dir's copies): a new name is made with
 * one link, no temporary name and no rename; a name that is there is
 * still replaced by a rename. The output's store renames both (test_order:
 * Envoy reacts to IN_MOVED_TO, never to a new link). */
static void test_unwatched_links_new_names(void **state) {
        store_set_unwatched(store);
        NodeOutput o = {};
        base_output(&o);
        publish("n1", PUBLISH_MODE_RENAME, &o);
        _cleanup_free_ char *eds = path_of("n1", "eds");
        int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        assert_true(fd >= 0);
        assert_true(inotify_add_watch(fd, eds, IN_MOVED_TO | IN_CREATE) >= 0);
        out_text(&o, "eds/c.pb", "endpoints of c");
        out_text(&o, "eds/a.pb", "endpoints of a, v2");
        publish("n1", PUBLISH_MODE_RENAME, &o);
        assert_published("n1", &o);
        Buf got = {};
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t k;
        while ((k = read(fd, buf, sizeof buf)) > 0)
                for (char *q = buf; q < buf + k;) {
                        const struct inotify_event *e = (const struct inotify_event *) q;
                        q += sizeof(*e) + e->len;
                        buf_printf(&got, "%s%s %s", got.len ? ", " : "", e->mask & IN_MOVED_TO ? "moved_to" : "create",
                                   e->len ? e->name : "");
                }
        close(fd);
        _cleanup_free_ char *events = buf_steal_str(&got);
        /* c.pb: created once, under its name; a.pb: a temporary name, renamed */
        assert_non_null(strstr(events, "create c.pb"));
        assert_null(strstr(events, "moved_to c.pb"));
        assert_non_null(strstr(events, "moved_to a.pb"));
        node_output_done(&o);
}

/* (7) watched_directory: every path resolves to a complete file after every phase */
static void assert_complete(const char *node, const char *rel, const NodeOutput *before, const NodeOutput *after,
                            const char *intermediate_names) {
        _cleanup_free_ char *data = NULL;
        size_t len;
        if (!read_rel(node, rel, &data, &len))
                fail_msg("%s does not resolve", rel);
        const NodeOutput *outs[] = { before, after };
        for (size_t k = 0; k < 2; k++)
                for (size_t i = 0; i < outs[k]->n; i++)
                        if (streq(outs[k]->files[i].path, rel) && outs[k]->files[i].len == len &&
                            memcmp(outs[k]->files[i].data, data, len) == 0)
                                return;
        if (streq(rel, "cds/cds.pb")) {
                _cleanup_free_ char *names = cds_names(node);
                if (streq(names, intermediate_names))
                        return;
        }
        fail_msg("%s holds neither the old nor the new bytes", rel);
}

static void test_watched_always_complete(void **state) {
        NodeOutput old = {}, next = {};
        base_output(&old);
        base_output(&next);
        publish("n1", PUBLISH_MODE_WATCHED_DIRECTORY, &old);
        out_cds(&next, "a c");
        out_del(&next, "eds/b.pb");
        out_text(&next, "eds/a.pb", "endpoints of a, more");
        out_text(&next, "eds/c.pb", "endpoints of c");
        out_text(&next, "rds/r1.pb", "route r1 v2");
        out_text(&next, "lds/lds.pb", "listeners v2");
        out_text(&next, "sds/s2.pb", "secret s2");

        int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        assert_true(fd >= 0);
        _cleanup_free_ char *cds_dir = path_of("n1", "cds");
        assert_true(inotify_add_watch(fd, cds_dir, IN_MOVED_TO | IN_CREATE) >= 0);

        NodePlan *p = plan("n1", PUBLISH_MODE_WATCHED_DIRECTORY, &next);
        for (PublishPhase ph = 0; ph < _PUBLISH_PHASE_MAX; ph++) {
                run_phase(p, ph);
                const NodeOutput *outs[] = { &old, &next };
                for (size_t k = 0; k < 2; k++)
                        for (size_t i = 0; i < outs[k]->n; i++) {
                                const char *rel = outs[k]->files[i].path;
                                bool is_new = k == 1;
                                bool removed = streq(rel, "eds/b.pb");
                                bool added = streq(rel, "eds/c.pb") || streq(rel, "sds/s2.pb");
                                if (removed && ph >= PUBLISH_PHASE_REMOVE_FILES) {
                                        assert_false(exists("n1", rel));
                                        continue;
                                }
                                if (added && is_new && ph < (startswith(rel, "eds/") ? PUBLISH_PHASE_EDS : PUBLISH_PHASE_SDS))
                                        continue; /* not named by anything yet */
                                assert_complete("n1", rel, &old, &next, "a b c");
                        }
        }
        finish(&p, 1);
        node_plan_free(p);
        assert_published("n1", &next);

        /* "..data" came by rename, twice (intermediate, final); nothing was created in place */
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t k = read(fd, buf, sizeof(buf));
        assert_true(k > 0);
        size_t n_data = 0;
        for (char *q = buf; q < buf + k;) {
                const struct inotify_event *e = (const struct inotify_event *) q;
                q += sizeof(*e) + e->len;
                if ((e->mask & IN_CREATE) && streq(e->name, "..data"))
                        fail_msg("..data created in place");
                if ((e->mask & IN_MOVED_TO) && streq(e->name, "..data"))
                        n_data++;
        }
        assert_int_equal(n_data, 2);
        close(fd);

        /* old generations are pruned: one per type directory */
        for (size_t i = 0; i < ELEMENTSOF(type_dirs); i++) {
                _cleanup_free_ char *d = path_of("n1", type_dirs[i]);
                Snapshot s = snapshot(d);
                size_t gens = 0;
                for (size_t j = 0; j < s.n; j++)
                        if (strstr(s.e[j].path, "/..gen-") && !strchr(strstr(s.e[j].path, "/..gen-") + 1, '/'))
                                gens++;
                assert_int_equal(gens, 1);
                assert_no_temporaries(&s);
                snapshot_done(&s);
        }
        node_output_done(&old);
        node_output_done(&next);
}

/* (8) */
static void test_clean_node(void **state) {
        PublishMode mode = mode_of(state);
        NodeOutput o = {};
        base_output(&o);
        publish("n1", mode, &o);
        _cleanup_free_ char *node_dir = xasprintf("%s/n1", out);
        Snapshot before = snapshot(node_dir);

        /* a crash between link and rename, between mkdir and swap, before the swap's rename */
        _cleanup_free_ char *t1 = path_of("n1", "cds/.tmp.cds.pb.00000000deadbeef"),
                       *t2 = path_of("n1", "eds/.tmp.a.pb.0000000000000001"), *gen = path_of("n1", "eds/..gen-99"),
                       *gen_file = path_of("n1", "eds/..gen-99/a.pb"), *data_tmp = path_of("n1", "eds/..data.tmp"),
                       *ts = path_of("n1", "eds/.tmp.x.pb.0000000000000002");
        assert_int_equal(write_file_atomic(t1, "half", 4, 0640), 0);
        assert_int_equal(write_file_atomic(t2, "half", 4, 0640), 0);
        assert_int_equal(mkdir(gen, 0750), 0);
        assert_int_equal(write_file_atomic(gen_file, "half", 4, 0640), 0);
        assert_int_equal(symlink("..gen-99", data_tmp), 0);
        assert_int_equal(symlink("..data/x.pb", ts), 0);
        /* and a crash while MANIFEST or its signature was written */
        _cleanup_free_ char *m1 = path_of("n1", ".MANIFEST.tmp.4242"), *m2 = path_of("n1", ".MANIFEST.sig.tmp.4242"),
                       *mine = path_of("n1", ".MANIFEST.tmp.mine");
        assert_int_equal(write_file_atomic(m1, "{", 1, 0640), 0);
        assert_int_equal(write_file_atomic(m2, "0", 1, 0640), 0);
        assert_int_equal(write_file_atomic(mine, "an operator's", 13, 0640), 0);
        assert_int_equal(publish_clean_node(out, "n1"), 7);
        assert_false(exists("n1", ".MANIFEST.tmp.4242"));
        assert_false(exists("n1", ".MANIFEST.sig.tmp.4242"));
        assert_true(exists("n1", ".MANIFEST.tmp.mine"));
        assert_int_equal(unlink(mine), 0);
        assert_false(exists("n1", "cds/.tmp.cds.pb.00000000deadbeef"));
        assert_false(exists("n1", "eds/..gen-99"));
        assert_false(exists("n1", "eds/..data.tmp"));

        /* every file as it was (directories saw entries come and go) */
        Snapshot after = snapshot(node_dir);
        assert_int_equal(after.n, before.n);
        for (size_t i = 0; i < before.n; i++) {
                const Entry *now = snapshot_find(&after, before.e[i].path);
                assert_non_null(now);
                assert_int_equal(now->ino, before.e[i].ino);
        }
        assert_no_temporaries(&after);
        assert_published("n1", &o);
        assert_int_equal(publish_clean_node(out, "n1"), 0);
        assert_int_equal(publish_clean_node(out, "absent"), 0);
        assert_int_equal(publish_clean_node(out, "../etc"), -EINVAL);
        snapshot_done(&before);
        snapshot_done(&after);
        node_output_done(&o);
}

/* (9) */
static void test_gc_after_publish(void **state) {
        PublishMode mode = mode_of(state);
        NodeOutput o = {};
        base_output(&o);
        publish("n1", mode, &o);
        char old_object[65];
        sha256_hex("route r1 v1", strlen("route r1 v1"), old_object);
        _cleanup_free_ char *old_path = xasprintf("%s/.store/%s", out, old_object);
        assert_int_equal(access(old_path, F_OK), 0);

        out_text(&o, "rds/r1.pb", "route r1 v2");
        publish("n1", mode, &o);
        /* nothing links the old route any more */
        assert_int_equal(access(old_path, F_OK), -1);
        assert_published("n1", &o);

        /* a plan that never ran: its objects go at the next finish */
        NodeOutput other = {};
        out_text(&other, "lds/lds.pb", "never published");
        out_cds(&other, "z");
        NodePlan *p = plan("n2", mode, &other);
        node_plan_free(p);
        assert_true(publish_finish(store, NULL, 0) >= 2);
        node_output_done(&other);
        node_output_done(&o);
}

/* (10) a symlink planted where a type directory or the node directory
 * belongs is not followed: it is removed, the directory made again and
 * published into; nothing is written through it */
static void test_planted_symlink(void **state) {
        PublishMode mode = mode_of(state);
        NodeOutput o = {};
        base_output(&o);
        publish("n1", mode, &o);

        _cleanup_free_ char *elsewhere = xasprintf("%s/elsewhere", root), *victim = xasprintf("%s/elsewhere/cds.pb", root);
        assert_int_equal(mkdir(elsewhere, 0755), 0);
        assert_int_equal(write_file_atomic(victim, "precious", 8, 0644), 0);
        _cleanup_free_ char *cds = path_of("n1", "cds"), *moved = path_of("n1", "cds.moved");
        assert_int_equal(rename(cds, moved), 0);
        assert_int_equal(symlink(elsewhere, cds), 0);

        out_cds(&o, "a b c");
        NodePlan *p = NULL;
        publish("n1", mode, &o);
        struct stat st;
        assert_int_equal(lstat(cds, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_true(exists("n1", "cds/cds.pb"));

        /* the node directory itself */
        NodeOutput n2 = {};
        base_output(&n2);
        _cleanup_free_ char *n2_dir = xasprintf("%s/n2", out);
        assert_int_equal(symlink(elsewhere, n2_dir), 0);
        publish("n2", mode, &n2);
        assert_int_equal(lstat(n2_dir, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_true(exists("n2", "eds/a.pb"));

        Snapshot s = snapshot(elsewhere);
        assert_int_equal(s.n, 2); /* the directory and cds.pb, unchanged */
        snapshot_done(&s);
        _cleanup_free_ char *data = NULL;
        size_t len;
        assert_int_equal(read_file_bounded(victim, 100, &data, &len), 0);
        assert_memory_equal(data, "precious", 8);

        /* invalid paths are refused before anything is touched */
        NodeOutput bad = {};
        out_text(&bad, "eds/../x.pb", "x");
        assert_int_equal(publish_plan(store, out, "n3", mode, &bad, &p), -EINVAL);
        node_output_done(&bad);
        out_text(&bad, "cds/other.pb", "x");
        assert_int_equal(publish_plan(store, out, "n3", mode, &bad, &p), -EINVAL);
        node_output_done(&bad);
        out_text(&bad, "eds/.hidden.pb", "x");
        assert_int_equal(publish_plan(store, out, "n3", mode, &bad, &p), -EINVAL);
        node_output_done(&bad);
        out_text(&bad, "vhds/x.pb", "x");
        assert_int_equal(publish_plan(store, out, "n3", mode, &bad, &p), -EINVAL);
        node_output_done(&bad);
        assert_false(exists("n3", ""));
        node_output_done(&n2);
        node_output_done(&o);
}

/* switching publish_mode keeps every path readable and ends in the new layout */
static void test_mode_switch(void **state) {
        NodeOutput o = {};
        base_output(&o);
        publish("n1", PUBLISH_MODE_RENAME, &o);
        out_text(&o, "eds/a.pb", "endpoints of a, v2");
        assert_int_equal(publish("n1", PUBLISH_MODE_WATCHED_DIRECTORY, &o), o.n);
        assert_published("n1", &o);
        struct stat st;
        _cleanup_free_ char *lds = path_of("n1", "lds/lds.pb");
        assert_int_equal(lstat(lds, &st), 0);
        assert_true(S_ISLNK(st.st_mode));
        assert_int_equal(publish("n1", PUBLISH_MODE_WATCHED_DIRECTORY, &o), 0);

        out_text(&o, "eds/a.pb", "endpoints of a, v3");
        assert_int_equal(publish("n1", PUBLISH_MODE_RENAME, &o), o.n);
        assert_published("n1", &o);
        assert_int_equal(lstat(lds, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_false(exists("n1", "lds/..data"));
        assert_int_equal(publish("n1", PUBLISH_MODE_RENAME, &o), 0);
        _cleanup_free_ char *node_dir = xasprintf("%s/n1", out);
        Snapshot s = snapshot(node_dir);
        for (size_t i = 0; i < s.n; i++)
                assert_null(strstr(s.e[i].path, "/.."));
        snapshot_done(&s);
        node_output_done(&o);
}

/* many files of one type: exactly the ones gone are removed */
static void test_many_files(void **state) {
        PublishMode mode = mode_of(state);
        NodeOutput o = {};
        base_output(&o);
        char path[64], text[64];
        for (int i = 0; i < 40; i++) {
                snprintf(path, sizeof(path), "eds/e%02d.pb", i);
                snprintf(text, sizeof(text), "endpoints %d", i);
                out_text(&o, path, text);
        }
        publish("n1", mode, &o);
        for (int i = 1; i < 40; i += 2) {
                snprintf(path, sizeof(path), "eds/e%02d.pb", i);
                out_del(&o, path);
        }
        out_text(&o, "eds/e10.pb", "endpoints 10, changed");
        for (int i = 0; i < 5; i++) {
                snprintf(path, sizeof(path), "eds/n%02d.pb", i);
                out_text(&o, path, path);
        }
        NodePlan *p = plan("n1", mode, &o);
        assert_int_equal(node_plan_n_changes(p), 20 + 1 + 5);
        for (PublishPhase ph = 0; ph < _PUBLISH_PHASE_MAX; ph++)
                run_phase(p, ph);
        finish(&p, 1);
        node_plan_free(p);
        assert_published("n1", &o);
        for (int i = 0; i < 40; i++) {
                snprintf(path, sizeof(path), "eds/e%02d.pb", i);
                assert_int_equal(exists("n1", path), i % 2 == 0);
        }
        assert_int_equal(publish("n1", mode, &o), 0);
        node_output_done(&o);
}

/* scoped routes go with the routes, runtime layers on their own */
static void test_srds_and_rtds(void **state) {
        PublishMode mode = mode_of(state);
        NodeOutput o = {};
        base_output(&o);
        out_text(&o, "srds/srds.pb", "scopes");
        out_text(&o, "rtds/other.pb", "another layer");
        publish("n1", mode, &o);
        assert_published("n1", &o);

        out_del(&o, "srds/srds.pb");
        out_del(&o, "rtds/other.pb");
        out_text(&o, "rtds/layer.pb", "runtime layer v2");
        NodePlan *p = plan("n1", mode, &o);
        assert_int_equal(node_plan_n_changes(p), 3);
        assert_true(node_plan_has_phase(p, PUBLISH_PHASE_RTDS));
        assert_true(node_plan_has_phase(p, PUBLISH_PHASE_REMOVE_ROUTES));
        assert_true(node_plan_has_phase(p, PUBLISH_PHASE_REMOVE_FILES));
        assert_false(node_plan_has_phase(p, PUBLISH_PHASE_RDS));
        for (PublishPhase ph = 0; ph < _PUBLISH_PHASE_MAX; ph++) {
                run_phase(p, ph);
                assert_int_equal(exists("n1", "srds/srds.pb"), ph < PUBLISH_PHASE_REMOVE_ROUTES);
                assert_int_equal(exists("n1", "rtds/other.pb"), ph < PUBLISH_PHASE_REMOVE_FILES);
        }
        finish(&p, 1);
        node_plan_free(p);
        assert_published("n1", &o);
        node_output_done(&o);
}

/* the store's output directory, however it is spelled, and no other */
static void test_output_dir_must_match(void **state) {
        NodeOutput o = {};
        base_output(&o);
        NodePlan *p = NULL;
        _cleanup_free_ char *spelled = xasprintf("%s/./", out), *other = xasprintf("%s/other", root);
        assert_int_equal(publish_plan(store, spelled, "n1", PUBLISH_MODE_RENAME, &o, &p), 0);
        p = node_plan_free(p);
        assert_int_equal(mkdir(other, 0750), 0);
        assert_int_equal(publish_plan(store, other, "n1", PUBLISH_MODE_RENAME, &o, &p), -EXDEV);
        assert_int_equal(publish_plan(store, out, ".hidden", PUBLISH_MODE_RENAME, &o, &p), -EINVAL);
        assert_null(p);
        node_output_done(&o);
}

/* a failed phase stops the node: nothing is published that would name
 * what the failed phase did not put in place */
static void test_failed_phase_stops_the_node(void **state) {
        PublishMode mode = mode_of(state);
        NodeOutput o = {};
        base_output(&o);
        publish("n1", mode, &o);
        _cleanup_free_ char *node_dir = xasprintf("%s/n1", out);

        out_cds(&o, "a b c");
        out_text(&o, "eds/c.pb", "endpoints of c");
        NodePlan *p = plan("n1", mode, &o);
        /* the object vanishes between plan and phase */
        char object[65];
        sha256_hex("endpoints of c", strlen("endpoints of c"), object);
        _cleanup_free_ char *object_path = xasprintf("%s/.store/%s", out, object);
        assert_int_equal(unlink(object_path), 0);
        Snapshot before = snapshot(node_dir);

        assert_int_equal(node_plan_failed_phase(p), _PUBLISH_PHASE_INVALID);
        assert_int_equal(node_plan_run_phase(p, PUBLISH_PHASE_EDS), -ENOENT);
        assert_int_equal(node_plan_error(p), -ENOENT);
        assert_int_equal(node_plan_run_phase(p, PUBLISH_PHASE_CDS), -ECANCELED);
        /* the phase that failed is remembered, not the ones cancelled after it */
        assert_int_equal(node_plan_failed_phase(p), PUBLISH_PHASE_EDS);
        assert_int_equal(node_plan_run_phase(p, PUBLISH_PHASE_REMOVE_FILES),
                         node_plan_has_phase(p, PUBLISH_PHASE_REMOVE_FILES) ? -ECANCELED : 0);
        finish(&p, 1);
        node_plan_free(p);
        _cleanup_free_ char *names = cds_names("n1");
        assert_string_equal(names, "a b");
        assert_false(exists("n1", "eds/c.pb"));
        Snapshot after = snapshot(node_dir);
        assert_no_temporaries(&after);
        for (size_t i = 0; i < after.n; i++)
                if (!snapshot_find(&before, after.e[i].path))
                        fail_msg("%s appeared", after.e[i].path);
        snapshot_done(&before);
        snapshot_done(&after);

        /* the next generation starts from the disk, writes the object again
         * and gets it all in place */
        publish("n1", mode, &o);
        assert_published("n1", &o);
        node_output_done(&o);
}

/* publish_plan_delta() plans what publish_plan() plans from the disk, when
 * the directory holds what was published last. */
static uint64_t rng = 88172645463325252ULL;

static unsigned rnd(unsigned n) {
        return xorshift_below(&rng, n);
}

static void out_copy(NodeOutput *dst, const NodeOutput *src) {
        *dst = (NodeOutput) { .files = xcalloc(src->n + 1, sizeof(NodeFile)), .n = src->n };
        for (size_t i = 0; i < src->n; i++) {
                dst->files[i] = src->files[i];
                dst->files[i].path = xstrdup(src->files[i].path);
                dst->files[i].reused = false;
                dst->files[i].data = xmalloc(src->files[i].len + 1);
                memcpy(dst->files[i].data, src->files[i].data, src->files[i].len);
        }
}

static const NodeFile *out_find(const NodeOutput *o, const char *path) {
        for (size_t i = 0; i < o->n; i++)
                if (streq(o->files[i].path, path))
                        return &o->files[i];
        return NULL;
}

static void test_delta_plan(void **state) {
        static const char *const paths[] = { "eds/a.pb", "eds/b.pb", "eds/c.pb", "rds/r1.pb", "rds/r2.pb",
                                             "sds/s1.pb", "rtds/layer.pb", "srds/srds.pb", "lds/lds.pb" };
        static const char *const cds_specs[] = { "a b", "a", "a c", "b=3 c", "a b c=4" };
        NodeOutput live = {};
        base_output(&live);
        publish("n1", PUBLISH_MODE_RENAME, &live);
        size_t n_changes = 0;
        for (unsigned step = 0; step < 80; step++) {
                NodeOutput next = {}, before = {};
                out_copy(&next, &live);
                for (unsigned k = 1 + rnd(3); k > 0; k--) {
                        unsigned what = rnd(4);
                        const char *path = paths[rnd(9)];
                        if (what == 0)
                                out_cds(&next, cds_specs[rnd(5)]);
                        else if (what == 1 && out_find(&next, path) && !streq(path, "lds/lds.pb"))
                                out_del(&next, path);
                        else {
                                _cleanup_free_ char *text = xasprintf("%s v%u", path, rnd(3));
                                out_text(&next, path, text);
                        }
                }
                /* as the build hands them over: files it did not make again
                 * are reused; what it made again (same bytes or not) or
                 * dropped has its old version in before */
                before.files = xcalloc(live.n + 1, sizeof(NodeFile));
                for (size_t i = 0; i < live.n; i++) {
                        NodeFile *f = (NodeFile *) out_find(&next, live.files[i].path);
                        bool same = f && f->len == live.files[i].len && memcmp(f->data, live.files[i].data, f->len) == 0;
                        if (same && rnd(4)) {
                                f->reused = true;
                                continue;
                        }
                        NodeFile *b = &before.files[before.n++];
                        *b = live.files[i];
                        b->path = xstrdup(live.files[i].path);
                        b->data = xmalloc(b->len + 1);
                        memcpy(b->data, live.files[i].data, b->len);
                }
                NodePlan *disk = plan("n1", PUBLISH_MODE_RENAME, &next), *delta = NULL;
                assert_int_equal(publish_plan_delta(store, "n1", &before, &next, &delta), 0);
                assert_int_equal(node_plan_n_changes(delta), node_plan_n_changes(disk));
                for (PublishPhase ph = 0; ph < _PUBLISH_PHASE_MAX; ph++)
                        assert_int_equal(node_plan_has_phase(delta, ph), node_plan_has_phase(disk, ph));
                n_changes += node_plan_n_changes(delta);
                node_plan_free(disk);
                for (PublishPhase ph = 0; ph < _PUBLISH_PHASE_MAX; ph++)
                        run_phase(delta, ph);
                finish(&delta, 1);
                node_plan_free(delta);
                assert_published("n1", &next);
                node_output_done(&before);
                node_output_done(&live);
                live = next;
        }
        assert_true(n_changes > 80);
        node_output_done(&live);

        /* a path outside the layout is refused, like publish_plan() does */
        NodeOutput bad = {}, none = {};
        out_text(&bad, "lds/other.pb", "x");
        NodePlan *p = NULL;
        assert_int_equal(publish_plan_delta(store, "n1", &none, &bad, &p), -EINVAL);
        assert_int_equal(publish_plan_delta(store, ".n1", &none, &none, &p), -EINVAL);
        node_output_done(&bad);
}

/* What a plan placed, for the MANIFEST made from the build: every file
 * with its store object (the sha256 of the build's bytes), and the
 * generation each "..data" points to. */
typedef struct Placed {
        size_t n;
        bool wrong;
        const NodeOutput *o;
} Placed;

static void placed(void *userdata, const char *type, const char *name, const char object[65]) {
        Placed *p = userdata;
        _cleanup_free_ char *path = xasprintf("%s/%s", type, name);
        const NodeFile *f = NULL;
        for (size_t i = 0; i < p->o->n; i++)
                if (streq(p->o->files[i].path, path))
                        f = &p->o->files[i];
        char sha[65];
        if (f)
                sha256_hex(f->data, f->len, sha);
        p->wrong = p->wrong || !f || !streq(sha, object);
        p->n++;
}

static void test_plan_files_and_links(void **state) {
        PublishMode mode = mode_of(state);
        NodeOutput o = {};
        base_output(&o);
        NodePlan *p = plan("n1", mode, &o);
        for (PublishPhase ph = 0; ph < _PUBLISH_PHASE_MAX; ph++)
                run_phase(p, ph);
        Placed got = { .o = &o };
        assert_true(node_plan_foreach_file(p, placed, &got));
        assert_int_equal(got.n, o.n);
        assert_false(got.wrong);
        for (size_t i = 0; i < ELEMENTSOF(type_dirs); i++) {
                const char *gen = node_plan_data_link(p, type_dirs[i]);
                _cleanup_free_ char *link = path_of("n1", type_dirs[i]), *data = xasprintf("%s/..data", link);
                char target[64] = "";
                ssize_t k = readlink(data, target, sizeof target - 1);
                if (mode == PUBLISH_MODE_RENAME) {
                        assert_null(gen);
                        assert_true(k < 0);
                } else {
                        assert_non_null(gen);
                        assert_true(k > 0);
                        assert_string_equal(gen, target);
                }
        }
        node_plan_free(p);
        /* a plan that changes nothing names the same, as found */
        p = plan("n1", mode, &o);
        assert_int_equal(node_plan_n_changes(p), 0);
        got = (Placed) { .o = &o };
        assert_true(node_plan_foreach_file(p, placed, &got));
        assert_int_equal(got.n, o.n);
        assert_false(got.wrong);
        if (mode == PUBLISH_MODE_WATCHED_DIRECTORY)
                assert_non_null(node_plan_data_link(p, "eds"));
        node_plan_free(p);
        /* a delta plan names only what changed: no list */
        if (mode == PUBLISH_MODE_RENAME) {
                NodeOutput next = {};
                out_copy(&next, &o);
                out_text(&next, "eds/a.pb", "endpoints of a, v2");
                NodeOutput before = {};
                out_text(&before, "eds/a.pb", "endpoints of a");
                assert_int_equal(publish_plan_delta(store, "n1", &before, &next, &p), 0);
                got = (Placed) { .o = &next };
                assert_false(node_plan_foreach_file(p, placed, &got));
                assert_int_equal(got.n, 0);
                node_plan_free(p);
                node_output_done(&next);
                node_output_done(&before);
        }
        node_output_done(&o);
}

/* A published file edited in place edits its store object; once
 * store_check_object() dropped it, the plan publishes the build's bytes
 * again, for every node that linked it. A copy with the right bytes and
 * the wrong mode is published again too. */
static void test_tampered_republished(void **state) {
        PublishMode mode = mode_of(state);
        NodeOutput o = {};
        base_output(&o);
        publish("n1", mode, &o);
        publish("n2", mode, &o);
        _cleanup_free_ char *a1 = path_of("n1", "eds/a.pb"), *a2 = path_of("n2", "eds/a.pb");
        int fd = open(a1, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "ENDPOINTS", 9), 9);
        close(fd);
        char *data = NULL;
        size_t len;
        assert_true(read_rel("n2", "eds/a.pb", &data, &len));
        assert_memory_equal(data, "ENDPOINTS of a", 14); /* one inode */
        free(data);

        /* without the check, the same inode as the object counts as unchanged */
        NodePlan *p = plan("n1", mode, &o);
        assert_int_equal(node_plan_n_changes(p), 0);
        node_plan_free(p);

        char sha[65];
        sha256_hex("endpoints of a", 14, sha);
        assert_int_equal(store_check_object(store, sha), 1);
        assert_int_equal(publish("n1", mode, &o), 1);
        assert_int_equal(publish("n2", mode, &o), 1);
        assert_published("n1", &o);
        assert_published("n2", &o);
        struct stat s1, s2;
        assert_int_equal(stat(a1, &s1), 0);
        assert_int_equal(stat(a2, &s2), 0);
        assert_int_equal(s1.st_ino, s2.st_ino);

        if (mode == PUBLISH_MODE_RENAME) {
                /* the same bytes by rename, another mode */
                _cleanup_free_ char *tmp = path_of("n1", "eds/copy");
                assert_int_equal(write_file_atomic(tmp, "endpoints of a", 14, 0600), 0);
                assert_int_equal(rename(tmp, a1), 0);
                assert_int_equal(publish("n1", mode, &o), 1);
                assert_int_equal(stat(a1, &s1), 0);
                assert_int_equal(s1.st_mode & 07777, 0640);
                assert_int_equal(s1.st_ino, s2.st_ino);
                /* the same bytes and mode: a copy is taken as it is (a lost store) */
                assert_int_equal(write_file_atomic(tmp, "endpoints of a", 14, 0640), 0);
                assert_int_equal(chown(tmp, (uid_t) -1, getgid()), 0);
                assert_int_equal(rename(tmp, a1), 0);
                assert_int_equal(publish("n1", mode, &o), 0);
        }
        node_output_done(&o);
}

static void test_phase_names(void **state) {
        for (PublishPhase p = 0; p < _PUBLISH_PHASE_MAX; p++)
                assert_int_equal(publish_phase_from_string(publish_phase_to_string(p)), p);
        assert_string_equal(publish_phase_to_string(PUBLISH_PHASE_CDS_FINAL), "cds-final");
        assert_null(publish_phase_to_string(_PUBLISH_PHASE_MAX));
        assert_int_equal(publish_phase_from_string("nope"), _PUBLISH_PHASE_INVALID);
}

static const PublishMode rename_mode = PUBLISH_MODE_RENAME, watched_mode = PUBLISH_MODE_WATCHED_DIRECTORY;

#define BOTH(f)                                                                                   \
        cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, (void *) &rename_mode),      \
                cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, (void *) &watched_mode)

int main(void) {
        const struct CMUnitTest tests[] = {
                BOTH(test_first_publish),
                BOTH(test_republish_changes_nothing),
                BOTH(test_one_change_touches_one_file),
                BOTH(test_stray_files_removed),
                cmocka_unit_test_prestate_setup_teardown(test_nodes_share_inodes, setup_many, teardown, (void *) &rename_mode),
                cmocka_unit_test_prestate_setup_teardown(test_nodes_share_inodes, setup_many, teardown, (void *) &watched_mode),
                BOTH(test_cluster_removal_intermediate),
                BOTH(test_order),
                cmocka_unit_test_setup_teardown(test_unwatched_links_new_names, setup, teardown),
                cmocka_unit_test_setup_teardown(test_watched_always_complete, setup, teardown),
                BOTH(test_clean_node),
                BOTH(test_gc_after_publish),
                BOTH(test_planted_symlink),
                cmocka_unit_test_setup_teardown(test_mode_switch, setup, teardown),
                BOTH(test_many_files),
                BOTH(test_srds_and_rtds),
                BOTH(test_failed_phase_stops_the_node),
                cmocka_unit_test_setup_teardown(test_output_dir_must_match, setup, teardown),
                cmocka_unit_test_setup_teardown(test_delta_plan, setup, teardown),
                BOTH(test_plan_files_and_links),
                BOTH(test_tampered_republished),
                cmocka_unit_test(test_phase_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
