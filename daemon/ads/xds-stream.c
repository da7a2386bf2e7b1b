/* SPDX-License-Identifier: MIT */
/* One xDS stream's protocol (xds-internal.h): its requests (node,
 * subscriptions per type, ACK and NACK by nonce), the responses it is due
 * (state of the world or delta, from its node's snapshot), and the push of
 * a new snapshot in make-before-break order: pass 1 over the types in
 * ADS_TYPE_* order never takes away what the client has (state of the
 * world CDS and EDS keep the resources sent before that the snapshot lost,
 * delta holds back removed_resources), pass 2 sends the removals; each
 * step waits for its ACK, NACK or ack_timeout. */
#include <assert.h>
#include <inttypes.h>

#include "xds-internal.h"
#include "xds-wire.h"

static const struct {
        const char *path;
        bool delta;
        AdsType only;
} paths[] = {
        { "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources", false, _ADS_TYPE_INVALID },
        { "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources", true, _ADS_TYPE_INVALID },
        { "/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters", false, ADS_TYPE_CLUSTER },
        { "/envoy.service.cluster.v3.ClusterDiscoveryService/DeltaClusters", true, ADS_TYPE_CLUSTER },
        { "/envoy.service.endpoint.v3.EndpointDiscoveryService/StreamEndpoints", false, ADS_TYPE_ENDPOINT },
        { "/envoy.service.endpoint.v3.EndpointDiscoveryService/DeltaEndpoints", true, ADS_TYPE_ENDPOINT },
        { "/envoy.service.listener.v3.ListenerDiscoveryService/StreamListeners", false, ADS_TYPE_LISTENER },
        { "/envoy.service.listener.v3.ListenerDiscoveryService/DeltaListeners", true, ADS_TYPE_LISTENER },
        { "/envoy.service.route.v3.RouteDiscoveryService/StreamRoutes", false, ADS_TYPE_ROUTE },
        { "/envoy.service.route.v3.RouteDiscoveryService/DeltaRoutes", true, ADS_TYPE_ROUTE },
        { "/envoy.service.route.v3.ScopedRoutesDiscoveryService/StreamScopedRoutes", false, ADS_TYPE_SCOPED_ROUTE },
        { "/envoy.service.route.v3.ScopedRoutesDiscoveryService/DeltaScopedRoutes", true, ADS_TYPE_SCOPED_ROUTE },
        { "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets", false, ADS_TYPE_SECRET },
        { "/envoy.service.secret.v3.SecretDiscoveryService/DeltaSecrets", true, ADS_TYPE_SECRET },
        { "/envoy.service.runtime.v3.RuntimeDiscoveryService/StreamRuntime", false, ADS_TYPE_RUNTIME },
        { "/envoy.service.runtime.v3.RuntimeDiscoveryService/DeltaRuntime", true, ADS_TYPE_RUNTIME },
};

int xds_path_lookup(const char *path, bool *ret_delta, AdsType *ret_only) {
        for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                if (streq(paths[i].path, path)) {
                        *ret_delta = paths[i].delta;
                        *ret_only = paths[i].only;
                        return 0;
                }
        return -ENOENT;
}

/* Sorted string lists. */
static ssize_t names_find(char *const *v, size_t n, const char *name) {
        size_t lo = 0, hi = n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(name, v[mid]);
                if (c == 0)
                        return (ssize_t) mid;
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return -(ssize_t) lo - 1;
}

static void names_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static bool names_add(char ***v, size_t *n, const char *name) {
        ssize_t i = names_find(*v, *n, name);
        if (i >= 0)
                return false;
        size_t at = (size_t) (-i - 1);
        *v = xrealloc(*v, sizeof(char *) * (*n + 1));
        memmove(*v + at + 1, *v + at, sizeof(char *) * (*n - at));
        (*v)[at] = xstrdup(name);
        (*n)++;
        return true;
}

static bool names_remove(char ***v, size_t *n, const char *name) {
        ssize_t i = names_find(*v, *n, name);
        if (i < 0)
                return false;
        free((*v)[i]);
        memmove(*v + i, *v + i + 1, sizeof(char *) * (*n - (size_t) i - 1));
        (*n)--;
        return true;
}

