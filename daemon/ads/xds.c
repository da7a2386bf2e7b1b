/* SPDX-License-Identifier: MIT */
/* The xDS server of xds.h: the H2Server and its callbacks, the nodes
 * (their snapshots, streams and feedback), events and status. One
 * stream's protocol is xds-stream.c's. */
#include <assert.h>

#include "hashmap.h"
#include "xds-internal.h"

struct AdsServer {
        sd_event *event;
        H2Server *h2;
        AdsOptions o;
        size_t low_water;
        Hashmap nodes; /* id -> XdsNode */
        XdsStream *streams;
        size_t n_streams;
};

#define ACK_TIMEOUT_DEFAULT_USEC (10u * 1000000u)
#define LOW_WATER_DEFAULT (64u * 1024u)

sd_event *xds_server_event(AdsServer *s) {
        return s->event;
}

uint64_t xds_server_ack_timeout(AdsServer *s) {
        return s->o.ack_timeout_usec;
}

size_t xds_server_low_water(AdsServer *s) {
        return s->low_water;
}

static uint64_t now_realtime(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

void xds_emit(XdsStream *st, AdsEventKind kind, AdsType type, const char *version, const char *message) {
        AdsServer *s = st->server;
        if (!s->o.on_event)
                return;
        AdsEvent ev = {
                .kind = kind,
                .node_id = st->node_id,
                .type = type,
                .version = version,
                .message = message,
                .peer = st->peer ? st->peer->description : NULL,
                .delta = st->delta,
        };
        s->o.on_event(s->o.userdata, &ev);
}

static XdsNode *node_get(AdsServer *s, const char *id, bool make) {
        XdsNode *n = hashmap_get(&s->nodes, id, strlen(id));
        if (n || !make)
                return n;
        n = xcalloc(1, sizeof(XdsNode));
        n->id = xstrdup(id);
        hashmap_put(&s->nodes, n->id, strlen(n->id), n);
        return n;
}

static void node_clear_feedback(XdsNode *n) {
        for (AdsType t = 0; t < _ADS_TYPE_MAX; t++)
                free(n->types[t].nack_message);
        memset(n->types, 0, sizeof(n->types));
        for (size_t i = 0; i < n->n_dnack; i++)
                free(n->dnack[i].name);
        free(n->dnack);
        n->dnack = NULL;
        n->n_dnack = 0;
}

static XdsNode *node_free(XdsNode *n) {
        if (!n)
                return NULL;
        assert(!n->streams);
        ads_snapshot_unref(n->snap);
        node_clear_feedback(n);
        free(n->peer);
        free(n->id);
        free(n);
        return NULL;
}

void xds_stream_attach(XdsStream *st, const char *node_id) {
        XdsNode *n = node_get(st->server, node_id, true);
        st->node_id = xstrdup(node_id);
        st->node = n;
        st->node_next = n->streams;
        if (n->streams)
                n->streams->node_prev = st;
        n->streams = st;
        n->n_streams++;
        if (st->delta)
                n->n_delta++;
        n->connected_usec = now_realtime();
        n->disconnected_usec = 0;
        free(n->peer);
        n->peer = st->peer && st->peer->description ? xstrdup(st->peer->description) : NULL;
        xds_emit(st, ADS_EVENT_CONNECTED, _ADS_TYPE_INVALID, NULL, NULL);
        if (!n->snap)
                xds_emit(st, ADS_EVENT_UNKNOWN_NODE, _ADS_TYPE_INVALID, NULL, NULL);
}

static void stream_detach(XdsStream *st, const char *message) {
        XdsNode *n = st->node;
        if (!n)
                return;
        if (st->node_prev)
                st->node_prev->node_next = st->node_next;
        else
                n->streams = st->node_next;
        if (st->node_next)
                st->node_next->node_prev = st->node_prev;
        st->node_next = st->node_prev = NULL;
        st->node = NULL;
        n->n_streams--;
        if (st->delta)
                n->n_delta--;
        if (n->n_streams == 0)
                n->disconnected_usec = now_realtime();
        xds_emit(st, ADS_EVENT_DISCONNECTED, _ADS_TYPE_INVALID, NULL, message);
        /* a node the daemon never set (an id a client made up) is
         * forgotten with its last stream: ids a client rotates through
         * leave nothing behind */
        if (n->n_streams == 0 && !n->snap) {
                hashmap_remove(&st->server->nodes, n->id, strlen(n->id));
                node_free(n);
        }
}

void xds_stream_end(XdsStream *st, int grpc_status, const char *message, bool refused) {
        if (st->finished)
                return;
        st->finished = true;
        st->timer = sd_event_source_disable_unref(st->timer);
        if (refused)
                xds_emit(st, ADS_EVENT_REFUSED, _ADS_TYPE_INVALID, NULL, message);
        stream_detach(st, message);
        /* last: st is not touched after it (were stream_closed to come at once) */
        h2_stream_finish(st->h2, grpc_status, message);
}

static void stream_unlink(AdsServer *s, XdsStream *st) {
        if (st->prev)
                st->prev->next = st->next;
        else
                s->streams = st->next;
        if (st->next)
                st->next->prev = st->prev;
        s->n_streams--;
}

static int on_stream_open(void *userdata, H2Stream *h2, const char *path, const H2Peer *peer, void **ret_data) {
        AdsServer *s = userdata;
        bool delta;
        AdsType only;
        if (xds_path_lookup(path, &delta, &only) < 0)
                return GRPC_STATUS_UNIMPLEMENTED;
        XdsStream *st = xds_stream_new(s, h2, peer, delta, only);
        st->next = s->streams;
        if (s->streams)
                s->streams->prev = st;
        s->streams = st;
        s->n_streams++;
        *ret_data = st;
        return 0;
}

static void on_stream_message(void *userdata, H2Stream *h2, void *data, const uint8_t *msg, size_t len) {
        (void) userdata;
        (void) h2;
        xds_stream_message(data, msg, len);
}

static void on_stream_writable(void *userdata, H2Stream *h2, void *data) {
        (void) userdata;
        (void) h2;
        xds_stream_pump(data);
}

static void on_stream_closed(void *userdata, H2Stream *h2, void *data) {
        AdsServer *s = userdata;
        XdsStream *st = data;
        (void) h2;
        st->finished = true;
        stream_detach(st, NULL);
        stream_unlink(s, st);
        xds_stream_free(st);
}

static void on_conn_refused(void *userdata, const H2Peer *peer, const char *reason) {
        AdsServer *s = userdata;
        if (!s->o.on_event)
                return;
        AdsEvent ev = {
                .kind = ADS_EVENT_REFUSED,
                .type = _ADS_TYPE_INVALID,
                .message = reason,
                .peer = peer->description,
                .connection = true,
        };
        s->o.on_event(s->o.userdata, &ev);
}

static const H2Callbacks callbacks = {
        .stream_open = on_stream_open,
        .stream_message = on_stream_message,
        .stream_writable = on_stream_writable,
        .stream_closed = on_stream_closed,
        .conn_refused = on_conn_refused,
};

int ads_server_new(sd_event *e, const AdsOptions *o, AdsServer **ret) {
        assert(ret);
        AdsServer *s = xcalloc(1, sizeof(AdsServer));
        if (o)
                s->o = *o;
        if (s->o.ack_timeout_usec == 0)
                s->o.ack_timeout_usec = ACK_TIMEOUT_DEFAULT_USEC;
        s->low_water = s->o.limits.low_water ?: LOW_WATER_DEFAULT;
        s->event = e ? sd_event_ref(e) : NULL;
        int r = h2_server_new(e, &callbacks, s, &s->o.limits, &s->h2);
        if (r < 0) {
                ads_server_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

AdsServer *ads_server_free(AdsServer *s) {
        if (!s)
                return NULL;
        /* the transport closes its streams (stream_closed frees ours) */
        s->h2 = h2_server_free(s->h2);
        while (s->streams) {
                XdsStream *st = s->streams;
                st->finished = true;
                stream_detach(st, NULL);
                stream_unlink(s, st);
                xds_stream_free(st);
        }
        for (size_t i = 0; i < s->nodes.cap; i++)
                if (s->nodes.entries && s->nodes.entries[i].key)
                        node_free(s->nodes.entries[i].value);
        hashmap_free(&s->nodes);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

int ads_server_listen(AdsServer *s, const char *address, const H2Tls *tls, mode_t mode, gid_t gid, char **ret_error) {
        return h2_server_listen(s->h2, address, tls, mode, gid, ret_error);
}

void ads_server_set_ack_timeout(AdsServer *s, uint64_t usec) {
        s->o.ack_timeout_usec = usec ?: ACK_TIMEOUT_DEFAULT_USEC;
}

void ads_server_set_snapshot(AdsServer *s, const char *node_id, AdsSnapshot *snap) {
        assert(s && node_id && snap);
        XdsNode *n = node_get(s, node_id, true);
        AdsSnapshot *old = n->snap;
        n->snap = ads_snapshot_ref(snap);
        for (AdsType t = 0; t < _ADS_TYPE_MAX; t++) {
                bool same = old && streq(old->types[t].version, snap->types[t].version);
                if (!same && n->types[t].nacked[0]) {
                        /* a NACKed version is offered again only once it changed */
                        n->types[t].nacked[0] = 0;
                        free(n->types[t].nack_message);
                        n->types[t].nack_message = NULL;
                        n->types[t].nacked_usec = 0;
                }
        }
        /* per resource: a delta NACK holds while the resource is unchanged */
        size_t k = 0;
        for (size_t i = 0; i < n->n_dnack; i++) {
                XdsDeltaNack *d = &n->dnack[i];
                AdsResource *r = ads_type_set_find(&snap->types[d->type], d->name);
                if (r && streq(r->version, d->version))
                        n->dnack[k++] = *d;
                else
                        free(d->name);
        }
        n->n_dnack = k;
        ads_snapshot_unref(old);
        for (XdsStream *st = n->streams, *next; st; st = next) {
                next = st->node_next;
                xds_stream_snapshot_changed(st);
        }
}

AdsSnapshot *ads_server_get_snapshot(AdsServer *s, const char *node_id) {
        XdsNode *n = node_get(s, node_id, false);
        return n ? n->snap : NULL;
}

void ads_server_forget_node(AdsServer *s, const char *node_id) {
        XdsNode *n = node_get(s, node_id, false);
        if (!n)
                return;
        while (n->streams)
                xds_stream_end(n->streams, GRPC_STATUS_NOT_FOUND, "the node was forgotten", false);
        hashmap_remove(&s->nodes, n->id, strlen(n->id));
        node_free(n);
}

static int cmp_node(const void *a, const void *b) {
        return strcmp((*(XdsNode *const *) a)->id, (*(XdsNode *const *) b)->id);
}

void ads_server_foreach_node(AdsServer *s, void (*f)(void *userdata, const AdsNodeStatus *st), void *userdata) {
        _cleanup_free_ XdsNode **v = xmalloc(sizeof(XdsNode *) * (s->nodes.n + 1));
        size_t n = 0;
        for (size_t i = 0; i < s->nodes.cap; i++)
                if (s->nodes.entries && s->nodes.entries[i].key)
                        v[n++] = s->nodes.entries[i].value;
        qsort(v, n, sizeof(XdsNode *), cmp_node);
        for (size_t i = 0; i < n; i++) {
                XdsNode *x = v[i];
                AdsNodeStatus st = {
                        .node_id = x->id,
                        .known = x->snap != NULL,
                        .generation = x->snap ? x->snap->generation : 0,
                        .n_streams = x->n_streams,
                        .n_delta = x->n_delta,
                        .connected_usec = x->connected_usec,
                        .disconnected_usec = x->disconnected_usec,
                        .peer = x->peer,
                };
                memcpy(st.types, x->types, sizeof(st.types));
                for (XdsStream *y = x->streams; y; y = y->node_next) {
                        st.pushing |= y->pushing;
                        for (AdsType t = 0; t < _ADS_TYPE_MAX; t++)
                                st.types[t].subscribed |= y->sub[t].seen;
                }
                f(userdata, &st);
        }
}

size_t ads_server_n_streams(const AdsServer *s) {
        return s->n_streams;
}

size_t ads_server_n_connections(const AdsServer *s) {
        return s->h2 ? h2_server_n_connections(s->h2) : 0;
}

int64_t ads_server_cert_not_after(const AdsServer *s) {
        return h2_server_cert_not_after(s->h2);
}

size_t ads_server_bytes(const AdsServer *s) {
        return h2_server_bytes(s->h2) + s->n_streams * sizeof(XdsStream) + s->nodes.n * sizeof(XdsNode);
}
