/**
 * Manifests: YAML (one or many documents) or JSON, each document a resource
 * or a `kind: List` of them. Every document is validated; the first error is
 * thrown with where it is (`pools.yaml document 2 (ippool/a): ...`), so an
 * apply can refuse a whole file before writing any of it.
 */
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { quote, shorten, TerraceError } from '../errors.js';
import { isObj, type Obj } from './fields.js';
import { checkManifestLimits } from './input-limits.js';
import { isKind } from './kinds.js';
import { validateResource } from './validate.js';
import { API_VERSION, CALICO_API_VERSION, type Resource, resourceRef } from './types.js';

// The YAML library is loaded on first use: it costs tens of milliseconds at
// start-up, which commands that only print tables or JSON should not pay.
const requireHere = createRequire(import.meta.url);
let yamlLib: typeof Yaml | undefined;
const yaml = (): typeof Yaml => (yamlLib ??= requireHere('yaml') as typeof Yaml);

const LIST_VERSIONS: readonly unknown[] = [API_VERSION, CALICO_API_VERSION, 'v1'];

/** `kind: List`, or calicoctl's `kind: IPPoolList` style. */
function isListKind(kind: unknown): boolean {
  return kind === 'List' || (typeof kind === 'string' && kind.endsWith('List') && isKind(kind.slice(0, -4)));
}

/**
 * YAML reads `1.10` as the float 1.1, which would turn the asdot AS number
 * 1.10 into 1.1. No Terrace field is a fraction, so a plain scalar that looks
 * like `digits.digits` is kept as the text the author wrote.
 */
function keepDottedNumbersAsText(doc: ReturnType<typeof Yaml.parseAllDocuments>[number]): void {
  yaml().visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'number' && !Number.isInteger(node.value) && yaml().isScalar(node) && typeof node.source === 'string' && /^\d+\.\d+$/.test(node.source)) {
        node.value = node.source;
      }
    },
  });
}

/**
 * How many times the aliases of one document may be expanded in all. Real
 * manifests use a few; a "billion laughs" document nests them so that a few
 * hundred bytes expand to gigabytes.
 */
export const MAX_ALIAS_COUNT = 100;

function toJS(doc: ReturnType<typeof Yaml.parseAllDocuments>[number], where: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    // The yaml package reports alias trouble (too many, or an anchor never
    // set, as when an alias refers to another document) as a ReferenceError.
    if (e instanceof ReferenceError && /alias count/i.test(e.message)) {
      throw new TerraceError('Invalid', `${where}: the manifest has too many aliases (the limit of ${MAX_ALIAS_COUNT} guards against "billion laughs" bombs); write the values out instead`);
    }
    if (e instanceof ReferenceError) throw new TerraceError('Invalid', `${where}: invalid YAML: ${shorten(e.message.split('\n')[0] ?? '')}`);
    throw e;
  }
}

interface RawDoc {
  /** 1-based position in the file. */
  index: number;
  value: unknown;
}

