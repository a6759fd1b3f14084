import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { parseCidr } from '@terrace/api';
import { assign, blockSize, decodeBlock, encodeBlock, findFree, freeCount, ipOf, newBlock, unassign, withIP, withoutIP } from '../src/index.js';

const attrs = { node: 'n1' };

describe('block record', () => {
  test('an IPv6 /116 block stores only what is used', () => {
    let b = newBlock(parseCidr('fd00::/116'), 'n1', 1);
    expect(blockSize(b)).toBe(4096);
    for (const o of findFree(b, 3)) b = assign(b, o, `h${o}`, attrs, 0).block;
    expect(Object.keys(b.allocations)).toEqual(['0', '1', '2']);
    expect(encodeBlock(b).length).toBeLessThan(400);
    expect(ipOf(b, 4095)).toBe('fd00::fff');
    expect(freeCount(b)).toBe(4093);
  });

  test('seq grows with every allocation and starts above any earlier incarnation', () => {
    const b0 = newBlock(parseCidr('10.0.0.0/30'), 'n1', 5);
    const { block: b1, seq: s1 } = assign(b0, 0, 'a', attrs, 0);
    const gone = unassign(b1, 0, s1) ?? b1;
    const { seq: s2 } = assign(gone, 0, 'b', attrs, 0);
    expect(s2).toBeGreaterThan(s1);
    expect(newBlock(parseCidr('10.0.0.0/30'), 'n1', 6).seq).toBeGreaterThan(s2);
  });

  test('unassign only frees the allocation it names', () => {
    let b = newBlock(parseCidr('10.0.0.0/30'), 'n1', 0);
    const r = assign(b, 2, 'a', attrs, 0);
    b = r.block;
    expect(unassign(b, 2, r.seq + 1)).toBeUndefined();
    expect(unassign(b, 2, r.seq, 'other')).toBeUndefined();
    expect(unassign(b, 1, undefined)).toBeUndefined();
    expect(unassign(b, 2, r.seq, 'a')?.allocations).toEqual({});
    expect(() => assign(b, 2, 'x', attrs, 0)).toThrow(/already allocated/);
    expect(() => assign(b, 4, 'x', attrs, 0)).toThrow(/outside/);
  });

  test('the free scan starts at the cursor, so a released address is not reused at once', () => {
    let b = newBlock(parseCidr('10.0.0.0/30'), 'n1', 0);
    const r0 = assign(b, 0, 'a', attrs, 0);
    b = unassign(r0.block, 0, r0.seq) ?? r0.block;
    expect(findFree(b, 4)).toEqual([1, 2, 3, 0]);
  });

  test('any sequence of assigns and releases keeps free + used = size and never double-assigns', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(15)), { maxLength: 200 }), (steps) => {
        let b = newBlock(parseCidr('10.1.0.0/28'), 'n1', 0);
        const held = new Map<number, number>();
        for (const [alloc, pick] of steps) {
          if (alloc) {
            const [o] = findFree(b, 1);
            if (o === undefined) {
              expect(held.size).toBe(16);
              continue;
            }
            expect(held.has(o)).toBe(false);
            const r = assign(b, o, `h${o}`, attrs, 0);
            b = r.block;
            held.set(o, r.seq);
          } else if (held.size > 0) {
            const o = [...held.keys()][pick % held.size] as number;
            b = unassign(b, o, held.get(o)) ?? b;
            held.delete(o);
          }
          expect(freeCount(b) + held.size).toBe(16);
        }
        expect(decodeBlock('k', encodeBlock(b))).toEqual(b);
      }),
    );
  });

  test('corrupt values are refused', () => {
    expect(() => decodeBlock('k', '{')).toThrow(/not JSON/);
    expect(() => decodeBlock('k', '{"cidr":1}')).toThrow(/malformed/);
  });
});

describe('handle record', () => {
  test('adds and removes exact entries', () => {
    const e = { block: '10.0.0.0/30', ordinal: 1, seq: 7, ip: '10.0.0.1' };
    const h = withIP(undefined, 'h', e);
    expect(withoutIP(h, e.block, 1, 8)).toEqual(h);
    expect(withoutIP(h, e.block, 1, 7)).toBeNull();
  });
});
