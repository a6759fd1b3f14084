#!/bin/sh
# roles.sh <cluster>
#
# One etcd role and user per Terrace component of <cluster>, each allowed
# only the key prefixes under /terrace/v1/<cluster>/ that the component
# writes (docs/security.md explains each grant and where the model stops):
#
#   terrace-agent-<cluster>       reads the cluster; writes ipam/, nodes/,
#                                 resources/nodes/, query-answers/ (it
#                                 allocates, holds its lease-bound liveness
#                                 key, publishes its status, registers its
#                                 Node and answers route queries)
#   terrace-controller-<cluster>  reads the cluster; writes ipam/, controller/,
#                                 multicluster/, resources/ippools/, guards/,
#                                 queries/, query-answers/ (garbage collection,
#                                 election, status, remote views and fence,
#                                 the default pool, route queries: revoking
#                                 a query's lease deletes the answers on it,
#                                 which etcd allows only to a writer of them)
#   terrace-admin-<cluster>       reads and writes the whole cluster prefix
#                                 (terracectl: apply, delete, ipam release)
#
# The passwords are read from AGENT_PASSWORD, CONTROLLER_PASSWORD and
# ADMIN_PASSWORD (never flags, so they stay out of the process list).
# Run it with a user that may manage auth (usually root); etcdctl takes its
# connection from the environment, as for remote-reader.sh:
#   ETCDCTL_ENDPOINTS=https://198.18.1.2:2379 ETCDCTL_USER=root:... \
#   ETCDCTL_CACERT=... ETCDCTL_CERT=... ETCDCTL_KEY=...
# It does not enable auth (`etcdctl auth enable`, which needs a root user):
# that is a decision for the whole etcd, not for one cluster. Running it
# again changes nothing.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 <cluster>   (passwords in AGENT_PASSWORD, CONTROLLER_PASSWORD, ADMIN_PASSWORD)" >&2
	exit 2
fi
cluster=$1
case $cluster in
	*[!a-z0-9.-]* | "" | [.-]* | *[.-]) echo "$0: cluster name \"$cluster\" must be a DNS subdomain (a-z, 0-9, '-', '.')" >&2; exit 2;;
esac
: "${AGENT_PASSWORD:?AGENT_PASSWORD must hold the agent user's password}"
: "${CONTROLLER_PASSWORD:?CONTROLLER_PASSWORD must hold the controller user's password}"
: "${ADMIN_PASSWORD:?ADMIN_PASSWORD must hold the admin user's password}"
prefix="/terrace/v1/$cluster/"
export ETCDCTL_API=3

# "already exists" is fine: the script is meant to be re-run.
tolerate() {
	out=$("$@" 2>&1) && { echo "$out"; return 0; }
	case $out in *"already exists"*) echo "$out (kept)";; *) echo "$out" >&2; return 1;; esac
}

# component <name> <password> <sub-prefix to write>...: the role reads the
# whole cluster prefix and writes only the listed sub-prefixes.
component() {
	name="terrace-$1-$cluster"
	password=$2
	shift 2
	tolerate etcdctl role add "$name"
	etcdctl role grant-permission --prefix=true "$name" read "$prefix" >/dev/null
	for sub in "$@"; do
		etcdctl role grant-permission --prefix=true "$name" readwrite "$prefix$sub" >/dev/null
	done
	printf '%s\n' "$password" | tolerate etcdctl user add "$name" --interactive=false
	etcdctl user grant-role "$name" "$name" >/dev/null
	etcdctl role get "$name"
}

component agent "$AGENT_PASSWORD" ipam/ nodes/ resources/nodes/ query-answers/
component controller "$CONTROLLER_PASSWORD" ipam/ controller/ multicluster/ resources/ippools/ guards/ queries/ query-answers/
component admin "$ADMIN_PASSWORD" ""
