/**
 * Fuzzing the rtnetlink answer decoders (netlink.ts decodeAnswers,
 * routemsg.ts decodeRoutes, applyLinks, dumpError, dumpInterrupted): what
 * the kernel sends route sync and the link relay. Arbitrary bytes, and
 * valid route, link and error messages with random edits. Every input is
 * decoded, or refused with the decoders' documented errors (an Error whose
 * message starts with "netlink:", or UnknownIfIndex), in one line, within a
 * second; never a RangeError from reading past the bytes received.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseCidr, parseIP } from '@terrace/api';
import { applyEdits, bounded, editsArb } from '@terrace/testkit';
import { blackholeRoute, canonOf, deviceRoute, unicastRoute } from '../src/index.js';
import { decodeAnswers, encodeRoute, MessageWriter } from '../src/netlink.js';
import { IFLA_IFNAME, NLMSG_ERROR, RTM_NEWLINK } from '../src/rtnl.js';
import { applyLinks, decodeRoutes, dumpError, dumpInterrupted, UnknownIfIndex, type IfNames } from '../src/routemsg.js';

const documented = (e: unknown): boolean => e instanceof UnknownIfIndex || (e instanceof Error && e.constructor === Error && e.message.startsWith('netlink: '));
const LINKS = new Map([
  ['eth0', 2],
  ['veth1', 7],
]);

const v4 = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 32 })).map(([x, len]) => parseCidr(`198.19.${x}.0/${Math.max(len, 24)}`));
const v6 = fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 48, max: 128 })).map(([x, len]) => parseCidr(`2001:db8:${x.toString(16)}::/${len}`));
const route = fc.oneof(
  v4.map((d) => unicastRoute(d, { via: parseIP('198.18.0.2') })),
  fc.tuple(v4, fc.integer({ min: 1, max: 4 })).map(([d, n]) => unicastRoute(d, Array.from({ length: n }, (_, i) => ({ via: parseIP(`198.18.0.${i + 2}`), weight: i + 1, dev: 'eth0' })))),
  v6.map((d) => unicastRoute(d, { via: parseIP('2001:db8::2'), dev: 'eth0' }, { metric: 5 })),
  fc.tuple(v4, fc.integer({ min: 1, max: 70000 })).map(([d, table]) => blackholeRoute(d, { table })),
  v4.map((d) => deviceRoute(d, 'veth1')),
);

function linkMessage(type: number, index: number, name: string): Buffer {
  const w = new MessageWriter(64);
  w.msgStart(type, 0, 1);
  w.u8(0);
  w.u8(0);
  w.u16(1);
  w.u32(index);
  w.u32(0);
  w.u32(0);
  w.attr(IFLA_IFNAME, Buffer.from(`${name}\0`));
  w.msgEnd();
  return Buffer.from(w.bytes());
}

/** An NLMSG_ERROR answer with an extended-ack message, as the kernel sends for a refused request. */
function errorMessage(errno: number, text: string): Buffer {
  const w = new MessageWriter(64);
  w.msgStart(NLMSG_ERROR, 0x100 | 0x200, 9);
  w.u32(-errno);
  w.msgStart(24, 0, 9); // the echoed request's header (capped)
  const inner = w.bytes().length - 16;
  w.set32(inner, 16);
  w.attr(1, Buffer.from(`${text}\0`));
  // msgEnd closes the inner header; the outer length covers it all.
  w.set32(0, w.bytes().length);
  return Buffer.from(w.bytes());
}

const message = fc.oneof(
  route.map((r) => {
    const w = new MessageWriter(64);
    encodeRoute(w, 'replace', canonOf(r), 1, LINKS, false);
    return Buffer.from(w.bytes());
  }),
  // A link removal is left to the edits (0x11): a route naming the removed link then throws UnknownIfIndex, as documented.
  fc.tuple(fc.integer({ min: 1, max: 9 }), fc.constantFrom('eth0', 'veth1', 'x')).map(([i, n]) => linkMessage(RTM_NEWLINK, i, n)),
  fc.tuple(fc.integer({ min: 1, max: 133 }), fc.constantFrom('', 'Nexthop device is not up')).map(([e, t]) => errorMessage(e, t)),
);
const stream = fc.array(message, { minLength: 1, maxLength: 4 }).map((ms) => Buffer.concat(ms));
const BYTES = ['\x00', '\xff', '\x01', '\x02', '\x04', '\x05', '\x08', '\x09', '\x10', '\x11', '\x12', '\x18', '\x19', '\x80'];
const edits = editsArb(fc.constantFrom(...BYTES), 3).map((es) => es.map((e) => (e.op === 'insert' ? { op: 'set' as const, at: e.at, byte: e.text.charCodeAt(0) } : e)));

