#!/usr/bin/env bash
# Compiles the stage program (src/worker/stage/stage.c) into a small static executable, which
# `bun build --compile` then embeds in gridx. Uses musl-gcc when present (about 40 KB), else the
# system compiler with static glibc (about 700 KB). On Debian/Ubuntu as root, installs musl-tools
# when it is missing (or goes on with the system compiler if that fails); with no compiler at
# all, stops with the exact instruction.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-dist/gridx-stage}
src=src/worker/stage/stage.c
log() { printf 'build-stage: %s\n' "$*" >&2; }

if ! command -v musl-gcc >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  log "installing gcc and musl-tools from the distribution's packages"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq gcc musl-tools >/dev/null; } ||
    log "could not install them; trying the system compiler"
fi
if ! command -v musl-gcc >/dev/null 2>&1 && ! command -v cc >/dev/null 2>&1; then
  log "a C compiler is needed to build gridx's stage program: install gcc and musl-tools"
  log "with your package manager, e.g. 'sudo apt-get install gcc musl-tools', then run this again."
  exit 1
fi

cc=$(command -v musl-gcc || command -v cc)
mkdir -p "$(dirname "$out")"
if ! "$cc" -static -Os -s -Wall -Wextra -o "$out.tmp" "$src"; then
  log "compiling $src with $cc failed. Static linking with the system compiler needs the C"
  log "library's static files (Debian/Ubuntu: libc6-dev); installing musl-tools avoids that."
  exit 1
fi
mv "$out.tmp" "$out"
