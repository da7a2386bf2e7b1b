/* SPDX-License-Identifier: MIT */
/* validate: every protoc-gen-validate rule fsxds enforces, on a schema of
 * its own (validate-test.proto, compiled by protoc at build time): a valid
 * message passes; then, one field at a time, an offending value gives
 * exactly one error at that field's line and column, with its path, the
 * message and the rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "encode.h"
#include "validate.h"

static Schema *schema;
static const char *desc_path;

/* The valid message, one top-level field a line. */
static const char *const base[] = {
        "port: 8080",
        "weight: 1",
        "i64: 0",
        "u64: 2",
        "s32: 0",
        "s64: -7",
        "f32: 1",
        "f64: 10",
        "sf32: 1",
        "sf64: -1",
        "ratio: 0.5",
        "percent: 50",
        "flag: true",
        "name: web",
        "header: x-request-id",
        "header_value: \"text\\twith tab\"",
        "path: /api",
        "blob: YWJj",
        "color: GREEN",
        "inner: {id: a}",
        "tags: [ab, cd]",
        "labels: {k: v}",
        "config: {\"@type\": type.googleapis.com/fsxds.test.Inner, id: x}",
        "timeout: 5s",
        "at: \"2020-01-01T00:00:00Z\"",
        "max: 3",
        "cluster: backend",
        "host: example.com",
        "ip: 10.0.0.1",
        "skipped: {id: \"\"}", /* message skip: Inner's rule is not checked */
        "ports: [1, 2]",
        "off: {port: 99}", /* validate.disabled */
        "ign: {port: 99}", /* validate.ignored */
        "sep_prefix: /api",
        "word: abc12",
};

typedef struct Case {
        const char *field; /* the line that changes: "<field>: ..." replaced, or removed when value is NULL */
        const char *value; /* the new line */
        unsigned column;
        const char *expect; /* "path: message [rule]" */
} Case;

