/**
 * IP addresses and CIDRs for IPv4 and IPv6 with one code path: an address is
 * a family plus a BigInt. Everything that parses an address or prefix in
 * Terrace goes through this module.
 */
import { quote, TerraceError } from '../errors.js';

export type IPFamily = 4 | 6;

export interface IPAddr {
  readonly family: IPFamily;
  readonly value: bigint;
}

export interface Cidr {
  readonly family: IPFamily;
  /** The network address (host bits zero when parsed strictly). */
  readonly base: bigint;
  readonly prefix: number;
}

/*
 * Addresses and prefixes are made by the constructors below, never as object
 * literals. V8 gives a literal the hidden class of every other literal that
 * starts with the same property names, anywhere in the process: gobgpd's API
 * requests start with `{ family: { afi, safi } }`. When one of those stores
 * another kind of value in a shared field, V8 throws away the compiled code
 * of every function that reads ours, which on the agent's route path meant
 * recompiling it while the first full BGP table arrived (docs/BENCHMARKS.md).
 * Objects from a constructor have a hidden class of their own.
 */
class Address implements IPAddr {
  constructor(
    readonly family: IPFamily,
    readonly value: bigint,
  ) {}
}

class Prefix implements Cidr {
  constructor(
    readonly family: IPFamily,
    readonly base: bigint,
    readonly prefix: number,
  ) {}
}

/** An address (not checked: `value` must fit the family). */
export function ipAddr(family: IPFamily, value: bigint): IPAddr {
  return new Address(family, value);
}

/** A prefix (not checked: `base` must fit the family, `prefix` its bit count). */
export function cidr(family: IPFamily, base: bigint, prefix: number): Cidr {
  return new Prefix(family, base, prefix);
}

export function familyBits(family: IPFamily): number {
  return family === 4 ? 32 : 128;
}

const V4_PART = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function parseV4(s: string): bigint | undefined {
  // Hot path (route sync parses 100k addresses): plain numbers, one BigInt at the end.
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!V4_PART.test(p)) return undefined;
    v = v * 256 + Number(p);
  }
  return BigInt(v);
}

function parseV6(s: string): bigint | undefined {
  if (s.length === 0 || s.length > 45) return undefined;
  let head = s;
  let tail4: bigint | undefined;
  // An embedded IPv4 suffix (::ffff:1.2.3.4) fills the last 32 bits.
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) !== -1) {
    tail4 = parseV4(s.slice(lastColon + 1));
    if (tail4 === undefined) return undefined;
    head = s.slice(0, lastColon + 1);
    if (!head.endsWith('::')) head = head.slice(0, -1);
  }
  const groupsWanted = tail4 === undefined ? 8 : 6;
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = parseGroups(halves[0] ?? '');
  const right = halves.length === 2 ? parseGroups(halves[1] ?? '') : [];
  if (!left || !right) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const fill = groupsWanted - left.length - right.length;
    if (fill < 1) return undefined;
    groups = [...left, ...new Array<number>(fill).fill(0), ...right];
  } else {
    groups = left;
  }
  if (groups.length !== groupsWanted) return undefined;
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  if (tail4 !== undefined) v = (v << 32n) | tail4;
  return v;
}

/** Parses an IPv4 or IPv6 address, or returns undefined. */
export function tryParseIP(s: string): IPAddr | undefined {
  if (s.includes(':')) {
    const v = parseV6(s);
    return v === undefined ? undefined : ipAddr(6, v);
  }
  const v = parseV4(s);
  return v === undefined ? undefined : ipAddr(4, v);
}

export function parseIP(s: string): IPAddr {
  const ip = tryParseIP(s);
  if (!ip) throw new TerraceError('Invalid', `${quote(s)} is not a valid IP address`);
  return ip;
}

export function formatIP(ip: IPAddr): string {
  return formatValue(ip.family, ip.value);
}

