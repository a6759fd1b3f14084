/**
 * Every value that reaches bird.conf passes through one of these checks.
 * Values from manifests (descriptions, passwords, communities, AS numbers)
 * are either turned into something BIRD's lexer can only read as the intended
 * token (a number, an address, a string without a quote or line break) or
 * refused with a TerraceError naming the field. BIRD 2.0's lexer reads a
 * string as `"` up to the next `"` on the same line, with no escapes: a quote
 * or a newline is the only way out of a string, so those are what is refused
 * (passwords) or replaced (descriptions, which are only for people).
 */
import { formatIP, TerraceError, type IPAddr } from '@terrace/api';

export function invalid(where: string, field: string, reason: string): TerraceError {
  return new TerraceError('Invalid', `${where}: ${field} ${reason}`, { field });
}

/** An AS number as given: an integer 1–4294967295 (not a string, not a float). */
export function asnValue(v: unknown, where: string, field: string): string {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 4294967295) {
    throw invalid(where, field, `${JSON.stringify(v) ?? String(v)} is not an AS number (an integer 1-4294967295)`);
  }
  return String(v);
}

/** An integer in [min, max], rendered as decimal digits. */
export function intValue(v: unknown, min: number, max: number, where: string, field: string): string {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(where, field, `${JSON.stringify(v) ?? String(v)} must be an integer ${min}-${max}`);
  }
  return String(v);
}

/** A parsed address, formatted canonically (digits, dots, colons and hex only). */
export function addrValue(a: IPAddr, where: string, field: string, family?: 4 | 6): string {
  const s = formatIP(a);
  if (!/^[0-9a-f.:]+$/.test(s) || (family !== undefined && a.family !== family)) {
    throw invalid(where, field, `${s} is not an IPv${family ?? ''} address`);
  }
  return s;
}

/** The BGP identifier: a dotted quad. */
export function routerIdValue(v: unknown, where = 'bgp global', field = 'routerId'): string {
  if (typeof v !== 'string' || !/^\d{1,3}(\.\d{1,3}){3}$/.test(v) || v.split('.').some((o) => Number(o) > 255)) {
    throw invalid(where, field, `${JSON.stringify(v) ?? String(v)} is not a dotted-quad ${field === 'routerId' ? 'router' : 'cluster'} id`);
  }
  return v.split('.').map(Number).join('.');
}

const DESCRIPTION_MAX = 80;

/**
 * A description, for people only: characters outside a plain safe set
 * (letters, digits, space and `-_.:/@()+,=`) become `_`, and it is cut at 80
 * characters, so nothing in it can end the string it is written in.
 */
export function descriptionValue(v: unknown, where: string): string {
  if (typeof v !== 'string') throw invalid(where, 'description', 'must be a string');
  return `"${[...v].slice(0, DESCRIPTION_MAX).map((c) => (/^[A-Za-z0-9 \-_.:/@()+,=]$/.test(c) ? c : '_')).join('')}"`;
}

/**
 * A TCP MD5 password (RFC 2385 keys are at most 80 bytes). It must be used
 * exactly as given, so anything BIRD could not hold inside a string (a quote,
 * a backslash, which later BIRD versions treat as an escape, a control
 * character or line break) is refused rather than changed.
 */
export function passwordValue(v: unknown, where: string): string {
  if (typeof v !== 'string') throw invalid(where, 'password', 'must be a string');
  if (v.length === 0) throw invalid(where, 'password', 'is empty (leave it out for no password)');
  if (Buffer.byteLength(v) > 80) throw invalid(where, 'password', 'is longer than 80 bytes (the TCP MD5 limit)');
  // eslint-disable-next-line no-control-regex
  if (/["\\\u0000-\u001f\u007f]/.test(v)) {
    throw invalid(where, 'password', 'contains a quote, a backslash or a control character, which bird.conf cannot carry');
  }
  return `"${v}"`;
}

/** A community as BIRD writes it: `(a,b)` for `aa:nn`, `(a,b,c)` for a large `aa:nn:mm`. */
export function communityValue(v: unknown, where: string): { large: boolean; text: string } {
  if (typeof v === 'string') {
    const std = /^(\d{1,5}):(\d{1,5})$/.exec(v);
    if (std && Number(std[1]) <= 0xffff && Number(std[2]) <= 0xffff) {
      return { large: false, text: `(${Number(std[1])},${Number(std[2])})` };
    }
    const large = /^(\d{1,10}):(\d{1,10}):(\d{1,10})$/.exec(v);
    if (large && large.slice(1).every((p) => Number(p) <= 4294967295)) {
      return { large: true, text: `(${large.slice(1).map(Number).join(',')})` };
    }
  }
  throw invalid(where, 'communities', `${JSON.stringify(v) ?? String(v)} is not a community (aa:nn with parts 0-65535, or aa:nn:mm)`);
}
