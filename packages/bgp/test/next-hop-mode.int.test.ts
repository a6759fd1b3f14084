/**
 * nextHopMode against the real daemons: a GoBGP speaker and a BIRD speaker
 * (both supervised by our speakers) in one AS, iBGP between them. Each
 * announces a block whose next hop is another address on the shared subnet
 * (as a node announcing for an address it does not hold itself would). With
 * the default mode the peer learns that next hop unchanged (iBGP); with
 * `self` on the session it learns the sender's session address instead.
 * The mode changes on sessions already up, which is also what makes GoBGP
 * resend its paths (a soft reset out) under the new rule.
 *
 *   g (198.18.3.11, GoBGP) ── fabric ── b (198.18.3.12, BIRD)
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatAddr, packCidr, parseCidr, parseIP } from '@terrace/api';
import { createLab, listNamespaces, onProcessExit, waitFor, type Lab } from '@terrace/testkit';
import { BirdSpeaker } from '../src/bird/speaker.js';
import { GobgpSpeaker } from '../src/gobgp/speaker.js';
import type { BgpSpeaker, NextHopMode, PeerConfig } from '../src/speaker.js';

const ASN = 64512;
const G = '198.18.3.11';
const B = '198.18.3.12';
/** The next hop both announce: on the subnet, held by neither speaker. */
const ELSEWHERE = '198.18.3.99';
const G_BLOCK = '198.19.41.0/26';
const B_BLOCK = '198.19.42.0/26';
const FAST = { keepaliveTime: 1, holdTime: 3, connectRetry: 1 };

let lab: Lab;
let dir: string;
let g: GobgpSpeaker;
let b: BirdSpeaker;
const errors: string[] = [];

const peer = (addr: string, nextHopMode?: NextHopMode): PeerConfig => ({ address: parseIP(addr), asn: ASN, ...FAST, ...(nextHopMode ? { nextHopMode } : {}) });
const learnedVia = (s: BgpSpeaker, prefix: string): string | undefined => s.learnedSnapshot().get(packCidr(parseCidr(prefix)))?.nextHops.map(formatAddr).join();

beforeAll(async () => {
  lab = await createLab({ tag: 'tn' });
  dir = mkdtempSync(join(tmpdir(), 'terrace-nh-'));
  onProcessExit(() => {
    for (const pid of [g?.daemonPid, b?.daemonPid]) {
      if (pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const fabric = await lab.addBridge('fabric');
  const gns = await lab.addNamespace('g');
  await lab.connect(gns, fabric, `${G}/24`);
  const bns = await lab.addNamespace('b');
  await lab.connect(bns, fabric, `${B}/24`);
  g = new GobgpSpeaker({
    daemon: { netns: gns, apiAddress: `unix://${join(dir, 'g.sock')}`, initialBackoffMs: 100 },
    resyncMs: 2000,
    onError: (e) => errors.push(`g: ${e.message}`),
  });
  b = new BirdSpeaker({
    daemon: { configPath: join(dir, 'b.conf'), socketPath: join(dir, 'b.ctl'), netns: bns },
    pollMs: 200,
    onError: (e) => errors.push(`b: ${e.message}`),
  });
  await g.setPeers([peer(B)]);
  await g.setAnnouncements([{ prefix: parseCidr(G_BLOCK), nextHop: parseIP(ELSEWHERE) }]);
  await g.start({ asn: ASN, routerId: G });
  await b.setPeers([peer(G)]);
  await b.setAnnouncements([{ prefix: parseCidr(B_BLOCK), nextHop: parseIP(ELSEWHERE) }]);
  await b.start({ asn: ASN, routerId: B });
}, 60000);

afterAll(async () => {
  await g?.stop();
  await b?.stop();
  const prefix = lab?.prefix;
  await lab?.destroy();
  rmSync(dir, { recursive: true, force: true });
  if (prefix) expect(await listNamespaces(prefix)).toEqual([]);
}, 30000);

describe('nextHopMode on GoBGP and BIRD', () => {
  it('auto: iBGP passes the announced next hop on unchanged', async () => {
    await waitFor('b learns g’s block via the announced next hop', () => learnedVia(b, G_BLOCK) === ELSEWHERE, 30000, 100);
    await waitFor('g learns b’s block via the announced next hop', () => learnedVia(g, B_BLOCK) === ELSEWHERE, 30000, 100);
  }, 40000);

  it('self: the sender’s session address replaces it, on sessions already up', async () => {
    await g.setPeers([peer(B, 'self')]);
    await b.setPeers([peer(G, 'self')]);
    await waitFor('b learns g’s block via g', () => learnedVia(b, G_BLOCK) === G, 30000, 100);
    await waitFor('g learns b’s block via b', () => learnedVia(g, B_BLOCK) === B, 30000, 100);
  }, 40000);

  it('back to auto: the announced next hop again', async () => {
    await g.setPeers([peer(B, 'auto')]);
    await b.setPeers([peer(G)]);
    await waitFor('b learns g’s block via the announced next hop', () => learnedVia(b, G_BLOCK) === ELSEWHERE, 30000, 100);
    await waitFor('g learns b’s block via the announced next hop', () => learnedVia(g, B_BLOCK) === ELSEWHERE, 30000, 100);
    expect(errors).toEqual([]);
  }, 40000);
});
