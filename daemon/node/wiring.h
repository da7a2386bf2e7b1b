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
/* A resource (message bytes) of a node's file build with every config
 * source wired to the node's files (a path_config_source whose path lies
 * in node_dir) pointed at ADS instead: {ads: {}, resource_api_version: V3},
 * its other fields kept. Returns whether any was. What the xDS server
 * serves a node: the same build, its config sources wired to ADS. */
bool wiring_to_ads(const uint8_t *p, size_t n, const char *node_dir, Buf *out);
