/**
 * Cross-resource rules that the datastore enforces atomically: pools never
 * overlap (IPv4 and IPv6 each), no pool holds a node's own address, and a
 * pool's cidr and blockSize never change once created. Pure functions over
 * already-validated resources; `terracectl validate` runs the same ones over
 * the manifests it is given.
 */
import { type TerraceError, invalidField, TerraceError as TE } from '../errors.js';
import { type IPAddr, cidrsOverlap, formatIP, parseCidr, tryParseIP } from '../net/ip.js';
import { AddressIndex, firstOverlap, lowestOverlapping } from '../net/overlap.js';
import { type IPPool, type TerraceNode, resourceRef } from './types.js';

/** The first pool in `others` (other than `pool` itself) whose CIDR overlaps `pool`'s. */
export function findOverlappingPool(pool: IPPool, others: Iterable<IPPool>): IPPool | undefined {
  const mine = parseCidr(pool.spec.cidr);
  for (const o of others) {
    if (o.metadata.name === pool.metadata.name) continue;
    if (cidrsOverlap(mine, parseCidr(o.spec.cidr))) return o;
  }
  return undefined;
}

/**
 * The first pool that overlaps a pool listed before it, and the first of
 * those: what checking each pool against the ones before it reports first,
 * in O(n log n). Names must be distinct.
 */
export function firstPoolOverlap(pools: readonly IPPool[]): { pool: IPPool; other: IPPool } | undefined {
  const hit = firstOverlap(pools.map((p) => parseCidr(p.spec.cidr)));
  return hit ? { pool: pools[hit.later] as IPPool, other: pools[hit.earlier] as IPPool } : undefined;
}

/**
 * Of the pools at the `judged` positions (in that order), the first that
 * overlaps any other pool in the list, with the first-listed such pool: how
 * a write judges only the pools it changes against the whole set.
 */
export function firstJudgedPoolOverlap(pools: readonly IPPool[], judged: readonly number[]): { pool: IPPool; other: IPPool } | undefined {
  const lowest = lowestOverlapping(pools.map((p) => parseCidr(p.spec.cidr)));
  for (const i of judged) {
    const j = lowest[i] as number;
    if (j !== Infinity) return { pool: pools[i] as IPPool, other: pools[j] as IPPool };
  }
  return undefined;
}

export function overlapError(pool: IPPool, other: IPPool): TerraceError {
  return new TE(
    'Conflict',
    `${resourceRef('IPPool', pool.metadata.name)}: spec.cidr ${pool.spec.cidr} overlaps ${resourceRef('IPPool', other.metadata.name)} (${other.spec.cidr})`,
    { resource: resourceRef('IPPool', pool.metadata.name), field: 'spec.cidr' },
  );
}

/** One of a node's BGP addresses: the address alone, and the field as written (`198.18.0.11/24`). */
export interface NodeAddress {
  node: TerraceNode;
  field: 'spec.bgp.ipv4Address' | 'spec.bgp.ipv6Address';
  written: string;
  ip: IPAddr;
}

export function nodeAddresses(node: TerraceNode): NodeAddress[] {
  const out: NodeAddress[] = [];
  for (const key of ['ipv4Address', 'ipv6Address'] as const) {
    const written = node.spec.bgp?.[key];
    if (written === undefined) continue;
    const ip = tryParseIP(written.split('/')[0] ?? '');
    if (ip) out.push({ node, field: `spec.bgp.${key}`, written, ip });
  }
  return out;
}

/** The pool holds a node's address: pods would be given the node's own address. */
export function poolHoldsNodeError(pool: IPPool, addr: NodeAddress): TerraceError {
  const ref = resourceRef('IPPool', pool.metadata.name);
  return new TE(
    'Conflict',
    `${ref}: spec.cidr ${pool.spec.cidr} contains ${formatIP(addr.ip)}, the address of ${resourceRef('Node', addr.node.metadata.name)} (${addr.field}); pods would be given the node's own address`,
    { resource: ref, field: 'spec.cidr' },
  );
}

/** The same fact seen from the node being written. */
export function nodeInPoolError(addr: NodeAddress, pool: IPPool): TerraceError {
  const ref = resourceRef('Node', addr.node.metadata.name);
  return new TE(
    'Conflict',
    `${ref}: ${addr.field} ${addr.written} lies inside ${resourceRef('IPPool', pool.metadata.name)} (${pool.spec.cidr}); pods could be given the node's own address`,
    { resource: ref, field: addr.field },
  );
}

/** The first pool (in list order) that contains an address of one of `nodes`, with the lowest such address. */
export function firstPoolHoldingNode(pools: readonly IPPool[], nodes: readonly TerraceNode[]): { pool: IPPool; addr: NodeAddress } | undefined {
  const addrs = nodes.flatMap(nodeAddresses);
  if (addrs.length === 0) return undefined;
  const index = new AddressIndex(addrs.map((a) => a.ip));
  for (const pool of pools) {
    const hit = index.firstIn(parseCidr(pool.spec.cidr));
    if (hit >= 0) return { pool, addr: addrs[hit] as NodeAddress };
  }
  return undefined;
}

/** True when a write of `next` changes the node's BGP addresses (a new node with any counts). */
export function nodeAddressesChanged(stored: TerraceNode | undefined, next: TerraceNode): boolean {
  const a = stored?.spec.bgp;
  const b = next.spec.bgp;
  return a?.ipv4Address !== b?.ipv4Address || a?.ipv6Address !== b?.ipv6Address;
}

/** Refuses an update that changes a field fixed at creation. */
export function checkPoolUpdate(old: IPPool, next: IPPool): void {
  const ref = resourceRef('IPPool', next.metadata.name);
  for (const field of ['cidr', 'blockSize'] as const) {
    if (old.spec[field] !== next.spec[field]) {
      throw invalidField(ref, `spec.${field}`, `is immutable (stored ${old.spec[field]}, got ${next.spec[field]}); create a new pool instead`);
    }
  }
}
