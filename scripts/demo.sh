#!/usr/bin/env bash
# `make demo` (until the namespace lab exists): a real etcd on free loopback
# ports, the example manifests applied with terracectl, every output format,
# a refused manifest, an offline validation. etcd is always stopped (by PID)
# and its data removed, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CTL="$ROOT/bin/terracectl"
EXAMPLES="deploy/examples"

if [ ! -f packages/cli/dist/src/main.js ]; then
  echo "terracectl is not built; run 'make build' first" >&2
  exit 1
fi
command -v etcd >/dev/null || { echo "etcd is not installed; run scripts/install-deps.sh" >&2; exit 1; }

ETCD_PID=""
DATA_DIR="$(mktemp -d "${TMPDIR:-/tmp}/terrace-demo-etcd.XXXXXX")"
cleanup() {
  if [ -n "$ETCD_PID" ] && kill -0 "$ETCD_PID" 2>/dev/null; then
    kill "$ETCD_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$ETCD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$ETCD_PID" 2>/dev/null || true
    wait "$ETCD_PID" 2>/dev/null || true
  fi
  rm -rf "$DATA_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Two ports the kernel says are free right now (client and peer).
read -r CLIENT_PORT PEER_PORT < <(node -e '
  const net = require("node:net");
  const one = () => new Promise((r) => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); });
  (async () => console.log(await one(), await one()))();
')
ENDPOINT="http://127.0.0.1:$CLIENT_PORT"
PEER="http://127.0.0.1:$PEER_PORT"

if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD='' PLAIN=''; fi
step() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$PLAIN"; }
# Prints the command as an operator would type it (quoting what needs it), then runs it.
quoted() {
  local out="" a
  for a in "$@"; do
    if [[ "$a" =~ ^[-A-Za-z0-9_./=:,]+$ ]]; then out+=" $a"; else out+=" '$a'"; fi
  done
  printf '%s' "$out"
}
show() { printf '$ terracectl%s\n' "$(quoted "$@")"; "$CTL" --etcd-endpoints "$ENDPOINT" "$@"; }

step "Starting a throw-away etcd at $ENDPOINT (data in $DATA_DIR)"
etcd --name demo --data-dir "$DATA_DIR" \
  --listen-client-urls "$ENDPOINT" --advertise-client-urls "$ENDPOINT" \
  --listen-peer-urls "$PEER" --initial-advertise-peer-urls "$PEER" \
  --initial-cluster "demo=$PEER" --initial-cluster-state new \
  --log-level error --logger zap >"$DATA_DIR.log" 2>&1 &
ETCD_PID=$!
for _ in $(seq 1 150); do
  if curl -fsS "$ENDPOINT/health" >/dev/null 2>&1; then break; fi
  kill -0 "$ETCD_PID" 2>/dev/null || { echo "etcd exited:"; cat "$DATA_DIR.log"; exit 1; }
  sleep 0.1
done
rm -f "$DATA_DIR.log"
echo "etcd is up (pid $ETCD_PID)"

step "Which terracectl and which cluster are we talking to?"
show version

step "Applying the example manifests: two pools, BGP settings, peers, IPAM settings"
show apply -f "$EXAMPLES/pools.yaml" -f "$EXAMPLES/bgpconfig.yaml" -f "$EXAMPLES/peers.yaml" -f "$EXAMPLES/ipamconfig.yaml"

step "A manifest written for calicoctl (projectcalico.org/v3) is accepted as it is"
show apply -f "$EXAMPLES/calico-ippool.yaml"

step "Applying the same files again changes nothing"
show apply -f "$EXAMPLES/pools.yaml"

step "The pools as a table (the default), then the wide table"
show get ippools
show get ippools -o wide

step "Peers, BGP settings and IPAM settings"
show get bgppeers
show get bgpconfig
show get ipamconfig

step "One pool as YAML: this output can be applied back unchanged"
show get ippool pool-v4 -o yaml

step "Feeding that YAML straight back to apply: nothing changes"
printf '$ terracectl get ippool pool-v4 -o yaml | terracectl apply -f -\n'
"$CTL" --etcd-endpoints "$ENDPOINT" get ippool pool-v4 -o yaml | "$CTL" --etcd-endpoints "$ENDPOINT" apply -f -

step "The peers as JSON"
show get bgppeers -o json

step "A manifest whose second pool overlaps pool-v4 is refused, and nothing in it is written"
set +e
show apply -f "$EXAMPLES/bad-overlap.yaml"
rc=$?
set -e
echo "exit code: $rc"
[ "$rc" -eq 1 ] || { echo "expected exit code 1" >&2; exit 1; }
show get ippools

step "Changing a pool with a merge patch, and labelling it"
show patch ippool pool-v4 -p '{"spec":{"natOutgoing":false}}'
show label ippool pool-v4 rack=a
show get ippool pool-v4 -o yaml

step "Validating a manifest offline: no datastore needed"
printf '$ terracectl validate -f %s\n' "$EXAMPLES/pools.yaml"
"$CTL" --etcd-endpoints http://127.0.0.1:1 validate -f "$EXAMPLES/pools.yaml"

step "Stopping etcd and removing its data"
cleanup
ETCD_PID=""
echo "etcd stopped"

step "With etcd gone, terracectl says so at once (exit code 2) instead of hanging"
set +e
show get ippools
rc=$?
set -e
echo "exit code: $rc"
[ "$rc" -eq 2 ] || { echo "expected exit code 2" >&2; exit 1; }
echo "done"
