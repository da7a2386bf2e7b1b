/* SPDX-License-Identifier: MIT */
/* STATE_DIR (/var/lib/fsxds), fsxdsd's own state, shared with fsxds
 * (format 2):
 *   .fsxds/format       the layout's format version, "2\n"
 *   .fsxds/generation   the last generation published, in decimal
 *   nodes/ID/           each node's last good generation (restored after a
 *                       reboot, when OUTPUT_DIR on tmpfs is empty): the
 *                       type directories, hard links into nodes/.store,
 *                       and MANIFEST (the output's MANIFEST format: the
 *                       generation the copy is of, each file's size and
 *                       sha256), written after the files
 *   allow-removal/ID    an allowance: the next generation of ID may remove
 *                       more than max_removal (created by fsxds
 *                       allow-removal; fsxdsd deletes it when it uses it,
 *                       when ID's next generation is published without
 *                       needing it, or STATEDIR_ALLOWANCE_USEC after the
 *                       file's mtime)
 *   forget/ID           a request to forget ID (created by fsxds forget
 *                       while fsxdsd runs): fsxdsd removes OUTPUT_DIR/ID,
 *                       nodes/ID and allow-removal/ID, drops the node from
 *                       its state and status, and deletes the request last
 *   history/ID/G.json   the history entry of ID's generation G (history.h):
 *                       canonical JSON, the change G made (path, sha256,
 *                       was), the digests of its files and sources; the
 *                       newest `history:` entries of a node are kept
 *   history/ID/objects/SHA  hard links of nodes/.store objects the kept
 *                       entries name (either side of a change), so a
 *                       generation can be rebuilt after nodes/.store let
 *                       them go
 *   pin/ID              ID is pinned (fsxds rollback): canonical JSON
 *                       {"created_usec","generation","node","rollback_of"};
 *                       tree changes are built and checked, not published,
 *                       until fsxds unpin deletes it
 *   rollback/ID         a request (fsxds rollback): publish generation
 *                       "G\n" again as a new generation, then pin ID;
 *                       fsxdsd deletes it when done (or refused)
 * An older fsxdsd ignores history/, pin/ and rollback/ (still format 2).
 * The running fsxdsd holds a shared flock(2) on STATE_DIR itself from
 * start to exit: fsxds forget takes it exclusively, without waiting, to
 * learn whether one runs (then it asks it through forget/ID) or not (then
 * it removes the node itself, holding the lock so that none starts
 * meanwhile).
 * The one home of this layout and of its protocol. */
#pragma once

#include <stdint.h>

#include "build.h"
#include "manifest.h"
#include "util.h"

#define STATEDIR_OWN ".fsxds"
#define STATEDIR_FORMAT_NAME ".fsxds/format"
#define STATEDIR_FORMAT 2
#define STATEDIR_GENERATION ".fsxds/generation"
/* format 1 (no format file): the counter at the top, copies without MANIFEST */
#define STATEDIR_LEGACY_GENERATION "generation"
/* The highest generation number fsxdsd publishes: MANIFEST and status.json
 * carry numbers as JSON integers read as int64_t, so one past this could
 * not be read back and would let the counter be reused. At it, publishing
 * stops with an error instead of wrapping. */
#define STATEDIR_GENERATION_MAX ((uint64_t) INT64_MAX)
#define STATEDIR_NODES "nodes"
#define STATEDIR_ALLOW_REMOVAL "allow-removal"
#define STATEDIR_FORGET "forget"
#define STATEDIR_HISTORY "history"
#define STATEDIR_PIN "pin"
#define STATEDIR_ROLLBACK "rollback"
/* How long an allowance lasts unused, from its file's mtime: one hour */
#define STATEDIR_ALLOWANCE_USEC (3600ULL * 1000000ULL)

/* state_dir/name, without a doubled slash. */
char *statedir_path(const char *state_dir, const char *name);
/* state_dir/nodes/node, state_dir/allow-removal/node. */
char *statedir_node_path(const char *state_dir, const char *node);
char *statedir_allowance_path(const char *state_dir, const char *node);

