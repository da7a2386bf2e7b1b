/* SPDX-License-Identifier: MIT */
/* A node's build from the source cache: merge common/ and nodes/<id>/ (the
 * node wins by type and name), merge standalone VirtualHosts into their
 * RouteConfiguration, substitute the node's directory into wired config
 * sources, and split the result into the per-type files Envoy's path
 * subscriptions read; whole, or as an update of the node's previous build. */
#include <assert.h>

#include "graph.h"
#include "memo.h"
#include "sha256.h"
#include "sources.h"
#include "wire.h"
#include "wiring.h"

void node_output_done(NodeOutput *o) {
        for (size_t i = 0; i < o->n; i++) {
                free(o->files[i].path);
                if (!o->files[i].borrowed)
                        free(o->files[i].data);
        }
        free(o->files);
        *o = (NodeOutput) {};
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
static void splice_virtual_hosts(const uint8_t *any, size_t any_len, const Resource *const *vhs, size_t n_vhs,
                                 Buf *out) {
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
 * per cached resource, when the source cache compiled it, and shared
 * (borrowed) by every node's output. */
static void add_shared_file(NodeOutput *o, ResourceType t, const char *dir, const char *fname, const Resource *cached) {
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

/* Whether the node has a candidate for key (source_cache_key()). */
static bool node_has_key(const SourceCache *c, const char *node_id, const char *key, size_t key_len) {
        const KeyEntry *ke = hashmap_get(&c->keys, key, key_len);
        for (size_t i = 0; ke && i < ke->n; i++) {
                bool from_node;
                if (cached_file_in_node(ke->items[i].file, node_id, &from_node))
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
        _cleanup_free_ char *key = source_cache_key(t, name, &kl);
        return node_has_key(n->cache, n->node_id, key, kl);
}

/* Every name of type t the node has (a "did you mean" for a missing one). */
static void node_scope_names(void *userdata, ResourceType t, void (*add)(void *ctx, const char *name), void *ctx) {
        const NodeScope *n = userdata;
        const Hashmap *keys = &n->cache->keys;
        size_t pl;
        _cleanup_free_ char *prefix = source_cache_key(t, "", &pl);
        for (size_t i = 0; i < keys->cap; i++) {
                const HashmapEntry *e = &keys->entries[i];
                if (e->key && e->key_len >= pl && memcmp(e->key, prefix, pl) == 0 &&
                    node_has_key(n->cache, n->node_id, e->key, e->key_len))
                        add(ctx, e->key + pl);
        }
}

/* Merges entries (reordered here) into the node's files, of every type or
 * only those set in want: the node's resource replaces common's of the same
 * type and name, VirtualHosts are spliced into their RouteConfiguration,
 * the node's directory is substituted into wired config sources. Files are
 * appended to out, sorted by path; errors go to diags. */
static void merge_split(NodeScope *scope, Entry *entries, size_t n, const BuildOptions *opts, const bool *want,
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
        bool check_graph = graph && !opts->skip_graph && diags->n_errors == errors_before;
        if (check_graph)
                graph_check(live, n_live, node_scope_has, node_scope_names, scope, scope->node_id, !want, diags);
        if (opts->graph_checked)
                *opts->graph_checked = check_graph;

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
                uint8_t *any = r->any;
                size_t any_len = r->any_len;
                bool vhs_wired = false;
                if (r->type == RESOURCE_ROUTE_CONFIGURATION) {
                        const Resource **vhs = NULL;
                        size_t n_vhs = 0;
                        size_t nl = strlen(r->name);
                        for (size_t k = 0; k < n_live; k++)
                                if (live[k]->type == RESOURCE_VIRTUAL_HOST && strncmp(live[k]->name, r->name, nl) == 0 &&
                                    live[k]->name[nl] == '/' && live[k]->name[nl + 1]) {
                                        vhs = xrealloc(vhs, (n_vhs + 1) * sizeof(Resource *));
                                        vhs[n_vhs++] = live[k];
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
                        wiring_substitute_node_dir(any, any_len, opts->output_dir, &s);
                        buf_free(&b);
                        b = s;
                        any = b.data;
                        any_len = b.len;
                }
                owned[n_final - 1] = b.data != NULL;
                origin[n_final - 1] = b.data ? NULL : r;
                f->any = any;
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
                                /* the cache made the own file of every unwired
                                 * resource that has one */
                                if (cached && cached->own_file)
                                        add_shared_file(out, t, resource_type_dir(t), fname, cached);
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
                if (cached_file_in_node(c->files[i], node_id, &from_node))
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
                if (cached_file_in_node(c->files[i], node_id, &from_node))
                        n += c->files[i]->resources.n;
        }
        Entry *entries = xcalloc(MAX(n, 1), sizeof(Entry));
        n = 0;
        for (size_t i = 0; i < c->n_files; i++) {
                bool from_node;
                if (!cached_file_in_node(c->files[i], node_id, &from_node))
                        continue;
                for (size_t k = 0; k < c->files[i]->resources.n; k++)
                        entries[n++] = (Entry) { &c->files[i]->resources.items[k], from_node, entry_order(c->files[i], k) };
        }
        NodeOutput out = {};
        bool clean = diags->n_errors == errors_before;
        if (opts->graph_checked)
                *opts->graph_checked = false;
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


int build_node_update(const SourceCache *c, const char *node_id, const BuildOptions *opts, const NodeMemo *prev,
                      uint64_t prev_seq, DiagList *diags, NodeOutput *ret, char ***ret_touched, size_t *ret_n_touched) {
        assert(opts->output_dir && opts->output_dir[0] == '/');
        *ret_touched = NULL;
        *ret_n_touched = 0;
        /* VirtualHosts tie a RouteConfiguration's file to other keys: those
         * trees are built whole */
        if (!prev || prev->n == 0 || c->n_virtual_hosts > 0 || !node_id_is_valid(node_id) ||
            !source_cache_build_current(c, node_id, prev_seq))
                return build_node_from_cache(c, node_id, opts, diags, ret);
        /* the keys changed in common/ and nodes/<id>/ by the last refresh;
         * a VirtualHost's RouteConfiguration with it */
        const ScopeChanges *scopes[2] = { &c->common, hashmap_get(&c->node_changes, node_id, strlen(node_id)) };
        StrList keys = {};
        for (size_t s = 0; s < 2; s++)
                for (size_t i = 0; scopes[s] && i < scopes[s]->n; i++) {
                        const char *key = scopes[s]->keys[i];
                        strlist_add(&keys, xstrdup(key));
                        const char *slash = key[0] - '0' == RESOURCE_VIRTUAL_HOST ? strchr(key, '/') : NULL;
                        if (slash)
                                strlist_add(&keys, xasprintf("%c%.*s", '0' + RESOURCE_ROUTE_CONFIGURATION,
                                                             (int) (slash - key - 1), key + 1));
                }
        /* a resource gone may leave names pointing nowhere in files that
         * stay: the resources that name it (the cache's index of
         * references) are merged and checked again with the changed ones */
        for (size_t i = 0, n_changed = keys.n; i < n_changed; i++) {
                const char *key = keys.items[i];
                size_t kl = strlen(key);
                if (node_has_key(c, node_id, key, kl))
                        continue;
                const KeyEntry *re = hashmap_get(&c->refs, key, kl);
                for (size_t k = 0; re && k < re->n; k++) {
                        bool from_node;
                        if (!cached_file_in_node(re->items[k].file, node_id, &from_node))
                                continue;
                        const Resource *r = &re->items[k].file->resources.items[re->items[k].index];
                        size_t rl;
                        strlist_add(&keys, source_cache_key(r->type, r->name, &rl));
                }
        }
        size_t errors_before = diags->n_errors;
        copy_file_diags(c, node_id, opts, diags);
        if (diags->n_errors > errors_before) {
                strlist_free(&keys);
                return -EBADMSG;
        }
        bool sotw_dirty[_RESOURCE_TYPE_MAX] = {}, want[_RESOURCE_TYPE_MAX] = {};
        Hashmap seen = {};
        StrList paths = {};
        Entry *entries = NULL;
        size_t n = 0, cap = 0;
        for (size_t i = 0; i < keys.n; i++) {
                char *key = keys.items[i];
                size_t kl = strlen(key);
                ResourceType t = (ResourceType) (key[0] - '0');
                if (hashmap_put(&seen, key, kl, key) || !resource_type_dir(t))
                        continue;
                want[t] = true;
                if (resource_type_is_sotw(t)) {
                        sotw_dirty[t] = true;
                        continue;
                }
                char *path = layout_file_path(t, key + 1);
                if (path)
                        strlist_add(&paths, path);
                const KeyEntry *ke = hashmap_get(&c->keys, key, kl);
                for (size_t k = 0; ke && k < ke->n; k++) {
                        bool from_node;
                        if (!cached_file_in_node(ke->items[k].file, node_id, &from_node))
                                continue;
                        entries_add(&entries, &n, &cap, ke->items[k].file, ke->items[k].index, from_node);
                }
        }
        /* a state-of-the-world file is made again from every resource of its type */
        for (ResourceType t = 0; t < _RESOURCE_TYPE_MAX; t++) {
                if (!sotw_dirty[t])
                        continue;
                strlist_add(&paths, layout_file_path(t, NULL));
                for (size_t i = 0; i < c->n_files; i++) {
                        bool from_node;
                        const CachedFile *f = c->files[i];
                        if (!cached_file_in_node(f, node_id, &from_node))
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
        if (diags->n_errors > errors_before) {
                node_output_done(&fresh);
                strlist_free(&paths);
                return -EBADMSG;
        }
        /* the touched paths: the files of the changed keys, made again or
         * gone, and any file made again (sorted, once each) */
        for (size_t i = 0; i < fresh.n; i++)
                strlist_add(&paths, xstrdup(fresh.files[i].path));
        if (paths.n > 1)
                qsort(paths.items, paths.n, sizeof(char *), cmp_str);
        size_t m = 0;
        for (size_t i = 0; i < paths.n; i++)
                if (m > 0 && streq(paths.items[m - 1], paths.items[i]))
                        free(paths.items[i]);
                else
                        paths.items[m++] = paths.items[i];
        *ret = fresh;
        *ret_touched = paths.items;
        *ret_n_touched = m;
        return 1;
}

int build_node(const Schema *schema, PublishMode mode, const char *source_dir, const char *node_id,
               const BuildOptions *opts, DiagList *diags, NodeOutput *ret) {
        if (!node_id_is_valid(node_id)) {
                diag_add(diags, DIAG_ERROR, NULL, 0, 0, NULL,
                         "invalid node id \"%s\" (1 to 128 of A-Z a-z 0-9 . _ -, not starting with '.')", node_id);
                return -EBADMSG;
        }
        _cleanup_(source_cache_freep) SourceCache *c = NULL;
        source_cache_new(schema, mode, &c);
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
