/**
 * Fuzzing the manifest decoder and validator (@terrace/api decodeManifests,
 * what terracectl apply/create/validate run on every file): random text,
 * random YAML-shaped text, random JSON values as resources, and valid
 * manifests edited at random. Every input must decode, or be refused with
 * a one-line TerraceError, within a second. Oversized and deeply nested
 * manifests are refused before the YAML library sees them.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { MAX_MANIFEST_BYTES, MAX_MANIFEST_DEPTH, TerraceError, decodeManifests, encodeResources, isTerraceError } from '@terrace/api';
import { applyEdits, bounded, editsArb } from '@terrace/testkit';

const EXAMPLES = fileURLToPath(new URL('../../../../deploy/examples/', import.meta.url));
const VALID = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.yaml') && !f.startsWith('bad-'))
  .map((f) => readFileSync(EXAMPLES + f, 'utf8'));

const decode = (text: string) => bounded(() => decodeManifests(text, 'fuzz.yaml'), (e) => e instanceof TerraceError);

/** Pieces YAML and JSON are made of, so that random text gets past the first character. */
const YAML_PIECES = ['\n', '  ', '- ', ': ', '---\n', '{', '}', '[', ']', ',', '"', "'", '&a ', '*a', '!!str ', '? ', '|\n', '>-\n', '#', 'apiVersion', 'kind', 'metadata', 'name', 'spec', 'terrace.dev/v1', 'IPPool', 'BGPPeer', 'List', 'items', 'cidr', '10.0.0.0/16', 'x', '1', '1.10', 'null', 'true', '\t', '\\', '\u00e9', '\ud800'];
const yamlish = fc.array(fc.constantFrom(...YAML_PIECES), { maxLength: 60 }).map((p) => p.join(''));

const KINDS = ['IPPool', 'BGPPeer', 'BGPConfiguration', 'Node', 'RemoteCluster', 'IPAMConfig', 'IPPoolList', 'List'];
/** A document with the right top-level shape and a random body. */
const resourceish = fc.record({
  apiVersion: fc.constantFrom('terrace.dev/v1', 'projectcalico.org/v3', 'v1'),
  kind: fc.constantFrom(...KINDS),
  metadata: fc.oneof(fc.record({ name: fc.string({ maxLength: 20 }) }), fc.jsonValue({ maxDepth: 3 })),
  spec: fc.jsonValue({ maxDepth: 4 }),
  items: fc.option(fc.array(fc.jsonValue({ maxDepth: 4 }), { maxLength: 3 }), { nil: undefined }),
});

const RUNS = { numRuns: 300 };

describe('decodeManifests under fuzzing', () => {
  it('any text: decoded or refused in one line', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (s) => void decode(s)), RUNS);
  });

  it('YAML-shaped text', () => {
    fc.assert(fc.property(yamlish, (s) => void decode(s)), RUNS);
  });

  it('random resource bodies, as JSON and as YAML', () => {
    fc.assert(
      fc.property(resourceish, fc.boolean(), (doc, asJson) => {
        const text = asJson ? JSON.stringify(doc) : encodeResources([doc as never], 'yaml');
        void decode(text);
      }),
      RUNS,
    );
  });

  it('valid manifests with random edits', () => {
    fc.assert(
      fc.property(fc.constantFrom(...VALID), editsArb(fc.constantFrom(...YAML_PIECES)), (text, edits) => {
        void decode(applyEdits(Buffer.from(text), edits).toString('utf8'));
      }),
      RUNS,
    );
  });

  it('what decodes, encodes and decodes back the same', () => {
    fc.assert(
      fc.property(fc.constantFrom(...VALID), editsArb(fc.constantFrom(' ', '\n', '1', 'a', '-', '.', '/'), 2), (text, edits) => {
        const first = decode(applyEdits(Buffer.from(text), edits).toString('utf8'));
        if (!first.ok || first.value.length === 0) return;
        for (const format of ['yaml', 'json'] as const) {
          expect(decodeManifests(encodeResources(first.value, format))).toEqual(first.value);
        }
      }),
      RUNS,
    );
  });
});

describe('findings kept as regression examples', () => {
  // A carriage return in a name was echoed raw in "(ipamconfig/\rdefault)", splitting the message.
  it('a name with a control character is refused in one line', () => {
    const r = refused('apiVersion: terrace.dev/v1\nkind: IPAMConfig\nmetadata:\n  name: "\\rdefault"\nspec: {}\n');
    expect(r.message).toMatch(/^fuzz\.yaml document 1 \(ipamconfig\/\\u000ddefault\): metadata\.name "\\rdefault" must be/);
  });

  // A carriage return in an overlay mode was echoed raw in "spec.ipipMode \rNever is not supported".
  it('an overlay mode with a control character is refused in one line', () => {
    const r = refused('apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\nspec:\n  cidr: 198.18.128.0/20\n  ipipMode: "\\rNever"\n');
    expect(r.message).toBe('fuzz.yaml document 1 (ippool/p): spec.ipipMode "\\rNever" is not supported: Terrace is overlay-free and routes pod traffic natively; use Never');
  });
});

/** Runs a refusal and returns its message and how long it took. */
function refused(text: string): { message: string; ms: number } {
  const out = decode(text);
  if (out.ok) throw new Error('expected a refusal');
  expect(isTerraceError(out.error, 'Invalid')).toBe(true);
  return { message: out.error.message, ms: out.ms };
}

describe('oversized manifests', () => {
  const pool = (i: number): string => `apiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: {name: p${i}}\nspec: {cidr: 10.${i >> 8}.${i & 255}.0/24}\n---\n`;

  it('a 10 MB manifest is refused at once, by its size', () => {
    let text = '';
    for (let i = 0; text.length < 10 * 1024 * 1024; i++) text += pool(i % 65536);
    const r = refused(text);
    expect(r.message).toBe(`fuzz.yaml: ${Buffer.byteLength(text)} bytes is more than the ${MAX_MANIFEST_BYTES} a manifest may have; split it into several files`);
    expect(r.ms).toBeLessThan(1000);
  });

  it.each([
    ['JSON objects', '{"a":'.repeat(10000) + '1' + '}'.repeat(10000)],
    ['JSON arrays', '['.repeat(10000) + ']'.repeat(10000)],
    ['YAML block sequences', `${'- '.repeat(10000)}x\n`],
    ['YAML block mappings', Array.from({ length: 10000 }, (_, i) => `${' '.repeat(i % 300)}k${i}:\n`).join('') + '  v\n'],
    ['YAML flow mappings', `spec: ${'{a: '.repeat(10000)}1${'}'.repeat(10000)}\n`],
  ])('10,000-deep %s are refused at once, by their depth', (_what, text) => {
    const r = refused(text);
    expect(r.message).toBe(`fuzz.yaml: nests deeper than ${MAX_MANIFEST_DEPTH} levels; no Terrace resource needs that many`);
    expect(r.ms).toBeLessThan(1000);
  });

  it('real manifests are far from the depth limit', () => {
    const deep = `apiVersion: terrace.dev/v1\nkind: BGPConfiguration\nmetadata:\n  name: default\n  labels:\n    a: b\nspec:\n  communities:\n    - name: c\n      value: "65000:1"\n  prefixAdvertisements:\n    - cidr: 198.19.0.0/16\n      communities: [c]\n`;
    expect(decodeManifests(deep)).toHaveLength(1);
    for (const text of VALID) expect(decodeManifests(text).length).toBeGreaterThan(0);
  });
});
