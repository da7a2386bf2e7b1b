/* SPDX-License-Identifier: MIT */
/* fsxds history, rollback and unpin: a node's generations as fsxdsd
 * records them in state_dir (publish/history.h), going back to one of
 * them (a request fsxdsd takes, or takes at its next start), and letting
 * the tree be published again. They read state_dir only, so they work
 * with or without a running fsxdsd (as root or the fsxds user). */
#include <dirent.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "history.h"
#include "json.h"
#include "statedir.h"
#include "status.h"

const char usage_history[] =
        "Usage: fsxds history [--config FILE] [--json] [-v] NODE\n"
        "\n"
        "List the generations fsxdsd keeps of NODE in state_dir (history: in\n"
        "fsxds.yaml), newest first: generation, time, files, changed files (-v:\n"
        "their paths, + added, - removed, ~ changed), the source digest (sha256\n"
        "over \"path sha256\\n\" of the node's source files, common/ and\n"
        "nodes/NODE/, sorted), a rollback's origin, and which one is live.\n"
        "\n"
        "Options:\n"
        "  --config FILE  fsxdsd's configuration (default " CONFIG_DEFAULT_PATH ")\n"
        "  --json         one JSON document\n"
        "\n"
        "Exit status: 0 listed, 1 unknown node, 2 usage or I/O error.\n";

const char usage_rollback[] =
        "Usage: fsxds rollback [--config FILE] NODE GEN\n"
        "\n"
        "Publish generation GEN of NODE again, as a new generation (numbers are\n"
        "never reused), in make-before-break order and under the removal guard,\n"
        "then pin NODE: tree changes are built and checked but not published\n"
        "until 'fsxds unpin NODE'. GEN must be in the node's history and its\n"
        "files rebuildable. With fsxdsd running, waits (up to 60 s) for it.\n"
        "\n"
        "Options:\n"
        "  --config FILE  fsxdsd's configuration (default " CONFIG_DEFAULT_PATH ")\n"
        "\n"
        "Exit status: 0 rolled back and pinned, 1 refused (GEN unknown or not\n"
        "rebuildable, the removal guard, an error), 2 usage or I/O error, 3 the\n"
        "request is left for fsxdsd (not running: taken at its next start; or\n"
        "still pending after 60 s).\n";

const char usage_unpin[] =
        "Usage: fsxds unpin [--config FILE] NODE\n"
        "\n"
        "Remove the pin 'fsxds rollback' put on NODE: fsxdsd builds the node\n"
        "from the tree and publishes it again. With fsxdsd running, waits (up to\n"
        "60 s) and says which generation the node got.\n"
        "\n"
        "Options:\n"
        "  --config FILE  fsxdsd's configuration (default " CONFIG_DEFAULT_PATH ")\n"
        "\n"
        "Exit status: 0 unpinned, 1 not pinned, 2 usage or I/O error, 3 still\n"
        "pinned in fsxdsd's status after 60 s.\n";

#define WAIT_SEC 60

static void sleep_a_little(void) {
        (void) nanosleep(&(struct timespec) { .tv_nsec = 20 * 1000 * 1000 }, NULL);
}

/* The nodes with a history, for "did you mean". */
static int unknown_node(const Config *config, const char *node) {
        _cleanup_free_ char *top = statedir_path(config->state_dir, STATEDIR_HISTORY);
        _cleanup_(closedirp) DIR *d = opendir(top);
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (node_id_is_valid(de->d_name)) {
                        names = realloc(names, (n + 1) * sizeof(char *));
                        names[n++] = xstrdup(de->d_name);
                }
        const char *close = n ? closest_match(node, (const char *const *) names, n) : NULL;
        fprintf(stderr, "fsxds: node %s has no history in %s%s%s%s\n", node, top, close ? " (did you mean " : "",
                close ?: "", close ? "?)" : "");
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return EXIT_BAD_INPUT;
}

