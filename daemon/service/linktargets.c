/* SPDX-License-Identifier: MIT */
/* The link targets the source watch follows (interface in linktargets.h):
 * links by path, their targets counted by path, and the targets'
 * directories by the key the watch's events name them by. */
#include <sys/stat.h>

#include "linktargets.h"

typedef struct TargetRef {
        char *path; /* relative to root_real */
        size_t n;   /* links naming it */
} TargetRef;

typedef struct LinkEntry {
        char *link;   /* relative to the root */
        char *target; /* relative to root_real */
} LinkEntry;

/* base/rel, for a clean absolute base ("/" too) and rel ("" for base). */
static char *path_under(const char *base, const char *rel) {
        if (!rel[0])
                return xstrdup(base);
        return xasprintf("%s/%s", streq(base, "/") ? "" : base, rel);
}

static bool rel_under(const char *path, const char *rel) {
        size_t n = strlen(rel);
        return n == 0 || (strncmp(path, rel, n) == 0 && (path[n] == 0 || path[n] == '/'));
}


/* A real path relative to root_real ("" for the root itself); NULL when it
 * is outside. */
static const char *real_rel(const LinkTargets *lt, const char *real) {
        if (streq(lt->root_real, "/"))
                return real + 1;
        size_t l = strlen(lt->root_real);
        if (strncmp(real, lt->root_real, l) != 0 || (real[l] != '/' && real[l] != 0))
                return NULL;
        return real[l] ? real + l + 1 : real + l;
}

static void target_ref(LinkTargets *lt, const char *target, bool add) {
        TargetRef *t = hashmap_get(&lt->targets, target, strlen(target));
        if (!t) {
                if (!add)
                        return;
                t = xcalloc(1, sizeof(TargetRef));
                t->path = xstrdup(target);
                hashmap_put(&lt->targets, t->path, strlen(t->path), t);
        }
        if (add) {
                t->n++;
                return;
        }
        if (--t->n > 0)
                return;
        hashmap_remove(&lt->targets, t->path, strlen(t->path));
        free(t->path);
        free(t);
}

/* The absolute path the link at p names (one hop), cleaned lexically from
 * the link's own real directory; NULL when it cannot be read. */
static char *link_names(const char *p) {
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
        return path_clean_lexical(joined);
}

/* The target of the link at the absolute path p, relative to root_real:
 * its real path; or, for a link that dangles (its target, or a directory
 * on the way, missing yet), the path it names, cleaned lexically from the
 * link's own real directory. NULL for no link, a link to a directory
 * (which the watch's walk follows) and a target out of the tree (which the
 * build refuses). */
static char *link_target(const LinkTargets *lt, const char *p) {
        struct stat st;
        if (!lt->root_real || lstat(p, &st) < 0 || !S_ISLNK(st.st_mode))
                return NULL;
        _cleanup_free_ char *real = realpath(p, NULL);
        if (!real) {
                real = link_names(p);
                if (!real)
                        return NULL;
        } else if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
                return NULL;
        const char *r = real_rel(lt, real);
        return r && r[0] ? xstrdup(r) : NULL;
}

void linktargets_set_root(LinkTargets *lt, const char *root) {
        free(lt->root_real);
        lt->root_real = realpath(root, NULL);
}

/* A link to a link: the next link of the chain, relative to root_real,
 * when it is inside the tree (and the chain ends at a file there). A link
 * names it as its target, and it is noted as a link of its own: so the
 * watch sees it retargeted also where its walk does not go (a
 * dot-directory), as it sees the last target edited. */
static char *next_hop(const LinkTargets *lt, const char *p) {
        _cleanup_free_ char *hop = link_names(p);
        if (!hop)
                return NULL;
        /* its directory resolved too: a link on the way to it is followed */
        const char *slash = strrchr(hop, '/');
        _cleanup_free_ char *hop_dir = slash == hop ? xstrdup("/") : xstrndup(hop, slash - hop);
        _cleanup_free_ char *hop_dir_real = realpath(hop_dir, NULL);
        if (!hop_dir_real)
                return NULL;
        _cleanup_free_ char *hop_real = xasprintf("%s/%s", streq(hop_dir_real, "/") ? "" : hop_dir_real, slash + 1);
        struct stat st;
        if (lstat(hop_real, &st) < 0 || !S_ISLNK(st.st_mode))
                return NULL;
        const char *r = real_rel(lt, hop_real);
        return r && r[0] ? xstrdup(r) : NULL;
}

