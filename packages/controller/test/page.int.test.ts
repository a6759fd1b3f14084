// The status page's server against a real etcd, as a standby serves it (it never leads here): the page and
// its JSON, a change in etcd reaching an open stream, read-only, and no secret in anything it serves.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { get, request } from 'node:http';
import { type Socket, connect } from 'node:net';
import { API_VERSION, type BGPPeer, type NodeStatus } from '@terrace/api';
import { MAX_STREAMS, StatusPage } from '../src/page/server.js';
import type { PageState } from '../src/page/state.js';
import { harness, memoryLogger, pool, waitFor } from './fixtures.js';

const h = harness('page');
const SECRET = 'tor-md5-secret-7f3a';
let page: StatusPage;

function fetchText(url: string, method = 'GET'): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A raw connection asking for the stream, so a test can stop reading it. */
function openStream(): Socket {
  const u = new URL(page.url());
  const sock = connect(Number(u.port), u.hostname);
  sock.on('error', () => undefined);
  sock.write(`GET /api/stream HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`);
  return sock;
}

beforeAll(async () => {
  await h.store.create(pool('pool-a', '198.19.0.0/24'));
  const peer: BGPPeer = {
    apiVersion: API_VERSION, kind: 'BGPPeer', metadata: { name: 'tor' },
    spec: { peerIP: '198.18.0.1', asNumber: 65000, password: { secretKeyRef: { name: SECRET, key: `${SECRET}-key` } } },
  };
  await h.store.create(peer);
  page = new StatusPage({ etcd: h.etcd, keys: h.keys, log: memoryLogger('page').log, listen: { host: '127.0.0.1', port: 0 }, servedBy: 'standby-1', leading: () => false, debounceMs: 50 });
  await page.start();
});

afterAll(async () => {
  await page.stop();
  await h.close();
});

describe('status page server', () => {
  test('serves the page, its assets and the state as JSON; no secret in any of them', async () => {
    const html = await fetchText(page.url());
    expect(html).toMatchObject({ status: 200, type: 'text/html; charset=utf-8' });
    expect(html.body).toContain('<svg id="graph"');
    for (const asset of ['page.js', 'page.css']) expect((await fetchText(page.url() + asset)).status).toBe(200);
    const res = await fetchText(`${page.url()}api/state`);
    const st = JSON.parse(res.body) as PageState;
    expect(st).toMatchObject({ cluster: h.keys.cluster, servedBy: 'standby-1', leading: false });
    expect(st.pools.map((p) => p.name)).toEqual(['pool-a']);
    for (const r of [html, res]) expect(r.body).not.toContain(SECRET);
  });

  test('read-only: anything but GET or HEAD is refused; unknown paths are 404', async () => {
    expect((await fetchText(`${page.url()}api/state`, 'POST')).status).toBe(405);
    expect((await fetchText(`${page.url()}api/state`, 'DELETE')).status).toBe(405);
    expect((await fetchText(`${page.url()}../etc/passwd`)).status).toBe(404);
  });

  test('a change in etcd reaches an open stream; the leader\'s events show on a standby\'s page', async () => {
    const frames: PageState[] = [];
    const req = get(`${page.url()}api/stream`, (res) => {
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString();
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = frame.split('\n').find((l) => l.startsWith('data: '));
          if (data) frames.push(JSON.parse(data.slice(6)) as PageState);
        }
      });
    });
    try {
      await waitFor('the first frame', () => frames.length === 1);
      expect(frames[0]?.nodes).toEqual([]);
      const status: NodeStatus = {
        node: 'n1', backend: 'gobgp', updatedAt: new Date().toISOString(), asNumber: 64512, routerId: '198.18.0.11', addresses: ['198.18.0.11'],
        peers: [{ address: '198.18.0.1', type: 'global', source: 'bgppeer/tor', asNumber: 65000, state: 'Established', info: '', received: 0, advertised: 1 }],
        prefixes: { received: 0, advertised: 1, installed: 1 }, advertisedPrefixes: [],
      };
      await h.etcd.put(h.keys.status('n1')).value(JSON.stringify(status));
      await waitFor('n1 and its session on the stream', () => frames.some((f) => f.nodes.some((n) => n.name === 'n1') && f.sessions.some((s) => s.id === 'node:n1|peer:198.18.0.1' && s.state === 'Established')), 5000);
      await h.etcd.put(h.keys.controllerEvents()).value(JSON.stringify({ events: [{ time: new Date().toISOString(), kind: 'node lost', subject: 'n2', message: 'n2 lost' }] }));
      await waitFor('the event on the stream', () => frames.some((f) => f.events.some((e) => e.subject === 'n2')), 5000);
    } finally {
      req.destroy();
    }
  });

  test('with no stream open nothing is built until /api/state asks, and then it is current', async () => {
    await waitFor('no stream open', () => page.openStreams() === 0, 5000);
    const before = page.builds();
    for (let i = 0; i < 5; i++) {
      await h.etcd.put(h.keys.controllerEvents()).value(JSON.stringify({ events: [{ time: new Date().toISOString(), kind: 'node lost', subject: `quiet-${i}`, message: 'x' }] }));
      await new Promise((r) => setTimeout(r, 150));
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(page.builds()).toBe(before);
    const st = JSON.parse((await fetchText(`${page.url()}api/state`)).body) as PageState;
    expect(st.events.map((e) => e.subject)).toEqual(['quiet-4']);
    expect(page.builds()).toBe(before + 1);
  });

  test('a client that stops reading its stream is cut off instead of buffered for', async () => {
    const sock = openStream();
    try {
      await waitFor('the stream open', () => page.openStreams() === 1, 5000);
      sock.pause();
      // A state of a few hundred kilobytes, changed until the kernel's buffers are full and frames queue up.
      const peers = Array.from({ length: 2000 }, (_, i) => ({
        address: `198.18.${10 + Math.floor(i / 250)}.${i % 250}`, type: 'global' as const, source: 'bgppeer/tor', asNumber: 65000, state: 'Established' as const, info: '', received: 0, advertised: 1,
      }));
      for (let i = 0; page.openStreams() > 0; i++) {
        if (i > 300) throw new Error(`a paused stream still open after ${i} changes`);
        const status: NodeStatus = {
          node: 'big', backend: 'gobgp', updatedAt: new Date().toISOString(), asNumber: 64512, routerId: '198.18.0.12', addresses: ['198.18.0.12'],
          peers, prefixes: { received: i, advertised: 1, installed: 1 }, advertisedPrefixes: [],
        };
        await h.etcd.put(h.keys.status('big')).value(JSON.stringify(status));
        await new Promise((r) => setTimeout(r, 80));
      }
    } finally {
      sock.destroy();
      await h.etcd.delete().key(h.keys.status('big'));
    }
  });

  test(`at most ${MAX_STREAMS} streams are open at once; one more is refused with 503`, async () => {
    await waitFor('no stream open', () => page.openStreams() === 0, 5000);
    const socks = Array.from({ length: MAX_STREAMS }, () => openStream());
    try {
      await waitFor('all streams open', () => page.openStreams() === MAX_STREAMS, 10_000);
      const res = await fetchText(`${page.url()}api/stream`);
      expect(res.status).toBe(503);
      expect(res.body).toContain('too many open streams');
    } finally {
      for (const s of socks) s.destroy();
    }
  });
});
