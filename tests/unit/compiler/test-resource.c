/* SPDX-License-Identifier: MIT */
/* resource: the xDS type table, the version_info fingerprint, the
 * DiscoveryResponse bytes a node file holds, and response_walk reading
 * them back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "resource.h"
#include "sha256.h"

static void test_type_table(void **state) {
        assert_string_equal(resource_type_to_message(RESOURCE_CLUSTER), "envoy.config.cluster.v3.Cluster");
        assert_string_equal(resource_type_to_url(RESOURCE_LISTENER), "type.googleapis.com/envoy.config.listener.v3.Listener");
        assert_string_equal(resource_type_to_url(RESOURCE_SECRET),
                            "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret");
        assert_string_equal(resource_type_to_string(RESOURCE_CLUSTER_LOAD_ASSIGNMENT), "ClusterLoadAssignment");
        assert_string_equal(resource_type_name_field(RESOURCE_CLUSTER_LOAD_ASSIGNMENT), "cluster_name");
        assert_string_equal(resource_type_name_field(RESOURCE_ROUTE_CONFIGURATION), "name");
        for (ResourceType t = 0; t < _RESOURCE_TYPE_MAX; t++)
                assert_int_equal(resource_type_from_message(resource_type_to_message(t)), t);
        assert_int_equal(resource_type_from_message("envoy.config.core.v3.Address"), _RESOURCE_TYPE_INVALID);
        assert_null(resource_type_to_message(_RESOURCE_TYPE_MAX));
        assert_null(resource_type_to_url(_RESOURCE_TYPE_INVALID));
        assert_null(resource_type_to_string(_RESOURCE_TYPE_MAX));
        assert_null(resource_type_name_field(_RESOURCE_TYPE_MAX));
}

/* An Any {type_url, value: {1: name}} as the compiler makes it. */
static Resource make(ResourceType t, const char *name) {
        Buf value = {}, any = {};
        buf_putc(&value, 0x0a);
        buf_putc(&value, (uint8_t) strlen(name));
        buf_append(&value, name, strlen(name));
        const char *url = resource_type_to_url(t);
        buf_putc(&any, 0x0a);
        buf_putc(&any, (uint8_t) strlen(url));
        buf_append(&any, url, strlen(url));
        buf_putc(&any, 0x12);
        buf_putc(&any, (uint8_t) value.len);
        buf_append(&any, value.data, value.len);
        buf_free(&value);
        return (Resource) { .type = t, .name = xstrdup(name), .any = any.data, .any_len = any.len };
}

static void test_version_is_sha256_prefix(void **state) {
        /* sha256 over the Any bytes in order: "a" then "bc" hashes as "abc" */
        Resource a = { .any = (uint8_t *) "a", .any_len = 1 }, bc = { .any = (uint8_t *) "bc", .any_len = 2 };
        Resource *items[] = { &a, &bc };
        char v[17];
        resources_version(items, 2, v);
        assert_string_equal(v, "ba7816bf8f01cfea");
        resources_version(NULL, 0, v);
        assert_string_equal(v, "e3b0c44298fc1c14");
        /* order matters */
        Resource *reversed[] = { &bc, &a };
        resources_version(reversed, 2, v);
        assert_string_not_equal(v, "ba7816bf8f01cfea");
}

static void test_response_bytes(void **state) {
        Resource a = { .any = (uint8_t *) "AB", .any_len = 2 };
        Resource *items[] = { &a };
        Buf out = {};
        resources_response(items, 1, "v1", "t/u", &out);
        static const uint8_t expected[] = { 0x0a, 2, 'v', '1', 0x12, 2, 'A', 'B', 0x22, 3, 't', '/', 'u' };
        assert_int_equal(out.len, sizeof expected);
        assert_memory_equal(out.data, expected, sizeof expected);
        buf_free(&out);

        /* no version, no type_url: only the resources */
        resources_response(items, 1, "", NULL, &out);
        assert_int_equal(out.len, 4);
        assert_memory_equal(out.data, expected + 4, 4);
        buf_free(&out);
}

typedef struct Names {
        char *names[8];
        size_t n;
} Names;

static void on_name(void *userdata, const char *name, size_t len) {
        Names *n = userdata;
        n->names[n->n++] = xstrndup(name, len);
}

