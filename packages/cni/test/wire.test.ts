// The plugin's hand-written codec must agree with the generated schemas the
// agent uses, byte for byte, for any input.
import { describe, expect, it } from '@jest/globals';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { pb } from '../src/index.js';
import { decodeCniResponse, encodeCniRequest, encodeGcRequest, encodeStatusRequest } from '../src/plugin/wire.js';

const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const bytes = fc.uint8Array({ maxLength: 300 });

describe('plugin wire codec', () => {
  it('encodes CniRequest exactly as protobuf-es does', () => {
    fc.assert(
      fc.property(
        fc.record({
          command: text,
          containerId: text,
          netns: text,
          ifname: text,
          args: fc.array(fc.record({ key: text, value: text }), { maxLength: 5 }),
          cniPath: text,
          config: bytes,
          prevResult: text,
        }),
        (r) => {
          const mine = encodeCniRequest(r);
          const theirs = toBinary(pb.CniRequestSchema, create(pb.CniRequestSchema, r));
          expect(Buffer.from(mine).equals(Buffer.from(theirs))).toBe(true);
          const back = fromBinary(pb.CniRequestSchema, mine);
          expect(back.containerId).toBe(r.containerId);
          expect(back.args.map((a) => [a.key, a.value])).toEqual(r.args.map((a) => [a.key, a.value]));
        },
      ),
    );
  });

  it('encodes GcRequest and StatusRequest exactly as protobuf-es does', () => {
    fc.assert(
      fc.property(bytes, fc.array(fc.record({ containerId: text, ifname: text }), { maxLength: 5 }), (config, validAttachments) => {
        const gc = { config, validAttachments };
        expect(Buffer.from(encodeGcRequest(gc)).equals(Buffer.from(toBinary(pb.GcRequestSchema, create(pb.GcRequestSchema, gc))))).toBe(true);
        const st = { config };
        expect(Buffer.from(encodeStatusRequest(st)).equals(Buffer.from(toBinary(pb.StatusRequestSchema, create(pb.StatusRequestSchema, st))))).toBe(true);
      }),
    );
  });

  it('decodes every CniResponse protobuf-es writes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          text.map((value) => ({ case: 'resultJson' as const, value })),
          fc
            .record({ code: fc.integer({ min: 0, max: 2 ** 32 - 1 }), msg: text, details: text })
            .map((value) => ({ case: 'error' as const, value })),
        ),
        (outcome) => {
          const bin = toBinary(
            pb.CniResponseSchema,
            outcome.case === 'resultJson'
              ? create(pb.CniResponseSchema, { outcome })
              : create(pb.CniResponseSchema, { outcome: { case: 'error', value: create(pb.CniErrorSchema, outcome.value) } }),
          );
          expect(decodeCniResponse(bin)).toEqual(outcome);
        },
      ),
    );
  });

  it('decodes an empty DEL answer and skips fields it does not know', () => {
    const empty = toBinary(pb.CniResponseSchema, create(pb.CniResponseSchema, { outcome: { case: 'resultJson', value: '' } }));
    expect(decodeCniResponse(empty)).toEqual({ case: 'resultJson', value: '' });
    // field 9 (varint 7) and field 10 (fixed64) from a newer agent, then the result
    const extra = Uint8Array.from([0x48, 7, 0x51, 1, 2, 3, 4, 5, 6, 7, 8, ...empty]);
    expect(decodeCniResponse(extra)).toEqual({ case: 'resultJson', value: '' });
    expect(() => decodeCniResponse(Uint8Array.from([0x0a, 5, 1]))).toThrow(/truncated/);
  });
});
