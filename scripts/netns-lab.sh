#!/usr/bin/env bash
# A private network of "hosts" on this machine, for multi-host tests: one network namespace per
# host, each with its own address, joined by veth pairs to a bridge that lives in a namespace of
# its own. Nothing is added to the machine's own namespace, so the lab's traffic (10.231.0.0/24)
# exists only between its veth pairs and can reach nothing else; two labs never see each other.
#
#   netns-lab.sh up LAB HOST=ADDR...   e.g. up gx123 coord=10.231.0.1 w1=10.231.0.11
#   netns-lab.sh down LAB              stop the lab's processes, delete its namespaces
#   netns-lab.sh gc                    remove labs whose creating process (LAB_OWNER) is gone
#
# A host's namespace is LAB-HOST and its interface eth0: run things there with
# `ip netns exec LAB-HOST CMD`. Needs root; installs iproute2/iptables when missing (Debian).
set -euo pipefail

STATE=/run/gridx-netns
log() { printf 'netns-lab: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

need_tools() {
  [ "$(id -u)" = 0 ] || die "network namespaces need root: run as root (or with sudo)"
  local missing=()
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  command -v iptables >/dev/null 2>&1 || missing+=(iptables)
  if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]}: install them, then run this again"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

valid_name() { [[ "$1" =~ ^[a-z][a-z0-9]{0,11}$ ]] || die "'$1' is not a lab/host name (a-z0-9, at most 12)"; }

down() {
  local lab=$1 ns pid
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^${lab}-" || true); do
    # Only processes inside this lab's namespaces: the ones the lab's user started there.
    for pid in $(ip netns pids "$ns" 2>/dev/null || true); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -f "$STATE/$lab.owner"
}

up() {
  local lab=$1
  shift
  valid_name "$lab"
  [ $# -gt 0 ] || die "name at least one HOST=ADDR"
  down "$lab"
  mkdir -p "$STATE"
  echo "${LAB_OWNER:-$PPID}" >"$STATE/$lab.owner"
  trap 'down "$lab"' ERR
  local sw="$lab-sw"
  ip netns add "$sw"
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
  local spec host addr
  for spec in "$@"; do
    host=${spec%%=*}
    addr=${spec#*=}
    valid_name "$host"
    [[ "$addr" =~ ^10\.231\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "'$addr' is not a 10.231.x.x address"
    ip netns add "$lab-$host"
    ip -n "$lab-$host" link set lo up
    # Both ends are created inside namespaces: no interface ever appears on the machine itself.
    ip -n "$sw" link add "v-$host" type veth peer name eth0 netns "$lab-$host"
    ip -n "$sw" link set "v-$host" master br0 up
    ip -n "$lab-$host" addr add "$addr/24" dev eth0
    ip -n "$lab-$host" link set eth0 up
  done
  trap - ERR
  log "lab $lab up: $*"
}

gc() {
  [ -d "$STATE" ] || return 0
  local f lab pid
  for f in "$STATE"/*.owner; do
    [ -e "$f" ] || continue
    lab=$(basename "$f" .owner)
    pid=$(cat "$f")
    if ! kill -0 "$pid" 2>/dev/null; then
      log "removing lab $lab (its owner $pid is gone)"
      down "$lab"
    fi
  done
}

cmd=${1:-}
shift || true
case "$cmd" in
  up)
    need_tools
    up "$@"
    ;;
  down)
    [ $# = 1 ] || die "usage: netns-lab.sh down LAB"
    down "$1"
    ;;
  gc) gc ;;
  *) die "usage: netns-lab.sh up LAB HOST=ADDR... | down LAB | gc" ;;
esac
