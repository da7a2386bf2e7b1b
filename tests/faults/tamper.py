# SPDX-License-Identifier: MIT
"""Fault area `tamper` (issue 12, defects 4 and 8, output tree): the
published output altered behind fsxdsd's back, and crash leftovers in it.

With signing on, under both publish modes, each tampering is made while
fsxdsd is stopped (SIGSTOP, so the check of the tampered state cannot race
the repair), and then judged after the next full verification pass:
status.json's `verify_passes` must move at least two past its value at the
tamper (the pass running at the SIGSTOP may have read the directory before
the tamper; the one after it did not), and a pass that found something
completes only once the rebuild it started is over. No clock is involved.

  delete          a published file unlinked
  in-place        a published file overwritten in place with other bytes of
                  the same size: the store object (and every node linking it,
                  beta too) changes with it (defect 4)
  rename          a file replaced by rename (a new inode, other valid bytes)
  stray-pb        an extra "*.pb" in a type directory
  stray-other     a file that is not "*.pb" in a type directory and one in
                  the node directory: reported, left alone
  chmod           a published file's mode changed (the object's, so beta's)

Each must end with every node byte-identical to `fsxds compile --node`,
mode 0640, `fsxds verify --ca` passing (it failed on the tampered bytes),
a MANIFEST whose digests are those of the build (the tampered bytes were
never signed), and a store that did not grow.

  planted-dirs    a symlink (to a victim directory) planted at a type
                  directory's and at a node directory's name, and a file at
                  a type directory's: removed unfollowed, the directory made
                  again and republished; the victim untouched; `fsxds
                  verify` refuses the symlinked node directory
  planted-store   a symlink, then a file, at output_dir/.store before a
                  start: removed unfollowed (logged naming .store), the
                  daemon starts and republishes

  slices          verify_interval's pass over 150 nodes runs in slices of
                  at most 64 nodes (the loop runs between them; issue 13),
                  and a file deleted in the last node's directory is still
                  found and published again

  leftovers       temporary names of every kind fsxds makes in output_dir,
                  planted before a start (with look-alikes an operator might
                  own): afterwards none is left, the look-alikes are, and the
                  store did not grow.
"""
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration", "daemon"))
from harness import *  # noqa: E402,F401,F403
import pki  # noqa: E402

NODES = ["alpha", "beta"]
_pki = None


class Pair:
    def __init__(self, root):
        p = pki.make(root, "p256", "T")
        self.key, self.cert = pki.new_leaf(p, "t")
        self.chain, self.ca = p.chain, p.ca_cert


def make_env(mode, verify_interval="0.2s"):
    env = Env(tree=base_tree(), mode=mode, settle="0.1s", settle_max="1s")
    env.write_config()
    with open(env.config_path, "a") as f:
        f.write('signing:\n  key: "%s"\n  cert: "%s"\n  chain: "%s"\nverify_interval: "%s"\n'
                % (_pki.key, _pki.cert, _pki.chain, verify_interval))
    return env


def expected(env):
    """{node: {rel: bytes}} of `fsxds compile --node` into out/ (before any
    daemon: the paths wired into the bytes are the daemon's)."""
    exp = {}
    for n in NODES:
        env.fsxds("compile", "--publish-mode", env.mode, "--node", n, env.src, "-o", env.node_dir(n))
        exp[n] = contents(snapshot(env.node_dir(n)))
    shutil.rmtree(env.out)
    return exp


def store_objects(env):
    d = os.path.join(env.out, ".store")
    return sorted(n for n in os.listdir(d) if re.fullmatch(r"[0-9a-f]{64}", n))


def verify(env, node):
    return env.fsxds("verify", "--ca", _pki.ca, env.node_dir(node), expect=None)


def passes(env):
    return env.status()["verify_passes"]


def wait_passes(d, env, at_tamper):
    """Until two full verification passes have completed since the tamper."""
    wait_until(lambda: not d.alive() or passes(env) >= at_tamper + 2,
               "verify_passes to reach %d (it was %d at the tamper)" % (at_tamper + 2, at_tamper))
    expect(d.alive(), "fsxdsd %s", d.exit_text())


