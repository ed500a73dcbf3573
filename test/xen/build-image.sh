#!/usr/bin/env bash
# Build (or reuse from the cache) the images that boot a real Xen 4.17 + Linux PV dom0 under
# qemu-system-x86_64 (TCG) with domainmgr inside dom0, as on an edge node.
#
# usage: test/xen/build-image.sh [CACHE_DIR]
#   CACHE_DIR   default ${XEN_TEST_CACHE:-$HOME/.cache/domainmgr-xen}
#   env FAST=1  (default) boot pre-decompressed kernels (vmlinux ELF) and a plain cpio initrd:
#               TCG is slow at xz, this saves ~10 s per `xl create` and ~4 s of dom0 build
#   env SKIP_BUILD=1  do not run `npm run build` first (dist/ must be current)
#   env NO_APT=1      do not apt-get install the host tools (qemu, busybox-static, cpio, xz)
#
# Prints the image folder on the last line of stdout: xen, dom0-kernel, dom0-initrd, manifest.json.
#
# Cache layers (each rebuilt only when its key changes):
#   debs/<key>     Debian's Xen + kernel packages, unpacked; key: the packages' versions
#   project/<key>  the built project with production dependencies only; key: hash of the built
#                  files (dist/ bin/ types/ config/ package.json package-lock.json)
#   images/<key>   the boot files; key: the two keys above + node + harness files + host tools
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
C=${1:-${XEN_TEST_CACHE:-$HOME/.cache/domainmgr-xen}}
FAST=${FAST:-1}
mkdir -p "$C"
C=$(cd "$C" && pwd)
log() { echo "build-image: $*" >&2; }
T0=$(date +%s%N)
lap() { log "$1 ($(((($(date +%s%N) - T0) / 1000000)))ms)"; }
sha() { sha256sum | cut -c1-16; }

# One build at a time per cache folder (other test runs on this machine share it).
exec 9>"$C/.lock"
flock 9

