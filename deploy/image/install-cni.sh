#!/bin/sh
# Installs the `terrace` CNI plugin and its network configuration on a host.
# The terrace-agent DaemonSet runs it as an init container with the host's
# /opt/cni/bin and /etc/cni/net.d mounted; it works the same on a plain host.
#
# The plugin is one shell script (packages/cni/bin/terrace-cni): the runtime
# runs it on the host, where it needs /bin/sh and curl 7.87 or later and
# nothing of this image. Each file is written under a temporary name and
# renamed into place, so a runtime calling the plugin meanwhile runs either
# the old or the new version, never half of one.
set -eu

TERRACE_ROOT="${TERRACE_ROOT:-/opt/terrace}"
CNI_BIN_DIR="${CNI_BIN_DIR:-/host/opt/cni/bin}"
CNI_NET_DIR="${CNI_NET_DIR:-/host/etc/cni/net.d}"
CNI_CONFLIST="${CNI_CONFLIST:-$TERRACE_ROOT/deploy/cni/10-terrace.conflist}"

plugin="$TERRACE_ROOT/packages/cni/bin/terrace-cni"
[ -f "$plugin" ] || { echo "install-cni: $plugin missing" >&2; exit 1; }
[ -f "$CNI_CONFLIST" ] || { echo "install-cni: $CNI_CONFLIST missing" >&2; exit 1; }
mkdir -p "$CNI_BIN_DIR" "$CNI_NET_DIR"

cp "$plugin" "$CNI_BIN_DIR/.terrace.tmp"
chmod 0755 "$CNI_BIN_DIR/.terrace.tmp"
mv -f "$CNI_BIN_DIR/.terrace.tmp" "$CNI_BIN_DIR/terrace"
# Payloads of the Node-based plugin that earlier versions installed.
rm -rf "$CNI_BIN_DIR"/terrace-cni.*

cp "$CNI_CONFLIST" "$CNI_NET_DIR/.10-terrace.conflist.tmp"
chmod 0644 "$CNI_NET_DIR/.10-terrace.conflist.tmp"
mv -f "$CNI_NET_DIR/.10-terrace.conflist.tmp" "$CNI_NET_DIR/10-terrace.conflist"
echo "install-cni: plugin $CNI_BIN_DIR/terrace, config $CNI_NET_DIR/10-terrace.conflist"
