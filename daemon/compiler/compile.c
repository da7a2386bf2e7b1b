/* SPDX-License-Identifier: MIT */
/* One source file → compiled resources: recognizes the three document
 * forms, expands the simplified format, names each resource and encodes it
 * as a google.protobuf.Any. Resources of a large DiscoveryResponse are
 * encoded one at a time while the YAML is still being read. */
#include "compile.h"
#include "graph.h"
#include "encode.h"
#include "expand.h"

typedef struct CompileCtx {
        const Schema *schema;
        const char *file;
        const CompileHooks *hooks;
        DiagList *diags;
        CompileResult *result;
        Encoder enc;
        Buf scratch;
        size_t n_errors;
        ResourceFacts early; /* of the resource being read, from its early-encoded lists */
} CompileCtx;

static void ctx_error(CompileCtx *c, const YamlNode *at, const char *path, const char *fmt, ...) _printf_(4, 5);
static void ctx_error(CompileCtx *c, const YamlNode *at, const char *path, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        diag_addv(c->diags, DIAG_ERROR, c->file, at ? at->line : 0, at ? at->column : 0, path, fmt, ap);
        va_end(ap);
        c->n_errors++;
}

void compile_result_done(CompileResult *r) {
        resource_list_free(&r->resources);
        free(r->version_info);
        free(r->type_url);
        *r = (CompileResult) {};
}

/* One resource: a mapping with "@type". */
static void compile_resource(CompileCtx *c, YamlArena *arena, YamlNode *item, const char *path) {
        if (item->kind != YAML_KIND_MAP) {
                _cleanup_free_ char *what = yaml_describe(item);
                ctx_error(c, item, path, "expected a resource (a mapping with \"@type\"), got %s", what);
                return;
        }
        const YamlNode *type = yaml_map_get(item, "@type");
        if (!type || type->kind != YAML_KIND_STRING) {
                ctx_error(c, type ? type : item, path, "a resource needs \"@type\" with its type URL (e.g. %s)",
                          resource_type_to_url(RESOURCE_CLUSTER));
                return;
        }
        const SchemaMessage *m = schema_message_by_type_url(c->schema, type->str);
        ResourceType rt = m ? resource_type_from_message(m->full_name) : _RESOURCE_TYPE_INVALID;
        if (rt < 0) {
                /* let the encoder explain an unknown type; a known one that
                 * is no xDS resource type is refused here */
                if (m)
                        ctx_error(c, type, path, "%s is not an xDS resource type fsxds publishes "
                                  "(Listener, RouteConfiguration, ScopedRouteConfiguration, VirtualHost, "
                                  "Cluster, ClusterLoadAssignment, Secret, Runtime)", m->full_name);
                else {
                        Buf scratch = {};
                        encoder_set_path(&c->enc, path);
                        c->n_errors += encode_any(&c->enc, item, &scratch, NULL);
                        buf_free(&scratch);
                }
                return;
        }
        const char *name_field = resource_type_name_field(rt);
        const YamlNode *name = yaml_map_get_field(item, name_field);
        if (!name || name->kind == YAML_KIND_NULL || (name->kind == YAML_KIND_STRING && name->n == 0)) {
                ctx_error(c, name ? name : item, path, "a %s needs a non-empty \"%s\"", resource_type_to_string(rt), name_field);
                return;
        }
        if (name->kind != YAML_KIND_STRING) {
                /* the encoder explains what is wrong with it */
                Buf scratch = {};
                encoder_set_path(&c->enc, path);
                c->n_errors += encode_any(&c->enc, item, &scratch, NULL);
                buf_free(&scratch);
                return;
        }
        _cleanup_free_ char *name_copy = xstrdup(name->str);
        bool wired = c->hooks && c->hooks->rewrite && c->hooks->rewrite(c->hooks->userdata, arena, rt, item, c->file, c->diags);
        ResourceFacts facts = {};
        size_t before = c->diags->n_errors;
        graph_collect(c->schema, m, item, path, c->file, &facts, c->diags);
        size_t graph_errors = c->diags->n_errors - before;
        resource_facts_move(&facts, &c->early);
        /* encoded into a scratch buffer reused across resources, then copied
         * once at its final size */
        Buf *out = &c->scratch;
        out->len = 0;
        encoder_set_path(&c->enc, path);
        size_t errors = encode_any(&c->enc, item, out, NULL);
        if (errors + graph_errors > 0) {
                c->n_errors += errors + graph_errors;
                resource_facts_done(&facts);
                return;
        }
        uint8_t *any = xmalloc(out->len);
        memcpy(any, out->data, out->len);
        resource_list_add(&c->result->resources, (Resource) {
                .type = rt,
                .name = TAKE_PTR(name_copy),
                .file = xstrdup(c->file),
                .line = item->line,
                .column = item->column,
                .any = any,
                .any_len = out->len,
                .wired = wired,
                .facts = facts,
        });
}

