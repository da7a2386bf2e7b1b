/* SPDX-License-Identifier: MIT */
/* The source files of a tree and the source cache: every file compiled once
 * (wired by wiring.c) and again only when it changed, its resources indexed
 * by type and name, and what each refresh changed in common/ and in each
 * nodes/<id>/, for the node builds (merge.c) to pick from. */
#include <dirent.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "compile.h"
#include "sources.h"
#include "wiring.h"

bool build_is_source_name(const char *name) {
        if (name[0] == '.' || name[0] == '#' || endswith(name, "~") || streq(name, "4913"))
                return false;
        return endswith(name, ".yaml") || endswith(name, ".yml") || endswith(name, ".json");
}

/* ---- listing: the source files of a tree, and the entries that cannot be ----
 *
 * The symlink policy of every tree fsxds reads as source: a link is followed
 * when its target's real path is inside the tree's real path (to a file:
 * read as that file, named by the link; to a directory: listed, named by
 * the link); a link that resolves outside, a dangling link and a link loop
 * (a directory reached again below itself) are each an error at the link's
 * path. An entry fsxds would read (a directory, a *.yaml, *.yml or *.json
 * name) that is not a directory or a regular file (a FIFO, a socket, a
 * device), or whose name is not UTF-8, is an error at its path too; other
 * names are not source and are ignored, as are hidden names. A problem
 * never stops the listing: the rest of the tree is listed. */

#define LIST_DEPTH_MAX 32

typedef struct Lister {
        const char *root; /* the tree's real path */
        size_t root_len;
        StrList *files;
        DiagList *problems;
        int first_error; /* -errno of the first problem */
        struct {
                dev_t dev;
                ino_t ino;
        } stack[LIST_DEPTH_MAX + 1];
        unsigned depth;
} Lister;

static bool is_utf8_name(const char *s) {
        size_t n = strlen(s);
        if (utf8_valid_prefix(s, n) != n)
                return false;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return false;
        return true;
}

_printf_(4, 5) static void list_problem(Lister *l, const char *path, int error, const char *fmt, ...) {
        _cleanup_free_ char *shown = is_utf8_name(path) ? xstrdup(path) : diag_shown(path, 0);
        va_list ap;
        va_start(ap, fmt);
        diag_addv(l->problems, DIAG_ERROR, shown, 0, 0, NULL, fmt, ap);
        va_end(ap);
        if (l->first_error == 0)
                l->first_error = error;
}

static const char *file_type_name(mode_t m) {
        return S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" : S_ISCHR(m) ? "a character device" :
               S_ISBLK(m) ? "a block device" : "not a regular file";
}

static void list_entry(Lister *l, const char *path, const char *name, bool top);

static void list_dir(Lister *l, const char *dir, const struct stat *st) {
        for (unsigned i = 0; i < l->depth; i++)
                if (l->stack[i].dev == st->st_dev && l->stack[i].ino == st->st_ino) {
                        list_problem(l, dir, -ELOOP, "symbolic link loop: a directory that contains it");
                        return;
                }
        if (l->depth > LIST_DEPTH_MAX) {
                list_problem(l, dir, -ELOOP, "directories nested more than %d deep", LIST_DEPTH_MAX);
                return;
        }
        _cleanup_closedir_ DIR *d = opendir(dir);
        if (!d) {
                if (errno != ENOENT) /* else removed since: not there */
                        list_problem(l, dir, -errno, "cannot list the directory: %s", strerror(errno));
                return;
        }
        StrList names = {};
        struct dirent *de;
        for (;;) {
                errno = 0;
                de = readdir(d);
                if (!de)
                        break;
                if (de->d_name[0] != '.')
                        strlist_add(&names, xstrdup(de->d_name));
        }
        if (errno != 0)
                list_problem(l, dir, -errno, "cannot list the directory: %s", strerror(errno));
        if (names.n > 0)
                qsort(names.items, names.n, sizeof(char *), cmp_str);
        l->stack[l->depth].dev = st->st_dev;
        l->stack[l->depth].ino = st->st_ino;
        l->depth++;
        for (size_t i = 0; i < names.n; i++) {
                _cleanup_free_ char *p = xasprintf("%s/%s", dir, names.items[i]);
                list_entry(l, p, names.items[i], false);
        }
        l->depth--;
        strlist_free(&names);
}

