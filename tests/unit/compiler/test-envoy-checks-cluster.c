/* SPDX-License-Identifier: MIT */
/* envoy-checks-cluster: what Envoy's cluster factories and ClusterInfoImpl refuse. Each case compiles YAML
 * with the built-in schema (check-cases.h): the offending input gives exactly the rule's diagnostic, the passing
 * one none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "check-cases.h"

#define CLUSTER(BODY) "\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\nname: backend\n" BODY
#define ONE_HOST "load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: a.internal, port_value: 80}}}}]}]}\n"
#define TWO_HOSTS                                                                                               \
        "load_assignment: {endpoints: [{lb_endpoints: [\n"                                                      \
        "  {endpoint: {address: {socket_address: {address: a.internal, port_value: 80}}}},\n"                   \
        "  {endpoint: {address: {socket_address: {address: b.internal, port_value: 80}}}}]}]}\n"
#define POLICY                                                                                                  \
        "load_balancing_policy: {policies: [{typed_extension_config: {name: rr, typed_config: "                 \
        "{\"@type\": type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin}}}]}\n"

#define ORIGINAL_DST_LB(POLICY_NAME)                                                                            \
        "cluster: LB policy " POLICY_NAME " is not valid for Cluster type ORIGINAL_DST. Only 'CLUSTER_PROVIDED' is " \
        "allowed with cluster type 'ORIGINAL_DST'"
#define NOT_PROVIDED                                                                                            \
        "cluster manager: cluster provided LB specified but cluster 'backend' did not provide one. Check cluster " \
        "documentation."
#define HEALTH_CHECK(TIMEOUT)                                                                                   \
        "- {timeout: " TIMEOUT ", interval: 1s, unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {}}\n"
#define LEDS "load_assignment: {endpoints: [{leds_cluster_locality_config: {leds_config: {ads: {}}, leds_collection_name: x}}]}\n"
#define EDS "type: EDS\neds_cluster_config: {eds_config: {ads: {}}}\n"
#define ALPN                                                                                                    \
        "typed_extension_protocol_options:\n"                                                                   \
        "  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:\n"                                           \
        "    \"@type\": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions\n"            \
        "    auto_config: {}\n"
#define DFP                                                                                                     \
        "lb_policy: CLUSTER_PROVIDED\n"                                                                         \
        "cluster_type:\n"                                                                                       \
        "  name: envoy.clusters.dynamic_forward_proxy\n"                                                        \
        "  typed_config:\n"                                                                                     \
        "    \"@type\": type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig\n" \
        "    dns_cache_config: {name: dfp, dns_lookup_family: V4_ONLY}\n"

static const CheckCase cases[] = {
        { "envoy.cluster.logical-dns-single-host", CLUSTER("type: LOGICAL_DNS\n" TWO_HOSTS),
          "LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint" },
        { "envoy.cluster.logical-dns-single-host", CLUSTER("type: LOGICAL_DNS\n"),
          "LOGICAL_DNS clusters must have a single host" },
        { "envoy.cluster.logical-dns-single-host", CLUSTER("type: 2\nload_assignment: {cluster_name: backend}\n"),
          "LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint" },
        { "envoy.cluster.logical-dns-single-host", CLUSTER("type: LOGICAL_DNS\n" ONE_HOST) },
        { "envoy.cluster.logical-dns-single-host", CLUSTER("type: STRICT_DNS\n" TWO_HOSTS) },

        /* OriginalDstLbRestriction (cluster_manager_impl_test.cc) */
        { "envoy.cluster.original-dst-lb-policy", CLUSTER("type: ORIGINAL_DST\nlb_policy: ROUND_ROBIN\n"),
          ORIGINAL_DST_LB("ROUND_ROBIN") },
        { "envoy.cluster.original-dst-lb-policy", CLUSTER("type: ORIGINAL_DST\n"), ORIGINAL_DST_LB("ROUND_ROBIN") },
        { "envoy.cluster.original-dst-lb-policy", CLUSTER("type: 4\nlb_policy: 3\n"), ORIGINAL_DST_LB("RANDOM") },
        { "envoy.cluster.original-dst-lb-policy", CLUSTER("type: ORIGINAL_DST\nlb_policy: CLUSTER_PROVIDED\n") },
        /* BadConfigWithLoadAssignment (original_dst_cluster_test.cc) */
        { "envoy.cluster.original-dst-no-load-assignment",
          CLUSTER("type: ORIGINAL_DST\nlb_policy: CLUSTER_PROVIDED\nload_assignment: {cluster_name: x}\n"),
          "ORIGINAL_DST clusters must have no load assignment configured" },
        { "envoy.cluster.original-dst-no-load-assignment", CLUSTER("type: ORIGINAL_DST\nlb_policy: CLUSTER_PROVIDED\n") },

        { "envoy.cluster.cluster-provided-lb", CLUSTER("lb_policy: CLUSTER_PROVIDED\n"), NOT_PROVIDED },
        { "envoy.cluster.cluster-provided-lb", CLUSTER("type: EDS\nlb_policy: CLUSTER_PROVIDED\neds_cluster_config: "
                                                       "{eds_config: {ads: {}}}\n"),
          NOT_PROVIDED },
        { "envoy.cluster.cluster-provided-lb", CLUSTER("lb_policy: CLUSTER_PROVIDED\n" POLICY) },
        { "envoy.cluster.cluster-provided-lb",
          CLUSTER("cluster_type: {name: envoy.clusters.aggregate}\nlb_policy: CLUSTER_PROVIDED\n") },
        { "envoy.cluster.lb-policy-config-requires-policy", CLUSTER("lb_policy: LOAD_BALANCING_POLICY_CONFIG\n"),
          "cluster: field load_balancing_policy need to be set" },
        { "envoy.cluster.lb-policy-config-requires-policy", CLUSTER("lb_policy: LOAD_BALANCING_POLICY_CONFIG\n" POLICY) },
        { "envoy.cluster.lb-policy-no-subset", CLUSTER(POLICY "lb_subset_config: {fallback_policy: ANY_ENDPOINT}\n"),
          "cluster: load_balancing_policy cannot be combined with lb_subset_config" },
        { "envoy.cluster.lb-policy-no-subset", CLUSTER("lb_subset_config: {fallback_policy: ANY_ENDPOINT}\n") },
        { "envoy.cluster.lb-policy-no-partial-common", CLUSTER(POLICY "common_lb_config: {zone_aware_lb_config: {}}\n"),
          "cluster: load_balancing_policy cannot be combined with partial fields (zone_aware_lb_config, "
          "locality_weighted_lb_config, consistent_hashing_lb_config) of common_lb_config" },
        { "envoy.cluster.lb-policy-no-partial-common",
          CLUSTER(POLICY "common_lb_config: {healthy_panic_threshold: {value: 10}}\n") },

        { "envoy.cluster.eds-config-type", CLUSTER("type: STRICT_DNS\neds_cluster_config: {service_name: x}\n"),
          "eds_cluster_config set in a non-EDS cluster" },
        { "envoy.cluster.eds-config-type", CLUSTER(EDS) },
        { "envoy.cluster.single-health-check", CLUSTER("health_checks:\n" HEALTH_CHECK("1s") HEALTH_CHECK("2s")),
          "Multiple health checks not supported" },
        { "envoy.cluster.single-health-check", CLUSTER("health_checks:\n" HEALTH_CHECK("1s")) },
        { "envoy.cluster.hostname-hashing",
          CLUSTER("common_lb_config: {consistent_hashing_lb_config: {use_hostname_for_hashing: true}}\n"),
          "Cannot use hostname for consistent hashing loadbalancing for cluster of type: 'envoy.cluster.static'" },
        { "envoy.cluster.hostname-hashing", CLUSTER("type: STRICT_DNS\ncommon_lb_config: {consistent_hashing_lb_config: "
                                                    "{use_hostname_for_hashing: true}}\n") },
        /* a custom cluster_type: Cluster.type() is STATIC for these checks
         * (Envoy's ClusterFactoryTest HostnameWithoutDNS) */
        { "envoy.cluster.hostname-hashing",
          CLUSTER(DFP "common_lb_config: {consistent_hashing_lb_config: {use_hostname_for_hashing: true}}\n"),
          "Cannot use hostname for consistent hashing loadbalancing for cluster of type: "
          "'envoy.clusters.dynamic_forward_proxy'" },
        { "envoy.cluster.hostname-hashing", CLUSTER(DFP) },
        { "envoy.cluster.eds-config-type", CLUSTER(DFP "eds_cluster_config: {service_name: x}\n"),
          "eds_cluster_config set in a non-EDS cluster" },
        { "envoy.cluster.alpn-transport-socket", CLUSTER(ALPN),
          "ALPN configured for cluster backend which has a non-ALPN transport socket: (the cluster)" },
        { "envoy.cluster.alpn-transport-socket",
          CLUSTER(ALPN "transport_socket: {name: t, typed_config: {\"@type\": "
                       "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer}}\n"),
          "ALPN configured for cluster backend which has a non-ALPN transport socket: (the cluster)" },
        { "envoy.cluster.alpn-transport-socket",
          CLUSTER(ALPN "transport_socket: {name: t, typed_config: {\"@type\": "
                       "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext}}\n") },
        { "envoy.cluster.static-no-leds", CLUSTER(LEDS),
          "LEDS is only supported when EDS is used. Static cluster backend cannot use LEDS." },
        { "envoy.cluster.static-no-leds", CLUSTER(EDS LEDS) },
};

int main(void) {
        return check_cases_main("envoy-checks-cluster", cases, ELEMENTSOF(cases), CHECK_OTHERS_IGNORED);
}
