/**
 * Runs the BFD sessions for a whole desired set of peers over UDP (single
 * hop, RFC 5881) and reports their state changes. The caller hands over the
 * full set every time (setPeers); a peer that leaves it is sent one
 * AdminDown packet and forgotten, a new one starts Down, one whose timers
 * changed starts again as a new session (new discriminator; its change
 * events then start from `undefined`, not from Up, so a caller that acts on
 * Up→Down does not act on a reconfiguration).
 *
 * Arrival times and the detection deadline are on the monotonic clock: on
 * the wall clock a clock set back by ten minutes kept a silent peer Up for
 * those ten minutes (the deadline seemed ten minutes away again each time
 * the timer fired), and fast failure detection is the point of BFD.
 *
 * Received packets are matched to a session by Your Discriminator, or, while
 * the peer does not know ours yet (zero), by source address (§6.3 of RFC
 * 5880), and must come from that session's peer address either way.
 */
import { randomInt } from 'node:crypto';
import type dgram from 'node:dgram';
import { TerraceError, formatIP, monotonicMs, parseIP } from '@terrace/api';
import { BfdState, decodeControl, encodeControl, stateName } from './packet.js';
import { BfdSession, type StateChange } from './session.js';
import { BFD_CONTROL_PORT, openUdp } from './sockets.js';

export interface BfdPeer {
  /** The peer's address (IPv4 or IPv6), directly connected. */
  address: string;
  /** Source address for our packets (default: the kernel's choice). */
  localAddress?: string;
  /** Our desired transmit and required receive interval, ms. */
  intervalMs: number;
  /** Detect multiplier, 1–255. */
  multiplier: number;
}

export type BfdStateName = ReturnType<typeof stateName>;

export interface BfdChange {
  address: string;
  /** undefined: a session that just started (first change). */
  from: BfdStateName | undefined;
  to: BfdStateName;
  /** RFC 5880 diagnostic of the change, e.g. 1 (detection time expired), 3 (neighbor signaled down). */
  diag: number;
  /** The peer sent AdminDown: it stopped the session on purpose, which is not a path failure (RFC 5882 §3.2). */
  peerAdminDown: boolean;
}

export interface BfdManagerOptions {
  /** Named network namespace to open the sockets in (default: ours). */
  netns?: string;
  onChange?: (c: BfdChange) => void;
  onError?: (e: Error) => void;
  /** Jitter source in [0, 1) (default Math.random). */
  random?: () => number;
}

interface Entry {
  peer: BfdPeer;
  key: string;
  session: BfdSession;
  family: 4 | 6;
  txTimer: NodeJS.Timeout | undefined;
  detectTimer: NodeJS.Timeout | undefined;
  /** No change reported yet: the first one says from `undefined`. */
  fresh: boolean;
}

const MAX_INTERVAL_MS = 60_000;

function peerKeyOf(p: BfdPeer): string {
  return `${p.localAddress ?? ''} ${p.intervalMs} ${p.multiplier}`;
}

/** Validates and normalises one desired peer; a bad one is a one-line error naming it. */
function normalise(p: BfdPeer): BfdPeer & { family: 4 | 6 } {
  const addr = parseIP(p.address);
  const where = `bfd peer ${formatIP(addr)}`;
  if (!Number.isInteger(p.intervalMs) || p.intervalMs < 1 || p.intervalMs > MAX_INTERVAL_MS) {
    throw new TerraceError('Invalid', `${where}: interval ${p.intervalMs} ms is not a whole number of ms in 1–${MAX_INTERVAL_MS}`);
  }
  if (!Number.isInteger(p.multiplier) || p.multiplier < 1 || p.multiplier > 255) {
    throw new TerraceError('Invalid', `${where}: multiplier ${p.multiplier} is not in 1–255`);
  }
  const out: BfdPeer & { family: 4 | 6 } = { address: formatIP(addr), intervalMs: p.intervalMs, multiplier: p.multiplier, family: addr.family };
  if (p.localAddress !== undefined) {
    const local = parseIP(p.localAddress);
    if (local.family !== addr.family) throw new TerraceError('Invalid', `${where}: local address ${p.localAddress} is not of the peer's family`);
    out.localAddress = formatIP(local);
  }
  return out;
}

