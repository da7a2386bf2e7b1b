/* SPDX-License-Identifier: MIT */
/* Envoy's load-time checks: the HTTP connection manager (see
 * envoy-checks.h and docs/envoy-checks/hcm.md). They mirror the
 * HttpConnectionManagerConfig constructor
 * (source/extensions/filters/network/http_connection_manager/config.cc),
 * FilterChainHelper::processFilter (source/common/http/filter_chain_helper.h)
 * and Config::Utility::validateTerminalFilters
 * (source/common/config/utility.cc). The router's place in http_filters is
 * graph.c's (graph.router-filter, graph.router-last); the upgrade filter
 * chains are checked here. */
#include "envoy-checks.h"

#define HCM_TYPE "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
#define HTTP_FILTER_PACKAGE "envoy.extensions.filters.http."

/* The HTTP filters of Envoy's extensions_build_config.bzl, each registered
 * as envoy.filters.http.<package> for the config types of
 * envoy.extensions.filters.http.<package>.v3, none terminal: their
 * factories keep FactoryBase's isTerminalFilterByProtoTyped (false). The
 * router is the terminal one; upstream_codec is an upstream filter only and
 * dynamic_modules is terminal by its config, so both stay unclassified. */
static const char *const non_terminal[] = {
        "adaptive_concurrency", "admission_control", "alternate_protocols_cache", "aws_lambda",
        "aws_request_signing", "bandwidth_limit", "basic_auth", "buffer", "cache", "cdn_loop", "compressor", "cors",
        "composite", "connect_grpc_bridge", "credential_injector", "csrf", "custom_response", "decompressor",
        "dynamic_forward_proxy", "ext_authz", "ext_proc", "fault", "file_system_buffer", "gcp_authn", "geoip",
        "grpc_field_extraction", "grpc_http1_bridge", "grpc_http1_reverse_bridge", "grpc_json_transcoder",
        "grpc_stats", "grpc_web", "header_to_metadata", "health_check", "ip_tagging", "json_to_metadata",
        "jwt_authn", "rate_limit_quota", "kill_request", "local_ratelimit", "lua", "oauth2", "on_demand",
        "original_src", "ratelimit", "rbac", "set_filter_state", "set_metadata", "tap", "thrift_to_metadata", "wasm",
        "stateful_session", "header_mutation",
};

typedef enum FilterKind {
        FILTER_UNKNOWN,
        FILTER_TERMINAL,
        FILTER_NON_TERMINAL,
} FilterKind;

/* The type of an HttpFilter's typed_config (a TypedStruct's inner type, as
 * Envoy's getFactoryType takes it), without "type.googleapis.com/". */
static const char *filter_type(const YamlNode *filter) {
        const YamlNode *tc = check_map(filter, "typed_config");
        const YamlNode *t = tc ? yaml_map_get(tc, "@type") : NULL;
        if (!t || t->kind != YAML_KIND_STRING)
                return NULL;
        const char *s = strrchr(t->str, '/') ? strrchr(t->str, '/') + 1 : t->str;
        if (streq(s, "xds.type.v3.TypedStruct") || streq(s, "udpa.type.v1.TypedStruct")) {
                const char *inner = check_scalar(tc, "type_url");
                if (!inner)
                        return NULL;
                s = strrchr(inner, '/') ? strrchr(inner, '/') + 1 : inner;
        }
        return s;
}

/* Whether the filter is terminal, and its factory's name (ret_factory: a
 * new string) when known. A filter without typed_config is classified by
 * its name, as an Envoy before 1.22 looks it up (a later one refuses it:
 * envoy.extension.typed-config). */
static FilterKind filter_kind(CheckContext *c, const YamlNode *filter, char **ret_factory) {
        const char *type = filter_type(filter);
        if (!type) {
                const char *name = check_scalar(filter, "name");
                if (!name || c->envoy_version >= ENVOY_VERSION(22, 0) || yaml_map_get_field(filter, "typed_config") ||
                    !startswith(name, "envoy.filters.http."))
                        return FILTER_UNKNOWN;
                const char *pkg = name + strlen("envoy.filters.http.");
                if (streq(pkg, "router")) {
                        *ret_factory = xstrdup(name);
                        return FILTER_TERMINAL;
                }
                for (size_t i = 0; i < ELEMENTSOF(non_terminal); i++)
                        if (streq(pkg, non_terminal[i])) {
                                *ret_factory = xstrdup(name);
                                return FILTER_NON_TERMINAL;
                        }
                return FILTER_UNKNOWN;
        }
        if (!startswith(type, HTTP_FILTER_PACKAGE))
                return FILTER_UNKNOWN;
        const char *pkg = type + strlen(HTTP_FILTER_PACKAGE), *dot = strchr(pkg, '.');
        if (!dot || !startswith(dot, ".v3.") || endswith(type, "PerRoute"))
                return FILTER_UNKNOWN;
        size_t len = dot - pkg;
        if (streq(type, "envoy.extensions.filters.http.router.v3.Router")) {
                *ret_factory = xstrdup("envoy.filters.http.router");
                return FILTER_TERMINAL;
        }
        for (size_t i = 0; i < ELEMENTSOF(non_terminal); i++)
                if (strneq_len(pkg, len, non_terminal[i])) {
                        *ret_factory = xasprintf("envoy.filters.http.%s", non_terminal[i]);
                        return FILTER_NON_TERMINAL;
                }
        return FILTER_UNKNOWN;
}

