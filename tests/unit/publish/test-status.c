/* SPDX-License-Identifier: MIT */
/* status: status.json written then read back field by field; the exact
 * text of a written file; what a reader is told about foreign files; the
 * two slots in .fsxds/ behind the status.json symlink, the stale flag and
 * the old layout's file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "status.h"

static char root[64];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(p);
}

static int setup(void **state) {
        snprintf(root, sizeof root, "/tmp/fsxds-test-status-XXXXXX");
        return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state) {
        return nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Two nodes: edge good, core with an error; signing and signed sources on. */
static void sample(Status *s) {
        *s = (Status) {
                .generation = 7,
                .time_usec = 1700000000000000,
                .backend = xstrdup("inotify"),
                .publish_mode = xstrdup("rename"),
                .source_dir = xstrdup("/etc/fsxds/conf.d"),
                .output_dir = xstrdup("/run/fsxds"),
                .signing_subject = xstrdup("CN=fsxds"),
                .signing_not_after = 1800000000,
                .signed_sources_ca = xstrdup("/etc/fsxds/ca.pem"),
                .signed_sources_error = xstrdup("MANIFEST.sig is missing"),
        };
        StatusNode *n = status_add_node(s, "edge");
        n->generation = 7;
        n->published_usec = 1700000000000001;
        n->n_files = 3;
        n->n_listeners = 2;
        n->n_clusters = 1;
        n->present = true;
        n->manifest_current = true;
        n = status_add_node(s, "core");
        n->generation = 5;
        n->published_usec = 0;
        n->n_files = 0;
        n->n_listeners = 0;
        n->n_clusters = 0;
        n->present = true;
        n->removal_blocked = true;
        n->error = (Diag) { .level = DIAG_ERROR, .file = xstrdup("nodes/core/lds.yaml"), .line = 4, .column = 9,
                            .path = xstrdup("resources[0]"), .message = xstrdup("bad \"port\""),
                            .rule = xstrdup("validate.uint32.lte") };
        n->n_errors = 2;
}

static void test_format_exact_text(void **state) {
        Status s = {};
        StatusNode *n = status_add_node(&s, "a");
        n->generation = 1;
        n->published_usec = 2;
        n->n_files = 3;
        n->n_listeners = 4;
        n->n_clusters = 5;
        n->present = true;
        s.generation = 1;
        s.time_usec = 9;
        s.backend = xstrdup("fanotify");
        s.publish_mode = xstrdup("rename");
        s.source_dir = xstrdup("/s");
        s.output_dir = xstrdup("/o");
        s.written_usec = 10;
        s.source_error = xstrdup("cannot read the source tree /s: nodes/ is not a directory");
        s.daemon = (StatusDaemon) { .pid = 42, .boot_id = xstrdup("b"), .start_ticks = 7, .started_usec = 8 };
        Buf b = {};
        status_format(&s, &b);
        _cleanup_free_ char *text = buf_steal_str(&b);
        assert_string_equal(text,
                            "{\"version\":1,\"generation\":1,\"time_usec\":9,\"backend\":\"fanotify\","
                            "\"publish_mode\":\"rename\",\"source_dir\":\"/s\",\"output_dir\":\"/o\",\"signing\":null,"
                            "\"signed_sources\":null,\"watch\":{\"backend\":\"fanotify\",\"degraded\":false,"
                            "\"unwatched\":0,\"limit\":null,\"rescan_interval_usec\":0},\"verify_passes\":0,"
                            "\"nodes\":{\"a\":{\"generation\":1,\"published_usec\":2,\"files\":3,"
                            "\"listeners\":4,\"clusters\":5,\"present\":true,\"removal_blocked\":false,"
                            "\"manifest_current\":false,\"error\":null}},\"written_usec\":10,"
                            "\"source_error\":\"cannot read the source tree /s: nodes/ is not a directory\","
                            "\"daemon\":{\"pid\":42,\"boot_id\":\"b\",\"start_ticks\":7,\"started_usec\":8,"
                            "\"stopped_usec\":null}}\n");
        status_done(&s);
}

