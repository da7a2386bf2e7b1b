/* SPDX-License-Identifier: MIT */
/* OUTPUT_DIR/.fsxds/status.json, what fsxdsd last published: written by
 * the daemon after every rebuild, read by `fsxds status`. The schema lives
 * here only (version 1):
 *   { "version": 1, "generation": N, "time_usec": N, "backend": S,
 *     "verify_passes": N,
 *     "publish_mode": S, "source_dir": S, "output_dir": S,
 *     "signing": null | { "subject": S, "not_after": N },
 *     "signed_sources": null | { "ca": S, "error": S | null },
 *     "watch": { "backend": S, "degraded": B, "unwatched": N,
 *                "limit": null | { "name": S, "value": N },
 *                "rescan_interval_usec": N },
 *     "nodes": { ID: { "generation": N, "published_usec": N, "files": N,
 *                      "listeners": N, "clusters": N, "present": B,
 *                      "removal_blocked": B, "manifest_current": B,
 *                      "error": null | { "file": S, "line": N, "column": N,
 *                                        "path": S, "message": S,
 *                                        "rule": S | null, "count": N },
 *                      "state_error": S (only when its last good copy in
 *                                        state_dir is not saved, or was
 *                                        refused on restore),
 *                      "allow_removal": { "armed": true, "expires_usec": N }
 *                                       (only while fsxds allow-removal's
 *                                       allowance is armed) } },
 *     "retry_usec": N (only while failed publishes wait for their retry),
 *     "written_usec": N (when this status was written),
 *     "source_error": null | S (the tree as a whole refused: unreadable,
 *                     missing, nodes/ not a directory, a signature),
 *     "daemon": { "pid": N, "boot_id": S, "start_ticks": N,
 *                 "started_usec": N, "stopped_usec": N | null },
 *     "ads": {...} (only with ads: configured: the xDS server;
 *            status-ads.h, which also has the per-node "ads" object) }
 * "daemon" says which process wrote the status: `fsxds status` checks it
 * live (status_daemon_state()), since a status stays on disk after its
 * daemon stopped; "stopped_usec" is set by the last status a daemon
 * writes as it exits cleanly.
 *
 * fsxds's own files in OUTPUT_DIR live in .fsxds/, out of the node ids'
 * namespace (a node id never starts with '.'). The status must be
 * writable when OUTPUT_DIR is full, when it matters most, so it needs no
 * new space: two slot files, status.0.json and status.1.json, each with
 * room reserved beyond its end (fallocate, FALLOC_FL_KEEP_SIZE), and
 * status.json a symlink to the one that is whole, flipped by rename (a
 * short symlink takes no data block). A write goes to the other slot: a
 * fresh file renamed over it when there is space (a reader that has the
 * old one open keeps it whole), else in place into its reserved room,
 * padded with spaces to its size (JSON allows them), then the link is
 * flipped. When even that fails (the status outgrew its slot on a full
 * file system), status.json keeps the last whole status and the symlink
 * status-error, whose target says why, flags it until a write succeeds. */
#pragma once

#include <sys/types.h>

#include "diag.h"
#include "status-ads.h"
#include "util.h"

/* fsxds's own directory in OUTPUT_DIR, and the names in it */
#define STATUS_DIR ".fsxds"
#define STATUS_FILE_NAME "status.json"
#define STATUS_ERROR_NAME "status-error"
#define STATUS_VERSION 1
/* what status.json may weigh */
#define STATUS_MAX_SIZE (64u << 20)
/* a number absent from a status file that was read (not -1: a file
 * written by hand may hold -1, and fsxds status shows it as it is) */
#define STATUS_UNSET INT64_MIN

typedef struct StatusNode {
        char *id;
        bool malformed; /* read: its entry is not an object; nothing else is set */
        int64_t generation, published_usec;
        int64_t n_files, n_listeners, n_clusters;
        bool present, removal_blocked, manifest_current;
        Diag error;      /* message NULL: no error */
        int64_t n_errors;
        char *state_error; /* NULL: its last good copy is fine */
        /* a removal allowance (fsxds allow-removal) is armed until this
         * CLOCK_REALTIME µs, or the node's next generation; 0: none
         * (1: armed, its expiry unknown) */
        int64_t allow_removal_expires_usec;
        /* pinned by fsxds rollback (pin_generation 0: not pinned): the
         * generation published, the one it rolled back to, since when, and
         * whether the tree would publish something else (held) */
        int64_t pin_generation, pin_rollback_of, pin_since_usec;
        bool pin_held;
        StatusAdsNode *ads; /* the xDS server's view of it (status-ads.h); NULL: none */
} StatusNode;

/* The process that wrote a status: pid, the kernel's boot id and its
 * start time in clock ticks since boot (/proc/PID/stat's 22nd field), so
 * a pid used again by another process is told apart; without a boot id,
 * /proc/stat's btime plus those ticks must be started_usec (within a
 * minute), which tells a process of another boot apart. */
typedef struct StatusDaemon {
        int64_t pid;          /* STATUS_UNSET: the status does not say */
        char *boot_id;
        int64_t start_ticks;
        int64_t started_usec; /* CLOCK_REALTIME */
        int64_t stopped_usec; /* STATUS_UNSET or 0: it had not stopped when it wrote */
} StatusDaemon;

