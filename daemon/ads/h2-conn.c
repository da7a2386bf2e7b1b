/* SPDX-License-Identifier: MIT */
/* One connection of the gRPC transport: its socket (plain or TLS) on the
 * sd-event loop, its nghttp2 server session, keepalive PINGs, and the
 * gRPC streams on it (length-prefixed messages in, queued messages out
 * under HTTP/2 flow control, trailers at the end). User callbacks run
 * from nghttp2's callbacks while it reads (stream_open, stream_message,
 * stream_closed) or sends (stream_closed, once a reset went out), once
 * nghttp2 is done sending (stream_writable), or as the connection closes
 * (stream_closed); never while a callback of the same connection runs. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "h2-internal.h"
#include "util.h"

/* unsent bytes past which nothing more is taken from nghttp2 */
#define OUT_HIGH (64 * 1024)
/* bytes written in one dispatch, so that a fast reader of a flood does
 * not keep the loop to itself */
#define WRITE_BUDGET (1024 * 1024)
#define READ_BUF (16 * 1024)

/* nghttp2's allocations, counted per session: each block carries its
 * size in front of it */
typedef union {
        size_t size;
        max_align_t align;
} MemHeader;

static void *mem_malloc(size_t size, void *ud) {
        H2Conn *c = ud;
        MemHeader *h = malloc(sizeof(MemHeader) + size);

        if (!h)
                return NULL;
        h->size = size;
        c->session_bytes += size;
        return h + 1;
}

static void mem_free(void *p, void *ud) {
        H2Conn *c = ud;
        MemHeader *h;

        if (!p)
                return;
        h = (MemHeader *) p - 1;
        c->session_bytes -= h->size;
        free(h);
}

static void *mem_calloc(size_t n, size_t size, void *ud) {
        void *p;

        if (size && n > SIZE_MAX / size - sizeof(MemHeader))
                return NULL;
        p = mem_malloc(n * size, ud);
        if (p)
                memset(p, 0, n * size);
        return p;
}

static void *mem_realloc(void *p, size_t size, void *ud) {
        H2Conn *c = ud;
        MemHeader *h, *n;

        if (!p)
                return mem_malloc(size, ud);
        if (size == 0) {
                mem_free(p, ud);
                return NULL;
        }
        h = (MemHeader *) p - 1;
        size_t old = h->size;
        n = realloc(h, sizeof(MemHeader) + size);
        if (!n)
                return NULL;
        c->session_bytes = c->session_bytes - old + size;
        n->size = size;
        return n + 1;
}

static int conn_flush(H2Conn *c);

/* Something is queued for the connection. Called from outside the loop's
 * dispatch of this transport (the daemon setting a snapshot in the middle
 * of a rebuild, a timer of the user's), it is written at once, as far as
 * the socket takes it, not when the loop next polls, which can be a whole
 * rebuild later; inside on_io() (nghttp2's callbacks may be on the stack,
 * and nghttp2 must not be re-entered) only EPOLLOUT is asked for. */
static void conn_kick(H2Conn *c) {
        if (c->freeing || !c->io || c->handshaking)
                return;
        if (!c->server->dispatching && !c->flushing) {
                c->flushing = true;
                int r = conn_flush(c);
                c->flushing = false;
                if (r == 0 && c->out_len == 0 && !c->writable_pending)
                        return; /* all out; an error is left to on_io(), which closes */
        }
        (void) sd_event_source_set_io_events(c->io, EPOLLIN | EPOLLOUT);
}

/* ---- streams ---- */

static H2Stream *stream_new(H2Conn *c, int32_t id) {
        H2Stream *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->conn = c;
        s->id = id;
        s->next = c->streams;
        if (c->streams)
                c->streams->prev = s;
        c->streams = s;
        c->n_streams++;
        c->server->n_streams++;
        return s;
}

static void chunk_free(H2Chunk *k) {
        if (k->release)
                k->release(k->ref);
        free(k);
}

