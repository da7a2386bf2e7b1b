/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the MANIFEST reader (`fsxds verify` parses a
 * MANIFEST before anything vouches for it): arbitrary bytes must end in
 * 0 or -EBADMSG with a message, never a crash, and whatever is accepted
 * must be exactly its own canonical spelling. Inputs over 64 KiB are
 * skipped. */
#include <assert.h>

#include "manifest.h"

#define FUZZ_MAX_INPUT (64u * 1024u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > FUZZ_MAX_INPUT)
                return 0;
        Manifest m = {};
        char *error = NULL;
        int r = manifest_parse((const char *) data, size, &m, &error);
        if (r < 0) {
                assert(r == -EBADMSG && error);
                free(error);
                return 0;
        }
        Buf b = {};
        manifest_format(&m, &b);
        assert(b.len == size && memcmp(b.data, data, size) == 0);
        buf_free(&b);
        manifest_done(&m);
        return 0;
}
