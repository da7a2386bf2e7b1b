/* SPDX-License-Identifier: MIT */
/* Logging for the daemon: to the journal with structured fields when
 * running under systemd, to stderr otherwise; level and target can change
 * at run time (service/logcontrol: LogControl1). Only the manager, the
 * mains and logcontrol log. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <syslog.h>

#include "diag.h"

/* Log targets: the ones fsxdsd has. "auto" is no target of its own: it
 * resolves to the journal when systemd connected stderr to it
 * (JOURNAL_STREAM is set), to the console (stderr) otherwise. */
typedef enum LogTarget {
        LOG_TARGET_CONSOLE,
        LOG_TARGET_JOURNAL,
        LOG_TARGET_NULL,
        _LOG_TARGET_MAX,
        _LOG_TARGET_INVALID = -EINVAL,
} LogTarget;

/* The start level: debug with verbose (--verbose), else FSXDS_LOG_LEVEL's
 * (a level name, "err" ... "debug"; an unknown one is reported on stderr
 * and ignored), else info; the target: "auto". */
void log_setup(bool verbose);
/* syslog(3) levels, LOG_EMERG (0) ... LOG_DEBUG (7): a message is logged
 * when its priority is at or below the level. */
int log_get_max_level(void);
void log_set_max_level(int level);
LogTarget log_get_target(void);
void log_set_target(LogTarget target);
LogTarget log_target_auto(void);
/* "emerg" ... "debug" <-> 0 ... 7; from_string also takes the digits 0-7,
 * as systemd does; -EINVAL for anything else. */
const char *log_level_to_string(int level);
int log_level_from_string(const char *s);
const char *log_target_to_string(LogTarget target);
/* "console", "journal", "null", and "auto" (resolved); -EOPNOTSUPP for the
 * targets systemd knows and fsxdsd does not have (kmsg, syslog and their
 * -or- forms), -EINVAL for the rest. */
LogTarget log_target_from_string(const char *s);
/* Whether a message of that priority is logged (to skip composing one). */
bool log_level_enabled(int priority);
void log_msg(int priority, const char *node, const char *fmt, ...) _printf_(3, 4);
/* The same with one more journal field, "NAME=value" (FSXDS_NACK=...). */
void log_msg_field(int priority, const char *node, const char *field, const char *fmt, ...) _printf_(4, 5);
/* A diagnostic about the user's input, with FSXDS_FILE=, FSXDS_LINE=,
 * FSXDS_COLUMN= and FSXDS_NODE= fields in the journal. */
void log_diag(const char *node, const Diag *d);

#define log_error(node, ...) log_msg(LOG_ERR, node, __VA_ARGS__)
#define log_warning(node, ...) log_msg(LOG_WARNING, node, __VA_ARGS__)
#define log_info(node, ...) log_msg(LOG_INFO, node, __VA_ARGS__)
#define log_debug(node, ...) log_msg(LOG_DEBUG, node, __VA_ARGS__)
