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
#include "statedir.h"
#include "status.h"

const char usage_status[] =
        "Usage: fsxds status [--config FILE] [--json]\n"
        "\n"
        "Shows what fsxdsd last published, from OUTPUT_DIR/.fsxds/status.json: per\n"
        "node its generation, the time of its last publish, its counts of files,\n"
        "listeners and clusters, and its last error or \"ok\"; first whether the\n"
        "fsxdsd that wrote it still runs (checked live) and how old it is.\n"
        "Exit status 3 when that fsxdsd does not run (--json too).\n"
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
        "SOURCE_DIR/nodes/NODE/ exists or NODE is listed in nodes:. While fsxdsd\n"
        "runs, it is asked to (STATE_DIR/forget/NODE) and does it, so that its\n"
        "status follows; fsxds waits for it, up to 60 s.\n"
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
        "STATE_DIR/allow-removal/NODE; fsxdsd deletes it when it uses it, when\n"
        "the node's next generation is published without needing it, or one\n"
        "hour after it was made. Refused for a node with no output in OUTPUT_DIR\n"
        "and no last good copy in STATE_DIR: fsxdsd has nothing of it to remove.\n"
        "\n"
        "Options:\n"
        "      --config FILE   the daemon's configuration (default " CONFIG_DEFAULT_PATH ")\n"
        "  -h, --help          show this help\n";

const char usage_bootstrap[] =
        "Usage: fsxds bootstrap [--config FILE] [--publish-mode MODE] [--json] [--force] --node ID\n"
        "       fsxds bootstrap --ads [--delta] [--grpc] [--cert FILE --key FILE --ca FILE] [--json] --node ID\n"
        "\n"
        "Prints the part of an Envoy bootstrap that points node ID at the files\n"
        "fsxdsd publishes for it (node.id and dynamic_resources), as YAML or\n"
        "JSON. Warns on stderr when the node has more path subscriptions than\n"
        "the host's fs.inotify.max_user_instances: each costs the Envoy one\n"
        "inotify instance. Refuses a node fsxdsd does not know (no\n"
        "SOURCE_DIR/nodes/ID/, not in nodes:, nothing in OUTPUT_DIR/ID/): its\n"
        "Envoy would wait for files that never come.\n"
        "\n"
        "With --ads, prints a whole Envoy bootstrap that takes the node's\n"
        "configuration from fsxdsd's xDS server instead (ads: in fsxds.yaml):\n"
        "ADS over its unix socket, or over TCP with TLS, where --cert and --key\n"
        "are the client's certificate (naming node ID) and key and --ca the CA\n"
        "of fsxdsd's certificate. --grpc prints gRPC's xDS bootstrap (for\n"
        "GRPC_XDS_BOOTSTRAP) instead.\n"
        "\n"
        "Options:\n"
        "      --node ID           the node\n"
        "      --config FILE       the daemon's configuration (default " CONFIG_DEFAULT_PATH ")\n"
        "      --publish-mode MODE rename or watched_directory (default: the configuration's)\n"
        "      --json              print JSON\n"
        "      --force             print it for a node fsxdsd does not know too\n"
        "      --ads               the bootstrap of fsxdsd's xDS server (ADS), not of the files\n"
        "      --delta             ADS with delta xDS (api_type DELTA_GRPC); implies --ads\n"
        "      --grpc              gRPC's xDS bootstrap (JSON); implies --ads\n"
        "      --cert FILE         over TCP: the client's certificate, naming node ID\n"
        "      --key FILE          over TCP: its key\n"
        "      --ca FILE           over TCP: the CA of fsxdsd's certificate\n"
        "  -v, --verbose           say which configuration file was read\n"
        "  -h, --help              show this help\n";

/* The types whose files an Envoy subscribes to by path one by one, beyond
 * the two its bootstrap names (LDS, CDS), in the order the inotify warning
 * counts them. */
static const ResourceType subscription_types[] = {
        RESOURCE_ROUTE_CONFIGURATION, RESOURCE_CLUSTER_LOAD_ASSIGNMENT, RESOURCE_SECRET,
        RESOURCE_SCOPED_ROUTE_CONFIGURATION, RESOURCE_RUNTIME,
};

