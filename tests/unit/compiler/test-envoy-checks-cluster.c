/* SPDX-License-Identifier: MIT */
/* envoy-checks-cluster: what Envoy's cluster factories and ClusterInfoImpl refuse. Each case compiles YAML
 * with the built-in schema and counts the diagnostics that name its rule: one
 * for the offending input, none for the passing one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "compile.h"

static Schema *schema;

static int group_setup(void **state) {
        return schema_load_builtin(&schema);
}

static int group_teardown(void **state) {
        schema = schema_free(schema);
        return 0;
}

typedef struct Case {
        const char *yaml;
        const char *rule;
        size_t want;           /* diagnostics naming rule */
        const char *message;   /* the first one's message, when want > 0 */
        uint32_t envoy_version; /* 0: the default */
} Case;

static size_t count_rule(const Case *t, char **ret_message) {
        DiagList diags = {};
        CompileResult rc = {};
        uint32_t saved = schema_envoy_version(schema);
        if (t->envoy_version)
                schema_set_envoy_version(schema, t->envoy_version);
        (void) compile_data(schema, "t.yaml", t->yaml, strlen(t->yaml), NULL, &diags, &rc);
        schema_set_envoy_version(schema, saved);
        size_t n = 0;
        for (size_t i = 0; i < diags.n; i++)
                if (diags.items[i].rule && streq(diags.items[i].rule, t->rule)) {
                        if (n++ == 0 && ret_message)
                                *ret_message = xstrdup(diags.items[i].message);
                }
        if (n != t->want)
                diag_list_print(&diags, stderr);
        diag_list_clear(&diags);
        compile_result_done(&rc);
        return n;
}

static void run_cases(const Case *cases, size_t n) {
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *message = NULL;
                size_t got = count_rule(&cases[i], &message);
                if (got != cases[i].want)
                        fail_msg("case %zu (%s): %zu diagnostics, expected %zu", i, cases[i].rule, got, cases[i].want);
                if (cases[i].want > 0 && cases[i].message)
                        assert_string_equal(message, cases[i].message);
        }
}

#define CLUSTER(BODY) "\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\nname: backend\n" BODY
#define ONE_HOST "load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: a.internal, port_value: 80}}}}]}]}\n"
#define TWO_HOSTS                                                                                               \
        "load_assignment: {endpoints: [{lb_endpoints: [\n"                                                      \
        "  {endpoint: {address: {socket_address: {address: a.internal, port_value: 80}}}},\n"                   \
        "  {endpoint: {address: {socket_address: {address: b.internal, port_value: 80}}}}]}]}\n"
#define POLICY                                                                                                  \
        "load_balancing_policy: {policies: [{typed_extension_config: {name: rr, typed_config: "                 \
        "{\"@type\": type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin}}}]}\n"

static void test_logical_dns(void **state) {
        static const Case cases[] = {
                { CLUSTER("type: LOGICAL_DNS\n" TWO_HOSTS), "envoy.cluster.logical-dns-single-host", 1,
                  "LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint" },
                { CLUSTER("type: LOGICAL_DNS\n"), "envoy.cluster.logical-dns-single-host", 1,
                  "LOGICAL_DNS clusters must have a single host" },
                { CLUSTER("type: 2\nload_assignment: {cluster_name: backend}\n"),
                  "envoy.cluster.logical-dns-single-host", 1,
                  "LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint" },
                { CLUSTER("type: LOGICAL_DNS\n" ONE_HOST), "envoy.cluster.logical-dns-single-host", 0 },
                { CLUSTER("type: STRICT_DNS\n" TWO_HOSTS), "envoy.cluster.logical-dns-single-host", 0 },
        };
        run_cases(cases, ELEMENTSOF(cases));
}

static void test_original_dst(void **state) {
        static const Case cases[] = {
                /* OriginalDstLbRestriction (cluster_manager_impl_test.cc) */
                { CLUSTER("type: ORIGINAL_DST\nlb_policy: ROUND_ROBIN\n"), "envoy.cluster.original-dst-lb-policy", 1,
                  "cluster: LB policy ROUND_ROBIN is not valid for Cluster type ORIGINAL_DST. Only "
                  "'CLUSTER_PROVIDED' is allowed with cluster type 'ORIGINAL_DST'" },
                { CLUSTER("type: ORIGINAL_DST\n"), "envoy.cluster.original-dst-lb-policy", 1,
                  "cluster: LB policy ROUND_ROBIN is not valid for Cluster type ORIGINAL_DST. Only "
                  "'CLUSTER_PROVIDED' is allowed with cluster type 'ORIGINAL_DST'" },
                { CLUSTER("type: 4\nlb_policy: 3\n"), "envoy.cluster.original-dst-lb-policy", 1,
                  "cluster: LB policy RANDOM is not valid for Cluster type ORIGINAL_DST. Only "
                  "'CLUSTER_PROVIDED' is allowed with cluster type 'ORIGINAL_DST'" },
                { CLUSTER("type: ORIGINAL_DST\nlb_policy: CLUSTER_PROVIDED\n"), "envoy.cluster.original-dst-lb-policy",
                  0 },
                /* BadConfigWithLoadAssignment (original_dst_cluster_test.cc) */
                { CLUSTER("type: ORIGINAL_DST\nlb_policy: CLUSTER_PROVIDED\nload_assignment: {cluster_name: x}\n"),
                  "envoy.cluster.original-dst-no-load-assignment", 1,
                  "ORIGINAL_DST clusters must have no load assignment configured" },
                { CLUSTER("type: ORIGINAL_DST\nlb_policy: CLUSTER_PROVIDED\n"),
                  "envoy.cluster.original-dst-no-load-assignment", 0 },
        };
        run_cases(cases, ELEMENTSOF(cases));
}

