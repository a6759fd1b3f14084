/**
 * Opens the datastore for a command: connection settings from flags,
 * environment and config file (resolved by @terrace/datastore), then a
 * connection that fails fast. A second, CLI-side deadline guarantees that
 * terracectl never hangs on an unreachable etcd, whatever the client does.
 */
import type { Datastore, GlobalOptions } from './context.js';

/**
 * Connecting must finish this long after the process started, or the command
 * fails with exit code 2: with node's own start-up, an unreachable etcd is
 * reported within 5 s of the operator pressing enter.
 */
export const CONNECT_DEADLINE_MS = 4300;
/** The least any connect attempt is given, however slow the start-up was. */
const MIN_CONNECT_MS = 1000;

export async function openDatastore(globals: GlobalOptions): Promise<Datastore> {
  const [api, ds] = await Promise.all([import('@terrace/api'), import('@terrace/datastore')]);
  const cfg = await ds.resolveConnectionConfig(globals, process.env);
  const keys = new ds.Keys(cfg.cluster);
  // performance.now() counts from process start.
  const budget = Math.max(MIN_CONNECT_MS, Math.floor(CONNECT_DEADLINE_MS - performance.now()));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new api.TerraceError(
            'Unavailable',
            `etcd unreachable at ${cfg.endpoints.join(',')}: no answer within ${(budget / 1000).toFixed(1)} s`,
          ),
        ),
      budget,
    );
  });
  try {
    const etcd = await Promise.race([// The client's own timeout fires first, with the more precise reason.
      ds.connect(cfg, { timeoutMs: Math.max(MIN_CONNECT_MS, budget - 300) }), deadline]);
    const store = new ds.EtcdResourceStore(etcd, keys);
    return {
      etcd,
      keys,
      store,
      endpoints: cfg.endpoints,
      close: async () => {
        etcd.close();
      },
    };
  } finally {
    clearTimeout(timer);
  }
}
