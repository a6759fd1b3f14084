/**
 * The block record: one etcd value per block, holding only the ordinals in
 * use (a sparse map), so a 4,096-address IPv6 block costs what a /26 does.
 * Pure functions; the transactions that store it live in allocator.ts.
 */
import { type Cidr, type IPAddr, TerraceError, addressAt, cidrSize, formatCidr, formatIP, parseCidr } from '@terrace/api';

/** Who an address was given to. */
export interface AllocationAttrs {
  /** The node the pod runs on (may differ from the block's affinity: a borrowed address). */
  node: string;
  namespace?: string;
  pod?: string;
  containerID?: string;
  iface?: string;
}

export interface Allocation extends AllocationAttrs {
  handle: string;
  /** Unique in this block for as long as the block exists: names this allocation. */
  seq: number;
  /** Unix milliseconds. */
  time: number;
}

export interface BlockRecord {
  cidr: string;
  /** `host:<node>`, or null for a block whose node was released while others borrowed from it. */
  affinity: string | null;
  /** The last sequence number issued. */
  seq: number;
  /** Where the next free-address scan starts. */
  next: number;
  /** ordinal (decimal string) → allocation; absent ordinals are free. */
  allocations: Record<string, Allocation>;
}

export function hostAffinity(node: string): string {
  return `host:${node}`;
}

/** The node of a `host:<node>` affinity, or undefined. */
export function affinityNode(affinity: string | null): string | undefined {
  return affinity?.startsWith('host:') ? affinity.slice(5) : undefined;
}

/**
 * A new, empty block. Its seq starts from the clock (microsecond scale), not
 * zero, so that a block deleted and claimed again never reissues a seq a
 * late release might still carry.
 */
export function newBlock(cidr: Cidr, node: string | null, now = Date.now()): BlockRecord {
  return { cidr: formatCidr(cidr), affinity: node === null ? null : hostAffinity(node), seq: now * 1000, next: 0, allocations: {} };
}

/** Block sizes are at most 4,096 (a /20 or /116), so an ordinal is a safe number. */
export function blockSize(b: BlockRecord): number {
  return Number(cidrSize(parseCidr(b.cidr)));
}

export function usedCount(b: BlockRecord): number {
  return Object.keys(b.allocations).length;
}

export function freeCount(b: BlockRecord): number {
  return blockSize(b) - usedCount(b);
}

export function isEmpty(b: BlockRecord): boolean {
  return usedCount(b) === 0;
}

/** Inclusive ordinal intervals a scan must not hand out (the multi-cluster fence's ranges). */
export interface SkipRange {
  from: number;
  to: number;
}

function skipped(o: number, skip: readonly SkipRange[]): boolean {
  for (const r of skip) if (o >= r.from && o <= r.to) return true;
  return false;
}

/**
 * Up to `count` free ordinals outside `skip`, scanning from the block's
 * cursor and wrapping once. Starting at the cursor rather than at zero
 * keeps a just-released address from being handed straight back out.
 */
export function findFree(b: BlockRecord, count: number, skip: readonly SkipRange[] = []): number[] {
  const size = blockSize(b);
  const out: number[] = [];
  for (let i = 0; i < size && out.length < count; i++) {
    const o = (b.next + i) % size;
    if (!(String(o) in b.allocations) && !skipped(o, skip)) out.push(o);
  }
  return out;
}

/** Free ordinals outside `skip` (freeCount when nothing is skipped). */
export function roomIn(b: BlockRecord, skip: readonly SkipRange[] = []): number {
  if (skip.length === 0) return freeCount(b);
  // Ranges may overlap (one local range fenced against two remotes): count each ordinal once.
  const fencedFree = new Set<number>();
  for (const r of skip) {
    for (let o = r.from; o <= r.to; o++) if (!(String(o) in b.allocations)) fencedFree.add(o);
  }
  return freeCount(b) - fencedFree.size;
}

export function allocationAt(b: BlockRecord, ordinal: number): Allocation | undefined {
  return b.allocations[String(ordinal)];
}

/**
 * Returns a copy of `b` with `ordinal` given to `handle`; fails if it is
 * taken. The new allocation's seq is one above every seq issued before.
 */
export function assign(b: BlockRecord, ordinal: number, handle: string, attrs: AllocationAttrs, now: number): { block: BlockRecord; seq: number } {
  const size = blockSize(b);
  if (!Number.isInteger(ordinal) || ordinal < 0 || ordinal >= size) {
    throw new TerraceError('Internal', `ordinal ${ordinal} outside block ${b.cidr}`);
  }
  if (String(ordinal) in b.allocations) {
    throw new TerraceError('Conflict', `block ${b.cidr}: ordinal ${ordinal} is already allocated`);
  }
  const seq = b.seq + 1;
  const alloc: Allocation = { handle, seq, time: now, ...compactAttrs(attrs) };
  return {
    block: { ...b, seq, next: (ordinal + 1) % size, allocations: { ...b.allocations, [String(ordinal)]: alloc } },
    seq,
  };
}

/**
 * Returns a copy of `b` without the allocation at `ordinal`, if it is still
 * the one named by `seq` (and `handle`, when given); otherwise undefined:
 * the address was released or given to someone else since.
 */
export function unassign(b: BlockRecord, ordinal: number, seq: number | undefined, handle?: string): BlockRecord | undefined {
  const cur = allocationAt(b, ordinal);
  if (!cur) return undefined;
  if (seq !== undefined && cur.seq !== seq) return undefined;
  if (handle !== undefined && cur.handle !== handle) return undefined;
  const allocations = { ...b.allocations };
  delete allocations[String(ordinal)];
  return { ...b, allocations };
}

export function addressOf(b: BlockRecord, ordinal: number): IPAddr {
  return addressAt(parseCidr(b.cidr), ordinal);
}

export function ipOf(b: BlockRecord, ordinal: number): string {
  return formatIP(addressOf(b, ordinal));
}

/** Allocations in ordinal order. */
export function allocationsOf(b: BlockRecord): { ordinal: number; alloc: Allocation }[] {
  return Object.entries(b.allocations)
    .map(([k, alloc]) => ({ ordinal: Number(k), alloc }))
    .sort((x, y) => x.ordinal - y.ordinal);
}

function compactAttrs(a: AllocationAttrs): AllocationAttrs {
  const out: AllocationAttrs = { node: a.node };
  if (a.namespace) out.namespace = a.namespace;
  if (a.pod) out.pod = a.pod;
  if (a.containerID) out.containerID = a.containerID;
  if (a.iface) out.iface = a.iface;
  return out;
}

/** Parses a stored block, refusing anything that is not one (a corrupt value must not be overwritten blindly). */
export function decodeBlock(key: string, text: string): BlockRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new TerraceError('Internal', `${key}: stored block is not JSON`);
  }
  const b = v as Partial<BlockRecord>;
  if (
    typeof b !== 'object' ||
    b === null ||
    typeof b.cidr !== 'string' ||
    typeof b.seq !== 'number' ||
    typeof b.next !== 'number' ||
    typeof b.allocations !== 'object' ||
    b.allocations === null ||
    !(b.affinity === null || typeof b.affinity === 'string')
  ) {
    throw new TerraceError('Internal', `${key}: stored block is malformed`);
  }
  return b as BlockRecord;
}

export function encodeBlock(b: BlockRecord): string {
  return JSON.stringify(b);
}
