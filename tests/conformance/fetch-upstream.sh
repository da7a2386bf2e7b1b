#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# fetch-upstream.sh CACHE_DIR [WKT_INCLUDE_DIR]
#
# Fetches the upstream Envoy v3 API protos (as bundled in the npm package
# @grpc/grpc-js-xds), patches the bundled validate.proto, and builds
# CACHE_DIR/upstream.desc (a FileDescriptorSet with all imports) from every
# .proto under envoy/{config,extensions,service,type} that compiles.
#
# Nothing is ever written outside CACHE_DIR, and nothing is meant to be
# committed. Idempotent: when CACHE_DIR/upstream.desc is up to date the
# script returns at once. Concurrent runs serialise on CACHE_DIR/.lock.
#
# Exit status: 0 ok; 1 failure; 77 npm unreachable and
# FSXDS_SKIP_CONFORMANCE=1 (meson's "skipped").
set -euo pipefail

PKG_NAME='@grpc/grpc-js-xds'
PKG_VERSION='1.14.1'
PKG_TGZ="grpc-grpc-js-xds-${PKG_VERSION}.tgz"
# sha512 of the registry tarball (npm's "integrity" field, in hex).
PKG_SHA512='1769955f011e316c35ce73d4ae9fbcca48ec20e5677fb46ff84c88bd739fcfbdf0e6d3689429f3a24a4b904fddd84871df43c99995ea09074ca71f0370126884'
# Bump when the way upstream.desc is built changes, to invalidate caches.
RECIPE=3
ROOTS='envoy/config envoy/extensions envoy/service envoy/type'

