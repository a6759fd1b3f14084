/** Ready checks for STATUS that the agent can pass as they are. */
import type { Etcd3 } from 'etcd3';
import type { Readiness } from './handlers.js';

/** The datastore is ready when a one-key read answers within `timeoutMs` (default 2 s). */
export function etcdReadiness(etcd: Etcd3, probeKey: string, timeoutMs = 2000): Readiness {
  return async () => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        etcd.get(probeKey).string(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      return undefined;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    } finally {
      clearTimeout(timer);
    }
  };
}
