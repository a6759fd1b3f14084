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
  # The podman scenario (e2e/test/podman.e2e.test.ts): podman 4.3 runs containers on a Terrace
  # conflist; busybox-static is the whole offline image (podman import of a rootfs tarball).
  podman busybox-static
  # The reference CNI plugins in /usr/lib/cni (ptp, host-local, ...): the benchmark's baseline.
  containernetworking-plugins
  # natOutgoing: the agent masquerades in its own nftables table (packages/dataplane/src/nat).
  nftables
  # The TLS tests make a CA and certificates per run (packages/testkit/src/pki.ts).
  openssl
  # The controller's status page is tested in headless Chromium, driven by playwright-core.
  chromium
  # The clock-jump scenario moves one daemon's wall clock (libfaketime, LD_PRELOAD).
  faketime
)

# What Debian's podman package sets up besides the program, which a test host
# (or a Terrace node) must not get: a default CNI network in the system-wide
# /etc/cni/net.d (a cni-podman0 bridge with NAT through iptables, and one more
# conflist for every runtime that reads that directory), and systemd units it
# enables (the root API socket, podman-restart, the auto-update timer that
# pulls images). The conflist is diverted out of net.d, so dpkg puts it (and
# every upgrade's copy) beside the directory instead; the units are disabled.
# The diversion marks a host already done: an admin who enables the units
# later keeps them. The lab runs podman with its own containers.conf and CNI
# directories (e2e/src/podman.ts) and needs none of this.
podman_bridge=/etc/cni/net.d/87-podman-bridge.conflist
podman_bridge_diverted=/etc/cni/87-podman-bridge.conflist.disabled-by-terrace
podman_units=(podman.socket podman.service podman-restart.service podman-auto-update.timer podman-auto-update.service)

podman_diverted() {
  [ "$(dpkg-divert --truename "$podman_bridge")" = "$podman_bridge_diverted" ]
}

divert_podman_bridge() {
  mkdir -p /etc/cni
  dpkg-divert --quiet --package terrace-install-deps --rename --divert "$podman_bridge_diverted" --add "$podman_bridge"
}

disable_podman_units() {
  # systemctl edits the unit links without a running systemd too; dpkg's
  # upgrades then keep the units as they are (disabled).
  for u in "${podman_units[@]}"; do
    if [ "$(systemctl is-enabled "$u" 2>/dev/null)" = enabled ]; then
      systemctl disable --quiet "$u" || true
    fi
  done
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

installing_podman=0
for p in "${missing[@]}"; do [ "$p" = podman ] && installing_podman=1; done

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
  # Before podman is unpacked, so its default network never lands in net.d.
  if [ "$installing_podman" = 1 ]; then divert_podman_bridge; fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$created_policy" = 1 ] && rm -f "$policy"
fi

# Just installed, or a host that got podman before this script knew about it:
# the same clean-up, once.
if [ "$installing_podman" = 1 ] || { dpkg-query -W -f='${Status}' podman 2>/dev/null | grep -q 'install ok installed' && ! podman_diverted; }; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to take podman's default network out of /etc/cni/net.d and disable its units" >&2
    exit 1
  fi
  divert_podman_bridge
  disable_podman_units
  echo "install-deps: podman: default network kept out of /etc/cni/net.d ($podman_bridge_diverted), its systemd units disabled"
fi

# Our route protocol number, so `ip route` shows "proto terrace".
# Must match ROUTE_PROTOCOL in packages/dataplane/src/constants.ts.
if [ -d /etc/iproute2 ] || mkdir -p /etc/iproute2/rt_protos.d 2>/dev/null; then
  mkdir -p /etc/iproute2/rt_protos.d
  echo "201 terrace" >/etc/iproute2/rt_protos.d/terrace.conf
fi

echo "install-deps: ok"
