#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Negative test of the schema comparison: `refenc compare --validate` must
# fail, and name each element, when our (validate.*) annotations drift from
# upstream's. Compiles a copy of proto/ twice with protoc: as it is (compare
# must pass, so that the failure below is due to the edits alone), then with
# a few annotations removed, changed or added (compare must exit 1, list
# exactly those elements, and nothing else).
#
#   run-compare-drift.sh --refenc PATH --proto DIR [common options]

. "$(dirname "$0")/common.sh"

[ -n "$PROTO" ] && [ -f "$PROTO/meson.build" ] || { echo "error: --proto DIR (our proto/ tree) is required" >&2; exit 2; }
command -v "$PROTOC" >/dev/null || { echo "error: protoc not found" >&2; exit 2; }
INC=${WKT:-${FSXDS_PROTOBUF_INCLUDE:-/usr/include}}

cp -R "$PROTO" "$WORK/proto"

compile() {  # compile OUT.desc: the copy in $WORK/proto, as the build does
    (cd "$WORK/proto" && find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort |
        xargs "$PROTOC" -I. -I"$INC" --include_imports --descriptor_set_out="$1")
}

# edit FILE OLD NEW: replace the text OLD (exact, may span lines) by NEW;
# fail unless OLD occurs exactly once, so that the test cannot pass
# vacuously after proto/ changes.
edit() {
    python3 - "$WORK/proto/$1" "$2" "$3" <<'PY' || exit 1
import sys
path, old, new = sys.argv[1:]
s = open(path).read()
if s.count(old) != 1:
    sys.exit("drift edit: %d occurrence(s) of %r in %s (expected 1)" % (s.count(old), old, path))
open(path, "w").write(s.replace(old, new))
PY
}

if ! compile "$WORK/pristine.desc" 2>"$WORK/protoc.err"; then
    cat "$WORK/protoc.err"; echo "FAIL: protoc cannot compile the pristine copy"; exit 1
fi
if ! "$REFENC" compare --validate "$WORK/pristine.desc" "$UPSTREAM_DESC" >"$WORK/pristine.out" 2>&1; then
    sed 's/^/    /' "$WORK/pristine.out" | head -n 40
    echo "FAIL: the unedited proto/ copy does not match upstream (see schema-compare)"
    exit 1
fi

A=envoy/config/core/v3/address.proto
B=envoy/config/core/v3/base.proto
# Removed on ours.
edit $A '  string path = 1 [(validate.rules).string = {min_len: 1}];' \
        '  string path = 1;'
# A bound changed.
edit $A '  uint32 port_value = 3 [(validate.rules).uint32 = {lte: 65535}];' \
        '  uint32 port_value = 3 [(validate.rules).uint32 = {lte: 65536}];'
# Added on ours (upstream has no rule here).
edit $A '  string resolver_name = 5;' \
        '  string resolver_name = 5 [(validate.rules).string = {min_len: 1}];'
# A oneof no longer required.
edit $A $'  oneof address {\n    option (validate.required) = true;\n' \
        $'  oneof address {\n'
# A message option upstream does not have.
edit $A $'message Pipe {\n' \
        $'message Pipe {\n  option (validate.disabled) = true;\n'
# `strict: false` lost from a well_known_regex rule.
edit $B 'string key = 1 [(validate.rules).string = {min_len: 1 max_bytes: 16384 well_known_regex: HTTP_HEADER_NAME strict: false}];' \
        'string key = 1 [(validate.rules).string = {min_len: 1 max_bytes: 16384 well_known_regex: HTTP_HEADER_NAME}];'

EXPECT=(
    'envoy.config.core.v3.Pipe.path: (validate.rules) differs (ours none, upstream {string { min_len: 1 }})'
    'envoy.config.core.v3.SocketAddress.port_value: (validate.rules) differs (ours {uint32 { lte: 65536 }}, upstream {uint32 { lte: 65535 }})'
    'envoy.config.core.v3.SocketAddress.resolver_name: (validate.rules) differs (ours {string { min_len: 1 }}, upstream none)'
    'envoy.config.core.v3.Address.address: (validate.required) differs (ours none, upstream true)'
    'envoy.config.core.v3.Pipe: (validate.disabled) differs (ours true, upstream none)'
    'envoy.config.core.v3.HeaderValue.key: (validate.rules) differs'
)

if ! compile "$WORK/drift.desc" 2>"$WORK/protoc.err"; then
    cat "$WORK/protoc.err"; echo "FAIL: protoc cannot compile the edited copy"; exit 1
fi
rc=0
"$REFENC" compare --validate "$WORK/drift.desc" "$UPSTREAM_DESC" >"$WORK/drift.out" 2>&1 || rc=$?
sed 's/^/    /' "$WORK/drift.out"

fail=0
if [ "$rc" -ne 1 ]; then
    echo "FAIL: refenc compare --validate exited $rc on the drifted copy (expected 1)"
    fail=1
fi
for e in "${EXPECT[@]}"; do
    if ! grep -qF -- "$e" "$WORK/drift.out"; then
        echo "FAIL: not reported: $e"
        fail=1
    fi
done
# Exactly these differences, and no other mismatch.
n=$(grep -c ' differs ' "$WORK/drift.out")
if [ "$n" -ne "${#EXPECT[@]}" ]; then
    echo "FAIL: $n (validate.*) difference(s) reported, expected ${#EXPECT[@]}"
    fail=1
fi
if ! grep -qx "${#EXPECT[@]} mismatch(es);.*" "$WORK/drift.out"; then
    echo "FAIL: expected exactly ${#EXPECT[@]} mismatch(es) in the summary"
    fail=1
fi
[ "$fail" = 0 ] && echo "PASS: the comparison detects all ${#EXPECT[@]} drifted annotations"
exit "$fail"
