/* SPDX-License-Identifier: MIT */
/* Diagnostics about the user's input, collected and formatted. */
#include <stdarg.h>

#include "diag.h"

static const char *const diag_level_table[_DIAG_LEVEL_MAX] = {
        [DIAG_ERROR] = "error",
        [DIAG_WARNING] = "warning",
        [DIAG_NOTE] = "note",
};

const char *diag_level_to_string(DiagLevel l) {
        return l >= 0 && l < _DIAG_LEVEL_MAX ? diag_level_table[l] : NULL;
}

void diag_addv_rule(DiagList *l, DiagLevel level, const char *file, unsigned line, unsigned column,
                    const char *path, const char *rule, const char *fmt, va_list ap) {
        if (level == DIAG_ERROR)
                l->n_errors++;
        else if (level == DIAG_WARNING)
                l->n_warnings++;
        if (l->max_errors > 0 && l->n >= l->max_errors) {
                l->n_dropped++;
                return;
        }
        if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 8;
                l->items = xrealloc(l->items, l->cap * sizeof(Diag));
        }
        char *msg;
        if (vasprintf(&msg, fmt, ap) < 0)
                abort();
        l->items[l->n++] = (Diag) {
                .level = level,
                .file = file ? xstrdup(file) : NULL,
                .line = line,
                .column = column,
                .path = path && *path ? xstrdup(path) : NULL,
                .message = msg,
                .rule = rule ? xstrdup(rule) : NULL,
        };
}

void diag_addv(DiagList *l, DiagLevel level, const char *file, unsigned line, unsigned column,
               const char *path, const char *fmt, va_list ap) {
        diag_addv_rule(l, level, file, line, column, path, NULL, fmt, ap);
}

void diag_add_rule(DiagList *l, DiagLevel level, const char *file, unsigned line, unsigned column,
                   const char *path, const char *rule, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        diag_addv_rule(l, level, file, line, column, path, rule, fmt, ap);
        va_end(ap);
}

void diag_add(DiagList *l, DiagLevel level, const char *file, unsigned line, unsigned column,
              const char *path, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        diag_addv(l, level, file, line, column, path, fmt, ap);
        va_end(ap);
}

void diag_list_clear(DiagList *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->items[i].file);
                free(l->items[i].path);
                free(l->items[i].message);
                free(l->items[i].rule);
        }
        free(l->items);
        size_t max = l->max_errors;
        *l = (DiagList) { .max_errors = max };
}

void diag_list_move(DiagList *dst, DiagList *src) {
        for (size_t i = 0; i < src->n; i++) {
                if (dst->n == dst->cap) {
                        dst->cap = dst->cap ? dst->cap * 2 : 8;
                        dst->items = xrealloc(dst->items, dst->cap * sizeof(Diag));
                }
                dst->items[dst->n++] = src->items[i];
        }
        dst->n_errors += src->n_errors;
        dst->n_warnings += src->n_warnings;
        dst->n_dropped += src->n_dropped;
        free(src->items);
        size_t max = src->max_errors;
        *src = (DiagList) { .max_errors = max };
}

void diag_list_append_copy(DiagList *dst, const DiagList *src, DiagLevel max_level) {
        for (size_t i = 0; i < src->n; i++) {
                const Diag *d = &src->items[i];
                if (d->level > max_level)
                        continue;
                diag_add_rule(dst, d->level, d->file, d->line, d->column, d->path, d->rule, "%s", d->message);
        }
}

void diag_list_truncate(DiagList *l, size_t n) {
        for (size_t i = n; i < l->n; i++) {
                Diag *d = &l->items[i];
                if (d->level == DIAG_ERROR)
                        l->n_errors--;
                else if (d->level == DIAG_WARNING)
                        l->n_warnings--;
                free(d->file);
                free(d->path);
                free(d->message);
                free(d->rule);
        }
        if (n < l->n)
                l->n = n;
}

/* The length of the UTF-8 character at s (n bytes left), or 0 when it is
 * not one (overlong forms and surrogates included). */
size_t utf8_char_len(const unsigned char *s, size_t n) {
        if (s[0] < 0x80)
                return 1;
        size_t len = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
        if (len == 0 || len > n)
                return 0;
        for (size_t i = 1; i < len; i++)
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
        if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) || (s[0] == 0xf0 && s[1] < 0x90) ||
            (s[0] == 0xf4 && s[1] > 0x8f))
                return 0;
        return len;
}

size_t utf8_valid_prefix(const char *s, size_t n) {
        size_t i = 0;
        while (i < n) {
                size_t l = utf8_char_len((const unsigned char *) s + i, n - i);
                if (l == 0)
                        break;
                i += l;
        }
        return i;
}

char *diag_shown_len(const char *s, size_t n, size_t max) {
        Buf b = {};
        const unsigned char *p = (const unsigned char *) s;
        size_t i = 0, shown = 0;
        while (i < n) {
                size_t l = utf8_char_len(p + i, n - i);
                if (max > 0 && shown + MAX(l, 1u) > max) {
                        buf_printf(&b, "...");
                        break;
                }
                shown += MAX(l, 1u);
                unsigned char c = p[i];
                if (l == 0)
                        buf_printf(&b, "\\x%02x", c);
                else if (c == '\n')
                        buf_printf(&b, "\\n");
                else if (c == '\r')
                        buf_printf(&b, "\\r");
                else if (c == '\t')
                        buf_printf(&b, "\\t");
                else if (c == '"' || c == '\\')
                        buf_printf(&b, "\\%c", c);
                else if (c < 0x20 || c == 0x7f)
                        buf_printf(&b, "\\x%02x", c);
                else
                        buf_append(&b, p + i, l);
                i += MAX(l, 1u);
        }
        return buf_steal_str(&b);
}

char *diag_shown(const char *s, size_t max) {
        return diag_shown_len(s, strlen(s), max);
}

char *diag_excerpt(const char *s) {
        return diag_shown(s, DIAG_EXCERPT_MAX);
}

char *diag_format(const Diag *d) {
        Buf b = {};
        /* an empty file or field path says nothing: no stray ": :" */
        if (d->file && *d->file) {
                buf_printf(&b, "%s:", d->file);
                if (d->line > 0)
                        buf_printf(&b, "%u:%u:", d->line, d->column);
                buf_putc(&b, ' ');
        }
        buf_printf(&b, "%s: ", diag_level_to_string(d->level));
        if (d->path && *d->path)
                buf_printf(&b, "%s: ", d->path);
        buf_printf(&b, "%s", d->message);
        if (d->rule)
                buf_printf(&b, " [%s]", d->rule);
        return buf_steal_str(&b);
}

void diag_list_print(const DiagList *l, FILE *f) {
        for (size_t i = 0; i < l->n; i++) {
                _cleanup_free_ char *s = diag_format(&l->items[i]);
                fprintf(f, "%s\n", s);
        }
        if (l->n_dropped > 0)
                fprintf(f, "(%zu more diagnostics not shown)\n", l->n_dropped);
}
