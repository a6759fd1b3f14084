/**
 * Route reflection and TCP MD5 with three BIRDs, all supervised by
 * BirdSpeakers, in one AS (iBGP, no full mesh):
 *
 *   c1 (198.18.1.21) ─┐
 *   c2 (198.18.1.22) ─┼─ fabric ─ r (198.18.1.10, reflector; c1 and c2 are its clients)
 *
 * c1's block reaches c2 only through r, with c1 still the next hop; c1's
 * session with r uses a password.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIP, parseCidr, parseIP, formatAddr, packCidr } from '@terrace/api';
import { createLab, listNamespaces, onProcessExit, waitFor, type Lab } from '@terrace/testkit';
import { BirdSpeaker } from '../src/bird/speaker.js';
import type { PeerConfig } from '../src/speaker.js';

/** A prefix as the learned routes key it. */
const packedPrefix = (s: string) => packCidr(parseCidr(s));

const ASN = 64600;
const FAST = { keepaliveTime: 1, holdTime: 3, connectRetry: 1 };
const R = '198.18.1.10';
const C1 = '198.18.1.21';
const C2 = '198.18.1.22';
const PASSWORD = 'rr-s3cret';

let lab: Lab;
let dir: string;
const speakers = new Map<string, BirdSpeaker>();
const errors: string[] = [];

async function node(name: string, addr: string, peers: PeerConfig[], blocks: string[]): Promise<BirdSpeaker> {
  const ns = await lab.addNamespace(name);
  await lab.connect(ns, lab.nsName('fabric'), `${addr}/24`);
  const s = new BirdSpeaker({
    daemon: { configPath: join(dir, `${name}.conf`), socketPath: join(dir, `${name}.ctl`), netns: ns },
    pollMs: 200,
    onError: (e) => errors.push(`${name}: ${e.message}`),
  });
  speakers.set(name, s);
  await s.setPeers(peers);
  await s.setAnnouncements(blocks.map((b) => ({ prefix: parseCidr(b), nextHop: parseIP(addr) })));
  await s.start({ asn: ASN, routerId: addr });
  return s;
}

const peer = (addr: string, extra: Partial<PeerConfig> = {}): PeerConfig => ({ address: parseIP(addr), asn: ASN, ...FAST, ...extra });

beforeAll(async () => {
  lab = await createLab({ tag: 'tr' });
  dir = mkdtempSync(join(tmpdir(), 'terrace-bird-rr-'));
  onProcessExit(() => rmSync(dir, { recursive: true, force: true }));
  await lab.addBridge('fabric');
  await node('r', R, [peer(C1, { routeReflectorClient: true, password: PASSWORD }), peer(C2, { routeReflectorClient: true })], ['10.244.10.0/26']);
  await node('c1', C1, [peer(R, { password: PASSWORD })], ['10.244.21.0/26']);
  await node('c2', C2, [peer(R)], ['10.244.22.0/26']);
}, 60000);

afterAll(async () => {
  for (const s of speakers.values()) await s.stop();
  const prefix = lab?.prefix;
  await lab?.destroy();
  rmSync(dir, { recursive: true, force: true });
  if (prefix) expect(await listNamespaces(prefix)).toEqual([]);
}, 30000);

describe('BIRD backend as a route reflector', () => {
  it('brings up the password-protected and the plain session', async () => {
    await waitFor('reflector sessions up', async () => (await speakers.get('r')!.peerStatus()).every((p) => p.state === 'established'), 30000, 200);
  });

  it("reflects c1's block to c2 with c1 as next hop, and c2's to c1", async () => {
    const c2 = speakers.get('c2')!;
    const c1 = speakers.get('c1')!;
    await waitFor('c2 learns c1 block', () => c2.learnedSnapshot().has(packedPrefix('10.244.21.0/26')), 15000, 100);
    await waitFor('c1 learns c2 block', () => c1.learnedSnapshot().has(packedPrefix('10.244.22.0/26')), 15000, 100);
    expect(c2.learnedSnapshot().get(packedPrefix('10.244.21.0/26'))!.nextHops.map(formatAddr)).toEqual([C1]);
    expect(c1.learnedSnapshot().get(packedPrefix('10.244.22.0/26'))!.nextHops.map(formatAddr)).toEqual([C2]);
    expect(c2.learnedSnapshot().get(packedPrefix('10.244.10.0/26'))!.nextHops.map(formatAddr)).toEqual([R]);
  });

  it('clients, which are not reflectors, pass nothing learned back', async () => {
    // r holds c1's block from c1 only: c2 never sent it back.
    const reply = await speakers.get('r')!.control.command('show route 10.244.21.0/26');
    expect(reply.lines.filter((l) => l.text.includes('[ibgp_')).map((l) => /\[(\S+)/.exec(l.text)?.[1])).toEqual(['ibgp_198_18_1_21']);
  });

  it('a wrong password keeps the session down', async () => {
    const c1 = speakers.get('c1')!;
    await c1.setPeers([peer(R, { password: 'wrong' })]);
    await waitFor('session down', async () => (await c1.peerStatus())[0]?.state !== 'established', 15000, 200);
    await new Promise((r) => setTimeout(r, 2000));
    expect((await c1.peerStatus())[0]?.state).not.toBe('established');
    await c1.setPeers([peer(R, { password: PASSWORD })]);
    await waitFor('session back', async () => (await c1.peerStatus())[0]?.state === 'established', 20000, 200);
  });

  it('reported no errors', () => {
    expect(errors).toEqual([]);
  });
});
