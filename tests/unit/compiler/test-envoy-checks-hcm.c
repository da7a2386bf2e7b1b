/* SPDX-License-Identifier: MIT */
/* envoy-checks-hcm: what Envoy's HttpConnectionManagerConfig refuses —
 * strip-port options together, IP detection extensions with
 * use_remote_address or trusted hops, access_log_options with the
 * deprecated fields, an HTTP/3 codec off a QUIC listener (and the reverse),
 * duplicate upgrade types, a disabled last filter, a discovered filter
 * without warming nor default, terminal filters misplaced in upgrade
 * chains. Each with an offending and a passing input, compiled from YAML
 * with the built-in schema (check-cases.h); no case may give an error of
 * another rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "check-cases.h"

#define ROUTER "{name: envoy.filters.http.router, typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}"
#define CORS "{name: cors, typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors}}"
#define HEALTH "{name: health_check, typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck, pass_through_mode: false}}"
#define LISTENER(extra, hcm) \
        "\"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n" \
        "name: foo\n" \
        extra \
        "filter_chains:\n" \
        "- filters:\n" \
        "  - name: hcm\n" \
        "    typed_config:\n" \
        "      \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n" \
        "      stat_prefix: web\n" \
        "      rds: {route_config_name: r, config_source: {ads: {}}}\n" \
        hcm
#define TCP "address: {socket_address: {address: 127.0.0.1, port_value: 1234}}\n"
#define QUIC "address: {socket_address: {address: 127.0.0.1, port_value: 443, protocol: UDP}}\n" \
             "udp_listener_config: {quic_options: {}}\n"
#define HCM(fields) LISTENER(TCP, fields)
#define FILTERS "      http_filters: [" ROUTER "]\n"
#define IPD "      original_ip_detection_extensions: [{name: h, typed_config: {\"@type\": " \
            "type.googleapis.com/envoy.extensions.http.original_ip_detection.custom_header.v3.CustomHeaderConfig, " \
            "header_name: x-real-ip}}]\n"
#define P "filter_chains[0].filters[0].typed_config."

#define NOT_QUIC "11:19: error: " P "codec_type: HTTP/3 codec configured on non-QUIC listener."
#define ON_QUIC(AT) AT ": error: " P "codec_type: Non-HTTP/3 codec configured on QUIC listener."
#define UPGRADE(CHAIN) HCM(FILTERS "      upgrade_configs: [{upgrade_type: websocket, filters: [" CHAIN "]}]\n")

static const CheckCase cases[] = {
        /* HttpConnectionManagerConfigTest.BothStripOptionsAreSet */
        { "envoy.hcm.strip-port-exclusive",
          HCM("      strip_matching_host_port: true\n      strip_any_host_port: true\n" FILTERS),
          "11:33: error: " P "strip_matching_host_port: Error: Only one of `strip_matching_host_port` or "
          "`strip_any_host_port` can be set." },
        { "envoy.hcm.strip-port-exclusive",
          HCM("      strip_matching_host_port: true\n      strip_any_host_port: false\n" FILTERS) },
        { "envoy.hcm.strip-port-exclusive", HCM("      strip_any_host_port: true\n" FILTERS) },

        /* OriginalIPDetectionExtensionMixedWithUseRemoteAddress / ...WithNumTrustedHops */
        { "envoy.hcm.ip-detection-vs-remote-address", HCM("      use_remote_address: true\n" IPD FILTERS),
          "11:27: error: " P "use_remote_address: Original IP detection extensions and use_remote_address may not be "
          "mixed" },
        /* a BoolValue, also as {value: B} */
        { "envoy.hcm.ip-detection-vs-remote-address", HCM("      use_remote_address: {value: true}\n" IPD FILTERS),
          "11:27: error: " P "use_remote_address: Original IP detection extensions and use_remote_address may not be "
          "mixed" },
        { "envoy.hcm.ip-detection-vs-remote-address", HCM("      use_remote_address: true\n" FILTERS) },
        { "envoy.hcm.ip-detection-vs-remote-address", HCM("      use_remote_address: {value: false}\n" IPD FILTERS) },
        { "envoy.hcm.ip-detection-vs-xff-hops", HCM("      xff_num_trusted_hops: 1\n" IPD FILTERS),
          "11:29: error: " P "xff_num_trusted_hops: Original IP detection extensions and xff_num_trusted_hops may not "
          "be mixed" },
        { "envoy.hcm.ip-detection-vs-xff-hops", HCM("      xff_num_trusted_hops: 0\n" IPD FILTERS) },
        { "envoy.hcm.ip-detection-vs-xff-hops", HCM("      xff_num_trusted_hops: 2\n" FILTERS) },

        { "envoy.hcm.access-log-options-exclusive",
          HCM("      access_log_options: {}\n      flush_access_log_on_new_request: true\n" FILTERS),
          "12:40: error: " P "flush_access_log_on_new_request: Only one of flush_access_log_on_new_request or "
          "access_log_options can be specified." },
        { "envoy.hcm.access-log-options-exclusive",
          HCM("      access_log_options: {}\n      access_log_flush_interval: 1s\n" FILTERS),
          "12:34: error: " P "access_log_flush_interval: Only one of access_log_flush_interval or access_log_options "
          "can be specified." },
        { "envoy.hcm.access-log-options-exclusive",
          HCM("      access_log_options: {access_log_flush_interval: 1s, flush_access_log_on_new_request: true}\n"
              FILTERS) },
        { "envoy.hcm.access-log-options-exclusive",
          HCM("      flush_access_log_on_new_request: true\n      access_log_flush_interval: 1s\n" FILTERS) },

        /* Http3Configured, Http3HalfConfigured */
        { "envoy.hcm.http3-needs-quic", HCM("      codec_type: HTTP3\n" FILTERS), NOT_QUIC },
        { "envoy.hcm.http3-needs-quic", HCM("      codec_type: 3\n" FILTERS), NOT_QUIC },
        { "envoy.hcm.http3-needs-quic", HCM("      codec_type: HTTP2\n" FILTERS) },
        { "envoy.hcm.quic-needs-http3", LISTENER(QUIC, "      codec_type: HTTP1\n" FILTERS), ON_QUIC("12:19") },
        /* absent: AUTO */
        { "envoy.hcm.quic-needs-http3", LISTENER(QUIC, FILTERS), ON_QUIC("9:7") },
        { "envoy.hcm.quic-needs-http3", LISTENER(QUIC, "      codec_type: HTTP3\n" FILTERS) },

        /* FilterChainTest.InvalidConfig */
        { "envoy.hcm.upgrade-type-unique",
          HCM(FILTERS "      upgrade_configs: [{upgrade_type: WEBSOCKET}, {upgrade_type: websocket}]\n"),
          "12:67: error: " P "upgrade_configs[1].upgrade_type: Error: multiple upgrade configs with the same name: "
          "'websocket'" },
        { "envoy.hcm.upgrade-type-unique",
          HCM(FILTERS "      upgrade_configs: [{upgrade_type: WEBSOCKET}, {upgrade_type: CONNECT}]\n") },

        { "envoy.hcm.last-filter-not-disabled",
          HCM("      http_filters: [" CORS ", {name: r, disabled: true, typed_config: {\"@type\": "
              "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}]\n"),
          "11:145: error: " P "http_filters[1]: Error: the last (terminal) filter (r) in the chain cannot be disabled "
          "by default." },
        { "envoy.hcm.last-filter-not-disabled",
          HCM("      http_filters: [{name: cors, disabled: true, typed_config: {\"@type\": "
              "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors}}, " ROUTER "]\n") },

        { "envoy.hcm.ecds-default-config",
          HCM("      http_filters: [{name: d, config_discovery: {config_source: {ads: {}}, "
              "apply_default_config_without_warming: true, type_urls: "
              "[type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors]}}, " ROUTER "]\n"),
          "11:50: error: " P "http_filters[0].config_discovery: Error: filter config d applied without warming but has "
          "no default config." },
        { "envoy.hcm.ecds-default-config",
          HCM("      http_filters: [{name: d, config_discovery: {config_source: {ads: {}}, "
              "apply_default_config_without_warming: true, default_config: {\"@type\": "
              "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors}, type_urls: "
              "[type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors]}}, " ROUTER "]\n") },

        /* the upgrade chains (http_filters: graph.router-last, graph.router-filter) */
        { "envoy.hcm.terminal-filter-last",
          UPGRADE(ROUTER ", {name: r2, typed_config: {\"@type\": "
                  "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}"),
          "12:68: error: " P "upgrade_configs[0].filters[0]: Error: terminal filter named envoy.filters.http.router of "
          "type envoy.filters.http.router must be the last filter in a http upgrade filter chain." },
        { "envoy.hcm.last-filter-terminal",
          UPGRADE(HEALTH),
          "12:68: error: " P "upgrade_configs[0].filters[0]: Error: non-terminal filter named health_check of type "
          "envoy.filters.http.health_check is the last filter in a http upgrade filter chain." },
        { "envoy.hcm.last-filter-terminal", UPGRADE(CORS ", " ROUTER) },
        /* a type the table does not know: no verdict */
        { "envoy.hcm.last-filter-terminal",
          UPGRADE("{name: u, typed_config: {\"@type\": "
                  "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec}}") },
};

int main(void) {
        return check_cases_main("envoy-checks-hcm", cases, ELEMENTSOF(cases), CHECK_OTHERS_NO_ERRORS);
}
