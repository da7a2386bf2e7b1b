/* SPDX-License-Identifier: MIT */
/* daemon-probe: the timing helper of bench/daemon (the daemon benchmark).
 * Every timestamp is CLOCK_MONOTONIC in nanoseconds, the clock bench/daemon
 * reads with time.monotonic_ns(), so the figures of both can be combined.
 *
 *   daemon-probe floor N DIR
 *       The inotify floor. N times: rename a file into DIR/w, watched for
 *       IN_MOVED_TO, and take the time until the event is read (a) by this
 *       process right after rename() returns and (b) by a child process
 *       blocked in poll() on its own inotify instance, which must be woken
 *       up, as fsxdsd is. Prints "same_ns wakeup_ns" per iteration.
 *
 *   daemon-probe trigger FROM TO OUTDIR DIRLIST COUNT TIMEOUT_MS
 *       Watches every directory listed in DIRLIST (one per line) for
 *       IN_MOVED_TO of "*.pb" names (not dot names: those are temporaries)
 *       and OUTDIR (output_dir/.fsxds) for status.json being renamed into place; then renames
 *       FROM to TO and reads events until COUNT *.pb events and one
 *       status.json were seen, or TIMEOUT_MS passed. Prints one line:
 *       "rename_ns first_ns last_ns status_ns events overflow"
 *       (absolute; -1 for what was not seen). Each event is stamped when
 *       the read() that returned it came back.
 *
 *   daemon-probe trigger FROM TO OUTDIR DIRLIST COUNT TIMEOUT_MS MANIFESTLIST MIN_GEN
 *       The same, and also watches every directory in MANIFESTLIST (node
 *       directories) for MANIFEST being renamed into place, and waits
 *       until each has seen one. Appends "manifest_ns manifest_dirs": the
 *       latest MANIFEST rename seen (over all directories, each its last
 *       one before the probe stopped; -1 if none) and how many directories
 *       saw one. status_ns is then the first status.json renamed into
 *       place that names generation MIN_GEN or later and no node with
 *       "manifest_current":false (read when its rename is seen), in
 *       whichever order the daemon writes them. Whether the MANIFESTs are
 *       the new ones is the caller's to check (their content).
 *
 *   daemon-probe fanout ROOT NODELIST NFILES REPS none|syncfs|fsync
 *       The bare publish loop: for every node in NODELIST and NFILES files,
 *       linkat(ROOT/.objs/<obj>, ROOT/<node>/eds/.tmp.fJ.pb) and
 *       renameat(that, ROOT/<node>/eds/fJ.pb), paths relative to a ROOT
 *       fd. Objects alternate between two sets per repetition, so every
 *       rename really replaces the file (a rename onto another link of the
 *       same inode does nothing). One untimed pass creates the files first.
 *       syncfs: one syncfs(2) after the loop; fsync: an fsync of every
 *       node's eds directory after the loop. Prints seconds per repetition.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what) {
        fprintf(stderr, "daemon-probe: %s: %s\n", what, strerror(errno));
        exit(1);
}

static void usage(void) {
        fputs("usage: daemon-probe floor N DIR\n"
              "       daemon-probe trigger FROM TO OUTDIR DIRLIST COUNT TIMEOUT_MS [MANIFESTLIST MIN_GEN]\n"
              "       daemon-probe fanout ROOT NODELIST NFILES REPS none|syncfs|fsync\n",
              stderr);
        exit(2);
}

#define EVBUF (256 * 1024)

/* ---- floor ---- */

