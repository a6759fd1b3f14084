/**
 * BIRD's control socket, spoken directly (what birdc does). The protocol is
 * line based: the daemon greets with `0001 BIRD <version> ready.`; each
 * command is one line; a reply is lines `DDDD-text` (more to come), lines
 * starting with a space (continuing the previous code), and ends with a line
 * `DDDD text`. Codes 8xxx and 9xxx are errors (run time, parse).
 *
 * One connection per client, one command at a time (BIRD answers in order,
 * so commands are queued).
 */
import { connect, type Socket } from 'node:net';
import { TerraceError } from '@terrace/api';

export interface BirdReplyLine {
  code: number;
  text: string;
}

export interface BirdReply {
  /** The code of the final line (0 for a plain end, 3 for "Reconfigured", ...). */
  code: number;
  lines: BirdReplyLine[];
}

/** Splits raw reply lines into (code, text), continuation lines taking the previous code. */
export function parseReplyLines(raw: readonly string[]): BirdReplyLine[] {
  let code = 0;
  return raw.map((l) => {
    const m = /^(\d{4})[ -](.*)$/.exec(l);
    if (m) {
      code = Number(m[1]);
      return { code, text: m[2] ?? '' };
    }
    return { code, text: l.startsWith(' ') ? l.slice(1) : l };
  });
}

export class BirdControlError extends TerraceError {
  readonly birdCode: number;
  constructor(command: string, code: number, text: string) {
    super(code >= 9000 ? 'Invalid' : 'Unavailable', `bird: ${command}: ${text}`);
    this.birdCode = code;
  }
}

export class BirdControl {
  private sock: Socket | undefined;
  private buf = '';
  private pending: { raw: string[]; resolve: (r: string[]) => void; reject: (e: Error) => void }[] = [];
  private greeting: Promise<void> | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly socketPath: string, private readonly timeoutMs = 10000) {}

  private open(): Promise<void> {
    if (this.greeting && this.sock && !this.sock.destroyed) return this.greeting;
    this.buf = '';
    const sock = connect(this.socketPath);
    this.sock = sock;
    this.greeting = new Promise<void>((resolve, reject) => {
      // The greeting is a reply like any other; it goes through the same reader.
      this.pending.unshift({ raw: [], resolve: () => resolve(), reject });
      sock.once('error', (e) => this.fail(new TerraceError('Unavailable', `bird control socket ${this.socketPath}: ${e.message}`, { cause: e }), sock));
    });
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      if (this.sock === sock) this.onData(d);
    });
    sock.on('close', () => this.fail(new TerraceError('Unavailable', `bird control socket ${this.socketPath}: closed`), sock));
    return this.greeting;
  }

  /** Fails every waiting command and drops the connection (only if `from` is still the current one). */
  private fail(e: Error, from?: Socket): void {
    if (from && from !== this.sock) return;
    const p = this.pending;
    this.pending = [];
    for (const x of p) x.reject(e);
    this.sock?.destroy();
    this.sock = undefined;
    this.greeting = undefined;
  }

  private onData(d: string): void {
    this.buf += d;
    for (;;) {
      const nl = this.buf.indexOf('\n');
      if (nl < 0) return;
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      const cur = this.pending[0];
      if (!cur) continue;
      cur.raw.push(line);
      if (/^\d{4} /.test(line)) {
        this.pending.shift();
        cur.resolve(cur.raw);
      }
    }
  }

  /** Runs one command; resolves with its reply, rejects with BirdControlError on 8xxx/9xxx. */
  command(cmd: string): Promise<BirdReply> {
    if (/[\r\n]/.test(cmd)) throw new TerraceError('Internal', 'bird control: a command is one line');
    const run = async (): Promise<BirdReply> => {
      await this.open();
      const raw = await new Promise<string[]>((resolve, reject) => {
        const t = setTimeout(() => this.fail(new TerraceError('Unavailable', `bird: ${cmd}: no answer in ${this.timeoutMs} ms`)), this.timeoutMs);
        this.pending.push({
          raw: [],
          resolve: (r) => {
            clearTimeout(t);
            resolve(r);
          },
          reject: (e) => {
            clearTimeout(t);
            reject(e);
          },
        });
        this.sock?.write(`${cmd}\n`);
      });
      const lines = parseReplyLines(raw);
      const last = lines[lines.length - 1] ?? { code: 0, text: '' };
      const err = lines.find((l) => l.code >= 8000);
      if (err) throw new BirdControlError(cmd, err.code, lines.filter((l) => l.code >= 8000).map((l) => l.text).join('; '));
      return { code: last.code, lines };
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Resolves once the daemon answers (polling every 50 ms), or rejects after timeoutMs. */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.command('show status');
        return;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  close(): void {
    this.fail(new TerraceError('Unavailable', 'bird control: closed'));
  }
}
