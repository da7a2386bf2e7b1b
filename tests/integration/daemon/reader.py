# SPDX-License-Identifier: MIT
"""What a reader of the node directories sees while fsxdsd works: a
separate process opens every file of every node directory by path, over and
over, reads it and parses the DiscoveryResponse completely, during 1,000
rapid source edits and then during repeated `kill -9` of the daemon
mid-publish (each followed by a restart). It must never see a missing,
extra, partial, empty or undecodable file. Afterwards the output equals a
fresh `fsxdsd --once` build, no crash leftovers remain, and state_dir holds
the same last good copy. Both watch backends, both publish modes."""
import json
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

NODES = ["alpha", "beta"]
EDITS = int(os.environ.get("FSXDS_TEST_EDITS", "1000"))
KILLS = int(os.environ.get("FSXDS_TEST_KILLS", "8"))


def reader_main(out, stopfile, resultfile, expected):
    reads = 0
    errors = []
    versions = {}
    passes = 0

    def error(msg):
        if len(errors) < 50:
            errors.append("%.3f %s" % (time.monotonic(), msg))
    while not os.path.exists(stopfile):
        passes += 1
        try:
            with open(os.path.join(out, ".fsxds", "status.json")) as f:
                json.load(f)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as e:
            error("status.json: %s" % e)
        for node, rels in expected.items():
            nd = os.path.join(out, node)
            listed = node_files(nd)
            for rel in rels:
                if rel not in listed:
                    error("%s/%s: not in the directory listing" % (node, rel))
            for rel in listed:
                if rel not in rels:
                    error("%s/%s: unexpected file" % (node, rel))
            for rel in rels:
                try:
                    data = read(os.path.join(nd, rel))
                except OSError as e:
                    error("%s/%s: %s" % (node, rel, e))
                    continue
                reads += 1
                problem = check_published_bytes(rel.split("/")[0], data)
                if problem:
                    error("%s/%s: %s" % (node, rel, problem))
                    continue
                versions.setdefault(node + "/" + rel, set()).add(parse_response(data)["version"])
    with open(resultfile, "w") as f:
        json.dump({"reads": reads, "passes": passes, "errors": errors,
                   "versions": {k: len(v) for k, v in versions.items()}}, f)


class Reader:
    def __init__(self, env, expected):
        self.stop_file = os.path.join(env.root, "reader.stop")
        self.result_file = os.path.join(env.root, "reader.json")
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--reader", env.out,
                                      self.stop_file, self.result_file, json.dumps(expected)])

    def finish(self):
        write(self.stop_file, "")
        self.proc.wait(timeout=WAIT)
        with open(self.result_file) as f:
            return json.load(f)


def edit(env, i, kinds=(0, 1, 2, 3)):
    """Edit number i: endpoints, cluster, routes, listener; all four kinds
    together touch every publish phase. Each file is replaced by rename:
    an in-place write can be read half-way by a rebuild another file
    triggered, and an empty or cut rds.yaml is a valid tree without r0
    (until whole-graph validation rejects a listener naming a missing
    route configuration), which would legitimately remove rds/r0.pb."""
    for kind in kinds:
        if kind == 0:
            rel, text = "common/eds.yaml", y_cla("shared", [("10.0.0.1", 1000 + i % 50000)])
        elif kind == 1:
            rel, text = "common/cds.yaml", y_cluster("shared", "%d.%03ds" % (1 + i % 5, i % 1000))
        elif kind == 2:
            rel, text = "nodes/alpha/rds.yaml", y_routes("r0", [("/p%d" % i, "shared")])
        else:
            rel, text = "nodes/alpha/lds.yaml", y_listener("l0", 10000, "r0", "sp%d" % i)
        tmp = env.path(rel + ".new")
        write(tmp, text)
        os.rename(tmp, env.path(rel))


def leftovers(env, node):
    """Crash leftovers in a node directory: temporary names, ..data.tmp,
    generation directories ..data does not point to."""
    bad = []
    nd = env.node_dir(node)
    for t in TYPE_DIRS:
        d = os.path.join(nd, t)
        if not os.path.isdir(d):
            continue
        live = os.readlink(os.path.join(d, "..data")) if os.path.islink(os.path.join(d, "..data")) else None
        for n in os.listdir(d):
            if n.startswith(".tmp") or n == "..data.tmp" or (n.startswith("..gen-") and n != live):
                bad.append("%s/%s" % (t, n))
    return bad