static void stream_drop_queue(H2Stream *s) {
        s->conn->server->queued_total -= s->queued;
        while (s->head) {
                H2Chunk *k = s->head;
                s->head = k->next;
                chunk_free(k);
        }
        s->tail = NULL;
        s->head_off = 0;
        s->queued = 0;
}

static void stream_notify_closed(H2Stream *s) {
        const H2Callbacks *cb = &s->conn->server->cb;

        if (!s->taken)
                return;
        s->taken = false;
        s->ended = true;
        if (cb->stream_closed)
                cb->stream_closed(s->conn->server->userdata, s, s->data);
}

static void stream_free(H2Stream *s) {
        H2Conn *c = s->conn;

        if (s->prev)
                s->prev->next = s->next;
        else
                c->streams = s->next;
        if (s->next)
                s->next->prev = s->prev;
        c->n_streams--;
        c->server->n_streams--;
        stream_drop_queue(s);
        free(s->path);
        free(s->message);
        free(s->body);
        free(s);
}

/* grpc-message: percent-encoded, everything outside 0x20..0x7e and '%' */
static char *percent_encode(const char *m) {
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(m);
        char *out = malloc(3 * n + 1), *p = out;

        if (!out)
                return NULL;
        for (const unsigned char *q = (const unsigned char *) m; *q; q++)
                if (*q >= 0x20 && *q <= 0x7e && *q != '%')
                        *p++ = (char) *q;
                else {
                        *p++ = '%';
                        *p++ = hex[*q >> 4];
                        *p++ = hex[*q & 15];
                }
        *p = 0;
        return out;
}

