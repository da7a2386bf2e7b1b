# SPDX-License-Identifier: MIT
"""An Envoy-like reader racing edits (issue 12). A separate process holds
one inotify instance on every watched node directory and its lds, cds,
eds and rds directories. For every lds.pb / cds.pb renamed in (rename
mode), or every "..data" switch of lds/ or cds/ (watched_directory mode),
it does what Envoy does: reads the file, parses the DiscoveryResponse down
to the Listeners / Clusters, and checks that every RDS / EDS path they name
(path_config_source) exists at that moment. Meanwhile 1,000 edits
(FSXDS_TEST_EDITS) change endpoints, add and remove clusters, routes and
a listener with its route configuration, so the removal phases run. Both
publish modes, the default phase_pause.

The reader counts the distinct generations it saw in the MANIFESTs; a run
that saw fewer than MIN_GENERATIONS fails (it would have settled into one
generation and proven nothing). A missing reference fails the run, and is
classified from the kernel's order of the events of the one inotify
instance: the generation (its MANIFEST rename ends it) of the rename that
put the referencing bytes in place, against that of the event that took
the named file away. "later": the file was removed by a later generation
than the one that named it (the reader lagged a whole generation);
"same": a real ordering gap inside one generation.

`python3 reader.py FSXDSD FSXDS SRC --phase-pause 0s` runs the same race
at another phase_pause, prints the classification (same / later / phase,
see Watcher.classify) and fails only on an ordering gap ("same");
docs/architecture.md, "Make-before-break and phase_pause", has the
figures. Environment: FSXDS_TEST_EDITS (1000), FSXDS_FAULT_SEED (the
edits' random choices; printed), FSXDS_TEST_GRAPH_EVERY (one edit in this
many changes the graph; 50), FSXDS_TEST_READER_LAG (seconds a slow Envoy
takes between reading a file and opening what it names; 0),
FSXDS_TEST_READER_TRAIL=1 (the events around each miss, in reader.json;
with FSXDS_TEST_KEEP=1)."""
import hashlib
import json
import os
import random
import select
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration", "daemon"))
from harness import *  # noqa: E402,F401,F403

