#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Seed conformance: the tutorial's file-subscription examples (copied into
# tests/data/seed/) compile with fsxds to what the reference encoder makes
# of them. The seeds are not all strict: lds.yaml gives `filters:` as a
# single mapping, which Envoy (and libprotobuf's JSON parser, hence refenc)
# accepts as a one-element list.
#
# Most seeds have no version_info; fsxds then writes a content hash, so the
# top-level version_info is left out of the comparison for those files (and
# fsxds's must be non-empty). Files with their own version_info are compared
# in full.
#
#   run-seeds.sh --fsxds PATH --refenc PATH --data DIR [common options]

. "$(dirname "$0")/common.sh"

[ -n "$DATA" ] && [ -d "$DATA" ] || { echo "error: --data DIR is required" >&2; exit 2; }
[ -n "$FSXDS" ] && [ -x "$FSXDS" ] || { echo "error: --fsxds PATH is required" >&2; exit 2; }

SEEDS=(eds.yaml.v1 eds.yaml.v2 lds.yaml cds.yaml)
pass=0 fail=0
failed() {
    local name=$1 why=$2
    shift 2
    echo "FAIL $name: $why"
    for f in "$@"; do [ -s "$f" ] && sed 's/^/    /' "$f" | head -n 60; done
    fail=$((fail + 1))
}

for name in "${SEEDS[@]}"; do
    file=$DATA/$name
    d=$WORK/$name
    mkdir -p "$d"
    if [ ! -f "$file" ]; then
        failed "$name" "missing from $DATA"
        continue
    fi
    if ! "$REFENC" encode "$UPSTREAM_DESC" "$TYPE" "$file" "$d/c.pb" 2>"$d/c.err"; then
        failed "$name" "refenc rejects it" "$d/c.err"
        continue
    fi
    rc=0
    "$FSXDS" compile "$file" -o "$d/a.pb" >"$d/a.out" 2>&1 || rc=$?
    if [ $rc -ne 0 ]; then
        failed "$name" "fsxds compile exited $rc" "$d/a.out"
        continue
    fi
    if ! decode_text "$d/c.pb" "$d/c.txt"; then
        failed "$name" "cannot decode refenc's output" "$d/c.txt.err"
        continue
    fi
    if ! decode_text "$d/a.pb" "$d/a.txt"; then
        failed "$name" "cannot decode fsxds's output" "$d/a.txt.err"
        continue
    fi
    if unknown_fields "$d/a.txt" >"$d/a.unknown"; then
        failed "$name" "fsxds's output has unknown fields" "$d/a.unknown"
        continue
    fi
    if grep -qE '^version_info:' "$file"; then
        cp "$d/a.txt" "$d/a.cmp"
        cp "$d/c.txt" "$d/c.cmp"
    else
        if ! grep -qE '^version_info: "[^"]+"' "$d/a.txt"; then
            failed "$name" "fsxds wrote no version_info (expected a content hash)"
            continue
        fi
        grep -vE '^version_info: ' "$d/a.txt" >"$d/a.cmp"
        grep -vE '^version_info: ' "$d/c.txt" >"$d/c.cmp"
    fi
    if ! diff -u --label refenc --label "fsxds compile" "$d/c.cmp" "$d/a.cmp" >"$d/diff"; then
        failed "$name" "fsxds differs from refenc" "$d/diff"
        continue
    fi
    echo "PASS $name"
    pass=$((pass + 1))
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
