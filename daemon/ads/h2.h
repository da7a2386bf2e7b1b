/* SPDX-License-Identifier: MIT */
/* A gRPC server transport on the sd-event loop: listening sockets (a unix
 * socket, or TCP with TLS and client certificates), connections driven by
 * libnghttp2, and gRPC's length-prefixed messages both ways. It knows
 * nothing of xDS: a stream is a path, messages in, messages out, and a
 * status at the end. No threads; nothing here ever blocks the loop.
 *
 * Bounds: a connection holds at most H2Limits.max_streams streams
 * (SETTINGS_MAX_CONCURRENT_STREAMS, and a stream past it is refused); a
 * request message is at most max_message bytes (past it the stream ends
 * with RESOURCE_EXHAUSTED); a stream's unsent output is what its user
 * queued, which h2_stream_queued() tells so that the user queues no more
 * than it must (HTTP/2 flow control decides when it leaves). A connection
 * that answers no PING within keepalive_timeout is closed. A malformed
 * frame or message ends its stream (or, for a connection-level protocol
 * error, its connection), never the server. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

typedef struct H2Server H2Server;
typedef struct H2Stream H2Stream;

/* gRPC status codes used here (grpc/doc/statuscodes.md) */
enum {
        GRPC_STATUS_OK = 0,
        GRPC_STATUS_CANCELLED = 1,
        GRPC_STATUS_INVALID_ARGUMENT = 3,
        GRPC_STATUS_NOT_FOUND = 5,
        GRPC_STATUS_PERMISSION_DENIED = 7,
        GRPC_STATUS_RESOURCE_EXHAUSTED = 8,
        GRPC_STATUS_FAILED_PRECONDITION = 9,
        GRPC_STATUS_UNIMPLEMENTED = 12,
        GRPC_STATUS_INTERNAL = 13,
        GRPC_STATUS_UNAVAILABLE = 14,
        GRPC_STATUS_UNAUTHENTICATED = 16,
};

/* Who is at the other end of a connection. */
typedef struct H2Peer {
        const char *description; /* "unix pid 4242 uid 0", "tcp 127.0.0.1:50412" */
        bool tls;
        /* over TLS, the verified client certificate's names: subject CN,
         * then every DNS and URI subjectAltName, NULL-terminated */
        char **cert_names;
        pid_t pid; /* unix sockets (SO_PEERCRED); 0 otherwise */
        uid_t uid;
        gid_t gid;
} H2Peer;

typedef struct H2Callbacks {
        /* A stream asks for :path (e.g.
         * "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources").
         * Return 0 and set *ret_data to take it; or a GRPC_STATUS_* > 0 to
         * refuse it (answered with that status and no message). */
        int (*stream_open)(void *userdata, H2Stream *s, const char *path, const H2Peer *peer, void **ret_data);
        /* One whole request message (never compressed: a compressed one
         * ends the stream with UNIMPLEMENTED before it gets here). */
        void (*stream_message)(void *userdata, H2Stream *s, void *data, const uint8_t *msg, size_t len);
        /* What the stream had queued went out below H2Limits.low_water
         * (after h2_stream_queued() was above it): it may take more. */
        void (*stream_writable)(void *userdata, H2Stream *s, void *data);
        /* The stream is over: ended by either side, reset, or its
         * connection gone. s and data are not used again after this. */
        void (*stream_closed)(void *userdata, H2Stream *s, void *data);
        /* Optional: a connection was refused before it could carry a
         * stream: past the connection limit at accept, a TLS handshake
         * refused (reason: OpenSSL's, e.g. "client certificate:
         * certificate has expired", or the alert the client ended it
         * with) or not done within handshake_timeout_usec. Not called for
         * a client that just went away (a port probe). */
        void (*conn_refused)(void *userdata, const H2Peer *peer, const char *reason);
} H2Callbacks;

