/* SPDX-License-Identifier: MIT */
/* graph: what a resource names, checked over a node — a route naming a
 * cluster the node lacks is an error with rule graph.cluster at the route's
 * field path and line; the checks one resource makes alone (router filter,
 * weights) come out of compiling it. Resources are compiled from YAML with
 * the built-in schema, as the node build compiles them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "compile.h"
#include "graph.h"

static Schema *schema;

static int group_setup(void **state) {
        return schema_load_builtin(&schema);
}

static int group_teardown(void **state) {
        schema = schema_free(schema);
        return 0;
}

static const char route_yaml[] =
        "\"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
        "name: local_route\n"
        "virtual_hosts:\n"
        "- name: all\n"
        "  domains: [\"*\"]\n"
        "  routes:\n"
        "  - match: {prefix: /}\n"
        "    route: {cluster: web}\n";

static const char cluster_yaml[] =
        "\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\n"
        "name: web\n"
        "type: EDS\n"
        "eds_cluster_config: {service_name: web-eps}\n";

static void compile_ok(const char *file, const char *yaml, CompileResult *ret) {
        DiagList diags = {};
        int r = compile_data(schema, file, yaml, strlen(yaml), NULL, &diags, ret);
        if (r < 0)
                diag_list_print(&diags, stderr);
        assert_int_equal(r, 0);
        diag_list_clear(&diags);
}

typedef struct Node {
        const Resource *items[8];
        size_t n;
} Node;

static bool lookup(void *userdata, ResourceType t, const char *name) {
        const Node *node = userdata;
        for (size_t i = 0; i < node->n; i++)
                if (node->items[i]->type == t && streq(node->items[i]->name, name))
                        return true;
        return false;
}

static void names(void *userdata, ResourceType t, void (*add)(void *ctx, const char *name), void *ctx) {
        const Node *node = userdata;
        for (size_t i = 0; i < node->n; i++)
                if (node->items[i]->type == t)
                        add(ctx, node->items[i]->name);
}

static void test_facts_of_a_route(void **state) {
        CompileResult rc = {};
        compile_ok("rds.yaml", route_yaml, &rc);
        const Resource *r = &rc.resources.items[0];
        assert_int_equal(r->facts.n_refs, 1);
        const ResourceRef *ref = &r->facts.refs[0];
        assert_int_equal(ref->type, RESOURCE_CLUSTER);
        assert_string_equal(ref->name, "web");
        assert_string_equal(ref->path, "virtual_hosts[0].routes[0].route.cluster");
        assert_int_equal(ref->line, 8);
        assert_int_equal(ref->column, 22);
        compile_result_done(&rc);
}

static void test_missing_cluster(void **state) {
        CompileResult rc = {};
        compile_ok("rds.yaml", route_yaml, &rc);
        Node node = { { &rc.resources.items[0] }, 1 };
        DiagList diags = {};
        graph_check(node.items, node.n, lookup, names, &node, "edge-1", false, &diags);
        assert_int_equal(diags.n, 1);
        assert_int_equal(diags.n_errors, 1);
        const Diag *d = &diags.items[0];
        assert_string_equal(d->rule, "graph.cluster");
        assert_string_equal(d->path, "virtual_hosts[0].routes[0].route.cluster");
        _cleanup_free_ char *s = diag_format(d);
        assert_string_equal(s, "rds.yaml:8:22: error: virtual_hosts[0].routes[0].route.cluster: no cluster \"web\" for node "
                               "edge-1 (RouteConfiguration \"local_route\" names it) [graph.cluster]");
        diag_list_clear(&diags);
        compile_result_done(&rc);
}

/* A name one edit from the node's own: "did you mean", for that type
 * only; none without a list of names, or when two are as near. */
static void test_missing_cluster_did_you_mean(void **state) {
        _cleanup_free_ char *webb = xstrdup(route_yaml);
        memcpy(strstr(webb, "{cluster: web}"), "{cluster: wbe}", 14);
        CompileResult rc = {}, cc = {}, ec = {};
        compile_ok("rds.yaml", webb, &rc);
        compile_ok("cds.yaml", cluster_yaml, &cc);
        /* a ClusterLoadAssignment named "web" is no cluster */
        compile_ok("eds.yaml",
                   "\"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\n"
                   "cluster_name: web-eps\n", &ec);
        Node node = { { &rc.resources.items[0], &cc.resources.items[0], &ec.resources.items[0] }, 3 };
        DiagList diags = {};
        graph_check(node.items, node.n, lookup, names, &node, "edge-1", false, &diags);
        assert_int_equal(diags.n, 1);
        _cleanup_free_ char *s = diag_format(&diags.items[0]);
        assert_string_equal(s, "rds.yaml:8:22: error: virtual_hosts[0].routes[0].route.cluster: no cluster \"wbe\" for node "
                               "edge-1 (RouteConfiguration \"local_route\" names it); did you mean \"web\"? [graph.cluster]");
        diag_list_clear(&diags);
        graph_check(node.items, node.n, lookup, NULL, &node, "edge-1", false, &diags);
        _cleanup_free_ char *s2 = diag_format(&diags.items[0]);
        assert_null(strstr(s2, "did you mean"));
        diag_list_clear(&diags);
        compile_result_done(&rc);
        compile_result_done(&cc);
        compile_result_done(&ec);
}

