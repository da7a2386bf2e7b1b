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
};

int main(void) {
        return check_cases_main("envoy-checks-route", cases, ELEMENTSOF(cases), CHECK_OTHERS_IGNORED);
}
