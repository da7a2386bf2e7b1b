/* SPDX-License-Identifier: MIT */
/* The simplified management-server format (name/spec with listeners and
 * clusters) expanded into ordinary resource trees. */
#pragma once

#include "diag.h"
#include "yamltree.h"

typedef struct Expanded {
        YamlNode *tree; /* a resource mapping with "@type" */
        char *path;     /* where it came from, e.g. spec.clusters[0] */
} Expanded;

typedef struct ExpandedList {
        Expanded *items;
        size_t n, cap;
} ExpandedList;

void expanded_list_free(ExpandedList *l);
/* Returns the number of errors added to diags. Trees live in arena. */
size_t expand_simplified(YamlArena *arena, const YamlNode *root, const char *file, DiagList *diags, ExpandedList *ret);
