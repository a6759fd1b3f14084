/**
 * Cross-resource rules that the datastore enforces atomically: pools never
 * overlap (IPv4 and IPv6 each), and a pool's cidr and blockSize never change
 * once created. Pure functions over already-validated resources.
 */
import { type TerraceError, invalidField, TerraceError as TE } from '../errors.js';
import { cidrsOverlap, parseCidr } from '../net/ip.js';
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
