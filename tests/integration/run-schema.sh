#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fsxds schema info and build (docs/schema.md), on the wrap's own deps/:
# the built-in schema names its source and release; a schema built from the
# same directories has the same messages and compiles the test data to the
# same bytes; --envoy-version is recorded and becomes the default
# envoy_version; bad directories, a broken .proto and bad options fail with
# the documented exit status.
# Usage: run-schema.sh FSXDS SOURCE_ROOT ENVOY_API_DIR XDS_DIR GOOGLEAPIS_DIR PGV_DIR
set -u
fsxds=$1
root=$2
shift 2
deps=("$@")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
check() {
  local name=$1
  shift
  if "$@" >"$tmp/out" 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    sed 's/^/  /' "$tmp/out"
  fi
}

t_info() {
  "$fsxds" schema info >"$tmp/info" || return 1
  grep -qx 'schema:            built-in' "$tmp/info" &&
    grep -q '^source:            @grpc/grpc-js-xds 1.14.1' "$tmp/info" &&
    grep -qx 'envoy release:     1.32' "$tmp/info" &&
    grep -qx "envoy_version:     1.32.0 (the schema's release)" "$tmp/info" || { cat "$tmp/info"; return 1; }
  "$fsxds" schema info --json >"$tmp/info.json" || return 1
  jq -e '.origin == "built-in" and .envoy_release == "1.32" and .files > 400 and .api_files > 350
         and .messages > 1000 and .api_versions.v3 > 300 and .file_status.active > 300
         and .deprecated.fields > 50 and .deprecated.newest_minor_version == "3.0"' "$tmp/info.json"
}

t_info_version() {
  "$fsxds" schema info --envoy-version 1.21 | grep -qx 'envoy_version:     1.21.0 (--envoy-version)'
}