#define NV(n, v)                                                                                             \
        ((nghttp2_nv) { (uint8_t *) (n), (uint8_t *) (v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NO_COPY_NAME })

/* trailers (or a trailers-only response, with_headers) for s->status and
 * s->message; submit_response or submit_trailer copies what it needs */
static int submit_status(H2Stream *s, bool with_headers, const char *http_status) {
        _cleanup_free_ char *encoded = NULL;
        char status[16];
        nghttp2_nv nv[4];
        size_t n = 0;

        if (with_headers) {
                nv[n++] = NV(":status", http_status);
                nv[n++] = NV("content-type", "application/grpc");
        }
        snprintf(status, sizeof(status), "%d", s->status);
        nv[n++] = NV("grpc-status", status);
        if (s->message) {
                encoded = percent_encode(s->message);
                if (!encoded)
                        return -ENOMEM;
                nv[n++] = NV("grpc-message", encoded);
        }
        if (with_headers)
                return nghttp2_submit_response(s->conn->session, s->id, nv, n, NULL);
        return nghttp2_submit_trailer(s->conn->session, s->id, nv, n);
}

/* Ends the stream with status once what is queued is out (the transport's
 * own errors drop the queue first). */
static void stream_end(H2Stream *s, int status, const char *message, const char *http_status) {
        if (s->ended)
                return;
        s->ended = true;
        s->status = status;
        s->message = message ? strdup(message) : NULL;
        if (!s->headers_submitted) {
                s->headers_submitted = true;
                if (submit_status(s, true, http_status) < 0)
                        (void) nghttp2_submit_rst_stream(s->conn->session, NGHTTP2_FLAG_NONE, s->id,
                                                         NGHTTP2_INTERNAL_ERROR);
        } else if (s->deferred) {
                s->deferred = false;
                (void) nghttp2_session_resume_data(s->conn->session, s->id);
        }
        conn_kick(s->conn);
}

static void stream_fail(H2Stream *s, int status, const char *message) {
        if (s->ended)
                return;
        stream_drop_queue(s);
        free(s->body);
        s->body = NULL;
        s->in_body = false;
        stream_end(s, status, message, "200");
}

static ssize_t data_read(nghttp2_session *session, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                         nghttp2_data_source *source, void *ud) {
        H2Stream *s = source->ptr;
        H2Conn *c = ud;
        size_t n = 0;

        (void) session;
        (void) id;
        while (n < length && s->head) {
                H2Chunk *k = s->head;
                size_t m = MIN(length - n, k->len - s->head_off);
                memcpy(buf + n, (k->ext ? k->ext : k->data) + s->head_off, m);
                n += m;
                s->head_off += m;
                if (s->head_off == k->len) {
                        s->head = k->next;
                        if (!s->head)
                                s->tail = NULL;
                        s->head_off = 0;
                        chunk_free(k);
                }
        }
        s->queued -= n;
        c->server->queued_total -= n;
        if (n > 0)
                (void) sd_event_now(c->server->event, CLOCK_MONOTONIC, &s->progress_usec);
        if (s->above_low_water && s->queued < c->server->limits.low_water) {
                s->above_low_water = false;
                s->want_writable = true;
                c->writable_pending = true;
        }
        if (!s->head && s->ended) {
                if (submit_status(s, false, NULL) < 0)
                        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
                *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
                return (ssize_t) n;
        }
        if (n > 0)
                return (ssize_t) n;
        s->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
}

static int submit_headers(H2Stream *s) {
        nghttp2_nv nv[] = { NV(":status", "200"), NV("content-type", "application/grpc") };
        nghttp2_data_provider prd = { .source.ptr = s, .read_callback = data_read };

        s->headers_submitted = true;
        return nghttp2_submit_response(s->conn->session, s->id, nv, ELEMENTSOF(nv), &prd);
}

/* Past max_queued: the streams whose queue has not moved for the longest
 * (clients that do not read) end, RESOURCE_EXHAUSTED, until the total is
 * under it again; never keep, the one just queued on. Each such stream
 * held one response at most (the user queues no more), so this bounds
 * what many stalled clients hold together. */
static void evict_stalled(H2Server *server, H2Stream *keep) {
        while (server->queued_total > server->limits.max_queued) {
                H2Stream *victim = NULL;
                for (H2Conn *c = server->conns; c; c = c->next)
                        for (H2Stream *s = c->streams; s; s = s->next)
                                if (s != keep && s->queued > 0 && !s->ended &&
                                    (!victim || s->progress_usec < victim->progress_usec))
                                        victim = s;
                if (!victim)
                        return;
                stream_fail(victim, GRPC_STATUS_RESOURCE_EXHAUSTED,
                            "the client does not read: what is queued for it took the server past its budget");
        }
}

/* Appends a chunk to the stream's queue and gets it going. */
static int stream_queue(H2Stream *s, H2Chunk *k) {
        k->next = NULL;
        if (s->tail)
                s->tail->next = k;
        else
                s->head = k;
        s->tail = k;
        if (s->queued == 0)
                (void) sd_event_now(s->conn->server->event, CLOCK_MONOTONIC, &s->progress_usec);
        s->queued += k->len;
        s->conn->server->queued_total += k->len;
        if (s->queued >= s->conn->server->limits.low_water)
                s->above_low_water = true;
        evict_stalled(s->conn->server, s);
        return 0;
}

/* The stream's message chunk: the 5-byte prefix of a message of total
 * bytes, then head; NULL on ENOMEM. */
static H2Chunk *chunk_new(size_t total, const uint8_t *head, size_t head_len) {
        H2Chunk *k = calloc(1, sizeof(H2Chunk) + 5 + head_len);
        if (!k)
                return NULL;
        k->len = 5 + head_len;
        k->data[0] = 0;
        k->data[1] = (uint8_t) (total >> 24);
        k->data[2] = (uint8_t) (total >> 16);
        k->data[3] = (uint8_t) (total >> 8);
        k->data[4] = (uint8_t) total;
        if (head_len)
                memcpy(k->data + 5, head, head_len);
        return k;
}

static int stream_kick(H2Stream *s) {
        if (!s->headers_submitted) {
                if (submit_headers(s) < 0) {
                        stream_fail(s, GRPC_STATUS_INTERNAL, "cannot submit the response");
                        return -EPIPE;
                }
        } else if (s->deferred) {
                s->deferred = false;
                (void) nghttp2_session_resume_data(s->conn->session, s->id);
        }
        conn_kick(s->conn);
        return 0;
}

int h2_stream_send(H2Stream *s, const uint8_t *msg, size_t len) {
        if (s->ended || s->conn->freeing)
                return -EPIPE;
        if (len > UINT32_MAX)
                return -EMSGSIZE;
        H2Chunk *k = chunk_new(len, msg, len);
        if (!k)
                return -ENOMEM;
        stream_queue(s, k);
        return stream_kick(s);
}

int h2_stream_send_shared(H2Stream *s, const uint8_t *head, size_t head_len, const uint8_t *body, size_t body_len,
                          void *ref, void (*hold)(void *ref), void (*release)(void *ref)) {
        if (s->ended || s->conn->freeing)
                return -EPIPE;
        if (head_len + body_len > UINT32_MAX)
                return -EMSGSIZE;
        H2Chunk *k = chunk_new(head_len + body_len, head, head_len);
        H2Chunk *b = k ? calloc(1, sizeof(H2Chunk)) : NULL;
        if (!b) {
                free(k);
                return -ENOMEM;
        }
        b->len = body_len;
        b->ext = body;
        b->ref = ref;
        b->release = release;
        hold(ref);
        stream_queue(s, k);
        if (body_len > 0)
                stream_queue(s, b);
        else
                chunk_free(b);
        return stream_kick(s);
}

size_t h2_stream_queued(const H2Stream *s) {
        return s->queued;
}

void h2_stream_finish(H2Stream *s, int grpc_status, const char *message) {
        if (s->ended || s->conn->freeing)
                return;
        stream_end(s, grpc_status, message, "200");
}

const H2Peer *h2_stream_peer(const H2Stream *s) {
        return &s->conn->peer;
}

/* ---- nghttp2 callbacks ---- */

static bool is_request(const nghttp2_frame *frame) {
        return frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST;
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *ud) {
        H2Conn *c = ud;
        H2Stream *s;

        if (!is_request(frame))
                return 0;
        /* nghttp2 enforces our SETTINGS once the client ACKed them; before
         * that, this does */
        if (c->n_streams >= c->server->limits.max_streams)
                return nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                                 NGHTTP2_REFUSED_STREAM) < 0
                               ? NGHTTP2_ERR_CALLBACK_FAILURE
                               : 0;
        s = stream_new(c, frame->hd.stream_id);
        if (!s)
                return NGHTTP2_ERR_CALLBACK_FAILURE;
        if (nghttp2_session_set_stream_user_data(session, s->id, s) < 0) {
                stream_free(s);
                return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud) {
        H2Stream *s;

        (void) flags;
        (void) ud;
        if (!is_request(frame))
                return 0;
        s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        if (!s)
                return 0;
        if (strneq_len((const char *) name, namelen, ":method"))
                s->method_post = strneq_len((const char *) value, valuelen, "POST");
        else if (strneq_len((const char *) name, namelen, ":path")) {
                free(s->path);
                s->path = strndup((const char *) value, valuelen);
                if (!s->path)
                        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        } else if (strneq_len((const char *) name, namelen, "content-type")) {
                static const char grpc[] = "application/grpc";
                size_t n = sizeof(grpc) - 1;
                s->content_type_grpc = valuelen >= n && memcmp(value, grpc, n) == 0 &&
                                       (valuelen == n || value[n] == '+' || value[n] == ';');
        }
        return 0;
}

static void stream_start(H2Stream *s) {
        H2Server *server = s->conn->server;
        void *data = NULL;
        int r;

        if (!s->content_type_grpc)
                return stream_end(s, GRPC_STATUS_UNIMPLEMENTED, "content-type is not application/grpc", "415");
        if (!s->method_post || !s->path)
                return stream_end(s, GRPC_STATUS_UNIMPLEMENTED, "a gRPC request is a POST", "200");
        r = server->cb.stream_open(server->userdata, s, s->path, &s->conn->peer, &data);
        if (r != 0) {
                /* stream_open may have sent or finished: the refusal wins */
                s->ended = false;
                free(s->message);
                s->message = NULL;
                stream_drop_queue(s);
                return stream_end(s, r > 0 ? r : GRPC_STATUS_INTERNAL, NULL, "200");
        }
        s->taken = true;
        s->data = data;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *ud) {
        H2Conn *c = ud;
        H2Stream *s;

        if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) {
                c->ping_outstanding = false;
                return 0;
        }
        if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
                return 0;
        s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        if (!s)
                return 0;
        if (is_request(frame) && !s->ended)
                stream_start(s);
        /* the client is done sending: a message cut short is an error; the
         * stream itself stays until its user finishes it */
        if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && s->taken && (s->in_body || s->prefix_len > 0))
                stream_fail(s, GRPC_STATUS_INTERNAL, "the request ended inside a message");
        return 0;
}

