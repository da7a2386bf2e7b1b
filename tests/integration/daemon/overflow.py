# SPDX-License-Identifier: MIT
"""Event queue overflow: the daemon is stopped (SIGSTOP) while a burst of
changes overflows its event queue (inotify: fs.inotify.max_queued_events
shrunk to 16 for the daemon's instance, restored right after it started and
in any case on exit; fanotify: more events than its fixed 16,384-event
queue). The real changes come last, so their events are lost: only the
overflow's full rescan can find them. After SIGCONT the daemon must end in
the right output (byte-identical to `fsxds compile --node`), including a new
node and a new subdirectory created in the burst, whose later edits must
still be seen. Needs root for the sysctl (inotify) and CAP_SYS_ADMIN
(fanotify); skipped otherwise. inotify in both publish modes, fanotify in
rename mode."""
import atexit
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

SYSCTL = "/proc/sys/fs/inotify/max_queued_events"
_saved = []


def restore_sysctl(*_):
    while _saved:
        with open(SYSCTL, "w") as f:
            f.write(_saved.pop())


def fatal_signal(signum, frame):
    restore_sysctl()
    sys.exit(128 + signum)


atexit.register(restore_sysctl)
signal.signal(signal.SIGTERM, fatal_signal)
signal.signal(signal.SIGINT, fatal_signal)


def t_overflow(watch, mode):
    if watch == "inotify" and not os.access(SYSCTL, os.W_OK):
        raise Skip("%s is not writable (needs root)" % SYSCTL)
    env = Env(watch, mode, tree=base_tree(), settle="0.2s")
    if watch == "inotify":
        with open(SYSCTL) as f:
            _saved.append(f.read().strip())
        try:
            with open(SYSCTL, "w") as f:
                f.write("16")
            d = env.daemon(debug=True)  # its inotify instance keeps the limit it was created with
        finally:
            restore_sysctl()
    else:
        d = env.daemon(debug=True)
    g0 = env.status()["generation"]

    os.kill(d.proc.pid, signal.SIGSTOP)
    try:
        if watch == "inotify":
            # events of the watched directories fill the 16 places
            for i in range(64):
                write(env.path("common/.filler%d" % i), "x")
        else:
            # the filesystem mark sees the whole filesystem: 2 events per file
            filler = os.path.join(env.root, "filler")
            os.makedirs(filler)
            for i in range(9000):
                with open(os.path.join(filler, str(i)), "w") as f:
                    f.write("x")
        # the real changes, whose events are lost
        write(env.path("common/burst/deeper/c1.yaml"), y_docs(y_cluster("c1"), y_cla("c1", [("10.5.0.1", 5)])))
        write(env.path("common/eds.yaml.new"), y_cla("shared", [("10.0.0.1", 8123)]))
        os.rename(env.path("common/eds.yaml.new"), env.path("common/eds.yaml"))
        write(env.path("nodes/alpha/rds.yaml"), y_routes("r0", [("/after-overflow", "c1")]))
        write(env.path("nodes/gamma/lds.yaml"), y_listener("lg", 10009, "r0"))
        write(env.path("nodes/gamma/rds.yaml"), y_routes("r0", [("/", "shared")]))
    finally:
        mark = d.mark()
        os.kill(d.proc.pid, signal.SIGCONT)

    st = d.wait_generation(mark, g0 + 1)
    d.barrier("common/cds.yaml")
    st = env.status()
    expect_eq(sorted(st["nodes"]), ["alpha", "beta", "gamma"], "nodes after the overflow")
    for n in ("alpha", "beta", "gamma"):
        expect(st["nodes"][n]["error"] is None, "%s: %r", n, st["nodes"][n]["error"])
    expect_in("port_value: 8123", decode(os.path.join(env.node_dir("beta"), "eds/shared.pb")), "beta's endpoints")
    expect_in('prefix: "/after-overflow"', decode(os.path.join(env.node_dir("alpha"), "rds/r0.pb")), "alpha's routes")
    expect_in("(rescan)", d.log_text(), "the daemon's debug log (a rescan)")

    # the directory made during the overflow is watched now
    mark = d.mark()
    write(env.path("common/burst/deeper/c2.yaml"), y_docs(y_cluster("c2"), y_cla("c2", [("10.5.0.2", 5)])))
    d.wait_generation(mark, env.status()["generation"] + 1)
    expect_in("c2", response_names(read(os.path.join(env.node_dir("gamma"), "cds/cds.pb"))), "gamma's clusters")
    d.stop()
    env.assert_equals_compile(["alpha", "beta", "gamma"])


if __name__ == "__main__":
    r = Runner("daemon-overflow")
    for m in MODES:
        r.run("queue-overflow[inotify,%s]" % m, t_overflow, "inotify", m)
    # the fanotify queue cannot be shrunk: its overflow takes ~17,000 events
    # (seconds on ext4), and publish modes do not matter to the watch: one run
    r.run("queue-overflow[fanotify,rename]", t_overflow, "fanotify", "rename")
    r.finish()
