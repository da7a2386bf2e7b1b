/* SPDX-License-Identifier: MIT */
/* textdiff: unified hunks as diff -u prints them (ranges, context,
 * "\ No newline at end of file"), and, on random texts, that applying
 * the hunks to the first text gives the second and that the edit is a
 * shortest one (its length checked against a quadratic LCS). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../random.h"
#include "textdiff.h"

static char *diff(const char *a, const char *b, unsigned context, size_t *ret_hunks) {
        Buf out = {};
        size_t h = textdiff_unified(a, strlen(a), b, strlen(b), context, &out);
        if (ret_hunks)
                *ret_hunks = h;
        buf_putc(&out, 0);
        return (char *) out.data;
}

static void expect(const char *a, const char *b, const char *want, size_t want_hunks) {
        size_t hunks;
        char *got = diff(a, b, 3, &hunks);
        assert_string_equal(got, want);
        assert_int_equal(hunks, want_hunks);
        free(got);
}

static void test_equal(void **state) {
        expect("", "", "", 0);
        expect("a\nb\n", "a\nb\n", "", 0);
        expect("a\nb", "a\nb", "", 0);
}

static void test_one_line_changed(void **state) {
        expect("a\nb\nc\nd\ne\nf\ng\nh\n", "a\nb\nc\nD\ne\nf\ng\nh\n",
               "@@ -1,7 +1,7 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n", 1);
        /* one line of context: the hunk starts and ends nearer */
        char *got = diff("a\nb\nc\nd\ne\nf\ng\nh\n", "a\nb\nc\nD\ne\nf\ng\nh\n", 1, NULL);
        assert_string_equal(got, "@@ -3,3 +3,3 @@\n c\n-d\n+D\n e\n");
        free(got);
}

static void test_from_and_to_empty(void **state) {
        expect("", "a\nb\n", "@@ -0,0 +1,2 @@\n+a\n+b\n", 1);
        expect("a\n", "", "@@ -1 +0,0 @@\n-a\n", 1);
        expect("x\n", "x\ny\n", "@@ -1 +1,2 @@\n x\n+y\n", 1);
}

static void test_no_newline_at_end(void **state) {
        expect("a\nb", "a\nb\n", "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n", 1);
        expect("a\n", "a\nc", "@@ -1 +1,2 @@\n a\n+c\n\\ No newline at end of file\n", 1);
}

static void test_hunks_split_and_merge(void **state) {
        /* changes 7 lines apart: two hunks; 6 apart: one */
        const char *a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n";
        expect(a, "1\nX\n3\n4\n5\n6\n7\n8\n9\nY\n11\n12\n13\n14\n15\n16\n",
               "@@ -1,5 +1,5 @@\n 1\n-2\n+X\n 3\n 4\n 5\n@@ -7,7 +7,7 @@\n 7\n 8\n 9\n-10\n+Y\n 11\n 12\n 13\n", 2);
        expect(a, "1\nX\n3\n4\n5\n6\n7\n8\nY\n10\n11\n12\n13\n14\n15\n16\n",
               "@@ -1,12 +1,12 @@\n 1\n-2\n+X\n 3\n 4\n 5\n 6\n 7\n 8\n-9\n+Y\n 10\n 11\n 12\n", 1);
}

/* ---- random texts ---- */

typedef struct Text {
        char **lines; /* each with its '\n', but maybe the last */
        size_t n, cap;
} Text;

static void text_add(Text *t, const char *p, size_t len) {
        if (t->n == t->cap) {
                t->cap = MAX(t->cap * 2, 16u);
                t->lines = realloc(t->lines, t->cap * sizeof(char *));
        }
        t->lines[t->n++] = strndup(p, len);
}

static void text_free(Text *t) {
        for (size_t i = 0; i < t->n; i++)
                free(t->lines[i]);
        free(t->lines);
}

static char *text_join(const Text *t) {
        Buf b = {};
        for (size_t i = 0; i < t->n; i++)
                buf_append(&b, t->lines[i], strlen(t->lines[i]));
        buf_putc(&b, 0);
        return (char *) b.data;
}

