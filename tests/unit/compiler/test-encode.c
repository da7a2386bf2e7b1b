/* SPDX-License-Identifier: MIT */
/* encode: wire bytes for the proto3 JSON forms Envoy accepts, legacy forms
 * with warnings, and errors with location and field path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "encode.h"
#include "value.h"

static Schema *schema;

typedef struct Run {
        const char *type;
        Buf out;
        DiagList diags;
        size_t errors;
} Run;

static int on_doc(void *ud, YamlArena *a, YamlNode *root, size_t doc) {
        Run *r = ud;
        Encoder e;
        encoder_init(&e, schema, "t.yaml", &r->diags);
        const SchemaMessage *m = schema_message(schema, r->type);
        assert_non_null(m);
        r->errors = encode_message(&e, m, root, &r->out);
        encoder_done(&e);
        return 0;
}

static void run(Run *r, const char *type, const char *yaml) {
        *r = (Run) { .type = type };
        static const YamlCallbacks cb = { .document = on_doc };
        assert_int_equal(yaml_parse("t.yaml", yaml, strlen(yaml), NULL, &r->diags, &cb, r), 0);
}

static void done(Run *r) {
        buf_free(&r->out);
        diag_list_clear(&r->diags);
}

static void assert_bytes(const Run *r, const char *expected, size_t n) {
        if (r->out.len != n || memcmp(r->out.data, expected, n) != 0) {
                for (size_t i = 0; i < r->out.len; i++)
                        fprintf(stderr, "\\x%02x", r->out.data[i]);
                fprintf(stderr, "\n");
                fail_msg("encoding differs (%zu bytes, expected %zu)", r->out.len, n);
        }
}
#define ASSERT_BYTES(r, lit) assert_bytes(r, lit, sizeof(lit) - 1)

static const char *diag_text(const Run *r, size_t i) {
        static char buf[1024];
        assert_true(i < r->diags.n);
        char *s = diag_format(&r->diags.items[i]);
        snprintf(buf, sizeof buf, "%s", s);
        free(s);
        return buf;
}

static void test_socket_address_both_name_styles(void **state) {
        Run r;
        run(&r, "envoy.config.core.v3.SocketAddress", "address: 10.0.0.1\nportValue: 80\n");
        assert_int_equal(r.errors, 0);
        ASSERT_BYTES(&r, "\x12\x08" "10.0.0.1" "\x18\x50");
        done(&r);
}

static void test_fields_in_number_order_and_defaults_skipped(void **state) {
        Run r;
        /* port_value (3) before address (2) in the source; protocol TCP = 0 is a default */
        run(&r, "envoy.config.core.v3.SocketAddress", "port_value: 1\nprotocol: TCP\naddress: a\n");
        ASSERT_BYTES(&r, "\x12\x01" "a" "\x18\x01");
        done(&r);
}

static void test_enum_by_name_and_number(void **state) {
        Run r;
        run(&r, "envoy.config.cluster.v3.Cluster", "name: c\ntype: EDS\nlb_policy: 1\n");
        assert_int_equal(r.errors, 0);
        /* name=1, type=2 (EDS=3), lb_policy=6 (LEAST_REQUEST=1) */
        ASSERT_BYTES(&r, "\x0a\x01" "c" "\x10\x03" "\x30\x01");
        done(&r);
}

static void test_duration_and_wrapper(void **state) {
        Run r;
        /* connect_timeout=4 Duration{1, 500000000}; per_connection_buffer_limit_bytes=5 UInt32Value{7} */
        run(&r, "envoy.config.cluster.v3.Cluster", "name: c\nconnect_timeout: 1.5s\nper_connection_buffer_limit_bytes: 7\n");
        assert_int_equal(r.errors, 0);
        ASSERT_BYTES(&r, "\x0a\x01" "c" "\x22\x08\x08\x01\x10\x80\xca\xb5\xee\x01" "\x2a\x02\x08\x07");
        done(&r);
}

static void test_int64_as_string_and_big_plain_int(void **state) {
        Run r;
        /* envoy.type.v3.Int64Range: start=1 int64, end=2 int64 */
        run(&r, "envoy.type.v3.Int64Range", "start: \"-5\"\nend: 5000000000\n");
        assert_int_equal(r.errors, 0);
        ASSERT_BYTES(&r, "\x08\xfb\xff\xff\xff\xff\xff\xff\xff\xff\x01" "\x10\x80\xe4\x97\xd0\x12");
        done(&r);
}

