#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The administration commands of the fsxds CLI as an operator runs them
# against a daemon's configuration: status (the table and --json of
# status.json), forget (what it refuses, what it removes, symlinks never
# followed), allow-removal and bootstrap (the exact fragment, the inotify
# warning, a node fsxdsd does not know refused), the configuration file
# named with -v (and a warning when there is none), "did you mean" for a
# mistyped key. Each test gets a fresh mkdtemp tree and a config pointing at it.
# Usage: run-cli-admin.sh FSXDS SOURCE_ROOT
set -u
fsxds=$(realpath "$1")
root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
check() { # name, then a command that must succeed
  local name=$1
  shift
  rm -rf "$tmp/t"
  mkdir -p "$tmp/t/src/nodes" "$tmp/t/out/.fsxds" "$tmp/t/state"
  if "$@" >"$tmp/check.out" 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    sed 's/^/  /' "$tmp/check.out"
  fi
}
t=$tmp/t
cfg=$tmp/t/fsxds.yaml
write_config() { # extra YAML lines on stdin are appended
  {
    echo "source_dir: $t/src"
    echo "output_dir: $t/out"
    echo "state_dir: $t/state"
    cat
  } >"$cfg"
}
expect_rc() { # rc, then a command; its stdout/stderr go to $t/stdout, $t/stderr
  local want=$1
  shift
  "$@" >"$t/stdout" 2>"$t/stderr"
  local rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "exit $rc, expected $want: $*"
    sed 's/^/  stdout: /' "$t/stdout"
    sed 's/^/  stderr: /' "$t/stderr"
    return 1
  fi
}

t_help() {
  for c in status forget allow-removal bootstrap; do
    "$fsxds" $c --help | grep -q "^Usage: fsxds $c" || { echo "no usage for $c"; return 1; }
    "$fsxds" --help | grep -q "^  $c " || { echo "$c not in fsxds --help"; return 1; }
  done
  "$fsxds" bootstrap --help | grep -q -- '--publish-mode' &&
    "$fsxds" status --help | grep -q -- '--json' &&
    "$fsxds" forget --help | grep -q -- '--config'
}

t_config_errors() {
  expect_rc 2 "$fsxds" status --config "$t/missing.yaml" || return 1
  grep -q "missing.yaml" "$t/stderr" || return 1
  printf 'output_dir: %s/out\nfrobnicate: 1\n' "$t" >"$cfg"
  for cmd in "status" "forget edge-1" "allow-removal edge-1" "bootstrap --node edge-1"; do
    expect_rc 2 "$fsxds" $cmd --config "$cfg" || return 1
    grep -q "fsxds.yaml:2:1: error: unknown key \"frobnicate\"" "$t/stderr" || { cat "$t/stderr"; return 1; }
  done
  [ ! -e "$t/state/allow-removal" ] || return 1
  expect_rc 2 "$fsxds" status --config "$cfg" extra || return 1
  expect_rc 2 "$fsxds" bootstrap --config "$cfg" || return 1           # no --node
  expect_rc 2 "$fsxds" forget --config "$cfg" || return 1
  expect_rc 2 "$fsxds" bootstrap --publish-mode copy --node a --config "$cfg" || return 1
  # the shipped configuration (every key commented out) gives the defaults
  "$fsxds" bootstrap --config "$root/conf/fsxds.yaml" --node edge-1 --force 2>/dev/null |
    grep -qx '      path: "/run/fsxds/edge-1/cds/cds.pb"' || return 1
  # without --config and without the default file: the built-in defaults
  if [ ! -e "$default_config" ]; then
    "$fsxds" bootstrap --node edge-1 --force 2>/dev/null | grep -qx '      path: "/run/fsxds/edge-1/lds/lds.pb"' || return 1
  fi
}

t_config_did_you_mean() {
  # a typo of a key names the key, at its line and column
  printf 'output_dir: %s/out\nsorce_dir: %s/src\nsigning: {kye: /k, cert: /c}\n' "$t" "$t" >"$cfg"
  expect_rc 2 "$fsxds" status --config "$cfg" || return 1
  grep -qxF "$cfg:2:1: error: unknown key \"sorce_dir\" (did you mean \"source_dir\"?)" "$t/stderr" || { cat "$t/stderr"; return 1; }
  grep -qxF "$cfg:3:11: error: signing.kye: unknown key \"kye\" (did you mean \"key\"?)" "$t/stderr" || { cat "$t/stderr"; return 1; }
}

