/**
 * The fault rules of `terracectl explain ip`: given what etcd and the live
 * agents say about one address (facts.ts), every fault found, most basic
 * first. The command prints the first and exits 4; an empty list means the
 * address is healthy. Pure: no clock, no I/O.
 *
 * Order matters: a fault further down is often a consequence of one above
 * (a dead node's block is not advertised, so no node routes it); reporting
 * the cause first is what saves the operator time.
 */
import { SHARED_ADDRESS_KINDS } from '@terrace/ipam';
import type { ExplainFacts, NodeFacts } from './facts.js';

export interface Fault {
  /** A stable name for the rule that fired (JSON output, tests). */
  rule: 'outsidePools' | 'leaked' | 'sharedAddress' | 'nodeDead' | 'noInterface' | 'notAdvertised' | 'noAnswer' | 'noRoute' | 'wrongNextHop';
  /** The node the fault is on, if any. */
  node?: string;
  /** One line for the operator. */
  message: string;
}

/** Kernel route types that do not deliver packets (a block's blackhole is one). */
const DROPPING = new Set(['blackhole', 'unreachable', 'prohibit', 'throw']);

/** `2026-12-07T20:14:03.120Z` → `20:14:03` (UTC, as the record is). */
function clock(iso: string | undefined): string {
  return iso && iso.length >= 19 ? iso.slice(11, 19) : 'an unknown time';
}

/** The prefix that should carry ADDR to the fabric: a borrowed address travels as a host route. */
export function expectedPrefix(f: ExplainFacts): { origin: string; prefix: string } | undefined {
  if (!f.block) return undefined;
  const host = `${f.ip}/${f.ip.includes(':') ? 128 : 32}`;
  if (f.holder && f.holder.node !== f.block.node) return { origin: f.holder.node, prefix: host };
  if (f.block.node === undefined) return undefined;
  return { origin: f.block.node, prefix: f.block.cidr };
}

/** A route that carries ADDR somewhere: not a dropping one, and not the default route (that only says "not here"). */
function delivers(n: NodeFacts): boolean {
  return (n.answer?.kernel ?? []).some((r) => !DROPPING.has(r.type) && r.dst !== 'default' && !r.dst.endsWith('/0'));
}

/** The holder's node reaches the pod directly: a host route on a device, no next hop. */
function deliversToPod(n: NodeFacts, ip: string): boolean {
  const host = `${ip}/${ip.includes(':') ? 128 : 32}`;
  return (n.answer?.kernel ?? []).some((r) => !DROPPING.has(r.type) && r.dst === host && r.via.length === 0 && r.dev !== undefined);
}

/** A next hop of `n`'s route that leads neither to the origin (its status addresses) nor to a known router. */
function strayNextHop(n: NodeFacts, origin: NodeFacts | undefined, f: ExplainFacts): string | undefined {
  const good = new Set([...(origin?.status?.addresses ?? []), ...Object.keys(f.routers)]);
  for (const r of n.answer?.kernel ?? []) for (const v of r.via) if (!good.has(v)) return v;
  return undefined;
}

/** An address as an operator names it: the node that has it, or the address. */
function nodeAt(f: ExplainFacts, addr: string): string {
  return f.nodes.find((n) => n.status?.addresses.includes(addr))?.name ?? addr;
}

/** Why `n` has no route although `origin` should announce it, from its sessions and what it learned. */
function whyNoRoute(n: NodeFacts, origin: NodeFacts | undefined): string {
  const originAddrs = new Set(origin?.status?.addresses ?? []);
  const sessions = n.status?.sessions ?? [];
  const toOrigin = sessions.find((s) => originAddrs.has(s.address));
  if (toOrigin && toOrigin.state !== 'Established') return `session to ${origin?.name} ${toOrigin.state} since ${clock(toOrigin.since)}`;
  if (sessions.length > 0 && sessions.every((s) => s.state !== 'Established')) {
    const first = sessions[0];
    return `no BGP session is Established (${first?.peer} ${first?.state} since ${clock(first?.since)})`;
  }
  const paths = n.answer?.bgp ?? [];
  if (paths.length === 0) return 'it learned no BGP path for it';
  return `it learned ${paths.length} BGP path${paths.length === 1 ? '' : 's'} but the kernel has none`;
}

/**
 * Live nodes whose routing could not be seen (no answer, a starting agent,
 * the query could not be written), each with why. Not faults: an agent that
 * is starting or slow says nothing about the address; the verdict names them
 * as unknown instead.
 */