static const char *known_get(const XdsKnown *k, const char *name) {
        ssize_t i = names_find(k->names, k->n, name);
        return i >= 0 ? k->versions[i] : NULL;
}

/* version NULL: removes the entry */
static void known_set(XdsKnown *k, const char *name, const char *version) {
        ssize_t i = names_find(k->names, k->n, name);
        if (i >= 0) {
                if (version) {
                        free(k->versions[i]);
                        k->versions[i] = xstrdup(version);
                        return;
                }
                free(k->names[i]);
                free(k->versions[i]);
                memmove(k->names + i, k->names + i + 1, sizeof(char *) * (k->n - (size_t) i - 1));
                memmove(k->versions + i, k->versions + i + 1, sizeof(char *) * (k->n - (size_t) i - 1));
                k->n--;
                return;
        }
        if (!version)
                return;
        size_t at = (size_t) (-i - 1);
        k->names = xrealloc(k->names, sizeof(char *) * (k->n + 1));
        k->versions = xrealloc(k->versions, sizeof(char *) * (k->n + 1));
        memmove(k->names + at + 1, k->names + at, sizeof(char *) * (k->n - at));
        memmove(k->versions + at + 1, k->versions + at, sizeof(char *) * (k->n - at));
        k->names[at] = xstrdup(name);
        k->versions[at] = xstrdup(version);
        k->n++;
}

/* an undo/pending list keeps order of insertion and allows NULL versions */
static void list_push(XdsKnown *k, const char *name, const char *version) {
        k->names = xrealloc(k->names, sizeof(char *) * (k->n + 1));
        k->versions = xrealloc(k->versions, sizeof(char *) * (k->n + 1));
        k->names[k->n] = xstrdup(name);
        k->versions[k->n] = version ? xstrdup(version) : NULL;
        k->n++;
}

void xds_known_free(XdsKnown *k) {
        for (size_t i = 0; i < k->n; i++) {
                free(k->names[i]);
                free(k->versions[i]);
        }
        free(k->names);
        free(k->versions);
        *k = (XdsKnown) {};
}

static void sent_clear(XdsSub *sub) {
        for (size_t i = 0; i < sub->n_sent; i++)
                ads_resource_unref(sub->sent[i]);
        free(sub->sent);
        sub->sent = NULL;
        sub->n_sent = 0;
}

XdsStream *xds_stream_new(AdsServer *s, H2Stream *h2, const H2Peer *peer, bool delta, AdsType only) {
        XdsStream *st = xcalloc(1, sizeof(XdsStream));
        st->server = s;
        st->h2 = h2;
        st->peer = peer;
        st->delta = delta;
        st->only = only;
        st->wait_type = _ADS_TYPE_INVALID;
        return st;
}

XdsStream *xds_stream_free(XdsStream *st) {
        if (!st)
                return NULL;
        sd_event_source_disable_unref(st->timer);
        for (AdsType t = 0; t < _ADS_TYPE_MAX; t++) {
                XdsSub *sub = &st->sub[t];
                names_free(sub->names, sub->n_names);
                sent_clear(sub);
                xds_known_free(&sub->known);
                xds_known_free(&sub->undo);
                xds_known_free(&sub->pend);
        }
        free(st->node_id);
        free(st);
        return NULL;
}

static bool selected(const XdsSub *sub, const char *name) {
        return sub->wildcard || names_find(sub->names, sub->n_names, name) >= 0;
}

static const AdsTypeSet *type_set(XdsStream *st, AdsType t) {
        return &st->node->snap->types[t];
}

static bool full_state(AdsType t) {
        return ads_type_wildcard_default(t);
}

/* A version a client of the node NACKed is not offered again to a stream
 * that has the type already (it keeps what it had), but a stream that has
 * nothing of it yet (a new Envoy, or one restarted) gets it: withholding
 * the only state there is would leave it with none (Envoy applies what it
 * can of a refused update, and says NACK again). */
