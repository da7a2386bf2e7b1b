/* SPDX-License-Identifier: MIT */
/* The node build: merge common/ and nodes/<id>/ (the node wins by type and
 * name), expand, wire config sources to the node's own files, merge
 * standalone VirtualHosts into their RouteConfiguration, and split the
 * result into the per-type files Envoy's path subscriptions read. */
#include <assert.h>
#include <dirent.h>
#include <sys/stat.h>

#include "build.h"
#include "compile.h"
#include "hashmap.h"
#include "wire.h"
#include "yamltree.h"

static const char *const publish_mode_table[_PUBLISH_MODE_MAX] = {
        [PUBLISH_MODE_RENAME] = "rename",
        [PUBLISH_MODE_WATCHED_DIRECTORY] = "watched_directory",
};

const char *publish_mode_to_string(PublishMode m) {
        return m >= 0 && m < _PUBLISH_MODE_MAX ? publish_mode_table[m] : NULL;
}

PublishMode publish_mode_from_string(const char *s) {
        for (int i = 0; i < _PUBLISH_MODE_MAX; i++)
                if (streq(publish_mode_table[i], s))
                        return (PublishMode) i;
        return _PUBLISH_MODE_INVALID;
}

/* Directory of each type under the node directory, and whether the type's
 * file holds all resources (state of the world) or one per file. */
static const struct {
        const char *dir;
        bool sotw;
} type_layout[_RESOURCE_TYPE_MAX] = {
        [RESOURCE_LISTENER] = { "lds", true },
        [RESOURCE_ROUTE_CONFIGURATION] = { "rds", false },
        [RESOURCE_SCOPED_ROUTE_CONFIGURATION] = { "srds", true },
        [RESOURCE_VIRTUAL_HOST] = { NULL, false },
        [RESOURCE_CLUSTER] = { "cds", true },
        [RESOURCE_CLUSTER_LOAD_ASSIGNMENT] = { "eds", false },
        [RESOURCE_SECRET] = { "sds", false },
        [RESOURCE_RUNTIME] = { "rtds", false },
};

void node_output_done(NodeOutput *o) {
        for (size_t i = 0; i < o->n; i++) {
                free(o->files[i].path);
                free(o->files[i].data);
        }
        free(o->files);
        *o = (NodeOutput) {};
}

bool node_id_is_valid(const char *id) {
        size_t n = strlen(id);
        if (n == 0 || n > 128 || id[0] == '.')
                return false;
        for (const char *p = id; *p; p++)
                if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                      *p == '.' || *p == '_' || *p == '-'))
                        return false;
        return true;
}

char *build_file_name(const char *name) {
        Buf b = {};
        for (const unsigned char *p = (const unsigned char *) name; *p; p++) {
                bool safe = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                        *p == '_' || *p == '-' || (*p == '.' && p != (const unsigned char *) name);
                if (safe)
                        buf_putc(&b, *p);
                else
                        buf_printf(&b, "%%%02X", *p);
        }
        buf_append(&b, ".pb", 3);
        if (b.len > 255) {
                buf_free(&b);
                return NULL;
        }
        return buf_steal_str(&b);
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
                for (size_t i = 0; i < l.n; i++)
                        free(l.items[i]);
                free(l.items);
                return r;
        }
        if (!l.items)
                l.items = xcalloc(1, sizeof(char *));
        *ret = l.items;
        return 0;
}

/* ---- config source wiring ---- */

typedef struct Wiring {
        const Schema *schema;
        const BuildOptions *opts;
        const char *file;
        DiagList *diags;
        YamlArena *arena;
} Wiring;

/* Sets parent.<field> (a ConfigSource) to the node's file for resource
 * name in type_dir, unless it names an ads/api/self source. */
