/**
 * Pod wiring's channel to the kernel: op frames (relay/nl-relay.pl describes
 * them) through one long-lived relay process, the same script route sync
 * uses. An op frame can act in other network namespaces, given by path: the
 * relay setns's into each in turn, talks netlink there, writes sysctls there,
 * and returns to its own. It can also open a namespace path and put the file
 * descriptor into a request (IFLA_NET_NS_FD), which is how a veth's pod end
 * is created directly inside the pod's namespace.
 *
 * One LinkRelay serves any number of concurrent callers: frames are answered
 * in the order sent, each complete in itself (it enters and leaves its
 * namespaces), so frames of different pods may interleave. The relay is
 * started on first use and again after it dies; a frame it had not answered
 * comes back lost. While no frame is in flight the relay process does not
 * keep Node's event loop alive, so a process that never closes it can still
 * exit.
 */
import { endianness } from 'node:os';
import { TerraceError } from '@terrace/api';
import { decodeAnswers, errnoCode, errnoText, MessageWriter } from './netlink.js';
import { attachRelay, spawnRelay, type RelayLink, type RelayStarter } from './relay.js';

const LE = endianness() === 'LE';

/** The head of an op frame has its top bit set; a plain (route) frame's does not. */
const OP_FRAME = 0x80000000;
const REC_NETNS = 1;
const REC_NSFD = 2;
const REC_NETLINK = 3;
const REC_SYSCTL = 4;
const RECORD_HEADER = 12;

export interface LinkRelayOptions {
  /** The perl interpreter; default `perl` on PATH. */
  readonly perlCommand?: string;
  /** Starts the relay; default spawnRelay (the perl process, in this process's namespace). */
  readonly relay?: RelayStarter;
  /** Called when the relay exits on its own (another is started by the next frame). */
  readonly onExit?: (info: { pid: number | undefined; code: number | null; signal: NodeJS.Signals | null; stderr: string }) => void;
}

/** A step the kernel or the relay refused. */
export interface StepFailure {
  /** The step as given to the frame, e.g. `create tr0123456789a`. */
  readonly step: string;
  /** The errno name, e.g. `EEXIST`. */
  readonly code: string;
  /** One line: `EEXIST (file already exists)`, with the kernel's own words when it gave some. */
  readonly message: string;
}

export interface FrameOutcome {
  /** Refused steps, in the order they ran (the relay stops at the first refused record). */
  readonly failures: readonly StepFailure[];
  /** Interface indexes from link requests' answers, by the step that asked. */
  readonly links: ReadonlyMap<string, number>;
}

type Seq = () => number;

/**
 * One op frame under construction. Every step has a description, used in
 * messages and as the key of its outcome; steps run in the order added.
 */
export class OpFrame {
  private readonly out = new MessageWriter(2048);
  /** Description of each step, by sequence number. */
  readonly steps = new Map<number, string>();

  constructor(private readonly seq: Seq) {}

  private step(what: string): number {
    const s = this.seq();
    this.steps.set(s, what);
    return s;
  }

  private record(kind: number, seq: number, data: Uint8Array): void {
    const w = this.out;
    w.pad();
    w.u32(RECORD_HEADER + data.length);
    w.u16(kind);
    w.u16(0);
    w.u32(seq);
    w.raw(data);
  }

  /**
   * Later steps act in the namespace at `path`; undefined: in the relay's
   * own. Fails with EINVAL when the path is a namespace of another kind, and
   * then nothing after it runs: a frame can begin by entering a path only to
   * check it. `what` names the step (default `enter PATH`).
   */
  netns(path: string | undefined, what?: string): this {
    const step = what ?? (path === undefined ? 'return to own namespace' : `enter ${path}`);
    this.record(REC_NETNS, this.step(step), Buffer.from(path ?? '', 'utf8'));
    return this;
  }

  /**
   * Netlink requests, sent as one datagram. `fill` writes them, taking a
   * sequence number for each from `step`, and calls `fd` for each place a
   * namespace file descriptor goes (the value's offset in `w.buf`).
   */
  netlink(fill: (w: MessageWriter, step: (what: string) => number, fd: (at: number, path: string) => void) => void): this {
    const w = new MessageWriter(1024);
    const fds: Array<[number, string]> = [];
    fill(w, (what) => this.step(what), (at, path) => fds.push([at, path]));
    for (const [at, path] of fds) {
      const p = Buffer.from(path, 'utf8');
      const data = Buffer.alloc(4 + p.length);
      if (LE) data.writeUInt32LE(at, 0);
      else data.writeUInt32BE(at, 0);
      p.copy(data, 4);
      this.record(REC_NSFD, this.step(`open ${path}`), data);
    }
    this.record(REC_NETLINK, 0, w.bytes());
    return this;
  }

