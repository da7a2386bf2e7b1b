/* SPDX-License-Identifier: MIT */
/* SHA-256 through OpenSSL's block functions (see sha256.h for why not EVP). */
#include "sha256.h"

void sha256_init(Sha256 *h) {
        SHA256_Init(&h->ctx);
}

void sha256_update(Sha256 *h, const void *data, size_t len) {
        SHA256_Update(&h->ctx, data, len);
}

void sha256_final_hex(Sha256 *h, char *ret, size_t n_hex) {
        static const char hex[] = "0123456789abcdef";
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256_Final(md, &h->ctx);
        if (n_hex > 2 * SHA256_DIGEST_LENGTH)
                n_hex = 2 * SHA256_DIGEST_LENGTH;
        for (size_t i = 0; i < n_hex; i++)
                ret[i] = hex[i % 2 ? md[i / 2] & 15 : md[i / 2] >> 4];
        ret[n_hex] = 0;
}

void sha256_hex(const void *data, size_t len, char ret[65]) {
        Sha256 h;
        sha256_init(&h);
        sha256_update(&h, data, len);
        sha256_final_hex(&h, ret, 64);
}