typedef enum DaemonState {
        DAEMON_RUNNING,  /* that very process is alive */
        DAEMON_STOPPED,  /* it wrote its last status as it stopped */
        DAEMON_GONE,     /* it is not running: killed, crashed, or a reboot since */
        DAEMON_UNKNOWN,  /* the status does not say, or /proc cannot tell */
        DAEMON_STARTING, /* (fsxds status) gone or stopped, but a new fsxdsd holds state_dir: starting */
} DaemonState;

typedef struct Status {
        int64_t generation, time_usec;
        char *backend, *publish_mode, *source_dir, *output_dir;
        char *signing_subject; /* NULL: MANIFESTs are not signed */
        int64_t signing_not_after;
        char *signed_sources_ca;    /* NULL: signed sources are not required */
        char *signed_sources_error; /* why the tree was refused; NULL: accepted */
        StatusNode *nodes;
        size_t n_nodes;
        /* "watch": degraded when directories are rescanned, not watched
         * (out of inotify watches or instances); absent: watch_known false */
        bool watch_known, watch_degraded;
        int64_t watch_unwatched, watch_limit_value, watch_rescan_usec;
        char *watch_limit_name; /* "fs.inotify.max_user_watches", ...; NULL: none reached */
        int64_t retry_usec; /* CLOCK_REALTIME of the next retry of failed publishes; 0 or STATUS_UNSET: none */
        int64_t verify_passes; /* verification passes completed since start */
        int64_t written_usec;  /* CLOCK_REALTIME of the write; STATUS_UNSET: older file */
        char *source_error;    /* the tree as a whole refused; NULL: read */
        StatusDaemon daemon;
        StatusAds *ads;        /* the xDS server (status-ads.h); NULL: ads: not configured */
} Status;

/* The calling process, as a status names its writer (boot_id NULL where
 * /proc/sys is hidden, as under ProcSubset=pid). Returns 0 or -errno
 * (/proc/self/stat unreadable: the pid is still set). */
int status_daemon_self(StatusDaemon *ret);
/* Whether the daemon that wrote the status still runs. */
DaemonState status_daemon_state(const StatusDaemon *d);

/* Frees what the Status owns (every string is owned) and clears it. */
void status_done(Status *s);
/* Appends an empty node entry (numbers STATUS_UNSET) and returns it. */
StatusNode *status_add_node(Status *s, const char *id);

/* OUTPUT_DIR/.fsxds/status.json, without a doubled slash. */
char *status_path(const char *output_dir);

/* The JSON text of s, one line. */
void status_format(const Status *s, Buf *ret);
/* Writes OUTPUT_DIR/.fsxds/status.json atomically (see above; .fsxds/
 * made, mode 0750), mode 0640. Returns 0 or -errno when it could not be
 * written (status-error then set when possible). When gid is not
 * (gid_t) -1 the file (and a new .fsxds/) is given to that group (readable
 * by the output's readers, like the files it describes): *ret_chown_error
 * is 0, or -errno when that failed (the file stays written). */
int status_write(const char *output_dir, const Status *s, gid_t gid, int *ret_chown_error);

/* Parses a status file. Numbers that are absent are STATUS_UNSET, strings
 * NULL; unknown keys are ignored; a node entry that is not an object is
 * kept with malformed set; a node's "error" that is anything but null is
 * an error (message "error" when it has none). Returns 0, or with
 * *ret_error (optional) saying what is wrong:
 *   -EBADMSG          not JSON: "line:column: error: ..."
 *   -EINVAL           JSON, not a status file: "not a status file of
 *                     fsxdsd (no \"version\")", "\"nodes\" is not an object"
 *   -EPROTONOSUPPORT  another version: "status file version N, this fsxds
 *                     reads version 1" */
int status_parse(const char *data, size_t len, Status *ret, char **ret_error);
/* Reads and parses OUTPUT_DIR/.fsxds/status.json: -ENOENT when fsxdsd has
 * not published there yet, -errno when unreadable, else as status_parse(). */
int status_read(const char *output_dir, Status *ret, char **ret_error);
/* The bytes of OUTPUT_DIR/.fsxds/status.json (NUL-terminated): the slot its
 * symlink names (never another link or anything outside .fsxds/: -EXDEV),
 * read again when a write switched it meanwhile; a regular file there is
 * read as it is. -ENOENT when there is none. */
int status_read_file(const char *output_dir, char **ret, size_t *ret_len);
/* Whether the last status write failed: 1 with why (status-error's
 * target) and since when (CLOCK_REALTIME µs), 0 when it did not, -errno. */
int status_read_write_error(const char *output_dir, char **ret_reason, int64_t *ret_usec);
/* The layout before .fsxds/: OUTPUT_DIR/status.json, fsxds's own file,
 * removed when it is a regular file (a directory of that name is a
 * node's). Returns 1 when removed, 0 when there was none, or -errno. */
int status_remove_legacy(const char *output_dir);
/* Removes what a crash can leave of status.json's atomic writes:
 * "OUTPUT_DIR/status.json.tmp.<pid>", and in "OUTPUT_DIR/.fsxds/" (when
 * it exists) every "<name>.tmp.<pid>", fsxds's own temporary names and
 * nothing else. Returns how many, or -errno. */
int status_clean_tmp(const char *output_dir);
