/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the whole YAML → protobuf path a source file takes:
 * compile_data() against the built-in schema (YAML tree, simplified-format
 * expansion, encoder), then the DiscoveryResponse and version fingerprint
 * the node build makes of the resources, then every diagnostic formatted
 * the way the CLI prints it. Inputs over 64 KiB are skipped: the limits
 * worth fuzzing (depth, aliases) are reachable well below that. */
#include <assert.h>

#include "compile.h"
#include "diag.h"
#include "resource.h"
#include "schema.h"

#define FUZZ_MAX_INPUT (64u * 1024u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static Schema *schema = NULL;

        if (size > FUZZ_MAX_INPUT)
                return 0;
        if (!schema) {
                int r = schema_load_builtin(&schema);
                assert(r == 0);
                (void) r;
        }

        DiagList diags = {};
        CompileResult result = {};
        (void) compile_data(schema, "fuzz.yaml", (const char *) data, size, NULL, &diags, &result);

        if (result.resources.n > 0) {
                Resource **items = calloc(result.resources.n, sizeof(Resource *));
                assert(items);
                for (size_t i = 0; i < result.resources.n; i++)
                        items[i] = &result.resources.items[i];
                char version[17];
                resources_version(items, result.resources.n, version);
                Buf out = {};
                resources_response(items, result.resources.n, version,
                                   resource_type_to_url(result.resources.items[0].type), &out);
                buf_free(&out);
                free(items);
        }
        for (size_t i = 0; i < diags.n; i++)
                free(diag_format(&diags.items[i]));

        compile_result_done(&result);
        diag_list_clear(&diags);
        return 0;
}
