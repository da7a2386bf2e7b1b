# SPDX-License-Identifier: MIT
"""fsxds diff against what fsxdsd --once published (python3 stdlib only):

    python3 run-diff.py FSXDSD FSXDS SOURCE_ROOT

A copy of conf/examples is published with fsxdsd --once into a temporary
output_dir, then edited: fsxds diff says nothing would change right after
a publish (exit 0, in both publish modes, through "..data" symlinks in
watched_directory mode), and after each edit which nodes, files and
resources would be added, removed or changed, with a unified diff of the
decoded YAML of a changed resource (exit 3); a node gone from the tree is
named with `fsxds forget`, a node with errors prints file:line:column and
exits 1, NODE... limits the diff, an unknown NODE gets a "did you mean",
and --json says what the text says.

One line per case; exit 1 when any case fails. FSXDS_TEST_KEEP=1 keeps
the temporary tree; FSXDS_TEST_CASES=a,b runs only the named cases.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback

if len(sys.argv) != 4:
    sys.exit("usage: run-diff.py FSXDSD FSXDS SOURCE_ROOT")
FSXDSD = os.path.abspath(sys.argv[1])
FSXDS = os.path.abspath(sys.argv[2])
SOURCE_ROOT = os.path.abspath(sys.argv[3])
EXAMPLES = os.path.join(SOURCE_ROOT, "conf", "examples")
KEEP = bool(os.environ.get("FSXDS_TEST_KEEP"))
NODES = ("ads-proxy", "eds-proxy", "front-proxy")

TMP = tempfile.mkdtemp(prefix="fsxds-diff-")

EXTRA_CLUSTER = """- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster
  name: %s
  connect_timeout: 1s
  type: STATIC
  load_assignment:
    cluster_name: %s
    endpoints:
    - lb_endpoints:
      - endpoint:
          address:
            socket_address: {address: 127.0.0.1, port_value: 9000}
"""


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
    check(not re.search(r"ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:", p.stderr),
          "%s: sanitizer report%s", " ".join(str(c) for c in cmd), show(p))
    return p


def read(path):
    with open(path) as f:
        return f.read()


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def edit(path, old, new):
    text = read(path)
    check(old in text, "%s has no %r: conf/examples changed?", path, old)
    write(path, text.replace(old, new))


class Env:
    """A copy of conf/examples, published by fsxdsd --once."""

    def __init__(self, name, mode="rename"):
        self.root = os.path.join(TMP, name)
        os.makedirs(self.root)
        self.src = os.path.join(self.root, "src")
        self.out = os.path.join(self.root, "out")
        self.state = os.path.join(self.root, "state")
        shutil.copytree(EXAMPLES, self.src)
        self.config = os.path.join(self.root, "fsxds.yaml")
        write(self.config, 'source_dir: "%s"\noutput_dir: "%s"\nstate_dir: "%s"\npublish_mode: "%s"\n'
              'phase_pause: "0s"\n' % (self.src, self.out, self.state, mode))

    def once(self):
        p = run(FSXDSD, "--config", self.config, "--once")
        check(p.returncode == 0, "fsxdsd --once: expected exit 0%s", show(p))

    def diff(self, *args, rc=None):
        p = run(FSXDS, "diff", "--config", self.config, *args)
        if rc is not None:
            check(p.returncode == rc, "fsxds diff %s: expected exit %d%s", " ".join(args), rc, show(p))
        return p

    def diff_json(self, *args, rc=None):
        p = self.diff("--json", *args, rc=rc)
        try:
            return json.loads(p.stdout)
        except ValueError as e:
            raise Failure("fsxds diff --json: not JSON (%s)%s" % (e, show(p)))

    def path(self, *parts):
        return os.path.join(self.src, *parts)


def node_block(out, node):
    """The lines of node's part of the text output."""
    lines, inside = [], False
    for line in out.splitlines():
        if line.startswith("node "):
            inside = line.startswith("node %s:" % node)
        if inside:
            lines.append(line)
    return lines


