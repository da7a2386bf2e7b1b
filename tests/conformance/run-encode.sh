#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Encoding conformance: every YAML file of --data must compile with fsxds
# (built-in schema) to exactly the bytes libprotobuf makes of it: refenc
# encode, then refenc canon (deterministic serialisation, Any payloads
# included); see compare_bytes in common.sh. fsxds must print nothing but
# [file.one-resource] warnings (a file subscription reads one Runtime or
# Secret per file; that says nothing about the content).
#
#   run-encode.sh --fsxds PATH --refenc PATH --desc FSXDS.DESC --data DIR [common options]
#
# Without --fsxds only the reference side is checked: each file must be
# accepted by refenc and use no deprecated or unknown field (refenc lint).
#
# Prints PASS/FAIL per file and ends with "N passed, M failed".

. "$(dirname "$0")/common.sh"

[ -n "$DATA" ] && [ -d "$DATA" ] || { echo "error: --data DIR is required" >&2; exit 2; }
if [ -n "$FSXDS" ] && [ ! -x "$FSXDS" ]; then
    echo "error: $FSXDS is not executable" >&2
    exit 1
fi
[ -n "$FSXDS" ] || echo "note: no --fsxds given; checking the reference side only"

pass=0 fail=0
shopt -s nullglob
files=("$DATA"/*.yaml)
[ ${#files[@]} -gt 0 ] || { echo "error: no *.yaml in $DATA" >&2; exit 1; }

failed() { # NAME REASON [DETAIL-FILE...]
    local name=$1 why=$2
    shift 2
    echo "FAIL $name: $why"
    for f in "$@"; do [ -s "$f" ] && sed 's/^/    /' "$f" | head -n 60; done
    fail=$((fail + 1))
}

for file in "${files[@]}"; do
    name=$(basename "$file")
    d=$WORK/${name%.yaml}
    mkdir -p "$d"

    if [ -z "$FSXDS" ]; then
        if ! "$REFENC" encode "$DESC" "$TYPE" "$file" "$d/c.pb" 2>"$d/c.err"; then
            failed "$name" "refenc rejects it (bad test data?)" "$d/c.err"
            continue
        fi
        if ! "$REFENC" lint "$DESC" "$TYPE" "$d/c.pb" >"$d/lint" 2>&1; then
            failed "$name" "uses deprecated or unknown fields" "$d/lint"
            continue
        fi
        echo "PASS $name"
        pass=$((pass + 1))
        continue
    fi

    rc=0
    "$FSXDS" compile "$file" -o "$d/a.pb" >"$d/a.out" 2>&1 || rc=$?
    if [ $rc -ne 0 ]; then
        failed "$name" "fsxds compile exited $rc" "$d/a.out"
        continue
    fi
    if grep -v ' \[file\.one-resource\]$' "$d/a.out" >"$d/a.noise"; then
        failed "$name" "fsxds compile printed diagnostics (strict data must compile silently)" "$d/a.noise"
        continue
    fi
    if ! compare_bytes "$file" "$d/a.pb" "$d" "fsxds compile"; then
        failed "$name" "$(cat "$d/why")" "$d/detail"
        continue
    fi
    echo "PASS $name"
    pass=$((pass + 1))
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