/* The pin of node: 1 with its generation and origin, 0 when none. */
static int read_pin(const Config *config, const char *node, int64_t *ret_gen, int64_t *ret_of, int64_t *ret_since) {
        _cleanup_free_ char *path = xasprintf("%s/" STATEDIR_PIN "/%s", config->state_dir, node);
        _cleanup_free_ char *data = NULL, *why = NULL;
        _cleanup_(json_freep) Json *j = NULL;
        size_t len;
        int r = read_file_bounded(path, 4096, &data, &len);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        *ret_gen = *ret_of = *ret_since = 0;
        if (json_parse(data, len, &why, &j) >= 0) {
                (void) json_get_int(j, "generation", ret_gen);
                (void) json_get_int(j, "rollback_of", ret_of);
                (void) json_get_int(j, "created_usec", ret_since);
        }
        return 1;
}

static char change_mark(const HistoryChange *c) {
        return !*c->was ? '+' : !*c->sha256 ? '-' : '~';
}

static const char *change_word(const HistoryChange *c) {
        return !*c->was ? "added" : !*c->sha256 ? "removed" : "changed";
}

int verb_history(int argc, char **argv, const Options *o) {
        const char *node = argv[0];
        _cleanup_(config_freep) Config *config = NULL;
        if (!check_node_id(node) || load_config(o->config, &config) < 0)
                return EXIT_USAGE;
        _cleanup_free_ uint64_t *gens = NULL;
        size_t n;
        int r = history_list(config->state_dir, node, &gens, &n);
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot list the history of %s in %s/" STATEDIR_HISTORY ": %s\n", node,
                        config->state_dir, strerror(-r));
                return EXIT_USAGE;
        }
        if (n == 0)
                return unknown_node(config, node);
        _cleanup_free_ char *nodes = statedir_path(config->state_dir, STATEDIR_NODES);
        uint64_t live = statedir_manifest_generation(nodes, node);
        int64_t pin_gen = 0, pin_of = 0, pin_since = 0;
        r = read_pin(config, node, &pin_gen, &pin_of, &pin_since);
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot read the pin of %s: %s\n", node, strerror(-r));
                return EXIT_USAGE;
        }
        bool pinned = r > 0;
        int64_t now = (int64_t) now_usec(CLOCK_REALTIME);
        Buf b = {};
        if (o->json) {
                buf_printf(&b, "{\"node\":");
                buf_put_json_string(&b, node);
                buf_printf(&b, ",\"live\":%" PRIu64 ",\"kept\":%u,\"pinned\":", live, config->history);
                if (pinned)
                        buf_printf(&b, "{\"generation\":%" PRIi64 ",\"rollback_of\":%" PRIi64 ",\"since_usec\":%" PRIi64 "}",
                                   pin_gen, pin_of, pin_since);
                else
                        buf_printf(&b, "null");
                buf_printf(&b, ",\"generations\":[");
        } else {
                buf_printf(&b, "node %s: %zu generation%s kept (history: %u); live: %s", node, n, n == 1 ? "" : "s",
                           config->history, live ? "" : "unknown");
                if (live)
                        buf_printf(&b, "generation %" PRIu64, live);
                if (pinned)
                        buf_printf(&b, "; pinned at generation %" PRIi64 " (rollback of %" PRIi64 ") until fsxds unpin %s",
                                   pin_gen, pin_of, node);
                buf_printf(&b, "\n%-10s  %-19s  %-8s  %5s  %7s  %-12s  %s\n", "GEN", "TIME", "AGO", "FILES", "CHANGED",
                           "SOURCE", "NOTE");
        }
        int ret = EXIT_OK;
        for (size_t i = n; i-- > 0;) {
                HistoryEntry e = {};
                _cleanup_free_ char *why = NULL;
                r = history_read(config->state_dir, node, gens[i], &e, &why);
                if (r < 0) {
                        fprintf(stderr, "fsxds: %s\n", why);
                        ret = EXIT_USAGE;
                        continue;
                }
                if (o->json) {
                        buf_printf(&b, "%s{\"generation\":%" PRIu64 ",\"created_usec\":%" PRIu64 ",\"files\":%" PRIu64
                                   ",\"files_digest\":\"%s\",\"source_sha256\":\"%s\",\"rollback_of\":%" PRIu64
                                   ",\"live\":%s,\"changes\":[",
                                   i == n - 1 ? "" : ",", e.generation, e.created_usec, e.n_files, e.files_digest,
                                   e.source_sha256, e.rollback_of, e.generation == live ? "true" : "false");
                        for (size_t k = 0; k < e.n_changes; k++) {
                                buf_printf(&b, "%s{\"path\":", k ? "," : "");
                                buf_put_json_string(&b, e.changes[k].path);
                                buf_printf(&b, ",\"change\":\"%s\",\"sha256\":\"%s\",\"was\":\"%s\"}",
                                           change_word(&e.changes[k]), e.changes[k].sha256, e.changes[k].was);
                        }
                        buf_printf(&b, "]}");
                } else {
                        char when[32];
                        format_time_usec((int64_t) e.created_usec, when);
                        int64_t age = (int64_t) e.created_usec <= now ? now - (int64_t) e.created_usec : -1;
                        _cleanup_free_ char *ago = format_age(age);
                        Buf note = {};
                        if (e.generation == live)
                                buf_printf(&note, "live");
                        if (e.rollback_of)
                                buf_printf(&note, "%srollback of %" PRIu64, note.len ? "; " : "", e.rollback_of);
                        if (pinned && (int64_t) e.generation == pin_gen)
                                buf_printf(&note, "%spinned", note.len ? "; " : "");
                        _cleanup_free_ char *notes = buf_steal_str(&note);
                        buf_printf(&b, "%-10" PRIu64 "  %-19s  %-8s  %5" PRIu64 "  %7zu  %-12.12s  %s\n", e.generation,
                                   when, ago, e.n_files, e.n_changes, *e.source_sha256 ? e.source_sha256 : "-",
                                   notes ?: "");
                        for (size_t k = 0; verbose && k < e.n_changes; k++)
                                buf_printf(&b, "            %c %s\n", change_mark(&e.changes[k]), e.changes[k].path);
                }
                history_entry_done(&e);
        }
        if (o->json)
                buf_printf(&b, "]}\n");
        fwrite(b.data, 1, b.len, stdout);
        buf_free(&b);
        if (fflush(stdout) != 0)
                return EXIT_USAGE;
        return ret;
}

