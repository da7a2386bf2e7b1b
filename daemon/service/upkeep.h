/* SPDX-License-Identifier: MIT */
/* The upkeep of what fsxdsd vouches for: node MANIFESTs (and signatures)
 * and the signed source tree (see upkeep.c). */
#pragma once

#include "state.h"

/* Makes the node's MANIFEST current from its build, never from the disk:
 * the files plan placed (their store objects, i.e. the build's digests)
 * described from out's bytes (the build, when at hand; else the store
 * objects, checked against their digests), and the generations plan
 * switched "..data" to. After a publish (published) it is written; else
 * (the plan found the directory equal to the build) the one there is kept
 * when it lists exactly that and is current. A store object found not to
 * be its digest is dropped and the node marked to be published again,
 * unsigned meanwhile. Returns whether the MANIFEST is current. */
bool upkeep_manifest_from_build(State *st, NodeState *ns, const NodeOutput *out, const NodePlan *plan, bool published);
/* One syncfs for the MANIFESTs written since the last one. */
void upkeep_sync_manifests(State *st);
/* At start and reload: every node directory against its MANIFEST, each
 * difference logged. */
void upkeep_verify_outputs(State *st);
/* Every MANIFEST not known to be current made so. */
void upkeep_ensure_manifests(State *st);
/* verify_interval: the directories of nodes with a current MANIFEST
 * compared with it; a node that differs is marked to be built and planned
 * from the disk. Returns how many differ (the caller starts a rebuild). */
size_t upkeep_check_outputs(State *st);
/* Refreshes the source cache (with require_signed_sources only from a tree
 * whose signature verifies); false when the tree is refused and nothing is
 * to be built. *ret_changed: files added, removed or changed. */
bool upkeep_refresh_sources(State *st, int *ret_changed);
/* The files (and links) of a MANIFEST for what plan placed, described
 * from the build's bytes (out, when at hand) or from the output store's
 * objects, checked against their digests; nothing is read from the node
 * directory. *ret_why says why it failed. */
int upkeep_built_manifest(State *st, const NodeOutput *out, const NodePlan *plan, Manifest *ret, char **ret_why);
/* Loads signing's pair; the one in use before stays as previous_signer
 * until every MANIFEST is signed with the new one. A refused pair fails. */
int upkeep_load_signer(State *st);
