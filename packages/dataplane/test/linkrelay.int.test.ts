// The relay's op frames against the kernel: acting in other namespaces by
// path, stopping at the first refused step, surviving its own death, and one
// relay carrying many concurrent pod ADDs.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseIP } from '@terrace/api';
import { createLab, waitFor, type Lab } from '@terrace/testkit';
import { checkPod, hostVethName, removePod, wirePod } from '../src/links.js';
import { encodeLinkUp } from '../src/linkmsg.js';
import { LinkRelay } from '../src/linkrelay.js';
import { spawnRelay, type RelayStarter } from '../src/relay.js';

let lab: Lab;
let hostNs: string;
const path = (ns: string): string => `/var/run/netns/${ns}`;

beforeAll(async () => {
  lab = await createLab({ tag: 'tk' });
  hostNs = await lab.addNamespace('host');
});

afterAll(async () => {
  await lab?.destroy();
});

const sysctl = async (ns: string, key: string): Promise<string> => (await lab.exec(ns, 'sysctl', ['-n', key])).stdout.trim();

describe('LinkRelay op frames', () => {
  it('writes sysctls and sends requests in the namespace a frame names, and stops at the first refused step', async () => {
    const relay = new LinkRelay();
    try {
      const f = relay
        .frame()
        .netns(path(hostNs))
        .sysctl('net.ipv4.conf.all.forwarding', '1')
        .sysctl('net.ipv4.conf.no-such-link.proxy_arp', '1')
        .sysctl('net.ipv6.conf.all.forwarding', '1');
      const out = await relay.run(f);
      expect(out.failures).toEqual([
        { step: 'sysctl net.ipv4.conf.no-such-link.proxy_arp=1', code: 'ENOENT', message: expect.stringMatching(/^ENOENT \(/) as unknown as string },
      ]);
      expect(await sysctl(hostNs, 'net.ipv4.conf.all.forwarding')).toBe('1');
      // The step after the refused one never ran.
      expect(await sysctl(hostNs, 'net.ipv6.conf.all.forwarding')).toBe('0');

      // A netlink request refused in another namespace names its step.
      const g = relay.frame().netns(path(hostNs));
      g.netlink((m, step) => encodeLinkUp(m, 'nosuch0', step('set nosuch0 up'), true));
      expect((await relay.run(g)).failures).toMatchObject([{ step: 'set nosuch0 up', code: 'ENODEV' }]);
      expect(relay.started).toBe(1);
    } finally {
      await relay.close();
    }
  });

  it('refuses to enter a namespace of another kind', async () => {
    const relay = new LinkRelay();
    try {
      const out = await relay.run(relay.frame().netns('/proc/self/ns/uts', 'check').sysctl('net.ipv4.conf.all.forwarding', '1'));
      expect(out.failures).toMatchObject([{ step: 'check', code: 'EINVAL' }]);
    } finally {
      await relay.close();
    }
  });

  it('reports a frame lost when the relay dies, and starts another for the next', async () => {
    const relay = new LinkRelay();
    try {
      await relay.run(relay.frame().netns(path(hostNs)));
      const pid = relay.pid;
      expect(pid).toBeDefined();
      process.kill(pid as number, 'SIGKILL');
      // Once its exit is seen; a frame sent before that is lost (another case).
      await waitFor('the relay exit to be seen', () => relay.pid === undefined, 10_000, 10);
      await relay.run(relay.frame().netns(path(hostNs)));
      expect(relay.started).toBe(2);
      expect(relay.pid).not.toBe(pid);
    } finally {
      await relay.close();
    }
  });

  it('does not keep a process alive while idle (the shared relay, never closed)', async () => {
    const links = fileURLToPath(new URL('../src/links.js', import.meta.url));
    const script = `import(${JSON.stringify(links)}).then(async (m) => {
      const gone = await m.removePod({ containerId: 'idle', ifname: 'eth0', hostNetns: ${JSON.stringify(path(hostNs))} });
      console.log(String(gone));
    });`;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['-e', script], { timeout: 10_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message} ${stderr}`)) : resolve(stdout)));
    });
    expect(out.trim()).toBe('false');
  });
});

describe('a relay that dies in the middle of an ADD', () => {
  it('fails the ADD as Unavailable and removes the half-made veth through the next relay', async () => {
    // The first relay dies instead of taking the ADD's second frame.
    let starts = 0;
    const dying: RelayStarter = (opts, listener) => {
      const inner = spawnRelay(opts, listener);
      if (++starts > 1) return inner;
      let frames = 0;
      return { ...inner, write: (d) => (++frames === 2 ? inner.kill() : inner.write(d)) };
    };
    const relay = new LinkRelay({ relay: dying });
    try {
      const pod = await lab.addNamespace('dies');
      const w = { containerId: 'ctr-dies', ifname: 'eth0', netns: path(pod), hostNetns: path(hostNs), addresses: [parseIP('198.18.31.1')], mtu: 1450, relay };
      await expect(wirePod(w)).rejects.toMatchObject({ code: 'Unavailable', message: expect.stringContaining('netlink relay exited') as unknown as string });
      expect(relay.started).toBe(2);
      expect((await lab.exec(hostNs, 'ip', ['link'])).stdout).not.toContain(hostVethName('ctr-dies', 'eth0'));
      expect((await lab.exec(pod, 'ip', ['link'])).stdout).not.toContain('eth0');
    } finally {
      await relay.close();
    }
  });

  it('also when the first frame was carried out but its answer never came', async () => {
    // The first relay runs the ADD's first frame (the veth is made), its answer is dropped, then it dies.
    let starts = 0;
    const mute: RelayStarter = (opts, listener) => {
      if (++starts > 1) return spawnRelay(opts, listener);
      const inner = spawnRelay(opts, { ...listener, output: () => undefined });
      return { ...inner, write: (d) => (inner.write(d), void setTimeout(() => inner.kill(), 300)) };
    };
    const relay = new LinkRelay({ relay: mute });
    try {
      const pod = await lab.addNamespace('mute');
      const w = { containerId: 'ctr-mute', ifname: 'eth0', netns: path(pod), hostNetns: path(hostNs), addresses: [parseIP('198.18.31.2')], mtu: 1450, relay };
      await expect(wirePod(w)).rejects.toMatchObject({ code: 'Unavailable' });
      expect(relay.started).toBe(2);
      expect((await lab.exec(hostNs, 'ip', ['link'])).stdout).not.toContain(hostVethName('ctr-mute', 'eth0'));
      expect((await lab.exec(pod, 'ip', ['link'])).stdout).not.toContain('eth0');
    } finally {
      await relay.close();
    }
  });
});

describe('one relay, many pods', () => {
  it('wires and removes 20 pods concurrently through one relay process', async () => {
    const relay = new LinkRelay();
    try {
      const pods = await Promise.all(Array.from({ length: 20 }, (_, i) => lab.addNamespace(`c${i}`)));
      const wirings = pods.map((ns, i) => ({
        containerId: `ctr-${i}`,
        ifname: 'eth0',
        netns: path(ns),
        hostNetns: path(hostNs),
        addresses: [parseIP(`198.18.30.${i + 1}`), parseIP(`2001:db8:30::${(i + 1).toString(16)}`)],
        mtu: 1450,
        relay,
      }));
      const wired = await Promise.all(wirings.map((w) => wirePod(w)));
      expect(wired.map((x) => x.hostIfname)).toEqual(wirings.map((w) => hostVethName(w.containerId, 'eth0')));
      for (const w of wirings) {
        // Everything but the host routes, which are route sync's.
        const problems = await checkPod(w);
        expect(problems.filter((p) => !p.startsWith('host route '))).toEqual([]);
      }
      expect(relay.started).toBe(1);
      expect(await Promise.all(wirings.map((w) => removePod(w)))).toEqual(wirings.map(() => true));
      expect((await lab.exec(hostNs, 'ip', ['-o', 'link'])).stdout).not.toMatch(/ tr[0-9a-f]{11}[@:]/);
      expect(relay.started).toBe(1);
    } finally {
      await relay.close();
    }
  }, 60_000);
});
