/* SPDX-License-Identifier: MIT */
/* decode: wire bytes built by hand → the exact YAML and JSON text, which
 * the encoder turns back into the same bytes; protobuf's merge rules; and
 * malformed input as -EBADMSG with offset and field path, never a crash. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "decode.h"
#include "encode.h"
#include "wire.h"

static Schema *schema;

static const SchemaMessage *type(const char *name) {
        const SchemaMessage *m = schema_message(schema, name);
        assert_non_null(m);
        return m;
}

static void put_str(Buf *b, uint32_t number, const char *s) {
        wire_put_bytes(b, number, s, strlen(s));
}

static void put_varint(Buf *b, uint32_t number, uint64_t v) {
        wire_put_tag(b, number, WIRE_VARINT);
        wire_put_varint(b, v);
}

static void put_double(Buf *b, uint32_t number, double v) {
        uint64_t bits;
        memcpy(&bits, &v, sizeof bits);
        wire_put_tag(b, number, WIRE_I64);
        wire_put_fixed64(b, bits);
}

/* google.protobuf.Any body: type URL, then the value from body. */
static void put_any(Buf *b, uint32_t number, const char *type_name, const Buf *body) {
        size_t mark = wire_begin_len(b, number);
        char *url = xasprintf("type.googleapis.com/%s", type_name);
        put_str(b, 1, url);
        free(url);
        if (body->len > 0) /* proto3: an empty payload is no field */
                wire_put_bytes(b, 2, body->data, body->len);
        wire_end_len(b, mark);
}

static char *decode(const char *type_name, const Buf *in, DecodeFormat fmt) {
        Buf out = {};
        char *error = NULL;
        int r = decode_message(schema, type(type_name), in->data, in->len, fmt, &out, &error);
        if (r < 0)
                fail_msg("decode failed: %s", error);
        assert_null(error);
        return buf_steal_str(&out);
}

typedef struct Encoded {
        const char *type;
        Buf out;
        DiagList diags;
        size_t errors;
} Encoded;

static int on_doc(void *userdata, YamlArena *arena, YamlNode *root, size_t doc) {
        Encoded *e = userdata;
        Encoder enc;
        encoder_init(&enc, schema, "decoded", &e->diags);
        enc.no_validate = 1; /* round trips of bytes: Envoy's field rules are test-validate's */
        e->errors = encode_message(&enc, type(e->type), root, &e->out);
        encoder_done(&enc);
        return 0;
}

/* The encoder reads text back to exactly the bytes it came from. */
static void assert_round_trip(const char *type_name, const char *text, const Buf *expected) {
        static const YamlCallbacks cb = { .document = on_doc };
        Encoded e = { .type = type_name };
        assert_int_equal(yaml_parse("decoded", text, strlen(text), NULL, &e.diags, &cb, &e), 0);
        assert_int_equal(e.errors, 0);
        assert_int_equal(e.diags.n, 0);
        assert_int_equal(e.out.len, expected->len);
        if (expected->len > 0)
                assert_memory_equal(e.out.data, expected->data, expected->len);
        buf_free(&e.out);
        diag_list_clear(&e.diags);
}

/* Decodes in as both formats, compares the text, and, for bytes in the
 * encoder's canonical form, encodes both texts back. */
static void check(const char *type_name, const Buf *in, const char *yaml, const char *json, bool canonical) {
        char *y = decode(type_name, in, DECODE_FORMAT_YAML);
        char *j = decode(type_name, in, DECODE_FORMAT_JSON);
        assert_string_equal(y, yaml);
        assert_string_equal(j, json);
        if (canonical) {
                assert_round_trip(type_name, y, in);
                assert_round_trip(type_name, j, in);
        }
        free(y);
        free(j);
}

static void check_error(const char *type_name, const Buf *in, const char *expected) {
        Buf out = {};
        buf_append(&out, "kept", 4);
        char *error = NULL;
        assert_int_equal(decode_message(schema, type(type_name), in->data, in->len, DECODE_FORMAT_YAML, &out, &error),
                         -EBADMSG);
        assert_non_null(error);
        assert_string_equal(error, expected);
        /* out is left as it was */
        assert_int_equal(out.len, 4);
        free(error);
        buf_free(&out);
}

