/**
 * The agent's BMP station: gobgpd connects to it (AddBmp, pre-policy route
 * monitoring) and forwards every UPDATE its peers send, as received, plus peer
 * up/down. The station parses them (parse.ts) into the Adj-RIB-In, whose
 * decision process (rib.ts) yields the learned-route events.
 *
 * Why BMP and not WatchEvent: gobgpd's watchers (WatchEvent, and its BMP
 * Loc-RIB and post-policy feeds) work per prefix and slow gobgpd's own table
 * load several times over; pre-policy monitoring passes each received UPDATE
 * on whole, so a 100,000-prefix table is ~120 messages and the load runs at
 * full speed (see docs/BENCHMARKS.md).
 *
 * One connection at a time. When it breaks (gobgpd restarted), every path
 * held becomes stale: it keeps forwarding until the next connection's data
 * refreshes it, an End-of-RIB in that connection's dump drops what its peer
 * did not refresh (not on the first connection of a gobgpd started afresh:
 * see daemonRestarted) (gobgpd sends each established peer's table and then an
 * End-of-RIB on every new connection; a peer's own End-of-RIB it consumes),
 * or `graceMs` runs out.
 */
import type net from 'node:net';
import type { Socket } from 'node:net';
import type { LearnedEvent } from '../speaker.js';
import { TerraceError } from '@terrace/api';
import { listenTcp } from './listen.js';
import { heldBy } from './peer-check.js';
import { BmpReader } from './parse.js';
import type { AdjRibIn } from './rib.js';
import type { BmpMessage } from './types.js';

/**
 * How long paths learned before a restart (gobgpd's, the feed's, or the
 * agent's own) are kept while BGP has not sent them again: the time sessions
 * get to come back and resend their tables.
 */
export const DEFAULT_STALE_GRACE_MS = 30_000;

export interface BmpStationOptions {
  rib: AdjRibIn;
  /** Address gobgpd dials (default 127.0.0.1; gobgpd must share the namespace). */
  host?: string;
  /** Port to listen on (default 0: any free port). */
  port?: number;
  /** Open the socket in this named network namespace (gobgpd's). */
  netns?: string;
  /** How long stale paths are kept after the feed breaks (ms, default DEFAULT_STALE_GRACE_MS). */
  graceMs?: number;
  /** Every batch of learned-route changes, in order. */
  onEvents: (events: LearnedEvent[]) => void;
  onError?: (err: Error) => void;
  onConnection?: (up: boolean) => void;
  /**
   * When given, a connection is taken only from the process with this PID
   * (the gobgpd we supervise; see peer-check.ts), and none while it returns
   * undefined (the daemon between restarts). Absent (a sidecar), any
   * loopback client is taken. IPv4 loopback only.
   */
  expectedPid?: () => number | undefined;
  /**
   * Graceful restart time (s) of a peer, when its session has it: a session
   * drop then keeps the peer's paths (stale, as gobgpd keeps forwarding on
   * them) until refreshed, or for this long.
   */
  restartTimeOf?: (peerKey: string) => number | undefined;
}

export class BmpStation {
  /** Where paths go; the speaker swaps it when our ASN or router id changes. */
  rib: AdjRibIn;
  private readonly opts: BmpStationOptions;
  private server: net.Server | undefined;
  private conn: Socket | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** Peers in graceful restart: when their stale paths go. */
  private readonly restarting = new Map<string, NodeJS.Timeout>();
  private closed = false;
  private connections = 0;
  private unreadable = 0;
  /** `peer field` pairs already reported as unreadable on the current connection. */
  private readonly unreadableReported = new Set<string>();
  /** Per peer key, since the station started: UPDATEs skipped and the fields that failed. */
  private readonly unreadableByPeer = new Map<string, { count: number; fields: Set<string> }>();
  /** Peers gobgpd reported up on the current connection. */
  private readonly up = new Set<string>();
  /** The next connection comes from a gobgpd started afresh (see daemonRestarted). */
  private restartPending = false;
  /** The current connection's End-of-RIB markers do not say a peer's table is complete. */
  private rebuilding = false;

  constructor(opts: BmpStationOptions) {
    this.opts = opts;
    this.rib = opts.rib;
  }

  get host(): string {
    return this.opts.host ?? '127.0.0.1';
  }

  /** The port gobgpd should dial (after listen()). */
  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  get connected(): boolean {
    return this.conn !== undefined;
  }

  /** Connections accepted so far (a new one each time gobgpd reconnects). */
  get connectionCount(): number {
    return this.connections;
  }

