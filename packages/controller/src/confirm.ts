/**
 * Asking the live agents whether dead nodes' routes are really gone (see
 * hold.ts for the decision and why): one route query for every candidate's
 * prefixes, answered by every node alive in the pass's snapshot.
 */
import { type Keys, askAgents } from '@terrace/datastore';
import type { Etcd3 } from 'etcd3';
import { type HoldPlan, announcedBy, planHolds } from './hold.js';
import type { Snapshot } from './world.js';

export interface ConfirmOptions {
  etcd: Etcd3;
  keys: Keys;
  askedBy: string;
  timeoutMs: number;
}

/** The plan, and who was asked and who answered (for the log). */
export interface Confirmation extends HoldPlan {
  asked: string[];
  answered: string[];
}

export async function confirmGone(opts: ConfirmOptions, snap: Snapshot, nodes: readonly string[]): Promise<Confirmation> {
  const candidates = nodes.map((node) => ({ node, prefixes: announcedBy(snap.holdings.get(node), snap.addresses.get(node) ?? []) }));
  const live = [...snap.alive];
  const prefixes = [...new Set(candidates.flatMap((c) => c.prefixes))];
  // Nothing announced (a node that only held a pending claim): nothing to ask. Nobody to ask: held (hold.ts).
  if (prefixes.length === 0 || live.length === 0) return { ...planHolds({ candidates, liveAgents: live.length, answers: [] }), asked: [], answered: [] };
  try {
    const r = await askAgents(opts.etcd, opts.keys, prefixes, { timeoutMs: opts.timeoutMs, askedBy: opts.askedBy, expect: live });
    return { ...planHolds({ candidates, liveAgents: live.length, answers: r.answers }), asked: live, answered: r.answers.map((a) => a.node) };
  } catch (e) {
    return { ...planHolds({ candidates, liveAgents: live.length, answers: undefined, askError: (e as Error).message }), asked: live, answered: [] };
  }
}
