/* SPDX-License-Identifier: MIT */
/* status.json written and read back: the one home of its schema and of
 * its two slots in OUTPUT_DIR/.fsxds/ (see status.h), shared by fsxdsd and
 * fsxds status. */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "status.h"

static void diag_done(Diag *d) {
        free(d->file);
        free(d->path);
        free(d->message);
        free(d->rule);
        *d = (Diag) {};
}

void status_done(Status *s) {
        if (!s)
                return;
        free(s->backend);
        free(s->publish_mode);
        free(s->source_dir);
        free(s->output_dir);
        free(s->signing_subject);
        free(s->signed_sources_ca);
        free(s->signed_sources_error);
        free(s->watch_limit_name);
        free(s->source_error);
        free(s->daemon.boot_id);
        for (size_t i = 0; i < s->n_nodes; i++) {
                free(s->nodes[i].id);
                diag_done(&s->nodes[i].error);
                free(s->nodes[i].state_error);
                status_ads_node_free(s->nodes[i].ads);
        }
        free(s->nodes);
        status_ads_free(s->ads);
        *s = (Status) {};
}

/* /proc/PID/stat's 22nd field, the start time in clock ticks since boot
 * (after the last ')': the command name may hold anything); -ESRCH for a
 * process that exited (a zombie). */
static int proc_start_ticks(int64_t pid, int64_t *ret) {
        _cleanup_free_ char *path = xasprintf("/proc/%" PRIi64 "/stat", pid), *data = NULL;
        size_t len;
        int r = read_file_bounded(path, 4096, &data, &len);
        if (r < 0)
                return r;
        const char *p = strrchr(data, ')');
        if (!p || !p[1] || !p[2])
                return -EBADMSG;
        p++;
        if (p[1] == 'Z' || p[1] == 'X')
                return -ESRCH; /* exited, not reaped yet */
        for (int field = 3; field < 22; field++) { /* p is before field 3, the state */
                p = strchr(p + 1, ' ');
                if (!p)
                        return -EBADMSG;
        }
        char *end;
        errno = 0;
        long long v = strtoll(p + 1, &end, 10);
        if (errno || end == p + 1 || v < 0)
                return -EBADMSG;
        *ret = v;
        return 0;
}

static char *read_boot_id(void) {
        char *data = NULL;
        size_t len;
        if (read_file_bounded("/proc/sys/kernel/random/boot_id", 64, &data, &len) < 0)
                return NULL;
        data[strcspn(data, "\n")] = 0;
        return data;
}

/* The boot time, from /proc/stat's "btime" (Unix seconds); -1: unknown. */
static int64_t read_btime(void) {
        _cleanup_free_ char *data = NULL;
        size_t len;
        if (read_file_bounded("/proc/stat", 1 << 20, &data, &len) < 0)
                return -1;
        const char *p = strstr(data, "\nbtime ");
        return p ? strtoll(p + 7, NULL, 10) : -1;
}

int status_daemon_self(StatusDaemon *ret) {
        *ret = (StatusDaemon) { .pid = getpid(), .start_ticks = STATUS_UNSET, .stopped_usec = STATUS_UNSET };
        /* NULL under ProcSubset=pid (the unit's): the start time tells a reboot then */
        ret->boot_id = read_boot_id();
        return proc_start_ticks(ret->pid, &ret->start_ticks);
}

