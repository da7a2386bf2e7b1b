/* SPDX-License-Identifier: MIT */
/* Envoy's load-time checks: the route family (see envoy-checks.h and
 * docs/envoy-checks/route.md). What Envoy's router refuses when it builds a
 * route table (source/common/router/config_impl.cc, header_parser.cc,
 * weighted_cluster_specifier.cc), and the RE2 syntax of every RegexMatcher
 * (source/common/common/regex.cc), wherever one is used. */
#include <ctype.h>
#include <inttypes.h>
#include <strings.h>

#include "envoy-checks.h"
#include "hashmap.h"
#include "re2-shim.h"

/* A repeated field's items: a sequence's, or the one value the encoder
 * takes in the legacy form without brackets. */
static uint32_t count_of(const YamlNode *list) {
        return !list ? 0 : list->kind == YAML_KIND_SEQ ? list->n : 1;
}

static const YamlNode *item_at(const YamlNode *list, uint32_t i) {
        return list->kind == YAML_KIND_SEQ ? list->items[i] : list;
}

/* "field[i]" (or "field" for a value without brackets), to be freed. */
static char *item_path(const char *field, const YamlNode *list, uint32_t i) {
        return list->kind == YAML_KIND_SEQ ? xasprintf("%s[%" PRIu32 "]", field, i) : xstrdup(field);
}

static const YamlNode *field_of(const YamlNode *map, const char *field) {
        return map && map->kind == YAML_KIND_MAP ? yaml_map_get_field(map, field) : NULL;
}

