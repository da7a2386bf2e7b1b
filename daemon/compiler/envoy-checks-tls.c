/* SPDX-License-Identifier: MIT */
/* Envoy's load-time checks: the TLS family (see envoy-checks.h and
 * docs/envoy-checks/tls.md). What Envoy refuses when it builds a TLS
 * context from the configuration alone (source/common/tls/,
 * source/common/ssl/): certificates without their key, validation
 * contexts that need a trusted CA, pins and ticket keys of the wrong size.
 * Nothing here reads a file or parses a certificate. */
#include <ctype.h>
#include <inttypes.h>

#include "envoy-checks.h"
#include "value.h"

#define TLS "envoy.extensions.transport_sockets.tls.v3."

static bool nonempty_scalar(const YamlNode *v) {
        return yaml_is_scalar(v) && v->kind != YAML_KIND_NULL && v->n > 0;
}

/* A DataSource with something in it: a file, an inline value, an
 * environment variable (Envoy reads the first two; an empty inline value
 * is an empty source). */
static bool source_set(const YamlNode *ds) {
        return nonempty_scalar(check_field(ds, "filename")) || nonempty_scalar(check_field(ds, "inline_string")) ||
               nonempty_scalar(check_field(ds, "inline_bytes")) || nonempty_scalar(check_field(ds, "environment_variable"));
}

/* Config::DataSource::getPath: the file name, "<inline>" for an inline
 * value, else "". */
static const char *source_path(const YamlNode *ds) {
        const YamlNode *f = check_field(ds, "filename");
        if (nonempty_scalar(f))
                return f->str;
        if (nonempty_scalar(check_field(ds, "inline_string")) || nonempty_scalar(check_field(ds, "inline_bytes")))
                return "<inline>";
        return "";
}

/* ---- TlsCertificate (tls_certificate_config_impl.cc) ---- */

static void tls_certificate(CheckContext *c, const YamlNode *node) {
        const YamlNode *chain = check_field(node, "certificate_chain"), *key = check_field(node, "private_key"),
                       *provider = check_field(node, "private_key_provider"), *pkcs12 = check_field(node, "pkcs12");
        bool has_chain = source_set(chain), has_key = source_set(key), has_provider = provider != NULL;
        if (source_set(pkcs12)) {
                /* absl::Status releases: the last one set is what Envoy says */
                const char *other = has_provider ? "private_key_provider" : has_chain ? "certificate_chain" :
                                    has_key      ? "private_key" :
                                                   NULL;
                if (other)
                        check_error(c, node, NULL, "envoy.tls.pkcs12-exclusive",
                                    "Certificate configuration can't have both pkcs12 and %s", other);
        } else if (has_chain || has_key || has_provider) {
                /* an entirely empty TlsCertificate is skipped by the context */
                if (!has_chain)
                        check_error(c, node, NULL, "envoy.tls.cert-chain-required",
                                    "Failed to load incomplete certificate from %s: certificate chain not set",
                                    source_path(chain));
                else if (!has_key && !has_provider)
                        check_error(c, node, NULL, "envoy.tls.private-key-required",
                                    "Failed to load incomplete private key from path: %s", source_path(key));
        }
        const YamlNode *ocsp = check_field(node, "ocsp_staple");
        if (check_field(ocsp, "inline_string"))
                check_error(c, check_field(ocsp, "inline_string"), "ocsp_staple.inline_string", "envoy.tls.ocsp-inline-string",
                            "OCSP staple cannot be provided via inline_string");
}

/* ---- CertificateValidationContext ---- */

static bool is_hex(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!isxdigit((unsigned char) s[i]))
                        return false;
        return true;
}

/* The number of UTF-8 characters of s (protoc-gen-validate's min_len). */
static size_t utf8_len(const char *s, size_t n) {
        size_t r = 0;
        for (size_t i = 0; i < n; i++)
                r += ((uint8_t) s[i] & 0xC0) != 0x80;
        return r;
}

/* default_validator.cc: a 95-character fingerprint loses its colons, then
 * the hex must decode to SHA256_DIGEST_LENGTH bytes; an SPKI pin is
 * base64 of SHA256_DIGEST_LENGTH bytes. A value the proto's own rules
 * refuse (hash: min_len 64, max_bytes 95; SPKI: min_len 44, max_bytes 44)
 * is left to validate.c, so one problem is one error. */
