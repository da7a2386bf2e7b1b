/* SPDX-License-Identifier: MIT */
/* The xDS messages on the wire: DiscoveryRequest and DeltaDiscoveryRequest
 * parsed strictly (a client's bytes are untrusted: wrong wire types,
 * truncation, strings that are not UTF-8 or hold a NUL, and lists past
 * their bound are refused with a message), DiscoveryResponse and
 * DeltaDiscoveryResponse encoded around the resources' Any bytes the
 * snapshots hold (envoy/service/discovery/v3/discovery.proto). */
#pragma once

#include "util.h"
#include "xds.h"

/* At most this many names in one request's list (resource_names,
 * resource_names_subscribe, _unsubscribe, initial_resource_versions). */
#define XDS_NAMES_MAX 100000u

typedef struct XdsRequest {
        bool delta;
        char *node_id;         /* NULL: no node, or a node without id */
        char *node_cluster;
        char *version_info;    /* SotW; "" when absent */
        char *type_url;        /* "" when absent */
        char *response_nonce;  /* "" when absent */
        /* SotW: resource_names; delta: resource_names_subscribe */
        char **names;
        size_t n_names;
        char **unsubscribe;    /* delta */
        size_t n_unsubscribe;
        /* delta: initial_resource_versions, name -> version */
        char **initial_names, **initial_versions;
        size_t n_initial;
        bool has_error;        /* error_detail present: a NACK */
        int32_t error_code;
        char *error_message;   /* "" when absent */
} XdsRequest;

/* Parses one request message; on failure returns -EBADMSG with
 * *ret_error saying what is wrong (free()), and req is left empty. */
int xds_request_parse(const uint8_t *p, size_t n, bool delta, XdsRequest *req, char **ret_error);
void xds_request_done(XdsRequest *req);

/* Appends a DiscoveryResponse to b. */
void xds_encode_response(Buf *b, const char *version_info, AdsResource *const *r, size_t n,
                         const char *type_url, const char *nonce);
/* The same response in two parts, head then body (fields in another
 * order, the same message): the head, version_info and nonce, is the
 * stream's own; the body, the resources, type_url and control_plane,
 * may be shared by every stream sent the same resources. */
void xds_encode_response_head(Buf *b, const char *version_info, const char *nonce);
void xds_encode_response_body(Buf *b, AdsResource *const *r, size_t n, const char *type_url);
/* Appends a DeltaDiscoveryResponse to b. */
void xds_encode_delta_response(Buf *b, const char *system_version_info, AdsResource *const *r, size_t n,
                               const char *type_url, const char *nonce, char *const *removed, size_t n_removed);
