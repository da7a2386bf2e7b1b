/* SPDX-License-Identifier: MIT */
/* fsxdsd's side of the xDS server: configuration, snapshots, the journal
 * and status (adsfeed.h). */
#include <dirent.h>
#include <inttypes.h>
#include <time.h>
#include <string.h>
#include <syslog.h>

#include "adsfeed.h"
#include "hashmap.h"
#include "layout.h"
#include "logging.h"
#include "prom.h"
#include "statedir.h"
#include "sha256.h"
#include "wire.h"
#include "wiring.h"
#include "xds.h"

typedef struct AdsFeed {
        AdsServer *server;
        char *listen;     /* as listening now; NULL: not listening */
        AdsConfig *config; /* what listen was made from (tls paths compared at reload) */
        char *error;      /* why it does not listen as configured; NULL: it does */
        /* every resource a snapshot holds, by its bytes (the pool's own
         * reference): a resource the same for a thousand nodes is held once */
        Hashmap pool;
        size_t pool_bytes;
        size_t n_released; /* resources let go since the last sweep (a sweep is due when many) */
        /* counters for metrics_file, since fsxdsd started */
        uint64_t n_connected, n_acks, n_nacks, n_ack_timeouts, n_refused, n_unknown;
        /* what clients say reaches status.json (and metrics_file) this
         * long after, however many say it meanwhile */
        sd_event_source *status_timer;
        /* refusals logged in the window that refused_timer ends, and not
         * logged past REFUSED_LOG_BURST (any TCP peer can make them) */
        sd_event_source *refused_timer;
        unsigned refused_logged;
        uint64_t refused_quiet;
        void (*changed)(State *st);
        bool restored; /* the nodes without a build got their last good copy (adsfeed_restore()) */
} AdsFeed;

#define STATUS_DELAY_USEC (50 * 1000)
/* at most this many refusals logged per window, then one line with how
 * many were not: a flood of refused connections cannot push the rest of
 * fsxdsd's messages past journald's rate limit */
#define REFUSED_LOG_BURST 10
#define REFUSED_LOG_WINDOW_USEC (10 * 1000 * 1000)

static void refused_summary(AdsFeed *f) {
        if (f->refused_quiet)
                log_warning(NULL, "ADS: %" PRIu64 " more refusal%s in the last %d s not logged (fsxds_ads_refused_total "
                            "counts every one)", f->refused_quiet, f->refused_quiet == 1 ? "" : "s",
                            REFUSED_LOG_WINDOW_USEC / 1000000);
        f->refused_logged = 0;
        f->refused_quiet = 0;
}

static int on_refused_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        refused_summary(((State *) userdata)->ads);
        return 0;
}

/* whether this refusal is logged: the first REFUSED_LOG_BURST of a window */
static bool refused_log_now(AdsFeed *f) {
        uint64_t now;
        if (!f->refused_timer)
                return true;
        if (f->refused_logged >= REFUSED_LOG_BURST) {
                f->refused_quiet++;
                return false;
        }
        if (f->refused_logged++ == 0 &&
            (sd_event_now(sd_event_source_get_event(f->refused_timer), CLOCK_MONOTONIC, &now) < 0 ||
             sd_event_source_set_time(f->refused_timer, now + REFUSED_LOG_WINDOW_USEC) < 0 ||
             sd_event_source_set_enabled(f->refused_timer, SD_EVENT_ONESHOT) < 0))
                f->refused_logged = 0; /* no window: every one logged */
        return true;
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        State *st = userdata;
        if (st->ads && st->ads->changed)
                st->ads->changed(st);
        return 0;
}

