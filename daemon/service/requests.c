/* SPDX-License-Identifier: MIT */
/* state_dir's requests as fsxdsd takes them (see requests.h): removal
 * allowances and fsxds forget. */
#include <assert.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "hashmap.h"
#include "logging.h"
#include "report.h"
#include "adsfeed.h"
#include "requests.h"
#include "rollback.h"
#include "statedir.h"
#include "store.h"

/* ---- the lock and the watch ---- */

void requests_close(Requests *q) {
        closep(&q->fd);
        closep(&q->inotify_fd);
        closep(&q->timer_fd);
        closep(&q->lock_fd);
        closep(&q->instance_fd);
        *q = REQUESTS_NULL;
}

static int watch_open(Requests *q, const char *state_dir) {
        int r = statedir_requests_mkdir(state_dir);
        if (r < 0)
                return r;
        q->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (q->inotify_fd < 0)
                return -errno;
        _cleanup_free_ char *allow = statedir_path(state_dir, STATEDIR_ALLOW_REMOVAL);
        _cleanup_free_ char *forget = statedir_path(state_dir, STATEDIR_FORGET);
        q->allow_wd = inotify_add_watch(q->inotify_fd, allow,
                                        IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR);
        if (q->allow_wd < 0)
                return -errno;
        q->forget_wd = inotify_add_watch(q->inotify_fd, forget, IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR);
        if (q->forget_wd < 0)
                return -errno;
        _cleanup_free_ char *rollback = statedir_path(state_dir, STATEDIR_ROLLBACK);
        _cleanup_free_ char *pin = statedir_path(state_dir, STATEDIR_PIN);
        q->rollback_wd = inotify_add_watch(q->inotify_fd, rollback, IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR);
        if (q->rollback_wd < 0)
                return -errno;
        q->pin_wd = inotify_add_watch(q->inotify_fd, pin,
                                      IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR);
        if (q->pin_wd < 0)
                return -errno;
        q->timer_fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
        if (q->timer_fd < 0)
                return -errno;
        _cleanup_close_ int fd = epoll_create1(EPOLL_CLOEXEC);
        if (fd < 0)
                return -errno;
        const int fds[] = { q->inotify_fd, q->timer_fd };
        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                if (epoll_ctl(fd, EPOLL_CTL_ADD, fds[i], &(struct epoll_event) { .events = EPOLLIN }) < 0)
                        return -errno;
        q->fd = TAKE_FD(fd);
        return 0;
}

int requests_open(Requests *q, const char *state_dir) {
        Requests n = REQUESTS_NULL;
        /* taken once; a reload keeps it */
        n.instance_fd = TAKE_FD(q->instance_fd);
        if (n.instance_fd < 0) {
                int r = statedir_instance_lock(state_dir, &n.instance_fd);
                if (r == -EBUSY) {
                        log_error(NULL, "another fsxdsd runs on %s (it holds %s/nodes locked): not started twice",
                                  state_dir, state_dir);
                        return r;
                }
                if (r < 0)
                        log_warning(NULL, "cannot lock %s/nodes: %s; nothing keeps a second fsxdsd off this state_dir",
                                    state_dir, strerror(-r));
        }
        /* the new lock before the old one goes: a reload never lets go */
        int r = statedir_lock(state_dir, false, &n.lock_fd);
        if (r < 0) {
                log_error(NULL, "cannot lock %s: %s", state_dir, strerror(-r));
                q->instance_fd = TAKE_FD(n.instance_fd); /* still held */
                requests_close(&n);
                return r;
        }
        r = watch_open(&n, state_dir);
        if (r < 0) {
                log_warning(NULL, "cannot watch %s/" STATEDIR_ALLOW_REMOVAL " and " STATEDIR_FORGET "/: %s; their "
                            "requests are taken after every rebuild", state_dir, strerror(-r));
                int lock_fd = TAKE_FD(n.lock_fd), instance_fd = TAKE_FD(n.instance_fd);
                requests_close(&n);
                n.lock_fd = lock_fd;
                n.instance_fd = instance_fd;
        }
        requests_close(q);
        *q = n;
        return 0;
}

