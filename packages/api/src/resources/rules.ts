/**
 * Cross-resource rules that the datastore enforces atomically: pools never
 * overlap (IPv4 and IPv6 each), and a pool's cidr and blockSize never change
 * once created. Pure functions over already-validated resources;
 * `terracectl validate` runs the same ones over the manifests it is given.
 */
import { type TerraceError, invalidField, TerraceError as TE } from '../errors.js';
import { cidrsOverlap, parseCidr } from '../net/ip.js';
import { firstOverlap, lowestOverlapping } from '../net/overlap.js';
import { type IPPool, resourceRef } from './types.js';

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

/** Refuses an update that changes a field fixed at creation. */
export function checkPoolUpdate(old: IPPool, next: IPPool): void {
  const ref = resourceRef('IPPool', next.metadata.name);
  for (const field of ['cidr', 'blockSize'] as const) {
    if (old.spec[field] !== next.spec[field]) {
      throw invalidField(ref, `spec.${field}`, `is immutable (stored ${old.spec[field]}, got ${next.spec[field]}); create a new pool instead`);
    }
  }
}
