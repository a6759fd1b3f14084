/**
 * One BFD session's state machine (RFC 5880 §6.8), asynchronous mode, no
 * echo, no demand mode, no authentication. Pure: it never reads a clock or
 * touches a socket. The manager (./manager.ts) feeds it received packets and
 * the current time, asks it when to send and when the detection time runs
 * out, and sends the packets it builds.
 *
 * Timers follow the RFC's rules that matter for interoperating with BIRD and
 * FRR's bfdd:
 * - While not Up we advertise a Desired Min TX of at least 1 s (§6.8.3), and
 *   switch to the configured interval when the session comes Up; every change
 *   of what we advertise starts a Poll Sequence (P bit until a packet with F
 *   arrives). Our Required Min RX is the configured interval throughout.
 * - We send every max(our Desired Min TX, the peer's Required Min RX), minus
 *   0–25 % jitter (10–25 % with a multiplier of 1), and not at all while the
 *   peer asks for 0 (§6.8.7).
 * - The detection time is the peer's Detect Mult × max(our Required Min RX,
 *   the peer's Desired Min TX) (§6.8.4), measured from the last packet
 *   received, and only runs in Init and Up.
 */
import { BfdDiag, BfdState, type ControlPacket } from './packet.js';

/** What the manager asks of one session; all timers in microseconds as on the wire. */
export interface SessionConfig {
  /** Our discriminator: non-zero, unique on this system. */
  localDiscr: number;
  desiredMinTxUs: number;
  requiredMinRxUs: number;
  /** 1–255. */
  detectMult: number;
}

/** While a session is not Up, what we advertise as Desired Min TX is at least this (§6.8.3). */
export const SLOW_TX_US = 1_000_000;

export interface StateChange {
  from: BfdState;
  to: BfdState;
  /** The diagnostic we now send: why the session went down. */
  diag: number;
  /**
   * The peer took the session down on purpose (it sent AdminDown). RFC 5882
   * §3.2: that says nothing about the forwarding path, so a client should
   * not treat it as a failure.
   */
  peerAdminDown: boolean;
}

export interface ReceiveResult {
  /** The packet was for a session we hold administratively down: ignored (§6.8.6). */
  ignored: boolean;
  change: StateChange | undefined;
  /** Answer now: a packet with F for the peer's Poll, or our new state. */
  sendNow: boolean;
}

export class BfdSession {
  readonly config: SessionConfig;
  state = BfdState.Down;
  remoteState = BfdState.Down;
  remoteDiscr = 0;
  localDiag = 0;
  /** What the peer asked for in its last packet; 1 µs before any, as §6.8.1 initialises it. */
  remoteMinRxUs = 1;
  remoteDesiredMinTxUs = 0;
  remoteDetectMult = 0;
  /** A Poll Sequence of ours is running (P set on what we send until F comes back). */
  polling = false;
  /** What we advertise as Desired Min TX now. */
  private advertisedTxUs: number;
  /** When the last packet arrived: the detection time runs from there. */
  private lastRxAt: number | undefined;

  constructor(config: SessionConfig) {
    this.config = config;
    this.advertisedTxUs = Math.max(config.desiredMinTxUs, SLOW_TX_US);
  }

  /** Applies a received packet already checked by decodeControl and matched to this session. */
  received(p: ControlPacket, now: number): ReceiveResult {
    if (this.state === BfdState.AdminDown) return { ignored: true, change: undefined, sendNow: false };
    this.remoteDiscr = p.myDiscr;
    this.remoteState = p.state;
    this.remoteMinRxUs = p.requiredMinRxUs;
    this.remoteDesiredMinTxUs = p.desiredMinTxUs;
    this.remoteDetectMult = p.detectMult;
    this.lastRxAt = now;
    if (p.final) this.polling = false;
    const before = this.state;
    if (p.state === BfdState.AdminDown) {
      if (this.state !== BfdState.Down) this.goDown(BfdDiag.NeighborSignaledDown);
    } else if (this.state === BfdState.Down) {
      if (p.state === BfdState.Down) this.state = BfdState.Init;
      else if (p.state === BfdState.Init) this.state = BfdState.Up;
    } else if (this.state === BfdState.Init) {
      if (p.state === BfdState.Init || p.state === BfdState.Up) this.state = BfdState.Up;
    } else if (p.state === BfdState.Down) {
      this.goDown(BfdDiag.NeighborSignaledDown);
    }
    const change = this.settle(before, p.state === BfdState.AdminDown);
    return { ignored: false, change, sendNow: p.poll || change !== undefined };
  }