NODES = ["alpha", "beta"]
EDITS = int(os.environ.get("FSXDS_TEST_EDITS", "1000"))
MIN_GENERATIONS = min(50, EDITS // 10)
LAG = float(os.environ.get("FSXDS_TEST_READER_LAG", "0"))  # seconds between reading a file and what it names
GRAPH_EVERY = int(os.environ.get("FSXDS_TEST_GRAPH_EVERY", "50"))  # one edit in this many changes the graph
PHASE_PAUSE = sys.argv[sys.argv.index("--phase-pause") + 1] if "--phase-pause" in sys.argv else None
REF_DIR = {"lds": "rds", "cds": "eds"}  # a file of this type names files of that one

# ---------------------------------------------------------------- the reader


def path_strings(b, prefix, out, depth=0):
    """Every length-delimited field under b (parsed as nested messages
    where they parse) that is a path below prefix."""
    if depth > 32:
        return
    try:
        fields = wire_fields(b)
    except WireError:
        return
    for _, wt, v in fields:
        if wt != 2:
            continue
        if v.startswith(prefix):
            try:
                out.add(v.decode("utf-8"))
                continue
            except UnicodeDecodeError:
                pass
        path_strings(v, prefix, out, depth + 1)


def referenced_paths(data, out_dir):
    refs = set()
    for _, value in parse_response(data)["resources"]:
        path_strings(value, os.fsencode(out_dir) + b"/", refs)
    return refs


class Watcher:
    def __init__(self, out, mode):
        self.out = out
        self.mode = mode
        self.fd = libc_inotify_init()
        self.wds = {}
        self.log = []  # (node, dir, mask, name, gen_index of the node)
        self.gen_index = {n: 0 for n in NODES}
        self.generations = set()
        self.reads = 0
        self.misses = []
        self.errors = []
        self.removals = 0
        # (node, generation index of the run) -> (generation, {path: sha256}), from its MANIFEST
        self.manifests = {}
        self.vanished = []  # opens of a file that its own removal phase made fail
        self.todo = []  # files to read, in the order of their switches
        self.pending = []  # misses, classified at the end (the MANIFEST naming the bytes comes later)
        for n in NODES:
            self.add(os.path.join(out, n), n, "")
            for t in ("lds", "cds", "eds", "rds"):
                self.add(os.path.join(out, n, t), n, t)

    def add(self, path, node, t):
        wd = libc_add_watch(self.fd, path, IN_MOVED_TO | IN_DELETE | IN_CREATE)
        self.wds[wd] = (node, t)

    def drain(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return []
        try:
            buf = os.read(self.fd, 1 << 20)
        except BlockingIOError:
            return []
        evs = []
        i = 0
        while i + 16 <= len(buf):
            wd, mask, _c, ln = struct.unpack_from("iIII", buf, i)
            name = buf[i + 16:i + 16 + ln].split(b"\0", 1)[0].decode("utf-8", "replace")
            i += 16 + ln
            if mask & IN_Q_OVERFLOW:
                self.errors.append("inotify queue overflow")
                continue
            node, t = self.wds.get(wd, (None, None))
            if node is None:
                continue
            if t == "" and name == "MANIFEST" and mask & IN_MOVED_TO:
                self.gen_index[node] += 1
                try:
                    with open(os.path.join(self.out, node, "MANIFEST")) as f:
                        m = json.load(f)
                    self.generations.add(m["generation"])
                    # what each generation of the run left live
                    self.manifests[(node, self.gen_index[node] - 1)] = (
                        m["generation"], {fl["path"]: fl["sha256"] for fl in m["files"]})
                except (OSError, ValueError, KeyError) as e:
                    self.errors.append("%s/MANIFEST: %s" % (node, e))
            if t in ("eds", "rds") and (mask & IN_DELETE and name.endswith(".pb") or
                                        mask & IN_MOVED_TO and name == "..data"):
                self.removals += bool(mask & IN_DELETE)
            self.log.append((node, t, mask, name, self.gen_index[node]))
            evs.append(len(self.log) - 1)
            if self.trigger(len(self.log) - 1):
                self.todo.append((node, t))
        return evs

    def trigger(self, e):
        node, t, mask, name, _ = self.log[e]
        if t not in REF_DIR or not mask & IN_MOVED_TO:
            return False
        return name == t + ".pb" if self.mode == "rename" else name == "..data"

    def last_event(self, node, t, pred, upto):
        for j in range(upto - 1, -1, -1):
            n, tt, mask, name, _ = self.log[j]
            if n == node and tt == t and pred(mask, name):
                return j
        return None

    def check(self, node, t):
        """Reads node/t/t.pb as Envoy would and checks what it names."""
        p = os.path.join(self.out, node, t, t + ".pb")
        try:
            data = read(p)
        except FileNotFoundError as e:
            # watched_directory mode: "..data" resolved to a generation
            # directory that the removal phase took away before the open
            self.vanished.append("%s/%s/%s.pb: %s" % (node, t, t, e.strerror))
            return
        except OSError as e:
            self.errors.append("%s/%s/%s.pb: %s" % (node, t, t, e))
            return
        self.reads += 1
        problem = check_published_bytes(t, data)
        if problem:
            self.errors.append("%s/%s/%s.pb: %s" % (node, t, t, problem))
            return
        if LAG:
            time.sleep(LAG)  # a slow Envoy: parsing, then opening what the file names
        missing = sorted(r for r in referenced_paths(data, self.out) if not os.path.exists(r))
        if not missing:
            return
        # what happened up to now, in the kernel's order
        while self.drain(0):
            pass
        digest = hashlib.sha256(data).hexdigest()
        for m in missing:
            self.pending.append((node, t, digest, os.path.relpath(m, self.out), len(self.log)))

    def removal_event(self, node, t, name, at):
        """The event that took node/t/name away: the first unlink of it
        after its last creation before position at of the log (in
        watched_directory mode the symlink goes in the same removal phase
        as the "..data" switch that drops the file, maybe after the
        check)."""
        made = -1
        for j in range(at - 1, -1, -1):
            n, tt, mask, nm, _ = self.log[j]
            if n == node and tt == t and mask & (IN_CREATE | IN_MOVED_TO) and nm == name:
                made = j
                break
        for j in range(made + 1, len(self.log)):
            n, tt, mask, nm, _ = self.log[j]
            if n == node and tt == t and mask & IN_DELETE and nm == name:
                return j
        return None

    def classify(self):
        """Were the bytes that name the missing file live when it went?
        same:   yes: the generation that removed it, or a later one before
                the check, left them live (its MANIFEST lists them): an
                ordering gap;
        later:  no, the generation before the removing one left them live
                (the reader lagged into the next generation);
        phase:  no, they are the intermediate cds.pb of the removing
                generation (its clusters plus the departing ones), switched
                to the final one before the removal (the reader lagged a
                phase of the same generation);
        unclassified: the MANIFESTs needed were not seen."""
        for node, t, digest, missing, at in self.pending:
            rnode, rt, rname = missing.split("/", 2)
            gone = self.removal_event(rnode, rt, rname, at)
            rm = None if gone is None else self.log[gone][4]
            ref = "%s/%s.pb" % (t, t)
            cur = self.log[at - 1][4]  # MANIFESTs below this index were in place at the check
            live_in = sorted(k for (n, k), (g, files) in self.manifests.items()
                             if n == node and k < cur and files.get(ref) == digest)
            live = self.manifests.get((node, rm))
            after = self.manifests.get((node, rm + 1)) if rm is not None else None
            if rm is None or live is None or (after and after[0] == live[0]):  # read after the next one
                kind = "unclassified"
            elif [k for k in live_in if k >= rm]:
                kind = "same"  # live at the end of the removing generation, or later, with the file gone
            else:
                # switched twice by the removing generation before the
                # removal: the intermediate cds.pb, then the final one
                sw = [j for j in range(gone) if self.log[j][4] == rm and self.log[j][0] == node and
                      self.log[j][1] == t and self.trigger(j)]
                if live_in and live_in[-1] == rm - 1:
                    kind = "later"  # the bytes the generation before left live
                elif len(sw) >= 2:
                    kind = "phase"
                else:
                    kind = "later" if live_in else "unclassified"
            if kind == "phase":  # the intermediate is in no MANIFEST: its generation is the removing one
                ref_gen = live[0]
            else:
                ref_gen = self.manifests[(node, live_in[-1])][0] if live_in else None
            trail = []
            if os.environ.get("FSXDS_TEST_READER_TRAIL"):
                trail = ["%d %s/%s %s %s g%d" % (j, n, tt, mask_name(mk), nm, gi)
                         for j, (n, tt, mk, nm, gi) in enumerate(self.log)
                         if n == node and (nm == rname or (tt == t and mk & IN_MOVED_TO) or nm == "MANIFEST")
                         and at - 400 < j < at + 100] + ["at %d gone %s" % (at, gone)]
            self.misses.append({"trail": trail, "file": "%s/%s" % (node, ref), "missing": missing, "kind": kind,
                                "ref_gen": ref_gen,
                                "removal_gen": live[0] if live else None})


def libc_inotify_init():
    from harness import _libc
    fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "inotify_init1")
    return fd


def libc_add_watch(fd, path, mask):
    from harness import _libc
    wd = _libc.inotify_add_watch(fd, os.fsencode(path), mask)
    if wd < 0:
        raise OSError(ctypes.get_errno(), "inotify_add_watch(%s)" % path)
    return wd


def reader_main(out, mode, stopfile, readyfile, resultfile):
    w = Watcher(out, mode)
    write(readyfile, "")
    while not os.path.exists(stopfile):
        w.drain(0.1)
        while w.todo:
            w.check(*w.todo.pop(0))
    while w.drain(0):
        pass
    w.classify()
    with open(resultfile, "w") as f:
        json.dump({"reads": w.reads, "misses": w.misses, "errors": w.errors[:50],
                   "generations": len(w.generations), "removals": w.removals,
                   "vanished": w.vanished[:50], "n_vanished": len(w.vanished)}, f)


class Reader:
    def __init__(self, env):
        self.stop_file = os.path.join(env.root, "reader.stop")
        self.ready_file = os.path.join(env.root, "reader.ready")
        self.result_file = os.path.join(env.root, "reader.json")
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--reader", env.out, env.mode,
                                      self.stop_file, self.ready_file, self.result_file])
        wait_until(lambda: os.path.exists(self.ready_file) or self.proc.poll() is not None, "the reader to start")
        expect(self.proc.poll() is None, "the reader exited at start")

    def finish(self):
        write(self.stop_file, "")
        self.proc.wait(timeout=WAIT)
        with open(self.result_file) as f:
            return json.load(f)


