/* SPDX-License-Identifier: MIT */
/* Inside the xDS server: the node and stream records that xds.c (the
 * server, its nodes, the h2.h callbacks, status) and xds-stream.c (one
 * stream's protocol: requests, subscriptions, ACK/NACK, the push) share.
 * The transport is h2.h and nothing else, so a test that links its own
 * h2_* functions drives a stream exactly as the real transport would:
 * stream_open, stream_message, stream_writable, stream_closed; the ACK
 * timer's handler is xds_stream_ack_timeout(). */
#pragma once

#include "xds.h"

typedef struct XdsStream XdsStream;
typedef struct XdsNode XdsNode;

/* A (type, name, version) a node's delta client NACKed. */
typedef struct XdsDeltaNack {
        AdsType type;
        char *name;
        char version[17];
} XdsDeltaNack;

struct XdsNode {
        char *id;
        AdsSnapshot *snap; /* NULL: unknown */
        AdsTypeStatus types[_ADS_TYPE_MAX];
        XdsDeltaNack *dnack;
        size_t n_dnack;
        XdsStream *streams;
        size_t n_streams, n_delta;
        uint64_t connected_usec, disconnected_usec;
        char *peer;
};

/* A sorted list of (name, version). */
typedef struct XdsKnown {
        char **names, **versions;
        size_t n;
} XdsKnown;

/* One stream's state for one type. */
typedef struct XdsSub {
        bool seen;           /* a request of the type came */
        bool wildcard;
        bool legacy_wildcard; /* SotW: the first request named nothing */
        char **names;        /* sorted, unique, without "*" */
        size_t n_names;
        bool sub_changed;    /* the subscription changed since the type's last response */
        bool added;          /* SotW: ... and named something it did not (resent even if unchanged) */
        bool want_reply;     /* a current request asks for a response */
        /* SotW: the last response's resources */
        AdsResource **sent;
        size_t n_sent;
        bool sent_once;
        char sent_version[17];
        char nonce[24];      /* the latest nonce sent for the type ("": none) */
        bool pending;        /* that response is neither ACKed nor NACKed */
        bool push_step;      /* it is the push step the stream waits for */
        bool timed_out;      /* its ack_timeout passed: it no longer holds the type back */
        /* delta */
        XdsKnown known;      /* what the client has; version "": told it does not exist */
        XdsKnown undo;       /* known entries before the pending response (version NULL: none) */
        XdsKnown pend;       /* the pending response's (name, version) */
} XdsSub;

struct XdsStream {
        AdsServer *server;
        H2Stream *h2;
        XdsStream *next, *prev;           /* the server's */
        XdsStream *node_next, *node_prev; /* the node's */
        XdsNode *node;
        char *node_id;
        const H2Peer *peer;
        bool delta;
        AdsType only;        /* a per-type service's type; _ADS_TYPE_INVALID for ADS */
        bool finished;
        uint64_t nonce_counter;
        /* the push */
        bool pushing, restart, waiting;
        int pass;            /* 1: make (nothing the client has is removed), 2: break */
        int step;            /* the next type to look at */
        AdsType wait_type;
        sd_event_source *timer;
        XdsSub sub[_ADS_TYPE_MAX];
};

/* xds.c, for xds-stream.c */
sd_event *xds_server_event(AdsServer *s);
uint64_t xds_server_ack_timeout(AdsServer *s);
size_t xds_server_low_water(AdsServer *s);
void xds_emit(XdsStream *st, AdsEventKind kind, AdsType type, const char *version, const char *message);
/* The node of that id (made when missing); attaches the stream. */
void xds_stream_attach(XdsStream *st, const char *node_id);
/* Ends the stream with status (once), detaching it from its node. */
void xds_stream_end(XdsStream *st, int grpc_status, const char *message, bool refused);

/* xds-stream.c */
XdsStream *xds_stream_new(AdsServer *s, H2Stream *h2, const H2Peer *peer, bool delta, AdsType only);
XdsStream *xds_stream_free(XdsStream *st);
void xds_stream_message(XdsStream *st, const uint8_t *msg, size_t len);
/* Sends what the stream is due and the push allows. */
void xds_stream_pump(XdsStream *st);
/* The node's snapshot changed: (re)start the push. */
void xds_stream_snapshot_changed(XdsStream *st);
void xds_stream_ack_timeout(XdsStream *st);
void xds_known_free(XdsKnown *k);
/* The path's service: 0, or -ENOENT. */
int xds_path_lookup(const char *path, bool *ret_delta, AdsType *ret_only);