# 0. host tools
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v xz >/dev/null || need+=(xz-utils)
if [ ${#need[@]} -gt 0 ]; then
  [ "${NO_APT:-0}" = 1 ] && { log "missing host tools: ${need[*]}"; exit 1; }
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
/bin/busybox --list | grep -x brctl >/dev/null || { log "/bin/busybox lacks brctl (need busybox-static)"; exit 1; }

# 1. Debian packages: Xen hypervisor, tools, the kernel
KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
PKGS=(xen-hypervisor-4.17-amd64 xen-utils-4.17 xen-utils-common xenstore-utils libxencall1 libxenevtchn1
  libxenforeignmemory1 libxengnttab1 libxenmisc4.17 libxenstore4 libxentoollog1 libxentoolcore1
  libxendevicemodel1 libxenhypfs1 libyajl2 "$KPKG")
VERSIONS=$(for p in "${PKGS[@]}"; do echo "$p=$(apt-cache policy "$p" | awk '/Candidate:/{print $2}')"; done)
if grep -q '=$\|=(none)' <<<"$VERSIONS"; then log "package not available: $VERSIONS"; exit 1; fi
DEBKEY=$(printf '%s\nFAST=%s\n' "$VERSIONS" "$FAST" | sha)
D=$C/debs/$DEBKEY
if [ ! -e "$D/.done" ]; then
  log "downloading and unpacking Debian packages into $D"
  rm -rf "$D" && mkdir -p "$D/debs"
  (cd "$D/debs" && apt-get download -qq "${PKGS[@]}" 2>/dev/null)
  mkdir "$D/x" && for d in "$D"/debs/*.deb; do dpkg-deb -x "$d" "$D/x"; done
  zcat "$D"/x/boot/xen-4.17-amd64.gz >"$D/xen" # QEMU's multiboot loader needs the plain ELF
  KVER=$(ls "$D/x/lib/modules")
  if [ "$FAST" = 1 ]; then # the XZ payload of the bzImage is the vmlinux ELF Xen's PV builder loads
    K=$D/x/boot/vmlinuz-$KVER
    off=$(grep -abo $'\xfd7zXZ\x00' "$K" | head -1 | cut -d: -f1)
    tail -c +$((off + 1)) "$K" | xz -dc --single-stream >"$D/kernel" 2>/dev/null || true
    [ "$(head -c4 "$D/kernel" | tail -c3)" = ELF ] || { log "kernel payload is not an ELF"; exit 1; }
  else
    cp "$D/x/boot/vmlinuz-$KVER" "$D/kernel"
  fi
  rm -rf "$D/debs"
  echo "$VERSIONS" >"$D/versions"
  touch "$D/.done"
  lap "debs ready"
fi
KVER=$(ls "$D/x/lib/modules")
X=$D/x

# 2. the project, built, with production dependencies only
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && npx --no-install tsc -p tsconfig.build.json) >&2
  lap "project built"
fi
[ -e "$ROOT/dist/cmd/domainmgr.js" ] || { log "dist/ missing: run npm ci (or npm run build)"; exit 1; }
PROJKEY=$(cd "$ROOT" && find dist bin types config package.json package-lock.json -type f -print0 | sort -z |
  xargs -0 sha256sum | sha)
P=$C/project/$PROJKEY
if [ ! -e "$P/.done" ]; then
  log "staging the project into $P"
  rm -rf "$P" && mkdir -p "$P/app"
  (cd "$ROOT" && cp -a dist bin types config package.json package-lock.json "$P/app/")
  (cd "$P/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
  touch "$P/.done"
  lap "project staged"
fi

# 3. the image
NODE=$(readlink -f "$(command -v node)")
HARNESS=$(cat "$HERE/build-image.sh" "$HERE/dom0-init.sh" "$HERE/domu-init.sh" "$HERE/agent.mjs" | sha)
TOOLS=$(for b in "$NODE" /bin/busybox /bin/bash /usr/sbin/ip /usr/bin/flock; do
  echo "$b $(stat -c '%s %Y' "$b")"
done)
IMGKEY=$(printf '%s\n' "$DEBKEY" "$PROJKEY" "$HARNESS" "$TOOLS" "FAST=$FAST" | sha)
I=$C/images/$IMGKEY
if [ -e "$I/.done" ]; then
  log "image cached: $I"
  touch "$I" "$P" "$D"
  echo "$I"
  exit 0
fi
log "assembling image $I"
rm -rf "$I" && mkdir -p "$I"
B=$I/build

# 3a. domU payload: static busybox, netfront, an init that prints markers and obeys its cmdline
U=$B/domu
mkdir -p "$U"/{bin,sbin,proc,sys,dev,tmp}
cp /bin/busybox "$U/bin/"
for a in $("$U/bin/busybox" --list); do [ -e "$U/bin/$a" ] || ln -s busybox "$U/bin/$a"; done
cp "$X/lib/modules/$KVER/kernel/drivers/net/xen-netfront.ko" "$U/"
cp "$HERE/domu-init.sh" "$U/init" && chmod +x "$U/init"
rm -f "$U/sbin/poweroff" # the init decides what the kernel's poweroff helper does
(cd "$U" && find . | cpio -H newc -o --quiet | gzip -9) >"$B/domU-initrd.gz"

# 3b. dom0 root: busybox, bash + iproute2 + flock (the real vif-bridge hotplug script needs them),
#     Xen tools and libraries, Xen and network kernel modules, node, the agent, the guest payload
R=$B/dom0
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,usr/local/sbin,usr/lib/xen-4.17,usr/lib/x86_64-linux-gnu} \
  "$R"/{lib/x86_64-linux-gnu,lib64,proc,sys,dev,etc,tmp,run,var/lib/xen,var/log/xen/console,root/guest} \
  "$R/lib/modules/$KVER" "$R/opt"
ln -s ../run "$R/var/run"
cp /bin/busybox "$R/bin/"
for a in $("$R/bin/busybox" --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
rm -f "$R/bin/ip"
cp /bin/bash "$R/bin/bash"
cp /usr/sbin/ip "$R/sbin/ip" && cp /usr/bin/flock "$R/usr/bin/flock"
cp "$NODE" "$R/usr/bin/node"
cp -a "$X/usr/lib/xen-4.17/bin" "$R/usr/lib/xen-4.17/"
cp -a "$X"/usr/lib/x86_64-linux-gnu/lib* "$R/usr/lib/x86_64-linux-gnu/"
cp -a "$X"/usr/bin/xenstore* "$R/usr/bin/" && cp -a "$X/etc/xen" "$R/etc/"
for b in xl xenstored xenconsoled; do ln -s "/usr/lib/xen-4.17/bin/$b" "$R/usr/sbin/$b"; done
MODS="drivers/xen/xen-evtchn drivers/xen/xen-privcmd drivers/xen/xenfs/xenfs drivers/xen/xen-gntdev
  drivers/xen/xen-gntalloc drivers/net/xen-netback/xen-netback drivers/block/xen-blkback/xen-blkback
  drivers/virtio/virtio drivers/virtio/virtio_ring drivers/virtio/virtio_pci_modern_dev
  drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci net/core/failover drivers/net/net_failover
  drivers/net/virtio_net net/llc/llc net/802/stp net/bridge/bridge"
for m in $MODS; do cp "$X/lib/modules/$KVER/kernel/$m.ko" "$R/lib/modules/$KVER/"; done
# shared libraries of every ELF we ship (ldd), plus what glibc dlopens (libgcc_s: pthread_cancel)
for f in $(find "$R/usr" "$R/bin/bash" "$R/sbin/ip" -type f); do
  [ "$(head -c4 "$f" | tail -c3)" = ELF ] || continue
  for l in $(LD_LIBRARY_PATH=$X/usr/lib/x86_64-linux-gnu ldd "$f" 2>/dev/null | awk '/=> \//{print $3}'); do
    case $l in "$X"/*) ;; *) [ -e "$R$l" ] || { mkdir -p "$R$(dirname "$l")" && cp -L "$l" "$R$l"; } ;; esac
  done
done
cp -L /lib64/ld-linux-x86-64.so.2 "$R/lib64/"
cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$R/lib/x86_64-linux-gnu/"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"
printf '127.0.0.1 localhost\n' >"$R/etc/hosts"
cp "$D/kernel" "$R/root/guest/vmlinuz"
cp "$B/domU-initrd.gz" "$R/root/guest/initrd.gz"
cp "$HERE/dom0-init.sh" "$R/init" && chmod +x "$R/init"
cp "$HERE/agent.mjs" "$R/opt/agent.mjs"
(cd "$R" && find . | cpio -H newc -o --quiet) >"$B/base.cpio"
# the project as a second archive (the kernel unpacks concatenated cpio archives in order)
mkdir -p "$B/proj/opt" && cp -a "$P/app" "$B/proj/opt/domainmgr"
(cd "$B/proj" && find . | cpio -H newc -o --quiet) >"$B/proj.cpio"
if [ "$FAST" = 1 ]; then cat "$B/base.cpio" "$B/proj.cpio" >"$I/dom0-initrd"
else cat "$B/base.cpio" "$B/proj.cpio" | gzip -1 >"$I/dom0-initrd"; fi
cp "$D/xen" "$I/xen" && cp "$D/kernel" "$I/dom0-kernel"
cat >"$I/manifest.json" <<EOF
{
  "key": "$IMGKEY",
  "fast": $([ "$FAST" = 1 ] && echo true || echo false),
  "kernelVersion": "$KVER",
  "nodeVersion": "$(node --version)",
  "packages": $(echo "$VERSIONS" | node -e 'const l=require("fs").readFileSync(0,"utf8").trim().split("\n");console.log(JSON.stringify(Object.fromEntries(l.map(x=>x.split("=")))))'),
  "projectKey": "$PROJKEY",
  "initrdBytes": $(stat -c %s "$I/dom0-initrd")
}
EOF
rm -rf "$B"
touch "$I/.done"
lap "image ready"

# keep the three newest entries of each layer
for layer in debs project images; do
  ls -1dt "$C/$layer"/*/ 2>/dev/null | tail -n +4 | while read -r old; do rm -rf "$old"; done
done
echo "$I"
