# SPDX-License-Identifier: MIT
"""The bundled examples and scripts/demo, as a first-time user sees them
(python3 stdlib only; run as `python3 demo.py FSXDSD FSXDS SOURCE_ROOT`).

- examples-clean: conf/examples has no warnings, neither for `fsxds
  check` nor for fsxdsd (whose host-wide check warns about two nodes
  binding one address: every node of the examples is an Envoy of the same
  host).
- demo: scripts/demo, run on this build (FSXDS_DEMO_BUILD: no apt-get, no
  meson) in a mkdtemp() directory (FSXDS_DEMO_DIR), prints no warning and
  each step's caption holds: its "== ..." line is followed by what it says
  (a second endpoint: the examples have one, the decoded EDS two; a broken
  edit: the node keeps its generation and its good cluster; ...).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FSXDS, SANITIZER, SOURCE_ROOT, WAIT, Env, Runner, expect, expect_eq, expect_in)  # noqa: E402

EXAMPLES = os.path.join(SOURCE_ROOT, "conf", "examples") if SOURCE_ROOT else None
NODES = ["ads-proxy", "eds-proxy", "front-proxy"]


def no_warning(text, what):
    lines = [line for line in text.splitlines() if "warning" in line.lower()]
    expect(not lines, "%s has warnings:\n  %s", what, "\n  ".join(lines))


def t_examples_clean():
    p = subprocess.run([FSXDS, "check", EXAMPLES], capture_output=True, text=True)
    expect_eq(p.returncode, 0, "fsxds check conf/examples's exit status")
    no_warning(p.stdout + p.stderr, "fsxds check conf/examples")
    expect_in("fsxds check: ok (3 nodes", p.stderr, "fsxds check's summary")
    env = Env("inotify", "rename")
    shutil.copytree(EXAMPLES, env.src)
    d = env.daemon()
    _, st = d.wait_rebuild(d.start_index)
    expect_eq(sorted(st["nodes"]), NODES, "status.json's nodes")
    d.stop()
    no_warning(d.log_text(), "fsxdsd's log on conf/examples")


def sections(out):
    """{caption: text} of the demo's "== caption" steps, in order."""
    got = []
    for line in out.splitlines():
        if line.startswith("== "):
            got.append([line[3:], []])
        elif got:
            got[-1][1].append(line)
    return [(c, "\n".join(t)) for c, t in got]


def section(secs, prefix):
    found = [(c, t) for c, t in secs if c.startswith(prefix)]
    expect(len(found) == 1, "one step whose caption starts with %r, got %r", prefix, [c for c, _ in secs])
    return found[0][1]


