/* SPDX-License-Identifier: MIT */
/* The xDS server's protocol without a network: this test links its own
 * h2_* functions (a fake transport that records what is sent and how a
 * stream ends) and drives streams through the H2Callbacks the server
 * registered, as the real transport calls them: stream_open,
 * stream_message, stream_writable, stream_closed. The ACK timer's handler
 * is called directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ads-test.h"
#include "xds-internal.h"

/* The fake transport. */
struct H2Server {
        H2Callbacks cb;
        void *userdata;
};

#define MAX_SENT 64
struct H2Stream {
        void *data;
        bool open, finished;
        int status;
        char *message;
        uint8_t *sent[MAX_SENT];
        size_t sent_len[MAX_SENT];
        size_t n_sent, n_read;
        size_t queued;
        H2Peer peer;
};

static H2Server *fake;

int h2_server_new(sd_event *e, const H2Callbacks *cb, void *userdata, const H2Limits *limits, H2Server **ret) {
        (void) e;
        (void) limits;
        H2Server *s = xcalloc(1, sizeof(H2Server));
        s->cb = *cb;
        s->userdata = userdata;
        fake = s;
        *ret = s;
        return 0;
}
H2Server *h2_server_free(H2Server *s) {
        free(s);
        fake = NULL;
        return NULL;
}
int h2_server_listen(H2Server *s, const char *address, const H2Tls *tls, mode_t mode, gid_t gid, char **ret_error) {
        (void) s, (void) address, (void) tls, (void) mode, (void) gid, (void) ret_error;
        return 0;
}
size_t h2_server_n_connections(const H2Server *s) {
        (void) s;
        return 0;
}
size_t h2_server_n_streams(const H2Server *s) {
        (void) s;
        return 0;
}
size_t h2_server_bytes(const H2Server *s) {
        (void) s;
        return 0;
}
int64_t h2_server_cert_not_after(const H2Server *s) {
        (void) s;
        return 0;
}
int h2_stream_send(H2Stream *s, const uint8_t *msg, size_t len) {
        assert_true(s->open && !s->finished);
        assert_true(s->n_sent < MAX_SENT);
        s->sent[s->n_sent] = xmemdup(msg, len ?: 1);
        s->sent_len[s->n_sent++] = len;
        return 0;
}
/* the message as the transport would send it: head then body; the hold is
 * let go at once, as a transport that sent it would */
int h2_stream_send_shared(H2Stream *s, const uint8_t *head, size_t head_len, const uint8_t *body, size_t body_len,
                          void *ref, void (*hold)(void *ref), void (*release)(void *ref)) {
        Buf b = {};
        buf_append(&b, head, head_len);
        buf_append(&b, body, body_len);
        hold(ref);
        int r = h2_stream_send(s, b.data, b.len);
        release(ref);
        buf_free(&b);
        return r;
}
size_t h2_stream_queued(const H2Stream *s) {
        return s->queued;
}
void h2_stream_finish(H2Stream *s, int grpc_status, const char *message) {
        assert_false(s->finished);
        s->finished = true;
        s->status = grpc_status;
        s->message = message ? xstrdup(message) : NULL;
}
const H2Peer *h2_stream_peer(const H2Stream *s) {
        return &s->peer;
}

/* Events, as "KIND node type version message" lines. */
static Buf events;

static const char *const kinds[] = {
        [ADS_EVENT_CONNECTED] = "connected", [ADS_EVENT_DISCONNECTED] = "disconnected",
        [ADS_EVENT_UNKNOWN_NODE] = "unknown", [ADS_EVENT_REFUSED] = "refused",
        [ADS_EVENT_ACK] = "ack", [ADS_EVENT_NACK] = "nack", [ADS_EVENT_ACK_TIMEOUT] = "timeout",
};

static void on_event(void *userdata, const AdsEvent *ev) {
        (void) userdata;
        buf_printf(&events, "%s %s %s%s%s%s%s\n", kinds[ev->kind], ev->node_id ?: "-",
                   ev->type == _ADS_TYPE_INVALID ? "-" : ads_type_short(ev->type),
                   ev->version ? " " : "", ev->version ?: "", ev->message ? " " : "", ev->message ?: "");
}

/* Whether the events since the last call include line (a prefix of one). */
static bool event_seen(const char *line) {
        buf_putc(&events, 0);
        bool found = false;
        for (char *p = (char *) events.data; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, line, strlen(line)) == 0)
                        found = true;
        events.len--;
        return found;
}

static void events_clear(void) {
        events.len = 0;
}

typedef struct Fixture {
        sd_event *e;
        AdsServer *s;
} Fixture;

static int setup(void **state) {
        Fixture *f = xcalloc(1, sizeof(Fixture));
        assert_int_equal(sd_event_new(&f->e), 0);
        AdsOptions o = { .on_event = on_event };
        assert_int_equal(ads_server_new(f->e, &o, &f->s), 0);
        assert_non_null(fake);
        events_clear();
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        ads_server_free(f->s);
        sd_event_unref(f->e);
        free(f);
        buf_free(&events);
        return 0;
}

