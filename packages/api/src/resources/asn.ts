/**
 * BGP AS numbers: 4-byte (1–4294967295), written as a plain number, a numeric
 * string, or asdot (`1.10` = 1 × 65536 + 10), as Calico accepts them.
 * Stored resources always hold the plain number.
 */
import { quote, TerraceError } from '../errors.js';

export const ASN_MAX = 4294967295;

/** Why `v` is not an AS number, or undefined when it is one. */
function asnProblem(v: unknown): { asn: number } | { reason: string } {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return { reason: `${v} is not an integer (quote asdot values, e.g. "1.10")` };
    return inRange(v, String(v));
  }
  if (typeof v !== 'string') return { reason: `must be a number or a string, got ${describe(v)}` };
  const s = v.trim();
  if (/^\d+$/.test(s)) return inRange(Number(s), quote(v));
  const dot = /^(\d+)\.(\d+)$/.exec(s);
  if (dot) {
    const hi = Number(dot[1]);
    const lo = Number(dot[2]);
    if (hi > 65535 || lo > 65535) return { reason: `${quote(v)} is not valid asdot: each half must be 0–65535` };
    return inRange(hi * 65536 + lo, quote(v));
  }
  return { reason: `${quote(v)} is not an AS number (use a number like 64512 or asdot like 1.10)` };
}

function inRange(n: number, shown: string): { asn: number } | { reason: string } {
  if (n < 1 || n > ASN_MAX) return { reason: `${shown} is out of range 1–${ASN_MAX}` };
  return { asn: n };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : typeof v;
}

/** Parses an AS number; the error message is the reason alone, for callers to prefix with a field. */
export function parseAsn(v: unknown): number {
  const r = asnProblem(v);
  if ('reason' in r) throw new TerraceError('Invalid', r.reason);
  return r.asn;
}

/** Prints an AS number as asdot (`1.10`), the form some routers display. */
export function formatAsdot(asn: number): string {
  return asn < 65536 ? String(asn) : `${Math.floor(asn / 65536)}.${asn % 65536}`;
}
