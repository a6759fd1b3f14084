#!/usr/bin/env bash
# Generates TypeScript for Terrace's own agent API (proto/terrace/agent/v1)
# with Debian's protoc and the pinned protoc-gen-es. Output goes to
# packages/cni/src/gen/ (not committed). Skips the work when every output is
# newer than every input, so builds stay fast.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$here/../.." && pwd)"
protoDir="$root/proto"
out="$here/src/gen"
plugin="$root/node_modules/.bin/protoc-gen-es"
protos=(terrace/agent/v1/cni.proto)

for p in "${protos[@]}"; do
  [ -f "$protoDir/$p" ] || { echo "gen.sh: $protoDir/$p missing" >&2; exit 1; }
done
[ -x "$plugin" ] || { echo "gen.sh: $plugin missing (npm install at the repo root)" >&2; exit 1; }
command -v protoc >/dev/null || { echo "gen.sh: protoc missing (install protobuf-compiler)" >&2; exit 1; }

up_to_date() {
  local o p i
  for p in "${protos[@]}"; do
    o="$out/${p%.proto}_pb.ts"
    [ -f "$o" ] || return 1
    for i in "${protos[@]}"; do [ "$o" -nt "$protoDir/$i" ] || return 1; done
    [ "$o" -nt "$0" ] || return 1
  done
}
if up_to_date; then exit 0; fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# Our protos use no well-known types today; /usr/include (libprotobuf-dev)
# is on the path so that adding one needs no change here.
protoc -I "$protoDir" -I /usr/include \
  --plugin=protoc-gen-es="$plugin" \
  --es_out="$tmp" --es_opt=target=ts,import_extension=js \
  "${protos[@]/#/$protoDir/}"
mkdir -p "$out"
for p in "${protos[@]}"; do
  mkdir -p "$out/$(dirname "$p")"
  cp "$tmp/${p%.proto}_pb.ts" "$out/${p%.proto}_pb.ts"
done