  /** When the detection time runs out (ms, same clock as `now`), or undefined while it does not run. */
  detectionDeadline(): number | undefined {
    if (this.state !== BfdState.Init && this.state !== BfdState.Up) return undefined;
    if (this.lastRxAt === undefined) return undefined;
    return this.lastRxAt + this.detectionTimeMs();
  }

  /** The peer's Detect Mult × the agreed receive interval, in ms. */
  detectionTimeMs(): number {
    return (this.remoteDetectMult * Math.max(this.config.requiredMinRxUs, this.remoteDesiredMinTxUs)) / 1000;
  }

  /** Declares the session Down if its detection time has run out by `now`. */
  expire(now: number): StateChange | undefined {
    const deadline = this.detectionDeadline();
    if (deadline === undefined || now < deadline) return undefined;
    const before = this.state;
    this.goDown(BfdDiag.DetectionTimeExpired);
    // §6.8.1: no packet for a detection time forgets the peer's discriminator.
    this.remoteDiscr = 0;
    this.remoteState = BfdState.Down;
    return this.settle(before);
  }

  /**
   * The next periodic transmission's delay in ms, jittered with `random` in
   * [0, 1); undefined while the peer asks for no packets.
   */
  nextTxDelayMs(random: number): number | undefined {
    if (this.remoteMinRxUs === 0) return undefined;
    const intervalMs = Math.max(this.advertisedTxUs, this.remoteMinRxUs) / 1000;
    // §6.8.7: reduce by 0–25 %, by 10–25 % when the multiplier is 1.
    const cut = this.config.detectMult === 1 ? 0.1 + 0.15 * random : 0.25 * random;
    return intervalMs * (1 - cut);
  }

  /** Our next packet; `final` answers the peer's Poll (a packet never carries both P and F). */
  packet(final = false): ControlPacket {
    return {
      diag: this.localDiag,
      state: this.state,
      poll: this.polling && !final,
      final,
      cpi: false,
      demand: false,
      detectMult: this.config.detectMult,
      myDiscr: this.config.localDiscr,
      yourDiscr: this.remoteDiscr,
      desiredMinTxUs: this.advertisedTxUs,
      requiredMinRxUs: this.config.requiredMinRxUs,
      requiredMinEchoRxUs: 0,
    };
  }

  /** Takes the session out of service (§6.8.16); it then ignores what it receives. */
  adminDown(): StateChange | undefined {
    const before = this.state;
    this.state = BfdState.AdminDown;
    this.localDiag = BfdDiag.AdministrativelyDown;
    return this.settle(before);
  }

  private goDown(diag: number): void {
    this.state = BfdState.Down;
    this.localDiag = diag;
  }

  /** After a transition: the advertised TX interval follows the state, and a change of it starts a poll. */
  private settle(before: BfdState, peerAdminDown = false): StateChange | undefined {
    if (this.state === before) return undefined;
    if (this.state === BfdState.Up) this.localDiag = BfdDiag.None;
    const tx = this.state === BfdState.Up ? this.config.desiredMinTxUs : Math.max(this.config.desiredMinTxUs, SLOW_TX_US);
    if (tx !== this.advertisedTxUs) {
      this.advertisedTxUs = tx;
      if (this.state !== BfdState.AdminDown) this.polling = true;
    }
    return { from: before, to: this.state, diag: this.localDiag, peerAdminDown };
  }
}
