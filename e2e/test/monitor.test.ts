/** The pure helpers the lab's measurements rest on. */
import { describe, expect, test } from '@jest/globals';
import { parseMonitorLine, percentile } from '../src/index.js';

describe('parseMonitorLine', () => {
  test('reads additions and removals of the route kinds the lab sees', () => {
    expect(parseMonitorLine('198.19.0.64/26 via 198.18.0.12 dev eth0 proto terrace ')).toEqual({ dst: '198.19.0.64/26', deleted: false });
    expect(parseMonitorLine('Deleted 198.19.0.64/26 via 198.18.0.12 dev eth0 proto terrace ')).toEqual({ dst: '198.19.0.64/26', deleted: true });
    expect(parseMonitorLine('blackhole 198.19.129.128/28 proto terrace')).toEqual({ dst: '198.19.129.128/28', deleted: false });
    expect(parseMonitorLine('198.19.1.0 dev tr6425d86bb5c proto terrace scope link ')).toEqual({ dst: '198.19.1.0/32', deleted: false });
    expect(parseMonitorLine('198.19.5.192/26 nhid 9 metric 20 ')).toEqual({ dst: '198.19.5.192/26', deleted: false });
    expect(parseMonitorLine('Deleted local fe80::1 dev eth0 table local proto kernel')).toEqual({ dst: 'fe80::1/128', deleted: true });
  });

  test('ignores multipath continuation lines and anything that is not a route', () => {
    expect(parseMonitorLine('\tnexthop via 198.18.0.11 dev eth0 weight 1 ')).toBeUndefined();
    expect(parseMonitorLine('')).toBeUndefined();
    expect(parseMonitorLine('[ROUTE]something else')).toBeUndefined();
  });
});

describe('percentile', () => {
  test('nearest rank on a sorted copy', () => {
    const xs = [5, 1, 4, 2, 3];
    expect(percentile(xs, 50)).toBe(3);
    expect(percentile(xs, 99)).toBe(5);
    expect(percentile(xs, 0)).toBe(1);
    expect(xs).toEqual([5, 1, 4, 2, 3]);
    expect(percentile([], 50)).toBeNaN();
  });
});
