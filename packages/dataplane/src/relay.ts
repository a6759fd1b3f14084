/**
 * Route changes to, and route reads from, the kernel through one long-lived relay process
 * (relay/nl-relay.pl, run by perl, which every Debian system has): we encode
 * rtnetlink requests (netlink.ts) in frames of up to FRAME_MESSAGES, the
 * relay sends each frame to the kernel as one datagram and hands back the
 * kernel's answers. Only a frame's last request asks for an acknowledgement;
 * the kernel answers every failing request regardless, so the answers are
 * the failures plus one acknowledgement per frame, and a frame is done when
 * that acknowledgement arrives (the kernel handles a datagram's requests in
 * order).
 *
 * Reads are dumps (readRoutes): one frame each for the links and for each
 * family's routes of our protocol, answered up to NLMSG_DONE.
 *
 * The relay runs in the routes' namespace (`ip netns exec NAME perl ...`).
 * It is started on first use and again after it dies; batches it had not
 * confirmed come back `lost`, and route sync then re-reads the kernel.
 *
 * Pod wiring uses the same script through its own relay (linkrelay.ts), with
 * op frames (the head's top bit set) that act in other namespaces by path;
 * route frames never set that bit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { endianness } from 'node:os';
import { fileURLToPath } from 'node:url';
import { TerraceError } from '@terrace/api';
import { deleteArgs, replaceArgs, type RouteCanon } from './canon.js';
import { DEFAULT_IP_COMMAND, ROUTE_PROTOCOL } from './constants.js';
import { applyLinks, decodeAnyRoutes, decodeRoutes, dumpError, dumpInterrupted, encodeGetLinks, encodeGetRoutes, UnknownIfIndex, type AnyRoute, type IfNames } from './routemsg.js';
import {
  decodeAnswers,
  devicesOf,
  encodeGetLink,
  encodeRoute,
  errnoCode,
  errnoText,
  MessageWriter,
  NLM_F_ACK,
  NoSuchDevice,
  type RouteOp,
} from './netlink.js';

/** The relay script, shipped beside the compiled code (packages/dataplane/relay). */
export const RELAY_SCRIPT = fileURLToPath(new URL('../../relay/nl-relay.pl', import.meta.url));

/** The relay frames its output in host byte order, as netlink itself is. */
const isLittleEndian = endianness() === 'LE';

/** Requests per datagram. Larger frames gain nothing measurable and hold more answers in the socket. */
const FRAME_MESSAGES = 256;
/** A frame is sent once it holds this many bytes, whatever its count. */
const FRAME_BYTES = 48 * 1024;

export interface RouteWriterOptions {
  /** Network namespace, by name; default: the caller's own. */
  readonly netns?: string;
  /** iproute2's `ip`, which enters the namespace (`ip netns exec`); default `ip` on PATH. */
  readonly ipCommand?: string;
  /** The perl interpreter; default `perl` on PATH. */
  readonly perlCommand?: string;
  /** Called when the relay exits on its own (another is started by the next batch). */
  readonly onExit?: (info: { pid: number | undefined; code: number | null; signal: NodeJS.Signals | null; stderr: string }) => void;
  /** Called when a relay process has been started, with its pid (also its netlink port, as a rule). */
  readonly onStart?: (pid: number | undefined) => void;
}

/** RouteWriter's end of a relay. */
export interface RelayLink {
  readonly pid: number | undefined;
  /** Bytes for the relay's input: frames, each a u32 length (host order) and its requests. */
  write(data: Buffer): void;
  /** Ends the relay's input: it answers what it has, then exits. */
  end(): void;
  /** Stops it at once. */
  kill(): void;
  /**
   * Whether the relay keeps Node's event loop alive (default: it does).
   * Pod wiring's relay lets go while idle; route sync's never calls this.
   */
  hold?(on: boolean): void;
}

/** What a relay reports back. */
export interface RelayListener {
  /** Output bytes: per frame, a u32 length and the kernel's answers (in any chunking). */
  output(data: Buffer): void;
  stderr(text: string): void;
  /** Called once, when it has gone; `why` when it never started. */
  exit(code: number | null, signal: NodeJS.Signals | null, why?: string): void;
}

