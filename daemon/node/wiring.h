/* SPDX-License-Identifier: MIT */
/* Config-source wiring: the compile hook that points a resource's config
 * sources at the node's own files (under a marker a node's build replaces
 * with the node's directory), and that replacement. */
#pragma once

#include "diag.h"
#include "layout.h"
#include "schema.h"
#include "util.h"
#include "yamltree.h"

/* The userdata of wiring_rewrite_resource(): the caller sets schema and
 * mode, the hook the rest, per resource. */
typedef struct Wiring {
        const Schema *schema;
        PublishMode mode;
        const char *file;
        DiagList *diags;
        YamlArena *arena;
        bool wired; /* the current resource got a wired config source */
} Wiring;

/* CompileHooks.rewrite: wires the resource's config sources (a standalone
 * VirtualHost loses its "<route_config>/" prefix); returns whether it wired
 * any, which makes the resource's bytes depend on the node. */
bool wiring_rewrite_resource(void *userdata, YamlArena *arena, ResourceType type, YamlNode *resource,
                             const char *file, DiagList *diags);
/* Copies a message replacing the node-directory marker in path strings
 * with dir. */
void wiring_substitute_node_dir(const uint8_t *p, size_t n, const char *dir, Buf *out);
