/**
 * natOutgoing on this node: the pools from the watch cache, handed to the
 * dataplane's NatTable (which plans, compares and applies; see
 * dataplane/src/nat). Every pool counts, disabled ones too: `disabled` only
 * stops new allocations, and pods may still hold addresses there, so they
 * keep their NAT and stay "inside a pool" as destinations.
 *
 * The table is rewritten only when the pools' NAT view changes (block and
 * node changes arrive far more often and do not touch it); NatTable's own
 * resync repairs drift in between.
 */
import { cidrsOverlap, type IPPool, parseCidr, type RemoteClusterState } from '@terrace/api';
import type { NatPool, NatTable, NatTableStatus } from '@terrace/dataplane';
import type { Logger } from '@terrace/log';
import type { ClusterState } from './sources.js';

/**
 * The planner's input for these pools. Remote clusters' pools count as
 * pools that do not NAT: traffic to a remote pod keeps the pod's address
 * (the remote routes back to it), and remote pods are no source here.
 */
export function natPools(pools: readonly IPPool[], remotes: readonly RemoteClusterState[] = []): NatPool[] {
  const out: NatPool[] = pools.map((p) => ({ cidr: parseCidr(p.spec.cidr), natOutgoing: p.spec.natOutgoing }));
  for (const p of remotes.flatMap((r) => r.pools)) {
    const c = parseCidr(p.cidr);
    // nftables refuses overlapping intervals in one set. An overlap with a
    // local pool is the fenced error state the controller reports; the
    // local pool's entry then stands for the shared range.
    if (!out.some((x) => cidrsOverlap(x.cidr, c))) out.push({ cidr: c, natOutgoing: false });
  }
  return out;
}

export class NatReconciler {
  private applied: string | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly state: ClusterState,
    private readonly table: NatTable,
    private readonly log: Logger,
  ) {
    this.unsubscribe = state.onChange(() => this.update());
  }

  /** Applies the current pools; resolves after the first pass (a failure is logged and retried by the table). */
  async start(): Promise<void> {
    await this.update();
  }

  private update(): Promise<void> {
    let pools: NatPool[];
    try {
      pools = natPools(this.state.pools(), this.state.remoteStates?.() ?? []);
    } catch (e) {
      // Stored pools were validated on the way in; a bad one must not stop the watch that called us.
      this.log.error('nat: cannot read the pools (local or remote)', { error: (e as Error).message });
      return Promise.resolve();
    }
    const key = JSON.stringify(pools.map((p) => [p.cidr.family, String(p.cidr.base), p.cidr.prefix, p.natOutgoing]));
    if (key === this.applied) return Promise.resolve();
    this.applied = key;
    // NatTable logs and retries failures itself; here they only must not escape.
    return this.table.set(pools).then(
      () => undefined,
      (e: unknown) => {
        this.log.debug('nat: pass failed (retried)', { error: (e as Error).message });
      },
    );
  }

  status(): NatTableStatus {
    return this.table.status();
  }

  /** Stops following the pools; the table stays (see NatTable.close). */
  async stop(): Promise<void> {
    this.unsubscribe();
    await this.table.close();
  }
}
