/* SPDX-License-Identifier: MIT */
/* fsxds status: the xDS server's part (status.json's "ads", status-ads.h):
 * whether it listens, the clients asking for nodes fsxdsd has no build of,
 * an ADS column telling a connected node from one that only has files,
 * and what each connected node was offered, ACKed and NACKed. */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "cli.h"

/* a server certificate closer than this to its end is warned about */
#define CERT_WARN_DAYS 14

/* printable(), NULL read as "" */
static char *line(const char *s) {
        return printable(s ? s : "");
}

void status_print_ads_server(const Status *s, bool running) {
        const StatusAds *a = s->ads;
        if (!a)
                return;
        _cleanup_free_ char *listen = line(a->listen);
        if (!running) {
                if (a->serving)
                        printf("ADS NOT serving: fsxdsd does not run (it served on %s)\n", listen);
                else
                        printf("ADS NOT serving: fsxdsd does not run\n");
                return;
        }
        if (a->error && a->serving) {
                /* "cannot listen on NEW: ...", "the TLS files are NOT taken, ..." */
                _cleanup_free_ char *e = line(a->error);
                printf("ADS serving on %s as before: %s\n", listen, e);
        } else if (a->error) {
                _cleanup_free_ char *e = line(a->error);
                printf("ADS NOT serving on %s: %s\n", listen, e);
        } else
                printf("ADS serving on %s: %" PRIi64 " stream%s on %" PRIi64 " connection%s\n", listen, a->streams,
                       a->streams == 1 ? "" : "s", a->connections, a->connections == 1 ? "" : "s");
        if (a->cert_not_after && a->serving) {
                char until[32];
                int64_t left = a->cert_not_after - (int64_t) time(NULL);
                format_time_usec(a->cert_not_after * 1000000, until);
                if (left <= 0)
                        printf("ADS WARNING: the server certificate EXPIRED on %s: TLS clients refuse it; renew "
                               "ads.tls.cert and reload\n", until);
                else if (left < CERT_WARN_DAYS * 86400)
                        printf("ADS WARNING: the server certificate expires on %s, in %" PRIi64 " day%s: renew "
                               "ads.tls.cert and reload\n", until, left / 86400, left / 86400 == 1 ? "" : "s");
                else
                        printf("ADS server certificate valid until %s\n", until);
        }
        for (size_t i = 0; i < a->n_unknown; i++) {
                char since[32];
                format_time_usec(a->unknown[i].since_usec, since);
                _cleanup_free_ char *id = line(a->unknown[i].id), *peer = line(a->unknown[i].peer);
                printf("ADS WARNING: %s asks for node \"%s\" (since %s), unknown: not in the tree, it gets nothing until it is\n",
                       peer, id, since);
        }
}

static bool any_nack(const StatusAdsNode *n) {
        for (size_t i = 0; i < n->n_types; i++)
                if (n->types[i].nacked)
                        return true;
        return false;
}

char *status_ads_cell(const StatusNode *n) {
        const StatusAdsNode *a = n->ads;
        if (!a)
                return xstrdup("files only");
        Buf b = {};
        if (a->connected)
                buf_printf(&b, "connected (%" PRIi64 " stream%s)", a->streams, a->streams == 1 ? "" : "s");
        else if (a->disconnected_usec > 0) {
                char when[32];
                format_time_usec(a->disconnected_usec, when);
                buf_printf(&b, "disconnected since %s", when);
        } else
                buf_printf(&b, "files only");
        if (a->pushing)
                buf_printf(&b, ", pushing");
        if (any_nack(a))
                buf_printf(&b, ", NACK");
        return buf_steal_str(&b);
}

static void short_version(const char *v, char ret[17]) {
        snprintf(ret, 17, "%s", v && *v ? v : "-");
}

void status_print_ads_nodes(const Status *s) {
        if (!s->ads)
                return;
        for (size_t i = 0; i < s->n_nodes; i++) {
                const StatusNode *n = &s->nodes[i];
                const StatusAdsNode *a = n->ads;
                if (!a || (!a->connected && a->disconnected_usec <= 0 && a->n_types == 0))
                        continue;
                _cleanup_free_ char *id = line(n->id), *peer = line(a->peer);
                printf("\nnode %s over ADS: %s%s%s, generation %" PRIi64 "%s\n", id,
                       a->connected ? "connected" : "not connected", a->peer ? (a->connected ? " from " : ", last from ") : "",
                       a->peer ? peer : "", a->generation, a->pushing ? ", being pushed" : "");
                for (size_t k = 0; k < a->n_types; k++) {
                        const StatusAdsType *t = &a->types[k];
                        char offered[17], acked[17];
                        short_version(t->offered, offered);
                        short_version(t->acked, acked);
                        _cleanup_free_ char *type = line(t->type);
                        printf("  %-5s offered %-16s  ACKed %-16s", type, offered, acked);
                        if (t->nacked) {
                                char when[32];
                                format_time_usec(t->nacked_usec, when);
                                _cleanup_free_ char *v = line(t->nacked), *msg = line(t->nack_message);
                                printf("  NACKed %s at %s: %s", v, when, msg);
                        }
                        printf("\n");
                }
        }
}
