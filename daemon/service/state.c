/* SPDX-License-Identifier: MIT */
/* fsxdsd's state between events: the per-node entries and the clock. */
#include <assert.h>

#include "state.h"

void node_state_clear_error(NodeState *n) {
        free(n->error.file);
        free(n->error.path);
        free(n->error.message);
        free(n->error.rule);
        n->error = (Diag) {};
        n->n_errors = 0;
}

NodeState *node_state(State *st, const char *id) {
        NodeState *n = hashmap_get(&st->node_index, id, strlen(id));
        if (n)
                return n;
        st->nodes = xrealloc(st->nodes, (st->n_nodes + 1) * sizeof(NodeState *));
        n = xcalloc(1, sizeof(NodeState));
        n->id = xstrdup(id);
        st->nodes[st->n_nodes++] = n;
        hashmap_put(&st->node_index, n->id, strlen(n->id), n);
        return n;
}

void node_state_drop(State *st, NodeState *ns) {
        assert(!st->rebuild);
        size_t i = 0;
        while (i < st->n_nodes && st->nodes[i] != ns)
                i++;
        assert(i < st->n_nodes);
        hashmap_remove(&st->node_index, ns->id, strlen(ns->id));
        memmove(st->nodes + i, st->nodes + i + 1, (st->n_nodes - i - 1) * sizeof(NodeState *));
        st->n_nodes--;
        /* a verification pass in progress goes on with the node after it */
        if (st->verify.running && st->verify.next > i)
                st->verify.next--;
        node_state_free(st, ns);
}

void node_state_free(State *st, NodeState *ns) {
        node_forget_memo(st, ns);
        node_state_clear_error(ns);
        node_history_free(st, ns);
        free(ns->state_error);
        free(ns->id);
        free(ns);
}

void node_forget_memo(State *st, NodeState *ns) {
        node_memo_done(&st->memo_files, &ns->memo);
        st->memo_bytes -= ns->memo_bytes;
        ns->memo_bytes = 0;
        ns->live_known = ns->state_known = false;
        ns->manifest_patchable = ns->state_manifest_patchable = false;
        node_clear_touched(ns);
}

void node_clear_touched(NodeState *ns) {
        for (size_t i = 0; i < ns->n_touched; i++)
                free(ns->touched[i]);
        free(ns->touched);
        ns->touched = NULL;
        ns->n_touched = 0;
        ns->planned_delta = false;
}
