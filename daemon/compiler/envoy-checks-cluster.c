/* SPDX-License-Identifier: MIT */
/* Envoy's load-time checks: the cluster family (see envoy-checks.h and
 * docs/envoy-checks/cluster.md): what the cluster factories
 * (source/extensions/clusters/), ClusterFactoryImplBase, ClusterInfoImpl
 * (source/common/upstream/upstream_impl.cc) and the cluster manager refuse
 * in one Cluster. A custom cluster_type (aggregate, dynamic forward proxy,
 * ...) has no `type`: the STATIC default applies only without one. */
#include "envoy-checks.h"

enum {
        TYPE_STATIC = 0,
        TYPE_STRICT_DNS = 1,
        TYPE_LOGICAL_DNS = 2,
        TYPE_EDS = 3,
        TYPE_ORIGINAL_DST = 4,
};

/* Cluster.LbPolicy, as LbPolicy_Name prints it (4 is reserved) */
static const char *const lb_policy_names[] = {
        "ROUND_ROBIN", "LEAST_REQUEST", "RING_HASH", "RANDOM", NULL, "MAGLEV", "CLUSTER_PROVIDED",
        "LOAD_BALANCING_POLICY_CONFIG",
};
#define LB_CLUSTER_PROVIDED 6
#define LB_LOAD_BALANCING_POLICY_CONFIG 7

/* The lb_policy number (absent: ROUND_ROBIN), or -1. */
static int lb_policy(const YamlNode *node) {
        for (int i = 0; i < (int) ELEMENTSOF(lb_policy_names); i++)
                if (lb_policy_names[i] && check_enum_is(node, "lb_policy", lb_policy_names[i], i, i == 0))
                        return i;
        return -1;
}

/* The node to point at for `field`, else the cluster. */
static const YamlNode *at(const YamlNode *node, const char *field) {
        const YamlNode *v = yaml_map_get_field(node, field);
        return v ? v : node;
}

static const char *cluster_name(const YamlNode *node) {
        const char *n = check_scalar(node, "name");
        return n ? n : "";
}

/* logical_dns_cluster.cc (and dns_cluster.cc, the merged DNS cluster) */
static void logical_dns(CheckContext *c, const YamlNode *node) {
        const YamlNode *la = yaml_map_get_field(node, "load_assignment");
        bool has = la && la->kind != YAML_KIND_NULL;
        const YamlNode *eps = has ? yaml_map_get_field(la, "endpoints") : NULL;
        uint32_t n = check_list_len(eps);
        if (n == 1 && check_list_len(yaml_map_get_field(check_list_at(eps, 0), "lb_endpoints")) == 1)
                return;
        if (has)
                check_error(c, la, "load_assignment", "envoy.cluster.logical-dns-single-host",
                            "LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint");
        else
                check_error(c, at(node, "type"), "type", "envoy.cluster.logical-dns-single-host",
                            "LOGICAL_DNS clusters must have a single host");
}

/* original_dst_cluster.cc, OriginalDstClusterFactory::createClusterImpl */
static void original_dst(CheckContext *c, const YamlNode *node) {
        int lb = lb_policy(node);
        if (lb >= 0 && lb != LB_CLUSTER_PROVIDED)
                check_error(c, at(node, check_has(node, "lb_policy") ? "lb_policy" : "type"),
                            check_has(node, "lb_policy") ? "lb_policy" : "type",
                            "envoy.cluster.original-dst-lb-policy",
                            "cluster: LB policy %s is not valid for Cluster type ORIGINAL_DST. Only 'CLUSTER_PROVIDED' "
                            "is allowed with cluster type 'ORIGINAL_DST'",
                            lb_policy_names[lb]);
        if (check_has(node, "load_assignment"))
                check_error(c, at(node, "load_assignment"), "load_assignment",
                            "envoy.cluster.original-dst-no-load-assignment",
                            "ORIGINAL_DST clusters must have no load assignment configured");
}

