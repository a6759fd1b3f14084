/**
 * Hostile or careless input stays a one-line Invalid error: a YAML alias bomb
 * is refused before it expands, and a huge value is quoted cut short.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { QUOTE_MAX, decodeManifests, isTerraceError, parseCidr, quote, shorten } from '../src/index.js';

const BOMB = readFileSync(new URL('../../test/data/billion-laughs.yaml', import.meta.url), 'utf8');

function refusal(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('YAML aliases', () => {
  it('a billion-laughs manifest is refused as Invalid in one line', () => {
    const e = refusal(() => decodeManifests(BOMB, 'laughs.yaml'));
    expect(isTerraceError(e, 'Invalid')).toBe(true);
    expect(e.message).toBe('laughs.yaml document 1: the manifest has too many aliases (the limit of 100 guards against "billion laughs" bombs); write the values out instead');
  });

  it('a few aliases are still fine', () => {
    const text = 'apiVersion: terrace.dev/v1\nkind: List\nitems:\n- {apiVersion: terrace.dev/v1, kind: IPPool, metadata: {name: a, labels: &l {tier: prod}}, spec: {cidr: 10.96.0.0/16}}\n- {apiVersion: terrace.dev/v1, kind: IPPool, metadata: {name: b, labels: *l}, spec: {cidr: 10.97.0.0/16}}\n';
    expect(decodeManifests(text).map((r) => r.metadata.labels)).toEqual([{ tier: 'prod' }, { tier: 'prod' }]);
  });

  it('an alias to an anchor in another document is invalid YAML, not a crash', () => {
    const text = 'apiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: {name: a, labels: &l {tier: prod}}\nspec: {cidr: 10.96.0.0/16}\n---\napiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: {name: b, labels: *l}\nspec: {cidr: 10.97.0.0/16}\n';
    const e = refusal(() => decodeManifests(text, 'two.yaml'));
    expect(isTerraceError(e, 'Invalid')).toBe(true);
    expect(e.message).toBe('two.yaml document 2: invalid YAML: Unresolved alias (the anchor must be set before the alias): l');
  });
});

describe('values quoted in errors', () => {
  it('short values are quoted whole', () => {
    expect(quote('r 1')).toBe('"r 1"');
    expect(quote(42)).toBe('42');
    expect(shorten('pool-a')).toBe('pool-a');
  });

  it('long values are cut, with their length', () => {
    const v = 'a'.repeat(5 * 1024 * 1024);
    expect(quote(v)).toBe(`"${'a'.repeat(QUOTE_MAX)}…" (5242880 characters)`);
    expect(shorten(v)).toBe(`${'a'.repeat(QUOTE_MAX)}… (5242880 characters)`);
    expect(quote({ a: 'b'.repeat(200) })).toMatch(/^\{"a":"b+… \(208 characters\)$/);
  });

  it('any string is shown in a bounded, single line, and whole when short', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
        const q = quote(s);
        expect(q).not.toMatch(/[\n\r]/);
        // JSON-escaping can lengthen a character to 6; the suffix adds at most 25.
        expect(q.length).toBeLessThanOrEqual(QUOTE_MAX * 6 + 2 + 1 + 25);
        if (s.length <= QUOTE_MAX) expect(q).toBe(JSON.stringify(s));
        else expect(q.endsWith(`(${s.length} characters)`)).toBe(true);
      }),
    );
  });

  it.each([
    ['a label value', (v: string) => `apiVersion: terrace.dev/v1\nkind: Node\nmetadata:\n  name: n\n  labels: {rack: "${v}"}\n`, 'metadata.labels.rack value "'],
    ['a label key', (v: string) => `apiVersion: terrace.dev/v1\nkind: Node\nmetadata:\n  name: n\n  labels: {"${v}": x}\n`, 'metadata.labels["'],
    ['a name', (v: string) => `apiVersion: terrace.dev/v1\nkind: Node\nmetadata:\n  name: "${v}"\n`, 'metadata.name "'],
    ['a kind', (v: string) => `apiVersion: terrace.dev/v1\nkind: "${v}"\nmetadata: {name: n}\n`, 'kind "'],
    ['a cidr', (v: string) => `apiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: "${v}"}\n`, 'spec.cidr "'],
    ['a duration', (v: string) => `apiVersion: terrace.dev/v1\nkind: BGPPeer\nmetadata: {name: p}\nspec: {peerIP: 198.18.0.1, asNumber: 65000, keepaliveTime: "${v}"}\n`, 'spec.keepaliveTime "'],
    ['a selector', (v: string) => `apiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.96.0.0/16, nodeSelector: "${v} =="}\n`, 'spec.nodeSelector selector "'],
  ])('a 5 MB value in %s is cut in the message', (_what, manifest, fragment) => {
    const e = refusal(() => decodeManifests(manifest('x'.repeat(5 * 1024 * 1024)), 'big.yaml'));
    expect(isTerraceError(e)).toBe(true);
    expect(e.message).toContain(fragment);
    expect(e.message).toContain('characters)');
    expect(e.message.length).toBeLessThan(500);
  });

  it('a bad CIDR given to the parser is cut too', () => {
    expect(refusal(() => parseCidr('9'.repeat(1000))).message).toBe(`"${'9'.repeat(QUOTE_MAX)}…" (1000 characters) is not a valid CIDR`);
  });
});
