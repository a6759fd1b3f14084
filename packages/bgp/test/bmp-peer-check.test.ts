import { afterEach, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { heldBy, socketInode } from '../src/bmp/peer-check.js';
import { AdjRibIn } from '../src/bmp/rib.js';
import { BmpStation } from '../src/bmp/station.js';

const SAMPLE = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:C351 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:9C40 0100007F:A0D2 01 00000000:00000000 00:00000000 00000000     0        0 2222 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:A0D2 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 3333 1 0000000000000000 20 4 30 10 -1
`;

describe('socketInode', () => {
  it('finds the socket by its local and remote loopback ports', () => {
    expect(socketInode(SAMPLE, 0xa0d2, 0x9c40)).toBe('3333');
    expect(socketInode(SAMPLE, 0x9c40, 0xa0d2)).toBe('2222');
    expect(socketInode(SAMPLE, 0xa0d2, 0x1234)).toBeUndefined();
    expect(socketInode('', 1, 2)).toBeUndefined();
  });
});

describe('heldBy and the station’s check', () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function connectTo(port: number): Promise<net.Socket> {
    const c = net.connect(port, '127.0.0.1');
    cleanup.push(() => c.destroy());
    await new Promise((r) => c.once('connect', r));
    return c;
  }

  it('tells our own connection from another process’s', async () => {
    const srv = net.createServer();
    cleanup.push(() => new Promise((r) => srv.close(r)));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const c = await connectTo(port);
    expect(await heldBy(process.pid, c.localPort as number, port)).toBe(true);
    expect(await heldBy(1, c.localPort as number, port)).toBe(false);
    expect(await heldBy(process.pid, c.localPort as number, port + 1)).toBe(false);
  });

  it('the station refuses a client that is not the expected process and takes the expected one', async () => {
    let expected = 1;
    const errors: string[] = [];
    const st = new BmpStation({
      rib: new AdjRibIn({ localAsn: 64512, routerId: 1 }),
      onEvents: () => undefined,
      onError: (e) => errors.push(e.message),
      expectedPid: () => expected,
    });
    cleanup.push(() => st.close());
    await st.listen();
    const stranger = await connectTo(st.port);
    await new Promise((r) => stranger.once('close', r));
    expect(st.connected).toBe(false);
    expect(errors.join()).toMatch(/refused a connection .*not our gobgpd \(pid 1\)/);
    expected = process.pid;
    await connectTo(st.port);
    for (let i = 0; i < 200 && !st.connected; i++) await new Promise((r) => setTimeout(r, 10));
    expect(st.connected).toBe(true);
    expect(st.connectionCount).toBe(1);
  });
});