function formatValue(family: IPFamily, v: bigint): string {
  if (family === 4) {
    const n = Number(v);
    return `${(n >>> 24) & 0xff}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function hostMask(family: IPFamily, prefix: number): bigint {
  return (1n << BigInt(familyBits(family) - prefix)) - 1n;
}

/**
 * Parses `addr/len`. With `strict` (the default) host bits must be zero, as
 * a pool or block CIDR must be; otherwise they are cleared.
 */
export function tryParseCidr(s: string, strict = true): Cidr | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = tryParseIP(s.slice(0, slash));
  const lenStr = s.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(lenStr)) return undefined;
  const prefix = Number(lenStr);
  if (prefix > familyBits(ip.family)) return undefined;
  const mask = hostMask(ip.family, prefix);
  if (strict && (ip.value & mask) !== 0n) return undefined;
  return cidr(ip.family, ip.value & ~mask, prefix);
}

/** Parses a CIDR, explaining what is wrong with it when it is not one. */
export function parseCidr(s: string, strict = true): Cidr {
  const c = tryParseCidr(s, strict);
  if (c) return c;
  const loose = tryParseCidr(s, false);
  if (loose) {
    throw new TerraceError('Invalid', `${quote(s)} has host bits set; did you mean ${formatCidr(loose)}?`);
  }
  throw new TerraceError('Invalid', `${quote(s)} is not a valid CIDR`);
}

export function formatCidr(c: Cidr): string {
  return `${formatValue(c.family, c.base)}/${c.prefix}`;
}

/** Number of addresses in the CIDR. */
export function cidrSize(c: Cidr): bigint {
  return 1n << BigInt(familyBits(c.family) - c.prefix);
}

export function cidrLast(c: Cidr): bigint {
  return c.base + cidrSize(c) - 1n;
}

export function cidrContainsIP(c: Cidr, ip: IPAddr): boolean {
  return c.family === ip.family && ip.value >= c.base && ip.value <= cidrLast(c);
}

/** True when `inner` lies entirely inside `outer`. */
export function cidrContainsCidr(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && inner.prefix >= outer.prefix && inner.base >= outer.base && cidrLast(inner) <= cidrLast(outer);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.base <= cidrLast(b) && b.base <= cidrLast(a);
}

export function cidrEquals(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.base === b.base && a.prefix === b.prefix;
}

/** The address at `ordinal` (0-based) inside the CIDR. */
export function addressAt(c: Cidr, ordinal: number | bigint): IPAddr {
  const o = BigInt(ordinal);
  if (o < 0n || o >= cidrSize(c)) {
    throw new TerraceError('Internal', `ordinal ${o} outside ${formatCidr(c)}`);
  }
  return ipAddr(c.family, c.base + o);
}

/** The ordinal of `ip` inside the CIDR, or -1 when it is outside. */
export function ordinalOf(c: Cidr, ip: IPAddr): number {
  if (!cidrContainsIP(c, ip)) return -1;
  return Number(ip.value - c.base);
}

/** Number of sub-CIDRs of length `prefix` in `c`. */
export function subnetCount(c: Cidr, prefix: number): bigint {
  return 1n << BigInt(prefix - c.prefix);
}

/** The `index`-th sub-CIDR of length `prefix` inside `c`. */
export function subnetAt(c: Cidr, prefix: number, index: bigint): Cidr {
  return cidr(c.family, c.base + (index << BigInt(familyBits(c.family) - prefix)), prefix);
}

/** The sub-CIDR of length `prefix` inside `c` that contains `ip`. */
export function subnetContaining(c: Cidr, prefix: number, ip: IPAddr): Cidr {
  const mask = hostMask(c.family, prefix);
  return cidr(c.family, ip.value & ~mask, prefix);
}

/** The host CIDR (/32 or /128) of an address. */
export function hostCidr(ip: IPAddr): Cidr {
  return cidr(ip.family, ip.value, familyBits(ip.family));
}

/** Compares two CIDRs by family, then base address, then prefix length. */
export function compareCidr(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.base !== b.base) return a.base < b.base ? -1 : 1;
  return a.prefix - b.prefix;
}

/**
 * Parses `ip`, `ip:port` or `[ipv6]:port` (a BGP peer address). A bare IPv6
 * address is never read as having a port.
 */
export function parseHostPort(s: string): { ip: IPAddr; port: number | undefined } | undefined {
  let host = s;
  let portStr: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) {
    host = bracket[1] ?? '';
    portStr = bracket[2];
  } else if ((s.match(/:/g) ?? []).length === 1) {
    const i = s.indexOf(':');
    host = s.slice(0, i);
    portStr = s.slice(i + 1);
  }
  const ip = tryParseIP(host);
  if (!ip) return undefined;
  if (bracket && ip.family !== 6) return undefined;
  if (portStr === undefined) return { ip, port: undefined };
  if (!/^\d{1,5}$/.test(portStr)) return undefined;
  const port = Number(portStr);
  if (port < 1 || port > 65535) return undefined;
  return { ip, port };
}
