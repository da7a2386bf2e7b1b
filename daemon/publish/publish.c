/* SPDX-License-Identifier: MIT */
/* Publishing a generation into <output_dir>/<node>/<type>/: a plan compares
 * the next node output with what is live on disk, then make-before-break
 * phases link store objects into place (rename mode: linkat to a temporary
 * name + renameat over the file; watched_directory mode: a new generation
 * directory per type and a rename of its "..data" symlink), and the removal
 * phases unlink what nothing names any more. Only directory fds and *at()
 * calls below the output directory; no symlink is ever followed there. */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "hashmap.h"
#include "publish.h"
#include "resource.h"
#include "wire.h"

#define DIR_MODE 0750
#define TMP_PREFIX ".tmp."
#define DATA_LINK "..data"
#define DATA_TMP "..data.tmp"
#define GEN_PREFIX "..gen-"
/* what a live file may weigh before it is no longer worth reading back */
#define LIVE_FILE_MAX (256U * 1024 * 1024)

static const char *const publish_phase_table[_PUBLISH_PHASE_MAX] = {
        [PUBLISH_PHASE_SDS] = "sds",
        [PUBLISH_PHASE_EDS] = "eds",
        [PUBLISH_PHASE_CDS] = "cds",
        [PUBLISH_PHASE_RDS] = "rds",
        [PUBLISH_PHASE_LDS] = "lds",
        [PUBLISH_PHASE_RTDS] = "rtds",
        [PUBLISH_PHASE_REMOVE_ROUTES] = "remove-routes",
        [PUBLISH_PHASE_CDS_FINAL] = "cds-final",
        [PUBLISH_PHASE_REMOVE_FILES] = "remove-files",
};

DEFINE_STRING_TABLE_LOOKUP(publish_phase, PublishPhase);

typedef enum TypeDir {
        TYPE_DIR_SDS,
        TYPE_DIR_EDS,
        TYPE_DIR_CDS,
        TYPE_DIR_RDS,
        TYPE_DIR_SRDS,
        TYPE_DIR_LDS,
        TYPE_DIR_RTDS,
        _TYPE_DIR_MAX,
} TypeDir;

static const struct {
        const char *name;
        bool sotw; /* one file, "<name>.pb" */
        bool keep; /* that file is never removed: an Envoy's bootstrap names it */
        PublishPhase phase;
        PublishPhase remove_phase; /* of its files that next does not have (for lds and cds: stray ones) */
} type_dirs[_TYPE_DIR_MAX] = {
        [TYPE_DIR_SDS] = { "sds", false, false, PUBLISH_PHASE_SDS, PUBLISH_PHASE_REMOVE_FILES },
        [TYPE_DIR_EDS] = { "eds", false, false, PUBLISH_PHASE_EDS, PUBLISH_PHASE_REMOVE_FILES },
        [TYPE_DIR_CDS] = { "cds", true, true, PUBLISH_PHASE_CDS, PUBLISH_PHASE_REMOVE_FILES },
        [TYPE_DIR_RDS] = { "rds", false, false, PUBLISH_PHASE_RDS, PUBLISH_PHASE_REMOVE_ROUTES },
        [TYPE_DIR_SRDS] = { "srds", true, false, PUBLISH_PHASE_RDS, PUBLISH_PHASE_REMOVE_ROUTES },
        [TYPE_DIR_LDS] = { "lds", true, true, PUBLISH_PHASE_LDS, PUBLISH_PHASE_REMOVE_FILES },
        [TYPE_DIR_RTDS] = { "rtds", false, false, PUBLISH_PHASE_RTDS, PUBLISH_PHASE_REMOVE_FILES },
};

/* "lds.pb" in lds/, "cds.pb" in cds/: never removed, even when next lacks it. */
static bool is_kept_file(TypeDir t, const char *name) {
        size_t n = strlen(type_dirs[t].name);
        return type_dirs[t].keep && strncmp(name, type_dirs[t].name, n) == 0 && streq(name + n, ".pb");
}

