import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { detailsWithRequest, makeRequestId, sentRequestId } from '../src/index.js';

describe('request ids', () => {
  it('take the command, the container id\'s first 12 characters and a tag; none for a part that is missing or not plain', () => {
    expect(makeRequestId('ADD', '0123456789abcdef', 'a7')).toBe('ADD-0123456789ab-a7');
    expect(makeRequestId(undefined, 'c1', 'a1')).toBe('none-c1-a1');
    expect(makeRequestId('DEL', 'a"b', 'a2')).toBe('DEL-none-a2');
    expect(makeRequestId('DEL', '', 'a3')).toBe('DEL-none-a3');
  });

  it('made here are always ids a caller could have sent', () => {
    fc.assert(
      fc.property(fc.option(fc.string()), fc.option(fc.string()), fc.nat(), (cmd, cid, n) => {
        const id = makeRequestId(cmd ?? undefined, cid ?? undefined, `a${n}`);
        expect(sentRequestId(id)).toBe(id);
      }),
      { numRuns: 300 },
    );
  });

  it('sent by a caller are taken only when plain and at most 80 characters', () => {
    expect(sentRequestId('ADD-c1-4711')).toBe('ADD-c1-4711');
    expect(sentRequestId('x'.repeat(80))).toBe('x'.repeat(80));
    for (const bad of [undefined, '', 'x'.repeat(81), 'a b', 'a\nb', 'a"b', ['a', 'b']]) expect(sentRequestId(bad)).toBeUndefined();
  });

  it('follow what an error already details', () => {
    expect(detailsWithRequest('', 'ADD-c1-1')).toBe('request ADD-c1-1');
    expect(detailsWithRequest('x is gone', 'ADD-c1-1')).toBe('x is gone; request ADD-c1-1');
  });
});