static void stream_feed(H2Stream *s, const uint8_t *data, size_t len) {
        H2Server *server = s->conn->server;

        while (len > 0 && !s->ended) {
                if (!s->in_body) {
                        size_t m = MIN(5 - s->prefix_len, len);
                        memcpy(s->prefix + s->prefix_len, data, m);
                        s->prefix_len += m;
                        data += m;
                        len -= m;
                        if (s->prefix_len < 5)
                                return;
                        uint32_t size = (uint32_t) s->prefix[1] << 24 | (uint32_t) s->prefix[2] << 16 |
                                        (uint32_t) s->prefix[3] << 8 | s->prefix[4];
                        if (s->prefix[0] & 1)
                                return stream_fail(s, GRPC_STATUS_UNIMPLEMENTED, "compressed messages are not supported");
                        if (size > server->limits.max_message) {
                                char m2[96];
                                snprintf(m2, sizeof(m2), "a message of %" PRIu32 " bytes is over the limit of %zu",
                                         size, server->limits.max_message);
                                return stream_fail(s, GRPC_STATUS_RESOURCE_EXHAUSTED, m2);
                        }
                        s->body_len = size;
                        s->body_have = 0;
                        s->body_alloc = 0;
                        s->in_body = true;
                }
                size_t m = MIN(s->body_len - s->body_have, len);
                /* the buffer grows with what came, not with what the
                 * prefix announced */
                if (s->body_have + m > s->body_alloc || !s->body) {
                        size_t a = MIN(s->body_len, MAX(s->body_have + m, MAX(2 * s->body_alloc, (size_t) 4096)));
                        uint8_t *b = realloc(s->body, MAX(a, (size_t) 1));
                        if (!b)
                                return stream_fail(s, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
                        s->body = b;
                        s->body_alloc = a;
                }
                memcpy(s->body + s->body_have, data, m);
                s->body_have += m;
                data += m;
                len -= m;
                if (s->body_have == s->body_len) {
                        _cleanup_free_ uint8_t *body = TAKE_PTR(s->body);
                        s->in_body = false;
                        s->prefix_len = 0;
                        if (server->cb.stream_message)
                                server->cb.stream_message(server->userdata, s, s->data, body, s->body_len);
                }
        }
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                              void *ud) {
        H2Stream *s = nghttp2_session_get_stream_user_data(session, id);

        (void) flags;
        (void) ud;
        if (s && s->taken && !s->ended)
                stream_feed(s, data, len);
        return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *ud) {
        (void) ud;
        /* our END_STREAM went out before the client's: reset the stream,
         * as gRPC servers do, so that it is over on both sides */
        if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
            (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
            nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0)
                (void) nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
        return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t id, uint32_t error_code, void *ud) {
        H2Stream *s = nghttp2_session_get_stream_user_data(session, id);
        H2Conn *c = ud;

        (void) error_code;
        if (!s)
                return 0;
        (void) nghttp2_session_set_stream_user_data(session, id, NULL);
        if (c->flushing) {
                /* a write-through runs under the user's own call (it may be
                 * walking its streams): the stream stays, ended, until the
                 * loop tells the user and frees it */
                s->ended = true;
                s->close_deferred = true;
                if (c->server->closes)
                        (void) sd_event_source_set_enabled(c->server->closes, SD_EVENT_ONESHOT);
                return 0;
        }
        stream_notify_closed(s);
        stream_free(s);
        return 0;
}

int h2_server_closes(sd_event_source *src, void *ud) {
        H2Server *server = ud;

        (void) src;
        for (H2Conn *c = server->conns; c; c = c->next)
                for (H2Stream *s = c->streams, *next; s; s = next) {
                        next = s->next;
                        if (s->close_deferred) {
                                stream_notify_closed(s);
                                stream_free(s);
                        }
                }
        return 0;
}

static int session_start(H2Conn *c) {
        nghttp2_session_callbacks *cbs = NULL;
        nghttp2_mem mem = { c, mem_malloc, mem_free, mem_calloc, mem_realloc };
        nghttp2_settings_entry settings[] = {
                { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->server->limits.max_streams },
                { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 64 * 1024 },
        };
        int r;

        if (nghttp2_session_callbacks_new(&cbs) != 0)
                return -ENOMEM;
        nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
        nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
        r = nghttp2_session_server_new3(&c->session, cbs, c, NULL, &mem);
        nghttp2_session_callbacks_del(cbs);
        if (r != 0)
                return -ENOMEM;
        if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, ELEMENTSOF(settings)) != 0)
                return -ENOMEM;
        return 0;
}

