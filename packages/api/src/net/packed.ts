/**
 * The route path's one value for a prefix and for an address: its bytes,
 * packed into a one-byte string that is at once the value and its map key.
 *
 *   PackedPrefix  [family, length, address bytes…]  (length+7)>>3 address
 *                 bytes, host bits zero: the BGP NLRI encoding with the
 *                 family in front.
 *   PackedAddr    [family, address bytes…]          4 or 16 bytes.
 *
 * The BMP parser makes them from the wire, route sync writes them into
 * netlink messages and reads them back from dumps; nothing on the way turns
 * them into BigInts or text. Text is for logs and the CLI (formatPrefix,
 * formatAddr); configuration enters the route path through packCidr/packIP.
 * A string rather than a Uint8Array because a Map keys a string by value:
 * the value needs no second form to be looked up by.
 */
import { cidr, formatCidr, formatIP, ipAddr, type Cidr, type IPAddr, type IPFamily } from './ip.js';

export type PackedPrefix = string & { readonly __packed: 'prefix' };
export type PackedAddr = string & { readonly __packed: 'addr' };

export function prefixFamily(p: PackedPrefix): IPFamily {
  return p.charCodeAt(0) === 6 ? 6 : 4;
}

export function prefixLength(p: PackedPrefix): number {
  return p.charCodeAt(1);
}

export function addrFamily(a: PackedAddr): IPFamily {
  return a.charCodeAt(0) === 6 ? 6 : 4;
}

/** A host route's prefix length (/32, /128). */
export function isHostPrefix(p: PackedPrefix): boolean {
  return p.charCodeAt(1) === (p.charCodeAt(0) === 6 ? 128 : 32);
}

/**
 * The prefix of `len` bits whose significant bytes are buf[at, at + (len+7)>>3),
 * host bits cleared (an NLRI's junk host bits, a kernel route's are zero).
 */
export function readPrefix(family: IPFamily, len: number, buf: Uint8Array, at: number): PackedPrefix {
  const n = (len + 7) >> 3;
  const rem = len & 7;
  const last = n === 0 ? 0 : rem === 0 ? buf[at + n - 1]! : buf[at + n - 1]! & (0xff << (8 - rem)) & 0xff;
  // One string allocation for the common IPv4 case.
  switch (n) {
    case 0:
      return String.fromCharCode(family, len) as PackedPrefix;
    case 1:
      return String.fromCharCode(family, len, last) as PackedPrefix;
    case 2:
      return String.fromCharCode(family, len, buf[at]!, last) as PackedPrefix;
    case 3:
      return String.fromCharCode(family, len, buf[at]!, buf[at + 1]!, last) as PackedPrefix;
    case 4:
      return String.fromCharCode(family, len, buf[at]!, buf[at + 1]!, buf[at + 2]!, last) as PackedPrefix;
    default: {
      const codes = new Array<number>(n + 2);
      codes[0] = family;
      codes[1] = len;
      for (let i = 0; i < n - 1; i++) codes[i + 2] = buf[at + i]!;
      codes[n + 1] = last;
      return String.fromCharCode(...codes) as PackedPrefix;
    }
  }
}

/** The address whose 4 (IPv4) or 16 (IPv6) bytes start at buf[at]. */
export function readAddr(family: IPFamily, buf: Uint8Array, at: number): PackedAddr {
  if (family === 4) return String.fromCharCode(4, buf[at]!, buf[at + 1]!, buf[at + 2]!, buf[at + 3]!) as PackedAddr;
  const codes = new Array<number>(17);
  codes[0] = 6;
  for (let i = 0; i < 16; i++) codes[i + 1] = buf[at + i]!;
  return String.fromCharCode(...codes) as PackedAddr;
}

/** Writes the prefix's full address (4 or 16 bytes, zero-padded) at buf[at]; returns the byte count. */
export function writePrefixAddr(p: PackedPrefix, buf: Uint8Array, at: number): number {
  const n = p.charCodeAt(0) === 6 ? 16 : 4;
  const have = p.length - 2;
  for (let i = 0; i < n; i++) buf[at + i] = i < have ? p.charCodeAt(2 + i) : 0;
  return n;
}

/** Writes the address's 4 or 16 bytes at buf[at]; returns the byte count. */
export function writeAddr(a: PackedAddr, buf: Uint8Array, at: number): number {
  const n = a.length - 1;
  for (let i = 0; i < n; i++) buf[at + i] = a.charCodeAt(1 + i);
  return n;
}

/** The address's bytes (4 or 16). */
export function addrBytesOf(a: PackedAddr): Uint8Array {
  const b = new Uint8Array(a.length - 1);
  writeAddr(a, b, 0);
  return b;
}

/** Configuration entering the route path. */
export function packCidr(c: Cidr): PackedPrefix {
  const total = c.family === 4 ? 4 : 16;
  const bytes = new Uint8Array(total);
  let v = c.base;
  for (let i = total - 1; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return readPrefix(c.family, c.prefix, bytes, 0);
}

export function packIP(a: IPAddr): PackedAddr {
  const total = a.family === 4 ? 4 : 16;
  const bytes = new Uint8Array(total);
  let v = a.value;
  for (let i = total - 1; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return readAddr(a.family, bytes, 0);
}

/** Back to the Cidr of the rest of the codebase (for code outside the route path). */
export function unpackPrefix(p: PackedPrefix): Cidr {
  const family = prefixFamily(p);
  const n = family === 4 ? 4 : 16;
  let v = 0n;
  for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(i + 2 < p.length ? p.charCodeAt(i + 2) : 0);
  return cidr(family, v, prefixLength(p));
}

export function unpackAddr(a: PackedAddr): IPAddr {
  let v = 0n;
  for (let i = 1; i < a.length; i++) v = (v << 8n) | BigInt(a.charCodeAt(i));
  return ipAddr(addrFamily(a), v);
}

/** `addr/len`, as formatCidr prints it (logs, the CLI). */
export function formatPrefix(p: PackedPrefix): string {
  if (p.charCodeAt(0) === 4) {
    const b = (i: number): number => (i + 2 < p.length ? p.charCodeAt(i + 2) : 0);
    return `${b(0)}.${b(1)}.${b(2)}.${b(3)}/${p.charCodeAt(1)}`;
  }
  return formatCidr(unpackPrefix(p));
}

/** The address as formatIP prints it. */
export function formatAddr(a: PackedAddr): string {
  if (a.charCodeAt(0) === 4) return `${a.charCodeAt(1)}.${a.charCodeAt(2)}.${a.charCodeAt(3)}.${a.charCodeAt(4)}`;
  return formatIP(unpackAddr(a));
}
