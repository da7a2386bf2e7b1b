/* SPDX-License-Identifier: MIT */
/* wiring_to_ads(): a node's file build with its config sources pointed
 * at ADS, checked by decoding the result with Envoy's schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <ftw.h>
#include <sys/stat.h>

#include "build.h"
#include "decode.h"
#include "wire.h"
#include "wiring.h"

#include "tmptree.h"

/* The resources of a published file, each wired to ADS and decoded as
 * JSON, one a line. Returns how many were rewired. */
static size_t to_ads_json(const NodeFile *f, const char *message, Buf *out) {
        const SchemaMessage *m = schema_message(schema, message);
        assert_non_null(m);
        size_t wired = 0;
        WireReader rd = { f->data, f->data + f->len };
        WireField fl;
        while (wire_next(&rd, &fl)) {
                if (fl.number != 2)
                        continue;
                WireReader ar = { fl.data, fl.data + fl.len };
                WireField af;
                while (wire_next(&ar, &af)) {
                        if (af.number != 2)
                                continue;
                        Buf b = {};
                        wired += wiring_to_ads(af.data, af.len, "/run/fsxds/n1", &b);
                        _cleanup_free_ char *error = NULL;
                        assert_int_equal(decode_message(schema, m, b.data, b.len, DECODE_FORMAT_JSON, out, &error), 0);
                        buf_putc(out, '\n');
                        buf_free(&b);
                }
        }
        buf_putc(out, 0);
        return wired;
}

/* the JSON without its layout (no string here holds a blank) */
static const char *squeeze(Buf *b) {
        size_t k = 0;
        for (size_t i = 0; i < b->len; i++)
                if (b->data[i] != ' ' && b->data[i] != '\n')
                        b->data[k++] = b->data[i];
        b->len = k;
        return (const char *) b->data;
}

static const NodeFile *find(const NodeOutput *o, const char *path) {
        for (size_t i = 0; i < o->n; i++)
                if (streq(o->files[i].path, path))
                        return &o->files[i];
        fail_msg("no %s in the build", path);
        return NULL;
}

static void test_sources_to_ads(void **state) {
        put("nodes/n1/c.yaml",
            "resources:\n"
            "- {\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster, name: api, type: EDS,\n"
            "   eds_cluster_config: {eds_config: {initial_fetch_timeout: 5s, path_config_source: {path: /x.yaml}}}}\n"
            "- {\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster, name: up, type: EDS,\n"
            "   eds_cluster_config: {eds_config: {ads: {}, resource_api_version: V3}}}\n"
            "- {\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster, name: /run/fsxds/n1/eds/named.pb,\n"
            "   type: STATIC, alt_stat_name: /run/fsxds/n1/cds/cds.pb}\n"
            "- {\"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment, cluster_name: api}\n"
            "- {\"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment, cluster_name: up}\n"
            "- \"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"
            "  name: l\n"
            "  address: {socket_address: {address: 0.0.0.0, port_value: 80}}\n"
            "  filter_chains:\n"
            "  - filters:\n"
            "    - name: hcm\n"
            "      typed_config:\n"
            "        \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n"
            "        stat_prefix: l\n"
            "        rds: {route_config_name: r}\n"
            "        http_filters: [{name: router, typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}]\n"
            "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
            "  name: r\n"
            "  virtual_hosts: [{name: v, domains: [\"*\"], routes: [{match: {prefix: /}, route: {cluster: api}}]}]\n");
        DiagList d = {};
        NodeOutput o = {};
        const BuildOptions opts = { .output_dir = "/run/fsxds/n1" };
        int r = build_node(schema, PUBLISH_MODE_WATCHED_DIRECTORY, tree, "n1", &opts, &d, &o);
        if (r != 0)
                diag_list_print(&d, stderr);
        assert_int_equal(r, 0);

        Buf cds = {};
        /* api's eds_config: wired to ADS, initial_fetch_timeout kept; up's
         * was ADS already; the STATIC cluster's strings that hold the
         * node's directory are no config sources */
        assert_int_equal(to_ads_json(find(&o, "cds/cds.pb"), "envoy.config.cluster.v3.Cluster", &cds), 1);
        const char *text = squeeze(&cds);
        assert_non_null(strstr(text, "\"eds_config\":{\"ads\":{},\"initial_fetch_timeout\":\"5s\",\"resource_api_version\":\"V3\"}"));
        assert_null(strstr(text, "path_config_source"));
        assert_null(strstr(text, "watched_directory"));
        assert_non_null(strstr(text, "\"name\":\"/run/fsxds/n1/eds/named.pb\""));
        assert_non_null(strstr(text, "\"alt_stat_name\":\"/run/fsxds/n1/cds/cds.pb\""));
        buf_free(&cds);

        Buf lds = {};
        assert_int_equal(to_ads_json(find(&o, "lds/lds.pb"), "envoy.config.listener.v3.Listener", &lds), 1);
        text = squeeze(&lds);
        assert_non_null(strstr(text, "\"rds\":{\"config_source\":{\"ads\":{},\"resource_api_version\":\"V3\"},"
                                     "\"route_config_name\":\"r\"}"));
        assert_null(strstr(text, "/run/fsxds/n1"));
        buf_free(&lds);

        /* a resource with nothing wired is its bytes as they were */
        const NodeFile *eds = find(&o, "eds/up.pb");
        Buf b = {};
        WireReader rd = { eds->data, eds->data + eds->len };
        WireField f;
        while (wire_next(&rd, &f))
                if (f.number == 2) {
                        assert_false(wiring_to_ads(f.data, f.len, "/run/fsxds/n1", &b));
                        assert_int_equal(b.len, f.len);
                        assert_memory_equal(b.data, f.data, f.len);
                }
        buf_free(&b);
        node_output_done(&o);
        diag_list_clear(&d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sources_to_ads),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