unsigned requests_read(Requests *q) {
        union {
                struct inotify_event ev;
                char buf[4096];
        } u;
        unsigned what = 0;
        ssize_t n;
        while ((n = read(q->inotify_fd, u.buf, sizeof u.buf)) > 0)
                for (char *p = u.buf; p < u.buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *) p;
                        if (ev->mask & IN_Q_OVERFLOW)
                                what |= REQUESTS_ALLOWANCES | REQUESTS_ALLOWANCE_MADE | REQUESTS_FORGET |
                                        REQUESTS_ROLLBACK;
                        else if (ev->wd == q->allow_wd)
                                what |= REQUESTS_ALLOWANCES |
                                        (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO) ? REQUESTS_ALLOWANCE_MADE : 0);
                        else if (ev->wd == q->forget_wd)
                                what |= REQUESTS_FORGET;
                        else if (ev->wd == q->rollback_wd || ev->wd == q->pin_wd)
                                what |= REQUESTS_FORGET | REQUESTS_ROLLBACK;
                        p += sizeof(struct inotify_event) + ev->len;
                }
        uint64_t expirations;
        if (read(q->timer_fd, &expirations, sizeof expirations) == (ssize_t) sizeof expirations)
                what |= REQUESTS_ALLOWANCES;
        return what;
}

/* ---- removal allowances ---- */

typedef struct AllowanceSync {
        State *st;
        Hashmap seen;       /* nodes with an allowance file */
        uint64_t now, next; /* CLOCK_REALTIME; next: the earliest expiry (UINT64_MAX: none) */
        bool changed;
} AllowanceSync;

static void allowance_found(void *userdata, const char *node, uint64_t mtime_usec) {
        AllowanceSync *a = userdata;
        const char *state_dir = a->st->config->state_dir;
        uint64_t expires = mtime_usec + STATEDIR_ALLOWANCE_USEC;
        if (expires <= a->now) {
                int r = statedir_allow_removal_consume(state_dir, node, a->now);
                if (r < 0)
                        log_warning(node, "cannot remove its expired removal allowance %s/" STATEDIR_ALLOW_REMOVAL "/%s: %s",
                                    state_dir, node, strerror(-r));
                else
                        log_info(node, "its removal allowance (fsxds allow-removal) expired unused after %llu minutes",
                                 STATEDIR_ALLOWANCE_USEC / 60000000ULL);
                return;
        }
        a->next = MIN(a->next, expires);
        NodeState *ns = hashmap_get(&a->st->node_index, node, strlen(node));
        if (!ns)
                return;
        hashmap_put(&a->seen, ns->id, strlen(ns->id), ns);
        a->changed = a->changed || ns->allowance_usec != mtime_usec;
        ns->allowance_usec = mtime_usec;
}

void requests_sync_allowances(State *st, Requests *q, bool write_status) {
        AllowanceSync a = { .st = st, .now = now_usec(CLOCK_REALTIME), .next = UINT64_MAX };
        int r = statedir_list_requests(st->config->state_dir, STATEDIR_ALLOW_REMOVAL, allowance_found, &a);
        if (r < 0)
                log_warning(NULL, "cannot read %s/" STATEDIR_ALLOW_REMOVAL ": %s", st->config->state_dir, strerror(-r));
        /* used, removed by hand: disarmed (not when the listing failed) */
        for (size_t i = 0; r >= 0 && i < st->n_nodes; i++) {
                NodeState *ns = st->nodes[i];
                if (ns->allowance_usec && !hashmap_get(&a.seen, ns->id, strlen(ns->id))) {
                        ns->allowance_usec = 0;
                        a.changed = true;
                }
        }
        hashmap_free(&a.seen);
        if (a.changed && write_status)
                report_write_status(st);
        /* the next expiry, to the second after it (0: disarmed) */
        uint64_t next = a.next == UINT64_MAX ? 0 : a.next / 1000000 + 1;
        struct itimerspec when = { .it_value = { .tv_sec = (time_t) next } };
        if (q->timer_fd >= 0 && timerfd_settime(q->timer_fd, TFD_TIMER_ABSTIME, &when, NULL) < 0)
                log_error(NULL, "cannot arm the removal allowances' timer: %m; they expire at the next change");
}