def status_rows(text):
    """{node: (generation, state)} of the `fsxds status` tables in text (the last one wins)."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^(\S+)\s+(\d+)\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d+\s+\d+\s+\d+\s+(.*)$", line)
        if m and m.group(1) in NODES:
            rows[m.group(1)] = (int(m.group(2)), m.group(3))
    return rows


def endpoints(decoded):
    return re.findall(r'address: "([0-9.]+)"\n\s+port_value: (\d+)', decoded)


def t_demo():
    demo = os.path.join(SOURCE_ROOT, "scripts", "demo")
    with open(demo) as f:
        expect("FSXDS_DEMO_BUILD" in f.read(), "scripts/demo cannot run on a test build (no FSXDS_DEMO_BUILD): "
               "it would run apt-get and meson on the source tree")
    build = os.path.dirname(os.path.dirname(FSXDS))
    work = tempfile.mkdtemp(prefix="fsxds-demo-test-")
    try:
        e = dict(os.environ, FSXDS_DEMO_BUILD=build, FSXDS_DEMO_DIR=os.path.join(work, "demo"))
        p = subprocess.run([demo], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, env=e, timeout=WAIT * 10)
        out = p.stdout
        try:
            check_demo_output(p.returncode, out, os.path.join(work, "demo"))
        except AssertionError:
            print("  --- scripts/demo's output")
            for line in out.splitlines():
                print("  | " + line)
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_demo_output(rc, out, demo):
    expect_eq(rc, 0, "scripts/demo's exit status")
    no_warning(out, "scripts/demo's output")
    bad = [line for line in out.splitlines() if SANITIZER.search(line)]
    expect(not bad, "sanitizer reports:\n  %s", "\n  ".join(bad))
    secs = sections(out)

    start = section(secs, "fsxdsd --config")
    expect_in("published generation 1 to 3 nodes", start, "fsxdsd's first lines")

    rows = status_rows(section(secs, "fsxds status"))
    expect_eq(rows, {n: (1, "ok") for n in NODES}, "the first fsxds status")

    listed = sorted(line.strip() for line in section(secs, "the published files").splitlines() if line.strip())
    on_disk = sorted(os.path.relpath(os.path.join(dp, f), os.path.join(demo, "run"))
                     for dp, dns, fs in os.walk(os.path.join(demo, "run")) for f in fs if f.endswith(".pb"))
    expect_eq(listed, on_disk, "the published files listed")
    expect(all(n + "/lds/lds.pb" in listed for n in NODES), "a listener per node: %r", listed)

    # "a second endpoint": the examples have one, the decoded EDS after the edit two
    with open(os.path.join(EXAMPLES, "nodes", "eds-proxy", "eds.yaml")) as f:
        expect_eq(f.read().count("- endpoint:"), 1, "endpoints in conf/examples/nodes/eds-proxy/eds.yaml")
    edit = section(secs, "edit: a second endpoint for eds-proxy's webcluster")
    expect_eq(status_rows(edit)["eds-proxy"], (2, "ok"), "eds-proxy after the edit")
    expect_eq(status_rows(edit)["front-proxy"], (1, "ok"), "front-proxy after eds-proxy's edit")
    decoded = section(secs, "fsxds decode")
    expect_eq(endpoints(decoded), [("172.31.11.11", "80"), ("172.31.11.12", "80")],
              "the decoded EDS's endpoints after the edit")

    manifest = section(secs, "eds-proxy's MANIFEST")
    expect_in('"node":"eds-proxy","generation":2', manifest, "the MANIFEST shown")
    expect_in("verified: node eds-proxy, generation 2", manifest, "fsxds verify")
    expect_in("CMS Verification successful", manifest, "openssl cms -verify")
    expect_in("eds/webcluster.pb: sha256", manifest, "fsxds verify of a tampered file")
    expect_in("verification FAILED (1 problem)", manifest, "fsxds verify of a tampered file")

    broken = section(secs, "a broken edit")
    gen, state = status_rows(broken)["eds-proxy"]
    expect_eq(gen, 2, "eds-proxy's generation after a broken edit")
    expect_in("nodes/eds-proxy/cds.yaml:4:20: resources[0].connect_timeout", state, "eds-proxy's state")
    expect_in('connect_timeout: "0.250s"', broken, "eds-proxy's published cluster after a broken edit")

    check = section(secs, "fsxds check on a copy with three mistakes")
    errors = [line for line in check.splitlines() if ": error: " in line]
    expect_eq(len(errors), 3, "fsxds check's errors (%r)" % errors)
    for needle in ("cds.yaml:4:20: error: resources[0].connect_timeout",
                   "port_value: 70000 is above the maximum 65535",
                   'no cluster "nosuch" for node front-proxy'):
        expect(any(needle in line for line in errors), "no error with %r in %r", needle, errors)
    expect_in("(fsxds check exited 1: the tree has errors)", check, "fsxds check's exit status")
    expect_in("fsxdsd: stopping", out, "fsxdsd stopped at the end")


if __name__ == "__main__":
    r = Runner("daemon-demo")
    r.run("examples-clean", t_examples_clean)
    r.run("demo", t_demo)
    r.finish()
