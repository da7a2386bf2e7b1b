#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Schema conformance: every message, field and enum value of fsxds's own
# descriptor set must match upstream Envoy's (name, number, type, type name,
# label, proto3 optional, oneof, json_name, proto2 default), and so must the
# protoc-gen-validate options on them: a field's (validate.rules), a oneof's
# (validate.required), a message's (validate.disabled) and (validate.ignored),
# in both directions (missing on ours, extra on ours, different).
#
#   run-compare.sh --refenc PATH --desc OURS.desc [common options]
#
# sync-validate.py rewrites proto/'s annotations from upstream's when this
# fails on (validate.*) differences.

. "$(dirname "$0")/common.sh"

[ -n "$OURS_DESC" ] || { echo "error: --desc OURS.desc is required" >&2; exit 2; }
[ -s "$OURS_DESC" ] || { echo "error: $OURS_DESC is missing or empty" >&2; exit 1; }

"$REFENC" compare --validate "$OURS_DESC" "$UPSTREAM_DESC"