static bool sotw_blocked(XdsStream *st, AdsType t) {
        const char *nacked = st->node->types[t].nacked;
        return nacked[0] && streq(nacked, type_set(st, t)->version) && st->sub[t].sent_once;
}

static bool delta_blocked(XdsStream *st, AdsType t, const AdsResource *r) {
        if (!st->sub[t].sent_once)
                return false;
        for (size_t i = 0; i < st->node->n_dnack; i++) {
                const XdsDeltaNack *d = &st->node->dnack[i];
                if (d->type == t && streq(d->name, r->name) && streq(d->version, r->version))
                        return true;
        }
        return false;
}

/* In pass 1 of a push nothing the client has is taken away. */
static bool making(XdsStream *st) {
        return st->pushing && st->pass == 1;
}

/* The state-of-the-world resources the stream is due for t (free() the
 * array; the entries are borrowed). */
static size_t sotw_desired(XdsStream *st, AdsType t, AdsResource ***ret) {
        const AdsTypeSet *set = type_set(st, t);
        XdsSub *sub = &st->sub[t];
        AdsResource **v = xmalloc(sizeof(AdsResource *) * (set->n + sub->n_sent + 1));
        size_t n = 0;
        for (size_t i = 0; i < set->n; i++)
                if (selected(sub, set->r[i]->name))
                        v[n++] = set->r[i];
        if (making(st) && (t == ADS_TYPE_CLUSTER || t == ADS_TYPE_ENDPOINT))
                for (size_t i = 0; i < sub->n_sent; i++)
                        if (selected(sub, sub->sent[i]->name) && !ads_type_set_find(set, sub->sent[i]->name))
                                v[n++] = sub->sent[i];
        *ret = v;
        return n;
}

static bool same_resources(AdsResource *const *a, size_t na, AdsResource *const *b, size_t nb) {
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (!streq(a[i]->name, b[i]->name) || !streq(a[i]->version, b[i]->version))
                        return false;
        return true;
}

static int cmp_res(const void *a, const void *b) {
        return strcmp((*(AdsResource *const *) a)->name, (*(AdsResource *const *) b)->name);
}

static void next_nonce(XdsStream *st, XdsSub *sub) {
        snprintf(sub->nonce, sizeof(sub->nonce), "%" PRIu64, ++st->nonce_counter);
}

static void sent_out(XdsStream *st, AdsType t, const char *version) {
        XdsSub *sub = &st->sub[t];
        snprintf(sub->sent_version, sizeof(sub->sent_version), "%s", version);
        snprintf(st->node->types[t].offered, sizeof(st->node->types[t].offered), "%s", version);
        sub->sent_once = true;
        sub->pending = true;
        sub->push_step = false;
        sub->timed_out = false;
        sub->want_reply = false;
        sub->sub_changed = false;
        sub->added = false;
}

static void snapshot_hold(void *ref) {
        ads_snapshot_ref(ref);
}

static void snapshot_release(void *ref) {
        ads_snapshot_unref(ref);
}

