#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fsxds check as a user runs it, on real trees and files: every diagnostic
# of every node with its file:line:column and rule, common/'s printed once,
# the JSON document, exit codes, plain directories and files, and a tree of
# 10,000 resources with 50 errors seeded where a user would make them.
# Usage: run-check.sh FSXDS SOURCE_ROOT
set -u
fsxds=$(realpath "$1")
root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
check() { # name, then a command that must succeed
  local name=$1
  shift
  if "$@" >"$tmp/check.out" 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    sed 's/^/  /' "$tmp/check.out"
  fi
}
# the group header a diagnostic line of text output comes under ("common",
# "node ID", "file PATH"); one line per occurrence
group_of() { # line, file
  awk -v want="$1" '/^(common|node [^ ]+|file [^ ]+)( in [^ ]+)?: / && !/: (error|warning|note): / { h = $0; sub(/: (ok|[0-9]+ (error|warning)s?.*)$/, "", h) }
    $0 == want { print h }' "$2"
}
# the line must occur exactly once in the file, under the group
expect_once_in() { # group, line, file
  local got; got=$(group_of "$2" "$3")
  [ "$got" = "$1" ] || { echo "expected once under \"$1\", found under [${got//$'\n'/, }]: $2"; return 1; }
}
# one JSON document on stdout that python3 parses
json_ok() { python3 -m json.tool "$1" >/dev/null || { echo "not JSON: $1"; head -c 2000 "$1"; return 1; }; }
# a python expression about the document d (and the argument a) must hold
json_assert() { # file, expression[, a]
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); a = sys.argv[3]
if not ('"$2"'): sys.exit("not true of %s: %s" % (sys.argv[1], sys.argv[2]))' "$1" "$2" "${3:-}"
}

CLUSTER='"@type": type.googleapis.com/envoy.config.cluster.v3.Cluster'
CLA='"@type": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment'

# A clean tree: common/ and three nodes, EDS wired, a listener with RDS.
make_clean_tree() { # dir
  local t=$1
  mkdir -p "$t/common" "$t/nodes/edge" "$t/nodes/front-proxy" "$t/nodes/backend"
  cat >"$t/common/cds.yaml" <<EOF
resources:
- $CLUSTER
  name: web
  connect_timeout: 1s
  type: EDS
  lb_policy: ROUND_ROBIN
- $CLUSTER
  name: dns
  connect_timeout: 0.5s
  type: STRICT_DNS
  load_assignment:
    cluster_name: dns
    endpoints:
    - lb_endpoints:
      - endpoint: {address: {socket_address: {address: backend.example, port_value: 443}}}
EOF
  cat >"$t/common/eds.yaml" <<EOF
resources:
- $CLA
  cluster_name: web
  endpoints:
  - lb_endpoints:
    - endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: 8080}}}
EOF
  cat >"$t/nodes/edge/lds.yaml" <<EOF
resources:
- "@type": type.googleapis.com/envoy.config.listener.v3.Listener
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
---
$CLA
cluster_name: web
endpoints:
- lb_endpoints:
  - endpoint: {address: {socket_address: {address: 10.0.0.2, port_value: 8080}}}
EOF
  cat >"$t/nodes/edge/rds.yaml" <<EOF
"@type": type.googleapis.com/envoy.config.route.v3.RouteConfiguration
name: local_route
virtual_hosts:
- name: all
  domains: ["*"]
  routes:
  - match: {prefix: /}
    route: {cluster: web}
EOF
  cp "$t/common/eds.yaml" "$t/nodes/front-proxy/eds.yaml"
  printf '{"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "name": "extra", "connect_timeout": "2s"}\n' \
    >"$t/nodes/backend/extra.json"
}

t_help() {
  "$fsxds" --help | grep -q '^  check ' &&
    "$fsxds" check --help | grep -q '^Usage: fsxds check ' &&
    "$fsxds" check --help | grep -q -- '--json' &&
    "$fsxds" check --help | grep -q -- '--schema DESC' &&
    "$fsxds" check --help | grep -q '^Exit status: 0 no errors'
}

