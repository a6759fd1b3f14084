/**
 * An FRR router as the route reflector of the nodes' AS (docs/bgp.md, FRR as
 * an external reflector): a GoBGP and a BIRD speaker peer with it only, as
 * plain iBGP peers, and learn each other's block from it with the owner, not
 * the reflector, as next hop.
 *
 *   g (198.18.4.11, GoBGP) ─┐
 *   b (198.18.4.12, BIRD)  ─┼─ fabric ─ rr (198.18.4.5, FRR, clients g and b)
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatAddr, packCidr, parseCidr, parseIP } from '@terrace/api';
import { createLab, listNamespaces, onProcessExit, startFrr, waitFor, type FrrRouter, type Lab } from '@terrace/testkit';
import { BirdSpeaker } from '../src/bird/speaker.js';
import { GobgpSpeaker } from '../src/gobgp/speaker.js';
import type { BgpSpeaker, PeerConfig } from '../src/speaker.js';

const ASN = 64512;
const RR = '198.18.4.5';
const G = '198.18.4.11';
const B = '198.18.4.12';
const G_BLOCK = '198.19.51.0/26';
const B_BLOCK = '198.19.52.0/26';
const toRr: PeerConfig = { address: parseIP(RR), asn: ASN, keepaliveTime: 1, holdTime: 3, connectRetry: 1 };

let lab: Lab;
let dir: string;
let rr: FrrRouter;
let g: GobgpSpeaker;
let b: BirdSpeaker;

const learnedVia = (s: BgpSpeaker, prefix: string): string | undefined => s.learnedSnapshot().get(packCidr(parseCidr(prefix)))?.nextHops.map(formatAddr).join();

beforeAll(async () => {
  lab = await createLab({ tag: 'tx' });
  dir = mkdtempSync(join(tmpdir(), 'terrace-xrr-'));
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
  const rrNs = await lab.addNamespace('rr');
  await lab.connect(rrNs, fabric, `${RR}/24`);
  rr = await startFrr(lab, rrNs, {
    hostname: 'rr',
    asn: ASN,
    routerId: RR,
    neighbors: [G, B].map((address) => ({ address, asn: ASN, routeReflectorClient: true })),
  });
  const gns = await lab.addNamespace('g');
  await lab.connect(gns, fabric, `${G}/24`);
  const bns = await lab.addNamespace('b');
  await lab.connect(bns, fabric, `${B}/24`);
  g = new GobgpSpeaker({ daemon: { netns: gns, apiAddress: `unix://${join(dir, 'g.sock')}`, initialBackoffMs: 100 }, resyncMs: 2000 });
  b = new BirdSpeaker({ daemon: { configPath: join(dir, 'b.conf'), socketPath: join(dir, 'b.ctl'), netns: bns }, pollMs: 200 });
  await g.setPeers([toRr]);
  await g.setAnnouncements([{ prefix: parseCidr(G_BLOCK), nextHop: parseIP(G) }]);
  await g.start({ asn: ASN, routerId: G });
  await b.setPeers([toRr]);
  await b.setAnnouncements([{ prefix: parseCidr(B_BLOCK), nextHop: parseIP(B) }]);
  await b.start({ asn: ASN, routerId: B });
}, 60000);

afterAll(async () => {
  await g?.stop();
  await b?.stop();
  await rr?.stop();
  const prefix = lab?.prefix;
  await lab?.destroy();
  rmSync(dir, { recursive: true, force: true });
  if (prefix) expect(await listNamespaces(prefix)).toEqual([]);
}, 30000);

describe('FRR as the nodes’ route reflector', () => {
  it('reflects each node’s block to the other with the owner as next hop', async () => {
    await waitFor('b learns g’s block via g', () => learnedVia(b, G_BLOCK) === G, 30000, 100);
    await waitFor('g learns b’s block via b', () => learnedVia(g, B_BLOCK) === B, 30000, 100);
  }, 40000);
});
