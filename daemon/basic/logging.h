/* SPDX-License-Identifier: MIT */
/* Logging for the daemon: to the journal with structured fields when
 * running under systemd, to stderr otherwise. Only the manager and the
 * mains log. */
#pragma once

#include <syslog.h>

#include "diag.h"

void log_setup(void);
/* Whether a message of that priority is logged (to skip composing one). */
bool log_level_enabled(int priority);
void log_msg(int priority, const char *node, const char *fmt, ...) _printf_(3, 4);
/* A diagnostic about the user's input, with FSXDS_FILE=, FSXDS_LINE=,
 * FSXDS_COLUMN= and FSXDS_NODE= fields in the journal. */
void log_diag(const char *node, const Diag *d);

#define log_error(node, ...) log_msg(LOG_ERR, node, __VA_ARGS__)
#define log_warning(node, ...) log_msg(LOG_WARNING, node, __VA_ARGS__)
#define log_info(node, ...) log_msg(LOG_INFO, node, __VA_ARGS__)
#define log_debug(node, ...) log_msg(LOG_DEBUG, node, __VA_ARGS__)
