/* SPDX-License-Identifier: MIT */
/* A published node directory on disk, as planning (plan.c) and the phases
 * (publish.c) see it: the names of the watched_directory layout and of
 * temporaries, and directory reads and opens on directory fds that never
 * follow a symlink. Internal to the publish floor. */
#pragma once

#include <dirent.h>
#include <sys/types.h>

#include "util.h"

#define DIR_MODE 0750
#define TMP_PREFIX ".tmp."
#define DATA_LINK "..data"
#define DATA_TMP "..data.tmp"
#define GEN_PREFIX "..gen-"

/* getdents64 straight on a directory fd we hold: no second open, no
 * fdopendir, which for thousands of small directories is half the cost.
 * The fd must be fresh (or rewound); "." and ".." are skipped. */
typedef struct DirReader {
        int fd;
        size_t pos, len;
        bool eof;
        uint8_t buf[16384] __attribute__((aligned(8)));
} DirReader;

int nodedir_open(int dirfd, const char *name);
/* Opens a directory, creating it (DIR_MODE, gid, whatever the umask) when
 * missing. Never through a symlink: a planted one fails with -ELOOP or
 * -ENOTDIR. */
int nodedir_make(int dirfd, const char *name, gid_t gid, bool *ret_made);
/* nodedir_make() for a name that is fsxds's own (a node or type directory):
 * a symlink or any other non-directory there is unlinked, never followed,
 * and the directory made in its place. */
int nodedir_make_replacing(int dirfd, const char *name, gid_t gid, bool *ret_made);
void nodedir_reader_init(DirReader *r, int fd);
/* 1 and an entry, 0 at the end, or -errno. */
int nodedir_read(DirReader *r, struct dirent64 **ret);
bool nodedir_is_gen_name(const char *name, uint64_t *ret);
bool nodedir_is_pb_name(const char *name);
/* The symlink target of "<name>" in watched_directory mode. */
char *nodedir_data_target(const char *name);
/* readlinkat into a fresh string; -EINVAL when it is no symlink. */
int nodedir_read_link(int dirfd, const char *name, char **ret);
