#!/usr/bin/env bash
# Installs the system tools the test suite drives besides Docker: iproute2 and iptables (network
# namespaces for the multi-host tests), openssl and nginx (TLS behind a reverse proxy), curl,
# docker-compose (the deployment file), qemu-user-static (the arm64 release binary) and
# postgresql (the store's second engine; the tests start their own private cluster with initdb),
# redis-server (the dispatch bench's BullMQ baseline, bench/redis.ts starts a private one),
# chromium (the dashboard's browser tests), prometheus (the metrics scrape test) and tinyproxy
# (the proxy tests). On Debian/Ubuntu as root it installs what is missing; elsewhere it says what
# to install, and the tests that need a missing tool are skipped with a note.
set -euo pipefail

missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
# The release test runs the arm64 binary and stage program under qemu (its cross compiler comes
# from scripts/build-stage.sh).
command -v qemu-aarch64-static >/dev/null 2>&1 || missing+=(qemu-user-static)
# Debian keeps initdb and pg_ctl off PATH, under /usr/lib/postgresql/VERSION/bin; the cluster the
# tests start is theirs (test/support/postgres.ts), so the package's own one is not needed.
command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
# The dispatch bench's baseline runs BullMQ on a private redis-server of its own (bench/redis.ts).
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# The dashboard's tests drive Debian's chromium headless (playwright-core, no browser download);
# the metrics test scrapes the coordinator with Debian's prometheus and checks it with promtool.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
# The proxy tests (a worker or CLI that reaches the coordinator only through an HTTP proxy) run
# Debian's tinyproxy on a loopback port of their own (test/support/tinyproxy.ts).
command -v tinyproxy >/dev/null 2>&1 || missing+=(tinyproxy)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "test-deps: missing ${missing[*]}; install them (e.g. 'sudo apt-get install ${missing[*]}') or the tests that need them are skipped" >&2
fi
