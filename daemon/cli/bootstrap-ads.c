/* SPDX-License-Identifier: MIT */
/* fsxds bootstrap --ads and --grpc: what points an Envoy, or a proxyless
 * gRPC client, at fsxdsd's xDS server (ads: in fsxds.yaml) instead of at
 * the node's files. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* The name of the static cluster an Envoy reaches fsxdsd through. */
#define ADS_CLUSTER "fsxds_ads"

static void put_q(Buf *b, const char *s) {
        buf_put_json_string(b, s); /* a JSON string is a YAML double-quoted scalar too */
}

/* The Envoy bootstrap, as YAML (JSON is YAML's subset, but operators read
 * YAML; --json prints the same as JSON). */
static void envoy_bootstrap(Buf *b, const AdsConfig *a, const char *node, const Options *o) {
        bool unix_socket = startswith(a->listen, "unix:");
        const char *api = o->delta ? "DELTA_GRPC" : "GRPC";
        _cleanup_free_ char *host = NULL;
        unsigned port = 0;
        if (!unix_socket) {
                const char *colon = strrchr(a->listen, ':');
                host = xstrndup(a->listen, (size_t) (colon - a->listen));
                if (host[0] == '[') {
                        memmove(host, host + 1, strlen(host));
                        host[strlen(host) - 1] = 0;
                }
                port = (unsigned) strtoul(colon + 1, NULL, 10);
        }
        if (o->json) {
                buf_printf(b, "{\n  \"node\": {\"id\": ");
                put_q(b, node);
                buf_printf(b, ", \"cluster\": ");
                put_q(b, node);
                buf_printf(b, "},\n  \"dynamic_resources\": {\n"
                              "    \"ads_config\": {\"api_type\": \"%s\", \"transport_api_version\": \"V3\", "
                              "\"grpc_services\": [{\"envoy_grpc\": {\"cluster_name\": \"" ADS_CLUSTER "\"}}]},\n"
                              "    \"cds_config\": {\"resource_api_version\": \"V3\", \"ads\": {}},\n"
                              "    \"lds_config\": {\"resource_api_version\": \"V3\", \"ads\": {}}\n  },\n"
                              "  \"static_resources\": {\"clusters\": [{\n"
                              "    \"name\": \"" ADS_CLUSTER "\", \"type\": \"STATIC\", \"connect_timeout\": \"1s\",\n"
                              "    \"typed_extension_protocol_options\": {\"envoy.extensions.upstreams.http.v3.HttpProtocolOptions\": {\n"
                              "      \"@type\": \"type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions\",\n"
                              "      \"explicit_http_config\": {\"http2_protocol_options\": {}}}},\n"
                              "    \"load_assignment\": {\"cluster_name\": \"" ADS_CLUSTER "\", \"endpoints\": [{\"lb_endpoints\": [{\"endpoint\": {\"address\": ",
                           api);
                if (unix_socket) {
                        buf_printf(b, "{\"pipe\": {\"path\": ");
                        put_q(b, a->listen + strlen("unix:"));
                        buf_printf(b, "}}");
                } else {
                        buf_printf(b, "{\"socket_address\": {\"address\": ");
                        put_q(b, host);
                        buf_printf(b, ", \"port_value\": %u}}", port);
                }
                buf_printf(b, "}}]}]}");
                if (!unix_socket) {
                        buf_printf(b, ",\n    \"transport_socket\": {\"name\": \"envoy.transport_sockets.tls\", \"typed_config\": {\n"
                                      "      \"@type\": \"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext\",\n"
                                      "      \"common_tls_context\": {\"alpn_protocols\": [\"h2\"],\n"
                                      "        \"tls_certificates\": [{\"certificate_chain\": {\"filename\": ");
                        put_q(b, o->cert);
                        buf_printf(b, "}, \"private_key\": {\"filename\": ");
                        put_q(b, o->key);
                        buf_printf(b, "}}],\n        \"validation_context\": {\"trusted_ca\": {\"filename\": ");
                        put_q(b, o->ca);
                        buf_printf(b, "}}}}}");
                }
                buf_printf(b, "\n  }]}\n}\n");
                return;
        }
        buf_printf(b, "node:\n  id: ");
        put_q(b, node);
        buf_printf(b, "\n  cluster: ");
        put_q(b, node);
        buf_printf(b, "\ndynamic_resources:\n"
                      "  ads_config:\n"
                      "    api_type: %s\n"
                      "    transport_api_version: V3\n"
                      "    grpc_services:\n"
                      "    - envoy_grpc:\n"
                      "        cluster_name: " ADS_CLUSTER "\n"
                      "  cds_config:\n"
                      "    resource_api_version: V3\n"
                      "    ads: {}\n"
                      "  lds_config:\n"
                      "    resource_api_version: V3\n"
                      "    ads: {}\n"
                      "static_resources:\n"
                      "  clusters:\n"
                      "  - name: " ADS_CLUSTER "\n"
                      "    type: STATIC\n"
                      "    connect_timeout: 1s\n"
                      "    typed_extension_protocol_options:\n"
                      "      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:\n"
                      "        \"@type\": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions\n"
                      "        explicit_http_config:\n"
                      "          http2_protocol_options: {}\n"
                      "    load_assignment:\n"
                      "      cluster_name: " ADS_CLUSTER "\n"
                      "      endpoints:\n"
                      "      - lb_endpoints:\n"
                      "        - endpoint:\n"
                      "            address:\n",
                   api);
        if (unix_socket) {
                buf_printf(b, "              pipe:\n                path: ");
                put_q(b, a->listen + strlen("unix:"));
                buf_putc(b, '\n');
                return;
        }
        buf_printf(b, "              socket_address:\n                address: ");
        put_q(b, host);
        buf_printf(b, "\n                port_value: %u\n", port);
        buf_printf(b, "    transport_socket:\n"
                      "      name: envoy.transport_sockets.tls\n"
                      "      typed_config:\n"
                      "        \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext\n"
                      "        common_tls_context:\n"
                      "          alpn_protocols: [h2]\n"
                      "          tls_certificates:\n"
                      "          - certificate_chain: {filename: ");
        put_q(b, o->cert);
        buf_printf(b, "}\n            private_key: {filename: ");
        put_q(b, o->key);
        buf_printf(b, "}\n          validation_context:\n            trusted_ca: {filename: ");
        put_q(b, o->ca);
        buf_printf(b, "}\n");
}

