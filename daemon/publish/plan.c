/* SPDX-License-Identifier: MIT */
/* Planning a node's generation: next node output against what is live in
 * <output_dir>/<node>/ (read from disk, or known from the previous build),
 * file by file, with the intermediate cds when clusters go; next's files go
 * into the store, and the plan says which phases have work. */
#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "hashmap.h"
#include "nodedir.h"
#include "publish-internal.h"
#include "resource.h"
#include "sha256.h"
#include "wire.h"

/* what a live file may weigh before it is no longer worth reading back */
#define LIVE_FILE_MAX (256U * 1024 * 1024)

const TypeDirInfo type_dirs[_TYPE_DIR_MAX] = {
        [TYPE_DIR_SDS] = { RESOURCE_SECRET, false, PUBLISH_PHASE_SDS, PUBLISH_PHASE_REMOVE_FILES },
        [TYPE_DIR_EDS] = { RESOURCE_CLUSTER_LOAD_ASSIGNMENT, false, PUBLISH_PHASE_EDS, PUBLISH_PHASE_REMOVE_FILES },
        [TYPE_DIR_CDS] = { RESOURCE_CLUSTER, true, PUBLISH_PHASE_CDS, PUBLISH_PHASE_REMOVE_FILES },
        [TYPE_DIR_RDS] = { RESOURCE_ROUTE_CONFIGURATION, false, PUBLISH_PHASE_RDS, PUBLISH_PHASE_REMOVE_ROUTES },
        [TYPE_DIR_SRDS] = { RESOURCE_SCOPED_ROUTE_CONFIGURATION, false, PUBLISH_PHASE_RDS, PUBLISH_PHASE_REMOVE_ROUTES },
        [TYPE_DIR_LDS] = { RESOURCE_LISTENER, true, PUBLISH_PHASE_LDS, PUBLISH_PHASE_REMOVE_FILES },
        [TYPE_DIR_RTDS] = { RESOURCE_RUNTIME, false, PUBLISH_PHASE_RTDS, PUBLISH_PHASE_REMOVE_FILES },
};

/* "lds.pb" in lds/, "cds.pb" in cds/: never removed, even when next lacks it. */
static bool is_kept_file(TypeDir t, const char *name) {
        size_t n = strlen(type_dir_name(t));
        return type_dirs[t].keep && strncmp(name, type_dir_name(t), n) == 0 && streq(name + n, ".pb");
}

static int read_at(int dirfd, const char *name, size_t max, uint8_t **ret, size_t *ret_len) {
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return read_regular_fd(fd, max, ret, ret_len);
}

/* The live file holds exactly these bytes, with the mode and group of a
 * store object (another inode: a store that was lost, or a copy made by
 * someone else; one with another mode is put right by republishing it). */
static bool live_equals(const Store *s, int dirfd, const char *name, const void *data, size_t len) {
        if (len > LIVE_FILE_MAX)
                return false;
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || (st.st_mode & 07777) != STORE_OBJECT_MODE ||
            (store_gid(s) != (gid_t) -1 && st.st_gid != store_gid(s)))
                return false;
        _cleanup_free_ uint8_t *live = NULL;
        size_t live_len;
        /* bounded by len: a larger file fails with -EFBIG, which is "different" */
        if (read_regular_fd(fd, len, &live, &live_len) < 0)
                return false;
        return live_len == len && memcmp(live, data, len) == 0;
}

/* The cds intermediate: clusters of a serialized cds DiscoveryResponse. */
typedef struct ClusterSet {
        Resource *items;
        size_t n;
} ClusterSet;

static void cluster_set_done(ClusterSet *c) {
        for (size_t i = 0; i < c->n; i++) {
                free(c->items[i].name);
                free(c->items[i].any);
        }
        free(c->items);
        *c = (ClusterSet) {};
}

/* Names and Anys are copies: resources_response() takes resources it may
 * not write to, but does not say so. */
