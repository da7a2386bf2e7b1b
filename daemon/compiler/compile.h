/* SPDX-License-Identifier: MIT */
/* One source file → compiled resources. A file holds YAML documents, each
 * a DiscoveryResponse, a single resource with "@type", or the simplified
 * format (name/spec), which is expanded here. */
#pragma once

#include "diag.h"
#include "resource.h"
#include "schema.h"
#include "yamltree.h"

typedef struct CompileHooks {
        /* Called with every resource tree (a mapping with "@type") before it
         * is encoded; may rewrite it in place (config-source wiring). */
        bool (*rewrite)(void *userdata, YamlArena *arena, ResourceType type, YamlNode *resource,
                        const char *file, DiagList *diags);
        void *userdata;
} CompileHooks;

typedef struct CompileResult {
        ResourceList resources;
        char *version_info; /* the first document's own version_info, if any */
        char *type_url;     /* the first document's own type_url, if any */
        unsigned type_url_line, type_url_column;
        char sha256[65]; /* of the file's bytes (compile_file only) */
} CompileResult;

void compile_result_done(CompileResult *r);

/* Compiles data (the contents of file). Resources are appended to ret in
 * source order. Returns 0, or -EBADMSG when errors were added to diags. */
int compile_data(const Schema *schema, const char *file, const char *data, size_t len,
                 const CompileHooks *hooks, DiagList *diags, CompileResult *ret);
int compile_file(const Schema *schema, const char *path, const CompileHooks *hooks, DiagList *diags,
                 CompileResult *ret);
