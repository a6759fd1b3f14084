/**
 * The status record (ControllerStatus in @terrace/api) the leader writes
 * after every pass, and the fenced write that stores it: the put happens
 * only if our election key is still the one we were elected with, so a
 * deposed leader never overwrites its successor's report.
 */
import type { ControllerStatus } from '@terrace/api';
import type { Keys } from '@terrace/datastore';
import type { Etcd3 } from 'etcd3';
import type { NodeView } from './gc.js';
import type { Fence } from './leader.js';

/** How many recent errors the record keeps. */
export const STATUS_ERRORS = 10;

export interface StatusInput {
  identity: string;
  leaderSince: number;
  lastPass: number;
  passes: number;
  lastPassMs: number;
  graceMs: number;
  intervalMs: number;
  nodes: readonly NodeView[];
  totals: ControllerStatus['totals'];
  errors: readonly { time: number; message: string }[];
  remotes?: NonNullable<ControllerStatus['remotes']>;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function buildStatus(s: StatusInput): ControllerStatus {
  return {
    leader: s.identity,
    leaderSince: iso(s.leaderSince),
    lastPass: iso(s.lastPass),
    passes: s.passes,
    lastPassMs: Math.round(s.lastPassMs),
    graceSeconds: s.graceMs / 1000,
    intervalSeconds: s.intervalMs / 1000,
    nodes: s.nodes.map((n) => {
      const out: ControllerStatus['nodes'][number] = { node: n.node, state: n.state, addresses: n.addresses, blocks: n.blocks };
      if (n.goneSince !== undefined) out.goneSince = iso(n.goneSince);
      if (n.graceRemainingMs !== undefined) out.graceRemainingSeconds = Math.ceil(n.graceRemainingMs / 1000);
      if (n.heldReason !== undefined) out.heldReason = n.heldReason;
      return out;
    }),
    totals: { ...s.totals },
    errors: s.errors.slice(-STATUS_ERRORS).map((e) => ({ time: iso(e.time), message: e.message })),
    ...(s.remotes && s.remotes.remotes > 0 ? { remotes: { ...s.remotes } } : {}),
  };
}

/** Writes the record if `fence` still holds; false when it did not (we are no longer the leader). */
export async function writeStatus(etcd: Etcd3, keys: Keys, fence: Fence, status: ControllerStatus): Promise<boolean> {
  const r = await etcd
    .if(fence.key, 'Create', '==', fence.createRevision)
    .then(etcd.put(keys.controllerStatus()).value(JSON.stringify(status)))
    .commit();
  return r.succeeded;
}

export async function readStatus(etcd: Etcd3, keys: Keys): Promise<ControllerStatus | undefined> {
  const text = await etcd.get(keys.controllerStatus()).string();
  return text === null ? undefined : (JSON.parse(text) as ControllerStatus);
}
