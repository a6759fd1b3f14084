/**
 * The kernel's announcements of link and route changes, for route sync: a
 * relay process in listen mode (`nl-relay.pl listen`), in the routes'
 * namespace, joined to the RTNLGRP_LINK, RTNLGRP_IPV4_ROUTE and
 * RTNLGRP_IPV6_ROUTE groups. It passes on what the kernel announces as
 * frames of whole netlink messages; an empty frame means announcements may
 * have been missed (the relay has just subscribed, or its socket overran),
 * and the owner then reads the kernel in full. A relay that dies is started
 * again after a backoff, and its successor's empty frame says the same.
 */
import { endianness } from 'node:os';
import { TerraceError } from '@terrace/api';
import { FrameReader, attachRelay, spawnRelay, type RelayLink, type RouteWriterOptions } from './relay.js';

export interface RouteListenerOptions extends Pick<RouteWriterOptions, 'netns' | 'ipCommand' | 'perlCommand'> {
  /** Announcements: whole netlink messages (RTM_NEWROUTE, RTM_DELLINK, ...), in the kernel's order. */
  readonly onMessages: (messages: Buffer) => void;
  /** Announcements may have been missed: read the kernel in full. */
  readonly onReset: () => void;
  /** The relay exited on its own (another is started after a backoff). */
  readonly onExit?: (info: { pid: number | undefined; code: number | null; signal: NodeJS.Signals | null; stderr: string }) => void;
  /** Route protocols whose announcements the relay drops unread (another daemon's routes, e.g. BIRD's). */
  readonly ignoreProtocols?: readonly number[];
}

const MAX_BACKOFF_MS = 5_000;
const LE = endianness() === 'LE';

export class RouteListener {
  private readonly opts: RouteListenerOptions;
  private link: RelayLink | undefined;
  private readonly frames = new FrameReader();
  private stderr = '';
  private closed = false;
  private fails = 0;
  private restart: NodeJS.Timeout | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** Resolved once the running relay has subscribed. */
  private subscribed: { promise: Promise<void>; resolve: () => void; done: boolean } = RouteListener.gate();
  /** Netlink ports whose requests' announcements the relay drops (ignore). */
  private ports: readonly number[] = [];
  /** Relay processes started so far. */
  started = 0;

  constructor(opts: RouteListenerOptions) {
    this.opts = opts;
  }

  private static gate(): { promise: Promise<void>; resolve: () => void; done: boolean } {
    let resolve = (): void => undefined;
    const promise = new Promise<void>((r) => (resolve = r));
    const g = { promise, resolve: () => undefined, done: false };
    g.resolve = () => {
      g.done = true;
      resolve();
    };
    return g;
  }

  /** The relay's pid, while one runs. */
  get pid(): number | undefined {
    return this.link?.pid;
  }

  /**
   * Announcements of changes requested from these netlink ports (route
   * sync's writing relays: their pids) are dropped in the relay, so the
   * echoes of route sync's own writes cost nothing here. Echoes that slip
   * through (a relay whose port is not its pid) still change nothing:
   * route sync compares them with what it believes.
   */
  ignore(ports: readonly number[]): void {
    this.ports = ports;
    if (this.link !== undefined) this.sendPorts(this.link);
  }

  private sendPorts(link: RelayLink): void {
    const b = Buffer.alloc(4 + 4 * this.ports.length);
    if (LE) {
      b.writeUInt32LE(4 * this.ports.length, 0);
      this.ports.forEach((p, i) => b.writeUInt32LE(p >>> 0, 4 + 4 * i));
    } else {
      b.writeUInt32BE(4 * this.ports.length, 0);
      this.ports.forEach((p, i) => b.writeUInt32BE(p >>> 0, 4 + 4 * i));
    }
    link.write(b);
  }

  /** Starts the relay if none runs and none is due. */
  start(): void {
    if (this.closed || this.link !== undefined || this.restart !== undefined) return;
    this.spawn();
  }

  /**
   * Resolves once the relay has subscribed, so every later kernel change is
   * announced; or after `ms` (a relay that cannot start must not hold route
   * sync up: its periodic resync still repairs).
   */
  async ready(ms: number): Promise<void> {
    this.start();
    if (this.subscribed.done || this.closed) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.subscribed.promise, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  /** Ends the relay and waits for it to exit. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.restart !== undefined) clearTimeout(this.restart);
    this.restart = undefined;
    this.subscribed.resolve();
    const link = this.link;
    if (link === undefined) return;
    link.end();
    await this.exited;
  }

  private spawn(): void {
    if (this.closed) throw new TerraceError('Internal', 'route listener: used after close');
    this.started += 1;
    this.frames.reset();
    this.stderr = '';
    if (this.subscribed.done) this.subscribed = RouteListener.gate();
    const { link, exited, early } = attachRelay((l) => spawnRelay(this.opts, l, 'listen', (this.opts.ignoreProtocols ?? []).map(String)), {
      output: (l, d) => {
        if (this.link === l) this.frames.push(d, (body) => this.onFrame(body));
      },
      stderr: (l, text) => {
        if (this.link === l) this.stderr = (this.stderr + text).slice(-2000);
      },
      why: (text) => {
        this.stderr += text;
      },
      exit: (l, code, signal) => this.onExit(l, code, signal),
    });
    this.exited = exited;
    this.link = link;
    if (early !== undefined) this.onExit(link, ...early);
    else if (this.ports.length > 0) this.sendPorts(link);
  }

  private onFrame(body: Buffer): void {
    if (body.length > 0) {
      this.opts.onMessages(body);
      return;
    }
    // Subscribed afresh, or overran.
    this.fails = 0;
    this.opts.onReset();
    this.subscribed.resolve();
  }

  private onExit(link: RelayLink, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.link !== link) return;
    this.link = undefined;
    if (this.closed) return;
    this.opts.onExit?.({ pid: link.pid, code, signal, stderr: this.stderr.trim().split('\n').slice(-3).join('; ') });
    const ms = Math.min(100 * 2 ** this.fails, MAX_BACKOFF_MS);
    this.fails++;
    this.restart = setTimeout(() => {
      this.restart = undefined;
      if (!this.closed) this.spawn();
    }, ms);
    this.restart.unref();
  }
}
