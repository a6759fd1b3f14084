/**
 * Object metadata as Kubernetes defines it: names are DNS-1123 subdomains,
 * label and annotation keys are qualified names (`example.com/role`), label
 * values are short and plain. The datastore's fields (resourceVersion, uid,
 * creationTimestamp) pass through unchanged.
 */
import { invalidField, quote } from '../errors.js';
import { Fields, joinPath } from './fields.js';
import type { ObjectMeta } from './types.js';

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const ANNOTATIONS_MAX_BYTES = 256 * 1024;

/** Why `s` is not a DNS-1123 subdomain, or undefined when it is one. */
export function dnsSubdomainProblem(s: string): string | undefined {
  if (s === '') return 'must not be empty';
  if (s.length > 253) return `is ${s.length} characters long; at most 253 are allowed`;
  if (!DNS_SUBDOMAIN.test(s)) {
    return 'must be a DNS-1123 subdomain: lowercase letters, digits, "-" and ".", starting and ending with a letter or digit';
  }
  return undefined;
}

/** Why `key` is not a valid label or annotation key, or undefined. */
export function qualifiedNameProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined) {
    const p = dnsSubdomainProblem(prefix);
    if (p) return `has prefix ${quote(prefix)} that ${p}`;
  }
  if (name.length === 0 || name.length > 63) return 'must have a name part of 1–63 characters';
  if (!QUALIFIED_NAME.test(name)) {
    return 'must have a name part of letters, digits, "-", "_" and ".", starting and ending with a letter or digit';
  }
  return undefined;
}

export function labelValueProblem(v: string): string | undefined {
  if (v === '') return undefined;
  if (v.length > 63) return `is ${v.length} characters long; at most 63 are allowed`;
  if (!QUALIFIED_NAME.test(v)) return 'must be letters, digits, "-", "_" and ".", starting and ending with a letter or digit';
  return undefined;
}

const META_FIELDS = ['name', 'labels', 'annotations', 'resourceVersion', 'uid', 'creationTimestamp'] as const;

/** Validates `metadata` of resource `ref`; the result has a fixed key order. */
export function readMetadata(ref: string, value: unknown): ObjectMeta {
  const m = Fields.open(ref, 'metadata', value, META_FIELDS);
  const name = m.requiredString('name');
  const problem = dnsSubdomainProblem(name);
  if (problem) m.fail('name', `${quote(name)} ${problem}`);
  const out: ObjectMeta = { name };

  const labels = m.stringMap('labels');
  if (labels) {
    for (const [k, v] of Object.entries(labels)) {
      const field = joinPath('metadata.labels', k);
      const kp = qualifiedNameProblem(k);
      if (kp) throw invalidField(ref, field, `key ${kp}`);
      const vp = labelValueProblem(v);
      if (vp) throw invalidField(ref, field, `value ${quote(v)} ${vp}`);
    }
    out.labels = labels;
  }

  const annotations = m.stringMap('annotations');
  if (annotations) {
    let size = 0;
    for (const [k, v] of Object.entries(annotations)) {
      const kp = qualifiedNameProblem(k);
      if (kp) throw invalidField(ref, joinPath('metadata.annotations', k), `key ${kp}`);
      size += Buffer.byteLength(k) + Buffer.byteLength(v);
    }
    if (size > ANNOTATIONS_MAX_BYTES) m.fail('annotations', `total ${size} bytes; at most ${ANNOTATIONS_MAX_BYTES} are allowed`);
    out.annotations = annotations;
  }

  for (const key of ['resourceVersion', 'uid', 'creationTimestamp'] as const) {
    const v = m.string(key);
    if (v !== undefined) out[key] = v;
  }
  return out;
}
