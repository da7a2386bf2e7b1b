/* SPDX-License-Identifier: MIT */
/* envoy-checks-route: the route family's rules (the route
 * table's checks, the RE2 syntax of every RegexMatcher). Each rule has a
 * resource that breaks it and a near-miss that does not, both compiled
 * from YAML with the built-in schema at an Envoy release (check-cases.h);
 * the offending one gives exactly the diagnostic, the near-miss none of
 * the rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "check-cases.h"

/* a response of one RouteConfiguration */
#define RC(VHOSTS)                                                                                              \
        "version_info: \"1\"\n"                                                                                 \
        "resources:\n"                                                                                          \
        "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"                          \
        "  name: rc\n"                                                                                          \
        "  virtual_hosts:\n" VHOSTS
/* ... of one virtual host with FIELDS and one route */
#define VHOST(FIELDS, MATCH, ROUTE)                                                                             \
        RC("  - name: v\n"                                                                                      \
           "    domains: [\"*\"]\n" FIELDS                                                                      \
           "    routes:\n"                                                                                      \
           "    - match: " MATCH "\n"                                                                           \
           "      route: " ROUTE "\n")

/* test/common/common/regex_test.cc: "/asdf/.*" 13 times */
#define ASDF13                                                                                                  \
        "/asdf/.*/asdf/.*/asdf/.*/asdf/.*/asdf/.*/asdf/.*/asdf/.*/asdf/.*/asdf/.*/asdf/.*/asdf/.*/asdf/.*/asdf/.*"