/* status.json again soon: a client connected, ACKed or NACKed */
static void status_soon(State *st) {
        AdsFeed *f = st->ads;
        int enabled = SD_EVENT_OFF;
        if (!f->status_timer || (sd_event_source_get_enabled(f->status_timer, &enabled) >= 0 && enabled != SD_EVENT_OFF))
                return;
        uint64_t now;
        if (sd_event_now(sd_event_source_get_event(f->status_timer), CLOCK_MONOTONIC, &now) < 0 ||
            sd_event_source_set_time(f->status_timer, now + STATUS_DELAY_USEC) < 0 ||
            sd_event_source_set_enabled(f->status_timer, SD_EVENT_ONESHOT) < 0)
                log_warning(NULL, "ADS: cannot arm the status timer: what clients ACK shows at the next rebuild");
}

/* node ids from clients are any bytes: shown escaped */
static char *shown_id(const char *id) {
        return id && node_id_is_valid(id) ? xstrdup(id) : diag_shown(id ? id : "", 256);
}

static void on_event(void *userdata, const AdsEvent *ev) {
        State *st = userdata;
        AdsFeed *f = st->ads;
        _cleanup_free_ char *id = shown_id(ev->node_id);
        const char *node = ev->node_id && node_id_is_valid(ev->node_id) ? ev->node_id : NULL;
        const char *type = ev->type >= 0 && ev->type < _ADS_TYPE_MAX ? ads_type_short(ev->type) : "";
        const char *kind = ev->delta ? "delta" : "state-of-the-world";
        status_soon(st);
        switch (ev->kind) {
        case ADS_EVENT_CONNECTED:
                f->n_connected++;
                log_info(node, "ADS: %s connected (%s)", ev->peer ? ev->peer : "a client", kind);
                break;
        case ADS_EVENT_DISCONNECTED:
                log_info(node, "ADS: %s disconnected%s%s", ev->peer ? ev->peer : "a client", ev->message ? ": " : "",
                         ev->message ? ev->message : "");
                break;
        case ADS_EVENT_UNKNOWN_NODE:
                f->n_unknown++;
                log_warning(NULL, "ADS: %s asks for node \"%s\", unknown: not in the tree (no build of it); nothing "
                            "is sent until it is", ev->peer ? ev->peer : "a client", id);
                break;
        case ADS_EVENT_REFUSED:
                f->n_refused++;
                /* a refused stream (a client whose certificate or request
                 * is known) is always told; connections only so often */
                if (ev->connection && !refused_log_now(f))
                        break;
                log_warning(node, "ADS: %s refused%s%s%s: %s", ev->peer ? ev->peer : "a client",
                            ev->node_id ? " (node \"" : "", ev->node_id ? id : "", ev->node_id ? "\")" : "",
                            ev->message ? ev->message : "");
                break;
        case ADS_EVENT_ACK:
                f->n_acks++;
                log_info(node, "ADS: %s version %s ACKed", type, ev->version ? ev->version : "");
                break;
        case ADS_EVENT_NACK: {
                f->n_nacks++;
                _cleanup_free_ char *shown = diag_shown(ev->message ? ev->message : "", 4096);
                _cleanup_free_ char *field = xasprintf("FSXDS_NACK=%s", shown);
                log_msg_field(LOG_WARNING, node, field, "ADS: %s version %s NACKed by %s: %s", type,
                              ev->version ? ev->version : "", ev->peer ? ev->peer : "the client", shown);
                break;
        }
        case ADS_EVENT_ACK_TIMEOUT:
                f->n_ack_timeouts++;
                log_warning(node, "ADS: %s version %s neither ACKed nor NACKed in time: the push goes on", type,
                            ev->version ? ev->version : "");
                break;
        }
}

/* " (certificate valid until 2027-01-06 06:00:20 UTC)", or "" */
static void cert_until(const AdsFeed *f, char until[64]) {
        time_t end = (time_t) ads_server_cert_not_after(f->server);
        struct tm tm;
        until[0] = 0;
        if (end && gmtime_r(&end, &tm))
                strftime(until, 64, " (certificate valid until %Y-%m-%d %H:%M:%S UTC)", &tm);
}

