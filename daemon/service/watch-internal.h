/* SPDX-License-Identifier: MIT */
/* The watch module's private header (watch.c and watch-rescan.c implement
 * watch.h): the Watch's insides and what the rescan of unwatched
 * directories (watch-rescan.c) shares with the watch itself (watch.c). */
#pragma once

#include <fcntl.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>

#include "dirtable.h"
#include "linktargets.h"
#include "watch.h"

#ifndef AT_HANDLE_FID
#define AT_HANDLE_FID 0x200 /* Linux 6.5: encode the handle exactly as fanotify reports it */
#endif

#define WATCH_DEPTH_MAX 32 /* directories below the root, as the build's walk */
#define WATCH_DIRS_MAX 65536
#define WATCH_READS_MAX 64 /* per watch_process(): a busy filesystem cannot hold the loop */
#define WATCH_BUF_SIZE (64 * 1024)
#define WATCH_SETUP_TRIES 16
#define FSID_SIZE 8
#define KEY_MAX (FSID_SIZE + sizeof(int) + MAX_HANDLE_SZ)

/* IN_ATTRIB: a directory made unreadable (chmod, chown), or readable again */
#define INOTIFY_DIR_MASK                                                                                  \
        (IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF |          \
         IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR | IN_EXCL_UNLINK)
/* The anchor only has to see the root's name come and go. IN_MASK_ADD: in a
 * tree that links back to its own parent, the anchor is a tree directory too. */
#define INOTIFY_ANCHOR_MASK                                                                               \
        (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | \
         IN_MASK_ADD)
/* With FAN_REPORT_DFID_NAME every event names the directory and the entry;
 * FAN_CLOSE_WRITE on a file comes with its parent's handle and its name.
 * Events on directories themselves (FAN_DELETE_SELF/FAN_MOVE_SELF) carry the
 * directory's own handle and the name "." (older kernels: no name). */
#define FANOTIFY_MASK                                                                                     \
        (FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_CLOSE_WRITE | FAN_DELETE_SELF |    \
         FAN_MOVE_SELF | FAN_ATTRIB | FAN_ONDIR)

struct Watch {
        WatchBackend backend;
        int fd;
        char *root; /* absolute, without ".", "..", "//" or a trailing "/" */
        DirTable dirs;
        uint64_t gen;
        char *anchor_dir;  /* NULL: no anchor, the root is "/" */
        char *anchor_name; /* the component of the root's path expected in anchor_dir */
        int anchor_wd;
        uint8_t anchor_key[KEY_MAX];
        size_t anchor_key_len;
        uint8_t (*marked)[FSID_SIZE]; /* fanotify: the filesystems marked so far */
        size_t n_marked;
        char *failure; /* the first call that failed, for the fallback reason */
        void *buf;
        /* inotify: out of watches (-ENOSPC) or of instances (-EMFILE, fd < 0);
         * what could not be watched is listed and rescanned instead */
        int limit_error;
        bool anchor_unwatched;
        uint64_t n_overflows; /* queue overflows since watch_take_overflows() */
        LinkTargets links; /* links to files, their targets and the targets' directories */
};

typedef struct Batch {
        WatchCallback cb;
        void *userdata;
        int n_reported;
        int error;   /* the first error while re-watching */
        bool reset;  /* re-establish everything: overflow, the root or the anchor changed */
        bool overflow; /* the kernel's queue overflowed: a rescan of everything */
        bool rescan; /* report NULL at the end */
} Batch;

/* Paths relative to the root: "" is the root itself. */
char *watch_root_path(const Watch *w, const char *rel);
char *watch_rel_join(const char *dir, const char *name);
bool watch_is_dir(const Watch *w, const char *rel);
/* Whether the inotify watch wd is the anchor's, a walked directory's or
 * the one of a directory of link targets: not to be removed for another. */
bool watch_wd_in_use(const Watch *w, int wd);
/* Brings the table in line with the directory at rel as it is now. */
int watch_sync(Watch *w, const char *rel);
/* Watches the directory holding the root (or its nearest existing
 * ancestor); 1 when it is the root's own parent, 0 a higher one. */
int watch_anchor(Watch *w);
/* Re-establishes everything from the root's path. */
int watch_reset(Watch *w);
/* After a change of what the tree names: every link resolved again, the
 * targets' directories watched. */
void watch_links_update(Watch *w);
void watch_batch_report(Batch *b, const char *rel);
void watch_batch_error(Batch *b, int r);
/* The end of a batch of events or of a rescan: a reset re-establishes
 * everything and is a rescan; links resolved again when the tree's
 * structure changed; a rescan reported (as a NULL path). */
void watch_batch_finish(Watch *w, Batch *b);
