# SPDX-License-Identifier: MIT
"""Watch limits (issue 12, defect 9): fsxdsd out of inotify watches or
instances, and its inotify queue overflowing.

Tiny limits without touching the host's: since Linux 5.11 the inotify
limits are per user namespace (ucounts): /proc/sys/user/max_inotify_watches
and max_inotify_instances show and set the limits of the reading process's
own namespace, and whoever holds CAP_SYS_RESOURCE in a namespace may write
them there. So the daemon runs under `unshare -Ur sh -c 'echo N >
/proc/sys/user/max_inotify_watches; exec fsxdsd ...'`: a new user namespace
mapping the caller to root (no privilege needed where unprivileged user
namespaces are allowed; as root too, the host's limits stay as they are),
the limit written inside it, and exec keeps the pid, so the harness's
SIGTERM/SIGSTOP reach the daemon. Every watch and instance of the daemon's
user in that namespace counts (its watch on allow-removal/ and forget/
too), and the host's limits still apply above it. Skipped with the
reason when unshare or the namespace's sysctl is not available.

max_queued_events is not per namespace (fs.inotify.max_queued_events is
the host's): the overflow case fills the default-sized queue (its size
read, never written) while the daemon is stopped.

Verdicts from STATUS=, status.json ("watch": degraded, unwatched, limit)
and the published files; the rescan interval is made short
(rescan_interval: 0.2s) and every wait is "until, with a generous timeout".

  - limit-at-start: more directories than watches. READY comes, every node
    is published (byte-identical to fsxds compile --node), status says
    degraded, and an edit in each of the nested directories, some of which
    cannot be watched, is published (through the rescan).
  - limit-at-run-time + recovery: directories created until the watches
    run out; an edit in a directory made after that is published, status
    says degraded, the journal names the limit and a directory; then the
    directories holding watches are removed: the rescan watches the rest,
    degraded clears, and an edit there is still published.
  - instances: no inotify instance at all (max_inotify_instances 0): the
    whole tree is rescanned, everything published, an edit too.
  - queue-overflow: more events than the queue holds while the daemon is
    stopped, then the real change: the overflow's full rescan publishes it.
"""
import os
import re
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration", "daemon"))
import harness  # noqa: E402
from harness import *  # noqa: E402,F401,F403

UNSHARE = shutil.which("unshare")
LIMIT_FILES = {"watches": "/proc/sys/user/max_inotify_watches",
               "instances": "/proc/sys/user/max_inotify_instances"}


def userns_problem():
    """None when a new user namespace can set its own inotify limits here,
    else why not."""
    if not UNSHARE:
        return "no unshare(1)"
    p = subprocess.run([UNSHARE, "-Ur", "sh", "-c", "echo 7 > %s && cat %s" %
                        (LIMIT_FILES["watches"], LIMIT_FILES["watches"])], capture_output=True, text=True)
    if p.returncode != 0 or p.stdout.strip() != "7":
        return ("cannot set %s in a new user namespace (unshare -Ur; Linux >= 5.11 and unprivileged user "
                "namespaces needed): %s" % (LIMIT_FILES["watches"], (p.stderr or p.stdout).strip()))
    return None


class LimitedDaemon(harness.Daemon):
    """fsxdsd in a user namespace of its own with limits set there:
    limits = {"watches": N, "instances": M}."""

    def __init__(self, env, limits, debug=False):
        super().__init__(env, debug=debug)
        self.limits = limits

    def argv(self):
        script = "".join("echo %d > %s && " % (v, LIMIT_FILES[k]) for k, v in self.limits.items())
        return [UNSHARE, "-Ur", "sh", "-c", script + 'exec "$0" "$@"'] + super().argv()


def count_dirs(root):
    n = 0
    for _, dirs, _ in os.walk(root):
        n += 1
        dirs[:] = [x for x in dirs if not x.startswith(".")]
    return n


# the daemon's own watches besides the tree's: its allow-removal/,
# forget/, rollback/ and pin/ directories (requests.c) and the anchor (the
# directory holding source_dir)
OWN_WATCHES = 5


def published_port(env, node, cluster):
    try:
        return decode(os.path.join(env.node_dir(node), "eds", cluster + ".pb"))
    except (AssertionError, FileNotFoundError):
        return ""


def wait_published(env, node, cluster, port, what):
    wait_until(lambda: "port_value: %d" % port in published_port(env, node, cluster), what)


def y_pair(name, port):
    return y_docs(y_cluster(name), y_cla(name, [("10.9.0.1", port)]))


