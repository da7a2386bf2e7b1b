#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# protoc-gen-validate rules of Envoy's API: the built-in schema (Envoy's
# complete v3 API, with its (validate.*) annotations) must enforce them,
# in extension types (HTTP filters, a cluster type, an original-IP detection
# extension, a compression library inside a filter's Any) as in the core
# messages.
#
#   run-pgv-rules.sh --fsxds PATH --refenc PATH --desc FSXDS.DESC --data DIR [common options]
#
# Every DIR/*.yaml is one case: a DiscoveryResponse that breaks exactly one
# rule, with a header saying what must happen (line:column as in the file,
# header included):
#
#   # expect: LINE:COL: error: PATH: MESSAGE [validate.KIND.RULE]
#   # fix: OLD => NEW
#
# For each case:
#   1. refenc (libprotobuf's JSON parser, which knows no PGV rule) accepts
#      the file: it is well-formed, only the rule is broken;
#   2. fsxds compile exits 1 and prints exactly the `expect` line (prefixed
#      with the file name);
#   3. the file with OLD replaced by NEW (OLD must occur exactly once below
#      the header) compiles silently (exit 0, nothing printed) to exactly
#      the bytes libprotobuf makes of it (compare_bytes in common.sh), and
#      refenc lint finds no deprecated or unknown field in it.
#
# Prints PASS/FAIL per case and ends with "N passed, M failed".

. "$(dirname "$0")/common.sh"

[ -n "$FSXDS" ] && [ -x "$FSXDS" ] || { echo "error: --fsxds PATH is required" >&2; exit 2; }
[ -n "$DATA" ] && [ -d "$DATA" ] || { echo "error: --data DIR is required" >&2; exit 2; }
# fsxds runs from inside the work directory (below): absolute paths
abspath() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
FSXDS=$(abspath "$FSXDS")

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
    fix=$(header "$file" fix)
    if [ -z "$expect" ] || [[ $fix != *' => '* ]]; then
        failed "$name" "needs '# expect:' and '# fix: OLD => NEW' header lines"
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

    # 1. well-formed for Envoy's API
    if ! "$REFENC" encode "$DESC" "$TYPE" "$file" "$d/bad.ref.pb" 2>"$d/bad.ref.err"; then
        failed "$name" "refenc rejects the file: not well-formed for Envoy's API (bad test data?)" "$d/bad.ref.err"
        continue
    fi

    # 2. the rule
    rc=0
    (cd "$d/bad" && "$FSXDS" compile "$name" -o ../bad.pb) >"$d/bad.out" 2>&1 || rc=$?
    if [ $rc -ne 1 ]; then
        failed "$name" "fsxds compile exited $rc (expected 1)" "$d/bad.out"
        continue
    fi
    if ! same_output "$name:$expect" "$d/bad.out"; then
        printf 'expected:\n    %s\ngot:\n' "$name:$expect" >"$d/bad.why"
        sed 's/^/    /' "$d/bad.out" >>"$d/bad.why"
        failed "$name" "fsxds compile printed something else" "$d/bad.why"
        continue
    fi

    # 3. the corrected file compiles, to exactly what libprotobuf makes of it
    rc=0
    (cd "$d/fixed" && "$FSXDS" compile "$name" -o ../fixed.pb) >"$d/fixed.out" 2>&1 || rc=$?
    if [ $rc -ne 0 ] || [ -s "$d/fixed.out" ]; then
        failed "$name" "the corrected file: fsxds compile exited $rc (expected 0, silent)" "$d/fixed.out"
        continue
    fi
    if ! compare_bytes "$d/fixed/$name" "$d/fixed.pb" "$d" "fsxds compile"; then
        failed "$name" "the corrected file: $(cat "$d/why")" "$d/detail"
        continue
    fi
    if ! "$REFENC" lint "$DESC" "$TYPE" "$d/ref.pb" >"$d/lint" 2>&1; then
        failed "$name" "the corrected file uses deprecated or unknown fields" "$d/lint"
        continue
    fi

    echo "PASS $name  [$rule]"
    kinds+=("$rule")
    pass=$((pass + 1))
done

echo "rules covered: $(printf '%s\n' "${kinds[@]}" | LC_ALL=C sort -u | tr '\n' ' ')"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
