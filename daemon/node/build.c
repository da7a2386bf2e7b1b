/* SPDX-License-Identifier: MIT */
/* The node build: merge common/ and nodes/<id>/ (the node wins by type and
 * name), expand, wire config sources to the node's own files, merge
 * standalone VirtualHosts into their RouteConfiguration, and split the
 * result into the per-type files Envoy's path subscriptions read. */
#include <assert.h>
#include <dirent.h>
#include <sys/stat.h>

#include "build.h"
#include "layout.h"
#include "compile.h"
#include "graph.h"
#include "hashmap.h"
#include "wire.h"
#include "yamltree.h"

void node_output_done(NodeOutput *o) {
        for (size_t i = 0; i < o->n; i++) {
                free(o->files[i].path);
                if (!o->files[i].borrowed)
                        free(o->files[i].data);
        }
        free(o->files);
        *o = (NodeOutput) {};
}

bool build_is_source_name(const char *name) {
        if (name[0] == '.' || name[0] == '#' || endswith(name, "~") || streq(name, "4913"))
                return false;
        return endswith(name, ".yaml") || endswith(name, ".yml") || endswith(name, ".json");
}

typedef struct StrList {
        char **items;
        size_t n, cap;
} StrList;

static void strlist_add(StrList *l, char *s) {
        if (l->n + 1 >= l->cap) {
                l->cap = l->cap ? l->cap * 2 : 16;
                l->items = xrealloc(l->items, l->cap * sizeof(char *));
        }
        l->items[l->n++] = s;
        l->items[l->n] = NULL;
}

static void strlist_free(StrList *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->items[i]);
        free(l->items);
        *l = (StrList) {};
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
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

/* ---- config source wiring ---- */

/* Config sources are wired to "<marker>/<type>/<file>"; a node's build
 * replaces the marker with the node's directory. The marker starts with a
 * byte no protobuf message can start with (a tag of field 0), so a
 * length-delimited field that starts with it is the path string itself and
 * any other that contains it is a nested message. Compiled files are thus
 * shared by every node. */
#define NODE_DIR_MARKER "\x01fsxds-node-dir\x01"

typedef struct Wiring {
        const Schema *schema;
        PublishMode mode;
        const char *file;
        DiagList *diags;
        YamlArena *arena;
        bool wired; /* the current resource got a wired config source */
} Wiring;

/* Sets parent.<field> (a ConfigSource) to the node's file for resource
 * name in type_dir, unless it names an ads/api/self source. */
static void wire_source(Wiring *w, YamlNode *parent, const char *field, const char *type_dir, const char *resource_name,
                        const YamlNode *at) {
        YamlNode *cs = yaml_map_get_field(parent, field);
        if (cs && cs->kind != YAML_KIND_NULL) {
                if (cs->kind != YAML_KIND_MAP)
                        return; /* the encoder reports it */
                if (config_source_is_remote(cs))
                        return;
                yaml_map_remove_field(cs, "path");
                yaml_map_remove_field(cs, "path_config_source");
        } else {
                cs = yaml_new_collection(w->arena, YAML_KIND_MAP, at);
                yaml_map_set(w->arena, parent, field, cs);
        }
        _cleanup_free_ char *fname = layout_file_name(resource_name);
        if (!fname)
                return; /* too long a name: reported when the files are split */
        _cleanup_free_ char *path = xasprintf(NODE_DIR_MARKER "/%s/%s", type_dir, fname);
        YamlNode *pcs = yaml_new_collection(w->arena, YAML_KIND_MAP, at);
        yaml_map_set(w->arena, pcs, "path", yaml_new_scalar(w->arena, YAML_KIND_STRING, path, at));
        if (w->mode == PUBLISH_MODE_WATCHED_DIRECTORY) {
                _cleanup_free_ char *dir = xasprintf(NODE_DIR_MARKER "/%s", type_dir);
                YamlNode *wd = yaml_new_collection(w->arena, YAML_KIND_MAP, at);
                yaml_map_set(w->arena, wd, "path", yaml_new_scalar(w->arena, YAML_KIND_STRING, dir, at));
                yaml_map_set(w->arena, pcs, "watched_directory", wd);
        }
        yaml_map_set(w->arena, cs, "path_config_source", pcs);
        w->wired = true;
        diag_add(w->diags, DIAG_NOTE, w->file, at->line, at->column, NULL,
                 "config source wired to the node's %s/%s", type_dir, fname);
}

static bool cluster_is_eds(const YamlNode *cluster) {
        const YamlNode *t = yaml_map_get_field(cluster, "type");
        return t && yaml_is_scalar(t) && (streq(t->str, "EDS") || streq(t->str, "3"));
}

static void wire_message(Wiring *w, const SchemaMessage *m, YamlNode *node);