static void test_present_cluster_and_endpoints(void **state) {
        CompileResult rc = {}, cc = {};
        compile_ok("rds.yaml", route_yaml, &rc);
        compile_ok("cds.yaml", cluster_yaml, &cc);
        Node node = { { &rc.resources.items[0], &cc.resources.items[0] }, 2 };
        DiagList diags = {};
        graph_check(node.items, node.n, lookup, names, &node, "edge-1", false, &diags);
        /* the route is satisfied; the EDS cluster's endpoints are missing */
        assert_int_equal(diags.n, 1);
        _cleanup_free_ char *s = diag_format(&diags.items[0]);
        assert_string_equal(s, "cds.yaml:4:36: error: eds_cluster_config.service_name: no ClusterLoadAssignment (the EDS "
                               "cluster's endpoints) \"web-eps\" for node edge-1 (Cluster \"web\" names it) [graph.endpoints]");
        diag_list_clear(&diags);
        compile_result_done(&rc);
        compile_result_done(&cc);
}

static void test_unused_endpoints_warned_when_whole(void **state) {
        CompileResult ec = {};
        compile_ok("eds.yaml",
                   "\"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\n"
                   "cluster_name: orphan\n", &ec);
        Node node = { { &ec.resources.items[0] }, 1 };
        DiagList diags = {};
        graph_check(node.items, node.n, lookup, names, &node, "edge-1", false, &diags);
        assert_int_equal(diags.n, 0);
        graph_check(node.items, node.n, lookup, names, &node, "edge-1", true, &diags);
        assert_int_equal(diags.n, 1);
        assert_int_equal(diags.n_warnings, 1);
        _cleanup_free_ char *s = diag_format(&diags.items[0]);
        assert_string_equal(s, "eds.yaml:1:1: warning: ClusterLoadAssignment \"orphan\" is used by no EDS cluster of node "
                               "edge-1 [graph.unused-endpoints]");
        diag_list_clear(&diags);
        compile_result_done(&ec);
}

static const char listener_fmt[] =
        "\"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"
        "name: %s\n"
        "address: {socket_address: {address: 0.0.0.0, port_value: 80}}\n"
        "filter_chains: [{filters: []}]\n"; /* Envoy needs one (envoy.listener.no-filter-chains) */

static void test_two_listeners_one_address(void **state) {
        _cleanup_free_ char *a = xasprintf(listener_fmt, "a"), *b = xasprintf(listener_fmt, "b");
        CompileResult la = {}, lb = {};
        compile_ok("a.yaml", a, &la);
        compile_ok("b.yaml", b, &lb);
        assert_string_equal(la.resources.items[0].facts.address, "tcp 0.0.0.0:80");
        Node node = { { &la.resources.items[0], &lb.resources.items[0] }, 2 };
        DiagList diags = {};
        graph_check(node.items, node.n, lookup, names, &node, "edge-1", false, &diags);
        assert_int_equal(diags.n, 1);
        _cleanup_free_ char *s = diag_format(&diags.items[0]);
        assert_string_equal(s, "b.yaml:3:27: error: listener \"b\" binds tcp 0.0.0.0:80, which listener \"a\" binds too "
                               "(a.yaml:3:27) [graph.listener-address]");
        diag_list_clear(&diags);
        compile_result_done(&la);
        compile_result_done(&lb);
}

static void test_no_router_filter(void **state) {
        static const char yaml[] =
                "\"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"
                "name: l\n"
                "filter_chains:\n"
                "- filters:\n"
                "  - name: hcm\n"
                "    typed_config:\n"
                "      \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n"
                "      stat_prefix: l\n"
                "      route_config: {name: r}\n"
                "      http_filters: []\n";
        DiagList diags = {};
        CompileResult res = {};
        assert_int_equal(compile_data(schema, "l.yaml", yaml, strlen(yaml), NULL, &diags, &res), -EBADMSG);
        assert_int_equal(res.resources.n, 0);
        assert_int_equal(diags.n_errors, 1);
        assert_string_equal(diags.items[0].rule, "graph.router-filter");
        assert_string_equal(diags.items[0].path, "filter_chains[0].filters[0].typed_config.http_filters");
        assert_int_equal(diags.items[0].line, 10);
        diag_list_clear(&diags);
        compile_result_done(&res);
}