/* gRPC's xDS bootstrap (GRPC_XDS_BOOTSTRAP), JSON only: gRPC reads no
 * other form. */
static void grpc_bootstrap(Buf *b, const AdsConfig *a, const char *node, const Options *o) {
        bool unix_socket = startswith(a->listen, "unix:");
        _cleanup_free_ char *uri = unix_socket ? xasprintf("unix://%s", a->listen + strlen("unix:")) : xstrdup(a->listen);
        buf_printf(b, "{\n  \"xds_servers\": [{\n    \"server_uri\": ");
        put_q(b, uri);
        if (unix_socket)
                buf_printf(b, ",\n    \"channel_creds\": [{\"type\": \"insecure\"}]");
        else {
                buf_printf(b, ",\n    \"channel_creds\": [{\"type\": \"tls\", \"config\": {\"ca_certificate_file\": ");
                put_q(b, o->ca);
                buf_printf(b, ", \"certificate_file\": ");
                put_q(b, o->cert);
                buf_printf(b, ", \"private_key_file\": ");
                put_q(b, o->key);
                buf_printf(b, "}}]");
        }
        buf_printf(b, ",\n    \"server_features\": [\"xds_v3\"]\n  }],\n  \"node\": {\"id\": ");
        put_q(b, node);
        buf_printf(b, "}\n}\n");
}

int bootstrap_ads(const Config *config, const char *node, const Options *o) {
        const AdsConfig *a = config->ads;
        if (!a) {
                fprintf(stderr, "fsxds: %s has no ads: fsxdsd serves no xDS; add ads: {} (see fsxds.yaml(5)), or leave "
                        "out --ads and --grpc for the files' bootstrap\n",
                        config->path ? config->path : "the built-in configuration");
                return EXIT_BAD_INPUT;
        }
        if (!startswith(a->listen, "unix:") && (!o->cert || !o->key || !o->ca)) {
                fprintf(stderr, "fsxds: fsxdsd listens on %s with TLS: give the client's certificate (one that names "
                        "node %s), its key and the CA of fsxdsd's certificate: --cert FILE --key FILE --ca FILE\n",
                        a->listen, node);
                return EXIT_USAGE;
        }
        Buf b = {};
        if (o->grpc)
                grpc_bootstrap(&b, a, node, o);
        else
                envoy_bootstrap(&b, a, node, o);
        fwrite(b.data, 1, b.len, stdout);
        buf_free(&b);
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
}