/* upstream_impl.cc, ClusterInfoImpl::configureLbPolicies: entered when
 * load_balancing_policy is set or lb_policy is LOAD_BALANCING_POLICY_CONFIG;
 * lb_policy is then ignored. */
static void lb_policies(CheckContext *c, const YamlNode *node, int lb) {
        bool has_policy = check_has(node, "load_balancing_policy");
        if (!has_policy && lb != LB_LOAD_BALANCING_POLICY_CONFIG)
                return;
        if (!has_policy) {
                check_error(c, at(node, "lb_policy"), "lb_policy", "envoy.cluster.lb-policy-config-requires-policy",
                            "cluster: field load_balancing_policy need to be set");
                return;
        }
        if (check_has(node, "lb_subset_config")) {
                check_error(c, at(node, "lb_subset_config"), "lb_subset_config", "envoy.cluster.lb-policy-no-subset",
                            "cluster: load_balancing_policy cannot be combined with lb_subset_config");
                return;
        }
        const YamlNode *common = check_map(node, "common_lb_config");
        static const char *const partial[] = { "zone_aware_lb_config", "locality_weighted_lb_config",
                                               "consistent_hashing_lb_config" };
        for (size_t i = 0; i < ELEMENTSOF(partial); i++)
                if (check_has(common, partial[i])) {
                        _cleanup_free_ char *path = xasprintf("common_lb_config.%s", partial[i]);
                        check_error(c, yaml_map_get_field(common, partial[i]), path,
                                    "envoy.cluster.lb-policy-no-partial-common",
                                    "cluster: load_balancing_policy cannot be combined with partial fields "
                                    "(zone_aware_lb_config, locality_weighted_lb_config, consistent_hashing_lb_config) "
                                    "of common_lb_config");
                        return;
                }
}

#define HTTP_PROTOCOL_OPTIONS "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
#define UPSTREAM_TLS "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
#define RAW_BUFFER "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"

/* HttpProtocolOptions.auto_config picks HTTP/1 or HTTP/2 by ALPN, which
 * the transport socket must do: TLS does, raw_buffer (the default) does
 * not; other sockets (wrappers) are left alone. upstream_impl.cc,
 * ClusterImplBase: "ALPN configured for cluster {} which has a non-ALPN
 * transport socket: {}" ({} = the cluster's DebugString, left out). */
static void alpn_transport(CheckContext *c, const YamlNode *node) {
        const YamlNode *opts = check_map(node, "typed_extension_protocol_options");
        const YamlNode *auto_config = NULL, *key = NULL;
        for (uint32_t i = 0; opts && i < opts->n && !auto_config; i++) {
                const YamlNode *v = opts->items[2 * i + 1];
                const char *t = check_scalar(v, "@type");
                if (t && streq(t, HTTP_PROTOCOL_OPTIONS) && check_has(v, "auto_config")) {
                        auto_config = yaml_map_get_field(v, "auto_config");
                        key = opts->items[2 * i];
                }
        }
        if (!auto_config)
                return;
        const YamlNode *ts = check_map(node, "transport_socket");
        const char *t = ts ? check_scalar(check_map(ts, "typed_config"), "@type") : NULL;
        if (ts && !(t && streq(t, RAW_BUFFER)))
                return; /* TLS, or a socket whose ALPN support fsxds does not know */
        const char *name = check_scalar(node, "name");
        _cleanup_free_ char *field = ts ? xstrdup("transport_socket")
                                        : xasprintf("typed_extension_protocol_options[\"%s\"].auto_config", key->str);
        check_error(c, ts ? ts : auto_config, field, "envoy.cluster.alpn-transport-socket",
                    "ALPN configured for cluster %s which has a non-ALPN transport socket: (the cluster)",
                    name ? name : "");
}

