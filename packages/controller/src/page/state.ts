/**
 * The status page's state: a pure function from what etcd holds (resources,
 * IPAM blocks, liveness, the agents' node status records, the controller's
 * status and events, the remote-cluster docs and fence) to what the page
 * draws and /api/state returns.
 *
 * Every field of the output is copied by name from an allow-list below;
 * nothing is spread from a stored record. That is what keeps secrets off
 * the page: BGP passwords (their secret references), RemoteCluster
 * credentials, certificate paths and endpoints are never read. Free text
 * that other code wrote (a session's info, a remote's error, a controller
 * error) is scrubbed of those strings anyway, in case one ever quotes them.
 */
import {
  type BGPPeer,
  type ClusterFence,
  type ControllerEvent,
  type ControllerStatus,
  type IPPool,
  type NodeStatus,
  type PeerState,
  type RemoteCluster,
  type RemoteClusterState,
  type TerraceNode,
  type BGPConfiguration,
  NODE_STATUS_STALE_MS,
  cidrContainsCidr,
  cidrSize,
  tryParseCidr,
} from '@terrace/api';
import { type BlockRecord, affinityNode } from '@terrace/ipam';
import type { PageBlock, PageController, PageNode, PagePool, PageRemote, PageSession, PageState, PageVertex } from './types.js';

export type * from './types.js';

export interface PageInput {
  cluster: string;
  now: number;
  /** The controller serving the page, and whether it leads now. */
  servedBy: string;
  leading: boolean;
  pools: readonly IPPool[];
  bgpPeers: readonly BGPPeer[];
  bgpConfigurations: readonly BGPConfiguration[];
  nodes: readonly TerraceNode[];
  remoteClusters: readonly RemoteCluster[];
  blocks: readonly BlockRecord[];
  /** Nodes whose liveness key exists. */
  alive: ReadonlySet<string>;
  statuses: readonly NodeStatus[];
  controller: ControllerStatus | undefined;
  events: readonly ControllerEvent[];
  remoteStates: readonly RemoteClusterState[];
  fence: ClusterFence | undefined;
}

const STATE_ORDER: readonly PeerState[] = ['Unknown', 'Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established'];

/** The state of a session seen from several ends: the least advanced one. */
export function combinedState(states: readonly PeerState[]): PeerState {
  let worst: PeerState = 'Established';
  for (const s of states) if (STATE_ORDER.indexOf(s) < STATE_ORDER.indexOf(worst)) worst = s;
  return states.length === 0 ? 'Unknown' : worst;
}

/** Strings that must never reach the page (secret references, credential paths, endpoints), longest first. */
export function secretStrings(input: Pick<PageInput, 'bgpPeers' | 'bgpConfigurations' | 'remoteClusters'>): string[] {
  const out = new Set<string>();
  const add = (s: string | undefined): void => {
    if (s && s.length >= 3) out.add(s);
  };
  for (const p of input.bgpPeers) {
    add(p.spec.password?.secretKeyRef?.name);
    add(p.spec.password?.secretKeyRef?.key);
  }
  for (const c of input.bgpConfigurations) {
    add(c.spec.nodeMeshPassword?.secretKeyRef?.name);
    add(c.spec.nodeMeshPassword?.secretKeyRef?.key);
  }
  for (const r of input.remoteClusters) {
    const e = r.spec.etcd;
    for (const ref of [e.usernameSecretRef, e.passwordSecretRef]) {
      add(ref?.name);
      add(ref?.key);
    }
    add(e.caFile);
    add(e.certFile);
    add(e.keyFile);
    for (const ep of e.endpoints) add(ep);
  }
  return [...out].sort((a, b) => b.length - a.length);
}

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('[redacted]');
  return out;
}

/** `198.18.0.11/24` → `198.18.0.11`. */
function bare(addr: string | undefined): string | undefined {
  return addr ? addr.split('/')[0] : undefined;
}

function byName<T extends { metadata: { name: string } }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

function blockView(b: BlockRecord, affine: string | undefined): PageBlock {
  const parsed = tryParseCidr(b.cidr);
  const allocations = Object.values(b.allocations);
  return {
    cidr: b.cidr,
    used: allocations.length,
    size: parsed ? Number(cidrSize(parsed)) : 0,
    borrowed: affine ? allocations.filter((a) => a.node !== affine).length : 0,
  };
}

