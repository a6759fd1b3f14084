import { describe, expect, test } from '@jest/globals';
import { mergePatch } from '../src/mergepatch.js';

// The examples of RFC 7386 appendix A, plus the cases a resource patch hits.
describe('mergePatch (RFC 7386)', () => {
  test.each([
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ])('%j + %j = %j', (target, patch, want) => {
    expect(mergePatch(target, patch)).toEqual(want);
  });

  test('does not modify its arguments', () => {
    const target = { spec: { cidr: '198.19.0.0/16', disabled: false } };
    const patch = { spec: { disabled: true } };
    const out = mergePatch(target, patch);
    expect(out).toEqual({ spec: { cidr: '198.19.0.0/16', disabled: true } });
    expect(target.spec.disabled).toBe(false);
    expect(patch).toEqual({ spec: { disabled: true } });
  });
});