/* top: the directory of a scope (common/, nodes/<id>/), which must be one. */
static void list_entry(Lister *l, const char *path, const char *name, bool top) {
        struct stat st;
        if (lstat(path, &st) < 0) {
                if (errno != ENOENT) /* else removed since: not there */
                        list_problem(l, path, -errno, "cannot read: %s", strerror(errno));
                return;
        }
        if (S_ISLNK(st.st_mode)) {
                _cleanup_free_ char *target = realpath(path, NULL);
                if (!target) {
                        int e = errno;
                        if (e == ENOENT)
                                list_problem(l, path, -ENOENT, "dangling symbolic link: its target does not exist");
                        else if (e == ELOOP)
                                list_problem(l, path, -ELOOP, "symbolic link loop");
                        else
                                list_problem(l, path, -e, "cannot resolve the symbolic link: %s", strerror(e));
                        return;
                }
                if (!(startswith(target, l->root) &&
                      (target[l->root_len] == '/' || target[l->root_len] == 0 || streq(l->root, "/")))) {
                        _cleanup_free_ char *shown = diag_excerpt(target);
                        list_problem(l, path, -EXDEV,
                                     "symbolic link to %s, outside source_dir: refused (links must stay inside the tree)",
                                     shown);
                        return;
                }
                if (stat(path, &st) < 0) {
                        if (errno != ENOENT)
                                list_problem(l, path, -errno, "cannot read: %s", strerror(errno));
                        return;
                }
                /* a link to a directory that holds this one (common/x -> ..)
                 * would list its own scope, and the others, again */
                _cleanup_free_ char *parent = xstrndup(path, strrchr(path, '/') ? (size_t) (strrchr(path, '/') - path) : 0);
                _cleanup_free_ char *here = parent[0] ? realpath(parent, NULL) : NULL;
                size_t tl = strlen(target);
                if (S_ISDIR(st.st_mode) && here && startswith(here, target) &&
                    (here[tl] == '/' || here[tl] == 0 || streq(target, "/"))) {
                        list_problem(l, path, -ELOOP, "symbolic link loop: a directory that contains it");
                        return;
                }
        }
        bool dir = S_ISDIR(st.st_mode);
        if (!top && !dir && !build_is_source_name(name))
                return; /* not source: never read */
        if (!is_utf8_name(name)) {
                list_problem(l, path, -EILSEQ, "the name is not valid UTF-8 (or holds control characters)");
                return;
        }
        if (dir)
                list_dir(l, path, &st);
        else if (top)
                list_problem(l, path, -ENOTDIR, "not a directory");
        else if (S_ISREG(st.st_mode))
                strlist_add(l->files, xstrdup(path));
        else
                list_problem(l, path, -EBADFD, "%s, not a regular file: fsxds never reads a FIFO, socket or device",
                             file_type_name(st.st_mode));
}

/* The files of the scope dir (missing: none) of the tree whose real path
 * is root, into files; its problems into problems. Returns the first
 * problem's -errno, or 0. */
static int list_scope(const char *root, const char *dir, StrList *files, DiagList *problems) {
        Lister l = { .root = root, .root_len = strlen(root), .files = files, .problems = problems };
        const char *slash = strrchr(dir, '/');
        list_entry(&l, dir, slash ? slash + 1 : dir, true);
        return l.first_error;
}

int build_list_sources_checked(const char *dir, DiagList *problems, char ***ret) {
        _cleanup_free_ char *root = realpath(dir, NULL);
        if (!root)
                return -errno;
        StrList l = {};
        (void) list_scope(root, dir, &l, problems);
        if (!l.items)
                l.items = xcalloc(1, sizeof(char *));
        *ret = l.items;
        return 0;
}

