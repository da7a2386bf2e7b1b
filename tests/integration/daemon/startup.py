# SPDX-License-Identifier: MIT
"""fsxdsd startup: READY=1 after the first build, every node directory
byte-identical to `fsxds compile --node` of the same tree (at the same
absolute path), a restart that republishes nothing, and the idle states
that must also reach READY=1 and stay up: an empty tree, a missing
source_dir, a broken tree. Both watch backends, both publish modes."""
import os
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

NODES = ["alpha", "beta"]


def check_layout(env, node):
    """Every file decodes; the layout is the publish mode's; modes 0640/0750."""
    nd = env.node_dir(node)
    files = node_files(nd)
    expect("lds/lds.pb" in files and "cds/cds.pb" in files, "%s: no lds/cds in %r", node, files)
    for rel in files:
        p = os.path.join(nd, rel)
        problem = check_published_bytes(rel.split("/")[0], read(p))
        expect(problem is None, "%s/%s: %s", node, rel, problem)
        st = os.lstat(p)
        if env.mode == "watched_directory":
            expect(stat.S_ISLNK(st.st_mode), "%s/%s is not a symlink in watched_directory mode", node, rel)
            expect_eq(os.readlink(p), "..data/" + rel.split("/")[1], "%s/%s's target" % (node, rel))
            data = os.path.join(nd, rel.split("/")[0], "..data")
            expect(os.path.islink(data) and os.readlink(data).startswith("..gen-"),
                   "%s/%s/..data is not a symlink to a generation", node, rel.split("/")[0])
        else:
            expect(stat.S_ISREG(st.st_mode), "%s/%s is not a regular file in rename mode", node, rel)
        expect_eq(stat.S_IMODE(os.stat(p).st_mode), 0o640, "mode of %s/%s" % (node, rel))
    for t in set(r.split("/")[0] for r in files):
        expect_eq(stat.S_IMODE(os.stat(os.path.join(nd, t)).st_mode), 0o750, "mode of %s/%s/" % (node, t))
    expect_eq(stat.S_IMODE(os.stat(nd).st_mode), 0o750, "mode of %s/" % node)


def t_startup(watch, mode):
    env = Env(watch, mode, tree=base_tree())
    d = env.daemon()
    _, st = d.wait_rebuild(d.start_index)
    expect_eq(st["backend"], watch, "status.json backend")
    expect_eq(st["publish_mode"], mode, "status.json publish_mode")
    expect_eq(st["generation"], 1, "status.json generation after the first start")
    expect_eq(sorted(st["nodes"]), NODES, "status.json nodes")
    for n in NODES:
        expect(st["nodes"][n]["error"] is None, "%s has an error: %r", n, st["nodes"][n]["error"])
        expect_eq(st["nodes"][n]["generation"], 1, "%s's generation" % n)
        expect_eq(st["nodes"][n]["files"], len(node_files(env.node_dir(n))), "%s's file count" % n)
        check_layout(env, n)
    # READY=1 comes after the first build's STATUS=
    statuses = [m for m in d.notify.since(d.start_index)[:d.ready_index - d.start_index] if "STATUS" in m]
    expect(statuses and statuses[-1]["STATUS"].startswith("generation 1, 2 nodes"),
           "no STATUS= of the first build before READY=1: %r", statuses)
    expect_in("eds/shared.pb", node_files(env.node_dir("alpha")), "alpha's files")
    expect_eq(response_names(read(os.path.join(env.node_dir("beta"), "cds/cds.pb"))),
              ["beta_backend", "shared"], "beta's clusters")
    before = {n: snapshot(env.node_dir(n)) for n in NODES}
    d.stop()
    env.assert_equals_compile(NODES)

    # a restart republishes nothing: same generation, same inodes and mtimes
    d = env.daemon()
    st = env.status()
    expect_eq(st["generation"], 1, "generation after a restart with nothing changed")
    for n in NODES:
        diff = diff_snapshots(before[n], snapshot(env.node_dir(n)), "all")
        expect(not diff, "a restart touched %s: %s", n, diff)
    d.stop()


