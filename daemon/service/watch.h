/* SPDX-License-Identifier: MIT */
/* The source-tree watch: tells fsxdsd which source file changed under
 * source_dir, or that the whole tree must be rescanned. Two backends: one
 * fanotify filesystem mark (FAN_REPORT_DFID_NAME, directories known by file
 * handle) or recursive inotify (one watch per directory). The module owns one
 * non-blocking fd and knows nothing of the event loop: the manager polls
 * watch_get_fd() for EPOLLIN and calls watch_process().
 *
 * What is reported:
 * - a path ("nodes/edge/lds.yaml") when a file whose name passes
 *   watch_is_source_name() is created, written and closed, renamed in or out,
 *   or deleted, anywhere under the root outside dot-directories;
 * - NULL when the tree must be rescanned: queue overflow; the root created,
 *   deleted, moved or replaced; a directory created, deleted or moved in or
 *   out (its files are not reported one by one); a "..data" entry renamed or
 *   created in any watched directory (the Kubernetes ConfigMap switch).
 *   NULL comes once per watch_process() call, after every path of that call,
 *   and only once the watches are back in place, so a rescan started from
 *   the callback sees everything the watch may have missed.
 * Directories starting with '.' are neither watched nor reported, as the
 * build skips them; symlinks to directories are followed as the build does.
 * A symlink to a file (a source name) reports its target's changes too,
 * under the target's path, wherever the target is in the tree: also in a
 * dot-directory and under a name that is no source name (a *.txt).
 * Duplicates are normal (a created file is reported on create and on
 * close): the manager settles them. Writes through a file that is never
 * closed (mmap, a writer that keeps the fd) are not seen.
 *
 * Out of inotify watches (max_user_watches) or instances
 * (max_user_instances, inotify_init1() fails with EMFILE), the directories
 * that could not be watched are listed instead: watch_get_unwatched() counts
 * them, and watch_rescan(), which the manager calls on a timer while any
 * are, compares each one's listing with the last (dirscan.h) and reports
 * what changed through the same callback, after trying to watch it again.
 * fanotify marks whole filesystems and has no per-directory limit. */
#pragma once

#include "util.h"

typedef enum WatchBackend {
        WATCH_BACKEND_AUTO,
        WATCH_BACKEND_INOTIFY,
        WATCH_BACKEND_FANOTIFY,
        _WATCH_BACKEND_MAX,
        _WATCH_BACKEND_INVALID = -EINVAL,
} WatchBackend;

const char *watch_backend_to_string(WatchBackend b);
WatchBackend watch_backend_from_string(const char *s);

typedef struct Watch Watch;

/* relative_path: the source-relative path of a relevant file that changed
 * ("nodes/edge/lds.yaml"), or NULL when the whole tree must be rescanned.
 * The callback must not free the Watch. */
typedef void (*WatchCallback)(void *userdata, const char *relative_path);

/* backend AUTO tries fanotify on root and falls back to inotify on any error;
 * *ret_fallback_reason (optional) gets why fanotify was not used ("fanotify_init():
 * Operation not permitted"), or NULL when it is used or was not asked for.
 * A missing root is allowed (an empty tree is a valid idle state): its nearest
 * existing ancestor is watched and NULL is reported when it appears. Problems
 * inside the tree (unreadable or vanishing subdirectories) are skipped, never
 * fatal, and so is running out of inotify watches or instances (what is not
 * watched is rescanned); returns -errno for what the system refuses (no
 * inotify/fanotify, -ENOSPC for more than 65536 directories). */
int watch_new(WatchBackend backend, const char *root, Watch **ret, char **ret_fallback_reason);
int watch_get_fd(const Watch *w);
/* Reads all pending events without blocking (at most a bounded number of
 * reads per call; the fd stays readable when more are queued) and calls cb for
 * each relevant change. Returns the number of callbacks made, or -errno. An
 * error while re-watching is returned after the NULL callback; the Watch
 * stays usable. Directories it runs out of watches for become unwatched. */
int watch_process(Watch *w, WatchCallback cb, void *userdata);
/* Lists the unwatched directories again and calls cb for each relevant
 * change since their last listing (as watch_process() does: a path, NULL
 * after a directory came or went), having first tried to watch each again
 * (and, out of instances, to get one): directories that get a watch are
 * watched from then on. Returns the number of callbacks, or -errno. */
int watch_rescan(Watch *w, WatchCallback cb, void *userdata);
/* The directories not watched (0: none, the watch is whole), and the first
 * of them by path ("" for the root; NULL when none). */
size_t watch_get_unwatched(const Watch *w);
const char *watch_get_first_unwatched(const Watch *w);
/* Why they are not: -ENOSPC (out of watches), -EMFILE (out of instances:
 * watch_get_fd() is then -1 until one is free); 0 when all are watched. */
int watch_get_limit_error(const Watch *w);
WatchBackend watch_get_backend(const Watch *w); /* INOTIFY or FANOTIFY, the one in use */
/* The event queue overflows (each a rescan of everything) since the last
 * call, which resets the count (fsxds_watch_overflow_rescans_total). */
uint64_t watch_take_overflows(Watch *w);
Watch *watch_free(Watch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(Watch *, watch_free);

/* Whether a file name counts as a source: *.yaml|*.yml|*.json, not a
 * dotfile, not *~, not 4913, not .#*, not #*# (the build's rule). */
bool watch_is_source_name(const char *name);