function nodesOf(input: PageInput, now: number): PageNode[] {
  const names = new Set<string>();
  for (const n of input.nodes) names.add(n.metadata.name);
  for (const s of input.statuses) names.add(s.node);
  for (const n of input.alive) names.add(n);
  for (const b of input.blocks) {
    const n = affinityNode(b.affinity);
    if (n) names.add(n);
  }
  for (const n of input.controller?.nodes ?? []) if (n.state !== 'released') names.add(n.node);
  const resource = new Map(input.nodes.map((n) => [n.metadata.name, n]));
  const status = new Map(input.statuses.map((s) => [s.node, s]));
  const ctl = new Map((input.controller?.nodes ?? []).map((n) => [n.node, n]));
  // Grouped once: a large cluster has thousands of blocks, and the page is rebuilt on every change.
  const affine = new Map<string, BlockRecord[]>();
  for (const b of input.blocks) {
    const n = affinityNode(b.affinity);
    if (n === undefined) continue;
    const list = affine.get(n);
    if (list) list.push(b);
    else affine.set(n, [b]);
  }
  return [...names].sort().map((name): PageNode => {
    const r = resource.get(name);
    const s = status.get(name);
    const c = ctl.get(name);
    const blocks = (affine.get(name) ?? [])
      .map((b) => blockView(b, name))
      .sort((x, y) => x.cidr.localeCompare(y.cidr));
    const updated = s ? Date.parse(s.updatedAt) : NaN;
    const addresses = s ? [...s.addresses] : [bare(r?.spec.bgp?.ipv4Address), bare(r?.spec.bgp?.ipv6Address)].filter((a): a is string => a !== undefined);
    const backend = s?.backend ?? r?.spec.bgp?.backend;
    const asNumber = s?.asNumber ?? r?.spec.bgp?.asNumber;
    return {
      name,
      alive: input.alive.has(name),
      ...(c ? { controllerState: c.state } : {}),
      ...(c?.graceRemainingSeconds !== undefined ? { graceRemainingSeconds: c.graceRemainingSeconds } : {}),
      ...(backend !== undefined ? { backend } : {}),
      ...(asNumber !== undefined ? { asNumber } : {}),
      addresses,
      reflector: r?.spec.bgp?.routeReflectorClusterID !== undefined,
      statusStale: !(now - updated <= NODE_STATUS_STALE_MS),
      ...(s ? { statusUpdatedAt: s.updatedAt, prefixes: { received: s.prefixes.received, advertised: s.prefixes.advertised, installed: s.prefixes.installed } } : {}),
      blocks,
      used: blocks.reduce((n, b) => n + b.used, 0),
      size: blocks.reduce((n, b) => n + b.size, 0),
    };
  });
}

/** The graph: a vertex per node, per external peer address and per remote gateway; one edge per session. */
function graphOf(input: PageInput, nodes: readonly PageNode[], secrets: readonly string[]): { vertices: PageVertex[]; sessions: PageSession[] } {
  const vertices = new Map<string, PageVertex>();
  const nodeByAddress = new Map<string, string>();
  for (const n of nodes) {
    for (const a of n.addresses) nodeByAddress.set(a, n.name);
    const detail = [n.addresses.join(', '), n.asNumber !== undefined ? `AS ${n.asNumber}` : '', n.backend ?? ''].filter((x) => x).join(' · ');
    vertices.set(`node:${n.name}`, { id: `node:${n.name}`, kind: n.reflector ? 'reflector' : 'node', label: n.name, detail, alive: n.alive });
  }
  const gatewayName = new Map<string, string>();
  for (const r of input.remoteStates) for (const g of r.gateways) for (const a of g.addresses) gatewayName.set(`${r.name} ${a}`, g.name);

  const sessions = new Map<string, PageSession>();
  for (const s of [...input.statuses].sort((x, y) => x.node.localeCompare(y.node))) {
    const self = `node:${s.node}`;
    for (const p of s.peers) {
      let other: string;
      const peerNode = nodeByAddress.get(p.address);
      if (peerNode !== undefined) {
        other = `node:${peerNode}`;
      } else if (p.source.startsWith('remotecluster/')) {
        const remote = p.source.slice('remotecluster/'.length);
        other = `remote:${remote}/${p.address}`;
        if (!vertices.has(other)) {
          const gw = gatewayName.get(`${remote} ${p.address}`);
          vertices.set(other, { id: other, kind: 'remote', label: remote, detail: `${gw ? `${gw} ` : ''}${p.address} · AS ${p.asNumber}` });
        }
      } else {
        other = `peer:${p.address}`;
        if (!vertices.has(other)) {
          const name = p.source.startsWith('bgppeer/') ? p.source.slice('bgppeer/'.length) : p.address;
          vertices.set(other, { id: other, kind: 'external', label: name, detail: `${p.address} · AS ${p.asNumber}` });
        }
      }
      if (other === self) continue;
      const [a, b] = [self, other].sort() as [string, string];
      const id = `${a}|${b}`;
      let session = sessions.get(id);
      if (!session) {
        session = { id, a, b, state: 'Unknown', ends: [] };
        sessions.set(id, session);
      }
      session.ends.push({
        from: s.node,
        state: p.state,
        type: p.type,
        ...(p.since !== undefined ? { since: p.since } : {}),
        info: redact(p.info, secrets),
        received: p.received,
        advertised: p.advertised,
        ...(p.bfd !== undefined ? { bfd: p.bfd } : {}),
      });
    }
  }
  for (const s of sessions.values()) s.state = combinedState(s.ends.map((e) => e.state));
  return {
    vertices: [...vertices.values()].sort((x, y) => x.id.localeCompare(y.id)),
    sessions: [...sessions.values()].sort((x, y) => x.id.localeCompare(y.id)),
  };
}

