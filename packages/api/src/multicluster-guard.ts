/**
 * Reading the multi-cluster records back (pool writes, terracectl), and the
 * rule a pool write enforces with them: a new local pool must not overlap a
 * pool of any remote cluster, as the controller last saw the remotes.
 *
 * A record that cannot be read is an error naming its key, never "no
 * remotes": a corrupt cache must not silently switch the guard off.
 */
import { TerraceError } from './errors.js';
import type { ClusterFence, RemoteClusterState, RemotePool } from './multicluster.js';
import { type Cidr, cidrsOverlap, parseCidr, tryParseCidr } from './net/ip.js';
import { type IPPool, resourceRef } from './resources/types.js';

function unreadable(key: string, what: string, why: string): TerraceError {
  return new TerraceError('Internal', `${key}: the stored ${what} is not readable (${why}); the acting controller rewrites it within seconds; if it does not, check that a controller runs and leads`);
}

function parseObject(key: string, what: string, text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw unreadable(key, what, `not JSON: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw unreadable(key, what, 'not a JSON object');
  return v as Record<string, unknown>;
}

function arrayField(key: string, what: string, doc: Record<string, unknown>, field: string): unknown[] {
  const v = doc[field];
  if (!Array.isArray(v)) throw unreadable(key, what, `${field} is not a list`);
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * A RemoteClusterState as stored at `key`. Checks what readers act on: the
 * name and uid, every pool's name and CIDR (the guard parses them) and every
 * gateway's name, addresses and AS (gateway routing uses them).
 */
export function decodeRemoteClusterState(key: string, text: string): RemoteClusterState {
  const what = 'remote cluster state';
  const doc = parseObject(key, what, text);
  if (typeof doc.name !== 'string' || doc.name === '') throw unreadable(key, what, 'name is missing');
  arrayField(key, what, doc, 'pools').forEach((p, i) => {
    if (!isObject(p) || typeof p.name !== 'string' || typeof p.cidr !== 'string') throw unreadable(key, what, `pools[${i}] needs a name and a cidr`);
    if (!tryParseCidr(p.cidr, false)) throw unreadable(key, what, `pools[${i}].cidr ${JSON.stringify(p.cidr)} is not a CIDR`);
  });
  if (typeof doc.uid !== 'string') throw unreadable(key, what, 'uid is missing');
  arrayField(key, what, doc, 'gateways').forEach((g, i) => {
    const ok = isObject(g) && typeof g.name === 'string' && Array.isArray(g.addresses) && g.addresses.every((a) => typeof a === 'string') && Number.isInteger(g.asNumber);
    if (!ok) throw unreadable(key, what, `gateways[${i}] needs a name, addresses and an asNumber`);
  });
  arrayField(key, what, doc, 'overlaps');
  return doc as unknown as RemoteClusterState;
}

/** The ClusterFence as stored at `key`. */
export function decodeClusterFence(key: string, text: string): ClusterFence {
  const what = 'cluster fence';
  const doc = parseObject(key, what, text);
  if (!isObject(doc.cleared)) throw unreadable(key, what, 'cleared is not a map');
  for (const f of ['held', 'fenced']) arrayField(key, what, doc, f);
  return doc as unknown as ClusterFence;
}

export interface RemotePoolOverlap {
  pool: IPPool;
  remote: RemoteClusterState;
  remotePool: RemotePool;
}

/**
 * The first of `pools` (in order) that overlaps a pool of any remote (same
 * family), with the first such remote pool (remotes in the order given).
 * Disabled remote pools count: they may still hold addresses.
 */
export function firstRemotePoolOverlap(pools: readonly IPPool[], remotes: readonly RemoteClusterState[]): RemotePoolOverlap | undefined {
  const remotePools: { remote: RemoteClusterState; remotePool: RemotePool; cidr: Cidr }[] = [];
  for (const remote of remotes) {
    for (const remotePool of remote.pools) remotePools.push({ remote, remotePool, cidr: parseCidr(remotePool.cidr, false) });
  }
  for (const pool of pools) {
    const mine = parseCidr(pool.spec.cidr);
    const hit = remotePools.find((r) => cidrsOverlap(mine, r.cidr));
    if (hit) return { pool, remote: hit.remote, remotePool: hit.remotePool };
  }
  return undefined;
}

/** `ippool/a: spec.cidr 198.19.0.0/16 overlaps pool b-pool (198.19.4.0/24) of remote cluster cluster-b`. */
export function remoteOverlapError(o: RemotePoolOverlap): TerraceError {
  const ref = resourceRef('IPPool', o.pool.metadata.name);
  const cluster = o.remote.clusterName && o.remote.clusterName !== o.remote.name ? ` (cluster name ${o.remote.clusterName})` : '';
  return new TerraceError(
    'Conflict',
    `${ref}: spec.cidr ${o.pool.spec.cidr} overlaps pool ${o.remotePool.name} (${o.remotePool.cidr}) of remote cluster ${o.remote.name}${cluster}`,
    { resource: ref, field: 'spec.cidr' },
  );
}
