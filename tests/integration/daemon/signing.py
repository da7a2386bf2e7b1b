# SPDX-License-Identifier: MIT
"""Signed output and signed sources, with real PKIs made by the openssl
CLI (pki.py, P-256 keys). Every node directory gets MANIFEST and a
detached CMS MANIFEST.sig after each generation; these tests check them
the way a consumer would: `openssl cms -verify -purpose any` against a CA
file and `fsxds verify --ca CA DIR`.

  rotation in place   key and cert files replaced by rename while fsxdsd
                      runs (a half-installed pair is refused and the old
                      one kept); every MANIFEST is signed again, also of
                      nodes whose files did not change; the next
                      generation verifies with the new CA and not the old
  rotation by SIGHUP  the config points to another pair: the next
                      generation verifies only with its CA
  bad pair on reload  an expired leaf: the reload is refused, fsxdsd stays
                      up and keeps signing with the previous pair
  signed sources      require_signed_sources: nothing is published from an
                      unsigned, edited, extended or wrongly signed tree
                      (the last good output stays byte for byte, the reason
                      is in status.json, STATUS= and the log); a tree
                      signed by the trusted CA is published
  self-verify         output altered while fsxdsd was stopped (a file
                      replaced, one deleted, one added) is named in the
                      log at start and restored; fsxds verify passes
  self-verify running the same while fsxdsd runs (verify_interval), and a
                      MANIFEST.sig replaced by another pair's

One backend and publish mode (inotify, rename): signing does not depend on
them."""
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403
import pki  # noqa: E402

NODES = ["alpha", "beta"]


class Pair:
    """A signing pair: key, cert, chain, the CA that vouches for it and the
    subject fsxdsd reports (status.json signing.subject)."""

    def __init__(self, p, name):
        self.key, self.cert = pki.new_leaf(p, name)
        self.chain = p.chain
        self.ca = p.ca_cert
        self.subject = "CN=%s-%s" % (pki.LEAF_CN, name)
        self.pki = p


_pki_root = None
A = B = C = None


def make_pkis():
    """Three independent PKIs (three root CAs), made once for all tests."""
    global _pki_root, A, B, C
    _pki_root = tempfile.mkdtemp(prefix="fsxds-signing-pki-")
    A = Pair(pki.make(_pki_root, "p256", "A"), "a")
    B = Pair(pki.make(_pki_root, "p256", "B"), "b")
    C = Pair(pki.make(_pki_root, "p256", "C"), "c")


# ---------------------------------------------------------------- helpers


def configure(env, signing=None, ca=None):
    """Writes env's config (the harness's flat keys) plus the nested
    signing: {key, cert, chain} and require_signed_sources: {ca}.
    signing: a Pair or a (key, cert, chain) tuple."""
    env.write_config()
    extra = ""
    if signing is not None:
        key, cert, chain = (signing.key, signing.cert, signing.chain) if isinstance(signing, Pair) else signing
        extra += 'signing:\n  key: "%s"\n  cert: "%s"\n  chain: "%s"\n' % (key, cert, chain)
    if ca is not None:
        extra += 'require_signed_sources:\n  ca: "%s"\n' % ca
    with open(env.config_path, "a") as f:
        f.write(extra)


def install(src, dst, mode=0o644):
    """What an operator does: the new file under a temporary name in the
    same directory, its mode set, then renamed over the configured path."""
    tmp = os.path.join(os.path.dirname(dst), ".%s.new" % os.path.basename(dst))
    shutil.copyfile(src, tmp)
    os.chmod(tmp, mode)
    os.rename(tmp, dst)


def manifest_of(node_dir):
    return json.loads(read(os.path.join(node_dir, "MANIFEST")))


def openssl_ok(node_dir, ca):
    """openssl cms -verify of the directory's MANIFEST.sig against ca."""
    return pki.verify(os.path.join(node_dir, "MANIFEST"), os.path.join(node_dir, "MANIFEST.sig"), ca)


def cli_verify(env, ca, d):
    return env.fsxds("verify", "--ca", ca, d, expect=None)