/** Throws the first invalid peer of a desired set, as setPeers would, before anything changes. */
export function checkBfdPeers(peers: readonly BfdPeer[]): void {
  const seen = new Set<string>();
  for (const p of peers) {
    const n = normalise(p);
    if (seen.has(n.address)) throw new TerraceError('Invalid', `bfd peer ${n.address}: listed twice in the desired set`);
    seen.add(n.address);
  }
}

export class BfdManager {
  private readonly opts: BfdManagerOptions;
  private readonly entries = new Map<string, Entry>();
  private readonly byDiscr = new Map<number, Entry>();
  private readonly rx = new Map<4 | 6, dgram.Socket>();
  /** Send sockets by family and local address ('' for the kernel's choice). */
  private readonly tx = new Map<string, dgram.Socket>();
  private closed = false;
  /** Sends not yet handed to the kernel: close() waits for them. */
  private readonly sending = new Set<Promise<void>>();
  /** Packets discarded, by reason: for status and tests. */
  readonly discarded = new Map<string, number>();

  constructor(opts: BfdManagerOptions = {}) {
    this.opts = opts;
  }

  /** The whole desired set; resolves once every session runs (sockets open). */
  async setPeers(peers: readonly BfdPeer[]): Promise<void> {
    if (this.closed) throw new TerraceError('Invalid', 'bfd: setPeers after close');
    checkBfdPeers(peers);
    const want = new Map(peers.map((p) => normalise(p)).map((n) => [n.address, n]));
    for (const n of want.values()) {
      await this.ensureRx(n.family);
      await this.ensureTx(n.family, n.localAddress);
    }
    for (const [addr, e] of this.entries) {
      const n = want.get(addr);
      if (!n || peerKeyOf(n) !== e.key) this.remove(e);
    }
    for (const n of want.values()) if (!this.entries.has(n.address)) this.add(n);
  }

  /** A session's state, undefined when the peer is not in the desired set. */
  state(address: string): BfdStateName | undefined {
    const e = this.entries.get(address);
    return e ? stateName(e.session.state) : undefined;
  }

  /** Every session's state, by peer address. */
  states(): Map<string, BfdStateName> {
    return new Map([...this.entries].map(([a, e]) => [a, stateName(e.session.state)]));
  }

