// The remote-cluster gauges: one scrape shows the remotes' state at that scrape, not at the one before.
import { describe, expect, test } from '@jest/globals';
import type { RemoteClusterState } from '@terrace/api';
import { Registry } from 'prom-client';
import { registerRemoteClusterMetrics } from '../src/remote-metrics.js';

function remote(name: string, over: Partial<RemoteClusterState> = {}): RemoteClusterState {
  return {
    name, uid: `${name}-uid`, clusterName: name, connection: 'Connected', stale: false, revision: '7',
    lastSynced: new Date(Date.now() - 3000).toISOString(), pools: [], blocks: 0, nodes: 0, asNumber: 64512, gateways: [],
    overlaps: [{ pool: 'a', cidr: '198.19.0.0/24', remotePool: 'b', remoteCidr: '198.19.0.0/25', fenced: '198.19.0.0/25', since: new Date().toISOString() }],
    ...over,
  };
}

function sample(text: string, name: string, remoteName?: string): number | undefined {
  const prefix = remoteName === undefined ? `${name} ` : `${name}{remote="${remoteName}"} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}

describe('remote-cluster metrics', () => {
  test('the first scrape shows every remote; a change or a removal shows on the next scrape', async () => {
    let states: RemoteClusterState[] = [remote('cb'), remote('cc', { connection: 'Unreachable', lastSynced: undefined, overlaps: [] })];
    const registry = new Registry();
    registerRemoteClusterMetrics(registry, () => states);

    let text = await registry.metrics();
    expect(sample(text, 'terrace_remote_clusters')).toBe(2);
    expect(sample(text, 'terrace_remote_cluster_connected', 'cb')).toBe(1);
    expect(sample(text, 'terrace_remote_cluster_connected', 'cc')).toBe(0);
    expect(sample(text, 'terrace_remote_cluster_overlaps', 'cb')).toBe(1);
    expect(sample(text, 'terrace_remote_cluster_sync_lag_seconds', 'cb')).toBeGreaterThanOrEqual(3);
    expect(sample(text, 'terrace_remote_cluster_sync_lag_seconds', 'cc')).toBeUndefined();

    states = [remote('cb', { connection: 'Unauthorized' })];
    text = await registry.metrics();
    expect(sample(text, 'terrace_remote_clusters')).toBe(1);
    expect(sample(text, 'terrace_remote_cluster_connected', 'cb')).toBe(0);
    expect(sample(text, 'terrace_remote_cluster_connected', 'cc')).toBeUndefined();

    // A lost leadership: no remote at all on the very next scrape.
    states = [];
    text = await registry.metrics();
    expect(sample(text, 'terrace_remote_clusters')).toBe(0);
    for (const m of ['terrace_remote_cluster_connected', 'terrace_remote_cluster_overlaps', 'terrace_remote_cluster_sync_lag_seconds']) {
      expect(sample(text, m, 'cb')).toBeUndefined();
    }
  });
});
