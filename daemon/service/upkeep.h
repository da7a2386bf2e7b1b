/* SPDX-License-Identifier: MIT */
/* The upkeep of what fsxdsd vouches for: node MANIFESTs (and signatures)
 * and the signed source tree (see upkeep.c). */
#pragma once

#include "manager.h"

bool ensure_manifest(Manager *m, NodeState *ns, bool published);
void sync_manifests(Manager *m);
void verify_outputs(Manager *m);
void ensure_manifests(Manager *m);
void check_outputs(Manager *m);
bool refresh_sources(Manager *m, int *ret_changed);
/* Loads signing's pair; the one in use before stays as previous_signer
 * until every MANIFEST is signed with the new one. A refused pair fails. */
int load_signer(Manager *m);