static H2Stream *open_stream(const char *path, const char *const *cert_names) {
        H2Stream *h = xcalloc(1, sizeof(H2Stream));
        h->open = true;
        h->peer.description = "unix pid 1 uid 0";
        if (cert_names) {
                h->peer.tls = true;
                h->peer.description = "tcp 127.0.0.1:5";
                h->peer.cert_names = (char **) cert_names;
        }
        assert_int_equal(fake->cb.stream_open(fake->userdata, h, path, &h->peer, &h->data), 0);
        return h;
}

static H2Stream *open_ads(bool delta) {
        return open_stream(delta ? "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"
                                 : "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
                           NULL);
}

static void close_stream(H2Stream *h) {
        fake->cb.stream_closed(fake->userdata, h, h->data);
        for (size_t i = 0; i < h->n_sent; i++)
                free(h->sent[i]);
        free(h->message);
        free(h);
}

static void send_buf(H2Stream *h, Buf *b) {
        fake->cb.stream_message(fake->userdata, h, h->data, b->data ?: (const uint8_t *) "", b->len);
        buf_free(b);
}

static void sotw(H2Stream *h, const char *node, AdsType t, const char *version, const char *nonce, const char *names,
                 const char *error) {
        Buf b = {};
        req_sotw(&b, node, t, version, nonce, names, error);
        send_buf(h, &b);
}

static void delta(H2Stream *h, const char *node, AdsType t, const char *sub, const char *unsub, const char *initial,
                  const char *nonce, const char *error) {
        Buf b = {};
        req_delta(&b, node, t, sub, unsub, initial, nonce, error);
        send_buf(h, &b);
}

static size_t unread(H2Stream *h) {
        return h->n_sent - h->n_read;
}

/* The next response, which must be of type t. */
static void next(H2Stream *h, bool is_delta, AdsType t, Resp *r) {
        assert_true(unread(h) > 0);
        resp_decode(h->sent[h->n_read], h->sent_len[h->n_read], is_delta, r);
        h->n_read++;
        assert_string_equal(r->type_url, ads_type_url(t));
}

/* The next response is t's with these resources (and removals); returns
 * its nonce (static). */
static const char *expect(H2Stream *h, bool is_delta, AdsType t, const char *resources, const char *removed) {
        static char nonce[32];
        Resp r;
        next(h, is_delta, t, &r);
        _cleanup_free_ char *got = resp_resources(&r), *rm = resp_removed(&r);
        if (!streq(got, resources))
                fail_msg("%s: got resources \"%s\", expected \"%s\"", ads_type_short(t), got, resources);
        if (removed && !streq(rm, removed))
                fail_msg("%s: got removed \"%s\", expected \"%s\"", ads_type_short(t), rm, removed);
        snprintf(nonce, sizeof(nonce), "%s", r.nonce);
        resp_done(&r);
        return nonce;
}

static const AdsTypeStatus *status_of(AdsServer *s, const char *node, AdsType t, AdsNodeStatus *ret);

static AdsNodeStatus found;
static bool found_ok;
static const char *want_node;
static void grab(void *userdata, const AdsNodeStatus *st) {
        (void) userdata;
        if (streq(st->node_id, want_node)) {
                found = *st;
                found_ok = true;
        }
}
static const AdsTypeStatus *status_of(AdsServer *s, const char *node, AdsType t, AdsNodeStatus *ret) {
        found_ok = false;
        want_node = node;
        ads_server_foreach_node(s, grab, NULL);
        assert_true(found_ok);
        if (ret)
                *ret = found;
        return &found.types[t];
}

static void set(Fixture *f, const char *node, uint64_t gen, const char *spec) {
        AdsSnapshot *s = snap_new(gen, spec);
        ads_server_set_snapshot(f->s, node, s);
        ads_snapshot_unref(s);
}

static const char *set_version(Fixture *f, const char *node, AdsType t) {
        return ads_server_get_snapshot(f->s, node)->types[t].version;
}

/* An ADS stream of node n1 that has CDS, EDS (a, b), LDS and RDS (r)
 * and ACKed them all. */
static H2Stream *connected(Fixture *f) {
        H2Stream *h = open_ads(false);
        sotw(h, "n1", ADS_TYPE_CLUSTER, NULL, NULL, "", NULL);
        char n[32];
        snprintf(n, sizeof(n), "%s", expect(h, false, ADS_TYPE_CLUSTER, "a=1,b=1", NULL));
        sotw(h, NULL, ADS_TYPE_CLUSTER, set_version(f, "n1", ADS_TYPE_CLUSTER), n, "", NULL);
        sotw(h, NULL, ADS_TYPE_ENDPOINT, NULL, NULL, "a b", NULL);
        snprintf(n, sizeof(n), "%s", expect(h, false, ADS_TYPE_ENDPOINT, "a=1,b=1", NULL));
        sotw(h, NULL, ADS_TYPE_ENDPOINT, set_version(f, "n1", ADS_TYPE_ENDPOINT), n, "a b", NULL);
        sotw(h, NULL, ADS_TYPE_LISTENER, NULL, NULL, "", NULL);
        snprintf(n, sizeof(n), "%s", expect(h, false, ADS_TYPE_LISTENER, "l=1", NULL));
        sotw(h, NULL, ADS_TYPE_LISTENER, set_version(f, "n1", ADS_TYPE_LISTENER), n, "", NULL);
        sotw(h, NULL, ADS_TYPE_ROUTE, NULL, NULL, "r", NULL);
        snprintf(n, sizeof(n), "%s", expect(h, false, ADS_TYPE_ROUTE, "r=1", NULL));
        sotw(h, NULL, ADS_TYPE_ROUTE, set_version(f, "n1", ADS_TYPE_ROUTE), n, "r", NULL);
        assert_int_equal(unread(h), 0);
        return h;
}

