/* SPDX-License-Identifier: MIT */
/* compile: a source file's YAML becomes resources (type, name, where it
 * was written, the Any bytes) in the three document forms, the bytes decode
 * back to the YAML they came from, and mistakes are refused with
 * -EBADMSG and a diagnostic at the user's line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "compile.h"
#include "decode.h"

static Schema *schema;

static int group_setup(void **state) {
        return schema_load_builtin(&schema);
}

static int group_teardown(void **state) {
        schema = schema_free(schema);
        return 0;
}

static void compile_ok(const char *yaml, CompileResult *ret) {
        DiagList diags = {};
        int r = compile_data(schema, "src.yaml", yaml, strlen(yaml), NULL, &diags, ret);
        if (r < 0)
                diag_list_print(&diags, stderr);
        assert_int_equal(r, 0);
        assert_int_equal(diags.n, 0);
        diag_list_clear(&diags);
}

static char *compile_error(const char *yaml) {
        DiagList diags = {};
        CompileResult res = {};
        assert_int_equal(compile_data(schema, "src.yaml", yaml, strlen(yaml), NULL, &diags, &res), -EBADMSG);
        assert_int_equal(res.resources.n, 0);
        assert_true(diags.n_errors >= 1);
        char *s = diag_format(&diags.items[0]);
        diag_list_clear(&diags);
        compile_result_done(&res);
        return s;
}

static char *decode_any(const Resource *r) {
        const SchemaMessage *any = schema_message(schema, "google.protobuf.Any");
        assert_non_null(any);
        Buf out = {};
        char *error = NULL;
        int rc = decode_message(schema, any, r->any, r->any_len, DECODE_FORMAT_YAML, &out, &error);
        if (rc < 0)
                fail_msg("decode: %s", error);
        return buf_steal_str(&out);
}

static const char cluster_yaml[] =
        "\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\n"
        "name: web\n"
        "connect_timeout: 5s\n"
        "type: STRICT_DNS\n"
        "load_assignment:\n"
        "  cluster_name: web\n"
        "  endpoints:\n"
        "  - lb_endpoints:\n"
        "    - endpoint:\n"
        "        address:\n"
        "          socket_address:\n"
        "            address: web.example.com\n"
        "            port_value: 80\n";

static void test_single_resource(void **state) {
        CompileResult res = {};
        compile_ok(cluster_yaml, &res);
        assert_int_equal(res.resources.n, 1);
        const Resource *r = &res.resources.items[0];
        assert_int_equal(r->type, RESOURCE_CLUSTER);
        assert_string_equal(r->name, "web");
        assert_string_equal(r->file, "src.yaml");
        assert_int_equal(r->line, 1);
        assert_int_equal(r->column, 1);
        assert_false(r->wired);
        assert_null(res.version_info);
        assert_null(res.type_url);
        compile_result_done(&res);
}

static void test_bytes_decode_back(void **state) {
        CompileResult res = {};
        compile_ok(cluster_yaml, &res);
        _cleanup_free_ char *text = decode_any(&res.resources.items[0]);
        /* the decoder's YAML compiles to the very same bytes */
        CompileResult again = {};
        compile_ok(text, &again);
        assert_int_equal(again.resources.n, 1);
        assert_int_equal(again.resources.items[0].any_len, res.resources.items[0].any_len);
        assert_memory_equal(again.resources.items[0].any, res.resources.items[0].any, res.resources.items[0].any_len);
        /* and says what was written, in field number order */
        assert_string_equal(text,
                "\"@type\": \"type.googleapis.com/envoy.config.cluster.v3.Cluster\"\n"
                "name: \"web\"\n"
                "type: \"STRICT_DNS\"\n"
                "connect_timeout: \"5s\"\n"
                "load_assignment:\n"
                "  cluster_name: \"web\"\n"
                "  endpoints:\n"
                "    - lb_endpoints:\n"
                "        - endpoint:\n"
                "            address:\n"
                "              socket_address:\n"
                "                address: \"web.example.com\"\n"
                "                port_value: 80\n");
        compile_result_done(&again);
        compile_result_done(&res);
}

