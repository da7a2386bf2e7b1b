/* SPDX-License-Identifier: MIT */
/* The rescan of what inotify could not watch (interface in watch.h, the
 * Watch's insides in watch-internal.h): out of watches or of instances,
 * each directory not watched is listed again on a timer and compared with
 * its last listing (dirscan.h), after trying to watch it again. */
#include <assert.h>

#include "dirscan.h"
#include "watch-internal.h"

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
                _cleanup_free_ char *rel = watch_rel_join(c->rel, name);
                if (watch_is_source_name(name))
                        linktargets_note(&c->w->links, c->w->root, rel); /* a link to a file came, went or was retargeted */
                watch_batch_report(c->b, rel);
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
        _cleanup_free_ char *p = watch_root_path(w, rel);
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
                if (wd >= 0 && !watch_wd_in_use(w, wd))
                        (void) inotify_rm_watch(w->fd, wd);
                if (!rel[0]) {
                        b->reset = true;
                        return;
                }
                const char *slash = strrchr(rel, '/');
                _cleanup_free_ char *parent = slash ? xstrndup(rel, slash - rel) : xstrdup("");
                watch_batch_error(b, watch_sync(w, parent));
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
                watch_batch_error(b, watch_sync(w, rel));
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
        watch_batch_finish(w, &b);
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

