/**
 * Which BGP sessions this node should have, computed from the resources in
 * etcd. Pure: the agent calls it on every relevant change and hands the
 * whole result to the BGP speaker, which works out what to add and delete.
 *
 * Rules (Calico's, see docs/agent.md):
 * - full node-to-node mesh to every other node when the default
 *   BGPConfiguration's nodeToNodeMeshEnabled is not false;
 * - every BGPPeer that applies to this node (`node` is me, or `nodeSelector`
 *   matches my labels, or neither is set: a global peer);
 * - a BGPPeer with `peerSelector` peers with the selected nodes' addresses,
 *   and a selected node peers back with the nodes the BGPPeer applies to;
 * - one session per address: an explicit BGPPeer wins over the mesh, a node
 *   specific one over a global one, then the lower name;
 * - a node with spec.bgp.routeReflectorClusterID is a route reflector: its
 *   sessions with other nodes in its AS (mesh or peerSelector) whose cluster
 *   id differs from its own (most often: none) are route reflector client
 *   sessions in that cluster; between reflectors of one cluster they are
 *   plain iBGP. Sessions with addresses (peerIP) are never client sessions.
 */
import {
  type BFDSpec,
  type BGPConfiguration,
  type BGPPeer,
  type BGPPeerSpec,
  type IPFamily,
  type NextHopMode,
  type PeerType,
  type TerraceNode,
  formatIP,
  parseHostPort,
  tryParseCidr,
  tryParseIP,
} from '@terrace/api';
import { BGP_PORT, durationSeconds, parseDuration } from '@terrace/api';

export const DEFAULT_AS = 64512;
export const DEFAULT_BGP_PORT = BGP_PORT;
export const DEFAULT_CONFIG_NAME = 'default';
/**
 * Graceful restart is on for every session unless turned off: Calico's
 * default, and BIRD's restart time (120 s). A peer then keeps this node's
 * routes while its BGP daemon restarts, and the node keeps the peer's.
 */
export const DEFAULT_RESTART_TIME_S = 120;

/** The node-specific BGPConfiguration's name (Calico's convention). */
export function nodeConfigName(node: string): string {
  return `node.${node}`;
}

/** Evaluates a Calico selector against a label set (the agent passes the api's parser). */
export type SelectorMatcher = (selector: string, labels: Record<string, string>) => boolean;

/** Resolves a BGPPeer password reference to the secret, or undefined when it cannot. */
export type PasswordResolver = (peer: string, ref: NonNullable<BGPPeerSpec['password']>) => string | undefined;

export interface PeerInputs {
  /** This node as the agent knows it (the cache's copy once it exists). */
  self: TerraceNode;
  /** Every Node resource (may include self). */
  nodes: readonly TerraceNode[];
  configs: readonly BGPConfiguration[];
  peers: readonly BGPPeer[];
  matches: SelectorMatcher;
  password?: PasswordResolver;
}

export interface DesiredGlobal {
  asNumber: number;
  routerId: string;
  listenPort: number;
  /** This node's BGP addresses, IPv4 first. */
  addresses: string[];
}

export interface DesiredPeer {
  address: string;
  family: IPFamily;
  /** Remote TCP port; 179 unless the peer says otherwise. */
  port: number;
  asNumber: number;
  type: PeerType;
  /** `node/<name>` for mesh peers and peerSelector peers, with `bgppeer/<name>` for explicit ones. */
  source: string;
  keepaliveTime?: number;
  holdTime?: number;
  password?: string;
  ttlSecurity?: number;
  /** Graceful restart time in seconds (maxRestartTime, default 120); absent: graceful restart off. */
  restartTime?: number;
  /** Local address to bind the session to (sourceAddress UseNodeIP). */
  localAddress?: string;
  /** BFD on this session (from the BGPPeer, or the mesh's nodeToNodeMeshBFD). */
  bfd?: { intervalMs: number; multiplier: number };
  /** This node reflects routes to the peer (its client) in this cluster. */
  routeReflectorClusterId?: string;
  /** The BGPPeer's nextHopMode when not Auto. */
  nextHopMode?: Exclude<NextHopMode, 'Auto'>;
  /** The BGPPeer's BGPFilter names, in order (policies.ts); none for mesh sessions. */
  filters?: string[];
}

export interface DesiredBgp {
  global: DesiredGlobal;
  /** Sorted by address for stable output. */
  peers: DesiredPeer[];
  /** Resources that could not be used, one line each (logged; never fatal). */
  problems: string[];
}

