/* SPDX-License-Identifier: MIT */
/* envoy-checks-route: the route family's rules (the route
 * table's checks, the RE2 syntax of every RegexMatcher). Each case is a
 * resource that breaks a rule and its near-miss that does not, both
 * compiled from YAML with the built-in schema at an Envoy release; the
 * offending one gives exactly the diagnostic, the near-miss none of the
 * rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "compile.h"

typedef struct CheckCase {
        const char *rule;
        const char *bad;     /* a resource (one YAML document's resources[0]) */
        const char *good;    /* the near-miss */
        const char *expect;  /* the offending diagnostic, "line:column: level: path: message" */
        uint32_t version;    /* ENVOY_VERSION(); 0: the default */
} CheckCase;

static Schema *schema;

static int group_setup(void **state) {
        return schema_load_builtin(&schema);
}

static int group_teardown(void **state) {
        schema = schema_free(schema);
        return 0;
}

/* The diagnostics of rule when yaml is compiled, formatted without the file
 * name and rule; *ret_n: how many. */
static char *run_case(const char *yaml, const char *rule, uint32_t version, size_t *ret_n) {
        uint32_t saved = schema_envoy_version(schema);
        if (version)
                schema_set_envoy_version(schema, version);
        _cleanup_free_ char *doc = xasprintf("version_info: \"1\"\nresources:\n%s", yaml);
        DiagList diags = {};
        CompileResult rc = {};
        compile_data(schema, "t.yaml", doc, strlen(doc), NULL, &diags, &rc);
        schema_set_envoy_version(schema, saved);
        Buf out = {};
        size_t n = 0;
        for (size_t i = 0; i < diags.n; i++) {
                const Diag *d = &diags.items[i];
                if (!d->rule || !streq(d->rule, rule))
                        continue;
                _cleanup_free_ char *s = diag_format(d);
                /* "t.yaml:" off the front, " [rule]" off the end */
                buf_append(&out, s + 7, strlen(s) - 7 - strlen(rule) - 3);
                n++;
        }
        diag_list_clear(&diags);
        compile_result_done(&rc);
        *ret_n = n;
        buf_putc(&out, 0);
        return (char *) out.data;
}

static void run_cases(const CheckCase *cases, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const CheckCase *c = &cases[i];
                size_t k;
                _cleanup_free_ char *bad = run_case(c->bad, c->rule, c->version, &k);
                if (k != 1 || !streq(bad, c->expect))
                        fail_msg("case %zu (%s): want \"%s\", got %zu: \"%s\"", i, c->rule, c->expect, k, bad);
                _cleanup_free_ char *good = run_case(c->good, c->rule, c->version, &k);
                if (k != 0)
                        fail_msg("case %zu (%s): the near-miss reports \"%s\"", i, c->rule, good);
        }
}

