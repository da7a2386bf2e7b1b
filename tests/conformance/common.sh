# SPDX-License-Identifier: MIT
# Sourced by the run-*.sh conformance scripts. Parses the common options,
# makes sure the upstream descriptor set is in the cache, and sets:
#   FSXDS REFENC PROTOC WKT DATA PROTO CACHE UPSTREAM_DESC OURS_DESC WORK TYPE
#
# Options (all scripts):
#   --refenc PATH      the reference encoder (required)
#   --fsxds PATH       the fsxds CLI
#   --desc PATH        fsxds's own descriptor set (<builddir>/daemon/fsxds.desc)
#   --data DIR         directory of YAML inputs
#   --proto DIR        our proto/ source tree
#   --protoc PATH      protoc (default: protoc on PATH)
#   --wkt DIR          directory holding google/protobuf/*.proto
#   --cache DIR        cache dir (default: $FSXDS_CONFORMANCE_CACHE or
#                      ~/.cache/fsxds-conformance)
#   --keep             keep the work directory (its path is printed)
#
# Environment: FSXDS_SKIP_CONFORMANCE=1 turns "cannot fetch upstream" into a
# skip (exit 77) instead of a failure.

set -uo pipefail

TYPE=envoy.service.discovery.v3.DiscoveryResponse
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FSXDS= REFENC= OURS_DESC= DATA= PROTO= PROTOC=protoc WKT= KEEP=0
CACHE=${FSXDS_CONFORMANCE_CACHE:-${HOME:-/tmp}/.cache/fsxds-conformance}

while [ $# -gt 0 ]; do
    case $1 in
        --fsxds) FSXDS=$2; shift 2 ;;
        --refenc) REFENC=$2; shift 2 ;;
        --desc) OURS_DESC=$2; shift 2 ;;
        --data) DATA=$2; shift 2 ;;
        --proto) PROTO=$2; shift 2 ;;
        --protoc) PROTOC=$2; shift 2 ;;
        --wkt) WKT=$2; shift 2 ;;
        --cache) CACHE=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        *) echo "$(basename "$0"): unknown option $1" >&2; exit 2 ;;
    esac
done

[ -n "$REFENC" ] && [ -x "$REFENC" ] || { echo "error: --refenc PATH is required" >&2; exit 2; }
export PROTOC

# Fetch/build the upstream descriptor set (idempotent, locked).
rc=0
"$HERE/fetch-upstream.sh" "$CACHE" ${WKT:+"$WKT"} || rc=$?
if [ "$rc" -eq 77 ]; then
    echo "SKIP: upstream Envoy API protos unavailable (FSXDS_SKIP_CONFORMANCE=1)"
    exit 77
elif [ "$rc" -ne 0 ]; then
    echo "error: could not prepare the upstream descriptor set in $CACHE" >&2
    exit 1
fi
UPSTREAM_DESC=$CACHE/upstream.desc

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fsxds-conformance.XXXXXX")
if [ "$KEEP" = 1 ]; then
    echo "work directory: $WORK"
else
    trap 'rm -rf "$WORK"' EXIT
fi

# decode_text PB OUT: text form of a DiscoveryResponse with every Any
# expanded (protoc --decode leaves Any payloads as escaped bytes, which would
# make encodings that differ only in map order or explicit defaults look
# different). Also checks that protoc itself can decode the file.
decode_text() {
    if ! "$PROTOC" --decode="$TYPE" --descriptor_set_in="$UPSTREAM_DESC" \
            <"$1" >"$2.protoc" 2>"$2.protoc.err"; then
        echo "protoc --decode failed: $(head -c 300 "$2.protoc.err")" >"$2.err"
        return 1
    fi
    if ! "$REFENC" decode "$UPSTREAM_DESC" "$TYPE" "$1" >"$2" 2>"$2.err"; then
        return 1
    fi
    return 0
}

# unknown_fields TEXT: print the lines showing unknown fields (bare numbers
# as field names), in the expanded text or in protoc's own output.
unknown_fields() {
    grep -nE '^[[:space:]]*[0-9]+(:| \{)' "$1" "$1.protoc" 2>/dev/null |
        sed "s|^$WORK/||"
}

# yaml_has_top_key FILE KEY CAMELKEY: does the YAML file set this top-level key?
yaml_has_top_key() {
    grep -qE "^[\"']?($2|$3)[\"']?[[:space:]]*:" "$1"
}

# normalise YAML REF.txt OUT.txt: writes REF.txt.cmp and OUT.txt.cmp, the
# texts to compare. Fields that fsxds fills in when the file leaves them out
# are checked here and then dropped from both sides:
#   type_url      must be the type of the resources;
#   version_info  must be non-empty (a content hash).
# Returns 1 (reason in OUT.txt.why) when such a filled-in field is wrong.
normalise() {
    local yaml=$1 ref=$2 out=$3 drop='^$' t want
    cp "$ref" "$ref.cmp"
    cp "$out" "$out.cmp"
    if ! yaml_has_top_key "$yaml" type_url typeUrl; then
        t=$(grep -E '^type_url: ' "$out" | head -n 1)
        if [ -n "$t" ]; then
            want=$(grep -oE '^  \[[^]]+\] \{$' "$ref" | sort -u)
            if [ "$(printf '%s\n' "$want" | wc -l)" -ne 1 ] ||
               [ "$t" != "type_url: \"$(printf '%s' "$want" | sed -E 's/^  \[(.*)\] \{$/\1/')\"" ]; then
                echo "fsxds filled in $t, which is not the type of the resources" >"$out.why"
                return 1
            fi
        fi
        drop="$drop|^type_url: "
    fi
    if ! yaml_has_top_key "$yaml" version_info versionInfo; then
        if ! grep -qE '^version_info: "[^"]+"' "$out"; then
            echo "fsxds wrote no version_info (expected a content hash)" >"$out.why"
            return 1
        fi
        drop="$drop|^version_info: "
    fi
    grep -vE "$drop" "$ref" >"$ref.cmp" || true
    grep -vE "$drop" "$out" >"$out.cmp" || true
    return 0
}
