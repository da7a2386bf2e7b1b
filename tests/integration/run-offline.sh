#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The offline build path (docs/schema.md): a copy of the source tree with
# the wrap's file in subprojects/packagecache/ configures with
# --wrap-mode=nodownload and builds the built-in schema in a network
# namespace with no network at all, byte for byte the schema of this build;
# without the file, the same setup fails and names the subproject.
# Usage: run-offline.sh SOURCE_ROOT BUILT_FSXDS_DESC
set -u
src=$1
desc=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# no network: a new network namespace (root, or a user namespace)
if unshare -n true 2>/dev/null; then
  nonet=(unshare -n)
elif unshare -rn true 2>/dev/null; then
  nonet=(unshare -rn)
else
  echo "SKIP: cannot create a network namespace (unshare -n needs root or unprivileged user namespaces)"
  exit 77
fi
"${nonet[@]}" sh -c 'exec 3<>/dev/tcp/registry.npmjs.org/443' 2>/dev/null &&
  fail "the network namespace still reaches the npm registry"

wrap_file=$(sed -n 's/^source_filename *= *//p' "$src/subprojects/grpc-js-xds.wrap")
cache="$src/subprojects/packagecache/$wrap_file"
[ -f "$cache" ] || fail "$cache is missing (meson puts it there when it fetches the wrap)"

# the source tree as a release tarball has it: no build directories, no
# extracted subproject, no VCS
mkdir "$tmp/src"
tar -C "$src" --exclude='./build*' --exclude='./obj-*' --exclude='./out' --exclude='./.git' \
    --exclude='./debian' --exclude='./subprojects/packagecache' --exclude='./subprojects/grpc-js-xds-*' \
    -cf - . | tar -C "$tmp/src" -xf -

# 1. no cache, no download: meson says which subproject it cannot get
if "${nonet[@]}" meson setup --wrap-mode=nodownload -Dtests=false "$tmp/src/build" "$tmp/src" >"$tmp/nocache.log" 2>&1; then
  fail "meson setup succeeded without the package cache and without network"
fi
grep -q 'grpc-js-xds' "$tmp/nocache.log" || { cat "$tmp/nocache.log"; fail "the failure does not name grpc-js-xds"; }
rm -rf "$tmp/src/build" "$tmp/src/subprojects/grpc-js-xds-"*

# 2. a pre-filled cache: configure and build the schema with no network
mkdir -p "$tmp/src/subprojects/packagecache"
cp "$cache" "$tmp/src/subprojects/packagecache/"
"${nonet[@]}" meson setup --wrap-mode=nodownload -Dtests=false "$tmp/src/build" "$tmp/src" >"$tmp/setup.log" 2>&1 ||
  { cat "$tmp/setup.log"; fail "meson setup --wrap-mode=nodownload failed with a pre-filled cache"; }
"${nonet[@]}" ninja -C "$tmp/src/build" daemon/fsxds.desc >"$tmp/ninja.log" 2>&1 ||
  { cat "$tmp/ninja.log"; fail "building the schema offline failed"; }
cmp "$tmp/src/build/daemon/fsxds.desc" "$desc" || fail "the offline schema differs from this build's"
grep -q 'ignore_empty = 26' "$tmp/src/subprojects/grpc-js-xds-"*/package/deps/protoc-gen-validate/validate/validate.proto ||
  fail "the validate.proto fix was not applied"
echo "ok: no cache -> setup fails naming grpc-js-xds; pre-filled cache -> schema built offline, $(stat -c %s "$desc") bytes, identical"
