/**
 * A BFD session (ours, BfdManager) whose host's wall clock is set back ten
 * minutes just as its peer falls silent: it must still go Down after its
 * detection time, not ten minutes later. The session under test runs in a
 * process of its own under libfaketime (monotonic clock real, as in a real
 * clock step), in its own namespace; its peer is another BfdManager in this
 * process, on the real clock. Both run 1 s × 5, so the clock is certainly
 * set back inside the 5 s of silence.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LIBFAKETIME, createLab, fakedClockEnv, listNamespaces, setFakedClock, waitFor, type Daemon, type Lab } from '@terrace/testkit';
import { BfdManager, type BfdChange } from '../src/bfd/manager.js';

const PEER_SCRIPT = fileURLToPath(new URL('./bfd-clock-peer.js', import.meta.url));
const A = '198.18.0.21';
const B = '198.18.0.22';
const TIMERS = { intervalMs: 1000, multiplier: 5 };

let lab: Lab;
let dir: string;
let nsA: string;
let ifA: string;
let a: BfdManager | undefined;
let b: Daemon;
let clock: string;
const seenByA: BfdChange[] = [];

/** The state changes the faked session printed so far. */
function changesOfB(): BfdChange[] {
  return b
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as BfdChange);
}

beforeAll(async () => {
  expect(existsSync(LIBFAKETIME)).toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'terrace-bfd-clock-'));
  clock = join(dir, 'clock');
  lab = await createLab({ tag: 'tbclk' });
  const fabric = await lab.addBridge();
  nsA = await lab.addNamespace('a');
  const nsB = await lab.addNamespace('b');
  ifA = await lab.connect(nsA, fabric, `${A}/24`);
  await lab.connect(nsB, fabric, `${B}/24`);
  a = new BfdManager({ netns: nsA, onChange: (c) => seenByA.push(c) });
  await a.setPeers([{ address: B, localAddress: A, ...TIMERS }]);
  b = lab.startDaemon(nsB, {
    name: 'bfd peer (faked clock)',
    command: process.execPath,
    args: [PEER_SCRIPT, A, B, String(TIMERS.intervalMs), String(TIMERS.multiplier)],
    env: fakedClockEnv(clock),
  });
}, 60000);

afterAll(async () => {
  await a?.close();
  await b?.stop();
  const prefix = lab?.prefix;
  await lab?.destroy();
  rmSync(dir, { recursive: true, force: true });
  if (prefix) expect(await listNamespaces(prefix)).toEqual([]);
}, 30000);

describe('BFD when the wall clock is set back', () => {
  it('the session still goes Down by detection time', async () => {
    await waitFor('both ends Up', () => seenByA.some((c) => c.to === 'up') && changesOfB().some((c) => c.to === 'up'), 30000, 100);
    // The peer falls silent (its link goes down), then the clock goes back ten minutes.
    await lab.exec(nsA, 'ip', ['link', 'set', 'dev', ifA, 'down']);
    setFakedClock(clock, '-10m');
    const cut = performance.now();
    const down = await waitFor('the faked end Down', () => changesOfB().find((c) => c.from === 'up' && c.to === 'down'), 30000, 100);
    // Detection time expired (diag 1), a few seconds after the cut, not ten minutes.
    console.log(`clock set back in the silence: Down ${Math.round(performance.now() - cut)} ms after the cut (detection time 5 s)`);
    expect(down.diag).toBe(1);
    expect(performance.now() - cut).toBeLessThan(30000);
  }, 60000);
});
