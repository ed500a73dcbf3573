#!/usr/bin/env bash
# Makes this machine ready for the lxc backend's tests and demo (CI runs it as root on a fresh
# machine): Debian's lxc and busybox-static when missing, and the test bridges. Idempotent: with
# everything in place it changes nothing and prints nothing.
#
#   bash scripts/lxc/setup.sh            # bridges: $DOMAINMGR_LXC_BRIDGES or "dmlxcbr0"
#
# Needs root (apt-get, ip link). Not root: says what is missing and exits 1.
set -euo pipefail

bridges="${DOMAINMGR_LXC_BRIDGES:-dmlxcbr0}"
say() { printf 'lxc setup: %s\n' "$*" >&2; }

missing=()
command -v lxc-start >/dev/null 2>&1 || missing+=(lxc)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' || missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { say "missing packages ${missing[*]}, and installing them needs root"; exit 1; }
  say "installing ${missing[*]} from Debian's packages"
  log="$(mktemp)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >"$log" 2>&1; then
    apt-get update -q >>"$log" 2>&1 || { cat "$log" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >>"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  fi
  rm -f "$log"
fi

for br in ${bridges//,/ }; do
  if [ ! -d "/sys/class/net/$br/bridge" ]; then
    [ "$(id -u)" = 0 ] || { say "bridge $br is missing, and making it needs root"; exit 1; }
    say "creating bridge $br"
    ip link add "$br" type bridge
  fi
  if ! ip -o link show "$br" | grep -q '[<,]UP[,>]'; then
    ip link set "$br" up
  fi
done