/* the writer named in status.json, read back and checked live against
 * /proc: this very process runs; another start time, a zombie's pid or
 * another boot is gone; a clean stop is stopped; no writer is unknown */
static void test_daemon_state(void **state) {
        Status s = {}, r = {};
        assert_int_equal(status_daemon_self(&s.daemon), 0);
        assert_int_equal(s.daemon.pid, getpid());
        assert_true(s.daemon.start_ticks > 0);
        s.daemon.started_usec = 1;
        Buf b = {};
        status_format(&s, &b);
        assert_int_equal(status_parse((const char *) b.data, b.len, &r, NULL), 0);
        assert_int_equal(r.daemon.pid, getpid());
        assert_string_equal(r.daemon.boot_id, s.daemon.boot_id);
        assert_int_equal(r.daemon.start_ticks, s.daemon.start_ticks);
        assert_int_equal(r.daemon.stopped_usec, STATUS_UNSET); /* null */
        assert_int_equal(status_daemon_state(&r.daemon), DAEMON_RUNNING);
        r.daemon.start_ticks++; /* the pid used again by another process */
        assert_int_equal(status_daemon_state(&r.daemon), DAEMON_GONE);
        r.daemon.start_ticks--;
        char *boot = r.daemon.boot_id;
        r.daemon.boot_id = (char *) "00000000-0000-0000-0000-000000000000";
        assert_int_equal(status_daemon_state(&r.daemon), DAEMON_GONE);
        /* no boot id (the unit's ProcSubset=pid): the start time in
         * Unix time tells this boot's process from one of a boot before */
        r.daemon.boot_id = NULL;
        struct timespec now;
        assert_int_equal(clock_gettime(CLOCK_REALTIME, &now), 0);
        r.daemon.started_usec = (int64_t) now.tv_sec * 1000000; /* this test started a moment ago */
        assert_int_equal(status_daemon_state(&r.daemon), DAEMON_RUNNING);
        r.daemon.started_usec -= (int64_t) 3600 * 1000000; /* an hour before it started: not this process */
        assert_int_equal(status_daemon_state(&r.daemon), DAEMON_GONE);
        r.daemon.boot_id = boot;
        r.daemon.stopped_usec = 5;
        assert_int_equal(status_daemon_state(&r.daemon), DAEMON_STOPPED);
        r.daemon.stopped_usec = STATUS_UNSET;
        /* a child that exited and was not reaped yet */
        pid_t child = fork();
        if (child == 0)
                _exit(0);
        StatusDaemon zombie = {};
        assert_int_equal(waitid(P_PID, (id_t) child, NULL, WEXITED | WNOWAIT), 0);
        zombie.pid = child;
        zombie.boot_id = r.daemon.boot_id;
        /* its own start time (field 22), so that only its state tells */
        _cleanup_free_ char *stat_path = xasprintf("/proc/%d/stat", (int) child), *stat_text = NULL;
        assert_int_equal(read_file_bounded(stat_path, 4096, &stat_text, NULL), 0);
        const char *p = strrchr(stat_text, ')');
        assert_non_null(p);
        assert_int_equal(p[2], 'Z');
        p++; /* before field 3 */
        for (int field = 3; field < 22; field++)
                p = strchr(p + 1, ' ');
        zombie.start_ticks = strtoll(p + 1, NULL, 10);
        assert_true(zombie.start_ticks > 0);
        assert_int_equal(status_daemon_state(&zombie), DAEMON_GONE);
        assert_int_equal(waitpid(child, NULL, 0), child);
        status_done(&r);
        r = (Status) { .daemon.pid = STATUS_UNSET };
        assert_int_equal(status_daemon_state(&r.daemon), DAEMON_UNKNOWN);
        buf_free(&b);
        status_done(&s);
}