  /** Writes `value` to the sysctl `key` (dotted, `net.…`) in the current namespace. */
  sysctl(key: string, value: string): this {
    if (!/^net\.[A-Za-z0-9_.-]+$/.test(key)) throw new TerraceError('Internal', `sysctl ${key}: not a net.* key`);
    this.record(REC_SYSCTL, this.step(`sysctl ${key}=${value}`), Buffer.from(`${key.replace(/\./g, '/')}\0${value}`, 'utf8'));
    return this;
  }

  /** The frame as the relay reads it: head, then records. */
  bytes(): Buffer {
    this.out.pad();
    const body = this.out.bytes();
    const b = Buffer.allocUnsafe(4 + body.length);
    if (LE) b.writeUInt32LE((OP_FRAME | body.length) >>> 0, 0);
    else b.writeUInt32BE((OP_FRAME | body.length) >>> 0, 0);
    body.copy(b, 4);
    return b;
  }
}

export class LinkRelay {
  private readonly opts: LinkRelayOptions;
  private link: RelayLink | undefined;
  private seq = 0;
  private waiting: Array<(answers: Buffer | undefined) => void> = [];
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private stderr = '';
  private closed = false;
  private exited: Promise<void> | undefined;
  /** Relay processes started so far: one, unless one died. */
  started = 0;

  constructor(opts: LinkRelayOptions = {}) {
    this.opts = opts;
  }

  /** close() was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** The relay's pid, while one runs. */
  get pid(): number | undefined {
    return this.link?.pid;
  }

  /** A new, empty frame. */
  frame(): OpFrame {
    return new OpFrame(() => (this.seq = (this.seq + 1) >>> 0));
  }

  /**
   * Sends a frame; resolves with what was refused and the links answered.
   * Throws Unavailable when the relay died before answering (the steps may or
   * may not have been carried out).
   */
  async run(f: OpFrame): Promise<FrameOutcome> {
    if (this.closed) throw new TerraceError('Internal', 'link relay: used after close');
    const answers = await this.send(f.bytes());
    if (answers === undefined) {
      const why = this.stderr.trim().split('\n').slice(-1)[0];
      throw new TerraceError('Unavailable', `netlink relay exited before answering${why ? ` (${why})` : ''}`);
    }
    const failures: StepFailure[] = [];
    const links = new Map<string, number>();
    for (const m of decodeAnswers(answers)) {
      const step = f.steps.get(m.seq);
      if (step === undefined) continue;
      if (m.kind === 'link') links.set(step, m.index);
      else if (m.kind === 'error' && m.errno !== 0) failures.push({ step, code: errnoCode(m.errno), message: oneLine(errnoText(m.errno, m.message)) });
    }
    return { failures, links };
  }

  /** Ends the relay after the frames already sent and waits for it to exit. */
  async close(): Promise<void> {
    this.closed = true;
    const link = this.link;
    if (link === undefined) return;
    link.hold?.(true);
    link.end();
    await this.exited;
  }

  private send(frame: Buffer): Promise<Buffer | undefined> {
    const link = this.link ?? this.start();
    if (this.link !== link) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      if (this.waiting.length === 0) link.hold?.(true);
      this.waiting.push(resolve);
      link.write(frame);
    });
  }

  private start(): RelayLink {
    this.waiting = [];
    this.pending = [];
    this.pendingBytes = 0;
    this.stderr = '';
    this.started += 1;
    const opts = this.opts.perlCommand === undefined ? {} : { perlCommand: this.opts.perlCommand };
    const { link, exited, early } = attachRelay((l) => (this.opts.relay ?? spawnRelay)(opts, l), {
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
    link.hold?.(false);
    if (early !== undefined) this.onExit(link, ...early);
    return link;
  }

  private onStdout(link: RelayLink, d: Buffer): void {
    if (this.link !== link) return;
    this.pending.push(d);
    this.pendingBytes += d.length;
    for (;;) {
      if (this.pendingBytes < 4) return;
      let buf = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
      const len = LE ? buf.readUInt32LE(0) : buf.readUInt32BE(0);
      if (buf.length < 4 + len) {
        this.pending = [buf];
        return;
      }
      const answers = buf.subarray(4, 4 + len);
      buf = buf.subarray(4 + len);
      this.pending = buf.length > 0 ? [buf] : [];
      this.pendingBytes = buf.length;
      this.waiting.shift()?.(answers);
      if (this.waiting.length === 0 && !this.closed) link.hold?.(false);
    }
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

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, '; ').trim();
}

let shared: LinkRelay | undefined;

/**
 * The process's link relay, for callers that pass none: one per process, so
 * an agent that never creates its own still runs one relay for all its pods.
 */
export function sharedLinkRelay(): LinkRelay {
  if (shared === undefined || shared.isClosed) shared = new LinkRelay();
  return shared;
}