#define CHAIN_MAX 40 /* as the kernel's MAXSYMLINKS */

static void note(LinkTargets *lt, const char *root, const char *rel, unsigned depth) {
        _cleanup_free_ char *p = path_under(root, rel);
        _cleanup_free_ char *target = link_target(lt, p);
        _cleanup_free_ char *hop = target && depth < CHAIN_MAX ? next_hop(lt, p) : NULL;
        if (hop) {
                /* the chain's next link is the target, and a link of its own */
                free(target);
                target = xstrdup(hop);
                note(lt, root, hop, depth + 1);
        }
        LinkEntry *l = hashmap_get(&lt->links, rel, strlen(rel));
        if ((l && target && streq(l->target, target)) || (!l && !target))
                return;
        lt->dirty = true;
        if (l) {
                target_ref(lt, l->target, false);
                free(l->target);
                l->target = NULL;
                if (!target) {
                        hashmap_remove(&lt->links, l->link, strlen(l->link));
                        free(l->link);
                        free(l);
                        return;
                }
        } else {
                l = xcalloc(1, sizeof(LinkEntry));
                l->link = xstrdup(rel);
                hashmap_put(&lt->links, l->link, strlen(l->link), l);
        }
        l->target = TAKE_PTR(target);
        target_ref(lt, l->target, true);
}

void linktargets_note(LinkTargets *lt, const char *root, const char *rel) {
        note(lt, root, rel, 0);
}

bool linktargets_is_link(const LinkTargets *lt, const char *rel) {
        return hashmap_get(&lt->links, rel, strlen(rel)) != NULL;
}

void linktargets_refresh(LinkTargets *lt, const char *root) {
        linktargets_set_root(lt, root);
        char **names = xcalloc(lt->links.n + 1, sizeof(char *));
        size_t n = 0;
        for (size_t i = 0; i < lt->links.cap; i++)
                if (lt->links.entries[i].key)
                        names[n++] = xstrdup(lt->links.entries[i].key);
        for (size_t i = 0; i < n; i++) {
                linktargets_note(lt, root, names[i]);
                free(names[i]);
        }
        free(names);
}

static LinkTargetDir *target_dir_free(LinkTargetDir *d) {
        if (d) {
                free(d->path);
                free(d->key);
                free(d);
        }
        return NULL;
}

#define KEY_BUF 256 /* more than fsid + handle type + MAX_HANDLE_SZ (128) */

