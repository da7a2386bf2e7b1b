/* SPDX-License-Identifier: MIT */
/* The xDS server's part of status.json (status.h has the rest):
 *   top level "ads" (absent when ads: is not configured):
 *     { "listen": S (where it serves, else the configured address),
 *       "serving": B, "error": S | null (why ads.listen is not taken:
 *       with serving, the previous listener still serves),
 *       "cert_not_after": N (over TLS: the server certificate's notAfter,
 *       seconds since the epoch; absent for a unix socket),
 *       "connections": N, "streams": N,
 *       "bytes": N,
 *       "unknown_nodes": [ { "id": S, "peer": S, "since_usec": N } ] }
 *   per node "ads" (only for nodes the server knows or has seen):
 *     { "known": B, "generation": N, "connected": B, "streams": N,
 *       "delta_streams": N, "connected_usec": N, "disconnected_usec": N,
 *       "peer": S | null, "pushing": B,
 *       "types": { "CDS": { "offered": S, "acked": S, "acked_usec": N,
 *                           "nacked": S | null, "nack_message": S | null,
 *                           "nacked_usec": N }, ... } }
 * The types are named as the protocol's short names (SDS, CDS, EDS, LDS,
 * SRDS, RDS, RTDS); a type no client subscribed to is absent. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "json.h"
#include "util.h"

typedef struct StatusAdsType {
        char *type;      /* "CDS" */
        char *offered;   /* "" none */
        char *acked;     /* "" none */
        int64_t acked_usec;
        char *nacked;    /* NULL: no NACK since the version changed */
        char *nack_message;
        int64_t nacked_usec;
} StatusAdsType;

typedef struct StatusAdsNode {
        bool known, connected, pushing;
        int64_t generation, streams, delta_streams, connected_usec, disconnected_usec;
        char *peer;
        StatusAdsType *types;
        size_t n_types;
} StatusAdsNode;

typedef struct StatusAdsUnknown {
        char *id, *peer;
        int64_t since_usec;
} StatusAdsUnknown;

typedef struct StatusAds {
        char *listen;
        bool serving; /* a listener is up (the configured one, or after a reload that failed, the previous one) */
        char *error;  /* why ads.listen is not taken; NULL: it is */
        int64_t connections, streams, bytes;
        int64_t cert_not_after; /* 0: no TLS */
        StatusAdsUnknown *unknown;
        size_t n_unknown;
} StatusAds;

StatusAdsType *status_ads_node_add_type(StatusAdsNode *n, const char *type);
void status_ads_node_free(StatusAdsNode *n);
void status_ads_free(StatusAds *a);
void status_ads_node_format(const StatusAdsNode *n, Buf *b);
void status_ads_format(const StatusAds *a, Buf *b);
/* NULL when j is not an object */
StatusAdsNode *status_ads_node_parse(const Json *j);
StatusAds *status_ads_parse(const Json *j);
