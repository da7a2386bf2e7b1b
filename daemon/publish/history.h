/* SPDX-License-Identifier: MIT */
/* A node's generation history in state_dir (statedir.h has the layout):
 * one small entry per generation, recording the change it made both ways
 * (path, new sha256, old sha256), and hard links of the store objects the
 * entries name. A generation is rebuilt from the node's last good copy
 * (nodes/ID/MANIFEST, the newest generation) by applying the newer
 * entries' changes backwards, then checked against the entry's digest of
 * its whole file list. Used by fsxdsd (recording, pruning, rollback) and
 * by fsxds (history, rollback). */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "build.h"
#include "sha256.h"
#include "util.h"

#define HISTORY_FORMAT 1
#define HISTORY_DEFAULT 10 /* entries kept per node (history: in fsxds.yaml) */
#define HISTORY_MAX 1000
/* what an entry may weigh */
#define HISTORY_ENTRY_MAX (64u << 20)

typedef struct HistoryChange {
        char *path;
        char sha256[65]; /* the generation's; "" when it removed the file */
        char was[65];    /* the one before; "" when it added the file */
} HistoryChange;

typedef struct HistoryEntry {
        char *node;
        uint64_t generation;
        uint64_t created_usec; /* Unix time */
        uint64_t n_files;
        uint64_t rollback_of;  /* 0, or the generation this one rolled back to */
        char files_digest[65]; /* the set of its files: history_files_digest() */
        char source_sha256[65]; /* over "relative-path sha256\n" of the sources read (common/, nodes/ID/) */
        HistoryChange *changes; /* sorted by path */
        size_t n_changes;
} HistoryEntry;

typedef struct HistoryFile {
        char *path;
        char sha256[65];
} HistoryFile;

void history_entry_done(HistoryEntry *e);
void history_files_free(HistoryFile *f, size_t n);

/* The canonical JSON of e (MANIFEST's rules: keys sorted, no whitespace
 * but the final newline), and its parser, which accepts only that
 * spelling. Returns 0 or -EBADMSG with *ret_error. */
void history_entry_format(const HistoryEntry *e, Buf *out);
int history_entry_parse(const char *data, size_t len, HistoryEntry *ret, char **ret_error);

/* One line of a source_sha256 digest: "path sha256\n". */
void history_digest_line(Sha256 *h, const char *path, const char *sha256);
/* files_digest: the sum modulo 2^256 of SHA-256("path\0sha256") over
 * every file (each term a big-endian 256-bit number), in hex: a digest of
 * the set that a generation's changes update alone (a file's old term
 * taken away, its new one added), so that recording an entry costs
 * O(changes), not O(files). The objects themselves are checked against
 * their sha256 when read. */
typedef struct HistorySum {
        uint8_t v[32];
} HistorySum;
void history_sum_update(HistorySum *s, const char *path, const char *sha256, bool add);
void history_sum_hex(const HistorySum *s, char ret[65]);
void history_files_digest(const HistoryFile *f, size_t n, char ret[65]);

/* STATE_DIR/history/ID, STATE_DIR/pin/ID */
char *history_dir(const char *state_dir, const char *node);

/* The generations recorded for node, ascending (none: 0 and *ret NULL). */
int history_list(const char *state_dir, const char *node, uint64_t **ret, size_t *ret_n);
/* Reads entry gen of node; -ENOENT, or -EBADMSG with *ret_error. */
int history_read(const char *state_dir, const char *node, uint64_t gen, HistoryEntry *ret, char **ret_error);
/* Records e: links each new object of its changes from
 * STATE_DIR/nodes/.store into history/ID/objects (skipped when there),
 * then writes the entry (a temporary name and a rename; no fsync: the
 * caller's syncfs makes it durable). Returns 0 or -errno. */
int history_record(const char *state_dir, const HistoryEntry *e);
/* Keeps the newest keep entries of gens (ascending, *n of them, updated).
 * An entry dropped unlinks each object of its changes (either side) that
 * no kept entry names and that is not live (a file of the newest
 * generation, which no kept entry may change: live(userdata, path, sha256)),
 * and tells unlinked its inode: the store object it linked may now be
 * collected (store_unlinked()). So history/ID/objects holds every object
 * of every kept generation: a file is linked when a generation adds or
 * changes it and stays while some kept generation holds it. how (may be
 * NULL, and each of its fields) gives live, unlinked and the entries
 * known. keep 0 removes the node's history. Returns how
 * many entries were dropped, or -errno. */
/* whether the newest generation holds object sha256, which a dropped
 * entry names at path (fsxdsd looks at that path alone: a file's bytes
 * name its type and its resources, and so its path, so no two paths of a
 * node ever hold the same object) */
typedef bool (*HistoryLive)(void *userdata, const char *path, const char *sha256);
typedef void (*HistoryUnlinked)(void *userdata, ino_t ino);
typedef struct HistoryPrune {
        /* the entries of gens already in memory (parallel to gens; an
         * element NULL: read from the disk), owned by the array: those
         * dropped are freed, the rest moved down with gens */
        HistoryEntry **known;
        HistoryLive live;
        HistoryUnlinked unlinked;
        void *userdata;
} HistoryPrune;
int history_prune(const char *state_dir, const char *node, unsigned keep, uint64_t *gens, size_t *n,
                  const HistoryPrune *how);
/* Removes STATE_DIR/history/ID (fsxds forget, history: 0): 1, 0 when
 * absent, -errno. */
int history_remove(const char *state_dir, const char *node);

/* The files (path, sha256; sorted) of generation gen of node: the last
 * good copy's MANIFEST, whose generation must be the newest entry's,
 * with the newer entries' changes undone, checked against the entry's
 * files_digest. -ENOENT (gen is not recorded) or another -errno, always
 * with *ret_error saying why ("generation 7 of web cannot be rebuilt: …"). */
int history_rebuild(const char *state_dir, const char *node, uint64_t gen, HistoryFile **ret, size_t *ret_n,
                    char **ret_error);
/* The bytes of object sha256 of node: history/ID/objects/SHA, else
 * nodes/.store/SHA (never through a symlink), checked against the digest:
 * -EBADMSG when they differ, -ENOENT when neither is there. */
int history_read_object(const char *state_dir, const char *node, const char *sha256, uint8_t **ret, size_t *ret_len);
/* Generation gen of node as a build: every file read (history_read_object())
 * and described (type, resources, version). Errors as history_rebuild(). */
int history_load_output(const char *state_dir, const char *node, uint64_t gen, NodeOutput *ret, char **ret_error);