static int parse_clusters(const uint8_t *data, size_t len, ClusterSet *ret) {
        ClusterSet c = {};
        WireReader r = { data, data + len };
        WireField f;
        while (wire_next(&r, &f)) {
                if (f.number != 2 || f.wire_type != WIRE_LEN)
                        continue;
                const uint8_t *name = NULL;
                size_t name_len = 0;
                WireReader ar = { f.data, f.data + f.len };
                WireField af;
                while (wire_next(&ar, &af)) {
                        if (af.number != 2 || af.wire_type != WIRE_LEN)
                                continue;
                        WireReader cr = { af.data, af.data + af.len };
                        WireField cf;
                        while (wire_next(&cr, &cf))
                                if (cf.number == 1 && cf.wire_type == WIRE_LEN) {
                                        name = cf.data;
                                        name_len = cf.len;
                                }
                        if (cr.p != cr.end)
                                goto bad;
                }
                if (ar.p != ar.end)
                        goto bad;
                uint8_t *any = xmalloc(MAX(f.len, 1));
                memcpy(any, f.data, f.len);
                c.items = xrealloc(c.items, (c.n + 1) * sizeof(Resource));
                c.items[c.n++] = (Resource) {
                        .type = RESOURCE_CLUSTER,
                        .name = name ? xstrndup((const char *) name, name_len) : xstrdup(""),
                        .any = any,
                        .any_len = f.len,
                };
        }
        if (r.p != r.end)
                goto bad;
        *ret = c;
        return 0;
bad:
        cluster_set_done(&c);
        return -EBADMSG;
}

static int cmp_resource_ptr_name(const void *a, const void *b) {
        return strcmp((*(Resource *const *) a)->name, (*(Resource *const *) b)->name);
}

/* new ∪ old-only clusters, by name, new wins; false when nothing is old-only
 * (the final cds can go in directly). */
static bool cds_intermediate(const uint8_t *old, size_t old_len, const uint8_t *next, size_t next_len, Buf *out) {
        _cleanup_(cluster_set_done) ClusterSet o = {}, n = {};
        /* an old file we cannot read could not have been applied whole either */
        if (parse_clusters(old, old_len, &o) < 0 || parse_clusters(next, next_len, &n) < 0)
                return false;
        _cleanup_free_ Resource **items = xcalloc(o.n + n.n + 1, sizeof(Resource *));
        size_t k = 0;
        for (size_t i = 0; i < n.n; i++)
                items[k++] = &n.items[i];
        size_t n_kept = 0;
        /* names seen: the new clusters, then each old one kept (no duplicates) */
        Hashmap seen = {};
        for (size_t i = 0; i < n.n; i++)
                hashmap_put(&seen, n.items[i].name, strlen(n.items[i].name), &n.items[i]);
        for (size_t i = 0; i < o.n; i++) {
                if (hashmap_put(&seen, o.items[i].name, strlen(o.items[i].name), &o.items[i]))
                        continue;
                items[k++] = &o.items[i];
                n_kept++;
        }
        hashmap_free(&seen);
        if (n_kept == 0)
                return false;
        qsort(items, k, sizeof(Resource *), cmp_resource_ptr_name);
        char version[17];
        resources_version(items, k, version);
        resources_response(items, k, version, resource_type_to_url(RESOURCE_CLUSTER), out);
        return true;
}

/* One live "*.pb" entry of a type directory. */
typedef struct LiveEntry {
        char *name;
        ino_t ino;         /* of the bytes Envoy reads through it (0: none, dangling, not a file) */
        bool in_gen;       /* ...which are in the live generation directory */
        bool is_symlink;
        bool link_ok;      /* the symlink "..data/<name>" */
        bool matched;      /* next has it: not a removal */
} LiveEntry;

static int cmp_live(const void *a, const void *b) {
        return strcmp(((const LiveEntry *) a)->name, ((const LiveEntry *) b)->name);
}

static void live_free(LiveEntry *l, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(l[i].name);
        free(l);
}

/* A directory's entries of interest with their inode and type from
 * getdents alone (an fstatat only where the filesystem gives no type);
 * with ret_has_data and ret_n_gens, also whether "..data" is there and
 * how many generation directories are, the highest number in
 * ret_gen_max. */
typedef bool (*EntryFilter)(const char *name);

