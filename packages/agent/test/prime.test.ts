import { afterEach, describe, expect, it } from '@jest/globals';
import { RouteWriter } from '@terrace/dataplane';
import { primeLearnedPath } from '../src/prime.js';

describe('primeLearnedPath', () => {
  const begin = RouteWriter.prototype.begin;
  afterEach(() => {
    RouteWriter.prototype.begin = begin;
  });

  it('takes its synthetic feed through the route rule into a scratch route sync, and leaves that sync empty', async () => {
    // What the feed leaves selected: the router's 3,000 /32s less the 100 it
    // withdraws, and for each of 187 blocks node B's /26 (node C went down) and an IPv6 /64.
    await expect(primeLearnedPath()).resolves.toBe(3000 - 100 + 2 * (3000 >> 4));
  });

  it('gives up at its deadline when route sync cannot apply anything, so start-up goes on', async () => {
    // Route sync waits out a failing batch by retrying with backoff, which would hold priming up for good.
    RouteWriter.prototype.begin = () => {
      throw new Error('injected');
    };
    const started = Date.now();
    await expect(primeLearnedPath(300)).rejects.toThrow('priming did not finish within 300 ms');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
