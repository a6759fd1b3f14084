// NatTable against the kernel's nftables, in a scratch namespace. The kernel's
// table is checked with `nft list` text, not with our own reader.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseCidr } from '@terrace/api';
import { createLab, type Lab } from '@terrace/testkit';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NAT_TABLE, NatTable, type NatPool, type RouteSyncLogger } from '../src/index.js';

const c = parseCidr;
let lab: Lab;
let ns: string;

const nft = async (...args: string[]): Promise<string> => (await lab.exec(ns, 'nft', args)).stdout;
const tables = async (): Promise<string[]> =>
  (await nft('list', 'tables'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .sort();
const ours = (): Promise<string> => nft('list', 'table', 'inet', NAT_TABLE);

class Recorder implements RouteSyncLogger {
  readonly lines: string[] = [];
  debug(): void {}
  info(m: string): void {
    this.lines.push(`info ${m}`);
  }
  warn(m: string): void {
    this.lines.push(`warn ${m}`);
  }
  error(m: string, meta?: Record<string, unknown>): void {
    this.lines.push(`error ${m} ${JSON.stringify(meta ?? {})}`);
  }
}

const pools: NatPool[] = [
  { cidr: c('198.19.1.0/24'), natOutgoing: true },
  { cidr: c('198.19.2.0/24'), natOutgoing: false },
  { cidr: c('2001:db8:1::/64'), natOutgoing: true },
];

async function waitFor(what: string, fn: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  lab = await createLab({ tag: 'tnat' });
  ns = await lab.addNamespace('nat');
  // Someone else's table: never read, changed or removed by us.
  await lab.exec(ns, 'nft', ['add table ip other; add chain ip other post { type nat hook postrouting priority 50; }; add rule ip other post counter']);
});

afterAll(async () => {
  await lab?.destroy();
});

describe('NatTable', () => {
  it('writes the table, then leaves an equal one alone', async () => {
    const log = new Recorder();
    const t = new NatTable({ netns: ns, logger: log, resyncIntervalMs: 0 });
    try {
      expect(await t.set(pools)).toBe('written');
      const text = await ours();
      expect(text).toContain('ip saddr @nat-pools-v4 ip daddr != @all-pools-v4 masquerade');
      expect(text).toContain('ip6 saddr @nat-pools-v6 ip6 daddr != @all-pools-v6 masquerade');
      expect(text).toMatch(/set all-pools-v4 \{[^}]*elements = \{ 198\.19\.1\.0\/24, 198\.19\.2\.0\/24 \}/);
      expect(text).toMatch(/set nat-pools-v4 \{[^}]*elements = \{ 198\.19\.1\.0\/24 \}/);
      expect(text).toContain('type nat hook postrouting priority srcnat; policy accept;');
      expect(await tables()).toEqual(['table inet terrace-nat', 'table ip other']);
      expect(await t.set(pools)).toBe('unchanged');
      expect(t.status()).toEqual({ installed: true, repaired: 0 });
      // A change of pools rewrites it.
      expect(await t.set([...pools, { cidr: c('198.19.3.0/24'), natOutgoing: true }])).toBe('written');
      expect(await ours()).toMatch(/set nat-pools-v4 \{[^}]*elements = \{ 198\.19\.1\.0\/24, 198\.19\.3\.0\/24 \}/);
    } finally {
      await t.close();
    }
    // close() leaves the table.
    expect(await tables()).toContain('table inet terrace-nat');
  });

  it('repairs a table someone deleted, flushed, or added to', async () => {
    const log = new Recorder();
    const t = new NatTable({ netns: ns, logger: log, resyncIntervalMs: 0 });
    try {
      await t.set(pools);
      const good = await ours();
      await nft('delete', 'table', 'inet', NAT_TABLE);
      expect(await t.sync()).toBe('repaired');
      expect(await ours()).toBe(good);
      await nft('flush', 'chain', 'inet', NAT_TABLE, 'postrouting');
      expect(await t.sync()).toBe('repaired');
      expect(await ours()).toBe(good);
      await nft('add', 'element', 'inet', NAT_TABLE, 'all-pools-v4', '{ 198.18.200.0/24 }');
      expect(await t.sync()).toBe('repaired');
      await nft('add', 'chain', 'inet', NAT_TABLE, 'extra');
      expect(await t.sync()).toBe('repaired');
      expect(await ours()).toBe(good);
      expect(t.status().repaired).toBe(4);
      expect(log.lines.filter((l) => l.startsWith('warn')).length).toBe(4);
      expect(await tables()).toContain('table ip other');
    } finally {
      await t.close();
    }
  });

  it('repairs on its own within the resync interval', async () => {
    const t = new NatTable({ netns: ns, logger: new Recorder(), resyncIntervalMs: 300 });
    try {
      await t.set(pools);
      await nft('delete', 'table', 'inet', NAT_TABLE);
      await waitFor('the table to come back', async () => (await tables()).includes('table inet terrace-nat'));
    } finally {
      await t.close();
    }
  });

  it('removes the table when no pool wants NAT, and only it', async () => {
    const t = new NatTable({ netns: ns, logger: new Recorder(), resyncIntervalMs: 0 });
    try {
      await t.set(pools);
      expect(await t.set(pools.map((p) => ({ ...p, natOutgoing: false })))).toBe('removed');
      expect(await tables()).toEqual(['table ip other']);
      expect(await t.set([])).toBe('unchanged');
      expect(t.status()).toEqual({ installed: false, repaired: 0 });
    } finally {
      await t.close();
    }
  });

  it('reports a failure in one line, in status and once in the log, and retries until it succeeds', async () => {
    const log = new Recorder();
    // nft is "installed" only later: a symlink the test creates while the table keeps retrying.
    const dir = mkdtempSync(join(tmpdir(), 'terrace-nat-test-'));
    const nftPath = join(dir, 'nft');
    const t = new NatTable({ netns: ns, logger: log, resyncIntervalMs: 0, retryMs: 100, nftCommand: nftPath });
    try {
      await nft('delete', 'table', 'inet', NAT_TABLE).catch(() => undefined);
      await expect(t.set(pools)).rejects.toThrow(/nft -j list/);
      const st = t.status();
      expect(st.installed).toBe(false);
      expect(st.error).toMatch(/^nft -j list tables inet: /);
      expect(st.error).not.toContain('\n');
      await new Promise((r) => setTimeout(r, 500));
      expect(log.lines.filter((l) => l.startsWith('error')).length).toBe(1);
      symlinkSync(execFileSync('sh', ['-c', 'command -v nft'], { encoding: 'utf8' }).trim(), nftPath);
      await waitFor('the retried pass to write the table', async () => t.status().installed);
      expect(t.status().error).toBeUndefined();
      expect(await tables()).toContain('table inet terrace-nat');
      expect(log.lines).toContain('info nat: table in sync again');
    } finally {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('needs no nft while no pool wants NAT', async () => {
    // No namespace: the missing binary is found missing when it is spawned, so nothing runs at all.
    const log = new Recorder();
    const t = new NatTable({ logger: log, resyncIntervalMs: 0, nftCommand: '/nonexistent/nft' });
    try {
      expect(await t.set([{ cidr: c('198.19.2.0/24'), natOutgoing: false }])).toBe('unchanged');
      expect(t.status()).toEqual({ installed: false, repaired: 0 });
      expect(log.lines).toEqual([]);
      await expect(t.set(pools)).rejects.toThrow(/cannot run \/nonexistent\/nft/);
    } finally {
      await t.close();
    }
  });

  it('masquerades in the kernel, both families: only natOutgoing sources reach a host with no route back', async () => {
    // pod ── router (the table) ── out. `out` has no route to the pools, so an
    // echo comes back only when the router rewrote the source to its own address.
    const pod = await lab.addNamespace('pod');
    const router = await lab.addNamespace('router');
    const out = await lab.addNamespace('out');
    const ip = (where: string, ...args: string[]): Promise<unknown> => lab.exec(where, 'ip', args);
    await ip(router, 'link', 'add', 'to-pod', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod);
    await ip(router, 'link', 'add', 'to-out', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', out);
    const addrs: [string, string, string[]][] = [
      [router, 'to-pod', ['198.19.1.1/24', '198.19.2.1/24', '2001:db8:1::1/64']],
      [router, 'to-out', ['198.18.200.254/24', '2001:db8:200::fe/64']],
      [pod, 'eth0', ['198.19.1.5/24', '198.19.2.5/24', '2001:db8:1::5/64']],
      [out, 'eth0', ['198.18.200.1/24', '2001:db8:200::1/64']],
    ];
    for (const [where, dev, list] of addrs) {
      for (const a of list) await ip(where, 'addr', 'add', a, 'dev', dev, 'nodad');
      await ip(where, 'link', 'set', dev, 'up');
    }
    await ip(pod, 'route', 'add', 'default', 'via', '198.19.1.1');
    await ip(pod, '-6', 'route', 'add', 'default', 'via', '2001:db8:1::1');
    await lab.exec(router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    const reaches = (from: string, to: string): Promise<boolean> =>
      lab.exec(pod, 'ping', ['-c', '1', '-W', '1', '-I', from, to]).then(
        () => true,
        () => false,
      );
    const t = new NatTable({ netns: router, logger: new Recorder(), resyncIntervalMs: 0 });
    try {
      await t.set([
        { cidr: c('198.19.1.0/24'), natOutgoing: true },
        { cidr: c('198.19.2.0/24'), natOutgoing: false },
        { cidr: c('2001:db8:1::/64'), natOutgoing: true },
      ]);
      expect(await reaches('198.19.1.5', '198.18.200.1')).toBe(true);
      expect(await reaches('2001:db8:1::5', '2001:db8:200::1')).toBe(true);
      expect(await reaches('198.19.2.5', '198.18.200.1')).toBe(false);
      // natOutgoing off: the same pod is no longer reachable from out there.
      await t.set([
        { cidr: c('198.19.1.0/24'), natOutgoing: false },
        { cidr: c('2001:db8:1::/64'), natOutgoing: false },
      ]);
      expect(await reaches('198.19.1.5', '198.18.200.1')).toBe(false);
      expect(await reaches('2001:db8:1::5', '2001:db8:200::1')).toBe(false);
    } finally {
      await t.close();
    }
  }, 60000);
});