#define GEN1 "CDS:a=1,b=1 EDS:a=1,b=1 LDS:l=1 RDS:r=1"

static void test_sotw_initial_ack(void **state) {
        Fixture *f = *state;
        set(f, "n1", 1, GEN1 " SDS:s=1");
        H2Stream *h = open_ads(false);
        sotw(h, "n1", ADS_TYPE_CLUSTER, NULL, NULL, "", NULL);
        assert_true(event_seen("connected n1 -"));
        Resp r;
        next(h, false, ADS_TYPE_CLUSTER, &r);
        assert_string_equal(r.version, set_version(f, "n1", ADS_TYPE_CLUSTER));
        assert_string_equal(r.nonce, "1");
        _cleanup_free_ char *res = resp_resources(&r);
        assert_string_equal(res, "a=1,b=1");
        assert_string_equal(status_of(f->s, "n1", ADS_TYPE_CLUSTER, NULL)->offered, r.version);
        assert_string_equal(status_of(f->s, "n1", ADS_TYPE_CLUSTER, NULL)->acked, "");
        assert_true(status_of(f->s, "n1", ADS_TYPE_CLUSTER, NULL)->subscribed);
        assert_false(status_of(f->s, "n1", ADS_TYPE_LISTENER, NULL)->subscribed);

        /* the ACK: recorded, nothing sent */
        sotw(h, NULL, ADS_TYPE_CLUSTER, r.version, "1", "", NULL);
        assert_int_equal(unread(h), 0);
        assert_string_equal(status_of(f->s, "n1", ADS_TYPE_CLUSTER, NULL)->acked, r.version);
        _cleanup_free_ char *ev = xasprintf("ack n1 CDS %s", r.version);
        assert_true(event_seen(ev));
        resp_done(&r);

        /* a "*" among names is a wildcard; a named SDS gets what exists of it */
        sotw(h, NULL, ADS_TYPE_SECRET, NULL, NULL, "s nope", NULL);
        expect(h, false, ADS_TYPE_SECRET, "s=1", NULL);
        /* named EDS of which nothing exists: nothing is sent */
        sotw(h, NULL, ADS_TYPE_ENDPOINT, NULL, NULL, "x y", NULL);
        assert_int_equal(unread(h), 0);
        /* named LDS: always answered, even empty */
        sotw(h, NULL, ADS_TYPE_LISTENER, NULL, NULL, "nope", NULL);
        expect(h, false, ADS_TYPE_LISTENER, "", NULL);

        AdsNodeStatus st;
        status_of(f->s, "n1", ADS_TYPE_CLUSTER, &st);
        assert_true(st.known);
        assert_int_equal(st.generation, 1);
        assert_int_equal(st.n_streams, 1);
        assert_int_equal(st.disconnected_usec, 0);
        assert_string_equal(st.peer, "unix pid 1 uid 0");
        close_stream(h);
        assert_true(event_seen("disconnected n1 -"));
        status_of(f->s, "n1", ADS_TYPE_CLUSTER, &st);
        assert_int_equal(st.n_streams, 0);
        assert_true(st.disconnected_usec > 0);
        assert_string_equal(st.types[ADS_TYPE_CLUSTER].acked, set_version(f, "n1", ADS_TYPE_CLUSTER));
        assert_int_equal(ads_server_n_streams(f->s), 0);
}

static void test_sotw_subscription_and_stale_nonce(void **state) {
        Fixture *f = *state;
        set(f, "n1", 1, "EDS:a=1,b=1,c=1");
        H2Stream *h = open_ads(false);
        sotw(h, "n1", ADS_TYPE_ENDPOINT, NULL, NULL, "a", NULL);
        const char *n1 = expect(h, false, ADS_TYPE_ENDPOINT, "a=1", NULL);
        assert_string_equal(n1, "1");
        const char *v = set_version(f, "n1", ADS_TYPE_ENDPOINT);
        /* an ACK that changes the subscription: answered at once */
        sotw(h, NULL, ADS_TYPE_ENDPOINT, v, "1", "a b", NULL);
        assert_string_equal(expect(h, false, ADS_TYPE_ENDPOINT, "a=1,b=1", NULL), "2");
        /* a stale nonce: the subscription is noted, nothing is sent */
        sotw(h, NULL, ADS_TYPE_ENDPOINT, v, "1", "a b c", NULL);
        assert_int_equal(unread(h), 0);
        assert_string_equal(status_of(f->s, "n1", ADS_TYPE_ENDPOINT, NULL)->acked, v);
        /* the current nonce (an ACK of 2) with the same names: now served */
        sotw(h, NULL, ADS_TYPE_ENDPOINT, v, "2", "a b c", NULL);
        assert_string_equal(expect(h, false, ADS_TYPE_ENDPOINT, "a=1,b=1,c=1", NULL), "3");
        /* an unchanged request: nothing */
        sotw(h, NULL, ADS_TYPE_ENDPOINT, v, "3", "c b a", NULL);
        assert_int_equal(unread(h), 0);
        close_stream(h);
}