/* ---- text ---- */

static void test_cluster(void **state) {
        Buf b = {}, s = {};
        put_str(&b, 1, "web");
        size_t mark = wire_begin_len(&b, 4); /* connect_timeout: 1.5s */
        put_varint(&b, 1, 1);
        put_varint(&b, 2, 500000000);
        wire_end_len(&b, mark);
        put_varint(&b, 6, 1); /* lb_policy: LEAST_REQUEST */
        mark = wire_begin_len(&b, 23); /* ring_hash_lb_config */
        size_t m2 = wire_begin_len(&b, 1); /* minimum_ring_size: UInt64Value */
        put_varint(&b, 1, 5000000000);
        wire_end_len(&b, m2);
        wire_end_len(&b, mark);
        /* Struct {canary: true, weight: 1.5} */
        mark = wire_begin_len(&s, 1);
        put_str(&s, 1, "canary");
        m2 = wire_begin_len(&s, 2);
        put_varint(&s, 4, 1);
        wire_end_len(&s, m2);
        wire_end_len(&s, mark);
        mark = wire_begin_len(&s, 1);
        put_str(&s, 1, "weight");
        m2 = wire_begin_len(&s, 2);
        put_double(&s, 2, 1.5);
        wire_end_len(&s, m2);
        wire_end_len(&s, mark);
        mark = wire_begin_len(&b, 25); /* metadata.filter_metadata["envoy.lb"] */
        m2 = wire_begin_len(&b, 1);
        put_str(&b, 1, "envoy.lb");
        wire_put_bytes(&b, 2, s.data, s.len);
        wire_end_len(&b, m2);
        wire_end_len(&b, mark);
        mark = wire_begin_len(&b, 43); /* transport_socket_matches */
        put_str(&b, 1, "tls");
        wire_end_len(&b, mark);
        mark = wire_begin_len(&b, 43);
        put_str(&b, 1, "plain");
        wire_end_len(&b, mark);
        check("envoy.config.cluster.v3.Cluster", &b,
              "name: \"web\"\n"
              "connect_timeout: \"1.500s\"\n"
              "lb_policy: \"LEAST_REQUEST\"\n"
              "ring_hash_lb_config:\n"
              "  minimum_ring_size: \"5000000000\"\n"
              "metadata:\n"
              "  filter_metadata:\n"
              "    \"envoy.lb\":\n"
              "      \"canary\": true\n"
              "      \"weight\": 1.5\n"
              "transport_socket_matches:\n"
              "  - name: \"tls\"\n"
              "  - name: \"plain\"\n",
              "{\n"
              "  \"name\": \"web\",\n"
              "  \"connect_timeout\": \"1.500s\",\n"
              "  \"lb_policy\": \"LEAST_REQUEST\",\n"
              "  \"ring_hash_lb_config\": {\n"
              "    \"minimum_ring_size\": \"5000000000\"\n"
              "  },\n"
              "  \"metadata\": {\n"
              "    \"filter_metadata\": {\n"
              "      \"envoy.lb\": {\n"
              "        \"canary\": true,\n"
              "        \"weight\": 1.5\n"
              "      }\n"
              "    }\n"
              "  },\n"
              "  \"transport_socket_matches\": [\n"
              "    {\n"
              "      \"name\": \"tls\"\n"
              "    },\n"
              "    {\n"
              "      \"name\": \"plain\"\n"
              "    }\n"
              "  ]\n"
              "}\n",
              true);
        buf_free(&b);
        buf_free(&s);
}

