#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The installed systemd files, judged by systemd's own tools:
#  - systemd-analyze verify of fsxdsd.service (as meson installs it, its
#    Exec paths pointed into the staging root so the binaries exist) and of
#    the service with the fanotify drop-in: nothing on stderr;
#  - systemd-analyze security --offline=true: the table is printed and the
#    overall exposure must be at most 2.0 (also with the drop-in, which
#    grants CAP_SYS_ADMIN: printed, and at most 3.0);
#  - systemd-sysusers and systemd-tmpfiles --dry-run/--root accept the
#    sysusers.d and tmpfiles.d files and create the fsxds user, the
#    fsxds-readers group and /run/fsxds with its owner and mode;
#  - the ads-tcp drop-in (the xDS server on TCP) verifies, and
#    systemd-analyze security shows its three settings in effect: the
#    host's network, Internet sockets, an IP allow list of localhost only;
#  - the metrics drop-in (ReadWritePaths= of node_exporter's textfile
#    directory) verifies; tmpfiles.d's ACL line gives group fsxds rwx on
#    /var/lib/prometheus/node-exporter where it exists (getfacl), and
#    creates nothing where it does not (no /var/lib/prometheus). This part
#    needs root (a mount namespace: systemd-tmpfiles resolves the ACL's
#    group with the host's NSS, so the scratch root's passwd and group are
#    bind-mounted over the host's there) and getfacl; it says SKIP without.
# Usage: run-units.sh BUILDDIR
set -euo pipefail
build=$(cd "$1" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fsxds-units.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

root=$tmp/root
DESTDIR=$root meson install -C "$build" --quiet --no-rebuild >/dev/null
unit=$(find "$root" -name fsxdsd.service -path '*systemd/system*' | head -1)
[ -n "$unit" ] || fail "meson install did not install fsxdsd.service"
sysusers=$(find "$root" -path '*sysusers.d/fsxds.conf' | head -1)
tmpfiles=$(find "$root" -path '*tmpfiles.d/fsxds.conf' | head -1)
dropin_src=$(find "$root" -path '*share/fsxds/fanotify.conf' | head -1)
metrics_src=$(find "$root" -path '*share/fsxds/metrics.conf' | head -1)
adstcp_src=$(find "$root" -path '*share/fsxds/ads-tcp.conf' | head -1)
[ -n "$sysusers" ] && [ -n "$tmpfiles" ] && [ -n "$dropin_src" ] && [ -n "$metrics_src" ] && [ -n "$adstcp_src" ] ||
  fail "sysusers.d, tmpfiles.d, the fanotify, the metrics or the ads-tcp drop-in not installed"
echo "installed: ${unit#"$root"} ${sysusers#"$root"} ${tmpfiles#"$root"} ${dropin_src#"$root"} ${metrics_src#"$root"} ${adstcp_src#"$root"}"
# BusName= is the name the D-Bus policy lets the unit's user own
busname=$(sed -n 's/^BusName=//p' "$unit")
policy=$(find "$root" -path "*share/dbus-1/system.d/$busname.conf" | head -1)
[ -n "$busname" ] && [ -n "$policy" ] || fail "no BusName= in $unit, or no share/dbus-1/system.d/$busname.conf installed"
grep -q "<policy user=\"$(sed -n 's/^User=//p' "$unit")\">" "$policy" && grep -q "<allow own=\"$busname\"/>" "$policy" ||
  fail "${policy#"$root"} does not let the unit's User= own $busname"
echo "installed: ${policy#"$root"} (BusName=$busname)"

# the unit as installed, its absolute paths resolved inside the staging root
units=$tmp/units
mkdir -p "$units/fsxdsd.service.d"
sed -E "s#^(ExecStart(Pre)?=)(/[^ ]+)#\1$root\3#; s#--config (/[^ ]+)#--config $root\1#" "$unit" >"$units/fsxdsd.service"
grep -q "^ExecStart=$root/.*/fsxdsd --config $root/.*/fsxds.yaml$" "$units/fsxdsd.service" || fail "unexpected ExecStart= in $unit"

verify() {
  local what=$1
  shift
  local err
  err=$(systemd-analyze verify --man=no "$@" 2>&1 >/dev/null) || true
  [ -z "$err" ] || fail "systemd-analyze verify $what printed:"$'\n'"$err"
  echo "systemd-analyze verify $what: clean"
}
verify "fsxdsd.service" "$units/fsxdsd.service"
cp "$dropin_src" "$units/fsxdsd.service.d/fanotify.conf"
verify "fsxdsd.service + fanotify.conf" "$units/fsxdsd.service"
rm "$units/fsxdsd.service.d/fanotify.conf"
cp "$metrics_src" "$units/fsxdsd.service.d/metrics.conf"
grep -qx 'ReadWritePaths=-/var/lib/prometheus/node-exporter' "$metrics_src" || fail "metrics.conf: no ReadWritePaths= of the textfile directory"
verify "fsxdsd.service + metrics.conf" "$units/fsxdsd.service"
rm "$units/fsxdsd.service.d/metrics.conf"
cp "$adstcp_src" "$units/fsxdsd.service.d/ads-tcp.conf"
verify "fsxdsd.service + ads-tcp.conf" "$units/fsxdsd.service"
rm "$units/fsxdsd.service.d/ads-tcp.conf"

exposure() {
  local out level
  out=$(systemd-analyze security --no-pager --offline=true --root="$root" fsxdsd.service 2>&1) || true
  echo "$out"
  level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for fsxdsd.service: \([0-9.]*\).*/\1/p')
  [ -n "$level" ] || fail "no overall exposure level in systemd-analyze security's output"
  echo "$level"
}
echo "== systemd-analyze security --offline=true fsxdsd.service"
level=$(exposure | tee /dev/stderr | tail -1)
awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }' || fail "exposure $level > 2.0"
echo "exposure $level <= 2.0"

