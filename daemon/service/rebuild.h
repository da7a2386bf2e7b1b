/* SPDX-License-Identifier: MIT */
/* The rebuild policy of fsxdsd: what to build, guard, plan and publish when
 * the sources change (see rebuild.c). */
#pragma once

#include "state.h"

/* Starts a rebuild (none may be in flight). It publishes phase by phase:
 * returns true when the next phase is to wait phase_pause (the caller arms
 * its timer and then calls rebuild_resume()), false when the rebuild is
 * over, with its count of nodes with errors in *ret_n_bad. */
bool rebuild_start(State *st, size_t *ret_n_bad);
/* The phase pause is over: the next phase, and on; returns as
 * rebuild_start() does. */
bool rebuild_resume(State *st, size_t *ret_n_bad);
bool rebuild_busy(const State *st);
Rebuild *rebuild_free(Rebuild *r);
/* Whether a node's last good copy could not be saved: the verify timer
 * then starts a rebuild, which tries again. */
bool rebuild_state_failed(const State *st);
