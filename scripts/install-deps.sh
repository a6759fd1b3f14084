#!/usr/bin/env bash
# Installs the Debian packages Terrace builds and tests against. Idempotent:
# packages already present are left alone and apt is not touched at all when
# nothing is missing. Used by the Makefile, the README and .ci/run.
set -euo pipefail

packages=(
  etcd-server etcd-client
  gobgpd golang-github-osrg-gobgp-dev protobuf-compiler
  frr bird2 iproute2 iputils-ping curl
  # Runs route sync's netlink relay (packages/dataplane/relay); Essential in Debian, so always there.
  perl-base
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Package scripts must not start system-wide daemons (etcd, frr, bird):
  # tests and the lab start their own, by PID, in their own namespaces.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$created_policy" = 1 ] && rm -f "$policy"
fi

# Our route protocol number, so `ip route` shows "proto terrace".
# Must match ROUTE_PROTOCOL in packages/dataplane/src/constants.ts.
if [ -d /etc/iproute2 ] || mkdir -p /etc/iproute2/rt_protos.d 2>/dev/null; then
  mkdir -p /etc/iproute2/rt_protos.d
  echo "201 terrace" >/etc/iproute2/rt_protos.d/terrace.conf
fi

echo "install-deps: ok"
