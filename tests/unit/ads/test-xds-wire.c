/* SPDX-License-Identifier: MIT */
/* xds-wire: DiscoveryRequest and DeltaDiscoveryRequest parsed from bytes
 * encoded by hand, malformed requests refused with a message, and the
 * responses decoded field by field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>

#include "ads-test.h"

static void test_parse_sotw(void **state) {
        (void) state;
        Buf b = {};
        req_sotw(&b, "node-1", ADS_TYPE_ENDPOINT, "v7", "12", "web api", "bad cluster");
        XdsRequest r;
        char *error = NULL;
        assert_int_equal(xds_request_parse(b.data, b.len, false, &r, &error), 0);
        assert_null(error);
        assert_false(r.delta);
        assert_string_equal(r.node_id, "node-1");
        assert_string_equal(r.node_cluster, "cluster-x");
        assert_string_equal(r.version_info, "v7");
        assert_string_equal(r.type_url, "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment");
        assert_string_equal(r.response_nonce, "12");
        assert_int_equal(r.n_names, 2);
        assert_string_equal(r.names[0], "web");
        assert_string_equal(r.names[1], "api");
        assert_true(r.has_error);
        assert_int_equal(r.error_code, 3);
        assert_string_equal(r.error_message, "bad cluster");
        xds_request_done(&r);
        buf_free(&b);

        /* a NACK's message is the client's own words: a NUL or a byte
         * that is not UTF-8 is shown as \xNN, the request is not refused */
        req_sotw(&b, "node-1", ADS_TYPE_CLUSTER, "v7", "12", "", NULL);
        static const char msg[] = "ok \xe2\x9c\x93 \0x \xff\"q\"\n";
        size_t m = wire_begin_len(&b, 6);
        wire_put_tag(&b, 1, WIRE_VARINT);
        wire_put_varint(&b, 3);
        wire_put_bytes(&b, 2, msg, sizeof msg - 1);
        wire_end_len(&b, m);
        assert_int_equal(xds_request_parse(b.data, b.len, false, &r, &error), 0);
        assert_true(r.has_error);
        assert_string_equal(r.error_message, "ok \xe2\x9c\x93 \\x00x \\xff\"q\"\n");
        xds_request_done(&r);
        buf_free(&b);

        /* a later request: no node, no error; unknown fields skipped */
        req_sotw(&b, NULL, ADS_TYPE_CLUSTER, NULL, NULL, "", NULL);
        wire_put_tag(&b, 99, WIRE_VARINT);
        wire_put_varint(&b, 5);
        wire_put_tag(&b, 100, WIRE_I64);
        wire_put_fixed64(&b, 5);
        assert_int_equal(xds_request_parse(b.data, b.len, false, &r, &error), 0);
        assert_null(r.node_id);
        assert_string_equal(r.version_info, "");
        assert_string_equal(r.response_nonce, "");
        assert_string_equal(r.error_message, "");
        assert_false(r.has_error);
        assert_int_equal(r.n_names, 0);
        xds_request_done(&r);
        buf_free(&b);
}

static void test_parse_delta(void **state) {
        (void) state;
        Buf b = {};
        req_delta(&b, "n", ADS_TYPE_CLUSTER, "a b *", "c", "a=0123 z=99", "4", "nope");
        XdsRequest r;
        char *error = NULL;
        assert_int_equal(xds_request_parse(b.data, b.len, true, &r, &error), 0);
        assert_true(r.delta);
        assert_string_equal(r.node_id, "n");
        assert_string_equal(r.type_url, "type.googleapis.com/envoy.config.cluster.v3.Cluster");
        assert_int_equal(r.n_names, 3);
        assert_string_equal(r.names[2], "*");
        assert_int_equal(r.n_unsubscribe, 1);
        assert_string_equal(r.unsubscribe[0], "c");
        assert_int_equal(r.n_initial, 2);
        assert_string_equal(r.initial_names[0], "a");
        assert_string_equal(r.initial_versions[0], "0123");
        assert_string_equal(r.initial_names[1], "z");
        assert_string_equal(r.initial_versions[1], "99");
        assert_string_equal(r.response_nonce, "4");
        assert_true(r.has_error);
        assert_string_equal(r.error_message, "nope");
        xds_request_done(&r);
        buf_free(&b);
}

static void refused(const uint8_t *p, size_t n, bool delta, const char *want) {
        XdsRequest r;
        char *error = NULL;
        assert_int_equal(xds_request_parse(p, n, delta, &r, &error), -EBADMSG);
        assert_non_null(error);
        if (!strstr(error, want))
                fail_msg("error \"%s\" does not say \"%s\"", error, want);
        free(error);
        assert_null(r.node_id);
        assert_int_equal(r.n_names, 0);
}

