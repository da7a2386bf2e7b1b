/* SPDX-License-Identifier: MIT */
/* The xDS resource types fsxds publishes and their DiscoveryResponse form. */

#include "resource.h"
#include "sha256.h"
#include "wire.h"

static const struct {
        const char *message;
        const char *url;
        const char *short_name;
        const char *name_field;
} resource_type_table[_RESOURCE_TYPE_MAX] = {
#define T(e, m, s, n) [e] = { m, "type.googleapis.com/" m, s, n }
        T(RESOURCE_LISTENER, "envoy.config.listener.v3.Listener", "Listener", "name"),
        T(RESOURCE_ROUTE_CONFIGURATION, "envoy.config.route.v3.RouteConfiguration", "RouteConfiguration", "name"),
        T(RESOURCE_SCOPED_ROUTE_CONFIGURATION, "envoy.config.route.v3.ScopedRouteConfiguration", "ScopedRouteConfiguration", "name"),
        T(RESOURCE_VIRTUAL_HOST, "envoy.config.route.v3.VirtualHost", "VirtualHost", "name"),
        T(RESOURCE_CLUSTER, "envoy.config.cluster.v3.Cluster", "Cluster", "name"),
        T(RESOURCE_CLUSTER_LOAD_ASSIGNMENT, "envoy.config.endpoint.v3.ClusterLoadAssignment", "ClusterLoadAssignment", "cluster_name"),
        T(RESOURCE_SECRET, "envoy.extensions.transport_sockets.tls.v3.Secret", "Secret", "name"),
        T(RESOURCE_RUNTIME, "envoy.service.runtime.v3.Runtime", "Runtime", "name"),
#undef T
};

const char *resource_type_to_message(ResourceType t) {
        return t >= 0 && t < _RESOURCE_TYPE_MAX ? resource_type_table[t].message : NULL;
}

const char *resource_type_to_url(ResourceType t) {
        return t >= 0 && t < _RESOURCE_TYPE_MAX ? resource_type_table[t].url : NULL;
}

const char *resource_type_to_string(ResourceType t) {
        return t >= 0 && t < _RESOURCE_TYPE_MAX ? resource_type_table[t].short_name : NULL;
}

const char *resource_type_name_field(ResourceType t) {
        return t >= 0 && t < _RESOURCE_TYPE_MAX ? resource_type_table[t].name_field : NULL;
}

ResourceType resource_type_from_message(const char *full_name) {
        for (int i = 0; i < _RESOURCE_TYPE_MAX; i++)
                if (streq(resource_type_table[i].message, full_name))
                        return (ResourceType) i;
        return _RESOURCE_TYPE_INVALID;
}

void resource_list_add(ResourceList *l, Resource r) {
        if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 16;
                l->items = xrealloc(l->items, l->cap * sizeof(Resource));
        }
        l->items[l->n++] = r;
}

void resource_facts_done(ResourceFacts *f) {
        for (size_t i = 0; i < f->n_refs; i++) {
                free(f->refs[i].name);
                free(f->refs[i].path);
        }
        free(f->refs);
        free(f->address);
        free(f->scope_key);
        *f = (ResourceFacts) {};
}

void resource_done(Resource *r) {
        resource_facts_done(&r->facts);
        free(r->name);
        free(r->file);
        if (!r->any_in_own_file)
                free(r->any);
        if (r->own_file) {
                free(r->own_file->data);
                free(r->own_file);
        }
        *r = (Resource) {};
}

void resource_list_free(ResourceList *l) {
        for (size_t i = 0; i < l->n; i++)
                resource_done(&l->items[i]);
        free(l->items);
        *l = (ResourceList) {};
}

void resources_version(Resource *const *items, size_t n, char ret[17]) {
        Sha256 h;
        sha256_init(&h);
        for (size_t i = 0; i < n; i++)
                sha256_update(&h, items[i]->any, items[i]->any_len);
        sha256_final_hex(&h, ret, 16);
}

void resources_response(Resource *const *items, size_t n, const char *version_info, const char *type_url, Buf *out) {
        if (version_info && *version_info)
                wire_put_bytes(out, 1, version_info, strlen(version_info));
        for (size_t i = 0; i < n; i++)
                wire_put_bytes(out, 2, items[i]->any, items[i]->any_len);
        if (type_url && *type_url)
                wire_put_bytes(out, 4, type_url, strlen(type_url));
}

void resource_make_own_file(Resource *r) {
        if (r->own_file)
                return;
        ResourceFile *rf = xcalloc(1, sizeof(ResourceFile));
        Resource *items[1] = { r };
        resources_version(items, 1, rf->version);
        Buf b = {};
        resources_response(items, 1, rf->version, resource_type_to_url(r->type), &b);
        rf->data = b.data;
        rf->len = b.len;
        sha256_hex(rf->data, rf->len, rf->sha256);
        r->own_file = rf;
        /* the Any is in there byte for byte: keep one copy */
        WireReader rd = { rf->data, rf->data + rf->len };
        WireField f;
        while (wire_next(&rd, &f))
                if (f.number == 2 && f.wire_type == WIRE_LEN && f.len == r->any_len && !r->any_in_own_file) {
                        free(r->any);
                        r->any = (uint8_t *) f.data;
                        r->any_in_own_file = true;
                }
}

/* The name of the resource in an Any: field 1 of its message. */
static bool any_name(const uint8_t *data, size_t len, const char **ret, size_t *ret_len) {
        WireReader any = { data, data + len };
        WireField a;
        while (wire_next(&any, &a)) {
                if (a.number != 2 || a.wire_type != WIRE_LEN)
                        continue;
                WireReader msg = { a.data, a.data + a.len };
                WireField x;
                while (wire_next(&msg, &x))
                        if (x.number == 1 && x.wire_type == WIRE_LEN) {
                                *ret = (const char *) x.data;
                                *ret_len = x.len;
                                return true;
                        }
        }
        return false;
}

size_t response_walk(const uint8_t *data, size_t len, ResponseInfo *ret_info,
                     void (*on_name)(void *userdata, const char *name, size_t len), void *userdata) {
        ResponseInfo info = {};
        WireReader rd = { data, data + len };
        WireField f;
        size_t n = 0;
        while (wire_next(&rd, &f)) {
                if (f.wire_type != WIRE_LEN)
                        continue;
                if (f.number == 1 && !info.version_info) {
                        info.version_info = (const char *) f.data;
                        info.version_info_len = f.len;
                } else if (f.number == 4 && !info.type_url) {
                        info.type_url = (const char *) f.data;
                        info.type_url_len = f.len;
                } else if (f.number == 2) {
                        const char *name;
                        size_t name_len;
                        if (any_name(f.data, f.len, &name, &name_len)) {
                                if (on_name)
                                        on_name(userdata, name, name_len);
                                n++;
                        }
                }
        }
        if (ret_info)
                *ret_info = info;
        return n;
}

size_t response_resources(const uint8_t *data, size_t len, ResponseResourceFunc f, void *userdata) {
        WireReader rd = { data, data + len };
        WireField r;
        size_t n = 0;
        while (wire_next(&rd, &r)) {
                if (r.number != 2 || r.wire_type != WIRE_LEN)
                        continue;
                const char *name = "";
                size_t name_len = 0;
                (void) any_name(r.data, r.len, &name, &name_len);
                f(userdata, name, name_len, r.data, r.len);
                n++;
        }
        return n;
}