export function unknownNodes(f: ExplainFacts): { node: string; why: string }[] {
  const origin = expectedPrefix(f)?.origin;
  return f.nodes.filter((n) => n.alive && !n.answer && n.name !== origin).map((n) => ({ node: n.name, why: n.answerError ?? notAsked(f) }));
}

/** Why a live node has no answer when it gave no reason of its own: the query failed, or it just did not answer. */
function notAsked(f: ExplainFacts): string {
  return f.queryError !== undefined ? `route query failed: ${f.queryError}` : 'no answer';
}

export function findFaults(f: ExplainFacts): Fault[] {
  const faults: Fault[] = [];
  if (!f.pool) {
    faults.push({ rule: 'outsidePools', message: `${f.ip} is outside every IP pool` });
    return faults;
  }
  const byName = new Map(f.nodes.map((n) => [n.name, n]));
  const h = f.holder;

  // The same rules as `ipam check`, from its own snapshot.
  for (const i of f.issues) {
    const handle = i.handle ?? h?.handle ?? '?';
    if (i.kind === 'allocationNodeNotRegistered') {
      faults.push({ rule: 'leaked', node: i.node, message: `${f.ip} is allocated to handle ${handle} but no node ${i.node ?? '?'} is registered: leaked (terracectl ipam release --ip ${f.ip})` });
    } else if (i.kind === 'allocationWithoutHandle') {
      faults.push({ rule: 'leaked', node: i.node, message: `${f.ip} is allocated to handle ${handle} but that handle does not list it: leaked (terracectl ipam release --ip ${f.ip})` });
    } else if (SHARED_ADDRESS_KINDS.includes(i.kind)) {
      faults.push({ rule: 'sharedAddress', node: i.node, message: `${f.ip} may be held by two pod interfaces (handle ${handle}): see terracectl ipam check` });
    }
  }

  const dead = (name: string | undefined): boolean => name !== undefined && byName.get(name)?.alive !== true;
  if (h && dead(h.node)) {
    faults.push({ rule: 'nodeDead', node: h.node, message: `${f.ip} is held by ${h.handle} on ${h.node}, which is dead (no liveness key): the controller frees it after the node grace period` });
  } else if (f.block?.node !== undefined && dead(f.block.node)) {
    faults.push({ rule: 'nodeDead', node: f.block.node, message: `block ${f.block.cidr} is affine to ${f.block.node}, which is dead (no liveness key): nothing announces it` });
  }

  // The holder's node must deliver to the pod: only its block's blackhole left means the interface is gone.
  const holderNode = h ? byName.get(h.node) : undefined;
  if (h && holderNode?.alive && holderNode.answer && !deliversToPod(holderNode, f.ip)) {
    const ctr = h.containerID ? `container ${h.containerID.slice(0, 12)}` : 'its interface';
    faults.push({ rule: 'noInterface', node: h.node, message: `${f.ip} is allocated to handle ${h.handle} but no such ${ctr} on ${h.node}: leaked (the node only blackholes it)` });
  }

  const want = expectedPrefix(f);
  if (!want) return faults;
  const origin = byName.get(want.origin);
  if (origin?.alive) {
    const says = origin.answer ? origin.answer.originated : origin.status?.advertised.includes(want.prefix);
    if (says === false) faults.push({ rule: 'notAdvertised', node: origin.name, message: `${origin.name} does not advertise ${want.prefix}` });
    else if (says === undefined) {
      const silent = f.queryError !== undefined ? `could not be asked (${notAsked(f)})` : 'did not answer: is terrace-agent running?';
      faults.push({ rule: 'noAnswer', node: origin.name, message: `${origin.name} publishes no status${origin.statusError ? ` (${origin.statusError})` : ''} and ${silent}` });
    }
  }

  for (const n of f.nodes) {
    // A live node without an answer (starting, slow, unreachable) is unknown, not a fault: see unknownNodes().
    if (!n.alive || n.name === want.origin || !n.answer) continue;
    if (!delivers(n)) {
      faults.push({ rule: 'noRoute', node: n.name, message: `${n.name} has no route to ${want.prefix}: ${whyNoRoute(n, origin)}` });
      continue;
    }
    // A route that leads elsewhere (a borrowed address's block owner, a loop between two nodes) does not deliver either.
    const stray = strayNextHop(n, origin, f);
    if (stray !== undefined) {
      faults.push({ rule: 'wrongNextHop', node: n.name, message: `${n.name} routes ${f.ip} via ${nodeAt(f, stray)} (${stray}), not the origin ${want.origin}` });
    }
  }
  return faults;
}