static void wire_value(Wiring *w, const SchemaMessage *m, YamlNode *v) {
        if (v->kind == YAML_KIND_SEQ) {
                for (uint32_t i = 0; i < v->n; i++)
                        wire_message(w, m, v->items[i]);
        } else
                wire_message(w, m, v);
}

static void wire_message(Wiring *w, const SchemaMessage *m, YamlNode *node) {
        if (node->kind != YAML_KIND_MAP)
                return;
        if (m->well_known == SCHEMA_WK_ANY) {
                const YamlNode *t = yaml_map_get(node, "@type");
                const SchemaMessage *inner = t && t->kind == YAML_KIND_STRING ? schema_message_by_type_url(w->schema, t->str) : NULL;
                if (inner && inner->well_known == SCHEMA_WK_NONE)
                        wire_message(w, inner, node);
                return;
        }
        if (m->well_known != SCHEMA_WK_NONE)
                return;
        const char *name = m->full_name;
        if (streq(name, "envoy.config.cluster.v3.Cluster") && cluster_is_eds(node)) {
                YamlNode *ecc = yaml_map_get_field(node, "eds_cluster_config");
                if (!ecc || ecc->kind == YAML_KIND_NULL) {
                        ecc = yaml_new_collection(w->arena, YAML_KIND_MAP, node);
                        yaml_map_set(w->arena, node, "eds_cluster_config", ecc);
                }
                const YamlNode *svc = yaml_map_get_field(ecc, "service_name");
                const YamlNode *cname = yaml_map_get_field(node, "name");
                const YamlNode *n = svc && svc->kind == YAML_KIND_STRING && svc->n > 0 ? svc : cname;
                if (ecc->kind == YAML_KIND_MAP && n && n->kind == YAML_KIND_STRING)
                        wire_source(w, ecc, "eds_config", "eds", n->str, ecc);
        } else if (streq(name, "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager")) {
                YamlNode *rds = yaml_map_get_field(node, "rds");
                const YamlNode *rc = rds ? yaml_map_get_field(rds, "route_config_name") : NULL;
                if (rds && rds->kind == YAML_KIND_MAP && rc && rc->kind == YAML_KIND_STRING)
                        wire_source(w, rds, "config_source", "rds", rc->str, rds);
                YamlNode *sr = yaml_map_get_field(node, "scoped_routes");
                YamlNode *srds = sr ? yaml_map_get_field(sr, "scoped_rds") : NULL;
                if (srds && srds->kind == YAML_KIND_MAP)
                        wire_source(w, srds, "scoped_rds_config_source", "srds", "srds", srds);
        } else if (streq(name, "envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig")) {
                const YamlNode *n = yaml_map_get_field(node, "name");
                if (n && n->kind == YAML_KIND_STRING && n->n > 0)
                        wire_source(w, node, "sds_config", "sds", n->str, node);
                return;
        }
        for (uint32_t i = 0; i < node->n; i++) {
                const YamlNode *k = node->items[2 * i];
                YamlNode *v = node->items[2 * i + 1];
                if (!yaml_is_scalar(k))
                        continue;
                const SchemaField *f = schema_field_by_name(m, k->str, k->n);
                if (!f || f->type != SCHEMA_TYPE_MESSAGE)
                        continue;
                if (f->message->map_entry) {
                        const SchemaField *vf = &f->message->fields[1];
                        if (vf->type == SCHEMA_TYPE_MESSAGE && v->kind == YAML_KIND_MAP)
                                for (uint32_t j = 0; j < v->n; j++)
                                        wire_message(w, vf->message, v->items[2 * j + 1]);
                        continue;
                }
                wire_value(w, f->message, v);
        }
}

static bool rewrite_resource(void *userdata, YamlArena *arena, ResourceType type, YamlNode *resource,
                             const char *file, DiagList *diags) {
        Wiring *w = userdata;
        w->arena = arena;
        w->file = file;
        w->diags = diags;
        w->wired = false;
        if (type == RESOURCE_VIRTUAL_HOST) {
                /* "<route_config>/<vhost>" becomes virtual host "<vhost>" */
                YamlNode *name = yaml_map_get_field(resource, "name");
                const char *slash = name ? strchr(name->str, '/') : NULL;
                if (slash && slash[1])
                        yaml_map_set(arena, resource, "name", yaml_new_scalar(arena, YAML_KIND_STRING, slash + 1, name));
        }
        const SchemaMessage *m = schema_message(w->schema, resource_type_to_message(type));
        if (m)
                wire_message(w, m, resource);
        return w->wired;
}

/* ---- the source cache ---- */

typedef struct CachedFile {
        char *path;     /* source_dir/rel */
        const char *rel; /* points into path */
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime, ctime;
        char sha256[65];
        ResourceList resources;
        DiagList diags;
        uint32_t index; /* position in the sorted file list, for source order */
        bool seen;
        bool changed; /* by the last refresh */
} CachedFile;