/* ---- socket I/O ---- */

static ssize_t conn_recv(H2Conn *c, void *buf, size_t len) {
        ssize_t n;

        if (c->ssl)
                return h2_tls_read(c->ssl, buf, len);
        n = recv(c->fd, buf, len, 0);
        if (n < 0)
                return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
        return n;
}

static ssize_t conn_send(H2Conn *c, const void *buf, size_t len) {
        ssize_t n;

        if (c->ssl)
                return h2_tls_write(c->ssl, buf, len);
        n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n < 0)
                return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
        return n;
}

/* reads until the socket has nothing more; < 0: close the connection
 * (-EPROTO: nghttp2 refused the input, say so before closing) */
static int conn_read(H2Conn *c) {
        uint8_t buf[READ_BUF];

        for (;;) {
                ssize_t n = conn_recv(c, buf, sizeof(buf));
                if (n == -EAGAIN)
                        return 0;
                if (n == 0)
                        return -ECONNRESET;
                if (n < 0)
                        return (int) n;
                (void) sd_event_now(c->server->event, CLOCK_MONOTONIC, &c->last_recv_usec);
                if (nghttp2_session_mem_recv(c->session, buf, (size_t) n) < 0) {
                        (void) nghttp2_session_terminate_session(c->session, NGHTTP2_PROTOCOL_ERROR);
                        return -EPROTO;
                }
        }
}

