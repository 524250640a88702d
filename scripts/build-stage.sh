#!/usr/bin/env bash
# Compiles the stage program (src/worker/stage/stage.c) into a small static executable, which
# `bun build --compile` then embeds in gridx.
#
#     scripts/build-stage.sh [OUT] [ARCH]      ARCH: x64 or arm64 (default: this machine's)
#
# For this machine's CPU it uses musl-gcc when present (about 40 KB), else the system compiler
# with static glibc (about 700 KB). For the other CPU (make release) it uses that CPU's cross
# compiler: <triple>-linux-musl-gcc when present, else Debian's <triple>-linux-gnu-gcc with the
# cross C library, static. On Debian/Ubuntu as root, installs what is missing (or goes on with
# what there is if that fails); with no compiler at all, stops with the exact instruction.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-dist/gridx-stage}
src=src/worker/stage/stage.c
log() { printf 'build-stage: %s\n' "$*" >&2; }

case "$(uname -m)" in
  x86_64 | amd64) native=x64 ;;
  aarch64 | arm64) native=arm64 ;;
  *) native=$(uname -m) ;;
esac
arch=${2:-$native}
case "$arch" in
  x64) triple=x86_64 debarch=amd64 ;;
  arm64) triple=aarch64 debarch=arm64 ;;
  *)
    log "no stage program for '$arch': gridx builds it for x64 and arm64"
    exit 2
    ;;
esac

install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 0
  log "installing $* from the distribution's packages"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq "$@" >/dev/null; } ||
    log "could not install them; trying what is here"
}

if [ "$arch" = "$native" ]; then
  command -v musl-gcc >/dev/null 2>&1 || install gcc musl-tools
  if ! command -v musl-gcc >/dev/null 2>&1 && ! command -v cc >/dev/null 2>&1; then
    log "a C compiler is needed to build gridx's stage program: install gcc and musl-tools"
    log "with your package manager, e.g. 'sudo apt-get install gcc musl-tools', then run this again."
    exit 1
  fi
  cc=$(command -v musl-gcc || command -v cc)
  hint="Static linking with the system compiler needs the C library's static files (Debian/Ubuntu: libc6-dev); installing musl-tools avoids that."
else
  cross() { command -v "$triple-linux-musl-gcc" || command -v "$triple-linux-gnu-gcc"; }
  cross >/dev/null 2>&1 || install "gcc-${triple//_/-}-linux-gnu" "libc6-dev-$debarch-cross"
  if ! cc=$(cross); then
    log "building the $arch stage program on this $native machine needs a cross compiler: install"
    log "$triple-linux-musl-gcc, or on Debian/Ubuntu 'sudo apt-get install gcc-${triple//_/-}-linux-gnu libc6-dev-$debarch-cross'"
    exit 1
  fi
  hint="Static linking with $cc needs the cross C library's static files (Debian/Ubuntu: libc6-dev-$debarch-cross)."
fi

mkdir -p "$(dirname "$out")"
if ! "$cc" -static -Os -s -Wall -Wextra -o "$out.tmp" "$src"; then
  log "compiling $src with $cc failed. $hint"
  exit 1
fi
mv "$out.tmp" "$out"
