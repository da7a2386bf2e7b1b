/* SPDX-License-Identifier: MIT */
/* envoy-checks-listener: what Envoy's ListenerImpl and filter chain manager refuse. Each case compiles YAML
 * with the built-in schema (check-cases.h): the offending input gives exactly the rule's diagnostic, the passing
 * one none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "check-cases.h"

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

#define NO_CHAINS(ADDRESS) "error adding listener '" ADDRESS "': no filter chains specified"
#define TERMINAL_NOT_LAST                                                                                       \
        "Error: terminal filter named tcp of type envoy.filters.network.tcp_proxy must be the last filter in a "  \
        "network filter chain."

static const CheckCase cases[] = {
        /* BadListenerConfigNoFilterChains (listener_manager_impl_test.cc) */
        { "envoy.listener.no-filter-chains", LISTENER(""), NO_CHAINS("127.0.0.1:1234") },
        { "envoy.listener.no-filter-chains", LISTENER("filter_chains: []\n"), NO_CHAINS("127.0.0.1:1234") },
        { "envoy.listener.no-filter-chains",
          LISTENER("additional_addresses: [{address: {socket_address: {address: \"::1\"}}}]\n"),
          NO_CHAINS("127.0.0.1:1234,[::1]:0") },
        { "envoy.listener.no-filter-chains", LISTENER("filter_chains: [{filters: []}]\n") },
        { "envoy.listener.no-filter-chains", LISTENER("default_filter_chain: {filters: []}\n") },
        /* connection-less UDP takes none */
        { "envoy.listener.no-filter-chains",
          "\"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"
          "name: dns\n"
          "address: {socket_address: {address: 127.0.0.1, port_value: 53, protocol: UDP}}\n" },
        { "envoy.listener.no-filter-chains",
          "\"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"
          "name: quic\n"
          "address: {socket_address: {address: 127.0.0.1, port_value: 443, protocol: UDP}}\n"
          "udp_listener_config: {quic_options: {}}\n",
          NO_CHAINS("127.0.0.1:443") },

        { "envoy.listener.server-names-wildcard",
          LISTENER("filter_chains: [{filter_chain_match: {server_names: [\"*\"]}, filters: []}]\n"),
          "error adding listener '127.0.0.1:1234': partial wildcards are not supported in \"server_names\"" },
        { "envoy.listener.server-names-wildcard",
          LISTENER("filter_chains: [{filter_chain_match: {server_names: [\"a*.example.com\"]}, filters: []}]\n"),
          "error adding listener '127.0.0.1:1234': partial wildcards are not supported in \"server_names\"" },
        { "envoy.listener.server-names-wildcard",
          LISTENER("filter_chains: [{filter_chain_match: {server_names: [\"*.example.com\", a.b]}, filters: []}]\n") },
        { "envoy.listener.matcher-name-required",
          LISTENER(MATCHER "filter_chains: [{name: a, filters: []}, {filters: [], filter_chain_match: "
                           "{destination_port: 1}}]\n"),
          "error adding listener '127.0.0.1:1234': \"name\" field is required when using a listener matcher" },
        { "envoy.listener.matcher-name-required", LISTENER("filter_chains: [{filters: []}]\n") },
        { "envoy.listener.matcher-name-unique",
          LISTENER(MATCHER "filter_chains: [{name: a, filters: []}, {name: a, filters: [], filter_chain_match: "
                           "{destination_port: 1}}]\n"),
          "error adding listener '127.0.0.1:1234': \"name\" field is duplicated with value 'a'" },
        { "envoy.listener.matcher-name-unique",
          LISTENER(MATCHER "filter_chains: [{name: a, filters: []}, {name: b, filters: [], filter_chain_match: "
                           "{destination_port: 1}}]\n") },

        { "envoy.listener.terminal-filter-last", LISTENER("filter_chains: [{filters: [" TCP_PROXY ", " ECHO "]}]\n"),
          TERMINAL_NOT_LAST },
        { "envoy.listener.terminal-filter-last",
          LISTENER("filter_chains: [{filters: [" TCP_PROXY "]}]\n"
                   "default_filter_chain: {filters: [" TCP_PROXY ", " TCP_PROXY "]}\n"),
          TERMINAL_NOT_LAST },
        { "envoy.listener.terminal-filter-last", LISTENER("filter_chains: [{filters: [" ECHO ", " TCP_PROXY "]}]\n") },
};

int main(void) {
        return check_cases_main("envoy-checks-listener", cases, ELEMENTSOF(cases), CHECK_OTHERS_IGNORED);
}