static int out_append(H2Conn *c, const uint8_t *data, size_t len) {
        if (c->out_len + len > c->out_alloc) {
                size_t a = MAX(c->out_len + len, MAX(c->out_alloc * 2, (size_t) 16 * 1024));
                uint8_t *p = realloc(c->out, a);
                if (!p)
                        return -ENOMEM;
                c->out = p;
                c->out_alloc = a;
        }
        memcpy(c->out + c->out_len, data, len);
        c->out_len += len;
        return 0;
}

/* 1: more to write than the budget allowed (come back), 0: done or the
 * socket is full, < 0: close the connection */
static int conn_flush(H2Conn *c) {
        size_t written = 0;

        for (;;) {
                while (c->out_len < OUT_HIGH) {
                        const uint8_t *data;
                        ssize_t n = nghttp2_session_mem_send(c->session, &data);
                        if (n < 0)
                                return -EPROTO;
                        if (n == 0)
                                break;
                        if (out_append(c, data, (size_t) n) < 0)
                                return -ENOMEM;
                }
                if (c->writable_pending && !c->flushing) {
                        /* out of nghttp2: the user may queue more now
                         * (not in a write-through, under the user's own
                         * call: on_io() tells it, EPOLLOUT stays asked) */
                        c->writable_pending = false;
                        for (H2Stream *s = c->streams; s; s = s->next)
                                if (s->want_writable) {
                                        s->want_writable = false;
                                        if (s->taken && !s->ended && c->server->cb.stream_writable)
                                                c->server->cb.stream_writable(c->server->userdata, s, s->data);
                                }
                        continue;
                }
                if (c->out_len == 0)
                        return 0;
                if (written >= WRITE_BUDGET)
                        return 1;
                ssize_t n = conn_send(c, c->out, c->out_len);
                if (n == -EAGAIN)
                        return 0;
                if (n < 0)
                        return (int) n;
                memmove(c->out, c->out + n, c->out_len - (size_t) n);
                c->out_len -= (size_t) n;
                written += (size_t) n;
                if (c->out_len == 0) { /* an idle connection holds no buffer */
                        free(c->out);
                        c->out = NULL;
                        c->out_alloc = 0;
                }
        }
}

