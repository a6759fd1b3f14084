#!/usr/bin/env bash
# Generates TypeScript for GoBGP's gRPC API (apipb) from the protos Debian's
# golang-github-osrg-gobgp-dev installs, with Debian's protoc and the pinned
# protoc-gen-es. Output goes to src/gen/ (not committed). Skips the work when
# every output is newer than every input, so builds stay fast.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$here/../.." && pwd)"
api="${GOBGP_API_DIR:-/usr/share/gocode/src/github.com/osrg/gobgp/api}"
out="$here/src/gen"
plugin="$root/node_modules/.bin/protoc-gen-es"
protos=(gobgp.proto attribute.proto capability.proto)

for p in "${protos[@]}"; do
  [ -f "$api/$p" ] || { echo "gen.sh: $api/$p missing (install golang-github-osrg-gobgp-dev)" >&2; exit 1; }
done
[ -x "$plugin" ] || { echo "gen.sh: $plugin missing (npm install at the repo root)" >&2; exit 1; }

up_to_date() {
  local o i
  for p in "${protos[@]}"; do
    o="$out/${p%.proto}_pb.ts"
    [ -f "$o" ] || return 1
    for i in "${protos[@]}"; do [ "$o" -nt "$api/$i" ] || return 1; done
    [ "$o" -nt "$0" ] || return 1
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
    [ -f "$ptypes/$t/$t.proto" ] || { echo "gen.sh: google/protobuf/$t.proto not found (install libprotobuf-dev)" >&2; exit 1; }
    ln -s "$ptypes/$t/$t.proto" "$wkt/google/protobuf/$t.proto"
  done
fi
mkdir -p "$tmp/out"
protoc -I "$api" -I "$wkt" \
  --plugin=protoc-gen-es="$plugin" \
  --es_out="$tmp/out" --es_opt=target=ts,import_extension=js \
  "${protos[@]/#/$api/}"
# The generated code is compiled with the package's strict settings; it
# passes them as it is, so it is copied unchanged (see README in src/gen).
mkdir -p "$out"
for p in "${protos[@]}"; do cp "$tmp/out/${p%.proto}_pb.ts" "$out/"; done