static void text_split(const char *s, Text *ret) {
        *ret = (Text) {};
        while (*s) {
                const char *nl = strchr(s, '\n');
                size_t len = nl ? (size_t) (nl - s) + 1 : strlen(s);
                text_add(ret, s, len);
                s += len;
        }
}

/* Applies unified hunks to a, checking every context and deleted line
 * and each header's counts. */
static char *apply(const char *a, const char *hunks) {
        Text ta, out = {}, h;
        text_split(a, &ta);
        text_split(hunks, &h);
        size_t ai = 0;
        for (size_t i = 0; i < h.n;) {
                unsigned long as, al = 1, bs, bl = 1;
                const char *l = h.lines[i];
                assert_true(strncmp(l, "@@ -", 4) == 0);
                char *p;
                as = strtoul(l + 4, &p, 10);
                if (*p == ',')
                        al = strtoul(p + 1, &p, 10);
                assert_true(strncmp(p, " +", 2) == 0);
                bs = strtoul(p + 2, &p, 10);
                if (*p == ',')
                        bl = strtoul(p + 1, &p, 10);
                assert_string_equal(p, " @@\n");
                size_t start = al == 0 ? as : as - 1;
                assert_true(start >= ai);
                while (ai < start)
                        text_add(&out, ta.lines[ai], strlen(ta.lines[ai])), ai++;
                size_t out_start = out.n;
                (void) bs;
                unsigned long seen_a = 0, seen_b = 0;
                for (i++; i < h.n && h.lines[i][0] != '@'; i++) {
                        char mark = h.lines[i][0];
                        Buf line = {};
                        buf_append(&line, h.lines[i] + 1, strlen(h.lines[i] + 1));
                        if (i + 1 < h.n && streq(h.lines[i + 1], "\\ No newline at end of file\n")) {
                                line.len--; /* its '\n' was the marker's */
                                i++;
                        }
                        buf_putc(&line, 0);
                        if (mark == ' ' || mark == '-') {
                                assert_true(ai < ta.n);
                                assert_string_equal((char *) line.data, ta.lines[ai]);
                                ai++;
                                seen_a++;
                        }
                        if (mark == ' ' || mark == '+') {
                                text_add(&out, (char *) line.data, line.len - 1);
                                seen_b++;
                        }
                        assert_true(mark == ' ' || mark == '-' || mark == '+');
                        buf_free(&line);
                }
                assert_int_equal(seen_a, al);
                assert_int_equal(seen_b, bl);
                assert_int_equal(out.n - out_start, bl);
        }
        while (ai < ta.n)
                text_add(&out, ta.lines[ai], strlen(ta.lines[ai])), ai++;
        char *s = text_join(&out);
        text_free(&ta);
        text_free(&h);
        text_free(&out);
        return s;
}

/* The length of a longest common subsequence of lines, quadratically. */
static size_t lcs(const Text *a, const Text *b) {
        size_t *row = calloc(b->n + 1, sizeof(size_t)), *prev = calloc(b->n + 1, sizeof(size_t));
        for (size_t i = 1; i <= a->n; i++) {
                for (size_t j = 1; j <= b->n; j++)
                        row[j] = streq(a->lines[i - 1], b->lines[j - 1]) ? prev[j - 1] + 1 : MAX(prev[j], row[j - 1]);
                size_t *t = prev;
                prev = row;
                row = t;
        }
        size_t r = prev[b->n];
        free(row);
        free(prev);
        return r;
}

static char *random_text(uint64_t *seed, unsigned max_lines, unsigned alphabet) {
        Buf b = {};
        unsigned n = xorshift_below(seed, max_lines + 1);
        for (unsigned i = 0; i < n; i++)
                buf_printf(&b, "line %c\n", 'a' + xorshift_below(seed, alphabet));
        if (b.len > 0 && xorshift_below(seed, 4) == 0)
                b.len--; /* no newline at the end */
        buf_putc(&b, 0);
        return (char *) b.data;
}

