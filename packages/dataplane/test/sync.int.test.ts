// RouteSync against the kernel, in a scratch namespace with a veth pair whose
// ends carry 198.18.0.1/24 (va) and 198.18.1.1/24 (vb), so gateways resolve.
// The kernel's state is checked with `ip -j`, not with our own parser.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseCidr, parseIP } from '@terrace/api';
import { createLab, type Lab } from '@terrace/testkit';
import { execFile } from 'node:child_process';
import fc from 'fast-check';
import { blackholeRoute, deviceRoute, RouteSync, unicastRoute, type Route, type RouteId, type RouteSyncLogger, type RouteWriter } from '../src/index.js';

const c = parseCidr;
const ip = parseIP;
let lab: Lab;
let ns: string;

function sh(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['-n', ns, ...args], { maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`ip ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    );
  });
}

interface JsonHop {
  gateway?: string;
  dev?: string;
  weight?: number;
}
interface JsonRoute extends JsonHop {
  type?: string;
  dst: string;
  table?: string;
  metric?: number;
  protocol?: string;
  nexthops?: JsonHop[];
}

const hop = (h: JsonHop): string => [h.gateway && `via ${h.gateway}`, h.dev && `dev ${h.dev}`, h.weight && h.weight !== 1 ? `weight ${h.weight}` : ''].filter(Boolean).join(' ');

/** Routes of one protocol (default ours), both families, every table, as sorted one-line summaries. */
async function kernel(proto = '201'): Promise<string[]> {
  const out: string[] = [];
  for (const fam of ['-4', '-6']) {
    const routes = JSON.parse(await sh('-j', '-N', fam, 'route', 'show', 'proto', proto, 'table', 'all')) as JsonRoute[];
    for (const r of routes) {
      const parts = [r.type && r.type !== 'unicast' && r.type !== '1' ? (r.type === '6' ? 'blackhole' : r.type) : '', r.dst];
      if (r.table && r.table !== 'main' && r.table !== '254') parts.push(`table ${r.table}`);
      if (r.metric && !(fam === '-6' && r.metric === 1024)) parts.push(`metric ${r.metric}`);
      if (r.nexthops) parts.push(r.nexthops.map(hop).sort().join(' + '));
      else if (r.type !== 'blackhole' && r.type !== '6') parts.push(hop(r));
      out.push(parts.filter(Boolean).join(' '));
    }
  }
  return out.sort();
}

class Recorder implements RouteSyncLogger {
  readonly lines: string[] = [];
  debug(): void {}
  info(): void {}
  warn(m: string, meta?: Record<string, unknown>): void {
    this.lines.push(`${m} ${JSON.stringify(meta ?? {})}`);
  }
  error(m: string, meta?: Record<string, unknown>): void {
    this.lines.push(`${m} ${JSON.stringify(meta ?? {})}`);
  }
}

async function withSync(
  fn: (sync: RouteSync, log: Recorder) => Promise<void>,
  resyncIntervalMs = 0,
  holdStale = false,
  ignoreProtocols: readonly number[] = [],
): Promise<void> {
  const log = new Recorder();
  const sync = new RouteSync({ netns: ns, logger: log, resyncIntervalMs, holdStale, ignoreProtocols });
  try {
    await fn(sync, log);
  } finally {
    await sync.close();
    await sh('route', 'flush', 'proto', '201', 'table', 'all');
    await sh('-6', 'route', 'flush', 'proto', '201', 'table', 'all');
  }
}

async function until(what: string, check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const gwA = ip('198.18.0.2');
const gwB = ip('198.18.1.2');

beforeAll(async () => {
  lab = await createLab({ tag: 'trs' });
  ns = await lab.addNamespace('routes');
  await sh('link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb');
  await sh('addr', 'add', '198.18.0.1/24', 'dev', 'va');
  await sh('addr', 'add', '198.18.1.1/24', 'dev', 'vb');
  await sh('addr', 'add', '2001:db8::1/64', 'dev', 'va', 'nodad');
  await sh('link', 'set', 'va', 'up');
  await sh('link', 'set', 'vb', 'up');
});

afterAll(async () => {
  await lab?.destroy();
});

describe('RouteSync', () => {
  it('installs, replaces and removes plain, multipath, device, blackhole and IPv6 routes', async () => {
    await withSync(async (sync) => {
      sync.setDesired([
        unicastRoute(c('198.19.0.1/32'), { via: gwA }),
        unicastRoute(c('198.19.0.2/32'), [{ via: gwA }, { via: gwB, weight: 2 }]),
        deviceRoute(c('198.19.0.3/32'), 'vb'),
        unicastRoute(c('198.19.0.4/32'), { via: gwB }, { table: 100, metric: 5 }),
        blackholeRoute(c('198.19.1.0/26')),
        unicastRoute(c('2001:db8:1::/64'), { via: ip('2001:db8::2') }),
        unicastRoute(c('2001:db8:2::/64'), [{ via: ip('2001:db8::2') }, { via: ip('2001:db8::3') }]),
        blackholeRoute(c('2001:db8:3::/64')),
      ]);
      await sync.flush();
      expect(await kernel()).toEqual([
        '198.19.0.1 via 198.18.0.2 dev va',
        '198.19.0.2 via 198.18.0.2 dev va + via 198.18.1.2 dev vb weight 2',
        '198.19.0.3 dev vb',
        '198.19.0.4 table 100 metric 5 via 198.18.1.2 dev vb',
        '2001:db8:1::/64 via 2001:db8::2 dev va',
        '2001:db8:2::/64 via 2001:db8::2 dev va + via 2001:db8::3 dev va',
        'blackhole 198.19.1.0/26',
        'blackhole 2001:db8:3::/64',
      ]);

      // Changes between resyncs: a new gateway, one path fewer, a blackhole turned unicast, a removal.
      sync.upsert([
        unicastRoute(c('198.19.0.1/32'), { via: gwB }),
        unicastRoute(c('2001:db8:2::/64'), { via: ip('2001:db8::3') }),
        unicastRoute(c('198.19.1.0/26'), { via: gwA }),
      ]);
      sync.remove([c('198.19.0.3/32'), { dst: c('198.19.0.4/32'), table: 100, metric: 5 }]);
      await sync.flush();
      expect(await kernel()).toEqual([
        '198.19.0.1 via 198.18.1.2 dev vb',
        '198.19.0.2 via 198.18.0.2 dev va + via 198.18.1.2 dev vb weight 2',
        '198.19.1.0/26 via 198.18.0.2 dev va',
        '2001:db8:1::/64 via 2001:db8::2 dev va',
        '2001:db8:2::/64 via 2001:db8::3 dev va',
        'blackhole 2001:db8:3::/64',
      ]);

      // The whole set again, smaller: what is not in it goes.
      sync.setDesired([unicastRoute(c('2001:db8:1::/64'), { via: ip('2001:db8::2') })]);
      await sync.flush();
      expect(await kernel()).toEqual(['2001:db8:1::/64 via 2001:db8::2 dev va']);
      const report = await sync.resync();
      expect(report).toMatchObject({ kernelRoutes: 1, replaced: 0, removed: 0, failed: 0 });
    });
  });

  it('never touches routes of another protocol, even one with the identity of a desired route', async () => {
    await sh('route', 'add', '198.19.5.0/24', 'via', '198.18.0.2', 'proto', 'static');
    await sh('route', 'add', '198.19.6.0/24', 'via', '198.18.1.2', 'proto', '16'); // dhcp
    await sh('route', 'add', '198.19.7.0/24', 'via', '198.18.0.2', 'proto', 'static');
    await sh('route', 'add', '198.19.8.0/24', 'via', '198.18.1.2', 'proto', 'static', 'metric', '50');
    await sh('-6', 'route', 'add', '2001:db8:5::/64', 'via', '2001:db8::2', 'proto', 'static');
    // static is protocol 4.
    const foreign = async (): Promise<string[]> => [...(await kernel('4')), ...(await kernel('16'))];
    const before = await foreign();
    expect(before).toHaveLength(5);
    try {
      await withSync(async (sync, log) => {
        sync.setDesired([
          // Same table, destination and metric as a static route: must not take it over.
          unicastRoute(c('198.19.7.0/24'), { via: gwB }),
          // Same destination, other metric: both live side by side.
          unicastRoute(c('198.19.8.0/24'), { via: gwA }),
          unicastRoute(c('2001:db8:5::/64'), { via: ip('2001:db8::3') }, { metric: 10 }),
        ]);
        await sync.flush();
        expect(await foreign()).toEqual(before);
        expect(await kernel()).toEqual(['198.19.8.0/24 via 198.18.0.2 dev va', '2001:db8:5::/64 metric 10 via 2001:db8::3 dev va']);
        expect(log.lines.join('\n')).toMatch(/not installed: a route we did not install .*198\.19\.7\.0\/24/);

        await sync.resync();
        expect(await foreign()).toEqual(before);
        sync.upsert([unicastRoute(c('198.19.7.0/24'), { via: gwA })]);
        sync.remove([c('198.19.8.0/24'), { dst: c('2001:db8:5::/64'), metric: 10 }, c('198.19.5.0/24'), c('198.19.6.0/24')]);
        await sync.flush();
        sync.setDesired([]);
        await sync.flush();
        await sync.resync();
        expect(await kernel()).toEqual([]);
        expect(await foreign()).toEqual(before);
      });
    } finally {
      for (const d of ['198.19.5.0/24', '198.19.6.0/24', '198.19.7.0/24', '198.19.8.0/24', '2001:db8:5::/64']) await sh('route', 'del', d).catch(() => undefined);
    }
  });

  it('repairs drift on resync (with the kernel listener stopped): a deleted, a changed and a stray route of ours', async () => {
    await withSync(async (sync) => {
      const routes: Route[] = [];
      for (let i = 1; i <= 20; i++) routes.push(unicastRoute(c(`198.19.2.${i}/32`), { via: gwA }));
      sync.setDesired(routes);
      await sync.flush();
      expect(await kernel()).toHaveLength(20);
      // Announcements wait in its socket: only the resync can see the drift.
      const listener = sync.listenerPid as number;
      process.kill(listener, 'SIGSTOP');
      try {
        await sh('route', 'del', '198.19.2.3/32', 'proto', '201');
        await sh('route', 'replace', '198.19.2.4/32', 'via', '198.18.1.2', 'proto', '201');
        await sh('route', 'add', '198.19.2.99/32', 'via', '198.18.1.2', 'proto', '201');
        const report = await sync.resync();
        expect(report).toMatchObject({ kernelRoutes: 20, replaced: 2, removed: 1, failed: 0 });
      } finally {
        process.kill(listener, 'SIGCONT');
      }
      // The late announcements of those hand edits and of the repairs change nothing.
      await new Promise((r) => setTimeout(r, 200));
      await sync.flush();
      const after = await kernel();
      expect(after).toHaveLength(20);
      expect(after).toContain('198.19.2.3 via 198.18.0.2 dev va');
      expect(after).toContain('198.19.2.4 via 198.18.0.2 dev va');
      expect(after.some((l) => l.startsWith('198.19.2.99 '))).toBe(false);
    });
  });

  it('puts back a route of ours deleted or changed by hand, with no resync timer', async () => {
    await withSync(async (sync, log) => {
      sync.setDesired([
        unicastRoute(c('198.19.10.1/32'), { via: gwA }),
        unicastRoute(c('198.19.10.2/32'), [{ via: gwA }, { via: gwB }]),
        deviceRoute(c('198.19.10.3/32'), 'vb'),
        unicastRoute(c('2001:db8:10::/64'), { via: ip('2001:db8::2') }),
      ]);
      await sync.flush();
      const want = await kernel();
      expect(want).toHaveLength(4);
      await sh('route', 'del', '198.19.10.1/32', 'proto', '201');
      await sh('route', 'del', '198.19.10.2/32', 'proto', '201');
      await sh('route', 'replace', '198.19.10.3/32', 'via', '198.18.0.2', 'proto', '201');
      await sh('-6', 'route', 'del', '2001:db8:10::/64', 'proto', '201');
      // A stray route of ours goes too.
      await sh('route', 'add', '198.19.10.99/32', 'via', '198.18.1.2', 'proto', '201');
      // No resync timer runs (withSync's resyncIntervalMs is 0), so any repair at all
      // was driven by the kernel's announcement; the bound only allows for a loaded machine.
      await until('the routes to be repaired', async () => JSON.stringify(await kernel()) === JSON.stringify(want), 10_000);
      expect(log.lines).toEqual([]);
    });
  });

  it('leaves a route of another protocol put over ours alone, warning once for it, and takes the identity back when it goes', async () => {
    await withSync(async (sync, log) => {
      sync.setDesired([unicastRoute(c('198.19.11.1/32'), { via: gwA }), unicastRoute(c('198.19.11.2/32'), { via: gwA })]);
      await sync.flush();
      await sh('route', 'replace', '198.19.11.1/32', 'via', '198.18.1.2', 'proto', 'static');
      await new Promise((r) => setTimeout(r, 300));
      // Another event on the same destination, and a resync that finds it again: still one warning.
      await sh('route', 'replace', '198.19.11.1/32', 'via', '198.18.0.2', 'proto', 'static');
      await new Promise((r) => setTimeout(r, 300));
      await sync.resync();
      expect(await kernel()).toEqual(['198.19.11.2 via 198.18.0.2 dev va']);
      expect(await kernel('4')).toEqual(['198.19.11.1 via 198.18.0.2 dev va']);
      expect(log.lines).toHaveLength(1);
      expect(log.lines[0]).toMatch(/not installed: a route we did not install .*198\.19\.11\.1/);
      await sh('route', 'del', '198.19.11.1/32', 'proto', 'static');
      await until('ours to be back', async () => (await kernel()).length === 2, 10_000);
    });
  });

  it('leaves routes that went with their device until told the device is back, then puts them back', async () => {
    const veth = async (): Promise<void> => {
      await sh('link', 'add', 'vc', 'type', 'veth', 'peer', 'name', 'vd');
      await sh('link', 'set', 'vc', 'up');
      await sh('link', 'set', 'vd', 'up');
    };
    await veth();
    try {
      await withSync(async (sync, log) => {
        const routes = [deviceRoute(c('198.19.13.1/32'), 'vc'), deviceRoute(c('2001:db8:13::1/128'), 'vc')];
        sync.setDesired(routes);
        await sync.flush();
        expect(await kernel()).toEqual(['198.19.13.1 dev vc', '2001:db8:13::1 dev vc']);
        // A pod's veth re-created: both routes went with the old one.
        await sh('link', 'del', 'vc');
        // The IPv6 route's removal is announced, the device's after it: no
        // attempt to put the route back through a device that is not there
        // (a warning for every pod deleted, were it made).
        await new Promise((r) => setTimeout(r, 300));
        expect(log.lines).toEqual([]);
        await veth();
        // What the agent does on the pod's ADD.
        sync.gone(routes);
        sync.upsert(routes);
        await sync.flush();
        await until('both routes back', async () => (await kernel()).length === 2, 10_000);
      });
    } finally {
      await sh('link', 'del', 'vc').catch(() => undefined);
    }
  });

  it('never hears of routes of a protocol it was told to ignore (another daemon\'s), but still of others', async () => {
    await withSync(
      async (sync) => {
        const heard: Buffer[] = [];
        const s = sync as unknown as { onAnnounced(b: Buffer): void };
        const real = s.onAnnounced.bind(sync);
        s.onAnnounced = (b) => {
          heard.push(Buffer.from(b));
          real(b);
        };
        sync.setDesired([unicastRoute(c('198.19.230.1/32'), { via: gwA })]);
        await sync.flush();
        await new Promise((r) => setTimeout(r, 300));
        heard.length = 0;
        for (let i = 0; i < 50; i++) await sh('route', 'add', `198.19.228.${i}/32`, 'via', '198.18.0.2', 'proto', '12');
        await new Promise((r) => setTimeout(r, 300));
        expect(heard).toEqual([]);
        await sh('route', 'add', '198.19.229.1/32', 'via', '198.18.0.2', 'proto', 'static');
        await until('the static route to be heard', async () => heard.length > 0, 10_000);
        await sh('route', 'flush', 'proto', '12');
        await sh('route', 'del', '198.19.229.1/32', 'proto', 'static');
      },
      0,
      false,
      [12],
    );
  });

  it("hears nothing of its own writes (the listener relay drops their echoes), and hears a change by hand", async () => {
    await withSync(async (sync) => {
      const heard: Buffer[] = [];
      const s = sync as unknown as { onAnnounced(b: Buffer): void };
      const real = s.onAnnounced.bind(sync);
      s.onAnnounced = (b) => {
        heard.push(Buffer.from(b));
        real(b);
      };
      const routes: Route[] = [];
      for (let i = 0; i < 2000; i++) routes.push(unicastRoute({ family: 4, base: BigInt(0xc6130000 + 0xe000 + i), prefix: 32 }, { via: gwA }));
      sync.setDesired(routes);
      await sync.flush();
      sync.setDesired(routes.slice(1000));
      await sync.flush();
      await new Promise((r) => setTimeout(r, 300));
      expect(heard).toEqual([]);
      await sh('route', 'del', '198.19.227.232/32', 'proto', '201');
      await until('the change by hand to be heard', async () => heard.length > 0, 10_000);
    });
  });

  it('restarts the kernel listener relay when it is killed, and repairs still work', async () => {
    await withSync(async (sync, log) => {
      sync.setDesired([unicastRoute(c('198.19.12.1/32'), { via: gwA })]);
      await sync.flush();
      const pid = sync.listenerPid as number;
      expect(pid).toBeDefined();
      process.kill(pid, 'SIGKILL');
      await until('another listener relay', async () => sync.listenerPid !== undefined && sync.listenerPid !== pid, 10_000);
      // A change made before the new relay has subscribed is not announced to
      // it: wait for its first frame (subscribed), which also asks for a full
      // read, and let that read happen first.
      const listener = (sync as unknown as { listener: { subscribed: { done: boolean } } }).listener;
      await until('the new listener relay to subscribe', async () => listener.subscribed.done, 10_000);
      await sync.flush();
      await sh('route', 'del', '198.19.12.1/32', 'proto', '201');
      // No resync timer: only the new relay's announcement can bring it back.
      await until('the route to be back', async () => (await kernel()).length === 1, 10_000);
      expect(log.lines.join('\n')).toMatch(/kernel listener relay exited/);
    });
  });

  it('with holdStale, keeps a previous run\'s routes until releaseStale(), then removes them', async () => {
    // What a restarted agent finds: routes of ours it does not know yet.
    await sh('route', 'add', '198.19.3.1/32', 'via', '198.18.0.2', 'proto', '201');
    await sh('route', 'add', '198.19.3.2/32', 'via', '198.18.0.2', 'proto', '201');
    await withSync(
      async (sync) => {
        sync.setDesired([unicastRoute(c('198.19.3.2/32'), { via: gwB }), unicastRoute(c('198.19.3.3/32'), { via: gwA })]);
        await sync.flush();
        expect(await kernel()).toEqual(['198.19.3.1 via 198.18.0.2 dev va', '198.19.3.2 via 198.18.1.2 dev vb', '198.19.3.3 via 198.18.0.2 dev va']);
        const held = await sync.resync();
        expect(held).toMatchObject({ kernelRoutes: 3, removed: 0 });
        expect(sync.holdsStale).toBe(true);
        sync.releaseStale();
        await sync.flush();
        expect(await kernel()).toEqual(['198.19.3.2 via 198.18.1.2 dev vb', '198.19.3.3 via 198.18.0.2 dev va']);
      },
      0,
      true,
    );
  });

  it('repairs drift from its periodic resync', async () => {
    await withSync(async (sync) => {
      sync.setDesired([unicastRoute(c('198.19.3.1/32'), { via: gwA }), blackholeRoute(c('2001:db8:9::/64'))]);
      await sync.flush();
      // With the kernel listener stopped, only the timer can see the drift.
      const listener = sync.listenerPid as number;
      process.kill(listener, 'SIGSTOP');
      try {
        await sh('route', 'del', '198.19.3.1/32', 'proto', '201');
        await sh('-6', 'route', 'del', '2001:db8:9::/64', 'proto', '201');
        await until('the periodic resync to restore both routes', async () => (await kernel()).length === 2);
      } finally {
        process.kill(listener, 'SIGCONT');
      }
    }, 100);
  });

  it('logs changes the kernel refuses, applies the rest of the batch, and retries them on resync', async () => {
    await withSync(async (sync, log) => {
      sync.setDesired([
        unicastRoute(c('198.19.4.1/32'), { via: gwA }),
        unicastRoute(c('198.19.4.2/32'), { via: ip('198.18.9.9') }), // not on any link
        unicastRoute(c('198.19.4.3/32'), { via: gwB }),
      ]);
      await sync.flush();
      expect(await kernel()).toEqual(['198.19.4.1 via 198.18.0.2 dev va', '198.19.4.3 via 198.18.1.2 dev vb']);
      expect(log.lines.join('\n')).toMatch(/kernel refused 1 route change.*route add 198\.19\.4\.2 proto 201 via 198\.18\.9\.9: ENETUNREACH.*gateway/);
      // Make the gateway reachable; the next resync installs the route.
      await sh('addr', 'add', '198.18.9.1/24', 'dev', 'vb');
      const report = await sync.resync();
      expect(report).toMatchObject({ replaced: 1, failed: 0 });
      expect(await kernel()).toContain('198.19.4.2 via 198.18.9.9 dev vb');
      await sh('addr', 'del', '198.18.9.1/24', 'dev', 'vb');
    });
  });

  it('splits a large full sync over two relays: refused changes in either half are reported, the rest applied', async () => {
    await withSync(async (sync, log) => {
      const routes: Route[] = [];
      const count = 10_000;
      for (let i = 0; i < count; i++) {
        const dst = { family: 4 as const, base: BigInt(0xc6130000 + 0x8000 + i), prefix: 32 }; // 198.19.128.0 upwards
        // One unreachable gateway near the start and one near the end: one in each half.
        const bad = i === 10 || i === count - 10;
        routes.push(unicastRoute(dst, { via: bad ? ip('198.18.9.9') : i % 2 ? gwA : gwB }));
      }
      sync.setDesired(routes);
      // A full sync (read the kernel, diff, apply), as at start-up or on the resync timer.
      await sync.resync();
      expect(sync.relayPids).toHaveLength(2);
      expect((await kernel()).length).toBe(count - 2);
      expect(log.lines.join('\n')).toMatch(/198\.19\.128\.10 proto 201 via 198\.18\.9\.9/);
      expect(log.lines.join('\n')).toMatch(/198\.19\.167\.6 proto 201 via 198\.18\.9\.9/);
      // Removing them all, the same way.
      sync.setDesired([]);
      await sync.resync();
      expect(await kernel()).toEqual([]);
    });
  });

  it('sends a large incremental change through one relay', async () => {
    await withSync(async (sync) => {
      const routes: Route[] = [];
      const count = 10_000;
      for (let i = 0; i < count; i++) {
        const dst = { family: 4 as const, base: BigInt(0xc6130000 + 0x8000 + i), prefix: 32 }; // 198.19.128.0 upwards
        routes.push(unicastRoute(dst, { via: i % 2 ? gwA : gwB }));
      }
      // The kernel read first (as the agent does at start-up), so this is an incremental change.
      await sync.resync();
      sync.upsert(routes);
      await sync.flush();
      expect((await kernel()).length).toBe(count);
      expect(sync.relayPids).toHaveLength(1);
    });
  });

  it('restarts the netlink relay when it is killed mid-batch and still converges', async () => {
    await withSync(async (sync, log) => {
      const routes: Route[] = [];
      // Enough routes that the relay is still busy with them when we strike.
      const count = 100_000;
      for (let i = 0; i < count; i++) {
        const dst = { family: 4 as const, base: BigInt(0xc6130000 + 0x1000 + i), prefix: 32 }; // 198.19.16.0 upwards
        routes.push(unicastRoute(dst, { via: i % 2 ? gwA : gwB }));
      }
      // The kernel read first (through the same relay), so what is in flight below is the batch.
      await sync.resync();
      const pid = sync.batchPid as number;
      sync.setDesired(routes);
      // Stopped at once, the relay cannot answer; it is killed once the
      // batch has been sent to it, so that batch is lost for sure.
      process.kill(pid, 'SIGSTOP');
      await until('a batch in flight', async () => sync.inFlight > 0, 10_000);
      process.kill(pid, 'SIGKILL');
      await sync.flush();
      expect((await kernel()).length).toBe(count);
      expect(log.lines.join('\n')).toMatch(/netlink relay exited/);
      expect(log.lines.join('\n')).toMatch(/died before confirming a batch/);

      sync.upsert([blackholeRoute(c('198.19.250.0/24'))]);
      await sync.flush();
      expect(sync.batchPid).toBeDefined();
      expect(sync.batchPid).not.toBe(pid);
      expect(await kernel()).toContain('blackhole 198.19.250.0/24');
    });
  });

  it('recovers from a batch that throws: backs off, re-reads the kernel, and flush() waits for the real thing', async () => {
    await withSync(async (sync, log) => {
      sync.upsert([unicastRoute(c('198.19.4.1/32'), { via: gwA })]);
      await sync.flush();
      // The next batch throws while being written (a fault in our own code).
      const writer = (sync as unknown as { batch: RouteWriter }).batch;
      const begin = writer.begin.bind(writer);
      let faults = 1;
      writer.begin = () => {
        const real = begin();
        if (faults-- <= 0) return real;
        return {
          write: () => {
            throw new Error('injected fault');
          },
          end: () => real.end(),
        };
      };
      sync.upsert([unicastRoute(c('198.19.4.2/32'), { via: gwA })]);
      await sync.flush();
      expect(await kernel()).toEqual(['198.19.4.1 via 198.18.0.2 dev va', '198.19.4.2 via 198.18.0.2 dev va']);
      expect(log.lines.filter((l) => l.includes('runner failed'))).toHaveLength(1);
    });
  });

  // Changes arriving in any order and at any moment (while a batch is in
  // flight, within one tick, around a resync) leave the kernel exactly as
  // the last word on each identity says.
  it('converges to the desired set under any interleaving of changes, batches and resyncs', async () => {
    // Eight identities: six /32s in the main table at the default metric, two at metric 50.
    const ids = Array.from({ length: 8 }, (_, i) => ({ host: `198.19.9.${i + 1}`, metric: i >= 6 ? 50 : undefined }));
    const hops = [[{ via: gwA }], [{ via: gwB }], [{ via: gwA }, { via: gwB }], 'blackhole'] as const;
    const routeOf = (id: number, h: number): Route => {
      const { host, metric } = ids[id] as (typeof ids)[number];
      const shape = hops[h] as (typeof hops)[number];
      const opts = metric === undefined ? {} : { metric };
      return shape === 'blackhole' ? blackholeRoute(c(`${host}/32`), opts) : unicastRoute(c(`${host}/32`), shape, opts);
    };
    const lineOf = (id: number, h: number): string => {
      const { host, metric } = ids[id] as (typeof ids)[number];
      const at = metric === undefined ? '' : ` metric ${metric}`;
      const via = ['via 198.18.0.2 dev va', 'via 198.18.1.2 dev vb', 'via 198.18.0.2 dev va + via 198.18.1.2 dev vb'];
      return h === 3 ? `blackhole ${host}${at}` : `${host}${at} ${via[h]}`;
    };
    const idOf = (id: number): RouteId => {
      const { host, metric } = ids[id] as (typeof ids)[number];
      return metric === undefined ? { dst: c(`${host}/32`) } : { dst: c(`${host}/32`), metric };
    };
    // A flush that never resolves is a failure with its sequence shown, not a test timeout.
    const settles = async <T>(what: string, p: Promise<T>): Promise<T> => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not resolve within 5 s`)), 5000);
      });
      try {
        return await Promise.race([p, late]);
      } finally {
        clearTimeout(timer);
      }
    };
    const pick = fc.array(fc.tuple(fc.nat(7), fc.nat(3)), { maxLength: 5 });
    const op = fc.oneof(
      fc.record({ upsert: pick }),
      fc.record({ remove: fc.array(fc.nat(7), { maxLength: 4 }) }),
      fc.record({ setDesired: pick }),
      fc.constantFrom({ wait: 'flush' }, { wait: 'resync' }, { wait: 'tick' }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        const want = new Map<number, number>();
        await withSync(async (sync, log) => {
          for (const o of ops) {
            if ('upsert' in o) {
              sync.upsert(o.upsert.map(([id, h]) => routeOf(id, h)));
              for (const [id, h] of o.upsert) want.set(id, h);
            } else if ('remove' in o) {
              sync.remove(o.remove.map(idOf));
              for (const id of o.remove) want.delete(id);
            } else if ('setDesired' in o) {
              sync.setDesired(o.setDesired.map(([id, h]) => routeOf(id, h)));
              want.clear();
              for (const [id, h] of o.setDesired) want.set(id, h);
            } else if (o.wait === 'flush') {
              await settles('flush', sync.flush());
            } else if (o.wait === 'resync') {
              await settles('resync', sync.resync());
            } else {
              await new Promise((r) => setImmediate(r));
            }
          }
          await settles('the last flush', sync.flush());
          expect(await kernel()).toEqual([...want].map(([id, h]) => lineOf(id, h)).sort());
          expect(sync.size).toBe(want.size);
          // A resync now finds nothing to change: what sync believes is what the kernel has.
          expect(await sync.resync()).toMatchObject({ replaced: 0, removed: 0, failed: 0 });
          expect(log.lines).toEqual([]);
        });
      }),
      // The first counterexample is reported as found: shrinking one that hangs takes 5 s a step.
      { numRuns: 40, endOnFailure: true },
    );
  });
});
