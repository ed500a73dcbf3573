#!/usr/bin/env bash
# The service's main job on a fresh machine with Node and npm: installs and builds, makes sure a
# local nats-server with JetStream runs, starts domainmgr on the built-in simulated host, applies
# the sample domains from examples/<backend>/ and shows their status reaching RUNNING.
#   bash scripts/demo.sh                 # xl (Xen) backend
#   bash scripts/demo.sh --backend rkt   # containers through rkt + stage1-xen
#   bash scripts/demo.sh --backend vmadm # SmartOS zones and bhyve VMs
#   bash scripts/demo.sh --backend lxc   # real Linux containers through LXC 5 (root; installs lxc)
# With a terminal it then follows the statuses live (Ctrl-C stops domainmgr); without one it
# stops after showing them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

backend=xl
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend=${2:?--backend needs xl, rkt, vmadm or lxc}; shift 2 ;;
    --backend=*) backend=${1#--backend=}; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "demo: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
case "$backend" in xl|rkt|vmadm|lxc) ;; *) echo "demo: --backend must be xl, rkt, vmadm or lxc" >&2; exit 2 ;; esac

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ ! -x node_modules/.bin/tsc ] || [ ! -f dist/cmd/domainmgr.js ] || [ package-lock.json -nt dist/cmd/domainmgr.js ]; then
  say "installing and building (npm ci)"
  npm ci --no-audit --no-fund
fi

say "NATS with JetStream on 127.0.0.1:4222"
bash scripts/ensure-nats.sh

demo=$root/.demo/$backend
node_id=demo-$backend
# The lxc demo's containers: killed and their folders removed (as a simulated host is stopped).
remove_containers() {
  [ "$backend" = lxc ] && [ -d "$demo/state/lxc" ] || return 0
  for c in $(lxc-ls -P "$demo/state/lxc" 2>/dev/null); do
    lxc-stop -P "$demo/state/lxc" -n "$c" -k >/dev/null 2>&1 || true
    rm -rf "${demo:?}/state/lxc/$c"
  done
}
remove_containers
rm -rf "$demo"
mkdir -p "$demo"
export DOMAINMGR_SIM_DIR=$demo/sim
export PATH=$root/sim/bin:$PATH
: > "$demo/stage1-xen.aci"   # the simulated rkt only needs the stage1 image to exist
# domainmgr refuses, at create, a kernel, disk or image path that does not exist on the host. The
# demo's host folder of images is .demo/<backend>/images: the examples are copied with their paths
# moved there; for lxc it holds a busybox root filesystem, for the simulated host empty files (the
# simulated host reads none of them).
images=$demo/images
mkdir -p "$images" "$demo/examples"
where="the simulated host"
if [ "$backend" = lxc ]; then
  say "LXC 5 and the bridge dmlxcbr0 (scripts/lxc/setup.sh), a busybox root filesystem"
  DOMAINMGR_LXC_BRIDGES=dmlxcbr0 bash scripts/lxc/setup.sh
  bash scripts/lxc/build-rootfs.sh "$images/busybox" "$images/busybox.tar"
  where="this host's LXC"
fi
for f in examples/"$backend"/*.yaml; do
  sed "s#/var/lib/domainmgr/images/#$images/#g" "$f" >"$demo/examples/${f##*/}"
done
if [ "$backend" != lxc ]; then
  grep -ho "$images/[^\"' ]*" "$demo"/examples/*.yaml | sort -u | while read -r p; do : >"$p"; done
fi
# domainctl checks a document with the node's backend rules before publishing: the same roots.
export DOMAINMGR_STORAGE_ALLOWED_ROOTS=$images

say "starting domainmgr --backend $backend on $where (log: .demo/$backend/domainmgr.log)"
node bin/domainmgr.js --backend "$backend" --node-id "$node_id" \
  --state-dir "$demo/state" --allowed-roots "$images" \
  --rkt-stage1 "$demo/stage1-xen.aci" --probe-interval-ms 2000 \
  --http-listen 127.0.0.1:0 >"$demo/domainmgr.log" 2>&1 &
pid=$!
stop() {
  if kill -0 "$pid" 2>/dev/null; then
    say "stopping domainmgr (SIGTERM: domains are left running, as on a real node)"
    kill -TERM "$pid" 2>/dev/null || true
    # domainmgr bounds its own shutdown; this bound is the demo's, so that it always ends.
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "demo: domainmgr did not stop within 20 s of SIGTERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  fi
  simctl stop >/dev/null 2>&1 || true
  remove_containers
}
trap stop EXIT INT TERM

for _ in $(seq 1 100); do
  grep -q '"msg":"ready"' "$demo/domainmgr.log" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { echo "domainmgr exited:"; tail -20 "$demo/domainmgr.log"; exit 1; }
  sleep 0.1
done
grep -o '"address":{[^}]*}' "$demo/domainmgr.log" | head -1 | sed 's/^/metrics and health: /'

say "applying examples/$backend/ and waiting for each domain"
for f in "$demo"/examples/*.yaml; do
  # A bounded wait: on a failure the demo shows why (on stderr) instead of waiting five minutes.
  node bin/domainctl.js apply -f "$f" --node "$node_id" --wait --timeout 60s || {
    echo "demo: applying ${f##*/} did not finish; the last lines of .demo/$backend/domainmgr.log:" >&2
    tail -30 "$demo/domainmgr.log" >&2
    exit 1
  }
done

say "domainctl get --node $node_id"
node bin/domainctl.js get --node "$node_id"

say "$where, as its own tools see it"
case "$backend" in
  vmadm) vmadm list ;;
  lxc) lxc-ls -P "$demo/state/lxc" -f ;;
  *) xl list ;;
esac

if [ -t 0 ] && [ -t 1 ]; then
  say "following status changes (node bin/domainctl.js watch --node $node_id); Ctrl-C stops"
  if [ "$backend" = lxc ]; then
    echo "try in another terminal:  kill -9 \$(lxc-info -P $demo/state/lxc -n 6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d -p -H)"
  else
    echo "try in another terminal:  PATH=$root/sim/bin:\$PATH DOMAINMGR_SIM_DIR=$demo/sim simctl crash web"
  fi
  node bin/domainctl.js watch --node "$node_id" || true
fi
