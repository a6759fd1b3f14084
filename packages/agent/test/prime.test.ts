import { describe, expect, it } from '@jest/globals';
import { primeLearnedPath } from '../src/prime.js';

describe('primeLearnedPath', () => {
  it('takes its synthetic feed through the route rule into a scratch route sync, and leaves that sync empty', async () => {
    // What the feed leaves selected: the router's 3,000 /32s less the 100 it
    // withdraws, and for each of 187 blocks node B's /26 (node C went down) and an IPv6 /64.
    await expect(primeLearnedPath()).resolves.toBe(3000 - 100 + 2 * (3000 >> 4));
  });
});
