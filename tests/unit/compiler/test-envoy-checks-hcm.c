/* SPDX-License-Identifier: MIT */
/* envoy-checks-hcm: what Envoy's HttpConnectionManagerConfig refuses —
 * strip-port options together, IP detection extensions with
 * use_remote_address or trusted hops, access_log_options with the
 * deprecated fields, an HTTP/3 codec off a QUIC listener (and the reverse),
 * duplicate upgrade types, a disabled last filter, a discovered filter
 * without warming nor default, terminal filters misplaced in upgrade
 * chains. Each with an offending and a passing input, compiled from YAML
 * with the built-in schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "compile.h"

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

static Schema *schema;

static int group_setup(void **state) {
        return schema_load_builtin(&schema);
}

static int group_teardown(void **state) {
        schema = schema_free(schema);
        return 0;
}

/* Compiles yaml; the one diagnostic of rule, formatted, or NULL. Any other
 * error fails the test. */
static char *diag_of(const char *yaml, const char *rule) {
        DiagList d = {};
        CompileResult res = {};
        (void) compile_data(schema, "x.yaml", yaml, strlen(yaml), NULL, &d, &res);
        compile_result_done(&res);
        char *found = NULL;
        for (size_t i = 0; i < d.n; i++) {
                if (!d.items[i].rule || !streq(d.items[i].rule, rule)) {
                        if (d.items[i].level == DIAG_WARNING)
                                continue; /* e.g. a legacy form */
                        diag_list_print(&d, stderr);
                        fail();
                }
                assert_null(found);
                found = diag_format(&d.items[i]);
        }
        diag_list_clear(&d);
        return found;
}

static void assert_rule(const char *yaml, const char *rule, const char *expected) {
        _cleanup_free_ char *s = diag_of(yaml, rule);
        assert_non_null(s);
        assert_string_equal(s, expected);
}

static void assert_clean(const char *yaml) {
        _cleanup_free_ char *s = diag_of(yaml, "none");
        assert_null(s);
}

/* HttpConnectionManagerConfigTest.BothStripOptionsAreSet */
static void test_strip_port(void **state) {
        assert_rule(HCM("      strip_matching_host_port: true\n      strip_any_host_port: true\n" FILTERS),
                    "envoy.hcm.strip-port-exclusive",
                    "x.yaml:11:33: error: " P "strip_matching_host_port: Error: Only one of `strip_matching_host_port` "
                    "or `strip_any_host_port` can be set. [envoy.hcm.strip-port-exclusive]");
        assert_clean(HCM("      strip_matching_host_port: true\n      strip_any_host_port: false\n" FILTERS));
        assert_clean(HCM("      strip_any_host_port: true\n" FILTERS));
}

/* OriginalIPDetectionExtensionMixedWithUseRemoteAddress / ...WithNumTrustedHops */
static void test_ip_detection(void **state) {
        assert_rule(HCM("      use_remote_address: true\n" IPD FILTERS), "envoy.hcm.ip-detection-vs-remote-address",
                    "x.yaml:11:27: error: " P "use_remote_address: Original IP detection extensions and "
                    "use_remote_address may not be mixed [envoy.hcm.ip-detection-vs-remote-address]");
        /* a BoolValue, also as {value: B} */
        assert_rule(HCM("      use_remote_address: {value: true}\n" IPD FILTERS), "envoy.hcm.ip-detection-vs-remote-address",
                    "x.yaml:11:27: error: " P "use_remote_address: Original IP detection extensions and "
                    "use_remote_address may not be mixed [envoy.hcm.ip-detection-vs-remote-address]");
        assert_clean(HCM("      use_remote_address: true\n" FILTERS));
        assert_clean(HCM("      use_remote_address: {value: false}\n" IPD FILTERS));
        assert_rule(HCM("      xff_num_trusted_hops: 1\n" IPD FILTERS), "envoy.hcm.ip-detection-vs-xff-hops",
                    "x.yaml:11:29: error: " P "xff_num_trusted_hops: Original IP detection extensions and "
                    "xff_num_trusted_hops may not be mixed [envoy.hcm.ip-detection-vs-xff-hops]");
        assert_clean(HCM("      xff_num_trusted_hops: 0\n" IPD FILTERS));
        assert_clean(HCM("      xff_num_trusted_hops: 2\n" FILTERS));
}

static void test_access_log_options(void **state) {
        assert_rule(HCM("      access_log_options: {}\n      flush_access_log_on_new_request: true\n" FILTERS),
                    "envoy.hcm.access-log-options-exclusive",
                    "x.yaml:12:40: error: " P "flush_access_log_on_new_request: Only one of "
                    "flush_access_log_on_new_request or access_log_options can be specified. "
                    "[envoy.hcm.access-log-options-exclusive]");
        assert_rule(HCM("      access_log_options: {}\n      access_log_flush_interval: 1s\n" FILTERS),
                    "envoy.hcm.access-log-options-exclusive",
                    "x.yaml:12:34: error: " P "access_log_flush_interval: Only one of access_log_flush_interval or "
                    "access_log_options can be specified. [envoy.hcm.access-log-options-exclusive]");
        assert_clean(HCM("      access_log_options: {access_log_flush_interval: 1s, flush_access_log_on_new_request: "
                         "true}\n" FILTERS));
        assert_clean(HCM("      flush_access_log_on_new_request: true\n      access_log_flush_interval: 1s\n" FILTERS));
}