log() { printf 'fetch-upstream: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ $# -ge 1 ] || { echo "usage: $0 CACHE_DIR [WKT_INCLUDE_DIR]" >&2; exit 2; }
CACHE=$1
WKT=${2:-${FSXDS_PROTOBUF_INCLUDE:-/usr/include}}
[ -f "$WKT/google/protobuf/descriptor.proto" ] ||
    die "no google/protobuf/descriptor.proto under $WKT (install libprotobuf-dev)"
PROTOC=${PROTOC:-protoc}
command -v "$PROTOC" >/dev/null || die "protoc not found (install protobuf-compiler)"
command -v flock >/dev/null || die "flock not found (util-linux)"

mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
STAMP_WANT="${PKG_NAME}@${PKG_VERSION} recipe=${RECIPE} protoc=$("$PROTOC" --version)"

up_to_date() {
    [ -s "$CACHE/upstream.desc" ] && [ -f "$CACHE/upstream.stamp" ] &&
        [ "$(cat "$CACHE/upstream.stamp")" = "$STAMP_WANT" ]
}

# Fast path without the lock.
if up_to_date; then exit 0; fi

exec 9>"$CACHE/.lock"
if ! flock -w 900 9; then die "timed out waiting for $CACHE/.lock"; fi
# Someone else may have finished while we waited.
if up_to_date; then exit 0; fi

WORK=$(mktemp -d "$CACHE/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# ---- 1. the tarball --------------------------------------------------------
sha_ok() { [ "$(sha512sum "$1" | cut -d' ' -f1)" = "$PKG_SHA512" ]; }

if [ -f "$CACHE/$PKG_TGZ" ] && ! sha_ok "$CACHE/$PKG_TGZ"; then
    log "cached $PKG_TGZ has a wrong checksum; fetching it again"
    rm -f "$CACHE/$PKG_TGZ"
fi
if [ ! -f "$CACHE/$PKG_TGZ" ]; then
    command -v npm >/dev/null || die "npm not found (install npm)"
    log "fetching ${PKG_NAME}@${PKG_VERSION} with npm pack"
    if ! (cd "$WORK" && npm pack "${PKG_NAME}@${PKG_VERSION}" \
              --loglevel=error --fetch-retries=1 --fetch-timeout=60000 \
              >"$WORK/npm.out" 2>&1); then
        cat "$WORK/npm.out" >&2 || true
        if [ "${FSXDS_SKIP_CONFORMANCE:-0}" = 1 ]; then
            log "SKIP: cannot fetch ${PKG_NAME}@${PKG_VERSION} from the npm registry" \
                "and FSXDS_SKIP_CONFORMANCE=1 is set"
            exit 77
        fi
        die "cannot fetch ${PKG_NAME}@${PKG_VERSION} from the npm registry" \
            "(set FSXDS_SKIP_CONFORMANCE=1 to skip the conformance tests instead)"
    fi
    [ -f "$WORK/$PKG_TGZ" ] || die "npm pack did not produce $PKG_TGZ"
    sha_ok "$WORK/$PKG_TGZ" || die "checksum mismatch for downloaded $PKG_TGZ"
    mv -f "$WORK/$PKG_TGZ" "$CACHE/$PKG_TGZ"
fi

# ---- 2. extract + patch ----------------------------------------------------
log "extracting $PKG_TGZ"
mkdir "$WORK/src"
tar -xzf "$CACHE/$PKG_TGZ" -C "$WORK/src" package/deps
DEPS="$WORK/src/package/deps"
for d in envoy-api xds googleapis protoc-gen-validate; do
    [ -d "$DEPS/$d" ] || die "package has no deps/$d"
done

VP="$DEPS/protoc-gen-validate/validate/validate.proto"
if ! grep -q 'ignore_empty *= *26' "$VP"; then
    # StringRules in this copy of validate.proto predates ignore_empty, which
    # the bundled envoy-api uses; add it after `strict = 25`.
    awk '
        { print }
        /optional bool strict = 25/ && !done {
            match($0, /^[ \t]*/); ind = substr($0, 1, RLENGTH)
            print ""
            print ind "// Added by fsxds fetch-upstream.sh (missing from this bundled copy)."
            print ind "optional bool ignore_empty = 26;"
            done = 1
        }' "$VP" >"$VP.new"
    mv "$VP.new" "$VP"
    grep -q 'ignore_empty = 26' "$VP" || die "could not patch validate.proto"
fi

# ---- 3. choose the inputs --------------------------------------------------
INC=("-I$DEPS/envoy-api" "-I$DEPS/xds" "-I$DEPS/googleapis"
     "-I$DEPS/protoc-gen-validate" "-I$WKT")
# shellcheck disable=SC2086
(cd "$DEPS/envoy-api" && find $ROOTS -name '*.proto' | LC_ALL=C sort) >"$WORK/all.txt"

# Drop files whose import closure cannot be resolved (the package bundles
# only part of the v2 API, opencensus, opentelemetry, ...).
python3 - "$WORK/all.txt" "$WORK/good.txt" "$WORK/excluded.txt" \
    "$DEPS/envoy-api" "$DEPS/xds" "$DEPS/googleapis" "$DEPS/protoc-gen-validate" "$WKT" <<'EOF'
import os, re, sys
src, good_out, excl_out, *incs = sys.argv[1:]
imp_re = re.compile(r'^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;', re.M)
memo = {}
def locate(name):
    for d in incs:
        p = os.path.join(d, name)
        if os.path.isfile(p):
            return p
    return None
def missing(name, stack=()):
    """first unresolvable import in the closure of name, or None"""
    if name in memo:
        return memo[name]
    if name in stack:
        return None
    p = locate(name)
    if p is None:
        memo[name] = name
        return name
    res = None
    with open(p, encoding='utf-8') as f:
        for dep in imp_re.findall(f.read()):
            m = missing(dep, stack + (name,))
            if m is not None:
                res = m
                break
    memo[name] = res
    return res
good, bad = [], []
for line in open(src):
    n = line.strip()
    if not n:
        continue
    m = missing(n)
    if m is None:
        good.append(n)
    else:
        bad.append(f"{n} (needs {m}, not in the package)")
open(good_out, 'w').write(''.join(x + '\n' for x in good))
open(excl_out, 'w').write(''.join(x + '\n' for x in bad))
EOF

# ---- 4. compile; exclude what protoc still refuses -------------------------
: >"$WORK/refused.txt"
for attempt in $(seq 1 40); do
    mapfile -t files <"$WORK/good.txt"
    [ ${#files[@]} -gt 0 ] || die "no upstream proto file left to compile"
    if "$PROTOC" "${INC[@]}" --include_imports \
           --descriptor_set_out="$WORK/upstream.desc" "${files[@]}" \
           2>"$WORK/protoc.err"; then
        break
    fi
    # File names that protoc complained about (errors look like path:L:C: msg
    # or path: msg).
    grep -oE '^[^: ]+\.proto' "$WORK/protoc.err" | LC_ALL=C sort -u >"$WORK/bad.txt" || true
    # Keep only the ones that are our inputs; if protoc blames an import, drop
    # every input file that is the import itself.
    if ! grep -qxF -f "$WORK/bad.txt" "$WORK/good.txt"; then
        cat "$WORK/protoc.err" >&2
        die "protoc failed on files outside the input set"
    fi
    grep -xF -f "$WORK/bad.txt" "$WORK/good.txt" | while read -r f; do
        printf '%s (protoc: %s)\n' "$f" \
            "$(grep -m1 -F "$f" "$WORK/protoc.err" | cut -c1-200)"
    done >>"$WORK/refused.txt"
    grep -vxF -f "$WORK/bad.txt" "$WORK/good.txt" >"$WORK/good.next" || true
    mv "$WORK/good.next" "$WORK/good.txt"
    [ "$attempt" -lt 40 ] || die "too many protoc failures; see $WORK/protoc.err"
done
[ -s "$WORK/upstream.desc" ] || die "protoc produced no descriptor set"
cat "$WORK/refused.txt" >>"$WORK/excluded.txt"

nexcl=$(wc -l <"$WORK/excluded.txt")
if [ "$nexcl" -gt 0 ]; then
    log "excluded $nexcl upstream file(s) that do not compile from the package alone:"
    sed 's/^/  /' "$WORK/excluded.txt" >&2
fi
log "compiled $(wc -l <"$WORK/good.txt") upstream files into upstream.desc"

# ---- 5. publish atomically -------------------------------------------------
rm -rf "$CACHE/src.old"
[ -d "$CACHE/src" ] && mv "$CACHE/src" "$CACHE/src.old"
mv "$WORK/src" "$CACHE/src"
rm -rf "$CACHE/src.old"
mv -f "$WORK/excluded.txt" "$CACHE/excluded.txt"
mv -f "$WORK/good.txt" "$CACHE/compiled.txt"
mv -f "$WORK/upstream.desc" "$CACHE/upstream.desc"
printf '%s\n' "$STAMP_WANT" >"$CACHE/upstream.stamp.new"
mv -f "$CACHE/upstream.stamp.new" "$CACHE/upstream.stamp"
exit 0