def t_examples(watch, mode):
    """The bundled example tree (conf/examples, three nodes)."""
    env = Env(watch, mode)
    shutil.copytree(os.path.join(SOURCE_ROOT, "conf", "examples"), env.src)
    nodes = sorted(os.listdir(os.path.join(env.src, "nodes")))
    expect(len(nodes) >= 3, "conf/examples has nodes %r", nodes)
    d = env.daemon()
    _, st = d.wait_rebuild(d.start_index)
    expect_eq(sorted(st["nodes"]), nodes, "status.json nodes")
    for n in nodes:
        expect(st["nodes"][n]["error"] is None, "%s has an error: %r", n, st["nodes"][n]["error"])
        expect_eq(st["nodes"][n]["generation"], 1, "%s's generation" % n)
        check_layout(env, n)
    d.stop()
    env.assert_equals_compile(nodes)


def t_empty(watch):
    env = Env(watch, "rename", tree={})
    d = env.daemon()
    _, st = d.wait_rebuild(d.start_index)
    expect_eq(st["nodes"], {}, "status.json nodes of an empty tree")
    expect_eq(st["generation"], 0, "generation of an empty tree")
    expect(d.alive(), "fsxdsd exited on an empty tree")
    # the tree filling up later is picked up
    mark = d.mark()
    for rel, text in base_tree().items():
        env.write(rel, text)
    st = d.wait_generation(mark, 1)
    expect_eq(sorted(st["nodes"]), NODES, "nodes once the tree is filled")
    d.stop()
    env.assert_equals_compile(NODES)


def t_missing_source(watch):
    env = Env(watch, "rename")
    expect(not os.path.exists(env.src), "src exists")
    d = env.daemon()
    _, st = d.wait_rebuild(d.start_index)
    expect_eq(st["nodes"], {}, "status.json nodes without source_dir")
    expect(d.alive(), "fsxdsd exited without source_dir")
    # source_dir appears (a mount, a deploy): first the directories, then the files
    mark = d.mark()
    os.makedirs(os.path.join(env.src, "nodes", "alpha"))
    os.makedirs(os.path.join(env.src, "common"))
    for rel, text in base_tree().items():
        env.write(rel, text)
    st = d.wait_generation(mark, 1)
    expect_eq(sorted(st["nodes"]), NODES, "nodes once source_dir appeared")
    for n in NODES:
        expect(st["nodes"][n]["error"] is None, "%s: %r", n, st["nodes"][n]["error"])
    d.stop()
    env.assert_equals_compile(NODES)


def t_broken(watch):
    tree = base_tree()
    tree["nodes/alpha/rds.yaml"] = tree["nodes/alpha/rds.yaml"].replace("virtual_hosts:", "virtual_hostz:")
    env = Env(watch, "rename", tree=tree)
    d = env.daemon()
    _, st = d.wait_rebuild(d.start_index)
    err = st["nodes"]["alpha"]["error"]
    expect(err is not None, "alpha has no error in status.json")
    expect_eq((err["file"], err["line"], err["column"]), (env.path("nodes/alpha/rds.yaml"), 3, 1),
              "the error's location")
    expect_in("virtual_hostz", err["message"], "the error message")
    status = [m["STATUS"] for m in d.notify.since(d.start_index) if "STATUS" in m][-1]
    expect_in("%s:3:1" % env.path("nodes/alpha/rds.yaml"), status, "STATUS=")
    expect(not os.path.exists(env.node_dir("alpha")), "alpha got output from a broken tree")
    expect(st["nodes"]["beta"]["error"] is None, "beta has an error")
    expect_in("lds/lds.pb", node_files(env.node_dir("beta")), "beta's files (other nodes still publish)")
    # still up, still watching: the fix is published
    mark = d.mark()
    env.write("nodes/alpha/rds.yaml", base_tree()["nodes/alpha/rds.yaml"])
    st = d.wait_generation(mark, 2)
    expect(st["nodes"]["alpha"]["error"] is None, "alpha's error after the fix: %r", st["nodes"]["alpha"]["error"])
    d.stop()
    env.assert_equals_compile(NODES)