static void feed_listen(State *st, AdsFeed *f, const AdsConfig *c) {
        H2Tls tls = { c->tls_cert, c->tls_key, c->tls_client_ca };
        _cleanup_free_ char *error = NULL;
        /* the same address again: a reload that reads the TLS files again
         * (the socket and its connections stay whatever happens) */
        bool same = f->listen && streq(f->listen, c->listen) && !f->error;
        int64_t before = same ? ads_server_cert_not_after(f->server) : 0;
        char until[64];
        int r = ads_server_listen(f->server, c->listen, c->tls_cert ? &tls : NULL, 0660, st->gid, &error);
        free(f->error);
        f->error = NULL;
        if (r < 0 && same) {
                cert_until(f, until);
                f->error = xasprintf("the TLS files are NOT taken, the certificate before stays%s: %s", until,
                                     error ? error : strerror(-r));
                log_error(NULL, "ADS: on %s, %s", c->listen, f->error);
                return;
        }
        if (r < 0) {
                f->error = xasprintf("cannot listen on %s: %s", c->listen, error ? error : strerror(-r));
                log_error(NULL, "ADS: %s%s", f->error, f->listen ? "; the previous listener stays" : "");
                return;
        }
        free(f->listen);
        f->listen = xstrdup(c->listen);
        cert_until(f, until);
        if (!same)
                log_info(NULL, "ADS: listening on %s%s", c->listen, until);
        else if (ads_server_cert_not_after(f->server) != before)
                log_info(NULL, "ADS: on %s, a new certificate%s", c->listen, until);
}

void adsfeed_configure(State *st, sd_event *e, void (*changed)(State *st)) {
        const AdsConfig *c = st->config->ads;
        if (!c) {
                if (st->ads && st->ads->server)
                        log_info(NULL, "ADS: ads: is gone from the configuration: the server stops, its streams end");
                adsfeed_free(st);
                return;
        }
        if (!st->ads)
                st->ads = xcalloc(1, sizeof(AdsFeed));
        AdsFeed *f = st->ads;
        f->changed = changed;
        if (!f->status_timer && sd_event_add_time(e, &f->status_timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_status_timer, st) >= 0)
                (void) sd_event_source_set_enabled(f->status_timer, SD_EVENT_OFF);
        if (!f->refused_timer && sd_event_add_time(e, &f->refused_timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_refused_timer, st) >= 0)
                (void) sd_event_source_set_enabled(f->refused_timer, SD_EVENT_OFF);
        if (!f->server) {
                AdsOptions o = { .ack_timeout_usec = c->ack_timeout_usec,
                                 .limits = { .max_streams = c->max_streams },
                                 .on_event = on_event,
                                 .userdata = st };
                int r = ads_server_new(e, &o, &f->server);
                if (r < 0) {
                        f->error = xasprintf("cannot start the xDS server: %s", strerror(-r));
                        log_error(NULL, "ADS: %s", f->error);
                        return;
                }
        }
        ads_server_set_ack_timeout(f->server, c->ack_timeout_usec);
        /* with TLS, at every reload: a certificate renewed in place (same
         * paths, as certbot or cert-manager do) is read again; the same
         * TCP address keeps its socket and connections */
        if (!f->listen || !ads_config_same_listener(f->config, c) || f->error || c->tls_cert)
                feed_listen(st, f, c);
        ads_config_free(f->config);
        f->config = ads_config_copy(c);
}

void adsfeed_free(State *st) {
        AdsFeed *f = st->ads;
        if (!f)
                return;
        f->server = ads_server_free(f->server);
        f->status_timer = sd_event_source_disable_unref(f->status_timer);
        refused_summary(f); /* a window still open: its count is not lost */
        f->refused_timer = sd_event_source_disable_unref(f->refused_timer);
        for (size_t i = 0; i < f->pool.cap; i++)
                if (f->pool.entries[i].key)
                        ads_resource_unref(f->pool.entries[i].value);
        hashmap_free(&f->pool);
        free(f->listen);
        free(f->error);
        ads_config_free(f->config);
        free(f);
        st->ads = NULL;
}

/* ---- snapshots ---- */