static int floor_cmd(int n, const char *dir) {
        char w[PATH_MAX / 2], s[PATH_MAX / 2];
        if (strlen(dir) + 3 > sizeof w) {
                errno = ENAMETOOLONG;
                die(dir);
        }
        snprintf(w, sizeof w, "%s/w", dir);
        snprintf(s, sizeof s, "%s/s", dir);
        if ((mkdir(w, 0755) < 0 && errno != EEXIST) || (mkdir(s, 0755) < 0 && errno != EEXIST))
                die(dir);

        /* the child: blocked in poll(), reports when it has read each event */
        int go[2], back[2];
        if (pipe(go) < 0 || pipe(back) < 0)
                die("pipe");
        pid_t pid = fork();
        if (pid < 0)
                die("fork");
        if (pid == 0) {
                close(go[1]);
                close(back[0]);
                int fd = inotify_init1(IN_CLOEXEC);
                if (fd < 0 || inotify_add_watch(fd, w, IN_MOVED_TO | IN_ONLYDIR) < 0)
                        die("inotify (child)");
                char ok = 1;
                if (write(back[1], &ok, 1) != 1)
                        _exit(1);
                static char buf[EVBUF] __attribute__((aligned(8)));
                for (int i = 0; i < n; i++) {
                        struct pollfd p = { fd, POLLIN, 0 };
                        if (poll(&p, 1, 10000) <= 0)
                                _exit(1);
                        if (read(fd, buf, sizeof buf) <= 0)
                                _exit(1);
                        int64_t t = now_ns();
                        if (write(back[1], &t, sizeof t) != sizeof t)
                                _exit(1);
                }
                _exit(0);
        }
        close(go[0]);
        close(back[1]);
        char ok;
        if (read(back[0], &ok, 1) != 1)
                die("child");

        int fd = inotify_init1(IN_CLOEXEC);
        if (fd < 0 || inotify_add_watch(fd, w, IN_MOVED_TO | IN_ONLYDIR) < 0)
                die("inotify");
        static char buf[EVBUF] __attribute__((aligned(8)));
        for (int i = 0; i < n; i++) {
                char from[PATH_MAX], to[PATH_MAX];
                snprintf(from, sizeof from, "%s/f%d", s, i);
                snprintf(to, sizeof to, "%s/f%d", w, i);
                int f = open(from, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (f < 0 || write(f, "x\n", 2) != 2 || close(f) < 0)
                        die(from);
                struct timespec pause = { 0, 5 * 1000 * 1000 }; /* both readers idle, as fsxdsd is */
                nanosleep(&pause, NULL);
                int64_t t0 = now_ns();
                if (rename(from, to) < 0)
                        die("rename");
                if (read(fd, buf, sizeof buf) <= 0)
                        die("read");
                int64_t t1 = now_ns();
                int64_t tc;
                if (read(back[0], &tc, sizeof tc) != sizeof tc)
                        die("child died");
                printf("%lld %lld\n", (long long) (t1 - t0), (long long) (tc - t0));
                unlink(to);
        }
        int st;
        waitpid(pid, &st, 0);
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

/* ---- trigger ---- */

static bool is_pb(const char *name) {
        size_t l = strlen(name);
        return name[0] != '.' && l > 3 && strcmp(name + l - 3, ".pb") == 0;
}

/* a watch descriptor's MANIFEST stamp: -1 not a MANIFEST directory, 0 none
 * seen yet, else the time of the last MANIFEST rename seen in it */
static int64_t *mf_at;
static int mf_size;

static void mf_mark(int wd) {
        if (wd >= mf_size) {
                int n = wd * 2 + 64;
                mf_at = realloc(mf_at, (size_t) n * sizeof *mf_at);
                if (!mf_at)
                        die("malloc");
                for (int i = mf_size; i < n; i++)
                        mf_at[i] = -1;
                mf_size = n;
        }
        mf_at[wd] = 0;
}

/* whether OUTDIR/status.json names generation min_gen or later and every
 * node's MANIFEST current */
static bool status_current(const char *outdir, long long min_gen) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/status.json", outdir);
        FILE *f = fopen(path, "re");
        if (!f)
                return false;
        size_t cap = 1 << 16, len = 0;
        char *b = malloc(cap + 1);
        if (!b)
                die("malloc");
        size_t n;
        while ((n = fread(b + len, 1, cap - len, f)) > 0) {
                len += n;
                if (len == cap) {
                        cap *= 2;
                        b = realloc(b, cap + 1);
                        if (!b)
                                die("malloc");
                }
        }
        fclose(f);
        b[len] = 0;
        /* {"version":V,"generation":G,...}: the first "generation" is the
         * daemon's, the nodes' come later */
        const char *g = strstr(b, "\"generation\":");
        bool ok = g && strtoll(g + 13, NULL, 10) >= min_gen && !strstr(b, "\"manifest_current\":false");
        free(b);
        return ok;
}

static int trigger_cmd(const char *from, const char *to, const char *outdir, const char *dirlist, long count,
                       long timeout_ms, const char *manifestlist, long long min_gen) {
        int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (fd < 0)
                die("inotify_init1");
        FILE *f = fopen(dirlist, "re");
        if (!f)
                die(dirlist);
        char line[PATH_MAX + 2];
        while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = 0;
                if (!line[0])
                        continue;
                if (inotify_add_watch(fd, line, IN_MOVED_TO | IN_ONLYDIR) < 0)
                        die(line);
        }
        fclose(f);
        long mf_dirs = 0, mf_seen = 0;
        if (manifestlist) {
                f = fopen(manifestlist, "re");
                if (!f)
                        die(manifestlist);
                while (fgets(line, sizeof line, f)) {
                        line[strcspn(line, "\n")] = 0;
                        if (!line[0])
                                continue;
                        /* a node directory is not in DIRLIST (type directories are) */
                        int wd = inotify_add_watch(fd, line, IN_MOVED_TO | IN_ONLYDIR);
                        if (wd < 0)
                                die(line);
                        mf_mark(wd);
                        mf_dirs++;
                }
                fclose(f);
        }
        int status_wd = inotify_add_watch(fd, outdir, IN_MOVED_TO | IN_ONLYDIR);
        if (status_wd < 0)
                die(outdir);

        static char buf[EVBUF] __attribute__((aligned(8)));
        int64_t first = -1, last = -1, status = -1, mf_last = -1;
        long events = 0;
        int overflow = 0;
        int64_t t0 = now_ns();
        if (rename(from, to) < 0)
                die("rename");
        int64_t deadline = t0 + timeout_ms * 1000000LL;
        while (events < count || status < 0 || mf_seen < mf_dirs) {
                int64_t left = deadline - now_ns();
                if (left <= 0)
                        break;
                struct pollfd p = { fd, POLLIN, 0 };
                int r = poll(&p, 1, (int) (left / 1000000 + 1));
                if (r < 0 && errno != EINTR)
                        die("poll");
                if (r <= 0)
                        continue;
                ssize_t n = read(fd, buf, sizeof buf);
                int64_t t = now_ns();
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                continue;
                        die("read");
                }
                for (char *q = buf; q < buf + n;) {
                        struct inotify_event *ev = (struct inotify_event *) q;
                        q += sizeof(*ev) + ev->len;
                        if (ev->mask & IN_Q_OVERFLOW) {
                                overflow = 1;
                                continue;
                        }
                        if (!ev->len)
                                continue;
                        if (ev->wd < mf_size && mf_at[ev->wd] >= 0) {
                                if (strcmp(ev->name, "MANIFEST") == 0) {
                                        if (mf_at[ev->wd] == 0)
                                                mf_seen++;
                                        mf_at[ev->wd] = t;
                                        if (t > mf_last)
                                                mf_last = t;
                                }
                                continue;
                        }
                        if (ev->wd == status_wd) {
                                if (strcmp(ev->name, "status.json") == 0 && status < 0 &&
                                    (!manifestlist || status_current(outdir, min_gen)))
                                        status = t;
                                continue;
                        }
                        if (!is_pb(ev->name))
                                continue;
                        events++;
                        if (first < 0)
                                first = t;
                        last = t;
                }
                if (overflow)
                        break;
        }
        printf("%lld %lld %lld %lld %ld %d", (long long) t0, (long long) first, (long long) last, (long long) status,
               events, overflow);
        if (manifestlist)
                printf(" %lld %ld", (long long) mf_last, mf_seen);
        printf("\n");
        return 0;
}

