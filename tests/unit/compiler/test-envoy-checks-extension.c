/* SPDX-License-Identifier: MIT */
/* envoy-checks-extension: every {name, typed_config} slot Envoy resolves by
 * type URL (listener, network, upstream network and HTTP filters, access
 * loggers, transport sockets) refused without typed_config for Envoy 1.22
 * and later, warned about before; optional and discovered HTTP filters
 * excepted. Resources are compiled from YAML with the built-in schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "compile.h"

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

static Schema *schema;

static int group_setup(void **state) {
        return schema_load_builtin(&schema);
}

static int group_teardown(void **state) {
        schema = schema_free(schema);
        return 0;
}

/* Compiles yaml for Envoy 1.minor; ret: the diagnostics. */
static void compile(const char *yaml, unsigned minor, DiagList *ret) {
        CompileResult res = {};
        schema_set_envoy_version(schema, ENVOY_VERSION(minor, 0));
        (void) compile_data(schema, "x.yaml", yaml, strlen(yaml), NULL, ret, &res);
        compile_result_done(&res);
        schema_set_envoy_version(schema, ENVOY_VERSION(32, 0));
}

/* The one diagnostic of rule at level, formatted; NULL when there is none. */
static char *only(const DiagList *d, const char *rule, DiagLevel level) {
        char *found = NULL;
        for (size_t i = 0; i < d->n; i++) {
                if (!d->items[i].rule || !streq(d->items[i].rule, rule))
                        continue;
                assert_null(found);
                assert_int_equal(d->items[i].level, level);
                found = diag_format(&d->items[i]);
        }
        return found;
}

static void assert_rule(const char *yaml, unsigned minor, const char *rule, DiagLevel level, const char *expected) {
        DiagList d = {};
        compile(yaml, minor, &d);
        _cleanup_free_ char *s = only(&d, rule, level);
        if (!s)
                diag_list_print(&d, stderr);
        assert_non_null(s);
        assert_string_equal(s, expected);
        diag_list_clear(&d);
}

static void assert_clean(const char *yaml, unsigned minor) {
        DiagList d = {};
        compile(yaml, minor, &d);
        if (d.n > 0)
                diag_list_print(&d, stderr);
        assert_int_equal(d.n, 0);
        diag_list_clear(&d);
}

/* Envoy's ListenerManagerImplWithRealFiltersTest.BadFilterName */
static void test_network_filter(void **state) {
        assert_rule(LISTENER "filter_chains:\n- filters:\n  - name: invalid\n", 32, RULE, DIAG_ERROR,
                    "x.yaml:6:11: error: filter_chains[0].filters[0]: Didn't find a registered implementation for "
                    "'invalid' with type URL: '' [" RULE "]");
        assert_clean(LISTENER "filter_chains:\n- filters:\n  - name: invalid\n    typed_config: "
                              "{\"@type\": type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo}\n", 32);
        /* typed_config: {} leaves the type URL empty too */
        assert_rule(LISTENER "filter_chains:\n- filters:\n  - {name: echo, typed_config: {}}\n", 32, RULE, DIAG_ERROR,
                    "x.yaml:6:12: error: filter_chains[0].filters[0]: Didn't find a registered implementation for "
                    "'echo' with type URL: '' [" RULE "]");
        /* default_filter_chain */
        assert_rule(LISTENER "default_filter_chain: {filters: [{name: echo}]}\n", 32, RULE, DIAG_ERROR,
                    "x.yaml:4:41: error: default_filter_chain.filters[0]: Didn't find a registered implementation for "
                    "'echo' with type URL: '' [" RULE "]");
        /* a discovered filter is not looked up at load */
        assert_clean(LISTENER "filter_chains:\n- filters:\n  - name: d\n    config_discovery: {config_source: {ads: {}}, "
                              "type_urls: [type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo]}\n", 32);
}

