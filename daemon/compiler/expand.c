/* SPDX-License-Identifier: MIT */
/* Expands the simplified format of the seed's management server:
 *   clusters[i] {name, endpoints: [{address, port}]} → an EDS Cluster plus
 *     its ClusterLoadAssignment when every address is an IP literal, else a
 *     STRICT_DNS Cluster with the endpoints inline;
 *   listeners[i] {name, address, port, routes} → a Listener whose HTTP
 *     connection manager takes RDS route_config_name = the listener's name,
 *     and that RouteConfiguration, routes in the order written.
 * Generated nodes carry the line and column of the user's node they come
 * from, so later errors still point at the user's file. */
#include <arpa/inet.h>

#include "expand.h"
#include "resource.h"

typedef struct Ex {
        YamlArena *a;
        const char *file;
        DiagList *diags;
        size_t n_errors;
        ExpandedList *out;
} Ex;

static void ex_error(Ex *x, const YamlNode *at, const char *path, const char *fmt, ...) _printf_(4, 5);
static void ex_error(Ex *x, const YamlNode *at, const char *path, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        diag_addv(x->diags, DIAG_ERROR, x->file, at ? at->line : 0, at ? at->column : 0, path, fmt, ap);
        va_end(ap);
        x->n_errors++;
}

void expanded_list_free(ExpandedList *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->items[i].path);
        free(l->items);
        *l = (ExpandedList) {};
}

static void emit(Ex *x, YamlNode *tree, char *path) {
        ExpandedList *l = x->out;
        if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 8;
                l->items = xrealloc(l->items, l->cap * sizeof(Expanded));
        }
        l->items[l->n++] = (Expanded) { tree, path };
}

static YamlNode *str(Ex *x, const char *s, const YamlNode *at) {
        return yaml_new_scalar(x->a, YAML_KIND_STRING, s, at);
}

static YamlNode *map(Ex *x, const YamlNode *at) {
        return yaml_new_collection(x->a, YAML_KIND_MAP, at);
}

static YamlNode *seq(Ex *x, const YamlNode *at) {
        return yaml_new_collection(x->a, YAML_KIND_SEQ, at);
}

static YamlNode *resource(Ex *x, ResourceType t, const YamlNode *at) {
        YamlNode *m = map(x, at);
        yaml_map_set(x->a, m, "@type", str(x, resource_type_to_url(t), at));
        return m;
}

/* Checks that key exists and is a non-empty string scalar. */
static const YamlNode *need_string(Ex *x, const YamlNode *m, const char *key, const char *path) {
        const YamlNode *v = yaml_map_get(m, key);
        if (!v || v->kind != YAML_KIND_STRING || v->n == 0) {
                ex_error(x, v ? v : m, path, "\"%s\" must be a non-empty string", key);
                return NULL;
        }
        return v;
}

