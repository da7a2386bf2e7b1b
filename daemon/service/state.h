/* SPDX-License-Identifier: MIT */
/* What fsxdsd knows between events: its configuration, the sources and
 * outputs, every node's state, the rebuild in flight, the MANIFESTs and the
 * signer. The rebuild policy (rebuild.c) and the upkeep (upkeep.c) act on
 * it; the Manager (manager.c) owns it with the event loop, which neither of
 * them knows. */
#pragma once

#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "build.h"
#include "config.h"
#include "hashmap.h"
#include "manifest.h"
#include "memo.h"
#include "sign.h"
#include "status.h"
#include "store.h"

typedef struct NodeState {
        char *id;
        bool present;         /* in the tree or the config at the last rebuild */
        bool present_before;  /* built at least once since start while present */
        uint64_t generation;  /* of its last publish */
        uint64_t published_usec;
        size_t n_files, n_listeners, n_clusters;
        bool removal_blocked;
        uint64_t allowance_usec; /* its removal allowance's mtime (CLOCK_REALTIME); 0: none armed */
        bool state_checked;   /* its state_dir copy was compared since start */
        Diag error;           /* the first error of the last build; message NULL when good */
        size_t n_errors;
        uint64_t diag_fingerprint;
        /* its last good build, described (memo.h), which the next one
         * starts from and is planned against (under MEMO_BUDGET), made
         * after refresh memo_seq */
        NodeMemo memo;
        uint64_t memo_seq;
        size_t memo_bytes;
        bool live_known;      /* its output directory holds memo as this process published it */
        bool manifest_patchable; /* its MANIFEST is the one fsxdsd wrote last (manifest_id), for memo */
        struct stat manifest_id;
        bool state_manifest_patchable; /* likewise its copy's MANIFEST */
        struct stat state_manifest_id;
        /* planned from its memo: the paths that changed (made again or
         * gone), sorted, which its MANIFESTs are patched at; until the
         * batch that publishes it is finished */
        char **touched;
        size_t n_touched;
        bool planned_delta;
        bool state_known;     /* and so does its state_dir copy */
        bool live_verified;   /* its output directory holds what its last good build made (checked by a plan) */
        bool manifest_ok;     /* its MANIFEST (and MANIFEST.sig) are current */
        char manifest_sha[65], sig_sha[65]; /* of the current ones ("" without a signature) */
        bool manifest_sha_pending; /* manifest_sha is to be taken from the disk (upkeep.c) */
        bool force_rebuild;   /* its directory was altered: build and plan it from the disk */
        uint64_t manifest_warning; /* hash of the last warning about its MANIFEST: said once */
        bool publish_failed;  /* its last publish failed: retried with backoff, without a source change */
        uint64_t stray_warning;    /* hash of the entries it did not make last reported in its directory */
        char *state_error;        /* why its last good copy is not saved, or was not restored; NULL: fine */
        bool state_failed;        /* saving its copy failed: every rebuild (and verify pass) tries again */
        bool state_manifest_ok;   /* its copy's MANIFEST was found or written current since start */
        bool gone_logged;         /* "not in the tree any more" logged (cleared when it is back) */
        uint64_t current_usec;    /* its good build last found equal to its files in place (CLOCK_REALTIME; metrics) */
        uint64_t failed_usec;     /* its last build with errors or failed publish; 0: none since start */
        struct NodeHistory *history; /* its generation history, rollback and pin (rollback.c); NULL: not loaded */
} NodeState;

/* What the memos of all nodes may hold. A memo costs a pointer a file;
 * the descriptions are shared (memo.h): 32 million file references, e.g.
 * 1,000 nodes of 32,000 files (a tree of 100,000 resources on 100 nodes
 * takes 5 million). Nodes past it are built whole and planned from the
 * disk, which costs their whole build at every change. */
#define MEMO_BUDGET ((size_t) 256 << 20)

/* fsxds_rebuild_duration_seconds's upper bounds (le), in µs: 1 ms to 10 s */
#define METRICS_REBUILD_BUCKETS 13

typedef struct MetricsRule {
        char *rule;
        uint64_t count;
} MetricsRule;

/* fsxdsd's counters since it started, for metrics_file (metrics.c writes them). */
typedef struct Metrics {
        uint64_t rebuild_buckets[METRICS_REBUILD_BUCKETS + 1]; /* rebuilds per bucket (not cumulative); the last: +Inf */
        uint64_t rebuilds;
        uint64_t rebuild_usec_sum;
        uint64_t files_published;
        uint64_t publish_failures;
        uint64_t overflow_rescans;
        uint64_t manifest_verification_failures;
        MetricsRule *rules; /* errors by Diag.rule, as the journal logged them */
        size_t n_rules;
        char *written;      /* the metrics_file last written (removed when the key changes) */
        bool failed;        /* the last write failed (said once while it lasts) */
} Metrics;

