/* SPDX-License-Identifier: MIT */
/* The node build: a source tree in, one node's output directory out (as a
 * list of relative paths and bytes). Pure: it reads the source files and
 * touches nothing else, so the CLI and the daemon share it. */
#pragma once

#include "diag.h"
#include "resource.h"
#include "schema.h"

typedef enum PublishMode {
        PUBLISH_MODE_RENAME,
        PUBLISH_MODE_WATCHED_DIRECTORY,
        _PUBLISH_MODE_MAX,
        _PUBLISH_MODE_INVALID = -EINVAL,
} PublishMode;

const char *publish_mode_to_string(PublishMode m);
PublishMode publish_mode_from_string(const char *s);

typedef struct BuildOptions {
        const char *output_dir; /* absolute: the node's directory as Envoy sees it */
        PublishMode mode;
} BuildOptions;

typedef struct NodeFile {
        char *path; /* relative, e.g. "eds/webcluster.pb" */
        uint8_t *data;
        size_t len;
        ResourceType type;
        size_t n_resources;
        char version[17];
} NodeFile;

typedef struct NodeOutput {
        NodeFile *files; /* sorted by path */
        size_t n;
} NodeOutput;

void node_output_done(NodeOutput *o);

/* Node ids: [A-Za-z0-9._-]{1,128}, not starting with '.'. */
bool node_id_is_valid(const char *id);
/* A resource name as a file name: bytes outside [A-Za-z0-9._-] and a
 * leading '.' percent-encoded. NULL when the result would be too long. */
char *build_file_name(const char *resource_name);
/* The source files of a node (common/ then nodes/<id>/, each sorted), or
 * of a directory, as a NULL-terminated list. */
int build_list_sources(const char *dir, char ***ret);
bool build_is_source_name(const char *name);

/* Returns 0 and fills ret, -EBADMSG when diags holds errors, -errno on I/O. */
int build_node(const Schema *schema, const char *source_dir, const char *node_id, const BuildOptions *opts,
               DiagList *diags, NodeOutput *ret);