/* Http3Configured, Http3HalfConfigured */
static void test_codec(void **state) {
        assert_rule(HCM("      codec_type: HTTP3\n" FILTERS), "envoy.hcm.http3-needs-quic",
                    "x.yaml:11:19: error: " P "codec_type: HTTP/3 codec configured on non-QUIC listener. "
                    "[envoy.hcm.http3-needs-quic]");
        assert_rule(HCM("      codec_type: 3\n" FILTERS), "envoy.hcm.http3-needs-quic",
                    "x.yaml:11:19: error: " P "codec_type: HTTP/3 codec configured on non-QUIC listener. "
                    "[envoy.hcm.http3-needs-quic]");
        assert_clean(HCM("      codec_type: HTTP2\n" FILTERS));
        assert_rule(LISTENER(QUIC, "      codec_type: HTTP1\n" FILTERS), "envoy.hcm.quic-needs-http3",
                    "x.yaml:12:19: error: " P "codec_type: Non-HTTP/3 codec configured on QUIC listener. "
                    "[envoy.hcm.quic-needs-http3]");
        /* absent: AUTO */
        assert_rule(LISTENER(QUIC, FILTERS), "envoy.hcm.quic-needs-http3",
                    "x.yaml:9:7: error: " P "codec_type: Non-HTTP/3 codec configured on QUIC listener. "
                    "[envoy.hcm.quic-needs-http3]");
        assert_clean(LISTENER(QUIC, "      codec_type: HTTP3\n" FILTERS));
}

/* FilterChainTest.InvalidConfig */
static void test_upgrade_types(void **state) {
        assert_rule(HCM(FILTERS "      upgrade_configs: [{upgrade_type: WEBSOCKET}, {upgrade_type: websocket}]\n"),
                    "envoy.hcm.upgrade-type-unique",
                    "x.yaml:12:67: error: " P "upgrade_configs[1].upgrade_type: Error: multiple upgrade configs with "
                    "the same name: 'websocket' [envoy.hcm.upgrade-type-unique]");
        assert_clean(HCM(FILTERS "      upgrade_configs: [{upgrade_type: WEBSOCKET}, {upgrade_type: CONNECT}]\n"));
}

static void test_last_disabled(void **state) {
        assert_rule(HCM("      http_filters: [" CORS ", {name: r, disabled: true, typed_config: {\"@type\": "
                        "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}]\n"),
                    "envoy.hcm.last-filter-not-disabled",
                    "x.yaml:11:145: error: " P "http_filters[1]: Error: the last (terminal) filter (r) in the chain "
                    "cannot be disabled by default. [envoy.hcm.last-filter-not-disabled]");
        assert_clean(HCM("      http_filters: [{name: cors, disabled: true, typed_config: {\"@type\": "
                         "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors}}, " ROUTER "]\n"));
}

static void test_ecds_default(void **state) {
        assert_rule(HCM("      http_filters: [{name: d, config_discovery: {config_source: {ads: {}}, "
                        "apply_default_config_without_warming: true, type_urls: "
                        "[type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors]}}, " ROUTER "]\n"),
                    "envoy.hcm.ecds-default-config",
                    "x.yaml:11:50: error: " P "http_filters[0].config_discovery: Error: filter config d applied without "
                    "warming but has no default config. [envoy.hcm.ecds-default-config]");
        assert_clean(HCM("      http_filters: [{name: d, config_discovery: {config_source: {ads: {}}, "
                         "apply_default_config_without_warming: true, default_config: {\"@type\": "
                         "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors}, type_urls: "
                         "[type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors]}}, " ROUTER "]\n"));
}

/* the upgrade chains (http_filters: graph.router-last, graph.router-filter) */
static void test_upgrade_terminal(void **state) {
        assert_rule(HCM(FILTERS "      upgrade_configs: [{upgrade_type: websocket, filters: [" ROUTER ", {name: r2, "
                        "typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}]}]\n"),
                    "envoy.hcm.terminal-filter-last",
                    "x.yaml:12:68: error: " P "upgrade_configs[0].filters[0]: Error: terminal filter named "
                    "envoy.filters.http.router of type envoy.filters.http.router must be the last filter in a http "
                    "upgrade filter chain. [envoy.hcm.terminal-filter-last]");
        assert_rule(HCM(FILTERS "      upgrade_configs: [{upgrade_type: websocket, filters: [" HEALTH "]}]\n"),
                    "envoy.hcm.last-filter-terminal",
                    "x.yaml:12:68: error: " P "upgrade_configs[0].filters[0]: Error: non-terminal filter named "
                    "health_check of type envoy.filters.http.health_check is the last filter in a http upgrade filter "
                    "chain. [envoy.hcm.last-filter-terminal]");
        assert_clean(HCM(FILTERS "      upgrade_configs: [{upgrade_type: websocket, filters: [" CORS ", " ROUTER "]}]\n"));
        /* a type the table does not know: no verdict */
        assert_clean(HCM(FILTERS "      upgrade_configs: [{upgrade_type: websocket, filters: [{name: u, typed_config: "
                         "{\"@type\": type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec}}]}]\n"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_strip_port),        cmocka_unit_test(test_ip_detection),
                cmocka_unit_test(test_access_log_options), cmocka_unit_test(test_codec),
                cmocka_unit_test(test_upgrade_types),     cmocka_unit_test(test_last_disabled),
                cmocka_unit_test(test_ecds_default),      cmocka_unit_test(test_upgrade_terminal),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
