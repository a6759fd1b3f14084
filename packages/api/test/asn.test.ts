import { describe, expect, it } from '@jest/globals';
import { formatAsdot, parseAsn } from '../src/index.js';

describe('parseAsn', () => {
  it.each<[unknown, number]>([
    [64512, 64512],
    ['64512', 64512],
    [1, 1],
    [4294967295, 4294967295],
    ['4294967295', 4294967295],
    ['1.10', 65546],
    ['0.1', 1],
    ['65535.65535', 4294967295],
    [' 65000 ', 65000],
  ])('%j → %d', (input, want) => {
    expect(parseAsn(input)).toBe(want);
  });

  it.each<[unknown, string]>([
    [0, '0 is out of range 1–4294967295'],
    ['0', '"0" is out of range 1–4294967295'],
    [4294967296, '4294967296 is out of range 1–4294967295'],
    [-1, '-1 is out of range'],
    [1.5, '1.5 is not an integer'],
    ['0.0', '"0.0" is out of range'],
    ['1.65536', 'each half must be 0–65535'],
    ['65536.1', 'each half must be 0–65535'],
    ['abc', '"abc" is not an AS number'],
    ['1.2.3', 'is not an AS number'],
    ['', 'is not an AS number'],
    [true, 'must be a number or a string, got boolean'],
    [null, 'got null'],
    [[1], 'got a list'],
  ])('refuses %j: %s', (input, msg) => {
    expect(() => parseAsn(input)).toThrow(msg);
  });

  it('formats asdot', () => {
    expect(formatAsdot(65546)).toBe('1.10');
    expect(formatAsdot(64512)).toBe('64512');
  });
});
