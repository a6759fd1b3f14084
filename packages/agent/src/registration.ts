/**
 * Creates or updates this node's Node resource at start-up: its BGP
 * addresses and labels come from the agent's flags. Labels an operator set
 * on the Node are kept (ours are merged over them); an AS number is written
 * only when --as is given, so one set with terracectl survives restarts.
 */
import { API_VERSION, BGP_BACKEND_LABEL, type BgpBackend, type IPFamily, type TerraceNode, isTerraceError } from '@terrace/api';
import type { ResourceStore } from '@terrace/datastore';

export interface NodeRegistration {
  name: string;
  /** `addr/len` per family. */
  addresses: Partial<Record<IPFamily, string>>;
  asNumber: number | undefined;
  labels: Record<string, string>;
  /** The agent's --bgp-backend: used unless the stored Node names one. */
  backend: BgpBackend;
}

/** The backend a node runs: what its Node says, else its agent's flag. */
export function effectiveBackend(node: TerraceNode | undefined, flag: BgpBackend): BgpBackend {
  return node?.spec.bgp?.backend ?? flag;
}

/** The Node we want, given what is stored (pure; exported for tests). */
export function desiredNode(reg: NodeRegistration, existing: TerraceNode | undefined): TerraceNode {
  const bgp: NonNullable<TerraceNode['spec']['bgp']> = { ...(existing?.spec.bgp ?? {}) };
  delete bgp.ipv4Address;
  delete bgp.ipv6Address;
  if (reg.addresses[4]) bgp.ipv4Address = reg.addresses[4];
  if (reg.addresses[6]) bgp.ipv6Address = reg.addresses[6];
  if (reg.asNumber !== undefined) bgp.asNumber = reg.asNumber;
  const labels = { ...(existing?.metadata.labels ?? {}), ...reg.labels, [BGP_BACKEND_LABEL]: effectiveBackend(existing, reg.backend) };
  const metadata: TerraceNode['metadata'] = { ...(existing?.metadata ?? {}), name: reg.name };
  if (Object.keys(labels).length > 0) metadata.labels = labels;
  return { apiVersion: API_VERSION, kind: 'Node', metadata, spec: { ...(existing?.spec ?? {}), bgp } };
}

function sameContent(a: TerraceNode, b: TerraceNode): boolean {
  const norm = (n: TerraceNode): string => JSON.stringify([n.metadata.labels ?? {}, n.spec]);
  return norm(a) === norm(b);
}

/** Creates or updates the Node; retries lost races a few times. Returns the stored Node. */
export async function registerNode(store: ResourceStore, reg: NodeRegistration): Promise<{ node: TerraceNode; action: 'created' | 'updated' | 'unchanged' }> {
  for (let attempt = 0; ; attempt++) {
    let existing: TerraceNode | undefined;
    try {
      existing = await store.get('Node', reg.name);
    } catch (e) {
      if (!isTerraceError(e, 'NotFound')) throw e;
    }
    const want = desiredNode(reg, existing);
    try {
      if (!existing) return { node: await store.create(want), action: 'created' };
      if (sameContent(existing, want)) return { node: existing, action: 'unchanged' };
      return { node: await store.replace(want), action: 'updated' };
    } catch (e) {
      const raced = isTerraceError(e, 'AlreadyExists') || isTerraceError(e, 'Conflict') || isTerraceError(e, 'NotFound');
      if (!raced || attempt >= 4) throw e;
    }
  }
}