static int on_io_dispatch(H2Conn *c, uint32_t revents);
static void conn_arm(H2Conn *c, uint64_t when);

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *ud) {
        H2Conn *c = ud;
        H2Server *server = c->server;
        (void) src;
        (void) fd;
        server->dispatching = true;
        int r = on_io_dispatch(c, revents);
        server->dispatching = false;
        return r;
}

static int on_io_dispatch(H2Conn *c, uint32_t revents) {
        uint32_t events = EPOLLIN;
        int r;

        if (c->handshaking) {
                _cleanup_free_ char *reason = NULL;
                r = h2_tls_handshake(c->ssl, &events, &reason);
                if (r < 0) {
                        if (reason && c->server->cb.conn_refused) {
                                _cleanup_free_ char *why = xasprintf("TLS handshake: %s", reason);
                                c->server->cb.conn_refused(c->server->userdata, &c->peer, why);
                        }
                        goto close;
                }
                if (r == 0) {
                        (void) sd_event_source_set_io_events(c->io, events);
                        return 0;
                }
                c->handshaking = false;
                c->peer.tls = true;
                if (h2_tls_peer_names(c->ssl, &c->peer.cert_names) < 0 || session_start(c) < 0)
                        goto close;
                (void) sd_event_now(c->server->event, CLOCK_MONOTONIC, &c->last_recv_usec);
                if (c->server->limits.keepalive_usec != UINT64_MAX)
                        conn_arm(c, c->last_recv_usec + c->server->limits.keepalive_usec);
                revents |= EPOLLIN; /* records may have come with the handshake */
        }

        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                r = conn_read(c);
                if (r == -EPROTO) {
                        (void) conn_flush(c); /* the GOAWAY, if the socket takes it */
                        goto close;
                }
                if (r < 0)
                        goto close;
        }
        r = conn_flush(c);
        if (r < 0)
                goto close;
        if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session) && c->out_len == 0)
                goto close;
        /* a peer that does not read while it writes stops being read: what
         * nghttp2 would queue for it (WINDOW_UPDATEs, ACKs) stays bounded,
         * and keepalive ends it if it never reads again */
        (void) sd_event_source_set_io_events(c->io, (c->out_len >= OUT_HIGH ? 0 : EPOLLIN) |
                                                            (c->out_len > 0 || r > 0 ? EPOLLOUT : 0));
        return 0;
close:
        h2_conn_free(c);
        return 0;
}

