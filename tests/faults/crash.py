# SPDX-License-Identifier: MIT
"""Crash at every syscall of a publish (issue 12): fsxdsd is killed by
strace's fault injection (`-e inject=SYSCALL:signal=KILL:when=N`) at the
N-th call of each syscall that one publish makes, then restarted normally;
the restart must converge to the tree's exact build.

The points are measured first: `strace -f -c` of one publish per kind and
publish mode (the table is printed). A publish here is three nodes sharing
common/, signing on, and an edit that changes, adds and removes files, so
the removal phases run. Two kinds of crash:

  edit   fsxdsd runs on a published generation; strace attaches to it
         (`-p`, so N counts from the edit, not from start-up), the edit is
         made, the publish dies at the point. Edits alternate between two
         trees, A -> B and B -> A, and the points are chained on one
         output_dir and state_dir (never reset), so leftovers and store
         objects would accumulate as they would on a host.
  first  fsxdsd starts under strace on an empty output_dir and state_dir
         and dies during start-up and its first publish.

After each crash fsxdsd is started again (no strace) and, once READY=1:
every node passes `fsxds verify --ca`; each node's files are byte-equal to
`fsxds compile --node ID`; no temporary name is left in output_dir or
state_dir (the names publish.c, store.c, manifest.c, statedir.c and
write_file_atomic() use: ".tmp.*", "*.tmp", "*.tmp.PID", "..data.tmp", and
"..gen-*" generations that "..data" does not point to); the stores
(output_dir/.store, state_dir's) hold no more objects than a clean publish
of the same tree needs.

CI takes every k-th point (K below; the offset comes from the seed,
FSXDS_FAULT_SEED, random by default, always printed); `--soak` (or
FSXDS_FAULT_SOAK=1) sweeps every point (bench/faults-soak). Replay one
point with FSXDS_FAULT_POINT=MODE:KIND:SYSCALL:N (e.g.
rename:edit-AB:renameat:3). One watch backend (inotify): a crash does not
depend on it."""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration", "daemon"))
from harness import *  # noqa: E402,F401,F403
import pki  # noqa: E402

NODES = ["alpha", "beta", "gamma"]
K = int(os.environ.get("FSXDS_FAULT_K", "40"))  # CI: every K-th point (~35 s on an idle machine, gcc build; 2-3x under ASan)
SOAK = "--soak" in sys.argv or os.environ.get("FSXDS_FAULT_SOAK") == "1"
ONLY = os.environ.get("FSXDS_FAULT_POINT")
SEED = int(os.environ.get("FSXDS_FAULT_SEED") or random.randrange(1 << 32))

# the syscalls that change a tree or decide what lands on disk; a kill
# before any other call is the same as a kill after the last of these
SYSCALLS = ("openat", "openat2", "open", "creat", "write", "pwrite64", "writev", "linkat", "link",
            "renameat", "renameat2", "rename", "unlinkat", "unlink", "rmdir", "symlinkat", "symlink",
            "mkdirat", "mkdir", "fsync", "fdatasync", "syncfs", "sync_file_range", "fchmod", "fchmodat",
            "fchown", "fchownat", "ftruncate", "utimensat", "close")

# temporary names fsxds writes: TMP_PREFIX ".tmp." (publish.c, store.c),
# DATA_TMP "..data.tmp", manifest.c ".MANIFEST.tmp.PID", statedir.c
# ".NODE.tmp.PID", write_file_atomic() "PATH.tmp.PID" (status.json,
# state/generation)
TEMP_NAME = re.compile(r"^\.tmp\.|\.tmp$|\.tmp\.[0-9]+$")


# ---------------------------------------------------------------- the trees

def tree_a():
    return {
        "common/cds.yaml": y_docs(y_cluster("shared"), y_cluster("gone")),
        "common/eds.yaml": y_docs(y_cla("shared", [("10.0.0.1", 8000)]), y_cla("gone", [("10.0.9.1", 80)])),
        "nodes/alpha/lds.yaml": y_listener("l0", 10000, "r0"),
        "nodes/alpha/rds.yaml": y_routes("r0", [("/g", "gone"), ("/", "shared")]),
        "nodes/beta/lds.yaml": y_docs(y_listener("l1", 10001, "r1"), y_listener("l9", 10009, "r9")),
        "nodes/beta/rds.yaml": y_docs(y_routes("r1", [("/", "shared")]), y_routes("r9", [("/", "gone")])),
        "nodes/gamma/config.yaml": y_simple("web", 10002, "gamma_backend", "10.1.0.1", 80),
    }


