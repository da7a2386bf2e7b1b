/* SPDX-License-Identifier: MIT */
/* expand: the simplified format (name/spec: {listeners, clusters}) becomes
 * exactly the resources docs/architecture.md describes — an EDS Cluster and
 * its ClusterLoadAssignment for IP endpoints, a STRICT_DNS Cluster
 * otherwise, a Listener with an HTTP connection manager on RDS and its
 * RouteConfiguration — and mistakes point at the user's line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "expand.h"

/* A tree in one line: {k: v, ...}, [a, ...], scalars as written. */
static void render(const YamlNode *n, Buf *out) {
        if (n->kind == YAML_KIND_MAP) {
                buf_putc(out, '{');
                for (uint32_t i = 0; i < n->n; i++) {
                        buf_printf(out, "%s%s: ", i ? ", " : "", n->items[2 * i]->str);
                        render(n->items[2 * i + 1], out);
                }
                buf_putc(out, '}');
        } else if (n->kind == YAML_KIND_SEQ) {
                buf_putc(out, '[');
                for (uint32_t i = 0; i < n->n; i++) {
                        buf_printf(out, "%s", i ? ", " : "");
                        render(n->items[i], out);
                }
                buf_putc(out, ']');
        } else
                buf_printf(out, "%s", n->str);
}

typedef struct Expansion {
        DiagList diags;
        size_t n_errors;
        size_t n;
        char *trees[8]; /* "path => tree" */
        unsigned line[8];
} Expansion;

static int on_document(void *userdata, YamlArena *arena, YamlNode *root, size_t doc_index) {
        Expansion *e = userdata;
        ExpandedList l = {};
        e->n_errors = expand_simplified(arena, root, "simple.yaml", &e->diags, &l);
        for (size_t i = 0; i < l.n && i < ELEMENTSOF(e->trees); i++) {
                Buf b = {};
                buf_printf(&b, "%s => ", l.items[i].path);
                render(l.items[i].tree, &b);
                e->trees[i] = buf_steal_str(&b);
                e->line[i] = l.items[i].tree->line;
        }
        e->n = l.n;
        expanded_list_free(&l);
        return 0;
}

static void expand(const char *yaml, Expansion *ret) {
        static const YamlCallbacks cb = { .document = on_document };
        *ret = (Expansion) {};
        assert_int_equal(yaml_parse("simple.yaml", yaml, strlen(yaml), NULL, &ret->diags, &cb, ret), 0);
}

static void expansion_done(Expansion *e) {
        for (size_t i = 0; i < e->n && i < ELEMENTSOF(e->trees); i++)
                free(e->trees[i]);
        diag_list_clear(&e->diags);
}

static void assert_diag(const Expansion *e, size_t i, const char *expected) {
        assert_true(i < e->diags.n);
        _cleanup_free_ char *s = diag_format(&e->diags.items[i]);
        assert_string_equal(s, expected);
}

static void test_seed_config(void **state) {
        Expansion e;
        expand("name: myconfig\n"
               "spec:\n"
               "  listeners:\n"
               "  - name: listener_http\n"
               "    address: 0.0.0.0\n"
               "    port: 80\n"
               "    routes:\n"
               "    - name: local_route\n"
               "      prefix: /\n"
               "      clusters:\n"
               "      - webcluster\n"
               "  clusters:\n"
               "  - name: webcluster\n"
               "    endpoints:\n"
               "    - address: 172.31.15.11\n"
               "      port: 80\n", &e);
        assert_int_equal(e.n_errors, 0);
        assert_int_equal(e.diags.n, 0);
        assert_int_equal(e.n, 4);
        /* clusters first, each cluster then its endpoints */
        assert_string_equal(e.trees[0],
                "spec.clusters[0] => {@type: type.googleapis.com/envoy.config.cluster.v3.Cluster, name: webcluster, "
                "type: EDS, connect_timeout: 5s, lb_policy: ROUND_ROBIN, eds_cluster_config: {service_name: webcluster}}");
        assert_string_equal(e.trees[1],
                "spec.clusters[0] => {@type: type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment, "
                "cluster_name: webcluster, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: "
                "{address: 172.31.15.11, port_value: 80}}}}]}]}");
        assert_string_equal(e.trees[2],
                "spec.listeners[0] => {@type: type.googleapis.com/envoy.config.listener.v3.Listener, name: listener_http, "
                "address: {socket_address: {address: 0.0.0.0, port_value: 80}}, filter_chains: [{filters: [{"
                "name: envoy.filters.network.http_connection_manager, typed_config: {"
                "@type: type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager, "
                "stat_prefix: listener_http, codec_type: AUTO, rds: {route_config_name: listener_http}, "
                "http_filters: [{name: envoy.filters.http.router, typed_config: {"
                "@type: type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}]}}]}]}");
        assert_string_equal(e.trees[3],
                "spec.listeners[0] => {@type: type.googleapis.com/envoy.config.route.v3.RouteConfiguration, "
                "name: listener_http, virtual_hosts: [{name: listener_http, domains: [*], routes: [{name: local_route, "
                "match: {prefix: /}, route: {cluster: webcluster}}]}]}");
        /* generated nodes carry the user's lines */
        assert_int_equal(e.line[0], 13);
        assert_int_equal(e.line[2], 4);
        expansion_done(&e);
}