bool check_node_id(const char *node) {
        if (node_id_is_valid(node))
                return true;
        fprintf(stderr, "fsxds: invalid node id \"%s\" (1 to 128 of A-Z a-z 0-9 . _ -, not starting with '.')\n", node);
        return false;
}

/* Local time as "2024-11-26 06:26:40". */
void format_time_usec(int64_t usec, char ret[32]) {
        time_t t = (time_t) (usec / 1000000);
        struct tm tm;
        if (usec <= 0 || !localtime_r(&t, &tm) || strftime(ret, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(ret, 32, "-");
}


/* A string from the file as one line of a table: control characters, which
 * would break the line or drive the terminal, become '?'. */
char *printable(const char *s) {
        char *r = xstrdup(s);
        for (char *p = r; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        *p = '?';
        return r;
}

static char *status_int_cell(int64_t v) {
        return v == STATUS_UNSET ? xstrdup("-") : xasprintf("%" PRIi64, v);
}

static char *status_node_state(const StatusNode *n) {
        Buf b = {};
        if (!n->present)
                buf_printf(&b, "not in the tree: its output stays until fsxds forget %s; ", n->id);
        if (n->removal_blocked)
                buf_printf(&b, "removal blocked (fsxds allow-removal %s); ", n->id);
        if (n->allow_removal_expires_usec > 0) {
                char until[32];
                format_time_usec(n->allow_removal_expires_usec > 1 ? n->allow_removal_expires_usec : 0, until);
                buf_printf(&b, "removal allowed once, until its next generation or %s; ", until);
        }
        if (n->pin_generation > 0)
                buf_printf(&b, "pinned at gen %" PRIi64 " (rollback of %" PRIi64 ")%s; ", n->pin_generation,
                           n->pin_rollback_of, n->pin_held ? "; tree changes held" : "");
        if (!n->manifest_current)
                buf_printf(&b, "MANIFEST not current (see the journal); ");
        if (n->state_error) {
                _cleanup_free_ char *p = printable(n->state_error);
                buf_printf(&b, "last good copy: %s; ", p);
        }
        const Diag *e = &n->error;
        if (!e->message) {
                buf_printf(&b, "ok");
                return buf_steal_str(&b);
        }
        /* (written as "" when the error has none) */
        if (e->file && *e->file) {
                buf_printf(&b, "%s:", e->file);
                if (e->line > 0)
                        buf_printf(&b, "%u:%u:", e->line, e->column);
                buf_putc(&b, ' ');
        }
        if (e->path && *e->path)
                buf_printf(&b, "%s: ", e->path);
        buf_printf(&b, "%s", e->message);
        if (n->n_errors > 1)
                buf_printf(&b, " (%" PRIi64 " errors)", n->n_errors);
        _cleanup_free_ char *s = buf_steal_str(&b);
        return printable(s);
}

/* By id, and an id given twice in the file by its place there. */
static int compare_nodep(const void *a, const void *b) {
        const StatusNode *x = *(const StatusNode *const *) a, *y = *(const StatusNode *const *) b;
        int c = strcmp(x->id, y->id);
        return c != 0 ? c : (x > y) - (x < y);
}

/* "3 s", "5 min", "2 h", "4 d": how long ago, for a human; "an unknown
 * time" for a negative one (a time in the future, or none). */
char *format_age(int64_t usec) {
        if (usec < 0)
                return xstrdup("an unknown time");
        int64_t s = usec / 1000000;
        if (s < 120)
                return xasprintf("%" PRIi64 " s", s);
        if (s < 7200)
                return xasprintf("%" PRIi64 " min", s / 60);
        if (s < 172800)
                return xasprintf("%" PRIi64 " h", s / 3600);
        return xasprintf("%" PRIi64 " d", s / 86400);
}

/* Whether the daemon that wrote the status runs; one that stopped or is
 * gone while an fsxdsd holds state_dir's instance lock was restarted, and
 * the new one has not written its first status yet (DAEMON_STARTING). */
static DaemonState daemon_state(const Status *s, const Config *config) {
        DaemonState st = status_daemon_state(&s->daemon);
        if ((st == DAEMON_STOPPED || st == DAEMON_GONE) && statedir_instance_held(config->state_dir) > 0)
                return DAEMON_STARTING;
        return st;
}

/* The line on the daemon that wrote the status, checked live: whether
 * it runs, and how old what follows is. EXIT_NOT_RUNNING when it does
 * not run (what follows is how it left things). */
static int print_daemon_state(const Status *s, const Config *config) {
        char when[32], since[32];
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t now = (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        int64_t written = s->written_usec != STATUS_UNSET ? s->written_usec : s->time_usec;
        /* times from the file may be anything: no overflow, no negative age */
        _cleanup_free_ char *age = format_age(written > 0 && written <= now ? now - written : -1);
        format_time_usec(written, when);
        format_time_usec(s->daemon.started_usec, since);
        const StatusDaemon *d = &s->daemon;
        switch (daemon_state(s, config)) {
        case DAEMON_STARTING:
                printf("fsxdsd running, starting: its first status is not written yet; this one is %s old, "
                       "from pid %" PRIi64 "\n", age, d->pid);
                return EXIT_OK;
        case DAEMON_RUNNING:
                printf("fsxdsd running (pid %" PRIi64 ", since %s); status written %s (%s ago)\n", d->pid, since, when, age);
                return EXIT_OK;
        case DAEMON_STOPPED: {
                char stopped[32];
                format_time_usec(d->stopped_usec, stopped);
                printf("fsxdsd is NOT running: pid %" PRIi64 " stopped at %s; this status is %s old, as it left things\n",
                       d->pid, stopped, age);
                return EXIT_NOT_RUNNING;
        }
        case DAEMON_GONE:
                printf("fsxdsd is NOT running: pid %" PRIi64 " (started %s) is gone, killed or crashed (or the host "
                       "rebooted); this status is %s old\n", d->pid, since, age);
                return EXIT_NOT_RUNNING;
        case DAEMON_UNKNOWN:
        default:
                printf(d->pid == STATUS_UNSET ? "fsxdsd: whether it runs is unknown (the status does not name its "
                                                "writer); status written %s (%s ago)\n"
                                              : "fsxdsd: whether it runs is unknown (/proc cannot tell); status "
                                                "written %s (%s ago)\n",
                       when, age);
                return EXIT_OK;
        }
}

static int status_print(const char *file, const Status *s, const Config *config) {
        size_t n = s->n_nodes;
        char when[32];
        format_time_usec(s->time_usec, when);
        _cleanup_free_ char *generation = status_int_cell(s->generation);
        const char *backend = s->backend, *mode = s->publish_mode;
        _cleanup_free_ char *header = xasprintf("fsxdsd generation %s, watch %s, publish mode %s, last rebuild %s",
                                                generation, backend ? backend : "-", mode ? mode : "-", when);
        _cleanup_free_ char *header_p = printable(header);
        printf("%s\n", header_p);
        int ret = print_daemon_state(s, config);
        if (s->signing_subject) {
                int64_t until = s->signing_not_after == STATUS_UNSET ? 0 : s->signing_not_after;
                format_time_usec(until * 1000000, when);
                _cleanup_free_ char *line = printable(s->signing_subject);
                printf("MANIFESTs signed as %s (certificate valid until %s)\n", line, when);
        }
        const char *ca = s->signed_sources_ca, *refused = s->signed_sources_error;
        if (s->source_error) {
                _cleanup_free_ char *line = printable(s->source_error);
                printf("source tree REFUSED, every node keeps its last good output: %s\n", line);
        } else if (ca) {
                _cleanup_free_ char *line = printable(refused ? refused : ca);
                printf(refused ? "source tree REFUSED, last good output kept: %s\n" : "source tree signed under %s\n", line);
        }
        if (s->watch_known && s->watch_degraded) {
                _cleanup_free_ char *limit = s->watch_limit_name ? printable(s->watch_limit_name) : xstrdup("a limit");
                _cleanup_free_ char *unwatched = status_int_cell(s->watch_unwatched);
                _cleanup_free_ char *value = status_int_cell(s->watch_limit_value);
                _cleanup_free_ char *every = status_int_cell(s->watch_rescan_usec == STATUS_UNSET
                                                                     ? STATUS_UNSET : s->watch_rescan_usec / 1000);
                printf("watch DEGRADED: %s reached (%s); %s directories rescanned every %s ms instead of watched\n",
                       limit, value, unwatched, every);
        }
        if (s->retry_usec > 0) {
                format_time_usec(s->retry_usec, when);
                printf("failed publishes are retried at %s\n", when);
        }
        status_print_ads_server(s, ret != EXIT_NOT_RUNNING);
        if (n == 0) {
                printf("no nodes\n");
                return fflush(stdout) == 0 ? ret : EXIT_USAGE;
        }

        /* the nodes sorted by id, a node given twice by its last entry */
        enum { COL_NODE, COL_GENERATION, COL_PUBLISHED, COL_FILES, COL_LISTENERS, COL_CLUSTERS, COL_ADS, COL_STATE, _COL_MAX };
        static const char *const titles[_COL_MAX] = { "NODE", "GENERATION", "PUBLISHED", "FILES", "LISTENERS", "CLUSTERS", "ADS",
                                                       "STATE" };
        const StatusNode **nodes = xcalloc(n, sizeof(StatusNode *));
        for (size_t i = 0; i < n; i++)
                nodes[i] = &s->nodes[i];
        qsort(nodes, n, sizeof(StatusNode *), compare_nodep);
        char *(*cells)[_COL_MAX] = xcalloc(n, sizeof(*cells));
        size_t width[_COL_MAX];
        for (size_t c = 0; c < _COL_MAX; c++)
                width[c] = strlen(titles[c]);
        size_t rows = 0;
        for (size_t i = 0; i < n; i++) {
                const StatusNode *node = nodes[i];
                if (i + 1 < n && streq(node->id, nodes[i + 1]->id))
                        continue;
                if (node->malformed) {
                        fprintf(stderr, "%s: warning: the entry of node \"%s\" is not an object\n", file, node->id);
                        continue;
                }
                char **row = cells[rows++];
                row[COL_NODE] = printable(node->id);
                row[COL_GENERATION] = status_int_cell(node->generation);
                format_time_usec(node->published_usec, when);
                row[COL_PUBLISHED] = xstrdup(when);
                row[COL_FILES] = status_int_cell(node->n_files);
                row[COL_LISTENERS] = status_int_cell(node->n_listeners);
                row[COL_CLUSTERS] = status_int_cell(node->n_clusters);
                row[COL_ADS] = status_ads_cell(node);
                row[COL_STATE] = status_node_state(node);
                for (size_t c = 0; c < _COL_MAX; c++)
                        width[c] = MAX(width[c], strlen(row[c]));
        }
        /* the ADS column only when fsxdsd serves xDS */
        for (size_t c = 0; c + 1 < _COL_MAX; c++)
                if (c != COL_ADS || s->ads)
                        printf("%-*s  ", (int) width[c], titles[c]);
        printf("%s\n", titles[_COL_MAX - 1]);
        for (size_t r = 0; r < rows; r++) {
                for (size_t c = 0; c + 1 < _COL_MAX; c++)
                        if (c != COL_ADS || s->ads)
                                printf("%-*s  ", (int) width[c], cells[r][c]);
                printf("%s\n", cells[r][_COL_MAX - 1]);
        }
        status_print_ads_nodes(s);
        for (size_t r = 0; r < rows; r++)
                for (size_t c = 0; c < _COL_MAX; c++)
                        free(cells[r][c]);
        free(cells);
        free(nodes);
        return fflush(stdout) == 0 ? ret : EXIT_USAGE;
}

int verb_status(int argc, char **argv, const Options *o) {
        _cleanup_(config_freep) Config *config = NULL;
        if (load_config(o->config, &config) < 0)
                return EXIT_USAGE;
        _cleanup_free_ char *file = status_path(config->output_dir);
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = status_read_file(config->output_dir, &data, &len);
        if (r == -ENOENT) {
                fprintf(stderr, "fsxds: fsxdsd has not published into %s yet (no " STATUS_DIR "/" STATUS_FILE_NAME ")\n",
                        config->output_dir);
                return EXIT_USAGE;
        }
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot read %s: %s\n", file,
                        r == -EXDEV ? "a symlink that names no status slot of fsxdsd" : read_error_string(r));
                return EXIT_USAGE;
        }
        /* the daemon could not write its status: what follows is older */
        _cleanup_free_ char *stale = NULL;
        int64_t since;
        if (status_read_write_error(config->output_dir, &stale, &since) > 0) {
                char when[32];
                format_time_usec(since, when);
                _cleanup_free_ char *why = printable(stale);
                fprintf(stderr, "fsxds: warning: fsxdsd cannot write its status since %s (%s); this is the last one it wrote\n",
                        when, why);
        }
        _cleanup_(status_done) Status s = {};
        _cleanup_free_ char *error = NULL;
        r = status_parse(data, len, &s, &error);
        if (o->json) {
                /* as it is; the exit status says whether its writer runs */
                fwrite(data, 1, len, stdout);
                if (fflush(stdout) != 0)
                        return EXIT_USAGE;
                return r >= 0 && daemon_state(&s, config) != DAEMON_RUNNING && daemon_state(&s, config) != DAEMON_UNKNOWN
                               ? EXIT_NOT_RUNNING
                               : EXIT_OK;
        }
        if (r == -EBADMSG) { /* not JSON: error is "line:column: error: ..." */
                fprintf(stderr, "%s:%s\n", file, error);
                return EXIT_BAD_INPUT;
        }
        if (r < 0) {
                fprintf(stderr, "%s: error: %s\n", file, error);
                return EXIT_BAD_INPUT;
        }
        return status_print(file, &s, config);
}

/* The configuration of a verb on one node, after checking the node id.
 * Prints what went wrong. */
static int node_command_load(const char *node, const Options *o, Config **ret) {
        if (!check_node_id(node))
                return -EINVAL;
        return load_config(o->config, ret);
}

/* How long fsxds forget waits for a running fsxdsd to take its request
 * (it takes it once the generation it may be publishing is out). */
#define FORGET_WAIT_SEC 60

static bool path_exists(const char *path) {
        struct stat st;
        return lstat(path, &st) == 0 || (errno != ENOENT && errno != ENOTDIR);
}

/* Whether status.json lists the node (a running fsxdsd knows it). */
static bool status_lists(const char *output_dir, const char *node) {
        _cleanup_(status_done) Status s = {};
        if (status_read(output_dir, &s, NULL) < 0)
                return false;
        for (size_t i = 0; i < s.n_nodes; i++)
                if (streq(s.nodes[i].id, node))
                        return true;
        return false;
}

/* fsxdsd runs: it is asked through STATE_DIR/forget/NODE (statedir.h) and
 * removes the paths itself, so that its state and status follow. */
static int forget_through_daemon(const Config *config, const char *node, char *const *paths, size_t n_paths) {
        bool existed[n_paths], any = false;
        for (size_t i = 0; i < n_paths; i++)
                any = (existed[i] = path_exists(paths[i])) || any;
        if (!any && !status_lists(config->output_dir, node)) {
                fprintf(stderr, "fsxds: nothing to forget: node %s has no output in %s and no state in %s, and the "
                        "running fsxdsd does not know it\n", node, config->output_dir, config->state_dir);
                return EXIT_BAD_INPUT;
        }
        _cleanup_free_ char *request = NULL;
        int r = statedir_forget_request_create(config->state_dir, node, &request);
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot create %s/" STATEDIR_FORGET "/%s: %s\n", config->state_dir, node,
                        strerror(-r));
                return EXIT_USAGE;
        }
        for (unsigned i = 0; path_exists(request); i++) {
                if (i >= FORGET_WAIT_SEC * 50) {
                        fprintf(stderr, "fsxds: fsxdsd is running but has not taken %s within %d s; it takes it when "
                                "it can (see its journal)\n", request, FORGET_WAIT_SEC);
                        return EXIT_USAGE;
                }
                (void) nanosleep(&(struct timespec) { .tv_nsec = 20 * 1000 * 1000 }, NULL);
        }
        bool left = false;
        for (size_t i = 0; i < n_paths; i++)
                if (existed[i] && path_exists(paths[i])) {
                        fprintf(stderr, "fsxds: %s is still there\n", paths[i]);
                        left = true;
                } else if (existed[i])
                        printf("removed %s\n", paths[i]);
        if (left) {
                /* as fsxdsd decided: the tree may have changed meanwhile */
                _cleanup_free_ char *why = NULL;
                if (statedir_forget_refused(config->source_dir, config->nodes, config->n_nodes, node, &why) > 0) {
                        fprintf(stderr, "fsxds: fsxdsd refused: %s; it still builds node %s\n", why, node);
                        return EXIT_BAD_INPUT;
                }
                fprintf(stderr, "fsxds: fsxdsd could not forget node %s (see its journal)\n", node);
                return EXIT_USAGE;
        }
        printf("fsxdsd forgot node %s\n", node);
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
}

