// The controller's wall clock jumps (libfaketime in a real terrace-controller process; the
// monotonic clock stays real, as in a real clock step). Grace periods and leadership validity
// are measured on the monotonic clock, so a jump forward by ten minutes while a node is briefly
// away must not end its grace period and free its addresses, and a jump back by ten minutes
// must neither stall the passes nor stretch a dead node's grace period by those ten minutes.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from '@jest/globals';
import type { ControllerStatus } from '@terrace/api';
import { LIBFAKETIME, type RestartableEtcd, fakedClockEnv, restartableEtcd, setFakedClock, sharedEtcdEndpoint, uniqueCluster } from '@terrace/testkit';
import { Keys } from '@terrace/datastore';
import { Allocator } from '@terrace/ipam';
import { readStatus } from '../src/status.js';
import { type Harness, harness, pool, sleep, waitFor } from './fixtures.js';

const BIN = fileURLToPath(new URL('../../../../bin/terrace-controller', import.meta.url));

let h: Harness | undefined;
let child: ChildProcess | undefined;
let dir: string | undefined;

/** A private etcd a test stops (SIGSTOP); resumed and removed after it. */
let etcdToFree: RestartableEtcd | undefined;

afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const gone = new Promise<void>((r) => child?.once('exit', () => r()));
    child.kill('SIGKILL');
    await gone;
  }
  child = undefined;
  await h?.close();
  h = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  const pid = etcdToFree?.pid();
  if (pid) process.kill(pid, 'SIGCONT');
  await etcdToFree?.remove();
  etcdToFree = undefined;
});

/** A terrace-controller whose wall clock follows `clockFile` (a libfaketime offset such as `+10m`). */
function fakedController(x: Pick<Harness, 'keys'>, clockFile: string, args: readonly string[], endpoint = sharedEtcdEndpoint()): { lines: string[] } {
  const lines: string[] = [];
  // Metrics on a free port of loopback: the default port is the same for every controller on this host.
  child = spawn(process.execPath, [BIN, '--etcd-endpoints', endpoint, '--cluster', x.keys.cluster, '--log-format', 'json', '--metrics-listen', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: fakedClockEnv(clockFile),
  });
  let buf = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    lines.push(...parts);
  });
  return { lines };
}

async function nodeState(x: Harness, node: string): Promise<ControllerStatus['nodes'][number] | undefined> {
  return (await readStatus(x.etcd, x.keys))?.nodes.find((n) => n.node === node);
}

