/* SPDX-License-Identifier: MIT */
/* Journal or stderr, decided once at start: systemd sets JOURNAL_STREAM
 * for a service whose output goes to the journal. */
#include <stdarg.h>
#include <systemd/sd-journal.h>

#include "logging.h"

static bool to_journal;
static int max_priority = LOG_INFO;

void log_setup(void) {
        to_journal = getenv("JOURNAL_STREAM") != NULL;
        const char *level = getenv("FSXDS_LOG_LEVEL");
        if (level && streq(level, "debug"))
                max_priority = LOG_DEBUG;
}

bool log_level_enabled(int priority) {
        return priority <= max_priority;
}

static void vlog(int priority, const char *node, const char *file, unsigned line, unsigned column, const char *rule,
                 const char *fmt, va_list ap) {
        if (priority > max_priority)
                return;
        _cleanup_free_ char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                abort();
        if (to_journal) {
                _cleanup_free_ char *node_field = node ? xasprintf("FSXDS_NODE=%s", node) : NULL;
                _cleanup_free_ char *file_field = file ? xasprintf("FSXDS_FILE=%s", file) : NULL;
                _cleanup_free_ char *line_field = file ? xasprintf("FSXDS_LINE=%u", line) : NULL;
                _cleanup_free_ char *col_field = file ? xasprintf("FSXDS_COLUMN=%u", column) : NULL;
                _cleanup_free_ char *rule_field = rule ? xasprintf("FSXDS_RULE=%s", rule) : NULL;
                /* the node in the message too: journalctl shows MESSAGE only */
                _cleanup_free_ char *text = node ? xasprintf("[%s] %s", node, msg) : NULL;
                sd_journal_send("MESSAGE=%s", text ? text : msg, "PRIORITY=%d", priority, "SYSLOG_IDENTIFIER=fsxdsd",
                                node_field ? node_field : "FSXDS_NODE=", file_field ? file_field : "FSXDS_FILE=",
                                line_field ? line_field : "FSXDS_LINE=", col_field ? col_field : "FSXDS_COLUMN=",
                                rule_field ? rule_field : "FSXDS_RULE=", NULL);
                return;
        }
        if (node)
                fprintf(stderr, "fsxdsd: [%s] %s\n", node, msg);
        else
                fprintf(stderr, "fsxdsd: %s\n", msg);
}

void log_msg(int priority, const char *node, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vlog(priority, node, NULL, 0, 0, NULL, fmt, ap);
        va_end(ap);
}

static void log_with_location(int priority, const char *node, const char *file, unsigned line, unsigned column,
                              const char *rule, const char *fmt, ...) _printf_(7, 8);
static void log_with_location(int priority, const char *node, const char *file, unsigned line, unsigned column,
                              const char *rule, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vlog(priority, node, file, line, column, rule, fmt, ap);
        va_end(ap);
}

void log_diag(const char *node, const Diag *d) {
        static const int prio[_DIAG_LEVEL_MAX] = { [DIAG_ERROR] = LOG_ERR, [DIAG_WARNING] = LOG_WARNING, [DIAG_NOTE] = LOG_DEBUG };
        _cleanup_free_ char *text = diag_format(d);
        log_with_location(prio[d->level], node, d->file, d->line, d->column, d->rule, "%s", text);
}
