/* SPDX-License-Identifier: MIT */
/* The source-tree watch (interface and reporting rules in watch.h). Both
 * backends share one table of the directories under the root, keyed by what
 * the kernel names a directory by in its events (the inotify watch
 * descriptor, or fsid + handle type + file handle under fanotify) and indexed
 * by relative path too, plus one "anchor": the directory holding the root
 * (its nearest existing ancestor while the root is missing), watched for the
 * root's name only. Every change of the directory structure is resolved the
 * same way, by a walk: bump a generation, walk the changed subtree as it is
 * now (watch first, then list, so nothing created in between is missed) and
 * drop what the walk did not reach. A walk is idempotent, so merged, stale or
 * reordered events cannot leave the table wrong for long, and inodes that are
 * still watched keep their watch descriptor (no IN_IGNORED storm after an
 * overflow).
 *
 * Links to files are followed by the build wherever their target is in the
 * tree, also in a dot-directory the walk skips and under a name that is no
 * source name (a *.txt): the watch keeps each link's target (real path),
 * re-resolved after every change of what the tree names, and watches the
 * targets' directories for them, so that an edit of a target wakes a
 * rebuild as an edit of the link's own file would. */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "build.h"
#include "dirscan.h"
#include "dirtable.h"
#include "hashmap.h"
#include "watch.h"

static const char *const watch_backend_table[_WATCH_BACKEND_MAX] = {
        [WATCH_BACKEND_AUTO] = "auto",
        [WATCH_BACKEND_INOTIFY] = "inotify",
        [WATCH_BACKEND_FANOTIFY] = "fanotify",
};

DEFINE_STRING_TABLE_LOOKUP(watch_backend, WatchBackend);

#ifndef AT_HANDLE_FID
#define AT_HANDLE_FID 0x200 /* Linux 6.5: encode the handle exactly as fanotify reports it */
#endif

#define WATCH_DEPTH_MAX 32 /* directories below the root, as the build's walk */
#define WATCH_DIRS_MAX 65536
#define WATCH_READS_MAX 64 /* per watch_process(): a busy filesystem cannot hold the loop */
#define WATCH_BUF_SIZE (64 * 1024)
#define WATCH_SETUP_TRIES 16
#define FSID_SIZE 8
#define KEY_MAX (FSID_SIZE + sizeof(int) + MAX_HANDLE_SZ)

#define INOTIFY_DIR_MASK                                                                                  \
        (IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF |          \
         IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)
/* The anchor only has to see the root's name come and go. IN_MASK_ADD: in a
 * tree that links back to its own parent, the anchor is a tree directory too. */
#define INOTIFY_ANCHOR_MASK                                                                               \
        (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | \
         IN_MASK_ADD)
/* With FAN_REPORT_DFID_NAME every event names the directory and the entry;
 * FAN_CLOSE_WRITE on a file comes with its parent's handle and its name.
 * Events on directories themselves (FAN_DELETE_SELF/FAN_MOVE_SELF) carry the
 * directory's own handle and the name "." (older kernels: no name). */
#define FANOTIFY_MASK                                                                                     \
        (FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_CLOSE_WRITE | FAN_DELETE_SELF |    \
         FAN_MOVE_SELF | FAN_ONDIR)

struct Watch {
        WatchBackend backend;
        int fd;
        char *root; /* absolute, without ".", "..", "//" or a trailing "/" */
        DirTable dirs;
        uint64_t gen;
        char *anchor_dir;  /* NULL: no anchor, the root is "/" */
        char *anchor_name; /* the component of the root's path expected in anchor_dir */
        int anchor_wd;
        uint8_t anchor_key[KEY_MAX];
        size_t anchor_key_len;
        uint8_t (*marked)[FSID_SIZE]; /* fanotify: the filesystems marked so far */
        size_t n_marked;
        char *failure; /* the first call that failed, for the fallback reason */
        void *buf;
        /* inotify: out of watches (-ENOSPC) or of instances (-EMFILE, fd < 0);
         * what could not be watched is listed and rescanned instead */
        int limit_error;
        bool anchor_unwatched;
        /* links to files: link path -> WatchLink; their targets' paths
         * (relative to root_real) -> how many links name them; the
         * directories holding them, watched for them (TargetDir) */
        char *root_real;
        Hashmap links;
        Hashmap targets;
        Hashmap target_dirs_by_key;
        struct TargetDir **target_dirs;
        size_t n_target_dirs;
        bool links_dirty; /* a link came, went or was retargeted: resolve them again */
};

typedef struct WatchLink {
        char *link;   /* relative to the root, as walked */
        char *target; /* relative to root_real */
} WatchLink;

typedef struct TargetRef {
        char *path; /* relative to root_real */
        size_t n;   /* links naming it */
} TargetRef;

/* A directory that holds link targets, watched for their names; it may be
 * a walked directory too (then the watch descriptor is shared). */
typedef struct TargetDir {
        char *path; /* relative to root_real; "" for the root */
        int wd;     /* inotify; -1 under fanotify */
        size_t key_len;
        uint8_t key[KEY_MAX];
} TargetDir;

typedef struct Batch {
        WatchCallback cb;
        void *userdata;
        int n_reported;
        int error;   /* the first error while re-watching */
        bool reset;  /* re-establish everything: overflow, the root or the anchor changed */
        bool rescan; /* report NULL at the end */
} Batch;

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

static void batch_report(Batch *b, const char *rel);

static TargetDir *target_dir_by_key(const Watch *w, const void *key, size_t key_len) {
        return hashmap_get(&w->target_dirs_by_key, (const char *) key, key_len);
}

/* Whether the inotify watch wd is the anchor's, a walked directory's or
 * the one of a directory of link targets: not to be removed for another. */
static bool wd_in_use(const Watch *w, int wd) {
        return wd == w->anchor_wd || dirtable_find_key(&w->dirs, &wd, sizeof(wd)) ||
               (w->backend == WATCH_BACKEND_INOTIFY && target_dir_by_key(w, &wd, sizeof(wd)));
}

bool watch_is_source_name(const char *name) {
        return build_is_source_name(name);
}

/* Paths */

/* root made absolute and cleaned lexically (".", "..", "//", trailing "/"):
 * the anchor is found by cutting components off its end. */
