#!/usr/bin/env bash
# `make demo`: the fabric in network namespaces (two racks of dual-homed nodes, two FRR
# ToRs per rack and a spine, dual stack, GoBGP and BIRD nodes, etcd), pods wired by the
# real CNI plugin, narrated; then everything is torn down. `--one-rack` (`make
# demo-one-rack`): the smaller lab, three nodes behind one ToR. `--multicluster` (`make
# demo-multicluster`): two clusters, each its own etcd, controller, ToR and nodes, routing
# to each other's pods through gateway nodes. `--keep` (`make lab`): the one-rack lab with a
# controller, left running (state in .lab/, docs/lab.md); `--down` (`make lab-down`) removes
# it. Needs root (network namespaces) and a build.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "the lab creates network namespaces: run as root (e.g. sudo make demo)" >&2
  exit 1
fi
demo=e2e/dist/src/fabric-demo.js
args=()
case "${1:-}" in
  "") ;;
  --keep) demo=e2e/dist/src/kept/main.js; args=(up) ;;
  --down) demo=e2e/dist/src/kept/main.js; args=(down) ;;
  --one-rack) demo=e2e/dist/src/demo.js ;;
  --multicluster) demo=e2e/dist/src/multicluster-demo.js ;;
  *) echo "lab-demo.sh: unknown option $1 (--one-rack, --multicluster, --keep or --down)" >&2; exit 2 ;;
esac
if [ ! -f "$demo" ] || [ ! -f packages/agent/dist/src/main.js ]; then
  echo "the lab is not built; run 'make build' first" >&2
  exit 1
fi
for tool in etcd etcdctl gobgpd gobgp bird birdc /usr/lib/frr/bgpd vtysh ping curl ip; do
  command -v "$tool" >/dev/null || { echo "$tool is missing; run scripts/install-deps.sh" >&2; exit 1; }
done

# A demo tears the lab down itself, also on Ctrl-C (SIGINT) and SIGTERM; a kept lab
# lives in a detached process until `make lab-down`.
exec node "$demo" "${args[@]}"
