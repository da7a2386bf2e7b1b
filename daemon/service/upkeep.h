/* SPDX-License-Identifier: MIT */
/* The upkeep of what fsxdsd vouches for: node MANIFESTs (and signatures)
 * and the signed source tree (see upkeep.c). */
#pragma once

#include "state.h"

/* Makes the node's MANIFEST current from its build (its memo), never from
 * the disk: after a publish planned from the memo, the MANIFEST this
 * process wrote there is patched at the paths that changed (their store
 * objects described); otherwise the files plan placed, or the memo's, are
 * described from their store objects, checked against their digests,
 * with the generations plan switched "..data" to. After a publish (published) it is written; else
 * (the plan found the directory equal to the build) the one there is kept
 * when it lists exactly that and is current. A store object found not to
 * be its digest is dropped and the node marked to be published again,
 * unsigned meanwhile. Returns whether the MANIFEST is current. */
bool upkeep_manifest_from_build(State *st, NodeState *ns, const NodePlan *plan, bool published);
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
/* The same pass in slices, so that the loop is never held for long: the
 * nodes from where the last slice stopped on, at least one and at most
 * VERIFY_SLICE_NODES, for at most budget_usec.
 * Returns true when the pass is complete, with *ret_n_altered as above;
 * false when it goes on at the next call. */
#define VERIFY_SLICE_NODES 64
bool upkeep_check_outputs_slice(State *st, uint64_t budget_usec, size_t *ret_n_altered);
/* Forgets a pass in progress (the next slice starts a new one). */
void upkeep_verify_pass_done(State *st);
/* Refreshes the source cache (with require_signed_sources only from a tree
 * whose signature verifies); false when the tree is refused and nothing is
 * to be built. *ret_changed: files added, removed or changed. */
bool upkeep_refresh_sources(State *st, int *ret_changed);
/* The files (and links) of a MANIFEST for what plan placed (a whole plan)
 * or, for a delta plan or none, for the build memo describes, each
 * described from the output store's object (checked against its digest;
 * descriptions are cached by digest); nothing is read from the node
 * directory. *ret_why says why it failed. */
int upkeep_built_manifest(State *st, const NodeMemo *memo, const NodePlan *plan, Manifest *ret, char **ret_why);
/* The files of the node's touched paths (those still in its memo),
 * described as upkeep_built_manifest() does: what a MANIFEST is patched
 * with (manifest_patch()). */
int upkeep_touched_manifest(State *st, const NodeState *ns, Manifest *ret, char **ret_why);
/* Loads signing's pair; the one in use before stays as previous_signer
 * until every MANIFEST is signed with the new one. A refused pair fails. */
int upkeep_load_signer(State *st);
/* Why the tree cannot be listed (source_cache_refresh() failed with
 * error), naming the directory that fails: SOURCES_UNREADABLE " DIR: ...". */
char *unreadable_reason(const char *source_dir, int error);
