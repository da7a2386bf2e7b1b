/* SPDX-License-Identifier: MIT */
/* The field path and diagnostics the encoder and the validator share:
 * a diagnostic at a YAML node, with the path it was found at. */
#include "reporter.h"

void reporter_init(Reporter *r, const char *file, DiagList *diags) {
        *r = (Reporter) { .file = file, .diags = diags };
}

void reporter_done(Reporter *r) {
        buf_free(&r->path);
}

void reporter_set_path(Reporter *r, const char *path) {
        r->path.len = 0;
        buf_append(&r->path, path, strlen(path));
}

char *reporter_path(const Reporter *r) {
        return xstrndup(r->path.data ? (const char *) r->path.data : "", r->path.len);
}

_printf_(5, 0) static void reporter_vdiag_rule(Reporter *r, DiagLevel level, const YamlNode *at, const char *rule,
                                               const char *fmt, va_list ap) {
        _cleanup_free_ char *path = reporter_path(r);
        diag_addv_rule(r->diags, level, r->file, at ? at->line : 0, at ? at->column : 0, path, rule, fmt, ap);
        if (level == DIAG_ERROR)
                r->n_errors++;
}

void reporter_rule_error(Reporter *r, const YamlNode *at, const char *rule, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        reporter_vdiag_rule(r, DIAG_ERROR, at, rule, fmt, ap);
        va_end(ap);
}

void reporter_rule_diag(Reporter *r, DiagLevel level, const YamlNode *at, const char *rule, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        reporter_vdiag_rule(r, level, at, rule, fmt, ap);
        va_end(ap);
}

void reporter_diag(Reporter *r, DiagLevel level, const YamlNode *at, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        reporter_vdiag_rule(r, level, at, NULL, fmt, ap);
        va_end(ap);
}
