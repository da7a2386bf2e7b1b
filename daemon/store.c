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

#include "store.h"
#include "util.h"

#define STORE_DIR ".store"
#define STORE_TMP_PREFIX ".tmp."
#define OBJECT_MODE 0640
#define DIR_MODE 0750

struct Store {
        int output_fd;
        int dirfd;
        gid_t gid;
        bool durable;
        bool no_tmpfile; /* O_TMPFILE or linking it failed once: use named temporaries */
};

static inline void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
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
        if (dirfd < 0)
                return dirfd;

        struct statfs sfs;
        if (fstatfs(dirfd, &sfs) < 0)
                return -errno;

        Store *s = xmalloc(sizeof(Store));
        *s = (Store) {
                .output_fd = TAKE_FD(output_fd),
                .dirfd = TAKE_FD(dirfd),
                .gid = gid,
                .durable = sfs.f_type != TMPFS_MAGIC && sfs.f_type != RAMFS_MAGIC,
        };
        *ret = s;
        return 0;
}

Store *store_free(Store *s) {
        if (!s)
                return NULL;
        closep(&s->dirfd);
        closep(&s->output_fd);
        free(s);
        return NULL;
}

int store_dirfd(const Store *s) {
        return s->dirfd;
}

int store_output_fd(const Store *s) {
        return s->output_fd;
}

gid_t store_gid(const Store *s) {
        return s->gid;
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

/* Bytes, mode, group and (when durable) fsync: everything that must hold
 * before the object gets a name. */
static int fill_object(Store *s, int fd, const void *data, size_t len) {
        int r = write_all(fd, data, len);
        if (r < 0)
                return r;
        if (fchmod(fd, OBJECT_MODE) < 0)
                return -errno;
        if (s->gid != (gid_t) -1 && fchown(fd, (uid_t) -1, s->gid) < 0)
                return -errno;
        if (s->durable && fsync(fd) < 0)
                return -errno;
        return 0;
}

/* 1: linked; 0: O_TMPFILE not usable here (caller falls back); <0: error. */
static int put_tmpfile(Store *s, const void *data, size_t len, const char *name) {
        _cleanup_close_ int fd = openat(s->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, OBJECT_MODE);
        if (fd < 0)
                return errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL ? 0 : -errno;
        int r = fill_object(s, fd, data, len);
        if (r < 0)
                return r;
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, proc, s->dirfd, name, AT_SYMLINK_FOLLOW) >= 0 || errno == EEXIST)
                return 1;
        /* no /proc: AT_EMPTY_PATH works where we hold CAP_DAC_READ_SEARCH */
        if (errno == ENOENT && linkat(fd, "", s->dirfd, name, AT_EMPTY_PATH) >= 0)
                return 1;
        if (errno == EEXIST)
                return 1;
        return errno == ENOENT || errno == EPERM ? 0 : -errno;
}

static int put_named(Store *s, const void *data, size_t len, const char *name) {
        char tmp[128];
        _cleanup_close_ int fd = -EBADF;
        for (unsigned attempt = 0; fd < 0; attempt++) {
                tmp_name(tmp, sizeof(tmp), name);
                fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, OBJECT_MODE);
                if (fd < 0 && (errno != EEXIST || attempt >= 16))
                        return -errno;
        }
        int r = fill_object(s, fd, data, len);
        /* NOREPLACE: an object already linked by nodes must keep its inode */
        if (r >= 0 && renameat2(s->dirfd, tmp, s->dirfd, name, RENAME_NOREPLACE) >= 0)
                return 0;
        if (r >= 0 && errno != EEXIST)
                r = -errno;
        (void) unlinkat(s->dirfd, tmp, 0);
        return r;
}

int store_put(Store *s, const void *data, size_t len, char ret_name[65]) {
        assert(s);
        assert(data || len == 0);

        char name[65];
        sha256_hex(data, len, name);

        struct stat st;
        if (fstatat(s->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0) {
                if (S_ISREG(st.st_mode) && (size_t) st.st_size == len) {
                        if ((st.st_mode & 07777) != OBJECT_MODE && fchmodat(s->dirfd, name, OBJECT_MODE, 0) < 0)
                                return -errno;
                        if (s->gid != (gid_t) -1 && st.st_gid != s->gid &&
                            fchownat(s->dirfd, name, (uid_t) -1, s->gid, AT_SYMLINK_NOFOLLOW) < 0)
                                return -errno;
                        memcpy(ret_name, name, 65);
                        return 0;
                }
                /* not what its name says (tampering, or a non-durable store after a crash) */
                if (unlinkat(s->dirfd, name, 0) < 0)
                        return -errno;
        } else if (errno != ENOENT)
                return -errno;

        int r = 0;
        if (!s->no_tmpfile) {
                r = put_tmpfile(s, data, len, name);
                if (r < 0)
                        return r;
                if (r == 0)
                        s->no_tmpfile = true;
        }
        if (r == 0) {
                r = put_named(s, data, len, name);
                if (r < 0)
                        return r;
        }
        memcpy(ret_name, name, 65);
        return 0;
}

int store_gc(Store *s) {
        assert(s);

        int fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        _cleanup_(closedirp) DIR *d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                close(fd);
                return r;
        }
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
                if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
                        continue;
                if (unlinkat(s->dirfd, de->d_name, 0) >= 0)
                        n++;
                else if (errno != ENOENT)
                        return -errno;
        }
        if (errno != 0)
                return -errno;
        return n;
}
