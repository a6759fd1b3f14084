/** A small byte builder for the BMP tests: BMP and BGP messages assembled field by field. */
import { parseIP } from '@terrace/api';

export const u8 = (n: number): Buffer => Buffer.from([n]);
export const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
export const cat = (...parts: Buffer[]): Buffer => Buffer.concat(parts);

/** Address bytes: 4 for IPv4, 16 for IPv6. */
export function ipBytes(s: string): Buffer {
  const ip = parseIP(s);
  const width = ip.family === 4 ? 4 : 16;
  const b = Buffer.alloc(width);
  for (let i = 0; i < width; i++) b[i] = Number((ip.value >> BigInt(8 * (width - 1 - i))) & 0xffn);
  return b;
}

/** NLRI encoding of `addr/len`, keeping whatever host bits `addr` has. */
export function prefix(s: string): Buffer {
  const [addr, len] = s.split('/');
  const n = Number(len);
  return cat(u8(n), ipBytes(addr as string).subarray(0, Math.ceil(n / 8)));
}
export const prefixes = (...ss: string[]): Buffer => cat(...ss.map(prefix));

/** A path attribute; the extended-length form when the value needs it. */
export function attr(type: number, value: Buffer, flags = 0x40): Buffer {
  if (value.length > 255) return cat(u8(flags | 0x10), u8(type), u16(value.length), value);
  return cat(u8(flags), u8(type), u8(value.length), value);
}

/** A whole BGP UPDATE message (header included). */
export function bgpUpdate(o: { withdrawn?: Buffer; attrs?: Buffer[]; nlri?: Buffer } = {}): Buffer {
  const w = o.withdrawn ?? Buffer.alloc(0);
  const a = cat(...(o.attrs ?? []));
  const n = o.nlri ?? Buffer.alloc(0);
  const body = cat(u16(w.length), w, u16(a.length), a, n);
  return cat(Buffer.alloc(16, 0xff), u16(19 + body.length), u8(2), body);
}

/** What a BMP per-peer header names (each test file has its own defaults). */
export interface PeerOpts {
  address?: string;
  asn?: number;
  bgpId?: string;
  flags?: number;
}