static int list_dir(int fd, EntryFilter keep, LiveEntry **ret, size_t *ret_n, bool *ret_has_data, size_t *ret_n_gens,
                    uint64_t *ret_gen_max) {
        _cleanup_free_ DirReader *dir = xmalloc(sizeof(DirReader));
        nodedir_reader_init(dir, fd);
        LiveEntry *l = NULL;
        size_t n = 0, n_gens = 0;
        bool has_data = false;
        uint64_t gen_max = 0;
        struct dirent64 *de = NULL;
        int r;
        while ((r = nodedir_read(dir, &de)) > 0) {
                uint64_t g;
                if (ret_has_data && streq(de->d_name, DATA_LINK)) {
                        has_data = true;
                        continue;
                }
                if (ret_n_gens && nodedir_is_gen_name(de->d_name, &g)) {
                        n_gens++;
                        gen_max = MAX(gen_max, g);
                        continue;
                }
                if (!keep(de->d_name))
                        continue;
                unsigned char type = de->d_type;
                ino_t ino = de->d_ino;
                if (type == DT_UNKNOWN) {
                        struct stat st;
                        if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                                if (errno == ENOENT)
                                        continue;
                                r = -errno;
                                live_free(l, n);
                                return r;
                        }
                        type = S_ISREG(st.st_mode) ? DT_REG : S_ISLNK(st.st_mode) ? DT_LNK : DT_UNKNOWN;
                        ino = st.st_ino;
                }
                l = xrealloc(l, (n + 1) * sizeof(LiveEntry));
                l[n++] = (LiveEntry) {
                        .name = xstrdup(de->d_name),
                        .ino = type == DT_REG ? ino : 0,
                        .is_symlink = type == DT_LNK,
                };
        }
        if (r < 0) {
                live_free(l, n);
                return r;
        }
        if (n > 0)
                qsort(l, n, sizeof(LiveEntry), cmp_live);
        *ret = l;
        *ret_n = n;
        if (ret_has_data)
                *ret_has_data = has_data;
        if (ret_n_gens) {
                *ret_n_gens = n_gens;
                *ret_gen_max = gen_max;
        }
        return 0;
}

static bool any_name(const char *name) {
        return name[0] != '.';
}

/* Reads a type directory: its "*.pb" entries and, where "..data" exists
 * (watched_directory mode, or its layout left behind), the generation it
 * points to. */
static int scan_type_dir(NodePlan *p, PlanDir *d, int fd, int *ret_gen_fd, LiveEntry **ret, size_t *ret_n) {
        bool watched = p->mode == PUBLISH_MODE_WATCHED_DIRECTORY;
        bool has_data = false;
        size_t n_gens = 0;
        LiveEntry *live = NULL, *gen = NULL;
        size_t n_live = 0, n_gen = 0;
        _cleanup_close_ int gen_fd = -EBADF;
        int r = list_dir(fd, nodedir_is_pb_name, &live, &n_live, &has_data, &n_gens, &d->gen_max);
        if (r < 0)
                return r;

        if (has_data) {
                _cleanup_free_ char *data = NULL;
                r = nodedir_read_link(fd, DATA_LINK, &data);
                if (r < 0 && r != -ENOENT && r != -EINVAL)
                        goto fail;
                if (r >= 0 && !strchr(data, '/') && startswith(data, "..")) {
                        gen_fd = nodedir_open(fd, data);
                        if (gen_fd >= 0) {
                                d->gen_live = TAKE_PTR(data);
                                r = list_dir(gen_fd, any_name, &gen, &n_gen, NULL, NULL, NULL);
                                if (r < 0)
                                        goto fail;
                        }
                }
        }
        /* generations other than the live one; in rename mode, the whole watched layout */
        if (watched ? n_gens > (d->gen_live && nodedir_is_gen_name(d->gen_live, NULL) ? 1u : 0u)
                    : has_data || n_gens > 0)
                d->prune = true;

        for (size_t i = 0; i < n_live; i++) {
                LiveEntry *e = &live[i];
                if (!e->is_symlink)
                        continue;
                _cleanup_free_ char *target = NULL, *want = nodedir_data_target(e->name);
                e->link_ok = nodedir_read_link(fd, e->name, &target) >= 0 && streq(target, want);
                LiveEntry *g = e->link_ok && n_gen ? bsearch(e, gen, n_gen, sizeof(LiveEntry), cmp_live) : NULL;
                if (g && g->ino) {
                        e->ino = g->ino;
                        e->in_gen = true;
                }
        }
        live_free(gen, n_gen);
        *ret_gen_fd = TAKE_FD(gen_fd);
        *ret = live;
        *ret_n = n_live;
        return 0;
fail:
        live_free(gen, n_gen);
        live_free(live, n_live);
        return r;
}

