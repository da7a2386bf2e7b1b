/* SPDX-License-Identifier: MIT */
/* envoy-checks-address: IP literals where Envoy's IP resolver reads addresses, and CIDR ranges. Each case compiles YAML
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

#define LISTENER(SOCKET)                                                                                        \
        "\"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"                                   \
        "name: web\n"                                                                                           \
        "address: {socket_address: " SOCKET "}\n"                                                               \
        "filter_chains: [{filters: []}]\n"

#define STATIC_CLUSTER(TYPE, SOCKET)                                                                            \
        "\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\n"                                     \
        "name: backend\n" TYPE                                                                                  \
        "load_assignment:\n"                                                                                    \
        "  cluster_name: backend\n"                                                                             \
        "  endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: " SOCKET "}}}]}]\n"

#define HINT ". Consider setting resolver_name or setting cluster type to 'STRICT_DNS' or 'LOGICAL_DNS'"

static void test_listener_ip(void **state) {
        static const Case cases[] = {
                { LISTENER("{address: localhost, port_value: 80}"), "envoy.address.listener-ip", 1,
                  "malformed IP address: localhost" },
                { LISTENER("{address: \"[::1]\", port_value: 80}"), "envoy.address.listener-ip", 1,
                  "malformed IP address: [::1]" },
                { LISTENER("{address: \"fe80::1%1\", port_value: 80}"), "envoy.address.listener-ip", 0 },
                { LISTENER("{address: localhost, port_value: 80, resolver_name: custom}"), "envoy.address.listener-ip",
                  0 },
                { "\"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"
                  "name: web\n"
                  "address: {socket_address: {address: 0.0.0.0, port_value: 80}}\n"
                  "additional_addresses: [{address: {socket_address: {address: web.internal, port_value: 80}}}]\n"
                  "filter_chains: [{filters: []}]\n",
                  "envoy.address.listener-ip", 1, "malformed IP address: web.internal" },
        };
        run_cases(cases, ELEMENTSOF(cases));
}

static void test_named_port(void **state) {
        static const Case cases[] = {
                { LISTENER("{address: 0.0.0.0, named_port: http}"), "envoy.address.named-port", 1,
                  "IP resolver can't handle port specifier type 4" },
                { LISTENER("{address: 0.0.0.0, port_value: 80}"), "envoy.address.named-port", 0 },
                { STATIC_CLUSTER("", "{address: 10.0.0.1, named_port: http}"), "envoy.address.named-port", 1,
                  "IP resolver can't handle port specifier type 4" HINT },
                { STATIC_CLUSTER("type: STRICT_DNS\n", "{address: a.internal, named_port: http}"),
                  "envoy.address.named-port", 0 },
        };
        run_cases(cases, ELEMENTSOF(cases));
}

static void test_endpoint_ip(void **state) {
        static const Case cases[] = {
                /* absent type is STATIC */
                { STATIC_CLUSTER("", "{address: localhost, port_value: 80}"), "envoy.address.endpoint-ip", 1,
                  "malformed IP address: localhost" HINT },
                { STATIC_CLUSTER("type: 0\n", "{address: localhost, port_value: 80}"), "envoy.address.endpoint-ip", 1,
                  "malformed IP address: localhost" HINT },
                { STATIC_CLUSTER("", "{address: 10.0.0.1, port_value: 80}"), "envoy.address.endpoint-ip", 0 },
                { STATIC_CLUSTER("type: STRICT_DNS\n", "{address: localhost, port_value: 80}"),
                  "envoy.address.endpoint-ip", 0 },
                { STATIC_CLUSTER("type: LOGICAL_DNS\n", "{address: localhost, port_value: 80}"),
                  "envoy.address.endpoint-ip", 0 },
                { STATIC_CLUSTER("", "{address: localhost, port_value: 80, resolver_name: custom}"),
                  "envoy.address.endpoint-ip", 0 },
                /* a custom cluster type is no STATIC cluster */
                { STATIC_CLUSTER("cluster_type: {name: envoy.clusters.custom}\n", "{address: localhost, port_value: 80}"),
                  "envoy.address.endpoint-ip", 0 },
                /* an EDS resource: additional addresses too */
                { "\"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\n"
                  "cluster_name: backend\n"
                  "endpoints:\n"
                  "- lb_endpoints:\n"
                  "  - endpoint:\n"
                  "      address: {socket_address: {address: 10.0.0.1, port_value: 80}}\n"
                  "      additional_addresses: [{address: {socket_address: {address: foo.bar.com, port_value: 80}}}]\n",
                  "envoy.address.endpoint-ip", 1, "malformed IP address: foo.bar.com" HINT },
                { "\"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\n"
                  "cluster_name: backend\n"
                  "endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: \"::1\"}}}}]}]\n",
                  "envoy.address.endpoint-ip", 0 },
                /* in a response, endpoints are encoded while they are read */
                { "resources:\n"
                  "- \"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\n"
                  "  name: backend\n"
                  "  load_assignment:\n"
                  "    endpoints:\n"
                  "    - lb_endpoints:\n"
                  "      - endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: 80}}}\n"
                  "      - endpoint: {address: {socket_address: {address: localhost, port_value: 80}}}\n",
                  "envoy.address.endpoint-ip", 1, "malformed IP address: localhost" HINT },
                { "resources:\n"
                  "- \"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\n"
                  "  name: backend\n"
                  "  load_assignment:\n"
                  "    endpoints:\n"
                  "    - lb_endpoints:\n"
                  "      - endpoint: {address: {socket_address: {address: localhost, resolver_name: x}}}\n",
                  "envoy.address.endpoint-ip", 0 },
        };
        run_cases(cases, ELEMENTSOF(cases));
}

