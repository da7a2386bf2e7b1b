/* SPDX-License-Identifier: MIT */
/* fsxdsd's xDS server: Envoy's aggregated discovery service (state of the
 * world and delta) and the per-type services, on the gRPC transport of
 * h2.h, serving each node the snapshot the daemon last set for it.
 *
 * The daemon calls ads_server_set_snapshot() after each generation that
 * changed a node's ADS build; every stream of that node then gets the new
 * generation pushed type by type in the xDS protocol's make-before-break
 * order (ADS_TYPE_* order below: secrets, clusters, endpoints, listeners,
 * scoped routes, routes, runtime), each step waiting for the client's ACK
 * (or NACK, or ack_timeout) before the next, with removals (clusters and
 * endpoints that the old generation had and the new one has not) in a
 * last step. What a client ACKs and NACKs is kept per node and type for
 * status (ads_server_foreach_node()) and told as events. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "h2.h"

/* The types served, in push order. */
typedef enum AdsType {
        ADS_TYPE_SECRET,       /* envoy.extensions.transport_sockets.tls.v3.Secret */
        ADS_TYPE_CLUSTER,      /* envoy.config.cluster.v3.Cluster */
        ADS_TYPE_ENDPOINT,     /* envoy.config.endpoint.v3.ClusterLoadAssignment */
        ADS_TYPE_LISTENER,     /* envoy.config.listener.v3.Listener */
        ADS_TYPE_SCOPED_ROUTE, /* envoy.config.route.v3.ScopedRouteConfiguration */
        ADS_TYPE_ROUTE,        /* envoy.config.route.v3.RouteConfiguration */
        ADS_TYPE_RUNTIME,      /* envoy.service.runtime.v3.Runtime */
        _ADS_TYPE_MAX,
        _ADS_TYPE_INVALID = -1,
} AdsType;

/* "type.googleapis.com/envoy.config.cluster.v3.Cluster" */
const char *ads_type_url(AdsType t);
AdsType ads_type_from_url(const char *type_url);
/* "SDS", "CDS", "EDS", "LDS", "SRDS", "RDS", "RTDS" */
const char *ads_type_short(AdsType t);
/* Whether a subscription with no names is a wildcard (LDS, CDS, SRDS, and
 * the others never: a state-of-the-world request naming none of them is
 * a subscription to nothing). */
bool ads_type_wildcard_default(AdsType t);

/* One resource as served, shared by reference count between the
 * snapshots (of every node) that hold it. */
typedef struct AdsResource {
        unsigned refs;
        char *name;
        /* the google.protobuf.Any message (type_url = 1, value = 2), as a
         * DiscoveryResponse's resources entry holds it */
        uint8_t *any;
        size_t any_len;
        char version[17]; /* hex of SHA-256(any)'s first 8 bytes: the delta protocol's resource version */
} AdsResource;

typedef struct AdsTypeSet {
        AdsResource **r; /* sorted by name (strcmp), no two alike */
        size_t n;
        /* the set's content hash: hex of the first 8 bytes of SHA-256 over
         * every (name NUL version NUL) in order; "" for a set that is empty */
        char version[17];
        /* the body of a state-of-the-world response holding the whole set
         * (xds_encode_response_body()), made on first use and shared by
         * every stream sent it (h2_stream_send_shared()); freed with the
         * snapshot */
        uint8_t *sotw_body;
        size_t sotw_body_len;
} AdsTypeSet;

/* What a node is served: one generation of its ADS build. Immutable once
 * made, shared by reference count (the server keeps the previous one of a
 * node while a push is in flight). */
typedef struct AdsSnapshot {
        unsigned refs;
        uint64_t generation;
        AdsTypeSet types[_ADS_TYPE_MAX];
} AdsSnapshot;

AdsResource *ads_resource_ref(AdsResource *r);
AdsResource *ads_resource_unref(AdsResource *r);
AdsSnapshot *ads_snapshot_ref(AdsSnapshot *s);
AdsSnapshot *ads_snapshot_unref(AdsSnapshot *s);
/* Sorts each set's resources and computes its version (the resources'
 * versions must be set); the snapshot is then ready to serve. */
void ads_snapshot_seal(AdsSnapshot *s);
/* A resource by name, NULL when the set has none. */
AdsResource *ads_type_set_find(const AdsTypeSet *t, const char *name);

