/* SPDX-License-Identifier: MIT */
/* envoy-checks-tls: the TLS family's rules (certificates,
 * validation contexts, TLS contexts, ticket keys). Each rule has a
 * resource that breaks it and a near-miss that does not, both compiled
 * from YAML with the built-in schema at an Envoy release (check-cases.h);
 * the offending one gives exactly the diagnostic, the near-miss none of
 * the rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "check-cases.h"

/* a response of one Secret with FIELD */
#define SECRET(FIELD)                                                                                           \
        "version_info: \"1\"\n"                                                                                 \
        "resources:\n"                                                                                          \
        "- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n"                  \
        "  name: s\n"                                                                                           \
        "  " FIELD "\n"
/* ... of one EDS cluster with an UpstreamTlsContext of COMMON */
#define UPSTREAM_TLS(COMMON)                                                                                    \
        "version_info: \"1\"\n"                                                                                 \
        "resources:\n"                                                                                          \
        "- \"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\n"                                   \
        "  name: c\n"                                                                                           \
        "  type: EDS\n"                                                                                         \
        "  transport_socket:\n"                                                                                 \
        "    name: envoy.transport_sockets.tls\n"                                                               \
        "    typed_config:\n"                                                                                   \
        "      \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext\n"    \
        "      common_tls_context: " COMMON "\n"
#define X16 "xxxxxxxxxxxxxxxx"
#define ALPN255 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 "xxxxxxxxxxxxxxx"
#define HASH "DF:6F:F7:2F:E9:11:65:21:26:8F:6F:2D:D4:96:6F:51:DF:47:98:83:FE:70:37:B3:9F:75:91:6A:C3:04:9D:1"