typedef struct H2Limits {
        uint32_t max_streams;        /* concurrent streams per connection; default 100 */
        size_t max_connections;      /* default 1024; a connection past it, or past half the fds the process may have, is closed at accept */
        size_t max_message;          /* bytes of one request message; default 4 MiB */
        size_t low_water;            /* stream_writable when the queue drops below it; default 64 KiB */
        uint64_t keepalive_usec;     /* a PING after this long without a frame; default 30 s; UINT64_MAX: none */
        uint64_t keepalive_timeout_usec; /* close when its ACK is not back by then; default 20 s */
        /* a TLS connection whose handshake is not done by then is closed
         * (conn_refused), so stalled handshakes cannot hold the
         * connection slots for long; default 5 s */
        uint64_t handshake_timeout_usec;
        /* bytes queued on all streams, unsent; past it, the stream whose
         * queue has not moved for the longest (a client that does not
         * read) is ended with RESOURCE_EXHAUSTED, and so on until under
         * it; default 256 MiB */
        size_t max_queued;
} H2Limits;

typedef struct H2Tls {
        const char *cert;      /* PEM: the server's certificate (and chain) */
        const char *key;       /* PEM */
        const char *client_ca; /* PEM: clients must present a certificate under it */
} H2Tls;

/* limits NULL: the defaults; a 0 in a field: its default. */
int h2_server_new(sd_event *e, const H2Callbacks *cb, void *userdata, const H2Limits *limits, H2Server **ret);
/* Closes every connection (streams get stream_closed) and the listeners.
 * Not from inside one of its callbacks. */
H2Server *h2_server_free(H2Server *s);

/* Listens on address, "unix:/run/fsxds/ads.sock" or "HOST:PORT"
 * ("127.0.0.1:18000", "[::1]:18000"); TCP requires tls and a unix socket
 * takes none (-EINVAL otherwise). A unix socket's stale file is replaced,
 * its mode set to mode and its group to gid (gid (gid_t) -1: left).
 * Replaces the listener a previous call made, if any (a reload): the
 * connections it accepted stay. The TLS context is loaded here, so a bad
 * certificate or key is -errno with *ret_error saying which file and why
 * (free()); the previous listener then stays. */
int h2_server_listen(H2Server *s, const char *address, const H2Tls *tls, mode_t mode, gid_t gid, char **ret_error);
/* Loads the TLS files as h2_server_listen() would, and nothing else:
 * 0, or -errno with *ret_error saying which file and why (fsxdsd
 * --check-config). */
int h2_tls_check(const H2Tls *tls, char **ret_error);

/* Connections and streams open now (status, benchmarks). */
size_t h2_server_n_connections(const H2Server *s);
size_t h2_server_n_streams(const H2Server *s);
/* Bytes held for all connections: nghttp2's sessions, TLS, buffers. */
size_t h2_server_bytes(const H2Server *s);
/* The listener's server certificate's notAfter (seconds since the
 * epoch); 0 without TLS. */
int64_t h2_server_cert_not_after(const H2Server *s);

/* Queues one message on the stream (response headers go out with the
 * first). Returns 0, or -EPIPE when the stream is already over. Never
 * blocks; the caller bounds what it queues with h2_stream_queued(). */
int h2_stream_send(H2Stream *s, const uint8_t *msg, size_t len);
/* One message of head then body (one message, one length prefix), with
 * body not copied: it is shared with the caller, who holds it by ref for
 * the stream (hold(ref) is called once here) until release(ref) once
 * the bytes are out or the stream is over. So one encoded response can
 * be queued on many streams (stalled ones included) at the cost of its
 * head on each. Returns as h2_stream_send(). */
int h2_stream_send_shared(H2Stream *s, const uint8_t *head, size_t head_len, const uint8_t *body, size_t body_len,
                          void *ref, void (*hold)(void *ref), void (*release)(void *ref));
/* Bytes queued and not yet handed to the socket. */
size_t h2_stream_queued(const H2Stream *s);
/* Ends the stream with trailers grpc-status (and grpc-message when
 * message is not NULL) once what is queued is out; stream_closed follows. */
void h2_stream_finish(H2Stream *s, int grpc_status, const char *message);
const H2Peer *h2_stream_peer(const H2Stream *s);