static AdsType ads_type_of(ResourceType t) {
        switch (t) {
        case RESOURCE_SECRET:
                return ADS_TYPE_SECRET;
        case RESOURCE_CLUSTER:
                return ADS_TYPE_CLUSTER;
        case RESOURCE_CLUSTER_LOAD_ASSIGNMENT:
                return ADS_TYPE_ENDPOINT;
        case RESOURCE_LISTENER:
                return ADS_TYPE_LISTENER;
        case RESOURCE_SCOPED_ROUTE_CONFIGURATION:
                return ADS_TYPE_SCOPED_ROUTE;
        case RESOURCE_ROUTE_CONFIGURATION:
                return ADS_TYPE_ROUTE;
        case RESOURCE_RUNTIME:
                return ADS_TYPE_RUNTIME;
        default:
                return _ADS_TYPE_INVALID;
        }
}

/* The pool's resource for these Any bytes (a new reference). */
static AdsResource *intern(AdsFeed *f, const uint8_t *any, size_t len, const char *name, size_t name_len) {
        AdsResource *r = hashmap_get(&f->pool, (const char *) any, len);
        if (r)
                return ads_resource_ref(r);
        r = xcalloc(1, sizeof(AdsResource));
        r->refs = 1; /* the pool's */
        r->name = xstrndup(name, name_len);
        r->any = xmemdup(any, len);
        r->any_len = len;
        char hex[65];
        sha256_hex(any, len, hex);
        memcpy(r->version, hex, 16);
        r->version[16] = 0;
        hashmap_put(&f->pool, (const char *) r->any, r->any_len, r);
        f->pool_bytes += len + name_len + sizeof(AdsResource);
        return ads_resource_ref(r);
}

static void set_add(AdsTypeSet *t, AdsResource *r) {
        t->r = xrealloc(t->r, (t->n + 1) * sizeof(AdsResource *));
        t->r[t->n++] = r;
}

/* The resources of one published file (a DiscoveryResponse), wired to
 * ADS, into snap. */
static void add_file(AdsFeed *f, AdsSnapshot *snap, const NodeFile *file, const char *node_dir) {
        AdsType at = ads_type_of(file->type);
        if (at < 0)
                return;
        WireReader rd = { file->data, file->data + file->len };
        WireField fl;
        while (wire_next(&rd, &fl)) {
                if (fl.number != 2 || fl.wire_type != WIRE_LEN)
                        continue; /* DiscoveryResponse.resources */
                WireReader ar = { fl.data, fl.data + fl.len };
                WireField af;
                const uint8_t *url = NULL, *value = NULL;
                size_t url_len = 0, value_len = 0;
                while (wire_next(&ar, &af))
                        if (af.wire_type == WIRE_LEN && af.number == 1) {
                                url = af.data;
                                url_len = af.len;
                        } else if (af.wire_type == WIRE_LEN && af.number == 2) {
                                value = af.data;
                                value_len = af.len;
                        }
                if (!url || !value)
                        continue;
                /* every served type names its resources in field 1 */
                WireReader vr = { value, value + value_len };
                WireField vf;
                const char *name = NULL;
                size_t name_len = 0;
                while (wire_next(&vr, &vf))
                        if (vf.number == 1 && vf.wire_type == WIRE_LEN) {
                                name = (const char *) vf.data;
                                name_len = vf.len;
                                break;
                        }
                if (!name)
                        continue;
                Buf wired = {};
                AdsResource *r;
                if (wiring_to_ads(value, value_len, node_dir, &wired)) {
                        Buf any = {};
                        wire_put_bytes(&any, 1, url, url_len);
                        wire_put_bytes(&any, 2, wired.data, wired.len);
                        r = intern(f, any.data, any.len, name, name_len);
                        buf_free(&any);
                } else
                        r = intern(f, fl.data, fl.len, name, name_len);
                buf_free(&wired);
                set_add(&snap->types[at], r);
        }
}

static int cmp_path(const void *key, const void *elem) {
        return strcmp(key, *(char *const *) elem);
}