/** The node's BGP addresses by family, parsed from `198.18.0.11/24` (or a bare address). */
export function nodeAddresses(node: TerraceNode): Partial<Record<IPFamily, string>> {
  const out: Partial<Record<IPFamily, string>> = {};
  for (const raw of [node.spec.bgp?.ipv4Address, node.spec.bgp?.ipv6Address]) {
    if (!raw) continue;
    const slash = raw.indexOf('/');
    const ip = tryParseIP(slash < 0 ? raw : raw.slice(0, slash));
    if (ip && (slash < 0 || tryParseCidr(raw, false))) out[ip.family] ??= formatIP(ip);
  }
  return out;
}

/**
 * The families whose node BGP address is a host address (`/32`, `/128`): an
 * address on the loopback (a dual-homed node), on no subnet a peer shares.
 */
export function hostAddressFamilies(node: TerraceNode): Set<IPFamily> {
  const out = new Set<IPFamily>();
  for (const raw of [node.spec.bgp?.ipv4Address, node.spec.bgp?.ipv6Address]) {
    const c = raw?.includes('/') ? tryParseCidr(raw, false) : undefined;
    if (c && c.prefix === (c.family === 4 ? 32 : 128)) out.add(c.family);
  }
  return out;
}

function configByName(configs: readonly BGPConfiguration[], name: string): BGPConfiguration | undefined {
  return configs.find((c) => c.metadata.name === name);
}

/** AS of a node: its own, else its node-specific config's, else the default config's, else 64512. */
export function nodeAsNumber(node: TerraceNode, configs: readonly BGPConfiguration[]): number {
  return (
    node.spec.bgp?.asNumber ??
    configByName(configs, nodeConfigName(node.metadata.name))?.spec.asNumber ??
    configByName(configs, DEFAULT_CONFIG_NAME)?.spec.asNumber ??
    DEFAULT_AS
  );
}

/** The port a node's BGP speaker listens on. */
export function nodeListenPort(node: string, configs: readonly BGPConfiguration[]): number {
  return (
    configByName(configs, nodeConfigName(node))?.spec.listenPort ??
    configByName(configs, DEFAULT_CONFIG_NAME)?.spec.listenPort ??
    DEFAULT_BGP_PORT
  );
}

/**
 * A 32-bit router id: the IPv4 address, or for an IPv6-only node a stable
 * hash of its name (BGP ids are IPv4-shaped whatever the session family).
 */
