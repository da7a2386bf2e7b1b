/* SPDX-License-Identifier: MIT */
/* fsxdsd's manager: its life cycle and the sd-event loop with every event
 * source (the source watch and its settle timer, the phase timer, signals,
 * the verify and signing timers, the allow-removal and signing-file
 * watches, the rescan of what the source watch could not watch, the retry
 * timer). A change in
 * the source tree arms the settle timer; when it fires, the rebuild
 * (rebuild.c) runs; MANIFESTs are kept by upkeep.c. A publish that failed
 * (a full output_dir) is retried by the retry timer, with backoff. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <grp.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "hashmap.h"
#include "logging.h"
#include "adsfeed.h"
#include "manager.h"
#include "metrics.h"
#include "manifest.h"
#include "publish.h"
#include "sign.h"
#include "signwatch.h"
#include "store.h"
#include "watch.h"
#include "wire.h"
#include "rebuild.h"
#include "report.h"
#include "requests.h"
#include "state.h"
#include "statedir.h"
#include "status.h"
#include "upkeep.h"

struct Manager {
        char *config_path;
        State state;        /* what the rebuild and the upkeep act on */
        size_t last_n_bad;  /* nodes with errors after the last rebuild */

        /* the loop and its sources */
        sd_event *event;
        Watch *watch;
        sd_event_source *watch_source;
        sd_event_source *settle_timer;
        uint64_t burst_start;
        bool settle_armed;
        sd_event_source *phase_timer;  /* the next phase of the publish in flight */
        Requests requests;             /* state_dir's lock, and its requests' watch */
        sd_event_source *requests_source;
        SigningWatch signing;          /* the key, cert and chain files */
        sd_event_source *verify_timer; /* verify_interval */
        sd_event_source *verify_slice; /* the rest of a verification pass */
        sd_event_source *rescan_timer; /* rescan_interval, while the source watch is degraded */
        /* held back while a rebuild is in flight, done after it */
        bool rebuild_queued, reload_queued, signing_queued, verify_queued;
        bool stopping;      /* SIGTERM: exit once the rebuild in flight is over */
        char *logged_change; /* the last "change:" logged since the last rebuild started */
        bool notify_ready;  /* READY=1 once the rebuild in flight is over (start, reload) */
        bool starting;      /* the rebuild in flight is the first */
        bool once;          /* --once: nothing is retried */
        sd_event_source *retry_timer; /* the next retry of failed publishes */
        bool retry_armed;
        uint64_t retry_delay_usec;    /* of the last retry; 0: none since the last success */
};

/* Failed publishes (and a status file that could not be written) are
 * retried from the nodes' last build, with no source change: 1 s after
 * the failure, doubling to 60 s while they keep failing. */
#define RETRY_FIRST_USEC (1000000ULL)
#define RETRY_MAX_USEC (60000000ULL)

static void manager_source_changed(void *userdata, const char *path);
static void manager_rebuild_start(Manager *m);
static void manager_rebuild_resume(Manager *m);

/* Arms a one-shot timer usec from now. */
static int arm_timer(sd_event_source *s, uint64_t usec) {
        int r = sd_event_source_set_time(s, now_usec(CLOCK_MONOTONIC) + usec);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

/* A verification pass. One that found nothing completes here; one that
 * found something completes when the rebuild that repairs it is over
 * (manager_rebuild_done()), so that a reader of status.json's
 * verify_passes knows what a pass found is published again. */
/* One slice of verify_interval's pass at a time, so a change that comes
 * meanwhile is not held up by thousands of nodes being checked. */
#define VERIFY_SLICE_USEC (20 * 1000)

static int on_verify_slice(sd_event_source *s, void *userdata);

static void verify_now(Manager *m) {
        size_t n_altered = 0;
        if (!upkeep_check_outputs_slice(&m->state, VERIFY_SLICE_USEC, &n_altered)) {
                /* the rest after the loop has run; a rebuild that starts
                 * meanwhile holds it back (on_verify_slice) */
                int r = m->verify_slice ? sd_event_source_set_enabled(m->verify_slice, SD_EVENT_ONESHOT)
                                        : sd_event_add_defer(m->event, &m->verify_slice, on_verify_slice, m);
                if (r >= 0)
                        r = sd_event_source_set_enabled(m->verify_slice, SD_EVENT_ONESHOT);
                if (r >= 0)
                        return;
                log_error(NULL, "cannot schedule the rest of the verification pass: %s; it goes on now", strerror(-r));
                while (!upkeep_check_outputs_slice(&m->state, UINT64_MAX, &n_altered))
                        ;
        }
        /* a last good copy that could not be saved is tried again too */
        if (n_altered > 0 || rebuild_state_failed(&m->state)) {
                m->state.verify_pass_open = true;
                manager_source_changed(m, NULL);
        } else {
                m->state.verify_passes++;
                report_write_status(&m->state);
        }
        int r = arm_timer(m->verify_timer, m->state.config->verify_interval_usec);
        if (r < 0)
                log_error(NULL, "cannot arm the verify_interval timer: %s; the outputs are checked at reload only",
                          strerror(-r));
}

/* A pass, or its next slice, unless a generation is being published: a
 * directory mid-publish differs from its MANIFEST, so it goes on after. */
static void verify_when_idle(Manager *m) {
        if (rebuild_busy(&m->state))
                m->verify_queued = true;
        else
                verify_now(m);
}

static int on_verify_slice(sd_event_source *s, void *userdata) {
        verify_when_idle(userdata);
        return 0;
}

static int on_verify_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        verify_when_idle(userdata);
        return 0;
}

