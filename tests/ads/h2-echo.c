/* SPDX-License-Identifier: MIT */
/* A gRPC test server on daemon/ads/h2.h, for tests/ads/run-h2.py:
 *   /fsxds.test.Echo/Echo   echoes each message;
 *   /fsxds.test.Echo/Peer   one message (the peer's description, then its
 *                           certificate names, one a line), then OK;
 *   /fsxds.test.Echo/Flood  1 KiB messages while less than 64 KiB is
 *                           queued, more on stream_writable (a client that
 *                           does not read stalls it);
 *   /fsxds.test.Echo/Fail   INVALID_ARGUMENT with a message to percent-encode;
 *   anything else           UNIMPLEMENTED.
 * Options: --listen ADDRESS, --tls CERT KEY CA, --group GID (the unix
 * socket's), --max-streams N, --keepalive-ms N, --keepalive-timeout-ms N,
 * --max-message N, --max-connections N. Prints "ready" once listening; SIGHUP listens again on the same address
 * (the connections stay), SIGUSR1 prints "stats CONNECTIONS STREAMS BYTES",
 * SIGTERM frees the server and exits 0 (3 when a stream taken did not get
 * exactly one stream_closed). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h2.h"

enum { ECHO, PEER, FLOOD };

static const char *address;
static H2Tls tls;
static bool use_tls;
static gid_t group = (gid_t) -1;
static H2Server *server;
static unsigned long flood_count;
/* every stream taken gets exactly one stream_closed: each has its own
 * allocation (a second close is a double free, a missing one a leak under
 * ASan) and the counts must match at exit */
static unsigned long n_taken, n_closed;

static int take(int kind, void **ret_data) {
        int *k = malloc(sizeof(int));
        if (!k)
                return GRPC_STATUS_RESOURCE_EXHAUSTED;
        *k = kind;
        *ret_data = k;
        n_taken++;
        return 0;
}

static void flood(H2Stream *s) {
        uint8_t msg[1024];

        while (h2_stream_queued(s) < 64 * 1024) {
                snprintf((char *) msg, sizeof(msg), "flood %lu", flood_count++);
                if (h2_stream_send(s, msg, sizeof(msg)) < 0)
                        return;
        }
}

/* "refused tcp 127.0.0.1:PORT: REASON": a TLS handshake the transport refused */
static void on_refused(void *ud, const H2Peer *peer, const char *reason) {
        (void) ud;
        printf("refused %s: %s\n", peer->description, reason);
        fflush(stdout);
}

static int on_open(void *ud, H2Stream *s, const char *path, const H2Peer *peer, void **ret_data) {
        (void) ud;
        if (strcmp(path, "/fsxds.test.Echo/Echo") == 0)
                return take(ECHO, ret_data);
        if (strcmp(path, "/fsxds.test.Echo/Flood") == 0) {
                flood(s);
                return take(FLOOD, ret_data);
        }
        if (strcmp(path, "/fsxds.test.Echo/Peer") == 0) {
                char buf[4096];
                size_t n = (size_t) snprintf(buf, sizeof(buf), "%s\n", peer->description);
                for (char **p = peer->cert_names; p && *p && n < sizeof(buf); p++)
                        n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%s\n", *p);
                h2_stream_send(s, (const uint8_t *) buf, strnlen(buf, sizeof(buf)));
                h2_stream_finish(s, GRPC_STATUS_OK, NULL);
                return take(PEER, ret_data);
        }
        if (strcmp(path, "/fsxds.test.Echo/Fail") == 0) {
                h2_stream_finish(s, GRPC_STATUS_INVALID_ARGUMENT, "100% not \xc3\xbcnicode-free,\nin two lines");
                return take(ECHO, ret_data);
        }
        return GRPC_STATUS_UNIMPLEMENTED;
}

static void on_message(void *ud, H2Stream *s, void *data, const uint8_t *msg, size_t len) {
        (void) ud;
        if (*(int *) data == ECHO)
                (void) h2_stream_send(s, msg, len);
}