static bool path_touched(char *const *touched, size_t n, const char *path) {
        return n > 0 && bsearch(path, touched, n, sizeof(char *), cmp_path);
}

static const ResourceType resource_of_ads[_ADS_TYPE_MAX] = {
        [ADS_TYPE_SECRET] = RESOURCE_SECRET,
        [ADS_TYPE_CLUSTER] = RESOURCE_CLUSTER,
        [ADS_TYPE_ENDPOINT] = RESOURCE_CLUSTER_LOAD_ASSIGNMENT,
        [ADS_TYPE_LISTENER] = RESOURCE_LISTENER,
        [ADS_TYPE_SCOPED_ROUTE] = RESOURCE_SCOPED_ROUTE_CONFIGURATION,
        [ADS_TYPE_ROUTE] = RESOURCE_ROUTE_CONFIGURATION,
        [ADS_TYPE_RUNTIME] = RESOURCE_RUNTIME,
};

/* Whether a touched path lies in type directory dir ("eds/..."). */
static bool dir_touched(char *const *touched, size_t n, const char *dir) {
        size_t dl = strlen(dir);
        for (size_t i = 0; i < n; i++)
                if (strncmp(touched[i], dir, dl) == 0 && touched[i][dl] == '/')
                        return true;
        return false;
}

/* prev's resources whose file was not touched */
static void keep_untouched(AdsSnapshot *snap, const AdsSnapshot *prev, char *const *touched, size_t n_touched) {
        for (AdsType t = 0; t < _ADS_TYPE_MAX; t++) {
                ResourceType rt = resource_of_ads[t];
                if (!dir_touched(touched, n_touched, resource_type_dir(rt))) {
                        /* nothing of the type changed: no path to make per resource */
                        for (size_t i = 0; i < prev->types[t].n; i++)
                                set_add(&snap->types[t], ads_resource_ref(prev->types[t].r[i]));
                        continue;
                }
                if (resource_type_is_sotw(rt))
                        continue; /* its one file, touched, holds them all: made again from it */
                for (size_t i = 0; i < prev->types[t].n; i++) {
                        _cleanup_free_ char *path = layout_file_path(rt, prev->types[t].r[i]->name);
                        if (!path || !path_touched(touched, n_touched, path))
                                set_add(&snap->types[t], ads_resource_ref(prev->types[t].r[i]));
                }
        }
}

static bool same_versions(const AdsSnapshot *a, const AdsSnapshot *b) {
        for (AdsType t = 0; t < _ADS_TYPE_MAX; t++)
                if (!streq(a->types[t].version, b->types[t].version))
                        return false;
        return true;
}

void adsfeed_node(State *st, NodeState *ns, const NodeOutput *out, char *const *touched, size_t n_touched) {
        AdsFeed *f = st->ads;
        if (!f || !f->server)
                return;
        _cleanup_free_ char *dir = xasprintf("%s/%s", st->config->output_dir, ns->id);
        AdsSnapshot *prev = ads_server_get_snapshot(f->server, ns->id);
        AdsSnapshot *snap = xcalloc(1, sizeof(AdsSnapshot));
        snap->refs = 1;
        snap->generation = st->generation + 1; /* the generation this rebuild publishes */
        if (touched && prev)
                keep_untouched(snap, prev, touched, n_touched);
        for (size_t i = 0; i < out->n; i++)
                add_file(f, snap, &out->files[i], dir);
        ads_snapshot_seal(snap);
        if (prev && same_versions(prev, snap)) {
                f->n_released += 1;
                ads_snapshot_unref(snap);
                return;
        }
        if (prev)
                for (AdsType t = 0; t < _ADS_TYPE_MAX; t++)
                        f->n_released += prev->types[t].n;
        ads_server_set_snapshot(f->server, ns->id, snap);
        ads_snapshot_unref(snap);
}

