// Flag parsing: defaults, durations, default pools, identity.
import { describe, expect, test } from '@jest/globals';
import { parseControllerArgs } from '../src/config.js';
import { formatDuration, parseDuration } from '@terrace/api';

describe('parseControllerArgs', () => {
  test('defaults', () => {
    const c = parseControllerArgs([], { pid: 42, host: 'ctl1.example.com', isTTY: false });
    expect(c).toMatchObject({ nodeGraceMs: 300_000, intervalMs: 30_000, leaseTtlSeconds: 10, defaultPools: [], identity: 'ctl1-42', logFormat: 'json' });
    expect(c.connection).toEqual({});
  });

  test('etcd flags pass through to the connection settings', () => {
    const c = parseControllerArgs(['--etcd-endpoints', 'http://10.0.0.1:2379', '--cluster', 'prod', '--config', '/x.yaml']);
    expect(c.connection).toEqual({ etcdEndpoints: 'http://10.0.0.1:2379', cluster: 'prod', config: '/x.yaml' });
  });

  test('durations and identity', () => {
    const c = parseControllerArgs(['--node-grace', '1m30s', '--interval', '500ms', '--lease-ttl', '3s', '--identity', 'a', '--log-format', 'text']);
    expect(c).toMatchObject({ nodeGraceMs: 90_000, intervalMs: 500, leaseTtlSeconds: 3, identity: 'a', logFormat: 'text' });
  });

  test('--secrets-dir is kept for remote cluster credentials', () => {
    expect(parseControllerArgs(['--secrets-dir', '/etc/terrace/secrets']).secretsDir).toBe('/etc/terrace/secrets');
    expect(parseControllerArgs([]).secretsDir).toBeUndefined();
  });

  test('--status-listen: off by default; HOST:PORT or [V6]:PORT; anything else named with an example', () => {
    expect(parseControllerArgs([]).statusListen).toBeUndefined();
    expect(parseControllerArgs(['--status-listen', 'off']).statusListen).toBeUndefined();
    expect(parseControllerArgs(['--status-listen', '127.0.0.1:9095']).statusListen).toEqual({ host: '127.0.0.1', port: 9095 });
    expect(parseControllerArgs(['--status-listen', '[::1]:0']).statusListen).toEqual({ host: '::1', port: 0 });
    for (const bad of ['9095', '127.0.0.1', '127.0.0.1:99999', '::1:9095', 'host:port']) {
      expect(() => parseControllerArgs(['--status-listen', bad])).toThrow(`flag --status-listen "${bad}" must be HOST:PORT ([addr]:PORT for IPv6) or off`);
    }
  });

  test('bad durations name the flag', () => {
    expect(() => parseControllerArgs(['--node-grace', '5 minutes'])).toThrow(/flag --node-grace "5 minutes" is not a duration/);
    expect(() => parseControllerArgs(['--interval', '0'])).toThrow(/flag --interval must be greater than zero/);
  });

  test('default pools: one per family, validated, named by family', () => {
    const c = parseControllerArgs(['--default-pool', '10.244.0.0/16', '--default-pool', 'fd00:10::/48']);
    expect(c.defaultPools.map((p) => [p.metadata.name, p.spec.cidr, p.spec.blockSize])).toEqual([
      ['default-ipv4-ippool', '10.244.0.0/16', 26],
      ['default-ipv6-ippool', 'fd00:10::/48', 122],
    ]);
    expect(() => parseControllerArgs(['--default-pool', '10.0.0.0/16', '--default-pool', '10.1.0.0/16'])).toThrow(/two IPv4 pools/);
    expect(() => parseControllerArgs(['--default-pool', '10.0.0.1/16'])).toThrow(/flag --default-pool "10.0.0.1\/16"/);
  });
});

describe('durations', () => {
  test('parse and format', () => {
    expect(parseDuration('5m', 'x')).toBe(300_000);
    expect(parseDuration('1h2m3s', 'x')).toBe(3_723_000);
    expect(() => parseDuration('m5', 'x')).toThrow(/x "m5" is not a duration/);
    expect(formatDuration(300_000)).toBe('5m');
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(1_500)).toBe('1.5s');
    expect(formatDuration(250)).toBe('250ms');
    expect(formatDuration(7_200_000)).toBe('2h');
  });
});