DaemonState status_daemon_state(const StatusDaemon *d) {
        if (d->pid == STATUS_UNSET || d->pid <= 0 || d->pid > INT_MAX)
                return DAEMON_UNKNOWN;
        if (d->stopped_usec > 0)
                return DAEMON_STOPPED;
        if (d->start_ticks == STATUS_UNSET)
                return DAEMON_UNKNOWN;
        _cleanup_free_ char *boot = read_boot_id();
        if (d->boot_id && boot && !streq(boot, d->boot_id))
                return DAEMON_GONE; /* rebooted since */
        int64_t ticks;
        int r = proc_start_ticks(d->pid, &ticks);
        if (r == -ENOENT || r == -ESRCH)
                return DAEMON_GONE;
        if (r < 0)
                return DAEMON_UNKNOWN; /* hidepid=, another pid namespace */
        if (ticks != d->start_ticks)
                return DAEMON_GONE; /* the pid used again */
        if (d->boot_id && boot)
                return DAEMON_RUNNING;
        /* no boot id to compare: a process of this boot with that pid and
         * start time started when the daemon did, not a boot earlier */
        int64_t btime = read_btime(), hz = sysconf(_SC_CLK_TCK);
        if (btime < 0 || hz <= 0 || d->started_usec <= 0 || d->started_usec > INT64_MAX / 2)
                return DAEMON_UNKNOWN; /* (a started_usec from the file may be anything) */
        int64_t started = btime * 1000000 + ticks * (1000000 / hz);
        return llabs(started - d->started_usec) <= 60 * 1000000 ? DAEMON_RUNNING : DAEMON_GONE;
}

StatusNode *status_add_node(Status *s, const char *id) {
        s->nodes = xrealloc(s->nodes, (s->n_nodes + 1) * sizeof(StatusNode));
        StatusNode *n = &s->nodes[s->n_nodes++];
        *n = (StatusNode) {
                .id = xstrdup(id),
                .generation = STATUS_UNSET,
                .published_usec = STATUS_UNSET,
                .n_files = STATUS_UNSET,
                .n_listeners = STATUS_UNSET,
                .n_clusters = STATUS_UNSET,
                .n_errors = STATUS_UNSET,
        };
        return n;
}

static void put_string_or_null(Buf *b, const char *s) {
        if (s)
                buf_put_json_string(b, s);
        else
                buf_printf(b, "null");
}

static const char *bool_str(bool b) {
        return b ? "true" : "false";
}