static bool is_ip_literal(const char *s) {
        unsigned char buf[16];
        return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static YamlNode *socket_address(Ex *x, const YamlNode *address, const YamlNode *port) {
        YamlNode *sa = map(x, address);
        yaml_map_set(x->a, sa, "address", (YamlNode *) address);
        yaml_map_set(x->a, sa, "port_value", (YamlNode *) port);
        YamlNode *addr = map(x, address);
        yaml_map_set(x->a, addr, "socket_address", sa);
        return addr;
}

static void expand_cluster(Ex *x, const YamlNode *c, const char *path) {
        if (c->kind != YAML_KIND_MAP) {
                ex_error(x, c, path, "a cluster must be a mapping with name and endpoints");
                return;
        }
        const YamlNode *name = need_string(x, c, "name", path);
        const YamlNode *eps = yaml_map_get(c, "endpoints");
        if (!name)
                return;
        for (uint32_t i = 0; i < c->n; i++) {
                const char *k = c->items[2 * i]->str;
                if (!streq(k, "name") && !streq(k, "endpoints"))
                        ex_error(x, c->items[2 * i], path, "unknown key \"%s\" in a simplified cluster (name, endpoints)", k);
        }
        if (!eps || eps->kind != YAML_KIND_SEQ || eps->n == 0) {
                ex_error(x, eps ? eps : c, path, "cluster \"%s\" needs a non-empty list of endpoints", name->str);
                return;
        }
        bool all_ip = true;
        YamlNode *lb_endpoints = seq(x, eps);
        for (uint32_t i = 0; i < eps->n; i++) {
                const YamlNode *ep = eps->items[i];
                _cleanup_free_ char *ep_path = xasprintf("%s.endpoints[%u]", path, i);
                const YamlNode *address = ep->kind == YAML_KIND_MAP ? yaml_map_get(ep, "address") : NULL;
                const YamlNode *port = ep->kind == YAML_KIND_MAP ? yaml_map_get(ep, "port") : NULL;
                if (!address || address->kind != YAML_KIND_STRING || !port) {
                        ex_error(x, ep, ep_path, "an endpoint needs \"address\" (a string) and \"port\"");
                        continue;
                }
                all_ip = all_ip && is_ip_literal(address->str);
                YamlNode *endpoint = map(x, ep);
                yaml_map_set(x->a, endpoint, "address", socket_address(x, address, port));
                YamlNode *lbe = map(x, ep);
                yaml_map_set(x->a, lbe, "endpoint", endpoint);
                yaml_seq_append(x->a, lb_endpoints, lbe);
        }
        YamlNode *locality = map(x, eps);
        yaml_map_set(x->a, locality, "lb_endpoints", lb_endpoints);
        YamlNode *endpoints = seq(x, eps);
        yaml_seq_append(x->a, endpoints, locality);
        YamlNode *cla = all_ip ? resource(x, RESOURCE_CLUSTER_LOAD_ASSIGNMENT, c) : map(x, c);
        yaml_map_set(x->a, cla, "cluster_name", (YamlNode *) name);
        yaml_map_set(x->a, cla, "endpoints", endpoints);

        YamlNode *cl = resource(x, RESOURCE_CLUSTER, c);
        yaml_map_set(x->a, cl, "name", (YamlNode *) name);
        yaml_map_set(x->a, cl, "type", str(x, all_ip ? "EDS" : "STRICT_DNS", c));
        yaml_map_set(x->a, cl, "connect_timeout", str(x, "5s", c));
        yaml_map_set(x->a, cl, "lb_policy", str(x, "ROUND_ROBIN", c));
        if (all_ip) {
                YamlNode *eds = map(x, c);
                yaml_map_set(x->a, eds, "service_name", (YamlNode *) name);
                yaml_map_set(x->a, cl, "eds_cluster_config", eds);
        } else
                yaml_map_set(x->a, cl, "load_assignment", cla);
        emit(x, cl, xstrdup(path));
        if (all_ip)
                emit(x, cla, xstrdup(path));
}

static YamlNode *route_for(Ex *x, const YamlNode *r, const char *path) {
        if (r->kind != YAML_KIND_MAP) {
                ex_error(x, r, path, "a route must be a mapping with name, prefix and clusters");
                return NULL;
        }
        const YamlNode *name = need_string(x, r, "name", path);
        const YamlNode *prefix = need_string(x, r, "prefix", path);
        const YamlNode *clusters = yaml_map_get(r, "clusters");
        for (uint32_t i = 0; i < r->n; i++) {
                const char *k = r->items[2 * i]->str;
                if (!streq(k, "name") && !streq(k, "prefix") && !streq(k, "clusters"))
                        ex_error(x, r->items[2 * i], path, "unknown key \"%s\" in a simplified route (name, prefix, clusters)", k);
        }
        if (!clusters || clusters->kind != YAML_KIND_SEQ || clusters->n == 0) {
                ex_error(x, clusters ? clusters : r, path, "route%s%s names no cluster (\"clusters\" must be a non-empty list)",
                         name ? " " : "", name ? name->str : "");
                return NULL;
        }
        for (uint32_t i = 0; i < clusters->n; i++)
                if (clusters->items[i]->kind != YAML_KIND_STRING) {
                        _cleanup_free_ char *p = xasprintf("%s.clusters[%u]", path, i);
                        ex_error(x, clusters->items[i], p, "a cluster name must be a string");
                        return NULL;
                }
        if (!name || !prefix)
                return NULL;
        YamlNode *match = map(x, prefix);
        yaml_map_set(x->a, match, "prefix", (YamlNode *) prefix);
        YamlNode *action = map(x, clusters);
        if (clusters->n == 1)
                yaml_map_set(x->a, action, "cluster", clusters->items[0]);
        else {
                YamlNode *list = seq(x, clusters);
                for (uint32_t i = 0; i < clusters->n; i++) {
                        YamlNode *cw = map(x, clusters->items[i]);
                        yaml_map_set(x->a, cw, "name", clusters->items[i]);
                        yaml_map_set(x->a, cw, "weight", yaml_new_scalar(x->a, YAML_KIND_INT, "1", clusters->items[i]));
                        yaml_seq_append(x->a, list, cw);
                }
                YamlNode *wc = map(x, clusters);
                yaml_map_set(x->a, wc, "clusters", list);
                yaml_map_set(x->a, action, "weighted_clusters", wc);
        }
        YamlNode *route = map(x, r);
        yaml_map_set(x->a, route, "name", (YamlNode *) name);
        yaml_map_set(x->a, route, "match", match);
        yaml_map_set(x->a, route, "route", action);
        return route;
}

static void expand_listener(Ex *x, const YamlNode *l, const char *path) {
        if (l->kind != YAML_KIND_MAP) {
                ex_error(x, l, path, "a listener must be a mapping with name, address, port and routes");
                return;
        }
        const YamlNode *name = need_string(x, l, "name", path);
        const YamlNode *address = need_string(x, l, "address", path);
        const YamlNode *port = yaml_map_get(l, "port");
        const YamlNode *routes = yaml_map_get(l, "routes");
        for (uint32_t i = 0; i < l->n; i++) {
                const char *k = l->items[2 * i]->str;
                if (!streq(k, "name") && !streq(k, "address") && !streq(k, "port") && !streq(k, "routes"))
                        ex_error(x, l->items[2 * i], path, "unknown key \"%s\" in a simplified listener (name, address, port, routes)", k);
        }
        if (!port) {
                ex_error(x, l, path, "a listener needs \"port\"");
                return;
        }
        if (!routes || routes->kind != YAML_KIND_SEQ || routes->n == 0) {
                ex_error(x, routes ? routes : l, path, "listener%s%s names no route (\"routes\" must be a non-empty list)",
                         name ? " " : "", name ? name->str : "");
                return;
        }
        if (!name || !address)
                return;
        YamlNode *route_list = seq(x, routes);
        bool ok = true;
        for (uint32_t i = 0; i < routes->n; i++) {
                _cleanup_free_ char *rp = xasprintf("%s.routes[%u]", path, i);
                YamlNode *r = route_for(x, routes->items[i], rp);
                if (r)
                        yaml_seq_append(x->a, route_list, r);
                else
                        ok = false;
        }
        if (!ok)
                return;

        YamlNode *router = map(x, l);
        yaml_map_set(x->a, router, "name", str(x, "envoy.filters.http.router", l));
        YamlNode *router_cfg = map(x, l);
        yaml_map_set(x->a, router_cfg, "@type", str(x, "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", l));
        yaml_map_set(x->a, router, "typed_config", router_cfg);
        YamlNode *http_filters = seq(x, l);
        yaml_seq_append(x->a, http_filters, router);

        YamlNode *rds = map(x, l);
        yaml_map_set(x->a, rds, "route_config_name", (YamlNode *) name);
        YamlNode *hcm = map(x, l);
        yaml_map_set(x->a, hcm, "@type", str(x, "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", l));
        yaml_map_set(x->a, hcm, "stat_prefix", (YamlNode *) name);
        yaml_map_set(x->a, hcm, "codec_type", str(x, "AUTO", l));
        yaml_map_set(x->a, hcm, "rds", rds);
        yaml_map_set(x->a, hcm, "http_filters", http_filters);
        YamlNode *filter = map(x, l);
        yaml_map_set(x->a, filter, "name", str(x, "envoy.filters.network.http_connection_manager", l));
        yaml_map_set(x->a, filter, "typed_config", hcm);
        YamlNode *filters = seq(x, l);
        yaml_seq_append(x->a, filters, filter);
        YamlNode *chain = map(x, l);
        yaml_map_set(x->a, chain, "filters", filters);
        YamlNode *chains = seq(x, l);
        yaml_seq_append(x->a, chains, chain);

        YamlNode *listener = resource(x, RESOURCE_LISTENER, l);
        yaml_map_set(x->a, listener, "name", (YamlNode *) name);
        yaml_map_set(x->a, listener, "address", socket_address(x, address, port));
        yaml_map_set(x->a, listener, "filter_chains", chains);
        emit(x, listener, xstrdup(path));

        YamlNode *domains = seq(x, l);
        yaml_seq_append(x->a, domains, str(x, "*", l));
        YamlNode *vh = map(x, l);
        yaml_map_set(x->a, vh, "name", (YamlNode *) name);
        yaml_map_set(x->a, vh, "domains", domains);
        yaml_map_set(x->a, vh, "routes", route_list);
        YamlNode *vhs = seq(x, l);
        yaml_seq_append(x->a, vhs, vh);
        YamlNode *rc = resource(x, RESOURCE_ROUTE_CONFIGURATION, l);
        yaml_map_set(x->a, rc, "name", (YamlNode *) name);
        yaml_map_set(x->a, rc, "virtual_hosts", vhs);
        emit(x, rc, xstrdup(path));
}

size_t expand_simplified(YamlArena *arena, const YamlNode *root, const char *file, DiagList *diags, ExpandedList *ret) {
        Ex x = { .a = arena, .file = file, .diags = diags, .out = ret };
        for (uint32_t i = 0; i < root->n; i++) {
                const char *k = root->items[2 * i]->str;
                if (!streq(k, "name") && !streq(k, "spec"))
                        ex_error(&x, root->items[2 * i], NULL, "unknown key \"%s\" in a simplified document (name, spec)", k);
        }
        const YamlNode *spec = yaml_map_get(root, "spec");
        if (spec->kind != YAML_KIND_MAP) {
                ex_error(&x, spec, "spec", "\"spec\" must be a mapping with listeners and clusters");
                return x.n_errors;
        }
        for (uint32_t i = 0; i < spec->n; i++) {
                const char *k = spec->items[2 * i]->str;
                if (!streq(k, "listeners") && !streq(k, "clusters"))
                        ex_error(&x, spec->items[2 * i], "spec", "unknown key \"%s\" in spec (listeners, clusters)", k);
        }
        static const char *const sections[] = { "clusters", "listeners" };
        for (size_t s = 0; s < ELEMENTSOF(sections); s++) {
                const YamlNode *list = yaml_map_get(spec, sections[s]);
                if (!list || list->kind == YAML_KIND_NULL)
                        continue;
                if (list->kind != YAML_KIND_SEQ) {
                        _cleanup_free_ char *p = xasprintf("spec.%s", sections[s]);
                        ex_error(&x, list, p, "expected a list");
                        continue;
                }
                for (uint32_t i = 0; i < list->n; i++) {
                        _cleanup_free_ char *p = xasprintf("spec.%s[%u]", sections[s], i);
                        if (s == 0)
                                expand_cluster(&x, list->items[i], p);
                        else
                                expand_listener(&x, list->items[i], p);
                }
        }
        return x.n_errors;
}
