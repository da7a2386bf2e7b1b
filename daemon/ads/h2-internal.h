/* SPDX-License-Identifier: MIT */
/* What h2.c (server, listener, public calls), h2-conn.c (a connection:
 * socket I/O, the nghttp2 session, gRPC framing) and h2-tls.c (OpenSSL)
 * share. Nothing outside daemon/ads/h2*.c includes it. */
#pragma once

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "h2.h"

/* one queued response message (5-byte prefix included) */
typedef struct H2Chunk {
        struct H2Chunk *next;
        size_t len;
        /* bytes shared with the caller (h2_stream_send_shared()): ext, held
         * by ref until release(ref); NULL: the chunk's own data[] */
        const uint8_t *ext;
        void *ref;
        void (*release)(void *ref);
        uint8_t data[];
} H2Chunk;

typedef struct H2Conn H2Conn;

struct H2Stream {
        H2Conn *conn;
        H2Stream *prev, *next;
        int32_t id;
        void *data;

        /* request headers */
        char *path;
        bool method_post;
        bool content_type_grpc;

        bool taken;          /* stream_open took it: stream_closed owed */
        bool ended;          /* finished (by the user or the transport): no more sends */
        bool remote_closed;  /* the client's END_STREAM came */
        bool headers_submitted;
        bool deferred;       /* the data provider said DEFERRED */
        bool above_low_water;
        bool want_writable;  /* stream_writable owed once out of nghttp2 */
        bool close_deferred; /* closed by nghttp2 in a write-through: stream_closed and the free wait for the loop */
        uint64_t progress_usec; /* CLOCK_MONOTONIC: its queue last moved, or filled from empty */
        int status;          /* grpc-status of the trailers once ended */
        char *message;       /* grpc-message, NULL: none */

        /* the message being received: 5-byte prefix, then its body */
        uint8_t prefix[5];
        size_t prefix_len;
        uint8_t *body;
        size_t body_len, body_have, body_alloc;
        bool in_body;

        /* queued output */
        H2Chunk *head, *tail;
        size_t head_off;
        size_t queued;
};

struct H2Conn {
        H2Server *server;
        H2Conn *prev, *next;
        int fd;
        sd_event_source *io;
        sd_event_source *timer;
        SSL *ssl;
        bool handshaking;
        bool flushing; /* in a write-through conn_flush() (conn_kick()) */
        nghttp2_session *session;
        size_t session_bytes; /* what nghttp2 holds, through h2_mem */

        H2Peer peer;
        char description[96];

        uint8_t *out;
        size_t out_len, out_alloc;

        H2Stream *streams;
        size_t n_streams;

        uint64_t accepted_usec;
        uint64_t last_recv_usec;
        bool ping_outstanding;
        uint64_t ping_sent_usec;
        bool writable_pending;
        bool dead; /* close at the end of the handler */
        bool freeing;
};

typedef struct H2Listener {
        H2Server *server;
        char *address;
        int fd;
        sd_event_source *io;
        SSL_CTX *ssl_ctx;
        int64_t cert_not_after; /* ssl_ctx's certificate's, read once at load (status asks often) */
        char *unix_path; /* the socket file to remove, when dev/ino still match */
        dev_t dev;
        ino_t ino;
        sd_event_source *pause; /* out of fds at accept: accepting again when it fires */
} H2Listener;

struct H2Server {
        sd_event *event;
        H2Callbacks cb;
        void *userdata;
        H2Limits limits;
        H2Listener *listener;
        H2Conn *conns;
        size_t n_connections;
        size_t n_streams;
        bool dispatching; /* in on_io(): nghttp2 and its callbacks may be on the stack */
        size_t queued_total; /* every stream's queued bytes (H2Limits.max_queued) */
        sd_event_source *closes; /* defer: the closes of write-throughs, told from the loop */
};

/* h2-conn.c: the streams closed during write-throughs, told and freed */
int h2_server_closes(sd_event_source *src, void *ud);

/* h2-conn.c */
int h2_conn_new(H2Server *server, int fd, SSL_CTX *ssl_ctx, const char *description, const struct ucred *cred);
H2Conn *h2_conn_free(H2Conn *c);
size_t h2_conn_bytes(const H2Conn *c);

/* h2-tls.c */
int h2_tls_context(const H2Tls *tls, SSL_CTX **ret, char **ret_error);
/* the server certificate's notAfter (seconds since the epoch), 0: none */
int64_t h2_tls_not_after(SSL_CTX *ctx);
/* what a TLS connection is estimated to hold beyond nghttp2 and our buffers */
size_t h2_tls_bytes(const SSL *ssl);
/* 1: done, 0: wants I/O (*ret_events), < 0: failed; *ret_reason (free())
 * says why when the client was refused (not when it just went away) */
int h2_tls_handshake(SSL *ssl, uint32_t *ret_events, char **ret_reason);
/* bytes, -EAGAIN, or -errno (0 on read: the peer closed) */
ssize_t h2_tls_read(SSL *ssl, void *buf, size_t len);
ssize_t h2_tls_write(SSL *ssl, const void *buf, size_t len);
/* subject CN then DNS and URI subjectAltNames of the verified peer
 * certificate, NULL-terminated (never NULL on success) */
int h2_tls_peer_names(SSL *ssl, char ***ret);