/* The generation counter (.fsxds/generation, else format 1's top-level
 * generation): -ENOENT when there is none yet, -EBADMSG when it is not a
 * number. Written to .fsxds/generation (made when missing), by a rename,
 * or in place when state_dir is full (ENOSPC, EDQUOT): the counter must
 * follow every generation published. */
int statedir_read_generation(const char *state_dir, uint64_t *ret);
int statedir_write_generation(const char *state_dir, uint64_t generation);

/* Creates state_dir, allow-removal/, forget/, rollback/ and pin/ when missing: 0 or -errno. */
int statedir_requests_mkdir(const char *state_dir);
/* Creates allow-removal/node holding the time (atomically). The directory
 * and file get the owner of state_dir when root creates them, so the
 * daemon's user can delete the file when it uses it. *ret_path (optional)
 * gets the file's path. */
int statedir_allow_removal_create(const char *state_dir, const char *node, char **ret_path);
/* Uses node's allowance: 1 when there was one (it is gone now), 0 when
 * there is none or it expired (older than STATEDIR_ALLOWANCE_USEC at
 * now_usec, CLOCK_REALTIME: removed unused), -errno when it could not be
 * removed. */
int statedir_allow_removal_consume(const char *state_dir, const char *node, uint64_t now_usec);
/* Whether node has an allowance that has not expired at now_usec, without
 * using it (fsxds diff): 1, 0 (expired), -ENOENT (none), -errno. */
int statedir_allowance_armed(const char *state_dir, const char *node, uint64_t now_usec);

/* STATE_DIR's lock (see above). Shared (fsxdsd): waits while an fsxds
 * holds it. Exclusive (fsxds forget): -EWOULDBLOCK at once when an fsxdsd
 * holds it (shared), waits while another fsxds does; -ENOENT when
 * state_dir does not exist. *ret_fd holds the lock until it is closed. */
int statedir_lock(const char *state_dir, bool exclusive, int *ret_fd);

/* One fsxdsd a state_dir (two would publish over each other): an
 * exclusive flock on STATE_DIR/nodes (made when missing), which nothing
 * else takes for long. -EBUSY when another process holds it. */
int statedir_instance_lock(const char *state_dir, int *ret_fd);
/* Whether an fsxdsd holds STATE_DIR's instance lock now: 1, 0, -errno
 * (-EACCES for a user who cannot open state_dir/nodes). */
int statedir_instance_held(const char *state_dir);

/* Creates forget/node as statedir_allow_removal_create() does allow-removal/node. */
int statedir_forget_request_create(const char *state_dir, const char *node, char **ret_path);
/* Creates dir/node (STATEDIR_ROLLBACK, STATEDIR_PIN) holding content,
 * atomically, owned as statedir_allow_removal_create() makes its file. */
int statedir_request_create(const char *state_dir, const char *dir, const char *node, const char *content,
                            char **ret_path);
/* Removes dir/node (dir: STATEDIR_ALLOW_REMOVAL, STATEDIR_FORGET, STATEDIR_ROLLBACK, STATEDIR_PIN): 1 when
 * removed, 0 when absent, -errno. */
int statedir_request_remove(const char *state_dir, const char *dir, const char *node);
typedef void (*StatedirRequest)(void *userdata, const char *node, uint64_t mtime_usec);
/* Calls cb for each request in dir (STATEDIR_ALLOW_REMOVAL,
 * STATEDIR_FORGET): a regular file named by a node id, with its mtime
 * (CLOCK_REALTIME µs). Returns how many, 0 when dir is missing, -errno. */
int statedir_list_requests(const char *state_dir, const char *dir, StatedirRequest cb, void *userdata);

/* Whether fsxds forget NODE is refused because fsxdsd still builds it:
 * 1 with *ret_why ("node ID is listed in nodes:", "SOURCE_DIR/nodes/ID
 * exists"), 0 when it is not, -errno when SOURCE_DIR/nodes/ID cannot be
 * checked. */
int statedir_forget_refused(const char *source_dir, char *const *nodes, size_t n_nodes, const char *node,
                            char **ret_why);

/* Removes parent/name and, when it is a directory, everything in it
 * (fsxds forget: OUTPUT_DIR/ID, nodes/ID, allow-removal/ID). parent itself
 * may be reached through symlinks (it comes from the configuration);
 * below it symlinks are removed, never followed, and directories on
 * another file system are left alone (-EXDEV). Returns 1 when removed, 0
 * when absent, -errno. */
