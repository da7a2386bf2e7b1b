/* SPDX-License-Identifier: MIT */
/* Whole-graph validation: what a resource names and binds (its facts,
 * gathered from its YAML before it is encoded, with the user's lines), the
 * checks one resource can make alone (the HTTP router filter last, filter
 * chains that cannot be told apart, weighted clusters that weigh nothing),
 * and the checks over a node's merged resources (every route's cluster,
 * every rds route configuration, every EDS cluster's endpoints, every SDS
 * secret exists; no two listeners on one address; scope keys unique). */
#pragma once

#include "diag.h"
#include "resource.h"
#include "schema.h"
#include "yamltree.h"

/* A ConfigSource that names a management server (ads, api_config_source,
 * self) rather than a file: what it names comes from elsewhere. */
bool config_source_is_remote(const YamlNode *cs);

/* Adds the facts of node (a message of type m; path: its field path, for
 * diagnostics) to facts, and the problems it has on its own to diags. */
void graph_collect(const Schema *s, const SchemaMessage *m, const YamlNode *node, const char *path, const char *file,
                   ResourceFacts *facts, DiagList *diags);
/* Appends src's facts to dst and empties src. */
void resource_facts_move(ResourceFacts *dst, ResourceFacts *src);

/* Whether the node has a resource of type t named name. */
typedef bool (*GraphLookup)(void *userdata, ResourceType t, const char *name);
/* Calls add(ctx, name) for every resource of type t the node has; name
 * must stay valid until graph_check() returns. */
typedef void (*GraphNames)(void *userdata, ResourceType t, void (*add)(void *ctx, const char *name), void *ctx);

/* Checks the node's resources in live: every reference resolves (through
 * lookup, which knows the whole node even when live is part of it; one
 * that does not says "did you mean" when names, if given, lists a name of
 * its type that it is likely a typo of), no two listeners of live bind one
 * address, no two scoped route configurations share a key. whole: live is
 * all of the node, so endpoints nothing uses are reported (warnings). */
void graph_check(const Resource *const *live, size_t n, GraphLookup lookup, GraphNames names, void *userdata,
                 const char *node_id, bool whole, DiagList *diags);
