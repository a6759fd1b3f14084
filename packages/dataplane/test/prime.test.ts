import { describe, expect, it } from '@jest/globals';
import { TerraceError, parseCidr, parseIP } from '@terrace/api';
import { blackholeRoute, canonOf, loopbackRelay, primingRouteSync, type RelayLink, RouteWriter, unicastRoute } from '../src/index.js';

const route = (i: number) => unicastRoute(parseCidr(`198.18.${128 + (i >> 8)}.${i & 255}/32`), { via: parseIP('198.18.255.1') });

describe('loopbackRelay', () => {
  it('acknowledges every frame of a batch, so the batch ends with no failures', async () => {
    const w = new RouteWriter({ relay: loopbackRelay });
    const batch = w.begin();
    // More than one frame's worth (256 requests a frame).
    for (let i = 0; i < 1000; i++) batch.write('add', canonOf(route(i)));
    batch.write('del', canonOf(blackholeRoute(parseCidr('198.19.0.0/26'))));
    await expect(batch.end()).resolves.toEqual({ failures: [], lost: false });
    expect(w.pid).toBeUndefined();
    await w.close();
  });

  it('answers nothing once killed: the batch comes back lost', async () => {
    let link: RelayLink | undefined;
    const w = new RouteWriter({ relay: (opts, listener) => (link = loopbackRelay(opts, listener)) });
    const batch = w.begin();
    batch.write('add', canonOf(route(1)));
    // The stand-in dies before its answer is delivered, as a relay process can.
    link?.kill();
    await expect(batch.end()).resolves.toEqual({ failures: [], lost: true });
    await w.close();
  });
});

describe('primingRouteSync', () => {
  it('takes, replaces and removes routes with no kernel behind it', async () => {
    const sync = primingRouteSync();
    try {
      sync.upsert(Array.from({ length: 5000 }, (_, i) => route(i)));
      await sync.flush();
      expect(sync.size).toBe(5000);
      expect(sync.relayPids).toEqual([]);
      sync.upsert([unicastRoute(parseCidr('198.18.128.0/32'), { via: parseIP('198.18.255.2') })]);
      sync.remove([parseCidr('198.18.128.1/32')]);
      await sync.flush();
      expect(sync.size).toBe(4999);
      const report = await sync.resync();
      // The stand-in kernel is always empty: a resync finds every route missing.
      expect(report).toMatchObject({ kernelRoutes: 0, replaced: 4999, removed: 0, failed: 0 });
    } finally {
      await sync.close();
    }
  });

  it('validates as route sync does: an invalid route throws and changes nothing', async () => {
    const sync = primingRouteSync();
    try {
      expect(() => sync.upsert([route(1), unicastRoute(parseCidr('198.18.128.0/32'), [])])).toThrow(TerraceError);
      expect(sync.size).toBe(0);
    } finally {
      await sync.close();
    }
  });
});

describe('RouteWriter with a relay that fails to start', () => {
  it('reports the batch lost when the relay says it exited before its starter returned', async () => {
    const exits: unknown[] = [];
    const w = new RouteWriter({
      relay: (_opts, listener) => {
        listener.exit(null, null, 'spawn perl ENOENT');
        return { pid: undefined, write: () => undefined, end: () => undefined, kill: () => undefined };
      },
      onExit: (info) => exits.push(info),
    });
    const batch = w.begin();
    batch.write('add', canonOf(route(1)));
    await expect(batch.end()).resolves.toEqual({ failures: [], lost: true });
    expect(exits).toEqual([{ pid: undefined, code: null, signal: null, stderr: 'spawn perl ENOENT' }]);
    await w.close();
  });
});
