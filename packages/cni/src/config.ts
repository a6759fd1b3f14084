/**
 * The network configuration the runtime writes on stdin: the spec's members
 * plus Terrace's options. Decoding problems are code 6, a wrong or missing
 * member is code 7, a member we do not know is code 2, a version we do not
 * speak is code 1; every message names the member.
 */
import {
  COMMAND_SINCE,
  CniCode,
  CniError,
  LATEST_VERSION,
  SUPPORTED_VERSIONS,
  compareVersions,
  bare,
  isSupportedVersion,
  shown,
  type CniCommand,
  type CniVersion,
} from './spec.js';
import { ifnameProblem } from './env.js';

export const DEFAULT_AGENT_SOCKET = '/run/terrace/cni.sock';
/** Where the plugin records DELs the agent did not confirm (`<stateDir>/pending-del`). */
export const DEFAULT_STATE_DIR = '/var/lib/terrace/cni';
export const DEFAULT_TIMEOUT_SECONDS = 30;
/**
 * The paths the plugin reads without a JSON parser (bin/terrace-cni): plain
 * absolute paths only, so that its reading and ours always agree.
 */
const PLAIN_PATH = /^\/[A-Za-z0-9._/@+=,-]*$/;

export interface IpamHints {
  /** Give the pod an IPv4 address (default true). */
  assignIpv4: boolean;
  /** Give the pod an IPv6 address (default false). */
  assignIpv6: boolean;
  /** Pool names or CIDRs to allocate IPv4 from; empty means every pool this node may use. */
  ipv4Pools: string[];
  /** Pool names or CIDRs to allocate IPv6 from; empty means every pool this node may use. */
  ipv6Pools: string[];
}

export interface ValidAttachment {
  containerId: string;
  ifname: string;
}

export interface TerraceNetConf {
  cniVersion: CniVersion;
  name: string;
  /** The agent's socket (default /run/terrace/cni.sock). */
  agentSocket: string;
  /** Where undelivered DELs are recorded (default /var/lib/terrace/cni); must match the agent's --cni-state-dir. */
  stateDir: string;
  /** Pod interface MTU; undefined lets the agent use its own setting. */
  mtu: number | undefined;
  /** How long the plugin waits for the agent (default 30 s); a timeout is code 11. */
  timeoutSeconds: number;
  ipam: IpamHints;
  /** prevResult as given (CHECK, DEL), undefined when absent. */
  prevResult: unknown;
  /** cni.dev/valid-attachments (GC). */
  validAttachments: ValidAttachment[];
  /** runtimeConfig.ips: addresses the runtime asks for (the "ips" capability). */
  runtimeIps: string[];
  /** runtimeConfig.mac: the MAC the runtime asks for (the "mac" capability). */
  runtimeMac: string | undefined;
}

