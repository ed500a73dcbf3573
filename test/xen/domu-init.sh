#!/bin/sh
# domU /init (busybox): print markers on the console (hvc0, logged by xenconsoled in dom0) and obey
# the kernel command line:
#   xt.marker=WORD        printed in the DOMU-HELLO line, so a test can tell its guests apart
#   xt.ignore_shutdown=1  the kernel's poweroff helper does nothing: `xl shutdown` is ignored
#   xt.crash=N            the kernel crashes itself N seconds after boot (sysrq c)
# The kernel runs /sbin/poweroff without stdio (usermode helper): it writes to /dev/console.
# A crash on demand also works from dom0: `xl sysrq <domid> c` makes this kernel panic.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
MARKER=none IGNORE=0 CRASH=
for a in $(cat /proc/cmdline); do
  case $a in
  xt.marker=*) MARKER=${a#xt.marker=} ;;
  xt.ignore_shutdown=*) IGNORE=${a#xt.ignore_shutdown=} ;;
  xt.crash=*) CRASH=${a#xt.crash=} ;;
  esac
done
mkdir -p /sbin
if [ "$IGNORE" = 1 ]; then
  printf '#!/bin/sh\necho "DOMU-IGNORING-SHUTDOWN marker=%s" >/dev/console\nexit 0\n' "$MARKER" >/sbin/poweroff
else
  printf '#!/bin/sh\necho "DOMU-POWEROFF marker=%s" >/dev/console\nexec /bin/busybox poweroff -f\n' "$MARKER" >/sbin/poweroff
fi
chmod +x /sbin/poweroff
echo 1 >/proc/sys/kernel/sysrq
echo "DOMU-HELLO marker=$MARKER kernel=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime) mem_kb=$(awk '/MemTotal/{print $2}' /proc/meminfo)"
if /bin/busybox insmod /xen-netfront.ko; then
  i=0
  while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 20 ]; do sleep 0.5; i=$((i + 1)); done
  ip link set eth0 up 2>/dev/null
  echo "DOMU-NET marker=$MARKER netdevs=$(ls /sys/class/net | tr '\n' ',') mac=$(cat /sys/class/net/eth0/address 2>/dev/null)"
fi
if [ -n "$CRASH" ]; then
  sleep "$CRASH"
  echo "DOMU-CRASHING marker=$MARKER"
  echo c >/proc/sysrq-trigger
fi
while true; do sleep 3600; done
