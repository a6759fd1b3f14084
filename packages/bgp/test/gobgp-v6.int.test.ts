/**
 * The GoBGP backend with IPv6: real gobgpd speakers in network namespaces,
 * each with an IPv4 and an IPv6 address on one fabric bridge:
 *
 *   n1 (AS 65011) ─┐
 *   n2 (AS 65012) ─┼─ fabric bridge   198.18.0.0/24, 2001:db8:198:18::/64
 *   n3 (AS 65013) ─┘   (n3 joins for the last test)
 *
 * Sessions run over IPv6 (and, from the third test, IPv4 as well). What n2
 * learns arrives through its BMP station, so IPv6 per-peer headers and
 * MP_REACH_NLRI / MP_UNREACH_NLRI are parsed on the way. The lab adds IPv6
 * addresses with `nodad`, so they are usable at once (never tentative).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatCidr, formatIP, parseCidr, parseIP, formatAddr, formatPrefix, packCidr } from '@terrace/api';
import { createLab, listNamespaces, onProcessExit, waitFor, type Lab } from '@terrace/testkit';
import { TableType } from '../src/gen/gobgp_pb.js';
import { familyOf, fromApiPath } from '../src/gobgp/convert.js';
import { GobgpSpeaker } from '../src/gobgp/speaker.js';
import type { Announcement, PeerConfig } from '../src/speaker.js';

/** A prefix as the learned routes key it. */
const packedPrefix = (s: string) => packCidr(parseCidr(s));

const FAST = { keepaliveTime: 1, holdTime: 3, connectRetry: 1 };

interface TestNode {
  name: string;
  v4: string;
  v6: string;
  asn: number;
  speaker: GobgpSpeaker;
  /** Latest state per prefix as told by the learned stream. */
  seen: Map<string, string[]>;
}

let lab: Lab;
let fabric: string;
let sockDir: string;
const nodes: TestNode[] = [];
const errors: string[] = [];

/** A peer on one of the node's addresses (which one picks the session's transport). */
function peerOn(n: TestNode, addr: string): PeerConfig {
  return { address: parseIP(addr), asn: n.asn, type: 'node-to-node mesh', ...FAST };
}

function announce(nextHop: string, ...prefixes: string[]): Announcement[] {
  return prefixes.map((p) => ({ prefix: parseCidr(p), nextHop: parseIP(nextHop) }));
}

async function follow(node: TestNode): Promise<void> {
  for await (const batch of node.speaker.learned()) {
    for (const e of batch) {
      if (e.kind === 'set') node.seen.set(formatPrefix(e.prefix), e.nextHops.map(formatAddr));
      else node.seen.delete(formatPrefix(e.prefix));
    }
  }
}

async function addNode(name: string, host: number, asn: number): Promise<TestNode> {
  const v4 = `198.18.0.${host}`;
  // Canonical text (RFC 5952), as formatIP prints next hops and peer addresses.
  const v6 = formatIP(parseIP(`2001:db8:198:18::${host}`));
  const ns = await lab.addNamespace(name);
  const ifname = await lab.connect(ns, fabric, `${v6}/64`);
  await lab.addAddress(ns, ifname, `${v4}/24`);
  const speaker = new GobgpSpeaker({
    daemon: { netns: ns, apiAddress: `unix://${join(sockDir, `${name}.sock`)}`, initialBackoffMs: 100 },
    restartGraceMs: 4000,
    resyncMs: 2000,
    onError: (e) => errors.push(`${name}: ${e.message}`),
  });
  const node: TestNode = { name, v4, v6, asn, speaker, seen: new Map() };
  nodes.push(node);
  // The BGP identifier is an IPv4 address also when every session is IPv6.
  await speaker.start({ asn, routerId: v4 });
  void follow(node);
  return node;
}

const hops = (n: TestNode, prefix: string): string | undefined => n.seen.get(prefix)?.join();

/** gobgpd's own best path per learned IPv6 prefix, as `prefix via next-hop`, sorted. */
async function learnedV6InDaemon(n: TestNode): Promise<string[]> {
  const out: string[] = [];
  for (const r of await n.speaker.client.list('listPath', { tableType: TableType.GLOBAL, family: familyOf(6) })) {
    const best = r.destination?.paths.find((p) => p.best);
    const raw = best && fromApiPath(best);
    if (raw && !raw.local) out.push(`${raw.prefix} via ${raw.nextHop}`);
  }
  return out.sort();
}

async function established(n: TestNode, addrs: readonly string[]): Promise<boolean> {
  const st = await n.speaker.peerStatus();
  return addrs.every((a) => st.find((s) => s.address === a)?.state === 'established');
}