static void test_discovery_response(void **state) {
        Buf b = {}, c1 = {}, c2 = {};
        put_str(&c1, 1, "a");
        size_t mark = wire_begin_len(&c1, 4); /* connect_timeout: 0.000001s */
        put_varint(&c1, 2, 1000);
        wire_end_len(&c1, mark);
        put_str(&c2, 1, "b");
        put_varint(&c2, 2, 3); /* type: EDS */
        put_str(&b, 1, "7");
        put_any(&b, 2, "envoy.config.cluster.v3.Cluster", &c1);
        put_any(&b, 2, "envoy.config.cluster.v3.Cluster", &c2);
        put_str(&b, 4, "type.googleapis.com/envoy.config.cluster.v3.Cluster");
        put_str(&b, 5, "n1");
        check("envoy.service.discovery.v3.DiscoveryResponse", &b,
              "version_info: \"7\"\n"
              "resources:\n"
              "  - \"@type\": \"type.googleapis.com/envoy.config.cluster.v3.Cluster\"\n"
              "    name: \"a\"\n"
              "    connect_timeout: \"0.000001s\"\n"
              "  - \"@type\": \"type.googleapis.com/envoy.config.cluster.v3.Cluster\"\n"
              "    name: \"b\"\n"
              "    type: \"EDS\"\n"
              "type_url: \"type.googleapis.com/envoy.config.cluster.v3.Cluster\"\n"
              "nonce: \"n1\"\n",
              "{\n"
              "  \"version_info\": \"7\",\n"
              "  \"resources\": [\n"
              "    {\n"
              "      \"@type\": \"type.googleapis.com/envoy.config.cluster.v3.Cluster\",\n"
              "      \"name\": \"a\",\n"
              "      \"connect_timeout\": \"0.000001s\"\n"
              "    },\n"
              "    {\n"
              "      \"@type\": \"type.googleapis.com/envoy.config.cluster.v3.Cluster\",\n"
              "      \"name\": \"b\",\n"
              "      \"type\": \"EDS\"\n"
              "    }\n"
              "  ],\n"
              "  \"type_url\": \"type.googleapis.com/envoy.config.cluster.v3.Cluster\",\n"
              "  \"nonce\": \"n1\"\n"
              "}\n",
              true);
        buf_free(&b);
        buf_free(&c1);
        buf_free(&c2);
}

static void test_empty_collections(void **state) {
        Buf b = {}, empty = {};
        check("envoy.service.discovery.v3.DiscoveryResponse", &b, "{}\n", "{}\n", true);
        put_any(&b, 2, "envoy.config.cluster.v3.Cluster", &empty);
        wire_put_bytes(&b, 6, NULL, 0); /* control_plane: {} */
        check("envoy.service.discovery.v3.DiscoveryResponse", &b,
              "resources:\n"
              "  - \"@type\": \"type.googleapis.com/envoy.config.cluster.v3.Cluster\"\n"
              "control_plane: {}\n",
              "{\n"
              "  \"resources\": [\n"
              "    {\n"
              "      \"@type\": \"type.googleapis.com/envoy.config.cluster.v3.Cluster\"\n"
              "    }\n"
              "  ],\n"
              "  \"control_plane\": {}\n"
              "}\n",
              true);
        buf_free(&b);
}

static void test_scalars_strings_bytes(void **state) {
        Buf b = {};
        /* a string that reads as a number, with escapes and UTF-8 */
        put_str(&b, 1, "12345 \"q\"\\\t\n\x01 \xc3\xa9 \xe2\x80\xa8");
        put_varint(&b, 2, (uint64_t) -1); /* level: int64 */
        wire_put_bytes(&b, 5, "hi\xff", 3); /* buf_value */
        put_varint(&b, 6, 1); /* state: STATE_BOUND */
        check("envoy.config.core.v3.SocketOption", &b,
              "description: \"12345 \\\"q\\\"\\\\\\t\\n\\u0001 \xc3\xa9 \\u2028\"\n"
              "level: \"-1\"\n"
              "buf_value: \"aGn/\"\n"
              "state: \"STATE_BOUND\"\n",
              "{\n"
              "  \"description\": \"12345 \\\"q\\\"\\\\\\t\\n\\u0001 \xc3\xa9 \\u2028\",\n"
              "  \"level\": \"-1\",\n"
              "  \"buf_value\": \"aGn/\",\n"
              "  \"state\": \"STATE_BOUND\"\n"
              "}\n",
              true);
        buf_free(&b);
        /* an enum number the schema does not name */
        put_varint(&b, 6, 9);
        check("envoy.config.core.v3.SocketOption", &b, "state: 9\n", "{\n  \"state\": 9\n}\n", true);
        buf_free(&b);
}