export type RelayStarter = (opts: RouteWriterOptions, listener: RelayListener) => RelayLink;

/** What the owner of a relay process (a route writer, pod wiring, the kernel listener) is told. */
export interface RelayHandlers {
  output(link: RelayLink, data: Buffer): void;
  stderr(link: RelayLink, text: string): void;
  /** Why it never started, when it did not. */
  why(text: string): void;
  /** It has gone (called once; not for a relay that died before `start` returned: see `early`). */
  exit(link: RelayLink, code: number | null, signal: NodeJS.Signals | null): void;
}

export interface AttachedRelay {
  link: RelayLink;
  /** Resolves when the process has gone. */
  exited: Promise<void>;
  /** Its exit, when it died before `start` returned (a relay that could not start): the owner handles it once it holds `link`. */
  early: [number | null, NodeJS.Signals | null] | undefined;
}

/** Starts a relay and routes its events to `h` with the link they belong to, however early they come. */
export function attachRelay(start: (listener: RelayListener) => RelayLink, h: RelayHandlers): AttachedRelay {
  let link: RelayLink | undefined;
  let done = false;
  let early: AttachedRelay['early'];
  let resolveExited = (): void => undefined;
  const exited = new Promise<void>((resolve) => (resolveExited = resolve));
  link = start({
    output: (d) => {
      if (link !== undefined) h.output(link, d);
    },
    stderr: (text) => {
      if (link !== undefined) h.stderr(link, text);
    },
    exit: (code, signal, why) => {
      if (done) return;
      done = true;
      if (why !== undefined) h.why(why);
      if (link !== undefined) h.exit(link, code, signal);
      else early = [code, signal];
      resolveExited();
    },
  });
  return { link, exited, early };
}

/**
 * Frames as the relay writes them (a u32 length in host order, then that
 * many bytes), from output in any chunking. A frame is copied once, when it
 * is whole: a dump of 100,000 routes is one frame of megabytes.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private bytes = 0;

  /** Takes output; calls `frame` for each whole frame, in order. */
  push(d: Buffer, frame: (body: Buffer) => void): void {
    this.chunks.push(d);
    this.bytes += d.length;
    for (;;) {
      if (this.bytes < 4) return;
      let head = this.chunks[0] as Buffer;
      if (head.length < 4) {
        head = Buffer.concat(this.chunks);
        this.chunks = [head];
      }
      const len = isLittleEndian ? head.readUInt32LE(0) : head.readUInt32BE(0);
      if (this.bytes < 4 + len) return;
      const all = this.chunks.length === 1 ? head : Buffer.concat(this.chunks, this.bytes);
      const body = all.subarray(4, 4 + len);
      const rest = all.subarray(4 + len);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.bytes = rest.length;
      frame(body);
    }
  }

  reset(): void {
    this.chunks = [];
    this.bytes = 0;
  }
}

/** The relay process, in the routes' namespace; `mode` and `modeArgs` are its arguments (`listen`: relay/nl-relay.pl). */
export function spawnRelay(opts: RouteWriterOptions, listener: RelayListener, mode?: 'listen', modeArgs: readonly string[] = []): RelayLink {
  const perl = opts.perlCommand ?? 'perl';
  const netns = opts.netns;
  const script = mode === undefined ? [RELAY_SCRIPT] : [RELAY_SCRIPT, mode, ...modeArgs];
  const [cmd, args] =
    netns === undefined ? [perl, script] : [opts.ipCommand ?? DEFAULT_IP_COMMAND, ['netns', 'exec', netns, perl, ...script]];
  const child: ChildProcess = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  // Spawn failures (no such binary, no file descriptors left) come as 'error',
  // maybe without 'close', and then the pipes may not exist at all.
  child.on('error', (e) => listener.exit(null, null, e.message));
  child.on('close', (code, signal) => listener.exit(code, signal));
  // A write after the relay died fails with EPIPE; the exit is reported by 'close'.
  child.stdin?.on('error', () => undefined);
  child.stdout?.on('data', (d: Buffer) => listener.output(d));
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => listener.stderr(d));
  return {
    pid: child.pid,
    write: (data) => void child.stdin?.write(data),
    end: () => void child.stdin?.end(),
    kill: () => void child.kill('SIGKILL'),
    hold: (on) => {
      // The pipes are sockets (net.Socket), which the stream types do not say.
      const handles = [child, child.stdin, child.stdout, child.stderr] as unknown as Array<{ ref(): void; unref(): void } | null>;
      for (const h of handles) {
        if (h === null) continue;
        if (on) h.ref();
        else h.unref();
      }
    },
  };
}

