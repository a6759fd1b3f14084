/**
 * A local copy of everything under one etcd prefix, kept current by a
 * watch: list the prefix, then watch from the listed revision + 1.
 *
 * Whenever the watch can no longer be trusted to deliver every event (the
 * stream broke, etcd restarted, the start revision was compacted away), the
 * cache does not resume the old watch: it lists again and emits the
 * difference between what it held and what it now reads as ordinary
 * added/modified/deleted changes, then watches from the new list revision.
 * A subscriber that applies every 'change' in order therefore always holds
 * exactly what the cache holds, even across outages.
 *
 * Why not let etcd3 resume its watcher: after a reconnect it advances its
 * start revision to the server's current revision as soon as the watch is
 * created, before the catch-up events arrive; a second disconnect in that
 * window would skip them.
 */
import { EventEmitter } from 'node:events';
import type { Kind, ResourceOf } from '@terrace/api';
import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import type { Keys } from './keys.js';
import { prefixOp, readAll } from './txn.js';

export type ChangeType = 'added' | 'modified' | 'deleted';

export interface WatchChange<T> {
  type: ChangeType;
  key: string;
  /** The new value; absent for 'deleted'. */
  value?: T;
  /** The value the cache held before; absent for 'added'. */
  prev?: T;
  /** The etcd revision of the change (for a re-list, the list's revision). */
  revision: string;
}

export interface WatchCacheOptions<T> {
  prefix: string;
  /** Turns a stored key-value into an item; undefined skips the key (not ours). */
  decode: (kv: IKeyValue) => T | undefined;
  /** First delay before retrying a failed list, in ms; doubles up to maxRetryMs. Default 100. */
  retryMs?: number;
  /** Longest delay between list retries, in ms. Default 2000. */
  maxRetryMs?: number;
  /**
   * Called after each successful list, before the watch starts. For tests
   * that need to act in that window (e.g. compact etcd past the list).
   */
  afterList?: (revision: string) => Promise<void> | void;
  /**
   * Lists keys only: decode sees empty values from lists (watch events still
   * carry them). For caches that only count keys, so a large prefix lists fast.
   */
  keysOnly?: boolean;
}

interface Entry<T> {
  value: T;
  modRevision: string;
  createRevision: string;
}

export interface WatchCacheEvents<T> {
  change: [WatchChange<T>];
  /** After every (re-)list has been applied; the argument is the list revision. */
  synced: [string];
  /** A re-list is starting; the reason says why (for logs). */
  resync: [string];
  /** A list attempt failed; the cache keeps retrying. */
  unavailable: [Error];
  /** A stored value could not be decoded; the key is left out of the cache. */
  invalid: [{ key: string; error: Error }];
}

function jitter(ms: number): number {
  return ms / 2 + Math.random() * (ms / 2);
}

export class WatchCache<T> extends EventEmitter<WatchCacheEvents<T>> {
  private items = new Map<string, Entry<T>>();
  private rev = '0';
  private watcher: Watcher | undefined;
  /** Bumped whenever a watcher is abandoned, so its late events are ignored. */
  private generation = 0;
  private closed = false;
  private started = false;
  private syncedOnce = false;
  private readonly syncedPromise: Promise<void>;
  private resolveSynced!: () => void;
  private rejectSynced!: (e: Error) => void;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryWake: (() => void) | undefined;

  constructor(
    private readonly etcd: Etcd3,
    private readonly opts: WatchCacheOptions<T>,
  ) {
    super();
    this.syncedPromise = new Promise<void>((resolve, reject) => {
      this.resolveSynced = resolve;
      this.rejectSynced = reject;
    });
    // Nobody may be awaiting waitSynced(); do not let a close() before sync crash the process.
    this.syncedPromise.catch(() => undefined);
  }

  /** Starts listing and watching (once; later calls do nothing). Returns at once: see waitSynced(). */
  start(): this {
    if (!this.started && !this.closed) {
      this.started = true;
      void this.resync('initial list');
    }
    return this;
  }

  /** Starts the cache if needed; resolves after the first list has been applied, rejects if closed first. */
  waitSynced(): Promise<void> {
    this.start();
    return this.syncedPromise;
  }

  get synced(): boolean {
    return this.syncedOnce;
  }

  /** The revision the cache reflects. */
  get revision(): string {
    return this.rev;
  }

  get size(): number {
    return this.items.size;
  }

  get(key: string): T | undefined {
    return this.items.get(key)?.value;
  }

  values(): T[] {
    return [...this.items.values()].map((e) => e.value);
  }

