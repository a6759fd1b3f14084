import { describe, expect, it } from '@jest/globals';
import { primeLearnedPath } from '../src/prime.js';

describe('primeLearnedPath', () => {
  it('takes every prefix of its synthetic table through the route rule and the encoder', () => {
    expect(primeLearnedPath()).toBe(3000);
  });
});