static void pins(CheckContext *c, const YamlNode *node) {
        const YamlNode *hashes = check_field(node, "verify_certificate_hash");
        for (uint32_t i = 0; i < check_list_len(hashes); i++) {
                const YamlNode *h = check_list_at(hashes, i);
                if (!yaml_is_scalar(h) || utf8_len(h->str, h->n) < 64 || h->n > 95)
                        continue;
                Buf b = {};
                for (size_t k = 0; k < h->n; k++)
                        if (h->n != 95 || h->str[k] != ':')
                                buf_putc(&b, (uint8_t) h->str[k]);
                buf_putc(&b, 0);
                if (!(b.len - 1 == 64 && is_hex((const char *) b.data, 64))) {
                        _cleanup_free_ char *path = check_list_path(hashes, "verify_certificate_hash", i);
                        check_error(c, h, path, "envoy.tls.verify-certificate-hash", "Invalid hex-encoded SHA-256 %s",
                                    (const char *) b.data);
                }
                buf_free(&b);
        }
        const YamlNode *spkis = check_field(node, "verify_certificate_spki");
        for (uint32_t i = 0; i < check_list_len(spkis); i++) {
                const YamlNode *s = check_list_at(spkis, i);
                if (!yaml_is_scalar(s) || utf8_len(s->str, s->n) < 44 || s->n > 44)
                        continue;
                /* Envoy's Base64::decode: the standard alphabet, padded */
                bool ok = s->n % 4 == 0 && strspn(s->str, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") == s->n;
                Buf out = {};
                ok = ok && value_base64_decode(s->str, s->n, &out) >= 0 && out.len == 32;
                buf_free(&out);
                if (!ok) {
                        _cleanup_free_ char *path = check_list_path(spkis, "verify_certificate_spki", i);
                        check_error(c, s, path, "envoy.tls.verify-certificate-spki", "Invalid base64-encoded SHA-256 %s",
                                    s->str);
                }
        }
}

/* getSubjectAltNameMatchers: both SAN forms. */
static void san_forms(CheckContext *c, const YamlNode *node) {
        if (check_list_len(check_field(node, "match_typed_subject_alt_names")) == 0 ||
            check_list_len(check_field(node, "match_subject_alt_names")) == 0)
                return;
        const YamlNode *at = check_field(node, "match_subject_alt_names");
        if (c->envoy_version < ENVOY_VERSION(23, 0))
                check_error(c, at, "match_subject_alt_names", "envoy.tls.san-both-forms",
                            "SAN-based verification using both match_typed_subject_alt_names and the deprecated "
                            "match_subject_alt_names is not allowed");
        else
                check_warning(c, at, "match_subject_alt_names", "envoy.tls.san-both-forms",
                              "Ignoring match_subject_alt_names as match_typed_subject_alt_names is also specified, and "
                              "the former is deprecated.");
}

static void validation_context(CheckContext *c, const YamlNode *node) {
        pins(c, node);
        san_forms(c, node);
}

/* CertificateValidationContextConfigImpl::initialize, for a validation
 * context that is all there is: what needs a trusted CA. field: its path.
 * Only CommonTlsContext.validation_context is one. A combined context's
 * default half is merged with an SDS secret, and a Secret's
 * validation_context may be that SDS half: Envoy validates only the merged
 * context (context_config_impl.cc: the parts "could only contain partial
 * fields, which is okay to fail the validation"), so neither is judged
 * alone. */
static void needs_trusted_ca(CheckContext *c, const YamlNode *cvc, const char *field) {
        if (!cvc || cvc->kind != YAML_KIND_MAP || source_set(check_field(cvc, "trusted_ca")) ||
            check_field(cvc, "custom_validator_config") || check_field(cvc, "system_root_certs") ||
            check_field(cvc, "ca_certificate_provider_instance"))
                return;
        const YamlNode *crl = check_field(cvc, "crl");
        if (source_set(crl)) {
                _cleanup_free_ char *path = xasprintf("%s.crl", field);
                check_error(c, crl, path, "envoy.tls.crl-needs-ca", "Failed to load CRL from %s without trusted CA",
                            source_path(crl));
        } else if (check_list_len(check_field(cvc, "match_typed_subject_alt_names")) > 0 ||
                   check_list_len(check_field(cvc, "match_subject_alt_names")) > 0)
                check_error(c, cvc, field, "envoy.tls.san-needs-ca",
                            "SAN-based verification of peer certificates without trusted CA is insecure and not allowed");
        else if (check_true(cvc, "allow_expired_certificate"))
                check_error(c, cvc, field, "envoy.tls.allow-expired-needs-ca",
                            "Certificate validity period is always ignored without trusted CA");
}

/* ---- CommonTlsContext, DownstreamTlsContext, UpstreamTlsContext, Secret ---- */

/* context_impl.cc parseAlpnProtocols: Envoy joins alpn_protocols with ","
 * and splits the result at every ",", so an entry with commas is several
 * protocols; each must be at most 255 bytes, the whole under 65535. An
 * empty one passes (what the TLS library then does with it is not a
 * configuration error). */
static void common_tls_context(CheckContext *c, const YamlNode *node) {
        needs_trusted_ca(c, check_field(node, "validation_context"), "validation_context");
        const YamlNode *alpn = check_field(node, "alpn_protocols");
        size_t joined = 0;
        for (uint32_t i = 0; i < check_list_len(alpn); i++) {
                const YamlNode *p = check_list_at(alpn, i);
                if (!yaml_is_scalar(p))
                        continue;
                joined += p->n + (i > 0);
                for (size_t start = 0; start <= p->n;) {
                        const char *comma = memchr(p->str + start, ',', p->n - start);
                        size_t end = comma ? (size_t) (comma - p->str) : p->n;
                        if (end - start > 255) {
                                _cleanup_free_ char *path = check_list_path(alpn, "alpn_protocols", i);
                                check_error(c, p, path, "envoy.tls.alpn-length", "Invalid ALPN protocol string");
                                return;
                        }
                        start = end + 1;
                }
        }
        if (joined >= 65535)
                check_error(c, alpn, "alpn_protocols", "envoy.tls.alpn-length", "Invalid ALPN protocol string");
}

static uint32_t certificates(const YamlNode *common, bool *ret_mixed) {
        uint32_t inline_n = check_list_len(check_field(common, "tls_certificates")),
                 sds_n = check_list_len(check_field(common, "tls_certificate_sds_secret_configs"));
        *ret_mixed = inline_n > 0 && sds_n > 0;
        return inline_n + sds_n;
}

/* server_context_config_impl.cc: unless a custom handshaker provides the
 * certificates (or a certificate provider instance or selector does) */
static void downstream_tls_context(CheckContext *c, const YamlNode *node) {
        const YamlNode *common = check_field(node, "common_tls_context");
        if (check_field(common, "custom_handshaker") || check_field(common, "tls_certificate_provider_instance") ||
            check_field(common, "tls_certificate_certificate_provider_instance") ||
            check_field(common, "custom_tls_certificate_selector"))
                return;
        bool mixed;
        uint32_t n = certificates(common, &mixed);
        if (n == 0)
                check_error(c, common ? common : node, common ? "common_tls_context" : NULL, "envoy.tls.server-cert-required",
                            "No TLS certificates found for server context");
        else if (mixed)
                check_error(c, common, "common_tls_context", "envoy.tls.server-cert-sds-mix",
                            "SDS and non-SDS TLS certificates may not be mixed in server contexts");
}

/* context_config_impl.cc ClientContextConfigImpl (its SNI NUL-byte check needs no
 * rule: the YAML reader refuses a NUL in any scalar) */
static void upstream_tls_context(CheckContext *c, const YamlNode *node) {
        const YamlNode *common = check_field(node, "common_tls_context");
        bool mixed;
        if (!check_field(common, "custom_tls_certificate_selector") && certificates(common, &mixed) > 1)
                check_error(c, common, "common_tls_context", "envoy.tls.client-single-cert",
                            "Multiple TLS certificates are not supported for client contexts");
}

/* server_context_config_impl.cc getSessionTicketKey: 80 bytes each */
static void session_ticket_keys(CheckContext *c, const YamlNode *node) {
        const YamlNode *keys = check_field(node, "keys");
        for (uint32_t i = 0; i < check_list_len(keys); i++) {
                const YamlNode *k = check_list_at(keys, i);
                const YamlNode *s = check_field(k, "inline_string"), *b = check_field(k, "inline_bytes");
                size_t len;
                if (yaml_is_scalar(s))
                        len = s->n;
                else if (yaml_is_scalar(b)) {
                        Buf out = {};
                        int r = value_base64_decode(b->str, b->n, &out);
                        len = out.len;
                        buf_free(&out);
                        if (r < 0)
                                continue; /* the encoder says so */
                } else
                        continue; /* a file: not read here */
                if (len == 80)
                        continue;
                _cleanup_free_ char *path = check_list_path(keys, "keys", i);
                check_error(c, k, path, "envoy.tls.session-ticket-key-length",
                            "Incorrect TLS session ticket key length. Length %zu, expected length 80.", len);
        }
}

const Check envoy_checks_tls[] = {
        { TLS "TlsCertificate", tls_certificate },
        { TLS "CertificateValidationContext", validation_context },
        { TLS "CommonTlsContext", common_tls_context },
        { TLS "DownstreamTlsContext", downstream_tls_context },
        { TLS "UpstreamTlsContext", upstream_tls_context },
        { TLS "TlsSessionTicketKeys", session_ticket_keys },
        { NULL },
};
