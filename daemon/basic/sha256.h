/* SPDX-License-Identifier: MIT */
/* SHA-256, incremental and in one call, as hex. OpenSSL's SHA256_* block
 * functions, not EVP: an EVP digest loads OpenSSL 3's default provider,
 * which costs the daemon 2 MiB of resident memory for the one algorithm
 * it hashes with (signing still goes through EVP, and only then pays it).
 * The same assembly does the work either way. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

typedef struct Sha256 {
        SHA256_CTX ctx;
} Sha256;

void sha256_init(Sha256 *h);
void sha256_update(Sha256 *h, const void *data, size_t len);
/* The digest as n_hex lowercase hex digits (at most 64) and a NUL. */
void sha256_final_hex(Sha256 *h, char *ret, size_t n_hex);
void sha256_hex(const void *data, size_t len, char ret[65]);
