/* SPDX-License-Identifier: MIT */
/* The snapshots the xDS server serves (xds.h): resources and snapshots
 * shared by reference count, sealing (sorted sets and their versions),
 * lookup by name, and the table of the types served. */
#include <assert.h>

#include "sha256.h"
#include "util.h"
#include "xds.h"

typedef struct AdsTypeInfo {
        const char *url;
        const char *short_name;
        bool wildcard_default;
} AdsTypeInfo;

static const AdsTypeInfo type_info[_ADS_TYPE_MAX] = {
        [ADS_TYPE_SECRET] = { "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret", "SDS", false },
        [ADS_TYPE_CLUSTER] = { "type.googleapis.com/envoy.config.cluster.v3.Cluster", "CDS", true },
        [ADS_TYPE_ENDPOINT] = { "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment", "EDS", false },
        [ADS_TYPE_LISTENER] = { "type.googleapis.com/envoy.config.listener.v3.Listener", "LDS", true },
        [ADS_TYPE_SCOPED_ROUTE] = { "type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration", "SRDS", true },
        [ADS_TYPE_ROUTE] = { "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", "RDS", false },
        [ADS_TYPE_RUNTIME] = { "type.googleapis.com/envoy.service.runtime.v3.Runtime", "RTDS", false },
};

const char *ads_type_url(AdsType t) {
        return (int) t >= 0 && t < _ADS_TYPE_MAX ? type_info[t].url : NULL;
}

AdsType ads_type_from_url(const char *type_url) {
        if (!type_url)
                return _ADS_TYPE_INVALID;
        for (AdsType t = 0; t < _ADS_TYPE_MAX; t++)
                if (streq(type_info[t].url, type_url))
                        return t;
        return _ADS_TYPE_INVALID;
}

const char *ads_type_short(AdsType t) {
        return (int) t >= 0 && t < _ADS_TYPE_MAX ? type_info[t].short_name : NULL;
}

bool ads_type_wildcard_default(AdsType t) {
        return (int) t >= 0 && t < _ADS_TYPE_MAX && type_info[t].wildcard_default;
}

AdsResource *ads_resource_ref(AdsResource *r) {
        if (r) {
                assert(r->refs > 0);
                r->refs++;
        }
        return r;
}

AdsResource *ads_resource_unref(AdsResource *r) {
        if (!r)
                return NULL;
        assert(r->refs > 0);
        if (--r->refs > 0)
                return NULL;
        free(r->name);
        free(r->any);
        free(r);
        return NULL;
}

AdsSnapshot *ads_snapshot_ref(AdsSnapshot *s) {
        if (s) {
                assert(s->refs > 0);
                s->refs++;
        }
        return s;
}

AdsSnapshot *ads_snapshot_unref(AdsSnapshot *s) {
        if (!s)
                return NULL;
        assert(s->refs > 0);
        if (--s->refs > 0)
                return NULL;
        for (AdsType t = 0; t < _ADS_TYPE_MAX; t++) {
                for (size_t i = 0; i < s->types[t].n; i++)
                        ads_resource_unref(s->types[t].r[i]);
                free(s->types[t].r);
                free(s->types[t].sotw_body);
        }
        free(s);
        return NULL;
}

static int cmp_resource(const void *a, const void *b) {
        const AdsResource *x = *(AdsResource *const *) a, *y = *(AdsResource *const *) b;
        return strcmp(x->name, y->name);
}

void ads_snapshot_seal(AdsSnapshot *s) {
        assert(s);
        for (AdsType t = 0; t < _ADS_TYPE_MAX; t++) {
                AdsTypeSet *set = &s->types[t];
                if (set->n > 1)
                        qsort(set->r, set->n, sizeof(AdsResource *), cmp_resource);
                for (size_t i = 1; i < set->n; i++)
                        assert(strcmp(set->r[i - 1]->name, set->r[i]->name) < 0);
                if (set->n == 0) {
                        set->version[0] = 0;
                        continue;
                }
                Sha256 h;
                sha256_init(&h);
                for (size_t i = 0; i < set->n; i++) {
                        sha256_update(&h, set->r[i]->name, strlen(set->r[i]->name) + 1);
                        sha256_update(&h, set->r[i]->version, strlen(set->r[i]->version) + 1);
                }
                sha256_final_hex(&h, set->version, 16);
        }
}

AdsResource *ads_type_set_find(const AdsTypeSet *t, const char *name) {
        size_t lo = 0, hi = t->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(name, t->r[mid]->name);
                if (c == 0)
                        return t->r[mid];
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return NULL;
}
