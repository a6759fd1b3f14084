/**
 * The default pool: created from the controller's config when the cluster
 * has no pool at all. Creation goes through the store's create, which is
 * one transaction that fails with AlreadyExists when the name is taken, so
 * two controllers racing (an old leader still finishing a pass while a new
 * one starts) create it once.
 */
import { type IPPool, isTerraceError } from '@terrace/api';
import type { ResourceStore } from '@terrace/datastore';
import type { Logger } from '@terrace/log';

/** Creates `pools` if no pool exists; returns the names it created. */
export async function ensureDefaultPools(store: ResourceStore, pools: readonly IPPool[], log: Logger, stillLeader: () => boolean): Promise<string[]> {
  if (pools.length === 0) return [];
  const existing = await store.list('IPPool');
  if (existing.items.length > 0) {
    log.debug('pools exist; no default pool needed', { pools: existing.items.map((p) => p.metadata.name) });
    return [];
  }
  const created: string[] = [];
  for (const pool of pools) {
    if (!stillLeader()) break;
    try {
      await store.create(pool);
      created.push(pool.metadata.name);
      log.info('default pool created', { pool: pool.metadata.name, cidr: pool.spec.cidr, blockSize: pool.spec.blockSize });
    } catch (e) {
      if (!isTerraceError(e, 'AlreadyExists')) throw e;
      log.info('default pool already created by another controller', { pool: pool.metadata.name });
    }
  }
  return created;
}