/* When clusters go: the intermediate cds into the store, or only CDS_FINAL
 * when the old file already is the intermediate (nothing added or changed). */
static int plan_cds_intermediate_from(NodePlan *p, const uint8_t *old, size_t old_len, const NodeFile *next, Buf *buf) {
        if (!cds_intermediate(old, old_len, next->data, next->len, buf))
                return 0;
        p->phases[PUBLISH_PHASE_CDS_FINAL] = true;
        if (buf->len == old_len && memcmp(buf->data, old, old_len) == 0)
                return 0;
        return store_put(p->store, buf->data, buf->len, p->cds_intermediate);
}

static int plan_cds_intermediate(NodePlan *p, int live_fd, const char *name, const NodeFile *next, Buf *buf) {
        _cleanup_free_ uint8_t *old = NULL;
        size_t old_len;
        if (read_at(live_fd, name, LIVE_FILE_MAX, &old, &old_len) < 0)
                return 0;
        return plan_cds_intermediate_from(p, old, old_len, next, buf);
}

/* The phases a type directory's planned work needs. */
static void plan_dir_phases(NodePlan *p, TypeDir t) {
        PlanDir *d = &p->dirs[t];
        if (d->publish) {
                if (t == TYPE_DIR_CDS && p->phases[PUBLISH_PHASE_CDS_FINAL] && !p->cds_intermediate[0])
                        ; /* the old cds is the intermediate: only CDS_FINAL */
                else
                        p->phases[type_dirs[t].phase] = true;
                if (p->mode == PUBLISH_MODE_WATCHED_DIRECTORY)
                        d->prune = true; /* the generation it replaces */
        }
        if (d->remove)
                p->phases[type_dirs[t].remove_phase] = true;
        if (d->prune)
                p->phases[PUBLISH_PHASE_REMOVE_FILES] = true;
}

static int plan_dir(NodePlan *p, int node_fd, TypeDir t, const NodeFile **next, size_t n_next) {
        PlanDir *d = &p->dirs[t];
        bool watched = p->mode == PUBLISH_MODE_WATCHED_DIRECTORY;

        d->files = xcalloc(n_next + 1, sizeof(PlanFile));
        for (size_t i = 0; i < n_next; i++) {
                PlanFile *f = &d->files[d->n++];
                f->name = xstrdup(strchr(next[i]->path, '/') + 1);
                f->state = FILE_NEW;
                int r = next[i]->sha256[0] ? store_put_hashed(p->store, next[i]->data, next[i]->len, next[i]->sha256, f->object)
                                           : store_put(p->store, next[i]->data, next[i]->len, f->object);
                if (r < 0)
                        return r;
        }

        _cleanup_close_ int fd = -EBADF, gen_fd = -EBADF;
        if (node_fd >= 0) {
                fd = nodedir_open(node_fd, type_dir_name(t));
                /* a planted symlink or file: nothing of ours lives there */
                if (fd < 0 && fd != -ENOENT && fd != -ELOOP && fd != -ENOTDIR)
                        return fd;
        }
        LiveEntry *live = NULL;
        size_t n_live = 0;
        if (fd >= 0) {
                int r = scan_type_dir(p, d, fd, &gen_fd, &live, &n_live);
                if (r < 0)
                        return r;
        }

        Buf intermediate = {};
        size_t n_changes_before = p->n_changes;
        int r = 0;
        for (size_t i = 0; i < n_next; i++) {
                PlanFile *f = &d->files[i];
                LiveEntry key = { .name = f->name };
                LiveEntry *l = n_live ? bsearch(&key, live, n_live, sizeof(LiveEntry), cmp_live) : NULL;
                if (l) {
                        f->has_entry = true;
                        f->relink = watched && !l->link_ok;
                        f->live_ino = l->ino;
                        f->live_in_gen = l->in_gen;
                }
                bool same = false;
                if (l && l->ino) {
                        int live_fd = l->in_gen ? gen_fd : fd;
                        /* a different object is different bytes; anything else is read and compared */
                        same = l->ino == store_object_inode(p->store, f->object) ||
                                (!store_has_inode(p->store, l->ino) &&
                                 live_equals(p->store, live_fd, f->name, next[i]->data, next[i]->len));
                        if (!same && t == TYPE_DIR_CDS) {
                                r = plan_cds_intermediate(p, live_fd, f->name, next[i], &intermediate);
                                if (r < 0)
                                        goto finish;
                        }
                }
                if (!l)
                        f->state = FILE_NEW;
                else if (same && !(l->is_symlink && !watched))
                        f->state = FILE_UNCHANGED;
                else
                        f->state = FILE_CHANGED; /* or a symlink in rename mode, or dangling: replace it */

                if (f->state != FILE_UNCHANGED || f->relink || (watched && !f->has_entry)) {
                        p->n_changes++;
                        d->publish = true;
                }
                if (l)
                        l->matched = true;
        }
        if (watched && !d->gen_live && n_next > 0)
                d->publish = true;

        /* what is live and not in next goes in the removal phase */
        for (size_t i = 0; i < n_live; i++) {
                LiveEntry *l = &live[i];
                if (l->matched || is_kept_file(t, l->name))
                        continue;
                d->files = xrealloc(d->files, (d->n + 1) * sizeof(PlanFile));
                d->files[d->n++] = (PlanFile) {
                        .name = TAKE_PTR(l->name),
                        .state = FILE_REMOVED,
                        .has_entry = true,
                        .live_ino = l->ino,
                        .live_in_gen = l->in_gen,
                };
                p->n_changes++;
                d->remove = true;
        }

        /* layout work alone (a missing "..data", stale generations) is a change too */
        if ((d->publish || d->prune) && p->n_changes == n_changes_before)
                p->n_changes++;
        plan_dir_phases(p, t);
finish:
        buf_free(&intermediate);
        live_free(live, n_live);
        return r;
}

