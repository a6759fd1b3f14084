/**
 * `explain ip` as printed: the address's IPAM record, then one row per node
 * (its kernel route, the BGP paths it learned, its sessions towards the
 * origin and the routers), then the verdict. Pure: facts and faults in,
 * text out; golden-tested.
 */
import { formatTable } from '../output/table.js';
import type { ExplainFacts, NodeFacts } from './facts.js';
import { expectedPrefix, type Fault, unknownNodes } from './faults.js';

export const ROUTES_HEADER = ['NODE', 'STATE', 'KERNEL ROUTE', 'BGP PATHS', 'SESSIONS'];

function holderText(f: ExplainFacts): string {
  const h = f.holder;
  if (!h) return f.block ? 'free' : 'free (no block holds it)';
  const parts = [`handle ${h.handle}`];
  if (h.pod) parts.push(`pod ${h.namespace ?? ''}/${h.pod}`);
  if (h.containerID) parts.push(`container ${h.containerID.slice(0, 12)}`);
  if (h.iface) parts.push(`interface ${h.iface}`);
  parts.push(`on ${h.node}`);
  return parts.join(', ');
}

/** A peer address as a name: a node, a ToR (its BGPPeer), or the address itself. */
function namer(f: ExplainFacts): (addr: string) => string {
  const names = new Map<string, string>(Object.entries(f.routers));
  for (const n of f.nodes) for (const a of n.status?.addresses ?? []) names.set(a, n.name);
  return (addr) => names.get(addr) ?? addr;
}

function kernelText(n: NodeFacts, name: (a: string) => string): string {
  if (!n.answer) return '-';
  if (n.answer.kernel.length === 0) return 'none';
  return n.answer.kernel
    .map((r) => {
      const via = r.via.length > 0 ? ` via ${r.via.map((v) => `${v} (${name(v)})`).join(', ')}` : '';
      const kind = r.type === 'unicast' ? '' : `${r.type} `;
      return `${kind}${r.dst}${via}${r.dev && r.via.length === 0 ? ` dev ${r.dev}` : ''} proto ${r.protocol}`;
    })
    .join('; ');
}

function bgpText(n: NodeFacts, name: (a: string) => string): string {
  if (!n.answer) return '-';
  if (n.answer.originated) return 'originates it';
  if (n.answer.bgp.length === 0) return 'none';
  // Backends that do not say which session a path came over leave `peer` empty: the next hop names the origin.
  return n.answer.bgp.map((p) => `${p.prefix} via ${p.nextHop} (${name(p.nextHop)})${p.peer ? ` from ${name(p.peer)}` : ''}${p.best ? ' best' : ''}`).join('; ');
}

function sessionsText(n: NodeFacts): string {
  const s = n.status?.sessions ?? [];
  if (s.length === 0) return n.status ? 'no peers' : n.statusError ? `no status (${n.statusError})` : 'no status';
  return s.map((x) => `${x.peer} ${x.state}`).join(', ');
}

/** What the origin's agent says now and what its status record (published every few seconds) lists; both when they differ. */
function originState(origin: NodeFacts | undefined, prefix: string): string {
  const now = origin?.answer?.originated;
  const listed = origin?.status?.advertised.includes(prefix);
  if (now === undefined && listed === undefined) return 'unknown (no status, no answer)';
  if (now !== undefined && listed !== undefined && now !== listed) {
    return `its agent ${now ? 'announces' : 'does NOT announce'} it now; its status record ${listed ? 'lists' : 'does not list'} it`;
  }
  return (now ?? listed) ? 'advertised' : 'NOT advertised';
}

function stateText(n: NodeFacts, f: ExplainFacts): string {
  if (!n.alive) return 'dead';
  // A failed query is said once, on the Query line, not in every row.
  return n.answer ? 'alive' : `alive, ${n.answerError ?? (f.queryError !== undefined ? 'not asked' : 'no answer')}`;
}

/** `node-2, node-3 (no answer within 3 s)`: nodes unknown for the same reason share it, so a long reason is printed once. */
function unknownText(unknown: readonly { node: string; why: string }[]): string {
  const byWhy = new Map<string, string[]>();
  for (const u of unknown) byWhy.set(u.why, [...(byWhy.get(u.why) ?? []), u.node]);
  return [...byWhy].map(([why, nodes]) => `${nodes.join(', ')} (${why})`).join(', ');
}

/**
 * Text from etcd (answers, status records, names) as printed: control
 * characters shown as `?`, so a record cannot move the cursor, clear the
 * screen or start a line of its own ("Verdict: healthy").
 */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

export function renderExplain(f: ExplainFacts, faults: readonly Fault[]): string {
  const name = namer(f);
  const want = expectedPrefix(f);
  const head = [
    `Address:   ${f.ip}`,
    `Pool:      ${f.pool ? `${f.pool.name} (${f.pool.cidr})${f.pool.disabled ? ', disabled' : ''}` : 'none'}`,
    `Block:     ${f.block ? `${f.block.cidr}, ${f.block.node ? `affine to ${f.block.node}` : 'no affinity'}` : 'none claimed'}`,
    `Holder:    ${holderText(f)}`,
  ];
  const lines = head.map(printable);
  if (want) {
    const origin = f.nodes.find((n) => n.name === want.origin);
    lines.push(printable(`Origin:    ${want.origin} should announce ${want.prefix}: ${originState(origin, want.prefix)}`));
  }
  if (f.queryError !== undefined) lines.push(printable(`Query:     route query failed, no agent was asked: ${f.queryError}`));
  if (f.nodes.length > 0) {
    const rows = f.nodes.map((n) => [n.name, stateText(n, f), kernelText(n, name), bgpText(n, name), sessionsText(n)].map(printable));
    lines.push('', formatTable(ROUTES_HEADER, rows).trimEnd());
  }
  const unknown = unknownNodes(f);
  const clean = unknown.length === 0 ? 'healthy' : `no fault found; unknown on ${unknownText(unknown)}`;
  lines.push('', printable(faults.length === 0 ? `Verdict:   ${clean}` : `Verdict:   ${faults[0]?.message}`));
  if (faults.length > 1) lines.push(`           (${faults.length - 1} more: -o yaml lists every fault)`);
  return `${lines.join('\n')}\n`;
}