static void test_sotw_newly_named_resent(void **state) {
        Fixture *f = *state;
        set(f, "n1", 1, "LDS:l=1");
        H2Stream *h = open_ads(false);
        sotw(h, "n1", ADS_TYPE_LISTENER, NULL, NULL, "", NULL);
        const char *n = expect(h, false, ADS_TYPE_LISTENER, "l=1", NULL);
        /* from wildcard to naming l: l is sent again, although the client has it */
        sotw(h, NULL, ADS_TYPE_LISTENER, "v", n, "l", NULL);
        n = expect(h, false, ADS_TYPE_LISTENER, "l=1", NULL);
        /* the same names again: nothing */
        sotw(h, NULL, ADS_TYPE_LISTENER, "v", n, "l", NULL);
        assert_int_equal(unread(h), 0);
        close_stream(h);
}

static void test_sotw_nack_not_offered_again(void **state) {
        Fixture *f = *state;
        set(f, "n1", 1, "CDS:a=1 LDS:l=1");
        H2Stream *h = open_ads(false);
        sotw(h, "n1", ADS_TYPE_CLUSTER, NULL, NULL, "", NULL);
        expect(h, false, ADS_TYPE_CLUSTER, "a=1", NULL);
        _cleanup_free_ char *v1 = xstrdup(set_version(f, "n1", ADS_TYPE_CLUSTER));
        sotw(h, NULL, ADS_TYPE_CLUSTER, v1, "1", "", NULL);
        set(f, "n1", 2, "CDS:a=2 LDS:l=1");
        _cleanup_free_ char *v2 = xstrdup(set_version(f, "n1", ADS_TYPE_CLUSTER));
        const char *n = expect(h, false, ADS_TYPE_CLUSTER, "a=2", NULL);
        sotw(h, NULL, ADS_TYPE_CLUSTER, v1, n, "", "cluster a: bad lb_policy");
        const AdsTypeStatus *ts = status_of(f->s, "n1", ADS_TYPE_CLUSTER, NULL);
        assert_string_equal(ts->nacked, v2);
        assert_string_equal(ts->nack_message, "cluster a: bad lb_policy");
        assert_string_equal(ts->acked, v1);
        assert_true(ts->nacked_usec > 0);
        _cleanup_free_ char *ev = xasprintf("nack n1 CDS %s cluster a: bad lb_policy", v2);
        assert_true(event_seen(ev));

        /* a generation that changes LDS only: CDS v2 is not offered again
         * on this stream, which has v1 */
        set(f, "n1", 3, "CDS:a=2 LDS:l=2");
        assert_int_equal(unread(h), 0);
        /* a new stream of the node, which has no cluster at all, gets v2:
         * withholding the only state there is would leave it with none */
        H2Stream *h2 = open_ads(false);
        sotw(h2, "n1", ADS_TYPE_CLUSTER, NULL, NULL, "", NULL);
        const char *n2 = expect(h2, false, ADS_TYPE_CLUSTER, "a=2", NULL);
        sotw(h2, NULL, ADS_TYPE_CLUSTER, "", n2, "", "cluster a: bad lb_policy");
        assert_int_equal(unread(h2), 0);
        assert_string_equal(status_of(f->s, "n1", ADS_TYPE_CLUSTER, NULL)->nacked, v2);

        /* CDS changes: offered (and the NACK is history) */
        set(f, "n1", 4, "CDS:a=3 LDS:l=2");
        expect(h, false, ADS_TYPE_CLUSTER, "a=3", NULL);
        expect(h2, false, ADS_TYPE_CLUSTER, "a=3", NULL);
        assert_string_equal(status_of(f->s, "n1", ADS_TYPE_CLUSTER, NULL)->nacked, "");
        assert_null(status_of(f->s, "n1", ADS_TYPE_CLUSTER, NULL)->nack_message);
        close_stream(h);
        close_stream(h2);
}

#define GEN2 "CDS:b=1,c=1 EDS:b=1,c=1 LDS:l=2 RDS:r=2"

static void ack_next(Fixture *f, H2Stream *h, AdsType t, const char *resources, const char *names) {
        char n[32];
        snprintf(n, sizeof(n), "%s", expect(h, false, t, resources, NULL));
        assert_int_equal(unread(h), 0);
        sotw(h, NULL, t, set_version(f, "n1", t), n, names, NULL);
}