function parseDocuments(text: string, where: string): RawDoc[] {
  checkManifestLimits(text, where);
  const docs = yaml().parseAllDocuments(text, { uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [];
  const out: RawDoc[] = [];
  list.forEach((doc, i) => {
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0];
      const reason = (err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      const at = pos ? ` at line ${pos.line}, column ${pos.col}` : '';
      throw new TerraceError('Invalid', `${where}: invalid YAML${at}: ${reason}`);
    }
    keepDottedNumbersAsText(doc);
    out.push({ index: i + 1, value: toJS(doc, `${where} document ${i + 1}`) });
  });
  return out;
}

function docLabel(where: string, index: number, item: number | undefined, ref: string | undefined): string {
  const itemPart = item === undefined ? '' : ` item ${item}`;
  return `${where} document ${index}${itemPart}${ref ? ` (${ref})` : ''}`;
}

/** Re-throws a validation error with its location, moving the resource name next to the document number. */
function located(e: unknown, where: string, index: number, item: number | undefined): TerraceError {
  if (!(e instanceof TerraceError)) return new TerraceError('Internal', `${docLabel(where, index, item, undefined)}: ${String(e)}`, { cause: e });
  let msg = e.message;
  if (e.resource && msg.startsWith(`${e.resource}: `)) msg = msg.slice(e.resource.length + 2);
  return new TerraceError(e.code, `${docLabel(where, index, item, e.resource)}: ${msg}`, { resource: e.resource, field: e.field, cause: e });
}

/**
 * Decodes and validates every resource in `text`. `source` names the input
 * in messages (a file name, or `-` for stdin); it defaults to `manifest`.
 */
export function decodeManifests(text: string, source = 'manifest', onDocument?: (done: number, total: number) => void): Resource[] {
  const out: Resource[] = [];
  const seen = new Map<string, string>();
  const add = (doc: unknown, index: number, item: number | undefined): void => {
    let r: Resource;
    try {
      r = validateResource(doc);
    } catch (e) {
      throw located(e, source, index, item);
    }
    const ref = resourceRef(r.kind, r.metadata.name);
    const here = `document ${index}${item === undefined ? '' : ` item ${item}`}`;
    const first = seen.get(ref);
    if (first !== undefined) {
      throw new TerraceError('Invalid', `${docLabel(source, index, item, ref)}: duplicates ${first}; a manifest may hold each resource once`, {
        resource: ref,
      });
    }
    seen.set(ref, here);
    out.push(r);
  };

  const docs = parseDocuments(text, source);
  for (const [n, { index, value }] of docs.entries()) {
    if (value !== null && value !== undefined) {
      if (isObj(value) && isListKind(value['kind'])) {
        for (const [i, item] of readListItems(value, source, index).entries()) add(item, index, i + 1);
      } else {
        add(value, index, undefined);
      }
    }
    onDocument?.(n + 1, docs.length);
  }
  return out;
}

function readListItems(list: Obj, where: string, index: number): unknown[] {
  const fail = (reason: string): never => {
    throw new TerraceError('Invalid', `${docLabel(where, index, undefined, undefined)}: ${reason}`);
  };
  for (const k of Object.keys(list)) {
    if (!['apiVersion', 'kind', 'items', 'metadata'].includes(k)) fail(`${k} is not a supported field of a ${String(list['kind'])}`);
  }
  if (!LIST_VERSIONS.includes(list['apiVersion'])) {
    fail(`apiVersion ${quote(list['apiVersion'])} is not supported for a ${String(list['kind'])}; use ${API_VERSION} or ${CALICO_API_VERSION}`);
  }
  // A list's own metadata only describes the listing (resourceVersion, continue); it carries no resource data.
  const meta = list['metadata'];
  if (meta !== undefined && meta !== null) {
    if (!isObj(meta)) fail('metadata must be an object');
    for (const k of Object.keys(meta as Obj)) {
      if (k !== 'resourceVersion' && k !== 'continue') fail(`metadata.${k} is not a supported field of a ${String(list['kind'])}`);
    }
  }
  const items = list['items'] ?? [];
  if (!Array.isArray(items)) fail('items must be a list');
  const kind = list['kind'];
  if (kind !== 'List') {
    (items as unknown[]).forEach((it, i) => {
      if (isObj(it) && it['kind'] !== undefined && `${String(it['kind'])}List` !== kind) {
        fail(`item ${i + 1} has kind ${quote(it['kind'])} in a ${String(kind)}`);
      }
    });
    // calicoctl may leave the items' kind and apiVersion to the list.
    return (items as unknown[]).map((it) =>
      isObj(it) ? { apiVersion: list['apiVersion'], kind: (kind as string).slice(0, -4), ...it } : it,
    );
  }
  return items as unknown[];
}

/** Puts the keys of a resource in the order people read them, whatever order they arrived in. */
function ordered(r: Resource): Resource {
  try {
    return validateResource(r);
  } catch {
    // Encoding must never fail on an odd stored object; print it with only the top level ordered.
    const { apiVersion, kind, metadata, spec, ...rest } = r as Resource & Obj;
    return { apiVersion, kind, metadata, spec, ...rest } as Resource;
  }
}

/**
 * Encodes resources so that decodeManifests reads them back equal: one
 * resource as itself, several (or none) as a `kind: List`.
 */
export function encodeResources(resources: Resource[], format: 'yaml' | 'json'): string {
  const body: unknown =
    resources.length === 1 && resources[0] ? ordered(resources[0]) : { apiVersion: API_VERSION, kind: 'List', items: resources.map(ordered) };
  if (format === 'json') return `${JSON.stringify(body, null, 2)}\n`;
  return yaml().stringify(body, { lineWidth: 0 });
}