static void test_discovery_response(void **state) {
        CompileResult res = {};
        compile_ok("version_info: \"7\"\n"
                   "type_url: type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\n"
                   "resources:\n"
                   "- \"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\n"
                   "  cluster_name: a\n"
                   "- \"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\n"
                   "  cluster_name: b\n", &res);
        assert_string_equal(res.version_info, "7");
        assert_string_equal(res.type_url, "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment");
        assert_int_equal(res.type_url_line, 2);
        assert_int_equal(res.type_url_column, 11);
        assert_int_equal(res.resources.n, 2);
        assert_int_equal(res.resources.items[0].type, RESOURCE_CLUSTER_LOAD_ASSIGNMENT);
        assert_string_equal(res.resources.items[0].name, "a");
        assert_string_equal(res.resources.items[1].name, "b");
        assert_int_equal(res.resources.items[1].line, 6);
        assert_int_equal(res.resources.items[1].column, 3);
        compile_result_done(&res);
}

static void test_simplified_and_multi_document(void **state) {
        CompileResult res = {};
        compile_ok("name: x\n"
                   "spec:\n"
                   "  clusters:\n"
                   "  - {name: web, endpoints: [{address: 10.0.0.1, port: 80}]}\n"
                   "---\n"
                   "\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\n"
                   "name: other\n", &res);
        assert_int_equal(res.resources.n, 3);
        assert_int_equal(res.resources.items[0].type, RESOURCE_CLUSTER);
        assert_string_equal(res.resources.items[0].name, "web");
        assert_int_equal(res.resources.items[1].type, RESOURCE_CLUSTER_LOAD_ASSIGNMENT);
        assert_string_equal(res.resources.items[1].name, "web");
        assert_int_equal(res.resources.items[2].type, RESOURCE_CLUSTER);
        assert_string_equal(res.resources.items[2].name, "other");
        assert_int_equal(res.resources.items[2].line, 6);
        compile_result_done(&res);
}

static void test_empty_file(void **state) {
        CompileResult res = {};
        compile_ok("", &res);
        assert_int_equal(res.resources.n, 0);
        compile_ok("# nothing\n", &res);
        assert_int_equal(res.resources.n, 0);
        compile_result_done(&res);
}

static void test_errors(void **state) {
        static const struct {
                const char *yaml, *error;
        } cases[] = {
                { "- 1\n",
                  "src.yaml:1:1: error: a document must be a mapping (a DiscoveryResponse, a resource with \"@type\", "
                  "or name/spec), got a list" },
                { "\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\nconnect_timeout: 1s\n",
                  "src.yaml:1:1: error: a Cluster needs a non-empty \"name\"" },
                { "\"@type\": type.googleapis.com/envoy.config.core.v3.Address\n",
                  "src.yaml:1:10: error: envoy.config.core.v3.Address is not an xDS resource type fsxds publishes "
                  "(Listener, RouteConfiguration, ScopedRouteConfiguration, VirtualHost, Cluster, "
                  "ClusterLoadAssignment, Secret, Runtime)" },
                { "resources:\n- name: x\n",
                  "src.yaml:2:3: error: resources[0]: a resource needs \"@type\" with its type URL "
                  "(e.g. type.googleapis.com/envoy.config.cluster.v3.Cluster)" },
                { "versions: 1\n",
                  "src.yaml:1:1: error: versions: unknown field \"versions\" in a DiscoveryResponse document "
                  "(expected version_info, resources, type_url; a single resource needs \"@type\")" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *e = compile_error(cases[i].yaml);
                if (!streq(e, cases[i].error))
                        fail_msg("%s: got \"%s\", expected \"%s\"", cases[i].yaml, e, cases[i].error);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_single_resource),
                cmocka_unit_test(test_bytes_decode_back),
                cmocka_unit_test(test_discovery_response),
                cmocka_unit_test(test_simplified_and_multi_document),
                cmocka_unit_test(test_empty_file),
                cmocka_unit_test(test_errors),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
