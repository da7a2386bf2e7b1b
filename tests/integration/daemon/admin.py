# SPDX-License-Identifier: MIT
"""The admin verbs against a running fsxdsd (issue 14):

`fsxds forget NODE` while fsxdsd runs asks it through state_dir/forget/:
the daemon removes the node's output, last good copy and allowance, drops
it from its state, logs "node X forgotten (fsxds forget)" once, and
status.json and `fsxds status` no longer list it; its verification passes
find nothing altered afterwards, and a restart does not bring it back. A
request left while fsxdsd was stopped is taken at start.

`fsxds allow-removal NODE` refuses a node fsxdsd has nothing of; an armed
allowance shows in status.json (allow_removal, with its expiry) and in
`fsxds status`; it is used up by the node's next generation, needed or
not, and expires unused one hour after its file's mtime (the daemon's
timer, and a stale file placed while it runs). The removal guard's
message names the resources that would go, the first 10 and "and N
more"."""
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

HOUR_USEC = 3600 * 1000000


def store_orphans(store):
    """Objects of a store that no node links (st_nlink 1)."""
    try:
        names = os.listdir(store)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if os.lstat(os.path.join(store, n)).st_nlink == 1)


def t_forget_running(mode):
    env = Env("inotify", mode, tree=base_tree(), verify_interval="0.2s")
    d = env.daemon()
    cfg = ("--config", env.config_path)
    beta_out, beta_state = env.node_dir("beta"), os.path.join(env.state, "nodes", "beta")

    # refused while beta is in the tree: nothing touched
    p = env.fsxds("forget", "beta", *cfg, expect=1)
    expect_in(env.path("nodes/beta"), p.stderr, "forget of a node in the tree")
    expect(os.path.isdir(beta_out), "a refused forget removed %s", beta_out)

    # out of the tree: its output stays, its Envoy may still run (every
    # verification pass writes a status too: waited for by what it says)
    shutil.rmtree(env.path("nodes/beta"))
    wait_until(lambda: env.status()["nodes"]["beta"]["present"] is False, "beta out of the tree")
    expect(os.path.isdir(beta_out) and os.path.isdir(beta_state), "beta's output or copy went with the tree")

    p = env.fsxds("forget", "beta", *cfg)
    # status.json is written before the request goes: fsxds returns after it
    st = env.status()
    expect("beta" not in st["nodes"], "status.json still lists beta after fsxds forget: %r", st["nodes"].get("beta"))
    table = env.fsxds("status", *cfg).stdout
    expect(not re.search(r"^beta ", table, re.M), "fsxds status still lists beta:\n%s", table)
    expect(re.search(r"^alpha .* ok$", table, re.M), "alpha's row:\n%s", table)
    for path in (beta_out, beta_state):
        expect_in("removed " + path, p.stdout, "fsxds forget's output")
        expect(not os.path.lexists(path), "%s is still there", path)
    expect_in("fsxdsd forgot node beta", p.stdout, "fsxds forget's output")
    expect(not os.listdir(os.path.join(env.state, "forget")), "the forget request is still there")
    expect_eq(d.log_text().count("node beta forgotten (fsxds forget)"), 1, "log lines 'node beta forgotten'")
    for store in (os.path.join(env.out, ".store"), os.path.join(env.state, "nodes", ".store")):
        expect(not store_orphans(store), "objects only beta linked are left in %s: %s", store, store_orphans(store))

    # two verification passes later: nothing altered, nothing published
    passes = st["verify_passes"]
    wait_until(lambda: env.status()["verify_passes"] >= passes + 2, "two verification passes")
    expect("altered behind its back" not in d.log_text(), "a verification pass still checks beta:\n%s", d.log_text())
    expect(not os.path.lexists(beta_out), "beta's output came back")
    expect_eq(env.status()["generation"], st["generation"], "the generation after the verification passes")

    # forgotten for good: a restart does not bring it back
    d.stop()
    d = env.daemon()
    st = env.status()
    expect("beta" not in st["nodes"], "beta is back in status.json after a restart: %r", st["nodes"].get("beta"))
    expect(not os.path.lexists(beta_out) and not os.path.lexists(beta_state), "beta's files are back after a restart")

    # a node neither the disk nor the daemon knows: nothing to forget
    p = env.fsxds("forget", "beta", *cfg, expect=1)
    expect_in("nothing to forget", p.stderr, "a second forget")
    d.stop()