void status_format(const Status *s, Buf *b) {
        buf_printf(b, "{\"version\":%d,\"generation\":%" PRIi64 ",\"time_usec\":%" PRIi64 ",\"backend\":", STATUS_VERSION,
                   s->generation, s->time_usec);
        buf_put_json_string(b, s->backend ? s->backend : "none");
        buf_printf(b, ",\"publish_mode\":");
        buf_put_json_string(b, s->publish_mode ? s->publish_mode : "");
        buf_printf(b, ",\"source_dir\":");
        buf_put_json_string(b, s->source_dir ? s->source_dir : "");
        buf_printf(b, ",\"output_dir\":");
        buf_put_json_string(b, s->output_dir ? s->output_dir : "");
        buf_printf(b, ",\"signing\":");
        if (s->signing_subject) {
                buf_printf(b, "{\"subject\":");
                buf_put_json_string(b, s->signing_subject);
                buf_printf(b, ",\"not_after\":%" PRIi64 "}", s->signing_not_after);
        } else
                buf_printf(b, "null");
        buf_printf(b, ",\"signed_sources\":");
        if (s->signed_sources_ca) {
                buf_printf(b, "{\"ca\":");
                buf_put_json_string(b, s->signed_sources_ca);
                buf_printf(b, ",\"error\":");
                put_string_or_null(b, s->signed_sources_error);
                buf_printf(b, "}");
        } else
                buf_printf(b, "null");
        buf_printf(b, ",\"watch\":{\"backend\":");
        buf_put_json_string(b, s->backend ? s->backend : "none");
        buf_printf(b, ",\"degraded\":%s,\"unwatched\":%" PRIi64 ",\"limit\":", bool_str(s->watch_degraded),
                   s->watch_unwatched == STATUS_UNSET ? 0 : s->watch_unwatched);
        if (s->watch_limit_name) {
                buf_printf(b, "{\"name\":");
                buf_put_json_string(b, s->watch_limit_name);
                buf_printf(b, ",\"value\":%" PRIi64 "}", s->watch_limit_value);
        } else
                buf_printf(b, "null");
        buf_printf(b, ",\"rescan_interval_usec\":%" PRIi64 "}", s->watch_rescan_usec);
        buf_printf(b, ",\"verify_passes\":%" PRIi64, s->verify_passes);
        buf_printf(b, ",\"nodes\":{");
        for (size_t i = 0; i < s->n_nodes; i++) {
                const StatusNode *n = &s->nodes[i];
                buf_printf(b, "%s", i ? "," : "");
                buf_put_json_string(b, n->id);
                buf_printf(b, ":{\"generation\":%" PRIi64 ",\"published_usec\":%" PRIi64 ",\"files\":%" PRIi64 ","
                           "\"listeners\":%" PRIi64 ",\"clusters\":%" PRIi64 ",\"present\":%s,\"removal_blocked\":%s,"
                           "\"manifest_current\":%s,\"error\":",
                           n->generation, n->published_usec, n->n_files, n->n_listeners, n->n_clusters,
                           bool_str(n->present), bool_str(n->removal_blocked), bool_str(n->manifest_current));
                if (!n->error.message) {
                        buf_printf(b, "null");
                        goto state_error;
                }
                buf_printf(b, "{\"file\":");
                buf_put_json_string(b, n->error.file ? n->error.file : "");
                buf_printf(b, ",\"line\":%u,\"column\":%u,\"path\":", n->error.line, n->error.column);
                buf_put_json_string(b, n->error.path ? n->error.path : "");
                buf_printf(b, ",\"message\":");
                buf_put_json_string(b, n->error.message);
                buf_printf(b, ",\"rule\":");
                put_string_or_null(b, n->error.rule);
                buf_printf(b, ",\"count\":%" PRIi64 "}", n->n_errors);
        state_error:
                if (n->state_error) {
                        buf_printf(b, ",\"state_error\":");
                        buf_put_json_string(b, n->state_error);
                }
                if (n->allow_removal_expires_usec > 0)
                        buf_printf(b, ",\"allow_removal\":{\"armed\":true,\"expires_usec\":%" PRIi64 "}",
                                   n->allow_removal_expires_usec);
                if (n->pin_generation > 0)
                        buf_printf(b, ",\"pinned\":{\"generation\":%" PRIi64 ",\"held\":%s,\"rollback_of\":%" PRIi64
                                   ",\"since_usec\":%" PRIi64 "}", n->pin_generation, n->pin_held ? "true" : "false",
                                   n->pin_rollback_of, n->pin_since_usec);
                if (n->ads) {
                        buf_printf(b, ",\"ads\":");
                        status_ads_node_format(n->ads, b);
                }
                buf_putc(b, '}');
        }
        buf_printf(b, "}");
        buf_printf(b, ",\"written_usec\":%" PRIi64 ",\"source_error\":", s->written_usec);
        put_string_or_null(b, s->source_error);
        buf_printf(b, ",\"daemon\":{\"pid\":%" PRIi64 ",\"boot_id\":", s->daemon.pid);
        put_string_or_null(b, s->daemon.boot_id);
        buf_printf(b, ",\"start_ticks\":%" PRIi64 ",\"started_usec\":%" PRIi64 ",\"stopped_usec\":",
                   s->daemon.start_ticks, s->daemon.started_usec);
        if (s->daemon.stopped_usec > 0)
                buf_printf(b, "%" PRIi64 "}", s->daemon.stopped_usec);
        else
                buf_printf(b, "null}");
        if (s->retry_usec > 0)
                buf_printf(b, ",\"retry_usec\":%" PRIi64, s->retry_usec);
        if (s->ads) {
                buf_printf(b, ",\"ads\":");
                status_ads_format(s->ads, b);
        }
        buf_printf(b, "}\n");
}

char *status_path(const char *output_dir) {
        return xasprintf("%s%s" STATUS_DIR "/" STATUS_FILE_NAME, output_dir, endswith(output_dir, "/") ? "" : "/");
}

