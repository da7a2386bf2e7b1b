/* SPDX-License-Identifier: MIT */
/* fsxdsd's Prometheus metrics (see metrics.c): the counters the rebuild,
 * the upkeep and the watch bump where their events happen, and the writer
 * of metrics_file (text exposition format 0.0.4, for node_exporter's
 * textfile collector). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "diag.h"

/* fsxds_rebuild_duration_seconds's upper bounds (le), in µs: 1 ms to 10 s */
#define METRICS_REBUILD_BUCKETS 13

typedef struct MetricsRule {
        char *rule;
        uint64_t count;
} MetricsRule;

/* Counters since fsxdsd started (State.metrics). */
typedef struct Metrics {
        uint64_t rebuild_buckets[METRICS_REBUILD_BUCKETS + 1]; /* rebuilds per bucket (not cumulative); the last: +Inf */
        uint64_t rebuilds;
        uint64_t rebuild_usec_sum;
        uint64_t files_published;
        uint64_t publish_failures;
        uint64_t overflow_rescans;
        uint64_t manifest_verification_failures;
        MetricsRule *rules; /* errors by Diag.rule, as the journal logged them */
        size_t n_rules;
        char *written;      /* the metrics_file last written (removed when the key changes) */
        bool failed;        /* the last write failed (said once while it lasts) */
} Metrics;

struct State;
struct NodeState;

/* A rebuild ran to its end in usec (phase pauses included). */
void metrics_rebuild_done(Metrics *m, uint64_t usec);
/* The errors of a set of diagnostics the journal is logging, by rule. */
void metrics_count_diags(Metrics *m, const DiagList *d);
/* A node was built: with errors (bad), or good and found equal to what is
 * live (neither bad nor published: its publish says the rest). */
void metrics_node_built(struct NodeState *ns, bool bad, bool published);
/* Writes metrics_file when the configuration names one (and removes the
 * one written before under another name); a failure is logged once while
 * it lasts and retried at the next call. */
void metrics_write(struct State *st);
void metrics_done(Metrics *m);
