/**
 * What one ADD or CHECK asks of the agent beyond the ids: addresses and a
 * MAC the runtime wants, the pod's identity for IPAM, and whether an
 * allocation belongs to the attachment. Pure.
 */
import { tryParseIP, type IPAddr } from '@terrace/api';
import { CniCode, CniError, bare, cniArg, type CniEnv, type TerraceNetConf } from '@terrace/cni';
import { isPodHandleOf, type PodRef } from '@terrace/ipam';

/**
 * Addresses the runtime asks for: `IP=a[,b]` in CNI_ARGS (podman's --ip,
 * the reference plugins' convention) or runtimeConfig.ips (the "ips"
 * capability). Each must be an address, with or without a prefix length;
 * IPAM then takes exactly these, from the pools the pod may use.
 */
export function requestedAddresses(env: CniEnv, conf: TerraceNetConf): IPAddr[] {
  const raw: string[] = [];
  const arg = cniArg(env.args, 'IP');
  if (arg !== undefined && arg !== '') raw.push(...arg.split(','));
  raw.push(...conf.runtimeIps);
  const out: IPAddr[] = [];
  for (const r of raw) {
    const text = r.trim().replace(/\/\d+$/, '');
    const ip = tryParseIP(text);
    if (!ip) throw new CniError(CniCode.InvalidEnvironment, `CNI_ARGS IP=${bare(r)}: not an IP address`);
    if (!out.some((o) => o.family === ip.family && o.value === ip.value)) out.push(ip);
  }
  return out;
}

/**
 * Whether an allocation belongs to this attachment: under its handle, or
 * under the old ambiguous form of it (written by an older agent) when the
 * allocation's own attributes name this container and interface.
 */
export function heldBy(owner: { handle: string; containerID?: string; iface?: string }, handle: string, pod: PodRef): boolean {
  if (owner.handle === handle) return true;
  return isPodHandleOf(owner.handle, pod) && owner.containerID === pod.containerId && owner.iface === pod.ifname;
}

export function refuseMac(env: CniEnv, conf: TerraceNetConf): void {
  const mac = cniArg(env.args, 'MAC') ?? conf.runtimeMac;
  if (mac !== undefined && mac !== '') {
    throw new CniError(CniCode.UnsupportedField, `CNI_ARGS MAC=${bare(mac)}: terrace does not set pod MAC addresses (each pod gets a fixed one derived from its ids)`);
  }
}

export function optional<K extends string>(key: K, v: string | undefined): Partial<Record<K, string>> {
  return v === undefined || v === '' ? {} : ({ [key]: v } as Record<K, string>);
}