/* b from a: some lines dropped, changed or added */
static char *random_edit(uint64_t *seed, const char *a, unsigned alphabet) {
        Text t;
        text_split(a, &t);
        Buf b = {};
        for (size_t i = 0; i <= t.n; i++) {
                unsigned r = xorshift_below(seed, 10);
                if (r == 0)
                        buf_printf(&b, "line %c\n", 'a' + xorshift_below(seed, alphabet));
                if (i == t.n)
                        break;
                if (r == 1)
                        continue;
                if (r == 2)
                        buf_printf(&b, "line %c\n", 'a' + xorshift_below(seed, alphabet));
                else
                        buf_append(&b, t.lines[i], strlen(t.lines[i]));
        }
        text_free(&t);
        buf_putc(&b, 0);
        return (char *) b.data;
}

static void check_pair(const char *a, const char *b, unsigned context) {
        size_t hunks;
        char *d = diff(a, b, context, &hunks);
        assert_true((hunks == 0) == streq(a, b));
        char *got = apply(a, d);
        assert_string_equal(got, b);
        /* shortest: the lines marked - and + are those outside an LCS */
        Text ta, tb, td;
        text_split(a, &ta);
        text_split(b, &tb);
        text_split(d, &td);
        size_t edits = 0;
        for (size_t i = 0; i < td.n; i++)
                edits += td.lines[i][0] == '-' || td.lines[i][0] == '+';
        assert_int_equal(edits, ta.n + tb.n - 2 * lcs(&ta, &tb));
        text_free(&ta);
        text_free(&tb);
        text_free(&td);
        free(got);
        free(d);
}

static void test_random_independent(void **state) {
        uint64_t seed = 0x9e3779b97f4a7c15ULL;
        for (int i = 0; i < 3000; i++) {
                unsigned alphabet = 1 + xorshift_below(&seed, 6);
                char *a = random_text(&seed, 30, alphabet), *b = random_text(&seed, 30, alphabet);
                check_pair(a, b, xorshift_below(&seed, 5));
                free(a);
                free(b);
        }
}

static void test_random_edits(void **state) {
        uint64_t seed = 0x2545f4914f6cdd1dULL;
        for (int i = 0; i < 2000; i++) {
                unsigned alphabet = 2 + xorshift_below(&seed, 20);
                char *a = random_text(&seed, 80, alphabet), *b = random_edit(&seed, a, alphabet);
                check_pair(a, b, 3);
                free(a);
                free(b);
        }
}

/* Long texts: linear memory, the few changes found among many lines, and
 * texts with nothing in common (past the search's bound: replaced whole). */
static void test_long(void **state) {
        Buf a = {}, b = {};
        for (int i = 0; i < 50000; i++) {
                buf_printf(&a, "  field_%d: %d\n", i, i);
                buf_printf(&b, "  field_%d: %d\n", i, i % 10000 == 5 ? -i : i);
        }
        buf_putc(&a, 0);
        buf_putc(&b, 0);
        size_t hunks;
        char *d = diff((char *) a.data, (char *) b.data, 3, &hunks);
        assert_int_equal(hunks, 5);
        char *got = apply((char *) a.data, d);
        assert_string_equal(got, (char *) b.data);
        free(got);
        free(d);
        /* entirely different texts of 20,000 lines each */
        Buf c = {};
        for (int i = 0; i < 20000; i++)
                buf_printf(&c, "other %d\n", i);
        buf_putc(&c, 0);
        a.len = strlen((char *) a.data) / 5;
        buf_putc(&a, 0);
        d = diff((char *) a.data, (char *) c.data, 3, &hunks);
        assert_int_equal(hunks, 1);
        got = apply((char *) a.data, d);
        assert_string_equal(got, (char *) c.data);
        free(got);
        free(d);
        buf_free(&a);
        buf_free(&b);
        buf_free(&c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_equal),
                cmocka_unit_test(test_one_line_changed),
                cmocka_unit_test(test_from_and_to_empty),
                cmocka_unit_test(test_no_newline_at_end),
                cmocka_unit_test(test_hunks_split_and_merge),
                cmocka_unit_test(test_random_independent),
                cmocka_unit_test(test_random_edits),
                cmocka_unit_test(test_long),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