static void test_write_then_read_header(void **state) {
        Status s, r = {};
        sample(&s);
        int chown_error = 1;
        assert_int_equal(status_write(root, &s, (gid_t) -1, &chown_error), 0);
        assert_int_equal(chown_error, 0);
        _cleanup_free_ char *error = NULL;
        assert_int_equal(status_read(root, &r, &error), 0);
        assert_int_equal(r.generation, 7);
        assert_int_equal(r.time_usec, 1700000000000000);
        assert_string_equal(r.backend, "inotify");
        assert_string_equal(r.publish_mode, "rename");
        assert_string_equal(r.source_dir, "/etc/fsxds/conf.d");
        assert_string_equal(r.output_dir, "/run/fsxds");
        assert_string_equal(r.signing_subject, "CN=fsxds");
        assert_int_equal(r.signing_not_after, 1800000000);
        assert_string_equal(r.signed_sources_ca, "/etc/fsxds/ca.pem");
        assert_string_equal(r.signed_sources_error, "MANIFEST.sig is missing");
        status_done(&s);
        status_done(&r);
}

/* the degraded source watch (out of inotify watches) round trips */
static void test_write_then_read_watch(void **state) {
        Status s, r = {};
        sample(&s);
        s.watch_degraded = true;
        s.watch_unwatched = 12;
        s.watch_limit_name = xstrdup("fs.inotify.max_user_watches");
        s.watch_limit_value = 8192;
        s.watch_rescan_usec = 5000000;
        assert_int_equal(status_write(root, &s, (gid_t) -1, NULL), 0);
        assert_int_equal(status_read(root, &r, NULL), 0);
        assert_true(r.watch_known);
        assert_true(r.watch_degraded);
        assert_int_equal(r.watch_unwatched, 12);
        assert_string_equal(r.watch_limit_name, "fs.inotify.max_user_watches");
        assert_int_equal(r.watch_limit_value, 8192);
        assert_int_equal(r.watch_rescan_usec, 5000000);
        status_done(&s);
        status_done(&r);
        /* a file of an older fsxdsd has no "watch" */
        static const char old[] = "{\"version\":1,\"nodes\":{}}";
        assert_int_equal(status_parse(old, sizeof(old) - 1, &r, NULL), 0);
        assert_false(r.watch_known);
        assert_false(r.watch_degraded);
        assert_null(r.watch_limit_name);
        status_done(&r);
}

static void test_write_then_read_nodes(void **state) {
        Status s, r = {};
        sample(&s);
        assert_int_equal(status_write(root, &s, (gid_t) -1, NULL), 0);
        assert_int_equal(status_read(root, &r, NULL), 0);
        assert_int_equal(r.n_nodes, 2);
        const StatusNode *e = &r.nodes[0], *c = &r.nodes[1];
        assert_string_equal(e->id, "edge");
        assert_false(e->malformed);
        assert_int_equal(e->generation, 7);
        assert_int_equal(e->published_usec, 1700000000000001);
        assert_int_equal(e->n_files, 3);
        assert_int_equal(e->n_listeners, 2);
        assert_int_equal(e->n_clusters, 1);
        assert_true(e->present);
        assert_false(e->removal_blocked);
        assert_true(e->manifest_current);
        assert_null(e->error.message);
        assert_string_equal(c->id, "core");
        assert_true(c->removal_blocked);
        assert_false(c->manifest_current);
        assert_string_equal(c->error.file, "nodes/core/lds.yaml");
        assert_int_equal(c->error.line, 4);
        assert_int_equal(c->error.column, 9);
        assert_string_equal(c->error.path, "resources[0]");
        assert_string_equal(c->error.message, "bad \"port\"");
        assert_string_equal(c->error.rule, "validate.uint32.lte");
        assert_int_equal(c->n_errors, 2);
        status_done(&s);
        status_done(&r);
}