def expect_signed_by(env, good, bad=(), nodes=NODES, cli=True, what=""):
    """Each node's MANIFEST.sig verifies with good's CA, not with the CAs of
    the pairs in bad: with openssl, and (cli) with fsxds verify --ca."""
    for n in nodes:
        nd = env.node_dir(n)
        expect(openssl_ok(nd, good.ca), "%s%s: MANIFEST.sig does not verify with %s (openssl cms -verify)",
               what, n, good.ca)
        for b in bad:
            expect(not openssl_ok(nd, b.ca), "%s%s: MANIFEST.sig still verifies with %s (openssl cms -verify)",
                   what, n, b.ca)
        if cli:
            p = cli_verify(env, good.ca, nd)
            expect(p.returncode == 0, "%s%s: fsxds verify --ca %s: exit %d\n%s%s", what, n, good.ca, p.returncode,
                   p.stdout, p.stderr)
            for b in bad:
                p = cli_verify(env, b.ca, nd)
                expect(p.returncode == 1, "%s%s: fsxds verify --ca %s (the old CA): exit %d, expected 1\n%s%s", what,
                       n, b.ca, p.returncode, p.stdout, p.stderr)


def wait_log(d, needle, start=0, what=None):
    """Waits until the daemon's log (from byte offset start) contains needle."""
    wait_until(lambda: needle in d.log_text()[start:] or not d.alive(), what or "%r in fsxdsd's log" % needle)
    expect(needle in d.log_text()[start:], "fsxdsd %s while waiting for %r in its log", d.exit_text(), needle)


def wait_status(d, after, needle):
    """The first STATUS= after the mark that contains needle."""
    _, m = d.notify.wait(lambda m: needle in m.get("STATUS", ""), after, what="STATUS= with %r" % needle,
                         alive=d.alive)
    return m["STATUS"]


def hup(d):
    """SIGHUP; waits for RELOADING=1 and the READY=1 after it. Returns the
    notify index of RELOADING=1."""
    mark = d.mark()
    d.sighup()
    i, _ = d.notify.wait(lambda m: m.get("RELOADING") == "1", mark, what="RELOADING=1", alive=d.alive)
    d.notify.wait(lambda m: m.get("READY") == "1", i, what="READY=1 after RELOADING=1", alive=d.alive)
    return i


def edit(env, d, port):
    """A source edit for alpha only (its route configuration's prefix);
    returns status.json of the generation it makes."""
    g = env.status()["generation"]
    mark = d.mark()
    env.write("nodes/alpha/rds.yaml", y_routes("r0", [("/v%d" % port, "shared")]))
    st = d.wait_generation(mark, g + 1)
    expect_in("/v%d" % port, decode(os.path.join(env.node_dir("alpha"), "rds/r0.pb")), "alpha's routes")
    return st


def no_pb(env):
    """Node directories in out/ that hold .pb files (should be none)."""
    return [n for n in os.listdir(env.out) if os.path.isdir(os.path.join(env.out, n)) and not n.startswith(".")
            and node_files(os.path.join(env.out, n))]


def expect_named(log, cases, when):
    """Each (node, path, why): a line of the log names the node's file with why."""
    for node, rel, why in cases:
        line = [ln for ln in log.splitlines() if "[%s] %s:" % (node, rel) in ln]
        expect(line and why in line[0], "fsxdsd's log %s does not name %s/%s (%s): %r", when, node, rel, why, log)


def expect_restored(env, before, when):
    """Every node's files are again what they were (before: {node: contents})."""
    for n in NODES:
        got = contents(snapshot(env.node_dir(n)))
        diff = [k for k in sorted(set(got) | set(before[n])) if got.get(k) != before[n].get(k)]
        expect(not diff, "%s's output is not restored %s: %s differ", n, when, diff)


# ---------------------------------------------------------------- the tests


