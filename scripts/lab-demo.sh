#!/usr/bin/env bash
# `make demo`: a Terrace cluster in network namespaces (three nodes, one on BIRD, an FRR
# top-of-rack router, etcd), pods wired by the real CNI plugin, narrated;
# then everything is torn down. Needs root (network namespaces) and a build.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "the lab creates network namespaces: run as root (e.g. sudo make demo)" >&2
  exit 1
fi
if [ ! -f e2e/dist/src/demo.js ] || [ ! -f packages/agent/dist/src/main.js ]; then
  echo "the lab is not built; run 'make build' first" >&2
  exit 1
fi
for tool in etcd gobgpd gobgp /usr/lib/frr/bgpd vtysh ping curl ip; do
  command -v "$tool" >/dev/null || { echo "$tool is missing; run scripts/install-deps.sh" >&2; exit 1; }
done

# The demo tears the lab down itself, also on Ctrl-C (SIGINT) and SIGTERM.
exec node e2e/dist/src/demo.js