t_clean_tree() {
  local t=$tmp/clean
  make_clean_tree "$t"
  "$fsxds" check "$t" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  [ $rc -eq 0 ] || { echo "exit $rc"; cat "$tmp/out" "$tmp/err"; return 1; }
  printf 'common: ok\nnode backend: ok\nnode edge: ok\nnode front-proxy: ok\n' | diff -u - "$tmp/out" || return 1
  grep -qx 'fsxds check: ok (3 nodes, 6 files checked)' "$tmp/err" || { cat "$tmp/err"; return 1; }
  # nothing written into the tree
  [ -z "$(find "$t" -name '*.pb')" ] || return 1
  "$fsxds" check --json "$t" >"$tmp/clean.json" || return 1
  json_ok "$tmp/clean.json" || return 1
  python3 - "$tmp/clean.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["version"] == 1 and d["errors"] == 0 and d["warnings"] == 0, d
assert [g.get("node") for g in d["groups"]] == ["(common)", "backend", "edge", "front-proxy"], d["groups"]
assert all(g["errors"] == 0 and g["diagnostics"] == [] for g in d["groups"]), d
assert d["complete"] is True and all(g["graph_checked"] is True and g["not_checked"] is None
                                     for g in d["groups"][1:]), d
EOF
}

t_notes_with_verbose() {
  # notes (config sources wired) only with -v, and they are no errors
  "$fsxds" check "$tmp/clean" 2>/dev/null | grep -q 'note:' && return 1
  "$fsxds" check -v "$tmp/clean" >"$tmp/out" 2>/dev/null || return 1
  grep -qxF "$tmp/clean/nodes/edge/lds.yaml:11:14: note: config source wired to the node's rds/local_route.pb" "$tmp/out" &&
    grep -qx 'node edge: ok' "$tmp/out"
}

t_examples_warning() {
  # the bundled examples are clean for the default Envoy release
  "$fsxds" check "$root/conf/examples" >"$tmp/out" 2>"$tmp/err" || return 1
  printf 'common: ok\nnode ads-proxy: ok\nnode eds-proxy: ok\nnode front-proxy: ok\n' | diff -u - "$tmp/out" || return 1
  grep -qx 'fsxds check: ok (3 nodes, 7 files checked)' "$tmp/err" || return 1
  # warnings are reported and allowed: the tutorial's lds.yaml for an Envoy before 1.22
  "$fsxds" check --envoy-version 1.21 "$root/tests/data/seed/lds.yaml" >"$tmp/out" 2>"$tmp/err" || return 1
  grep -qx "file $root/tests/data/seed/lds.yaml: 2 warnings" "$tmp/out" &&
    grep -qxF "$root/tests/data/seed/lds.yaml:8:7: warning: resources[0].filter_chains[0].filters: a single value where a list is expected; write it as a one-element list (legacy form)" "$tmp/out" &&
    grep -q "^$root/tests/data/seed/lds.yaml:23:17: warning: .*\\[envoy.extension.typed-config\\]$" "$tmp/out"
}

# Errors in common/ (a PGV violation, a duplicate) and in two nodes (an
# unknown field; an enum out of range and a duplicate); node clean has none
# of its own.
make_bad_tree() { # dir
  local t=$1
  mkdir -p "$t/common" "$t/nodes/a" "$t/nodes/b" "$t/nodes/clean"
  cat >"$t/common/cds.yaml" <<EOF
resources:
- $CLUSTER
  name: web
  connect_timeout: 1s
- $CLUSTER
  name: web
  connect_timeout: 2s
EOF
  cat >"$t/common/eds.yaml" <<EOF
resources:
- $CLA
  cluster_name: web
  endpoints:
  - lb_endpoints:
    - endpoint:
        address:
          socket_address:
            address: 10.0.0.1
            port_value: 70000
EOF
  cat >"$t/nodes/a/cds.yaml" <<EOF
$CLUSTER
name: a-only
connect_timeout: 1s
frobnicate: 1
EOF
  cat >"$t/nodes/b/cds.yaml" <<EOF
resources:
- $CLUSTER
  name: b1
  connect_timeout: 1s
  lb_policy: 99
- $CLUSTER
  name: b2
  connect_timeout: 1s
- $CLUSTER
  name: b2
  connect_timeout: 3s
EOF
  printf '%s\nname: c\nconnect_timeout: 1s\n' "$CLUSTER" >"$t/nodes/clean/cds.yaml"
}

