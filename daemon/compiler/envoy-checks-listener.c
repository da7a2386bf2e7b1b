/* SPDX-License-Identifier: MIT */
/* Envoy's load-time checks: the listener family (see envoy-checks.h and
 * docs/envoy-checks/listener.md): what ListenerImpl
 * (source/common/listener_manager/listener_impl.cc), its filter chain
 * manager (filter_chain_manager_impl.cc) and Config::Utility's terminal
 * filter rule (source/common/config/utility.cc) refuse in one Listener.
 * Identical filter_chain_match is graph.c's rule graph.filter-chain-match. */
#include "envoy-checks.h"
#include "hashmap.h"

/* Network filters whose factory says isTerminalFilterByProto, by the type
 * of their typed_config, with the factory's name. */
static const struct {
        const char *type;
        const char *factory;
} terminal_filters[] = {
        { "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", "envoy.filters.network.tcp_proxy" },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
          "envoy.filters.network.http_connection_manager" },
};

static const char *terminal_factory(const YamlNode *filter) {
        const char *url = check_scalar(check_map(filter, "typed_config"), "@type");
        if (!url)
                return NULL;
        const char *slash = strrchr(url, '/');
        const char *type = slash ? slash + 1 : url;
        for (size_t i = 0; i < ELEMENTSOF(terminal_filters); i++)
                if (streq(type, terminal_filters[i].type))
                        return terminal_filters[i].factory;
        return NULL;
}

/* Utility::validateTerminalFilters over one filter chain's network filters */
static void terminal_filters_last(CheckContext *c, const YamlNode *chain, const char *field) {
        const YamlNode *filters = yaml_map_get_field(chain, "filters");
        uint32_t n = check_list_len(filters);
        for (uint32_t i = 0; i + 1 < n; i++) {
                const YamlNode *f = check_list_at(filters, i);
                const char *factory = terminal_factory(f);
                if (!factory)
                        continue;
                const char *name = check_scalar(f, "name");
                _cleanup_free_ char *item = check_list_path(filters, "filters", i);
                _cleanup_free_ char *path = xasprintf("%s.%s", field, item);
                check_error(c, f, path, "envoy.listener.terminal-filter-last",
                            "Error: terminal filter named %s of type %s must be the last filter in a network filter "
                            "chain.",
                            name ? name : "", factory);
                return; /* Envoy stops at the first */
        }
}

/* FilterChainManagerImpl::addFilterChains */
static void filter_chain_match(CheckContext *c, const YamlNode *node, const char *addresses) {
        const YamlNode *chains = yaml_map_get_field(node, "filter_chains");
        bool matcher = check_has(node, "filter_chain_matcher");
        _cleanup_(hashmap_free) Hashmap seen = {}; /* chain names, with a matcher (thousands of chains) */
        for (uint32_t i = 0; i < check_list_len(chains); i++) {
                const YamlNode *fc = check_list_at(chains, i);
                _cleanup_free_ char *item = check_list_path(chains, "filter_chains", i);
                if (matcher) {
                        /* with a matcher: chains are named, uniquely */
                        const char *name = check_scalar(fc, "name");
                        if (!name || !*name) {
                                check_error(c, fc, item, "envoy.listener.matcher-name-required",
                                            "error adding listener '%s': \"name\" field is required when using a "
                                            "listener matcher",
                                            addresses);
                                return;
                        }
                        if (hashmap_put(&seen, name, strlen(name), (void *) name)) {
                                _cleanup_free_ char *path = xasprintf("%s.name", item);
                                check_error(c, yaml_map_get_field(fc, "name"), path, "envoy.listener.matcher-name-unique",
                                            "error adding listener '%s': \"name\" field is duplicated with value '%s'",
                                            addresses, name);
                                return;
                        }
                        continue;
                }
                const YamlNode *names = yaml_map_get_field(check_map(fc, "filter_chain_match"), "server_names");
                for (uint32_t j = 0; j < check_list_len(names); j++) {
                        const YamlNode *sn = check_list_at(names, j);
                        if (!yaml_is_scalar(sn) || !strchr(sn->str, '*') || strncmp(sn->str, "*.", 2) == 0)
                                continue;
                        _cleanup_free_ char *sni = check_list_path(names, "server_names", j);
                        _cleanup_free_ char *path = xasprintf("%s.filter_chain_match.%s", item, sni);
                        check_error(c, sn, path, "envoy.listener.server-names-wildcard",
                                    "error adding listener '%s': partial wildcards are not supported in "
                                    "\"server_names\"",
                                    addresses);
                        return;
                }
        }
}

/* ListenerImpl::validateFilterChains: a stream listener (TCP) or a
 * connection-oriented UDP one (QUIC) needs a filter chain. */
static void needs_filter_chain(CheckContext *c, const YamlNode *node, const char *addresses) {
        if (check_list_len(yaml_map_get_field(node, "filter_chains")) > 0 || check_has(node, "default_filter_chain"))
                return;
        const YamlNode *sa = check_map(check_map(node, "address"), "socket_address");
        bool udp = check_enum_is(sa, "protocol", "UDP", 1, false);
        if (udp && !check_has(check_map(node, "udp_listener_config"), "quic_options"))
                return; /* connection-less UDP: no filter chains at all */
        const YamlNode *at = yaml_map_get_field(node, "filter_chains");
        check_error(c, at ? at : node, "filter_chains", "envoy.listener.no-filter-chains",
                    "error adding listener '%s': no filter chains specified", addresses);
}

static void listener(CheckContext *c, const YamlNode *node) {
        /* an API listener is no ListenerImpl */
        if (check_has(node, "api_listener"))
                return;
        const YamlNode *chains = yaml_map_get_field(node, "filter_chains");
        for (uint32_t i = 0; i < check_list_len(chains); i++) {
                _cleanup_free_ char *item = check_list_path(chains, "filter_chains", i);
                terminal_filters_last(c, check_list_at(chains, i), item);
        }
        terminal_filters_last(c, check_map(node, "default_filter_chain"), "default_filter_chain");

        /* the rest name the listener by its addresses: IP ones only here */
        _cleanup_free_ char *addresses = check_listener_addresses(node);
        if (!addresses)
                return;
        needs_filter_chain(c, node, addresses);
        filter_chain_match(c, node, addresses);
}

const Check envoy_checks_listener[] = {
        { "envoy.config.listener.v3.Listener", listener },
        { NULL },
};