/* Whether v (sorted) is the whole set: then the set's shared body is. */
static bool whole_set(const AdsTypeSet *set, AdsResource *const *v, size_t n) {
        if (n != set->n || n == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (v[i] != set->r[i])
                        return false;
        return true;
}

static void sotw_send(XdsStream *st, AdsType t, AdsResource **v, size_t n) {
        XdsSub *sub = &st->sub[t];
        qsort(v, n, sizeof(AdsResource *), cmp_res);
        next_nonce(st, sub);
        AdsSnapshot *snap = st->node->snap;
        AdsTypeSet *set = &snap->types[t];
        const char *version = set->version;
        Buf b = {};
        if (whole_set(set, v, n)) {
                /* the body, most of the bytes, encoded once and shared by
                 * every stream (a stalled one holds its head only) */
                if (!set->sotw_body) {
                        Buf body = {};
                        xds_encode_response_body(&body, v, n, ads_type_url(t));
                        set->sotw_body = body.data;
                        set->sotw_body_len = body.len;
                }
                xds_encode_response_head(&b, version, sub->nonce);
                (void) h2_stream_send_shared(st->h2, b.data, b.len, set->sotw_body, set->sotw_body_len, snap,
                                             snapshot_hold, snapshot_release);
        } else {
                xds_encode_response(&b, version, v, n, ads_type_url(t), sub->nonce);
                (void) h2_stream_send(st->h2, b.data, b.len);
        }
        buf_free(&b);
        /* v may borrow from sent: the new references first */
        AdsResource **now = xmalloc(sizeof(AdsResource *) * (n + 1));
        for (size_t i = 0; i < n; i++)
                now[i] = ads_resource_ref(v[i]);
        sent_clear(sub);
        sub->sent = now;
        sub->n_sent = n;
        sent_out(st, t, version);
}

typedef struct DeltaPlan {
        AdsResource **res;
        size_t n_res;
        char **removed;
        size_t n_removed;
} DeltaPlan;

static void delta_plan(XdsStream *st, AdsType t, DeltaPlan *p) {
        const AdsTypeSet *set = type_set(st, t);
        XdsSub *sub = &st->sub[t];
        *p = (DeltaPlan) {};
        p->res = xmalloc(sizeof(AdsResource *) * (set->n + 1));
        for (size_t i = 0; i < set->n; i++) {
                AdsResource *r = set->r[i];
                if (!selected(sub, r->name) || delta_blocked(st, t, r))
                        continue;
                const char *have = known_get(&sub->known, r->name);
                if (!have || !streq(have, r->version))
                        p->res[p->n_res++] = r;
        }
        p->removed = xmalloc(sizeof(char *) * (sub->known.n + sub->n_names + 1));
        /* what the client has and the snapshot lacks: in pass 2, or outside a push */
        if (!making(st))
                for (size_t i = 0; i < sub->known.n; i++)
                        if (sub->known.versions[i][0] && !ads_type_set_find(set, sub->known.names[i]))
                                p->removed[p->n_removed++] = sub->known.names[i];
        /* names it asked for and was never told about: at once */
        for (size_t i = 0; i < sub->n_names; i++)
                if (!ads_type_set_find(set, sub->names[i]) && !known_get(&sub->known, sub->names[i]))
                        p->removed[p->n_removed++] = sub->names[i];
}

static void delta_send(XdsStream *st, AdsType t, DeltaPlan *p) {
        XdsSub *sub = &st->sub[t];
        next_nonce(st, sub);
        const char *version = type_set(st, t)->version;
        Buf b = {};
        xds_encode_delta_response(&b, version, p->res, p->n_res, ads_type_url(t), sub->nonce, p->removed, p->n_removed);
        (void) h2_stream_send(st->h2, b.data, b.len);
        buf_free(&b);
        xds_known_free(&sub->undo);
        xds_known_free(&sub->pend);
        for (size_t i = 0; i < p->n_res; i++) {
                AdsResource *r = p->res[i];
                list_push(&sub->undo, r->name, known_get(&sub->known, r->name));
                list_push(&sub->pend, r->name, r->version);
                known_set(&sub->known, r->name, r->version);
        }
        /* copies first: removed[] points into known and names */
        size_t n = p->n_removed;
        char **copy = xmalloc(sizeof(char *) * (n + 1));
        for (size_t i = 0; i < n; i++)
                copy[i] = xstrdup(p->removed[i]);
        for (size_t i = 0; i < n; i++) {
                list_push(&sub->undo, copy[i], known_get(&sub->known, copy[i]));
                bool named = names_find(sub->names, sub->n_names, copy[i]) >= 0;
                known_set(&sub->known, copy[i], named ? "" : NULL);
        }
        names_free(copy, n);
        sent_out(st, t, version);
}

static void delta_plan_done(DeltaPlan *p) {
        free(p->res);
        free(p->removed);
}

/* Sends t's response when it is due: reply (a request asked) or a push
 * step. Returns whether something was sent. */
static bool respond(XdsStream *st, AdsType t, bool reply) {
        XdsSub *sub = &st->sub[t];
        if (st->delta) {
                DeltaPlan p;
                delta_plan(st, t, &p);
                bool due = p.n_res > 0 || p.n_removed > 0 || (reply && !sub->sent_once && full_state(t));
                if (due)
                        delta_send(st, t, &p);
                delta_plan_done(&p);
                return due;
        }
        /* a NACKed version holds, but not against a request naming what
         * the client did not have (a cluster added asks for its endpoints) */
        if (sotw_blocked(st, t) && !(reply && sub->added))
                return false;
        _cleanup_free_ AdsResource **v = NULL;
        size_t n = sotw_desired(st, t, &v);
        /* a request, or a push, is answered only with what the client lacks */
        qsort(v, n, sizeof(AdsResource *), cmp_res);
        bool same = sub->sent_once && same_resources(v, n, sub->sent, sub->n_sent);
        /* newly named resources are sent even when the client may have them
         * (xds_protocol.rst: "even if it previously sent those resources
         * without having been asked for them") */
        bool due = (!same || (reply && sub->added)) && (full_state(t) || n > 0);
        if (!same && !due)
                sent_clear(sub); /* nothing to say: the client keeps what it has */
        if (due)
                sotw_send(st, t, v, n);
        return due;
}

static bool can_send(XdsStream *st) {
        return h2_stream_queued(st->h2) < xds_server_low_water(st->server);
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        (void) src;
        (void) usec;
        xds_stream_ack_timeout(userdata);
        return 0;
}

static void arm_timer(XdsStream *st) {
        st->timer = sd_event_source_disable_unref(st->timer);
        sd_event *e = xds_server_event(st->server);
        if (e)
                (void) sd_event_add_time_relative(e, &st->timer, CLOCK_MONOTONIC, xds_server_ack_timeout(st->server),
                                                  0, on_timer, st);
}

static bool served(XdsStream *st, AdsType t) {
        return st->only == _ADS_TYPE_INVALID || st->only == t;
}

void xds_stream_pump(XdsStream *st) {
        if (st->finished || !st->node || !st->node->snap)
                return;
        for (AdsType t = 0; t < _ADS_TYPE_MAX; t++) {
                XdsSub *sub = &st->sub[t];
                if (!sub->want_reply || (sub->pending && !sub->timed_out))
                        continue;
                if (!can_send(st))
                        return;
                respond(st, t, true);
                sub->want_reply = false;
        }
        while (st->pushing) {
                if (st->waiting)
                        return;
                if (st->restart) {
                        st->restart = false;
                        st->pass = 1;
                        st->step = 0;
                }
                if (st->step >= _ADS_TYPE_MAX) {
                        if (st->pass == 1) {
                                st->pass = 2;
                                st->step = 0;
                                continue;
                        }
                        st->pushing = false;
                        break;
                }
                AdsType t = st->step;
                XdsSub *sub = &st->sub[t];
                if (!served(st, t) || !sub->seen) {
                        st->step++;
                        continue;
                }
                if (sub->pending && !sub->timed_out) {
                        /* a reply's answer first (it pumps again), within
                         * ack_timeout like a step's: a client that never
                         * ACKs its first response still gets the generation */
                        st->waiting = true;
                        st->wait_type = t;
                        arm_timer(st);
                        return;
                }
                if (!can_send(st))
                        return;
                st->step++;
                if (!respond(st, t, false))
                        continue;
                sub->push_step = true;
                st->waiting = true;
                st->wait_type = t;
                arm_timer(st);
                return;
        }
}

void xds_stream_snapshot_changed(XdsStream *st) {
        if (st->finished)
                return;
        if (st->pushing)
                st->restart = true; /* after the step in flight */
        else {
                st->pushing = true;
                st->restart = false;
                st->pass = 1;
                st->step = 0;
        }
        xds_stream_pump(st);
}

static void push_step_over(XdsStream *st) {
        st->waiting = false;
        st->wait_type = _ADS_TYPE_INVALID;
        st->timer = sd_event_source_disable_unref(st->timer);
}

void xds_stream_ack_timeout(XdsStream *st) {
        if (!st->waiting)
                return;
        XdsSub *sub = &st->sub[st->wait_type];
        sub->timed_out = true;
        sub->push_step = false;
        AdsType t = st->wait_type;
        push_step_over(st);
        xds_emit(st, ADS_EVENT_ACK_TIMEOUT, t, sub->sent_version, NULL);
        xds_stream_pump(st);
}

static uint64_t now_realtime(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void on_ack(XdsStream *st, AdsType t, const XdsRequest *req) {
        XdsSub *sub = &st->sub[t];
        AdsTypeStatus *ts = &st->node->types[t];
        bool was_step = sub->push_step;
        sub->pending = false;
        sub->push_step = false;
        sub->timed_out = false;
        if (!req->has_error) {
                snprintf(ts->acked, sizeof(ts->acked), "%s", sub->sent_version);
                ts->acked_usec = now_realtime();
                xds_known_free(&sub->undo);
                xds_known_free(&sub->pend);
                if (was_step || (st->waiting && st->wait_type == t))
                        push_step_over(st); /* the step, or the reply the push waited on */
                xds_emit(st, ADS_EVENT_ACK, t, sub->sent_version, NULL);
                return;
        }
        snprintf(ts->nacked, sizeof(ts->nacked), "%s", sub->sent_version);
        free(ts->nack_message);
        ts->nack_message = xstrdup(req->error_message);
        ts->nacked_usec = now_realtime();
        if (st->delta) {
                XdsNode *n = st->node;
                for (size_t i = 0; i < sub->pend.n; i++) {
                        n->dnack = xrealloc(n->dnack, sizeof(XdsDeltaNack) * (n->n_dnack + 1));
                        XdsDeltaNack *d = &n->dnack[n->n_dnack++];
                        d->type = t;
                        d->name = xstrdup(sub->pend.names[i]);
                        snprintf(d->version, sizeof(d->version), "%s", sub->pend.versions[i]);
                }
                /* the client kept what it had */
                for (size_t i = sub->undo.n; i > 0; i--)
                        known_set(&sub->known, sub->undo.names[i - 1], sub->undo.versions[i - 1]);
                xds_known_free(&sub->undo);
                xds_known_free(&sub->pend);
        }
        if (was_step) {
                push_step_over(st);
                st->pushing = false; /* this generation stops here on this stream */
                st->restart = false;
        } else if (st->waiting && st->wait_type == t)
                push_step_over(st); /* a NACK of an earlier reply: the generation goes on */
        xds_emit(st, ADS_EVENT_NACK, t, sub->sent_version, req->error_message);
}

static bool sotw_subscribe(XdsSub *sub, AdsType t, const XdsRequest *req) {
        bool star = false;
        for (size_t i = 0; i < req->n_names; i++)
                if (streq(req->names[i], "*"))
                        star = true;
        bool legacy = req->n_names == 0 && ads_type_wildcard_default(t) && (!sub->seen || sub->legacy_wildcard);
        bool wildcard = star || legacy;
        char **names = NULL;
        size_t n = 0;
        for (size_t i = 0; i < req->n_names; i++)
                if (!streq(req->names[i], "*"))
                        names_add(&names, &n, req->names[i]);
        bool changed = !sub->seen || wildcard != sub->wildcard || n != sub->n_names;
        for (size_t i = 0; !changed && i < n; i++)
                changed = !streq(names[i], sub->names[i]);
        for (size_t i = 0; i < n; i++)
                if (names_find(sub->names, sub->n_names, names[i]) < 0)
                        sub->added = true;
        if (wildcard && !sub->wildcard)
                sub->added = true;
        names_free(sub->names, sub->n_names);
        sub->names = names;
        sub->n_names = n;
        sub->wildcard = wildcard;
        sub->legacy_wildcard = legacy;
        return changed;
}

static bool delta_subscribe(XdsSub *sub, AdsType t, const XdsRequest *req) {
        bool changed = !sub->seen;
        if (!sub->seen) {
                sub->wildcard = req->n_names == 0 && ads_type_wildcard_default(t);
                for (size_t i = 0; i < req->n_initial; i++)
                        known_set(&sub->known, req->initial_names[i], req->initial_versions[i]);
        }
        for (size_t i = 0; i < req->n_names; i++) {
                const char *name = req->names[i];
                if (streq(name, "*")) {
                        changed |= !sub->wildcard;
                        sub->wildcard = true;
                        continue;
                }
                names_add(&sub->names, &sub->n_names, name);
                /* subscribed again later: the client may have forgotten it,
                 * send it again (a first request's names come with what it
                 * has in initial_resource_versions) */
                if (sub->seen)
                        known_set(&sub->known, name, NULL);
                changed = true;
        }
        for (size_t i = 0; i < req->n_unsubscribe; i++) {
                const char *name = req->unsubscribe[i];
                if (streq(name, "*")) {
                        changed |= sub->wildcard;
                        sub->wildcard = false;
                        /* the client drops what it had only by the wildcard */
                        for (size_t j = sub->known.n; j > 0; j--)
                                if (names_find(sub->names, sub->n_names, sub->known.names[j - 1]) < 0) {
                                        _cleanup_free_ char *k = xstrdup(sub->known.names[j - 1]);
                                        known_set(&sub->known, k, NULL);
                                }
                        continue;
                }
                changed |= names_remove(&sub->names, &sub->n_names, name);
                if (!sub->wildcard)
                        known_set(&sub->known, name, NULL);
        }
        return changed;
}

static bool node_ok(XdsStream *st, const XdsRequest *req) {
        if (st->node_id) {
                if (req->node_id && *req->node_id && !streq(req->node_id, st->node_id)) {
                        xds_stream_end(st, GRPC_STATUS_INVALID_ARGUMENT, "node.id differs from the stream's first request", true);
                        return false;
                }
                return true;
        }
        if (!req->node_id || !*req->node_id) {
                xds_stream_end(st, GRPC_STATUS_INVALID_ARGUMENT, "the first request has no node.id", true);
                return false;
        }
        if (st->peer && st->peer->tls) {
                bool ok = false;
                for (char **c = st->peer->cert_names; c && *c && !ok; c++)
                        ok = streq(*c, req->node_id);
                if (!ok) {
                        _cleanup_free_ char *m = xasprintf("the client certificate does not name node %s", req->node_id);
                        xds_stream_end(st, GRPC_STATUS_PERMISSION_DENIED, m, true);
                        return false;
                }
        }
        xds_stream_attach(st, req->node_id);
        return true;
}

void xds_stream_message(XdsStream *st, const uint8_t *msg, size_t len) {
        if (st->finished)
                return;
        XdsRequest req;
        _cleanup_free_ char *error = NULL;
        if (xds_request_parse(msg, len, st->delta, &req, &error) < 0) {
                _cleanup_free_ char *m = xasprintf("malformed %s: %s",
                                                   st->delta ? "DeltaDiscoveryRequest" : "DiscoveryRequest", error);
                xds_stream_end(st, GRPC_STATUS_INVALID_ARGUMENT, m, true);
                return;
        }
        if (!node_ok(st, &req))
                goto done;
        AdsType t = ads_type_from_url(req.type_url);
        if (st->only != _ADS_TYPE_INVALID && !*req.type_url)
                t = st->only;
        if (st->only != _ADS_TYPE_INVALID && t != st->only) {
                _cleanup_free_ char *m = xasprintf("this %s stream serves %s only, not %s",
                                                   ads_type_short(st->only), ads_type_url(st->only), req.type_url);
                xds_stream_end(st, GRPC_STATUS_INVALID_ARGUMENT, m, true);
                goto done;
        }
        if (t == _ADS_TYPE_INVALID)
                goto done; /* a type not served (over ADS): no response, as for a name that does not exist */

        XdsSub *sub = &st->sub[t];
        bool first = !sub->seen;
        bool current = !*req.response_nonce || streq(req.response_nonce, sub->nonce);
        if (current && *req.response_nonce && sub->pending && st->node)
                on_ack(st, t, &req);
        bool changed = st->delta ? delta_subscribe(sub, t, &req) : sotw_subscribe(sub, t, &req);
        sub->seen = true;
        sub->sub_changed |= changed;
        if (current && (first || sub->sub_changed))
                sub->want_reply = true;
        xds_stream_pump(st);
done:
        xds_request_done(&req);
}