t_errors_tree() {
  local t=$tmp/bad
  make_bad_tree "$t"
  "$fsxds" check "$t" >"$tmp/bad.out" 2>"$tmp/err"; local rc=$?
  [ $rc -eq 1 ] || { echo "exit $rc"; cat "$tmp/bad.out" "$tmp/err"; return 1; }
  local hdr
  for hdr in 'common: 2 errors' 'node a: 1 error, graph not checked (common/ has errors)' \
    'node b: 2 errors, graph not checked (common/ has errors)' 'node clean: files ok, graph not checked (common/ has errors)'; do
    grep -qx "$hdr" "$tmp/bad.out" || { echo "no header: $hdr"; cat "$tmp/bad.out"; return 1; }
  done
  expect_once_in common "$t/common/cds.yaml:5:3: error: duplicate Cluster \"web\" (also defined at $t/common/cds.yaml:2:3)" "$tmp/bad.out" &&
    expect_once_in common "$t/common/eds.yaml:10:25: error: resources[0].endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value: 70000 is above the maximum 65535 [validate.uint32.lte]" "$tmp/bad.out" &&
    expect_once_in 'node a' "$t/nodes/a/cds.yaml:4:1: error: frobnicate: unknown field \"frobnicate\" in envoy.config.cluster.v3.Cluster" "$tmp/bad.out" &&
    expect_once_in 'node b' "$t/nodes/b/cds.yaml:5:14: error: resources[0].lb_policy: 99 is not a value of envoy.config.cluster.v3.Cluster.LbPolicy [validate.enum.defined_only]" "$tmp/bad.out" &&
    expect_once_in 'node b' "$t/nodes/b/cds.yaml:9:3: error: duplicate Cluster \"b2\" (also defined at $t/nodes/b/cds.yaml:6:3)" "$tmp/bad.out" || return 1
  # 4 headers + 5 diagnostics, nothing else on stdout
  [ "$(wc -l <"$tmp/bad.out")" -eq 9 ] || { cat "$tmp/bad.out"; return 1; }
  grep -qx 'fsxds check: 5 errors (3 nodes, 5 files checked; 3 graphs not checked)' "$tmp/err" || { cat "$tmp/err"; return 1; }
}

t_errors_json() {
  local t=$tmp/bad
  "$fsxds" check --json "$t" >"$tmp/bad.json" 2>/dev/null; local rc=$?
  [ $rc -eq 1 ] || { echo "exit $rc"; return 1; }
  json_ok "$tmp/bad.json" || return 1
  python3 - "$tmp/bad.json" "$t" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
t = sys.argv[2]
assert d["version"] == 1 and d["errors"] == 5 and d["warnings"] == 0, (d["errors"], d["warnings"])
assert d["complete"] is False, d["complete"]
groups = {g["node"]: g for g in d["groups"]}
# common/ has errors: no node's graph is checked, and each says so
assert "graph_checked" not in groups["(common)"], groups["(common)"]
for n in ("a", "b", "clean"):
    assert groups[n]["graph_checked"] is False and groups[n]["not_checked"] == "common/ has errors", groups[n]
assert list(groups) == ["(common)", "a", "b", "clean"], list(groups)
assert all(g["tree"] == t and "file" not in g for g in d["groups"])
def diag(file, line, column, path, message, rule):
    return {"level": "error", "file": t + "/" + file, "line": line, "column": column, "path": path,
            "message": message, "rule": rule}
want = {
    "(common)": [
        diag("common/cds.yaml", 5, 3, None, 'duplicate Cluster "web" (also defined at %s/common/cds.yaml:2:3)' % t, None),
        diag("common/eds.yaml", 10, 25, "resources[0].endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value",
             "70000 is above the maximum 65535", "validate.uint32.lte"),
    ],
    "a": [diag("nodes/a/cds.yaml", 4, 1, "frobnicate", 'unknown field "frobnicate" in envoy.config.cluster.v3.Cluster', None)],
    "b": [
        diag("nodes/b/cds.yaml", 5, 14, "resources[0].lb_policy", "99 is not a value of envoy.config.cluster.v3.Cluster.LbPolicy",
             "validate.enum.defined_only"),
        diag("nodes/b/cds.yaml", 9, 3, None, 'duplicate Cluster "b2" (also defined at %s/nodes/b/cds.yaml:6:3)' % t, None),
    ],
    "clean": [],
}
for node, diags in want.items():
    g = groups[node]
    assert g["diagnostics"] == diags, (node, g["diagnostics"], diags)
    assert g["errors"] == len(diags) and g["warnings"] == 0, g
EOF
}