int adsfeed_check_config(const Config *c) {
        if (!c->ads || !c->ads->tls_cert)
                return 0;
        H2Tls tls = { c->ads->tls_cert, c->ads->tls_key, c->ads->tls_client_ca };
        _cleanup_free_ char *error = NULL;
        int r = h2_tls_check(&tls, &error);
        if (r < 0)
                log_error(NULL, "ads.tls: %s", error ? error : strerror(-r));
        return r;
}

int adsfeed_name_clash(const State *st, const char *id, DiagList *diags) {
        const AdsConfig *a = st->config->ads;
        if (!a || !startswith(a->listen, "unix:"))
                return 0;
        const char *path = a->listen + strlen("unix:");
        const char *slash = strrchr(path, '/');
        const char *out = st->config->output_dir;
        size_t ol = strlen(out);
        while (ol > 1 && out[ol - 1] == '/')
                ol--;
        if (!slash || !streq(slash + 1, id) || (size_t) (slash - path) != ol || strncmp(path, out, ol) != 0)
                return 0;
        diag_add(diags, DIAG_ERROR, NULL, 0, 0, NULL,
                 "node %s has the name of the xDS server's socket %s (ads.listen in %s): its directory would replace "
                 "the socket; rename the node or move ads.listen",
                 id, path, st->config->path ? st->config->path : "the configuration");
        return -EBADMSG;
}

void adsfeed_forget(State *st, const char *id) {
        if (st->ads && st->ads->server)
                ads_server_forget_node(st->ads->server, id);
}

/* After fsxdsd's first rebuild: a node with no build to serve (its
 * directory left the tree, or its sources have errors since before this
 * start) is served its last good copy from state_dir, as its files stay
 * what they were: never an empty state of the world, never nothing for a
 * node whose files exist. */
static void adsfeed_restore(State *st) {
        AdsFeed *f = st->ads;
        f->restored = true;
        _cleanup_closedir_ DIR *d = opendir(st->state_nodes_dir);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                if (!node_id_is_valid(de->d_name) || ads_server_get_snapshot(f->server, de->d_name))
                        continue;
                NodeOutput o = {};
                uint64_t generation;
                _cleanup_free_ char *error = NULL;
                if (statedir_load_copy(st->config->state_dir, de->d_name, false, &o, &generation, &error) < 0)
                        continue; /* its state error says why, where it matters */
                NodeState ns = { .id = de->d_name };
                adsfeed_node(st, &ns, &o, NULL, 0);
                node_output_done(&o);
                log_info(de->d_name, "ADS: serving its last good copy (generation %" PRIu64 "): it has no build now",
                         generation);
        }
}

void adsfeed_sweep(State *st) {
        AdsFeed *f = st->ads;
        if (f && f->server && !f->restored && !st->rebuild && st->state_nodes_dir)
                adsfeed_restore(st);
        if (!f || f->n_released == 0)
                return;
        /* the pool holds the only reference of a resource no snapshot
         * holds; removing shifts entries, so they are listed first */
        AdsResource **gone = NULL;
        size_t n = 0;
        for (size_t i = 0; i < f->pool.cap; i++) {
                AdsResource *r = f->pool.entries[i].key ? f->pool.entries[i].value : NULL;
                if (r && r->refs == 1) {
                        gone = xrealloc(gone, (n + 1) * sizeof(AdsResource *));
                        gone[n++] = r;
                }
        }
        for (size_t i = 0; i < n; i++) {
                hashmap_remove(&f->pool, (const char *) gone[i]->any, gone[i]->any_len);
                f->pool_bytes -= gone[i]->any_len + strlen(gone[i]->name) + sizeof(AdsResource);
                ads_resource_unref(gone[i]);
        }
        free(gone);
        f->n_released = 0;
}

/* ---- status ---- */

typedef struct Collect {
        AdsNodeStatus *items;
        size_t n;
} Collect;

