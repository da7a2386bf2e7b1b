/* SPDX-License-Identifier: MIT */
/* Envoy's load-time checks: addresses (see envoy-checks.h and
 * docs/envoy-checks/address.md). A SocketAddress without resolver_name is
 * read by Envoy's IP resolver (source/common/network/resolver_impl.cc,
 * IpResolver::resolve), which takes IP literals and port_value only: the
 * listener's addresses, the endpoints of STATIC clusters and of EDS
 * (ClusterLoadAssignment) resources, and the CIDR ranges of the HTTP
 * connection manager's internal_address_config. Also the small helpers the
 * families share (envoy-checks.h, "for the checks"). */
#include <arpa/inet.h>
#include <netdb.h>
#include <strings.h>

#include "envoy-checks.h"
#include "wire.h"

/* ClusterImplBase::resolveProtoAddress appends this for STATIC and EDS
 * clusters (source/common/upstream/upstream_impl.cc). */
#define STATIC_EDS_HINT ". Consider setting resolver_name or setting cluster type to 'STRICT_DNS' or 'LOGICAL_DNS'"

/* What Envoy's Utility::parseInternetAddressNoThrow takes: inet_pton for
 * IPv4, getaddrinfo(AI_NUMERICHOST) for IPv6 (so scope ids too). */
static bool parse_ip(const char *s, struct sockaddr_storage *ret) {
        struct in_addr a4;
        if (inet_pton(AF_INET, s, &a4) == 1) {
                if (ret) {
                        *ret = (struct sockaddr_storage) {};
                        struct sockaddr_in *sin = (struct sockaddr_in *) ret;
                        sin->sin_family = AF_INET;
                        sin->sin_addr = a4;
                }
                return true;
        }
        if (!strchr(s, ':'))
                return false;
        struct addrinfo hints = { .ai_family = AF_INET6, .ai_flags = AI_NUMERICHOST }, *res = NULL;
        if (getaddrinfo(s, NULL, &hints, &res) != 0)
                return false;
        if (ret) {
                *ret = (struct sockaddr_storage) {};
                memcpy(ret, res->ai_addr, MIN((size_t) res->ai_addrlen, sizeof(*ret)));
        }
        freeaddrinfo(res);
        return true;
}

bool envoy_is_ip_literal(const char *s) {
        return parse_ip(s, NULL);
}

/* Envoy's Address::Instance::asString() of an IP literal and a port:
 * "1.2.3.4:80", "[::1]:80" (inet_ntop's form, %scope when there is one). */
static char *ip_port_text(const char *ip, const char *port) {
        struct sockaddr_storage ss;
        if (!parse_ip(ip, &ss))
                return NULL;
        char text[INET6_ADDRSTRLEN];
        if (ss.ss_family == AF_INET) {
                inet_ntop(AF_INET, &((struct sockaddr_in *) &ss)->sin_addr, text, sizeof text);
                return xasprintf("%s:%s", text, port ? port : "0");
        }
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) &ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
        if (sin6->sin6_scope_id)
                return xasprintf("[%s%%%u]:%s", text, sin6->sin6_scope_id, port ? port : "0");
        return xasprintf("[%s]:%s", text, port ? port : "0");
}

/* What the IP resolver says of a SocketAddress (YAML): a named_port, then
 * the address (IpResolver::resolve). */
static void socket_address(CheckContext *c, const YamlNode *sa, const char *field, const char *ip_rule,
                           const char *hint) {
        if (!sa || sa->kind != YAML_KIND_MAP)
                return;
        const char *resolver = check_scalar(sa, "resolver_name");
        if (resolver && *resolver)
                return;
        const YamlNode *np = yaml_map_get_field(sa, "named_port");
        if (np && np->kind != YAML_KIND_NULL) {
                /* static_cast<int>(PortSpecifierCase::kNamedPort): the field number */
                _cleanup_free_ char *path = xasprintf("%s.named_port", field);
                check_error(c, np, path, "envoy.address.named-port", "IP resolver can't handle port specifier type 4%s",
                            hint ? hint : "");
                return;
        }
        const YamlNode *a = yaml_map_get_field(sa, "address");
        if (!a || !yaml_is_scalar(a) || !*a->str || envoy_is_ip_literal(a->str))
                return; /* missing or empty: the field's own rules say so */
        _cleanup_free_ char *path = xasprintf("%s.address", field);
        check_error(c, a, path, ip_rule, "malformed IP address: %s%s", a->str, hint ? hint : "");
}

