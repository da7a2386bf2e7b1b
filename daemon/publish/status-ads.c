/* SPDX-License-Identifier: MIT */
/* status.json's "ads" parts: written by fsxdsd, read by fsxds status. */
#include <inttypes.h>

#include "status-ads.h"

StatusAdsType *status_ads_node_add_type(StatusAdsNode *n, const char *type) {
        n->types = xrealloc(n->types, (n->n_types + 1) * sizeof(StatusAdsType));
        StatusAdsType *t = &n->types[n->n_types++];
        *t = (StatusAdsType) { .type = xstrdup(type), .acked_usec = 0, .nacked_usec = 0 };
        return t;
}

void status_ads_node_free(StatusAdsNode *n) {
        if (!n)
                return;
        for (size_t i = 0; i < n->n_types; i++) {
                free(n->types[i].type);
                free(n->types[i].offered);
                free(n->types[i].acked);
                free(n->types[i].nacked);
                free(n->types[i].nack_message);
        }
        free(n->types);
        free(n->peer);
        free(n);
}

void status_ads_free(StatusAds *a) {
        if (!a)
                return;
        free(a->listen);
        free(a->error);
        for (size_t i = 0; i < a->n_unknown; i++) {
                free(a->unknown[i].id);
                free(a->unknown[i].peer);
        }
        free(a->unknown);
        free(a);
}

static void put_str_or_null(Buf *b, const char *s) {
        if (s)
                buf_put_json_string(b, s);
        else
                buf_printf(b, "null");
}

void status_ads_node_format(const StatusAdsNode *n, Buf *b) {
        buf_printf(b, "{\"known\":%s,\"generation\":%" PRIi64 ",\"connected\":%s,\"streams\":%" PRIi64
                   ",\"delta_streams\":%" PRIi64 ",\"connected_usec\":%" PRIi64 ",\"disconnected_usec\":%" PRIi64
                   ",\"peer\":",
                   n->known ? "true" : "false", n->generation, n->connected ? "true" : "false", n->streams,
                   n->delta_streams, n->connected_usec, n->disconnected_usec);
        put_str_or_null(b, n->peer);
        buf_printf(b, ",\"pushing\":%s,\"types\":{", n->pushing ? "true" : "false");
        for (size_t i = 0; i < n->n_types; i++) {
                const StatusAdsType *t = &n->types[i];
                buf_printf(b, "%s", i ? "," : "");
                buf_put_json_string(b, t->type);
                buf_printf(b, ":{\"offered\":");
                buf_put_json_string(b, t->offered ? t->offered : "");
                buf_printf(b, ",\"acked\":");
                buf_put_json_string(b, t->acked ? t->acked : "");
                buf_printf(b, ",\"acked_usec\":%" PRIi64 ",\"nacked\":", t->acked_usec);
                put_str_or_null(b, t->nacked);
                buf_printf(b, ",\"nack_message\":");
                put_str_or_null(b, t->nack_message);
                buf_printf(b, ",\"nacked_usec\":%" PRIi64 "}", t->nacked_usec);
        }
        buf_printf(b, "}}");
}

void status_ads_format(const StatusAds *a, Buf *b) {
        buf_printf(b, "{\"listen\":");
        buf_put_json_string(b, a->listen ? a->listen : "");
        buf_printf(b, ",\"serving\":%s,\"error\":", a->serving ? "true" : "false");
        put_str_or_null(b, a->error);
        if (a->cert_not_after)
                buf_printf(b, ",\"cert_not_after\":%" PRIi64, a->cert_not_after);
        buf_printf(b, ",\"connections\":%" PRIi64 ",\"streams\":%" PRIi64 ",\"bytes\":%" PRIi64 ",\"unknown_nodes\":[",
                   a->connections, a->streams, a->bytes);
        for (size_t i = 0; i < a->n_unknown; i++) {
                buf_printf(b, "%s{\"id\":", i ? "," : "");
                buf_put_json_string(b, a->unknown[i].id);
                buf_printf(b, ",\"peer\":");
                put_str_or_null(b, a->unknown[i].peer);
                buf_printf(b, ",\"since_usec\":%" PRIi64 "}", a->unknown[i].since_usec);
        }
        buf_printf(b, "]}");
}

static int64_t get_int(const Json *j, const char *key) {
        return json_get_int_or(j, key, 0);
}

StatusAdsNode *status_ads_node_parse(const Json *j) {
        if (!j || j->kind != JSON_OBJECT)
                return NULL;
        StatusAdsNode *n = xcalloc(1, sizeof(StatusAdsNode));
        n->known = json_get_true(j, "known");
        n->connected = json_get_true(j, "connected");
        n->pushing = json_get_true(j, "pushing");
        n->generation = get_int(j, "generation");
        n->streams = get_int(j, "streams");
        n->delta_streams = get_int(j, "delta_streams");
        n->connected_usec = get_int(j, "connected_usec");
        n->disconnected_usec = get_int(j, "disconnected_usec");
        n->peer = json_get_strdup(j, "peer");
        const Json *types = json_get(j, "types");
        for (size_t i = 0; types && types->kind == JSON_OBJECT && i < types->n; i++) {
                const Json *t = types->items[i];
                if (t->kind != JSON_OBJECT)
                        continue;
                StatusAdsType *st = status_ads_node_add_type(n, types->keys[i]);
                st->offered = json_get_strdup(t, "offered");
                st->acked = json_get_strdup(t, "acked");
                st->acked_usec = get_int(t, "acked_usec");
                st->nacked = json_get_strdup(t, "nacked");
                st->nack_message = json_get_strdup(t, "nack_message");
                st->nacked_usec = get_int(t, "nacked_usec");
        }
        return n;
}

StatusAds *status_ads_parse(const Json *j) {
        if (!j || j->kind != JSON_OBJECT)
                return NULL;
        StatusAds *a = xcalloc(1, sizeof(StatusAds));
        a->listen = json_get_strdup(j, "listen");
        a->error = json_get_strdup(j, "error");
        a->serving = json_get_true(j, "serving");
        a->cert_not_after = get_int(j, "cert_not_after");
        a->connections = get_int(j, "connections");
        a->streams = get_int(j, "streams");
        a->bytes = get_int(j, "bytes");
        const Json *u = json_get(j, "unknown_nodes");
        for (size_t i = 0; u && u->kind == JSON_ARRAY && i < u->n; i++) {
                const Json *e = u->items[i];
                const char *id = e->kind == JSON_OBJECT ? json_get_str(e, "id") : NULL;
                if (!id)
                        continue;
                a->unknown = xrealloc(a->unknown, (a->n_unknown + 1) * sizeof(StatusAdsUnknown));
                a->unknown[a->n_unknown++] = (StatusAdsUnknown) { xstrdup(id), json_get_strdup(e, "peer"), get_int(e, "since_usec") };
        }
        return a;
}
