/**
 * `.lab/env` as a shell reads it (e2e/src/kept/state.ts renderEnv): every
 * value comes back exactly, whatever it holds, and nothing in it is run.
 */
import { describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { renderEnv, type KeptLab } from '../src/kept/state.js';

function lab(over: Partial<KeptLab>): KeptLab {
  return {
    prefix: 'tkx-',
    fabricNs: 'tkx-fabric',
    etcdEndpoints: 'http://198.18.0.2:2379',
    cluster: 'lab',
    tor: { ns: 'tkx-tor', ip: '198.18.0.1', vtyDir: '/tmp/frr' },
    nodes: [],
    pods: [],
    statusUrl: 'http://198.18.0.2:9095/',
    metricsUrls: ['http://198.18.0.11:9091/metrics', 'http://198.18.0.2:9094/metrics'],
    daemons: [],
    dirs: [],
    ...over,
  };
}

function sourced(text: string, names: readonly string[]): string[] {
  const script = `set -eu; eval "$1"; ${names.map((n) => `printf '%s\\0' "$${n}"`).join('; ')}`;
  return execFileSync('env', ['-i', 'PATH=/usr/bin:/bin', 'bash', '--norc', '--noprofile', '-c', script, 'sh', text], { encoding: 'utf8' }).split('\0').slice(0, -1);
}

describe('.lab/env', () => {
  test('gives back every value exactly, the metrics URLs space-separated', () => {
    const l = lab({});
    expect(sourced(renderEnv(l), ['LAB_PREFIX', 'LAB_FABRIC_NS', 'TERRACE_ETCD_ENDPOINTS', 'TERRACE_CLUSTER', 'LAB_STATUS_URL', 'LAB_METRICS_URLS'])).toEqual([
      'tkx-',
      'tkx-fabric',
      'http://198.18.0.2:2379',
      'lab',
      'http://198.18.0.2:9095/',
      'http://198.18.0.11:9091/metrics http://198.18.0.2:9094/metrics',
    ]);
  });

  test('quotes what a shell would otherwise expand or run', () => {
    const odd = `it's $(echo ran) \`echo ran\` "$HOME" \\ ;`;
    expect(sourced(renderEnv(lab({ prefix: odd, cluster: "'" })), ['LAB_PREFIX', 'TERRACE_CLUSTER'])).toEqual([odd, "'"]);
  });
});