static void test_push_order_and_removals_last(void **state) {
        Fixture *f = *state;
        set(f, "n1", 1, GEN1);
        H2Stream *h = connected(f);
        events_clear();
        set(f, "n1", 2, GEN2);
        AdsNodeStatus st;
        status_of(f->s, "n1", ADS_TYPE_CLUSTER, &st);
        assert_true(st.pushing);
        /* CDS first, keeping the removed cluster a; each step waits for its ACK */
        ack_next(f, h, ADS_TYPE_CLUSTER, "a=1,b=1,c=1", "");
        /* EDS is unchanged for the subscription (a stays while CDS has it): on to LDS */
        const char *n = expect(h, false, ADS_TYPE_LISTENER, "l=2", NULL);
        char lds_nonce[32];
        snprintf(lds_nonce, sizeof(lds_nonce), "%s", n);
        /* the client subscribes to c's endpoints meanwhile (EDS's nonce is 2): answered at once */
        sotw(h, NULL, ADS_TYPE_ENDPOINT, "v", "2", "a b c", NULL);
        ack_next(f, h, ADS_TYPE_ENDPOINT, "a=1,b=1,c=1", "a b c");
        assert_int_equal(unread(h), 0);
        sotw(h, NULL, ADS_TYPE_LISTENER, set_version(f, "n1", ADS_TYPE_LISTENER), lds_nonce, "", NULL);
        ack_next(f, h, ADS_TYPE_ROUTE, "r=2", "r");
        /* removals last: CDS without a, then EDS for what is subscribed */
        ack_next(f, h, ADS_TYPE_CLUSTER, "b=1,c=1", "");
        ack_next(f, h, ADS_TYPE_ENDPOINT, "b=1,c=1", "b c");
        assert_int_equal(unread(h), 0);
        status_of(f->s, "n1", ADS_TYPE_CLUSTER, &st);
        assert_false(st.pushing);
        assert_string_equal(st.types[ADS_TYPE_ROUTE].acked, set_version(f, "n1", ADS_TYPE_ROUTE));
        close_stream(h);
}

static void test_push_order_each_type(void **state) {
        Fixture *f = *state;
        set(f, "n1", 1, GEN1);
        H2Stream *h = connected(f);
        set(f, "n1", 2, "CDS:a=2,b=1 EDS:a=1,b=2 LDS:l=2 RDS:r=2");
        /* CDS, then EDS, LDS, RDS: each only once the one before is ACKed (ack_next checks nothing else came) */
        ack_next(f, h, ADS_TYPE_CLUSTER, "a=2,b=1", "");
        ack_next(f, h, ADS_TYPE_ENDPOINT, "a=1,b=2", "a b");
        ack_next(f, h, ADS_TYPE_LISTENER, "l=2", "");
        ack_next(f, h, ADS_TYPE_ROUTE, "r=2", "r");
        /* nothing removed: no removal step */
        assert_int_equal(unread(h), 0);
        AdsNodeStatus st;
        status_of(f->s, "n1", ADS_TYPE_CLUSTER, &st);
        assert_false(st.pushing);
        for (AdsType t = ADS_TYPE_CLUSTER; t <= ADS_TYPE_ROUTE; t++)
                if (t != ADS_TYPE_SCOPED_ROUTE)
                        assert_string_equal(st.types[t].acked, set_version(f, "n1", t));
        close_stream(h);
}

static void test_ack_timeout_moves_on(void **state) {
        Fixture *f = *state;
        set(f, "n1", 1, GEN1);
        H2Stream *h = connected(f);
        set(f, "n1", 2, "CDS:a=1,b=2 EDS:a=1,b=1 LDS:l=2 RDS:r=1");
        expect(h, false, ADS_TYPE_CLUSTER, "a=1,b=2", NULL);
        assert_int_equal(unread(h), 0);
        XdsStream *st = h->data;
        assert_true(st->waiting);
        assert_non_null(st->timer);
        xds_stream_ack_timeout(st);
        _cleanup_free_ char *ev = xasprintf("timeout n1 CDS %s", set_version(f, "n1", ADS_TYPE_CLUSTER));
        assert_true(event_seen(ev));
        /* on to LDS (EDS did not change) */
        const char *n = expect(h, false, ADS_TYPE_LISTENER, "l=2", NULL);
        /* a late ACK of the CDS step still counts */
        sotw(h, NULL, ADS_TYPE_CLUSTER, set_version(f, "n1", ADS_TYPE_CLUSTER), "5", "", NULL);
        assert_string_equal(status_of(f->s, "n1", ADS_TYPE_CLUSTER, NULL)->acked, set_version(f, "n1", ADS_TYPE_CLUSTER));
        (void) n;
        close_stream(h);
}