def expect_lines(p, node, wanted):
    block = node_block(p.stdout, node)
    for w in wanted:
        check(w in block, "node %s: no line %r in%s", node, w, show(p))
    return block


def expect_hunk_lines(p, node, wanted):
    """Lines of a hunk, whatever the YAML's indentation: (mark, text)."""
    block = node_block(p.stdout, node)
    for mark, text in wanted:
        pattern = r"      %s\s*%s$" % (re.escape(mark), re.escape(text))
        check(any(re.match(pattern, l) for l in block), "node %s: no hunk line %s %r in%s", node, mark, text, show(p))


# ---------------------------------------------------------------- cases


def case_no_change():
    for mode in ("rename", "watched_directory"):
        e = Env("same-" + mode, mode)
        e.once()
        if mode == "watched_directory":
            live = os.path.join(e.out, "eds-proxy", "cds", "cds.pb")
            check(os.path.islink(live) and os.readlink(live) == "..data/cds.pb",
                  "%s: expected the symlink ..data/cds.pb", live)
        p = e.diff(rc=0)
        check(p.stdout == "".join("node %s: no change\n" % n for n in NODES), "%s: expected no change%s", mode, show(p))
        check("0 of 3 nodes would change" in p.stderr, "%s: no summary%s", mode, show(p))
        d = e.diff_json(rc=0)
        check(d["changes"] == 0 and d["errors"] == 0, "%s: --json: %r", mode, d)
        check([(n["node"], n["status"], n["files"]) for n in d["nodes"]] == [(n, "unchanged", []) for n in NODES],
              "%s: --json nodes: %r", mode, d["nodes"])


def case_resources():
    """A cluster added, one removed, a field changed: per resource, with the hunk."""
    e = Env("resources")
    cds = e.path("common", "cds.yaml")
    write(cds, read(cds) + EXTRA_CLUSTER % ("gone", "gone"))
    e.once()
    e.diff(rc=0)
    edit(cds, EXTRA_CLUSTER % ("gone", "gone"), EXTRA_CLUSTER % ("extra", "extra"))
    edit(cds, "connect_timeout: 1s\n  type: STRICT_DNS", "connect_timeout: 2s\n  type: STRICT_DNS")
    p = e.diff(rc=3)
    block = expect_lines(p, "front-proxy", [
        "node front-proxy: 1 file would change: 1 changed",
        "  ~ cds/cds.pb: 1 resource added, 1 changed, 1 removed",
        '    + "extra"',
        '    - "gone"',
        '    ~ "webcluster"',
        '      --- live cds/cds.pb "webcluster"',
        '      +++ tree cds/cds.pb "webcluster"',
        '      -connect_timeout: "1s"',
        '      +connect_timeout: "2s"',
    ])
    hunk = [l for l in block if l.startswith("      @@ ")]
    check(len(hunk) == 1 and re.match(r"      @@ -\d+(,\d+)? \+\d+(,\d+)? @@$", hunk[0]), "expected one hunk header%s",
          show(p))
    # 3 lines of context: the unchanged name before the change is shown, the @type line too
    check('       name: "webcluster"' in block, "no context line%s", show(p))
    # eds-proxy replaces webcluster with its own: only extra and gone differ there
    expect_lines(p, "eds-proxy", ["  ~ cds/cds.pb: 1 resource added, 1 removed"])
    check(not any("webcluster" in l for l in node_block(p.stdout, "eds-proxy")), "eds-proxy's webcluster did not change%s",
          show(p))
    d = e.diff_json(rc=3)
    check(d["changes"] == 3, "--json: changes %r", d["changes"])
    front = [n for n in d["nodes"] if n["node"] == "front-proxy"][0]
    check(front["status"] == "changed" and [f["path"] for f in front["files"]] == ["cds/cds.pb"], "--json: %r", front)
    res = {r["name"]: r for r in front["files"][0]["resources"]}
    check({k: r["status"] for k, r in res.items()} == {"extra": "added", "gone": "removed", "webcluster": "changed"},
          "--json resources: %r", res)
    check('-connect_timeout: "1s"\n+connect_timeout: "2s"\n' in res["webcluster"]["diff"], "--json diff: %r",
          res["webcluster"]["diff"])
    check(res["extra"]["diff"] is None, "--json: an added resource has no diff")
    # the text says the same
    for line in res["webcluster"]["diff"].splitlines():
        check("      " + line in block, "--json's diff line %r is not in the text%s", line, show(p))
    # published, nothing is left to change
    e.once()
    e.diff(rc=0)