/* ---- the shared helpers (envoy-checks.h) ---- */

uint32_t check_list_len(const YamlNode *v) {
        if (!v || v->kind == YAML_KIND_NULL)
                return 0;
        return v->kind == YAML_KIND_SEQ ? v->n : 1;
}

const YamlNode *check_list_at(const YamlNode *v, uint32_t i) {
        return v->kind == YAML_KIND_SEQ ? v->items[i] : v;
}

char *check_list_path(const YamlNode *v, const char *field, uint32_t i) {
        return xasprintf("%s[%u]", field, i);
}

const YamlNode *check_field(const YamlNode *map, const char *field) {
        return map && map->kind == YAML_KIND_MAP ? yaml_map_get_field(map, field) : NULL;
}

bool check_has(const YamlNode *map, const char *field) {
        const YamlNode *v = map && map->kind == YAML_KIND_MAP ? yaml_map_get_field(map, field) : NULL;
        return v && v->kind != YAML_KIND_NULL;
}


int check_cluster_type(const YamlNode *cluster) {
        static const char *const names[] = { "STATIC", "STRICT_DNS", "LOGICAL_DNS", "EDS", "ORIGINAL_DST" };
        if (check_has(cluster, "cluster_type"))
                return -1;
        const YamlNode *t = yaml_map_get_field(cluster, "type");
        if (!t || t->kind == YAML_KIND_NULL)
                return 0;
        for (int i = 0; i < (int) ELEMENTSOF(names); i++)
                if (check_enum_is(cluster, "type", names[i], i, false))
                        return i;
        return -1;
}

/* ---- listeners ---- */

static char *socket_address_text(const YamlNode *address) {
        const YamlNode *sa = check_map(address, "socket_address");
        const char *a = check_scalar(sa, "address"), *resolver = check_scalar(sa, "resolver_name");
        if (!a || (resolver && *resolver) || check_has(sa, "named_port"))
                return NULL;
        return ip_port_text(a, check_scalar(sa, "port_value"));
}

char *check_listener_addresses(const YamlNode *listener) {
        char *text = socket_address_text(check_map(listener, "address"));
        if (!text)
                return NULL;
        const YamlNode *more = yaml_map_get_field(listener, "additional_addresses");
        for (uint32_t i = 0; i < check_list_len(more); i++) {
                _cleanup_free_ char *t = socket_address_text(check_map(check_list_at(more, i), "address"));
                if (!t) {
                        free(text);
                        return NULL;
                }
                char *joined = xasprintf("%s,%s", text, t);
                free(text);
                text = joined;
        }
        return text;
}

static void listener_ipv4_compat(CheckContext *c, const YamlNode *sa, const char *field) {
        /* since 1.22.0 (runtime guard strict_check_on_ipv4_compat, default on) */
        if (c->envoy_version < ENVOY_VERSION(22, 0) || !check_true(sa, "ipv4_compat"))
                return;
        const char *resolver = check_scalar(sa, "resolver_name");
        const char *a = check_scalar(sa, "address");
        struct sockaddr_storage ss;
        if ((resolver && *resolver) || check_has(sa, "named_port") || !a || !parse_ip(a, &ss))
                return;
        if (ss.ss_family == AF_INET6) {
                const struct in6_addr *a6 = &((struct sockaddr_in6 *) &ss)->sin6_addr;
                if (IN6_IS_ADDR_UNSPECIFIED(a6) || IN6_IS_ADDR_V4MAPPED(a6))
                        return;
        }
        _cleanup_free_ char *text = ip_port_text(a, check_scalar(sa, "port_value"));
        _cleanup_free_ char *path = xasprintf("%s.ipv4_compat", field);
        check_error(c, yaml_map_get_field(sa, "ipv4_compat"), path, "envoy.address.ipv4-compat",
                    "Only IPv6 address '::' or valid IPv4-mapped IPv6 address can set ipv4_compat: %s", text);
}

