/* SPDX-License-Identifier: MIT */
/* STATE_DIR's layout and protocol (see statedir.h): the format version,
 * the generation counter, the last good copies (their MANIFESTs, read back
 * only when they verify), the removal allowances and the temporary names
 * a crash leaves. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"
#include "nodedir.h"
#include "publish.h"
#include "resource.h"
#include "sha256.h"
#include "statedir.h"
#include "wire.h"

/* what one file of a copy may weigh (as the output's readers bound it) */
#define COPY_FILE_MAX (1u << 30)

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
        if (r == -ENOENT) {
                free(path);
                path = statedir_path(state_dir, STATEDIR_LEGACY_GENERATION);
                r = read_file_bounded(path, 64, &s, NULL);
        }
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
        _cleanup_free_ char *own = statedir_path(state_dir, STATEDIR_OWN);
        int r = mkdir_p(own, 0750);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = statedir_path(state_dir, STATEDIR_GENERATION);
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%" PRIu64 "\n", generation);
        r = write_file_atomic(path, buf, (size_t) n, 0640);
        if (r != -ENOSPC && r != -EDQUOT)
                return r;
        /* a full state_dir: the temporary file needs a block, but a few
         * bytes within the file's first block need none */
        _cleanup_close_ int fd = open(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return r;
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return r;
        ssize_t k = pwrite(fd, buf, (size_t) n, 0);
        if (k != n)
                return k < 0 ? -errno : r;
        if (ftruncate(fd, n) < 0 || fdatasync(fd) < 0)
                return -errno;
        return 0;
}

int statedir_requests_mkdir(const char *state_dir) {
        _cleanup_free_ char *allow = statedir_path(state_dir, STATEDIR_ALLOW_REMOVAL);
        _cleanup_free_ char *forget = statedir_path(state_dir, STATEDIR_FORGET);
        _cleanup_free_ char *rollback = statedir_path(state_dir, STATEDIR_ROLLBACK);
        _cleanup_free_ char *pin = statedir_path(state_dir, STATEDIR_PIN);
        int r = mkdir_p(allow, 0750);
        if (r >= 0)
                r = mkdir_p(forget, 0750);
        if (r >= 0)
                r = mkdir_p(rollback, 0750);
        return r < 0 ? r : mkdir_p(pin, 0750);
}

/* Creates state_dir/dir/node holding the time (atomically), dir and file
 * given to state_dir's owner when root makes them (see
 * statedir_allow_removal_create()). */
