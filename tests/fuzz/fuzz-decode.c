/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the decoder (`fsxds decode`, and whatever reads
 * back published files): arbitrary bytes as a DiscoveryResponse, decoded
 * to YAML and to JSON with the built-in schema. Input is untrusted wire
 * data: truncation, bad varints, wrong wire types, unknown fields, Any
 * with unresolvable type URLs and deep nesting must all end in -EBADMSG,
 * never a crash. Inputs over 64 KiB are skipped. */
#include <assert.h>

#include "decode.h"
#include "schema.h"

#define FUZZ_MAX_INPUT (64u * 1024u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static Schema *schema = NULL;
        static const SchemaMessage *response = NULL;

        if (size > FUZZ_MAX_INPUT)
                return 0;
        if (!schema) {
                int r = schema_load_builtin(&schema);
                assert(r == 0);
                (void) r;
                response = schema_message(schema, "envoy.service.discovery.v3.DiscoveryResponse");
                assert(response);
        }

        for (DecodeFormat fmt = 0; fmt < _DECODE_FORMAT_MAX; fmt++) {
                Buf out = {};
                char *error = NULL;
                int r = decode_message(schema, response, data, size, fmt, &out, &error);
                /* on failure out is left as it was: empty */
                if (r < 0 && out.len != 0)
                        abort();
                free(error);
                buf_free(&out);
        }
        return 0;
}