typedef struct Rebuild Rebuild;

/* A verification pass in progress (upkeep_check_outputs_slice()). */
typedef struct VerifyPass {
        bool running;
        size_t next;      /* the next node to check */
        size_t n_altered; /* found so far */
        size_t n_slices;
        Hashmap poisoned; /* store objects dropped so far (sha256 → itself) */
} VerifyPass;

/* the start of sources_error when source_dir or its nodes/ cannot be listed */
#define SOURCES_UNREADABLE "cannot read the source tree"

typedef struct State {
        Config *config;
        const char *reload_error; /* why the last reload was not taken; NULL: it was */
        const char *watch_backend; /* "inotify", "fanotify"; NULL: no watch */

        /* sources and outputs */
        Schema *schema;
        SourceCache *cache;
        Store *store;       /* <output_dir>/.store */
        Store *state_store; /* <state_dir>/nodes/.store: last good copies */
        char *state_nodes_dir;
        gid_t gid;
        char *sources_error; /* why the tree was refused (require_signed_sources, or SOURCES_UNREADABLE
                              * when it cannot be listed); NULL: accepted */

        /* the rebuild (rebuild.c) */
        Rebuild *rebuild;   /* in flight; NULL: idle */
        uint64_t generation;
        uint64_t last_rebuild_usec;
        bool recheck_all;   /* build every node (start, reload), not only changed ones */
        NodeState **nodes;  /* pointers stay valid while the array grows */
        size_t n_nodes;
        Hashmap node_index; /* id → NodeState */
        size_t memo_bytes;  /* of all nodes' memos */
        MemoTable memo_files; /* the descriptions all memos share */
        uint64_t host_address_fingerprint; /* of the last reported nodes binding one address */
        uint64_t publish_usec;   /* spent on the phases by the last rebuild */
        uint64_t manifest_usec;  /* spent on MANIFESTs by the last rebuild */

        /* MANIFESTs and signing (upkeep.c) */
        Signer *signer;          /* NULL: MANIFESTs are not signed */
        Signer *previous_signer; /* until every MANIFEST is signed by signer */
        DescribeCache *describe; /* published files already hashed and parsed */
        bool manifests_unsynced; /* MANIFESTs written since the last syncfs */

        /* the watch degraded (manager.c): directories rescanned every
         * rescan_interval, not watched, out of inotify watches or instances */
        size_t watch_unwatched;       /* 0: the watch is whole */
        const char *watch_limit_name; /* "fs.inotify.max_user_watches", ...; NULL when whole */
        int64_t watch_limit_value;    /* -1: unknown */
        /* failed publishes (manager.c retries them) and the status file */
        uint64_t retry_usec;  /* CLOCK_REALTIME of the next retry; 0: none pending */
        bool status_failed;   /* the last status write failed */
        uint64_t bad_node_dirs_fingerprint; /* of the directories in nodes/ last logged as no node id */
        uint64_t verify_passes;  /* verification passes completed (status.json "verify_passes") */
        VerifyPass verify;       /* the pass in progress */
        bool verify_pass_open;   /* a pass found something: it completes when the next rebuild is over */
        char *counter_error;     /* why the generation counter could not be written; NULL: it follows */
        StatusDaemon daemon;     /* this process, as status.json names it (stopped_usec set as it exits) */
        Metrics metrics;         /* counters for metrics_file (metrics.c) */
        bool history_checked;    /* history: 0 removed what history state_dir held (rollback.c) */
        bool rebuild_wanted;     /* a rebuild is owed once this one is over (a rollback just published: rollback.c) */
        struct AdsFeed *ads;     /* the xDS server and what it serves (adsfeed.c); NULL: ads: not configured */
} State;

void node_state_clear_error(NodeState *n);
/* The node's state, made on first use. */
NodeState *node_state(State *st, const char *id);
/* Removes the node from st and frees it (fsxds forget): never while a
 * rebuild is in flight, which holds pointers to nodes. */
void node_state_drop(State *st, NodeState *ns);
/* Frees the node's state (node_state_drop(), and at exit). */
void node_state_free(State *st, NodeState *ns);
/* Frees ns->history (rollback.c, which knows what it holds). */
void node_history_free(State *st, NodeState *ns);
/* Drops the node's memo: its next build is a whole one, its next plan
 * reads the disk. */
void node_forget_memo(State *st, NodeState *ns);
void node_clear_touched(NodeState *ns);