static void collect(void *userdata, const AdsNodeStatus *n) {
        Collect *c = userdata;
        c->items = xrealloc(c->items, (c->n + 1) * sizeof(AdsNodeStatus));
        AdsNodeStatus *d = &c->items[c->n++];
        *d = *n;
        d->node_id = xstrdup(n->node_id);
        d->peer = n->peer ? xstrdup(n->peer) : NULL;
        for (AdsType t = 0; t < _ADS_TYPE_MAX; t++)
                d->types[t].nack_message = n->types[t].nack_message ? xstrdup(n->types[t].nack_message) : NULL;
}

static StatusAdsNode *node_status(const AdsNodeStatus *n) {
        StatusAdsNode *s = xcalloc(1, sizeof(StatusAdsNode));
        s->known = n->known;
        s->generation = (int64_t) n->generation;
        s->connected = n->n_streams > 0;
        s->streams = (int64_t) n->n_streams;
        s->delta_streams = (int64_t) n->n_delta;
        s->connected_usec = (int64_t) n->connected_usec;
        s->disconnected_usec = (int64_t) n->disconnected_usec;
        s->peer = n->peer ? xstrdup(n->peer) : NULL;
        s->pushing = n->pushing;
        for (AdsType t = 0; t < _ADS_TYPE_MAX; t++) {
                const AdsTypeStatus *ts = &n->types[t];
                if (!ts->subscribed && !ts->offered[0] && !ts->acked[0] && !ts->nacked[0])
                        continue;
                StatusAdsType *st = status_ads_node_add_type(s, ads_type_short(t));
                st->offered = xstrdup(ts->offered);
                st->acked = xstrdup(ts->acked);
                st->acked_usec = (int64_t) ts->acked_usec;
                st->nacked = ts->nacked[0] ? xstrdup(ts->nacked) : NULL;
                st->nack_message = ts->nacked[0] && ts->nack_message ? xstrdup(ts->nack_message) : NULL;
                st->nacked_usec = (int64_t) ts->nacked_usec;
        }
        return s;
}

void adsfeed_status(State *st, Status *s) {
        AdsFeed *f = st->ads;
        if (!f || !st->config->ads)
                return;
        s->ads = xcalloc(1, sizeof(StatusAds));
        s->ads->listen = xstrdup(f->listen ? f->listen : st->config->ads->listen);
        s->ads->serving = f->server && f->listen;
        s->ads->error = f->error ? xstrdup(f->error) : NULL;
        if (!f->server)
                return;
        s->ads->streams = (int64_t) ads_server_n_streams(f->server);
        s->ads->connections = (int64_t) ads_server_n_connections(f->server);
        s->ads->bytes = (int64_t) (ads_server_bytes(f->server) + f->pool_bytes);
        if (f->listen)
                s->ads->cert_not_after = ads_server_cert_not_after(f->server);
        Collect c = {};
        ads_server_foreach_node(f->server, collect, &c);
        /* the status's nodes by id (a thousand nodes: no scan per node) */
        Hashmap by_id = {};
        for (size_t k = 0; k < s->n_nodes; k++)
                hashmap_put(&by_id, s->nodes[k].id, strlen(s->nodes[k].id), &s->nodes[k]);
        for (size_t i = 0; i < c.n; i++) {
                const AdsNodeStatus *n = &c.items[i];
                StatusNode *sn = hashmap_get(&by_id, n->node_id, strlen(n->node_id));
                if (sn && !sn->ads) {
                        sn->ads = node_status(n);
                        /* the same build as the files: their generation
                         * (the snapshot's is the rebuild's guess, before
                         * the publish numbers it) */
                        if (n->known && sn->generation > 0)
                                sn->ads->generation = sn->generation;
                }
                else if (!n->known && n->n_streams > 0) {
                        s->ads->unknown = xrealloc(s->ads->unknown, (s->ads->n_unknown + 1) * sizeof(StatusAdsUnknown));
                        s->ads->unknown[s->ads->n_unknown++] = (StatusAdsUnknown) {
                                shown_id(n->node_id), n->peer ? xstrdup(n->peer) : NULL, (int64_t) n->connected_usec
                        };
                }
        }
        hashmap_free(&by_id);
        for (size_t i = 0; i < c.n; i++) {
                free((char *) c.items[i].node_id);
                free((char *) c.items[i].peer);
                for (AdsType t = 0; t < _ADS_TYPE_MAX; t++)
                        free(c.items[i].types[t].nack_message);
        }
        free(c.items);
}

