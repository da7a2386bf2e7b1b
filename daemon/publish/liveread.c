/* SPDX-License-Identifier: MIT */
/* Reading a live node directory back, for fsxds diff: the type
 * directories listed, each "*.pb" opened with O_NOFOLLOW in the type
 * directory or, for the "..data/<name>" symlink of watched_directory
 * mode, in the generation directory "..data" names. */
#include <fcntl.h>
#include <sys/stat.h>

#include "liveread.h"
#include "nodedir.h"

/* what a live file may weigh (as plan.c reads them back) */
#define LIVE_READ_MAX (256U * 1024 * 1024)

void live_node_done(LiveNode *l) {
        for (size_t i = 0; i < l->out.n; i++)
                free(l->odd[i]);
        free(l->odd);
        node_output_done(&l->out);
        *l = (LiveNode) {};
}

static void add(LiveNode *l, size_t *cap, char *path, uint8_t *data, size_t len, char *odd) {
        if (l->out.n == *cap) {
                *cap = MAX(*cap * 2, 16u);
                l->out.files = xrealloc(l->out.files, *cap * sizeof(NodeFile));
                l->odd = xrealloc(l->odd, *cap * sizeof(char *));
        }
        l->out.files[l->out.n] = (NodeFile) { .path = path, .data = data, .len = len };
        l->odd[l->out.n++] = odd;
}

/* The generation directory "..data" names in a type directory: a name
 * beside it, never a path; -ENOENT when there is none to read through. */
static int open_data(int type_fd) {
        _cleanup_free_ char *target = NULL;
        int r = nodedir_read_link(type_fd, DATA_LINK, &target);
        if (r < 0)
                return r == -EINVAL ? -ENOENT : r;
        if (strchr(target, '/') || !startswith(target, ".."))
                return -ENOENT;
        return nodedir_open(type_fd, target);
}

static int read_type_dir(LiveNode *l, size_t *cap, int type_fd, const char *type, char **ret_error) {
        DirReader *rd = xmalloc(sizeof(DirReader));
        nodedir_reader_init(rd, type_fd);
        _cleanup_close_ int data_fd = -EBADF;
        bool data_tried = false;
        struct dirent64 *de;
        int r;
        while ((r = nodedir_read(rd, &de)) > 0) {
                if (!nodedir_is_pb_name(de->d_name))
                        continue;
                _cleanup_free_ char *path = xasprintf("%s/%s", type, de->d_name);
                struct stat st;
                if (fstatat(type_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue; /* gone while listing */
                        r = -errno;
                        *ret_error = xasprintf("%s: %s", path, strerror(-r));
                        break;
                }
                int dir_fd = type_fd;
                if (S_ISLNK(st.st_mode)) {
                        _cleanup_free_ char *target = NULL, *want = nodedir_data_target(de->d_name);
                        (void) nodedir_read_link(type_fd, de->d_name, &target);
                        if (!target || !streq(target, want)) {
                                add(l, cap, TAKE_PTR(path), NULL, 0,
                                    xasprintf("a symlink to %s, not to %s", target ? target : "?", want));
                                continue;
                        }
                        if (!data_tried) {
                                data_fd = open_data(type_fd);
                                data_tried = true;
                        }
                        if (data_fd < 0) {
                                add(l, cap, TAKE_PTR(path), NULL, 0,
                                    xstrdup(data_fd == -ENOENT ? "a symlink through " DATA_LINK ", which names no generation directory"
                                                               : "a symlink through " DATA_LINK ", which cannot be opened"));
                                continue;
                        }
                        dir_fd = data_fd;
                } else if (!S_ISREG(st.st_mode)) {
                        add(l, cap, TAKE_PTR(path), NULL, 0, xstrdup("not a regular file"));
                        continue;
                }
                _cleanup_close_ int fd = openat(dir_fd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
                if (fd < 0 && (errno == ENOENT || errno == ELOOP)) {
                        add(l, cap, TAKE_PTR(path), NULL, 0,
                            xstrdup(errno == ENOENT ? "a dangling symlink" : "a symlink to a symlink"));
                        continue;
                }
                uint8_t *data = NULL;
                size_t len = 0;
                r = fd < 0 ? -errno : read_regular_fd(fd, LIVE_READ_MAX, &data, &len);
                if (r == -EBADFD) {
                        add(l, cap, TAKE_PTR(path), NULL, 0, xstrdup("not a regular file"));
                        continue;
                }
                if (r < 0) {
                        *ret_error = xasprintf("%s: %s", path, read_error_string(r));
                        break;
                }
                add(l, cap, TAKE_PTR(path), data, len, NULL);
                NodeFile *f = &l->out.files[l->out.n - 1];
                f->type = resource_type_from_dir(type);
                f->n_resources = response_walk(data, len, NULL, NULL, NULL);
        }
        free(rd);
        if (r < 0 && !*ret_error)
                *ret_error = xasprintf("%s: %s", type, strerror(-r));
        return r < 0 ? r : 0;
}

static int cmp_file_ptr(const void *a, const void *b) {
        return strcmp((*(const NodeFile *const *) a)->path, (*(const NodeFile *const *) b)->path);
}

/* Sorts l's files by path, the reasons along. */
static void sort_files(LiveNode *l) {
        size_t n = l->out.n;
        if (n < 2)
                return;
        const NodeFile **v = xcalloc(n, sizeof(NodeFile *));
        for (size_t i = 0; i < n; i++)
                v[i] = &l->out.files[i];
        qsort(v, n, sizeof(NodeFile *), cmp_file_ptr);
        NodeFile *files = xcalloc(n, sizeof(NodeFile));
        char **odd = xcalloc(n, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
                files[i] = *v[i];
                odd[i] = l->odd[v[i] - l->out.files];
        }
        free(v);
        free(l->out.files);
        free(l->odd);
        l->out.files = files;
        l->odd = odd;
}

int live_read_node(const char *output_dir, const char *node, LiveNode *ret, char **ret_error) {
        _cleanup_close_ int out_fd = open(output_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (out_fd < 0) {
                int r = -errno;
                if (r != -ENOENT)
                        *ret_error = xasprintf("%s: %s", output_dir, strerror(-r));
                return r;
        }
        _cleanup_close_ int node_fd = nodedir_open(out_fd, node);
        if (node_fd < 0) {
                if (node_fd == -ELOOP || node_fd == -ENOTDIR)
                        return -ENOTDIR;
                if (node_fd != -ENOENT)
                        *ret_error = xasprintf("%s/%s: %s", output_dir, node, strerror(-node_fd));
                return node_fd;
        }
        LiveNode l = {};
        size_t cap = 0;
        for (ResourceType t = 0; t < _RESOURCE_TYPE_MAX; t++) {
                const char *type = resource_type_dir(t);
                if (!type)
                        continue;
                _cleanup_close_ int type_fd = nodedir_open(node_fd, type);
                if (type_fd == -ENOENT || type_fd == -ELOOP || type_fd == -ENOTDIR)
                        continue; /* nothing of fsxds's there: what it publishes replaces it */
                _cleanup_free_ char *error = NULL;
                int r = type_fd < 0 ? type_fd : read_type_dir(&l, &cap, type_fd, type, &error);
                if (r < 0) {
                        *ret_error = error ? xasprintf("%s/%s/%s", output_dir, node, error)
                                           : xasprintf("%s/%s/%s: %s", output_dir, node, type, strerror(-r));
                        live_node_done(&l);
                        return r;
                }
        }
        sort_files(&l);
        *ret = l;
        return 0;
}
