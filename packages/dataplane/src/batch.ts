/**
 * One long-lived `ip -force -batch -` child fed on stdin.
 *
 * Knowing when a batch is done: after each batch we write one line ip does
 * not understand (MARKER). With -force, ip reports every failing line on
 * stderr as `Command failed -:N` (N counts lines since the child started) and
 * goes on; it reads and runs lines strictly in order and stderr is unbuffered,
 * so when the marker's own failure report arrives, every line before it has
 * been applied by the kernel and every failure among them has already been
 * reported. Success is silent, failure is numbered: that is all we need.
 *
 * Why one persistent child rather than one `ip -batch` per batch: for large
 * batches the two cost the same (the kernel's work dominates), but every
 * spawn pays fork/exec and netns entry (a few ms), which dominates the small
 * incremental batches route sync sends between resyncs (see bench/routes.mjs,
 * which measures both).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { TerraceError } from '@terrace/api';
import { DEFAULT_IP_COMMAND } from './constants.js';
import { ipArgs, type IpOptions } from './kernel.js';

/** A line ip reports as failed. */
export interface BatchFailure {
  /** Index of the line in the batch. */
  readonly index: number;
  readonly line: string;
  /** What ip printed about it, e.g. `RTNETLINK answers: No such process`. */
  readonly message: string;
}

export interface BatchOutcome {
  readonly failures: readonly BatchFailure[];
  /**
   * The child died before confirming the batch: lines not listed in
   * `failures` may or may not have been applied.
   */
  readonly lost: boolean;
}

export interface IpBatchOptions extends IpOptions {
  /** Called when a child exits on its own (it is restarted by the next batch). */
  readonly onExit?: (info: { pid: number | undefined; code: number | null; signal: NodeJS.Signals | null; stderr: string }) => void;
}

/** Not an ip object: ip answers `Object "..." is unknown` and, under -force, carries on. */
export const BATCH_MARKER = 'terrace-batch-done';

const FAILED = /^Command failed -:(\d+)$/;
/** Lines per write(): the first chunk reaches ip while we still build the rest. */
const CHUNK_LINES = 2048;

/** An open batch: write lines, then end() to learn how it went. */
export interface BatchWriter {
  write(line: string): void;
  end(): Promise<BatchOutcome>;
}

interface Pending {
  readonly first: number;
  readonly marker: number;
  readonly lines: readonly string[];
  readonly failures: BatchFailure[];
  readonly resolve: (o: BatchOutcome) => void;
}

export class IpBatch {
  private readonly opts: IpBatchOptions;
  private child: ChildProcess | undefined;
  /** Lines written to the current child. */
  private lineNo = 0;
  private queue: Pending[] = [];
  private errRest = '';
  private message: string[] = [];
  /** The last lines of stderr not about a line (why a child died, say). */
  private stray: string[] = [];
  private closed = false;
  private exited: Promise<void> | undefined;

  constructor(opts: IpBatchOptions = {}) {
    this.opts = opts;
  }

  /** The current child's pid, when one is running. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the child now if none runs, so the next batch does not wait for it. */
  warm(): void {
    if (!this.closed && this.child === undefined) this.start();
  }

  /** Runs the lines; resolves once ip has processed all of them. Never rejects for a failing line. */
  run(lines: readonly string[]): Promise<BatchOutcome> {
    const w = this.begin();
    for (const l of lines) w.write(l);
    return w.end();
  }

  /**
   * Starts a batch written line by line: lines go to ip in chunks as they are
   * written, so ip works on the first ones while the caller renders the rest.
   * Only one batch may be open at a time.
   */
  begin(): BatchWriter {
    if (this.closed) throw new TerraceError('Internal', 'ip batch: used after close');
    const child = this.child ?? this.start();
    const stdin = child.stdin;
    const lines: string[] = [];
    const first = this.lineNo + 1;
    let chunk = '';
    let inChunk = 0;
    const send = (): void => {
      if (inChunk === 0) return;
      stdin?.write(chunk);
      chunk = '';
      inChunk = 0;
    };
    return {
      write: (line: string): void => {
        lines.push(line);
        chunk += line + '\n';
        if (++inChunk === CHUNK_LINES) send();
      },
      end: (): Promise<BatchOutcome> => {
        send();
        if (stdin === null) return Promise.resolve({ failures: [], lost: true });
        // A child that died after begin() has its batches already settled; this one is lost too.
        if (this.child !== child) return Promise.resolve({ failures: [], lost: true });
        this.lineNo = first + lines.length;
        return new Promise((resolve) => {
          this.queue.push({ first, marker: this.lineNo, lines, failures: [], resolve });
          stdin.write(BATCH_MARKER + '\n');
        });
      },
    };
  }

  /** Ends the child after the batches already sent and waits for it to exit. */
  async close(): Promise<void> {
    this.closed = true;
    const child = this.child;
    if (child === undefined) return;
    child.stdin?.end();
    await this.exited;
  }

  private start(): ChildProcess {
    const cmd = this.opts.ipCommand ?? DEFAULT_IP_COMMAND;
    const child = spawn(cmd, ipArgs(this.opts, ['-force', '-batch', '-']), { stdio: ['pipe', 'ignore', 'pipe'] });
    this.child = child;
    this.lineNo = 0;
    this.errRest = '';
    this.message = [];
    this.stray = [];
    // A write after the child died fails with EPIPE; the close handler deals with it.
    child.stdin?.on('error', () => undefined);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => this.onStderr(d));
    this.exited = new Promise((resolve) => {
      let done = false;
      const end = (code: number | null, signal: NodeJS.Signals | null, why?: string): void => {
        if (done) return;
        done = true;
        if (why !== undefined) this.stray.push(why);
        this.onExit(child, code, signal);
        resolve();
      };
      child.on('close', (code, signal) => end(code, signal));
      // Spawn failures (no such binary) may not be followed by 'close'.
      child.on('error', (e) => end(null, null, e.message));
    });
    return child;
  }

  private onStderr(chunk: string): void {
    const parts = (this.errRest + chunk).split('\n');
    this.errRest = parts.pop() ?? '';
    for (const line of parts) this.onErrLine(line);
  }

  private onErrLine(line: string): void {
    const m = FAILED.exec(line);
    if (m === null) {
      this.message.push(line.trim());
      return;
    }
    const n = Number(m[1]);
    const message = this.message.join(' ');
    this.message = [];
    const head = this.queue[0];
    if (head !== undefined && n === head.marker) {
      this.queue.shift();
      head.resolve({ failures: head.failures, lost: false });
    } else if (head !== undefined && n >= head.first && n < head.marker) {
      const index = n - head.first;
      head.failures.push({ index, line: head.lines[index] ?? '', message });
    } else {
      this.stray.push(`${message} (line ${n})`);
      if (this.stray.length > 10) this.stray.shift();
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    if (this.errRest !== '') this.onErrLine(this.errRest);
    const stderr = [...this.stray, ...this.message].filter((s) => s !== '').join('; ');
    this.child = undefined;
    const lost = this.queue;
    this.queue = [];
    for (const p of lost) p.resolve({ failures: p.failures, lost: true });
    if (!this.closed) this.opts.onExit?.({ pid: child.pid, code, signal, stderr });
  }
}
