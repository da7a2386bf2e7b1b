/* SPDX-License-Identifier: MIT */
/* The gRPC transport's server: its limits, the listening socket (a unix
 * socket, or TCP with TLS) and accepting connections on the sd-event loop.
 * A connection's work is h2-conn.c's; TLS is h2-tls.c's. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "h2-internal.h"
#include "util.h"

int h2_server_new(sd_event *e, const H2Callbacks *cb, void *userdata, const H2Limits *limits, H2Server **ret) {
        H2Server *s;
        struct sigaction sa;

        assert(e && cb && cb->stream_open && ret);
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(e);
        s->cb = *cb;
        s->userdata = userdata;
        if (limits)
                s->limits = *limits;
        if (!s->limits.max_streams)
                s->limits.max_streams = 100;
        if (!s->limits.max_connections)
                s->limits.max_connections = 1024; /* and half the fds at most: accept_one() */
        if (!s->limits.max_message)
                s->limits.max_message = 4 * 1024 * 1024;
        if (!s->limits.low_water)
                s->limits.low_water = 64 * 1024;
        if (!s->limits.max_queued)
                s->limits.max_queued = (size_t) 256 << 20;
        if (!s->limits.keepalive_usec)
                s->limits.keepalive_usec = 30 * 1000000ULL;
        if (!s->limits.keepalive_timeout_usec)
                s->limits.keepalive_timeout_usec = 20 * 1000000ULL;
        if (!s->limits.handshake_timeout_usec)
                s->limits.handshake_timeout_usec = 5 * 1000000ULL;
        /* OpenSSL writes to the socket with write(): a peer gone would
         * otherwise kill the process */
        if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
                (void) signal(SIGPIPE, SIG_IGN);
        if (sd_event_add_defer(e, &s->closes, h2_server_closes, s) < 0) {
                sd_event_unref(s->event);
                free(s);
                return -ENOMEM;
        }
        (void) sd_event_source_set_enabled(s->closes, SD_EVENT_OFF);
        *ret = s;
        return 0;
}

static H2Listener *listener_free(H2Listener *l) {
        struct stat st;

        if (!l)
                return NULL;
        sd_event_source_disable_unref(l->io);
        sd_event_source_disable_unref(l->pause);
        if (l->fd >= 0)
                close(l->fd);
        /* the file may since be another listener's (a reload renames the
         * new one over it): remove only our own */
        if (l->unix_path && lstat(l->unix_path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
                (void) unlink(l->unix_path);
        SSL_CTX_free(l->ssl_ctx);
        free(l->unix_path);
        free(l->address);
        free(l);
        return NULL;
}

H2Server *h2_server_free(H2Server *s) {
        if (!s)
                return NULL;
        s->listener = listener_free(s->listener);
        while (s->conns)
                h2_conn_free(s->conns);
        s->closes = sd_event_source_disable_unref(s->closes);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

/* how long a connection may be in its TLS handshake before a new
 * connection at the limit may take its place */
#define EVICT_AGE_USEC (500 * 1000)

static void accept_one(H2Listener *l, int fd, const struct sockaddr_storage *sa) {
        H2Server *s = l->server;
        struct ucred cred = {};
        socklen_t len = sizeof(cred);
        char desc[96], ip[INET6_ADDRSTRLEN] = "?";

        if (sa->ss_family == AF_UNIX) {
                if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                        close(fd);
                        return;
                }
                snprintf(desc, sizeof(desc), "unix pid %d uid %u", (int) cred.pid, (unsigned) cred.uid);
        } else if (sa->ss_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;
                inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
                snprintf(desc, sizeof(desc), "tcp [%s]:%u", ip, ntohs(in6->sin6_port));
        } else {
                const struct sockaddr_in *in = (const struct sockaddr_in *) sa;
                inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
                snprintf(desc, sizeof(desc), "tcp %s:%u", ip, ntohs(in->sin_port));
        }
        /* and never more than half the fds the process may have now (a
         * limit lowered since start too): the daemon's own work needs fds */
        size_t cap = s->limits.max_connections;
        struct rlimit nofile;
        if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY)
                cap = MIN(cap, MAX((size_t) nofile.rlim_cur / 2, (size_t) 1));
        /* at the limit, a connection in its TLS handshake for EVICT_AGE
         * makes room, the oldest first: stalled handshakes (any TCP peer
         * can open them) cannot lock the clients out until their
         * deadline, and a handshake on its way (a far client's round
         * trips) is not cut short by a flood of new ones */
        if (s->n_connections >= cap) {
                H2Conn *oldest = NULL;
                uint64_t now = 0;
                (void) sd_event_now(s->event, CLOCK_MONOTONIC, &now);
                for (H2Conn *c = s->conns; c; c = c->next)
                        if (c->handshaking && now >= c->accepted_usec + EVICT_AGE_USEC)
                                oldest = c; /* the list is newest first */
                if (oldest) {
                        if (s->cb.conn_refused) {
                                char reason[160];
                                snprintf(reason, sizeof(reason),
                                         "closed to make room (%zu connections, the limit): its TLS handshake not done "
                                         "after %" PRIu64 " ms", s->n_connections, (now - oldest->accepted_usec) / 1000);
                                s->cb.conn_refused(s->userdata, &oldest->peer, reason);
                        }
                        h2_conn_free(oldest);
                }
        }
        if (s->n_connections >= cap) {
                close(fd);
                if (s->cb.conn_refused) {
                        H2Peer peer = { .description = desc, .pid = cred.pid, .uid = cred.uid, .gid = cred.gid };
                        char reason[128];
                        snprintf(reason, sizeof(reason), "too many connections: %zu open, the limit is %zu", s->n_connections,
                                 cap);
                        s->cb.conn_refused(s->userdata, &peer, reason);
                }
                return;
        }
        if (sa->ss_family == AF_UNIX) {
                (void) h2_conn_new(s, fd, NULL, desc, &cred);
                return;
        }
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int) { 1 }, sizeof(int));
        (void) h2_conn_new(s, fd, l->ssl_ctx, desc, NULL);
}

