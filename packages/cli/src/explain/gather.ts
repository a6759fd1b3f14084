/**
 * Reads the facts `explain ip` judges: one `ipam check` snapshot (blocks,
 * handles, nodes, liveness at one revision, and the check's own rules run on
 * it), the pools, the node status records, and a route query answered by
 * every live agent. Bad input (not an address) fails before etcd is asked.
 */
import { TerraceError, cidrContainsIP, decodeNodeStatus, formatIP, parseCidr, parseHostPort, tryParseIP, type IPAddr, type NodeStatus, type PeerStatusRecord } from '@terrace/api';
import { askAgents, type AskResult } from '@terrace/datastore';
import { allocationAt, affinityNode, findIssues, readSnapshot } from '@terrace/ipam';
import type { Datastore } from '../context.js';
import type { ExplainFacts, NodeFacts, SessionFacts } from './facts.js';

/** How long live agents get to answer (they answer within about a second). */
export const EXPLAIN_QUERY_TIMEOUT_MS = 3000;

function parseAddress(text: string): IPAddr {
  const ip = tryParseIP(text);
  if (!ip) throw new TerraceError('Invalid', `explain ip: ${JSON.stringify(text)} is not an IPv4 or IPv6 address`);
  return ip;
}

/** `not-an-ip` → a one-line Invalid error; otherwise the canonical text of the address. */
export function parseExplainAddress(text: string): string {
  return formatIP(parseAddress(text));
}

/** Who a session's peer is, as an operator names it: the node, or the router and its BGPPeer. */
export function peerName(p: Pick<PeerStatusRecord, 'address' | 'type' | 'source'>): string {
  if (p.source.startsWith('node/')) return p.source.slice('node/'.length);
  if (p.type === 'remote cluster') return `remote cluster ${p.source}`;
  return `ToR ${p.source}`;
}

function sessionsOf(s: NodeStatus): SessionFacts[] {
  return s.peers.map((p) => ({ address: p.address, peer: peerName(p), state: p.state, ...(p.since ? { since: p.since } : {}) }));
}

/** Each node's status record, or why its record cannot be read (it then reads as none). */
async function readStatuses(ds: Datastore): Promise<Map<string, NodeStatus | { error: string }>> {
  const prefix = ds.keys.statusPrefix();
  const records = await ds.etcd.getAll().prefix(prefix).strings();
  const out = new Map<string, NodeStatus | { error: string }>();
  for (const [key, text] of Object.entries(records)) {
    const node = key.slice(prefix.length);
    try {
      out.set(node, decodeNodeStatus(node, text));
    } catch (e) {
      out.set(node, { error: (e as Error).message });
    }
  }
  return out;
}

/** Why a live node has no usable answer, in a few words. */
function answerError(node: string, agentError: string | undefined, asked: AskResult): string {
  if (agentError !== undefined) return `its agent could not look: ${agentError}`;
  if (asked.answers.find((a) => a.node === node)?.state === 'starting') return 'its agent is starting (BGP and routes not up yet)';
  const garbled = asked.errors.find((e) => e.node === node);
  if (garbled) return garbled.error;
  if (asked.missing.includes(node)) return `no answer within ${EXPLAIN_QUERY_TIMEOUT_MS / 1000} s`;
  return 'its answer held no result for the address';
}

/**
 * The route query, or why it could not be written (etcd readable but not
 * writable: a NOSPACE alarm, a user without write access to queries/). No
 * agent was asked then, and the verdict rests on the status records.
 */
async function askOrSay(ds: Datastore, ip: string, askedBy: string, alive: string[]): Promise<AskResult | { failed: string }> {
  try {
    return await askAgents(ds.etcd, ds.keys, [ip], { timeoutMs: EXPLAIN_QUERY_TIMEOUT_MS, askedBy, expect: alive });
  } catch (e) {
    return { failed: (e as Error).message };
  }
}

export async function gatherFacts(ds: Datastore, ip: string, askedBy: string): Promise<ExplainFacts> {
  const addr = parseAddress(ip);
  const [pools, snap, statuses, peers] = await Promise.all([
    ds.store.list('IPPool'),
    readSnapshot(ds.etcd, ds.keys),
    readStatuses(ds),
    ds.store.list('BGPPeer'),
  ]);
  const pool = pools.items.find((p) => cidrContainsIP(parseCidr(p.spec.cidr), addr));
  const blk = snap.blocks.find((b) => cidrContainsIP(parseCidr(b.rec.cidr), addr));
  const facts: ExplainFacts = { ip, issues: [], nodes: [], routers: {} };
  if (pool) facts.pool = { name: pool.metadata.name, cidr: pool.spec.cidr, disabled: pool.spec.disabled === true };
  for (const p of peers.items) {
    const at = p.spec.peerIP ? parseHostPort(p.spec.peerIP) : undefined;
    if (at) facts.routers[formatIP(at.ip)] = `ToR bgppeer/${p.metadata.name}`;
  }

  if (blk) {
    const block = parseCidr(blk.rec.cidr);
    const node = affinityNode(blk.rec.affinity);
    facts.block = { cidr: blk.rec.cidr, ...(node !== undefined ? { node } : {}) };
    const ordinal = Number(addr.value - block.base);
    const a = allocationAt(blk.rec, ordinal);
    if (a) {
      facts.holder = { handle: a.handle, node: a.node, namespace: a.namespace, pod: a.pod, containerID: a.containerID, iface: a.iface };
    }
    facts.issues = findIssues(ds.keys, snap)
      .filter((i) => i.ip === ip || (a !== undefined && i.kind === 'handleOfTwoInterfaces' && i.handle === a.handle))
      .map((i) => ({ kind: i.kind, ...(i.node ? { node: i.node } : {}), ...(i.handle ? { handle: i.handle } : {}) }));
  }

  const names = [...new Set([...snap.nodes, ...snap.alive, ...statuses.keys()])].sort();
  const alive = names.filter((n) => snap.alive.has(n));
  const outcome = alive.length > 0 ? await askOrSay(ds, ip, askedBy, alive) : { answers: [], missing: [], errors: [] };
  // One reason for every live node, said once (see unknownNodes); their rows then carry no error of their own.
  if ('failed' in outcome) facts.queryError = outcome.failed;
  const asked = 'failed' in outcome ? undefined : outcome;
  const answers = new Map((asked?.answers ?? []).map((a) => [a.node, a]));
  facts.nodes = names.map((name): NodeFacts => {
    const s = statuses.get(name);
    const n: NodeFacts = { name, alive: snap.alive.has(name) };
    if (s && 'error' in s) n.statusError = s.error;
    else if (s) n.status = { updatedAt: s.updatedAt, addresses: s.addresses, sessions: sessionsOf(s), advertised: s.advertisedPrefixes };
    const answer = answers.get(name);
    const result = answer?.results.find((r) => r.prefix === ip);
    if (result) n.answer = result;
    else if (n.alive && asked) n.answerError = answerError(name, answer?.error, asked);
    return n;
  });
  return facts;
}