def case_route_files():
    """A route file added and one removed (rds/NAME.pb), lds.pb changed."""
    e = Env("routes")
    e.once()
    for f in ("rds.yaml", "lds.yaml"):
        edit(e.path("nodes", "eds-proxy", f), "local_route", "other_route")
    p = e.diff("eds-proxy", rc=3)
    expect_lines(p, "eds-proxy", [
        "node eds-proxy: 3 files would change: 1 added, 1 changed, 1 removed",
        "  ~ lds/lds.pb: 1 resource changed",
        "  + rds/other_route.pb (1 resource)",
        '    + "other_route"',
        "  - rds/local_route.pb (1 resource)",
        '    - "local_route"',
    ])
    expect_hunk_lines(p, "eds-proxy", [("-", 'route_config_name: "local_route"'),
                                       ("+", 'route_config_name: "other_route"')])
    check(len(p.stdout.splitlines()) > 1 and all(not l.startswith("node ") or l.startswith("node eds-proxy:")
                                                 for l in p.stdout.splitlines()), "NODE limits the diff%s", show(p))
    e.once()
    e.diff(rc=0)


def case_nodes():
    """A node added to the tree (every file added), one removed (its output stays)."""
    e = Env("nodes")
    e.once()
    shutil.copytree(e.path("nodes", "eds-proxy"), e.path("nodes", "new-node"))
    shutil.rmtree(e.path("nodes", "front-proxy"))
    p = e.diff(rc=3)
    expect_lines(p, "new-node", [
        "node new-node: 4 files would change: 4 added (no output yet)",
        "  + cds/cds.pb (1 resource)", "  + eds/webcluster.pb (1 resource)", "  + lds/lds.pb (1 resource)",
        "  + rds/local_route.pb (1 resource)", '    + "listener_0"',
    ])
    expect_lines(p, "front-proxy",
                 ["node front-proxy: not in the tree any more; its output stays until `fsxds forget front-proxy`"])
    expect_lines(p, "eds-proxy", ["node eds-proxy: no change"])
    d = e.diff_json(rc=3)
    check({n["node"]: n["status"] for n in d["nodes"]} ==
          {"ads-proxy": "unchanged", "eds-proxy": "unchanged", "front-proxy": "gone", "new-node": "changed"},
          "--json: %r", d["nodes"])
    check(d["changes"] == 2, "--json: changes %r", d["changes"])
    # a vanished node alone still counts as a change
    e.diff("front-proxy", rc=3)
    e.diff("eds-proxy", rc=0)
    e.once()
    p = e.diff(rc=3)  # fsxdsd keeps front-proxy's output
    expect_lines(p, "new-node", ["node new-node: no change"])
    expect_lines(p, "front-proxy", ["node front-proxy: not in the tree any more; its output stays until "
                                    "`fsxds forget front-proxy`"])


def case_config_nodes():
    """A node of nodes: with no directory in the tree: built of common/ alone, as fsxdsd builds it."""
    e = Env("config-nodes")
    write(e.config, read(e.config) + "nodes: [common-only]\n")
    e.once()
    e.diff(rc=0)
    os.makedirs(e.path("nodes", "a b"))
    shutil.rmtree(os.path.join(e.out, "common-only"))
    p = e.diff(rc=1)
    expect_lines(p, "common-only", ["node common-only: 2 files would change: 2 added (no output yet)",
                                    "  + cds/cds.pb (1 resource)", "  + lds/lds.pb (0 resources)"])
    check("  %s: error: not a node id" % e.path("nodes", "a b") in p.stdout.splitlines()[0],
          "a directory of nodes/ that is no node id is an error%s", show(p))
    d = e.diff_json(rc=1)
    check(len(d["problems"]) == 1 and d["problems"][0]["file"] == e.path("nodes", "a b"), "--json: %r", d["problems"])


