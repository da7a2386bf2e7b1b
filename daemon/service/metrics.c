/* SPDX-License-Identifier: MIT */
/* fsxdsd's numbers for a dashboard: metrics_file, in Prometheus's text
 * exposition format (0.0.4), for node_exporter's textfile collector. It is
 * rewritten with status.json (after every rebuild, verification pass and
 * reload, and as fsxdsd exits cleanly): made under a temporary name that
 * does not end in .prom (the collector reads *.prom only) in the same
 * directory, then renamed over the file, so a scrape reads a whole file.
 * Counters are kept in State (Metrics) by whoever sees the event; the
 * gauges are read from State as the file is made. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "adsfeed.h"
#include "logging.h"
#include "metrics.h"
#include "prom.h"
#include "state.h"
#include "version.h"

/* the file is for node_exporter, which runs as another user: not secret */
#define METRICS_FILE_MODE 0644
/* ".<name>.<16 hex>.tmp": never *.prom, never a name the collector reads */
#define METRICS_TMP_SUFFIX ".tmp"
/* distinct rules counted; past it, "other" (fsxds has a few hundred) */
#define METRICS_RULES_MAX 1024

static const uint64_t rebuild_bounds_usec[METRICS_REBUILD_BUCKETS] = {
        1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
static const char *const rebuild_bounds[METRICS_REBUILD_BUCKETS] = {
        "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
};

void metrics_rebuild_done(Metrics *m, uint64_t usec) {
        size_t i = 0;
        while (i < METRICS_REBUILD_BUCKETS && usec > rebuild_bounds_usec[i])
                i++;
        m->rebuild_buckets[i]++;
        m->rebuilds++;
        m->rebuild_usec_sum += usec;
}

/* The rule's counter, made on first use. */
static MetricsRule *rule_counter(Metrics *m, const char *rule) {
        for (size_t i = 0; i < m->n_rules; i++)
                if (streq(m->rules[i].rule, rule))
                        return &m->rules[i];
        if (m->n_rules >= METRICS_RULES_MAX && !streq(rule, "other"))
                return rule_counter(m, "other");
        m->rules = xrealloc(m->rules, (m->n_rules + 1) * sizeof(MetricsRule));
        m->rules[m->n_rules] = (MetricsRule) { xstrdup(rule), 0 };
        return &m->rules[m->n_rules++];
}

void metrics_count_diags(Metrics *m, const DiagList *d) {
        for (size_t k = 0; k < d->n; k++)
                if (d->items[k].level == DIAG_ERROR)
                        rule_counter(m, d->items[k].rule ?: "other")->count++;
}

void metrics_node_built(NodeState *ns, bool bad, bool published) {
        if (bad)
                ns->failed_usec = now_usec(CLOCK_REALTIME);
        else if (!published)
                ns->current_usec = now_usec(CLOCK_REALTIME);
}

void metrics_done(Metrics *m) {
        for (size_t i = 0; i < m->n_rules; i++)
                free(m->rules[i].rule);
        free(m->rules);
        free(m->written);
        *m = (Metrics) {};
}

/* ---- the text format ---- */

static void put_seconds(Buf *b, uint64_t usec) {
        buf_printf(b, "%" PRIu64 ".%06" PRIu64 "\n", usec / 1000000, usec % 1000000);
}

static void node_sample(Buf *b, const char *name, const NodeState *ns) {
        buf_printf(b, "%s{node=\"", name);
        prom_put_label(b, ns->id);
        buf_printf(b, "\"} ");
}

static void render(const State *st, Buf *b) {
        const Metrics *m = &st->metrics;
        prom_family(b, "fsxds_build_info", "gauge", "fsxdsd's version, as a label; always 1.");
        buf_printf(b, "fsxds_build_info{version=\"");
        prom_put_label(b, FSXDS_VERSION);
        buf_printf(b, "\"} 1\n");
        prom_family(b, "fsxds_up", "gauge",
               "1 while fsxdsd runs; 0 in the file written as it exits cleanly (a crash leaves 1: "
               "compare node_textfile_mtime_seconds with time()).");
        buf_printf(b, "fsxds_up %d\n", st->daemon.stopped_usec > 0 ? 0 : 1);
        prom_family(b, "fsxds_start_time_seconds", "gauge", "When fsxdsd started, in seconds since the epoch.");
        buf_printf(b, "fsxds_start_time_seconds ");
        put_seconds(b, (uint64_t) st->daemon.started_usec);
        prom_family(b, "fsxds_generation", "gauge", "The last generation published (state_dir's counter).");
        buf_printf(b, "fsxds_generation %" PRIu64 "\n", st->generation);

        prom_family(b, "fsxds_node_generation", "gauge", "The generation of the node's files in place.");
        for (size_t i = 0; i < st->n_nodes; i++) {
                node_sample(b, "fsxds_node_generation", st->nodes[i]);
                buf_printf(b, "%" PRIu64 "\n", st->nodes[i]->generation);
        }
        prom_family(b, "fsxds_node_last_success_timestamp_seconds", "gauge",
               "When the node's last good build was published, or found equal to its files in place; 0: never.");
        for (size_t i = 0; i < st->n_nodes; i++) {
                const NodeState *ns = st->nodes[i];
                node_sample(b, "fsxds_node_last_success_timestamp_seconds", ns);
                put_seconds(b, MAX(ns->published_usec, ns->current_usec));
        }
        prom_family(b, "fsxds_node_last_failure_timestamp_seconds", "gauge",
               "When the node last had a build with errors, was held back by the removal guard or failed to publish; "
               "0: never since fsxdsd started.");
        for (size_t i = 0; i < st->n_nodes; i++) {
                node_sample(b, "fsxds_node_last_failure_timestamp_seconds", st->nodes[i]);
                put_seconds(b, st->nodes[i]->failed_usec);
        }
        prom_family(b, "fsxds_node_errors", "gauge", "The errors of the node's last build (0: it built; its last good files stay otherwise).");
        for (size_t i = 0; i < st->n_nodes; i++) {
                node_sample(b, "fsxds_node_errors", st->nodes[i]);
                buf_printf(b, "%zu\n", st->nodes[i]->error.message ? st->nodes[i]->n_errors : 0);
        }
        prom_family(b, "fsxds_node_files", "gauge", "The files (*.pb) of the node's last good build.");
        for (size_t i = 0; i < st->n_nodes; i++) {
                node_sample(b, "fsxds_node_files", st->nodes[i]);
                buf_printf(b, "%zu\n", st->nodes[i]->n_files);
        }

        prom_family(b, "fsxds_rebuild_duration_seconds", "histogram",
               "Rebuilds, from the settle timer to status.json written, phase_pause waits included.");
        uint64_t cumulative = 0;
        for (size_t i = 0; i < METRICS_REBUILD_BUCKETS; i++) {
                cumulative += m->rebuild_buckets[i];
                buf_printf(b, "fsxds_rebuild_duration_seconds_bucket{le=\"%s\"} %" PRIu64 "\n", rebuild_bounds[i],
                           cumulative);
        }
        buf_printf(b, "fsxds_rebuild_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", m->rebuilds);
        buf_printf(b, "fsxds_rebuild_duration_seconds_sum ");
        put_seconds(b, m->rebuild_usec_sum);
        buf_printf(b, "fsxds_rebuild_duration_seconds_count %" PRIu64 "\n", m->rebuilds);

        prom_family(b, "fsxds_files_published_total", "counter",
               "Files placed or removed in node directories (the \"changed files\" of the published generation lines).");
        buf_printf(b, "fsxds_files_published_total %" PRIu64 "\n", m->files_published);
        prom_family(b, "fsxds_publish_failures_total", "counter", "Nodes whose publish failed (each retried with backoff).");
        buf_printf(b, "fsxds_publish_failures_total %" PRIu64 "\n", m->publish_failures);
        prom_family(b, "fsxds_errors_total", "counter",
               "Build errors by rule, as the journal logged them (a node's errors once until its diagnostics change).");
        for (size_t i = 0; i < m->n_rules; i++) {
                buf_printf(b, "fsxds_errors_total{rule=\"");
                prom_put_label(b, m->rules[i].rule);
                buf_printf(b, "\"} %" PRIu64 "\n", m->rules[i].count);
        }

        prom_family(b, "fsxds_watch_backend", "gauge", "The source watch's backend, as a label; always 1.");
        buf_printf(b, "fsxds_watch_backend{backend=\"");
        prom_put_label(b, st->watch_backend ?: "none");
        buf_printf(b, "\"} 1\n");
        prom_family(b, "fsxds_watch_overflow_rescans_total", "counter",
               "Rescans of the whole source tree after the watch's event queue overflowed.");
        buf_printf(b, "fsxds_watch_overflow_rescans_total %" PRIu64 "\n", m->overflow_rescans);
        prom_family(b, "fsxds_watch_unwatched_directories", "gauge",
               "Source directories rescanned every rescan_interval, out of inotify watches or instances (0: whole).");
        buf_printf(b, "fsxds_watch_unwatched_directories %zu\n", st->watch_unwatched);

        prom_family(b, "fsxds_store_bytes", "gauge",
               "The bytes of the content-addressed store's objects, each once (output: output_dir/.store; state: "
               "state_dir/nodes/.store).");
        buf_printf(b, "fsxds_store_bytes{store=\"output\"} %" PRIu64 "\n", store_bytes(st->store));
        buf_printf(b, "fsxds_store_bytes{store=\"state\"} %" PRIu64 "\n", store_bytes(st->state_store));
        prom_family(b, "fsxds_store_objects", "gauge", "The objects of the content-addressed store.");
        buf_printf(b, "fsxds_store_objects{store=\"output\"} %zu\n", store_n_objects(st->store));
        buf_printf(b, "fsxds_store_objects{store=\"state\"} %zu\n", store_n_objects(st->state_store));

        prom_family(b, "fsxds_manifest_verification_failures_total", "counter",
               "Node directories found altered behind fsxdsd's back (differing from their MANIFEST) by a "
               "verification pass, at start, reload or every verify_interval.");
        buf_printf(b, "fsxds_manifest_verification_failures_total %" PRIu64 "\n", m->manifest_verification_failures);
        prom_family(b, "fsxds_verify_passes_total", "counter", "Verification passes completed (status.json's verify_passes).");
        buf_printf(b, "fsxds_verify_passes_total %" PRIu64 "\n", st->verify_passes);
        adsfeed_metrics(st, b);
}

/* ---- the file ---- */

static bool is_our_tmp(const char *entry, const char *base) {
        size_t n = strlen(base), len = strlen(entry);
        if (len != 1 + n + 1 + 16 + strlen(METRICS_TMP_SUFFIX) || entry[0] != '.' || strncmp(entry + 1, base, n) != 0 ||
            entry[1 + n] != '.' || !endswith(entry, METRICS_TMP_SUFFIX))
                return false;
        for (size_t i = 0; i < 16; i++)
                if (!strchr("0123456789abcdef", entry[1 + n + 1 + i]))
                        return false;
        return true;
}

/* Temporary files a killed fsxdsd left: once, before the first write of a path. */
static void remove_leftovers(int dir_fd, const char *base) {
        _cleanup_closedir_ DIR *d = NULL;
        if (opendir_at(dir_fd, ".", 0, &d) < 0)
                return;
        struct dirent *de;
        while ((de = readdir(d)))
                if (is_our_tmp(de->d_name, base) && unlinkat(dir_fd, de->d_name, 0) >= 0)
                        log_debug(NULL, "removed %s, left by an earlier fsxdsd", de->d_name);
}

static int write_file(const char *path, const Buf *b, bool first) {
        _cleanup_free_ char *dir = xstrdup(path);
        char *slash = strrchr(dir, '/');
        const char *base = slash + 1;
        *slash = 0;
        _cleanup_close_ int dir_fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return -errno;
        if (first)
                remove_leftovers(dir_fd, base);
        uint64_t rnd;
        if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd)
                rnd = now_usec(CLOCK_MONOTONIC) ^ ((uint64_t) getpid() << 40);
        _cleanup_free_ char *tmp = xasprintf(".%s.%016" PRIx64 METRICS_TMP_SUFFIX, base, rnd);
        int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, METRICS_FILE_MODE);
        if (fd < 0)
                return -errno;
        int r = 0;
        /* whatever the umask (the unit's is 0027): node_exporter reads it as another user */
        if (fchmod(fd, METRICS_FILE_MODE) < 0)
                r = -errno;
        for (size_t off = 0; r >= 0 && off < b->len;) {
                ssize_t k = write(fd, b->data + off, b->len - off);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        r = -errno;
                else
                        off += (size_t) k;
        }
        if (close(fd) < 0 && r >= 0)
                r = -errno;
        /* no fsync: a file lost in a crash is written again at the next rebuild */
        if (r >= 0 && renameat(dir_fd, tmp, dir_fd, base) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dir_fd, tmp, 0);
        return r;
}

void metrics_write(State *st) {
        Metrics *m = &st->metrics;
        const char *path = st->config->metrics_file;
        if (m->written && !(path && streq(path, m->written))) {
                /* metrics_file changed or went (a reload): the old file would be stale */
                if (unlink(m->written) < 0 && errno != ENOENT)
                        log_warning(NULL, "cannot remove the former metrics_file %s: %s", m->written, strerror(errno));
                free(m->written);
                m->written = NULL;
                m->failed = false;
        }
        if (!path)
                return;
        uint64_t t0 = now_usec(CLOCK_MONOTONIC);
        Buf b = {};
        render(st, &b);
        bool first = !m->written;
        int r = write_file(path, &b, first);
        log_debug(NULL, "metrics_file: %zu bytes in %" PRIu64 " µs", b.len, now_usec(CLOCK_MONOTONIC) - t0);
        buf_free(&b);
        if (first)
                m->written = xstrdup(path);
        if (r < 0) {
                if (!m->failed)
                        log_error(NULL, "cannot write metrics_file %s: %s; tried again at every status write", path,
                                  strerror(-r));
                m->failed = true;
        } else if (m->failed) {
                log_info(NULL, "metrics_file %s is written again", path);
                m->failed = false;
        }
}