static int on_resource(void *userdata, YamlArena *arena, YamlNode *item, size_t doc_index, size_t item_index) {
        CompileCtx *c = userdata;
        char path[64];
        snprintf(path, sizeof path, "resources[%zu]", item_index);
        compile_resource(c, arena, item, path);
        resource_facts_done(&c->early); /* taken by the resource, or dropped with it */
        return 0;
}

/* Message types whose big lists are encoded while they are read: the
 * elements of a large ClusterLoadAssignment or RouteConfiguration. They
 * hold nothing the node build rewrites (config sources). */
static const char *const early_types[] = {
        "envoy.config.endpoint.v3.LbEndpoint",
        "envoy.config.route.v3.Route",
};

static bool on_encode_early(void *userdata, const char *type, const YamlPathSegment *path, size_t n_path,
                            const YamlNode *node, size_t item_index, Buf *ret) {
        CompileCtx *c = userdata;
        const SchemaMessage *m = type ? schema_message_by_type_url(c->schema, type) : NULL;
        if (!m || resource_type_from_message(m->full_name) < 0)
                return false;
        const SchemaField *f = NULL;
        for (size_t i = 0; i < n_path; i++) {
                if (path[i].key) {
                        if (!m || m->well_known != SCHEMA_WK_NONE)
                                return false;
                        f = schema_field_by_name(m, path[i].key, strlen(path[i].key));
                        if (!f || f->type != SCHEMA_TYPE_MESSAGE || f->message->map_entry)
                                return false;
                        m = f->message;
                } else if (!f || !f->repeated || (i > 0 && !path[i - 1].key))
                        return false;
        }
        if (!f || !f->repeated || path[n_path - 1].key)
                return false;
        bool allowed = false;
        for (size_t i = 0; i < ELEMENTSOF(early_types); i++)
                allowed = allowed || streq(m->full_name, early_types[i]);
        if (!allowed)
                return false;
        /* "resources[N].a.b[M]", without printf: this runs for every endpoint */
        Buf where = {};
        buf_append(&where, "resources", 9);
        for (size_t i = 0; i <= n_path; i++) {
                if (i > 0 && path[i - 1].key) {
                        buf_putc(&where, '.');
                        buf_append(&where, path[i - 1].key, strlen(path[i - 1].key));
                        continue;
                }
                buf_put_index(&where, i == 0 ? item_index : path[i - 1].index);
        }
        _cleanup_free_ char *prefix = buf_steal_str(&where);
        /* routes name clusters; endpoints name nothing */
        if (streq(m->full_name, "envoy.config.route.v3.Route")) {
                size_t before = c->diags->n_errors;
                graph_collect(c->schema, m, node, prefix, c->file, &c->early, c->diags);
                c->n_errors += c->diags->n_errors - before;
        }
        encoder_set_path(&c->enc, prefix);
        c->n_errors += encode_message(&c->enc, m, node, ret);
        return true;
}

static const char *const response_fields[] = {
        "version_info", "versionInfo", "resources", "type_url", "typeUrl", "nonce", "canary", "control_plane", "controlPlane",
};

