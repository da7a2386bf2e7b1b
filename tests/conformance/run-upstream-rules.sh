#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Rules only upstream's annotations carry: with `--schema upstream.desc`,
# fsxds must enforce the protoc-gen-validate rules of the real Envoy API on
# fields and messages that our proto/ subset does not ship (so that the
# built-in schema cannot even read them).
#
#   run-upstream-rules.sh --fsxds PATH --refenc PATH --data DIR [common options]
#
# Every DIR/*.yaml is one case: a DiscoveryResponse that breaks exactly one
# rule, with a header saying what must happen (line:column as in the file,
# header included):
#
#   # expect: LINE:COL: error: PATH: MESSAGE [validate.KIND.RULE]
#   # builtin: LINE:COL: error: PATH: MESSAGE
#   # fix: OLD => NEW
#
# For each case:
#   1. refenc (libprotobuf's JSON parser over upstream's schema, which knows
#      no PGV rule) accepts the file: it is well-formed, only the rule is
#      broken;
#   2. fsxds compile --schema upstream.desc exits 1 and prints exactly the
#      `expect` line (prefixed with the file name);
#   3. fsxds compile with its built-in schema exits 1 and prints exactly the
#      `builtin` line, an unknown field or @type and no [validate.*] error:
#      only upstream's annotations catch the case;
#   4. the file with OLD replaced by NEW (OLD must occur exactly once)
#      compiles with --schema upstream.desc (exit 0, nothing printed), to the
#      message refenc makes of it (decoded text, every Any expanded), with no
#      unknown field, and refenc lint finds no deprecated field in it;
#   5. the built-in schema still rejects the corrected file with the same
#      `builtin` line (it fails on the type, not on the value).
#
# Prints PASS/FAIL per case and ends with "N passed, M failed".

. "$(dirname "$0")/common.sh"

[ -n "$FSXDS" ] && [ -x "$FSXDS" ] || { echo "error: --fsxds PATH is required" >&2; exit 2; }
[ -n "$DATA" ] && [ -d "$DATA" ] || { echo "error: --data DIR is required" >&2; exit 2; }
# fsxds runs from inside the work directory (below): absolute paths
abspath() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
FSXDS=$(abspath "$FSXDS")
UPSTREAM_DESC=$(abspath "$UPSTREAM_DESC")