int verb_forget(int argc, char **argv, const Options *o) {
        const char *node = argv[0];
        _cleanup_(config_freep) Config *config = NULL;
        if (node_command_load(node, o, &config) < 0)
                return EXIT_USAGE;
        _cleanup_free_ char *why = NULL;
        int r = statedir_forget_refused(config->source_dir, config->nodes, config->n_nodes, node, &why);
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot check %s/nodes/%s: %s\n", config->source_dir, node, strerror(-r));
                return EXIT_USAGE;
        }
        if (r > 0) {
                fprintf(stderr, "fsxds: %s; fsxdsd still builds node %s, remove it there first\n", why, node);
                return EXIT_BAD_INPUT;
        }

        _cleanup_free_ char *state_nodes = statedir_path(config->state_dir, STATEDIR_NODES);
        _cleanup_free_ char *allow = statedir_path(config->state_dir, STATEDIR_ALLOW_REMOVAL);
        _cleanup_free_ char *history = statedir_path(config->state_dir, STATEDIR_HISTORY);
        _cleanup_free_ char *pin = statedir_path(config->state_dir, STATEDIR_PIN);
        const char *const parents[] = { config->output_dir, state_nodes, allow, history, pin };
        char *paths[ELEMENTSOF(parents)];
        for (size_t i = 0; i < ELEMENTSOF(parents); i++)
                paths[i] = path_join(parents[i], node);
        /* held until the end: no fsxdsd starts while the node goes */
        _cleanup_close_ int lock_fd = -EBADF;
        r = statedir_lock(config->state_dir, true, &lock_fd);
        int ret = EXIT_OK;
        if (r == -EWOULDBLOCK)
                ret = forget_through_daemon(config, node, paths, ELEMENTSOF(paths));
        else if (r < 0 && r != -ENOENT) {
                fprintf(stderr, "fsxds: cannot lock %s: %s\n", config->state_dir, strerror(-r));
                ret = EXIT_USAGE;
        } else {
                size_t removed = 0;
                for (size_t i = 0; i < ELEMENTSOF(parents); i++) {
                        int k = statedir_remove_entry(parents[i], node);
                        if (k < 0) {
                                fprintf(stderr, "fsxds: cannot remove %s: %s\n", paths[i],
                                        k == -EXDEV ? "a directory in it is on another file system (a mount point?)"
                                                    : strerror(-k));
                                ret = EXIT_USAGE;
                        } else if (k > 0) {
                                printf("removed %s\n", paths[i]);
                                removed++;
                        }
                }
                /* a request an fsxdsd that stopped did not take */
                (void) statedir_request_remove(config->state_dir, STATEDIR_FORGET, node);
                if (ret == EXIT_OK && removed == 0) {
                        fprintf(stderr, "fsxds: nothing to forget: node %s has no output in %s and no state in %s\n",
                                node, config->output_dir, config->state_dir);
                        ret = EXIT_BAD_INPUT;
                }
                if (fflush(stdout) != 0)
                        ret = EXIT_USAGE;
        }
        for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                free(paths[i]);
        return ret;
}

