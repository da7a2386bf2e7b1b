/* SPDX-License-Identifier: MIT */
/* The TLS side of the gRPC transport (OpenSSL 3): the server context
 * (TLS 1.2 or later, the server's certificate chain and key, client
 * certificates required and verified against client_ca, ALPN "h2" or
 * nothing), a non-blocking handshake and record I/O on a connection's fd,
 * and the names of the verified client certificate. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "h2-internal.h"
#include "sign.h"
#include "util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(SSL_CTX *, SSL_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(STACK_OF(X509_NAME) *, sk_X509_NAME_free);

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned inlen, void *arg) {
        static const unsigned char h2[] = { 2, 'h', '2' };
        (void) ssl;
        (void) arg;
        if (SSL_select_next_proto((unsigned char **) out, outlen, h2, sizeof(h2), in, inlen) !=
            OPENSSL_NPN_NEGOTIATED)
                return SSL_TLSEXT_ERR_ALERT_FATAL;
        return SSL_TLSEXT_ERR_OK;
}

/* "tls what file: OpenSSL's reasons" (all of them: the outer one alone,
 * "PEM lib", says little) */
static int tls_error(char **ret_error, const char *what, const char *path) {
        _cleanup_free_ char *where = xasprintf("tls %s %s", what, path);

        if (ret_error)
                *ret_error = ERR_peek_error() ? openssl_errors(where) : xasprintf("%s: not accepted by OpenSSL", where);
        ERR_clear_error();
        return -EINVAL;
}

/* 0, or "tls cert PATH: [WHO (SUBJECT)] expired on 2026-12-26 13:05:38 UTC"
 * (or "is not valid before ...") and -EKEYEXPIRED */
static int check_validity(X509 *x, const char *path, const char *who, char **ret_error) {
        const ASN1_TIME *t;
        const char *what;
        struct tm tm = {};
        char when[64] = "?", subject[256] = "?";

        if (!x)
                return 0;
        if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0)
                t = X509_get0_notAfter(x), what = "expired on";
        else if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0)
                t = X509_get0_notBefore(x), what = "is not valid before";
        else
                return 0;
        if (ASN1_TIME_to_tm(t, &tm) == 1)
                (void) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
        (void) X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof subject);
        if (ret_error)
                *ret_error = who ? xasprintf("tls cert %s: %s (%s) %s %s", path, who, subject, what, when)
                                 : xasprintf("tls cert %s: %s %s", path, what, when);
        return -EKEYEXPIRED;
}

static int readable(const char *what, const char *path, char **ret_error) {
        if (access(path, R_OK) < 0) {
                int r = -errno;
                if (ret_error)
                        *ret_error = xasprintf("tls %s %s: %s", what, path, strerror(-r));
                return r;
        }
        return 0;
}