/* an armed removal allowance, with its expiry; none: no field at all */
static void test_write_then_read_allowance(void **state) {
        Status s, r = {};
        sample(&s);
        s.nodes[1].allow_removal_expires_usec = 1700000003600000;
        Buf b = {};
        status_format(&s, &b);
        _cleanup_free_ char *text = buf_steal_str(&b);
        assert_non_null(strstr(text, "\"allow_removal\":{\"armed\":true,\"expires_usec\":1700000003600000}"));
        const char *first = strstr(text, "allow_removal");
        assert_null(strstr(first + 1, "allow_removal")); /* edge has none */
        assert_int_equal(status_write(root, &s, (gid_t) -1, NULL), 0);
        assert_int_equal(status_read(root, &r, NULL), 0);
        assert_int_equal(r.nodes[0].allow_removal_expires_usec, 0);
        assert_int_equal(r.nodes[1].allow_removal_expires_usec, 1700000003600000);
        status_done(&r);
        /* armed, its expiry missing: still armed */
        const char *json = "{\"version\":1,\"nodes\":{\"a\":{\"allow_removal\":{\"armed\":true}},"
                           "\"b\":{\"allow_removal\":{\"armed\":false,\"expires_usec\":5}}}}";
        assert_int_equal(status_parse(json, strlen(json), &r, NULL), 0);
        assert_int_equal(r.nodes[0].allow_removal_expires_usec, 1);
        assert_int_equal(r.nodes[1].allow_removal_expires_usec, 0);
        status_done(&s);
        status_done(&r);
}

/* a pinned node (fsxds rollback); none: no field */
static void test_write_then_read_pinned(void **state) {
        Status s, r = {};
        sample(&s);
        s.nodes[0].pin_generation = 42;
        s.nodes[0].pin_rollback_of = 37;
        s.nodes[0].pin_since_usec = 1700000000000000;
        s.nodes[0].pin_held = true;
        Buf b = {};
        status_format(&s, &b);
        _cleanup_free_ char *text = buf_steal_str(&b);
        assert_non_null(strstr(text, "\"pinned\":{\"generation\":42,\"held\":true,\"rollback_of\":37,"
                                     "\"since_usec\":1700000000000000}"));
        const char *first = strstr(text, "\"pinned\"");
        assert_null(strstr(first + 1, "\"pinned\""));
        assert_int_equal(status_write(root, &s, (gid_t) -1, NULL), 0);
        assert_int_equal(status_read(root, &r, NULL), 0);
        assert_int_equal(r.nodes[0].pin_generation, 42);
        assert_int_equal(r.nodes[0].pin_rollback_of, 37);
        assert_true(r.nodes[0].pin_held);
        assert_int_equal(r.nodes[1].pin_generation, 0);
        status_done(&s);
        status_done(&r);
}

static void test_write_then_read_ads(void **state) {
        Status s, r = {};
        sample(&s);
        s.ads = xcalloc(1, sizeof(StatusAds));
        s.ads->listen = xstrdup("unix:/run/fsxds/ads.sock");
        s.ads->serving = true;
        s.ads->streams = 3;
        s.ads->cert_not_after = 1893456000;
        s.ads->unknown = xcalloc(1, sizeof(StatusAdsUnknown));
        s.ads->unknown[0] = (StatusAdsUnknown) { xstrdup("ghost"), xstrdup("unix pid 9 uid 0"), 5 };
        s.ads->n_unknown = 1;
        StatusAdsNode *a = s.nodes[0].ads = xcalloc(1, sizeof(StatusAdsNode));
        a->known = a->connected = true;
        a->streams = 2;
        a->generation = 7;
        a->peer = xstrdup("unix pid 4 uid 0");
        StatusAdsType *t = status_ads_node_add_type(a, "LDS");
        t->offered = xstrdup("00112233aabbccdd");
        t->acked = xstrdup("ffeeddccbbaa9988");
        t->nacked = xstrdup("00112233aabbccdd");
        t->nack_message = xstrdup("Error adding/updating listener(s) l: \"bad\"\n");
        t->nacked_usec = 6;
        Buf b = {};
        status_format(&s, &b);
        _cleanup_free_ char *text = buf_steal_str(&b);
        assert_non_null(strstr(text, "\"LDS\":{\"offered\":\"00112233aabbccdd\",\"acked\":\"ffeeddccbbaa9988\""));
        assert_non_null(strstr(text, "\"ads\":{\"listen\":\"unix:/run/fsxds/ads.sock\",\"serving\":true,\"error\":null,"));
        assert_int_equal(status_write(root, &s, (gid_t) -1, NULL), 0);
        assert_int_equal(status_read(root, &r, NULL), 0);
        assert_non_null(r.ads);
        assert_string_equal(r.ads->listen, "unix:/run/fsxds/ads.sock");
        assert_int_equal(r.ads->streams, 3);
        assert_int_equal(r.ads->cert_not_after, 1893456000);
        assert_true(r.ads->serving);
        assert_int_equal(r.ads->n_unknown, 1);
        assert_string_equal(r.ads->unknown[0].id, "ghost");
        const StatusAdsNode *ra = r.nodes[0].ads;
        assert_non_null(ra);
        assert_true(ra->connected);
        assert_int_equal(ra->streams, 2);
        assert_int_equal(ra->generation, 7);
        assert_int_equal(ra->n_types, 1);
        assert_string_equal(ra->types[0].type, "LDS");
        assert_string_equal(ra->types[0].acked, "ffeeddccbbaa9988");
        assert_string_equal(ra->types[0].nack_message, "Error adding/updating listener(s) l: \"bad\"\n");
        assert_null(r.nodes[1].ads);
        status_done(&s);
        status_done(&r);
        /* without ads: the key is absent, and reads back as none */
        sample(&s);
        status_format(&s, &b);
        _cleanup_free_ char *plain = buf_steal_str(&b);
        assert_null(strstr(plain, "\"ads\""));
        status_done(&s);
        /* a unix socket: no cert_not_after at all */
        sample(&s);
        s.ads = xcalloc(1, sizeof(StatusAds));
        s.ads->listen = xstrdup("unix:/run/fsxds/ads.sock");
        status_format(&s, &b);
        _cleanup_free_ char *unix_text = buf_steal_str(&b);
        assert_null(strstr(unix_text, "cert_not_after"));
        status_done(&s);
}