static int path_absolute_clean(const char *path, char **ret) {
        _cleanup_free_ char *cwd = NULL;
        if (path[0] != '/') {
                cwd = getcwd(NULL, 0);
                if (!cwd)
                        return -errno;
        }
        _cleanup_free_ char *joined = cwd ? xasprintf("%s/%s", cwd, path) : xstrdup(path);
        char *out = xmalloc(strlen(joined) + 2);
        size_t len = 0;
        for (char *save = NULL, *c = strtok_r(joined, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (streq(c, "."))
                        continue;
                if (streq(c, "..")) {
                        while (len > 0 && out[len - 1] != '/')
                                len--;
                        if (len > 0)
                                len--; /* the '/' before the dropped component */
                        continue;
                }
                out[len++] = '/';
                size_t n = strlen(c);
                memcpy(out + len, c, n);
                len += n;
        }
        if (len == 0)
                out[len++] = '/';
        out[len] = 0;
        *ret = out;
        return 0;
}

static char *root_path(const Watch *w, const char *rel) {
        if (!rel[0])
                return xstrdup(w->root);
        return xasprintf("%s/%s", streq(w->root, "/") ? "" : w->root, rel);
}

static char *rel_join(const char *dir, const char *name) {
        return dir[0] ? xasprintf("%s/%s", dir, name) : xstrdup(name);
}

static unsigned rel_depth(const char *rel) {
        if (!rel[0])
                return 0;
        unsigned n = 1;
        for (const char *p = rel; *p; p++)
                n += *p == '/';
        return n;
}

static bool rel_under(const char *path, const char *rel) {
        size_t n = strlen(rel);
        return n == 0 || (strncmp(path, rel, n) == 0 && (path[n] == 0 || path[n] == '/'));
}

static bool watch_is_link(const Watch *w, const char *rel) {
        _cleanup_free_ char *p = root_path(w, rel);
        struct stat st;
        return lstat(p, &st) == 0 && S_ISLNK(st.st_mode);
}

static bool watch_is_dir(const Watch *w, const char *rel) {
        _cleanup_free_ char *p = root_path(w, rel);
        struct stat st;
        return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A directory that vanished, is no directory or cannot be read is the
 * build's to report; it must not stop the watch of the rest. */
static bool error_is_skippable(int r) {
        return r == -ENOENT || r == -ENOTDIR || r == -EACCES || r == -ELOOP || r == -ENAMETOOLONG ||
               r == -ESTALE;
}

_printf_(3, 4) static int watch_fail(Watch *w, int r, const char *fmt, ...) {
        if (!w->failure) {
                va_list ap;
                va_start(ap, fmt);
                if (vasprintf(&w->failure, fmt, ap) < 0)
                        w->failure = NULL;
                va_end(ap);
        }
        return r;
}

/* Watching one directory */

static int fanotify_mark_fs(Watch *w, int fd, const uint8_t fsid[FSID_SIZE], const char *path) {
        for (size_t i = 0; i < w->n_marked; i++)
                if (memcmp(w->marked[i], fsid, FSID_SIZE) == 0)
                        return 0;
        /* The whole filesystem: events outside the tree are dropped by the
         * table lookup. A tree spanning mounts gets one mark per filesystem. */
        if (fanotify_mark(w->fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FANOTIFY_MASK, fd, NULL) < 0)
                return watch_fail(w, -errno, "fanotify_mark(%s)", path);
        w->marked = xrealloc(w->marked, (w->n_marked + 1) * sizeof(*w->marked));
        memcpy(w->marked[w->n_marked++], fsid, FSID_SIZE);
        return 0;
}

/* The key fanotify names the directory open at fd by: its filesystem's fsid,
 * the handle type and the handle. Marks the filesystem when it is new. */
static int fanotify_key(Watch *w, int fd, const char *path, uint8_t key[static KEY_MAX], size_t *ret_len) {
        union {
                struct file_handle fh;
                uint8_t raw[sizeof(struct file_handle) + MAX_HANDLE_SZ];
        } h = { .fh.handle_bytes = MAX_HANDLE_SZ };
        struct statfs sfs;
        int mount_id, r;

        if (fstatfs(fd, &sfs) < 0)
                return -errno;
        uint8_t fsid[FSID_SIZE];
        static_assert(sizeof(sfs.f_fsid) == FSID_SIZE, "fsid size");
        memcpy(fsid, &sfs.f_fsid, FSID_SIZE);
        r = fanotify_mark_fs(w, fd, fsid, path);
        if (r < 0)
                return r;
        if (name_to_handle_at(fd, "", &h.fh, &mount_id, AT_EMPTY_PATH | AT_HANDLE_FID) < 0) {
                if (errno != EINVAL)
                        return watch_fail(w, -errno, "name_to_handle_at(%s)", path);
                /* before Linux 6.5 */
                h.fh.handle_bytes = MAX_HANDLE_SZ;
                if (name_to_handle_at(fd, "", &h.fh, &mount_id, AT_EMPTY_PATH) < 0)
                        return watch_fail(w, -errno, "name_to_handle_at(%s)", path);
        }
        if (h.fh.handle_bytes > MAX_HANDLE_SZ)
                return -EOVERFLOW;
        memcpy(key, fsid, FSID_SIZE);
        memcpy(key + FSID_SIZE, &h.fh.handle_type, sizeof(int));
        memcpy(key + FSID_SIZE + sizeof(int), h.fh.f_handle, h.fh.handle_bytes);
        *ret_len = FSID_SIZE + sizeof(int) + h.fh.handle_bytes;
        return 0;
}

/* Starts watching the directory at rel and opens it for listing. */
static int watch_visit(Watch *w, const char *rel, uint8_t key[static KEY_MAX], size_t *ret_key_len, int *ret_wd,
                       int *ret_fd) {
        _cleanup_free_ char *p = root_path(w, rel);
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (w->backend == WATCH_BACKEND_INOTIFY) {
                /* The watch first, the listing second: what is created before
                 * the watch is in the listing, what comes after is an event. */
                int wd = w->fd >= 0 ? inotify_add_watch(w->fd, p, INOTIFY_DIR_MASK) : -1;
                if (wd < 0) {
                        r = w->fd >= 0 ? -errno : -EMFILE;
                        if (r != -ENOSPC && r != -EMFILE)
                                return r;
                        /* out of watches or instances: known by its inode,
                         * listed and compared by the rescan instead */
                        w->limit_error = r;
                        fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (fd < 0)
                                return -errno;
                        struct stat st;
                        if (fstat(fd, &st) < 0)
                                return -errno;
                        uint64_t dev = st.st_dev, ino = st.st_ino;
                        memcpy(key, &dev, sizeof(dev));
                        memcpy(key + sizeof(dev), &ino, sizeof(ino));
                        *ret_key_len = sizeof(dev) + sizeof(ino); /* never the length of a wd key */
                        *ret_wd = -1;
                        *ret_fd = TAKE_FD(fd);
                        return 0;
                }
                fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0) {
                        r = -errno;
                        if (!wd_in_use(w, wd))
                                (void) inotify_rm_watch(w->fd, wd);
                        return r;
                }
                memcpy(key, &wd, sizeof(wd));
                *ret_key_len = sizeof(wd);
                *ret_wd = wd;
        } else {
                /* The filesystem mark sees everything already; the handle is
                 * taken from the directory that is then listed. */
                fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                r = fanotify_key(w, fd, p, key, ret_key_len);
                if (r < 0)
                        return r;
                *ret_wd = -1;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static void watch_unwatch(Watch *w, DirNode *d) {
        if (d->wd >= 0 && d->wd != w->anchor_wd && !target_dir_by_key(w, &d->wd, sizeof(d->wd)))
                (void) inotify_rm_watch(w->fd, d->wd);
}

static void links_note(Watch *w, const char *rel);

/* Watches the directory at rel and every directory below it, as part of
 * walk w->gen. Follows symlinks to directories, as the build does; skips
 * dot-directories, as the build does. */
static int watch_add_tree(Watch *w, const char *rel, unsigned depth) {
        uint8_t key[KEY_MAX];
        size_t key_len = 0;
        int wd = -1, r;
        _cleanup_close_ int fd = -EBADF;

        if (depth > WATCH_DEPTH_MAX)
                return 0;
        r = watch_visit(w, rel, key, &key_len, &wd, &fd);
        if (r < 0)
                return r;

        DirNode *d = dirtable_find_key(&w->dirs, key, key_len);
        if (d && !streq(d->path, rel) && (d->gen == w->gen || rel_under(rel, d->path))) {
                dirtable_note_link(&w->dirs, rel, true); /* a second path to it: not walked again */
                return 0;
        }
        if (d && d->gen == w->gen)
                return 0; /* reached twice in this walk: listed already */
        if (d && !streq(d->path, rel))
                dirtable_set_path(&w->dirs, d, rel); /* moved within the tree */
        else if (!d) {
                if (w->dirs.n >= WATCH_DIRS_MAX) {
                        if (wd >= 0 && !wd_in_use(w, wd))
                                (void) inotify_rm_watch(w->fd, wd);
                        return watch_fail(w, -ENOSPC, "more than %d directories", WATCH_DIRS_MAX);
                }
                d = dirtable_node_new(key, key_len, rel, wd);
                dirtable_add(&w->dirs, d);
        }
        d->gen = w->gen;
        if (w->backend == WATCH_BACKEND_INOTIFY && wd < 0) {
                /* a walk is followed by a full rescan of the tree: what
                 * changed before this listing is built anyway */
                _cleanup_free_ char *p = root_path(w, rel);
                DirScan now = {};
                (void) dirscan_read(p, &now); /* unreadable: empty, the build reports it */
                if (d->scan)
                        dirscan_done(d->scan);
                else
                        d->scan = xcalloc(1, sizeof(DirScan));
                *d->scan = now;
        }

        _cleanup_closedir_ DIR *dir = fdopendir(fd);
        if (!dir)
                return -errno;
        TAKE_FD(fd);
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(dir);
                if (!de) {
                        if (errno != 0)
                                return -errno;
                        break;
                }
                if (de->d_name[0] == '.')
                        continue;
                if (de->d_type != DT_DIR) {
                        struct stat st;
                        if (de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
                                continue;
                        if (fstatat(dirfd(dir), de->d_name, &st, 0) < 0 || !S_ISDIR(st.st_mode)) {
                                /* a link to a file (or to nothing yet), which the build reads */
                                if (watch_is_source_name(de->d_name)) {
                                        _cleanup_free_ char *link = rel_join(rel, de->d_name);
                                        links_note(w, link);
                                }
                                continue;
                        }
                }
                _cleanup_free_ char *child = rel_join(rel, de->d_name);
                r = watch_add_tree(w, child, depth + 1);
                if (r < 0 && !error_is_skippable(r))
                        return r;
        }
        return 0;
}

/* Drops the directories at or below rel that the current walk did not reach. */
static void watch_sweep(Watch *w, const char *rel) {
        for (size_t i = 0; i < w->dirs.n_buckets; i++) {
                DirNode **pp = &w->dirs.by_key[i];
                while (*pp) {
                        DirNode *d = *pp;
                        if (d->gen == w->gen || !rel_under(d->path, rel)) {
                                pp = &d->next_key;
                                continue;
                        }
                        *pp = d->next_key;
                        dirtable_unlink_path(&w->dirs, d);
                        w->dirs.n--;
                        watch_unwatch(w, d);
                        dirtable_node_free(d);
                }
        }
}

/* Brings the table in line with the directory at rel as it is now: watches
 * what is there (created, moved in), drops what is gone (deleted, moved out). */
static int watch_sync(Watch *w, const char *rel) {
        bool known = dirtable_find_path(&w->dirs, rel);
        w->gen++;
        int r = watch_add_tree(w, rel, rel_depth(rel));
        if (known)
                watch_sweep(w, rel);
        return r < 0 && !error_is_skippable(r) ? r : 0;
}

/* Link targets */

static void target_ref(Watch *w, const char *target, bool add) {
        TargetRef *t = hashmap_get(&w->targets, target, strlen(target));
        if (!t) {
                if (!add)
                        return;
                t = xcalloc(1, sizeof(TargetRef));
                t->path = xstrdup(target);
                hashmap_put(&w->targets, t->path, strlen(t->path), t);
        }
        if (add) {
                t->n++;
                return;
        }
        if (--t->n > 0)
                return;
        hashmap_remove(&w->targets, t->path, strlen(t->path));
        free(t->path);
        free(t);
}

/* A real path relative to root_real ("" for the root itself), or NULL
 * when it is outside. */
static const char *real_rel(const Watch *w, const char *real) {
        if (streq(w->root_real, "/"))
                return real + 1;
        size_t l = strlen(w->root_real);
        if (strncmp(real, w->root_real, l) != 0 || (real[l] != '/' && real[l] != 0))
                return NULL;
        return real[l] ? real + l + 1 : real + l;
}

/* The target of the link at rel, relative to root_real: its real path; or
 * for a link that dangles (its target, or a directory on the way, missing
 * yet), the path it names, cleaned lexically from the link's own real
 * directory. NULL for no link, a link to a directory (which the walk
 * follows) and a target out of the tree (which the build refuses). */
static char *link_target(const Watch *w, const char *rel) {
        if (!w->root_real)
                return NULL;
        _cleanup_free_ char *p = root_path(w, rel);
        struct stat st;
        if (lstat(p, &st) < 0 || !S_ISLNK(st.st_mode))
                return NULL;
        _cleanup_free_ char *real = realpath(p, NULL);
        if (!real) {
                char buf[PATH_MAX];
                ssize_t n = readlink(p, buf, sizeof(buf) - 1);
                if (n <= 0)
                        return NULL;
                buf[n] = 0;
                const char *at = strrchr(p, '/');
                _cleanup_free_ char *dir = at == p ? xstrdup("/") : xstrndup(p, at - p);
                _cleanup_free_ char *dir_real = realpath(dir, NULL);
                if (!dir_real)
                        return NULL;
                _cleanup_free_ char *joined = buf[0] == '/' ? xstrdup(buf) : xasprintf("%s/%s", dir_real, buf);
                if (path_absolute_clean(joined, &real) < 0)
                        return NULL;
        } else if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
                return NULL;
        const char *r = real_rel(w, real);
        return r && r[0] ? xstrdup(r) : NULL;
}

/* Brings the link at rel (a source name) up to date: its target noted,
 * changed or forgotten (no link there any more). */
static void links_note(Watch *w, const char *rel) {
        _cleanup_free_ char *target = link_target(w, rel);
        WatchLink *l = hashmap_get(&w->links, rel, strlen(rel));
        if (l && target && streq(l->target, target))
                return;
        if (!l && !target)
                return;
        w->links_dirty = true;
        if (l) {
                target_ref(w, l->target, false);
                free(l->target);
                l->target = NULL;
                if (!target) {
                        hashmap_remove(&w->links, l->link, strlen(l->link));
                        free(l->link);
                        free(l);
                        return;
                }
        } else {
                l = xcalloc(1, sizeof(WatchLink));
                l->link = xstrdup(rel);
                hashmap_put(&w->links, l->link, strlen(l->link), l);
        }
        l->target = TAKE_PTR(target);
        target_ref(w, l->target, true);
}

/* Every known link resolved again: after a change of what the tree names
 * (a directory, a link on the way to a target, the root), a target may be
 * another file now, or none. */
static void links_refresh(Watch *w) {
        free(w->root_real);
        w->root_real = realpath(w->root, NULL);
        char **names = xcalloc(w->links.n + 1, sizeof(char *));
        size_t n = 0;
        for (size_t i = 0; i < w->links.cap; i++)
                if (w->links.entries[i].key)
                        names[n++] = xstrdup(w->links.entries[i].key);
        for (size_t i = 0; i < n; i++) {
                links_note(w, names[i]);
                free(names[i]);
        }
        free(names);
}

/* The watch of the directory at path (relative to root_real) as events
 * name it. */
static int target_dir_key(Watch *w, const char *path, uint8_t key[static KEY_MAX], size_t *ret_key_len, int *ret_wd) {
        _cleanup_free_ char *p = path[0] ? xasprintf("%s/%s", streq(w->root_real, "/") ? "" : w->root_real, path)
                                         : xstrdup(w->root_real);
        if (w->backend == WATCH_BACKEND_INOTIFY) {
                int wd = w->fd >= 0 ? inotify_add_watch(w->fd, p, INOTIFY_DIR_MASK) : -1;
                if (wd < 0)
                        return w->fd >= 0 ? -errno : -EMFILE;
                memcpy(key, &wd, sizeof(wd));
                *ret_key_len = sizeof(wd);
                *ret_wd = wd;
                return 0;
        }
        _cleanup_close_ int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_wd = -1;
        return fanotify_key(w, fd, p, key, ret_key_len);
}

static TargetDir *target_dir_free(TargetDir *t) {
        if (t) {
                free(t->path);
                free(t);
        }
        return NULL;
}

/* Watches the directory of every link target, for the targets' names, and
 * no other: a directory is known by its inode, so one replaced (renamed
 * over, deleted and made again) is watched anew. What cannot be watched
 * (out of inotify watches) is left out: its targets' edits are seen at the
 * next change of the tree. */
static void target_dirs_update(Watch *w) {
        w->links_dirty = false;
        Hashmap old_by_path = {};
        for (size_t i = 0; i < w->n_target_dirs; i++)
                hashmap_put(&old_by_path, w->target_dirs[i]->path, strlen(w->target_dirs[i]->path), w->target_dirs[i]);
        TargetDir **next = NULL;
        size_t n_next = 0;
        Hashmap next_by_key = {}, next_by_path = {};
        for (size_t i = 0; w->root_real && i < w->targets.cap; i++) {
                const TargetRef *ref = w->targets.entries[i].value;
                if (!w->targets.entries[i].key)
                        continue;
                const char *slash = strrchr(ref->path, '/');
                _cleanup_free_ char *dir = slash ? xstrndup(ref->path, slash - ref->path) : xstrdup("");
                if (hashmap_get(&next_by_path, dir, strlen(dir)))
                        continue;
                uint8_t key[KEY_MAX];
                size_t key_len;
                int wd;
                if (target_dir_key(w, dir, key, &key_len, &wd) < 0)
                        continue; /* gone, or out of watches */
                if (hashmap_get(&next_by_key, (const char *) key, key_len))
                        continue; /* one directory by two paths (a bind mount): one serves */
                TargetDir *t = hashmap_get(&old_by_path, dir, strlen(dir));
                if (t && t->key_len == key_len && memcmp(t->key, key, key_len) == 0)
                        hashmap_remove(&old_by_path, t->path, strlen(t->path)); /* kept */
                else {
                        t = xcalloc(1, sizeof(TargetDir));
                        t->path = TAKE_PTR(dir);
                        t->wd = wd;
                        t->key_len = key_len;
                        memcpy(t->key, key, key_len);
                }
                next = xrealloc(next, (n_next + 1) * sizeof(TargetDir *));
                next[n_next++] = t;
                hashmap_put(&next_by_key, (const char *) t->key, t->key_len, t);
                hashmap_put(&next_by_path, t->path, strlen(t->path), t);
        }
        TargetDir **old = w->target_dirs;
        size_t n_old = w->n_target_dirs;
        hashmap_free(&w->target_dirs_by_key);
        w->target_dirs_by_key = next_by_key;
        w->target_dirs = next;
        w->n_target_dirs = n_next;
        hashmap_free(&next_by_path);
        /* those not kept: their watch goes unless another user has it */
        for (size_t i = 0; i < n_old; i++) {
                TargetDir *t = old[i];
                if (hashmap_get(&old_by_path, t->path, strlen(t->path)) != t)
                        continue; /* kept */
                if (t->wd >= 0 && !wd_in_use(w, t->wd))
                        (void) inotify_rm_watch(w->fd, t->wd);
                target_dir_free(t);
        }
        free(old);
        hashmap_free(&old_by_path);
}

/* An event in a directory of link targets: a target's name is a change;
 * the directory itself gone (deleted, moved, its watch dropped) may leave
 * links dangling or pointing elsewhere. */
static void target_event(Watch *w, Batch *b, const TargetDir *t, const char *name, bool gone) {
        if (gone) {
                w->links_dirty = true;
                b->rescan = true;
                return;
        }
        if (!name || streq(name, "."))
                return;
        _cleanup_free_ char *rel = rel_join(t->path, name);
        if (hashmap_get(&w->targets, rel, strlen(rel)))
                batch_report(b, rel);
}

/* Whether dir/name (a tree path) is on the way to a link target: a
 * dot-directory the walk skips that holds one, or would. */
static bool on_target_path(const Watch *w, const char *dir, const char *name) {
        if (w->targets.n == 0 || !w->root_real)
                return false;
        _cleanup_free_ char *p = root_path(w, dir);
        _cleanup_free_ char *real = realpath(p, NULL);
        const char *r = real ? real_rel(w, real) : NULL;
        if (!r)
                return false;
        _cleanup_free_ char *rel = rel_join(r, name);
        for (size_t i = 0; i < w->targets.cap; i++)
                if (w->targets.entries[i].key && rel_under(w->targets.entries[i].key, rel) &&
                    !streq(w->targets.entries[i].key, rel))
                        return true;
        return false;
}

static void links_done(Watch *w) {
        for (size_t i = 0; i < w->links.cap; i++)
                if (w->links.entries[i].key) {
                        WatchLink *l = w->links.entries[i].value;
                        free(l->link);
                        free(l->target);
                        free(l);
                }
        hashmap_free(&w->links);
        for (size_t i = 0; i < w->targets.cap; i++)
                if (w->targets.entries[i].key) {
                        TargetRef *t = w->targets.entries[i].value;
                        free(t->path);
                        free(t);
                }
        hashmap_free(&w->targets);
        for (size_t i = 0; i < w->n_target_dirs; i++)
                target_dir_free(w->target_dirs[i]);
        free(w->target_dirs);
        hashmap_free(&w->target_dirs_by_key);
        free(w->root_real);
}

/* The anchor */

static int watch_anchor_at(Watch *w, const char *dir, const char *name) {
        if (w->backend == WATCH_BACKEND_INOTIFY) {
                int wd = w->fd >= 0 ? inotify_add_watch(w->fd, dir, INOTIFY_ANCHOR_MASK) : -1;
                int r = wd >= 0 ? 0 : w->fd >= 0 ? -errno : -EMFILE;
                if (r < 0 && r != -ENOSPC && r != -EMFILE)
                        return r;
                if (w->anchor_wd >= 0 && w->anchor_wd != wd &&
                    !dirtable_find_key(&w->dirs, &w->anchor_wd, sizeof(w->anchor_wd)) &&
                    !target_dir_by_key(w, &w->anchor_wd, sizeof(w->anchor_wd)))
                        (void) inotify_rm_watch(w->fd, w->anchor_wd);
                /* out of watches: the rescan looks for the root instead */
                w->anchor_wd = wd;
                w->anchor_unwatched = r < 0;
                if (r < 0) {
                        struct stat st;
                        if (stat(dir, &st) < 0)
                                return -errno;
                        if (!S_ISDIR(st.st_mode))
                                return -ENOTDIR;
                        w->limit_error = r;
                }
        } else {
                _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                int r = fanotify_key(w, fd, dir, w->anchor_key, &w->anchor_key_len);
                if (r < 0)
                        return r;
        }
        free(w->anchor_dir);
        w->anchor_dir = xstrdup(dir);
        free(w->anchor_name);
        w->anchor_name = xstrdup(name);
        return 0;
}

/* Watches the directory holding the root or, while that is missing, its
 * nearest existing ancestor, for the next component of the root's path.
 * Returns 1 when the anchor is the root's own parent (or there is none: the
 * root is "/"), 0 when it is a higher ancestor. */
static int watch_anchor(Watch *w) {
        _cleanup_free_ char *child = xstrdup(w->root);
        for (;;) {
                if (streq(child, "/")) {
                        w->anchor_dir = mfree(w->anchor_dir);
                        w->anchor_name = mfree(w->anchor_name);
                        return 1;
                }
                char *slash = strrchr(child, '/');
                _cleanup_free_ char *parent = slash == child ? xstrdup("/") : xstrndup(child, slash - child);
                int r = watch_anchor_at(w, parent, slash + 1);
                if (r >= 0)
                        return streq(child, w->root);
                if (r != -ENOENT && r != -ENOTDIR)
                        return r;
                free(child);
                child = TAKE_PTR(parent);
        }
}

/* Re-establishes everything from the root's path: at the start, after an
 * overflow, when the root or its anchor changed. */
static int watch_reset(Watch *w) {
        /* the walk notes the links to files it meets */
        free(w->root_real);
        w->root_real = realpath(w->root, NULL);
        for (unsigned i = 0; i < WATCH_SETUP_TRIES; i++) {
                int r = watch_anchor(w);
                if (r < 0)
                        return r;
                bool anchor_is_parent = r > 0;

                w->gen++;
                if (anchor_is_parent) {
                        r = watch_add_tree(w, "", 0);
                        if (r < 0 && r != -ENOENT && r != -ENOTDIR) {
                                watch_sweep(w, "");
                                return r;
                        }
                        /* A missing root (or a file in its place): the anchor
                         * reports when that changes. */
                } else {
                        /* The component may have appeared before the anchor
                         * watched for it: then start again one level lower. */
                        _cleanup_free_ char *p = xasprintf("%s/%s", streq(w->anchor_dir, "/") ? "" : w->anchor_dir,
                                                           w->anchor_name);
                        struct stat st;
                        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
                                continue;
                }
                watch_sweep(w, "");
                return 0;
        }
        watch_sweep(w, "");
        return -EBUSY;
}

/* Events */

static void batch_report(Batch *b, const char *rel) {
        b->cb(b->userdata, rel);
        b->n_reported++;
}

static void batch_error(Batch *b, int r) {
        if (r < 0 && b->error == 0)
                b->error = r;
}

/* The entry name in tree directory dir was linked (created, moved in),
 * unlinked (deleted, moved out) or written. */
static void watch_entry(Watch *w, Batch *b, const char *dir, const char *name, bool is_dir, bool linked,
                        bool unlinked) {
        /* Kubernetes ConfigMap volumes switch every file at once by renaming a
         * new "..data" symlink over the old one; the visible files are
         * symlinks through it and never change themselves. */
        if (streq(name, "..data")) {
                if (linked) {
                        /* directories symlinked through ..data now resolve
                         * elsewhere: walk the directory holding it again */
                        batch_error(b, watch_sync(w, dir));
                        b->rescan = true;
                }
                return;
        }
        if (name[0] == '.') {
                /* a dot-directory the walk skips, on the way to link
                 * targets, came, went or was replaced */
                if ((linked || unlinked) && on_target_path(w, dir, name)) {
                        w->links_dirty = true;
                        b->rescan = true;
                }
                return;
        }

        _cleanup_free_ char *rel = rel_join(dir, name); /* dir may not survive watch_sync() */
        /* a signed tree's MANIFEST and MANIFEST.sig count as sources */
        bool source = watch_is_source_name(name) || streq(name, "MANIFEST") || streq(name, "MANIFEST.sig");
        /* a link to a file came, went or was retargeted */
        if (!is_dir && watch_is_source_name(name) && (linked || unlinked))
                links_note(w, rel);
        /* a symlink to a directory comes without the directory flag */
        if (!is_dir && !source && ((unlinked && dirtable_note_link(&w->dirs, rel, false)) ||
                                   (linked && watch_is_link(w, rel) && !watch_is_dir(w, rel)))) {
                /* a link to no directory (dangling, or to a file by another
                 * name): a change of what the tree names, its removal too */
                if (linked)
                        dirtable_note_link(&w->dirs, rel, true);
                b->rescan = true;
                return;
        }
        if (!is_dir && !source && (linked || unlinked))
                is_dir = dirtable_find_path(&w->dirs, rel) || (linked && watch_is_dir(w, rel));
        if (is_dir) {
                if (linked || unlinked) {
                        batch_error(b, watch_sync(w, rel));
                        b->rescan = true;
                }
                return;
        }
        if (source)
                batch_report(b, rel);
}

static void inotify_event(Watch *w, Batch *b, const struct inotify_event *ev, const char *name) {
        if (ev->mask & IN_Q_OVERFLOW) {
                b->reset = true;
                return;
        }
        if (w->anchor_name && ev->wd == w->anchor_wd) {
                if ((ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED)) ||
                    (name && streq(name, w->anchor_name)))
                        b->reset = true;
                return;
        }
        const TargetDir *t = target_dir_by_key(w, &ev->wd, sizeof(ev->wd));
        if (t && !b->reset)
                target_event(w, b, t, name, ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT));
        DirNode *d = dirtable_find_key(&w->dirs, &ev->wd, sizeof(ev->wd));
        if (!d)
                return; /* a watch dropped already, or a directory of link targets only */
        if (ev->mask & IN_IGNORED) {
                /* deleted, or on an unmounted filesystem */
                if (!d->path[0])
                        b->reset = true;
                dirtable_remove(&w->dirs, d);
                dirtable_node_free(d);
                return;
        }
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
                /* below the root, the parent's entry event tells the same */
                if (!d->path[0] || (ev->mask & IN_UNMOUNT))
                        b->reset = true;
                return;
        }
        if (name && !b->reset) /* after a reset, everything is rescanned anyway */
                watch_entry(w, b, d->path, name, ev->mask & IN_ISDIR, ev->mask & (IN_CREATE | IN_MOVED_TO),
                            ev->mask & (IN_DELETE | IN_MOVED_FROM));
}

