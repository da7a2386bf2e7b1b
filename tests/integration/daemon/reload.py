# SPDX-License-Identifier: MIT
"""SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1. A broken new
config is refused with its file:line:column and the daemon keeps running
on the old one (a later source edit is still published with the old
settings); a good one is applied (another output_dir, nodes:, publish_mode
and watch backend), and switching publish_mode in place converts the node
directories. Both watch backends, both publish modes."""
import os
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

NODES = ["alpha", "beta"]


def hup(d):
    """SIGHUP; returns the RELOADING=1 message and the index of the READY=1
    that follows it."""
    mark = d.mark()
    before = int(time.monotonic() * 1e6)
    d.sighup()
    i, msg = d.notify.wait(lambda m: m.get("RELOADING") == "1", mark, what="RELOADING=1", alive=d.alive)
    after = int(time.monotonic() * 1e6)
    expect("MONOTONIC_USEC" in msg, "RELOADING=1 without MONOTONIC_USEC: %r", msg["_raw"])
    usec = int(msg["MONOTONIC_USEC"])
    expect(before <= usec <= after, "MONOTONIC_USEC=%d is not CLOCK_MONOTONIC (between %d and %d)", usec, before,
           after)
    r, _ = d.notify.wait(lambda m: m.get("READY") == "1", i, what="READY=1 after RELOADING=1", alive=d.alive)
    return msg, i, r


def layout_ok(out, node, mode):
    nd = os.path.join(out, node)
    for rel in node_files(nd):
        p = os.path.join(nd, rel)
        problem = check_published_bytes(rel.split("/")[0], read(p))
        expect(problem is None, "%s/%s: %s", node, rel, problem)
        if mode == "watched_directory":
            expect(os.path.islink(p), "%s/%s is not a symlink in watched_directory mode", node, rel)
        else:
            expect(stat.S_ISREG(os.lstat(p).st_mode), "%s/%s is not a regular file in rename mode", node, rel)
    for t in TYPE_DIRS:
        d = os.path.join(nd, t)
        if not os.path.isdir(d):
            continue
        names = os.listdir(d)
        gens = [n for n in names if n.startswith("..gen-")]
        if mode == "rename":
            expect(not gens and "..data" not in names, "watched layout left in rename mode: %s/%s: %r", node, t, names)
        else:
            expect(len(gens) == 1 and os.readlink(os.path.join(d, "..data")) == gens[0],
                   "%s/%s: generations %r", node, t, names)


def t_bad_config(watch, mode):
    env = Env(watch, mode, tree=base_tree())
    d = env.daemon()
    g0 = env.status()["generation"]
    good = open(env.config_path).read()
    out2 = os.path.join(env.root, "out2")
    other = "watched_directory" if mode == "rename" else "rename"
    bad = good.replace(env.out, out2).replace('publish_mode: "%s"' % mode, 'publish_mode: "%s"' % other)
    bad += 'settle_max: "soon"\n'
    n_lines = bad.count("\n")
    write(env.config_path, bad)
    _, i, r = hup(d)
    refused = [m for m in d.notify.since(i) if "STATUS" in m]
    expect(refused and "refused" in refused[0]["STATUS"], "no STATUS= saying the reload was refused: %r",
           [m["_raw"] for m in d.notify.since(i)])
    expect_in("%s:%d:" % (env.config_path, n_lines), d.log_text(), "the log of a refused reload")
    expect(d.alive(), "fsxdsd died on a bad config")

    # still the old settings: the old output_dir and publish mode, the old watch
    mark = d.mark()
    env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", 8111)]))
    st = d.wait_generation(mark, g0 + 1)
    expect_eq(st["generation"], g0 + 1, "generation after an edit on the old config")
    expect_in("port_value: 8111", decode(os.path.join(env.node_dir("alpha"), "eds/shared.pb")), "alpha's endpoints")
    expect(not os.path.exists(out2), "the refused config's output_dir was created")
    for n in NODES:
        layout_ok(env.out, n, mode)
    d.stop()
    write(env.config_path, good)
    env.assert_equals_compile(NODES)


