/**
 * The fence planner: from the local pools, every remote's pools and the
 * fence as last written, the next fence (which pools are usable, which
 * ranges no new address may come from) and each remote's overlaps. Pure:
 * the caller reads, this decides, the caller writes.
 *
 * Admission. When the fence is first written (no previous fence) every
 * existing local pool is cleared. A pool that appears later (its uid is not
 * in `cleared`) is cleared only when, for EVERY remote, a fresh read of the
 * remote's pools was started after this controller first saw the pool and
 * shows no overlapping pool. Two clusters creating overlapping pools at the
 * same moment then cannot both clear theirs: each fresh read happened after
 * its own pool was created, so at least one of them sees the other's pool.
 *
 * Fencing is independent of admission: every overlapping pair (same family)
 * of a local pool and a remote pool fences the smaller of the two CIDRs
 * (which is their intersection), whether the pools are cleared or not.
 * Existing allocations are never touched; the allocator only stops handing
 * out new addresses from fenced ranges.
 */
import { type ClusterFence, type Cidr, type FencedRange, type RemoteClusterState, type RemoteOverlap, type RemotePool, cidrsOverlap, formatCidr, tryParseCidr } from '@terrace/api';

export interface LocalPoolView {
  name: string;
  uid: string;
  cidr: string;
  /** When this controller first saw this uid (ms). */
  seenAt: number;
}

export interface RemotePoolsView {
  /** The RemoteCluster's name. */
  remote: string;
  /** The pools in the sync's cache. */
  pools: readonly RemotePool[];
}

/** The result of one fresh (linearizable) read of a remote's pools. */
export type FreshRead =
  | { remote: string; startedAt: number; ok: true; pools: readonly RemotePool[] }
  | { remote: string; startedAt: number; ok: false; error: string };

export interface FenceInput {
  now: number;
  local: readonly LocalPoolView[];
  remotes: readonly RemotePoolsView[];
  previous: ClusterFence | undefined;
  /** Fresh reads made for this round (at most one per remote). */
  fresh: readonly FreshRead[];
}