def tree_b():
    """A changed: endpoints and timeouts changed, cluster "gone", listener
    l9 and route configuration r9 removed, cluster "fresh" and route
    configuration r2 added."""
    return {
        "common/cds.yaml": y_docs(y_cluster("shared", "2s"), y_cluster("fresh")),
        "common/eds.yaml": y_docs(y_cla("shared", [("10.0.0.2", 8001)]), y_cla("fresh", [("10.0.8.1", 81)])),
        "nodes/alpha/lds.yaml": y_docs(y_listener("l0", 10000, "r0"), y_listener("l2", 10010, "r2")),
        "nodes/alpha/rds.yaml": y_docs(y_routes("r0", [("/f", "fresh"), ("/", "shared")]),
                                       y_routes("r2", [("/", "fresh")])),
        "nodes/beta/lds.yaml": y_listener("l1", 10001, "r1", "beta_l1"),
        "nodes/beta/rds.yaml": y_routes("r1", [("/", "shared")]),
        "nodes/gamma/config.yaml": y_simple("web", 10002, "gamma_backend", "10.1.0.2", 80),
    }


TREES = {"A": tree_a, "B": tree_b}


def put_tree(env, name):
    """Every file replaced by rename (what editors and deploy tools do)."""
    for rel, text in TREES[name]().items():
        tmp = env.path(rel + ".new")
        write(tmp, text)
        os.rename(tmp, env.path(rel))


# ---------------------------------------------------------------- the checks

def temporaries(root):
    """Temporary names and stray generations anywhere under root."""
    bad = []
    for d, dirs, files in os.walk(root):
        live = os.readlink(os.path.join(d, "..data")) if os.path.islink(os.path.join(d, "..data")) else None
        for n in dirs + files:
            if TEMP_NAME.search(n) or n == "..data.tmp" or (n.startswith("..gen-") and n != live):
                bad.append(os.path.relpath(os.path.join(d, n), root))
    return sorted(bad)


def store_objects(root):
    """Objects in every store directory under root (".store")."""
    n = 0
    for d, dirs, files in os.walk(root):
        if os.path.basename(d) == ".store":
            n += sum(1 for f in files if not TEMP_NAME.search(f))
    return n


def verify_all(env, ca):
    out = []
    for n in NODES:
        p = env.fsxds("verify", "--ca", ca, env.node_dir(n), expect=None)
        if p.returncode != 0:
            out.append("%s: fsxds verify --ca: exit %d: %s" % (n, p.returncode, (p.stderr or p.stdout).strip()[:300]))
    return out


def compare(env, expected):
    out = []
    for n in NODES:
        got = contents(snapshot(env.node_dir(n)))
        for k in sorted(set(got) | set(expected[n])):
            if k not in got:
                out.append("%s/%s: missing" % (n, k))
            elif k not in expected[n]:
                out.append("%s/%s: not in fsxds compile --node's output" % (n, k))
            elif got[k] != expected[n][k]:
                out.append("%s/%s: bytes differ from fsxds compile --node's" % (n, k))
    return out


# ---------------------------------------------------------------- strace

def strace_argv(out, inject=None, count=False):
    a = ["strace", "-f", "-qq", "-o", out]
    if count:
        a += ["-c", "-U", "name,calls"]
    if inject:
        sc, n = inject
        a += ["-e", "trace=" + sc, "-e", "inject=%s:signal=KILL:when=%d" % (sc, n)]
    return a


class Traced(Daemon):
    """fsxdsd started under strace (the first kind)."""

    def __init__(self, env, prefix):
        # LeakSanitizer cannot stop the world under ptrace: it would fail the exit
        asan = os.environ.get("ASAN_OPTIONS")
        super().__init__(env, extra_env={"ASAN_OPTIONS": (asan + ":" if asan else "") + "detect_leaks=0"})
        self.prefix = prefix

    def argv(self):
        return self.prefix + super().argv()

    def start(self, wait_ready=False):
        return super().start(wait_ready=wait_ready)

    def tracee(self):
        """fsxdsd's pid (strace's child)."""
        with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
            kids = f.read().split()
        return int(kids[0]) if kids else None

    def stop(self, expect_ok=True):
        """SIGTERM to fsxdsd itself: strace would detach and let it run."""
        mark = self.notify.count()
        pid = self.tracee()
        if pid:
            os.kill(pid, signal.SIGTERM)
        rc = self.proc.wait(timeout=WAIT)
        self.log.close()
        if expect_ok:
            self.notify.wait(lambda m: m.get("STOPPING") == "1", after=mark, what="STOPPING=1 on SIGTERM")
            expect_eq(rc, 0, "fsxdsd's exit status under strace on SIGTERM")
        return rc