echo "== with the fanotify drop-in"
mkdir -p "$(dirname "$unit")/fsxdsd.service.d"
cp "$dropin_src" "$(dirname "$unit")/fsxdsd.service.d/fanotify.conf"
level_fan=$(exposure 2>/dev/null | tail -1)
grep -q "CAP_SYS_ADMIN" "$(dirname "$unit")/fsxdsd.service.d/fanotify.conf" || fail "drop-in without CAP_SYS_ADMIN"
awk -v l="$level_fan" 'BEGIN { exit !(l <= 3.0) }' || fail "exposure with the fanotify drop-in $level_fan > 3.0"
echo "exposure with the fanotify drop-in: $level_fan"
rm "$(dirname "$unit")/fsxdsd.service.d/fanotify.conf"

echo "== with the ads-tcp drop-in"
# each setting as systemd-analyze reads it, without and with the drop-in
network_settings() {
  systemd-analyze security --no-pager --offline=true --root="$root" fsxdsd.service 2>/dev/null |
    grep -E '(PrivateNetwork=|RestrictAddressFamilies=~AF_\(INET\|INET6\)|IPAddressDeny=) ' |
    sed -E 's/^[^A-Z]*//; s/ {2,}/: /; s/ +[0-9.]* *$//'
}
without=$(network_settings)
cp "$adstcp_src" "$(dirname "$unit")/fsxdsd.service.d/ads-tcp.conf"
with=$(network_settings)
rm "$(dirname "$unit")/fsxdsd.service.d/ads-tcp.conf"
echo "without the drop-in:"
sed 's/^/    /' <<<"$without"
echo "with ads-tcp.conf:"
sed 's/^/    /' <<<"$with"
grep -q "PrivateNetwork=: Service has no access to the host's network" <<<"$without" &&
  grep -q "RestrictAddressFamilies=~AF_(INET|INET6): Service cannot allocate Internet sockets" <<<"$without" &&
  grep -q "IPAddressDeny=: Service blocks all IP address ranges" <<<"$without" ||
  fail "the unit without the drop-in is not closed to the network"
grep -q "PrivateNetwork=: Service has access to the host's network" <<<"$with" ||
  fail "ads-tcp.conf: PrivateNetwork=no not in effect"
grep -q "RestrictAddressFamilies=~AF_(INET|INET6): Service may allocate Internet sockets" <<<"$with" ||
  fail "ads-tcp.conf: AF_INET/AF_INET6 not allowed"