typedef enum FileState {
        FILE_UNCHANGED,
        FILE_NEW,
        FILE_CHANGED,
        FILE_REMOVED,
} FileState;

typedef struct PlanFile {
        char *name;        /* "web.pb" */
        char object[65];   /* store object of the next bytes; empty when removed */
        FileState state;
        /* watched_directory mode */
        bool has_entry;    /* "<name>" exists in the type directory */
        bool relink;       /* ...but is not the symlink "..data/<name>": replace it after the swap */
        bool live_in_gen;  /* the live bytes are in the live generation (else a regular file at the top) */
        ino_t live_ino;    /* of the live bytes; 0: none */
} PlanFile;

typedef struct PlanDir {
        PlanFile *files; /* next's files sorted by name, then the removed ones */
        size_t n;
        bool publish;    /* its phase has work */
        bool remove;     /* its removal phase has work */
        bool prune;      /* REMOVE_FILES prunes old generations or a watched layout left behind */
        bool touched;    /* entries changed: sync at publish_finish */
        char *gen_live;  /* watched_directory mode: what "..data" points to */
        uint64_t gen_max;
} PlanDir;

struct NodePlan {
        Store *store;
        char *node;
        PublishMode mode;
        PlanDir dirs[_TYPE_DIR_MAX];
        char cds_intermediate[65]; /* empty: none */
        bool phases[_PUBLISH_PHASE_MAX];
        size_t n_changes;
        bool touched_output; /* the node directory was created */
        bool touched_node;   /* a type directory was created */
        int error;           /* of the phase that failed: the later ones do not run */
};

