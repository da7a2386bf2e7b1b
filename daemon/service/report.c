/* SPDX-License-Identifier: MIT */
/* What fsxdsd tells about its state: status.json and the STATUS= line
 * systemd shows, and the log of the tree's directories that are no node. */
#include <inttypes.h>
#include <systemd/sd-daemon.h>

#include "logging.h"
#include "metrics.h"
#include "publish.h"
#include "adsfeed.h"
#include "report.h"
#include "rollback.h"
#include "statedir.h"
#include "status.h"


#define BAD_NODE_DIR_MESSAGE "not a node id (1 to 128 of A-Z a-z 0-9 . _ -, not starting with '.'); not built"

/* Directories in nodes/ whose name is no node id: an error each, in the
 * status under that name (never a NodeState: nothing is published or
 * verified under such a name), logged when the set changes. */
static const char *const *bad_node_dirs(State *st) {
        static const char *const none[] = { NULL };
        return st->cache ? source_cache_bad_node_dirs(st->cache) : none;
}

void report_bad_node_dirs(State *st) {
        uint64_t fp = 0;
        for (const char *const *p = bad_node_dirs(st); *p; p++)
                fp = fp * 31 + hash_bytes(*p, strlen(*p)) + 1;
        if (fp == st->bad_node_dirs_fingerprint)
                return;
        st->bad_node_dirs_fingerprint = fp;
        for (const char *const *p = bad_node_dirs(st); *p; p++)
                log_error(NULL, "%s/nodes/%s: " BAD_NODE_DIR_MESSAGE, st->config->source_dir, *p);
}

void report_change(char **logged, const char *path) {
        /* a save is several events (create, write, rename): one line a path */
        if (*logged && streq(*logged, path ?: ""))
                return;
        log_debug(NULL, "change: %s", path ? path : "(rescan)");
        free(*logged);
        *logged = xstrdup(path ?: "");
}

void report_started(State *st) {
        int r = status_daemon_self(&st->daemon);
        if (r < 0)
                log_warning(NULL, "cannot read this process's start time or the boot id in /proc: %s; fsxds status "
                            "cannot tell whether fsxdsd runs", strerror(-r));
        st->daemon.started_usec = (int64_t) now_usec(CLOCK_REALTIME);
}

void report_stopped(State *st) {
        st->daemon.stopped_usec = (int64_t) now_usec(CLOCK_REALTIME);
        report_write_status(st);
}

