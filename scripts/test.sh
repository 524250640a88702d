#!/usr/bin/env bash
# Runs the whole test suite (unit, integration with real Docker, end to end through dist/gridx)
# and ends with one plain line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
node_modules/.bin/bun test --timeout 120000 "$@" 2>&1 | tee "$log"
code=${PIPESTATUS[0]}
passed=$(grep -Eo '^ *[0-9]+ pass$' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
failed=$(grep -Eo '^ *[0-9]+ fail$' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
rm -f "$log"
if [ "$code" -ne 0 ] && [ "$failed" = 0 ]; then failed=1; fi
echo "$passed passed, $failed failed"
exit "$code"
