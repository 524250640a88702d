#!/usr/bin/env bash
# Make sure a Docker engine answers. On Debian/Ubuntu as root, install docker.io and start
# dockerd in the background when needed; anywhere else, stop with the exact instruction.
set -euo pipefail

log() { printf 'docker-up: %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "no Docker engine installed; installing docker.io from the distribution's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io >/dev/null
  else
    log "no Docker engine found. Install Docker (https://docs.docker.com/engine/install/),"
    log "start it (e.g. 'sudo systemctl start docker'), then run this again."
    exit 1
  fi
fi

if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    log "the Docker engine is not running. Start it with 'sudo systemctl start docker'"
    log "(or 'sudo dockerd &'), and add yourself to the 'docker' group, then run this again."
    exit 1
  fi
  log "starting dockerd in the background (log: /var/log/gridx-dockerd.log)"
  # In its own session: a caller that stops its process group (a test runner, a CI step) must not
  # take the engine down with it.
  rm -f /var/run/docker.pid
  setsid nohup dockerd >/var/log/gridx-dockerd.log 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then break; fi
    sleep 0.5
  done
fi

if ! docker info >/dev/null 2>&1; then
  log "dockerd did not come up within 30 s; see /var/log/gridx-dockerd.log"
  exit 1
fi
log "Docker engine $(docker version --format '{{.Server.Version}}') is running"