/* ---- metrics ---- */

static void counter(Buf *b, const char *name, const char *help, uint64_t v) {
        prom_family(b, name, "counter", help);
        buf_printf(b, "%s %" PRIu64 "\n", name, v);
}

typedef struct MetricsWalk {
        Buf *b;
        int pass; /* 0: connected streams, 1: NACKs standing */
} MetricsWalk;

static void node_metrics(void *userdata, const AdsNodeStatus *n) {
        MetricsWalk *w = userdata;
        if (!n->known || !node_id_is_valid(n->node_id))
                return; /* a name a client made up: no series of ours (fsxds_ads_unknown_node_total counts it) */
        if (w->pass == 0) {
                buf_printf(w->b, "fsxds_ads_node_streams{node=\"%s\"} %zu\n", n->node_id, n->n_streams);
                return;
        }
        for (AdsType t = 0; t < _ADS_TYPE_MAX; t++)
                if (n->types[t].nacked[0])
                        buf_printf(w->b, "fsxds_ads_node_nacked{node=\"%s\",type=\"%s\"} 1\n", n->node_id, ads_type_short(t));
}

void adsfeed_metrics(const State *st, Buf *b) {
        const AdsFeed *f = st->ads;
        if (!f || !f->server)
                return;
        prom_family(b, "fsxds_ads_streams", "gauge", "xDS streams open now.");
        buf_printf(b, "fsxds_ads_streams %zu\n", ads_server_n_streams(f->server));
        prom_family(b, "fsxds_ads_connections", "gauge", "Connections to the xDS server open now.");
        buf_printf(b, "fsxds_ads_connections %zu\n", ads_server_n_connections(f->server));
        prom_family(b, "fsxds_ads_bytes", "gauge",
                       "Memory the xDS server holds: connections, streams, and the resources it serves (each held once).");
        buf_printf(b, "fsxds_ads_bytes %zu\n", ads_server_bytes(f->server) + f->pool_bytes);
        int64_t not_after = f->listen ? ads_server_cert_not_after(f->server) : 0;
        if (not_after) {
                prom_family(b, "fsxds_ads_cert_not_after_seconds", "gauge",
                            "When the xDS server's TLS certificate expires (seconds since the epoch).");
                buf_printf(b, "fsxds_ads_cert_not_after_seconds %" PRIi64 "\n", not_after);
        }
        counter(b, "fsxds_ads_connected_total", "xDS streams that said which node they are.", f->n_connected);
        counter(b, "fsxds_ads_acks_total", "Responses the clients ACKed.", f->n_acks);
        counter(b, "fsxds_ads_nacks_total", "Responses the clients NACKed (refused; the journal has their message).",
                f->n_nacks);
        counter(b, "fsxds_ads_ack_timeouts_total",
                "Push steps that went on without an ACK or NACK within ack_timeout.", f->n_ack_timeouts);
        counter(b, "fsxds_ads_refused_total",
                "Connections and streams refused: TLS handshakes, client certificates not naming the node, "
                "malformed requests.", f->n_refused);
        counter(b, "fsxds_ads_unknown_node_total", "Streams asking for a node fsxdsd has no build of.", f->n_unknown);
        MetricsWalk w = { b, 0 };
        prom_family(b, "fsxds_ads_node_streams", "gauge", "The node's xDS streams open now (0: files only, or gone).");
        ads_server_foreach_node(f->server, node_metrics, &w);
        w.pass = 1;
        prom_family(b, "fsxds_ads_node_nacked", "gauge",
                       "1 while the node's clients refuse the type's version offered (a NACK not followed by a new version).");
        ads_server_foreach_node(f->server, node_metrics, &w);
}