grep -q "IPAddressDeny=: Service defines IP address allow list with only localhost entries" <<<"$with" ||
  fail "ads-tcp.conf: IPAddressAllow=localhost not in effect"

echo "== sysusers.d and tmpfiles.d in a scratch root"
sroot=$tmp/sysroot
mkdir -p "$sroot/etc" "$sroot/run"
: >"$sroot/etc/passwd"
: >"$sroot/etc/group"
systemd-sysusers --root="$sroot" "$sysusers"
grep -q '^fsxds:' "$sroot/etc/passwd" || fail "systemd-sysusers did not create the fsxds user"
grep -q '^fsxds-readers:.*fsxds' "$sroot/etc/group" || fail "fsxds is not in fsxds-readers: $(cat "$sroot/etc/group")"
# systemd-tmpfiles with the scratch root's users and groups, as on a host
# (it resolves an ACL's group with the NSS of the host it runs on)
tmpfiles_in_root() {
  unshare -m sh -c 'mount --bind "$1/etc/passwd" /etc/passwd && mount --bind "$1/etc/group" /etc/group &&
    exec systemd-tmpfiles --root="$1" --create "$2"' sh "$sroot" "$tmpfiles"
}
acl_ok=
[ "$(id -u)" -ne 0 ] || ! command -v getfacl >/dev/null || ! unshare -m true 2>/dev/null || acl_ok=1
if [ -n "$acl_ok" ]; then
  tmpfiles_in_root
else
  systemd-tmpfiles --root="$sroot" --create "$tmpfiles"
fi
st=$(stat -c '%a %U %G' "$sroot/run/fsxds" 2>/dev/null) || fail "systemd-tmpfiles did not create /run/fsxds"
uid=$(awk -F: '$1 == "fsxds" { print $3 }' "$sroot/etc/passwd")
gid=$(awk -F: '$1 == "fsxds-readers" { print $3 }' "$sroot/etc/group")
[ "$(stat -c '%a %u %g' "$sroot/run/fsxds")" = "750 $uid $gid" ] || fail "/run/fsxds is $st, expected 750 fsxds fsxds-readers"
echo "sysusers.d: fsxds (uid $uid) in fsxds-readers (gid $gid); tmpfiles.d: /run/fsxds 0750 fsxds:fsxds-readers"

echo "== tmpfiles.d: the metrics directory's ACL"
textfile=/var/lib/prometheus/node-exporter
grep -qx "a+ $textfile - - - - group:fsxds:rwx" "$tmpfiles" || fail "tmpfiles.d lacks the ACL line of $textfile"
if [ -z "$acl_ok" ]; then
  echo "SKIP: the ACL of $textfile needs root (a mount namespace) and getfacl (scripts/setup installs acl)"
  exit 0
fi
rm -rf "$sroot/var"
err=$(tmpfiles_in_root 2>&1) || fail "systemd-tmpfiles --create without $textfile: $err"
[ -z "$err" ] || fail "systemd-tmpfiles --create without $textfile printed: $err"
[ ! -e "$sroot/var/lib/prometheus" ] || fail "systemd-tmpfiles created $(cd "$sroot" && find var)"
echo "without node_exporter's directory: nothing created"
mkdir -p "$sroot$textfile"
chmod 0755 "$sroot$textfile"
err=$(tmpfiles_in_root 2>&1) || fail "systemd-tmpfiles --create with $textfile: $err"
[ -z "$err" ] || fail "systemd-tmpfiles --create with $textfile printed: $err"
fsxds_gid=$(awk -F: '$1 == "fsxds" { print $3 }' "$sroot/etc/group")
acl=$(getfacl -n -p "$sroot$textfile" 2>&1) || fail "getfacl: $acl"
echo "$acl" | sed "s#$sroot##; s/^/    /"
grep -qx "group:$fsxds_gid:rwx" <<<"$acl" || fail "no group:fsxds ($fsxds_gid):rwx entry on $textfile"
grep -qx "mask::rwx" <<<"$acl" || fail "the ACL's mask is not rwx"
grep -qx "other::r-x" <<<"$acl" || fail "others (node_exporter) lost r-x on $textfile"
echo "with node_exporter's directory: group fsxds (gid $fsxds_gid) rwx, others r-x"
