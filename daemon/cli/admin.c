/* SPDX-License-Identifier: MIT */
/* The administration verbs, on a running fsxdsd's directories found through
 * its fsxds.yaml: status (status.json as a table), bootstrap (the part of
 * an Envoy bootstrap pointing a node at its files), allow-removal and
 * forget (a node's state and output). */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "json.h"

const char usage_status[] =
        "Usage: fsxds status [--config FILE] [--json]\n"
        "\n"
        "Shows what fsxdsd last published, from OUTPUT_DIR/status.json: per\n"
        "node its generation, the time of its last publish, its counts of files,\n"
        "listeners and clusters, and its last error or \"ok\".\n"
        "\n"
        "Options:\n"
        "      --config FILE   the daemon's configuration (default " CONFIG_DEFAULT_PATH ")\n"
        "      --json          print status.json as it is\n"
        "  -h, --help          show this help\n";

const char usage_forget[] =
        "Usage: fsxds forget [--config FILE] NODE\n"
        "\n"
        "fsxdsd keeps the output of a node that left the source tree, since its\n"
        "Envoy may still run. This removes it: OUTPUT_DIR/NODE/, the node's last\n"
        "good generation under STATE_DIR/nodes/NODE/ and a pending removal\n"
        "allowance. Symlinks are removed, never followed. Refused while\n"
        "SOURCE_DIR/nodes/NODE/ exists or NODE is listed in nodes:.\n"
        "\n"
        "Options:\n"
        "      --config FILE   the daemon's configuration (default " CONFIG_DEFAULT_PATH ")\n"
        "  -h, --help          show this help\n";

const char usage_allow_removal[] =
        "Usage: fsxds allow-removal [--config FILE] NODE\n"
        "\n"
        "Lets the next generation of NODE remove more than max_removal of its\n"
        "listeners or clusters (fsxdsd refuses such a generation otherwise, in\n"
        "case the source tree was emptied or unmounted by mistake). Creates\n"
        "STATE_DIR/allow-removal/NODE; fsxdsd deletes it when it uses it.\n"
        "\n"
        "Options:\n"
        "      --config FILE   the daemon's configuration (default " CONFIG_DEFAULT_PATH ")\n"
        "  -h, --help          show this help\n";

const char usage_bootstrap[] =
        "Usage: fsxds bootstrap [--config FILE] [--publish-mode MODE] [--json] --node ID\n"
        "\n"
        "Prints the part of an Envoy bootstrap that points node ID at the files\n"
        "fsxdsd publishes for it (node.id and dynamic_resources), as YAML or\n"
        "JSON. Warns on stderr when the node has more path subscriptions than\n"
        "the host's fs.inotify.max_user_instances: each costs the Envoy one\n"
        "inotify instance.\n"
        "\n"
        "Options:\n"
        "      --node ID           the node\n"
        "      --config FILE       the daemon's configuration (default " CONFIG_DEFAULT_PATH ")\n"
        "      --publish-mode MODE rename or watched_directory (default: the configuration's)\n"
        "      --json              print JSON\n"
        "  -h, --help              show this help\n";

/* The types whose files an Envoy subscribes to by path one by one, beyond
 * the two its bootstrap names (LDS, CDS), in the order the inotify warning
 * counts them. */
static const ResourceType subscription_types[] = {
        RESOURCE_ROUTE_CONFIGURATION, RESOURCE_CLUSTER_LOAD_ASSIGNMENT, RESOURCE_SECRET,
        RESOURCE_SCOPED_ROUTE_CONFIGURATION, RESOURCE_RUNTIME,
};

/* ---- what the daemon writes, read and written here until the CLI uses
 * publish/status.h and publish/statedir.h: STATE_DIR's layout and
 * OUTPUT_DIR/status.json ---- */

/* STATE_DIR/allow-removal/NODE: a node's next generation may remove more
 * than max_removal */
#define STATE_ALLOW_REMOVAL_DIR "allow-removal"
/* STATE_DIR/nodes/NODE/: a node's last good generation */
#define STATE_NODES_DIR "nodes"

