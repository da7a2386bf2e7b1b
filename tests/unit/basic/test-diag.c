/* SPDX-License-Identifier: MIT */
/* diag: diagnostics as the user reads them ("file:line:column: error:
 * path: message [rule]"), counted by level, bounded by max_errors, moved
 * and copied between lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "diag.h"

static void assert_format(const Diag *d, const char *expected) {
        _cleanup_free_ char *s = diag_format(d);
        assert_string_equal(s, expected);
}

static void test_level_names(void **state) {
        assert_string_equal(diag_level_to_string(DIAG_ERROR), "error");
        assert_string_equal(diag_level_to_string(DIAG_WARNING), "warning");
        assert_string_equal(diag_level_to_string(DIAG_NOTE), "note");
        assert_null(diag_level_to_string(_DIAG_LEVEL_MAX));
}

static void test_format_full(void **state) {
        DiagList l = {};
        diag_add(&l, DIAG_ERROR, "cds.yaml", 12, 7, "resources[0].connect_timeout", "expected a duration, got %s", "\"soon\"");
        assert_int_equal(l.n, 1);
        assert_format(&l.items[0], "cds.yaml:12:7: error: resources[0].connect_timeout: expected a duration, got \"soon\"");
        diag_list_clear(&l);
}

static void test_format_with_rule(void **state) {
        DiagList l = {};
        diag_add_rule(&l, DIAG_ERROR, "lds.yaml", 3, 5, "resources[1]", "graph.cluster", "no cluster \"%s\"", "web");
        assert_string_equal(l.items[0].rule, "graph.cluster");
        assert_format(&l.items[0], "lds.yaml:3:5: error: resources[1]: no cluster \"web\" [graph.cluster]");
        diag_list_clear(&l);
}

static void test_format_partial(void **state) {
        DiagList l = {};
        diag_add(&l, DIAG_WARNING, "eds.yaml", 0, 0, NULL, "unknown line");
        diag_add(&l, DIAG_NOTE, NULL, 4, 2, "spec", "no file");
        diag_add(&l, DIAG_ERROR, "x.yaml", 1, 1, "", "an empty path is no path");
        assert_format(&l.items[0], "eds.yaml: warning: unknown line");
        assert_format(&l.items[1], "note: spec: no file");
        assert_null(l.items[2].path);
        assert_format(&l.items[2], "x.yaml:1:1: error: an empty path is no path");
        diag_list_clear(&l);
        /* as read back from status.json, where a missing file or path is "" */
        Diag d = { .level = DIAG_ERROR, .file = (char *) "", .path = (char *) "", .message = (char *) "no stray colons" };
        assert_format(&d, "error: no stray colons");
        d.file = (char *) "nodes/x";
        assert_format(&d, "nodes/x: error: no stray colons");
}

static void test_counts_by_level(void **state) {
        DiagList l = {};
        diag_add(&l, DIAG_ERROR, "f", 1, 1, NULL, "e1");
        diag_add(&l, DIAG_WARNING, "f", 2, 1, NULL, "w1");
        diag_add(&l, DIAG_NOTE, "f", 3, 1, NULL, "n1");
        diag_add(&l, DIAG_ERROR, "f", 4, 1, NULL, "e2");
        assert_int_equal(l.n, 4);
        assert_int_equal(l.n_errors, 2);
        assert_int_equal(l.n_warnings, 1);
        assert_int_equal(l.n_dropped, 0);
        diag_list_clear(&l);
        assert_int_equal(l.n, 0);
        assert_int_equal(l.n_errors, 0);
        assert_null(l.items);
}

static void test_max_errors_drops_but_counts(void **state) {
        DiagList l = { .max_errors = 2 };
        for (int i = 0; i < 5; i++)
                diag_add(&l, DIAG_ERROR, "f", (unsigned) i + 1, 1, NULL, "error %d", i);
        assert_int_equal(l.n, 2);
        assert_int_equal(l.n_errors, 5);
        assert_int_equal(l.n_dropped, 3);
        assert_string_equal(l.items[1].message, "error 1");
        diag_list_clear(&l);
        assert_int_equal(l.max_errors, 2); /* kept across a clear */
        assert_int_equal(l.n_dropped, 0);
}

static void test_move(void **state) {
        DiagList dst = {}, src = { .max_errors = 9 };
        diag_add(&dst, DIAG_WARNING, "a", 1, 1, NULL, "first");
        diag_add(&src, DIAG_ERROR, "b", 2, 2, "p", "second");
        diag_add(&src, DIAG_NOTE, "b", 3, 3, NULL, "third");
        diag_list_move(&dst, &src);
        assert_int_equal(dst.n, 3);
        assert_int_equal(dst.n_errors, 1);
        assert_int_equal(dst.n_warnings, 1);
        assert_format(&dst.items[1], "b:2:2: error: p: second");
        assert_string_equal(dst.items[2].message, "third");
        assert_int_equal(src.n, 0);
        assert_null(src.items);
        assert_int_equal(src.n_errors, 0);
        assert_int_equal(src.max_errors, 9);
        diag_list_clear(&dst);
}