# The default configuration file of this build, from its own help.
default_config=$("$fsxds" status --help | sed -n 's/.*(default \(\/.*fsxds\.yaml\)).*/\1/p')

t_config_named() {
  [ -n "$default_config" ] || { echo "no default configuration in 'fsxds status --help'"; return 1; }
  write_config </dev/null
  mkdir -p "$t/src/nodes/edge-1"
  # -v names the file read, before or after the command, and for every verb that reads one
  for cmd in "-v status" "status -v" "-v bootstrap --node edge-1" "bootstrap -v --node edge-1" "--verbose forget gone" \
    "-v allow-removal edge-1"; do
    "$fsxds" $cmd --config "$cfg" >/dev/null 2>"$t/err"
    grep -qxF "fsxds: configuration: $cfg" "$t/err" || { echo "fsxds $cmd:"; cat "$t/err"; return 1; }
  done
  "$fsxds" check -v --config "$cfg" "$t/src" >/dev/null 2>"$t/err"
  grep -qxF "fsxds: configuration: $cfg" "$t/err" || { cat "$t/err"; return 1; }
  # without -v: not a word about it
  "$fsxds" bootstrap --config "$cfg" --node edge-1 >/dev/null 2>"$t/err"
  ! grep -q 'configuration' "$t/err" || { cat "$t/err"; return 1; }
  # no configuration file at all: the verbs on the daemon's directories warn,
  # naming the file they looked for and the directories they use instead
  if [ ! -e "$default_config" ]; then
    expect_rc 0 "$fsxds" bootstrap --node edge-1 --force || return 1
    grep -qF "fsxds: warning: no $default_config: using the built-in defaults (source_dir ${default_config%/fsxds.yaml}/conf.d, output_dir /run/fsxds, state_dir /var/lib/fsxds)" "$t/stderr" ||
      { cat "$t/stderr"; return 1; }
    "$fsxds" -v status >/dev/null 2>"$t/err"
    grep -qF "fsxds: warning: no $default_config: using the built-in defaults" "$t/err" || { cat "$t/err"; return 1; }
    # the file commands say so under -v only
    "$fsxds" -v decode "$t/missing.pb" 2>"$t/err"
    grep -qxF "fsxds: no configuration file (no $default_config): schema: and envoy_version: take their defaults" "$t/err" ||
      { cat "$t/err"; return 1; }
    "$fsxds" decode "$t/missing.pb" 2>"$t/err"
    ! grep -q 'configuration' "$t/err" || { cat "$t/err"; return 1; }
  fi
}

# A status file in a key order and spacing of jq's, not the daemon's.
make_status() {
  jq -n --arg src "$t/src" '{
    nodes: {
      "edge-2": {error: {message: "expected an address like \"10.0.0.1\"", count: 3, column: 20, line: 7,
                         path: "resources[0].address", file: ($src + "/nodes/edge-2/lds.yaml"), hint: "unknown key"},
                 clusters: 1, listeners: 1, files: 4, published_usec: 1732500000000000, generation: 11,
                 removal_blocked: false, future: [1, {"x": null}, "\u00e9\\u"]},
      "edge-1": {removal_blocked: false, error: null, generation: 12, published_usec: 1732600000000000,
                 files: 5, listeners: 1, clusters: 2}
    },
    output_dir: "/run/fsxds", source_dir: $src, publish_mode: "watched_directory", backend: "inotify",
    time_usec: 1732600000000000, generation: 12, version: 1}' >"$t/out/.fsxds/status.json"
}

