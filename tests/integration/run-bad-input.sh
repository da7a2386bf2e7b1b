#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Bad input: every tests/integration/bad/*.yaml starts with
#   # expect: LINE:COLUMN PATH: MESSAGE
# (LINE:COLUMN 0:0 for a diagnostic about the whole file; PATH may be
# empty). fsxds compile must exit 1, print FILE:LINE:COLUMN: error: PATH:
# MESSAGE... on stderr, and leave no output file behind.
# Usage: run-bad-input.sh FSXDS DATA_DIR
set -u
fsxds=$1
data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
for f in "$data"/*.yaml; do
  name=$(basename "$f" .yaml)
  header=$(head -n 1 "$f")
  spec=${header#\# expect: }
  loc=${spec%% *}
  rest=${spec#* }
  path=${rest%%: *}
  msg=${rest#*: }
  if [ "$loc" = "0:0" ]; then prefix="$f: error: "; else prefix="$f:$loc: error: "; fi
  [ -n "$path" ] && prefix="$prefix$path: "
  want="$prefix$msg"
  out="$tmp/$name.pb"
  "$fsxds" compile "$f" -o "$out" 2>"$tmp/err" >/dev/null
  rc=$?
  problems=()
  [ $rc -eq 1 ] || problems+=("exit status $rc, expected 1")
  grep -qF -- "$want" "$tmp/err" || problems+=("missing diagnostic: $want")
  [ ! -e "$out" ] || problems+=("output file left behind")
  ls "$tmp" | grep -q '\.tmp\.' && problems+=("temporary file left behind")
  grep -q 'Sanitizer\|runtime error' "$tmp/err" && problems+=("sanitizer report")
  if [ ${#problems[@]} -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    printf '  %s\n' "${problems[@]}"
    sed 's/^/  stderr: /' "$tmp/err"
  fi
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ $passed -ge 30 ]