static void wire_source(Wiring *w, YamlNode *parent, const char *field, const char *type_dir, const char *resource_name,
                        const YamlNode *at) {
        YamlNode *cs = yaml_map_get_field(parent, field);
        if (cs && cs->kind != YAML_KIND_NULL) {
                if (cs->kind != YAML_KIND_MAP)
                        return; /* the encoder reports it */
                if (!yaml_map_get_field(cs, "path") && !yaml_map_get_field(cs, "path_config_source") &&
                    cs->n > 0 && (yaml_map_get_field(cs, "ads") || yaml_map_get_field(cs, "api_config_source") ||
                                  yaml_map_get_field(cs, "self")))
                        return;
                yaml_map_remove_field(cs, "path");
                yaml_map_remove_field(cs, "path_config_source");
        } else {
                cs = yaml_new_collection(w->arena, YAML_KIND_MAP, at);
                yaml_map_set(w->arena, parent, field, cs);
        }
        _cleanup_free_ char *fname = build_file_name(resource_name);
        if (!fname)
                return; /* too long a name: reported when the files are split */
        _cleanup_free_ char *path = xasprintf("%s/%s/%s", w->opts->output_dir, type_dir, fname);
        YamlNode *pcs = yaml_new_collection(w->arena, YAML_KIND_MAP, at);
        yaml_map_set(w->arena, pcs, "path", yaml_new_scalar(w->arena, YAML_KIND_STRING, path, at));
        if (w->opts->mode == PUBLISH_MODE_WATCHED_DIRECTORY) {
                _cleanup_free_ char *dir = xasprintf("%s/%s", w->opts->output_dir, type_dir);
                YamlNode *wd = yaml_new_collection(w->arena, YAML_KIND_MAP, at);
                yaml_map_set(w->arena, wd, "path", yaml_new_scalar(w->arena, YAML_KIND_STRING, dir, at));
                yaml_map_set(w->arena, pcs, "watched_directory", wd);
        }
        yaml_map_set(w->arena, cs, "path_config_source", pcs);
        diag_add(w->diags, DIAG_NOTE, w->file, at->line, at->column, NULL, "config source wired to %s", path);
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

static void rewrite_resource(void *userdata, YamlArena *arena, ResourceType type, YamlNode *resource,
                             const char *file, DiagList *diags) {
        Wiring *w = userdata;
        w->arena = arena;
        w->file = file;
        w->diags = diags;
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
}

/* ---- merging and splitting ---- */

typedef struct Entry {
        Resource r;
        bool from_node;
} Entry;

static int cmp_entry(const void *a, const void *b) {
        const Entry *const *x = a, *const *y = b;
        if ((*x)->r.type != (*y)->r.type)
                return (*x)->r.type < (*y)->r.type ? -1 : 1;
        return strcmp((*x)->r.name, (*y)->r.name);
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

/* Inserts a virtual host (field 2 of RouteConfiguration) after the
 * existing ones, keeping fields in number order. */
static void splice_virtual_host(Resource *rc, const Resource *vh) {
        const uint8_t *rcv, *vhv;
        size_t rcl, vhl;
        if (!any_value(rc->any, rc->any_len, &rcv, &rcl) || !any_value(vh->any, vh->any_len, &vhv, &vhl))
                return;
        Buf body = {};
        WireReader rd = { rcv, rcv + rcl };
        WireField f;
        bool inserted = false;
        while (wire_next(&rd, &f)) {
                if (!inserted && f.number > 2) {
                        wire_put_bytes(&body, 2, vhv, vhl);
                        inserted = true;
                }
                buf_append(&body, f.start, (size_t) (f.end - f.start));
        }
        if (!inserted)
                wire_put_bytes(&body, 2, vhv, vhl);
        Buf any = {};
        const char *url = resource_type_to_url(RESOURCE_ROUTE_CONFIGURATION);
        wire_put_bytes(&any, 1, url, strlen(url));
        wire_put_bytes(&any, 2, body.data, body.len);
        buf_free(&body);
        free(rc->any);
        rc->any = any.data;
        rc->any_len = any.len;
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
}

static int cmp_node_file(const void *a, const void *b) {
        return strcmp(((const NodeFile *) a)->path, ((const NodeFile *) b)->path);
}

static int compile_sources(const Schema *schema, const char *dir, bool from_node, Wiring *w, DiagList *diags,
                           Entry **entries, size_t *n_entries, int *io_error) {
        _cleanup_free_ char **files = NULL;
        int r = build_list_sources(dir, &files);
        if (r < 0) {
                diag_add(diags, DIAG_ERROR, dir, 0, 0, NULL, "cannot read directory: %s", strerror(-r));
                *io_error = r;
                return r;
        }
        CompileHooks hooks = { .rewrite = rewrite_resource, .userdata = w };
        for (char **f = files; *f; f++) {
                CompileResult cr = {};
                r = compile_file(schema, *f, &hooks, diags, &cr);
                if (r < 0 && r != -EBADMSG) {
                        diag_add(diags, DIAG_ERROR, *f, 0, 0, NULL, "cannot read: %s", strerror(-r));
                        *io_error = r;
                }
                *entries = xrealloc(*entries, (*n_entries + cr.resources.n) * sizeof(Entry));
                for (size_t i = 0; i < cr.resources.n; i++) {
                        (*entries)[(*n_entries)++] = (Entry) { cr.resources.items[i], from_node };
                        cr.resources.items[i] = (Resource) {};
                }
                compile_result_done(&cr);
                free(*f);
        }
        return 0;
}

int build_node(const Schema *schema, const char *source_dir, const char *node_id, const BuildOptions *opts,
               DiagList *diags, NodeOutput *ret) {
        assert(opts->output_dir && opts->output_dir[0] == '/');
        if (!node_id_is_valid(node_id)) {
                diag_add(diags, DIAG_ERROR, NULL, 0, 0, NULL,
                         "invalid node id \"%s\" (1 to 128 of A-Z a-z 0-9 . _ -, not starting with '.')", node_id);
                return -EBADMSG;
        }
        size_t errors_before = diags->n_errors;
        Wiring w = { .schema = schema, .opts = opts };
        Entry *entries = NULL;
        size_t n = 0;
        int io_error = 0;
        _cleanup_free_ char *common = xasprintf("%s/common", source_dir);
        _cleanup_free_ char *nodedir = xasprintf("%s/nodes/%s", source_dir, node_id);
        compile_sources(schema, common, false, &w, diags, &entries, &n, &io_error);
        compile_sources(schema, nodedir, true, &w, diags, &entries, &n, &io_error);

        /* sort by (type, name); equal keys keep source order (stable via index) */
        Entry **sorted = xcalloc(MAX(n, 1), sizeof(Entry *));
        for (size_t i = 0; i < n; i++)
                sorted[i] = &entries[i];
        /* insertion-stable merge sort is not in libc: tag with index */
        for (size_t i = 1; i < n; i++) {
                Entry *x = sorted[i];
                size_t j = i;
                /* binary search for the insertion point keeps this O(n log n) compares */
                size_t lo = 0, hi = i;
                while (lo < hi) {
                        size_t mid = (lo + hi) / 2;
                        if (cmp_entry(&sorted[mid], &x) <= 0)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                for (j = i; j > lo; j--)
                        sorted[j] = sorted[j - 1];
                sorted[lo] = x;
        }
        /* resolve duplicates: the node's resource replaces common's */
        Resource **live = xcalloc(MAX(n, 1), sizeof(Resource *));
        size_t n_live = 0;
        for (size_t i = 0; i < n;) {
                size_t j = i + 1;
                while (j < n && cmp_entry(&sorted[i], &sorted[j]) == 0)
                        j++;
                Entry *winner = NULL;
                for (size_t k = i; k < j; k++) {
                        Entry *e = sorted[k];
                        if (!winner || (e->from_node && !winner->from_node)) {
                                winner = e;
                                continue;
                        }
                        if (e->from_node == winner->from_node)
                                diag_add(diags, DIAG_ERROR, e->r.file, e->r.line, e->r.column, NULL,
                                         "duplicate %s \"%s\" (also defined at %s:%u:%u)", resource_type_to_string(e->r.type),
                                         e->r.name, winner->r.file, winner->r.line, winner->r.column);
                }
                live[n_live++] = &winner->r;
                i = j;
        }

        /* standalone virtual hosts into their route configuration */
        for (size_t i = 0; i < n_live; i++) {
                Resource *vh = live[i];
                if (vh->type != RESOURCE_VIRTUAL_HOST)
                        continue;
                const char *slash = strchr(vh->name, '/');
                Resource *rc = NULL;
                if (slash)
                        for (size_t k = 0; k < n_live && !rc; k++)
                                if (live[k]->type == RESOURCE_ROUTE_CONFIGURATION &&
                                    strlen(live[k]->name) == (size_t) (slash - vh->name) &&
                                    strncmp(live[k]->name, vh->name, (size_t) (slash - vh->name)) == 0)
                                        rc = live[k];
                if (!slash || !slash[1])
                        diag_add(diags, DIAG_ERROR, vh->file, vh->line, vh->column, NULL,
                                 "a standalone VirtualHost is named \"<route_config>/<virtual_host>\", not \"%s\"", vh->name);
                else if (!rc)
                        diag_add(diags, DIAG_ERROR, vh->file, vh->line, vh->column, NULL,
                                 "VirtualHost \"%s\": no RouteConfiguration \"%.*s\" to merge it into", vh->name,
                                 (int) (slash - vh->name), vh->name);
                else
                        splice_virtual_host(rc, vh);
        }

        NodeOutput out = {};
        if (diags->n_errors == errors_before && io_error == 0) {
                for (ResourceType t = 0; t < _RESOURCE_TYPE_MAX; t++) {
                        if (!type_layout[t].dir)
                                continue;
                        Resource **of_type = xcalloc(MAX(n_live, 1), sizeof(Resource *));
                        size_t k = 0;
                        for (size_t i = 0; i < n_live; i++)
                                if (live[i]->type == t)
                                        of_type[k++] = live[i];
                        if (type_layout[t].sotw) {
                                /* lds and cds always exist: an Envoy's bootstrap names them */
                                if (k > 0 || t == RESOURCE_LISTENER || t == RESOURCE_CLUSTER) {
                                        _cleanup_free_ char *fname = xasprintf("%s.pb", type_layout[t].dir);
                                        add_file(&out, t, type_layout[t].dir, fname, of_type, k);
                                }
                        } else
                                for (size_t i = 0; i < k; i++) {
                                        _cleanup_free_ char *fname = build_file_name(of_type[i]->name);
                                        if (!fname) {
                                                diag_add(diags, DIAG_ERROR, of_type[i]->file, of_type[i]->line, of_type[i]->column, NULL,
                                                         "%s name \"%s\" is too long for a file name", resource_type_to_string(t), of_type[i]->name);
                                                continue;
                                        }
                                        add_file(&out, t, type_layout[t].dir, fname, &of_type[i], 1);
                                }
                        free(of_type);
                }
                if (out.n > 0)
                        qsort(out.files, out.n, sizeof(NodeFile), cmp_node_file);
        }
        for (size_t i = 0; i < n; i++)
                resource_done(&entries[i].r);
        free(entries);
        free(sorted);
        free(live);
        if (diags->n_errors > errors_before || io_error < 0) {
                node_output_done(&out);
                return io_error < 0 ? io_error : -EBADMSG;
        }
        *ret = out;
        return 0;
}
