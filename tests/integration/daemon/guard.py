# SPDX-License-Identifier: MIT
"""The removal guard: emptying common/ (most clusters of every node gone)
or removing a node's only listener is refused — removal_blocked in
status.json, an error naming `fsxds allow-removal`, the output untouched —
until `fsxds allow-removal NODE --config …`; the next rebuild then
publishes that node's generation once (the allowance is used up), while
other nodes stay blocked. Smaller removals pass. Both watch backends, both
publish modes."""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

NODES = ["alpha", "beta"]


def guard_tree():
    # alpha routes to a cluster of its own: emptying common/ then removes
    # clusters without leaving a route that names one that is gone (which
    # the graph checks refuse before the guard is asked)
    t = base_tree()
    t["nodes/alpha/cds.yaml"] = y_docs(y_cluster("alpha_local"), y_cla("alpha_local", [("10.0.0.9", 80)]))
    t["nodes/alpha/rds.yaml"] = y_routes("r0", [("/", "alpha_local")])
    t["common/cds.yaml"] = y_docs(y_cluster("shared"), y_cluster("s2"), y_cluster("s3"))
    t["common/eds.yaml"] = y_docs(y_cla("shared", [("10.0.0.1", 80)]), y_cla("s2", [("10.0.0.2", 80)]),
                                  y_cla("s3", [("10.0.0.3", 80)]))
    return t


def expect_blocked(env, st, node, what):
    ns = st["nodes"][node]
    expect(ns["removal_blocked"] is True, "%s is not removal_blocked: %r", node, ns)
    expect(ns["error"] is not None, "%s has no error", node)
    expect_in("allow-removal", ns["error"]["message"], "%s's error message" % node)
    expect_in(what, ns["error"]["message"], "%s's error message" % node)


def t_guard(watch, mode):
    env = Env(watch, mode, tree=guard_tree())
    d = env.daemon()
    before = {n: snapshot(env.node_dir(n)) for n in NODES}
    g0 = env.status()["generation"]

    # ---- common/ emptied: alpha would lose 3 of 4 clusters, beta 3 of 4
    mark = d.mark()
    shutil.rmtree(env.path("common"))
    _, st = d.wait_rebuild(mark)
    expect_blocked(env, st, "alpha", "clusters")
    expect_blocked(env, st, "beta", "clusters")
    expect_eq(st["generation"], g0, "generation while blocked")
    for n in NODES:
        diff = diff_snapshots(before[n], snapshot(env.node_dir(n)), "all")
        expect(not diff, "a blocked generation changed %s's output: %s", n, diff)
    status = [m["STATUS"] for m in d.notify.since(mark) if "STATUS" in m][-1]
    expect_in("allow-removal", status, "STATUS=")
    expect_in("removal blocked", env.fsxds("status", "--config", env.config_path).stdout, "fsxds status")

    # still blocked on the next rebuild without an allowance
    st = d.barrier("nodes/alpha/lds.yaml")
    expect_blocked(env, st, "alpha", "clusters")

    # ---- allowed once for alpha; the next rebuild publishes alpha only
    env.fsxds("allow-removal", "alpha", "--config", env.config_path)
    expect(os.path.exists(os.path.join(env.state, "allow-removal", "alpha")), "no allowance file")
    os.makedirs(env.path("common"))  # any change: the next rebuild
    st = d.barrier("nodes/alpha/lds.yaml")
    expect_eq(st["generation"], g0 + 1, "generation once alpha is allowed")
    expect(st["nodes"]["alpha"]["error"] is None and not st["nodes"]["alpha"]["removal_blocked"],
           "alpha after allow-removal: %r", st["nodes"]["alpha"])
    expect_eq(response_names(read(os.path.join(env.node_dir("alpha"), "cds/cds.pb"))), ["alpha_local"], "alpha's clusters")
    expect("eds/shared.pb" not in node_files(env.node_dir("alpha")), "alpha's eds/shared.pb is still there")
    expect(not os.path.exists(os.path.join(env.state, "allow-removal", "alpha")), "the allowance was not used up")
    expect_blocked(env, st, "beta", "clusters")
    expect(not diff_snapshots(before["beta"], snapshot(env.node_dir("beta")), "all"), "beta's output changed")

    # ---- common/ back: no removal, both publish
    mark = d.mark()
    for rel, text in guard_tree().items():
        if rel.startswith("common/"):
            env.write(rel, text)
    st = d.wait_generation(mark, g0 + 2)
    st = d.barrier("common/cds.yaml")
    for n in NODES:
        expect(st["nodes"][n]["error"] is None and not st["nodes"][n]["removal_blocked"], "%s: %r", n, st["nodes"][n])
    expect_eq(sorted(response_names(read(os.path.join(env.node_dir("beta"), "cds/cds.pb")))),
              ["beta_backend", "s2", "s3", "shared"], "beta's clusters")

    # ---- a small removal passes: s3 is 1 of 3 (alpha), 1 of 4 (beta)
    g = st["generation"]
    mark = d.mark()
    env.write("common/cds.yaml", y_docs(y_cluster("shared"), y_cluster("s2")))
    st = d.wait_generation(mark, g + 1)
    for n in NODES:
        expect(not st["nodes"][n]["removal_blocked"], "%s blocked on a small removal", n)
        expect("s3" not in response_names(read(os.path.join(env.node_dir(n), "cds/cds.pb"))), "%s still has s3", n)

    # ---- a node's only listener removed: blocked
    alpha = snapshot(env.node_dir("alpha"))
    mark = d.mark()
    os.unlink(env.path("nodes/alpha/lds.yaml"))
    _, st = d.wait_rebuild(mark)
    expect_blocked(env, st, "alpha", "listeners")
    expect(not diff_snapshots(alpha, snapshot(env.node_dir("alpha")), "all"), "alpha's output changed")
    d.stop()