static void test_nack_stops_push(void **state) {
        Fixture *f = *state;
        set(f, "n1", 1, GEN1);
        H2Stream *h = connected(f);
        set(f, "n1", 2, GEN2);
        const char *n = expect(h, false, ADS_TYPE_CLUSTER, "a=1,b=1,c=1", NULL);
        sotw(h, NULL, ADS_TYPE_CLUSTER, "old", n, "", "no");
        /* nothing more for this generation: LDS, RDS keep their old version */
        assert_int_equal(unread(h), 0);
        AdsNodeStatus st;
        status_of(f->s, "n1", ADS_TYPE_CLUSTER, &st);
        assert_false(st.pushing);
        assert_string_equal(st.types[ADS_TYPE_CLUSTER].nack_message, "no");
        assert_string_not_equal(st.types[ADS_TYPE_LISTENER].acked, set_version(f, "n1", ADS_TYPE_LISTENER));
        /* a newer generation restarts the sequence */
        set(f, "n1", 3, "CDS:b=1,c=2 EDS:b=1,c=1 LDS:l=2 RDS:r=2");
        expect(h, false, ADS_TYPE_CLUSTER, "a=1,b=1,c=2", NULL);
        close_stream(h);
}

static void test_coalesce_mid_push(void **state) {
        Fixture *f = *state;
        set(f, "n1", 1, GEN1);
        H2Stream *h = connected(f);
        set(f, "n1", 2, "CDS:a=2,b=1 EDS:a=1,b=1 LDS:l=2 RDS:r=1");
        const char *n = expect(h, false, ADS_TYPE_CLUSTER, "a=2,b=1", NULL);
        char nonce[32];
        snprintf(nonce, sizeof(nonce), "%s", n);
        /* two more generations while the CDS step is in flight: nothing sent yet */
        set(f, "n1", 3, "CDS:a=3,b=1 EDS:a=1,b=1 LDS:l=3 RDS:r=1");
        set(f, "n1", 4, "CDS:a=4,b=1 EDS:a=1,b=1 LDS:l=4 RDS:r=1");
        assert_int_equal(unread(h), 0);
        sotw(h, NULL, ADS_TYPE_CLUSTER, "x", nonce, "", NULL);
        /* the step ACKed, the push starts over with the newest: CDS a=4, then LDS l=4; never gen 3 */
        ack_next(f, h, ADS_TYPE_CLUSTER, "a=4,b=1", "");
        ack_next(f, h, ADS_TYPE_LISTENER, "l=4", "");
        assert_int_equal(unread(h), 0);
        close_stream(h);
}

static void test_stalled_stream_gets_newest(void **state) {
        Fixture *f = *state;
        set(f, "n1", 1, GEN1);
        H2Stream *h = connected(f);
        h->queued = 1u << 20; /* the client stopped reading */
        set(f, "n1", 2, "CDS:a=2,b=1 EDS:a=1,b=1 LDS:l=1 RDS:r=1");
        set(f, "n1", 3, "CDS:a=3,b=1 EDS:a=1,b=1 LDS:l=1 RDS:r=1");
        assert_int_equal(unread(h), 0);
        h->queued = 0;
        fake->cb.stream_writable(fake->userdata, h, h->data);
        ack_next(f, h, ADS_TYPE_CLUSTER, "a=3,b=1", "");
        assert_int_equal(unread(h), 0);
        close_stream(h);
}

static void test_unknown_node_then_known(void **state) {
        Fixture *f = *state;
        H2Stream *h = open_ads(false);
        sotw(h, "later", ADS_TYPE_LISTENER, NULL, NULL, "", NULL);
        assert_true(event_seen("connected later -"));
        assert_true(event_seen("unknown later -"));
        assert_int_equal(unread(h), 0);
        AdsNodeStatus st;
        status_of(f->s, "later", ADS_TYPE_LISTENER, &st);
        assert_false(st.known);
        assert_int_equal(st.n_streams, 1);
        assert_false(h->finished);
        set(f, "later", 7, "LDS:l=1");
        expect(h, false, ADS_TYPE_LISTENER, "l=1", NULL);
        close_stream(h);
}