/* Every resource of the tree with a given type and name, wherever it is:
 * the candidates among which a node's build picks one. */
typedef struct Candidate {
        CachedFile *file;
        uint32_t index; /* in file->resources */
} Candidate;

typedef struct KeyEntry {
        char *key; /* resource_key() */
        size_t key_len;
        Candidate *items;
        size_t n, cap;
} KeyEntry;

/* Keys whose candidates changed in the last refresh, for one scope
 * (common/ or one nodes/<id>/). */
typedef struct ScopeChanges {
        char *scope; /* NULL: common/ */
        char **keys;
        size_t n;
        Hashmap seen;
} ScopeChanges;

/* Refreshes in which a scope last changed and changed before that. */
typedef struct ScopeSeq {
        uint64_t last, prev;
} ScopeSeq;

struct SourceCache {
        const Schema *schema;
        PublishMode mode;
        Hashmap by_rel;
        CachedFile **files; /* sorted by rel after a refresh */
        size_t n_files;
        Hashmap keys;            /* resource_key() -> KeyEntry */
        size_t n_virtual_hosts;  /* standalone VirtualHosts in the tree */
        uint64_t seq;            /* refreshes so far */
        ScopeChanges common;     /* changes of the last refresh in common/ */
        Hashmap node_changes;    /* id -> ScopeChanges, the last refresh's in nodes/<id>/ */
        ScopeSeq common_seq;
        Hashmap node_seqs;       /* id -> ScopeSeq (key owned by node_seq_keys) */
        char **node_seq_keys;
        size_t n_node_seq_keys;
        char **nodes;       /* NULL-terminated, from nodes/<id>/ */
};

/* "<type digit><name>": one key space for all types. */
static char *resource_key(ResourceType t, const char *name, size_t *ret_len) {
        char *k = xasprintf("%c%s", '0' + (int) t, name);
        *ret_len = strlen(k);
        return k;
}

int source_cache_new(const Schema *schema, PublishMode mode, SourceCache **ret) {
        SourceCache *c = xcalloc(1, sizeof(SourceCache));
        c->schema = schema;
        c->mode = mode;
        c->nodes = xcalloc(1, sizeof(char *));
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
        free(c);
        return NULL;
}

