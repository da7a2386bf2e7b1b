/* SPDX-License-Identifier: MIT */
/* placeholder: being written (issue 16); stubs so that the daemon links */
#include <errno.h>
#include <stdlib.h>

#include "xds.h"

const char *ads_type_short(AdsType t) {
        static const char *const n[_ADS_TYPE_MAX] = { "SDS", "CDS", "EDS", "LDS", "SRDS", "RDS", "RTDS" };
        return t >= 0 && t < _ADS_TYPE_MAX ? n[t] : NULL;
}
AdsResource *ads_resource_ref(AdsResource *r) {
        r->refs++;
        return r;
}
AdsResource *ads_resource_unref(AdsResource *r) {
        if (r && --r->refs == 0) {
                free(r->name);
                free(r->any);
                free(r);
        }
        return NULL;
}
AdsSnapshot *ads_snapshot_unref(AdsSnapshot *s) {
        if (s && --s->refs == 0) {
                for (int t = 0; t < _ADS_TYPE_MAX; t++) {
                        for (size_t i = 0; i < s->types[t].n; i++)
                                ads_resource_unref(s->types[t].r[i]);
                        free(s->types[t].r);
                }
                free(s);
        }
        return NULL;
}
void ads_snapshot_seal(AdsSnapshot *s) {
}
int ads_server_new(sd_event *e, const AdsOptions *o, AdsServer **ret) {
        return -EOPNOTSUPP;
}
AdsServer *ads_server_free(AdsServer *s) {
        return NULL;
}
int ads_server_listen(AdsServer *s, const char *address, const H2Tls *tls, mode_t mode, gid_t gid, char **ret_error) {
        return -EOPNOTSUPP;
}
void ads_server_set_ack_timeout(AdsServer *s, uint64_t usec) {
}
void ads_server_set_snapshot(AdsServer *s, const char *node_id, AdsSnapshot *snap) {
}
AdsSnapshot *ads_server_get_snapshot(AdsServer *s, const char *node_id) {
        return NULL;
}
void ads_server_forget_node(AdsServer *s, const char *node_id) {
}
void ads_server_foreach_node(AdsServer *s, void (*f)(void *userdata, const AdsNodeStatus *st), void *userdata) {
}
size_t ads_server_n_streams(const AdsServer *s) {
        return 0;
}
size_t ads_server_bytes(const AdsServer *s) {
        return 0;
}
