/* SPDX-License-Identifier: MIT */
/* The content-addressed store under <output_dir>/.store: objects named by
 * the sha256 of their bytes, written once, hard-linked into node
 * directories by publish, unlinked by store_gc() when no node links them. */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "hashmap.h"
#include "store.h"
#include "sha256.h"
#include "util.h"

#define STORE_DIR ".store"
#define STORE_TMP_PREFIX ".tmp."
#define OBJECT_MODE STORE_OBJECT_MODE
#define DIR_MODE 0750
/* store_collect() runs a full store_gc() every this many calls */
#define FULL_GC_EVERY 64

/* What the store knows it holds: objects it wrote or checked, so that a
 * thousand nodes putting the same bytes cost one fstatat, and an inode in a
 * node directory can be told to be some object without reading it. */
typedef struct StoreObject {
        char name[65];
        bool dead;      /* collected; the hashmaps keep borrowed keys until the next full gc */
        bool suspected; /* in the suspects list */
        ino_t ino;
        uint64_t size;
} StoreObject;

struct Store {
        char *output_dir;
        int output_fd;
        int dirfd;
        gid_t gid;
        bool durable;
        bool unsynced;   /* objects written since the last store_sync() */
        bool no_tmpfile; /* O_TMPFILE or linking it failed once: use named temporaries */
        bool replaced;   /* a non-directory at .store was removed by store_open() */
        bool unwatched;  /* nothing watches the directories its objects are linked into */

        StoreObject **objects;
        size_t n_objects;
        Hashmap by_name; /* name -> StoreObject */
        Hashmap by_ino;  /* ino -> StoreObject */
        StoreObject **suspects; /* objects that may have lost their last link */
        size_t n_suspects;
        unsigned n_collect;
        size_t n_live;       /* objects not dead, and their bytes (store_n_objects()) */
        uint64_t bytes_live;
};

static void index_clear(Store *s) {
        for (size_t i = 0; i < s->n_objects; i++)
                free(s->objects[i]);
        free(s->objects);
        s->objects = NULL;
        s->n_objects = 0;
        s->n_live = 0;
        s->bytes_live = 0;
        hashmap_free(&s->by_name);
        hashmap_free(&s->by_ino);
}

static StoreObject *index_add(Store *s, const char *name, ino_t ino, uint64_t size) {
        StoreObject *o = xmalloc(sizeof(StoreObject));
        memcpy(o->name, name, 65);
        o->ino = ino;
        o->size = size;
        s->n_live++;
        s->bytes_live += size;
        o->dead = o->suspected = false;
        s->objects = xrealloc(s->objects, (s->n_objects + 1) * sizeof(StoreObject *));
        s->objects[s->n_objects++] = o;
        hashmap_put(&s->by_name, o->name, 64, o);
        hashmap_put(&s->by_ino, (const char *) &o->ino, sizeof(o->ino), o);
        return o;
}

/* Gone from the store (collected, dropped or found missing). */
static void index_dead(Store *s, StoreObject *o) {
        if (o->dead)
                return;
        o->dead = true;
        s->n_live--;
        s->bytes_live -= o->size;
}

static StoreObject *index_by_name(const Store *s, const char *name) {
        StoreObject *o = hashmap_get(&s->by_name, name, 64);
        return o && !o->dead ? o : NULL;
}

static StoreObject *index_by_ino(const Store *s, ino_t ino) {
        StoreObject *o = hashmap_get(&s->by_ino, (const char *) &ino, sizeof(ino));
        return o && !o->dead && o->ino == ino ? o : NULL;
}

static void suspect(Store *s, StoreObject *o) {
        if (o->suspected)
                return;
        o->suspected = true;
        s->suspects = xrealloc(s->suspects, (s->n_suspects + 1) * sizeof(StoreObject *));
        s->suspects[s->n_suspects++] = o;
}

/* Temporary names only have to differ from crash leftovers and from each
 * other; unpredictability buys nothing in a 0750 directory we own. */
static uint64_t tmp_counter;

static void tmp_name(char *buf, size_t size, const char *name) {
        if (tmp_counter == 0 && getrandom(&tmp_counter, sizeof(tmp_counter), GRND_NONBLOCK) != sizeof(tmp_counter))
                tmp_counter = (uint64_t) getpid() << 32;
        snprintf(buf, size, STORE_TMP_PREFIX "%.64s.%016llx", name, (unsigned long long) ++tmp_counter);
}

static bool is_object_name(const char *name) {
        size_t n = 0;
        for (; name[n]; n++)
                if (!((name[n] >= '0' && name[n] <= '9') || (name[n] >= 'a' && name[n] <= 'f')))
                        return false;
        return n == 64;
}

