/**
 * Address ranges a pod can never use, in one list: a pool that overlaps one
 * of them would hand pods addresses the kernel treats specially (loopback,
 * link-local, multicast, broadcast) and announce them over BGP. What is left
 * out on purpose: private and shared space (10/8, 172.16/12, 192.168/16,
 * 100.64/10, fc00::/7), benchmarking (198.18/15) and documentation ranges
 * (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32). They route like
 * any other unicast address, and labs and clusters use them for pods.
 */
import { type Cidr, cidrsOverlap, formatCidr, parseCidr } from './ip.js';

export interface ReservedRange {
  readonly cidr: Cidr;
  /** Why pods cannot use it, as a message names it. */
  readonly what: string;
}

const range = (text: string, what: string): ReservedRange => ({ cidr: parseCidr(text), what });

/** Ranges no IPPool may overlap (IANA special-purpose registries, RFC 6890 and RFC 4291). */
export const RESERVED_RANGES: readonly ReservedRange[] = [
  range('0.0.0.0/8', '"this network"; 0.0.0.0 means any address'),
  range('127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link-local; it holds the pods\' gateway 169.254.1.1'),
  range('224.0.0.0/4', 'multicast'),
  range('240.0.0.0/4', 'reserved, with the broadcast address 255.255.255.255'),
  range('::/128', 'the unspecified address'),
  range('::1/128', 'loopback'),
  range('::ffff:0:0/96', 'IPv4-mapped addresses'),
  range('fe80::/10', 'link-local'),
  range('ff00::/8', 'multicast'),
];

/** The first reserved range `c` overlaps, or undefined. */
export function reservedOverlap(c: Cidr): ReservedRange | undefined {
  return RESERVED_RANGES.find((r) => cidrsOverlap(c, r.cidr));
}

/** Why pods cannot use `c` (`overlaps 127.0.0.0/8 (loopback), which pods cannot use`), or undefined. */
export function reservedProblem(c: Cidr): string | undefined {
  const r = reservedOverlap(c);
  return r ? `${formatCidr(c)} overlaps ${formatCidr(r.cidr)} (${r.what}), which pods cannot use` : undefined;
}
