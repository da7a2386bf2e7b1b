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

typedef struct Wiring {
        const Schema *schema;
        PublishMode mode;
        const char *file;
        DiagList *diags;
        YamlArena *arena;
        bool wired; /* the current resource got a wired config source */
} Wiring;

bool rewrite_resource(void *userdata, YamlArena *arena, ResourceType type, YamlNode *resource,
                      const char *file, DiagList *diags);
/* Copies a message replacing the node-directory marker in path strings. */
void substitute_marker(const uint8_t *p, size_t n, const char *dir, Buf *out);
