/* SPDX-License-Identifier: MIT */
/* The line diff behind fsxds diff: lines interned to integers, common
 * head and tail dropped, then Myers' middle snake splits what is left
 * until one side is empty; the lines marked deleted or inserted are then
 * grouped into unified hunks. */
#include <assert.h>
#include <sys/types.h>

#include "hashmap.h"
#include "textdiff.h"

typedef struct Line {
        const char *p;
        size_t len; /* with its '\n', when it has one */
} Line;

typedef struct Side {
        Line *lines;
        size_t *ids; /* equal lines, equal ids */
        bool *changed;
        size_t n;
} Side;

typedef struct Diff {
        Side a, b;
        /* the furthest x reached on each diagonal, forward and backward;
         * indexed by diagonal + offset */
        ssize_t *vf, *vb;
        ssize_t offset;
} Diff;

static void split_lines(const char *s, size_t len, Side *ret) {
        size_t n = 0;
        for (size_t i = 0; i < len; i++)
                n += s[i] == '\n';
        n += len > 0 && s[len - 1] != '\n';
        ret->lines = xcalloc(MAX(n, 1u), sizeof(Line));
        ret->ids = xcalloc(MAX(n, 1u), sizeof(size_t));
        ret->changed = xcalloc(MAX(n, 1u), sizeof(bool));
        ret->n = n;
        const char *p = s, *end = s + len;
        for (size_t i = 0; i < n; i++) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t l = nl ? (size_t) (nl - p) + 1 : (size_t) (end - p);
                ret->lines[i] = (Line) { p, l };
                p += l;
        }
}

static void side_done(Side *s) {
        free(s->lines);
        free(s->ids);
        free(s->changed);
}

static void intern(Hashmap *h, Side *s, size_t *next_id) {
        for (size_t i = 0; i < s->n; i++) {
                const Line *l = &s->lines[i];
                void *id = hashmap_get(h, l->p, l->len);
                if (!id) {
                        id = (void *) (uintptr_t) ++*next_id;
                        hashmap_put(h, l->p, l->len, id);
                }
                s->ids[i] = (size_t) (uintptr_t) id;
        }
}

/* How far (in D) the middle snake is looked for before the region is
 * given up as replaced whole: the search costs O((N+M)·D), and past some
 * thousands of differing lines a shortest script tells no one more than
 * "replaced" does. */
#define SNAKE_MAX_D 2048

/* The middle snake of a[a0, a1) against b[b0, b1), both non-empty and
 * without common head or tail: its start and end, relative to (a0, b0).
 * False when it lies beyond SNAKE_MAX_D. */
static bool middle_snake(Diff *d, size_t a0, size_t a1, size_t b0, size_t b1, ssize_t *ret_x0, ssize_t *ret_y0,
                         ssize_t *ret_x1, ssize_t *ret_y1) {
        const size_t *A = d->a.ids + a0, *B = d->b.ids + b0;
        ssize_t N = (ssize_t) (a1 - a0), M = (ssize_t) (b1 - b0), delta = N - M;
        bool odd = delta & 1;
        ssize_t *vf = d->vf + d->offset, *vb = d->vb + d->offset;
        vf[1] = vb[1] = 0;
        for (ssize_t D = 0; D <= (N + M + 1) / 2; D++) {
                if (D > SNAKE_MAX_D)
                        return false;
                for (ssize_t k = -D; k <= D; k += 2) {
                        ssize_t x = k == -D || (k != D && vf[k - 1] < vf[k + 1]) ? vf[k + 1] : vf[k - 1] + 1;
                        ssize_t y = x - k, sx = x, sy = y;
                        while (x < N && y < M && A[x] == B[y])
                                x++, y++;
                        vf[k] = x;
                        ssize_t c = delta - k;
                        if (odd && c >= -(D - 1) && c <= D - 1 && vf[k] + vb[c] >= N) {
                                *ret_x0 = sx, *ret_y0 = sy, *ret_x1 = x, *ret_y1 = y;
                                return true;
                        }
                }
                /* backward: x and y count from the ends */
                for (ssize_t c = -D; c <= D; c += 2) {
                        ssize_t x = c == -D || (c != D && vb[c - 1] < vb[c + 1]) ? vb[c + 1] : vb[c - 1] + 1;
                        ssize_t y = x - c, sx = x, sy = y;
                        while (x < N && y < M && A[N - 1 - x] == B[M - 1 - y])
                                x++, y++;
                        vb[c] = x;
                        ssize_t k = delta - c;
                        if (!odd && k >= -D && k <= D && vb[c] + vf[k] >= N) {
                                *ret_x0 = N - x, *ret_y0 = M - y, *ret_x1 = N - sx, *ret_y1 = M - sy;
                                return true;
                        }
                }
        }
        assert(false); /* the paths meet by D = ceil((N + M) / 2) */
        return false;
}

/* Marks the lines of a[a0, a1) and b[b0, b1) that a shortest edit
 * script deletes or inserts. The recursion halves the edit distance at
 * each level, so its depth is O(log D). */