t_duplicate_found_by_build() {
  # common/ clean: node x's build gets to the merge and finds the
  # duplicate itself; node y's stops at its own error; each said once
  local t=$tmp/dup
  mkdir -p "$t/common" "$t/nodes/x" "$t/nodes/y"
  printf '%s\nname: shared\nconnect_timeout: 1s\n' "$CLUSTER" >"$t/common/cds.yaml"
  printf '%s\nname: twice\nconnect_timeout: 1s\n' "$CLUSTER" >"$t/nodes/x/1.yaml"
  printf '%s\nname: twice\nconnect_timeout: 2s\n' "$CLUSTER" >"$t/nodes/x/2.yaml"
  printf '%s\nname: why\nconnect_timeout: 1 second\n' "$CLUSTER" >"$t/nodes/y/cds.yaml"
  "$fsxds" check "$t" >"$tmp/out" 2>/dev/null; [ $? -eq 1 ] || return 1
  grep -qx 'common: ok' "$tmp/out" && grep -qx 'node x: 1 error, graph not checked (its files have errors)' "$tmp/out" &&
    grep -qx 'node y: 1 error, graph not checked (its files have errors)' "$tmp/out" &&
    expect_once_in 'node x' "$t/nodes/x/2.yaml:1:1: error: duplicate Cluster \"twice\" (also defined at $t/nodes/x/1.yaml:1:1)" "$tmp/out" &&
    grep -q "^$t/nodes/y/cds.yaml:3:18: error: connect_timeout: " "$tmp/out"
}

t_node_specific_common_error() {
  # a common/ route to a cluster that only one node defines: the error is
  # the other node's, not common's
  local t=$tmp/specific
  mkdir -p "$t/common" "$t/nodes/has" "$t/nodes/lacks"
  sed -n '1,14p' "$tmp/clean/nodes/edge/lds.yaml" >"$t/common/lds.yaml"
  sed 's/cluster: web/cluster: special/' "$tmp/clean/nodes/edge/rds.yaml" >"$t/common/rds.yaml"
  printf '%s\nname: special\nconnect_timeout: 1s\n' "$CLUSTER" >"$t/nodes/has/cds.yaml"
  printf '%s\nname: other\nconnect_timeout: 1s\n' "$CLUSTER" >"$t/nodes/lacks/cds.yaml"
  "$fsxds" check "$t" >"$tmp/out" 2>/dev/null; [ $? -eq 1 ] || { cat "$tmp/out"; return 1; }
  grep -qx 'common: ok' "$tmp/out" && grep -qx 'node has: ok' "$tmp/out" && grep -qx 'node lacks: 1 error' "$tmp/out" || { cat "$tmp/out"; return 1; }
  local line; line=$(grep "^$t/common/rds.yaml:8:22: error: .*\"special\".* \[graph.cluster\]$" "$tmp/out")
  [ -n "$line" ] && expect_once_in 'node lacks' "$line" "$tmp/out"
}

t_common_only() {
  # no nodes/: common/ is checked as one node
  local t=$tmp/conly
  mkdir -p "$t/common"
  cp "$tmp/clean/common/"*.yaml "$t/common/"
  "$fsxds" check "$t" >"$tmp/out" 2>/dev/null || return 1
  printf 'common: ok\n' | diff -u - "$tmp/out" || return 1
  printf '%s\nname: web\nconnect_timeout: 1s\n' "$CLUSTER" >"$t/common/more.yaml"
  "$fsxds" check "$t/" >"$tmp/out" 2>/dev/null; [ $? -eq 1 ] || return 1
  printf 'common: 1 error, graph not checked (common/ has errors)\n%s\n' "$t/common/more.yaml:1:1: error: duplicate Cluster \"web\" (also defined at $t/common/cds.yaml:2:3)" |
    diff -u - "$tmp/out" || return 1
  "$fsxds" check --json "$t" >"$tmp/out.json" 2>/dev/null; [ $? -eq 1 ] || return 1
  json_assert "$tmp/out.json" 'd["errors"] == 1 and [g["node"] for g in d["groups"]] == ["(common)"]'
}

