/* SPDX-License-Identifier: MIT */
/* envoy-checks-address: IP literals where Envoy's IP resolver reads addresses, and CIDR ranges. Each case compiles YAML
 * with the built-in schema (check-cases.h): the offending input gives exactly the rule's diagnostic, the passing
 * one none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "check-cases.h"

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

#define RESPONSE_ENDPOINTS(LB_ENDPOINTS)                                                                        \
        "resources:\n"                                                                                          \
        "- \"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\n"                                   \
        "  name: backend\n"                                                                                     \
        "  load_assignment:\n"                                                                                  \
        "    endpoints:\n"                                                                                      \
        "    - lb_endpoints:\n" LB_ENDPOINTS

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

static const CheckCase cases[] = {
        { "envoy.address.listener-ip", LISTENER("{address: localhost, port_value: 80}"), "malformed IP address: localhost" },
        { "envoy.address.listener-ip", LISTENER("{address: \"[::1]\", port_value: 80}"), "malformed IP address: [::1]" },
        { "envoy.address.listener-ip", LISTENER("{address: \"fe80::1%1\", port_value: 80}") },
        { "envoy.address.listener-ip", LISTENER("{address: localhost, port_value: 80, resolver_name: custom}") },
        { "envoy.address.listener-ip",
          "\"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"
          "name: web\n"
          "address: {socket_address: {address: 0.0.0.0, port_value: 80}}\n"
          "additional_addresses: [{address: {socket_address: {address: web.internal, port_value: 80}}}]\n"
          "filter_chains: [{filters: []}]\n",
          "malformed IP address: web.internal" },

        { "envoy.address.named-port", LISTENER("{address: 0.0.0.0, named_port: http}"),
          "IP resolver can't handle port specifier type 4" },
        { "envoy.address.named-port", LISTENER("{address: 0.0.0.0, port_value: 80}") },
        { "envoy.address.named-port", STATIC_CLUSTER("", "{address: 10.0.0.1, named_port: http}"),
          "IP resolver can't handle port specifier type 4" HINT },
        { "envoy.address.named-port", STATIC_CLUSTER("type: STRICT_DNS\n", "{address: a.internal, named_port: http}") },

        /* absent type is STATIC */
        { "envoy.address.endpoint-ip", STATIC_CLUSTER("", "{address: localhost, port_value: 80}"),
          "malformed IP address: localhost" HINT },
        { "envoy.address.endpoint-ip", STATIC_CLUSTER("type: 0\n", "{address: localhost, port_value: 80}"),
          "malformed IP address: localhost" HINT },
        { "envoy.address.endpoint-ip", STATIC_CLUSTER("", "{address: 10.0.0.1, port_value: 80}") },
        { "envoy.address.endpoint-ip", STATIC_CLUSTER("type: STRICT_DNS\n", "{address: localhost, port_value: 80}") },
        { "envoy.address.endpoint-ip", STATIC_CLUSTER("type: LOGICAL_DNS\n", "{address: localhost, port_value: 80}") },
        { "envoy.address.endpoint-ip", STATIC_CLUSTER("", "{address: localhost, port_value: 80, resolver_name: custom}") },
        /* a custom cluster type is no STATIC cluster */
        { "envoy.address.endpoint-ip",
          STATIC_CLUSTER("cluster_type: {name: envoy.clusters.custom}\n", "{address: localhost, port_value: 80}") },
        /* an EDS resource: additional addresses too */
        { "envoy.address.endpoint-ip",
          "\"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\n"
          "cluster_name: backend\n"
          "endpoints:\n"
          "- lb_endpoints:\n"
          "  - endpoint:\n"
          "      address: {socket_address: {address: 10.0.0.1, port_value: 80}}\n"
          "      additional_addresses: [{address: {socket_address: {address: foo.bar.com, port_value: 80}}}]\n",
          "malformed IP address: foo.bar.com" HINT },
        { "envoy.address.endpoint-ip",
          "\"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\n"
          "cluster_name: backend\n"
          "endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: \"::1\"}}}}]}]\n" },
        /* in a response, endpoints are encoded while they are read */
        { "envoy.address.endpoint-ip",
          RESPONSE_ENDPOINTS("      - endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: 80}}}\n"
                             "      - endpoint: {address: {socket_address: {address: localhost, port_value: 80}}}\n"),
          "malformed IP address: localhost" HINT },
        { "envoy.address.endpoint-ip",
          RESPONSE_ENDPOINTS("      - endpoint: {address: {socket_address: {address: localhost, resolver_name: x}}}\n") },

        { "envoy.address.ipv4-compat", LISTENER("{address: \"::1\", port_value: 13333, ipv4_compat: true}"),
          "Only IPv6 address '::' or valid IPv4-mapped IPv6 address can set ipv4_compat: [::1]:13333" },
        { "envoy.address.ipv4-compat", LISTENER("{address: 0.0.0.0, port_value: 13333, ipv4_compat: true}"),
          "Only IPv6 address '::' or valid IPv4-mapped IPv6 address can set ipv4_compat: 0.0.0.0:13333" },
        { "envoy.address.ipv4-compat", LISTENER("{address: \"::\", port_value: 13333, ipv4_compat: true}") },
        { "envoy.address.ipv4-compat", LISTENER("{address: \"::0\", port_value: 13333, ipv4_compat: true}") },
        { "envoy.address.ipv4-compat", LISTENER("{address: \"::ffff:10.0.0.1\", ipv4_compat: true}") },
        { "envoy.address.ipv4-compat", LISTENER("{address: 0.0.0.0, port_value: 13333, ipv4_compat: false}") },
        /* before 1.22.0 */
        { "envoy.address.ipv4-compat", LISTENER("{address: 0.0.0.0, port_value: 13333, ipv4_compat: true}"), NULL,
          ENVOY_VERSION(21, 0) },

        { "envoy.address.internal-cidr", HCM("{address_prefix: 12345.12345.12345.12345, prefix_len: 24}"),
          "invalid ip/mask combo '12345.12345.12345.12345/24' (format is <ip>/<# mask bits>)" },
        { "envoy.address.internal-cidr", HCM("{address_prefix: localhost}"),
          "invalid ip/mask combo 'localhost/0' (format is <ip>/<# mask bits>)" },
        { "envoy.address.internal-cidr", HCM("{address_prefix: 10.0.0.0, prefix_len: 8}") },
        /* Envoy clamps an IPv4 prefix_len above 32 */
        { "envoy.address.internal-cidr", HCM("{address_prefix: 10.1.2.3, prefix_len: 99}") },
        { "envoy.address.internal-cidr", HCM("{address_prefix: \"fd00::\", prefix_len: {value: 8}}") },
};

int main(void) {
        return check_cases_main("envoy-checks-address", cases, ELEMENTSOF(cases), CHECK_OTHERS_IGNORED);
}
