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
/* Drops the diagnostics past the first n (and their counts). */
void diag_list_truncate(DiagList *l, size_t n);

/* How much of the user's input a diagnostic may quote: a short excerpt of
 * one value or key, never a whole line of a file that may not be source
 * at all (a link to /etc/shadow is refused, but a copy of it is not). */
#define DIAG_EXCERPT_MAX 64
/* The length of the longest prefix of s (n bytes) that is valid UTF-8. */
size_t utf8_valid_prefix(const char *s, size_t n);
/* The length of the well-formed UTF-8 character at s (at most n bytes), 0 when there is none. */
size_t utf8_char_len(const unsigned char *s, size_t n);
/* s as a diagnostic shows it: at most max bytes of it (0: no bound), cut
 * at a character boundary and followed by "..." when longer; control
 * characters, quotes, backslashes and bytes that are not UTF-8 escaped
 * (\n, \", \xff), so that it stays one line of valid UTF-8. */
char *diag_shown(const char *s, size_t max);
/* the same for n bytes of s, which may hold NULs */
char *diag_shown_len(const char *s, size_t n, size_t max);
/* diag_shown(s, DIAG_EXCERPT_MAX) */
char *diag_excerpt(const char *s);
/* "file:line:column: error: path: message [rule]" */
char *diag_format(const Diag *d);
void diag_list_print(const DiagList *l, FILE *f);
