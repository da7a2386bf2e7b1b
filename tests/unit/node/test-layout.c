/* SPDX-License-Identifier: MIT */
/* layout: the node directory as Envoy and `fsxds verify` find it — which
 * directory and file each resource type goes to, how names become file
 * names, which node ids are allowed, and the publish modes' names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "layout.h"

static void test_type_dirs(void **state) {
        assert_string_equal(resource_type_dir(RESOURCE_LISTENER), "lds");
        assert_string_equal(resource_type_dir(RESOURCE_ROUTE_CONFIGURATION), "rds");
        assert_string_equal(resource_type_dir(RESOURCE_SCOPED_ROUTE_CONFIGURATION), "srds");
        assert_string_equal(resource_type_dir(RESOURCE_CLUSTER), "cds");
        assert_string_equal(resource_type_dir(RESOURCE_CLUSTER_LOAD_ASSIGNMENT), "eds");
        assert_string_equal(resource_type_dir(RESOURCE_SECRET), "sds");
        assert_string_equal(resource_type_dir(RESOURCE_RUNTIME), "rtds");
        /* a VirtualHost has no file of its own */
        assert_null(resource_type_dir(RESOURCE_VIRTUAL_HOST));
        assert_null(resource_type_dir(_RESOURCE_TYPE_MAX));
        assert_null(resource_type_dir(_RESOURCE_TYPE_INVALID));
}

static void test_type_from_dir_round_trip(void **state) {
        for (ResourceType t = 0; t < _RESOURCE_TYPE_MAX; t++) {
                const char *dir = resource_type_dir(t);
                if (dir)
                        assert_int_equal(resource_type_from_dir(dir), t);
        }
        assert_int_equal(resource_type_from_dir("vhds"), _RESOURCE_TYPE_INVALID);
        assert_int_equal(resource_type_from_dir("LDS"), _RESOURCE_TYPE_INVALID);
        assert_int_equal(resource_type_from_dir(""), _RESOURCE_TYPE_INVALID);
        assert_int_equal(resource_type_from_dir(".store"), _RESOURCE_TYPE_INVALID);
}

static void test_sotw(void **state) {
        assert_true(resource_type_is_sotw(RESOURCE_LISTENER));
        assert_true(resource_type_is_sotw(RESOURCE_CLUSTER));
        assert_true(resource_type_is_sotw(RESOURCE_SCOPED_ROUTE_CONFIGURATION));
        assert_false(resource_type_is_sotw(RESOURCE_ROUTE_CONFIGURATION));
        assert_false(resource_type_is_sotw(RESOURCE_CLUSTER_LOAD_ASSIGNMENT));
        assert_false(resource_type_is_sotw(RESOURCE_SECRET));
        assert_false(resource_type_is_sotw(RESOURCE_RUNTIME));
        assert_false(resource_type_is_sotw(RESOURCE_VIRTUAL_HOST));
        assert_false(resource_type_is_sotw(_RESOURCE_TYPE_INVALID));
}

static void assert_file_name(const char *name, const char *expected) {
        _cleanup_free_ char *f = layout_file_name(name);
        assert_non_null(f);
        assert_string_equal(f, expected);
}

static void test_file_name_encoding(void **state) {
        assert_file_name("web", "web.pb");
        assert_file_name("a-b_c.d9", "a-b_c.d9.pb");
        assert_file_name("web/1", "web%2F1.pb");
        assert_file_name("a b:c", "a%20b%3Ac.pb");
        assert_file_name("100%", "100%25.pb");
        assert_file_name(".hidden", "%2Ehidden.pb"); /* a leading dot only */
        assert_file_name("..", "%2E..pb");
        assert_file_name("é", "%C3%A9.pb");
        assert_file_name("", ".pb");
}

static void test_file_name_length_limit(void **state) {
        char name[300];
        /* 252 + ".pb" = 255: the longest file name there is */
        memset(name, 'a', 252);
        name[252] = 0;
        _cleanup_free_ char *f = layout_file_name(name);
        assert_non_null(f);
        assert_int_equal(strlen(f), 255);
        name[252] = 'a';
        name[253] = 0;
        assert_null(layout_file_name(name));
        /* 84 bytes that each become three */
        memset(name, '/', 84);
        name[84] = 0;
        _cleanup_free_ char *g = layout_file_name(name);
        assert_non_null(g);
        assert_int_equal(strlen(g), 255);
        name[84] = '/';
        name[85] = 0;
        assert_null(layout_file_name(name));
}

