# SPDX-License-Identifier: MIT
"""Fault area `state`: fsxdsd's state_dir under faults (issue 12, defects 5,
6, 8 for the state tree, the wrap of 11, and state_dir's format version).

- enospc: state_dir alone on a tiny tmpfs (a user+mount namespace), filled
  up: the output is still published, the failed save of the last good copy
  is the node's state_error in status.json and STATUS=, and once space
  frees the copy is saved with no source change.
- corrupt-copy[*]: the copy of alpha truncated to 0 bytes, garbage of the
  same size in place, its lds/ directory or its whole node directory a
  symlink to a copy elsewhere; a reboot (empty output_dir) with alpha's
  source broken publishes nothing of alpha and names the file in status;
  the next good build repairs the copy.
- counter-full: with state_dir full, the generation counter still follows
  every generation published (in place); when even that fails, status.json
  and STATUS= say so.
- fifo-state-files: a FIFO at the counter or the format file is reported
  as not a regular file (never "File descriptor in bad state").
- stale-copy: a copy older than the output's MANIFEST is refused.
- absent-node: a node gone from the tree, restored after a reboot, has its
  copy's MANIFEST follow the generation it was restored under.
- leftovers: every temporary name fsxds can leave in state_dir is gone
  after start, the copies' store does not grow, other names stay.
- old-layout: a state_dir of format 1 (counter at the top, copies without
  MANIFEST) is adopted at start, and a reboot with a failing first build
  still restores the last good output.
- counter-at-top: the generation counter never passes its highest value.

Verdicts come from STATUS=, status.json and files on disk; every wait has
a generous timeout (harness WAIT); nothing depends on a timing threshold.
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration", "daemon"))
from harness import *  # noqa: E402,F401,F403

NODES = ("alpha", "beta")
BAD_RDS = y_routes("r0", [("/", "shared")]).replace("virtual_hosts:", "virtual_hostz:")
INT64_MAX = 2 ** 63 - 1


def state_error(env, node):
    return env.status()["nodes"].get(node, {}).get("state_error")


def store_objects(state):
    d = os.path.join(state, "nodes", ".store")
    return sorted(n for n in os.listdir(d) if not n.startswith("."))


def copy_files(node_dir):
    """{type/name.pb: bytes} of a copy (plain files)."""
    out = {}
    for t in TYPE_DIRS:
        d = os.path.join(node_dir, t)
        if os.path.isdir(d) and not os.path.islink(d):
            for n in os.listdir(d):
                if n.endswith(".pb") and not n.startswith("."):
                    with open(os.path.join(d, n), "rb") as f:
                        out["%s/%s" % (t, n)] = f.read()
    return out


def published(env, node):
    return {k: v for k, v in contents(snapshot(env.node_dir(node))).items()}


# ---------------------------------------------------------------- ENOSPC

def userns_problem():
    try:
        p = subprocess.run(["unshare", "-Urm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True, text=True, timeout=WAIT)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "unshare: %s" % e
    if p.returncode != 0:
        return "no user+mount namespace with a tmpfs here (unshare -Urm: %s)" % p.stderr.strip()
    return None


class NsDaemon(Daemon):
    """fsxdsd in its own user+mount namespace, state_dir a tmpfs of size
    bytes there. unshare execs sh, which execs fsxdsd: proc.pid is the
    daemon, and /proc/PID/root/STATE is its view of the tmpfs."""

    size = 384 * 1024

    def argv(self):
        script = 'mount -t tmpfs -o size=%d,mode=0750 tmpfs "$1" && shift && exec "$@"' % self.size
        return ["unshare", "-Urm", "sh", "-c", script, "sh", self.env.state] + super().argv()

    def state_path(self, *rel):
        return os.path.join("/proc/%d/root" % self.proc.pid, self.env.state.lstrip("/"), *rel)


def t_enospc(problem):
    if problem:
        raise Skip(problem)
    env = Env("inotify", "rename", tree=base_tree(), verify_interval="1s")
    os.makedirs(env.state)
    d = NsDaemon(env)
    d.start()
    st = env.status()
    expect(st["nodes"]["alpha"].get("state_error") is None, "alpha: %r", st["nodes"]["alpha"].get("state_error"))
    copy = d.state_path("nodes", "alpha")
    expect(copy_files(copy) == published(env, "alpha"), "alpha's copy is not its output before the fault")
    before = copy_files(copy)

    # fill the tmpfs, then change alpha's endpoints
    filler = d.state_path("filler")
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as e:
            expect(e.errno == 28, "filling state_dir: %s", e)
    mark = d.mark()
    mv_write(env, "common/eds.yaml", y_cla("shared", [("10.0.0.9", 8009)]))
    st = d.wait_generation(mark, st["generation"] + 1)
    expect_in("10.0.0.9", decode(os.path.join(env.node_dir("alpha"), "eds/shared.pb")), "alpha's new output")
    err = wait_until(lambda: state_error(env, "alpha"), "alpha's state_error in status.json")
    expect("No space left" in err, "alpha's state_error does not say why: %r", err)
    status_lines = [m["STATUS"] for m in d.notify.since(mark) if "STATUS" in m]
    expect(any("No space left" in s for s in status_lines), "STATUS= does not report it: %r", status_lines)
    shown = env.fsxds("status", "--config", env.config_path, expect=None).stdout
    expect("last good copy" in shown, "fsxds status does not show it:\n%s", shown)
    # the copy is still a whole earlier generation (it verifies), never a mix
    now = copy_files(copy)
    expect(now == before or now == published(env, "alpha"), "alpha's copy is a mix of two generations")

    # space frees: the copy is saved again, with no source change
    os.unlink(filler)
    wait_until(lambda: state_error(env, "alpha") is None, "alpha's state_error cleared after space freed")
    expect(copy_files(copy) == published(env, "alpha"), "alpha's copy is not its output after recovery")
    m = json.loads(read(os.path.join(copy, "MANIFEST")))
    expect(m["generation"] == env.status()["nodes"]["alpha"]["generation"],
           "the copy's MANIFEST names generation %d, the output is %d", m["generation"],
           env.status()["nodes"]["alpha"]["generation"])
    d.stop()


def t_counter_full(problem):
    """state_dir full: the generation counter still follows every
    generation published (written in place, no new block); when even that
    cannot be done, it is an error in status.json and STATUS=."""
    if problem:
        raise Skip(problem)
    env = Env("inotify", "rename", tree=base_tree())
    # without the generation history, which keeps the objects of earlier
    # generations: here every generation's copy reuses the blocks the
    # previous one freed, so that only the counter can fail
    env.write_config(text=open(env.config_path).read() + "history: 0\n")
    os.makedirs(env.state)
    d = NsDaemon(env)
    d.start()
    counter = d.state_path(".fsxds", "generation")
    expect_eq(read(counter).decode(), "%d\n" % env.status()["generation"], "the counter before the fault")
    filler = d.state_path("filler")
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            expect(e.errno == 28, "filling state_dir: %s", e)
    for port in (8101, 8102, 8103):
        mark = d.mark()
        g = env.status()["generation"]
        mv_write(env, "common/eds.yaml", y_cla("shared", [("10.0.0.9", port)]))
        st = d.wait_generation(mark, g + 1)
        expect_eq(read(counter).decode(), "%d\n" % st["generation"], "the counter on disk with state_dir full")
        expect(all(not (s.get("STATUS") or "").count("generation counter") for s in d.notify.since(mark)),
               "STATUS= reports the counter although it was written")
    # even the in-place write fails (a FIFO there): an error in status, not only a log line
    os.unlink(counter)
    os.mkfifo(counter)
    mark = d.mark()
    g = env.status()["generation"]
    mv_write(env, "common/eds.yaml", y_cla("shared", [("10.0.0.9", 8104)]))
    st = d.wait_generation(mark, g + 1)
    expect(any("generation counter" in (m.get("STATUS") or "") for m in d.notify.since(mark)),
           "STATUS= does not report the counter that could not be written")
    err = st["nodes"]["alpha"].get("state_error") or ""
    expect("generation counter" in err, "status.json does not report the counter: %r", err)
    d.stop()


def t_fifo_state_files():
    """A FIFO at the counter or the format file is named as what it is
    (read_error_string()), never "File descriptor in bad state"."""
    for rel, starts in ((".fsxds/generation", True), (".fsxds/format", False)):
        env = Env("inotify", "rename", tree=base_tree())
        env.daemon().stop()
        p = os.path.join(env.state, rel)
        os.unlink(p)
        os.mkfifo(p)
        d = env.daemon(start=False)
        d.start(wait_ready=starts)
        if not starts:
            d.proc.wait(timeout=WAIT)
        log = d.log_text()
        expect_in("%s: not a regular file" % p, log, "the journal on a FIFO at %s" % rel)
        expect("File descriptor in bad state" not in log, "EBADFD's strerror in the journal:\n%s", log)
        if starts:
            d.stop()
        else:
            d.stop(expect_ok=False)


# ---------------------------------------------------------------- corrupted copies

def corrupt(env, kind):
    copy = os.path.join(env.state, "nodes", "alpha")
    lds = os.path.join(copy, "lds", "lds.pb")
    if kind == "empty":
        os.truncate(lds, 0)
    elif kind == "garbage":
        n = os.path.getsize(lds)
        with open(lds, "r+b") as f:  # in place: the store object changes too
            f.write(bytes((i * 37 + 11) & 0xff for i in range(n)))
    elif kind == "type-dir-symlink":
        decoy = os.path.join(env.root, "decoy-lds")
        shutil.copytree(os.path.join(copy, "lds"), decoy)
        shutil.rmtree(os.path.join(copy, "lds"))
        os.symlink(decoy, os.path.join(copy, "lds"))
        return decoy
    elif kind == "node-dir-symlink":
        decoy = os.path.join(env.root, "decoy-alpha")
        shutil.copytree(copy, decoy)
        shutil.rmtree(copy)
        os.symlink(decoy, copy)
        return decoy
    return None


def tree_listing(path):
    out = []
    for dirpath, dirs, files in os.walk(path):
        for n in files:
            p = os.path.join(dirpath, n)
            out.append((os.path.relpath(p, path), read(p) if not os.path.islink(p) else None))
    return sorted(out)


def t_corrupt_copy(kind, what):
    env = Env("inotify", "rename", tree=base_tree())
    d = env.daemon()
    g0 = env.status()["generation"]
    d.stop()
    decoy = corrupt(env, kind)
    decoy_before = tree_listing(decoy) if decoy else None

    # reboot with alpha broken
    shutil.rmtree(env.out)
    mv_write(env, "nodes/alpha/rds.yaml", BAD_RDS)
    d = env.daemon()
    st = env.status()
    expect(not os.path.exists(os.path.join(env.node_dir("alpha"), "lds", "lds.pb")),
           "alpha's unverified copy was published (%s)", kind)
    err = st["nodes"]["alpha"].get("state_error")
    expect(err and what in err, "alpha's state_error does not name %r: %r", what, err)
    expect(st["nodes"]["alpha"]["error"] is not None, "alpha's build error is not reported")
    expect(st["nodes"]["beta"]["error"] is None and st["nodes"]["beta"].get("state_error") is None,
           "beta: %r", st["nodes"]["beta"])
    expect(os.path.exists(os.path.join(env.node_dir("beta"), "lds", "lds.pb")), "beta not restored")
    expect(st["generation"] > g0, "the generation went back")

    # the next good build repairs the copy, never through the symlink
    mark = d.mark()
    mv_write(env, "nodes/alpha/rds.yaml", y_routes("r0", [("/", "shared")]))
    d.wait_generation(mark, st["generation"] + 1)
    wait_until(lambda: state_error(env, "alpha") is None, "alpha's state_error cleared by a good build")
    copy = os.path.join(env.state, "nodes", "alpha")
    expect(not os.path.islink(copy) and not os.path.islink(os.path.join(copy, "lds")), "the symlink is still there")
    expect(copy_files(copy) == published(env, "alpha"), "alpha's copy is not repaired")
    if decoy:
        expect(tree_listing(decoy) == decoy_before, "the symlink's target was written to")
    d.stop()


def t_stale_copy():
    """A copy that stalled a generation behind (a full state_dir, say) is
    never published over the output it would replace."""
    env = Env("inotify", "rename", tree=base_tree())
    d = env.daemon()
    d.stop()
    copy = os.path.join(env.state, "nodes", "alpha")
    stale = os.path.join(env.root, "stale-alpha")
    shutil.copytree(copy, stale)
    d = env.daemon()
    mark = d.mark()
    mv_write(env, "nodes/alpha/rds.yaml", y_routes("r0", [("/v2", "shared")]))
    d.wait_generation(mark, env.status()["generation"] + 1)
    d.stop()
    shutil.rmtree(copy)
    shutil.copytree(stale, copy)
    # the output lost its lds.pb, its MANIFEST (newer than the copy) is left
    os.unlink(os.path.join(env.node_dir("alpha"), "lds", "lds.pb"))
    mv_write(env, "nodes/alpha/rds.yaml", BAD_RDS)
    d = env.daemon()
    st = env.status()
    expect(not os.path.exists(os.path.join(env.node_dir("alpha"), "lds", "lds.pb")),
           "alpha's stale copy was published over a newer output")
    err = st["nodes"]["alpha"].get("state_error") or ""
    expect("older" in err, "alpha's state_error does not say the copy is older: %r", err)
    d.stop()


def t_absent_node():
    """A node gone from the tree is restored from its copy after a reboot,
    under a new generation; its copy's MANIFEST names that generation, so
    the copy stays restorable over that output."""
    env = Env("inotify", "rename", tree=base_tree())
    d = env.daemon()
    d.stop()
    last_good = published(env, "beta")
    shutil.rmtree(env.path("nodes/beta"))
    shutil.rmtree(env.out)
    d = env.daemon()
    expect(published(env, "beta") == last_good, "beta's last good output is not restored")
    live = json.loads(read(os.path.join(env.node_dir("beta"), "MANIFEST")))["generation"]
    copy = json.loads(read(os.path.join(env.state, "nodes", "beta", "MANIFEST")))["generation"]
    expect(copy == live, "beta's copy names generation %d, its restored output %d", copy, live)
    d.stop()
    # its lds.pb lost, its MANIFEST left: the copy is not older, it comes back
    os.unlink(os.path.join(env.node_dir("beta"), "lds", "lds.pb"))
    d = env.daemon()
    expect(published(env, "beta") == last_good, "beta's copy was refused over its own output")
    expect(env.status()["nodes"]["beta"].get("state_error") is None, "beta: %r",
           env.status()["nodes"]["beta"].get("state_error"))
    d.stop()


# ---------------------------------------------------------------- leftovers

def t_leftovers():
    env = Env("inotify", "rename", tree=base_tree())
    d = env.daemon()
    d.stop()
    objects = store_objects(env.state)
    s = env.state
    store = os.path.join(s, "nodes", ".store")
    # a crash mid-write: an object only a temporary name links
    orphan = os.path.join(store, "f" * 64)
    write(orphan, "half a generation")
    planted = [os.path.join(s, "generation.tmp.4242"), os.path.join(s, ".fsxds", "generation.tmp.4242"),
               os.path.join(s, ".fsxds", "format.tmp.4242"), os.path.join(s, "allow-removal", ".alpha.tmp.4242"),
               os.path.join(s, "nodes", "alpha", ".MANIFEST.tmp.4242"),
               os.path.join(s, "rollback", ".alpha.tmp.4242"), os.path.join(s, "pin", ".alpha.tmp.4242"),
               os.path.join(s, "history", "alpha", "1.json.tmp.4242"),
               os.path.join(s, "nodes", "alpha", "eds", ".tmp.shared.pb.4242")]
    os.makedirs(os.path.join(s, "allow-removal"), exist_ok=True)
    for p in planted[:-1]:
        write(p, "x")
    os.link(orphan, planted[-1])
    os.makedirs(os.path.join(s, "rollback"), exist_ok=True)
    os.makedirs(os.path.join(s, "pin"), exist_ok=True)
    kept = [os.path.join(s, "generation.tmp.12x"), os.path.join(s, "notes.tmp.1"),
            os.path.join(s, "history", "alpha", "1.json.tmp.12x")]
    for p in kept:
        write(p, "keep")
    d = env.daemon()
    left = [p for p in planted if os.path.lexists(p)]
    expect(not left, "leftovers not removed at start: %s", left)
    expect(all(os.path.exists(p) for p in kept), "a name fsxds does not write was removed")
    expect(store_objects(env.state) == objects, "the copies' store grew: %d objects, %d before",
           len(store_objects(env.state)), len(objects))
    d.stop()


# ---------------------------------------------------------------- format 1

def t_old_layout():
    env = Env("inotify", "rename", tree=base_tree())
    d = env.daemon()
    last_good = published(env, "alpha")
    g0 = env.status()["generation"]
    d.stop()
    # back to format 1, as an older fsxdsd left it
    s = env.state
    os.rename(os.path.join(s, ".fsxds", "generation"), os.path.join(s, "generation"))
    shutil.rmtree(os.path.join(s, ".fsxds"))
    for n in NODES:
        os.unlink(os.path.join(s, "nodes", n, "MANIFEST"))

    # upgrade, then a reboot with a failing first build
    shutil.rmtree(env.out)
    mv_write(env, "nodes/alpha/rds.yaml", BAD_RDS)
    d = env.daemon()
    st = env.status()
    expect(published(env, "alpha") == last_good, "alpha's last good output is not restored after the upgrade")
    expect(st["nodes"]["alpha"].get("state_error") is None, "alpha: %r", st["nodes"]["alpha"].get("state_error"))
    expect(st["generation"] > g0, "the generation went back: %d after %d", st["generation"], g0)
    expect(read(os.path.join(s, ".fsxds", "format")) == b"2\n", "no format file")
    expect(not os.path.exists(os.path.join(s, "generation")), "format 1's counter is still at the top")
    for n in NODES:
        expect(os.path.exists(os.path.join(s, "nodes", n, "MANIFEST")), "%s's copy has no MANIFEST", n)
    d.stop()
    # fsxds forget and allow-removal work on the new layout
    env.fsxds("forget", "--config", env.config_path, "beta", expect=None)
    env.fsxds("allow-removal", "--config", env.config_path, "alpha", expect=None)
    expect(os.path.exists(os.path.join(s, "allow-removal", "alpha")), "fsxds allow-removal wrote no allowance")


# ---------------------------------------------------------------- the top

def t_counter_at_top():
    env = Env("inotify", "rename", tree=base_tree())
    top = INT64_MAX
    write(os.path.join(env.state, ".fsxds", "format"), "2\n")
    write(os.path.join(env.state, ".fsxds", "generation"), "%d\n" % (top - 1))
    write(os.path.join(env.state, "generation"), "%d\n" % (top - 1))  # what an older fsxdsd reads
    d = env.daemon()
    st = env.status()
    expect(st["generation"] == top, "generation %r, expected %d", st["generation"], top)
    m = json.loads(read(os.path.join(env.node_dir("alpha"), "MANIFEST")))
    expect(m["generation"] == top, "MANIFEST generation %r", m["generation"])
    before = published(env, "alpha")
    mark = d.mark()
    mv_write(env, "nodes/alpha/rds.yaml", y_routes("r0", [("/top", "shared")]))
    i, st = d.wait_rebuild(mark)
    err = (st["nodes"]["alpha"]["error"] or {}).get("message", "")
    expect("highest" in err, "alpha's error does not say the counter is at its highest: %r", err)
    line = d.notify.since(mark)
    expect(any("highest" in x.get("STATUS", "") for x in line), "STATUS= does not say it")
    expect(published(env, "alpha") == before, "alpha's output changed past the top")
    m = json.loads(read(os.path.join(env.node_dir("alpha"), "MANIFEST")))
    expect(m["generation"] == top, "MANIFEST generation %r past the top", m["generation"])
    expect(d.alive(), "fsxdsd died")
    d.stop()


if __name__ == "__main__":
    r = Runner("state")
    r.run("enospc", t_enospc, userns_problem())
    r.run("counter-full", t_counter_full, userns_problem())
    r.run("fifo-state-files", t_fifo_state_files)
    for kind, what in (("empty", "lds/lds.pb"), ("garbage", "lds/lds.pb"), ("type-dir-symlink", "lds"),
                       ("node-dir-symlink", "symlink")):
        r.run("corrupt-copy[%s]" % kind, t_corrupt_copy, kind, what)
    r.run("stale-copy", t_stale_copy)
    r.run("absent-node", t_absent_node)
    r.run("leftovers", t_leftovers)
    r.run("old-layout", t_old_layout)
    r.run("counter-at-top", t_counter_at_top)
    r.finish()