static void write_status(State *st, bool notify) {
        Status status = {
                .generation = (int64_t) st->generation,
                .time_usec = (int64_t) st->last_rebuild_usec,
                .backend = xstrdup(st->watch_backend ?: "none"),
                .publish_mode = xstrdup(publish_mode_to_string(st->config->publish_mode)),
                .source_dir = xstrdup(st->config->source_dir),
                .output_dir = xstrdup(st->config->output_dir),
                .signing_subject = st->signer ? xstrdup(signer_subject(st->signer)) : NULL,
                .signing_not_after = st->signer ? signer_not_after(st->signer) : 0,
                .signed_sources_ca = st->config->require_signed_sources_ca ? xstrdup(st->config->require_signed_sources_ca)
                                                                          : NULL,
                .signed_sources_error = st->sources_error ? xstrdup(st->sources_error) : NULL,
                .watch_degraded = st->watch_unwatched > 0,
                .watch_unwatched = (int64_t) st->watch_unwatched,
                .watch_limit_name = st->watch_limit_name ? xstrdup(st->watch_limit_name) : NULL,
                .watch_limit_value = st->watch_limit_value,
                .watch_rescan_usec = (int64_t) st->config->rescan_interval_usec,
                .retry_usec = (int64_t) st->retry_usec,
                .verify_passes = (int64_t) st->verify_passes,
                .written_usec = (int64_t) now_usec(CLOCK_REALTIME),
                .source_error = st->sources_error ? xstrdup(st->sources_error) : NULL,
                .daemon = st->daemon,
        };
        status.daemon.boot_id = st->daemon.boot_id ? xstrdup(st->daemon.boot_id) : NULL;
        for (size_t i = 0; i < st->n_nodes; i++) {
                NodeState *n = st->nodes[i];
                /* once when it goes (a tree being refused is no node going) */
                if (!n->present && !n->gone_logged && !st->sources_error)
                        log_info(n->id, "not in the tree any more: its output stays until fsxds forget %s", n->id);
                n->gone_logged = !n->present && (n->gone_logged || !st->sources_error);
                StatusNode *sn = status_add_node(&status, n->id);
                sn->generation = (int64_t) n->generation;
                sn->published_usec = (int64_t) n->published_usec;
                sn->n_files = (int64_t) n->n_files;
                sn->n_listeners = (int64_t) n->n_listeners;
                sn->n_clusters = (int64_t) n->n_clusters;
                sn->present = n->present;
                sn->removal_blocked = n->removal_blocked;
                if (n->allowance_usec)
                        sn->allow_removal_expires_usec = (int64_t) (n->allowance_usec + STATEDIR_ALLOWANCE_USEC);
                rollback_status(n, sn);
                sn->manifest_current = n->manifest_ok;
                sn->state_error = n->state_error     ? xstrdup(n->state_error)
                                  : st->counter_error ? xstrdup(st->counter_error)
                                                      : NULL;
                if (n->error.message) {
                        sn->error = (Diag) { DIAG_ERROR, n->error.file ? xstrdup(n->error.file) : NULL, n->error.line,
                                             n->error.column, n->error.path ? xstrdup(n->error.path) : NULL,
                                             xstrdup(n->error.message), n->error.rule ? xstrdup(n->error.rule) : NULL };
                        sn->n_errors = (int64_t) n->n_errors;
                }
        }
        size_t n_bad_dirs = 0;
        for (const char *const *p = bad_node_dirs(st); *p; p++, n_bad_dirs++) {
                StatusNode *sn = status_add_node(&status, *p);
                sn->generation = sn->published_usec = sn->n_files = sn->n_listeners = sn->n_clusters = 0;
                sn->present = sn->manifest_current = true;
                sn->error = (Diag) { .level = DIAG_ERROR, .file = xasprintf("%s/nodes/%s", st->config->source_dir, *p),
                                     .message = xstrdup(BAD_NODE_DIR_MESSAGE) };
                sn->n_errors = 1;
        }
        adsfeed_sweep(st);
        adsfeed_status(st, &status);
        int chown_error = 0;
        int r = status_write(st->config->output_dir, &status, st->gid, &chown_error);
        _cleanup_free_ char *status_file = status_path(st->config->output_dir);
        if (r < 0) {
                /* said once; STATUS= below carries the errors meanwhile */
                if (!st->status_failed)
                        log_error(NULL, "cannot write %s: %s; it keeps the last status written, flagged stale by "
                                  STATUS_DIR "/" STATUS_ERROR_NAME, status_file, strerror(-r));
                st->status_failed = true;
        } else {
                if (st->status_failed)
                        log_info(NULL, "%s is written again", status_file);
                st->status_failed = false;
                /* readable by the output's readers, like the files it describes */
                if (chown_error < 0)
                        log_warning(NULL, "cannot give %s to group %s: %s", status_file, st->config->output_group,
                                    strerror(-chown_error));
        }
        status_done(&status);
        metrics_write(st); /* with the status, at the same moments */
        if (!notify)
                return;

        size_t bad = 0;
        const NodeState *first_bad = NULL;
        for (size_t i = 0; i < st->n_nodes; i++)
                if (st->nodes[i]->error.message && st->nodes[i]->present) {
                        bad++;
                        first_bad = first_bad ? first_bad : st->nodes[i];
                }
        _cleanup_free_ char *watch = st->watch_unwatched > 0
                ? xasprintf("; watch degraded: %s reached, %zu directories rescanned every %" PRIu64 "ms",
                            st->watch_limit_name ?: "an inotify limit", st->watch_unwatched,
                            st->config->rescan_interval_usec / 1000)
                : xstrdup("");
        _cleanup_free_ char *reload = st->reload_error
                ? xasprintf("%s; reload refused: %s (see the journal), running on the previous one", watch, st->reload_error)
                : xstrdup(watch);
        if (st->retry_usec > 0) {
                uint64_t now = now_usec(CLOCK_REALTIME);
                char *more = xasprintf("%s; failed publishes retried in %" PRIu64 " s", reload,
                                       st->retry_usec > now ? (st->retry_usec - now + 999999) / 1000000 : 0);
                free(reload);
                reload = more;
        }
        if (n_bad_dirs > 0) {
                char *more = xasprintf("%s; %s/nodes/%s: " BAD_NODE_DIR_MESSAGE "%s", reload, st->config->source_dir,
                                       bad_node_dirs(st)[0], n_bad_dirs > 1 ? " (and more such directories)" : "");
                free(reload);
                reload = more;
        }
        if (r < 0) {
                char *more = xasprintf("%s; cannot write %s: %s (it is stale)", reload, status_file, strerror(-r));
                free(reload);
                reload = more;
        }
        _cleanup_free_ char *pinned = rollback_status_line(st);
        if (pinned) {
                char *more = xasprintf("%s%s", reload, pinned);
                free(reload);
                reload = more;
        }
        if (st->counter_error) {
                char *more = xasprintf("%s; %s", reload, st->counter_error);
                free(reload);
                reload = more;
        }
        for (size_t i = 0; i < st->n_nodes; i++)
                if (st->nodes[i]->state_error) {
                        char *with = xasprintf("%s; %s: %s", reload, st->nodes[i]->id, st->nodes[i]->state_error);
                        free(reload);
                        reload = with;
                        break;
                }
        if (st->sources_error)
                sd_notifyf(false, "STATUS=generation %" PRIu64 ", %zu nodes; source tree refused (last good output kept): %s%s",
                           st->generation, st->n_nodes, st->sources_error, reload);
        else if (first_bad) {
                _cleanup_free_ char *d = diag_format(&first_bad->error);
                sd_notifyf(false, "STATUS=generation %" PRIu64 ", %zu nodes, %zu with errors (last good output kept); %s: %s%s",
                           st->generation, st->n_nodes, bad, first_bad->id, d, reload);
        } else
                sd_notifyf(false, "STATUS=generation %" PRIu64 ", %zu nodes, all published%s", st->generation, st->n_nodes,
                           reload);
}

void report_write_status(State *st) {
        write_status(st, true);
}

void report_write_status_quiet(State *st) {
        write_status(st, false);
}
