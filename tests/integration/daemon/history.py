# SPDX-License-Identifier: MIT
"""Generation history, rollback and the pin (issue 15): fsxdsd records an
entry per generation in state_dir/history/<node>/ (changed files only,
their objects hard-linked), prunes to `history:`, `fsxds history` lists
them; `fsxds rollback NODE GEN` publishes GEN's files again as a new
generation through make-before-break (an inotify reader sees no missing
dependency), under the removal guard, and pins the node until `fsxds
unpin`, across a restart; `fsxds forget` removes history and pin.
inotify, rename mode (the history does not depend on the backend)."""
import hashlib
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

NODE = "alpha"


def tree():
    t = base_tree()
    t["nodes/alpha/cds.yaml"] = y_docs(y_cluster("a1"), y_cla("a1", [("10.0.0.11", 80)]))
    return t


def hist_dir(env, node=NODE):
    return os.path.join(env.state, "history", node)


def entries(env, node=NODE):
    d = hist_dir(env, node)
    if not os.path.isdir(d):
        return []
    return sorted(int(n[:-5]) for n in os.listdir(d) if n.endswith(".json"))


def objects(env, node=NODE):
    d = os.path.join(hist_dir(env, node), "objects")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def entry(env, gen, node=NODE):
    with open(os.path.join(hist_dir(env, node), "%d.json" % gen)) as f:
        return json.load(f)


def files_sha(env, node=NODE):
    """path -> sha256 of every .pb of the node's output directory"""
    out = {}
    for rel, data in contents(snapshot(env.node_dir(node))).items():
        out[rel] = hashlib.sha256(data).hexdigest()
    return out


def history_json(env, node=NODE, expect=0):
    p = env.fsxds("history", "--json", "--config", env.config_path, node, expect=expect)
    return json.loads(p.stdout) if expect == 0 else p


def bump(d, env, port, cluster_count=1):
    """A change of one endpoint of a1: one changed file (eds/a1.pb)."""
    mark = d.mark()
    g = env.status()["generation"]
    env.write("nodes/alpha/cds.yaml", y_docs(y_cluster("a1"), y_cla("a1", [("10.0.0.11", port)])))
    return d.wait_generation(mark, g + 1)


def t_recorded():
    env = Env(tree=tree())
    d = env.daemon()
    g1 = env.status()["nodes"][NODE]["generation"]
    expect_eq(entries(env), [g1], "entries after the first generation")
    e = entry(env, g1)
    n_files = len(files_sha(env))
    expect_eq(e["n_files"], n_files, "n_files of the first entry")
    expect(all(c["was"] == "" for c in e["changes"]), "the first entry lists every file as added: %r", e)
    expect_eq(len(e["changes"]), n_files, "changes of the first entry")
    objs = objects(env)
    expect_eq(len(objs), n_files, "objects after the first entry")
    # the source digest: sha256 over "path sha256\n" of common/ and nodes/alpha/
    lines = []
    for top in ("common", "nodes/alpha"):
        for dp, _, fs in os.walk(env.path(top)):
            for f in fs:
                rel = os.path.relpath(os.path.join(dp, f), env.src)
                lines.append("%s %s\n" % (rel, hashlib.sha256(read(os.path.join(dp, f))).hexdigest()))
    want = hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()
    expect_eq(e["source_sha256"], want, "source_sha256")

    # one endpoint changed: one changed file, one more object
    st = bump(d, env, 81)
    g2 = st["nodes"][NODE]["generation"]
    expect_eq(entries(env), [g1, g2], "entries")
    e2 = entry(env, g2)
    expect_eq([c["path"] for c in e2["changes"]], ["eds/a1.pb"], "changes of the second entry")
    expect_eq(e2["changes"][0]["was"], files_sha_of(e, "eds/a1.pb"), "was of eds/a1.pb")
    expect_eq(len(objects(env)), n_files + 1, "objects after a one-file change (unchanged files cost nothing)")
    # a change of another node's file only: no entry for alpha
    mark = d.mark()
    env.write("nodes/beta/config.yaml", y_simple("web", 10001, "beta_backend", "10.1.0.2", 80))
    d.wait_generation(mark, st["generation"] + 1)
    expect_eq(entries(env), [g1, g2], "alpha's entries after beta's change")

    h = history_json(env)
    expect_eq([x["generation"] for x in h["generations"]], [g2, g1], "fsxds history's generations, newest first")
    expect(h["generations"][0]["live"] and not h["generations"][1]["live"], "live: %r", h)
    expect_eq(h["generations"][0]["changes"][0]["change"], "changed", "fsxds history's change")
    text = env.fsxds("history", "-v", "--config", env.config_path, NODE).stdout
    expect_in("~ eds/a1.pb", text, "fsxds history -v")
    expect_in(e2["source_sha256"][:12], text, "fsxds history (source digest)")
    expect_in("live", text, "fsxds history")
    p = env.fsxds("history", "--config", env.config_path, "alpah", expect=1)
    expect_in("did you mean alpha", p.stderr, "fsxds history of an unknown node")
    d.stop()


def files_sha_of(e, path):
    for c in e["changes"]:
        if c["path"] == path:
            return c["sha256"]
    raise AssertionError("%s not in %r" % (path, e))


def t_pruned():
    env = Env(tree=tree(), history=3)
    # an integer, not a string
    env.write_config(text=open(env.config_path).read().replace('history: "3"', "history: 3"))
    d = env.daemon()
    n_files = len(files_sha(env))
    sizes = []
    for i in range(20):
        bump(d, env, 100 + i)
        sizes.append((len(entries(env)), len(objects(env)), len(os.listdir(os.path.join(env.state, "nodes", ".store")))))
    expect_eq(len(entries(env)), 3, "entries kept with history: 3")
    # the kept entries need the objects of their changes (either side)
    needed = set()
    for g in entries(env):
        for c in entry(env, g)["changes"]:
            needed |= {c["sha256"], c["was"]} - {""}
    objs = set(objects(env))
    expect(needed <= objs, "objects a kept entry needs are missing: %r", needed - objs)
    expect(len(objs) <= n_files + 3, "history objects not bounded: %d (files %d)", len(objs), n_files)
    expect(max(s[1] for s in sizes[5:]) == min(s[1] for s in sizes[5:]), "objects grow: %r", sizes)
    expect(max(s[2] for s in sizes[5:]) == min(s[2] for s in sizes[5:]), "the state store grows: %r", sizes)
    # every kept generation is rollbackable (checked by fsxds, no daemon needed)
    gens = entries(env)
    p = env.fsxds("rollback", "--config", env.config_path, NODE, str(gens[0] - 1), expect=1)
    expect_in("not in its history", p.stderr, "rollback of a pruned generation")
    p = env.fsxds("rollback", "--config", env.config_path, NODE, "999999", expect=1)
    expect_in("not in its history", p.stderr, "rollback of an unknown generation")
    d.stop()


if __name__ == "__main__":
    r = Runner("history")
    r.run("recorded", t_recorded)
    r.run("pruned", t_pruned)
    r.finish()
