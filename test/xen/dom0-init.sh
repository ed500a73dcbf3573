#!/bin/busybox sh
# dom0 /init of the real-Xen test image: bring up Xen's userspace (xenstored, xenconsoled), the
# network (virtio-net through QEMU user networking: 10.0.2.15/24, gateway 10.0.2.2) and a bridge
# for guests (xenbr0, used by the real vif-bridge hotplug script), start the command agent and,
# when the kernel command line carries dm.args, domainmgr itself, as an edge node's init would.
#
# Kernel command line (set by test/xen/boot.ts):
#   dm.args=BASE64   JSON array of domainmgr's arguments, base64; absent: domainmgr is not started
#   xt.agent=PORT    TCP port of the command agent (default 7000)
# Markers on the console: DOM0-STAGE <name> uptime=<s>, DOM0-READY, DOM0-FAILED <reason>.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/xen-4.17/bin
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mkdir -p /run/xen /run/xenstored /run/xen-hotplug /var/lib/xenstored /var/lib/xen /var/log/xen/console \
  /var/lib/domainmgr /var/log
st() { echo "DOM0-STAGE $1 uptime=$(cut -d' ' -f1 /proc/uptime)"; }
fail() {
  echo "DOM0-FAILED $*"
  dmesg | tail -30
  sleep 2
  poweroff -f
}
st userspace
echo "kernel: $(uname -r); hypervisor: $(cat /sys/hypervisor/type) $(cat /sys/hypervisor/version/major).$(cat /sys/hypervisor/version/minor)"

DM_ARGS='' AGENT_PORT=7000
for a in $(cat /proc/cmdline); do
  case $a in
  dm.args=*) DM_ARGS=${a#dm.args=} ;;
  xt.agent=*) AGENT_PORT=${a#xt.agent=} ;;
  esac
done

K=/lib/modules/$(uname -r)
for m in xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc xen-netback xen-blkback \
  virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net \
  llc stp bridge; do
  insmod "$K/$m.ko" || echo "insmod $m failed"
done
mount -t xenfs xenfs /proc/xen || fail "mount xenfs"
st modules

XENSTORED_ROOTDIR=/var/lib/xenstored xenstored --pid-file /run/xenstored.pid || fail xenstored
i=0
until xenstore-read -s / >/dev/null 2>&1; do
  sleep 0.1
  i=$((i + 1))
  [ $i -gt 600 ] && fail "xenstored not up"
done
xen-init-dom0 || fail xen-init-dom0
xenconsoled --pid-file /run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console || fail xenconsoled
st xenstored-xenconsoled

ip link set lo up
i=0
until [ -e /sys/class/net/eth0 ]; do
  sleep 0.1
  i=$((i + 1))
  [ $i -gt 300 ] && fail "no eth0 (virtio-net)"
done
ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up && ip route add default via 10.0.2.2 || fail network
hostname dom0
ip link add xenbr0 type bridge stp_state 0 forward_delay 0 && ip link set xenbr0 up || fail "bridge xenbr0"
st network

# the agent, restarted if it dies; its log is mirrored on the console
(while true; do
  node /opt/agent.mjs "$AGENT_PORT"
  echo "AGENT-EXITED rc=$?"
  sleep 1
done) >/var/log/agent.log 2>&1 &
tail -F /var/log/agent.log 2>/dev/null | awk '{ print "[agent] " $0; fflush() }' >/dev/console &
i=0
until grep -q AGENT-LISTENING /var/log/agent.log 2>/dev/null; do
  sleep 0.2
  i=$((i + 1))
  [ $i -gt 300 ] && { cat /var/log/agent.log; fail "agent not up"; }
done
st agent

# domainmgr: arguments kept in /etc/domainmgr.args (one per line) so that the same script restarts it
cat >/usr/local/sbin/domainmgr-start <<'EOF'
#!/bin/sh
# Start domainmgr in the background with the arguments in /etc/domainmgr.args; its output is
# appended to /var/log/domainmgr.log (mirrored on the console), its pid in /run/domainmgr.pid.
LOG=/var/log/domainmgr.log
rm -f /run/domainmgr.pid
set --
while IFS= read -r a; do set -- "$@" "$a"; done </etc/domainmgr.args
echo "=== domainmgr start at $(date -u +%FT%TZ) uptime=$(cut -d' ' -f1 /proc/uptime) ===" >>$LOG
cd /opt/domainmgr || exit 1
(
  node bin/domainmgr.js "$@" </dev/null >>$LOG 2>&1 &
  echo $! >/run/domainmgr.pid.tmp && mv /run/domainmgr.pid.tmp /run/domainmgr.pid
  wait $!
  echo "=== domainmgr exited rc=$? at $(date -u +%FT%TZ) ===" >>$LOG
) </dev/null >/dev/null 2>&1 &
i=0
until [ -s /run/domainmgr.pid ]; do sleep 0.05; i=$((i + 1)); [ $i -gt 200 ] && exit 1; done
cat /run/domainmgr.pid
EOF
chmod +x /usr/local/sbin/domainmgr-start
touch /var/log/domainmgr.log
tail -F /var/log/domainmgr.log 2>/dev/null | awk '{ print "[domainmgr] " $0; fflush() }' >/dev/console &
if [ -n "$DM_ARGS" ]; then
  echo "$DM_ARGS" | base64 -d | node -e 'for (const a of JSON.parse(require("fs").readFileSync(0, "utf8"))) console.log(a)' \
    >/etc/domainmgr.args || fail "dm.args"
  echo "domainmgr args: $(tr '\n' ' ' </etc/domainmgr.args)"
  echo "domainmgr pid $(/usr/local/sbin/domainmgr-start)"
  st domainmgr-started
fi
echo "DOM0-READY agent=$AGENT_PORT"
while true; do sleep 3600; done
