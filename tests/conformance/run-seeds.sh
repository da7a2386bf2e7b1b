#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Seed conformance: the tutorial's file-subscription examples (copied into
# tests/data/seed/) compile with fsxds to exactly the bytes libprotobuf
# makes of them (compare_bytes in common.sh). The seeds are not all strict:
# lds.yaml gives `filters:` as a single mapping, which Envoy (and
# libprotobuf's JSON parser, hence refenc) accepts as a one-element list,
# and names its router filter without a typed_config, which Envoy looks up
# by name only before 1.22 (1.22 made lookup by type URL the default,
# envoyproxy/envoy#20397). So the seeds are compiled with
# --envoy-version 1.21, and the files in TYPED_CONFIG_WARNED must print a
# warning of the rule envoy.extension.typed-config.
#
# Most seeds have no version_info (nor type_url); fsxds then fills in a
# content hash (and the resources' type): those top-level fields are checked
# and given to refenc too (see compare_bytes).
#
#   run-seeds.sh --fsxds PATH --refenc PATH --desc FSXDS.DESC --data DIR [common options]

# envoy.extension.typed-config (the load-time check that rejects a filter
# named without typed_config from Envoy 1.22 on, and warns before): the
# seeds' warning is required, not just allowed.
EXPECT_TYPED_CONFIG_RULE=1

. "$(dirname "$0")/common.sh"

[ -n "$DATA" ] && [ -d "$DATA" ] || { echo "error: --data DIR is required" >&2; exit 2; }
[ -n "$FSXDS" ] && [ -x "$FSXDS" ] || { echo "error: --fsxds PATH is required" >&2; exit 2; }

SEEDS=(eds.yaml.v1 eds.yaml.v2 lds.yaml cds.yaml)
# Seeds with a filter named without typed_config (the old form).
TYPED_CONFIG_WARNED=(lds.yaml)
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
    rc=0
    "$FSXDS" compile --envoy-version 1.21 "$file" -o "$d/a.pb" >"$d/a.out" 2>&1 || rc=$?
    if [ $rc -ne 0 ]; then
        failed "$name" "fsxds compile --envoy-version 1.21 exited $rc" "$d/a.out"
        continue
    fi
    if [ "$EXPECT_TYPED_CONFIG_RULE" = 1 ] && [[ " ${TYPED_CONFIG_WARNED[*]} " == *" $name "* ]] &&
       ! grep -qF '[envoy.extension.typed-config]' "$d/a.out"; then
        failed "$name" "no [envoy.extension.typed-config] warning for the filter named without typed_config" "$d/a.out"
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
