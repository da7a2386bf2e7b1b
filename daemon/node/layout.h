/* SPDX-License-Identifier: MIT */
/* The node directory, written down once: which directory and file each
 * resource type goes to, how a resource name becomes a file name, what a
 * node id may be, and the two ways a node directory switches (publish
 * modes). The build, the publisher, the MANIFEST, the manager and the CLI
 * all ask here. */
#pragma once

#include "resource.h"

/* How a node directory's files are switched. rename: each file is renamed
 * into place (Envoy's path_config_source.path). watched_directory: each
 * type directory holds symlinks through a "..data" symlink that is swapped
 * by rename (Envoy's watched_directory, the Kubernetes layout). */
typedef enum PublishMode {
        PUBLISH_MODE_RENAME,
        PUBLISH_MODE_WATCHED_DIRECTORY,
        _PUBLISH_MODE_MAX,
        _PUBLISH_MODE_INVALID = -EINVAL,
} PublishMode;

const char *publish_mode_to_string(PublishMode m);
PublishMode publish_mode_from_string(const char *s);

/* A type's directory in a node directory ("cds", "eds", ...); NULL for a
 * type that has no file of its own (VirtualHost). */
const char *resource_type_dir(ResourceType t);
/* The type whose directory is dir; _RESOURCE_TYPE_INVALID for none. */
ResourceType resource_type_from_dir(const char *dir);
/* Whether the type's resources share one state-of-the-world file,
 * "<dir>/<dir>.pb" (LDS, CDS, SRDS), or each have their own (RDS, EDS,
 * SDS, RTDS: "<dir>/<name>.pb"). */
bool resource_type_is_sotw(ResourceType t);

/* A resource name as a file name: bytes outside [A-Za-z0-9._-] and a
 * leading '.' percent-encoded, ".pb" appended. NULL when the result would
 * be longer than a file name may be (255). */
char *layout_file_name(const char *resource_name);
/* The path, relative to the node directory, of the file that holds
 * resource (t, name): "lds/lds.pb", "eds/web%2F1.pb". NULL for a name too
 * long, or a type without files. */
char *layout_file_path(ResourceType t, const char *resource_name);

/* The state-of-the-world files an Envoy's bootstrap names; they are never
 * removed. */
#define LAYOUT_LDS_FILE "lds/lds.pb"
#define LAYOUT_CDS_FILE "cds/cds.pb"

/* Node ids: [A-Za-z0-9._-]{1,128}, not starting with '.'. */
bool node_id_is_valid(const char *id);