  /** Pre-policy UPDATEs skipped because they could not be read (see 'unreadable' in ./types.ts). */
  get unreadableCount(): number {
    return this.unreadable;
  }

  /**
   * For an operator (`node status` INFO): how many UPDATEs from this peer
   * (its key, the address as formatIP prints it) were skipped as unreadable,
   * and why; undefined when none were.
   */
  unreadableNote(peerKey: string): string | undefined {
    const u = this.unreadableByPeer.get(peerKey);
    if (u === undefined) return undefined;
    return `skipped ${u.count} UPDATE${u.count === 1 ? '' : 's'} it could not read (${[...u.fields].join(', ')})`;
  }

  /** Peers reported up on the current connection. */
  peersUp(): ReadonlySet<string> {
    return this.up;
  }

  /**
   * Closes the current feed so that gobgpd dials again and sends its whole
   * table (within its statistics interval): what we hold is kept as stale
   * meanwhile, and the dump repairs prefixes we are missing.
   */
  resetFeed(): void {
    this.conn?.destroy();
  }

  /**
   * The gobgpd that will dial next was started afresh (it crashed or was
   * restarted) and is receiving its peers' tables again. The dump on its
   * first connection ends each established peer with an End-of-RIB, but a
   * session that came up a moment before the feed did may have sent only
   * part of its table: taking that marker at its word dropped the rest of
   * the peer's stale paths, and traffic on them, until the peer got round to
   * them. On that connection the markers are ignored; stale paths go when
   * refreshed, when their peer goes down, or at the end of the grace period.
   */
  daemonRestarted(): void {
    this.restartPending = true;
  }

  /**
   * A peer we deleted from gobgpd: its paths go now. gobgpd sends no BMP
   * Peer Down for a deleted peer, so without this they stayed until the RIB
   * check noticed (up to its 30 s interval).
   */
  peerRemoved(key: string): void {
    this.up.delete(key);
    const t = this.restarting.get(key);
    if (t) clearTimeout(t);
    this.restarting.delete(key);
    this.publish(this.rib.peerDown(key));
  }

  async listen(): Promise<void> {
    if (this.server) return;
    const srv = await listenTcp({ host: this.host, port: this.opts.port ?? 0, netns: this.opts.netns });
    srv.on('connection', (s) => this.accept(s));
    srv.on('error', (e) => this.opts.onError?.(e));
    this.server = srv;
  }

  close(): Promise<void> {
    this.closed = true;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    for (const t of this.restarting.values()) clearTimeout(t);
    this.restarting.clear();
    this.conn?.destroy();
    this.conn = undefined;
    const srv = this.server;
    this.server = undefined;
    return new Promise((r) => (srv ? srv.close(() => r()) : r()));
  }

  private accept(sock: Socket): void {
    if (this.closed) {
      sock.destroy();
      return;
    }
    if (this.conn) return this.refuse(sock, 'a feed is already connected');
    if (!this.opts.expectedPid) {
      this.adopt(sock);
      return;
    }
    const pid = this.opts.expectedPid();
    if (pid === undefined) return this.refuse(sock, 'gobgpd is not running');
    // Nothing is read before the check: the socket stays paused without a 'data' listener.
    sock.on('error', () => undefined);
    void heldBy(pid, sock.remotePort ?? 0, this.port).then((ok) => {
      if (ok) this.adopt(sock);
      else this.refuse(sock, `not our gobgpd (pid ${pid})`);
    });
  }

  /**
   * gobgpd never reads its BMP socket and notices a closed one only when a
   * write fails, so the live connection is never replaced by a newcomer: a
   * stray local client is turned away instead.
   */
  private refuse(sock: Socket, why: string): void {
    this.opts.onError?.(new TerraceError('Invalid', `bmp station: refused a connection from ${sock.remoteAddress}:${sock.remotePort}: ${why}`));
    sock.destroy();
  }

  private adopt(sock: Socket): void {
    if (this.closed || sock.destroyed) {
      sock.destroy();
      return;
    }
    if (this.conn) return this.refuse(sock, 'a feed is already connected');
    this.conn = sock;
    this.connections += 1;
    this.rebuilding = this.restartPending;
    this.restartPending = false;
    this.up.clear();
    this.unreadableReported.clear();
    sock.setNoDelay(true);
    this.feedBroke();
    const reader = new BmpReader();
    sock.on('data', (chunk: Buffer) => {
      if (this.conn !== sock) return;
      try {
        this.consume(reader, chunk);
      } catch (e) {
        this.opts.onError?.(e instanceof Error ? e : new Error(String(e)));
        sock.destroy();
      }
    });
    sock.on('error', (e) => {
      if (this.conn === sock && !this.closed) this.opts.onError?.(e);
    });
    sock.on('close', () => {
      if (this.conn !== sock) return;
      this.conn = undefined;
      this.up.clear();
      this.feedBroke();
      this.opts.onConnection?.(false);
    });
    this.opts.onConnection?.(true);
  }