/* Opens (creating when missing) a directory below dirfd, never through a
 * symlink. A directory created here gets mode and gid regardless of umask. */
static int open_or_make_dir(int dirfd, const char *name, gid_t gid) {
        bool made = false;
        if (mkdirat(dirfd, name, DIR_MODE) >= 0)
                made = true;
        else if (errno != EEXIST)
                return -errno;
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (made && (fchmod(fd, DIR_MODE) < 0 || (gid != (gid_t) -1 && fchown(fd, (uid_t) -1, gid) < 0))) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

int store_open(const char *output_dir, gid_t gid, Store **ret) {
        assert(output_dir);
        assert(ret);

        bool made = false;
        if (mkdir(output_dir, DIR_MODE) >= 0)
                made = true;
        else if (errno == ENOENT) {
                _cleanup_free_ char *parent = xstrdup(output_dir);
                char *slash = strrchr(parent, '/');
                if (slash && slash != parent) {
                        *slash = 0;
                        int r = mkdir_p(parent, 0755);
                        if (r < 0)
                                return r;
                }
                if (mkdir(output_dir, DIR_MODE) < 0 && errno != EEXIST)
                        return -errno;
                made = true;
        } else if (errno != EEXIST)
                return -errno;

        /* output_dir itself comes from the administrator: a symlink there is theirs to make */
        _cleanup_close_ int output_fd = open(output_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (output_fd < 0)
                return -errno;
        if (made && (fchmod(output_fd, DIR_MODE) < 0 || (gid != (gid_t) -1 && fchown(output_fd, (uid_t) -1, gid) < 0)))
                return -errno;

        _cleanup_close_ int dirfd = open_or_make_dir(output_fd, STORE_DIR, gid);
        bool replaced = false;
        if (dirfd == -ELOOP || dirfd == -ENOTDIR) {
                /* fsxds's own name: a symlink (never followed) or file there goes */
                if (unlinkat(output_fd, STORE_DIR, 0) < 0 && errno != ENOENT)
                        return -errno;
                replaced = true;
                dirfd = open_or_make_dir(output_fd, STORE_DIR, gid);
        }
        if (dirfd < 0)
                return dirfd;

        struct statfs sfs;
        if (fstatfs(dirfd, &sfs) < 0)
                return -errno;

        Store *s = xmalloc(sizeof(Store));
        *s = (Store) {
                .output_dir = xstrdup(output_dir),
                .output_fd = TAKE_FD(output_fd),
                .dirfd = TAKE_FD(dirfd),
                .gid = gid,
                .durable = sfs.f_type != TMPFS_MAGIC && sfs.f_type != RAMFS_MAGIC,
                .replaced = replaced,
        };
        /* Objects nothing links may have been written but not synced before
         * a crash: they go, so that every object left was synced before any
         * node linked it. */
        int r = store_gc(s);
        if (r < 0) {
                store_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

Store *store_free(Store *s) {
        if (!s)
                return NULL;
        closep(&s->dirfd);
        closep(&s->output_fd);
        index_clear(s);
        free(s->suspects);
        free(s->output_dir);
        free(s);
        return NULL;
}

bool store_replaced(const Store *s) {
        return s->replaced;
}

size_t store_n_objects(const Store *s) {
        return s ? s->n_live : 0;
}

uint64_t store_bytes(const Store *s) {
        return s ? s->bytes_live : 0;
}

int store_dirfd(const Store *s) {
        return s->dirfd;
}

const char *store_output_dir(const Store *s) {
        return s->output_dir;
}

int store_output_fd(const Store *s) {
        return s->output_fd;
}

gid_t store_gid(const Store *s) {
        return s->gid;
}

void store_set_unwatched(Store *s) {
        s->unwatched = true;
}

bool store_unwatched(const Store *s) {
        return s->unwatched;
}

bool store_durable(const Store *s) {
        return s->durable;
}

static int write_all(int fd, const void *data, size_t len) {
        const uint8_t *p = data;
        while (len > 0) {
                ssize_t k = write(fd, p, len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                len -= (size_t) k;
        }
        return 0;
}

/* Bytes, mode and group: what must hold before the object gets a name.
 * Durability comes later, for all objects at once, from store_sync(). */
static int fill_object(Store *s, int fd, const void *data, size_t len) {
        int r = write_all(fd, data, len);
        if (r < 0)
                return r;
        if (fchmod(fd, OBJECT_MODE) < 0)
                return -errno;
        if (s->gid != (gid_t) -1 && fchown(fd, (uid_t) -1, s->gid) < 0)
                return -errno;
        if (s->durable)
                s->unsynced = true;
        return 0;
}

/* 1: linked; 0: O_TMPFILE not usable here (caller falls back); <0: error. */
static int put_tmpfile(Store *s, const void *data, size_t len, const char *name, ino_t *ret_ino) {
        _cleanup_close_ int fd = openat(s->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, OBJECT_MODE);
        if (fd < 0)
                return errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL ? 0 : -errno;
        int r = fill_object(s, fd, data, len);
        if (r < 0)
                return r;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, proc, s->dirfd, name, AT_SYMLINK_FOLLOW) < 0) {
                /* no /proc: AT_EMPTY_PATH works where we hold CAP_DAC_READ_SEARCH */
                if (errno != ENOENT || linkat(fd, "", s->dirfd, name, AT_EMPTY_PATH) < 0) {
                        if (errno == EEXIST)
                                return 2; /* someone else's; theirs is the object */
                        return errno == ENOENT || errno == EPERM ? 0 : -errno;
                }
        }
        *ret_ino = st.st_ino;
        return 1;
}

static int put_named(Store *s, const void *data, size_t len, const char *name, ino_t *ret_ino) {
        char tmp[128];
        _cleanup_close_ int fd = -EBADF;
        for (unsigned attempt = 0; fd < 0; attempt++) {
                tmp_name(tmp, sizeof(tmp), name);
                fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, OBJECT_MODE);
                if (fd < 0 && (errno != EEXIST || attempt >= 16))
                        return -errno;
        }
        struct stat st;
        int r = fill_object(s, fd, data, len);
        if (r >= 0 && fstat(fd, &st) < 0)
                r = -errno;
        /* NOREPLACE: an object already linked by nodes must keep its inode */
        if (r >= 0 && renameat2(s->dirfd, tmp, s->dirfd, name, RENAME_NOREPLACE) >= 0) {
                *ret_ino = st.st_ino;
                return 1;
        }
        if (r >= 0)
                r = errno == EEXIST ? 2 : -errno;
        (void) unlinkat(s->dirfd, tmp, 0);
        return r;
}

/* An object present under its name: checked, mode and group repaired.
 * 1: good; 0: absent or not what its name says (and then removed). */
static int check_object(Store *s, const char *name, size_t len, bool check_len, ino_t *ret_ino) {
        struct stat st;
        if (fstatat(s->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISREG(st.st_mode) || (check_len && (size_t) st.st_size != len)) {
                /* tampering, or a non-durable store after a crash */
                if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT)
                        return -errno;
                return 0;
        }
        if ((st.st_mode & 07777) != OBJECT_MODE && fchmodat(s->dirfd, name, OBJECT_MODE, 0) < 0)
                return -errno;
        if (s->gid != (gid_t) -1 && st.st_gid != s->gid && fchownat(s->dirfd, name, (uid_t) -1, s->gid, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        *ret_ino = st.st_ino;
        return 1;
}

int store_put(Store *s, const void *data, size_t len, char ret_name[65]) {
        char name[65];
        sha256_hex(data, len, name);
        return store_put_hashed(s, data, len, name, ret_name);
}

int store_put_hashed(Store *s, const void *data, size_t len, const char name[65], char ret_name[65]) {
        assert(s);
        assert(data || len == 0);

        if (index_by_name(s, name)) {
                memcpy(ret_name, name, 65);
                return 0;
        }

        ino_t ino = 0;
        int r = check_object(s, name, len, true, &ino);
        if (r < 0)
                return r;
        if (r == 0 && !s->no_tmpfile) {
                r = put_tmpfile(s, data, len, name, &ino);
                if (r < 0)
                        return r;
                if (r == 0)
                        s->no_tmpfile = true;
        }
        if (r == 0) {
                r = put_named(s, data, len, name, &ino);
                if (r < 0)
                        return r;
        }
        if (r == 2) {
                /* lost a race with another writer: take theirs */
                r = check_object(s, name, len, true, &ino);
                if (r < 0)
                        return r;
                if (r == 0)
                        return -ENOENT;
        }
        /* new to the index: maybe nothing links it (yet, or ever) */
        suspect(s, index_add(s, name, ino, len));
        memcpy(ret_name, name, 65);
        return 0;
}

ino_t store_object_inode(const Store *s, const char *name) {
        StoreObject *o = index_by_name(s, name);
        return o ? o->ino : 0;
}

bool store_has_inode(const Store *s, ino_t ino) {
        return ino != 0 && index_by_ino(s, ino);
}

void store_forget(Store *s, const char *name) {
        StoreObject *o = index_by_name(s, name);
        if (o)
                index_dead(s, o);
}

void store_unlinked(Store *s, ino_t ino) {
        StoreObject *o = ino != 0 ? index_by_ino(s, ino) : NULL;
        if (o)
                suspect(s, o);
}

int store_sync(Store *s, bool force) {
        assert(s);
        if (!s->durable || !(force || s->unsynced))
                return 0;
        /* one syncfs(2) for a whole generation: fsync per object or per
         * directory costs a journal commit and a cache flush each */
        if (syncfs(s->dirfd) < 0)
                return -errno;
        s->unsynced = false;
        return 0;
}

int store_gc(Store *s) {
        assert(s);

        _cleanup_closedir_ DIR *d = NULL;
        int r = opendir_at(s->dirfd, ".", 0, &d);
        if (r < 0)
                return r;
        /* the index is rebuilt from what is on disk */
        index_clear(s);
        s->n_suspects = 0;
        int n = 0;
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                if (startswith(de->d_name, STORE_TMP_PREFIX)) {
                        if (unlinkat(s->dirfd, de->d_name, 0) >= 0)
                                n++;
                        else if (errno != ENOENT)
                                return -errno;
                        continue;
                }
                if (!is_object_name(de->d_name))
                        continue;
                struct stat st;
                if (fstatat(s->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return -errno;
                }
                if (!S_ISREG(st.st_mode))
                        continue;
                if (st.st_nlink == 1) {
                        if (unlinkat(s->dirfd, de->d_name, 0) >= 0)
                                n++;
                        else if (errno != ENOENT)
                                return -errno;
                        continue;
                }
                ino_t ino;
                r = check_object(s, de->d_name, 0, false, &ino);
                if (r < 0)
                        return r;
                if (r > 0)
                        index_add(s, de->d_name, ino, (uint64_t) st.st_size);
        }
        if (errno != 0)
                return -errno;
        return n;
}

int store_collect(Store *s) {
        assert(s);
        if (++s->n_collect % FULL_GC_EVERY == 0)
                return store_gc(s);

        int n = 0;
        for (size_t i = 0; i < s->n_suspects; i++) {
                StoreObject *o = s->suspects[i];
                o->suspected = false;
                if (o->dead)
                        continue;
                struct stat st;
                if (fstatat(s->dirfd, o->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno != ENOENT)
                                return -errno;
                        index_dead(s, o);
                        continue;
                }
                if (st.st_ino != o->ino || st.st_nlink != 1)
                        continue;
                if (unlinkat(s->dirfd, o->name, 0) < 0 && errno != ENOENT)
                        return -errno;
                index_dead(s, o);
                n++;
        }
        s->n_suspects = 0;
        return n;
}

/* sha256 of an object's bytes, hex; -errno when it cannot be read. */
static int hash_object(Store *s, const char *name, char ret_hex[65]) {
        _cleanup_close_ int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        Sha256 md;
        sha256_init(&md);
        uint8_t buf[65536];
        ssize_t k;
        while ((k = read(fd, buf, sizeof buf)) > 0)
                sha256_update(&md, buf, (size_t) k);
        if (k < 0)
                return -errno;
        sha256_final_hex(&md, ret_hex, 64);
        return 0;
}

/* An object whose bytes are not what its name says: unlinked and
 * forgotten, so nothing links it again and the next put writes it anew. */
static void drop_object(Store *s, StoreObject *o) {
        (void) unlinkat(s->dirfd, o->name, 0);
        index_dead(s, o);
}

int store_check_object(Store *s, const char *name) {
        assert(s);
        assert(name);
        StoreObject *o = index_by_name(s, name);
        if (!o)
                return 0;
        char hex[65];
        int r = hash_object(s, o->name, hex);
        if (r == -ENOENT) {
                index_dead(s, o);
                return 0;
        }
        if (r >= 0 && streq(hex, o->name)) {
                /* the bytes are good; a chmod or chgrp of any link is the object's */
                ino_t ino;
                r = check_object(s, o->name, 0, false, &ino);
                return r < 0 ? r : 0;
        }
        drop_object(s, o);
        return 1;
}

int store_verify(Store *s) {
        /* a file edited in place behind fsxdsd's back edits the object it is
         * a link of; such an object must not count as "already published" */
        int n = 0;
        for (size_t i = 0; i < s->n_objects; i++) {
                StoreObject *o = s->objects[i];
                if (o->dead)
                        continue;
                char hex[65];
                int r = hash_object(s, o->name, hex);
                if (r == -ENOENT)
                        continue;
                if (r < 0 || !streq(hex, o->name)) {
                        drop_object(s, o);
                        n++;
                }
        }
        return n;
}
