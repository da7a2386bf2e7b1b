#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Seed conformance: the tutorial's file-subscription examples (copied into
# tests/data/seed/) compile with fsxds to what the reference encoder makes
# of them. The seeds are not all strict: lds.yaml gives `filters:` as a
# single mapping, which Envoy (and libprotobuf's JSON parser, hence refenc)
# accepts as a one-element list.
#
# Most seeds have no version_info (nor type_url); fsxds then fills in a
# content hash (and the resources' type), so those top-level fields are
# checked and left out of the comparison (see normalise in common.sh). Files
# that set them are compared in full.
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
    if ! normalise "$file" "$d/c.txt" "$d/a.txt"; then
        failed "$name" "$(cat "$d/a.txt.why")"
        continue
    fi
    if ! diff -u --label refenc --label "fsxds compile" "$d/c.txt.cmp" "$d/a.txt.cmp" >"$d/diff"; then
        failed "$name" "fsxds differs from refenc" "$d/diff"
        continue
    fi
    echo "PASS $name"
    pass=$((pass + 1))
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
