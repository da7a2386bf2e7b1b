# SPDX-License-Identifier: MIT
"""Fault area enospc (issue 12, defects 7 and 10): a full output_dir, and
fsxds's own names in it.

- full-output: output_dir on a small tmpfs, filled to the last byte, then
  an edit. The last good output stays byte for byte, the error is in
  .fsxds/status.json (written into space reserved for it), in STATUS= and
  in `fsxds status`, with the time of the retry. Space is freed with no
  source change: the retry republishes the edit and the status is ok.
- full-manifest: output_dir fills between a publish's phases, so the files
  go in and the MANIFEST cannot be written; once space is back, with no
  source change, the retry writes every node's MANIFEST and `fsxds verify`
  passes.
- reserved-names: a node directory named status.json is a node like any
  other (fsxds's status lives in output_dir/.fsxds/), a leftover
  output_dir/status.json of the old layout is removed at start, and a node
  directory named .hidden is refused with an error naming it.

A tmpfs is mounted in a user+mount namespace (`unshare -Urm`; as root
without namespaces, in a private mount namespace of its own): the whole
script re-runs itself inside it. Without either the area is skipped, with
the reason."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'integration', 'daemon'))
from harness import *  # noqa: E402,F401,F403
import pki  # noqa: E402

NS_MARK = "FSXDS_FAULTS_ENOSPC_NS"
TMPFS_SIZE = "768k"


def enter_namespace():
    """Re-runs this script in a user+mount namespace (or, as root, a mount
    namespace); returns the reason when neither can be had."""
    if os.environ.get(NS_MARK):
        return None
    tries = [["unshare", "-Urm"]]
    if os.geteuid() == 0:
        tries.append(["unshare", "-m", "--propagation", "private"])
    reasons = []
    for cmd in tries:
        try:
            p = subprocess.run(cmd + ["sh", "-c", "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs \"$d\" && "
                                      "umount \"$d\" && rmdir \"$d\""], capture_output=True, text=True)
        except OSError as e:
            reasons.append("%s: %s" % (" ".join(cmd), e))
            continue
        if p.returncode == 0:
            env = dict(os.environ)
            env[NS_MARK] = "1"
            sys.stdout.flush()
            os.execvpe(cmd[0], cmd + [sys.executable] + sys.argv, env)
        reasons.append("%s: %s" % (" ".join(cmd), (p.stderr.strip() or "exit %d" % p.returncode)))
    return "cannot mount a tmpfs in a namespace (%s)" % "; ".join(reasons)


def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", path], check=True)


def fill(path):
    """Writes zeros into path until the file system is full."""
    with open(path, "wb", buffering=0) as f:
        block = b"\0" * 4096
        try:
            while True:
                f.write(block)
        except OSError as e:
            expect(e.errno == 28, "filling %s: %s", path, e)
    # tmpfs counts pages: a last partial one may still be free
    try:
        with open(path + ".tail", "wb", buffering=0) as f:
            while True:
                f.write(b"\0")
    except OSError:
        pass


def status_text(d, after):
    return [m["STATUS"] for m in d.notify.since(after) if "STATUS" in m]


def t_full_output(watch, mode):
    env = Env(watch, mode, tree=base_tree())
    mount_tmpfs(env.out, TMPFS_SIZE)
    try:
        d = env.daemon()
        st = d.wait_rebuild(d.start_index)[1]
        expect(all(st["nodes"][n]["error"] is None for n in ("alpha", "beta")), "errors at start: %r", st)
        g0 = st["generation"]
        before = {n: contents(snapshot(env.node_dir(n))) for n in ("alpha", "beta")}

        filler = os.path.join(env.out, ".fill")
        fill(filler)
        mark = d.mark()
        env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", 8123), ("10.0.0.2", 8124)]))
        # the rebuild that failed, then the status with the retry's time
        d.notify.wait(lambda m: "No space left on device" in m.get("STATUS", "") and "retried in" in m["STATUS"],
                      mark, what="STATUS= with the publish's ENOSPC and the retry", alive=d.alive)
        st = env.status()
        for n in ("alpha", "beta"):
            err = st["nodes"][n]["error"]
            expect(err is not None and "No space left on device" in err["message"],
                   "%s's error in status.json while output_dir is full: %r", n, err)
            got = contents(snapshot(env.node_dir(n)))
            expect(got == before[n], "%s's last good output changed while output_dir is full: %s", n,
                   sorted(k for k in set(got) | set(before[n]) if got.get(k) != before[n].get(k)))
        expect(st.get("retry_usec", 0) > 0, "no retry_usec in status.json while a publish failed: %r", st)
        # it was written with no block free: into the room reserved for it
        expect_eq(os.statvfs(env.out).f_bavail, 0, "free blocks of output_dir after the status was written")
        p = env.fsxds("status", "--config", env.config_path)
        expect_in("No space left on device", p.stdout, "fsxds status while output_dir is full")
        expect_in("failed publishes are retried at", p.stdout, "fsxds status while output_dir is full")

        # space freed, no source change: the retry publishes it
        mark = d.mark()
        os.unlink(filler)
        os.unlink(filler + ".tail")
        d.notify.wait(lambda m: "all published" in m.get("STATUS", ""), mark,
                      what="STATUS= all published after space was freed", alive=d.alive)
        st = env.status()
        for n in ("alpha", "beta"):
            expect(st["nodes"][n]["error"] is None, "%s still has an error after space was freed: %r", n,
                   st["nodes"][n]["error"])
            expect(st["nodes"][n]["generation"] > g0, "%s was not republished after space was freed", n)
            expect_in("port_value: 8124", decode(os.path.join(env.node_dir(n), "eds/shared.pb")),
                      "%s's endpoints after space was freed" % n)
        expect("retry_usec" not in st, "retry_usec still in status.json after the retry went through: %r",
               st.get("retry_usec"))
        expect(not os.path.lexists(os.path.join(env.out, ".fsxds", "status-error")),
               "status-error left after a status write went through")
        d.stop()
    finally:
        subprocess.run(["umount", "-l", env.out])


def manifest_generation(env, n):
    try:
        with open(os.path.join(env.node_dir(n), "MANIFEST")) as f:
            return json.load(f)["generation"]
    except (OSError, ValueError):
        return None


def t_full_manifest():
    """The disk fills between a publish's phases: the files went in, the
    MANIFEST cannot be written. Once space is back, with no source change,
    the retry gives the node a current MANIFEST that verifies."""
    env = Env("inotify", "rename", tree=base_tree(), phase_pause="1.5s")
    try:
        ca = pki.make(env.root, "p256", "E")
        key, cert = pki.new_leaf(ca, "e")
    except pki.OpensslError as e:
        raise Skip("cannot make a test PKI: %s" % e)
    env.write_config()
    with open(env.config_path, "a") as f:
        f.write('signing:\n  key: "%s"\n  cert: "%s"\n  chain: "%s"\n' % (key, cert, ca.chain))
    mount_tmpfs(env.out, TMPFS_SIZE)
    try:
        d = env.daemon()
        st = d.wait_rebuild(d.start_index)[1]
        g0 = st["generation"]
        mark = d.mark()
        # beta's endpoints (phase eds) and its listener (phase lds): a pause between
        eds = os.path.join(env.node_dir("beta"), "eds", "beta_backend.pb")
        before = read(eds)
        # beta's old files kept by a link of their own: the store's collection
        # after the phases frees no page the MANIFEST could take
        keep = os.path.join(env.out, ".keep")
        os.mkdir(keep)
        for i, f in enumerate(node_files(env.node_dir("beta"))):
            os.link(os.path.join(env.node_dir("beta"), f), os.path.join(keep, str(i)))
        env.write("nodes/beta/config.yaml", y_simple("web", 10011, "beta_backend", "10.1.0.2", 80))
        wait_until(lambda: read(eds) != before, "beta's new endpoints (its eds phase)")
        filler = os.path.join(env.out, ".fill")
        fill(filler)
        st = d.wait_generation(mark, g0 + 1)
        expect_in("10011", decode(os.path.join(env.node_dir("beta"), "lds", "lds.pb")), "beta's new listener")
        expect(manifest_generation(env, "beta") != st["nodes"]["beta"]["generation"],
               "beta's MANIFEST was written on a full output_dir (the fill came too late)")
        expect(not st["nodes"]["beta"]["manifest_current"], "beta's MANIFEST reported current: %r", st["nodes"]["beta"])

        # space freed, no source change: every node gets a current MANIFEST
        os.unlink(filler)
        os.unlink(filler + ".tail")
        wait_until(lambda: all(env.status()["nodes"][n]["manifest_current"] and
                               manifest_generation(env, n) == env.status()["nodes"][n]["generation"]
                               for n in ("alpha", "beta")),
                   "every node's MANIFEST current after space was freed")
        for n in ("alpha", "beta"):
            p = env.fsxds("verify", "--ca", ca.ca_cert, env.node_dir(n), expect=None)
            expect(p.returncode == 0, "fsxds verify %s: exit %d\n%s%s", n, p.returncode, p.stdout, p.stderr)
        d.stop()
    finally:
        subprocess.run(["umount", "-l", env.out])


def t_reserved_names(watch, mode):
    tree = base_tree()
    tree["nodes/status.json/config.yaml"] = y_simple("web", 10002, "sj_backend", "10.2.0.1", 80)
    tree["nodes/.hidden/config.yaml"] = y_simple("web", 10003, "hidden_backend", "10.3.0.1", 80)
    env = Env(watch, mode, tree=tree)
    # fsxds's status file of the layout before .fsxds/
    write(os.path.join(env.out, "status.json"), '{"version":1,"generation":7,"nodes":{}}\n')
    d = env.daemon()
    i, st = d.wait_rebuild(d.start_index)
    expect(os.path.isdir(os.path.join(env.out, "status.json")), "the old status.json was not replaced by the node")
    expect_in("lds/lds.pb", node_files(env.node_dir("status.json")), "node status.json's files")
    expect_eq(sorted(n for n in st["nodes"] if st["nodes"][n]["error"] is None), ["alpha", "beta", "status.json"],
              "nodes without errors")
    err = st["nodes"].get(".hidden", {}).get("error")
    expect(err is not None and err["file"] == env.path("nodes/.hidden") and "not a node id" in err["message"],
           "no error naming nodes/.hidden in status.json: %r", err)
    expect(not os.path.exists(os.path.join(env.out, ".hidden")), "a directory .hidden was published")
    expect_in(env.path("nodes/.hidden"), d.notify.since(i)[0]["STATUS"], "STATUS= with a node directory .hidden")
    p = env.fsxds("status", "--config", env.config_path)
    expect_in("status.json", p.stdout, "fsxds status")
    expect_in(env.path("nodes/.hidden") + ": not a node id", p.stdout, "fsxds status")
    # an edit of the node status.json is published like any other
    mark = d.mark()
    env.write("nodes/status.json/config.yaml", y_simple("web", 10002, "sj_backend", "10.2.0.9", 80))
    d.wait_rebuild(mark)
    expect_in("10.2.0.9", decode(os.path.join(env.node_dir("status.json"), "eds/sj_backend.pb")), "node status.json's endpoints")
    d.stop()


if __name__ == "__main__":
    reason = enter_namespace()
    r = Runner("faults-enospc")
    if reason:
        r.skip("full-output", reason)
        r.skip("full-manifest", reason)
    else:
        for m in MODES:
            r.run("full-output[inotify,%s]" % m, t_full_output, "inotify", m)
        r.run("full-manifest[inotify,rename]", t_full_manifest)
    r.run("reserved-names[inotify,rename]", t_reserved_names, "inotify", "rename")
    r.finish()