t_status_table() {
  write_config </dev/null
  make_status
  expect_rc 0 "$fsxds" status --config "$cfg" || return 1
  local out=$t/stdout
  head -n1 "$out" | grep -q 'generation 12.*inotify.*watched_directory' || { echo "header:"; cat "$out"; return 1; }
  # the rebuild and publish times in local time
  local when; when=$(date -d @1732600000 '+%Y-%m-%d %H:%M:%S')
  head -n1 "$out" | grep -qF "$when" || { echo "no $when in the header"; return 1; }
  grep -Eq "^edge-1 +12 +$when +5 +1 +2 +ok$" "$out" || { echo "edge-1 row:"; cat "$out"; return 1; }
  grep -Eq "^edge-2 +11 +.* +4 +1 +1 +$t/src/nodes/edge-2/lds.yaml:7:20: .*expected an address like \"10.0.0.1\" \(3 errors\)$" "$out" ||
    { echo "edge-2 row:"; cat "$out"; return 1; }
  # a status that names no writer (an older fsxdsd): unknown, said so
  sed -n 2p "$out" | grep -q '^fsxdsd: whether it runs is unknown (the status does not name its writer)' ||
    { echo "line 2:"; cat "$out"; return 1; }
  # rows sorted by node id, after a title line
  [ "$(sed -n '4p;5p' "$out" | cut -d' ' -f1 | tr '\n' ' ')" = "edge-1 edge-2 " ] || { cat "$out"; return 1; }
  # a node whose removal the guard blocked says how to allow it
  jq -c '.nodes["edge-1"].removal_blocked = true' "$t/out/.fsxds/status.json" >"$t/s" && mv "$t/s" "$t/out/.fsxds/status.json"
  "$fsxds" status --config "$cfg" | grep -q '^edge-1 .*fsxds allow-removal edge-1' || return 1
}

# "daemon" as a hand-edited file may have it: whatever the numbers, fsxds
# status neither overflows (the sanitizer build runs this) nor calls a
# process running that is not; the pid of this very shell with another
# start time is a pid used again
t_status_daemon_odd() {
  write_config </dev/null
  local d; for d in '{"pid": -5}' '{"pid": 9223372036854775807, "start_ticks": 1}' \
      '{"pid": '$$', "boot_id": null, "start_ticks": 1, "started_usec": -9223372036854775808}' \
      '{"pid": '$$', "start_ticks": "x", "started_usec": 9223372036854775807}' '"not an object"'; do
    make_status
    jq --argjson d "$d" '.daemon = $d | .written_usec = -9223372036854775808 | .time_usec = 9223372036854775807' \
      "$t/out/.fsxds/status.json" >"$t/s" && mv "$t/s" "$t/out/.fsxds/status.json"
    "$fsxds" status --config "$cfg" >"$t/stdout" 2>"$t/stderr"
    local rc=$?
    { [ "$rc" = 0 ] || [ "$rc" = 3 ]; } && ! grep -q 'runtime error' "$t/stderr" || { echo "daemon $d: exit $rc"; cat "$t/stdout" "$t/stderr"; return 1; }
    sed -n 2p "$t/stdout" | grep -Eq '^fsxdsd(: whether it runs is unknown| is NOT running)' || { echo "daemon $d:"; cat "$t/stdout"; return 1; }
  done
}

t_status_json() {
  write_config </dev/null
  make_status
  printf '  \n' >>"$t/out/.fsxds/status.json" # byte-identical, trailing whitespace included
  "$fsxds" status --config "$cfg" --json >"$t/json.out" || return 1
  cmp "$t/out/.fsxds/status.json" "$t/json.out"
}

t_status_missing_and_bad() {
  write_config </dev/null
  expect_rc 2 "$fsxds" status --config "$cfg" || return 1
  grep -qF "fsxdsd has not published into $t/out yet" "$t/stderr" || return 1
  expect_rc 2 "$fsxds" status --config "$cfg" --json || return 1
  grep -qF "fsxdsd has not published into $t/out yet" "$t/stderr" || return 1
  # broken JSON: bad input, with the place
  printf '{"version": 1,\n "nodes": {"a": {"generation": 1,}}}\n' >"$t/out/.fsxds/status.json"
  expect_rc 1 "$fsxds" status --config "$cfg" || return 1
  grep -qF "$t/out/.fsxds/status.json:2:34: error: expected a key" "$t/stderr" || { cat "$t/stderr"; return 1; }
  # a version this fsxds does not know
  echo '{"version": 2, "nodes": {}}' >"$t/out/.fsxds/status.json"
  expect_rc 1 "$fsxds" status --config "$cfg" || return 1
  grep -q "version 2" "$t/stderr" || return 1
  # deep nesting is refused, not a stack overflow
  { printf '{"version":1,"x":'; printf '[%.0s' $(seq 10000); } >"$t/out/.fsxds/status.json"
  expect_rc 1 "$fsxds" status --config "$cfg" || return 1
  # no nodes yet
  echo '{"version":1,"generation":0,"nodes":{}}' >"$t/out/.fsxds/status.json"
  expect_rc 0 "$fsxds" status --config "$cfg" || return 1
  grep -q '^no nodes$' "$t/stdout"
}

