/* SPDX-License-Identifier: MIT */
/* The Manager owns fsxdsd's sd-event loop and every event source (watch,
 * settle and phase timers, signals, watchdog) and wires the other modules together:
 * source cache → node builds → removal guard → ordered publish → state copy
 * → status. The other modules know nothing of the loop. */
#pragma once

#include "util.h"

typedef struct Manager Manager;

/* Loads the configuration (diagnostics printed); -EBADMSG when invalid. */
int manager_new(const char *config_path, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Opens the schema, store and watch, cleans crash leftovers and starts the
 * first build and publish; READY=1 goes to systemd when that is over,
 * whatever its outcome (from the loop, when it waits between phases). */
int manager_startup(Manager *m);
/* Runs the loop until SIGTERM/SIGINT (and the generation in flight then
 * published). */
int manager_run(Manager *m);
/* --once: one build and publish; returns 0, or 1 when a node had errors. */
int manager_once(Manager *m);
/* --check-config: what the configuration names beyond its own syntax is
 * checked too (output_group exists, the schema loads, the CA of
 * require_signed_sources is readable, the signing pair is usable), never
 * the source tree; returns 0 or -errno. */
int manager_check_config(Manager *m);

/* ---- shared by manager.c, rebuild.c and upkeep.c ---- */
