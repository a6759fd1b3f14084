/**
 * The handle record: what one handle (a pod interface) holds. It is always
 * written in the same transaction as the blocks it points into, so the two
 * agree; `(block, ordinal, seq)` names one allocation exactly.
 */
import { type IPFamily, TerraceError, tryParseIP } from '@terrace/api';

export interface HandleIP {
  block: string;
  ordinal: number;
  seq: number;
  ip: string;
}

export interface HandleRecord {
  handle: string;
  ips: HandleIP[];
}

const HANDLE_RE = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,252}$/;

/** Handles become etcd key segments: no slash, no spaces, at most 253 characters. */
export function validateHandle(handle: string): string {
  if (!HANDLE_RE.test(handle)) {
    throw new TerraceError('Invalid', `handle ${JSON.stringify(handle)} must be 1–253 characters of letters, digits and . _ : @ -`, { field: 'handle' });
  }
  return handle;
}

export function familyOfIP(ip: string): IPFamily | undefined {
  return tryParseIP(ip)?.family;
}

export function ipsOfFamily(h: HandleRecord | undefined, family: IPFamily): HandleIP[] {
  return (h?.ips ?? []).filter((e) => familyOfIP(e.ip) === family);
}

export function withIP(h: HandleRecord | undefined, handle: string, e: HandleIP): HandleRecord {
  return { handle, ips: [...(h?.ips ?? []), e] };
}

/** The record without the entry for (block, ordinal, seq), or null when nothing would remain. */
export function withoutIP(h: HandleRecord, block: string, ordinal: number, seq: number): HandleRecord | null {
  const ips = h.ips.filter((e) => !(e.block === block && e.ordinal === ordinal && e.seq === seq));
  return ips.length === 0 ? null : { handle: h.handle, ips };
}

export function decodeHandle(key: string, text: string): HandleRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new TerraceError('Internal', `${key}: stored handle is not JSON`);
  }
  const h = v as Partial<HandleRecord>;
  if (typeof h !== 'object' || h === null || typeof h.handle !== 'string' || !Array.isArray(h.ips)) {
    throw new TerraceError('Internal', `${key}: stored handle is malformed`);
  }
  return h as HandleRecord;
}

export function encodeHandle(h: HandleRecord): string {
  return JSON.stringify(h);
}