# Published output and state of a node, with files in subdirectories.
plant_node() { # node
  mkdir -p "$t/out/$1/lds" "$t/out/$1/eds/..2024_01" "$t/state/nodes/$1/gen"
  echo x >"$t/out/$1/lds/lds.pb"
  echo x >"$t/out/$1/eds/..2024_01/a.pb"
  ln -s ..2024_01 "$t/out/$1/eds/..data"
  ln -s ..data/a.pb "$t/out/$1/eds/a.pb"
  echo x >"$t/state/nodes/$1/gen/lds.pb"
}

t_forget_refuses() {
  printf 'nodes: [edge-listed]\n' | write_config
  mkdir -p "$t/src/nodes/edge-tree"
  plant_node edge-tree
  plant_node edge-listed
  expect_rc 1 "$fsxds" forget --config "$cfg" edge-tree || return 1
  grep -qF "$t/src/nodes/edge-tree" "$t/stderr" || return 1
  expect_rc 1 "$fsxds" forget --config "$cfg" edge-listed || return 1
  grep -q "nodes:" "$t/stderr" || return 1
  [ -e "$t/out/edge-tree/lds/lds.pb" ] && [ -e "$t/state/nodes/edge-tree/gen/lds.pb" ] &&
    [ -e "$t/out/edge-listed/lds/lds.pb" ] || return 1
  # unknown node: nothing to remove
  expect_rc 1 "$fsxds" forget --config "$cfg" edge-unknown || return 1
  grep -q "nothing to forget" "$t/stderr" || return 1
  # invalid ids are usage errors, and nothing is touched
  expect_rc 2 "$fsxds" forget --config "$cfg" .. || return 1
  expect_rc 2 "$fsxds" forget --config "$cfg" "../out" || return 1
  [ -d "$t/out/edge-tree" ]
}

t_forget_removes() {
  write_config </dev/null
  plant_node edge-gone
  plant_node edge-stays
  touch "$t/out/.fsxds/status.json"
  mkdir -p "$t/state/allow-removal" && touch "$t/state/allow-removal/edge-gone"
  # a request a stopped fsxdsd did not take goes too
  mkdir -p "$t/state/forget" && touch "$t/state/forget/edge-gone"
  expect_rc 0 "$fsxds" forget --config "$cfg" edge-gone || return 1
  [ ! -e "$t/out/edge-gone" ] && [ ! -e "$t/state/nodes/edge-gone" ] &&
    [ ! -e "$t/state/allow-removal/edge-gone" ] && [ ! -e "$t/state/forget/edge-gone" ] || { find "$t"; return 1; }
  grep -q "fsxdsd forgot" "$t/stdout" && return 1 # no fsxdsd ran
  grep -qF "removed $t/out/edge-gone" "$t/stdout" && grep -qF "removed $t/state/nodes/edge-gone" "$t/stdout" || return 1
  # the other node and the status file are untouched
  [ -e "$t/out/edge-stays/eds/a.pb" ] && [ -e "$t/state/nodes/edge-stays/gen/lds.pb" ] && [ -e "$t/out/.fsxds/status.json" ] || return 1
  # a second forget finds nothing
  expect_rc 1 "$fsxds" forget --config "$cfg" edge-gone
}

# While an fsxdsd holds state_dir's shared lock, forget asks it (through
# state_dir/forget/, see tests/integration/daemon/admin.py) instead of
# removing anything itself; what neither the disk nor its status knows is
# refused at once, without a request.
t_forget_daemon_lock() {
  write_config </dev/null
  mkdir -p "$t/state"
  echo '{"version":1,"generation":1,"nodes":{}}' >"$t/out/.fsxds/status.json"
  # what fsxdsd does at start (statedir.h): a shared flock on state_dir
  python3 -c 'import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_SH)
print("locked", flush=True)
time.sleep(120)' "$t/state" >"$t/locked" &
  local holder=$! ok=0
  for _ in $(seq 1500); do grep -q locked "$t/locked" && break; sleep 0.02; done
  expect_rc 1 "$fsxds" forget --config "$cfg" edge-unknown || ok=1
  grep -q "nothing to forget.*the running fsxdsd does not know it" "$t/stderr" || { cat "$t/stderr"; ok=1; }
  [ -z "$(ls -A "$t/state/forget" 2>/dev/null)" ] || { ls "$t/state/forget"; ok=1; }
  kill "$holder"
  wait "$holder" 2>/dev/null
  return $ok
}

