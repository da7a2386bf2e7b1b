/* SPDX-License-Identifier: MIT */
/* Detached CMS (PKCS#7) signatures in DER with OpenSSL 3: the signing pair
 * (an X.509 certificate, its private key and an optional chain) loaded and
 * checked once, signatures made from it, and signatures checked against a
 * CA file the way `openssl cms -verify -binary -purpose any` checks them.
 * Private key bytes are cleansed as soon as OpenSSL has parsed them, and
 * nothing about the key is ever put into an error message. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct Signer Signer;

/* Loads key, cert and chain (PEM; chain may be NULL). Refused, with a
 * message for the operator in *ret_error: a key file with any permission
 * bit for group or others, an encrypted key, a certificate that does not
 * belong to the key, one that is expired or not yet valid, or one whose
 * keyUsage lacks digitalSignature. Returns 0, -EBADMSG for a refused pair,
 * or -errno when a file cannot be read. */
int signer_load(const char *key, const char *cert, const char *chain, char **ret_error, Signer **ret);
Signer *signer_free(Signer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Signer *, signer_free);

/* A detached signature over data (signed attributes, the certificate and
 * the chain included), DER encoded. Returns 0 or -EIO. */
int signer_sign(const Signer *s, const void *data, size_t len, uint8_t **ret, size_t *ret_len);
/* The certificate's subject (RFC 2253) and its notAfter as a Unix time. */
const char *signer_subject(const Signer *s);
int64_t signer_not_after(const Signer *s);
/* Whether both signers hold the same certificate and chain. */
bool signer_same(const Signer *a, const Signer *b);

/* Checks a detached DER signature over data: the signer's chain up to a
 * CA of ca_file (PEM; NULL: OpenSSL's default trusted certificates), any
 * extended key usage, validity at the present time, and the content
 * digest. With own set, the signature must instead have been made by
 * own's certificate and carry exactly own's certificate and chain (not
 * checked up to a CA: the daemon recognising its own manifests). Returns 0 and the signer's subject in *ret_signer (when
 * not NULL), -EBADMSG with the reason in *ret_error, or -errno when
 * ca_file cannot be read. */
int signature_verify(const void *data, size_t len, const void *sig, size_t sig_len, const char *ca_file,
                     const Signer *own, char **ret_signer, char **ret_error);

/* "WHAT: reason: reason (data)": OpenSSL's queued errors, most specific
 * last, as one line; the queue is left empty. */
char *openssl_errors(const char *what);