static int open_dir_at(int dirfd, const char *name) {
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* Opens a directory, creating it (DIR_MODE, gid, whatever the umask) when
 * missing. Never through a symlink: a planted one fails with -ELOOP or
 * -ENOTDIR. */
static int make_dir_at(int dirfd, const char *name, gid_t gid, bool *ret_made) {
        bool made = false;
        /* it mostly exists: open first */
        int fd = open_dir_at(dirfd, name);
        if (fd == -ENOENT) {
                if (mkdirat(dirfd, name, DIR_MODE) >= 0)
                        made = true;
                else if (errno != EEXIST)
                        return -errno;
                fd = open_dir_at(dirfd, name);
        }
        if (fd < 0)
                return fd;
        if (made && (fchmod(fd, DIR_MODE) < 0 || (gid != (gid_t) -1 && fchown(fd, (uid_t) -1, gid) < 0))) {
                int r = -errno;
                close(fd);
                return r;
        }
        if (ret_made)
                *ret_made = made;
        return fd;
}

/* getdents64 straight on a directory fd we hold: no second open, no
 * fdopendir, which for thousands of small directories is half the cost.
 * The fd must be fresh (or rewound); "." and ".." are skipped. */
typedef struct DirReader {
        int fd;
        size_t pos, len;
        bool eof;
        uint8_t buf[16384] __attribute__((aligned(8)));
} DirReader;

static void dir_reader_init(DirReader *r, int fd) {
        r->fd = fd;
        r->pos = r->len = 0;
        r->eof = false;
}

/* 1 and an entry, 0 at the end, or -errno. */
static int dir_read(DirReader *r, struct dirent64 **ret) {
        for (;;) {
                while (r->pos < r->len) {
                        struct dirent64 *de = (struct dirent64 *) (r->buf + r->pos);
                        r->pos += de->d_reclen;
                        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                                continue;
                        *ret = de;
                        return 1;
                }
                if (r->eof)
                        return 0;
                ssize_t n = getdents64(r->fd, r->buf, sizeof(r->buf));
                if (n < 0)
                        return -errno;
                if (n == 0)
                        r->eof = true;
                r->pos = 0;
                r->len = (size_t) n;
        }
}

static uint64_t tmp_counter;

/* ".tmp.<file>.<16 hex>", the file part cut so the whole fits NAME_MAX. */
static void tmp_name(char buf[static NAME_MAX + 1], const char *file) {
        if (tmp_counter == 0 && getrandom(&tmp_counter, sizeof(tmp_counter), GRND_NONBLOCK) != sizeof(tmp_counter))
                tmp_counter = (uint64_t) getpid() << 32;
        snprintf(buf, NAME_MAX + 1, TMP_PREFIX "%.*s.%016" PRIx64, NAME_MAX - 6 - 16 - 1, file, ++tmp_counter);
}

static bool is_gen_name(const char *name, uint64_t *ret) {
        if (!startswith(name, GEN_PREFIX))
                return false;
        const char *p = name + strlen(GEN_PREFIX);
        if (!*p)
                return false;
        uint64_t v = 0;
        for (; *p; p++) {
                if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
                        return false;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        if (ret)
                *ret = v;
        return true;
}

static bool is_pb_name(const char *name) {
        return name[0] != '.' && endswith(name, ".pb") && strlen(name) > 3;
}

/* The symlink target of "<name>" in watched_directory mode. */
static char *data_target(const char *name) {
        return xasprintf(DATA_LINK "/%s", name);
}

/* readlinkat into a fresh string; -EINVAL when it is no symlink. */
static int read_link_at(int dirfd, const char *name, char **ret) {
        char buf[PATH_MAX];
        ssize_t n = readlinkat(dirfd, name, buf, sizeof(buf) - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        *ret = xstrdup(buf);
        return 0;
}

static int read_at(int dirfd, const char *name, size_t max, uint8_t **ret, size_t *ret_len) {
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return read_regular_fd(fd, max, ret, ret_len);
}

/* The live file holds exactly these bytes (another inode: a store that
 * was lost, or a copy made by someone else). */
static bool live_equals(int dirfd, const char *name, const void *data, size_t len) {
        if (len > LIVE_FILE_MAX)
                return false;
        _cleanup_free_ uint8_t *live = NULL;
        size_t live_len;
        /* bounded by len: a larger file fails with -EFBIG, which is "different" */
        if (read_at(dirfd, name, len, &live, &live_len) < 0)
                return false;
        return live_len == len && memcmp(live, data, len) == 0;
}

/* The cds intermediate: clusters of a serialized cds DiscoveryResponse. */
typedef struct ClusterSet {
        Resource *items;
        size_t n;
} ClusterSet;

static void cluster_set_done(ClusterSet *c) {
        for (size_t i = 0; i < c->n; i++)
                free(c->items[i].name);
        free(c->items);
        *c = (ClusterSet) {};
}

/* Resources point into data (any, any_len), names are copies. */
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
                c.items = xrealloc(c.items, (c.n + 1) * sizeof(Resource));
                c.items[c.n++] = (Resource) {
                        .type = RESOURCE_CLUSTER,
                        .name = name ? xstrndup((const char *) name, name_len) : xstrdup(""),
                        .any = (uint8_t *) f.data,
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
 * getdents alone (an fstatat only where the filesystem gives no type). */
typedef bool (*EntryFilter)(const char *name);

static int list_dir(int fd, EntryFilter keep, LiveEntry **ret, size_t *ret_n, bool *ret_has_data, size_t *ret_n_gens,
                    uint64_t *gen_max) {
        _cleanup_free_ DirReader *dir = xmalloc(sizeof(DirReader));
        dir_reader_init(dir, fd);
        LiveEntry *l = NULL;
        size_t n = 0;
        struct dirent64 *de = NULL;
        int r;
        while ((r = dir_read(dir, &de)) > 0) {
                uint64_t g;
                if (ret_has_data && streq(de->d_name, DATA_LINK)) {
                        *ret_has_data = true;
                        continue;
                }
                if (ret_n_gens && is_gen_name(de->d_name, &g)) {
                        (*ret_n_gens)++;
                        *gen_max = MAX(*gen_max, g);
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
        int r = list_dir(fd, is_pb_name, &live, &n_live, &has_data, &n_gens, &d->gen_max);
        if (r < 0)
                return r;

        if (has_data) {
                _cleanup_free_ char *data = NULL;
                r = read_link_at(fd, DATA_LINK, &data);
                if (r < 0 && r != -ENOENT && r != -EINVAL)
                        goto fail;
                if (r >= 0 && !strchr(data, '/') && startswith(data, "..")) {
                        gen_fd = open_dir_at(fd, data);
                        if (gen_fd >= 0) {
                                d->gen_live = TAKE_PTR(data);
                                r = list_dir(gen_fd, any_name, &gen, &n_gen, NULL, NULL, NULL);
                                if (r < 0)
                                        goto fail;
                        }
                }
        }
        /* generations other than the live one; in rename mode, the whole watched layout */
        if (watched ? n_gens > (d->gen_live && is_gen_name(d->gen_live, NULL) ? 1u : 0u) : has_data || n_gens > 0)
                d->prune = true;

        for (size_t i = 0; i < n_live; i++) {
                LiveEntry *e = &live[i];
                if (!e->is_symlink)
                        continue;
                _cleanup_free_ char *target = NULL, *want = data_target(e->name);
                e->link_ok = read_link_at(fd, e->name, &target) >= 0 && streq(target, want);
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
                fd = open_dir_at(node_fd, type_dirs[t].name);
                if (fd < 0 && fd != -ENOENT)
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
                                 live_equals(live_fd, f->name, next[i]->data, next[i]->len));
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
                if (strneq_len(path, (size_t) (slash - path), type_dirs[t].name))
                        return t;
        return _TYPE_DIR_MAX;
}

static bool node_file_path_is_valid(const char *path, TypeDir t) {
        const char *name = strchr(path, '/') + 1;
        if (!is_pb_name(name) || strchr(name, '/') || strlen(name) > NAME_MAX)
                return false;
        if (type_dirs[t].sotw) {
                size_t n = strlen(type_dirs[t].name);
                return strncmp(name, type_dirs[t].name, n) == 0 && streq(name + n, ".pb");
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

        _cleanup_close_ int node_fd = open_dir_at(store_output_fd(s), node);
        if (node_fd < 0 && node_fd != -ENOENT)
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
        *p = (NodePlan) { .store = s, .node = xstrdup(node), .mode = PUBLISH_MODE_RENAME };
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
                                r = plan_cds_intermediate_from(p, old->data, old->len, f, &intermediate);
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

/* Creates name's new entry under a temporary name, then renames it over
 * name: a hard link of a store object (store_fd >= 0: rename mode), or a
 * symlink to target (store_fd < 0). Either way one rename switches it. */
static int place_by_rename(int store_fd, const char *source, int fd, const char *name) {
        char tmp[NAME_MAX + 1];
        for (unsigned attempt = 0;; attempt++) {
                tmp_name(tmp, name);
                int r = store_fd >= 0 ? linkat(store_fd, source, fd, tmp, 0) : symlinkat(source, fd, tmp);
                if (r >= 0)
                        break;
                if (errno != EEXIST || attempt >= 16)
                        return -errno;
        }
        if (renameat(fd, tmp, fd, name) < 0) {
                int r = -errno;
                (void) unlinkat(fd, tmp, 0);
                return r;
        }
        return 0;
}

static int place_file(int store_fd, const char *object, int fd, const char *name) {
        return place_by_rename(store_fd, object, fd, name);
}

static int place_symlink(const char *target, int fd, const char *name) {
        return place_by_rename(-EBADF, target, fd, name);
}

static const char *file_object(const NodePlan *p, TypeDir t, const PlanFile *f, bool intermediate) {
        return t == TYPE_DIR_CDS && intermediate ? p->cds_intermediate : f->object;
}

static int publish_rename(NodePlan *p, TypeDir t, int fd, bool intermediate) {
        PlanDir *d = &p->dirs[t];
        for (size_t i = 0; i < d->n; i++) {
                PlanFile *f = &d->files[i];
                if (f->state == FILE_REMOVED || f->state == FILE_UNCHANGED)
                        continue;
                const char *object = file_object(p, t, f, intermediate);
                int r = place_file(store_dirfd(p->store), object, fd, f->name);
                if (r == -ENOENT)
                        store_forget(p->store, object); /* removed behind the store's back */
                if (r < 0)
                        return r;
                store_unlinked(p->store, f->live_ino);
                f->live_ino = store_object_inode(p->store, object);
                d->touched = true;
        }
        return 0;
}

/* Removes a generation directory: hard links (or symlinks) and itself.
 * The store (when given) learns which objects lost a link. */
static int remove_gen_dir(Store *s, int fd, const char *name) {
        _cleanup_close_ int gen_fd = open_dir_at(fd, name);
        if (gen_fd < 0)
                return gen_fd == -ENOENT ? 0 : gen_fd;
        _cleanup_free_ DirReader *dir = xmalloc(sizeof(DirReader));
        dir_reader_init(dir, gen_fd);
        struct dirent64 *de = NULL;
        int r;
        while ((r = dir_read(dir, &de)) > 0) {
                if (unlinkat(gen_fd, de->d_name, 0) < 0 && errno != ENOENT)
                        return -errno;
                if (s)
                        store_unlinked(s, de->d_ino);
        }
        if (r < 0)
                return r;
        if (unlinkat(fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return -errno;
        return 1;
}

/* watched_directory mode: a new generation directory with every file of
 * the type (and the removed ones, until their removal phase), then one
 * rename of "..data" switches them all. */
static int publish_watched(NodePlan *p, TypeDir t, int fd, bool intermediate) {
        PlanDir *d = &p->dirs[t];
        int store_fd = store_dirfd(p->store);
        char gen[sizeof(GEN_PREFIX) + 21];
        _cleanup_close_ int gen_fd = -EBADF;
        for (unsigned attempt = 0; gen_fd < 0; attempt++) {
                snprintf(gen, sizeof(gen), GEN_PREFIX "%" PRIu64, ++d->gen_max);
                bool made = false;
                gen_fd = make_dir_at(fd, gen, store_gid(p->store), &made);
                if (gen_fd >= 0 && !made) {
                        close(gen_fd);
                        gen_fd = -EEXIST;
                }
                if (gen_fd < 0 && (gen_fd != -EEXIST || attempt >= 16))
                        return gen_fd;
        }
        _cleanup_close_ int live_gen_fd = -EBADF;
        if (d->gen_live) {
                live_gen_fd = open_dir_at(fd, d->gen_live);
                if (live_gen_fd < 0 && live_gen_fd != -ENOENT)
                        return live_gen_fd;
        }
        d->touched = true;

        int r = 0;
        for (size_t i = 0; i < d->n; i++) {
                PlanFile *f = &d->files[i];
                if (f->state != FILE_REMOVED) {
                        r = linkat(store_fd, file_object(p, t, f, intermediate), gen_fd, f->name, 0);
                        if (r < 0 && errno == ENOENT)
                                store_forget(p->store, file_object(p, t, f, intermediate));
                }
                else if (f->live_ino && (!f->live_in_gen || live_gen_fd >= 0))
                        /* removed files stay readable until the removal phase */
                        r = linkat(f->live_in_gen ? live_gen_fd : fd, f->name, gen_fd, f->name, 0);
                else
                        continue;
                if (r < 0) {
                        r = -errno;
                        goto fail;
                }
        }

        /* new names: their symlinks dangle until the swap, which nothing reads */
        for (size_t i = 0; i < d->n; i++) {
                PlanFile *f = &d->files[i];
                if (f->state == FILE_REMOVED || f->has_entry)
                        continue;
                _cleanup_free_ char *target = data_target(f->name);
                if (symlinkat(target, fd, f->name) < 0) {
                        if (errno != EEXIST) {
                                r = -errno;
                                goto fail;
                        }
                        f->relink = true;
                }
                f->has_entry = true;
        }

        (void) unlinkat(fd, DATA_TMP, 0);
        if (symlinkat(gen, fd, DATA_TMP) < 0) {
                r = -errno;
                goto fail;
        }
        if (renameat(fd, DATA_TMP, fd, DATA_LINK) < 0) {
                r = -errno;
                (void) unlinkat(fd, DATA_TMP, 0);
                goto fail;
        }
        free(d->gen_live);
        d->gen_live = xstrdup(gen);
        ino_t *replaced = xcalloc(d->n + 1, sizeof(ino_t));
        for (size_t i = 0; i < d->n; i++) {
                PlanFile *f = &d->files[i];
                if (f->live_ino && !f->live_in_gen)
                        replaced[i] = f->live_ino; /* a regular file at the top, replaced below */
                if (f->state != FILE_REMOVED)
                        f->live_ino = store_object_inode(p->store, file_object(p, t, f, intermediate));
                if (f->live_ino)
                        f->live_in_gen = true;
        }

        /* entries of another layout (a regular file from rename mode, a stray
         * symlink): replaced only now that "..data" resolves */
        for (size_t i = 0; i < d->n; i++) {
                PlanFile *f = &d->files[i];
                if (f->state == FILE_REMOVED || !f->relink)
                        continue;
                _cleanup_free_ char *target = data_target(f->name);
                r = place_symlink(target, fd, f->name);
                if (r < 0) {
                        free(replaced);
                        return r;
                }
                f->relink = false;
                store_unlinked(p->store, replaced[i]);
        }
        free(replaced);
        return 0;

fail:
        /* nothing points to it: not even half a generation stays */
        (void) remove_gen_dir(NULL, fd, gen);
        return r;
}

static int open_node(NodePlan *p, bool create, int *ret) {
        bool made = false;
        int fd = create ? make_dir_at(store_output_fd(p->store), p->node, store_gid(p->store), &made)
                        : open_dir_at(store_output_fd(p->store), p->node);
        if (fd < 0)
                return fd;
        if (made)
                p->touched_output = true;
        *ret = fd;
        return 0;
}

/* <output_dir>/<node>/<type> in one call that refuses a symlink anywhere
 * on the way (-ELOOP for a planted one, as the step-by-step opens give):
 * publishing to a thousand nodes is mostly these opens. */
static int open_type_dir_beneath(NodePlan *p, TypeDir t) {
        char path[NAME_MAX + 16];
        snprintf(path, sizeof path, "%s/%s", p->node, type_dirs[t].name);
        struct open_how how = {
                .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH,
        };
        long fd = syscall(SYS_openat2, store_output_fd(p->store), path, &how, sizeof how);
        return fd < 0 ? -errno : (int) fd;
}

/* *node_fd is opened (creating the node directory) only when the type
 * directory is not there yet. */
static int publish_type(NodePlan *p, int *node_fd, TypeDir t, bool intermediate) {
        if (!p->dirs[t].publish)
                return 0;
        _cleanup_close_ int fd = open_type_dir_beneath(p, t);
        if (fd == -ENOENT || fd == -ENOSYS) {
                if (*node_fd < 0) {
                        int r = open_node(p, true, node_fd);
                        if (r < 0)
                                return r;
                }
                bool made = false;
                fd = make_dir_at(*node_fd, type_dirs[t].name, store_gid(p->store), &made);
                if (made)
                        p->touched_node = true;
        }
        if (fd < 0)
                return fd;
        return p->mode == PUBLISH_MODE_WATCHED_DIRECTORY ? publish_watched(p, t, fd, intermediate)
                                                         : publish_rename(p, t, fd, intermediate);
}

static int remove_type(NodePlan *p, int node_fd, TypeDir t) {
        PlanDir *d = &p->dirs[t];
        if (!d->remove)
                return 0;
        _cleanup_close_ int fd = open_dir_at(node_fd, type_dirs[t].name);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;
        _cleanup_close_ int gen_fd = -EBADF;
        if (d->gen_live) {
                gen_fd = open_dir_at(fd, d->gen_live);
                if (gen_fd < 0 && gen_fd != -ENOENT)
                        return gen_fd;
        }
        for (size_t i = 0; i < d->n; i++) {
                PlanFile *f = &d->files[i];
                if (f->state != FILE_REMOVED)
                        continue;
                if (unlinkat(fd, f->name, 0) < 0 && errno != ENOENT)
                        return -errno;
                /* the link in the live generation: a subdirectory, which no
                 * Envoy watches, so this is no event for anyone */
                if (f->live_in_gen && gen_fd >= 0 && unlinkat(gen_fd, f->name, 0) < 0 && errno != ENOENT)
                        return -errno;
                store_unlinked(p->store, f->live_ino);
                d->touched = true;
        }
        return 0;
}

/* Leftovers in a type directory: temporary names, "..data.tmp", generation
 * directories other than keep (NULL: all of them). */
static int prune_type_dir(Store *s, int fd, const char *keep, bool temporaries) {
        _cleanup_free_ DirReader *dir = xmalloc(sizeof(DirReader));
        dir_reader_init(dir, fd);
        int n = 0, r;
        struct dirent64 *de = NULL;
        while ((r = dir_read(dir, &de)) > 0) {
                if (is_gen_name(de->d_name, NULL)) {
                        if (keep && streq(keep, de->d_name))
                                continue;
                        r = remove_gen_dir(s, fd, de->d_name);
                        if (r < 0)
                                return r;
                        n += r;
                } else if (temporaries && (startswith(de->d_name, TMP_PREFIX) || streq(de->d_name, DATA_TMP))) {
                        if (unlinkat(fd, de->d_name, 0) >= 0)
                                n++;
                        else if (errno == EISDIR && remove_gen_dir(s, fd, de->d_name) > 0)
                                n++;
                        else if (errno != ENOENT)
                                return -errno;
                }
        }
        if (r < 0)
                return r;
        return n;
}

/* rename mode after watched_directory mode: "..data" and the generations
 * go once no "*.pb" symlink points through them. */
static int take_down_watched_layout(Store *s, int fd) {
        _cleanup_free_ DirReader *dir = xmalloc(sizeof(DirReader));
        dir_reader_init(dir, fd);
        struct dirent64 *de = NULL;
        int r;
        while ((r = dir_read(dir, &de)) > 0) {
                struct stat st;
                if (is_pb_name(de->d_name) && fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) >= 0 &&
                    S_ISLNK(st.st_mode))
                        return 0;
        }
        if (r < 0)
                return r;
        if (unlinkat(fd, DATA_LINK, 0) < 0 && errno != ENOENT)
                return -errno;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        return prune_type_dir(s, fd, NULL, false);
}

static int prune_type(NodePlan *p, int node_fd, TypeDir t) {
        PlanDir *d = &p->dirs[t];
        if (!d->prune)
                return 0;
        _cleanup_close_ int fd = open_dir_at(node_fd, type_dirs[t].name);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;
        int r = p->mode == PUBLISH_MODE_WATCHED_DIRECTORY ? prune_type_dir(p->store, fd, d->gen_live, false)
                                                          : take_down_watched_layout(p->store, fd);
        if (r < 0)
                return r;
        d->touched = true;
        return 0;
}

static int run_phase(NodePlan *p, PublishPhase phase) {
        bool removal = phase == PUBLISH_PHASE_REMOVE_ROUTES || phase == PUBLISH_PHASE_REMOVE_FILES;
        int r;
        _cleanup_close_ int node_fd = -EBADF;
        if (removal) {
                r = open_node(p, false, &node_fd);
                if (r == -ENOENT)
                        return 0;
                if (r < 0)
                        return r;
        } else {
                /* every plan's new objects reach the disk before the first is linked */
                r = store_sync(p->store, false);
                if (r < 0)
                        return r;
        }

        switch (phase) {
        case PUBLISH_PHASE_SDS:
                return publish_type(p, &node_fd, TYPE_DIR_SDS, false);
        case PUBLISH_PHASE_EDS:
                return publish_type(p, &node_fd, TYPE_DIR_EDS, false);
        case PUBLISH_PHASE_CDS:
                return publish_type(p, &node_fd, TYPE_DIR_CDS, p->cds_intermediate[0] != 0);
        case PUBLISH_PHASE_RDS:
                r = publish_type(p, &node_fd, TYPE_DIR_RDS, false);
                return r < 0 ? r : publish_type(p, &node_fd, TYPE_DIR_SRDS, false);
        case PUBLISH_PHASE_LDS:
                return publish_type(p, &node_fd, TYPE_DIR_LDS, false);
        case PUBLISH_PHASE_RTDS:
                return publish_type(p, &node_fd, TYPE_DIR_RTDS, false);
        case PUBLISH_PHASE_REMOVE_ROUTES:
                r = remove_type(p, node_fd, TYPE_DIR_RDS);
                return r < 0 ? r : remove_type(p, node_fd, TYPE_DIR_SRDS);
        case PUBLISH_PHASE_CDS_FINAL:
                return publish_type(p, &node_fd, TYPE_DIR_CDS, false);
        case PUBLISH_PHASE_REMOVE_FILES:
                for (TypeDir t = 0; t < _TYPE_DIR_MAX; t++)
                        if (type_dirs[t].remove_phase == PUBLISH_PHASE_REMOVE_FILES) {
                                r = remove_type(p, node_fd, t);
                                if (r < 0)
                                        return r;
                        }
                for (TypeDir t = 0; t < _TYPE_DIR_MAX; t++) {
                        r = prune_type(p, node_fd, t);
                        if (r < 0)
                                return r;
                }
                return 0;
        default:
                assert(false);
                return -EINVAL;
        }
}

int node_plan_run_phase(NodePlan *p, PublishPhase phase) {
        assert(p);
        assert(phase >= 0 && phase < _PUBLISH_PHASE_MAX);
        if (!p->phases[phase])
                return 0;
        if (p->error < 0)
                return -ECANCELED;
        int r = run_phase(p, phase);
        if (r < 0)
                p->error = r;
        return r;
}

int node_plan_error(const NodePlan *p) {
        return p->error;
}

int publish_finish(Store *s, NodePlan **plans, size_t n) {
        assert(s);
        assert(plans || n == 0);
        bool touched = false;
        for (size_t i = 0; i < n && !touched; i++) {
                NodePlan *p = plans[i];
                if (!p)
                        continue;
                touched = p->touched_output || p->touched_node;
                for (TypeDir t = 0; t < _TYPE_DIR_MAX; t++)
                        touched = touched || p->dirs[t].touched;
        }
        /* The directories' new entries, in one batch. One syncfs(2) beats an
         * fsync of each touched directory by far: on ext4 each directory
         * fsync costs a cache flush even when its journal commit is done
         * (1,000 directories: ~2 s against ~50-100 ms); the price is that
         * syncfs also waits for what others wrote on the same filesystem. */
        int r = store_sync(s, touched);
        if (r < 0)
                return r;
        return store_collect(s);
}

int publish_clean_node(const char *output_dir, const char *node) {
        assert(output_dir);
        assert(node);
        if (!node_id_is_valid(node))
                return -EINVAL;
        _cleanup_close_ int out_fd = open(output_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (out_fd < 0)
                return errno == ENOENT ? 0 : -errno;
        _cleanup_close_ int node_fd = open_dir_at(out_fd, node);
        if (node_fd == -ENOENT)
                return 0;
        if (node_fd < 0)
                return node_fd;
        int n = 0;
        for (TypeDir t = 0; t < _TYPE_DIR_MAX; t++) {
                _cleanup_close_ int fd = open_dir_at(node_fd, type_dirs[t].name);
                if (fd == -ENOENT)
                        continue;
                if (fd < 0)
                        return fd;
                _cleanup_free_ char *data = NULL;
                int r = read_link_at(fd, DATA_LINK, &data);
                if (r < 0 && r != -ENOENT && r != -EINVAL)
                        return r;
                r = prune_type_dir(NULL, fd, data, true);
                if (r < 0)
                        return r;
                n += r;
        }
        return n;
}