static const CheckCase cases[] = {
        { "envoy.route.domain-unique", RC("  - {name: a, domains: [www.lyft.com]}\n"
                                          "  - {name: b, domains: [www.LYFt.cOM]}\n"),
          "7:25: error: resources[0].virtual_hosts[1].domains[0]: Only unique values for domains are permitted. "
          "Duplicate entry of domain www.lyft.com in route rc" },
        { "envoy.route.domain-unique", RC("  - {name: a, domains: [www.lyft.com, \"*lyft.com\"]}\n"
                                          "  - {name: b, domains: [www2.lyft.com, \"lyft.com*\"]}\n") },
        { "envoy.route.single-default-vhost", RC("  - {name: a, domains: [\"*\"]}\n"
                                                 "  - {name: b, domains: [\"*\"]}\n"),
          "7:25: error: resources[0].virtual_hosts[1].domains[0]: Only a single wildcard domain is permitted in route rc" },
        { "envoy.route.single-default-vhost", RC("  - {name: a, domains: [\"*\"]}\n"
                                                 "  - {name: b, domains: [\"*.a\"]}\n") },
        { "envoy.route.regex-syntax", VHOST("", "{safe_regex: {regex: \"a(?=b)\"}}", "{cluster: c}"),
          "9:35: error: resources[0].virtual_hosts[0].routes[0].match.safe_regex.regex: invalid perl operator: (?=" },
        { "envoy.route.regex-syntax", VHOST("", "{safe_regex: {regex: \"a(?:b)\"}}", "{cluster: c}") },
        /* Envoy's RE2 (2024-07-02) reads (?<name>re) as (?P<name>re) */
        { "envoy.route.regex-syntax", VHOST("", "{safe_regex: {regex: \"/(?<id>[0-9]+)\"}}", "{cluster: c}") },
        { "envoy.route.regex-syntax", VHOST("", "{safe_regex: {regex: \"/(?<id [0-9]+)\"}}", "{cluster: c}"),
          "invalid named capture group: (?<id [0-9]+)" },
        { "envoy.route.regex-syntax", VHOST("", "{safe_regex: {regex: \"[(?<]x(?<=a)b\"}}", "{cluster: c}"),
          "invalid perl operator: (?<=" },
        { "envoy.regex.program-size", VHOST("", "{safe_regex: {regex: \"" ASDF13 "\"}}", "{cluster: c}"),
          "9:35: warning: resources[0].virtual_hosts[0].routes[0].match.safe_regex.regex: regex '" ASDF13 "' RE2 "
          "program size of 186 > max program size of 100 set for the error level threshold. Increase configured max "
          "program size if necessary." },
        { "envoy.regex.program-size",
          VHOST("", "{safe_regex: {regex: \"" ASDF13 "\", google_re2: {max_program_size: {value: 200}}}}", "{cluster: c}") },
        { "envoy.regex.program-size",
          VHOST("", "{safe_regex: {regex: \"" ASDF13 "\", google_re2: {max_program_size: 150}}}", "{cluster: c}"),
          "regex '" ASDF13 "' RE2 program size of 186 > max program size of 150. Increase configured max program size "
          "if necessary." },
        { "envoy.regex.program-size", VHOST("", "{safe_regex: {regex: \"" ASDF13 "\"}}", "{cluster: c}"),
          "regex '" ASDF13 "' RE2 program size of 186 > max program size of 100. Increase configured max program size "
          "if necessary.",
          ENVOY_VERSION(14, 0) },
        { "envoy.regex.program-size", VHOST("", "{safe_regex: {regex: \"/asdf/.*\"}}", "{cluster: c}") },
        { "envoy.route.rewrite-exclusive",
          VHOST("", "{prefix: /}", "{cluster: c, prefix_rewrite: /x, regex_rewrite: {pattern: {regex: a}, substitution: b}}"),
          "10:14: error: resources[0].virtual_hosts[0].routes[0].route: Specify only one of prefix_rewrite, "
          "regex_rewrite or path_rewrite_policy" },
        { "envoy.route.rewrite-exclusive",
          VHOST("", "{prefix: /}", "{cluster: c, prefix_rewrite: \"\", regex_rewrite: {pattern: {regex: a}, substitution: b}}") },
        { "envoy.route.weighted-sum-zero",
          VHOST("", "{prefix: /}", "{weighted_clusters: {clusters: [{name: a, weight: 0}, {name: b, weight: {value: 0}}]}}"),
          "10:34: error: resources[0].virtual_hosts[0].routes[0].route.weighted_clusters: Sum of weights in the "
          "weighted_cluster must be greater than 0." },
        { "envoy.route.weighted-sum-zero",
          VHOST("", "{prefix: /}", "{weighted_clusters: {clusters: [{name: a, weight: 0}, {name: b, weight: {value: 1}}]}}") },
        { "envoy.route.weighted-sum-total",
          VHOST("", "{prefix: /}",
                "{weighted_clusters: {total_weight: 10, clusters: [{name: a, weight: 5}, {name: b, weight: 6}]}}"),
          "10:34: error: resources[0].virtual_hosts[0].routes[0].route.weighted_clusters: Sum of weights in the "
          "weighted_cluster should add up to 10",
          ENVOY_VERSION(22, 0) },
        { "envoy.route.weighted-sum-total",
          VHOST("", "{prefix: /}",
                "{weighted_clusters: {total_weight: 10, clusters: [{name: a, weight: 5}, {name: b, weight: 5}]}}"),
          NULL, ENVOY_VERSION(22, 0) },
        { "envoy.route.header-not-modifiable",
          VHOST("", "{prefix: /}", "{cluster: c}\n      response_headers_to_add: [{header: {key: HOST, value: x}}]"),
          "11:48: error: resources[0].virtual_hosts[0].routes[0].response_headers_to_add[0].header.key: :-prefixed or "
          "host headers may not be modified" },
        { "envoy.route.header-not-modifiable",
          VHOST("", "{prefix: /}", "{cluster: c}\n      response_headers_to_add: [{header: {key: x-host, value: x}}]") },
        { "envoy.route.header-not-removable", VHOST("    request_headers_to_remove: [\":authority\"]\n", "{prefix: /}",
                                                    "{cluster: c}"),
          "8:33: error: resources[0].virtual_hosts[0].request_headers_to_remove[0]: :-prefixed or host headers may "
          "not be removed" },
        { "envoy.route.header-not-removable", VHOST("    request_headers_to_remove: [\"authority\"]\n", "{prefix: /}",
                                                    "{cluster: c}") },
        { "envoy.route.upgrade-duplicate",
          VHOST("", "{prefix: /}", "{cluster: c, upgrade_configs: [{upgrade_type: websocket}, {upgrade_type: WEBSOCKET}]}"),
          "10:87: error: resources[0].virtual_hosts[0].routes[0].route.upgrade_configs[1].upgrade_type: Duplicate "
          "upgrade WEBSOCKET" },
        { "envoy.route.upgrade-duplicate",
          VHOST("", "{prefix: /}", "{cluster: c, upgrade_configs: [{upgrade_type: websocket}, {upgrade_type: CONNECT}]}") },
        { "envoy.route.retry-backoff-order",
          VHOST("    retry_policy: {retry_back_off: {base_interval: 0.5s, max_interval: 0.25s}}\n", "{prefix: /}",
                "{cluster: c}"),
          "8:72: error: resources[0].virtual_hosts[0].retry_policy.retry_back_off.max_interval: "
          "retry_policy.max_interval must greater than or equal to the base_interval" },
        { "envoy.route.retry-backoff-order",
          VHOST("    retry_policy: {retry_back_off: {base_interval: 0.0001s, max_interval: 0.0005s}}\n", "{prefix: /}",
                "{cluster: c}") },
        { "envoy.route.mirror-cluster-xor-header",
          VHOST("    request_mirror_policies: [{runtime_fraction: {default_value: {numerator: 1}}}]\n", "{prefix: /}",
                "{cluster: c}"),
          "8:31: error: resources[0].virtual_hosts[0].request_mirror_policies[0]: Exactly one of cluster or "
          "cluster_header in request mirror policy need to be specified" },
        { "envoy.route.mirror-cluster-xor-header",
          VHOST("    request_mirror_policies: [{cluster: m, runtime_fraction: {default_value: {numerator: 1}}}]\n",
                "{prefix: /}", "{cluster: c}") },
        /* as tests/integration/envoy-checks/route-connect-config-non-connect.yaml */
        { "envoy.route.connect-config-non-connect",
          "# rule: envoy.route.connect-config-non-connect\n"
          "# expect: 18:27: error: resources[0].virtual_hosts[0].routes[0].route.upgrade_configs[0].connect_config: Non-CONNECT upgrade type Websocket has ConnectConfig [envoy.route.connect-config-non-connect]\n"
          "# near-miss: upgrade_type: Websocket => upgrade_type: CONNECT\n"
          "# Envoy: test/common/router/config_impl_test.cc RouteConfigurationV2.BadConnectConfig\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: local_route\n"
          "  virtual_hosts:\n"
          "  - name: www2\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {prefix: \"/\"}\n"
          "      route:\n"
          "        cluster: some-cluster\n"
          "        upgrade_configs:\n"
          "        - upgrade_type: Websocket\n"
          "          connect_config: {}\n",
          "18:27: error: resources[0].virtual_hosts[0].routes[0].route.upgrade_configs[0].connect_config: Non-CONNECT upgrade type Websocket has ConnectConfig" },
        { "envoy.route.connect-config-non-connect",
          "# rule: envoy.route.connect-config-non-connect\n"
          "# expect: 18:27: error: resources[0].virtual_hosts[0].routes[0].route.upgrade_configs[0].connect_config: Non-CONNECT upgrade type Websocket has ConnectConfig [envoy.route.connect-config-non-connect]\n"
          "# near-miss: upgrade_type: Websocket => upgrade_type: CONNECT\n"
          "# Envoy: test/common/router/config_impl_test.cc RouteConfigurationV2.BadConnectConfig\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: local_route\n"
          "  virtual_hosts:\n"
          "  - name: www2\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {prefix: \"/\"}\n"
          "      route:\n"
          "        cluster: some-cluster\n"
          "        upgrade_configs:\n"
          "        - upgrade_type: CONNECT\n"
          "          connect_config: {}\n",
          NULL },
        /* as tests/integration/envoy-checks/route-header-append-conflict.yaml */
        { "envoy.route.header-append-conflict",
          "# rule: envoy.route.header-append-conflict\n"
          "# expect: 10:5: error: resources[0].request_headers_to_add[0]: Both append and append_action are set and it's not allowed [envoy.route.header-append-conflict]\n"
          "# near-miss: append_action: OVERWRITE_IF_EXISTS_OR_ADD => append_action: APPEND_IF_EXISTS_OR_ADD\n"
          "# Envoy: source/common/router/header_parser.cc HeadersToAddEntry\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: local_route\n"
          "  request_headers_to_add:\n"
          "  - {header: {key: x-foo, value: bar}, append: true, append_action: OVERWRITE_IF_EXISTS_OR_ADD}\n"
          "  virtual_hosts:\n"
          "  - name: www2\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {prefix: \"/\"}\n"
          "      route: {cluster: www2}\n",
          "10:5: error: resources[0].request_headers_to_add[0]: Both append and append_action are set and it's not allowed" },
        { "envoy.route.header-append-conflict",
          "# rule: envoy.route.header-append-conflict\n"
          "# expect: 10:5: error: resources[0].request_headers_to_add[0]: Both append and append_action are set and it's not allowed [envoy.route.header-append-conflict]\n"
          "# near-miss: append_action: OVERWRITE_IF_EXISTS_OR_ADD => append_action: APPEND_IF_EXISTS_OR_ADD\n"
          "# Envoy: source/common/router/header_parser.cc HeadersToAddEntry\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: local_route\n"
          "  request_headers_to_add:\n"
          "  - {header: {key: x-foo, value: bar}, append: true, append_action: APPEND_IF_EXISTS_OR_ADD}\n"
          "  virtual_hosts:\n"
          "  - name: www2\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {prefix: \"/\"}\n"
          "      route: {cluster: www2}\n",
          NULL },
        /* as tests/integration/envoy-checks/route-prefix-rewrite-with-template-match.yaml */
        { "envoy.route.prefix-rewrite-with-template-match",
          "# rule: envoy.route.prefix-rewrite-with-template-match\n"
          "# expect: 21:25: error: resources[0].virtual_hosts[0].routes[0].route.prefix_rewrite: Cannot use prefix_rewrite with matcher extension [envoy.route.prefix-rewrite-with-template-match]\n"
          "# near-miss: prefix_rewrite: \"!\" => timeout: 1s\n"
          "# Envoy: test/common/router/config_impl_test.cc RouteConfigurationV2.RouteMatcherExtensionAndPrefixRewrite\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: local_route\n"
          "  virtual_hosts:\n"
          "  - name: path_pattern\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match:\n"
          "        path_match_policy:\n"
          "          name: envoy.path.match.uri_template.uri_template_matcher\n"
          "          typed_config:\n"
          "            \"@type\": type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig\n"
          "            path_template: \"/bar/{country}/{hang}\"\n"
          "      route:\n"
          "        cluster: some-cluster\n"
          "        prefix_rewrite: \"!\"\n",
          "21:25: error: resources[0].virtual_hosts[0].routes[0].route.prefix_rewrite: Cannot use prefix_rewrite with matcher extension" },
        { "envoy.route.prefix-rewrite-with-template-match",
          "# rule: envoy.route.prefix-rewrite-with-template-match\n"
          "# expect: 21:25: error: resources[0].virtual_hosts[0].routes[0].route.prefix_rewrite: Cannot use prefix_rewrite with matcher extension [envoy.route.prefix-rewrite-with-template-match]\n"
          "# near-miss: prefix_rewrite: \"!\" => timeout: 1s\n"
          "# Envoy: test/common/router/config_impl_test.cc RouteConfigurationV2.RouteMatcherExtensionAndPrefixRewrite\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: local_route\n"
          "  virtual_hosts:\n"
          "  - name: path_pattern\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match:\n"
          "        path_match_policy:\n"
          "          name: envoy.path.match.uri_template.uri_template_matcher\n"
          "          typed_config:\n"
          "            \"@type\": type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig\n"
          "            path_template: \"/bar/{country}/{hang}\"\n"
          "      route:\n"
          "        cluster: some-cluster\n"
          "        timeout: 1s\n",
          NULL },
        /* as tests/integration/envoy-checks/route-redirect-copy-header.yaml */
        { "envoy.route.redirect-copy-header",
          "# rule: envoy.route.redirect-copy-header\n"
          "# expect: 17:47: error: resources[0].virtual_hosts[0].routes[0].route.internal_redirect_policy.response_headers_to_copy[1]: :-prefixed headers or Hosts may not be specified here. [envoy.route.redirect-copy-header]\n"
          "# near-miss: \":authority\" => \"x-authority\"\n"
          "# Envoy: test/common/router/config_impl_test.cc RouteConfigurationV2.InternalRedirectPolicyAcceptsResponseHeadersToCopyInvalid\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: local_route\n"
          "  virtual_hosts:\n"
          "  - name: www2\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {prefix: \"/\"}\n"
          "      route:\n"
          "        cluster: www2\n"
          "        internal_redirect_policy:\n"
          "          response_headers_to_copy: [\"x-foo\", \":authority\"]\n",
          "17:47: error: resources[0].virtual_hosts[0].routes[0].route.internal_redirect_policy.response_headers_to_copy[1]: :-prefixed headers or Hosts may not be specified here." },
        { "envoy.route.redirect-copy-header",
          "# rule: envoy.route.redirect-copy-header\n"
          "# expect: 17:47: error: resources[0].virtual_hosts[0].routes[0].route.internal_redirect_policy.response_headers_to_copy[1]: :-prefixed headers or Hosts may not be specified here. [envoy.route.redirect-copy-header]\n"
          "# near-miss: \":authority\" => \"x-authority\"\n"
          "# Envoy: test/common/router/config_impl_test.cc RouteConfigurationV2.InternalRedirectPolicyAcceptsResponseHeadersToCopyInvalid\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: local_route\n"
          "  virtual_hosts:\n"
          "  - name: www2\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {prefix: \"/\"}\n"
          "      route:\n"
          "        cluster: www2\n"
          "        internal_redirect_policy:\n"
          "          response_headers_to_copy: [\"x-foo\", \"x-authority\"]\n",
          NULL },
        /* as tests/integration/envoy-checks/route-vhost-matcher-and-routes.yaml */
        { "envoy.route.vhost-matcher-and-routes",
          "# rule: envoy.route.vhost-matcher-and-routes\n"
          "# expect: 10:5: error: resources[0].virtual_hosts[0]: cannot set both matcher and routes on virtual host [envoy.route.vhost-matcher-and-routes]\n"
          "# near-miss: matcher: {} => # no matcher\n"
          "# Envoy: test/common/router/config_impl_test.cc TestMatchInvalidInputTwoMatchers\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: local_route\n"
          "  virtual_hosts:\n"
          "  - name: www2\n"
          "    domains: [\"*\"]\n"
          "    matcher: {}\n"
          "    routes:\n"
          "    - match: {prefix: \"/\"}\n"
          "      route: {cluster: www2}\n",
          "10:5: error: resources[0].virtual_hosts[0]: cannot set both matcher and routes on virtual host" },
        { "envoy.route.vhost-matcher-and-routes",
          "# rule: envoy.route.vhost-matcher-and-routes\n"
          "# expect: 10:5: error: resources[0].virtual_hosts[0]: cannot set both matcher and routes on virtual host [envoy.route.vhost-matcher-and-routes]\n"
          "# near-miss: matcher: {} => # no matcher\n"
          "# Envoy: test/common/router/config_impl_test.cc TestMatchInvalidInputTwoMatchers\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: local_route\n"
          "  virtual_hosts:\n"
          "  - name: www2\n"
          "    domains: [\"*\"]\n"
          "    # no matcher\n"
          "    routes:\n"
          "    - match: {prefix: \"/\"}\n"
          "      route: {cluster: www2}\n",
          NULL },
        /* as tests/integration/envoy-checks/route-virtual-cluster-headers.yaml */
        { "envoy.route.virtual-cluster-headers",
          "# rule: envoy.route.virtual-cluster-headers\n"
          "# expect: 16:7: error: resources[0].virtual_hosts[0].virtual_clusters[0]: virtual clusters must define 'headers' [envoy.route.virtual-cluster-headers]\n"
          "# near-miss: - name: invalid => - {name: valid, headers: [{name: x-a, string_match: {exact: b}}]}\n"
          "# Envoy: test/common/router/config_impl_test.cc TestRoutesWithInvalidVirtualCluster\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: local_route\n"
          "  virtual_hosts:\n"
          "  - name: www2\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {prefix: \"/\"}\n"
          "      route: {cluster: www2}\n"
          "    virtual_clusters:\n"
          "    - name: invalid\n",
          "16:7: error: resources[0].virtual_hosts[0].virtual_clusters[0]: virtual clusters must define 'headers'" },
        { "envoy.route.virtual-cluster-headers",
          "# rule: envoy.route.virtual-cluster-headers\n"
          "# expect: 16:7: error: resources[0].virtual_hosts[0].virtual_clusters[0]: virtual clusters must define 'headers' [envoy.route.virtual-cluster-headers]\n"
          "# near-miss: - name: invalid => - {name: valid, headers: [{name: x-a, string_match: {exact: b}}]}\n"
          "# Envoy: test/common/router/config_impl_test.cc TestRoutesWithInvalidVirtualCluster\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: local_route\n"
          "  virtual_hosts:\n"
          "  - name: www2\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {prefix: \"/\"}\n"
          "      route: {cluster: www2}\n"
          "    virtual_clusters:\n"
          "    - {name: valid, headers: [{name: x-a, string_match: {exact: b}}]}\n",
          NULL },
        /* as tests/integration/envoy-checks/route-weighted-name-xor-header.yaml */
        { "envoy.route.weighted-name-xor-header",
          "# rule: envoy.route.weighted-name-xor-header\n"
          "# expect: 16:22: error: resources[0].virtual_hosts[0].routes[0].route.weighted_clusters.clusters[0]: Only one of name or cluster_header can be specified [envoy.route.weighted-name-xor-header]\n"
          "# near-miss: {name: some_name, cluster_header: some_header, weight: 30} => {cluster_header: some_header, weight: 30}\n"
          "# Envoy: test/common/router/config_impl_test.cc WeightedClusterInvalidConfigWithBothNameAndClusterHeader\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: local_route\n"
          "  virtual_hosts:\n"
          "  - name: www2\n"
          "    domains: [\"www.lyft.com\"]\n"
          "    routes:\n"
          "    - match: {prefix: \"/\"}\n"
          "      route:\n"
          "        weighted_clusters:\n"
          "          clusters: [{name: some_name, cluster_header: some_header, weight: 30}, {name: cluster2, weight: 70}]\n",
          "16:22: error: resources[0].virtual_hosts[0].routes[0].route.weighted_clusters.clusters[0]: Only one of name or cluster_header can be specified" },
        { "envoy.route.weighted-name-xor-header",
          "# rule: envoy.route.weighted-name-xor-header\n"
          "# expect: 16:22: error: resources[0].virtual_hosts[0].routes[0].route.weighted_clusters.clusters[0]: Only one of name or cluster_header can be specified [envoy.route.weighted-name-xor-header]\n"
          "# near-miss: {name: some_name, cluster_header: some_header, weight: 30} => {cluster_header: some_header, weight: 30}\n"
          "# Envoy: test/common/router/config_impl_test.cc WeightedClusterInvalidConfigWithBothNameAndClusterHeader\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: local_route\n"
          "  virtual_hosts:\n"
          "  - name: www2\n"
          "    domains: [\"www.lyft.com\"]\n"
          "    routes:\n"
          "    - match: {prefix: \"/\"}\n"
          "      route:\n"
          "        weighted_clusters:\n"
          "          clusters: [{cluster_header: some_header, weight: 30}, {name: cluster2, weight: 70}]\n",
          NULL },
        /* as tests/integration/envoy-checks/route-weighted-sum-overflow.yaml */
        { "envoy.route.weighted-sum-overflow",
          "# rule: envoy.route.weighted-sum-overflow\n"
          "# expect: 17:11: error: resources[0].virtual_hosts[0].routes[0].route.weighted_clusters: The sum of weights of all weighted clusters of route lyft_route exceeds 4294967295 [envoy.route.weighted-sum-overflow]\n"
          "# near-miss: {name: cluster2, weight: 2394967295} => {name: cluster2, weight: 1900000000}\n"
          "# Envoy: test/common/router/config_impl_test.cc RouteMatcherTest.WeightedClustersSumOfWeightsTooLarge (from 1.26)\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: local_route\n"
          "  virtual_hosts:\n"
          "  - name: www2\n"
          "    domains: [\"www.lyft.com\"]\n"
          "    routes:\n"
          "    - match: {prefix: \"/\"}\n"
          "      name: lyft_route\n"
          "      route:\n"
          "        weighted_clusters:\n"
          "          clusters: [{name: cluster1, weight: 2394967295}, {name: cluster2, weight: 2394967295}]\n",
          "17:11: error: resources[0].virtual_hosts[0].routes[0].route.weighted_clusters: The sum of weights of all weighted clusters of route lyft_route exceeds 4294967295" },
        { "envoy.route.weighted-sum-overflow",
          "# rule: envoy.route.weighted-sum-overflow\n"
          "# expect: 17:11: error: resources[0].virtual_hosts[0].routes[0].route.weighted_clusters: The sum of weights of all weighted clusters of route lyft_route exceeds 4294967295 [envoy.route.weighted-sum-overflow]\n"
          "# near-miss: {name: cluster2, weight: 2394967295} => {name: cluster2, weight: 1900000000}\n"
          "# Envoy: test/common/router/config_impl_test.cc RouteMatcherTest.WeightedClustersSumOfWeightsTooLarge (from 1.26)\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: local_route\n"
          "  virtual_hosts:\n"
          "  - name: www2\n"
          "    domains: [\"www.lyft.com\"]\n"
          "    routes:\n"
          "    - match: {prefix: \"/\"}\n"
          "      name: lyft_route\n"
          "      route:\n"
          "        weighted_clusters:\n"
          "          clusters: [{name: cluster1, weight: 2394967295}, {name: cluster2, weight: 1900000000}]\n",
          NULL },
        /* as tests/integration/envoy-checks/route-weighted-weight-required.yaml */
        { "envoy.route.weighted-weight-required",
          "# rule: envoy.route.weighted-weight-required\n"
          "# expect: 16:51: error: resources[0].virtual_hosts[0].routes[0].route.weighted_clusters.clusters[1]: Field 'weight' is missing in: name: \"cluster2\" [envoy.route.weighted-weight-required]\n"
          "# near-miss: {name: cluster2} => {name: cluster2, weight: 1}\n"
          "# Envoy: test/common/router/config_impl_test.cc RouteMatcherTest.WeightedClustersZeroSumOfWeights (clusters without weight)\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: local_route\n"
          "  virtual_hosts:\n"
          "  - name: www2\n"
          "    domains: [\"www.lyft.com\"]\n"
          "    routes:\n"
          "    - match: {prefix: \"/\"}\n"
          "      route:\n"
          "        weighted_clusters:\n"
          "          clusters: [{name: cluster1, weight: 1}, {name: cluster2}]\n",
          "16:51: error: resources[0].virtual_hosts[0].routes[0].route.weighted_clusters.clusters[1]: Field 'weight' is missing in: name: \"cluster2\"" },
        { "envoy.route.weighted-weight-required",
          "# rule: envoy.route.weighted-weight-required\n"
          "# expect: 16:51: error: resources[0].virtual_hosts[0].routes[0].route.weighted_clusters.clusters[1]: Field 'weight' is missing in: name: \"cluster2\" [envoy.route.weighted-weight-required]\n"
          "# near-miss: {name: cluster2} => {name: cluster2, weight: 1}\n"
          "# Envoy: test/common/router/config_impl_test.cc RouteMatcherTest.WeightedClustersZeroSumOfWeights (clusters without weight)\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: local_route\n"
          "  virtual_hosts:\n"
          "  - name: www2\n"
          "    domains: [\"www.lyft.com\"]\n"
          "    routes:\n"
          "    - match: {prefix: \"/\"}\n"
          "      route:\n"
          "        weighted_clusters:\n"
          "          clusters: [{name: cluster1, weight: 1}, {name: cluster2, weight: 1}]\n",
          NULL },
};

int main(void) {
        return check_cases_main("envoy-checks-route", cases, ELEMENTSOF(cases), CHECK_OTHERS_IGNORED);
}