def attach(pid, out, inject=None, count=False):
    """strace -p PID; returns once it is attached."""
    argv = [a for a in strace_argv(out, inject, count) if a != "-qq"] + ["-p", str(pid)]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    line = p.stderr.readline().decode("utf-8", "replace")
    if "attached" not in line:
        p.kill()
        p.wait()
        raise AssertionError("strace -p %d: %r" % (pid, line))
    return p


def detach(p):
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    p.stderr.close()


def parse_counts(path):
    """strace -c's table: {syscall: calls} of the syscalls in SYSCALLS."""
    counts = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*(\w+)\s+(\d+)\s*$", line)
            if m and m.group(1) in SYSCALLS:
                counts[m.group(1)] = int(m.group(2))
    return counts


# ---------------------------------------------------------------- the campaign

class Campaign:
    def __init__(self, mode, pair):
        self.mode = mode
        self.pair = pair
        self.env = Env("inotify", mode, tree=tree_a(), settle="0.05s", settle_max="0.5s", phase_pause="0.01s",
                       verify_interval="0s", max_removal=1.0)
        env = self.env
        with open(env.config_path, "a") as f:
            f.write('signing:\n  key: "%s"\n  cert: "%s"\n  chain: "%s"\n' % (pair.key, pair.cert, pair.chain))
        self.expected = {}  # tree -> {node: contents}
        self.clean_objects = {}  # tree -> objects in the stores after a clean publish
        self.failures = []
        self.leftovers = []
        self.seen_leftovers = set()
        self.reached = self.not_reached = 0
        self.d = None

    def log_path(self, what):
        return os.path.join(self.env.root, what)

    def prepare(self):
        """The expected bytes and store sizes of both trees, and the
        measured counts of one publish per kind."""
        env = self.env
        os.makedirs(env.out, exist_ok=True)
        for t in ("B", "A"):
            put_tree(env, t)
            self.expected[t] = env.expected_by_compile(NODES)
        # first: start-up and the first publish of A, counted
        shutil.rmtree(env.out)
        d = Traced(env, strace_argv(self.log_path("count-first"), count=True)).start()
        d.wait_ready()
        d.stop()
        self.counts = {"first": parse_counts(self.log_path("count-first"))}
        self.clean_objects["A"] = store_objects(env.out) + store_objects(env.state)
        # edits, counted with strace attached
        self.d = env.daemon()
        self.current = "A"
        for kind, t in (("edit-AB", "B"), ("edit-BA", "A")):
            p = attach(self.d.proc.pid, self.log_path("count-" + kind), count=True)
            mark = self.d.mark()
            put_tree(env, t)
            self.d.wait_rebuild(mark)
            detach(p)
            self.current = t
            self.counts[kind] = parse_counts(self.log_path("count-" + kind))
            self.clean_objects[t] = max(self.clean_objects.get(t, 0), store_objects(env.out) + store_objects(env.state))

    def points(self):
        return [(kind, sc, n) for kind in ("first", "edit-AB", "edit-BA")
                for sc in sorted(self.counts[kind]) for n in range(1, self.counts[kind][sc] + 1)]

    def check(self, point):
        env = self.env
        problems = verify_all(env, self.pair.ca) + compare(env, self.expected[self.current])
        objs = store_objects(env.out) + store_objects(env.state)
        if objs > self.clean_objects[self.current]:
            problems.append("%d store objects, a clean publish of this tree needs %d" %
                            (objs, self.clean_objects[self.current]))
        tmp = temporaries(env.out) + ["state/" + t for t in temporaries(env.state)]
        if tmp:
            # the chain carries them on: name each with the point that left it
            new = [t for t in tmp if t not in self.seen_leftovers]
            self.seen_leftovers.update(new)
            if new:
                self.leftovers.append((point, new))
            problems.append("temporary names left: %s" % ", ".join(tmp))
        if problems:
            self.failures.append((point, problems))

    def restart(self):
        self.d = self.env.daemon()  # waits for READY=1, after the first rebuild

    def run_edit(self, kind, sc, n):
        env = self.env
        want = kind[-1]
        if self.current != kind[-2]:  # bring the tree to the point's start
            mark = self.d.mark()
            put_tree(env, kind[-2])
            self.d.wait_rebuild(mark)
            self.current = kind[-2]
        p = attach(self.d.proc.pid, "/dev/null", inject=(sc, n))
        mark = self.d.mark()
        put_tree(env, want)
        self.current = want
        try:
            wait_until(lambda: not self.d.alive() or any(
                "STATUS" in m and m["STATUS"].startswith("generation") for m in self.d.notify.since(mark)),
                "the publish to die or end")
        finally:
            detach(p)
        if self.d.alive():
            self.not_reached += 1
        else:
            self.reached += 1
            self.d.kill9()
            self.restart()
        self.check("%s:%s:%s:%d" % (self.mode, kind, sc, n))

    def run_first(self, sc, n):
        env = self.env
        if self.d and self.d.alive():
            self.d.stop()
        put_tree(env, "A")
        self.current = "A"
        shutil.rmtree(env.out)
        shutil.rmtree(env.state)
        d = Traced(env, strace_argv("/dev/null", inject=(sc, n))).start()
        wait_until(lambda: not d.alive() or any(m.get("READY") == "1" for m in d.notify.since(d.start_index)),
                   "start-up to die or send READY=1")
        if d.alive():
            # the count included the stop: the point may come at exit
            if d.stop(expect_ok=False) == -signal.SIGKILL:
                self.reached += 1
            else:
                self.not_reached += 1
        else:
            self.reached += 1
            d.kill9()
        self.restart()
        self.check("%s:first:%s:%d" % (self.mode, sc, n))

    def run(self, chosen):
        # the edits first, chained; then the first publishes
        for kind, sc, n in sorted(chosen, key=lambda p: (p[0] == "first", p)):
            if kind == "first":
                self.run_first(sc, n)
            else:
                self.run_edit(kind, sc, n)
        if self.d and self.d.alive():
            self.d.stop()


