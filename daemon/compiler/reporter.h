/* SPDX-License-Identifier: MIT */
/* Where the encoder and the validator report what they find in a user's
 * file: the field path they are at, pushed and popped as they descend so
 * that a diagnostic names "resources[3].cluster.name", and the diagnostics
 * list, with the errors counted. Both take a Reporter; neither knows the
 * other's state. */
#pragma once

#include "diag.h"
#include "yamltree.h"

typedef struct Reporter {
        const char *file; /* for diagnostics */
        DiagList *diags;
        Buf path;         /* current field path */
        size_t n_errors;  /* errors since creation */
} Reporter;

void reporter_init(Reporter *r, const char *file, DiagList *diags);
void reporter_done(Reporter *r);
/* Sets the field path prefix for what follows, e.g. "resources[3]". */
void reporter_set_path(Reporter *r, const char *path);

/* A copy of the current field path. */
char *reporter_path(const Reporter *r);

/* Error/warning at a node (its line and column) with the current path. */
void reporter_diag(Reporter *r, DiagLevel level, const YamlNode *at, const char *fmt, ...) _printf_(4, 5);
/* An error that names the rule it breaks. */
void reporter_rule_error(Reporter *r, const YamlNode *at, const char *rule, const char *fmt, ...) _printf_(4, 5);
/* An error or warning that names the rule it breaks. */
void reporter_rule_diag(Reporter *r, DiagLevel level, const YamlNode *at, const char *rule, const char *fmt, ...)
        _printf_(5, 6);

/* The field path: push returns what pop restores. Inline, as the encoder
 * pushes and pops for every field it writes. */
static inline size_t reporter_push_field(Reporter *r, const char *name) {
        size_t saved = r->path.len;
        if (r->path.len > 0)
                buf_putc(&r->path, '.');
        buf_append(&r->path, name, strlen(name));
        return saved;
}

static inline size_t reporter_push_index(Reporter *r, size_t i) {
        size_t saved = r->path.len;
        buf_put_index(&r->path, i);
        return saved;
}

static inline size_t reporter_push_key(Reporter *r, const char *key) {
        size_t saved = r->path.len;
        buf_append(&r->path, "[\"", 2);
        buf_append(&r->path, key, strlen(key));
        buf_append(&r->path, "\"]", 2);
        return saved;
}

static inline void reporter_pop(Reporter *r, size_t saved) {
        r->path.len = saved;
}