t_bad_node_dirs() {
  # a directory in nodes/ whose name is no node id is an error naming it,
  # as fsxdsd reports it; status.json is a node like any other
  local t=$tmp/badnodes
  mkdir -p "$t/nodes/status.json" "$t/nodes/.hidden"
  printf '%s\nname: web\nconnect_timeout: 1s\ntype: STATIC\n' "$CLUSTER" >"$t/nodes/status.json/cds.yaml"
  cp "$t/nodes/status.json/cds.yaml" "$t/nodes/.hidden/cds.yaml"
  "$fsxds" check "$t" >"$tmp/out" 2>/dev/null; [ $? -eq 1 ] || { cat "$tmp/out"; return 1; }
  expect_once_in common "$t/nodes/.hidden: error: not a node id (1 to 128 of A-Z a-z 0-9 . _ -, not starting with '.'); not built" "$tmp/out" || return 1
  grep -qx 'node status.json: ok' "$tmp/out" || { cat "$tmp/out"; return 1; }
}

t_usage_and_io() {
  "$fsxds" check 2>/dev/null; [ $? -eq 2 ] || return 1
  "$fsxds" check --frobnicate "$tmp/clean" 2>/dev/null; [ $? -eq 2 ] || return 1
  "$fsxds" check "$tmp/missing" >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] || return 1
  grep -q "missing: No such file or directory" "$tmp/err" || return 1
  # a missing path among good ones still fails as I/O, and the JSON is still one document
  "$fsxds" check --json "$tmp/clean" "$tmp/missing" >"$tmp/out.json" 2>/dev/null; [ $? -eq 2 ] || return 1
  json_ok "$tmp/out.json" || return 1
  "$fsxds" check --schema "$tmp/missing.desc" "$tmp/clean" 2>/dev/null; [ $? -eq 2 ] || return 1
  printf 'garbage' >"$tmp/bad.desc"
  "$fsxds" check --schema "$tmp/bad.desc" "$tmp/clean" 2>/dev/null; [ $? -eq 2 ]
}

t_plain_directory() {
  # a directory without common/ and nodes/: each file on its own, as compile FILE
  local d=$tmp/plain
  mkdir -p "$d/sub"
  printf '%s\nname: a\nconnect_timeout: 1s\n' "$CLUSTER" >"$d/a.yaml"
  printf 'resources:\n- %s\n  name: b\n  type: NOPE\n' "$CLUSTER" >"$d/b.yaml"
  printf '%s\nname: c\nconnect_timeout: 1s\n---\n%s\ncluster_name: c\n' "$CLUSTER" "$CLA" >"$d/sub/mixed.yaml"
  printf 'not a source\n' >"$d/README.txt"
  "$fsxds" check "$d/" >"$tmp/out" 2>"$tmp/err"; [ $? -eq 1 ] || { cat "$tmp/out" "$tmp/err"; return 1; }
  cat >"$tmp/want" <<EOF
file $d/a.yaml: ok
file $d/b.yaml: 1 error
$d/b.yaml:4:9: error: resources[0].type: unknown value "NOPE" for enum envoy.config.cluster.v3.Cluster.DiscoveryType (one of: STATIC, STRICT_DNS, LOGICAL_DNS, EDS, ORIGINAL_DST)
file $d/sub/mixed.yaml: 1 error
$d/sub/mixed.yaml:5:1: error: this ClusterLoadAssignment cannot go into the same response as the Cluster at line 1: one output file holds one resource type; compile a tree of several types with --node
EOF
  diff -u "$tmp/want" "$tmp/out" || return 1
  grep -qx 'fsxds check: 2 errors (3 files checked)' "$tmp/err" || return 1
  "$fsxds" check --json "$d" >"$tmp/out.json" 2>/dev/null; [ $? -eq 1 ] || return 1
  json_assert "$tmp/out.json" 'd["errors"] == 2 and not any("node" in g for g in d["groups"]) and
    [g["file"] for g in d["groups"]] == [a + "/a.yaml", a + "/b.yaml", a + "/sub/mixed.yaml"]' "$d"
}