static const char *const slot_names[2] = { "status.0.json", "status.1.json" };
#define SLOT_TMP_NAME ".status.tmp"
#define LINK_TMP_NAME ".status-link.tmp"
/* room a slot keeps: twice its text, in steps of 64 KiB, so that a status
 * may grow a good deal while the file system is full */
#define SLOT_STEP (64u << 10)

static off_t slot_room(size_t len) {
        return (off_t) (((2 * (uint64_t) len) / SLOT_STEP + 1) * SLOT_STEP);
}

/* OUTPUT_DIR/.fsxds, made when make (mode 0750, given to gid). */
static int open_status_dir(const char *output_dir, bool make, gid_t gid) {
        _cleanup_close_ int out = open(output_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (out < 0)
                return -errno;
        bool made = make && mkdirat(out, STATUS_DIR, 0750) >= 0;
        if (make && !made && errno != EEXIST)
                return -errno;
        int fd = openat(out, STATUS_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (made && gid != (gid_t) -1)
                (void) fchown(fd, (uid_t) -1, gid); /* the slots' chown says it when it fails */
        return fd;
}

/* The slot status.json names; -1 for none. */
static int active_slot(int dirfd) {
        char target[64];
        ssize_t n = readlinkat(dirfd, STATUS_FILE_NAME, target, sizeof target - 1);
        if (n < 0)
                return -1;
        target[n] = 0;
        for (int i = 0; i < 2; i++)
                if (streq(target, slot_names[i]))
                        return i;
        return -1;
}

static int pwrite_all(int fd, const void *data, size_t len) {
        const uint8_t *p = data;
        for (size_t done = 0; done < len;) {
                ssize_t n = pwrite(fd, p + done, len - done, (off_t) done);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t) n;
        }
        return 0;
}

/* The slot made afresh: a new file with the text, its room reserved past
 * its end, renamed over the slot. Needs new space. */
static int slot_write_fresh(int dirfd, const char *slot, const void *data, size_t len, gid_t gid, int *chown_error) {
        (void) unlinkat(dirfd, SLOT_TMP_NAME, 0);
        _cleanup_close_ int fd = openat(dirfd, SLOT_TMP_NAME, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
        if (fd < 0)
                return -errno;
        int r = 0;
        /* a file system without fallocate gets no reserve: the write in
         * place then only works within the slot's blocks */
        if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, slot_room(len)) < 0 && errno != EOPNOTSUPP)
                r = -errno;
        if (r >= 0)
                r = pwrite_all(fd, data, len);
        if (r >= 0 && fchmod(fd, 0640) < 0)
                r = -errno;
        if (r >= 0 && gid != (gid_t) -1 && fchown(fd, (uid_t) -1, gid) < 0)
                *chown_error = -errno;
        if (r >= 0 && fdatasync(fd) < 0)
                r = -errno;
        if (r >= 0 && renameat(dirfd, SLOT_TMP_NAME, dirfd, slot) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dirfd, SLOT_TMP_NAME, 0);
        return r;
}

/* The slot written in place, within the room it holds: nothing to
 * allocate. Never shrunk (that would free its room): a shorter text is
 * padded with spaces. */
static int slot_write_in_place(int dirfd, const char *slot, const void *data, size_t len) {
        _cleanup_close_ int fd = openat(dirfd, slot, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        size_t size = MAX(len, (size_t) st.st_size);
        if ((uint64_t) st.st_blocks * 512 < size && fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, slot_room(size)) < 0)
                return -errno;
        _cleanup_free_ uint8_t *text = xmalloc(size);
        memcpy(text, data, len);
        memset(text + len, ' ', size - len);
        int r = pwrite_all(fd, text, size);
        if (r < 0)
                return r;
        return fdatasync(fd) < 0 ? -errno : 0;
}

/* name → target, switched atomically by rename */
static int put_link(int dirfd, const char *name, const char *target) {
        (void) unlinkat(dirfd, LINK_TMP_NAME, 0);
        if (symlinkat(target, dirfd, LINK_TMP_NAME) < 0)
                return -errno;
        if (renameat(dirfd, LINK_TMP_NAME, dirfd, name) < 0) {
                int r = -errno;
                (void) unlinkat(dirfd, LINK_TMP_NAME, 0);
                return r;
        }
        return 0;
}

