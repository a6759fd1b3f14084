/**
 * `ipam check`: one consistent snapshot (every range read at one etcd
 * revision) searched for leaks and leftovers. Each issue carries the key and
 * mod revision it was seen at (and, for an allocation, its seq), so that
 * repair() frees exactly what is still in the reported state.
 */
import { formatCidr } from '@terrace/api';
import type { Keys } from '@terrace/datastore';
import type { Etcd3 } from 'etcd3';
import { CONFIRMED } from './affinity.js';
import { type BlockRecord, affinityNode, allocationsOf, decodeBlock, hostAffinity, ipOf } from './block.js';
import { type HandleIP, type HandleRecord, decodeHandle } from './handle.js';
import { type KV, readPrefix } from './kv.js';
import { handleNamesInterface } from './pod.js';

export const ISSUE_KINDS = [
  'allocationNodeNotRegistered',
  'handleWithoutAllocation',
  'allocationWithoutHandle',
  'affinityWithoutBlock',
  'blockNodeGone',
  'affinityUnconfirmed',
  'handleOfTwoInterfaces',
  'allocationNotOfHandle',
  'addressInTwoHandles',
] as const;
export type IssueKind = (typeof ISSUE_KINDS)[number];

export const ISSUE_TITLES: Record<IssueKind, string> = {
  allocationNodeNotRegistered: 'allocations whose node is not registered',
  handleWithoutAllocation: 'handles with no allocation',
  allocationWithoutHandle: 'allocations with no handle',
  affinityWithoutBlock: 'affinities without a block',
  blockNodeGone: 'blocks whose affine node is gone',
  affinityUnconfirmed: 'affinities left pending (block exists)',
  handleOfTwoInterfaces: 'handles holding addresses of two interfaces',
  allocationNotOfHandle: 'allocations whose interface is not their handle\'s',
  addressInTwoHandles: 'addresses listed by two handles',
};

/**
 * Kinds that mean two live interfaces may hold one address (the old,
 * ambiguous handle form could cause it). Nothing is freed for them
 * automatically: which interface should keep the address needs a person.
 */
export const SHARED_ADDRESS_KINDS: readonly IssueKind[] = ['handleOfTwoInterfaces', 'allocationNotOfHandle', 'addressInTwoHandles'];

export interface CheckIssue {
  kind: IssueKind;
  /** The key the issue is about, and its mod revision when seen. */
  key: string;
  modRevision: string;
  node?: string;
  block?: string;
  ip?: string;
  ordinal?: number;
  seq?: number;
  handle?: string;
  /** For an allocation: the mod revision of its handle key when seen ("0": absent). */
  handleRevision?: string;
  /** For an affinity: the mod revision of its block key when seen ("0": absent). */
  blockRevision?: string;
  /** For handleWithoutAllocation: the dangling entries. */
  entries?: HandleIP[];
  /** For handleOfTwoInterfaces: the interfaces its allocations name; for allocationNotOfHandle: the allocation's. */
  interfaces?: { containerID: string; iface: string }[];
  /** For addressInTwoHandles: every handle that lists the address. */
  handles?: string[];
}

export interface CheckReport {
  cluster: string;
  /** The etcd revision the snapshot was read at. */
  revision: string;
  time: string;
  counts: { blocks: number; allocations: number; handles: number; affinities: number; nodes: number };
  summary: Record<IssueKind, number>;
  issues: CheckIssue[];
}

export interface Snapshot {
  revision: string;
  blocks: { kv: KV; rec: BlockRecord }[];
  handles: { kv: KV; rec: HandleRecord }[];
  affinities: KV[];
  nodes: Set<string>;
  alive: Set<string>;
}

export async function readSnapshot(etcd: Etcd3, keys: Keys, progress?: (done: number, total: number) => void): Promise<Snapshot> {
  const steps = 5;
  const first = await readPrefix(etcd, keys.blockPrefix());
  progress?.(1, steps);
  const rev = first.revision;
  const at = async (prefix: string, n: number) => {
    const r = await readPrefix(etcd, prefix, rev);
    progress?.(n, steps);
    return r.kvs;
  };
  const handles = await at(keys.handlePrefix(), 2);
  const affinities = await at(keys.affinityPrefix(), 3);
  const nodes = await at(keys.resourcePrefix('Node'), 4);
  const alive = await at(keys.alivePrefix(), 5);
  return {
    revision: rev,
    blocks: first.kvs.map((kv) => ({ kv, rec: decodeBlock(kv.key, kv.text) })),
    handles: handles.map((kv) => ({ kv, rec: decodeHandle(kv.key, kv.text) })),
    affinities,
    nodes: new Set(nodes.map((kv) => kv.key.slice(keys.resourcePrefix('Node').length))),
    alive: new Set(alive.map((kv) => kv.key.slice(keys.alivePrefix().length))),
  };
}

