/**
 * Fuzzing the selector parser (@terrace/api parseSelector: pool and peer
 * selectors, terracectl's --selector): any text is parsed or refused with a
 * one-line TerraceError within a second, and what parses prints in a form
 * that parses back to the same meaning.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { MAX_SELECTOR_DEPTH, TerraceError, parseSelector } from '@terrace/api';
import { bounded } from '@terrace/testkit';

const parse = (text: string) => bounded(() => parseSelector(text), (e) => e instanceof TerraceError);

const TOKENS = ['all()', 'has(', ')', '(', 'rack', 'zone', 'example.com/role', '==', '!=', ' in ', ' not in ', '{', '}', ',', '!', '&&', '||', "'a'", '"b"', "'", '"', ' ', '\t', 'all', 'has', '\u00e9', '=', '&', '|'];
const tokenSoup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).map((t) => t.join(''));
const labels = fc.dictionary(fc.constantFrom('rack', 'zone', 'example.com/role'), fc.constantFrom('a', 'b', 'c'), { maxKeys: 3 });

describe('parseSelector under fuzzing', () => {
  it('any text: parsed or refused in one line', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => void parse(s)), { numRuns: 500 });
  });

  it('token soup: parsed or refused, and what parses prints back to the same meaning', () => {
    fc.assert(
      fc.property(tokenSoup, fc.array(labels, { minLength: 1, maxLength: 4 }), (s, sets) => {
        const r = parse(s);
        if (!r.ok) return;
        const again = parseSelector(r.value.toString());
        expect(again.toString()).toBe(r.value.toString());
        for (const l of sets) expect(again.matches(l)).toBe(r.value.matches(l));
      }),
      { numRuns: 1000 },
    );
  });

  // Found by fuzzing: 10,000 nested '(' (or '!') overflowed the stack with a RangeError.
  it.each([
    ['parentheses', `${'('.repeat(10000)}all()${')'.repeat(10000)}`],
    ['negations', `${'!'.repeat(100000)}all()`],
    ['unclosed parentheses', '('.repeat(10000)],
  ])('10,000-deep %s are refused at once', (_what, text) => {
    const r = parse(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toMatch(new RegExp(`nests deeper than ${MAX_SELECTOR_DEPTH} levels of '!' and '\\(' at column ${MAX_SELECTOR_DEPTH + 1}$`));
    expect(r.ms).toBeLessThan(1000);
  });

  it('nesting up to the limit still parses', () => {
    const depth = MAX_SELECTOR_DEPTH - 1;
    expect(parseSelector(`${'!('.repeat(depth / 2 - 1)}has(rack)${')'.repeat(depth / 2 - 1)}`).matches({ rack: 'a' })).toBe(true);
  });
});
