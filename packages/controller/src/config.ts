/**
 * The controller's command line, parsed once into a checked ControllerConfig.
 * The etcd flags are terracectl's; their values are resolved (with the
 * environment and config file) by @terrace/datastore.
 */
import { hostname } from 'node:os';
import { Command, Option } from 'commander';
import { type IPPool, API_VERSION, invalidField, parseDuration, validateResource } from '@terrace/api';
import { type ConnectionFlags, withConnectionOptions } from '@terrace/datastore';
import { LOG_LEVELS, type ListenAddress, type LogFormat, parseMetricsListen } from '@terrace/log';

export interface ControllerConfig {
  connection: ConnectionFlags;
  /** How long a node's liveness key must stay gone before its addresses are freed. */
  nodeGraceMs: number;
  /** Period of the reconcile pass. */
  intervalMs: number;
  /** TTL of the election lease: how long a dead leader blocks a successor. */
  leaseTtlSeconds: number;
  /** Pools created when no pool exists (at most one per family). */
  defaultPools: IPPool[];
  identity: string;
  /** Remote-cluster credentials: `<dir>/<secret name>/<key>` (RemoteCluster spec.etcd.*SecretRef). */
  secretsDir?: string;
  /** The status page's address (`--status-listen`); absent: no page. */
  statusListen?: { host: string; port: number };
  logFormat: LogFormat;
  logLevel: string;
  /** Where /metrics, /healthz and /readyz are served; undefined: off. */
  metricsListen: ListenAddress | undefined;
}

export const DEFAULT_NODE_GRACE = '5m';
export const DEFAULT_INTERVAL = '30s';
export const DEFAULT_LEASE_TTL = '10s';
export const DEFAULT_CONTROLLER_METRICS_LISTEN = '0.0.0.0:9094';

/** `default-ipv4-ippool` / `default-ipv6-ippool` from a CIDR, fully defaulted and validated. */
export function defaultPool(cidr: string, where = 'flag --default-pool'): IPPool {
  const v6 = cidr.includes(':');
  try {
    return validateResource({
      apiVersion: API_VERSION,
      kind: 'IPPool',
      metadata: { name: v6 ? 'default-ipv6-ippool' : 'default-ipv4-ippool' },
      spec: { cidr },
    }) as IPPool;
  } catch (e) {
    throw invalidField(undefined, where, `"${cidr}": ${(e as Error).message}`);
  }
}

export function controllerCommand(): Command {
  const repeat = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];
  return withConnectionOptions(
    new Command('terrace-controller').description(
      'Terrace controller: frees the addresses and blocks of dead nodes, gives back empty blocks, creates the default pool; leader-elected',
    ),
  )
    .option('--node-grace <duration>', 'how long a node must be gone before its addresses are released', DEFAULT_NODE_GRACE)
    .option('--interval <duration>', 'period of the reconcile pass', DEFAULT_INTERVAL)
    .option('--lease-ttl <duration>', 'election lease TTL (whole seconds): how long a crashed leader delays its successor', DEFAULT_LEASE_TTL)
    .option('--default-pool <cidr>', 'create this pool (default-ipv4-ippool / default-ipv6-ippool) when no pool exists; repeatable', repeat)
    .option('--secrets-dir <dir>', 'remote cluster etcd credentials: <dir>/<secret name>/<key>')
    .option('--status-listen <host:port>', 'serve the read-only status page here, e.g. 127.0.0.1:9095 (default: off)')
    .option('--metrics-listen <host:port>', 'serve /metrics, /healthz and /readyz here; "off" disables', DEFAULT_CONTROLLER_METRICS_LISTEN)
    .option('--identity <name>', 'this controller\'s name in the election and the status (default: <hostname>-<pid>)')
    .addOption(new Option('--log-format <format>', 'json or text (default: text on a terminal, json otherwise)').choices(['json', 'text']))
    .addOption(new Option('--log-level <level>', 'how much to log').choices(LOG_LEVELS).default('info'))
    .helpOption('-h, --help');
}

interface RawOpts extends ConnectionFlags {
  nodeGrace: string;
  interval: string;
  leaseTtl: string;
  defaultPool?: string[];
  identity?: string;
  secretsDir?: string;
  statusListen?: string;
  logFormat?: LogFormat;
  logLevel: string;
  metricsListen: string;
}

function positive(text: string, flag: string): number {
  const ms = parseDuration(text, `flag ${flag}`);
  if (ms <= 0) throw invalidField(undefined, `flag ${flag}`, 'must be greater than zero');
  return ms;
}

/** Parses argv (without node and script). */
export function parseControllerArgs(
  argv: readonly string[],
  opts: { isTTY?: boolean; pid?: number; host?: string; outputError?: (text: string) => void } = {},
): ControllerConfig {
  const cmd = controllerCommand().exitOverride();
  const { outputError } = opts;
  if (outputError) cmd.configureOutput({ outputError: (text) => outputError(text) });
  cmd.parse([...argv], { from: 'user' });
  const o = cmd.opts<RawOpts>();

  const connection: ConnectionFlags = {};
  for (const k of ['etcdEndpoints', 'etcdCa', 'etcdCert', 'etcdKey', 'etcdUsername', 'etcdPassword', 'cluster', 'config'] as const) {
    const v = o[k];
    if (v !== undefined) connection[k] = v;
  }

  const defaultPools = (o.defaultPool ?? []).map((c) => defaultPool(c));
  const names = defaultPools.map((p) => p.metadata.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw invalidField(undefined, 'flag --default-pool', `gives two IPv${dup.includes('ipv6') ? 6 : 4} pools; give at most one per family`);

  const leaseMs = positive(o.leaseTtl, '--lease-ttl');
  const identity = o.identity ?? `${(opts.host ?? hostname()).split('.')[0] ?? 'controller'}-${opts.pid ?? process.pid}`;
  if (identity.trim() === '' || /\s/.test(identity)) throw invalidField(undefined, 'flag --identity', `"${identity}" must be non-empty without spaces`);

  return {
    connection,
    nodeGraceMs: positive(o.nodeGrace, '--node-grace'),
    intervalMs: positive(o.interval, '--interval'),
    leaseTtlSeconds: Math.max(1, Math.round(leaseMs / 1000)),
    defaultPools,
    identity,
    ...(o.secretsDir !== undefined ? { secretsDir: o.secretsDir } : {}),
    ...(o.statusListen ? { statusListen: parseMetricsListen(o.statusListen, 'flag --status-listen') } : {}),
    logFormat: o.logFormat ?? (opts.isTTY ? 'text' : 'json'),
    logLevel: o.logLevel,
    metricsListen: parseMetricsListen(o.metricsListen),
  };
}