const char *const *source_cache_nodes(const SourceCache *c) {
        return (const char *const *) c->nodes;
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
                _cleanup_free_ char *key = resource_key(r->type, r->name, &kl);
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
        CompileHooks hooks = { .rewrite = rewrite_resource, .userdata = &w };
        CompileResult cr = {};
        DiagList diags = {};
        int r = compile_file(c->schema, f->path, &hooks, &diags, &cr);
        if (r < 0 && r != -EBADMSG) {
                diag_add(&diags, DIAG_ERROR, f->path, 0, 0, NULL, "cannot read: %s", strerror(-r));
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

static int list_node_dirs(const char *source_dir, char ***ret) {
        _cleanup_free_ char *nodes_dir = xasprintf("%s/nodes", source_dir);
        StrList l = {};
        DIR *d = opendir(nodes_dir);
        if (d) {
                struct dirent *de;
                while ((de = readdir(d))) {
                        if (!node_id_is_valid(de->d_name))
                                continue;
                        _cleanup_free_ char *p = xasprintf("%s/%s", nodes_dir, de->d_name);
                        struct stat st;
                        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
                                strlist_add(&l, xstrdup(de->d_name));
                }
                closedir(d);
        } else if (errno != ENOENT)
                return -errno;
        if (!l.items)
                l.items = xcalloc(1, sizeof(char *));
        else
                qsort(l.items, l.n, sizeof(char *), cmp_str);
        *ret = l.items;
        return 0;
}

int source_cache_refresh(SourceCache *c, const char *source_dir, const char *only_node) {
        clear_changes(c);
        c->seq++;
        for (size_t i = 0; i < c->n_files; i++)
                c->files[i]->seen = c->files[i]->changed = false;
        size_t rel_offset = strlen(source_dir) + 1;
        char **nodes = NULL;
        int r = list_node_dirs(source_dir, &nodes);
        if (r < 0)
                return r;
        free_strv(c->nodes);
        c->nodes = nodes;
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

/* Whether the build recorded at seq still holds for node_id but for the
 * keys changed by the last refresh: neither its scope nor common/ changed
 * in a refresh between. */
static bool node_build_current(const SourceCache *c, const char *node_id, uint64_t seq) {
        const ScopeSeq *s[2] = { &c->common_seq, hashmap_get(&c->node_seqs, node_id, strlen(node_id)) };
        for (size_t i = 0; i < 2; i++)
                if (s[i] && (s[i]->last == c->seq ? s[i]->prev : s[i]->last) > seq)
                        return false;
        return seq > 0 && seq <= c->seq;
}

/* ---- a node's build: merging and splitting ---- */

typedef struct Entry {
        const Resource *r;
        bool from_node;
        uint64_t order; /* source order (file index, resource index), for a stable sort */
} Entry;

static int cmp_entry(const void *a, const void *b) {
        const Entry *x = a, *y = b;
        if (x->r->type != y->r->type)
                return x->r->type < y->r->type ? -1 : 1;
        return strcmp(x->r->name, y->r->name);
}

static int cmp_entry_stable(const void *a, const void *b) {
        int c = cmp_entry(a, b);
        if (c != 0)
                return c;
        const Entry *x = a, *y = b;
        return x->order < y->order ? -1 : x->order > y->order;
}

/* The value (field 2) of a serialized Any. */
static bool any_value(const uint8_t *any, size_t len, const uint8_t **ret, size_t *ret_len) {
        WireReader rd = { any, any + len };
        WireField f;
        while (wire_next(&rd, &f))
                if (f.number == 2 && f.wire_type == WIRE_LEN) {
                        *ret = f.data;
                        *ret_len = f.len;
                        return true;
                }
        return false;
}

/* Inserts virtual hosts (field 2 of RouteConfiguration) after the existing
 * ones, keeping fields in number order. */
static void splice_virtual_hosts(const uint8_t *any, size_t any_len, Resource *const *vhs, size_t n_vhs, Buf *out) {
        const uint8_t *rcv;
        size_t rcl;
        if (!any_value(any, any_len, &rcv, &rcl))
                return;
        Buf body = {};
        WireReader rd = { rcv, rcv + rcl };
        WireField f;
        bool inserted = false;
        for (;;) {
                bool more = wire_next(&rd, &f);
                if (!inserted && (!more || f.number > 2)) {
                        for (size_t i = 0; i < n_vhs; i++) {
                                const uint8_t *v;
                                size_t vl;
                                if (any_value(vhs[i]->any, vhs[i]->any_len, &v, &vl))
                                        wire_put_bytes(&body, 2, v, vl);
                        }
                        inserted = true;
                }
                if (!more)
                        break;
                buf_append(&body, f.start, (size_t) (f.end - f.start));
        }
        const char *url = resource_type_to_url(RESOURCE_ROUTE_CONFIGURATION);
        wire_put_bytes(out, 1, url, strlen(url));
        wire_put_bytes(out, 2, body.data, body.len);
        buf_free(&body);
}

/* Copies a message replacing the node-directory marker in path strings. */
static void substitute_marker(const uint8_t *p, size_t n, const char *dir, Buf *out) {
        static const char marker[] = NODE_DIR_MARKER;
        const size_t ml = sizeof marker - 1;
        WireReader rd = { p, p + n };
        WireField f;
        while (wire_next(&rd, &f)) {
                if (f.wire_type != WIRE_LEN || f.len < ml || !memmem(f.data, f.len, marker, ml)) {
                        buf_append(out, f.start, (size_t) (f.end - f.start));
                        continue;
                }
                wire_put_tag(out, f.number, WIRE_LEN);
                if (memcmp(f.data, marker, ml) == 0) {
                        size_t dl = strlen(dir);
                        wire_put_varint(out, dl + f.len - ml);
                        buf_append(out, dir, dl);
                        buf_append(out, f.data + ml, f.len - ml);
                } else {
                        Buf inner = {};
                        substitute_marker(f.data, f.len, dir, &inner);
                        wire_put_varint(out, inner.len);
                        buf_append(out, inner.data, inner.len);
                        buf_free(&inner);
                }
        }
}

static void add_file(NodeOutput *o, ResourceType t, const char *dir, const char *fname, Resource *const *items, size_t n) {
        o->files = xrealloc(o->files, (o->n + 1) * sizeof(NodeFile));
        NodeFile *f = &o->files[o->n++];
        *f = (NodeFile) { .path = xasprintf("%s/%s", dir, fname), .type = t, .n_resources = n };
        resources_version(items, n, f->version);
        Buf b = {};
        resources_response(items, n, f->version, resource_type_to_url(t), &b);
        f->data = b.data;
        f->len = b.len;
        sha256_hex(f->data, f->len, f->sha256);
}

/* A one-resource file whose bytes do not depend on the node: made once
 * per cached resource and shared (borrowed) by every node's output. */
static void add_shared_file(NodeOutput *o, ResourceType t, const char *dir, const char *fname, Resource *cached) {
        resource_make_own_file(cached);
        const ResourceFile *rf = cached->own_file;
        o->files = xrealloc(o->files, (o->n + 1) * sizeof(NodeFile));
        NodeFile *f = &o->files[o->n++];
        *f = (NodeFile) { .path = xasprintf("%s/%s", dir, fname), .type = t, .n_resources = 1,
                          .data = rf->data, .len = rf->len, .borrowed = true };
        memcpy(f->version, rf->version, sizeof f->version);
        memcpy(f->sha256, rf->sha256, sizeof f->sha256);
}

void node_output_own(NodeOutput *o) {
        for (size_t i = 0; i < o->n; i++)
                if (o->files[i].borrowed) {
                        uint8_t *copy = xmalloc(MAX(o->files[i].len, 1));
                        memcpy(copy, o->files[i].data, o->files[i].len);
                        o->files[i].data = copy;
                        o->files[i].borrowed = false;
                }
}

static int cmp_node_file(const void *a, const void *b) {
        return strcmp(((const NodeFile *) a)->path, ((const NodeFile *) b)->path);
}

static bool file_in_node(const CachedFile *f, const char *node_id, bool *ret_from_node) {
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

/* Whether the node has a candidate for key (resource_key()). */
static bool node_has_key(const SourceCache *c, const char *node_id, const char *key, size_t key_len) {
        const KeyEntry *ke = hashmap_get(&c->keys, key, key_len);
        for (size_t i = 0; ke && i < ke->n; i++) {
                bool from_node;
                if (file_in_node(ke->items[i].file, node_id, &from_node))
                        return true;
        }
        return false;
}

typedef struct NodeScope {
        const SourceCache *cache;
        const char *node_id;
} NodeScope;

static bool node_scope_has(void *userdata, ResourceType t, const char *name) {
        const NodeScope *n = userdata;
        size_t kl;
        _cleanup_free_ char *key = resource_key(t, name, &kl);
        return node_has_key(n->cache, n->node_id, key, kl);
}

/* Merges entries (reordered here) into the node's files, of every type or
 * only those set in want: the node's resource replaces common's of the same
 * type and name, VirtualHosts are spliced into their RouteConfiguration,
 * the node's directory is substituted into wired config sources. Files are
 * appended to out, sorted by path; errors go to diags. */
static void merge_split(const NodeScope *scope, Entry *entries, size_t n, const BuildOptions *opts, const bool *want,
                        bool graph, DiagList *diags, NodeOutput *out) {
        /* stable: equal (type, name) keep file order, so duplicates report
         * the later one against the first */
        if (n > 1)
                qsort(entries, n, sizeof(Entry), cmp_entry_stable);
        size_t errors_before = diags->n_errors;
        /* the node's resource replaces common's of the same type and name */
        const Resource **live = xcalloc(MAX(n, 1), sizeof(Resource *));
        size_t n_live = 0;
        for (size_t i = 0; i < n;) {
                size_t j = i + 1;
                while (j < n && cmp_entry(&entries[i], &entries[j]) == 0)
                        j++;
                const Entry *winner = NULL;
                for (size_t k = i; k < j; k++) {
                        const Entry *e = &entries[k];
                        if (!winner || (e->from_node && !winner->from_node)) {
                                winner = e;
                                continue;
                        }
                        if (e->from_node == winner->from_node)
                                diag_add(diags, DIAG_ERROR, e->r->file, e->r->line, e->r->column, NULL,
                                         "duplicate %s \"%s\" (also defined at %s:%u:%u)", resource_type_to_string(e->r->type),
                                         e->r->name, winner->r->file, winner->r->line, winner->r->column);
                }
                live[n_live++] = winner->r;
                i = j;
        }
        if (graph && diags->n_errors == errors_before)
                graph_check(live, n_live, node_scope_has, (void *) scope, scope->node_id, !want, diags);

        /* final resources: VirtualHosts spliced into their RouteConfiguration,
         * the node's directory substituted into wired config sources */
        Resource *final = xcalloc(MAX(n_live, 1), sizeof(Resource));
        bool *owned = xcalloc(MAX(n_live, 1), sizeof(bool)); /* final[i].any is ours to free */
        /* the cached resource final[i] is byte for byte, when it is */
        const Resource **origin = xcalloc(MAX(n_live, 1), sizeof(Resource *));
        size_t n_final = 0;
        for (size_t i = 0; i < n_live; i++) {
                const Resource *r = live[i];
                if (r->type == RESOURCE_VIRTUAL_HOST) {
                        const char *slash = strchr(r->name, '/');
                        bool found = false;
                        for (size_t k = 0; slash && k < n_live && !found; k++)
                                found = live[k]->type == RESOURCE_ROUTE_CONFIGURATION &&
                                        strlen(live[k]->name) == (size_t) (slash - r->name) &&
                                        strncmp(live[k]->name, r->name, (size_t) (slash - r->name)) == 0;
                        if (!slash || !slash[1])
                                diag_add(diags, DIAG_ERROR, r->file, r->line, r->column, NULL,
                                         "a standalone VirtualHost is named \"<route_config>/<virtual_host>\", not \"%s\"", r->name);
                        else if (!found)
                                diag_add(diags, DIAG_ERROR, r->file, r->line, r->column, NULL,
                                         "VirtualHost \"%s\": no RouteConfiguration \"%.*s\" to merge it into", r->name,
                                         (int) (slash - r->name), r->name);
                        continue;
                }
                Resource *f = &final[n_final++];
                *f = (Resource) { .type = r->type, .name = r->name };
                Buf b = {};
                const uint8_t *any = r->any;
                size_t any_len = r->any_len;
                bool vhs_wired = false;
                if (r->type == RESOURCE_ROUTE_CONFIGURATION) {
                        Resource **vhs = NULL;
                        size_t n_vhs = 0;
                        size_t nl = strlen(r->name);
                        for (size_t k = 0; k < n_live; k++)
                                if (live[k]->type == RESOURCE_VIRTUAL_HOST && strncmp(live[k]->name, r->name, nl) == 0 &&
                                    live[k]->name[nl] == '/' && live[k]->name[nl + 1]) {
                                        vhs = xrealloc(vhs, (n_vhs + 1) * sizeof(Resource *));
                                        vhs[n_vhs++] = (Resource *) live[k];
                                        vhs_wired = vhs_wired || live[k]->wired;
                                }
                        if (n_vhs > 0) {
                                splice_virtual_hosts(any, any_len, vhs, n_vhs, &b);
                                any = b.data;
                                any_len = b.len;
                        }
                        free(vhs);
                }
                if (r->wired || vhs_wired) {
                        Buf s = {};
                        substitute_marker(any, any_len, opts->output_dir, &s);
                        buf_free(&b);
                        b = s;
                        any = b.data;
                        any_len = b.len;
                }
                owned[n_final - 1] = b.data != NULL;
                origin[n_final - 1] = b.data ? NULL : r;
                f->any = b.data ? b.data : (uint8_t *) any;
                f->any_len = any_len;
        }
        free(live);

        for (ResourceType t = 0; t < _RESOURCE_TYPE_MAX && diags->n_errors == errors_before; t++) {
                if (!resource_type_dir(t) || (want && !want[t]))
                        continue;
                Resource **of_type = xcalloc(MAX(n_final, 1), sizeof(Resource *));
                size_t k = 0;
                for (size_t i = 0; i < n_final; i++)
                        if (final[i].type == t)
                                of_type[k++] = &final[i];
                if (resource_type_is_sotw(t)) {
                        /* lds and cds always exist: an Envoy's bootstrap names them */
                        if (k > 0 || t == RESOURCE_LISTENER || t == RESOURCE_CLUSTER) {
                                _cleanup_free_ char *fname = xasprintf("%s.pb", resource_type_dir(t));
                                add_file(out, t, resource_type_dir(t), fname, of_type, k);
                        }
                } else
                        for (size_t i = 0; i < k; i++) {
                                _cleanup_free_ char *fname = layout_file_name(of_type[i]->name);
                                if (!fname) {
                                        diag_add(diags, DIAG_ERROR, NULL, 0, 0, NULL, "%s name \"%s\" is too long for a file name",
                                                 resource_type_to_string(t), of_type[i]->name);
                                        continue;
                                }
                                const Resource *cached = origin[of_type[i] - final];
                                if (cached)
                                        add_shared_file(out, t, resource_type_dir(t), fname, (Resource *) cached);
                                else
                                        add_file(out, t, resource_type_dir(t), fname, &of_type[i], 1);
                        }
                free(of_type);
        }
        if (out->n > 1)
                qsort(out->files, out->n, sizeof(NodeFile), cmp_node_file);
        for (size_t i = 0; i < n_final; i++)
                if (owned[i])
                        free(final[i].any);
        free(owned);
        free(origin);
        free(final);
}

static bool check_node_id(const char *node_id, DiagList *diags) {
        if (node_id_is_valid(node_id))
                return true;
        diag_add(diags, DIAG_ERROR, NULL, 0, 0, NULL,
                 "invalid node id \"%s\" (1 to 128 of A-Z a-z 0-9 . _ -, not starting with '.')", node_id);
        return false;
}

static uint64_t entry_order(const CachedFile *f, size_t k) {
        return ((uint64_t) f->index << 32) | k;
}

/* The diagnostics of the node's source files (notes only when asked). */
static void copy_file_diags(const SourceCache *c, const char *node_id, const BuildOptions *opts, DiagList *diags) {
        for (size_t i = 0; i < c->n_files; i++) {
                bool from_node;
                if (file_in_node(c->files[i], node_id, &from_node))
                        diag_list_append_copy(diags, &c->files[i]->diags, opts->skip_notes ? DIAG_WARNING : DIAG_NOTE);
        }
}

int build_node_from_cache(const SourceCache *c, const char *node_id, const BuildOptions *opts, DiagList *diags,
                          NodeOutput *ret) {
        assert(opts->output_dir && opts->output_dir[0] == '/');
        if (!check_node_id(node_id, diags))
                return -EBADMSG;
        size_t errors_before = diags->n_errors;
        copy_file_diags(c, node_id, opts, diags);
        size_t n = 0;
        for (size_t i = 0; i < c->n_files; i++) {
                bool from_node;
                if (file_in_node(c->files[i], node_id, &from_node))
                        n += c->files[i]->resources.n;
        }
        Entry *entries = xcalloc(MAX(n, 1), sizeof(Entry));
        n = 0;
        for (size_t i = 0; i < c->n_files; i++) {
                bool from_node;
                if (!file_in_node(c->files[i], node_id, &from_node))
                        continue;
                for (size_t k = 0; k < c->files[i]->resources.n; k++)
                        entries[n++] = (Entry) { &c->files[i]->resources.items[k], from_node, entry_order(c->files[i], k) };
        }
        NodeOutput out = {};
        bool clean = diags->n_errors == errors_before;
        if (clean || opts->merge_despite_errors)
                merge_split(&(NodeScope) { c, node_id }, entries, n, opts, NULL, clean, diags, &out);
        free(entries);
        if (diags->n_errors > errors_before) {
                node_output_done(&out);
                return -EBADMSG;
        }
        *ret = out;
        return 0;
}

static void entries_add(Entry **entries, size_t *n, size_t *cap, const CachedFile *f, size_t k, bool from_node) {
        if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 16;
                *entries = xrealloc(*entries, *cap * sizeof(Entry));
        }
        (*entries)[(*n)++] = (Entry) { &f->resources.items[k], from_node, entry_order(f, k) };
}

/* The path of the file that holds resource (t, name) in a node directory;
 * NULL for a name too long. */
static char *file_path_of(ResourceType t, const char *name) {
        return layout_file_path(t, name);
}

int build_node_update(const SourceCache *c, const char *node_id, const BuildOptions *opts, NodeOutput *prev,
                      uint64_t prev_seq, DiagList *diags, NodeOutput *ret, NodeOutput *ret_before) {
        assert(opts->output_dir && opts->output_dir[0] == '/');
        NodeOutput old = *prev;
        *prev = (NodeOutput) {};
        /* VirtualHosts tie a RouteConfiguration's file to other keys: those
         * trees are built whole */
        if (old.n == 0 || c->n_virtual_hosts > 0 || !node_id_is_valid(node_id) ||
            !node_build_current(c, node_id, prev_seq)) {
                *ret_before = old;
                return build_node_from_cache(c, node_id, opts, diags, ret);
        }
        /* the keys changed in common/ and nodes/<id>/ by the last refresh;
         * a VirtualHost's RouteConfiguration with it */
        const ScopeChanges *scopes[2] = { &c->common, hashmap_get(&c->node_changes, node_id, strlen(node_id)) };
        StrList keys = {};
        bool removed = false;
        for (size_t s = 0; s < 2; s++)
                for (size_t i = 0; scopes[s] && i < scopes[s]->n; i++) {
                        const char *key = scopes[s]->keys[i];
                        strlist_add(&keys, xstrdup(key));
                        const char *slash = key[0] - '0' == RESOURCE_VIRTUAL_HOST ? strchr(key, '/') : NULL;
                        if (slash)
                                strlist_add(&keys, xasprintf("%c%.*s", '0' + RESOURCE_ROUTE_CONFIGURATION,
                                                             (int) (slash - key - 1), key + 1));
                        /* a resource gone may leave names pointing nowhere in
                         * files that stay: the graph is checked whole */
                        removed = removed || !node_has_key(c, node_id, key, strlen(key));
                }
        if (removed) {
                strlist_free(&keys);
                *ret_before = old;
                return build_node_from_cache(c, node_id, opts, diags, ret);
        }
        size_t errors_before = diags->n_errors;
        copy_file_diags(c, node_id, opts, diags);
        if (diags->n_errors > errors_before) {
                strlist_free(&keys);
                *ret_before = old;
                return -EBADMSG;
        }
        bool sotw_dirty[_RESOURCE_TYPE_MAX] = {}, want[_RESOURCE_TYPE_MAX] = {};
        Hashmap seen = {};
        StrList paths = {};
        Entry *entries = NULL;
        size_t n = 0, cap = 0;
        for (size_t i = 0; i < keys.n; i++) {
                const char *key = keys.items[i];
                size_t kl = strlen(key);
                ResourceType t = (ResourceType) (key[0] - '0');
                if (hashmap_put(&seen, key, kl, (void *) key) || !resource_type_dir(t))
                        continue;
                want[t] = true;
                if (resource_type_is_sotw(t)) {
                        sotw_dirty[t] = true;
                        continue;
                }
                char *path = file_path_of(t, key + 1);
                if (path)
                        strlist_add(&paths, path);
                const KeyEntry *ke = hashmap_get(&c->keys, key, kl);
                for (size_t k = 0; ke && k < ke->n; k++) {
                        bool from_node;
                        if (!file_in_node(ke->items[k].file, node_id, &from_node))
                                continue;
                        entries_add(&entries, &n, &cap, ke->items[k].file, ke->items[k].index, from_node);
                }
        }
        /* a state-of-the-world file is made again from every resource of its type */
        for (ResourceType t = 0; t < _RESOURCE_TYPE_MAX; t++) {
                if (!sotw_dirty[t])
                        continue;
                strlist_add(&paths, file_path_of(t, NULL));
                for (size_t i = 0; i < c->n_files; i++) {
                        bool from_node;
                        const CachedFile *f = c->files[i];
                        if (!file_in_node(f, node_id, &from_node))
                                continue;
                        for (size_t k = 0; k < f->resources.n; k++) {
                                if (f->resources.items[k].type != t)
                                        continue;
                                entries_add(&entries, &n, &cap, f, k, from_node);
                        }
                }
        }
        NodeOutput fresh = {};
        merge_split(&(NodeScope) { c, node_id }, entries, n, opts, want, true, diags, &fresh);
        free(entries);
        hashmap_free(&seen);
        strlist_free(&keys);
        int r = 0;
        if (diags->n_errors > errors_before) {
                node_output_done(&fresh);
                *ret_before = old;
                r = -EBADMSG;
                goto finish;
        }
        /* the old files but the remade ones (which go to ret_before), merged
         * with the remade ones (all sorted) */
        NodeOutput out = { .files = xcalloc(old.n + fresh.n + 1, sizeof(NodeFile)) };
        NodeOutput before = { .files = xcalloc(old.n + 1, sizeof(NodeFile)) };
        if (paths.n > 1)
                qsort(paths.items, paths.n, sizeof(char *), cmp_str);
        size_t i = 0, j = 0, k = 0;
        while (i < old.n || j < fresh.n) {
                NodeFile *o = i < old.n ? &old.files[i] : NULL;
                while (o && k < paths.n && strcmp(paths.items[k], o->path) < 0)
                        k++;
                if (o && k < paths.n && streq(paths.items[k], o->path)) {
                        before.files[before.n++] = *o;
                        i++;
                        continue;
                }
                if (!o || (j < fresh.n && strcmp(fresh.files[j].path, o->path) < 0))
                        out.files[out.n++] = fresh.files[j++];
                else {
                        out.files[out.n] = *o;
                        out.files[out.n++].reused = true;
                        i++;
                }
        }
        free(old.files);
        free(fresh.files);
        *ret = out;
        *ret_before = before;
finish:
        strlist_free(&paths);
        return r;
}

int build_node(const Schema *schema, const char *source_dir, const char *node_id, const BuildOptions *opts,
               DiagList *diags, NodeOutput *ret) {
        if (!node_id_is_valid(node_id)) {
                diag_add(diags, DIAG_ERROR, NULL, 0, 0, NULL,
                         "invalid node id \"%s\" (1 to 128 of A-Z a-z 0-9 . _ -, not starting with '.')", node_id);
                return -EBADMSG;
        }
        _cleanup_(source_cache_freep) SourceCache *c = NULL;
        source_cache_new(schema, opts->mode, &c);
        int r = source_cache_refresh(c, source_dir, node_id);
        if (r < 0) {
                diag_add(diags, DIAG_ERROR, source_dir, 0, 0, NULL, "cannot read the source tree: %s", strerror(-r));
                return r;
        }
        r = build_node_from_cache(c, node_id, opts, diags, ret);
        if (r >= 0)
                node_output_own(ret); /* the cache goes away with this function */
        return r;
}

size_t source_cache_listener_addresses(const SourceCache *c, const char *node_id, ListenerAddress **ret) {
        ListenerAddress *a = NULL;
        size_t n = 0;
        for (size_t i = 0; i < c->n_files; i++) {
                bool from_node;
                const CachedFile *f = c->files[i];
                if (!file_in_node(f, node_id, &from_node))
                        continue;
                for (size_t k = 0; k < f->resources.n; k++) {
                        const Resource *r = &f->resources.items[k];
                        if (r->type != RESOURCE_LISTENER || !r->facts.address)
                                continue;
                        if (!from_node) {
                                /* common's listener unless the node has its own of that name */
                                size_t kl;
                                _cleanup_free_ char *key = resource_key(r->type, r->name, &kl);
                                const KeyEntry *ke = hashmap_get(&c->keys, key, kl);
                                bool replaced = false;
                                for (size_t j = 0; ke && j < ke->n && !replaced; j++) {
                                        bool fn;
                                        replaced = file_in_node(ke->items[j].file, node_id, &fn) && fn;
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
