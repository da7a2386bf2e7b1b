/* SPDX-License-Identifier: MIT */
/* What a node directory of output_dir holds now, read back as the files
 * Envoy reads (fsxds diff compares a build with it): every "*.pb" of the
 * type directories, a regular file, or in the watched_directory layout a
 * symlink "..data/<name>" read through its type directory's "..data",
 * which must name a generation directory beside it. Nothing is followed
 * out of the node directory: no other symlink, and "..data" only to a
 * name of its own directory. */
#pragma once

#include "build.h"

typedef struct LiveNode {
        NodeOutput out; /* sorted by path; an odd entry has data NULL and len 0 */
        char **odd;     /* per file: why Envoy would not read it as fsxdsd writes it, or NULL */
} LiveNode;

void live_node_done(LiveNode *l);

/* Reads <output_dir>/<node>/. An entry that is not a file fsxdsd wrote
 * (another symlink, a dangling one, not a regular file) is in ret with
 * its reason; fsxdsd replaces it at its next publish. Returns 0, -ENOENT
 * when there is no node directory (or no output_dir), -ENOTDIR when it is
 * no directory (a symlink is never followed), or another -errno with
 * *ret_error naming what could not be read. */
int live_read_node(const char *output_dir, const char *node, LiveNode *ret, char **ret_error);