/* (Re)arms the periodic check after start and reload. */
static int setup_verify_timer(Manager *m) {
        uint64_t interval = m->state.config->verify_interval_usec;
        if (!m->verify_timer) {
                int r = sd_event_add_time(m->event, &m->verify_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_verify_timer, m);
                if (r < 0)
                        return r;
        }
        m->verify_queued = false;
        /* a pass in progress is over: the reload checks every node itself */
        upkeep_verify_pass_done(&m->state);
        if (m->verify_slice)
                (void) sd_event_source_set_enabled(m->verify_slice, SD_EVENT_OFF);
        if (interval == 0)
                return sd_event_source_set_enabled(m->verify_timer, SD_EVENT_OFF);
        return arm_timer(m->verify_timer, interval);
}


/* ---- event sources ---- */

static int on_settle(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        m->settle_armed = false;
        /* one generation at a time: this one starts when the one in flight is published */
        if (rebuild_busy(&m->state))
                m->rebuild_queued = true;
        else
                manager_rebuild_start(m);
        return 0;
}

static int on_phase_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        manager_rebuild_resume(userdata);
        return 0;
}

static int manager_arm_phase_timer(Manager *m) {
        if (!m->phase_timer)
                return -ESTALE;
        return arm_timer(m->phase_timer, m->state.config->phase_pause_usec);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        m->retry_armed = false;
        m->state.retry_usec = 0;
        log_debug(NULL, "retrying the publishes that failed");
        if (rebuild_busy(&m->state))
                m->rebuild_queued = true;
        else
                manager_rebuild_start(m);
        return 0;
}

static int setup_timers(Manager *m) {
        int r = sd_event_add_time(m->event, &m->retry_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_retry, m);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(m->retry_timer, SD_EVENT_OFF);
        if (r < 0)
                return r;
        r = sd_event_add_time(m->event, &m->settle_timer, CLOCK_MONOTONIC, UINT64_MAX, 1, on_settle, m);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(m->settle_timer, SD_EVENT_OFF);
        if (r < 0)
                return r;
        r = sd_event_add_time(m->event, &m->phase_timer, CLOCK_MONOTONIC, UINT64_MAX, 1, on_phase_timer, m);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(m->phase_timer, SD_EVENT_OFF);
}

/* The settle timer, settle from now (but no later than settle_max after
 * the first change of the burst). */
static void manager_arm_settle(Manager *m) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        if (!m->settle_armed) {
                m->burst_start = now;
                m->settle_armed = true;
        }
        uint64_t deadline = MIN(now + m->state.config->settle_usec, m->burst_start + m->state.config->settle_max_usec);
        int r = sd_event_source_set_time(m->settle_timer, deadline);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->settle_timer, SD_EVENT_ONESHOT);
        if (r < 0)
                log_error(NULL, "cannot arm the settle timer: %s; the change is built with the next one", strerror(-r));
}

static void manager_source_changed(void *userdata, const char *path) {
        Manager *m = userdata;
        report_change(&m->logged_change, path);
        manager_arm_settle(m);
}

static int on_watch(sd_event_source *s, int fd, uint32_t revents, void *userdata);

/* After every change of the source watch: the degraded state is logged
 * once per transition (not per directory or event), the rescan timer runs
 * while it lasts, and status says so. */
