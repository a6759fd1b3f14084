/**
 * A watch of the one fence key, for callers that keep watch caches (the
 * agent): its fence() is what WatchedResources.fence wants, so an ADD needs
 * no read of the fence. The value is kept as stored and parsed by the
 * allocator (fence.ts), so a malformed fence blocks allocation instead of
 * looking absent.
 */
import { type Keys, WatchCache } from '@terrace/datastore';
import type { Etcd3 } from 'etcd3';
import type { RawFence, WatchedFence } from './fence.js';

export interface FenceWatch {
  cache: WatchCache<RawFence>;
  fence(): WatchedFence;
}

export function fenceWatchCache(etcd: Etcd3, keys: Keys): FenceWatch {
  const key = keys.fence();
  const cache = new WatchCache<RawFence>(etcd, {
    prefix: key,
    // The prefix also matches longer keys; only the fence itself counts.
    decode: (kv) => (kv.key.toString() === key ? { text: kv.value.toString(), modRevision: kv.mod_revision } : undefined),
  });
  return { cache, fence: () => ({ value: cache.get(key), revision: cache.revision }) };
}