static void listener(CheckContext *c, const YamlNode *node) {
        const YamlNode *sa = check_map(check_map(node, "address"), "socket_address");
        socket_address(c, sa, "address.socket_address", "envoy.address.listener-ip", NULL);
        listener_ipv4_compat(c, sa, "address.socket_address");
        const YamlNode *more = yaml_map_get_field(node, "additional_addresses");
        for (uint32_t i = 0; i < check_list_len(more); i++) {
                const YamlNode *asa = check_map(check_map(check_list_at(more, i), "address"), "socket_address");
                _cleanup_free_ char *item = check_list_path(more, "additional_addresses", i);
                _cleanup_free_ char *field = xasprintf("%s.address.socket_address", item);
                socket_address(c, asa, field, "envoy.address.listener-ip", NULL);
        }
}

/* ---- endpoints ---- */

/* The last length-delimited field `number` of a message's wire bytes. */
static bool wire_find(const uint8_t *p, size_t n, uint32_t number, WireField *ret) {
        WireReader r = { p, p + n };
        WireField f;
        bool found = false;
        while (wire_next(&r, &f))
                if (f.number == number && f.wire_type == WIRE_LEN) {
                        *ret = f;
                        found = true;
                }
        return found;
}

/* An Address (wire bytes) of an early-encoded LbEndpoint: what the YAML
 * check says, at the LbEndpoint's position (its YAML is gone). The
 * report's path is the Address's. */
static void encoded_address(CheckContext *c, const YamlNode *at, const uint8_t *p, size_t n) {
        WireField sa, f;
        if (!wire_find(p, n, 1, &sa)) /* Address.socket_address */
                return;
        if (wire_find(sa.data, sa.len, 5, &f) && f.len > 0) /* resolver_name */
                return;
        WireReader r = { sa.data, sa.data + sa.len };
        while (wire_next(&r, &f))
                if (f.number == 4 && f.wire_type == WIRE_LEN) { /* named_port */
                        check_error(c, at, "socket_address.named_port", "envoy.address.named-port",
                                    "IP resolver can't handle port specifier type 4%s", STATIC_EDS_HINT);
                        return;
                }
        if (!wire_find(sa.data, sa.len, 2, &f) || f.len == 0 || f.len > 255) /* address */
                return;
        char a[256];
        memcpy(a, f.data, f.len);
        a[f.len] = 0;
        if (strlen(a) != f.len || envoy_is_ip_literal(a))
                return;
        check_error(c, at, "socket_address.address", "envoy.address.endpoint-ip", "malformed IP address: %s%s", a,
                    STATIC_EDS_HINT);
}

/* The report's path is the LbEndpoint's. */
static void encoded_lb_endpoint(CheckContext *c, const YamlNode *lbe, bool additional) {
        WireField ep, f;
        if (!wire_find((const uint8_t *) lbe->str, lbe->n, 1, &ep)) /* LbEndpoint.endpoint */
                return;
        Reporter *rep = c->report;
        size_t saved = reporter_push_field(rep, "endpoint.address");
        if (wire_find(ep.data, ep.len, 1, &f)) /* Endpoint.address */
                encoded_address(c, lbe, f.data, f.len);
        reporter_pop(rep, saved);
        if (!additional)
                return;
        WireReader r = { ep.data, ep.data + ep.len };
        WireField aa, a;
        for (uint32_t i = 0; wire_next(&r, &aa);)
                if (aa.number == 4 && aa.wire_type == WIRE_LEN) { /* additional_addresses */
                        saved = reporter_push_field(rep, "endpoint.additional_addresses");
                        reporter_push_index(rep, i++);
                        reporter_push_field(rep, "address");
                        if (wire_find(aa.data, aa.len, 1, &a))
                                encoded_address(c, lbe, a.data, a.len);
                        reporter_pop(rep, saved);
                }
}

/* The endpoints of a ClusterLoadAssignment (cla, at `field`, "" for the
 * message itself) as a STATIC cluster (static_cluster.cc: the endpoint's
 * address) or EDS (eds.cc: its additional_addresses too) resolves them.
 * Runs for every endpoint: the path is pushed and popped, not formatted. */
