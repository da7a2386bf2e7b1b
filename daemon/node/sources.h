/* SPDX-License-Identifier: MIT */
/* The source cache's insides (sources.c), which a node's build (merge.c)
 * reads: the cached files, the key index and the scopes' changes. Not for
 * the floors above: their interface is build.h. */
#pragma once

#include <sys/stat.h>

#include "build.h"
#include "hashmap.h"

/* A growing NULL-terminated list of strings it owns. */
typedef struct StrList {
        char **items;
        size_t n, cap;
} StrList;

static inline void strlist_add(StrList *l, char *s) {
        if (l->n + 1 >= l->cap) {
                l->cap = l->cap ? l->cap * 2 : 16;
                l->items = xrealloc(l->items, l->cap * sizeof(char *));
        }
        l->items[l->n++] = s;
        l->items[l->n] = NULL;
}

static inline void strlist_free(StrList *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->items[i]);
        free(l->items);
        *l = (StrList) {};
}

static inline int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

typedef struct CachedFile {
        char *path;     /* source_dir/rel */
        const char *rel; /* points into path */
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime, ctime;
        char sha256[65];
        ResourceList resources;
        DiagList diags;
        uint32_t index; /* position in the sorted file list, for source order */
        bool seen;
        bool changed; /* by the last refresh */
        bool bad;     /* an entry that cannot be source: diags says why */
} CachedFile;

/* Every resource of the tree with a given type and name, wherever it is:
 * the candidates among which a node's build picks one. */
typedef struct Candidate {
        CachedFile *file;
        uint32_t index; /* in file->resources */
} Candidate;

typedef struct KeyEntry {
        char *key; /* source_cache_key() */
        size_t key_len;
        Candidate *items;
        size_t n, cap;
} KeyEntry;

/* Keys whose candidates changed in the last refresh, for one scope
 * (common/ or one nodes/<id>/). */
typedef struct ScopeChanges {
        char *scope; /* NULL: common/ */
        char **keys;
        size_t n;
        Hashmap seen;
} ScopeChanges;

/* Refreshes in which a scope last changed and changed before that. */
typedef struct ScopeSeq {
        uint64_t last, prev;
} ScopeSeq;

struct SourceCache {
        const Schema *schema;
        PublishMode mode;
        Hashmap by_rel;
        CachedFile **files; /* sorted by rel after a refresh */
        size_t n_files;
        Hashmap keys;            /* source_cache_key() -> KeyEntry */
        Hashmap refs;            /* source_cache_key() -> KeyEntry of the resources naming it */
        size_t n_virtual_hosts;  /* standalone VirtualHosts in the tree */
        uint64_t seq;            /* refreshes so far */
        ScopeChanges common;     /* changes of the last refresh in common/ */
        Hashmap node_changes;    /* id -> ScopeChanges, the last refresh's in nodes/<id>/ */
        ScopeSeq common_seq;
        Hashmap node_seqs;       /* id -> ScopeSeq (key owned by node_seq_keys) */
        char **node_seq_keys;
        size_t n_node_seq_keys;
        char **nodes;       /* NULL-terminated, from nodes/<id>/ */
        char **bad_nodes;   /* NULL-terminated: directories in nodes/ whose name is no node id */
};

/* "<type digit><name>": one key space for all types. */
char *source_cache_key(ResourceType t, const char *name, size_t *ret_len);
bool cached_file_in_node(const CachedFile *f, const char *node_id, bool *ret_from_node);
/* Whether the build recorded at seq still holds for node_id but for the
 * keys changed by the last refresh: neither its scope nor common/ changed
 * in a refresh between. */
bool source_cache_build_current(const SourceCache *c, const char *node_id, uint64_t seq);
