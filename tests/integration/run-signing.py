# SPDX-License-Identifier: MIT
"""Signed MANIFESTs end to end (python3 stdlib only), against real test
PKIs made with the openssl command-line tool (daemon/pki.py):

    python3 run-signing.py FSXDSD FSXDS SOURCE_ROOT

fsxdsd --once signs every node directory's MANIFEST with RSA, P-256 and
P-384 leaves (openssl cms -verify and fsxds verify accept them; MANIFEST is
canonical JSON that lists exactly the files, by size, sha256 and type_url),
fsxds verify finds every kind of tampering and says which file, in both
publish modes, fsxdsd reports what was altered behind its back at start
and publishes it again, refuses unusable signing pairs without touching
the output, fsxds sign/verify handle source trees, and an unsigned
configuration writes (and cleans up to) MANIFESTs without signatures.

One line per case; exit 1 when any case fails. FSXDS_TEST_KEEP=1 keeps
the temporary tree; FSXDS_TEST_CASES=a,b runs only the named cases.
"""
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(HERE, "daemon"))
import pki  # noqa: E402
from harness import TYPE_URLS  # noqa: E402  (same argv: FSXDSD FSXDS SOURCE_ROOT)

if len(sys.argv) != 4:
    sys.exit("usage: run-signing.py FSXDSD FSXDS SOURCE_ROOT")
FSXDSD = os.path.abspath(sys.argv[1])
FSXDS = os.path.abspath(sys.argv[2])
SOURCE_ROOT = os.path.abspath(sys.argv[3])
EXAMPLES = os.path.join(SOURCE_ROOT, "conf", "examples")
KEEP = bool(os.environ.get("FSXDS_TEST_KEEP"))

NODES = ("ads-proxy", "eds-proxy", "front-proxy")
SOURCE_SUFFIXES = (".yaml", ".yml", ".json")
SIGNER = "CN=" + pki.LEAF_CN
# inside the expired leaf's validity (2020-01-01..02), for openssl -attime
IN_2020 = str(int(datetime.datetime(2020, 1, 1, 12, tzinfo=datetime.timezone.utc).timestamp()))

TMP = tempfile.mkdtemp(prefix="fsxds-signing-")


class Failure(Exception):
    pass


def check(cond, fmt, *args):
    if not cond:
        raise Failure(fmt % args if args else fmt)


def show(p):
    return "\n  exit %s\n  stdout: %s\n  stderr: %s" % (
        p.returncode, p.stdout.strip().replace("\n", "\n          "),
        p.stderr.strip().replace("\n", "\n          "))