/* how long accepting pauses when the process is out of file descriptors
 * (the kernel's backlog keeps the connections waiting meanwhile) */
#define ACCEPT_PAUSE_USEC (250 * 1000)

static int on_accept_pause(sd_event_source *src, uint64_t usec, void *ud) {
        H2Listener *l = ud;

        (void) src;
        (void) usec;
        (void) sd_event_source_set_enabled(l->io, SD_EVENT_ON);
        return 0;
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *ud) {
        H2Listener *l = ud;

        (void) src;
        (void) revents;
        for (;;) {
                struct sockaddr_storage sa = {};
                socklen_t len = sizeof(sa);
                int c = accept4(fd, (struct sockaddr *) &sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (c >= 0) {
                        accept_one(l, c, &sa);
                        continue;
                }
                if (errno == EINTR || errno == ECONNABORTED)
                        continue;
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                        /* a level-triggered listener would fire again at once,
                         * spinning the loop the daemon needs: pause it */
                        uint64_t now;
                        if (sd_event_now(l->server->event, CLOCK_MONOTONIC, &now) >= 0 &&
                            (l->pause || sd_event_add_time(l->server->event, &l->pause, CLOCK_MONOTONIC, 0, 0,
                                                           on_accept_pause, l) >= 0) &&
                            sd_event_source_set_time(l->pause, now + ACCEPT_PAUSE_USEC) >= 0 &&
                            sd_event_source_set_enabled(l->pause, SD_EVENT_ONESHOT) >= 0)
                                (void) sd_event_source_set_enabled(l->io, SD_EVENT_OFF);
                }
                return 0; /* EAGAIN */
        }
}

/* *ret_error: the message, then ": " and r's strerror */
_printf_(3, 4) static int fail(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        if (ret_error) {
                _cleanup_free_ char *m = NULL;
                va_start(ap, fmt);
                m = xvasprintf(fmt, ap);
                va_end(ap);
                *ret_error = xasprintf("%s: %s", m, strerror(-r));
        }
        return r;
}

/* a non-socket file at path is someone else's: never removed */
static int clear_stale(const char *path, char **ret_error) {
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : fail(ret_error, -errno, "%s", path);
        if (!S_ISSOCK(st.st_mode))
                return fail(ret_error, -EEXIST, "%s exists and is not a socket", path);
        return 0;
}

/* binds a new socket next to path, then renames it over path: the
 * previous listener's file stays until the new one is ready */
static int listen_unix(H2Listener *l, const char *path, mode_t mode, gid_t gid, char **ret_error) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        _cleanup_free_ char *tmp = NULL;
        struct stat st;
        int r;

        if (!*path)
                return fail(ret_error, -EINVAL, "unix:%s: no socket path", path);
        tmp = xasprintf("%s.new", path);
        if (strlen(tmp) >= sizeof(sun.sun_path))
                return fail(ret_error, -ENAMETOOLONG, "%s", path);
        if ((r = clear_stale(path, ret_error)) < 0 || (r = clear_stale(tmp, ret_error)) < 0)
                return r;
        (void) unlink(tmp);
        memcpy(sun.sun_path, tmp, strlen(tmp) + 1);

        l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (l->fd < 0)
                return fail(ret_error, -errno, "socket for %s", path);
        if (bind(l->fd, (struct sockaddr *) &sun, sizeof(sun)) < 0)
                return fail(ret_error, -errno, "bind %s", tmp);
        if (chmod(tmp, mode) < 0 || (gid != (gid_t) -1 && chown(tmp, (uid_t) -1, gid) < 0) ||
            listen(l->fd, SOMAXCONN) < 0 || stat(tmp, &st) < 0 || rename(tmp, path) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return fail(ret_error, r, "listen on %s", path);
        }
        l->unix_path = strdup(path);
        if (!l->unix_path)
                return -ENOMEM;
        l->dev = st.st_dev;
        l->ino = st.st_ino;
        return 0;
}