static const CheckCase cases[] = {
        { "envoy.tls.private-key-required",
          SECRET("tls_certificate: {certificate_chain: {filename: /c.pem}, private_key: {inline_string: \"\"}}"),
          "5:20: error: resources[0].tls_certificate: Failed to load incomplete private key from path: " },
        { "envoy.tls.private-key-required",
          SECRET("tls_certificate: {certificate_chain: {filename: /c.pem}, private_key_provider: {provider_name: p}}") },
        { "envoy.tls.cert-chain-required", SECRET("tls_certificate: {private_key: {inline_string: k}}"),
          "5:20: error: resources[0].tls_certificate: Failed to load incomplete certificate from : certificate chain "
          "not set" },
        { "envoy.tls.cert-chain-required", SECRET("tls_certificate: {}") },
        { "envoy.tls.crl-needs-ca", UPSTREAM_TLS("{validation_context: {crl: {inline_string: x}}}"),
          "Failed to load CRL from <inline> without trusted CA" },
        { "envoy.tls.crl-needs-ca",
          UPSTREAM_TLS("{validation_context: {crl: {inline_string: x}, custom_validator_config: {name: v, typed_config: "
                       "{\"@type\": type.googleapis.com/google.protobuf.Empty}}}}") },
        /* a Secret's validation context may be the SDS half of a combined
         * one: Envoy judges only the merged context */
        { "envoy.tls.crl-needs-ca", SECRET("validation_context: {crl: {inline_string: x}}") },
        { "envoy.tls.san-needs-ca",
          UPSTREAM_TLS("{validation_context: {match_typed_subject_alt_names: [{san_type: DNS, matcher: {exact: a}}]}}"),
          "SAN-based verification of peer certificates without trusted CA is insecure and not allowed" },
        { "envoy.tls.san-needs-ca",
          SECRET("validation_context: {match_typed_subject_alt_names: [{san_type: DNS, matcher: {exact: a}}]}") },
        { "envoy.tls.allow-expired-needs-ca", UPSTREAM_TLS("{validation_context: {allow_expired_certificate: True}}"),
          "10:48: error: resources[0].transport_socket.typed_config.common_tls_context.validation_context: Certificate "
          "validity period is always ignored without trusted CA" },
        { "envoy.tls.allow-expired-needs-ca", UPSTREAM_TLS("{validation_context: {allow_expired_certificate: yes}}"),
          "Certificate validity period is always ignored without trusted CA" },
        { "envoy.tls.allow-expired-needs-ca", UPSTREAM_TLS("{validation_context: {allow_expired_certificate: off}}") },
        { "envoy.tls.allow-expired-needs-ca", SECRET("validation_context: {allow_expired_certificate: true}") },
        /* Envoy joins the list with "," and splits it again */
        /* server_context_config_impl.cc getSessionTicketKey: 80 bytes */
        { "envoy.tls.session-ticket-key-length",
          SECRET("session_ticket_keys: {keys: [{inline_string: \"" X16 X16 X16 X16 X16 "\"}]}") },
        { "envoy.tls.session-ticket-key-length",
          SECRET("session_ticket_keys: {keys: [{inline_string: \"" X16 X16 X16 X16 "x\"}]}"),
          "Incorrect TLS session ticket key length. Length 65, expected length 80." },
        { "envoy.tls.alpn-length", UPSTREAM_TLS("{alpn_protocols: [\"h2," ALPN255 "\"]}") },
        { "envoy.tls.alpn-length", UPSTREAM_TLS("{alpn_protocols: [\"h2," ALPN255 "x\"]}"),
          "Invalid ALPN protocol string" },
        { "envoy.tls.alpn-length", UPSTREAM_TLS("{alpn_protocols: [\"h2,,http/1.1\", \"\"]}") },
        { "envoy.tls.san-both-forms",
          SECRET("validation_context: {trusted_ca: {filename: /ca}, match_typed_subject_alt_names: [{san_type: DNS, "
                 "matcher: {exact: a}}], match_subject_alt_names: [{exact: a}]}"),
          "5:149: warning: resources[0].validation_context.match_subject_alt_names: Ignoring match_subject_alt_names as "
          "match_typed_subject_alt_names is also specified, and the former is deprecated." },
        { "envoy.tls.san-both-forms",
          SECRET("validation_context: {trusted_ca: {filename: /ca}, match_subject_alt_names: [{exact: a}]}") },
        { "envoy.tls.verify-certificate-hash",
          SECRET("validation_context: {trusted_ca: {filename: /ca}, verify_certificate_hash: [\"" HASH "\"]}"),
          "5:79: error: resources[0].validation_context.verify_certificate_hash[0]: Invalid hex-encoded SHA-256 " HASH },
        { "envoy.tls.verify-certificate-hash",
          SECRET("validation_context: {trusted_ca: {filename: /ca}, verify_certificate_hash: [\"" HASH "A\"]}") },
        /* too short for the proto's min_len: validate.string.min_len says so, alone */
        { "envoy.tls.verify-certificate-hash",
          SECRET("validation_context: {trusted_ca: {filename: /ca}, verify_certificate_hash: [\"DF:6F\"]}") },
        { "envoy.tls.verify-certificate-spki",
          SECRET("validation_context: {trusted_ca: {filename: /ca}, verify_certificate_spki: [\"NvqYIYSbgK2vCJpQhObf77vv+bQWtc5ek5RIOwPiC9A\"]}") },
        { "envoy.tls.client-single-cert", UPSTREAM_TLS("{tls_certificate_sds_secret_configs: [{name: a}, {name: b}]}"),
          "10:27: error: resources[0].transport_socket.typed_config.common_tls_context: Multiple TLS certificates are "
          "not supported for client contexts" },
        { "envoy.tls.client-single-cert", UPSTREAM_TLS("{tls_certificate_sds_secret_configs: [{name: a}]}") },
        /* as tests/integration/envoy-checks/tls-ocsp-inline-string.yaml */
        { "envoy.tls.ocsp-inline-string",
          "# rule: envoy.tls.ocsp-inline-string\n"
          "# expect: 12:34: error: resources[0].tls_certificate.ocsp_staple.inline_string: OCSP staple cannot be provided via inline_string [envoy.tls.ocsp-inline-string]\n"
          "# near-miss: {inline_string: abcd} => {inline_bytes: YWJjZA==}\n"
          "# Envoy: test/common/tls/context_impl_test.cc SslServerContextImplOcspTest.TestInlineStringOcspStapleConfigFails\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n"
          "  name: server-cert\n"
          "  tls_certificate:\n"
          "    certificate_chain: {filename: /etc/envoy/cert.pem}\n"
          "    private_key: {filename: /etc/envoy/key.pem}\n"
          "    ocsp_staple: {inline_string: abcd}\n",
          "12:34: error: resources[0].tls_certificate.ocsp_staple.inline_string: OCSP staple cannot be provided via inline_string" },
        { "envoy.tls.ocsp-inline-string",
          "# rule: envoy.tls.ocsp-inline-string\n"
          "# expect: 12:34: error: resources[0].tls_certificate.ocsp_staple.inline_string: OCSP staple cannot be provided via inline_string [envoy.tls.ocsp-inline-string]\n"
          "# near-miss: {inline_string: abcd} => {inline_bytes: YWJjZA==}\n"
          "# Envoy: test/common/tls/context_impl_test.cc SslServerContextImplOcspTest.TestInlineStringOcspStapleConfigFails\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n"
          "  name: server-cert\n"
          "  tls_certificate:\n"
          "    certificate_chain: {filename: /etc/envoy/cert.pem}\n"
          "    private_key: {filename: /etc/envoy/key.pem}\n"
          "    ocsp_staple: {inline_bytes: YWJjZA==}\n",
          NULL },
        /* as tests/integration/envoy-checks/tls-pkcs12-exclusive.yaml */
        { "envoy.tls.pkcs12-exclusive",
          "# rule: envoy.tls.pkcs12-exclusive\n"
          "# expect: 10:5: error: resources[0].tls_certificate: Certificate configuration can't have both pkcs12 and private_key [envoy.tls.pkcs12-exclusive]\n"
          "# near-miss: private_key: {filename: /etc/envoy/selfsigned_key.pem} => password: {inline_string: secret}\n"
          "# Envoy: test/common/tls/context_impl_test.cc ServerContextConfigImplTest.Pkcs12LoadFailureBothPkcs12AndKey\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n"
          "  name: server-cert\n"
          "  tls_certificate:\n"
          "    pkcs12: {filename: /etc/envoy/san_dns3_certkeychain.p12}\n"
          "    private_key: {filename: /etc/envoy/selfsigned_key.pem}\n",
          "10:5: error: resources[0].tls_certificate: Certificate configuration can't have both pkcs12 and private_key" },
        { "envoy.tls.pkcs12-exclusive",
          "# rule: envoy.tls.pkcs12-exclusive\n"
          "# expect: 10:5: error: resources[0].tls_certificate: Certificate configuration can't have both pkcs12 and private_key [envoy.tls.pkcs12-exclusive]\n"
          "# near-miss: private_key: {filename: /etc/envoy/selfsigned_key.pem} => password: {inline_string: secret}\n"
          "# Envoy: test/common/tls/context_impl_test.cc ServerContextConfigImplTest.Pkcs12LoadFailureBothPkcs12AndKey\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n"
          "  name: server-cert\n"
          "  tls_certificate:\n"
          "    pkcs12: {filename: /etc/envoy/san_dns3_certkeychain.p12}\n"
          "    password: {inline_string: secret}\n",
          NULL },
        /* as tests/integration/envoy-checks/tls-server-cert-required.yaml */
        { "envoy.tls.server-cert-required",
          "# rule: envoy.tls.server-cert-required\n"
          "# expect: 21:29: error: resources[0].filter_chains[0].transport_socket.typed_config.common_tls_context: No TLS certificates found for server context [envoy.tls.server-cert-required]\n"
          "# near-miss: {alpn_protocols: [h2]} => {tls_certificate_sds_secret_configs: [{name: server-cert}]}\n"
          "# Envoy: test/common/tls/context_impl_test.cc ServerContextConfigImplTest.MultipleTlsCertificates (empty DownstreamTlsContext)\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"
          "  name: web\n"
          "  address: {socket_address: {address: 0.0.0.0, port_value: 8443}}\n"
          "  filter_chains:\n"
          "  - filters:\n"
          "    - name: envoy.filters.network.tcp_proxy\n"
          "      typed_config:\n"
          "        \"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n"
          "        stat_prefix: web\n"
          "        cluster: backend\n"
          "    transport_socket:\n"
          "      name: envoy.transport_sockets.tls\n"
          "      typed_config:\n"
          "        \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext\n"
          "        common_tls_context: {alpn_protocols: [h2]}\n",
          "21:29: error: resources[0].filter_chains[0].transport_socket.typed_config.common_tls_context: No TLS certificates found for server context" },
        { "envoy.tls.server-cert-required",
          "# rule: envoy.tls.server-cert-required\n"
          "# expect: 21:29: error: resources[0].filter_chains[0].transport_socket.typed_config.common_tls_context: No TLS certificates found for server context [envoy.tls.server-cert-required]\n"
          "# near-miss: {alpn_protocols: [h2]} => {tls_certificate_sds_secret_configs: [{name: server-cert}]}\n"
          "# Envoy: test/common/tls/context_impl_test.cc ServerContextConfigImplTest.MultipleTlsCertificates (empty DownstreamTlsContext)\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"
          "  name: web\n"
          "  address: {socket_address: {address: 0.0.0.0, port_value: 8443}}\n"
          "  filter_chains:\n"
          "  - filters:\n"
          "    - name: envoy.filters.network.tcp_proxy\n"
          "      typed_config:\n"
          "        \"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n"
          "        stat_prefix: web\n"
          "        cluster: backend\n"
          "    transport_socket:\n"
          "      name: envoy.transport_sockets.tls\n"
          "      typed_config:\n"
          "        \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext\n"
          "        common_tls_context: {tls_certificate_sds_secret_configs: [{name: server-cert}]}\n",
          NULL },
        /* as tests/integration/envoy-checks/tls-server-cert-sds-mix.yaml */
        { "envoy.tls.server-cert-sds-mix",
          "# rule: envoy.tls.server-cert-sds-mix\n"
          "# expect: 22:11: error: resources[0].filter_chains[0].transport_socket.typed_config.common_tls_context: SDS and non-SDS TLS certificates may not be mixed in server contexts [envoy.tls.server-cert-sds-mix]\n"
          "# near-miss: tls_certificate_sds_secret_configs: [{name: server-cert}] => alpn_protocols: [h2]\n"
          "# Envoy: test/common/tls/context_impl_test.cc ServerContextConfigImplTest.TlsCertificatesAndSdsConfig\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"
          "  name: web\n"
          "  address: {socket_address: {address: 0.0.0.0, port_value: 8443}}\n"
          "  filter_chains:\n"
          "  - filters:\n"
          "    - name: envoy.filters.network.tcp_proxy\n"
          "      typed_config:\n"
          "        \"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n"
          "        stat_prefix: web\n"
          "        cluster: backend\n"
          "    transport_socket:\n"
          "      name: envoy.transport_sockets.tls\n"
          "      typed_config:\n"
          "        \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext\n"
          "        common_tls_context:\n"
          "          tls_certificates:\n"
          "          - certificate_chain: {filename: /etc/envoy/cert.pem}\n"
          "            private_key: {filename: /etc/envoy/key.pem}\n"
          "          tls_certificate_sds_secret_configs: [{name: server-cert}]\n",
          "22:11: error: resources[0].filter_chains[0].transport_socket.typed_config.common_tls_context: SDS and non-SDS TLS certificates may not be mixed in server contexts" },
        { "envoy.tls.server-cert-sds-mix",
          "# rule: envoy.tls.server-cert-sds-mix\n"
          "# expect: 22:11: error: resources[0].filter_chains[0].transport_socket.typed_config.common_tls_context: SDS and non-SDS TLS certificates may not be mixed in server contexts [envoy.tls.server-cert-sds-mix]\n"
          "# near-miss: tls_certificate_sds_secret_configs: [{name: server-cert}] => alpn_protocols: [h2]\n"
          "# Envoy: test/common/tls/context_impl_test.cc ServerContextConfigImplTest.TlsCertificatesAndSdsConfig\n"
          "version_info: \"1\"\n"
          "resources:\n"
          "- \"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"
          "  name: web\n"
          "  address: {socket_address: {address: 0.0.0.0, port_value: 8443}}\n"
          "  filter_chains:\n"
          "  - filters:\n"
          "    - name: envoy.filters.network.tcp_proxy\n"
          "      typed_config:\n"
          "        \"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n"
          "        stat_prefix: web\n"
          "        cluster: backend\n"
          "    transport_socket:\n"
          "      name: envoy.transport_sockets.tls\n"
          "      typed_config:\n"
          "        \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext\n"
          "        common_tls_context:\n"
          "          tls_certificates:\n"
          "          - certificate_chain: {filename: /etc/envoy/cert.pem}\n"
          "            private_key: {filename: /etc/envoy/key.pem}\n"
          "          alpn_protocols: [h2]\n",
          NULL },
};

int main(void) {
        return check_cases_main("envoy-checks-tls", cases, ELEMENTSOF(cases), CHECK_OTHERS_IGNORED);
}
