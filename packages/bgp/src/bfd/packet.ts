/**
 * The BFD Control packet (RFC 5880 §4.1) without authentication: 24 bytes,
 * encoded and decoded here and nowhere else. Timer fields are microseconds
 * on the wire, as the RFC has them; the rest of the BFD code keeps them in
 * microseconds too, so nothing is rounded on the way through.
 *
 * decode() applies the checks of §6.8.6 that need only the packet itself
 * (version, length, detect multiplier, multipoint bit, discriminators, and
 * the authentication bit, since we implement none); the checks that need
 * the session table (an unknown Your Discriminator) are the manager's.
 */

/** Session states as encoded in the Sta field. */
export enum BfdState {
  AdminDown = 0,
  Down = 1,
  Init = 2,
  Up = 3,
}

/** Diagnostic codes (§4.1) we send; others are carried through decode as numbers. */
export enum BfdDiag {
  None = 0,
  DetectionTimeExpired = 1,
  NeighborSignaledDown = 3,
  AdministrativelyDown = 7,
}

export interface ControlPacket {
  /** 0–31. */
  diag: number;
  state: BfdState;
  poll: boolean;
  final: boolean;
  /** Control Plane Independent: false, our BFD shares fate with the agent. */
  cpi: boolean;
  demand: boolean;
  /** 1–255. */
  detectMult: number;
  /** Non-zero. */
  myDiscr: number;
  yourDiscr: number;
  /** Microseconds, 0 ≤ x < 2^32. */
  desiredMinTxUs: number;
  requiredMinRxUs: number;
  requiredMinEchoRxUs: number;
}

export const BFD_VERSION = 1;
/** A Control packet without an authentication section. */
export const BFD_PACKET_LENGTH = 24;
/** The smallest length a packet with the A bit may claim (§6.8.6); we still discard those. */
const MIN_AUTH_LENGTH = 26;

const P_BIT = 0x20;
const F_BIT = 0x10;
const C_BIT = 0x08;
const A_BIT = 0x04;
const D_BIT = 0x02;
const M_BIT = 0x01;

/** Why decode() discarded a packet (counted and shown by the manager, never thrown). */
export type DecodeResult = { ok: true; packet: ControlPacket } | { ok: false; reason: string };

export function encodeControl(p: ControlPacket): Buffer {
  const b = Buffer.alloc(BFD_PACKET_LENGTH);
  b[0] = (BFD_VERSION << 5) | (p.diag & 0x1f);
  b[1] = ((p.state & 0x3) << 6) | (p.poll ? P_BIT : 0) | (p.final ? F_BIT : 0) | (p.cpi ? C_BIT : 0) | (p.demand ? D_BIT : 0);
  b[2] = p.detectMult & 0xff;
  b[3] = BFD_PACKET_LENGTH;
  b.writeUInt32BE(p.myDiscr >>> 0, 4);
  b.writeUInt32BE(p.yourDiscr >>> 0, 8);
  b.writeUInt32BE(p.desiredMinTxUs >>> 0, 12);
  b.writeUInt32BE(p.requiredMinRxUs >>> 0, 16);
  b.writeUInt32BE(p.requiredMinEchoRxUs >>> 0, 20);
  return b;
}

export function decodeControl(b: Uint8Array): DecodeResult {
  if (b.length < BFD_PACKET_LENGTH) return { ok: false, reason: `short packet (${b.length} bytes)` };
  const view = Buffer.from(b.buffer, b.byteOffset, b.length);
  const version = (view[0] as number) >> 5;
  if (version !== BFD_VERSION) return { ok: false, reason: `version ${version}` };
  const flags = view[1] as number;
  const length = view[3] as number;
  const auth = (flags & A_BIT) !== 0;
  if (length < (auth ? MIN_AUTH_LENGTH : BFD_PACKET_LENGTH)) return { ok: false, reason: `length field ${length} too small` };
  if (length > b.length) return { ok: false, reason: `length field ${length} beyond the ${b.length} bytes received` };
  if (auth) return { ok: false, reason: 'authentication present (not supported)' };
  const detectMult = view[2] as number;
  if (detectMult === 0) return { ok: false, reason: 'detect multiplier 0' };
  if ((flags & M_BIT) !== 0) return { ok: false, reason: 'multipoint bit set' };
  const myDiscr = view.readUInt32BE(4);
  if (myDiscr === 0) return { ok: false, reason: 'my discriminator 0' };
  const yourDiscr = view.readUInt32BE(8);
  const state = ((flags >> 6) & 0x3) as BfdState;
  if (yourDiscr === 0 && state !== BfdState.Down && state !== BfdState.AdminDown) {
    return { ok: false, reason: 'your discriminator 0 in a packet that is not Down or AdminDown' };
  }
  return {
    ok: true,
    packet: {
      diag: (view[0] as number) & 0x1f,
      state,
      poll: (flags & P_BIT) !== 0,
      final: (flags & F_BIT) !== 0,
      cpi: (flags & C_BIT) !== 0,
      demand: (flags & D_BIT) !== 0,
      detectMult,
      myDiscr,
      yourDiscr,
      desiredMinTxUs: view.readUInt32BE(12),
      requiredMinRxUs: view.readUInt32BE(16),
      requiredMinEchoRxUs: view.readUInt32BE(20),
    },
  };
}

export function stateName(s: BfdState): 'admin down' | 'down' | 'init' | 'up' {
  return s === BfdState.Up ? 'up' : s === BfdState.Init ? 'init' : s === BfdState.Down ? 'down' : 'admin down';
}
