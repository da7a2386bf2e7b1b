#!/bin/bash
# SPDX-License-Identifier: MIT
# The man pages and the bash completion against the code they describe:
#  - every page formats without a warning from man/groff;
#  - every command of 'fsxds --help' has its section in fsxds(1), and every
#    option of 'fsxds COMMAND --help' is in that section; every option of
#    'fsxdsd --help' is in fsxdsd(8)'s OPTIONS; every key daemon/service/config.c
#    accepts (and every value of watch and publish_mode) is an entry of
#    fsxds.yaml(5)'s KEYS;
#  - the completion offers every command and every option, the values of
#    --publish-mode, and files or directories as each command takes them,
#    with bash-completion loaded (when installed) and without it.
# The lists come from the binaries and the sources at test time, so a new
# option or key fails this test until it is documented.
#
# Usage: run-docs.sh FSXDS FSXDSD SOURCE_ROOT COMPLETION MAN_DIR|MAN_PAGE...
# (FSXDSD may be '' when it is not built; a MAN_DIR stands for its *.[158].)
# shellcheck disable=SC2086,SC2046 # word lists are split on purpose
set -uo pipefail

if (($# < 5)); then
    echo "usage: $0 FSXDS FSXDSD SOURCE_ROOT COMPLETION MAN_DIR|MAN_PAGE..." >&2
    exit 2
fi
fsxds=$(realpath "$1")
fsxdsd=${2:+$(realpath "$2")}
src=$3
completion=$(realpath "$4")
shift 4
pages=()
for arg; do
    if [[ -d $arg ]]; then
        for p in "$arg"/*.[158]; do
            [[ -e $p ]] && pages+=("$p")
        done
    else
        pages+=("$arg")
    fi
done

export LC_ALL=C.UTF-8
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

for tool in groff man col; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP: $tool is not installed (apt-get install groff-base man-db bsdextrautils)"
        exit 77
    fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

page_path() { # NAME.SECTION -> the page given on the command line
    local p
    for p in "${pages[@]}"; do
        [[ $(basename "$p") == "$1" ]] && { printf '%s\n' "$p"; return 0; }
    done
    return 1
}

# ---- formatting ----
for page in "${pages[@]}"; do
    name=$(basename "$page")
    [[ -r $page ]] || { fail "$page: missing"; continue; }
    if grep -nE '@[A-Za-z_]+@' "$page"; then
        fail "$name: unsubstituted @VARIABLE@ above"
    fi
    out=$(MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 "$page" 2>&1 >/dev/null)
    [[ -z $out ]] || fail "$name: man --warnings:"$'\n'"$out"
    out=$(MANROFFSEQ='' MANWIDTH=80 man --warnings=w -E UTF-8 -l -Tutf8 "$page" 2>&1 >/dev/null)
    [[ -z $out ]] || fail "$name: man --warnings=w (every groff warning, 80 columns):"$'\n'"$out"
    out=$(groff -man -ww -z -Tutf8 "$page" 2>&1)
    [[ -z $out ]] || fail "$name: groff -man -ww -z:"$'\n'"$out"
    # plain text at 80 columns, as man shows it
    MANWIDTH=80 MAN_KEEP_FORMATTING='' man -E UTF-8 -l "$page" 2>/dev/null | col -bx >"$tmp/$name.txt"
    [[ -s $tmp/$name.txt ]] || fail "$name: renders to nothing"
done

# The lines of section TITLE (a .SH heading) of a rendered page.
section() {
    awk -v t="$2" '/^[^ ]/ { f = ($0 == t); next } f' "$tmp/$1.txt"
}
# The lines of subsection TITLE (a .SS heading, 3 spaces in) of a rendered page.
subsection() {
    awk -v t="   $2" '/^[^ ]/ || /^   [^ ]/ { f = ($0 == t); next } f' "$tmp/$1.txt"
}
# Whether OPTION occurs as a word (not inside a longer option) on stdin.
has_option() {
    grep -qE -- "(^|[^-[:alnum:]_])$1([^-[:alnum:]_]|\$)"
}
# The options of a --help text on stdin: every -x and --xyz that starts a
# line of its Options: section.
help_options() {
    awk '/^Options:/ { f = 1; next } f && /^$/ { exit } f' |
        grep -oE '^ +(-[[:alnum:]], )?--[[:alnum:]][-[:alnum:]]*' | grep -oE -- '-{1,2}[[:alnum:]][-[:alnum:]]*'
}

# ---- fsxds(1) ----
commands=$("$fsxds" --help | awk '/^Commands:/ { f = 1; next } f && /^$/ { exit } f { print $1 }')
[[ -n $commands ]] || fail "no commands found in 'fsxds --help'"
if page=$(page_path fsxds.1); then
    for cmd in $commands; do
        text=$(subsection fsxds.1 "fsxds $cmd")
        if [[ -z $text ]]; then
            fail "fsxds.1: no subsection \"fsxds $cmd\" for the command $cmd"
            continue
        fi
        section fsxds.1 SYNOPSIS | grep -q "fsxds $cmd" || fail "fsxds.1: $cmd is not in SYNOPSIS"
        opts=$("$fsxds" "$cmd" --help | help_options)
        [[ -n $opts ]] || fail "'fsxds $cmd --help' lists no options"
        for opt in $opts; do
            has_option "$opt" <<<"$text" || fail "fsxds.1: option $opt of fsxds $cmd is not in its subsection"
        done
    done
    for opt in --help --version; do
        section fsxds.1 OPTIONS | has_option "$opt" || fail "fsxds.1: $opt is not in OPTIONS"
    done
else
    fail "no fsxds.1 among the pages"
fi

# ---- fsxdsd(8) ----
if page=$(page_path fsxdsd.8); then
    if [[ -z $fsxdsd ]]; then
        echo "note: fsxdsd is not built: its options are not checked"
    else
        opts=$("$fsxdsd" --help | help_options)
        [[ -n $opts ]] || fail "'fsxdsd --help' lists no options"
        for opt in $opts; do
            section fsxdsd.8 OPTIONS | has_option "$opt" || fail "fsxdsd.8: option $opt is not in OPTIONS"
        done
    fi
    for field in $(grep -oE 'FSXDS_[A-Z]+=' "$src/daemon/basic/logging.c" | tr -d = | sort -u); do
        grep -qw -- "$field" "$tmp/fsxdsd.8.txt" || fail "fsxdsd.8: journal field $field is not documented"
    done
else
    fail "no fsxdsd.8 among the pages"
fi

# ---- fsxds.yaml(5) ----
# parse_key's streq(key, "K"); in a function that names its keys
# xasprintf("PARENT.%s", k->str), streq(k->str, "K") is PARENT.K; and
# qualified names given literally ("require_signed_sources.ca").
keys=$(awk '
    /^[a-z].*\(/ { parent = "" }
    match($0, /xasprintf\("[a-z_]+\.%s", k->str\)/) {
        s = substr($0, RSTART + 11); parent = substr(s, 1, index(s, ".%s") - 1)
    }
    {
        line = $0
        while (match(line, /streq\(key, "[a-z_]+"\)/)) {
            s = substr(line, RSTART + 12, RLENGTH - 14); print s; line = substr(line, RSTART + RLENGTH)
        }
        line = $0
        while (parent != "" && match(line, /streq\(k->str, "[a-z_]+"\)/)) {
            s = substr(line, RSTART + 15, RLENGTH - 17); print parent "." s; line = substr(line, RSTART + RLENGTH)
        }
        line = /^#/ ? "" : $0
        while (match(line, /"[a-z_]+\.[a-z_]+"/)) {
            print substr(line, RSTART + 1, RLENGTH - 2); line = substr(line, RSTART + RLENGTH)
        }
    }' "$src/daemon/service/config.c" | sort -u)
[[ $keys == *source_dir* && $keys == *signing.key* && $keys == *require_signed_sources.ca* ]] ||
    fail "could not read the configuration keys from $src/daemon/service/config.c (got: ${keys//$'\n'/ })"
enum_values() { # TABLE FILE: the strings of a [X] = "value" table
    awk -v t="$1" 'index($0, t) && /\[/ { f = 1; next } f && /^};/ { exit } f' "$2" | grep -oE '"[a-z_]+"' | tr -d '"'
}
if page=$(page_path fsxds.yaml.5); then
    tags=$(section fsxds.yaml.5 KEYS | awk '/^       [^ ]/ { sub(/^       /, ""); print }')
    for key in $keys; do
        awk -v k="$key:" 'index($0, k) == 1 { found = 1 } END { exit !found }' <<<"$tags" ||
            fail "fsxds.yaml.5: key $key (daemon/service/config.c) has no entry in KEYS"
    done
    for v in $(enum_values watch_backend_table "$src/daemon/service/watch.c"); do
        grep -E '^watch:' <<<"$tags" | has_option "$v" || fail "fsxds.yaml.5: watch: $v is not documented"
    done
    for v in $(enum_values publish_mode_table "$src/daemon/node/layout.c"); do
        grep -E '^publish_mode:' <<<"$tags" | has_option "$v" || fail "fsxds.yaml.5: publish_mode: $v is not documented"
    done
else
    fail "no fsxds.yaml.5 among the pages"
fi

# ---- bash completion ----
modes=bare
bash_completion=/usr/share/bash-completion/bash_completion
if [[ -r $bash_completion ]]; then
    modes="full bare"
else
    echo "note: $bash_completion is missing: testing the completion without bash-completion only"
fi
publish_modes=$(enum_values publish_mode_table "$src/daemon/node/layout.c")
[[ -n $publish_modes ]] || fail "could not read the publish modes from $src/daemon/node/layout.c"

# a directory to complete in
work=$tmp/work
mkdir -p "$work/tree/common" "$work/tree/nodes/edge" "$work/out/node-a" "$work/out/node-b" "$work/out/.store"
touch "$work/a.yaml" "$work/b.pb" "$work/c.txt"
printf 'output_dir: "%s/out"  # where fsxdsd publishes\n' "$work" >"$work/fsxds.yaml"

# complete WORDS...: the candidates (one a line) for the last word.
cat >"$tmp/complete.sh" <<'EOF'
[[ $MODE == full ]] && . "$BASH_COMPLETION"
. "$COMPLETION" || exit 3
declare -F _fsxds >/dev/null || { echo "_fsxds is not defined" >&2; exit 3; }
[[ $(complete -p fsxds 2>/dev/null) == *"-F _fsxds"*" fsxds" ]] || { echo "not registered for fsxds" >&2; exit 3; }
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
_fsxds fsxds "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}"
EOF
complete_words() {
    (cd "$work" && MODE=$mode BASH_COMPLETION=$bash_completion COMPLETION=$completion \
        bash --norc --noprofile "$tmp/complete.sh" "$@")
}
# expect WORDS... => WANTED... [! UNWANTED...]
expect() {
    local words=() want=() nope=() got x
    while [[ $1 != '=>' ]]; do words+=("$1"); shift; done
    shift
    while (($#)) && [[ $1 != ! ]]; do want+=("$1"); shift; done
    (($#)) && shift
    nope=("$@")
    got=$(complete_words "${words[@]}" 2>&1) || { fail "[$mode] complete '${words[*]}': $got"; return; }
    for x in "${want[@]}"; do
        grep -qxF -- "$x" <<<"$got" || fail "[$mode] completing '${words[*]}' does not offer $x (got: ${got//$'\n'/ })"
    done
    for x in "${nope[@]}"; do
        grep -qxF -- "$x" <<<"$got" && fail "[$mode] completing '${words[*]}' offers $x (got: ${got//$'\n'/ })"
    done
}

for mode in $modes; do
    expect fsxds ver '=>' verify
    expect fsxds "" '=>' $commands
    expect fsxds - '=>' --help --version
    for cmd in $commands; do
        expect fsxds "${cmd:0:3}" '=>' "$cmd"
        expect fsxds "$cmd" - '=>' $("$fsxds" "$cmd" --help | help_options)
    done
    expect fsxds verify -- '=>' --ca --help
    expect fsxds compile --publish-mode "" '=>' $publish_modes
    expect fsxds bootstrap --publish-mode "" '=>' $publish_modes
    expect fsxds compile "" '=>' a.yaml tree ! b.pb c.txt
    expect fsxds compile --node edge "" '=>' tree ! a.yaml b.pb
    expect fsxds compile tree --node "" '=>' edge
    expect fsxds compile a.yaml -o "" '=>' b.pb ! a.yaml
    expect fsxds check "" '=>' a.yaml tree ! b.pb
    expect fsxds decode "" '=>' b.pb tree ! a.yaml
    expect fsxds decode --schema "" '=>' b.pb ! a.yaml
    expect fsxds verify "" '=>' tree out ! a.yaml b.pb
    expect fsxds sign --key a.yaml --cert a.yaml "" '=>' tree ! a.yaml
    expect fsxds status --config "" '=>' a.yaml fsxds.yaml ! b.pb
    expect fsxds forget --config fsxds.yaml "" '=>' node-a node-b ! .store
    expect fsxds diff --config fsxds.yaml node-a "" '=>' node-a node-b ! .store
    expect fsxds bootstrap --config fsxds.yaml --node "" '=>' node-a node-b
done

if ((failures > 0)); then
    echo "$failures failure(s)"
    exit 1
fi
echo "ok: ${#pages[@]} pages, $(wc -w <<<"$commands") commands, $(wc -w <<<"$keys") configuration keys, completion ($modes)"