static TypeDir type_dir_from_path(const char *path) {
        const char *slash = strchr(path, '/');
        if (!slash)
                return _TYPE_DIR_MAX;
        for (TypeDir t = 0; t < _TYPE_DIR_MAX; t++)
                if (strneq_len(path, (size_t) (slash - path), type_dir_name(t)))
                        return t;
        return _TYPE_DIR_MAX;
}

static bool node_file_path_is_valid(const char *path, TypeDir t) {
        const char *name = strchr(path, '/') + 1;
        if (!nodedir_is_pb_name(name) || strchr(name, '/') || strlen(name) > NAME_MAX)
                return false;
        if (type_dir_is_sotw(t)) {
                size_t n = strlen(type_dir_name(t));
                return strncmp(name, type_dir_name(t), n) == 0 && streq(name + n, ".pb");
        }
        return true;
}

static int cmp_node_file_ptr(const void *a, const void *b) {
        return strcmp((*(NodeFile *const *) a)->path, (*(NodeFile *const *) b)->path);
}

int publish_plan(Store *s, const char *output_dir, const char *node, PublishMode mode, const NodeOutput *next,
                 NodePlan **ret) {
        assert(s);
        assert(output_dir);
        assert(node);
        assert(mode >= 0 && mode < _PUBLISH_MODE_MAX);
        assert(next);
        assert(ret);

        if (!node_id_is_valid(node))
                return -EINVAL;

        /* output_dir is the store's, named only for the reader of the call */
        if (!streq(output_dir, store_output_dir(s))) {
                struct stat a, b;
                if (stat(output_dir, &a) < 0)
                        return -errno;
                if (fstat(store_output_fd(s), &b) < 0)
                        return -errno;
                if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
                        return -EXDEV;
        }

        _cleanup_free_ const NodeFile **by_dir = xcalloc(next->n + 1, sizeof(NodeFile *));
        size_t n_dir[_TYPE_DIR_MAX] = {}, start[_TYPE_DIR_MAX] = {};
        for (size_t i = 0; i < next->n; i++) {
                TypeDir t = type_dir_from_path(next->files[i].path);
                if (t == _TYPE_DIR_MAX || !node_file_path_is_valid(next->files[i].path, t))
                        return -EINVAL;
                n_dir[t]++;
        }
        for (TypeDir t = 1; t < _TYPE_DIR_MAX; t++)
                start[t] = start[t - 1] + n_dir[t - 1];
        size_t fill[_TYPE_DIR_MAX];
        memcpy(fill, start, sizeof(fill));
        for (size_t i = 0; i < next->n; i++)
                by_dir[fill[type_dir_from_path(next->files[i].path)]++] = &next->files[i];
        for (TypeDir t = 0; t < _TYPE_DIR_MAX; t++) {
                qsort(by_dir + start[t], n_dir[t], sizeof(NodeFile *), cmp_node_file_ptr);
                for (size_t i = 1; i < n_dir[t]; i++)
                        if (streq(by_dir[start[t] + i]->path, by_dir[start[t] + i - 1]->path))
                                return -EINVAL;
        }

        _cleanup_close_ int node_fd = nodedir_open(store_output_fd(s), node);
        if (node_fd < 0 && node_fd != -ENOENT && node_fd != -ELOOP && node_fd != -ENOTDIR)
                return node_fd;

        NodePlan *p = xmalloc(sizeof(NodePlan));
        *p = (NodePlan) { .store = s, .node = xstrdup(node), .mode = mode };
        for (TypeDir t = 0; t < _TYPE_DIR_MAX; t++) {
                int r = plan_dir(p, node_fd, t, by_dir + start[t], n_dir[t]);
                if (r < 0) {
                        node_plan_free(p);
                        return r;
                }
        }
        *ret = p;
        return 0;
}