def t_forget_pending_at_start(mode):
    """A request fsxdsd did not take before it stopped is taken at start,
    before the last good copy could be published again."""
    env = Env("inotify", mode, tree=base_tree())
    d = env.daemon()
    mark = d.mark()
    shutil.rmtree(env.path("nodes/beta"))
    d.wait_rebuild(mark)
    d.stop()
    shutil.rmtree(env.out)  # a reboot: the copy would come back from state_dir
    write(os.path.join(env.state, "forget", "beta"), "2024-11-26T06:26:40Z\n")
    d = env.daemon()
    st = env.status()
    expect("beta" not in st["nodes"], "status.json lists beta: %r", st["nodes"].get("beta"))
    expect(not os.path.lexists(env.node_dir("beta")), "beta's last good copy was published again")
    expect(not os.path.lexists(os.path.join(env.state, "nodes", "beta")), "beta's copy is still in state_dir")
    expect(not os.path.lexists(os.path.join(env.state, "forget", "beta")), "the request is still there")
    expect_in("node beta forgotten (fsxds forget)", d.log_text(), "the log")
    d.stop()


def many_tree():
    """common/ with 13 clusters (shared, c00..c11); alpha routes to a
    cluster of its own, so that emptying common/ leaves its routes valid
    and the guard is what refuses."""
    t = base_tree()
    names = ["c%02d" % i for i in range(12)]
    t["common/cds.yaml"] = y_docs(y_cluster("shared"), *[y_cluster(n) for n in names])
    t["common/eds.yaml"] = y_docs(y_cla("shared", [("10.0.0.1", 80)]),
                                  *[y_cla(n, [("10.0.1.%d" % i, 80)]) for i, n in enumerate(names)])
    t["nodes/alpha/cds.yaml"] = y_docs(y_cluster("alpha_local"), y_cla("alpha_local", [("10.0.0.9", 80)]))
    t["nodes/alpha/rds.yaml"] = y_routes("r0", [("/", "alpha_local")])
    return t


def allowance(st, node):
    return st["nodes"][node].get("allow_removal")


def place_allowance(env, node, mtime):
    """An allowance file with the given mtime, renamed into place as fsxds
    does (the daemon sees its IN_MOVED_TO)."""
    d = os.path.join(env.state, "allow-removal")
    tmp = os.path.join(d, ".%s.tmp.1" % node)
    write(tmp, "2024-11-26T06:26:40Z\n")
    os.utime(tmp, (mtime, mtime))
    os.rename(tmp, os.path.join(d, node))


def t_allow_removal_unknown(mode):
    """A node fsxdsd has nothing of (no output, no last good copy): refused."""
    env = Env("inotify", mode, tree=base_tree())
    d = env.daemon()
    p = env.fsxds("allow-removal", "nosuch", "--config", env.config_path, expect=1)
    expect_in("nothing of node nosuch to remove", p.stderr, "allow-removal of an unknown node")
    expect(not os.path.exists(os.path.join(env.state, "allow-removal", "nosuch")),
           "an allowance for an unknown node was made")
    env.fsxds("allow-removal", "alpha", "--config", env.config_path)
    d.stop()


