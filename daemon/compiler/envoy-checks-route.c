/* SPDX-License-Identifier: MIT */
/* Envoy's load-time checks: the route family (see envoy-checks.h and
 * docs/envoy-checks/route.md). What Envoy's router refuses when it builds a
 * route table (source/common/router/config_impl.cc, header_parser.cc,
 * weighted_cluster_specifier.cc), and the RE2 syntax and program size of
 * every RegexMatcher (source/common/common/regex.cc), wherever one is
 * used. */
#include <ctype.h>
#include <inttypes.h>
#include <strings.h>

#include "envoy-checks.h"
#include "hashmap.h"
#include "re2-shim.h"

/* A field that is set: a non-empty scalar, or a mapping (a message). */
static bool has_field(const YamlNode *map, const char *field) {
        const YamlNode *v = check_field(map, field);
        return v && (v->kind == YAML_KIND_MAP || (yaml_is_scalar(v) && v->kind != YAML_KIND_NULL && v->n > 0));
}

/* A uint32 written as a number or as a wrapper {value: N}; false when it
 * is absent or not a number. */
static bool uint_of(const YamlNode *v, uint64_t *ret) {
        if (v && v->kind == YAML_KIND_MAP)
                v = yaml_map_get_field(v, "value");
        if (!yaml_is_scalar(v) || !*v->str || !isdigit((unsigned char) v->str[0]))
                return false;
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v->str, &end, 10);
        if (errno || *end)
                return false;
        *ret = x;
        return true;
}

/* ---- RegexMatcher: RE2 syntax and program size ---- */

/* regex.cc, CompiledGoogleReMatcher: `regex_(regex, re2::RE2::Quiet)`,
 * and RE2's own error text when it does not compile; then the size of the
 * RE2 program against the deprecated google_re2.max_program_size when it
 * is set (and, before 1.15, against 100 when it is not), else against the
 * runtime's re2.max_program_size.error_level (default 100). The size is a
 * warning either way: the runtime can raise the limit, and the RE2 fsxds
 * links may count a program a little differently from Envoy's. */
static void regex_matcher(CheckContext *c, const YamlNode *node) {
        const YamlNode *re = check_field(node, "regex");
        if (!yaml_is_scalar(re) || re->kind == YAML_KIND_NULL)
                return;
        _cleanup_free_ char *error = NULL;
        int size;
        int r = re2_check(re->str, re->n, &size, &error);
        if (r == -EINVAL) {
                check_error(c, re, "regex", "envoy.route.regex-syntax", "%s", error);
                return;
        }
        if (r < 0)
                return;
        const YamlNode *max = check_field(check_map(node, "google_re2"), "max_program_size");
        uint64_t limit = 100;
        if (max && max->kind != YAML_KIND_NULL) {
                if (max->kind == YAML_KIND_MAP && !check_field(max, "value"))
                        limit = 0; /* {}: a UInt32Value of 0 */
                else if (!uint_of(max, &limit))
                        return; /* the encoder says what is wrong with it */
        } else if (c->envoy_version >= ENVOY_VERSION(15, 0)) {
                if ((uint64_t) size > limit)
                        check_warning(c, re, "regex", "envoy.regex.program-size",
                                      "regex '%s' RE2 program size of %d > max program size of %" PRIu64
                                      " set for the error level threshold. Increase configured max program size if "
                                      "necessary.",
                                      re->str, size, limit);
                return;
        }
        if ((uint64_t) size > limit)
                check_warning(c, re, "regex", "envoy.regex.program-size",
                              "regex '%s' RE2 program size of %d > max program size of %" PRIu64
                              ". Increase configured max program size if necessary.",
                              re->str, size, limit);
}

/* ---- headers to add and remove (header_parser.cc, header_utility.cc) ---- */

static bool is_pseudo_or_host(const char *name) {
        return name[0] == ':' || !strcasecmp(name, "host");
}

static void headers_to_add(CheckContext *c, const YamlNode *node, const char *field) {
        const YamlNode *list = check_field(node, field);
        for (uint32_t i = 0; i < check_list_len(list); i++) {
                const YamlNode *hvo = check_list_at(list, i);
                _cleanup_free_ char *path = check_list_path(list, field, i);
                const YamlNode *key = check_field(check_field(hvo, "header"), "key");
                if (yaml_is_scalar(key) && key->n > 0 && is_pseudo_or_host(key->str)) {
                        _cleanup_free_ char *kp = xasprintf("%s.header.key", path);
                        check_error(c, key, kp, "envoy.route.header-not-modifiable",
                                    ":-prefixed or host headers may not be modified");
                }
                /* HeadersToAddEntry: append (a BoolValue) beside an append_action
                 * other than its default */
                if (check_field(hvo, "append") && check_field(hvo, "append_action") &&
                    !check_enum_is(hvo, "append_action", "APPEND_IF_EXISTS_OR_ADD", 0, true))
                        check_error(c, hvo, path, "envoy.route.header-append-conflict",
                                    "Both append and append_action are set and it's not allowed");
        }
}