int h2_tls_context(const H2Tls *tls, SSL_CTX **ret, char **ret_error) {
        _cleanup_(SSL_CTX_freep) SSL_CTX *ctx = NULL;
        _cleanup_(sk_X509_NAME_freep) STACK_OF(X509_NAME) *cas = NULL;
        int r;

        if (!tls->cert || !tls->key || !tls->client_ca) {
                if (ret_error)
                        *ret_error = xasprintf("tls needs cert, key and client_ca");
                return -EINVAL;
        }
        if ((r = readable("cert", tls->cert, ret_error)) < 0 || (r = readable("key", tls->key, ret_error)) < 0 ||
            (r = readable("client_ca", tls->client_ca, ret_error)) < 0)
                return r;

        ERR_clear_error();
        ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx)
                return -ENOMEM;
        if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
                return tls_error(ret_error, "context", "TLS 1.2");
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
        /* HTTP/2 forbids the TLS 1.2 suites without forward secrecy or AEAD (RFC 9113 9.2.2) */
        if (SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1)
                return tls_error(ret_error, "context", "ciphers");
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                      SSL_MODE_RELEASE_BUFFERS);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_num_tickets(ctx, 0);

        if (SSL_CTX_use_certificate_chain_file(ctx, tls->cert) != 1)
                return tls_error(ret_error, "cert", tls->cert);
        if (SSL_CTX_use_PrivateKey_file(ctx, tls->key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
                unsigned long e = ERR_peek_last_error();
                if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
                        X509 *first = SSL_CTX_get0_certificate(ctx);
                        ERR_clear_error();
                        /* a chain alone, or in the wrong order: a CA's
                         * certificate first (a self-signed server
                         * certificate is a CA's too, and fine) */
                        if (ret_error)
                                *ret_error = xasprintf("tls key %s does not belong to the first certificate in %s%s",
                                                       tls->key, tls->cert,
                                                       first && X509_check_ca(first)
                                                               ? ", a CA's: the server's own certificate comes first, "
                                                                 "its chain after it"
                                                               : "");
                        return -EINVAL;
                }
                return tls_error(ret_error, "key", tls->key);
        }
        /* what clients refuse, the listener refuses (the previous one, if
         * any, stays): a certificate out of its validity, its chain's
         * too, and one not for a TLS server */
        X509 *cert = SSL_CTX_get0_certificate(ctx);
        STACK_OF(X509) *chain = NULL;
        if ((r = check_validity(cert, tls->cert, NULL, ret_error)) < 0)
                return r;
        if (SSL_CTX_get0_chain_certs(ctx, &chain) == 1)
                for (int i = 0; i < sk_X509_num(chain); i++)
                        if ((r = check_validity(sk_X509_value(chain, i), tls->cert, "a certificate of its chain", ret_error)) < 0)
                                return r;
        if (cert && X509_check_purpose(cert, X509_PURPOSE_SSL_SERVER, 0) != 1) {
                ERR_clear_error();
                if (ret_error)
                        *ret_error = xasprintf("tls cert %s: not a TLS server's certificate (its extendedKeyUsage or "
                                               "keyUsage excludes it): clients refuse it", tls->cert);
                return -EINVAL;
        }
        if (SSL_CTX_load_verify_locations(ctx, tls->client_ca, NULL) != 1)
                return tls_error(ret_error, "client_ca", tls->client_ca);
        cas = SSL_load_client_CA_file(tls->client_ca);
        if (!cas)
                return tls_error(ret_error, "client_ca", tls->client_ca);
        SSL_CTX_set_client_CA_list(ctx, TAKE_PTR(cas));
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);

        *ret = TAKE_PTR(ctx);
        return 0;
}

