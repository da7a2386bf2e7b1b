/* SPDX-License-Identifier: MIT */
/* The rebuild policy of fsxdsd: what to build, guard, plan and publish when
 * the sources change (see rebuild.c). */
#pragma once

#include "manager.h"

int read_counter(const char *path, uint64_t *ret);
void status_write(Manager *m);
/* Returns the number of nodes with errors. */
size_t manager_rebuild(Manager *m);