static void test_ipv4_compat(void **state) {
        static const Case cases[] = {
                { LISTENER("{address: \"::1\", port_value: 13333, ipv4_compat: true}"), "envoy.address.ipv4-compat", 1,
                  "Only IPv6 address '::' or valid IPv4-mapped IPv6 address can set ipv4_compat: [::1]:13333" },
                { LISTENER("{address: 0.0.0.0, port_value: 13333, ipv4_compat: true}"), "envoy.address.ipv4-compat",
                  1, "Only IPv6 address '::' or valid IPv4-mapped IPv6 address can set ipv4_compat: 0.0.0.0:13333" },
                { LISTENER("{address: \"::\", port_value: 13333, ipv4_compat: true}"), "envoy.address.ipv4-compat", 0 },
                { LISTENER("{address: \"::0\", port_value: 13333, ipv4_compat: true}"), "envoy.address.ipv4-compat",
                  0 },
                { LISTENER("{address: \"::ffff:10.0.0.1\", ipv4_compat: true}"), "envoy.address.ipv4-compat", 0 },
                { LISTENER("{address: 0.0.0.0, port_value: 13333, ipv4_compat: false}"), "envoy.address.ipv4-compat",
                  0 },
                /* before 1.22.0 */
                { LISTENER("{address: 0.0.0.0, port_value: 13333, ipv4_compat: true}"), "envoy.address.ipv4-compat",
                  0, NULL, ENVOY_VERSION(21, 0) },
        };
        run_cases(cases, ELEMENTSOF(cases));
}

#define HCM(RANGE)                                                                                              \
        "\"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"                                   \
        "name: web\n"                                                                                           \
        "address: {socket_address: {address: 0.0.0.0, port_value: 80}}\n"                                      \
        "filter_chains:\n"                                                                                      \
        "- filters:\n"                                                                                          \
        "  - name: hcm\n"                                                                                       \
        "    typed_config:\n"                                                                                   \
        "      \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."      \
        "HttpConnectionManager\n"                                                                               \
        "      stat_prefix: web\n"                                                                              \
        "      rds: {route_config_name: web, config_source: {ads: {}}}\n"                                       \
        "      internal_address_config: {cidr_ranges: [" RANGE "]}\n"                                           \
        "      http_filters:\n"                                                                                 \
        "      - name: router\n"                                                                                \
        "        typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}\n"

static void test_internal_cidr(void **state) {
        static const Case cases[] = {
                { HCM("{address_prefix: 12345.12345.12345.12345, prefix_len: 24}"), "envoy.address.internal-cidr", 1,
                  "invalid ip/mask combo '12345.12345.12345.12345/24' (format is <ip>/<# mask bits>)" },
                { HCM("{address_prefix: localhost}"), "envoy.address.internal-cidr", 1,
                  "invalid ip/mask combo 'localhost/0' (format is <ip>/<# mask bits>)" },
                { HCM("{address_prefix: 10.0.0.0, prefix_len: 8}"), "envoy.address.internal-cidr", 0 },
                /* Envoy clamps an IPv4 prefix_len above 32 */
                { HCM("{address_prefix: 10.1.2.3, prefix_len: 99}"), "envoy.address.internal-cidr", 0 },
                { HCM("{address_prefix: \"fd00::\", prefix_len: {value: 8}}"), "envoy.address.internal-cidr", 0 },
        };
        run_cases(cases, ELEMENTSOF(cases));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_listener_ip),   cmocka_unit_test(test_named_port),
                cmocka_unit_test(test_endpoint_ip),   cmocka_unit_test(test_ipv4_compat),
                cmocka_unit_test(test_internal_cidr),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
