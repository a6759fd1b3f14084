// The netlink relay against the kernel. Every route form RouteSync can ask
// for is installed twice, by iproute2 (`ip -batch`) in one namespace and by
// our encoder through the relay in a twin namespace; the two kernels must
// then print the same routes. Failures, frames and a dying relay are checked
// on the kernel's own answers.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseCidr, parseIP, packCidr, prefixFamily } from '@terrace/api';
import { createLab, type Lab } from '@terrace/testkit';
import { execFileSync } from 'node:child_process';
import {
  blackholeRoute,
  canonMatches,
  canonOf,
  deviceRoute,
  replaceLine,
  deleteLine,
  RouteWriter,
  unicastRoute,
  type Route,
  type RouteOp,
} from '../src/index.js';

const c = parseCidr;
const ip = parseIP;
let lab: Lab;
let viaIp: string;
let viaRelay: string;

const sh = (ns: string, ...args: string[]): string => execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });

function setUp(ns: string): void {
  sh(ns, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb');
  sh(ns, 'addr', 'add', '198.18.0.1/24', 'dev', 'va');
  sh(ns, 'addr', 'add', '198.18.1.1/24', 'dev', 'vb');
  sh(ns, 'addr', 'add', '2001:db8::1/64', 'dev', 'va', 'nodad');
  sh(ns, 'link', 'set', 'va', 'up');
  sh(ns, 'link', 'set', 'vb', 'up');
}

/** Our routes in a namespace, both families, every table, as ip prints them. */
function routes(ns: string): string {
  return ['-4', '-6'].map((f) => sh(ns, '-d', f, 'route', 'show', 'proto', '201', 'table', 'all')).join('');
}

function flush(ns: string): void {
  sh(ns, 'route', 'flush', 'proto', '201', 'table', 'all');
  sh(ns, '-6', 'route', 'flush', 'proto', '201', 'table', 'all');
}

/** Routes in a dump: multipath routes continue on indented lines. */
const count = (dump: string): number => dump.split('\n').filter((l) => l !== '' && !l.startsWith('\t')).length;

/** Runs the same changes through `ip -force -batch` in one namespace and through the relay in the other. */
async function both(changes: ReadonlyArray<readonly [RouteOp, Route]>): Promise<void> {
  const lines = changes.map(([op, r]) => (op === 'del' ? deleteLine(r) : op === 'add' ? replaceLine(r).replace(/^route replace/, 'route add') : replaceLine(r)));
  execFileSync('ip', ['-n', viaIp, '-force', '-batch', '-'], { input: lines.join('\n') + '\n', stdio: ['pipe', 'ignore', 'ignore'] });
  const w = new RouteWriter({ netns: viaRelay });
  try {
    await w.run(changes.map(([op, r]) => [op, canonOf(r)] as const));
  } finally {
    await w.close();
  }
}

const gwA = ip('198.18.0.2');
const gwB = ip('198.18.1.2');

beforeAll(async () => {
  lab = await createLab({ tag: 'trr' });
  viaIp = await lab.addNamespace('byip');
  viaRelay = await lab.addNamespace('byrelay');
  setUp(viaIp);
  setUp(viaRelay);
});

afterAll(async () => {
  await lab?.destroy();
});

describe('RouteWriter: the kernel holds what iproute2 would have installed', () => {
  const forms: Route[] = [
    unicastRoute(c('198.19.0.1/32'), { via: gwA }),
    unicastRoute(c('198.19.0.2/32'), { via: gwB, dev: 'vb' }),
    unicastRoute(c('198.19.0.3/32'), { via: ip('203.0.113.9'), dev: 'va', onlink: true }),
    unicastRoute(c('198.19.1.0/24'), [{ via: gwA, weight: 3 }, { via: gwB }]),
    unicastRoute(c('198.19.2.0/24'), [{ via: gwA, dev: 'va', onlink: true }, { via: gwB, dev: 'vb', weight: 256 }]),
    deviceRoute(c('198.19.0.4/32'), 'vb'),
    unicastRoute(c('198.19.0.5/32'), [{ dev: 'va' }, { dev: 'vb' }]),
    blackholeRoute(c('198.19.3.0/24')),
    { kind: 'unreachable', dst: packCidr(c('198.19.4.0/24')) },
    { kind: 'prohibit', dst: packCidr(c('198.19.5.0/24')), metric: 7 },
    unicastRoute(c('198.19.6.0/24'), { via: gwA }, { table: 100, metric: 5, src: ip('198.18.0.1') }),
    blackholeRoute(c('198.19.7.0/24'), { table: 70000 }),
    unicastRoute(c('198.19.0.6/32'), { via: ip('fe80::1'), dev: 'va' }),
    unicastRoute(c('2001:db8:1::/64'), { via: ip('2001:db8::2') }),
    unicastRoute(c('2001:db8:2::/64'), [{ via: ip('2001:db8::3'), weight: 2 }, { via: ip('2001:db8::2'), dev: 'va' }]),
    unicastRoute(c('2001:db8:3::1/128'), { via: ip('fe80::2'), dev: 'vb' }, { metric: 10 }),
    deviceRoute(c('2001:db8:4::/64'), 'vb', { table: 300 }),
    blackholeRoute(c('2001:db8:5::/64')),
  ];

  afterAll(() => {
    flush(viaIp);
    flush(viaRelay);
  });

  it('installs every route form as ip does', async () => {
    await both(forms.map((r) => ['add', r] as const));
    const want = routes(viaIp);
    expect(count(want)).toBe(forms.length);
    expect(routes(viaRelay)).toBe(want);
  });

  it('reads back every route form, and only routes of our protocol, through the relay (netlink dumps)', async () => {
    sh(viaRelay, 'route', 'add', '198.19.9.0/24', 'via', '198.18.0.2', 'proto', 'static');
    sh(viaRelay, '-6', 'route', 'add', '2001:db8:9::/64', 'via', '2001:db8::2', 'proto', 'static');
    const w = new RouteWriter({ netns: viaRelay });
    try {
      const names = new Map<number, string>();
      const read = await w.readRoutes(names);
      expect([...names.values()].sort()).toEqual(['lo', 'va', 'vb']);
      expect(read?.map((r) => r.key).sort()).toEqual(forms.map((r) => canonOf(r).key).sort());
      const byKey = new Map(read?.map((r) => [r.key, r]));
      for (const r of forms) {
        const want = canonOf(r);
        const have = byKey.get(want.key);
        // As route sync compares them: a gateway without a device matches the device the kernel resolved.
        expect([want.key, have !== undefined && canonMatches(want, have)]).toEqual([want.key, true]);
      }
    } finally {
      await w.close();
      sh(viaRelay, 'route', 'del', '198.19.9.0/24');
      sh(viaRelay, '-6', 'route', 'del', '2001:db8:9::/64');
    }
  });

  it('replaces every route form as ip does', async () => {
    // Each route changes its gateway, device or kind in place.
    const changed: Route[] = forms.map((r) => (r.kind === 'unicast' && prefixFamily(r.dst) === 4 ? unicastRoute(r.dst, { via: gwB }, { table: r.table, metric: r.metric }) : r.kind === 'unicast' ? blackholeRoute(r.dst, { table: r.table, metric: r.metric }) : unicastRoute(r.dst, prefixFamily(r.dst) === 4 ? { via: gwA } : { via: ip('2001:db8::9') }, { table: r.table, metric: r.metric })));
    await both(changed.map((r) => ['replace', r] as const));
    const want = routes(viaIp);
    expect(count(want)).toBe(forms.length);
    expect(routes(viaRelay)).toBe(want);
  });

  it('deletes every route form as ip does', async () => {
    await both(forms.map((r) => ['del', r] as const));
    expect(routes(viaIp)).toBe('');
    expect(routes(viaRelay)).toBe('');
  });
});

describe('RouteWriter: answers', () => {
  let w: RouteWriter;
  const exits: Array<number | null> = [];
  const route = (i: number, via = gwA): Route => unicastRoute({ family: 4, base: BigInt(0xc6130000 + 0x4000 + i), prefix: 32 }, { via }); // 198.19.64.0 up

  beforeAll(() => {
    w = new RouteWriter({ netns: viaRelay, onExit: (i) => exits.push(i.code) });
  });

  afterAll(async () => {
    await w.close();
    flush(viaRelay);
  });

  it('reports each refused change by index and errno, in every frame, and applies the rest', async () => {
    // 1,000 changes: four frames. A duplicate add, an unreachable gateway and
    // a missing device fall in different frames.
    const changes: Array<readonly [RouteOp, Route]> = [];
    for (let i = 0; i < 1000; i++) changes.push(['add', route(i)]);
    changes[300] = ['add', route(299)];
    changes[600] = ['add', route(600, ip('198.18.9.9'))];
    changes[900] = ['add', deviceRoute(route(900).dst, 'nosuchdev')];
    const out = await w.run(changes.map(([op, r]) => [op, canonOf(r)] as const));
    expect(out.lost).toBe(false);
    expect(out.failures.map((f) => [f.index, f.code])).toEqual([
      [300, 'EEXIST'],
      [600, 'ENETUNREACH'],
      [900, 'ENODEV'],
    ]);
    expect(out.failures[0]?.line).toBe('route add 198.19.65.43 proto 201 via 198.18.0.2');
    expect(out.failures[1]?.message).toMatch(/^ENETUNREACH \(.*\): Nexthop has invalid gateway/);
    expect(out.failures[2]?.message).toBe('Cannot find device "nosuchdev"');
    // Done means done: everything else is in the kernel when the promise resolves.
    expect(sh(viaRelay, 'route', 'show', 'proto', '201').trim().split('\n')).toHaveLength(997);

    // A delete of a route that is not there is refused with ESRCH; the others go.
    const del = await w.run([
      ['del', canonOf(route(0))],
      ['del', canonOf(route(600))],
      ['del', canonOf(route(1))],
    ]);
    expect(del.failures.map((f) => [f.index, f.code])).toEqual([[1, 'ESRCH']]);
    expect(sh(viaRelay, 'route', 'show', '198.19.64.0', 'proto', '201')).toBe('');
  });

  it('resolves devices per batch, keeping the order of changes after one', async () => {
    // Add via a device, then delete and re-add the same route in later changes of the same batch.
    const r = deviceRoute(c('198.19.200.1/32'), 'vb');
    const out = await w.run([
      ['add', canonOf(route(5000))],
      ['add', canonOf(r)],
      ['del', canonOf(r)],
      ['add', canonOf(deviceRoute(c('198.19.200.1/32'), 'va'))],
    ]);
    expect(out).toEqual({ failures: [], lost: false });
    expect(sh(viaRelay, 'route', 'show', '198.19.200.1', 'proto', '201').trim()).toBe('198.19.200.1 dev va scope link');
  });

  it('maps refusals to their changes across the 32-bit sequence wrap', async () => {
    // The next batch's sequence numbers run from 2^32 - 4 through 0 and on.
    (w as unknown as { seq: number }).seq = 0xffffffff - 4;
    const changes: Array<readonly [RouteOp, Route]> = [];
    for (let i = 0; i < 8; i++) changes.push(['add', route(6000 + i)]);
    changes[1] = ['add', route(6000)]; // seq 2^32 - 3
    changes[6] = ['add', route(6005)]; // seq 2
    const out = await w.run(changes.map(([op, r]) => [op, canonOf(r)] as const));
    expect(out.failures.map((f) => [f.index, f.code])).toEqual([
      [1, 'EEXIST'],
      [6, 'EEXIST'],
    ]);
  });

  it('deletes the IPv6 route of the metric asked for, the default included', async () => {
    const dst = c('2001:db8:77::/64');
    const out = await w.run([
      ['add', canonOf(blackholeRoute(dst, { metric: 10 }))],
      ['add', canonOf(blackholeRoute(dst))],
      ['del', canonOf(blackholeRoute(dst))],
    ]);
    expect(out).toEqual({ failures: [], lost: false });
    expect(sh(viaRelay, '-6', 'route', 'show', '2001:db8:77::/64', 'proto', '201', 'type', 'blackhole').trim()).toMatch(/metric 10 /);
    expect(sh(viaRelay, '-6', 'route', 'show', '2001:db8:77::/64', 'proto', '201', 'type', 'blackhole').trim().split('\n')).toHaveLength(1);
  });

  it('allows one open batch at a time', async () => {
    const b = w.begin();
    expect(() => w.begin()).toThrow(/already open/);
    await b.end();
    await w.run([]);
  });

  it('looks up more devices than fit in one frame', async () => {
    // 150 veth pairs: 300 devices, more than the 256 names asked per frame.
    const lines: string[] = [];
    for (let i = 0; i < 150; i++) lines.push(`link add dv${i}a type veth peer name dv${i}b`, `link set dv${i}a up`, `link set dv${i}b up`);
    execFileSync('ip', ['-n', viaRelay, '-batch', '-'], { input: lines.join('\n') + '\n' });
    const changes = [];
    for (let i = 0; i < 300; i++) {
      const dev = `dv${i >> 1}${i % 2 ? 'b' : 'a'}`;
      changes.push(['add', canonOf(deviceRoute({ family: 4, base: BigInt(0xc613d200 + i), prefix: 32 }, dev))] as const); // 198.19.210.0 up
    }
    const out = await w.run(changes);
    expect(out).toEqual({ failures: [], lost: false });
    expect(sh(viaRelay, 'route', 'show', '198.19.211.43', 'proto', '201').trim()).toBe('198.19.211.43 dev dv149b scope link');
    expect(sh(viaRelay, 'route', 'show', 'proto', '201', 'scope', 'link').trim().split('\n').length).toBeGreaterThanOrEqual(300);
  });

  it('reports a batch the relay did not confirm as lost, and starts another relay for the next', async () => {
    const pid = w.pid as number;
    expect(pid).toBeDefined();
    process.kill(pid, 'SIGSTOP');
    const pending = w.run([['add', canonOf(route(7000))]]);
    process.kill(pid, 'SIGKILL');
    expect(await pending).toEqual({ failures: [], lost: true });
    expect(exits).toHaveLength(1);
    const next = await w.run([['add', canonOf(route(7001))]]);
    expect(next).toEqual({ failures: [], lost: false });
    expect(w.pid).not.toBe(pid);
  });

  it('names the cause when the relay cannot start', async () => {
    const why: string[] = [];
    const bad = new RouteWriter({ netns: `${viaRelay}-missing`, onExit: (i) => why.push(i.stderr) });
    try {
      expect(await bad.run([['add', canonOf(route(1))]])).toEqual({ failures: [], lost: true });
    } finally {
      await bad.close();
    }
    expect(why.join('\n')).toMatch(/missing/);
  });
});
