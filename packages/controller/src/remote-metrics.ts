/**
 * The remote-cluster gauges, read at scrape time. Each gauge fills its own
 * series in its own collect from the remotes' state then: a scrape reads a
 * gauge's values right after its collect, so values filled by another
 * gauge's collect would show one scrape late (none on the first scrape, a
 * deleted remote or a lost leadership one scrape too long).
 */
import type { RemoteClusterState } from '@terrace/api';
import { Gauge, type Registry } from 'prom-client';

export function registerRemoteClusterMetrics(registry: Registry, states: () => readonly RemoteClusterState[]): void {
  const registers = [registry];
  const perRemote = (name: string, help: string, value: (st: RemoteClusterState, now: number) => number | undefined): void => {
    new Gauge({
      name,
      help,
      labelNames: ['remote'],
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const st of states()) {
          const v = value(st, now);
          if (v !== undefined) this.set({ remote: st.name }, v);
        }
      },
    });
  };
  new Gauge({
    name: 'terrace_remote_clusters',
    help: 'RemoteClusters this controller syncs (0 on a standby)',
    registers,
    collect() {
      this.set(states().length);
    },
  });
  perRemote('terrace_remote_cluster_sync_lag_seconds', 'Seconds since the remote cluster\'s view last matched the remote (absent before the first sync)', (st, now) =>
    st.lastSynced === undefined ? undefined : Math.max(0, (now - Date.parse(st.lastSynced)) / 1000));
  perRemote('terrace_remote_cluster_connected', 'The remote cluster\'s etcd is connected (1) or not (0)', (st) => (st.connection === 'Connected' ? 1 : 0));
  perRemote('terrace_remote_cluster_overlaps', 'Local pools overlapping the remote cluster\'s pools (ranges fenced)', (st) => st.overlaps.length);
}