def t_good_config(watch, mode, fanotify_ok):
    env = Env(watch, mode, tree=base_tree())
    d = env.daemon()
    old = {n: snapshot(env.node_dir(n)) for n in NODES}
    g0 = env.status()["generation"]
    out2 = os.path.join(env.root, "out2")
    new_mode = "watched_directory" if mode == "rename" else "rename"
    new_watch = ("fanotify" if watch == "inotify" else "inotify") if fanotify_ok else watch
    env.write_config(output_dir=out2, publish_mode=new_mode, watch=new_watch, nodes=["gamma"])
    _, i, r = hup(d)
    statuses = [m["STATUS"] for m in d.notify.since(i)[:r - i] if "STATUS" in m]
    expect(statuses and statuses[-1].startswith("generation") and "3 nodes" in statuses[-1],
           "no STATUS= of the rebuild between RELOADING=1 and READY=1: %r", statuses)
    st = env.status(out2)
    expect_eq((st["backend"], st["publish_mode"], st["output_dir"]), (new_watch, new_mode, out2),
              "status.json after the reload")
    for n in NODES + ["gamma"]:
        expect(n in st["nodes"] and st["nodes"][n]["error"] is None, "%s after the reload: %r", n, st["nodes"].get(n))
        layout_ok(out2, n, new_mode)
    expect_eq(response_names(read(os.path.join(out2, "gamma", "cds/cds.pb"))), ["shared"], "gamma's clusters")

    # the new watch sees edits; they go to the new output_dir only
    old_out, env.out, env.mode = env.out, out2, new_mode
    g1 = st["generation"]
    mark = d.mark()
    env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", 8222)]))
    st = d.wait_generation(mark, g1 + 1)
    for n in NODES + ["gamma"]:
        expect_in("port_value: 8222", decode(os.path.join(out2, n, "eds/shared.pb")), "%s's endpoints" % n)
    for n in NODES:
        diff = diff_snapshots(old[n], snapshot(env.node_dir(n, old_out)), "all")
        expect(not diff, "the old output_dir changed after the reload: %s: %s", n, diff)
    expect(g1 > g0, "generation went back after the reload")
    d.stop()
    env.assert_equals_compile(NODES + ["gamma"])


def t_unusable_config(watch, mode):
    """A new config that parses but cannot be used (its output_dir cannot be
    created): the daemon goes back to the old one and keeps publishing."""
    env = Env(watch, mode, tree=base_tree())
    d = env.daemon()
    g0 = env.status()["generation"]
    good = open(env.config_path).read()
    blocker = os.path.join(env.root, "a-file")
    write(blocker, "not a directory")
    env.write_config(output_dir=os.path.join(blocker, "out"), state_dir=os.path.join(blocker, "state"))
    hup(d)
    expect(d.alive(), "fsxdsd died on an unusable config")
    write(env.config_path, good)
    mark = d.mark()
    env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", 8555)]))
    st = d.wait_generation(mark, g0 + 1)
    expect_eq(st["output_dir"], env.out, "output_dir in status.json")
    for n in NODES:
        expect_in("port_value: 8555", decode(os.path.join(env.node_dir(n), "eds/shared.pb")), "%s's endpoints" % n)
        layout_ok(env.out, n, mode)
    d.stop()
    env.assert_equals_compile(NODES)


def t_schema_truncated(watch, mode):
    """schema: a descriptor set that is truncated in place (or emptied), then
    SIGHUP: the reload is refused, fsxdsd goes back to the old settings, and
    the schema it was compiling with stays loaded: a later edit is published
    (under AddressSanitizer this read freed memory when the old schema had
    been dropped before the new one loaded)."""
    env = Env(watch, mode, tree=base_tree())
    desc = os.path.join(env.root, "envoy.desc")
    write(desc, read(os.path.join(os.path.dirname(FSXDS), "fsxds.desc")), "wb")  # the build's schema
    env.write_config(schema=desc)
    d = env.daemon()
    g0 = env.status()["generation"]
    for broken in (read(desc)[:100000], b""):
        with open(desc, "wb") as f:
            f.write(broken)
        hup(d)
        expect(d.alive(), "fsxdsd died when its schema was truncated to %d bytes", len(broken))
        expect_in("schema %s:" % desc, d.log_text(), "the log of the refused schema")
        mark = d.mark()
        port = 8600 + len(broken) % 97
        env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", port)]))
        g0 += 1
        st = d.wait_generation(mark, g0)
        expect_eq(st["generation"], g0, "generation after an edit with the truncated schema")
        for n in NODES:
            expect_in("port_value: %d" % port, decode(os.path.join(env.node_dir(n), "eds/shared.pb")),
                      "%s's endpoints" % n)
    d.stop()


def t_mode_switch(watch):
    env = Env(watch, "rename", tree=base_tree())
    d = env.daemon()
    for mode in ("watched_directory", "rename"):
        env.write_config(publish_mode=mode)
        hup(d)
        st = env.status()
        expect_eq(st["publish_mode"], mode, "status.json publish_mode")
        for n in NODES:
            expect(st["nodes"][n]["error"] is None, "%s: %r", n, st["nodes"][n]["error"])
            layout_ok(env.out, n, mode)
        d.stop()
        env.mode = mode
        env.assert_equals_compile(NODES)
        d = env.daemon()
    d.stop()


if __name__ == "__main__":
    r = Runner("daemon-reload")
    for w, m in r.combos():
        r.run("reload-bad-config[%s,%s]" % (w, m), t_bad_config, w, m)
        r.run("reload-good-config[%s,%s]" % (w, m), t_good_config, w, m, r.fanotify_problem is None)
        r.run("reload-unusable-config[%s,%s]" % (w, m), t_unusable_config, w, m)
        r.run("reload-schema-truncated[%s,%s]" % (w, m), t_schema_truncated, w, m)
    for w in BACKENDS:
        r.run("reload-publish-mode-in-place[%s]" % w, t_mode_switch, w)
    r.finish()
