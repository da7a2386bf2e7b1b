/* SPDX-License-Identifier: MIT */
/* OUTPUT_DIR/status.json, what fsxdsd last published: written by the
 * daemon after every rebuild, read by `fsxds status`. The schema lives
 * here only (version 1):
 *   { "version": 1, "generation": N, "time_usec": N, "backend": S,
 *     "publish_mode": S, "source_dir": S, "output_dir": S,
 *     "signing": null | { "subject": S, "not_after": N },
 *     "signed_sources": null | { "ca": S, "error": S | null },
 *     "nodes": { ID: { "generation": N, "published_usec": N, "files": N,
 *                      "listeners": N, "clusters": N, "present": B,
 *                      "removal_blocked": B, "manifest_current": B,
 *                      "error": null | { "file": S, "line": N, "column": N,
 *                                        "path": S, "message": S,
 *                                        "rule": S | null, "count": N },
 *                      "state_error": S (only when its last good copy in
 *                                        state_dir is not saved, or was
 *                                        refused on restore) } } } */
#pragma once

#include <sys/types.h>

#include "diag.h"
#include "util.h"

#define STATUS_FILE_NAME "status.json"
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
} StatusNode;

typedef struct Status {
        int64_t generation, time_usec;
        char *backend, *publish_mode, *source_dir, *output_dir;
        char *signing_subject; /* NULL: MANIFESTs are not signed */
        int64_t signing_not_after;
        char *signed_sources_ca;    /* NULL: signed sources are not required */
        char *signed_sources_error; /* why the tree was refused; NULL: accepted */
        StatusNode *nodes;
        size_t n_nodes;
} Status;

/* Frees what the Status owns (every string is owned) and clears it. */
void status_done(Status *s);
/* Appends an empty node entry (numbers STATUS_UNSET) and returns it. */
StatusNode *status_add_node(Status *s, const char *id);

/* OUTPUT_DIR/status.json, without a doubled slash. */
char *status_path(const char *output_dir);

/* The JSON text of s, one line. */
void status_format(const Status *s, Buf *ret);
/* Writes OUTPUT_DIR/status.json atomically, mode 0640. Returns 0 or
 * -errno when it could not be written. When gid is not (gid_t) -1 the file
 * is then given to that group (readable by the output's readers, like the
 * files it describes): *ret_chown_error is 0, or -errno when that failed
 * (the file stays written). */
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
/* Reads and parses OUTPUT_DIR/status.json: -ENOENT when fsxdsd has not
 * published there yet, -errno when unreadable, else as status_parse(). */
int status_read(const char *output_dir, Status *ret, char **ret_error);