static void test_append_copy_by_level(void **state) {
        DiagList src = {};
        diag_add_rule(&src, DIAG_ERROR, "s", 1, 2, "p", "r.one", "an error");
        diag_add(&src, DIAG_WARNING, "s", 3, 4, NULL, "a warning");
        diag_add(&src, DIAG_NOTE, "s", 5, 6, NULL, "a note");

        DiagList errors = {}, all = {};
        diag_list_append_copy(&errors, &src, DIAG_ERROR);
        diag_list_append_copy(&all, &src, DIAG_NOTE);
        assert_int_equal(errors.n, 1);
        assert_format(&errors.items[0], "s:1:2: error: p: an error [r.one]");
        assert_int_equal(all.n, 3);
        assert_int_equal(all.n_warnings, 1);
        assert_format(&all.items[2], "s:5:6: note: a note");
        /* copies: src is unchanged and owns its own strings */
        assert_int_equal(src.n, 3);
        assert_ptr_not_equal(src.items[0].message, errors.items[0].message);
        diag_list_clear(&src);
        diag_list_clear(&errors);
        diag_list_clear(&all);
}

static void test_print(void **state) {
        DiagList l = { .max_errors = 1 };
        diag_add(&l, DIAG_ERROR, "f.yaml", 2, 3, "resources[0]", "bad");
        diag_add(&l, DIAG_ERROR, "f.yaml", 4, 5, NULL, "dropped");
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        assert_non_null(f);
        diag_list_print(&l, f);
        fclose(f);
        assert_string_equal(text, "f.yaml:2:3: error: resources[0]: bad\n(1 more diagnostics not shown)\n");
        free(text);
        diag_list_clear(&l);
}

/* Excerpts (issue 12, defect 12): bounded, cut at a character boundary,
 * one line of valid UTF-8. */
static void test_excerpts(void **state) {
        char *s = diag_excerpt("short \"q\"\n");
        assert_string_equal(s, "short \\\"q\\\"\\n");
        free(s);
        char long_s[200];
        memset(long_s, 'a', sizeof long_s - 1);
        long_s[sizeof long_s - 1] = 0;
        s = diag_excerpt(long_s);
        assert_int_equal(strlen(s), DIAG_EXCERPT_MAX + 3);
        assert_true(endswith(s, "..."));
        free(s);
        /* "é" (2 bytes) straddling the bound is not cut in half */
        char u[DIAG_EXCERPT_MAX + 8];
        memset(u, 'a', DIAG_EXCERPT_MAX - 1);
        strcpy(u + DIAG_EXCERPT_MAX - 1, "\xc3\xa9" "bc");
        s = diag_excerpt(u);
        assert_int_equal(utf8_valid_prefix(s, strlen(s)), strlen(s));
        assert_int_equal(strlen(s), DIAG_EXCERPT_MAX - 1 + 3);
        free(s);
        s = diag_shown("a\xff\xed\xa0\x80z", 0); /* a stray byte, a surrogate */
        assert_string_equal(s, "a\\xff\\xed\\xa0\\x80z");
        free(s);
        assert_int_equal(utf8_valid_prefix("ab\xc3", 3), 2);
}

static void test_truncate(void **state) {
        DiagList l = {};
        diag_add(&l, DIAG_ERROR, "f", 1, 1, NULL, "a");
        diag_add(&l, DIAG_WARNING, "f", 2, 1, NULL, "b");
        diag_add(&l, DIAG_ERROR, "f", 3, 1, NULL, "c");
        diag_list_truncate(&l, 1);
        assert_int_equal(l.n, 1);
        assert_int_equal(l.n_errors, 1);
        assert_int_equal(l.n_warnings, 0);
        diag_list_clear(&l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_level_names),
                cmocka_unit_test(test_format_full),
                cmocka_unit_test(test_format_with_rule),
                cmocka_unit_test(test_format_partial),
                cmocka_unit_test(test_counts_by_level),
                cmocka_unit_test(test_max_errors_drops_but_counts),
                cmocka_unit_test(test_move),
                cmocka_unit_test(test_append_copy_by_level),
                cmocka_unit_test(test_print),
                cmocka_unit_test(test_excerpts),
                cmocka_unit_test(test_truncate),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