def check_repaired(env, exp, objects, what):
    problems = []
    for n in NODES:
        nd = env.node_dir(n)
        got = contents(snapshot(nd))
        if got != exp[n]:
            problems += ["%s: %s" % (n, p) for p in diff_snapshots(
                {k: (v, 0, 0) for k, v in got.items()}, {k: (v, 0, 0) for k, v in exp[n].items()})]
        for rel in node_files(nd):
            m = stat.S_IMODE(os.stat(os.path.join(nd, rel)).st_mode)
            if m != 0o640:
                problems.append("%s/%s: mode %04o" % (n, rel, m))
        p = verify(env, n)
        if p.returncode != 0:
            problems.append("%s: fsxds verify --ca: exit %d: %s%s" % (n, p.returncode, p.stdout, p.stderr))
        listed = {f["path"]: f["sha256"] for f in json.loads(read(os.path.join(nd, "MANIFEST")))["files"]}
        built = {k: hashlib.sha256(v).hexdigest() for k, v in exp[n].items()}
        if listed != built:
            problems.append("%s: the MANIFEST does not list the build's digests: %r" % (n, sorted(
                k for k in set(listed) | set(built) if listed.get(k) != built.get(k))))
    now = store_objects(env)
    if len(now) > len(objects):
        problems.append("the store grew from %d to %d objects" % (len(objects), len(now)))
    if problems:
        raise AssertionError("%s: not repaired:\n  %s" % (what, "\n  ".join(problems)))


# ---------------------------------------------------------------- the tamperings
# Each takes the node directories and returns (tampered bytes, strays):
# whether fsxds verify must fail before the repair, and files that must
# be reported and left alone.


def t_delete(alpha, beta):
    os.unlink(os.path.join(alpha, "rds", "r0.pb"))
    return True, []


def t_in_place(alpha, beta):
    p = os.path.join(alpha, "eds", "shared.pb")
    data = bytearray(read(p))
    data[-1] ^= 0x01  # the last port byte: still a valid response
    with open(p, "r+b") as f:  # through the symlink in watched_directory mode
        f.write(bytes(data))
    return True, []


def t_rename(alpha, beta):
    tmp = os.path.join(alpha, "eds", "tamper.new")
    shutil.copyfile(os.path.join(beta, "eds", "beta_backend.pb"), tmp)
    os.chmod(tmp, 0o640)
    os.rename(tmp, os.path.join(alpha, "eds", "shared.pb"))
    return True, []


def t_stray_pb(alpha, beta):
    shutil.copyfile(os.path.join(alpha, "rds", "r0.pb"), os.path.join(alpha, "rds", "ghost.pb"))
    return True, []


def t_stray_other(alpha, beta):
    strays = [os.path.join(alpha, "eds", "notes.txt"), os.path.join(alpha, "junk")]
    for p in strays:
        write(p, "an operator's\n")
    return False, strays


def t_chmod(alpha, beta):
    os.chmod(os.path.join(alpha, "cds", "cds.pb"), 0o600)
    os.chmod(os.path.join(beta, "eds", "shared.pb"), 0o644)
    return False, []


CASES = [("delete", t_delete), ("in-place", t_in_place), ("rename", t_rename), ("stray-pb", t_stray_pb),
         ("stray-other", t_stray_other), ("chmod", t_chmod)]


def t_matrix(mode):
    env = make_env(mode)
    exp = expected(env)
    d = env.daemon()
    wait_until(lambda: passes(env) >= 1, "the verification at start to complete")
    shown = json.loads(env.fsxds("status", "--config", env.config_path, "--json").stdout)
    expect(isinstance(shown.get("verify_passes"), int) and shown["verify_passes"] >= 1,
           "fsxds status --json does not show verify_passes: %r", shown)
    check_repaired(env, exp, store_objects(env), "after the first publish")
    objects = store_objects(env)
    alpha, beta = env.node_dir("alpha"), env.node_dir("beta")
    for name, tamper in CASES:
        start = len(d.log_text())
        os.kill(d.proc.pid, signal.SIGSTOP)
        try:
            tampered, strays = tamper(alpha, beta)
            if tampered:
                p = verify(env, "alpha")
                expect(p.returncode == 1, "%s: fsxds verify --ca of the tampered alpha: exit %d, expected 1\n%s",
                       name, p.returncode, p.stdout)
            at = passes(env)
        finally:
            os.kill(d.proc.pid, signal.SIGCONT)
        wait_passes(d, env, at)
        check_repaired(env, exp, objects, name)
        log = d.log_text()[start:]
        for p in strays:
            rel = os.path.relpath(p, alpha)
            expect(os.path.exists(p), "%s: %s was removed; it is not fsxdsd's to remove", name, rel)
            expect(re.search(r"\[alpha\].*not fsxdsd's", log) and rel in log,
                   "%s: %s is not reported in the log:\n%s", name, rel, log)
            os.unlink(p)
        if name == "in-place":
            expect("dropped from the store" in log, "in-place: the edited store object is not dropped:\n%s", log)
    d.stop()


SLICE_NODES = 64  # VERIFY_SLICE_NODES in daemon/service/upkeep.h


