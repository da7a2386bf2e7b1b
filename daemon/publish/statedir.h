/* SPDX-License-Identifier: MIT */
/* STATE_DIR (/var/lib/fsxds), fsxdsd's own state, shared with fsxds:
 *   generation          the last generation published, in decimal
 *   nodes/ID/           each node's last good generation (restored after a
 *                       reboot, when OUTPUT_DIR on tmpfs is empty)
 *   allow-removal/ID    an allowance: the next generation of ID may remove
 *                       more than max_removal (created by fsxds
 *                       allow-removal, consumed by fsxdsd when it uses it)
 * The one home of this layout and of its protocol. */
#pragma once

#include <stdint.h>

#include "util.h"

#define STATEDIR_GENERATION "generation"
#define STATEDIR_NODES "nodes"
#define STATEDIR_ALLOW_REMOVAL "allow-removal"

/* state_dir/name, without a doubled slash. */
char *statedir_path(const char *state_dir, const char *name);
/* state_dir/nodes/node, state_dir/allow-removal/node. */
char *statedir_node_path(const char *state_dir, const char *node);
char *statedir_allowance_path(const char *state_dir, const char *node);

/* The generation counter: -ENOENT when there is none yet, -EBADMSG when
 * it is not a number. */
int statedir_read_generation(const char *state_dir, uint64_t *ret);
int statedir_write_generation(const char *state_dir, uint64_t generation);

/* Creates state_dir (and allow-removal/) when missing: 0 or -errno. */
int statedir_allow_removal_mkdir(const char *state_dir);
/* Creates allow-removal/node holding the time (atomically). The directory
 * and file get the owner of state_dir when root creates them, so the
 * daemon's user can delete the file when it uses it. *ret_path (optional)
 * gets the file's path. */
int statedir_allow_removal_create(const char *state_dir, const char *node, char **ret_path);
/* Uses node's allowance: 1 when there was one (it is gone now), 0 when
 * there is none, -errno when it could not be removed. */
int statedir_allow_removal_consume(const char *state_dir, const char *node);

/* Removes parent/name and, when it is a directory, everything in it
 * (fsxds forget: OUTPUT_DIR/ID, nodes/ID, allow-removal/ID). parent itself
 * may be reached through symlinks (it comes from the configuration);
 * below it symlinks are removed, never followed, and directories on
 * another file system are left alone (-EXDEV). Returns 1 when removed, 0
 * when absent, -errno. */
int statedir_remove_entry(const char *parent, const char *name);