static void test_dns_cluster_inline(void **state) {
        Expansion e;
        expand("spec:\n"
               "  clusters:\n"
               "  - name: api\n"
               "    endpoints:\n"
               "    - {address: api.example.com, port: 443}\n"
               "    - {address: 10.0.0.1, port: 443}\n", &e);
        assert_int_equal(e.n_errors, 0);
        assert_int_equal(e.n, 1);
        assert_string_equal(e.trees[0],
                "spec.clusters[0] => {@type: type.googleapis.com/envoy.config.cluster.v3.Cluster, name: api, "
                "type: STRICT_DNS, connect_timeout: 5s, lb_policy: ROUND_ROBIN, load_assignment: {cluster_name: api, "
                "endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: api.example.com, "
                "port_value: 443}}}}, {endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: 443}}}}]}]}}");
        expansion_done(&e);
}

static void test_ipv6_is_an_ip(void **state) {
        Expansion e;
        expand("spec:\n  clusters:\n  - name: v6\n    endpoints:\n    - {address: \"::1\", port: 80}\n", &e);
        assert_int_equal(e.n, 2);
        assert_true(strstr(e.trees[0], "type: EDS") != NULL);
        expansion_done(&e);
}

static void test_several_clusters_are_weighted(void **state) {
        Expansion e;
        expand("spec:\n"
               "  listeners:\n"
               "  - name: l\n"
               "    address: 0.0.0.0\n"
               "    port: 8080\n"
               "    routes:\n"
               "    - {name: split, prefix: /api, clusters: [a, b]}\n"
               "    - {name: rest, prefix: /, clusters: [c]}\n", &e);
        assert_int_equal(e.n_errors, 0);
        assert_int_equal(e.n, 2);
        assert_string_equal(e.trees[1],
                "spec.listeners[0] => {@type: type.googleapis.com/envoy.config.route.v3.RouteConfiguration, name: l, "
                "virtual_hosts: [{name: l, domains: [*], routes: ["
                "{name: split, match: {prefix: /api}, route: {weighted_clusters: {clusters: [{name: a, weight: 1}, "
                "{name: b, weight: 1}]}}}, "
                "{name: rest, match: {prefix: /}, route: {cluster: c}}]}]}");
        expansion_done(&e);
}

static void test_errors_point_at_the_user(void **state) {
        Expansion e;
        expand("name: x\n"
               "extra: 1\n"
               "spec:\n"
               "  clusters:\n"
               "  - name: web\n"
               "    endpoints: []\n"
               "  - name: db\n"
               "    weight: 3\n"
               "    endpoints:\n"
               "    - {address: 10.0.0.2}\n"
               "  listeners:\n"
               "  - name: l\n"
               "    address: 0.0.0.0\n"
               "    routes: [{name: r, prefix: /}]\n", &e);
        assert_int_equal(e.n_errors, 5);
        assert_int_equal(e.diags.n, 5);
        assert_diag(&e, 0, "simple.yaml:2:1: error: unknown key \"extra\" in a simplified document (name, spec)");
        assert_diag(&e, 1, "simple.yaml:6:16: error: spec.clusters[0]: cluster \"web\" needs a non-empty list of endpoints");
        assert_diag(&e, 2, "simple.yaml:8:5: error: spec.clusters[1]: unknown key \"weight\" in a simplified cluster (name, endpoints)");
        assert_diag(&e, 3, "simple.yaml:10:7: error: spec.clusters[1].endpoints[0]: an endpoint needs \"address\" (a string) and \"port\"");
        assert_diag(&e, 4, "simple.yaml:12:5: error: spec.listeners[0]: a listener needs \"port\"");
        /* the listener stops at its first mistake: routes are not looked at */
        expansion_done(&e);
}

static void test_spec_must_be_a_mapping(void **state) {
        Expansion e;
        expand("spec: [1]\n", &e);
        assert_int_equal(e.n_errors, 1);
        assert_int_equal(e.n, 0);
        assert_diag(&e, 0, "simple.yaml:1:7: error: spec: \"spec\" must be a mapping with listeners and clusters");
        expansion_done(&e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_seed_config),
                cmocka_unit_test(test_dns_cluster_inline),
                cmocka_unit_test(test_ipv6_is_an_ip),
                cmocka_unit_test(test_several_clusters_are_weighted),
                cmocka_unit_test(test_errors_point_at_the_user),
                cmocka_unit_test(test_spec_must_be_a_mapping),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
