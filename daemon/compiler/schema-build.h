/* SPDX-License-Identifier: MIT */
/* Builds a schema (a FileDescriptorSet) from Envoy's API protos with
 * protoc: every .proto under envoy/{config,extensions,service,type} of the
 * include directories whose imports all resolve, with their imports, and a
 * provenance record (where it came from, which Envoy release) appended as
 * field 15 of the set. The build embeds the result as the built-in schema;
 * `fsxds schema build` makes one from a data-plane-api checkout. */
#pragma once

#include <stddef.h>

#define SCHEMA_PROVENANCE_FIELD 15

typedef struct SchemaBuildOptions {
        char **include_dirs;      /* NULL-terminated; searched in order for imports */
        const char *wkt_dir;      /* holds google/protobuf/descriptor.proto */
        const char *protoc;       /* the protoc to run */
        const char *output;       /* written atomically */
        const char *source;       /* provenance: where the protos came from */
        const char *envoy_release; /* provenance: the Envoy release they are, or NULL */
        const char *api_commit;   /* provenance: the data-plane-api commit, or NULL */
} SchemaBuildOptions;

typedef struct SchemaBuildResult {
        size_t n_compiled;
        char **excluded; /* "file (needs import, not found)" */
        size_t n_excluded;
} SchemaBuildResult;

void schema_build_result_done(SchemaBuildResult *r);

/* Returns 0, or -errno with *ret_error saying what went wrong (protoc's
 * own messages included). */
int schema_build(const SchemaBuildOptions *o, char **ret_error, SchemaBuildResult *ret);
