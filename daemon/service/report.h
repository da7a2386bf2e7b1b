/* SPDX-License-Identifier: MIT */
/* What fsxdsd tells about its state (see report.c). */
#pragma once

#include "state.h"

/* status.json, and the status line systemd shows. */
void report_write_status(State *st);
/* status.json and metrics_file only, no STATUS= (which says a rebuild is
 * over): for what xDS clients said meanwhile (adsfeed.c). */
void report_write_status_quiet(State *st);
/* Directories in nodes/ whose name is no node id: logged (as errors) when
 * their set changes. */
void report_bad_node_dirs(State *st);
/* This process, as status.json names its writer (fsxds status checks it
 * live): pid, boot id, start time. */
void report_started(State *st);
/* The last status.json, written as fsxdsd exits cleanly: it says so. */
void report_stopped(State *st);
/* "change: PATH" at debug level, once a path until *logged is cleared
 * (when a rebuild starts); *logged is the caller's to free. */
void report_change(char **logged, const char *path);