static void headers_to_remove(CheckContext *c, const YamlNode *node, const char *field) {
        const YamlNode *list = check_field(node, field);
        for (uint32_t i = 0; i < check_list_len(list); i++) {
                const YamlNode *h = check_list_at(list, i);
                if (!yaml_is_scalar(h) || h->n == 0 || !is_pseudo_or_host(h->str))
                        continue;
                _cleanup_free_ char *path = check_list_path(list, field, i);
                check_error(c, h, path, "envoy.route.header-not-removable", ":-prefixed or host headers may not be removed");
        }
}

/* RouteConfiguration, VirtualHost, Route and ClusterWeight build a
 * HeaderParser from the same four fields. */
static void header_lists(CheckContext *c, const YamlNode *node) {
        headers_to_add(c, node, "request_headers_to_add");
        headers_to_add(c, node, "response_headers_to_add");
        headers_to_remove(c, node, "request_headers_to_remove");
        headers_to_remove(c, node, "response_headers_to_remove");
}

/* ---- RouteConfiguration ---- */

static char *ascii_lower(const char *s) {
        char *l = xstrdup(s);
        for (char *p = l; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        return l;
}

/* RouteMatcher: domains, lower-cased, are unique per kind (exact, `*`
 * first, `*` last); `*` alone is the one default virtual host. */
static void route_domains(CheckContext *c, const YamlNode *node) {
        const char *name = check_scalar(node, "name");
        const YamlNode *vhosts = check_field(node, "virtual_hosts");
        Hashmap seen = {};
        bool have_default = false;
        for (uint32_t v = 0; v < check_list_len(vhosts); v++) {
                const YamlNode *domains = check_field(check_list_at(vhosts, v), "domains");
                for (uint32_t d = 0; d < check_list_len(domains); d++) {
                        const YamlNode *dn = check_list_at(domains, d);
                        if (!yaml_is_scalar(dn) || dn->kind == YAML_KIND_NULL)
                                continue;
                        _cleanup_free_ char *lower = ascii_lower(dn->str);
                        _cleanup_free_ char *vp = check_list_path(vhosts, "virtual_hosts", v);
                        _cleanup_free_ char *dp = check_list_path(domains, "domains", d);
                        _cleanup_free_ char *path = xasprintf("%s.%s", vp, dp);
                        if (streq(lower, "*")) {
                                if (have_default)
                                        check_error(c, dn, path, "envoy.route.single-default-vhost",
                                                    "Only a single wildcard domain is permitted in route %s",
                                                    name ? name : "");
                                have_default = true;
                                continue;
                        }
                        /* the kind and the length the maps are keyed by in
                         * Envoy, then the domain: "*a" and "a*" do not clash */
                        size_t len = strlen(lower);
                        char kind = len > 0 && lower[0] == '*' ? 's' : len > 0 && lower[len - 1] == '*' ? 'p' : 'e';
                        char *key = xasprintf("%c%s", kind, lower);
                        if (hashmap_get(&seen, key, strlen(key))) {
                                check_error(c, dn, path, "envoy.route.domain-unique",
                                            "Only unique values for domains are permitted. Duplicate entry of domain %s "
                                            "in route %s", lower, name ? name : "");
                                free(key);
                        } else
                                hashmap_put(&seen, key, strlen(key), key);
                }
        }
        for (size_t i = 0; i < seen.cap; i++)
                if (seen.entries[i].key)
                        free(seen.entries[i].value); /* the key itself */
        hashmap_free(&seen);
}

static void route_configuration(CheckContext *c, const YamlNode *node) {
        route_domains(c, node);
        header_lists(c, node);
}

/* ---- VirtualHost ---- */

static void virtual_host(CheckContext *c, const YamlNode *node) {
        header_lists(c, node);
        if (check_field(node, "matcher") && check_list_len(check_field(node, "routes")) > 0)
                check_error(c, node, NULL, "envoy.route.vhost-matcher-and-routes",
                            "cannot set both matcher and routes on virtual host");
        const YamlNode *vcs = check_field(node, "virtual_clusters");
        for (uint32_t i = 0; i < check_list_len(vcs); i++) {
                const YamlNode *vc = check_list_at(vcs, i);
                if (vc->kind != YAML_KIND_MAP || check_list_len(check_field(vc, "headers")) > 0)
                        continue;
                _cleanup_free_ char *path = check_list_path(vcs, "virtual_clusters", i);
                check_error(c, vc, path, "envoy.route.virtual-cluster-headers", "virtual clusters must define 'headers'");
        }
}

/* ---- Route and its RouteAction ---- */

/* WeightedClusterSpecifierPlugin: per cluster, one of name and
 * cluster_header and a weight; then the sum, by release. */
static void weighted_clusters(CheckContext *c, const YamlNode *wc, const char *route_name) {
        const YamlNode *list = check_field(wc, "clusters");
        uint64_t sum = 0;
        bool known = check_list_len(list) > 0;
        for (uint32_t i = 0; i < check_list_len(list); i++) {
                const YamlNode *cw = check_list_at(list, i);
                if (cw->kind != YAML_KIND_MAP) {
                        known = false;
                        continue;
                }
                _cleanup_free_ char *path = check_list_path(list, "route.weighted_clusters.clusters", i);
                bool name = has_field(cw, "name"), header = has_field(cw, "cluster_header");
                if (name && header)
                        check_error(c, cw, path, "envoy.route.weighted-name-xor-header",
                                    "Only one of name or cluster_header can be specified");
                else if (!name && !header)
                        check_error(c, cw, path, "envoy.route.weighted-name-xor-header",
                                    "At least one of name or cluster_header need to be specified");
                const YamlNode *weight = check_field(cw, "weight");
                uint64_t x;
                if (!weight) {
                        /* PROTOBUF_GET_WRAPPED_REQUIRED; Envoy appends the
                         * ClusterWeight's DebugString, shown here by its name */
                        const char *n = check_scalar(cw, "name");
                        check_error(c, cw, path, "envoy.route.weighted-weight-required",
                                    "Field 'weight' is missing in: name: \"%s\"", n ? n : "");
                        known = false;
                } else if (uint_of(weight, &x))
                        sum += x;
                else
                        known = false; /* the encoder says what is wrong with it */
        }
        if (!known)
                return;
        if (c->envoy_version >= ENVOY_VERSION(26, 0) && sum > UINT32_MAX)
                check_error(c, wc, "route.weighted_clusters", "envoy.route.weighted-sum-overflow",
                            "The sum of weights of all weighted clusters of route %s exceeds %" PRIu32,
                            route_name ? route_name : "", UINT32_MAX);
        else if (c->envoy_version >= ENVOY_VERSION(24, 0) && sum == 0)
                check_error(c, wc, "route.weighted_clusters", "envoy.route.weighted-sum-zero",
                            "Sum of weights in the weighted_cluster must be greater than 0.");
        else if (c->envoy_version < ENVOY_VERSION(23, 0)) {
                uint64_t total = 100;
                uint_of(check_field(wc, "total_weight"), &total);
                if (sum != total)
                        check_error(c, wc, "route.weighted_clusters", "envoy.route.weighted-sum-total",
                                    "Sum of weights in the weighted_cluster should add up to %" PRIu64, total);
        }
}

/* RouteEntryImplBase: upgrade types are unique (case-insensitive), and
 * only CONNECT ones carry a ConnectConfig. */
static void upgrade_configs(CheckContext *c, const YamlNode *action) {
        const YamlNode *list = check_field(action, "upgrade_configs");
        for (uint32_t i = 0; i < check_list_len(list); i++) {
                const YamlNode *uc = check_list_at(list, i);
                const YamlNode *t = check_field(uc, "upgrade_type");
                if (!yaml_is_scalar(t) || t->kind == YAML_KIND_NULL)
                        continue;
                _cleanup_free_ char *path = check_list_path(list, "route.upgrade_configs", i);
                for (uint32_t j = 0; j < i; j++) {
                        const YamlNode *u = check_field(check_list_at(list, j), "upgrade_type");
                        if (yaml_is_scalar(u) && !strcasecmp(u->str, t->str)) {
                                _cleanup_free_ char *tp = xasprintf("%s.upgrade_type", path);
                                check_error(c, t, tp, "envoy.route.upgrade-duplicate", "Duplicate upgrade %s", t->str);
                                break;
                        }
                }
                if (check_field(uc, "connect_config") && !!strcasecmp(t->str, "CONNECT") && !!strcasecmp(t->str, "CONNECT-UDP")) {
                        _cleanup_free_ char *cp = xasprintf("%s.connect_config", path);
                        check_error(c, check_field(uc, "connect_config"), cp, "envoy.route.connect-config-non-connect",
                                    "Non-CONNECT upgrade type %s has ConnectConfig", t->str);
                }
        }
}

/* A Duration in milliseconds as DurationUtil::durationToMilliseconds
 * makes it: "1.5s" or {seconds, nanos}; false when unreadable. */
static bool duration_ms(const YamlNode *d, int64_t *ret) {
        if (yaml_is_scalar(d)) {
                if (d->n < 2 || d->str[d->n - 1] != 's')
                        return false;
                _cleanup_free_ char *num = xstrndup(d->str, d->n - 1);
                char *end;
                errno = 0;
                long double s = strtold(num, &end);
                if (errno || *end || s < 0 || s > 315576000000.0L)
                        return false;
                *ret = (int64_t) (s * 1000);
                return true;
        }
        uint64_t sec = 0, nanos = 0;
        if (!d || d->kind != YAML_KIND_MAP)
                return false;
        uint_of(check_field(d, "seconds"), &sec);
        uint_of(check_field(d, "nanos"), &nanos);
        *ret = (int64_t) (sec * 1000 + nanos / 1000000);
        return true;
}

/* RetryPolicyImpl: the back-off's intervals, each at least 1 ms. */
static void retry_back_off(CheckContext *c, const YamlNode *policy, const char *field) {
        const YamlNode *rb = check_field(policy, "retry_back_off");
        int64_t base, max;
        if (!duration_ms(check_field(rb, "base_interval"), &base) || !duration_ms(check_field(rb, "max_interval"), &max))
                return;
        if ((max < 1 ? 1 : max) < (base < 1 ? 1 : base)) {
                _cleanup_free_ char *path = xasprintf("%s.retry_back_off.max_interval", field);
                check_error(c, check_field(rb, "max_interval"), path, "envoy.route.retry-backoff-order",
                            "retry_policy.max_interval must greater than or equal to the base_interval");
        }
}

static void route(CheckContext *c, const YamlNode *node) {
        header_lists(c, node);
        const YamlNode *action = check_map(node, "route");
        if (!action)
                return;
        const char *prefix_rewrite = check_scalar(action, "prefix_rewrite");
        bool prefix = prefix_rewrite && *prefix_rewrite;
        int rewrites = prefix + !!check_field(action, "regex_rewrite") + !!check_field(action, "path_rewrite_policy");
        if (rewrites > 1)
                check_error(c, action, "route", "envoy.route.rewrite-exclusive",
                            "Specify only one of prefix_rewrite, regex_rewrite or path_rewrite_policy");
        if (prefix && check_field(check_field(node, "match"), "path_match_policy"))
                check_error(c, check_field(action, "prefix_rewrite"), "route.prefix_rewrite",
                            "envoy.route.prefix-rewrite-with-template-match", "Cannot use prefix_rewrite with matcher extension");
        const YamlNode *wc = check_map(action, "weighted_clusters");
        if (wc)
                weighted_clusters(c, wc, check_scalar(node, "name"));
        upgrade_configs(c, action);
        retry_back_off(c, check_field(action, "retry_policy"), "route.retry_policy");
}

static void virtual_host_retry(CheckContext *c, const YamlNode *node) {
        retry_back_off(c, check_field(node, "retry_policy"), "retry_policy");
}

/* validateMirrorClusterSpecifier */
static void mirror_policy(CheckContext *c, const YamlNode *node) {
        bool cluster = has_field(node, "cluster"), header = has_field(node, "cluster_header");
        if (cluster && header)
                check_error(c, node, NULL, "envoy.route.mirror-cluster-xor-header",
                            "Only one of cluster '%s' or cluster_header '%s' in request mirror policy can be specified",
                            check_scalar(node, "cluster"), check_scalar(node, "cluster_header"));
        else if (!cluster && !header)
                check_error(c, node, NULL, "envoy.route.mirror-cluster-xor-header",
                            "Exactly one of cluster or cluster_header in request mirror policy need to be specified");
}

/* InternalRedirectPolicyImpl */
static void internal_redirect_policy(CheckContext *c, const YamlNode *node) {
        const YamlNode *list = check_field(node, "response_headers_to_copy");
        for (uint32_t i = 0; i < check_list_len(list); i++) {
                const YamlNode *h = check_list_at(list, i);
                if (!yaml_is_scalar(h) || h->n == 0 || !is_pseudo_or_host(h->str))
                        continue;
                _cleanup_free_ char *path = check_list_path(list, "response_headers_to_copy", i);
                check_error(c, h, path, "envoy.route.redirect-copy-header",
                            ":-prefixed headers or Hosts may not be specified here.");
        }
}

const Check envoy_checks_route[] = {
        { "envoy.type.matcher.v3.RegexMatcher", regex_matcher },
        { "xds.type.matcher.v3.RegexMatcher", regex_matcher },
        { "envoy.config.route.v3.RouteConfiguration", route_configuration },
        { "envoy.config.route.v3.VirtualHost", virtual_host },
        { "envoy.config.route.v3.VirtualHost", virtual_host_retry },
        { "envoy.config.route.v3.Route", route },
        { "envoy.config.route.v3.WeightedCluster.ClusterWeight", header_lists },
        { "envoy.config.route.v3.RouteAction.RequestMirrorPolicy", mirror_policy },
        { "envoy.config.route.v3.InternalRedirectPolicy", internal_redirect_policy },
        { NULL },
};
