/* SPDX-License-Identifier: MIT */
/* The source-tree watch (interface and reporting rules in watch.h; the
 * rescan of what inotify could not watch in watch-rescan.c). Both
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
 * source name (a *.txt): the watch keeps each link's target (linktargets.h),
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
#include "hashmap.h"
#include "watch-internal.h"

static const char *const watch_backend_table[_WATCH_BACKEND_MAX] = {
        [WATCH_BACKEND_AUTO] = "auto",
        [WATCH_BACKEND_INOTIFY] = "inotify",
        [WATCH_BACKEND_FANOTIFY] = "fanotify",
};

DEFINE_STRING_TABLE_LOOKUP(watch_backend, WatchBackend);

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

static bool target_dir_wd(const Watch *w, int wd) {
        return w->backend == WATCH_BACKEND_INOTIFY && linktargets_dir_by_key(&w->links, &wd, sizeof(wd));
}

bool watch_wd_in_use(const Watch *w, int wd) {
        return wd == w->anchor_wd || dirtable_find_key(&w->dirs, &wd, sizeof(wd)) || target_dir_wd(w, wd);
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
        *ret = path_clean_lexical(joined);
        return 0;
}

void watch_batch_finish(Watch *w, Batch *b) {
        if (b->reset) {
                watch_batch_error(b, watch_reset(w));
                b->rescan = true;
        }
        if (b->rescan || w->links.dirty)
                watch_links_update(w);
        if (b->rescan)
                watch_batch_report(b, NULL);
}

char *watch_root_path(const Watch *w, const char *rel) {
        if (!rel[0])
                return xstrdup(w->root);
        return xasprintf("%s/%s", streq(w->root, "/") ? "" : w->root, rel);
}

char *watch_rel_join(const char *dir, const char *name) {
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
        _cleanup_free_ char *p = watch_root_path(w, rel);
        struct stat st;
        return lstat(p, &st) == 0 && S_ISLNK(st.st_mode);
}

bool watch_is_dir(const Watch *w, const char *rel) {
        _cleanup_free_ char *p = watch_root_path(w, rel);
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
        _cleanup_free_ char *p = watch_root_path(w, rel);
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
                        if (!watch_wd_in_use(w, wd))
                                (void) inotify_rm_watch(w->fd, wd);
                        return r;
                }
                memcpy(key, &wd, sizeof(wd));
                *ret_key_len = sizeof(wd);
                *ret_wd = wd;
        } else {
                /* The filesystem mark sees everything already; the handle is
                 * taken from the directory that is then listed. One that cannot
                 * be read is known all the same (O_PATH), for its FAN_ATTRIB. */
                fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0 && errno == EACCES)
                        fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
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
        if (d->wd >= 0 && d->wd != w->anchor_wd && !target_dir_wd(w, d->wd))
                (void) inotify_rm_watch(w->fd, d->wd);
}

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
                        if (wd >= 0 && !watch_wd_in_use(w, wd))
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
                _cleanup_free_ char *p = watch_root_path(w, rel);
                DirScan now = {};
                (void) dirscan_read(p, &now); /* unreadable: empty, the build reports it */
                if (d->scan)
                        dirscan_done(d->scan);
                else
                        d->scan = xcalloc(1, sizeof(DirScan));
                *d->scan = now;
        }

        if (fcntl(fd, F_GETFL) & O_PATH)
                return -EACCES; /* known, not listed: the build reports it */
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
                                        _cleanup_free_ char *link = watch_rel_join(rel, de->d_name);
                                        linktargets_note(&w->links, w->root, link);
                                }
                                continue;
                        }
                }
                _cleanup_free_ char *child = watch_rel_join(rel, de->d_name);
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
int watch_sync(Watch *w, const char *rel) {
        bool known = dirtable_find_path(&w->dirs, rel);
        w->gen++;
        int r = watch_add_tree(w, rel, rel_depth(rel));
        if (known)
                watch_sweep(w, rel);
        return r < 0 && !error_is_skippable(r) ? r : 0;
}