def run(*cmd):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, stdin=subprocess.DEVNULL,
                       encoding="utf-8", errors="replace", timeout=120)
    # under a sanitizer build, a finding fails the case even where the
    # exit status is expected to be non-zero
    check(not re.search(r"ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:", p.stderr),
          "%s: sanitizer report%s", " ".join(str(c) for c in cmd), show(p))
    return p


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def canonical(obj):
    return (json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n").encode()


def flip_byte(data, at=None):
    b = bytearray(data)
    i = len(b) // 2 if at is None else at
    b[i] ^= 0x01
    return bytes(b)


def snapshot(top):
    """{relative path: bytes, or ("link", target)} of everything under TOP."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, top)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isfile(p):
                out[rel] = read(p)
    return out


def live_pb(node_dir):
    """The live "*.pb" of a node directory's type directories (through
    ..data symlinks): {"eds/web.pb": bytes}."""
    out = {}
    for t in sorted(os.listdir(node_dir)):
        td = os.path.join(node_dir, t)
        if t.startswith(".") or not os.path.isdir(td) or os.path.islink(td):
            continue
        for name in os.listdir(td):
            if name.endswith(".pb") and not name.startswith("."):
                out[t + "/" + name] = read(os.path.join(td, name))
    return out


# ---------------------------------------------------------------- PKIs

_pkis = {}


def get_pki(key_type, name="main"):
    k = (key_type, name)
    if k not in _pkis:
        _pkis[k] = pki.make(os.path.join(TMP, "pki"), key_type, "%s-%s" % (name, key_type))
    return _pkis[k]


# ---------------------------------------------------------------- fsxdsd


class Env:
    """A copy of conf/examples, an output and a state directory, and a
    config for them."""

    def __init__(self, name, p=None, mode="rename"):
        self.root = os.path.join(TMP, name)
        os.makedirs(self.root)
        self.src = os.path.join(self.root, "src")
        self.out = os.path.join(self.root, "out")
        self.state = os.path.join(self.root, "state")
        shutil.copytree(EXAMPLES, self.src)
        self.mode = mode
        self.pki = p
        self.config = self.write_config(signing=(p.leaf_key, p.leaf_cert, p.chain) if p else None)

    def write_config(self, signing=None, path=None):
        lines = ['source_dir: "%s"' % self.src, 'output_dir: "%s"' % self.out, 'state_dir: "%s"' % self.state,
                 'publish_mode: "%s"' % self.mode, 'phase_pause: "0s"']
        if signing:
            key, cert, chain = signing
            lines += ["signing:", '  key: "%s"' % key, '  cert: "%s"' % cert]
            if chain:
                lines.append('  chain: "%s"' % chain)
        path = path or os.path.join(self.root, "fsxds.yaml")
        write(path, "\n".join(lines) + "\n")
        return path

    def once(self, config=None, expect_rc=0):
        p = run(FSXDSD, "--config", config or self.config, "--once")
        if expect_rc is not None:
            check(p.returncode == expect_rc, "fsxdsd --once: expected exit %d%s", expect_rc, show(p))
        return p

    def node(self, n):
        return os.path.join(self.out, n)

    def node_dirs(self):
        return sorted(d for d in os.listdir(self.out)
                      if not d.startswith(".") and os.path.isdir(os.path.join(self.out, d)))


def fsxds_verify(d, ca=None):
    return run(FSXDS, "verify", *(["--ca", ca] if ca else []), d)


def expect_verified(d, ca, what):
    p = fsxds_verify(d, ca)
    check(p.returncode == 0 and "%s: verified: " % d in p.stdout,
          "%s: fsxds verify --ca %s should accept %s%s", what, ca, d, show(p))
    return p


def expect_problems(d, ca, problems, what, exact=True):
    """fsxds verify must exit 1 and print, for each (PATH, [substrings]) of
    PROBLEMS, a line "D/PATH: ..." holding every substring; with exact,
    nothing else (the summary says how many)."""
    p = fsxds_verify(d, ca)
    check(p.returncode == 1, "%s: fsxds verify should exit 1%s", what, show(p))
    lines = p.stdout.splitlines()
    for path, subs in problems:
        prefix = "%s/%s: " % (d, path)
        hit = [l for l in lines if l.startswith(prefix) and all(s in l for s in subs)]
        check(hit, "%s: fsxds verify printed no line %r containing %r%s", what, prefix, subs, show(p))
    n = len(problems)
    if exact:
        want = "%s: verification FAILED (%d problem%s)" % (d, n, "" if n == 1 else "s")
        check(want in lines, "%s: expected exactly %d problem(s) (%r)%s", what, n, want, show(p))
    return p


def check_node_dir(d, node, p, mode="rename", signed=True):
    """Everything a signed (or unsigned) node directory must be. Returns
    its MANIFEST, parsed."""
    m_path, s_path = os.path.join(d, "MANIFEST"), os.path.join(d, "MANIFEST.sig")
    check(os.path.isfile(m_path), "%s: no MANIFEST", d)
    if signed:
        check(os.path.isfile(s_path), "%s: no MANIFEST.sig", d)
        check(pki.verify(m_path, s_path, p.ca_cert),
              "%s: openssl cms -verify -CAfile %s refuses MANIFEST.sig", d, p.ca_cert)
    else:
        check(not os.path.lexists(s_path), "%s: MANIFEST.sig present without signing", d)
    raw = read(m_path)
    obj = json.loads(raw)
    check(canonical(obj) == raw, "%s/MANIFEST is not canonical JSON:\n%r\n%r", d, raw, canonical(obj))
    check(obj.get("format") == 1 and obj.get("kind") == "node" and obj.get("node") == node,
          "%s/MANIFEST: format/kind/node: %r", d, {k: obj.get(k) for k in ("format", "kind", "node")})
    check(isinstance(obj.get("generation"), int) and obj["generation"] >= 1, "%s: generation %r", d,
          obj.get("generation"))
    check(isinstance(obj.get("created_usec"), int) and abs(obj["created_usec"] / 1e6 - time.time()) < 3600,
          "%s: created_usec %r is not now", d, obj.get("created_usec"))
    check(re.fullmatch(r"[0-9a-f]{64}", obj.get("schema_sha256", "")), "%s: schema_sha256 %r", d,
          obj.get("schema_sha256"))
    paths = [f["path"] for f in obj["files"]]
    check(paths == sorted(paths), "%s: files not sorted by path: %r", d, paths)
    live = live_pb(d)
    check(set(paths) == set(live), "%s: MANIFEST lists %r, the directory holds %r", d, sorted(paths), sorted(live))
    check(len(paths) >= 2, "%s: only %r", d, paths)
    for f in obj["files"]:
        data = live[f["path"]]
        t = f["path"].split("/")[0]
        check(f["size"] == len(data), "%s/%s: listed size %r, is %d", d, f["path"], f["size"], len(data))
        check(f["sha256"] == sha256(data), "%s/%s: listed sha256 %s, is %s", d, f["path"], f["sha256"], sha256(data))
        check(f["type_url"] == TYPE_URLS.get(t), "%s/%s: type_url %r in type dir %s", d, f["path"], f["type_url"], t)
        check(isinstance(f["version_info"], str) and f["version_info"], "%s/%s: version_info %r", d, f["path"],
              f["version_info"])
        check(isinstance(f["names"], list) and f["names"] and all(isinstance(n, str) for n in f["names"]),
              "%s/%s: names %r", d, f["path"], f["names"])
    types = sorted(set(pth.split("/")[0] for pth in paths))
    if mode == "watched_directory":
        check(sorted(obj["data_links"]) == types, "%s: data_links %r for type dirs %r", d, obj["data_links"], types)
        for t, target in obj["data_links"].items():
            check(re.fullmatch(r"\.\.gen-[0-9]+", target), "%s: data_links[%s] = %r", d, t, target)
            check(os.readlink(os.path.join(d, t, "..data")) == target, "%s/%s/..data is not %s", d, t, target)
    else:
        check(obj["data_links"] == {}, "%s: data_links %r in rename mode", d, obj["data_links"])
    if signed:
        v = expect_verified(d, p.ca_cert, "published %s" % node)
        want = "%s: verified: node %s, generation %d, %d files, signed by %s" % (
            d, node, obj["generation"], len(paths), SIGNER)
        check(want in v.stdout, "fsxds verify: expected %r%s", want, show(v))
    else:
        expect_problems(d, p.ca_cert, [("MANIFEST.sig", ["missing"])], "unsigned %s" % node)
    return obj


def check_all_nodes(env, p, signed=True):
    check(env.node_dirs() == list(NODES), "node directories %r, expected %r", env.node_dirs(), NODES)
    return {n: check_node_dir(env.node(n), n, p, env.mode, signed) for n in NODES}


def good_env(name, key_type="p256", mode="rename"):
    p = get_pki(key_type)
    env = Env(name, p, mode)
    env.once()
    return env, p, check_all_nodes(env, p)


# ---------------------------------------------------------------- cases


def sign_and_regenerate(key_type):
    env, p, first = good_env("publish-" + key_type, key_type)
    # a second generation: front-proxy's cluster and eds-proxy's endpoints change
    cds = os.path.join(env.src, "common", "cds.yaml")
    text = read(cds).decode()
    check("connect_timeout: 1s" in text, "conf/examples/common/cds.yaml changed: no connect_timeout: 1s")
    write(cds, text.replace("connect_timeout: 1s", "connect_timeout: 2s"))
    eds = os.path.join(env.src, "nodes", "eds-proxy", "eds.yaml")
    text = read(eds).decode()
    check("172.31.11.11" in text, "conf/examples/nodes/eds-proxy/eds.yaml changed: no 172.31.11.11")
    write(eds, text.replace("172.31.11.11", "172.31.11.13"))
    env.once()
    second = check_all_nodes(env, p)
    for n, path in (("front-proxy", "cds/cds.pb"), ("eds-proxy", "eds/webcluster.pb")):
        check(second[n]["generation"] > first[n]["generation"], "%s: generation %d after %d", n,
              second[n]["generation"], first[n]["generation"])
        old = {f["path"]: f["sha256"] for f in first[n]["files"]}
        new = {f["path"]: f["sha256"] for f in second[n]["files"]}
        check(old[path] != new[path], "%s: %s did not change with its source", n, path)
    for n in NODES:
        check(second[n]["generation"] >= first[n]["generation"], "%s: generation went back", n)
    return "gens %s" % ",".join("%d->%d" % (first[n]["generation"], second[n]["generation"]) for n in NODES)


def case_publish_rsa():
    return sign_and_regenerate("rsa")


def case_publish_p256():
    return sign_and_regenerate("p256")


def case_publish_p384():
    return sign_and_regenerate("p384")


def case_tamper():
    env, p, manifests = good_env("tamper-base")
    other = get_pki("p256", "other")
    base = env.node("eds-proxy")
    listed = {f["path"]: f for f in manifests["eds-proxy"]["files"]}
    for path in ("eds/webcluster.pb", "rds/local_route.pb", "cds/cds.pb", "lds/lds.pb"):
        check(path in listed, "eds-proxy does not list %s: %r", path, sorted(listed))
    n = [0]

    def fresh(name="eds-proxy"):
        n[0] += 1
        d = os.path.join(TMP, "tamper", str(n[0]), name)
        shutil.copytree(base, d, symlinks=True)
        if name == "eds-proxy":
            expect_verified(d, p.ca_cert, "untampered copy")
        return d, os.path.join(d, "MANIFEST"), os.path.join(d, "MANIFEST.sig")

    # one byte of a .pb, in place
    d, m, s = fresh()
    pb = os.path.join(d, "eds/webcluster.pb")
    with open(pb, "r+b") as f:
        data = f.read()
        f.seek(len(data) // 2)
        f.write(bytes([data[len(data) // 2] ^ 0x01]))
    expect_problems(d, p.ca_cert, [("eds/webcluster.pb", [
        "sha256 %s" % sha256(flip_byte(data)), "MANIFEST says %s" % listed["eds/webcluster.pb"]["sha256"]])],
        "a changed byte")
    check(pki.verify(m, s, p.ca_cert), "openssl should still accept the untouched MANIFEST's signature")

    # a listed file removed
    d, m, s = fresh()
    os.unlink(os.path.join(d, "rds/local_route.pb"))
    expect_problems(d, p.ca_cert, [("rds/local_route.pb", ["missing"])], "a removed file")

    # an extra .pb in a type directory
    d, m, s = fresh()
    shutil.copyfile(os.path.join(d, "eds/webcluster.pb"), os.path.join(d, "eds/extra.pb"))
    expect_problems(d, p.ca_cert, [("eds/extra.pb", ["not listed"])], "an extra .pb")

    # MANIFEST edited: a size one larger (still canonical)
    d, m, s = fresh()
    raw = read(m)
    size = listed["cds/cds.pb"]["size"]
    needle = b'"path":"cds/cds.pb","sha256":"%s","size":%d,' % (listed["cds/cds.pb"]["sha256"].encode(), size)
    check(raw.count(needle) == 1, "cannot find cds/cds.pb's entry in %r", raw)
    write(m, raw.replace(needle, needle.replace(b'"size":%d,' % size, b'"size":%d,' % (size + 1))))
    expect_problems(d, p.ca_cert, [("MANIFEST.sig", ["signature check failed"]),
                                   ("cds/cds.pb", ["size %d, MANIFEST says %d" % (size, size + 1)])],
                    "an edited size")
    check(not pki.verify(m, s, p.ca_cert), "openssl cms -verify accepts an edited MANIFEST")

    # MANIFEST re-serialized with spaces: the signature fails, and it is not canonical
    d, m, s = fresh()
    spaced = (json.dumps(json.loads(read(m)), sort_keys=True) + "\n").encode()
    write(m, spaced)
    expect_problems(d, p.ca_cert, [("MANIFEST.sig", ["signature check failed"]),
                                   ("MANIFEST", ["not in canonical form"])], "a re-serialized MANIFEST")
    check(not pki.verify(m, s, p.ca_cert), "openssl cms -verify accepts a re-serialized MANIFEST")
    # ...and signed again with the right leaf: only the canonical form is wrong
    pki.sign(m, s, p.leaf_key, p.leaf_cert, p.chain)
    check(pki.verify(m, s, p.ca_cert), "openssl refuses a good signature of the spaced MANIFEST")
    expect_problems(d, p.ca_cert, [("MANIFEST", ["not in canonical form"])], "a signed non-canonical MANIFEST")

    # signed by another PKI's leaf
    d, m, s = fresh()
    pki.sign(m, s, other.leaf_key, other.leaf_cert, other.chain)
    expect_problems(d, p.ca_cert, [("MANIFEST.sig", ["signature check failed"])], "another PKI's signature")
    check(not pki.verify(m, s, p.ca_cert), "openssl accepts another PKI's signature under the original CA")
    v = expect_verified(d, other.ca_cert, "another PKI's signature under its own CA")
    check("signed by %s" % SIGNER in v.stdout, "fsxds verify: signer not named%s", show(v))
    check(pki.verify(m, s, other.ca_cert), "openssl refuses another PKI's signature under its own CA")

    # signed by the expired leaf of the same PKI
    d, m, s = fresh()
    pki.sign(m, s, p.expired_key, p.expired_cert, p.chain)
    expect_problems(d, p.ca_cert, [("MANIFEST.sig", ["expired"])], "an expired signer")
    check(not pki.verify(m, s, p.ca_cert), "openssl accepts an expired signer")
    check(pki.verify(m, s, p.ca_cert, "-attime", IN_2020),
          "openssl refuses the expired signer even inside its validity: the test PKI is wrong")

    # MANIFEST.sig deleted
    d, m, s = fresh()
    os.unlink(s)
    expect_problems(d, p.ca_cert, [("MANIFEST.sig", ["missing"])], "no MANIFEST.sig")
    v = fsxds_verify(d, p.ca_cert)
    check("%s/MANIFEST.sig: missing\n" % d in v.stdout, "expected '%s/MANIFEST.sig: missing'%s", d, show(v))

    # MANIFEST deleted: nothing to verify
    d, m, s = fresh()
    os.unlink(m)
    v = fsxds_verify(d, p.ca_cert)
    check(v.returncode == 1 and "%s/MANIFEST: missing" % d in v.stderr, "no MANIFEST: expected exit 1%s", show(v))

    # another node's directory name
    d, m, s = fresh("imposter")
    expect_problems(d, p.ca_cert, [("MANIFEST", ["lists node eds-proxy's files, but the directory is imposter"])],
                    "a renamed node directory")
    return "%d tampered copies" % n[0]


def case_watched_directory():
    env, p, manifests = good_env("watched", mode="watched_directory")
    d = env.node("eds-proxy")
    lds = os.path.join(d, "lds")
    live = os.readlink(os.path.join(lds, "..data"))
    check(live == manifests["eds-proxy"]["data_links"]["lds"], "..data %s", live)
    original = read(os.path.join(lds, "lds.pb"))

    def repoint(target):
        tmp = os.path.join(lds, "..data.tmp")
        os.symlink(target, tmp)
        os.rename(tmp, os.path.join(lds, "..data"))  # ln -sfn, atomically

    # a copy of the live generation: the same bytes, another generation
    shutil.copytree(os.path.join(lds, live), os.path.join(lds, "..gen-999"), symlinks=True)
    repoint("..gen-999")
    expect_problems(d, p.ca_cert, [("lds", ["..data points to ..gen-999, MANIFEST says %s" % live])],
                    "..data repointed to a copy")
    check(pki.verify(os.path.join(d, "MANIFEST"), os.path.join(d, "MANIFEST.sig"), p.ca_cert),
          "openssl should still accept the untouched MANIFEST")

    # a generation with other bytes
    shutil.copytree(os.path.join(lds, live), os.path.join(lds, "..gen-998"), symlinks=True)
    write(os.path.join(lds, "..gen-998", "lds.pb"), flip_byte(original, len(original) - 3))
    repoint("..gen-998")
    expect_problems(d, p.ca_cert, [("lds", ["..data points to ..gen-998, MANIFEST says %s" % live]),
                                   ("lds/lds.pb", ["sha256", "MANIFEST says %s" % sha256(original)])],
                    "..data repointed to altered bytes")

    # fsxdsd notices at start and publishes its build again
    r = env.once()
    check(re.search(r"\[eds-proxy\] lds: \.\.data points to \.\.gen-998", r.stderr),
          "fsxdsd --once did not report eds-proxy's ..data%s", show(r))
    after = check_all_nodes(env, p)
    check(read(os.path.join(lds, "lds.pb")) == original, "eds-proxy/lds/lds.pb is not its build after --once")
    check(os.readlink(os.path.join(lds, "..data")) == after["eds-proxy"]["data_links"]["lds"], "..data")
    return "lds/..data -> ..gen-999, ..gen-998, repaired"


def tamper_live(env, node, changes):
    """CHANGES: [("change"|"remove"|"add", PATH[, SOURCE])] applied to the
    live node directory behind fsxdsd's back (a change is a new file
    renamed over the old one)."""
    d = env.node(node)
    for c in changes:
        p = os.path.join(d, c[1])
        if c[0] == "change":
            write(p + ".tmp", flip_byte(read(p)))
            os.rename(p + ".tmp", p)
        elif c[0] == "remove":
            os.unlink(p)
        else:
            write(p, read(os.path.join(d, c[2])))


def case_daemon_check():
    env, p, manifests = good_env("daemon-check")
    before = {n: live_pb(env.node(n)) for n in NODES}
    tamper_live(env, "eds-proxy", [("change", "eds/webcluster.pb"), ("remove", "rds/local_route.pb"),
                                   ("add", "eds/extra.pb", "eds/webcluster.pb")])
    expect_problems(env.node("eds-proxy"), p.ca_cert, [
        ("eds/webcluster.pb", ["sha256"]), ("rds/local_route.pb", ["missing"]), ("eds/extra.pb", ["not listed"])],
        "the tampered live directory")
    r = env.once()
    for what in ("eds/webcluster.pb: sha256", "rds/local_route.pb: listed in MANIFEST but missing",
                 "eds/extra.pb: present but not listed"):
        check("[eds-proxy] " + what in r.stderr, "fsxdsd --once did not report %r%s", what, show(r))
    after = check_all_nodes(env, p)
    for n in NODES:
        now = live_pb(env.node(n))
        check(now == before[n], "%s after --once: files %r differ from the untampered %r", n,
              sorted(k for k in set(now) | set(before[n]) if now.get(k) != before[n].get(k)), sorted(before[n]))
        check(sorted(f["path"] for f in after[n]["files"]) == sorted(before[n]), "%s: MANIFEST lists %r", n,
              [f["path"] for f in after[n]["files"]])
    return "3 alterations reported and repaired"


def case_daemon_check_sotw_extra():
    """An extra .pb planted in cds/ or lds/ (the SotW type directories,
    whose files fsxdsd never removes) must not end up in a MANIFEST that
    fsxdsd signs: it never built that file."""
    env, p, manifests = good_env("daemon-check-sotw")
    tamper_live(env, "eds-proxy", [("add", "cds/extra.pb", "cds/cds.pb")])
    tamper_live(env, "front-proxy", [("change", "cds/cds.pb"), ("add", "lds/zzz.pb", "lds/lds.pb")])
    r = env.once()
    for what in ("[eds-proxy] cds/extra.pb: present but not listed", "[front-proxy] lds/zzz.pb: present but not listed",
                 "[front-proxy] cds/cds.pb: sha256"):
        check(what in r.stderr, "fsxdsd --once did not report %r%s", what, show(r))
    for node, planted in (("eds-proxy", "cds/extra.pb"), ("front-proxy", "lds/zzz.pb")):
        m = json.loads(read(os.path.join(env.node(node), "MANIFEST")))
        paths = [f["path"] for f in m["files"]]
        check(planted not in paths,
              "%s: fsxdsd signed a MANIFEST that lists %s, a file planted behind its back that it never built "
              "(MANIFEST files %r; fsxds verify now vouches for it)", node, planted, paths)
        if os.path.exists(os.path.join(env.node(node), planted)):
            expect_problems(env.node(node), p.ca_cert, [(planted, ["not listed"])], "a planted %s left" % planted)
        else:
            check_node_dir(env.node(node), node, p)
    return "planted cds/lds files not signed"


def case_refused_pairs():
    env, p, _ = good_env("refused")
    other = get_pki("p256", "other")
    ed = get_pki("ed25519")
    r = run(FSXDSD, "--config", env.config, "--check-config")
    check(r.returncode == 0, "fsxdsd --check-config refuses the good pair%s", show(r))
    before = snapshot(env.out)
    before_nodes = {k: v for k, v in before.items() if k.split("/")[0] in NODES}
    check(all("%s/MANIFEST.sig" % n in before for n in NODES), "no MANIFEST.sig before")

    def refused(name, signing, needles):
        cfg = env.write_config(signing=signing, path=os.path.join(env.root, name + ".yaml"))
        for args in (("--check-config",), ("--once",)):
            r = run(FSXDSD, "--config", cfg, *args)
            check(r.returncode != 0, "%s: fsxdsd %s accepted the pair%s", name, args[0], show(r))
            for needle in needles:
                check(needle in r.stderr, "%s: fsxdsd %s: no %r in its message%s", name, args[0], needle, show(r))
            now = snapshot(env.out)
            now_nodes = {k: v for k, v in now.items() if k.split("/")[0] in NODES}
            check(now_nodes == before_nodes, "%s: fsxdsd %s changed the output: %r", name, args[0],
                  sorted(k for k in set(now_nodes) | set(before_nodes) if now_nodes.get(k) != before_nodes.get(k)))

    done = []
    for mode in (0o640, 0o604):
        key = os.path.join(env.root, "leaf-%o.key" % mode)
        shutil.copyfile(p.leaf_key, key)
        os.chmod(key, mode)
        refused("mode-%o" % mode, (key, p.leaf_cert, p.chain), [key, "group or others", "%04o" % mode])
        done.append("mode %04o" % mode)
    refused("foreign-cert", (p.leaf_key, other.leaf_cert, p.chain), [other.leaf_cert, "does not belong", p.leaf_key])
    refused("expired", (p.expired_key, p.expired_cert, p.chain), [p.expired_cert, "expired"])
    refused("nosign", (p.no_sign_key, p.no_sign_cert, p.chain), [p.no_sign_cert, "digitalSignature"])
    done += ["foreign cert", "expired", "nosign"]
    if not pki.cms_supported("ed25519"):
        cfg = env.write_config(signing=(ed.leaf_key, ed.leaf_cert, ed.chain), path=os.path.join(env.root, "ed.yaml"))
        refused("ed25519", (ed.leaf_key, ed.leaf_cert, ed.chain), [ed.leaf_key, "CMS"])
        r = run(FSXDSD, "--config", cfg, "--check-config")
        check(re.search("ed25519", r.stderr, re.I), "ed25519: the refusal does not name Ed25519%s", show(r))
        src = os.path.join(env.root, "ed-src")
        shutil.copytree(EXAMPLES, src)
        r = run(FSXDS, "sign", "--key", ed.leaf_key, "--cert", ed.leaf_cert, "--chain", ed.chain, src)
        check(r.returncode == 1 and "CMS" in r.stderr and re.search("ed25519", r.stderr, re.I),
              "fsxds sign with an Ed25519 key: expected exit 1 naming Ed25519 and CMS%s", show(r))
        check(not os.path.exists(os.path.join(src, "MANIFEST")), "fsxds sign wrote a MANIFEST after refusing")
        done.append("ed25519 refused (no CMS in this OpenSSL)")
    else:
        done.append("ed25519 " + sign_and_regenerate("ed25519"))
    return ", ".join(done)


def source_files(top):
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [n for n in dirnames if not n.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and name.endswith(SOURCE_SUFFIXES):
                out.append(os.path.relpath(os.path.join(dirpath, name), top))
    return sorted(out)


def case_sources():
    p = get_pki("p256")
    base = os.path.join(TMP, "sources", "signed")
    shutil.copytree(EXAMPLES, base)
    # more than conf/examples has: other suffixes, and what is not a source
    write(os.path.join(base, "nodes/front-proxy/more.yml"), "resources: []\n")
    write(os.path.join(base, "common/extra.json"), '{"resources": []}\n')
    write(os.path.join(base, "nodes/front-proxy/.hidden.yaml"), "resources: []\n")
    write(os.path.join(base, ".git/ignored.yaml"), "x: 1\n")
    write(os.path.join(base, "nodes/front-proxy/notes.txt"), "not a source\n")
    expected = source_files(base)
    check("nodes/front-proxy/more.yml" in expected and "common/extra.json" in expected and len(expected) == 9,
          "source files %r", expected)
    r = run(FSXDS, "sign", "--key", p.leaf_key, "--cert", p.leaf_cert, "--chain", p.chain, base)
    check(r.returncode == 0 and "signed %d source files as %s" % (len(expected), SIGNER) in r.stdout,
          "fsxds sign%s", show(r))
    m, s = os.path.join(base, "MANIFEST"), os.path.join(base, "MANIFEST.sig")
    check(pki.verify(m, s, p.ca_cert), "openssl cms -verify refuses the source tree's MANIFEST.sig")
    raw = read(m)
    obj = json.loads(raw)
    check(canonical(obj) == raw, "the source MANIFEST is not canonical: %r", raw)
    check(obj["kind"] == "source" and obj["format"] == 1, "kind/format %r/%r", obj["kind"], obj["format"])
    paths = [f["path"] for f in obj["files"]]
    check(paths == expected, "the source MANIFEST lists %r, os.walk finds %r", paths, expected)
    for f in obj["files"]:
        data = read(os.path.join(base, f["path"]))
        check(f["size"] == len(data) and f["sha256"] == sha256(data), "%s: size/sha256 %r", f["path"], f)
    v = expect_verified(base, p.ca_cert, "the signed source tree")
    check("verified: source tree, %d files, signed by %s" % (len(expected), SIGNER) in v.stdout, "%s", show(v))

    n = [0]

    def fresh():
        n[0] += 1
        d = os.path.join(TMP, "sources", str(n[0]))
        shutil.copytree(base, d, symlinks=True)
        return d

    d = fresh()  # an edit that changes the size
    write(os.path.join(d, "nodes/front-proxy/lds.yaml"), read(os.path.join(d, "nodes/front-proxy/lds.yaml")) + b"# x\n")
    expect_problems(d, p.ca_cert, [("nodes/front-proxy/lds.yaml", ["size"])], "an edited yaml")
    d = fresh()  # one that keeps it
    eds = os.path.join(d, "nodes/eds-proxy/eds.yaml")
    write(eds, read(eds).replace(b"172.31.11.12", b"172.31.11.13"))
    expect_problems(d, p.ca_cert, [("nodes/eds-proxy/eds.yaml", ["sha256"])], "a same-size edit")
    d = fresh()
    write(os.path.join(d, "nodes/x/new.yaml"), "resources: []\n")
    expect_problems(d, p.ca_cert, [("nodes/x/new.yaml", ["not listed"])], "an added source file")
    d = fresh()
    os.unlink(os.path.join(d, "common/cds.yaml"))
    expect_problems(d, p.ca_cert, [("common/cds.yaml", ["missing"])], "a removed source file")
    d = fresh()  # neither a dot file nor a non-source file counts
    write(os.path.join(d, "nodes/eds-proxy/.swp.yaml"), "x\n")
    write(os.path.join(d, "README.txt"), "x\n")
    expect_verified(d, p.ca_cert, "a tree with a new dot file and a non-source file")

    # a key that others can read
    d = os.path.join(TMP, "sources", "unsigned")
    shutil.copytree(EXAMPLES, d)
    key = os.path.join(TMP, "sources", "leaf-0644.key")
    shutil.copyfile(p.leaf_key, key)
    os.chmod(key, 0o644)
    r = run(FSXDS, "sign", "--key", key, "--cert", p.leaf_cert, "--chain", p.chain, d)
    check(r.returncode == 1 and key in r.stderr and "group or others" in r.stderr,
          "fsxds sign with a 0644 key: expected exit 1 naming it%s", show(r))
    check(not os.path.exists(os.path.join(d, "MANIFEST")) and not os.path.exists(os.path.join(d, "MANIFEST.sig")),
          "fsxds sign wrote a MANIFEST after refusing the key")
    return "%d files listed, %d tampered copies" % (len(expected), n[0])


def case_unsigned():
    p = get_pki("p256")
    env = Env("unsigned", None)
    env.once()
    check_all_nodes(env, p, signed=False)

    # signed, then unsigned: the stale MANIFEST.sig goes
    env2 = Env("unsign", p)
    env2.once()
    check_all_nodes(env2, p)
    signed_cfg = env2.config
    env2.config = env2.write_config(signing=None, path=os.path.join(env2.root, "unsigned.yaml"))
    env2.once()
    check_all_nodes(env2, p, signed=False)
    # and signed again
    env2.config = signed_cfg
    env2.once()
    check_all_nodes(env2, p)
    return "unsigned, signed -> unsigned -> signed"


def case_chain_fixed():
    """A wrong chain file (the operator's mistake), then the right one: the
    next run signs every node again, unchanged ones too, since a signature
    carrying another chain than the configured one is stale."""
    p = get_pki("p256")
    other = get_pki("p256", "other")
    env = Env("chain-fixed", p)
    env.config = env.write_config(signing=(p.leaf_key, p.leaf_cert, other.chain))
    env.once()
    for n in env.node_dirs():
        d = env.node(n)
        check(not pki.verify(os.path.join(d, "MANIFEST"), os.path.join(d, "MANIFEST.sig"), p.ca_cert),
              "%s: openssl accepted a signature whose chain is another PKI's intermediate", n)
    before = {n: read(os.path.join(env.node(n), "MANIFEST")) for n in env.node_dirs()}
    env.config = env.write_config(signing=(p.leaf_key, p.leaf_cert, p.chain))
    env.once()
    for n in env.node_dirs():
        d = env.node(n)
        check(pki.verify(os.path.join(d, "MANIFEST"), os.path.join(d, "MANIFEST.sig"), p.ca_cert),
              "%s: not signed again after the chain was fixed", n)
        expect_verified(d, p.ca_cert, "%s after the chain was fixed" % n)
        m0, m1 = json.loads(before[n]), json.loads(read(os.path.join(d, "MANIFEST")))
        check(m0["generation"] == m1["generation"] and m0["files"] == m1["files"],
              "%s: re-signing changed the generation or the files: %r -> %r", n, m0["generation"], m1["generation"])
    return "%d nodes signed again with the fixed chain, same generation" % len(before)


CASES = [
    ("publish-rsa", case_publish_rsa),
    ("publish-p256", case_publish_p256),
    ("publish-p384", case_publish_p384),
    ("tamper", case_tamper),
    ("watched-directory", case_watched_directory),
    ("daemon-check", case_daemon_check),
    ("daemon-check-sotw-extra", case_daemon_check_sotw_extra),
    ("refused-pairs", case_refused_pairs),
    ("sources", case_sources),
    ("unsigned", case_unsigned),
    ("chain-fixed", case_chain_fixed),
]


def main():
    only = [c for c in os.environ.get("FSXDS_TEST_CASES", "").split(",") if c]
    for exe in (FSXDSD, FSXDS):
        check(os.access(exe, os.X_OK), "%s is not executable", exe)
    t0 = time.monotonic()
    ver = pki.run("version").stdout.decode().strip()
    get_pki("p256"), get_pki("p256", "other")  # the PKIs most cases use
    print("# %s; PKIs in %.1fs; tmp %s" % (ver, time.monotonic() - t0, TMP), flush=True)
    failed = []
    for name, fn in CASES:
        if only and name not in only:
            continue
        t = time.monotonic()
        try:
            note = fn()
            print("PASS %-24s %5.2fs  %s" % (name, time.monotonic() - t, note or ""), flush=True)
        except Failure as e:
            failed.append(name)
            print("FAIL %-24s %5.2fs  %s" % (name, time.monotonic() - t, e), flush=True)
        except Exception:
            failed.append(name)
            print("FAIL %-24s %5.2fs  unexpected error:\n%s" % (name, time.monotonic() - t, traceback.format_exc()),
                  flush=True)
    print("# %d cases, %d failed%s, %.1fs" % (len(CASES) if not only else len(only), len(failed),
                                              (": " + ", ".join(failed)) if failed else "", time.monotonic() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        rc = main()
    except Failure as e:
        print("FAIL setup: %s" % e)
        rc = 1
    finally:
        if KEEP:
            print("# kept %s" % TMP)
        else:
            shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(rc)