t_build_same() {
  "$fsxds" schema build --envoy-version 1.31.4 -o "$tmp/built.desc" "${deps[@]}" >"$tmp/build.out" || return 1
  grep -q "^$tmp/built.desc: [0-9]* API files" "$tmp/build.out" || return 1
  grep -q '^left out: envoy/config/trace/v3/opencensus.proto (needs opencensus/' "$tmp/build.out" || return 1
  "$fsxds" schema info --schema "$tmp/built.desc" --json >"$tmp/b.json" || return 1
  "$fsxds" schema info --json >"$tmp/a.json" || return 1
  # the same API, another record
  for k in files api_files messages enums; do
    [ "$(jq ".$k" "$tmp/a.json")" = "$(jq ".$k" "$tmp/b.json")" ] || { echo "$k differs"; return 1; }
  done
  jq -e '.envoy_release == "1.31.4" and .envoy_version == "1.31.4" and (.source | startswith("fsxds schema build /"))' \
    "$tmp/b.json" || return 1
  "$fsxds" schema info --schema "$tmp/built.desc" | grep -qx "envoy_version:     1.31.4 (the schema's release)" || return 1
  local n=0
  for f in "$root"/tests/data/strict/*.yaml; do
    "$fsxds" compile "$f" -o "$tmp/a.pb" 2>/dev/null || continue
    "$fsxds" compile --schema "$tmp/built.desc" "$f" -o "$tmp/b.pb" 2>/dev/null || { echo "$f: fails with the built schema"; return 1; }
    cmp -s "$tmp/a.pb" "$tmp/b.pb" || { echo "$f: different bytes"; return 1; }
    n=$((n + 1))
  done
  [ $n -ge 20 ] || { echo "only $n strict files compiled"; return 1; }
}

t_build_empty_dir() {
  mkdir -p "$tmp/empty"
  "$fsxds" schema build -o "$tmp/e.desc" "$tmp/empty" 2>"$tmp/err"
  [ $? -eq 1 ] && grep -q 'no Envoy API file' "$tmp/err" && [ ! -e "$tmp/e.desc" ]
}

t_build_missing_dir() {
  "$fsxds" schema build -o "$tmp/m.desc" "$tmp/nope" 2>"$tmp/err"
  [ $? -eq 2 ] && grep -q "$tmp/nope" "$tmp/err"
}

t_build_protoc_refuses() {
  mkdir -p "$tmp/broken/envoy/config/x/v3"
  printf 'syntax = "proto3";\npackage envoy.config.x.v3;\nmessage X { strin name = 1; }\n' \
    >"$tmp/broken/envoy/config/x/v3/x.proto"
  "$fsxds" schema build -o "$tmp/b.desc" "$tmp/broken" 2>"$tmp/err"
  [ $? -eq 1 ] && grep -q 'protoc failed' "$tmp/err" && grep -q 'x.proto' "$tmp/err" && [ ! -e "$tmp/b.desc" ] &&
    [ -z "$(ls "$tmp" | grep 'b.desc.protoc')" ]
}

t_build_output_place() {
  # an output inside a directory read would overwrite the API (a .proto)
  mkdir -p "$tmp/copy" && cp -r "${deps[0]}" "$tmp/copy/envoy-api"
  local victim="$tmp/copy/envoy-api/envoy/config/core/v3/base.proto"
  local before
  before=$(sha256sum "$victim")
  "$fsxds" schema build -o "$victim" "$tmp/copy/envoy-api" "${deps[@]:1}" 2>"$tmp/err"
  [ $? -eq 2 ] && grep -q "is inside $tmp/copy/envoy-api, one of the directories read" "$tmp/err" &&
    [ "$(sha256sum "$victim")" = "$before" ] || { cat "$tmp/err"; return 1; }
  # an output directory that does not exist: an I/O error (2), naming the output
  "$fsxds" schema build -o "$tmp/nodir/x.desc" "${deps[@]}" 2>"$tmp/err"
  [ $? -eq 2 ] && grep -q "$tmp/nodir/x.desc: cannot write next to it" "$tmp/err"
}

t_bad_options() {
  "$fsxds" schema info --envoy-version bogus 2>/dev/null; [ $? -eq 2 ] || return 1
  "$fsxds" compile --envoy-version 2.0 "$root/tests/data/strict/cds-circuit-breakers.yaml" -o "$tmp/x.pb" 2>/dev/null
  [ $? -eq 2 ] || return 1
  "$fsxds" schema frobnicate 2>/dev/null; [ $? -eq 2 ] || return 1
  "$fsxds" schema build "${deps[0]}" 2>/dev/null; [ $? -eq 2 ]
}

t_config() {
  [ -s "$tmp/built.desc" ] || "$fsxds" schema build -o "$tmp/built.desc" "${deps[@]}" >/dev/null || return 1
  printf 'schema: %s\nenvoy_version: 1.21\n' "$tmp/built.desc" >"$tmp/fsxds.yaml"
  "$fsxds" schema info --config "$tmp/fsxds.yaml" >"$tmp/c.out" || return 1
  grep -qx "schema:            $tmp/built.desc" "$tmp/c.out" &&
    grep -qx 'envoy_version:     1.21.0 (envoy_version: in the configuration)' "$tmp/c.out" || { cat "$tmp/c.out"; return 1; }
  # the options win over the file
  "$fsxds" schema info --config "$tmp/fsxds.yaml" --envoy-version 1.30 --schema "$tmp/built.desc" |
    grep -qx 'envoy_version:     1.30.0 (--envoy-version)' || return 1
  # check and compile take them too: an unknown key is refused with its place
  printf 'envoy_version: one\n' >"$tmp/bad.yaml"
  "$fsxds" check --config "$tmp/bad.yaml" "$root/tests/data/strict/cds-circuit-breakers.yaml" 2>"$tmp/err"
  [ $? -ne 0 ] && grep -q "bad.yaml:1:16: error: envoy_version: expected an Envoy release such as 1.36 or 1.36.2" "$tmp/err" ||
    { cat "$tmp/err"; return 1; }
  printf 'schema: %s/missing.desc\n' "$tmp" >"$tmp/missing.yaml"
  "$fsxds" compile --config "$tmp/missing.yaml" "$root/tests/data/strict/cds-circuit-breakers.yaml" -o "$tmp/x.pb" 2>"$tmp/err"
  [ $? -eq 2 ] && grep -q "schema: $tmp/missing.desc" "$tmp/err"
}

check info t_info
check info-envoy-version t_info_version
check build-same-api t_build_same
check build-empty-dir t_build_empty_dir
check build-missing-dir t_build_missing_dir
check build-protoc-refuses t_build_protoc_refuses
check bad-options t_bad_options
check build-output-place t_build_output_place
check config t_config
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