/** A route change the kernel refused. */
export interface BatchFailure {
  /** Position of the change in its batch. */
  readonly index: number;
  /** The errno name, e.g. `ESRCH`, `EEXIST`, `ENODEV`. */
  readonly code: string;
  /** The change as `ip route` arguments, for messages. */
  readonly line: string;
  /** What the kernel said, e.g. `ESRCH (no such process)`. */
  readonly message: string;
}

export interface BatchOutcome {
  readonly failures: readonly BatchFailure[];
  /**
   * The relay died before confirming the batch: changes not listed in
   * `failures` may or may not have been applied.
   */
  readonly lost: boolean;
}

/** An open batch: write changes, then end() to learn how it went. */
export interface BatchWriter {
  write(op: RouteOp, c: RouteCanon): void;
  end(): Promise<BatchOutcome>;
}

/** The changes of an open batch, by sequence number. */
interface Change {
  readonly op: RouteOp;
  readonly canon: RouteCanon;
}

function describe(ch: Change): string {
  return ch.op === 'del' ? `route del ${deleteArgs(ch.canon)}` : `route ${ch.op} ${replaceArgs(ch.canon)}`;
}

export class RouteWriter {
  private readonly opts: RouteWriterOptions;
  private link: RelayLink | undefined;
  private seq = 0;
  /** Frames sent to the current relay, awaiting their answers (undefined: lost). */
  private waiting: Array<(answers: Buffer | undefined) => void> = [];
  private readonly frames = new FrameReader();
  private stderr = '';
  private closed = false;
  /** A batch is open (begun, its end() not yet resolved). */
  private open = false;
  private exited: Promise<void> | undefined;

  constructor(opts: RouteWriterOptions = {}) {
    this.opts = opts;
  }

  /** The relay's pid, while one runs. */
  get pid(): number | undefined {
    return this.link?.pid;
  }

  /** Starts the relay now if none runs, so the next batch does not wait for it. */
  warm(): void {
    if (!this.closed && this.link === undefined) this.start();
  }

  /** Applies the changes; never rejects for a refused one. */
  run(changes: ReadonlyArray<readonly [RouteOp, RouteCanon]>): Promise<BatchOutcome> {
    const w = this.begin();
    for (const [op, c] of changes) w.write(op, c);
    return w.end();
  }