t_forget_symlinks() {
  write_config </dev/null
  mkdir -p "$tmp/outside/sub"
  echo keep >"$tmp/outside/precious"
  echo keep >"$tmp/outside/sub/precious"
  plant_node edge-a
  # planted inside the node directory: a symlink to a directory outside
  ln -s "$tmp/outside" "$t/out/edge-a/lds/evil"
  ln -s "$tmp/outside" "$t/state/nodes/edge-a/evil"
  # the node directory itself a symlink to the outside directory
  ln -s "$tmp/outside" "$t/out/edge-b"
  expect_rc 0 "$fsxds" forget --config "$cfg" edge-a || return 1
  expect_rc 0 "$fsxds" forget --config "$cfg" edge-b || return 1
  local ok=0
  [ ! -e "$t/out/edge-a" ] && [ ! -L "$t/out/edge-b" ] && [ ! -e "$t/state/nodes/edge-a" ] &&
    [ "$(cat "$tmp/outside/precious")" = keep ] && [ "$(cat "$tmp/outside/sub/precious")" = keep ] || ok=1
  [ $ok -eq 0 ] || find "$t" "$tmp/outside"
  rm -rf "$tmp/outside"
  return $ok
}

t_allow_removal() {
  write_config </dev/null
  # a node with no output and no last good copy: nothing to remove, refused
  expect_rc 1 "$fsxds" allow-removal --config "$cfg" edge-1 || return 1
  grep -qF "fsxdsd has nothing of node edge-1 to remove: no output in $t/out and no last good copy in $t/state/nodes" "$t/stderr" ||
    { cat "$t/stderr"; return 1; }
  mkdir -p "$t/src/nodes/edge-1"
  expect_rc 1 "$fsxds" allow-removal --config "$cfg" edge-1 || return 1
  grep -q "it is in the tree, not published yet" "$t/stderr" || { cat "$t/stderr"; return 1; }
  [ ! -e "$t/state/allow-removal/edge-1" ] || return 1
  # published: known
  mkdir -p "$t/out/edge-1"
  expect_rc 0 "$fsxds" allow-removal --config "$cfg" edge-1 || return 1
  local f=$t/state/allow-removal/edge-1
  [ -f "$f" ] || return 1
  [ "$(stat -c %a "$f")" = 640 ] && [ "$(stat -c %a "$t/state/allow-removal")" = 750 ] || { stat "$f"; return 1; }
  grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' "$f" || { cat "$f"; return 1; }
  grep -qF "$f" "$t/stdout" || return 1
  # when it expires: one hour from now, in local time
  grep -Eq "used up by that generation, needed or not, and expires unused at [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}$" "$t/stdout" ||
    { cat "$t/stdout"; return 1; }
  # the state directory is made when missing; again is fine
  rm -rf "$t/state"
  "$fsxds" allow-removal --config "$cfg" edge-1 >/dev/null && "$fsxds" allow-removal --config "$cfg" edge-1 >/dev/null &&
    [ -f "$f" ] || return 1
  [ "$(ls -A "$t/state/allow-removal")" = edge-1 ] || return 1 # no temporary names left
  # a last good copy alone is known too (after a reboot, before the first publish)
  rm -rf "$t/out/edge-1" "$t/src/nodes/edge-1"
  mkdir -p "$t/state/nodes/edge-2"
  expect_rc 0 "$fsxds" allow-removal --config "$cfg" edge-2 || return 1
  expect_rc 2 "$fsxds" allow-removal --config "$cfg" ../x || return 1
  expect_rc 2 "$fsxds" allow-removal --config "$cfg" || return 1
}

