#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Envoy's load-time checks through `fsxds check`, one case per rule and
# input: every tests/integration/envoy-checks/*.yaml starts with a header
#   # rule: envoy.cluster.logical-dns-host
#   # expect: LINE:COLUMN: error: PATH: MESSAGE [RULE]     (one or more)
#   # near-miss: OLD => NEW                                 (one or more)
#   # envoy-version: 1.20                                   (optional)
# (LINE counts the header lines). For each case:
#  1. fsxds check [--envoy-version V] FILE exits 1 when an expect line is an
#     error (0 when all are warnings) and prints every expect line exactly,
#     prefixed with FILE:;
#  2. each near-miss (the file with OLD, which must occur exactly once
#     below the header, replaced by NEW) is checked with the same options:
#     exit 0, and no diagnostic names the rule (a check that over-rejects is
#     as bad as one that misses).
# Usage: run-envoy-checks.sh FSXDS DATA_DIR
set -u
fsxds=$1
data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
rules=()
for f in "$data"/*.yaml; do
  name=$(basename "$f" .yaml)
  problems=()
  rule=$(sed -n 's/^# rule: //p' "$f" | head -1)
  version=$(sed -n 's/^# envoy-version: //p' "$f" | head -1)
  mapfile -t expects < <(sed -n 's/^# expect: //p' "$f")
  mapfile -t misses < <(sed -n 's/^# near-miss: //p' "$f")
  [ -n "$rule" ] || problems+=("no '# rule:' line")
  [ ${#expects[@]} -gt 0 ] || problems+=("no '# expect:' line")
  [ ${#misses[@]} -gt 0 ] || problems+=("no '# near-miss:' line")
  opts=()
  [ -n "$version" ] && opts=(--envoy-version "$version")
  want_rc=0
  for e in "${expects[@]}"; do
    case $e in *": error: "*) want_rc=1 ;; esac
    case $e in *"[$rule]") ;; *) problems+=("expect line does not end with [$rule]: $e") ;; esac
  done
  "$fsxds" check "${opts[@]}" "$f" >"$tmp/out" 2>&1
  rc=$?
  [ $rc -eq $want_rc ] || problems+=("exit status $rc, expected $want_rc")
  for e in "${expects[@]}"; do
    grep -qxF -- "$f:$e" "$tmp/out" || problems+=("missing diagnostic: $f:$e")
  done
  body_start=$(grep -nv '^#' "$f" | head -1 | cut -d: -f1)
  for m in "${misses[@]}"; do
    old=${m%% => *}
    new=${m#* => }
    n=$(tail -n +"$body_start" "$f" | grep -cF -- "$old")
    if [ "$n" -ne 1 ]; then
      problems+=("near-miss '$old' occurs $n times below the header (need exactly 1)")
      continue
    fi
    fixed="$tmp/$name.near-miss.yaml"
    python3 - "$f" "$fixed" "$old" "$new" "$body_start" <<'PY'
import sys
src, dst, old, new, start = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
lines = open(src).read().split('\n')
body = '\n'.join(lines[start - 1:]).replace(old, new, 1)
open(dst, 'w').write('\n'.join(lines[:start - 1] + [body]))
PY
    "$fsxds" check "${opts[@]}" "$fixed" >"$tmp/out2" 2>&1
    rc=$?
    [ $rc -eq 0 ] || problems+=("near-miss '$m': exit status $rc, expected 0")
    if grep -qF -- "[$rule]" "$tmp/out2"; then
      problems+=("near-miss '$m' still reports [$rule]")
    fi
    [ $rc -eq 0 ] && ! grep -qF -- "[$rule]" "$tmp/out2" || sed 's/^/  near-miss output: /' "$tmp/out2"
  done
  grep -q 'Sanitizer\|runtime error' "$tmp/out" && problems+=("sanitizer report")
  if [ ${#problems[@]} -eq 0 ]; then
    passed=$((passed + 1))
    rules+=("$rule")
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    printf '  %s\n' "${problems[@]}"
    sed 's/^/  output: /' "$tmp/out"
  fi
done
n_rules=$(printf '%s\n' "${rules[@]}" | sort -u | grep -c .)
echo "$passed passed, $failed failed ($n_rules rules)"
[ $failed -eq 0 ] && [ $passed -ge 1 ]