static void conn_arm(H2Conn *c, uint64_t when) {
        (void) sd_event_source_set_time(c->timer, when);
        (void) sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

static int on_timer(sd_event_source *src, uint64_t usec, void *ud) {
        H2Conn *c = ud;
        const H2Limits *l = &c->server->limits;
        uint64_t now;

        (void) src;
        (void) usec;
        (void) sd_event_now(c->server->event, CLOCK_MONOTONIC, &now);
        if (c->handshaking) {
                if (now >= c->accepted_usec + l->handshake_timeout_usec) {
                        if (c->server->cb.conn_refused) {
                                _cleanup_free_ char *reason = xasprintf(
                                        "no TLS handshake within %" PRIu64 " ms", l->handshake_timeout_usec / 1000);
                                c->server->cb.conn_refused(c->server->userdata, &c->peer, reason);
                        }
                        goto close;
                }
                conn_arm(c, c->accepted_usec + l->handshake_timeout_usec);
                return 0;
        }
        if (l->keepalive_usec == UINT64_MAX)
                return 0; /* the timer was the handshake's */
        if (c->ping_outstanding) {
                if (now >= c->ping_sent_usec + l->keepalive_timeout_usec)
                        goto close;
                conn_arm(c, c->ping_sent_usec + l->keepalive_timeout_usec);
                return 0;
        }
        if (now < c->last_recv_usec + l->keepalive_usec) {
                conn_arm(c, c->last_recv_usec + l->keepalive_usec);
                return 0;
        }
        if (nghttp2_submit_ping(c->session, NGHTTP2_FLAG_NONE, NULL) != 0)
                goto close;
        c->ping_outstanding = true;
        c->ping_sent_usec = now;
        conn_arm(c, now + l->keepalive_timeout_usec);
        conn_kick(c);
        return 0;
close:
        h2_conn_free(c);
        return 0;
}

int h2_conn_new(H2Server *server, int fd, SSL_CTX *ssl_ctx, const char *description, const struct ucred *cred) {
        H2Conn *c = calloc(1, sizeof(*c));
        int r;

        if (!c) {
                close(fd);
                return -ENOMEM;
        }
        c->server = server;
        c->fd = fd;
        snprintf(c->description, sizeof(c->description), "%s", description);
        c->peer.description = c->description;
        if (cred) {
                c->peer.pid = cred->pid;
                c->peer.uid = cred->uid;
                c->peer.gid = cred->gid;
        }
        c->next = server->conns;
        if (server->conns)
                server->conns->prev = c;
        server->conns = c;
        server->n_connections++;
        (void) sd_event_now(server->event, CLOCK_MONOTONIC, &c->accepted_usec);
        c->last_recv_usec = c->accepted_usec;

        r = sd_event_add_io(server->event, &c->io, fd, EPOLLIN | EPOLLOUT, on_io, c);
        if (r < 0)
                goto fail;
        if (ssl_ctx) {
                c->ssl = SSL_new(ssl_ctx);
                if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
                        r = -ENOMEM;
                        goto fail;
                }
                SSL_set_accept_state(c->ssl);
                c->handshaking = true;
        } else if ((r = session_start(c)) < 0)
                goto fail;
        if (c->handshaking || server->limits.keepalive_usec != UINT64_MAX) {
                r = sd_event_add_time(server->event, &c->timer, CLOCK_MONOTONIC,
                                      c->accepted_usec + (c->handshaking ? server->limits.handshake_timeout_usec
                                                                         : server->limits.keepalive_usec),
                                      0, on_timer, c);
                if (r < 0)
                        goto fail;
        }
        return 0;
fail:
        h2_conn_free(c);
        return r;
}

H2Conn *h2_conn_free(H2Conn *c) {
        H2Server *server;

        if (!c)
                return NULL;
        server = c->server;
        c->freeing = true;
        /* every stream its user took hears of the end once */
        for (H2Stream *s = c->streams; s; s = s->next)
                stream_notify_closed(s);
        while (c->streams)
                stream_free(c->streams);
        nghttp2_session_del(c->session); /* frees through mem_free: c still alive */
        SSL_free(c->ssl);
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timer);
        if (c->fd >= 0)
                close(c->fd);
        free(c->out);
        for (char **p = c->peer.cert_names; p && *p; p++)
                free(*p);
        free(c->peer.cert_names);
        if (c->prev)
                c->prev->next = c->next;
        else
                server->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        server->n_connections--;
        free(c);
        return NULL;
}

size_t h2_conn_bytes(const H2Conn *c) {
        size_t n = sizeof(*c) + c->session_bytes + c->out_alloc + h2_tls_bytes(c->ssl);

        for (char **p = c->peer.cert_names; p && *p; p++)
                n += sizeof(char *) + strlen(*p) + 1;
        for (const H2Stream *s = c->streams; s; s = s->next) {
                n += sizeof(*s) + (s->body ? s->body_alloc : 0) + (s->path ? strlen(s->path) + 1 : 0);
                /* what the stream's chunks hold of their own (a shared body is its owner's) */
                for (const H2Chunk *k = s->head; k; k = k->next)
                        n += sizeof(*k) + (k->ext ? 0 : k->len);
        }
        return n;
}