def write_atomic(env, rel, text):
    p = env.path(rel)
    write(p + ".tmp~", text)
    os.rename(p + ".tmp~", p)


def watch_status(env):
    return env.status().get("watch") or {}


NESTED = ["n%d" % i for i in range(6)]


def t_limit_at_start(mode):
    tree = base_tree()
    for n in NESTED:
        tree["nodes/%s/a/b/lds.yaml" % n] = y_listener("l" + n, 10100 + NESTED.index(n), "r" + n)
        tree["nodes/%s/a/b/rds.yaml" % n] = y_routes("r" + n, [("/", n)])
        tree["nodes/%s/a/b/cds.yaml" % n] = y_pair(n, 100)
    env = Env("inotify", mode, tree=tree, rescan_interval="0.2s")
    dirs = count_dirs(env.src)
    limit = OWN_WATCHES + 4
    expect(dirs > 4 + len(NESTED), "the tree has %d directories", dirs)
    d = LimitedDaemon(env, {"watches": limit}).start()
    nodes = ["alpha", "beta"] + NESTED
    st = env.status()
    expect_eq(sorted(st["nodes"]), nodes, "nodes published at start")
    for n in nodes:
        expect(st["nodes"][n]["error"] is None and st["nodes"][n]["generation"] >= 1, "%s: %r", n, st["nodes"][n])
    w = st.get("watch")
    expect(w is not None, "status.json has no \"watch\": %r", st)
    expect(w["degraded"] is True and w["unwatched"] > 0, "status.json's watch after start: %r", w)
    expect_eq(w["limit"], {"name": "fs.inotify.max_user_watches", "value": limit}, "the limit in status.json")
    _, msg = d.notify.wait(lambda m: "STATUS" in m, d.start_index, what="STATUS=")
    expect_in("watch degraded: fs.inotify.max_user_watches reached", msg["STATUS"], "STATUS=")
    p = env.fsxds("status", "--config", env.config_path, expect=None)
    expect_in("watch DEGRADED", p.stdout, "fsxds status")

    # the leaves cannot all be watched: each edit must still be published
    for i, n in enumerate(NESTED):
        with open(env.path("nodes/%s/a/b/cds.yaml" % n), "w") as f:  # in place, as editors without rename do
            f.write(y_pair(n, 200 + i))
    for i, n in enumerate(NESTED):
        wait_published(env, n, n, 200 + i, "the edit of nodes/%s/a/b/cds.yaml published" % n)
    expect(watch_status(env).get("degraded") is True, "still degraded: %r", watch_status(env))
    d.stop()
    env.assert_equals_compile(nodes)


def t_limit_at_run_time(mode):
    env = Env("inotify", mode, tree=base_tree(), rescan_interval="0.2s")
    limit = OWN_WATCHES + count_dirs(env.src) + 2
    d = LimitedDaemon(env, {"watches": limit}).start()
    at_start = watch_status(env)

    # directories until the watches run out (two to spare: fill and one below)
    mark = d.mark()
    for i in range(8):
        os.makedirs(env.path("common/fill/f%d" % i))
    d.wait_rebuild(mark)  # the new directories' rescan: their walk is over
    # a directory made now cannot be watched
    env.write("nodes/alpha/extra/cds.yaml", y_pair("c9", 300))
    wait_published(env, "alpha", "c9", 300, "the new file in nodes/alpha/extra published")
    write_atomic(env, "nodes/alpha/extra/cds.yaml", y_pair("c9", 301))
    wait_published(env, "alpha", "c9", 301, "an edit in the unwatched nodes/alpha/extra published")
    expect_eq(at_start.get("degraded"), False, "degraded at start with watches to spare")
    w = watch_status(env)
    expect(w["degraded"] is True and w["unwatched"] >= 7, "status.json's watch: %r", w)
    expect_eq(w["limit"], {"name": "fs.inotify.max_user_watches", "value": limit}, "the limit in status.json")
    log = d.log_text()
    line = re.search(r"inotify watch limit reached \(fs\.inotify\.max_user_watches = %d\): \d+ directories "
                     r"unwatched, the first %s/(\S+);" % (limit, re.escape(env.src)), log)
    expect(line, "no journal line naming the limit and a directory in:\n%s", log)
    expect(line.group(1).startswith(("common/fill", "nodes/alpha/extra")), "the directory named: %r", line.group(0))
    expect_eq(len(re.findall("watch limit reached", log)), 1, "journal lines about the limit (once per transition)")

    # recovery: the watches of fill and its subdirectories free up
    shutil.rmtree(env.path("common/fill"))
    wait_until(lambda: watch_status(env).get("degraded") is False, "status.json: watch no longer degraded")
    w = watch_status(env)
    expect(w["unwatched"] == 0 and w["limit"] is None, "status.json's watch after the recovery: %r", w)
    expect_in("is watched again", d.log_text(), "the journal after the recovery")
    write_atomic(env, "nodes/alpha/extra/cds.yaml", y_pair("c9", 302))
    wait_published(env, "alpha", "c9", 302, "an edit in nodes/alpha/extra published after the recovery")
    d.stop()
    env.assert_equals_compile(["alpha", "beta"])