def t_restart_after_edit(watch, mode):
    """An edit while the daemon is stopped: the restart publishes the files
    that differ, and only those (other inodes and mtimes untouched)."""
    env = Env(watch, mode, tree=base_tree())
    d = env.daemon()
    before = {n: snapshot(env.node_dir(n)) for n in NODES}
    g0 = env.status()["generation"]
    d.stop()
    env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", 8777)]))
    d = env.daemon()
    st = env.status()
    expect_eq(st["generation"], g0 + 1, "generation after a restart with one file changed")
    changed = {"eds/shared.pb"} | ({"eds/..data"} if mode == "watched_directory" else set())
    for n in NODES:
        after = snapshot(env.node_dir(n))
        diff = diff_snapshots({k: v for k, v in before[n].items() if k not in changed},
                              {k: v for k, v in after.items() if k not in changed}, "all")
        expect(not diff, "the restart touched more than eds/shared.pb in %s: %s", n, diff)
        expect_in("port_value: 8777", decode(os.path.join(env.node_dir(n), "eds/shared.pb")), "%s's endpoints" % n)
    d.stop()
    env.assert_equals_compile(NODES)


def t_crash_leftovers(watch, mode):
    """What a crash leaves (temporary names, ..data.tmp, half-built
    generation directories, store objects nothing links) is cleaned at
    start, and the live files are not republished for it."""
    env = Env(watch, mode, tree=base_tree())
    d = env.daemon()
    d.stop()
    before = {n: snapshot(env.node_dir(n)) for n in NODES}
    nd = env.node_dir("alpha")
    planted = []
    for t, name in (("eds", "shared.pb"), ("cds", "cds.pb"), ("lds", "lds.pb")):
        p = os.path.join(nd, t, ".tmp.%s.%016x" % (name, 0x1234abcd))
        write(p, "half", mode="w")
        planted.append(p)
    gen = os.path.join(nd, "rds", "..gen-9999")
    write(os.path.join(gen, "r0.pb"), "half")
    planted.append(gen)
    os.symlink("..gen-9999", os.path.join(nd, "rds", "..data.tmp"))
    planted.append(os.path.join(nd, "rds", "..data.tmp"))
    orphan = os.path.join(env.out, ".store", "0" * 64)
    write(orphan, "an object nothing links")
    planted.append(orphan)
    d = env.daemon()
    left = [p for p in planted if os.path.lexists(p)]
    expect(not left, "crash leftovers still there after a start: %r", left)
    for n in NODES:
        diff = diff_snapshots(before[n], snapshot(env.node_dir(n)), "all")
        expect(not diff, "cleaning leftovers republished %s: %s", n, diff)
    d.stop()


def t_tampered_output(watch, mode):
    """A published file changed in place while the daemon was stopped (an
    editor, a tool, a bad disk): it is a hard link of the store object, so
    the object changed with it. A restart republishes what differs from
    the build, so the file (and every node sharing it) is correct again."""
    env = Env(watch, mode, tree=base_tree())
    d = env.daemon()
    d.stop()
    p = os.path.join(env.node_dir("alpha"), "eds", "shared.pb")
    good = read(p)
    with open(p, "r+b") as f:  # same inode, same size, one byte different
        f.seek(len(good) - 1)
        f.write(bytes([good[-1] ^ 0x01]))
    with open(os.path.join(env.node_dir("alpha"), "cds", "cds.pb"), "r+b") as f:
        f.truncate(0)  # same inode, empty: Envoy would drop every cluster
    d = env.daemon()
    for n in NODES:
        for rel in node_files(env.node_dir(n)):
            problem = check_published_bytes(rel.split("/")[0], read(os.path.join(env.node_dir(n), rel)))
            expect(problem is None, "after a restart %s/%s is still broken: %s", n, rel, problem)
    d.stop()
    env.assert_equals_compile(NODES)


def t_output_group(watch):
    """output_group: every published file and directory belongs to it."""
    if os.geteuid() != 0:
        raise Skip("chown to another group needs root")
    import grp
    gid = grp.getgrnam("nogroup").gr_gid
    env = Env(watch, "watched_directory", tree=base_tree(), output_group="nogroup")
    d = env.daemon()
    for n in NODES:
        nd = env.node_dir(n)
        for root, dirs, files in os.walk(nd):
            for x in dirs + files:
                p = os.path.join(root, x)
                st = os.lstat(p)
                if os.path.islink(p):
                    continue
                expect_eq(st.st_gid, gid, "group of %s" % os.path.relpath(p, env.out))
        expect_eq(os.stat(nd).st_gid, gid, "group of %s/" % n)
    d.stop()