# ---------------------------------------------------------------- the edits

POOL = ["c%d" % i for i in range(6)]


def tree():
    t = {
        "common/cds.yaml": y_cluster("shared"),
        "common/eds.yaml": y_cla("shared", [("10.0.0.1", 8000)]),
        "nodes/alpha/lds.yaml": y_listener("l0", 10000, "r0"),
        "nodes/alpha/rds.yaml": y_routes("r0", [("/c0", "c0"), ("/", "shared")]),
        "nodes/alpha/c0.yaml": y_docs(y_cluster("c0"), y_cla("c0", [("10.2.0.1", 80)])),
        "nodes/beta/lds.yaml": y_listener("b0", 10001, "rb"),
        "nodes/beta/rds.yaml": y_routes("rb", [("/c0", "c0"), ("/", "shared")]),
        "nodes/beta/c0.yaml": y_docs(y_cluster("c0"), y_cla("c0", [("10.3.0.1", 80)])),
    }
    return t


class Editor:
    """Random edits, each a valid tree at every step: a cluster is added
    before a route names it and its route goes before it does."""

    def __init__(self, env, rnd):
        self.env = env
        self.rnd = rnd
        self.present = {"alpha": {"c0"}, "beta": {"c0"}}
        self.extra = {"alpha": False, "beta": False}

    def put(self, rel, text):
        tmp = self.env.path(rel + ".new")
        write(tmp, text)
        os.rename(tmp, self.env.path(rel))

    def routes(self, node):
        name = "r0" if node == "alpha" else "rb"
        self.put("nodes/%s/rds.yaml" % node, y_routes(name, [("/" + c, c) for c in sorted(self.present[node])] +
                                                      [("/", "shared")]))

    def edit(self, i):
        rnd = self.rnd
        node = rnd.choice(NODES)
        # one edit in GRAPH_EVERY changes the graph (a generation with phase
        # pauses); the others only endpoints (one phase, a quick generation)
        k = 92 + rnd.randrange(8) if i % GRAPH_EVERY == GRAPH_EVERY // 2 else 0
        if k < 92:
            c = rnd.choice(sorted(self.present[node]) + ["shared"])
            if c == "shared":
                self.put("common/eds.yaml", y_cla("shared", [("10.0.0.1", 1000 + i)]))
            else:
                self.put("nodes/%s/%s.yaml" % (node, c), y_docs(y_cluster(c), y_cla(c, [("10.2.0.1", 1000 + i)])))
        elif k < 95:  # a cluster added, then named by a route (pauses between phases)
            free = [c for c in POOL if c not in self.present[node]]
            if free:
                c = rnd.choice(free)
                self.put("nodes/%s/%s.yaml" % (node, c), y_docs(y_cluster(c), y_cla(c, [("10.2.0.2", 80)])))
                self.present[node].add(c)
                self.routes(node)
        elif k < 98:  # a route dropped, then its cluster: removal phases
            if self.present[node]:
                c = rnd.choice(sorted(self.present[node]))
                self.present[node].discard(c)
                self.routes(node)
                os.unlink(self.env.path("nodes/%s/%s.yaml" % (node, c)))
        else:  # a listener with its own route configuration, added or removed
            rel = "nodes/%s/extra.yaml" % node
            if self.extra[node]:
                os.unlink(self.env.path(rel))
            else:
                self.put(rel, y_docs(y_listener("x" + node, 10100 + len(node), "rx" + node),
                                     y_routes("rx" + node, [("/", "shared")])))
            self.extra[node] = not self.extra[node]


