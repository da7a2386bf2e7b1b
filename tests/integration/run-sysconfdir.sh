#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Built from source, fsxds finds its own files: the binaries of this build,
# its unit, its installed fsxds.yaml, its man page and its bash completion
# name one configuration file, PREFIX/SYSCONFDIR/fsxds/fsxds.yaml
# (`fsxds -v` says which file it read); and two throwaway configurations
# (meson setup only, nothing compiled) show where that path comes from: a
# custom --prefix moves the unit's --config and the binaries' default
# (version.h's FSXDS_SYSCONFDIR) together, and the packages' --prefix=/usr
# --sysconfdir=/etc keep /etc/fsxds/fsxds.yaml.
# Usage: run-sysconfdir.sh SOURCE_ROOT BUILD_ROOT FSXDS FSXDSD
set -u
src=$1
build=$(cd "$2" && pwd)
fsxds=$(realpath "$3")
fsxdsd=${4:+$(realpath "$4")}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
check() { # name, then a command that must succeed
  local name=$1
  shift
  if "$@" >"$tmp/check.out" 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    sed 's/^/  /' "$tmp/check.out"
  fi
}

# The --config of a configured unit's ExecStart=.
unit_config() { sed -n 's/^ExecStart=[^ ]* --config \([^ ]*\)$/\1/p' "$1/units/fsxdsd.service"; }
# Where a configured build installs conf/fsxds.yaml.
installed_config() {
  meson introspect "$1" --installed |
    python3 -c 'import json, sys; print(*[v for k, v in json.load(sys.stdin).items() if k.endswith("/conf/fsxds.yaml")])'
}
# FSXDS_SYSCONFDIR of a configured build's version.h.
built_sysconfdir() { sed -n 's/^#define FSXDS_SYSCONFDIR "\(.*\)"$/\1/p' "$1/version.h"; }

t_this_build_agrees() {
  local want; want=$(unit_config "$build")
  [ -n "$want" ] || { echo "no --config in $build/units/fsxdsd.service"; return 1; }
  [ "$(installed_config "$build")" = "$want" ] || { echo "conf/fsxds.yaml installs to $(installed_config "$build"), the unit reads $want"; return 1; }
  [ "$(built_sysconfdir "$build")/fsxds/fsxds.yaml" = "$want" ] || return 1
  # what the binaries read without --config: -v says, before or after the command
  local out
  out=$("$fsxds" -v status 2>&1 >/dev/null)
  if [ -e "$want" ]; then
    grep -qxF "fsxds: configuration: $want" <<<"$out" || { echo "fsxds -v status: $out"; return 1; }
  else
    grep -qF "fsxds: warning: no $want: using the built-in defaults (source_dir ${want%/fsxds.yaml}/conf.d," <<<"$out" ||
      { echo "fsxds -v status: $out"; return 1; }
  fi
  out=$("$fsxds" bootstrap -v --node n --force 2>&1 >/dev/null)
  grep -qF "$want" <<<"$out" || { echo "fsxds bootstrap -v: $out"; return 1; }
  "$fsxds" status --help | grep -qF "(default $want)" || return 1
  if [ -n "$fsxdsd" ]; then
    "$fsxdsd" --help | grep -qF "(default $want)" || { "$fsxdsd" --help; return 1; }
  fi
  grep -qF "$want" "$build/docs/fsxds.1" && grep -qF "$want" "$build/docs/fsxds.yaml.5" || return 1
  grep -qF "local config=$want " "$build/completion/fsxds" || return 1
}

t_custom_prefix() {
  local p=$tmp/prefix
  meson setup -Dtests=false --prefix="$p" "$tmp/custom" "$src" >"$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log"; return 1; }
  [ "$(unit_config "$tmp/custom")" = "$p/etc/fsxds/fsxds.yaml" ] || { unit_config "$tmp/custom"; return 1; }
  [ "$(installed_config "$tmp/custom")" = "$p/etc/fsxds/fsxds.yaml" ] || return 1
  [ "$(built_sysconfdir "$tmp/custom")" = "$p/etc" ] || { grep SYSCONFDIR "$tmp/custom/version.h"; return 1; }
  grep -qF "local config=$p/etc/fsxds/fsxds.yaml " "$tmp/custom/completion/fsxds"
}

t_packaged_paths() {
  # debian/rules (dh_auto_configure) and the RPM's %meson pass these
  meson setup -Dtests=false --prefix=/usr --sysconfdir=/etc "$tmp/pkg" "$src" >"$tmp/setup.log" 2>&1 ||
    { cat "$tmp/setup.log"; return 1; }
  [ "$(unit_config "$tmp/pkg")" = /etc/fsxds/fsxds.yaml ] || { unit_config "$tmp/pkg"; return 1; }
  [ "$(installed_config "$tmp/pkg")" = /etc/fsxds/fsxds.yaml ] || return 1
  [ "$(built_sysconfdir "$tmp/pkg")" = /etc ]
}

check this-build-agrees t_this_build_agrees
check custom-prefix t_custom_prefix
check packaged-paths t_packaged_paths
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