static void test_malformed(void **state) {
        (void) state;
        Buf b = {};
        /* type_url as a varint */
        wire_put_tag(&b, 4, WIRE_VARINT);
        wire_put_varint(&b, 1);
        refused(b.data, b.len, false, "type_url: wire type 0");
        buf_free(&b);

        /* truncated: a length past the end */
        req_sotw(&b, "node", ADS_TYPE_CLUSTER, "v", "1", "a", NULL);
        refused(b.data, b.len - 1, false, "truncated");
        buf_free(&b);

        /* invalid UTF-8 and a NUL in names */
        put_node(&b, 2, "n");
        wire_put_bytes(&b, 3, "\xff\xfe", 2);
        refused(b.data, b.len, false, "resource_names: string is not UTF-8");
        buf_free(&b);
        wire_put_bytes(&b, 3, "a\0b", 3);
        refused(b.data, b.len, true, "resource_names_subscribe: string holds a NUL byte");
        buf_free(&b);

        /* node.id inside a node that is not a message, and a bad node.id */
        wire_put_tag(&b, 2, WIRE_I32);
        wire_put_fixed32(&b, 1);
        refused(b.data, b.len, false, "node: wire type 5");
        buf_free(&b);
        size_t m = wire_begin_len(&b, 1);
        wire_put_bytes(&b, 1, "\xc3", 1);
        wire_end_len(&b, m);
        refused(b.data, b.len, true, "node.id: string is not UTF-8");
        buf_free(&b);

        /* error_detail.code not a varint; a map entry cut short */
        m = wire_begin_len(&b, 6);
        wire_put_bytes(&b, 1, "x", 1);
        wire_end_len(&b, m);
        refused(b.data, b.len, false, "error_detail.code");
        buf_free(&b);
        m = wire_begin_len(&b, 5);
        buf_append(&b, (const uint8_t[]) { 0x0a, 0x05, 0x61, 0x62 }, 4);
        wire_end_len(&b, m);
        refused(b.data, b.len, true, "initial_resource_versions");
        buf_free(&b);

        /* an overlong varint, a group, field number 0 */
        static const uint8_t overlong[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
        refused(overlong, sizeof(overlong), false, "malformed");
        static const uint8_t group[] = { 0x0b, 0x0c };
        refused(group, sizeof(group), false, "malformed");
        static const uint8_t zero[] = { 0x00, 0x01 };
        refused(zero, sizeof(zero), true, "malformed");
}

static void test_names_bounded(void **state) {
        (void) state;
        Buf b = {};
        for (unsigned i = 0; i <= XDS_NAMES_MAX; i++)
                wire_put_bytes(&b, 3, "x", 1);
        refused(b.data, b.len, false, "more than 100000 names");
        buf_free(&b);
}

static void test_encode_sotw(void **state) {
        (void) state;
        AdsResource *r[2] = { res_new(ADS_TYPE_CLUSTER, "a", "1"), res_new(ADS_TYPE_CLUSTER, "b", "2") };
        Buf b = {};
        xds_encode_response(&b, "abc", r, 2, ads_type_url(ADS_TYPE_CLUSTER), "7");
        Resp resp;
        resp_decode(b.data, b.len, false, &resp);
        assert_string_equal(resp.version, "abc");
        assert_string_equal(resp.type_url, ads_type_url(ADS_TYPE_CLUSTER));
        assert_string_equal(resp.nonce, "7");
        assert_true(startswith(resp.control_plane, "fsxds/"));
        _cleanup_free_ char *res = resp_resources(&resp);
        assert_string_equal(res, "a=1,b=2");
        resp_done(&resp);
        buf_free(&b);

        /* an empty state of the world: no resources, still a version-less response */
        xds_encode_response(&b, "", NULL, 0, ads_type_url(ADS_TYPE_LISTENER), "8");
        resp_decode(b.data, b.len, false, &resp);
        assert_string_equal(resp.version, "");
        assert_int_equal(resp.n_res, 0);
        assert_string_equal(resp.nonce, "8");
        resp_done(&resp);
        buf_free(&b);
        ads_resource_unref(r[0]);
        ads_resource_unref(r[1]);
}

static void test_encode_delta(void **state) {
        (void) state;
        AdsResource *r = res_new(ADS_TYPE_ENDPOINT, "web", "x");
        char *removed[] = { (char *) "old", (char *) "gone" };
        Buf b = {};
        xds_encode_delta_response(&b, "sys", &r, 1, ads_type_url(ADS_TYPE_ENDPOINT), "3", removed, 2);
        Resp resp;
        resp_decode(b.data, b.len, true, &resp);
        assert_string_equal(resp.version, "sys");
        assert_int_equal(resp.n_res, 1);
        assert_string_equal(resp.res[0], "web=x");
        assert_string_equal(resp.res_version[0], r->version);
        _cleanup_free_ char *rm = resp_removed(&resp);
        assert_string_equal(rm, "old,gone");
        assert_string_equal(resp.nonce, "3");
        assert_true(startswith(resp.control_plane, "fsxds/"));
        resp_done(&resp);
        buf_free(&b);
        ads_resource_unref(r);
}

/* The fuzzer's seeds are requests as clients send them: all accepted. */
static void test_seeds_accepted(void **state) {
        (void) state;
        static const char *const seeds[] = {
                "sotw-cds-first", "sotw-eds-ack", "sotw-lds-nack", "sotw-grpc-lds-named",
                "delta-cds-first", "delta-eds-sub", "delta-nack",
        };
        for (size_t i = 0; i < ELEMENTSOF(seeds); i++) {
                _cleanup_free_ char *path = xasprintf("%s/tests/fuzz/corpus-xds/%s", SOURCE_ROOT, seeds[i]);
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
                assert_true(fd >= 0);
                _cleanup_free_ uint8_t *data = NULL;
                size_t len = 0;
                assert_int_equal(read_regular_fd(fd, 1u << 20, &data, &len), 0);
                assert_true(len > 1);
                XdsRequest r;
                char *error = NULL;
                if (xds_request_parse(data + 1, len - 1, data[0] & 1, &r, &error) < 0)
                        fail_msg("%s: %s", seeds[i], error);
                assert_true(*r.type_url);
                xds_request_done(&r);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_sotw),
                cmocka_unit_test(test_parse_delta),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_names_bounded),
                cmocka_unit_test(test_encode_sotw),
                cmocka_unit_test(test_encode_delta),
                cmocka_unit_test(test_seeds_accepted),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