static int inotify_parse(Watch *w, Batch *b, const uint8_t *buf, size_t len) {
        size_t off = 0;
        while (len - off >= sizeof(struct inotify_event)) {
                const struct inotify_event *ev = (const struct inotify_event *) (buf + off);
                if (ev->len > len - off - sizeof(*ev))
                        return -EBADMSG;
                const char *name = NULL;
                if (ev->len > 0) {
                        if (strnlen(ev->name, ev->len) == ev->len)
                                return -EBADMSG;
                        name = ev->name;
                }
                inotify_event(w, b, ev, name);
                off += sizeof(*ev) + ev->len;
        }
        return 0;
}

/* name: the entry; NULL or "." for an event on the directory itself. */
static void fanotify_event(Watch *w, Batch *b, uint64_t mask, const uint8_t *key, size_t key_len, const char *name) {
        bool self = !name || streq(name, ".");
        if (w->anchor_name && key_len == w->anchor_key_len && memcmp(key, w->anchor_key, key_len) == 0) {
                if (self ? (mask & (FAN_DELETE_SELF | FAN_MOVE_SELF))
                         : ((mask & (FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO)) &&
                            streq(name, w->anchor_name)))
                        b->reset = true;
                return;
        }
        const TargetDir *t = target_dir_by_key(w, key, key_len);
        if (t && !b->reset)
                target_event(w, b, t, self ? NULL : name, self && (mask & (FAN_DELETE_SELF | FAN_MOVE_SELF)));
        DirNode *d = dirtable_find_key(&w->dirs, key, key_len);
        if (!d)
                return; /* outside the tree: the mark covers the whole filesystem */
        if (self) {
                if (!d->path[0] && (mask & (FAN_DELETE_SELF | FAN_MOVE_SELF)))
                        b->reset = true;
                return;
        }
        if (b->reset)
                return; /* everything is rescanned anyway */
        /* The kernel merges events on one entry: the mask may say created and
         * deleted at once, in no telling order. watch_entry() settles
         * directories from what is there now; files are reported either way. */
        watch_entry(w, b, d->path, name, mask & FAN_ONDIR, mask & (FAN_CREATE | FAN_MOVED_TO),
                    mask & (FAN_DELETE | FAN_MOVED_FROM));
}

