# SPDX-License-Identifier: MIT
"""A bad source edit: the node keeps its last good output (no byte, inode
or mtime changes, no generation), STATUS= and status.json name the file,
line and column, other nodes still publish, and the fix recovers without a
restart. Reboot simulation: stop, wipe output_dir, break the tree, start:
the last good generation comes back from state_dir and the error is
reported. Both watch backends, both publish modes."""
import os
import stat
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

NODES = ["alpha", "beta"]
BAD_RDS = y_routes("r0", [("/", "shared")]).replace("virtual_hosts:", "virtual_hostz:")  # line 3, column 1


def expect_error(env, st, node, rel, line, column, word):
    err = st["nodes"][node]["error"]
    expect(err is not None, "%s has no error in status.json", node)
    expect_eq((err["file"], err["line"], err["column"]), (env.path(rel), line, column),
              "%s's error location in status.json" % node)
    expect_in(word, err["message"], "%s's error message" % node)


def t_bad_edit(watch, mode):
    env = Env(watch, mode, tree=base_tree())
    d = env.daemon()
    good = {n: snapshot(env.node_dir(n)) for n in NODES}
    g0 = env.status()["generation"]

    # ---- a bad edit in alpha's own file
    mark = d.mark()
    mv_write(env, "nodes/alpha/rds.yaml", BAD_RDS)
    _, st = d.wait_rebuild(mark)
    expect_error(env, st, "alpha", "nodes/alpha/rds.yaml", 3, 1, "virtual_hostz")
    expect(st["nodes"]["beta"]["error"] is None, "beta has an error: %r", st["nodes"]["beta"]["error"])
    expect_eq(st["generation"], g0, "generation after a bad edit")
    status = last_status(d, mark)
    expect_in("alpha", status, "STATUS=")
    expect_in("%s:3:1" % env.path("nodes/alpha/rds.yaml"), status, "STATUS=")
    for n in NODES:
        diff = diff_snapshots(good[n], snapshot(env.node_dir(n)), "all")
        expect(not diff, "a bad edit changed %s's output: %s", n, diff)
    p = env.fsxds("status", "--config", env.config_path)
    expect_in("%s:3:1" % env.path("nodes/alpha/rds.yaml"), p.stdout, "fsxds status")

    # ---- other nodes still publish meanwhile
    mark = d.mark()
    mv_write(env, "nodes/beta/config.yaml", y_simple("web", 10001, "beta_backend", "10.1.0.2", 80))
    st = d.wait_generation(mark, g0 + 1)
    expect_eq(st["generation"], g0 + 1, "generation after beta's edit")
    expect_in("10.1.0.2", decode(os.path.join(env.node_dir("beta"), "eds/beta_backend.pb")), "beta's endpoints")
    expect_error(env, st, "alpha", "nodes/alpha/rds.yaml", 3, 1, "virtual_hostz")
    diff = diff_snapshots(good["alpha"], snapshot(env.node_dir("alpha")), "all")
    expect(not diff, "alpha's output changed while broken: %s", diff)

    # ---- a second error in common/: both nodes keep their output, the error moves to the new first one
    beta_good = snapshot(env.node_dir("beta"))
    mark = d.mark()
    mv_write(env, "common/cds.yaml", y_cluster("shared").replace("lb_policy: ROUND_ROBIN", "lb_policy: ROUND_ROBINN"))
    _, st = d.wait_rebuild(mark)
    expect_error(env, st, "beta", "common/cds.yaml", 5, 12, "ROUND_ROBINN")
    expect(st["nodes"]["alpha"]["error"] is not None, "alpha has no error")
    expect(st["nodes"]["alpha"]["error"]["count"] >= 2, "alpha's error count %r", st["nodes"]["alpha"]["error"])
    expect_eq(st["generation"], g0 + 1, "generation after a bad edit of common/")
    expect(not diff_snapshots(beta_good, snapshot(env.node_dir("beta")), "all"), "beta's output changed")
    expect_in("2 with errors", last_status(d, mark), "STATUS=")

    # ---- the fixes recover without a restart
    mark = d.mark()
    mv_write(env, "common/cds.yaml", y_cluster("shared", "2s"))
    mv_write(env, "nodes/alpha/rds.yaml", y_routes("r0", [("/fixed", "shared")]))
    st = d.wait_generation(mark, g0 + 2)
    expect_eq(st["generation"], g0 + 2, "generation after the fix")
    for n in NODES:
        expect(st["nodes"][n]["error"] is None, "%s's error after the fix: %r", n, st["nodes"][n]["error"])
    expect_in('prefix: "/fixed"', decode(os.path.join(env.node_dir("alpha"), "rds/r0.pb")), "alpha's routes")
    expect_in('connect_timeout: "2s"', decode(os.path.join(env.node_dir("alpha"), "cds/cds.pb")), "alpha's cds")
    expect_in("all published", last_status(d, mark), "STATUS= after the fix")
    d.stop()
    env.assert_equals_compile(NODES)