/* Link targets (linktargets.h): the watch's side */

/* LinkTargetsWatchDir: the directory watched as a walked one is. */
static int watch_target_dir(void *userdata, const char *path, uint8_t *key, size_t key_max, size_t *ret_key_len,
                            int *ret_wd) {
        Watch *w = userdata;
        assert(key_max >= KEY_MAX);
        if (w->backend == WATCH_BACKEND_INOTIFY) {
                int wd = w->fd >= 0 ? inotify_add_watch(w->fd, path, INOTIFY_DIR_MASK) : -1;
                if (wd < 0)
                        return w->fd >= 0 ? -errno : -EMFILE;
                memcpy(key, &wd, sizeof(wd));
                *ret_key_len = sizeof(wd);
                *ret_wd = wd;
                return 0;
        }
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_wd = -1;
        return fanotify_key(w, fd, path, key, ret_key_len);
}

/* LinkTargetsReleaseWd */
static void watch_release_wd(void *userdata, int wd) {
        Watch *w = userdata;
        if (!watch_wd_in_use(w, wd))
                (void) inotify_rm_watch(w->fd, wd);
}

/* After a change of what the tree names: every link resolved again, the
 * targets' directories watched. */
void watch_links_update(Watch *w) {
        linktargets_refresh(&w->links, w->root);
        linktargets_update_dirs(&w->links, watch_target_dir, watch_release_wd, w);
}

/* An event in a directory of link targets: a target's name is a change;
 * the directory itself gone (deleted, moved, its watch dropped) may leave
 * links dangling or pointing elsewhere. */
static void target_event(Watch *w, Batch *b, const LinkTargetDir *t, const char *name, bool gone) {
        if (gone) {
                w->links.dirty = true;
                b->rescan = true;
                return;
        }
        if (!name || streq(name, "."))
                return;
        _cleanup_free_ char *rel = linktargets_match(&w->links, t, name);
        if (rel && linktargets_is_link(&w->links, rel))
                w->links.dirty = true; /* a link of a chain retargeted: resolved again */
        if (rel)
                watch_batch_report(b, rel);
}

/* The anchor */

static int watch_anchor_at(Watch *w, const char *dir, const char *name) {
        if (w->backend == WATCH_BACKEND_INOTIFY) {
                int wd = w->fd >= 0 ? inotify_add_watch(w->fd, dir, INOTIFY_ANCHOR_MASK) : -1;
                int r = wd >= 0 ? 0 : w->fd >= 0 ? -errno : -EMFILE;
                if (r < 0 && r != -ENOSPC && r != -EMFILE)
                        return r;
                if (w->anchor_wd >= 0 && w->anchor_wd != wd &&
                    !dirtable_find_key(&w->dirs, &w->anchor_wd, sizeof(w->anchor_wd)) && !target_dir_wd(w, w->anchor_wd))
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
int watch_anchor(Watch *w) {
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
int watch_reset(Watch *w) {
        linktargets_set_root(&w->links, w->root); /* the walk notes the links to files it meets */
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

void watch_batch_report(Batch *b, const char *rel) {
        b->cb(b->userdata, rel);
        b->n_reported++;
}

void watch_batch_error(Batch *b, int r) {
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
                        watch_batch_error(b, watch_sync(w, dir));
                        b->rescan = true;
                }
                return;
        }
        if (name[0] == '.') {
                /* a dot-directory the walk skips, on the way to link
                 * targets, came, went or was replaced */
                if ((linked || unlinked) && linktargets_on_path(&w->links, w->root, dir, name)) {
                        w->links.dirty = true;
                        b->rescan = true;
                }
                return;
        }

        _cleanup_free_ char *rel = watch_rel_join(dir, name); /* dir may not survive watch_sync() */
        /* a signed tree's MANIFEST and MANIFEST.sig count as sources */
        bool source = watch_is_source_name(name) || streq(name, "MANIFEST") || streq(name, "MANIFEST.sig");
        /* a link to a file came, went or was retargeted */
        if (!is_dir && watch_is_source_name(name) && (linked || unlinked))
                linktargets_note(&w->links, w->root, rel);
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
                        watch_batch_error(b, watch_sync(w, rel));
                        b->rescan = true;
                }
                return;
        }
        if (source)
                watch_batch_report(b, rel);
}