static const Case cases[] = {
        { "port", "port: 70000", 7, "port: 70000 is above the maximum 65535 [validate.uint32.lte]" },
        { "weight", "weight: 0", 9, "weight: 0 is below the minimum 1 [validate.int32.gte]" },
        { "weight", "weight: 100", 9, "weight: 100 must be less than 100 [validate.int32.lt]" },
        { "i64", "i64: -5", 6, "i64: -5 must be greater than -5 [validate.int64.gt]" },
        { "u64", "u64: 4", 6, "u64: 4 is not one of the allowed values [validate.uint64.in]" },
        { "s32", "s32: -1", 6, "s32: -1 is not allowed here [validate.sint32.not_in]" },
        { "s64", "s64: 7", 6, "s64: 7 must be exactly -7 [validate.sint64.const]" },
        { "f32", "f32: 10", 6, "f32: 10 must be less than 10 [validate.fixed32.lt]" },
        { "f64", "f64: 9", 6, "f64: 9 is below the minimum 10 [validate.fixed64.gte]" },
        { "sf32", "sf32: 0", 7, "sf32: 0 must be greater than 0 [validate.sfixed32.gt]" },
        { "sf64", "sf64: 0", 7, "sf64: 0 is above the maximum -1 [validate.sfixed64.lte]" },
        { "ratio", "ratio: 1.5", 8, "ratio: 1.5 is above the maximum 1 [validate.float.lte]" },
        { "percent", "percent: 0", 10, "percent: 0 must be greater than 0 [validate.double.gt]" },
        { "flag", "flag: false", 7, "flag: must be true [validate.bool.const]" },
        /* absent: the zero value is checked, at the message */
        { "flag", NULL, 1, "flag: must be true [validate.bool.const]" },
        { "name", "name: \"\"", 7, "name: \"\" is shorter than the minimum length 1 (characters) [validate.string.min_len]" },
        { "name", "name: ünïcödé!!", 7, "name: \"ünïcödé!!\" is longer than the maximum length 8 (characters) [validate.string.max_len]" },
        { "header", "header: \"bad header\"", 9,
          "header: \"bad header\" is not a valid HTTP header name [validate.string.well_known_regex]" },
        { "header_value", "header_value: \"a\\nb\"", 15,
          "header_value: \"a\\nb\" is not a valid HTTP header value (no control characters) [validate.string.well_known_regex]" },
        { "path", "path: api", 7, "path: \"api\" must start with \"/\" [validate.string.prefix]" },
        { "path", "path: /", 7, "path: \"/\" is shorter than the minimum 2 bytes [validate.string.min_bytes]" },
        { "blob", "blob: YWJjZGU=", 7, "blob: \"abcde\" is longer than the maximum length 4 (bytes) [validate.bytes.max_len]" },
        { "color", "color: 7", 8, "color: 7 is not a value of fsxds.test.Color [validate.enum.defined_only]" },
        { "inner", NULL, 1, "inner: required, but not set [validate.message.required]" },
        { "inner", "inner: {id: \"\"}", 13, "inner.id: \"\" is shorter than the minimum length 1 (characters) [validate.string.min_len]" },
        { "tags", "tags: []", 7, "tags: 0 items, at least 1 required [validate.repeated.min_items]" },
        { "tags", "tags: [ab, cd, ef, gh]", 7, "tags: 4 items, at most 3 allowed [validate.repeated.max_items]" },
        { "tags", "tags: [ab, ab]", 12, "tags[1]: repeats item 0; items must be unique [validate.repeated.unique]" },
        { "tags", "tags: [ab, c]", 12, "tags[1]: \"c\" is shorter than the minimum length 2 (characters) [validate.string.min_len]" },
        { "labels", NULL, 1, "labels: 0 entries, at least 1 required [validate.map.min_pairs]" },
        { "labels", "labels: {\"\": v}", 9, "labels[\"\"]: \"\" is shorter than the minimum length 1 (characters) [validate.string.min_len]" },
        { "config", NULL, 1, "config: required, but not set [validate.any.required]" },
        { "config", "config: {\"@type\": type.googleapis.com/google.protobuf.Duration, value: 1s}", 9,
          "config: type type.googleapis.com/google.protobuf.Duration is not allowed here [validate.any.in]" },
        { "timeout", "timeout: 0s", 10, "timeout: 0s must be greater than 0s [validate.duration.gt]" },
        { "timeout", "timeout: 61.5s", 10, "timeout: 61.5s is above the maximum 60s [validate.duration.lte]" },
        { "at", "at: \"1970-01-01T00:00:01Z\"", 5, "at: 1s must be greater than 1s [validate.timestamp.gt]" },
        { "max", "max: 0", 6, "max: 0 is below the minimum 1 [validate.uint32.gte]" },
        { "cluster", NULL, 1, "target: one of cluster, cluster_header is required [validate.oneof.required]" },
        { "cluster", "cluster: \"\"", 10, "cluster: \"\" is shorter than the minimum length 1 (characters) [validate.string.min_len]" },
        { "host", "host: \"-bad-\"", 7, "host: \"-bad-\" is not an IP address or a hostname [validate.string.address]" },
        { "ip", "ip: 10.0.0.300", 5, "ip: \"10.0.0.300\" is not an IPv4 address [validate.string.ipv4]" },
        { "ports", "ports: [1, 0]", 12, "ports[1]: 0 is below the minimum 1 [validate.uint32.gte]" },
        { "sep_prefix", "sep_prefix: /api/", 13,
          "sep_prefix: \"/api/\" does not match regex pattern \"^[^?#]+[^?#/]$\" [validate.string.pattern]" },
        /* a search would find "abc1" in it: RE2::FullMatch does not */
        { "word", "word: abc1x", 7, "word: \"abc1x\" does not match regex pattern \"[a-z]+\\\\d*\" [validate.string.pattern]" },
};

typedef struct Run {
        Buf out;
        DiagList diags;
        size_t errors;
} Run;

static int on_doc(void *ud, YamlArena *a, YamlNode *root, size_t doc) {
        Run *r = ud;
        Encoder e;
        encoder_init(&e, schema, "t.yaml", &r->diags);
        const SchemaMessage *m = schema_message(schema, "fsxds.test.Rules");
        assert_non_null(m);
        r->errors = encode_message(&e, m, root, &r->out);
        encoder_done(&e);
        return 0;
}

/* The base with one line replaced (or dropped); *ret_line: its line. */
static char *text_with(const Case *c, unsigned *ret_line) {
        Buf b = {};
        unsigned line = 0, at = 1;
        for (size_t i = 0; i < ELEMENTSOF(base); i++) {
                size_t fl = c ? strlen(c->field) : 0;
                bool hit = c && strncmp(base[i], c->field, fl) == 0 && base[i][fl] == ':';
                if (hit) {
                        at = line + 1;
                        if (!c->value)
                                continue;
                        buf_printf(&b, "%s\n", c->value);
                } else
                        buf_printf(&b, "%s\n", base[i]);
                line++;
        }
        *ret_line = c && !c->value ? 1 : at;
        return buf_steal_str(&b);
}

