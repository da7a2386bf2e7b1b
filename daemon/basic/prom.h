/* SPDX-License-Identifier: MIT */
/* Prometheus's text exposition format (0.0.4): the pieces every module
 * that writes a family into metrics_file uses. */
#pragma once

#include "util.h"

/* "# HELP name help" and "# TYPE name type" */
void prom_family(Buf *b, const char *name, const char *type, const char *help);
/* A label value: backslash, double quote and line feed escaped. */
void prom_put_label(Buf *b, const char *v);
