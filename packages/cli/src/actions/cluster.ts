/**
 * `terracectl cluster list|status`: reads what the acting controller keeps
 * in the local etcd about each remote cluster (never the remote itself),
 * builds the report (output/cluster.ts) and prints it; exits with
 * FOUND_PROBLEMS_EXIT when a remote needs attention.
 */
import { type NodeStatus, type RemoteClusterState, TerraceError, decodeClusterFence, decodeRemoteClusterState } from '@terrace/api';
import { getOp, prefixOp, readAll } from '@terrace/datastore';
import type { CliContext } from '../context.js';
import { type ClusterInput, buildClusterReport, localGateways, renderClusterList, renderClusterStatus, reportHasProblems } from '../output/cluster.js';

async function readInput(ctx: CliContext, name: string | undefined): Promise<ClusterInput> {
  const ds = await ctx.datastore();
  const statePrefix = ds.keys.remoteStatePrefix();
  const [remotes, nodes, docs] = await Promise.all([
    name === undefined ? ds.store.list('RemoteCluster').then((l) => l.items) : ds.store.get('RemoteCluster', name).then((r) => [r]),
    ds.store.list('Node').then((l) => l.items),
    readAll(ds.etcd, [prefixOp(statePrefix), getOp(ds.keys.fence())]),
  ]);
  const states = new Map<string, RemoteClusterState>();
  for (const kv of docs.results[0] ?? []) {
    const key = kv.key.toString();
    states.set(key.slice(statePrefix.length), decodeRemoteClusterState(key, kv.value.toString()));
  }
  const fenceKv = docs.results[1]?.[0];
  const fence = fenceKv ? decodeClusterFence(ds.keys.fence(), fenceKv.value.toString()) : undefined;

  // Only the gateway nodes' status is needed; which nodes those are is known only now.
  const gatewayNames = [...new Set(remotes.flatMap((rc) => (localGateways(rc, nodes) ?? []).map((n) => n.metadata.name)))].sort();
  const statuses = new Map<string, NodeStatus>();
  if (gatewayNames.length > 0) {
    const res = await readAll(ds.etcd, gatewayNames.map((n) => getOp(ds.keys.status(n))));
    gatewayNames.forEach((n, i) => {
      const kv = res.results[i]?.[0];
      if (!kv) return;
      try {
        statuses.set(n, JSON.parse(kv.value.toString()) as NodeStatus);
      } catch {
        throw new TerraceError('Internal', `${ds.keys.status(n)}: the stored node status is not JSON`);
      }
    });
  }
  return { remotes, states, fence, nodes, statuses };
}

export async function runCluster(ctx: CliContext, view: 'list' | 'status', name: string | undefined, format: 'table' | 'yaml' | 'json'): Promise<void> {
  const report = buildClusterReport(await readInput(ctx, name));
  if (reportHasProblems(report)) ctx.foundProblems();
  if (format !== 'table') {
    ctx.serialize(report, format);
    return;
  }
  const now = new Date();
  ctx.print(view === 'list' ? renderClusterList(report, now) : renderClusterStatus(report, now));
}
