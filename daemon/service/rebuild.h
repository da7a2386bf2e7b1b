/* SPDX-License-Identifier: MIT */
/* The rebuild policy of fsxdsd: what to build, guard, plan and publish when
 * the sources change (see rebuild.c). */
#pragma once

#include "manager.h"

/* status.json, and the status line systemd shows. */
void manager_write_status(Manager *m);
/* Starts a rebuild (none may be in flight). It publishes phase by phase,
 * each next phase on the phase timer: it may be over when this returns or
 * later; either way manager_rebuild_done() is called at its end. */
void manager_rebuild_start(Manager *m);
/* The phase timer fired: the next phase, and on. */
void manager_rebuild_resume(Manager *m);
bool manager_rebuild_busy(const Manager *m);
Rebuild *rebuild_free(Rebuild *r);