static void run(Run *r, const char *yaml) {
        *r = (Run) {};
        static const YamlCallbacks cb = { .document = on_doc };
        assert_int_equal(yaml_parse("t.yaml", yaml, strlen(yaml), NULL, &r->diags, &cb, r), 0);
}

static int setup(void **state) {
        _cleanup_free_ char *error = NULL;
        int r = schema_load_file(desc_path, &error, &schema);
        if (r < 0)
                fprintf(stderr, "%s: %s\n", desc_path, error ? error : strerror(-r));
        return r;
}

static int teardown(void **state) {
        schema = schema_free(schema);
        return 0;
}

static void test_rules_parsed(void **state) {
        const SchemaMessage *m = schema_message(schema, "fsxds.test.Rules");
        const SchemaField *port = schema_field_by_name(m, "port", 4);
        assert_non_null(port->rules);
        assert_int_equal(port->rules->kind, RULE_UINT32);
        assert_true(port->rules->has_lte);
        assert_true(port->rules->lte == 65535);
        const SchemaField *tags = schema_field_by_name(m, "tags", 4);
        assert_int_equal(tags->rules->kind, RULE_REPEATED);
        assert_non_null(tags->rules->items);
        assert_int_equal(tags->rules->items->kind, RULE_STRING);
        assert_int_equal(tags->rules->items->min_len, 2);
        assert_non_null(m->oneof_required);
        assert_true(m->validated);
        assert_null(schema_field_by_name(m, "cluster_header", 14)->rules);
        const SchemaField *hv = schema_field_by_name(m, "header_value", 12);
        assert_false(hv->rules->strict);
        assert_int_equal(hv->rules->well_known_regex, 2);
        /* the built-in schema carries upstream's rules too */
        Schema *builtin = NULL;
        assert_int_equal(schema_load_builtin(&builtin), 0);
        const SchemaMessage *sa = schema_message(builtin, "envoy.config.core.v3.SocketAddress");
        const SchemaField *pv = schema_field_by_name(sa, "port_value", 10);
        assert_non_null(pv->rules);
        assert_true(pv->rules->lte == 65535);
        schema_free(builtin);
}

static void test_valid_message_passes(void **state) {
        unsigned line;
        _cleanup_free_ char *text = text_with(NULL, &line);
        Run r;
        run(&r, text);
        for (size_t i = 0; i < r.diags.n; i++) {
                _cleanup_free_ char *s = diag_format(&r.diags.items[i]);
                fprintf(stderr, "unexpected: %s\n", s);
        }
        assert_int_equal(r.diags.n, 0);
        assert_int_equal(r.errors, 0);
        buf_free(&r.out);
        diag_list_clear(&r.diags);
}

static void test_each_rule(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const Case *c = &cases[i];
                unsigned line;
                _cleanup_free_ char *text = text_with(c, &line);
                Run r;
                run(&r, text);
                _cleanup_free_ char *want = xasprintf("t.yaml:%u:%u: error: %s", line, c->column, c->expect);
                _cleanup_free_ char *got = r.diags.n > 0 ? diag_format(&r.diags.items[0]) : xstrdup("(nothing)");
                if (r.diags.n != 1 || !streq(got, want)) {
                        for (size_t k = 0; k < r.diags.n; k++) {
                                _cleanup_free_ char *s = diag_format(&r.diags.items[k]);
                                fprintf(stderr, "  got: %s\n", s);
                        }
                        fail_msg("case %zu (%s): want %s", i, c->value ? c->value : c->field, want);
                }
                assert_int_equal(r.errors, 1);
                buf_free(&r.out);
                diag_list_clear(&r.diags);
        }
}

static void test_rules_garbage(void **state) {
        SchemaRules *r = NULL;
        /* FieldRules.uint32 with a truncated body */
        static const uint8_t bad[] = { 0x2a, 0x05, 0x18 };
        assert_int_equal(schema_rules_parse(bad, sizeof bad, &r), -EBADMSG);
        assert_null(r);
        static const uint8_t ok[] = { 0x2a, 0x03, 0x18, 0xff, 0x01 }; /* uint32 {lte: 255} */
        assert_int_equal(schema_rules_parse(ok, sizeof ok, &r), 0);
        assert_true(r->has_lte && r->lte == 255);
        schema_rules_free(r);
}

int main(int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr, "usage: test-validate VALIDATE-TEST.desc\n");
                return 2;
        }
        desc_path = argv[1];
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rules_parsed),
                cmocka_unit_test(test_valid_message_passes),
                cmocka_unit_test(test_each_rule),
                cmocka_unit_test(test_rules_garbage),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