static const CheckCase cases[] = {
        { "envoy.route.domain-unique",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - {name: a, domains: [www.lyft.com]}\n"
          "  - {name: b, domains: [www.LYFt.cOM]}\n",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - {name: a, domains: [www.lyft.com, \"*lyft.com\"]}\n"
          "  - {name: b, domains: [www2.lyft.com, \"lyft.com*\"]}\n",
          "7:25: error: resources[0].virtual_hosts[1].domains[0]: Only unique values for domains are permitted. Duplicate entry of domain www.lyft.com in route rc", 0 },
        { "envoy.route.single-default-vhost",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - {name: a, domains: [\"*\"]}\n"
          "  - {name: b, domains: [\"*\"]}\n",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - {name: a, domains: [\"*\"]}\n"
          "  - {name: b, domains: [\"*.a\"]}\n",
          "7:25: error: resources[0].virtual_hosts[1].domains[0]: Only a single wildcard domain is permitted in route rc", 0 },
        { "envoy.route.regex-syntax",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - name: v\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {safe_regex: {regex: \"a(?=b)\"}}\n"
          "      route: {cluster: c}\n",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - name: v\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {safe_regex: {regex: \"a(?:b)\"}}\n"
          "      route: {cluster: c}\n",
          "9:35: error: resources[0].virtual_hosts[0].routes[0].match.safe_regex.regex: invalid perl operator: (?=", 0 },
        { "envoy.route.rewrite-exclusive",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - name: v\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {prefix: /}\n"
          "      route: {cluster: c, prefix_rewrite: /x, regex_rewrite: {pattern: {regex: a}, substitution: b}}\n",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - name: v\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {prefix: /}\n"
          "      route: {cluster: c, prefix_rewrite: \"\", regex_rewrite: {pattern: {regex: a}, substitution: b}}\n",
          "10:14: error: resources[0].virtual_hosts[0].routes[0].route: Specify only one of prefix_rewrite, regex_rewrite or path_rewrite_policy", 0 },
        { "envoy.route.weighted-sum-zero",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - name: v\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {prefix: /}\n"
          "      route: {weighted_clusters: {clusters: [{name: a, weight: 0}, {name: b, weight: {value: 0}}]}}\n",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - name: v\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {prefix: /}\n"
          "      route: {weighted_clusters: {clusters: [{name: a, weight: 0}, {name: b, weight: {value: 1}}]}}\n",
          "10:34: error: resources[0].virtual_hosts[0].routes[0].route.weighted_clusters: Sum of weights in the weighted_cluster must be greater than 0.", 0 },
        { "envoy.route.weighted-sum-total",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - name: v\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {prefix: /}\n"
          "      route: {weighted_clusters: {total_weight: 10, clusters: [{name: a, weight: 5}, {name: b, weight: 6}]}}\n",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - name: v\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {prefix: /}\n"
          "      route: {weighted_clusters: {total_weight: 10, clusters: [{name: a, weight: 5}, {name: b, weight: 5}]}}\n",
          "10:34: error: resources[0].virtual_hosts[0].routes[0].route.weighted_clusters: Sum of weights in the weighted_cluster should add up to 10", ENVOY_VERSION(22, 0) },
        { "envoy.route.header-not-modifiable",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - name: v\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {prefix: /}\n"
          "      route: {cluster: c}\n"
          "      response_headers_to_add: [{header: {key: HOST, value: x}}]\n",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - name: v\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {prefix: /}\n"
          "      route: {cluster: c}\n"
          "      response_headers_to_add: [{header: {key: x-host, value: x}}]\n",
          "11:48: error: resources[0].virtual_hosts[0].routes[0].response_headers_to_add[0].header.key: :-prefixed or host headers may not be modified", 0 },
        { "envoy.route.header-not-removable",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - name: v\n"
          "    domains: [\"*\"]\n"
          "    request_headers_to_remove: [\":authority\"]\n"
          "    routes:\n"
          "    - match: {prefix: /}\n"
          "      route: {cluster: c}\n",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - name: v\n"
          "    domains: [\"*\"]\n"
          "    request_headers_to_remove: [\"authority\"]\n"
          "    routes:\n"
          "    - match: {prefix: /}\n"
          "      route: {cluster: c}\n",
          "8:33: error: resources[0].virtual_hosts[0].request_headers_to_remove[0]: :-prefixed or host headers may not be removed", 0 },
        { "envoy.route.upgrade-duplicate",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - name: v\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {prefix: /}\n"
          "      route: {cluster: c, upgrade_configs: [{upgrade_type: websocket}, {upgrade_type: WEBSOCKET}]}\n",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - name: v\n"
          "    domains: [\"*\"]\n"
          "    routes:\n"
          "    - match: {prefix: /}\n"
          "      route: {cluster: c, upgrade_configs: [{upgrade_type: websocket}, {upgrade_type: CONNECT}]}\n",
          "10:87: error: resources[0].virtual_hosts[0].routes[0].route.upgrade_configs[1].upgrade_type: Duplicate upgrade WEBSOCKET", 0 },
        { "envoy.route.retry-backoff-order",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - name: v\n"
          "    domains: [\"*\"]\n"
          "    retry_policy: {retry_back_off: {base_interval: 0.5s, max_interval: 0.25s}}\n"
          "    routes:\n"
          "    - match: {prefix: /}\n"
          "      route: {cluster: c}\n",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - name: v\n"
          "    domains: [\"*\"]\n"
          "    retry_policy: {retry_back_off: {base_interval: 0.0001s, max_interval: 0.0005s}}\n"
          "    routes:\n"
          "    - match: {prefix: /}\n"
          "      route: {cluster: c}\n",
          "8:72: error: resources[0].virtual_hosts[0].retry_policy.retry_back_off.max_interval: retry_policy.max_interval must greater than or equal to the base_interval", 0 },
        { "envoy.route.mirror-cluster-xor-header",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - name: v\n"
          "    domains: [\"*\"]\n"
          "    request_mirror_policies: [{runtime_fraction: {default_value: {numerator: 1}}}]\n"
          "    routes:\n"
          "    - match: {prefix: /}\n"
          "      route: {cluster: c}\n",
          "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
          "  name: rc\n"
          "  virtual_hosts:\n"
          "  - name: v\n"
          "    domains: [\"*\"]\n"
          "    request_mirror_policies: [{cluster: m, runtime_fraction: {default_value: {numerator: 1}}}]\n"
          "    routes:\n"
          "    - match: {prefix: /}\n"
          "      route: {cluster: c}\n",
          "8:31: error: resources[0].virtual_hosts[0].request_mirror_policies[0]: Exactly one of cluster or cluster_header in request mirror policy need to be specified", 0 },
};

static void test_cases(void **state) {
        run_cases(cases, ELEMENTSOF(cases));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cases),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
