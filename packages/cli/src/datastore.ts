/**
 * Opens the datastore for a command: connection settings from flags,
 * environment and config file (resolved by @terrace/datastore), then a
 * connection that fails fast. A second, CLI-side deadline guarantees that
 * terracectl never hangs on an unreachable etcd, whatever the client does.
 */
import type { ResourceStore } from '@terrace/datastore';
import type { Datastore, GlobalOptions } from './context.js';

/**
 * Connecting must finish this long after the process started, or the command
 * fails with exit code 2: with node's own start-up, an unreachable etcd is
 * reported within 5 s of the operator pressing enter.
 */
export const CONNECT_DEADLINE_MS = 4300;
/** The least any connect attempt is given, however slow the start-up was. */
const MIN_CONNECT_MS = 1000;

/** What is left of the connect deadline; performance.now() counts from process start. */
function connectBudgetMs(): number {
  return Math.max(MIN_CONNECT_MS, Math.floor(CONNECT_DEADLINE_MS - performance.now()));
}

/** The read-only view `get` needs; see openReader. */
export interface Reader {
  store: Pick<ResourceStore, 'get' | 'list'>;
  close(): void;
}

/**
 * A read-only datastore over etcd's JSON gateway. It never loads the etcd3
 * client (grpc-js and its protos cost most of a cold start), so a one-shot
 * read starts almost as fast as bare node. Its first read must finish within
 * the same deadline as openDatastore's connect, which the client enforces
 * itself (every request is destroyed at its deadline).
 */
export async function openReader(globals: GlobalOptions): Promise<Reader> {
  const [config, httpKv] = await Promise.all([import('@terrace/datastore/config'), import('@terrace/datastore/http-kv')]);
  const cfg = config.resolveConnectionConfig(globals, process.env);
  // etcd's gateway refuses every request that carries a client certificate
  // once auth is on ("CommonName of client sending a request against gateway
  // will be ignored"): clients with a certificate read over gRPC instead.
  if (cfg.cert !== undefined) {
    const ds = await openDatastore(globals);
    return { store: ds.store, close: () => void ds.close() };
  }
  const reader = await httpKv.HttpResourceReader.open(cfg, { timeoutMs: connectBudgetMs() });
  return { store: reader, close: () => reader.close() };
}

export async function openDatastore(globals: GlobalOptions): Promise<Datastore> {
  const [api, ds] = await Promise.all([import('@terrace/api'), import('@terrace/datastore')]);
  const cfg = await ds.resolveConnectionConfig(globals, process.env);
  const keys = new ds.Keys(cfg.cluster);
  const budget = connectBudgetMs();
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