static void assert_file_path(ResourceType t, const char *name, const char *expected) {
        _cleanup_free_ char *p = layout_file_path(t, name);
        if (!expected) {
                assert_null(p);
                return;
        }
        assert_non_null(p);
        assert_string_equal(p, expected);
}

static void test_file_path(void **state) {
        /* state of the world: one file whatever the name */
        assert_file_path(RESOURCE_LISTENER, "http", LAYOUT_LDS_FILE);
        assert_file_path(RESOURCE_CLUSTER, "web/1", LAYOUT_CDS_FILE);
        assert_file_path(RESOURCE_SCOPED_ROUTE_CONFIGURATION, "s", "srds/srds.pb");
        assert_string_equal(LAYOUT_LDS_FILE, "lds/lds.pb");
        assert_string_equal(LAYOUT_CDS_FILE, "cds/cds.pb");
        /* one file per resource */
        assert_file_path(RESOURCE_CLUSTER_LOAD_ASSIGNMENT, "web/1", "eds/web%2F1.pb");
        assert_file_path(RESOURCE_ROUTE_CONFIGURATION, "local_route", "rds/local_route.pb");
        assert_file_path(RESOURCE_SECRET, "server_cert", "sds/server_cert.pb");
        assert_file_path(RESOURCE_RUNTIME, "rt", "rtds/rt.pb");
        /* no file */
        assert_file_path(RESOURCE_VIRTUAL_HOST, "vh", NULL);
        char longname[300];
        memset(longname, 'x', 299);
        longname[299] = 0;
        assert_file_path(RESOURCE_CLUSTER_LOAD_ASSIGNMENT, longname, NULL);
}

static void test_node_id(void **state) {
        assert_true(node_id_is_valid("edge-1"));
        assert_true(node_id_is_valid("A.b_c-9"));
        assert_true(node_id_is_valid("x"));
        assert_true(node_id_is_valid("a.."));
        /* fsxds's own names in output_dir start with '.': never a node's */
        assert_true(node_id_is_valid("status.json"));
        assert_false(node_id_is_valid(".fsxds"));
        assert_false(node_id_is_valid(".store"));
        assert_false(node_id_is_valid(""));
        assert_false(node_id_is_valid(".hidden"));
        assert_false(node_id_is_valid(".."));
        assert_false(node_id_is_valid("a/b"));
        assert_false(node_id_is_valid("a b"));
        assert_false(node_id_is_valid("é"));

        char id[200];
        memset(id, 'n', 128);
        id[128] = 0;
        assert_true(node_id_is_valid(id));
        id[128] = 'n';
        id[129] = 0;
        assert_false(node_id_is_valid(id));
}

static void test_publish_modes(void **state) {
        assert_string_equal(publish_mode_to_string(PUBLISH_MODE_RENAME), "rename");
        assert_string_equal(publish_mode_to_string(PUBLISH_MODE_WATCHED_DIRECTORY), "watched_directory");
        assert_null(publish_mode_to_string(_PUBLISH_MODE_MAX));
        assert_null(publish_mode_to_string(_PUBLISH_MODE_INVALID));
        assert_int_equal(publish_mode_from_string("rename"), PUBLISH_MODE_RENAME);
        assert_int_equal(publish_mode_from_string("watched_directory"), PUBLISH_MODE_WATCHED_DIRECTORY);
        assert_int_equal(publish_mode_from_string("watched-directory"), _PUBLISH_MODE_INVALID);
        assert_int_equal(publish_mode_from_string(""), _PUBLISH_MODE_INVALID);
        assert_int_equal(_PUBLISH_MODE_INVALID, -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_type_dirs),
                cmocka_unit_test(test_type_from_dir_round_trip),
                cmocka_unit_test(test_sotw),
                cmocka_unit_test(test_file_name_encoding),
                cmocka_unit_test(test_file_name_length_limit),
                cmocka_unit_test(test_file_path),
                cmocka_unit_test(test_node_id),
                cmocka_unit_test(test_publish_modes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
