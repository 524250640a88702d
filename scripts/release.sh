#!/usr/bin/env bash
# Builds gridx for every platform volunteers run (make release):
#
#     dist/release/gridx-VERSION-linux-x64        gridx-VERSION-macos-x64     gridx-VERSION-windows-x64.exe
#     dist/release/gridx-VERSION-linux-arm64      gridx-VERSION-macos-arm64   SHA256SUMS
#
# Each binary carries the stage program for both CPUs a Docker engine may run (x64 and arm64): a
# Mac's or a Windows PC's Docker Desktop runs a Linux VM of either kind, and the worker picks by
# the engine's reported architecture (src/worker/stage/program.ts). Bun fetches each target's
# runtime from the npm registry on first use and caches it. RELEASE_DIR changes where they go;
# RELEASE_TARGETS (e.g. "linux-x64 linux-arm64") builds only some.
set -euo pipefail
cd "$(dirname "$0")/.."

BUN=${BUN:-node_modules/.bin/bun}
out=${RELEASE_DIR:-dist/release}
targets=${RELEASE_TARGETS:-linux-x64 linux-arm64 macos-x64 macos-arm64 windows-x64}
version=$(sed -n "s/^export const VERSION = '\(.*\)'$/\1/p" src/version.ts)
[ -n "$version" ] || { echo "release: no VERSION in src/version.ts" >&2; exit 1; }
log() { printf 'release: %s\n' "$*" >&2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/stage" "$out"
for arch in x64 arm64; do
  bash scripts/build-stage.sh "$work/stage/gridx-stage-linux-$arch" "$arch"
done

rm -f "$out"/gridx-"$version"-* "$out/SHA256SUMS"
for target in $targets; do
  os=${target%-*} arch=${target#*-}
  case "$os" in
    linux) bun_os=linux ext= ;;
    macos) bun_os=darwin ext= ;;
    windows) bun_os=windows ext=.exe ;;
    *) log "unknown target $target (use linux|macos|windows-x64|arm64)"; exit 2 ;;
  esac
  name=gridx-$version-$target$ext
  started=$(date +%s)
  # The same build as the native one in the Makefile (scripts/build.ts says why each setting);
  # each target's own directory, because bun also writes source maps beside the binary.
  mkdir -p "$work/$target"
  "$BUN" scripts/build.ts --target="bun-$bun_os-$arch" \
    src/main.ts "$work/stage/gridx-stage-linux-x64" "$work/stage/gridx-stage-linux-arm64" \
    --outfile "$work/$target/$name" >"$work/$target.log" 2>&1 || {
    cat "$work/$target.log" >&2
    log "building $target failed (above)"
    exit 1
  }
  mv "$work/$target/$name" "$out/$name"
  log "$name: $(($(stat -c %s "$out/$name") / 1024 / 1024)) MiB in $(($(date +%s) - started)) s"
done
(cd "$out" && sha256sum gridx-"$version"-* >SHA256SUMS)
log "checksums in $out/SHA256SUMS (check with: cd $out && sha256sum -c SHA256SUMS)"