static void watch_state_update(Manager *m, bool write_status) {
        size_t n = m->watch ? watch_get_unwatched(m->watch) : 0;
        bool was = m->state.watch_unwatched > 0;
        uint64_t every = m->state.config->rescan_interval_usec;
        m->state.watch_unwatched = n;
        if (n > 0) {
                bool instances = watch_get_limit_error(m->watch) == -EMFILE;
                m->state.watch_limit_name = instances ? "fs.inotify.max_user_instances" : "fs.inotify.max_user_watches";
                m->state.watch_limit_value = read_int_file(instances ? "/proc/sys/user/max_inotify_instances"
                                                                  : "/proc/sys/user/max_inotify_watches");
                if (!was) {
                        const char *first = watch_get_first_unwatched(m->watch);
                        log_warning(NULL, "inotify %s limit reached (%s = %" PRIi64 "): %zu directories unwatched, "
                                    "the first %s%s%s; rescanning them every %" PRIu64 ".%03" PRIu64 "s",
                                    instances ? "instance" : "watch", m->state.watch_limit_name,
                                    m->state.watch_limit_value, n, m->state.config->source_dir,
                                    first && first[0] ? "/" : "", first ? first : "", every / 1000000,
                                    every / 1000 % 1000);
                }
                if (m->rescan_timer) {
                        int enabled = SD_EVENT_OFF;
                        (void) sd_event_source_get_enabled(m->rescan_timer, &enabled);
                        int r = enabled == SD_EVENT_OFF ? arm_timer(m->rescan_timer, every) : 0;
                        if (r < 0)
                                log_error(NULL, "cannot arm the rescan timer: %s; unwatched directories are rescanned "
                                          "at the next change only", strerror(-r));
                }
        } else {
                m->state.watch_limit_name = NULL;
                m->state.watch_limit_value = -1;
                if (was)
                        log_info(NULL, "every directory under %s is watched again; rescan stopped",
                                 m->state.config->source_dir);
                if (m->rescan_timer)
                        (void) sd_event_source_set_enabled(m->rescan_timer, SD_EVENT_OFF);
        }
        /* out of instances, the watch gets its fd once one is free */
        if (m->watch && !m->watch_source && watch_get_fd(m->watch) >= 0 && m->event) {
                int r = sd_event_add_io(m->event, &m->watch_source, watch_get_fd(m->watch), EPOLLIN, on_watch, m);
                if (r < 0)
                        log_error(NULL, "cannot poll the source watch: %s", strerror(-r));
        }
        /* a rebuild writes status anyway; a recovery may come without one */
        if (write_status && was != (n > 0) && !m->starting && !rebuild_busy(&m->state))
                report_write_status(&m->state);
}

static int on_watch(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        int r = watch_process(m->watch, manager_source_changed, m);
        m->state.metrics.overflow_rescans += watch_take_overflows(m->watch);
        if (r < 0)
                log_error(NULL, "watching %s: %s", m->state.config->source_dir, strerror(-r));
        watch_state_update(m, true);
        return 0;
}

static int on_rescan_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        if (m->watch) {
                int r = watch_rescan(m->watch, manager_source_changed, m);
                if (r < 0)
                        log_error(NULL, "rescanning %s: %s", m->state.config->source_dir, strerror(-r));
        }
        watch_state_update(m, true);
        return 0;
}

static int setup_watch(Manager *m) {
        m->watch_source = sd_event_source_unref(m->watch_source);
        m->watch = watch_free(m->watch);
        m->state.watch_backend = NULL;
        _cleanup_free_ char *reason = NULL;
        int r = watch_new(m->state.config->watch, m->state.config->source_dir, &m->watch, &reason);
        if (r < 0) {
                log_error(NULL, "cannot watch %s: %s", m->state.config->source_dir, strerror(-r));
                return r;
        }
        if (reason)
                log_info(NULL, "fanotify not used: %s", reason);
        m->state.watch_backend = watch_backend_to_string(watch_get_backend(m->watch));
        log_info(NULL, "watching %s with %s", m->state.config->source_dir, m->state.watch_backend);
        if (!m->rescan_timer) {
                r = sd_event_add_time(m->event, &m->rescan_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_rescan_timer, m);
                if (r >= 0)
                        r = sd_event_source_set_enabled(m->rescan_timer, SD_EVENT_OFF);
                if (r < 0)
                        return r;
        }
        /* a new watch: its degraded state is logged anew */
        m->state.watch_unwatched = 0;
        if (watch_get_fd(m->watch) >= 0) {
                r = sd_event_add_io(m->event, &m->watch_source, watch_get_fd(m->watch), EPOLLIN, on_watch, m);
                if (r < 0)
                        return r;
        }
        watch_state_update(m, false);
        return 0;
}

/* `fsxds allow-removal NODE` writes <state_dir>/allow-removal/NODE: a
 * rebuild then lets that node's blocked generation through. `fsxds forget
 * NODE` writes <state_dir>/forget/NODE while fsxdsd runs (requests.c). */
static int on_requests(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        unsigned what = requests_read(&m->requests);
        bool idle = !m->starting && !rebuild_busy(&m->state);
        if ((what & REQUESTS_FORGET) && !rebuild_busy(&m->state))
                (void) requests_forget(&m->state, idle); /* else after the rebuild */
        if (what & REQUESTS_ALLOWANCES)
                requests_sync_allowances(&m->state, &m->requests, idle && !(what & REQUESTS_ALLOWANCE_MADE));
        /* blocked nodes are retried by every rebuild, which writes the status */
        if (what & (REQUESTS_ALLOWANCE_MADE | REQUESTS_ROLLBACK))
                manager_source_changed(m, NULL);
        return 0;
}

