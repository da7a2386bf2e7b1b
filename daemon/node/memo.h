/* SPDX-License-Identifier: MIT */
/* A node's last good build held between generations, small enough that
 * every node keeps one: each file is a description (path, sha256, size,
 * resource count, type, version), never its bytes, interned in a table
 * that all nodes share, so a file the same for a thousand nodes is held
 * once and a node costs a pointer per file. The next build starts from it
 * (build_node_update()) and the next plan and MANIFEST are made from what
 * changed against it. */
#pragma once

#include "build.h"
#include "hashmap.h"

typedef struct MemoFile {
        char *path;
        char sha256[65];
        char version[17];
        size_t len, n_resources, refs;
        ResourceType type;
        char *key; /* path '\0' sha256: the table's key */
} MemoFile;

typedef struct MemoTable {
        Hashmap files; /* key → MemoFile */
} MemoTable;

typedef struct NodeMemo {
        MemoFile **files; /* sorted by path */
        size_t n;
} NodeMemo;

void memo_table_done(MemoTable *t);
/* Drops m's references (a file no memo holds any more is freed). */
void node_memo_done(MemoTable *t, NodeMemo *m);
/* The memo of a whole build (o's files, sorted by path, all hashed). */
void node_memo_set(MemoTable *t, NodeMemo *m, const NodeOutput *o);
/* m with the files at the sorted paths touched replaced by changed's
 * (sorted; a touched path changed has no file for is gone). */
void node_memo_update(MemoTable *t, NodeMemo *m, char *const *touched, size_t n_touched, const NodeOutput *changed);
/* dst holds src's files too (another reference to each). */
void node_memo_copy(MemoTable *t, NodeMemo *dst, const NodeMemo *src);
/* dst becomes a copy of src, both sorted by path, touching only the
 * descriptions that differ: those in both keep their reference (a node's
 * history follows its memo from one generation to the next at the cost
 * of what changed, not of every file). */
void node_memo_follow(MemoTable *t, NodeMemo *dst, const NodeMemo *src);
const MemoFile *node_memo_find(const NodeMemo *m, const char *path);
/* The memo's files at the sorted paths touched, as data-less NodeFiles
 * (what build_node_update()'s caller plans against). */
void node_memo_select(const NodeMemo *m, char *const *touched, size_t n_touched, NodeOutput *ret);
/* Splits a whole build o against m: ret_changed gets o's files that m does
 * not hold as they are (views: they stay o's, free only the array), and
 * ret_touched the sorted paths of those and of m's files o has no more. */
void node_memo_diff(const NodeMemo *m, const NodeOutput *o, NodeOutput *ret_changed, char ***ret_touched,
                    size_t *ret_n_touched);
/* Bytes the memo itself costs (its pointers; the shared files apart). */
static inline size_t node_memo_bytes(const NodeMemo *m) {
        return sizeof(NodeMemo) + m->n * sizeof(MemoFile *);
}
