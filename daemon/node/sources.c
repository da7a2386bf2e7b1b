/* SPDX-License-Identifier: MIT */
/* The source files of a tree and the source cache: every file compiled once
 * (wired by wiring.c) and again only when it changed, its resources indexed
 * by type and name, and what each refresh changed in common/ and in each
 * nodes/<id>/, for the node builds (merge.c) to pick from. */
#include <dirent.h>
#include <sys/stat.h>

#include "compile.h"
#include "sources.h"
#include "wiring.h"

bool build_is_source_name(const char *name) {
        if (name[0] == '.' || name[0] == '#' || endswith(name, "~") || streq(name, "4913"))
                return false;
        return endswith(name, ".yaml") || endswith(name, ".yml") || endswith(name, ".json");
}

static int list_recursive(const char *dir, unsigned depth, StrList *out) {
        if (depth > 32)
                return -ELOOP;
        DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        StrList names = {};
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        strlist_add(&names, xstrdup(de->d_name));
        closedir(d);
        if (names.n > 0)
                qsort(names.items, names.n, sizeof(char *), cmp_str);
        int r = 0;
        for (size_t i = 0; i < names.n; i++) {
                _cleanup_free_ char *p = xasprintf("%s/%s", dir, names.items[i]);
                struct stat st;
                if (r >= 0 && stat(p, &st) == 0) {
                        if (S_ISDIR(st.st_mode))
                                r = list_recursive(p, depth + 1, out);
                        else if (S_ISREG(st.st_mode) && build_is_source_name(names.items[i]))
                                strlist_add(out, TAKE_PTR(p));
                }
                free(names.items[i]);
        }
        free(names.items);
        return r;
}

int build_list_sources(const char *dir, char ***ret) {
        StrList l = {};
        int r = list_recursive(dir, 0, &l);
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

SourceCache *source_cache_free(SourceCache *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_files; i++)
                cached_file_free(c->files[i]);
        free(c->files);
        hashmap_free(&c->by_rel);
        for (size_t i = 0; i < c->keys.cap; i++) {
                KeyEntry *ke = c->keys.entries[i].value;
                if (!c->keys.entries[i].key)
                        continue;
                free(ke->key);
                free(ke->items);
                free(ke);
        }
        hashmap_free(&c->keys);
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

/* Adds or removes a file's resources to or from the key index, noting each
 * key as changed in the file's scope. */
static void index_file(SourceCache *c, CachedFile *f, bool add) {
        note_key_change(c, f->rel, NULL, 0); /* the scope changed even with no resources */
        for (size_t i = 0; i < f->resources.n; i++) {
                const Resource *r = &f->resources.items[i];
                size_t kl;
                _cleanup_free_ char *key = source_cache_key(r->type, r->name, &kl);
                note_key_change(c, f->rel, key, kl);
                if (r->type == RESOURCE_VIRTUAL_HOST) {
                        if (add)
                                c->n_virtual_hosts++;
                        else
                                c->n_virtual_hosts--;
                }
                KeyEntry *ke = hashmap_get(&c->keys, key, kl);
                if (add) {
                        if (!ke) {
                                ke = xcalloc(1, sizeof(KeyEntry));
                                ke->key = TAKE_PTR(key);
                                ke->key_len = kl;
                                hashmap_put(&c->keys, ke->key, kl, ke);
                        }
                        if (ke->n == ke->cap) {
                                ke->cap = ke->cap ? ke->cap * 2 : 2;
                                ke->items = xrealloc(ke->items, ke->cap * sizeof(Candidate));
                        }
                        ke->items[ke->n++] = (Candidate) { f, (uint32_t) i };
                        continue;
                }
                if (!ke)
                        continue;
                size_t k = 0;
                for (size_t j = 0; j < ke->n; j++)
                        if (ke->items[j].file != f)
                                ke->items[k++] = ke->items[j];
                ke->n = k;
                if (k == 0) {
                        hashmap_remove(&c->keys, ke->key, ke->key_len);
                        free(ke->key);
                        free(ke->items);
                        free(ke);
                }
        }
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
        index_file(c, f, false);
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
        index_file(c, f, true);
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
        f->changed = cache_compile(c, f);
        return f->changed;
}

bool source_cache_node_changed(const SourceCache *c, const char *node_id) {
        return c->common_seq.last == c->seq || hashmap_get(&c->node_changes, node_id, strlen(node_id));
}

static int refresh_dir(SourceCache *c, const char *dir, size_t rel_offset) {
        _cleanup_free_ char **files = NULL;
        int r = build_list_sources(dir, &files);
        if (r < 0)
                return r;
        int changed = 0;
        for (char **p = files; *p; p++) {
                struct stat st;
                if (stat(*p, &st) == 0) {
                        r = cache_visit(c, *p, rel_offset, &st);
                        if (r > 0)
                                changed++;
                }
                free(*p);
        }
        return changed;
}

static char **strlist_sorted(StrList *l) {
        if (!l->items)
                return xcalloc(1, sizeof(char *));
        qsort(l->items, l->n, sizeof(char *), cmp_str);
        return l->items;
}

/* The node directories, and the directories whose name is no node id (a
 * node id never starts with '.': fsxds's own names in output_dir do). */
static int list_node_dirs(const char *source_dir, char ***ret, char ***ret_bad) {
        _cleanup_free_ char *nodes_dir = xasprintf("%s/nodes", source_dir);
        StrList l = {}, bad = {};
        DIR *d = opendir(nodes_dir);
        if (d) {
                struct dirent *de;
                while ((de = readdir(d))) {
                        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                                continue;
                        _cleanup_free_ char *p = xasprintf("%s/%s", nodes_dir, de->d_name);
                        struct stat st;
                        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
                                strlist_add(node_id_is_valid(de->d_name) ? &l : &bad, xstrdup(de->d_name));
                }
                closedir(d);
        } else if (errno != ENOENT)
                return -errno;
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
        char **nodes = NULL, **bad_nodes = NULL;
        int r = list_node_dirs(source_dir, &nodes, &bad_nodes);
        if (r < 0)
                return r;
        free_strv(c->nodes);
        c->nodes = nodes;
        free_strv(c->bad_nodes);
        c->bad_nodes = bad_nodes;
        int changed = 0;
        _cleanup_free_ char *common = xasprintf("%s/common", source_dir);
        r = refresh_dir(c, common, rel_offset);
        if (r < 0)
                return r;
        changed += r;
        for (char **n = nodes; *n; n++) {
                if (only_node && !streq(*n, only_node))
                        continue;
                _cleanup_free_ char *d = xasprintf("%s/nodes/%s", source_dir, *n);
                r = refresh_dir(c, d, rel_offset);
                if (r < 0)
                        return r;
                changed += r;
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
                index_file(c, f, false);
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
