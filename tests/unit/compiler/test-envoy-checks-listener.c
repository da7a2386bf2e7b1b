/* SPDX-License-Identifier: MIT */
/* envoy-checks-listener: what Envoy's ListenerImpl and filter chain manager refuse. Each case compiles YAML
 * with the built-in schema and counts the diagnostics that name its rule: one
 * for the offending input, none for the passing one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "compile.h"

static Schema *schema;

static int group_setup(void **state) {
        return schema_load_builtin(&schema);
}

static int group_teardown(void **state) {
        schema = schema_free(schema);
        return 0;
}

typedef struct Case {
        const char *yaml;
        const char *rule;
        size_t want;           /* diagnostics naming rule */
        const char *message;   /* the first one's message, when want > 0 */
        uint32_t envoy_version; /* 0: the default */
} Case;

static size_t count_rule(const Case *t, char **ret_message) {
        DiagList diags = {};
        CompileResult rc = {};
        uint32_t saved = schema_envoy_version(schema);
        if (t->envoy_version)
                schema_set_envoy_version(schema, t->envoy_version);
        (void) compile_data(schema, "t.yaml", t->yaml, strlen(t->yaml), NULL, &diags, &rc);
        schema_set_envoy_version(schema, saved);
        size_t n = 0;
        for (size_t i = 0; i < diags.n; i++)
                if (diags.items[i].rule && streq(diags.items[i].rule, t->rule)) {
                        if (n++ == 0 && ret_message)
                                *ret_message = xstrdup(diags.items[i].message);
                }
        if (n != t->want)
                diag_list_print(&diags, stderr);
        diag_list_clear(&diags);
        compile_result_done(&rc);
        return n;
}

static void run_cases(const Case *cases, size_t n) {
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *message = NULL;
                size_t got = count_rule(&cases[i], &message);
                if (got != cases[i].want)
                        fail_msg("case %zu (%s): %zu diagnostics, expected %zu", i, cases[i].rule, got, cases[i].want);
                if (cases[i].want > 0 && cases[i].message)
                        assert_string_equal(message, cases[i].message);
        }
}

#define LISTENER(BODY)                                                                                          \
        "\"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"                                   \
        "name: web\n"                                                                                           \
        "address: {socket_address: {address: 127.0.0.1, port_value: 1234}}\n" BODY
#define TCP_PROXY                                                                                               \
        "{name: tcp, typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3." \
        "TcpProxy, stat_prefix: tcp, cluster: backend}}"
#define ECHO "{name: echo, typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo}}"
#define MATCHER                                                                                                 \
        "filter_chain_matcher: {on_no_match: {action: {name: fc, typed_config: "                                \
        "{\"@type\": type.googleapis.com/google.protobuf.StringValue, value: a}}}}\n"

static void test_no_filter_chains(void **state) {
        static const Case cases[] = {
                /* BadListenerConfigNoFilterChains (listener_manager_impl_test.cc) */
                { LISTENER(""), "envoy.listener.no-filter-chains", 1,
                  "error adding listener '127.0.0.1:1234': no filter chains specified" },
                { LISTENER("filter_chains: []\n"), "envoy.listener.no-filter-chains", 1,
                  "error adding listener '127.0.0.1:1234': no filter chains specified" },
                { LISTENER("additional_addresses: [{address: {socket_address: {address: \"::1\"}}}]\n"),
                  "envoy.listener.no-filter-chains", 1,
                  "error adding listener '127.0.0.1:1234,[::1]:0': no filter chains specified" },
                { LISTENER("filter_chains: [{filters: []}]\n"), "envoy.listener.no-filter-chains", 0 },
                { LISTENER("default_filter_chain: {filters: []}\n"), "envoy.listener.no-filter-chains", 0 },
                /* connection-less UDP takes none */
                { "\"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"
                  "name: dns\n"
                  "address: {socket_address: {address: 127.0.0.1, port_value: 53, protocol: UDP}}\n",
                  "envoy.listener.no-filter-chains", 0 },
                { "\"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"
                  "name: quic\n"
                  "address: {socket_address: {address: 127.0.0.1, port_value: 443, protocol: UDP}}\n"
                  "udp_listener_config: {quic_options: {}}\n",
                  "envoy.listener.no-filter-chains", 1,
                  "error adding listener '127.0.0.1:443': no filter chains specified" },
        };
        run_cases(cases, ELEMENTSOF(cases));
}

static void test_filter_chains(void **state) {
        static const Case cases[] = {
                { LISTENER("filter_chains: [{filter_chain_match: {server_names: [\"*\"]}, filters: []}]\n"),
                  "envoy.listener.server-names-wildcard", 1,
                  "error adding listener '127.0.0.1:1234': partial wildcards are not supported in \"server_names\"" },
                { LISTENER("filter_chains: [{filter_chain_match: {server_names: [\"a*.example.com\"]}, filters: []}]\n"),
                  "envoy.listener.server-names-wildcard", 1,
                  "error adding listener '127.0.0.1:1234': partial wildcards are not supported in \"server_names\"" },
                { LISTENER("filter_chains: [{filter_chain_match: {server_names: [\"*.example.com\", a.b]}, filters: []}]\n"),
                  "envoy.listener.server-names-wildcard", 0 },
                { LISTENER(MATCHER "filter_chains: [{name: a, filters: []}, {filters: [], filter_chain_match: "
                                  "{destination_port: 1}}]\n"),
                  "envoy.listener.matcher-name-required", 1,
                  "error adding listener '127.0.0.1:1234': \"name\" field is required when using a listener matcher" },
                { LISTENER("filter_chains: [{filters: []}]\n"), "envoy.listener.matcher-name-required", 0 },
                { LISTENER(MATCHER "filter_chains: [{name: a, filters: []}, {name: a, filters: [], filter_chain_match: "
                                  "{destination_port: 1}}]\n"),
                  "envoy.listener.matcher-name-unique", 1,
                  "error adding listener '127.0.0.1:1234': \"name\" field is duplicated with value 'a'" },
                { LISTENER(MATCHER "filter_chains: [{name: a, filters: []}, {name: b, filters: [], filter_chain_match: "
                                  "{destination_port: 1}}]\n"),
                  "envoy.listener.matcher-name-unique", 0 },
        };
        run_cases(cases, ELEMENTSOF(cases));
}

static void test_terminal_filters(void **state) {
        static const Case cases[] = {
                { LISTENER("filter_chains: [{filters: [" TCP_PROXY ", " ECHO "]}]\n"),
                  "envoy.listener.terminal-filter-last", 1,
                  "Error: terminal filter named tcp of type envoy.filters.network.tcp_proxy must be the last filter "
                  "in a network filter chain." },
                { LISTENER("filter_chains: [{filters: [" TCP_PROXY "]}]\ndefault_filter_chain: {filters: [" TCP_PROXY
                           ", " TCP_PROXY "]}\n"),
                  "envoy.listener.terminal-filter-last", 1,
                  "Error: terminal filter named tcp of type envoy.filters.network.tcp_proxy must be the last filter "
                  "in a network filter chain." },
                { LISTENER("filter_chains: [{filters: [" ECHO ", " TCP_PROXY "]}]\n"),
                  "envoy.listener.terminal-filter-last", 0 },
        };
        run_cases(cases, ELEMENTSOF(cases));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_no_filter_chains),
                cmocka_unit_test(test_filter_chains),
                cmocka_unit_test(test_terminal_filters),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