// Members the spec (or a runtime) may put in a plugin's configuration; we
// accept them without acting on them. Anything else that is not ours is
// refused rather than silently dropped, so a typo in a conflist shows.
const SPEC_KEYS = new Set([
  'cniVersion',
  'cniVersions',
  'name',
  'type',
  'disableCheck',
  'disableGC',
  'capabilities',
  'runtimeConfig',
  'args',
  'ipMasq',
  'dns',
  'prevResult',
]);
const OUR_KEYS = new Set(['agentSocket', 'stateDir', 'mtu', 'timeoutSeconds', 'ipam']);
const IPAM_KEYS = new Set(['type', 'assignIpv4', 'assignIpv6', 'ipv4Pools', 'ipv6Pools']);
const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function invalid(member: string, reason: string): CniError {
  return new CniError(CniCode.InvalidConfig, `network config: ${member} ${reason}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Decodes stdin as a JSON object or fails with code 6. */
export function decodeConfig(stdin: Uint8Array): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(stdin).toString('utf8'));
  } catch (e) {
    throw new CniError(CniCode.DecodeFailure, 'network config on stdin is not valid JSON', (e as Error).message);
  }
  if (!isObject(v)) throw new CniError(CniCode.DecodeFailure, 'network config on stdin is not a JSON object');
  return v;
}

/**
 * The version to answer in when the configuration is unusable: the one it
 * names when we speak it, else our latest.
 */
export function replyVersion(stdin: Uint8Array): CniVersion {
  try {
    const v = (JSON.parse(Buffer.from(stdin).toString('utf8')) as Record<string, unknown>).cniVersion;
    if (typeof v === 'string' && isSupportedVersion(v)) return v;
  } catch {
    // undecodable: our latest
  }
  return LATEST_VERSION;
}

function stringList(obj: Record<string, unknown>, key: string, member: string): string[] {
  const v = obj[key];
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== '')) {
    throw invalid(member, 'must be a list of non-empty strings');
  }
  return v as string[];
}

function bool(obj: Record<string, unknown>, key: string, member: string, dflt: boolean): boolean {
  const v = obj[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw invalid(member, 'must be true or false');
  return v;
}

function parseIpam(v: unknown): IpamHints {
  if (v === undefined) return { assignIpv4: true, assignIpv6: false, ipv4Pools: [], ipv6Pools: [] };
  if (!isObject(v)) throw invalid('ipam', 'must be an object');
  for (const k of Object.keys(v)) {
    if (!IPAM_KEYS.has(k)) throw new CniError(CniCode.UnsupportedField, `network config: ipam.${bare(k)} is not supported`);
  }
  // `type` is what a delegating plugin would name; ours is built in.
  if (v.type !== undefined && v.type !== 'terrace') {
    throw invalid('ipam.type', `${shown(v.type)} is not supported: terrace allocates addresses itself (omit it or say "terrace")`);
  }
  const hints: IpamHints = {
    assignIpv4: bool(v, 'assignIpv4', 'ipam.assignIpv4', true),
    assignIpv6: bool(v, 'assignIpv6', 'ipam.assignIpv6', false),
    ipv4Pools: stringList(v, 'ipv4Pools', 'ipam.ipv4Pools'),
    ipv6Pools: stringList(v, 'ipv6Pools', 'ipam.ipv6Pools'),
  };
  if (!hints.assignIpv4 && !hints.assignIpv6) throw invalid('ipam', 'assigns no address: set assignIpv4 or assignIpv6');
  return hints;
}

function parseAttachments(v: unknown): ValidAttachment[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw invalid('cni.dev/valid-attachments', 'must be a list');
  return v.map((a, i) => {
    const m = `cni.dev/valid-attachments[${i}]`;
    if (!isObject(a)) throw invalid(m, 'must be an object');
    if (typeof a.containerID !== 'string' || a.containerID === '') throw invalid(`${m}.containerID`, 'must be a non-empty string');
    if (typeof a.ifname !== 'string' || ifnameProblem(a.ifname)) throw invalid(`${m}.ifname`, 'must be an interface name');
    return { containerId: a.containerID, ifname: a.ifname };
  });
}

/** The capabilities we act on; the others (portMappings, bandwidth, ...) are another plugin's. */
function parseRuntimeConfig(v: unknown): { runtimeIps: string[]; runtimeMac: string | undefined } {
  if (v === undefined) return { runtimeIps: [], runtimeMac: undefined };
  if (!isObject(v)) throw invalid('runtimeConfig', 'must be an object');
  const runtimeIps = stringList(v, 'ips', 'runtimeConfig.ips');
  const mac = v.mac;
  if (mac !== undefined && typeof mac !== 'string') throw invalid('runtimeConfig.mac', 'must be a string');
  return { runtimeIps, runtimeMac: mac };
}

/** Parses and checks the configuration for `command`. */
export function parseConfig(raw: Record<string, unknown>, command: CniCommand): TerraceNetConf {
  const ver = raw.cniVersion;
  if (typeof ver !== 'string' || ver === '') throw invalid('cniVersion', 'must be a version string such as "1.1.0"');
  if (!isSupportedVersion(ver)) {
    throw new CniError(CniCode.IncompatibleVersion, `network config: cniVersion ${shown(ver)} is not supported`, `supported: ${SUPPORTED_VERSIONS.join(', ')}`);
  }
  if (compareVersions(ver, COMMAND_SINCE[command]) < 0) {
    throw new CniError(CniCode.IncompatibleVersion, `${command} needs cniVersion ${COMMAND_SINCE[command]} or later, the network config says ${ver}`);
  }
  for (const k of Object.keys(raw)) {
    if (!SPEC_KEYS.has(k) && !OUR_KEYS.has(k) && !k.startsWith('cni.dev/')) {
      throw new CniError(CniCode.UnsupportedField, `network config: ${bare(k)} is not supported by the terrace plugin`);
    }
  }
  if (raw.type !== 'terrace') throw invalid('type', `must be "terrace", not ${shown(raw.type)}`);
  const name = raw.name;
  if (typeof name !== 'string' || !NETWORK_NAME.test(name)) {
    throw invalid('name', 'must be letters, digits, "_", "." and "-", starting with a letter or digit');
  }
  const sock = raw.agentSocket ?? DEFAULT_AGENT_SOCKET;
  if (typeof sock !== 'string' || !PLAIN_PATH.test(sock)) throw invalid('agentSocket', 'must be an absolute path of letters, digits and . _ / @ + = , -');
  const stateDir = raw.stateDir ?? DEFAULT_STATE_DIR;
  if (typeof stateDir !== 'string' || !PLAIN_PATH.test(stateDir)) throw invalid('stateDir', 'must be an absolute path of letters, digits and . _ / @ + = , -');
  const mtu = raw.mtu;
  if (mtu !== undefined && (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 576 || mtu > 65535)) {
    throw invalid('mtu', 'must be an integer from 576 to 65535');
  }
  const timeout = raw.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1 || timeout > 3600) throw invalid('timeoutSeconds', 'must be a whole number of seconds from 1 to 3600');
  const prev = raw.prevResult;
  if (prev !== undefined && !isObject(prev)) throw invalid('prevResult', 'must be an object');
  return {
    cniVersion: ver,
    name,
    agentSocket: sock,
    stateDir,
    mtu: mtu as number | undefined,
    timeoutSeconds: timeout,
    ipam: parseIpam(raw.ipam),
    prevResult: prev,
    validAttachments: parseAttachments(raw['cni.dev/valid-attachments']),
    ...parseRuntimeConfig(raw.runtimeConfig),
  };
}
