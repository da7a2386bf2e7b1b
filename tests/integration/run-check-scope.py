#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""fsxds check says what it checked and what it did not (issue 14, section 1).

- Errors in common/ do not hide a node's: every file's errors are reported,
  and a node whose common/ has errors shows "graph not checked (common/ has
  errors)", never "ok" (text and --json: graph_checked, not_checked,
  complete); once common/ is fixed, the node's graph error shows.
- A path inside a tree (nodes/ID/, a file of it, "." in it, common/ or a
  file of it, nodes/) is checked as fsxdsd builds it, with common/ and the
  config sources it wires: no "rds.config_source: required, but not set";
  a node's verdict is the one the whole tree gives it. A file in no tree
  is compiled on its own, and stderr says what that leaves out.
- An unreadable directory (nodes/, a node's, one in common/) is an error
  naming it, and the rest is still checked. fsxds check runs as nobody for
  these (root reads everything), or they are skipped saying why.

Usage: run-check-scope.py FSXDS
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

FSXDS = os.path.abspath(sys.argv[1])
passed = failed = skipped = 0

CLUSTER = '"@type": type.googleapis.com/envoy.config.cluster.v3.Cluster'
CLA = '"@type": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment'
LISTENER = """"@type": type.googleapis.com/envoy.config.listener.v3.Listener
name: http
address: {socket_address: {address: 0.0.0.0, port_value: 8080}}
filter_chains:
- filters:
  - name: envoy.filters.network.http_connection_manager
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
      stat_prefix: http
      rds: {route_config_name: local_route}
      http_filters:
      - name: envoy.filters.http.router
        typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
"""
ROUTES = """"@type": type.googleapis.com/envoy.config.route.v3.RouteConfiguration
name: local_route
virtual_hosts:
- name: all
  domains: ["*"]
  routes:
  - match: {prefix: /}
    route: {cluster: %s}
"""


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def endpoints(port):
    return ("%s\ncluster_name: web\nendpoints:\n- lb_endpoints:\n"
            "  - endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: %s}}}\n" % (CLA, port))


def make_tree(t, port="8080", route_to="web"):
    """common/: cluster web (EDS) and its endpoints; node edge: a listener
    with RDS (its config source is wired by fsxdsd) and routes; node
    other: a cluster of its own."""
    write(t + "/common/cds.yaml", "%s\nname: web\nconnect_timeout: 1s\ntype: EDS\n" % CLUSTER)
    write(t + "/common/endpoints.yaml", endpoints(port))
    write(t + "/nodes/edge/lds.yaml", LISTENER)
    write(t + "/nodes/edge/routes.yaml", ROUTES % route_to)
    write(t + "/nodes/other/cds.yaml", "%s\nname: extra\nconnect_timeout: 2s\ntype: STATIC\n" % CLUSTER)


def run(*args, cwd=None, user=None):
    argv = [FSXDS, "check"] + list(args)
    if user:
        argv = ["setpriv", "--reuid=" + user, "--regid=nogroup", "--clear-groups"] + argv
    p = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def headers(out):
    return [line for line in out.splitlines() if not (": error: " in line or ": warning: " in line or ": note: " in line)]


def expect(cond, what, *shown):
    if not cond:
        raise AssertionError(what + "".join("\n  | " + s.replace("\n", "\n  | ") for s in shown))


def check(name, fn, *args):
    global passed, failed, skipped
    try:
        fn(*args)
        passed += 1
        print("PASS", name, flush=True)
    except SkipTest as e:
        skipped += 1
        print("SKIP %s: %s" % (name, e), flush=True)
    except AssertionError as e:
        failed += 1
        print("FAIL %s: %s" % (name, e), flush=True)


class SkipTest(Exception):
    pass


def t_common_errors_do_not_hide(tmp):
    """The issue's tree: port_value abc in common/, a route to a missing
    cluster in nodes/edge/."""
    t = tmp + "/hide"
    make_tree(t, port="abc", route_to="nosuch")
    # and an error of edge's own file: reported whatever common/ says
    write(t + "/nodes/edge/bad.yaml", "%s\nname: b\nconnect_timeout: 1s\nfrobnicate: 1\n" % CLUSTER)
    rc, out, err = run(t)
    expect(rc == 1, "exit %d" % rc, out, err)
    expect(headers(out) == ["common: 1 error",
                            "node edge: 1 error, graph not checked (common/ has errors)",
                            "node other: files ok, graph not checked (common/ has errors)"],
           "headers", out)
    expect("%s/common/endpoints.yaml:5:74: error: " % t in out, "common's error", out)
    expect('%s/nodes/edge/bad.yaml:4:1: error: frobnicate: unknown field "frobnicate"' % t in out,
           "edge's own error", out)
    expect("ok\n" not in out.replace("files ok", ""), "an ok while common/ has errors", out)
    expect("fsxds check: 2 errors (2 nodes, 6 files checked; 2 graphs not checked)" in err, "summary", err)

    rc, out, _ = run("--json", t)
    d = json.loads(out)
    expect(rc == 1 and d["errors"] == 2 and d["complete"] is False, "json counts", out)
    g = {x["node"]: x for x in d["groups"]}
    expect(g["edge"]["graph_checked"] is False and g["edge"]["not_checked"] == "common/ has errors"
           and g["edge"]["errors"] == 1, "json edge", out)
    expect(g["other"]["graph_checked"] is False and g["other"]["not_checked"] == "common/ has errors"
           and g["other"]["errors"] == 0, "json other", out)

    # common/ fixed: edge's graph is checked and its route error shows;
    # edge's own error still holds its graph back, said as such
    write(t + "/common/endpoints.yaml", endpoints("8080"))
    rc, out, _ = run(t)
    expect(headers(out) == ["common: ok", "node edge: 1 error, graph not checked (its files have errors)",
                            "node other: ok"], "headers after common/ is fixed", out)
    os.unlink(t + "/nodes/edge/bad.yaml")
    rc, out, err = run(t)
    expect(rc == 1 and headers(out) == ["common: ok", "node edge: 1 error", "node other: ok"],
           "headers with only the graph error", out, err)
    expect('%s/nodes/edge/routes.yaml:8:22: error: virtual_hosts[0].routes[0].route.cluster: no cluster "nosuch" for node edge' % t
           in out, "edge's graph error", out)
    rc, out, _ = run("--json", t)
    d = json.loads(out)
    expect(d["complete"] is True and all(x.get("graph_checked", True) for x in d["groups"]), "json complete", out)


def node_verdict(out, node):
    """The lines of one node's group (header without " in TREE", then its
    diagnostics), and the common group's diagnostics."""
    lines, group, cur = {}, None, None
    for line in out.splitlines():
        if ": error: " in line or ": warning: " in line or ": note: " in line:
            lines.setdefault(cur, []).append(line)
            continue
        name, _, rest = line.partition(": ")
        cur = name.split(" in ")[0]
        lines.setdefault(cur, []).append(rest)
    return lines.get("node " + node), lines.get("common")


def t_path_in_tree(tmp):
    t = tmp + "/scope"
    make_tree(t, route_to="nosuch")
    whole = run(t)[1]
    want_edge, _ = node_verdict(whole, "edge")
    expect(want_edge and want_edge[0] == "1 error", "the whole tree's verdict on edge", whole)
    for arg, cwd in ((t + "/nodes/edge/", None), (t + "/nodes/edge", None), (t + "/nodes/edge/lds.yaml", None),
                     (t + "/nodes/edge/routes.yaml", None), (".", t + "/nodes/edge"), ("lds.yaml", t + "/nodes/edge"),
                     ("nodes/edge", t)):
        rc, out, err = run(arg, cwd=cwd)
        expect(rc == 1, "check %s (in %s): exit %d" % (arg, cwd, rc), out, err)
        expect("config_source" not in out, "check %s: a config source error fsxdsd would not have" % arg, out)
        got, common = node_verdict(out, "edge")
        # the node's own group says the same as in the whole tree; paths
        # are spelled from the argument
        norm = lambda lines: [x.split("/nodes/edge/")[-1] for x in lines]
        expect(got is not None and norm(got) == norm(want_edge), "check %s: edge's verdict" % arg, out, whole)
        expect(common == ["ok"], "check %s: common's verdict" % arg, out)
        expect(node_verdict(out, "other")[0] is None, "check %s reports node other too" % arg, out)
        expect(headers(out)[0].startswith("common in "), "check %s: the tree is not named" % arg, out)
        expect("fsxds check: 1 error (1 node, 4 files checked)" in err, "check %s: summary" % arg, err)
    # the header names the tree as spelled
    rc, out, _ = run(t + "/nodes/edge/")
    expect(headers(out) == ["common in %s: ok" % t, "node edge in %s: 1 error" % t], "headers", out)
    # two paths of one tree: one common group, both nodes
    rc, out, err = run(t + "/nodes/edge/lds.yaml", t + "/nodes/other")
    expect(headers(out) == ["common in %s: ok" % t, "node edge in %s: 1 error" % t, "node other in %s: ok" % t],
           "two nodes of one tree", out)
    # common/, a file of it and nodes/: every node
    for arg in (t + "/common", t + "/common/cds.yaml", t + "/nodes/"):
        rc, out, err = run(arg)
        expect([h.split(" in ")[0] for h in headers(out)] == ["common", "node edge", "node other"],
               "check %s: every node" % arg, out)
    # a node directory with a subdirectory named common/ is still the node
    write(t + "/nodes/other/common/more.yaml", "%s\nname: more\nconnect_timeout: 1s\ntype: STATIC\n" % CLUSTER)
    rc, out, err = run(t + "/nodes/other")
    expect(rc == 0 and headers(out) == ["common in %s: ok" % t, "node other in %s: ok" % t],
           "a node with a common/ subdirectory", out, err)
    # a file of that common/ subdirectory, and of a node named common: that node, as fsxdsd builds it
    for arg, node in ((t + "/nodes/other/common/more.yaml", "other"), (t + "/nodes/common/lds.yaml", "common")):
        if node == "common":
            write(t + "/nodes/common/lds.yaml", LISTENER)
            write(t + "/nodes/common/routes.yaml", ROUTES % "web")
        rc, out, err = run(arg)
        expect(rc == 0 and headers(out) == ["common in %s: ok" % t, "node %s in %s: ok" % (node, t)],
               "check %s: node %s of the tree" % (arg, node), out, err)
    # a node directory whose name is no node id: said, not built
    write(t + "/nodes/.hidden/x.yaml", "%s\nname: h\nconnect_timeout: 1s\n" % CLUSTER)
    rc, out, err = run(t + "/nodes/.hidden")
    expect(rc == 1 and "%s/nodes/.hidden: error: not a node id" % t in out, "nodes/.hidden", out, err)


def t_no_tree(tmp):
    d = tmp + "/loose"
    write(d + "/lds.yaml", LISTENER)
    rc, out, err = run(d + "/lds.yaml")
    expect(rc == 1 and "rds.config_source: required, but not set" in out, "a loose file compiles on its own", out)
    expect("%s/lds.yaml is in no source tree's common/ or nodes/ID/" % d in err and "no config source wired" in err,
           "stderr says what is missing", err)
    rc, out, err = run(d)
    expect("%s is in no source tree's common/ or nodes/ID/" % d in err, "a loose directory", err)


def as_nobody(tmp):
    if os.geteuid() != 0:
        raise SkipTest("not root: cannot run fsxds check as another user (and a chmod 000 directory is unreadable to us anyway)")
    if not shutil.which("setpriv"):
        raise SkipTest("no setpriv to run fsxds check as nobody")
    p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", FSXDS, "--help"],
                       capture_output=True)
    if p.returncode != 0:
        raise SkipTest("fsxds cannot run as nobody here: %s" % p.stderr.decode(errors="replace").strip())
    # the path to the trees must be open to nobody
    d = tmp
    while d != "/":
        os.chmod(d, os.stat(d).st_mode | 0o005)
        d = os.path.dirname(d)