static void test_repeated_packed_and_unpacked(void **state) {
        Buf b = {};
        size_t mark = wire_begin_len(&b, 7); /* retriable_status_codes, packed */
        wire_put_varint(&b, 503);
        wire_put_varint(&b, 504);
        wire_end_len(&b, mark);
        put_varint(&b, 7, 429); /* and one unpacked */
        check("envoy.config.route.v3.RetryPolicy", &b,
              "retriable_status_codes:\n"
              "  - 503\n"
              "  - 504\n"
              "  - 429\n",
              "{\n"
              "  \"retriable_status_codes\": [\n"
              "    503,\n"
              "    504,\n"
              "    429\n"
              "  ]\n"
              "}\n",
              false);
        buf_free(&b);
}

static void put_struct_entry(Buf *b, const char *key, const Buf *value) {
        size_t mark = wire_begin_len(b, 1);
        put_str(b, 1, key);
        wire_put_bytes(b, 2, value->data, value->len);
        wire_end_len(b, mark);
}

static void test_struct_value_kinds(void **state) {
        Buf b = {}, v = {}, list = {};
        put_varint(&v, 1, 0); /* null */
        put_struct_entry(&b, "a", &v);
        v.len = 0;
        put_double(&v, 2, 3e9); /* beyond int32: stays a number */
        put_struct_entry(&b, "b", &v);
        v.len = 0;
        put_double(&v, 2, 0.1);
        put_struct_entry(&b, "c", &v);
        v.len = 0;
        size_t mark = wire_begin_len(&list, 1);
        put_varint(&list, 4, 0); /* false */
        wire_end_len(&list, mark);
        mark = wire_begin_len(&list, 1);
        put_str(&list, 3, "yes");
        wire_end_len(&list, mark);
        mark = wire_begin_len(&list, 1);
        wire_put_bytes(&list, 6, NULL, 0); /* [] */
        wire_end_len(&list, mark);
        wire_put_bytes(&v, 6, list.data, list.len);
        put_struct_entry(&b, "d", &v);
        v.len = 0;
        wire_put_bytes(&v, 5, NULL, 0); /* {} */
        put_struct_entry(&b, "e", &v);
        check("google.protobuf.Struct", &b,
              "\"a\": null\n"
              "\"b\": 3000000000.0\n"
              "\"c\": 0.1\n"
              "\"d\":\n"
              "  - false\n"
              "  - \"yes\"\n"
              "  - []\n"
              "\"e\": {}\n",
              "{\n"
              "  \"a\": null,\n"
              "  \"b\": 3000000000.0,\n"
              "  \"c\": 0.1,\n"
              "  \"d\": [\n"
              "    false,\n"
              "    \"yes\",\n"
              "    []\n"
              "  ],\n"
              "  \"e\": {}\n"
              "}\n",
              true);
        buf_free(&b);
        buf_free(&v);
        buf_free(&list);
}