/* FilterChainHelper::processFilters over one chain (field: its path,
 * chain: Envoy's name for it, "http" or "http upgrade"). terminal: whether
 * to place terminal filters here (graph.c does for http_filters). */
static void filter_chain(CheckContext *c, const YamlNode *filters, const char *field, const char *chain,
                         bool terminal) {
        if (!filters || filters->kind != YAML_KIND_SEQ)
                return;
        for (uint32_t i = 0; i < filters->n; i++) {
                const YamlNode *f = filters->items[i];
                if (f->kind != YAML_KIND_MAP)
                        continue;
                bool last = i == filters->n - 1;
                const char *name = check_scalar(f, "name") ?: "";
                const YamlNode *at = yaml_map_get_field(f, "name") ?: f;
                _cleanup_free_ char *path = xasprintf("%s[%u]", field, i);
                if (last && check_true(f, "disabled")) {
                        check_error(c, yaml_map_get_field(f, "disabled"), path, "envoy.hcm.last-filter-not-disabled",
                                    "Error: the last (terminal) filter (%s) in the chain cannot be disabled by default.",
                                    name);
                        continue;
                }
                const YamlNode *cd = check_map(f, "config_discovery");
                if (cd) {
                        if (check_true(cd, "apply_default_config_without_warming") &&
                            !check_map(cd, "default_config")) {
                                _cleanup_free_ char *p = xasprintf("%s.config_discovery", path);
                                check_error(c, cd, p, "envoy.hcm.ecds-default-config",
                                            "Error: filter config %s applied without warming but has no default config.",
                                            name);
                        }
                        continue; /* no terminal check at load for a discovered filter */
                }
                if (!terminal)
                        continue;
                _cleanup_free_ char *factory = NULL;
                FilterKind k = filter_kind(c, f, &factory);
                if (k == FILTER_TERMINAL && !last)
                        check_error(c, at, path, "envoy.hcm.terminal-filter-last",
                                    "Error: terminal filter named %s of type %s must be the last filter in a %s filter "
                                    "chain.", name, factory, chain);
                else if (k == FILTER_NON_TERMINAL && last && !check_true(f, "is_optional"))
                        check_error(c, at, path, "envoy.hcm.last-filter-terminal",
                                    "Error: non-terminal filter named %s of type %s is the last filter in a %s filter "
                                    "chain.", name, factory, chain);
        }
}

/* The upgrade configs: one per upgrade type (compared ignoring ASCII case),
 * and their own filter chains. */
static void upgrade_configs(CheckContext *c, const YamlNode *ucs) {
        if (!ucs || ucs->kind != YAML_KIND_SEQ)
                return;
        for (uint32_t i = 0; i < ucs->n; i++) {
                const YamlNode *t = yaml_map_get_field(ucs->items[i], "upgrade_type");
                if (ucs->items[i]->kind != YAML_KIND_MAP || !t || !yaml_is_scalar(t))
                        continue;
                for (uint32_t j = 0; j < i; j++) {
                        const char *u = check_scalar(ucs->items[j], "upgrade_type");
                        if (u && strcasecmp(u, t->str) == 0) {
                                _cleanup_free_ char *p = xasprintf("upgrade_configs[%u].upgrade_type", i);
                                check_error(c, t, p, "envoy.hcm.upgrade-type-unique",
                                            "Error: multiple upgrade configs with the same name: '%s'", t->str);
                                break;
                        }
                }
                _cleanup_free_ char *p = xasprintf("upgrade_configs[%u].filters", i);
                filter_chain(c, check_seq(ucs->items[i], "filters"), p, "http upgrade", true);
        }
}

/* A repeated field that holds something: a non-empty list, or one
 * mapping given where a list is expected. */
static bool list_non_empty(const YamlNode *map, const char *field) {
        const YamlNode *v = yaml_map_get_field(map, field);
        return v && ((v->kind == YAML_KIND_SEQ && v->n > 0) || v->kind == YAML_KIND_MAP);
}

