#!/usr/bin/env bash
# TypeScript for GoBGP's gRPC API (apipb), from the protos Debian's
# golang-github-osrg-gobgp-dev installs, into src/gen/.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
api="${GOBGP_API_DIR:-/usr/share/gocode/src/github.com/osrg/gobgp/api}"
[ -f "$api/gobgp.proto" ] || { echo "gen.sh: $api/gobgp.proto missing (install golang-github-osrg-gobgp-dev)" >&2; exit 1; }
GEN_CALLER="$0" exec bash "$here/../../scripts/gen-proto.sh" "$api" "$here/src/gen" gobgp.proto attribute.proto capability.proto