export interface FencePlan {
  /** Undefined when there is no remote: the fence doc must not exist. */
  fence: ClusterFence | undefined;
  /** Per remote name, its overlaps with local pools. */
  overlaps: Map<string, RemoteOverlap[]>;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * The pools of a remote whose sync has not listed yet: those of its last
 * stored state doc, plus the remote pools the previous fence names for it
 * (in case the doc is gone). Unknown is not empty: planning with [] would
 * lift the remote's fenced ranges while its pods still hold those addresses.
 */
export function lastKnownPools(remote: string, doc: Pick<RemoteClusterState, 'pools'> | undefined, previous: ClusterFence | undefined): RemotePool[] {
  const out = new Map<string, RemotePool>();
  for (const p of doc?.pools ?? []) out.set(`${p.name} ${p.cidr}`, p);
  for (const f of previous?.fenced ?? []) {
    if (f.remote !== remote) continue;
    const id = `${f.remotePool} ${f.remoteCidr}`;
    if (!out.has(id)) out.set(id, { name: f.remotePool, cidr: f.remoteCidr, disabled: false });
  }
  return [...out.values()];
}

/** Pools not cleared under the previous fence: they need a fresh read of every remote. */
export function poolsAwaitingAdmission(local: readonly LocalPoolView[], previous: ClusterFence | undefined): LocalPoolView[] {
  if (!previous) return [];
  return local.filter((p) => previous.cleared[p.name] !== p.uid);
}

function parse(c: string): Cidr | undefined {
  return tryParseCidr(c, false);
}

/** The smaller of two overlapping CIDRs (one contains the other). */
function smaller(a: Cidr, b: Cidr): Cidr {
  return a.prefix >= b.prefix ? a : b;
}

/** Cache and fresh read together, one entry per name and cidr (cidrs are immutable; a deleted pool lingers at most one round). */
function poolsOf(remote: RemotePoolsView, fresh: FreshRead | undefined): RemotePool[] {
  const out = new Map<string, RemotePool>();
  for (const p of remote.pools) out.set(`${p.name} ${p.cidr}`, p);
  if (fresh?.ok) for (const p of fresh.pools) out.set(`${p.name} ${p.cidr}`, p);
  return [...out.values()].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}

function overlapping(local: Cidr, pools: readonly RemotePool[]): { pool: RemotePool; cidr: Cidr }[] {
  const out: { pool: RemotePool; cidr: Cidr }[] = [];
  for (const pool of pools) {
    const c = parse(pool.cidr);
    if (c && c.family === local.family && cidrsOverlap(c, local)) out.push({ pool, cidr: c });
  }
  return out;
}

export function planFence(input: FenceInput): FencePlan {
  const { now, previous } = input;
  const overlaps = new Map<string, RemoteOverlap[]>();
  if (input.remotes.length === 0) return { fence: undefined, overlaps };
  const freshBy = new Map(input.fresh.map((f) => [f.remote, f]));
  const remotes = [...input.remotes].sort((a, b) => (a.remote < b.remote ? -1 : a.remote > b.remote ? 1 : 0));
  const local = [...input.local].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const sinceOf = new Map((previous?.fenced ?? []).map((f) => [`${f.pool} ${f.remote} ${f.remotePool} ${f.remoteCidr}`, f.since]));

  const fenced: FencedRange[] = [];
  for (const r of remotes) {
    const list: RemoteOverlap[] = [];
    const pools = poolsOf(r, freshBy.get(r.remote));
    for (const p of local) {
      const c = parse(p.cidr);
      if (!c) continue;
      for (const o of overlapping(c, pools)) {
        const since = sinceOf.get(`${p.name} ${r.remote} ${o.pool.name} ${o.pool.cidr}`) ?? iso(now);
        const range = formatCidr(smaller(c, o.cidr));
        list.push({ pool: p.name, cidr: p.cidr, remotePool: o.pool.name, remoteCidr: o.pool.cidr, fenced: range, since });
        fenced.push({ cidr: range, pool: p.name, remote: r.remote, remotePool: o.pool.name, remoteCidr: o.pool.cidr, since });
      }
    }
    overlaps.set(r.remote, list);
  }

  const cleared: Record<string, string> = {};
  const held: { pool: string; reason: string }[] = [];
  for (const p of local) {
    if (!previous || previous.cleared[p.name] === p.uid) {
      cleared[p.name] = p.uid;
      continue;
    }
    const reason = admissionProblem(p, remotes, freshBy);
    if (reason === undefined) cleared[p.name] = p.uid;
    else held.push({ pool: p.name, reason });
  }
  return { fence: { cleared, held, fenced, updated: iso(now) }, overlaps };
}

/** Why pool p cannot be cleared yet, or undefined when every remote's fresh read clears it. */
function admissionProblem(p: LocalPoolView, remotes: readonly RemotePoolsView[], fresh: Map<string, FreshRead>): string | undefined {
  const c = parse(p.cidr);
  if (!c) return `spec.cidr ${p.cidr} is not a CIDR`;
  for (const r of remotes) {
    const f = fresh.get(r.remote);
    if (!f || f.startedAt < p.seenAt) return `waiting for a fresh read of remote cluster ${r.remote}`;
    if (!f.ok) return `waiting for remote cluster ${r.remote}: ${f.error}`;
    const hit = overlapping(c, f.pools)[0];
    if (hit) return `overlaps pool ${hit.pool.name} (${hit.pool.cidr}) of remote cluster ${r.remote}`;
  }
  return undefined;
}

/** True when two fences say the same (ignoring when they were written). */
export function sameFence(a: ClusterFence | undefined, b: ClusterFence | undefined): boolean {
  if (!a || !b) return a === b;
  return JSON.stringify({ ...a, updated: '' }) === JSON.stringify({ ...b, updated: '' });
}