describe('wall clock jumps', () => {
  test('forward by ten minutes while a node is briefly away: its grace period does not end early', async () => {
    expect(existsSync(LIBFAKETIME)).toBe(true);
    h = harness('ctl-clock-fwd');
    const x = h;
    dir = mkdtempSync(join(tmpdir(), 'terrace-clock-'));
    const clock = join(dir, 'clock');
    await x.store.create(pool('p', '10.76.0.0/24', 28));
    await x.aliveNode('n1');
    const n2 = await x.aliveNode('n2');
    const alloc = new Allocator({ etcd: x.etcd, keys: x.keys, cacheTtlMs: 0 });
    const ip = (await alloc.allocate({ handle: 'n2-pod', node: 'n2' })).ips[0]?.ip as string;
    const { lines } = fakedController(x, clock, ['--identity', 'ctl-faked', '--node-grace', '20s', '--interval', '300ms', '--lease-ttl', '3s']);
    await waitFor('the controller to lead and report', async () => (await readStatus(x.etcd, x.keys))?.leader === 'ctl-faked', 20_000);

    await n2.revoke();
    await waitFor('n2 in its grace period', async () => (await nodeState(x, 'n2'))?.state === 'grace', 10_000);
    setFakedClock(clock, '+10m');
    // Many passes with the clock ten minutes ahead of when n2 went.
    await sleep(3000);
    await x.aliveNode('n2');
    await waitFor('n2 alive again', async () => (await nodeState(x, 'n2'))?.state === 'alive', 10_000);

    expect((await alloc.lookup(ip))?.node).toBe('n2');
    expect(lines.filter((l) => l.includes('address freed') || l.includes('releasing dead node'))).toEqual([]);
    // The record still shows wall-clock times, in the jumped clock's terms.
    const s = await readStatus(x.etcd, x.keys);
    expect(Date.parse(s?.lastPass ?? '') - Date.now()).toBeGreaterThan(9 * 60_000);
  }, 60_000);

  test('back by ten minutes under the leader: it keeps leading, passes keep coming, a dead node is freed after its grace', async () => {
    expect(existsSync(LIBFAKETIME)).toBe(true);
    h = harness('ctl-clock-back');
    const x = h;
    dir = mkdtempSync(join(tmpdir(), 'terrace-clock-'));
    const clock = join(dir, 'clock');
    await x.store.create(pool('p', '10.77.0.0/24', 28));
    await x.aliveNode('n1');
    const n2 = await x.aliveNode('n2');
    const alloc = new Allocator({ etcd: x.etcd, keys: x.keys, cacheTtlMs: 0 });
    const ip = (await alloc.allocate({ handle: 'n2-pod', node: 'n2' })).ips[0]?.ip as string;
    const { lines } = fakedController(x, clock, ['--identity', 'ctl-faked', '--node-grace', '5s', '--interval', '300ms', '--lease-ttl', '3s']);
    await waitFor('the controller to lead and report', async () => (await readStatus(x.etcd, x.keys))?.leader === 'ctl-faked', 20_000);
    // A standby on the real clock: it must never be elected while the faked leader runs.
    const standby = await x.startController('ctl-standby', { leaseTtlSeconds: 3, intervalMs: 300, nodeGraceMs: 5000 });
    let standbyLed = false;
    standby.c.on('elected', () => (standbyLed = true));

    // n2 dies before the jump: its grace period started on the old clock.
    await n2.revoke();
    await waitFor('n2 in its grace period', async () => (await nodeState(x, 'n2'))?.state === 'grace', 10_000);
    setFakedClock(clock, '-10m');
    const jumped = Date.now();
    const before = (await readStatus(x.etcd, x.keys))?.passes ?? 0;

    // Freed about five seconds after it went, not ten minutes and five seconds.
    await waitFor('n2 freed', async () => (await alloc.lookup(ip)) === undefined, 40_000);
    const freedAfter = Date.now() - jumped;
    console.log(`clock set back: n2 freed ${freedAfter} ms after the jump (grace 5 s, started before it)`);
    expect(freedAfter).toBeLessThan(40_000);
    // Passes kept coming at their interval (several a second), on the jumped clock.
    await waitFor('more passes', async () => ((await readStatus(x.etcd, x.keys))?.passes ?? 0) >= before + 10, 20_000);
    const s = await readStatus(x.etcd, x.keys);
    expect(s?.leader).toBe('ctl-faked');
    expect(Date.now() - Date.parse(s?.lastPass ?? '')).toBeGreaterThan(9 * 60_000);
    expect(lines.filter((l) => l.includes('leadership lost') || l.includes('campaigning again'))).toEqual([]);
    expect(lines.filter((l) => l.includes('elected leader'))).toHaveLength(1);
    expect(standbyLed).toBe(false);
    expect(standby.c.isLeader()).toBe(false);
  }, 90_000);

  test("the last pass's age in the metrics does not jump with the clock", async () => {
    h = harness('ctl-clock-age');
    const x = h;
    dir = mkdtempSync(join(tmpdir(), 'terrace-clock-'));
    const clock = join(dir, 'clock');
    // Passes far apart, so that no pass comes between a jump and the scrape after it.
    const { lines } = fakedController(x, clock, ['--identity', 'ctl-faked', '--interval', '1m', '--lease-ttl', '3s']);
    await waitFor('the controller to lead and report', async () => (await readStatus(x.etcd, x.keys))?.leader === 'ctl-faked', 20_000);
    const running = lines.map((l) => JSON.parse(l) as { message?: string; metrics?: string }).find((l) => l.message === 'controller running');
    const age = async (): Promise<number> => {
      const text = await (await fetch(`http://${running?.metrics ?? ''}/metrics`)).text();
      return Number(/^terrace_controller_last_pass_age_seconds\{[^}]*\} (\S+)$/m.exec(text)?.[1]);
    };
    const before = await age();
    expect(before).toBeGreaterThanOrEqual(0);
    expect(before).toBeLessThan(50);
    for (const offset of ['+10m', '-10m']) {
      setFakedClock(clock, offset);
      const a = await age();
      expect({ offset, age: a >= 0 && a < 50 }).toEqual({ offset, age: true });
    }
    expect((await readStatus(x.etcd, x.keys))?.passes).toBe(1);
  }, 60_000);

  test('back by ten minutes just as etcd stops answering: the leader steps down within its lease, not ten minutes later', async () => {
    const r = await restartableEtcd('ctl-clock-cut');
    etcdToFree = r;
    dir = mkdtempSync(join(tmpdir(), 'terrace-clock-'));
    const clock = join(dir, 'clock');
    const { lines } = fakedController({ keys: new Keys(uniqueCluster('ctl-clock-cut')) }, clock, ['--identity', 'ctl-faked', '--interval', '300ms', '--lease-ttl', '3s'], r.endpoint);
    await waitFor('the controller to lead', () => lines.some((l) => l.includes('elected leader')), 20_000);
    await sleep(1000);
    // etcd hangs (as behind a cut link), then the clock goes back: every renewal and confirmation
    // before this moment was read on the old clock.
    process.kill(r.pid() as number, 'SIGSTOP');
    setFakedClock(clock, '-10m');
    const hung = Date.now();
    await waitFor('leadership lost', () => lines.some((l) => l.includes('leadership lost')), 30_000);
    console.log(`clock set back as etcd hung: leadership given up ${Date.now() - hung} ms later (lease TTL 3 s)`);
    expect(lines.filter((l) => l.includes('leadership lost'))[0]).toContain('could not confirm the leadership before the election lease ran out');
  }, 60_000);

  test('the status page is rebuilt at its tick after the clock is set back', async () => {
    h = harness('ctl-clock-page');
    const x = h;
    dir = mkdtempSync(join(tmpdir(), 'terrace-clock-'));
    const clock = join(dir, 'clock');
    // Passes far apart: nothing marks the page's state changed, only its tick rebuilds it.
    const { lines } = fakedController(x, clock, ['--identity', 'ctl-faked', '--interval', '1m', '--lease-ttl', '3s', '--status-listen', '127.0.0.1:0']);
    await waitFor('the controller to lead and report', async () => (await readStatus(x.etcd, x.keys))?.leader === 'ctl-faked', 20_000);
    await waitFor('the page', () => lines.some((l) => l.includes('status page listening')), 10_000);
    const url = (JSON.parse(lines.find((l) => l.includes('status page listening')) ?? '{}') as { url?: string }).url ?? '';
    const generatedAt = async (): Promise<number> => Date.parse(((await (await fetch(`${url}api/state`)).json()) as { generatedAt: string }).generatedAt);
    await sleep(500);
    expect(Math.abs((await generatedAt()) - Date.now())).toBeLessThan(60_000);
    setFakedClock(clock, '-10m');
    // The tick is 2 s: a state built after the step shows the new clock.
    await waitFor('a state built on the new clock', async () => Date.now() - (await generatedAt()) > 9 * 60_000, 15_000);
  }, 60_000);
});