def case_errors():
    """A node whose build has errors: its diagnostics, exit 1 even beside changes."""
    e = Env("errors")
    e.once()
    edit(e.path("nodes", "eds-proxy", "cds.yaml"), "lb_policy: ROUND_ROBIN", "lb_policy: ROUND_ROBIN\n  bogus_field: 1")
    edit(e.path("nodes", "front-proxy", "lds.yaml"), "name: listener_http", "name: listener_web")
    p = e.diff(rc=1)
    block = expect_lines(p, "eds-proxy", ["node eds-proxy: 1 error; would not be published (its live output stays)"])
    check(any(re.match(r"  %s:\d+:\d+: error: resources\[0\]\.bogus_field: " % re.escape(
        e.path("nodes", "eds-proxy", "cds.yaml")), l) for l in block), "no file:line:column diagnostic%s", show(p))
    expect_lines(p, "front-proxy", ["node front-proxy: 1 file would change: 1 changed"])
    d = e.diff_json(rc=1)
    bad = [n for n in d["nodes"] if n["node"] == "eds-proxy"][0]
    check(bad["status"] == "errors" and d["errors"] == 1, "--json: %r", bad)
    diag = bad["diagnostics"][0]
    check(diag["level"] == "error" and diag["line"] > 0 and diag["column"] > 0 and
          diag["path"] == "resources[0].bogus_field", "--json diagnostic: %r", diag)
    # the error alone
    e.diff("front-proxy", rc=3)
    e.diff("eds-proxy", rc=1)


def case_unknown_node():
    e = Env("unknown")
    e.once()
    p = e.diff("front-proxi", rc=1)
    check('unknown node "front-proxi"' in p.stderr and 'did you mean "front-proxy"?' in p.stderr,
          "expected a did you mean%s", show(p))
    p = e.diff("nosuch", "eds-proxy", rc=1)
    check('unknown node "nosuch"' in p.stderr and "did you mean" not in p.stderr, "%s", show(p))


def case_live_tampered():
    """What is live is read, not MANIFEST: bytes changed behind fsxdsd, a symlink out."""
    e = Env("tampered")
    e.once()
    eds = os.path.join(e.out, "eds-proxy", "eds", "webcluster.pb")
    data = open(eds, "rb").read()
    os.unlink(eds)  # a hard link into the store: never write through it
    with open(eds, "wb") as f:
        f.write(data.replace(b"172.31.11.11", b"172.31.11.12"))
    p = e.diff("eds-proxy", rc=3)
    expect_lines(p, "eds-proxy", ["  ~ eds/webcluster.pb: 1 resource changed", '    ~ "webcluster"'])
    expect_hunk_lines(p, "eds-proxy", [("-", 'address: "172.31.11.12"'), ("+", 'address: "172.31.11.11"')])
    os.unlink(eds)
    secret = os.path.join(e.root, "outside.pb")
    shutil.copy(os.path.join(e.out, "front-proxy", "cds", "cds.pb"), secret)
    os.symlink(secret, eds)
    p = e.diff("eds-proxy", rc=3)
    expect_lines(p, "eds-proxy", ["  ~ eds/webcluster.pb: 1 resource added (live: a symlink to %s, not to "
                                  "..data/webcluster.pb)" % secret])