static void load_assignment(CheckContext *c, const YamlNode *cla, const char *field, bool additional) {
        const YamlNode *eps = check_field(cla, "endpoints");
        Reporter *rep = c->report;
        size_t base = *field ? reporter_push_field(rep, field) : rep->path.len;
        for (uint32_t i = 0; i < check_list_len(eps); i++) {
                const YamlNode *lbes = check_field(check_list_at(eps, i), "lb_endpoints");
                size_t at_ep = reporter_push_field(rep, "endpoints");
                reporter_push_index(rep, i);
                reporter_push_field(rep, "lb_endpoints");
                for (uint32_t j = 0; j < check_list_len(lbes); j++) {
                        const YamlNode *lbe = check_list_at(lbes, j);
                        size_t at_lbe = reporter_push_index(rep, j);
                        if (lbe->kind == YAML_KIND_ENCODED)
                                encoded_lb_endpoint(c, lbe, additional);
                        else {
                                const YamlNode *e = check_map(lbe, "endpoint");
                                socket_address(c, check_map(check_map(e, "address"), "socket_address"),
                                               "endpoint.address.socket_address", "envoy.address.endpoint-ip",
                                               STATIC_EDS_HINT);
                                const YamlNode *more = additional ? check_field(e, "additional_addresses") : NULL;
                                for (uint32_t k = 0; k < check_list_len(more); k++) {
                                        size_t at_more = reporter_push_field(rep, "endpoint.additional_addresses");
                                        reporter_push_index(rep, k);
                                        const YamlNode *m = check_list_at(more, k);
                                        socket_address(c, check_map(check_map(m, "address"), "socket_address"),
                                                       "address.socket_address", "envoy.address.endpoint-ip",
                                                       STATIC_EDS_HINT);
                                        reporter_pop(rep, at_more);
                                }
                        }
                        reporter_pop(rep, at_lbe);
                }
                reporter_pop(rep, at_ep);
        }
        reporter_pop(rep, base);
}

static void cluster(CheckContext *c, const YamlNode *node) {
        /* STRICT_DNS and LOGICAL_DNS resolve host names; ORIGINAL_DST takes
         * no load_assignment (envoy.cluster.original-dst-no-load-assignment);
         * an EDS cluster's hosts come from EDS; custom cluster types decide
         * for themselves */
        if (check_cluster_type(node) == 0)
                load_assignment(c, check_map(node, "load_assignment"), "load_assignment", false);
}

/* An EDS resource serves EDS clusters only: IP literals, with the hint.
 * A Cluster's own load_assignment (the one field of this type) is the
 * cluster's to check. */
static void cluster_load_assignment(CheckContext *c, const YamlNode *node) {
        const Buf *p = &c->report->path;
        static const char inline_field[] = "load_assignment";
        if (p->len >= strlen(inline_field) &&
            memcmp(p->data + p->len - strlen(inline_field), inline_field, strlen(inline_field)) == 0)
                return;
        load_assignment(c, node, "", true);
}

/* ---- CIDR ranges ---- */

/* IpList::create (source/common/network/cidr_range.cc): an address_prefix
 * Envoy cannot parse; prefix_len is clamped (32, 128), never refused. */
static void internal_address_config(CheckContext *c, const YamlNode *node) {
        const YamlNode *ranges = yaml_map_get_field(node, "cidr_ranges");
        for (uint32_t i = 0; i < check_list_len(ranges); i++) {
                const YamlNode *r = check_list_at(ranges, i);
                const YamlNode *a = yaml_map_get_field(r, "address_prefix");
                if (!a || !yaml_is_scalar(a) || !*a->str || envoy_is_ip_literal(a->str))
                        continue;
                const YamlNode *len = yaml_map_get_field(r, "prefix_len");
                if (len && len->kind == YAML_KIND_MAP)
                        len = yaml_map_get_field(len, "value");
                _cleanup_free_ char *item = check_list_path(ranges, "cidr_ranges", i);
                _cleanup_free_ char *path = xasprintf("%s.address_prefix", item);
                check_error(c, a, path, "envoy.address.internal-cidr",
                            "invalid ip/mask combo '%s/%s' (format is <ip>/<# mask bits>)", a->str,
                            len && yaml_is_scalar(len) ? len->str : "0");
        }
}

const Check envoy_checks_address[] = {
        { "envoy.config.listener.v3.Listener", listener },
        { "envoy.config.cluster.v3.Cluster", cluster },
        { "envoy.config.endpoint.v3.ClusterLoadAssignment", cluster_load_assignment },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.InternalAddressConfig",
          internal_address_config },
        { NULL },
};
