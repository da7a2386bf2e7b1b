/* SPDX-License-Identifier: MIT */
/* What fsxdsd does with a node's generation history (publish/history.h):
 * recording an entry as each generation's last good copy is saved and
 * pruning to `history:`; fsxds rollback (a request in state_dir/rollback/:
 * the generation's files go through the normal publish as a new
 * generation, then the node is pinned); the pin (state_dir/pin/ID: the
 * node is built and checked, its changes not published, until fsxds
 * unpin deletes it). It acts on State between rebuilds and through three
 * hooks of the rebuild (rebuild.c); it knows nothing of the loop. */
#pragma once

#include "state.h"

typedef struct NodeHistory NodeHistory;

/* rebuild_node()'s build: build_node_update() with the memo unless the
 * node is pinned or rolled back (*from_memo is cleared then: built whole,
 * planned from the disk); a rollback taken replaces the build with the
 * generation's files (returns 0: a whole build). Loads the node's history
 * the first time, before its copy changes. */
int rollback_build(State *st, NodeState *ns, const BuildOptions *opts, bool *from_memo, DiagList *d, NodeOutput *out,
                   char ***touched, size_t *n_touched);
/* After a good build: whether a pinned node keeps what it has (its
 * changes are not published; whether there are any is its "held"). A
 * pinned node whose output is gone (a reboot) gets its last good copy in
 * out instead, which is published (false). */
bool rollback_hold(State *st, NodeState *ns, NodeOutput *out);
/* Whether the node's build in this rebuild is a rollback's files (not the
 * tree's, whose errors rollback_requests() reports again once it is
 * published). */
bool rollback_in_flight(const NodeState *ns);
/* The node's last good copy is saved as generation gen (restored: a copy
 * read back, with its files; NULL: its memo is what was saved): records
 * the history entry and prunes. Returns whether it wrote (the caller's
 * syncfs makes it durable). */
bool rollback_record(State *st, NodeState *ns, uint64_t gen, const Manifest *restored);

/* Between rebuilds (requests_forget()): finishes the rollbacks the last
 * rebuild published or refused (pin written, status, request removed),
 * reads pin/ (a pin gone: unpinned, the node rebuilt from the tree), and
 * takes the new requests of rollback/ (the node is then built by the next
 * rebuild). Returns whether a rebuild is needed. */
bool rollback_requests(State *st, void (*write_status)(State *st));

/* The node's pin for status.json. */
void rollback_status(const NodeState *ns, StatusNode *sn);
/* For STATUS=: "; ID pinned at generation N (rollback of G)[, tree
 * changes held]" for the first pinned node (and how many more), or NULL. */
char *rollback_status_line(const State *st);