static void test_write_mode_0640(void **state) {
        Status s;
        sample(&s);
        assert_int_equal(status_write(root, &s, (gid_t) -1, NULL), 0);
        _cleanup_free_ char *p = xasprintf("%s/.fsxds/status.json", root);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        status_done(&s);
}

static char *slot_of(const char *dir) {
        _cleanup_free_ char *p = xasprintf("%s/.fsxds/status.json", dir);
        char target[64];
        ssize_t n = readlink(p, target, sizeof target - 1);
        assert_true(n > 0);
        target[n] = 0;
        return xstrdup(target);
}

/* each write goes to the slot the link does not name, then flips it; both
 * slots exist after the first write, each with room reserved past its end */
static void test_write_flips_slots(void **state) {
        Status s, r = {};
        sample(&s);
        assert_int_equal(status_write(root, &s, (gid_t) -1, NULL), 0);
        _cleanup_free_ char *first = slot_of(root);
        assert_true(streq(first, "status.0.json") || streq(first, "status.1.json"));
        for (int i = 0; i < 2; i++) {
                _cleanup_free_ char *slot = xasprintf("%s/.fsxds/status.%d.json", root, i);
                struct stat st;
                assert_int_equal(lstat(slot, &st), 0);
                assert_true(S_ISREG(st.st_mode));
                /* the reserve, where the file system has fallocate */
                _cleanup_close_ int fd = open(slot, O_RDWR | O_CLOEXEC);
                if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1) == 0)
                        assert_true((uint64_t) st.st_blocks * 512 >= 65536);
        }
        s.generation = 8;
        assert_int_equal(status_write(root, &s, (gid_t) -1, NULL), 0);
        _cleanup_free_ char *second = slot_of(root);
        assert_string_not_equal(first, second);
        assert_int_equal(status_read(root, &r, NULL), 0);
        assert_int_equal(r.generation, 8);
        status_done(&r);
        s.generation = 9;
        assert_int_equal(status_write(root, &s, (gid_t) -1, NULL), 0);
        _cleanup_free_ char *third = slot_of(root);
        assert_string_equal(first, third);
        assert_int_equal(status_read(root, &r, NULL), 0);
        assert_int_equal(r.generation, 9);
        status_done(&r);
        status_done(&s);
}

/* a slot written in place on a full file system is padded with spaces:
 * still one JSON document; the retry time read back */