def t_guard_after_reboot(watch, mode):
    """A reboot (empty output_dir) with common/ emptied: the guard has no
    live output to compare with, but state_dir holds the last good
    generation. A node listed in nodes: would otherwise get a generation
    without any cluster; it must be refused and the last good one come back
    from state_dir, as after a broken tree."""
    env = Env(watch, mode, tree=guard_tree(), nodes=["gamma"])
    d = env.daemon()
    last_good = contents(snapshot(env.node_dir("gamma")))
    expect_eq(sorted(response_names(last_good["cds/cds.pb"])), ["s2", "s3", "shared"], "gamma's clusters")
    d.stop()
    shutil.rmtree(env.out)
    shutil.rmtree(env.path("common"))
    os.makedirs(env.path("common"))
    d = env.daemon()
    st = env.status()
    expect(st["nodes"]["gamma"]["removal_blocked"] is True,
           "gamma's generation without its 3 clusters was not refused after a reboot: %r (its cds now holds %r)",
           st["nodes"]["gamma"], response_names(read(os.path.join(env.node_dir("gamma"), "cds/cds.pb")))
           if os.path.exists(os.path.join(env.node_dir("gamma"), "cds/cds.pb")) else None)
    got = contents(snapshot(env.node_dir("gamma")))
    expect(got == last_good, "gamma after the reboot is not its last good generation: %s",
           diff_snapshots({k: (v,) for k, v in last_good.items()}, {k: (v,) for k, v in got.items()}))
    d.stop()


def t_reboot_unmounted(watch, mode):
    """A reboot with the source tree unmounted (source_dir missing): the
    nodes' outputs are gone with /run, their last good generations are in
    state_dir, and a node that leaves the tree keeps its output until
    `fsxds forget`. So they come back from state_dir, and the daemon
    reaches READY=1 and picks the tree up when it is mounted."""
    env = Env(watch, mode, tree=guard_tree())
    d = env.daemon()
    last_good = {n: contents(snapshot(env.node_dir(n))) for n in NODES}
    d.stop()
    shutil.rmtree(env.out)
    os.rename(env.src, env.src + ".unmounted")
    d = env.daemon()
    for n in NODES:
        got = contents(snapshot(env.node_dir(n))) if os.path.isdir(env.node_dir(n)) else {}
        expect(got == last_good[n], "%s's last good generation did not come back from state_dir after a reboot "
               "with the source tree unmounted (%d of %d files)", n, len(got), len(last_good[n]))
    mark = d.mark()
    os.rename(env.src + ".unmounted", env.src)
    d.wait_rebuild(mark)
    d.stop()
    env.assert_equals_compile(NODES)


if __name__ == "__main__":
    r = Runner("daemon-guard")
    for w, m in r.combos():
        r.run("removal-guard[%s,%s]" % (w, m), t_guard, w, m)
        r.run("removal-guard-after-reboot[%s,%s]" % (w, m), t_guard_after_reboot, w, m)
        r.run("reboot-source-unmounted[%s,%s]" % (w, m), t_reboot_unmounted, w, m)
    r.finish()
