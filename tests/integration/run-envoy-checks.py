#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Envoy's load-time checks through `fsxds check`, one case per rule and
input: every tests/integration/envoy-checks/*.yaml starts with a header

    # rule: envoy.cluster.logical-dns-host
    # expect: LINE:COLUMN: error: PATH: MESSAGE [RULE]     (one or more)
    # near-miss: OLD => NEW                                 (one or more)
    # envoy-version: 1.20                                   (optional)

(LINE counts the header lines). For each case:
 1. fsxds check [--envoy-version V] FILE reports errors for FILE when an
    expect line is an error (none when all are warnings) and prints every
    expect line exactly, prefixed with FILE:;
 2. each near-miss (the file with OLD, which must occur exactly once below
    the header, replaced by NEW) is checked with the same options: no error,
    and no diagnostic names the rule (a check that over-rejects is as bad as
    one that misses).
`fsxds check` compiles each FILE on its own, so the cases of one release
are checked by one run of it (the suite runs three times in scripts/test,
twice in package builds, under the sanitizers once: a few runs, not 250).

Usage: run-envoy-checks.py FSXDS DATA_DIR"""
import os
import re
import subprocess
import sys
import tempfile


def parse(path):
    head = {"rule": None, "expect": [], "near-miss": [], "envoy-version": None}
    lines = open(path, encoding="utf-8").read().split("\n")
    body_start = next((i for i, l in enumerate(lines) if not l.startswith("#")), len(lines))
    for l in lines[:body_start]:
        m = re.match(r"# (rule|expect|near-miss|envoy-version): (.*)$", l)
        if not m:
            continue
        k, v = m.groups()
        if isinstance(head[k], list):
            head[k].append(v)
        elif head[k] is None:
            head[k] = v
    return head, lines, body_start


def check(fsxds, version, files):
    """{file: (header line, [diagnostic lines])} of one fsxds check run."""
    args = [fsxds, "check"] + (["--envoy-version", version] if version else []) + files
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.split("\n")
    if "Sanitizer" in p.stdout or "runtime error" in p.stdout:
        print(p.stdout)
        raise SystemExit("sanitizer report")
    res = {f: (None, []) for f in files}
    for f in files:
        header = next((l for l in out if l.startswith("file %s: " % f)), None)
        res[f] = (header, [l for l in out if l.startswith(f + ":")])
    return res


def main():
    fsxds, data = sys.argv[1], sys.argv[2]
    cases = sorted(os.path.join(data, f) for f in os.listdir(data) if f.endswith(".yaml"))
    tmp = tempfile.mkdtemp(prefix="fsxds-envoy-checks.")
    problems = {c: [] for c in cases}
    heads = {}
    misses = []  # (case, near-miss text, generated file)
    for c in cases:
        head, lines, start = parse(c)
        heads[c] = head
        for k in ("rule", "expect", "near-miss"):
            if not head[k]:
                problems[c].append("no '# %s:' line" % k)
        for e in head["expect"]:
            if not e.endswith("[%s]" % head["rule"]):
                problems[c].append("expect line does not end with [%s]: %s" % (head["rule"], e))
        body = "\n".join(lines[start:])
        for i, m in enumerate(head["near-miss"]):
            old, _, new = m.partition(" => ")
            n = body.count(old)
            if n != 1:
                problems[c].append("near-miss '%s' occurs %d times below the header (need exactly 1)" % (old, n))
                continue
            f = os.path.join(tmp, "%s.near-miss-%d.yaml" % (os.path.basename(c)[:-5], i))
            with open(f, "w", encoding="utf-8") as out:
                out.write("\n".join(lines[:start] + [body.replace(old, new, 1)]))
            misses.append((c, m, f))

    for version in sorted({h["envoy-version"] or "" for h in heads.values()}):
        group = [c for c in cases if (heads[c]["envoy-version"] or "") == version]
        for c, (header, diags) in check(fsxds, version, group).items():
            want_errors = any(": error: " in e for e in heads[c]["expect"])
            if header is None or ("error" in header) != want_errors:
                problems[c].append("%s, expected %s" % (header, "errors" if want_errors else "no error"))
            for e in heads[c]["expect"]:
                if "%s:%s" % (c, e) not in diags:
                    problems[c].append("missing diagnostic: %s:%s" % (c, e))
            if problems[c]:
                problems[c] += ["output: " + l for l in [header or ""] + diags]
        group_misses = [(c, m, f) for c, m, f in misses if (heads[c]["envoy-version"] or "") == version]
        res = check(fsxds, version, [f for _, _, f in group_misses])
        for c, m, f in group_misses:
            header, diags = res[f]
            rule = heads[c]["rule"]
            bad = header is None or "error" in header or any("[%s]" % rule in l for l in diags)
            if bad:
                problems[c].append("near-miss '%s': %s" % (m, header))
                problems[c] += ["near-miss output: " + l for l in diags]

    failed = [c for c in cases if problems[c]]
    for c in failed:
        print("FAIL %s" % os.path.basename(c)[:-5])
        for p in problems[c]:
            print("  " + p)
    rules = {heads[c]["rule"] for c in cases if not problems[c]}
    print("%d passed, %d failed (%d rules)" % (len(cases) - len(failed), len(failed), len(rules)))
    subprocess.run(["rm", "-rf", tmp])
    return 0 if not failed and cases else 1


if __name__ == "__main__":
    sys.exit(main())
