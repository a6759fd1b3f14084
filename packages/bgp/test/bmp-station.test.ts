import { afterEach, describe, expect, it } from '@jest/globals';
import net, { type Socket } from 'node:net';
import { TerraceError, formatAddr, formatPrefix, packCidr, packIP, parseCidr, parseIP } from '@terrace/api';
import { AdjRibIn } from '../src/bmp/rib.js';
import { BmpStation, type BmpStationOptions } from '../src/bmp/station.js';
import type { LearnedEvent } from '../src/speaker.js';
import { attr, bgpUpdate, cat, ipBytes, prefix, prefixes, u16, u32, u8, type PeerOpts } from './bmp-bytes.js';

// ---- messages assembled field by field (bmp-bytes.ts) ----

function asPath(asns: number[]): Buffer {
  return attr(2, cat(u8(2), u8(asns.length), ...asns.map(u32)));
}

/** The eBGP peer of these tests: 198.18.0.1, AS 65100. */
const PEER = '198.18.0.1';
function peerHeader(o: PeerOpts = {}): Buffer {
  const addr = Buffer.alloc(16);
  ipBytes(o.address ?? PEER).copy(addr, 12);
  return cat(u8(0), u8(o.flags ?? 0), Buffer.alloc(8), addr, u32(o.asn ?? 65100), ipBytes(o.bgpId ?? PEER), u32(1700000000), u32(0));
}

const bmp = (type: number, body: Buffer): Buffer => cat(u8(3), u32(6 + body.length), u8(type), body);
const initiation = (): Buffer => bmp(4, cat(u16(2), u16(5), Buffer.from('gobgp')));
const peerUp = (o: PeerOpts = {}): Buffer => bmp(3, cat(peerHeader(o), Buffer.alloc(20)));
/** Reason 4: the remote system closed the session without a notification. */
const peerDown = (o: PeerOpts = {}): Buffer => bmp(2, cat(peerHeader(o), u8(4)));
const routeMonitoring = (update: Buffer, peer: PeerOpts = {}): Buffer => bmp(0, cat(peerHeader(peer), update));

/** Route monitoring of an UPDATE announcing `pfx` from the peer, next hop the peer itself. */
function announce(pfx: string[], peer: PeerOpts = {}, nextHop = PEER): Buffer {
  const attrs = [attr(1, u8(0)), asPath([peer.asn ?? 65100]), attr(3, ipBytes(nextHop))];
  return routeMonitoring(bgpUpdate({ attrs, nlri: prefixes(...pfx) }), peer);
}
const withdraw = (pfx: string[], peer: PeerOpts = {}): Buffer => routeMonitoring(bgpUpdate({ withdrawn: prefixes(...pfx) }), peer);
/** IPv4 End-of-RIB: an UPDATE with nothing in it. */
const endOfRib = (peer: PeerOpts = {}): Buffer => routeMonitoring(bgpUpdate(), peer);

const A = '198.19.1.1/32';
const B = '198.19.1.2/32';

// ---- harness: a real station on 127.0.0.1 and real TCP clients ----

interface Harness {
  station: BmpStation;
  rib: AdjRibIn;
  batches: LearnedEvent[][];
  errors: Error[];
  connection: boolean[];
}

const stations: BmpStation[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(stations.splice(0).map((s) => s.close()));
});

async function startStation(o: Partial<BmpStationOptions> = {}): Promise<Harness> {
  const rib = new AdjRibIn({ localAsn: 64512, routerId: Number(parseIP('198.18.0.2').value) });
  const h: Harness = { station: undefined as unknown as BmpStation, rib, batches: [], errors: [], connection: [] };
  h.station = new BmpStation({
    rib,
    onEvents: (evs) => h.batches.push([...evs]),
    onError: (e) => h.errors.push(e),
    onConnection: (up) => h.connection.push(up),
    ...o,
  });
  stations.push(h.station);
  await h.station.listen();
  expect(h.station.port).toBeGreaterThan(0);
  return h;
}

