#!/usr/bin/env bash
# The one body behind every executable in sim/bin (xl, xenstore-write, xenstore, rkt, vmadm,
# simctl are symlinks to this file). It forwards the invocation to the simulator daemon of the
# host in $DOMAINMGR_SIM_DIR over 127.0.0.1 and replays the answer: stdout, stderr, exit code.
# It uses bash builtins only on the hot path (no fork), which is what keeps a call in the
# low milliseconds; the daemon is started on demand (see start_daemon) under a lock.
#
# Request: NUL-terminated fields
#   DMSIM1, token, tool, cwd, n_env, n_env x "KEY=VALUE", argc, argc x arg, stdin_len
# followed by stdin_len bytes of stdin (only for the commands that read stdin).
# Reply: "<exit> <stdout bytes> <stderr bytes>\n" then the stdout bytes, then the stderr bytes.
# LC_ALL=C makes ${#var} and read -N count bytes.
LC_ALL=C
tool=${0##*/}
sim_dir=${DOMAINMGR_SIM_DIR-}
if [[ -z $sim_dir ]]; then
  printf '%s: DOMAINMGR_SIM_DIR is not set; it must name the simulated host'\''s state directory\n' "$tool" >&2
  exit 70
fi
port_file=$sim_dir/daemon.port

# Only the commands that read stdin get it forwarded: reading a terminal or an open pipe
# that nobody closes would block every other call.
stdin_data=
send_stdin=0
stdin_kind=none
if [[ $tool == vmadm ]]; then
  # create reads stdin unless -f names a file; update reads it when given neither -f nor
  # key=value pairs; "-f -" always means stdin.
  case ${1-} in
  create) send_stdin=1 ;;
  update) [[ $# -eq 2 ]] && send_stdin=1 ;;
  esac
  if [[ ${1-} == create || ${1-} == update ]]; then
    prev=
    for a in "$@"; do
      case $a in
      --file=- | -f-) send_stdin=1 ;;
      --file=* | -f?*) send_stdin=0 ;;
      *) if [[ $prev == -f || $prev == --file ]]; then
        if [[ $a == - ]]; then send_stdin=1; else send_stdin=0; fi
      fi ;;
      esac
      prev=$a
    done
  fi
  if ((send_stdin)) && [[ -t 0 ]]; then
    stdin_kind=tty
  elif ((send_stdin)); then
    stdin_kind=data
    stdin_data=$(
      cat
      printf x
    )
    stdin_data=${stdin_data%x}
  fi
fi

env_list=("DMSIM_STDIN=$stdin_kind")
[[ -n ${STAGE1_XL_OPTS+x} ]] && env_list+=("STAGE1_XL_OPTS=$STAGE1_XL_OPTS")
[[ -n ${STAGE1_SEED_XL_CFG+x} ]] && env_list+=("STAGE1_SEED_XL_CFG=$STAGE1_SEED_XL_CFG")

# Sends the request and replays the reply. Returns 111 when no daemon of this host answers
# (nothing listening, or a stale port file naming another daemon's token); then nothing has
# happened yet and the call can go to a freshly started daemon.
call_daemon() {
  local port token rest hdr rc olen elen out err
  [[ -r $port_file ]] || return 111
  IFS=' ' read -r port token rest <"$port_file" || return 111
  [[ -n $port && -n $token ]] || return 111
  { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 111
  printf '%s\0' DMSIM1 "$token" "$tool" "$PWD" "${#env_list[@]}" "${env_list[@]}" "$#" "$@" "${#stdin_data}" >&3
  printf '%s' "$stdin_data" >&3
  if ! IFS=' ' read -r rc olen elen <&3; then
    # The request was sent: the command may or may not have happened, so it is not retried.
    printf '%s: the simulator daemon of %s went away during the call\n' "$tool" "$sim_dir" >&2
    exit 70
  fi
  if [[ $rc == WRONG ]]; then
    exec 3<&-
    return 111
  fi
  out= err=
  if ((olen > 0)); then IFS= read -r -d '' -N "$olen" out <&3; fi
  if ((elen > 0)); then IFS= read -r -d '' -N "$elen" err <&3; fi
  exec 3<&-
  printf '%s' "$out"
  printf '%s' "$err" >&2
  exit "$rc"
}

start_daemon() {
  local self root main waited
  # The host's folder, its lock and log, and (inherited) everything the daemon writes: owner only.
  umask 077
  mkdir -p "$sim_dir" || exit 70
  self=$(readlink -f "${BASH_SOURCE[0]}")
  root=${DOMAINMGR_SIM_ROOT:-${self%/sim/shim/*}}
  main=$root/dist/sim/daemon/main.js
  if [[ ! -f $main ]]; then
    printf '%s: the simulator daemon is not built (%s missing); run `npm run build` in %s\n' "$tool" "$main" "$root" >&2
    exit 70
  fi
  # One starter at a time; whoever gets the lock second finds the first one's daemon.
  exec 4>"$sim_dir/daemon.lock"
  flock 4
  if [[ -r $port_file ]]; then
    local port token rest
    IFS=' ' read -r port token rest <"$port_file"
    if [[ -n $port ]] && { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
      exec 3<&-
      exec 4>&-
      return 0
    fi
    rm -f "$port_file"
  fi
  setsid "${DOMAINMGR_SIM_NODE:-node}" "$main" "$sim_dir" </dev/null >>"$sim_dir/daemon.log" 2>&1 4>&- &
  waited=0
  while [[ ! -s $port_file ]]; do
    sleep 0.01
    waited=$((waited + 1))
    if ((waited > 1000)); then
      printf '%s: the simulator daemon did not start within 10 s; see %s/daemon.log\n' "$tool" "$sim_dir" >&2
      exit 70
    fi
  done
  exec 4>&-
}

call_daemon "$@"
if [[ $tool == simctl && ${1-} == stop ]]; then
  exit 0 # nothing to stop
fi
start_daemon
call_daemon "$@"
# A daemon that was just started and still did not answer as this host's daemon: give up loudly.
# (A stale token from a daemon of another directory is handled above by restarting.)
rm -f "$port_file"
start_daemon
call_daemon "$@"
printf '%s: cannot reach the simulator daemon of %s; see %s/daemon.log\n' "$tool" "$sim_dir" "$sim_dir" >&2
exit 70