/** Finds every issue in a snapshot. Pure. */
export function findIssues(keys: Keys, s: Snapshot): CheckIssue[] {
  const issues: CheckIssue[] = [];
  const handleByKey = new Map(s.handles.map((h) => [h.kv.key, h]));
  const blockByCidr = new Map(s.blocks.map((b) => [b.rec.cidr, b]));
  const gone = (n: string) => !s.nodes.has(n) && !s.alive.has(n);

  for (const { kv, rec } of s.blocks) {
    for (const { ordinal, alloc } of allocationsOf(rec)) {
      const base = { key: kv.key, modRevision: kv.mod, block: rec.cidr, ip: ipOf(rec, ordinal), ordinal, seq: alloc.seq, handle: alloc.handle, node: alloc.node };
      const h = handleByKey.get(keys.handle(alloc.handle));
      if (!s.nodes.has(alloc.node)) issues.push({ kind: 'allocationNodeNotRegistered', ...base, handleRevision: h?.kv.mod ?? '0' });
      const listed = h?.rec.ips.some((e) => e.block === rec.cidr && e.ordinal === ordinal && e.seq === alloc.seq);
      if (!listed) issues.push({ kind: 'allocationWithoutHandle', ...base, handleRevision: h?.kv.mod ?? '0' });
    }
    const node = affinityNode(rec.affinity);
    if (node !== undefined && gone(node)) issues.push({ kind: 'blockNodeGone', key: kv.key, modRevision: kv.mod, block: rec.cidr, node });
  }

  for (const { kv, rec } of s.handles) {
    const dangling = rec.ips.filter((e) => {
      const b = blockByCidr.get(e.block);
      const a = b?.rec.allocations[String(e.ordinal)];
      return !a || a.seq !== e.seq || a.handle !== rec.handle;
    });
    if (dangling.length > 0 || rec.ips.length === 0) {
      issues.push({ kind: 'handleWithoutAllocation', key: kv.key, modRevision: kv.mod, handle: rec.handle, entries: dangling });
    }
  }

  issues.push(...sharedAddresses(keys, s));

  for (const kv of s.affinities) {
    const p = keys.parseAffinity(kv.key);
    if (!p) continue;
    const cidr = formatCidr(p.cidr);
    const b = blockByCidr.get(cidr);
    const base = { key: kv.key, modRevision: kv.mod, node: p.node, block: cidr, blockRevision: b?.kv.mod ?? '0' };
    if (!b || b.rec.affinity !== hostAffinity(p.node)) issues.push({ kind: 'affinityWithoutBlock', ...base });
    else if (kv.text !== CONFIRMED) issues.push({ kind: 'affinityUnconfirmed', ...base });
  }
  return issues;
}

/**
 * Signs that two live interfaces hold one address: a handle whose
 * allocations name more than one (containerID, iface); an allocation whose
 * containerID and iface do not build its handle (pod.ts, either form); an
 * address listed by two handle records. Allocations without those
 * attributes (not a pod's) are not judged.
 */
function sharedAddresses(keys: Keys, s: Snapshot): CheckIssue[] {
  const issues: CheckIssue[] = [];
  const handleRev = new Map(s.handles.map((h) => [h.rec.handle, h.kv.mod]));
  const interfaces = new Map<string, Map<string, { containerID: string; iface: string }>>();
  for (const { kv, rec } of s.blocks) {
    for (const { ordinal, alloc } of allocationsOf(rec)) {
      if (alloc.containerID === undefined || alloc.iface === undefined) continue;
      const itf = { containerID: alloc.containerID, iface: alloc.iface };
      const seen = interfaces.get(alloc.handle) ?? new Map<string, { containerID: string; iface: string }>();
      seen.set(JSON.stringify(itf), itf);
      interfaces.set(alloc.handle, seen);
      if (!handleNamesInterface(alloc.handle, itf.containerID, itf.iface)) {
        issues.push({
          kind: 'allocationNotOfHandle',
          key: kv.key,
          modRevision: kv.mod,
          block: rec.cidr,
          ip: ipOf(rec, ordinal),
          ordinal,
          seq: alloc.seq,
          handle: alloc.handle,
          node: alloc.node,
          handleRevision: handleRev.get(alloc.handle) ?? '0',
          interfaces: [itf],
        });
      }
    }
  }
  for (const [handle, seen] of interfaces) {
    if (seen.size < 2) continue;
    issues.push({ kind: 'handleOfTwoInterfaces', key: keys.handle(handle), modRevision: handleRev.get(handle) ?? '0', handle, interfaces: [...seen.values()] });
  }
  const listedBy = new Map<string, { e: HandleIP; handles: string[] }>();
  for (const { rec } of s.handles) {
    for (const e of rec.ips) {
      const l = listedBy.get(e.ip) ?? { e, handles: [] };
      if (!l.handles.includes(rec.handle)) l.handles.push(rec.handle);
      listedBy.set(e.ip, l);
    }
  }
  const blockByCidr = new Map(s.blocks.map((b) => [b.rec.cidr, b]));
  for (const [ip, { e, handles }] of listedBy) {
    if (handles.length < 2) continue;
    const b = blockByCidr.get(e.block);
    issues.push({ kind: 'addressInTwoHandles', key: keys.block(e.block), modRevision: b?.kv.mod ?? '0', block: e.block, ip, ordinal: e.ordinal, handles: handles.sort() });
  }
  return issues;
}

export async function check(etcd: Etcd3, keys: Keys, progress?: (done: number, total: number) => void): Promise<CheckReport> {
  const s = await readSnapshot(etcd, keys, progress);
  const issues = findIssues(keys, s);
  const summary = Object.fromEntries(ISSUE_KINDS.map((k) => [k, 0])) as Record<IssueKind, number>;
  for (const i of issues) summary[i.kind] += 1;
  return {
    cluster: keys.cluster,
    revision: s.revision,
    time: new Date().toISOString(),
    counts: {
      blocks: s.blocks.length,
      allocations: s.blocks.reduce((n, b) => n + Object.keys(b.rec.allocations).length, 0),
      handles: s.handles.length,
      affinities: s.affinities.length,
      nodes: s.nodes.size,
    },
    summary,
    issues,
  };
}