def case_watched_changes():
    """watched_directory: the live bytes are read through ..data."""
    e = Env("watched", "watched_directory")
    e.once()
    edit(e.path("nodes", "eds-proxy", "eds.yaml"), "172.31.11.11", "172.31.11.99")
    p = e.diff(rc=3)
    expect_lines(p, "eds-proxy", ["node eds-proxy: 1 file would change: 1 changed"])
    expect_hunk_lines(p, "eds-proxy", [("-", 'address: "172.31.11.11"'), ("+", 'address: "172.31.11.99"')])
    e.once()
    e.diff(rc=0)


def case_removal_guard():
    """Removing 2 of 3 clusters: the diff says the removal guard would hold it back."""
    e = Env("guard")
    cds = e.path("common", "cds.yaml")
    original = read(cds)
    write(cds, original + EXTRA_CLUSTER % ("g1", "g1") + EXTRA_CLUSTER % ("g2", "g2"))
    e.once()
    write(cds, original)
    p = e.diff("front-proxy", rc=3)
    expect_lines(p, "front-proxy", [
        "  ~ cds/cds.pb: 2 resources removed",
        '  ! the removal guard would hold it back: it removes 2 of 3 clusters ("g1", "g2") (more than max_removal '
        "0.50); 'fsxds allow-removal front-proxy' lets it through once"])
    d = e.diff_json("front-proxy", rc=3)
    check("removal guard" in d["nodes"][0]["removal_guard"], "--json: %r", d["nodes"][0])
    p = run(FSXDS, "allow-removal", "--config", e.config, "front-proxy")
    check(p.returncode == 0, "fsxds allow-removal%s", show(p))
    p = e.diff("front-proxy", rc=3)
    check("which the allowance %s lets through once" % os.path.join(e.state, "allow-removal", "front-proxy") in p.stdout,
          "the allowance is not named%s", show(p))


def case_expired_allowance():
    """An allowance older than fsxdsd's 60 minutes lets nothing through: diff says the guard holds."""
    e = Env("guard-expired")
    cds = e.path("common", "cds.yaml")
    original = read(cds)
    write(cds, original + EXTRA_CLUSTER % ("g1", "g1") + EXTRA_CLUSTER % ("g2", "g2"))
    e.once()
    write(cds, original)
    p = run(FSXDS, "allow-removal", "--config", e.config, "front-proxy")
    check(p.returncode == 0, "fsxds allow-removal%s", show(p))
    allowance = os.path.join(e.state, "allow-removal", "front-proxy")
    old = os.stat(allowance).st_mtime - 2 * 3600
    os.utime(allowance, (old, old))
    p = e.diff("front-proxy", rc=3)
    check("  ! the removal guard would hold it back" in p.stdout,
          "an expired allowance is shown as letting the removal through%s", show(p))


def pb_field(number, data):
    """A length-delimited protobuf field (lengths under 128 bytes)."""
    assert len(data) < 128
    return bytes([number << 3 | 2, len(data)]) + data


def case_json_odd_live_name():
    """A live file altered behind fsxdsd's back, with a resource name that is not UTF-8: --json stays JSON."""
    e = Env("odd-name")
    e.once()
    url = b"type.googleapis.com/envoy.config.cluster.v3.Cluster"
    cluster = pb_field(2, pb_field(1, url) + pb_field(2, pb_field(1, b"web\xffcluster")))
    cds = os.path.join(e.out, "front-proxy", "cds", "cds.pb")
    os.unlink(cds)  # a hard link into the store
    with open(cds, "wb") as f:
        f.write(pb_field(1, b"1") + cluster + pb_field(4, url))
    p = subprocess.run([FSXDS, "diff", "--json", "--config", e.config, "front-proxy"], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=120)
    check(p.returncode == 3, "expected exit 3, got %d: %r", p.returncode, p.stderr)
    try:
        json.loads(p.stdout)
    except ValueError as x:
        raise Failure("fsxds diff --json: not JSON (%s): %r" % (x, p.stdout[:400]))


