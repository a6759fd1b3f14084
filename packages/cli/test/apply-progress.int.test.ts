/**
 * Progress of a long apply: the real terracectl on a real terminal (a
 * pseudo-terminal from util-linux `script`) draws it on stderr; through a
 * pipe, stderr stays empty. A failure half-way ends the progress line
 * before the one-line error.
 */
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, test } from '@jest/globals';
import { sharedEtcdEndpoint, uniqueCluster } from '@terrace/testkit';
import { BIN, bound, tempDir } from './harness.js';

const endpoint = sharedEtcdEndpoint();
const dir = tempDir();
afterAll(() => dir.remove());

// 100 documents: one apply is one etcd transaction, and etcd takes at most 128 operations in one.
const N = 100;
const peer = (i: number, asn: string | number = 64600 + i): string =>
  `apiVersion: terrace.dev/v1\nkind: BGPPeer\nmetadata: {name: peer-${i}}\nspec: {peerIP: 198.18.${Math.floor(i / 200)}.${(i % 200) + 1}, asNumber: ${asn}}\n`;
const manifest = (bad?: number): string =>
  Array.from({ length: N }, (_, i) => peer(i, i === bad ? 'not-a-number' : 64600 + i)).join('---\n');

/** terracectl on a pseudo-terminal: stdout and stderr both reach it, as on a user's screen. */
function onTerminal(args: readonly string[]): Promise<{ code: number | null; screen: string }> {
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-q', '-e', '-c', quoted, '/dev/null'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, SHELL: '/bin/sh', TERM: 'dumb' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let screen = '';
    child.stdout.on('data', (d: Buffer) => (screen += d.toString()));
    child.stderr.on('data', (d: Buffer) => (screen += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, screen }));
  });
}

describe('apply of many documents', () => {
  test('through a pipe: the results on stdout, nothing on stderr', async () => {
    const ctl = bound(endpoint, uniqueCluster('cli-prog'));
    const file = dir.write('pipe.yaml', manifest());
    const r = await ctl(['apply', '-f', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(N);
  });

  test('on a terminal: document-by-document validation, then the transaction, then the results', async () => {
    const file = dir.write('tty.yaml', manifest());
    const r = await onTerminal(['--etcd-endpoints', endpoint, '--cluster', uniqueCluster('cli-prog'), 'apply', '-f', file]);
    expect(r.code).toBe(0);
    expect(r.screen).toContain(`\r\x1b[Kvalidating ${file} 1/${N} (1%)`);
    expect(r.screen).toContain(`\r\x1b[Kvalidating ${file} ${N}/${N} (100%)`);
    expect(r.screen).toContain(`\r\x1b[Kwriting ${N} documents in one transaction 0/${N} (0%)`);
    expect(r.screen).toContain(`\r\x1b[Kwriting ${N} documents in one transaction ${N}/${N} (100%)`);
    const lines = r.screen.split(/\r?\n/);
    expect(lines.filter((l) => /^bgppeer\/peer-\d+ created$/.test(l))).toHaveLength(N);
  });

  test('on a terminal, a failure half-way: the progress line is ended and the error is a line of its own', async () => {
    const file = dir.write('bad.yaml', manifest(60));
    const r = await onTerminal(['--etcd-endpoints', endpoint, '--cluster', uniqueCluster('cli-prog'), 'apply', '-f', file]);
    expect(r.code).toBe(1);
    expect(r.screen).toContain(`validating ${file} 60/${N} (60%)`);
    const errors = r.screen.split(/\r?\n/).filter((l) => l.includes('error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^error: .*document 61.*asNumber/);
  });
});
