/* SPDX-License-Identifier: MIT */
/* Directory fds below the output directory: opening and creating without
 * following a symlink, reading entries with getdents64, the names of the
 * watched_directory layout. */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "nodedir.h"

int nodedir_open(int dirfd, const char *name) {
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int nodedir_make(int dirfd, const char *name, gid_t gid, bool *ret_made) {
        bool made = false;
        /* it mostly exists: open first */
        int fd = nodedir_open(dirfd, name);
        if (fd == -ENOENT) {
                if (mkdirat(dirfd, name, DIR_MODE) >= 0)
                        made = true;
                else if (errno != EEXIST)
                        return -errno;
                fd = nodedir_open(dirfd, name);
        }
        if (fd < 0)
                return fd;
        if (made && (fchmod(fd, DIR_MODE) < 0 || (gid != (gid_t) -1 && fchown(fd, (uid_t) -1, gid) < 0))) {
                int r = -errno;
                close(fd);
                return r;
        }
        if (ret_made)
                *ret_made = made;
        return fd;
}

int nodedir_make_replacing(int dirfd, const char *name, gid_t gid, bool *ret_made) {
        int fd = nodedir_make(dirfd, name, gid, ret_made);
        if (fd != -ELOOP && fd != -ENOTDIR)
                return fd;
        /* flags 0: a directory swapped in meanwhile fails with EISDIR */
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        return nodedir_make(dirfd, name, gid, ret_made);
}

void nodedir_reader_init(DirReader *r, int fd) {
        r->fd = fd;
        r->pos = r->len = 0;
        r->eof = false;
}

int nodedir_read(DirReader *r, struct dirent64 **ret) {
        for (;;) {
                while (r->pos < r->len) {
                        struct dirent64 *de = (struct dirent64 *) (r->buf + r->pos);
                        r->pos += de->d_reclen;
                        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                                continue;
                        *ret = de;
                        return 1;
                }
                if (r->eof)
                        return 0;
                ssize_t n = getdents64(r->fd, r->buf, sizeof(r->buf));
                if (n < 0)
                        return -errno;
                if (n == 0)
                        r->eof = true;
                r->pos = 0;
                r->len = (size_t) n;
        }
}

bool nodedir_is_gen_name(const char *name, uint64_t *ret) {
        if (!startswith(name, GEN_PREFIX))
                return false;
        const char *p = name + strlen(GEN_PREFIX);
        if (!*p)
                return false;
        uint64_t v = 0;
        for (; *p; p++) {
                if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
                        return false;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        if (ret)
                *ret = v;
        return true;
}

bool nodedir_is_pb_name(const char *name) {
        return name[0] != '.' && endswith(name, ".pb") && strlen(name) > 3;
}

char *nodedir_data_target(const char *name) {
        return xasprintf(DATA_LINK "/%s", name);
}

int nodedir_read_link(int dirfd, const char *name, char **ret) {
        char buf[PATH_MAX];
        ssize_t n = readlinkat(dirfd, name, buf, sizeof(buf) - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        *ret = xstrdup(buf);
        return 0;
}