static void test_refusals(void **state) {
        Fixture *f = *state;
        set(f, "n1", 1, GEN1);
        static const char *const wrong[] = { "n2", "spiffe://x/n3", NULL };
        static const char *const right[] = { "cn", "n1", NULL };

        /* TLS: the certificate must name the node */
        H2Stream *h = open_stream("/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources", wrong);
        sotw(h, "n1", ADS_TYPE_CLUSTER, NULL, NULL, "", NULL);
        assert_true(h->finished);
        assert_int_equal(h->status, GRPC_STATUS_PERMISSION_DENIED);
        assert_true(event_seen("refused - - the client certificate does not name node n1"));
        assert_int_equal(unread(h), 0);
        close_stream(h);
        h = open_stream("/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources", right);
        sotw(h, "n1", ADS_TYPE_CLUSTER, NULL, NULL, "", NULL);
        assert_false(h->finished);
        expect(h, false, ADS_TYPE_CLUSTER, "a=1,b=1", NULL);
        close_stream(h);

        /* no node */
        h = open_ads(false);
        sotw(h, NULL, ADS_TYPE_CLUSTER, NULL, NULL, "", NULL);
        assert_int_equal(h->status, GRPC_STATUS_INVALID_ARGUMENT);
        close_stream(h);

        /* malformed: only that stream ends */
        H2Stream *other = open_ads(false);
        sotw(other, "n1", ADS_TYPE_LISTENER, NULL, NULL, "", NULL);
        h = open_ads(true);
        static const uint8_t junk[] = { 0x12, 0x05, 'a' };
        fake->cb.stream_message(fake->userdata, h, h->data, junk, sizeof(junk));
        assert_true(h->finished);
        assert_int_equal(h->status, GRPC_STATUS_INVALID_ARGUMENT);
        assert_true(strstr(h->message, "malformed DeltaDiscoveryRequest") != NULL);
        assert_true(event_seen("refused - - malformed"));
        close_stream(h);
        assert_false(other->finished);
        expect(other, false, ADS_TYPE_LISTENER, "l=1", NULL);

        /* a per-type stream asked for another type */
        h = open_stream("/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters", NULL);
        sotw(h, "n1", ADS_TYPE_CLUSTER, NULL, NULL, "", NULL);
        expect(h, false, ADS_TYPE_CLUSTER, "a=1,b=1", NULL);
        sotw(h, NULL, ADS_TYPE_LISTENER, NULL, NULL, "", NULL);
        assert_int_equal(h->status, GRPC_STATUS_INVALID_ARGUMENT);
        close_stream(h);

        /* an unknown path */
        H2Stream x = {};
        void *data = NULL;
        assert_int_equal(fake->cb.stream_open(fake->userdata, &x, "/grpc.health.v1.Health/Check", &x.peer, &data),
                         GRPC_STATUS_UNIMPLEMENTED);

        /* forget: the node's streams end NOT_FOUND, its status is gone */
        ads_server_forget_node(f->s, "n1");
        assert_true(other->finished);
        assert_int_equal(other->status, GRPC_STATUS_NOT_FOUND);
        assert_null(ads_server_get_snapshot(f->s, "n1"));
        close_stream(other);
        found_ok = false;
        want_node = "n1";
        ads_server_foreach_node(f->s, grab, NULL);
        assert_false(found_ok);
}

static void test_per_type_streams_push_alone(void **state) {
        Fixture *f = *state;
        set(f, "n1", 1, GEN1);
        H2Stream *c = open_stream("/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters", NULL);
        H2Stream *l = open_stream("/envoy.service.listener.v3.ListenerDiscoveryService/StreamListeners", NULL);
        sotw(c, "n1", ADS_TYPE_CLUSTER, NULL, NULL, "", NULL);
        sotw(l, "n1", ADS_TYPE_LISTENER, NULL, NULL, "", NULL);
        expect(c, false, ADS_TYPE_CLUSTER, "a=1,b=1", NULL);
        expect(l, false, ADS_TYPE_LISTENER, "l=1", NULL);
        sotw(c, NULL, ADS_TYPE_CLUSTER, "v", "1", "", NULL);
        sotw(l, NULL, ADS_TYPE_LISTENER, "v", "1", "", NULL);
        set(f, "n1", 2, GEN2);
        /* LDS does not wait for the CDS stream's ACK */
        expect(c, false, ADS_TYPE_CLUSTER, "a=1,b=1,c=1", NULL);
        expect(l, false, ADS_TYPE_LISTENER, "l=2", NULL);
        close_stream(c);
        close_stream(l);
}