static int setup_requests(Manager *m) {
        m->requests_source = sd_event_source_unref(m->requests_source);
        int r = requests_open(&m->requests, m->state.config->state_dir);
        if (r < 0 || m->requests.fd < 0 || !m->event)
                return r;
        r = sd_event_add_io(m->event, &m->requests_source, m->requests.fd, EPOLLIN, on_requests, m);
        if (r < 0)
                log_warning(NULL, "cannot poll the requests in %s: %s", m->state.config->state_dir, strerror(-r));
        return 0;
}

/* A replaced key or certificate file (watched) is taken once the writes
 * have settled; a pair that does not match yet (the key written, the
 * certificate not yet) keeps the previous one. */
static void signing_reload(Manager *m) {
        if (upkeep_load_signer(&m->state) < 0) {
                log_error(NULL, "the new signing files were refused; still signing as %s",
                          m->state.signer ? signer_subject(m->state.signer) : "nobody");
                return;
        }
        upkeep_ensure_manifests(&m->state);
        report_write_status(&m->state);
}

static int on_signing_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        /* MANIFESTs are made again only of directories not mid-publish */
        if (rebuild_busy(&m->state))
                m->signing_queued = true;
        else
                signing_reload(m);
        return 0;
}

static void report_adoption(void *userdata, const char *node, const char *error) {
        log_warning(node, "its last good copy from an older fsxdsd does not verify and will not be restored: %s", error);
}

/* state_dir of an older format (1: no format file) becomes format 2 once:
 * copies that verify get their MANIFEST, the counter moves into .fsxds/,
 * the format file is written last. */
static void adopt_state_dir(Manager *m, unsigned format) {
        const char *dir = m->state.config->state_dir;
        int n = format > 0 ? statedir_adopt(dir, report_adoption, NULL) : 0;
        int r = n < 0 ? n : statedir_write_generation(dir, m->state.generation);
        if (r >= 0)
                r = statedir_write_format(dir);
        if (r < 0)
                log_error(NULL, "cannot adopt %s (format %u) as format %d: %s; trying again at the next start", dir, format,
                          STATEDIR_FORMAT, strerror(-r));
        else if (format > 0)
                log_info(NULL, "adopted %s as format %d (%d last good copies verified)", dir, STATEDIR_FORMAT, n);
}

/* store_open() of dir, its failure logged with the path that failed: dir
 * itself, or dir/.store when dir opens. */
static int open_store_logged(const char *dir, gid_t gid, Store **ret) {
        int r = store_open(dir, gid, ret);
        if (r < 0) {
                _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                log_error(NULL, "cannot open %s%s: %s", dir, fd >= 0 ? "/.store" : "", strerror(-r));
                return r;
        }
        if (store_replaced(*ret))
                log_warning(NULL, "%s/.store was not a directory (a symlink or a file, not followed): removed, "
                            "the store made anew", dir);
        return 0;
}