/** Every event so far, as text: 'set <prefix> <hops>' or 'withdraw <prefix>'. */
function events(h: Harness): string[] {
  return h.batches.flat().map((e) => (e.kind === 'set' ? `set ${formatPrefix(e.prefix)} ${e.nextHops.map(formatAddr).join(',')}` : `withdraw ${formatPrefix(e.prefix)}`));
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Client {
  sock: Socket;
  closed: Promise<void>;
  isClosed: () => boolean;
}

/** Dials the station as gobgpd would, and waits until the station has accepted. */
async function dial(h: Harness): Promise<Client> {
  const before = h.station.connectionCount;
  const sock = net.connect({ host: '127.0.0.1', port: h.station.port });
  sockets.push(sock);
  sock.setNoDelay(true);
  // The station may reset the connection; that is an outcome under test, not a crash.
  sock.on('error', () => undefined);
  let done = false;
  const closed = new Promise<void>((r) =>
    sock.once('close', () => {
      done = true;
      r();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  await waitFor('the station to accept', () => h.station.connectionCount === before + 1);
  return { sock, closed, isClosed: () => done };
}

function send(c: Client, ...msgs: Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => c.sock.write(cat(...msgs), (e) => (e ? reject(e) : resolve())));
}

/** Writes `buf` one byte per write, yielding to the event loop between writes. */
async function sendBytewise(c: Client, buf: Buffer): Promise<void> {
  for (let i = 0; i < buf.length; i++) {
    c.sock.write(buf.subarray(i, i + 1));
    await new Promise((r) => setImmediate(r));
  }
}

async function closeClient(h: Harness, c: Client): Promise<void> {
  c.sock.end();
  await c.closed;
  await waitFor('the station to see the close', () => !h.station.connected);
}

/** A connection with peer 198.18.0.1 up and A and B learned from it. */
async function loaded(h: Harness): Promise<Client> {
  const c = await dial(h);
  await send(c, initiation(), peerUp(), announce([A, B]));
  await waitFor('two sets', () => events(h).length === 2);
  return c;
}

// ---- tests ----

describe('BmpStation over TCP', () => {
  it('turns route monitoring into set and withdraw events', async () => {
    const h = await startStation();
    const c = await loaded(h);
    expect(events(h)).toEqual([`set ${A} ${PEER}`, `set ${B} ${PEER}`]);
    const first = h.batches.flat()[0]!;
    expect(first.kind === 'set' && first.nextHops).toEqual([packIP(parseIP(PEER))]);
    expect([...h.station.peersUp()]).toEqual([PEER]);
    expect(h.station.connected).toBe(true);
    expect(h.rib.size).toBe(2);

    await send(c, withdraw([A]));
    await waitFor('a withdraw', () => events(h).length === 3);
    expect(events(h)[2]).toBe(`withdraw ${A}`);
    expect(h.rib.size).toBe(1);
    expect(h.errors).toEqual([]);
    expect(h.connection).toEqual([true]);
  });

  it('withdraws all of a peer’s prefixes on peer down', async () => {
    const h = await startStation();
    const c = await loaded(h);
    await send(c, peerDown());
    await waitFor('two withdraws', () => events(h).length === 4);
    expect(events(h).slice(2).sort()).toEqual([`withdraw ${A}`, `withdraw ${B}`]);
    expect(h.rib.size).toBe(0);
    expect(h.rib.pathCount(PEER)).toBe(0);
    expect(h.station.peersUp().size).toBe(0);
  });

  it('keeps stale paths over a reconnect and drops the unrefreshed ones at End-of-RIB', async () => {
    const h = await startStation();
    const c = await loaded(h);
    await closeClient(h, c);
    expect(events(h)).toHaveLength(2);
    expect(h.rib.size).toBe(2);
    expect(h.rib.staleCount).toBeGreaterThan(0);
    expect(h.connection).toEqual([true, false]);
    expect(h.station.peersUp().size).toBe(0);

    const c2 = await dial(h);
    await send(c2, initiation(), peerUp(), announce([A]), endOfRib());
    await waitFor('a withdraw', () => events(h).length > 2);
    // A was refreshed with the same next hop: no event for it.
    expect(events(h).slice(2)).toEqual([`withdraw ${B}`]);
    expect(h.rib.size).toBe(1);
    expect(h.rib.staleCount).toBe(0);
    expect(h.rib.snapshot().has(packCidr(parseCidr(A)))).toBe(true);
    expect(h.connection).toEqual([true, false, true]);
  });

  it('after a gobgpd restart, the dump\'s End-of-RIB does not drop stale paths the peer has not resent yet; the next feed\'s does', async () => {
    const h = await startStation();
    const c = await loaded(h);
    await closeClient(h, c);
    h.station.daemonRestarted();
    // The new gobgpd's session to the peer came up just before the feed: only A is in so far.
    const c2 = await dial(h);
    await send(c2, initiation(), peerUp(), announce([A]), endOfRib());
    await waitFor('the dump to be read', () => h.rib.staleCount === 1);
    expect(events(h)).toHaveLength(2);
    expect(h.rib.snapshot().has(packCidr(parseCidr(B)))).toBe(true);
    // B arrives: refreshed, nothing stale.
    await send(c2, announce([B]));
    await waitFor('B refreshed', () => h.rib.staleCount === 0);
    expect(events(h)).toHaveLength(2);
    // A plain reconnect of the same gobgpd: its dump is complete, and its End-of-RIB drops what it lacks.
    await closeClient(h, c2);
    const c3 = await dial(h);
    await send(c3, initiation(), peerUp(), announce([A]), endOfRib());
    await waitFor('a withdraw', () => events(h).length > 2);
    expect(events(h).slice(2)).toEqual([`withdraw ${B}`]);
  });

  it('withdraws everything once the grace period runs out without a reconnect', async () => {
    // Read at the break itself, so a slow machine cannot let the grace end first.
    const atBreak: Array<[number, number, number]> = [];
    const h = await startStation({
      graceMs: 300,
      onConnection: (up) => {
        if (!up) atBreak.push([h.rib.staleCount, h.rib.size, events(h).length]);
      },
    });
    const c = await loaded(h);
    c.sock.destroy();
    await waitFor('the station to see the close', () => !h.station.connected);
    expect(atBreak).toEqual([[2, 2, 2]]);
    await waitFor('the grace period to end', () => events(h).length === 4, 10000);
    expect(events(h).slice(2).sort()).toEqual([`withdraw ${A}`, `withdraw ${B}`]);
    expect(h.rib.size).toBe(0);
    expect(h.rib.staleCount).toBe(0);
  });

  it('drops a connection that sends a malformed message and accepts the next one', async () => {
    const h = await startStation();
    const c = await dial(h);
    await send(c, initiation(), peerUp());
    const bad = initiation();
    bad[0] = 2;
    // The station may reset before the write completes: do not wait for the callback.
    c.sock.write(bad);
    await waitFor('onError', () => h.errors.length === 1);
    await c.closed;
    expect(h.errors[0]).toBeInstanceOf(TerraceError);
    expect(h.errors[0]!.message).toMatch(/bmp\.version: 2, want 3/);
    await waitFor('the station to drop the connection', () => !h.station.connected);
    expect(h.connection).toEqual([true, false]);

    const c2 = await dial(h);
    await send(c2, initiation(), peerUp(), announce([A, B]));
    await waitFor('two sets', () => events(h).length === 2);
    expect(events(h)).toEqual([`set ${A} ${PEER}`, `set ${B} ${PEER}`]);
    expect(h.errors).toHaveLength(1);
    expect(c2.isClosed()).toBe(false);
  });

  it('skips an UPDATE it cannot read, reports it, and keeps the feed and the rest of the stream', async () => {
    const h = await startStation();
    const c = await dial(h);
    await send(c, initiation(), peerUp(), announce([A]));
    await waitFor('one set', () => events(h).length === 1);
    // A prefix length of 33, and in the same write a good UPDATE after it.
    const bad = routeMonitoring(bgpUpdate({ attrs: [attr(1, u8(0)), asPath([65100]), attr(3, ipBytes(PEER))], nlri: cat(u8(33), Buffer.alloc(5)) }));
    await send(c, bad, announce([B]), bad, withdraw([A]));
    await waitFor('the set and the withdraw after it', () => events(h).length === 3);
    expect(events(h)).toEqual([`set ${A} ${PEER}`, `set ${B} ${PEER}`, `withdraw ${A}`]);
    // Two skipped, told once: the same peer and field.
    expect(h.station.unreadableCount).toBe(2);
    expect(h.errors).toHaveLength(1);
    expect(h.errors[0]).toBeInstanceOf(TerraceError);
    expect(h.errors[0]!.message).toMatch(/^bmp station: skipped an UPDATE from 198\.18\.0\.1 that cannot be read, .*: bgp\.nlri: prefix length 33 > 32$/);
    expect(h.errors[0]!.message).not.toMatch(/\n/);
    expect((h.errors[0] as TerraceError).field).toBe('bgp.nlri');
    // Another field is told too.
    await send(c, routeMonitoring(bgpUpdate({ attrs: [attr(3, Buffer.alloc(16))], nlri: prefixes(B) })));
    await waitFor('a second report', () => h.errors.length === 2);
    expect((h.errors[1] as TerraceError).field).toBe('bgp.attr NEXT_HOP (3)');
    expect(h.station.unreadableCount).toBe(3);
    // What `node status` shows for the peer; nothing for a peer with none skipped.
    expect(h.station.unreadableNote(PEER)).toBe('skipped 3 UPDATEs it could not read (bgp.nlri, bgp.attr NEXT_HOP (3))');
    expect(h.station.unreadableNote('198.18.0.9')).toBeUndefined();
    // Not dropped: one connection, still open.
    expect(h.connection).toEqual([true]);
    expect(c.isClosed()).toBe(false);
    expect(h.station.connected).toBe(true);
  });

  it('gives the same events for a stream written one byte at a time', async () => {
    const other = { address: '198.18.0.3', asn: 65103, bgpId: '198.18.0.3' };
    const stream = cat(
      initiation(),
      peerUp(),
      peerUp(other),
      announce([A, B]),
      announce([B, '198.19.2.0/24'], other, '198.18.0.3'),
      withdraw([A]),
      announce(['198.19.3.0/24'], {}, '198.18.0.9'),
      endOfRib(),
      peerDown(other),
    );
    const whole = await startStation();
    const cw = await dial(whole);
    await send(cw, stream);
    const bytewise = await startStation();
    const cb = await dial(bytewise);
    await sendBytewise(cb, stream);

    // The peer down at the end withdraws 198.19.2.0/24: the last event of the stream.
    const last = 'withdraw 198.19.2.0/24';
    await waitFor('the whole stream', () => events(whole).at(-1) === last);
    await waitFor('the bytewise stream', () => events(bytewise).at(-1) === last);
    expect(events(whole)).toEqual([
      `set ${A} ${PEER}`,
      `set ${B} ${PEER}`,
      `set ${B} ${PEER},198.18.0.3`,
      'set 198.19.2.0/24 198.18.0.3',
      `withdraw ${A}`,
      'set 198.19.3.0/24 198.18.0.9',
      `set ${B} ${PEER}`,
      last,
    ]);
    expect(events(bytewise)).toEqual(events(whole));
    expect(bytewise.errors).toEqual([]);
    expect(bytewise.rib.snapshot()).toEqual(whole.rib.snapshot());
  });

  it('ignores post-policy route monitoring', async () => {
    const h = await startStation();
    const c = await dial(h);
    const post = { flags: 0x40 };
    await send(c, initiation(), peerUp(), announce(['198.19.9.1/32'], post), announce([A]));
    await waitFor('a set', () => events(h).length === 1);
    expect(events(h)).toEqual([`set ${A} ${PEER}`]);
    await send(c, withdraw([A], post), announce([B], post), announce([B]));
    await waitFor('a second set', () => events(h).length === 2);
    expect(events(h)).toEqual([`set ${A} ${PEER}`, `set ${B} ${PEER}`]);
    expect(h.rib.pathCount(PEER)).toBe(2);
    expect(h.rib.size).toBe(2);
  });

  it('turns away a second connection while one is live; the live feed carries on', async () => {
    const h = await startStation();
    const c1 = await loaded(h);
    const stray = net.connect({ host: '127.0.0.1', port: h.station.port });
    sockets.push(stray);
    stray.on('error', () => undefined);
    await new Promise((r) => stray.once('close', r));
    expect(h.errors.map((e) => e.message).join()).toMatch(/refused a connection .*a feed is already connected/);
    expect(c1.isClosed()).toBe(false);
    expect(h.station.connectionCount).toBe(1);
    expect(h.rib.staleCount).toBe(0);
    await send(c1, withdraw([B]));
    await waitFor('a withdraw', () => events(h).length === 3);
    expect(events(h)[2]).toBe(`withdraw ${B}`);
  });

  it('graceful restart: a peer down keeps its paths for the restart time, then drops what was not re-announced', async () => {
    // 3 s: the checks and the re-announcement below must come before the
    // restart time ends, also when a loaded machine stalls the test a while.
    const h = await startStation({ restartTimeOf: (peer) => (peer === PEER ? 3 : undefined) });
    const c = await loaded(h);
    await send(c, peerDown());
    await waitFor('the peer to be down', () => h.station.peersUp().size === 0);
    // Still forwarding on both, as gobgpd does.
    expect(events(h)).toHaveLength(2);
    expect(h.rib.size).toBe(2);
    expect(h.rib.staleCount).toBe(2);
    await send(c, peerUp(), announce([A]));
    await waitFor('the restart time to pass', () => events(h).length === 3, 10_000);
    expect(events(h)[2]).toBe(`withdraw ${B}`);
    expect(h.rib.staleCount).toBe(0);
    expect(h.rib.size).toBe(1);
  });

  it('a peer without graceful restart loses its paths at once', async () => {
    const h = await startStation({ restartTimeOf: () => undefined });
    const c = await loaded(h);
    await send(c, peerDown());
    await waitFor('two withdraws', () => events(h).length === 4);
  });
});
