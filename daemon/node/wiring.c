/* SPDX-License-Identifier: MIT */
/* Config-source wiring, guided by the schema: an EDS cluster's eds_config,
 * an HttpConnectionManager's rds and scoped_rds sources and an
 * SdsSecretConfig's sds_config become path sources naming the node's own
 * files. Compiled files carry a marker for the node's directory, so they
 * are shared by every node; a node's build substitutes it. */
#include <string.h>

#include "graph.h"
#include "wire.h"
#include "wiring.h"

/* ---- config source wiring ---- */

/* Config sources are wired to "<marker>/<type>/<file>"; a node's build
 * replaces the marker with the node's directory. The marker starts with a
 * byte no protobuf message can start with (a tag of field 0), so a
 * length-delimited field that starts with it is the path string itself and
 * any other that contains it is a nested message. Compiled files are thus
 * shared by every node. */
#define NODE_DIR_MARKER "\x01fsxds-node-dir\x01"

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

bool wiring_rewrite_resource(void *userdata, YamlArena *arena, ResourceType type, YamlNode *resource,
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

void wiring_substitute_node_dir(const uint8_t *p, size_t n, const char *dir, Buf *out) {
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
                        wiring_substitute_node_dir(f.data, f.len, dir, &inner);
                        wire_put_varint(out, inner.len);
                        buf_append(out, inner.data, inner.len);
                        buf_free(&inner);
                }
        }
}

/* ConfigSource's fields (envoy/config/core/v3/config_source.proto) */
#define CONFIG_SOURCE_ADS 3
#define CONFIG_SOURCE_RESOURCE_API_VERSION 6
#define CONFIG_SOURCE_PATH_CONFIG_SOURCE 8
#define PATH_CONFIG_SOURCE_PATH 1
#define API_VERSION_V3 2

/* Whether m (a message) is a ConfigSource whose path_config_source names
 * a file in dir ("<dir>/..."). */
static bool is_wired_source(const uint8_t *p, size_t n, const char *dir, size_t dl) {
        WireReader rd = { p, p + n };
        WireField f;
        bool found = false;
        while (wire_next(&rd, &f)) {
                if (f.number != CONFIG_SOURCE_PATH_CONFIG_SOURCE || f.wire_type != WIRE_LEN)
                        continue;
                WireReader in = { f.data, f.data + f.len };
                WireField g;
                while (wire_next(&in, &g))
                        if (g.number == PATH_CONFIG_SOURCE_PATH && g.wire_type == WIRE_LEN && g.len > dl &&
                            memcmp(g.data, dir, dl) == 0 && g.data[dl] == '/')
                                found = true;
                if (in.p != in.end)
                        return false; /* not a message: a string that happens to hold dir */
        }
        return found && rd.p == rd.end;
}

static void put_ads_source(const uint8_t *p, size_t n, Buf *out) {
        WireReader rd = { p, p + n };
        WireField f;
        bool ads = false, version = false;
        while (wire_next(&rd, &f)) {
                if (f.number == CONFIG_SOURCE_PATH_CONFIG_SOURCE)
                        continue;
                if (!ads && f.number > CONFIG_SOURCE_ADS) {
                        wire_put_bytes(out, CONFIG_SOURCE_ADS, NULL, 0);
                        ads = true;
                }
                if (!version && f.number > CONFIG_SOURCE_RESOURCE_API_VERSION) {
                        wire_put_tag(out, CONFIG_SOURCE_RESOURCE_API_VERSION, WIRE_VARINT);
                        wire_put_varint(out, API_VERSION_V3);
                        version = true;
                }
                version = version || f.number == CONFIG_SOURCE_RESOURCE_API_VERSION;
                buf_append(out, f.start, (size_t) (f.end - f.start));
        }
        if (!ads)
                wire_put_bytes(out, CONFIG_SOURCE_ADS, NULL, 0);
        if (!version) {
                wire_put_tag(out, CONFIG_SOURCE_RESOURCE_API_VERSION, WIRE_VARINT);
                wire_put_varint(out, API_VERSION_V3);
        }
}

static bool to_ads(const uint8_t *p, size_t n, const char *dir, size_t dl, Buf *out) {
        WireReader rd = { p, p + n };
        WireField f;
        bool any = false;
        while (wire_next(&rd, &f)) {
                if (f.wire_type != WIRE_LEN || f.len <= dl || !memmem(f.data, f.len, dir, dl)) {
                        buf_append(out, f.start, (size_t) (f.end - f.start));
                        continue;
                }
                Buf inner = {};
                bool wired = false;
                if (is_wired_source(f.data, f.len, dir, dl)) {
                        put_ads_source(f.data, f.len, &inner);
                        wired = true;
                } else
                        wired = to_ads(f.data, f.len, dir, dl, &inner);
                if (wired) {
                        wire_put_bytes(out, f.number, inner.data, inner.len);
                        any = true;
                } else
                        buf_append(out, f.start, (size_t) (f.end - f.start));
                buf_free(&inner);
        }
        if (rd.p != rd.end) {
                /* not a message after all (a string or bytes field): the caller keeps it as it was */
                return false;
        }
        return any;
}

bool wiring_to_ads(const uint8_t *p, size_t n, const char *node_dir, Buf *out) {
        size_t start = out->len;
        bool any = to_ads(p, n, node_dir, strlen(node_dir), out);
        if (!any) {
                out->len = start;
                buf_append(out, p, n);
        }
        return any;
}