static void test_any_well_known_and_wrappers(void **state) {
        Buf b = {}, v = {};
        /* an Any as the root */
        put_str(&b, 1, "type.googleapis.com/google.protobuf.UInt64Value");
        put_varint(&v, 1, 7);
        wire_put_bytes(&b, 2, v.data, v.len);
        check("google.protobuf.Any", &b,
              "\"@type\": \"type.googleapis.com/google.protobuf.UInt64Value\"\n"
              "value: \"7\"\n",
              "{\n"
              "  \"@type\": \"type.googleapis.com/google.protobuf.UInt64Value\",\n"
              "  \"value\": \"7\"\n"
              "}\n",
              true);
        b.len = 0;
        /* an empty Duration (no value field: proto3 writes no empty bytes)
         * is still its JSON form */
        put_str(&b, 1, "type.googleapis.com/google.protobuf.Duration");
        check("google.protobuf.Any", &b,
              "\"@type\": \"type.googleapis.com/google.protobuf.Duration\"\n"
              "value: \"0s\"\n",
              "{\n"
              "  \"@type\": \"type.googleapis.com/google.protobuf.Duration\",\n"
              "  \"value\": \"0s\"\n"
              "}\n",
              true);
        b.len = 0;
        /* a negative Duration; float and double wrappers at the root */
        put_varint(&b, 1, (uint64_t) -2);
        put_varint(&b, 2, (uint64_t) -250000000);
        check("google.protobuf.Duration", &b, "\"-2.250s\"\n", "\"-2.250s\"\n", true);
        b.len = 0;
        wire_put_tag(&b, 1, WIRE_I32);
        float f = 0.1f;
        uint32_t bits;
        memcpy(&bits, &f, sizeof bits);
        wire_put_fixed32(&b, bits);
        check("google.protobuf.FloatValue", &b, "0.1\n", "0.1\n", true);
        b.len = 0;
        put_double(&b, 1, -0.0); /* "-0" would read back as the integer 0 */
        check("google.protobuf.DoubleValue", &b, "-0.0\n", "-0.0\n", true);
        b.len = 0;
        put_double(&b, 1, NAN);
        check("google.protobuf.DoubleValue", &b, "\"NaN\"\n", "\"NaN\"\n", false);
        buf_free(&b);
        buf_free(&v);
}

static void test_merge_rules(void **state) {
        Buf b = {};
        /* fields out of order, a scalar given twice, two oneof members,
         * and a singular message given twice (merged) */
        put_varint(&b, 6, 2);
        put_str(&b, 1, "first");
        put_varint(&b, 2, 3); /* type: EDS (oneof cluster_discovery_type) */
        wire_put_bytes(&b, 38, "\x0a\x01x", 3); /* cluster_type {name: x}: wins */
        size_t mark = wire_begin_len(&b, 4);
        put_varint(&b, 1, 5);
        wire_end_len(&b, mark);
        put_str(&b, 1, "last");
        mark = wire_begin_len(&b, 4);
        put_varint(&b, 2, 1000000);
        wire_end_len(&b, mark);
        char *y = decode("envoy.config.cluster.v3.Cluster", &b, DECODE_FORMAT_YAML);
        assert_string_equal(y,
                            "name: \"last\"\n"
                            "connect_timeout: \"5.001s\"\n"
                            "lb_policy: \"RING_HASH\"\n"
                            "cluster_type:\n"
                            "  name: \"x\"\n");
        free(y);
        buf_free(&b);
}

/* ---- errors ---- */

static void test_malformed(void **state) {
        Buf b = {};
        buf_append(&b, "\x0a\x01" "a" "\x30\x80", 5); /* lb_policy: varint cut short */
        check_error("envoy.config.cluster.v3.Cluster", &b, "byte 3: field 6: truncated varint");
        b.len = 0;
        buf_append(&b, "\x0a\x05" "ab", 4);
        check_error("envoy.config.cluster.v3.Cluster", &b, "byte 0: field 1: length 5 goes past the end (2 bytes left)");
        b.len = 0;
        buf_append(&b, "\x08\x01", 2); /* name as a varint */
        check_error("envoy.config.cluster.v3.Cluster", &b,
                    "byte 0: field name (1) of envoy.config.cluster.v3.Cluster: wire type varint, expected length-delimited");
        b.len = 0;
        buf_append(&b, "\x0b", 1);
        check_error("envoy.config.cluster.v3.Cluster", &b, "byte 0: field 1: unsupported wire type 3 (group start)");
        b.len = 0;
        buf_append(&b, "\x0a\x02\xc3\x28", 4);
        check_error("envoy.config.cluster.v3.Cluster", &b, "byte 0 in name: invalid UTF-8 in string field name");
        buf_free(&b);
}

