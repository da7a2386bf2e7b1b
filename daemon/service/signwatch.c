/* SPDX-License-Identifier: MIT */
/* The watch on the signing files (signwatch.h). A replaced key or
 * certificate file is taken once the writes have settled. */
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "logging.h"
#include "signwatch.h"
#include "state.h"
#include "util.h"

static int on_signing_files(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        SigningWatch *w = userdata;
        const SigningConfig *c = w->signing;
        union {
                struct inotify_event ev;
                char buf[4096];
        } u;
        bool hit = false;
        ssize_t n;
        while ((n = read(fd, u.buf, sizeof u.buf)) > 0)
                for (char *p = u.buf; p < u.buf + n;) {
                        struct inotify_event *ev = (struct inotify_event *) p;
                        const char *files[] = { c->key, c->cert, c->chain };
                        for (size_t i = 0; c && ev->len > 0 && i < ELEMENTSOF(files); i++) {
                                const char *base = files[i] ? strrchr(files[i], '/') : NULL;
                                hit = hit || (files[i] && streq(base ? base + 1 : files[i], ev->name));
                        }
                        p += sizeof(struct inotify_event) + ev->len;
                }
        if (hit) {
                int r = sd_event_source_set_time(w->timer, now_usec(CLOCK_MONOTONIC) + w->settle_usec);
                if (r >= 0)
                        r = sd_event_source_set_enabled(w->timer, SD_EVENT_ONESHOT);
                if (r < 0)
                        log_error(NULL, "cannot arm the signing files' timer: %s; they are taken at the next reload",
                                  strerror(-r));
        }
        return 0;
}

void signing_watch_close(SigningWatch *w) {
        sd_event_source_unref(w->source);
        sd_event_source_unref(w->timer);
        if (w->fd >= 0)
                close(w->fd);
        *w = SIGNING_WATCH_NULL;
}

int signing_watch_setup(SigningWatch *w, sd_event *event, const Config *config,
                        sd_event_time_handler_t on_settled, void *userdata) {
        signing_watch_close(w);
        const SigningConfig *c = config->signing;
        if (!c || !event)
                return 0;
        w->signing = c;
        w->settle_usec = config->settle_usec;
        w->fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (w->fd < 0)
                return -errno;
        const char *files[] = { c->key, c->cert, c->chain };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                if (!files[i])
                        continue;
                const char *slash = strrchr(files[i], '/');
                _cleanup_free_ char *dir = slash ? xstrndup(files[i], (size_t) (slash - files[i])) : xstrdup(".");
                if (inotify_add_watch(w->fd, *dir ? dir : "/",
                                      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_ONLYDIR) < 0)
                        return -errno;
        }
        int r = sd_event_add_time(event, &w->timer, CLOCK_MONOTONIC, UINT64_MAX, 1, on_settled, userdata);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(w->timer, SD_EVENT_OFF);
        if (r < 0)
                return r;
        return sd_event_add_io(event, &w->source, w->fd, EPOLLIN, on_signing_files, w);
}
