#!/usr/bin/env bash
# Makes sure a nats-server with JetStream answers on ${NATS_HOST:-127.0.0.1}:${NATS_PORT:-4222}.
# Uses the one that answers; otherwise starts the installed binary (installing Debian's
# nats-server package first when it is missing). Idempotent; safe to run before every test run.
set -euo pipefail
host=${NATS_HOST:-127.0.0.1}
port=${NATS_PORT:-4222}
store=${NATS_STORE_DIR:-${TMPDIR:-/tmp}/domainmgr-nats-$port}

# Reads the server's INFO line: prints it, or fails when nothing answers.
info() {
  local line
  { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
  IFS= read -r -t 2 line <&3 || { exec 3>&-; return 1; }
  exec 3>&-
  printf '%s\n' "$line"
}

if line=$(info); then
  case "$line" in
    *'"jetstream":true'*) echo "nats: JetStream server answering on $host:$port"; exit 0 ;;
    *) echo "nats: a server answers on $host:$port but without JetStream; restart it with -js" >&2; exit 1 ;;
  esac
fi

bin=$(command -v nats-server || true)
[ -z "$bin" ] && [ -x /usr/sbin/nats-server ] && bin=/usr/sbin/nats-server
if [ -z "$bin" ]; then
  echo "nats: nats-server not found; installing Debian's nats-server package"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq nats-server >/dev/null
  bin=$(command -v nats-server || echo /usr/sbin/nats-server)
fi

mkdir -p "$store"
log="$store/nats-server.log"
echo "nats: starting $bin -js on $host:$port (store $store, log $log)"
# setsid: the server outlives this script (and a CI step's process group).
setsid "$bin" -a "$host" -p "$port" -js -sd "$store" -l "$log" </dev/null >/dev/null 2>&1 &
for _ in $(seq 1 100); do
  if line=$(info); then
    case "$line" in *'"jetstream":true'*) echo "nats: ready"; exit 0 ;; esac
  fi
  sleep 0.1
done
echo "nats: the server did not come up; see $log" >&2
exit 1