static int listen_tcp(H2Listener *l, const char *address, char **ret_error) {
        _cleanup_free_ char *host = NULL;
        struct sockaddr_storage sa = {};
        socklen_t salen;
        const char *colon, *port_s;
        char *end;
        unsigned long port;

        if (address[0] == '[') {
                const char *close_br = strchr(address, ']');
                if (!close_br || close_br[1] != ':')
                        return fail(ret_error, -EINVAL, "%s: not [IPv6]:PORT", address);
                host = strndup(address + 1, (size_t) (close_br - address - 1));
                port_s = close_br + 2;
        } else {
                colon = strrchr(address, ':');
                if (!colon)
                        return fail(ret_error, -EINVAL, "%s: not HOST:PORT or unix:PATH", address);
                host = strndup(address, (size_t) (colon - address));
                port_s = colon + 1;
        }
        if (!host)
                return -ENOMEM;
        errno = 0;
        port = strtoul(port_s, &end, 10);
        if (!*port_s || *end || errno || port == 0 || port > 65535)
                return fail(ret_error, -EINVAL, "%s: the port is not 1..65535", address);
        if (inet_pton(AF_INET, host, &((struct sockaddr_in *) &sa)->sin_addr) == 1) {
                struct sockaddr_in *in = (struct sockaddr_in *) &sa;
                in->sin_family = AF_INET;
                in->sin_port = htons((uint16_t) port);
                salen = sizeof(*in);
        } else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *) &sa)->sin6_addr) == 1) {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &sa;
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t) port);
                salen = sizeof(*in6);
        } else
                return fail(ret_error, -EINVAL, "%s: the host is not a numeric IPv4 or IPv6 address", address);

        l->fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (l->fd < 0)
                return fail(ret_error, -errno, "socket for %s", address);
        (void) setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &(int) { 1 }, sizeof(int));
        if (sa.ss_family == AF_INET6)
                (void) setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int) { 1 }, sizeof(int));
        if (bind(l->fd, (struct sockaddr *) &sa, salen) < 0 || listen(l->fd, SOMAXCONN) < 0)
                return fail(ret_error, -errno, "listen on %s", address);
        return 0;
}

int h2_server_listen(H2Server *s, const char *address, const H2Tls *tls, mode_t mode, gid_t gid, char **ret_error) {
        H2Listener *l;
        SSL_CTX *ctx = NULL;
        bool is_unix = strncmp(address, "unix:", 5) == 0;
        int r;

        if (ret_error)
                *ret_error = NULL;
        if (is_unix && tls)
                return fail(ret_error, -EINVAL, "%s: a unix socket takes no TLS", address);
        if (!is_unix && !tls)
                return fail(ret_error, -EINVAL, "%s: TCP requires TLS", address);
        if (tls && (r = h2_tls_context(tls, &ctx, ret_error)) < 0)
                return r;

        /* a reload on the same TCP address: the same socket, the new
         * certificates (a second bind would find the port taken) */
        if (ctx && s->listener && !s->listener->unix_path && streq(s->listener->address, address)) {
                SSL_CTX_free(s->listener->ssl_ctx);
                s->listener->ssl_ctx = ctx;
                s->listener->cert_not_after = h2_tls_not_after(ctx);
                return 0;
        }

        l = calloc(1, sizeof(*l));
        if (!l) {
                SSL_CTX_free(ctx);
                return -ENOMEM;
        }
        l->server = s;
        l->fd = -EBADF;
        l->ssl_ctx = ctx;
        l->cert_not_after = h2_tls_not_after(ctx);
        l->address = strdup(address);
        r = !l->address ? -ENOMEM
            : is_unix   ? listen_unix(l, address + 5, mode, gid, ret_error)
                        : listen_tcp(l, address, ret_error);
        if (r >= 0)
                r = sd_event_add_io(s->event, &l->io, l->fd, EPOLLIN, on_accept, l);
        if (r < 0) {
                listener_free(l);
                return r;
        }
        listener_free(s->listener);
        s->listener = l;
        return 0;
}

size_t h2_server_n_connections(const H2Server *s) {
        return s->n_connections;
}

size_t h2_server_n_streams(const H2Server *s) {
        return s->n_streams;
}

int64_t h2_server_cert_not_after(const H2Server *s) {
        return s->listener ? s->listener->cert_not_after : 0;
}

size_t h2_server_bytes(const H2Server *s) {
        size_t n = sizeof(*s) + (s->listener ? sizeof(H2Listener) : 0);

        for (const H2Conn *c = s->conns; c; c = c->next)
                n += h2_conn_bytes(c);
        return n;
}
