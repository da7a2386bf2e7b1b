/* SPDX-License-Identifier: MIT */
/* yamltree: scalar typing in Envoy's dialect, marks, limits, streaming. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <unistd.h>
#include <sys/stat.h>

#include "yamltree.h"

typedef struct Seen {
        size_t n_docs, n_resources;
        char kinds[64];
        char first_str[64];
        unsigned line, column;
} Seen;

static int on_doc(void *ud, YamlArena *a, YamlNode *root, size_t doc) {
        Seen *s = ud;
        s->n_docs++;
        if (root->kind == YAML_KIND_MAP) {
                for (uint32_t i = 0; i < root->n && i < 60; i++)
                        s->kinds[i] = (char) ('0' + root->items[2 * i + 1]->kind);
                if (root->n > 0) {
                        snprintf(s->first_str, sizeof s->first_str, "%s", root->items[1]->str ? root->items[1]->str : "");
                        s->line = root->items[1]->line;
                        s->column = root->items[1]->column;
                }
        }
        return 0;
}

static int on_res(void *ud, YamlArena *a, YamlNode *item, size_t doc, size_t idx) {
        Seen *s = ud;
        s->n_resources++;
        return 0;
}

static const YamlCallbacks cbs = { .resource = on_res, .document = on_doc };

static int parse(const char *text, Seen *s, DiagList *d) {
        *s = (Seen) {};
        return yaml_parse("t.yaml", text, strlen(text), NULL, d, &cbs, s);
}

static void test_scalar_typing(void **state) {
        Seen s;
        DiagList d = {};
        /* null, bool x3, int x3 (dec, hex, octal), float x2, string x3 */
        assert_int_equal(parse("a: ~\nb: yes\nc: Off\nd: TRUE\ne: 12\nf: 0x1F\ng: 017\nh: 1.5\ni: .inf\n"
                               "j: hello\nk: '12'\nl: \"true\"\nm: !!str 5\n", &s, &d), 0);
        assert_string_equal(s.kinds, "0111222334444");
        diag_list_clear(&d);
}

static void test_marks_are_one_based(void **state) {
        Seen s;
        DiagList d = {};
        assert_int_equal(parse("\nkey:   value\n", &s, &d), 0);
        assert_string_equal(s.first_str, "value");
        assert_int_equal(s.line, 2);
        assert_int_equal(s.column, 8);
        diag_list_clear(&d);
}

static void test_duplicate_key(void **state) {
        Seen s;
        DiagList d = {};
        assert_int_equal(parse("a: 1\nb: 2\na: 3\n", &s, &d), -EBADMSG);
        assert_int_equal(d.n_errors, 1);
        assert_int_equal(d.items[0].line, 3);
        assert_int_equal(d.items[0].column, 1);
        assert_non_null(strstr(d.items[0].message, "duplicate key 'a'"));
        diag_list_clear(&d);
}

static void test_ignore_tag_drops_key(void **state) {
        Seen s;
        DiagList d = {};
        assert_int_equal(parse("!ignore anchors: &x {p: 1}\nuse: *x\n", &s, &d), 0);
        assert_int_equal(s.kinds[0], '0' + YAML_KIND_MAP); /* first kept key is "use" */
        assert_int_equal(s.kinds[1], 0);
        diag_list_clear(&d);
}

static void test_billion_laughs_refused(void **state) {
        Buf b = {};
        buf_printf(&b, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (int i = 1; i < 12; i++)
                buf_printf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i,
                           i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
        Seen s = {};
        DiagList d = {};
        assert_int_equal(yaml_parse("t.yaml", (char *) b.data, b.len, NULL, &d, &cbs, &s), -EBADMSG);
        assert_int_equal(s.n_docs, 0);
        assert_non_null(strstr(d.items[0].message, "aliases expand to more than"));
        diag_list_clear(&d);
        buf_free(&b);
}

static void test_depth_limit(void **state) {
        Buf b = {};
        for (int i = 0; i < 200; i++)
                buf_putc(&b, '[');
        for (int i = 0; i < 200; i++)
                buf_putc(&b, ']');
        Seen s = {};
        DiagList d = {};
        assert_int_equal(yaml_parse("t.yaml", (char *) b.data, b.len, NULL, &d, &cbs, &s), -EBADMSG);
        assert_non_null(strstr(d.items[0].message, "nesting deeper than 128"));
        diag_list_clear(&d);
        buf_free(&b);
}

static void test_file_size_limit(void **state) {
        YamlLimits lim = yaml_default_limits;
        lim.max_file_size = 4;
        Seen s = {};
        DiagList d = {};
        assert_int_equal(yaml_parse("t.yaml", "a: 12345", 8, &lim, &d, &cbs, &s), -EBADMSG);
        assert_non_null(strstr(d.items[0].message, "larger than 4 bytes"));
        diag_list_clear(&d);
}

/* A FIFO is never opened for reading blocking: a source swapped for one
 * between a listing's stat and the open (issue 12, defect 2) is an error at
 * once, checked on the descriptor opened. */
static void test_file_fifo_refused(void **state) {
        char dir[] = "/tmp/fsxds-yamltree-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *fifo = xasprintf("%s/x.yaml", dir);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        Seen s = {};
        DiagList d = {};
        char sha[65];
        assert_int_equal(yaml_parse_file(fifo, NULL, &d, &cbs, &s, sha), -EBADFD);
        assert_int_equal(d.n, 0);
        unlink(fifo);
        rmdir(dir);
}

static void test_invalid_utf8(void **state) {
        Seen s;
        DiagList d = {};
        assert_int_equal(parse("a: \xff\xfe\n", &s, &d), -EBADMSG);
        assert_non_null(strstr(d.items[0].message, "UTF-8"));
        diag_list_clear(&d);
}

static void test_streams_resources_and_multi_docs(void **state) {
        Seen s;
        DiagList d = {};
        assert_int_equal(parse("resources: [{a: 1}, {a: 2}, {a: 3}]\n---\nresources: [{b: 1}]\n", &s, &d), 0);
        assert_int_equal(s.n_docs, 2);
        assert_int_equal(s.n_resources, 4);
        diag_list_clear(&d);
}

static void test_no_streaming_after_type(void **state) {
        Seen s;
        DiagList d = {};
        assert_int_equal(parse("\"@type\": x\nresources: [{a: 1}]\n", &s, &d), 0);
        assert_int_equal(s.n_resources, 0);
        assert_int_equal(s.n_docs, 1);
        diag_list_clear(&d);
}

static void test_syntax_error_location(void **state) {
        Seen s;
        DiagList d = {};
        assert_int_equal(parse("a: [1, 2\nb: c\n", &s, &d), -EBADMSG);
        assert_int_equal(d.n_errors, 1);
        assert_true(d.items[0].line >= 2);
        diag_list_clear(&d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_scalar_typing),
                cmocka_unit_test(test_marks_are_one_based),
                cmocka_unit_test(test_duplicate_key),
                cmocka_unit_test(test_ignore_tag_drops_key),
                cmocka_unit_test(test_billion_laughs_refused),
                cmocka_unit_test(test_depth_limit),
                cmocka_unit_test(test_file_size_limit),
                cmocka_unit_test(test_file_fifo_refused),
                cmocka_unit_test(test_invalid_utf8),
                cmocka_unit_test(test_streams_resources_and_multi_docs),
                cmocka_unit_test(test_no_streaming_after_type),
                cmocka_unit_test(test_syntax_error_location),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