static void test_any_with_type(void **state) {
        Run r;
        run(&r, "google.protobuf.Any",
            "\"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router\n");
        assert_int_equal(r.errors, 0);
        /* an empty payload is no value field at all, as libprotobuf writes it */
        ASSERT_BYTES(&r, "\x0a\x42" "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router");
        done(&r);
}

static void test_any_well_known_value(void **state) {
        Run r;
        run(&r, "google.protobuf.Any", "\"@type\": type.googleapis.com/google.protobuf.Duration\nvalue: 2s\n");
        assert_int_equal(r.errors, 0);
        ASSERT_BYTES(&r, "\x0a\x2c" "type.googleapis.com/google.protobuf.Duration" "\x12\x02\x08\x02");
        done(&r);
}

static void test_any_value_null(void **state) {
        Run r;
        /* a Value inside Any keeps its null: null_value (field 1) = 0 */
        run(&r, "google.protobuf.Any", "\"@type\": type.googleapis.com/google.protobuf.Value\nvalue: null\n");
        assert_int_equal(r.errors, 0);
        ASSERT_BYTES(&r, "\x0a\x29" "type.googleapis.com/google.protobuf.Value" "\x12\x02\x08\x00");
        done(&r);
}

static void test_struct_value_sorted(void **state) {
        Run r;
        /* Struct: fields map sorted by key; b=true, a=1 (number) */
        run(&r, "google.protobuf.Struct", "b: true\na: 1\n");
        assert_int_equal(r.errors, 0);
        ASSERT_BYTES(&r, "\x0a\x0e\x0a\x01" "a" "\x12\x09\x11\x00\x00\x00\x00\x00\x00\xf0\x3f"
                         "\x0a\x07\x0a\x01" "b" "\x12\x02\x20\x01");
        done(&r);
}

static void test_bytes_base64(void **state) {
        Run r;
        /* DataSource.inline_bytes = 2 */
        run(&r, "envoy.config.core.v3.DataSource", "inline_bytes: aGk=\n");
        assert_int_equal(r.errors, 0);
        ASSERT_BYTES(&r, "\x12\x02" "hi");
        done(&r);
}

static void test_legacy_single_value_for_list(void **state) {
        Run r;
        run(&r, "envoy.config.route.v3.VirtualHost", "name: v\ndomains: \"*\"\n");
        assert_int_equal(r.errors, 0);
        ASSERT_BYTES(&r, "\x0a\x01" "v" "\x12\x01" "*");
        assert_int_equal(r.diags.n_warnings, 1);
        assert_string_equal(diag_text(&r, 0), "t.yaml:2:10: warning: domains: a single value where a list is expected; "
                                              "write it as a one-element list (legacy form)");
        done(&r);
}

static void test_legacy_quoted_bool_and_object_duration(void **state) {
        Run r;
        run(&r, "envoy.config.cluster.v3.Cluster", "name: c\nrespect_dns_ttl: \"true\"\nconnect_timeout: {seconds: 2}\n");
        assert_int_equal(r.errors, 0);
        assert_int_equal(r.diags.n_warnings, 2);
        ASSERT_BYTES(&r, "\x0a\x01" "c" "\x22\x02\x08\x02" "\xb8\x02\x01");
        done(&r);
}

static void test_unknown_field_with_suggestion(void **state) {
        Run r;
        run(&r, "envoy.config.cluster.v3.Cluster", "name: c\nconect_timeout: 1s\n");
        assert_int_equal(r.errors, 1);
        assert_string_equal(diag_text(&r, 0), "t.yaml:2:1: error: conect_timeout: unknown field \"conect_timeout\" in "
                                              "envoy.config.cluster.v3.Cluster (did you mean \"connect_timeout\"?)");
        done(&r);
}

static void test_number_for_string_is_error(void **state) {
        Run r;
        run(&r, "envoy.config.cluster.v3.Cluster", "name: 12345\n");
        assert_int_equal(r.errors, 1);
        assert_string_equal(diag_text(&r, 0), "t.yaml:1:7: error: name: expected a string, got the integer 12345 "
                                              "(quote it to make it a string)");
        done(&r);
}

static void test_field_given_twice_in_both_styles(void **state) {
        Run r;
        run(&r, "envoy.config.cluster.v3.Cluster", "name: c\nconnect_timeout: 1s\nconnectTimeout: 2s\n");
        assert_int_equal(r.errors, 1);
        assert_non_null(strstr(diag_text(&r, 0), "t.yaml:3:1: error: connect_timeout: field given twice"));
        done(&r);
}

static void test_oneof_conflict(void **state) {
        Run r;
        run(&r, "envoy.config.route.v3.RouteMatch", "prefix: /\npath: /x\n");
        assert_int_equal(r.errors, 1);
        assert_non_null(strstr(diag_text(&r, 0), "only one of oneof \"path_specifier\""));
        done(&r);
}