int build_list_sources(const char *dir, char ***ret) {
        _cleanup_free_ char *root = realpath(dir, NULL);
        if (!root && errno != ENOENT)
                return -errno;
        StrList l = {};
        DiagList problems = {};
        int r = root ? list_scope(root, dir, &l, &problems) : 0;
        diag_list_clear(&problems);
        if (r < 0) {
                strlist_free(&l);
                return r;
        }
        if (!l.items)
                l.items = xcalloc(1, sizeof(char *));
        *ret = l.items;
        return 0;
}

/* ---- the source cache ---- */

char *source_cache_key(ResourceType t, const char *name, size_t *ret_len) {
        char *k = xasprintf("%c%s", '0' + (int) t, name);
        *ret_len = strlen(k);
        return k;
}

int source_cache_new(const Schema *schema, PublishMode mode, SourceCache **ret) {
        SourceCache *c = xcalloc(1, sizeof(SourceCache));
        c->schema = schema;
        c->mode = mode;
        c->nodes = xcalloc(1, sizeof(char *));
        c->bad_nodes = xcalloc(1, sizeof(char *));
        *ret = c;
        return 0;
}

static void clear_changes(SourceCache *c);

static void cached_file_free(CachedFile *f) {
        if (!f)
                return;
        resource_list_free(&f->resources);
        diag_list_clear(&f->diags);
        free(f->path);
        free(f);
}

static void free_strv(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

static void index_free(Hashmap *h) {
        for (size_t i = 0; i < h->cap; i++) {
                KeyEntry *ke = h->entries[i].value;
                if (!h->entries[i].key)
                        continue;
                free(ke->key);
                free(ke->items);
                free(ke);
        }
        hashmap_free(h);
}

SourceCache *source_cache_free(SourceCache *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_files; i++)
                cached_file_free(c->files[i]);
        free(c->files);
        hashmap_free(&c->by_rel);
        index_free(&c->keys);
        index_free(&c->refs);
        clear_changes(c);
        for (size_t i = 0; i < c->n_node_seq_keys; i++) {
                free(hashmap_get(&c->node_seqs, c->node_seq_keys[i], strlen(c->node_seq_keys[i])));
                free(c->node_seq_keys[i]);
        }
        free(c->node_seq_keys);
        hashmap_free(&c->node_seqs);
        free_strv(c->nodes);
        free_strv(c->bad_nodes);
        free(c);
        return NULL;
}

const char *const *source_cache_nodes(const SourceCache *c) {
        return (const char *const *) c->nodes;
}

const char *const *source_cache_bad_node_dirs(const SourceCache *c) {
        return (const char *const *) c->bad_nodes;
}

uint64_t source_cache_seq(const SourceCache *c) {
        return c->seq;
}

static int cmp_cached(const void *a, const void *b) {
        return strcmp((*(CachedFile *const *) a)->rel, (*(CachedFile *const *) b)->rel);
}

/* The scope of a file: NULL for common/, else the node id (its length in
 * *ret_len); false for files outside both. */
static bool file_scope(const char *rel, const char **ret_id, size_t *ret_len) {
        if (startswith(rel, "common/")) {
                *ret_id = NULL;
                *ret_len = 0;
                return true;
        }
        if (!startswith(rel, "nodes/"))
                return false;
        const char *id = rel + 6, *slash = strchr(id, '/');
        if (!slash)
                return false;
        *ret_id = id;
        *ret_len = (size_t) (slash - id);
        return true;
}

static void scope_seq_bump(SourceCache *c, const char *id, size_t id_len) {
        ScopeSeq *s = &c->common_seq;
        if (id) {
                s = hashmap_get(&c->node_seqs, id, id_len);
                if (!s) {
                        char *key = xstrndup(id, id_len);
                        s = xcalloc(1, sizeof(ScopeSeq));
                        hashmap_put(&c->node_seqs, key, id_len, s);
                        c->node_seq_keys = xrealloc(c->node_seq_keys, (c->n_node_seq_keys + 1) * sizeof(char *));
                        c->node_seq_keys[c->n_node_seq_keys++] = key;
                }
        }
        if (s->last != c->seq) {
                s->prev = s->last;
                s->last = c->seq;
        }
}

