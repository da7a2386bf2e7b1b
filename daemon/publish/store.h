/* SPDX-License-Identifier: MIT */
/* The content-addressed store: every published file is written once into
 * <output_dir>/.store/<sha256 hex> and hard-linked from there into the node
 * directories, so a file shared by a thousand nodes is one inode and costs
 * each node a link and a rename, not a write. It lives on the output
 * filesystem because links cannot cross filesystems. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct Store Store;

/* The mode of every object, and so of every published file. */
#define STORE_OBJECT_MODE 0640

/* Creates output_dir (0750, group gid) and <output_dir>/.store (0750, group
 * gid) when missing and opens them. Objects are 0640, group gid; gid ==
 * (gid_t) -1 leaves the group alone. The store is durable (data and
 * directories are synced) unless the output filesystem is tmpfs or ramfs.
 * Opening runs store_gc(): after a crash, objects that no node links may
 * never have reached the disk whole. A symlink or any other non-directory
 * at .store is unlinked (never followed) and the store made anew;
 * store_replaced() says so. */
int store_open(const char *output_dir, gid_t gid, Store **ret);
Store *store_free(Store *s);
bool store_replaced(const Store *s);

/* Stores data and returns its object name (64 lowercase hex digits).
 * Idempotent: an object already present is not rewritten (its mode and
 * group are corrected when the store first sees it). A new object is written through O_TMPFILE + linkat
 * (or a ".tmp." name + renameat2(RENAME_NOREPLACE) where O_TMPFILE is not
 * available), so a name in the store never shows partial bytes. A durable
 * store's new objects reach the disk at the next store_sync(), which must
 * come before anything links them into place. Objects the store has seen
 * are remembered: putting them again costs no system call (an object
 * removed behind the store's back is noticed at the next store_gc(), or
 * when store_forget() is told). */
int store_put(Store *s, const void *data, size_t len, char ret_name[65]);
/* The same when the caller already knows the sha256 (hex) of data. */
int store_put_hashed(Store *s, const void *data, size_t len, const char name[65], char ret_name[65]);

/* The inode of an object this store put or found (0: unknown). */
ino_t store_object_inode(const Store *s, const char *name);
/* Whether ino (on the output filesystem) is a known object's inode. */
bool store_has_inode(const Store *s, ino_t ino);
/* The object is not there after all (linking it failed with ENOENT): the
 * next store_put() of its bytes writes it again. */
void store_forget(Store *s, const char *name);

/* When durable: one syncfs(2) of the output filesystem if objects were
 * written since the last call (or always, with force). */
int store_sync(Store *s, bool force);

/* Unlinks objects nothing else links (st_nlink == 1) and temporary names
 * left by a crash, and rebuilds what the store remembers from the disk.
 * Returns how many names were removed. Must not run between the put of an
 * object and the link that places it (publish_plan() and its phases). */
int store_gc(Store *s);
/* Tells the store a link to ino was replaced or unlinked: its object may
 * be unreferenced now. */
void store_unlinked(Store *s, ino_t ino);
/* The incremental store_gc(): checks only objects put since the last call
 * and those store_unlinked() named, with a full store_gc() every 64th
 * call. Returns how many objects were removed. Same caveat as store_gc(). */
int store_collect(Store *s);

const char *store_output_dir(const Store *s);
/* Re-hashes every object; one whose bytes no longer match its name (a
 * published file edited in place changes its object too) is removed from
 * the store, so the next plan compares the live files by content and
 * republishes them. Returns how many were removed. */
int store_verify(Store *s);
/* The same for one object (name: 64 hex digits), when verification found
 * a file that links it altered: re-hashed, and dropped from the store
 * (unlinked and forgotten: never linked again, the next put writes it
 * anew) when its bytes are not what its name says; when they are, its
 * mode and group are put right (a chmod of any of its links is its own).
 * Returns 1 when dropped, 0 when good or unknown to the store, -errno. */
int store_check_object(Store *s, const char *name);

/* The objects the store holds and the sum of their sizes (each object
 * once, however many nodes link it): kept as objects are put, collected
 * and dropped, so asking costs no system call. An object removed behind
 * the store's back counts until the next store_gc() or store_forget(). */
size_t store_n_objects(const Store *s);
uint64_t store_bytes(const Store *s);

int store_dirfd(const Store *s);     /* <output_dir>/.store */
int store_output_fd(const Store *s); /* <output_dir> */
gid_t store_gid(const Store *s);
bool store_durable(const Store *s);
/* Nothing (no Envoy) watches the directories this store's objects are
 * linked into (state_dir's copies): a name not there yet is made with one
 * link, not a link and a rename, which is the event Envoy reacts to. */
void store_set_unwatched(Store *s);
bool store_unwatched(const Store *s);
