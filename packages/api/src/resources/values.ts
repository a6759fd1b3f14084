/**
 * Small value formats shared by several kinds: Go durations, BGP community
 * values, AS numbers read from a field, CIDRs in canonical form.
 */
import { quote, TerraceError } from '../errors.js';
import { formatCidr, parseCidr } from '../net/ip.js';
import { parseAsn } from './asn.js';
import type { Fields } from './fields.js';
import { dnsSubdomainProblem } from './meta.js';
import type { SecretKeyRef } from './types.js';

/** A non-negative Go duration as Kubernetes writes it: `90s`, `1m30s`, `500ms`, `1.5h`, `0`. */
const GO_DURATION = /^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$/;

export function readDuration(f: Fields, key: string): string | undefined {
  const s = f.string(key);
  if (s === undefined) return undefined;
  if (!GO_DURATION.test(s)) f.fail(key, `${quote(s)} is not a duration (write it like 90s, 1m30s or 500ms)`);
  return s;
}

export function readAsn(f: Fields, key: string): number | undefined {
  const v = f.raw(key);
  if (v === undefined) return undefined;
  try {
    return parseAsn(v);
  } catch (e) {
    if (e instanceof TerraceError) f.fail(key, e.message);
    throw e;
  }
}

/** A masked CIDR (IPv4 or IPv6), returned in canonical form; parseCidr's message is kept. */
export function readCidr(f: Fields, key: string): string {
  const s = f.requiredString(key);
  try {
    return formatCidr(parseCidr(s.trim()));
  } catch (e) {
    if (e instanceof TerraceError) f.fail(key, e.message);
    throw e;
  }
}

/** Why `v` is not a BGP community value (`aa:nn` standard or `aa:nn:mm` large), or undefined. */
export function communityValueProblem(v: string): string | undefined {
  const parts = v.split(':');
  if (parts.length === 2) {
    if (parts.every((p) => /^\d{1,5}$/.test(p) && Number(p) <= 65535)) return undefined;
    return `${quote(v)} is not a standard community: each half of aa:nn must be 0–65535`;
  }
  if (parts.length === 3) {
    if (parts.every((p) => /^\d{1,10}$/.test(p) && Number(p) <= 4294967295)) return undefined;
    return `${quote(v)} is not a large community: each part of aa:nn:mm must be 0–4294967295`;
  }
  return `${quote(v)} is not a community value (write aa:nn or aa:nn:mm)`;
}

const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

/** `{name, key}`: a secret named by reference (read from `<secrets dir>/<name>/<key>`), never the secret itself. */
export function readSecretKeyRef(f: Fields, field: string): SecretKeyRef | undefined {
  const ref: Fields | undefined = f.object(field, ['name', 'key']);
  if (!ref) return undefined;
  const name = ref.requiredString('name');
  const np = dnsSubdomainProblem(name);
  if (np) ref.fail('name', `${quote(name)} ${np}`);
  const key = ref.requiredString('key');
  if (key.length > 253 || !SECRET_KEY.test(key)) ref.fail('key', `${quote(key)} must be letters, digits, "-", "_" and "."`);
  return { name, key };
}
