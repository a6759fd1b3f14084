// The persistent `ip -force -batch -` child: completion markers, per-line
// failures numbered across batches, and a child that dies.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLab, type Lab } from '@terrace/testkit';
import { execFileSync } from 'node:child_process';
import { IpBatch } from '../src/index.js';

let lab: Lab;
let ns: string;
const sh = (...args: string[]): string => execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });

beforeAll(async () => {
  lab = await createLab({ tag: 'trb' });
  ns = await lab.addNamespace('batch');
  sh('link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb');
  sh('addr', 'add', '198.18.0.1/24', 'dev', 'va');
  sh('link', 'set', 'va', 'up');
});

afterAll(async () => {
  await lab?.destroy();
});

describe('IpBatch', () => {
  it('resolves each batch once ip has run it, with its failing lines by index', async () => {
    const batch = new IpBatch({ netns: ns });
    try {
      const first = await batch.run([
        'route add 198.19.0.1/32 via 198.18.0.2 proto 201',
        'route add 198.19.0.1/32 via 198.18.0.2 proto 201',
        'route add 198.19.0.2/32 via 198.18.0.2 proto 201',
      ]);
      expect(first.lost).toBe(false);
      expect(first.failures).toEqual([{ index: 1, line: 'route add 198.19.0.1/32 via 198.18.0.2 proto 201', message: 'RTNETLINK answers: File exists' }]);
      // Done means done: the routes are there as soon as the promise resolves.
      expect(sh('route', 'show', 'proto', '201')).toContain('198.19.0.2 via 198.18.0.2');

      // Line numbers keep counting in the same child; indexes stay per batch.
      const pid = batch.pid;
      const second = await Promise.all([
        batch.run(['route del 198.19.0.9/32 proto 201', 'route del 198.19.0.1/32 proto 201']),
        batch.run(['route del 198.19.0.2/32 proto 201', 'route del 198.19.0.2/32 proto 201']),
      ]);
      expect(batch.pid).toBe(pid);
      expect(second.map((o) => o.failures.map((f) => [f.index, f.message]))).toEqual([
        [[0, 'RTNETLINK answers: No such process']],
        [[1, 'RTNETLINK answers: No such process']],
      ]);
      expect(sh('route', 'show', 'proto', '201')).toBe('');
    } finally {
      await batch.close();
    }
    expect(batch.pid).toBeUndefined();
  });

  it('reports a batch as lost when the child dies, and starts another for the next one', async () => {
    const exits: (number | null)[] = [];
    const batch = new IpBatch({ netns: ns, onExit: (i) => exits.push(i.code) });
    try {
      const lines: string[] = [];
      for (let i = 0; i < 5000; i++) lines.push(`route replace 198.19.${16 + (i >> 8)}.${i & 255}/32 via 198.18.0.2 proto 201`);
      const pending = batch.run(lines);
      const pid = batch.pid as number;
      process.kill(pid, 'SIGKILL');
      expect((await pending).lost).toBe(true);
      expect(exits).toHaveLength(1);
      const next = await batch.run(['route replace 198.19.15.1/32 via 198.18.0.2 proto 201']);
      expect(next).toEqual({ failures: [], lost: false });
      expect(batch.pid).not.toBe(pid);
    } finally {
      await batch.close();
      sh('route', 'flush', 'proto', '201');
    }
  });

  it('reports a namespace that does not exist as lost batches, not a hang', async () => {
    const batch = new IpBatch({ netns: `${ns}-missing` });
    try {
      expect((await batch.run(['route show'])).lost).toBe(true);
    } finally {
      await batch.close();
    }
  });
});