static void cluster(CheckContext *c, const YamlNode *node) {
        static const char *const factory_names[] = { "envoy.cluster.static", "envoy.cluster.strict_dns",
                                                      "envoy.cluster.logical_dns", "envoy.cluster.eds",
                                                      "envoy.cluster.original_dst" };
        int type = check_cluster_type(node); /* -1: custom or unknown */
        int lb = lb_policy(node);
        /* a custom cluster_type: Cluster.type() is then its default, STATIC,
         * for the checks that read it, and the factory is the custom one's */
        const char *custom = check_has(node, "cluster_type") ? check_scalar(check_map(node, "cluster_type"), "name") : NULL;

        /* cluster_factory_impl.cc, ClusterFactoryImplBase::create (Envoy's
         * HostnameWithoutDNS test uses a custom cluster_type) */
        const YamlNode *chc = check_map(check_map(node, "common_lb_config"), "consistent_hashing_lb_config");
        if (((type >= 0 && type != TYPE_STRICT_DNS) || custom) && check_true(chc, "use_hostname_for_hashing"))
                check_error(c, yaml_map_get_field(chc, "use_hostname_for_hashing"),
                            "common_lb_config.consistent_hashing_lb_config.use_hostname_for_hashing",
                            "envoy.cluster.hostname-hashing",
                            "Cannot use hostname for consistent hashing loadbalancing for cluster of type: '%s'",
                            custom ? custom : factory_names[type]);
        const YamlNode *hcs = yaml_map_get_field(node, "health_checks");
        if (check_list_len(hcs) > 1)
                check_error(c, hcs, "health_checks", "envoy.cluster.single-health-check",
                            "Multiple health checks not supported");

        /* upstream_impl.cc, ClusterInfoImpl */
        if (((type >= 0 && type != TYPE_EDS) || custom) && check_has(node, "eds_cluster_config"))
                check_error(c, at(node, "eds_cluster_config"), "eds_cluster_config", "envoy.cluster.eds-config-type",
                            "eds_cluster_config set in a non-EDS cluster");
        lb_policies(c, node, lb);
        alpn_transport(c, node);

        /* the factories */
        if (type == TYPE_LOGICAL_DNS)
                logical_dns(c, node);
        else if (type == TYPE_ORIGINAL_DST)
                original_dst(c, node);
        else if (type == TYPE_STATIC) {
                const YamlNode *eps = yaml_map_get_field(check_map(node, "load_assignment"), "endpoints");
                for (uint32_t i = 0; i < check_list_len(eps); i++) {
                        const YamlNode *leds = yaml_map_get_field(check_list_at(eps, i), "leds_cluster_locality_config");
                        if (!leds || leds->kind == YAML_KIND_NULL)
                                continue;
                        _cleanup_free_ char *item = check_list_path(eps, "load_assignment.endpoints", i);
                        _cleanup_free_ char *path = xasprintf("%s.leds_cluster_locality_config", item);
                        check_error(c, leds, path, "envoy.cluster.static-no-leds",
                                    "LEDS is only supported when EDS is used. Static cluster %s cannot use LEDS.",
                                    cluster_name(node));
                        break;
                }
        }

        /* cluster_manager_impl.cc, loadCluster: STATIC, STRICT_DNS,
         * LOGICAL_DNS and EDS provide no load balancer. With
         * load_balancing_policy, lb_policy is not used; with lb_subset_config
         * older releases said something else (not checked). */
        if (lb == LB_CLUSTER_PROVIDED && type >= 0 && type != TYPE_ORIGINAL_DST &&
            !check_has(node, "load_balancing_policy") && !check_has(node, "lb_subset_config"))
                check_error(c, at(node, "lb_policy"), "lb_policy", "envoy.cluster.cluster-provided-lb",
                            "cluster manager: cluster provided LB specified but cluster '%s' did not provide one. "
                            "Check cluster documentation.",
                            cluster_name(node));
}

const Check envoy_checks_cluster[] = {
        { "envoy.config.cluster.v3.Cluster", cluster },
        { NULL },
};
