// Route queries and answers as decoded from etcd: limits and strict checks (pure).
import { describe, expect, it } from '@jest/globals';
import { MAX_QUERY_PREFIXES, decodeRouteAnswer, decodeRouteQuery } from '../src/route-query.js';

const query = (over: Record<string, unknown>): string => JSON.stringify({ id: 'q1', prefixes: ['198.19.0.1'], askedBy: 't', askedAt: 't', lease: '7', ...over });
const answer = (result: Record<string, unknown>): string =>
  JSON.stringify({ node: 'x', backend: 'gobgp', answeredAt: 't', results: [{ prefix: '198.19.0.1', originated: false, kernel: [], bgp: [], ...result }] });
const route = (over: Record<string, unknown>): Record<string, unknown> => ({ kernel: [{ dst: '198.19.0.0/26', type: 'unicast', via: ['198.18.0.1'], dev: 'eth0', protocol: 'bird', ...over }] });

describe('route query decoding', () => {
  it('refuses lease 0 (no lease: answers would never vanish)', () => {
    expect(() => decodeRouteQuery(query({ lease: '0' }))).toThrow('route query q1: lease must be a non-zero decimal lease id');
    expect(decodeRouteQuery(query({})).lease).toBe('7');
  });

  it(`caps a query at ${MAX_QUERY_PREFIXES} prefixes`, () => {
    const many = Array.from({ length: MAX_QUERY_PREFIXES + 1 }, (_, i) => `198.19.1.${i}`);
    expect(() => decodeRouteQuery(query({ prefixes: many }))).toThrow(`route query q1: ${MAX_QUERY_PREFIXES + 1} prefixes, at most ${MAX_QUERY_PREFIXES} per query`);
    expect(decodeRouteQuery(query({ prefixes: many.slice(1) })).prefixes).toHaveLength(MAX_QUERY_PREFIXES);
  });
});

describe('route answer decoding', () => {
  it('accepts a well-formed answer and the starting state', () => {
    expect(decodeRouteAnswer('x', answer(route({}))).results[0]?.kernel[0]?.dev).toBe('eth0');
    expect(decodeRouteAnswer('x', JSON.stringify({ node: 'x', backend: 'bird', answeredAt: 't', results: [], state: 'starting' })).state).toBe('starting');
  });

  it('refuses routes that do not cover the asked address, and names that are not names', () => {
    expect(() => decodeRouteAnswer('x', answer(route({ dst: '198.20.0.0/26' })))).toThrow("route answer of node x: a kernel route's dst must be a CIDR covering 198.19.0.1/32");
    expect(() => decodeRouteAnswer('x', answer(route({ dst: '\u001b[2J' })))).toThrow("a kernel route's dst must be a CIDR");
    expect(() => decodeRouteAnswer('x', answer(route({ via: ['\nVerdict: healthy'] })))).toThrow("a kernel route's via must list IP addresses");
    expect(() => decodeRouteAnswer('x', answer(route({ dev: 'eth0\u001b[2J' })))).toThrow("a kernel route's dev must be a device name");
    expect(() => decodeRouteAnswer('x', answer(route({ protocol: 'x y' })))).toThrow('a kernel route needs dst');
    const path = { prefix: '198.19.0.0/26', nextHop: '198.18.0.1', peer: '', best: true, asPath: [] };
    expect(decodeRouteAnswer('x', answer({ bgp: [path] })).results[0]?.bgp).toEqual([path]);
    expect(() => decodeRouteAnswer('x', answer({ bgp: [{ ...path, nextHop: 'node-1' }] }))).toThrow("a BGP path's nextHop and peer must be IP addresses");
    expect(() => decodeRouteAnswer('x', answer({ bgp: [{ ...path, prefix: '10.0.0.0/8' }] }))).toThrow("a BGP path's prefix must be a CIDR covering");
  });
});
