/* SPDX-License-Identifier: MIT */
/* One directory's listing as a rescan sees it, and what changed between two
 * listings: the fallback of the source watch for directories it could not
 * watch (out of inotify watches or instances). An entry is its name and what
 * stat() (following symlinks, as the build does) says of it: type, inode,
 * size, mtime and ctime. Dot entries are left out, as the build skips them
 * (a Kubernetes "..data" switch shows as changed inodes of the visible
 * links). */
#pragma once

#include <sys/stat.h>

#include "util.h"

typedef struct DirScanEntry {
        char *name;
        bool is_dir;
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime, ctime;
} DirScanEntry;

typedef struct DirScan DirScan;
struct DirScan {
        DirScanEntry *entries; /* sorted by name */
        size_t n;
};

#define DIRSCAN_ENTRIES_MAX 65536

/* Lists the directory at path. -errno when it cannot be opened or read,
 * -E2BIG past DIRSCAN_ENTRIES_MAX entries. An entry that vanishes while it
 * is listed is left out; a dangling symlink is listed as itself. */
int dirscan_read(const char *path, DirScan *ret);
/* Appends an entry (tests; dirscan_read()), then keeps the order. */
void dirscan_add(DirScan *s, const char *name, const struct stat *st);
void dirscan_sort(DirScan *s);
void dirscan_done(DirScan *s);

/* What is in one listing and not the other, or differs (type, inode, size,
 * mtime, ctime): a name that was added, removed or changed. is_dir is true
 * when it is a directory in either listing. */
typedef void (*DirScanChange)(void *userdata, const char *name, bool is_dir);
/* Calls cb for every such name, in name order; returns how many. */
size_t dirscan_diff(const DirScan *old, const DirScan *new, DirScanChange cb, void *userdata);