static void test_lb_policies(void **state) {
        static const Case cases[] = {
                { CLUSTER("lb_policy: CLUSTER_PROVIDED\n"), "envoy.cluster.cluster-provided-lb", 1,
                  "cluster manager: cluster provided LB specified but cluster 'backend' did not provide one. Check "
                  "cluster documentation." },
                { CLUSTER("type: EDS\nlb_policy: CLUSTER_PROVIDED\neds_cluster_config: {eds_config: {ads: {}}}\n"),
                  "envoy.cluster.cluster-provided-lb", 1,
                  "cluster manager: cluster provided LB specified but cluster 'backend' did not provide one. Check "
                  "cluster documentation." },
                { CLUSTER("lb_policy: CLUSTER_PROVIDED\n" POLICY), "envoy.cluster.cluster-provided-lb", 0 },
                { CLUSTER("cluster_type: {name: envoy.clusters.aggregate}\nlb_policy: CLUSTER_PROVIDED\n"),
                  "envoy.cluster.cluster-provided-lb", 0 },
                { CLUSTER("lb_policy: LOAD_BALANCING_POLICY_CONFIG\n"), "envoy.cluster.lb-policy-config-requires-policy",
                  1, "cluster: field load_balancing_policy need to be set" },
                { CLUSTER("lb_policy: LOAD_BALANCING_POLICY_CONFIG\n" POLICY),
                  "envoy.cluster.lb-policy-config-requires-policy", 0 },
                { CLUSTER(POLICY "lb_subset_config: {fallback_policy: ANY_ENDPOINT}\n"), "envoy.cluster.lb-policy-no-subset",
                  1, "cluster: load_balancing_policy cannot be combined with lb_subset_config" },
                { CLUSTER("lb_subset_config: {fallback_policy: ANY_ENDPOINT}\n"), "envoy.cluster.lb-policy-no-subset", 0 },
                { CLUSTER(POLICY "common_lb_config: {zone_aware_lb_config: {}}\n"),
                  "envoy.cluster.lb-policy-no-partial-common", 1,
                  "cluster: load_balancing_policy cannot be combined with partial fields (zone_aware_lb_config, "
                  "locality_weighted_lb_config, consistent_hashing_lb_config) of common_lb_config" },
                { CLUSTER(POLICY "common_lb_config: {healthy_panic_threshold: {value: 10}}\n"),
                  "envoy.cluster.lb-policy-no-partial-common", 0 },
        };
        run_cases(cases, ELEMENTSOF(cases));
}

static void test_cluster_info(void **state) {
        static const Case cases[] = {
                { CLUSTER("type: STRICT_DNS\neds_cluster_config: {service_name: x}\n"), "envoy.cluster.eds-config-type",
                  1, "eds_cluster_config set in a non-EDS cluster" },
                { CLUSTER("type: EDS\neds_cluster_config: {eds_config: {ads: {}}}\n"), "envoy.cluster.eds-config-type",
                  0 },
                { CLUSTER("health_checks:\n"
                          "- {timeout: 1s, interval: 1s, unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {}}\n"
                          "- {timeout: 2s, interval: 1s, unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {}}\n"),
                  "envoy.cluster.single-health-check", 1, "Multiple health checks not supported" },
                { CLUSTER("health_checks:\n"
                          "- {timeout: 1s, interval: 1s, unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {}}\n"),
                  "envoy.cluster.single-health-check", 0 },
                { CLUSTER("common_lb_config: {consistent_hashing_lb_config: {use_hostname_for_hashing: true}}\n"),
                  "envoy.cluster.hostname-hashing", 1,
                  "Cannot use hostname for consistent hashing loadbalancing for cluster of type: 'envoy.cluster.static'" },
                { CLUSTER("type: STRICT_DNS\ncommon_lb_config: {consistent_hashing_lb_config: {use_hostname_for_hashing: true}}\n"),
                  "envoy.cluster.hostname-hashing", 0 },
                { CLUSTER("load_assignment: {endpoints: [{leds_cluster_locality_config: {leds_config: {ads: {}}, "
                          "leds_collection_name: x}}]}\n"),
                  "envoy.cluster.static-no-leds", 1,
                  "LEDS is only supported when EDS is used. Static cluster backend cannot use LEDS." },
                { CLUSTER("type: EDS\neds_cluster_config: {eds_config: {ads: {}}}\nload_assignment: {endpoints: "
                          "[{leds_cluster_locality_config: {leds_config: {ads: {}}, leds_collection_name: x}}]}\n"),
                  "envoy.cluster.static-no-leds", 0 },
        };
        run_cases(cases, ELEMENTSOF(cases));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_logical_dns),
                cmocka_unit_test(test_original_dst),
                cmocka_unit_test(test_lb_policies),
                cmocka_unit_test(test_cluster_info),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
