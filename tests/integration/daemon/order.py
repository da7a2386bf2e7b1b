# SPDX-License-Identifier: MIT
"""Publish order, as an Envoy's inotify instances see it: one recorder
watches every type directory of a node and records the kernel's order of
renames (IN_MOVED_TO: a file in rename mode, "..data" in watched_directory
mode) and deletions. Adding a cluster with its secret, endpoints and routes
to it must go SDS → EDS → CDS → RDS → LDS; taking it away goes listeners
and routes first, then clusters, then the files nothing names any more.
Replacing a cluster publishes an intermediate CDS (old ∪ new) before the
routes switch, and the final one after. Both watch backends, both modes."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

TYPES = ("sds", "eds", "cds", "rds", "lds")


def y_tls_cluster(name, secret):
    return y_cluster(name) + (
        "transport_socket:\n  name: envoy.transport_sockets.tls\n  typed_config:\n"
        '    "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext\n'
        "    common_tls_context:\n      tls_certificate_sds_secret_configs:\n      - name: %s\n" % secret)


def y_secret(name):
    return ('"@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n'
            "name: %s\ntls_certificate:\n  certificate_chain: {filename: /etc/certs/%s.crt}\n"
            "  private_key: {filename: /etc/certs/%s.key}\n" % (name, name, name))


def start_tree():
    """alpha already has every type directory the test watches (sds via a
    secret of cluster shared)."""
    t = base_tree()
    t["nodes/alpha/sds.yaml"] = y_secret("base_cert")
    t["nodes/alpha/shared.yaml"] = y_tls_cluster("shared", "base_cert")  # replaces common's shared
    return t


def added(t, cluster="c2"):
    t = dict(t)
    t["nodes/alpha/%s.yaml" % cluster] = y_docs(y_tls_cluster(cluster, cluster + "cert"), y_secret(cluster + "cert"),
                                                y_cla(cluster, [("10.2.0.1", 8080)]))
    t["nodes/alpha/rds.yaml"] = y_routes("r0", [("/%s" % cluster, cluster), ("/", "shared")])
    t["nodes/alpha/l2.yaml"] = y_docs(y_listener("l2", 10002, "r2"), y_routes("r2", [("/", cluster)]))
    return t


def apply_tree(env, old, new):
    for rel in old:
        if rel not in new:
            os.unlink(env.path(rel))
    for rel, text in new.items():
        if old.get(rel) != text:
            tmp = env.path(rel) + ".tmp"
            write(tmp, text)
            os.rename(tmp, env.path(rel))


class Recorder:
    def __init__(self, env, node):
        self.env = env
        self.nd = env.node_dir(node)
        self.ino = InotifyRecorder()
        for t in TYPES:
            self.ino.add(os.path.join(self.nd, t), t)
        self.cds_reads = []  # (inode, names) read right at each cds switch
        self.ino.on_event = self.on_event

    def on_event(self, ev):
        _, label, mask, name = ev
        if label == "cds" and mask & IN_MOVED_TO:
            try:
                with open(os.path.join(self.nd, "cds", "cds.pb"), "rb") as f:
                    self.cds_reads.append((os.fstat(f.fileno()).st_ino, response_names(f.read())))
            except OSError as e:
                self.cds_reads.append((None, str(e)))

    def switches(self, mode):
        """[(seq, type, file or None)]: what an Envoy's subscription sees as a
        switch: a rename onto a .pb name (rename mode) or onto "..data"."""
        out = []
        for seq, label, mask, name in self.ino.snapshot():
            if not mask & IN_MOVED_TO:
                continue
            if mode == "rename" and name.endswith(".pb") and not name.startswith("."):
                out.append((seq, label, name))
            elif mode == "watched_directory" and name == "..data":
                out.append((seq, label, None))
        return out

    def stray_renames(self, mode):
        """Renames onto .pb names in watched_directory mode (there, files
        switch by ..data only)."""
        return [e for e in self.ino.snapshot() if e[2] & IN_MOVED_TO and e[3].endswith(".pb")
                and not e[3].startswith(".") and mode == "watched_directory"]

    def deletes(self):
        return [(seq, label, name) for seq, label, mask, name in self.ino.snapshot()
                if mask & IN_DELETE and name.endswith(".pb") and not name.startswith(".")]

    def clear(self):
        self.ino.clear()
        self.cds_reads = []

    def close(self):
        self.ino.close()


def seqs(events, typ, name=None):
    return [e[0] for e in events if e[1] == typ and (name is None or e[2] in (name, None))]


def before(a, b, what):
    expect(a and b, "%s: missing events (%r, %r)", what, a, b)
    expect(max(a) < min(b), "%s: order violated (%r vs %r)", what, a, b)


def t_order(watch, mode):
    t0 = start_tree()
    env = Env(watch, mode, tree=t0, phase_pause="0.1s", max_removal=1.0)
    d = env.daemon()
    st = env.status()
    expect(st["nodes"]["alpha"]["error"] is None, "alpha: %r", st["nodes"]["alpha"]["error"])
    rec = Recorder(env, "alpha")
    try:
        # ---- adding cluster c2 with its secret, endpoints, a route to it in r0 and a new listener l2 → r2
        t1 = added(t0)
        mark = d.mark()
        apply_tree(env, t0, t1)
        st = d.wait_generation(mark, st["generation"] + 1)
        expect(st["nodes"]["alpha"]["error"] is None, "alpha: %r", st["nodes"]["alpha"]["error"])
        sw = rec.switches(mode)
        expect(not rec.stray_renames(mode), "renames onto .pb names in watched_directory mode: %r",
               rec.stray_renames(mode))
        expect(not rec.deletes(), "deletions while adding: %r", rec.deletes())
        if mode == "rename":
            got = sorted((e[1], e[2]) for e in sw)
            expect_eq(got, [("cds", "cds.pb"), ("eds", "c2.pb"), ("lds", "lds.pb"), ("rds", "r0.pb"),
                            ("rds", "r2.pb"), ("sds", "c2cert.pb")], "files renamed into place (each once)")
        else:
            expect_eq(sorted(e[1] for e in sw), sorted(TYPES), "..data switches (one per type directory)")
        before(seqs(sw, "sds"), seqs(sw, "eds"), "sds before eds")
        before(seqs(sw, "eds"), seqs(sw, "cds"), "eds before cds")
        before(seqs(sw, "cds"), seqs(sw, "rds"), "cds before rds")
        before(seqs(sw, "rds"), seqs(sw, "lds"), "rds before lds")
        for t in ("sds", "eds", "rds"):
            for n in os.listdir(os.path.join(env.node_dir("alpha"), t)):
                if n.endswith(".pb") and not n.startswith("."):
                    p = check_published_bytes(t, read(os.path.join(env.node_dir("alpha"), t, n)))
                    expect(p is None, "%s/%s: %s", t, n, p)

        # ---- replacing c2 by c3: intermediate cds (c2 and c3), routes switch, final cds, c2's files go
        t2 = added(t0, "c3")
        rec.clear()
        mark = d.mark()
        apply_tree(env, t1, t2)
        st = d.wait_generation(mark, st["generation"] + 1)
        expect(st["nodes"]["alpha"]["error"] is None, "alpha: %r", st["nodes"]["alpha"]["error"])
        sw, dl = rec.switches(mode), rec.deletes()
        cds = seqs(sw, "cds")
        expect_eq(len(cds), 2, "cds switches when a cluster is replaced (intermediate, final)")
        before(seqs(sw, "eds", "c3.pb"), cds[:1], "new eds before the intermediate cds")
        before(cds[:1], seqs(sw, "rds"), "intermediate cds before the routes")
        before(seqs(sw, "rds"), cds[1:], "routes before the final cds")
        before(cds[1:], seqs(dl, "eds", "c2.pb"), "final cds before eds/c2.pb goes")
        before(cds[1:], seqs(dl, "sds", "c2cert.pb"), "final cds before sds/c2cert.pb goes")
        expect(not seqs(sw, "lds"), "lds switched though the listeners did not change")
        final = response_names(read(os.path.join(env.node_dir("alpha"), "cds/cds.pb")))
        expect_eq(sorted(final), ["c3", "shared"], "final clusters")
        first = rec.cds_reads[0] if rec.cds_reads else None
        final_ino = os.stat(os.path.join(env.node_dir("alpha"), "cds/cds.pb")).st_ino
        if first and first[0] is not None and first[0] != final_ino:
            expect_eq(sorted(first[1]), ["c2", "c3", "shared"], "the intermediate cds's clusters")

        # ---- removal of c3 and everything naming it: the reverse
        rec.clear()
        mark = d.mark()
        apply_tree(env, t2, t0)
        st = d.wait_generation(mark, st["generation"] + 1)
        expect(st["nodes"]["alpha"]["error"] is None, "alpha: %r", st["nodes"]["alpha"]["error"])
        sw, dl = rec.switches(mode), rec.deletes()
        expect_eq(sorted((e[1], e[2]) for e in dl),
                  [("eds", "c3.pb"), ("rds", "r2.pb"), ("sds", "c3cert.pb")], "files deleted")
        expect(not seqs(sw, "eds") and not seqs(sw, "sds"), "eds/sds switched on a pure removal: %r", sw)
        before(seqs(sw, "rds"), seqs(sw, "cds"), "r0 loses its route before cds loses c3")
        before(seqs(sw, "lds"), seqs(dl, "rds", "r2.pb"), "listener l2 goes before rds/r2.pb")
        before(seqs(dl, "rds", "r2.pb"), seqs(sw, "cds"), "rds/r2.pb goes before cds loses c3")
        before(seqs(sw, "cds"), seqs(dl, "eds", "c3.pb"), "cds loses c3 before eds/c3.pb goes")
        before(seqs(sw, "cds"), seqs(dl, "sds", "c3cert.pb"), "cds loses c3 before sds/c3cert.pb goes")
        expect_eq(len(seqs(sw, "cds")), 1, "cds switches on a pure removal")
    finally:
        rec.close()
    d.stop()
    env.assert_equals_compile(["alpha", "beta"])


if __name__ == "__main__":
    r = Runner("daemon-order")
    for w, m in r.combos():
        r.run("publish-order[%s,%s]" % (w, m), t_order, w, m)
    r.finish()
