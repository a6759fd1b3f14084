#!/usr/bin/env bash
# TypeScript for Terrace's own agent API (proto/terrace/agent/v1) into src/gen/.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
GEN_CALLER="$0" exec bash "$here/../../scripts/gen-proto.sh" "$here/../../proto" "$here/src/gen" terrace/agent/v1/cni.proto