/* Records that the candidates of key changed in the scope of file rel. */
static void note_key_change(SourceCache *c, const char *rel, const char *key, size_t key_len) {
        const char *id;
        size_t id_len;
        if (!file_scope(rel, &id, &id_len))
                return;
        ScopeChanges *sc = &c->common;
        if (id) {
                sc = hashmap_get(&c->node_changes, id, id_len);
                if (!sc) {
                        sc = xcalloc(1, sizeof(ScopeChanges));
                        sc->scope = xstrndup(id, id_len);
                        hashmap_put(&c->node_changes, sc->scope, id_len, sc);
                }
        }
        scope_seq_bump(c, id, id_len);
        if (!key || hashmap_get(&sc->seen, key, key_len))
                return;
        char *k = xstrndup(key, key_len);
        sc->keys = xrealloc(sc->keys, (sc->n + 1) * sizeof(char *));
        sc->keys[sc->n++] = k;
        hashmap_put(&sc->seen, k, key_len, k);
}

static void scope_changes_done(ScopeChanges *sc) {
        for (size_t i = 0; i < sc->n; i++)
                free(sc->keys[i]);
        free(sc->keys);
        hashmap_free(&sc->seen);
        free(sc->scope);
        *sc = (ScopeChanges) {};
}

static void clear_changes(SourceCache *c) {
        scope_changes_done(&c->common);
        for (size_t i = 0; i < c->node_changes.cap; i++)
                if (c->node_changes.entries[i].key) {
                        ScopeChanges *sc = c->node_changes.entries[i].value;
                        scope_changes_done(sc);
                        free(sc);
                }
        hashmap_free(&c->node_changes);
}

/* A candidate (file, resource index) under key in an index of KeyEntry. */
static void index_put(Hashmap *h, const char *key, size_t kl, CachedFile *f, size_t i) {
        KeyEntry *ke = hashmap_get(h, key, kl);
        if (!ke) {
                ke = xcalloc(1, sizeof(KeyEntry));
                ke->key = xstrdup(key);
                ke->key_len = kl;
                hashmap_put(h, ke->key, kl, ke);
        }
        if (ke->n > 0 && ke->items[ke->n - 1].file == f && ke->items[ke->n - 1].index == i)
                return; /* one resource naming one key twice */
        if (ke->n == ke->cap) {
                ke->cap = ke->cap ? ke->cap * 2 : 2;
                ke->items = xrealloc(ke->items, ke->cap * sizeof(Candidate));
        }
        ke->items[ke->n++] = (Candidate) { f, (uint32_t) i };
}

/* Drops every candidate of file f under key. */
static void index_drop(Hashmap *h, const char *key, size_t kl, const CachedFile *f) {
        KeyEntry *ke = hashmap_get(h, key, kl);
        if (!ke)
                return;
        size_t k = 0;
        for (size_t j = 0; j < ke->n; j++)
                if (ke->items[j].file != f)
                        ke->items[k++] = ke->items[j];
        ke->n = k;
        if (k == 0) {
                hashmap_remove(h, ke->key, ke->key_len);
                free(ke->key);
                free(ke->items);
                free(ke);
        }
}

/* Adds or removes a file's resources to or from the key index, noting each
 * key as changed in the file's scope, but those in same (whose resources
 * this file holds as they were: what a build makes of them is the same). */
static void index_file(SourceCache *c, CachedFile *f, bool add, const Hashmap *same) {
        note_key_change(c, f->rel, NULL, 0); /* the scope changed even with no resources */
        for (size_t i = 0; i < f->resources.n; i++) {
                const Resource *r = &f->resources.items[i];
                size_t kl;
                _cleanup_free_ char *key = source_cache_key(r->type, r->name, &kl);
                if (!same || !hashmap_get(same, key, kl))
                        note_key_change(c, f->rel, key, kl);
                if (r->type == RESOURCE_VIRTUAL_HOST) {
                        if (add)
                                c->n_virtual_hosts++;
                        else
                                c->n_virtual_hosts--;
                }
                if (add)
                        index_put(&c->keys, key, kl, f, i);
                else
                        index_drop(&c->keys, key, kl, f);
                /* who names what: a resource removed makes its referrers' files be checked again */
                for (size_t k = 0; k < r->facts.n_refs; k++) {
                        const ResourceRef *ref = &r->facts.refs[k];
                        size_t rl;
                        _cleanup_free_ char *rk = source_cache_key(ref->type, ref->name, &rl);
                        if (add)
                                index_put(&c->refs, rk, rl, f, i);
                        else
                                index_drop(&c->refs, rk, rl, f);
                }
        }
}