/* The info records of one event: the first DFID_NAME or DFID one is used. */
static void fanotify_info(Watch *w, Batch *b, uint64_t mask, const uint8_t *p, size_t len) {
        const size_t fixed = sizeof(struct fanotify_event_info_fid) + sizeof(struct file_handle);

        while (len >= sizeof(struct fanotify_event_info_header)) {
                struct fanotify_event_info_header h;
                memcpy(&h, p, sizeof(h)); /* records are 4-aligned only */
                if (h.len < sizeof(h) || h.len > len)
                        return;
                if (h.info_type == FAN_EVENT_INFO_TYPE_DFID_NAME || h.info_type == FAN_EVENT_INFO_TYPE_DFID) {
                        /* header, fsid, struct file_handle, the handle, then
                         * for DFID_NAME the NUL-terminated name */
                        struct file_handle fh;
                        uint8_t key[KEY_MAX];
                        const char *name = NULL;

                        if (h.len < fixed)
                                return;
                        memcpy(&fh, p + sizeof(struct fanotify_event_info_fid), sizeof(fh));
                        if (fh.handle_bytes > MAX_HANDLE_SZ || fh.handle_bytes > h.len - fixed)
                                return;
                        if (h.info_type == FAN_EVENT_INFO_TYPE_DFID_NAME) {
                                size_t room = h.len - fixed - fh.handle_bytes;
                                name = (const char *) p + fixed + fh.handle_bytes;
                                if (strnlen(name, room) == room)
                                        return;
                        }
                        memcpy(key, p + offsetof(struct fanotify_event_info_fid, fsid), FSID_SIZE);
                        memcpy(key + FSID_SIZE, &fh.handle_type, sizeof(int));
                        memcpy(key + FSID_SIZE + sizeof(int), p + fixed, fh.handle_bytes);
                        fanotify_event(w, b, mask, key, FSID_SIZE + sizeof(int) + fh.handle_bytes, name);
                        return;
                }
                p += h.len;
                len -= h.len;
        }
}

