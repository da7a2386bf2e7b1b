# SPDX-License-Identifier: MIT
"""Symbolic links in the source tree, the good cases (issue 14, section 3;
the hostile ones are tests/faults/sources.py).

A link is followed when its target's real path is inside source_dir, and
compiled as its target: a link to a file in a node directory, a link to a
directory in a node, and links in common/, one to a file in a
dot-directory (which the walk of the tree skips) and one to a file whose
name is no source name (*.txt). Each target edited (by rename, as editors
save, or in place) changes the output, also after its dot-directory is
swapped for another, or removed (the link dangles: an error naming it)
and made again; each link retargeted as `ln -sfn`
does (a new link renamed over the old one) to another file or directory
in the tree changes the output, and an edit of the new target does too; a
link retargeted out of source_dir is an error naming the link, the node
(every node, in common/) keeps its last good output, and retargeted back
inside it recovers. At every step `fsxds check` of the tree gives the
verdict the daemon gives (which nodes fail, at which path), and at the end
the output is `fsxds compile --node`'s. Both watch backends."""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

NODES = ["alpha", "beta"]


def tree():
    t = base_tree()
    # the targets: a plain directory of the tree, a dot-directory, a *.txt
    t["shared/alpha-rds.yaml"] = t.pop("nodes/alpha/rds.yaml")
    t["shared/alpha-rds-2.yaml"] = y_routes("r0", [("/v2", "shared")])
    t["shared/beta-extra/cds.yaml"] = y_docs(y_cluster("beta_extra"), y_cla("beta_extra", [("10.3.0.1", 80)]))
    t["shared/beta-extra-2/cds.yaml"] = y_docs(y_cluster("beta_extra"), y_cla("beta_extra", [("10.3.0.9", 80)]))
    t[".hidden/cds.yaml"] = t.pop("common/cds.yaml")
    t["shared/eds.txt"] = t.pop("common/eds.yaml")
    t[".hidden/eds-2.txt"] = y_cla("shared", [("10.0.0.7", 8000)])
    return t


LINKS = {
    "nodes/alpha/rds.yaml": "../../shared/alpha-rds.yaml",  # a file, in a node
    "nodes/beta/extra": "../../shared/beta-extra",  # a directory, in a node
    "common/cds.yaml": "../.hidden/cds.yaml",  # in common/, into a dot-directory
    "common/eds.yaml": "../shared/eds.txt",  # in common/, to a name that is no source name
}


def ln_sfn(env, rel, target):
    """What `ln -sfn TARGET LINK` does: a new link renamed over the old."""
    tmp = env.path(rel) + ".tmp-link"
    os.symlink(target, tmp)
    os.rename(tmp, env.path(rel))


def save(env, rel, text, in_place=False):
    p = env.path(rel)
    if in_place:
        with open(p, "w") as f:
            f.write(text)
        return
    write(p + ".swp", text)
    os.rename(p + ".swp", p)


def out(env, node, rel):
    return decode(os.path.join(env.node_dir(node), rel))


def follows(env, node, rel, needle, what):
    """The output ends up holding needle: waited for, with the harness's
    generous timeout (a change the daemon misses never gets there)."""
    wait_until(lambda: os.path.exists(os.path.join(env.node_dir(node), rel)) and needle in out(env, node, rel),
               "%s: %s/%s to hold %r" % (what, node, rel, needle))


def node_error(st, node):
    return (st["nodes"].get(node) or {}).get("error")


def agree(env, what):
    """fsxds check of the tree fails the nodes the daemon fails, at the
    same path, and passes the others."""
    st = env.status()
    p = env.fsxds("check", "--json", env.src, expect=None)
    d = json.loads(p.stdout)
    groups = {g["node"]: g for g in d["groups"]}
    common = groups.get("(common)", {"errors": 0, "diagnostics": []})
    for n in NODES:
        err = node_error(st, n)
        files = [x["file"] for x in groups[n]["diagnostics"] + common["diagnostics"] if x["level"] == "error"]
        expect((err is None) == (groups[n]["errors"] + common["errors"] == 0),
               "%s: fsxdsd says %s for %s, fsxds check %d errors (%s)", what,
               "ok" if err is None else "%s: %s" % (err["file"], err["message"]), n,
               groups[n]["errors"] + common["errors"], files)
        if err is not None:
            expect(err["file"] in files, "%s: fsxdsd's error for %s is at %s, fsxds check's at %s", what, n,
                   err["file"], files)
    expect_eq(p.returncode, 1 if any(node_error(st, n) for n in NODES) else 0, "%s: fsxds check's exit" % what)