int verb_allow_removal(int argc, char **argv, const Options *o) {
        const char *node = argv[0];
        _cleanup_(config_freep) Config *config = NULL;
        if (node_command_load(node, o, &config) < 0)
                return EXIT_USAGE;
        /* what the guard compares with: the node's output, else its last good copy */
        _cleanup_free_ char *output = path_join(config->output_dir, node);
        _cleanup_free_ char *copy = statedir_node_path(config->state_dir, node);
        if (!path_exists(output) && !path_exists(copy)) {
                _cleanup_free_ char *why = NULL;
                bool in_tree = statedir_forget_refused(config->source_dir, config->nodes, config->n_nodes, node, &why) > 0;
                fprintf(stderr, "fsxds: fsxdsd has nothing of node %s to remove: no output in %s and no last good copy "
                        "in %s/" STATEDIR_NODES "%s\n", node, config->output_dir, config->state_dir,
                        in_tree ? " (it is in the tree, not published yet: its first generation removes nothing)" : "");
                return EXIT_BAD_INPUT;
        }
        _cleanup_free_ char *path = NULL;
        int r = statedir_allow_removal_create(config->state_dir, node, &path);
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot create %s/" STATEDIR_ALLOW_REMOVAL "/%s: %s\n", config->state_dir, node,
                        strerror(-r));
                return EXIT_USAGE;
        }
        char until[32];
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        format_time_usec((int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000 + (int64_t) STATEDIR_ALLOWANCE_USEC, until);
        printf("created %s: the next generation of node %s may remove more than %g%% of its listeners or clusters; "
               "the allowance is used up by that generation, needed or not, and expires unused at %s\n",
               path, node, config->max_removal * 100, until);
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
        _cleanup_closedir_ DIR *d = NULL;
        int r = opendir_at(node_fd, type, O_NOFOLLOW, &d);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && endswith(de->d_name, ".pb") && n < INT_MAX)
                        n++;
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

