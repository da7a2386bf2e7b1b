# SPDX-License-Identifier: MIT
"""Generation history, rollback and the pin (issue 15): fsxdsd records an
entry per generation in state_dir/history/<node>/ (changed files only,
their objects hard-linked), prunes to `history:`, `fsxds history` lists
them; `fsxds rollback NODE GEN` publishes GEN's files again as a new
generation through make-before-break (an inotify reader sees no missing
dependency), under the removal guard, and pins the node until `fsxds
unpin`, across a restart; `fsxds forget` removes history and pin.
inotify (the history does not depend on the backend); rename mode, and
both publish modes for the make-before-break rollback."""
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


def files_digest(files):
    """files_digest as fsxds(1) defines it: the sum modulo 2**256 of
    sha256("path\\0sha256") over every file, as 64 hex digits"""
    total = 0
    for path, sha in files.items():
        total += int(hashlib.sha256(path.encode() + b"\0" + sha.encode()).hexdigest(), 16)
    return "%064x" % (total % 2 ** 256)


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
    expect_eq(e["files_digest"], files_digest(files_sha(env)), "files_digest of the first entry")

    # one endpoint changed: one changed file, one more object
    st = bump(d, env, 81)
    g2 = st["nodes"][NODE]["generation"]
    expect_eq(entries(env), [g1, g2], "entries")
    e2 = entry(env, g2)
    expect_eq([c["path"] for c in e2["changes"]], ["eds/a1.pb"], "changes of the second entry")
    expect_eq(e2["changes"][0]["was"], files_sha_of(e, "eds/a1.pb"), "was of eds/a1.pb")
    expect_eq(e2["files_digest"], files_digest(files_sha(env)), "files_digest after one change (updated by it alone)")
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


# ---------------------------------------------------------------- rollback