static void on_writable(void *ud, H2Stream *s, void *data) {
        (void) ud;
        if (*(int *) data == FLOOD)
                flood(s);
}

static void on_closed(void *ud, H2Stream *s, void *data) {
        (void) ud;
        (void) s;
        free(data);
        n_closed++;
}

static int do_listen(void) {
        char *error = NULL;
        int r = h2_server_listen(server, address, use_tls ? &tls : NULL, 0660, group, &error);

        if (r < 0) {
                fprintf(stderr, "h2-echo: %s\n", error ? error : strerror(-r));
                free(error);
        }
        return r;
}

static int on_signal(sd_event_source *src, const struct signalfd_siginfo *si, void *ud) {
        (void) src;
        (void) ud;
        if (si->ssi_signo == SIGHUP) {
                if (do_listen() == 0)
                        printf("relistened\n");
        } else if (si->ssi_signo == SIGUSR1)
                printf("stats %zu %zu %zu\n", h2_server_n_connections(server), h2_server_n_streams(server),
                       h2_server_bytes(server));
        else
                sd_event_exit(sd_event_source_get_event(src), 0);
        fflush(stdout);
        return 0;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "listen", required_argument, NULL, 'l' },
                { "tls", required_argument, NULL, 't' },
                { "max-streams", required_argument, NULL, 's' },
                { "keepalive-ms", required_argument, NULL, 'k' },
                { "keepalive-timeout-ms", required_argument, NULL, 'K' },
                { "max-message", required_argument, NULL, 'm' },
                { "group", required_argument, NULL, 'g' },
                { "max-connections", required_argument, NULL, 'c' },
                {}
        };
        H2Callbacks cb = { on_open, on_message, on_writable, on_closed, on_refused };
        H2Limits limits = {};
        sd_event *e = NULL;
        sigset_t mask;
        int c, r;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'l':
                        address = optarg;
                        break;
                case 't':
                        /* --tls CERT KEY CA */
                        if (optind + 1 >= argc) {
                                fprintf(stderr, "h2-echo: --tls CERT KEY CA\n");
                                return 2;
                        }
                        tls.cert = optarg;
                        tls.key = argv[optind++];
                        tls.client_ca = argv[optind++];
                        use_tls = true;
                        break;
                case 's':
                        limits.max_streams = (uint32_t) strtoul(optarg, NULL, 10);
                        break;
                case 'k':
                        limits.keepalive_usec = strtoull(optarg, NULL, 10) * 1000;
                        break;
                case 'K':
                        limits.keepalive_timeout_usec = strtoull(optarg, NULL, 10) * 1000;
                        break;
                case 'c':
                        limits.max_connections = strtoul(optarg, NULL, 10);
                        break;
                case 'g':
                        group = (gid_t) strtoul(optarg, NULL, 10);
                        break;
                case 'm':
                        limits.max_message = strtoul(optarg, NULL, 10);
                        break;
                default:
                        return 2;
                }
        if (!address) {
                fprintf(stderr, "h2-echo: --listen ADDRESS\n");
                return 2;
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGUSR1);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        if (sd_event_default(&e) < 0 || h2_server_new(e, &cb, NULL, &limits, &server) < 0)
                return 1;
        (void) sd_event_add_signal(e, NULL, SIGHUP, on_signal, NULL);
        (void) sd_event_add_signal(e, NULL, SIGTERM, on_signal, NULL);
        (void) sd_event_add_signal(e, NULL, SIGINT, on_signal, NULL);
        (void) sd_event_add_signal(e, NULL, SIGUSR1, on_signal, NULL);
        if (do_listen() < 0)
                return 1;
        printf("ready\n");
        fflush(stdout);
        r = sd_event_loop(e);
        server = h2_server_free(server);
        sd_event_unref(e);
        if (n_taken != n_closed) {
                fprintf(stderr, "h2-echo: %lu streams taken, %lu closed\n", n_taken, n_closed);
                return 3;
        }
        return r < 0 ? 1 : 0;
}