  /**
   * Starts a batch. Changes go to the kernel a frame at a time as they are
   * written. A change naming a device waits for the batch's end, where the
   * devices' indexes are looked up first; every change after it waits too, so
   * changes reach the kernel in the order written. One batch at a time: the
   * next begin() must wait for end() to resolve.
   */
  begin(): BatchWriter {
    if (this.closed) throw new TerraceError('Internal', 'route writer: used after close');
    if (this.open) throw new TerraceError('Internal', 'route writer: a batch is already open');
    const link = this.link ?? this.start();
    this.open = true;
    // Sequence numbers are 32 bits on the wire; they wrap, so positions are taken modulo 2^32.
    const first = (this.seq + 1) >>> 0;
    const indexOf = (seq: number): number => (seq - first) >>> 0;
    const changes: Change[] = [];
    const frames: Array<Promise<Buffer | undefined>> = [];
    const early: BatchFailure[] = [];
    const deferred: Change[] = [];
    const links = new Map<string, number>();
    const w = new MessageWriter();
    let inFrame = 0;
    const flush = (): void => {
      if (inFrame === 0) return;
      w.setFlags(w.flags() | NLM_F_ACK);
      frames.push(this.send(link, w.bytes()));
      w.reset();
      inFrame = 0;
    };
    const encode = (ch: Change, seq: number): void => {
      try {
        encodeRoute(w, ch.op, ch.canon, seq, links, false);
      } catch (e) {
        if (!(e instanceof NoSuchDevice)) throw e;
        early.push({ index: indexOf(seq), code: 'ENODEV', line: describe(ch), message: e.message });
        return;
      }
      if (++inFrame >= FRAME_MESSAGES || w.len >= FRAME_BYTES) flush();
    };
    const finish = async (): Promise<BatchOutcome> => {
      if (deferred.length > 0) {
        flush();
        const lookedUp = await this.lookUp(link, deferred);
        if (lookedUp === undefined) return { failures: [], lost: true };
        for (const [name, index] of lookedUp) links.set(name, index);
        const firstDeferred = first + changes.length - deferred.length;
        deferred.forEach((ch, i) => encode(ch, (firstDeferred + i) >>> 0));
      }
      flush();
      const answers = await Promise.all(frames);
      if (answers.some((a) => a === undefined)) return { failures: [], lost: true };
      const failures = early;
      for (const a of answers) {
        for (const m of decodeAnswers(a as Buffer)) {
          if (m.kind !== 'error' || m.errno === 0) continue;
          const index = indexOf(m.seq);
          const ch = changes[index];
          if (ch === undefined) continue;
          failures.push({ index, code: errnoCode(m.errno), line: describe(ch), message: errnoText(m.errno, m.message) });
        }
      }
      failures.sort((x, y) => x.index - y.index);
      return { failures, lost: false };
    };
    return {
      write: (op: RouteOp, c: RouteCanon): void => {
        const ch = { op, canon: c };
        changes.push(ch);
        this.seq = (this.seq + 1) >>> 0;
        if (deferred.length > 0 || (op !== 'del' && c.hops.some((h) => h.dev !== undefined))) deferred.push(ch);
        else encode(ch, this.seq);
      },
      end: async (): Promise<BatchOutcome> => {
        try {
          return await finish();
        } catch (e) {
          // Answers we cannot read leave the batch unknown: as if the relay had died.
          if (this.link === link) this.stderr += `unreadable answer from the kernel: ${String(e)}\n`;
          link.kill();
          return { failures: [], lost: true };
        } finally {
          this.open = false;
        }
      },
    };
  }

  /**
   * The kernel's routes of our protocol, both families, every table, with
   * their devices named: a dump of the links and one of each family's routes
   * (filtered by protocol in the kernel), each one frame through the relay.
   * Also fills `names` (index → interface name) afresh. Undefined when the
   * relay died first; throws a TerraceError (Unavailable) when the kernel
   * refused, or its dumps kept being interrupted by changes.
   */
  async readRoutes(names: IfNames = new Map()): Promise<RouteCanon[] | undefined> {
    if (this.closed) throw new TerraceError('Internal', 'route writer: used after close');
    for (let attempt = 1; ; attempt++) {
      const answers = await this.dump(ROUTE_PROTOCOL);
      if (answers === undefined) return undefined;
      const [links, v4, v6] = answers;
      if (![links, v4, v6].some(dumpInterrupted)) {
        names.clear();
        applyLinks(links, names);
        try {
          const out = decodeRoutes(v4, names, true);
          decodeRoutes(v6, names, true, out);
          return out.map((r) => r.route);
        } catch (e) {
          // A link that came after the link dump: read again.
          if (!(e instanceof UnknownIfIndex)) throw e;
        }
      }
      if (attempt >= 3) throw new TerraceError('Unavailable', "reading the kernel's routes: three dumps in a row were interrupted by changes");
    }
  }

  /**
   * Every route of every protocol in the kernel, both families, for a report
   * of what this node forwards (route queries): one dump of the links and one
   * of each family's routes. Undefined when the relay died first; throws a
   * TerraceError (Unavailable) when the kernel refused.
   */
  async readAnyRoutes(): Promise<AnyRoute[] | undefined> {
    if (this.closed) throw new TerraceError('Internal', 'route writer: used after close');
    const answers = await this.dump(0);
    if (answers === undefined) return undefined;
    const [links, v4, v6] = answers;
    const names: IfNames = new Map();
    applyLinks(links, names);
    return [...decodeAnyRoutes(v4, names), ...decodeAnyRoutes(v6, names)];
  }