def t_reboot(watch, mode):
    env = Env(watch, mode, tree=base_tree())
    d = env.daemon()
    last_good = {n: contents(snapshot(env.node_dir(n))) for n in NODES}
    g0 = env.status()["generation"]
    d.stop()

    # reboot: /run is empty, and the tree is broken for alpha
    shutil.rmtree(env.out)
    mv_write(env, "nodes/alpha/rds.yaml", BAD_RDS)
    mv_write(env, "common/eds.yaml", y_cla("shared", [("10.0.0.7", 8000)]))  # beta builds fine, with this
    d = env.daemon()
    st = env.status()
    expect_error(env, st, "alpha", "nodes/alpha/rds.yaml", 3, 1, "virtual_hostz")
    expect(st["nodes"]["beta"]["error"] is None, "beta: %r", st["nodes"]["beta"]["error"])
    status = [m["STATUS"] for m in d.notify.since(d.start_index)[:d.ready_index - d.start_index + 1]
              if "STATUS" in m]
    expect(status and "%s:3:1" % env.path("nodes/alpha/rds.yaml") in status[-1],
           "STATUS= before READY=1 does not name the error: %r", status)
    got = contents(snapshot(env.node_dir("alpha")))
    expect(got == last_good["alpha"], "alpha after the reboot is not its last good generation: %s",
           diff_snapshots({k: (v,) for k, v in last_good["alpha"].items()}, {k: (v,) for k, v in got.items()}))
    for rel in node_files(env.node_dir("alpha")):
        problem = check_published_bytes(rel.split("/")[0], read(os.path.join(env.node_dir("alpha"), rel)))
        expect(problem is None, "alpha/%s: %s", rel, problem)
        if mode == "watched_directory":
            expect(os.path.islink(os.path.join(env.node_dir("alpha"), rel)), "alpha/%s is not a symlink", rel)
    expect_in("10.0.0.7", decode(os.path.join(env.node_dir("beta"), "eds/shared.pb")), "beta's fresh build")
    expect(st["generation"] > g0, "the generation counter went back: %d after %d", st["generation"], g0)

    # the fix is published without a restart
    mark = d.mark()
    mv_write(env, "nodes/alpha/rds.yaml", y_routes("r0", [("/after-reboot", "shared")]))
    st = d.wait_generation(mark, st["generation"] + 1)
    expect(st["nodes"]["alpha"]["error"] is None, "alpha: %r", st["nodes"]["alpha"]["error"])
    d.stop()
    env.assert_equals_compile(NODES)

    # a reboot with state_dir lost as well: nothing to bring back, still READY=1
    shutil.rmtree(env.out)
    shutil.rmtree(env.state)
    mv_write(env, "nodes/alpha/rds.yaml", BAD_RDS)
    d = env.daemon()
    st = env.status()
    expect_error(env, st, "alpha", "nodes/alpha/rds.yaml", 3, 1, "virtual_hostz")
    expect(not os.path.exists(os.path.join(env.node_dir("alpha"), "lds", "lds.pb")),
           "alpha has output though nothing good was ever kept")
    d.stop()


def t_planted_symlinks(watch, mode):
    """Symlinks planted in the output (someone with write access to a node
    directory, or a stale layout) are never followed: nothing is written
    through them, and a symlink in place of a type directory or a file is
    replaced, not written through."""
    env = Env(watch, mode, tree=base_tree())
    d = env.daemon()
    victim = os.path.join(env.root, "victim")
    os.makedirs(victim)
    write(os.path.join(victim, "keep.pb"), "precious")
    # alpha's eds directory replaced by a symlink to another directory
    eds = os.path.join(env.node_dir("alpha"), "eds")
    shutil.rmtree(eds)
    os.symlink(victim, eds)
    # beta's cds.pb: in rename mode a symlink to a file outside
    cds = os.path.join(env.node_dir("beta"), "cds", "cds.pb")
    target = os.path.join(victim, "target.pb")
    write(target, "precious too")
    if mode == "rename":
        os.unlink(cds)
        os.symlink(target, cds)
    g0 = env.status()["generation"]
    mark = d.mark()
    env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", 8444)]))
    env.write("common/cds.yaml", y_cluster("shared", "4s"))
    st = d.wait_generation(mark, g0 + 1)
    expect(d.alive(), "fsxdsd died")
    expect_eq(sorted(os.listdir(victim)), ["keep.pb", "target.pb"], "the symlinked directory's entries")
    expect_eq(open(os.path.join(victim, "keep.pb")).read(), "precious", "a file behind the symlink")
    expect_eq(open(target).read(), "precious too", "the file a planted symlink points to")
    # eds/ is fsxds's own name: the link is removed (unfollowed) and the directory made again
    expect(os.path.isdir(eds) and not os.path.islink(eds), "alpha's planted eds symlink was not replaced")
    expect(st["nodes"]["alpha"]["error"] is None, "alpha: %r", st["nodes"]["alpha"]["error"])
    expect_in("port_value: 8444", decode(os.path.join(eds, "shared.pb")), "alpha's endpoints")
    expect_in("port_value: 8444", decode(os.path.join(env.node_dir("beta"), "eds/shared.pb")), "beta's endpoints")
    expect_in('connect_timeout: "4s"', decode(cds), "beta's cds")
    if mode == "rename":
        expect(not os.path.islink(cds), "beta's cds.pb is still a symlink")
    d.stop()


