/* SPDX-License-Identifier: MIT */
/* snapshot: the type table, sealing (order and versions), lookup, and
 * resources shared by reference count between snapshots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ads-test.h"

static void test_types(void **state) {
        (void) state;
        assert_string_equal(ads_type_url(ADS_TYPE_CLUSTER), "type.googleapis.com/envoy.config.cluster.v3.Cluster");
        assert_int_equal(ads_type_from_url("type.googleapis.com/envoy.config.route.v3.RouteConfiguration"), ADS_TYPE_ROUTE);
        assert_int_equal(ads_type_from_url("type.googleapis.com/envoy.config.route.v3.VirtualHost"), _ADS_TYPE_INVALID);
        assert_int_equal(ads_type_from_url(NULL), _ADS_TYPE_INVALID);
        static const char *const shorts[] = { "SDS", "CDS", "EDS", "LDS", "SRDS", "RDS", "RTDS" };
        for (AdsType t = 0; t < _ADS_TYPE_MAX; t++) {
                assert_string_equal(ads_type_short(t), shorts[t]);
                assert_int_equal(ads_type_from_url(ads_type_url(t)), t);
        }
        assert_true(ads_type_wildcard_default(ADS_TYPE_CLUSTER));
        assert_true(ads_type_wildcard_default(ADS_TYPE_LISTENER));
        assert_true(ads_type_wildcard_default(ADS_TYPE_SCOPED_ROUTE));
        assert_false(ads_type_wildcard_default(ADS_TYPE_ENDPOINT));
        assert_false(ads_type_wildcard_default(ADS_TYPE_ROUTE));
        assert_null(ads_type_url(_ADS_TYPE_MAX));
}

static void test_seal(void **state) {
        (void) state;
        AdsSnapshot *s = snap_new(3, "CDS:zeta=1,alpha=2,mid=3");
        const AdsTypeSet *set = &s->types[ADS_TYPE_CLUSTER];
        assert_int_equal(set->n, 3);
        assert_string_equal(set->r[0]->name, "alpha");
        assert_string_equal(set->r[1]->name, "mid");
        assert_string_equal(set->r[2]->name, "zeta");
        /* the version: SHA-256 over (name NUL version NUL) in order, 16 hex digits */
        Buf b = {};
        for (size_t i = 0; i < set->n; i++) {
                buf_append(&b, set->r[i]->name, strlen(set->r[i]->name) + 1);
                buf_append(&b, set->r[i]->version, strlen(set->r[i]->version) + 1);
        }
        char hex[65];
        sha256_hex(b.data, b.len, hex);
        hex[16] = 0;
        assert_string_equal(set->version, hex);
        buf_free(&b);
        assert_string_equal(s->types[ADS_TYPE_LISTENER].version, "");

        /* the same content in another order: the same version; other content: another */
        AdsSnapshot *s2 = snap_new(4, "CDS:mid=3,alpha=2,zeta=1");
        assert_string_equal(s2->types[ADS_TYPE_CLUSTER].version, set->version);
        AdsSnapshot *s3 = snap_new(5, "CDS:mid=3,alpha=2,zeta=9");
        assert_string_not_equal(s3->types[ADS_TYPE_CLUSTER].version, set->version);

        assert_ptr_equal(ads_type_set_find(set, "mid"), set->r[1]);
        assert_ptr_equal(ads_type_set_find(set, "alpha"), set->r[0]);
        assert_ptr_equal(ads_type_set_find(set, "zeta"), set->r[2]);
        assert_null(ads_type_set_find(set, "nope"));
        assert_null(ads_type_set_find(&s->types[ADS_TYPE_ROUTE], "mid"));
        ads_snapshot_unref(s);
        ads_snapshot_unref(s2);
        ads_snapshot_unref(s3);
}

static void test_refs(void **state) {
        (void) state;
        AdsSnapshot *a = snap_new(1, "LDS:l=1");
        AdsResource *shared = a->types[ADS_TYPE_LISTENER].r[0];
        AdsSnapshot *b = xcalloc(1, sizeof(AdsSnapshot));
        b->refs = 1;
        b->types[ADS_TYPE_LISTENER].r = xmalloc(sizeof(AdsResource *));
        b->types[ADS_TYPE_LISTENER].r[0] = ads_resource_ref(shared);
        b->types[ADS_TYPE_LISTENER].n = 1;
        ads_snapshot_seal(b);
        assert_int_equal(shared->refs, 2);
        assert_string_equal(a->types[ADS_TYPE_LISTENER].version, b->types[ADS_TYPE_LISTENER].version);

        assert_ptr_equal(ads_snapshot_ref(a), a);
        assert_int_equal(a->refs, 2);
        assert_null(ads_snapshot_unref(a));
        assert_int_equal(shared->refs, 2);
        assert_null(ads_snapshot_unref(a)); /* gone: its share of the resource too */
        assert_int_equal(shared->refs, 1);
        assert_string_equal(shared->name, "l");
        assert_null(ads_snapshot_unref(b));
        assert_null(ads_snapshot_unref(NULL));
        assert_null(ads_resource_unref(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_types),
                cmocka_unit_test(test_seal),
                cmocka_unit_test(test_refs),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
