/* SPDX-License-Identifier: MIT */
/* Diagnostics about the user's input: where (file:line:column), which field
 * (the path from the document root), and what was expected. Modules collect
 * them in a DiagList; only the mains and the manager print them. */
#pragma once

#include <stdarg.h>

#include "util.h"

typedef enum DiagLevel {
        DIAG_ERROR,
        DIAG_WARNING,
        DIAG_NOTE,
        _DIAG_LEVEL_MAX,
} DiagLevel;

typedef struct Diag {
        DiagLevel level;
        char *file;   /* may be NULL for diagnostics without a source file */
        unsigned line; /* 1-based; 0 when unknown */
        unsigned column;
        char *path;    /* field path, e.g. resources[0].filter_chains[0]; may be NULL */
        char *message;
        char *rule;    /* the rule broken ("validate.uint32.lte", "graph.route-cluster"); may be NULL */
} Diag;

typedef struct DiagList {
        Diag *items;
        size_t n;
        size_t cap;
        size_t n_errors;
        size_t n_warnings;
        size_t max_errors; /* 0 = unbounded; past it further errors are counted, not kept */
        size_t n_dropped;
} DiagList;

const char *diag_level_to_string(DiagLevel l);

void diag_add(DiagList *l, DiagLevel level, const char *file, unsigned line, unsigned column,
              const char *path, const char *fmt, ...) _printf_(7, 8);
void diag_addv(DiagList *l, DiagLevel level, const char *file, unsigned line, unsigned column,
               const char *path, const char *fmt, va_list ap) _printf_(7, 0);
void diag_add_rule(DiagList *l, DiagLevel level, const char *file, unsigned line, unsigned column,
                   const char *path, const char *rule, const char *fmt, ...) _printf_(8, 9);
void diag_addv_rule(DiagList *l, DiagLevel level, const char *file, unsigned line, unsigned column,
                    const char *path, const char *rule, const char *fmt, va_list ap) _printf_(8, 0);
void diag_list_clear(DiagList *l);
/* Moves every diagnostic of src to the end of dst. */
void diag_list_move(DiagList *dst, DiagList *src);
/* Appends copies of src's diagnostics of max_level or worse (DIAG_NOTE:
 * all of them) to dst. */
void diag_list_append_copy(DiagList *dst, const DiagList *src, DiagLevel max_level);
/* "file:line:column: error: path: message [rule]" */
char *diag_format(const Diag *d);
void diag_list_print(const DiagList *l, FILE *f);
