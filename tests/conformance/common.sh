# SPDX-License-Identifier: MIT
# Sourced by the run-*.sh conformance scripts. Parses the common options and
# sets:
#   FSXDS REFENC PROTOC DESC DATA WORK TYPE
#
# Options (all scripts):
#   --refenc PATH      the reference encoder (required)
#   --desc PATH        the descriptor set refenc and protoc read: the build's
#                      <builddir>/daemon/fsxds.desc (required), compiled from
#                      the grpc-js-xds subproject, the same protos fsxds embeds
#   --fsxds PATH       the fsxds CLI
#   --data DIR         directory of YAML inputs
#   --protoc PATH      protoc (default: protoc on PATH)
#   --keep             keep the work directory (its path is printed)

set -uo pipefail

TYPE=envoy.service.discovery.v3.DiscoveryResponse
FSXDS= REFENC= DESC= DATA= PROTOC=protoc KEEP=0

while [ $# -gt 0 ]; do
    case $1 in
        --fsxds) FSXDS=$2; shift 2 ;;
        --refenc) REFENC=$2; shift 2 ;;
        --desc) DESC=$2; shift 2 ;;
        --data) DATA=$2; shift 2 ;;
        --protoc) PROTOC=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        *) echo "$(basename "$0"): unknown option $1" >&2; exit 2 ;;
    esac
done

[ -n "$REFENC" ] && [ -x "$REFENC" ] || { echo "error: --refenc PATH is required" >&2; exit 2; }
[ -n "$DESC" ] && [ -s "$DESC" ] || { echo "error: --desc PATH (the build's fsxds.desc) is required" >&2; exit 2; }
DESC=$(cd "$(dirname "$DESC")" && pwd)/$(basename "$DESC")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fsxds-conformance.XXXXXX")
if [ "$KEEP" = 1 ]; then
    echo "work directory: $WORK"
else
    trap 'rm -rf "$WORK"' EXIT
fi

# decode_text PB OUT: text form of a DiscoveryResponse with every Any
# expanded (refenc decode), for the diagnostics and the unknown-field check.
# Also checks that protoc itself can decode the file.
decode_text() {
    if ! "$PROTOC" --decode="$TYPE" --descriptor_set_in="$DESC" \
            <"$1" >"$2.protoc" 2>"$2.protoc.err"; then
        echo "protoc --decode failed: $(head -c 300 "$2.protoc.err")" >"$2.err"
        return 1
    fi
    if ! "$REFENC" decode "$DESC" "$TYPE" "$1" >"$2" 2>"$2.err"; then
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

# compare_bytes YAML OUT.pb DIR LABEL: is fsxds's OUT.pb, byte for byte,
# what libprotobuf makes of YAML? Writes into DIR; on a mismatch returns 1
# with the reason in DIR/why and details in DIR/detail.
#
# The reference: refenc encode (libprotobuf's JSON parser), then refenc canon
# (deterministic serialisation, Any payloads included). Top-level fields
# that fsxds fills in when the file leaves them out are checked, then given
# to refenc too (appended to a copy of the file), so the bytes compare as
# they are:
#   type_url      must be the type of the resources;
#   version_info  must be non-empty (a content hash).
# Both outputs must decode (protoc and refenc) and show no unknown field.
compare_bytes() {
    local yaml=$1 out=$2 d=$3 label=$4 t want v
    : >"$d/detail"
    if ! "$REFENC" encode "$DESC" "$TYPE" "$yaml" "$d/ref0.pb" 2>"$d/detail"; then
        echo "refenc rejects it (bad test data?)" >"$d/why"
        return 1
    fi
    if ! decode_text "$d/ref0.pb" "$d/ref0.txt"; then
        echo "cannot decode refenc's output" >"$d/why"
        cp "$d/ref0.txt.err" "$d/detail"
        return 1
    fi
    if ! decode_text "$out" "$d/out.txt"; then
        echo "cannot decode the output of $label" >"$d/why"
        cp "$d/out.txt.err" "$d/detail"
        return 1
    fi
    if unknown_fields "$d/out.txt" >"$d/detail"; then
        echo "output of $label has unknown fields" >"$d/why"
        return 1
    fi
    if unknown_fields "$d/ref0.txt" >"$d/detail"; then
        echo "refenc's output has unknown fields (bad test data?)" >"$d/why"
        return 1
    fi
    cp "$yaml" "$d/ref.yaml"
    if ! yaml_has_top_key "$yaml" type_url typeUrl; then
        t=$(sed -n 's/^type_url: "\(.*\)"$/\1/p' "$d/out.txt" | head -n 1)
        if [ -n "$t" ]; then
            want=$(sed -n 's/^  \[\([^]]*\)\] {$/\1/p' "$d/ref0.txt" | sort -u)
            if [ "$(printf '%s\n' "$want" | wc -l)" -ne 1 ] || [ "$t" != "$want" ]; then
                echo "$label filled in type_url \"$t\", which is not the type of the resources" >"$d/why"
                return 1
            fi
            printf '\ntype_url: "%s"\n' "$t" >>"$d/ref.yaml"
        fi
    fi
    if ! yaml_has_top_key "$yaml" version_info versionInfo; then
        v=$(sed -n 's/^version_info: "\(.*\)"$/\1/p' "$d/out.txt" | head -n 1)
        if [ -z "$v" ]; then
            echo "$label wrote no version_info (expected a content hash)" >"$d/why"
            return 1
        fi
        printf '\nversion_info: "%s"\n' "$v" >>"$d/ref.yaml"
    fi
    if ! "$REFENC" encode "$DESC" "$TYPE" "$d/ref.yaml" "$d/ref1.pb" 2>"$d/detail" ||
       ! "$REFENC" canon "$DESC" "$TYPE" "$d/ref1.pb" "$d/ref.pb" 2>"$d/detail"; then
        echo "refenc cannot encode the file completed with fsxds's top-level fields" >"$d/why"
        return 1
    fi
    if cmp -s "$d/ref.pb" "$out"; then
        return 0
    fi
    "$REFENC" decode "$DESC" "$TYPE" "$d/ref.pb" >"$d/ref.txt" 2>&1
    if ! diff -u --label refenc --label "$label" "$d/ref.txt" "$d/out.txt" >"$d/detail"; then
        echo "$label differs from refenc (decoded message)" >"$d/why"
        return 1
    fi
    # Same message, other bytes: show the wire structure.
    "$PROTOC" --decode_raw <"$d/ref.pb" >"$d/ref.raw" 2>&1
    "$PROTOC" --decode_raw <"$out" >"$d/out.raw" 2>&1
    {
        cmp "$d/ref.pb" "$out"
        diff -u --label "refenc (raw)" --label "$label (raw)" "$d/ref.raw" "$d/out.raw"
    } >"$d/detail" 2>&1
    echo "$label: the same message as refenc's, but other bytes" >"$d/why"
    return 1
}
