#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Encoding conformance: every YAML file of --data must compile with fsxds,
# both with its built-in schema (a.pb) and with the upstream descriptor set
# (b.pb), to the same message that the reference encoder produces from the
# upstream descriptor set (c.pb). "The same" means: the decoded texts (every
# Any expanded) are equal, and none of them shows an unknown field. A
# top-level type_url or version_info that the file leaves out and fsxds fills
# in is checked (see normalise in common.sh) and left out of the comparison.
#
#   run-encode.sh --fsxds PATH --refenc PATH --data DIR [common options]
#
# Without --fsxds (fsxds not built yet) only the reference side is checked:
# each file must be accepted by refenc, and use no deprecated or unknown
# field (refenc lint).
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

    if ! "$REFENC" encode "$UPSTREAM_DESC" "$TYPE" "$file" "$d/c.pb" 2>"$d/c.err"; then
        failed "$name" "refenc rejects it (bad test data?)" "$d/c.err"
        continue
    fi
    if ! decode_text "$d/c.pb" "$d/c.txt"; then
        failed "$name" "cannot decode refenc's output" "$d/c.txt.err"
        continue
    fi

    if [ -z "$FSXDS" ]; then
        if ! "$REFENC" lint "$UPSTREAM_DESC" "$TYPE" "$d/c.pb" >"$d/lint" 2>&1; then
            failed "$name" "uses deprecated or unknown fields" "$d/lint"
            continue
        fi
        echo "PASS $name"
        pass=$((pass + 1))
        continue
    fi

    ok=1
    for v in a b; do
        schema=()
        [ $v = b ] && schema=(--schema "$UPSTREAM_DESC")
        label="fsxds compile${schema[*]:+ ${schema[*]}}"
        rc=0
        "$FSXDS" compile "${schema[@]}" "$file" -o "$d/$v.pb" >"$d/$v.out" 2>&1 || rc=$?
        if [ $rc -ne 0 ]; then
            failed "$name" "$label exited $rc" "$d/$v.out"
            ok=0
            break
        fi
        if ! decode_text "$d/$v.pb" "$d/$v.txt"; then
            failed "$name" "cannot decode the output of $label" "$d/$v.txt.err"
            ok=0
            break
        fi
        if unknown_fields "$d/$v.txt" >"$d/$v.unknown"; then
            failed "$name" "output of $label has unknown fields" "$d/$v.unknown"
            ok=0
            break
        fi
        if ! normalise "$file" "$d/c.txt" "$d/$v.txt"; then
            failed "$name" "$label: $(cat "$d/$v.txt.why")"
            ok=0
            break
        fi
        if ! diff -u --label "refenc" --label "$label" "$d/c.txt.cmp" "$d/$v.txt.cmp" >"$d/$v.diff"; then
            failed "$name" "$label differs from refenc" "$d/$v.diff"
            ok=0
            break
        fi
    done
    [ $ok = 1 ] || continue
    if unknown_fields "$d/c.txt" >"$d/c.unknown"; then
        failed "$name" "refenc's output has unknown fields (bad test data?)" "$d/c.unknown"
        continue
    fi
    echo "PASS $name"
    pass=$((pass + 1))
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