# fsxds status shows an armed allowance and when it expires.
t_status_allowance() {
  write_config </dev/null
  make_status
  jq -c '.nodes["edge-1"].allow_removal = {armed: true, expires_usec: 1732603600000000} |
         .nodes["edge-2"].allow_removal = null' "$t/out/.fsxds/status.json" >"$t/s" && mv "$t/s" "$t/out/.fsxds/status.json"
  expect_rc 0 "$fsxds" status --config "$cfg" || return 1
  local when; when=$(date -d @1732603600 '+%Y-%m-%d %H:%M:%S')
  grep -Eq "^edge-1 .* removal allowed once, until its next generation or $when; ok$" "$t/stdout" || { cat "$t/stdout"; return 1; }
  grep -q "^edge-2 .*removal allowed" "$t/stdout" && { cat "$t/stdout"; return 1; }
  return 0
}

expected_bootstrap() { # out_dir node watched(0/1)
  local d=$1/$2
  printf 'node:\n  id: "%s"\ndynamic_resources:\n' "$2"
  for type in cds lds; do
    printf '  %s_config:\n    resource_api_version: V3\n    path_config_source:\n      path: "%s/%s/%s.pb"\n' "$type" "$d" "$type" "$type"
    [ "$3" = 1 ] && printf '      watched_directory:\n        path: "%s/%s"\n' "$d" "$type"
  done
}

t_bootstrap_yaml() {
  write_config </dev/null
  mkdir -p "$t/src/nodes/edge-1"
  "$fsxds" bootstrap --config "$cfg" --node edge-1 >"$t/b.yaml" || return 1
  expected_bootstrap "$t/out" edge-1 0 | diff -u - "$t/b.yaml" || return 1
  "$fsxds" bootstrap --config "$cfg" --node edge-1 --publish-mode watched_directory >"$t/b.yaml" || return 1
  expected_bootstrap "$t/out" edge-1 1 | diff -u - "$t/b.yaml" || return 1
  # the mode comes from the config, and --publish-mode overrides it
  printf 'publish_mode: watched_directory\n' | write_config
  "$fsxds" bootstrap --config "$cfg" --node edge-1 | diff -u <(expected_bootstrap "$t/out" edge-1 1) - || return 1
  "$fsxds" bootstrap --config "$cfg" --node edge-1 --publish-mode rename | diff -u <(expected_bootstrap "$t/out" edge-1 0) - || return 1
  expect_rc 2 "$fsxds" bootstrap --config "$cfg" --node ../edge-1
}

t_bootstrap_json() {
  write_config </dev/null
  mkdir -p "$t/src/nodes/edge-1"
  for mode in rename watched_directory; do
    "$fsxds" bootstrap --config "$cfg" --node edge-1 --json --publish-mode $mode >"$t/b.json" || return 1
    python3 -c 'import json,sys; json.load(sys.stdin)' <"$t/b.json" || return 1
    python3 - "$t/b.json" "$t/out/edge-1" "$mode" <<'EOF' || return 1
import json, sys
b = json.load(open(sys.argv[1]))
d, mode = sys.argv[2], sys.argv[3]
want = {"node": {"id": "edge-1"}, "dynamic_resources": {}}
for t in ("cds", "lds"):
    pcs = {"path": f"{d}/{t}/{t}.pb"}
    if mode == "watched_directory":
        pcs["watched_directory"] = {"path": f"{d}/{t}"}
    want["dynamic_resources"][t + "_config"] = {"resource_api_version": "V3", "path_config_source": pcs}
assert b == want, (b, want)
EOF
  done
}

