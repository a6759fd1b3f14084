import { describe, expect, it } from '@jest/globals';
import { BfdDiag, BfdState, type ControlPacket } from '../src/bfd/packet.js';
import { BfdSession, SLOW_TX_US } from '../src/bfd/session.js';

const FAST_US = 100_000;

function session(mult = 3): BfdSession {
  return new BfdSession({ localDiscr: 11, desiredMinTxUs: FAST_US, requiredMinRxUs: FAST_US, detectMult: mult });
}

/** A packet from the peer (discriminator 22) in `state`. */
function from(state: BfdState, more: Partial<ControlPacket> = {}): ControlPacket {
  return {
    diag: 0,
    state,
    poll: false,
    final: false,
    cpi: false,
    demand: false,
    detectMult: 3,
    myDiscr: 22,
    yourDiscr: state === BfdState.Down ? 0 : 11,
    desiredMinTxUs: FAST_US,
    requiredMinRxUs: FAST_US,
    requiredMinEchoRxUs: 0,
    ...more,
  };
}

/** Two sessions that exchange every packet they build: the three-way handshake of §6.2. */
function bringUp(s: BfdSession, now = 0): void {
  s.received(from(BfdState.Down), now);
  s.received(from(BfdState.Up), now);
}

describe('BFD session state machine (RFC 5880 §6.8.6)', () => {
  it('comes Up by the three-way handshake: Down → Init on the peer\'s Down, → Up on its Init', () => {
    const s = session();
    expect(s.state).toBe(BfdState.Down);
    const r1 = s.received(from(BfdState.Down), 0);
    expect(r1.change).toEqual({ from: BfdState.Down, to: BfdState.Init, diag: 0, peerAdminDown: false });
    expect(r1.sendNow).toBe(true);
    expect(s.packet().yourDiscr).toBe(22);
    const r2 = s.received(from(BfdState.Init), 10);
    expect(r2.change?.to).toBe(BfdState.Up);
  });

  it('goes straight from Down to Up when the peer is already Init, and from Init to Up on Up', () => {
    const a = session();
    a.received(from(BfdState.Init), 0);
    expect(a.state).toBe(BfdState.Up);
    const b = session();
    b.received(from(BfdState.Down), 0);
    b.received(from(BfdState.Up), 0);
    expect(b.state).toBe(BfdState.Up);
  });

  it('stays Down when the peer says Up while we are Down (it must see us first)', () => {
    const s = session();
    s.received(from(BfdState.Up), 0);
    expect(s.state).toBe(BfdState.Down);
  });

  it('goes Down with diagnostic 3 when the peer says Down or AdminDown, and tells which (RFC 5882 §3.2)', () => {
    for (const peer of [BfdState.Down, BfdState.AdminDown]) {
      const s = session();
      bringUp(s);
      const r = s.received(from(peer), 5);
      expect(r.change).toEqual({ from: BfdState.Up, to: BfdState.Down, diag: BfdDiag.NeighborSignaledDown, peerAdminDown: peer === BfdState.AdminDown });
      expect(s.packet().diag).toBe(BfdDiag.NeighborSignaledDown);
    }
  });

  it('goes Down with diagnostic 1 once the detection time (peer mult × agreed interval) passes without a packet', () => {
    const s = session();
    bringUp(s, 1000);
    // The peer's multiplier 3 × max(our 100 ms, its 100 ms).
    expect(s.detectionTimeMs()).toBe(300);
    expect(s.detectionDeadline()).toBe(1300);
    expect(s.expire(1299)).toBeUndefined();
    expect(s.state).toBe(BfdState.Up);
    const c = s.expire(1300);
    expect(c).toEqual({ from: BfdState.Up, to: BfdState.Down, diag: BfdDiag.DetectionTimeExpired, peerAdminDown: false });
    // §6.8.1: the peer's discriminator is forgotten.
    expect(s.packet().yourDiscr).toBe(0);
    expect(s.detectionDeadline()).toBeUndefined();
  });

  it('counts the detection time with the slower of our receive interval and the peer\'s transmit interval', () => {
    const s = session();
    s.received(from(BfdState.Down, { desiredMinTxUs: SLOW_TX_US, detectMult: 5 }), 0);
    expect(s.state).toBe(BfdState.Init);
    expect(s.detectionTimeMs()).toBe(5000);
  });

  it('each packet received pushes the deadline on', () => {
    const s = session();
    bringUp(s, 0);
    s.received(from(BfdState.Up), 200);
    expect(s.expire(400)).toBeUndefined();
    expect(s.detectionDeadline()).toBe(500);
  });

  it('advertises at least 1 s while not Up, the configured interval once Up, with a Poll Sequence for the change', () => {
    const s = session();
    expect(s.packet().desiredMinTxUs).toBe(SLOW_TX_US);
    expect(s.packet().requiredMinRxUs).toBe(FAST_US);
    expect(s.packet().poll).toBe(false);
    bringUp(s);
    expect(s.packet().desiredMinTxUs).toBe(FAST_US);
    expect(s.packet().poll).toBe(true);
    // The peer's Final ends the poll.
    s.received(from(BfdState.Up, { final: true }), 1);
    expect(s.packet().poll).toBe(false);
    // Down again: slow again, and another poll.
    s.expire(10_000);
    expect(s.packet().desiredMinTxUs).toBe(SLOW_TX_US);
    expect(s.packet().poll).toBe(true);
  });

  it('answers a Poll with a Final at once, and never sends P and F together', () => {
    const s = session();
    bringUp(s);
    const r = s.received(from(BfdState.Up, { poll: true }), 1);
    expect(r.sendNow).toBe(true);
    const p = s.packet(true);
    expect(p.final).toBe(true);
    expect(p.poll).toBe(false);
  });

  it('sends every max(our Desired Min TX, the peer\'s Required Min RX) less 0–25 % jitter, and not at all when asked for 0', () => {
    const s = session();
    bringUp(s);
    expect(s.nextTxDelayMs(0)).toBe(100);
    expect(s.nextTxDelayMs(0.999999)).toBeCloseTo(75, 3);
    s.received(from(BfdState.Up, { requiredMinRxUs: 400_000 }), 1);
    expect(s.nextTxDelayMs(0)).toBe(400);
    s.received(from(BfdState.Up, { requiredMinRxUs: 0 }), 2);
    expect(s.nextTxDelayMs(0.5)).toBeUndefined();
  });

  it('jitters by 10–25 % with a multiplier of 1, so it never sends at the full interval', () => {
    const s = session(1);
    bringUp(s);
    expect(s.nextTxDelayMs(0)).toBeCloseTo(90, 6);
    expect(s.nextTxDelayMs(0.999999)).toBeCloseTo(75, 3);
  });

  it('an administratively down session ignores what it receives and says AdminDown with diagnostic 7', () => {
    const s = session();
    bringUp(s);
    expect(s.adminDown()).toEqual({ from: BfdState.Up, to: BfdState.AdminDown, diag: BfdDiag.AdministrativelyDown, peerAdminDown: false });
    expect(s.received(from(BfdState.Init), 1).ignored).toBe(true);
    expect(s.state).toBe(BfdState.AdminDown);
    expect(s.packet().state).toBe(BfdState.AdminDown);
  });

  it('comes Up again after a loss: Down → Init → Up, with diagnostic cleared', () => {
    const s = session();
    bringUp(s, 0);
    s.expire(1000);
    s.received(from(BfdState.Down), 2000);
    expect(s.state).toBe(BfdState.Init);
    expect(s.packet().diag).toBe(BfdDiag.DetectionTimeExpired);
    s.received(from(BfdState.Up), 2001);
    expect(s.state).toBe(BfdState.Up);
    expect(s.packet().diag).toBe(0);
  });
});