t_single_file() {
  "$fsxds" check "$tmp/plain/a.yaml" >"$tmp/out" 2>/dev/null || return 1
  printf 'file %s: ok\n' "$tmp/plain/a.yaml" | diff -u - "$tmp/out" || return 1
  "$fsxds" check "$tmp/plain/b.yaml" "$tmp/plain/a.yaml" >"$tmp/out" 2>/dev/null; [ $? -eq 1 ] || return 1
  [ "$(head -n 1 "$tmp/out")" = "file $tmp/plain/b.yaml: 1 error" ] || return 1
  # a file without resources: refused as compile refuses it, unless --allow-empty
  printf 'resources: []\n' >"$tmp/empty.yaml"
  "$fsxds" check "$tmp/empty.yaml" 2>/dev/null | grep -qF "$tmp/empty.yaml: error: no resources" || return 1
  "$fsxds" check --allow-empty "$tmp/empty.yaml" >/dev/null 2>&1
}

t_several_trees() {
  # two trees: their groups say which tree they belong to
  "$fsxds" check "$tmp/clean" "$tmp/bad" >"$tmp/out" 2>/dev/null; [ $? -eq 1 ] || return 1
  grep -qx "node edge in $tmp/clean: ok" "$tmp/out" && grep -qx "common in $tmp/bad: 2 errors" "$tmp/out"
}

