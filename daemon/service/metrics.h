/* SPDX-License-Identifier: MIT */
/* fsxdsd's Prometheus metrics (see metrics.c): what the rebuild tells
 * them, and the writer of metrics_file (text exposition format 0.0.4, for
 * node_exporter's textfile collector). The counters are State's
 * (Metrics, state.h). */
#pragma once

#include "state.h"

/* A rebuild ran to its end in usec (phase pauses included). */
void metrics_rebuild_done(Metrics *m, uint64_t usec);
/* The errors of a set of diagnostics the journal is logging, by rule. */
void metrics_count_diags(Metrics *m, const DiagList *d);
/* A node was built: with errors (bad), or good and found equal to what is
 * live (neither bad nor published: its publish says the rest). */
void metrics_node_built(NodeState *ns, bool bad, bool published);
/* Writes metrics_file when the configuration names one (and removes the
 * one written before under another name); a failure is logged once while
 * it lasts and retried at the next call. */
void metrics_write(State *st);
void metrics_done(Metrics *m);
