/* SPDX-License-Identifier: MIT */
/* The source watch's table of the directories under its root (watch.c),
 * keyed by what the kernel names a directory by in its events (the inotify
 * watch descriptor, or fsid + handle type + file handle under fanotify; an
 * unwatched directory by device and inode) and indexed by relative path
 * too. */
#pragma once

#include "util.h"

typedef struct DirScan DirScan;

typedef struct DirNode {
        struct DirNode *next_key, *next_path;
        uint64_t key_hash, path_hash;
        uint64_t gen; /* the last walk that reached it */
        int wd;       /* inotify watch descriptor; -1 under fanotify or when unwatched */
        char *path;   /* relative to the root, "" for the root */
        DirScan *scan; /* inotify out of watches: its last listing, which the rescan compares; NULL: watched */
        size_t key_len;
        uint8_t key[];
} DirNode;

typedef struct DirTable {
        DirNode **by_key, **by_path;
        size_t n_buckets; /* a power of two, or 0 */
        size_t n;
        /* links noted by path: second paths to a walked directory (links to
         * it, or loops), links to no directory; their removal is a change,
         * though their name is no source name */
        char **links;
        size_t n_links;
} DirTable;

/* Notes path as a link (add) or forgets it; whether it was noted. */
bool dirtable_note_link(DirTable *t, const char *path, bool add);
DirNode *dirtable_node_new(const uint8_t *key, size_t key_len, const char *path, int wd);
void dirtable_node_free(DirNode *d); /* and its scan */
void dirtable_add(DirTable *t, DirNode *d);
DirNode *dirtable_find_key(const DirTable *t, const void *key, size_t key_len);
DirNode *dirtable_find_path(const DirTable *t, const char *path);
/* Unlinks d from the path index only (the caller unlinks it from the key's). */
void dirtable_unlink_path(DirTable *t, DirNode *d);
void dirtable_remove(DirTable *t, DirNode *d);
void dirtable_set_path(DirTable *t, DirNode *d, const char *path);
void dirtable_done(DirTable *t);