def t_unreadable(tmp):
    as_nobody(tmp)
    t = tmp + "/unreadable"
    make_tree(t)
    write(t + "/common/sub/x.yaml", "%s\nname: x\nconnect_timeout: 1s\ntype: STATIC\n" % CLUSTER)
    for root, dirs, files in os.walk(t):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    try:
        # nodes/: named, and common/'s files still checked
        os.chmod(t + "/nodes", 0)
        rc, out, err = run(t, user="nobody")
        expect(rc == 1, "exit %d" % rc, out, err)
        expect("%s/nodes: error: cannot list the directory: Permission denied; no node is checked" % t in out,
               "nodes/ named", out)
        expect(headers(out) == ["common: 1 error, graph not checked (nodes/ cannot be listed)"], "headers", out)
        expect("3 files checked" in err, "common/'s files checked", err)
        rc, out, _ = run("--json", t, user="nobody")
        d = json.loads(out)
        expect(d["errors"] == 1 and d["complete"] is False, "json", out)
        # ... and an error in common/ is still found
        write(t + "/common/sub/y.yaml", "%s\nname: y\nconnect_timeout: soon\n" % CLUSTER)
        os.chmod(t + "/common/sub/y.yaml", 0o644)
        rc, out, _ = run(t, user="nobody")
        expect("%s/common/sub/y.yaml:3:18: error: connect_timeout: " % t in out, "common/'s error behind nodes/", out)
        os.unlink(t + "/common/sub/y.yaml")
        os.chmod(t + "/nodes", 0o755)

        # a node's directory: that node's error, the other node checked
        os.chmod(t + "/nodes/edge", 0)
        rc, out, err = run(t, user="nobody")
        expect(rc == 1 and "%s/nodes/edge/: error: cannot list the directory: Permission denied" % t in out,
               "nodes/edge named", out, err)
        expect(headers(out) == ["common: ok", "node edge: 1 error, graph not checked (its files have errors)",
                                "node other: ok"], "headers", out)
        os.chmod(t + "/nodes/edge", 0o755)

        # a directory in common/: every node has the error, said once
        os.chmod(t + "/common/sub", 0)
        rc, out, err = run(t, user="nobody")
        expect(rc == 1 and "%s/common/sub: error: cannot list the directory: Permission denied" % t in out,
               "common/sub named", out, err)
        expect(headers(out) == ["common: 1 error", "node edge: files ok, graph not checked (common/ has errors)",
                                "node other: files ok, graph not checked (common/ has errors)"], "headers", out)
        expect("2 nodes, 6 files checked" in err, "the rest checked", err)
    finally:
        for p in (t + "/nodes", t + "/nodes/edge", t + "/common/sub"):
            if os.path.isdir(p):
                os.chmod(p, 0o755)


def main():
    tmp = tempfile.mkdtemp(prefix="fsxds-check-scope-")
    try:
        check("common-errors-do-not-hide", t_common_errors_do_not_hide, tmp)
        check("path-in-tree", t_path_in_tree, tmp)
        check("no-tree", t_no_tree, tmp)
        check("unreadable", t_unreadable, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed%s" % (passed, failed, ", %d skipped" % skipped if skipped else ""))
    sys.exit(1 if failed else 77 if passed == 0 else 0)


main()