/* ---- fanout ---- */

static char **read_lines(const char *path, size_t *ret_n) {
        FILE *f = fopen(path, "re");
        if (!f)
                die(path);
        char **v = NULL;
        size_t n = 0;
        char line[PATH_MAX + 2];
        while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = 0;
                if (!line[0])
                        continue;
                v = realloc(v, (n + 1) * sizeof(char *));
                if (!v || !(v[n++] = strdup(line)))
                        die("malloc");
        }
        fclose(f);
        *ret_n = n;
        return v;
}

static void pass(int root, char **nodes, size_t n_nodes, int n_files, char set) {
        char obj[64], tmp[PATH_MAX], dst[PATH_MAX];
        for (size_t i = 0; i < n_nodes; i++)
                for (int j = 0; j < n_files; j++) {
                        snprintf(obj, sizeof obj, ".objs/%c%d", set, j);
                        snprintf(tmp, sizeof tmp, "%s/eds/.tmp.f%d.pb", nodes[i], j);
                        snprintf(dst, sizeof dst, "%s/eds/f%d.pb", nodes[i], j);
                        if (linkat(root, obj, root, tmp, 0) < 0)
                                die("linkat");
                        if (renameat(root, tmp, root, dst) < 0)
                                die("renameat");
                }
}

static int fanout_cmd(const char *rootdir, const char *nodelist, int n_files, int reps, const char *mode) {
        bool do_syncfs = strcmp(mode, "syncfs") == 0, do_fsync = strcmp(mode, "fsync") == 0;
        if (!do_syncfs && !do_fsync && strcmp(mode, "none") != 0)
                usage();
        size_t n_nodes;
        char **nodes = read_lines(nodelist, &n_nodes);
        int root = open(rootdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                die(rootdir);
        if (mkdirat(root, ".objs", 0750) < 0 && errno != EEXIST)
                die(".objs");
        /* objects the size of a small ClusterLoadAssignment file */
        for (int set = 0; set < 2; set++)
                for (int j = 0; j < n_files; j++) {
                        char obj[64], data[160];
                        snprintf(obj, sizeof obj, ".objs/%c%d", "ab"[set], j);
                        int len = snprintf(data, sizeof data, "object %c%d %0120d\n", "ab"[set], j, 0);
                        int f = openat(root, obj, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
                        if (f < 0 || write(f, data, (size_t) len) != len || close(f) < 0)
                                die(obj);
                }
        for (size_t i = 0; i < n_nodes; i++) {
                char p[PATH_MAX];
                if (mkdirat(root, nodes[i], 0750) < 0 && errno != EEXIST)
                        die(nodes[i]);
                snprintf(p, sizeof p, "%s/eds", nodes[i]);
                if (mkdirat(root, p, 0750) < 0 && errno != EEXIST)
                        die(p);
        }
        /* creates the files, untimed; what an earlier run left goes first (a
         * rename onto a link of the same inode would leave the temporary) */
        for (size_t i = 0; i < n_nodes; i++)
                for (int j = 0; j < n_files; j++) {
                        char p[PATH_MAX];
                        snprintf(p, sizeof p, "%s/eds/f%d.pb", nodes[i], j);
                        (void) unlinkat(root, p, 0);
                        snprintf(p, sizeof p, "%s/eds/.tmp.f%d.pb", nodes[i], j);
                        (void) unlinkat(root, p, 0);
                }
        pass(root, nodes, n_nodes, n_files, 'a');
        if (syncfs(root) < 0)
                die("syncfs");
        for (int r = 0; r < reps; r++) {
                int64_t t0 = now_ns();
                pass(root, nodes, n_nodes, n_files, r % 2 ? 'a' : 'b');
                if (do_syncfs && syncfs(root) < 0)
                        die("syncfs");
                if (do_fsync)
                        for (size_t i = 0; i < n_nodes; i++) {
                                char p[PATH_MAX];
                                snprintf(p, sizeof p, "%s/eds", nodes[i]);
                                int d = openat(root, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                                if (d < 0 || fsync(d) < 0 || close(d) < 0)
                                        die("fsync");
                        }
                printf("%.9f\n", (double) (now_ns() - t0) / 1e9);
                fflush(stdout);
        }
        return 0;
}

int main(int argc, char **argv) {
        if (argc < 2)
                usage();
        if (strcmp(argv[1], "floor") == 0 && argc == 4)
                return floor_cmd(atoi(argv[2]), argv[3]);
        if (strcmp(argv[1], "trigger") == 0 && (argc == 8 || argc == 10))
                return trigger_cmd(argv[2], argv[3], argv[4], argv[5], atol(argv[6]), atol(argv[7]),
                                   argc == 10 ? argv[8] : NULL, argc == 10 ? atoll(argv[9]) : 0);
        if (strcmp(argv[1], "fanout") == 0 && argc == 7)
                return fanout_cmd(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), argv[6]);
        usage();
}