def t_reader(watch, mode):
    env = Env(watch, mode, tree=base_tree(), settle="0.01s", settle_max="0.05s", phase_pause="0.01s")
    d = env.daemon()
    expected = {n: node_files(env.node_dir(n)) for n in NODES}
    rd = Reader(env, expected)
    result = None
    g_edits = mid = 0
    try:
        # ---- 1,000 rapid edits
        for i in range(EDITS):
            edit(env, i, (i % 4,))
            time.sleep(0.002)
        d.barrier("common/cds.yaml")
        expect(d.alive(), "fsxdsd died during the edits")
        g_edits = env.status()["generation"]
        expect(g_edits >= 5, "only %d generations during %d edits", g_edits, EDITS)

        # ---- kill -9 mid-publish, restart, repeat
        env.write_config(settle="0.05s", settle_max="0.2s", phase_pause="0.1s")
        rec = InotifyRecorder(IN_MOVED_TO)
        for t in ("eds", "cds", "rds", "lds"):
            rec.add(os.path.join(env.node_dir("alpha"), t), t)
        try:
            for k in range(KILLS):
                d.wait_ready()
                rec.clear()
                edit(env, EDITS + k)
                if k % 2 == 0:
                    # right after the first switch: later phases are still to come
                    rec.wait(lambda e: True, what="the first switch of the publish")
                    d.kill9()
                    # the kill cut the publish short: fewer than its four switches
                    time.sleep(0.05)
                    mid += len(rec.snapshot()) < 4
                else:
                    time.sleep(random.uniform(0, 0.3))
                    d.kill9()
                d = env.daemon(start=True)
            d.wait_ready()
            d.barrier("common/cds.yaml")
            expect(mid > 0, "no kill landed mid-publish")
        finally:
            rec.close()
        d.stop()
    finally:
        result = rd.finish()
    print("  %d edits (%d generations), %d kills (%d mid-publish); reader: %d reads in %d passes, "
          "%d versions of alpha/eds/shared.pb" % (EDITS, g_edits, KILLS, mid, result["reads"], result["passes"],
                                                   result["versions"].get("alpha/eds/shared.pb", 0)))
    expect(not result["errors"], "the reader saw %d problems (%d reads), first: %s",
           len(result["errors"]), result["reads"], "\n    ".join(result["errors"][:10]))
    expect(result["passes"] > 10, "the reader made only %d passes", result["passes"])
    expect(result["versions"].get("alpha/eds/shared.pb", 0) > 2,
           "the reader saw only %r versions of alpha/eds/shared.pb", result["versions"].get("alpha/eds/shared.pb"))

    for n in NODES:
        lo = leftovers(env, n)
        expect(not lo, "crash leftovers in %s after the restarts: %r", n, lo)
        # state_dir's last good copy is what is live
        state = contents(snapshot(os.path.join(env.state, "nodes", n)))
        live = contents(snapshot(env.node_dir(n)))
        expect(state == live, "state_dir's copy of %s differs from the output: %s", n,
               diff_snapshots({k: (v,) for k, v in state.items()}, {k: (v,) for k, v in live.items()}))
    exp, rc = env.expected_by_once(NODES)
    expect_eq(rc, 0, "fsxdsd --once's exit status")
    for n in NODES:
        got = contents(snapshot(env.node_dir(n)))
        diff = diff_snapshots({k: (v,) for k, v in exp[n].items()}, {k: (v,) for k, v in got.items()})
        expect(not diff, "%s differs from a fresh fsxdsd --once build: %s", n, diff)
    env.assert_equals_compile(NODES)


def t_reader_mode_switch(watch):
    """publish_mode switched in place by SIGHUP, back and forth, with edits
    in between: a reader never sees a file missing or broken (a regular file
    becomes a symlink through ..data and back by rename)."""
    env = Env(watch, "rename", tree=base_tree(), settle="0.05s", settle_max="0.2s", phase_pause="0.02s")
    d = env.daemon()
    expected = {n: node_files(env.node_dir(n)) for n in NODES}
    rd = Reader(env, expected)
    try:
        mode = "rename"
        for k in range(6):
            mode = "watched_directory" if mode == "rename" else "rename"
            env.write_config(publish_mode=mode)
            mark = d.mark()
            d.sighup()
            d.notify.wait(lambda m: m.get("READY") == "1", mark, what="READY=1 after SIGHUP", alive=d.alive)
            expect_eq(env.status()["publish_mode"], mode, "publish_mode after SIGHUP")
            for i in range(20):
                edit(env, 100 * k + i, (i % 4,))
                time.sleep(0.01)
            d.barrier("common/cds.yaml")
        d.stop()
    finally:
        result = rd.finish()
    expect(not result["errors"], "the reader saw %d problems (%d reads), first: %s",
           len(result["errors"]), result["reads"], "\n    ".join(result["errors"][:10]))
    env.mode = mode
    env.assert_equals_compile(NODES)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--reader":
        reader_main(sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5]))
        sys.exit(0)
    r = Runner("daemon-reader")
    for w, m in r.combos():
        r.run("reader-loop[%s,%s]" % (w, m), t_reader, w, m)
    for w in BACKENDS:
        r.run("reader-mode-switch[%s]" % w, t_reader_mode_switch, w)
    r.finish()