/* A field that is set: a non-empty scalar, or a mapping (a message). */
static bool has_field(const YamlNode *map, const char *field) {
        const YamlNode *v = field_of(map, field);
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

/* ---- RegexMatcher: RE2 syntax ---- */

/* regex.cc, CompiledGoogleReMatcher: `regex_(regex, re2::RE2::Quiet)`,
 * and RE2's own error text when it does not compile. */
static void regex_matcher(CheckContext *c, const YamlNode *node) {
        const YamlNode *re = field_of(node, "regex");
        if (!yaml_is_scalar(re) || re->kind == YAML_KIND_NULL)
                return;
        _cleanup_free_ char *error = NULL;
        if (re2_check(re->str, re->n, &error) == -EINVAL)
                check_error(c, re, "regex", "envoy.route.regex-syntax", "%s", error);
}

/* ---- headers to add and remove (header_parser.cc, header_utility.cc) ---- */

static bool is_pseudo_or_host(const char *name) {
        return name[0] == ':' || !strcasecmp(name, "host");
}

static void headers_to_add(CheckContext *c, const YamlNode *node, const char *field) {
        const YamlNode *list = field_of(node, field);
        for (uint32_t i = 0; i < count_of(list); i++) {
                const YamlNode *hvo = item_at(list, i);
                _cleanup_free_ char *path = item_path(field, list, i);
                const YamlNode *key = field_of(field_of(hvo, "header"), "key");
                if (yaml_is_scalar(key) && key->n > 0 && is_pseudo_or_host(key->str)) {
                        _cleanup_free_ char *kp = xasprintf("%s.header.key", path);
                        check_error(c, key, kp, "envoy.route.header-not-modifiable",
                                    ":-prefixed or host headers may not be modified");
                }
                /* HeadersToAddEntry: append (a BoolValue) beside an append_action
                 * other than its default */
                if (field_of(hvo, "append") && field_of(hvo, "append_action") &&
                    !check_enum_is(hvo, "append_action", "APPEND_IF_EXISTS_OR_ADD", 0, true))
                        check_error(c, hvo, path, "envoy.route.header-append-conflict",
                                    "Both append and append_action are set and it's not allowed");
        }
}

static void headers_to_remove(CheckContext *c, const YamlNode *node, const char *field) {
        const YamlNode *list = field_of(node, field);
        for (uint32_t i = 0; i < count_of(list); i++) {
                const YamlNode *h = item_at(list, i);
                if (!yaml_is_scalar(h) || h->n == 0 || !is_pseudo_or_host(h->str))
                        continue;
                _cleanup_free_ char *path = item_path(field, list, i);
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
        const YamlNode *vhosts = field_of(node, "virtual_hosts");
        Hashmap seen = {};
        bool have_default = false;
        for (uint32_t v = 0; v < count_of(vhosts); v++) {
                const YamlNode *domains = field_of(item_at(vhosts, v), "domains");
                for (uint32_t d = 0; d < count_of(domains); d++) {
                        const YamlNode *dn = item_at(domains, d);
                        if (!yaml_is_scalar(dn) || dn->kind == YAML_KIND_NULL)
                                continue;
                        _cleanup_free_ char *lower = ascii_lower(dn->str);
                        _cleanup_free_ char *vp = item_path("virtual_hosts", vhosts, v);
                        _cleanup_free_ char *dp = item_path("domains", domains, d);
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
        if (field_of(node, "matcher") && count_of(field_of(node, "routes")) > 0)
                check_error(c, node, NULL, "envoy.route.vhost-matcher-and-routes",
                            "cannot set both matcher and routes on virtual host");
        const YamlNode *vcs = field_of(node, "virtual_clusters");
        for (uint32_t i = 0; i < count_of(vcs); i++) {
                const YamlNode *vc = item_at(vcs, i);
                if (vc->kind != YAML_KIND_MAP || count_of(field_of(vc, "headers")) > 0)
                        continue;
                _cleanup_free_ char *path = item_path("virtual_clusters", vcs, i);
                check_error(c, vc, path, "envoy.route.virtual-cluster-headers", "virtual clusters must define 'headers'");
        }
}

/* ---- Route and its RouteAction ---- */

/* WeightedClusterSpecifierPlugin: per cluster, one of name and
 * cluster_header and a weight; then the sum, by release. */
static void weighted_clusters(CheckContext *c, const YamlNode *wc, const char *route_name) {
        const YamlNode *list = field_of(wc, "clusters");
        uint64_t sum = 0;
        bool known = count_of(list) > 0;
        for (uint32_t i = 0; i < count_of(list); i++) {
                const YamlNode *cw = item_at(list, i);
                if (cw->kind != YAML_KIND_MAP) {
                        known = false;
                        continue;
                }
                _cleanup_free_ char *path = item_path("route.weighted_clusters.clusters", list, i);
                bool name = has_field(cw, "name"), header = has_field(cw, "cluster_header");
                if (name && header)
                        check_error(c, cw, path, "envoy.route.weighted-name-xor-header",
                                    "Only one of name or cluster_header can be specified");
                else if (!name && !header)
                        check_error(c, cw, path, "envoy.route.weighted-name-xor-header",
                                    "At least one of name or cluster_header need to be specified");
                const YamlNode *weight = field_of(cw, "weight");
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
                uint_of(field_of(wc, "total_weight"), &total);
                if (sum != total)
                        check_error(c, wc, "route.weighted_clusters", "envoy.route.weighted-sum-total",
                                    "Sum of weights in the weighted_cluster should add up to %" PRIu64, total);
        }
}

/* RouteEntryImplBase: upgrade types are unique (case-insensitive), and
 * only CONNECT ones carry a ConnectConfig. */
static void upgrade_configs(CheckContext *c, const YamlNode *action) {
        const YamlNode *list = field_of(action, "upgrade_configs");
        for (uint32_t i = 0; i < count_of(list); i++) {
                const YamlNode *uc = item_at(list, i);
                const YamlNode *t = field_of(uc, "upgrade_type");
                if (!yaml_is_scalar(t) || t->kind == YAML_KIND_NULL)
                        continue;
                _cleanup_free_ char *path = item_path("route.upgrade_configs", list, i);
                for (uint32_t j = 0; j < i; j++) {
                        const YamlNode *u = field_of(item_at(list, j), "upgrade_type");
                        if (yaml_is_scalar(u) && !strcasecmp(u->str, t->str)) {
                                _cleanup_free_ char *tp = xasprintf("%s.upgrade_type", path);
                                check_error(c, t, tp, "envoy.route.upgrade-duplicate", "Duplicate upgrade %s", t->str);
                                break;
                        }
                }
                if (field_of(uc, "connect_config") && !!strcasecmp(t->str, "CONNECT") && !!strcasecmp(t->str, "CONNECT-UDP")) {
                        _cleanup_free_ char *cp = xasprintf("%s.connect_config", path);
                        check_error(c, field_of(uc, "connect_config"), cp, "envoy.route.connect-config-non-connect",
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
        uint_of(field_of(d, "seconds"), &sec);
        uint_of(field_of(d, "nanos"), &nanos);
        *ret = (int64_t) (sec * 1000 + nanos / 1000000);
        return true;
}

/* RetryPolicyImpl: the back-off's intervals, each at least 1 ms. */
static void retry_back_off(CheckContext *c, const YamlNode *policy, const char *field) {
        const YamlNode *rb = field_of(policy, "retry_back_off");
        int64_t base, max;
        if (!duration_ms(field_of(rb, "base_interval"), &base) || !duration_ms(field_of(rb, "max_interval"), &max))
                return;
        if ((max < 1 ? 1 : max) < (base < 1 ? 1 : base)) {
                _cleanup_free_ char *path = xasprintf("%s.retry_back_off.max_interval", field);
                check_error(c, field_of(rb, "max_interval"), path, "envoy.route.retry-backoff-order",
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
        int rewrites = prefix + !!field_of(action, "regex_rewrite") + !!field_of(action, "path_rewrite_policy");
        if (rewrites > 1)
                check_error(c, action, "route", "envoy.route.rewrite-exclusive",
                            "Specify only one of prefix_rewrite, regex_rewrite or path_rewrite_policy");
        if (prefix && field_of(field_of(node, "match"), "path_match_policy"))
                check_error(c, field_of(action, "prefix_rewrite"), "route.prefix_rewrite",
                            "envoy.route.prefix-rewrite-with-template-match", "Cannot use prefix_rewrite with matcher extension");
        const YamlNode *wc = check_map(action, "weighted_clusters");
        if (wc)
                weighted_clusters(c, wc, check_scalar(node, "name"));
        upgrade_configs(c, action);
        retry_back_off(c, field_of(action, "retry_policy"), "route.retry_policy");
}

static void virtual_host_retry(CheckContext *c, const YamlNode *node) {
        retry_back_off(c, field_of(node, "retry_policy"), "retry_policy");
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
        const YamlNode *list = field_of(node, "response_headers_to_copy");
        for (uint32_t i = 0; i < count_of(list); i++) {
                const YamlNode *h = item_at(list, i);
                if (!yaml_is_scalar(h) || h->n == 0 || !is_pseudo_or_host(h->str))
                        continue;
                _cleanup_free_ char *path = item_path("response_headers_to_copy", list, i);
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
