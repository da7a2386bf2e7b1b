# SPDX-License-Identifier: MIT
"""While a generation is being published: the phases wait on the phase
timer (phase_pause), and the loop goes on meanwhile. A stop signal lets
the generation in flight finish (every phase, the MANIFESTs) before
STOPPING=1 and exit 0, after the READY=1 that the start or a reload owes;
an edit waits for the generation in flight and is published after it; a
SIGHUP is taken after it (RELOADING=1, then READY=1). A restart then has
nothing to publish. Both publish modes."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

NODES = ["alpha", "beta"]
PAUSE = "1s"  # each of the first publish's phases (eds, cds, rds, lds) waits this long


def index_of(d, key, after):
    for i, m in enumerate(d.notify.since(after)):
        if m.get(key) == "1":
            return after + i
    return None


def wait_mid_publish(env, node, typ, name):
    """Until the node's typ/name.pb is in place: a later phase is pending."""
    wait_until(lambda: os.path.exists(os.path.join(env.node_dir(node), typ, name)),
               "%s/%s/%s to be published" % (node, typ, name))


def expect_later_phase_pending(env, node):
    expect(not os.path.exists(os.path.join(env.node_dir(node), "lds", "lds.pb")),
           "%s's lds.pb is already in place: the signal did not come mid-publish", node)


def expect_settled(env, d0_generation, watch, mode):
    """A restart finds nothing to publish: same generation, same files."""
    snaps = {n: snapshot(env.node_dir(n)) for n in NODES}
    d = env.daemon()
    st = env.status()
    expect_eq(st["generation"], d0_generation, "generation after a restart")
    for n in NODES:
        changed = diff_snapshots(snaps[n], snapshot(env.node_dir(n)), "all")
        expect(not changed, "%s: a restart after the stop published again: %s", n, changed)
    d.stop()


def t_term_during_first_publish(watch, mode, sig):
    env = Env(watch, mode, tree=base_tree(), phase_pause=PAUSE)
    d = env.daemon(start=False)
    d.start(wait_ready=False)
    wait_mid_publish(env, "alpha", "eds", "shared.pb")
    expect_later_phase_pending(env, "alpha")
    mark = d.mark()
    d.proc.send_signal(sig)
    rc = d.proc.wait(timeout=WAIT)
    expect_eq(rc, 0, "exit status on %s mid-publish" % signal.Signals(sig).name)
    d.notify.wait(lambda m: m.get("STOPPING") == "1", after=mark, what="STOPPING=1")
    ready, stopping = index_of(d, "READY", d.start_index), index_of(d, "STOPPING", d.start_index)
    expect(ready is not None and ready < stopping, "READY=1 (at %r) must come before STOPPING=1 (at %r): %r",
           ready, stopping, [m["_raw"] for m in d.notify.since(d.start_index)])
    # the generation in flight was published whole, MANIFEST last
    env.assert_equals_compile(NODES)
    for n in NODES:
        expect(os.path.exists(os.path.join(env.node_dir(n), "MANIFEST")), "%s has no MANIFEST", n)
    expect_settled(env, env.status()["generation"], watch, mode)


def added(port):
    return {
        "nodes/alpha/c2.yaml": y_docs(y_cluster("c2"), y_cla("c2", [("10.2.0.1", port)])),
        "nodes/alpha/rds.yaml": y_routes("r0", [("/c2", "c2"), ("/", "shared")]),
        "nodes/alpha/l2.yaml": y_docs(y_listener("l2", 10002, "r2"), y_routes("r2", [("/", "c2")])),
    }


def t_edit_and_hup_during_publish(watch, mode):
    env = Env(watch, mode, tree=base_tree(), phase_pause=PAUSE)
    d = env.daemon()
    g0 = env.status()["generation"]
    for rel, text in added(8080).items():
        env.write(rel, text)
    wait_mid_publish(env, "alpha", "eds", "c2.pb")
    mark = d.mark()
    # mid-publish: another edit, then SIGHUP; both wait for the generation in flight
    env.write("nodes/alpha/c2.yaml", y_docs(y_cluster("c2"), y_cla("c2", [("10.2.0.1", 8081)])))
    d.sighup()
    i, _ = d.notify.wait(lambda m: m.get("RELOADING") == "1", mark, what="RELOADING=1", alive=d.alive)
    # the generation in flight was over before the reload began
    done = [m for m in d.notify.since(mark)[:i - mark] if "STATUS" in m and m["STATUS"].startswith("generation")]
    expect(done, "RELOADING=1 came before the generation in flight was published: %r",
           [m["_raw"] for m in d.notify.since(mark)])
    d.wait_ready(after=i)
    st = d.barrier("nodes/alpha/rds.yaml")
    expect(st["generation"] >= g0 + 2, "generation %d: the edit made mid-publish was not published after it",
           st["generation"])
    expect_in("port_value: 8081", decode(os.path.join(env.node_dir("alpha"), "eds/c2.pb")), "alpha's c2 endpoints")
    # SIGTERM while a reload's generation is published: its READY=1, then STOPPING=1
    mark = d.mark()
    env.write("nodes/alpha/c3.yaml", y_docs(y_cluster("c3"), y_cla("c3", [("10.3.0.1", 80)])))
    env.write("nodes/alpha/rds.yaml", y_routes("r0", [("/c3", "c3"), ("/c2", "c2"), ("/", "shared")]))
    d.sighup()
    d.notify.wait(lambda m: m.get("RELOADING") == "1", mark, what="RELOADING=1", alive=d.alive)
    wait_mid_publish(env, "alpha", "eds", "c3.pb")
    expect(index_of(d, "READY", mark) is None, "READY=1 before the reload's generation was published: %r",
           [m["_raw"] for m in d.notify.since(mark)])
    d.stop()
    ready, stopping = index_of(d, "READY", mark), index_of(d, "STOPPING", mark)
    expect(ready is not None and ready < stopping, "after a reload, READY=1 (at %r) must come before STOPPING=1 "
           "(at %r): %r", ready, stopping, [m["_raw"] for m in d.notify.since(mark)])
    env.assert_equals_compile(NODES)
    expect_settled(env, env.status()["generation"], watch, mode)


if __name__ == "__main__":
    r = Runner("daemon-midpublish")
    # the loop does not depend on the watch backend: both modes, one backend
    # each way round
    for w, m in (("inotify", "rename"), ("fanotify", "watched_directory")):
        if w == "fanotify" and r.fanotify_problem is not None:
            w = "inotify"
        r.run("term-during-first-publish[%s,%s]" % (w, m), t_term_during_first_publish, w, m, signal.SIGTERM)
        r.run("edit-and-hup-during-publish[%s,%s]" % (w, m), t_edit_and_hup_during_publish, w, m)
    r.run("int-during-first-publish[inotify,rename]", t_term_during_first_publish, "inotify", "rename", signal.SIGINT)
    r.finish()