void linktargets_update_dirs(LinkTargets *lt, LinkTargetsWatchDir watch_dir, LinkTargetsReleaseWd release,
                             void *userdata) {
        lt->dirty = false;
        Hashmap old_by_path = {};
        for (size_t i = 0; i < lt->n_dirs; i++)
                hashmap_put(&old_by_path, lt->dirs[i]->path, strlen(lt->dirs[i]->path), lt->dirs[i]);
        LinkTargetDir **next = NULL;
        size_t n_next = 0;
        Hashmap next_by_key = {}, next_by_path = {};
        for (size_t i = 0; lt->root_real && i < lt->targets.cap; i++) {
                if (!lt->targets.entries[i].key)
                        continue;
                const TargetRef *ref = lt->targets.entries[i].value;
                const char *slash = strrchr(ref->path, '/');
                _cleanup_free_ char *dir = slash ? xstrndup(ref->path, slash - ref->path) : xstrdup("");
                if (hashmap_get(&next_by_path, dir, strlen(dir)))
                        continue;
                _cleanup_free_ char *p = path_under(lt->root_real, dir);
                uint8_t key[KEY_BUF];
                size_t key_len;
                int wd;
                if (watch_dir(userdata, p, key, sizeof(key), &key_len, &wd) < 0)
                        continue; /* gone, or out of watches */
                if (hashmap_get(&next_by_key, (const char *) key, key_len))
                        continue; /* one directory by two paths (a bind mount): one serves */
                LinkTargetDir *d = hashmap_get(&old_by_path, dir, strlen(dir));
                if (d && d->key_len == key_len && memcmp(d->key, key, key_len) == 0)
                        hashmap_remove(&old_by_path, d->path, strlen(d->path)); /* kept */
                else {
                        d = xcalloc(1, sizeof(LinkTargetDir));
                        d->path = TAKE_PTR(dir);
                        d->wd = wd;
                        d->key_len = key_len;
                        d->key = xmemdup(key, key_len);
                }
                next = xrealloc(next, (n_next + 1) * sizeof(LinkTargetDir *));
                next[n_next++] = d;
                hashmap_put(&next_by_key, (const char *) d->key, d->key_len, d);
                hashmap_put(&next_by_path, d->path, strlen(d->path), d);
        }
        LinkTargetDir **old = lt->dirs;
        size_t n_old = lt->n_dirs;
        hashmap_free(&lt->dirs_by_key);
        lt->dirs_by_key = next_by_key;
        lt->dirs = next;
        lt->n_dirs = n_next;
        hashmap_free(&next_by_path);
        /* those not kept, once the new ones are in place (the watch asks
         * whether a descriptor is still in use) */
        for (size_t i = 0; i < n_old; i++) {
                LinkTargetDir *d = old[i];
                if (hashmap_get(&old_by_path, d->path, strlen(d->path)) != d)
                        continue; /* kept */
                if (d->wd >= 0)
                        release(userdata, d->wd);
                target_dir_free(d);
        }
        free(old);
        hashmap_free(&old_by_path);
}

const LinkTargetDir *linktargets_dir_by_key(const LinkTargets *lt, const void *key, size_t key_len) {
        return hashmap_get(&lt->dirs_by_key, key, key_len);
}

char *linktargets_match(const LinkTargets *lt, const LinkTargetDir *d, const char *name) {
        char *rel = d->path[0] ? xasprintf("%s/%s", d->path, name) : xstrdup(name);
        if (!hashmap_get(&lt->targets, rel, strlen(rel))) {
                free(rel);
                return NULL;
        }
        return rel;
}

bool linktargets_on_path(const LinkTargets *lt, const char *root, const char *dir, const char *name) {
        if (lt->targets.n == 0 || !lt->root_real)
                return false;
        _cleanup_free_ char *p = path_under(root, dir);
        _cleanup_free_ char *real = realpath(p, NULL);
        const char *r = real ? real_rel(lt, real) : NULL;
        if (!r)
                return false;
        _cleanup_free_ char *rel = r[0] ? xasprintf("%s/%s", r, name) : xstrdup(name);
        for (size_t i = 0; i < lt->targets.cap; i++)
                if (lt->targets.entries[i].key && rel_under(lt->targets.entries[i].key, rel) &&
                    !streq(lt->targets.entries[i].key, rel))
                        return true;
        return false;
}

void linktargets_done(LinkTargets *lt) {
        for (size_t i = 0; i < lt->links.cap; i++)
                if (lt->links.entries[i].key) {
                        LinkEntry *l = lt->links.entries[i].value;
                        free(l->link);
                        free(l->target);
                        free(l);
                }
        hashmap_free(&lt->links);
        for (size_t i = 0; i < lt->targets.cap; i++)
                if (lt->targets.entries[i].key) {
                        TargetRef *t = lt->targets.entries[i].value;
                        free(t->path);
                        free(t);
                }
        hashmap_free(&lt->targets);
        for (size_t i = 0; i < lt->n_dirs; i++)
                target_dir_free(lt->dirs[i]);
        free(lt->dirs);
        hashmap_free(&lt->dirs_by_key);
        free(lt->root_real);
        *lt = (LinkTargets) {};
}