static int open_outputs(Manager *m) {
        m->state.gid = (gid_t) -1;
        if (m->state.config->output_group) {
                struct group *g = getgrnam(m->state.config->output_group);
                if (!g) {
                        log_error(NULL, "output_group %s: no such group", m->state.config->output_group);
                        return -ESRCH;
                }
                m->state.gid = g->gr_gid;
        }
        /* the new schema first: when it cannot be loaded, the old one and
         * the source cache built with it stay as they are */
        _cleanup_(schema_freep) Schema *schema = NULL;
        if (m->state.config->schema) {
                _cleanup_free_ char *error = NULL;
                int r = schema_load_file(m->state.config->schema, &error, &schema);
                if (r < 0) {
                        log_error(NULL, "schema %s: %s", m->state.config->schema, error ? error : strerror(-r));
                        return r;
                }
        } else {
                int r = schema_load_builtin(&schema);
                if (r < 0) {
                        log_error(NULL, "the built-in schema: %s", strerror(-r));
                        return r;
                }
        }
        if (m->state.config->envoy_version)
                schema_set_envoy_version(schema, m->state.config->envoy_version);
        int r = upkeep_load_signer(&m->state);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->state.n_nodes; i++)
                m->state.nodes[i]->manifest_ok = false;
        if (!m->state.describe)
                m->state.describe = describe_cache_new();
        /* a new schema or mode: every node built whole */
        for (size_t i = 0; i < m->state.n_nodes; i++)
                node_forget_memo(&m->state, m->state.nodes[i]);
        m->state.cache = source_cache_free(m->state.cache);
        schema_free(m->state.schema);
        m->state.schema = TAKE_PTR(schema);
        r = source_cache_new(m->state.schema, m->state.config->publish_mode, &m->state.cache);
        if (r < 0) {
                log_error(NULL, "cannot make the source cache: %s", strerror(-r));
                return r;
        }
        m->state.recheck_all = true;
        m->state.store = store_free(m->state.store);
        r = open_store_logged(m->state.config->output_dir, m->state.gid, &m->state.store);
        if (r < 0)
                return r;
        /* status.json moved into .fsxds/ (a node may be named status.json) */
        r = status_remove_legacy(m->state.config->output_dir);
        if (r > 0)
                log_info(NULL, "removed %s/" STATUS_FILE_NAME " of an earlier version; the status is in %s/" STATUS_DIR "/",
                         m->state.config->output_dir, m->state.config->output_dir);
        else if (r < 0)
                log_warning(NULL, "cannot remove %s/" STATUS_FILE_NAME " of an earlier version: %s",
                            m->state.config->output_dir, strerror(-r));
        r = mkdir_p(m->state.config->state_dir, 0750);
        if (r < 0) {
                log_error(NULL, "cannot create %s: %s", m->state.config->state_dir, strerror(-r));
                return r;
        }
        /* held to exit: fsxds forget then asks this process (statedir.h) */
        r = setup_requests(m);
        if (r < 0)
                return r;
        unsigned format;
        r = statedir_read_format(m->state.config->state_dir, &format);
        if (r >= 0 && format > STATEDIR_FORMAT)
                r = -EPROTONOSUPPORT;
        if (r < 0) {
                log_error(NULL, "%s/" STATEDIR_FORMAT_NAME ": %s (this fsxdsd knows format %d and older)",
                          m->state.config->state_dir, r == -EPROTONOSUPPORT ? "a newer format" : read_error_string(r),
                          STATEDIR_FORMAT);
                return r;
        }
        /* crash leftovers first: the store's collection then drops what only they linked */
        r = statedir_clean(m->state.config->state_dir);
        if (r < 0)
                log_warning(NULL, "cannot clean up the leftovers of an earlier run in %s: %s", m->state.config->state_dir,
                            strerror(-r));
        free(m->state.state_nodes_dir);
        m->state.state_nodes_dir = statedir_path(m->state.config->state_dir, STATEDIR_NODES);
        m->state.state_store = store_free(m->state.state_store);
        r = open_store_logged(m->state.state_nodes_dir, (gid_t) -1, &m->state.state_store);
        if (r < 0)
                return r;
        store_set_unwatched(m->state.state_store);
        /* a copy edited in place: its object goes, so the next plan rewrites it */
        r = store_verify(m->state.state_store);
        if (r > 0)
                log_warning(NULL, "%d files of the last good copies in %s were changed behind fsxdsd's back; saving them again",
                            r, m->state.state_nodes_dir);
        for (size_t i = 0; i < m->state.n_nodes; i++)
                m->state.nodes[i]->state_manifest_ok = m->state.nodes[i]->state_checked = false;
        r = statedir_read_generation(m->state.config->state_dir, &m->state.generation);
        if (r < 0) {
                if (r != -ENOENT)
                        log_warning(NULL, "cannot read %s/" STATEDIR_GENERATION ": %s", m->state.config->state_dir,
                                    read_error_string(r));
                m->state.generation = 0;
        }
        /* a generation number is never used twice: the MANIFESTs published
         * remember where the counter was when state_dir's copy is lost */
        uint64_t published = manifest_highest_generation(m->state.config->output_dir);
        if (published > m->state.generation) {
                log_warning(NULL, "the generation counter (%" PRIu64 ") is behind the MANIFESTs in %s (%" PRIu64
                            "); counting on from there", m->state.generation, m->state.config->output_dir, published);
                m->state.generation = published;
        }
        r = status_clean_tmp(m->state.config->output_dir);
        if (r < 0)
                log_warning(NULL, "cannot clean up the temporary status files of an earlier run in %s: %s",
                            m->state.config->output_dir, strerror(-r));
        published = manifest_highest_generation(m->state.state_nodes_dir);
        if (published > m->state.generation) {
                log_warning(NULL, "the generation counter (%" PRIu64 ") is behind the last good copies in %s (%" PRIu64
                            "); counting on from there", m->state.generation, m->state.state_nodes_dir, published);
                m->state.generation = published;
        }
        if (format < STATEDIR_FORMAT)
                adopt_state_dir(m, format);
        /* crash leftovers, and nodes that still have output from earlier runs */
        _cleanup_closedir_ DIR *d = opendir(m->state.config->output_dir);
        if (d) {
                struct dirent *de;
                while ((de = readdir(d)))
                        if (node_id_is_valid(de->d_name) && de->d_type == DT_DIR) {
                                r = publish_clean_node(m->state.config->output_dir, de->d_name);
                                if (r < 0)
                                        log_warning(de->d_name, "cannot clean up the leftovers of an earlier run: %s",
                                                    strerror(-r));
                                node_state(&m->state, de->d_name);
                        }
        }
        r = store_gc(m->state.store);
        if (r < 0)
                log_warning(NULL, "cannot collect the unused objects of %s/.store: %s", m->state.config->output_dir, strerror(-r));
        int bad = store_verify(m->state.store);
        if (bad < 0)
                log_warning(NULL, "cannot verify %s/.store: %s", m->state.config->output_dir, strerror(-bad));
        else if (bad > 0)
                log_warning(NULL, "%d published files were changed behind fsxdsd's back; republishing them", bad);
        /* requests left while no fsxdsd ran */
        (void) requests_forget(&m->state, false);
        requests_sync_allowances(&m->state, &m->requests, false);
        r = signing_watch_setup(&m->signing, m->event, m->state.config, on_signing_timer, m);
        if (r < 0)
                log_warning(NULL, "cannot watch the signing key and certificate for changes: %s", strerror(-r));
        return 0;
}