static void test_listener_filter(void **state) {
        assert_rule(LISTENER "listener_filters: [{name: envoy.filters.listener.tls_inspector}]\n"
                             "filter_chains: [{filters: [{name: e, typed_config: {\"@type\": "
                             "type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo}}]}]\n",
                    32, RULE, DIAG_ERROR,
                    "x.yaml:4:27: error: listener_filters[0]: Didn't find a registered implementation for "
                    "'envoy.filters.listener.tls_inspector' with type URL: '' [" RULE "]");
        assert_clean(LISTENER "listener_filters: [{name: t, typed_config: {\"@type\": "
                              "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector}}]\n"
                              "filter_chains: [{filters: [{name: e, typed_config: {\"@type\": "
                              "type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo}}]}]\n", 32);
}

static void test_http_filter(void **state) {
        assert_rule(HCM("[{name: envoy.filters.http.router}]"), 32, RULE, DIAG_ERROR,
                    "x.yaml:11:29: error: filter_chains[0].filters[0].typed_config.http_filters[0]: Didn't find a "
                    "registered implementation for 'envoy.filters.http.router' with type URL: '' [" RULE "]");
        assert_clean(HCM("[" ROUTER "]"), 32);
        /* before 1.22 the name was looked up: a warning */
        assert_rule(HCM("[{name: envoy.filters.http.router}]"), 21, RULE, DIAG_WARNING,
                    "x.yaml:11:29: warning: filter_chains[0].filters[0].typed_config.http_filters[0]: no typed_config: "
                    "this Envoy looks 'envoy.filters.http.router' up by name, Envoy 1.22 and later refuse it: Didn't "
                    "find a registered implementation for 'envoy.filters.http.router' with type URL: '' [" RULE "]");
        /* an optional filter is skipped, with Envoy's warning */
        assert_rule(HCM("[{name: envoy.filters.http.cors, is_optional: true}, " ROUTER "]"), 32,
                    "envoy.extension.optional-filter-skipped", DIAG_WARNING,
                    "x.yaml:11:29: warning: filter_chains[0].filters[0].typed_config.http_filters[0]: Didn't find a "
                    "registered factory for the optional http filter envoy.filters.http.cors "
                    "[envoy.extension.optional-filter-skipped]");
        assert_clean(HCM("[{name: c, is_optional: true, typed_config: {\"@type\": "
                         "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors}}, " ROUTER "]"), 32);
        /* ECDS */
        assert_clean(HCM("[{name: c, config_discovery: {config_source: {ads: {}}, type_urls: "
                         "[type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors]}}, " ROUTER "]"), 32);
}

static void test_access_log(void **state) {
        assert_rule(HCM("[" ROUTER "]\n      access_log: [{name: envoy.access_loggers.stdout}]"), 32, RULE, DIAG_ERROR,
                    "x.yaml:12:27: error: filter_chains[0].filters[0].typed_config.access_log[0]: Didn't find a "
                    "registered implementation for 'envoy.access_loggers.stdout' with type URL: '' [" RULE "]");
        assert_clean(HCM("[" ROUTER "]\n      access_log: [{name: l, typed_config: {\"@type\": "
                         "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog}}]"), 32);
}

static void test_transport_socket(void **state) {
        assert_rule(CLUSTER "transport_socket: {name: envoy.transport_sockets.raw_buffer}\n", 32, RULE, DIAG_ERROR,
                    "x.yaml:4:26: error: transport_socket: Didn't find a registered implementation for "
                    "'envoy.transport_sockets.raw_buffer' with type URL: '' [" RULE "]");
        assert_rule(CLUSTER "transport_socket_matches: [{name: m, transport_socket: {name: tls}}]\n", 32, RULE, DIAG_ERROR,
                    "x.yaml:4:63: error: transport_socket_matches[0].transport_socket: Didn't find a registered "
                    "implementation for 'tls' with type URL: '' [" RULE "]");
        assert_clean(CLUSTER "transport_socket: {name: r, typed_config: {\"@type\": "
                             "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer}}\n", 32);
        /* a cluster's upstream network filter */
        assert_rule(CLUSTER "filters: [{name: f}]\n", 32, RULE, DIAG_ERROR,
                    "x.yaml:4:18: error: filters[0]: Didn't find a registered implementation for 'f' with type URL: '' "
                    "[" RULE "]");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_network_filter), cmocka_unit_test(test_listener_filter),
                cmocka_unit_test(test_http_filter),    cmocka_unit_test(test_access_log),
                cmocka_unit_test(test_transport_socket),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
