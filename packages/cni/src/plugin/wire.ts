/**
 * A hand-written protobuf codec for the few messages the plugin sends and
 * receives (proto/terrace/agent/v1/cni.proto). The generated protobuf-es
 * code is what the agent uses; loading it costs the plugin about 100 ms of
 * cold start (the descriptor registry), more than the rest of the plugin,
 * so the plugin speaks the wire format directly. test/wire.test.ts checks
 * every message both ways against the generated schemas.
 */

export interface WireArg {
  key: string;
  value: string;
}

export interface WireCniRequest {
  command: string;
  containerId: string;
  netns: string;
  ifname: string;
  args: WireArg[];
  cniPath: string;
  config: Uint8Array;
  prevResult: string;
}

export interface WireAttachment {
  containerId: string;
  ifname: string;
}

export interface WireGcRequest {
  config: Uint8Array;
  validAttachments: WireAttachment[];
}

export interface WireStatusRequest {
  config: Uint8Array;
}

export type WireCniResponse =
  | { case: 'resultJson'; value: string }
  | { case: 'error'; value: { code: number; msg: string; details: string } }
  | { case: undefined };

const LEN = 2;
const VARINT = 0;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

function pushVarint(out: number[], n: number): void {
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

/** Accumulates the fields of one message. proto3 omits empty scalars, as we do. */
class Writer {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  bytes(field: number, b: Uint8Array, always = false): this {
    if (b.length === 0 && !always) return this;
    const head: number[] = [];
    pushVarint(head, (field << 3) | LEN);
    pushVarint(head, b.length);
    this.add(Uint8Array.from(head));
    this.add(b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }

  message(field: number, w: Writer): this {
    return this.bytes(field, w.finish(), true);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }

  private add(c: Uint8Array): void {
    this.chunks.push(c);
    this.size += c.length;
  }
}

export function encodeCniRequest(r: WireCniRequest): Uint8Array {
  const w = new Writer().string(1, r.command).string(2, r.containerId).string(3, r.netns).string(4, r.ifname);
  for (const a of r.args) w.message(5, new Writer().string(1, a.key).string(2, a.value));
  return w.string(6, r.cniPath).bytes(7, r.config).string(8, r.prevResult).finish();
}

export function encodeGcRequest(r: WireGcRequest): Uint8Array {
  const w = new Writer().bytes(1, r.config);
  for (const a of r.validAttachments) w.message(2, new Writer().string(1, a.containerId).string(2, a.ifname));
  return w.finish();
}

export function encodeStatusRequest(r: WireStatusRequest): Uint8Array {
  return new Writer().bytes(1, r.config).finish();
}

/** Reads fields one at a time, skipping any this side does not know. */
class Reader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): number {
    let n = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw new Error('protobuf: truncated varint');
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
    }
    throw new Error('protobuf: varint too long');
  }

  tag(): { field: number; type: number } {
    const t = this.varint();
    return { field: Math.floor(t / 8), type: t & 7 };
  }

  bytes(): Uint8Array {
    const len = this.varint();
    if (this.pos + len > this.buf.length) throw new Error('protobuf: truncated field');
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }

  skip(type: number): void {
    if (type === VARINT) this.varint();
    else if (type === LEN) this.bytes();
    else if (type === 1) this.pos += 8;
    else if (type === 5) this.pos += 4;
    else throw new Error(`protobuf: unsupported wire type ${type}`);
  }
}

function decodeError(buf: Uint8Array): { code: number; msg: string; details: string } {
  const r = new Reader(buf);
  const e = { code: 0, msg: '', details: '' };
  while (!r.done()) {
    const { field, type } = r.tag();
    if (field === 1 && type === VARINT) e.code = r.varint();
    else if (field === 2 && type === LEN) e.msg = fromUtf8.decode(r.bytes());
    else if (field === 3 && type === LEN) e.details = fromUtf8.decode(r.bytes());
    else r.skip(type);
  }
  return e;
}

export function decodeCniResponse(buf: Uint8Array): WireCniResponse {
  const r = new Reader(buf);
  let out: WireCniResponse = { case: undefined };
  // Members of a oneof: the last one on the wire wins.
  while (!r.done()) {
    const { field, type } = r.tag();
    if (field === 1 && type === LEN) out = { case: 'resultJson', value: fromUtf8.decode(r.bytes()) };
    else if (field === 2 && type === LEN) out = { case: 'error', value: decodeError(r.bytes()) };
    else r.skip(type);
  }
  return out;
}
