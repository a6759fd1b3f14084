/**
 * The agent's command line: parsed once into an AgentConfig with every value
 * checked, so that the rest of the agent never sees a raw string. Node
 * addresses given without a length take the length of the interface that
 * holds them (Calico stores `198.18.0.11/24`), else /32 (/128).
 */
import { networkInterfaces, hostname } from 'node:os';
import { Command, Option } from 'commander';
import {
  BGP_BACKENDS,
  type BgpBackend,
  type IPFamily,
  TerraceError,
  dnsSubdomainProblem,
  formatDuration,
  formatIP,
  invalidField,
  labelValueProblem,
  parseDuration,
  parseHostPort,
  qualifiedNameProblem,
  tryParseCidr,
  tryParseIP,
} from '@terrace/api';
import { type ConnectionFlags, withConnectionOptions } from '@terrace/datastore';
import { DEFAULT_AGENT_SOCKET as DEFAULT_CNI_SOCKET, DEFAULT_STATE_DIR as DEFAULT_CNI_STATE_DIR } from '@terrace/cni';
import { DEFAULT_GOBGP_API_PORT } from '@terrace/bgp';
import { DEFAULT_RESYNC_INTERVAL_MS } from '@terrace/dataplane';
import { LOG_LEVELS, type ListenAddress, type LogFormat, parseMetricsListen } from '@terrace/log';

export type { LogFormat };

export type GobgpMode =
  /** A gobgpd the agent does not own, e.g. a sidecar container. */
  | { kind: 'sidecar'; address: string }
  /** The agent starts gobgpd itself, API on 127.0.0.1:apiPort, and restarts it when it dies. */
  | { kind: 'supervised'; apiPort: number; binary: string };

/** BIRD as the node's speaker: the agent starts it (config and control socket in `dir`), or drives one already running there. */
export interface BirdMode {
  binary: string;
  /** Holds bird.conf and the control socket bird.ctl. */
  dir: string;
  sidecar: boolean;
}

export interface AgentConfig {
  nodeName: string;
  /** `addr/len` per family, as stored in the Node resource. */
  addresses: Partial<Record<IPFamily, string>>;
  /** Overrides the AS in the Node resource when given. */
  asNumber: number | undefined;
  labels: Record<string, string>;
  /** The speaker unless the Node resource names another (spec.bgp.backend). */
  bgpBackend: BgpBackend;
  gobgp: GobgpMode;
  bird: BirdMode;
  connection: ConnectionFlags;
  logFormat: LogFormat;
  logLevel: string;
  /** Period of route sync's full kernel resync. */
  resyncIntervalMs: number;
  /** How often the status record is republished. */
  statusIntervalMs: number;
  /** TTL of the liveness lease in seconds. */
  leaseTtlSeconds: number;
  /** Where BGPPeer passwords are read from: `<dir>/<secret name>/<key>`. */
  secretsDir: string | undefined;
  /** The CNI server's unix socket; undefined: no CNI server (BGP and routing only). */
  cniSocket: string | undefined;
  /** Where DELs that could not finish are recorded (`<dir>/pending-del`); the plugin's stateDir. */
  cniStateDir: string;
  /** Pod MTU when the CNI network config names none. */
  podMtu: number | undefined;
  /** Where /metrics, /healthz and /readyz are served; undefined: off. */
  metricsListen: ListenAddress | undefined;
}

export const DEFAULT_AGENT_METRICS_LISTEN = '0.0.0.0:9091';

/** `k=v,k2=v2` → labels, checked by the rules the Node resource is validated with. */
export function parseLabels(text: string, where = 'flag --labels'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? undefined : part.slice(eq + 1);
    if (v === undefined) throw invalidField(undefined, where, `"${part}" must be key=value`);
    const kp = qualifiedNameProblem(k);
    if (kp) throw invalidField(undefined, where, `label key "${k}" ${kp}`);
    const vp = labelValueProblem(v);
    if (vp) throw invalidField(undefined, where, `label value "${v}" of ${k} ${vp}`);
    out[k] = v;
  }
  return out;
}

export interface InterfaceAddress {
  family: IPFamily;
  address: string;
  prefix: number;
  iface: string;
}

/** The addresses of this network namespace's interfaces (global scope only: no link-local, no loopback). */
export function localAddresses(): InterfaceAddress[] {
  const out: InterfaceAddress[] = [];
  for (const [iface, list] of Object.entries(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      const family: IPFamily = a.family === 'IPv6' ? 6 : 4;
      if (family === 6 && a.address.toLowerCase().startsWith('fe80')) continue;
      const c = tryParseCidr(a.cidr ?? '', false);
      const ip = tryParseIP(a.address);
      if (!c || !ip) continue;
      out.push({ family, address: formatIP(ip), prefix: c.prefix, iface });
    }
  }
  return out;
}