static void test_read_padded_slot(void **state) {
        Status s = {}, r = {};
        s.retry_usec = 1700000000000000;
        Buf b = {};
        status_format(&s, &b);
        assert_true(endswith((const char *) (buf_putc(&b, 0), b.data), ",\"retry_usec\":1700000000000000}\n"));
        b.len--;
        buf_append(&b, "          ", 10);
        _cleanup_free_ char *dir = xasprintf("%s/padded", root);
        _cleanup_free_ char *fsxds = xasprintf("%s/.fsxds", dir);
        _cleanup_free_ char *slot = xasprintf("%s/status.1.json", fsxds);
        _cleanup_free_ char *link = xasprintf("%s/status.json", fsxds);
        assert_int_equal(mkdir_p(fsxds, 0755), 0);
        assert_int_equal(write_file_atomic(slot, b.data, b.len, 0640), 0);
        assert_int_equal(symlink("status.1.json", link), 0);
        _cleanup_free_ char *error = NULL;
        assert_int_equal(status_read(dir, &r, &error), 0);
        assert_int_equal(r.retry_usec, 1700000000000000);
        buf_free(&b);
        status_done(&r);
}

/* status.json links to nothing but a slot: anything else is refused; a
 * regular file there (written by hand) is read as it is */
static void test_read_refuses_foreign_link(void **state) {
        _cleanup_free_ char *dir = xasprintf("%s/foreign", root);
        _cleanup_free_ char *fsxds = xasprintf("%s/.fsxds", dir);
        _cleanup_free_ char *link = xasprintf("%s/status.json", fsxds);
        _cleanup_free_ char *outside = xasprintf("%s/outside.json", root);
        assert_int_equal(mkdir_p(fsxds, 0755), 0);
        const char *text = "{\"version\":1,\"generation\":3}";
        assert_int_equal(write_file_atomic(outside, text, strlen(text), 0644), 0);
        char *data = NULL;
        size_t len;
        assert_int_equal(symlink(outside, link), 0);
        assert_int_equal(status_read_file(dir, &data, &len), -EXDEV);
        assert_int_equal(unlink(link), 0);
        assert_int_equal(symlink("../../outside.json", link), 0);
        assert_int_equal(status_read_file(dir, &data, &len), -EXDEV);
        assert_int_equal(unlink(link), 0);
        assert_int_equal(write_file_atomic(link, text, strlen(text), 0644), 0);
        assert_int_equal(status_read_file(dir, &data, &len), 0);
        assert_int_equal(len, strlen(text));
        free(data);
        /* .fsxds itself a symlink: not followed */
        _cleanup_free_ char *dir2 = xasprintf("%s/foreign2", root);
        _cleanup_free_ char *fsxds2 = xasprintf("%s/.fsxds", dir2);
        assert_int_equal(mkdir_p(dir2, 0755), 0);
        assert_int_equal(symlink(fsxds, fsxds2), 0);
        assert_true(status_read_file(dir2, &data, &len) < 0);
}

/* a write that fails keeps the last whole status and sets status-error,
 * which the next write that goes through removes */
static void test_write_error_flag(void **state) {
        Status s, r = {};
        sample(&s);
        _cleanup_free_ char *dir = xasprintf("%s/flag", root);
        assert_int_equal(mkdir_p(dir, 0755), 0);
        assert_int_equal(status_write(dir, &s, (gid_t) -1, NULL), 0);
        _cleanup_free_ char *reason = NULL;
        int64_t since = 0;
        assert_int_equal(status_read_write_error(dir, &reason, &since), 0);
        /* the link cannot be replaced: status.json made a directory */
        _cleanup_free_ char *link = xasprintf("%s/.fsxds/status.json", dir);
        assert_int_equal(unlink(link), 0);
        assert_int_equal(mkdir(link, 0755), 0);
        _cleanup_free_ char *inner = xasprintf("%s/x", link);
        assert_int_equal(mkdir(inner, 0755), 0);
        s.generation = 99;
        assert_true(status_write(dir, &s, (gid_t) -1, NULL) < 0);
        assert_int_equal(status_read_write_error(dir, &reason, &since), 1);
        assert_true(strlen(reason) > 0);
        assert_true(since > 0);
        free(reason);
        reason = NULL;
        /* the directory goes: the next write goes through, the flag with it */
        assert_int_equal(rmdir(inner), 0);
        assert_int_equal(rmdir(link), 0);
        assert_int_equal(status_write(dir, &s, (gid_t) -1, NULL), 0);
        assert_int_equal(status_read_write_error(dir, &reason, &since), 0);
        assert_int_equal(status_read(dir, &r, NULL), 0);
        assert_int_equal(r.generation, 99);
        status_done(&r);
        status_done(&s);
}

