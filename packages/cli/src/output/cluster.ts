/**
 * `terracectl cluster list|status`, the pure part: from what is stored in the
 * local etcd (RemoteCluster resources, the controller's state doc per remote,
 * the fence, the local gateway nodes' published status) to one report per
 * remote, its problems, and the text printed. No remote credentials are
 * involved: everything here is what the acting controller wrote locally.
 */
import {
  type ClusterFence,
  type FencedRange,
  GATEWAY_IPV4_ANNOTATION,
  GATEWAY_IPV6_ANNOTATION,
  type NodeStatus,
  type RemoteCluster,
  type RemoteClusterState,
  type TerraceNode,
  parseSelector,
  tryParseIP,
} from '@terrace/api';
import { formatAge } from './age.js';
import { formatTable } from './table.js';

/** What the report is built from, as read from etcd. */
export interface ClusterInput {
  remotes: RemoteCluster[];
  /** State docs by RemoteCluster name. */
  states: Map<string, RemoteClusterState>;
  fence: ClusterFence | undefined;
  /** Local Nodes (to find each remote's local gateways). */
  nodes: TerraceNode[];
  /** Published status of local nodes, by name (only gateway nodes are needed). */
  statuses: Map<string, NodeStatus>;
}

/** One local gateway's BGP session to one address of a remote gateway. */
export interface GatewaySession {
  node: string;
  remoteGateway: string;
  address: string;
  /** The BGP state the node's agent last published, `no session` or `no status published`. */
  state: string;
  since?: string;
  info?: string;
}

export interface RemoteClusterReport {
  name: string;
  clusterName: string;
  endpoints: string[];
  /** Local Nodes selected by gatewayNodeSelector; null when the RemoteCluster has none (no routing). */
  gatewayNodes: string[] | null;
  /** The controller's view of the remote; null until it has synced this RemoteCluster. */
  state: RemoteClusterState | null;
  sessions: GatewaySession[];
  /** The fence's ranges caused by this remote. */
  fenced: FencedRange[];
  /** Why this remote needs attention (empty: none). */
  problems: string[];
}

export interface ClusterReport {
  remotes: RemoteClusterReport[];
  /** Local pools not cleared for allocation, and why (from the fence). */
  held: { pool: string; reason: string }[];
  /** When the controller last wrote the fence; null when there is none (no RemoteCluster seen yet). */
  fenceUpdated: string | null;
}

export const NOT_SYNCED = 'not synced yet (is the controller running?)';

function families(node: TerraceNode): Set<number> {
  const out = new Set<number>();
  const ann = node.metadata.annotations ?? {};
  if (node.spec.bgp?.ipv4Address !== undefined || ann[GATEWAY_IPV4_ANNOTATION] !== undefined) out.add(4);
  if (node.spec.bgp?.ipv6Address !== undefined || ann[GATEWAY_IPV6_ANNOTATION] !== undefined) out.add(6);
  return out;
}

function familyOf(address: string): number | undefined {
  return tryParseIP(address)?.family;
}

/** Each local gateway's session to each remote gateway address of a family the node has. */
function sessionsOf(gateways: TerraceNode[], state: RemoteClusterState | null, statuses: Map<string, NodeStatus>): GatewaySession[] {
  if (!state) return [];
  const out: GatewaySession[] = [];
  for (const node of gateways) {
    const fams = families(node);
    const status = statuses.get(node.metadata.name);
    for (const gw of state.gateways) {
      for (const address of gw.addresses) {
        const fam = familyOf(address);
        if (fam === undefined || !fams.has(fam)) continue;
        const base = { node: node.metadata.name, remoteGateway: gw.name, address };
        if (!status) {
          out.push({ ...base, state: 'no status published' });
          continue;
        }
        const peer = status.peers.find((p) => p.address === address);
        if (!peer) out.push({ ...base, state: 'no session' });
        else out.push({ ...base, state: peer.state, ...(peer.since ? { since: peer.since } : {}), ...(peer.info ? { info: peer.info } : {}) });
      }
    }
  }
  return out;
}

function problemsOf(state: RemoteClusterState | null): string[] {
  if (!state) return [NOT_SYNCED];
  const out: string[] = [];
  if (state.connection !== 'Connected') out.push(`connection ${state.connection}${state.error ? `: ${state.error}` : ''}`);
  if (state.stale) out.push('stale: no contact for longer than staleAfter');
  for (const o of state.overlaps) out.push(`local pool ${o.pool} (${o.cidr}) overlaps remote pool ${o.remotePool} (${o.remoteCidr}); ${o.fenced} is fenced`);
  return out;
}

