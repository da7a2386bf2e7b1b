/* SPDX-License-Identifier: MIT */
/* json: the reader status.json and MANIFEST go through — the tree a
 * document becomes, lookups by key, integers, escapes, and the
 * "line:column: error: ..." it answers malformed input with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "json.h"

static Json *parse_ok(const char *text) {
        Json *j = NULL;
        char *error = NULL;
        int r = json_parse(text, strlen(text), &error, &j);
        if (r < 0)
                fail_msg("json_parse(%s): %d %s", text, r, error);
        assert_null(error);
        return j;
}

static char *parse_error(const char *text) {
        Json *j = NULL;
        char *error = NULL;
        assert_int_equal(json_parse(text, strlen(text), &error, &j), -EBADMSG);
        assert_null(j);
        assert_non_null(error);
        return error;
}

static void test_document_tree(void **state) {
        _cleanup_(json_freep) Json *j = parse_ok(
                "{\n"
                "  \"node\": \"edge-1\",\n"
                "  \"generation\": 42,\n"
                "  \"ok\": true,\n"
                "  \"failed\": false,\n"
                "  \"none\": null,\n"
                "  \"ratio\": -1.5e3,\n"
                "  \"files\": [\"lds/lds.pb\", \"cds/cds.pb\"],\n"
                "  \"empty\": {}\n"
                "}\n");
        assert_int_equal(j->kind, JSON_OBJECT);
        assert_int_equal(j->n, 8);
        assert_string_equal(j->keys[0], "node");
        assert_string_equal(j->keys[7], "empty");

        assert_string_equal(json_get_str(j, "node"), "edge-1");
        int64_t gen = 0;
        assert_true(json_get_int(j, "generation", &gen));
        assert_int_equal(gen, 42);

        const Json *ok = json_get(j, "ok"), *failed = json_get(j, "failed"), *none = json_get(j, "none");
        assert_int_equal(ok->kind, JSON_BOOL);
        assert_true(ok->boolean);
        assert_int_equal(failed->kind, JSON_BOOL);
        assert_false(failed->boolean);
        assert_int_equal(none->kind, JSON_NULL);

        const Json *ratio = json_get(j, "ratio");
        assert_int_equal(ratio->kind, JSON_NUMBER);
        assert_string_equal(ratio->str, "-1.5e3"); /* numbers keep their text */

        const Json *files = json_get(j, "files");
        assert_int_equal(files->kind, JSON_ARRAY);
        assert_int_equal(files->n, 2);
        assert_null(files->keys);
        assert_string_equal(files->items[0]->str, "lds/lds.pb");
        assert_string_equal(files->items[1]->str, "cds/cds.pb");

        const Json *empty = json_get(j, "empty");
        assert_int_equal(empty->kind, JSON_OBJECT);
        assert_int_equal(empty->n, 0);
}

static void test_get_missing_and_wrong_kind(void **state) {
        _cleanup_(json_freep) Json *j = parse_ok("{\"s\": \"x\", \"n\": 7, \"a\": [1]}");
        assert_null(json_get(j, "absent"));
        assert_null(json_get_str(j, "n"));  /* a number is not a string */
        assert_null(json_get_str(j, "absent"));
        int64_t v = 99;
        assert_false(json_get_int(j, "s", &v));
        assert_false(json_get_int(j, "absent", &v));
        assert_int_equal(v, 99); /* untouched on failure */
        /* lookups on something that is not an object */
        assert_null(json_get(json_get(j, "a"), "s"));
        assert_null(json_get(NULL, "s"));
}

static void test_repeated_key_last_wins(void **state) {
        _cleanup_(json_freep) Json *j = parse_ok("{\"k\": \"first\", \"k\": \"second\"}");
        assert_int_equal(j->n, 2);
        assert_string_equal(json_get_str(j, "k"), "second");
}