/** `198.18.0.11` or `198.18.0.11/24` → `198.18.0.11/24`, the length from the interface when absent. */
export function resolveNodeAddress(text: string, local: readonly InterfaceAddress[], where = 'flag --node-ip'): { family: IPFamily; cidr: string } {
  const slash = text.indexOf('/');
  const ip = tryParseIP(slash < 0 ? text : text.slice(0, slash));
  if (!ip) throw invalidField(undefined, where, `"${text}" is not an IP address`);
  const addr = formatIP(ip);
  if (slash >= 0) {
    const c = tryParseCidr(text, false);
    if (!c) throw invalidField(undefined, where, `"${text}" is not an address with a prefix length`);
    return { family: ip.family, cidr: `${addr}/${c.prefix}` };
  }
  const found = local.find((l) => l.address === addr);
  return { family: ip.family, cidr: `${addr}/${found?.prefix ?? (ip.family === 4 ? 32 : 128)}` };
}

/** The first global address of each family on the interface. */
export function addressesOfInterface(iface: string, local: readonly InterfaceAddress[]): Partial<Record<IPFamily, string>> {
  const out: Partial<Record<IPFamily, string>> = {};
  for (const l of local) if (l.iface === iface) out[l.family] ??= `${l.address}/${l.prefix}`;
  if (!out[4] && !out[6]) throw invalidField(undefined, 'flag --node-ip-from-interface', `interface ${iface} has no global address (or does not exist)`);
  return out;
}

function positiveDuration(text: string, flag: string): number {
  const ms = parseDuration(text, `flag ${flag}`);
  if (ms <= 0) throw invalidField(undefined, `flag ${flag}`, 'must be greater than zero');
  return ms;
}

function mtu(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 576 || n > 65535) throw invalidField(undefined, 'flag --pod-mtu', `"${text}" is not an MTU (576-65535)`);
  return n;
}

function port(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw invalidField(undefined, `flag ${flag}`, `"${text}" is not a TCP port`);
  return n;
}