/** The local Nodes that peer with this remote's gateways (sorted), or null when it has no gatewayNodeSelector. */
export function localGateways(rc: RemoteCluster, nodes: readonly TerraceNode[]): TerraceNode[] | null {
  const selector = rc.spec.gatewayNodeSelector;
  if (selector === undefined) return null;
  const sel = parseSelector(selector);
  return nodes.filter((n) => sel.matches(n.metadata.labels ?? {})).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

export function buildClusterReport(input: ClusterInput): ClusterReport {
  const remotes = [...input.remotes].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  return {
    remotes: remotes.map((rc) => {
      const name = rc.metadata.name;
      const doc = input.states.get(name);
      // A doc left by an earlier RemoteCluster of the same name says nothing about this one.
      const state = doc && (doc.uid === rc.metadata.uid || rc.metadata.uid === undefined) ? doc : null;
      const gateways = localGateways(rc, input.nodes);
      return {
        name,
        clusterName: rc.spec.clusterName,
        endpoints: rc.spec.etcd.endpoints,
        gatewayNodes: gateways && gateways.map((n) => n.metadata.name),
        state,
        sessions: sessionsOf(gateways ?? [], state, input.statuses),
        fenced: (input.fence?.fenced ?? []).filter((f) => f.remote === name),
        problems: problemsOf(state),
      };
    }),
    held: input.fence?.held ?? [],
    fenceUpdated: input.fence?.updated ?? null,
  };
}

/** True when a script should be alerted: a remote not Connected, stale, overlapping, or a held pool. */
export function reportHasProblems(r: ClusterReport): boolean {
  return r.held.length > 0 || r.remotes.some((x) => x.problems.length > 0);
}

export const CLUSTER_LIST_HEADER = ['NAME', 'CLUSTER', 'CONNECTION', 'LAST SYNC', 'POOLS', 'BLOCKS', 'NODES', 'GATEWAYS', 'OVERLAPS'];

function connectionText(state: RemoteClusterState | null): string {
  if (!state) return 'not synced';
  return state.stale ? `${state.connection} (stale)` : state.connection;
}

function upCount(sessions: GatewaySession[]): string {
  return `${sessions.filter((s) => s.state === 'Established').length}/${sessions.length} up`;
}

export function renderClusterList(report: ClusterReport, now: Date): string {
  if (report.remotes.length === 0) return 'No remote clusters.\n';
  const rows = report.remotes.map((r) => {
    const s = r.state;
    const gateways = s ? `${s.gateways.length}${r.sessions.length > 0 ? ` (${upCount(r.sessions)})` : ''}` : '-';
    return [
      r.name,
      r.clusterName,
      connectionText(s),
      s?.lastSynced ? formatAge(s.lastSynced, now) : '-',
      s ? String(s.pools.length) : '-',
      s ? String(s.blocks) : '-',
      s ? String(s.nodes) : '-',
      gateways,
      s ? String(s.overlaps.length) : '-',
    ];
  });
  return formatTable(CLUSTER_LIST_HEADER, rows) + heldText(report);
}

function heldText(report: ClusterReport): string {
  if (report.held.length === 0) return '';
  return ['Held pools (no address is allocated from them until cleared):', ...report.held.map((h) => `  ${h.pool}: ${h.reason}`), ''].join('\n');
}

function indent(text: string, by = '    '): string[] {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => by + l);
}

function remoteBlock(r: RemoteClusterReport, now: Date): string {
  const title = r.clusterName === r.name ? `Remote cluster ${r.name}` : `Remote cluster ${r.name} (cluster name ${r.clusterName})`;
  const lines = [title, `  Endpoints:   ${r.endpoints.join(', ')}`];
  const s = r.state;
  if (!s) {
    lines.push(`  Connection:  ${NOT_SYNCED}`);
    return `${lines.join('\n')}\n`;
  }
  const synced = s.lastSynced ? `last sync ${formatAge(s.lastSynced, now)} ago` : 'never synced';
  lines.push(`  Connection:  ${connectionText(s)}, ${synced}, remote revision ${s.revision}`);
  if (s.error) lines.push(`  Error:       ${s.error}`);
  const pools = s.pools.map((p) => `${p.name} ${p.cidr}${p.disabled ? ' (disabled)' : ''}`);
  lines.push(`  Pools:       ${pools.length > 0 ? pools.join(', ') : 'none'}`);
  lines.push(`  Known:       ${s.blocks} block${s.blocks === 1 ? '' : 's'}, ${s.nodes} node${s.nodes === 1 ? '' : 's'}, default AS ${s.asNumber}`);
  if (s.gateways.length === 0) {
    lines.push('  Gateways:    none');
  } else {
    lines.push('  Gateways:');
    lines.push(...indent(formatTable(['REMOTE GATEWAY', 'ADDRESSES', 'AS'], s.gateways.map((g) => [g.name, g.addresses.join(','), String(g.asNumber)]))));
  }
  if (r.gatewayNodes === null) {
    lines.push('  Sessions:    none (no gatewayNodeSelector: sync and guards only)');
  } else if (r.gatewayNodes.length === 0) {
    lines.push('  Sessions:    none (gatewayNodeSelector matches no local node)');
  } else if (r.sessions.length === 0) {
    lines.push(`  Sessions:    none (local gateways ${r.gatewayNodes.join(', ')}; no remote gateway address of their families)`);
  } else {
    lines.push(`  Sessions:    ${upCount(r.sessions)}`);
    const rows = r.sessions.map((x) => [x.node, x.address, x.remoteGateway, x.state, x.since ? formatAge(x.since, now) : '-', x.info ?? '']);
    lines.push(...indent(formatTable(['LOCAL NODE', 'PEER ADDRESS', 'REMOTE GATEWAY', 'STATE', 'SINCE', 'INFO'], rows)));
  }
  if (s.overlaps.length === 0) {
    lines.push('  Overlaps:    none');
  } else {
    lines.push('  Overlaps (no new address is handed out of a fenced range):');
    const rows = s.overlaps.map((o) => [o.pool, o.cidr, o.remotePool, o.remoteCidr, o.fenced, formatAge(o.since, now)]);
    lines.push(...indent(formatTable(['LOCAL POOL', 'CIDR', 'REMOTE POOL', 'REMOTE CIDR', 'FENCED', 'SINCE'], rows)));
  }
  return `${lines.join('\n')}\n`;
}

export function renderClusterStatus(report: ClusterReport, now: Date): string {
  if (report.remotes.length === 0) return 'No remote clusters.\n';
  return report.remotes.map((r) => remoteBlock(r, now)).join('\n') + (report.held.length > 0 ? `\n${heldText(report)}` : '');
}