  entries(): [string, T][] {
    return [...this.items.entries()].map(([k, e]) => [k, e.value]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.generation++;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryWake?.();
    if (!this.syncedOnce) this.rejectSynced(new Error(`watch cache for ${this.opts.prefix} closed before it synced`));
    await this.dropWatcher();
  }

  private async dropWatcher(): Promise<void> {
    const w = this.watcher;
    this.watcher = undefined;
    if (!w) return;
    // cancel() waits for etcd to confirm; on a dead stream that may never come.
    await Promise.race([w.cancel().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
  }

  private decodeKv(kv: IKeyValue): T | undefined {
    try {
      return this.opts.decode(kv);
    } catch (e) {
      this.emit('invalid', { key: kv.key.toString(), error: e as Error });
      return undefined;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.retryWake = resolve;
      this.retryTimer = setTimeout(resolve, ms);
    });
  }

  /** Lists until it succeeds, emits the difference, then watches from there. */
  private async resync(reason: string): Promise<void> {
    const gen = ++this.generation;
    this.emit('resync', reason);
    await this.dropWatcher();
    let delay = this.opts.retryMs ?? 100;
    const maxDelay = this.opts.maxRetryMs ?? 2000;
    for (;;) {
      if (this.closed || gen !== this.generation) return;
      let listed: { revision: string; results: IKeyValue[][] };
      try {
        listed = await readAll(this.etcd, [prefixOp(this.opts.prefix, { keysOnly: this.opts.keysOnly === true })]);
      } catch (e) {
        if (this.closed || gen !== this.generation) return;
        this.emit('unavailable', e as Error);
        await this.sleep(jitter(delay));
        delay = Math.min(maxDelay, delay * 2);
        continue;
      }
      if (this.closed || gen !== this.generation) return;
      this.applyList(listed.results[0] ?? [], listed.revision);
      if (!this.syncedOnce) {
        this.syncedOnce = true;
        this.resolveSynced();
      }
      this.emit('synced', listed.revision);
      try {
        await this.opts.afterList?.(listed.revision);
      } catch {
        // A test hook's failure must not stop the cache.
      }
      if (this.closed || gen !== this.generation) return;
      this.watchFrom((BigInt(listed.revision) + 1n).toString(), gen);
      return;
    }
  }

  private applyList(kvs: IKeyValue[], revision: string): void {
    const next = new Map<string, Entry<T>>();
    for (const kv of kvs) {
      const value = this.decodeKv(kv);
      if (value !== undefined) next.set(kv.key.toString(), { value, modRevision: kv.mod_revision, createRevision: kv.create_revision });
    }
    const old = this.items;
    this.items = next;
    this.rev = revision;
    const keys = [...new Set([...old.keys(), ...next.keys()])].sort();
    for (const key of keys) {
      const before = old.get(key);
      const after = next.get(key);
      if (before && !after) this.emit('change', { type: 'deleted', key, prev: before.value, revision });
      else if (!before && after) this.emit('change', { type: 'added', key, value: after.value, revision });
      else if (before && after && (before.modRevision !== after.modRevision || before.createRevision !== after.createRevision)) {
        this.emit('change', { type: 'modified', key, value: after.value, prev: before.value, revision });
      }
    }
  }

  private watchFrom(startRevision: string, gen: number): void {
    const w = this.etcd.watch().prefix(this.opts.prefix).startRevision(startRevision).watcher();
    this.watcher = w;
    const current = (): boolean => !this.closed && gen === this.generation;
    w.on('data', (res: IWatchResponse) => {
      if (current()) this.applyEvents(res);
    });
    // A broken stream, a compacted start revision, a cancel by the server:
    // all mean events may be lost, so start over from a fresh list.
    w.on('disconnected', (err: Error) => {
      if (current()) void this.resync(`watch disconnected: ${err.message}`);
    });
    w.on('error', (err: Error) => {
      if (!current()) return;
      void this.explainCancel(startRevision, err).then((why) => {
        if (current()) void this.resync(why);
      });
    });
  }

  /**
   * etcd cancels a watch whose start revision was compacted without saying
   * so (etcd3 reports an empty cancel reason); a read at the list revision
   * tells the two apart, so logs say what happened.
   */
  private async explainCancel(startRevision: string, err: Error): Promise<string> {
    try {
      await this.etcd.get(this.opts.prefix).revision((BigInt(startRevision) - 1n).toString()).exec();
    } catch (e) {
      if (/compacted/.test((e as Error).message)) return `watch start revision ${startRevision} was compacted`;
    }
    return `watch failed: ${err.message}`;
  }

  private applyEvents(res: IWatchResponse): void {
    if (res.compact_revision && res.compact_revision !== '0') {
      void this.resync(`watch start revision compacted (compacted up to ${res.compact_revision})`);
      return;
    }
    for (const ev of res.events) {
      const key = ev.kv.key.toString();
      const before = this.items.get(key);
      const revision = ev.kv.mod_revision;
      if (ev.type === 'Delete') {
        this.rev = revision;
        if (!before) continue;
        this.items.delete(key);
        this.emit('change', { type: 'deleted', key, prev: before.value, revision });
        continue;
      }
      this.rev = revision;
      const value = this.decodeKv(ev.kv);
      if (value === undefined) {
        // Now undecodable (or no longer ours): to the subscriber it is gone.
        if (before) {
          this.items.delete(key);
          this.emit('change', { type: 'deleted', key, prev: before.value, revision });
        }
        continue;
      }
      this.items.set(key, { value, modRevision: ev.kv.mod_revision, createRevision: ev.kv.create_revision });
      this.emit('change', before ? { type: 'modified', key, value, prev: before.value, revision } : { type: 'added', key, value, revision });
    }
  }
}

/** A watch cache of one resource kind; items carry resourceVersion = mod revision. */
export function resourceWatchCache<K extends Kind>(etcd: Etcd3, keys: Keys, kind: K, opts: Partial<WatchCacheOptions<ResourceOf<K>>> = {}): WatchCache<ResourceOf<K>> {
  return new WatchCache<ResourceOf<K>>(etcd, {
    ...opts,
    prefix: keys.resourcePrefix(kind),
    decode: (kv) => {
      if (keys.parseResource(kv.key.toString())?.kind !== kind) return undefined;
      const res = JSON.parse(kv.value.toString()) as ResourceOf<K>;
      return { ...res, metadata: { ...res.metadata, resourceVersion: kv.mod_revision } };
    },
  });
}