/* Whether fsxdsd builds or built node: SOURCE_DIR/nodes/NODE/ is a
 * directory, nodes: lists it, or OUTPUT_DIR/NODE exists (a node that left
 * the tree keeps its output). */
static bool bootstrap_node_known(const Config *config, const char *node) {
        for (size_t i = 0; i < config->n_nodes; i++)
                if (streq(config->nodes[i], node))
                        return true;
        _cleanup_free_ char *nodes_dir = path_join(config->source_dir, "nodes");
        _cleanup_free_ char *source = path_join(nodes_dir, node);
        _cleanup_free_ char *output = path_join(config->output_dir, node);
        struct stat st;
        return (stat(source, &st) == 0 && S_ISDIR(st.st_mode)) || lstat(output, &st) == 0;
}

int verb_bootstrap(int argc, char **argv, const Options *o) {
        const char *node = o->node;
        if (!check_node_id(node))
                return EXIT_USAGE;
        _cleanup_(config_freep) Config *config = NULL;
        if (load_config(o->config, &config) < 0)
                return EXIT_USAGE;
        if (!o->force && !bootstrap_node_known(config, node)) {
                _cleanup_free_ char *nodes_dir = path_join(config->source_dir, "nodes");
                _cleanup_free_ char *source = path_join(nodes_dir, node);
                _cleanup_free_ char *output = path_join(config->output_dir, node);
                fprintf(stderr,
                        "fsxds: fsxdsd does not know node %s: no %s/, not in nodes: of %s, nothing published in %s; "
                        "an Envoy with this bootstrap would wait for files that never come (--force prints it anyway)\n",
                        node, source, config->path ? config->path : "the built-in configuration", output);
                return EXIT_BAD_INPUT;
        }
        if (o->ads)
                return bootstrap_ads(config, node, o);
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