function poolsOf(input: PageInput): PagePool[] {
  const held = new Map((input.fence?.held ?? []).map((h) => [h.pool, h.reason]));
  return byName(input.pools).map((p): PagePool => {
    const cidr = tryParseCidr(p.spec.cidr);
    const inside = cidr
      ? input.blocks.filter((b) => {
          const bc = tryParseCidr(b.cidr);
          return bc !== undefined && cidrContainsCidr(cidr, bc);
        })
      : [];
    const reason = held.get(p.metadata.name);
    return {
      name: p.metadata.name,
      cidr: p.spec.cidr,
      blockSize: p.spec.blockSize,
      disabled: p.spec.disabled,
      natOutgoing: p.spec.natOutgoing,
      blocks: inside.length,
      used: inside.reduce((n, b) => n + Object.keys(b.allocations).length, 0),
      size: cidr ? Number(cidrSize(cidr)) : 0,
      ...(reason !== undefined ? { held: reason } : {}),
    };
  });
}

function remotesOf(input: PageInput, secrets: readonly string[]): PageRemote[] {
  const docs = new Map(input.remoteStates.map((d) => [d.name, d]));
  return byName(input.remoteClusters).map((r): PageRemote => {
    const d = docs.get(r.metadata.name);
    return {
      name: r.metadata.name,
      clusterName: r.spec.clusterName,
      connection: d?.connection ?? 'Unknown',
      stale: d?.stale ?? true,
      ...(d?.error !== undefined ? { error: redact(d.error, secrets) } : {}),
      ...(d?.lastSynced !== undefined ? { lastSynced: d.lastSynced } : {}),
      pools: (d?.pools ?? []).map((p) => ({ name: p.name, cidr: p.cidr, disabled: p.disabled })),
      blocks: d?.blocks ?? 0,
      nodes: d?.nodes ?? 0,
      asNumber: d?.asNumber ?? 0,
      gateways: (d?.gateways ?? []).map((g) => ({ name: g.name, addresses: [...g.addresses] })),
      overlaps: (d?.overlaps ?? []).map((o) => ({ pool: o.pool, cidr: o.cidr, remotePool: o.remotePool, remoteCidr: o.remoteCidr, fenced: o.fenced, since: o.since })),
    };
  });
}

function controllerOf(c: ControllerStatus | undefined, now: number, secrets: readonly string[]): PageController | undefined {
  if (!c) return undefined;
  return {
    leader: c.leader,
    leaderSince: c.leaderSince,
    lastPass: c.lastPass,
    stale: !(now - Date.parse(c.lastPass) <= 2 * c.intervalSeconds * 1000),
    passes: c.passes,
    graceSeconds: c.graceSeconds,
    intervalSeconds: c.intervalSeconds,
    totals: { nodesReleased: c.totals.nodesReleased, blocksReleased: c.totals.blocksReleased, addressesFreed: c.totals.addressesFreed, poolsCreated: c.totals.poolsCreated },
    errors: c.errors.map((e) => ({ time: e.time, message: redact(e.message, secrets) })),
  };
}

export function buildPageState(input: PageInput): PageState {
  const secrets = secretStrings(input);
  const nodes = nodesOf(input, input.now);
  const { vertices, sessions } = graphOf(input, nodes, secrets);
  const controller = controllerOf(input.controller, input.now, secrets);
  return {
    cluster: input.cluster,
    generatedAt: new Date(input.now).toISOString(),
    servedBy: input.servedBy,
    leading: input.leading,
    ...(controller ? { controller } : {}),
    nodes,
    vertices,
    sessions,
    pools: poolsOf(input),
    remotes: remotesOf(input, secrets),
    events: input.events
      .map((e) => ({ time: e.time, kind: e.kind, subject: e.subject, message: redact(e.message, secrets) }))
      .reverse(),
  };
}
