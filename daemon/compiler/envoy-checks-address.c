/* SPDX-License-Identifier: MIT */
/* Envoy's load-time checks: addresses (see envoy-checks.h and
 * docs/envoy-checks.md). A SocketAddress without resolver_name is read by
 * Envoy's IP resolver (source/common/network/resolver_impl.cc,
 * IpResolver::resolve), which takes IP literals only. */
#include <arpa/inet.h>
#include <netdb.h>

#include "envoy-checks.h"

/* What Envoy's Utility::parseInternetAddressNoThrow takes: inet_pton for
 * IPv4, getaddrinfo(AI_NUMERICHOST) for IPv6 (so scope ids too). */
bool envoy_is_ip_literal(const char *s) {
        struct in_addr a4;
        if (inet_pton(AF_INET, s, &a4) == 1)
                return true;
        if (!strchr(s, ':'))
                return false;
        struct addrinfo hints = { .ai_family = AF_INET6, .ai_flags = AI_NUMERICHOST }, *res = NULL;
        if (getaddrinfo(s, NULL, &hints, &res) != 0)
                return false;
        freeaddrinfo(res);
        return true;
}

/* The address of sa (a SocketAddress) must be an IP literal unless a
 * resolver is named. field: sa's path relative to the checked message. */
void envoy_check_socket_address_ip(CheckContext *c, const YamlNode *sa, const char *field, const char *rule,
                                   const char *hint) {
        if (!sa || sa->kind != YAML_KIND_MAP)
                return;
        const char *resolver = check_scalar(sa, "resolver_name");
        if (resolver && *resolver)
                return;
        const YamlNode *a = yaml_map_get_field(sa, "address");
        if (!a || !yaml_is_scalar(a) || !*a->str || envoy_is_ip_literal(a->str))
                return; /* missing or empty: the field's own rules say so */
        _cleanup_free_ char *path = xasprintf("%s.address", field);
        check_error(c, a, path, rule, "malformed IP address: %s%s", a->str, hint ? hint : "");
}

static void listener(CheckContext *c, const YamlNode *node) {
        const YamlNode *addr = check_map(node, "address");
        envoy_check_socket_address_ip(c, check_map(addr, "socket_address"), "address.socket_address",
                                      "envoy.listener.address-ip", NULL);
        const YamlNode *more = check_seq(node, "additional_addresses");
        for (uint32_t i = 0; more && i < more->n; i++) {
                const YamlNode *sa = check_map(check_map(more->items[i], "address"), "socket_address");
                _cleanup_free_ char *field = xasprintf("additional_addresses[%u].address.socket_address", i);
                envoy_check_socket_address_ip(c, sa, field, "envoy.listener.address-ip", NULL);
        }
}

const Check envoy_checks_address[] = {
        { "envoy.config.listener.v3.Listener", listener },
        { NULL },
};