# ---------------------------------------------------------------- the test

def t_reader(mode, seed, phase_pause=None):
    kw = {} if phase_pause is None else {"phase_pause": phase_pause}
    env = Env("inotify", mode, tree=tree(), settle="0.01s", settle_max="0.05s", max_removal=1.0, **kw)
    if phase_pause is None:
        env.settings.pop("phase_pause")  # the default
        env.write_config()
    d = env.daemon()
    rd = Reader(env)
    ed = Editor(env, random.Random(seed))
    g0 = env.status()["generation"]
    i = 0
    try:
        # EDITS edits, and more (up to ten times as many) until the daemon
        # has made MIN_GENERATIONS + 20 generations: a watched_directory
        # generation waits phase_pause at least once (its old generation
        # directories go in a removal phase), and a slow machine makes
        # fewer generations of the same edits
        while i < EDITS or (env.status()["generation"] - g0 < MIN_GENERATIONS + 20 and i < 10 * EDITS):
            ed.edit(i)
            i += 1
            time.sleep(0.01)
        d.barrier("common/cds.yaml")
        expect(d.alive(), "fsxdsd died during the edits")
        d.stop()
    finally:
        result = rd.finish()
    kinds = {}
    for m in result["misses"]:
        kinds[m["kind"]] = kinds.get(m["kind"], 0) + 1
    print("  %s, phase_pause %s: %d edits, %d generations seen, %d reads, %d removals, %d missing references %r"
          % (mode, phase_pause or "default", i, result["generations"], result["reads"], result["removals"],
             len(result["misses"]), kinds), flush=True)
    for m in result["misses"][:20]:
        print("    %s names %s: missing (%s: the bytes naming it are those of generation %s, it was removed "
              "by generation %s)" % (m["file"], m["missing"], m["kind"], m["ref_gen"], m["removal_gen"]))
    if result["n_vanished"]:
        print("    %d opens failed: %s" % (result["n_vanished"], "; ".join(result["vanished"][:5])))
    expect(phase_pause is not None or not result["n_vanished"], "%d opens of a published file failed at the "
           "default phase_pause: %s", result["n_vanished"], "; ".join(result["vanished"][:5]))
    expect(not result["errors"], "the reader saw %d problems, first: %s", len(result["errors"]),
           "\n    ".join(result["errors"][:10]))
    expect(result["generations"] >= MIN_GENERATIONS, "the reader saw %d generations, fewer than %d",
           result["generations"], MIN_GENERATIONS)
    expect(result["removals"] > 0, "no removal phase ran")
    if phase_pause is None:
        expect(not result["misses"], "%d missing references at the default phase_pause", len(result["misses"]))
    else:
        # a lagging reader may see removals here; an ordering gap never
        expect(kinds.get("same", 0) == 0, "%d references missing while the bytes naming them were live (an "
               "ordering gap): %r", kinds.get("same", 0), kinds)
    env.assert_equals_compile(NODES)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--reader":
        reader_main(*sys.argv[2:7])
        sys.exit(0)
    r = Runner("faults-reader")
    seed = int(os.environ.get("FSXDS_FAULT_SEED") or random.randrange(1 << 32))
    print("seed %d (FSXDS_FAULT_SEED), %d edits (FSXDS_TEST_EDITS), at least %d generations" %
          (seed, EDITS, MIN_GENERATIONS), flush=True)
    for m in MODES:
        if os.environ.get("FSXDS_TEST_MODES") and m not in os.environ["FSXDS_TEST_MODES"].split(","):
            continue
        r.run("reader[%s,phase_pause %s]" % (m, PHASE_PAUSE or "default"), t_reader, m, seed, PHASE_PAUSE)
    r.finish()
