/* SPDX-License-Identifier: MIT */
/* The node build: a source tree in, one node's output directory out (as a
 * list of relative paths and bytes). Pure: it reads the source files and
 * touches nothing else, so the CLI and the daemon share it. The floor's
 * interface, made by sources.c (listing source files, the source cache),
 * wiring.c (config sources pointed at the node's files) and merge.c (a
 * node's build: merge, VirtualHosts, split). */
#pragma once

#include "diag.h"
#include "layout.h"
#include "resource.h"
#include "schema.h"

typedef struct BuildOptions {
        const char *output_dir; /* absolute: the node's directory as Envoy sees it */
        bool skip_notes; /* leave the files' notes (what got wired where) out of diags */
        /* merge (and so find duplicates among the resources that compiled)
         * even when the node's files have errors; the output is discarded
         * and the graph is not checked (fsxds check) */
        bool merge_despite_errors;
        /* fsxds check: the graph is not checked (a tree whose nodes/ cannot
         * be listed: common/ alone is no node) */
        bool skip_graph;
        /* fsxds check: when set, gets whether the graph was checked (it is
         * not when the node's files, common/'s among them, have errors) */
        bool *graph_checked;
} BuildOptions;

typedef struct NodeFile {
        char *path; /* relative, e.g. "eds/webcluster.pb" */
        uint8_t *data;
        size_t len;
        ResourceType type;
        size_t n_resources;
        char version[17];
        char sha256[65];  /* of data when known, else "" */
        bool borrowed;    /* data belongs to the source cache */
        bool reused;      /* taken over unchanged from the previous build (build_node_update) */
} NodeFile;

typedef struct NodeOutput {
        NodeFile *files; /* sorted by path */
        size_t n;
} NodeOutput;

void node_output_done(NodeOutput *o);
/* Copies the data a NodeOutput borrows from its source cache. */
void node_output_own(NodeOutput *o);

/* The source files of a directory (sorted, recursively), as a
 * NULL-terminated list, under the symlink policy of sources.c: links are
 * followed inside dir only. Fails with the -errno of the first entry that
 * cannot be source (a link loop: -ELOOP; a link out: -EXDEV; a dangling
 * link: -ENOENT; a FIFO, socket or device: -EBADFD). */
int build_list_sources(const char *dir, char ***ret);
/* The same, but every such entry is an error in problems (at its path,
 * escaped when not UTF-8) and the others are listed; -errno only when dir
 * itself cannot be resolved. */
int build_list_sources_checked(const char *dir, DiagList *problems, char ***ret);
bool build_is_source_name(const char *name);

/* Compiled source files, shared by every node's build: a file is compiled
 * once (not once per node) and only again when it changed. */
typedef struct SourceCache SourceCache;

/* mode: how the node directories are switched, which the config sources
 * wired into the compiled files name (a watched_directory or not). */
int source_cache_new(const Schema *schema, PublishMode mode, SourceCache **ret);
SourceCache *source_cache_free(SourceCache *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(SourceCache *, source_cache_free);
/* Brings the cache up to date with source_dir: common/ and nodes/<id>/ for
 * every id, or only only_node's (only_node "": common/ alone, nodes/ not
 * even listed, for fsxds check of a tree whose nodes/ cannot be). A file whose device, inode, size, mtime
 * and ctime are unchanged is not read again. An entry that cannot be
 * source (build_list_sources_checked()) is an error of the node whose
 * scope holds it (of every node, in common/); the rest is read. Returns
 * how many files were added, removed or changed in content, or -errno when
 * source_dir or its nodes/ cannot be listed (never taken for empty). */
int source_cache_refresh(SourceCache *c, const char *source_dir, const char *only_node);
/* Whether the last refresh changed anything node_id's build reads: a file
 * of common/ or of nodes/<node_id>/ added, removed or changed. */
bool source_cache_node_changed(const SourceCache *c, const char *node_id);
/* Calls f for every file of the last refresh, in path order: its path
 * relative to source_dir and the sha256 of the bytes compiled ("" when it
 * could not be read). */
void source_cache_foreach_file(const SourceCache *c, void (*f)(void *userdata, const char *rel, const char *sha256),
                               void *userdata);
/* The same for the files a node's build reads, common/'s then
 * nodes/<id>/'s (both found by a binary search: a node costs its own
 * files and common/'s, not the whole tree's). */
void source_cache_foreach_node_file(const SourceCache *c, const char *node_id,
                                    void (*f)(void *userdata, const char *rel, const char *sha256), void *userdata);
/* The ids of the nodes/<id>/ directories seen by the last refresh, sorted. */
const char *const *source_cache_nodes(const SourceCache *c);
/* The directories in nodes/ that the last refresh left out because their
 * name is not a node id (node_id_is_valid(): ".hidden", "a b"), sorted;
 * an error for whoever reports the tree. Names as diag_shown() shows them
 * (control bytes and bytes that are not UTF-8 escaped): one line each. */
const char *const *source_cache_bad_node_dirs(const SourceCache *c);
/* One node's directory from the cache; the diagnostics of its files are
 * copied into diags. Returns 0, or -EBADMSG when there are errors. */
int build_node_from_cache(const SourceCache *c, const char *node_id, const BuildOptions *opts, DiagList *diags,
                          NodeOutput *ret);

/* source_cache_refresh() and build_node_from_cache() for one node, with a
 * cache of its own that wires config sources for mode.
 * Returns 0 and fills ret, -EBADMSG when diags holds errors, -errno on I/O. */
int build_node(const Schema *schema, PublishMode mode, const char *source_dir, const char *node_id,
               const BuildOptions *opts, DiagList *diags, NodeOutput *ret);

/* Counts refreshes: a node's build made after refresh N is current until
 * its inputs change again. */
uint64_t source_cache_seq(const SourceCache *c);
/* A node's last good build, as memo.h holds it. */
typedef struct NodeMemo NodeMemo;
/* The node's build from its previous one, prev (made when the cache's seq
 * was prev_seq): only the files that hold a resource changed by the last
 * refresh are made again. Returns 1 with ret holding only those files and
 * *ret_touched the sorted paths of the files that held a changed key (made
 * again, or gone when ret has no such path), the rest being prev's as it
 * is; or 0 with ret the whole build (build_node_from_cache()), which it
 * falls back to when prev is empty or not current (the node's inputs
 * changed in a refresh it did not see), or when the tree has standalone
 * VirtualHosts. Both give the same files. Diagnostics are those of the
 * node's files, of the changed keys and of the resources that name a key
 * removed (the cache indexes who names what): the previous build had no
 * errors, so nothing else can have any. -EBADMSG on errors. */
int build_node_update(const SourceCache *c, const char *node_id, const BuildOptions *opts, const NodeMemo *prev,
                      uint64_t prev_seq, DiagList *diags, NodeOutput *ret, char ***ret_touched, size_t *ret_n_touched);

/* A listener of a node and the address it binds; the strings belong to
 * the cache (valid until its next refresh). */
typedef struct ListenerAddress {
        const char *address; /* "tcp 0.0.0.0:80" */
        const char *listener;
        const char *file;
        unsigned line, column;
} ListenerAddress;

/* The addresses the node's listeners bind (socket addresses only), for
 * the host-wide check that no two nodes bind one. Returns how many. */
size_t source_cache_listener_addresses(const SourceCache *c, const char *node_id, ListenerAddress **ret);