/* The node's entry of status.json: 0, or -errno. */
static int status_node(const Config *config, const char *node, Status *s, const StatusNode **ret) {
        *ret = NULL;
        int r = status_read(config->output_dir, s, NULL);
        if (r < 0)
                return r;
        for (size_t i = 0; i < s->n_nodes; i++)
                if (s->nodes[i].id && streq(s->nodes[i].id, node))
                        *ret = &s->nodes[i];
        return 0;
}

static bool path_there(const char *path) {
        return access(path, F_OK) == 0;
}

int verb_rollback(int argc, char **argv, const Options *o) {
        const char *node = argv[0];
        _cleanup_(config_freep) Config *config = NULL;
        if (!check_node_id(node) || load_config(o->config, &config) < 0)
                return EXIT_USAGE;
        char *end;
        errno = 0;
        unsigned long long gen = argv[1][0] >= '1' && argv[1][0] <= '9' ? strtoull(argv[1], &end, 10) : 0;
        if (gen == 0 || errno || *end) {
                fprintf(stderr, "fsxds: expected a generation number, not \"%s\"\n", argv[1]);
                return EXIT_USAGE;
        }
        /* what fsxdsd will do first: rebuild it, every object read and checked */
        NodeOutput out = {};
        _cleanup_free_ char *why = NULL;
        int r = history_load_output(config->state_dir, node, gen, &out, &why);
        if (r < 0) {
                _cleanup_free_ uint64_t *gens = NULL;
                size_t n = 0;
                if (history_list(config->state_dir, node, &gens, &n) >= 0 && n == 0)
                        return unknown_node(config, node);
                fprintf(stderr, "fsxds: %s\n", why);
                return EXIT_BAD_INPUT;
        }
        size_t n_files = out.n;
        node_output_done(&out);
        int running = statedir_instance_held(config->state_dir);
        if (running < 0) {
                fprintf(stderr, "fsxds: cannot tell whether fsxdsd runs on %s: %s\n", config->state_dir,
                        strerror(-running));
                return EXIT_USAGE;
        }
        int64_t asked = (int64_t) now_usec(CLOCK_REALTIME);
        _cleanup_free_ char *text = xasprintf("%llu\n", gen), *request = NULL;
        r = statedir_request_create(config->state_dir, STATEDIR_ROLLBACK, node, text, &request);
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot create %s/" STATEDIR_ROLLBACK "/%s: %s\n", config->state_dir, node,
                        strerror(-r));
                return EXIT_USAGE;
        }
        if (!running) {
                printf("fsxdsd is not running: the request %s (generation %llu, %zu files) is taken at its next start, "
                       "before its first rebuild publishes node %s\n", request, gen, n_files, node);
                return fflush(stdout) == 0 ? EXIT_NOT_RUNNING : EXIT_USAGE;
        }
        for (unsigned i = 0; path_there(request); i++) {
                /* another fsxds rollback replaced the request: the newer one
                 * is what fsxdsd does last, and this one may never be */
                _cleanup_free_ char *now = NULL;
                size_t now_len;
                if (read_file_bounded(request, 64, &now, &now_len) >= 0 && !streq(now, text)) {
                        fprintf(stderr, "fsxds: the request %s was replaced meanwhile (it now asks for generation %.*s); "
                                "this rollback is superseded: `fsxds status` and `fsxds history %s` show what is live\n",
                                request, (int) strcspn(now, "\n"), now, node);
                        return EXIT_NOT_RUNNING;
                }
                if (i >= WAIT_SEC * 50) {
                        fprintf(stderr, "fsxds: fsxdsd is running but has not done %s within %d s; it is still pending "
                                "(see its journal)\n", request, WAIT_SEC);
                        return EXIT_NOT_RUNNING;
                }
                sleep_a_little();
        }
        _cleanup_(status_done) Status s = {};
        const StatusNode *sn;
        r = status_node(config, node, &s, &sn);
        if (r < 0) {
                fprintf(stderr, "fsxds: fsxdsd took the request, but its status cannot be read: %s\n", strerror(-r));
                return EXIT_USAGE;
        }
        if (sn && sn->pin_generation > 0 && sn->pin_rollback_of == (int64_t) gen && sn->pin_since_usec >= asked) {
                printf("node %s: generation %" PRIi64 " published, its files equal generation %llu's; pinned: tree "
                       "changes are built and checked but not published until `fsxds unpin %s`\n",
                       node, sn->pin_generation, gen, node);
                return fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
        }
        if (sn && sn->error.message) {
                fprintf(stderr, "fsxds: fsxdsd refused to roll node %s back to generation %llu: %s\n", node, gen,
                        sn->error.message);
                if (sn->removal_blocked)
                        fprintf(stderr, "fsxds: `fsxds allow-removal %s` lets it through once; then run `fsxds rollback "
                                "%s %llu` again\n", node, node, gen);
        } else
                fprintf(stderr, "fsxds: fsxdsd did not roll node %s back to generation %llu (see its journal)\n", node,
                        gen);
        return EXIT_BAD_INPUT;
}