/* Per key of a file's resources, the resource (DUPLICATE_KEY when the
 * file has more than one of that key). */
static const Resource DUPLICATE_KEY;

static void key_resources(const ResourceList *l, Hashmap *ret, StrList *keys) {
        for (size_t i = 0; i < l->n; i++) {
                const Resource *r = &l->items[i];
                size_t kl;
                char *key = source_cache_key(r->type, r->name, &kl);
                if (hashmap_get(ret, key, kl)) {
                        hashmap_put(ret, key, kl, (void *) &DUPLICATE_KEY);
                        free(key);
                        continue;
                }
                strlist_add(keys, key);
                hashmap_put(ret, key, kl, (void *) r);
        }
}

/* The keys whose one resource a file's new version holds byte for byte as
 * the old one did (each key of same maps to itself; keys owns them). */
static void unchanged_keys(const ResourceList *old, const ResourceList *next, Hashmap *same, StrList *keys) {
        Hashmap a = {}, b = {};
        StrList ka = {}, kb = {};
        key_resources(old, &a, &ka);
        key_resources(next, &b, &kb);
        for (size_t i = 0; i < a.cap; i++) {
                if (!a.entries[i].key)
                        continue;
                const Resource *x = a.entries[i].value;
                const Resource *y = hashmap_get(&b, a.entries[i].key, a.entries[i].key_len);
                if (!y || x == &DUPLICATE_KEY || y == &DUPLICATE_KEY || x->wired != y->wired || x->any_len != y->any_len ||
                    memcmp(x->any, y->any, x->any_len) != 0)
                        continue;
                char *k = xmemdup(a.entries[i].key, a.entries[i].key_len + 1);
                strlist_add(keys, k);
                hashmap_put(same, k, a.entries[i].key_len, k);
        }
        hashmap_free(&a);
        hashmap_free(&b);
        strlist_free(&ka);
        strlist_free(&kb);
}

/* Compiles one file into its cache entry (diagnostics kept with it). Bytes
 * equal to what is cached (a touch, a save without edits) keep the cached
 * entry, so resources stay where builds remember them. Returns whether the
 * content changed. */
static bool cache_compile(SourceCache *c, CachedFile *f) {
        Wiring w = { .schema = c->schema, .mode = c->mode };
        CompileHooks hooks = { .rewrite = wiring_rewrite_resource, .userdata = &w };
        CompileResult cr = {};
        DiagList diags = {};
        int r = compile_file(c->schema, f->path, &hooks, &diags, &cr);
        if (r < 0 && r != -EBADMSG) {
                diag_add(&diags, DIAG_ERROR, f->path, 0, 0, NULL, "cannot read: %s", read_error_string(r));
                cr.sha256[0] = 0;
        }
        if (f->sha256[0] && cr.sha256[0] && streq(f->sha256, cr.sha256)) {
                diag_list_clear(&diags);
                compile_result_done(&cr);
                return false;
        }
        Hashmap same = {};
        StrList same_keys = {};
        unchanged_keys(&f->resources, &cr.resources, &same, &same_keys);
        index_file(c, f, false, &same);
        resource_list_free(&f->resources);
        diag_list_clear(&f->diags);
        f->diags = diags;
        /* a file with errors keeps the resources that compiled: no node
         * whose build reads it publishes, but fsxds check merges them */
        f->resources = cr.resources;
        cr.resources = (ResourceList) {};
        /* a one-resource file that is the same for every node is made now,
         * and holds the resource's bytes */
        for (size_t i = 0; i < f->resources.n; i++) {
                Resource *res = &f->resources.items[i];
                if (resource_type_dir(res->type) && !resource_type_is_sotw(res->type) && !res->wired)
                        resource_make_own_file(res);
        }
        index_file(c, f, true, &same);
        hashmap_free(&same);
        strlist_free(&same_keys);
        memcpy(f->sha256, cr.sha256, sizeof f->sha256);
        compile_result_done(&cr);
        return true;
}