static void test_response_walk_round_trip(void **state) {
        Resource r[3] = { make(RESOURCE_CLUSTER, "web"), make(RESOURCE_CLUSTER, "api"), make(RESOURCE_CLUSTER, "db/1") };
        Resource *items[] = { &r[0], &r[1], &r[2] };
        char version[17];
        resources_version(items, 3, version);
        Buf out = {};
        resources_response(items, 3, version, resource_type_to_url(RESOURCE_CLUSTER), &out);

        ResponseInfo info;
        Names names = {};
        assert_int_equal(response_walk(out.data, out.len, &info, on_name, &names), 3);
        assert_int_equal(info.version_info_len, 16);
        assert_memory_equal(info.version_info, version, 16);
        assert_int_equal(info.type_url_len, strlen("type.googleapis.com/envoy.config.cluster.v3.Cluster"));
        assert_memory_equal(info.type_url, "type.googleapis.com/envoy.config.cluster.v3.Cluster", info.type_url_len);
        assert_int_equal(names.n, 3);
        assert_string_equal(names.names[0], "web");
        assert_string_equal(names.names[1], "api");
        assert_string_equal(names.names[2], "db/1");
        for (size_t i = 0; i < names.n; i++)
                free(names.names[i]);

        /* no callback, no info: still the count */
        assert_int_equal(response_walk(out.data, out.len, NULL, NULL, NULL), 3);
        buf_free(&out);
        for (size_t i = 0; i < 3; i++)
                resource_done(&r[i]);
}

static void test_response_walk_empty_and_garbage(void **state) {
        ResponseInfo info = { .version_info = "x" };
        assert_int_equal(response_walk(NULL, 0, &info, NULL, NULL), 0);
        assert_null(info.version_info);
        assert_null(info.type_url);
        static const uint8_t garbage[] = { 0x12, 0x7f, 0x01 }; /* a length past the end */
        assert_int_equal(response_walk(garbage, sizeof garbage, &info, NULL, NULL), 0);
}

static void test_own_file(void **state) {
        Resource r = make(RESOURCE_CLUSTER_LOAD_ASSIGNMENT, "web");
        Buf any = {};
        buf_append(&any, r.any, r.any_len);
        resource_make_own_file(&r);
        assert_non_null(r.own_file);
        /* a one-resource DiscoveryResponse of its version */
        Resource copy = { .any = any.data, .any_len = any.len };
        Resource *items[] = { &copy };
        char version[17];
        resources_version(items, 1, version);
        assert_string_equal(r.own_file->version, version);
        Buf expected = {};
        resources_response(items, 1, version, resource_type_to_url(RESOURCE_CLUSTER_LOAD_ASSIGNMENT), &expected);
        assert_int_equal(r.own_file->len, expected.len);
        assert_memory_equal(r.own_file->data, expected.data, expected.len);
        char sha[65];
        sha256_hex(expected.data, expected.len, sha);
        assert_string_equal(r.own_file->sha256, sha);
        /* the Any is held once, inside the file */
        assert_true(r.any_in_own_file);
        assert_true(r.any >= r.own_file->data && r.any + r.any_len <= r.own_file->data + r.own_file->len);
        assert_memory_equal(r.any, any.data, any.len);
        /* a second call changes nothing */
        ResourceFile *f = r.own_file;
        resource_make_own_file(&r);
        assert_ptr_equal(r.own_file, f);
        buf_free(&expected);
        buf_free(&any);
        resource_done(&r);
        assert_null(r.own_file);
        assert_null(r.name);
}

static void test_list(void **state) {
        ResourceList l = {};
        for (int i = 0; i < 40; i++) {
                char name[16];
                snprintf(name, sizeof name, "c%d", i);
                resource_list_add(&l, make(RESOURCE_CLUSTER, name));
        }
        assert_int_equal(l.n, 40);
        assert_int_equal(l.cap, 64);
        assert_string_equal(l.items[39].name, "c39");
        resource_list_free(&l);
        assert_null(l.items);
        assert_int_equal(l.n, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_type_table),
                cmocka_unit_test(test_version_is_sha256_prefix),
                cmocka_unit_test(test_response_bytes),
                cmocka_unit_test(test_response_walk_round_trip),
                cmocka_unit_test(test_response_walk_empty_and_garbage),
                cmocka_unit_test(test_own_file),
                cmocka_unit_test(test_list),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