int status_write(const char *output_dir, const Status *s, gid_t gid, int *ret_chown_error) {
        Buf b = {};
        status_format(s, &b);
        _cleanup_close_ int dirfd = open_status_dir(output_dir, true, gid);
        if (dirfd < 0) {
                buf_free(&b);
                return dirfd;
        }
        int chown_error = 0, active = active_slot(dirfd), next = active == 0 ? 1 : 0;
        int r = slot_write_fresh(dirfd, slot_names[next], b.data, b.len, gid, &chown_error);
        if (r < 0)
                r = slot_write_in_place(dirfd, slot_names[next], b.data, b.len);
        if (r >= 0)
                r = put_link(dirfd, STATUS_FILE_NAME, slot_names[next]);
        if (r >= 0 && active < 0)
                /* the first write: the other slot is reserved now, while there is room */
                (void) slot_write_fresh(dirfd, slot_names[!next], b.data, b.len, gid, &chown_error);
        buf_free(&b);
        if (r < 0) {
                /* the last whole status stays; the flag says it is stale, and why */
                (void) put_link(dirfd, STATUS_ERROR_NAME, strerror(-r));
                return r;
        }
        (void) unlinkat(dirfd, STATUS_ERROR_NAME, 0); /* the status is current again */
        if (ret_chown_error)
                *ret_chown_error = chown_error;
        return 0;
}

int status_read_file(const char *output_dir, char **ret, size_t *ret_len) {
        _cleanup_close_ int dirfd = open_status_dir(output_dir, false, (gid_t) -1);
        if (dirfd < 0)
                return dirfd == -ENOTDIR ? -ENOENT : dirfd;
        /* a write switches slots; the one read is the one linked before
         * and after the read (a slot is written again only at the write
         * after next) */
        int r = -EAGAIN;
        for (int attempt = 0; attempt < 8 && r == -EAGAIN; attempt++) {
                int slot = active_slot(dirfd);
                const char *name = slot >= 0 ? slot_names[slot] : STATUS_FILE_NAME;
                if (slot < 0) {
                        /* not a link to a slot: a regular file is read as
                         * it is, anything else is refused */
                        char c;
                        if (readlinkat(dirfd, STATUS_FILE_NAME, &c, 1) >= 0)
                                return -EXDEV;
                        if (errno != EINVAL)
                                return -errno;
                }
                _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
                if (fd < 0)
                        return -errno;
                uint8_t *data;
                size_t len;
                r = read_regular_fd(fd, STATUS_MAX_SIZE, &data, &len);
                if (r == -EFBIG && slot >= 0 && active_slot(dirfd) != slot)
                        r = -EAGAIN;
                if (r < 0)
                        continue;
                if (slot >= 0 && active_slot(dirfd) != slot) {
                        free(data);
                        r = -EAGAIN;
                        continue;
                }
                *ret = (char *) data;
                *ret_len = len;
                return 0;
        }
        return r;
}