/* Whether compiling yaml reports rule (the diagnostics printed when that
 * is not what the test wants). */
static bool reports(const char *yaml, const char *rule, bool want) {
        DiagList diags = {};
        CompileResult rc = {};
        (void) compile_data(schema, "lds.yaml", yaml, strlen(yaml), NULL, &diags, &rc);
        bool found = false;
        for (size_t i = 0; i < diags.n; i++)
                found = found || (diags.items[i].rule && streq(diags.items[i].rule, rule));
        if (found != want)
                diag_list_print(&diags, stderr);
        diag_list_clear(&diags);
        compile_result_done(&rc);
        return found;
}

/* Two chains with one filter_chain_match are graph.filter-chain-match,
 * unless a filter_chain_matcher chooses the chains (Envoy then ignores
 * filter_chain_match). */
static void test_filter_chain_match_unless_matcher(void **state) {
        static const char chains[] =
                "\"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"
                "name: l\n"
                "address: {socket_address: {address: 0.0.0.0, port_value: 80}}\n"
                "filter_chains:\n"
                "- {name: a, filter_chain_match: {server_names: [x.example]}}\n"
                "- {name: b, filter_chain_match: {server_names: [x.example]}}\n";
        static const char matcher[] =
                "filter_chain_matcher:\n"
                "  on_no_match: {action: {name: a, typed_config: {\"@type\": type.googleapis.com/google.protobuf.StringValue, value: a}}}\n";
        for (int with_matcher = 0; with_matcher <= 1; with_matcher++) {
                _cleanup_free_ char *yaml = xasprintf("%s%s", chains, with_matcher ? matcher : "");
                assert_int_equal(reports(yaml, "graph.filter-chain-match", !with_matcher), !with_matcher);
        }
}

/* The router as Envoy finds it: wrapped in a TypedStruct (either one),
 * allowed by an ECDS config_discovery, or the one filter of http_filters
 * written as a mapping; a TypedStruct of another type is no router. */
static void test_router_forms(void **state) {
        static const struct {
                const char *filters;
                bool router;
        } cases[] = {
                { "[{name: r, typed_config: {\"@type\": type.googleapis.com/xds.type.v3.TypedStruct, type_url: "
                  "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}]", true },
                { "[{name: r, typed_config: {\"@type\": type.googleapis.com/udpa.type.v1.TypedStruct, type_url: "
                  "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}]", true },
                { "[{name: r, config_discovery: {config_source: {ads: {}}, type_urls: "
                  "[type.googleapis.com/envoy.extensions.filters.http.router.v3.Router]}}]", true },
                { "{name: r, typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}",
                  true },
                { "[{name: r, typed_config: {\"@type\": type.googleapis.com/xds.type.v3.TypedStruct, type_url: "
                  "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors}}]", false },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *yaml = xasprintf(
                        "\"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"
                        "name: l\n"
                        "address: {socket_address: {address: 0.0.0.0, port_value: 80}}\n"
                        "filter_chains:\n"
                        "- filters:\n"
                        "  - name: hcm\n"
                        "    typed_config:\n"
                        "      \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n"
                        "      stat_prefix: s\n"
                        "      route_config: {name: rc}\n"
                        "      http_filters: %s\n",
                        cases[i].filters);
                assert_int_equal(reports(yaml, "graph.router-filter", !cases[i].router), !cases[i].router);
        }
}

static void test_config_source_is_remote(void **state) {
        assert_false(config_source_is_remote(NULL));
        /* the trees come from the YAML of a cluster's eds_config */
        static const struct {
                const char *yaml;
                bool remote;
        } cases[] = {
                { "{ads: {}}", true },
                { "{api_config_source: {api_type: GRPC}}", true },
                { "{self: {}}", true },
                { "{path: /x}", false },
                { "{path_config_source: {path: /x}}", false },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *yaml = xasprintf(
                        "\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\n"
                        "name: c\ntype: EDS\neds_cluster_config: {eds_config: %s}\n", cases[i].yaml);
                CompileResult cc = {};
                compile_ok("c.yaml", yaml, &cc);
                /* a remote eds_config names no endpoints of this node */
                assert_int_equal(cc.resources.items[0].facts.n_refs, cases[i].remote ? 0 : 1);
                compile_result_done(&cc);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_facts_of_a_route),
                cmocka_unit_test(test_missing_cluster),
                cmocka_unit_test(test_missing_cluster_did_you_mean),
                cmocka_unit_test(test_present_cluster_and_endpoints),
                cmocka_unit_test(test_unused_endpoints_warned_when_whole),
                cmocka_unit_test(test_two_listeners_one_address),
                cmocka_unit_test(test_no_router_filter),
                cmocka_unit_test(test_config_source_is_remote),
                cmocka_unit_test(test_filter_chain_match_unless_matcher),
                cmocka_unit_test(test_router_forms),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