/* One file seen by a refresh: recompiled unless its stat is unchanged. */
static int cache_visit(SourceCache *c, const char *path, size_t rel_offset, const struct stat *st) {
        const char *rel = path + rel_offset;
        CachedFile *f = hashmap_get(&c->by_rel, rel, strlen(rel));
        if (f) {
                f->seen = true;
                if (f->dev == st->st_dev && f->ino == st->st_ino && f->size == st->st_size &&
                    f->mtime.tv_sec == st->st_mtim.tv_sec && f->mtime.tv_nsec == st->st_mtim.tv_nsec &&
                    f->ctime.tv_sec == st->st_ctim.tv_sec && f->ctime.tv_nsec == st->st_ctim.tv_nsec)
                        return 0;
        } else {
                f = xcalloc(1, sizeof(CachedFile));
                f->path = xstrdup(path);
                f->rel = f->path + rel_offset;
                f->seen = true;
                hashmap_put(&c->by_rel, f->rel, strlen(f->rel), f);
                c->files = xrealloc(c->files, (c->n_files + 1) * sizeof(CachedFile *));
                c->files[c->n_files++] = f;
        }
        f->dev = st->st_dev;
        f->ino = st->st_ino;
        f->size = st->st_size;
        f->mtime = st->st_mtim;
        f->ctime = st->st_ctim;
        if (f->bad) {
                /* a problem before: compiled again whatever its bytes */
                f->bad = false;
                diag_list_clear(&f->diags);
        }
        f->changed = cache_compile(c, f);
        return f->changed;
}

bool source_cache_node_changed(const SourceCache *c, const char *node_id) {
        return c->common_seq.last == c->seq || hashmap_get(&c->node_changes, node_id, strlen(node_id));
}

/* An entry that cannot be source (a problem of the listing): a cache entry
 * without resources whose one diagnostic is the problem, so that the
 * node (or, in common/, every node) whose scope holds it has an error
 * until it is gone. Returns whether it is new or changed. */
static int cache_visit_problem(SourceCache *c, const Diag *d, size_t rel_offset) {
        if (strlen(d->file) < rel_offset)
                return 0;
        /* the scope's directory itself: "common/", "nodes/<id>/", so that
         * it belongs to its scope */
        const char *r0 = d->file + rel_offset;
        bool scope_dir = streq(r0, "common") || (startswith(r0, "nodes/") && !strchr(r0 + 6, '/'));
        _cleanup_free_ char *path = scope_dir ? xasprintf("%s/", d->file) : xstrdup(d->file);
        const char *rel = path + rel_offset;
        CachedFile *f = hashmap_get(&c->by_rel, rel, strlen(rel));
        if (f && f->bad && f->diags.n == 1 && streq(f->diags.items[0].message, d->message)) {
                f->seen = true;
                return 0;
        }
        if (!f) {
                f = xcalloc(1, sizeof(CachedFile));
                f->path = TAKE_PTR(path);
                f->rel = f->path + rel_offset;
                hashmap_put(&c->by_rel, f->rel, strlen(f->rel), f);
                c->files = xrealloc(c->files, (c->n_files + 1) * sizeof(CachedFile *));
                c->files[c->n_files++] = f;
        }
        index_file(c, f, false, NULL);
        resource_list_free(&f->resources);
        diag_list_clear(&f->diags);
        diag_add(&f->diags, DIAG_ERROR, f->path, 0, 0, NULL, "%s", d->message);
        f->seen = f->changed = f->bad = true;
        f->sha256[0] = 0;
        f->dev = 0;
        f->ino = 0;
        index_file(c, f, true, NULL); /* no resources: notes the scope's change */
        return 1;
}

/* The scope dir's files and problems; a problem is an error of the scope,
 * never a reason to take it for empty (its other files are read). */
