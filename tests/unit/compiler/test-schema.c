/* SPDX-License-Identifier: MIT */
/* schema: indexing of a FileDescriptorSet, lookups, and refusal of sets
 * that do not decode or do not resolve. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "schema.h"
#include "wire.h"

static void test_builtin_lookups(void **state) {
        _cleanup_(schema_freep) Schema *s = NULL;
        assert_int_equal(schema_load_builtin(&s), 0);
        const SchemaMessage *c = schema_message(s, "envoy.config.cluster.v3.Cluster");
        assert_non_null(c);
        assert_ptr_equal(schema_message_by_type_url(s, "type.googleapis.com/envoy.config.cluster.v3.Cluster"), c);
        assert_ptr_equal(schema_message_by_type_url(s, "example.com/x/envoy.config.cluster.v3.Cluster"), c);
        assert_null(schema_message_by_type_url(s, "envoy.config.cluster.v3.Cluster"));
        const SchemaField *f = schema_field_by_name(c, "connect_timeout", strlen("connect_timeout"));
        assert_non_null(f);
        assert_ptr_equal(schema_field_by_name(c, "connectTimeout", strlen("connectTimeout")), f);
        assert_ptr_equal(schema_field_by_number(c, 4), f);
        assert_string_equal(f->json_name, "connectTimeout");
        assert_int_equal(f->type, SCHEMA_TYPE_MESSAGE);
        assert_int_equal(f->message->well_known, SCHEMA_WK_DURATION);
        assert_true(f->explicit_presence);
        /* fields sorted by number */
        for (size_t i = 1; i < c->n_fields; i++)
                assert_true(c->fields[i - 1].number < c->fields[i].number);
        /* oneof membership */
        const SchemaField *type = schema_field_by_name(c, "type", 4);
        assert_true(type->oneof_index >= 0);
        assert_string_equal(c->oneof_names[type->oneof_index], "cluster_discovery_type");
        /* enums */
        int32_t v;
        assert_true(schema_enum_value_by_name(type->enumeration, "EDS", 3, &v));
        assert_int_equal(v, 3);
        assert_string_equal(schema_enum_name(type->enumeration, 1), "STRICT_DNS");
        assert_false(type->enumeration->closed);
        /* map fields */
        const SchemaMessage *md = schema_message(s, "envoy.config.core.v3.Metadata");
        const SchemaField *fm = schema_field_by_name(md, "filter_metadata", 15);
        assert_true(fm->repeated);
        assert_true(fm->message->map_entry);
        assert_int_equal(fm->message->fields[1].message->well_known, SCHEMA_WK_STRUCT);
        /* packed proto3 repeated scalars */
        const SchemaMessage *rp = schema_message(s, "envoy.config.route.v3.RetryPolicy");
        const SchemaField *codes = schema_field_by_name(rp, "retriable_status_codes", 22);
        assert_true(codes->packed);
        assert_int_equal(strlen(schema_fingerprint(s)), 64);
        assert_true(schema_n_messages(s) > 200);
}

static void test_refuses_garbage(void **state) {
        Schema *s = NULL;
        char *error = NULL;
        static const uint8_t garbage[] = { 0x0a, 0xff, 0xff, 0x01 };
        assert_int_equal(schema_load_bytes(garbage, sizeof garbage, &error, &s), -EBADMSG);
        assert_null(s);
        assert_non_null(strstr(error, "FileDescriptorSet"));
        free(error);
        assert_int_equal(schema_load_file("/nonexistent/x.desc", &error, &s), -ENOENT);
        free(error);
}

/* envoy_version: 1.MINOR[.PATCH][-suffix], three digits at most a number;
 * the built-in schema targets the release it records. */
static void test_envoy_version(void **state) {
        static const struct {
                const char *text;
                int r;
                uint32_t v;
        } cases[] = {
                { "1.22", 0, ENVOY_VERSION(22, 0) },      { "1.22.3", 0, ENVOY_VERSION(22, 3) },
                { "1.32.0-dev", 0, ENVOY_VERSION(32, 0) }, { "1.999.999", 0, ENVOY_VERSION(999, 999) },
                { "1.4294967297", -EINVAL, 0 },           { "1.1000", -EINVAL, 0 },
                { "2.0", -EINVAL, 0 },                    { "1.", -EINVAL, 0 },
                { "1.22.", -EINVAL, 0 },                  { "1.22.0-", -EINVAL, 0 },
                { "", -EINVAL, 0 },                       { " 1.22", -EINVAL, 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint32_t v = 0;
                assert_int_equal(envoy_version_parse(cases[i].text, &v), cases[i].r);
                assert_int_equal(v, cases[i].v);
        }
        Schema *s = NULL;
        assert_int_equal(schema_load_builtin(&s), 0);
        _cleanup_free_ char *release = schema_provenance(s, "envoy_release");
        uint32_t want;
        assert_non_null(release);
        assert_int_equal(envoy_version_parse(release, &want), 0);
        assert_int_equal(schema_envoy_version(s), want);
        assert_string_equal(schema_origin(s), "built-in");
        schema_free(s);
        /* an empty set is refused: a truncated write */
        _cleanup_free_ char *error = NULL;
        assert_int_equal(schema_load_bytes((const uint8_t *) "", 0, &error, &s), -EBADMSG);
        assert_non_null(strstr(error, "empty descriptor set"));
}

static void test_refuses_unresolved_type(void **state) {
        /* FileDescriptorSet { file { name "a.proto" package "p" syntax "proto3"
         *   message_type { name "M" field { name "x" number 1 label OPTIONAL type MESSAGE type_name ".p.Missing" } } } } */
        Buf field = {}, msg = {}, file = {}, set = {};
        wire_put_bytes(&field, 1, "x", 1);
        wire_put_tag(&field, 3, WIRE_VARINT);
        wire_put_varint(&field, 1);
        wire_put_tag(&field, 4, WIRE_VARINT);
        wire_put_varint(&field, 1);
        wire_put_tag(&field, 5, WIRE_VARINT);
        wire_put_varint(&field, 11);
        wire_put_bytes(&field, 6, ".p.Missing", 10);
        wire_put_bytes(&msg, 1, "M", 1);
        wire_put_bytes(&msg, 2, field.data, field.len);
        wire_put_bytes(&file, 1, "a.proto", 7);
        wire_put_bytes(&file, 2, "p", 1);
        wire_put_bytes(&file, 4, msg.data, msg.len);
        wire_put_bytes(&file, 12, "proto3", 6);
        wire_put_bytes(&set, 1, file.data, file.len);
        Schema *s = NULL;
        char *error = NULL;
        assert_int_equal(schema_load_bytes(set.data, set.len, &error, &s), -EINVAL);
        assert_string_equal(error, "p.M.x: unknown message type p.Missing");
        free(error);
        buf_free(&field);
        buf_free(&msg);
        buf_free(&file);
        buf_free(&set);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_builtin_lookups),
                cmocka_unit_test(test_refuses_garbage),
                cmocka_unit_test(test_refuses_unresolved_type),
                cmocka_unit_test(test_envoy_version),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
