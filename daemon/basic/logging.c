/* SPDX-License-Identifier: MIT */
/* Journal or stderr ("auto" at start: systemd sets JOURNAL_STREAM for a
 * service whose output goes to the journal), or nothing; the level and
 * target can change at run time (LogControl1, daemon/service/logcontrol). */
#include <assert.h>
#include <stdarg.h>
#include <systemd/sd-journal.h>

#include "logging.h"

static LogTarget target = LOG_TARGET_CONSOLE;
static int max_priority = LOG_INFO;

static const char *const log_level_table[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit", [LOG_ERR] = "err",
        [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

/* one lookup for both tables (an index, or -EINVAL) */
static int lookup(const char *const *table, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (table[i] && streq(table[i], s))
                        return (int) i;
        return -EINVAL;
}

const char *log_level_to_string(int level) {
        return level >= 0 && (size_t) level < ELEMENTSOF(log_level_table) ? log_level_table[level] : NULL;
}

int log_level_from_string(const char *s) {
        if (s[0] >= '0' && s[0] <= '0' + LOG_DEBUG && s[1] == '\0')
                return s[0] - '0';
        return lookup(log_level_table, ELEMENTSOF(log_level_table), s);
}

static const char *const log_target_table[_LOG_TARGET_MAX] = {
        [LOG_TARGET_CONSOLE] = "console",
        [LOG_TARGET_JOURNAL] = "journal",
        [LOG_TARGET_NULL] = "null",
};

const char *log_target_to_string(LogTarget t) {
        return (int) t >= 0 && t < _LOG_TARGET_MAX ? log_target_table[t] : NULL;
}

LogTarget log_target_from_string(const char *s) {
        static const char *const unsupported[] = { "kmsg", "journal-or-kmsg", "syslog", "syslog-or-kmsg" };
        if (streq(s, "auto"))
                return log_target_auto();
        for (size_t i = 0; i < ELEMENTSOF(unsupported); i++)
                if (streq(s, unsupported[i]))
                        return -EOPNOTSUPP;
        return (LogTarget) lookup(log_target_table, _LOG_TARGET_MAX, s);
}

LogTarget log_target_auto(void) {
        return getenv("JOURNAL_STREAM") ? LOG_TARGET_JOURNAL : LOG_TARGET_CONSOLE;
}

void log_setup(bool verbose) {
        target = log_target_auto();
        const char *level = getenv("FSXDS_LOG_LEVEL");
        if (verbose)
                max_priority = LOG_DEBUG;
        else if (level && *level) {
                int l = log_level_from_string(level);
                if (l >= 0)
                        max_priority = l;
                else
                        fprintf(stderr, "fsxdsd: FSXDS_LOG_LEVEL=%s is not a log level (emerg, alert, crit, err, "
                                "warning, notice, info, debug); ignored\n", level);
        }
}

int log_get_max_level(void) {
        return max_priority;
}

void log_set_max_level(int level) {
        assert(level >= 0 && level <= LOG_DEBUG);
        max_priority = level;
}

LogTarget log_get_target(void) {
        return target;
}

void log_set_target(LogTarget t) {
        assert(t >= 0 && t < _LOG_TARGET_MAX);
        target = t;
}

bool log_level_enabled(int priority) {
        return priority <= max_priority && target != LOG_TARGET_NULL;
}

_printf_(8, 0) static void vlog(int priority, const char *node, const char *file, unsigned line, unsigned column,
                                const char *rule, const char *extra, const char *fmt, va_list ap) {
        if (priority > max_priority || target == LOG_TARGET_NULL)
                return;
        _cleanup_free_ char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                abort();
        if (target == LOG_TARGET_JOURNAL) {
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
                                rule_field ? rule_field : "FSXDS_RULE=", extra, NULL); /* extra NULL ends the list */
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
        vlog(priority, node, NULL, 0, 0, NULL, NULL, fmt, ap);
        va_end(ap);
}

void log_msg_field(int priority, const char *node, const char *field, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vlog(priority, node, NULL, 0, 0, NULL, field, fmt, ap);
        va_end(ap);
}

static void log_with_location(int priority, const char *node, const char *file, unsigned line, unsigned column,
                              const char *rule, const char *fmt, ...) _printf_(7, 8);
static void log_with_location(int priority, const char *node, const char *file, unsigned line, unsigned column,
                              const char *rule, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vlog(priority, node, file, line, column, rule, NULL, fmt, ap);
        va_end(ap);
}

void log_diag(const char *node, const Diag *d) {
        static const int prio[_DIAG_LEVEL_MAX] = { [DIAG_ERROR] = LOG_ERR, [DIAG_WARNING] = LOG_WARNING, [DIAG_NOTE] = LOG_DEBUG };
        _cleanup_free_ char *text = diag_format(d);
        log_with_location(prio[d->level], node, d->file, d->line, d->column, d->rule, "%s", text);
}