def t_rotation_in_place():
    env = Env(tree=base_tree())
    tls = os.path.join(env.root, "tls")
    os.makedirs(tls)
    key, cert, chain = (os.path.join(tls, n) for n in ("signer.key", "signer.pem", "chain.pem"))
    install(A.chain, chain)
    install(A.key, key, 0o600)
    install(A.cert, cert)
    configure(env, signing=(key, cert, chain))
    d = env.daemon()
    st = env.status()
    expect_eq(st["signing"]["subject"], A.subject, "status.json signing.subject at start")
    expect_signed_by(env, A, [B], what="first generation: ")
    g0 = st["generation"]
    beta_manifest = manifest_of(env.node_dir("beta"))

    # ---- B's pair, file by file: chain and key first; the half-installed
    # pair (B's key, A's certificate) must be refused, A kept
    log0 = len(d.log_text())
    install(B.chain, chain)
    install(B.key, key, 0o600)
    wait_log(d, "the new signing files were refused; still signing as %s" % A.subject, log0,
             "fsxdsd refusing B's key with A's certificate")
    expect(d.alive(), "fsxdsd %s with a half-installed pair", d.exit_text())
    expect_in("does not belong to the private key", d.log_text()[log0:], "the log of the half-installed pair")
    expect_eq(env.status()["signing"]["subject"], A.subject, "status.json signing.subject with the half pair")
    expect_signed_by(env, A, cli=False, what="with the half pair: ")
    time.sleep(0.1)
    install(B.cert, cert)
    wait_until(lambda: env.status()["signing"]["subject"] == B.subject,
               "status.json signing.subject to become %s" % B.subject)
    wait_log(d, "signing MANIFESTs as %s" % B.subject, log0)

    # ---- every MANIFEST signed again, without a new generation
    st = env.status()
    expect_eq(st["generation"], g0, "generation after the rotation alone")
    for n in NODES:
        expect(st["nodes"][n]["manifest_current"], "%s: manifest_current false after the rotation", n)
    expect_signed_by(env, B, [A], what="after the rotation: ")
    expect_eq(manifest_of(env.node_dir("beta"))["generation"], beta_manifest["generation"],
              "beta's MANIFEST generation after the rotation")

    # ---- a source edit (alpha only): the new generation is B's
    st = edit(env, d, 1)
    expect_eq(st["generation"], g0 + 1, "generation after the edit")
    expect_eq(manifest_of(env.node_dir("alpha"))["generation"], g0 + 1, "alpha's MANIFEST generation")
    expect_eq(manifest_of(env.node_dir("beta"))["files"], beta_manifest["files"], "beta's MANIFEST files")
    expect_signed_by(env, B, [A], what="after the edit: ")
    expect(d.alive(), "fsxdsd %s", d.exit_text())
    d.stop()


def t_rotation_by_sighup():
    env = Env(tree=base_tree())
    configure(env, signing=A)
    d = env.daemon()
    expect_signed_by(env, A, [C], cli=False, what="first generation: ")
    configure(env, signing=C)
    hup(d)
    st = env.status()
    expect_eq(st["signing"]["subject"], C.subject, "status.json signing.subject after the reload")
    expect_signed_by(env, C, [A], cli=False, what="after the reload: ")
    edit(env, d, 2)
    expect_signed_by(env, C, [A, B], what="the generation after the reload: ")
    d.stop()


def t_bad_pair_on_reload():
    env = Env(tree=base_tree())
    configure(env, signing=A)
    d = env.daemon()
    g0 = env.status()["generation"]
    log0 = len(d.log_text())
    configure(env, signing=(A.pki.expired_key, A.pki.expired_cert, A.chain))
    hup(d)
    expect(d.alive(), "fsxdsd %s on a reload with an expired certificate", d.exit_text())
    log = d.log_text()[log0:]
    expect_in("%s (CN=fsxds-test-expired) expired on" % A.pki.expired_cert, log, "the log of the reload")
    expect_in("reload failed; going back to the previous configuration", log, "the log of the reload")
    expect_eq(env.status()["signing"]["subject"], A.subject, "status.json signing.subject after the refused reload")
    st = edit(env, d, 3)
    expect_eq(st["generation"], g0 + 1, "generation after the edit")
    expect_eq(manifest_of(env.node_dir("alpha"))["generation"], g0 + 1, "alpha's MANIFEST generation")
    expect_signed_by(env, A, [B], what="the generation after the refused reload: ")
    d.stop()