t_bootstrap_inotify() {
  write_config </dev/null
  mkdir -p "$t/src/nodes/edge-1"
  mkdir -p "$t/proc"
  export FSXDS_PROC_SYS_FS_INOTIFY=$t/proc
  echo 3 >"$t/proc/max_user_instances"
  # not published yet: the count is unknown
  "$fsxds" bootstrap --config "$cfg" --node edge-1 2>"$t/err" >/dev/null || return 1
  grep -q "node edge-1 has not been published into $t/out yet.*unknown" "$t/err" || { cat "$t/err"; return 1; }
  # rename mode: 5 eds files and one rds file, and names that are not subscriptions
  mkdir -p "$t/out/edge-1/lds" "$t/out/edge-1/cds" "$t/out/edge-1/eds" "$t/out/edge-1/rds"
  touch "$t/out/edge-1/lds/lds.pb" "$t/out/edge-1/cds/cds.pb" "$t/out/edge-1/rds/r.pb" \
    "$t/out/edge-1/eds/"{a,b,c,d,e}.pb "$t/out/edge-1/eds/.a.pb.tmp" "$t/out/edge-1/eds/notes.txt"
  "$fsxds" bootstrap --config "$cfg" --node edge-1 2>"$t/err" >"$t/b.yaml" || return 1
  expected_bootstrap "$t/out" edge-1 0 | diff -u - "$t/b.yaml" || return 1
  grep -qF 'warning: node edge-1 has 8 path subscriptions (2 + 1 rds + 5 eds); the host allows 3 inotify instances per user (fs.inotify.max_user_instances)' "$t/err" ||
    { cat "$t/err"; return 1; }
  echo 1000 >"$t/proc/max_user_instances"
  "$fsxds" bootstrap --config "$cfg" --node edge-1 2>"$t/err" >/dev/null || return 1
  [ ! -s "$t/err" ] || { cat "$t/err"; return 1; }
  # watched_directory mode: the *.pb symlinks count, not ..data or the generation directory
  echo 3 >"$t/proc/max_user_instances"
  rm -rf "$t/out/edge-1/eds" "$t/out/edge-1/rds"
  mkdir -p "$t/out/edge-1/eds/..2024_11_26_07_00_00.1"
  ln -s ..2024_11_26_07_00_00.1 "$t/out/edge-1/eds/..data"
  for f in a b c d e; do
    touch "$t/out/edge-1/eds/..2024_11_26_07_00_00.1/$f.pb"
    ln -s "..data/$f.pb" "$t/out/edge-1/eds/$f.pb"
  done
  "$fsxds" bootstrap --config "$cfg" --node edge-1 --publish-mode watched_directory 2>"$t/err" >/dev/null || return 1
  grep -qF 'warning: node edge-1 has 7 path subscriptions (2 + 5 eds); the host allows 3 inotify' "$t/err" || { cat "$t/err"; return 1; }
  echo 1000 >"$t/proc/max_user_instances"
  "$fsxds" bootstrap --config "$cfg" --node edge-1 --publish-mode watched_directory 2>"$t/err" >/dev/null || return 1
  [ ! -s "$t/err" ] || { cat "$t/err"; return 1; }
  unset FSXDS_PROC_SYS_FS_INOTIFY
}

t_bootstrap_unknown_node() {
  write_config </dev/null
  # a node fsxdsd does not know: refused, nothing printed, unless --force
  expect_rc 1 "$fsxds" bootstrap --config "$cfg" --node nosuch || return 1
  [ ! -s "$t/stdout" ] || return 1
  grep -qxF "fsxds: fsxdsd does not know node nosuch: no $t/src/nodes/nosuch/, not in nodes: of $cfg, nothing published in $t/out/nosuch; an Envoy with this bootstrap would wait for files that never come (--force prints it anyway)" "$t/stderr" ||
    { cat "$t/stderr"; return 1; }
  expect_rc 0 "$fsxds" bootstrap --config "$cfg" --node nosuch --force || return 1
  expected_bootstrap "$t/out" nosuch 0 | diff -u - "$t/stdout" || return 1
  # known: a directory of the tree, a node of nodes:, or output published for it
  mkdir -p "$t/src/nodes/in-tree" "$t/out/published"
  printf 'nodes: [listed]\n' | write_config
  for n in in-tree listed published; do
    expect_rc 0 "$fsxds" bootstrap --config "$cfg" --node $n || return 1
    expected_bootstrap "$t/out" $n 0 | diff -u - "$t/stdout" || return 1
  done
  # a file where the node's directory would be is no node
  touch "$t/src/nodes/afile"
  expect_rc 1 "$fsxds" bootstrap --config "$cfg" --node afile
}

check help t_help
check config-errors t_config_errors
check status-table t_status_table
check status-json t_status_json
check status-daemon-odd t_status_daemon_odd
check status-missing-and-bad t_status_missing_and_bad
check forget-refuses t_forget_refuses
check forget-removes t_forget_removes
check forget-symlinks t_forget_symlinks
check forget-daemon-lock t_forget_daemon_lock
check allow-removal t_allow_removal
check status-allowance t_status_allowance
check bootstrap-yaml t_bootstrap_yaml
check bootstrap-json t_bootstrap_json
check bootstrap-inotify t_bootstrap_inotify
check bootstrap-unknown-node t_bootstrap_unknown_node
check config-did-you-mean t_config_did_you_mean
check config-named t_config_named

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
