#!/usr/bin/env bash
# Makes Debian bookworm's real xl 4.17 runnable on this machine without Xen, for tests that
# compare our xl.cfg parser with the real one. Nothing is installed system-wide: the Debian
# packages are fetched with `apt-get download`, unpacked with `dpkg-deb -x` into a cache
# directory, and our preload (preload.c beside this script) is compiled next to them.
#
#   bash scripts/real-xl/setup.sh        # then: scripts/real-xl/real-xl -N create vm.cfg
#
# Cache: ${REAL_XL_HOME:-$HOME/.cache/domainmgr-real-xl}. Needs apt-get, dpkg-deb and a C
# compiler (cc/gcc, installed from Debian when missing); root only if the apt package lists are
# missing and must be refreshed or gcc must be installed.
# Idempotent: a complete cache is left alone (the preload is rebuilt when preload.c changes),
# and then the script prints nothing.
set -euo pipefail

home="${REAL_XL_HOME:-$HOME/.cache/domainmgr-real-xl}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
xl="$home/root/usr/lib/xen-4.17/bin/xl"

# xl and exactly the shared libraries it loads (see `ldd xl`); libc, ncurses etc. are the host's.
packages=(xen-utils-4.17 libxenmisc4.17 libxencall1 libxendevicemodel1 libxenevtchn1
  libxenforeignmemory1 libxengnttab1 libxenhypfs1 libxenstore4 libxentoolcore1 libxentoollog1
  libyajl2)

say() { printf 'real-xl setup: %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { say "missing command: $1 ($2)"; exit 1; }; }

# The cache holds programs that the tests run: it must be ours and writable by us alone.
mkdir -p "$home"
if [ ! -O "$home" ] || [ -n "$(find "$home" -maxdepth 0 -perm /022)" ]; then
  say "$home must be owned by $(id -un) and writable by no one else (it holds the programs run)"
  exit 1
fi

if [ ! -x "$xl" ]; then
  need apt-get "Debian's package tool"
  need dpkg-deb "Debian's package tool"
  say "downloading ${packages[*]}"
  # Owner only (mktemp -d makes it 0700): nobody else may swap a package between its download
  # and its unpacking. As root, apt would drop to the _apt user for the download, who cannot
  # write here; the download then runs as root instead of opening the folder to everyone.
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/real-xl-setup.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  sandbox=()
  [ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
  if ! (cd "$tmp" && apt-get download -q "${sandbox[@]}" "${packages[@]}" >"$tmp/apt.log" 2>&1); then
    say "apt-get download failed; refreshing the package lists (apt-get update) and retrying"
    apt-get update -q >"$tmp/apt-update.log" 2>&1 || { cat "$tmp/apt-update.log" >&2; exit 1; }
    (cd "$tmp" && apt-get download -q "${sandbox[@]}" "${packages[@]}" >"$tmp/apt.log" 2>&1) || {
      cat "$tmp/apt.log" >&2
      exit 1
    }
  fi
  rm -rf "$home/root.new"
  mkdir -p "$home/root.new"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$home/root.new"; done
  [ -x "$home/root.new/usr/lib/xen-4.17/bin/xl" ] || { say "xl not found in the packages"; exit 1; }
  (cd "$tmp" && ls -1 ./*.deb | sed 's|^\./||') >"$home/root.new/PACKAGES"
  rm -rf "$home/root"
  mv "$home/root.new" "$home/root"
  say "unpacked into $home/root ($(grep -c . "$home/root/PACKAGES") packages)"
fi

# xl's global config, served by the preload in place of /etc/xen/xl.conf. autoballoon must not be
# "auto" (the default): that asks the hypervisor for its command line.
conf_text='# domainmgr real-xl: stands in for /etc/xen/xl.conf (see scripts/real-xl/preload.c)
autoballoon="off"'
if [ ! -f "$home/xl.conf" ] || [ "$(cat "$home/xl.conf")" != "$conf_text" ]; then
  printf '%s\n' "$conf_text" >"$home/xl.conf"
fi

src_sum="$(sha256sum "$here/preload.c" | cut -d' ' -f1)"
if [ ! -f "$home/preload.so" ] || [ "$(cat "$home/preload.sha256" 2>/dev/null)" != "$src_sum" ]; then
  cc="$(command -v cc || command -v gcc || true)"
  if [ -z "$cc" ] && [ "${REAL_XL_NO_INSTALL:-0}" != 1 ]; then
    # A fresh machine with only Node and npm: install Debian's gcc (root, or sudo).
    say "no C compiler; installing Debian's gcc"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null
    $sudo apt-get install -y -qq gcc libc6-dev >/dev/null
    cc="$(command -v cc || command -v gcc || true)"
  fi
  [ -n "$cc" ] || { say "missing a C compiler (apt-get install gcc)"; exit 1; }
  "$cc" -shared -fPIC -O2 -Wall -Wextra -o "$home/preload.so.new" "$here/preload.c" -ldl
  mv "$home/preload.so.new" "$home/preload.so"
  printf '%s\n' "$src_sum" >"$home/preload.sha256"
  say "built $home/preload.so"
fi

# Smoke test: the binary must start and reach its own usage text, which needs the preload.
if ! "$here/real-xl" help >/dev/null 2>&1; then
  say "the unpacked xl does not run; try: $here/real-xl help"
  exit 1
fi