  /**
   * Counts an UPDATE skipped as unreadable and reports it, once per peer and
   * field on each connection: a peer whose every UPDATE trips the same gap
   * in our reader must not flood the log.
   */
  private skipped(peer: string, error: TerraceError): void {
    this.unreadable += 1;
    let u = this.unreadableByPeer.get(peer);
    if (u === undefined) {
      u = { count: 0, fields: new Set() };
      this.unreadableByPeer.set(peer, u);
    }
    u.count += 1;
    u.fields.add(error.field ?? 'unknown field');
    const what = `${peer} ${error.field ?? ''}`;
    if (this.unreadableReported.has(what)) return;
    this.unreadableReported.add(what);
    this.opts.onError?.(
      new TerraceError(
        'Invalid',
        `bmp station: skipped an UPDATE from ${peer} that cannot be read, so the routes it carries are not updated (told once per peer and field per connection): ${error.message}`,
        error.field === undefined ? {} : { field: error.field },
      ),
    );
  }

  /** Everything held is stale until refreshed, an End-of-RIB, or the grace period. */
  private feedBroke(): void {
    if (this.closed) return;
    this.rib.markAllStale();
    // The grace period runs from the first break; a reconnect does not extend it.
    if (this.rib.staleCount === 0 || this.sweepTimer) return;
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined;
      this.publish(this.rib.sweepStale());
    }, this.opts.graceMs ?? DEFAULT_STALE_GRACE_MS);
    this.sweepTimer.unref();
  }

  private consume(reader: BmpReader, chunk: Buffer): void {
    const rib = this.rib;
    let out: LearnedEvent[] = [];
    const add = (evs: LearnedEvent[]): void => {
      if (evs.length === 0) return;
      if (out.length === 0) out = evs;
      else for (const e of evs) out.push(e);
    };
    try {
      for (const m of reader.push(chunk)) this.handle(m, add);
    } finally {
      // What the RIB already applied is published even if a later message failed.
      if (rib.staleCount === 0 && this.sweepTimer) {
        clearTimeout(this.sweepTimer);
        this.sweepTimer = undefined;
      }
      this.publish(out);
    }
  }

  private handle(m: BmpMessage, add: (evs: LearnedEvent[]) => void): void {
    const rib = this.rib;
    switch (m.type) {
      case 'route-monitoring':
        // Asked for pre-policy only; a post-policy copy would count twice.
        if (m.postPolicy) break;
        if (m.update.endOfRib !== undefined) {
          if (!this.rebuilding) add(rib.endOfRib(m.peer.key, m.update.endOfRib));
        } else add(rib.update(m.peer, m.update));
        break;
      case 'unreadable':
        // gobgpd accepted this UPDATE, so our reader lacks something it
        // carries. Its prefixes are missing (or stay as they were) until the
        // peer sends them again; dropping the feed would not help, since the
        // dump after a reconnect holds the same UPDATE.
        if (m.postPolicy) break;
        this.skipped(m.peer.key, m.error);
        break;
      case 'peer-up':
        this.up.add(m.peer.key);
        break;
      case 'peer-down': {
        this.up.delete(m.peer.key);
        const rt = this.opts.restartTimeOf?.(m.peer.key);
        if (rt !== undefined && rt > 0) this.peerRestarting(m.peer.key, rt);
        else add(rib.peerDown(m.peer.key));
        break;
      }
      default:
        break;
    }
  }

  /**
   * Graceful restart: gobgpd keeps the peer's paths and forwards on them, so
   * do we, as stale, until the restart time ends. The peer's End-of-RIB never
   * reaches us (gobgpd consumes it), so what the peer did not re-announce by
   * then goes at that point.
   */
  private peerRestarting(key: string, restartTime: number): void {
    this.rib.peerStale(key);
    const prev = this.restarting.get(key);
    if (prev) clearTimeout(prev);
    const t = setTimeout(() => {
      this.restarting.delete(key);
      const out = this.rib.endOfRib(key, 4);
      for (const e of this.rib.endOfRib(key, 6)) out.push(e);
      this.publish(out);
    }, restartTime * 1000);
    t.unref();
    this.restarting.set(key, t);
  }

  private publish(events: LearnedEvent[]): void {
    if (events.length > 0) this.opts.onEvents(events);
  }
}
