#!/bin/sh
# Installs the `terrace` CNI plugin and its network configuration on a host.
# The terrace-agent DaemonSet runs it as an init container with the host's
# /opt/cni/bin and /etc/cni/net.d mounted; it works the same on a plain host.
#
# The container runtime runs the plugin on the host, outside any container,
# so the host gets everything the plugin needs next to its launcher: the
# Node.js binary of this image and the plugin's compiled files (they import
# only Node built-ins). Each install goes to a new directory and the launcher
# is replaced with one rename, so a runtime calling the plugin meanwhile runs
# either the old or the new version, never half of one.
set -eu

TERRACE_ROOT="${TERRACE_ROOT:-/opt/terrace}"
NODE_BIN="${NODE_BIN:-$(command -v node)}"
CNI_BIN_DIR="${CNI_BIN_DIR:-/host/opt/cni/bin}"
CNI_NET_DIR="${CNI_NET_DIR:-/host/etc/cni/net.d}"
CNI_CONFLIST="${CNI_CONFLIST:-$TERRACE_ROOT/deploy/cni/10-terrace.conflist}"

plugin_src="$TERRACE_ROOT/packages/cni"
[ -f "$plugin_src/dist/src/main.js" ] || { echo "install-cni: $plugin_src/dist/src/main.js missing (build the tree first)" >&2; exit 1; }
[ -x "$NODE_BIN" ] || { echo "install-cni: no node binary at '$NODE_BIN'" >&2; exit 1; }
[ -f "$CNI_CONFLIST" ] || { echo "install-cni: $CNI_CONFLIST missing" >&2; exit 1; }
mkdir -p "$CNI_BIN_DIR" "$CNI_NET_DIR"

# The payload the current launcher runs, if any: kept until the next install.
previous=""
if [ -f "$CNI_BIN_DIR/terrace" ]; then
  previous="$(sed -n 's#^d="\$(dirname "\$0")/\(terrace-cni\.[^"]*\)"$#\1#p' "$CNI_BIN_DIR/terrace")"
fi

payload="terrace-cni.$(date -u +%Y%m%d%H%M%S).$$"
tmp="$CNI_BIN_DIR/.$payload.tmp"
rm -rf "$tmp"
mkdir -p "$tmp/cni/dist"
cp "$NODE_BIN" "$tmp/node"
cp "$plugin_src/package.json" "$tmp/cni/package.json"
cp -R "$plugin_src/dist/src" "$tmp/cni/dist/src"
mv "$tmp" "$CNI_BIN_DIR/$payload"

cat >"$CNI_BIN_DIR/.terrace.tmp" <<LAUNCHER
#!/bin/sh
# The CNI plugin "terrace", installed by terrace's install-cni.sh.
d="\$(dirname "\$0")/$payload"
exec "\$d/node" "\$d/cni/dist/src/main.js" "\$@"
LAUNCHER
chmod 0755 "$CNI_BIN_DIR/.terrace.tmp"
mv -f "$CNI_BIN_DIR/.terrace.tmp" "$CNI_BIN_DIR/terrace"

# Keep the previous payload (a plugin started just before the switch may still
# be loading from it); remove older ones.
for old in "$CNI_BIN_DIR"/terrace-cni.*; do
  [ -d "$old" ] || continue
  case "${old##*/}" in "$payload" | "$previous") continue ;; esac
  rm -rf "$old"
done

cp "$CNI_CONFLIST" "$CNI_NET_DIR/.10-terrace.conflist.tmp"
chmod 0644 "$CNI_NET_DIR/.10-terrace.conflist.tmp"
mv -f "$CNI_NET_DIR/.10-terrace.conflist.tmp" "$CNI_NET_DIR/10-terrace.conflist"
echo "install-cni: plugin $CNI_BIN_DIR/terrace ($payload), config $CNI_NET_DIR/10-terrace.conflist"