beforeAll(async () => {
  sockDir = mkdtempSync(join(tmpdir(), 'terrace-bgp6-'));
  lab = await createLab({ tag: 'tb6' });
  // The speakers' daemons are not the lab's own: kill them by PID on a crash too.
  onProcessExit(() => {
    for (const n of nodes) {
      const pid = n.speaker.daemon?.pid;
      if (pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  });
  fabric = await lab.addBridge();
  await addNode('n1', 11, 65011);
  await addNode('n2', 12, 65012);
}, 60000);

afterAll(async () => {
  for (const n of nodes) await n.speaker.stop();
  await lab?.destroy();
  rmSync(sockDir, { recursive: true, force: true });
  expect(await listNamespaces(lab.prefix)).toEqual([]);
}, 30000);

const n1 = (): TestNode => nodes[0] as TestNode;
const n2 = (): TestNode => nodes[1] as TestNode;

describe('GoBGP backend over IPv6', () => {
  it('an IPv6 session carries an IPv6 prefix with the announcer’s own address as next hop', async () => {
    await n1().speaker.setPeers([peerOn(n2(), n2().v6)]);
    await n2().speaker.setPeers([peerOn(n1(), n1().v6)]);
    await n1().speaker.setAnnouncements(announce(n1().v6, 'fd00:1:1::/64'));
    await waitFor('n2 learns fd00:1:1::/64 via n1', () => hops(n2(), 'fd00:1:1::/64') === n1().v6, 20000);
    // Our own announcement is never reported as learned.
    expect(hops(n1(), 'fd00:1:1::/64')).toBeUndefined();
    expect(n2().speaker.learnedSnapshot().get(packedPrefix('fd00:1:1::/64'))?.nextHops.map(formatAddr)).toEqual([n1().v6]);
    // gobgpd itself selected the same next hop (read from its MP_REACH_NLRI).
    expect(await learnedV6InDaemon(n2())).toEqual([`fd00:1:1::/64 via ${n1().v6}`]);
    const st = (await n2().speaker.peerStatus()).find((s) => s.address === n1().v6);
    expect(st).toMatchObject({ state: 'established', asn: 65011, type: 'node-to-node mesh' });
    expect(st?.prefixesReceived).toBe(1);
  }, 30000);

  it('a withdrawn IPv6 prefix leaves the peer’s learned set', async () => {
    await n1().speaker.setAnnouncements([]);
    await waitFor('n2 drops fd00:1:1::/64', () => hops(n2(), 'fd00:1:1::/64') === undefined, 20000);
    expect(n2().speaker.learnedSnapshot().size).toBe(0);
    await waitFor('gobgpd on n2 drops it too', async () => (await learnedV6InDaemon(n2())).length === 0, 10000);
    // The session stayed up.
    expect(await established(n2(), [n1().v6])).toBe(true);
  }, 30000);

  it('dual stack: with an IPv4 and an IPv6 session, each family is learned with its own next hop', async () => {
    await n1().speaker.setPeers([peerOn(n2(), n2().v6), peerOn(n2(), n2().v4)]);
    await n2().speaker.setPeers([peerOn(n1(), n1().v6), peerOn(n1(), n1().v4)]);
    await n1().speaker.setAnnouncements([...announce(n1().v4, '198.19.77.0/26'), ...announce(n1().v6, 'fd00:1:2::/64')]);
    await waitFor('both sessions up', () => established(n2(), [n1().v4, n1().v6]), 20000);
    await waitFor('n2 learns both prefixes', () => hops(n2(), '198.19.77.0/26') === n1().v4 && hops(n2(), 'fd00:1:2::/64') === n1().v6, 20000);
    // Both unicast families are enabled on every session (toApiPeer), so each
    // prefix arrives over both, still with the announcer's next hop of its own
    // family; the learned set holds each next hop once.
    await waitFor('each session carries both prefixes', async () => {
      const st = await n2().speaker.peerStatus();
      return [n1().v4, n1().v6].every((a) => st.find((s) => s.address === a)?.prefixesReceived === 2);
    }, 10000);
    const snap = n2().speaker.learnedSnapshot();
    expect([...snap.keys()].map(formatPrefix).sort()).toEqual(['198.19.77.0/26', 'fd00:1:2::/64']);
    expect(snap.get(packedPrefix('198.19.77.0/26'))?.nextHops.map(formatAddr)).toEqual([n1().v4]);
    expect(snap.get(packedPrefix('fd00:1:2::/64'))?.nextHops.map(formatAddr)).toEqual([n1().v6]);
    expect(n2().seen.get('fd00:1:2::/64')).toEqual([n1().v6]);
  }, 30000);

  it('ECMP in IPv6: two announcers of one prefix give a third both next hops, sorted', async () => {
    const n3 = await addNode('n3', 13, 65013);
    await n3.speaker.setPeers([peerOn(n2(), n2().v6)]);
    await n2().speaker.setPeers([peerOn(n1(), n1().v6), peerOn(n1(), n1().v4), peerOn(n3, n3.v6)]);
    // n3 announces first, so the older path (gobgpd's eBGP tie-break) is not simply n1's.
    await n3.speaker.setAnnouncements(announce(n3.v6, 'fd00:1:99::/64'));
    await waitFor('n2 learns fd00:1:99::/64 via n3', () => hops(n2(), 'fd00:1:99::/64') === n3.v6, 20000);
    await n1().speaker.setAnnouncements([
      ...announce(n1().v4, '198.19.77.0/26'),
      ...announce(n1().v6, 'fd00:1:2::/64', 'fd00:1:99::/64'),
    ]);
    const both = [n1().v6, n3.v6].sort().join();
    await waitFor('n2 has two next hops for fd00:1:99::/64', () => hops(n2(), 'fd00:1:99::/64') === both, 20000);
    expect(n2().speaker.learnedSnapshot().get(packedPrefix('fd00:1:99::/64'))?.nextHops.map(formatAddr).join()).toBe(both);
    // gobgpd's best path is one of the two.
    const best = (await learnedV6InDaemon(n2())).find((l) => l.startsWith('fd00:1:99::/64 via '));
    expect([n1().v6, n3.v6]).toContain(best?.split(' via ')[1]);
    // The other prefixes are untouched.
    expect(hops(n2(), 'fd00:1:2::/64')).toBe(n1().v6);
    expect(hops(n2(), '198.19.77.0/26')).toBe(n1().v4);
    // One announcer stops: the set shrinks to the other.
    await n3.speaker.setAnnouncements([]);
    await waitFor('n2 back to n1 alone', () => hops(n2(), 'fd00:1:99::/64') === n1().v6, 20000);
    expect(errors).toEqual([]);
  }, 40000);
});
