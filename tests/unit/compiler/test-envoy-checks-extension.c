/* SPDX-License-Identifier: MIT */
/* envoy-checks-extension: every {name, typed_config} slot Envoy resolves by
 * type URL (listener, network, upstream network and HTTP filters, access
 * loggers, transport sockets) refused without typed_config for Envoy 1.22
 * and later, warned about before; optional and discovered HTTP filters
 * excepted. Resources are compiled from YAML with the built-in schema
 * (check-cases.h); a passing input gives no diagnostic at all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "check-cases.h"

#define RULE "envoy.extension.typed-config"
#define ROUTER "{name: envoy.filters.http.router, typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}"
#define LISTENER \
        "\"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n" \
        "name: foo\n" \
        "address: {socket_address: {address: 127.0.0.1, port_value: 1234}}\n"
#define HCM(filters) \
        LISTENER \
        "filter_chains:\n" \
        "- filters:\n" \
        "  - name: hcm\n" \
        "    typed_config:\n" \
        "      \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n" \
        "      stat_prefix: web\n" \
        "      rds: {route_config_name: r, config_source: {ads: {}}}\n" \
        "      http_filters: " filters "\n"
#define CLUSTER \
        "\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\n" \
        "name: backend\n" \
        "connect_timeout: 1s\n"

/* Envoy's words when name is looked up with an empty type URL */
#define NOT_FOUND(NAME) "Didn't find a registered implementation for '" NAME "' with type URL: ''"
#define ECHO "{\"@type\": type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo}"

static const CheckCase cases[] = {
        /* Envoy's ListenerManagerImplWithRealFiltersTest.BadFilterName */
        { RULE, LISTENER "filter_chains:\n- filters:\n  - name: invalid\n",
          "6:11: error: filter_chains[0].filters[0]: " NOT_FOUND("invalid") },
        { RULE, LISTENER "filter_chains:\n- filters:\n  - name: invalid\n    typed_config: " ECHO "\n" },
        /* typed_config: {} leaves the type URL empty too */
        { RULE, LISTENER "filter_chains:\n- filters:\n  - {name: echo, typed_config: {}}\n",
          "6:12: error: filter_chains[0].filters[0]: " NOT_FOUND("echo") },
        /* default_filter_chain */
        { RULE, LISTENER "default_filter_chain: {filters: [{name: echo}]}\n",
          "4:41: error: default_filter_chain.filters[0]: " NOT_FOUND("echo") },
        /* a discovered filter is not looked up at load */
        { RULE, LISTENER "filter_chains:\n- filters:\n  - name: d\n    config_discovery: {config_source: {ads: {}}, "
                         "type_urls: [type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo]}\n" },

        { RULE, LISTENER "listener_filters: [{name: envoy.filters.listener.tls_inspector}]\n"
                         "filter_chains: [{filters: [{name: e, typed_config: " ECHO "}]}]\n",
          "4:27: error: listener_filters[0]: " NOT_FOUND("envoy.filters.listener.tls_inspector") },
        { RULE, LISTENER "listener_filters: [{name: t, typed_config: {\"@type\": "
                         "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector}}]\n"
                         "filter_chains: [{filters: [{name: e, typed_config: " ECHO "}]}]\n" },

        { RULE, HCM("[{name: envoy.filters.http.router}]"),
          "11:29: error: filter_chains[0].filters[0].typed_config.http_filters[0]: "
          NOT_FOUND("envoy.filters.http.router") },
        { RULE, HCM("[" ROUTER "]") },
        /* before 1.22 the name was looked up: a warning */
        { RULE, HCM("[{name: envoy.filters.http.router}]"),
          "11:29: warning: filter_chains[0].filters[0].typed_config.http_filters[0]: no typed_config: this Envoy "
          "looks 'envoy.filters.http.router' up by name, Envoy 1.22 and later refuse it: "
          NOT_FOUND("envoy.filters.http.router"),
          ENVOY_VERSION(21, 0) },
        /* an optional filter is skipped, with Envoy's warning */
        { "envoy.extension.optional-filter-skipped", HCM("[{name: envoy.filters.http.cors, is_optional: true}, " ROUTER "]"),
          "11:29: warning: filter_chains[0].filters[0].typed_config.http_filters[0]: Didn't find a registered factory "
          "for the optional http filter envoy.filters.http.cors" },
        { "envoy.extension.optional-filter-skipped",
          HCM("[{name: c, is_optional: true, typed_config: {\"@type\": "
              "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors}}, " ROUTER "]") },
        /* ECDS */
        { RULE, HCM("[{name: c, config_discovery: {config_source: {ads: {}}, type_urls: "
                    "[type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors]}}, " ROUTER "]") },

        { RULE, HCM("[" ROUTER "]\n      access_log: [{name: envoy.access_loggers.stdout}]"),
          "12:27: error: filter_chains[0].filters[0].typed_config.access_log[0]: "
          NOT_FOUND("envoy.access_loggers.stdout") },
        { RULE, HCM("[" ROUTER "]\n      access_log: [{name: l, typed_config: {\"@type\": "
                    "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog}}]") },

        { RULE, CLUSTER "transport_socket: {name: envoy.transport_sockets.raw_buffer}\n",
          "4:26: error: transport_socket: " NOT_FOUND("envoy.transport_sockets.raw_buffer") },
        { RULE, CLUSTER "transport_socket_matches: [{name: m, transport_socket: {name: tls}}]\n",
          "4:63: error: transport_socket_matches[0].transport_socket: " NOT_FOUND("tls") },
        { RULE, CLUSTER "transport_socket: {name: r, typed_config: {\"@type\": "
                        "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer}}\n" },
        /* a cluster's upstream network filter */
        { RULE, CLUSTER "filters: [{name: f}]\n", "4:18: error: filters[0]: " NOT_FOUND("f") },
};

int main(void) {
        return check_cases_main("envoy-checks-extension", cases, ELEMENTSOF(cases), CHECK_OTHERS_NONE_WHEN_CLEAN);
}