def t_rule_in_status(watch, mode):
    """A field constraint of Envoy's API broken: the node keeps its output,
    status.json names the file, line, column, path and the rule."""
    env = Env(watch, mode, tree=base_tree())
    d = env.daemon()
    g0 = env.status()["generation"]
    mark = d.mark()
    env.write("nodes/alpha/eds.yaml", y_cla("alpha_extra", [("10.0.0.7", 70000)]))
    _, st = d.wait_rebuild(mark)
    err = st["nodes"]["alpha"]["error"]
    expect(err is not None, "alpha has no error")
    expect_eq(err["rule"], "validate.uint32.lte", "the rule in status.json")
    expect_in("70000 is above the maximum 65535", err["message"], "the message in status.json")
    expect_in("port_value", err["path"], "the path in status.json")
    expect_eq(st["generation"], g0, "generation after the bad edit")
    d.stop()


def t_fifo_in_output(watch, mode):
    """A FIFO planted where a node's lds.pb was (issue 12, defect 1): the
    removal guard and the self-check read it without blocking (fsxds opens
    no FIFO for reading: it would wait for a writer forever), so the next
    edit is published and lds.pb is a file again; a restart with the FIFO
    in place reaches READY."""
    env = Env(watch, mode, tree=base_tree())
    env.write_config(verify_interval="1s")
    d = env.daemon()
    g = env.status()["generation"]
    lds = os.path.join(env.node_dir("alpha"), "lds", "lds.pb")
    for restart in (False, True):
        os.unlink(lds)
        os.mkfifo(lds)
        if restart:
            d.stop()
            d = env.daemon()  # waits for READY=1
            g = env.status()["generation"]
        mark = d.mark()
        env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", 8700 + restart)]))
        g += 1
        st = d.wait_generation(mark, g)
        expect_eq(st["generation"], g, "generation after an edit with a FIFO in the output")
        # the self-check (verify_interval) finds the node altered and publishes it again
        wait_until(lambda: stat.S_ISREG(os.stat(lds).st_mode), "alpha's lds.pb a regular file again")
        expect_in("port_value: %d" % (8700 + restart), decode(os.path.join(env.node_dir("beta"), "eds/shared.pb")),
                  "beta's endpoints")
    d.stop()
    env.assert_equals_compile(["alpha", "beta"])


def t_fifo_source(watch, mode):
    """A source file that is a FIFO (issue 12, defect 2: one swapped in between
    a stat and an open hung fsxdsd; the race itself is test-yamltree's
    fifo case): never a wait; the FIFO is alpha's error, the other nodes go on."""
    env = Env(watch, mode, tree=base_tree())
    d = env.daemon()
    g = env.status()["generation"]
    mark = d.mark()
    os.mkfifo(env.path("nodes/alpha/extra.yaml"))
    env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", 8711)]))
    st = d.wait_generation(mark, g + 1)
    # the FIFO is alpha's error (defect 3's policy: an entry with a source
    # name that is not a regular file), alpha keeps its last good output
    st = wait_until(lambda: (env.status()["nodes"]["alpha"]["error"] or {}).get("file") == env.path("nodes/alpha/extra.yaml")
                    and env.status(), "alpha's error naming the FIFO")
    expect_in("FIFO", st["nodes"]["alpha"]["error"]["message"], "alpha's error")
    expect_in("port_value: 8711", decode(os.path.join(env.node_dir("beta"), "eds/shared.pb")), "beta's endpoints")
    expect_in("port_value: 8000", decode(os.path.join(env.node_dir("alpha"), "eds/shared.pb")), "alpha's endpoints")
    d.stop()


if __name__ == "__main__":
    r = Runner("daemon-errors")
    for w, m in r.combos():
        r.run("bad-edit[%s,%s]" % (w, m), t_bad_edit, w, m)
        r.run("reboot[%s,%s]" % (w, m), t_reboot, w, m)
        r.run("planted-symlinks[%s,%s]" % (w, m), t_planted_symlinks, w, m)
    r.run("rule-in-status[inotify,rename]", t_rule_in_status, "inotify", "rename")
    for m in ("rename", "watched_directory"):
        r.run("fifo-in-output[inotify,%s]" % m, t_fifo_in_output, "inotify", m)
    r.run("fifo-source[inotify,rename]", t_fifo_source, "inotify", "rename")
    r.finish()
