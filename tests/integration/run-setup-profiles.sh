#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/setup's package profiles (--list prints a profile and installs
# nothing): --demo, which scripts/demo uses, has the build's packages
# (-Dtests=false) and the demo's, and no test tool; the default one, which
# scripts/test and scripts/bench use, has everything.
# Usage: run-setup-profiles.sh SOURCE_ROOT
set -uo pipefail
root=$1
fail() { echo "FAIL: $*"; exit 1; }

demo=$("$root/scripts/setup" --demo --list) || fail "scripts/setup --demo --list exited $?"
all=$("$root/scripts/setup" --list) || fail "scripts/setup --list exited $?"
has() { grep -qx -- "$2" <<<"$1"; }

for p in clang llvm libcmocka-dev libyaml-cpp-dev npm nodejs strace; do
  has "$demo" "$p" && fail "the demo profile installs $p, a test tool"
done
for p in meson ninja-build libprotobuf-c-dev protobuf-compiler libre2-dev libssl-dev ca-certificates openssl jq; do
  has "$demo" "$p" || fail "the demo profile lacks $p"
done
for p in clang llvm libcmocka-dev libyaml-cpp-dev strace $demo; do
  has "$all" "$p" || fail "the full profile (scripts/test) lacks $p"
done
grep -q '^  scripts/setup --demo build-demo -Dtests=false$' "$root/scripts/demo" ||
  fail "scripts/demo does not set up with scripts/setup --demo and -Dtests=false"
echo "ok: the demo profile has $(wc -l <<<"$demo") packages, the full one $(wc -l <<<"$all")"
