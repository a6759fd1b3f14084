#!/usr/bin/env bash
# Generates TypeScript (protobuf-es, target ts) for a set of protos with
# Debian's protoc and the pinned protoc-gen-es. Used by each package's
# scripts/gen.sh; output is built, never committed. Skips the work when every
# output is newer than every input and than the calling script.
#   gen-proto.sh <proto dir> <out dir> <proto path relative to proto dir>...
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$1"
out="$2"
shift 2
protos=("$@")
plugin="$root/node_modules/.bin/protoc-gen-es"
caller="${GEN_CALLER:-$0}"

for p in "${protos[@]}"; do
  [ -f "$src/$p" ] || { echo "gen-proto: $src/$p missing" >&2; exit 1; }
done
[ -x "$plugin" ] || { echo "gen-proto: $plugin missing (npm ci at the repo root)" >&2; exit 1; }
command -v protoc >/dev/null || { echo "gen-proto: protoc missing (install protobuf-compiler)" >&2; exit 1; }

up_to_date() {
  local o p i
  for p in "${protos[@]}"; do
    o="$out/${p%.proto}_pb.ts"
    [ -f "$o" ] || return 1
    for i in "${protos[@]}"; do [ "$o" -nt "$src/$i" ] || return 1; done
    [ "$o" -nt "$caller" ] && [ "$o" -nt "$0" ] || return 1
  done
}
if up_to_date; then exit 0; fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# The well-known types (any, empty, timestamp) come with libprotobuf-dev in
# /usr/include; when that is absent, the identical definitions the Go
# protobuf package ships are staged under the path protoc expects. Only
# their names matter to protoc-gen-es: it imports @bufbuild/protobuf/wkt.
wkt=/usr/include
if [ ! -f "$wkt/google/protobuf/any.proto" ]; then
  wkt="$tmp/wkt"
  ptypes=/usr/share/gocode/src/github.com/golang/protobuf/ptypes
  mkdir -p "$wkt/google/protobuf"
  for t in any empty timestamp; do
    [ -f "$ptypes/$t/$t.proto" ] && ln -s "$ptypes/$t/$t.proto" "$wkt/google/protobuf/$t.proto"
  done
fi
mkdir -p "$tmp/out"
protoc -I "$src" -I "$wkt" \
  --plugin=protoc-gen-es="$plugin" \
  --es_out="$tmp/out" --es_opt=target=ts,import_extension=js \
  "${protos[@]/#/$src/}"
# The generated code passes the packages' strict settings as it is: copied unchanged.
for p in "${protos[@]}"; do
  mkdir -p "$out/$(dirname "$p")"
  cp "$tmp/out/${p%.proto}_pb.ts" "$out/${p%.proto}_pb.ts"
done
