/**
 * Property: no string that reaches the renderer from a manifest (a peer's
 * description or password, an announcement's communities, an AS number as
 * given) can change the structure of bird.conf. Either the renderer refuses
 * it with a TerraceError naming the field, or the file differs from one
 * rendered with harmless placeholders only inside that value's own token,
 * and the real `bird -p` accepts it (checked on the first 30 such files).
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseCidr, parseIP, TerraceError } from '@terrace/api';
import { renderBirdConfig, type BirdDesired } from '../src/bird/render.js';

const NASTY = ['"', '\\', ';', '{', '}', '\n', '\r', '#', '/*', '*/', 'include "/etc/passwd";', ' protocol bgp x {', '\u0000', ':', '1', '65535', 'ü', ' '];
const nastyString = fc.array(fc.oneof(fc.constantFrom(...NASTY), fc.string({ maxLength: 4 }), fc.integer({ min: 0, max: 70000 }).map(String)), { maxLength: 8 }).map((a) => a.join(''));
const asnLike = fc.oneof(fc.integer({ min: -5, max: 4294967300 }), fc.double(), nastyString);

interface Values {
  description: string;
  password: string;
  communities: string[];
  asn: unknown;
}

function desired(v: Values): BirdDesired {
  return {
    global: { asn: 64512, routerId: '198.18.0.11' },
    peers: [{ address: parseIP('198.18.0.1'), asn: v.asn as number, description: v.description, password: v.password }],
    announcements: [{ prefix: parseCidr('10.244.1.0/26'), nextHop: parseIP('198.18.0.11'), communities: v.communities }],
  };
}

const PLACEHOLDER: Values = { description: 'd', password: 'p', communities: ['1:1'], asn: 65000 };
const FIELDS = new Set(['description', 'password', 'communities', 'asn']);

/** Lines that may differ from the placeholder rendering, each a single token of its kind. */
const VALUE_LINES = [
  /^ {2}description "[^"\n]*";$/,
  /^ {2}password "[^"\n]*";$/,
  /^ {2}neighbor 198\.18\.0\.1 as \d+;$/,
  /^ {2}if net ~ \[ 10\.244\.1\.0\/26 \] then \{ ((bgp_community\.add\(\(\d+,\d+\)\)|bgp_large_community\.add\(\(\d+,\d+,\d+\)\)); )+\}$/,
  // An iBGP peer (AS 64512) is named ibgp_; the name is derived from the address, not the value.
  /^protocol bgp [ei]bgp_198_18_0_1 \{$/,
];

describe('bird.conf injection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'terrace-bird-inj-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const reference = renderBirdConfig(desired(PLACEHOLDER)).text.split('\n');

  it('refuses a value or keeps it inside its own token', () => {
    let parsed = 0;
    let refused = 0;
    fc.assert(
      fc.property(nastyString, nastyString, fc.array(nastyString, { minLength: 1, maxLength: 3 }), asnLike, fc.boolean(), (description, password, communities, asn, valid) => {
        const v: Values = valid ? { ...PLACEHOLDER, description } : { description, password, communities, asn };
        let text: string;
        try {
          text = renderBirdConfig(desired(v)).text;
        } catch (e) {
          expect(e).toBeInstanceOf(TerraceError);
          expect(FIELDS.has((e as TerraceError).field ?? '')).toBe(true);
          refused += 1;
          return;
        }
        const lines = text.split('\n');
        expect(lines.length).toBe(reference.length);
        lines.forEach((l, i) => {
          if (l !== reference[i]) expect(VALUE_LINES.some((re) => re.test(l))).toBe(true);
        });
        if (parsed < 30) {
          parsed += 1;
          const f = join(dir, `c${parsed}.conf`);
          writeFileSync(f, text);
          execFileSync('bird', ['-p', '-c', f], { stdio: ['ignore', 'pipe', 'pipe'] });
        }
      }),
      { numRuns: 400 },
    );
    // Both outcomes happen, so the property is not vacuous.
    expect(parsed).toBeGreaterThan(5);
    expect(refused).toBeGreaterThan(5);
  });
});
