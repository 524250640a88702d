#!/usr/bin/env bash
# Build the local images that the demo and the tests use, from Debian packages only (no
# container registry is needed). Their names live under gridx-local/ so that a real image
# such as python:3.12-slim is never silently shadowed.
#   gridx-local/python:bookworm   python3-minimal and python3-pip on a minbase Debian (debootstrap)
#   gridx-local/busybox:latest    busybox-static in an image FROM scratch
set -euo pipefail

PY_IMAGE=gridx-local/python:bookworm
BB_IMAGE=gridx-local/busybox:latest
log() { printf 'local-images: %s\n' "$*" >&2; }

need_pkg() {
  if ! command -v "$1" >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      log "installing $2"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    else
      log "'$1' is missing: install the '$2' package, then run this again"; exit 1
    fi
  fi
}

if ! docker image inspect "$BB_IMAGE" >/dev/null 2>&1; then
  need_pkg busybox busybox-static
  dir=$(mktemp -d)
  mkdir -p "$dir/bin"
  cp "$(command -v busybox)" "$dir/bin/busybox"
  printf 'FROM scratch\nCOPY bin/ /bin/\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["/bin/sh"]\n' >"$dir/Dockerfile"
  log "building $BB_IMAGE"
  DOCKER_BUILDKIT=0 docker build -q -t "$BB_IMAGE" "$dir" >/dev/null
  rm -rf "$dir"
fi

# pip is needed by jobs that declare packages (issue 13); an older build without it is replaced.
has_pip() { docker run --rm --network none --entrypoint python3 "$PY_IMAGE" -m pip --version >/dev/null 2>&1; }
if ! docker image inspect "$PY_IMAGE" >/dev/null 2>&1 || ! has_pip; then
  need_pkg debootstrap debootstrap
  dir=$(mktemp -d)
  log "building $PY_IMAGE with debootstrap (about a minute)"
  debootstrap --variant=minbase --include=python3-minimal,python3-pip bookworm "$dir" >/tmp/gridx-debootstrap.log 2>&1 ||
    { log "debootstrap failed; see /tmp/gridx-debootstrap.log"; exit 1; }
  rm -rf "$dir/var/cache/apt/archives"/*.deb "$dir/var/lib/apt/lists"/*
  ln -sf python3 "$dir/usr/bin/python"
  tar -C "$dir" -c . | docker import -c 'CMD ["python3"]' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$PY_IMAGE" >/dev/null
  rm -rf "$dir"
fi
log "images ready: $PY_IMAGE $BB_IMAGE"