def t_allowance_lifetime(mode):
    """Armed: status.json and fsxds status say until when. Used up by the
    node's next generation, needed or not; expired by the daemon's timer,
    and at once when placed stale, never used."""
    env = Env("inotify", mode, tree=many_tree())
    d = env.daemon()
    cfg = ("--config", env.config_path)
    allow_dir = os.path.join(env.state, "allow-removal")

    env.fsxds("allow-removal", "beta", *cfg)
    f = os.path.join(allow_dir, "beta")
    expires = os.stat(f).st_mtime_ns // 1000 + HOUR_USEC
    st = wait_until(lambda: (lambda s: s if allowance(s, "beta") else None)(env.status()), "beta's allowance in status.json")
    expect_eq(allowance(st, "beta"), {"armed": True, "expires_usec": expires}, "beta's allow_removal")
    expect(allowance(st, "alpha") is None, "alpha has an allowance: %r", allowance(st, "alpha"))
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(expires // 1000000))
    table = env.fsxds("status", *cfg).stdout
    expect(re.search(r"^beta .*removal allowed once, until its next generation or %s; ok$" % when, table, re.M),
           "fsxds status does not show beta's allowance until %s:\n%s", when, table)

    # beta's next generation, which does not need it, uses it up
    env.write("nodes/beta/config.yaml", y_simple("web", 10001, "beta_backend", "10.1.0.2", 80))
    wait_until(lambda: not os.path.exists(f) and allowance(env.status(), "beta") is None,
               "beta's allowance used up by its next generation")
    expect_in("[beta] its removal allowance is used up by this generation, which did not need it", d.log_text(), "the log")

    # one that expires while fsxdsd runs: its timer removes it (alpha does
    # not change, so no generation uses it up)
    place_allowance(env, "alpha", time.time() - 3600 + 2)
    wait_until(lambda: not os.path.exists(os.path.join(allow_dir, "alpha")) and allowance(env.status(), "alpha") is None,
               "alpha's allowance expired")
    expect_in("[alpha] its removal allowance (fsxds allow-removal) expired unused after 60 minutes", d.log_text(),
              "the log")

    # one older than an hour, placed while alpha is blocked: removed, not used
    shutil.rmtree(env.path("common"))
    wait_until(lambda: env.status()["nodes"]["alpha"]["removal_blocked"], "alpha blocked")
    place_allowance(env, "alpha", time.time() - 2 * 3600)
    wait_until(lambda: not os.path.exists(os.path.join(allow_dir, "alpha")), "the stale allowance removed")
    st = d.barrier("nodes/alpha/lds.yaml")
    expect(st["nodes"]["alpha"]["removal_blocked"], "a stale allowance let alpha through: %r", st["nodes"]["alpha"])
    expect_eq(d.log_text().count("[alpha] its removal allowance (fsxds allow-removal) expired unused"), 2,
              "log lines of alpha's expired allowances")
    expect("allowed once" not in d.log_text(), "an expired allowance was used:\n%s", d.log_text())
    d.stop()


def t_guard_names(mode):
    """The guard's message, in status.json and the log, names what would
    go: the first 10 names, sorted, and how many more; so does the log line
    of the generation an allowance lets through."""
    env = Env("inotify", mode, tree=many_tree())
    d = env.daemon()
    mark = d.mark()
    shutil.rmtree(env.path("common"))
    d.wait_rebuild(mark)
    st = wait_until(lambda: (lambda s: s if s["nodes"]["alpha"]["removal_blocked"] else None)(env.status()),
                    "alpha blocked")
    names = '13 of 14 clusters ("c00", "c01", "c02", "c03", "c04", "c05", "c06", "c07", "c08", "c09" and 3 more)'
    for n in ("alpha", "beta"):
        expect(st["nodes"][n]["removal_blocked"], "%s is not blocked", n)
        expect_in("would remove " + names, st["nodes"][n]["error"]["message"], "%s's error" % n)
    expect_in("[alpha] this generation would remove " + names, d.log_text(), "the log")

    # allowed: alpha goes through once, the log names what went; beta stays blocked
    env.fsxds("allow-removal", "alpha", "--config", env.config_path)
    wait_until(lambda: not env.status()["nodes"]["alpha"]["removal_blocked"], "alpha published after allow-removal")
    st = env.status()
    expect(allowance(st, "alpha") is None, "alpha's allowance is still armed: %r", allowance(st, "alpha"))
    expect(not os.path.exists(os.path.join(env.state, "allow-removal", "alpha")), "alpha's allowance file is still there")
    expect_in("[alpha] removing " + names + ", allowed once by fsxds allow-removal", d.log_text(), "the log")
    expect(st["nodes"]["beta"]["removal_blocked"], "beta is not blocked any more")
    expect_eq(response_names(read(os.path.join(env.node_dir("alpha"), "cds/cds.pb"))), ["alpha_local"], "alpha's clusters")
    d.stop()


if __name__ == "__main__":
    r = Runner("daemon-admin")
    for w, m in r.combos(backends=("inotify",)):
        r.run("forget-running[%s]" % m, t_forget_running, m)
        r.run("forget-pending-at-start[%s]" % m, t_forget_pending_at_start, m)
        r.run("allow-removal-unknown[%s]" % m, t_allow_removal_unknown, m)
        r.run("allowance-lifetime[%s]" % m, t_allowance_lifetime, m)
        r.run("guard-names[%s]" % m, t_guard_names, m)
    r.finish()