int verb_unpin(int argc, char **argv, const Options *o) {
        const char *node = argv[0];
        _cleanup_(config_freep) Config *config = NULL;
        if (!check_node_id(node) || load_config(o->config, &config) < 0)
                return EXIT_USAGE;
        int r = statedir_request_remove(config->state_dir, STATEDIR_PIN, node);
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot remove %s/" STATEDIR_PIN "/%s: %s\n", config->state_dir, node, strerror(-r));
                return EXIT_USAGE;
        }
        if (r == 0) {
                fprintf(stderr, "fsxds: node %s is not pinned (no %s/" STATEDIR_PIN "/%s)\n", node, config->state_dir,
                        node);
                return EXIT_BAD_INPUT;
        }
        if (statedir_instance_held(config->state_dir) <= 0) {
                printf("node %s unpinned; fsxdsd is not running: it publishes the tree at its next start\n", node);
                return fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
        }
        for (unsigned i = 0;; i++) {
                _cleanup_(status_done) Status s = {};
                const StatusNode *sn;
                if (status_node(config, node, &s, &sn) >= 0 && sn && sn->pin_generation == 0) {
                        printf("node %s unpinned: generation %" PRIi64 " is live, built from the tree\n", node,
                               sn->generation);
                        return fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
                }
                if (i >= WAIT_SEC * 50) {
                        fprintf(stderr, "fsxds: node %s is unpinned, but fsxdsd's status still shows it pinned after "
                                "%d s (see its journal)\n", node, WAIT_SEC);
                        return EXIT_NOT_RUNNING;
                }
                sleep_a_little();
        }
}
