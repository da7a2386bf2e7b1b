/* SPDX-License-Identifier: MIT */
/* envoy-checks-tls: the TLS family's rules (certificates,
 * validation contexts, TLS contexts, ticket keys). Each case is a
 * resource that breaks a rule and its near-miss that does not, both
 * compiled from YAML with the built-in schema at an Envoy release; the
 * offending one gives exactly the diagnostic, the near-miss none of the
 * rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "compile.h"

typedef struct CheckCase {
        const char *rule;
        const char *bad;     /* a resource (one YAML document's resources[0]) */
        const char *good;    /* the near-miss */
        const char *expect;  /* the offending diagnostic, "line:column: level: path: message" */
        uint32_t version;    /* ENVOY_VERSION(); 0: the default */
} CheckCase;

static Schema *schema;

static int group_setup(void **state) {
        return schema_load_builtin(&schema);
}

static int group_teardown(void **state) {
        schema = schema_free(schema);
        return 0;
}

/* The diagnostics of rule when yaml is compiled, formatted without the file
 * name and rule; *ret_n: how many. */
static char *run_case(const char *yaml, const char *rule, uint32_t version, size_t *ret_n) {
        uint32_t saved = schema_envoy_version(schema);
        if (version)
                schema_set_envoy_version(schema, version);
        _cleanup_free_ char *doc = xasprintf("version_info: \"1\"\nresources:\n%s", yaml);
        DiagList diags = {};
        CompileResult rc = {};
        compile_data(schema, "t.yaml", doc, strlen(doc), NULL, &diags, &rc);
        schema_set_envoy_version(schema, saved);
        Buf out = {};
        size_t n = 0;
        for (size_t i = 0; i < diags.n; i++) {
                const Diag *d = &diags.items[i];
                if (!d->rule || !streq(d->rule, rule))
                        continue;
                _cleanup_free_ char *s = diag_format(d);
                /* "t.yaml:" off the front, " [rule]" off the end */
                buf_append(&out, s + 7, strlen(s) - 7 - strlen(rule) - 3);
                n++;
        }
        diag_list_clear(&diags);
        compile_result_done(&rc);
        *ret_n = n;
        buf_putc(&out, 0);
        return (char *) out.data;
}

static void run_cases(const CheckCase *cases, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const CheckCase *c = &cases[i];
                size_t k;
                _cleanup_free_ char *bad = run_case(c->bad, c->rule, c->version, &k);
                if (k != 1 || !streq(bad, c->expect))
                        fail_msg("case %zu (%s): want \"%s\", got %zu: \"%s\"", i, c->rule, c->expect, k, bad);
                _cleanup_free_ char *good = run_case(c->good, c->rule, c->version, &k);
                if (k != 0)
                        fail_msg("case %zu (%s): the near-miss reports \"%s\"", i, c->rule, good);
        }
}

static const CheckCase cases[] = {
        { "envoy.tls.private-key-required",
          "- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n"
          "  name: s\n"
          "  tls_certificate: {certificate_chain: {filename: /c.pem}, private_key: {inline_string: \"\"}}\n",
          "- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n"
          "  name: s\n"
          "  tls_certificate: {certificate_chain: {filename: /c.pem}, private_key_provider: {provider_name: p}}\n",
          "5:20: error: resources[0].tls_certificate: Failed to load incomplete private key from path: ", 0 },
        { "envoy.tls.cert-chain-required",
          "- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n"
          "  name: s\n"
          "  tls_certificate: {private_key: {inline_string: k}}\n",
          "- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n"
          "  name: s\n"
          "  tls_certificate: {}\n",
          "5:20: error: resources[0].tls_certificate: Failed to load incomplete certificate from : certificate chain not set", 0 },
        { "envoy.tls.crl-needs-ca",
          "- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n"
          "  name: s\n"
          "  validation_context: {crl: {inline_string: x}}\n",
          "- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n"
          "  name: s\n"
          "  validation_context: {crl: {inline_string: x}, custom_validator_config: {name: v, typed_config: {\"@type\": type.googleapis.com/google.protobuf.Empty}}}\n",
          "5:29: error: resources[0].validation_context.crl: Failed to load CRL from <inline> without trusted CA", 0 },
        { "envoy.tls.san-both-forms",
          "- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n"
          "  name: s\n"
          "  validation_context: {trusted_ca: {filename: /ca}, match_typed_subject_alt_names: [{san_type: DNS, matcher: {exact: a}}], match_subject_alt_names: [{exact: a}]}\n",
          "- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n"
          "  name: s\n"
          "  validation_context: {trusted_ca: {filename: /ca}, match_subject_alt_names: [{exact: a}]}\n",
          "5:149: warning: resources[0].validation_context.match_subject_alt_names: Ignoring match_subject_alt_names as match_typed_subject_alt_names is also specified, and the former is deprecated.", 0 },
        { "envoy.tls.verify-certificate-hash",
          "- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n"
          "  name: s\n"
          "  validation_context: {trusted_ca: {filename: /ca}, verify_certificate_hash: [\"DF:6F:F7:2F:E9:11:65:21:26:8F:6F:2D:D4:96:6F:51:DF:47:98:83:FE:70:37:B3:9F:75:91:6A:C3:04:9D:1\"]}\n",
          "- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n"
          "  name: s\n"
          "  validation_context: {trusted_ca: {filename: /ca}, verify_certificate_hash: [\"DF:6F:F7:2F:E9:11:65:21:26:8F:6F:2D:D4:96:6F:51:DF:47:98:83:FE:70:37:B3:9F:75:91:6A:C3:04:9D:1A\"]}\n",
          "5:79: error: resources[0].validation_context.verify_certificate_hash[0]: Invalid hex-encoded SHA-256 DF:6F:F7:2F:E9:11:65:21:26:8F:6F:2D:D4:96:6F:51:DF:47:98:83:FE:70:37:B3:9F:75:91:6A:C3:04:9D:1", 0 },
        { "envoy.tls.client-single-cert",
          "- \"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\n"
          "  name: c\n"
          "  type: EDS\n"
          "  transport_socket:\n"
          "    name: envoy.transport_sockets.tls\n"
          "    typed_config:\n"
          "      \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext\n"
          "      common_tls_context: {tls_certificate_sds_secret_configs: [{name: a}, {name: b}]}\n",
          "- \"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\n"
          "  name: c\n"
          "  type: EDS\n"
          "  transport_socket:\n"
          "    name: envoy.transport_sockets.tls\n"
          "    typed_config:\n"
          "      \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext\n"
          "      common_tls_context: {tls_certificate_sds_secret_configs: [{name: a}]}\n",
          "10:27: error: resources[0].transport_socket.typed_config.common_tls_context: Multiple TLS certificates are not supported for client contexts", 0 },
};

static void test_cases(void **state) {
        run_cases(cases, ELEMENTSOF(cases));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cases),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