def print_counts(mode, counts):
    kinds = ("first", "edit-AB", "edit-BA")
    scs = sorted(set().union(*(counts[k] for k in kinds)))
    print("  strace -f -c, publish_mode %s: calls per publish" % mode)
    print("    %-12s %8s %8s %8s" % (("syscall",) + kinds))
    for sc in scs:
        print("    %-12s %8s %8s %8s" % ((sc,) + tuple(counts[k].get(sc, "-") for k in kinds)))
    print("    %-12s %8d %8d %8d" % (("points",) + tuple(sum(counts[k].values()) for k in kinds)))


def t_crash(mode, pair):
    c = Campaign(mode, pair)
    t0 = time.monotonic()
    c.prepare()
    print_counts(mode, c.counts)
    pts = c.points()
    if ONLY:
        chosen = [p for p in pts if "%s:%s:%s:%d" % ((mode,) + p) == ONLY]
    elif SOAK:
        chosen = pts
    else:
        rnd = random.Random("%d:%s" % (SEED, mode))
        off = rnd.randrange(K)
        chosen = pts[off::K]
    c.run(chosen)
    print("  %s: %d of %d points (%d killed fsxdsd, %d not reached), %d failed, %.1fs" %
          (mode, len(chosen), len(pts), c.reached, c.not_reached, len(c.failures), time.monotonic() - t0),
          flush=True)
    for point, tmp in c.leftovers:
        print("  new leftovers after %s: %s" % (point, ", ".join(tmp)))
    others = [(p, [x for x in pr if not x.startswith("temporary names")]) for p, pr in c.failures]
    for p, pr in others:
        if pr:
            print("  after %s: %s" % (p, "; ".join(pr[:6])))
    if c.failures:
        raise AssertionError("%d of %d crash points did not converge; first:\n    %s" % (
            len(c.failures), len(chosen), "\n    ".join("%s: %s" % (p, "; ".join(pr[:6]))
                                                       for p, pr in c.failures[:10])))


if __name__ == "__main__":
    r = Runner("faults-crash")
    if shutil.which("strace") is None:
        r.skip("crash", "strace is not installed (scripts/setup installs it)")
        r.finish()
    probe = subprocess.run(["strace", "-qq", "-o", "/dev/null", "-e", "inject=getpid:retval=0", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        r.skip("crash", "strace cannot trace here: %s" % probe.stderr.strip())
        r.finish()
    print("seed %d (FSXDS_FAULT_SEED), %s" % (SEED, "soak: every point" if SOAK else
                                               "one point in %d" % K), flush=True)
    root = tempfile.mkdtemp(prefix="fsxds-crash-pki-")
    try:
        p = pki.make(root, "p256", "crash")

        class Pair:
            key, cert, chain, ca = p.leaf_key, p.leaf_cert, p.chain, p.ca_cert
        for m in MODES:
            if os.environ.get("FSXDS_TEST_MODES") and m not in os.environ["FSXDS_TEST_MODES"].split(","):
                continue
            r.run("crash[%s]" % m, t_crash, m, Pair)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    r.finish()