def case_generations():
    """--from/--to with generations of the node's history: what a generation
    changed, what a rollback would change (with the guard's line), a
    generation against the tree; an unknown generation and a bad REF."""
    e = Env("generations")
    cds = e.path("common", "cds.yaml")
    original = read(cds)
    e.once()                                        # 1
    write(cds, original + EXTRA_CLUSTER % ("g1", "g1") + EXTRA_CLUSTER % ("g2", "g2"))
    e.once()                                        # 2: two clusters added
    edit(cds, "connect_timeout: 1s\n  type: STRICT_DNS", "connect_timeout: 4s\n  type: STRICT_DNS")
    e.once()                                        # 3: webcluster changed
    p = e.diff("--from", "1", "--to", "2", "front-proxy", rc=3)
    expect_lines(p, "front-proxy", ["  ~ cds/cds.pb: 2 resources added", '    + "g1"', '    + "g2"'])
    check("removal guard" not in p.stdout, "no guard between two generations%s", show(p))
    p = e.diff("--from", "2", "--to", "3", "front-proxy", rc=3)
    expect_lines(p, "front-proxy", ['      --- generation 2 cds/cds.pb "webcluster"',
                                    '      +++ generation 3 cds/cds.pb "webcluster"',
                                    '      -connect_timeout: "1s"', '      +connect_timeout: "4s"'])
    # what a rollback to 1 would do: the guard would hold it back
    p = e.diff("--to", "1", "front-proxy", rc=3)
    expect_lines(p, "front-proxy", ["  ~ cds/cds.pb: 1 resource changed, 2 removed"])
    check("! the removal guard would hold it back: it removes 2 of 3 clusters" in p.stdout, "no guard line%s", show(p))
    # the live output is generation 3, and so is the tree
    e.diff("--to", "3", "front-proxy", rc=0)
    e.diff("--from", "3", "front-proxy", rc=0)
    e.diff("--from", "live", "--to", "tree", rc=0)
    d = e.diff_json("--from", "1", "--to", "3", "front-proxy", rc=3)
    check((d["from"], d["to"]) == ("generation 1", "generation 3"), "--json sides: %r", (d["from"], d["to"]))
    p = e.diff("--from", "9", "front-proxy", rc=1)
    check("generation 9 of front-proxy is not in its history" in p.stderr, "unknown generation%s", show(p))
    p = e.diff("--from", "1", rc=2)
    check("exactly one NODE" in p.stderr, "a generation without one NODE%s", show(p))
    p = e.diff("--from", "x1", "front-proxy", rc=2)
    check("expected live, tree or a generation number" in p.stderr, "bad REF%s", show(p))


def case_io_error():
    e = Env("io")
    e.once()
    bad = os.path.join(e.root, "not-a-dir")
    write(bad, "x\n")
    write(e.config, read(e.config).replace('output_dir: "%s"' % e.out, 'output_dir: "%s"' % bad))
    p = e.diff(rc=2)
    check("cannot list %s" % bad in p.stderr, "expected the output_dir named%s", show(p))


CASES = [
    ("no-change", case_no_change),
    ("resources", case_resources),
    ("route-files", case_route_files),
    ("nodes", case_nodes),
    ("config-nodes", case_config_nodes),
    ("errors", case_errors),
    ("unknown-node", case_unknown_node),
    ("live-tampered", case_live_tampered),
    ("watched-changes", case_watched_changes),
    ("removal-guard", case_removal_guard),
    ("io-error", case_io_error),
    ("generations", case_generations),
    ("expired-allowance", case_expired_allowance),
    ("json-odd-live-name", case_json_odd_live_name),
]


def main():
    only = set(filter(None, os.environ.get("FSXDS_TEST_CASES", "").split(",")))
    failed = 0
    for name, f in CASES:
        if only and name not in only:
            continue
        try:
            f()
            print("ok   %s" % name)
        except Failure as e:
            failed += 1
            print("FAIL %s: %s" % (name, e))
        except Exception:
            failed += 1
            print("FAIL %s: %s" % (name, traceback.format_exc()))
        sys.stdout.flush()
    if KEEP:
        print("kept %s" % TMP)
    else:
        shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(1 if failed else 0)


main()
