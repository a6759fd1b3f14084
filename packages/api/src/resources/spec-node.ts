/**
 * Node (a host's BGP identity) and IPAMConfig (cluster-wide allocation
 * settings, a singleton named `default`).
 */
import { quote } from '../errors.js';
import { formatIP, type IPFamily, tryParseCidr, tryParseIP } from '../net/ip.js';
import type { Fields } from './fields.js';
import { BGP_BACKENDS, type IPAMConfigSpec, type NodeBGPSpec, type NodeSpec } from './types.js';
import { readAsn } from './values.js';

export const NODE_FIELDS = ['bgp'] as const;
export const NODE_BGP_FIELDS = ['ipv4Address', 'ipv6Address', 'asNumber', 'routeReflectorClusterID', 'backend'] as const;
export const IPAMCONFIG_FIELDS = ['strictAffinity', 'maxBlocksPerHost', 'autoAllocateBlocks'] as const;

/** `198.18.0.11/24`: the node's address with its subnet length; host bits are the point, so they stay. */
function readInterfaceAddress(f: Fields, key: string, family: IPFamily): string | undefined {
  const s = f.string(key);
  if (s === undefined) return undefined;
  const example = family === 4 ? '198.18.0.11/24' : '2001:db8::11/64';
  const slash = s.indexOf('/');
  const ip = tryParseIP(slash < 0 ? s : s.slice(0, slash));
  const cidr = tryParseCidr(s, false);
  if (!ip || !cidr || ip.family !== family) {
    f.fail(key, `${quote(s)} must be an IPv${family} address with its prefix length, e.g. ${example}`);
  }
  return `${formatIP(ip)}/${cidr.prefix}`;
}

export function readNodeSpec(f: Fields): NodeSpec {
  const bgp: Fields | undefined = f.object('bgp', NODE_BGP_FIELDS);
  if (!bgp) return {};
  const out: NodeBGPSpec = {};
  const v4 = readInterfaceAddress(bgp, 'ipv4Address', 4);
  if (v4 !== undefined) out.ipv4Address = v4;
  const v6 = readInterfaceAddress(bgp, 'ipv6Address', 6);
  if (v6 !== undefined) out.ipv6Address = v6;
  const asNumber = readAsn(bgp, 'asNumber');
  if (asNumber !== undefined) out.asNumber = asNumber;
  const rr = bgp.string('routeReflectorClusterID');
  if (rr !== undefined) {
    const ip = tryParseIP(rr);
    if (!ip || ip.family !== 4) return bgp.fail('routeReflectorClusterID', `${quote(rr)} must be written like an IPv4 address, e.g. 224.0.0.1`);
    out.routeReflectorClusterID = formatIP(ip);
  }
  const backend = bgp.oneOf('backend', BGP_BACKENDS);
  if (backend !== undefined) out.backend = backend;
  return { bgp: out };
}

export function readIPAMConfigSpec(f: Fields | undefined): IPAMConfigSpec {
  return {
    strictAffinity: f?.bool('strictAffinity') ?? false,
    // 0 means no limit, as in Calico.
    maxBlocksPerHost: f?.int('maxBlocksPerHost', 0, 2147483647) ?? 20,
    autoAllocateBlocks: f?.bool('autoAllocateBlocks') ?? true,
  };
}