def t_no_instance(mode):
    env = Env("inotify", mode, tree=base_tree(), rescan_interval="0.2s")
    d = LimitedDaemon(env, {"instances": 0}).start()
    st = env.status()
    expect_eq(sorted(st["nodes"]), ["alpha", "beta"], "nodes published at start")
    w = st.get("watch") or {}
    expect(w.get("degraded") is True and w.get("unwatched", 0) >= count_dirs(env.src), "status.json's watch: %r", w)
    expect_eq(w["limit"], {"name": "fs.inotify.max_user_instances", "value": 0}, "the limit in status.json")
    expect_in("inotify instance limit reached (fs.inotify.max_user_instances = 0)", d.log_text(), "the journal")
    write_atomic(env, "common/eds.yaml", y_cla("shared", [("10.0.0.1", 8555)]))
    wait_published(env, "alpha", "shared", 8555, "an edit with no inotify instance published")
    env.write("nodes/gamma/lds.yaml", y_listener("lg", 10009, "r0"))
    env.write("nodes/gamma/rds.yaml", y_routes("r0", [("/", "shared")]))
    wait_until(lambda: "gamma" in env.status()["nodes"], "a new node published")
    d.stop()
    env.assert_equals_compile(["alpha", "beta", "gamma"])


def t_queue_overflow(mode):
    with open("/proc/sys/fs/inotify/max_queued_events") as f:
        queue = int(f.read())
    if queue > 1 << 20:
        raise Skip("fs.inotify.max_queued_events is %d: too many events to overflow it here" % queue)
    env = Env("inotify", mode, tree=base_tree(), settle="0.2s")
    d = env.daemon(debug=True)
    g0 = env.status()["generation"]
    a, b = env.path("common/.a"), env.path("common/.b")
    write(a, "")
    write(b, "")
    os.kill(d.proc.pid, signal.SIGSTOP)
    try:
        # alternating names: the kernel merges only an event equal to the last queued
        for i in range(queue // 2 + 64):
            os.close(os.open(a if i % 2 else b, os.O_WRONLY))
            os.close(os.open(b if i % 2 else a, os.O_WRONLY))
        # the real changes, whose events are lost
        write_atomic(env, "common/eds.yaml", y_cla("shared", [("10.0.0.1", 8777)]))
        env.write("nodes/alpha/deeper/cds.yaml", y_pair("c7", 700))
    finally:
        mark = d.mark()
        os.kill(d.proc.pid, signal.SIGCONT)
    d.wait_generation(mark, g0 + 1)
    wait_published(env, "beta", "shared", 8777, "the change lost in the overflow published")
    wait_published(env, "alpha", "c7", 700, "the directory made during the overflow published")
    expect_in("(rescan)", d.log_text(), "the debug log (the overflow's rescan)")
    expect_eq(watch_status(env).get("degraded"), False, "an overflow does not degrade the watch")
    # the directory made during the overflow is watched now
    write_atomic(env, "nodes/alpha/deeper/cds.yaml", y_pair("c7", 701))
    wait_published(env, "alpha", "c7", 701, "an edit in the directory made during the overflow")
    d.stop()
    env.assert_equals_compile(["alpha", "beta"])


if __name__ == "__main__":
    r = Runner("faults-watches")
    problem = userns_problem()
    for m in MODES:
        for name, fn in (("limit-at-start", t_limit_at_start), ("limit-at-run-time", t_limit_at_run_time),
                         ("no-instance", t_no_instance)):
            if problem:
                r.skip("%s[inotify,%s]" % (name, m), problem)
            else:
                r.run("%s[inotify,%s]" % (name, m), fn, m)
    r.run("queue-overflow[inotify,rename]", t_queue_overflow, "rename")
    r.finish()
