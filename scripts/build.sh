#!/usr/bin/env bash
# Compiles every package and leaves launchers in bin/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x packages/bgp/scripts/gen.sh ]; then bash packages/bgp/scripts/gen.sh; fi
npx tsc -b
echo "build: ok"