static int fanotify_parse(Watch *w, Batch *b, const uint8_t *buf, size_t len) {
        size_t off = 0;
        while (len - off >= sizeof(struct fanotify_event_metadata)) {
                struct fanotify_event_metadata md;
                memcpy(&md, buf + off, sizeof(md)); /* events are 4-aligned, the struct 8 */
                if (md.vers != FANOTIFY_METADATA_VERSION)
                        return -EPROTONOSUPPORT;
                if (md.metadata_len < sizeof(md) || md.event_len < md.metadata_len || md.event_len > len - off)
                        return -EBADMSG;
                if (md.fd >= 0)
                        close(md.fd); /* never with FID reporting, but never leak one */
                if (md.mask & FAN_Q_OVERFLOW)
                        b->reset = true;
                else
                        fanotify_info(w, b, md.mask, buf + off + md.metadata_len, md.event_len - md.metadata_len);
                off += md.event_len;
        }
        return 0;
}

int watch_process(Watch *w, WatchCallback cb, void *userdata) {
        Batch b = { .cb = cb, .userdata = userdata };
        int r = 0;

        assert(w);
        assert(cb);
        for (unsigned i = 0; i < WATCH_READS_MAX; i++) {
                ssize_t n = read(w->fd, w->buf, WATCH_BUF_SIZE);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                r = -errno;
                        break;
                }
                if (n == 0)
                        break;
                r = w->backend == WATCH_BACKEND_INOTIFY ? inotify_parse(w, &b, w->buf, n)
                                                        : fanotify_parse(w, &b, w->buf, n);
                if (r < 0)
                        break;
        }
        if (b.reset) {
                batch_error(&b, watch_reset(w));
                b.rescan = true;
        }
        if (b.rescan || w->links_dirty) {
                links_refresh(w);
                target_dirs_update(w);
        }
        if (b.rescan)
                batch_report(&b, NULL);
        if (r < 0)
                return r;
        return b.error < 0 ? b.error : b.n_reported;
}