def faults_reader():
    """tests/faults/reader.py: an Envoy-like reader that checks, at each
    lds.pb / cds.pb renamed in, that every file it names exists."""
    import importlib.util
    path = os.path.join(SOURCE_ROOT, "tests", "faults", "reader.py")
    spec = importlib.util.spec_from_file_location("faults_reader", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def added_tree(base, n=1):
    """base plus, on alpha, clusters c1..cn and a listener l1 whose route
    configuration r1 routes to them"""
    t = dict(base)
    for i in range(1, n + 1):
        t["nodes/alpha/c%d.yaml" % i] = y_docs(y_cluster("c%d" % i), y_cla("c%d" % i, [("10.2.1.%d" % i, 80)]))
    t["nodes/alpha/l1.yaml"] = y_docs(y_listener("l1", 10100, "r1"),
                                      y_routes("r1", [("/c%d" % i, "c%d" % i) for i in range(1, n + 1)]))
    return t


def publish_tree(d, env, t):
    """Writes t over the tree (files t lacks under nodes/alpha removed); one generation."""
    mark = d.mark()
    g = env.status()["generation"]
    for rel in list(os.listdir(env.path("nodes/alpha"))):
        if "nodes/alpha/" + rel not in t:
            os.unlink(env.path("nodes/alpha/" + rel))
    for rel, text in t.items():
        if not os.path.exists(env.path(rel)) or read(env.path(rel)).decode() != text:
            env.write(rel, text)
    return d.wait_generation(mark, g + 1)


def rollback(env, gen, node=NODE, expect=0):
    return env.fsxds("rollback", "--config", env.config_path, node, str(gen), expect=expect)


def alpha_gen(env):
    return env.status()["nodes"][NODE]["generation"]


def check_manifest(env, gen):
    """the node's MANIFEST names the generation and lists exactly the files there"""
    with open(os.path.join(env.node_dir(NODE), "MANIFEST")) as f:
        m = json.load(f)
    expect_eq(m["generation"], gen, "MANIFEST's generation")
    expect_eq({x["path"]: x["sha256"] for x in m["files"]}, files_sha(env), "MANIFEST's files")


def edit_a1(d, env, port):
    """a change of a1's endpoint, and a rebuild that saw it"""
    env.write("nodes/alpha/cds.yaml", y_docs(y_cluster("a1"), y_cla("a1", [("10.0.0.11", port)])))
    return d.barrier("nodes/alpha/cds.yaml")


def t_rollback_make_before_break(mode):
    fr = faults_reader()
    env = Env("inotify", mode, tree=fr.tree(), max_removal=1.0)
    d = env.daemon()
    ga, files_a = alpha_gen(env), files_sha(env)
    st = publish_tree(d, env, added_tree(fr.tree()))
    gb, files_b = alpha_gen(env), files_sha(env)
    expect("cds/cds.pb" in files_b and "eds/c1.pb" in files_b and "rds/r1.pb" in files_b, "gen b: %r", files_b)
    rd = fr.Reader(env)
    try:
        p = rollback(env, ga)
        expect_in("generation", p.stdout, "fsxds rollback")
        expect_in("pinned", p.stdout, "fsxds rollback")
        st = env.status()
        gr = st["nodes"][NODE]["generation"]
        expect(gr > gb, "the rollback's generation %d is not new (b: %d)", gr, gb)
        expect_eq(files_sha(env), files_a, "the output after rolling back to generation %d" % ga)
        pin = st["nodes"][NODE].get("pinned")
        expect(pin and pin["rollback_of"] == ga and pin["generation"] == gr, "pinned: %r", pin)
        check_manifest(env, gr)
        expect_eq(entry(env, gr)["rollback_of"], ga, "the rollback's history entry")
        expect_eq(entry(env, gr)["source_sha256"], entry(env, ga)["source_sha256"], "the rollback's source digest")
        # and forward again (while pinned)
        p = rollback(env, gb)
        gf = alpha_gen(env)
        expect(gf > gr, "the roll forward's generation %d is not new", gf)
        expect_eq(files_sha(env), files_b, "the output after rolling forward to generation %d" % gb)
        check_manifest(env, gf)
        d.stop()
    finally:
        result = rd.finish()
    expect(not result["errors"], "the reader saw problems: %s", "\n    ".join(result["errors"][:10]))
    expect(not result["misses"], "the reader saw missing references: %r", result["misses"][:5])
    expect(result["reads"] > 0 and result["removals"] > 0, "the reader saw nothing to check: %r", result)


def t_pin():
    env = Env(tree=tree())
    d = env.daemon()
    g1 = alpha_gen(env)
    bump(d, env, 81)
    pinned_files = None
    rollback(env, g1)
    pinned_files = files_sha(env)
    gp = alpha_gen(env)
    # a tree edit: built and checked, not published
    st = edit_a1(d, env, 82)
    expect_eq(alpha_gen(env), gp, "a pinned node's generation after a tree edit")
    expect_eq(files_sha(env), pinned_files, "a pinned node's output after a tree edit")
    expect(st["nodes"][NODE]["pinned"]["held"] is True, "held after a tree edit: %r", st["nodes"][NODE])
    out = env.fsxds("status", "--config", env.config_path).stdout
    expect_in("pinned at gen %d (rollback of %d)" % (gp, g1), out, "fsxds status")
    status_line = [m["STATUS"] for m in d.notify.since(0) if "STATUS" in m][-1]
    expect_in("alpha pinned at generation %d (rollback of %d), tree changes held" % (gp, g1), status_line, "STATUS=")
    # an error in the tree is still reported
    env.write("nodes/alpha/cds.yaml", "name: [unclosed\n")
    st = d.barrier("nodes/alpha/cds.yaml")
    expect(st["nodes"][NODE]["error"] is not None, "no error reported for a pinned node: %r", st["nodes"][NODE])
    expect_eq(files_sha(env), pinned_files, "a pinned node's output after a broken edit")
    st = edit_a1(d, env, 83)
    expect(st["nodes"][NODE]["error"] is None, "the error stays: %r", st["nodes"][NODE])
    # a restart: still pinned, output unchanged
    d.stop()
    d = env.daemon()
    st = env.status()
    expect(st["nodes"][NODE].get("pinned") and st["nodes"][NODE]["pinned"]["generation"] == gp,
           "pinned after a restart: %r", st["nodes"][NODE])
    expect_eq(files_sha(env), pinned_files, "a pinned node's output after a restart")
    expect_eq(st["nodes"][NODE]["files"], len(pinned_files), "a pinned node's files in status after a restart")
    expect_eq(st["nodes"][NODE]["listeners"], 1, "a pinned node's listeners in status after a restart")
    # a reboot (output_dir empty): the pinned generation comes back from the last good copy, not the tree
    d.stop()
    shutil.rmtree(env.out)
    d = env.daemon()
    expect_eq(files_sha(env), pinned_files, "a pinned node's output after a reboot")
    expect(env.status()["nodes"][NODE].get("pinned"), "not pinned after a reboot")
    # unpin: the tree is published
    p = env.fsxds("unpin", "--config", env.config_path, NODE)
    expect_in("unpinned", p.stdout, "fsxds unpin")
    st = env.status()
    expect(not st["nodes"][NODE].get("pinned"), "still pinned: %r", st["nodes"][NODE])
    expect(alpha_gen(env) > gp, "unpinned, but no new generation")
    expect_in("generation %d" % alpha_gen(env), p.stdout, "fsxds unpin")
    d.stop()
    env.assert_equals_compile(["alpha", "beta"])
    env.fsxds("unpin", "--config", env.config_path, NODE, expect=1)


def t_rollback_guard():
    env = Env(tree=tree())  # max_removal 0.5 (the default)
    d = env.daemon()
    ga, files_a = alpha_gen(env), files_sha(env)
    publish_tree(d, env, added_tree(tree(), 3))
    gb, files_b = alpha_gen(env), files_sha(env)
    p = rollback(env, ga, expect=1)
    expect_in("allow-removal", p.stderr, "fsxds rollback refused by the guard")
    expect_eq(files_sha(env), files_b, "the output after a refused rollback")
    expect(not env.status()["nodes"][NODE].get("pinned"), "pinned after a refused rollback")
    expect(not os.path.exists(os.path.join(env.state, "pin", NODE)), "a pin after a refused rollback")
    env.fsxds("allow-removal", "--config", env.config_path, NODE)
    rollback(env, ga)
    expect_eq(files_sha(env), files_a, "the output after an allowed rollback")
    expect(env.status()["nodes"][NODE]["pinned"]["rollback_of"] == ga, "not pinned")
    d.stop()


def t_rollback_without_daemon():
    env = Env(tree=tree())
    d = env.daemon()
    g1, files_1 = alpha_gen(env), files_sha(env)
    bump(d, env, 81)
    d.stop()
    p = rollback(env, g1, expect=3)
    expect_in("next start", p.stdout, "fsxds rollback without fsxdsd")
    expect(os.path.exists(os.path.join(env.state, "rollback", NODE)), "no request left")
    d = env.daemon()
    wait_until(lambda: not os.path.exists(os.path.join(env.state, "rollback", NODE)), "the request to be taken")
    wait_until(lambda: env.status()["nodes"][NODE].get("pinned"), "the node to be pinned")
    expect_eq(files_sha(env), files_1, "the output after the rollback taken at start")
    d.stop()


def t_forget():
    env = Env(tree=tree())
    d = env.daemon()
    gb = env.status()["nodes"]["beta"]["generation"]
    rollback(env, gb, node="beta")
    expect(os.path.isdir(hist_dir(env, "beta")) and os.path.exists(os.path.join(env.state, "pin", "beta")),
           "beta has no history or pin")
    shutil.rmtree(env.path("nodes/beta"))
    d.barrier("common/cds.yaml")
    env.fsxds("forget", "--config", env.config_path, "beta")
    expect(not os.path.exists(hist_dir(env, "beta")), "forget left beta's history")
    expect(not os.path.exists(os.path.join(env.state, "pin", "beta")), "forget left beta's pin")
    expect(os.path.isdir(hist_dir(env)), "forget removed alpha's history")
    d.stop()


def t_history_off():
    env = Env(tree=tree())
    d = env.daemon()
    d.stop()
    expect(os.path.isdir(os.path.join(env.state, "history")), "no history with the default")
    env.write_config(text=open(env.config_path).read() + "history: 0\n")
    d = env.daemon()
    expect(not os.path.exists(os.path.join(env.state, "history")), "history: 0 kept the history")
    bump(d, env, 90)
    expect(not os.path.exists(os.path.join(env.state, "history")), "history: 0 recorded one")
    d.stop()


if __name__ == "__main__":
    r = Runner("history")
    r.run("recorded", t_recorded)
    r.run("pruned", t_pruned)
    for m in MODES:
        r.run("rollback-make-before-break[%s]" % m, t_rollback_make_before_break, m)
    r.run("pin", t_pin)
    r.run("rollback-guard", t_rollback_guard)
    r.run("rollback-without-daemon", t_rollback_without_daemon)
    r.run("forget", t_forget)
    r.run("history-off", t_history_off)
    r.finish()
