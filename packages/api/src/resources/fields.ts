/**
 * Reading one object of a decoded manifest with exact errors: every object is
 * opened with the list of keys it may hold, so an unknown field is refused
 * with its full path before anything else is read, and every typed read names
 * the field (`ippool/a: spec.disabled must be a boolean, got string "yes"`).
 * YAML/JSON `null` counts as absent, as it does in Kubernetes.
 */
import { invalidField, QUOTE_MAX, quote } from '../errors.js';

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `spec` + `cidr` → `spec.cidr`; keys that are not plain words are bracketed: `labels["a/b"]`. */
export function joinPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  const part = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) && key.length <= QUOTE_MAX ? key : `[${quote(key)}]`;
  if (path === '') return part;
  return part.startsWith('[') ? `${path}${part}` : `${path}.${part}`;
}

/** How a value is shown in a type error. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `string ${quote(v)}`;
  return `${typeof v} ${String(v)}`;
}

export class Fields {
  constructor(
    readonly ref: string | undefined,
    readonly path: string,
    readonly obj: Obj,
    allowed: readonly string[],
  ) {
    for (const k of Object.keys(obj)) {
      if (!allowed.includes(k)) throw invalidField(ref, joinPath(path, k), 'is not a supported field');
    }
  }

  /** Opens `value` at `path` as an object holding only `allowed` keys. */
  static open(ref: string | undefined, path: string, value: unknown, allowed: readonly string[]): Fields {
    if (!isObj(value)) throw invalidField(ref, path, `must be an object, got ${describeValue(value)}`);
    return new Fields(ref, path, value, allowed);
  }

  at(key: string | number): string {
    return joinPath(this.path, key);
  }

  fail(key: string, reason: string): never {
    throw invalidField(this.ref, this.at(key), reason);
  }

  has(key: string): boolean {
    const v = this.obj[key];
    return v !== undefined && v !== null;
  }

  raw(key: string): unknown {
    const v = this.obj[key];
    return v === null ? undefined : v;
  }

  required(key: string, hint = ''): unknown {
    const v = this.raw(key);
    if (v === undefined) this.fail(key, `is required${hint}`);
    return v;
  }

  string(key: string): string | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') this.fail(key, `must be a string, got ${describeValue(v)}`);
    return v;
  }

  requiredString(key: string, hint = ''): string {
    this.required(key, hint);
    const s = this.string(key) ?? '';
    if (s === '') this.fail(key, `is required${hint}`);
    return s;
  }

  bool(key: string): boolean | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') this.fail(key, `must be true or false, got ${describeValue(v)}`);
    return v;
  }

  int(key: string, min: number, max: number): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(key, `must be an integer, got ${describeValue(v)}`);
    if (v < min || v > max) this.fail(key, `${v} is out of range ${min}–${max}`);
    return v;
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T | undefined {
    const s = this.string(key);
    if (s === undefined) return undefined;
    if (!(values as readonly string[]).includes(s)) this.fail(key, `${quote(s)} is not one of ${values.join(', ')}`);
    return s as T;
  }

  object(key: string, allowed: readonly string[]): Fields | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    return Fields.open(this.ref, this.at(key), v, allowed);
  }

  list(key: string): unknown[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) this.fail(key, `must be a list, got ${describeValue(v)}`);
    return v;
  }

  /** A list of objects, each opened with `allowed` keys. */
  objectList(key: string, allowed: readonly string[]): Fields[] | undefined {
    const items = this.list(key);
    if (!items) return undefined;
    return items.map((item, i) => Fields.open(this.ref, this.at(key) + `[${i}]`, item, allowed));
  }

  /** A map of string to string (labels, annotations). */
  stringMap(key: string): Record<string, string> | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (!isObj(v)) this.fail(key, `must be a map of strings, got ${describeValue(v)}`);
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(v)) {
      if (typeof val !== 'string') throw invalidField(this.ref, joinPath(this.at(key), k), `must be a string, got ${describeValue(val)}`);
      out[k] = val;
    }
    return out;
  }
}
