/**
 * The recent-events record (ControllerEvents in @terrace/api): the acting
 * controller appends what it saw or did (a node lost or back, addresses
 * freed, blocks released, an overlap with a remote cluster found, a pool
 * held) and the status page shows the list.
 *
 * Each append is one transaction that compares our election key's create
 * revision (a deposed leader cannot write) and the record's mod revision (no
 * lost update), and keeps only the newest CONTROLLER_EVENTS_MAX entries. The
 * record is not lease-bound: a standby's page, or a page with no controller
 * running, still shows the last events. Recording never blocks a pass: the
 * appends run in the background, one after another, and a write that keeps
 * failing is logged and dropped (events are for humans, not for decisions).
 */
import { CONTROLLER_EVENTS_MAX, CONTROLLER_EVENT_KINDS, type ControllerEvent, type ControllerEventKind } from '@terrace/api';
import { type Keys, getOp, modEquals, putOp, readAll, txn } from '@terrace/datastore';
import type { Logger } from '@terrace/log';
import type { Etcd3, ICompare } from 'etcd3';
import type { Fence } from './leader.js';

/** The list with `add` appended, trimmed to the newest `max`. */
export function appendEvents(current: readonly ControllerEvent[], add: readonly ControllerEvent[], max = CONTROLLER_EVENTS_MAX): ControllerEvent[] {
  const all = [...current, ...add];
  return all.slice(Math.max(0, all.length - max));
}

function isEvent(v: unknown): v is ControllerEvent {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return (
    typeof e.time === 'string' &&
    typeof e.subject === 'string' &&
    typeof e.message === 'string' &&
    CONTROLLER_EVENT_KINDS.includes(e.kind as ControllerEventKind)
  );
}

/** The stored list; a missing or damaged record reads as empty (the next append rewrites it whole). */
export function decodeEvents(text: string | null | undefined): ControllerEvent[] {
  if (!text) return [];
  try {
    const v = JSON.parse(text) as { events?: unknown };
    return Array.isArray(v.events) ? v.events.filter(isEvent) : [];
  } catch {
    return [];
  }
}

export interface EventLogOptions {
  etcd: Etcd3;
  keys: Keys;
  log: Logger;
  /** Our election key while we lead; undefined drops the events (only the leader records). */
  fence: () => Fence | undefined;
  max?: number;
}

/** Appends a conflict may need: another append of ours never races (they are serial), so a few is plenty. */
const APPEND_ATTEMPTS = 4;

function createEquals(fence: Fence): ICompare {
  return { key: Buffer.from(fence.key), target: 'Create', result: 'Equal', create_revision: fence.createRevision };
}

export class EventLog {
  private pending: ControllerEvent[] = [];
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: EventLogOptions) {}

  /** Queues one event for the record; returns at once. */
  record(kind: ControllerEventKind, subject: string, message: string, now = Date.now()): void {
    if (!this.opts.fence()) return;
    this.pending.push({ time: new Date(now).toISOString(), kind, subject, message });
    this.chain = this.chain.then(() => this.flush());
  }

  /** Resolves once every queued event was written (or dropped). */
  settled(): Promise<void> {
    return this.chain;
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    const { etcd, keys, log } = this.opts;
    const key = keys.controllerEvents();
    try {
      for (let attempt = 0; attempt < APPEND_ATTEMPTS; attempt++) {
        const fence = this.opts.fence();
        if (!fence) return;
        const { results } = await readAll(etcd, [getOp(key)]);
        const kv = results[0]?.[0];
        const list = appendEvents(decodeEvents(kv?.value.toString()), batch, this.opts.max);
        const r = await txn(etcd, [createEquals(fence), modEquals(key, kv?.mod_revision ?? '0')], [putOp(key, JSON.stringify({ events: list }))]);
        if (r.succeeded) return;
      }
      log.warn('cannot record events: the record kept changing or leadership ended', { events: batch.length });
    } catch (e) {
      log.warn('cannot record events', { events: batch.length, error: (e as Error).message });
    }
  }
}
