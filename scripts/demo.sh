#!/usr/bin/env bash
# The main job on the embedded default: a coordinator (SQLite), a demo user, one worker, and
# examples/hello.py submitted through them with its output live. Everything stops at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

GRIDX=./dist/gridx
export GRIDX_HOME="${GRIDX_HOME:-$(mktemp -d /tmp/gridx-demo.XXXXXX)}"
HTTP_PORT="${GRIDX_HTTP_PORT:-8081}"
WS_PORT="${GRIDX_WS_PORT:-8080}"
USER_NAME=demo
PASSWORD="demo-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

bash scripts/docker-up.sh
IMAGE="${GRIDX_DEMO_IMAGE:-}"
if [ -z "$IMAGE" ]; then
  if docker image inspect python:3.12-slim >/dev/null 2>&1 || timeout 120 docker pull -q python:3.12-slim >/dev/null 2>&1; then
    IMAGE=python:3.12-slim
  else
    say "python:3.12-slim cannot be pulled here (no registry); using a Python image built from Debian packages"
    bash scripts/local-images.sh
    IMAGE=gridx-local/python:bookworm
  fi
fi

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

say "1/4 gridx serve (data in $GRIDX_HOME/coordinator)"
$GRIDX serve --http-port "$HTTP_PORT" --ws-port "$WS_PORT" &
pids+=($!)
# Wait for the API port (bash's /dev/tcp: no curl needed), then show /health when curl is there.
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT") 2>/dev/null && break
  sleep 0.1
done
if command -v curl >/dev/null 2>&1; then curl -sf "http://127.0.0.1:$HTTP_PORT/health" >&2 && echo >&2; fi

say "2/4 gridx register --user $USER_NAME"
$GRIDX register --coordinator "127.0.0.1:$HTTP_PORT" --user "$USER_NAME" --password "$PASSWORD"

say "3/4 gridx work (one worker, 2 slots)"
$GRIDX work --coordinator "127.0.0.1:$HTTP_PORT" --user "$USER_NAME" --password "$PASSWORD" --name demo-worker --images "python:*,$IMAGE" &
pids+=($!)
for _ in $(seq 1 100); do
  $GRIDX workers --json 2>/dev/null | grep -q demo-worker && break
  sleep 0.1
done

say "4/4 gridx submit --image $IMAGE examples/hello.py -- Grid-X demo"
set +e
$GRIDX submit --image "$IMAGE" --output "$GRIDX_HOME/demo-out" examples/hello.py -- Grid-X demo
code=$?
if [ -f "$GRIDX_HOME/demo-out/hello.txt" ]; then
  say "the job's /out file came back: $GRIDX_HOME/demo-out/hello.txt"
  cat "$GRIDX_HOME/demo-out/hello.txt" >&2
fi
set -e
say "job exited with $code; stopping the worker and the coordinator"
cleanup
trap - EXIT
exit "$code"