/* SIGHUP: the configuration read again. A new one that has errors or
 * cannot be applied is refused and the previous one stays. */
static void manager_reload(Manager *m) {
        sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, now_usec(CLOCK_MONOTONIC));
        DiagList d = {};
        Config *c = NULL;
        int r = config_load(m->config_path, &d, &c);
        if (r < 0) {
                for (size_t i = 0; i < d.n; i++)
                        log_diag(NULL, &d.items[i]);
                if (r != -EBADMSG)
                        log_error(NULL, "cannot read %s: %s", m->config_path, strerror(-r));
                log_error(NULL, "reload refused: the configuration has errors; still running on the previous one");
                diag_list_clear(&d);
                m->state.reload_error = "the new configuration has errors";
                report_write_status(&m->state);
                sd_notify(false, "READY=1");
                return;
        }
        diag_list_clear(&d);
        Config *old = m->state.config;
        m->state.config = c;
        r = open_outputs(m);
        if (r >= 0)
                r = setup_watch(m);
        if (r < 0) {
                log_error(NULL, "reload failed; going back to the previous configuration");
                m->state.reload_error = "the new configuration could not be applied";
                m->state.config = old;
                config_free(c);
                r = open_outputs(m);
                if (r >= 0)
                        r = setup_watch(m);
                if (r < 0)
                        log_error(NULL, "the previous configuration cannot be applied again either (%s); "
                                  "the outputs stay as they are until the next reload", strerror(-r));
        } else {
                config_free(old);
                m->state.reload_error = NULL;
                log_info(NULL, "configuration reloaded");
                adsfeed_configure(&m->state, m->event, report_write_status_quiet);
                upkeep_verify_outputs(&m->state);
                m->state.verify_pass_open = true;
        }
        r = setup_verify_timer(m);
        if (r < 0)
                log_error(NULL, "cannot arm the verify_interval timer: %s", strerror(-r));
        m->notify_ready = true;
        /* it refreshes everything: a queued rebuild is in it */
        m->rebuild_queued = false;
        manager_rebuild_start(m);
}

static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        /* the configuration is not swapped under a publish in flight */
        if (rebuild_busy(&m->state)) {
                log_info(NULL, "reloading once generation %" PRIu64 " is published", m->state.generation);
                m->reload_queued = true;
        } else
                manager_reload(m);
        return 0;
}

/* SIGTERM, SIGINT. A generation in flight is published to its end (every
 * phase, its MANIFESTs, its state copies, status.json) before fsxdsd exits,
 * as it was when the phases slept in the handler: no node directory is
 * left between two phases, out of step with its MANIFEST. What was held
 * back (a queued rebuild or reload) is dropped. */
static int on_terminate(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        if (m->stopping)
                return 0;
        m->stopping = true;
        if (rebuild_busy(&m->state)) {
                /* STOPPING=1 once it is: after the READY=1 that the
                 * generation in flight may owe (start, reload) */
                log_info(NULL, "stopping once generation %" PRIu64 " is published", m->state.generation);
                return 0;
        }
        sd_notify(false, "STOPPING=1");
        log_info(NULL, "stopping");
        return sd_event_exit(m->event, 0);
}

/* After a rebuild: the retry armed while publishes (of nodes still in the
 * tree) or the status write fail, with the time of the next one in the
 * status; disarmed once all went through. */
