#!/usr/bin/env bash
# Builds a small busybox root filesystem offline, for the lxc backend's tests and demo: the host's
# static busybox (Debian's busybox-static), a link per applet, and busybox init with an inittab that
# runs /etc/init.d/rcS, a getty on tty1 (for lxc-console) and a long sleep loop, as LXC's busybox
# template does. LXC's default signals work with it: halt (SIGPWR) stops busybox init, and reboot
# (SIGINT, ctrl-alt-del) runs its ctrlaltdel action, /sbin/reboot.
#
#   bash scripts/lxc/build-rootfs.sh DIR [TARBALL]
#
# DIR is made (it must not exist yet, or be a rootfs this script built, which is left alone);
# with TARBALL, DIR is also packed into that tar archive (members relative, ./bin/busybox ...).
set -euo pipefail

dir="${1:?usage: build-rootfs.sh DIR [TARBALL]}"
tarball="${2:-}"
busybox="${BUSYBOX:-/bin/busybox}"
say() { printf 'build-rootfs: %s\n' "$*" >&2; }

if [ ! -f "$dir/.domainmgr-rootfs" ]; then
  [ -x "$busybox" ] || { say "no busybox at $busybox (apt-get install busybox-static)"; exit 1; }
  if LC_ALL=C ldd "$busybox" >/dev/null 2>&1; then
    say "$busybox is dynamically linked; the rootfs needs busybox-static"
    exit 1
  fi
  [ ! -e "$dir" ] || [ -z "$(ls -A "$dir")" ] || { say "$dir exists and is not a rootfs built here"; exit 1; }
  tmp="$dir.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  (
    cd "$tmp"
    mkdir -p bin sbin usr/bin usr/sbin etc/init.d dev dev/pts proc sys tmp root mnt var/log var/run
    chmod 1777 tmp
    cp "$busybox" bin/busybox
    for applet in $(bin/busybox --list); do
      [ "$applet" = busybox ] || [ -e "bin/$applet" ] || ln -s busybox "bin/$applet"
    done
    ln -sf ../bin/busybox sbin/init
    ln -sf ../bin/busybox sbin/reboot
    printf 'root:x:0:0:root:/root:/bin/sh\n' >etc/passwd
    printf 'root:x:0:root\n' >etc/group
    : >etc/fstab
    cat >etc/init.d/rcS <<'RCS'
#!/bin/sh
/bin/mount -t proc proc /proc 2>/dev/null
/bin/mount -a 2>/dev/null
exit 0
RCS
    chmod 755 etc/init.d/rcS
    cat >etc/inittab <<'INITTAB'
::sysinit:/etc/init.d/rcS
tty1::respawn:/bin/getty -L tty1 115200 vt100
::respawn:/bin/sh -c 'while :; do sleep 3600; done'
::ctrlaltdel:/sbin/reboot
INITTAB
    touch .domainmgr-rootfs
  )
  mv "$tmp" "$dir"
fi

if [ -n "$tarball" ]; then
  mkdir -p "$(dirname "$tarball")"
  tar -C "$dir" -cf "$tarball.tmp.$$" .
  mv "$tarball.tmp.$$" "$tarball"
fi
