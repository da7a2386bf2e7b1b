/* SPDX-License-Identifier: MIT */
/* The Manager owns fsxdsd's sd-event loop and every event source (watch,
 * settle and phase timers, signals, watchdog) and wires the other modules together:
 * source cache → node builds → removal guard → ordered publish → state copy
 * → status. The other modules know nothing of the loop. */
#pragma once

#include <sys/types.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "build.h"
#include "config.h"
#include "hashmap.h"
#include "manifest.h"
#include "sign.h"
#include "store.h"
#include "watch.h"

typedef struct Manager Manager;

/* Loads the configuration (diagnostics printed); -EBADMSG when invalid. */
int manager_new(const char *config_path, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Opens the schema, store and watch, cleans crash leftovers and starts the
 * first build and publish; READY=1 goes to systemd when that is over,
 * whatever its outcome (from the loop, when it waits between phases). */
int manager_startup(Manager *m);
/* Runs the loop until SIGTERM/SIGINT (and the generation in flight then
 * published). */
int manager_run(Manager *m);
/* --once: one build and publish; returns 0, or 1 when a node had errors. */
int manager_once(Manager *m);
/* --check-config: what the configuration names beyond its own syntax is
 * checked too (output_group exists, the schema loads, the CA of
 * require_signed_sources is readable, the signing pair is usable), never
 * the source tree; returns 0 or -errno. */
int manager_check_config(Manager *m);

/* ---- shared by manager.c, rebuild.c and upkeep.c ---- */

typedef struct NodeState {
        char *id;
        bool present;         /* in the tree or the config at the last rebuild */
        bool present_before;  /* built at least once since start while present */
        uint64_t generation;  /* of its last publish */
        uint64_t published_usec;
        size_t n_files, n_listeners, n_clusters;
        bool removal_blocked;
        bool state_checked;   /* its state_dir copy was compared since start */
        Diag error;           /* the first error of the last build; message NULL when good */
        size_t n_errors;
        uint64_t diag_fingerprint;
        /* its last good build, which the next one starts from (under
         * MEMO_BUDGET), made after refresh memo_seq */
        NodeOutput memo;
        uint64_t memo_seq;
        size_t memo_bytes;
        bool live_known;      /* its output directory holds memo as this process published it */
        bool state_known;     /* and so does its state_dir copy */
        bool live_verified;   /* its output directory holds what its last good build made (checked by a plan) */
        bool manifest_ok;     /* its MANIFEST (and MANIFEST.sig) are current */
        char manifest_sha[65], sig_sha[65]; /* of the current ones ("" without a signature) */
        bool force_rebuild;   /* its directory was altered: build and plan it from the disk */
        uint64_t manifest_warning; /* hash of the last warning about its MANIFEST: said once */
} NodeState;

/* What the memos of all nodes may hold. A memo costs about 100 bytes a
 * file plus its per-node files' bytes (the lds/cds/srds files and wired
 * route configurations; one-resource files are shared with the source
 * cache): a few thousand files for one node, or ten files for each of a
 * thousand nodes. Nodes past it are built whole and planned from the disk. */
#define MEMO_BUDGET (4u << 20)

typedef struct Rebuild Rebuild;

struct Manager {
        /* configuration */
        char *config_path;
        Config *config;
        const char *reload_error; /* why the last reload was not taken; NULL: it was */

        /* the loop and its sources (manager.c) */
        sd_event *event;
        Watch *watch;
        sd_event_source *watch_source;
        sd_event_source *settle_timer;
        uint64_t burst_start;
        bool settle_armed;
        sd_event_source *phase_timer;  /* the next phase of the publish in flight */
        int allow_fd;                  /* inotify on <state_dir>/allow-removal */
        sd_event_source *allow_source;
        int signing_fd;                /* inotify on the directories of the key, cert and chain */
        sd_event_source *signing_source, *signing_timer;
        sd_event_source *verify_timer; /* verify_interval */
        /* held back while a rebuild is in flight, done after it */
        bool rebuild_queued, reload_queued, signing_queued, verify_queued;
        bool stopping;      /* SIGTERM: exit once the rebuild in flight is over */
        bool notify_ready;  /* READY=1 once the rebuild in flight is over (start, reload) */
        bool starting;      /* the rebuild in flight is the first */

        /* sources and outputs */
        Schema *schema;
        SourceCache *cache;
        Store *store;       /* <output_dir>/.store */
        Store *state_store; /* <state_dir>/nodes/.store: last good copies */
        char *state_nodes_dir;
        gid_t gid;
        char *sources_error; /* require_signed_sources: why the tree was refused; NULL: accepted */

        /* the rebuild (rebuild.c) */
        Rebuild *rebuild;   /* in flight; NULL: idle */
        size_t last_n_bad;  /* nodes with errors after the last rebuild */
        uint64_t generation;
        uint64_t last_rebuild_usec;
        bool recheck_all;   /* build every node (start, reload), not only changed ones */
        NodeState **nodes;  /* pointers stay valid while the array grows */
        size_t n_nodes;
        Hashmap node_index; /* id → NodeState */
        size_t memo_bytes;  /* of all nodes' memos */
        uint64_t host_address_fingerprint; /* of the last reported nodes binding one address */
        uint64_t publish_usec;   /* spent on the phases by the last rebuild */
        uint64_t manifest_usec;  /* spent on MANIFESTs by the last rebuild */

        /* MANIFESTs and signing (upkeep.c) */
        Signer *signer;          /* NULL: MANIFESTs are not signed */
        Signer *previous_signer; /* until every MANIFEST is signed by signer */
        DescribeCache *describe; /* published files already hashed and parsed */
        bool manifests_unsynced; /* MANIFESTs written since the last syncfs */
};

uint64_t now_usec(clockid_t clock);
void node_state_clear_error(NodeState *n);
NodeState *node_state(Manager *m, const char *id);
void node_forget_memo(Manager *m, NodeState *ns);
/* A source changed (path), or the tree must be rescanned (NULL): arms the
 * settle timer. */
void manager_source_changed(void *userdata, const char *path);
/* The next phase of the publish in flight, phase_pause from now: the
 * timer calls manager_rebuild_resume(). */
int manager_arm_phase_timer(Manager *m);
/* Called by the rebuild when it is over, with its count of nodes with
 * errors: runs what was held back. */
void manager_rebuild_done(Manager *m, size_t n_bad);