# 10,000 resources: 8,000 in 16 files of common/, 2,001 in 3 nodes; 50
# errors of five kinds, 10 each, at places picked at random (fixed seed).
t_scale() {
  local t=$tmp/scale
  python3 - "$t" "$tmp/scale-expected.json" <<'EOF' || return 1
import json, os, random, sys
tree, expected_path = sys.argv[1], sys.argv[2]
rnd = random.Random(20261126)
files = []  # (path, scope, kind, count)
for i in range(8):
    files.append(("common/cds-%02d.yaml" % i, "common", "cds", 500))
    files.append(("common/eds-%02d.yaml" % i, "common", "eds", 500))
for n in ("n1", "n2", "n3"):
    files.append(("nodes/%s/cds.yaml" % n, n, "cds", 334))
    files.append(("nodes/%s/eds.yaml" % n, n, "eds", 333))
assert sum(f[3] for f in files) == 10001

# what is seeded where: (file index, item) -> kind; duplicates also name
# their original, which must stay valid and come first in path order
seeds = {}
def free(fi, k):
    return (fi, k) not in seeds
def pick(kind_files):
    while True:
        fi = rnd.choice(kind_files)
        k = rnd.randrange(files[fi][3])
        if free(fi, k):
            return fi, k
cds = [i for i, f in enumerate(files) if f[2] == "cds"]
eds = [i for i, f in enumerate(files) if f[2] == "eds"]
for kind, where in (("port", eds), ("empty-name", eds), ("lb-policy", cds), ("unknown-field", cds)):
    for _ in range(10):
        seeds[pick(where)] = (kind,)
dups = 0
while dups < 10:
    fi, k = pick(cds)
    scope = files[fi][1]
    # the original: an earlier cluster of the same file, or of an earlier file of the scope
    same_scope = [j for j in cds if files[j][1] == scope and files[j][0] <= files[fi][0]]
    fo = rnd.choice(same_scope)
    if fo == fi and k == 0:
        continue
    ko = rnd.randrange(k if fo == fi else files[fo][3])
    if not free(fo, ko):
        continue
    seeds[(fi, k)] = ("dup", (fo, ko))
    seeds[(fo, ko)] = ("original",)
    dups += 1

def name(fi, k):
    return "c-%s-%d-%d" % (files[fi][1], fi, k)
item_line = {}  # (fi, k) -> line of its "- "
expected = []
def err(fi, line, column, rule, message):
    expected.append({"file": tree + "/" + files[fi][0], "line": line, "column": column, "rule": rule, "message": message})

# first pass: lines of every item, to point duplicates at their originals
for fi, (path, scope, kind, count) in enumerate(files):
    line = 2
    for k in range(count):
        item_line[(fi, k)] = line
        s = seeds.get((fi, k), ("",))[0]
        line += (5 + (s == "unknown-field")) if kind == "cds" else 9
for fi, (path, scope, kind, count) in enumerate(files):
    os.makedirs(os.path.dirname(os.path.join(tree, path)), exist_ok=True)
    out = ["resources:"]
    for k in range(count):
        s = seeds.get((fi, k), ("",))
        at = item_line[(fi, k)]
        assert len(out) + 1 == at
        if kind == "cds":
            n = name(fi, k)
            if s[0] == "dup":
                n = name(*s[1])
                fo, ko = s[1]
                err(fi, at, 3, None, 'duplicate Cluster "%s" (also defined at %s/%s:%d:3)' % (n, tree, files[fo][0], item_line[(fo, ko)]))
            out += ['- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster',
                    "  name: " + n,
                    "  connect_timeout: 0.25s",
                    "  type: EDS"]
            if s[0] == "lb-policy":
                err(fi, at + 4, 14, "validate.enum.defined_only", "99 is not a value of envoy.config.cluster.v3.Cluster.LbPolicy")
                out.append("  lb_policy: 99")
            else:
                out.append("  lb_policy: ROUND_ROBIN")
            if s[0] == "unknown-field":
                err(fi, at + 5, 3, None, 'unknown field "bogus_field" in envoy.config.cluster.v3.Cluster')
                out.append("  bogus_field: 1")
        else:
            n = '""' if s[0] == "empty-name" else name(fi - 1, k)
            if s[0] == "empty-name":
                err(fi, at + 1, 17, None, 'a ClusterLoadAssignment needs a non-empty "cluster_name"')
            port = "8080"
            if s[0] == "port":
                err(fi, at + 8, 25, "validate.uint32.lte", "70000 is above the maximum 65535")
                port = "70000"
            out += ['- "@type": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
                    "  cluster_name: " + n,
                    "  endpoints:",
                    "  - lb_endpoints:",
                    "    - endpoint:",
                    "        address:",
                    "          socket_address:",
                    "            address: 10.%d.%d.%d" % (fi, k // 256, k % 256),
                    "            port_value: " + port]
    with open(os.path.join(tree, path), "w") as f:
        f.write("\n".join(out) + "\n")
assert len(expected) == 50, len(expected)
assert len({e["file"] for e in expected}) >= 15  # scattered
json.dump(expected, open(expected_path, "w"))
EOF
  local start=$SECONDS
  "$fsxds" check --json "$t" >"$tmp/scale.json" 2>"$tmp/err"; local rc=$?
  local took=$((SECONDS - start))
  [ $rc -eq 1 ] || { echo "exit $rc"; cat "$tmp/err"; return 1; }
  grep -qx 'fsxds check: 50 errors (3 nodes, 22 files checked; 3 graphs not checked)' "$tmp/err" || { cat "$tmp/err"; return 1; }
  [ $took -le 20 ] || { echo "fsxds check took ${took}s"; return 1; }
  python3 - "$tmp/scale.json" "$tmp/scale-expected.json" "$t" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
expected = json.load(open(sys.argv[2]))
tree = sys.argv[3]
got = []
for g in d["groups"]:
    for x in g["diagnostics"]:
        if x["level"] != "error":
            continue
        # errors of common/ files are under common, the others under their node
        rel = x["file"][len(tree) + 1:]
        want_group = "(common)" if rel.startswith("common/") else rel.split("/")[1]
        assert g["node"] == want_group, (g["node"], x)
        got.append({k: x[k] for k in ("file", "line", "column", "rule", "message")})
key = lambda e: (e["file"], e["line"])
missing = [e for e in expected if e not in got]
extra = [e for e in got if e not in expected]
for e in sorted(missing, key=key):
    print("missing", e)
for e in sorted(extra, key=key):
    print("unexpected", e)
assert d["errors"] == 50 and len(got) == 50 and not missing and not extra, (d["errors"], len(got))
EOF
}

check help t_help
check clean-tree t_clean_tree
check notes-with-verbose t_notes_with_verbose
check examples-warning t_examples_warning
check errors-tree t_errors_tree
check errors-json t_errors_json
check duplicate-found-by-build t_duplicate_found_by_build
check node-specific-common-error t_node_specific_common_error
check common-only t_common_only
check bad-node-dirs t_bad_node_dirs
check usage-and-io t_usage_and_io
check plain-directory t_plain_directory
check single-file t_single_file
check several-trees t_several_trees
check scale t_scale
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
