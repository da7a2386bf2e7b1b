#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Schema conformance: every message, field and enum value of fsxds's own
# descriptor set must match upstream Envoy's (name, number, type, type name,
# label, proto3 optional, oneof, json_name).
#
#   run-compare.sh --refenc PATH --desc OURS.desc [common options]
#
# FSXDS_COMPARE_VALIDATE=1 also lists (report only) the fields whose
# (validate.rules) differ from upstream.

. "$(dirname "$0")/common.sh"

[ -n "$OURS_DESC" ] || { echo "error: --desc OURS.desc is required" >&2; exit 2; }
[ -s "$OURS_DESC" ] || { echo "error: $OURS_DESC is missing or empty" >&2; exit 1; }

extra=()
[ "${FSXDS_COMPARE_VALIDATE:-0}" = 1 ] && extra=(--validate)
"$REFENC" compare "${extra[@]}" "$OURS_DESC" "$UPSTREAM_DESC"