shopt -s nullglob
files=("$DATA"/*.yaml)
[ ${#files[@]} -gt 0 ] || { echo "error: no *.yaml in $DATA" >&2; exit 1; }

pass=0 fail=0 kinds=()

failed() { # NAME REASON [DETAIL-FILE...]
    local name=$1 why=$2
    shift 2
    echo "FAIL $name: $why"
    for f in "$@"; do [ -s "$f" ] && sed 's/^/    /' "$f" | head -n 40; done
    fail=$((fail + 1))
}

header() { # FILE KEY: the value of the first "# KEY: " line
    sed -n "s/^# $2: //p" "$1" | head -n 1
}

# same_output WANT GOT-FILE: GOT-FILE holds exactly the line WANT
same_output() {
    [ "$(cat "$2")" = "$1" ]
}

for file in "${files[@]}"; do
    name=$(basename "$file")
    d=$WORK/${name%.yaml}
    mkdir -p "$d/bad" "$d/fixed"
    expect=$(header "$file" expect)
    builtin=$(header "$file" builtin)
    fix=$(header "$file" fix)
    if [ -z "$expect" ] || [ -z "$builtin" ] || [[ $fix != *' => '* ]]; then
        failed "$name" "needs '# expect:', '# builtin:' and '# fix: OLD => NEW' header lines"
        continue
    fi
    rule=$(printf '%s\n' "$expect" | sed -nE 's/.* \[(validate\.[a-z0-9_]+\.[a-z_]+)\]$/\1/p')
    if [ -z "$rule" ]; then
        failed "$name" "the expect line names no [validate.KIND.RULE]"
        continue
    fi
    # Run from inside the case directory so that diagnostics start with
    # "NAME:" whatever the source path.
    cp "$file" "$d/bad/$name"
    if ! python3 - "$file" "$d/fixed/$name" "$fix" <<'PY'; then
import sys
src, dst, fix = sys.argv[1:]
old, new = fix.split(" => ", 1)
lines = open(src).read().split("\n")
# the header itself mentions OLD: replace in the document only
body_at = next(i for i, l in enumerate(lines) if not l.startswith("#"))
body = "\n".join(lines[body_at:])
if body.count(old) != 1:
    sys.exit("fix: %d occurrence(s) of %r below the header (expected 1)" % (body.count(old), old))
open(dst, "w").write("\n".join(lines[:body_at] + [body.replace(old, new)]))
PY
        failed "$name" "cannot apply the fix"
        continue
    fi

    # 1. well-formed for upstream's schema
    if ! "$REFENC" encode "$UPSTREAM_DESC" "$TYPE" "$file" "$d/bad.ref.pb" 2>"$d/bad.ref.err"; then
        failed "$name" "refenc rejects the file: not well-formed for upstream's schema (bad test data?)" "$d/bad.ref.err"
        continue
    fi

    # 2. upstream's rule
    rc=0
    (cd "$d/bad" && "$FSXDS" compile --schema "$UPSTREAM_DESC" "$name" -o ../up.pb) >"$d/up.out" 2>&1 || rc=$?
    if [ $rc -ne 1 ]; then
        failed "$name" "fsxds compile --schema upstream.desc exited $rc (expected 1)" "$d/up.out"
        continue
    fi
    if ! same_output "$name:$expect" "$d/up.out"; then
        printf 'expected:\n    %s\ngot:\n' "$name:$expect" >"$d/up.why"
        sed 's/^/    /' "$d/up.out" >>"$d/up.why"
        failed "$name" "fsxds compile --schema upstream.desc printed something else" "$d/up.why"
        continue
    fi

    # 3. not caught by the built-in schema's annotations
    rc=0
    (cd "$d/bad" && "$FSXDS" compile "$name" -o ../builtin.pb) >"$d/builtin.out" 2>&1 || rc=$?
    if [ $rc -ne 1 ]; then
        failed "$name" "fsxds compile (built-in schema) exited $rc (expected 1)" "$d/builtin.out"
        continue
    fi
    if grep -q '\[validate\.' "$d/builtin.out"; then
        failed "$name" "the built-in schema reports a validate rule: the case is not upstream-only" "$d/builtin.out"
        continue
    fi
    if ! same_output "$name:$builtin" "$d/builtin.out"; then
        printf 'expected:\n    %s\ngot:\n' "$name:$builtin" >"$d/builtin.why"
        sed 's/^/    /' "$d/builtin.out" >>"$d/builtin.why"
        failed "$name" "fsxds compile (built-in schema) printed something else" "$d/builtin.why"
        continue
    fi

    # 4. the corrected file compiles, to what refenc makes of it
    rc=0
    (cd "$d/fixed" && "$FSXDS" compile --schema "$UPSTREAM_DESC" "$name" -o ../fixed.pb) >"$d/fixed.out" 2>&1 || rc=$?
    if [ $rc -ne 0 ] || [ -s "$d/fixed.out" ]; then
        failed "$name" "the corrected file: fsxds compile --schema upstream.desc exited $rc (expected 0, silent)" "$d/fixed.out"
        continue
    fi
    if ! "$REFENC" encode "$UPSTREAM_DESC" "$TYPE" "$d/fixed/$name" "$d/ref.pb" 2>"$d/ref.err"; then
        failed "$name" "refenc rejects the corrected file" "$d/ref.err"
        continue
    fi
    if ! "$REFENC" lint "$UPSTREAM_DESC" "$TYPE" "$d/ref.pb" >"$d/lint" 2>&1; then
        failed "$name" "the corrected file uses deprecated or unknown fields" "$d/lint"
        continue
    fi
    if ! decode_text "$d/ref.pb" "$d/ref.txt"; then
        failed "$name" "cannot decode refenc's output" "$d/ref.txt.err"
        continue
    fi
    if ! decode_text "$d/fixed.pb" "$d/fixed.txt"; then
        failed "$name" "cannot decode fsxds's output" "$d/fixed.txt.err"
        continue
    fi
    if unknown_fields "$d/fixed.txt" >"$d/fixed.unknown"; then
        failed "$name" "fsxds's output has unknown fields" "$d/fixed.unknown"
        continue
    fi
    if ! normalise "$d/fixed/$name" "$d/ref.txt" "$d/fixed.txt"; then
        failed "$name" "$(cat "$d/fixed.txt.why")"
        continue
    fi
    if ! diff -u --label refenc --label "fsxds --schema upstream.desc" "$d/ref.txt.cmp" "$d/fixed.txt.cmp" >"$d/fixed.diff"; then
        failed "$name" "the corrected file: fsxds's output differs from refenc's" "$d/fixed.diff"
        continue
    fi

    # 5. the built-in schema fails on the type, not on the value
    rc=0
    (cd "$d/fixed" && "$FSXDS" compile "$name" -o ../fixed-builtin.pb) >"$d/fixed-builtin.out" 2>&1 || rc=$?
    if [ $rc -ne 1 ] || ! same_output "$name:$builtin" "$d/fixed-builtin.out"; then
        failed "$name" "the corrected file: the built-in schema exited $rc (expected 1 and the builtin line again)" "$d/fixed-builtin.out"
        continue
    fi

    echo "PASS $name  [$rule]"
    kinds+=("$rule")
    pass=$((pass + 1))
done

echo "rules covered: $(printf '%s\n' "${kinds[@]}" | LC_ALL=C sort -u | tr '\n' ' ')"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