static void inotify_event(Watch *w, Batch *b, const struct inotify_event *ev, const char *name) {
        if (ev->mask & IN_Q_OVERFLOW) {
                b->reset = b->overflow = true;
                return;
        }
        if (w->anchor_name && ev->wd == w->anchor_wd) {
                if ((ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED)) ||
                    (name && streq(name, w->anchor_name)))
                        b->reset = true;
                return;
        }
        const LinkTargetDir *t = linktargets_dir_by_key(&w->links, &ev->wd, sizeof(ev->wd));
        if (t && !b->reset && (ev->mask & ~(IN_ATTRIB | IN_ISDIR))) /* a target's mode or times: no change */
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
        if (!name && (ev->mask & IN_ATTRIB) && !d->path[0])
                b->rescan = true; /* the root's mode: below it, the parent's entry event tells */
        bool attrib = (ev->mask & IN_ATTRIB) && (ev->mask & IN_ISDIR); /* a file's mode or times: no change */
        if (name && !b->reset && (attrib || (ev->mask & ~IN_ATTRIB))) /* after a reset, all is rescanned anyway */
                watch_entry(w, b, d->path, name, ev->mask & IN_ISDIR, attrib || (ev->mask & (IN_CREATE | IN_MOVED_TO)),
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
        const LinkTargetDir *t = linktargets_dir_by_key(&w->links, key, key_len);
        if (t && !b->reset && (mask & ~(FAN_ATTRIB | FAN_ONDIR))) /* as for inotify */
                target_event(w, b, t, self ? NULL : name, self && (mask & (FAN_DELETE_SELF | FAN_MOVE_SELF)));
        DirNode *d = dirtable_find_key(&w->dirs, key, key_len);
        if (!d)
                return; /* outside the tree: the mark covers the whole filesystem */
        if (self) {
                if (!d->path[0] && (mask & (FAN_DELETE_SELF | FAN_MOVE_SELF)))
                        b->reset = true;
                else if ((mask & FAN_ATTRIB) && !b->reset) /* a directory's mode: its own event */
                        watch_entry(w, b, "", d->path, true, true, false);
                return;
        }
        if (b->reset)
                return; /* everything is rescanned anyway */
        /* The kernel merges events on one entry: the mask may say created and
         * deleted at once, in no telling order. watch_entry() settles
         * directories from what is there now; files are reported either way. */
        bool attrib = (mask & FAN_ATTRIB) && (mask & FAN_ONDIR); /* as for inotify */
        if (attrib || (mask & ~(FAN_ATTRIB | FAN_ONDIR)))
                watch_entry(w, b, d->path, name, mask & FAN_ONDIR, attrib || (mask & (FAN_CREATE | FAN_MOVED_TO)),
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
                        b->reset = b->overflow = true;
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
        watch_batch_finish(w, &b);
        w->n_overflows += b.overflow; /* one rescan however many overflow events the batch held */
        if (r < 0)
                return r;
        return b.error < 0 ? b.error : b.n_reported;
}

uint64_t watch_take_overflows(Watch *w) {
        uint64_t n = w ? w->n_overflows : 0;
        if (w)
                w->n_overflows = 0;
        return n;
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
        watch_links_update(w);
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
        linktargets_done(&w->links);
        free(w->root);
        free(w->anchor_dir);
        free(w->anchor_name);
        free(w->marked);
        free(w->failure);
        free(w->buf);
        free(w);
        return NULL;
}