/* Whether an unsigned field is above zero (a number, or a quoted one). */
static bool uint_positive(const YamlNode *map, const char *field) {
        const char *v = check_scalar(map, field);
        if (!v || !*v)
                return false;
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        return !errno && !*end && x > 0;
}

static void hcm(CheckContext *c, const YamlNode *node) {
        if (check_true(node, "strip_any_host_port") && check_true(node, "strip_matching_host_port"))
                check_error(c, yaml_map_get_field(node, "strip_matching_host_port"), "strip_matching_host_port",
                            "envoy.hcm.strip-port-exclusive",
                            "Error: Only one of `strip_matching_host_port` or `strip_any_host_port` can be set.");
        if (list_non_empty(node, "original_ip_detection_extensions")) {
                if (check_true(node, "use_remote_address"))
                        check_error(c, yaml_map_get_field(node, "use_remote_address"), "use_remote_address",
                                    "envoy.hcm.ip-detection-vs-remote-address",
                                    "Original IP detection extensions and use_remote_address may not be mixed");
                else if (uint_positive(node, "xff_num_trusted_hops"))
                        check_error(c, yaml_map_get_field(node, "xff_num_trusted_hops"), "xff_num_trusted_hops",
                                    "envoy.hcm.ip-detection-vs-xff-hops",
                                    "Original IP detection extensions and xff_num_trusted_hops may not be mixed");
        }
        if (check_map(node, "access_log_options")) {
                const YamlNode *interval = yaml_map_get_field(node, "access_log_flush_interval");
                if (check_true(node, "flush_access_log_on_new_request"))
                        check_error(c, yaml_map_get_field(node, "flush_access_log_on_new_request"),
                                    "flush_access_log_on_new_request", "envoy.hcm.access-log-options-exclusive",
                                    "Only one of flush_access_log_on_new_request or access_log_options can be specified.");
                else if (interval && interval->kind != YAML_KIND_NULL)
                        check_error(c, interval, "access_log_flush_interval", "envoy.hcm.access-log-options-exclusive",
                                    "Only one of access_log_flush_interval or access_log_options can be specified.");
        }
        filter_chain(c, check_seq(node, "http_filters"), "http_filters", "http", false);
        upgrade_configs(c, check_seq(node, "upgrade_configs"));
}

/* The HCMs of one filter chain against the listener: HTTP/3 exactly on a
 * QUIC listener (ListenerInfoImpl: udp_listener_config has quic_options). */
static void chain_codecs(CheckContext *c, const YamlNode *chain, const char *field, bool quic) {
        const YamlNode *filters = chain ? yaml_map_get_field(chain, "filters") : NULL;
        if (!filters)
                return;
        bool one = filters->kind == YAML_KIND_MAP; /* a single filter where a list is expected */
        if (!one && filters->kind != YAML_KIND_SEQ)
                return;
        for (uint32_t i = 0; i < (one ? 1 : filters->n); i++) {
                const YamlNode *f = one ? filters : filters->items[i];
                const YamlNode *tc = check_map(f, "typed_config");
                const YamlNode *t = tc ? yaml_map_get(tc, "@type") : NULL;
                if (!t || t->kind != YAML_KIND_STRING || !streq(t->str, HCM_TYPE))
                        continue;
                bool http3 = check_enum_is(tc, "codec_type", "HTTP3", 3, false);
                const YamlNode *codec = yaml_map_get_field(tc, "codec_type");
                _cleanup_free_ char *p = one ? xasprintf("%s.filters.typed_config.codec_type", field)
                                             : xasprintf("%s.filters[%u].typed_config.codec_type", field, i);
                if (http3 && !quic)
                        check_error(c, codec, p, "envoy.hcm.http3-needs-quic",
                                    "HTTP/3 codec configured on non-QUIC listener.");
                else if (!http3 && quic)
                        check_error(c, codec ? codec : tc, p, "envoy.hcm.quic-needs-http3",
                                    "Non-HTTP/3 codec configured on QUIC listener.");
        }
}

static void listener(CheckContext *c, const YamlNode *node) {
        const YamlNode *udp = check_map(node, "udp_listener_config");
        const YamlNode *qo = udp ? yaml_map_get_field(udp, "quic_options") : NULL;
        bool quic = qo && qo->kind != YAML_KIND_NULL;
        const YamlNode *chains = check_seq(node, "filter_chains");
        for (uint32_t i = 0; chains && i < chains->n; i++) {
                _cleanup_free_ char *p = xasprintf("filter_chains[%u]", i);
                chain_codecs(c, chains->items[i]->kind == YAML_KIND_MAP ? chains->items[i] : NULL, p, quic);
        }
        chain_codecs(c, check_map(node, "default_filter_chain"), "default_filter_chain", quic);
}

const Check envoy_checks_hcm[] = {
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", hcm },
        { "envoy.config.listener.v3.Listener", listener },
        { NULL },
};