/* the old layout's OUTPUT_DIR/status.json goes; a node directory of that
 * name stays */
static void test_remove_legacy(void **state) {
        _cleanup_free_ char *dir = xasprintf("%s/legacy", root);
        _cleanup_free_ char *old = xasprintf("%s/status.json", dir);
        assert_int_equal(mkdir_p(dir, 0755), 0);
        assert_int_equal(status_remove_legacy(dir), 0);
        assert_int_equal(write_file_atomic(old, "{}", 2, 0640), 0);
        assert_int_equal(status_remove_legacy(dir), 1);
        assert_int_equal(access(old, F_OK), -1);
        assert_int_equal(mkdir(old, 0755), 0);
        assert_int_equal(status_remove_legacy(dir), 0);
        assert_int_equal(access(old, F_OK), 0);
}

/* status.json's crash leftovers (and those in output_dir/.fsxds/), and
 * nothing else; verify_passes written and read back. */
static void test_clean_tmp(void **state) {
        static const char *const gone[] = { "status.json.tmp.4242", ".fsxds/status.json.tmp.7", ".fsxds/other.tmp.12" };
        static const char *const kept[] = { "status.json.tmp.old", "other.tmp.12", ".fsxds/notes", ".fsxds/x.tmp." };
        _cleanup_free_ char *dir = xasprintf("%s/clean", root);
        _cleanup_free_ char *own = xasprintf("%s/.fsxds", dir);
        assert_int_equal(mkdir(dir, 0755), 0);
        assert_int_equal(status_clean_tmp(dir), 0); /* no .fsxds/ yet */
        assert_int_equal(mkdir(own, 0750), 0);
        for (size_t i = 0; i < ELEMENTSOF(gone); i++) {
                _cleanup_free_ char *p = xasprintf("%s/%s", dir, gone[i]);
                assert_int_equal(write_file_atomic(p, "{", 1, 0640), 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(kept); i++) {
                _cleanup_free_ char *p = xasprintf("%s/%s", dir, kept[i]);
                assert_int_equal(write_file_atomic(p, "{", 1, 0640), 0);
        }
        assert_int_equal(status_clean_tmp(dir), (int) ELEMENTSOF(gone));
        for (size_t i = 0; i < ELEMENTSOF(gone); i++) {
                _cleanup_free_ char *p = xasprintf("%s/%s", dir, gone[i]);
                assert_int_equal(access(p, F_OK), -1);
        }
        for (size_t i = 0; i < ELEMENTSOF(kept); i++) {
                _cleanup_free_ char *p = xasprintf("%s/%s", dir, kept[i]);
                assert_int_equal(access(p, F_OK), 0);
        }
        assert_int_equal(status_clean_tmp(dir), 0);

        Status s, r = {};
        sample(&s);
        s.verify_passes = 17;
        assert_int_equal(status_write(dir, &s, (gid_t) -1, NULL), 0);
        assert_int_equal(status_read(dir, &r, NULL), 0);
        assert_int_equal(r.verify_passes, 17);
        status_done(&s);
        status_done(&r);
}

static void test_read_missing_is_enoent(void **state) {
        Status r = {};
        _cleanup_free_ char *dir = xasprintf("%s/none", root);
        assert_int_equal(status_read(dir, &r, NULL), -ENOENT);
}

static void test_parse_no_version(void **state) {
        Status r = {};
        _cleanup_free_ char *error = NULL;
        assert_int_equal(status_parse("{}", 2, &r, &error), -EINVAL);
        assert_string_equal(error, "not a status file of fsxdsd (no \"version\")");
}

static void test_parse_other_version(void **state) {
        Status r = {};
        _cleanup_free_ char *error = NULL;
        assert_int_equal(status_parse("{\"version\":2}", 13, &r, &error), -EPROTONOSUPPORT);
        assert_string_equal(error, "status file version 2, this fsxds reads version 1");
}

static void test_parse_nodes_not_object(void **state) {
        Status r = {};
        _cleanup_free_ char *error = NULL;
        const char *text = "{\"version\":1,\"nodes\":[]}";
        assert_int_equal(status_parse(text, strlen(text), &r, &error), -EINVAL);
        assert_string_equal(error, "\"nodes\" is not an object");
}

static void test_parse_absent_numbers_unset(void **state) {
        Status r = {};
        const char *text = "{\"version\":1,\"nodes\":{\"a\":{},\"b\":3}}";
        assert_int_equal(status_parse(text, strlen(text), &r, NULL), 0);
        assert_int_equal(r.generation, STATUS_UNSET);
        assert_null(r.backend);
        assert_int_equal(r.n_nodes, 2);
        assert_int_equal(r.nodes[0].generation, STATUS_UNSET);
        assert_int_equal(r.nodes[0].n_files, STATUS_UNSET);
        assert_false(r.nodes[0].malformed);
        assert_true(r.nodes[1].malformed);
        status_done(&r);
}

static void test_path_no_doubled_slash(void **state) {
        _cleanup_free_ char *a = status_path("/run/fsxds"), *b = status_path("/run/fsxds/");
        assert_string_equal(a, "/run/fsxds/.fsxds/status.json");
        assert_string_equal(b, "/run/fsxds/.fsxds/status.json");
}

static void test_parse_not_json(void **state) {
        Status r = {};
        _cleanup_free_ char *error = NULL;
        const char *text = "{\"version\":1,\n \"nodes\":{\"a";
        assert_int_equal(status_parse(text, strlen(text), &r, &error), -EBADMSG);
        assert_string_equal(error, "2:13: error: unterminated string");
}

/* what fsxds status shows of a hand-written file: -1 is a number like any
 * other, and an "error" that is not an object is still an error */
static void test_parse_odd_values(void **state) {
        Status r = {};
        const char *text = "{\"version\":1,\"generation\":-1,\"nodes\":{\"a\":{\"files\":-1,\"error\":\"boom\"},"
                           "\"b\":{\"error\":false},\"c\":{\"error\":null}}}";
        assert_int_equal(status_parse(text, strlen(text), &r, NULL), 0);
        assert_int_equal(r.generation, -1);
        assert_int_equal(r.n_nodes, 3);
        assert_int_equal(r.nodes[0].n_files, -1);
        assert_string_equal(r.nodes[0].error.message, "error");
        assert_null(r.nodes[0].error.file);
        assert_null(r.nodes[0].error.path);
        assert_int_equal(r.nodes[0].error.line, 0);
        assert_int_equal(r.nodes[0].n_errors, STATUS_UNSET);
        assert_string_equal(r.nodes[1].error.message, "error");
        assert_null(r.nodes[2].error.message);
        status_done(&r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format_exact_text),
                cmocka_unit_test(test_daemon_state),
                cmocka_unit_test(test_write_then_read_header),
                cmocka_unit_test(test_write_then_read_nodes),
                cmocka_unit_test(test_write_then_read_watch),
                cmocka_unit_test(test_write_then_read_allowance),
                cmocka_unit_test(test_write_then_read_pinned),
                cmocka_unit_test(test_write_then_read_ads),
                cmocka_unit_test(test_write_mode_0640),
                cmocka_unit_test(test_clean_tmp),
                cmocka_unit_test(test_read_missing_is_enoent),
                cmocka_unit_test(test_parse_no_version),
                cmocka_unit_test(test_parse_other_version),
                cmocka_unit_test(test_parse_nodes_not_object),
                cmocka_unit_test(test_parse_absent_numbers_unset),
                cmocka_unit_test(test_path_no_doubled_slash),
                cmocka_unit_test(test_parse_not_json),
                cmocka_unit_test(test_parse_odd_values),
                cmocka_unit_test(test_write_flips_slots),
                cmocka_unit_test(test_read_padded_slot),
                cmocka_unit_test(test_read_refuses_foreign_link),
                cmocka_unit_test(test_write_error_flag),
                cmocka_unit_test(test_remove_legacy),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