static void test_nested_path_and_all_errors_reported(void **state) {
        Run r;
        run(&r, "envoy.config.endpoint.v3.ClusterLoadAssignment",
            "cluster_name: c\nendpoints:\n- lb_endpoints:\n  - endpoint:\n      address:\n        socket_address:\n"
            "          address: 1.2.3.4\n          port_value: 5000000000\n  - endpoint: {address: {socket_address: {address: x, port_value: -1}}}\n");
        assert_int_equal(r.errors, 2);
        assert_string_equal(diag_text(&r, 0), "t.yaml:8:23: error: endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value: "
                                              "5000000000 is out of range for uint32");
        assert_non_null(strstr(diag_text(&r, 1), "endpoints[0].lb_endpoints[1].endpoint.address.socket_address.port_value: -1 is out of range for uint32"));
        done(&r);
}

static void test_bad_duration_enum_and_type_url(void **state) {
        Run r;
        run(&r, "envoy.config.cluster.v3.Cluster", "connect_timeout: 5\nlb_policy: FASTEST\n"
                                                     "transport_socket: {name: t, typed_config: {\"@type\": type.googleapis.com/no.Such}}\n"
                                                     "name: c\n");
        assert_int_equal(r.errors, 3);
        assert_non_null(strstr(diag_text(&r, 0), "1:18: error: connect_timeout: expected a duration like \"1.5s\""));
        assert_non_null(strstr(diag_text(&r, 1), "2:12: error: lb_policy: unknown value \"FASTEST\" for enum envoy.config.cluster.v3.Cluster.LbPolicy"));
        assert_non_null(strstr(diag_text(&r, 2), "transport_socket.typed_config: \"@type\": unknown type type.googleapis.com/no.Such"));
        done(&r);
}

static void test_value_parsers(void **state) {
        int64_t s;
        int32_t ns;
        assert_int_equal(value_parse_duration("0.25s", &s, &ns), 0);
        assert_int_equal(s, 0);
        assert_int_equal(ns, 250000000);
        assert_int_equal(value_parse_duration("-1.000000001s", &s, &ns), 0);
        assert_int_equal(s, -1);
        assert_int_equal(ns, -1);
        assert_true(value_parse_duration("1.0000000001s", &s, &ns) < 0);
        assert_true(value_parse_duration("1m", &s, &ns) < 0);
        assert_true(value_parse_duration("315576000001s", &s, &ns) < 0);
        assert_int_equal(value_parse_timestamp("1970-01-02T00:00:01.5Z", &s, &ns), 0);
        assert_int_equal(s, 86401);
        assert_int_equal(ns, 500000000);
        assert_int_equal(value_parse_timestamp("2024-02-29T01:00:00+01:00", &s, &ns), 0);
        assert_int_equal(s, 1709164800);
        assert_true(value_parse_timestamp("2023-02-29T00:00:00Z", &s, &ns) < 0);
        Buf b = {};
        assert_int_equal(value_base64_decode("_-8", 3, &b), 0);
        assert_int_equal(b.len, 2);
        assert_int_equal(b.data[0], 0xff);
        buf_free(&b);
        assert_true(value_base64_decode("a$", 2, &b) < 0);
        buf_free(&b);
}

static int setup(void **state) {
        return schema_load_builtin(&schema);
}

static int teardown(void **state) {
        schema = schema_free(schema);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_socket_address_both_name_styles),
                cmocka_unit_test(test_fields_in_number_order_and_defaults_skipped),
                cmocka_unit_test(test_enum_by_name_and_number),
                cmocka_unit_test(test_duration_and_wrapper),
                cmocka_unit_test(test_int64_as_string_and_big_plain_int),
                cmocka_unit_test(test_any_with_type),
                cmocka_unit_test(test_any_well_known_value),
                cmocka_unit_test(test_any_value_null),
                cmocka_unit_test(test_struct_value_sorted),
                cmocka_unit_test(test_bytes_base64),
                cmocka_unit_test(test_legacy_single_value_for_list),
                cmocka_unit_test(test_legacy_quoted_bool_and_object_duration),
                cmocka_unit_test(test_unknown_field_with_suggestion),
                cmocka_unit_test(test_number_for_string_is_error),
                cmocka_unit_test(test_field_given_twice_in_both_styles),
                cmocka_unit_test(test_oneof_conflict),
                cmocka_unit_test(test_nested_path_and_all_errors_reported),
                cmocka_unit_test(test_bad_duration_enum_and_type_url),
                cmocka_unit_test(test_value_parsers),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
