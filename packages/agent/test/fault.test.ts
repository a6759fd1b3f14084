import { describe, expect, it } from '@jest/globals';
import { parseFault } from '../src/cni/fault.js';

describe('TERRACE_FAULT (test-only)', () => {
  it('is off when unset or empty', () => {
    expect(parseFault(undefined)).toBeUndefined();
    expect(parseFault('')).toBeUndefined();
  });
  it('reads a point and which ADD stops there', () => {
    expect(parseFault('after-ipam:3')).toEqual({ point: 'after-ipam', nth: 3 });
    expect(parseFault('after-wire:1')).toEqual({ point: 'after-wire', nth: 1 });
  });
  it.each(['after-ipam', 'after-ipam:0', 'before-ipam:1', 'after-wire:x', 'after-wire:1:2'])('refuses %s in one line naming the variable', (v) => {
    expect(() => parseFault(v)).toThrow(`TERRACE_FAULT=${v}: expected <point>:<n> with point one of after-ipam, after-wire and n ≥ 1 (test-only)`);
  });
});