static int cmp_node_file_path(const void *key, const void *elem) {
        return strcmp(key, ((const NodeFile *) elem)->path);
}

static const NodeFile *node_output_find(const NodeOutput *o, const char *path) {
        return o->n ? bsearch(path, o->files, o->n, sizeof(NodeFile), cmp_node_file_path) : NULL;
}

static bool node_files_equal(const NodeFile *a, const NodeFile *b) {
        if (a->sha256[0] && b->sha256[0])
                return streq(a->sha256, b->sha256);
        return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* The inode of the store object of f's bytes. Hashes only a file without
 * its sha256 (a borrowed one always has it: its data may be gone). */
static ino_t node_file_inode(Store *s, const NodeFile *f) {
        if (f->sha256[0])
                return store_object_inode(s, f->sha256);
        char object[65];
        sha256_hex(f->data, f->len, object);
        return store_object_inode(s, object);
}

static PlanFile *plan_dir_add(PlanDir *d, const char *name) {
        d->files = xrealloc(d->files, (d->n + 1) * sizeof(PlanFile));
        PlanFile *f = &d->files[d->n++];
        *f = (PlanFile) { .name = xstrdup(name) };
        return f;
}

int publish_plan_delta(Store *s, const char *node, const NodeOutput *before, const NodeOutput *next, NodePlan **ret) {
        assert(s);
        assert(node);
        assert(before);
        assert(next);
        assert(ret);

        if (!node_id_is_valid(node))
                return -EINVAL;
        NodePlan *p = xmalloc(sizeof(NodePlan));
        *p = (NodePlan) { .store = s, .node = xstrdup(node), .mode = PUBLISH_MODE_RENAME, .delta = true };
        int r = 0;
        Buf intermediate = {};
        for (size_t i = 0; i < next->n; i++) {
                const NodeFile *f = &next->files[i];
                if (f->reused)
                        continue;
                TypeDir t = type_dir_from_path(f->path);
                if (t == _TYPE_DIR_MAX || !node_file_path_is_valid(f->path, t)) {
                        r = -EINVAL;
                        goto fail;
                }
                const NodeFile *old = node_output_find(before, f->path);
                if (old && node_files_equal(old, f))
                        continue;
                PlanDir *d = &p->dirs[t];
                PlanFile *pf = plan_dir_add(d, strchr(f->path, '/') + 1);
                pf->state = old ? FILE_CHANGED : FILE_NEW;
                pf->has_entry = old != NULL;
                r = f->sha256[0] ? store_put_hashed(s, f->data, f->len, f->sha256, pf->object)
                                 : store_put(s, f->data, f->len, pf->object);
                if (r < 0)
                        goto fail;
                if (old) {
                        pf->live_ino = node_file_inode(s, old);
                        if (t == TYPE_DIR_CDS) {
                                /* a memo holds no bytes: the live one's are its store object's */
                                _cleanup_free_ uint8_t *live = NULL;
                                size_t live_len = old->len;
                                if (!old->data && read_at(store_dirfd(s), old->sha256, LIVE_FILE_MAX, &live, &live_len) < 0)
                                        live_len = 0; /* gone: no intermediate, as for a live file that cannot be read */
                                char sha[65] = "";
                                if (live)
                                        sha256_hex(live, live_len, sha);
                                if (live && !streq(sha, old->sha256)) {
                                        /* edited in place: never published, dropped from the store */
                                        (void) store_check_object(s, old->sha256);
                                        free(live);
                                        live = NULL;
                                }
                                if (old->data || live)
                                        r = plan_cds_intermediate_from(p, old->data ? old->data : live, live_len, f,
                                                                       &intermediate);
                                if (r < 0)
                                        goto fail;
                        }
                }
                d->publish = true;
                p->n_changes++;
        }
        for (size_t i = 0; i < before->n; i++) {
                const NodeFile *o = &before->files[i];
                TypeDir t = type_dir_from_path(o->path);
                if (t == _TYPE_DIR_MAX || is_kept_file(t, strchr(o->path, '/') + 1) || node_output_find(next, o->path))
                        continue;
                PlanDir *d = &p->dirs[t];
                PlanFile *pf = plan_dir_add(d, strchr(o->path, '/') + 1);
                pf->state = FILE_REMOVED;
                pf->has_entry = true;
                pf->live_ino = node_file_inode(s, o);
                d->remove = true;
                p->n_changes++;
        }
        for (TypeDir t = 0; t < _TYPE_DIR_MAX; t++)
                plan_dir_phases(p, t);
        buf_free(&intermediate);
        *ret = p;
        return 0;
fail:
        buf_free(&intermediate);
        node_plan_free(p);
        return r;
}

NodePlan *node_plan_free(NodePlan *p) {
        if (!p)
                return NULL;
        for (TypeDir t = 0; t < _TYPE_DIR_MAX; t++) {
                for (size_t i = 0; i < p->dirs[t].n; i++)
                        free(p->dirs[t].files[i].name);
                free(p->dirs[t].files);
                free(p->dirs[t].gen_live);
        }
        free(p->node);
        free(p);
        return NULL;
}

bool node_plan_has_phase(const NodePlan *p, PublishPhase phase) {
        assert(phase >= 0 && phase < _PUBLISH_PHASE_MAX);
        return p->phases[phase];
}

size_t node_plan_n_changes(const NodePlan *p) {
        return p->n_changes;
}

bool node_plan_foreach_file(const NodePlan *p, NodePlanFileFunc f, void *userdata) {
        if (p->delta)
                return false;
        for (TypeDir t = 0; t < _TYPE_DIR_MAX; t++)
                for (size_t i = 0; i < p->dirs[t].n; i++) {
                        const PlanFile *pf = &p->dirs[t].files[i];
                        if (pf->state != FILE_REMOVED)
                                f(userdata, type_dir_name(t), pf->name, pf->object);
                }
        return true;
}

void node_plan_foreach_change(const NodePlan *p, NodePlanChangeFunc f, void *userdata) {
        for (PublishPhase ph = 0; ph < _PUBLISH_PHASE_MAX; ph++) {
                if (!p->phases[ph])
                        continue;
                for (TypeDir t = 0; t < _TYPE_DIR_MAX; t++)
                        for (size_t i = 0; i < p->dirs[t].n; i++) {
                                const PlanFile *pf = &p->dirs[t].files[i];
                                bool removed = pf->state == FILE_REMOVED;
                                if (pf->state == FILE_UNCHANGED ||
                                    (removed ? type_dirs[t].remove_phase : type_dirs[t].phase) != ph)
                                        continue;
                                f(userdata, ph, type_dir_name(t), pf->name, removed);
                        }
                if (ph == PUBLISH_PHASE_CDS_FINAL)
                        f(userdata, ph, type_dir_name(TYPE_DIR_CDS), "cds.pb", false);
        }
}

const char *node_plan_data_link(const NodePlan *p, const char *type) {
        if (p->mode != PUBLISH_MODE_WATCHED_DIRECTORY)
                return NULL;
        for (TypeDir t = 0; t < _TYPE_DIR_MAX; t++)
                if (streq(type_dir_name(t), type))
                        return p->dirs[t].gen_live;
        return NULL;
}