int statedir_remove_entry(const char *parent, const char *name);

/* The format of state_dir: 0 and *ret (1 for a layout without
 * .fsxds/format that holds anything, 0 for an empty or absent one), or
 * -EBADMSG when the format file is not a number. */
int statedir_read_format(const char *state_dir, unsigned *ret);
/* Writes .fsxds/format (STATEDIR_FORMAT) and removes format 1's top-level
 * counter once .fsxds/generation holds it: the last step of an adoption. */
int statedir_write_format(const char *state_dir);

/* Removes every temporary name fsxds leaves in state_dir when it dies
 * mid-write, by their exact patterns: .fsxds/{generation,format}.tmp.PID,
 * format 1's generation.tmp.PID, allow-removal/.ID.tmp.PID,
 * forget/.ID.tmp.PID, rollback/.ID.tmp.PID, pin/.ID.tmp.PID,
 * history/ID/G.json.tmp.PID, and in each
 * node copy .MANIFEST.tmp.PID and what publish_clean_node() removes. Run
 * before the copies' store is opened, whose store_gc() then collects the
 * objects only the leftovers linked. Returns how many were removed. */
int statedir_clean(const char *state_dir);

/* The MANIFEST of a node's copy: next's files, described from their bytes
 * (size, sha256, type_url, version_info, names), generation gen. */
void statedir_copy_manifest(const char *node, uint64_t generation, const NodeOutput *next, Manifest *ret);
/* Writes nodes/ID/MANIFEST (never through a symlink). With sync, fsynced.
 * ret_id (may be NULL): its identity (manifest_write_pair_id()). */
int statedir_write_copy_manifest(const char *state_dir, const char *node, const Manifest *m, bool sync,
                                 struct stat *ret_id);
/* Writes nodes/ID/MANIFEST as the one there patched (manifest_patch())
 * with head and touched, when that one still has identity id (written by
 * this process, manifest_write_pair_id()): -ESTALE otherwise. ret_id gets
 * the new one's identity. */
int statedir_patch_copy_manifest(const char *state_dir, const char *node, const struct stat *id, const Manifest *head,
                                 char *const *touched, size_t n_touched, struct stat *ret_id);

/* Whether nodes/ID/MANIFEST exists and lists what m lists, with m's
 * generation (created_usec aside). */
bool statedir_copy_manifest_current(const char *state_dir, const char *node, const Manifest *m);

/* Whether data is a DiscoveryResponse: well-formed protobuf, a type_url
 * of an Envoy resource, every resource an Any of that type. */
bool statedir_is_response(const uint8_t *data, size_t len);

/* Reads node's last good copy back, verified: nodes/ID/MANIFEST must parse
 * and name the node, and every file it lists must be a regular file (no
 * symlink on the way: node directory, type directory, file), of the
 * listed size and sha256, and a DiscoveryResponse. Nothing else is read.
 * With legacy (format 1, no MANIFEST), every "*.pb" of the type
 * directories is taken, each checked as a DiscoveryResponse, and the
 * generation is 0 (unknown). Returns 0 with *ret and *ret_generation,
 * -ENOENT when there is no copy, or -errno with *ret_error saying which
 * file failed and why. */
int statedir_load_copy(const char *state_dir, const char *node, bool legacy, NodeOutput *ret, uint64_t *ret_generation,
                       char **ret_error);
/* The generation of <dir>/<node>/MANIFEST (an output or a copy); 0 when
 * there is none or it does not parse. */
uint64_t statedir_manifest_generation(const char *dir, const char *node);

typedef void (*StatedirReport)(void *userdata, const char *node, const char *error);
/* Adopts format 1's copies: each node copy is read back as
 * statedir_load_copy() does with legacy, and one that verifies gets its
 * MANIFEST (generation 0: unknown, so it is never preferred to an output
 * whose MANIFEST is left); one that does not is reported and left without
 * MANIFEST (never restored; the node's next good build replaces it).
 * Returns how many were adopted, or -errno. The caller then writes the
 * counter and the format (statedir_write_format()). */
int statedir_adopt(const char *state_dir, StatedirReport report, void *userdata);