def t_watchdog(watch):
    """Under a watchdog (WATCHDOG_USEC) the daemon pings WATCHDOG=1."""
    env = Env(watch, "rename", tree=base_tree())
    d = env.daemon(extra_env={"WATCHDOG_USEC": "300000"})
    i = d.ready_index
    for k in range(3):
        i, _ = d.notify.wait(lambda m: m.get("WATCHDOG") == "1", i, what="WATCHDOG=1 #%d" % (k + 1), alive=d.alive)
        i += 1
    d.stop()


def t_sigterm_mid_publish(watch, mode):
    """SIGTERM while a generation is being published: the publish completes
    (every phase), then STOPPING=1 and exit status 0."""
    env = Env(watch, mode, tree=base_tree(), phase_pause="0.2s")
    d = env.daemon()
    rec = InotifyRecorder(IN_MOVED_TO)
    try:
        for t in ("eds", "cds", "rds", "lds"):
            rec.add(os.path.join(env.node_dir("alpha"), t), t)
        env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", 8999)]))
        env.write("common/cds.yaml", y_cluster("shared", "3s"))
        env.write("nodes/alpha/rds.yaml", y_routes("r0", [("/term", "shared")]))
        env.write("nodes/alpha/lds.yaml", y_listener("l0", 10000, "r0", "term"))
        rec.wait(lambda e: True, what="the first switch")
        d.stop()
    finally:
        rec.close()
    env.assert_equals_compile(NODES)


def t_check_config():
    env = Env("inotify", "rename")
    p = subprocess.run([FSXDSD, "--check-config", "--config", env.config_path], capture_output=True, text=True)
    expect_eq(p.returncode, 0, "--check-config of a good config (stderr %r)" % p.stderr)
    bad = env.write_config(path=os.path.join(env.root, "bad.yaml"), text='settle: "0.1s"\nsetle_max: "2s"\n')
    p = subprocess.run([FSXDSD, "--check-config", "--config", bad], capture_output=True, text=True)
    expect_eq(p.returncode, 1, "--check-config of a config with an unknown key")
    expect_in("%s:2:1" % bad, p.stderr, "--check-config's diagnostic")


def t_generation_recovered(watch, mode):
    """state_dir's generation counter missing, then garbage (issue 12,
    defect 11): fsxdsd goes on from the highest generation the published
    MANIFESTs name, and never publishes a generation number twice."""
    import json
    env = Env(watch, mode, tree=base_tree())
    manifest = os.path.join(env.node_dir("alpha"), "MANIFEST")
    seen = set()
    port = 8800
    counter = os.path.join(env.state, ".fsxds", "generation")  # state_dir format 2
    for damage in (None, "missing", "garbage"):
        if damage == "missing":
            os.unlink(counter)
        elif damage == "garbage":
            write(counter, "not a number\n")
        d = env.daemon()
        mark = d.mark()
        port += 1
        env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", port)]))
        g = env.status()["generation"]
        d.wait_generation(mark, g + 1)
        d.stop()
        gen = json.loads(read(manifest))["generation"]
        expect(gen not in seen, "generation %d published twice (after the counter was %s)", gen, damage)
        expect(not seen or gen > max(seen), "generation %d went back (%r before; counter %s)", gen, sorted(seen), damage)
        seen.add(gen)


if __name__ == "__main__":
    r = Runner("daemon-startup")
    for w, m in r.combos():
        r.run("startup[%s,%s]" % (w, m), t_startup, w, m)
        r.run("examples[%s,%s]" % (w, m), t_examples, w, m)
        r.run("restart-after-edit[%s,%s]" % (w, m), t_restart_after_edit, w, m)
        r.run("crash-leftovers[%s,%s]" % (w, m), t_crash_leftovers, w, m)
        r.run("tampered-output[%s,%s]" % (w, m), t_tampered_output, w, m)
        r.run("sigterm-mid-publish[%s,%s]" % (w, m), t_sigterm_mid_publish, w, m)
        r.run("generation-recovered[%s,%s]" % (w, m), t_generation_recovered, w, m)
    for w in BACKENDS:
        r.run("output-group[%s]" % w, t_output_group, w)
        r.run("watchdog[%s]" % w, t_watchdog, w)
        r.run("empty-tree[%s]" % w, t_empty, w)
        r.run("missing-source-dir[%s]" % w, t_missing_source, w)
        r.run("broken-tree[%s]" % w, t_broken, w)
    r.run("check-config", t_check_config)
    r.finish()