/** The commander definition (also used for --help). */
export function agentCommand(): Command {
  return withConnectionOptions(
    new Command('terrace-agent').description('Terrace node agent: registers the node, peers over BGP, announces its blocks and programs routes'),
  )
    .option('--node-name <name>', 'this node\'s name (default: the host name)')
    .option('--node-ip <addr>', 'node BGP address, `ip` or `ip/len`; repeat for IPv4 and IPv6', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--node-ip-from-interface <iface>', 'take the node address(es) from this interface')
    .option('--as <asn>', 'this node\'s AS number (stored in its Node resource)')
    .option('--labels <k=v,...>', 'labels to set on the Node resource')
    .addOption(new Option('--bgp-backend <backend>', 'the BGP speaker, unless the Node resource names one (spec.bgp.backend)').choices([...BGP_BACKENDS]).default('gobgp'))
    .option('--bird-binary <path>', 'bird executable (BIRD backend)', 'bird')
    .option('--bird-dir <dir>', 'where BIRD\'s bird.conf and control socket bird.ctl live (BIRD backend)', '/run/terrace/bird')
    .option('--bird-sidecar', 'drive a BIRD already running with <bird-dir>/bird.conf and <bird-dir>/bird.ctl instead of starting one')
    .option('--gobgp-address <host:port>', 'use this gobgpd (e.g. a sidecar) instead of starting one')
    .option('--gobgp-api-port <port>', 'API port of the gobgpd the agent starts, on 127.0.0.1', String(DEFAULT_GOBGP_API_PORT))
    .option('--gobgpd-binary <path>', 'gobgpd executable', 'gobgpd')
    .addOption(new Option('--log-format <format>', 'json or text (default: text on a terminal, json otherwise)').choices(['json', 'text']))
    .addOption(new Option('--log-level <level>', 'how much to log').choices(LOG_LEVELS).default('info'))
    .option('--resync-interval <duration>', 'period of the full kernel route resync (route sync re-reads the kernel and repairs drift)', formatDuration(DEFAULT_RESYNC_INTERVAL_MS))
    .option('--status-interval <duration>', 'how often the node status is published', '3s')
    .option('--lease-ttl <duration>', 'TTL of the liveness lease', '10s')
    .option('--secrets-dir <dir>', 'BGP passwords: <dir>/<secret name>/<key>')
    .option('--cni-socket <path>', 'unix socket of the CNI server', DEFAULT_CNI_SOCKET)
    .option('--cni-state-dir <dir>', 'where DELs that could not finish are recorded (the CNI config\'s stateDir)', DEFAULT_CNI_STATE_DIR)
    .option('--no-cni', 'do not serve CNI requests (BGP and routing only)')
    .option('--pod-mtu <bytes>', 'pod interface MTU when the CNI config names none')
    .option('--metrics-listen <host:port>', 'serve /metrics, /healthz and /readyz here; "off" disables', DEFAULT_AGENT_METRICS_LISTEN)
    .helpOption('-h, --help');
}

interface RawOpts {
  nodeName?: string;
  nodeIp?: string[];
  nodeIpFromInterface?: string;
  as?: string;
  labels?: string;
  bgpBackend: BgpBackend;
  birdBinary: string;
  birdDir: string;
  birdSidecar?: boolean;
  gobgpAddress?: string;
  gobgpApiPort: string;
  gobgpdBinary: string;
  etcdEndpoints?: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUsername?: string;
  etcdPassword?: string;
  cluster?: string;
  config?: string;
  logFormat?: LogFormat;
  logLevel: string;
  resyncInterval: string;
  statusInterval: string;
  leaseTtl: string;
  secretsDir?: string;
  cniSocket: string;
  cniStateDir: string;
  cni: boolean;
  podMtu?: string;
  metricsListen: string;
}

/** Parses argv (without node and script) into a checked config. */
export function parseAgentArgs(
  argv: readonly string[],
  opts: { isTTY?: boolean; local?: () => InterfaceAddress[]; outputError?: (text: string) => void } = {},
): AgentConfig {
  const cmd = agentCommand().exitOverride();
  const { outputError } = opts;
  if (outputError) cmd.configureOutput({ outputError: (text) => outputError(text) });
  cmd.parse([...argv], { from: 'user' });
  const o = cmd.opts<RawOpts>();
  const local = opts.local ?? localAddresses;

  const nodeName = o.nodeName ?? hostname().split('.')[0] ?? '';
  // The Node resource's name: the same rule its validation applies.
  const nameProblem = dnsSubdomainProblem(nodeName);
  if (nameProblem) throw invalidField(undefined, 'flag --node-name', `"${nodeName}" ${nameProblem}`);

  let addresses: Partial<Record<IPFamily, string>> = {};
  if (o.nodeIp?.length && o.nodeIpFromInterface) {
    throw invalidField(undefined, 'flag --node-ip', 'cannot be combined with --node-ip-from-interface');
  }
  const ifaces = local();
  if (o.nodeIpFromInterface) addresses = addressesOfInterface(o.nodeIpFromInterface, ifaces);
  for (const text of o.nodeIp ?? []) {
    const r = resolveNodeAddress(text, ifaces);
    if (addresses[r.family]) throw invalidField(undefined, 'flag --node-ip', `gives two IPv${r.family} addresses`);
    addresses[r.family] = r.cidr;
  }
  if (!addresses[4] && !addresses[6]) {
    throw new TerraceError('Invalid', 'flag --node-ip: the node needs a BGP address (--node-ip or --node-ip-from-interface)', { field: 'flag --node-ip' });
  }

  let asNumber: number | undefined;
  if (o.as !== undefined) {
    asNumber = /^\d+$/.test(o.as) ? Number(o.as) : NaN;
    if (!Number.isInteger(asNumber) || asNumber < 1 || asNumber > 4294967295) {
      throw invalidField(undefined, 'flag --as', `"${o.as}" is not an AS number (1-4294967295)`);
    }
  }

  let gobgp: GobgpMode;
  if (o.gobgpAddress) {
    const hp = parseHostPort(o.gobgpAddress);
    if (!hp || hp.port === undefined) throw invalidField(undefined, 'flag --gobgp-address', `"${o.gobgpAddress}" must be host:port`);
    gobgp = { kind: 'sidecar', address: o.gobgpAddress };
  } else {
    gobgp = { kind: 'supervised', apiPort: port(o.gobgpApiPort, '--gobgp-api-port'), binary: o.gobgpdBinary };
  }

  const connection: ConnectionFlags = {};
  for (const k of ['etcdEndpoints', 'etcdCa', 'etcdCert', 'etcdKey', 'etcdUsername', 'etcdPassword', 'cluster', 'config'] as const) {
    const v = o[k];
    if (v !== undefined) connection[k] = v;
  }

  const leaseMs = positiveDuration(o.leaseTtl, '--lease-ttl');
  return {
    nodeName,
    addresses,
    asNumber,
    labels: o.labels ? parseLabels(o.labels) : {},
    bgpBackend: o.bgpBackend,
    gobgp,
    bird: { binary: o.birdBinary, dir: o.birdDir, sidecar: o.birdSidecar === true },
    connection,
    logFormat: o.logFormat ?? (opts.isTTY ? 'text' : 'json'),
    logLevel: o.logLevel,
    resyncIntervalMs: positiveDuration(o.resyncInterval, '--resync-interval'),
    statusIntervalMs: positiveDuration(o.statusInterval, '--status-interval'),
    leaseTtlSeconds: Math.max(2, Math.round(leaseMs / 1000)),
    secretsDir: o.secretsDir,
    cniSocket: o.cni ? o.cniSocket : undefined,
    cniStateDir: o.cniStateDir,
    podMtu: o.podMtu === undefined ? undefined : mtu(o.podMtu),
    metricsListen: parseMetricsListen(o.metricsListen),
  };
}