/* The rescan of what could not be watched */

typedef struct RescanDir {
        Watch *w;
        Batch *b;
        const char *rel;
        bool structural; /* a subdirectory came, went or was replaced */
} RescanDir;

static void rescan_change(void *userdata, const char *name, bool is_dir) {
        RescanDir *c = userdata;
        if (is_dir) {
                c->structural = true;
                return;
        }
        if (watch_is_source_name(name) || streq(name, "MANIFEST") || streq(name, "MANIFEST.sig")) {
                _cleanup_free_ char *rel = rel_join(c->rel, name);
                if (watch_is_source_name(name))
                        links_note(c->w, rel); /* a link to a file came, went or was retargeted */
                batch_report(c->b, rel);
        }
}

static int path_compare(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The unwatched directories' paths, parents before their children. */
static char **unwatched_paths(const Watch *w, size_t *ret_n) {
        char **paths = NULL;
        size_t n = 0;
        for (size_t i = 0; i < w->dirs.n_buckets; i++)
                for (DirNode *d = w->dirs.by_key[i]; d; d = d->next_key)
                        if (d->scan) {
                                paths = xrealloc(paths, (n + 1) * sizeof(char *));
                                paths[n++] = xstrdup(d->path);
                        }
        if (n > 1)
                qsort(paths, n, sizeof(char *), path_compare);
        *ret_n = n;
        return paths;
}

/* One unwatched directory: a watch if one is free now (before the listing,
 * so nothing falls between them), then its listing compared with the last. */
static void rescan_dir(Watch *w, Batch *b, const char *rel, bool *full) {
        DirNode *d = dirtable_find_path(&w->dirs, rel);
        if (!d || !d->scan)
                return; /* dropped or watched by a walk of this rescan */
        _cleanup_free_ char *p = root_path(w, rel);
        int wd = -1;
        if (!*full && w->fd >= 0) {
                wd = inotify_add_watch(w->fd, p, INOTIFY_DIR_MASK);
                if (wd < 0 && errno == ENOSPC)
                        *full = true;
        }
        DirScan now = {};
        int r = dirscan_read(p, &now);
        if (r < 0) {
                /* gone or replaced: the walk of its parent settles it */
                if (wd >= 0 && !wd_in_use(w, wd))
                        (void) inotify_rm_watch(w->fd, wd);
                if (!rel[0]) {
                        b->reset = true;
                        return;
                }
                const char *slash = strrchr(rel, '/');
                _cleanup_free_ char *parent = slash ? xstrndup(rel, slash - rel) : xstrdup("");
                batch_error(b, watch_sync(w, parent));
                b->rescan = true;
                return;
        }
        RescanDir c = { .w = w, .b = b, .rel = rel };
        dirscan_diff(d->scan, &now, rescan_change, &c);
        dirscan_done(d->scan);
        *d->scan = now;
        if (wd >= 0) {
                /* watched from now on: known by its watch descriptor */
                bool alias = dirtable_find_key(&w->dirs, &wd, sizeof(wd)); /* the same directory by another path */
                DirNode *n = alias ? NULL : dirtable_node_new((const uint8_t *) &wd, sizeof(wd), rel, wd);
                uint64_t gen = d->gen;
                dirtable_remove(&w->dirs, d);
                dirtable_node_free(d);
                if (n) {
                        n->gen = gen;
                        dirtable_add(&w->dirs, n);
                }
        }
        if (c.structural) {
                batch_error(b, watch_sync(w, rel));
                b->rescan = true;
        }
}

int watch_rescan(Watch *w, WatchCallback cb, void *userdata) {
        Batch b = { .cb = cb, .userdata = userdata };
        bool full = false;

        assert(w);
        assert(cb);
        if (w->backend != WATCH_BACKEND_INOTIFY || !watch_get_unwatched(w))
                return 0;
        if (w->fd < 0) {
                /* an instance may be free now: then everything is watched again */
                w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
                if (w->fd >= 0) {
                        w->limit_error = 0;
                        b.reset = true;
                } else
                        full = true;
        }
        if (!b.reset && w->anchor_unwatched) {
                if (!full && w->fd >= 0 && watch_anchor(w) >= 0 && !w->anchor_unwatched)
                        b.reset = true; /* the root may have come or gone meanwhile */
                else if (!!dirtable_find_path(&w->dirs, "") != watch_is_dir(w, ""))
                        b.reset = true;
        }
        if (!b.reset) {
                size_t n;
                char **paths = unwatched_paths(w, &n);
                for (size_t i = 0; i < n; i++) {
                        rescan_dir(w, &b, paths[i], &full);
                        free(paths[i]);
                }
                free(paths);
        }
        if (b.reset) {
                batch_error(&b, watch_reset(w));
                b.rescan = true;
        }
        if (b.rescan || w->links_dirty) {
                links_refresh(w);
                target_dirs_update(w);
        }
        if (b.rescan)
                batch_report(&b, NULL);
        if (!watch_get_unwatched(w))
                w->limit_error = 0;
        return b.error < 0 ? b.error : b.n_reported;
}

size_t watch_get_unwatched(const Watch *w) {
        assert(w);
        size_t n = w->anchor_unwatched;
        for (size_t i = 0; i < w->dirs.n_buckets; i++)
                for (DirNode *d = w->dirs.by_key[i]; d; d = d->next_key)
                        n += !!d->scan;
        return n;
}

const char *watch_get_first_unwatched(const Watch *w) {
        assert(w);
        const char *first = NULL;
        for (size_t i = 0; i < w->dirs.n_buckets; i++)
                for (DirNode *d = w->dirs.by_key[i]; d; d = d->next_key)
                        if (d->scan && (!first || strcmp(d->path, first) < 0))
                                first = d->path;
        if (!first && w->anchor_unwatched)
                return w->anchor_dir;
        return first;
}

int watch_get_limit_error(const Watch *w) {
        assert(w);
        return watch_get_unwatched(w) ? w->limit_error : 0;
}

/* Setup */

static int watch_start(WatchBackend backend, const char *root, Watch **ret, char **ret_failure) {
        _cleanup_(watch_freep) Watch *w = xcalloc(1, sizeof(Watch));
        int r;

        w->backend = backend;
        w->fd = -EBADF;
        w->anchor_wd = -1;
        w->root = xstrdup(root);
        w->buf = xmalloc(WATCH_BUF_SIZE); /* malloc's alignment suits both event structs */
        if (backend == WATCH_BACKEND_INOTIFY)
                w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        else
                w->fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME,
                                      O_RDONLY | O_CLOEXEC);
        /* out of inotify instances: everything is rescanned until one frees */
        if (w->fd < 0 && backend == WATCH_BACKEND_INOTIFY && errno == EMFILE)
                w->limit_error = -EMFILE;
        else if (w->fd < 0) {
                r = -errno;
                *ret_failure = xstrdup(backend == WATCH_BACKEND_INOTIFY ? "inotify_init1()" : "fanotify_init()");
                return r;
        }
        r = watch_reset(w);
        if (r < 0) {
                *ret_failure = TAKE_PTR(w->failure);
                return r;
        }
        links_refresh(w);
        target_dirs_update(w);
        w->failure = mfree(w->failure);
        *ret = TAKE_PTR(w);
        return 0;
}

