/* SPDX-License-Identifier: MIT */
/* The link targets the source watch (watch.c) follows. The build reads a
 * link to a file as its target wherever that is in the tree, also in a
 * dot-directory the watch's walk skips and under a name that is no source
 * name (a *.txt); so the watch notes every link to a file it meets, and
 * this table keeps each one's target (its real path relative to the
 * root's; for a dangling link, the path it names) and the directories
 * holding the targets, which the watch watches for the targets' names.
 * The table knows paths only: the watch names a directory as its events
 * do (LinkTargetsWatchDir). */
#pragma once

#include "hashmap.h"
#include "util.h"

/* A directory holding link targets, as the watch's events name it. */
typedef struct LinkTargetDir {
        char *path; /* relative to the root's real path; "" for the root */
        int wd;     /* inotify's watch descriptor; -1 under fanotify */
        size_t key_len;
        uint8_t *key;
} LinkTargetDir;

typedef struct LinkTargets {
        char *root_real; /* the root's real path when last resolved; NULL: none */
        Hashmap links;   /* link path (relative to the root) -> its target */
        Hashmap targets; /* target path -> how many links name it */
        Hashmap dirs_by_key;
        LinkTargetDir **dirs;
        size_t n_dirs;
        bool dirty; /* a target came, went or changed since linktargets_update_dirs() */
} LinkTargets;

/* Starts watching the directory at the absolute path and says how events
 * name it: its key (at most key_max bytes) and inotify watch descriptor
 * (-1: none). Returns -errno when it cannot be watched. */
typedef int (*LinkTargetsWatchDir)(void *userdata, const char *path, uint8_t *key, size_t key_max,
                                   size_t *ret_key_len, int *ret_wd);
/* A directory's watch descriptor that holds no target any more: the watch
 * drops it unless another of its users has it. */
typedef void (*LinkTargetsReleaseWd)(void *userdata, int wd);

/* The root (absolute, clean) resolved again: at every walk of the tree. */
void linktargets_set_root(LinkTargets *lt, const char *root);
/* Brings the link at rel (a source name, relative to root) up to date:
 * its target noted, changed, or forgotten when rel is no link to a file in
 * the tree any more. Sets dirty when anything changed. */
void linktargets_note(LinkTargets *lt, const char *root, const char *rel);
/* Whether rel is a link the table knows (a link of the tree, or a link of
 * a chain that one names): its retargeting is resolved again by
 * linktargets_refresh(). */
bool linktargets_is_link(const LinkTargets *lt, const char *rel);
/* Every link resolved again (and the root): after a change of what the
 * tree names, a target may be another file, or none. */
void linktargets_refresh(LinkTargets *lt, const char *root);
/* Watches the directory of every target (through watch_dir) and releases
 * the watches of those that hold none any more or were replaced (a
 * directory is known by its inode). What cannot be watched is left out.
 * Clears dirty. */
void linktargets_update_dirs(LinkTargets *lt, LinkTargetsWatchDir watch_dir, LinkTargetsReleaseWd release,
                             void *userdata);
const LinkTargetDir *linktargets_dir_by_key(const LinkTargets *lt, const void *key, size_t key_len);
/* The target path of the entry name of d, when it is a target (the
 * caller frees it); NULL otherwise. */
char *linktargets_match(const LinkTargets *lt, const LinkTargetDir *d, const char *name);
/* Whether the tree path dir/name (relative to root) leads to a target: a
 * directory holding one, or would (a dangling link's). */
bool linktargets_on_path(const LinkTargets *lt, const char *root, const char *dir, const char *name);
void linktargets_done(LinkTargets *lt);