static void compare(Diff *d, size_t a0, size_t a1, size_t b0, size_t b1) {
        while (a0 < a1 && b0 < b1 && d->a.ids[a0] == d->b.ids[b0])
                a0++, b0++;
        while (a0 < a1 && b0 < b1 && d->a.ids[a1 - 1] == d->b.ids[b1 - 1])
                a1--, b1--;
        ssize_t x0, y0, x1, y1;
        if (a0 == a1 || b0 == b1 || !middle_snake(d, a0, a1, b0, b1, &x0, &y0, &x1, &y1)) {
                for (size_t i = a0; i < a1; i++)
                        d->a.changed[i] = true;
                for (size_t i = b0; i < b1; i++)
                        d->b.changed[i] = true;
                return;
        }
        compare(d, a0, a0 + (size_t) x0, b0, b0 + (size_t) y0);
        compare(d, a0 + (size_t) x1, a1, b0 + (size_t) y1, b1);
}

/* A run of changed lines: a[a0, a1) became b[b0, b1). */
typedef struct Change {
        size_t a0, a1, b0, b1;
} Change;

static void put_range(Buf *out, char sign, size_t start, size_t len) {
        /* as diff -u: an empty range names the line before it */
        if (len == 1)
                buf_printf(out, "%c%zu", sign, start + 1);
        else
                buf_printf(out, "%c%zu,%zu", sign, len == 0 ? start : start + 1, len);
}

static void put_line(Buf *out, char mark, const Line *l) {
        buf_putc(out, (uint8_t) mark);
        buf_append(out, l->p, l->len);
        if (l->len == 0 || l->p[l->len - 1] != '\n')
                buf_printf(out, "\n\\ No newline at end of file\n");
}

static void put_hunk(Buf *out, const Side *a, const Side *b, const Change *c, size_t n, unsigned context) {
        size_t a0 = c[0].a0 > context ? c[0].a0 - context : 0;
        size_t b0 = c[0].b0 - (c[0].a0 - a0);
        size_t a1 = MIN(c[n - 1].a1 + context, a->n);
        size_t b1 = c[n - 1].b1 + (a1 - c[n - 1].a1);
        buf_printf(out, "@@ ");
        put_range(out, '-', a0, a1 - a0);
        buf_putc(out, ' ');
        put_range(out, '+', b0, b1 - b0);
        buf_printf(out, " @@\n");
        size_t i = a0;
        for (size_t k = 0; k < n; k++) {
                for (; i < c[k].a0; i++)
                        put_line(out, ' ', &a->lines[i]);
                for (; i < c[k].a1; i++)
                        put_line(out, '-', &a->lines[i]);
                for (size_t j = c[k].b0; j < c[k].b1; j++)
                        put_line(out, '+', &b->lines[j]);
        }
        for (; i < a1; i++)
                put_line(out, ' ', &a->lines[i]);
}

size_t textdiff_unified(const char *a, size_t a_len, const char *b, size_t b_len, unsigned context, Buf *out) {
        Diff d = {};
        split_lines(a, a_len, &d.a);
        split_lines(b, b_len, &d.b);
        Hashmap h = {};
        size_t next_id = 0;
        intern(&h, &d.a, &next_id);
        intern(&h, &d.b, &next_id);
        hashmap_free(&h);
        /* diagonals -D-1 .. D+1 for D up to ceil((N + M) / 2) */
        size_t span = (d.a.n + d.b.n + 1) / 2 + 2;
        d.offset = (ssize_t) span;
        d.vf = xcalloc(2 * span + 1, sizeof(ssize_t));
        d.vb = xcalloc(2 * span + 1, sizeof(ssize_t));
        compare(&d, 0, d.a.n, 0, d.b.n);
        free(d.vf);
        free(d.vb);

        /* the changes, in order: unchanged lines pair up one to one */
        Change *changes = NULL;
        size_t n = 0, cap = 0;
        for (size_t i = 0, j = 0; i < d.a.n || j < d.b.n;) {
                if ((i < d.a.n && d.a.changed[i]) || (j < d.b.n && d.b.changed[j])) {
                        Change c = { .a0 = i, .b0 = j };
                        while (i < d.a.n && d.a.changed[i])
                                i++;
                        while (j < d.b.n && d.b.changed[j])
                                j++;
                        c.a1 = i;
                        c.b1 = j;
                        if (n == cap) {
                                cap = MAX(cap * 2, 16u);
                                changes = xrealloc(changes, cap * sizeof(Change));
                        }
                        changes[n++] = c;
                } else
                        i++, j++;
        }
        size_t hunks = 0;
        for (size_t k = 0; k < n;) {
                size_t e = k + 1;
                while (e < n && changes[e].a0 - changes[e - 1].a1 <= 2 * (size_t) context)
                        e++;
                put_hunk(out, &d.a, &d.b, changes + k, e - k, context);
                hunks++;
                k = e;
        }
        free(changes);
        side_done(&d.a);
        side_done(&d.b);
        return hunks;
}
