/* SPDX-License-Identifier: MIT */
/* Publishing one generation into the node directories: what changed against
 * what is live on disk, in make-before-break phases, each file switched by
 * one rename, nothing unchanged touched. The manager plans every changed
 * node, then runs each phase for every node, pausing between phases. */
#pragma once

#include "build.h"
#include "store.h"

typedef enum PublishPhase {
        PUBLISH_PHASE_SDS,           /* new/changed sds files */
        PUBLISH_PHASE_EDS,           /* new/changed eds files */
        PUBLISH_PHASE_CDS,           /* cds: new ∪ old-only clusters when clusters go, else the final one */
        PUBLISH_PHASE_RDS,           /* new/changed rds and srds files */
        PUBLISH_PHASE_LDS,           /* lds */
        PUBLISH_PHASE_RTDS,          /* new/changed rtds files (independent of the others) */
        PUBLISH_PHASE_REMOVE_ROUTES, /* rds/srds files no longer present */
        PUBLISH_PHASE_CDS_FINAL,     /* the final cds after an intermediate one */
        PUBLISH_PHASE_REMOVE_FILES,  /* eds/sds/rtds files no longer present; old generation directories */
        _PUBLISH_PHASE_MAX,
        _PUBLISH_PHASE_INVALID = -EINVAL,
} PublishPhase;

const char *publish_phase_to_string(PublishPhase p);
PublishPhase publish_phase_from_string(const char *s);

typedef struct NodePlan NodePlan;

/* Compares next with what is live in <output_dir>/<node>/ (read from disk,
 * so a restart republishes only what differs) and plans the phases. Puts
 * next's files (and an intermediate cds) into the store. output_dir must be
 * the directory s was opened on. A plan holds no file descriptors: the
 * phases reopen the node directory below store_output_fd(s).
 *
 * Files are compared by inode with the store object: a hard link of the
 * same object is unchanged, a link of another known object is changed, and
 * anything else (a lost store, a copy) is read and compared, so a restart
 * does not republish everything. When clusters go, the CDS phase publishes
 * the intermediate cds (next's clusters and the old-only ones, by name,
 * next's version winning) and CDS_FINAL the final one; when nothing is
 * added or changed the old file already is that intermediate, so only
 * CDS_FINAL runs. An old cds.pb that does not parse gets no intermediate.
 * lds/lds.pb and cds/cds.pb are never removed (an Envoy's bootstrap names
 * them); every other file absent from next, stray ones in lds/ and cds/
 * too, is removed in the removal phases.
 *
 * A symlink or non-directory where the node directory or a type directory
 * should be is never followed or replaced: planning fails with -ELOOP or
 * -ENOTDIR and the node keeps what it had. Files inside type directories
 * are only replaced by rename or unlinked, which never follows a symlink.
 * Returns -EINVAL for a NodeFile path that is not "<type>/<name>.pb" with a
 * known type directory and a safe name. */
int publish_plan(Store *s, const char *output_dir, const char *node, PublishMode mode, const NodeOutput *next,
                 NodePlan **ret);
/* The same in rename mode without reading the node directory: it holds
 * what this process last published there, and next differs from that only
 * in its files not marked reused and in before's files, which are the
 * previous versions of what changed (build_node_update()'s ret and
 * ret_before). The work is proportional to the changes. A directory
 * altered behind fsxdsd's back is not noticed: files are still replaced by
 * rename and removed by unlink, never followed. */
int publish_plan_delta(Store *s, const char *node, const NodeOutput *before, const NodeOutput *next, NodePlan **ret);
NodePlan *node_plan_free(NodePlan *p);

bool node_plan_has_phase(const NodePlan *p, PublishPhase phase);
/* Files that will be replaced, created or removed, counting layout repairs
 * (a missing "..data", stale generations) as one: 0 exactly when the plan
 * has no phase. */
size_t node_plan_n_changes(const NodePlan *p);

/* Every file the plan leaves in the node directory, as its build made
 * it: the type directory ("eds"), the file name ("web.pb") and the store
 * object of its bytes (its sha256), for the MANIFEST made from the build.
 * False (and f never called) for a publish_plan_delta() plan, which names
 * only what changed. */
typedef void (*NodePlanFileFunc)(void *userdata, const char *type, const char *name, const char object[65]);
bool node_plan_foreach_file(const NodePlan *p, NodePlanFileFunc f, void *userdata);
/* The files the plan places or removes, phase by phase in the order
 * they run: f gets the phase, the type directory and the file name, and
 * removed set for a removal. */
typedef void (*NodePlanChangeFunc)(void *userdata, PublishPhase phase, const char *type, const char *name, bool removed);
void node_plan_foreach_change(const NodePlan *p, NodePlanChangeFunc f, void *userdata);
/* watched_directory mode: the generation directory the type directory's
 * "..data" points to once the plan's phases have run (as it was found when
 * the plan has no work there); NULL when there is none, and in rename mode. */
const char *node_plan_data_link(const NodePlan *p, const char *type);

/* Performs one phase for the node; a phase the plan does not have is a
 * no-op. Phases must run in enum order. Once a phase failed, the node's
 * later phases do not run (they return -ECANCELED): what they would publish
 * may name what the failed one did not put in place. The next plan starts
 * from what is on disk. Before the first link of a generation,
 * store_sync() makes the new objects of every plan durable at once. In
 * watched_directory mode each type directory is switched at most once per
 * phase, by renaming a new "..data" symlink over the old one; the
 * generation directory behind it is not fsynced first: that relies on the
 * in-order metadata commits of journaling filesystems (ext4, xfs). */
int node_plan_run_phase(NodePlan *p, PublishPhase phase);
/* The error of the phase that failed, or 0. */
int node_plan_error(const NodePlan *p);
/* The phase that failed; _PUBLISH_PHASE_INVALID when none did. */
PublishPhase node_plan_failed_phase(const NodePlan *p);

/* After all phases of all nodes: when the store is durable and the plans
 * touched anything, one syncfs(2) of the output filesystem makes the new
 * directory entries durable (the files' bytes were synced before the first
 * phase linked them); then store_collect(): the objects this generation
 * wrote or displaced that nothing links any more are unlinked. Returns
 * how many were. */
int publish_finish(Store *s, NodePlan **plans, size_t n);

/* Removes crash leftovers under <output_dir>/<node>: temporary names in the
 * type directories, "..data.tmp", generation directories "..data" does
 * not point to (half-built or not yet pruned), and the MANIFEST's and
 * MANIFEST.sig's temporary names in the node directory. Best run for every node
 * before store_open(), whose store_gc() then collects the objects only the
 * leftovers linked. Returns how many entries of the type directories were
 * removed; 0 when the node directory is absent. */
int publish_clean_node(const char *output_dir, const char *node);