static void manager_arm_retry(Manager *m) {
        State *st = &m->state;
        bool failed = st->status_failed;
        for (size_t i = 0; i < st->n_nodes && !failed; i++)
                failed = st->nodes[i]->publish_failed && st->nodes[i]->present;
        uint64_t was = st->retry_usec;
        if (!failed) {
                m->retry_delay_usec = 0;
                m->retry_armed = false;
                st->retry_usec = 0;
                (void) sd_event_source_set_enabled(m->retry_timer, SD_EVENT_OFF);
        } else if (!m->retry_armed && !m->once) {
                m->retry_delay_usec = m->retry_delay_usec ? MIN(2 * m->retry_delay_usec, RETRY_MAX_USEC)
                                                          : RETRY_FIRST_USEC;
                int r = arm_timer(m->retry_timer, m->retry_delay_usec);
                if (r < 0)
                        log_error(NULL, "cannot arm the retry timer: %s; failed publishes wait for the next change",
                                  strerror(-r));
                m->retry_armed = r >= 0;
                st->retry_usec = r >= 0 ? now_usec(CLOCK_REALTIME) + m->retry_delay_usec : 0;
        }
        if (st->retry_usec != was)
                report_write_status(st);
}

static void manager_rebuild_done(Manager *m, size_t n_bad) {
        m->last_n_bad = n_bad;
        if (m->state.verify_pass_open) {
                m->state.verify_pass_open = false;
                m->state.verify_passes++;
                report_write_status(&m->state);
        }
        if (m->starting && n_bad > 0)
                log_warning(NULL, "%zu node%s errors; their last good output stays in place", n_bad,
                            n_bad == 1 ? " has" : "s have");
        m->starting = false;
        if (m->notify_ready) {
                m->notify_ready = false;
                sd_notify(false, "READY=1");
        }
        if (m->stopping) {
                sd_notify(false, "STOPPING=1");
                log_info(NULL, "stopping");
                int r = sd_event_exit(m->event, 0);
                if (r < 0)
                        log_error(NULL, "cannot leave the event loop: %s", strerror(-r));
                return;
        }
        manager_arm_retry(m);
        /* (held back during the rebuild, or not watched) */
        (void) requests_forget(&m->state, true);
        if (m->state.rebuild_wanted) {
                m->state.rebuild_wanted = false;
                manager_source_changed(m, NULL);
        }
        if (m->signing_queued) {
                m->signing_queued = false;
                signing_reload(m);
        }
        if (m->verify_queued) {
                m->verify_queued = false;
                verify_now(m);
        }
        if (m->reload_queued) {
                m->reload_queued = false;
                manager_reload(m);
        }
        /* (not when the reload's rebuild took it in) */
        if (m->rebuild_queued && !rebuild_busy(&m->state)) {
                /* what changed meanwhile settles first, as any change does:
                 * a writer may still be at it (an in-place write read half
                 * way would publish a broken or emptied file) */
                m->rebuild_queued = false;
                manager_arm_settle(m);
        }
}

/* Where the rebuild went after a step: waiting for the phase pause, which
 * the phase timer ends, or over. */
static void manager_rebuild_stepped(Manager *m, bool paused, size_t n_bad) {
        while (paused) {
                int r = manager_arm_phase_timer(m);
                if (r >= 0)
                        return;
                log_error(NULL, "cannot arm the phase timer (%s); publishing the next phase without a pause",
                          strerror(-r));
                paused = rebuild_resume(&m->state, &n_bad);
        }
        manager_rebuild_done(m, n_bad);
}

static void manager_rebuild_start(Manager *m) {
        free(m->logged_change);
        m->logged_change = NULL;
        size_t n_bad = 0;
        bool paused = rebuild_start(&m->state, &n_bad);
        manager_rebuild_stepped(m, paused, n_bad);
}

static void manager_rebuild_resume(Manager *m) {
        if (!rebuild_busy(&m->state))
                return;
        size_t n_bad = 0;
        bool paused = rebuild_resume(&m->state, &n_bad);
        manager_rebuild_stepped(m, paused, n_bad);
}