int status_read_write_error(const char *output_dir, char **ret_reason, int64_t *ret_usec) {
        _cleanup_close_ int dirfd = open_status_dir(output_dir, false, (gid_t) -1);
        if (dirfd < 0)
                return dirfd == -ENOENT || dirfd == -ENOTDIR ? 0 : dirfd;
        struct stat st;
        if (fstatat(dirfd, STATUS_ERROR_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        char reason[256];
        ssize_t n = readlinkat(dirfd, STATUS_ERROR_NAME, reason, sizeof reason - 1);
        if (n < 0)
                return -errno;
        reason[n] = 0;
        *ret_reason = xstrdup(reason);
        *ret_usec = (int64_t) st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
        return 1;
}

int status_remove_legacy(const char *output_dir) {
        _cleanup_close_ int out = open(output_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (out < 0)
                return -errno;
        struct stat st;
        if (fstatat(out, STATUS_FILE_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISREG(st.st_mode))
                return 0;
        if (unlinkat(out, STATUS_FILE_NAME, 0) < 0)
                return errno == ENOENT ? 0 : -errno;
        return 1;
}

static int64_t get_int(const Json *j, const char *key) {
        return json_get_int_or(j, key, STATUS_UNSET);
}

static void parse_node(const Json *j, StatusNode *n) {
        if (j->kind != JSON_OBJECT) {
                n->malformed = true;
                return;
        }
        n->generation = get_int(j, "generation");
        n->published_usec = get_int(j, "published_usec");
        n->n_files = get_int(j, "files");
        n->n_listeners = get_int(j, "listeners");
        n->n_clusters = get_int(j, "clusters");
        /* absent: not known to be gone from the tree */
        const Json *present = json_get(j, "present");
        n->present = !present || present->kind != JSON_BOOL || present->boolean;
        n->removal_blocked = json_get_true(j, "removal_blocked");
        const Json *allow = json_get(j, "allow_removal");
        if (allow && allow->kind == JSON_OBJECT && json_get_true(allow, "armed")) {
                int64_t expires = get_int(allow, "expires_usec");
                n->allow_removal_expires_usec = expires > 0 ? expires : 1; /* armed, expiry unknown */
        }
        const Json *pin = json_get(j, "pinned");
        if (pin && pin->kind == JSON_OBJECT && get_int(pin, "generation") > 0) {
                n->pin_generation = get_int(pin, "generation");
                n->pin_rollback_of = get_int(pin, "rollback_of");
                n->pin_since_usec = get_int(pin, "since_usec");
                n->pin_held = json_get_true(pin, "held");
        }
        n->state_error = json_get_strdup(j, "state_error");
        n->ads = status_ads_node_parse(json_get(j, "ads"));
        /* absent: not known to be stale */
        const Json *current = json_get(j, "manifest_current");
        n->manifest_current = !current || current->kind != JSON_BOOL || current->boolean;
        /* anything but null is an error; what is not an object says no more */
        const Json *e = json_get(j, "error");
        if (!e || e->kind == JSON_NULL)
                return;
        int64_t line = get_int(e, "line"), column = get_int(e, "column");
        n->error = (Diag) {
                .level = DIAG_ERROR,
                .file = json_get_strdup(e, "file"),
                .line = line > 0 && line <= UINT_MAX ? (unsigned) line : 0,
                .column = column > 0 && column <= UINT_MAX ? (unsigned) column : 0,
                .path = json_get_strdup(e, "path"),
                .message = json_get_strdup(e, "message"),
                .rule = json_get_strdup(e, "rule"),
        };
        /* an error object without a message is still an error */
        if (!n->error.message)
                n->error.message = xstrdup("error");
        n->n_errors = get_int(e, "count");
}

int status_parse(const char *data, size_t len, Status *ret, char **ret_error) {
        _cleanup_(json_freep) Json *root = NULL;
        _cleanup_free_ char *error = NULL;
        int r = json_parse(data, len, &error, &root);
        if (r < 0) {
                if (ret_error)
                        *ret_error = TAKE_PTR(error);
                return -EBADMSG;
        }
        int64_t version;
        if (root->kind != JSON_OBJECT || !json_get_int(root, "version", &version)) {
                if (ret_error)
                        *ret_error = xstrdup("not a status file of fsxdsd (no \"version\")");
                return -EINVAL;
        }
        if (version != STATUS_VERSION) {
                if (ret_error)
                        *ret_error = xasprintf("status file version %" PRIi64 ", this fsxds reads version %d", version,
                                               STATUS_VERSION);
                return -EPROTONOSUPPORT;
        }
        const Json *nodes = json_get(root, "nodes");
        if (nodes && nodes->kind != JSON_OBJECT && nodes->kind != JSON_NULL) {
                if (ret_error)
                        *ret_error = xstrdup("\"nodes\" is not an object");
                return -EINVAL;
        }
        Status s = {
                .generation = get_int(root, "generation"),
                .time_usec = get_int(root, "time_usec"),
                .backend = json_get_strdup(root, "backend"),
                .publish_mode = json_get_strdup(root, "publish_mode"),
                .source_dir = json_get_strdup(root, "source_dir"),
                .output_dir = json_get_strdup(root, "output_dir"),
                .signing_not_after = STATUS_UNSET,
                .retry_usec = get_int(root, "retry_usec"),
                .verify_passes = get_int(root, "verify_passes"),
                .written_usec = get_int(root, "written_usec"),
                .source_error = json_get_strdup(root, "source_error"),
                .daemon = { .pid = STATUS_UNSET, .start_ticks = STATUS_UNSET, .started_usec = STATUS_UNSET,
                            .stopped_usec = STATUS_UNSET },
        };
        const Json *daemon = json_get(root, "daemon");
        if (daemon && daemon->kind == JSON_OBJECT) {
                s.daemon.pid = get_int(daemon, "pid");
                s.daemon.boot_id = json_get_strdup(daemon, "boot_id");
                s.daemon.start_ticks = get_int(daemon, "start_ticks");
                s.daemon.started_usec = get_int(daemon, "started_usec");
                s.daemon.stopped_usec = get_int(daemon, "stopped_usec");
        }
        const Json *signing = json_get(root, "signing");
        if (signing && signing->kind == JSON_OBJECT) {
                s.signing_subject = json_get_strdup(signing, "subject");
                s.signing_not_after = get_int(signing, "not_after");
        }
        const Json *sources = json_get(root, "signed_sources");
        if (sources && sources->kind == JSON_OBJECT) {
                s.signed_sources_ca = json_get_strdup(sources, "ca");
                s.signed_sources_error = json_get_strdup(sources, "error");
        }
        const Json *watch = json_get(root, "watch");
        if (watch && watch->kind == JSON_OBJECT) {
                s.watch_known = true;
                s.watch_degraded = json_get_true(watch, "degraded");
                s.watch_unwatched = get_int(watch, "unwatched");
                s.watch_rescan_usec = get_int(watch, "rescan_interval_usec");
                const Json *limit = json_get(watch, "limit");
                s.watch_limit_value = STATUS_UNSET;
                if (limit && limit->kind == JSON_OBJECT) {
                        s.watch_limit_name = json_get_strdup(limit, "name");
                        s.watch_limit_value = get_int(limit, "value");
                }
        }
        for (size_t i = 0; nodes && nodes->kind == JSON_OBJECT && i < nodes->n; i++)
                parse_node(nodes->items[i], status_add_node(&s, nodes->keys[i]));
        s.ads = status_ads_parse(json_get(root, "ads"));
        *ret = s;
        return 0;
}

int status_read(const char *output_dir, Status *ret, char **ret_error) {
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = status_read_file(output_dir, &data, &len);
        if (r < 0)
                return r;
        return status_parse(data, len, ret, ret_error);
}

int status_clean_tmp(const char *output_dir) {
        assert(output_dir);
        int n = 0;
        static const char *const dirs[] = { "", "/" STATUS_DIR };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *path = xasprintf("%s%s", output_dir, dirs[i]);
                _cleanup_closedir_ DIR *d = opendir(path);
                if (!d) {
                        if (errno == ENOENT || errno == ENOTDIR)
                                continue;
                        return -errno;
                }
                struct dirent *de;
                while ((errno = 0, de = readdir(d))) {
                        /* at the top only status.json's own; in fsxds's own directory, any of its */
                        if (!write_file_atomic_is_tmp(de->d_name, i == 0 ? STATUS_FILE_NAME : NULL))
                                continue;
                        if (unlinkat(dirfd(d), de->d_name, 0) >= 0)
                                n++;
                        else if (errno != ENOENT)
                                return -errno;
                }
                if (errno != 0)
                        return -errno;
        }
        return n;
}
