// The fence's pure parts as the allocator runs them: the free scan and the
// room count skip fenced ordinals, and a block claim never proposes a block
// wholly inside a fenced range, checked against a plain per-address and
// per-block reading of the same fence.
import { describe, expect, test } from '@jest/globals';
import { type Cidr, addressAt, cidrContainsCidr, cidrContainsIP, formatCidr, parseCidr, subnetAt, subnetCount } from '@terrace/api';
import fc from 'fast-check';
import { type FenceView, type PoolView, assign, findFree, freeBlocks, newBlock, parseFence, roomIn, toPoolView } from '../src/index.js';
import { fencedOrdinals } from '../src/fence.js';
import { poolResource } from './fixtures/cluster.js';

const attrs = { node: 'n1' };

function poolView(cidr: string, blockSize: number): PoolView {
  return toPoolView(poolResource('p', cidr, { blockSize }, 'u'), '1');
}

/** A fence over the given CIDRs, parsed as the allocator parses the stored doc. */
function fenceOf(cidrs: string[]): FenceView {
  const doc = {
    cleared: {},
    held: [],
    fenced: cidrs.map((cidr) => ({ cidr, pool: 'p', remote: 'r', remotePool: 'rp', remoteCidr: cidr, since: '' })),
    updated: '',
  };
  return parseFence('fence', { text: JSON.stringify(doc), modRevision: '7' }, '7');
}

/** A random CIDR inside `outer`, at least /`minLen`. */
const cidrInside = (outer: Cidr, minLen: number) =>
  fc.integer({ min: minLen, max: outer.family === 4 ? 32 : 128 }).chain((len) =>
    fc.bigInt({ min: 0n, max: subnetCount(outer, len) - 1n }).map((i) => formatCidr(subnetAt(outer, len, i))),
  );

describe('fenced ordinals in a block', () => {
  const block = parseCidr('198.18.20.0/26');
  test('findFree and roomIn skip exactly the fenced free ordinals', () => {
    fc.assert(
      fc.property(
        fc.array(cidrInside(parseCidr('198.18.20.0/24'), 24), { maxLength: 4 }),
        fc.uniqueArray(fc.nat(63), { maxLength: 40 }),
        fc.nat(63),
        fc.integer({ min: 1, max: 70 }),
        (fences, used, cursor, want) => {
          const fence = fenceOf(fences);
          let b = { ...newBlock(block, 'n1', 0), next: cursor };
          for (const o of used) b = assign(b, o, `h${o}`, attrs, 0).block;
          b = { ...b, next: cursor };
          const fencedAt = (o: number): boolean => fence.fenced.some((e) => cidrContainsIP(e.cidr, addressAt(block, o)));
          const open = Array.from({ length: 64 }, (_, o) => o).filter((o) => !used.includes(o) && !fencedAt(o));
          const skip = fencedOrdinals(fence, block);
          expect(roomIn(b, skip)).toBe(open.length);
          const got = findFree(b, want, skip);
          expect(got.length).toBe(Math.min(want, open.length));
          for (const o of got) expect(open).toContain(o);
          expect(new Set(got).size).toBe(got.length);
        },
      ),
    );
  });
});

describe('block claims and the fence', () => {
  test('freeBlocks never offers a block wholly inside a fenced range, and skips nothing else', () => {
    const pool = poolView('198.18.32.0/22', 28);
    fc.assert(
      fc.property(
        fc.array(cidrInside(pool.cidr, 22), { maxLength: 4 }),
        fc.uniqueArray(fc.nat(63), { maxLength: 30 }),
        fc.integer({ min: 1, max: 40 }),
        (fences, takenIdx, limit) => {
          const fence = fenceOf(fences);
          const taken = new Set(takenIdx.map((i) => formatCidr(subnetAt(pool.cidr, 28, BigInt(i)))));
          const total = Number(subnetCount(pool.cidr, 28));
          const expected: string[] = [];
          for (let i = 0; i < total && expected.length < limit; i++) {
            const c = subnetAt(pool.cidr, 28, BigInt(i));
            if (!taken.has(formatCidr(c)) && !fence.fenced.some((e) => cidrContainsCidr(e.cidr, c))) expected.push(formatCidr(c));
          }
          expect(freeBlocks(pool, taken, limit, [], fence).map(formatCidr)).toEqual(expected);
        },
      ),
    );
  });

  test('a fenced IPv6 /64 in a /48 pool is jumped over, not walked block by block', () => {
    const pool = poolView('2001:db8:7::/48', 122);
    const fence = fenceOf(['2001:db8:7::/64']);
    const got = freeBlocks(pool, new Set(), 2, [], fence).map(formatCidr);
    expect(got).toEqual(['2001:db8:7:1::/122', '2001:db8:7:1::40/122']);
  });
});