int watch_new(WatchBackend backend, const char *root, Watch **ret, char **ret_fallback_reason) {
        _cleanup_(watch_freep) Watch *w = NULL;
        _cleanup_free_ char *clean = NULL, *reason = NULL;
        int r;

        assert(root);
        assert(ret);
        if (backend < 0 || backend >= _WATCH_BACKEND_MAX || !root[0])
                return -EINVAL;
        r = path_absolute_clean(root, &clean);
        if (r < 0)
                return r;

        if (backend != WATCH_BACKEND_INOTIFY) {
                _cleanup_free_ char *failure = NULL;
                r = watch_start(WATCH_BACKEND_FANOTIFY, clean, &w, &failure);
                if (r < 0) {
                        if (backend == WATCH_BACKEND_FANOTIFY)
                                return r;
                        reason = xasprintf("%s: %s", failure ?: "fanotify", strerror(-r));
                }
        }
        if (!w) {
                _cleanup_free_ char *failure = NULL;
                r = watch_start(WATCH_BACKEND_INOTIFY, clean, &w, &failure);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(w);
        if (ret_fallback_reason)
                *ret_fallback_reason = TAKE_PTR(reason);
        return 0;
}

int watch_get_fd(const Watch *w) {
        assert(w);
        return w->fd;
}

WatchBackend watch_get_backend(const Watch *w) {
        assert(w);
        return w->backend;
}

Watch *watch_free(Watch *w) {
        if (!w)
                return NULL;
        if (w->fd >= 0)
                close(w->fd); /* drops every watch and mark with it */
        dirtable_done(&w->dirs);
        links_done(w);
        free(w->root);
        free(w->anchor_dir);
        free(w->anchor_name);
        free(w->marked);
        free(w->failure);
        free(w->buf);
        free(w);
        return NULL;
}