static int request_create(const char *state_dir, const char *dir, const char *node, const char *content,
                          char **ret_path) {
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
        if (mkdirat(state_fd, dir, 0750) == 0) {
                if (chown_to_state && fchownat(state_fd, dir, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
        } else if (errno != EEXIST)
                return -errno;
        _cleanup_close_ int dir_fd = openat(state_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir_fd < 0)
                return -errno;

        struct timespec now;
        struct tm tm;
        char stamp[64];
        if (clock_gettime(CLOCK_REALTIME, &now) < 0)
                return -errno;
        if (!gmtime_r(&now.tv_sec, &tm) || strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ\n", &tm) == 0)
                return -EINVAL;
        const char *text = content ?: stamp;
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
        if (ret_path) {
                _cleanup_free_ char *d = statedir_path(state_dir, dir);
                *ret_path = statedir_path(d, node);
        }
        return 0;
}

int statedir_allow_removal_create(const char *state_dir, const char *node, char **ret_path) {
        return request_create(state_dir, STATEDIR_ALLOW_REMOVAL, node, NULL, ret_path);
}

int statedir_forget_request_create(const char *state_dir, const char *node, char **ret_path) {
        return request_create(state_dir, STATEDIR_FORGET, node, NULL, ret_path);
}

int statedir_request_create(const char *state_dir, const char *dir, const char *node, const char *content,
                            char **ret_path) {
        return request_create(state_dir, dir, node, content, ret_path);
}

static uint64_t mtime_usec(const struct stat *st) {
        return (uint64_t) st->st_mtim.tv_sec * 1000000u + (uint64_t) st->st_mtim.tv_nsec / 1000u;
}

int statedir_allowance_armed(const char *state_dir, const char *node, uint64_t now_usec) {
        _cleanup_free_ char *path = statedir_allowance_path(state_dir, node);
        struct stat st;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? -ENOENT : -errno;
        return mtime_usec(&st) + STATEDIR_ALLOWANCE_USEC > now_usec;
}

int statedir_allow_removal_consume(const char *state_dir, const char *node, uint64_t now_usec) {
        int armed = statedir_allowance_armed(state_dir, node, now_usec);
        if (armed < 0)
                return armed == -ENOENT ? 0 : armed;
        _cleanup_free_ char *path = statedir_allowance_path(state_dir, node);
        bool expired = !armed;
        if (unlink(path) < 0)
                return errno == ENOENT ? 0 : -errno;
        return expired ? 0 : 1;
}

int statedir_request_remove(const char *state_dir, const char *dir, const char *node) {
        _cleanup_free_ char *d = statedir_path(state_dir, dir);
        _cleanup_free_ char *path = statedir_path(d, node);
        if (unlink(path) < 0)
                return errno == ENOENT ? 0 : -errno;
        return 1;
}

int statedir_list_requests(const char *state_dir, const char *dir, StatedirRequest cb, void *userdata) {
        _cleanup_free_ char *d = statedir_path(state_dir, dir);
        _cleanup_close_ int fd = open(d, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        DirReader *rd = xmalloc(sizeof(DirReader));
        nodedir_reader_init(rd, fd);
        struct dirent64 *de;
        int r, n = 0;
        while ((r = nodedir_read(rd, &de)) > 0) {
                struct stat st;
                if (!node_id_is_valid(de->d_name) || fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISREG(st.st_mode))
                        continue;
                cb(userdata, de->d_name, mtime_usec(&st));
                n++;
        }
        free(rd);
        return r < 0 ? r : n;
}

static int flock_retry(int fd, int op) {
        int r;
        do
                r = flock(fd, op);
        while (r < 0 && errno == EINTR);
        return r < 0 ? (errno == EAGAIN ? -EWOULDBLOCK : -errno) : 0;
}

int statedir_lock(const char *state_dir, bool exclusive, int *ret_fd) {
        _cleanup_close_ int fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int r = flock_retry(fd, exclusive ? LOCK_EX | LOCK_NB : LOCK_SH);
        if (r == -EWOULDBLOCK) {
                /* shared: an fsxdsd; else another fsxds, which is soon done */
                r = flock_retry(fd, LOCK_SH | LOCK_NB);
                if (r == 0)
                        return -EWOULDBLOCK; /* (closing fd lets it go) */
                if (r == -EWOULDBLOCK)
                        r = flock_retry(fd, LOCK_EX);
        }
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int statedir_instance_lock(const char *state_dir, int *ret_fd) {
        _cleanup_free_ char *nodes = statedir_path(state_dir, "nodes");
        int r = mkdir_p(nodes, 0750);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(nodes, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = flock_retry(fd, LOCK_EX | LOCK_NB);
        if (r < 0)
                return r == -EWOULDBLOCK ? -EBUSY : r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int statedir_instance_held(const char *state_dir) {
        _cleanup_free_ char *nodes = statedir_path(state_dir, "nodes");
        _cleanup_close_ int fd = open(nodes, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        int r = flock_retry(fd, LOCK_SH | LOCK_NB);
        return r == -EWOULDBLOCK ? 1 : r < 0 ? r : 0;
}

int statedir_forget_refused(const char *source_dir, char *const *nodes, size_t n_nodes, const char *node,
                            char **ret_why) {
        for (size_t i = 0; i < n_nodes; i++)
                if (streq(nodes[i], node)) {
                        *ret_why = xasprintf("node %s is listed in nodes:", node);
                        return 1;
                }
        _cleanup_free_ char *dir = statedir_path(source_dir, "nodes");
        _cleanup_free_ char *source = statedir_path(dir, node);
        struct stat st;
        if (lstat(source, &st) == 0) {
                *ret_why = xasprintf("%s exists", source);
                return 1;
        }
        return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
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

/* ---- the format ---- */

int statedir_read_format(const char *state_dir, unsigned *ret) {
        _cleanup_free_ char *path = statedir_path(state_dir, STATEDIR_FORMAT_NAME);
        _cleanup_free_ char *s = NULL;
        int r = read_file_bounded(path, 64, &s, NULL);
        if (r == -ENOENT) {
                /* format 1 had no format file: anything it wrote says it was there */
                _cleanup_free_ char *gen = statedir_path(state_dir, STATEDIR_LEGACY_GENERATION);
                _cleanup_free_ char *nodes = statedir_path(state_dir, STATEDIR_NODES);
                struct stat st;
                *ret = lstat(gen, &st) == 0 || lstat(nodes, &st) == 0 ? 1 : 0;
                return 0;
        }
        if (r < 0)
                return r;
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || end == s || (*end && *end != '\n') || v == 0 || v > 1000)
                return -EBADMSG;
        *ret = (unsigned) v;
        return 0;
}

int statedir_write_format(const char *state_dir) {
        _cleanup_free_ char *own = statedir_path(state_dir, STATEDIR_OWN);
        int r = mkdir_p(own, 0750);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = statedir_path(state_dir, STATEDIR_FORMAT_NAME);
        char buf[16];
        int n = snprintf(buf, sizeof buf, "%d\n", STATEDIR_FORMAT);
        r = write_file_atomic(path, buf, (size_t) n, 0640);
        if (r < 0)
                return r;
        _cleanup_free_ char *gen = statedir_path(state_dir, STATEDIR_GENERATION);
        _cleanup_free_ char *legacy = statedir_path(state_dir, STATEDIR_LEGACY_GENERATION);
        if (access(gen, F_OK) == 0 && unlink(legacy) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* ---- crash leftovers ---- */

/* Whether name is "<prefix>.tmp.<digits>", what write_file_atomic() and the
 * MANIFEST writer leave. */
static bool is_tmp_name(const char *name, const char *prefix) {
        size_t n = strlen(prefix);
        if (strncmp(name, prefix, n) != 0 || !startswith(name + n, ".tmp."))
                return false;
        const char *p = name + n + strlen(".tmp.");
        if (!*p)
                return false;
        for (; *p; p++)
                if (*p < '0' || *p > '9')
                        return false;
        return true;
}

/* Unlinks the entries of dir (below dir_fd) that match: the count, or -errno. */
static int clean_dir(int dir_fd, const char *dir, bool (*match)(const char *name)) {
        _cleanup_close_ int fd = dir ? nodedir_open(dir_fd, dir) : fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return fd == -ENOENT ? 0 : (dir ? fd : -errno);
        DirReader *rd = xmalloc(sizeof(DirReader));
        nodedir_reader_init(rd, fd);
        struct dirent64 *de;
        int r, n = 0;
        while ((r = nodedir_read(rd, &de)) > 0)
                if (match(de->d_name)) {
                        if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT) {
                                r = -errno;
                                break;
                        }
                        n++;
                }
        free(rd);
        return r < 0 ? r : n;
}

static bool is_top_tmp(const char *name) {
        return is_tmp_name(name, STATEDIR_LEGACY_GENERATION);
}

static bool is_own_tmp(const char *name) {
        return is_tmp_name(name, "generation") || is_tmp_name(name, "format");
}

static bool is_request_tmp(const char *name) {
        /* ".<node>.tmp.<pid>" (request_create()); a node id
         * may hold ".tmp." itself */
        if (name[0] != '.')
                return false;
        for (const char *t = strstr(name + 1, ".tmp."); t; t = strstr(t + 1, ".tmp.")) {
                _cleanup_free_ char *node = xstrndup(name + 1, (size_t) (t - name - 1));
                if (node_id_is_valid(node) && is_tmp_name(name + 1, node))
                        return true;
        }
        return false;
}

static bool is_copy_tmp(const char *name) {
        return is_tmp_name(name, "." MANIFEST_NAME) || is_tmp_name(name, "." MANIFEST_SIG_NAME);
}

/* "<G>.json.tmp.<pid>" (history_record()'s entry) */
static bool is_entry_tmp(const char *name) {
        const char *j = strstr(name, ".json.tmp.");
        if (!j || j == name)
                return false;
        for (const char *p = name; p < j; p++)
                if (*p < '0' || *p > '9')
                        return false;
        _cleanup_free_ char *base = xstrndup(name, (size_t) (j - name) + strlen(".json"));
        return is_tmp_name(name, base);
}

/* Each history/ID's entry temporaries. */
static int clean_history(int state_fd) {
        _cleanup_close_ int fd = nodedir_open(state_fd, STATEDIR_HISTORY);
        if (fd < 0)
                return fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP ? 0 : fd;
        DirReader *rd = xmalloc(sizeof(DirReader));
        nodedir_reader_init(rd, fd);
        struct dirent64 *de;
        int r, total = 0, first = 0;
        while ((r = nodedir_read(rd, &de)) > 0) {
                if (!node_id_is_valid(de->d_name))
                        continue;
                int k = clean_dir(fd, de->d_name, is_entry_tmp);
                if (k == -ENOTDIR || k == -ELOOP)
                        continue;
                total += MAX(k, 0), first = first ?: MIN(k, 0);
        }
        free(rd);
        return r < 0 ? r : first ?: total;
}

int statedir_clean(const char *state_dir) {
        _cleanup_close_ int fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        int total = 0, first = 0;
        int k = clean_dir(fd, NULL, is_top_tmp);
        total += MAX(k, 0), first = first ?: MIN(k, 0);
        k = clean_dir(fd, STATEDIR_OWN, is_own_tmp);
        total += MAX(k, 0), first = first ?: MIN(k, 0);
        k = clean_dir(fd, STATEDIR_ALLOW_REMOVAL, is_request_tmp);
        total += MAX(k, 0), first = first ?: MIN(k, 0);
        k = clean_dir(fd, STATEDIR_FORGET, is_request_tmp);
        total += MAX(k, 0), first = first ?: MIN(k, 0);
        k = clean_dir(fd, STATEDIR_ROLLBACK, is_request_tmp);
        total += MAX(k, 0), first = first ?: MIN(k, 0);
        k = clean_dir(fd, STATEDIR_PIN, is_request_tmp);
        total += MAX(k, 0), first = first ?: MIN(k, 0);
        k = clean_history(fd);
        total += MAX(k, 0), first = first ?: MIN(k, 0);

        _cleanup_close_ int nodes_fd = nodedir_open(fd, STATEDIR_NODES);
        if (nodes_fd < 0)
                return nodes_fd == -ENOENT ? (first ?: total) : nodes_fd;
        _cleanup_free_ char *nodes = statedir_path(state_dir, STATEDIR_NODES);
        DirReader *rd = xmalloc(sizeof(DirReader));
        nodedir_reader_init(rd, nodes_fd);
        struct dirent64 *de;
        int r;
        while ((r = nodedir_read(rd, &de)) > 0) {
                if (!node_id_is_valid(de->d_name))
                        continue;
                k = clean_dir(nodes_fd, de->d_name, is_copy_tmp);
                if (k == -ENOTDIR || k == -ELOOP)
                        continue; /* not a copy: its restore reports it */
                total += MAX(k, 0), first = first ?: MIN(k, 0);
                k = publish_clean_node(nodes, de->d_name);
                total += MAX(k, 0), first = first ?: MIN(k, 0);
        }
        free(rd);
        if (r < 0)
                return r;
        return first ?: total;
}

/* ---- the copies' MANIFESTs ---- */

static void add_name(void *userdata, const char *name, size_t len) {
        Buf *b = userdata;
        if (b->len > 1)
                buf_putc(b, ',');
        _cleanup_free_ char *s = xstrndup(name, len);
        buf_put_json_string(b, s);
}

static void describe(const uint8_t *data, size_t len, ManifestFile *f) {
        Buf names = {};
        buf_putc(&names, '[');
        ResponseInfo info;
        response_walk(data, len, &info, add_name, &names);
        buf_putc(&names, ']');
        f->names_json = xstrndup((const char *) names.data, names.len);
        buf_free(&names);
        f->version_info = xstrndup(info.version_info ? info.version_info : "", info.version_info_len);
        f->type_url = xstrndup(info.type_url ? info.type_url : "", info.type_url_len);
}

void statedir_copy_manifest(const char *node, uint64_t generation, const NodeOutput *next, Manifest *ret) {
        Manifest m = {
                .kind = MANIFEST_KIND_NODE,
                .node = xstrdup(node),
                .generation = generation,
                .files = xcalloc(next->n + 1, sizeof(ManifestFile)),
                .n_files = next->n,
        };
        struct timespec now;
        if (clock_gettime(CLOCK_REALTIME, &now) == 0)
                m.created_usec = (uint64_t) now.tv_sec * 1000000u + (uint64_t) now.tv_nsec / 1000u;
        for (size_t i = 0; i < next->n; i++) {
                const NodeFile *f = &next->files[i];
                ManifestFile *mf = &m.files[i];
                mf->path = xstrdup(f->path);
                mf->size = f->len;
                /* the bytes the build made (hashed by it, or here): never the disk's */
                if (strlen(f->sha256) == 64)
                        memcpy(mf->sha256, f->sha256, sizeof mf->sha256);
                else
                        sha256_hex(f->data, f->len, mf->sha256);
                describe(f->data, f->len, mf);
        }
        *ret = m;
}

static int open_copy(const char *state_dir, const char *node) {
        _cleanup_free_ char *nodes = statedir_path(state_dir, STATEDIR_NODES);
        _cleanup_close_ int nodes_fd = open(nodes, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nodes_fd < 0)
                return -errno;
        return nodedir_open(nodes_fd, node);
}

int statedir_write_copy_manifest(const char *state_dir, const char *node, const Manifest *m, bool sync,
                                 struct stat *ret_id) {
        _cleanup_close_ int fd = open_copy(state_dir, node);
        if (fd < 0)
                return fd;
        Buf b = {};
        manifest_format(m, &b);
        int r = manifest_write_pair_id(fd, b.data, b.len, NULL, 0, 0640, (gid_t) -1, sync, ret_id);
        buf_free(&b);
        return r;
}

int statedir_patch_copy_manifest(const char *state_dir, const char *node, const struct stat *id, const Manifest *head,
                                 char *const *touched, size_t n_touched, struct stat *ret_id) {
        _cleanup_close_ int fd = open_copy(state_dir, node);
        if (fd < 0)
                return fd;
        _cleanup_free_ char *old = NULL;
        size_t len;
        int r = manifest_read_same(fd, id, &old, &len);
        if (r < 0)
                return r;
        Buf b = {};
        r = manifest_patch(old, len, head, touched, n_touched, &b);
        if (r >= 0)
                r = manifest_write_pair_id(fd, b.data, b.len, NULL, 0, 0640, (gid_t) -1, false, ret_id);
        buf_free(&b);
        return r;
}

/* <node_fd>/MANIFEST parsed, read without following a symlink. */
static int read_manifest_at(int node_fd, Manifest *ret, char **ret_error) {
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = manifest_read_at(node_fd, MANIFEST_NAME, O_NOFOLLOW, &data, &len, NULL);
        if (r < 0)
                return r;
        return manifest_parse(data, len, ret, ret_error);
}

bool statedir_copy_manifest_current(const char *state_dir, const char *node, const Manifest *m) {
        _cleanup_close_ int fd = open_copy(state_dir, node);
        Manifest have = {};
        if (fd < 0 || read_manifest_at(fd, &have, NULL) < 0)
                return false;
        bool same = have.kind == MANIFEST_KIND_NODE && have.node && streq(have.node, node) &&
                have.generation == m->generation && have.n_files == m->n_files && have.n_links == 0;
        for (size_t i = 0; same && i < m->n_files; i++)
                same = streq(have.files[i].path, m->files[i].path) && have.files[i].size == m->files[i].size &&
                        streq(have.files[i].sha256, m->files[i].sha256);
        manifest_done(&have);
        return same;
}

uint64_t statedir_manifest_generation(const char *dir, const char *node) {
        _cleanup_close_ int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return 0;
        _cleanup_close_ int fd = nodedir_open(dir_fd, node);
        Manifest m = {};
        if (fd < 0 || read_manifest_at(fd, &m, NULL) < 0)
                return 0;
        uint64_t g = m.generation;
        manifest_done(&m);
        return g;
}

/* ---- reading a copy back ---- */

#define TYPE_URL_PREFIX "type.googleapis.com/"

static bool is_type_url(const uint8_t *p, size_t len) {
        size_t n = strlen(TYPE_URL_PREFIX);
        return len > n && memcmp(p, TYPE_URL_PREFIX, n) == 0;
}

bool statedir_is_response(const uint8_t *data, size_t len) {
        WireReader rd = { data, data + len };
        WireField f;
        bool typed = false;
        while (wire_next(&rd, &f)) {
                if (f.number == 1 && f.wire_type != WIRE_LEN)
                        return false;
                if (f.number == 4) {
                        if (f.wire_type != WIRE_LEN || !is_type_url(f.data, f.len))
                                return false;
                        typed = true;
                }
                if (f.number != 2)
                        continue;
                if (f.wire_type != WIRE_LEN)
                        return false;
                /* an Any: its type_url and its value */
                WireReader any = { f.data, f.data + f.len };
                WireField a;
                bool any_typed = false;
                while (wire_next(&any, &a))
                        if (a.number == 1)
                                any_typed = a.wire_type == WIRE_LEN && is_type_url(a.data, a.len);
                        else if (a.number == 2 && a.wire_type != WIRE_LEN)
                                return false;
                if (any.p != any.end || !any_typed)
                        return false;
        }
        return rd.p == rd.end && typed;
}

static int cmp_node_file(const void *a, const void *b) {
        return strcmp(((const NodeFile *) a)->path, ((const NodeFile *) b)->path);
}

/* Reads type/name below node_fd, never through a symlink, as a verified
 * NodeFile (sha256 when want is NULL, else checked against it). */
static int read_copy_file(int node_fd, const char *path, const ManifestFile *want, NodeFile *ret, char **ret_error) {
        const char *slash = strchr(path, '/');
        _cleanup_free_ char *type = slash ? xstrndup(path, (size_t) (slash - path)) : NULL;
        ResourceType t = type ? resource_type_from_dir(type) : _RESOURCE_TYPE_INVALID;
        if (t < 0 || strchr(slash + 1, '/') || !nodedir_is_pb_name(slash + 1)) {
                *ret_error = xasprintf("%s: not a file of a node directory", path);
                return -EBADMSG;
        }
        _cleanup_close_ int type_fd = nodedir_open(node_fd, type);
        if (type_fd < 0) {
                *ret_error = xasprintf("%s: %s", type, type_fd == -ELOOP || type_fd == -ENOTDIR
                                               ? "not a directory (a symlink is never followed in state_dir)"
                                               : strerror(-type_fd));
                return type_fd;
        }
        _cleanup_close_ int fd = openat(type_fd, slash + 1, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                int r = -errno;
                *ret_error = xasprintf("%s: %s", path, r == -ELOOP ? "a symlink (never followed in state_dir)"
                                                                   : strerror(-r));
                return r;
        }
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;
        int r = read_regular_fd(fd, COPY_FILE_MAX, &data, &len);
        if (r < 0) {
                *ret_error = xasprintf("%s: %s", path, read_error_string(r));
                return r;
        }
        char sha[65];
        sha256_hex(data, len, sha);
        if (want && (want->size != len || !streq(want->sha256, sha))) {
                *ret_error = xasprintf("%s: %zu bytes with sha256 %s, the copy's MANIFEST lists %" PRIu64 " bytes with %s",
                                       path, len, sha, want->size, want->sha256);
                return -EBADMSG;
        }
        if (!statedir_is_response(data, len)) {
                *ret_error = xasprintf("%s: not a DiscoveryResponse (%zu bytes)", path, len);
                return -EBADMSG;
        }
        ResponseInfo info;
        NodeFile f = {
                .path = xstrdup(path),
                .len = len,
                .type = t,
                .n_resources = response_walk(data, len, &info, NULL, NULL),
        };
        memcpy(f.sha256, sha, sizeof f.sha256);
        if (info.version_info && info.version_info_len < sizeof f.version) {
                memcpy(f.version, info.version_info, info.version_info_len);
                f.version[info.version_info_len] = 0;
        }
        f.data = TAKE_PTR(data);
        *ret = f;
        return 0;
}

static void add_file(NodeOutput *o, NodeFile f) {
        o->files = xrealloc(o->files, (o->n + 1) * sizeof(NodeFile));
        o->files[o->n++] = f;
}

/* Format 1: every "*.pb" of the type directories, each a DiscoveryResponse. */
static int load_legacy(int node_fd, NodeOutput *o, char **ret_error) {
        for (ResourceType t = 0; t < _RESOURCE_TYPE_MAX; t++) {
                const char *type = resource_type_dir(t);
                if (!type)
                        continue;
                _cleanup_close_ int type_fd = nodedir_open(node_fd, type);
                if (type_fd == -ENOENT)
                        continue;
                if (type_fd < 0) {
                        *ret_error = xasprintf("%s: %s", type, type_fd == -ELOOP || type_fd == -ENOTDIR
                                                       ? "not a directory (a symlink is never followed in state_dir)"
                                                       : strerror(-type_fd));
                        return type_fd;
                }
                DirReader *rd = xmalloc(sizeof(DirReader));
                nodedir_reader_init(rd, type_fd);
                struct dirent64 *de;
                int r;
                while ((r = nodedir_read(rd, &de)) > 0) {
                        if (!nodedir_is_pb_name(de->d_name))
                                continue;
                        _cleanup_free_ char *path = xasprintf("%s/%s", type, de->d_name);
                        NodeFile f;
                        r = read_copy_file(node_fd, path, NULL, &f, ret_error);
                        if (r < 0)
                                break;
                        add_file(o, f);
                }
                free(rd);
                if (r < 0) {
                        if (!*ret_error)
                                *ret_error = xasprintf("%s: %s", type, strerror(-r));
                        return r;
                }
        }
        if (o->n == 0)
                return -ENOENT;
        qsort(o->files, o->n, sizeof(NodeFile), cmp_node_file);
        return 0;
}

int statedir_load_copy(const char *state_dir, const char *node, bool legacy, NodeOutput *ret, uint64_t *ret_generation,
                       char **ret_error) {
        _cleanup_free_ char *error = NULL;
        _cleanup_close_ int node_fd = open_copy(state_dir, node);
        if (node_fd < 0) {
                if (node_fd != -ENOENT)
                        *ret_error = xasprintf("%s: %s", node, node_fd == -ELOOP || node_fd == -ENOTDIR
                                                       ? "not a directory (a symlink is never followed in state_dir)"
                                                       : strerror(-node_fd));
                return node_fd;
        }
        NodeOutput o = {};
        uint64_t generation = 0;
        int r;
        if (legacy)
                r = load_legacy(node_fd, &o, &error);
        else {
                Manifest m = {};
                _cleanup_free_ char *why = NULL;
                r = read_manifest_at(node_fd, &m, &why);
                if (r < 0)
                        error = xasprintf(MANIFEST_NAME ": %s", why ? why : r == -ENOENT ? "missing" : read_error_string(r));
                else if (m.kind != MANIFEST_KIND_NODE || !m.node || !streq(m.node, node) || m.n_links > 0) {
                        error = xasprintf(MANIFEST_NAME ": not the MANIFEST of node %s's copy", node);
                        r = -EBADMSG;
                }
                for (size_t i = 0; r >= 0 && i < m.n_files; i++) {
                        NodeFile f;
                        r = read_copy_file(node_fd, m.files[i].path, &m.files[i], &f, &error);
                        if (r >= 0)
                                add_file(&o, f);
                }
                if (r >= 0 && o.n == 0) {
                        error = xstrdup(MANIFEST_NAME ": lists no file");
                        r = -EBADMSG;
                }
                generation = m.generation;
                manifest_done(&m);
        }
        if (r < 0) {
                node_output_done(&o);
                if (r != -ENOENT || error) {
                        *ret_error = error ? xasprintf("%s/%s/%s", STATEDIR_NODES, node, error)
                                           : xasprintf("%s/%s: %s", STATEDIR_NODES, node, read_error_string(r));
                        return r == -ENOENT ? -EBADMSG : r;
                }
                return r;
        }
        *ret = o;
        *ret_generation = generation;
        return 0;
}

int statedir_adopt(const char *state_dir, StatedirReport report, void *userdata) {
        _cleanup_free_ char *nodes = statedir_path(state_dir, STATEDIR_NODES);
        _cleanup_close_ int nodes_fd = open(nodes, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nodes_fd < 0)
                return errno == ENOENT ? 0 : -errno;
        DirReader *rd = xmalloc(sizeof(DirReader));
        nodedir_reader_init(rd, nodes_fd);
        struct dirent64 *de;
        int r, n = 0;
        while ((r = nodedir_read(rd, &de)) > 0) {
                if (!node_id_is_valid(de->d_name))
                        continue;
                NodeOutput o = {};
                uint64_t generation;
                _cleanup_free_ char *error = NULL;
                int k = statedir_load_copy(state_dir, de->d_name, true, &o, &generation, &error);
                if (k == -ENOENT)
                        continue;
                if (k >= 0) {
                        Manifest m;
                        statedir_copy_manifest(de->d_name, 0, &o, &m);
                        k = statedir_write_copy_manifest(state_dir, de->d_name, &m, false, NULL);
                        manifest_done(&m);
                        node_output_done(&o);
                        if (k < 0)
                                error = xasprintf("%s/%s/" MANIFEST_NAME ": %s", STATEDIR_NODES, de->d_name, strerror(-k));
                        else
                                n++;
                }
                if (k < 0 && report)
                        report(userdata, de->d_name, error ? error : read_error_string(k));
        }
        free(rd);
        return r < 0 ? r : n;
}