def t_signed_sources():
    env = Env(tree=base_tree())
    configure(env, signing=A, ca=A.ca)
    d = env.daemon()

    def refused(mark, needle, *words):
        status = wait_status(d, mark, "source tree refused")
        st = env.status()
        err = (st["signed_sources"] or {}).get("error")
        expect(err, "status.json signed_sources.error is empty for a refused tree: %r", st["signed_sources"])
        for w in (needle,) + words:
            expect_in(w, err, "status.json signed_sources.error")
            expect_in(w, status, "STATUS=")
        expect_in("source tree refused: " + err, d.log_text(), "fsxdsd's log")
        return st

    def sign(pair):
        mark = d.mark()
        env.fsxds("sign", "--key", pair.key, "--cert", pair.cert, "--chain", pair.chain, env.src)
        return mark

    def published(mark, g):
        st = d.wait_generation(mark, g + 1)
        expect_eq(st["signed_sources"]["error"], None, "status.json signed_sources.error of an accepted tree")
        for n in NODES:
            expect(st["nodes"][n]["error"] is None, "%s: %r", n, st["nodes"][n]["error"])
        expect_signed_by(env, A, cli=True, what="published from a signed tree: ")
        return st

    # ---- unsigned: nothing published
    st = env.status()
    expect_eq(st["signed_sources"]["ca"], A.ca, "status.json signed_sources.ca")
    err = st["signed_sources"]["error"] or ""
    expect_in("MANIFEST is missing", err, "status.json signed_sources.error of an unsigned tree")
    status = [m["STATUS"] for m in d.notify.since(d.start_index) if "STATUS" in m]
    expect(status and "source tree refused" in status[-1] and "MANIFEST is missing" in status[-1],
           "STATUS= of an unsigned tree: %r", status)
    expect_eq(no_pb(env), [], "node directories with files from an unsigned tree")
    g = st["generation"]

    # ---- signed by A: published
    st = published(sign(A), g)
    g = st["generation"]
    p = env.fsxds("verify", "--ca", A.ca, env.src)
    expect_in("verified", p.stdout, "fsxds verify of the signed source tree")
    good = {n: snapshot(env.node_dir(n)) for n in NODES}

    def unchanged(what):
        for n in NODES:
            diff = diff_snapshots(good[n], snapshot(env.node_dir(n)), "all")
            expect(not diff, "%s changed %s's output: %s", what, n, diff)
            expect(openssl_ok(env.node_dir(n), A.ca), "%s: %s's MANIFEST.sig no longer verifies", what, n)
        expect_eq(env.status()["generation"], g, "generation after %s" % what)

    # ---- an edit that is not signed: refused, the file named
    mark = d.mark()
    env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", 8333)]))
    refused(mark, "common/eds.yaml", "differ from the signed MANIFEST")
    unchanged("an unsigned edit")
    p = env.fsxds("verify", "--ca", A.ca, env.src, expect=1)
    expect_in("common/eds.yaml", p.stdout, "fsxds verify of the edited tree")

    # ---- signed again: the edit is published
    st = published(sign(A), g)
    g = st["generation"]
    for n in NODES:
        expect_in("port_value: 8333", decode(os.path.join(env.node_dir(n), "eds/shared.pb")), "%s's endpoints" % n)
    good = {n: snapshot(env.node_dir(n)) for n in NODES}

    # ---- a file the MANIFEST does not list
    mark = d.mark()
    env.write("nodes/alpha/extra.yaml", y_docs(y_cluster("extra"), y_cla("extra", [("10.2.0.1", 80)])))
    refused(mark, "nodes/alpha/extra.yaml", "not listed")
    unchanged("an unlisted source file")

    # ---- signed by B, which the CA does not vouch for
    mark = sign(B)
    refused(mark, "does not verify", A.ca)
    unchanged("a tree signed by another CA")

    # ---- signed by A again: published, with the new file
    published(sign(A), g)
    expect_eq(sorted(response_names(read(os.path.join(env.node_dir("alpha"), "cds/cds.pb")))), ["extra", "shared"],
              "alpha's clusters")
    d.stop()