def t_links(watch, mode):
    env = Env(watch, mode, tree=tree(), settle="0.1s")
    for rel, target in LINKS.items():
        os.makedirs(os.path.dirname(env.path(rel)), exist_ok=True)
        os.symlink(target, env.path(rel))
    d = env.daemon()

    # ---- each link compiled as its target
    st = env.status()
    for n in NODES:
        expect(node_error(st, n) is None, "%s fails at start: %s", n, node_error(st, n))
    expect_in('prefix: "/"', out(env, "alpha", "rds/r0.pb"), "alpha's routes (a file link in a node)")
    expect_in("10.3.0.1", out(env, "beta", "eds/beta_extra.pb"), "beta's endpoints (a directory link in a node)")
    expect_in('connect_timeout: "1s"', out(env, "alpha", "cds/cds.pb"), "common/'s cluster (into a dot-directory)")
    expect_in("10.0.0.1", out(env, "beta", "eds/shared.pb"), "common/'s endpoints (a *.txt target)")
    agree(env, "at start")

    # ---- each target edited: the output follows
    save(env, "shared/alpha-rds.yaml", y_routes("r0", [("/v1", "shared")]))
    follows(env, "alpha", "rds/r0.pb", '"/v1"', "the target of a file link in a node edited")
    save(env, "shared/beta-extra/cds.yaml", y_docs(y_cluster("beta_extra"), y_cla("beta_extra", [("10.3.0.2", 80)])))
    follows(env, "beta", "eds/beta_extra.pb", "10.3.0.2", "a file in the target of a directory link edited")
    save(env, ".hidden/cds.yaml", y_cluster("shared", timeout="2s"))
    for n in NODES:
        follows(env, n, "cds/cds.pb", 'connect_timeout: "2s"', "a target in a dot-directory edited")
    save(env, "shared/eds.txt", y_cla("shared", [("10.0.0.2", 8000)]))
    follows(env, "alpha", "eds/shared.pb", "10.0.0.2", "a *.txt target edited by rename")
    save(env, "shared/eds.txt", y_cla("shared", [("10.0.0.3", 8000)]), in_place=True)
    follows(env, "alpha", "eds/shared.pb", "10.0.0.3", "a *.txt target edited in place")
    save(env, ".hidden/cds.yaml", y_cluster("shared", timeout="3s"), in_place=True)
    follows(env, "beta", "cds/cds.pb", 'connect_timeout: "3s"', "a target in a dot-directory edited in place")
    # the dot-directory swapped for a new one at once (as a ConfigMap's
    # directory is), then the new one's file edited
    shutil.copytree(env.path(".hidden"), env.path(".hidden-new"), symlinks=True)
    write(env.path(".hidden-new/cds.yaml"), y_cluster("shared", timeout="5s"))
    renameat2_exchange(env.path(".hidden-new"), env.path(".hidden"))
    follows(env, "alpha", "cds/cds.pb", 'connect_timeout: "5s"', "the dot-directory of a target swapped")
    shutil.rmtree(env.path(".hidden-new"))
    save(env, ".hidden/cds.yaml", y_cluster("shared", timeout="3s"))
    follows(env, "alpha", "cds/cds.pb", 'connect_timeout: "3s"', "a target in a swapped dot-directory edited")
    # the dot-directory removed: the link dangles, every node names it and
    # keeps its output; made again with the file, they recover
    good = {n: snapshot(env.node_dir(n)) for n in NODES}
    shutil.rmtree(env.path(".hidden"))
    st = wait_until(lambda: all(node_error(env.status(), n) for n in NODES) and env.status(),
                    "every node's error for a dangling link in common/")
    for n in NODES:
        expect_eq(node_error(st, n)["file"], env.path("common/cds.yaml"), "%s's error's path" % n)
        expect(not diff_snapshots(good[n], snapshot(env.node_dir(n)), "all"), "%s's output changed", n)
    agree(env, "a dangling link in common/")
    os.mkdir(env.path(".hidden"))
    write(env.path(".hidden/eds-2.txt"), y_cla("shared", [("10.0.0.7", 8000)]))
    save(env, ".hidden/cds.yaml", y_cluster("shared", timeout="6s"))
    wait_until(lambda: not any(node_error(env.status(), n) for n in NODES), "recovery once the target is back")
    follows(env, "beta", "cds/cds.pb", 'connect_timeout: "6s"', "a dangling link's target made again")
    d.barrier("nodes/beta/config.yaml")
    agree(env, "after the edits")

    # ---- each link retargeted inside the tree: the output follows, and
    # so does an edit of the new target
    ln_sfn(env, "nodes/alpha/rds.yaml", "../../shared/alpha-rds-2.yaml")
    follows(env, "alpha", "rds/r0.pb", '"/v2"', "a file link in a node retargeted")
    save(env, "shared/alpha-rds-2.yaml", y_routes("r0", [("/v3", "shared")]))
    follows(env, "alpha", "rds/r0.pb", '"/v3"', "the new target of a file link edited")
    ln_sfn(env, "nodes/beta/extra", "../../shared/beta-extra-2")
    follows(env, "beta", "eds/beta_extra.pb", "10.3.0.9", "a directory link in a node retargeted")
    ln_sfn(env, "common/eds.yaml", "../.hidden/eds-2.txt")
    follows(env, "beta", "eds/shared.pb", "10.0.0.7", "a link in common/ retargeted")
    save(env, ".hidden/eds-2.txt", y_cla("shared", [("10.0.0.8", 8000)]))
    follows(env, "alpha", "eds/shared.pb", "10.0.0.8", "the new target of a link in common/ edited")
    # the old target is no source any more: its edits change nothing
    save(env, "shared/eds.txt", y_cla("shared", [("10.0.0.66", 8000)]))
    d.barrier("nodes/beta/config.yaml")
    expect("10.0.0.66" not in out(env, "alpha", "eds/shared.pb"), "the old target of a retargeted link is read")
    agree(env, "after the retargets")

    # ---- a link retargeted out of source_dir: refused, naming the link;
    # the node keeps its last good output; back inside, it recovers
    outside = os.path.join(env.root, "outside.yaml")
    write(outside, y_routes("r0", [("/outside", "shared")]))
    good = {n: snapshot(env.node_dir(n)) for n in NODES}
    mark = d.mark()
    ln_sfn(env, "nodes/alpha/rds.yaml", outside)
    d.wait_rebuild(mark)
    st = wait_until(lambda: node_error(env.status(), "alpha") and env.status(), "alpha's error for a link out")
    err = node_error(st, "alpha")
    expect_eq(err["file"], env.path("nodes/alpha/rds.yaml"), "the error's path")
    expect_in("outside source_dir", err["message"], "the error's message")
    expect(node_error(st, "beta") is None, "beta fails: %s", node_error(st, "beta"))
    expect(not diff_snapshots(good["alpha"], snapshot(env.node_dir("alpha")), "all"), "alpha's output changed")
    agree(env, "a file link in a node out of the tree")
    p = env.fsxds("check", env.src, expect=1)
    expect_in("%s: error: symbolic link to %s, outside source_dir" % (env.path("nodes/alpha/rds.yaml"), outside),
              p.stdout, "fsxds check")
    # an edit of the outside file is never read
    mark = d.mark()
    save(env, "nodes/beta/config.yaml", y_simple("web", 10002, "beta_backend", "10.1.0.1", 80))
    d.wait_rebuild(mark)
    expect("/outside" not in out(env, "alpha", "rds/r0.pb"), "the outside file was read")
    ln_sfn(env, "nodes/alpha/rds.yaml", "../../shared/alpha-rds.yaml")
    wait_until(lambda: node_error(env.status(), "alpha") is None, "alpha's recovery")
    follows(env, "alpha", "rds/r0.pb", '"/v1"', "a link back inside")
    agree(env, "a file link back inside")

    # the same in common/: every node keeps its output, until it is back
    good = {n: snapshot(env.node_dir(n)) for n in NODES}
    mark = d.mark()
    ln_sfn(env, "common/cds.yaml", outside)
    d.wait_rebuild(mark)
    st = wait_until(lambda: all(node_error(env.status(), n) for n in NODES) and env.status(),
                    "every node's error for a link out in common/")
    for n in NODES:
        expect_eq(node_error(st, n)["file"], env.path("common/cds.yaml"), "%s's error's path" % n)
        expect(not diff_snapshots(good[n], snapshot(env.node_dir(n)), "all"), "%s's output changed", n)
    agree(env, "a link in common/ out of the tree")
    ln_sfn(env, "common/cds.yaml", "../.hidden/cds.yaml")
    wait_until(lambda: not any(node_error(env.status(), n) for n in NODES), "recovery of every node")
    save(env, ".hidden/cds.yaml", y_cluster("shared", timeout="4s"))
    follows(env, "alpha", "cds/cds.pb", 'connect_timeout: "4s"', "a dot-directory target edited after the recovery")
    # a chain of links through dot-directories: its middle link retargeted,
    # then the new end edited (review finding: the middle link was not watched)
    write(env.path(".chain-b/eds.txt"), y_cla("shared", [("10.0.0.21", 8000)]))
    write(env.path(".chain-c/eds.txt"), y_cla("shared", [("10.0.0.22", 8000)]))
    os.makedirs(env.path(".chain-a"))
    os.symlink("../.chain-b/eds.txt", env.path(".chain-a/l1"))
    ln_sfn(env, "common/eds.yaml", "../.chain-a/l1")
    follows(env, "alpha", "eds/shared.pb", "10.0.0.21", "a link to a link")
    ln_sfn(env, ".chain-a/l1", "../.chain-c/eds.txt")
    follows(env, "alpha", "eds/shared.pb", "10.0.0.22", "a chain's middle link retargeted")
    save(env, ".chain-c/eds.txt", y_cla("shared", [("10.0.0.23", 8000)]))
    follows(env, "alpha", "eds/shared.pb", "10.0.0.23", "the new end of the chain edited")
    d.barrier("nodes/beta/config.yaml")
    agree(env, "at the end")
    d.stop()
    env.assert_equals_compile(NODES)


def main():
    r = Runner("links")
    for w, m in r.combos(modes=("rename",)):
        r.run("links-%s-%s" % (w, m), t_links, w, m)
    r.finish()


main()