static void test_get_int_bounds(void **state) {
        _cleanup_(json_freep) Json *j = parse_ok(
                "{\"max\": 9223372036854775807, \"min\": -9223372036854775808, \"over\": 9223372036854775808,"
                " \"frac\": 1.0, \"exp\": 1e2, \"zero\": 0}");
        int64_t v = 0;
        assert_true(json_get_int(j, "max", &v));
        assert_true(v == INT64_MAX);
        assert_true(json_get_int(j, "min", &v));
        assert_true(v == INT64_MIN);
        assert_true(json_get_int(j, "zero", &v));
        assert_int_equal(v, 0);
        v = 5;
        assert_false(json_get_int(j, "over", &v));
        assert_false(json_get_int(j, "frac", &v));
        assert_false(json_get_int(j, "exp", &v));
        assert_int_equal(v, 5);
}

static void test_string_escapes(void **state) {
        _cleanup_(json_freep) Json *j = parse_ok(
                "[\"q\\\"b\\\\s\\/n\\nt\\tr\\rb\\bf\\f\", \"\\u00e9\\u20ac\", \"\\ud83d\\ude00\"]");
        assert_string_equal(j->items[0]->str, "q\"b\\s/n\nt\tr\rb\bf\f");
        assert_string_equal(j->items[1]->str, "\xc3\xa9\xe2\x82\xac"); /* é€ */
        assert_string_equal(j->items[2]->str, "\xf0\x9f\x98\x80");     /* a surrogate pair: U+1F600 */
}

static void test_scalar_documents(void **state) {
        _cleanup_(json_freep) Json *s = parse_ok("  \"alone\"  \n");
        assert_int_equal(s->kind, JSON_STRING);
        assert_string_equal(s->str, "alone");
        _cleanup_(json_freep) Json *n = parse_ok("0");
        assert_int_equal(n->kind, JSON_NUMBER);
        assert_string_equal(n->str, "0");
}

static void test_errors_have_line_and_column(void **state) {
        static const struct {
                const char *text, *error;
        } cases[] = {
                { "", "1:1: error: unexpected end of the file" },
                { "{\"a\": 1,\n  \"b\" 2}", "2:7: error: expected ':' after the key \"b\"" },
                { "{\"a\": 1 \"b\": 2}", "1:9: error: expected ',' or '}'" },
                { "[1, 2", "1:6: error: expected ',' or ']'" },
                { "{1: 2}", "1:2: error: expected a key in quotes" },
                { "\"open", "1:6: error: unterminated string" },
                { "\"a\tb\"", "1:3: error: control character in a string" },
                { "\"\\x\"", "1:2: error: invalid escape \\x" },
                { "\"\\u0000\"", "1:2: error: \\u0000 in a string" },
                { "\"\\udc00\"", "1:2: error: invalid \\u escape" },
                { "\"\\u12\"", "1:2: error: invalid \\u escape" },
                { "nope", "1:1: error: expected a value" },
                { "1.", "1:1: error: expected digits after '.'" },
                { "1e+", "1:1: error: expected digits in the exponent" },
                { "{} {}", "1:4: error: unexpected text after the document" },
                { "01", "1:2: error: unexpected text after the document" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *e = parse_error(cases[i].text);
                if (!streq(e, cases[i].error))
                        fail_msg("%s: got \"%s\", expected \"%s\"", cases[i].text, e, cases[i].error);
        }
}

static void test_depth_bounded(void **state) {
        char deep[200];
        /* 64 nested arrays parse; the 65th is refused */
        memset(deep, '[', 64);
        memset(deep + 64, ']', 64);
        deep[128] = 0;
        _cleanup_(json_freep) Json *j = parse_ok(deep);
        assert_int_equal(j->kind, JSON_ARRAY);

        memset(deep, '[', 65);
        memset(deep + 65, ']', 65);
        deep[130] = 0;
        _cleanup_free_ char *e = parse_error(deep);
        assert_string_equal(e, "1:65: error: nested more than 64 deep");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_document_tree),
                cmocka_unit_test(test_get_missing_and_wrong_kind),
                cmocka_unit_test(test_repeated_key_last_wins),
                cmocka_unit_test(test_get_int_bounds),
                cmocka_unit_test(test_string_escapes),
                cmocka_unit_test(test_scalar_documents),
                cmocka_unit_test(test_errors_have_line_and_column),
                cmocka_unit_test(test_depth_bounded),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