export function routerIdFor(name: string, v4: string | undefined): string {
  if (v4) return v4;
  let h = 0x811c9dc5;
  for (const ch of Buffer.from(name, 'utf8')) {
    h ^= ch;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return [24, 16, 8, 0].map((s) => (h >>> s) & 0xff).join('.');
}

// Remote cluster sessions are merged afterwards (remote-peers.ts); they never compete here.
const PRIORITY: Record<PeerType, number> = { 'node-to-node mesh': 0, global: 1, 'node specific': 2, 'remote cluster': 3 };

function appliesTo(peer: BGPPeer, self: TerraceNode, matches: SelectorMatcher): boolean {
  const { node, nodeSelector } = peer.spec;
  if (node !== undefined && node !== '') return node === self.metadata.name;
  if (nodeSelector !== undefined && nodeSelector !== '') return matches(nodeSelector, self.metadata.labels ?? {});
  return true;
}

/**
 * The cluster id when `self` reflects routes to node `peer` reached over iBGP
 * (`peerAsn` is the session's remote AS): self is a reflector and the peer is
 * not one of its cluster.
 */
export function reflectorClusterFor(self: TerraceNode, peer: TerraceNode, myAsn: number, peerAsn: number): string | undefined {
  const mine = self.spec.bgp?.routeReflectorClusterID;
  if (!mine || myAsn !== peerAsn) return undefined;
  return peer.spec.bgp?.routeReflectorClusterID === mine ? undefined : mine;
}

function peerTypeOf(peer: BGPPeer): PeerType {
  return peer.spec.node || peer.spec.nodeSelector ? 'node specific' : 'global';
}

export function computeDesiredPeers(inp: PeerInputs): DesiredBgp {
  const problems: string[] = [];
  const me = inp.self.metadata.name;
  const myAddrs = nodeAddresses(inp.self);
  const configs = inp.configs;
  const defaultConfig = configByName(configs, DEFAULT_CONFIG_NAME);
  const myConfig = configByName(configs, nodeConfigName(me));
  const global: DesiredGlobal = {
    asNumber: nodeAsNumber(inp.self, configs),
    routerId: routerIdFor(me, myAddrs[4]),
    listenPort: nodeListenPort(me, configs),
    addresses: [myAddrs[4], myAddrs[6]].filter((a): a is string => a !== undefined),
  };
  const myAddressSet = new Set(global.addresses);
  const others = inp.nodes.filter((n) => n.metadata.name !== me);
  const chosen = new Map<string, DesiredPeer>();
  const offer = (p: DesiredPeer): void => {
    if (myAddressSet.has(p.address)) return;
    const cur = chosen.get(p.address);
    if (!cur || PRIORITY[p.type] > PRIORITY[cur.type] || (PRIORITY[p.type] === PRIORITY[cur.type] && p.source < cur.source)) {
      chosen.set(p.address, p);
    }
  };

  // Node-to-node mesh.
  if (defaultConfig?.spec.nodeToNodeMeshEnabled !== false) {
    const keepalive = timer(myConfig?.spec.keepaliveTime ?? defaultConfig?.spec.keepaliveTime, `bgpconfiguration keepaliveTime`, problems);
    const meshBfd = bfdOf(defaultConfig?.spec.nodeToNodeMeshBFD, 'bgpconfiguration/default: spec.nodeToNodeMeshBFD', problems);
    const meshRestart = restartTimeOf(defaultConfig?.spec.nodeMeshMaxRestartTime, 'bgpconfiguration/default: spec.nodeMeshMaxRestartTime', problems);
    const meshPasswordRef = defaultConfig?.spec.nodeMeshPassword;
    const meshPassword = meshPasswordRef ? inp.password?.(DEFAULT_CONFIG_NAME, meshPasswordRef) : undefined;
    // Without its password a mesh session cannot come up; say so once instead of dialling in vain.
    const meshUsable = !meshPasswordRef || meshPassword !== undefined;
    if (!meshUsable) problems.push('bgpconfiguration/default: spec.nodeMeshPassword cannot be resolved; the node-to-node mesh is skipped');
    // Every node runs BFD (BIRD's protocol bfd, or the agent's own beside gobgpd), so nodeToNodeMeshBFD applies between any two.
    for (const n of meshUsable ? others : []) {
      const addrs = nodeAddresses(n);
      for (const fam of [4, 6] as const) {
        const address = addrs[fam];
        if (!address || !myAddrs[fam]) continue;
        const asNumber = nodeAsNumber(n, configs);
        const cluster = reflectorClusterFor(inp.self, n, global.asNumber, asNumber);
        offer({
          address,
          family: fam,
          port: nodeListenPort(n.metadata.name, configs),
          asNumber,
          type: 'node-to-node mesh',
          source: `node/${n.metadata.name}`,
          ...keepalive,
          ...(meshRestart !== undefined ? { restartTime: meshRestart } : {}),
          ...(meshPassword !== undefined ? { password: meshPassword } : {}),
          ...(meshBfd ? { bfd: meshBfd } : {}),
          ...(cluster ? { routeReflectorClusterId: cluster } : {}),
        });
      }
    }
  }

  // Explicit BGPPeers.
  for (const peer of [...inp.peers].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const spec = peer.spec;
    const forward = appliesTo(peer, inp.self, inp.matches);
    // Each peerSelector session has two ends: the nodes it selects peer back
    // with the nodes the BGPPeer applies to (Calico's rule), so one BGPPeer
    // (nodeSelector all(), peerSelector the reflectors) configures both.
    const reverse = !!spec.peerSelector && inp.matches(spec.peerSelector, inp.self.metadata.labels ?? {});
    if (!forward && !reverse) continue;
    const name = peer.metadata.name;
    const ref = `bgppeer/${name}`;
    const common: Omit<DesiredPeer, 'address' | 'family' | 'port' | 'asNumber' | 'source'> = {
      type: peerTypeOf(peer),
      ...timer(spec.keepaliveTime, `${ref}: spec.keepaliveTime`, problems),
    };
    if (spec.password) {
      const pw = inp.password?.(name, spec.password);
      if (pw === undefined) {
        problems.push(`${ref}: spec.password cannot be resolved; the session is skipped`);
        continue;
      }
      common.password = pw;
    }
    if (spec.ttlSecurity !== undefined) common.ttlSecurity = spec.ttlSecurity;
    if (spec.nextHopMode === 'Self' || spec.nextHopMode === 'Keep') common.nextHopMode = spec.nextHopMode;
    const bfd = bfdOf(spec.bfd, `${ref}: spec.bfd`, problems);
    if (bfd) common.bfd = bfd;
    if (spec.filters && spec.filters.length > 0) common.filters = [...spec.filters];
    const restart = restartTimeOf(spec.maxRestartTime, `${ref}: spec.maxRestartTime`, problems);
    if (restart !== undefined) common.restartTime = restart;
    const withLocal = (fam: IPFamily): Pick<DesiredPeer, 'localAddress'> =>
      spec.sourceAddress === 'None' ? {} : myAddrs[fam] ? { localAddress: myAddrs[fam] } : {};

    if (spec.peerSelector) {
      for (const n of others) {
        const selected = forward && inp.matches(spec.peerSelector, n.metadata.labels ?? {});
        if (!selected && !(reverse && appliesTo(peer, n, inp.matches))) continue;
        const addrs = nodeAddresses(n);
        for (const fam of [4, 6] as const) {
          const address = addrs[fam];
          if (!address || !myAddrs[fam]) continue;
          // spec.asNumber is the selected nodes' AS: ours, on the reverse end.
          const asNumber = selected ? (spec.asNumber ?? nodeAsNumber(n, configs)) : nodeAsNumber(n, configs);
          const cluster = reflectorClusterFor(inp.self, n, global.asNumber, asNumber);
          offer({
            ...common,
            ...withLocal(fam),
            address,
            family: fam,
            port: nodeListenPort(n.metadata.name, configs),
            asNumber,
            source: ref,
            ...(cluster ? { routeReflectorClusterId: cluster } : {}),
          });
        }
      }
      continue;
    }
    const hp = spec.peerIP ? parseHostPort(spec.peerIP) : undefined;
    if (!hp) {
      problems.push(`${ref}: spec.peerIP ${JSON.stringify(spec.peerIP ?? '')} is not an address; the peer is skipped`);
      continue;
    }
    if (spec.asNumber === undefined) {
      problems.push(`${ref}: spec.asNumber is required with spec.peerIP; the peer is skipped`);
      continue;
    }
    if (!myAddrs[hp.ip.family]) {
      problems.push(`${ref}: peer ${formatIP(hp.ip)} is IPv${hp.ip.family} but node ${me} has no IPv${hp.ip.family} BGP address; the peer is skipped`);
      continue;
    }
    // Offered anyway (a router may be set up for it), but a directly
    // connected eBGP router normally refuses a session from the loopback.
    if (spec.sourceAddress !== 'None' && spec.asNumber !== global.asNumber && hostAddressFamilies(inp.self).has(hp.ip.family)) {
      problems.push(
        `${ref}: node ${me}'s IPv${hp.ip.family} BGP address ${myAddrs[hp.ip.family]} is a host address (its loopback), and the session to ${formatIP(hp.ip)} is bound to it; for a directly connected router set spec.sourceAddress: None`,
      );
    }
    offer({
      ...common,
      ...withLocal(hp.ip.family),
      address: formatIP(hp.ip),
      family: hp.ip.family,
      port: hp.port ?? DEFAULT_BGP_PORT,
      asNumber: spec.asNumber,
      source: ref,
    });
  }

  const peers = [...chosen.values()].sort((a, b) => a.family - b.family || compareAddr(a.address, b.address));
  return { global, peers, problems };
}

/** Orders addresses by value (then by family at the caller). */
export function compareAddr(a: string, b: string): number {
  const x = tryParseIP(a)?.value ?? 0n;
  const y = tryParseIP(b)?.value ?? 0n;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** BFD defaults: 300 ms × 3, as FRR's and BIRD's own. */
export const BFD_DEFAULT_INTERVAL_MS = 300;
export const BFD_DEFAULT_MULTIPLIER = 3;

function bfdOf(spec: BFDSpec | undefined, where: string, problems: string[]): DesiredPeer['bfd'] {
  if (spec === undefined) return undefined;
  try {
    const intervalMs = spec.interval === undefined ? BFD_DEFAULT_INTERVAL_MS : parseDuration(spec.interval, `${where}.interval`);
    return { intervalMs, multiplier: spec.multiplier ?? BFD_DEFAULT_MULTIPLIER };
  } catch (e) {
    problems.push((e as Error).message);
    return undefined;
  }
}

/**
 * Graceful restart time in seconds from a Go duration: absent means the
 * default (120 s), zero turns graceful restart off (undefined). A bad value
 * is reported as a problem and the default is used.
 */
export function restartTimeOf(text: string | undefined, where: string, problems: string[]): number | undefined {
  if (text === undefined || text === '') return DEFAULT_RESTART_TIME_S;
  try {
    if (parseDuration(text, where) === 0) return undefined;
    const s = durationSeconds(text, where);
    // The capability carries 12 bits of seconds (RFC 4724).
    if (s > 4095) {
      problems.push(`${where}: ${text} is longer than the 4095 s graceful restart allows; using 4095 s`);
      return 4095;
    }
    return s;
  } catch (e) {
    problems.push((e as Error).message);
    return DEFAULT_RESTART_TIME_S;
  }
}

/** Keepalive (and hold = 3 × keepalive, the BGP convention) from a Go duration. */
function timer(text: string | undefined, where: string, problems: string[]): Pick<DesiredPeer, 'keepaliveTime' | 'holdTime'> {
  if (!text) return {};
  try {
    const k = durationSeconds(text, where);
    return { keepaliveTime: k, holdTime: 3 * k };
  } catch (e) {
    problems.push((e as Error).message);
    return {};
  }
}