static char *state_allow_removal_dir(const char *state_dir) {
        return path_join(state_dir, STATE_ALLOW_REMOVAL_DIR);
}

static char *state_nodes_dir(const char *state_dir) {
        return path_join(state_dir, STATE_NODES_DIR);
}

/* what status.json may weigh */
#define STATUS_MAX_SIZE (64u << 20)

static char *status_file_path(const char *output_dir) {
        return path_join(output_dir, "status.json");
}

static bool check_node_id(const char *node) {
        if (node_id_is_valid(node))
                return true;
        fprintf(stderr, "fsxds: invalid node id \"%s\" (1 to 128 of A-Z a-z 0-9 . _ -, not starting with '.')\n", node);
        return false;
}

/* Local time as "2024-11-26 06:26:40". */
static void format_time_usec(int64_t usec, char ret[32]) {
        time_t t = (time_t) (usec / 1000000);
        struct tm tm;
        if (usec <= 0 || !localtime_r(&t, &tm) || strftime(ret, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(ret, 32, "-");
}


/* A string from the file as one line of a table: control characters, which
 * would break the line or drive the terminal, become '?'. */
static char *printable(const char *s) {
        char *r = xstrdup(s);
        for (char *p = r; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        *p = '?';
        return r;
}

static char *status_int_cell(const Json *j, const char *key) {
        int64_t v;
        return json_get_int(j, key, &v) ? xasprintf("%" PRIi64, v) : xstrdup("-");
}

static char *status_node_state(const char *id, const Json *node) {
        Buf b = {};
        const Json *blocked = json_get(node, "removal_blocked");
        if (blocked && blocked->kind == JSON_BOOL && blocked->boolean)
                buf_printf(&b, "removal blocked (fsxds allow-removal %s); ", id);
        const Json *current = json_get(node, "manifest_current");
        if (current && current->kind == JSON_BOOL && !current->boolean)
                buf_printf(&b, "MANIFEST not current (see the journal); ");
        const Json *e = json_get(node, "error");
        if (!e || e->kind == JSON_NULL) {
                buf_printf(&b, "ok");
                return buf_steal_str(&b);
        }
        const char *file = json_get_str(e, "file"), *path = json_get_str(e, "path"), *message = json_get_str(e, "message");
        int64_t line = 0, column = 0, count = 1;
        if (file) {
                buf_printf(&b, "%s:", file);
                if (json_get_int(e, "line", &line) && line > 0) {
                        (void) json_get_int(e, "column", &column);
                        buf_printf(&b, "%" PRIi64 ":%" PRIi64 ":", line, column);
                }
                buf_putc(&b, ' ');
        }
        if (path)
                buf_printf(&b, "%s: ", path);
        buf_printf(&b, "%s", message ? message : "error");
        if (json_get_int(e, "count", &count) && count > 1)
                buf_printf(&b, " (%" PRIi64 " errors)", count);
        _cleanup_free_ char *s = buf_steal_str(&b);
        return printable(s);
}

static int compare_strp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int status_print(const char *file, const Json *root) {
        int64_t version;
        if (root->kind != JSON_OBJECT || !json_get_int(root, "version", &version)) {
                fprintf(stderr, "%s: error: not a status file of fsxdsd (no \"version\")\n", file);
                return EXIT_BAD_INPUT;
        }
        if (version != 1) {
                fprintf(stderr, "%s: error: status file version %" PRIi64 ", this fsxds reads version 1\n", file, version);
                return EXIT_BAD_INPUT;
        }
        const Json *nodes = json_get(root, "nodes");
        if (nodes && nodes->kind != JSON_OBJECT && nodes->kind != JSON_NULL) {
                fprintf(stderr, "%s: error: \"nodes\" is not an object\n", file);
                return EXIT_BAD_INPUT;
        }
        size_t n = nodes && nodes->kind == JSON_OBJECT ? nodes->n : 0;

        char when[32];
        int64_t t = 0;
        (void) json_get_int(root, "time_usec", &t);
        format_time_usec(t, when);
        _cleanup_free_ char *generation = status_int_cell(root, "generation");
        const char *backend = json_get_str(root, "backend"), *mode = json_get_str(root, "publish_mode");
        _cleanup_free_ char *header = xasprintf("fsxdsd generation %s, watch %s, publish mode %s, last rebuild %s",
                                                generation, backend ? backend : "-", mode ? mode : "-", when);
        _cleanup_free_ char *header_p = printable(header);
        printf("%s\n", header_p);
        const Json *signing = json_get(root, "signing"), *sources = json_get(root, "signed_sources");
        const char *subject = json_get_str(signing, "subject");
        if (subject) {
                int64_t until = 0;
                (void) json_get_int(signing, "not_after", &until);
                format_time_usec(until * 1000000, when);
                _cleanup_free_ char *line = printable(subject);
                printf("MANIFESTs signed as %s (certificate valid until %s)\n", line, when);
        }
        const char *ca = json_get_str(sources, "ca"), *refused = json_get_str(sources, "error");
        if (ca) {
                _cleanup_free_ char *line = printable(refused ? refused : ca);
                printf(refused ? "source tree REFUSED, last good output kept: %s\n" : "source tree signed under %s\n", line);
        }
        if (n == 0) {
                printf("no nodes\n");
                return fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
        }

        /* the node ids sorted, each with the index of its (last) entry */
        enum { COL_NODE, COL_GENERATION, COL_PUBLISHED, COL_FILES, COL_LISTENERS, COL_CLUSTERS, COL_STATE, _COL_MAX };
        static const char *const titles[_COL_MAX] = { "NODE", "GENERATION", "PUBLISHED", "FILES", "LISTENERS", "CLUSTERS", "STATE" };
        char **ids = xcalloc(n, sizeof(char *));
        for (size_t i = 0; i < n; i++)
                ids[i] = nodes->keys[i];
        qsort(ids, n, sizeof(char *), compare_strp);
        char *(*cells)[_COL_MAX] = xcalloc(n, sizeof(*cells));
        size_t width[_COL_MAX];
        for (size_t c = 0; c < _COL_MAX; c++)
                width[c] = strlen(titles[c]);
        size_t rows = 0;
        for (size_t i = 0; i < n; i++) {
                if (i > 0 && streq(ids[i], ids[i - 1]))
                        continue;
                const Json *node = json_get(nodes, ids[i]);
                if (node->kind != JSON_OBJECT) {
                        fprintf(stderr, "%s: warning: the entry of node \"%s\" is not an object\n", file, ids[i]);
                        continue;
                }
                char **row = cells[rows++];
                row[COL_NODE] = printable(ids[i]);
                row[COL_GENERATION] = status_int_cell(node, "generation");
                int64_t published = 0;
                (void) json_get_int(node, "published_usec", &published);
                format_time_usec(published, when);
                row[COL_PUBLISHED] = xstrdup(when);
                row[COL_FILES] = status_int_cell(node, "files");
                row[COL_LISTENERS] = status_int_cell(node, "listeners");
                row[COL_CLUSTERS] = status_int_cell(node, "clusters");
                row[COL_STATE] = status_node_state(ids[i], node);
                for (size_t c = 0; c < _COL_MAX; c++)
                        width[c] = MAX(width[c], strlen(row[c]));
        }
        for (size_t c = 0; c + 1 < _COL_MAX; c++)
                printf("%-*s  ", (int) width[c], titles[c]);
        printf("%s\n", titles[_COL_MAX - 1]);
        for (size_t r = 0; r < rows; r++) {
                for (size_t c = 0; c + 1 < _COL_MAX; c++)
                        printf("%-*s  ", (int) width[c], cells[r][c]);
                printf("%s\n", cells[r][_COL_MAX - 1]);
        }
        for (size_t r = 0; r < rows; r++)
                for (size_t c = 0; c < _COL_MAX; c++)
                        free(cells[r][c]);
        free(cells);
        free(ids);
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
}

int verb_status(int argc, char **argv, const Options *o) {
        _cleanup_(config_freep) Config *config = NULL;
        if (load_config(o->config, &config) < 0)
                return EXIT_USAGE;
        _cleanup_free_ char *file = status_file_path(config->output_dir);
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = read_file_bounded(file, STATUS_MAX_SIZE, &data, &len);
        if (r == -ENOENT) {
                fprintf(stderr, "fsxds: fsxdsd has not published into %s yet (no status.json)\n", config->output_dir);
                return EXIT_USAGE;
        }
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot read %s: %s\n", file, strerror(-r));
                return EXIT_USAGE;
        }
        if (o->json) {
                fwrite(data, 1, len, stdout);
                return fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
        }
        _cleanup_(json_freep) Json *root = NULL;
        _cleanup_free_ char *error = NULL;
        if (json_parse(data, len, &error, &root) < 0) {
                fprintf(stderr, "%s:%s\n", file, error);
                return EXIT_BAD_INPUT;
        }
        return status_print(file, root);
}

#define REMOVE_MAX_DEPTH 64

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

/* Removes parent/name (parent itself may be reached through symlinks: it
 * comes from the configuration). Returns 1 when removed, 0 when absent. */
static int remove_node_entry(const char *parent, const char *name) {
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

/* The configuration of a verb on one node, after checking the node id.
 * Prints what went wrong. */
static int node_command_load(const char *node, const Options *o, Config **ret) {
        if (!check_node_id(node))
                return -EINVAL;
        return load_config(o->config, ret);
}

int verb_forget(int argc, char **argv, const Options *o) {
        const char *node = argv[0];
        _cleanup_(config_freep) Config *config = NULL;
        if (node_command_load(node, o, &config) < 0)
                return EXIT_USAGE;
        for (size_t i = 0; i < config->n_nodes; i++)
                if (streq(config->nodes[i], node)) {
                        fprintf(stderr, "fsxds: node %s is listed in nodes: of %s; fsxdsd still builds it, remove it there first\n",
                                node, config->path ? config->path : "the configuration");
                        return EXIT_BAD_INPUT;
                }
        _cleanup_free_ char *nodes_dir = path_join(config->source_dir, "nodes");
        _cleanup_free_ char *source = path_join(nodes_dir, node);
        struct stat st;
        if (lstat(source, &st) == 0) {
                fprintf(stderr, "fsxds: %s exists; fsxdsd still builds node %s, remove that directory first\n", source, node);
                return EXIT_BAD_INPUT;
        }
        if (errno != ENOENT && errno != ENOTDIR) {
                fprintf(stderr, "fsxds: cannot check %s: %m\n", source);
                return EXIT_USAGE;
        }

        _cleanup_free_ char *state_nodes = state_nodes_dir(config->state_dir);
        _cleanup_free_ char *allow = state_allow_removal_dir(config->state_dir);
        const char *const parents[] = { config->output_dir, state_nodes, allow };
        int ret = EXIT_OK;
        size_t removed = 0;
        for (size_t i = 0; i < ELEMENTSOF(parents); i++) {
                _cleanup_free_ char *path = path_join(parents[i], node);
                int r = remove_node_entry(parents[i], node);
                if (r < 0) {
                        fprintf(stderr, "fsxds: cannot remove %s: %s\n", path,
                                r == -EXDEV ? "a directory in it is on another file system (a mount point?)" : strerror(-r));
                        ret = EXIT_USAGE;
                } else if (r > 0) {
                        printf("removed %s\n", path);
                        removed++;
                }
        }
        if (ret == EXIT_OK && removed == 0) {
                fprintf(stderr, "fsxds: nothing to forget: node %s has no output in %s and no state in %s\n", node,
                        config->output_dir, config->state_dir);
                return EXIT_BAD_INPUT;
        }
        if (fflush(stdout) != 0)
                ret = EXIT_USAGE;
        return ret;
}

/* Creates state_dir/allow-removal/node holding the time. The directory and
 * file get the owner of state_dir when root creates them, so the daemon's
 * user can delete the file when it uses it. */
static int allow_removal_create(const char *state_dir, const char *node, char **ret_path) {
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
        if (mkdirat(state_fd, STATE_ALLOW_REMOVAL_DIR, 0750) == 0) {
                if (chown_to_state && fchownat(state_fd, STATE_ALLOW_REMOVAL_DIR, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
        } else if (errno != EEXIST)
                return -errno;
        _cleanup_close_ int dir_fd = openat(state_fd, STATE_ALLOW_REMOVAL_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
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
        _cleanup_free_ char *dir = state_allow_removal_dir(state_dir);
        *ret_path = path_join(dir, node);
        return 0;
}

int verb_allow_removal(int argc, char **argv, const Options *o) {
        const char *node = argv[0];
        _cleanup_(config_freep) Config *config = NULL;
        if (node_command_load(node, o, &config) < 0)
                return EXIT_USAGE;
        _cleanup_free_ char *path = NULL;
        int r = allow_removal_create(config->state_dir, node, &path);
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot create %s/" STATE_ALLOW_REMOVAL_DIR "/%s: %s\n", config->state_dir, node, strerror(-r));
                return EXIT_USAGE;
        }
        printf("created %s: the next generation of node %s may remove more than %g%% of its listeners or clusters\n",
               path, node, config->max_removal * 100);
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
}

/* s as a double-quoted scalar; the escapes used are valid in both YAML and
 * JSON. */
static void put_quoted(Buf *b, const char *s) {
        buf_putc(b, '"');
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p == '"' || *p == '\\') {
                        buf_putc(b, '\\');
                        buf_putc(b, *p);
                } else if (*p < 0x20 || *p == 0x7f)
                        buf_printf(b, "\\u%04x", *p);
                else
                        buf_putc(b, *p);
        }
        buf_putc(b, '"');
}

/* The config source of a type the bootstrap names, whose resources share
 * one file (file, relative to the node directory). */
static void bootstrap_config_source(Buf *b, bool json, const char *node_dir, ResourceType t, const char *file_in_node,
                                    PublishMode mode, bool last) {
        assert(resource_type_is_sotw(t));
        const char *type = resource_type_dir(t);
        _cleanup_free_ char *dir = path_join(node_dir, type);
        _cleanup_free_ char *file = path_join(node_dir, file_in_node);
        bool watched = mode == PUBLISH_MODE_WATCHED_DIRECTORY;
        if (json) {
                buf_printf(b, "    \"%s_config\": {\n", type);
                buf_printf(b, "      \"resource_api_version\": \"V3\",\n");
                buf_printf(b, "      \"path_config_source\": {\n");
                buf_printf(b, "        \"path\": ");
                put_quoted(b, file);
                if (watched) {
                        buf_printf(b, ",\n        \"watched_directory\": {\n          \"path\": ");
                        put_quoted(b, dir);
                        buf_printf(b, "\n        }");
                }
                buf_printf(b, "\n      }\n    }%s\n", last ? "" : ",");
                return;
        }
        buf_printf(b, "  %s_config:\n", type);
        buf_printf(b, "    resource_api_version: V3\n");
        buf_printf(b, "    path_config_source:\n");
        buf_printf(b, "      path: ");
        put_quoted(b, file);
        buf_putc(b, '\n');
        if (watched) {
                buf_printf(b, "      watched_directory:\n        path: ");
                put_quoted(b, dir);
                buf_putc(b, '\n');
        }
}

/* How many *.pb names the node's type directory has; in watched_directory
 * mode these are the symlinks through ..data, and the generation
 * directories and ..data itself start with '.'. */
static int count_pb_files(int node_fd, const char *type) {
        int fd = openat(node_fd, type, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                close(fd);
                return r;
        }
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && endswith(de->d_name, ".pb") && n < INT_MAX)
                        n++;
        closedir(d);
        return n;
}

/* Envoy gives every path subscription its own inotify instance, and the
 * kernel limits them per user: an Envoy past fs.inotify.max_user_instances
 * fails to load the subscriptions beyond it. */
static void bootstrap_check_inotify(const char *output_dir, const char *node) {
        const char *proc = getenv("FSXDS_PROC_SYS_FS_INOTIFY");
        _cleanup_free_ char *limit_file = path_join(proc && *proc ? proc : "/proc/sys/fs/inotify", "max_user_instances");
        _cleanup_free_ char *text = NULL;
        if (read_file_bounded(limit_file, 64, &text, NULL) < 0)
                return; /* not Linux, or no procfs: nothing to compare with */
        char *end;
        errno = 0;
        unsigned long long limit = strtoull(text, &end, 10);
        if (errno != 0 || end == text || (*end && *end != '\n'))
                return;

        _cleanup_free_ char *node_dir = path_join(output_dir, node);
        _cleanup_close_ int node_fd = open(node_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (node_fd < 0) {
                fprintf(stderr,
                        "note: node %s has not been published into %s yet, so its number of path subscriptions is unknown "
                        "(2 + one per rds, eds, sds, srds and rtds file); the host allows %llu inotify instances per user "
                        "(fs.inotify.max_user_instances)\n",
                        node, output_dir, limit);
                return;
        }
        unsigned long long total = 2;
        Buf parts = {};
        buf_printf(&parts, "2");
        for (size_t i = 0; i < ELEMENTSOF(subscription_types); i++) {
                const char *type = resource_type_dir(subscription_types[i]);
                int n = count_pb_files(node_fd, type);
                if (n < 0) {
                        fprintf(stderr, "fsxds: cannot count the files in %s/%s: %s\n", node_dir, type, strerror(-n));
                        buf_free(&parts);
                        return;
                }
                if (n > 0)
                        buf_printf(&parts, " + %d %s", n, type);
                total += (unsigned) n;
        }
        _cleanup_free_ char *what = buf_steal_str(&parts);
        if (total > limit)
                fprintf(stderr,
                        "warning: node %s has %llu path subscriptions (%s); the host allows %llu inotify instances per user "
                        "(fs.inotify.max_user_instances): each path subscription costs the Envoy one, so some will fail; "
                        "raise the limit (sysctl fs.inotify.max_user_instances)\n",
                        node, total, what, limit);
}

int verb_bootstrap(int argc, char **argv, const Options *o) {
        const char *node = o->node;
        if (!check_node_id(node))
                return EXIT_USAGE;
        _cleanup_(config_freep) Config *config = NULL;
        if (load_config(o->config, &config) < 0)
                return EXIT_USAGE;
        PublishMode mode = o->publish_mode >= 0 ? o->publish_mode : config->publish_mode;

        _cleanup_free_ char *node_dir = path_join(config->output_dir, node);
        Buf b = {};
        if (o->json) {
                buf_printf(&b, "{\n  \"node\": {\n    \"id\": ");
                put_quoted(&b, node);
                buf_printf(&b, "\n  },\n  \"dynamic_resources\": {\n");
        } else {
                buf_printf(&b, "node:\n  id: ");
                put_quoted(&b, node);
                buf_printf(&b, "\ndynamic_resources:\n");
        }
        bootstrap_config_source(&b, o->json, node_dir, RESOURCE_CLUSTER, LAYOUT_CDS_FILE, mode, false);
        bootstrap_config_source(&b, o->json, node_dir, RESOURCE_LISTENER, LAYOUT_LDS_FILE, mode, true);
        if (o->json)
                buf_printf(&b, "  }\n}\n");
        fwrite(b.data, 1, b.len, stdout);
        buf_free(&b);
        if (fflush(stdout) != 0)
                return EXIT_USAGE;
        bootstrap_check_inotify(config->output_dir, node);
        return EXIT_OK;
}
