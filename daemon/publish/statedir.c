/* SPDX-License-Identifier: MIT */
/* STATE_DIR's layout and protocol (see statedir.h): the generation
 * counter, the last good copies' directory and the removal allowances. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "statedir.h"

#define REMOVE_MAX_DEPTH 64

char *statedir_path(const char *state_dir, const char *name) {
        return xasprintf("%s%s%s", state_dir, endswith(state_dir, "/") ? "" : "/", name);
}

char *statedir_node_path(const char *state_dir, const char *node) {
        _cleanup_free_ char *nodes = statedir_path(state_dir, STATEDIR_NODES);
        return statedir_path(nodes, node);
}

char *statedir_allowance_path(const char *state_dir, const char *node) {
        _cleanup_free_ char *dir = statedir_path(state_dir, STATEDIR_ALLOW_REMOVAL);
        return statedir_path(dir, node);
}

int statedir_read_generation(const char *state_dir, uint64_t *ret) {
        _cleanup_free_ char *path = statedir_path(state_dir, STATEDIR_GENERATION);
        _cleanup_free_ char *s = NULL;
        int r = read_file_bounded(path, 64, &s, NULL);
        if (r < 0)
                return r;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || (*end && *end != '\n'))
                return -EBADMSG;
        *ret = v;
        return 0;
}

int statedir_write_generation(const char *state_dir, uint64_t generation) {
        _cleanup_free_ char *path = statedir_path(state_dir, STATEDIR_GENERATION);
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%" PRIu64 "\n", generation);
        return write_file_atomic(path, buf, (size_t) n, 0640);
}

int statedir_allow_removal_mkdir(const char *state_dir) {
        _cleanup_free_ char *dir = statedir_path(state_dir, STATEDIR_ALLOW_REMOVAL);
        return mkdir_p(dir, 0750);
}

int statedir_allow_removal_create(const char *state_dir, const char *node, char **ret_path) {
        int r = mkdir_p(state_dir, 0750);
        if (r < 0)
                return r;
        _cleanup_close_ int state_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (state_fd < 0)
                return -errno;
        struct stat st;
        if (fstat(state_fd, &st) < 0)
                return -errno;
        bool chown_to_state = geteuid() == 0 && st.st_uid != 0;
        if (mkdirat(state_fd, STATEDIR_ALLOW_REMOVAL, 0750) == 0) {
                if (chown_to_state &&
                    fchownat(state_fd, STATEDIR_ALLOW_REMOVAL, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
        } else if (errno != EEXIST)
                return -errno;
        _cleanup_close_ int dir_fd =
                openat(state_fd, STATEDIR_ALLOW_REMOVAL, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir_fd < 0)
                return -errno;

        struct timespec now;
        struct tm tm;
        char text[64];
        if (clock_gettime(CLOCK_REALTIME, &now) < 0)
                return -errno;
        if (!gmtime_r(&now.tv_sec, &tm) || strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ\n", &tm) == 0)
                return -EINVAL;
        _cleanup_free_ char *tmp = xasprintf(".%s.tmp.%d", node, (int) getpid());
        _cleanup_close_ int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
        if (fd < 0)
                return -errno;
        size_t len = strlen(text);
        ssize_t n = write(fd, text, len);
        if (n >= 0 && (size_t) n != len)
                r = -EIO; /* a short write of 21 bytes: the file system is full */
        else if (n < 0 || fchmod(fd, 0640) < 0 || (chown_to_state && fchown(fd, st.st_uid, st.st_gid) < 0) ||
                 close(TAKE_FD(fd)) < 0 || renameat(dir_fd, tmp, dir_fd, node) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dir_fd, tmp, 0);
                return r;
        }
        if (ret_path)
                *ret_path = statedir_allowance_path(state_dir, node);
        return 0;
}

int statedir_allow_removal_consume(const char *state_dir, const char *node) {
        _cleanup_free_ char *path = statedir_allowance_path(state_dir, node);
        if (unlink(path) < 0)
                return errno == ENOENT ? 0 : -errno;
        return 1;
}

/* Removes the entry name of dir_fd and, when it is a directory, everything
 * in it. A symlink is unlinked, never followed: the directory is opened
 * O_NOFOLLOW, so one swapped in between is not entered either. Directories
 * on another file system than dev (a mount point) are left alone. */
static int remove_tree_at(int dir_fd, const char *name, dev_t dev, unsigned depth) {
        if (depth > REMOVE_MAX_DEPTH)
                return -ELOOP;
        int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                if (errno != ENOTDIR && errno != ELOOP)
                        return -errno;
                return unlinkat(dir_fd, name, 0) < 0 ? -errno : 0;
        }
        struct stat st;
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        if (st.st_dev != dev) {
                close(fd);
                return -EXDEV;
        }
        DIR *d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                close(fd);
                return r;
        }
        int r = 0;
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno != 0 && r == 0)
                                r = -errno;
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                int k = remove_tree_at(dirfd(d), de->d_name, dev, depth + 1);
                if (k < 0 && r == 0)
                        r = k;
        }
        closedir(d);
        if (r < 0)
                return r;
        return unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

int statedir_remove_entry(const char *parent, const char *name) {
        _cleanup_close_ int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (fstatat(fd, name, &(struct stat) {}, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        int r = remove_tree_at(fd, name, st.st_dev, 0);
        return r < 0 ? r : 1;
}