static int refresh_dir(SourceCache *c, const char *root, const char *dir, size_t rel_offset) {
        StrList files = {};
        DiagList problems = {};
        (void) list_scope(root, dir, &files, &problems);
        int changed = 0;
        for (size_t i = 0; i < files.n; i++) {
                struct stat st;
                if (stat(files.items[i], &st) == 0 && cache_visit(c, files.items[i], rel_offset, &st) > 0)
                        changed++;
        }
        for (size_t i = 0; i < problems.n; i++)
                changed += cache_visit_problem(c, &problems.items[i], rel_offset);
        strlist_free(&files);
        diag_list_clear(&problems);
        return changed;
}

static char **strlist_sorted(StrList *l) {
        if (!l->items)
                return xcalloc(1, sizeof(char *));
        qsort(l->items, l->n, sizeof(char *), cmp_str);
        return l->items;
}

/* The node ids of nodes/: its directories, and its links (whatever they
 * resolve to: the node's listing names what is wrong with one); and the
 * directories and links whose name is no node id (a node id never starts
 * with '.': fsxds's own names in output_dir do). Other entries are not
 * nodes. */
static int list_node_dirs(const char *source_dir, char ***ret, char ***ret_bad) {
        _cleanup_free_ char *nodes_dir = xasprintf("%s/nodes", source_dir);
        StrList l = {}, bad = {};
        DIR *d = opendir(nodes_dir);
        if (d) {
                struct dirent *de;
                for (;;) {
                        errno = 0;
                        de = readdir(d);
                        if (!de)
                                break;
                        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                                continue;
                        _cleanup_free_ char *p = xasprintf("%s/%s", nodes_dir, de->d_name);
                        struct stat st;
                        if (lstat(p, &st) == 0 && (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)))
                                /* a name that is no node id may hold anything: kept as it is
                                 * shown (escaped: one line of valid UTF-8 in the log and status) */
                                strlist_add(node_id_is_valid(de->d_name) ? &l : &bad,
                                            node_id_is_valid(de->d_name) ? xstrdup(de->d_name)
                                                                         : diag_shown(de->d_name, 0));
                }
                int e = errno;
                closedir(d);
                if (e != 0) {
                        strlist_free(&l);
                        strlist_free(&bad);
                        return -e;
                }
        } else if (errno != ENOENT) {
                /* a tree whose nodes/ cannot be listed is not a tree without nodes */
                return -errno;
        }
        *ret = strlist_sorted(&l);
        *ret_bad = strlist_sorted(&bad);
        return 0;
}

int source_cache_refresh(SourceCache *c, const char *source_dir, const char *only_node) {
        clear_changes(c);
        c->seq++;
        for (size_t i = 0; i < c->n_files; i++)
                c->files[i]->seen = c->files[i]->changed = false;
        size_t rel_offset = strlen(source_dir) + 1;
        /* a tree that cannot be resolved is not an empty tree: the caller
         * builds nothing from it */
        _cleanup_free_ char *root = realpath(source_dir, NULL);
        if (!root)
                return -errno;
        char **nodes = NULL, **bad_nodes = NULL;
        if (only_node && !only_node[0]) {
                nodes = xcalloc(1, sizeof(char *));
                bad_nodes = xcalloc(1, sizeof(char *));
        } else {
                int r = list_node_dirs(source_dir, &nodes, &bad_nodes);
                if (r < 0)
                        return r;
        }
        free_strv(c->nodes);
        c->nodes = nodes;
        free_strv(c->bad_nodes);
        c->bad_nodes = bad_nodes;
        int changed = 0;
        _cleanup_free_ char *common = xasprintf("%s/common", source_dir);
        changed += refresh_dir(c, root, common, rel_offset);
        for (char **n = nodes; *n; n++) {
                if (only_node && !streq(*n, only_node))
                        continue;
                _cleanup_free_ char *d = xasprintf("%s/nodes/%s", source_dir, *n);
                changed += refresh_dir(c, root, d, rel_offset);
        }
        /* files that are gone */
        size_t k = 0;
        bool gone = false;
        for (size_t i = 0; i < c->n_files; i++) {
                CachedFile *f = c->files[i];
                if (f->seen) {
                        c->files[k++] = f;
                        continue;
                }
                changed++;
                gone = true;
                hashmap_remove(&c->by_rel, f->rel, strlen(f->rel));
                index_file(c, f, false, NULL);
                cached_file_free(f);
        }
        c->n_files = k;
        if (changed > 0 || gone) {
                qsort(c->files, c->n_files, sizeof(CachedFile *), cmp_cached);
                for (size_t i = 0; i < c->n_files; i++)
                        c->files[i]->index = (uint32_t) i;
        }
        return changed;
}

