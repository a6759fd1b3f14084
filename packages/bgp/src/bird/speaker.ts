/**
 * The BIRD backend of BgpSpeaker. The whole desired state is rendered into
 * one bird.conf (render.ts); a pass writes it when it differs from the file,
 * checks it with `bird -p` before it replaces the file, and asks BIRD to
 * `configure` only when the text BIRD runs differs from the rendered one, so
 * an unchanged desired state never reloads anything. BIRD itself compares
 * protocols on `configure` and restarts only those whose configuration
 * changed; the daemon keeps running (same PID).
 *
 * BIRD writes learned routes to the kernel itself (kernel protocol, `proto
 * bird`), so learned() is a report, not a feed to program routes from: the
 * speaker polls `show route export terrace_kernel4|6` (exactly what BIRD has
 * put in the kernel, ECMP merged; our own prefixes are never there) every
 * `pollMs` and publishes the differences.
 *
 * Either supervises BIRD (`daemon`) or drives one that runs already
 * (`sidecar`: its config file and control socket).
 */
import { execFile } from 'node:child_process';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { formatCidr, formatIP, packCidr, packIP, TerraceError, type PackedAddr, type PackedPrefix } from '@terrace/api';
import { Broadcast } from '../broadcast.js';
import { PassLoop } from '../passes.js';
import { rulesText } from '../policy.js';
import type { Announcement, BgpSpeaker, GlobalConfig, LearnedEvent, LearnedHops, PeerConfig, PeerStatus } from '../speaker.js';
import { DEFAULT_BIRD_BINARY } from './constants.js';
import { BirdControl } from './control.js';
import { BirdDaemon, type BirdDaemonOptions } from './daemon.js';
import { renderBirdConfig } from './render.js';
import { parseProtocols, parseRoutes, sessionState } from './status.js';

const run = promisify(execFile);

export interface BirdSpeakerOptions {
  /** Start and supervise BIRD with these options... */
  daemon?: BirdDaemonOptions;
  /** ...or drive a running BIRD that reads `configPath` and listens on `socketPath`. */
  sidecar?: { configPath: string; socketPath: string };
  /** bird binary for `bird -p` checks (default: the daemon's binary, else `bird`). */
  checkBinary?: string;
  /** How often learned routes are read from BIRD (ms, default 1000; longer for a table that takes long to read). */
  pollMs?: number;
  /** Periodic reconcile interval (ms, default 10000). */
  resyncMs?: number;
  /** Retry backoff for failed passes (ms, default 200 → 5000). */
  minRetryMs?: number;
  maxRetryMs?: number;
  onError?: (err: Error) => void;
}