int manager_new(const char *config_path, Manager **ret) {
        DiagList d = {};
        Config *c = NULL;
        int r = config_load(config_path, &d, &c);
        for (size_t i = 0; i < d.n; i++)
                log_diag(NULL, &d.items[i]);
        diag_list_clear(&d);
        if (r < 0) {
                if (r != -EBADMSG)
                        log_error(NULL, "cannot read %s: %s", config_path, strerror(-r));
                return r;
        }
        Manager *m = xcalloc(1, sizeof(Manager));
        m->signing = SIGNING_WATCH_NULL;
        m->requests = REQUESTS_NULL;
        m->state.config = c;
        m->config_path = xstrdup(config_path);
        report_started(&m->state);
        *ret = m;
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        adsfeed_free(&m->state); /* (its event sources first) */
        rebuild_free(m->state.rebuild);
        sd_event_source_unref(m->watch_source);
        sd_event_source_unref(m->settle_timer);
        sd_event_source_unref(m->phase_timer);
        sd_event_source_unref(m->retry_timer);
        sd_event_source_unref(m->requests_source);
        requests_close(&m->requests);
        signing_watch_close(&m->signing);
        sd_event_source_unref(m->verify_timer);
        sd_event_source_unref(m->verify_slice);
        upkeep_verify_pass_done(&m->state);
        sd_event_source_unref(m->rescan_timer);
        signer_free(m->state.signer);
        signer_free(m->state.previous_signer);
        describe_cache_free(m->state.describe);
        free(m->state.sources_error);
        free(m->state.daemon.boot_id);
        free(m->logged_change);
        sd_event_unref(m->event);
        watch_free(m->watch);
        store_free(m->state.store);
        store_free(m->state.state_store);
        source_cache_free(m->state.cache);
        schema_free(m->state.schema);
        for (size_t i = 0; i < m->state.n_nodes; i++)
                node_state_free(&m->state, m->state.nodes[i]);
        free(m->state.nodes);
        memo_table_done(&m->state.memo_files);
        hashmap_free(&m->state.node_index);
        free(m->state.state_nodes_dir);
        free(m->state.counter_error);
        metrics_done(&m->state.metrics);
        free(m->config_path);
        config_free(m->state.config);
        free(m);
        return NULL;
}

int manager_check_config(Manager *m) {
        const Config *c = m->state.config;
        if (c->output_group && !getgrnam(c->output_group)) {
                log_error(NULL, "output_group %s: no such group", c->output_group);
                return -ESRCH;
        }
        if (c->schema) {
                _cleanup_free_ char *error = NULL;
                Schema *s = NULL;
                int r = schema_load_file(c->schema, &error, &s);
                if (r < 0) {
                        log_error(NULL, "schema %s: %s", c->schema, error ? error : strerror(-r));
                        return r;
                }
                schema_free(s);
        }
        if (c->require_signed_sources_ca && access(c->require_signed_sources_ca, R_OK) < 0) {
                int r = -errno;
                log_error(NULL, "require_signed_sources.ca %s: %s", c->require_signed_sources_ca, strerror(-r));
                return r;
        }
        int r = adsfeed_check_config(c);
        if (r < 0)
                return r;
        return upkeep_load_signer(&m->state);
}

/* --once has no loop of its own: one is made for the phase timer and run
 * until the rebuild is over (no watch, signal or other timer is added). */
int manager_once(Manager *m) {
        m->once = true;
        int r = open_outputs(m);
        if (r < 0)
                return r;
        r = sd_event_new(&m->event);
        if (r < 0)
                return r;
        r = setup_timers(m);
        if (r < 0)
                return r;
        upkeep_verify_outputs(&m->state);
        manager_rebuild_start(m);
        while (rebuild_busy(&m->state)) {
                r = sd_event_run(m->event, UINT64_MAX);
                if (r < 0)
                        return r;
        }
        report_stopped(&m->state);
        return m->last_n_bad > 0 ? 1 : 0;
}

int manager_startup(Manager *m) {
        int r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        r = sd_event_add_signal(m->event, NULL, SIGTERM | SD_EVENT_SIGNAL_PROCMASK, on_terminate, m);
        if (r < 0)
                return r;
        r = sd_event_add_signal(m->event, NULL, SIGINT | SD_EVENT_SIGNAL_PROCMASK, on_terminate, m);
        if (r < 0)
                return r;
        r = sd_event_add_signal(m->event, NULL, SIGHUP | SD_EVENT_SIGNAL_PROCMASK, on_reload, m);
        if (r < 0)
                return r;
        /* the loop pings the watchdog, also while a publish waits between phases */
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                log_warning(NULL, "cannot set up the watchdog: %s", strerror(-r));
        r = setup_timers(m);
        if (r < 0)
                return r;
        r = open_outputs(m);
        if (r < 0)
                return r;
        r = setup_watch(m);
        if (r < 0)
                return r;
        /* a client gone mid-write is an error of its stream, not a signal that ends fsxdsd */
        (void) signal(SIGPIPE, SIG_IGN);
        adsfeed_configure(&m->state, m->event, report_write_status_quiet);
        upkeep_verify_outputs(&m->state);
        m->state.verify_pass_open = true;
        r = setup_verify_timer(m);
        if (r < 0)
                return r;
        /* READY=1 once the first generation is published, whatever its outcome */
        m->starting = m->notify_ready = true;
        manager_rebuild_start(m);
        return 0;
}

int manager_run(Manager *m) {
        int r = sd_event_loop(m->event);
        if (r >= 0)
                report_stopped(&m->state);
        return r;
}