void source_cache_foreach_file(const SourceCache *c, void (*f)(void *userdata, const char *rel, const char *sha256),
                               void *userdata) {
        for (size_t i = 0; i < c->n_files; i++)
                f(userdata, c->files[i]->rel, c->files[i]->sha256);
}

/* The first file whose path is not below prefix, from lo (c->files is
 * sorted by path). */
static size_t first_at_or_after(const SourceCache *c, const char *prefix) {
        size_t lo = 0, hi = c->n_files;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (strcmp(c->files[mid]->rel, prefix) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

void source_cache_foreach_node_file(const SourceCache *c, const char *node_id,
                                    void (*f)(void *userdata, const char *rel, const char *sha256), void *userdata) {
        _cleanup_free_ char *own = xasprintf("nodes/%s/", node_id);
        const char *prefixes[] = { "common/", own };
        for (size_t k = 0; k < ELEMENTSOF(prefixes); k++)
                for (size_t i = first_at_or_after(c, prefixes[k]);
                     i < c->n_files && startswith(c->files[i]->rel, prefixes[k]); i++)
                        f(userdata, c->files[i]->rel, c->files[i]->sha256);
}

bool source_cache_build_current(const SourceCache *c, const char *node_id, uint64_t seq) {
        const ScopeSeq *s[2] = { &c->common_seq, hashmap_get(&c->node_seqs, node_id, strlen(node_id)) };
        for (size_t i = 0; i < 2; i++)
                if (s[i] && (s[i]->last == c->seq ? s[i]->prev : s[i]->last) > seq)
                        return false;
        return seq > 0 && seq <= c->seq;
}

bool cached_file_in_node(const CachedFile *f, const char *node_id, bool *ret_from_node) {
        if (startswith(f->rel, "common/")) {
                *ret_from_node = false;
                return true;
        }
        size_t l = strlen(node_id);
        if (startswith(f->rel, "nodes/") && strncmp(f->rel + 6, node_id, l) == 0 && f->rel[6 + l] == '/') {
                *ret_from_node = true;
                return true;
        }
        return false;
}

size_t source_cache_listener_addresses(const SourceCache *c, const char *node_id, ListenerAddress **ret) {
        ListenerAddress *a = NULL;
        size_t n = 0;
        for (size_t i = 0; i < c->n_files; i++) {
                bool from_node;
                const CachedFile *f = c->files[i];
                if (!cached_file_in_node(f, node_id, &from_node))
                        continue;
                for (size_t k = 0; k < f->resources.n; k++) {
                        const Resource *r = &f->resources.items[k];
                        if (r->type != RESOURCE_LISTENER || !r->facts.address)
                                continue;
                        if (!from_node) {
                                /* common's listener unless the node has its own of that name */
                                size_t kl;
                                _cleanup_free_ char *key = source_cache_key(r->type, r->name, &kl);
                                const KeyEntry *ke = hashmap_get(&c->keys, key, kl);
                                bool replaced = false;
                                for (size_t j = 0; ke && j < ke->n && !replaced; j++) {
                                        bool fn;
                                        replaced = cached_file_in_node(ke->items[j].file, node_id, &fn) && fn;
                                }
                                if (replaced)
                                        continue;
                        }
                        a = xrealloc(a, (n + 1) * sizeof(ListenerAddress));
                        a[n++] = (ListenerAddress) { r->facts.address, r->name, r->file, r->facts.line, r->facts.column };
                }
        }
        *ret = a;
        return n;
}
