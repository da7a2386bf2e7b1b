/* SPDX-License-Identifier: MIT */
/* The rebuild policy of fsxdsd: what to build, guard, plan and publish when
 * the sources change (see rebuild.c). */
#pragma once

#include "manager.h"

/* status.json, and the status line systemd shows. */
void manager_write_status(Manager *m);
/* Returns the number of nodes with errors. */
size_t manager_rebuild(Manager *m);
