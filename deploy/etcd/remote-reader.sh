#!/bin/sh
# remote-reader.sh <cluster> <user>
#
# Gives another cluster's controller a read-only etcd user for THIS cluster:
# a role that may only READ keys under /terrace/v1/<cluster>/, and <user>
# holding only that role. The other cluster's RemoteCluster then names this
# user and its password through secret references (spec.etcd.*SecretRef).
#
# Run it against this cluster's etcd with a user that may manage auth
# (usually root). etcdctl takes its connection from the environment:
#   ETCDCTL_API=3 ETCDCTL_ENDPOINTS=https://198.18.1.2:2379 ETCDCTL_USER=root:... \
#   ETCDCTL_CACERT=... ETCDCTL_CERT=... ETCDCTL_KEY=...
# The new user's password is read from READER_PASSWORD (never a flag, so it
# stays out of the process list). Running it again changes nothing.
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 <cluster> <user>   (password in READER_PASSWORD)" >&2
	exit 2
fi
cluster=$1
user=$2
role="terrace-reader-$cluster"
prefix="/terrace/v1/$cluster/"
: "${READER_PASSWORD:?READER_PASSWORD must hold the new user's password}"
export ETCDCTL_API=3

# "already exists" is fine: the script is meant to be re-run.
tolerate() {
	out=$("$@" 2>&1) && { echo "$out"; return 0; }
	case $out in *"already exists"*) echo "$out (kept)";; *) echo "$out" >&2; return 1;; esac
}

tolerate etcdctl role add "$role"
etcdctl role grant-permission --prefix=true "$role" read "$prefix"
printf '%s\n' "$READER_PASSWORD" | tolerate etcdctl user add "$user" --interactive=false
etcdctl user grant-role "$user" "$role"
etcdctl role get "$role"
