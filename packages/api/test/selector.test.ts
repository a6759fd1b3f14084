import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { isTerraceError, parseSelector, validateSelectorField } from '../src/index.js';

const labels = { role: 'edge', rack: 'r1', 'example.com/zone': 'a' };

describe('parseSelector matching', () => {
  it.each([
    ['', true],
    ['   ', true],
    ['all()', true],
    ['has(role)', true],
    ['has(missing)', false],
    ['!has(missing)', true],
    ['!has(role)', false],
    ["role == 'edge'", true],
    ['role == "edge"', true],
    ["role == 'core'", false],
    ["missing == 'x'", false],
    ["role != 'core'", true],
    ["role != 'edge'", false],
    // Calico: != is true when the label is absent.
    ["missing != 'x'", true],
    ["rack in {'r1', 'r2'}", true],
    ["rack in {'r2'}", false],
    ['rack in {}', false],
    ["missing in {'x'}", false],
    ["rack not in {'r2'}", true],
    ["rack not in {'r1'}", false],
    // Calico: not in is true when the label is absent, and for an empty set.
    ["missing not in {'x'}", true],
    ['missing not in {}', true],
    ["example.com/zone == 'a'", true],
    ['has(example.com/zone)', true],
    ["role == 'edge' && rack == 'r1'", true],
    ["role == 'edge' && rack == 'r2'", false],
    ["role == 'core' || rack == 'r1'", true],
    ["role == 'core' || rack == 'r2'", false],
    ["!(role == 'core')", true],
    ["!(role == 'edge' && rack == 'r1')", false],
    // && binds tighter than ||.
    ["role == 'core' && rack == 'r2' || has(role)", true],
    ["role == 'core' && (rack == 'r2' || has(role))", false],
    ['!!has(role)', true],
    ["role=='edge'&&rack in{'r1'}", true],
    ["v == 'with space'", false],
  ])('%j → %s', (sel, want) => {
    expect(parseSelector(sel).matches(labels)).toBe(want);
  });

  it('matches against an empty label set', () => {
    expect(parseSelector("a != 'x'").matches({})).toBe(true);
    expect(parseSelector('has(a)').matches({})).toBe(false);
  });

  it('treats a label named like a keyword as a key', () => {
    expect(parseSelector("has == 'x' && all == 'y'").matches({ has: 'x', all: 'y' })).toBe(true);
  });
});

describe('parseSelector canonical form', () => {
  it.each([
    ['', 'all()'],
    ["role=='x'", 'role == "x"'],
    ["a in {'x','y'}", 'a in {"x", "y"}'],
    ['a not in {}', 'a not in {}'],
    ["(a == 'x' || b == 'y') && c == 'z'", '(a == "x" || b == "y") && c == "z"'],
    ["a == 'x' || (b == 'y' && c == 'z')", 'a == "x" || b == "y" && c == "z"'],
    ["!(a == 'x' || has(b))", '!(a == "x" || has(b))'],
    ["((has(a)))", 'has(a)'],
    [`a == '"q"'`, `a == '"q"'`],
  ])('%j prints as %j', (sel, want) => {
    expect(parseSelector(sel).toString()).toBe(want);
  });

  it('is a fixed point: parsing the canonical form gives the same form', () => {
    for (const s of ["a == 'x' && (b in {'1','2'} || !has(c))", "x != 'y' || z not in {'w'}"]) {
      const once = parseSelector(s).toString();
      expect(parseSelector(once).toString()).toBe(once);
    }
  });
});

describe('parseSelector syntax errors', () => {
  it.each([
    ["role == 'x' &&", 'expected an expression at column 14'],
    ["role == 'x' ||", 'expected an expression at column 14'],
    ['role ==', 'expected a quoted value at column 7 (end of input)'],
    ['role == x', 'expected a quoted value at column 9'],
    ["role = 'x'", 'unexpected character "=" at column 6'],
    ["role == 'x", 'unterminated string starting at column 9'],
    ['has(role', "expected ')' at column 8"],
    ['has()', 'expected a label key at column 5'],
    ['all(', "expected ')' after 'all(' at column 4"],
    ["(role == 'x'", "expected ')' at column 12"],
    ["role == 'x')", "expected '&&', '||' or the end of the selector at column 12"],
    ['role', "expected '==', '!=', 'in' or 'not in' after label key \"role\" at column 4"],
    ["role in 'x'", "expected '{' at column 9"],
    ["role in {'x' 'y'}", "expected ',' or '}' at column 14"],
    ["role not {'x'}", "expected '==', '!=', 'in' or 'not in' after label key \"role\" at column 6"],
    ['&& a', 'expected an expression at column 1'],
    ["a == 'x' b == 'y'", "expected '&&', '||' or the end of the selector at column 10"],
    ['role == @', 'unexpected character "@" at column 9'],
  ])('%j: %s', (sel, msg) => {
    let err: unknown;
    try {
      parseSelector(sel);
    } catch (e) {
      err = e;
    }
    expect(isTerraceError(err, 'Invalid')).toBe(true);
    expect((err as Error).message).toContain(`selector ${JSON.stringify(sel)}: ${msg}`);
  });

  it('validateSelectorField names the resource and field', () => {
    expect(() => validateSelectorField('ippool/p', 'spec.nodeSelector', "x == 'y' &&")).toThrow(
      `ippool/p: spec.nodeSelector selector "x == 'y' &&": expected an expression at column 11`,
    );
  });
});

describe('parseSelector properties', () => {
  const key = fc.constantFrom('a', 'b', 'example.com/c');
  const value = fc.constantFrom('x', 'y', '');
  const leaf = fc.oneof(
    fc.constant('all()'),
    key.map((k) => `has(${k})`),
    fc.tuple(key, fc.constantFrom('==', '!='), value).map(([k, op, v]) => `${k} ${op} '${v}'`),
    fc.tuple(key, fc.constantFrom('in', 'not in'), fc.array(value, { maxLength: 3 })).map(
      ([k, op, vs]) => `${k} ${op} {${vs.map((v) => `"${v}"`).join(',')}}`,
    ),
  );
  const expr: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
    e: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      tie('e').map((x) => `!(${x})`),
      fc.tuple(tie('e'), fc.constantFrom('&&', '||'), tie('e')).map(([x, op, y]) => `(${x}) ${op} (${y})`),
    ),
  })).e;
  const labelSet = fc.dictionary(fc.constantFrom('a', 'b', 'example.com/c'), value);

  it('the canonical form parses back to a selector that matches the same labels', () => {
    fc.assert(
      fc.property(expr, labelSet, (text, labels) => {
        const s = parseSelector(text);
        const canon = parseSelector(s.toString());
        expect(canon.toString()).toBe(s.toString());
        expect(canon.matches(labels)).toBe(s.matches(labels));
      }),
    );
  });

  it('!(s) matches exactly when s does not', () => {
    fc.assert(
      fc.property(expr, labelSet, (text, labels) => {
        expect(parseSelector(`!(${text})`).matches(labels)).toBe(!parseSelector(text).matches(labels));
      }),
    );
  });
});
