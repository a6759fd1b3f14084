/**
 * Route changes to the kernel through one long-lived relay process
 * (relay/nl-relay.pl, run by perl, which every Debian system has): we encode
 * rtnetlink requests (netlink.ts) in frames of up to FRAME_MESSAGES, the
 * relay sends each frame to the kernel as one datagram and hands back the
 * kernel's answers. Only a frame's last request asks for an acknowledgement;
 * the kernel answers every failing request regardless, so the answers are
 * the failures plus one acknowledgement per frame, and a frame is done when
 * that acknowledgement arrives (the kernel handles a datagram's requests in
 * order).
 *
 * The relay runs in the routes' namespace (`ip netns exec NAME perl ...`).
 * It is started on first use and again after it dies; batches it had not
 * confirmed come back `lost`, and route sync then re-reads the kernel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { endianness } from 'node:os';
import { fileURLToPath } from 'node:url';
import { TerraceError } from '@terrace/api';
import { deleteArgs, replaceArgs, type RouteCanon } from './canon.js';
import { DEFAULT_IP_COMMAND } from './constants.js';
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
  private child: ChildProcess | undefined;
  private seq = 0;
  /** Frames sent to the current relay, awaiting their answers (undefined: lost). */
  private waiting: Array<(answers: Buffer | undefined) => void> = [];
  private pending: Buffer[] = [];
  private pendingBytes = 0;
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
    return this.child?.pid;
  }

  /** Starts the relay now if none runs, so the next batch does not wait for it. */
  warm(): void {
    if (!this.closed && this.child === undefined) this.start();
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
    const child = this.child ?? this.start();
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
      frames.push(this.send(child, w.bytes()));
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
        const lookedUp = await this.lookUp(child, deferred);
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
          if (this.child === child) this.stderr += `unreadable answer from the kernel: ${String(e)}\n`;
          child.kill('SIGKILL');
          return { failures: [], lost: true };
        } finally {
          this.open = false;
        }
      },
    };
  }

  /** Frames sent to the relay and not yet answered. */
  get inFlight(): number {
    return this.waiting.length;
  }

  /** Ends the relay after the frames already sent and waits for it to exit. */
  async close(): Promise<void> {
    this.closed = true;
    const child = this.child;
    if (child === undefined) return;
    child.stdin?.end();
    await this.exited;
  }

  /**
   * Interface indexes of the devices the changes name; undefined when the
   * relay died. Asked in frames of FRAME_MESSAGES names: each answer is a
   * whole link description, and all of a frame's wait in the socket at once.
   */
  private async lookUp(child: ChildProcess, changes: readonly Change[]): Promise<Map<string, number> | undefined> {
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
      asked.push(this.send(child, w.bytes()));
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
  private send(child: ChildProcess, frame: Buffer): Promise<Buffer | undefined> {
    if (this.child !== child || child.stdin === null) return Promise.resolve(undefined);
    const out = Buffer.allocUnsafe(4 + frame.length);
    if (isLittleEndian) out.writeUInt32LE(frame.length, 0);
    else out.writeUInt32BE(frame.length, 0);
    frame.copy(out, 4);
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      child.stdin?.write(out);
    });
  }

  private start(): ChildProcess {
    const perl = this.opts.perlCommand ?? 'perl';
    const netns = this.opts.netns;
    const [cmd, args] =
      netns === undefined
        ? [perl, [RELAY_SCRIPT]]
        : [this.opts.ipCommand ?? DEFAULT_IP_COMMAND, ['netns', 'exec', netns, perl, RELAY_SCRIPT]];
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.waiting = [];
    this.pending = [];
    this.pendingBytes = 0;
    this.stderr = '';
    // A write after the relay died fails with EPIPE; the close handler deals with it.
    child.stdin?.on('error', () => undefined);
    child.stdout?.on('data', (d: Buffer) => this.onStdout(child, d));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      if (this.child === child) this.stderr = (this.stderr + d).slice(-2000);
    });
    this.exited = new Promise((resolve) => {
      let done = false;
      const end = (code: number | null, signal: NodeJS.Signals | null, why?: string): void => {
        if (done) return;
        done = true;
        if (why !== undefined) this.stderr += why;
        this.onExit(child, code, signal);
        resolve();
      };
      child.on('close', (code, signal) => end(code, signal));
      // Spawn failures (no such binary) may not be followed by 'close'.
      child.on('error', (e) => end(null, null, e.message));
    });
    return child;
  }

  private onStdout(child: ChildProcess, d: Buffer): void {
    if (this.child !== child) return;
    this.pending.push(d);
    this.pendingBytes += d.length;
    for (;;) {
      if (this.pendingBytes < 4) return;
      let buf = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
      const len = isLittleEndian ? buf.readUInt32LE(0) : buf.readUInt32BE(0);
      if (buf.length < 4 + len) {
        this.pending = [buf];
        return;
      }
      const answers = buf.subarray(4, 4 + len);
      buf = buf.subarray(4 + len);
      this.pending = buf.length > 0 ? [buf] : [];
      this.pendingBytes = buf.length;
      this.waiting.shift()?.(answers);
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    const lost = this.waiting;
    this.waiting = [];
    for (const r of lost) r(undefined);
    if (!this.closed) this.opts.onExit?.({ pid: child.pid, code, signal, stderr: this.stderr.trim().split('\n').slice(-3).join('; ') });
  }
}
