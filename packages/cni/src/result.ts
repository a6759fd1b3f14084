/**
 * The ADD result JSON (interfaces, ips, routes, dns) in the shape the
 * requested cniVersion expects, and the reverse for a prevResult.
 */
import { compareVersions } from './spec.js';

export interface ResultInterface {
  name: string;
  mac: string;
  /** The namespace path for the pod's interface; absent for the host side. */
  sandbox?: string;
  mtu?: number;
}

export interface ResultIp {
  /** `addr/len`, as the pod holds it (a /32 or /128). */
  address: string;
  family: 4 | 6;
  gateway: string;
}

export interface AddResultInput {
  cniVersion: string;
  host: ResultInterface;
  pod: ResultInterface;
  ips: ResultIp[];
}

export interface CniResult {
  cniVersion: string;
  interfaces: Array<{ name: string; mac: string; sandbox?: string; mtu?: number }>;
  ips: Array<{ address: string; gateway: string; interface: number; version?: '4' | '6' }>;
  routes: Array<{ dst: string; gw: string }>;
  dns: Record<string, never>;
}

/** Interface indexes in the result: the host end first, the pod end second. */
const POD_INTERFACE = 1;

export function buildAddResult(r: AddResultInput): CniResult {
  // `version` on ips went away in 1.0.0; `mtu` on interfaces came in 1.1.0.
  const legacy = compareVersions(r.cniVersion, '1.0.0') < 0;
  const withMtu = compareVersions(r.cniVersion, '1.1.0') >= 0;
  const iface = (i: ResultInterface): CniResult['interfaces'][number] => {
    const o: CniResult['interfaces'][number] = { name: i.name, mac: i.mac };
    if (i.sandbox !== undefined) o.sandbox = i.sandbox;
    if (withMtu && i.mtu !== undefined) o.mtu = i.mtu;
    return o;
  };
  return {
    cniVersion: r.cniVersion,
    interfaces: [iface(r.host), iface(r.pod)],
    ips: r.ips.map((ip) => {
      const o: CniResult['ips'][number] = { address: ip.address, gateway: ip.gateway, interface: POD_INTERFACE };
      if (legacy) o.version = ip.family === 4 ? '4' : '6';
      return o;
    }),
    routes: r.ips.map((ip) => ({ dst: ip.family === 4 ? '0.0.0.0/0' : '::/0', gw: ip.gateway })),
    dns: {},
  };
}

/** The `addr/len` strings of a prevResult's ips, or undefined when it has none we can read. */
export function prevResultAddresses(prev: unknown): string[] | undefined {
  if (typeof prev !== 'object' || prev === null) return undefined;
  const ips = (prev as { ips?: unknown }).ips;
  if (!Array.isArray(ips)) return undefined;
  const out: string[] = [];
  for (const ip of ips) {
    const a = (ip as { address?: unknown } | null)?.address;
    if (typeof a !== 'string') return undefined;
    out.push(a);
  }
  return out;
}