static void compile_response(CompileCtx *c, YamlArena *arena, YamlNode *root) {
        /* the first unknown key alone, and an excerpt of it: a file that is
         * no source at all (a copy of /etc/shadow) is not echoed line by line */
        const YamlNode *first = NULL;
        size_t n_unknown = 0;
        for (uint32_t i = 0; i < root->n; i++) {
                const YamlNode *k = root->items[2 * i];
                bool known = false;
                for (size_t j = 0; j < ELEMENTSOF(response_fields); j++)
                        known = known || streq(k->str, response_fields[j]);
                if (!known && n_unknown++ == 0)
                        first = k;
        }
        if (first) {
                _cleanup_free_ char *shown = diag_excerpt(first->str);
                _cleanup_free_ char *more = n_unknown > 1 ? xasprintf(" and %zu more unknown fields", n_unknown - 1)
                                                          : xstrdup("");
                ctx_error(c, first, shown, "unknown field \"%s\"%s in a DiscoveryResponse document "
                          "(expected version_info, resources, type_url; a single resource needs \"@type\")", shown, more);
        }
        const YamlNode *vi = yaml_map_get_field(root, "version_info");
        if (vi && vi->kind != YAML_KIND_NULL) {
                if (!yaml_is_scalar(vi) || vi->kind == YAML_KIND_BOOL)
                        ctx_error(c, vi, "version_info", "expected a string");
                else if (!c->result->version_info)
                        c->result->version_info = xstrdup(vi->str);
        }
        const YamlNode *tu = yaml_map_get_field(root, "type_url");
        if (tu && tu->kind != YAML_KIND_NULL) {
                if (tu->kind != YAML_KIND_STRING)
                        ctx_error(c, tu, "type_url", "expected a type URL string");
                else if (!c->result->type_url) {
                        c->result->type_url = xstrdup(tu->str);
                        c->result->type_url_line = tu->line;
                        c->result->type_url_column = tu->column;
                }
        }
        YamlNode *res = yaml_map_get(root, "resources");
        if (!res || res->kind == YAML_KIND_NULL || (res->flags & YAML_FLAG_STREAMED))
                return;
        if (res->kind != YAML_KIND_SEQ) {
                /* legacy: a single resource where the list is expected */
                diag_add(c->diags, DIAG_WARNING, c->file, res->line, res->column, "resources",
                         "a single value where a list is expected; write it as a one-element list (legacy form)");
                compile_resource(c, arena, res, "resources[0]");
                return;
        }
        for (uint32_t i = 0; i < res->n; i++) {
                char path[64];
                snprintf(path, sizeof path, "resources[%u]", i);
                compile_resource(c, arena, res->items[i], path);
        }
}

static int on_document(void *userdata, YamlArena *arena, YamlNode *root, size_t doc_index) {
        CompileCtx *c = userdata;
        if (root->kind == YAML_KIND_NULL)
                return 0; /* empty document */
        if (root->kind != YAML_KIND_MAP) {
                _cleanup_free_ char *what = yaml_describe(root);
                ctx_error(c, root, NULL, "a document must be a mapping (a DiscoveryResponse, a resource with \"@type\", "
                          "or name/spec), got %s", what);
                return 0;
        }
        if (yaml_map_get(root, "@type")) {
                compile_resource(c, arena, root, "");
                return 0;
        }
        if (yaml_map_get(root, "spec")) {
                ExpandedList ex = {};
                size_t errors = expand_simplified(arena, root, c->file, c->diags, &ex);
                c->n_errors += errors;
                for (size_t i = 0; i < ex.n; i++)
                        compile_resource(c, arena, ex.items[i].tree, ex.items[i].path);
                expanded_list_free(&ex);
                return 0;
        }
        compile_response(c, arena, root);
        return 0;
}

static int compile_input(const Schema *schema, const char *file, const char *data, size_t len, bool from_file,
                         const CompileHooks *hooks, DiagList *diags, CompileResult *ret) {
        CompileCtx c = {
                .schema = schema,
                .file = file,
                .hooks = hooks,
                .diags = diags,
                .result = ret,
        };
        encoder_init(&c.enc, schema, file, diags);
        static const YamlCallbacks cb = { .resource = on_resource, .document = on_document, .encode_early = on_encode_early };
        int r = from_file ? yaml_parse_file(file, NULL, diags, &cb, &c, ret->sha256) : yaml_parse(file, data, len, NULL, diags, &cb, &c);
        encoder_done(&c.enc);
        buf_free(&c.scratch);
        resource_facts_done(&c.early);
        if (r < 0 && r != -EBADMSG)
                return r;
        return r < 0 || c.n_errors > 0 ? -EBADMSG : 0;
}

int compile_data(const Schema *schema, const char *file, const char *data, size_t len,
                 const CompileHooks *hooks, DiagList *diags, CompileResult *ret) {
        return compile_input(schema, file, data, len, false, hooks, diags, ret);
}

int compile_file(const Schema *schema, const char *path, const CompileHooks *hooks, DiagList *diags,
                 CompileResult *ret) {
        /* libyaml reads the file in chunks: a large file is never held whole */
        return compile_input(schema, path, NULL, 0, true, hooks, diags, ret);
}
