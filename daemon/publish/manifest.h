/* SPDX-License-Identifier: MIT */
/* MANIFEST: what a node directory (or a source tree) holds, as canonical
 * JSON (keys sorted, no insignificant whitespace, integers only), made
 * from the files themselves, parsed back, and compared with what a
 * directory holds now. MANIFEST.sig, its detached signature, is the sign
 * module's business. */
#pragma once

#include <sys/stat.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define MANIFEST_NAME "MANIFEST"
#define MANIFEST_SIG_NAME "MANIFEST.sig"
#define MANIFEST_FORMAT 1
/* what a MANIFEST or MANIFEST.sig may weigh */
#define MANIFEST_MAX (256u << 20)

typedef enum ManifestKind {
        MANIFEST_KIND_NODE,   /* a node's output directory */
        MANIFEST_KIND_SOURCE, /* a source tree (fsxds sign) */
        _MANIFEST_KIND_MAX,
        _MANIFEST_KIND_INVALID = -EINVAL,
} ManifestKind;

const char *manifest_kind_to_string(ManifestKind k);
ManifestKind manifest_kind_from_string(const char *s);

typedef struct ManifestFile {
        char *path; /* relative: "eds/web.pb", "common/cds.yaml" */
        uint64_t size;
        char sha256[65];
        /* node manifests: the DiscoveryResponse's type_url and version_info,
         * and its resources' names as a canonical JSON array */
        char *type_url;
        char *version_info;
        char *names_json;
        /* manifest_scan_node(): the file's mode bits (0 in a parsed one) */
        uint32_t mode;
} ManifestFile;

/* How many names a ManifestFile's names_json holds (0 when it is no array). */
size_t manifest_names_count(const char *names_json);

/* A type directory's "..data" symlink (watched_directory mode). */
typedef struct ManifestLink {
        char *type;   /* "eds" */
        char *target; /* "..gen-12" */
} ManifestLink;

typedef struct Manifest {
        ManifestKind kind;
        uint64_t created_usec; /* Unix time */
        /* node manifests */
        char *node;
        uint64_t generation;
        char *schema_sha256;
        ManifestLink *links; /* sorted by type */
        size_t n_links;
        ManifestFile *files; /* sorted by path (bytes) */
        size_t n_files;
} Manifest;

void manifest_done(Manifest *m);

/* The canonical JSON of m, with a final newline. */
void manifest_format(const Manifest *m, Buf *out);
/* One string, and one file's entry, as manifest_format() writes them. */
void manifest_put_string(Buf *b, const char *s, size_t len);
void manifest_put_file(Buf *b, const ManifestFile *f, bool node);
/* A node MANIFEST made from the previous one (old, as manifest_format()
 * wrote it) without describing every file again: the entries at the
 * sorted paths touched are replaced by head's files of those paths (sorted;
 * a touched path head has no file for is dropped, one old has not is
 * inserted in order), every other entry is copied as it is, and the rest
 * (time, generation, node, schema, links) is head's. The work is copying
 * old's bytes. -EBADMSG when old is not such a MANIFEST. */
int manifest_patch(const char *old, size_t old_len, const Manifest *head, char *const *touched, size_t n_touched,
                   Buf *out);
/* Parses a MANIFEST. Anything but the canonical form of a known format is
 * refused: the bytes must be exactly what manifest_format() makes of what
 * was read, so one manifest has one spelling. Returns 0 or -EBADMSG with
 * the reason in *ret_error. */
int manifest_parse(const char *data, size_t len, Manifest *ret, char **ret_error);

/* Descriptions of files already read (hash, type_url, version_info,
 * names), by inode, size and mtime: a file hard-linked into a thousand
 * node directories is read once. Bounded to 8 MiB. */
typedef struct DescribeCache DescribeCache;
DescribeCache *describe_cache_new(void);
DescribeCache *describe_cache_free(DescribeCache *c);

typedef void (*ManifestReport)(void *userdata, const char *path, const char *message);

/* A node MANIFEST's entry for one file of a build, made from the build's
 * own digest, never from the node directory: path ("eds/web.pb"), its
 * sha256 (hex) and its bytes when at hand (data NULL: they are read from
 * the store object named sha256 below store_fd, and -EBADMSG when that
 * object's bytes are not the digest: a poisoned object is never
 * described). Descriptions are cached by sha256 in cache (may be NULL).
 * Returns 0 or -errno. */