int64_t h2_tls_not_after(SSL_CTX *ctx) {
        X509 *cert = ctx ? SSL_CTX_get0_certificate(ctx) : NULL;
        struct tm tm = {};

        if (!cert || ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
                return 0;
        return (int64_t) timegm(&tm);
}

/* OpenSSL keeps no per-object count: the SSL object, its record layer
 * and the handshake state come to some 6 KiB when idle (the 2 x 16 KiB
 * record buffers are released between records: SSL_MODE_RELEASE_BUFFERS),
 * plus the peer's certificate chain. */
size_t h2_tls_bytes(const SSL *ssl) {
        return ssl ? 6 * 1024 + (SSL_is_init_finished(ssl) ? 2 * 1024 : 32 * 1024) : 0;
}

static int want(SSL *ssl, int r, uint32_t *ret_events) {
        switch (SSL_get_error(ssl, r)) {
        case SSL_ERROR_WANT_READ:
                *ret_events = EPOLLIN;
                return -EAGAIN;
        case SSL_ERROR_WANT_WRITE:
                *ret_events = EPOLLIN | EPOLLOUT;
                return -EAGAIN;
        case SSL_ERROR_ZERO_RETURN:
                return 0;
        case SSL_ERROR_SYSCALL:
                ERR_clear_error();
                return errno > 0 ? -errno : -ECONNRESET;
        default:
                ERR_clear_error();
                return -EPROTO;
        }
}

/* Why a handshake failed, as OpenSSL tells it: the client certificate's
 * verification error, the alert the client ended it with (it refused
 * fsxdsd's certificate or what was offered), else the first queued
 * error's reason. NULL when the client just went away (EOF: a port
 * probe, a client giving up): no refusal. */
static char *handshake_reason(SSL *ssl) {
        long v = SSL_get_verify_result(ssl);
        unsigned long e = ERR_peek_error();
        const char *reason = e ? ERR_reason_error_string(e) : NULL;

        if (v != X509_V_OK)
                return xasprintf("client certificate: %s", X509_verify_cert_error_string(v));
        if (e && ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
                return NULL;
        if (e && ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) >= SSL_AD_REASON_OFFSET)
                return xasprintf("the client ended it with %s (does it trust fsxdsd's certificate?)",
                                 reason ? reason : "an alert");
        return xstrdup(reason ? reason : "refused by OpenSSL");
}

int h2_tls_handshake(SSL *ssl, uint32_t *ret_events, char **ret_reason) {
        const unsigned char *alpn = NULL;
        unsigned alpn_len = 0;
        int r;

        *ret_reason = NULL;
        ERR_clear_error();
        r = SSL_accept(ssl);
        if (r <= 0) {
                if (SSL_get_error(ssl, r) == SSL_ERROR_SSL)
                        *ret_reason = handshake_reason(ssl);
                r = want(ssl, r, ret_events);
                return r == -EAGAIN ? 0 : r < 0 ? r : -ECONNRESET;
        }
        if (SSL_get_verify_result(ssl) != X509_V_OK) {
                *ret_reason = handshake_reason(ssl);
                return -EPERM;
        }
        /* a client that offered no ALPN at all gets here: refuse it too */
        SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
        if (alpn_len != 2 || memcmp(alpn, "h2", 2) != 0) {
                *ret_reason = xstrdup("the client offered no ALPN \"h2\" (gRPC needs HTTP/2)");
                return -EPROTO;
        }
        return 1;
}

ssize_t h2_tls_read(SSL *ssl, void *buf, size_t len) {
        uint32_t events;
        int r;

        ERR_clear_error();
        r = SSL_read(ssl, buf, (int) MIN(len, (size_t) INT32_MAX));
        if (r > 0)
                return r;
        return want(ssl, r, &events);
}

ssize_t h2_tls_write(SSL *ssl, const void *buf, size_t len) {
        uint32_t events;
        int r;

        ERR_clear_error();
        r = SSL_write(ssl, buf, (int) MIN(len, (size_t) INT32_MAX));
        if (r > 0)
                return r;
        r = want(ssl, r, &events);
        return r == 0 ? -EPIPE : r;
}

static int push_name(char ***names, size_t *n, const unsigned char *s, int len) {
        char **a;

        if (len < 0 || memchr(s, 0, (size_t) len))
                return 0; /* an embedded NUL is no name */
        a = realloc(*names, (*n + 2) * sizeof(char *));
        if (!a)
                return -ENOMEM;
        *names = a;
        a[*n] = strndup((const char *) s, (size_t) len);
        if (!a[*n])
                return -ENOMEM;
        a[++*n] = NULL;
        return 0;
}

static void names_free(char **names) {
        for (char **p = names; p && *p; p++)
                free(*p);
        free(names);
}

int h2_tls_peer_names(SSL *ssl, char ***ret) {
        X509 *cert = SSL_get0_peer_certificate(ssl);
        char **names = calloc(1, sizeof(char *));
        size_t n = 0;
        int r = 0;

        if (!names)
                return -ENOMEM;
        if (cert) {
                X509_NAME *subject = X509_get_subject_name(cert);
                int i = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
                if (i >= 0) {
                        unsigned char *cn = NULL;
                        int len = ASN1_STRING_to_UTF8(&cn,
                                                      X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
                        if (len >= 0)
                                r = push_name(&names, &n, cn, len);
                        OPENSSL_free(cn);
                }
                GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
                for (int j = 0; r >= 0 && j < sk_GENERAL_NAME_num(sans); j++) {
                        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, j);
                        if (g->type == GEN_DNS || g->type == GEN_URI) {
                                const ASN1_IA5STRING *s = g->type == GEN_DNS ? g->d.dNSName : g->d.uniformResourceIdentifier;
                                r = push_name(&names, &n, ASN1_STRING_get0_data(s), ASN1_STRING_length(s));
                        }
                }
                GENERAL_NAMES_free(sans);
        }
        if (r < 0) {
                names_free(names);
                return r;
        }
        *ret = names;
        return 0;
}

int h2_tls_check(const H2Tls *tls, char **ret_error) {
        SSL_CTX *ctx = NULL;
        int r = h2_tls_context(tls, &ctx, ret_error);
        SSL_CTX_free(ctx);
        return r;
}
