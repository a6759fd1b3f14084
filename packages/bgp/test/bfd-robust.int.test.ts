/**
 * BFD sessions run by the agent's BfdManager must not mistake their own
 * process's troubles for a path failure, nor miss a real one because the
 * wall clock moved. Both ends are BfdManagers in processes of their own
 * (bfd-child.ts), in two network namespaces on one bridge:
 *
 *   x (198.18.0.21, the session under test) ── bridge ── y (198.18.0.22, its peer)
 *
 * x detects y after 3 × 50 ms; y detects x only after 100 × 50 ms, so y
 * stays Up while x is stalled and keeps sending.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLab, fakedClockEnv, listNamespaces, onProcessExit, setFakedClock, waitFor, type Lab } from '@terrace/testkit';
import type { BfdChange } from '../src/bfd/manager.js';

const CHILD = fileURLToPath(new URL('./bfd-child.js', import.meta.url));
const X = '198.18.0.21';
const Y = '198.18.0.22';

interface Child {
  proc: ChildProcess;
  lines: string[];
  changes(): BfdChange[];
}

let lab: Lab;
let dir: string;
let nsX: string;
let nsY: string;
const children: Child[] = [];

function start(ns: string, peer: string, multiplier: number, env: NodeJS.ProcessEnv = process.env): Child {
  const proc = spawn(process.execPath, [CHILD, ns, peer, '50', String(multiplier)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buf = '';
  proc.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    lines.push(...parts);
  });
  proc.stderr?.on('data', (d: Buffer) => lines.push(`stderr: ${d.toString().trim()}`));
  const c: Child = { proc, lines, changes: () => lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as BfdChange) };
  children.push(c);
  return c;
}

const isUp = (c: Child): boolean => c.changes().some((ch) => ch.to === 'up');

beforeAll(async () => {
  lab = await createLab({ tag: 'tbfdr' });
  dir = mkdtempSync(join(tmpdir(), 'terrace-bfd-robust-'));
  onProcessExit(() => rmSync(dir, { recursive: true, force: true }));
  const bridge = await lab.addBridge();
  nsX = await lab.addNamespace('x');
  nsY = await lab.addNamespace('y');
  await lab.connect(nsX, bridge, `${X}/24`);
  await lab.connect(nsY, bridge, `${Y}/24`);
}, 60000);

afterEach(async () => {
  await Promise.all(
    children.splice(0).map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.proc.exitCode !== null || c.proc.signalCode !== null) return resolve();
          c.proc.once('exit', () => resolve());
          c.proc.kill('SIGKILL');
        }),
    ),
  );
});

afterAll(async () => {
  const prefix = lab?.prefix;
  await lab?.destroy();
  rmSync(dir, { recursive: true, force: true });
  if (prefix) expect(await listNamespaces(prefix)).toEqual([]);
}, 30000);

describe('BFD run by the agent', () => {
  it('a stall of its own process longer than the detection time does not take the session down: the packets that waited are read first', async () => {
    const x = start(nsX, Y, 100);
    const y = start(nsY, X, 3);
    await waitFor('both ends Up', () => isUp(x) && isUp(y), 20000);
    x.proc.kill('SIGUSR2'); // 800 ms without running anything else, against a 150 ms detection time
    await waitFor('x to finish its stall', () => x.lines.includes('stalled'), 10000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(x.changes().filter((c) => c.from === 'up')).toEqual([]);
    expect(y.changes().filter((c) => c.from === 'up')).toEqual([]);
  }, 60000);

  it('the wall clock put back just as the peer dies: the failure is still detected within the detection time, not ten minutes later', async () => {
    const clock = join(dir, 'clock');
    const x = start(nsX, Y, 100, fakedClockEnv(clock));
    const y = start(nsY, X, 3);
    await waitFor('both ends Up', () => isUp(x) && isUp(y), 20000);
    // y dies without a word (no AdminDown), and x's clock goes back before its detection timer runs.
    y.proc.kill('SIGKILL');
    setFakedClock(clock, '-10m');
    await waitFor('x to declare y Down', () => x.changes().some((c) => c.from === 'up' && c.to === 'down'), 10000);
    expect(x.changes().find((c) => c.from === 'up')).toMatchObject({ address: Y, to: 'down', diag: 1 });
  }, 60000);
});