static void test_unknown_field_and_type_url(void **state) {
        Buf b = {}, c = {};
        put_str(&c, 1, "a");
        put_varint(&c, 999, 1);
        put_any(&b, 2, "envoy.config.cluster.v3.Cluster", &c);
        /* resources tag and length, URL tag, length and 51 bytes, value tag and
         * length, name: the unknown field is at 2 + 53 + 2 + 3 */
        check_error("envoy.service.discovery.v3.DiscoveryResponse", &b,
                    "byte 60 in resources[0]: unknown field number 999 in envoy.config.cluster.v3.Cluster");
        b.len = 0;
        c.len = 0;
        put_any(&b, 2, "example.Nope", &c);
        check_error("envoy.service.discovery.v3.DiscoveryResponse", &b,
                    "byte 2 in resources[0]: google.protobuf.Any: unknown type URL "
                    "\"type.googleapis.com/example.Nope\" (not in the schema)");
        buf_free(&b);
        buf_free(&c);
}

static void test_depth_limit(void **state) {
        /* Value { list_value { values: Value { list_value { ... } } } } */
        Buf b = {};
        for (int i = 0; i < 200; i++) {
                Buf outer = {};
                size_t mark = wire_begin_len(&outer, 6);
                size_t m2 = wire_begin_len(&outer, 1);
                buf_append(&outer, b.data, b.len);
                wire_end_len(&outer, m2);
                wire_end_len(&outer, mark);
                buf_free(&b);
                b = outer;
        }
        Buf out = {};
        char *error = NULL;
        assert_int_equal(decode_message(schema, type("google.protobuf.Value"), b.data, b.len, DECODE_FORMAT_JSON,
                                        &out, &error), -EBADMSG);
        assert_non_null(strstr(error, "messages nested deeper than 100"));
        assert_int_equal(out.len, 0);
        free(error);
        buf_free(&out);
        buf_free(&b);
}

/* Every prefix and every single-byte corruption of a valid message decodes
 * or fails cleanly (run under ASan to see a stray read). */
static void test_truncations_and_corruptions(void **state) {
        Buf b = {}, c = {};
        put_str(&c, 1, "a");
        size_t mark = wire_begin_len(&c, 4);
        put_varint(&c, 1, 3);
        wire_end_len(&c, mark);
        put_varint(&c, 6, 1);
        put_str(&b, 1, "1");
        put_any(&b, 2, "envoy.config.cluster.v3.Cluster", &c);
        put_str(&b, 5, "n");
        const SchemaMessage *m = type("envoy.service.discovery.v3.DiscoveryResponse");
        for (int fmt = 0; fmt < _DECODE_FORMAT_MAX; fmt++)
                for (size_t len = 0; len <= b.len; len++)
                        for (size_t i = 0; i <= len; i++)
                                for (unsigned x = 0; x < (i < len ? 4u : 1u); x++) {
                                        static const uint8_t flips[] = { 0xff, 0x80, 0x01, 0x7f };
                                        uint8_t *copy = xmalloc(len);
                                        memcpy(copy, b.data, len);
                                        if (i < len)
                                                copy[i] ^= flips[x];
                                        Buf out = {};
                                        char *error = NULL;
                                        int r = decode_message(schema, m, copy, len, (DecodeFormat) fmt, &out, &error);
                                        assert_true(r == 0 || (r == -EBADMSG && error && out.len == 0));
                                        free(error);
                                        buf_free(&out);
                                        free(copy);
                                }
        buf_free(&b);
        buf_free(&c);
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
                cmocka_unit_test(test_cluster),
                cmocka_unit_test(test_discovery_response),
                cmocka_unit_test(test_empty_collections),
                cmocka_unit_test(test_scalars_strings_bytes),
                cmocka_unit_test(test_repeated_packed_and_unpacked),
                cmocka_unit_test(test_struct_value_kinds),
                cmocka_unit_test(test_any_well_known_and_wrappers),
                cmocka_unit_test(test_merge_rules),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_unknown_field_and_type_url),
                cmocka_unit_test(test_depth_limit),
                cmocka_unit_test(test_truncations_and_corruptions),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