  /**
   * Dumps the links and each family's routes of `protocol` (0: every one),
   * each one frame through the relay: undefined when the relay died first;
   * throws a TerraceError (Unavailable) when the kernel refused.
   */
  private async dump(protocol: number): Promise<[Buffer, Buffer, Buffer] | undefined> {
    const link = this.link ?? this.start();
    // Sequence 0: dumps are told apart by frame, not by sequence, and take
    // no number from a batch that may be open.
    const asked = [encodeGetLinks, (w: MessageWriter) => encodeGetRoutes(w, 4, 0, protocol), (w: MessageWriter) => encodeGetRoutes(w, 6, 0, protocol)].map((enc) => {
      const w = new MessageWriter(64);
      enc(w, 0);
      return this.send(link, w.bytes());
    });
    const answers = await Promise.all(asked);
    if (answers.some((a) => a === undefined)) return undefined;
    const [links, v4, v6] = answers as [Buffer, Buffer, Buffer];
    const errno = dumpError(links) || dumpError(v4) || dumpError(v6);
    if (errno !== 0) throw new TerraceError('Unavailable', `reading the kernel's routes: ${errnoText(errno)}`);
    return [links, v4, v6];
  }

  /** Frames sent to the relay and not yet answered. */
  get inFlight(): number {
    return this.waiting.length;
  }

  /** Ends the relay after the frames already sent and waits for it to exit. */
  async close(): Promise<void> {
    this.closed = true;
    const link = this.link;
    if (link === undefined) return;
    link.end();
    await this.exited;
  }

  /**
   * Interface indexes of the devices the changes name; undefined when the
   * relay died. Asked in frames of FRAME_MESSAGES names: each answer is a
   * whole link description, and all of a frame's wait in the socket at once.
   */
  private async lookUp(link: RelayLink, changes: readonly Change[]): Promise<Map<string, number> | undefined> {
    const names = [...new Set(changes.flatMap((ch) => (ch.op === 'del' ? [] : devicesOf(ch.canon))))];
    const asked: Array<Promise<Buffer | undefined>> = [];
    const bySeq = new Map<number, string>();
    for (let at = 0; at < names.length; at += FRAME_MESSAGES) {
      const part = names.slice(at, at + FRAME_MESSAGES);
      const w = new MessageWriter(4096);
      part.forEach((n, i) => {
        this.seq = (this.seq + 1) >>> 0;
        bySeq.set(this.seq, n);
        encodeGetLink(w, n, this.seq, i === part.length - 1);
      });
      asked.push(this.send(link, w.bytes()));
    }
    const out = new Map<string, number>();
    for (const answers of await Promise.all(asked)) {
      if (answers === undefined) return undefined;
      for (const m of decodeAnswers(answers)) {
        const name = bySeq.get(m.seq);
        if (m.kind === 'link' && name !== undefined) out.set(name, m.index);
      }
    }
    return out;
  }

  /** Sends one frame; resolves with the kernel's answers, or undefined if the relay died first. */
  private send(link: RelayLink, frame: Buffer): Promise<Buffer | undefined> {
    if (this.link !== link) return Promise.resolve(undefined);
    const out = Buffer.allocUnsafe(4 + frame.length);
    if (isLittleEndian) out.writeUInt32LE(frame.length, 0);
    else out.writeUInt32BE(frame.length, 0);
    frame.copy(out, 4);
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      link.write(out);
    });
  }

  private start(): RelayLink {
    this.waiting = [];
    this.frames.reset();
    this.stderr = '';
    const { link, exited, early } = attachRelay((l) => spawnRelay(this.opts, l), {
      output: (l, d) => this.onStdout(l, d),
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
    // Dead from the start: its batches come back lost, and the next begin() starts another.
    if (early !== undefined) this.onExit(link, ...early);
    else this.opts.onStart?.(link.pid);
    return link;
  }

  private onStdout(link: RelayLink, d: Buffer): void {
    if (this.link !== link) return;
    this.frames.push(d, (answers) => this.waiting.shift()?.(answers));
  }

  private onExit(link: RelayLink, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.link !== link) return;
    this.link = undefined;
    const lost = this.waiting;
    this.waiting = [];
    for (const r of lost) r(undefined);
    if (!this.closed) this.opts.onExit?.({ pid: link.pid, code, signal, stderr: this.stderr.trim().split('\n').slice(-3).join('; ') });
  }
}