typedef enum AdsEventKind {
        ADS_EVENT_CONNECTED,    /* a stream said which node it is */
        ADS_EVENT_DISCONNECTED, /* that stream is over (message: why, or NULL) */
        ADS_EVENT_UNKNOWN_NODE, /* its node has no snapshot: nothing is sent until it has */
        ADS_EVENT_REFUSED,      /* refused (message: why: a TLS handshake refused, a client certificate not naming the node, a malformed request) */
        ADS_EVENT_ACK,          /* version: the type's version (SotW) or system version (delta) ACKed */
        ADS_EVENT_NACK,         /* version: the one refused; message: the client's error_detail.message */
        ADS_EVENT_ACK_TIMEOUT,  /* version: sent, neither ACKed nor NACKed within ack_timeout: the push went on */
} AdsEventKind;

typedef struct AdsEvent {
        AdsEventKind kind;
        const char *node_id; /* NULL before the node is known */
        AdsType type;        /* _ADS_TYPE_INVALID for stream events */
        const char *version;
        const char *message;
        const char *peer;    /* H2Peer.description */
        bool delta;          /* a delta stream */
        bool connection;     /* ADS_EVENT_REFUSED: a connection, before any stream (no node, no certificate
                              * known good: anyone can make these) */
} AdsEvent;

typedef struct AdsOptions {
        uint64_t ack_timeout_usec; /* default 10 s */
        H2Limits limits;           /* h2.h's defaults for 0s */
        /* over TLS, a stream whose node.id is not among its client
         * certificate's names is refused (PERMISSION_DENIED) */
        void (*on_event)(void *userdata, const AdsEvent *ev);
        void *userdata;
} AdsOptions;

typedef struct AdsServer AdsServer;

int ads_server_new(sd_event *e, const AdsOptions *o, AdsServer **ret);
AdsServer *ads_server_free(AdsServer *s);
/* h2_server_listen() */
int ads_server_listen(AdsServer *s, const char *address, const H2Tls *tls, mode_t mode, gid_t gid, char **ret_error);
void ads_server_set_ack_timeout(AdsServer *s, uint64_t usec);

/* The node's snapshot from now on (takes a reference): its streams get
 * the change pushed in order; streams waiting for an unknown node start.
 * A type whose version a stream of the node NACKed is not offered to that
 * node again until the version changes. */
void ads_server_set_snapshot(AdsServer *s, const char *node_id, AdsSnapshot *snap);
/* The node's snapshot, NULL when none is set. */
AdsSnapshot *ads_server_get_snapshot(AdsServer *s, const char *node_id);
/* fsxds forget: the node is unknown again; its streams end (NOT_FOUND)
 * and its feedback is dropped. */
void ads_server_forget_node(AdsServer *s, const char *node_id);

/* Per node and type, what its clients were offered, ACKed and NACKed. */
typedef struct AdsTypeStatus {
        char offered[17];      /* the last version sent ("": none) */
        char acked[17];        /* the last version ACKed ("": none) */
        uint64_t acked_usec;   /* CLOCK_REALTIME */
        char nacked[17];       /* the last version NACKed ("": none since the node's snapshot changed) */
        char *nack_message;    /* its error_detail.message */
        uint64_t nacked_usec;
        bool subscribed;       /* a stream of the node asked for the type */
} AdsTypeStatus;

typedef struct AdsNodeStatus {
        const char *node_id;
        bool known;            /* a snapshot is set */
        uint64_t generation;   /* the snapshot's */
        size_t n_streams;      /* open now */
        size_t n_delta;        /* of which delta */
        uint64_t connected_usec;    /* the last stream's start; 0: never connected */
        uint64_t disconnected_usec; /* when the last stream ended; 0 while one is open */
        const char *peer;      /* the last stream's H2Peer.description */
        bool pushing;          /* a generation is being pushed (waiting for an ACK) */
        AdsTypeStatus types[_ADS_TYPE_MAX];
} AdsNodeStatus;

/* Calls f for every node that has a snapshot or has had a stream, sorted
 * by id (nodes that connected without being known among them). */
void ads_server_foreach_node(AdsServer *s, void (*f)(void *userdata, const AdsNodeStatus *st), void *userdata);
size_t ads_server_n_streams(const AdsServer *s);
size_t ads_server_n_connections(const AdsServer *s);
size_t ads_server_bytes(const AdsServer *s);
/* the TCP listener's server certificate's notAfter (seconds since the
 * epoch); 0: a unix socket */
int64_t ads_server_cert_not_after(const AdsServer *s);