def t_slices(mode):
    many = ["m%03d" % i for i in range(150)]
    env = make_env(mode)
    env.write_config(nodes=many)
    with open(env.config_path, "a") as f:
        f.write('signing:\n  key: "%s"\n  cert: "%s"\n  chain: "%s"\nverify_interval: "0.2s"\n'
                % (_pki.key, _pki.cert, _pki.chain))
    d = env.daemon(debug=True)
    wait_until(lambda: passes(env) >= 1, "the verification at start to complete")
    last = env.node_dir(many[-1])
    victim = os.path.join(last, "eds", "shared.pb")
    good = read(victim)
    os.kill(d.proc.pid, signal.SIGSTOP)
    try:
        os.unlink(victim)
        at = passes(env)
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)
    wait_passes(d, env, at)
    expect(os.path.exists(victim) and read(victim) == good, "%s: not published again after the pass", victim)
    n_nodes = len(many) + len(NODES)
    counts = [(int(a), int(b)) for a, b in re.findall(r"verification pass: (\d+) nodes? checked in (\d+) slices?",
                                                       d.log_text())]
    expect(counts, "no verification pass in the debug log:\n%s", d.log_text()[-2000:])
    want = -(-n_nodes // SLICE_NODES)
    for n, k in counts:
        expect(n == n_nodes and k >= want, "a pass over %d nodes in %d slices; %d nodes need at least %d slices of %d",
               n, k, n_nodes, want, SLICE_NODES)
    d.stop()


def victim_dir(env, like):
    """A directory outside the output that looks like a node's (so a followed
    symlink would pass), and its snapshot."""
    v = os.path.join(env.root, "victim")
    shutil.copytree(like, v, symlinks=True)
    return v, tree_snap(v)


def tree_snap(top):
    snap = {}
    for root, dirs, files in os.walk(top):
        for n in dirs + files:
            p = os.path.join(root, n)
            st = os.lstat(p)
            snap[os.path.relpath(p, top)] = (st.st_mode, st.st_ino, st.st_mtime_ns,
                                             read(p) if stat.S_ISREG(st.st_mode) else None)
    return snap


def t_planted_dirs(mode):
    env = make_env(mode)
    exp = expected(env)
    d = env.daemon()
    wait_until(lambda: passes(env) >= 1, "the verification at start to complete")
    objects = store_objects(env)
    alpha = env.node_dir("alpha")
    aside = os.path.join(env.out, "..aside")
    victim, victim_snap = victim_dir(env, alpha)
    try:
        def plant_type_link():
            os.rename(os.path.join(alpha, "lds"), aside)
            os.symlink(os.path.join(victim, "lds"), os.path.join(alpha, "lds"))

        def plant_type_file():
            os.rename(os.path.join(alpha, "cds"), aside)
            write(os.path.join(alpha, "cds"), "not a directory\n")

        def plant_node_link():
            os.rename(alpha, aside)
            os.symlink(victim, alpha)
            p = verify(env, "alpha")
            expect(p.returncode != 0 and "symlink" in p.stderr,
                   "fsxds verify of a symlinked node directory: exit %d: %s%s", p.returncode, p.stdout, p.stderr)

        for name, plant in [("type-link", plant_type_link), ("type-file", plant_type_file),
                            ("node-link", plant_node_link)]:
            start = len(d.log_text())
            os.kill(d.proc.pid, signal.SIGSTOP)
            try:
                plant()
                at = passes(env)
            finally:
                os.kill(d.proc.pid, signal.SIGCONT)
            wait_passes(d, env, at)
            check_repaired(env, exp, objects, name)
            expect(os.path.isdir(alpha) and not os.path.islink(alpha), "%s: alpha is not a directory", name)
            log = d.log_text()[start:]
            expect("cannot publish" not in log, "%s: still failing:\n%s", name, log)
            expect(tree_snap(victim) == victim_snap, "%s: the victim directory was changed", name)
            shutil.rmtree(aside)
    finally:
        shutil.rmtree(victim, ignore_errors=True)
    d.stop()


def t_planted_store(mode):
    env = make_env(mode, verify_interval="60s")
    exp = expected(env)
    d = env.daemon()
    objects = store_objects(env)
    d.stop()
    store = os.path.join(env.out, ".store")
    victim, victim_snap = victim_dir(env, store)
    try:
        for name in ("link", "file"):
            shutil.rmtree(store)
            if name == "link":
                os.symlink(victim, store)
            else:
                write(store, "not a directory\n")
            d = env.daemon()
            log = d.log_text()
            expect(".store" in log and "not a directory" in log, "%s: the replaced .store is not logged:\n%s",
                   name, log)
            expect(os.path.isdir(store) and not os.path.islink(store), "%s: .store is not a directory", name)
            check_repaired(env, exp, objects, "planted-store " + name)
            expect(tree_snap(victim) == victim_snap, "%s: the victim directory was changed", name)
            d.stop()
    finally:
        shutil.rmtree(victim, ignore_errors=True)


# ---------------------------------------------------------------- crash leftovers


def fsxds_temporaries(out):
    """Every name under out that is one of fsxds's temporary names, or a
    generation directory that "..data" does not point to."""
    found = []
    for root, dirs, files in os.walk(out):
        data = None
        if os.path.islink(os.path.join(root, "..data")):
            data = os.readlink(os.path.join(root, "..data"))
        for n in dirs + files:
            rel = os.path.relpath(os.path.join(root, n), out)
            if (n.startswith(".tmp.") or n == "..data.tmp" or re.fullmatch(r"\.MANIFEST(\.sig)?\.tmp\.\d+", n)
                    or re.fullmatch(r"status\.json\.tmp\.\d+", n)
                    or (os.path.basename(root) == ".fsxds" and re.fullmatch(r".+\.tmp\.\d+", n))
                    or (n.startswith("..gen-") and n != data)):
                found.append(rel)
    return sorted(found)


def t_leftovers(mode):
    env = make_env(mode, verify_interval="60s")
    d = env.daemon()
    objects = store_objects(env)
    d.stop()
    out, alpha = env.out, env.node_dir("alpha")
    eds = os.path.join(alpha, "eds")
    shared = read(os.path.join(eds, "shared.pb"))
    planted = {
        "status.json.tmp.4242": b"{",
        "alpha/.MANIFEST.tmp.4242": b"{",
        "alpha/.MANIFEST.sig.tmp.4242": b"\x30",
        "alpha/eds/.tmp.shared.pb.00000000deadbeef": shared,
        ".store/.tmp.%s.00000000deadbeef" % ("0" * 64): b"half",
        ".fsxds/status.json.tmp.4242": b"{",
    }
    # look-alikes that are not fsxds's names: an operator's, left alone
    keep = {
        "status.json.tmp.old": b"mine",
        "alpha/.MANIFEST.tmp.42x": b"mine",
        ".fsxds/notes": b"mine",
    }
    for rel, data in list(planted.items()) + list(keep.items()):
        p = os.path.join(out, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    # a half-made generation, and a ..data.tmp, in watched_directory mode;
    # a temporary hard link of a store object in either
    os.link(os.path.join(out, ".store", hashlib.sha256(shared).hexdigest()), os.path.join(eds, ".tmp.x.00000000feedface"))
    if mode == "watched_directory":
        os.mkdir(os.path.join(eds, "..gen-999"))
        shutil.copyfile(os.path.join(eds, "shared.pb"), os.path.join(eds, "..gen-999", "shared.pb"))
        os.symlink("..gen-999", os.path.join(eds, "..data.tmp"))
        # a removal phase cut short: the top name gone, its link in the live
        # generation not yet; it only keeps an object alive
        live = os.path.join(eds, os.readlink(os.path.join(eds, "..data")))
        extra = os.path.join(out, ".store", hashlib.sha256(b"orphan").hexdigest())
        write(extra, "orphan")
        os.link(extra, os.path.join(live, "orphan.pb"))
        planted["alpha/eds/" + os.path.basename(live) + "/orphan.pb"] = None
    before = fsxds_temporaries(out)
    expect(len(before) >= len(planted), "the planted leftovers are not seen as such: %r", before)

    d = env.daemon()
    left = fsxds_temporaries(out)
    expect(not left, "temporary names left after a start: %r", left)
    for rel, data in planted.items():
        if data is None:
            expect(not os.path.lexists(os.path.join(out, rel)), "%s (linked by no name) was left", rel)
    for rel in keep:
        expect(os.path.exists(os.path.join(out, rel)), "%s (not an fsxds name) was removed", rel)
    now = store_objects(env)
    expect(len(now) <= len(objects), "the store grew from %d to %d objects", len(objects), len(now))
    for n in NODES:
        p = verify(env, n)
        expect(p.returncode == 0, "%s: fsxds verify --ca after the start: %s%s", n, p.stdout, p.stderr)
    d.stop()


if __name__ == "__main__":
    r = Runner("faults-tamper")
    root = tempfile.mkdtemp(prefix="fsxds-tamper-pki-")
    try:
        try:
            _pki = Pair(root)
        except pki.OpensslError as e:
            r.skip("tamper", "cannot make a test PKI: %s" % e)
            r.finish()
        for w, m in r.combos(backends=("inotify",)):
            r.run("tamper[%s,%s]" % (w, m), t_matrix, m)
            r.run("leftovers[%s,%s]" % (w, m), t_leftovers, m)
            r.run("slices[%s,%s]" % (w, m), t_slices, m)
            r.run("planted-dirs[%s,%s]" % (w, m), t_planted_dirs, m)
            r.run("planted-store[%s,%s]" % (w, m), t_planted_store, m)
    finally:
        if not KEEP:
            shutil.rmtree(root, ignore_errors=True)
    r.finish()
