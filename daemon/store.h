/* SPDX-License-Identifier: MIT */
/* The content-addressed store: every published file is written once into
 * <output_dir>/.store/<sha256 hex> and hard-linked from there into the node
 * directories, so a file shared by a thousand nodes is one inode and costs
 * each node a link and a rename, not a write. It lives on the output
 * filesystem because links cannot cross filesystems. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct Store Store;

/* Creates output_dir (0750, group gid) and <output_dir>/.store (0750, group
 * gid) when missing and opens them. Objects are 0640, group gid; gid ==
 * (gid_t) -1 leaves the group alone. The store is durable (data and
 * directories are fsynced) unless the output filesystem is tmpfs or ramfs. */
int store_open(const char *output_dir, gid_t gid, Store **ret);
Store *store_free(Store *s);

/* Stores data and returns its object name (64 lowercase hex digits).
 * Idempotent: an object already present is not rewritten (only its mode and
 * group are corrected). A new object is written through O_TMPFILE + linkat
 * (or a ".tmp." name + renameat2(RENAME_NOREPLACE) where O_TMPFILE is not
 * available), fsynced first when the store is durable, so a name in the
 * store always holds complete bytes. */
int store_put(Store *s, const void *data, size_t len, char ret_name[65]);

/* Unlinks objects nothing else links (st_nlink == 1) and temporary names
 * left by a crash. Returns how many names were removed. Must not run
 * between publish_plan() and the phases that link the planned objects. */
int store_gc(Store *s);

int store_dirfd(const Store *s);    /* <output_dir>/.store */
int store_output_fd(const Store *s); /* <output_dir> */
gid_t store_gid(const Store *s);
bool store_durable(const Store *s);