static void test_delta(void **state) {
        Fixture *f = *state;
        set(f, "n1", 1, "CDS:a=1,b=2 EDS:a=1");
        AdsResource *a = ads_type_set_find(&ads_server_get_snapshot(f->s, "n1")->types[ADS_TYPE_CLUSTER], "a");
        _cleanup_free_ char *initial = xasprintf("a=%s b=oldversion z=zz", a->version);
        H2Stream *h = open_ads(true);
        delta(h, "n1", ADS_TYPE_CLUSTER, "", "", initial, NULL, NULL);
        /* only b (a is current), z removed, per-resource versions */
        Resp r;
        next(h, true, ADS_TYPE_CLUSTER, &r);
        _cleanup_free_ char *res = resp_resources(&r), *rm = resp_removed(&r);
        assert_string_equal(res, "b=2");
        assert_string_equal(rm, "z");
        AdsResource *b = ads_type_set_find(&ads_server_get_snapshot(f->s, "n1")->types[ADS_TYPE_CLUSTER], "b");
        assert_string_equal(r.res_version[0], b->version);
        assert_string_equal(r.version, set_version(f, "n1", ADS_TYPE_CLUSTER));
        delta(h, NULL, ADS_TYPE_CLUSTER, "", "", "", r.nonce, NULL);
        _cleanup_free_ char *ev = xasprintf("ack n1 CDS %s", r.version);
        assert_true(event_seen(ev));
        resp_done(&r);

        /* named EDS: a, and x that does not exist (told at once) */
        delta(h, NULL, ADS_TYPE_ENDPOINT, "a x", "", "", NULL, NULL);
        const char *n = expect(h, true, ADS_TYPE_ENDPOINT, "a=1", "x");
        delta(h, NULL, ADS_TYPE_ENDPOINT, "", "", "", n, NULL);

        /* a new generation removes a and changes b: pass 1 sends b, pass 2 removes a */
        set(f, "n1", 2, "CDS:b=3,c=1 EDS:b=1");
        n = expect(h, true, ADS_TYPE_CLUSTER, "b=3,c=1", "");
        assert_int_equal(unread(h), 0);
        delta(h, NULL, ADS_TYPE_CLUSTER, "", "", "", n, NULL);
        /* EDS: a removed only in pass 2; nothing new in pass 1 (b is not subscribed) */
        n = expect(h, true, ADS_TYPE_CLUSTER, "", "a");
        delta(h, NULL, ADS_TYPE_CLUSTER, "", "", "", n, NULL);
        n = expect(h, true, ADS_TYPE_ENDPOINT, "", "a");
        delta(h, NULL, ADS_TYPE_ENDPOINT, "", "", "", n, NULL);
        assert_int_equal(unread(h), 0);

        /* a NACK of a resource version: not offered again while it is unchanged */
        set(f, "n1", 3, "CDS:b=4,c=1 EDS:b=1");
        n = expect(h, true, ADS_TYPE_CLUSTER, "b=4", "");
        delta(h, NULL, ADS_TYPE_CLUSTER, "", "", "", n, "b=4 is bad");
        assert_true(event_seen("nack n1 CDS"));
        set(f, "n1", 4, "CDS:b=4,c=2 EDS:b=1");
        n = expect(h, true, ADS_TYPE_CLUSTER, "c=2", "");
        delta(h, NULL, ADS_TYPE_CLUSTER, "", "", "", n, NULL);
        /* another stream of the node that has no cluster yet (a restart):
         * it gets b=4 too, its only state (h, which has b, still does not) */
        H2Stream *h2 = open_ads(true);
        delta(h2, "n1", ADS_TYPE_CLUSTER, "", "", "", NULL, NULL);
        n = expect(h2, true, ADS_TYPE_CLUSTER, "b=4,c=2", "");
        delta(h2, NULL, ADS_TYPE_CLUSTER, "", "", "", n, NULL);
        set(f, "n1", 5, "CDS:b=5,c=2 EDS:b=1");
        expect(h, true, ADS_TYPE_CLUSTER, "b=5", "");
        expect(h2, true, ADS_TYPE_CLUSTER, "b=5", "");

        /* unsubscribe, then subscribe again: sent again although unchanged */
        delta(h, NULL, ADS_TYPE_ENDPOINT, "", "a x", "", NULL, NULL);
        assert_int_equal(unread(h), 0);
        delta(h, NULL, ADS_TYPE_ENDPOINT, "b", "", "", NULL, NULL);
        expect(h, true, ADS_TYPE_ENDPOINT, "b=1", "");
        AdsNodeStatus st;
        status_of(f->s, "n1", ADS_TYPE_CLUSTER, &st);
        assert_int_equal(st.n_streams, 2);
        assert_int_equal(st.n_delta, 2);
        close_stream(h);
        close_stream(h2);
}

static void test_delta_reconnect(void **state) {
        Fixture *f = *state;
        set(f, "n1", 1, "EDS:a=1,b=1");
        const AdsTypeSet *eds = &ads_server_get_snapshot(f->s, "n1")->types[ADS_TYPE_ENDPOINT];
        /* the client has a and b current: nothing to send */
        _cleanup_free_ char *initial = xasprintf("a=%s b=%s", eds->r[0]->version, eds->r[1]->version);
        H2Stream *h = open_ads(true);
        delta(h, "n1", ADS_TYPE_ENDPOINT, "a b", "", initial, NULL, NULL);
        assert_int_equal(unread(h), 0);
        /* subscribing to a again later: sent again */
        delta(h, NULL, ADS_TYPE_ENDPOINT, "a", "", "", NULL, NULL);
        expect(h, true, ADS_TYPE_ENDPOINT, "a=1", "");
        close_stream(h);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_sotw_initial_ack, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sotw_subscription_and_stale_nonce, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sotw_newly_named_resent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sotw_nack_not_offered_again, setup, teardown),
                cmocka_unit_test_setup_teardown(test_push_order_and_removals_last, setup, teardown),
                cmocka_unit_test_setup_teardown(test_push_order_each_type, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ack_timeout_moves_on, setup, teardown),
                cmocka_unit_test_setup_teardown(test_nack_stops_push, setup, teardown),
                cmocka_unit_test_setup_teardown(test_coalesce_mid_push, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stalled_stream_gets_newest, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unknown_node_then_known, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
                cmocka_unit_test_setup_teardown(test_per_type_streams_push_alone, setup, teardown),
                cmocka_unit_test_setup_teardown(test_delta, setup, teardown),
                cmocka_unit_test_setup_teardown(test_delta_reconnect, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
