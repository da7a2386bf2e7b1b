#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The fsxds CLI as a user runs it, on real files: exit codes, outputs
# (-o - too), version_info, determinism, round trips, decode on text, sizes
# in binary units, the seed examples and the golden expansion of the
# simplified format.
# Usage: run-cli.sh FSXDS PROTOC DESC SOURCE_ROOT
set -u
fsxds=$(realpath "$1")
protoc=$2
desc=$(realpath "$3")
root=$4
seed=$root/tests/data/seed
golden=$root/tests/integration/golden
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
pbtext() { "$protoc" --decode=envoy.service.discovery.v3.DiscoveryResponse --descriptor_set_in="$desc" <"$1"; }

t_help() {
  "$fsxds" --help | grep -q '^Usage: fsxds' &&
    "$fsxds" compile --help | grep -q -- '--allow-empty' &&
    "$fsxds" decode --help | grep -q -- '--json' &&
    "$fsxds" --version | grep -Eq '^fsxds [0-9]+\.[0-9]+\.[0-9]+$'
}
t_usage_errors() {
  "$fsxds" 2>/dev/null; [ $? -eq 2 ] || return 1
  "$fsxds" frobnicate 2>/dev/null; [ $? -eq 2 ] || return 1
  "$fsxds" compile "$seed/cds.yaml" 2>/dev/null; [ $? -eq 2 ] || return 1     # no -o
  "$fsxds" compile "$tmp/missing.yaml" -o "$tmp/x.pb" 2>/dev/null; [ $? -eq 2 ] || return 1
  "$fsxds" compile --schema "$tmp/missing.desc" "$seed/cds.yaml" -o "$tmp/x.pb" 2>/dev/null; [ $? -eq 2 ] || return 1
  "$fsxds" compile --node ../x "$root/conf/examples" -o "$tmp/n" 2>/dev/null; [ $? -eq 2 ] || return 1
  "$fsxds" decode "$tmp/missing.pb" 2>/dev/null; [ $? -eq 2 ] || return 1
  [ ! -e "$tmp/x.pb" ]
}
t_seed_compiles() {
  # the tutorial's lds.yaml names its router without typed_config: an Envoy
  # before 1.22 looks it up by name, a later one refuses it
  for f in cds.yaml eds.yaml.v1 eds.yaml.v2 lds.yaml; do
    "$fsxds" compile --envoy-version 1.21 "$seed/$f" -o "$tmp/$f.pb" || return 1
    pbtext "$tmp/$f.pb" | grep -q 'type_url: "type.googleapis.com/envoy' || return 1
  done
  # lds.yaml gives filters: as a mapping: accepted, with a warning naming the canonical form
  "$fsxds" compile --envoy-version 1.21 "$seed/lds.yaml" -o "$tmp/l.pb" 2>"$tmp/err" || return 1
  grep -q 'lds.yaml:8:7: warning: resources\[0\].filter_chains\[0\].filters: a single value where a list is expected' "$tmp/err" || return 1
  grep -q "lds.yaml:23:17: warning: .*: no typed_config: .* \\[envoy.extension.typed-config\\]$" "$tmp/err" || return 1
  # for the default Envoy release, the router without typed_config is an error
  "$fsxds" compile "$seed/lds.yaml" -o "$tmp/l2.pb" 2>"$tmp/err"; [ $? -eq 1 ] || return 1
  grep -qF "lds.yaml:23:17: error: resources[0].filter_chains[0].filters.typed_config.http_filters[0]: Didn't find a registered implementation for 'envoy.filters.http.router' with type URL: '' [envoy.extension.typed-config]" "$tmp/err" &&
    [ ! -e "$tmp/l2.pb" ]
}
t_version_info() {
  # kept when the file has one ...
  pbtext "$tmp/eds.yaml.v2.pb" | grep -qx 'version_info: "2"' || return 1
  # ... else the content hash: 16 hex digits, equal for equal content
  local v1; v1=$(pbtext "$tmp/eds.yaml.v1.pb" | sed -n 's/^version_info: "\(.*\)"$/\1/p')
  [[ $v1 =~ ^[0-9a-f]{16}$ ]] || return 1
  sed 's/172.31.11.11/172.31.11.12/' "$seed/eds.yaml.v1" >"$tmp/other.yaml"
  "$fsxds" compile "$tmp/other.yaml" -o "$tmp/other.pb" || return 1
  [ "$(pbtext "$tmp/other.pb" | sed -n 's/^version_info: "\(.*\)"$/\1/p')" != "$v1" ]
}
t_deterministic() {
  "$fsxds" compile "$seed/cds.yaml" -o "$tmp/a.pb" && "$fsxds" compile "$seed/cds.yaml" -o "$tmp/b.pb" && cmp "$tmp/a.pb" "$tmp/b.pb"
}
t_allow_empty() {
  printf 'version_info: "1"\ntype_url: type.googleapis.com/envoy.config.cluster.v3.Cluster\nresources: []\n' >"$tmp/empty.yaml"
  "$fsxds" compile "$tmp/empty.yaml" -o "$tmp/empty.pb" 2>/dev/null; [ $? -eq 1 ] && [ ! -e "$tmp/empty.pb" ] || return 1
  "$fsxds" compile --allow-empty "$tmp/empty.yaml" -o "$tmp/empty.pb" || return 1
  pbtext "$tmp/empty.pb" | grep -q 'type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster"' &&
    ! pbtext "$tmp/empty.pb" | grep -q resources
}
t_bad_input_keeps_old_output() {
  cp "$tmp/a.pb" "$tmp/keep.pb"
  printf 'resources:\n- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster\n  name: x\n  type: NOPE\n' >"$tmp/bad.yaml"
  "$fsxds" compile "$tmp/bad.yaml" -o "$tmp/keep.pb" 2>/dev/null; [ $? -eq 1 ] || return 1
  cmp "$tmp/a.pb" "$tmp/keep.pb" && ! ls "$tmp" | grep -q '\.tmp\.'
}
t_forms_equal() {
  # a DiscoveryResponse, single resources with @type, multi-document: same bytes
  printf '"@type": type.googleapis.com/envoy.config.cluster.v3.Cluster\nname: a\n---\n"@type": type.googleapis.com/envoy.config.cluster.v3.Cluster\nname: b\n' >"$tmp/single.yaml"
  printf 'resources:\n- {"@type": type.googleapis.com/envoy.config.cluster.v3.Cluster, name: a}\n- {"@type": type.googleapis.com/envoy.config.cluster.v3.Cluster, name: b}\n' >"$tmp/resp.yaml"
  printf '{"resources": [{"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "name": "a"}, {"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "name": "b"}]}\n' >"$tmp/resp.json"
  "$fsxds" compile "$tmp/single.yaml" -o "$tmp/s.pb" && "$fsxds" compile "$tmp/resp.yaml" -o "$tmp/r.pb" &&
    "$fsxds" compile "$tmp/resp.json" -o "$tmp/j.pb" && cmp "$tmp/s.pb" "$tmp/r.pb" && cmp "$tmp/s.pb" "$tmp/j.pb"
}
t_round_trip() {
  # the seeds compiled by t_seed_compiles (lds.yaml: for an Envoy before 1.22)
  for f in cds.yaml eds.yaml.v2 lds.yaml; do
    for fmt in yaml json; do
      "$fsxds" decode --$fmt "$tmp/$f.pb" >"$tmp/rt.$fmt" || return 1
      "$fsxds" compile --envoy-version 1.21 "$tmp/rt.$fmt" -o "$tmp/rt.pb" 2>/dev/null || return 1
      cmp "$tmp/$f.pb" "$tmp/rt.pb" || { echo "round trip of $f via $fmt differs"; return 1; }
    done
  done
}
t_decode_expands_any() {
  "$fsxds" decode "$tmp/lds.yaml.pb" | grep -q 'stat_prefix: "ingress_http"' &&
    "$fsxds" decode --json "$tmp/lds.yaml.pb" | grep -q '"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"'
}
t_decode_garbage() {
  printf '\x0a\xff\xff' >"$tmp/garbage.pb"
  "$fsxds" decode "$tmp/garbage.pb" 2>"$tmp/err"; [ $? -eq 1 ] && grep -q 'garbage.pb: error:' "$tmp/err"
}
t_output_stdout() {
  # -o - writes standard output, the same bytes as -o FILE, and no file named -
  mkdir -p "$tmp/cwd"
  (cd "$tmp/cwd" && "$fsxds" compile "$seed/cds.yaml" -o - >"$tmp/stdout.pb") || return 1
  [ ! -e "$tmp/cwd/-" ] || { echo "a file named - was written"; return 1; }
  cmp "$tmp/stdout.pb" "$tmp/cds.yaml.pb" || return 1
  # bad input: nothing on standard output
  "$fsxds" compile "$tmp/bad.yaml" -o - >"$tmp/bad-stdout.pb" 2>/dev/null; [ $? -eq 1 ] && [ ! -s "$tmp/bad-stdout.pb" ] || return 1
  # a node's directory is no stream
  (cd "$tmp/cwd" && "$fsxds" compile --node front-proxy "$root/conf/examples" -o - >/dev/null 2>"$tmp/err"); [ $? -eq 2 ] || return 1
  grep -qF -- '--node writes a directory: -o - (standard output) takes one file' "$tmp/err" && [ ! -e "$tmp/cwd/-" ] || return 1
  # nor is a terminal a place for binary bytes
  if command -v script >/dev/null; then
    script -qec "$fsxds compile $seed/cds.yaml -o -" /dev/null >"$tmp/tty.out" 2>&1; [ $? -eq 2 ] || { cat "$tmp/tty.out"; return 1; }
    grep -q 'not writing a binary DiscoveryResponse to a terminal' "$tmp/tty.out" || { cat "$tmp/tty.out"; return 1; }
  fi
}
t_decode_text() {
  # YAML and JSON are named, with the exit status of bad input; other text too
  "$fsxds" decode "$seed/cds.yaml" >"$tmp/out" 2>"$tmp/err"; [ $? -eq 1 ] && [ ! -s "$tmp/out" ] || return 1
  grep -qxF "$seed/cds.yaml: error: this is YAML (text), not a binary DiscoveryResponse; fsxds compile FILE -o OUT.pb makes one of it" "$tmp/err" ||
    { cat "$tmp/err"; return 1; }
  "$fsxds" decode "$tmp/resp.json" 2>"$tmp/err"; [ $? -eq 1 ] || return 1
  grep -qF "resp.json: error: this is JSON (text), not a binary DiscoveryResponse" "$tmp/err" || { cat "$tmp/err"; return 1; }
  printf 'a plain note\n' >"$tmp/note.txt"
  "$fsxds" decode "$tmp/note.txt" 2>"$tmp/err"; [ $? -eq 1 ] || return 1
  grep -qxF "$tmp/note.txt: error: this is text, not a binary DiscoveryResponse" "$tmp/err" || { cat "$tmp/err"; return 1; }
  # a real DiscoveryResponse still decodes
  "$fsxds" decode "$tmp/cds.yaml.pb" >/dev/null
}
t_sizes_for_people() {
  # limits in binary units, not bytes (sparse files: nothing is read)
  truncate -s 129M "$tmp/big.yaml"
  "$fsxds" compile "$tmp/big.yaml" -o "$tmp/big.pb" 2>"$tmp/err"; [ $? -eq 1 ] || return 1
  grep -qxF "$tmp/big.yaml: error: file is larger than 128 MiB" "$tmp/err" || { cat "$tmp/err"; return 1; }
  truncate -s 1025M "$tmp/big.pb"
  "$fsxds" decode "$tmp/big.pb" 2>"$tmp/err"; [ $? -eq 2 ] || return 1
  grep -qxF "fsxds: cannot read $tmp/big.pb: larger than 1 GiB" "$tmp/err" || { cat "$tmp/err"; return 1; }
  truncate -s 2M "$tmp/big-config.yaml"
  "$fsxds" compile --config "$tmp/big-config.yaml" "$seed/cds.yaml" -o "$tmp/x.pb" 2>"$tmp/err"; [ $? -eq 2 ] || return 1
  grep -qxF "$tmp/big-config.yaml: error: file is larger than 1 MiB" "$tmp/err" || { cat "$tmp/err"; return 1; }
  rm -f "$tmp/big.yaml" "$tmp/big.pb" "$tmp/big-config.yaml"
}
t_simplified_needs_node() {
  "$fsxds" compile "$seed/config.yaml-v1" -o "$tmp/spec.pb" 2>"$tmp/err"; [ $? -eq 1 ] || return 1
  grep -q 'compile a tree of several types with --node' "$tmp/err" && [ ! -e "$tmp/spec.pb" ]
}
t_one_resource_per_file() {
  cla='- {"@type": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment, cluster_name: %s}\n'
  printf "resources:\n$cla$cla" a b >"$tmp/two.yaml"
  printf "resources:\n$cla" a >"$tmp/one.yaml"
  "$fsxds" compile "$tmp/two.yaml" -o "$tmp/two.pb" 2>"$tmp/err" || return 1
  grep -qF "$tmp/two.yaml:3:3: warning: 2 ClusterLoadAssignments in one file: an Envoy path subscription of this type reads one per file and rejects this one (fsxds compile --node writes one file per resource) [file.one-resource]" "$tmp/err" || return 1
  "$fsxds" compile "$tmp/one.yaml" -o "$tmp/one.pb" 2>"$tmp/err" && [ ! -s "$tmp/err" ]
}
t_golden() {
  mkdir -p "$tmp/spec/common" && cp "$seed/config.yaml-v1" "$tmp/spec/common/config.yaml"
  "$fsxds" compile --node front "$tmp/spec" -o "$tmp/front" || return 1
  (cd "$tmp/front" && for f in $(find . -name '*.pb' | sort); do echo "# ${f#./}"; "$fsxds" decode "$f"; done) |
    sed -E "s|$tmp/front|/OUT|g; s|^version_info: \"[0-9a-f]{16}\"$|version_info: <content hash>|" >"$tmp/golden.yaml"
  diff -u "$golden/config.yaml-v1.expanded.yaml" "$tmp/golden.yaml"
}
t_node_examples() {
  for n in front-proxy eds-proxy ads-proxy; do
    "$fsxds" compile --node $n "$root/conf/examples" -o "$tmp/ex/$n" 2>/dev/null || return 1
    [ -s "$tmp/ex/$n/lds/lds.pb" ] && [ -s "$tmp/ex/$n/cds/cds.pb" ] || return 1
  done
  [ -e "$tmp/ex/eds-proxy/eds/webcluster.pb" ] && [ -e "$tmp/ex/eds-proxy/rds/local_route.pb" ] &&
    "$fsxds" decode "$tmp/ex/eds-proxy/cds/cds.pb" | grep -q "path: \"$tmp/ex/eds-proxy/eds/webcluster.pb\"" &&
    "$fsxds" decode "$tmp/ex/front-proxy/cds/cds.pb" | grep -q 'type: "STRICT_DNS"'
}
t_node_stale_removed() {
  mkdir -p "$tmp/tree/nodes/n1"
  printf 'resources:\n- {"@type": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment, cluster_name: a}\n- {"@type": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment, cluster_name: b}\n' >"$tmp/tree/nodes/n1/eds.yaml"
  "$fsxds" compile --node n1 "$tmp/tree" -o "$tmp/n1" || return 1
  [ -e "$tmp/n1/eds/a.pb" ] && [ -e "$tmp/n1/eds/b.pb" ] || return 1
  sed -i '$d' "$tmp/tree/nodes/n1/eds.yaml"
  "$fsxds" compile --node n1 "$tmp/tree" -o "$tmp/n1" || return 1
  [ -e "$tmp/n1/eds/a.pb" ] && [ ! -e "$tmp/n1/eds/b.pb" ] || return 1
  # a broken tree leaves the directory as it was
  printf 'resources: [\n' >"$tmp/tree/nodes/n1/broken.yaml"
  "$fsxds" compile --node n1 "$tmp/tree" -o "$tmp/n1" 2>/dev/null; [ $? -eq 1 ] && [ -e "$tmp/n1/eds/a.pb" ]
}
t_schema_option() {
  "$fsxds" compile --schema "$desc" "$seed/cds.yaml" -o "$tmp/sc.pb" && cmp "$tmp/sc.pb" "$tmp/cds.yaml.pb" &&
    "$fsxds" decode --schema "$desc" "$tmp/sc.pb" >/dev/null
}

check help t_help
check usage-errors t_usage_errors
check seed-compiles t_seed_compiles
check version-info t_version_info
check deterministic t_deterministic
check allow-empty t_allow_empty
check bad-input-keeps-old-output t_bad_input_keeps_old_output
check document-forms-equal t_forms_equal
check round-trip t_round_trip
check decode-expands-any t_decode_expands_any
check decode-garbage t_decode_garbage
check output-stdout t_output_stdout
check decode-text t_decode_text
check sizes-for-people t_sizes_for_people
check simplified-needs-node t_simplified_needs_node
check one-resource-per-file t_one_resource_per_file
check golden-expansion t_golden
check node-examples t_node_examples
check node-stale-removed t_node_stale_removed
check schema-option t_schema_option
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