  /**
   * Stops every session, telling each peer with an AdminDown packet (a peer
   * that follows RFC 5882 then keeps its BGP session: we stopped, the path did
   * not fail), and closes the sockets once those packets are sent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const e of [...this.entries.values()]) this.remove(e);
    await Promise.all(this.sending);
    const sockets = [...this.rx.values(), ...this.tx.values()];
    this.rx.clear();
    this.tx.clear();
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  private async ensureRx(family: 4 | 6): Promise<void> {
    if (this.rx.has(family)) return;
    const s = await openUdp({ family, port: BFD_CONTROL_PORT, ...(this.opts.netns ? { netns: this.opts.netns } : {}) });
    if (this.closed) return void s.close();
    s.on('message', (msg, from) => this.receive(msg, from.address));
    s.on('error', (e) => this.opts.onError?.(e));
    this.rx.set(family, s);
  }

  private async ensureTx(family: 4 | 6, localAddress: string | undefined): Promise<void> {
    const key = `${family} ${localAddress ?? ''}`;
    if (this.tx.has(key)) return;
    const s = await openUdp({ family, port: 0, ...(localAddress ? { address: localAddress } : {}), ...(this.opts.netns ? { netns: this.opts.netns } : {}) });
    if (this.closed) return void s.close();
    // Packets to the send socket's port are not BFD control traffic: drop them unread.
    s.on('message', () => undefined);
    s.on('error', (e) => this.opts.onError?.(e));
    this.tx.set(key, s);
  }

  private newDiscr(): number {
    for (;;) {
      const d = randomInt(1, 0xffffffff);
      if (!this.byDiscr.has(d)) return d;
    }
  }

  private add(n: BfdPeer & { family: 4 | 6 }): void {
    const us = n.intervalMs * 1000;
    const session = new BfdSession({ localDiscr: this.newDiscr(), desiredMinTxUs: us, requiredMinRxUs: us, detectMult: n.multiplier });
    const e: Entry = { peer: n, key: peerKeyOf(n), session, family: n.family, txTimer: undefined, detectTimer: undefined, fresh: true };
    this.entries.set(n.address, e);
    this.byDiscr.set(session.config.localDiscr, e);
    this.report(e, { from: BfdState.Down, to: BfdState.Down, diag: 0, peerAdminDown: false });
    this.send(e);
  }

  private remove(e: Entry): void {
    clearTimeout(e.txTimer);
    clearTimeout(e.detectTimer);
    e.session.adminDown();
    // One AdminDown packet tells the peer we stopped on purpose (its session goes Down, diag 3).
    this.transmit(e, false);
    this.entries.delete(e.peer.address);
    this.byDiscr.delete(e.session.config.localDiscr);
  }

  private receive(msg: Buffer, from: string): void {
    const d = decodeControl(msg);
    if (!d.ok) return this.discard(d.reason);
    const p = d.packet;
    let source: string;
    try {
      source = formatIP(parseIP(from));
    } catch {
      return this.discard('unreadable source address');
    }
    const e = p.yourDiscr !== 0 ? this.byDiscr.get(p.yourDiscr) : this.entries.get(source);
    if (!e) return this.discard(p.yourDiscr !== 0 ? 'unknown discriminator' : 'no session for the source address');
    if (e.peer.address !== source) return this.discard('discriminator of another peer');
    const r = e.session.received(p, monotonicMs());
    if (r.ignored) return;
    this.armDetect(e);
    if (r.change) this.report(e, r.change);
    if (r.sendNow) {
      this.transmit(e, p.poll);
      // The next periodic packet counts from this one (intervals may also have changed).
      this.armTx(e);
    }
  }

  private discard(reason: string): void {
    this.discarded.set(reason, (this.discarded.get(reason) ?? 0) + 1);
  }

  /** Sends now and schedules the next periodic packet. */
  private send(e: Entry): void {
    this.transmit(e, false);
    this.armTx(e);
  }

  private transmit(e: Entry, final: boolean): void {
    const s = this.tx.get(`${e.family} ${e.peer.localAddress ?? ''}`);
    if (!s) return;
    const sent: Promise<void> = new Promise<void>((resolve) => {
      const done = (): void => {
        this.sending.delete(sent);
        resolve();
      };
      try {
        // A send that fails (no route while the link is down) is retried by the next period.
        s.send(encodeControl(e.session.packet(final)), BFD_CONTROL_PORT, e.peer.address, done);
      } catch {
        setImmediate(done);
      }
    });
    this.sending.add(sent);
  }

  private armTx(e: Entry): void {
    clearTimeout(e.txTimer);
    e.txTimer = undefined;
    const delay = e.session.nextTxDelayMs((this.opts.random ?? Math.random)());
    if (delay === undefined || this.closed) return;
    e.txTimer = setTimeout(() => this.send(e), delay);
    e.txTimer.unref();
  }

  private armDetect(e: Entry): void {
    clearTimeout(e.detectTimer);
    e.detectTimer = undefined;
    const deadline = e.session.detectionDeadline();
    if (deadline === undefined || this.closed) return;
    e.detectTimer = setTimeout(() => {
      // Judged after the sockets are read: when this process was stalled
      // (a long task, a busy host), the peer's packets of that time wait
      // in the receive buffer and are read in this loop turn's poll phase,
      // after the timers; deciding here would declare a live session Down.
      setImmediate(() => this.expire(e));
    }, Math.max(0, deadline - monotonicMs()));
    e.detectTimer.unref();
  }

  private expire(e: Entry): void {
    if (this.closed || this.entries.get(e.peer.address) !== e) return;
    e.detectTimer = undefined;
    const change = e.session.expire(monotonicMs());
    if (!change) return this.armDetect(e);
    this.report(e, change);
    this.send(e);
  }

  private report(e: Entry, c: StateChange): void {
    const from = e.fresh ? undefined : stateName(c.from);
    e.fresh = false;
    this.opts.onChange?.({ address: e.peer.address, from, to: stateName(c.to), diag: c.diag, peerAdminDown: c.peerAdminDown });
  }
}