/** Runs every decoder on `b`; each must end cleanly or with its documented error. */
function decodeAll(b: Buffer): void {
  const names = (): IfNames => new Map([[2, 'eth0'], [7, 'veth1']]);
  bounded(() => decodeAnswers(b), documented);
  bounded(() => decodeRoutes(b, names(), false), documented);
  bounded(() => decodeRoutes(b, names(), false, [], true), documented);
  bounded(() => applyLinks(b, names()), documented);
  bounded(() => dumpError(b), () => false);
  bounded(() => dumpInterrupted(b), () => false);
}

describe('netlink decoders under fuzzing', () => {
  it('any bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => decodeAll(Buffer.from(b))), { numRuns: 500 });
  });

  it('valid messages decode', () => {
    fc.assert(
      fc.property(stream, (s) => {
        const names: IfNames = new Map([[2, 'eth0'], [7, 'veth1']]);
        expect(() => decodeRoutes(s, names, false, [], true)).not.toThrow();
        expect(decodeAnswers(s).length).toBeGreaterThan(0);
      }),
      { numRuns: 200 },
    );
  });

  it('valid messages with random edits', () => {
    fc.assert(fc.property(stream, edits, (s, e) => decodeAll(applyEdits(s, e))), { numRuns: 1500 });
  });

  it('a message cut anywhere', () => {
    fc.assert(fc.property(stream, fc.nat(), (s, at) => decodeAll(s.subarray(0, at % (s.length + 1)))), { numRuns: 300 });
  });

  it('an error answer names its errno and the kernel\'s words', () => {
    expect(decodeAnswers(errorMessage(19, 'Nexthop device is not up'))).toEqual([{ kind: 'error', seq: 9, errno: 19, message: 'Nexthop device is not up' }]);
  });
});

/** Runs a decoder on `bytes` in a worker, so that an endless loop fails the test instead of hanging it. */
function inWorker(fn: 'dumpInterrupted' | 'dumpError', bytes: Buffer): Promise<string> {
  const module = new URL('../src/routemsg.js', import.meta.url).href;
  const code = `const { parentPort, workerData } = require('node:worker_threads');
import(workerData.module).then((m) => parentPort.postMessage(String(m[workerData.fn](Buffer.from(workerData.bytes)))), (e) => parentPort.postMessage('error ' + e.message));`;
  return new Promise((resolve) => {
    const w = new Worker(code, { eval: true, workerData: { module, fn, bytes } });
    const t = setTimeout(() => void w.terminate().then(() => resolve('still running after 5 s')), 5000);
    w.once('message', (m: string) => {
      clearTimeout(t);
      void w.terminate();
      resolve(m);
    });
  });
}

describe('findings kept as regression examples', () => {
  /** A 16-byte header claiming `len` bytes, then `rest`. */
  const header = (len: number, type: number, flags: number, rest: number[] = []): Buffer => {
    const w = new MessageWriter(32);
    w.msgStart(type, flags, 1);
    for (const x of rest) w.u8(x);
    w.set32(0, len);
    return Buffer.from(w.bytes());
  };

  // A length of 0xfffffffd..0xffffffff aligns to 0 in 32-bit arithmetic: the walk stood still.
  it.each(['dumpInterrupted', 'dumpError'] as const)('%s ends on a message claiming 4 GiB', async (fn) => {
    expect(await inWorker(fn, header(0xffffffff, 24, 0))).toBe(fn === 'dumpError' ? '0' : 'false');
  });

  // An echoed-request length past the message sent the extended-ack search to a negative offset (RangeError).
  it('an error answer with a damaged echoed length has no message, and no RangeError', () => {
    const b = errorMessage(19, 'x');
    b.writeUInt32LE(0x80000050, 20);
    b.writeUInt16LE(0x200, 6); // ACK_TLVS, not capped: the echoed length is read
    expect(bounded(() => decodeAnswers(b), documented)).toMatchObject({ ok: true, value: [{ kind: 'error', errno: 19, message: undefined }] });
  });

  // An NLMSG_ERROR too short for its errno read past the bytes received, or read 0, which means success.
  it('an error answer without an errno is refused, not taken for an acknowledgement', () => {
    const out = bounded(() => decodeAnswers(header(16, NLMSG_ERROR, 0)), documented);
    expect(out.ok ? 'decoded' : out.error.message).toBe('netlink: an error message of 16 bytes at 0 has no error code');
  });

  // A next hop or attribute longer than what holds it was read past its end (RangeError at the end of the bytes).
  it('a route whose gateway attribute is cut short is refused', () => {
    const w = new MessageWriter(64);
    encodeRoute(w, 'replace', canonOf(unicastRoute(parseCidr('198.19.0.0/24'), { via: parseIP('198.18.0.2') })), 1, LINKS, false);
    const b = Buffer.from(w.bytes());
    // RTA_GATEWAY is the last attribute: claim 2 bytes of address instead of 4.
    b.writeUInt16LE(6, b.length - 8);
    const out = bounded(() => decodeRoutes(b, new Map(), false), documented);
    expect(out.ok ? 'decoded' : out.error.message).toBe('netlink: attribute 5 of the route at 0 holds 2 bytes, fewer than the 16 it needs');
  });
});