void requests_allowance_spent(State *st, NodeState *ns) {
        if (!ns->allowance_usec)
                return;
        ns->allowance_usec = 0;
        int r = statedir_allow_removal_consume(st->config->state_dir, ns->id, now_usec(CLOCK_REALTIME));
        if (r > 0)
                log_info(ns->id, "its removal allowance is used up by this generation, which did not need it");
        else if (r < 0)
                log_warning(ns->id, "cannot remove its removal allowance %s/" STATEDIR_ALLOW_REMOVAL "/%s: %s",
                            st->config->state_dir, ns->id, strerror(-r));
}

/* ---- fsxds forget ---- */

static void forget_node(State *st, const char *id) {
        const Config *c = st->config;
        _cleanup_free_ char *why = NULL;
        int r = statedir_forget_refused(c->source_dir, c->nodes, c->n_nodes, id, &why);
        if (r != 0) {
                log_warning(NULL, "fsxds forget %s refused: %s; fsxdsd still builds it", id, r > 0 ? why : strerror(-r));
                return;
        }
        _cleanup_free_ char *allow = statedir_path(c->state_dir, STATEDIR_ALLOW_REMOVAL);
        _cleanup_free_ char *history = statedir_path(c->state_dir, STATEDIR_HISTORY);
        _cleanup_free_ char *pin = statedir_path(c->state_dir, STATEDIR_PIN);
        const char *const parents[] = { c->output_dir, st->state_nodes_dir, allow, history, pin };
        for (size_t i = 0; i < ELEMENTSOF(parents); i++) {
                int k = statedir_remove_entry(parents[i], id);
                if (k < 0) {
                        log_error(NULL, "cannot forget node %s: cannot remove %s/%s: %s", id, parents[i], id,
                                  k == -EXDEV ? "a directory in it is on another file system" : strerror(-k));
                        r = k;
                }
        }
        NodeState *ns = hashmap_get(&st->node_index, id, strlen(id));
        if (r < 0) {
                /* what is left is read from the disk again */
                if (ns) {
                        node_forget_memo(st, ns);
                        ns->manifest_ok = false;
                }
                return;
        }
        if (ns)
                node_state_drop(st, ns);
        adsfeed_forget(st, id);
        log_info(NULL, "node %s forgotten (fsxds forget)", id);
}

typedef struct ForgetList {
        char **ids;
        size_t n;
} ForgetList;

static void collect_request(void *userdata, const char *node, uint64_t mtime_usec) {
        ForgetList *q = userdata;
        q->ids = xrealloc(q->ids, (q->n + 1) * sizeof(char *));
        q->ids[q->n++] = xstrdup(node);
}

size_t requests_forget(State *st, bool write_status) {
        assert(!st->rebuild);
        const char *state_dir = st->config->state_dir;
        (void) rollback_requests(st, write_status ? report_write_status : NULL);
        ForgetList q = {};
        int r = statedir_list_requests(state_dir, STATEDIR_FORGET, collect_request, &q);
        if (r < 0)
                log_error(NULL, "cannot read %s/" STATEDIR_FORGET ": %s", state_dir, strerror(-r));
        if (q.n == 0)
                return 0;
        for (size_t i = 0; i < q.n; i++)
                forget_node(st, q.ids[i]);
        /* the objects only the forgotten nodes linked */
        if (store_gc(st->store) < 0 || store_gc(st->state_store) < 0)
                log_warning(NULL, "cannot collect the store objects of the forgotten nodes; they go at the next start");
        if (write_status)
                report_write_status(st);
        for (size_t i = 0; i < q.n; i++) {
                r = statedir_request_remove(state_dir, STATEDIR_FORGET, q.ids[i]);
                if (r < 0)
                        log_error(NULL, "cannot remove the request %s/" STATEDIR_FORGET "/%s: %s", state_dir, q.ids[i],
                                  strerror(-r));
                free(q.ids[i]);
        }
        size_t n = q.n;
        free(q.ids);
        return n;
}