int manifest_describe_built(DescribeCache *cache, int store_fd, const char *path, const char sha256[65],
                            const uint8_t *data, size_t len, ManifestFile *ret);

/* What a node directory holds now: in each type directory every "*.pb"
 * (through "..data" in watched_directory mode) and "..data"'s target.
 * Only files and links are filled in (kind node, nothing else). A file that
 * cannot be read, or a "*.pb" symlink that is not "..data/<name>", is
 * reported and left out. cache may be NULL. Returns 0, or -errno when the
 * node directory cannot be read. */
int manifest_scan_node(int node_fd, DescribeCache *cache, ManifestReport report, void *userdata, Manifest *ret);
/* The source files of a tree (every *.yaml, *.yml and *.json the compiler
 * would read, as build_list_sources() finds them), kind source. */
int manifest_scan_sources(const char *dir, ManifestReport report, void *userdata, Manifest *ret);

/* Reports every difference between what a manifest lists and what was
 * scanned: a listed file missing or with another size or sha256, an
 * unlisted file, a "..data" pointing elsewhere. Returns how many. */
size_t manifest_compare(const Manifest *listed, const Manifest *scanned, ManifestReport report, void *userdata);

/* Reads <dir>/MANIFEST and <dir>/MANIFEST.sig (the signature may be
 * absent: *ret_sig NULL). The pair is read so that a concurrent
 * replacement is noticed: when MANIFEST changed while the signature was
 * read, both are read again. Returns 0, -ENOENT without MANIFEST, or
 * -errno. */
int manifest_read_pair(int dir_fd, char **ret_data, size_t *ret_len, uint8_t **ret_sig, size_t *ret_sig_len);
/* The highest generation any node's MANIFEST under output_dir names (0:
 * none): where the counter goes on when state_dir's was lost. */
uint64_t manifest_highest_generation(const char *output_dir);
/* A file of dir_fd (MANIFEST, MANIFEST.sig) read whole, openat() flags
 * added (O_NOFOLLOW), with its stat before the read (ret_st may be NULL);
 * -EBADFD when not a regular file. */
int manifest_read_at(int dir_fd, const char *name, int flags, char **ret, size_t *ret_len, struct stat *ret_st);
/* The MANIFEST's bytes, when it still has identity id (device, inode,
 * size, mtime, ctime, as manifest_write_pair_id() took them from the
 * descriptor written); -ESTALE when not. */
int manifest_read_same(int dir_fd, const struct stat *id, char **ret_data, size_t *ret_len);
/* Whether name is a temporary name manifest_write_pair() makes in a
 * node directory (".MANIFEST.tmp.<pid>", ".MANIFEST.sig.tmp.<pid>"). */
bool manifest_is_tmp_name(const char *name);
/* Removes what manifest_write_pair() leaves in dir_fd when it is killed
 * half way (its temporary names, nothing else). Returns how many. */
int manifest_clean_tmp(int dir_fd);
/* Entries of a node directory that fsxdsd did not put there: in the node
 * directory anything but the type directories, MANIFEST and MANIFEST.sig;
 * in a type directory anything but "*.pb" (which manifest_compare()
 * judges), "..data" and generation directories. Each is reported
 * ("not fsxdsd's"), and left alone. Returns how many. */
size_t manifest_scan_strays(int node_fd, ManifestReport report, void *userdata);
/* Replaces <dir>/MANIFEST.sig (removed when sig is NULL), then
 * <dir>/MANIFEST, each by a rename, files of the given mode and group
 * (gid -1: left alone). With sync, data and directory are fsynced. */
int manifest_write_pair(int dir_fd, const void *data, size_t len, const void *sig, size_t sig_len, mode_t mode,
                        gid_t gid, bool sync);
/* The same, with the identity of the MANIFEST written (manifest_identity()),
 * taken from the descriptor written, not by name. */
int manifest_write_pair_id(int dir_fd, const void *data, size_t len, const void *sig, size_t sig_len, mode_t mode,
                           gid_t gid, bool sync, struct stat *ret_id);