function sameHops(a: readonly PackedAddr[], b: readonly PackedAddr[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function uniqueBy<T>(items: readonly T[], key: (t: T) => string, what: string): Map<string, T> {
  const m = new Map<string, T>();
  for (const i of items) {
    const k = key(i);
    if (m.has(k)) throw new TerraceError('Invalid', `${what} ${k}: listed twice in the desired set`);
    m.set(k, i);
  }
  return m;
}

export class BirdSpeaker implements BgpSpeaker {
  readonly backend = 'bird';
  /** BIRD's kernel protocol writes learned routes itself (`proto bird`); learned() only reports them. */
  readonly writesKernelRoutes = true;
  readonly supportsBfd = true;
  readonly daemon: BirdDaemon | undefined;
  readonly control: BirdControl;
  readonly configPath: string;
  private readonly opts: BirdSpeakerOptions;

  private global: GlobalConfig | undefined;
  private peers = new Map<string, PeerConfig>();
  private paths = new Map<string, Announcement>();
  /** BGP protocol name → peer, from the last rendering. */
  private protocols: ReadonlyMap<string, PeerConfig> = new Map();
  /** The configuration text BIRD runs, as far as we know (undefined: unknown). */
  private running: string | undefined;
  /** How many times BIRD was told to `configure` (for tests and metrics). */
  reloads = 0;

  private learnedMap = new Map<PackedPrefix, LearnedHops>();
  private readonly events = new Broadcast<readonly LearnedEvent[]>();

  private resyncTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private stopped = false;
  private readonly passes: PassLoop;

  constructor(opts: BirdSpeakerOptions) {
    if (!opts.daemon === !opts.sidecar) {
      throw new TerraceError('Invalid', 'bird speaker: give exactly one of daemon (supervised) or sidecar (running BIRD)');
    }
    this.opts = opts;
    this.passes = new PassLoop({
      apply: () => this.applyOnce(),
      report: (e) => this.report(e),
      ...(opts.minRetryMs !== undefined ? { minRetryMs: opts.minRetryMs } : {}),
      ...(opts.maxRetryMs !== undefined ? { maxRetryMs: opts.maxRetryMs } : {}),
    });
    this.configPath = opts.daemon?.configPath ?? (opts.sidecar as { configPath: string }).configPath;
    this.control = new BirdControl(opts.daemon?.socketPath ?? (opts.sidecar as { socketPath: string }).socketPath);
    if (opts.daemon) {
      const d = new BirdDaemon(opts.daemon);
      this.daemon = d;
      // BIRD read the file as it was when it started.
      d.on('up', () => {
        this.running = this.readConfig();
        void this.reconcile().catch(() => undefined);
      });
      d.on('exit', () => {
        this.running = undefined;
      });
      d.on('error', (e) => this.report(e));
    }
  }

  async start(global: GlobalConfig): Promise<void> {
    if (this.stopped) throw new TerraceError('Invalid', 'bird speaker: start after stop');
    renderBirdConfig({ global, peers: [...this.peers.values()], announcements: [...this.paths.values()] });
    this.global = global;
    if (!this.daemon) await this.control.waitReady(15000);
    await this.reconcile();
    if (!this.resyncTimer) {
      this.resyncTimer = setInterval(() => void this.reconcile().catch(() => undefined), this.opts.resyncMs ?? 10000);
      this.resyncTimer.unref();
    }
    if (!this.pollTimer && !this.polling) void this.poll();
  }

  async setPeers(peers: readonly PeerConfig[]): Promise<void> {
    const m = uniqueBy(peers, (p) => formatIP(p.address), 'bgp peer');
    if (this.global) renderBirdConfig({ global: this.global, peers: [...m.values()], announcements: [...this.paths.values()] });
    this.peers = m;
    if (this.global) await this.reconcile();
  }

  async setAnnouncements(paths: readonly Announcement[]): Promise<void> {
    const m = uniqueBy(paths, (a) => formatCidr(a.prefix), 'announcement');
    if (this.global) renderBirdConfig({ global: this.global, peers: [...this.peers.values()], announcements: [...m.values()] });
    this.paths = m;
    if (this.global) await this.reconcile();
  }

  learned(): AsyncIterable<readonly LearnedEvent[]> {
    const now: LearnedEvent[] = [...this.learnedMap].map(([prefix, l]) => ({ kind: 'set', prefix, nextHops: l.nextHops }));
    return this.events.subscribe(now.length > 0 ? [now] : []);
  }

  learnedSnapshot(): ReadonlyMap<PackedPrefix, LearnedHops> {
    return new Map(this.learnedMap);
  }

  inSync(): boolean {
    return this.passes.inSync();
  }

  get daemonPid(): number | undefined {
    return this.daemon?.pid;
  }

  async peerStatus(): Promise<PeerStatus[]> {
    const reply = await this.control.command('show protocols all');
    const byName = new Map(parseProtocols(reply.lines).map((p) => [p.name, p]));
    const out: PeerStatus[] = [];
    for (const [name, peer] of this.protocols) {
      const s = byName.get(name);
      const state = s ? sessionState(s.bgpState) : 'unknown';
      const error = s?.lastError;
      out.push({
        address: formatIP(peer.address),
        asn: peer.asn,
        type: peer.type,
        description: peer.description ?? '',
        state,
        since: s?.since,
        prefixesReceived: (s?.imported ?? 0) + (s?.filtered ?? 0),
        prefixesAccepted: s?.imported ?? 0,
        prefixesAdvertised: s?.exported ?? 0,
        ...(s ? { updatesReceived: s.importUpdates, updatesSent: s.exportUpdates } : {}),
        info: s ? (state === 'established' || !error ? s.info || s.bgpState || s.state : `${s.bgpState ?? s.state}: ${error}`) : 'not configured in BIRD yet',
        ...(peer.bfd ? { bfd: 'on' } : {}),
      });
    }
    return out;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.pollTimer) clearTimeout(this.pollTimer);
    await this.passes.stop();
    this.events.close();
    this.control.close();
    await this.daemon?.stop();
  }

  /** Runs a reconcile pass; concurrent callers share the next pass. Rejects if that pass failed (then retried). */
  reconcile(): Promise<void> {
    return this.passes.run();
  }

  private report(e: Error): void {
    this.opts.onError?.(e);
  }

  private readConfig(): string | undefined {
    try {
      return readFileSync(this.configPath, 'utf8');
    } catch {
      return undefined;
    }
  }

  /** Writes `text` next to the config, has `bird -p` check it, then moves it into place. */
  private async writeChecked(text: string): Promise<void> {
    const tmp = join(dirname(this.configPath), `.${basename(this.configPath)}.${process.pid}.tmp`);
    writeFileSync(tmp, text, { mode: 0o600 });
    try {
      const bin = this.opts.checkBinary ?? this.opts.daemon?.binary ?? DEFAULT_BIRD_BINARY;
      await run(bin, ['-p', '-c', tmp]);
    } catch (e) {
      rmSync(tmp, { force: true });
      const err = e as { stderr?: string; message: string };
      throw new TerraceError('Internal', `bird -p rejected the rendered configuration: ${(err.stderr || err.message).trim()}`, { cause: e });
    }
    renameSync(tmp, this.configPath);
  }

  private async applyOnce(): Promise<void> {
    const global = this.global;
    if (!global) return;
    const r = renderBirdConfig({ global, peers: [...this.peers.values()], announcements: [...this.paths.values()] });
    this.protocols = r.protocols;
    // A file changed behind our back is put back; BIRD is reloaded only if it runs other text.
    if (this.readConfig() !== r.text) await this.writeChecked(r.text);
    if (this.running === r.text) return;
    if (this.daemon && this.daemon.pid === undefined) {
      // Not running: start it (it reads the file just written); a crashed one is
      // restarted by the supervisor, whose `up` triggers the next pass.
      if (this.daemon.generation === 0) await this.daemon.start();
      else throw new TerraceError('Unavailable', 'bird is not running (restart pending)');
      return;
    }
    await this.control.command('configure');
    this.reloads += 1;
    this.running = r.text;
    await this.refreshChangedImports(r.protocols);
  }

  /** Each protocol's import rules as last configured (policy text), to see which changed. */
  private importsRunning = new Map<string, string>();

  /**
   * BIRD 2.0.12 applies a changed import filter only to routes that arrive
   * afterwards: a route the old filter refused (a default route before the
   * filter that accepts it) would stay out until the peer happens to send it
   * again. So each session whose import rules changed asks its peer for the
   * whole table again (route refresh). A session that is down needs nothing:
   * it gets the table through the new filter when it comes up.
   */
  private async refreshChangedImports(protocols: ReadonlyMap<string, PeerConfig>): Promise<void> {
    const next = new Map<string, string>();
    for (const [name, p] of protocols) {
      next.set(name, rulesText(p.policy?.import ?? []));
    }
    const before = this.importsRunning;
    this.importsRunning = next;
    for (const [name, key] of next) {
      if (before.get(name) === key) continue;
      await this.control.command(`reload in ${name}`).catch(() => undefined);
    }
  }

  /**
   * Reads what BIRD has exported to the kernel and publishes the
   * differences, then schedules the next read: `pollMs` later, or ten times
   * as long as this read took, so that a large table (100,000 routes take
   * about 0.1 s to read and parse) costs at most a tenth of a core.
   */
  private async poll(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    const t0 = performance.now();
    try {
      // birdc's text enters the route path here: packed once, compared as values from then on.
      const now = new Map<PackedPrefix, LearnedHops>();
      for (const f of [4, 6]) {
        const reply = await this.control.command(`show route export terrace_kernel${f}`);
        for (const v of parseRoutes(reply.lines).values()) {
          if (v.nextHops.length > 0) now.set(packCidr(v.prefix), { nextHops: v.nextHops.map(packIP) });
        }
      }
      const evs: LearnedEvent[] = [];
      for (const [key, l] of now) {
        const old = this.learnedMap.get(key);
        if (!old || !sameHops(old.nextHops, l.nextHops)) evs.push({ kind: 'set', prefix: key, nextHops: l.nextHops });
      }
      for (const key of this.learnedMap.keys()) if (!now.has(key)) evs.push({ kind: 'withdraw', prefix: key });
      this.learnedMap = now;
      if (evs.length > 0 && !this.stopped) this.events.publish(evs);
    } catch {
      // BIRD not answering (restarting): keep what we knew until it does.
    } finally {
      this.polling = false;
      if (!this.stopped) {
        this.pollTimer = setTimeout(() => {
          this.pollTimer = undefined;
          void this.poll();
        }, Math.max(this.opts.pollMs ?? 1000, 10 * (performance.now() - t0)));
        this.pollTimer.unref();
      }
    }
  }
}