def t_self_verify():
    env = Env(tree=base_tree())
    configure(env, signing=A)
    d = env.daemon()
    before = {n: contents(snapshot(env.node_dir(n))) for n in NODES}
    d.stop()

    alpha, beta = env.node_dir("alpha"), env.node_dir("beta")
    # replaced (other valid bytes, by rename), deleted, added
    tmp = os.path.join(alpha, "eds", ".tamper")
    shutil.copyfile(os.path.join(beta, "eds", "beta_backend.pb"), tmp)
    os.rename(tmp, os.path.join(alpha, "eds", "shared.pb"))
    os.unlink(os.path.join(alpha, "rds", "r0.pb"))
    shutil.copyfile(os.path.join(beta, "rds", "web.pb"), os.path.join(beta, "rds", "ghost.pb"))
    expect_eq(cli_verify(env, A.ca, alpha).returncode, 1, "fsxds verify of the tampered alpha")
    expect_eq(cli_verify(env, A.ca, beta).returncode, 1, "fsxds verify of the tampered beta")

    d = env.daemon()
    log = d.log_text()
    expect_named(log, (("alpha", "eds/shared.pb", "MANIFEST says"), ("alpha", "rds/r0.pb", "missing"),
                       ("beta", "rds/ghost.pb", "not listed")), "at start")
    expect_restored(env, before, "at start")
    expect_signed_by(env, A, [B], what="after the restart: ")
    d.stop()


def t_self_verify_running():
    """verify_interval: output altered while fsxdsd runs (a file replaced,
    a MANIFEST.sig replaced on another node, an extra file) is noticed by the
    periodic check, named in the log and published again."""
    env = Env(tree=base_tree())
    configure(env, signing=A)
    with open(env.config_path, "a") as f:
        f.write('verify_interval: "0.5s"\n')
    d = env.daemon()
    before = {n: contents(snapshot(env.node_dir(n))) for n in NODES}
    g = env.status()["generation"]
    mark, start = d.mark(), len(d.log_text())

    alpha, beta = env.node_dir("alpha"), env.node_dir("beta")
    tmp = os.path.join(alpha, "eds", ".tamper")
    shutil.copyfile(os.path.join(beta, "eds", "beta_backend.pb"), tmp)
    os.rename(tmp, os.path.join(alpha, "eds", "shared.pb"))
    shutil.copyfile(os.path.join(alpha, "rds", "r0.pb"), os.path.join(alpha, "rds", "ghost.pb"))
    # a signature by another pair over beta's unchanged MANIFEST
    pki.sign(os.path.join(beta, "MANIFEST"), os.path.join(beta, ".sig"), B.key, B.cert, B.chain)
    os.rename(os.path.join(beta, ".sig"), os.path.join(beta, "MANIFEST.sig"))

    d.wait_generation(mark, g + 1)
    wait_log(d, "altered behind its back", start)
    named = (("alpha", "eds/shared.pb", "MANIFEST says"), ("alpha", "rds/ghost.pb", "not listed"),
             ("beta", "MANIFEST.sig", "not the one fsxdsd wrote"))
    # a check may run between the alterations (openssl takes a while to
    # sign on a loaded machine): beta's may be named by the next one
    for node, rel, _ in named:
        wait_log(d, "[%s] %s:" % (node, rel), start)
    expect_named(d.log_text()[start:], named, "while running")
    # the MANIFEST.sig is made again once beta's check has run
    wait_until(lambda: openssl_ok(beta, A.ca), "beta's MANIFEST.sig signed by A again")
    expect_restored(env, before, "while running")
    expect_signed_by(env, A, [B], what="after the periodic check: ")
    d.stop()


if __name__ == "__main__":
    r = Runner("daemon-signing")
    try:
        make_pkis()
    except pki.OpensslError as e:
        r.skip("signing", "cannot make a test PKI: %s" % e)
        r.finish()
    try:
        r.run("signing-rotation-in-place", t_rotation_in_place)
        r.run("signing-rotation-by-sighup", t_rotation_by_sighup)
        r.run("signing-bad-pair-on-reload", t_bad_pair_on_reload)
        r.run("signing-signed-sources", t_signed_sources)
        r.run("signing-self-verify-at-start", t_self_verify)
        r.run("signing-self-verify-running", t_self_verify_running)
    finally:
        if not KEEP:
            shutil.rmtree(_pki_root, ignore_errors=True)
    r.finish()
